//! Health verdicts per remote, per cluster and overall, judged once per poll.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::fmt;
use std::time::SystemTime;

use serde::Serialize;

use crate::config::{ClusterConfig, ExpectedRemote};
use crate::remote_info::{Mode, Remote, RemoteInfo};
use crate::snapshot::{ClusterSnapshot, NodeRound, PollError, Reason};

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

/// How many nodes a `why` names; the others are only counted. Every node's own view stays
/// in the remote's `nodes`.
const NAMED_NODES: usize = 10;

/// The verdicts of one cluster after a poll.
#[derive(Clone, Debug)]
pub struct ClusterHealth {
    pub state: Verdict,
    /// A sentence for people.
    pub why: String,
    /// When the cluster entered this state, as far as this process has seen; `None` before
    /// the first poll.
    pub since: Option<SystemTime>,
    /// The answers the verdicts were judged from.
    pub basis: Basis,
    /// Remotes in the answers judged plus expected remotes missing from them, sorted by
    /// alias. With no answer to judge, only the expected remotes (as `unknown`).
    pub remotes: Vec<RemoteHealth>,
}

/// The answers a cluster's verdicts were judged from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Basis {
    /// None: not polled yet, or the poll failed and no node could stand in; all `unknown`.
    Nothing,
    /// The configured URL's answer alone.
    Url,
    /// With `nodes: all`: the answering nodes' own answers, and the configured URL's aliases
    /// when it answered.
    Nodes,
}

/// The verdict on one remote.
#[derive(Clone, Debug)]
pub struct RemoteHealth {
    pub alias: String,
    pub state: Verdict,
    pub why: String,
    pub since: Option<SystemTime>,
    pub expected: bool,
    /// The alias is in an answer the verdict was judged from.
    pub present: bool,
    pub mode: Option<String>,
    /// Open gateway nodes (sniff) or sockets (proxy), over the maximum when known: `2/3`.
    /// Judged from the nodes, the fewest any node holds.
    pub connections: Option<String>,
    /// Judged from the nodes: whether each answering node is connected, by node label.
    pub nodes: BTreeMap<String, bool>,
}

