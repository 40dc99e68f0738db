//! `s2f run`: predict from one-hot arrays with any model and engine.

use std::collections::BTreeMap;
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
    /// (its `seqfeatures`). A model with several inputs takes each as NAME=FILE (repeat
    /// --input), e.g. `--input sequence=X.npy --input control=C.npy`; further inputs are .npy
    /// arrays in the shape `s2f inspect` lists, with the same sequences in the same order.
    #[arg(long, required = true)]
    input: Vec<String>,
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
    let primary_name = pkg.spec.as_ref().map(|s| s.input.onnx_name.clone()).unwrap_or_else(|| "sequence".into());
    let (primary, extra_files) = split_inputs(&args.input, &primary_name)?;
    let extra_names: Vec<String> =
        pkg.spec.as_ref().map(|s| s.inputs.iter().map(|i| i.name.clone()).collect()).unwrap_or_default();
    for name in extra_files.keys() {
        if !extra_names.contains(name) {
            bail!(
                "the model has no input {name:?}; it takes {}",
                std::iter::once(primary_name.clone()).chain(extra_names.iter().cloned()).collect::<Vec<_>>().join(", ")
            );
        }
    }
    let primary =
        primary.with_context(|| format!("no sequence input: give --input FILE or --input {primary_name}=FILE"))?;
    if let Some(missing) = extra_names.iter().find(|n| !extra_files.contains_key(*n)) {
        bail!("the model also takes input {missing:?}: give it with --input {missing}=FILE.npy");
    }
    // The engine first: a device that cannot be used fails before any input is read.
    let engine = create(args.engine.into(), args.device.into(), &pkg.onnx)?;
    let input = primary;
    let arr = if input.extension().is_some_and(|e| e == "npz") {
        s2f::io::npy::read_npz(&input)?
            .into_iter()
            .find(|(n, _)| n == "seqfeatures")
            .map(|(_, a)| a)
            .with_context(|| format!("{}: no seqfeatures array (write it with s2f onehot)", input.display()))?
    } else {
        read_npy(&input)?
    };
    if matches!(arr.dtype, DType::Unicode(_)) {
        bail!("{}: expected a numeric one-hot array", input.display());
    }
    let x = arr.to_f32().context("numeric array")?;
    let head = match &pkg.spec {
        Some(spec) => {
            if arr.shape.len() != 3 || arr.shape[2] != 4 {
                bail!("{}: expected one-hot of shape (N, L, 4), found {:?}", input.display(), arr.shape);
            }
            if arr.shape[1] as u64 != spec.input.length {
                bail!(
                    "{}: sequences are {} bp but the model reads {} bp",
                    input.display(),
                    arr.shape[1],
                    spec.input.length
                );
            }
            spec.head_index(args.head.as_deref())?
        }
        None => {
            if arr.shape.len() != 3 {
                bail!("{}: expected a rank-3 array, found {:?}", input.display(), arr.shape);
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
    s2f::genome::onehot::check_onehot(&x, arr.shape[1], arr.shape[2], n_value, &input)?;
    let x = Array3::from_shape_vec((arr.shape[0], arr.shape[1], arr.shape[2]), x)?;
    let mut predictor = Predictor::with_inputs(&pkg, engine, head, args.batch)?;
    let extra = predictor
        .extra_inputs()
        .to_vec()
        .iter()
        .map(|(name, dims)| {
            let onehot = onehot_n_value(pkg.spec.as_ref(), name);
            read_extra(&extra_files[name], name, x.shape()[0], dims, onehot)
        })
        .collect::<Result<Vec<_>>>()?;
    let views: Vec<_> = extra.iter().map(|a| a.view()).collect();
    tracing::info!("running {} sequences on {}", x.shape()[0], predictor.describe());
    let y = predictor.predict_with(x.view(), &views)?;
    let shape = y.shape().to_vec();
    let (data, _) = y.into_raw_vec_and_offset();
    write_npy(&args.out, &shape, &data)?;
    tracing::info!("wrote {} {:?}", args.out.display(), shape);
    Ok(())
}

/// Splits `--input` values into the primary input's file and the further inputs by name. A
/// value without `NAME=` is the primary input; so is `PRIMARY=FILE`.
pub(super) fn split_inputs(values: &[String], primary: &str) -> Result<(Option<PathBuf>, BTreeMap<String, PathBuf>)> {
    let mut main = None;
    let mut extra = BTreeMap::new();
    for v in values {
        let (name, file) = match v.split_once('=') {
            Some((n, f)) if !n.is_empty() && !n.contains(['/', '\\']) => (Some(n), f),
            _ => (None, v.as_str()),
        };
        match name {
            None => {
                if main.replace(PathBuf::from(file)).is_some() {
                    bail!("--input {v}: the sequence input is given twice");
                }
            }
            Some(n) if n == primary => {
                if main.replace(PathBuf::from(file)).is_some() {
                    bail!("--input {v}: the sequence input {primary:?} is given twice");
                }
            }
            Some(n) => {
                if extra.insert(n.to_string(), PathBuf::from(file)).is_some() {
                    bail!("--input {v}: input {n:?} is given twice");
                }
            }
        }
    }
    Ok((main, extra))
}

/// The N value of further input `name` when it is a one-hot sequence in (L, 4) layout.
pub(super) fn onehot_n_value(spec: Option<&s2f::model::ModelSpec>, name: &str) -> Option<f32> {
    let spec = spec?;
    let i = spec.inputs.iter().find(|i| i.name == name)?;
    (i.kind == s2f::model::graph::InputKind::Onehot
        && i.channels == 4
        && i.layout == s2f::model::spec::InputLayout::NLC)
        .then_some(spec.input.n_value)
}

/// Reads a further input: a numeric .npy of shape (n, dims…) with finite values.
/// Reads a further input: a numeric .npy of shape (n, dims…) with finite values, or for a
/// one-hot input (`onehot` = the model's N value) also the .npz `s2f onehot` writes; one-hot
/// inputs are checked to hold 0, 1 or the N value.
pub(super) fn read_extra(
    path: &std::path::Path,
    name: &str,
    n: usize,
    dims: &[usize],
    onehot: Option<f32>,
) -> Result<Array3<f32>> {
    let (shape, data) = if path.extension().is_some_and(|e| e == "npz") {
        if onehot.is_none() {
            bail!("{}: input {name:?} is a signal; give it as a numeric .npy", path.display());
        }
        let (x, _) = super::read_onehot_input(path)?;
        (x.shape().to_vec(), x.into_raw_vec_and_offset().0)
    } else {
        let arr = read_npy(path)?;
        if matches!(arr.dtype, DType::Unicode(_)) {
            bail!("{}: input {name:?} must be numeric", path.display());
        }
        let data = arr.to_f32().context("numeric array")?;
        (arr.shape.clone(), data)
    };
    let want = [n, dims[0], dims[1]];
    if shape != want {
        bail!(
            "{}: input {name:?} is {:?}; the model takes {:?} (the sequence input holds {n})",
            path.display(),
            shape,
            want
        );
    }
    if let Some(i) = data.iter().position(|v| !v.is_finite()) {
        let (a, rest) = (i / (dims[0] * dims[1]), i % (dims[0] * dims[1]));
        bail!("{}: input {name:?} holds {} at [{a}, {}, {}]", path.display(), data[i], rest / dims[1], rest % dims[1]);
    }
    if let Some(n_value) = onehot {
        s2f::genome::onehot::check_onehot(&data, dims[0], dims[1], Some(n_value), path)?;
    }
    Ok(Array3::from_shape_vec(want, data)?)
}
