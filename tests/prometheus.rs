//! A real Prometheus in the loop: it scrapes the exporter binary, which polls a fake
//! Elasticsearch, and evaluates the shipped alert rules, so the rules are proven against the
//! series exactly as Prometheus stores them, not only against promtool's hand-written input.

mod support;

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use support::{Exporter, fixture};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

const ALERT: &str = "EsRemoteClusterDisconnected";

/// The sniff remote `es-a` loses its connection and gets it back: the critical alert goes
/// pending, fires, and resolves, for that remote only.
#[tokio::test(flavor = "multi_thread")]
async fn a_disconnected_remote_goes_pending_then_fires_then_resolves_in_prometheus() {
    let sniff_connected = Arc::new(AtomicBool::new(true));
    let es = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/prod-b/_remote/info"))
        .respond_with(RemoteInfo(sniff_connected.clone()))
        .mount(&es)
        .await;
    let base = es.uri();
    let exporter = Exporter::with_config(&format!(
        r#"
poll_interval: 1s
timeout: 500ms
clusters:
  - {{ name: prod-b, url: "{base}/prod-b" }}
"#
    ));
    exporter.wait_ready().await;
    let prometheus = Prometheus::start(&exporter.address).await;
    let instance = exporter.address.as_str();

    let started = Instant::now();
    let wait = Wait::at_most("es_remote_connected of both remotes", 15);
    let connected = loop {
        let result = prometheus.query("es_remote_connected").await;
        if result.as_array().unwrap().len() == 2 {
            break result;
        }
        wait.a_little().await;
    };
    let series = |remote: &str, value: &str| {
        json!({
            "metric": {
                "__name__": "es_remote_connected",
                "job": "es-remote-exporter",
                "instance": instance,
                "cluster": "prod-b",
                "remote_cluster": remote,
            },
            "value": value,
        })
    };
    assert_eq!(
        without_timestamps(connected),
        json!([series("es-a", "1"), series("es-b", "1")])
    );
    assert_eq!(
        without_timestamps(prometheus.query("es_remote_proxy_sockets_connected").await)[0]["value"],
        "18"
    );
    assert_eq!(prometheus.alerts(ALERT).await, Vec::<Value>::new());
    eprintln!("series queryable after {:?}", started.elapsed());

    sniff_connected.store(false, Ordering::SeqCst);
    let disconnected = Instant::now();
    let expected_labels = json!({
        "alertname": ALERT,
        "severity": "critical",
        "job": "es-remote-exporter",
        "instance": instance,
        "cluster": "prod-b",
        "remote_cluster": "es-a",
    });
    let mut pending_at = None;
    let wait = Wait::at_most("the alert to fire", 15);
    let firing_at = loop {
        let alerts = prometheus.alerts(ALERT).await;
        if let [alert] = alerts.as_slice() {
            assert_eq!(alert["labels"], expected_labels);
            match alert["state"].as_str().unwrap() {
                "pending" => _ = pending_at.get_or_insert(disconnected.elapsed()),
                "firing" => break disconnected.elapsed(),
                other => panic!("unexpected alert state {other}"),
            }
        } else {
            // Only es-a, and only the critical twin, at every step of the way.
            assert!(alerts.is_empty(), "expected at most one alert: {alerts:?}");
        }
        wait.a_little().await;
    };
    let pending_at = pending_at.expect("the alert fired without being seen pending");
    eprintln!("after the disconnect: pending at {pending_at:?}, firing at {firing_at:?}");
    // `for: 5m` became 5s. Prometheus's own evaluation times tell how long the alert was
    // pending before its first firing sample: at least that, however loaded this machine is.
    let held = prometheus
        .query(&format!(
            "timestamp(ALERTS{{alertname=\"{ALERT}\",alertstate=\"firing\"}}) \
             - ignoring(alertstate) ALERTS_FOR_STATE{{alertname=\"{ALERT}\"}}"
        ))
        .await;
    let held: f64 = held[0]["value"][1].as_str().unwrap().parse().unwrap();
    assert!(held >= 5.0, "firing after {held} s pending");

    sniff_connected.store(true, Ordering::SeqCst);
    let reconnected = Instant::now();
    let wait = Wait::at_most("the alert to resolve", 15);
    while !prometheus.alerts(ALERT).await.is_empty() {
        wait.a_little().await;
    }
    eprintln!(
        "after the reconnect: resolved at {:?}",
        reconnected.elapsed()
    );
    // Nothing else fired on the way: no flapping, no removed remote, no failed poll.
    assert_eq!(prometheus.all_alerts().await, Vec::<Value>::new());
    eprintln!("whole run: {:?}", started.elapsed());
}

/// The answer of es-8.15.json (sniff es-a and proxy es-b, both connected), with es-a's
/// `skip_unavailable` turned false so the critical twin of the alert is the one that must
/// fire, es-b's sockets at their max (the fixture's 9 of 18 would rightly start
/// EsRemoteClusterProxySocketsBelowMax), and es-a disconnected while the flag says so. Switching through a flag, instead of
/// resetting the mock, leaves no moment in which the fake answers 404: a failed poll would
/// remove the series and the test would rest on the rules' bridging, not on `connected 0`.
struct RemoteInfo(Arc<AtomicBool>);

impl Respond for RemoteInfo {
    fn respond(&self, _: &Request) -> ResponseTemplate {
        let mut body: Value = serde_json::from_slice(&fixture("shapes/es-8.15.json")).unwrap();
        body["es-a"]["skip_unavailable"] = json!(false);
        body["es-b"]["num_proxy_sockets_connected"] = json!(18);
        if !self.0.load(Ordering::SeqCst) {
            body["es-a"]["connected"] = json!(false);
            body["es-a"]["num_nodes_connected"] = json!(0);
        }
        ResponseTemplate::new(200).set_body_json(body)
    }
}

