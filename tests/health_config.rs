//! The health keys of the configuration file: accepted shapes and errors with key paths.

use std::path::Path;

use es_remote_exporter::config::{Config, ExpectedRemote, Nodes, Probe};

fn load(yaml: &str) -> Result<Config, String> {
    Config::from_yaml(yaml, Path::new("health.yml")).map_err(|err| err.to_string())
}

fn error(clusters_yaml: &str) -> String {
    load(&format!("clusters:\n{clusters_yaml}")).unwrap_err()
}

#[test]
fn expected_remotes_nodes_and_probe_are_read() {
    let config = load(
        r#"
clusters:
  - name: prod-b
    url: http://127.0.0.1:9200
    expected_remotes:
      - name: leader
        min_nodes: 2
        skip_unavailable: false
      - { name: archive, min_sockets: 9 }
    nodes: all
  - name: prod-c
    url: http://127.0.0.1:9201
"#,
    )
    .unwrap();
    let b = &config.clusters[0];
    assert_eq!(
        b.expected_remotes,
        Some(vec![
            ExpectedRemote {
                name: "leader".into(),
                min_nodes: Some(2),
                min_sockets: None,
                skip_unavailable: Some(false),
            },
            ExpectedRemote {
                name: "archive".into(),
                min_nodes: None,
                min_sockets: Some(9),
                skip_unavailable: None,
            },
        ])
    );
    assert_eq!(b.nodes, Nodes::All);
    assert_eq!(b.probe, None);
    let c = &config.clusters[1];
    assert_eq!(c.expected_remotes, None);
    assert_eq!(c.nodes, Nodes::Url);
    assert_eq!(c.probe, None);
}

#[test]
fn an_empty_expected_remotes_list_is_accepted() {
    let config =
        load("clusters:\n  - { name: b, url: \"http://127.0.0.1:9200\", expected_remotes: [] }\n")
            .unwrap();
    assert_eq!(config.clusters[0].expected_remotes, Some(vec![]));
}

#[test]
fn an_unknown_key_in_an_expected_remote_is_rejected_with_its_path() {
    let err = error(
        "  - name: b\n    url: http://127.0.0.1:9200\n    expected_remotes:\n      - { name: a, min_node: 2 }\n",
    );
    assert_eq!(
        err,
        "health.yml: clusters[0].expected_remotes[0].min_node: unknown field `min_node`, \
         expected one of name, min_nodes, min_sockets, skip_unavailable at line 5, column 20"
    );
}

#[test]
fn a_duplicate_expected_remote_is_rejected() {
    let err = error(
        "  - name: b\n    url: http://127.0.0.1:9200\n    expected_remotes: [{ name: a }, { name: b }, { name: a }]\n",
    );
    assert_eq!(
        err,
        r#"health.yml: clusters[0].expected_remotes[2].name: duplicate remote name "a" (also expected_remotes[0].name)"#
    );
}

#[test]
fn an_empty_remote_name_and_a_zero_minimum_are_rejected() {
    let err = error(
        "  - name: b\n    url: http://127.0.0.1:9200\n    expected_remotes: [{ name: \"\" }]\n",
    );
    assert_eq!(
        err,
        "health.yml: clusters[0].expected_remotes[0].name: must not be empty"
    );
    let err = error(
        "  - name: b\n    url: http://127.0.0.1:9200\n    expected_remotes: [{ name: a, min_sockets: 0 }]\n",
    );
    assert_eq!(
        err,
        "health.yml: clusters[0].expected_remotes[0].min_sockets: must be at least 1; leave it out for no minimum"
    );
}

#[test]
fn nodes_accepts_only_all_and_probe_only_resolve_cluster() {
    let err = error("  - { name: b, url: \"http://127.0.0.1:9200\", nodes: some }\n");
    assert!(
        err.starts_with("health.yml: clusters[0].nodes: unknown variant `some`"),
        "{err}"
    );
    let err = error("  - { name: b, url: \"http://127.0.0.1:9200\", probe: ping }\n");
    assert!(
        err.starts_with("health.yml: clusters[0].probe: unknown variant `ping`"),
        "{err}"
    );
}

#[test]
fn the_resolve_cluster_probe_is_accepted() {
    let config = load(
        "clusters:\n  - { name: b, url: \"http://127.0.0.1:9200\", probe: resolve_cluster }\n",
    )
    .unwrap();
    assert_eq!(config.clusters[0].probe, Some(Probe::ResolveCluster));
}
