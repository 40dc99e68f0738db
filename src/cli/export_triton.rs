//! `s2f export-triton`: a Triton Inference Server model repository from s2f models.

use std::path::PathBuf;

use anyhow::Result;
use s2f::serve::triton::{export, TritonOptions};

use super::serve::split_model;

/// Arguments of `s2f export-triton`.
#[derive(clap::Args)]
pub struct Args {
    /// Models: a package folder or .onnx, optionally `=NAME` (default: the name `s2f serve` uses).
    #[arg(required = true, value_name = "MODEL[=NAME]")]
    models: Vec<String>,
    /// Model repository folder (created if missing; existing model folders are not touched).
    #[arg(long)]
    out: PathBuf,
    /// Triton's max_batch_size.
    #[arg(long, default_value_t = 64)]
    max_batch: usize,
    /// Triton's dynamic batching delay, in milliseconds.
    #[arg(long, default_value_t = 5.0)]
    max_delay_ms: f64,
}

/// Runs `s2f export-triton`.
pub fn run(args: Args) -> Result<()> {
    if !(args.max_delay_ms.is_finite() && args.max_delay_ms >= 0.0) {
        anyhow::bail!("--max-delay-ms must be a non-negative number of milliseconds");
    }
    let models = args.models.iter().map(|m| split_model(m)).collect::<Result<Vec<_>>>()?;
    let opts = TritonOptions { max_batch: args.max_batch, max_delay_us: (args.max_delay_ms * 1000.0).round() as u64 };
    for dir in export(&models, &args.out, opts)? {
        println!("{}", dir.display());
    }
    Ok(())
}
