//! What can be checked of the Dockerfile without building it (no Docker engine here; hadolint
//! lints the file in scripts/artifacts/check.sh): it copies every file cargo needs and
//! .dockerignore leaves none of them out, it installs and runs this package's binary, with
//! flags the binary accepts, as a numeric non-root user.

use std::path::{Path, PathBuf};
use std::process::Command;

fn dockerfile() -> String {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("Dockerfile")).unwrap()
}

/// The JSON array of an exec-form instruction such as `ENTRYPOINT ["…"]`.
fn exec_form(instruction: &str) -> Vec<String> {
    let text = dockerfile();
    let line = text
        .lines()
        .find_map(|l| l.strip_prefix(instruction).map(str::trim))
        .unwrap_or_else(|| panic!("no {instruction} in the Dockerfile"));
    serde_json::from_str(line).unwrap_or_else(|err| panic!("{instruction} is not exec form: {err}"))
}

#[test]
fn entrypoint_is_the_package_binary_where_the_build_stage_installs_it() {
    let binary = env!("CARGO_PKG_NAME");
    let entrypoint = exec_form("ENTRYPOINT");
    assert_eq!(entrypoint, [format!("/usr/local/bin/{binary}")]);
    let text = dockerfile();
    assert!(text.contains(&format!(
        "install -D -m 0755 target/release/{binary} /out/{binary}"
    )));
    assert!(text.contains(&format!(
        "COPY --from=build /out/{binary} /usr/local/bin/{binary}"
    )));
    assert!(text.contains("cargo build --release --locked"));
}

/// The sources of every `COPY` from the build context (not `--from` another stage).
fn copied() -> Vec<String> {
    dockerfile()
        .lines()
        .filter_map(|l| l.strip_prefix("COPY "))
        .filter(|l| !l.starts_with("--from"))
        .flat_map(|l| {
            let mut parts: Vec<String> = l.split_whitespace().map(str::to_owned).collect();
            parts.pop(); // the destination
            parts
        })
        .collect()
}

#[test]
fn every_file_the_build_copies_exists() {
    let copies = copied();
    assert_eq!(
        copies,
        ["Cargo.toml", "Cargo.lock", "build.rs", "src", "benches"]
    );
    for path in copies {
        assert!(root().join(&path).exists(), "{path} is copied but missing");
    }
}

/// Cargo reads the manifest, the lock file, the build script, src/ and the file of every
/// target Cargo.toml declares (a declared benchmark too, even for a release build).
#[test]
fn the_build_copies_everything_cargo_needs() {
    let copies = copied();
    let mut needed: Vec<PathBuf> = ["Cargo.toml", "Cargo.lock", "src"]
        .map(PathBuf::from)
        .into();
    if root().join("build.rs").exists() {
        needed.push("build.rs".into());
    }
    needed.extend(declared_targets());
    assert!(
        needed.iter().any(|path| path.starts_with("benches")),
        "the manifest's benchmark is missing from {needed:?}"
    );
    for path in &needed {
        assert!(
            root().join(path).exists(),
            "{} is needed but missing",
            path.display()
        );
        assert!(
            copies.iter().any(|copy| path.starts_with(copy)),
            "cargo needs {} but the Dockerfile does not copy it",
            path.display()
        );
    }
}

#[test]
fn dockerignore_leaves_in_every_file_the_build_copies() {
    let ignore = std::fs::read_to_string(root().join(".dockerignore")).unwrap();
    let rules = IgnoreRules::parse(&ignore);
    let mut checked = 0;
    for copy in copied() {
        for file in files_under(&root().join(&copy)) {
            let relative = file
                .strip_prefix(root())
                .unwrap()
                .to_str()
                .unwrap()
                .to_owned();
            assert!(
                !rules.excludes(&relative),
                "{relative} is copied by the Dockerfile but excluded by .dockerignore"
            );
            checked += 1;
        }
    }
    // Cargo.toml, Cargo.lock, build.rs, every module of src/ and the benchmark.
    assert!(checked > 10, "only {checked} files checked");
}

