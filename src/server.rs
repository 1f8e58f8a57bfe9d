//! The HTTP endpoints: metrics, health verdicts, liveness, readiness, reload and a landing page.

use std::sync::Arc;

use axum::Json;
use axum::Router;
use axum::extract::State as Extract;
use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};

use crate::health::{Report, Verdict};
use crate::metrics::Metrics;
use crate::reload::{ReloadError, Reloader, Trigger};
use crate::snapshot::State;

/// What the handlers share.
pub struct Shared {
    pub state: Arc<State>,
    pub metrics: Metrics,
    pub telemetry_path: String,
    pub reloader: Arc<Reloader>,
    /// `--web.enable-lifecycle`: whether `/-/reload` may be used.
    pub enable_lifecycle: bool,
}

pub fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route(&shared.telemetry_path, get(metrics))
        .route("/health", get(health))
        .route("/-/healthy", get(healthy))
        .route("/-/ready", get(ready))
        .route("/-/reload", post(reload).put(reload))
        .route("/", get(landing))
        .with_state(shared)
}

async fn metrics(Extract(shared): Extract<Arc<Shared>>) -> Response {
    let body = shared.metrics.render();
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        body,
    )
        .into_response()
}

/// The verdicts of the latest polls: 200 when everything is ok, 503 otherwise (a cluster not
/// polled yet is unknown).
async fn health(Extract(shared): Extract<Arc<Shared>>) -> Response {
    let report = Report::new(&shared.state.snapshots());
    let status = match report.state {
        Verdict::Ok => StatusCode::OK,
        _ => StatusCode::SERVICE_UNAVAILABLE,
    };
    (status, Json(report)).into_response()
}

async fn healthy() -> &'static str {
    "Healthy\n"
}

/// Ready once every cluster has finished its first poll, successful or not, so that the first
/// scrape never sees a cluster without its outcome.
async fn ready(Extract(shared): Extract<Arc<Shared>>) -> Response {
    if shared.state.all_polled() {
        (StatusCode::OK, "Ready\n").into_response()
    } else {
        let waiting = shared
            .state
            .snapshots()
            .iter()
            .filter(|snapshot| snapshot.last_poll.is_none())
            .count();
        let text = format!("Not ready: {waiting} cluster(s) not polled yet\n");
        (StatusCode::SERVICE_UNAVAILABLE, text).into_response()
    }
}

/// Reloads the configuration file, when `--web.enable-lifecycle` allows it, as Prometheus
/// does: 200 once the new configuration is in use, 500 with the error when it was refused and
/// the old one stays, 400 when there is no file to reload.
async fn reload(Extract(shared): Extract<Arc<Shared>>) -> Response {
    if !shared.enable_lifecycle {
        let text = "Lifecycle API is not enabled; start with --web.enable-lifecycle\n";
        return (StatusCode::FORBIDDEN, text).into_response();
    }
    match shared.reloader.reload(Trigger::Http).await {
        Ok(()) => (StatusCode::OK, "Reloaded\n").into_response(),
        Err(err @ ReloadError::NoConfigFile) => {
            (StatusCode::BAD_REQUEST, format!("{err}\n")).into_response()
        }
        Err(err) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("failed to reload the configuration: {err}\n"),
        )
            .into_response(),
    }
}

async fn landing(Extract(shared): Extract<Arc<Shared>>) -> Html<String> {
    let path = html_escape(&shared.telemetry_path);
    Html(format!(
        "<!DOCTYPE html>\n<html><head><title>es-remote-exporter</title></head><body>\n\
         <h1>es-remote-exporter</h1>\n\
         <p>Prometheus exporter for Elasticsearch and OpenSearch remote cluster connections, \
         version {version}.</p>\n<ul>\n\
         <li><a href=\"{path}\">Metrics</a></li>\n\
         <li><a href=\"/health\">Health of the remotes</a> (JSON)</li>\n\
         <li><a href=\"/-/healthy\">Liveness</a></li>\n\
         <li><a href=\"/-/ready\">Readiness</a></li>\n\
         </ul>\n</body></html>\n",
        version = env!("CARGO_PKG_VERSION"),
    ))
}

fn html_escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}
