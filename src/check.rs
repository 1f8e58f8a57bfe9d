//! The `check` command: one poll round of every cluster, the verdicts as a table or JSON, and
//! the overall verdict as the exit code.

use std::io::Write;
use std::process::ExitCode;
use std::sync::Arc;

use tokio::task::JoinSet;

use crate::cli::{CheckArgs, Output};
use crate::es::Client;
use crate::health::{Report, Verdict};
use crate::poll::Poller;
use crate::text;

/// Polls every configured cluster once, at the same time, and prints the report. A
/// configuration that cannot be used, or a report that cannot be written, exits 3 (unknown),
/// its error on stderr.
pub async fn run(args: CheckArgs) -> ExitCode {
    let unknown = ExitCode::from(Verdict::Unknown.exit_code());
    let config = match crate::load_config(&args.source) {
        Ok(config) => config,
        Err(err) => {
            complain(format_args!("invalid configuration: {err}"));
            return unknown;
        }
    };
    let state = Arc::new(crate::state_for(&config));
    let mut polls = JoinSet::new();
    for (index, cluster) in config.clusters.iter().enumerate() {
        let client = match Client::new(cluster) {
            Ok(client) => client,
            Err(err) => {
                complain(format_args!("{err}"));
                return unknown;
            }
        };
        let mut poller = Poller::new(index, cluster, client, state.clone());
        polls.spawn(async move { poller.poll_once().await });
    }
    while polls.join_next().await.is_some() {}

    let report = Report::new(&state.snapshots());
    let text = match args.output {
        Output::Table => table(&report),
        Output::Json => {
            serde_json::to_string_pretty(&report).expect("the report serializes") + "\n"
        }
    };
    // A closed pipe or a full disk must not end in a panic (exit 101): the caller reads the
    // exit code, and 3 is the one that says the check itself did not work.
    let mut stdout = std::io::stdout().lock();
    if let Err(err) = stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush())
    {
        complain(format_args!("failed to write the report to stdout: {err}"));
        return unknown;
    }
    ExitCode::from(report.state.exit_code())
}

/// One line on stderr; if even that cannot be written there is no one left to tell.
fn complain(message: std::fmt::Arguments<'_>) {
    let _ = writeln!(std::io::stderr(), "es-remote-exporter check: {message}");
}

/// One row per remote; a cluster row (remote `-`) when a cluster has no remote to show, could
/// not be polled, or is worse than its remotes (a node that could not be polled), so that its
/// reason is printed. Then the overall verdict.
pub fn table(report: &Report) -> String {
    let mut rows: Vec<[String; 6]> = vec![[
        "CLUSTER".into(),
        "REMOTE".into(),
        "STATE".into(),
        "MODE".into(),
        "CONNECTIONS".into(),
        "WHY".into(),
    ]];
    let dash = || "-".to_owned();
    for cluster in &report.clusters {
        let remotes_state = cluster
            .remotes
            .iter()
            .fold(Verdict::Ok, |worst, remote| worst.worst(remote.state));
        if cluster.remotes.is_empty()
            || cluster.error.is_some()
            || cluster.polled_at.is_none()
            || cluster.state != remotes_state
        {
            rows.push([
                cluster.name.clone(),
                dash(),
                cluster.state.to_string(),
                dash(),
                dash(),
                cluster.why.clone(),
            ]);
        }
        for remote in &cluster.remotes {
            rows.push([
                cluster.name.clone(),
                remote.name.clone(),
                remote.state.to_string(),
                remote.mode.clone().unwrap_or_else(dash),
                remote.connections.clone().unwrap_or_else(dash),
                remote.why.clone(),
            ]);
        }
        for note in &cluster.notes {
            rows.push([
                cluster.name.clone(),
                dash(),
                "note".into(),
                dash(),
                dash(),
                note.clone(),
            ]);
        }
    }

    for row in &mut rows {
        for cell in row.iter_mut() {
            *cell = printable(cell);
        }
    }

    let mut widths = [0; 6];
    for row in &rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let mut text = String::new();
    for row in &rows {
        let mut line = String::new();
        for (column, cell) in row.iter().enumerate() {
            if column + 1 == row.len() {
                line.push_str(cell);
            } else {
                let pad = widths[column] - cell.chars().count();
                line.push_str(cell);
                line.push_str(&" ".repeat(pad + 2));
            }
        }
        text.push_str(line.trim_end());
        text.push('\n');
    }
    text.push_str(&format!("overall: {}\n", report.state));
    text
}

/// A cell as the terminal may print it: aliases, cluster names and error details come from
/// configurations and answers, and a control character in them (NUL, ESC, a newline) would
/// reach the terminal as a command or break the table, while a bidirectional or zero-width
/// format character would reorder or hide what the line shows. Each is written as its Rust
/// escape.
fn printable(cell: &str) -> String {
    if cell.chars().all(text::printable) {
        return cell.to_owned();
    }
    cell.chars()
        .map(|c| match (c.is_control(), text::printable(c)) {
            (true, _) => c.escape_debug().to_string(),
            (false, false) => c.escape_unicode().to_string(),
            (false, true) => c.to_string(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bidi_and_zero_width_characters_are_escaped_like_control_characters() {
        let cell = "a\u{202E}b\u{2066}c\u{2069}d\u{200E}e\u{200F}f\u{061C}g\u{200B}h\u{200D}i\u{2060}j\u{FEFF}k\u{1b}l";
        assert_eq!(
            printable(cell),
            r"a\u{202e}b\u{2066}c\u{2069}d\u{200e}e\u{200f}f\u{61c}g\u{200b}h\u{200d}i\u{2060}j\u{feff}k\u{1b}l"
        );
        for c in [
            '\u{202A}', '\u{202B}', '\u{202C}', '\u{202D}', '\u{2067}', '\u{2068}', '\u{200C}',
        ] {
            assert_eq!(printable(&c.to_string()), c.escape_unicode().to_string());
        }
        assert_eq!(printable("zé 東京 ✓"), "zé 東京 ✓");
    }
}
