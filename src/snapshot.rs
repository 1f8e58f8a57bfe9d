//! What one poll of one cluster left behind: immutable snapshots, replaced whole by each poll.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use arc_swap::ArcSwap;

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
    /// The state of a cluster that has not been polled yet.
    pub fn new(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            polls: 0,
            errors: [0; Reason::ALL.len()],
            last_poll: None,
            last_success: None,
            last_success_remotes: 0,
        }
    }

    /// The snapshot that follows this one once a poll has finished.
    pub fn after_poll(&self, poll: LastPoll) -> Self {
        let mut next = self.clone();
        next.polls += 1;
        match &poll.outcome {
            Ok(info) => {
                next.last_success = Some(poll.finished);
                next.last_success_remotes = info.remotes.len();
            }
            Err(error) => next.errors[error.reason.index()] += 1,
        }
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

// === impl State ===

impl State {
    pub fn new(names: impl IntoIterator<Item = String>) -> Self {
        let clusters = names
            .into_iter()
            .map(|name| ArcSwap::from_pointee(ClusterSnapshot::new(name)))
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
