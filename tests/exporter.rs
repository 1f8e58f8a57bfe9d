//! The exporter binary against fake Elasticsearch answers over real HTTP on loopback.

mod support;

use std::time::Duration;

use support::{Exporter, answer, fixture, health_lines, lines_of, remote_lines, value};
use wiremock::matchers::{header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

const HEALTHY_LINES: [&str; 13] = [
    r#"es_remote_connected{cluster="healthy",remote_cluster="es-a"} 1"#,
    r#"es_remote_connected{cluster="healthy",remote_cluster="es-b"} 0"#,
    r#"es_remote_info{cluster="healthy",remote_cluster="es-a",mode="sniff",proxy_address="",server_name="",credentials="none"} 1"#,
    r#"es_remote_info{cluster="healthy",remote_cluster="es-b",mode="proxy",proxy_address="10.0.0.30:9300",server_name="",credentials="none"} 1"#,
    r#"es_remote_initial_connect_timeout_seconds{cluster="healthy",remote_cluster="es-a"} 30"#,
    r#"es_remote_initial_connect_timeout_seconds{cluster="healthy",remote_cluster="es-b"} 30"#,
    r#"es_remote_max_connections{cluster="healthy",remote_cluster="es-a"} 3"#,
    r#"es_remote_max_proxy_sockets{cluster="healthy",remote_cluster="es-b"} 18"#,
    r#"es_remote_nodes_connected{cluster="healthy",remote_cluster="es-a"} 2"#,
    r#"es_remote_proxy_sockets_connected{cluster="healthy",remote_cluster="es-b"} 0"#,
    r#"es_remote_seeds{cluster="healthy",remote_cluster="es-a"} 2"#,
    r#"es_remote_skip_unavailable{cluster="healthy",remote_cluster="es-a"} 0"#,
    r#"es_remote_skip_unavailable{cluster="healthy",remote_cluster="es-b"} 0"#,
];

/// Each failure gives `up 0`, its own reason and no per-remote series, while a healthy cluster
/// polled by the same exporter stays exactly right.
#[tokio::test(flavor = "multi_thread")]
async fn each_failure_is_classified_and_never_disturbs_a_healthy_cluster() {
    let es = MockServer::start().await;
    let json = |status: u16, body: &str| {
        ResponseTemplate::new(status).set_body_raw(body.to_owned(), "application/json")
    };
    answer(
        &es,
        "healthy",
        json(
            200,
            std::str::from_utf8(&fixture("shapes/es-7.17.json")).unwrap(),
        ),
    )
    .await;
    answer(&es, "unauthorized-empty", ResponseTemplate::new(401)).await;
    answer(
        &es,
        "unauthorized-text",
        ResponseTemplate::new(401)
            .set_body_raw("Authentication finally failed", "text/plain")
            .insert_header("www-authenticate", "Basic realm=\"OpenSearch Security\""),
    )
    .await;
    answer(
        &es,
        "forbidden",
        json(403, r#"{"error":{"root_cause":[{"type":"security_exception","reason":"action [cluster:monitor/remote/info] is unauthorized for user [monitor]"}],"type":"security_exception","reason":"action [cluster:monitor/remote/info] is unauthorized for user [monitor]"},"status":403}"#),
    )
    .await;
    answer(
        &es,
        "bad-request",
        json(400, r#"{"error":{"root_cause":[{"type":"illegal_argument_exception","reason":"node [es-a-1] does not have the [remote_cluster_client] role"}],"type":"illegal_argument_exception","reason":"node [es-a-1] does not have the [remote_cluster_client] role"},"status":400}"#),
    )
    .await;
    answer(
        &es,
        "bad-gateway",
        ResponseTemplate::new(502).set_body_raw(
            "<html><body><h1>502 Bad Gateway</h1></body></html>",
            "text/html",
        ),
    )
    .await;
    answer(&es, "truncated", json(200, r#"{"es-a":{"connected":tru"#)).await;
    answer(&es, "array", json(200, "[]")).await;
    let big = format!(
        "{{\"es-a\":{{\"connected\":true,\"pad\":\"{}\"}}}}",
        "x".repeat(2048)
    );
    answer(&es, "oversized", json(200, &big)).await;
    answer(
        &es,
        "slow",
        json(200, "{}").set_delay(Duration::from_secs(3)),
    )
    .await;
    let endless = support::endless_body_server().await;
    let refused = format!("http://127.0.0.1:{}/", support::closed_port());

    let base = es.uri();
    let exporter = Exporter::with_config(&format!(
        r#"
poll_interval: 1s
timeout: 600ms
clusters:
  - {{ name: healthy, url: "{base}/healthy" }}
  - {{ name: unauthorized-empty, url: "{base}/unauthorized-empty" }}
  - {{ name: unauthorized-text, url: "{base}/unauthorized-text" }}
  - {{ name: forbidden, url: "{base}/forbidden" }}
  - {{ name: bad-request, url: "{base}/bad-request" }}
  - {{ name: bad-gateway, url: "{base}/bad-gateway" }}
  - {{ name: truncated, url: "{base}/truncated" }}
  - {{ name: array, url: "{base}/array" }}
  - {{ name: oversized, url: "{base}/oversized", max_response_bytes: 1024 }}
  - {{ name: endless, url: "{endless}", max_response_bytes: 1048576 }}
  - {{ name: refused, url: "{refused}" }}
  - {{ name: slow, url: "{base}/slow" }}
"#
    ));
    exporter.wait_ready().await;
    // Three polls of every cluster, so that a warn logged on every poll would show.
    let text = exporter
        .wait_until("three polls of every cluster", |text| {
            text.lines()
                .filter(|l| l.starts_with("es_remote_scrapes_total{"))
                .all(|l| {
                    l.rsplit_once(' ')
                        .is_some_and(|(_, n)| n.parse::<f64>().is_ok_and(|n| n >= 3.0))
                })
        })
        .await;

    let mut healthy: Vec<&str> = HEALTHY_LINES.to_vec();
    healthy.sort_unstable();
    assert_eq!(remote_lines(&text, "healthy"), healthy);
    assert_eq!(
        value(&text, r#"es_remote_up{cluster="healthy"}"#),
        Some(1.0)
    );
    assert_eq!(
        value(&text, r#"es_remote_clusters{cluster="healthy"}"#),
        Some(2.0)
    );

    for (cluster, reason) in [
        ("unauthorized-empty", "unauthorized"),
        ("unauthorized-text", "unauthorized"),
        ("forbidden", "forbidden"),
        ("bad-request", "bad_request"),
        ("bad-gateway", "http_error"),
        ("truncated", "decode"),
        ("array", "decode"),
        ("oversized", "too_large"),
        ("endless", "too_large"),
        ("refused", "connect"),
        ("slow", "timeout"),
    ] {
        assert_eq!(
            value(&text, &format!(r#"es_remote_up{{cluster="{cluster}"}}"#)),
            Some(0.0)
        );
        assert_eq!(
            remote_lines(&text, cluster),
            Vec::<&str>::new(),
            "{cluster}"
        );
        let polls = value(
            &text,
            &format!(r#"es_remote_scrapes_total{{cluster="{cluster}"}}"#),
        );
        assert!(polls >= Some(3.0), "{cluster} polled {polls:?} times");
        for other in [
            "timeout",
            "connect",
            "tls",
            "unauthorized",
            "forbidden",
            "bad_request",
            "http_error",
            "decode",
            "too_large",
        ] {
            let series =
                format!(r#"es_remote_scrape_errors_total{{cluster="{cluster}",reason="{other}"}}"#);
            // Every poll of the cluster failed for its one reason, none for another.
            let expected = if other == reason { polls } else { Some(0.0) };
            assert_eq!(value(&text, &series), expected, "{series}");
        }
        assert_eq!(
            value(
                &text,
                &format!(
                    r#"es_remote_last_scrape_success_timestamp_seconds{{cluster="{cluster}"}}"#
                )
            ),
            Some(0.0)
        );

        let warnings: Vec<_> = exporter
            .events("cluster poll failing")
            .into_iter()
            .filter(|e| e["cluster"] == cluster)
            .collect();
        assert_eq!(warnings.len(), 1, "{cluster}: {warnings:?}");
        assert_eq!(warnings[0]["level"], "WARN");
        assert_eq!(warnings[0]["reason"], reason);
    }

    let hint = |cluster: &str| {
        exporter
            .events("cluster poll failing")
            .into_iter()
            .find(|e| e["cluster"] == cluster)
            .unwrap()["hint"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    assert!(hint("forbidden").contains("`monitor` cluster privilege"));
    assert!(hint("bad-request").contains("`remote_cluster_client` role"));
    let forbidden = exporter
        .events("cluster poll failing")
        .into_iter()
        .find(|e| e["cluster"] == "forbidden")
        .unwrap();
    assert_eq!(
        forbidden["error"],
        "HTTP 403 Forbidden (security_exception)"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_remote_missing_from_the_next_answer_loses_all_its_series() {
    let es = MockServer::start().await;
    let both = fixture("shapes/es-7.17.json");
    answer(
        &es,
        "b",
        ResponseTemplate::new(200).set_body_raw(both, "application/json"),
    )
    .await;
    let exporter = Exporter::with_config(&format!(
        "poll_interval: 300ms\ntimeout: 200ms\nclusters:\n  - {{ name: b, url: \"{}/b\" }}\n",
        es.uri()
    ));
    exporter
        .wait_until("two remotes with their health", |t| {
            remote_lines(t, "b").len() == 13 && health_lines(t, "b").len() == 14
        })
        .await;

    es.reset().await;
    let one = r#"{"es-a":{"connected":true,"mode":"sniff","seeds":["10.0.0.21:9300"],"num_nodes_connected":1,"max_connections_per_cluster":3,"initial_connect_timeout":"30s","skip_unavailable":false}}"#;
    answer(
        &es,
        "b",
        ResponseTemplate::new(200).set_body_raw(one, "application/json"),
    )
    .await;
    // Every series of es-b, the health checker's included, is gone.
    let text = exporter
        .wait_until("es-b gone", |t| !t.contains("es-b"))
        .await;
    assert_eq!(
        health_lines(&text, "b"),
        [
            r#"es_remote_configured{cluster="b",remote_cluster="es-a"} 1"#,
            r#"es_remote_disconnects_total{cluster="b",remote_cluster="es-a"} 0"#,
            r#"es_remote_health{cluster="b",remote_cluster="es-a",state="degraded"} 0"#,
            r#"es_remote_health{cluster="b",remote_cluster="es-a",state="down"} 0"#,
            r#"es_remote_health{cluster="b",remote_cluster="es-a",state="ok"} 1"#,
            r#"es_remote_health{cluster="b",remote_cluster="es-a",state="unknown"} 0"#,
            r#"es_remote_last_connected_timestamp_seconds{cluster="b",remote_cluster="es-a"} <time>"#,
        ]
    );
    assert_eq!(
        remote_lines(&text, "b"),
        vec![
            r#"es_remote_connected{cluster="b",remote_cluster="es-a"} 1"#,
            r#"es_remote_info{cluster="b",remote_cluster="es-a",mode="sniff",proxy_address="",server_name="",credentials="none"} 1"#,
            r#"es_remote_initial_connect_timeout_seconds{cluster="b",remote_cluster="es-a"} 30"#,
            r#"es_remote_max_connections{cluster="b",remote_cluster="es-a"} 3"#,
            r#"es_remote_nodes_connected{cluster="b",remote_cluster="es-a"} 1"#,
            r#"es_remote_seeds{cluster="b",remote_cluster="es-a"} 1"#,
            r#"es_remote_skip_unavailable{cluster="b",remote_cluster="es-a"} 0"#,
        ]
    );
    assert_eq!(
        value(&text, r#"es_remote_clusters{cluster="b"}"#),
        Some(1.0)
    );
}

/// Basic and API-key credentials arrive as headers; neither the secrets nor the header
/// values show up in logs or metrics.
#[tokio::test(flavor = "multi_thread")]
async fn credentials_arrive_as_headers_and_never_leak() {
    let es = MockServer::start().await;
    // "monitor:s3cret-pass" and "ApiKey es-a-key-material" as Elasticsearch expects them.
    Mock::given(method("GET"))
        .and(path("/basic/_remote/info"))
        .and(header(
            "authorization",
            "Basic bW9uaXRvcjpzM2NyZXQtcGFzcw==",
        ))
        .respond_with(ResponseTemplate::new(200).set_body_raw("{}", "application/json"))
        .mount(&es)
        .await;
    Mock::given(method("GET"))
        .and(path("/apikey/_remote/info"))
        .and(header("authorization", "ApiKey es-a-key-material"))
        .respond_with(ResponseTemplate::new(200).set_body_raw("{}", "application/json"))
        .mount(&es)
        .await;
    Mock::given(method("GET"))
        .and(path("/bearer/_remote/info"))
        .and(header("authorization", "Bearer es-a-token"))
        .respond_with(ResponseTemplate::new(200).set_body_raw("{}", "application/json"))
        .mount(&es)
        .await;
    // Anything else, wrong or missing credentials included, is refused.
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(401))
        .with_priority(10)
        .mount(&es)
        .await;

    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("password"), "s3cret-pass\n").unwrap();
    std::fs::write(dir.path().join("api-key"), "es-a-key-material").unwrap();
    let base = es.uri();
    let exporter = Exporter::with_config(&format!(
        r#"
poll_interval: 1s
timeout: 500ms
clusters:
  - name: basic
    url: "{base}/basic"
    basic_auth: {{ username: monitor, password_file: "{dir}/password" }}
  - name: apikey
    url: "{base}/apikey"
    authorization: {{ type: ApiKey, credentials_file: "{dir}/api-key" }}
  - name: bearer
    url: "{base}/bearer"
    authorization: {{ credentials: es-a-token }}
  - name: wrong
    url: "{base}/basic"
    basic_auth: {{ username: monitor, password: not-the-password }}
"#,
        dir = dir.path().display()
    ));
    exporter.wait_ready().await;
    let text = exporter.metrics().await;
    assert_eq!(value(&text, r#"es_remote_up{cluster="basic"}"#), Some(1.0));
    assert_eq!(value(&text, r#"es_remote_up{cluster="apikey"}"#), Some(1.0));
    assert_eq!(value(&text, r#"es_remote_up{cluster="bearer"}"#), Some(1.0));
    assert_eq!(value(&text, r#"es_remote_up{cluster="wrong"}"#), Some(0.0));
    assert_eq!(
        value(
            &text,
            r#"es_remote_scrape_errors_total{cluster="wrong",reason="unauthorized"}"#
        ),
        value(&text, r#"es_remote_scrapes_total{cluster="wrong"}"#)
    );

    let logs = exporter.logs().join("\n");
    for secret in [
        "s3cret-pass",
        "bW9uaXRvcjpzM2NyZXQtcGFzcw",
        "es-a-key-material",
        "es-a-token",
        "not-the-password",
    ] {
        assert!(!logs.contains(secret), "{secret} leaked into the logs");
        assert!(!text.contains(secret), "{secret} leaked into the metrics");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn without_a_config_file_the_cluster_is_named_from_its_root_endpoint() {
    let es = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/"))
        .respond_with(ResponseTemplate::new(200).set_body_raw(
            r#"{"name":"es-b-1","cluster_name":"es-b","cluster_uuid":"x","version":{"number":"8.15.0"},"tagline":"You Know, for Search"}"#,
            "application/json",
        ))
        .mount(&es)
        .await;
    Mock::given(method("GET"))
        .and(path("/_remote/info"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_raw(fixture("shapes/es-8.15.json"), "application/json"),
        )
        .mount(&es)
        .await;
    let exporter = Exporter::start(&["--es.url", &es.uri()]);
    let text = exporter
        .wait_until("named cluster", |t| {
            t.contains(r#"es_remote_up{cluster="es-b"} 1"#)
        })
        .await;
    // Seven core series of the sniff remote, six of the proxy one, seven health series of
    // each, fifteen of the cluster.
    assert_eq!(remote_lines(&text, "es-b").len(), 13);
    assert_eq!(
        health_lines(&text, "es-b"),
        [
            r#"es_remote_configured{cluster="es-b",remote_cluster="es-a"} 1"#,
            r#"es_remote_configured{cluster="es-b",remote_cluster="es-b"} 1"#,
            r#"es_remote_disconnects_total{cluster="es-b",remote_cluster="es-a"} 0"#,
            r#"es_remote_disconnects_total{cluster="es-b",remote_cluster="es-b"} 0"#,
            r#"es_remote_health{cluster="es-b",remote_cluster="es-a",state="degraded"} 0"#,
            r#"es_remote_health{cluster="es-b",remote_cluster="es-a",state="down"} 0"#,
            r#"es_remote_health{cluster="es-b",remote_cluster="es-a",state="ok"} 1"#,
            r#"es_remote_health{cluster="es-b",remote_cluster="es-a",state="unknown"} 0"#,
            r#"es_remote_health{cluster="es-b",remote_cluster="es-b",state="degraded"} 0"#,
            r#"es_remote_health{cluster="es-b",remote_cluster="es-b",state="down"} 0"#,
            r#"es_remote_health{cluster="es-b",remote_cluster="es-b",state="ok"} 1"#,
            r#"es_remote_health{cluster="es-b",remote_cluster="es-b",state="unknown"} 0"#,
            r#"es_remote_last_connected_timestamp_seconds{cluster="es-b",remote_cluster="es-a"} <time>"#,
            r#"es_remote_last_connected_timestamp_seconds{cluster="es-b",remote_cluster="es-b"} <time>"#,
        ]
    );
    assert_eq!(lines_of(&text, "es-b").len(), 13 + 14 + 15);
    assert!(
        exporter
            .events("named cluster from GET /")
            .iter()
            .any(|e| e["cluster"] == "es-b")
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn readiness_waits_for_the_first_poll_and_the_landing_page_links_the_metrics() {
    let es = MockServer::start().await;
    answer(
        &es,
        "slow",
        ResponseTemplate::new(200)
            .set_body_raw("{}", "application/json")
            .set_delay(Duration::from_millis(1500)),
    )
    .await;
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config.yml");
    std::fs::write(
        &config,
        format!(
            "poll_interval: 5s\ntimeout: 3s\nclusters:\n  - {{ name: slow, url: \"{}/slow\" }}\n",
            es.uri()
        ),
    )
    .unwrap();
    let exporter = Exporter::start(&[
        "--config.file",
        config.to_str().unwrap(),
        "--web.telemetry-path",
        "/custom-metrics",
    ]);
    assert_eq!(
        exporter.get("/-/ready").await,
        (503, "Not ready: 1 cluster(s) not polled yet\n".into())
    );
    assert_eq!(exporter.get("/-/healthy").await, (200, "Healthy\n".into()));
    let (status, page) = exporter.get("/").await;
    assert_eq!(status, 200);
    assert!(
        page.contains(r#"<a href="/custom-metrics">Metrics</a>"#),
        "{page}"
    );
    assert_eq!(exporter.get("/metrics").await.0, 404);
    let (status, text) = exporter.get("/custom-metrics").await;
    assert_eq!(status, 200);
    assert!(
        text.contains("es_remote_up{cluster=\"slow\"} 0\n"),
        "{text}"
    );

    exporter.wait_ready().await;
    assert_eq!(exporter.get("/-/ready").await, (200, "Ready\n".into()));
    assert_eq!(exporter.terminate(), Some(0));
}

/// The path becomes a route: one the router would read as a parameter or a wildcard, or that
/// no request could reach as written, is a flag error (exit 2) before anything starts.
#[test]
fn a_telemetry_path_the_router_would_misread_is_a_flag_error() {
    let shape = "use /-separated segments of ASCII letters, digits and -._~, such as /metrics";
    let cases = [
        ("/{", format!("'{{' is not allowed; {shape}")),
        ("/{x}", format!("'{{' is not allowed; {shape}")),
        ("/{*rest}", format!("'{{' is not allowed; {shape}")),
        ("/metrics}", format!("'}}' is not allowed; {shape}")),
        ("/a b", format!("' ' is not allowed; {shape}")),
        ("/metrics?x", format!("'?' is not allowed; {shape}")),
        ("/metrics#x", format!("'#' is not allowed; {shape}")),
        ("/a%20b", format!("'%' is not allowed; {shape}")),
        ("/ünï", format!("'ü' is not allowed; {shape}")),
        ("/a\tb", format!("'\\t' is not allowed; {shape}")),
        ("//", format!("empty path segment; {shape}")),
        ("/metrics/", format!("empty path segment; {shape}")),
        ("/a//b", format!("empty path segment; {shape}")),
        ("/a/../b", format!("segment \"..\" is not allowed; {shape}")),
        (
            "/",
            "must start with / and name a path other than /".to_owned(),
        ),
        (
            "metrics",
            "must start with / and name a path other than /".to_owned(),
        ),
        (
            "/health",
            "/health is served by the exporter itself".to_owned(),
        ),
        (
            "/-/healthy",
            "/-/healthy is served by the exporter itself".to_owned(),
        ),
        (
            "/-/ready",
            "/-/ready is served by the exporter itself".to_owned(),
        ),
        (
            "/-/reload",
            "/-/reload is served by the exporter itself".to_owned(),
        ),
    ];
    for (path, why) in cases {
        let output = std::process::Command::new(env!("CARGO_BIN_EXE_es-remote-exporter"))
            .args([
                "--web.listen-address",
                "127.0.0.1:0",
                "--web.telemetry-path",
                path,
            ])
            .output()
            .unwrap();
        assert_eq!(output.status.code(), Some(2), "{path:?}");
        assert_eq!(
            String::from_utf8_lossy(&output.stderr),
            format!(
                "error: invalid value '{path}' for '--web.telemetry-path <PATH>': {why}\n\n\
                 For more information, try '--help'.\n"
            ),
            "{path:?}"
        );
        assert!(output.stdout.is_empty(), "{path:?}");
    }
}

/// Every character the rule allows, in several segments, is served at exactly that path.
#[tokio::test(flavor = "multi_thread")]
async fn a_telemetry_path_of_several_plain_segments_is_served_there_only() {
    let exporter = Exporter::start(&[
        "--es.url",
        &format!("http://127.0.0.1:{}", support::closed_port()),
        "--web.telemetry-path",
        "/probe/es-remote_v1.0~x",
    ]);
    let (status, text) = exporter.get("/probe/es-remote_v1.0~x").await;
    assert_eq!(status, 200);
    assert!(text.contains("# TYPE es_remote_up gauge\n"), "{text}");
    assert_eq!(exporter.get("/probe/es-remote_v1.0~").await.0, 404);
    assert_eq!(exporter.get("/probe").await.0, 404);
    assert_eq!(exporter.get("/metrics").await.0, 404);
    assert_eq!(exporter.terminate(), Some(0));
}
