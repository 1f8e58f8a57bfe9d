//! The `es-remote-exporter` binary: flags, logging, then the library.

use std::process::ExitCode;

use clap::Parser;

#[tokio::main]
async fn main() -> ExitCode {
    let args = es_remote_exporter::cli::Args::parse();
    es_remote_exporter::log::init(args.log_level, args.log_format);
    es_remote_exporter::run(args).await
}
