//! The scheduler: one task per cluster, polling `_remote/info` on its own interval.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use tokio::task::JoinSet;

use crate::config::{ClusterConfig, MAX_DURATION, Nodes, Probe};
use crate::es::{Client, Root};
use crate::resolve_cluster;
use crate::snapshot::{
    ClusterSnapshot, LastPoll, NodeAnswer, NodeRound, Observations, PollError, Reason, Slot, State,
};

/// Polls one cluster and records each outcome in its slot of the shared state.
pub struct Poller {
    slot: Arc<Slot>,
    client: Client,
    /// Set once the cluster is named; `--es.url` mode names it from `GET /`.
    named: bool,
    interval: Duration,
    nodes: Nodes,
    /// With `probe: resolve_cluster`: where the probe stands.
    probe: Option<ProbeState>,
}

/// Where the `resolve_cluster` probe of one cluster stands.
#[derive(Debug)]
enum ProbeState {
    /// The engine is not known yet: `GET /` is asked again at the next poll.
    Detecting,
    /// The engine has the endpoint; `failing` holds the error of the last call, if it failed.
    Running { failing: Option<PollError> },
    /// The engine lacks the endpoint, for the reason given; it is not asked again.
    Unsupported(String),
}

/// Starts one poller per configured cluster. Dropping the set stops them all.
pub fn spawn_all(pollers: Vec<Poller>) -> JoinSet<()> {
    let mut tasks = JoinSet::new();
    for poller in pollers {
        tasks.spawn(poller.run());
    }
    tasks
}

/// The label a cluster carries before it is named: the URL's host and port.
pub fn provisional_name(config: &ClusterConfig) -> String {
    match config.url.port_or_known_default() {
        Some(port) => format!("{}:{port}", config.url.host_str().unwrap_or_default()),
        None => config.url.host_str().unwrap_or_default().to_owned(),
    }
}

// === impl Poller ===

impl Poller {
    /// The poller of the cluster at `index` of the current set.
    pub fn new(index: usize, config: &ClusterConfig, client: Client, state: Arc<State>) -> Self {
        Self::for_slot(state.slot(index), config, client)
    }

    /// The poller of one slot. Only one poller may own a slot at a time.
    pub fn for_slot(slot: Arc<Slot>, config: &ClusterConfig, client: Client) -> Self {
        Self {
            slot,
            client,
            named: config.name.is_some(),
            interval: config.poll_interval,
            nodes: config.nodes,
            probe: config
                .probe
                .map(|Probe::ResolveCluster| ProbeState::Detecting),
        }
    }

    /// Polls now, then every interval plus a small random jitter, so that clusters configured
    /// together do not stay in step. A poll never overlaps the previous one.
    async fn run(mut self) {
        loop {
            let started = tokio::time::Instant::now();
            self.poll_once().await;
            let jitter = self.interval.mul_f64(fastrand::f64() * 0.05);
            // The configuration bounds the interval; checked arithmetic keeps an interval that
            // slipped past it from panicking the task: it then waits the longest allowed one.
            let next = self
                .interval
                .checked_add(jitter)
                .and_then(|wait| started.checked_add(wait))
                .unwrap_or_else(|| started + MAX_DURATION);
            tokio::time::sleep_until(next).await;
        }
    }

    /// One poll: name the cluster if needed, fetch `_remote/info`, ask the nodes and run the
    /// probe if configured, store the snapshot.
    pub async fn poll_once(&mut self) {
        let previous = self.slot.load();
        let started = Instant::now();
        let mut name = previous.name.clone();
        let mut root = None;
        let outcome = async {
            if !self.named {
                let answer = self.client.root().await?;
                name = answer.cluster_name.clone();
                self.named = true;
                root = Some(answer);
            }
            self.client.remote_info().await
        }
        .await;
        // The nodes and the probe are asked only when the configured URL answered: otherwise
        // the cluster is unknown whatever they say.
        let mut seen = Observations::default();
        if outcome.is_ok() {
            if self.nodes == Nodes::All {
                seen.nodes = Some(self.poll_nodes().await);
            }
            self.run_probe(&name, root, &mut seen).await;
        }
        let poll = LastPoll {
            finished: SystemTime::now(),
            duration: started.elapsed(),
            outcome: outcome.map(Arc::new),
        };

        let mut next = previous.after_round(poll, seen);
        if next.name != name {
            tracing::info!(cluster = %name, url_label = %previous.name, "named cluster from GET /");
            next.name = name;
        }
        log_outcome(&previous, &next);
        log_nodes(&previous, &next);
        self.slot.store(next);
    }

