//! The exporter against two real engines (`tests/engine`): B's remotes to A watched through a
//! stop of A, a restart without traffic, a cross-cluster search, a removal and an addition;
//! and the health checker (`check`, `/health`, `probe: resolve_cluster`) on the same clusters.

mod support;

use std::fs::File;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant, SystemTime};

use serde_json::{Value, json};
use support::{Exporter, command_dying_with_test, lines_of, temp_dir, value, without_times};

/// Two JVMs beside two exporters do not fit a 2-core machine, so one flavour runs at a time.
static ENGINES: Mutex<()> = Mutex::new(());

/// How often the exporters poll B, and their timeout. B answers `_remote/info` in a few
/// milliseconds; the timeout leaves a loaded machine 1.5 s, and a poll that still fails is
/// skipped by [`Watch`], not held against the engine.
const POLL_INTERVAL: Duration = Duration::from_secs(2);
const POLL_TIMEOUT: Duration = Duration::from_millis(1500);
/// How often a [`Watch`] scrapes: far below the poll interval, so that it sees every poll.
const SCRAPE_EVERY: Duration = Duration::from_millis(20);
/// A guard against a hung exporter, not a bound on anything measured.
const NO_POLL_WITHIN: Duration = Duration::from_secs(60);
/// Start-up took 4–6 s when measured; a loaded machine gets far more room.
const READY_WITHIN: Duration = Duration::from_secs(120);
/// The harness bounds each command at 120 s itself and answers `FAILED` past that.
const ANSWER_WITHIN: Duration = Duration::from_secs(150);
/// How many polls after A's restart must still find both remotes disconnected.
const QUIET_POLLS: usize = 4;

/// The per-remote gauges of the metric contract that come from `_remote/info` itself; the
/// health checker's series are checked through `/health` and `check` below.
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

/// One harness flavour and the engine it must really run, as its `pom.xml` pins it.
struct Flavour {
    name: &'static str,
    /// The line of `tests/engine/<name>/pom.xml` that pins the engine.
    pin: &'static str,
    /// `version.number` in B's `GET /`.
    number: &'static str,
    /// `version.distribution` in B's `GET /`; Elasticsearch 7 has none.
    distribution: Option<&'static str>,
    /// How the exporter names the engine when it refuses the probe.
    runs: &'static str,
}

const OPENSEARCH: Flavour = Flavour {
    name: "opensearch",
    pin: "<opensearch.version>2.19.6</opensearch.version>",
    number: "2.19.6",
    distribution: Some("opensearch"),
    runs: "OpenSearch 2.19.6",
};

const ELASTICSEARCH: Flavour = Flavour {
    name: "elasticsearch",
    pin: "<elasticsearch.version>7.17.29</elasticsearch.version>",
    number: "7.17.29",
    distribution: None,
    runs: "Elasticsearch 7.17.29",
};

#[test]
fn opensearch_remotes_go_down_stay_down_after_restart_and_return_with_traffic() {
    scenario(&OPENSEARCH);
}

