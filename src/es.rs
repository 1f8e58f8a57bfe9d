//! The HTTP client towards one local cluster: requests, limits and error classification.

use std::error::Error as _;
use std::time::Duration;

use reqwest::StatusCode;
use reqwest::header::AUTHORIZATION;
use secrecy::ExposeSecret;
use serde::Deserialize;

use crate::config::{Auth, ClusterConfig, Nodes};
use crate::remote_info::{DecodeError, RemoteInfo};
use crate::resolve_cluster::{self, Resolved};
use crate::snapshot::{PollError, Reason};

/// A client for one cluster, built once from its configuration.
#[derive(Debug)]
pub struct Client {
    http: reqwest::Client,
    /// With `nodes: all`: the client for the nodes' own addresses, which keeps no idle
    /// connection. Pooled, a round over N nodes would leave N sockets open until the next;
    /// unpooled, at most the requests in flight hold one.
    node_http: Option<reqwest::Client>,
    base: reqwest::Url,
    auth: Option<Auth>,
    max_response_bytes: u64,
    max_remotes: usize,
}

/// What `GET /` tells about the answering node.
#[derive(Clone, Debug, Deserialize, PartialEq)]
pub struct Root {
    pub cluster_name: String,
    #[serde(default)]
    pub version: Version,
}

#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
pub struct Version {
    #[serde(default)]
    pub number: String,
    /// `opensearch` on OpenSearch; absent on Elasticsearch.
    #[serde(default)]
    pub distribution: Option<String>,
}

/// A node that `GET _nodes/http` lists and that can answer `_remote/info` itself.
#[derive(Clone, Debug, PartialEq)]
pub struct DiscoveredNode {
    /// The node id, the key of `_nodes/http`: unique, unlike names.
    pub id: String,
    pub name: String,
    /// Its HTTP publish address, as published.
    pub publish_address: String,
    /// `host:port` of that address; `None` when it is not a usable `host:port`.
    pub address: Option<String>,
}

/// A client that cannot be built from a configuration that passed validation.
#[derive(Debug, thiserror::Error)]
#[error("failed to build the HTTP client for {url}: {source}")]
pub struct BuildError {
    url: reqwest::Url,
    source: reqwest::Error,
}

// === impl Client ===

impl Client {
    pub fn new(config: &ClusterConfig) -> Result<Self, BuildError> {
        let fail = |source| BuildError {
            url: config.url.clone(),
            source,
        };
        let node_http = match config.nodes {
            Nodes::All => Some(
                Self::builder(config)?
                    .pool_max_idle_per_host(0)
                    .build()
                    .map_err(fail)?,
            ),
            Nodes::Url => None,
        };
        Ok(Self {
            http: Self::builder(config)?.build().map_err(fail)?,
            node_http,
            base: config.url.clone(),
            auth: config.auth.as_ref().map(clone_auth),
            max_response_bytes: config.max_response_bytes,
            max_remotes: config.max_remotes,
        })
    }

    /// The HTTP client settings of a cluster: timeouts, no redirects, TLS.
    fn builder(config: &ClusterConfig) -> Result<reqwest::ClientBuilder, BuildError> {
        let mut builder = reqwest::Client::builder()
            .timeout(config.timeout)
            .connect_timeout(config.timeout)
            // A redirect would carry credentials to wherever it points; report it instead.
            .redirect(reqwest::redirect::Policy::none())
            // Nor do credentials go to a proxy that an environment variable names.
            .no_proxy()
            .user_agent(concat!("es-remote-exporter/", env!("CARGO_PKG_VERSION")));
        let fail = |source| BuildError {
            url: config.url.clone(),
            source,
        };
        if let Some(pem) = &config.tls.ca_pem {
            let certs = reqwest::Certificate::from_pem_bundle(pem).map_err(fail)?;
            builder = builder.tls_certs_only(certs);
        }
        if let Some(pem) = &config.tls.identity_pem {
            builder =
                builder.identity(reqwest::Identity::from_pem(pem.expose_secret()).map_err(fail)?);
        }
        if config.tls.insecure_skip_verify {
            builder = builder.tls_danger_accept_invalid_certs(true);
        }
        Ok(builder)
    }

    /// `GET /_remote/info`, parsed.
    pub async fn remote_info(&self) -> Result<RemoteInfo, PollError> {
        let body = self.get("_remote/info").await?;
        RemoteInfo::from_slice_limited(&body, self.max_remotes).map_err(|err| {
            let reason = match err {
                DecodeError::Json(_) => Reason::Decode,
                DecodeError::TooManyRemotes { .. } => Reason::TooLarge,
            };
            PollError::new(reason, err.to_string())
        })
    }

    /// `GET /_resolve/cluster` with no index expression (Elasticsearch 8.18+), parsed. No
    /// `timeout` parameter is sent: it was added and then reverted upstream, and an engine that
    /// does not know a parameter rejects the request; the client's own timeout bounds the call.
    pub async fn resolve_cluster(
        &self,
    ) -> Result<std::collections::BTreeMap<String, Resolved>, PollError> {
        let body = self.get("_resolve/cluster").await?;
        resolve_cluster::parse(&body)
            .map_err(|detail| PollError::new(Reason::Decode, format!("_resolve/cluster: {detail}")))
    }