/// The rules below read .dockerignore as Docker does; these cases pin that reading.
#[test]
fn dockerignore_rules_match_as_docker_matches_them() {
    let rules = IgnoreRules::parse(
        "# a comment\n\ntarget/\n*.md\n**/*.rs.bk\n/docs\nsrc/gen/*\n!src/gen/keep.rs\n",
    );
    for excluded in [
        "target",
        "target/release/es-remote-exporter",
        "README.md",
        "src/a.rs.bk",
        "a.rs.bk",
        "docs/x.txt",
        "src/gen/drop.rs",
    ] {
        assert!(rules.excludes(excluded), "{excluded} should be excluded");
    }
    for kept in [
        "src/lib.rs",
        "src/README.md",
        "targets",
        "src/gen/keep.rs",
        "Cargo.toml",
    ] {
        assert!(!rules.excludes(kept), "{kept} should be kept");
    }
    // A pattern that names a directory the Dockerfile copies would drop all of it.
    assert!(IgnoreRules::parse("src\n").excludes("src/lib.rs"));
    assert!(IgnoreRules::parse("*.toml\n").excludes("Cargo.toml"));
    assert!(IgnoreRules::parse("b?nches/[q-s]*.rs\n").excludes("benches/render.rs"));
}

#[test]
fn default_arguments_are_flags_the_binary_accepts() {
    let cmd = exec_form("CMD");
    assert_eq!(cmd, ["--config.file=/etc/es-remote-exporter/config.yml"]);
    // Parsing accepts the flag: the run then fails on the missing file (exit 1), not on
    // the command line (clap exits 2).
    let output = Command::new(env!("CARGO_BIN_EXE_es-remote-exporter"))
        .args(&cmd)
        .arg("--config.check")
        .output()
        .unwrap();
    assert_eq!(
        output.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("failed to read config file /etc/es-remote-exporter/config.yml"),
        "{stderr}"
    );
    let exposed = dockerfile()
        .lines()
        .find_map(|l| l.strip_prefix("EXPOSE "))
        .map(str::to_owned);
    assert_eq!(exposed.as_deref(), Some("10920"));
}

#[test]
fn the_image_runs_as_a_numeric_non_root_user() {
    let user = dockerfile()
        .lines()
        .find_map(|l| l.strip_prefix("USER "))
        .map(str::to_owned);
    let user = user.expect("the Dockerfile sets USER");
    let (uid, gid) = user.split_once(':').unwrap_or((&user, &user));
    assert!(uid.parse::<u32>().is_ok_and(|uid| uid != 0), "{user}");
    assert!(gid.parse::<u32>().is_ok(), "{user}");
}

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// The files of the targets Cargo.toml declares in `[[bench]]`, `[[test]]` and `[[example]]`
/// tables: their `path`, or the default place for their `name`. Read line by line; the
/// manifest keeps these tables simple.
fn declared_targets() -> Vec<PathBuf> {
    let manifest = std::fs::read_to_string(root().join("Cargo.toml")).unwrap();
    let mut targets = Vec::new();
    let mut table: Option<(&str, Option<String>, Option<String>)> = None;
    let mut finish = |table: Option<(&str, Option<String>, Option<String>)>| {
        if let Some((dir, name, path)) = table {
            let name = name.expect("a declared target has a name");
            targets.push(PathBuf::from(path.unwrap_or(format!("{dir}/{name}.rs"))));
        }
    };
    for line in manifest.lines().map(str::trim) {
        if line.starts_with('[') {
            finish(table.take());
            table = match line {
                "[[bench]]" => Some(("benches", None, None)),
                "[[test]]" => Some(("tests", None, None)),
                "[[example]]" => Some(("examples", None, None)),
                _ => None,
            };
        } else if let Some((_, name, path)) = table.as_mut()
            && let Some((key, value)) = line.split_once('=')
        {
            let value = value.trim().trim_matches('"').to_owned();
            match key.trim() {
                "name" => *name = Some(value),
                "path" => *path = Some(value),
                _ => {}
            }
        }
    }
    finish(table);
    targets
}

