//! Answers a hostile or broken peer could send: each is classified, bounded and kept out of
//! the logs' structure, and none reaches further than its own cluster.

mod support;

use std::process::{Command, Output};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use support::{Exporter, answer, json_answer, value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer};

/// A server that answers every request with `head`, then sends `body` one byte every `pace`
/// (all at once when `pace` is zero). Returns its base URL.
async fn raw_server(head: &'static str, body: impl Into<Vec<u8>>, pace: Duration) -> String {
    let body: Arc<[u8]> = body.into().into();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            let body = body.clone();
            tokio::spawn(async move {
                let mut request = [0u8; 4096];
                let _ = socket.read(&mut request).await;
                if socket.write_all(head.as_bytes()).await.is_err() {
                    return;
                }
                if pace.is_zero() {
                    let _ = socket.write_all(&body).await;
                    return;
                }
                for byte in body.iter() {
                    if socket.write_all(&[*byte]).await.is_err() {
                        return;
                    }
                    tokio::time::sleep(pace).await;
                }
            });
        }
    });
    format!("http://{address}/")
}

/// The `check` command, run once against `--es.url url` with extra environment variables.
fn check(url: &str, env: &[(&str, &str)]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_es-remote-exporter"))
        .args(["check", "--es.url", url])
        .envs(env.iter().copied())
        .output()
        .unwrap()
}

/// A fake cluster whose `GET /` names it `cluster_name`.
async fn named_cluster(cluster_name: &str) -> MockServer {
    let es = MockServer::start().await;
    let root = serde_json::json!({"cluster_name": cluster_name, "version": {"number": "8.19.0"}});
    Mock::given(method("GET"))
        .and(path("/"))
        .respond_with(json_answer(root.to_string()))
        .mount(&es)
        .await;
    es
}

