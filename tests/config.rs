//! Configuration errors name the file, the key path and the problem; a valid file loads.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use es_remote_exporter::config::Config;

fn error_of(yaml: &str) -> String {
    Config::from_yaml(yaml, Path::new("/etc/es-remote-exporter/config.yml"))
        .map(|_| ())
        .expect_err("the configuration must be rejected")
        .to_string()
}

const FILE: &str = "/etc/es-remote-exporter/config.yml";

#[test]
fn unknown_keys_are_rejected_with_their_path() {
    let message =
        error_of("clusters:\n  - name: a\n    url: http://127.0.0.1:9200\n    colour: blue\n");
    assert!(
        message.starts_with(&format!(
            "{FILE}: clusters[0].colour: unknown field `colour`"
        )),
        "{message}"
    );
    let message = error_of("poll_intervall: 1m\nclusters: []\n");
    assert!(
        message.starts_with(&format!("{FILE}: poll_intervall: unknown field")),
        "{message}"
    );
}

#[test]
fn each_invalid_value_is_named_by_its_key_path() {
    let cases = [
        (
            "clusters:\n  - {name: a, url: http://127.0.0.1:9200}\n  - {name: a, url: http://127.0.0.1:9201}\n",
            "clusters[1].name: duplicate cluster name \"a\" (also clusters[0].name)",
        ),
        (
            "clusters: []\n",
            "clusters: at least one cluster is required",
        ),
        (
            "clusters:\n  - {name: a, url: not-a-url}\n",
            "clusters[0].url: invalid URL \"not-a-url\": relative URL without a base",
        ),
        (
            "clusters:\n  - {name: a, url: \"ftp://127.0.0.1\"}\n",
            "clusters[0].url: scheme must be http or https, not \"ftp\"",
        ),
        (
            "clusters:\n  - {name: a, url: \"http://monitor:hunter2@127.0.0.1:9200\"}\n",
            "clusters[0].url: URL must not hold credentials; use basic_auth",
        ),
        (
            "clusters:\n  - {name: a, url: \"http://127.0.0.1:9200/?pretty\"}\n",
            "clusters[0].url: URL must not have a query or fragment",
        ),
        (
            "clusters:\n  - {name: a, url: \"http://monitor:hunter2@127.0.0.1:99999\"}\n",
            "clusters[0].url: invalid URL (not shown: it may hold a secret): invalid port number",
        ),
        (
            "clusters:\n  - {name: a, url: http://127.0.0.1:9200, max_remotes: 0}\n",
            "clusters[0].max_remotes: must be greater than 0",
        ),
        (
            "clusters:\n  - name:\n    url: http://127.0.0.1:9200\n",
            "clusters[0].name: needs a value at line 2, column 9",
        ),
        (
            "clusters:\n  - {name: a, url: http://127.0.0.1:9200}\n---\nclusters: []\n",
            "holds a second YAML document at line 4, column 1; one file holds one configuration",
        ),
        (
            "timeout: 20s\nclusters:\n  - {name: a, url: http://127.0.0.1:9200}\n",
            "timeout: timeout 20s must be shorter than poll_interval 15s",
        ),
        (
            "clusters:\n  - {name: a, url: http://127.0.0.1:9200, poll_interval: 5s}\n",
            "clusters[0].poll_interval: timeout 10s must be shorter than poll_interval 5s",
        ),
        (
            "clusters:\n  - {name: a, url: http://127.0.0.1:9200, timeout: 15s}\n",
            "clusters[0].timeout: timeout 15s must be shorter than poll_interval 15s",
        ),
        (
            "poll_interval: 0s\nclusters: []\n",
            "poll_interval: must be greater than 0",
        ),
        (
            "clusters:\n  - {name: \" \", url: http://127.0.0.1:9200}\n",
            "clusters[0].name: must not be empty",
        ),
        (
            "clusters:\n  - name: a\n    url: http://127.0.0.1:9200\n    basic_auth: {username: u}\n",
            "clusters[0].basic_auth: password or password_file is required",
        ),
        (
            "clusters:\n  - name: a\n    url: http://127.0.0.1:9200\n    basic_auth: {username: u, password: p, password_file: /run/p}\n",
            "clusters[0].basic_auth: set password or password_file, not both",
        ),
        (
            "clusters:\n  - name: a\n    url: http://127.0.0.1:9200\n    basic_auth: {username: u, password_file: /nonexistent/es-a}\n",
            "clusters[0].basic_auth.password_file: failed to read /nonexistent/es-a: No such file or directory (os error 2)",
        ),
        (
            "clusters:\n  - name: a\n    url: http://127.0.0.1:9200\n    authorization: {type: Token, credentials: x}\n",
            "clusters[0].authorization.type: must be ApiKey or Bearer, not \"Token\"",
        ),
        (
            "clusters:\n  - name: a\n    url: http://127.0.0.1:9200\n    authorization: {type: ApiKey, credentials: \"a\\nb\"}\n",
            "clusters[0].authorization.credentials: contains characters that an HTTP header cannot carry",
        ),
        (
            "clusters:\n  - name: a\n    url: http://127.0.0.1:9200\n    basic_auth: {username: u, password: p}\n    authorization: {credentials: t}\n",
            "clusters[0]: set basic_auth or authorization, not both",
        ),
        (
            "clusters:\n  - name: a\n    url: http://127.0.0.1:9200\n    tls_config: {cert_file: /etc/es/client.pem}\n",
            "clusters[0].tls_config: cert_file needs key_file",
        ),
        (
            "max_response_bytes: 0\nclusters: []\n",
            "max_response_bytes: must be greater than 0",
        ),
    ];
    for (yaml, expected) in cases {
        assert_eq!(error_of(yaml), format!("{FILE}: {expected}"), "{yaml}");
    }
}

