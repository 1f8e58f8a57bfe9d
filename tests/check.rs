//! `es-remote-exporter check` against fake Elasticsearch answers over loopback: the table, the
//! JSON document and the exit code of each verdict.

mod support;

use std::process::Command;

use serde_json::json;
use support::{answer, closed_port, fixture, json_answer, without_times};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

const ES_7_17: &str = "shapes/es-7.17.json";

/// What `check` printed and how it exited.
struct Outcome {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

/// Runs `check` with a configuration file holding `yaml`, plus `args`.
async fn check(yaml: &str, args: &[&str]) -> Outcome {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("config.yml");
    std::fs::write(&file, yaml).unwrap();
    let mut all = vec![
        "check".to_owned(),
        "--config.file".to_owned(),
        file.display().to_string(),
    ];
    all.extend(args.iter().map(|a| (*a).to_owned()));
    run(all).await
}

async fn run(args: Vec<String>) -> Outcome {
    tokio::task::spawn_blocking(move || {
        let output = Command::new(env!("CARGO_BIN_EXE_es-remote-exporter"))
            .args(&args)
            .output()
            .unwrap();
        Outcome {
            code: output.status.code(),
            stdout: String::from_utf8(output.stdout).unwrap(),
            stderr: String::from_utf8(output.stderr).unwrap(),
        }
    })
    .await
    .unwrap()
}

fn config(base: &str, clusters: &str) -> String {
    format!(
        "poll_interval: 5s\ntimeout: 2s\nclusters:\n{}",
        clusters.replace("{base}", base)
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn all_fine_exits_0_with_a_table() {
    let es = MockServer::start().await;
    answer(&es, "b", json_answer(fixture("shapes/es-8.15.json"))).await;
    let out = check(
        &config(
            &es.uri(),
            "  - name: prod-b\n    url: \"{base}/b\"\n    expected_remotes: [{ name: es-a, min_nodes: 1 }]\n",
        ),
        &[],
    )
    .await;
    assert_eq!(out.code, Some(0), "{}{}", out.stdout, out.stderr);
    assert_eq!(
        out.stdout,
        "CLUSTER  REMOTE  STATE  MODE   CONNECTIONS  WHY\n\
         prod-b   es-a    ok     sniff  1/3          connected (1/3 gateway nodes)\n\
         prod-b   es-b    ok     proxy  9/18         connected (9/18 proxy sockets)\n\
         overall: ok\n"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn an_expected_remote_missing_exits_2() {
    let es = MockServer::start().await;
    answer(&es, "b", json_answer(fixture(ES_7_17))).await;
    let out = check(
        &config(
            &es.uri(),
            "  - name: prod-b\n    url: \"{base}/b\"\n    expected_remotes: [{ name: es-a }, { name: leader }]\n",
        ),
        &[],
    )
    .await;
    assert_eq!(out.code, Some(2), "{}{}", out.stdout, out.stderr);
    assert_eq!(
        out.stdout,
        "CLUSTER  REMOTE  STATE  MODE   CONNECTIONS  WHY\n\
         prod-b   es-a    ok     sniff  2/3          connected (2/3 gateway nodes)\n\
         prod-b   es-b    down   proxy  0/18         not connected (0/18 proxy sockets)\n\
         prod-b   leader  down   -      -            expected, but not in the _remote/info answer\n\
         overall: down\n"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn an_empty_answer_with_expected_remotes_exits_2_and_without_exits_0() {
    let es = MockServer::start().await;
    answer(&es, "b", json_answer(b"{}")).await;
    let out = check(
        &config(
            &es.uri(),
            "  - name: prod-b\n    url: \"{base}/b\"\n    expected_remotes: [{ name: leader }]\n",
        ),
        &[],
    )
    .await;
    assert_eq!(out.code, Some(2));
    assert_eq!(
        out.stdout,
        "CLUSTER  REMOTE  STATE  MODE  CONNECTIONS  WHY\n\
         prod-b   leader  down   -     -            expected, but not in the _remote/info answer\n\
         overall: down\n"
    );

    let out = check(
        &config(&es.uri(), "  - { name: prod-b, url: \"{base}/b\" }\n"),
        &[],
    )
    .await;
    assert_eq!(out.code, Some(0));
    assert_eq!(
        out.stdout,
        "CLUSTER  REMOTE  STATE  MODE  CONNECTIONS  WHY\n\
         prod-b   -       ok     -     -            the answer lists no remotes\n\
         overall: ok\n"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_remote_below_min_nodes_exits_1() {
    let es = MockServer::start().await;
    answer(&es, "b", json_answer(fixture("shapes/es-8.15.json"))).await;
    let out = check(
        &config(
            &es.uri(),
            "  - name: prod-b\n    url: \"{base}/b\"\n    expected_remotes: [{ name: es-a, min_nodes: 2 }]\n",
        ),
        &[],
    )
    .await;
    assert_eq!(out.code, Some(1), "{}{}", out.stdout, out.stderr);
    assert!(
        out.stdout.contains(
            "prod-b   es-a    degraded  sniff  1/3          1 gateway node connected, fewer than min_nodes 2\n"
        ),
        "{}",
        out.stdout
    );
    assert!(out.stdout.ends_with("overall: degraded\n"));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_skip_unavailable_drift_exits_1() {
    let es = MockServer::start().await;
    answer(&es, "b", json_answer(fixture("shapes/es-8.15.json"))).await;
    let out = check(
        &config(
            &es.uri(),
            "  - name: prod-b\n    url: \"{base}/b\"\n    expected_remotes: [{ name: es-b, skip_unavailable: false }]\n",
        ),
        &[],
    )
    .await;
    assert_eq!(out.code, Some(1), "{}{}", out.stdout, out.stderr);
    assert!(
        out.stdout.contains(
            "es-b    degraded  proxy  9/18         skip_unavailable is true, expected false\n"
        ),
        "{}",
        out.stdout
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unreachable_cluster_exits_3_and_down_outranks_it() {
    let refused = format!("http://127.0.0.1:{}", closed_port());
    let out = check(
        &config(
            &refused,
            "  - name: prod-c\n    url: \"{base}\"\n    expected_remotes: [{ name: leader }]\n",
        ),
        &[],
    )
    .await;
    assert_eq!(out.code, Some(3), "{}{}", out.stdout, out.stderr);
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(lines[0], "CLUSTER  REMOTE  STATE    MODE  CONNECTIONS  WHY");
    assert!(
        lines[1].starts_with("prod-c   -       unknown  -     -            poll failed: connect: "),
        "{}",
        lines[1]
    );
    assert_eq!(
        lines[2],
        "prod-c   leader  unknown  -     -            the cluster could not be polled (connect)"
    );
    assert_eq!(lines[3], "overall: unknown");

    // One cluster down and one unknown: down wins.
    let es = MockServer::start().await;
    answer(&es, "b", json_answer(fixture(ES_7_17))).await;
    let yaml = config(&es.uri(), "  - { name: prod-b, url: \"{base}/b\" }\n")
        + &format!("  - {{ name: prod-c, url: \"{refused}\" }}\n");
    let out = check(&yaml, &[]).await;
    assert_eq!(out.code, Some(2), "{}{}", out.stdout, out.stderr);
    assert!(out.stdout.ends_with("overall: down\n"));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_configuration_or_flag_error_exits_3_with_the_error_on_stderr() {
    let out = check("clusters:\n  - { name: b, url: \"http://127.0.0.1:9200\", expected_remotes: [{ name: a, min_node: 1 }] }\n", &[]).await;
    assert_eq!(out.code, Some(3));
    assert_eq!(out.stdout, "");
    assert!(
        out.stderr
            .contains("clusters[0].expected_remotes[0].min_node: unknown field `min_node`"),
        "{}",
        out.stderr
    );

    let out = run(vec!["check".into(), "--output".into(), "yaml".into()]).await;
    assert_eq!(out.code, Some(3));
    assert!(
        out.stderr.contains("invalid value 'yaml'"),
        "{}",
        out.stderr
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn json_output_is_the_health_document() {
    let es = MockServer::start().await;
    answer(&es, "b", json_answer(fixture(ES_7_17))).await;
    let out = check(
        &config(
            &es.uri(),
            "  - name: prod-b\n    url: \"{base}/b\"\n    expected_remotes: [{ name: es-a, min_nodes: 3 }]\n",
        ),
        &["--output", "json"],
    )
    .await;
    assert_eq!(out.code, Some(2), "{}{}", out.stdout, out.stderr);
    let document: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(
        without_times(document),
        json!({
            "state": "down",
            "clusters": [{
                "name": "prod-b",
                "state": "down",
                "why": "1 down, 1 degraded of 2 remotes",
                "since": "<time>",
                "polled_at": "<time>",
                "error": null,
                "remotes": [
                    {
                        "name": "es-a",
                        "state": "degraded",
                        "why": "2 gateway nodes connected, fewer than min_nodes 3",
                        "since": "<time>",
                        "expected": true,
                        "mode": "sniff",
                        "connections": "2/3"
                    },
                    {
                        "name": "es-b",
                        "state": "down",
                        "why": "not connected (0/18 proxy sockets)",
                        "since": "<time>",
                        "expected": false,
                        "mode": "proxy",
                        "connections": "0/18"
                    }
                ]
            }]
        })
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn without_a_config_file_check_polls_es_url_and_names_the_cluster() {
    let es = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/"))
        .respond_with(ResponseTemplate::new(200).set_body_raw(
            r#"{"name":"es-b-1","cluster_name":"es-b","version":{"number":"8.15.0"}}"#,
            "application/json",
        ))
        .mount(&es)
        .await;
    Mock::given(method("GET"))
        .and(path("/_remote/info"))
        .respond_with(ResponseTemplate::new(200).set_body_raw(fixture(ES_7_17), "application/json"))
        .mount(&es)
        .await;
    let out = run(vec!["check".into(), "--es.url".into(), es.uri()]).await;
    assert_eq!(out.code, Some(2), "{}{}", out.stdout, out.stderr);
    assert_eq!(
        out.stdout,
        "CLUSTER  REMOTE  STATE  MODE   CONNECTIONS  WHY\n\
         es-b     es-a    ok     sniff  2/3          connected (2/3 gateway nodes)\n\
         es-b     es-b    down   proxy  0/18         not connected (0/18 proxy sockets)\n\
         overall: down\n"
    );
}

/// 1 and 2 mean degraded and down, so a flag error is 3 wherever `check` appears, also after
/// server flags that clap refuses before it; a flag value that reads `check` is no subcommand.
#[tokio::test(flavor = "multi_thread")]
async fn a_flag_error_anywhere_around_check_exits_3() {
    let args = |text: &str| text.split(' ').map(str::to_owned).collect::<Vec<_>>();
    let out = run(args("--log.level debug check --es.url http://127.0.0.1:1")).await;
    assert_eq!(out.code, Some(3));
    assert_eq!(
        out.stderr,
        "error: the subcommand 'check' cannot be used with '--log.level <LOG_LEVEL>'\n\n\
         Usage: es-remote-exporter [OPTIONS]\n       es-remote-exporter <COMMAND>\n\n\
         For more information, try '--help'.\n"
    );
    assert_eq!(out.stdout, "");
    assert_eq!(
        run(args("--es.url=http://127.0.0.1:1 check")).await.code,
        Some(3)
    );
    assert_eq!(run(args("check --bogus")).await.code, Some(3));
    assert_eq!(
        run(args("--log.format json check --output yaml"))
            .await
            .code,
        Some(3)
    );

    let out = run(args("--es.url check --bogus")).await;
    assert_eq!(out.code, Some(2));
    assert_eq!(
        out.stderr,
        "error: unexpected argument '--bogus' found\n\n\
         Usage: es-remote-exporter --es.url <URL>\n\n\
         For more information, try '--help'.\n"
    );
    assert_eq!(run(args("--bogus")).await.code, Some(2));
}

/// An alias or cluster name carrying NUL, ESC or a newline is printed escaped, so it can
/// neither drive the terminal nor break the table; printable non-ASCII stays as it is.
#[tokio::test(flavor = "multi_thread")]
async fn control_characters_in_names_are_escaped_in_the_table() {
    let es = MockServer::start().await;
    let body = r#"{"a\u0000b\u001b[31m":{"connected":true,"mode":"sniff","seeds":["10.0.0.21:9300"],"num_nodes_connected":1,"max_connections_per_cluster":3},"zé\nx":{"connected":false,"mode":"sniff","num_nodes_connected":0}}"#;
    answer(&es, "b", json_answer(body)).await;
    let out = check(
        &config(
            &es.uri(),
            "  - name: \"pr\\tod\\u0007\"\n    url: \"{base}/b\"\n",
        ),
        &[],
    )
    .await;
    assert_eq!(out.code, Some(2), "{}{}", out.stdout, out.stderr);
    assert_eq!(
        out.stdout,
        "CLUSTER      REMOTE          STATE  MODE   CONNECTIONS  WHY\n\
         pr\\tod\\u{7}  a\\0b\\u{1b}[31m  ok     sniff  1/3          connected (1/3 gateway nodes)\n\
         pr\\tod\\u{7}  zé\\nx           down   sniff  0            not connected (0 gateway nodes)\n\
         overall: down\n"
    );
}

/// A report that cannot be written (a closed pipe, a full disk) is the check failing: exit 3
/// with one line on stderr, not a panic's 101.
#[tokio::test(flavor = "multi_thread")]
async fn a_report_that_cannot_be_written_exits_3_with_one_line_on_stderr() {
    let es = MockServer::start().await;
    answer(&es, "b", json_answer(fixture(ES_7_17))).await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("config.yml");
    let yaml = config(&es.uri(), "  - { name: prod-b, url: \"{base}/b\" }\n");
    std::fs::write(&file, yaml).unwrap();
    let file = file.display().to_string();

    let run_into = |stdout: std::process::Stdio, output: &'static str| {
        let file = file.clone();
        tokio::task::spawn_blocking(move || {
            Command::new(env!("CARGO_BIN_EXE_es-remote-exporter"))
                .args(["check", "--config.file", &file, "--output", output])
                .stdout(stdout)
                .stderr(std::process::Stdio::piped())
                .output()
                .unwrap()
        })
    };

    // A pipe whose reader is gone: writing fails with a broken pipe.
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    let out = run_into(writer.into(), "table").await.unwrap();
    assert_eq!(out.status.code(), Some(3));
    assert_eq!(
        String::from_utf8(out.stderr).unwrap(),
        "es-remote-exporter check: failed to write the report to stdout: Broken pipe (os error 32)\n"
    );

    let full = std::fs::OpenOptions::new()
        .write(true)
        .open("/dev/full")
        .unwrap();
    let out = run_into(full.into(), "json").await.unwrap();
    assert_eq!(out.status.code(), Some(3));
    assert_eq!(
        String::from_utf8(out.stderr).unwrap(),
        "es-remote-exporter check: failed to write the report to stdout: No space left on device \
         (os error 28)\n"
    );
}

/// Bidirectional controls and zero-width characters would reorder or hide parts of a line;
/// they are escaped like control characters.
#[tokio::test(flavor = "multi_thread")]
async fn bidi_and_zero_width_characters_in_names_are_escaped_in_the_table() {
    let es = MockServer::start().await;
    let body = r#"{"ev\u202eil\u200b":{"connected":true,"mode":"sniff","num_nodes_connected":1,"max_connections_per_cluster":3}}"#;
    answer(&es, "b", json_answer(body)).await;
    let out = check(
        &config(
            &es.uri(),
            "  - name: \"b\\u2066x\"\n    url: \"{base}/b\"\n",
        ),
        &[],
    )
    .await;
    assert_eq!(out.code, Some(0), "{}{}", out.stdout, out.stderr);
    assert_eq!(
        out.stdout,
        "CLUSTER     REMOTE                STATE  MODE   CONNECTIONS  WHY\n\
         b\\u{2066}x  ev\\u{202e}il\\u{200b}  ok     sniff  1/3          connected (1/3 gateway nodes)\n\
         overall: ok\n"
    );
}
