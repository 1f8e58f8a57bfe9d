//! `GET /health` and the health series of the running exporter, against fake Elasticsearch
//! answers over loopback.

mod support;

use serde_json::{Value, json};
use support::{
    Exporter, answer, closed_port, fixture, health_lines, json_answer, value, without_times,
};
use wiremock::MockServer;

const CONNECTED: &str = r#"{"leader":{"connected":true,"mode":"sniff","seeds":["10.0.0.21:9300"],"num_nodes_connected":3,"max_connections_per_cluster":3,"initial_connect_timeout":"30s","skip_unavailable":false}}"#;
const DISCONNECTED: &str = r#"{"leader":{"connected":false,"mode":"sniff","seeds":["10.0.0.21:9300"],"num_nodes_connected":0,"max_connections_per_cluster":3,"initial_connect_timeout":"30s","skip_unavailable":false}}"#;

/// An exporter polling one cluster `prod-b` at `url`, with `extra` YAML keys for the cluster.
fn exporter(url: &str, extra: &str) -> Exporter {
    Exporter::with_config(&format!(
        "poll_interval: 300ms\ntimeout: 200ms\nclusters:\n  - name: prod-b\n    url: \"{url}\"\n{extra}"
    ))
}

async fn health(exporter: &Exporter) -> (u16, Value) {
    let (status, body) = exporter.get("/health").await;
    (status, without_times(serde_json::from_str(&body).unwrap()))
}

