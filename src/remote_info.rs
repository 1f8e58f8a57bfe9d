//! The typed, tolerant model of a `GET /_remote/info` answer, for every engine version.

use std::cell::Cell;
use std::collections::BTreeMap;
use std::fmt;

use serde::Deserialize;
use serde::de::{DeserializeSeed, Error as _, IgnoredAny, MapAccess, Visitor};

/// One parsed `_remote/info` answer: every remote the answering node knows, sorted by alias.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RemoteInfo {
    pub remotes: Vec<Remote>,
}

/// One remote cluster as the answering node sees it.
#[derive(Clone, Debug, PartialEq)]
pub struct Remote {
    /// The alias exactly as the engine reports it.
    pub alias: String,
    /// Whether the answering node holds at least one open connection. `None` when the answer
    /// carried neither `connected` nor a count to derive it from.
    pub connected: Option<bool>,
    pub mode: Mode,
    /// Absent on Elasticsearch 6.0.
    pub skip_unavailable: Option<bool>,
    /// `initial_connect_timeout` in seconds; `-1` means no timeout. `None` when absent or not a
    /// time value.
    pub initial_connect_timeout_seconds: Option<f64>,
    /// `cluster_credentials` was present (API-key security model, Elasticsearch 8.8+).
    pub credentials: bool,
}

/// The connection strategy of a remote, with the fields only that mode carries.
#[derive(Clone, Debug, PartialEq)]
pub enum Mode {
    Sniff(Sniff),
    Proxy(Proxy),
    /// A mode this exporter does not know; only `connected` and the info series are exported.
    Other(String),
}

/// Sniff-mode fields. A field the answer did not carry stays `None`: a missing count is not a
/// zero.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Sniff {
    pub seeds: Option<usize>,
    pub nodes_connected: Option<u64>,
    pub max_connections: Option<u64>,
}

/// Proxy-mode fields, under either the 7.6 or the later key names.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Proxy {
    pub address: String,
    pub server_name: String,
    pub sockets_connected: Option<u64>,
    pub max_sockets: Option<u64>,
}

/// Why a body is not a usable `_remote/info` answer.
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    #[error("failed to decode _remote/info: {0}")]
    Json(#[from] serde_json::Error),
    /// More remotes than the limit: refused before the rest is read, because every remote
    /// becomes a dozen series in every scrape.
    #[error("_remote/info lists more than {limit} remotes (max_remotes)")]
    TooManyRemotes { limit: usize },
}

// === impl RemoteInfo ===

impl RemoteInfo {
    /// Parses a response body. The top level must be a JSON object; unknown keys are ignored,
    /// known keys must have their documented JSON types.
    pub fn from_slice(body: &[u8]) -> Result<Self, DecodeError> {
        Self::from_slice_limited(body, usize::MAX)
    }

    /// [`RemoteInfo::from_slice`], refusing an answer with more than `max_remotes` remotes.
    pub fn from_slice_limited(body: &[u8], max_remotes: usize) -> Result<Self, DecodeError> {
        let exceeded = Cell::new(false);
        let seed = Remotes {
            max: max_remotes,
            exceeded: &exceeded,
        };
        let mut deserializer = serde_json::Deserializer::from_slice(body);
        let parsed = seed
            .deserialize(&mut deserializer)
            .and_then(|remotes| deserializer.end().map(|()| remotes));
        match parsed {
            Ok(remotes) => Ok(Self { remotes }),
            Err(_) if exceeded.get() => Err(DecodeError::TooManyRemotes { limit: max_remotes }),
            Err(err) => Err(DecodeError::Json(err)),
        }
    }
}

/// Reads the top-level object remote by remote, stopping at the first one over the limit.
struct Remotes<'a> {
    max: usize,
    exceeded: &'a Cell<bool>,
}

impl<'de> DeserializeSeed<'de> for Remotes<'_> {
    type Value = Vec<Remote>;

    fn deserialize<D: serde::Deserializer<'de>>(
        self,
        deserializer: D,
    ) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for Remotes<'_> {
    type Value = Vec<Remote>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an object keyed by remote cluster alias")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        // A map, so that an alias sent twice counts once, the last one winning, as it does for
        // the engine's own JSON parser.
        let mut remotes = BTreeMap::new();
        let mut read = 0usize;
        while let Some((alias, raw)) = map.next_entry::<String, RawRemote>()? {
            read += 1;
            if read > self.max {
                self.exceeded.set(true);
                return Err(A::Error::custom("too many remotes"));
            }
            remotes.insert(alias, raw);
        }
        Ok(remotes
            .into_iter()
            .map(|(alias, raw)| raw.into_remote(alias))
            .collect())
    }
}

