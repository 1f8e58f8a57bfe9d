//! `nodes: all`: discovery through `_nodes/http`, each node's own `_remote/info`, a remote
//! connected on some nodes only, and a node that stops answering.

mod support;

use std::process::Command;

use serde_json::json;
use support::{Exporter, closed_port, without_times};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

const CONNECTED: &str = r#"{"leader":{"connected":true,"mode":"sniff","seeds":["10.0.0.21:9300"],"num_nodes_connected":3,"max_connections_per_cluster":3,"initial_connect_timeout":"30s","skip_unavailable":false}}"#;
const DISCONNECTED: &str = r#"{"leader":{"connected":false,"mode":"sniff","seeds":["10.0.0.21:9300"],"num_nodes_connected":0,"max_connections_per_cluster":3,"initial_connect_timeout":"30s","skip_unavailable":false}}"#;

async fn serve(server: &MockServer, at: &str, body: String) {
    Mock::given(method("GET"))
        .and(path(at))
        .respond_with(ResponseTemplate::new(200).set_body_raw(body, "application/json"))
        .mount(server)
        .await;
}

/// A node answering `_remote/info` with `body` at its own address; returns `host:port`.
async fn node(body: &str) -> (MockServer, String) {
    let server = MockServer::start().await;
    serve(&server, "/_remote/info", body.to_owned()).await;
    let address = server.address().to_string();
    (server, address)
}

/// The cluster behind `/b`: its own answer, and `_nodes/http` listing `nodes` as
/// (name, roles, publish_address).
async fn cluster(nodes: &[(&str, &[&str], String)]) -> MockServer {
    let es = MockServer::start().await;
    serve(&es, "/b/_remote/info", CONNECTED.to_owned()).await;
    let listed: serde_json::Map<String, serde_json::Value> = nodes
        .iter()
        .enumerate()
        .map(|(n, (name, roles, address))| {
            (
                format!("node-id-{n}"),
                json!({
                    "name": name,
                    "transport_address": "10.0.0.1:9300",
                    "roles": roles,
                    "http": {"bound_address": [address], "publish_address": address}
                }),
            )
        })
        .collect();
    let body = json!({"_nodes": {"total": nodes.len(), "successful": nodes.len(), "failed": 0},
                      "cluster_name": "es-b", "nodes": listed});
    serve(&es, "/b/_nodes/http", body.to_string()).await;
    es
}

fn config(es: &MockServer) -> String {
    format!(
        "poll_interval: 1s\ntimeout: 500ms\nclusters:\n  - name: prod-b\n    url: \"{}/b\"\n    \
         nodes: all\n    expected_remotes: [{{ name: leader }}]\n",
        es.uri()
    )
}

async fn check(yaml: String) -> (Option<i32>, String) {
    tokio::task::spawn_blocking(move || {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("config.yml");
        std::fs::write(&file, yaml).unwrap();
        let output = Command::new(env!("CARGO_BIN_EXE_es-remote-exporter"))
            .args(["check", "--config.file", file.to_str().unwrap()])
            .output()
            .unwrap();
        (
            output.status.code(),
            String::from_utf8(output.stdout).unwrap(),
        )
    })
    .await
    .unwrap()
}

const CCS: &[&str] = &["data", "ingest", "remote_cluster_client"];

#[tokio::test(flavor = "multi_thread")]
async fn a_remote_disconnected_on_one_node_of_three_is_degraded_and_names_the_node() {
    let (_n1, a1) = node(CONNECTED).await;
    let (_n2, a2) = node(CONNECTED).await;
    let (_n3, a3) = node(DISCONNECTED).await;
    // A master-only node is not asked: its address leads nowhere.
    let nowhere = format!("127.0.0.1:{}", closed_port());
    let es = cluster(&[
        ("es-b-1", CCS, a1),
        ("es-b-2", CCS, a2),
        ("es-b-3", CCS, a3),
        ("es-b-master", &["master"], nowhere),
    ])
    .await;

    let (code, stdout) = check(config(&es)).await;
    assert_eq!(code, Some(1), "{stdout}");
    assert_eq!(
        stdout,
        "CLUSTER  REMOTE  STATE     MODE   CONNECTIONS  WHY\n\
         prod-b   leader  degraded  sniff  3/3          not connected on node es-b-3 (connected on 2 of 3)\n\
         overall: degraded\n"
    );

    let exporter = Exporter::with_config(&config(&es));
    exporter.wait_ready().await;
    let text = exporter.metrics().await;
    let mut lines: Vec<&str> = text
        .lines()
        .filter(|l| l.starts_with("es_remote_node_connected"))
        .collect();
    lines.sort_unstable();
    assert_eq!(
        lines,
        [
            r#"es_remote_node_connected{cluster="prod-b",remote_cluster="leader",node="es-b-1"} 1"#,
            r#"es_remote_node_connected{cluster="prod-b",remote_cluster="leader",node="es-b-2"} 1"#,
            r#"es_remote_node_connected{cluster="prod-b",remote_cluster="leader",node="es-b-3"} 0"#,
        ]
    );
    assert!(text.contains(
        "es_remote_health{cluster=\"prod-b\",remote_cluster=\"leader\",state=\"degraded\"} 1\n"
    ));
    let (status, body) = exporter.get("/health").await;
    assert_eq!(status, 503);
    let body = without_times(serde_json::from_str(&body).unwrap());
    assert_eq!(
        body["clusters"][0]["remotes"][0]["nodes"],
        json!({"es-b-1": true, "es-b-2": true, "es-b-3": false})
    );
    assert_eq!(body["clusters"][0]["nodes"].as_array().unwrap().len(), 3);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_node_that_stops_answering_is_reported_but_not_fatal() {
    let (_n1, a1) = node(CONNECTED).await;
    let (_n2, a2) = node(CONNECTED).await;
    let gone = format!("127.0.0.1:{}", closed_port());
    let es = cluster(&[
        ("es-b-1", CCS, a1.clone()),
        ("es-b-2", CCS, a2.clone()),
        ("es-b-3", CCS, gone.clone()),
    ])
    .await;

    let (code, stdout) = check(config(&es)).await;
    assert_eq!(code, Some(0), "{stdout}");
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(
        lines[1],
        "prod-b   leader  ok     sniff  3/3          connected (3/3 gateway nodes)"
    );
    assert!(
        lines[2].starts_with(
            "prod-b   -       note   -      -            node es-b-3 could not be polled: connect: "
        ),
        "{stdout}"
    );
    assert_eq!(lines[3], "overall: ok");

    let exporter = Exporter::with_config(&config(&es));
    exporter.wait_ready().await;
    let (status, body) = exporter.get("/health").await;
    assert_eq!(status, 200, "{body}");
    let body: serde_json::Value = serde_json::from_str(&body).unwrap();
    let nodes = &body["clusters"][0]["nodes"];
    assert_eq!(
        nodes[0],
        json!({"name": "es-b-1", "node": "es-b-1", "address": a1, "error": null})
    );
    assert_eq!(nodes[2]["name"], "es-b-3");
    assert_eq!(nodes[2]["address"], gone.as_str());
    assert_eq!(nodes[2]["error"]["reason"], "connect");
    let warnings = exporter.events("node polls failing");
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert_eq!(warnings[0]["count"], 1);
    assert_eq!(warnings[0]["nodes"], "es-b-3 (connect)");
    let text = exporter.metrics().await;
    assert!(!text.contains(r#"node="es-b-3""#), "{text}");
}
