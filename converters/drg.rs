//! DRG CNN checkpoints (`*_parameter.pth` + `*_model_params.dat`) → s2f spec and weights.
//!
//! Supported: DRG's shallow CNN family as `run_cnn_model.py` rebuilds it from the parameter
//! file — optional shift padding with 0.25 (`shift_sequence`; at inference DRG only pads), a
//! first convolution (`num_kernels` × `l_kernels`, zero "same" padding) optionally run on both
//! strands and combined with `complement_pool: max` before the activation, `kernel_function`
//! GELU (erf) or ReLU, weighted pooling (`pooling_size` = `pooling_steps`, padded on both sides
//! with the per-sequence minimum so the length divides, the last column dropped), flatten
//! (kernel-major) and a Linear output. Any other enabled feature (dilated or final convolutions,
//! attention, fully connected layers, batch norm, ...) is refused by name.
//!
//! Tensor names are DRG's own (`convolutions.conv1d.weight`, `classifier.classifier.Linear.*`);
//! checkpoint keys the model does not use are skipped, as DRG's `load_parameters` does
//! (Calderon2019's file carries a stale `modelstart.Pooling.pool.weight`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::converters::torch::{map_state_dict, read_state_dict};
use crate::converters::{source, Converted};
use crate::error::{Error, Result};
use crate::model::ops::*;
use crate::model::spec::{Activation, Head, InputSpec, Layer, ModelSpec, Padding, PoolPad, FORMAT, VERSION};

/// Largest value of a size parameter (`l_seqs`, `num_kernels`, `l_kernels`, `pooling_size`,
/// ...) the importer accepts: far beyond any DRG model, small enough that arithmetic on sizes
/// cannot overflow.
const MAX_SIZE: u64 = 1 << 24;

/// Parses `model_params.dat` (`key : value` lines).
pub fn read_params(path: &Path) -> Result<BTreeMap<String, String>> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
    let mut out = BTreeMap::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let (k, v) = line.split_once(" : ").ok_or_else(|| {
            Error::malformed(path, format!("line {}", i + 1), format!("expected 'key : value', found {line:?}"))
        })?;
        out.insert(k.trim().to_string(), v.trim().to_string());
    }
    if out.is_empty() {
        return Err(Error::Empty { path: path.into(), what: "no parameters".into() });
    }
    Ok(out)
}

/// The `model_params.dat` that belongs to a `*_parameter.pth` (same folder; `X_parameter.pth`
/// → `X_model_params.dat`, `parameter.pth` → `model_params.dat`).
pub fn params_path_for(pth: &Path) -> PathBuf {
    let name = pth.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let stem = name.strip_suffix("parameter.pth").unwrap_or("");
    pth.with_file_name(format!("{stem}model_params.dat"))
}

