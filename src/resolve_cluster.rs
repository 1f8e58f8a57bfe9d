//! The `probe: resolve_cluster` probe: which engines have `GET /_resolve/cluster` without an
//! index expression, and the tolerant model of its answer.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::es::Root;
use crate::text::one_line;

/// One remote as the probe saw it.
#[derive(Clone, Debug, PartialEq)]
pub struct Resolved {
    /// Whether the local cluster could reach the remote when asked.
    pub connected: bool,
    /// Why it could not, as the engine put it, cut to one short line.
    pub error: Option<String>,
}

/// The oldest Elasticsearch whose `_resolve/cluster` accepts no index expression.
const FIRST: (u64, u64) = (8, 18);

/// The longest engine text repeated in a note or a log.
const MAX_TEXT: usize = 200;

/// Why the engine behind `root` cannot answer the probe, or `None` when it can.
pub fn unsupported(cluster: &str, root: &Root) -> Option<String> {
    let engine = match root.version.distribution.as_deref() {
        Some("opensearch") => "OpenSearch".to_owned(),
        Some(other) => short(other),
        None => match major_minor(&root.version.number) {
            Some(version) if version >= FIRST => return None,
            _ => "Elasticsearch".to_owned(),
        },
    };
    let runs = match short(root.version.number.trim()) {
        number if number.is_empty() => format!("{engine}, but GET / reports no version number"),
        number => format!("{engine} {number}"),
    };
    Some(format!(
        "probe resolve_cluster needs Elasticsearch 8.18 or later; {cluster} runs {runs}"
    ))
}

/// `major.minor` of a version number such as `8.18.2` or `9.0.0-SNAPSHOT`.
fn major_minor(number: &str) -> Option<(u64, u64)> {
    let mut parts = number.split(['.', '-']);
    let major = parts.next()?.parse().ok()?;
    let minor = parts.next()?.parse().ok()?;
    Some((major, minor))
}

/// Parses an answer: an object keyed by alias. `(local)` is not a remote; an entry without a
/// boolean `connected` says nothing about reachability and is left out.
pub fn parse(body: &[u8]) -> Result<BTreeMap<String, Resolved>, String> {
    let answer: Value =
        serde_json::from_slice(body).map_err(|err| format!("failed to decode: {err}"))?;
    let Value::Object(entries) = answer else {
        return Err("the answer is not a JSON object".to_owned());
    };
    Ok(entries
        .into_iter()
        .filter(|(alias, _)| alias != "(local)")
        .filter_map(|(alias, entry)| {
            let connected = entry.get("connected")?.as_bool()?;
            let error = entry.get("error").and_then(Value::as_str).map(short);
            Some((alias, Resolved { connected, error }))
        })
        .collect())
}

/// `text` on one line and at most [`MAX_TEXT`] characters: engine text ends up in logs and in
/// `/health`, and neither should carry a whole stack of causes.
fn short(text: &str) -> String {
    one_line(text, MAX_TEXT)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::es::Version;

    fn root(number: &str, distribution: Option<&str>) -> Root {
        Root {
            cluster_name: "b".to_owned(),
            version: Version {
                number: number.to_owned(),
                distribution: distribution.map(str::to_owned),
            },
        }
    }

    #[test]
    fn only_elasticsearch_8_18_and_later_is_supported() {
        for number in ["8.18.0", "8.19.3", "9.0.0", "9.1.0-SNAPSHOT", "10.0"] {
            assert_eq!(unsupported("b", &root(number, None)), None, "{number}");
        }
        assert_eq!(
            unsupported("b", &root("8.17.4", None)).as_deref(),
            Some(
                "probe resolve_cluster needs Elasticsearch 8.18 or later; b runs Elasticsearch 8.17.4"
            )
        );
        assert_eq!(
            unsupported("b", &root("", None)).as_deref(),
            Some(
                "probe resolve_cluster needs Elasticsearch 8.18 or later; b runs Elasticsearch, \
                 but GET / reports no version number"
            )
        );
        assert_eq!(
            unsupported("b", &root(" ", Some("opensearch"))).as_deref(),
            Some(
                "probe resolve_cluster needs Elasticsearch 8.18 or later; b runs OpenSearch, but \
                 GET / reports no version number"
            )
        );
        assert_eq!(
            unsupported("b", &root("2.19.6", Some("opensearch"))).as_deref(),
            Some(
                "probe resolve_cluster needs Elasticsearch 8.18 or later; b runs OpenSearch 2.19.6"
            )
        );
    }

    #[test]
    fn answers_are_read_tolerantly() {
        let body = br#"{
            "(local)": {"connected": true},
            "leader": {"connected": true, "skip_unavailable": false},
            "dr": {"connected": false, "skip_unavailable": true, "error": "unable\nto connect"},
            "odd": {"connected": "yes"},
            "bare": 7
        }"#;
        let parsed = parse(body).unwrap();
        assert_eq!(
            parsed.into_iter().collect::<Vec<_>>(),
            vec![
                (
                    "dr".to_owned(),
                    Resolved {
                        connected: false,
                        error: Some("unable to connect".to_owned())
                    }
                ),
                (
                    "leader".to_owned(),
                    Resolved {
                        connected: true,
                        error: None
                    }
                ),
            ]
        );
        assert_eq!(parse(b"[]").unwrap_err(), "the answer is not a JSON object");
        assert!(parse(b"{").is_err());
        assert_eq!(short(&"x".repeat(300)).chars().count(), MAX_TEXT + 1);
    }
}
