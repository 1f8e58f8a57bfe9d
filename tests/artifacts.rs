//! The artifacts that ship beside the exporter, checked against promtool and the real binary:
//! alert rules and their unit tests, the metric names the rules and dashboards query, and the
//! exposition text itself.

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use support::{Exporter, closed_port, fixture, value};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

#[test]
fn alert_rules_pass_promtool_check_rules() {
    let output = promtool(
        &["check", "rules", "alerts/es-remote-exporter.rules.yml"],
        None,
    );
    assert_success("promtool check rules", &output);
}

#[test]
fn alert_rule_unit_tests_pass_promtool_test_rules() {
    let mut tests: Vec<PathBuf> = std::fs::read_dir(repository().join("alerts/tests"))
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "yml"))
        .collect();
    tests.sort();
    assert!(!tests.is_empty(), "no rule unit tests in alerts/tests");
    let mut args = vec!["test", "rules"];
    args.extend(tests.iter().map(|path| path.to_str().unwrap()));
    let output = promtool(&args, None);
    assert_success("promtool test rules", &output);
}

/// Names come from scripts/artifacts/metric_names.py, the one extraction that check.sh used
/// too, so a query and this test can never disagree about what a query references. A name the
/// rules record themselves is the one exception to "emitted by the exporter", and it must look
/// like a recording rule (a colon, which exporters never emit) and be read by some query.
#[tokio::test(flavor = "multi_thread")]
async fn every_metric_the_rules_and_dashboards_query_is_emitted() {
    let text = exposition().await;
    let emitted = sample_names(&text);

    let queried = metric_names(&[]);
    let recorded = metric_names(&["--recorded"]);

    // The rules alone query more than a dozen names; an empty list means the extraction broke.
    assert!(queried.len() >= 10, "too few names extracted: {queried:?}");
    let missing: Vec<_> = queried
        .iter()
        .filter(|name| !emitted.contains(*name) && !recorded.contains(*name))
        .collect();
    assert!(
        missing.is_empty(),
        "queried but neither emitted nor recorded: {missing:?}\nemitted: {emitted:?}"
    );
    for name in &recorded {
        assert!(
            name.contains(':'),
            "recorded {name} looks like an exporter metric"
        );
        assert!(
            !emitted.contains(name),
            "recorded {name} is emitted by the exporter too"
        );
        assert!(queried.contains(name), "recorded {name} is never queried");
    }
}

/// Grafana links, bookmarks and provisioning find the dashboard by its uid; the README names it.
#[test]
fn the_dashboard_keeps_its_uid() {
    let text = std::fs::read_to_string(repository().join("dashboards/es-remote-exporter.json"))
        .expect("the dashboard is readable");
    let dashboard: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(dashboard["uid"], "es-remote-exporter");
}

/// The dashboard lint demands a cluster or remote_cluster filter exactly where the metric
/// carries that label, which only the exporter's real output can tell.
#[tokio::test(flavor = "multi_thread")]
async fn the_dashboard_lint_requires_the_filters_each_metric_can_take() {
    let text = exposition().await;
    let families = label_names(&text);

    let mut args = vec!["scripts/artifacts/lint_dashboard.py", "--required-filters"];
    args.extend(families.keys().map(String::as_str));
    let output = Command::new("python3")
        .args(&args)
        .current_dir(repository())
        .output()
        .expect("python3 is needed to run scripts/artifacts/lint_dashboard.py");
    assert_success("lint_dashboard.py --required-filters", &output);
    let required: BTreeMap<String, String> = String::from_utf8(output.stdout)
        .unwrap()
        .lines()
        .map(|line| {
            let (name, labels) = line.split_once(' ').unwrap();
            (name.to_owned(), labels.to_owned())
        })
        .collect();

    assert!(families.contains_key("es_remote_connected"), "{families:?}");
    for (name, labels) in &families {
        let mut expected = vec!["job", "instance"];
        expected.extend(
            ["cluster", "remote_cluster"]
                .into_iter()
                .filter(|label| labels.contains(*label)),
        );
        assert_eq!(
            required[name],
            expected.join(","),
            "{name} carries {labels:?}"
        );
    }
}

/// Every metric name in exposition text with the label names its samples carry.
fn label_names(text: &str) -> BTreeMap<String, BTreeSet<String>> {
    let mut families: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for line in text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
    {
        let end = line.find(['{', ' ']).unwrap_or(line.len());
        let labels = families.entry(line[..end].to_owned()).or_default();
        let Some(mut rest) = line[end..].strip_prefix('{') else {
            continue;
        };
        // name="value" pairs; a value may hold escaped quotes, commas and braces.
        while let Some((name, after)) = rest.split_once("=\"") {
            labels.insert(name.trim_start_matches(',').to_owned());
            let mut chars = after.char_indices();
            let close = loop {
                match chars.next() {
                    Some((_, '\\')) => _ = chars.next(),
                    Some((at, '"')) => break at,
                    Some(_) => {}
                    None => panic!("unterminated label value in {line}"),
                }
            };
            rest = &after[close + 1..];
            if rest.starts_with('}') {
                break;
            }
        }
    }
    families
}

