//! The configuration file: strict parsing, validation with key paths, and secrets kept secret.

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use reqwest::Url;
use reqwest::header::HeaderValue;
use secrecy::{ExposeSecret, SecretSlice, SecretString};
use serde::{Deserialize, Deserializer};

/// Defaults that apply when neither the file nor a cluster sets a value.
pub const DEFAULT_POLL_INTERVAL: Duration = Duration::from_secs(15);
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);
pub const DEFAULT_MAX_RESPONSE_BYTES: u64 = 16 * 1024 * 1024;
/// Thousands of remotes exist in the wild; ten thousand, each a dozen series, is still a
/// scrape Prometheus takes.
pub const DEFAULT_MAX_REMOTES: usize = 10_000;
/// The longest `poll_interval` or `timeout`: a day is already far beyond any useful poll, and
/// a bound keeps the scheduler's deadline arithmetic far from overflowing.
pub const MAX_DURATION: Duration = Duration::from_secs(24 * 60 * 60);

/// A validated configuration: every file it names has been read and checked.
#[derive(Debug)]
pub struct Config {
    pub clusters: Vec<ClusterConfig>,
}

/// One local cluster to poll.
#[derive(Debug)]
pub struct ClusterConfig {
    /// The `cluster` label. `None` in `--es.url` mode until `GET /` has named the cluster.
    pub name: Option<String>,
    /// Base URL, always ending in `/`.
    pub url: Url,
    pub auth: Option<Auth>,
    pub tls: Tls,
    pub poll_interval: Duration,
    pub timeout: Duration,
    pub max_response_bytes: u64,
    /// Answers listing more remotes are refused as `too_large`.
    pub max_remotes: usize,
    /// The remotes that should be there. `None` when the key is absent: health checking then
    /// judges only the remotes that are there, against no minimums.
    pub expected_remotes: Option<Vec<ExpectedRemote>>,
    /// Which nodes answer `_remote/info`.
    pub nodes: Nodes,
    /// An active reachability probe, run after each poll.
    pub probe: Option<Probe>,
}

/// A remote that should be configured and connected, with optional minimums.
#[derive(Clone, Debug, PartialEq)]
pub struct ExpectedRemote {
    pub name: String,
    /// Sniff mode: fewer connected gateway nodes is `degraded`.
    pub min_nodes: Option<u64>,
    /// Proxy mode: fewer open sockets is `degraded`.
    pub min_sockets: Option<u64>,
    /// A different live value is `degraded`.
    pub skip_unavailable: Option<bool>,
}

/// The nodes whose `_remote/info` counts.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Nodes {
    /// Only the node behind the configured URL.
    #[default]
    Url,
    /// Every node with the `remote_cluster_client` role, each at its own HTTP address.
    All,
}

/// An active probe of the remotes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Probe {
    /// `GET /_resolve/cluster` (Elasticsearch 8.18+).
    ResolveCluster,
}

/// Credentials sent with every request. `Debug` shows no secret.
#[derive(Debug)]
pub enum Auth {
    Basic {
        username: String,
        password: SecretString,
    },
    /// A ready `Authorization` header value, such as `ApiKey …` or `Bearer …`; marked sensitive.
    Header(HeaderValue),
}

/// TLS settings towards the cluster.
#[derive(Debug, Default)]
pub struct Tls {
    /// PEM bundle that replaces the system roots.
    pub ca_pem: Option<Vec<u8>>,
    /// Client certificate and private key, concatenated PEM.
    pub identity_pem: Option<SecretSlice<u8>>,
    pub insecure_skip_verify: bool,
}

/// A configuration that cannot be used. The message names the file and the key path.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("failed to read config file {file}: {source}")]
    Read {
        file: PathBuf,
        source: std::io::Error,
    },
    #[error("{file}: {message}")]
    Syntax { file: PathBuf, message: String },
    #[error("{file}: {path}: {message}")]
    Invalid {
        file: PathBuf,
        path: String,
        message: String,
    },
    /// A flag that stands in for the file, such as `--es.url`.
    #[error("{flag}: {message}")]
    Flag { flag: &'static str, message: String },
}

