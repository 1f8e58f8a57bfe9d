//! How much the exporter's own work costs against the prometheus crate doing the same job.
//!
//! `cargo bench --bench render` prints three ratios, each against a baseline measured in the
//! same run:
//! - rendering `/metrics` from snapshots through the custom collector, against the same
//!   samples held in the crate's own `GaugeVec`s and rendered by the same encoder;
//! - parsing a `_remote/info` answer into the typed model, against parsing it into an untyped
//!   `serde_json::Value`;
//! - judging one poll of 50,000 remotes seen by the configured URL and two nodes, against
//!   judging 5,000 remotes ten times: the ratio stays near 1 while the cost grows linearly
//!   with the number of remotes, and nears 10 if it grew with the square. No test may time
//!   anything, so this is where a lookup by linear scan in the judge would show.
//!
//! Run without `--bench` (as `cargo test --all-targets` does) it makes one pass of each, so
//! the code stays compiled and working.

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use es_remote_exporter::config::ExpectedRemote;
use es_remote_exporter::health::Expectations;
use es_remote_exporter::metrics::StateCollector;
use es_remote_exporter::remote_info::RemoteInfo;
use es_remote_exporter::snapshot::{
    ClusterSnapshot, LastPoll, NodeAnswer, NodeRound, Observations, State,
};
use prometheus::{Encoder, GaugeVec, Opts, Registry, TextEncoder};

const CLUSTERS: usize = 10;
const REMOTES_PER_CLUSTER: usize = 200;

fn main() {
    let measure = std::env::args().any(|arg| arg == "--bench");
    let rounds = if measure { 200 } else { 1 };

    let body = remote_info_body(REMOTES_PER_CLUSTER);
    let state = polled_state(&body);
    let ours = collector_registry(state);
    let text = render(&ours);
    let baseline = baseline_registry(&text);
    assert_eq!(
        render(&baseline)
            .lines()
            .filter(|l| !l.starts_with('#'))
            .count(),
        text.lines().filter(|l| !l.starts_with('#')).count()
    );

    let (render_ours, render_base) = compare(rounds, || render(&ours), || render(&baseline));
    let (parse_ours, parse_base) = compare(
        rounds,
        || RemoteInfo::from_slice(&body).unwrap(),
        || serde_json::from_slice::<serde_json::Value>(&body).unwrap(),
    );
    let small = JudgeCase::new(JUDGED / 10);
    let large = JudgeCase::new(JUDGED);
    let judge_rounds = if measure { 10 } else { 1 };
    let (judge_large, judge_small) = compare(
        judge_rounds,
        || large.judge(),
        || {
            for _ in 0..10 {
                black_box(small.judge());
            }
        },
    );
    if measure {
        let samples = text.lines().filter(|l| !l.starts_with('#')).count();
        println!(
            "render /metrics, {CLUSTERS} clusters x {REMOTES_PER_CLUSTER} remotes, {samples} samples:"
        );
        report(
            render_ours,
            render_base,
            "custom collector",
            "GaugeVec baseline",
        );
        println!(
            "parse _remote/info, {REMOTES_PER_CLUSTER} remotes, {} bytes:",
            body.len()
        );
        report(
            parse_ours,
            parse_base,
            "typed model",
            "serde_json::Value baseline",
        );
        println!("judge a poll, URL and 2 nodes, half the remotes expected:");
        report(
            judge_large,
            judge_small,
            &format!("{JUDGED} remotes once"),
            &format!("{} remotes ten times", JUDGED / 10),
        );
    }
}

/// The remotes of the largest judging case.
const JUDGED: usize = 50_000;

/// One cluster after a first poll, and the second poll to judge against it.
struct JudgeCase {
    snapshot: ClusterSnapshot,
    poll: LastPoll,
    seen: Observations,
}

impl JudgeCase {
    fn new(remotes: usize) -> Self {
        let body = remote_info_body(remotes);
        let info = Arc::new(RemoteInfo::from_slice(&body).unwrap());
        let expect = Expectations {
            remotes: (0..remotes)
                .step_by(2)
                .map(|n| ExpectedRemote {
                    name: format!("es-{n}"),
                    min_nodes: Some(2),
                    min_sockets: None,
                    skip_unavailable: Some(false),
                })
                .collect(),
        };
        let node = |n: usize| NodeAnswer {
            label: format!("es-b-{n}"),
            name: format!("es-b-{n}"),
            address: format!("10.0.0.{n}:9200"),
            outcome: Ok(info.clone()),
        };
        let seen = Observations {
            nodes: Some(NodeRound {
                discovery: None,
                nodes: vec![node(1), node(2)],
            }),
            ..Observations::default()
        };
        let poll = LastPoll {
            finished: SystemTime::now(),
            duration: Duration::from_millis(12),
            outcome: Ok(info.clone()),
        };
        let snapshot =
            ClusterSnapshot::expecting("local", expect).after_round(poll.clone(), seen.clone());
        Self {
            snapshot,
            poll,
            seen,
        }
    }

