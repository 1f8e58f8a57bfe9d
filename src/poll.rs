//! The scheduler: one task per cluster, polling `_remote/info` on its own interval.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use tokio::task::JoinSet;

use crate::config::ClusterConfig;
use crate::es::Client;
use crate::snapshot::{ClusterSnapshot, LastPoll, PollError, Reason, State};

/// Polls one cluster and records each outcome in its slot of the shared state.
pub struct Poller {
    index: usize,
    client: Client,
    /// Set once the cluster is named; `--es.url` mode names it from `GET /`.
    named: bool,
    interval: Duration,
    state: Arc<State>,
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
    pub fn new(index: usize, config: &ClusterConfig, client: Client, state: Arc<State>) -> Self {
        Self {
            index,
            client,
            named: config.name.is_some(),
            interval: config.poll_interval,
            state,
        }
    }

    /// Polls now, then every interval plus a small random jitter, so that clusters configured
    /// together do not stay in step. A poll never overlaps the previous one.
    async fn run(mut self) {
        loop {
            let started = tokio::time::Instant::now();
            self.poll_once().await;
            let jitter = self.interval.mul_f64(fastrand::f64() * 0.05);
            tokio::time::sleep_until(started + self.interval + jitter).await;
        }
    }

    /// One poll: name the cluster if needed, fetch `_remote/info`, store the snapshot.
    pub async fn poll_once(&mut self) {
        let previous = self.state.get(self.index);
        let started = Instant::now();
        let mut name = previous.name.clone();
        let outcome = async {
            if !self.named {
                let root = self.client.root().await?;
                name = root.cluster_name;
                self.named = true;
            }
            self.client.remote_info().await
        }
        .await;
        let poll = LastPoll {
            finished: SystemTime::now(),
            duration: started.elapsed(),
            outcome: outcome.map(Arc::new),
        };

        let mut next = previous.after_poll(poll);
        if next.name != name {
            tracing::info!(cluster = %name, url_label = %previous.name, "named cluster from GET /");
            next.name = name;
        }
        log_outcome(&previous, &next);
        self.state.set(self.index, next);
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
        Reason::TooLarge => "the answer exceeded max_response_bytes; check the URL",
    }
}