/// Converts a DRG checkpoint with its parameter file.
pub fn convert(pth: &Path, params_path: &Path) -> Result<Converted> {
    let p = read_params(params_path)?;
    let at = |k: &str| Error::malformed(params_path, k.to_string(), format!("missing or invalid {k}"));
    let get = |k: &str| p.get(k).map(String::as_str);
    let int = |k: &str| -> Result<usize> {
        let v: usize = get(k).and_then(|v| v.parse().ok()).ok_or_else(|| at(k))?;
        if v as u64 > MAX_SIZE {
            return Err(Error::malformed(
                params_path,
                k,
                format!("{k} = {v} is larger than any DRG model (limit {MAX_SIZE})"),
            ));
        }
        Ok(v)
    };
    let flag = |k: &str| matches!(get(k), Some("True" | "true" | "1"));
    let nonzero = |k: &str| get(k).is_some_and(|v| !matches!(v, "0" | "0.0" | "None" | "False" | "F" | ""));
    // Features this importer does not build: refuse by name rather than mis-convert.
    for k in [
        "dilated_convolutions",
        "n_transformer",
        "n_attention",
        "n_interpolated_conv",
        "n_hyenaconv",
        "n_distattention",
        "embedding_convs",
        "final_convolutions",
        "nfc_layers",
        "fclayer_size",
        "gapped_convs",
        "neuralnetout",
        "batch_norm",
        "conv_batch_norm",
        "nlconv",
        "interaction_layer",
        "fixed_kernels",
    ] {
        if nonzero(k) {
            return Err(Error::malformed(
                params_path,
                k,
                format!("{k} = {} is not supported by the DRG importer", get(k).unwrap_or("")),
            ));
        }
    }
    let l_seqs = int("l_seqs")?;
    let n_features = int("n_features")?;
    if n_features != 4 {
        return Err(Error::malformed(
            params_path,
            "n_features",
            format!("{n_features} input features; s2f reads one-hot DNA (4)"),
        ));
    }
    let n_classes = int("n_classes")?;
    let num_kernels = int("num_kernels")?;
    let l_kernels = int("l_kernels")?;
    let shift = match get("shift_sequence").and_then(|v| v.parse::<usize>().ok()) {
        Some(_) => int("shift_sequence")?,
        None => 0,
    };
    let act = match get("kernel_function") {
        Some("GELU") => Activation::GeluErf,
        Some("ReLU" | "RELU" | "relu") => Activation::Relu,
        other => {
            return Err(Error::malformed(
                params_path,
                "kernel_function",
                format!("kernel function {other:?} is not supported (GELU, ReLU)"),
            ))
        }
    };
    if get("outclass") != Some("Linear") {
        return Err(Error::malformed(
            params_path,
            "outclass",
            format!("output class {:?} is not supported (Linear)", get("outclass")),
        ));
    }
    if !flag("weighted_pooling") || flag("max_pooling") || flag("mean_pooling") {
        return Err(Error::malformed(params_path, "weighted_pooling", "only weighted pooling is supported"));
    }
    let size = int("pooling_size")?;
    if size == 0 {
        return Err(Error::malformed(params_path, "pooling_size", "pooling_size must be at least 1"));
    }
    if int("pooling_steps")? != size {
        return Err(Error::malformed(params_path, "pooling_steps", "pooling_steps must equal pooling_size"));
    }
    let conv = Layer::Conv1d(Conv1d {
        name: Some("convolutions.conv1d".into()),
        filters: num_kernels,
        kernel: l_kernels,
        dilation: 1,
        bias: flag("kernel_bias"),
        padding: Padding::Same,
    });
    let mut trunk = Vec::new();
    if shift > 0 {
        trunk.push(Layer::Pad(Pad { left: shift, right: shift, value: 0.25 }));
    }
    if flag("reverse_complement") {
        if get("complement_pool") != Some("max") {
            return Err(Error::malformed(
                params_path,
                "complement_pool",
                format!("{:?} is not supported (max)", get("complement_pool")),
            ));
        }
        trunk.push(Layer::StrandMax(StrandMax { layers: vec![conv] }));
    } else {
        trunk.push(conv);
    }
    trunk.push(Layer::Activation(ActivationLayer { function: act }));
    // Every size is at most MAX_SIZE (2^24), so this padding arithmetic cannot overflow; the
    // spec's analysis then judges whether the model is sensible.
    let conv_len = l_seqs + 2 * shift;
    let total_pad = conv_len.div_ceil(size) * size - conv_len;
    let side = total_pad.div_ceil(2);
    trunk.push(Layer::WeightedPool(WeightedPool { size, pad_left: side, pad_right: side, pad_value: PoolPad::Min }));
    trunk.push(Layer::Flatten(Flatten {}));
    let heads = vec![Head {
        from: None,
        name: "predictions".into(),
        layers: vec![Layer::Linear(Linear {
            name: Some("classifier.classifier.Linear".into()),
            units: n_classes,
            bias: true,
        })],
        tracks: vec![],
        geometry: None,
        strand_pairs: vec![],
        profile_counts: None,
    }];
    let mut spec = ModelSpec {
        format: FORMAT.into(),
        version: VERSION,
        name: get("outname").and_then(|o| o.rsplit('/').next()).unwrap_or("drg_cnn").chars().take(80).collect(),
        description: "DRG CNN (LXsasse/DRG): strand-max convolution, weighted pooling, linear read-out".into(),
        input: InputSpec::new(l_seqs as u64, 0.0),
        trunk,
        inputs: vec![],
        graph: vec![],
        heads,
        source: None,
    };
    let sd = read_state_dict(pth)?;
    let weights = map_state_dict(&sd, &spec, pth, false)?;
    let analysis = spec.analyze()?;
    let skipped: Vec<&String> = sd
        .floats
        .keys()
        .filter(|k| {
            !analysis.weights.iter().any(|s| {
                let (pre, param) = s.name.rsplit_once('.').unwrap_or(("", ""));
                **k == format!("{pre}.{param}")
            })
        })
        .collect();
    for k in &skipped {
        tracing::info!(
            "{}: skipping {k}, which the DRG model does not use (as DRG's load_parameters does)",
            pth.display()
        );
    }
    let mut src = source("drg", &[pth, params_path])?;
    if !skipped.is_empty() {
        src.notes.insert("skipped".into(), skipped.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", "));
    }
    spec.source = Some(src);
    Ok(Converted { spec, weights })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The fixture's parameter file with `key`'s value replaced.
    fn convert_with(key: &str, value: &str) -> Result<Converted> {
        let dir = tempfile::tempdir().unwrap();
        let fx = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/models/drg_calderon_shallow");
        let text = std::fs::read_to_string(fx.join("model_params.dat")).unwrap();
        let text: Vec<String> = text
            .lines()
            .map(|l| if l.starts_with(&format!("{key} : ")) { format!("{key} : {value}") } else { l.to_string() })
            .collect();
        let dat = dir.path().join("model_params.dat");
        std::fs::write(&dat, text.join("\n")).unwrap();
        convert(&fx.join("parameter.pth"), &dat)
    }

    #[test]
    fn sizes_that_would_overflow_are_refused_by_name() {
        for (key, value, needle) in [
            ("pooling_size", "0", "pooling_size must be at least 1"),
            ("l_kernels", "9223372036854775807", "l_kernels = 9223372036854775807 is larger than any DRG model"),
            ("shift_sequence", "18446744073709551615", "shift_sequence"),
        ] {
            let e = convert_with(key, value).unwrap_err().to_string();
            assert!(e.contains("model_params.dat") && e.contains(needle), "{key}: {e}");
        }
    }
}
