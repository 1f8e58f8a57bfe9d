//! Health verdicts per remote, per cluster and overall, judged once per poll.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;
use std::time::SystemTime;

use serde::Serialize;

use crate::config::{ClusterConfig, ExpectedRemote};
use crate::remote_info::{Mode, Remote, RemoteInfo};
use crate::snapshot::{ClusterSnapshot, NodeAnswer, PollError};

/// A verdict. Each maps to the exit code of `check`, the convention of monitoring plugins.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    Ok,
    Degraded,
    Down,
    Unknown,
}

/// What a cluster's configuration expects of its remotes; kept in every snapshot.
#[derive(Clone, Debug, Default)]
pub struct Expectations {
    pub remotes: Vec<ExpectedRemote>,
}

/// The verdicts of one cluster after a poll.
#[derive(Clone, Debug)]
pub struct ClusterHealth {
    pub state: Verdict,
    /// A sentence for people.
    pub why: String,
    /// When the cluster entered this state, as far as this process has seen; `None` before
    /// the first poll.
    pub since: Option<SystemTime>,
    /// Remotes in the last successful answer plus expected remotes missing from it, sorted by
    /// alias. After a failed poll, only the expected remotes (as `unknown`).
    pub remotes: Vec<RemoteHealth>,
}

/// The verdict on one remote.
#[derive(Clone, Debug)]
pub struct RemoteHealth {
    pub alias: String,
    pub state: Verdict,
    pub why: String,
    pub since: Option<SystemTime>,
    pub expected: bool,
    /// The alias is in the last successful answer.
    pub present: bool,
    pub mode: Option<String>,
    /// Open gateway nodes (sniff) or sockets (proxy), over the maximum when known: `2/3`.
    pub connections: Option<String>,
    /// With `nodes: all`: whether each answering node is connected, by node label.
    pub nodes: BTreeMap<String, bool>,
}

/// What one poll round saw, as the judge needs it.
pub struct Round<'a> {
    pub at: SystemTime,
    pub outcome: Result<&'a RemoteInfo, &'a PollError>,
    /// With `nodes: all`: every discovered node's own answer.
    pub nodes: Option<&'a [NodeAnswer]>,
}

// === impl Verdict ===

impl Verdict {
    pub const ALL: [Verdict; 4] = [
        Verdict::Ok,
        Verdict::Degraded,
        Verdict::Down,
        Verdict::Unknown,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Ok => "ok",
            Verdict::Degraded => "degraded",
            Verdict::Down => "down",
            Verdict::Unknown => "unknown",
        }
    }

    /// Severity, from best to worst: ok, degraded, unknown, down. A remote known to be down
    /// outranks one that could not be seen; not seeing a remote outranks a known degradation,
    /// because the unseen one may be down.
    fn severity(self) -> u8 {
        match self {
            Verdict::Ok => 0,
            Verdict::Degraded => 1,
            Verdict::Unknown => 2,
            Verdict::Down => 3,
        }
    }

    /// The worse of two verdicts.
    pub fn worst(self, other: Verdict) -> Verdict {
        if other.severity() > self.severity() {
            other
        } else {
            self
        }
    }

    /// The exit code of `check`: 0 ok, 1 degraded, 2 down, 3 unknown.
    pub fn exit_code(self) -> u8 {
        match self {
            Verdict::Ok => 0,
            Verdict::Degraded => 1,
            Verdict::Down => 2,
            Verdict::Unknown => 3,
        }
    }
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

// === impl Expectations ===

impl Expectations {
    pub fn from_config(config: &ClusterConfig) -> Self {
        Self {
            remotes: config.expected_remotes.clone().unwrap_or_default(),
        }
    }

    /// The expected remotes by name, built once per poll so that judging stays linear in the
    /// number of remotes.
    fn by_name(&self) -> HashMap<&str, &ExpectedRemote> {
        self.remotes
            .iter()
            .map(|remote| (remote.name.as_str(), remote))
            .collect()
    }
}

// === impl ClusterHealth ===

impl ClusterHealth {
    /// Before the first poll: the cluster and its expected remotes are `unknown`.
    pub fn not_polled(expect: &Expectations) -> Self {
        let why = "not polled yet";
        Self {
            state: Verdict::Unknown,
            why: why.to_owned(),
            since: None,
            remotes: unseen(expect, why),
        }
    }

