//! The `/metrics` collector: renders the latest snapshots at scrape time, with no I/O.

use std::sync::Arc;
use std::time::SystemTime;

use prometheus::core::{Collector, Desc};
use prometheus::proto::{Counter, Gauge, LabelPair, Metric, MetricFamily, MetricType};
use prometheus::{Encoder, Registry, TextEncoder};

use crate::health::{Basis, Verdict};
use crate::reload::ReloadStatus;
use crate::remote_info::{Mode, Remote};
use crate::snapshot::{ClusterSnapshot, Reason, State};

/// One metric family of the contract.
struct Spec {
    name: &'static str,
    help: &'static str,
    kind: MetricType,
    labels: &'static [&'static str],
}

const CLUSTER: &[&str] = &["cluster"];
const REMOTE: &[&str] = &["cluster", "remote_cluster"];

const fn gauge(name: &'static str, help: &'static str, labels: &'static [&'static str]) -> Spec {
    Spec {
        name,
        help,
        kind: MetricType::GAUGE,
        labels,
    }
}

const fn counter(name: &'static str, help: &'static str, labels: &'static [&'static str]) -> Spec {
    Spec {
        name,
        help,
        kind: MetricType::COUNTER,
        labels,
    }
}

// Per cluster, always present.
const UP: Spec = gauge(
    "es_remote_up",
    "1 if the last poll of _remote/info got HTTP 200 with a JSON object, else 0.",
    CLUSTER,
);
const DURATION: Spec = gauge(
    "es_remote_scrape_duration_seconds",
    "Duration of the last poll of the cluster.",
    CLUSTER,
);
const POLLS: Spec = counter(
    "es_remote_scrapes_total",
    "Polls of the cluster attempted.",
    CLUSTER,
);
const ERRORS: Spec = counter(
    "es_remote_scrape_errors_total",
    "Failed polls of the cluster, by reason.",
    &["cluster", "reason"],
);
const LAST_POLL: Spec = gauge(
    "es_remote_last_scrape_timestamp_seconds",
    "Unix time at which the last poll ended (0 before the first).",
    CLUSTER,
);
const LAST_SUCCESS: Spec = gauge(
    "es_remote_last_scrape_success_timestamp_seconds",
    "Unix time at which the last successful poll ended (0 if none).",
    CLUSTER,
);
const REMOTES: Spec = gauge(
    "es_remote_clusters",
    "Remote clusters in the last successful _remote/info response.",
    CLUSTER,
);

// Per remote, only while the last poll of its cluster succeeded.
const CONNECTED: Spec = gauge(
    "es_remote_connected",
    "1 if the answering node held at least one open connection to the remote at the last poll. \
     A node's passive view: Elasticsearch does not reconnect until traffic needs the remote.",
    REMOTE,
);
const NODES: Spec = gauge(
    "es_remote_nodes_connected",
    "Sniff mode: gateway nodes of the remote the answering node was connected to at the last poll.",
    REMOTE,
);
const MAX_NODES: Spec = gauge(
    "es_remote_max_connections",
    "Sniff mode: maximum gateway nodes per remote (max_connections_per_cluster) at the last poll.",
    REMOTE,
);
const SOCKETS: Spec = gauge(
    "es_remote_proxy_sockets_connected",
    "Proxy mode: open sockets of the answering node to the proxy address at the last poll.",
    REMOTE,
);
const MAX_SOCKETS: Spec = gauge(
    "es_remote_max_proxy_sockets",
    "Proxy mode: maximum sockets to the proxy address at the last poll.",
    REMOTE,
);
const SEEDS: Spec = gauge(
    "es_remote_seeds",
    "Sniff mode: number of seeds configured for the remote at the last poll.",
    REMOTE,
);
const SKIP: Spec = gauge(
    "es_remote_skip_unavailable",
    "1 if searches skip the remote when it is unavailable, 0 if they fail, at the last poll.",
    REMOTE,
);
const CONNECT_TIMEOUT: Spec = gauge(
    "es_remote_initial_connect_timeout_seconds",
    "The node's initial_connect_timeout for remotes at the last poll (-1: no timeout).",
    REMOTE,
);
const INFO: Spec = gauge(
    "es_remote_info",
    "Always 1: the remote's mode, proxy address, server name and whether cluster credentials \
     are configured, at the last poll.",
    &[
        "cluster",
        "remote_cluster",
        "mode",
        "proxy_address",
        "server_name",
        "credentials",
    ],
);

