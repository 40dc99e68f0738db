//! `s2f export-onnx`: emit a package's ONNX graph (optionally with batch norm folded).

use std::path::PathBuf;

use anyhow::{Context, Result};
use s2f::model::onnx::{emit, EmitOptions};
use s2f::model::Package;

/// Arguments of `s2f export-onnx`.
#[derive(clap::Args)]
pub struct Args {
    /// Model package folder (model.json + model.safetensors).
    model: PathBuf,
    /// Output ONNX file.
    #[arg(long)]
    out: PathBuf,
    /// Fold each batch norm into the convolution before it.
    #[arg(long)]
    fold_bn: bool,
}

/// Runs `s2f export-onnx`.
pub fn run(args: Args) -> Result<()> {
    let pkg = Package::open(&args.model)?;
    let spec = pkg.spec.as_ref().context("a bare ONNX file has no spec to export from")?;
    let weights = pkg.weights.as_ref().context("the package has no model.safetensors to export from")?;
    let bytes = emit(spec, weights, EmitOptions { fold_bn: args.fold_bn })?;
    s2f::io::atomic::write_atomic(&args.out, |w| std::io::Write::write_all(w, &bytes))?;
    tracing::info!("wrote {} ({} bytes, opset {})", args.out.display(), bytes.len(), s2f::model::onnx::OPSET);
    Ok(())
}
