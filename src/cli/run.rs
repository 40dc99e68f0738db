//! `s2f run`: predict from one-hot arrays with any model and engine.

use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use ndarray::Array3;
use s2f::engine::{create, Predictor};
use s2f::io::npy::{read_npy, write_npy, DType};
use s2f::model::Package;

use super::{DeviceArg, EngineArg};

/// Arguments of `s2f run`.
#[derive(clap::Args)]
pub struct Args {
    /// Model: a package folder, an .onnx with a sidecar spec, or a bare .onnx.
    model: PathBuf,
    /// One-hot input (N, L, 4), float32 or int8: an .npy, or the .npz `s2f onehot` writes
    /// (its `seqfeatures`).
    #[arg(long)]
    input: PathBuf,
    /// Output .npy: float32 (N, bins, tracks).
    #[arg(long)]
    out: PathBuf,
    /// Inference engine.
    #[arg(long, value_enum, default_value_t = EngineArg::Auto)]
    engine: EngineArg,
    /// Device: cpu, cuda (fails if CUDA is unusable), auto (logs its choice).
    #[arg(long, value_enum, default_value_t = DeviceArg::Cpu)]
    device: DeviceArg,
    /// Sequences per batch.
    #[arg(long, default_value_t = 8)]
    batch: usize,
    /// Head to output, for models with several.
    #[arg(long)]
    head: Option<String>,
}

/// Runs `s2f run`.
pub fn run(args: Args) -> Result<()> {
    let pkg = Package::open(&args.model)?;
    // The engine first: a device that cannot be used fails before any input is read.
    let engine = create(args.engine.into(), args.device.into(), &pkg.onnx)?;
    let arr = if args.input.extension().is_some_and(|e| e == "npz") {
        s2f::io::npy::read_npz(&args.input)?
            .into_iter()
            .find(|(n, _)| n == "seqfeatures")
            .map(|(_, a)| a)
            .with_context(|| format!("{}: no seqfeatures array (write it with s2f onehot)", args.input.display()))?
    } else {
        read_npy(&args.input)?
    };
    if matches!(arr.dtype, DType::Unicode(_)) {
        bail!("{}: expected a numeric one-hot array", args.input.display());
    }
    let x = arr.to_f32().context("numeric array")?;
    let head = match &pkg.spec {
        Some(spec) => {
            if arr.shape.len() != 3 || arr.shape[2] != 4 {
                bail!("{}: expected one-hot of shape (N, L, 4), found {:?}", args.input.display(), arr.shape);
            }
            if arr.shape[1] as u64 != spec.input.length {
                bail!(
                    "{}: sequences are {} bp but the model reads {} bp",
                    args.input.display(),
                    arr.shape[1],
                    spec.input.length
                );
            }
            spec.head_index(args.head.as_deref())?
        }
        None => {
            if arr.shape.len() != 3 {
                bail!("{}: expected a rank-3 array, found {:?}", args.input.display(), arr.shape);
            }
            match &args.head {
                Some(h) => {
                    let sig = s2f::model::onnx::signature(&pkg.onnx, &pkg.path)?;
                    sig.outputs
                        .iter()
                        .position(|(n, _)| n == h)
                        .with_context(|| format!("the ONNX model has no output {h:?}"))?
                }
                None => 0,
            }
        }
    };
    let n_value = pkg.spec.as_ref().map(|s| s.input.n_value);
    s2f::genome::onehot::check_onehot(&x, arr.shape[1], arr.shape[2], n_value, &args.input)?;
    let x = Array3::from_shape_vec((arr.shape[0], arr.shape[1], arr.shape[2]), x)?;
    let mut predictor = Predictor::new(&pkg, engine, head, args.batch)?;
    tracing::info!("running {} sequences on {}", x.shape()[0], predictor.describe());
    let y = predictor.predict(x.view())?;
    let shape = y.shape().to_vec();
    let (data, _) = y.into_raw_vec_and_offset();
    write_npy(&args.out, &shape, &data)?;
    tracing::info!("wrote {} {:?}", args.out.display(), shape);
    Ok(())
}
