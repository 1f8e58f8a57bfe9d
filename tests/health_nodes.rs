//! `nodes: all`: discovery through `_nodes/http`, each node's own `_remote/info`, a remote
//! connected on some nodes only, nodes that fail, join, leave or share a name, a configured URL
//! that answers `{}` or 400, and the limits on the node fan-out.

mod support;

use std::future::IntoFuture;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use serde_json::{Value, json};
use support::{Exporter, closed_port, without_times};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

const CONNECTED: &str = r#"{"leader":{"connected":true,"mode":"sniff","seeds":["10.0.0.21:9300"],"num_nodes_connected":3,"max_connections_per_cluster":3,"initial_connect_timeout":"30s","skip_unavailable":false}}"#;
const DISCONNECTED: &str = r#"{"leader":{"connected":false,"mode":"sniff","seeds":["10.0.0.21:9300"],"num_nodes_connected":0,"max_connections_per_cluster":3,"initial_connect_timeout":"30s","skip_unavailable":false}}"#;
const BOTH: &str = r#"{"follower":{"connected":true,"mode":"sniff","seeds":["10.0.0.31:9300"],"num_nodes_connected":3,"max_connections_per_cluster":3,"initial_connect_timeout":"30s","skip_unavailable":false},"leader":{"connected":true,"mode":"sniff","seeds":["10.0.0.21:9300"],"num_nodes_connected":3,"max_connections_per_cluster":3,"initial_connect_timeout":"30s","skip_unavailable":false}}"#;

const CCS: &[&str] = &["data", "ingest", "remote_cluster_client"];

async fn serve(server: &MockServer, at: &str, response: ResponseTemplate) {
    Mock::given(method("GET"))
        .and(path(at))
        .respond_with(response)
        .mount(server)
        .await;
}

fn json_body(body: impl Into<String>) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_raw(body.into(), "application/json")
}

/// A node answering `_remote/info` with `body` at its own address; returns `host:port`.
async fn node(body: &str) -> (MockServer, String) {
    let server = MockServer::start().await;
    serve(&server, "/_remote/info", json_body(body)).await;
    let address = server.address().to_string();
    (server, address)
}

/// A `_nodes/http` answer listing `nodes` as (name, roles, publish_address).
fn nodes_http(nodes: &[(&str, &[&str], String)]) -> String {
    let listed: serde_json::Map<String, Value> = nodes
        .iter()
        .enumerate()
        .map(|(n, (name, roles, address))| {
            (
                format!("node-id-{n:04}"),
                json!({
                    "name": name,
                    "transport_address": "10.0.0.1:9300",
                    "roles": roles,
                    "http": {"bound_address": [address], "publish_address": address}
                }),
            )
        })
        .collect();
    json!({"_nodes": {"total": nodes.len(), "successful": nodes.len(), "failed": 0},
           "cluster_name": "es-b", "nodes": listed})
    .to_string()
}

/// The cluster behind `/b`: `answer` at its own `_remote/info`, and `_nodes/http` listing
/// `nodes`.
async fn cluster_answering(
    answer: ResponseTemplate,
    nodes: &[(&str, &[&str], String)],
) -> MockServer {
    let es = MockServer::start().await;
    serve(&es, "/b/_remote/info", answer).await;
    serve(&es, "/b/_nodes/http", json_body(nodes_http(nodes))).await;
    es
}

async fn cluster(nodes: &[(&str, &[&str], String)]) -> MockServer {
    cluster_answering(json_body(CONNECTED), nodes).await
}

fn config_with(es: &MockServer, timeout: &str, expected: &str) -> String {
    format!(
        "poll_interval: 10s\ntimeout: {timeout}\nclusters:\n  - name: prod-b\n    url: \"{}/b\"\n    \
         nodes: all\n    expected_remotes: [{expected}]\n",
        es.uri()
    )
}

fn config(es: &MockServer) -> String {
    config_with(es, "500ms", "{ name: leader }")
}

