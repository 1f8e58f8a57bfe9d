//! The Dockerfile builds and runs what this package really is: its binary name, the files the
//! build needs, and flags the binary accepts. The image cannot be built here (no Docker
//! engine); hadolint lints the file in scripts/artifacts/check.sh.

use std::path::Path;
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

#[test]
fn every_file_the_build_copies_exists() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let text = dockerfile();
    let copies: Vec<&str> = text
        .lines()
        .filter_map(|l| l.strip_prefix("COPY "))
        .filter(|l| !l.starts_with("--from"))
        .flat_map(|l| {
            let mut parts: Vec<&str> = l.split_whitespace().collect();
            parts.pop(); // the destination
            parts
        })
        .collect();
    assert_eq!(
        copies,
        ["Cargo.toml", "Cargo.lock", "build.rs", "src", "benches"]
    );
    for path in copies {
        assert!(root.join(path).exists(), "{path} is copied but missing");
    }
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
