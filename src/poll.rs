//! The scheduler: one task per cluster, polling `_remote/info` on its own interval.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use tokio::task::JoinSet;

use crate::config::{ClusterConfig, MAX_DURATION, Nodes, Probe};
use crate::es::{Client, DiscoveredNode, Root};
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
    /// The cluster's `timeout`, which also bounds a whole round of node requests.
    timeout: Duration,
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

/// With `nodes: all`: at most this many node requests are in flight at once, so that a cluster
/// of thousands of nodes costs a few sockets, not one file descriptor per node.
pub const NODES_IN_FLIGHT: usize = 16;

/// How many nodes a log event names; the others are only counted.
const NAMED_IN_LOGS: usize = 5;

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
            timeout: config.timeout,
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
        // The nodes are asked when the configured URL answered, and when it answered 400: the
        // node behind it lacks the `remote_cluster_client` role (Elasticsearch 7.11+), typical
        // behind a load balancer, and the nodes that hold the role can still tell. After any
        // other failure the cluster is unknown whatever they say. The probe needs a 200.
        let mut seen = Observations::default();
        let nodes_can_tell = match &outcome {
            Ok(_) => true,
            Err(error) => error.reason == Reason::BadRequest,
        };
        if self.nodes == Nodes::All && nodes_can_tell {
            seen.nodes = Some(self.poll_nodes(&name).await);
        }
        if outcome.is_ok() {
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
    /// followed, then asks each for its own `_remote/info`, [`NODES_IN_FLIGHT`] at a time. The
    /// round ends after the cluster's `timeout` at the latest: a node that has not answered by
    /// then fails with reason `timeout`, whether it was asked or still waiting its turn.
    async fn poll_nodes(&self, cluster: &str) -> NodeRound {
        let discovered = match self.client.nodes().await {
            Ok(nodes) => nodes,
            Err(error) => {
                return NodeRound {
                    discovery: Some(error),
                    nodes: Vec::new(),
                };
            }
        };
        let started = tokio::time::Instant::now();
        let nodes = labelled(discovered);
        let mut outcomes: Vec<Option<Result<Arc<_>, PollError>>> = vec![None; nodes.len()];
        let mut polls = JoinSet::new();
        let mut asked = 0;
        let round_over = tokio::time::sleep_until(started + self.timeout);
        tokio::pin!(round_over);
        loop {
            while polls.len() < NODES_IN_FLIGHT && asked < nodes.len() {
                let index = asked;
                asked += 1;
                match self.client.for_node(&nodes[index].1) {
                    Ok(client) => {
                        polls.spawn(async move { (index, client.remote_info().await) });
                    }
                    Err(error) => outcomes[index] = Some(Err(error)),
                }
            }
            tokio::select! {
                biased;
                () = &mut round_over => break,
                joined = polls.join_next() => match joined {
                    Some(Ok((index, outcome))) => outcomes[index] = Some(outcome.map(Arc::new)),
                    Some(Err(error)) => std::panic::resume_unwind(error.into_panic()),
                    None if asked == nodes.len() => break,
                    None => {}
                },
            }
        }
        // Dropping the set cancels the requests still in flight.
        drop(polls);

        let bound = humantime::format_duration(self.timeout);
        let answers: Vec<NodeAnswer> = nodes
            .into_iter()
            .zip(outcomes)
            .enumerate()
            .map(|(index, ((label, node), outcome))| {
                let outcome = outcome.unwrap_or_else(|| {
                    let detail = match index < asked {
                        true => format!("no answer before the node round ended after {bound}"),
                        false => format!(
                            "not asked before the node round ended after {bound}: too many \
                             nodes were slow"
                        ),
                    };
                    Err(PollError::new(Reason::Timeout, detail))
                });
                NodeAnswer {
                    label,
                    address: node.address.unwrap_or(node.publish_address),
                    name: node.name,
                    outcome,
                }
            })
            .collect();
        tracing::debug!(
            cluster = %cluster,
            nodes = answers.len(),
            failed = answers.iter().filter(|n| n.outcome.is_err()).count(),
            elapsed = ?started.elapsed(),
            "polled nodes"
        );
        NodeRound {
            discovery: None,
            nodes: answers,
        }
    }
}

/// Each node with its `node` label, sorted by label. The label is the node's name; names that
/// several nodes share become `name (host:port)`, and `name (host:port, node id)` when they
/// share the address too. A label already taken (a name that reads like another node's label)
/// is numbered `#2`, `#3` in name and id order, so that labels are unique and the same in every
/// round whatever order discovery lists the nodes in.
pub fn labelled(mut nodes: Vec<DiscoveredNode>) -> Vec<(String, DiscoveredNode)> {
    let shown = |node: &DiscoveredNode| {
        node.address
            .clone()
            .unwrap_or_else(|| node.publish_address.clone())
    };
    nodes.sort_by(|a, b| a.name.cmp(&b.name).then_with(|| a.id.cmp(&b.id)));
    let mut by_name: HashMap<&str, usize> = HashMap::new();
    let mut by_address: HashMap<(&str, String), usize> = HashMap::new();
    for node in &nodes {
        *by_name.entry(&node.name).or_default() += 1;
        *by_address.entry((&node.name, shown(node))).or_default() += 1;
    }
    let labels: Vec<String> = nodes
        .iter()
        .map(|node| {
            let address = shown(node);
            if by_name[node.name.as_str()] == 1 {
                node.name.clone()
            } else if by_address[&(node.name.as_str(), address.clone())] == 1 {
                format!("{} ({address})", node.name)
            } else {
                format!("{} ({address}, {})", node.name, node.id)
            }
        })
        .collect();
    let mut taken = HashSet::new();
    let mut labelled: Vec<(String, DiscoveredNode)> = labels
        .into_iter()
        .zip(nodes)
        .map(|(label, node)| {
            let mut unique = label.clone();
            let mut n = 1;
            while !taken.insert(unique.clone()) {
                n += 1;
                unique = format!("{label} #{n}");
            }
            (unique, node)
        })
        .collect();
    labelled.sort_by(|a, b| a.0.cmp(&b.0));
    labelled
}