// === impl Config ===

impl Config {
    /// Reads and validates a configuration file.
    pub fn load(file: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(file).map_err(|source| ConfigError::Read {
            file: file.to_owned(),
            source,
        })?;
        Self::from_yaml(&text, file)
    }

    /// Parses and validates YAML; `file` names the source in errors and anchors relative paths.
    pub fn from_yaml(text: &str, file: &Path) -> Result<Self, ConfigError> {
        let raw = parse_yaml(text, file)?;
        let check = Check {
            file,
            base: file.parent().unwrap_or(Path::new(".")),
        };
        check.config(raw)
    }

    /// The configuration of `--es.url` mode: one cluster, defaults everywhere, named later.
    pub fn single(url: &str) -> Result<Self, ConfigError> {
        let check = Check {
            file: Path::new("--es.url"),
            base: Path::new("."),
        };
        let url = check.url(url, "url").map_err(|err| match err {
            ConfigError::Invalid { message, .. } => ConfigError::Flag {
                flag: "--es.url",
                message,
            },
            other => other,
        })?;
        Ok(Self {
            clusters: vec![ClusterConfig {
                name: None,
                url,
                auth: None,
                tls: Tls::default(),
                poll_interval: DEFAULT_POLL_INTERVAL,
                timeout: DEFAULT_TIMEOUT,
                max_response_bytes: DEFAULT_MAX_RESPONSE_BYTES,
                max_remotes: DEFAULT_MAX_REMOTES,
                expected_remotes: None,
                nodes: Nodes::Url,
                probe: None,
            }],
        })
    }
}

fn parse_yaml(text: &str, file: &Path) -> Result<RawConfig, ConfigError> {
    let empty = || ConfigError::Invalid {
        file: file.to_owned(),
        path: "clusters".to_owned(),
        message: "is required (the file holds no configuration)".to_owned(),
    };
    if holds_no_document(text) {
        return Err(empty());
    }
    let mut failed_at = None;
    let options = serde_saphyr::options! { with_snippet: false };
    let parsed = serde_saphyr::with_deserializer_from_str_with_options(text, options, |de| {
        serde_path_to_error::deserialize(de).map_err(|err| {
            failed_at = Some(err.path().to_string());
            err.into_inner()
        })
    });
    parsed.map_err(|err| {
        // serde_path_to_error writes `?` for a key it has not read yet, the case of a duplicate
        // key; the mapping that holds it is the useful path. The root is no path at all.
        let mapping = failed_at
            .as_deref()
            .map(|path| path.strip_suffix('?').unwrap_or(path))
            .map(|path| path.strip_suffix('.').unwrap_or(path))
            .filter(|path| !path.is_empty())
            .map(str::to_owned);
        let (path, message) = match err.without_snippet() {
            serde_saphyr::Error::DuplicateMappingKey { key, location } => {
                let key = key
                    .as_deref()
                    .map(|k| format!(" `{k}`"))
                    .unwrap_or_default();
                let message = format!("duplicate key{key}{}", position(*location));
                (mapping, message)
            }
            serde_saphyr::Error::SerdeMissingField { field, .. } => {
                let path = match mapping {
                    Some(mapping) => format!("{mapping}.{field}"),
                    None => (*field).to_owned(),
                };
                (Some(path), "is required".to_owned())
            }
            serde_saphyr::Error::MultipleDocuments { location, .. } => (
                mapping,
                format!(
                    "holds a second YAML document{}; one file holds one configuration",
                    position(*location)
                ),
            ),
            serde_saphyr::Error::NullIntoString { location } => {
                (mapping, format!("needs a value{}", position(*location)))
            }
            serde_saphyr::Error::Eof { .. } if mapping.is_none() => return empty(),
            _ => (mapping, err.to_string()),
        };
        match path {
            Some(path) => ConfigError::Invalid {
                file: file.to_owned(),
                path,
                message,
            },
            None => ConfigError::Syntax {
                file: file.to_owned(),
                message,
            },
        }
    })
}