    /// Judges a poll round. `previous` supplies the `since` of states that did not change.
    pub fn judge(expect: &Expectations, round: Round<'_>, previous: &ClusterHealth) -> Self {
        let mut next = match round.outcome {
            Ok(info) => judge_answer(expect, info, round.nodes),
            Err(error) => {
                let why = format!("the cluster could not be polled ({})", error.reason);
                Self {
                    state: Verdict::Unknown,
                    why: format!("poll failed: {error}"),
                    since: None,
                    remotes: unseen(expect, &why),
                }
            }
        };

        next.since = match previous.state == next.state {
            true => previous.since.or(Some(round.at)),
            false => Some(round.at),
        };
        let before_by_alias: HashMap<&str, &RemoteHealth> = previous
            .remotes
            .iter()
            .map(|remote| (remote.alias.as_str(), remote))
            .collect();
        for remote in &mut next.remotes {
            remote.since = match before_by_alias.get(remote.alias.as_str()) {
                Some(before) if before.state == remote.state => before.since.or(Some(round.at)),
                _ => Some(round.at),
            };
        }
        next
    }
}

/// The expected remotes as `unknown`, sorted by alias like the remotes of an answer.
fn unseen(expect: &Expectations, why: &str) -> Vec<RemoteHealth> {
    let mut remotes: Vec<RemoteHealth> = expect
        .remotes
        .iter()
        .map(|remote| RemoteHealth::unseen(&remote.name, Verdict::Unknown, why))
        .collect();
    remotes.sort_by(|a, b| a.alias.cmp(&b.alias));
    remotes
}

fn judge_answer(
    expect: &Expectations,
    info: &RemoteInfo,
    nodes: Option<&[NodeAnswer]>,
) -> ClusterHealth {
    let expected = expect.by_name();
    let nodes = NodeViews::new(nodes);
    let mut remotes: Vec<RemoteHealth> = info
        .remotes
        .iter()
        .map(|remote| {
            let expected = expected.get(remote.alias.as_str()).copied();
            judge_remote(remote, expected, &nodes)
        })
        .collect();
    let present: HashSet<&str> = info.remotes.iter().map(|r| r.alias.as_str()).collect();
    for expected in &expect.remotes {
        if !present.contains(expected.name.as_str()) {
            remotes.push(RemoteHealth::unseen(
                &expected.name,
                Verdict::Down,
                "expected, but not in the _remote/info answer",
            ));
        }
    }
    remotes.sort_by(|a, b| a.alias.cmp(&b.alias));

    let state = remotes
        .iter()
        .fold(Verdict::Ok, |worst, remote| worst.worst(remote.state));
    let why = summary(&remotes);
    ClusterHealth {
        state,
        why,
        since: None,
        remotes,
    }
}

/// `3 remotes ok`, or the count of each state that is not ok: `1 down, 1 degraded of 3 remotes`.
fn summary(remotes: &[RemoteHealth]) -> String {
    if remotes.is_empty() {
        return "the answer lists no remotes".to_owned();
    }
    let total = remotes.len();
    let plural = if total == 1 { "remote" } else { "remotes" };
    let counts: Vec<String> = [Verdict::Down, Verdict::Unknown, Verdict::Degraded]
        .into_iter()
        .filter_map(|state| {
            let n = remotes.iter().filter(|r| r.state == state).count();
            (n > 0).then(|| format!("{n} {state}"))
        })
        .collect();
    if counts.is_empty() {
        format!("{total} {plural} ok")
    } else {
        format!("{} of {total} {plural}", counts.join(", "))
    }
}

// === impl RemoteHealth ===

impl RemoteHealth {
    /// An expected remote that no answer described.
    fn unseen(alias: &str, state: Verdict, why: &str) -> Self {
        Self {
            alias: alias.to_owned(),
            state,
            why: why.to_owned(),
            since: None,
            expected: true,
            present: false,
            mode: None,
            connections: None,
            nodes: BTreeMap::new(),
        }
    }
}

/// The verdict on a remote in the answer: connectivity first, then minimums and drift.
fn judge_remote(
    remote: &Remote,
    expected: Option<&ExpectedRemote>,
    nodes: &NodeViews<'_>,
) -> RemoteHealth {
    let (connected, max, sniff) = match &remote.mode {
        Mode::Sniff(sniff) => (sniff.nodes_connected, sniff.max_connections, true),
        Mode::Proxy(proxy) => (proxy.sockets_connected, proxy.max_sockets, false),
        Mode::Other(_) => (None, None, true),
    };
    let connections = connected.map(|n| match max {
        Some(max) => format!("{n}/{max}"),
        None => n.to_string(),
    });
    // `1/3 gateway nodes`, but `1 gateway node` when the maximum is unknown.
    let one = max.is_none() && connected == Some(1);
    let counted = connections
        .as_ref()
        .map(|c| format!(" ({c} {})", unit(sniff, one)))
        .unwrap_or_default();

    let per_node = per_node(&remote.alias, nodes);
    let (state, why) = verdict(remote, expected, &per_node, &counted);
    RemoteHealth {
        alias: remote.alias.clone(),
        state,
        why,
        since: None,
        expected: expected.is_some(),
        present: true,
        mode: Some(remote.mode.label().to_owned()),
        connections,
        nodes: per_node.by_name,
    }
}