/// What one poll round saw, as the judge needs it.
pub struct Round<'a> {
    pub at: SystemTime,
    pub outcome: Result<&'a RemoteInfo, &'a PollError>,
    /// With `nodes: all`: discovery and every discovered node's own answer.
    pub nodes: Option<&'a NodeRound>,
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
        Self::unseen(expect, "not polled yet".to_owned(), "not polled yet")
    }

    /// No answer to judge: the cluster and its expected remotes are `unknown`.
    fn unseen(expect: &Expectations, why: String, remote_why: &str) -> Self {
        let mut remotes: Vec<RemoteHealth> = expect
            .remotes
            .iter()
            .map(|remote| RemoteHealth::unseen(&remote.name, Verdict::Unknown, remote_why))
            .collect();
        remotes.sort_by(|a, b| a.alias.cmp(&b.alias));
        Self {
            state: Verdict::Unknown,
            why,
            since: None,
            basis: Basis::Nothing,
            remotes,
        }
    }

    /// Judges a poll round. `previous` supplies the `since` of states that did not change.
    ///
    /// With `nodes: all` and at least one node answering, the remotes are judged from the
    /// nodes' own answers, also when the configured URL answered 400 (its node lacks the
    /// `remote_cluster_client` role). A node that could not be polled, or a failed discovery,
    /// makes the cluster at least `degraded` and leaves the remotes' verdicts alone.
    pub fn judge(expect: &Expectations, round: Round<'_>, previous: &ClusterHealth) -> Self {
        let nodes = NodeViews::new(round.nodes);
        let mut next = match round.outcome {
            Ok(info) if nodes.answering.is_empty() => judge_answer(expect, info),
            Ok(info) => judge_on_nodes(expect, Some(info), &nodes),
            Err(error) if error.reason == Reason::BadRequest && !nodes.answering.is_empty() => {
                judge_on_nodes(expect, None, &nodes)
            }
            Err(error) => Self::unseen(
                expect,
                format!("poll failed: {error}"),
                &format!("the cluster could not be polled ({})", error.reason),
            ),
        };
        if let Some(trouble) = round.nodes.and_then(node_trouble) {
            next.state = next.state.worst(Verdict::Degraded);
            next.why = format!("{}; {trouble}", next.why);
        }

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

/// Judges the configured URL's answer alone.
fn judge_answer(expect: &Expectations, info: &RemoteInfo) -> ClusterHealth {
    let expected = expect.by_name();
    let remotes = info
        .remotes
        .iter()
        .map(|remote| judge_remote(remote, expected.get(remote.alias.as_str()).copied()))
        .collect();
    conclude(
        expect,
        remotes,
        "expected, but not in the _remote/info answer",
        Basis::Url,
    )
}

/// Judges every remote from the answering nodes' own answers. The remotes are those of every
/// answering node and, when it answered, of the configured URL.
fn judge_on_nodes(
    expect: &Expectations,
    url: Option<&RemoteInfo>,
    nodes: &NodeViews<'_>,
) -> ClusterHealth {
    let expected = expect.by_name();
    let url_by_alias: HashMap<&str, &Remote> = url
        .into_iter()
        .flat_map(|info| &info.remotes)
        .map(|remote| (remote.alias.as_str(), remote))
        .collect();
    let mut aliases: BTreeSet<&str> = url_by_alias.keys().copied().collect();
    for (_, remotes) in &nodes.answering {
        aliases.extend(remotes.keys().copied());
    }
    let remotes = aliases
        .into_iter()
        .map(|alias| {
            let per_node = PerNode::of(alias, nodes);
            judge_across_nodes(
                alias,
                url_by_alias.get(alias).copied(),
                expected.get(alias).copied(),
                &per_node,
            )
        })
        .collect();
    conclude(
        expect,
        remotes,
        "expected, but in no node's _remote/info answer",
        Basis::Nodes,
    )
}

/// The cluster's verdict over its judged remotes, with the expected remotes that no answer
/// had added as `down`, sorted by alias.
fn conclude(
    expect: &Expectations,
    mut remotes: Vec<RemoteHealth>,
    missing: &str,
    basis: Basis,
) -> ClusterHealth {
    let present: HashSet<&str> = remotes.iter().map(|r| r.alias.as_str()).collect();
    let absent: Vec<RemoteHealth> = expect
        .remotes
        .iter()
        .filter(|expected| !present.contains(expected.name.as_str()))
        .map(|expected| RemoteHealth::unseen(&expected.name, Verdict::Down, missing))
        .collect();
    remotes.extend(absent);
    remotes.sort_by(|a, b| a.alias.cmp(&b.alias));

    let state = remotes
        .iter()
        .fold(Verdict::Ok, |worst, remote| worst.worst(remote.state));
    let why = match (remotes.is_empty(), basis) {
        (true, Basis::Nodes) => "no node's answer lists a remote".to_owned(),
        _ => summary(&remotes),
    };
    ClusterHealth {
        state,
        why,
        since: None,
        basis,
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

/// What keeps the nodes from being fully seen: `node es-b-3 could not be polled`.
fn node_trouble(round: &NodeRound) -> Option<String> {
    if let Some(error) = &round.discovery {
        return Some(format!("node discovery failed ({})", error.reason));
    }
    let failing: Vec<&str> = round
        .nodes
        .iter()
        .filter(|node| node.outcome.is_err())
        .map(|node| node.label.as_str())
        .collect();
    (!failing.is_empty()).then(|| format!("{} could not be polled", node_list(&failing)))
}

/// `node a`, `nodes a, b`, or the first [`NAMED_NODES`] and how many more.
fn node_list(labels: &[&str]) -> String {
    let noun = if labels.len() == 1 { "node" } else { "nodes" };
    let shown = labels[..labels.len().min(NAMED_NODES)].join(", ");
    match labels.len().saturating_sub(NAMED_NODES) {
        0 => format!("{noun} {shown}"),
        more => format!("{noun} {shown} and {more} more"),
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

/// Open gateway nodes (sniff) or proxy sockets (proxy), and the maximum when known.
#[derive(Clone, Copy, Debug, PartialEq)]
struct Count {
    open: u64,
    max: Option<u64>,
    sniff: bool,
}

impl Count {
    /// The count a remote's answer carries; none for an unknown mode or a missing field.
    fn of(remote: &Remote) -> Option<Self> {
        match &remote.mode {
            Mode::Sniff(sniff) => sniff.nodes_connected.map(|open| Count {
                open,
                max: sniff.max_connections,
                sniff: true,
            }),
            Mode::Proxy(proxy) => proxy.sockets_connected.map(|open| Count {
                open,
                max: proxy.max_sockets,
                sniff: false,
            }),
            Mode::Other(_) => None,
        }
    }

    /// `2/3`, or `2` when the maximum is unknown.
    fn ratio(self) -> String {
        match self.max {
            Some(max) => format!("{}/{max}", self.open),
            None => self.open.to_string(),
        }
    }

    /// `gateway nodes` or `proxy sockets`, singular when one is meant.
    fn unit(self, one: bool) -> &'static str {
        match (self.sniff, one) {
            (true, true) => "gateway node",
            (true, false) => "gateway nodes",
            (false, true) => "proxy socket",
            (false, false) => "proxy sockets",
        }
    }

    /// `2/3 gateway nodes`, or `1 gateway node` when the maximum is unknown.
    fn described(self) -> String {
        let one = self.max.is_none() && self.open == 1;
        format!("{} {}", self.ratio(), self.unit(one))
    }
}

/// The minimum a connected remote falls short of: its count, the key and the minimum. A count
/// the answer did not carry is not held against it.
fn shortfall(remote: &Remote, expected: &ExpectedRemote) -> Option<(Count, &'static str, u64)> {
    let count = Count::of(remote)?;
    let (key, min) = match count.sniff {
        true => ("min_nodes", expected.min_nodes?),
        false => ("min_sockets", expected.min_sockets?),
    };
    (count.open < min).then_some((count, key, min))
}

/// The live `skip_unavailable` when it differs from the expected one.
fn skip_drift(remote: &Remote, expected: &ExpectedRemote) -> Option<bool> {
    let (want, live) = (expected.skip_unavailable?, remote.skip_unavailable?);
    (want != live).then_some(live)
}

/// The verdict on a remote in the configured URL's answer: connectivity first, then minimums
/// and drift.
fn judge_remote(remote: &Remote, expected: Option<&ExpectedRemote>) -> RemoteHealth {
    let count = Count::of(remote);
    let counted = count
        .map(|c| format!(" ({})", c.described()))
        .unwrap_or_default();
    let (state, why) = match remote.connected {
        Some(true) => {
            let problems = expected.map(|e| drift(remote, e)).unwrap_or_default();
            match problems.is_empty() {
                true => (Verdict::Ok, format!("connected{counted}")),
                false => (Verdict::Degraded, problems.join("; ")),
            }
        }
        Some(false) => (Verdict::Down, format!("not connected{counted}")),
        None => (
            Verdict::Unknown,
            format!(
                "the answer carries no connection state (mode {})",
                remote.mode.label()
            ),
        ),
    };
    RemoteHealth {
        alias: remote.alias.clone(),
        state,
        why,
        since: None,
        expected: expected.is_some(),
        present: true,
        mode: Some(remote.mode.label().to_owned()),
        connections: count.map(Count::ratio),
        nodes: BTreeMap::new(),
    }
}

/// How a connected remote falls short of its expectation: minimums and `skip_unavailable`.
fn drift(remote: &Remote, expected: &ExpectedRemote) -> Vec<String> {
    let mut problems = Vec::new();
    if let Some((count, key, min)) = shortfall(remote, expected) {
        let verb = if count.sniff { "connected" } else { "open" };
        problems.push(format!(
            "{} {} {verb}, fewer than {key} {min}",
            count.open,
            count.unit(count.open == 1)
        ));
    }
    if let Some(live) = skip_drift(remote, expected) {
        problems.push(format!("skip_unavailable is {live}, expected {}", !live));
    }
    problems
}

/// The verdict on a remote from every answering node's own view: connected on none is `down`,
/// on some only `degraded`; each node is then held to the minimums and the `skip_unavailable`
/// it reports itself. `url` is the configured URL's view, shown when no node has the remote.
fn judge_across_nodes(
    alias: &str,
    url: Option<&Remote>,
    expected: Option<&ExpectedRemote>,
    per_node: &PerNode<'_>,
) -> RemoteHealth {
    let counts: Vec<Count> = per_node
        .configured()
        .filter_map(|(_, remote)| Count::of(remote))
        .collect();
    let fewest = counts.iter().copied().min_by_key(|c| c.open);
    let shown = per_node.configured().map(|(_, r)| r).next().or(url);
    let (state, why) = verdict_across_nodes(shown, expected, per_node, &counts);
    RemoteHealth {
        alias: alias.to_owned(),
        state,
        why,
        since: None,
        expected: expected.is_some(),
        present: true,
        mode: shown.map(|remote| remote.mode.label().to_owned()),
        connections: fewest.or_else(|| url.and_then(Count::of)).map(Count::ratio),
        nodes: per_node.by_label(),
    }
}

fn verdict_across_nodes(
    shown: Option<&Remote>,
    expected: Option<&ExpectedRemote>,
    per_node: &PerNode<'_>,
    counts: &[Count],
) -> (Verdict, String) {
    let connected = per_node.connected().count();
    let stateless = per_node.configured().all(|(_, r)| r.connected.is_none());
    if connected == 0
        && stateless
        && let Some(remote) = shown
        && per_node.configured().next().is_some()
    {
        let why = format!(
            "the answers carry no connection state (mode {})",
            remote.mode.label()
        );
        return (Verdict::Unknown, why);
    }
    let mut problems = Vec::new();
    if let Some(problem) = per_node.connectivity() {
        if connected == 0 {
            return (Verdict::Down, problem);
        }
        problems.push(problem);
    }
    if let Some(expected) = expected {
        problems.extend(drift_across_nodes(per_node, expected));
    }
    if !problems.is_empty() {
        return (Verdict::Degraded, problems.join("; "));
    }
    let on = match connected {
        1 => "connected on 1 of 1 node".to_owned(),
        n => format!("connected on {n} of {n} nodes"),
    };
    let (Some(low), Some(high)) = (
        counts.iter().min_by_key(|c| c.open),
        counts.iter().max_by_key(|c| c.open),
    ) else {
        return (Verdict::Ok, on);
    };
    let why = if counts.iter().any(|c| c.sniff != low.sniff) {
        on
    } else if counts.iter().all(|c| c == low) {
        let each = if connected > 1 { " each" } else { "" };
        format!("{on} ({}{each})", low.described())
    } else {
        format!(
            "{on} ({} to {} {})",
            low.ratio(),
            high.ratio(),
            low.unit(false)
        )
    };
    (Verdict::Ok, why)
}

/// The minimums and `skip_unavailable` of each node, against the expectation, naming the
/// nodes that fall short: `fewer gateway nodes than min_nodes 2 on node es-b-3 (1/3)`.
fn drift_across_nodes(per_node: &PerNode<'_>, expected: &ExpectedRemote) -> Vec<String> {
    let mut short: BTreeMap<(&str, u64, &str), Vec<String>> = BTreeMap::new();
    for (label, remote) in per_node.connected() {
        if let Some((count, key, min)) = shortfall(remote, expected) {
            short
                .entry((key, min, count.unit(false)))
                .or_default()
                .push(format!("{label} ({})", count.ratio()));
        }
    }
    let mut problems: Vec<String> = short
        .into_iter()
        .map(|((key, min, unit), nodes)| {
            let nodes: Vec<&str> = nodes.iter().map(String::as_str).collect();
            format!("fewer {unit} than {key} {min} on {}", node_list(&nodes))
        })
        .collect();
    let mut drifted: BTreeMap<bool, Vec<&str>> = BTreeMap::new();
    for (label, remote) in per_node.configured() {
        if let Some(live) = skip_drift(remote, expected) {
            drifted.entry(live).or_default().push(label);
        }
    }
    for (live, nodes) in drifted {
        problems.push(format!(
            "skip_unavailable is {live} on {}, expected {}",
            node_list(&nodes),
            !live
        ));
    }
    problems
}

/// With `nodes: all`: each answering node's remotes by alias, indexed once per poll so that
/// looking a remote up on every node costs one map lookup per node. In label order.
struct NodeViews<'a> {
    answering: Vec<(&'a str, HashMap<&'a str, &'a Remote>)>,
}

impl<'a> NodeViews<'a> {
    fn new(round: Option<&'a NodeRound>) -> Self {
        let answering = round
            .into_iter()
            .flat_map(|round| &round.nodes)
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

/// One remote as each answering node sees it, in label order: `None` where it is not
/// configured.
struct PerNode<'a> {
    seen: Vec<(&'a str, Option<&'a Remote>)>,
}

impl<'a> PerNode<'a> {
    fn of(alias: &str, nodes: &NodeViews<'a>) -> Self {
        let seen = nodes
            .answering
            .iter()
            .map(|(label, remotes)| (*label, remotes.get(alias).copied()))
            .collect();
        Self { seen }
    }

    /// The nodes that have the remote configured, with their view of it.
    fn configured(&self) -> impl Iterator<Item = (&'a str, &'a Remote)> + '_ {
        self.seen
            .iter()
            .filter_map(|(label, remote)| Some((*label, (*remote)?)))
    }

    /// The nodes that hold a connection to the remote.
    fn connected(&self) -> impl Iterator<Item = (&'a str, &'a Remote)> + '_ {
        self.configured()
            .filter(|(_, remote)| remote.connected == Some(true))
    }

    /// Whether each answering node holds a connection, by label.
    fn by_label(&self) -> BTreeMap<String, bool> {
        self.seen
            .iter()
            .map(|(label, remote)| {
                let connected = remote.is_some_and(|r| r.connected == Some(true));
                ((*label).to_owned(), connected)
            })
            .collect()
    }

    /// `not connected on node es-b-2; not configured on node es-b-3 (connected on 1 of 3)`,
    /// or `None` when every answering node holds a connection.
    fn connectivity(&self) -> Option<String> {
        let mut not_connected = Vec::new();
        let mut stateless = Vec::new();
        let mut not_configured = Vec::new();
        for (label, remote) in &self.seen {
            match remote.map(|r| r.connected) {
                Some(Some(true)) => {}
                Some(Some(false)) => not_connected.push(*label),
                Some(None) => stateless.push(*label),
                None => not_configured.push(*label),
            }
        }
        let parts: Vec<String> = [
            ("not connected on", not_connected),
            ("no connection state on", stateless),
            ("not configured on", not_configured),
        ]
        .into_iter()
        .filter(|(_, labels)| !labels.is_empty())
        .map(|(what, labels)| format!("{what} {}", node_list(&labels)))
        .collect();
        if parts.is_empty() {
            return None;
        }
        Some(format!(
            "{} (connected on {} of {})",
            parts.join("; "),
            self.connected().count(),
            self.seen.len()
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
        let mut notes = snapshot
            .nodes
            .as_ref()
            .map(|round| node_notes(snapshot, round))
            .unwrap_or_default();
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

/// How many failed nodes get a note each; the nodes list carries every node's error.
const NOTED_NODES: usize = 5;

/// What `/health` should say about the nodes: where the verdicts came from when that is not
/// the obvious, and why nodes could not be polled.
fn node_notes(snapshot: &ClusterSnapshot, round: &NodeRound) -> Vec<String> {
    let mut notes = Vec::new();
    match (snapshot.health.basis, snapshot.error()) {
        (Basis::Nodes, Some(e)) => notes.push(format!(
            "the configured URL failed ({e}), so the verdicts come from the nodes' own answers"
        )),
        (Basis::Url, _) if round.discovery.is_none() && round.nodes.is_empty() => notes.push(
            "discovery found no node with the remote_cluster_client role and an HTTP address, \
             so the verdicts come from the configured URL's answer alone"
                .to_owned(),
        ),
        (Basis::Url, _) => notes.push(
            "no node answered, so the verdicts come from the configured URL's answer alone"
                .to_owned(),
        ),
        _ => {}
    }
    if let Some(e) = &round.discovery {
        notes.push(format!("node discovery failed: {e}"));
    }
    let failed: Vec<_> = round.nodes.iter().filter(|n| n.outcome.is_err()).collect();
    for node in failed.iter().take(NOTED_NODES) {
        if let Err(e) = &node.outcome {
            notes.push(format!("node {} could not be polled: {e}", node.label));
        }
    }
    if failed.len() > NOTED_NODES {
        notes.push(format!(
            "{} more nodes could not be polled; each node's error is in nodes",
            failed.len() - NOTED_NODES
        ));
    }
    notes
}

/// RFC 3339 in UTC, to the second.
pub fn rfc3339(time: SystemTime) -> String {
    humantime::format_rfc3339_seconds(time).to_string()
}