    /// `probe: resolve_cluster`: learns the engine from `GET /` until it is known, then, on an
    /// engine that has the endpoint, asks which remotes the cluster can reach. A failed call
    /// leaves the poll's outcome alone: it only withholds `es_remote_reachable`.
    async fn run_probe(&mut self, cluster: &str, root: Option<Root>, seen: &mut Observations) {
        if matches!(self.probe, Some(ProbeState::Detecting)) {
            let root = match root {
                Some(root) => Ok(root),
                None => self.client.root().await,
            };
            match root {
                Ok(root) => match resolve_cluster::unsupported(cluster, &root) {
                    Some(why) => {
                        tracing::warn!(cluster = %cluster, why = %why, "probe unsupported");
                        self.probe = Some(ProbeState::Unsupported(why));
                    }
                    None => self.probe = Some(ProbeState::Running { failing: None }),
                },
                Err(error) => {
                    tracing::debug!(cluster = %cluster, reason = %error.reason, error = %error.detail, "probe engine unknown");
                    seen.notes.push(format!(
                        "probe resolve_cluster waits for the engine version from GET /: {error}"
                    ));
                    return;
                }
            }
        }

        let failing = match &mut self.probe {
            None | Some(ProbeState::Detecting) => return,
            Some(ProbeState::Unsupported(why)) => {
                seen.notes.push(why.clone());
                return;
            }
            Some(ProbeState::Running { failing }) => failing,
        };
        match self.client.resolve_cluster().await {
            Ok(resolved) => {
                if failing.take().is_some() {
                    tracing::info!(cluster = %cluster, remotes = resolved.len(), "probe recovered");
                }
                for (alias, remote) in &resolved {
                    if !remote.connected {
                        seen.notes.push(match &remote.error {
                            Some(error) => format!(
                                "probe resolve_cluster: remote {alias} is unreachable: {error}"
                            ),
                            None => format!("probe resolve_cluster: remote {alias} is unreachable"),
                        });
                    }
                }
                seen.reachable = Some(
                    resolved
                        .into_iter()
                        .map(|(alias, remote)| (alias, remote.connected))
                        .collect(),
                );
            }
            Err(error) => {
                if failing.is_none() {
                    tracing::warn!(cluster = %cluster, reason = %error.reason, error = %error.detail, "probe failing");
                }
                seen.notes.push(format!(
                    "probe resolve_cluster failed, so es_remote_reachable is not exported: {error}"
                ));
                *failing = Some(error);
            }
        }
    }

    /// `nodes: all`: discovers the nodes anew each round, so that nodes joining or leaving are
    /// followed, then asks each for its own `_remote/info`, all at once.
    async fn poll_nodes(&self) -> NodeRound {
        let discovered = match self.client.nodes().await {
            Ok(nodes) => nodes,
            Err(error) => {
                return NodeRound {
                    discovery: Some(error),
                    nodes: Vec::new(),
                };
            }
        };
        let mut polls = JoinSet::new();
        for node in discovered {
            let client = self.client.for_node(&node);
            polls.spawn(async move {
                let outcome = match client {
                    Ok(client) => client.remote_info().await.map(Arc::new),
                    Err(error) => Err(error),
                };
                NodeAnswer {
                    name: node.name,
                    address: node.address,
                    outcome,
                }
            });
        }
        let mut nodes = polls.join_all().await;
        nodes.sort_by(|a, b| a.name.cmp(&b.name));
        NodeRound {
            discovery: None,
            nodes,
        }
    }
}

/// A warn when node discovery or a node starts failing, an info when it answers again.
fn log_nodes(previous: &ClusterSnapshot, next: &ClusterSnapshot) {
    let Some(round) = &next.nodes else { return };
    let cluster = &next.name;
    let before = previous.nodes.as_ref();
    if let Some(error) = &round.discovery {
        if before.is_none_or(|b| b.discovery.is_none()) {
            tracing::warn!(cluster = %cluster, reason = %error.reason, error = %error.detail, "node discovery failing");
        }
        return;
    }
    let failing_before: HashSet<&str> = before
        .into_iter()
        .flat_map(|b| &b.nodes)
        .filter(|n| n.outcome.is_err())
        .map(|n| n.name.as_str())
        .collect();
    let failed_before = |name: &str| failing_before.contains(name);
    for node in &round.nodes {
        match &node.outcome {
            Err(error) if !failed_before(&node.name) => tracing::warn!(
                cluster = %cluster,
                node = %node.name,
                address = %node.address,
                reason = %error.reason,
                error = %error.detail,
                "node poll failing"
            ),
            Ok(_) if failed_before(&node.name) => {
                tracing::info!(cluster = %cluster, node = %node.name, "node recovered")
            }
            _ => {}
        }
    }
}

/// A debug event for every poll; a warn when a cluster starts failing or fails differently,
/// an info when it recovers.
fn log_outcome(previous: &ClusterSnapshot, next: &ClusterSnapshot) {
    let Some(poll) = &next.last_poll else { return };
    let cluster = &next.name;
    let elapsed = poll.duration;
    match &poll.outcome {
        Ok(info) => {
            tracing::debug!(cluster = %cluster, ?elapsed, remotes = info.remotes.len(), "polled");
            if previous.error().is_some() {
                tracing::info!(cluster = %cluster, remotes = info.remotes.len(), "cluster recovered");
            }
        }
        Err(error) => {
            tracing::debug!(cluster = %cluster, ?elapsed, reason = %error.reason, error = %error.detail, "poll failed");
            if previous.error().map(|e| e.reason) != Some(error.reason) {
                tracing::warn!(
                    cluster = %cluster,
                    reason = %error.reason,
                    error = %error.detail,
                    hint = hint(error),
                    "cluster poll failing"
                );
            }
        }
    }
}

/// What an operator should check first for each kind of failure.
pub fn hint(error: &PollError) -> &'static str {
    match error.reason {
        Reason::Unauthorized => "check the username and password or the API key",
        Reason::Forbidden => {
            "the user needs the `monitor` cluster privilege (action cluster:monitor/remote/info)"
        }
        Reason::BadRequest => {
            "the answering node may lack the `remote_cluster_client` role (Elasticsearch 7.11+)"
        }
        Reason::Tls => "check tls_config: the CA file, the client certificate and the server name",
        Reason::Timeout => "the node answered too slowly; check its load or raise `timeout`",
        Reason::Connect => "check the URL and that the node is running and reachable",
        Reason::HttpError => "a proxy or load balancer in front of the node may be failing",
        Reason::Decode => "the answer was not a _remote/info object; check the URL",
        Reason::TooLarge => {
            "the answer exceeded max_response_bytes or max_remotes; check the URL, or raise them"
        }
    }
}
