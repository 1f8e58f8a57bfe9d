//! What one poll of one cluster left behind: immutable snapshots, replaced whole by each poll.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use arc_swap::ArcSwap;

use crate::health::{ClusterHealth, Expectations, Round};
use crate::remote_info::RemoteInfo;

/// Why a poll failed: a closed set, each exported as a `reason` label value.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Reason {
    Timeout,
    Connect,
    Tls,
    Unauthorized,
    Forbidden,
    BadRequest,
    HttpError,
    Decode,
    TooLarge,
}

/// A failed poll: its reason and a one-line explanation that never holds a secret or a body.
#[derive(Clone, Debug, PartialEq)]
pub struct PollError {
    pub reason: Reason,
    pub detail: String,
}

/// The latest known state of one configured cluster.
#[derive(Clone, Debug)]
pub struct ClusterSnapshot {
    /// The `cluster` label.
    pub name: String,
    pub polls: u64,
    /// Failed polls, indexed like [`Reason::ALL`].
    pub errors: [u64; Reason::ALL.len()],
    /// `None` until the first poll has finished.
    pub last_poll: Option<LastPoll>,
    /// End of the last successful poll.
    pub last_success: Option<SystemTime>,
    /// Remotes in the last successful answer.
    pub last_success_remotes: usize,
    /// What the configuration expects; the same in every snapshot of the cluster.
    pub expect: Arc<Expectations>,
    /// The verdicts of the last poll.
    pub health: ClusterHealth,
    /// Per alias in the last successful answer: what earlier polls saw.
    pub history: BTreeMap<String, RemoteHistory>,
    /// With `nodes: all`: what the nodes answered in the last round.
    pub nodes: Option<NodeRound>,
    /// With `probe: resolve_cluster`: each remote's `connected` from the last probe.
    pub reachable: Option<BTreeMap<String, bool>>,
    /// Remarks for `/health`, such as a probe the cluster is too old for.
    pub notes: Vec<String>,
}

/// What earlier polls saw of one remote. Carried from snapshot to snapshot while the alias is
/// in the successful answers (failed polls carry it unchanged); dropped when the alias leaves
/// an answer, so a remote that comes back starts from zero.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RemoteHistory {
    /// Connected-to-disconnected transitions between successful polls.
    pub disconnects: u64,
    /// End of the last poll that saw the remote connected.
    pub last_connected: Option<SystemTime>,
    /// `connected` at the last successful poll that carried it.
    pub connected: Option<bool>,
}

/// With `nodes: all`: the nodes found by discovery and each one's own `_remote/info` answer.
#[derive(Clone, Debug, Default)]
pub struct NodeRound {
    /// Why discovery failed; the nodes are then empty and verdicts use the configured URL.
    pub discovery: Option<PollError>,
    pub nodes: Vec<NodeAnswer>,
}

/// One node's answer.
#[derive(Clone, Debug)]
pub struct NodeAnswer {
    /// The `node` label: the node's name.
    pub name: String,
    /// `host:port` of its HTTP publish address.
    pub address: String,
    pub outcome: Result<Arc<RemoteInfo>, PollError>,
}

/// What a poll round found besides the configured URL's answer.
#[derive(Clone, Debug, Default)]
pub struct Observations {
    pub nodes: Option<NodeRound>,
    pub reachable: Option<BTreeMap<String, bool>>,
    pub notes: Vec<String>,
}

/// The outcome of the most recent poll.
#[derive(Clone, Debug)]
pub struct LastPoll {
    pub finished: SystemTime,
    pub duration: Duration,
    pub outcome: Result<Arc<RemoteInfo>, PollError>,
}

/// The snapshots of every configured cluster, in configuration order. Each slot is swapped
/// atomically by its own poller and read without locks by `/metrics` and `/health`.
#[derive(Debug)]
pub struct State {
    clusters: Vec<ArcSwap<ClusterSnapshot>>,
}

// === impl Reason ===

impl Reason {
    pub const ALL: [Reason; 9] = [
        Reason::Timeout,
        Reason::Connect,
        Reason::Tls,
        Reason::Unauthorized,
        Reason::Forbidden,
        Reason::BadRequest,
        Reason::HttpError,
        Reason::Decode,
        Reason::TooLarge,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Reason::Timeout => "timeout",
            Reason::Connect => "connect",
            Reason::Tls => "tls",
            Reason::Unauthorized => "unauthorized",
            Reason::Forbidden => "forbidden",
            Reason::BadRequest => "bad_request",
            Reason::HttpError => "http_error",
            Reason::Decode => "decode",
            Reason::TooLarge => "too_large",
        }
    }

    fn index(self) -> usize {
        Reason::ALL
            .iter()
            .position(|r| *r == self)
            .expect("every reason is in ALL")
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

// === impl PollError ===

impl PollError {
    pub fn new(reason: Reason, detail: impl Into<String>) -> Self {
        Self {
            reason,
            detail: detail.into(),
        }
    }
}

impl fmt::Display for PollError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.reason, self.detail)
    }
}

