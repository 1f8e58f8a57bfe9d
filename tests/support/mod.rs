//! Shared pieces of the integration tests: the exporter binary as a child process, and fake
//! Elasticsearch answers over real HTTP on loopback.
#![allow(dead_code)]

use std::ffi::OsStr;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, Once, OnceLock};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// The exporter binary, running until dropped.
pub struct Exporter {
    child: Child,
    pub address: String,
    logs: Arc<Mutex<Vec<String>>>,
    _dir: Option<tempfile::TempDir>,
}

impl Exporter {
    /// Starts the exporter with a configuration file holding `yaml`.
    pub fn with_config(yaml: &str) -> Self {
        let dir = temp_dir();
        let file = dir.path().join("config.yml");
        std::fs::write(&file, yaml).unwrap();
        let mut exporter = Self::start(&["--config.file", file.to_str().unwrap()]);
        exporter._dir = Some(dir);
        exporter
    }

    /// Starts the exporter with the given flags, listening on a free loopback port, logging
    /// JSON at debug level; returns once it listens. It dies with the test process (see
    /// [`command_dying_with_test`]), so call this from the test's own thread.
    pub fn start(args: &[&str]) -> Self {
        let mut child = command_dying_with_test(env!("CARGO_BIN_EXE_es-remote-exporter"))
            .args(args)
            .args([
                "--web.listen-address",
                "127.0.0.1:0",
                "--log.format",
                "json",
            ])
            .args(["--log.level", "debug"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let logs = Arc::new(Mutex::new(Vec::new()));
        let (address_tx, address_rx) = std::sync::mpsc::channel();
        let stderr = child.stderr.take().unwrap();
        let sink = logs.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Ok(event) = serde_json::from_str::<serde_json::Value>(&line)
                    && event["message"] == "listening"
                {
                    let _ = address_tx.send(event["address"].as_str().unwrap().to_owned());
                }
                sink.lock().unwrap().push(line);
            }
        });
        let address = match address_rx.recv_timeout(Duration::from_secs(20)) {
            Ok(address) => address,
            Err(_) => {
                let _ = child.kill();
                panic!("exporter did not start: {:?}", logs.lock().unwrap());
            }
        };
        Self {
            child,
            address,
            logs,
            _dir: None,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.address)
    }

    pub async fn get(&self, path: &str) -> (u16, String) {
        let response = reqwest::get(self.url(path)).await.unwrap();
        (response.status().as_u16(), response.text().await.unwrap())
    }

    pub async fn metrics(&self) -> String {
        let (status, body) = self.get("/metrics").await;
        assert_eq!(status, 200);
        body
    }

    /// Waits until every cluster has been polled once.
    pub async fn wait_ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while self.get("/-/ready").await.0 != 200 {
            assert!(Instant::now() < deadline, "exporter never became ready");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Scrapes until `check` holds for the metrics text, for at most 20 seconds.
    pub async fn wait_until(&self, what: &str, check: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let text = self.metrics().await;
            if check(&text) {
                return text;
            }
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {what}:\n{text}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Every log line so far.
    pub fn logs(&self) -> Vec<String> {
        self.logs.lock().unwrap().clone()
    }

    /// Log events (parsed JSON) whose message is `message`.
    pub fn events(&self, message: &str) -> Vec<serde_json::Value> {
        self.logs()
            .iter()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .filter(|e| e["message"] == message)
            .collect()
    }

    /// Sends SIGTERM and returns the exit code.
    pub fn terminate(mut self) -> Option<i32> {
        let pid = self.child.id().to_string();
        Command::new("kill").args(["-TERM", &pid]).status().unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status.code();
            }
            assert!(Instant::now() < deadline, "exporter ignored SIGTERM");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Exporter {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A command for `program` whose process dies with the test process, also when the test is
/// killed with SIGKILL (a CI timeout), which runs no `Drop`: otherwise an exporter would go on
/// polling, orphaned to PID 1. On Linux it runs through util-linux's `setpriv --pdeathsig KILL
/// -- <program>`: setpriv asks the kernel (`PR_SET_PDEATHSIG`) to send SIGKILL when the parent
/// goes away, then execs the program, which keeps that setting, setpriv's pid and its own exit
/// status. No wrapper stays behind and no unsafe code is needed.
///
/// NB: the kernel sends the signal when the *thread* that spawned the child ends. Spawn from a
/// thread that lives at least as long as the child: the test's own (a tokio test's body runs
/// on it), or one that waits for the child. And a test process killed in the microseconds
/// between the fork and setpriv's `prctl` still leaves an orphan. Elsewhere than on Linux the
/// program runs directly and is cleaned up only when its owner is dropped.
pub fn command_dying_with_test(program: impl AsRef<OsStr>) -> Command {
    if !cfg!(target_os = "linux") {
        return Command::new(program);
    }
    static SETPRIV: OnceLock<bool> = OnceLock::new();
    let found = SETPRIV.get_or_init(|| {
        Command::new("setpriv")
            .arg("--version")
            .stdout(Stdio::null())
            .status()
            .is_ok_and(|status| status.success())
    });
    assert!(
        *found,
        "the tests need setpriv (util-linux) so that the processes they start die with them"
    );
    let mut command = Command::new("setpriv");
    command.args(["--pdeathsig", "KILL", "--"]).arg(program);
    command
}

/// What every directory of [`temp_dir`] is named after, followed by the test process's pid.
pub const TEMP_PREFIX: &str = "es-remote-exporter-test-";

/// A new temporary directory, `$TMPDIR/es-remote-exporter-test-<pid>-<random>`, removed when
/// dropped. A test process that is killed (SIGKILL, a CI timeout, Ctrl-C) drops nothing and
/// leaves its directories behind, so the first call in each test process removes those of
/// test processes that are gone; until then `rm -rf /tmp/es-remote-exporter-test-*` does.
pub fn temp_dir() -> tempfile::TempDir {
    static SWEPT: Once = Once::new();
    SWEPT.call_once(remove_temp_dirs_of_dead_tests);
    tempfile::Builder::new()
        .prefix(&format!("{TEMP_PREFIX}{}-", std::process::id()))
        .tempdir()
        .unwrap()
}

/// Removes the [`temp_dir`] directories whose process has no `/proc` entry any more. A pid
/// reused since keeps its directory, which is harmless; without `/proc` nothing is removed.
fn remove_temp_dirs_of_dead_tests() {
    let proc = Path::new("/proc");
    if !proc.join("self").exists() {
        return;
    }
    let Ok(entries) = std::fs::read_dir(std::env::temp_dir()) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let pid = name
            .to_str()
            .and_then(|name| name.strip_prefix(TEMP_PREFIX))
            .and_then(|rest| rest.split('-').next())
            .and_then(|pid| pid.parse::<u32>().ok());
        if let Some(pid) = pid
            && !proc.join(pid.to_string()).exists()
        {
            // Another test process may be removing it at the same moment.
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

/// Sample lines of `text` whose labels include `cluster="<cluster>"`, sorted.
pub fn lines_of<'a>(text: &'a str, cluster: &str) -> Vec<&'a str> {
    let needle = format!("cluster=\"{cluster}\"");
    let mut lines: Vec<_> = text
        .lines()
        .filter(|l| !l.starts_with('#') && l.contains(&needle))
        .collect();
    lines.sort_unstable();
    lines
}

/// The health checker's per-remote families, exported for every remote of every cluster.
pub const HEALTH_FAMILIES: [&str; 4] = [
    "es_remote_configured",
    "es_remote_health",
    "es_remote_disconnects_total",
    "es_remote_last_connected_timestamp_seconds",
];

/// Whether a sample line belongs to one of [`HEALTH_FAMILIES`].
pub fn is_health_line(line: &str) -> bool {
    let name = line.split('{').next().unwrap_or_default();
    HEALTH_FAMILIES.contains(&name)
}

/// Sample lines of `text` for the remotes of one cluster, sorted, without the health
/// checker's families: callers compare the core per-remote gauges exactly, and the health
/// series have their own tests (`health_metrics.rs`, `health_endpoint.rs`) and their own
/// helper, [`health_lines`]. A test of a vanished remote checks separately that none of its
/// series, health ones included, is left.
pub fn remote_lines<'a>(text: &'a str, cluster: &str) -> Vec<&'a str> {
    lines_of(text, cluster)
        .into_iter()
        .filter(|l| l.contains("remote_cluster=") && !is_health_line(l))
        .collect()
}

/// The lines of the health checker's families for one cluster, sorted. A running exporter
/// stamps `es_remote_last_connected_timestamp_seconds` with the clock, so a value other
/// than 0 reads `<time>` when it lies after 2023-11-14 (Unix time 1,700,000,000).
pub fn health_lines(text: &str, cluster: &str) -> Vec<String> {
    lines_of(text, cluster)
        .into_iter()
        .filter(|l| is_health_line(l))
        .map(|l| match l.rsplit_once(' ') {
            Some((series, time))
                if series.starts_with("es_remote_last_connected_timestamp_seconds{")
                    && time.parse::<f64>().is_ok_and(|t| t > 1_700_000_000.0) =>
            {
                format!("{series} <time>")
            }
            _ => l.to_owned(),
        })
        .collect()
}

/// The value of the sample line that starts with `series` followed by a space.
pub fn value(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| {
            l.strip_prefix(series)
                .and_then(|rest| rest.strip_prefix(' '))
        })
        .map(|v| v.parse().unwrap())
}

