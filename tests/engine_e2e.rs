//! The exporter against two real engines (`tests/engine`): B's remotes to A watched through a
//! stop of A, a restart without traffic, a cross-cluster search, a removal and an addition.

mod support;

use std::fs::File;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use support::{Exporter, command_dying_with_test, lines_of, temp_dir, value};

/// Two JVMs beside two exporters do not fit a 2-core machine, so one flavour runs at a time.
static ENGINES: Mutex<()> = Mutex::new(());

/// How often the exporter polls B; its timeout is below it, as the config demands.
const POLL_INTERVAL: Duration = Duration::from_secs(1);
/// Start-up took 4–6 s when measured; a loaded machine gets far more room.
const READY_WITHIN: Duration = Duration::from_secs(120);
/// The harness bounds each command at 120 s itself and answers `FAILED` past that.
const ANSWER_WITHIN: Duration = Duration::from_secs(150);
/// How long a restarted A is watched for a reconnect that must not happen.
const QUIET_AFTER_RESTART: Duration = Duration::from_secs(5);

/// The per-remote gauges of the metric contract that come from `_remote/info` itself; the
/// health checker's series are left to its own tests.
const CONNECTION_GAUGES: [&str; 9] = [
    "es_remote_connected",
    "es_remote_nodes_connected",
    "es_remote_max_connections",
    "es_remote_proxy_sockets_connected",
    "es_remote_max_proxy_sockets",
    "es_remote_seeds",
    "es_remote_skip_unavailable",
    "es_remote_initial_connect_timeout_seconds",
    "es_remote_info",
];

#[test]
fn opensearch_remotes_go_down_stay_down_after_restart_and_return_with_traffic() {
    scenario("opensearch");
}

#[test]
fn elasticsearch_remotes_go_down_stay_down_after_restart_and_return_with_traffic() {
    scenario("elasticsearch");
}

/// Ports of one harness run, from its `READY` line.
#[derive(Debug, Default)]
struct Ports {
    a_transport: u16,
    b_http: u16,
}

/// One `tests/engine/run.sh` child (the JVM holding clusters A and B of one flavour), driven
/// over its line protocol. Dropping it quits the harness, and kills it if it does not exit.
struct Engines {
    flavour: &'static str,
    child: Child,
    commands: Option<ChildStdin>,
    answers: Receiver<String>,
    log: PathBuf,
    ports: Ports,
    _dir: tempfile::TempDir,
}

impl Engines {
    /// Starts the harness and waits for `READY`.
    fn start(flavour: &'static str) -> Self {
        let engine = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/engine");
        let built = engine.join(flavour).join("target");
        assert!(
            built.join("classes").is_dir() && built.join("lib").is_dir(),
            "the {flavour} engine is not built: run tests/engine/build.sh first \
             (scripts/test.sh does)"
        );

        let dir = temp_dir();
        let log = dir.path().join("engine.log");
        // Closing stdin already ends the harness, but only once it reads it; the parent-death
        // signal ends it also while it is busy or stuck.
        let mut child = command_dying_with_test(engine.join("run.sh"))
            .arg(flavour)
            .arg(dir.path().join("work"))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(File::create(&log).unwrap())
            .spawn()
            .unwrap_or_else(|err| panic!("failed to run tests/engine/run.sh: {err}"));

        // A reader thread turns stdout into a channel, so that every wait can have a bound.
        let stdout = child.stdout.take().unwrap();
        let (sender, answers) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if sender.send(line).is_err() {
                    break;
                }
            }
        });
        let mut engines = Self {
            flavour,
            commands: child.stdin.take(),
            child,
            answers,
            log,
            ports: Ports::default(),
            _dir: dir,
        };

        let ready = engines.answer("start-up", READY_WITHIN);
        match parse_ready(&ready) {
            Some(ports) => engines.ports = ports,
            None => engines.fail(&format!("unexpected first line {ready:?}")),
        }
        engines
    }

    /// Sends `command` and returns its answer, which must start with `expected`.
    fn send(&mut self, command: &str, expected: &str) -> String {
        let commands = self.commands.as_mut().unwrap();
        if let Err(err) = writeln!(commands, "{command}").and_then(|()| commands.flush()) {
            self.fail(&format!("failed to send {command:?}: {err}"));
        }
        let answer = self.answer(command, ANSWER_WITHIN);
        if !answer.starts_with(expected) {
            self.fail(&format!(
                "{command:?} answered {answer:?}, not {expected:?}"
            ));
        }
        answer
    }

    fn answer(&mut self, step: &str, within: Duration) -> String {
        match self.answers.recv_timeout(within) {
            Ok(line) if line.contains("not built") => {
                self.fail(&format!("{line}; run tests/engine/build.sh first"))
            }
            Ok(line) if line.starts_with("FAILED") => self.fail(&line),
            Ok(line) => line,
            Err(RecvTimeoutError::Timeout) => {
                self.fail(&format!("no answer to {step} in {within:?}"))
            }
            Err(RecvTimeoutError::Disconnected) => self.fail(&format!("exited during {step}")),
        }
    }

    /// Panics with the end of the harness's stderr, where the engines' errors are, once the
    /// harness has written it all. After a failed command the harness would go on (that suits
    /// an interactive session); closing its stdin makes it close both nodes and exit.
    fn fail(&mut self, problem: &str) -> ! {
        self.commands = None;
        self.exited_within(Duration::from_secs(5));
        let log = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        let tail = lines[lines.len().saturating_sub(40)..].join("\n");
        panic!(
            "{} harness: {problem}\n--- last lines of its stderr ---\n{tail}",
            self.flavour
        );
    }

    fn exited_within(&mut self, within: Duration) -> bool {
        let deadline = Instant::now() + within;
        while Instant::now() < deadline {
            match self.child.try_wait() {
                Ok(None) => std::thread::sleep(Duration::from_millis(50)),
                Ok(Some(_)) | Err(_) => return true,
            }
        }
        false
    }
}

