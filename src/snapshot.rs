//! What one poll of one cluster left behind: immutable snapshots, replaced whole by each poll.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use arc_swap::ArcSwap;

use crate::health::{ClusterHealth, Expectations, Round};
use crate::remote_info::RemoteInfo;
use crate::text::one_line;

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
    /// At most [`MAX_DETAIL`] characters, without control characters.
    pub detail: String,
}

/// The longest error detail kept: a parser's message can quote a whole string of the answer,
/// and the detail goes to logs, `/health` and `check`.
pub const MAX_DETAIL: usize = 300;

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
    /// Why discovery failed; the nodes are then empty and cannot help judge the remotes.
    pub discovery: Option<PollError>,
    /// Every discovered node, sorted by label, whether it answered or not.
    pub nodes: Vec<NodeAnswer>,
}

/// One node's answer.
#[derive(Clone, Debug)]
pub struct NodeAnswer {
    /// The `node` label: the node's name, or `name (host:port)` when several discovered nodes
    /// share the name (Elasticsearch does not require names to be unique). Unique in a round.
    pub label: String,
    /// The name the node reports.
    pub name: String,
    /// `host:port` of its HTTP publish address, or the publish address as published when it
    /// is not a usable `host:port`.
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

/// One configured cluster's place in the state: its latest snapshot, swapped whole by the one
/// poller that owns the slot. A reload hands a kept cluster's slot to its new poller.
#[derive(Debug)]
pub struct Slot {
    snapshot: ArcSwap<ClusterSnapshot>,
}

/// The slots of every configured cluster, in configuration order. A reload swaps the whole set
/// at once; each slot is swapped by its own poller; `/metrics` and `/health` read both without
/// locks.
#[derive(Debug)]
pub struct State {
    clusters: ArcSwap<Vec<Arc<Slot>>>,
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
    pub fn new(reason: Reason, detail: impl AsRef<str>) -> Self {
        Self {
            reason,
            detail: one_line(detail.as_ref(), MAX_DETAIL),
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
            nodes: seen.nodes.as_ref(),
        };
        next.health = ClusterHealth::judge(&self.expect, round, &self.health);
        next.nodes = seen.nodes;
        next.reachable = seen.reachable;
        next.notes = seen.notes;
        next.last_poll = Some(poll);
        next
    }

    /// This snapshot under the expectations of a reloaded configuration: the last round is
    /// judged again, so that verdicts follow the new `expected_remotes` without a poll.
    pub fn with_expectations(&self, expect: Expectations) -> Self {
        let mut next = self.clone();
        next.health = match &self.last_poll {
            None => ClusterHealth::not_polled(&expect),
            Some(poll) => {
                let round = Round {
                    at: poll.finished,
                    outcome: poll.outcome.as_ref().map(|info| &**info),
                    nodes: self.nodes.as_ref(),
                };
                ClusterHealth::judge(&expect, round, &self.health)
            }
        };
        next.expect = Arc::new(expect);
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

// === impl Slot ===

impl Slot {
    pub fn new(snapshot: ClusterSnapshot) -> Self {
        Self {
            snapshot: ArcSwap::from_pointee(snapshot),
        }
    }

    pub fn load(&self) -> Arc<ClusterSnapshot> {
        self.snapshot.load_full()
    }

    pub fn store(&self, snapshot: ClusterSnapshot) {
        self.snapshot.store(Arc::new(snapshot));
    }
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
            .map(|(name, expect)| Arc::new(Slot::new(ClusterSnapshot::expecting(name, expect))))
            .collect();
        Self {
            clusters: ArcSwap::from_pointee(clusters),
        }
    }

    pub fn len(&self) -> usize {
        self.clusters.load().len()
    }

    pub fn is_empty(&self) -> bool {
        self.clusters.load().is_empty()
    }

    /// The slot at `index` of the current set. Panics when there is none.
    pub fn slot(&self, index: usize) -> Arc<Slot> {
        self.clusters.load()[index].clone()
    }

    /// The current set of slots, which a reload may replace at any time.
    pub fn slots(&self) -> Arc<Vec<Arc<Slot>>> {
        self.clusters.load_full()
    }

    /// Makes `slots` the set of clusters, all at once.
    pub fn replace(&self, slots: Vec<Arc<Slot>>) {
        self.clusters.store(Arc::new(slots));
    }

    pub fn get(&self, index: usize) -> Arc<ClusterSnapshot> {
        self.slot(index).load()
    }

    pub fn set(&self, index: usize, snapshot: ClusterSnapshot) {
        self.slot(index).store(snapshot);
    }

    /// Every cluster's latest snapshot, in configuration order.
    pub fn snapshots(&self) -> Vec<Arc<ClusterSnapshot>> {
        self.clusters
            .load()
            .iter()
            .map(|slot| slot.load())
            .collect()
    }

    /// True once every cluster has finished its first poll.
    pub fn all_polled(&self) -> bool {
        self.clusters
            .load()
            .iter()
            .all(|slot| slot.snapshot.load().last_poll.is_some())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::ExpectedRemote;
    use crate::health::Verdict;

    #[test]
    fn error_details_are_one_bounded_line() {
        let error = PollError::new(Reason::Decode, format!("a\nb\u{1b}[2J{}", "x".repeat(400)));
        assert_eq!(error.detail.chars().count(), MAX_DETAIL + 1);
        assert!(error.detail.starts_with("a b [2Jxxx"), "{}", error.detail);
        assert!(error.detail.ends_with("x…"), "{}", error.detail);
        assert_eq!(PollError::new(Reason::Tls, "short").detail, "short");
    }

    #[test]
    fn new_expectations_rejudge_the_last_round_and_keep_the_counters() {
        let info =
            RemoteInfo::from_slice(br#"{"leader":{"connected":true,"mode":"sniff"}}"#).unwrap();
        let polled = ClusterSnapshot::new("local").after_poll(LastPoll {
            finished: SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000),
            duration: Duration::from_millis(5),
            outcome: Ok(Arc::new(info)),
        });
        assert_eq!(polled.health.state, Verdict::Ok);

        let expect = Expectations {
            remotes: vec![ExpectedRemote {
                name: "follower".to_owned(),
                min_nodes: None,
                min_sockets: None,
                skip_unavailable: None,
            }],
        };
        let reloaded = polled.with_expectations(expect);
        assert_eq!(reloaded.health.state, Verdict::Down);
        assert_eq!(reloaded.health.why, "1 down of 2 remotes");
        assert_eq!(reloaded.expect.remotes.len(), 1);
        assert_eq!(reloaded.polls, 1);
        assert_eq!(reloaded.last_success, polled.last_success);
    }
}