impl std::error::Error for PollError {}

// === impl ClusterSnapshot ===

impl ClusterSnapshot {
    /// The state of a cluster that has not been polled yet and expects nothing.
    pub fn new(name: impl Into<String>) -> Self {
        Self::expecting(name, Expectations::default())
    }

    /// The state of a cluster that has not been polled yet.
    pub fn expecting(name: impl Into<String>, expect: Expectations) -> Self {
        Self {
            name: name.into(),
            polls: 0,
            errors: [0; Reason::ALL.len()],
            last_poll: None,
            last_success: None,
            last_success_remotes: 0,
            health: ClusterHealth::not_polled(&expect),
            expect: Arc::new(expect),
            history: BTreeMap::new(),
            nodes: None,
            reachable: None,
            notes: Vec::new(),
        }
    }

    /// The snapshot that follows this one once a poll of the configured URL has finished.
    pub fn after_poll(&self, poll: LastPoll) -> Self {
        self.after_round(poll, Observations::default())
    }

    /// The snapshot that follows this one once a whole poll round has finished: counters,
    /// history and verdicts are worked out here, once, not at scrape time.
    pub fn after_round(&self, poll: LastPoll, seen: Observations) -> Self {
        let mut next = self.clone();
        next.polls += 1;
        match &poll.outcome {
            Ok(info) => {
                next.last_success = Some(poll.finished);
                next.last_success_remotes = info.remotes.len();
                next.history = carry_history(&self.history, info, poll.finished);
            }
            Err(error) => next.errors[error.reason.index()] += 1,
        }
        let round = Round {
            at: poll.finished,
            outcome: poll.outcome.as_ref().map(|info| &**info),
            nodes: seen.nodes.as_ref().map(|round| round.nodes.as_slice()),
        };
        next.health = ClusterHealth::judge(&self.expect, round, &self.health);
        next.nodes = seen.nodes;
        next.reachable = seen.reachable;
        next.notes = seen.notes;
        next.last_poll = Some(poll);
        next
    }

    pub fn errors_for(&self, reason: Reason) -> u64 {
        self.errors[reason.index()]
    }

    /// The remotes of the last poll, if it succeeded.
    pub fn remote_info(&self) -> Option<&RemoteInfo> {
        match &self.last_poll.as_ref()?.outcome {
            Ok(info) => Some(info),
            Err(_) => None,
        }
    }

    /// The error of the last poll, if it failed.
    pub fn error(&self) -> Option<&PollError> {
        self.last_poll.as_ref()?.outcome.as_ref().err()
    }
}

/// The history of every alias in `info`, continued from `previous`.
fn carry_history(
    previous: &BTreeMap<String, RemoteHistory>,
    info: &RemoteInfo,
    at: SystemTime,
) -> BTreeMap<String, RemoteHistory> {
    info.remotes
        .iter()
        .map(|remote| {
            let mut history = previous.get(&remote.alias).cloned().unwrap_or_default();
            if history.connected == Some(true) && remote.connected == Some(false) {
                history.disconnects += 1;
            }
            if remote.connected == Some(true) {
                history.last_connected = Some(at);
            }
            if remote.connected.is_some() {
                history.connected = remote.connected;
            }
            (remote.alias.clone(), history)
        })
        .collect()
}

// === impl State ===

impl State {
    /// Clusters that expect nothing of their remotes.
    pub fn new(names: impl IntoIterator<Item = String>) -> Self {
        Self::expecting(
            names
                .into_iter()
                .map(|name| (name, Expectations::default())),
        )
    }

    /// Clusters with what each expects of its remotes.
    pub fn expecting(clusters: impl IntoIterator<Item = (String, Expectations)>) -> Self {
        let clusters = clusters
            .into_iter()
            .map(|(name, expect)| ArcSwap::from_pointee(ClusterSnapshot::expecting(name, expect)))
            .collect();
        Self { clusters }
    }

    pub fn len(&self) -> usize {
        self.clusters.len()
    }

    pub fn is_empty(&self) -> bool {
        self.clusters.is_empty()
    }

    pub fn get(&self, index: usize) -> Arc<ClusterSnapshot> {
        self.clusters[index].load_full()
    }

    pub fn set(&self, index: usize, snapshot: ClusterSnapshot) {
        self.clusters[index].store(Arc::new(snapshot));
    }

    /// Every cluster's latest snapshot, in configuration order.
    pub fn snapshots(&self) -> Vec<Arc<ClusterSnapshot>> {
        self.clusters.iter().map(ArcSwap::load_full).collect()
    }

    /// True once every cluster has finished its first poll.
    pub fn all_polled(&self) -> bool {
        self.clusters
            .iter()
            .all(|slot| slot.load().last_poll.is_some())
    }
}
