//! The `es-remote-exporter` binary: flags, logging, then the library.

use std::process::ExitCode;

use clap::Parser;
use es_remote_exporter::cli::{Cli, Command};

#[tokio::main]
async fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(err) => return es_remote_exporter::cli::parse_failed(err),
    };
    match cli.command {
        Some(Command::Check(args)) => {
            es_remote_exporter::log::init(args.log_level, args.log_format);
            es_remote_exporter::check::run(args).await
        }
        None => {
            es_remote_exporter::log::init(cli.serve.log_level, cli.serve.log_format);
            es_remote_exporter::run(cli.serve).await
        }
    }
}