/// Connectivity decides first: with `nodes: all` the nodes' own answers, else the configured
/// URL's. A connected remote is then held to its minimums and its `skip_unavailable`.
fn verdict(
    remote: &Remote,
    expected: Option<&ExpectedRemote>,
    per_node: &PerNode,
    counted: &str,
) -> (Verdict, String) {
    let mut problems = Vec::new();
    if per_node.answering() > 0 {
        if let Some(problem) = per_node.problem() {
            if per_node.connected == 0 {
                return (Verdict::Down, problem);
            }
            problems.push(problem);
        }
    } else {
        match remote.connected {
            Some(true) => {}
            Some(false) => return (Verdict::Down, format!("not connected{counted}")),
            None => {
                let why = format!(
                    "the answer carries no connection state (mode {})",
                    remote.mode.label()
                );
                return (Verdict::Unknown, why);
            }
        }
    }
    if let Some(expected) = expected {
        problems.extend(drift(remote, expected));
    }
    match problems.is_empty() {
        true => (Verdict::Ok, format!("connected{counted}")),
        false => (Verdict::Degraded, problems.join("; ")),
    }
}

/// `gateway nodes` (sniff) or `proxy sockets` (proxy), singular when one is meant.
fn unit(sniff: bool, one: bool) -> &'static str {
    match (sniff, one) {
        (true, true) => "gateway node",
        (true, false) => "gateway nodes",
        (false, true) => "proxy socket",
        (false, false) => "proxy sockets",
    }
}

/// How a connected remote falls short of its expectation: minimums and `skip_unavailable`.
/// A count or flag the answer did not carry is not held against it.
fn drift(remote: &Remote, expected: &ExpectedRemote) -> Vec<String> {
    let mut problems = Vec::new();
    match &remote.mode {
        Mode::Sniff(sniff) => {
            if let (Some(min), Some(n)) = (expected.min_nodes, sniff.nodes_connected)
                && n < min
            {
                problems.push(format!(
                    "{n} {} connected, fewer than min_nodes {min}",
                    unit(true, n == 1)
                ));
            }
        }
        Mode::Proxy(proxy) => {
            if let (Some(min), Some(n)) = (expected.min_sockets, proxy.sockets_connected)
                && n < min
            {
                problems.push(format!(
                    "{n} {} open, fewer than min_sockets {min}",
                    unit(false, n == 1)
                ));
            }
        }
        Mode::Other(_) => {}
    }
    if let (Some(want), Some(live)) = (expected.skip_unavailable, remote.skip_unavailable)
        && want != live
    {
        problems.push(format!("skip_unavailable is {live}, expected {want}"));
    }
    problems
}

/// One remote as every answering node sees it.
#[derive(Default)]
struct PerNode {
    by_name: BTreeMap<String, bool>,
    connected: usize,
    not_connected: Vec<String>,
    not_configured: Vec<String>,
}

/// With `nodes: all`: each answering node's remotes by alias, indexed once per poll so that
/// looking a remote up on every node costs one map lookup per node.
struct NodeViews<'a> {
    answering: Vec<(&'a str, HashMap<&'a str, &'a Remote>)>,
}

impl<'a> NodeViews<'a> {
    fn new(nodes: Option<&'a [NodeAnswer]>) -> Self {
        let answering = nodes
            .unwrap_or_default()
            .iter()
            .filter_map(|node| {
                let info = node.outcome.as_ref().ok()?;
                let remotes = info
                    .remotes
                    .iter()
                    .map(|remote| (remote.alias.as_str(), remote))
                    .collect();
                Some((node.label.as_str(), remotes))
            })
            .collect();
        Self { answering }
    }
}

fn per_node(alias: &str, nodes: &NodeViews<'_>) -> PerNode {
    let mut seen = PerNode::default();
    for (name, remotes) in &nodes.answering {
        let name = (*name).to_owned();
        match remotes.get(alias) {
            Some(remote) if remote.connected == Some(true) => {
                seen.connected += 1;
                seen.by_name.insert(name, true);
            }
            Some(_) => {
                seen.not_connected.push(name.clone());
                seen.by_name.insert(name, false);
            }
            None => {
                seen.not_configured.push(name.clone());
                seen.by_name.insert(name, false);
            }
        }
    }
    seen
}

impl PerNode {
    fn answering(&self) -> usize {
        self.by_name.len()
    }