impl Mode {
    /// The value of the `mode` label.
    pub fn label(&self) -> &str {
        match self {
            Mode::Sniff(_) => "sniff",
            Mode::Proxy(_) => "proxy",
            Mode::Other(name) => name,
        }
    }
}

// === the wire shape ===

/// Every key any version has sent for one remote. All optional: versions differ, and a missing
/// key is never a reason to reject the answer.
#[derive(Deserialize)]
struct RawRemote {
    connected: Option<bool>,
    mode: Option<String>,
    seeds: Option<Vec<IgnoredAny>>,
    num_nodes_connected: Option<u64>,
    max_connections_per_cluster: Option<u64>,
    proxy_address: Option<String>,
    server_name: Option<String>,
    num_proxy_sockets_connected: Option<u64>,
    max_proxy_socket_connections: Option<u64>,
    // NB: Elasticsearch 7.6 named the proxy fields differently; later versions renamed them.
    address: Option<String>,
    num_sockets_connected: Option<u64>,
    max_socket_connections: Option<u64>,
    initial_connect_timeout: Option<String>,
    skip_unavailable: Option<bool>,
    cluster_credentials: Option<IgnoredAny>,
}

impl RawRemote {
    fn into_remote(self, alias: String) -> Remote {
        // Without a `mode` key the engine predates 7.6, when sniff was the only strategy.
        let mode = match self.mode.as_deref() {
            None | Some("sniff") => Mode::Sniff(Sniff {
                seeds: self.seeds.map(|seeds| seeds.len()),
                nodes_connected: self.num_nodes_connected,
                max_connections: self.max_connections_per_cluster,
            }),
            Some("proxy") => Mode::Proxy(Proxy {
                address: self.proxy_address.or(self.address).unwrap_or_default(),
                server_name: self.server_name.unwrap_or_default(),
                sockets_connected: self
                    .num_proxy_sockets_connected
                    .or(self.num_sockets_connected),
                max_sockets: self
                    .max_proxy_socket_connections
                    .or(self.max_socket_connections),
            }),
            Some(other) => Mode::Other(other.to_owned()),
        };
        // The engine computes `connected` as "count > 0"; derive it the same way only when an
        // answer left the key out.
        let connected = self.connected.or(match &mode {
            Mode::Sniff(sniff) => sniff.nodes_connected.map(|n| n > 0),
            Mode::Proxy(proxy) => proxy.sockets_connected.map(|n| n > 0),
            Mode::Other(_) => None,
        });
        Remote {
            alias,
            connected,
            mode,
            skip_unavailable: self.skip_unavailable,
            initial_connect_timeout_seconds: self
                .initial_connect_timeout
                .as_deref()
                .and_then(parse_time_value),
            credentials: self.cluster_credentials.is_some(),
        }
    }
}