    /// The same client, talking to one node's own HTTP address with the same scheme,
    /// credentials and TLS settings. The path of the configured URL is not kept: it belongs to
    /// whatever sits in front of the cluster, not to the nodes.
    pub fn for_node(&self, node: &DiscoveredNode) -> Result<Self, PollError> {
        let unusable = |why: String| {
            PollError::new(
                Reason::Decode,
                format!(
                    "unusable HTTP publish address {:?}{why}",
                    node.publish_address
                ),
            )
        };
        let address = node
            .address
            .as_ref()
            .ok_or_else(|| unusable(String::new()))?;
        let url = format!("{}://{address}/", self.base.scheme());
        let base = reqwest::Url::parse(&url).map_err(|err| unusable(format!(": {err}")))?;
        Ok(Self {
            http: self.node_http.as_ref().unwrap_or(&self.http).clone(),
            node_http: None,
            base,
            auth: self.auth.as_ref().map(clone_auth),
            max_response_bytes: self.max_response_bytes,
            max_remotes: self.max_remotes,
        })
    }

    /// `GET _nodes/http`: the nodes that can hold remote connections, sorted by name. Nodes
    /// without an HTTP section serve no REST request and are left out; a node whose publish
    /// address is not a usable `host:port` is kept, with `address` `None`, so that it is
    /// reported rather than lost.
    pub async fn nodes(&self) -> Result<Vec<DiscoveredNode>, PollError> {
        let body = self.get("_nodes/http").await?;
        let info: NodesInfo = serde_json::from_slice(&body).map_err(|err| {
            PollError::new(
                Reason::Decode,
                format!("failed to decode _nodes/http: {err}"),
            )
        })?;
        let mut nodes: Vec<DiscoveredNode> = info
            .nodes
            .into_iter()
            .filter(|(_, node)| node.remote_cluster_client())
            .filter_map(|(id, node)| {
                let publish_address = node.http?.publish_address;
                Some(DiscoveredNode {
                    id,
                    name: node.name,
                    address: http_address(&publish_address),
                    publish_address,
                })
            })
            .collect();
        nodes.sort_by(|a, b| a.name.cmp(&b.name).then_with(|| a.id.cmp(&b.id)));
        Ok(nodes)
    }

    /// `GET /`, for the cluster name and version.
    pub async fn root(&self) -> Result<Root, PollError> {
        let body = self.get("").await?;
        serde_json::from_slice(&body)
            .map_err(|err| PollError::new(Reason::Decode, format!("failed to decode GET /: {err}")))
    }