pub fn fixture(relative: &str) -> Vec<u8> {
    std::fs::read(fixture_path(relative)).unwrap()
}

pub fn fixture_path(relative: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(relative)
}

/// A loopback port with nothing listening on it.
pub fn closed_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

/// A server that answers every connection with a 200 whose chunked body never ends, for at
/// most 256 MiB or until the client hangs up. Returns its base URL.
pub async fn endless_body_server() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut request = [0u8; 4096];
                let _ = socket.read(&mut request).await;
                let head = "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n\
                            transfer-encoding: chunked\r\n\r\n";
                if socket.write_all(head.as_bytes()).await.is_err() {
                    return;
                }
                let chunk = format!("{:x}\r\n{}\r\n", 64 * 1024, " ".repeat(64 * 1024));
                for _ in 0..4096 {
                    if socket.write_all(chunk.as_bytes()).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    format!("http://{address}/")
}

/// `value` with every `since` and `polled_at` replaced by `"<time>"`, after checking that each
/// is RFC 3339 (or null, which stays null): the health document's times are wall-clock times.
pub fn without_times(mut value: serde_json::Value) -> serde_json::Value {
    fn walk(value: &mut serde_json::Value) {
        match value {
            serde_json::Value::Object(map) => {
                for (key, item) in map.iter_mut() {
                    if (key == "since" || key == "polled_at") && !item.is_null() {
                        let text = item.as_str().expect("a time is a string");
                        humantime::parse_rfc3339(text).expect("a time is RFC 3339");
                        *item = serde_json::Value::from("<time>");
                    } else {
                        walk(item);
                    }
                }
            }
            serde_json::Value::Array(items) => items.iter_mut().for_each(walk),
            _ => {}
        }
    }
    walk(&mut value);
    value
}

/// Mounts `response` as the `_remote/info` answer of the fake cluster under `/<prefix>`.
pub async fn answer(
    server: &wiremock::MockServer,
    prefix: &str,
    response: wiremock::ResponseTemplate,
) {
    wiremock::Mock::given(wiremock::matchers::method("GET"))
        .and(wiremock::matchers::path(format!("/{prefix}/_remote/info")))
        .respond_with(response)
        .mount(server)
        .await;
}

/// A 200 answer carrying `body` as JSON.
pub fn json_answer(body: impl AsRef<[u8]>) -> wiremock::ResponseTemplate {
    wiremock::ResponseTemplate::new(200).set_body_raw(body.as_ref().to_vec(), "application/json")
}

/// The text exposition of the snapshot collector alone (no process metrics).
pub fn render_collector(state: std::sync::Arc<es_remote_exporter::snapshot::State>) -> String {
    use prometheus::Encoder;
    let registry = prometheus::Registry::new();
    registry
        .register(Box::new(es_remote_exporter::metrics::StateCollector::new(
            state,
        )))
        .unwrap();
    let mut text = Vec::new();
    prometheus::TextEncoder::new()
        .encode(&registry.gather(), &mut text)
        .unwrap();
    String::from_utf8(text).unwrap()
}