/// The lines of scripts/artifacts/metric_names.py run with `args`.
fn metric_names(args: &[&str]) -> BTreeSet<String> {
    let output = Command::new("python3")
        .arg("scripts/artifacts/metric_names.py")
        .args(args)
        .current_dir(repository())
        .output()
        .expect("python3 is needed to run scripts/artifacts/metric_names.py");
    assert_success("metric_names.py", &output);
    String::from_utf8(output.stdout)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn exposition_with_every_kind_of_series_passes_promtool_check_metrics() {
    let text = exposition().await;
    // The odd aliases must be in the text promtool reads, or the escaping goes unchecked.
    for escaped in [
        r#"remote_cluster="quo\"te""#,
        r#"remote_cluster="back\\slash""#,
        r#"remote_cluster="new\nline""#,
        r#"remote_cluster="münchen-östra""#,
    ] {
        assert!(text.contains(escaped), "{escaped} missing from:\n{text}");
    }

    let output = promtool(&["check", "metrics"], Some(&text));
    assert_success("promtool check metrics", &output);
}

/// `/metrics` of the binary polling five clusters: one with a sniff and a proxy remote, both
/// with credentials; the same with `nodes: all`, on a node that answers and one that is gone;
/// one whose aliases hold a quote, a backslash, a newline and non-ASCII; one that answers 401;
/// one that refuses connections. Every per-cluster, per-remote, per-node and exporter series is
/// in it.
async fn exposition() -> String {
    let es = MockServer::start().await;
    for (prefix, file) in [
        ("both-modes", "shapes/es-8.15.json"),
        ("odd-aliases", "shapes/odd-aliases.json"),
    ] {
        Mock::given(method("GET"))
            .and(path(format!("/{prefix}/_remote/info")))
            .respond_with(
                ResponseTemplate::new(200).set_body_raw(fixture(file), "application/json"),
            )
            .mount(&es)
            .await;
    }
    // `nodes: all`: the cluster lists itself as one node and a node that is gone.
    let address = es.address().to_string();
    let refused = closed_port();
    let nodes = serde_json::json!({"nodes": {
        "node-a": {"name": "es-b-1", "roles": ["remote_cluster_client"],
                   "http": {"publish_address": address}},
        "node-b": {"name": "es-b-2", "roles": ["remote_cluster_client"],
                   "http": {"publish_address": format!("127.0.0.1:{refused}")}},
    }});
    for (at, body) in [
        ("/all-nodes/_remote/info", fixture("shapes/es-8.15.json")),
        ("/_remote/info", fixture("shapes/es-8.15.json")),
        ("/all-nodes/_nodes/http", nodes.to_string().into_bytes()),
    ] {
        Mock::given(method("GET"))
            .and(path(at))
            .respond_with(ResponseTemplate::new(200).set_body_raw(body, "application/json"))
            .mount(&es)
            .await;
    }
    Mock::given(method("GET"))
        .and(path("/unauthorized/_remote/info"))
        .respond_with(ResponseTemplate::new(401))
        .mount(&es)
        .await;

    let base = es.uri();
    let exporter = Exporter::with_config(&format!(
        r#"
poll_interval: 1s
timeout: 500ms
clusters:
  - {{ name: both-modes, url: "{base}/both-modes" }}
  - {{ name: all-nodes, url: "{base}/all-nodes", nodes: all }}
  - {{ name: odd-aliases, url: "{base}/odd-aliases" }}
  - {{ name: unauthorized, url: "{base}/unauthorized" }}
  - {{ name: refused, url: "http://127.0.0.1:{refused}/" }}
"#
    ));
    exporter.wait_ready().await;
    let polled = [
        r#"es_remote_up{cluster="both-modes"}"#,
        r#"es_remote_up{cluster="odd-aliases"}"#,
        r#"es_remote_node_up{cluster="all-nodes",node="es-b-1"}"#,
        r#"es_remote_scrape_errors_total{cluster="unauthorized",reason="unauthorized"}"#,
        r#"es_remote_scrape_errors_total{cluster="refused",reason="connect"}"#,
    ];
    exporter
        .wait_until(
            "every cluster to have been polled with its outcome",
            |text| {
                polled
                    .iter()
                    .all(|series| value(text, series).is_some_and(|v| v >= 1.0))
            },
        )
        .await
}

/// The metric name of every sample line, exactly as emitted (counters keep their `_total`).
fn sample_names(text: &str) -> BTreeSet<String> {
    text.lines()
        .filter(|line| !line.starts_with('#') && !line.is_empty())
        .map(|line| {
            let end = line.find(['{', ' ']).unwrap_or(line.len());
            line[..end].to_owned()
        })
        .collect()
}

/// Runs promtool in the repository root, feeding `stdin` if given.
fn promtool(args: &[&str], stdin: Option<&str>) -> Output {
    let mut child = match Command::new("promtool")
        .args(args)
        .current_dir(repository())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
    {
        Ok(child) => child,
        Err(err) => panic!(
            "cannot run promtool ({err}): install Debian's prometheus package \
             (apt-get install -y prometheus), which provides /usr/bin/promtool"
        ),
    };
    // Dropping stdin closes it, so promtool sees the end of its input.
    let mut input = child.stdin.take().unwrap();
    if let Some(text) = stdin {
        input.write_all(text.as_bytes()).unwrap();
    }
    drop(input);
    child.wait_with_output().unwrap()
}

fn assert_success(what: &str, output: &Output) {
    assert!(
        output.status.success(),
        "{what} failed with {}\n--- stdout\n{}\n--- stderr\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr),
    );
}

fn repository() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}