#[test]
fn type_and_syntax_errors_name_the_position() {
    let message =
        error_of("clusters:\n  - {name: a, url: http://127.0.0.1:9200, poll_interval: fast}\n");
    assert!(
        message.starts_with(&format!(
            "{FILE}: clusters[0].poll_interval: invalid duration \"fast\""
        )),
        "{message}"
    );
    let message = error_of("clusters: [\n");
    assert!(message.contains("line 1"), "{message}");
    assert!(message.starts_with(FILE), "{message}");
}

#[test]
fn files_are_read_relative_to_the_config_file_and_secrets_stay_hidden() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("es-a.password"), "hunter2\n").unwrap();
    let yaml = "poll_interval: 30s\ntimeout: 5s\nclusters:\n  - name: es-a\n    url: https://127.0.0.1:9200/es\n    basic_auth: {username: monitor, password_file: es-a.password}\n    timeout: 2s\n";
    let config = Config::from_yaml(yaml, &dir.path().join("config.yml")).unwrap();
    let cluster = &config.clusters[0];
    assert_eq!(cluster.name.as_deref(), Some("es-a"));
    assert_eq!(cluster.url.as_str(), "https://127.0.0.1:9200/es/");
    assert_eq!(cluster.poll_interval, std::time::Duration::from_secs(30));
    assert_eq!(cluster.timeout, std::time::Duration::from_secs(2));
    assert_eq!(cluster.max_response_bytes, 16 * 1024 * 1024);
    assert_eq!(cluster.max_remotes, 10_000);
    let debug = format!("{config:?}");
    assert!(!debug.contains("hunter2"), "{debug}");
}