    /// `not connected on node es-b-2; not configured on node es-b-3 (connected on 1 of 3)`.
    fn problem(&self) -> Option<String> {
        let name_list = |names: &[String]| {
            let noun = if names.len() == 1 { "node" } else { "nodes" };
            format!("{noun} {}", names.join(", "))
        };
        let mut parts = Vec::new();
        if !self.not_connected.is_empty() {
            parts.push(format!(
                "not connected on {}",
                name_list(&self.not_connected)
            ));
        }
        if !self.not_configured.is_empty() {
            parts.push(format!(
                "not configured on {}",
                name_list(&self.not_configured)
            ));
        }
        if parts.is_empty() {
            return None;
        }
        Some(format!(
            "{} (connected on {} of {})",
            parts.join("; "),
            self.connected,
            self.answering()
        ))
    }
}

// === the /health document ===

/// The document of `GET /health` and `check --output json`.
#[derive(Debug, Serialize)]
pub struct Report {
    pub state: Verdict,
    pub clusters: Vec<ClusterReport>,
}

#[derive(Debug, Serialize)]
pub struct ClusterReport {
    pub name: String,
    pub state: Verdict,
    pub why: String,
    pub since: Option<String>,
    /// End of the last poll, successful or not.
    pub polled_at: Option<String>,
    pub error: Option<ErrorReport>,
    /// With `nodes: all`: the discovered nodes, and why one could not be polled.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nodes: Option<Vec<NodeReport>>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
    pub remotes: Vec<RemoteReport>,
}

#[derive(Debug, Serialize)]
pub struct ErrorReport {
    pub reason: &'static str,
    pub detail: String,
}

#[derive(Debug, Serialize)]
pub struct NodeReport {
    pub name: String,
    /// The `node` label of the metrics and the remotes' `nodes`: the name, made unique.
    pub node: String,
    pub address: String,
    pub error: Option<ErrorReport>,
}

#[derive(Debug, Serialize)]
pub struct RemoteReport {
    pub name: String,
    pub state: Verdict,
    pub why: String,
    pub since: Option<String>,
    pub expected: bool,
    pub mode: Option<String>,
    pub connections: Option<String>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub nodes: BTreeMap<String, bool>,
}

impl Report {
    /// The report over every cluster's latest snapshot; the overall state is the worst.
    pub fn new(snapshots: &[impl AsRef<ClusterSnapshot>]) -> Self {
        let clusters: Vec<ClusterReport> = snapshots
            .iter()
            .map(|s| ClusterReport::new(s.as_ref()))
            .collect();
        let state = clusters
            .iter()
            .fold(Verdict::Ok, |worst, c| worst.worst(c.state));
        Self { state, clusters }
    }
}

impl ClusterReport {
    fn new(snapshot: &ClusterSnapshot) -> Self {
        let health = &snapshot.health;
        let error = |e: &PollError| ErrorReport {
            reason: e.reason.as_str(),
            detail: e.detail.clone(),
        };
        let nodes = snapshot.nodes.as_ref().map(|round| {
            round
                .nodes
                .iter()
                .map(|node| NodeReport {
                    name: node.name.clone(),
                    node: node.label.clone(),
                    address: node.address.clone(),
                    error: node.outcome.as_ref().err().map(error),
                })
                .collect()
        });
        let mut notes = Vec::new();
        if let Some(round) = &snapshot.nodes {
            if let Some(e) = &round.discovery {
                notes.push(format!(
                    "node discovery failed, so verdicts use the configured URL only: {e}"
                ));
            }
            for node in &round.nodes {
                if let Err(e) = &node.outcome {
                    notes.push(format!("node {} could not be polled: {e}", node.label));
                }
            }
        }
        notes.extend(snapshot.notes.iter().cloned());
        Self {
            name: snapshot.name.clone(),
            state: health.state,
            why: health.why.clone(),
            since: health.since.map(rfc3339),
            polled_at: snapshot.last_poll.as_ref().map(|p| rfc3339(p.finished)),
            error: snapshot.error().map(error),
            nodes,
            notes,
            remotes: health
                .remotes
                .iter()
                .map(|remote| RemoteReport {
                    name: remote.alias.clone(),
                    state: remote.state,
                    why: remote.why.clone(),
                    since: remote.since.map(rfc3339),
                    expected: remote.expected,
                    mode: remote.mode.clone(),
                    connections: remote.connections.clone(),
                    nodes: remote.nodes.clone(),
                })
                .collect(),
        }
    }
}

/// RFC 3339 in UTC, to the second.
pub fn rfc3339(time: SystemTime) -> String {
    humantime::format_rfc3339_seconds(time).to_string()
}