/// True for a file of blanks, comments and document markers only, which YAML reads as no
/// document or a null one.
fn holds_no_document(text: &str) -> bool {
    text.lines().map(str::trim).all(|line| {
        line.is_empty() || line.starts_with('#') || line == "---" || line == "..." || line == "~"
    })
}

/// A URL as text for an error message: quoted, unless it may hold credentials (`user:pass@`)
/// or a token (in a query or fragment), which are never repeated.
fn shown(text: &str) -> String {
    match text.contains(['@', '?', '#']) {
        true => "(not shown: it may hold a secret)".to_owned(),
        false => format!("{text:?}"),
    }
}

/// ` at line L, column C`, or nothing when the parser did not say.
fn position(location: serde_saphyr::Location) -> String {
    match location.line() {
        0 => String::new(),
        line => format!(" at line {line}, column {}", location.column()),
    }
}

// === the file's shape ===

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    poll_interval: Option<HumanDuration>,
    timeout: Option<HumanDuration>,
    max_response_bytes: Option<u64>,
    max_remotes: Option<usize>,
    clusters: Vec<RawCluster>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCluster {
    name: String,
    url: String,
    basic_auth: Option<RawBasicAuth>,
    authorization: Option<RawAuthorization>,
    #[serde(default)]
    tls_config: RawTls,
    poll_interval: Option<HumanDuration>,
    timeout: Option<HumanDuration>,
    max_response_bytes: Option<u64>,
    max_remotes: Option<usize>,
    expected_remotes: Option<Vec<RawExpectedRemote>>,
    nodes: Option<RawNodes>,
    probe: Option<Probe>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawExpectedRemote {
    name: String,
    min_nodes: Option<u64>,
    min_sockets: Option<u64>,
    skip_unavailable: Option<bool>,
}

/// `nodes:` accepts only `all`; leaving it out means the configured URL alone.
#[derive(Deserialize)]
#[serde(rename_all = "snake_case")]
enum RawNodes {
    All,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawBasicAuth {
    username: String,
    password: Option<SecretString>,
    password_file: Option<PathBuf>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAuthorization {
    #[serde(rename = "type", default = "default_auth_type")]
    kind: String,
    credentials: Option<SecretString>,
    credentials_file: Option<PathBuf>,
}

fn default_auth_type() -> String {
    "Bearer".to_owned()
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawTls {
    ca_file: Option<PathBuf>,
    cert_file: Option<PathBuf>,
    key_file: Option<PathBuf>,
    #[serde(default)]
    insecure_skip_verify: bool,
}

/// A duration written the way Prometheus configurations write them (`15s`, `1m30s`).
#[derive(Clone, Copy)]
struct HumanDuration(Duration);

impl<'de> Deserialize<'de> for HumanDuration {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl serde::de::Visitor<'_> for Visitor {
            type Value = HumanDuration;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a duration such as \"15s\" or \"1m30s\"")
            }
            fn visit_str<E: serde::de::Error>(self, text: &str) -> Result<HumanDuration, E> {
                humantime::parse_duration(text)
                    .map(HumanDuration)
                    .map_err(|err| E::custom(format!("invalid duration {text:?}: {err}")))
            }
        }
        deserializer.deserialize_str(Visitor)
    }
}

// === validation ===

/// The top-level values that a cluster may override.
#[derive(Clone, Copy)]
struct Defaults {
    poll_interval: Duration,
    timeout: Duration,
    max_response_bytes: u64,
    max_remotes: usize,
}

/// Turns the raw shape into a [`Config`], reporting the first problem with its key path.
struct Check<'a> {
    file: &'a Path,
    /// Relative file names in the config are relative to the config file's folder.
    base: &'a Path,
}