/// Parses an Elasticsearch time value (`30s`, `1.5m`, `500ms`, `-1`, `0`) into seconds.
/// `-1` (no timeout) gives `-1.0`; anything else negative or unknown gives `None`.
pub fn parse_time_value(text: &str) -> Option<f64> {
    let text = text.trim().to_ascii_lowercase();
    match text.as_str() {
        "-1" => return Some(-1.0),
        "0" => return Some(0.0),
        _ => {}
    }
    // Longer suffixes first: "ms", "micros" and "nanos" also end in "s". Sub-second units
    // divide, so that `500ms` is exactly 0.5.
    const UNITS: [(&str, f64, f64); 7] = [
        ("nanos", 1.0, 1e9),
        ("micros", 1.0, 1e6),
        ("ms", 1.0, 1e3),
        ("s", 1.0, 1.0),
        ("m", 60.0, 1.0),
        ("h", 3600.0, 1.0),
        ("d", 86400.0, 1.0),
    ];
    let (number, multiplier, divisor) = UNITS.iter().find_map(|(unit, multiplier, divisor)| {
        text.strip_suffix(unit)
            .map(|number| (number, *multiplier, *divisor))
    })?;
    let number = number.trim();
    // Rust's float parser also takes "inf", "nan" and exponents, which no engine sends.
    if number.is_empty() || !number.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
        return None;
    }
    let value: f64 = number.parse().ok()?;
    Some(value * multiplier / divisor)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_values_in_every_unit_become_seconds() {
        assert_eq!(parse_time_value("30s"), Some(30.0));
        assert_eq!(parse_time_value("1.5m"), Some(90.0));
        assert_eq!(parse_time_value("500ms"), Some(0.5));
        assert_eq!(parse_time_value("2h"), Some(7200.0));
        assert_eq!(parse_time_value("1d"), Some(86400.0));
        assert_eq!(parse_time_value("250micros"), Some(0.00025));
        assert_eq!(parse_time_value("7nanos"), Some(7e-9));
        assert_eq!(parse_time_value("-1"), Some(-1.0));
        assert_eq!(parse_time_value("0"), Some(0.0));
        assert_eq!(parse_time_value(" 10S "), Some(10.0));
    }

    #[test]
    fn malformed_time_values_are_rejected() {
        for text in [
            "",
            "s",
            "30",
            "-5s",
            "abc",
            "1e3s",
            "infs",
            "nanm",
            "1.5 parsecs",
            "--1",
        ] {
            assert_eq!(parse_time_value(text), None, "{text:?}");
        }
    }

    #[test]
    fn missing_mode_means_sniff_and_missing_counts_stay_unknown() {
        let info = RemoteInfo::from_slice(br#"{"old":{"connected":true}}"#).unwrap();
        assert_eq!(
            info.remotes[0].mode,
            Mode::Sniff(Sniff {
                seeds: None,
                nodes_connected: None,
                max_connections: None
            })
        );
        assert_eq!(info.remotes[0].connected, Some(true));
    }

    #[test]
    fn connected_is_derived_from_the_count_only_when_absent() {
        let info = RemoteInfo::from_slice(
            br#"{"a":{"num_nodes_connected":0},"b":{"mode":"proxy","num_proxy_sockets_connected":4},"c":{"mode":"http"}}"#,
        )
        .unwrap();
        let connected: Vec<_> = info.remotes.iter().map(|r| r.connected).collect();
        assert_eq!(connected, [Some(false), Some(true), None]);
    }

    #[test]
    fn wrong_types_and_non_objects_are_decode_errors() {
        for body in [
            &b"[]"[..],
            b"null",
            b"\"x\"",
            b"{\"a\":[]}",
            b"{\"a\":{\"connected\":\"yes\"}}",
            b"{\"a\":{\"num_nodes_connected\":-1}}",
            b"{\"a\":{\"seeds\":\"10.0.0.1:9300\"}}",
            b"{\"a\":{\"connected\":tru",
            b"",
        ] {
            assert!(
                RemoteInfo::from_slice(body).is_err(),
                "{:?}",
                String::from_utf8_lossy(body)
            );
        }
    }

    #[test]
    fn more_remotes_than_the_limit_are_refused_and_a_repeated_alias_keeps_its_last_value() {
        let body = br#"{"a":{"connected":true},"b":{"connected":true},"a":{"connected":false}}"#;
        let info = RemoteInfo::from_slice_limited(body, 3).unwrap();
        let aliases: Vec<_> = info
            .remotes
            .iter()
            .map(|r| (r.alias.as_str(), r.connected))
            .collect();
        assert_eq!(aliases, [("a", Some(false)), ("b", Some(true))]);
        let refused = RemoteInfo::from_slice_limited(body, 2).unwrap_err();
        assert_eq!(
            refused.to_string(),
            "_remote/info lists more than 2 remotes (max_remotes)"
        );
        assert!(matches!(
            RemoteInfo::from_slice_limited(b"{} []", 2),
            Err(DecodeError::Json(_))
        ));
    }

    #[test]
    fn null_server_name_and_credentials_are_accepted() {
        let info = RemoteInfo::from_slice(
            br#"{"p":{"connected":true,"mode":"proxy","proxy_address":"10.0.0.5:9443","server_name":null,"cluster_credentials":null}}"#,
        )
        .unwrap();
        let remote = &info.remotes[0];
        assert!(!remote.credentials);
        assert_eq!(
            remote.mode,
            Mode::Proxy(Proxy {
                address: "10.0.0.5:9443".into(),
                server_name: String::new(),
                sockets_connected: None,
                max_sockets: None,
            })
        );
    }
}