#[test]
fn config_check_exits_0_for_a_valid_file_and_1_for_an_invalid_one() {
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("good.yml");
    std::fs::write(
        &good,
        "clusters:\n  - {name: es-a, url: http://127.0.0.1:9200}\n",
    )
    .unwrap();
    let bad = dir.path().join("bad.yml");
    std::fs::write(
        &bad,
        "clusters:\n  - {name: es-a, url: http://127.0.0.1:9200, colour: 1}\n",
    )
    .unwrap();
    let binary = env!("CARGO_BIN_EXE_es-remote-exporter");

    let output = Command::new(binary)
        .args(["--config.check", "--config.file"])
        .arg(&good)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(0));
    assert_eq!(
        String::from_utf8_lossy(&output.stdout),
        format!(
            "{}: configuration is valid (1 cluster(s))\n",
            good.display()
        )
    );

    let output = Command::new(binary)
        .args(["--config.check", "--config.file"])
        .arg(&bad)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains(&format!(
            "{}: clusters[0].colour: unknown field `colour`",
            bad.display()
        )),
        "{stderr}"
    );
    assert!(output.stdout.is_empty());
}

#[test]
fn poll_intervals_and_timeouts_longer_than_a_day_are_rejected() {
    let cases = [
        (
            "poll_interval: 18446744073709551615s\nclusters: []\n",
            "poll_interval: must be at most 24h",
        ),
        (
            "timeout: 25h\nclusters: []\n",
            "timeout: must be at most 24h",
        ),
        (
            "clusters:\n  - {name: a, url: http://127.0.0.1:9200, poll_interval: 18446744073709551615s}\n",
            "clusters[0].poll_interval: must be at most 24h",
        ),
        (
            "poll_interval: 24h\nclusters:\n  - {name: a, url: http://127.0.0.1:9200, timeout: 86401s}\n",
            "clusters[0].timeout: must be at most 24h",
        ),
    ];
    for (yaml, expected) in cases {
        assert_eq!(error_of(yaml), format!("{FILE}: {expected}"), "{yaml}");
    }
    let yaml =
        "poll_interval: 24h\ntimeout: 23h\nclusters:\n  - {name: a, url: http://127.0.0.1:9200}\n";
    let config = Config::from_yaml(yaml, Path::new(FILE)).unwrap();
    assert_eq!(
        config.clusters[0].poll_interval,
        Duration::from_secs(86_400)
    );
    assert_eq!(config.clusters[0].timeout, Duration::from_secs(82_800));
}