impl Check<'_> {
    fn config(&self, raw: RawConfig) -> Result<Config, ConfigError> {
        let poll_interval = raw.poll_interval.map_or(DEFAULT_POLL_INTERVAL, |d| d.0);
        let timeout = raw.timeout.map_or(DEFAULT_TIMEOUT, |d| d.0);
        let max_response_bytes = raw.max_response_bytes.unwrap_or(DEFAULT_MAX_RESPONSE_BYTES);
        let max_remotes = raw.max_remotes.unwrap_or(DEFAULT_MAX_REMOTES);
        self.bounded(poll_interval, "poll_interval")?;
        self.bounded(timeout, "timeout")?;
        self.positive(max_response_bytes, "max_response_bytes")?;
        self.positive(max_remotes as u64, "max_remotes")?;
        if raw.clusters.is_empty() {
            return Err(self.invalid("clusters", "at least one cluster is required"));
        }

        let mut first_index: HashMap<&str, usize> = HashMap::new();
        for (index, cluster) in raw.clusters.iter().enumerate() {
            if let Some(first) = first_index.insert(&cluster.name, index) {
                return Err(self.invalid(
                    &format!("clusters[{index}].name"),
                    format!(
                        "duplicate cluster name {:?} (also clusters[{first}].name)",
                        cluster.name
                    ),
                ));
            }
        }

        let defaults = Defaults {
            poll_interval,
            timeout,
            max_response_bytes,
            max_remotes,
        };
        let clusters = raw
            .clusters
            .into_iter()
            .enumerate()
            .map(|(index, cluster)| self.cluster(cluster, &format!("clusters[{index}]"), defaults))
            .collect::<Result<_, _>>()?;
        Ok(Config { clusters })
    }

    fn cluster(
        &self,
        raw: RawCluster,
        at: &str,
        defaults: Defaults,
    ) -> Result<ClusterConfig, ConfigError> {
        if raw.name.trim().is_empty() {
            return Err(self.invalid(&format!("{at}.name"), "must not be empty"));
        }
        let url = self.url(&raw.url, &format!("{at}.url"))?;

        let cluster_interval = raw.poll_interval.map(|d| d.0);
        let cluster_timeout = raw.timeout.map(|d| d.0);
        if let Some(interval) = cluster_interval {
            self.bounded(interval, &format!("{at}.poll_interval"))?;
        }
        if let Some(timeout) = cluster_timeout {
            self.bounded(timeout, &format!("{at}.timeout"))?;
        }
        let interval = cluster_interval.unwrap_or(defaults.poll_interval);
        let timeout_value = cluster_timeout.unwrap_or(defaults.timeout);
        if timeout_value >= interval {
            let key = match (cluster_timeout, cluster_interval) {
                (Some(_), _) => format!("{at}.timeout"),
                (None, Some(_)) => format!("{at}.poll_interval"),
                (None, None) => "timeout".to_owned(),
            };
            return Err(self.invalid(
                &key,
                format!(
                    "timeout {} must be shorter than poll_interval {}",
                    humantime::format_duration(timeout_value),
                    humantime::format_duration(interval)
                ),
            ));
        }
        let max_response_bytes = raw
            .max_response_bytes
            .unwrap_or(defaults.max_response_bytes);
        self.positive(max_response_bytes, &format!("{at}.max_response_bytes"))?;
        let max_remotes = raw.max_remotes.unwrap_or(defaults.max_remotes);
        self.positive(max_remotes as u64, &format!("{at}.max_remotes"))?;

        let auth = match (raw.basic_auth, raw.authorization) {
            (Some(_), Some(_)) => {
                return Err(self.invalid(at, "set basic_auth or authorization, not both"));
            }
            (Some(basic), None) => Some(self.basic_auth(basic, &format!("{at}.basic_auth"))?),
            (None, Some(header)) => {
                Some(self.authorization(header, &format!("{at}.authorization"))?)
            }
            (None, None) => None,
        };
        let tls = self.tls(raw.tls_config, &format!("{at}.tls_config"))?;
        let expected_remotes = match raw.expected_remotes {
            Some(remotes) => {
                Some(self.expected_remotes(remotes, &format!("{at}.expected_remotes"))?)
            }
            None => None,
        };

        Ok(ClusterConfig {
            name: Some(raw.name),
            url,
            auth,
            tls,
            poll_interval: interval,
            timeout: timeout_value,
            max_response_bytes,
            max_remotes,
            expected_remotes,
            nodes: match raw.nodes {
                Some(RawNodes::All) => Nodes::All,
                None => Nodes::Url,
            },
            probe: raw.probe,
        })
    }

    fn expected_remotes(
        &self,
        raw: Vec<RawExpectedRemote>,
        at: &str,
    ) -> Result<Vec<ExpectedRemote>, ConfigError> {
        let mut first_index: HashMap<String, usize> = HashMap::new();
        let mut remotes = Vec::with_capacity(raw.len());
        for (index, remote) in raw.into_iter().enumerate() {
            let at = format!("{at}[{index}]");
            if remote.name.is_empty() {
                return Err(self.invalid(&format!("{at}.name"), "must not be empty"));
            }
            if let Some(first) = first_index.insert(remote.name.clone(), index) {
                return Err(self.invalid(
                    &format!("{at}.name"),
                    format!(
                        "duplicate remote name {:?} (also expected_remotes[{first}].name)",
                        remote.name
                    ),
                ));
            }
            for (key, value) in [
                ("min_nodes", remote.min_nodes),
                ("min_sockets", remote.min_sockets),
            ] {
                if value == Some(0) {
                    return Err(self.invalid(
                        &format!("{at}.{key}"),
                        "must be at least 1; leave it out for no minimum",
                    ));
                }
            }
            remotes.push(ExpectedRemote {
                name: remote.name,
                min_nodes: remote.min_nodes,
                min_sockets: remote.min_sockets,
                skip_unavailable: remote.skip_unavailable,
            });
        }
        Ok(remotes)
    }

    fn url(&self, text: &str, at: &str) -> Result<Url, ConfigError> {
        let mut url = Url::parse(text)
            .map_err(|err| self.invalid(at, format!("invalid URL {}: {err}", shown(text))))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(self.invalid(
                at,
                format!("scheme must be http or https, not {:?}", url.scheme()),
            ));
        }
        if url.host_str().is_none_or(str::is_empty) {
            return Err(self.invalid(at, "URL has no host"));
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(self.invalid(at, "URL must not hold credentials; use basic_auth"));
        }
        if url.query().is_some() || url.fragment().is_some() {
            // Not echoed: a query is where tokens are passed.
            return Err(self.invalid(at, "URL must not have a query or fragment"));
        }
        if !url.path().ends_with('/') {
            let path = format!("{}/", url.path());
            url.set_path(&path);
        }
        Ok(url)
    }

    fn basic_auth(&self, raw: RawBasicAuth, at: &str) -> Result<Auth, ConfigError> {
        if raw.username.is_empty() {
            return Err(self.invalid(&format!("{at}.username"), "must not be empty"));
        }
        let password = self.secret(raw.password, raw.password_file, at, "password")?;
        Ok(Auth::Basic {
            username: raw.username,
            password,
        })
    }

    fn authorization(&self, raw: RawAuthorization, at: &str) -> Result<Auth, ConfigError> {
        if !matches!(raw.kind.as_str(), "ApiKey" | "Bearer") {
            return Err(self.invalid(
                &format!("{at}.type"),
                format!("must be ApiKey or Bearer, not {:?}", raw.kind),
            ));
        }
        let credentials = self.secret(raw.credentials, raw.credentials_file, at, "credentials")?;
        let mut value =
            HeaderValue::try_from(format!("{} {}", raw.kind, credentials.expose_secret()))
                .map_err(|_| {
                    self.invalid(
                        &format!("{at}.credentials"),
                        "contains characters that an HTTP header cannot carry",
                    )
                })?;
        value.set_sensitive(true);
        Ok(Auth::Header(value))
    }

    /// A secret given inline (`key`) or in a file (`key_file`): exactly one of the two.
    fn secret(
        &self,
        inline: Option<SecretString>,
        file: Option<PathBuf>,
        at: &str,
        key: &str,
    ) -> Result<SecretString, ConfigError> {
        match (inline, file) {
            (Some(_), Some(_)) => {
                Err(self.invalid(at, format!("set {key} or {key}_file, not both")))
            }
            (None, None) => Err(self.invalid(at, format!("{key} or {key}_file is required"))),
            (Some(secret), None) => Ok(secret),
            (None, Some(file)) => {
                let at = format!("{at}.{key}_file");
                let text = self.read_text(&file, &at)?;
                // Files written with `echo` end in a newline that is not part of the secret.
                let secret = text.trim();
                if secret.is_empty() {
                    return Err(self.invalid(&at, format!("{} is empty", file.display())));
                }
                Ok(SecretString::from(secret))
            }
        }
    }

    fn tls(&self, raw: RawTls, at: &str) -> Result<Tls, ConfigError> {
        let ca_pem = match raw.ca_file {
            Some(file) => {
                let at = format!("{at}.ca_file");
                let pem = self.read(&file, &at)?;
                match reqwest::Certificate::from_pem_bundle(&pem) {
                    Ok(certs) if !certs.is_empty() => Some(pem),
                    _ => {
                        let message = format!("{} holds no PEM certificate", file.display());
                        return Err(self.invalid(&at, message));
                    }
                }
            }
            None => None,
        };
        let identity_pem = match (raw.cert_file, raw.key_file) {
            (Some(cert), Some(key)) => {
                let mut pem = self.read(&cert, &format!("{at}.cert_file"))?;
                pem.push(b'\n');
                pem.extend(self.read(&key, &format!("{at}.key_file"))?);
                let Ok(identity) = reqwest::Identity::from_pem(&pem) else {
                    return Err(self.invalid(
                        &format!("{at}.cert_file"),
                        format!(
                            "{} and {} are not a PEM certificate and private key",
                            cert.display(),
                            key.display()
                        ),
                    ));
                };
                // Only a client built with the pair checks that the key is the certificate's.
                if let Err(err) = reqwest::Client::builder().identity(identity).build() {
                    let cause = std::error::Error::source(&err)
                        .map(|cause| format!(": {cause}"))
                        .unwrap_or_default();
                    return Err(self.invalid(
                        &format!("{at}.key_file"),
                        format!(
                            "{} is not the private key of the certificate in {}{cause}",
                            key.display(),
                            cert.display()
                        ),
                    ));
                }
                Some(SecretSlice::from(pem))
            }
            (Some(_), None) => return Err(self.invalid(at, "cert_file needs key_file")),
            (None, Some(_)) => return Err(self.invalid(at, "key_file needs cert_file")),
            (None, None) => None,
        };
        Ok(Tls {
            ca_pem,
            identity_pem,
            insecure_skip_verify: raw.insecure_skip_verify,
        })
    }

    fn read(&self, file: &Path, at: &str) -> Result<Vec<u8>, ConfigError> {
        let path = self.base.join(file);
        std::fs::read(&path)
            .map_err(|err| self.invalid(at, format!("failed to read {}: {err}", path.display())))
    }

    fn read_text(&self, file: &Path, at: &str) -> Result<String, ConfigError> {
        String::from_utf8(self.read(file, at)?)
            .map_err(|_| self.invalid(at, format!("{} is not UTF-8 text", file.display())))
    }

    /// A poll interval or timeout: longer than zero, at most [`MAX_DURATION`] (24h).
    fn bounded(&self, duration: Duration, at: &str) -> Result<(), ConfigError> {
        if duration.is_zero() {
            return Err(self.invalid(at, "must be greater than 0"));
        }
        if duration > MAX_DURATION {
            return Err(self.invalid(at, "must be at most 24h"));
        }
        Ok(())
    }

    fn positive(&self, value: u64, at: &str) -> Result<(), ConfigError> {
        match value {
            0 => Err(self.invalid(at, "must be greater than 0")),
            _ => Ok(()),
        }
    }

    fn invalid(&self, path: &str, message: impl Into<String>) -> ConfigError {
        ConfigError::Invalid {
            file: self.file.to_owned(),
            path: path.to_owned(),
            message: message.into(),
        }
    }
}