// Health checker, for every cluster: `configured`, `health`, `disconnects_total` and
// `last_connected_timestamp_seconds` for every remote judged; `node_connected`, `node_up` and
// `reachable` only with `nodes: all` and `probe`.
const CONFIGURED: Spec = gauge(
    "es_remote_configured",
    "1 if the remote is in the last _remote/info answers judged (with nodes: all, on at least \
     one node), 0 if it is expected (expected_remotes) but missing.",
    REMOTE,
);
const HEALTH: Spec = gauge(
    "es_remote_health",
    "The remote's verdict: 1 for its state (ok, degraded, down, unknown), 0 for the others. \
     Judged at the last poll; unknown while the cluster cannot be polled.",
    &["cluster", "remote_cluster", "state"],
);
const DISCONNECTS: Spec = counter(
    "es_remote_disconnects_total",
    "Changes from connected to not connected seen between successful polls, since the exporter \
     started or the remote reappeared. A disconnect shorter than the poll interval goes unseen.",
    REMOTE,
);
const LAST_CONNECTED: Spec = gauge(
    "es_remote_last_connected_timestamp_seconds",
    "Unix time of the last poll that saw the remote connected (0 if none since the exporter \
     started or the remote reappeared).",
    REMOTE,
);
const NODE_CONNECTED: Spec = gauge(
    "es_remote_node_connected",
    "With nodes: all: 1 if that node held a connection to the remote at the last poll, 0 if not \
     or if the remote is not configured on that node.",
    &["cluster", "remote_cluster", "node"],
);
const NODE_UP: Spec = gauge(
    "es_remote_node_up",
    "With nodes: all: 1 if that discovered node answered _remote/info with HTTP 200 and a JSON \
     object at the last poll, else 0 (unreachable, failing, or no usable publish address).",
    &["cluster", "node"],
);
const REACHABLE: Spec = gauge(
    "es_remote_reachable",
    "With probe: resolve_cluster: `connected` from the last GET /_resolve/cluster, which \
     actively contacts the remote (and so triggers a reconnect).",
    REMOTE,
);

const BUILD_INFO: Spec = gauge(
    "es_remote_build_info",
    "Always 1: the exporter's version, git revision and the rustc that built it.",
    &["version", "revision", "rustc_version"],
);

// The configuration, named after Prometheus's own `prometheus_config_last_reload_*`.
const RELOAD_SUCCESSFUL: Spec = gauge(
    "es_remote_config_last_reload_successful",
    "1 if the last load of the configuration file succeeded, 0 if it failed and the previous \
     configuration is still in use.",
    &[],
);
const RELOAD_SUCCESS_TIME: Spec = gauge(
    "es_remote_config_last_reload_success_timestamp_seconds",
    "Unix time of the last successful load of the configuration, the start included.",
    &[],
);

const SPECS: [&Spec; 24] = [
    &UP,
    &DURATION,
    &POLLS,
    &ERRORS,
    &LAST_POLL,
    &LAST_SUCCESS,
    &REMOTES,
    &CONNECTED,
    &NODES,
    &MAX_NODES,
    &SOCKETS,
    &MAX_SOCKETS,
    &SEEDS,
    &SKIP,
    &CONNECT_TIMEOUT,
    &INFO,
    &CONFIGURED,
    &HEALTH,
    &DISCONNECTS,
    &LAST_CONNECTED,
    &NODE_CONNECTED,
    &NODE_UP,
    &REACHABLE,
    &BUILD_INFO,
];

/// Renders every cluster's latest snapshot, plus the exporter's own build info.
pub struct StateCollector {
    state: Arc<State>,
    descs: Vec<Desc>,
}

/// Renders the outcome of the latest configuration load.
pub struct ReloadCollector {
    status: Arc<ReloadStatus>,
    descs: Vec<Desc>,
}

/// The registry behind `/metrics`: the snapshots, the configuration's reload status and the
/// `process_*` metrics.
pub struct Metrics {
    registry: Registry,
}

// === impl Metrics ===

impl Metrics {
    pub fn new(state: Arc<State>, reload: Arc<ReloadStatus>) -> Self {
        let registry = Registry::new();
        registry
            .register(Box::new(StateCollector::new(state)))
            .expect("the contract's metric names are valid and unique");
        registry
            .register(Box::new(ReloadCollector::new(reload)))
            .expect("the reload gauges do not collide with the snapshots' names");
        #[cfg(target_os = "linux")]
        registry
            .register(Box::new(
                prometheus::process_collector::ProcessCollector::for_self(),
            ))
            .expect("process metrics do not collide with es_remote_*");
        Self { registry }
    }

