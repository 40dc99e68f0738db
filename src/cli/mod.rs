//! Command-line interface: one file per subcommand; clap types stay here, never in the library.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod folds;
mod onehot;
mod tss;

/// s2f — a fast engine for genomic sequence-to-function models.
#[derive(Parser)]
#[command(name = "s2f", version, about, long_about = None)]
struct Cli {
    /// More log output (-v: debug, -vv: trace). Logs go to standard error.
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    verbose: u8,

    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// One-hot encode genome windows or regions into a DRG-compatible .npz.
    Onehot(onehot::Args),
    /// Split chromosomes into size-balanced cross-validation folds.
    Folds(folds::Args),
    /// Extract transcription start sites from a GTF into a TSV table.
    Tss(tss::Args),
}

/// Parses the command line, runs the subcommand, and reports errors with their causes.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let level = match cli.verbose {
        0 => "info",
        1 => "debug",
        _ => "trace",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("S2F_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(format!("s2f={level},warn")));
    tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).with_target(false).init();

    let result = match cli.command {
        Command::Onehot(a) => onehot::run(a),
        Command::Folds(a) => folds::run(a),
        Command::Tss(a) => tss::run(a),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            for cause in e.chain().skip(1) {
                eprintln!("  caused by: {cause}");
            }
            ExitCode::FAILURE
        }
    }
}

/// Parses a comma-separated list, dropping empty items.
pub(crate) fn split_list(s: &str) -> Vec<String> {
    s.split(',').map(str::trim).filter(|x| !x.is_empty()).map(String::from).collect()
}
