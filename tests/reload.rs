//! Reloading the configuration, by SIGHUP and by `POST /-/reload`, against the binary and fake
//! Elasticsearch answers over real HTTP on loopback.

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use support::{Exporter, lines_of, value};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

const RELOAD_OK: &str = "es_remote_config_last_reload_successful";
const RELOAD_TIME: &str = "es_remote_config_last_reload_success_timestamp_seconds";

/// A fake Elasticsearch where every path prefix answers `_remote/info` with no remotes.
async fn elasticsearch() -> MockServer {
    let es = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(200).set_body_raw("{}", "application/json"))
        .mount(&es)
        .await;
    es
}

/// A configuration polling each named cluster at `<es>/<name>`, once an hour, so that every
/// poll counted below is one that a start or a reload caused.
fn config(es: &MockServer, names: &[&str]) -> String {
    let mut yaml = "poll_interval: 1h\nclusters:\n".to_owned();
    for name in names {
        yaml.push_str(&format!(
            "  - {{ name: {name}, url: \"{}/{name}\" }}\n",
            es.uri()
        ));
    }
    yaml
}

/// Starts the exporter on a configuration file holding `yaml`; returns it and the file.
fn start(dir: &Path, yaml: &str, flags: &[&str]) -> (Exporter, PathBuf) {
    let file = dir.join("config.yml");
    std::fs::write(&file, yaml).unwrap();
    let mut args = vec!["--config.file", file.to_str().unwrap()];
    args.extend_from_slice(flags);
    (Exporter::start(&args), file)
}

fn hang_up(exporter: &Exporter) {
    let listening = &exporter.events("listening")[0];
    let pid = listening["pid"].as_u64().unwrap().to_string();
    assert!(
        Command::new("kill")
            .args(["-HUP", &pid])
            .status()
            .unwrap()
            .success()
    );
}

