//! Verdicts and the health checker's series, judged from poll outcomes and rendered through
//! the collector, compared with exact exposition lines.

mod support;

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use es_remote_exporter::config::ExpectedRemote;
use es_remote_exporter::health::{Expectations, Report, Verdict};
use es_remote_exporter::remote_info::RemoteInfo;
use es_remote_exporter::snapshot::{LastPoll, PollError, Reason, State};

const SNIFF_2_OF_3: &str = r#"{"es-a":{"connected":true,"mode":"sniff","seeds":["10.0.0.21:9300"],"num_nodes_connected":2,"max_connections_per_cluster":3,"initial_connect_timeout":"30s","skip_unavailable":false}}"#;
const SNIFF_DOWN: &str = r#"{"es-a":{"connected":false,"mode":"sniff","seeds":["10.0.0.21:9300"],"num_nodes_connected":0,"max_connections_per_cluster":3,"initial_connect_timeout":"30s","skip_unavailable":false}}"#;
const PROXY_9_OF_18: &str = r#"{"es-b":{"connected":true,"mode":"proxy","proxy_address":"10.0.0.30:9300","server_name":"","num_proxy_sockets_connected":9,"max_proxy_socket_connections":18,"initial_connect_timeout":"30s","skip_unavailable":true}}"#;

/// An expected remote: name, min_nodes, min_sockets, skip_unavailable.
type Expected<'a> = (&'a str, Option<u64>, Option<u64>, Option<bool>);

fn expect(remotes: &[Expected<'_>]) -> Expectations {
    Expectations {
        remotes: remotes
            .iter()
            .map(|(name, min_nodes, min_sockets, skip)| ExpectedRemote {
                name: (*name).to_owned(),
                min_nodes: *min_nodes,
                min_sockets: *min_sockets,
                skip_unavailable: *skip,
            })
            .collect(),
    }
}

fn ok(body: &str) -> Result<RemoteInfo, PollError> {
    Ok(RemoteInfo::from_slice(body.as_bytes()).unwrap())
}

fn failed() -> Result<RemoteInfo, PollError> {
    Err(PollError::new(Reason::Timeout, "operation timed out"))
}

fn at(n: usize) -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000 + 15 * n as u64)
}

/// One cluster named `local`, after the given poll outcomes.
fn polled(expect: Expectations, outcomes: Vec<Result<RemoteInfo, PollError>>) -> Arc<State> {
    let state = Arc::new(State::expecting([("local".to_owned(), expect)]));
    for (n, outcome) in outcomes.into_iter().enumerate() {
        let poll = LastPoll {
            finished: at(n),
            duration: Duration::from_millis(125),
            outcome: outcome.map(Arc::new),
        };
        state.set(0, state.get(0).after_poll(poll));
    }
    state
}

/// The sample lines of the health checker's series, sorted.
fn health_lines(text: &str) -> Vec<&str> {
    let mut lines: Vec<_> = text
        .lines()
        .filter(|l| {
            [
                "es_remote_configured{",
                "es_remote_health{",
                "es_remote_disconnects_total{",
                "es_remote_last_connected_timestamp_seconds{",
                "es_remote_node_connected{",
                "es_remote_reachable{",
            ]
            .iter()
            .any(|name| l.starts_with(name))
        })
        .collect();
    lines.sort_unstable();
    lines
}

fn sorted(mut lines: Vec<&str>) -> Vec<&str> {
    lines.sort_unstable();
    lines
}

/// (alias, state, why) of every remote of the cluster.
fn verdicts(state: &State) -> Vec<(String, Verdict, String)> {
    state
        .get(0)
        .health
        .remotes
        .iter()
        .map(|r| (r.alias.clone(), r.state, r.why.clone()))
        .collect()
}

#[test]
fn a_connected_remote_meeting_its_minimums_is_ok() {
    let state = polled(
        expect(&[("es-a", Some(2), None, Some(false))]),
        vec![ok(SNIFF_2_OF_3)],
    );
    assert_eq!(
        verdicts(&state),
        [(
            "es-a".into(),
            Verdict::Ok,
            "connected (2/3 gateway nodes)".into()
        )]
    );
    assert_eq!(state.get(0).health.state, Verdict::Ok);
    assert_eq!(state.get(0).health.why, "1 remote ok");
    assert_eq!(
        health_lines(&support::render_collector(state)),
        sorted(vec![
            r#"es_remote_configured{cluster="local",remote_cluster="es-a"} 1"#,
            r#"es_remote_disconnects_total{cluster="local",remote_cluster="es-a"} 0"#,
            r#"es_remote_health{cluster="local",remote_cluster="es-a",state="degraded"} 0"#,
            r#"es_remote_health{cluster="local",remote_cluster="es-a",state="down"} 0"#,
            r#"es_remote_health{cluster="local",remote_cluster="es-a",state="ok"} 1"#,
            r#"es_remote_health{cluster="local",remote_cluster="es-a",state="unknown"} 0"#,
            r#"es_remote_last_connected_timestamp_seconds{cluster="local",remote_cluster="es-a"} 1700000000"#,
        ])
    );
}