/// A Prometheus server from Debian's `prometheus` package, scraping one exporter every
/// second and evaluating the shipped rules, until dropped.
struct Prometheus {
    child: Child,
    url: String,
    client: reqwest::Client,
    dir: tempfile::TempDir,
}

impl Prometheus {
    async fn start(exporter: &str) -> Self {
        let dir = support::temp_dir();
        let rules = dir.path().join("rules.yml");
        std::fs::write(&rules, shortened_rules()).unwrap();
        let config = dir.path().join("prometheus.yml");
        // JSON is YAML too, and spares quoting the paths by hand.
        let settings = json!({
            "global": {
                "scrape_interval": "1s",
                "scrape_timeout": "1s",
                "evaluation_interval": "1s",
            },
            "rule_files": [rules],
            "scrape_configs": [{
                "job_name": "es-remote-exporter",
                "static_configs": [{ "targets": [exporter] }],
            }],
        });
        std::fs::write(&config, settings.to_string()).unwrap();
        // NB: the port is free when looked up but could be taken before Prometheus binds it;
        // Prometheus then exits and the readiness wait below shows its log.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let log = File::create(dir.path().join("prometheus.log")).unwrap();
        // Killed with the test process, so that a killed test leaves no Prometheus running.
        let child = support::command_dying_with_test(prometheus_binary())
            .arg(format!("--config.file={}", config.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.path().join("data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap();
        let mut prometheus = Self {
            child,
            url: format!("http://127.0.0.1:{port}"),
            client: reqwest::Client::builder().no_proxy().build().unwrap(),
            dir,
        };
        prometheus.wait_ready().await;
        prometheus
    }

    async fn wait_ready(&mut self) {
        let wait = Wait::at_most("prometheus to be ready", 10);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                panic!("prometheus exited with {status}:\n{}", self.log());
            }
            let ready = self
                .client
                .get(format!("{}/-/ready", self.url))
                .send()
                .await;
            if ready.is_ok_and(|response| response.status() == 200) {
                return;
            }
            wait.a_little().await;
        }
    }

    /// The `data.result` of an instant query.
    async fn query(&self, promql: &str) -> Value {
        self.api("/api/v1/query", &[("query", promql)]).await["result"].take()
    }

    /// Active (pending or firing) alerts named `name`.
    async fn alerts(&self, name: &str) -> Vec<Value> {
        let mut alerts = self.all_alerts().await;
        alerts.retain(|alert| alert["labels"]["alertname"] == name);
        alerts
    }

    async fn all_alerts(&self) -> Vec<Value> {
        let mut data = self.api("/api/v1/alerts", &[]).await;
        match data["alerts"].take() {
            Value::Array(alerts) => alerts,
            other => panic!("no alerts array: {other}"),
        }
    }

    async fn api(&self, path: &str, params: &[(&str, &str)]) -> Value {
        let url = reqwest::Url::parse_with_params(&format!("{}{path}", self.url), params).unwrap();
        let body = self
            .client
            .get(url)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let mut response: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(response["status"], "success", "{path}: {response}");
        response["data"].take()
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("prometheus.log")).unwrap_or_default()
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            eprintln!("--- prometheus log\n{}", self.log());
        }
    }
}

/// A bounded wait: `a_little` sleeps 100 ms, or fails the test once the time is up.
struct Wait {
    what: &'static str,
    deadline: Instant,
}

impl Wait {
    fn at_most(what: &'static str, seconds: u64) -> Self {
        Self {
            what,
            deadline: Instant::now() + Duration::from_secs(seconds),
        }
    }

    async fn a_little(&self) {
        assert!(
            Instant::now() < self.deadline,
            "timed out waiting for {}",
            self.what
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The shipped rules with every `for:` scaled from minutes to seconds (5m becomes 5s), so
/// pending and firing happen within a test; expressions, labels and annotations stay as
/// shipped. The file is parsed as YAML and written back as JSON, which Prometheus reads as
/// YAML too, so no text rewriting can touch an expression by accident.
fn shortened_rules() -> String {
    let shipped = repository().join("alerts/es-remote-exporter.rules.yml");
    let mut rules: Value =
        serde_saphyr::from_str(&std::fs::read_to_string(shipped).unwrap()).unwrap();
    for group in rules["groups"].as_array_mut().unwrap() {
        for rule in group["rules"].as_array_mut().unwrap() {
            if let Some(duration) = rule.get("for") {
                let shipped = humantime::parse_duration(duration.as_str().unwrap()).unwrap();
                rule["for"] = json!(format!("{}ms", shipped.as_millis() / 60));
            }
        }
    }
    serde_json::to_string_pretty(&rules).unwrap()
}

/// Instant-query samples sorted by remote, with their evaluation timestamps dropped, for exact
/// comparison.
fn without_timestamps(mut result: Value) -> Value {
    let samples = result.as_array_mut().unwrap();
    for sample in samples.iter_mut() {
        sample["value"] = sample["value"][1].take();
    }
    samples.sort_by_key(|sample| sample["metric"]["remote_cluster"].to_string());
    result
}

fn prometheus_binary() -> PathBuf {
    let found = std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default())
        .map(|dir| dir.join("prometheus"))
        .find(|candidate| candidate.is_file());
    found.unwrap_or_else(|| {
        panic!(
            "prometheus not found on PATH: install Debian's prometheus package \
             (apt-get install -y prometheus), which provides /usr/bin/prometheus"
        )
    })
}

fn repository() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}