/// `path` itself if it is a file, else every file below it.
fn files_under(path: &Path) -> Vec<PathBuf> {
    if path.is_file() {
        return vec![path.to_owned()];
    }
    let mut files = Vec::new();
    for entry in std::fs::read_dir(path).unwrap() {
        files.extend(files_under(&entry.unwrap().path()));
    }
    files
}

/// .dockerignore as Docker reads it: one pattern a line, `#` comments, a leading `/` and a
/// trailing `/` dropped, `!` for an exception, the last matching line deciding. A pattern
/// matches a path or any directory above it; `*` and `?` stay within one path segment, `**`
/// spans any number of them, `[...]` is a character class.
struct IgnoreRules {
    rules: Vec<(bool, Vec<String>)>,
}

impl IgnoreRules {
    fn parse(text: &str) -> Self {
        let rules = text
            .lines()
            .map(str::trim)
            .filter(|line| !line.is_empty() && !line.starts_with('#'))
            .map(|line| {
                let (keep, pattern) = match line.strip_prefix('!') {
                    Some(pattern) => (true, pattern.trim()),
                    None => (false, line),
                };
                let segments = pattern
                    .split('/')
                    .filter(|segment| !segment.is_empty() && *segment != ".")
                    .map(str::to_owned)
                    .collect();
                (keep, segments)
            })
            .collect();
        Self { rules }
    }

    fn excludes(&self, path: &str) -> bool {
        let segments: Vec<&str> = path.split('/').collect();
        let mut excluded = false;
        for (keep, pattern) in &self.rules {
            let matched = (1..=segments.len()).any(|end| matches_path(pattern, &segments[..end]));
            if matched {
                excluded = !keep;
            }
        }
        excluded
    }
}

fn matches_path(pattern: &[String], path: &[&str]) -> bool {
    match pattern.split_first() {
        None => path.is_empty(),
        Some((first, rest)) if first == "**" => {
            (0..=path.len()).any(|skip| matches_path(rest, &path[skip..]))
        }
        Some((first, rest)) => match path.split_first() {
            Some((segment, others)) => {
                let pattern: Vec<char> = first.chars().collect();
                let segment: Vec<char> = segment.chars().collect();
                matches_segment(&pattern, &segment) && matches_path(rest, others)
            }
            None => false,
        },
    }
}

/// One path segment against one pattern segment, as Go's filepath.Match does it.
fn matches_segment(pattern: &[char], text: &[char]) -> bool {
    match pattern.split_first() {
        None => text.is_empty(),
        Some(('*', rest)) => (0..=text.len()).any(|skip| matches_segment(rest, &text[skip..])),
        Some(('?', rest)) => !text.is_empty() && matches_segment(rest, &text[1..]),
        Some(('[', rest)) => {
            let Some(close) = rest.iter().position(|c| *c == ']') else {
                panic!("unterminated character class in .dockerignore");
            };
            let (class, after) = (&rest[..close], &rest[close + 1..]);
            let (negated, class) = match class.first() {
                Some('^') => (true, &class[1..]),
                _ => (false, class),
            };
            let Some(c) = text.first() else {
                return false;
            };
            let mut inside = false;
            let mut at = 0;
            while at < class.len() {
                if at + 2 < class.len() && class[at + 1] == '-' {
                    inside |= (class[at]..=class[at + 2]).contains(c);
                    at += 3;
                } else {
                    inside |= class[at] == *c;
                    at += 1;
                }
            }
            inside != negated && matches_segment(after, &text[1..])
        }
        Some(('\\', rest)) if !rest.is_empty() => {
            text.first() == Some(&rest[0]) && matches_segment(&rest[1..], &text[1..])
        }
        Some((c, rest)) => text.first() == Some(c) && matches_segment(rest, &text[1..]),
    }
}