impl Drop for Engines {
    fn drop(&mut self) {
        // `quit` closes B then A; closing stdin right after is a second way of saying it.
        if let Some(mut commands) = self.commands.take() {
            let _ = writeln!(commands, "quit");
        }
        if !self.exited_within(Duration::from_secs(10)) {
            // run.sh execs java, so this is the JVM itself.
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

fn parse_ready(line: &str) -> Option<Ports> {
    let mut ports = Ports::default();
    for field in line.strip_prefix("READY ")?.split(' ') {
        let (name, port) = field.split_once('=')?;
        let port = port.parse().ok()?;
        match name {
            "a_transport" => ports.a_transport = port,
            "b_http" => ports.b_http = port,
            _ => {}
        }
    }
    (ports.a_transport != 0 && ports.b_http != 0).then_some(ports)
}

/// The whole story for one flavour, serialised with the other flavour's.
fn scenario(flavour: &'static str) {
    let _one_at_a_time = ENGINES.lock().unwrap_or_else(PoisonError::into_inner);
    let started = Instant::now();
    let mut engines = Engines::start(flavour);
    println!("{flavour}: READY after {:?}", started.elapsed());
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(watch(&mut engines));
    drop(engines);
    println!("{flavour}: whole scenario {:?}", started.elapsed());
}

async fn watch(engines: &mut Engines) {
    let flavour = engines.flavour;
    let a_transport = engines.ports.a_transport;
    let b_url = format!("http://127.0.0.1:{}", engines.ports.b_http);
    let exporter = Exporter::with_config(&format!(
        "poll_interval: {}ms\ntimeout: 800ms\nclusters:\n  - name: b\n    url: {b_url}\n",
        POLL_INTERVAL.as_millis()
    ));
    exporter.wait_ready().await;

    // 1. Both remotes as the harness set them up, connected.
    let connected = expected(&[
        sniff("b", "a_sniff", true),
        proxy("b", "a_proxy", a_transport, true),
    ]);
    let text = exporter
        .wait_until("both remotes connected", |text| {
            connection_lines(text, "b") == connected
        })
        .await;
    assert_eq!(value(&text, r#"es_remote_up{cluster="b"}"#), Some(1.0));
    assert_eq!(
        value(&text, r#"es_remote_clusters{cluster="b"}"#),
        Some(2.0)
    );

    // 2. A stopped: B drops both connections at once (a clean close, not a crash), so the
    // exporter shows it at the next poll. The bound is a deadline, not a speed assertion.
    engines.send("stop a", "STOPPED a");
    let stopped = Instant::now();
    let disconnected = expected(&[
        sniff("b", "a_sniff", false),
        proxy("b", "a_proxy", a_transport, false),
    ]);
    let bound = POLL_INTERVAL + Duration::from_secs(10);
    loop {
        let text = exporter.metrics().await;
        if connection_lines(&text, "b") == disconnected {
            break;
        }
        assert!(
            stopped.elapsed() < bound,
            "both remotes not disconnected {bound:?} after STOPPED:\n{text}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    println!(
        "{flavour}: STOPPED a -> exporter shows both disconnected after {:?}",
        stopped.elapsed()
    );

    // 3. A back on the same ports, but nothing sends cross-cluster traffic: the engines do
    // not reconnect on a timer, so `connected` stays 0 poll after poll.
    engines.send("start a", "STARTED a");
    let restarted = Instant::now();
    let polls = |text: &str| value(text, r#"es_remote_scrapes_total{cluster="b"}"#).unwrap();
    let polls_at_restart = polls(&exporter.metrics().await);
    let mut text = String::new();
    while restarted.elapsed() < QUIET_AFTER_RESTART {
        text = exporter.metrics().await;
        assert_eq!(value(&text, r#"es_remote_up{cluster="b"}"#), Some(1.0));
        assert_eq!(connection_lines(&text, "b"), disconnected);
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let quiet_polls = polls(&text) - polls_at_restart;
    assert!(quiet_polls >= 4.0, "only {quiet_polls} polls after restart");

    // One search over both aliases reconnects both modes, the skipped proxy alias included.
    engines.send("ccs", "CCS 200");
    let searched = Instant::now();
    exporter
        .wait_until("both remotes connected again after ccs", |text| {
            connection_lines(text, "b") == connected
        })
        .await;
    println!(
        "{flavour}: CCS -> exporter shows both connected after {:?}",
        searched.elapsed()
    );

    // 4. A remote removed from B's settings takes every series of it along.
    engines.send("remove a_proxy", "REMOVED a_proxy");
    let only_sniff = expected(&[sniff("b", "a_sniff", true)]);
    let text = exporter
        .wait_until("a_proxy gone", |text| {
            connection_lines(text, "b") == only_sniff
        })
        .await;
    assert_eq!(
        text.lines()
            .filter(|line| line.contains(r#"remote_cluster="a_proxy""#))
            .collect::<Vec<_>>(),
        Vec::<&str>::new()
    );
    assert_eq!(
        value(&text, r#"es_remote_clusters{cluster="b"}"#),
        Some(1.0)
    );

    // A remote added to the settings: both engines connect to it when the setting lands.
    engines.send("add a_extra", "ADDED a_extra");
    let added = Instant::now();
    let with_extra = expected(&[sniff("b", "a_sniff", true), sniff("b", "a_extra", true)]);
    let text = exporter
        .wait_until("a_extra connected", |text| {
            connection_lines(text, "b") == with_extra
        })
        .await;
    println!(
        "{flavour}: ADDED a_extra -> exporter shows it connected after {:?}",
        added.elapsed()
    );
    assert_eq!(
        value(&text, r#"es_remote_clusters{cluster="b"}"#),
        Some(2.0)
    );

    // 5. Without a config file the cluster is named from B's own `GET /`.
    let by_url = Exporter::start(&["--es.url", &b_url]);
    by_url.wait_ready().await;
    let text = by_url.metrics().await;
    assert_eq!(
        value(&text, r#"es_remote_up{cluster="cluster-b"}"#),
        Some(1.0)
    );
    assert_eq!(
        connection_lines(&text, "cluster-b"),
        expected(&[
            sniff("cluster-b", "a_sniff", true),
            sniff("cluster-b", "a_extra", true),
        ])
    );
}

/// The connection gauges of every remote of `cluster`, sorted.
fn connection_lines<'a>(text: &'a str, cluster: &str) -> Vec<&'a str> {
    lines_of(text, cluster)
        .into_iter()
        .filter(|line| {
            let name = line.split('{').next().unwrap();
            line.contains("remote_cluster=") && CONNECTION_GAUGES.contains(&name)
        })
        .collect()
}

fn expected(remotes: &[Vec<String>]) -> Vec<String> {
    let mut lines = remotes.concat();
    lines.sort_unstable();
    lines
}

/// A sniff remote seeded with A's transport address, `skip_unavailable` at its default.
fn sniff(cluster: &str, remote: &str, connected: bool) -> Vec<String> {
    let labels = format!(r#"cluster="{cluster}",remote_cluster="{remote}""#);
    let up = u8::from(connected);
    vec![
        format!("es_remote_connected{{{labels}}} {up}"),
        format!(
            r#"es_remote_info{{{labels},mode="sniff",proxy_address="",server_name="",credentials="none"}} 1"#
        ),
        format!("es_remote_initial_connect_timeout_seconds{{{labels}}} 30"),
        format!("es_remote_max_connections{{{labels}}} 3"),
        format!("es_remote_nodes_connected{{{labels}}} {up}"),
        format!("es_remote_seeds{{{labels}}} 1"),
        format!("es_remote_skip_unavailable{{{labels}}} 0"),
    ]
}

/// A proxy remote on A's transport address, `skip_unavailable: true`.
fn proxy(cluster: &str, remote: &str, a_transport: u16, connected: bool) -> Vec<String> {
    let labels = format!(r#"cluster="{cluster}",remote_cluster="{remote}""#);
    let sockets = if connected { 18 } else { 0 };
    vec![
        format!("es_remote_connected{{{labels}}} {}", u8::from(connected)),
        format!(
            r#"es_remote_info{{{labels},mode="proxy",proxy_address="127.0.0.1:{a_transport}",server_name="",credentials="none"}} 1"#
        ),
        format!("es_remote_initial_connect_timeout_seconds{{{labels}}} 30"),
        format!("es_remote_max_proxy_sockets{{{labels}}} 18"),
        format!("es_remote_proxy_sockets_connected{{{labels}}} {sockets}"),
        format!("es_remote_skip_unavailable{{{labels}}} 1"),
    ]
}
