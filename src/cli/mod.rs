//! Command-line interface: one file per subcommand; clap types stay here, never in the library.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod convert;
mod export_onnx;
mod folds;
mod inspect;
mod onehot;
mod package;
mod predict;
mod run;
mod train;
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
    /// Show a model's layers, parameters, MACs, receptive field and output geometry.
    Inspect(inspect::Args),
    /// Write a package's ONNX graph (optionally with batch norm folded).
    ExportOnnx(export_onnx::Args),
    /// Predict from one-hot arrays (.npy) with a model.
    Run(run::Args),
    /// Build a model package from a spec and weights (or seeded random weights).
    Package(package::Args),
    /// Score a genome or BED regions with a model: bigWig / npz outputs, TTA, shards, resume.
    Predict(predict::Args),
    /// Combine the outputs of `predict --shard` runs into the files an unsharded run writes.
    Merge(predict::MergeArgs),
    /// Import a Keras .h5 (Basenji2), PyTorch (FT_S2A) or DRG checkpoint into a model package.
    Convert(convert::Args),
    /// Build a model spec from a basenji params.json.
    SpecBasenji(package::BasenjiArgs),
    /// Train a model (preset, spec, or a package to fine-tune) and write a package with reports.
    Train(Box<train::Args>),
}

/// Engines selectable on the command line.
#[derive(Clone, Copy, clap::ValueEnum)]
pub(crate) enum EngineArg {
    /// tract: pure Rust, CPU, nothing to install.
    Tract,
    /// ONNX Runtime from the PyPI onnxruntime wheel (see README).
    Ort,
}

impl From<EngineArg> for s2f::engine::EngineKind {
    fn from(e: EngineArg) -> Self {
        match e {
            EngineArg::Tract => Self::Tract,
            EngineArg::Ort => Self::Ort,
        }
    }
}

/// Devices selectable on the command line.
#[derive(Clone, Copy, clap::ValueEnum)]
pub(crate) enum DeviceArg {
    /// CPU.
    Cpu,
    /// CUDA GPU; an error when CUDA is not usable.
    Cuda,
    /// CUDA if usable, else CPU (logged).
    Auto,
}

impl From<DeviceArg> for s2f::engine::Device {
    fn from(d: DeviceArg) -> Self {
        match d {
            DeviceArg::Cpu => Self::Cpu,
            DeviceArg::Cuda => Self::Cuda,
            DeviceArg::Auto => Self::Auto,
        }
    }
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
        Command::Inspect(a) => inspect::run(a),
        Command::ExportOnnx(a) => export_onnx::run(a),
        Command::Run(a) => run::run(a),
        Command::Package(a) => package::run(a),
        Command::SpecBasenji(a) => package::run_basenji(a),
        Command::Convert(a) => convert::run(a),
        Command::Predict(a) => predict::run(a),
        Command::Merge(a) => predict::run_merge(a),
        Command::Train(a) => train::run(*a),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            let top = e.to_string();
            eprintln!("error: {top}");
            for cause in e.chain().skip(1) {
                let cause = cause.to_string();
                if !top.contains(&cause) {
                    eprintln!("  caused by: {cause}");
                }
            }
            ExitCode::FAILURE
        }
    }
}

/// Parses a comma-separated list, dropping empty items.
pub(crate) fn split_list(s: &str) -> Vec<String> {
    s.split(',').map(str::trim).filter(|x| !x.is_empty()).map(String::from).collect()
}
