//! Command-line flags, named after the conventions of Prometheus exporters.

use std::path::PathBuf;

use clap::{Parser, ValueEnum};

#[derive(Debug, Parser)]
#[command(
    name = "es-remote-exporter",
    version,
    about = "Prometheus exporter and health checker for Elasticsearch and OpenSearch remote \
             cluster connections (GET /_remote/info)."
)]
pub struct Args {
    /// YAML configuration file listing the clusters to poll. Without it, `--es.url` is polled.
    #[arg(long = "config.file", value_name = "FILE")]
    pub config_file: Option<PathBuf>,

    /// Validate the configuration file, print the result and exit.
    #[arg(long = "config.check", requires = "config_file")]
    pub config_check: bool,

    /// Cluster to poll when no configuration file is given; named from its `GET /`.
    #[arg(
        long = "es.url",
        value_name = "URL",
        default_value = "http://localhost:9200"
    )]
    pub es_url: String,

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

    /// Lowest level of log events written to stderr.
    #[arg(long = "log.level", value_enum, default_value_t = LogLevel::Info)]
    pub log_level: LogLevel,

    /// Format of log events.
    #[arg(long = "log.format", value_enum, default_value_t = LogFormat::Logfmt)]
    pub log_format: LogFormat,
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

fn telemetry_path(text: &str) -> Result<String, String> {
    if !text.starts_with('/') || text.len() < 2 {
        return Err("must start with / and name a path other than /".to_owned());
    }
    Ok(text.to_owned())
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
