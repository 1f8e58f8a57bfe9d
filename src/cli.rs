//! Command-line flags, named after the conventions of Prometheus exporters.

use std::ffi::OsString;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{CommandFactory, Parser, Subcommand, ValueEnum};

/// `es-remote-exporter [flags]` serves metrics; `es-remote-exporter check [flags]` polls once.
#[derive(Debug, Parser)]
#[command(
    name = "es-remote-exporter",
    version,
    about = "Prometheus exporter and health checker for Elasticsearch and OpenSearch remote \
             cluster connections (GET /_remote/info).",
    args_conflicts_with_subcommands = true
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
    #[command(flatten)]
    pub serve: Args,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Poll every cluster once, print the verdicts, and exit 0 ok, 1 degraded, 2 down or
    /// 3 unknown (also for a configuration or flag error).
    Check(CheckArgs),
}

/// The flags of the exporter's server.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub source: Source,

    /// Validate the configuration file, print the result and exit.
    #[arg(
        long = "config.check",
        requires = "config_file",
        conflicts_with = "es_url"
    )]
    pub config_check: bool,

    /// Address to listen on for HTTP requests; `:PORT` listens on every interface.
    #[arg(
        long = "web.listen-address",
        value_name = "ADDR",
        default_value = ":10920"
    )]
    pub listen_address: String,

    /// Path under which the metrics are served.
    #[arg(long = "web.telemetry-path", value_name = "PATH", default_value = "/metrics",
          value_parser = telemetry_path)]
    pub telemetry_path: String,

    /// Allow reloading the configuration file with POST or PUT to /-/reload.
    #[arg(long = "web.enable-lifecycle")]
    pub enable_lifecycle: bool,

    /// Lowest level of log events written to stderr.
    #[arg(long = "log.level", value_enum, default_value_t = LogLevel::Info)]
    pub log_level: LogLevel,

    /// Format of log events.
    #[arg(long = "log.format", value_enum, default_value_t = LogFormat::Logfmt)]
    pub log_format: LogFormat,
}

/// The flags of `check`.
#[derive(Debug, clap::Args)]
pub struct CheckArgs {
    #[command(flatten)]
    pub source: Source,

    /// How to print the verdicts: a table for people, or the `/health` JSON document.
    #[arg(long = "output", value_enum, default_value_t = Output::Table)]
    pub output: Output,

    /// Lowest level of log events written to stderr.
    #[arg(long = "log.level", value_enum, default_value_t = LogLevel::Warn)]
    pub log_level: LogLevel,

    /// Format of log events.
    #[arg(long = "log.format", value_enum, default_value_t = LogFormat::Logfmt)]
    pub log_format: LogFormat,
}

/// Where the clusters to poll come from.
#[derive(Debug, clap::Args)]
pub struct Source {
    /// YAML configuration file listing the clusters to poll. Without it, `--es.url` is polled.
    #[arg(long = "config.file", value_name = "FILE")]
    pub config_file: Option<PathBuf>,

    /// Cluster to poll when no configuration file is given; named from its `GET /`.
    #[arg(
        long = "es.url",
        value_name = "URL",
        default_value = "http://localhost:9200",
        conflicts_with = "config_file"
    )]
    pub es_url: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum LogLevel {
    Debug,
    Info,
    Warn,
    Error,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Logfmt,
    Json,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Output {
    Table,
    Json,
}

/// Paths the exporter serves itself, which the metrics may not take.
const RESERVED_PATHS: [&str; 4] = ["/health", "/-/healthy", "/-/ready", "/-/reload"];

/// What a telemetry path may hold, in words for the error.
const PATH_SHAPE: &str =
    "use /-separated segments of ASCII letters, digits and -._~, such as /metrics";

/// The metrics path is handed to the router as a route, where `{…}` is a parameter and `*` a
/// wildcard, and is compared with the raw request path, where a space, `?`, `#`, `%` or a
/// non-ASCII character never arrive as written. So only plain segments are accepted, which
/// mean the same to the router and to every client.
fn telemetry_path(text: &str) -> Result<String, String> {
    let Some(segments) = text.strip_prefix('/').filter(|rest| !rest.is_empty()) else {
        return Err("must start with / and name a path other than /".to_owned());
    };
    for segment in segments.split('/') {
        if segment.is_empty() {
            return Err(format!("empty path segment; {PATH_SHAPE}"));
        }
        if segment == "." || segment == ".." {
            return Err(format!("segment {segment:?} is not allowed; {PATH_SHAPE}"));
        }
        let unreserved = |c: char| c.is_ascii_alphanumeric() || "-._~".contains(c);
        if let Some(c) = segment.chars().find(|&c| !unreserved(c)) {
            return Err(format!("{c:?} is not allowed; {PATH_SHAPE}"));
        }
    }
    if RESERVED_PATHS.contains(&text) {
        return Err(format!("{text} is served by the exporter itself"));
    }
    Ok(text.to_owned())
}

/// Prints a flag error (or the help or version text) and gives the exit code: clap's own,
/// except under `check`, where 1 and 2 mean degraded and down, so a usage error is 3.
pub fn parse_failed(err: clap::Error) -> ExitCode {
    let _ = err.print();
    if !err.use_stderr() {
        return ExitCode::SUCCESS;
    }
    match names_check(std::env::args_os().skip(1)) {
        true => ExitCode::from(3),
        false => ExitCode::from(u8::try_from(err.exit_code()).unwrap_or(2)),
    }
}

/// Whether the arguments (without the program name) name the `check` subcommand anywhere,
/// also after flags of the server that clap refused there. A value of a top-level flag
/// (`--es.url check`) is skipped, so it is not taken for the subcommand.
pub fn names_check(args: impl IntoIterator<Item = impl Into<OsString>>) -> bool {
    let command = Cli::command();
    let takes_value = |long: &str| {
        command
            .get_arguments()
            .any(|arg| arg.get_long() == Some(long) && arg.get_action().takes_values())
    };
    let mut args = args.into_iter().map(Into::into);
    while let Some(arg) = args.next() {
        let Some(arg) = arg.to_str() else { continue };
        if arg == "check" {
            return true;
        }
        if arg == "--" {
            return false;
        }
        if let Some(long) = arg.strip_prefix("--")
            && !long.contains('=')
            && takes_value(long)
        {
            args.next();
        }
    }
    false
}

impl LogLevel {
    pub fn as_str(self) -> &'static str {
        match self {
            LogLevel::Debug => "debug",
            LogLevel::Info => "info",
            LogLevel::Warn => "warn",
            LogLevel::Error => "error",
        }
    }
}