/// A warn when node discovery or nodes start failing, an info when they answer again: one
/// event per round for all the nodes that changed, naming the first few, so that a thousand
/// nodes failing at once log one line. `/health` keeps each node's error.
fn log_nodes(previous: &ClusterSnapshot, next: &ClusterSnapshot) {
    let Some(round) = &next.nodes else { return };
    let cluster = &next.name;
    let before = previous.nodes.as_ref();
    let discovery_failed_before = before.is_some_and(|b| b.discovery.is_some());
    match &round.discovery {
        Some(error) => {
            if !discovery_failed_before {
                tracing::warn!(cluster = %cluster, reason = %error.reason, error = %error.detail, "node discovery failing");
            }
            return;
        }
        None if discovery_failed_before => {
            tracing::info!(cluster = %cluster, nodes = round.nodes.len(), "node discovery recovered");
        }
        None => {}
    }
    let failing_before: HashSet<&str> = before
        .into_iter()
        .flat_map(|b| &b.nodes)
        .filter(|n| n.outcome.is_err())
        .map(|n| n.label.as_str())
        .collect();
    let mut failing = Vec::new();
    let mut recovered = Vec::new();
    for node in &round.nodes {
        match (&node.outcome, failing_before.contains(node.label.as_str())) {
            (Err(error), false) => failing.push((node, error)),
            (Ok(_), true) => recovered.push(node.label.as_str()),
            _ => {}
        }
    }
    if let Some((_, first)) = failing.first() {
        let named: Vec<String> = failing
            .iter()
            .map(|(node, error)| format!("{} ({})", node.label, error.reason))
            .collect();
        tracing::warn!(
            cluster = %cluster,
            count = failing.len(),
            nodes = %name_some(&named),
            error = %first.detail,
            "node polls failing"
        );
    }
    if !recovered.is_empty() {
        tracing::info!(
            cluster = %cluster,
            count = recovered.len(),
            nodes = %name_some(&recovered),
            "node polls recovered"
        );
    }
}

/// `a, b, c`, or the first [`NAMED_IN_LOGS`] and how many more.
fn name_some(names: &[impl AsRef<str>]) -> String {
    let shown: Vec<&str> = names
        .iter()
        .take(NAMED_IN_LOGS)
        .map(AsRef::as_ref)
        .collect();
    match names.len().saturating_sub(NAMED_IN_LOGS) {
        0 => shown.join(", "),
        more => format!("{} and {more} more", shown.join(", ")),
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
        Reason::Decode => {
            "the answer was not what Elasticsearch sends for this request; check the URL"
        }
        Reason::TooLarge => {
            "the answer exceeded max_response_bytes or max_remotes; check the URL, or raise them"
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(id: &str, name: &str, publish_address: &str) -> DiscoveredNode {
        DiscoveredNode {
            id: id.to_owned(),
            name: name.to_owned(),
            publish_address: publish_address.to_owned(),
            address: Some(publish_address.to_owned()).filter(|a| !a.ends_with(":99999")),
        }
    }

    #[test]
    fn node_labels_are_names_made_unique_the_same_way_in_any_order() {
        let nodes = vec![
            node("z9", "dup", "10.0.0.2:9200"),
            node("a1", "es-b-1", "10.0.0.1:9200"),
            node("c3", "dup", "10.0.0.3:9200"),
            node("d4", "twin", "10.0.0.4:9200"),
            node("b2", "twin", "10.0.0.4:9200"),
            node("e5", "dup (10.0.0.3:9200)", "10.0.0.5:9200"),
            node("f6", "odd", "127.0.0.1:99999"),
            node("g7", "odd", "10.0.0.7:9200"),
        ];
        let labels = |nodes: Vec<DiscoveredNode>| -> Vec<(String, String)> {
            labelled(nodes)
                .into_iter()
                .map(|(label, node)| (label, node.id))
                .collect()
        };
        let expected: Vec<(String, String)> = [
            ("dup (10.0.0.2:9200)", "z9"),
            ("dup (10.0.0.3:9200)", "c3"),
            ("dup (10.0.0.3:9200) #2", "e5"),
            ("es-b-1", "a1"),
            ("odd (10.0.0.7:9200)", "g7"),
            ("odd (127.0.0.1:99999)", "f6"),
            ("twin (10.0.0.4:9200, b2)", "b2"),
            ("twin (10.0.0.4:9200, d4)", "d4"),
        ]
        .into_iter()
        .map(|(label, id)| (label.to_owned(), id.to_owned()))
        .collect();
        assert_eq!(labels(nodes.clone()), expected);
        let mut reversed = nodes;
        reversed.reverse();
        assert_eq!(labels(reversed), expected);
    }
}