    /// The text exposition of everything registered.
    pub fn render(&self) -> String {
        let families = self.registry.gather();
        let mut text = Vec::with_capacity(4096);
        TextEncoder::new()
            .encode(&families, &mut text)
            .expect("text encoding into memory does not fail");
        String::from_utf8(text).expect("the text encoder writes UTF-8")
    }
}

// === impl StateCollector ===

impl StateCollector {
    pub fn new(state: Arc<State>) -> Self {
        let descs = SPECS.iter().map(|spec| describe(spec)).collect();
        Self { state, descs }
    }
}

impl Collector for StateCollector {
    fn desc(&self) -> Vec<&Desc> {
        self.descs.iter().collect()
    }

    fn collect(&self) -> Vec<MetricFamily> {
        let mut families = Families::default();
        for snapshot in self.state.snapshots() {
            families.cluster(&snapshot);
        }
        let build = crate::build_info();
        families.add(
            &BUILD_INFO,
            &[build.version, build.revision, build.rustc_version],
            1.0,
        );
        families.finish()
    }
}

// === impl ReloadCollector ===

impl ReloadCollector {
    pub fn new(status: Arc<ReloadStatus>) -> Self {
        let descs = [&RELOAD_SUCCESSFUL, &RELOAD_SUCCESS_TIME]
            .into_iter()
            .map(describe)
            .collect();
        Self { status, descs }
    }
}

impl Collector for ReloadCollector {
    fn desc(&self) -> Vec<&Desc> {
        self.descs.iter().collect()
    }

    fn collect(&self) -> Vec<MetricFamily> {
        let last = self.status.last();
        vec![
            unlabelled_gauge(&RELOAD_SUCCESSFUL, f64::from(u8::from(last.successful))),
            unlabelled_gauge(&RELOAD_SUCCESS_TIME, unix_seconds(last.success_at)),
        ]
    }
}

fn describe(spec: &Spec) -> Desc {
    let labels = spec.labels.iter().map(|l| l.to_string()).collect();
    Desc::new(
        spec.name.into(),
        spec.help.into(),
        labels,
        Default::default(),
    )
    .expect("the contract's metric and label names are valid")
}

/// A family of one gauge without labels.
fn unlabelled_gauge(spec: &Spec, value: f64) -> MetricFamily {
    let mut gauge = Gauge::default();
    gauge.set_value(value);
    let mut metric = Metric::default();
    metric.set_gauge(gauge);
    let mut family = MetricFamily::default();
    family.set_name(spec.name.into());
    family.set_help(spec.help.into());
    family.set_field_type(MetricType::GAUGE);
    family.set_metric(vec![metric]);
    family
}

/// The families of one scrape, filled cluster by cluster in the order of [`SPECS`].
#[derive(Default)]
struct Families {
    metrics: [Vec<Metric>; SPECS.len()],
}

impl Families {
    fn cluster(&mut self, snapshot: &ClusterSnapshot) {
        let cluster = snapshot.name.as_str();
        let labels = [cluster];
        let up = snapshot.remote_info().is_some();
        let last_poll = snapshot.last_poll.as_ref();
        self.add(&UP, &labels, f64::from(u8::from(up)));
        self.add(
            &DURATION,
            &labels,
            last_poll.map_or(0.0, |p| p.duration.as_secs_f64()),
        );
        self.add(&POLLS, &labels, snapshot.polls as f64);
        for reason in Reason::ALL {
            self.add(
                &ERRORS,
                &[cluster, reason.as_str()],
                snapshot.errors_for(reason) as f64,
            );
        }
        self.add(
            &LAST_POLL,
            &labels,
            last_poll.map_or(0.0, |p| unix_seconds(p.finished)),
        );
        self.add(
            &LAST_SUCCESS,
            &labels,
            snapshot.last_success.map_or(0.0, unix_seconds),
        );
        self.add(&REMOTES, &labels, snapshot.last_success_remotes as f64);

        if let Some(info) = snapshot.remote_info() {
            for remote in &info.remotes {
                self.remote(cluster, remote);
            }
        }
        self.health(snapshot);
    }