/// An exporter polling every 300 ms, for tests that follow changes between rounds.
fn fast_exporter(es: &MockServer) -> Exporter {
    Exporter::with_config(&format!(
        "poll_interval: 300ms\ntimeout: 200ms\nclusters:\n  - name: prod-b\n    url: \"{}/b\"\n    \
         nodes: all\n    expected_remotes: [{{ name: leader }}]\n",
        es.uri()
    ))
}

/// What `check` printed and how it exited.
struct Outcome {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

/// Runs `check` on a configuration file holding `yaml`, with `args`, through `sh` so that
/// `ulimit` (a shell command before `exec`) can limit it.
async fn check_limited(yaml: String, args: &[&str], ulimit: &str) -> Outcome {
    let args: Vec<String> = args.iter().map(|a| (*a).to_owned()).collect();
    let ulimit = ulimit.to_owned();
    tokio::task::spawn_blocking(move || {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("config.yml");
        std::fs::write(&file, yaml).unwrap();
        let output = Command::new("sh")
            .arg("-c")
            .arg(format!("{ulimit}exec \"$0\" \"$@\""))
            .arg(env!("CARGO_BIN_EXE_es-remote-exporter"))
            .args(["check", "--config.file", file.to_str().unwrap()])
            .args(&args)
            .stdin(Stdio::null())
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

async fn check(yaml: String, args: &[&str]) -> Outcome {
    check_limited(yaml, args, "").await
}

/// `check --output json`, parsed, with its times replaced.
async fn check_json(yaml: String) -> (Option<i32>, Value) {
    let out = check(yaml, &["--output", "json"]).await;
    let document = serde_json::from_str(&out.stdout)
        .unwrap_or_else(|err| panic!("{err}: {}{}", out.stdout, out.stderr));
    (out.code, without_times(document))
}

/// Sample lines of one family, sorted.
fn family<'a>(text: &'a str, name: &str) -> Vec<&'a str> {
    let mut lines: Vec<&str> = text
        .lines()
        .filter(|l| l.starts_with(&format!("{name}{{")))
        .collect();
    lines.sort_unstable();
    lines
}

/// Log events (parsed JSON) on `stderr` whose message is `message`.
fn events(stderr: &str, message: &str) -> Vec<Value> {
    stderr
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|e| e["message"] == message)
        .collect()
}

/// A fake node that several discovered nodes may share, over plain HTTP/1.1 with
/// `connection: close`. It holds every request until `hold` are waiting at once, then holds
/// none; a request is counted in flight from its arrival until just before its answer is
/// written, so the count never runs ahead of what the exporter really has in flight.
struct FakeNode {
    address: String,
    most_in_flight: Arc<AtomicUsize>,
    served: Arc<AtomicUsize>,
    accepting: tokio::task::JoinHandle<()>,
}

impl FakeNode {
    async fn start(body: &'static str, hold: usize) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap().to_string();
        let in_flight = Arc::new(AtomicUsize::new(0));
        let most_in_flight = Arc::new(AtomicUsize::new(0));
        let served = Arc::new(AtomicUsize::new(0));
        let (release, released) = tokio::sync::watch::channel(hold == 0);
        let release = Arc::new(release);
        let (most, done) = (most_in_flight.clone(), served.clone());
        let accepting = tokio::spawn(async move {
            while let Ok((mut socket, _)) = listener.accept().await {
                let (in_flight, most, done) = (in_flight.clone(), most.clone(), done.clone());
                let (release, mut released) = (release.clone(), released.clone());
                tokio::spawn(async move {
                    let mut request = Vec::new();
                    let mut buffer = [0u8; 1024];
                    while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                        match socket.read(&mut buffer).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => request.extend_from_slice(&buffer[..n]),
                        }
                    }
                    let now = in_flight.fetch_add(1, Ordering::SeqCst) + 1;
                    most.fetch_max(now, Ordering::SeqCst);
                    if now >= hold {
                        release.send_replace(true);
                    }
                    let _ = released.wait_for(|released| *released).await;
                    in_flight.fetch_sub(1, Ordering::SeqCst);
                    let answer = format!(
                        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n\
                         content-length: {}\r\nconnection: close\r\n\r\n{body}",
                        body.len()
                    );
                    if socket.write_all(answer.as_bytes()).await.is_ok() {
                        done.fetch_add(1, Ordering::SeqCst);
                    }
                });
            }
        });
        Self {
            address,
            most_in_flight,
            served,
            accepting,
        }
    }

    /// Stops accepting and closes the listening socket: connections are refused from now on.
    async fn stop(self) {
        self.accepting.abort();
        let _ = self.accepting.await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_remote_disconnected_on_one_node_of_three_is_degraded_and_names_the_node() {
    let (_n1, a1) = node(CONNECTED).await;
    let (_n2, a2) = node(CONNECTED).await;
    let (_n3, a3) = node(DISCONNECTED).await;
    // A master-only node is not asked: its address leads nowhere.
    let nowhere = format!("127.0.0.1:{}", closed_port());
    let es = cluster(&[
        ("es-b-1", CCS, a1.clone()),
        ("es-b-2", CCS, a2.clone()),
        ("es-b-3", CCS, a3.clone()),
        ("es-b-master", &["master"], nowhere),
    ])
    .await;

    let out = check(config(&es), &[]).await;
    assert_eq!(out.code, Some(1), "{}{}", out.stdout, out.stderr);
    assert_eq!(
        out.stdout,
        "CLUSTER  REMOTE  STATE     MODE   CONNECTIONS  WHY\n\
         prod-b   leader  degraded  sniff  0/3          not connected on node es-b-3 (connected on 2 of 3)\n\
         overall: degraded\n"
    );

    let exporter = Exporter::with_config(&config(&es));
    exporter.wait_ready().await;
    let text = exporter.metrics().await;
    assert_eq!(
        family(&text, "es_remote_node_connected"),
        [
            r#"es_remote_node_connected{cluster="prod-b",remote_cluster="leader",node="es-b-1"} 1"#,
            r#"es_remote_node_connected{cluster="prod-b",remote_cluster="leader",node="es-b-2"} 1"#,
            r#"es_remote_node_connected{cluster="prod-b",remote_cluster="leader",node="es-b-3"} 0"#,
        ]
    );
    assert_eq!(
        family(&text, "es_remote_node_up"),
        [
            r#"es_remote_node_up{cluster="prod-b",node="es-b-1"} 1"#,
            r#"es_remote_node_up{cluster="prod-b",node="es-b-2"} 1"#,
            r#"es_remote_node_up{cluster="prod-b",node="es-b-3"} 1"#,
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
    assert_eq!(
        body["clusters"][0]["nodes"],
        json!([
            {"name": "es-b-1", "node": "es-b-1", "address": a1, "error": null},
            {"name": "es-b-2", "node": "es-b-2", "address": a2, "error": null},
            {"name": "es-b-3", "node": "es-b-3", "address": a3, "error": null},
        ])
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_node_that_cannot_be_reached_makes_the_cluster_degraded_and_its_node_up_0() {
    let (_n1, a1) = node(CONNECTED).await;
    let (_n2, a2) = node(CONNECTED).await;
    let gone = format!("127.0.0.1:{}", closed_port());
    let es = cluster(&[
        ("es-b-1", CCS, a1.clone()),
        ("es-b-2", CCS, a2.clone()),
        ("es-b-3", CCS, gone.clone()),
    ])
    .await;

    let out = check(config(&es), &["--log.format", "json"]).await;
    assert_eq!(out.code, Some(1), "{}{}", out.stdout, out.stderr);
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(lines.len(), 5, "{}", out.stdout);
    assert_eq!(
        lines[1],
        "prod-b   -       degraded  -      -            1 remote ok; node es-b-3 could not be polled"
    );
    assert_eq!(
        lines[2],
        "prod-b   leader  ok        sniff  3/3          connected on 2 of 2 nodes (3/3 gateway nodes each)"
    );
    assert!(
        lines[3].starts_with(
            "prod-b   -       note      -      -            node es-b-3 could not be polled: connect: "
        ),
        "{}",
        out.stdout
    );
    assert_eq!(lines[4], "overall: degraded");
    let warnings = events(&out.stderr, "node polls failing");
    assert_eq!(warnings.len(), 1, "{}", out.stderr);
    assert_eq!(warnings[0]["count"], 1);
    assert_eq!(warnings[0]["nodes"], "es-b-3 (connect)");

    let exporter = Exporter::with_config(&config(&es));
    exporter.wait_ready().await;
    let (status, body) = exporter.get("/health").await;
    assert_eq!(status, 503, "{body}");
    let body: Value = serde_json::from_str(&body).unwrap();
    let nodes = &body["clusters"][0]["nodes"];
    assert_eq!(
        nodes[0],
        json!({"name": "es-b-1", "node": "es-b-1", "address": a1, "error": null})
    );
    assert_eq!(nodes[2]["node"], "es-b-3");
    assert_eq!(nodes[2]["address"], gone.as_str());
    assert_eq!(nodes[2]["error"]["reason"], "connect");
    let text = exporter.metrics().await;
    assert_eq!(
        family(&text, "es_remote_node_up"),
        [
            r#"es_remote_node_up{cluster="prod-b",node="es-b-1"} 1"#,
            r#"es_remote_node_up{cluster="prod-b",node="es-b-2"} 1"#,
            r#"es_remote_node_up{cluster="prod-b",node="es-b-3"} 0"#,
        ]
    );
    assert!(
        !text.contains(
            r#"es_remote_node_connected{cluster="prod-b",remote_cluster="leader",node="es-b-3"}"#
        ),
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_node_that_answers_and_then_stops_answering_turns_the_cluster_degraded() {
    let (_n1, a1) = node(CONNECTED).await;
    let (_n2, a2) = node(CONNECTED).await;
    let n3 = FakeNode::start(CONNECTED, 0).await;
    let a3 = n3.address.clone();
    let es = cluster(&[
        ("es-b-1", CCS, a1.clone()),
        ("es-b-2", CCS, a2.clone()),
        ("es-b-3", CCS, a3.clone()),
    ])
    .await;
    let exporter = fast_exporter(&es);
    let up = r#"es_remote_node_up{cluster="prod-b",node="es-b-3"}"#;
    exporter
        .wait_until("es-b-3 answering", |t| t.contains(&format!("{up} 1\n")))
        .await;
    let (status, _) = exporter.get("/health").await;
    assert_eq!(status, 200);

    n3.stop().await;
    let text = exporter
        .wait_until("es-b-3 failing", |t| t.contains(&format!("{up} 0\n")))
        .await;
    assert_eq!(
        family(&text, "es_remote_node_connected"),
        [
            r#"es_remote_node_connected{cluster="prod-b",remote_cluster="leader",node="es-b-1"} 1"#,
            r#"es_remote_node_connected{cluster="prod-b",remote_cluster="leader",node="es-b-2"} 1"#,
        ]
    );
    let (status, body) = exporter.get("/health").await;
    assert_eq!(status, 503, "{body}");
    let mut body = without_times(serde_json::from_str(&body).unwrap());
    let detail = body["clusters"][0]["nodes"][2]["error"]["detail"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(detail.contains("Connection refused"), "{detail}");
    body["clusters"][0]["nodes"][2]["error"]["detail"] = json!("<detail>");
    assert_eq!(
        body,
        json!({
            "state": "degraded",
            "clusters": [{
                "name": "prod-b",
                "state": "degraded",
                "why": "1 remote ok; node es-b-3 could not be polled",
                "since": "<time>",
                "polled_at": "<time>",
                "error": null,
                "nodes": [
                    {"name": "es-b-1", "node": "es-b-1", "address": a1, "error": null},
                    {"name": "es-b-2", "node": "es-b-2", "address": a2, "error": null},
                    {"name": "es-b-3", "node": "es-b-3", "address": a3,
                     "error": {"reason": "connect", "detail": "<detail>"}}
                ],
                "notes": [format!("node es-b-3 could not be polled: connect: {detail}")],
                "remotes": [{
                    "name": "leader",
                    "state": "ok",
                    "why": "connected on 2 of 2 nodes (3/3 gateway nodes each)",
                    "since": "<time>",
                    "expected": true,
                    "mode": "sniff",
                    "connections": "3/3",
                    "nodes": {"es-b-1": true, "es-b-2": true}
                }]
            }]
        })
    );
    let warnings = exporter.events("node polls failing");
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert_eq!(warnings[0]["nodes"], "es-b-3 (connect)");
}

#[tokio::test(flavor = "multi_thread")]
async fn nodes_joining_and_leaving_between_rounds_are_followed() {
    let (_n1, a1) = node(CONNECTED).await;
    let (_n2, a2) = node(CONNECTED).await;
    let (_n3, a3) = node(DISCONNECTED).await;
    let es = cluster(&[("es-b-1", CCS, a1.clone()), ("es-b-2", CCS, a2)]).await;
    let exporter = fast_exporter(&es);
    let text = exporter
        .wait_until("two nodes", |t| t.contains(r#"node="es-b-2"} 1"#))
        .await;
    assert_eq!(
        family(&text, "es_remote_node_connected"),
        [
            r#"es_remote_node_connected{cluster="prod-b",remote_cluster="leader",node="es-b-1"} 1"#,
            r#"es_remote_node_connected{cluster="prod-b",remote_cluster="leader",node="es-b-2"} 1"#,
        ]
    );

    // es-b-2 leaves, es-b-3 joins without a connection to the remote.
    es.reset().await;
    serve(&es, "/b/_remote/info", json_body(CONNECTED)).await;
    let listed = nodes_http(&[("es-b-1", CCS, a1), ("es-b-3", CCS, a3)]);
    serve(&es, "/b/_nodes/http", json_body(listed)).await;
    let text = exporter
        .wait_until("es-b-3 joined and es-b-2 left", |t| {
            t.contains(r#"node="es-b-3"} 0"#) && !t.contains(r#"node="es-b-2""#)
        })
        .await;
    assert_eq!(
        family(&text, "es_remote_node_connected"),
        [
            r#"es_remote_node_connected{cluster="prod-b",remote_cluster="leader",node="es-b-1"} 1"#,
            r#"es_remote_node_connected{cluster="prod-b",remote_cluster="leader",node="es-b-3"} 0"#,
        ]
    );
    assert_eq!(
        family(&text, "es_remote_node_up"),
        [
            r#"es_remote_node_up{cluster="prod-b",node="es-b-1"} 1"#,
            r#"es_remote_node_up{cluster="prod-b",node="es-b-3"} 1"#,
        ]
    );
    let (status, body) = exporter.get("/health").await;
    assert_eq!(status, 503);
    let body: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        body["clusters"][0]["remotes"][0]["why"],
        "not connected on node es-b-3 (connected on 1 of 2)"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn an_empty_url_answer_with_every_node_connected_is_ok() {
    // OpenSearch, or Elasticsearch before 7.11: the URL's node lacks the role and answers {}.
    let (_n1, a1) = node(BOTH).await;
    let (_n2, a2) = node(BOTH).await;
    let (_n3, a3) = node(BOTH).await;
    let nodes = [
        ("es-b-1", CCS, a1),
        ("es-b-2", CCS, a2),
        ("es-b-3", CCS, a3),
    ];
    let es = cluster_answering(json_body("{}"), &nodes).await;
    let yaml = config_with(
        &es,
        "500ms",
        "{ name: leader, min_nodes: 2, skip_unavailable: false }, { name: follower }",
    );
    let out = check(yaml, &[]).await;
    assert_eq!(out.code, Some(0), "{}{}", out.stdout, out.stderr);
    assert_eq!(
        out.stdout,
        "CLUSTER  REMOTE    STATE  MODE   CONNECTIONS  WHY\n\
         prod-b   follower  ok     sniff  3/3          connected on 3 of 3 nodes (3/3 gateway nodes each)\n\
         prod-b   leader    ok     sniff  3/3          connected on 3 of 3 nodes (3/3 gateway nodes each)\n\
         overall: ok\n"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_url_answering_400_is_judged_from_the_nodes_it_discovers() {
    let (_n1, a1) = node(CONNECTED).await;
    let (_n2, a2) = node(CONNECTED).await;
    let (_n3, a3) = node(DISCONNECTED).await;
    let role_missing = ResponseTemplate::new(400).set_body_raw(
        r#"{"error":{"type":"illegal_argument_exception","reason":"node [lb-1] does not have the [remote_cluster_client] role"},"status":400}"#,
        "application/json",
    );
    let nodes = [
        ("es-b-1", CCS, a1.clone()),
        ("es-b-2", CCS, a2.clone()),
        ("es-b-3", CCS, a3.clone()),
    ];
    let es = cluster_answering(role_missing, &nodes).await;

    let (code, document) = check_json(config(&es)).await;
    assert_eq!(code, Some(1), "{document}");
    assert_eq!(
        document,
        json!({
            "state": "degraded",
            "clusters": [{
                "name": "prod-b",
                "state": "degraded",
                "why": "1 degraded of 1 remote",
                "since": "<time>",
                "polled_at": "<time>",
                "error": {
                    "reason": "bad_request",
                    "detail": "HTTP 400 Bad Request (illegal_argument_exception)"
                },
                "nodes": [
                    {"name": "es-b-1", "node": "es-b-1", "address": a1, "error": null},
                    {"name": "es-b-2", "node": "es-b-2", "address": a2, "error": null},
                    {"name": "es-b-3", "node": "es-b-3", "address": a3, "error": null}
                ],
                "notes": [
                    "the configured URL failed (bad_request: HTTP 400 Bad Request \
                     (illegal_argument_exception)), so the verdicts come from the nodes' own answers"
                ],
                "remotes": [{
                    "name": "leader",
                    "state": "degraded",
                    "why": "not connected on node es-b-3 (connected on 2 of 3)",
                    "since": "<time>",
                    "expected": true,
                    "mode": "sniff",
                    "connections": "0/3",
                    "nodes": {"es-b-1": true, "es-b-2": true, "es-b-3": false}
                }]
            }]
        })
    );

    let exporter = Exporter::with_config(&config(&es));
    exporter.wait_ready().await;
    let text = exporter.metrics().await;
    assert_eq!(
        family(&text, "es_remote_up"),
        [r#"es_remote_up{cluster="prod-b"} 0"#]
    );
    assert!(
        !text.contains("\nes_remote_connected{"),
        "the core gauges follow the configured URL: {text}"
    );
    assert_eq!(
        family(&text, "es_remote_health")
            .into_iter()
            .filter(|l| l.ends_with(" 1"))
            .collect::<Vec<_>>(),
        [r#"es_remote_health{cluster="prod-b",remote_cluster="leader",state="degraded"} 1"#]
    );
    assert_eq!(
        family(&text, "es_remote_configured"),
        [r#"es_remote_configured{cluster="prod-b",remote_cluster="leader"} 1"#]
    );
    assert_eq!(family(&text, "es_remote_node_connected").len(), 3);
}

#[tokio::test(flavor = "multi_thread")]
async fn nodes_sharing_a_name_get_labels_that_tell_them_apart() {
    let (_n1, a1) = node(CONNECTED).await;
    let (_n2, a2) = node(DISCONNECTED).await;
    let es = cluster(&[("dup", CCS, a1.clone()), ("dup", CCS, a2.clone())]).await;
    let (connected, disconnected) = (format!("dup ({a1})"), format!("dup ({a2})"));

    let (code, document) = check_json(config(&es)).await;
    assert_eq!(code, Some(1), "{document}");
    let cluster = &document["clusters"][0];
    assert_eq!(
        cluster["remotes"][0]["why"],
        format!("not connected on node {disconnected} (connected on 1 of 2)")
    );
    assert_eq!(
        cluster["remotes"][0]["nodes"],
        json!({connected.clone(): true, disconnected.clone(): false})
    );
    let mut expected_nodes = vec![
        json!({"name": "dup", "node": connected, "address": a1, "error": null}),
        json!({"name": "dup", "node": disconnected, "address": a2, "error": null}),
    ];
    expected_nodes.sort_by_key(|n| n["node"].as_str().unwrap().to_owned());
    assert_eq!(cluster["nodes"], json!(expected_nodes));

    let exporter = Exporter::with_config(&config(&es));
    exporter.wait_ready().await;
    let text = exporter.metrics().await;
    let mut expected = vec![
        format!(
            r#"es_remote_node_connected{{cluster="prod-b",remote_cluster="leader",node="{connected}"}} 1"#
        ),
        format!(
            r#"es_remote_node_connected{{cluster="prod-b",remote_cluster="leader",node="{disconnected}"}} 0"#
        ),
    ];
    expected.sort_unstable();
    assert_eq!(family(&text, "es_remote_node_connected"), expected);
    assert_eq!(family(&text, "es_remote_node_up").len(), 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn nodes_with_an_unusable_publish_address_are_reported_not_dropped() {
    let (_n1, a1) = node(CONNECTED).await;
    let es = cluster(&[
        ("es-b-1", CCS, a1.clone()),
        ("es-b-2", CCS, "127.0.0.1:99999".to_owned()),
        ("es-b-3", CCS, "127.0.0.1:9200 ".to_owned()),
    ])
    .await;

    let (code, document) = check_json(config(&es)).await;
    assert_eq!(code, Some(1), "{document}");
    let cluster = &document["clusters"][0];
    assert_eq!(
        cluster["why"],
        "1 remote ok; nodes es-b-2, es-b-3 could not be polled"
    );
    assert_eq!(
        cluster["nodes"],
        json!([
            {"name": "es-b-1", "node": "es-b-1", "address": a1, "error": null},
            {"name": "es-b-2", "node": "es-b-2", "address": "127.0.0.1:99999", "error": {
                "reason": "decode", "detail": "unusable HTTP publish address \"127.0.0.1:99999\""}},
            {"name": "es-b-3", "node": "es-b-3", "address": "127.0.0.1:9200 ", "error": {
                "reason": "decode", "detail": "unusable HTTP publish address \"127.0.0.1:9200 \""}}
        ])
    );
    assert_eq!(
        cluster["notes"],
        json!([
            "node es-b-2 could not be polled: decode: unusable HTTP publish address \"127.0.0.1:99999\"",
            "node es-b-3 could not be polled: decode: unusable HTTP publish address \"127.0.0.1:9200 \"",
        ])
    );

    let exporter = Exporter::with_config(&config(&es));
    exporter.wait_ready().await;
    assert_eq!(
        family(&exporter.metrics().await, "es_remote_node_up"),
        [
            r#"es_remote_node_up{cluster="prod-b",node="es-b-1"} 1"#,
            r#"es_remote_node_up{cluster="prod-b",node="es-b-2"} 0"#,
            r#"es_remote_node_up{cluster="prod-b",node="es-b-3"} 0"#,
        ]
    );
}

/// 40 nodes on a fake node that answers nobody until 17 requests wait at once: with at most
/// 16 in flight that never happens, so exactly the first 16 nodes are asked, the round ends
/// with the cluster's timeout, the other 24 fail with reason `timeout` without being asked, and
/// one warning sums the round up. An exporter asking more at once would get every answer.
#[tokio::test(flavor = "multi_thread")]
async fn sixteen_node_requests_at_most_are_in_flight_and_the_round_ends_with_the_timeout() {
    let stingy = FakeNode::start(CONNECTED, 17).await;
    let names: Vec<String> = (0..40).map(|n| format!("n{n:02}")).collect();
    let nodes: Vec<(&str, &[&str], String)> = names
        .iter()
        .map(|name| (name.as_str(), CCS, stingy.address.clone()))
        .collect();
    let es = cluster(&nodes).await;
    let out = check(
        config_with(&es, "500ms", "{ name: leader }"),
        &["--output", "json", "--log.format", "json"],
    )
    .await;
    assert_eq!(out.code, Some(1), "{}{}", out.stdout, out.stderr);
    assert_eq!(stingy.most_in_flight.load(Ordering::SeqCst), 16);
    assert_eq!(stingy.served.load(Ordering::SeqCst), 0);

    let document: Value = serde_json::from_str(&out.stdout).unwrap();
    let cluster = &document["clusters"][0];
    assert_eq!(
        cluster["why"],
        "1 remote ok; nodes n00, n01, n02, n03, n04, n05, n06, n07, n08, n09 and 30 more could \
         not be polled"
    );
    let listed = cluster["nodes"].as_array().unwrap();
    assert_eq!(listed.len(), 40);
    for node in listed {
        assert_eq!(node["error"]["reason"], "timeout", "{node}");
    }
    let not_asked: Vec<&str> = listed
        .iter()
        .filter(|n| {
            n["error"]["detail"]
                == "not asked before the node round ended after 500ms: too many nodes were slow"
        })
        .map(|n| n["node"].as_str().unwrap())
        .collect();
    assert_eq!(not_asked, names[16..]);
    assert_eq!(cluster["notes"].as_array().unwrap().len(), 7);
    assert_eq!(
        cluster["notes"][6],
        "35 more nodes could not be polled; each node's error is in nodes"
    );

    let warnings = events(&out.stderr, "node polls failing");
    assert_eq!(warnings.len(), 1, "{}", out.stderr);
    assert_eq!(warnings[0]["count"], 40);
    assert_eq!(
        warnings[0]["nodes"],
        "n00 (timeout), n01 (timeout), n02 (timeout), n03 (timeout), n04 (timeout) and 35 more"
    );
}

/// With one socket per node kept open (no limit in flight, or idle connections pooled across
/// the round), 600 nodes would need far more than 256 file descriptors. Each node has its own
/// port on 127.0.0.1, as a pool keeps connections per host and port; the fake nodes keep
/// connections alive, as Elasticsearch does.
#[tokio::test(flavor = "multi_thread")]
async fn six_hundred_nodes_are_polled_within_256_file_descriptors() {
    let node = axum::Router::new().route(
        "/_remote/info",
        axum::routing::get(|| async {
            (
                [(axum::http::header::CONTENT_TYPE, "application/json")],
                CONNECTED,
            )
        }),
    );
    let names: Vec<String> = (0..600).map(|n| format!("n{n:03}")).collect();
    let mut nodes: Vec<(&str, &[&str], String)> = Vec::with_capacity(names.len());
    for name in &names {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap().to_string();
        tokio::spawn(axum::serve(listener, node.clone()).into_future());
        nodes.push((name.as_str(), CCS, address));
    }
    let es = cluster(&nodes).await;
    let out = check_limited(
        config_with(&es, "5s", "{ name: leader }"),
        &[],
        "ulimit -n 256 && ",
    )
    .await;
    assert_eq!(out.code, Some(0), "{}{}", out.stdout, out.stderr);
    assert_eq!(
        out.stdout,
        "CLUSTER  REMOTE  STATE  MODE   CONNECTIONS  WHY\n\
         prod-b   leader  ok     sniff  3/3          connected on 600 of 600 nodes (3/3 gateway nodes each)\n\
         overall: ok\n"
    );
}

/// `{}` or `[]` where the nodes list belongs is a proxy's or a broken answer, not a cluster
/// without nodes: discovery failed, and the cluster is degraded rather than judged as fine.
#[tokio::test(flavor = "multi_thread")]
async fn a_nodes_answer_without_a_nodes_list_is_a_failed_discovery() {
    for (body, error) in [
        ("{}", "missing field `nodes` at line 1 column 2"),
        (
            "[]",
            "invalid length 0, expected struct NodesInfo with 1 element at line 1 column 2",
        ),
    ] {
        let es = MockServer::start().await;
        serve(&es, "/b/_remote/info", json_body(CONNECTED)).await;
        serve(&es, "/b/_nodes/http", json_body(body)).await;
        let out = check(config_with(&es, "5s", "{ name: leader }"), &[]).await;
        assert_eq!(out.code, Some(1), "{body}: {}{}", out.stdout, out.stderr);
        assert_eq!(
            out.stdout,
            format!(
                "CLUSTER  REMOTE  STATE     MODE   CONNECTIONS  WHY\n\
                 prod-b   -       degraded  -      -            1 remote ok; node discovery failed (decode)\n\
                 prod-b   leader  ok        sniff  3/3          connected (3/3 gateway nodes)\n\
                 prod-b   -       note      -      -            no node answered, so the verdicts come from the configured URL's answer alone\n\
                 prod-b   -       note      -      -            node discovery failed: decode: failed to decode _nodes/http: {error}\n\
                 overall: degraded\n"
            ),
            "{body}"
        );
    }
}
