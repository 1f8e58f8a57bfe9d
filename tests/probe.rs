//! `probe: resolve_cluster` against fake Elasticsearch and OpenSearch answers over loopback:
//! which engines are probed, what the probe exports, and what a failing probe leaves alone.

mod support;

use serde_json::{Value, json};
use support::{Exporter, value};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

const REMOTE_INFO: &str = r#"{
  "leader": {"connected": true, "mode": "sniff", "seeds": ["10.0.0.21:9300"], "num_nodes_connected": 3, "max_connections_per_cluster": 3, "initial_connect_timeout": "30s", "skip_unavailable": false},
  "dr": {"connected": true, "mode": "proxy", "proxy_address": "10.0.0.31:9400", "num_proxy_sockets_connected": 18, "max_proxy_socket_connections": 18, "initial_connect_timeout": "30s", "skip_unavailable": true}
}"#;

const RESOLVED: &str = r#"{
  "leader": {"connected": true, "skip_unavailable": false},
  "dr": {"connected": false, "skip_unavailable": true, "error": "Unable to connect to [dr]"}
}"#;

async fn answer(server: &MockServer, at: &str, status: u16, body: &str) {
    Mock::given(method("GET"))
        .and(path(at))
        .respond_with(
            ResponseTemplate::new(status)
                .set_body_raw(body.as_bytes().to_vec(), "application/json"),
        )
        .mount(server)
        .await;
}

/// A fake cluster whose `GET /` says `root`, with two remotes and a probe answer.
async fn cluster(root: Value, probe_status: u16, probe_body: &str) -> MockServer {
    let es = MockServer::start().await;
    answer(&es, "/", 200, &root.to_string()).await;
    answer(&es, "/_remote/info", 200, REMOTE_INFO).await;
    answer(&es, "/_resolve/cluster", probe_status, probe_body).await;
    es
}

fn exporter(es: &MockServer) -> Exporter {
    Exporter::with_config(&format!(
        "poll_interval: 300ms\ntimeout: 250ms\nclusters:\n  - name: prod-b\n    url: \"{}\"\n    probe: resolve_cluster\n",
        es.uri()
    ))
}

fn reachable_lines(text: &str) -> Vec<&str> {
    let mut lines: Vec<_> = text
        .lines()
        .filter(|l| l.starts_with("es_remote_reachable{"))
        .collect();
    lines.sort_unstable();
    lines
}

/// Requests the fake cluster received for `at`.
async fn requests(es: &MockServer, at: &str) -> Vec<wiremock::Request> {
    es.received_requests()
        .await
        .unwrap()
        .into_iter()
        .filter(|r| r.url.path() == at)
        .collect()
}

async fn notes(exporter: &Exporter) -> Value {
    let (_, body) = exporter.get("/health").await;
    let report: Value = serde_json::from_str(&body).unwrap();
    report["clusters"][0]["notes"].clone()
}

/// Waits until the exporter has finished at least `polls` polls.
async fn wait_polls(exporter: &Exporter, polls: u32) -> String {
    let series = r#"es_remote_scrapes_total{cluster="prod-b"}"#;
    exporter
        .wait_until("polls", |text| {
            value(text, series).is_some_and(|n| n >= f64::from(polls))
        })
        .await
}

fn elasticsearch(number: &str) -> Value {
    json!({"name": "b-1", "cluster_name": "b", "version": {"number": number, "build_flavor": "default"}})
}

