//! es-remote-exporter: polls `GET /_remote/info` on Elasticsearch and OpenSearch clusters and
//! serves each remote's connection state as Prometheus metrics.
#![forbid(unsafe_code)]

pub mod check;
pub mod cli;
pub mod config;
pub mod es;
pub mod health;
pub mod log;
pub mod metrics;
pub mod poll;
pub mod reload;
pub mod remote_info;
pub mod resolve_cluster;
pub mod server;
pub mod snapshot;
pub mod text;

use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::SystemTime;

use crate::cli::{Args, Source};
use crate::config::Config;
use crate::es::Client;
use crate::poll::Poller;
use crate::reload::{ReloadStatus, Reloader};
use crate::snapshot::State;

/// The version stamp of this build.
pub struct BuildInfo {
    pub version: &'static str,
    pub revision: &'static str,
    pub rustc_version: &'static str,
}

pub fn build_info() -> BuildInfo {
    BuildInfo {
        version: env!("CARGO_PKG_VERSION"),
        revision: env!("ES_REMOTE_EXPORTER_REVISION"),
        rustc_version: env!("ES_REMOTE_EXPORTER_RUSTC_VERSION"),
    }
}

/// Runs the exporter until SIGINT or SIGTERM, reloading the configuration on SIGHUP. Logging
/// must already be set up.
pub async fn run(args: Args) -> ExitCode {
    let loaded_at = SystemTime::now();
    let config = match load_config(&args.source) {
        Ok(config) => config,
        Err(err) => {
            tracing::error!(error = %err, "invalid configuration");
            return ExitCode::FAILURE;
        }
    };
    if args.config_check {
        println!(
            "{}: configuration is valid ({} cluster(s))",
            config_source(&args.source),
            config.clusters.len()
        );
        return ExitCode::SUCCESS;
    }

    let mut pollers = Vec::with_capacity(config.clusters.len());
    let state = Arc::new(state_for(&config));
    for (index, cluster) in config.clusters.iter().enumerate() {
        let client = match Client::new(cluster) {
            Ok(client) => client,
            Err(err) => {
                tracing::error!(error = %err, "failed to set up a cluster");
                return ExitCode::FAILURE;
            }
        };
        pollers.push(Poller::new(index, cluster, client, state.clone()));
    }

    let listener = match bind(&args.listen_address).await {
        Ok(listener) => listener,
        Err(err) => {
            tracing::error!(address = %args.listen_address, error = %err, "failed to listen");
            return ExitCode::FAILURE;
        }
    };
    let address = listener
        .local_addr()
        .map(|a| a.to_string())
        .unwrap_or_default();
    #[cfg(unix)]
    let hangup = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()) {
        Ok(hangup) => hangup,
        Err(err) => {
            tracing::error!(error = %err, "failed to install the SIGHUP handler");
            return ExitCode::FAILURE;
        }
    };
    let status = Arc::new(ReloadStatus::loaded(loaded_at));
    let reloader = Arc::new(Reloader::start(
        args.source.config_file.clone(),
        state.clone(),
        status.clone(),
        pollers,
    ));
    #[cfg(unix)]
    tokio::spawn(reload::on_hangup(hangup, reloader.clone()));

    let shared = Arc::new(server::Shared {
        metrics: metrics::Metrics::new(state.clone(), status),
        state,
        telemetry_path: args.telemetry_path.clone(),
        reloader,
        enable_lifecycle: args.enable_lifecycle,
    });
    tracing::info!(
        address = %address,
        telemetry_path = %args.telemetry_path,
        clusters = config.clusters.len(),
        pid = std::process::id(),
        version = env!("CARGO_PKG_VERSION"),
        "listening"
    );
    let stopping = Arc::new(tokio::sync::Notify::new());
    let signalled = stopping.clone();
    let served = axum::serve(listener, server::router(shared)).with_graceful_shutdown(async move {
        shutdown_signal().await;
        signalled.notify_one();
    });
    // A client that never finishes its request would hold a graceful shutdown open for ever.
    let deadline = async {
        stopping.notified().await;
        tokio::time::sleep(SHUTDOWN_GRACE).await;
    };
    tokio::select! {
        served = served => match served {
            Ok(()) => {
                tracing::info!("stopped");
                ExitCode::SUCCESS
            }
            Err(err) => {
                tracing::error!(error = %err, "HTTP server failed");
                ExitCode::FAILURE
            }
        },
        () = deadline => {
            tracing::warn!(grace = ?SHUTDOWN_GRACE, "stopped with HTTP connections still open");
            ExitCode::SUCCESS
        }
    }
}

/// How long open HTTP connections may take to finish once SIGINT or SIGTERM arrived.
const SHUTDOWN_GRACE: std::time::Duration = std::time::Duration::from_secs(5);

/// The initial state of every configured cluster, unnamed ones labelled by host and port.
pub(crate) fn state_for(config: &Config) -> State {
    State::expecting(config.clusters.iter().map(|cluster| {
        let name = cluster
            .name
            .clone()
            .unwrap_or_else(|| poll::provisional_name(cluster));
        (name, health::Expectations::from_config(cluster))
    }))
}

pub(crate) fn load_config(source: &Source) -> Result<Config, config::ConfigError> {
    match &source.config_file {
        Some(file) => Config::load(file),
        None => Config::single(&source.es_url),
    }
}

fn config_source(source: &Source) -> String {
    source
        .config_file
        .as_ref()
        .map_or_else(|| "--es.url".to_owned(), |f| f.display().to_string())
}

/// Binds the listen address; `:PORT` means every interface, as in Go exporters.
async fn bind(address: &str) -> std::io::Result<tokio::net::TcpListener> {
    if let Some(port) = address.strip_prefix(':') {
        let port: u16 = port
            .parse()
            .map_err(|_| std::io::Error::other(format!("invalid port in {address:?}")))?;
        // Dual-stack where the host has IPv6, IPv4 only where it does not.
        return match tokio::net::TcpListener::bind(SocketAddr::from(([0u16; 8], port))).await {
            Ok(listener) => Ok(listener),
            Err(_) => tokio::net::TcpListener::bind(SocketAddr::from(([0u8; 4], port))).await,
        };
    }
    tokio::net::TcpListener::bind(address).await
}

async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut terminate =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
                .expect("a SIGTERM handler can be installed");
        tokio::select! {
            _ = interrupt => {}
            _ = terminate.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = interrupt.await;
    tracing::info!("shutting down");
}