/// The configuration bounds the interval; a poller built with a larger one by hand must still
/// not panic when it works out its next deadline.
#[tokio::test]
async fn a_poller_with_an_interval_beyond_any_instant_keeps_running() {
    use es_remote_exporter::config::{ClusterConfig, Nodes, Tls};
    use es_remote_exporter::es::Client;
    use es_remote_exporter::poll::{Poller, spawn_all};
    use es_remote_exporter::snapshot::State;
    use std::sync::Arc;

    let cluster = ClusterConfig {
        name: Some("a".to_owned()),
        url: "http://127.0.0.1:1/".parse().unwrap(),
        auth: None,
        tls: Tls::default(),
        poll_interval: Duration::MAX,
        timeout: Duration::from_secs(1),
        max_response_bytes: 1024,
        max_remotes: 10,
        expected_remotes: None,
        nodes: Nodes::Url,
        probe: None,
    };
    let state = Arc::new(State::new(["a".to_owned()]));
    let client = Client::new(&cluster).unwrap();
    let mut tasks = spawn_all(vec![Poller::new(0, &cluster, client, state.clone())]);
    for _ in 0..100 {
        if state.get(0).last_poll.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(state.get(0).polls, 1);
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert!(tasks.try_join_next().is_none(), "the poller task ended");
}

#[test]
fn duplicate_keys_name_the_mapping_and_the_key() {
    let cases = [
        (
            "clusters:\n  - name: a\n    name: b\n    url: http://127.0.0.1:9200\n",
            "clusters[0]: duplicate key `name` at line 3, column 5",
        ),
        (
            "clusters:\n  - name: a\n    url: http://127.0.0.1:9200\n    tls_config: {ca_file: a.pem, ca_file: b.pem}\n",
            "clusters[0].tls_config: duplicate key `ca_file` at line 4, column 34",
        ),
        (
            "timeout: 1s\ntimeout: 2s\nclusters: []\n",
            "duplicate key `timeout` at line 2, column 1",
        ),
    ];
    for (yaml, expected) in cases {
        assert_eq!(error_of(yaml), format!("{FILE}: {expected}"), "{yaml}");
    }
}

#[test]
fn an_empty_file_or_a_missing_key_says_what_is_required() {
    let cases = [
        (
            "",
            "clusters: is required (the file holds no configuration)",
        ),
        (
            "# nothing yet\n\n",
            "clusters: is required (the file holds no configuration)",
        ),
        (
            "---\n",
            "clusters: is required (the file holds no configuration)",
        ),
        ("poll_interval: 5s\n", "clusters: is required"),
        ("clusters:\n  - name: a\n", "clusters[0].url: is required"),
        (
            "clusters:\n  - name: a\n    url: http://127.0.0.1:9200\n    basic_auth: {password: p}\n",
            "clusters[0].basic_auth.username: is required",
        ),
    ];
    for (yaml, expected) in cases {
        assert_eq!(error_of(yaml), format!("{FILE}: {expected}"), "{yaml:?}");
    }
}

#[test]
fn a_client_key_that_is_not_the_certificates_own_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let pair = |name: &str| {
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = rcgen::CertificateParams::new(vec![name.to_owned()])
            .unwrap()
            .self_signed(&key)
            .unwrap();
        std::fs::write(dir.path().join(format!("{name}.pem")), cert.pem()).unwrap();
        std::fs::write(
            dir.path().join(format!("{name}-key.pem")),
            key.serialize_pem(),
        )
        .unwrap();
    };
    pair("one");
    pair("two");
    let yaml = |key: &str| {
        format!(
            "clusters:\n  - name: a\n    url: https://127.0.0.1:9200\n    tls_config: {{cert_file: one.pem, key_file: {key}}}\n"
        )
    };
    let file = dir.path().join("config.yml");
    assert!(Config::from_yaml(&yaml("one-key.pem"), &file).is_ok());
    let message = Config::from_yaml(&yaml("two-key.pem"), &file)
        .unwrap_err()
        .to_string();
    assert!(
        message.starts_with(&format!(
            "{}: clusters[0].tls_config.key_file: two-key.pem is not the private key of the certificate in one.pem",
            file.display()
        )),
        "{message}"
    );
}

#[test]
fn a_bad_es_url_names_the_flag_once_and_hides_credentials() {
    let message = Config::single("http://monitor:hunter2@127.0.0.1:99999")
        .unwrap_err()
        .to_string();
    assert_eq!(
        message,
        "--es.url: invalid URL (not shown: it may hold a secret): invalid port number"
    );
    let message = Config::single("http://127.0.0.1:9200/?token=abc")
        .unwrap_err()
        .to_string();
    assert_eq!(message, "--es.url: URL must not have a query or fragment");
    let message = Config::single("http://127.0.0.1:99999/?token=abc")
        .unwrap_err()
        .to_string();
    assert_eq!(
        message,
        "--es.url: invalid URL (not shown: it may hold a secret): invalid port number"
    );
}

#[test]
fn es_url_and_config_file_together_are_a_flag_error() {
    let binary = env!("CARGO_BIN_EXE_es-remote-exporter");
    for args in [
        &[
            "--config.file",
            "x.yml",
            "--es.url",
            "http://127.0.0.1:9200",
        ][..],
        &[
            "check",
            "--config.file",
            "x.yml",
            "--es.url",
            "http://127.0.0.1:9200",
        ][..],
    ] {
        let output = Command::new(binary).args(args).output().unwrap();
        let expected = if args[0] == "check" { 3 } else { 2 };
        assert_eq!(output.status.code(), Some(expected), "{args:?}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            stderr.starts_with(
                "error: the argument '--config.file <FILE>' cannot be used with '--es.url <URL>'"
            ),
            "{stderr}"
        );
    }
}