#[tokio::test(flavor = "multi_thread")]
async fn health_is_200_when_every_remote_is_ok() {
    let es = MockServer::start().await;
    answer(&es, "b", json_answer(CONNECTED)).await;
    let exporter = exporter(
        &format!("{}/b", es.uri()),
        "    expected_remotes: [{ name: leader, min_nodes: 2, skip_unavailable: false }]\n",
    );
    exporter.wait_ready().await;
    assert_eq!(
        health(&exporter).await,
        (
            200,
            json!({
                "state": "ok",
                "clusters": [{
                    "name": "prod-b",
                    "state": "ok",
                    "why": "1 remote ok",
                    "since": "<time>",
                    "polled_at": "<time>",
                    "error": null,
                    "remotes": [{
                        "name": "leader",
                        "state": "ok",
                        "why": "connected (3/3 gateway nodes)",
                        "since": "<time>",
                        "expected": true,
                        "mode": "sniff",
                        "connections": "3/3"
                    }]
                }]
            })
        )
    );
    let (_, page) = exporter.get("/").await;
    assert!(page.contains(r#"<a href="/health">"#), "{page}");
}

#[tokio::test(flavor = "multi_thread")]
async fn health_is_503_when_a_remote_is_degraded() {
    let es = MockServer::start().await;
    answer(&es, "b", json_answer(CONNECTED)).await;
    let exporter = exporter(
        &format!("{}/b", es.uri()),
        "    expected_remotes: [{ name: leader, skip_unavailable: true }]\n",
    );
    exporter.wait_ready().await;
    let (status, body) = health(&exporter).await;
    assert_eq!(status, 503);
    assert_eq!(body["state"], "degraded");
    assert_eq!(body["clusters"][0]["state"], "degraded");
    assert_eq!(body["clusters"][0]["why"], "1 degraded of 1 remote");
    assert_eq!(
        body["clusters"][0]["remotes"][0]["why"],
        "skip_unavailable is false, expected true"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn health_is_503_with_the_whole_document_when_a_remote_is_below_min_nodes() {
    let es = MockServer::start().await;
    answer(&es, "b", json_answer(fixture("shapes/es-8.15.json"))).await;
    let exporter = exporter(
        &format!("{}/b", es.uri()),
        "    expected_remotes: [{ name: es-a, min_nodes: 2 }, { name: es-b, min_sockets: 9 }]\n",
    );
    exporter.wait_ready().await;
    assert_eq!(
        health(&exporter).await,
        (
            503,
            json!({
                "state": "degraded",
                "clusters": [{
                    "name": "prod-b",
                    "state": "degraded",
                    "why": "1 degraded of 2 remotes",
                    "since": "<time>",
                    "polled_at": "<time>",
                    "error": null,
                    "remotes": [
                        {
                            "name": "es-a",
                            "state": "degraded",
                            "why": "1 gateway node connected, fewer than min_nodes 2",
                            "since": "<time>",
                            "expected": true,
                            "mode": "sniff",
                            "connections": "1/3"
                        },
                        {
                            "name": "es-b",
                            "state": "ok",
                            "why": "connected (9/18 proxy sockets)",
                            "since": "<time>",
                            "expected": true,
                            "mode": "proxy",
                            "connections": "9/18"
                        }
                    ]
                }]
            })
        )
    );
    let text = exporter.metrics().await;
    assert_eq!(
        value(
            &text,
            r#"es_remote_health{cluster="prod-b",remote_cluster="es-a",state="degraded"}"#
        ),
        Some(1.0)
    );
    assert_eq!(
        value(
            &text,
            r#"es_remote_nodes_connected{cluster="prod-b",remote_cluster="es-a"}"#
        ),
        Some(1.0)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn health_is_503_when_an_expected_remote_is_missing() {
    let es = MockServer::start().await;
    answer(&es, "b", json_answer(b"{}")).await;
    let exporter = exporter(
        &format!("{}/b", es.uri()),
        "    expected_remotes: [{ name: leader }]\n",
    );
    exporter.wait_ready().await;
    let (status, body) = health(&exporter).await;
    assert_eq!(status, 503);
    assert_eq!(
        body["clusters"][0]["remotes"],
        json!([{
            "name": "leader",
            "state": "down",
            "why": "expected, but not in the _remote/info answer",
            "since": "<time>",
            "expected": true,
            "mode": null,
            "connections": null
        }])
    );
    let text = exporter.metrics().await;
    assert_eq!(
        value(
            &text,
            r#"es_remote_configured{cluster="prod-b",remote_cluster="leader"}"#
        ),
        Some(0.0)
    );
    assert_eq!(
        value(
            &text,
            r#"es_remote_health{cluster="prod-b",remote_cluster="leader",state="down"}"#
        ),
        Some(1.0)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn health_is_503_with_the_reason_when_the_cluster_is_unreachable() {
    let refused = format!("http://127.0.0.1:{}/", closed_port());
    let exporter = exporter(&refused, "    expected_remotes: [{ name: leader }]\n");
    exporter.wait_ready().await;
    let (status, body) = health(&exporter).await;
    assert_eq!(status, 503);
    assert_eq!(body["state"], "unknown");
    let cluster = &body["clusters"][0];
    assert_eq!(cluster["state"], "unknown");
    assert_eq!(cluster["error"]["reason"], "connect");
    assert!(
        cluster["why"]
            .as_str()
            .unwrap()
            .starts_with("poll failed: connect: "),
        "{cluster}"
    );
    assert_eq!(
        cluster["remotes"],
        json!([{
            "name": "leader",
            "state": "unknown",
            "why": "the cluster could not be polled (connect)",
            "since": "<time>",
            "expected": true,
            "mode": null,
            "connections": null
        }])
    );
    let text = exporter.metrics().await;
    let mut lines: Vec<&str> = text
        .lines()
        .filter(|l| l.contains("remote_cluster="))
        .collect();
    lines.sort_unstable();
    assert_eq!(
        lines,
        [
            r#"es_remote_health{cluster="prod-b",remote_cluster="leader",state="degraded"} 0"#,
            r#"es_remote_health{cluster="prod-b",remote_cluster="leader",state="down"} 0"#,
            r#"es_remote_health{cluster="prod-b",remote_cluster="leader",state="ok"} 0"#,
            r#"es_remote_health{cluster="prod-b",remote_cluster="leader",state="unknown"} 1"#,
        ]
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_disconnect_between_polls_is_counted_and_turns_health_down() {
    let es = MockServer::start().await;
    answer(&es, "b", json_answer(CONNECTED)).await;
    let exporter = exporter(
        &format!("{}/b", es.uri()),
        "    expected_remotes: [{ name: leader }]\n",
    );
    let text = exporter
        .wait_until("leader ok", |t| {
            t.contains(r#"es_remote_health{cluster="prod-b",remote_cluster="leader",state="ok"} 1"#)
        })
        .await;
    assert_eq!(
        value(
            &text,
            r#"es_remote_disconnects_total{cluster="prod-b",remote_cluster="leader"}"#
        ),
        Some(0.0)
    );
    let connected_at = value(
        &text,
        r#"es_remote_last_connected_timestamp_seconds{cluster="prod-b",remote_cluster="leader"}"#,
    )
    .unwrap();
    assert!(connected_at > 1_700_000_000.0, "{connected_at}");

    es.reset().await;
    answer(&es, "b", json_answer(DISCONNECTED)).await;
    let text = exporter
        .wait_until("leader down", |t| {
            t.contains(
                r#"es_remote_health{cluster="prod-b",remote_cluster="leader",state="down"} 1"#,
            )
        })
        .await;
    let mut lines: Vec<&str> = text
        .lines()
        .filter(|l| {
            l.starts_with("es_remote_configured")
                || l.starts_with("es_remote_health")
                || l.starts_with("es_remote_disconnects_total")
        })
        .collect();
    lines.sort_unstable();
    assert_eq!(
        lines,
        [
            r#"es_remote_configured{cluster="prod-b",remote_cluster="leader"} 1"#,
            r#"es_remote_disconnects_total{cluster="prod-b",remote_cluster="leader"} 1"#,
            r#"es_remote_health{cluster="prod-b",remote_cluster="leader",state="degraded"} 0"#,
            r#"es_remote_health{cluster="prod-b",remote_cluster="leader",state="down"} 1"#,
            r#"es_remote_health{cluster="prod-b",remote_cluster="leader",state="ok"} 0"#,
            r#"es_remote_health{cluster="prod-b",remote_cluster="leader",state="unknown"} 0"#,
        ]
    );
    // The last time it was seen connected stays where it was, or moved forward only if a
    // poll ran between the first scrape and the switch.
    let last = value(
        &text,
        r#"es_remote_last_connected_timestamp_seconds{cluster="prod-b",remote_cluster="leader"}"#,
    )
    .unwrap();
    assert!(last >= connected_at, "{last} < {connected_at}");
    let (status, body) = health(&exporter).await;
    assert_eq!(status, 503);
    assert_eq!(
        body["clusters"][0]["remotes"][0]["why"],
        "not connected (0/3 gateway nodes)"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_cluster_without_expected_remotes_exports_health_series_for_every_remote() {
    let es = MockServer::start().await;
    answer(&es, "b", json_answer(fixture("shapes/es-7.17.json"))).await;
    let exporter = exporter(&format!("{}/b", es.uri()), "");
    exporter.wait_ready().await;
    let (status, body) = health(&exporter).await;
    assert_eq!(status, 503);
    assert_eq!(body["clusters"][0]["why"], "1 down of 2 remotes");
    let text = exporter.metrics().await;
    assert_eq!(
        health_lines(&text, "prod-b"),
        [
            r#"es_remote_configured{cluster="prod-b",remote_cluster="es-a"} 1"#,
            r#"es_remote_configured{cluster="prod-b",remote_cluster="es-b"} 1"#,
            r#"es_remote_disconnects_total{cluster="prod-b",remote_cluster="es-a"} 0"#,
            r#"es_remote_disconnects_total{cluster="prod-b",remote_cluster="es-b"} 0"#,
            r#"es_remote_health{cluster="prod-b",remote_cluster="es-a",state="degraded"} 0"#,
            r#"es_remote_health{cluster="prod-b",remote_cluster="es-a",state="down"} 0"#,
            r#"es_remote_health{cluster="prod-b",remote_cluster="es-a",state="ok"} 1"#,
            r#"es_remote_health{cluster="prod-b",remote_cluster="es-a",state="unknown"} 0"#,
            r#"es_remote_health{cluster="prod-b",remote_cluster="es-b",state="degraded"} 0"#,
            r#"es_remote_health{cluster="prod-b",remote_cluster="es-b",state="down"} 1"#,
            r#"es_remote_health{cluster="prod-b",remote_cluster="es-b",state="ok"} 0"#,
            r#"es_remote_health{cluster="prod-b",remote_cluster="es-b",state="unknown"} 0"#,
            r#"es_remote_last_connected_timestamp_seconds{cluster="prod-b",remote_cluster="es-a"} <time>"#,
            r#"es_remote_last_connected_timestamp_seconds{cluster="prod-b",remote_cluster="es-b"} 0"#,
        ]
    );
}