#[tokio::test(flavor = "multi_thread")]
async fn an_error_status_decides_whatever_its_body_claims_or_how_slowly_it_comes() {
    let huge_401 = raw_server(
        "HTTP/1.1 401 Unauthorized\r\ncontent-type: text/plain\r\ncontent-length: 20000000\r\n\r\n",
        &b"denied"[..],
        Duration::ZERO,
    )
    .await;
    let trickling_403 = raw_server(
        "HTTP/1.1 403 Forbidden\r\ncontent-type: application/json\r\ncontent-length: 64\r\n\r\n",
        &b"{\"error\":{\"type\":\"security_exception\"},\"status\":403}            "[..],
        Duration::from_millis(100),
    )
    .await;
    let page = format!("<html><body><pre>{}</pre></body></html>", ".".repeat(4096));
    let big_502 = raw_server(
        "HTTP/1.1 502 Bad Gateway\r\ncontent-type: text/html\r\ntransfer-encoding: chunked\r\n\r\n",
        format!("{:x}\r\n{page}\r\n0\r\n\r\n", page.len()).into_bytes(),
        Duration::ZERO,
    )
    .await;
    let exporter = Exporter::with_config(&format!(
        r#"
poll_interval: 2s
timeout: 600ms
max_response_bytes: 1024
clusters:
  - {{ name: huge-401, url: "{huge_401}" }}
  - {{ name: trickling-403, url: "{trickling_403}" }}
  - {{ name: big-502, url: "{big_502}" }}
"#
    ));
    exporter.wait_ready().await;
    let text = exporter.metrics().await;
    for (cluster, reason) in [
        ("huge-401", "unauthorized"),
        ("trickling-403", "forbidden"),
        ("big-502", "http_error"),
    ] {
        let series =
            format!(r#"es_remote_scrape_errors_total{{cluster="{cluster}",reason="{reason}"}}"#);
        assert_eq!(value(&text, &series), Some(1.0), "{series}\n{text}");
        assert_eq!(
            value(&text, &format!(r#"es_remote_up{{cluster="{cluster}"}}"#)),
            Some(0.0)
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_parser_message_quoting_the_answer_is_cut_short_everywhere() {
    let es = MockServer::start().await;
    let long = format!(r#"{{"es-a":{{"connected":"{}"}}}}"#, "A".repeat(100_000));
    answer(&es, "long", json_answer(long)).await;
    let exporter = Exporter::with_config(&format!(
        "clusters:\n  - {{ name: long, url: \"{}/long\" }}\n",
        es.uri()
    ));
    exporter.wait_ready().await;

    let (status, body) = exporter.get("/health").await;
    assert_eq!(status, 503);
    let health: serde_json::Value = serde_json::from_str(&body).unwrap();
    let detail = health["clusters"][0]["error"]["detail"].as_str().unwrap();
    let expected = format!(
        "failed to decode _remote/info: invalid type: string \"{}…",
        "A".repeat(300 - 53)
    );
    assert_eq!(detail, expected);
    let warning = &exporter.events("cluster poll failing")[0];
    assert_eq!(warning["error"], expected);
    assert!(body.len() < 2_000, "{} bytes of /health", body.len());
}

#[tokio::test(flavor = "multi_thread")]
async fn more_remotes_than_max_remotes_is_too_large_and_exports_none() {
    let es = MockServer::start().await;
    answer(
        &es,
        "many",
        json_answer(r#"{"r1":{"connected":true},"r2":{"connected":true},"r3":{"connected":true}}"#),
    )
    .await;
    let exporter = Exporter::with_config(&format!(
        "clusters:\n  - {{ name: many, url: \"{0}/many\", max_remotes: 2 }}\n  - {{ name: enough, url: \"{0}/many\", max_remotes: 3 }}\n",
        es.uri()
    ));
    exporter.wait_ready().await;
    let text = exporter.metrics().await;
    assert_eq!(
        value(
            &text,
            r#"es_remote_scrape_errors_total{cluster="many",reason="too_large"}"#
        ),
        Some(1.0)
    );
    assert!(
        !text.contains(r#"es_remote_connected{cluster="many""#),
        "{text}"
    );
    assert_eq!(
        value(&text, r#"es_remote_clusters{cluster="enough"}"#),
        Some(3.0)
    );
    let warning = &exporter.events("cluster poll failing")[0];
    assert_eq!(
        warning["error"],
        "_remote/info lists more than 2 remotes (max_remotes)"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_proxy_named_in_the_environment_never_sees_a_request() {
    let proxy = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let proxy_url = format!("http://{}", proxy.local_addr().unwrap());
    let connections = Arc::new(AtomicUsize::new(0));
    let seen = connections.clone();
    tokio::spawn(async move {
        while let Ok((_socket, _)) = proxy.accept().await {
            seen.fetch_add(1, Ordering::SeqCst);
        }
    });
    let es = named_cluster("es-b").await;
    Mock::given(method("GET"))
        .and(path("/_remote/info"))
        .respond_with(json_answer("{}"))
        .mount(&es)
        .await;

    let output = tokio::task::spawn_blocking(move || {
        let proxies = [
            ("HTTP_PROXY", proxy_url.as_str()),
            ("http_proxy", proxy_url.as_str()),
            ("HTTPS_PROXY", proxy_url.as_str()),
            ("ALL_PROXY", proxy_url.as_str()),
            ("NO_PROXY", ""),
        ];
        check(&es.uri(), &proxies)
    })
    .await
    .unwrap();
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(connections.load(Ordering::SeqCst), 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_cluster_name_with_a_newline_and_escapes_cannot_forge_a_log_line() {
    let es = named_cluster("evil\n2026-01-01T00:00:00Z  INFO forged\u{1b}[31m").await;
    Mock::given(method("GET"))
        .and(path("/_remote/info"))
        .respond_with(wiremock::ResponseTemplate::new(401))
        .mount(&es)
        .await;
    let url = es.uri();
    let output = tokio::task::spawn_blocking(move || check(&url, &[]))
        .await
        .unwrap();
    assert_eq!(output.status.code(), Some(3));
    let stderr = String::from_utf8(output.stderr).unwrap();
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 1, "{stderr}");
    let (_time, event) = lines[0].split_once(' ').unwrap();
    assert_eq!(
        event,
        r#" WARN cluster poll failing cluster="evil\n2026-01-01T00:00:00Z  INFO forged\u{1b}[31m" reason=unauthorized error="HTTP 401 Unauthorized" hint="check the username and password or the API key""#
    );
}

/// Without a deadline, a graceful shutdown waits for every open request: one client that
/// never finishes its request headers would keep the exporter from stopping.
#[tokio::test(flavor = "multi_thread")]
async fn a_request_that_never_ends_does_not_hold_up_shutdown_for_long() {
    let refused = format!("http://127.0.0.1:{}", support::closed_port());
    let exporter = Exporter::start(&["--es.url", &refused]);
    let mut half = tokio::net::TcpStream::connect(&exporter.address)
        .await
        .unwrap();
    half.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    // `terminate` fails the test when the exporter is still running 10 s after SIGTERM.
    let code = tokio::task::spawn_blocking(move || exporter.terminate())
        .await
        .unwrap();
    assert_eq!(code, Some(0));
    drop(half);
}