    /// Sends a GET and returns the body of a 200 answer, read up to the size limit. Any other
    /// status decides the error by itself; its body is only glanced at for an error type.
    async fn get(&self, path: &str) -> Result<Vec<u8>, PollError> {
        let url = self
            .base
            .join(path)
            .expect("a relative path joins any base URL");
        let mut request = self.http.get(url);
        request = match &self.auth {
            Some(Auth::Basic { username, password }) => {
                request.basic_auth(username, Some(password.expose_secret()))
            }
            Some(Auth::Header(value)) => request.header(AUTHORIZATION, value.clone()),
            None => request,
        };
        let mut response = request.send().await.map_err(|err| classify(&err))?;

        let status = response.status();
        if status != StatusCode::OK {
            let start = error_body_start(&mut response).await;
            return Err(status_error(status, &start));
        }
        if let Some(length) = response.content_length()
            && length > self.max_response_bytes
        {
            return Err(too_large(self.max_response_bytes));
        }
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(|err| classify(&err))? {
            if (body.len() + chunk.len()) as u64 > self.max_response_bytes {
                return Err(too_large(self.max_response_bytes));
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body)
    }
}

/// How much of an error answer is read, and for how long, to find its `error.type`: an
/// Elasticsearch error object fits easily, and a huge or trickling body must not turn a 401 or
/// 403 into `too_large` or `timeout`.
const ERROR_BODY_BYTES: usize = 64 * 1024;
const ERROR_BODY_WAIT: Duration = Duration::from_secs(1);

/// The first bytes of an error answer's body, whatever arrived within [`ERROR_BODY_WAIT`].
async fn error_body_start(response: &mut reqwest::Response) -> Vec<u8> {
    let mut start = Vec::new();
    let read = async {
        while start.len() < ERROR_BODY_BYTES {
            match response.chunk().await {
                Ok(Some(chunk)) => start.extend_from_slice(&chunk),
                Ok(None) | Err(_) => break,
            }
        }
    };
    let _ = tokio::time::timeout(ERROR_BODY_WAIT, read).await;
    start.truncate(ERROR_BODY_BYTES);
    start
}

/// The parts of a `_nodes/http` answer that discovery needs.
#[derive(Deserialize)]
struct NodesInfo {
    /// Required: an answer without it (`{}`, `[]`, a proxy's placeholder) is not a nodes list
    /// that happens to be empty.
    nodes: std::collections::BTreeMap<String, NodeInfo>,
}

#[derive(Deserialize)]
struct NodeInfo {
    name: String,
    /// Absent on Elasticsearch 6.x, which has no `remote_cluster_client` role.
    roles: Option<Vec<String>>,
    http: Option<NodeHttp>,
}

#[derive(Deserialize)]
struct NodeHttp {
    publish_address: String,
}

impl NodeInfo {
    /// Holds remote connections: has the role, or predates roles (every node could, then).
    fn remote_cluster_client(&self) -> bool {
        self.roles
            .as_ref()
            .is_none_or(|roles| roles.iter().any(|r| r == "remote_cluster_client"))
    }
}

/// `host:port` from a publish address, which is `ip:port` or `hostname/ip:port`. The hostname
/// is preferred when there is one, because a node's TLS certificate is usually issued for it.
fn http_address(publish: &str) -> Option<String> {
    let (hostname, ip_port) = match publish.split_once('/') {
        Some((hostname, ip_port)) => (Some(hostname).filter(|h| !h.is_empty()), ip_port),
        None => (None, publish),
    };
    let (ip, port) = ip_port.rsplit_once(':')?;
    port.parse::<u16>().ok()?;
    let host = hostname.unwrap_or(ip);
    if host.is_empty() || host.contains(['/', '@', '?', '#']) {
        return None;
    }
    Some(format!("{host}:{port}"))
}

fn clone_auth(auth: &Auth) -> Auth {
    match auth {
        Auth::Basic { username, password } => Auth::Basic {
            username: username.clone(),
            password: password.clone(),
        },
        Auth::Header(value) => Auth::Header(value.clone()),
    }
}

fn too_large(limit: u64) -> PollError {
    PollError::new(
        Reason::TooLarge,
        format!("response body is larger than {limit} bytes"),
    )
}

// === error classification ===

/// Classifies a non-200 answer by its status alone. When the body happens to be an
/// Elasticsearch error object its `type` is added to the detail; a body is never required.
fn status_error(status: StatusCode, body: &[u8]) -> PollError {
    let reason = match status {
        StatusCode::UNAUTHORIZED => Reason::Unauthorized,
        StatusCode::FORBIDDEN => Reason::Forbidden,
        StatusCode::BAD_REQUEST => Reason::BadRequest,
        _ => Reason::HttpError,
    };
    let mut detail = format!("HTTP {status}");
    if let Some(kind) = error_type(body) {
        detail.push_str(&format!(" ({kind})"));
    }
    PollError::new(reason, detail)
}

/// The `error.type` of an Elasticsearch error body, when it is one.
fn error_type(body: &[u8]) -> Option<String> {
    #[derive(Deserialize)]
    struct Envelope {
        error: ErrorObject,
    }
    #[derive(Deserialize)]
    struct ErrorObject {
        #[serde(rename = "type")]
        kind: String,
    }
    let envelope: Envelope = serde_json::from_slice(body).ok()?;
    let kind = envelope.error.kind;
    // The type is a snake_case exception name; anything else is not worth repeating.
    let plain = kind.len() <= 100 && kind.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
    plain.then_some(kind)
}

/// Classifies a transport failure: timeout, TLS, connect, or a broken body.
fn classify(err: &reqwest::Error) -> PollError {
    let reason = if err.is_timeout() {
        Reason::Timeout
    } else if is_tls(err) {
        Reason::Tls
    } else if err.is_connect() {
        Reason::Connect
    } else if err.is_body() || err.is_decode() {
        Reason::Decode
    } else {
        Reason::Connect
    };
    PollError::new(reason, describe(err))
}

/// True when a TLS handshake or certificate check is anywhere in the error's causes.
fn is_tls(err: &reqwest::Error) -> bool {
    let mut cause: Option<&(dyn std::error::Error + 'static)> = err.source();
    while let Some(current) = cause {
        if current.is::<rustls::Error>() {
            return true;
        }
        // NB: `io::Error::source` skips the error it wraps (and io errors nest), so step into
        // the wrapped error by hand.
        cause = match current
            .downcast_ref::<std::io::Error>()
            .and_then(|io| io.get_ref())
        {
            Some(inner) => Some(inner as &(dyn std::error::Error + 'static)),
            None => current.source(),
        };
    }
    false
}

/// The error and its causes on one line. reqwest never puts credentials in its messages, and
/// the URL it names carries none (validation rejects URLs with user info).
fn describe(err: &reqwest::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn publish_addresses_become_host_and_port() {
        assert_eq!(
            http_address("10.0.0.1:9200").as_deref(),
            Some("10.0.0.1:9200")
        );
        assert_eq!(
            http_address("es-b-1.internal/10.0.0.1:9200").as_deref(),
            Some("es-b-1.internal:9200")
        );
        assert_eq!(http_address("[::1]:9200").as_deref(), Some("[::1]:9200"));
        assert_eq!(
            http_address("/10.0.0.1:9200").as_deref(),
            Some("10.0.0.1:9200")
        );
        for bad in ["", "10.0.0.1", "10.0.0.1:http", "user@evil:80/x:1", ":9200"] {
            assert_eq!(http_address(bad), None, "{bad:?}");
        }
    }
}