/// Waits for the `index`-th log event (from 0) whose message is `message`.
async fn nth_event(exporter: &Exporter, message: &str, index: usize) -> serde_json::Value {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(event) = exporter.events(message).into_iter().nth(index) {
            return event;
        }
        assert!(
            Instant::now() < deadline,
            "no {message:?} event number {index}: {:?}",
            exporter.logs()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn post(exporter: &Exporter, path: &str) -> (u16, String) {
    let response = reqwest::Client::new()
        .post(exporter.url(path))
        .send()
        .await
        .unwrap();
    (response.status().as_u16(), response.text().await.unwrap())
}

async fn put(exporter: &Exporter, path: &str) -> (u16, String) {
    let response = reqwest::Client::new()
        .put(exporter.url(path))
        .send()
        .await
        .unwrap();
    (response.status().as_u16(), response.text().await.unwrap())
}

fn polls(text: &str, cluster: &str) -> Option<f64> {
    value(
        text,
        &format!(r#"es_remote_scrapes_total{{cluster="{cluster}"}}"#),
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn sighup_adds_and_removes_clusters_and_a_kept_one_keeps_counting() {
    let es = elasticsearch().await;
    let dir = tempfile::tempdir().unwrap();
    let (exporter, file) = start(dir.path(), &config(&es, &["kept", "removed"]), &[]);
    exporter.wait_ready().await;
    let before = exporter.metrics().await;
    assert_eq!(polls(&before, "kept"), Some(1.0));
    assert_eq!(polls(&before, "removed"), Some(1.0));
    assert_eq!(value(&before, RELOAD_OK), Some(1.0));
    let started = value(&before, RELOAD_TIME).unwrap();
    assert!(started > 1_700_000_000.0, "{started}");

    std::fs::write(&file, config(&es, &["kept", "added"])).unwrap();
    hang_up(&exporter);
    let reloaded = nth_event(&exporter, "reloaded the configuration", 0).await;
    assert_eq!(reloaded["level"], "INFO");
    assert_eq!(reloaded["trigger"], "SIGHUP");
    assert_eq!(reloaded["file"], file.to_str().unwrap());
    assert_eq!(
        [
            &reloaded["clusters"],
            &reloaded["kept"],
            &reloaded["added"],
            &reloaded["removed"]
        ],
        [2, 1, 1, 1]
    );

    // The new pollers poll at once: the kept cluster for the second time, the added for the first.
    let text = exporter
        .wait_until("both clusters polled after the reload", |t| {
            polls(t, "kept") == Some(2.0) && polls(t, "added") == Some(1.0)
        })
        .await;
    assert_eq!(lines_of(&text, "removed"), Vec::<&str>::new());
    assert_eq!(
        lines_of(&text, "kept")
            .into_iter()
            .filter(|l| !l.contains("timestamp_seconds") && !l.contains("duration_seconds"))
            .filter(|l| !l.starts_with("es_remote_scrape_errors_total"))
            .collect::<Vec<_>>(),
        [
            r#"es_remote_clusters{cluster="kept"} 0"#,
            r#"es_remote_scrapes_total{cluster="kept"} 2"#,
            r#"es_remote_up{cluster="kept"} 1"#,
        ]
    );
    assert_eq!(polls(&text, "added"), Some(1.0));
    assert_eq!(value(&text, RELOAD_OK), Some(1.0));
    assert!(value(&text, RELOAD_TIME).unwrap() > started);
    assert_eq!(exporter.get("/-/ready").await, (200, "Ready\n".to_owned()));
    let health = exporter.get("/health").await.1;
    assert!(!health.contains("removed"), "{health}");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_invalid_file_on_sighup_keeps_the_old_clusters_and_says_where_it_is_wrong() {
    let es = elasticsearch().await;
    let dir = tempfile::tempdir().unwrap();
    let yaml = format!(
        "poll_interval: 200ms\ntimeout: 100ms\nclusters:\n  - {{ name: old, url: \"{}/old\" }}\n",
        es.uri()
    );
    let (exporter, file) = start(dir.path(), &yaml, &[]);
    exporter.wait_ready().await;
    let started = value(&exporter.metrics().await, RELOAD_TIME).unwrap();

    let invalid = format!(
        "clusters:\n  - name: new\n    url: \"{}/new\"\n    basic_auth: {{ username: monitor, password: s3cret-pass }}\n  - {{ name: other, url: \"ftp://{}/\" }}\n",
        es.uri(),
        es.address()
    );
    std::fs::write(&file, invalid).unwrap();
    hang_up(&exporter);
    let failed = nth_event(
        &exporter,
        "failed to reload the configuration; keeping the old one",
        0,
    )
    .await;
    assert_eq!(failed["level"], "ERROR");
    assert_eq!(failed["trigger"], "SIGHUP");
    assert_eq!(failed["file"], file.to_str().unwrap());
    assert_eq!(
        failed["error"],
        format!(
            r#"{}: clusters[1].url: scheme must be http or https, not "ftp""#,
            file.display()
        )
    );

    // The old cluster keeps polling on its own interval; the new ones never appear.
    let at_reload = polls(&exporter.metrics().await, "old").unwrap();
    let text = exporter
        .wait_until("the old cluster polled again", |t| {
            polls(t, "old") >= Some(at_reload + 2.0)
        })
        .await;
    assert_eq!(lines_of(&text, "new"), Vec::<&str>::new());
    assert_eq!(lines_of(&text, "other"), Vec::<&str>::new());
    assert_eq!(value(&text, r#"es_remote_up{cluster="old"}"#), Some(1.0));
    assert_eq!(value(&text, RELOAD_OK), Some(0.0));
    assert_eq!(value(&text, RELOAD_TIME), Some(started));
    assert!(
        exporter.logs().iter().all(|l| !l.contains("s3cret-pass")),
        "a secret was logged"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn reload_over_http_is_refused_without_the_lifecycle_flag() {
    let es = elasticsearch().await;
    let dir = tempfile::tempdir().unwrap();
    let (exporter, file) = start(dir.path(), &config(&es, &["first"]), &[]);
    exporter.wait_ready().await;

    std::fs::write(&file, config(&es, &["second"])).unwrap();
    let refused = (
        403,
        "Lifecycle API is not enabled; start with --web.enable-lifecycle\n".to_owned(),
    );
    assert_eq!(post(&exporter, "/-/reload").await, refused);
    assert_eq!(put(&exporter, "/-/reload").await, refused);

    let text = exporter.metrics().await;
    assert_eq!(polls(&text, "first"), Some(1.0));
    assert_eq!(lines_of(&text, "second"), Vec::<&str>::new());
    assert!(exporter.events("reloaded the configuration").is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn reload_over_http_with_the_lifecycle_flag_puts_the_new_config_in_effect() {
    let es = elasticsearch().await;
    let dir = tempfile::tempdir().unwrap();
    let (exporter, file) = start(
        dir.path(),
        &config(&es, &["first"]),
        &["--web.enable-lifecycle"],
    );
    exporter.wait_ready().await;

    std::fs::write(&file, config(&es, &["second"])).unwrap();
    assert_eq!(
        post(&exporter, "/-/reload").await,
        (200, "Reloaded\n".to_owned())
    );
    // In effect as soon as the answer arrives: the removed cluster is gone, the added one is
    // there, polled or not yet.
    let text = exporter.metrics().await;
    assert_eq!(lines_of(&text, "first"), Vec::<&str>::new());
    assert!(polls(&text, "second").is_some(), "{text}");
    let event = nth_event(&exporter, "reloaded the configuration", 0).await;
    assert_eq!(event["trigger"], "HTTP");

    std::fs::write(&file, config(&es, &["second", "third"])).unwrap();
    assert_eq!(
        put(&exporter, "/-/reload").await,
        (200, "Reloaded\n".to_owned())
    );
    let text = exporter
        .wait_until("both clusters polled", |t| {
            polls(t, "second") == Some(2.0) && polls(t, "third") == Some(1.0)
        })
        .await;
    assert_eq!(lines_of(&text, "first"), Vec::<&str>::new());
    assert_eq!(value(&text, RELOAD_OK), Some(1.0));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failing_reload_over_http_answers_500_with_the_error_and_a_fixed_file_recovers() {
    let es = elasticsearch().await;
    let dir = tempfile::tempdir().unwrap();
    let (exporter, file) = start(
        dir.path(),
        &config(&es, &["first"]),
        &["--web.enable-lifecycle"],
    );
    exporter.wait_ready().await;

    let invalid = format!(
        "clusters:\n  - name: first\n    url: \"{}/first\"\n    basic_auth: {{ username: monitor, password: s3cret-pass }}\n    timeout: 20s\n",
        es.uri()
    );
    std::fs::write(&file, invalid).unwrap();
    let (status, body) = post(&exporter, "/-/reload").await;
    assert_eq!(status, 500);
    assert_eq!(
        body,
        format!(
            "failed to reload the configuration: {}: clusters[0].timeout: \
             timeout 20s must be shorter than poll_interval 15s\n",
            file.display()
        )
    );
    let text = exporter.metrics().await;
    assert_eq!(value(&text, RELOAD_OK), Some(0.0));
    assert_eq!(polls(&text, "first"), Some(1.0));

    std::fs::write(&file, config(&es, &["first"])).unwrap();
    assert_eq!(
        post(&exporter, "/-/reload").await,
        (200, "Reloaded\n".to_owned())
    );
    let text = exporter
        .wait_until("the kept cluster polled again", |t| {
            polls(t, "first") == Some(2.0)
        })
        .await;
    assert_eq!(value(&text, RELOAD_OK), Some(1.0));
    assert!(
        exporter.logs().iter().all(|l| !l.contains("s3cret-pass")),
        "a secret was logged"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn without_a_config_file_reload_over_http_is_a_bad_request_that_changes_nothing() {
    let es = elasticsearch().await;
    Mock::given(method("GET"))
        .and(path("/"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_raw(r#"{"cluster_name":"solo"}"#, "application/json"),
        )
        .with_priority(1)
        .mount(&es)
        .await;
    let exporter = Exporter::start(&["--es.url", &es.uri(), "--web.enable-lifecycle"]);
    exporter.wait_ready().await;

    assert_eq!(
        post(&exporter, "/-/reload").await,
        (
            400,
            "no configuration file to reload: the cluster comes from --es.url\n".to_owned()
        )
    );
    let text = exporter.metrics().await;
    assert_eq!(polls(&text, "solo"), Some(1.0));
    assert_eq!(value(&text, RELOAD_OK), Some(1.0));
    let event = nth_event(&exporter, "nothing to reload: no --config.file", 0).await;
    assert_eq!(event["level"], "INFO");
}

#[tokio::test(flavor = "multi_thread")]
async fn concurrent_reloads_run_one_after_another_and_leave_one_poller_per_cluster() {
    let es = elasticsearch().await;
    let dir = tempfile::tempdir().unwrap();
    let (exporter, file) = start(
        dir.path(),
        &config(&es, &["first"]),
        &["--web.enable-lifecycle"],
    );
    exporter.wait_ready().await;

    std::fs::write(&file, config(&es, &["first", "second"])).unwrap();
    hang_up(&exporter);
    let answers = reload_all_at_once(&exporter, 4).await;
    assert_eq!(answers, vec![(200, "Reloaded\n".to_owned()); 4]);
    for index in 0..5 {
        nth_event(&exporter, "reloaded the configuration", index).await;
    }

    // Settled: each cluster is polled once by its one poller, and then not for an hour.
    let text = exporter
        .wait_until("both clusters polled", |t| {
            polls(t, "first") >= Some(2.0) && polls(t, "second") >= Some(1.0)
        })
        .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let later = exporter.metrics().await;
    assert_eq!(polls(&later, "first"), polls(&text, "first"));
    assert_eq!(polls(&later, "second"), polls(&text, "second"));
    let requests = es.received_requests().await.unwrap();
    let second = requests
        .iter()
        .filter(|r| r.url.path() == "/second/_remote/info")
        .count();
    assert!(second <= 5, "{second} polls of second from 5 reloads");
}

/// `count` reloads over HTTP, all sent at once.
async fn reload_all_at_once(exporter: &Exporter, count: usize) -> Vec<(u16, String)> {
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..count {
        let url = exporter.url("/-/reload");
        tasks.spawn(async move {
            let response = reqwest::Client::new().post(url).send().await.unwrap();
            (response.status().as_u16(), response.text().await.unwrap())
        });
    }
    tasks.join_all().await
}