    fn judge(&self) -> ClusterSnapshot {
        self.snapshot
            .after_round(self.poll.clone(), self.seen.clone())
    }
}

/// Runs the two closures alternately and returns the median time of each.
fn compare<A, B>(
    rounds: usize,
    mut ours: impl FnMut() -> A,
    mut base: impl FnMut() -> B,
) -> (Duration, Duration) {
    let mut times = (Vec::with_capacity(rounds), Vec::with_capacity(rounds));
    for _ in 0..rounds {
        let start = Instant::now();
        black_box(ours());
        times.0.push(start.elapsed());
        let start = Instant::now();
        black_box(base());
        times.1.push(start.elapsed());
    }
    (median(times.0), median(times.1))
}

fn median(mut times: Vec<Duration>) -> Duration {
    times.sort_unstable();
    times[times.len() / 2]
}

fn report(ours: Duration, base: Duration, ours_name: &str, base_name: &str) {
    println!(
        "  {ours_name}: {ours:?}  {base_name}: {base:?}  ratio: {:.2}",
        ours.as_secs_f64() / base.as_secs_f64()
    );
}

/// An answer with half sniff and half proxy remotes, as Elasticsearch 8.x writes them.
fn remote_info_body(remotes: usize) -> Vec<u8> {
    let entries: Vec<String> = (0..remotes)
        .map(|n| {
            if n % 2 == 0 {
                format!(r#""es-{n}":{{"connected":true,"mode":"sniff","seeds":["10.0.{}.{}:9300"],"num_nodes_connected":3,"max_connections_per_cluster":3,"initial_connect_timeout":"30s","skip_unavailable":false}}"#, n / 250, n % 250)
            } else {
                format!(r#""es-{n}":{{"connected":true,"mode":"proxy","proxy_address":"10.0.{}.{}:9443","server_name":"","num_proxy_sockets_connected":18,"max_proxy_socket_connections":18,"initial_connect_timeout":"30s","skip_unavailable":true,"cluster_credentials":"::es_redacted::"}}"#, n / 250, n % 250)
            }
        })
        .collect();
    format!("{{{}}}", entries.join(",")).into_bytes()
}

fn polled_state(body: &[u8]) -> Arc<State> {
    let state = Arc::new(State::new((0..CLUSTERS).map(|n| format!("local-{n}"))));
    for index in 0..CLUSTERS {
        let poll = LastPoll {
            finished: SystemTime::now(),
            duration: Duration::from_millis(12),
            outcome: Ok(Arc::new(RemoteInfo::from_slice(body).unwrap())),
        };
        state.set(index, state.get(index).after_poll(poll));
    }
    state
}

fn collector_registry(state: Arc<State>) -> Registry {
    let registry = Registry::new();
    registry
        .register(Box::new(StateCollector::new(state)))
        .unwrap();
    registry
}

fn render(registry: &Registry) -> String {
    let mut text = Vec::new();
    TextEncoder::new()
        .encode(&registry.gather(), &mut text)
        .unwrap();
    String::from_utf8(text).unwrap()
}

/// The same samples as `text`, held in the crate's own gauges. Label values in this benchmark
/// hold no quotes or escapes, so splitting on `","` is enough.
fn baseline_registry(text: &str) -> Registry {
    let registry = Registry::new();
    let mut families: std::collections::BTreeMap<String, GaugeVec> = Default::default();
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        let (series, value) = line.rsplit_once(' ').unwrap();
        let (name, labels) = match series.split_once('{') {
            Some((name, rest)) => (name, rest.trim_end_matches('}')),
            None => (series, ""),
        };
        let pairs: Vec<(&str, &str)> = labels
            .split("\",")
            .filter(|p| !p.is_empty())
            .map(|p| {
                let (key, value) = p.split_once("=\"").unwrap();
                (key, value.trim_end_matches('"'))
            })
            .collect();
        let gauge = families.entry(name.to_owned()).or_insert_with(|| {
            let keys: Vec<&str> = pairs.iter().map(|(k, _)| *k).collect();
            let vec = GaugeVec::new(Opts::new(name, "baseline"), &keys).unwrap();
            registry.register(Box::new(vec.clone())).unwrap();
            vec
        });
        let values: Vec<&str> = pairs.iter().map(|(_, v)| *v).collect();
        gauge.with_label_values(&values).set(value.parse().unwrap());
    }
    registry
}