#[tokio::test(flavor = "multi_thread")]
async fn elasticsearch_8_18_exports_what_the_probe_reached() {
    let es = cluster(elasticsearch("8.18.0"), 200, RESOLVED).await;
    let exporter = exporter(&es);
    let text = exporter
        .wait_until("reachable", |text| !reachable_lines(text).is_empty())
        .await;
    assert_eq!(
        reachable_lines(&text),
        [
            r#"es_remote_reachable{cluster="prod-b",remote_cluster="dr"} 0"#,
            r#"es_remote_reachable{cluster="prod-b",remote_cluster="leader"} 1"#,
        ]
    );
    assert_eq!(value(&text, r#"es_remote_up{cluster="prod-b"}"#), Some(1.0));
    assert_eq!(
        notes(&exporter).await,
        json!(["probe resolve_cluster: remote dr is unreachable: Unable to connect to [dr]"])
    );

    wait_polls(&exporter, 3).await;
    let probes = requests(&es, "/_resolve/cluster").await;
    assert!(probes.len() >= 2, "{}", probes.len());
    assert!(probes.iter().all(|r| r.url.query().is_none()));
    assert_eq!(requests(&es, "/").await.len(), 1);
    assert!(exporter.events("probe unsupported").is_empty());
    assert!(exporter.events("probe failing").is_empty());
}

/// An engine without `GET /_resolve/cluster`: one warn, a note, no series, no probe call.
async fn assert_unsupported(root: Value, why: &str) {
    let es = cluster(root, 200, RESOLVED).await;
    let exporter = exporter(&es);
    let text = wait_polls(&exporter, 3).await;
    assert_eq!(reachable_lines(&text), Vec::<&str>::new());
    assert_eq!(value(&text, r#"es_remote_up{cluster="prod-b"}"#), Some(1.0));
    assert_eq!(notes(&exporter).await, json!([why]));

    let warnings = exporter.events("probe unsupported");
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert_eq!(warnings[0]["level"], "WARN");
    assert_eq!(warnings[0]["cluster"], "prod-b");
    assert_eq!(warnings[0]["why"], why);
    assert_eq!(requests(&es, "/_resolve/cluster").await.len(), 0);
    assert_eq!(requests(&es, "/").await.len(), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn elasticsearch_8_15_is_not_probed() {
    assert_unsupported(
        elasticsearch("8.15.3"),
        "probe resolve_cluster needs Elasticsearch 8.18 or later; prod-b runs Elasticsearch 8.15.3",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn opensearch_is_not_probed() {
    assert_unsupported(
        json!({"name": "b-1", "cluster_name": "b", "version": {"distribution": "opensearch", "number": "2.19.6"}}),
        "probe resolve_cluster needs Elasticsearch 8.18 or later; prod-b runs OpenSearch 2.19.6",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failing_probe_withholds_reachable_but_not_up() {
    let es = cluster(
        elasticsearch("8.18.1"),
        500,
        r#"{"error":{"type":"illegal_state_exception","reason":"boom"},"status":500}"#,
    )
    .await;
    let exporter = exporter(&es);
    let text = wait_polls(&exporter, 3).await;
    assert_eq!(reachable_lines(&text), Vec::<&str>::new());
    assert_eq!(value(&text, r#"es_remote_up{cluster="prod-b"}"#), Some(1.0));
    assert_eq!(
        notes(&exporter).await,
        json!([
            "probe resolve_cluster failed, so es_remote_reachable is not exported: http_error: HTTP 500 Internal Server Error (illegal_state_exception)"
        ])
    );
    let (status, _) = exporter.get("/health").await;
    assert_eq!(status, 200);

    let warnings = exporter.events("probe failing");
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert_eq!(warnings[0]["level"], "WARN");
    assert_eq!(warnings[0]["reason"], "http_error");
    assert!(requests(&es, "/_resolve/cluster").await.len() >= 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_probe_that_recovers_exports_again_and_says_so() {
    let es = MockServer::start().await;
    answer(&es, "/", 200, &elasticsearch("9.1.0").to_string()).await;
    answer(&es, "/_remote/info", 200, REMOTE_INFO).await;
    Mock::given(method("GET"))
        .and(path("/_resolve/cluster"))
        .respond_with(ResponseTemplate::new(503))
        .up_to_n_times(2)
        .with_priority(1)
        .mount(&es)
        .await;
    answer(&es, "/_resolve/cluster", 200, RESOLVED).await;
    let exporter = exporter(&es);
    let text = exporter
        .wait_until("reachable", |text| !reachable_lines(text).is_empty())
        .await;
    assert_eq!(reachable_lines(&text).len(), 2);
    assert_eq!(exporter.events("probe failing").len(), 1);
    let recovered = exporter.events("probe recovered");
    assert_eq!(recovered.len(), 1, "{recovered:?}");
    assert_eq!(recovered[0]["level"], "INFO");
}