    /// The health checker's series: verdicts and history, judged when the snapshot was built.
    fn health(&mut self, snapshot: &ClusterSnapshot) {
        let cluster = snapshot.name.as_str();
        let up = snapshot.remote_info().is_some();
        let judged = snapshot.health.basis != Basis::Nothing;
        // With no answer to judge the health holds only the expected remotes, as unknown: the
        // one exception to "no per-remote series while the cluster cannot be polled". Judged
        // from the nodes, the remotes have verdicts even when the configured URL failed.
        for remote in &snapshot.health.remotes {
            for state in Verdict::ALL {
                let value = f64::from(u8::from(remote.state == state));
                self.add(&HEALTH, &[cluster, &remote.alias, state.as_str()], value);
            }
            if judged {
                let present = f64::from(u8::from(remote.present));
                self.add(&CONFIGURED, &[cluster, &remote.alias], present);
            }
            for (node, connected) in &remote.nodes {
                let value = f64::from(u8::from(*connected));
                self.add(&NODE_CONNECTED, &[cluster, &remote.alias, node], value);
            }
        }
        for node in snapshot.nodes.iter().flat_map(|round| &round.nodes) {
            let value = f64::from(u8::from(node.outcome.is_ok()));
            self.add(&NODE_UP, &[cluster, &node.label], value);
        }
        // The history follows the configured URL's answers, like the core per-remote gauges.
        if !up {
            return;
        }
        for (alias, history) in &snapshot.history {
            let labels = [cluster, alias.as_str()];
            self.add(&DISCONNECTS, &labels, history.disconnects as f64);
            let last = history.last_connected.map_or(0.0, unix_seconds);
            self.add(&LAST_CONNECTED, &labels, last);
        }
        for (alias, reachable) in snapshot.reachable.iter().flatten() {
            self.add(
                &REACHABLE,
                &[cluster, alias],
                f64::from(u8::from(*reachable)),
            );
        }
    }

    fn remote(&mut self, cluster: &str, remote: &Remote) {
        let labels = [cluster, remote.alias.as_str()];
        if let Some(connected) = remote.connected {
            self.add(&CONNECTED, &labels, f64::from(u8::from(connected)));
        }
        let (proxy_address, server_name) = match &remote.mode {
            Mode::Sniff(sniff) => {
                self.maybe(&NODES, &labels, sniff.nodes_connected);
                self.maybe(&MAX_NODES, &labels, sniff.max_connections);
                self.maybe(&SEEDS, &labels, sniff.seeds.map(|n| n as u64));
                ("", "")
            }
            Mode::Proxy(proxy) => {
                self.maybe(&SOCKETS, &labels, proxy.sockets_connected);
                self.maybe(&MAX_SOCKETS, &labels, proxy.max_sockets);
                (proxy.address.as_str(), proxy.server_name.as_str())
            }
            Mode::Other(_) => ("", ""),
        };
        // An unknown mode gets `connected` and the info series only: its other fields may not
        // mean what they mean in sniff or proxy mode.
        if !matches!(remote.mode, Mode::Other(_)) {
            if let Some(skip) = remote.skip_unavailable {
                self.add(&SKIP, &labels, f64::from(u8::from(skip)));
            }
            if let Some(seconds) = remote.initial_connect_timeout_seconds {
                self.add(&CONNECT_TIMEOUT, &labels, seconds);
            }
        }
        let credentials = if remote.credentials {
            "configured"
        } else {
            "none"
        };
        self.add(
            &INFO,
            &[
                cluster,
                &remote.alias,
                remote.mode.label(),
                proxy_address,
                server_name,
                credentials,
            ],
            1.0,
        );
    }

    fn maybe(&mut self, spec: &Spec, labels: &[&str], value: Option<u64>) {
        if let Some(value) = value {
            self.add(spec, labels, value as f64);
        }
    }

    fn add(&mut self, spec: &Spec, values: &[&str], value: f64) {
        debug_assert_eq!(spec.labels.len(), values.len(), "{}", spec.name);
        let index = SPECS
            .iter()
            .position(|s| s.name == spec.name)
            .expect("spec is listed");
        let labels = spec
            .labels
            .iter()
            .zip(values)
            .map(|(name, value)| {
                let mut pair = LabelPair::default();
                pair.set_name(name.to_string());
                pair.set_value(value.to_string());
                pair
            })
            .collect();
        let mut metric = Metric::default();
        metric.set_label(labels);
        if spec.kind == MetricType::COUNTER {
            let mut counter = Counter::default();
            counter.set_value(value);
            metric.set_counter(counter);
        } else {
            let mut gauge = Gauge::default();
            gauge.set_value(value);
            metric.set_gauge(gauge);
        }
        self.metrics[index].push(metric);
    }

    fn finish(self) -> Vec<MetricFamily> {
        SPECS
            .iter()
            .zip(self.metrics)
            .filter(|(_, metrics)| !metrics.is_empty())
            .map(|(spec, metrics)| {
                let mut family = MetricFamily::default();
                family.set_name(spec.name.into());
                family.set_help(spec.help.into());
                family.set_field_type(spec.kind);
                family.set_metric(metrics);
                family
            })
            .collect()
    }
}

fn unix_seconds(time: SystemTime) -> f64 {
    time.duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}