#[test]
fn an_expected_remote_missing_from_the_answer_is_down_and_configured_0() {
    let state = polled(
        expect(&[("es-a", None, None, None), ("leader", None, None, None)]),
        vec![ok(SNIFF_2_OF_3)],
    );
    assert_eq!(
        verdicts(&state),
        [
            (
                "es-a".into(),
                Verdict::Ok,
                "connected (2/3 gateway nodes)".into()
            ),
            (
                "leader".into(),
                Verdict::Down,
                "expected, but not in the _remote/info answer".into()
            ),
        ]
    );
    assert_eq!(state.get(0).health.state, Verdict::Down);
    assert_eq!(state.get(0).health.why, "1 down of 2 remotes");
    let text = support::render_collector(state);
    let lines = health_lines(&text);
    assert!(lines.contains(&r#"es_remote_configured{cluster="local",remote_cluster="leader"} 0"#));
    assert!(
        lines.contains(
            &r#"es_remote_health{cluster="local",remote_cluster="leader",state="down"} 1"#
        )
    );
    // A missing remote has no history to show.
    assert!(
        !text.contains(r#"es_remote_disconnects_total{cluster="local",remote_cluster="leader"}"#)
    );
}

#[test]
fn an_empty_answer_leaves_every_expected_remote_down() {
    let state = polled(
        expect(&[("es-a", None, None, None), ("es-b", None, None, None)]),
        vec![ok("{}")],
    );
    assert_eq!(state.get(0).health.state, Verdict::Down);
    assert_eq!(state.get(0).health.why, "2 down of 2 remotes");
    assert_eq!(
        health_lines(&support::render_collector(state)),
        sorted(vec![
            r#"es_remote_configured{cluster="local",remote_cluster="es-a"} 0"#,
            r#"es_remote_configured{cluster="local",remote_cluster="es-b"} 0"#,
            r#"es_remote_health{cluster="local",remote_cluster="es-a",state="degraded"} 0"#,
            r#"es_remote_health{cluster="local",remote_cluster="es-a",state="down"} 1"#,
            r#"es_remote_health{cluster="local",remote_cluster="es-a",state="ok"} 0"#,
            r#"es_remote_health{cluster="local",remote_cluster="es-a",state="unknown"} 0"#,
            r#"es_remote_health{cluster="local",remote_cluster="es-b",state="degraded"} 0"#,
            r#"es_remote_health{cluster="local",remote_cluster="es-b",state="down"} 1"#,
            r#"es_remote_health{cluster="local",remote_cluster="es-b",state="ok"} 0"#,
            r#"es_remote_health{cluster="local",remote_cluster="es-b",state="unknown"} 0"#,
        ])
    );
}

#[test]
fn an_empty_answer_without_expectations_is_ok() {
    let state = polled(expect(&[]), vec![ok("{}")]);
    assert_eq!(state.get(0).health.state, Verdict::Ok);
    assert_eq!(state.get(0).health.why, "the answer lists no remotes");
    assert_eq!(
        health_lines(&support::render_collector(state)),
        Vec::<&str>::new()
    );
}

#[test]
fn fewer_gateway_nodes_than_min_nodes_is_degraded() {
    let state = polled(
        expect(&[("es-a", Some(3), None, None)]),
        vec![ok(SNIFF_2_OF_3)],
    );
    assert_eq!(
        verdicts(&state),
        [(
            "es-a".into(),
            Verdict::Degraded,
            "2 gateway nodes connected, fewer than min_nodes 3".into()
        )]
    );
    let text = support::render_collector(state);
    assert!(health_lines(&text).contains(
        &r#"es_remote_health{cluster="local",remote_cluster="es-a",state="degraded"} 1"#
    ));
}

#[test]
fn fewer_proxy_sockets_than_min_sockets_and_a_skip_unavailable_drift_are_both_named() {
    let state = polled(
        expect(&[("es-b", Some(99), Some(10), Some(false))]),
        vec![ok(PROXY_9_OF_18)],
    );
    // min_nodes does not apply to a proxy remote.
    assert_eq!(
        verdicts(&state),
        [(
            "es-b".into(),
            Verdict::Degraded,
            "9 proxy sockets open, fewer than min_sockets 10; skip_unavailable is true, expected false"
                .into()
        )]
    );
}

#[test]
fn a_skip_unavailable_drift_alone_is_degraded() {
    let state = polled(
        expect(&[("es-a", None, None, Some(true))]),
        vec![ok(SNIFF_2_OF_3)],
    );
    assert_eq!(
        verdicts(&state),
        [(
            "es-a".into(),
            Verdict::Degraded,
            "skip_unavailable is false, expected true".into()
        )]
    );
}

#[test]
fn a_disconnected_remote_is_down_even_when_not_expected() {
    let state = polled(expect(&[]), vec![ok(SNIFF_DOWN)]);
    assert_eq!(
        verdicts(&state),
        [(
            "es-a".into(),
            Verdict::Down,
            "not connected (0/3 gateway nodes)".into()
        )]
    );
    assert!(!state.get(0).health.remotes[0].expected);
}

#[test]
fn a_failed_poll_exports_only_unknown_health_for_expected_remotes() {
    let state = polled(
        expect(&[("es-a", None, None, None)]),
        vec![ok(SNIFF_2_OF_3), failed()],
    );
    assert_eq!(
        verdicts(&state),
        [(
            "es-a".into(),
            Verdict::Unknown,
            "the cluster could not be polled (timeout)".into()
        )]
    );
    assert_eq!(
        state.get(0).health.why,
        "poll failed: timeout: operation timed out"
    );
    assert_eq!(
        health_lines(&support::render_collector(state)),
        sorted(vec![
            r#"es_remote_health{cluster="local",remote_cluster="es-a",state="degraded"} 0"#,
            r#"es_remote_health{cluster="local",remote_cluster="es-a",state="down"} 0"#,
            r#"es_remote_health{cluster="local",remote_cluster="es-a",state="ok"} 0"#,
            r#"es_remote_health{cluster="local",remote_cluster="es-a",state="unknown"} 1"#,
        ])
    );
}

#[test]
fn before_the_first_poll_expected_remotes_are_unknown() {
    let state = polled(expect(&[("es-a", None, None, None)]), vec![]);
    assert_eq!(
        verdicts(&state),
        [("es-a".into(), Verdict::Unknown, "not polled yet".into())]
    );
    assert_eq!(
        health_lines(&support::render_collector(state)),
        sorted(vec![
            r#"es_remote_health{cluster="local",remote_cluster="es-a",state="degraded"} 0"#,
            r#"es_remote_health{cluster="local",remote_cluster="es-a",state="down"} 0"#,
            r#"es_remote_health{cluster="local",remote_cluster="es-a",state="ok"} 0"#,
            r#"es_remote_health{cluster="local",remote_cluster="es-a",state="unknown"} 1"#,
        ])
    );
}

#[test]
fn without_expected_remotes_every_remote_present_gets_its_health_series() {
    let state = polled(
        Expectations::default(),
        vec![ok(SNIFF_2_OF_3), ok(SNIFF_DOWN)],
    );
    assert_eq!(state.get(0).health.state, Verdict::Down);
    assert_eq!(
        health_lines(&support::render_collector(state)),
        sorted(vec![
            r#"es_remote_configured{cluster="local",remote_cluster="es-a"} 1"#,
            r#"es_remote_disconnects_total{cluster="local",remote_cluster="es-a"} 1"#,
            r#"es_remote_health{cluster="local",remote_cluster="es-a",state="degraded"} 0"#,
            r#"es_remote_health{cluster="local",remote_cluster="es-a",state="down"} 1"#,
            r#"es_remote_health{cluster="local",remote_cluster="es-a",state="ok"} 0"#,
            r#"es_remote_health{cluster="local",remote_cluster="es-a",state="unknown"} 0"#,
            r#"es_remote_last_connected_timestamp_seconds{cluster="local",remote_cluster="es-a"} 1700000000"#,
        ])
    );
    // A failed poll leaves no remote of a cluster that expects none.
    let state = polled(Expectations::default(), vec![ok(PROXY_9_OF_18), failed()]);
    assert_eq!(
        health_lines(&support::render_collector(state)),
        Vec::<&str>::new()
    );
}

#[test]
fn disconnects_count_transitions_across_failed_polls_and_restart_when_a_remote_returns() {
    let state = polled(
        expect(&[]),
        vec![
            ok(SNIFF_2_OF_3), // 0: connected
            ok(SNIFF_DOWN),   // 1: disconnect 1
            ok(SNIFF_DOWN),   // 2: still down, no new disconnect
            ok(SNIFF_2_OF_3), // 3: connected again
            failed(),         // 4: unseen
            ok(SNIFF_DOWN),   // 5: disconnect 2, seen across the failed poll
        ],
    );
    let text = support::render_collector(state.clone());
    let lines = health_lines(&text);
    assert!(
        lines.contains(&r#"es_remote_disconnects_total{cluster="local",remote_cluster="es-a"} 2"#)
    );
    assert!(lines.contains(
        &r#"es_remote_last_connected_timestamp_seconds{cluster="local",remote_cluster="es-a"} 1700000045"#
    ));
    // The remote down since poll 5, the cluster down since poll 5 (unknown at 4).
    let snapshot = state.get(0);
    assert_eq!(snapshot.health.remotes[0].since, Some(at(5)));
    assert_eq!(snapshot.health.since, Some(at(5)));

    // Removed, then configured again while disconnected: its history starts over.
    let poll = |n: usize, body: &str| LastPoll {
        finished: at(n),
        duration: Duration::from_millis(125),
        outcome: Ok(Arc::new(RemoteInfo::from_slice(body.as_bytes()).unwrap())),
    };
    state.set(0, state.get(0).after_poll(poll(6, "{}")));
    assert_eq!(
        health_lines(&support::render_collector(state.clone())),
        Vec::<&str>::new()
    );
    state.set(0, state.get(0).after_poll(poll(7, SNIFF_DOWN)));
    let text = support::render_collector(state);
    let lines = health_lines(&text);
    assert!(
        lines.contains(&r#"es_remote_disconnects_total{cluster="local",remote_cluster="es-a"} 0"#)
    );
    assert!(lines.contains(
        &r#"es_remote_last_connected_timestamp_seconds{cluster="local",remote_cluster="es-a"} 0"#
    ));
}

#[test]
fn since_stays_while_the_state_holds() {
    let state = polled(
        expect(&[("es-a", Some(3), None, None)]),
        vec![ok(SNIFF_2_OF_3), ok(SNIFF_2_OF_3), ok(SNIFF_DOWN)],
    );
    let snapshot = state.get(0);
    assert_eq!(snapshot.health.remotes[0].since, Some(at(2)));
    let state = polled(
        expect(&[("es-a", Some(3), None, None)]),
        vec![ok(SNIFF_2_OF_3), ok(SNIFF_2_OF_3)],
    );
    assert_eq!(state.get(0).health.remotes[0].since, Some(at(0)));
}

#[test]
fn the_overall_verdict_is_the_worst_with_down_above_unknown() {
    let worst = |verdicts: &[Verdict]| {
        verdicts
            .iter()
            .fold(Verdict::Ok, |worst, v| worst.worst(*v))
    };
    assert_eq!(worst(&[Verdict::Ok, Verdict::Degraded]), Verdict::Degraded);
    assert_eq!(
        worst(&[Verdict::Degraded, Verdict::Unknown]),
        Verdict::Unknown
    );
    assert_eq!(worst(&[Verdict::Unknown, Verdict::Down]), Verdict::Down);
    assert_eq!(worst(&[Verdict::Down, Verdict::Degraded]), Verdict::Down);
    let codes: Vec<u8> = Verdict::ALL.iter().map(|v| v.exit_code()).collect();
    assert_eq!(codes, [0, 1, 2, 3]);

    let up = polled(expect(&[]), vec![ok(SNIFF_2_OF_3)]);
    let down = polled(expect(&[]), vec![ok(SNIFF_DOWN)]);
    let unknown = polled(expect(&[]), vec![failed()]);
    let report = Report::new(&[up.get(0), down.get(0), unknown.get(0)]);
    assert_eq!(report.state, Verdict::Down);
    let report = Report::new(&[up.get(0), unknown.get(0)]);
    assert_eq!(report.state, Verdict::Unknown);
}

/// 50,000 remotes seen by the configured URL and by two nodes, half of them expected, plus
/// 1,000 expected remotes that are missing: after the second poll, which carries every
/// remote's `since` and history over from the first, every verdict, carried time, counter and
/// series is counted exactly. This proves judging and rendering right at that size, not fast:
/// no test here may time anything, and a judge that scanned lists instead of maps would pass
/// it too, only slowly. How the cost grows with the number of remotes is measured by
/// `cargo bench --bench render`, as the ratio of judging 50,000 remotes to 5,000 ten times.
#[test]
fn fifty_thousand_remotes_are_judged_and_rendered_across_two_polls() {
    use es_remote_exporter::remote_info::{Mode, Remote, Sniff};
    use es_remote_exporter::snapshot::{NodeAnswer, NodeRound, Observations};

    const N: usize = 50_000;
    let answer = |disconnected_every: usize| {
        let remotes = (0..N)
            .map(|i| {
                let connected = disconnected_every == 0 || i % disconnected_every != 0;
                Remote {
                    alias: format!("r{i:05}"),
                    connected: Some(connected),
                    mode: Mode::Sniff(Sniff {
                        seeds: Some(1),
                        nodes_connected: Some(u64::from(connected)),
                        max_connections: Some(3),
                    }),
                    skip_unavailable: Some(false),
                    initial_connect_timeout_seconds: Some(30.0),
                    credentials: false,
                }
            })
            .collect();
        Arc::new(RemoteInfo { remotes })
    };
    let round = |n: usize, info: Arc<RemoteInfo>| {
        let node = |name: &str| NodeAnswer {
            label: name.to_owned(),
            name: name.to_owned(),
            address: format!("127.0.0.1:920{}", &name[1..]),
            outcome: Ok(info.clone()),
        };
        let seen = Observations {
            nodes: Some(NodeRound {
                discovery: None,
                nodes: vec![node("n1"), node("n2")],
            }),
            ..Observations::default()
        };
        let poll = LastPoll {
            finished: at(n),
            duration: Duration::from_millis(125),
            outcome: Ok(info),
        };
        (poll, seen)
    };
    let mut expected: Vec<(String, Option<u64>)> = (0..N)
        .step_by(2)
        .map(|i| (format!("r{i:05}"), Some(1)))
        .collect();
    expected.extend((0..1_000).map(|i| (format!("x{i:04}"), None)));
    let expected: Vec<Expected<'_>> = expected
        .iter()
        .map(|(name, min_nodes)| (name.as_str(), *min_nodes, None, None))
        .collect();
    let state = Arc::new(State::expecting([("local".to_owned(), expect(&expected))]));

    let (poll, seen) = round(0, answer(0));
    state.set(0, state.get(0).after_round(poll, seen));
    // Every tenth remote disconnects on both nodes.
    let (poll, seen) = round(1, answer(10));
    state.set(0, state.get(0).after_round(poll, seen));

    let snapshot = state.get(0);
    let health = &snapshot.health;
    assert_eq!(health.remotes.len(), 51_000);
    assert_eq!(health.state, Verdict::Down);
    assert_eq!(health.why, "6000 down of 51000 remotes");
    let count = |f: &dyn Fn(&es_remote_exporter::health::RemoteHealth) -> bool| {
        health.remotes.iter().filter(|r| f(r)).count()
    };
    assert_eq!(count(&|r| r.state == Verdict::Ok), 45_000);
    assert_eq!(count(&|r| r.state == Verdict::Down), 6_000);
    assert_eq!(count(&|r| r.expected), 26_000);
    assert_eq!(count(&|r| !r.present), 1_000);
    // Unchanged since the first poll: 45,000 ok and the 1,000 missing; the rest changed.
    assert_eq!(count(&|r| r.since == Some(at(0))), 46_000);
    assert_eq!(count(&|r| r.since == Some(at(1))), 5_000);
    let r00010 = health.remotes.iter().find(|r| r.alias == "r00010").unwrap();
    assert_eq!(
        r00010.why,
        "not connected on nodes n1, n2 (connected on 0 of 2)"
    );
    assert_eq!(snapshot.history.len(), N);
    let disconnects: u64 = snapshot.history.values().map(|h| h.disconnects).sum();
    assert_eq!(disconnects, 5_000);

    let text = support::render_collector(state);
    let count_lines = |prefix: &str, suffix: &str| {
        text.lines()
            .filter(|l| l.starts_with(prefix) && l.ends_with(suffix))
            .count()
    };
    assert_eq!(count_lines("es_remote_connected{", " 1"), 45_000);
    assert_eq!(count_lines("es_remote_connected{", " 0"), 5_000);
    assert_eq!(count_lines("es_remote_health{", ""), 51_000 * 4);
    assert_eq!(count_lines("es_remote_health{", "state=\"down\"} 1"), 6_000);
    assert_eq!(count_lines("es_remote_configured{", " 1"), 50_000);
    assert_eq!(count_lines("es_remote_configured{", " 0"), 1_000);
    assert_eq!(count_lines("es_remote_disconnects_total{", " 1"), 5_000);
    assert_eq!(count_lines("es_remote_disconnects_total{", " 0"), 45_000);
    assert_eq!(count_lines("es_remote_node_connected{", " 1"), 90_000);
    assert_eq!(count_lines("es_remote_node_connected{", " 0"), 10_000);
    assert_eq!(count_lines("es_remote_node_up{", " 1"), 2);
}

// === nodes: all ===

/// A sniff remote as one node answers it: `open` of 3 gateway nodes.
fn sniff(alias: &str, open: u64, skip_unavailable: bool) -> String {
    format!(
        r#""{alias}":{{"connected":{},"mode":"sniff","seeds":["10.0.0.21:9300"],"num_nodes_connected":{open},"max_connections_per_cluster":3,"initial_connect_timeout":"30s","skip_unavailable":{skip_unavailable}}}"#,
        open > 0
    )
}

fn answer_of(remotes: &[String]) -> String {
    format!("{{{}}}", remotes.join(","))
}

/// One node's outcome in a round, its label being its name.
fn node(
    label: &str,
    outcome: Result<RemoteInfo, PollError>,
) -> es_remote_exporter::snapshot::NodeAnswer {
    es_remote_exporter::snapshot::NodeAnswer {
        label: label.to_owned(),
        name: label.to_owned(),
        address: format!("10.0.0.{}:9200", label.len()),
        outcome: outcome.map(Arc::new),
    }
}

/// One cluster `local` after one round: the configured URL's outcome, then discovery and the
/// nodes' own answers.
fn round(
    expect: Expectations,
    url: Result<RemoteInfo, PollError>,
    discovery: Option<PollError>,
    nodes: Vec<es_remote_exporter::snapshot::NodeAnswer>,
) -> Arc<State> {
    use es_remote_exporter::snapshot::{NodeRound, Observations};
    let state = Arc::new(State::expecting([("local".to_owned(), expect)]));
    let poll = LastPoll {
        finished: at(0),
        duration: Duration::from_millis(125),
        outcome: url.map(Arc::new),
    };
    let seen = Observations {
        nodes: Some(NodeRound { discovery, nodes }),
        ..Observations::default()
    };
    state.set(0, state.get(0).after_round(poll, seen));
    state
}

fn three_nodes(body: &str) -> Vec<es_remote_exporter::snapshot::NodeAnswer> {
    ["es-b-1", "es-b-2", "es-b-3"]
        .into_iter()
        .map(|label| node(label, ok(body)))
        .collect()
}

fn bad_request() -> PollError {
    PollError::new(
        Reason::BadRequest,
        "HTTP 400 Bad Request (illegal_argument_exception)",
    )
}

/// Sample lines of the given families, sorted.
fn lines_named<'a>(text: &'a str, names: &[&str]) -> Vec<&'a str> {
    let mut lines: Vec<&str> = text
        .lines()
        .filter(|l| names.iter().any(|name| l.starts_with(&format!("{name}{{"))))
        .collect();
    lines.sort_unstable();
    lines
}

#[test]
fn with_nodes_all_an_empty_url_answer_leaves_the_verdicts_to_the_nodes() {
    // The configured URL's node lacks the role (OpenSearch, Elasticsearch before 7.11).
    let body = answer_of(&[sniff("follower", 3, false), sniff("leader", 3, false)]);
    let state = round(
        expect(&[
            ("leader", Some(2), None, Some(false)),
            ("follower", None, None, None),
        ]),
        ok("{}"),
        None,
        three_nodes(&body),
    );
    assert_eq!(
        verdicts(&state),
        [
            (
                "follower".into(),
                Verdict::Ok,
                "connected on 3 of 3 nodes (3/3 gateway nodes each)".into()
            ),
            (
                "leader".into(),
                Verdict::Ok,
                "connected on 3 of 3 nodes (3/3 gateway nodes each)".into()
            ),
        ]
    );
    assert_eq!(state.get(0).health.state, Verdict::Ok);
    assert_eq!(state.get(0).health.why, "2 remotes ok");
    let text = support::render_collector(state);
    // The core gauges stay the configured URL's: it answered `{}`.
    assert_eq!(
        lines_named(
            &text,
            &["es_remote_up", "es_remote_clusters", "es_remote_connected"]
        ),
        [
            r#"es_remote_clusters{cluster="local"} 0"#,
            r#"es_remote_up{cluster="local"} 1"#,
        ]
    );
    assert_eq!(
        lines_named(
            &text,
            &[
                "es_remote_configured",
                "es_remote_node_connected",
                "es_remote_node_up"
            ]
        ),
        [
            r#"es_remote_configured{cluster="local",remote_cluster="follower"} 1"#,
            r#"es_remote_configured{cluster="local",remote_cluster="leader"} 1"#,
            r#"es_remote_node_connected{cluster="local",remote_cluster="follower",node="es-b-1"} 1"#,
            r#"es_remote_node_connected{cluster="local",remote_cluster="follower",node="es-b-2"} 1"#,
            r#"es_remote_node_connected{cluster="local",remote_cluster="follower",node="es-b-3"} 1"#,
            r#"es_remote_node_connected{cluster="local",remote_cluster="leader",node="es-b-1"} 1"#,
            r#"es_remote_node_connected{cluster="local",remote_cluster="leader",node="es-b-2"} 1"#,
            r#"es_remote_node_connected{cluster="local",remote_cluster="leader",node="es-b-3"} 1"#,
            r#"es_remote_node_up{cluster="local",node="es-b-1"} 1"#,
            r#"es_remote_node_up{cluster="local",node="es-b-2"} 1"#,
            r#"es_remote_node_up{cluster="local",node="es-b-3"} 1"#,
        ]
    );
}

#[test]
fn a_url_answering_400_is_judged_from_the_nodes_and_says_so() {
    let body = answer_of(&[sniff("leader", 2, false)]);
    let state = round(
        expect(&[("leader", Some(2), None, None)]),
        Err(bad_request()),
        None,
        three_nodes(&body),
    );
    let report = serde_json::to_value(Report::new(&state.snapshots())).unwrap();
    assert_eq!(
        report,
        serde_json::json!({
            "state": "ok",
            "clusters": [{
                "name": "local",
                "state": "ok",
                "why": "1 remote ok",
                "since": "2023-11-14T22:13:20Z",
                "polled_at": "2023-11-14T22:13:20Z",
                "error": {
                    "reason": "bad_request",
                    "detail": "HTTP 400 Bad Request (illegal_argument_exception)"
                },
                "nodes": [
                    {"name": "es-b-1", "node": "es-b-1", "address": "10.0.0.6:9200", "error": null},
                    {"name": "es-b-2", "node": "es-b-2", "address": "10.0.0.6:9200", "error": null},
                    {"name": "es-b-3", "node": "es-b-3", "address": "10.0.0.6:9200", "error": null}
                ],
                "notes": [
                    "the configured URL failed (bad_request: HTTP 400 Bad Request \
                     (illegal_argument_exception)), so the verdicts come from the nodes' own answers"
                ],
                "remotes": [{
                    "name": "leader",
                    "state": "ok",
                    "why": "connected on 3 of 3 nodes (2/3 gateway nodes each)",
                    "since": "2023-11-14T22:13:20Z",
                    "expected": true,
                    "mode": "sniff",
                    "connections": "2/3",
                    "nodes": {"es-b-1": true, "es-b-2": true, "es-b-3": true}
                }]
            }]
        })
    );
    let text = support::render_collector(state);
    // es_remote_up and the per-remote gauges follow the configured URL, which failed.
    assert_eq!(
        lines_named(
            &text,
            &[
                "es_remote_up",
                "es_remote_connected",
                "es_remote_configured",
                "es_remote_disconnects_total",
                "es_remote_node_connected",
            ]
        ),
        [
            r#"es_remote_configured{cluster="local",remote_cluster="leader"} 1"#,
            r#"es_remote_node_connected{cluster="local",remote_cluster="leader",node="es-b-1"} 1"#,
            r#"es_remote_node_connected{cluster="local",remote_cluster="leader",node="es-b-2"} 1"#,
            r#"es_remote_node_connected{cluster="local",remote_cluster="leader",node="es-b-3"} 1"#,
            r#"es_remote_up{cluster="local"} 0"#,
        ]
    );
}

#[test]
fn a_url_answering_400_with_no_node_answering_stays_unknown() {
    let timeout = || Err(PollError::new(Reason::Timeout, "operation timed out"));
    let state = round(
        expect(&[("leader", None, None, None)]),
        Err(bad_request()),
        None,
        vec![node("es-b-1", timeout()), node("es-b-2", timeout())],
    );
    let health = &state.get(0).health;
    assert_eq!(health.state, Verdict::Unknown);
    assert_eq!(
        health.why,
        "poll failed: bad_request: HTTP 400 Bad Request (illegal_argument_exception); \
         nodes es-b-1, es-b-2 could not be polled"
    );
    assert_eq!(
        verdicts(&state),
        [(
            "leader".into(),
            Verdict::Unknown,
            "the cluster could not be polled (bad_request)".into()
        )]
    );
}

#[test]
fn an_alias_on_one_node_only_is_judged_and_names_the_other_nodes() {
    let nodes = vec![
        node("es-b-1", ok(&answer_of(&[sniff("leader", 3, false)]))),
        node("es-b-2", ok(&answer_of(&[sniff("leader", 3, false)]))),
        node(
            "es-b-3",
            ok(&answer_of(&[
                sniff("leader", 3, false),
                sniff("newcomer", 1, false),
            ])),
        ),
    ];
    let state = round(
        expect(&[]),
        ok(&answer_of(&[sniff("leader", 3, false)])),
        None,
        nodes,
    );
    assert_eq!(
        verdicts(&state),
        [
            (
                "leader".into(),
                Verdict::Ok,
                "connected on 3 of 3 nodes (3/3 gateway nodes each)".into()
            ),
            (
                "newcomer".into(),
                Verdict::Degraded,
                "not configured on nodes es-b-1, es-b-2 (connected on 1 of 3)".into()
            ),
        ]
    );
    let text = support::render_collector(state);
    assert_eq!(
        lines_named(&text, &["es_remote_configured", "es_remote_node_connected"])
            .into_iter()
            .filter(|l| l.contains("newcomer"))
            .collect::<Vec<_>>(),
        [
            r#"es_remote_configured{cluster="local",remote_cluster="newcomer"} 1"#,
            r#"es_remote_node_connected{cluster="local",remote_cluster="newcomer",node="es-b-1"} 0"#,
            r#"es_remote_node_connected{cluster="local",remote_cluster="newcomer",node="es-b-2"} 0"#,
            r#"es_remote_node_connected{cluster="local",remote_cluster="newcomer",node="es-b-3"} 1"#,
        ]
    );
    // The core gauges know only what the configured URL answered.
    assert!(!text.contains(r#"es_remote_connected{cluster="local",remote_cluster="newcomer"}"#));
}

#[test]
fn each_node_is_held_to_the_minimums_and_skip_unavailable_it_reports() {
    let nodes = vec![
        node("es-b-1", ok(&answer_of(&[sniff("leader", 3, false)]))),
        node("es-b-2", ok(&answer_of(&[sniff("leader", 2, false)]))),
        node("es-b-3", ok(&answer_of(&[sniff("leader", 1, true)]))),
    ];
    let state = round(
        expect(&[("leader", Some(2), None, Some(false))]),
        ok(&answer_of(&[sniff("leader", 3, false)])),
        None,
        nodes,
    );
    assert_eq!(
        verdicts(&state),
        [(
            "leader".into(),
            Verdict::Degraded,
            "fewer gateway nodes than min_nodes 2 on node es-b-3 (1/3); \
             skip_unavailable is true on node es-b-3, expected false"
                .into()
        )]
    );
    let health = &state.get(0).health;
    assert_eq!(health.remotes[0].connections.as_deref(), Some("1/3"));
    assert_eq!(health.why, "1 degraded of 1 remote");

    // Several nodes short of it are named together, each with its own count.
    let nodes = vec![
        node("es-b-1", ok(&answer_of(&[sniff("leader", 1, false)]))),
        node("es-b-2", ok(&answer_of(&[sniff("leader", 1, false)]))),
        node("es-b-3", ok(&answer_of(&[sniff("leader", 2, false)]))),
    ];
    let state = round(
        expect(&[("leader", Some(3), None, None)]),
        ok("{}"),
        None,
        nodes,
    );
    assert_eq!(
        verdicts(&state)[0].2,
        "fewer gateway nodes than min_nodes 3 on nodes es-b-1 (1/3), es-b-2 (1/3), es-b-3 (2/3)"
    );
}

#[test]
fn a_url_seeing_the_remote_disconnected_does_not_outvote_the_nodes() {
    let state = round(
        expect(&[("leader", Some(2), None, None)]),
        ok(&answer_of(&[sniff("leader", 0, false)])),
        None,
        three_nodes(&answer_of(&[sniff("leader", 3, false)])),
    );
    assert_eq!(
        verdicts(&state),
        [(
            "leader".into(),
            Verdict::Ok,
            "connected on 3 of 3 nodes (3/3 gateway nodes each)".into()
        )]
    );
    let text = support::render_collector(state);
    assert!(
        text.contains("\nes_remote_connected{cluster=\"local\",remote_cluster=\"leader\"} 0\n")
    );
    assert!(
        text.contains(
            "\nes_remote_nodes_connected{cluster=\"local\",remote_cluster=\"leader\"} 0\n"
        )
    );
}

#[test]
fn an_expected_alias_on_no_node_is_down_and_disconnected_on_every_node_is_down() {
    let state = round(
        expect(&[("leader", None, None, None), ("gone", None, None, None)]),
        ok("{}"),
        None,
        three_nodes(&answer_of(&[sniff("leader", 0, false)])),
    );
    assert_eq!(
        verdicts(&state),
        [
            (
                "gone".into(),
                Verdict::Down,
                "expected, but in no node's _remote/info answer".into()
            ),
            (
                "leader".into(),
                Verdict::Down,
                "not connected on nodes es-b-1, es-b-2, es-b-3 (connected on 0 of 3)".into()
            ),
        ]
    );
    let text = support::render_collector(state);
    assert_eq!(
        lines_named(&text, &["es_remote_configured"]),
        [
            r#"es_remote_configured{cluster="local",remote_cluster="gone"} 0"#,
            r#"es_remote_configured{cluster="local",remote_cluster="leader"} 1"#,
        ]
    );
}

#[test]
fn a_node_that_could_not_be_polled_makes_the_cluster_degraded_not_its_remotes() {
    let body = answer_of(&[sniff("leader", 3, false)]);
    let nodes = vec![
        node("es-b-1", ok(&body)),
        node("es-b-2", ok(&body)),
        node(
            "es-b-3",
            Err(PollError::new(Reason::Connect, "connection refused")),
        ),
    ];
    let state = round(
        expect(&[("leader", None, None, None)]),
        ok(&body),
        None,
        nodes,
    );
    assert_eq!(
        verdicts(&state),
        [(
            "leader".into(),
            Verdict::Ok,
            "connected on 2 of 2 nodes (3/3 gateway nodes each)".into()
        )]
    );
    let health = &state.get(0).health;
    assert_eq!(health.state, Verdict::Degraded);
    assert_eq!(health.why, "1 remote ok; node es-b-3 could not be polled");
    let report = Report::new(&state.snapshots());
    assert_eq!(report.state, Verdict::Degraded);
    assert_eq!(
        report.clusters[0].notes,
        ["node es-b-3 could not be polled: connect: connection refused"]
    );
    let text = support::render_collector(state);
    assert_eq!(
        lines_named(&text, &["es_remote_node_up"]),
        [
            r#"es_remote_node_up{cluster="local",node="es-b-1"} 1"#,
            r#"es_remote_node_up{cluster="local",node="es-b-2"} 1"#,
            r#"es_remote_node_up{cluster="local",node="es-b-3"} 0"#,
        ]
    );
    assert!(text.contains(
        "es_remote_health{cluster=\"local\",remote_cluster=\"leader\",state=\"ok\"} 1\n"
    ));

    // A failed discovery: judged from the configured URL, and degraded.
    let state = round(
        expect(&[("leader", None, None, None)]),
        ok(&body),
        Some(PollError::new(Reason::Forbidden, "HTTP 403 Forbidden")),
        vec![],
    );
    let health = &state.get(0).health;
    assert_eq!(health.state, Verdict::Degraded);
    assert_eq!(health.why, "1 remote ok; node discovery failed (forbidden)");
    assert_eq!(
        verdicts(&state),
        [(
            "leader".into(),
            Verdict::Ok,
            "connected (3/3 gateway nodes)".into()
        )]
    );
    assert_eq!(
        Report::new(&state.snapshots()).clusters[0].notes,
        [
            "no node answered, so the verdicts come from the configured URL's answer alone",
            "node discovery failed: forbidden: HTTP 403 Forbidden",
        ]
    );
    // A down remote stays down: a node problem only raises a better cluster verdict.
    let state = round(
        expect(&[]),
        ok(SNIFF_DOWN),
        Some(PollError::new(Reason::Timeout, "operation timed out")),
        vec![],
    );
    assert_eq!(state.get(0).health.state, Verdict::Down);
}

#[test]
fn many_failed_nodes_are_counted_after_the_first_few() {
    let nodes: Vec<_> = (0..40)
        .map(|n| {
            node(
                &format!("n{n:02}"),
                Err(PollError::new(Reason::Timeout, "operation timed out")),
            )
        })
        .collect();
    let state = round(expect(&[]), ok(SNIFF_2_OF_3), None, nodes);
    assert_eq!(
        state.get(0).health.why,
        "1 remote ok; nodes n00, n01, n02, n03, n04, n05, n06, n07, n08, n09 and 30 more could \
         not be polled"
    );
    let notes = &Report::new(&state.snapshots()).clusters[0].notes;
    assert_eq!(notes.len(), 7);
    assert_eq!(
        notes[0],
        "no node answered, so the verdicts come from the configured URL's answer alone"
    );
    assert_eq!(
        notes[1],
        "node n00 could not be polled: timeout: operation timed out"
    );
    assert_eq!(
        notes[6],
        "35 more nodes could not be polled; each node's error is in nodes"
    );
}

#[test]
fn expected_remotes_are_sorted_by_alias_after_a_failed_poll_as_after_a_successful_one() {
    let state = polled(
        expect(&[("zeta", None, None, None), ("alpha", None, None, None)]),
        vec![failed()],
    );
    let aliases: Vec<String> = verdicts(&state).into_iter().map(|v| v.0).collect();
    assert_eq!(aliases, ["alpha", "zeta"]);
    let state = polled(
        expect(&[("zeta", None, None, None), ("alpha", None, None, None)]),
        vec![],
    );
    let aliases: Vec<String> = verdicts(&state).into_iter().map(|v| v.0).collect();
    assert_eq!(aliases, ["alpha", "zeta"]);
}

#[test]
fn one_gateway_node_or_socket_is_written_in_the_singular() {
    let state = polled(
        expect(&[("es-a", Some(2), None, None)]),
        vec![ok(
            r#"{"es-a":{"connected":true,"mode":"sniff","num_nodes_connected":1,"max_connections_per_cluster":3}}"#,
        )],
    );
    assert_eq!(
        verdicts(&state)[0].2,
        "1 gateway node connected, fewer than min_nodes 2"
    );
    let state = polled(
        expect(&[("es-b", None, Some(2), None)]),
        vec![ok(
            r#"{"es-b":{"connected":true,"mode":"proxy","proxy_address":"10.0.0.30:9300","num_proxy_sockets_connected":1}}"#,
        )],
    );
    assert_eq!(
        verdicts(&state)[0].2,
        "1 proxy socket open, fewer than min_sockets 2"
    );
    let state = polled(
        expect(&[]),
        vec![ok(
            r#"{"es-a":{"connected":true,"mode":"sniff","num_nodes_connected":1}}"#,
        )],
    );
    assert_eq!(verdicts(&state)[0].2, "connected (1 gateway node)");
}
