//! Configuration reload, as Prometheus does it: SIGHUP or `POST /-/reload` reads the file again;
//! a valid configuration replaces the whole cluster set, an invalid one changes nothing.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::SystemTime;

use arc_swap::ArcSwap;
use tokio::sync::Mutex;
use tokio::task::JoinSet;

use crate::config::{ClusterConfig, Config, ConfigError};
use crate::es::{BuildError, Client};
use crate::health::Expectations;
use crate::poll::{self, Poller};
use crate::snapshot::{ClusterSnapshot, Slot, State};

/// Owns the pollers of the current cluster set and replaces them on reload.
pub struct Reloader {
    /// `None` in `--es.url` mode, where there is no file to read again.
    config_file: Option<PathBuf>,
    state: Arc<State>,
    status: Arc<ReloadStatus>,
    /// The running pollers. Held for the whole of a reload, so that reloads run one at a time
    /// and no two pollers ever own the same slot.
    pollers: Mutex<JoinSet<()>>,
}

/// The outcome of the latest load, behind `es_remote_config_last_reload_*`. Read without locks.
#[derive(Debug)]
pub struct ReloadStatus {
    last: ArcSwap<LastReload>,
}

/// What the latest load of the configuration did.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LastReload {
    pub successful: bool,
    /// The latest successful load; the start counts as the first.
    pub success_at: SystemTime,
}

/// Why a reload changed nothing. The text names the file and the key, never a secret.
#[derive(Debug, thiserror::Error)]
pub enum ReloadError {
    #[error("no configuration file to reload: the cluster comes from --es.url")]
    NoConfigFile,
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("{file}: {source}")]
    Client { file: PathBuf, source: BuildError },
    #[error("the reload was interrupted")]
    Interrupted,
}

/// What made the exporter reload, for the logs.
#[derive(Clone, Copy, Debug)]
pub enum Trigger {
    Signal,
    Http,
}

// === impl Reloader ===

impl Reloader {
    /// Starts the pollers of the configuration the exporter started with.
    pub fn start(
        config_file: Option<PathBuf>,
        state: Arc<State>,
        status: Arc<ReloadStatus>,
        pollers: Vec<Poller>,
    ) -> Self {
        Self {
            config_file,
            state,
            status,
            pollers: Mutex::new(poll::spawn_all(pollers)),
        }
    }

    /// Reads the configuration file again and, if it is valid, swaps it in. Runs in a task of
    /// its own, so that a client hanging up cannot stop a reload halfway, with the old pollers
    /// stopped and the new ones not started.
    pub async fn reload(self: &Arc<Self>, trigger: Trigger) -> Result<(), ReloadError> {
        let reloader = self.clone();
        tokio::spawn(async move { reloader.reload_now(trigger).await })
            .await
            .unwrap_or(Err(ReloadError::Interrupted))
    }

    async fn reload_now(&self, trigger: Trigger) -> Result<(), ReloadError> {
        let trigger = trigger.as_str();
        let Some(file) = &self.config_file else {
            tracing::info!(trigger, "nothing to reload: no --config.file");
            return Err(ReloadError::NoConfigFile);
        };
        let mut pollers = self.pollers.lock().await;
        let clusters = match load(file) {
            Ok(clusters) => clusters,
            Err(err) => {
                self.status.failed();
                tracing::error!(
                    trigger,
                    file = %file.display(),
                    error = %err,
                    "failed to reload the configuration; keeping the old one"
                );
                return Err(err);
            }
        };

        // The old pollers end before any slot changes hands.
        pollers.shutdown().await;
        let current: HashMap<String, Arc<Slot>> = self
            .state
            .slots()
            .iter()
            .map(|slot| (slot.load().name.clone(), slot.clone()))
            .collect();
        let mut slots = Vec::with_capacity(clusters.len());
        let mut next = Vec::with_capacity(clusters.len());
        let mut kept = 0;
        for (cluster, client) in clusters {
            let name = cluster
                .name
                .clone()
                .unwrap_or_else(|| poll::provisional_name(&cluster));
            let expect = Expectations::from_config(&cluster);
            let slot = match current.get(&name) {
                Some(slot) => {
                    kept += 1;
                    slot.store(slot.load().with_expectations(expect));
                    slot.clone()
                }
                None => Arc::new(Slot::new(ClusterSnapshot::expecting(name, expect))),
            };
            next.push(Poller::for_slot(slot.clone(), &cluster, client));
            slots.push(slot);
        }
        let (total, removed) = (slots.len(), current.len().saturating_sub(kept));
        self.state.replace(slots);
        *pollers = poll::spawn_all(next);
        self.status.succeeded(SystemTime::now());
        tracing::info!(
            trigger,
            file = %file.display(),
            clusters = total,
            kept,
            added = total - kept,
            removed,
            "reloaded the configuration"
        );
        Ok(())
    }
}

/// The clusters of a valid configuration file, each with its HTTP client ready.
fn load(file: &Path) -> Result<Vec<(ClusterConfig, Client)>, ReloadError> {
    let config = Config::load(file)?;
    config
        .clusters
        .into_iter()
        .map(|cluster| match Client::new(&cluster) {
            Ok(client) => Ok((cluster, client)),
            Err(source) => Err(ReloadError::Client {
                file: file.to_owned(),
                source,
            }),
        })
        .collect()
}

/// Reloads on every SIGHUP until the process ends. The handler is installed by the caller,
/// before the exporter says it listens, so that an early SIGHUP never kills the process.
#[cfg(unix)]
pub async fn on_hangup(mut hangup: tokio::signal::unix::Signal, reloader: Arc<Reloader>) {
    while hangup.recv().await.is_some() {
        // The outcome is logged by the reload itself.
        let _ = reloader.reload(Trigger::Signal).await;
    }
}

// === impl ReloadStatus ===

impl ReloadStatus {
    /// After the configuration the exporter started with was loaded at `at`.
    pub fn loaded(at: SystemTime) -> Self {
        Self {
            last: ArcSwap::from_pointee(LastReload {
                successful: true,
                success_at: at,
            }),
        }
    }

    pub fn last(&self) -> LastReload {
        **self.last.load()
    }

    fn succeeded(&self, at: SystemTime) {
        self.last.store(Arc::new(LastReload {
            successful: true,
            success_at: at,
        }));
    }

    fn failed(&self) {
        let last = self.last();
        self.last.store(Arc::new(LastReload {
            successful: false,
            ..last
        }));
    }
}

// === impl Trigger ===

impl Trigger {
    fn as_str(self) -> &'static str {
        match self {
            Trigger::Signal => "SIGHUP",
            Trigger::Http => "HTTP",
        }
    }
}