#[test]
fn elasticsearch_remotes_go_down_stay_down_after_restart_and_return_with_traffic() {
    scenario(&ELASTICSEARCH);
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

/// One poll of a cluster, as an exporter's `/metrics` shows it until the next poll ends.
struct Poll {
    /// `es_remote_scrapes_total`: which poll this is, counting from 1.
    number: u64,
    /// When it started (Unix seconds): its end, `es_remote_last_scrape_timestamp_seconds`,
    /// less its duration, `es_remote_scrape_duration_seconds`.
    started: f64,
    /// `es_remote_up`: whether B answered it.
    up: bool,
    /// The scrape that showed it.
    text: String,
}

impl Poll {
    fn read(text: String, cluster: &str) -> Self {
        let series = |name: &str| {
            value(&text, &format!(r#"{name}{{cluster="{cluster}"}}"#))
                .unwrap_or_else(|| panic!("no {name} for {cluster}:\n{text}"))
        };
        Self {
            number: series("es_remote_scrapes_total") as u64,
            started: series("es_remote_last_scrape_timestamp_seconds")
                - series("es_remote_scrape_duration_seconds"),
            up: series("es_remote_up") == 1.0,
            text,
        }
    }

    /// Seconds from `moment` to the start of this poll.
    fn after(&self, moment: SystemTime) -> f64 {
        self.started - unix_seconds(moment)
    }
}

/// The polls of one cluster that started after a moment, such as the harness's answer to a
/// command. It scrapes every [`SCRAPE_EVERY`] and tells polls apart by their number, so it
/// sees every one of them in order, and knows the first poll after the moment for certain:
/// that is the poll whose values the tests hold exactly, instead of waiting until some poll
/// shows them.
struct Watch<'a> {
    exporter: &'a Exporter,
    cluster: &'static str,
    moment: SystemTime,
    seen: Option<u64>,
}

impl<'a> Watch<'a> {
    /// Starts watching; call it right after `moment` (well within a poll interval), so that
    /// its first scrape cannot miss a poll that started after the moment.
    fn from(exporter: &'a Exporter, cluster: &'static str, moment: SystemTime) -> Self {
        Self {
            exporter,
            cluster,
            moment,
            seen: None,
        }
    }

    /// Watches every poll of an exporter from its first: each started after whatever happened
    /// before the exporter was started.
    fn from_first(exporter: &'a Exporter, cluster: &'static str) -> Self {
        Self {
            exporter,
            cluster,
            moment: SystemTime::UNIX_EPOCH,
            seen: Some(0),
        }
    }

    /// The next poll that started after the moment and that B answered. A poll without an
    /// answer (`es_remote_up 0`, say a timeout on a loaded machine) says nothing about B's
    /// remotes, so it is skipped, with a line on stdout; none was in the measured runs.
    async fn next_answer(&mut self) -> Poll {
        loop {
            let poll = self.next_poll().await;
            if poll.up {
                return poll;
            }
            println!(
                "{}: poll {} got no answer from B, skipped:\n{}",
                self.cluster,
                poll.number,
                lines_of(&poll.text, self.cluster).join("\n")
            );
        }
    }

    async fn next_poll(&mut self) -> Poll {
        let deadline = Instant::now() + NO_POLL_WITHIN;
        loop {
            let poll = Poll::read(self.exporter.metrics().await, self.cluster);
            let new = match self.seen {
                // The poll on show at the first scrape started before the moment, or it is
                // the first one after it: two polls cannot fit between the two.
                None => {
                    let late = SystemTime::now().duration_since(self.moment).unwrap();
                    assert!(late < POLL_INTERVAL, "started watching {late:?} late");
                    true
                }
                Some(seen) if poll.number > seen => {
                    assert_eq!(
                        poll.number,
                        seen + 1,
                        "poll {} of {} went by unseen: the test did not scrape for a whole \
                         poll interval",
                        seen + 1,
                        self.cluster
                    );
                    true
                }
                Some(_) => false,
            };
            if new {
                self.seen = Some(poll.number);
                // A poll already running at the moment may have asked B before it.
                if poll.after(self.moment) >= 0.0 {
                    return poll;
                }
            }
            assert!(
                Instant::now() < deadline,
                "no poll of {} in {NO_POLL_WITHIN:?}",
                self.cluster
            );
            tokio::time::sleep(SCRAPE_EVERY).await;
        }
    }
}

/// What a `check` run printed and how it exited.
struct Checked {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

impl Checked {
    /// Panics unless `check` exited with `code`, showing what it printed.
    fn assert_exit(&self, code: i32) {
        assert_eq!(
            self.code,
            Some(code),
            "stdout:\n{}stderr:\n{}",
            self.stdout,
            self.stderr
        );
    }
}

/// Runs `es-remote-exporter check` with a configuration file holding `yaml`, plus `args`,
/// logging JSON so that its warnings can be read.
async fn check(yaml: String, args: &[&str]) -> Checked {
    let args: Vec<String> = args.iter().map(|&arg| arg.to_owned()).collect();
    tokio::task::spawn_blocking(move || {
        let dir = temp_dir();
        let file = dir.path().join("config.yml");
        std::fs::write(&file, yaml).unwrap();
        let output = command_dying_with_test(env!("CARGO_BIN_EXE_es-remote-exporter"))
            .arg("check")
            .arg("--config.file")
            .arg(&file)
            .args(["--log.format", "json"])
            .args(&args)
            .stdin(Stdio::null())
            .output()
            .unwrap();
        Checked {
            code: output.status.code(),
            stdout: String::from_utf8(output.stdout).unwrap(),
            stderr: String::from_utf8(output.stderr).unwrap(),
        }
    })
    .await
    .unwrap()
}

/// The log events of a `check` run, without their timestamps.
fn events(stderr: &str) -> Vec<Value> {
    stderr
        .lines()
        .map(|line| {
            let mut event: Value = serde_json::from_str(line)
                .unwrap_or_else(|err| panic!("{err} in log line {line:?}"));
            event.as_object_mut().unwrap().remove("timestamp");
            event
        })
        .collect()
}

/// The whole story for one flavour, serialised with the other flavour's.
fn scenario(flavour: &'static Flavour) {
    let _one_at_a_time = ENGINES.lock().unwrap_or_else(PoisonError::into_inner);
    let started = Instant::now();
    let mut engines = Engines::start(flavour.name);
    println!("{}: READY after {:?}", flavour.name, started.elapsed());
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(watch(flavour, &mut engines));
    drop(engines);
    println!("{}: whole scenario {:?}", flavour.name, started.elapsed());
}

async fn watch(flavour: &Flavour, engines: &mut Engines) {
    let name = flavour.name;
    let a_transport = engines.ports.a_transport;
    let b_url = format!("http://127.0.0.1:{}", engines.ports.b_http);

    // 0. The engine that answers is the one the harness pins.
    let pom = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/engine")
        .join(name)
        .join("pom.xml");
    let pom = std::fs::read_to_string(pom).unwrap();
    assert!(
        pom.contains(flavour.pin),
        "{name}/pom.xml lacks {}",
        flavour.pin
    );
    let root = reqwest::get(format!("{b_url}/"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let root: Value = serde_json::from_str(&root).unwrap();
    assert_eq!(
        (
            &root["name"],
            &root["cluster_name"],
            &root["version"]["number"],
            &root["version"]["distribution"],
        ),
        (
            &json!("b-node"),
            &json!("cluster-b"),
            &json!(flavour.number),
            &json!(flavour.distribution),
        )
    );

    let exporter = Exporter::with_config(&format!(
        "{}clusters:\n  - name: b\n    url: {b_url}\n",
        timing()
    ));
    exporter.wait_ready().await;

    // 1. The harness answers READY once both remotes are connected, so the exporter's first
    // poll (it was started after READY) shows both, with the mode's gauges.
    let connected = expected(&[
        sniff("b", "a_sniff", true),
        proxy("b", "a_proxy", a_transport, true),
    ]);
    let poll = Watch::from_first(&exporter, "b").next_answer().await;
    assert_eq!(connection_lines(&poll.text, "b"), connected);
    assert_eq!(
        value(&poll.text, r#"es_remote_clusters{cluster="b"}"#),
        Some(2.0)
    );

    // The health checker while both are connected: `check` and `/health` say ok, and the
    // probe is refused with the engine's version.
    let refused = format!(
        "probe resolve_cluster needs Elasticsearch 8.18 or later; b runs {}",
        flavour.runs
    );
    check_while_connected(&b_url, &refused).await;
    let health = Exporter::with_config(&health_config(&b_url, &[]));
    health.wait_ready().await;
    assert_health(&health, 200, health_document(&refused, true)).await;

    // 2. A stopped: B drops both connections at once (a clean close, not a crash). B's own
    // `_remote/info`, asked right away, says so, and so does the first poll of each exporter
    // that starts after the stop, whenever in its interval the stop fell.
    engines.send("stop a", "STOPPED a");
    let stopped = SystemTime::now();
    let mut watch = Watch::from(&exporter, "b", stopped);
    let mut health_watch = Watch::from(&health, "b", stopped);
    let status = engines.send("status", "STATUS ");
    let info: Value = serde_json::from_str(&status["STATUS ".len()..]).unwrap();
    assert_eq!(
        (&info["a_sniff"]["connected"], &info["a_proxy"]["connected"]),
        (&json!(false), &json!(false)),
        "{status}"
    );
    let disconnected = expected(&[
        sniff("b", "a_sniff", false),
        proxy("b", "a_proxy", a_transport, false),
    ]);
    let (poll, _) = tokio::join!(watch.next_answer(), health_watch.next_answer());
    assert_eq!(connection_lines(&poll.text, "b"), disconnected);
    println!(
        "{name}: STOPPED a -> poll {} started {:.2} s later and shows both disconnected",
        poll.number,
        poll.after(stopped)
    );
    assert_health(&health, 503, health_document(&refused, false)).await;
    let warnings = health.events("probe unsupported");
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert_eq!(
        (&warnings[0]["level"], &warnings[0]["why"]),
        (&json!("WARN"), &json!(refused))
    );
    drop(health);
    check_after_stop(&b_url, &refused).await;

    // 3. A back on the same transport port, but nothing sends cross-cluster traffic: the
    // engines do not reconnect on a timer, so `connected` stays 0 poll after poll.
    engines.send("start a", "STARTED a");
    let restarted = SystemTime::now();
    let mut watch = Watch::from(&exporter, "b", restarted);
    let mut quiet = Vec::new();
    for _ in 0..QUIET_POLLS {
        let poll = watch.next_answer().await;
        assert_eq!(
            connection_lines(&poll.text, "b"),
            disconnected,
            "poll {}",
            poll.number
        );
        quiet.push(poll);
    }
    println!(
        "{name}: STARTED a -> polls {} to {} (started {:.2} to {:.2} s later) show both disconnected",
        quiet[0].number,
        quiet[QUIET_POLLS - 1].number,
        quiet[0].after(restarted),
        quiet[QUIET_POLLS - 1].after(restarted)
    );

    // One search over both aliases reconnects both modes, the skipped proxy alias included,
    // and the first poll after it shows them connected.
    engines.send("ccs", "CCS 200");
    let searched = SystemTime::now();
    let poll = Watch::from(&exporter, "b", searched).next_answer().await;
    assert_eq!(connection_lines(&poll.text, "b"), connected);
    println!(
        "{name}: CCS 200 -> poll {} started {:.2} s later and shows both connected",
        poll.number,
        poll.after(searched)
    );

    // 4. A remote removed from B's settings takes every series of it along.
    engines.send("remove a_proxy", "REMOVED a_proxy");
    let removed = SystemTime::now();
    let poll = Watch::from(&exporter, "b", removed).next_answer().await;
    assert_eq!(
        connection_lines(&poll.text, "b"),
        expected(&[sniff("b", "a_sniff", true)])
    );
    assert_eq!(
        poll.text
            .lines()
            .filter(|line| line.contains(r#"remote_cluster="a_proxy""#))
            .collect::<Vec<_>>(),
        Vec::<&str>::new()
    );
    assert_eq!(
        value(&poll.text, r#"es_remote_clusters{cluster="b"}"#),
        Some(1.0)
    );
    println!(
        "{name}: REMOVED a_proxy -> poll {} started {:.2} s later and shows only a_sniff",
        poll.number,
        poll.after(removed)
    );

    // A remote added to the settings: B connects to it before it acknowledges the setting,
    // so the first poll after ADDED shows it connected.
    engines.send("add a_extra", "ADDED a_extra");
    let added = SystemTime::now();
    let poll = Watch::from(&exporter, "b", added).next_answer().await;
    assert_eq!(
        connection_lines(&poll.text, "b"),
        expected(&[sniff("b", "a_sniff", true), sniff("b", "a_extra", true)])
    );
    assert_eq!(
        value(&poll.text, r#"es_remote_clusters{cluster="b"}"#),
        Some(2.0)
    );
    println!(
        "{name}: ADDED a_extra -> poll {} started {:.2} s later and shows it connected",
        poll.number,
        poll.after(added)
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

/// `check` on B while both remotes are connected: ok as a table and as JSON, the probe
/// refused in a note and one warning; with an alias B does not have, that one is down.
async fn check_while_connected(b_url: &str, refused: &str) {
    let checked = check(health_config(b_url, &[]), &[]).await;
    checked.assert_exit(0);
    assert_eq!(
        checked.stdout,
        format!(
            "CLUSTER  REMOTE   STATE  MODE   CONNECTIONS  WHY\n\
             b        a_proxy  ok     proxy  18/18        connected (18/18 proxy sockets)\n\
             b        a_sniff  ok     sniff  1/3          connected (1/3 gateway nodes)\n\
             b        -        note   -      -            {refused}\n\
             overall: ok\n"
        )
    );
    assert_eq!(
        events(&checked.stderr),
        vec![json!({
            "level": "WARN",
            "message": "probe unsupported",
            "cluster": "b",
            "why": refused,
        })]
    );

    let checked = check(health_config(b_url, &[]), &["--output", "json"]).await;
    checked.assert_exit(0);
    let document: Value = serde_json::from_str(&checked.stdout).unwrap();
    assert_eq!(without_times(document), health_document(refused, true));

    let checked = check(health_config(b_url, &["a_gone"]), &[]).await;
    checked.assert_exit(2);
    assert_eq!(
        checked.stdout,
        format!(
            "CLUSTER  REMOTE   STATE  MODE   CONNECTIONS  WHY\n\
             b        a_gone   down   -      -            expected, but not in the _remote/info answer\n\
             b        a_proxy  ok     proxy  18/18        connected (18/18 proxy sockets)\n\
             b        a_sniff  ok     sniff  1/3          connected (1/3 gateway nodes)\n\
             b        -        note   -      -            {refused}\n\
             overall: down\n"
        )
    );
}

/// `check` on B while A is stopped: both remotes down, exit 2.
async fn check_after_stop(b_url: &str, refused: &str) {
    let checked = check(health_config(b_url, &[]), &[]).await;
    checked.assert_exit(2);
    assert_eq!(
        checked.stdout,
        format!(
            "CLUSTER  REMOTE   STATE  MODE   CONNECTIONS  WHY\n\
             b        a_proxy  down   proxy  0/18         not connected (0/18 proxy sockets)\n\
             b        a_sniff  down   sniff  0/3          not connected (0/3 gateway nodes)\n\
             b        -        note   -      -            {refused}\n\
             overall: down\n"
        )
    );
}

/// Asserts the status and the body, times masked, of the exporter's `/health`.
async fn assert_health(exporter: &Exporter, status: u16, document: Value) {
    let (got, body) = exporter.get("/health").await;
    assert_eq!(got, status, "{body}");
    let body: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(without_times(body), document);
}

/// A configuration for cluster B that expects both of the harness's remotes as it sets them
/// up (1 gateway node, 18 proxy sockets, `skip_unavailable` false and true), plus the aliases
/// in `more`, and asks for the probe, which these engines are too old for.
fn health_config(b_url: &str, more: &[&str]) -> String {
    let mut yaml = format!(
        "{}clusters:\n  - name: b\n    url: {b_url}\n    probe: resolve_cluster\n    \
         expected_remotes:\n      \
         - {{ name: a_sniff, min_nodes: 1, skip_unavailable: false }}\n      \
         - {{ name: a_proxy, min_sockets: 18, skip_unavailable: true }}\n",
        timing()
    );
    for alias in more {
        yaml.push_str(&format!("      - {{ name: {alias} }}\n"));
    }
    yaml
}

/// The top of every configuration here: [`POLL_INTERVAL`] and [`POLL_TIMEOUT`].
fn timing() -> String {
    format!(
        "poll_interval: {}ms\ntimeout: {}ms\n",
        POLL_INTERVAL.as_millis(),
        POLL_TIMEOUT.as_millis()
    )
}

/// The `/health` and `check --output json` document for [`health_config`] with no extra
/// alias, times masked, both remotes connected or both not.
fn health_document(refused: &str, connected: bool) -> Value {
    let (state, why) = match connected {
        true => ("ok", "2 remotes ok"),
        false => ("down", "2 down of 2 remotes"),
    };
    let remote = |alias: &str, mode: &str, connections: &str, unit: &str| {
        let why = match connected {
            true => format!("connected ({connections} {unit})"),
            false => format!("not connected ({connections} {unit})"),
        };
        json!({
            "name": alias,
            "state": state,
            "why": why,
            "since": "<time>",
            "expected": true,
            "mode": mode,
            "connections": connections,
        })
    };
    let (sockets, nodes) = if connected {
        ("18/18", "1/3")
    } else {
        ("0/18", "0/3")
    };
    json!({
        "state": state,
        "clusters": [{
            "name": "b",
            "state": state,
            "why": why,
            "since": "<time>",
            "polled_at": "<time>",
            "error": null,
            "notes": [refused],
            "remotes": [
                remote("a_proxy", "proxy", sockets, "proxy sockets"),
                remote("a_sniff", "sniff", nodes, "gateway nodes"),
            ],
        }],
    })
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

fn unix_seconds(time: SystemTime) -> f64 {
    time.duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}
