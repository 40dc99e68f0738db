//! PyTorch state_dicts → s2f weights, and FT_S2A's Basenji2 ports as specs.
//!
//! [`read_state_dict`] reads zip (PyTorch ≥ 1.6) and legacy pickle checkpoints through
//! `pytorch-reader`, drops DataParallel's `module.` prefix, and converts float tensors to f32.
//!
//! [`ft_s2a`] builds the spec of Katharina782/FT_S2A's `BasenjiModel` from the checkpoint's
//! shapes and its `config.json` (variant, dilations, crop, sequence length are not in the
//! checkpoint): post-activation Conv(bias) → BatchNorm(eps 1e-5) → GELU(erf) blocks; the
//! `buggy` variant applies GELU inside each residual block (x + GELU(block(x))), the `res`
//! variant after the add (GELU(x + block(x))); crop 64 bins; one dense + softplus head each.
//! Layer names are the state_dict prefixes, so weights map one to one (BatchNorm's
//! `weight, bias, running_mean, running_var` become `gamma, beta, mean, var`).

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::Value;

use crate::converters::{source, Converted};
use crate::error::{Error, Result};
use crate::model::ops::*;
use crate::model::spec::{Activation, Head, InputSpec, Layer, ModelSpec, Padding, FORMAT, VERSION};
use crate::model::weights::{Tensor, Weights};

/// Longest FT_S2A input the importer accepts (2^32 bp, beyond any genome window).
const MAX_SEQ_LEN: u64 = 1 << 32;

/// A state_dict: name → tensor (float tensors as f32); integer tensors are kept apart.
#[derive(Debug, Default)]
pub struct StateDict {
    /// Float tensors.
    pub floats: BTreeMap<String, Tensor>,
    /// Names of integer tensors (BatchNorm's `num_batches_tracked`), ignored by importers.
    pub integers: Vec<String>,
}

/// Reads a PyTorch checkpoint (zip or legacy), stripping a `module.` prefix.
pub fn read_state_dict(path: &Path) -> Result<StateDict> {
    if !path.is_file() {
        return Err(Error::io(path, std::io::Error::new(std::io::ErrorKind::NotFound, "no such checkpoint")));
    }
    let reader = pytorch_reader::PytorchReader::new(path).map_err(|e| {
        Error::malformed(path, "checkpoint", format!("not a readable PyTorch checkpoint (zip or legacy pickle): {e}"))
    })?;
    let mut sd = StateDict::default();
    for (name, t) in reader.tensors() {
        let key = name.strip_prefix("module.").unwrap_or(name).to_string();
        let bytes = t.read().map_err(|e| Error::malformed(path, format!("tensor {name}"), format!("{e}")))?;
        use pytorch_reader::DType as D;
        let data: Vec<f32> = match t.dtype() {
            D::F32 => crate::io::le::f32s_from_le(&bytes),
            D::F64 => crate::io::le::f32s_from_f64_le(&bytes),
            D::F16 | D::BF16 => {
                let st = Weights::from_safetensors(&f16_as_safetensors(&bytes, t.dtype() == D::F16, t.shape())?, path)?;
                st.tensors.into_values().next().map(|t| t.data).unwrap_or_default()
            }
            _ => {
                sd.integers.push(key);
                continue;
            }
        };
        sd.floats.insert(key, Tensor { shape: t.shape().to_vec(), data });
    }
    if sd.floats.is_empty() {
        return Err(Error::Empty { path: path.into(), what: "no float tensors in the checkpoint".into() });
    }
    Ok(sd)
}

/// Wraps half-precision bytes as a one-tensor safetensors buffer, to reuse its converter.
fn f16_as_safetensors(bytes: &[u8], f16: bool, shape: &[usize]) -> Result<Vec<u8>> {
    let dtype = if f16 { safetensors::Dtype::F16 } else { safetensors::Dtype::BF16 };
    let view =
        safetensors::tensor::TensorView::new(dtype, shape.to_vec(), bytes).map_err(|e| Error::Spec(format!("{e}")))?;
    safetensors::serialize([("t", view)], None).map_err(|e| Error::Spec(format!("{e}")))
}

/// Maps a state_dict onto a spec whose layer names are the state_dict prefixes. Every spec
/// weight must be present with its shape; with `strict`, every float tensor must be used.
pub fn map_state_dict(sd: &StateDict, spec: &ModelSpec, path: &Path, strict: bool) -> Result<Weights> {
    let analysis = spec.analyze()?;
    let mut weights = Weights::default();
    let mut used = std::collections::HashSet::new();
    let mut problems = Vec::new();
    for slot in &analysis.weights {
        let (prefix, param) = slot.name.rsplit_once('.').unwrap_or(("", &slot.name));
        let torch_param = match param {
            "gamma" => "weight",
            "beta" => "bias",
            "mean" => "running_mean",
            "var" => "running_var",
            p => p,
        };
        let key = format!("{prefix}.{torch_param}");
        match sd.floats.get(&key) {
            None => problems.push(format!("missing tensor {key} (for {}, expected shape {:?})", slot.name, slot.shape)),
            Some(t) => {
                // A kernel-1 Conv1d weight (out, in, 1) feeds a dense layer (out, in).
                let squeezed =
                    t.shape.len() == 3 && t.shape[2] == 1 && slot.shape.len() == 2 && t.shape[..2] == slot.shape[..];
                if t.shape != slot.shape && !squeezed {
                    problems.push(format!("tensor {key}: expected shape {:?}, found {:?}", slot.shape, t.shape));
                    // Named already: not also "unexpected".
                    used.insert(key);
                } else {
                    weights.insert(slot.name.clone(), Tensor { shape: slot.shape.clone(), data: t.data.clone() });
                    used.insert(key);
                }
            }
        }
    }
    if strict {
        for k in sd.floats.keys().filter(|k| !used.contains(*k)) {
            problems.push(format!("unexpected tensor {k} (the spec has no such weight)"));
        }
    }
    if !problems.is_empty() {
        return Err(Error::Weights { path: path.into(), problems });
    }
    Ok(weights)
}

fn count(sd: &StateDict, prefix: &str) -> usize {
    let mut idx: Vec<usize> =
        sd.floats.keys().filter_map(|k| k.strip_prefix(prefix)?.split('.').next()?.parse().ok()).collect();
    idx.sort();
    idx.dedup();
    idx.len()
}

fn shape<'a>(sd: &'a StateDict, key: &str, path: &Path) -> Result<&'a [usize]> {
    sd.floats
        .get(key)
        .map(|t| t.shape.as_slice())
        .ok_or_else(|| Error::Weights { path: path.into(), problems: vec![format!("missing tensor {key}")] })
}

/// Builds an FT_S2A spec and weights from a state_dict and the model's `config.json`.
pub fn ft_s2a(pt: &Path, config: &Path) -> Result<Converted> {
    let sd = read_state_dict(pt)?;
    let text = std::fs::read_to_string(config).map_err(|e| Error::io(config, e))?;
    let cfg: Value =
        serde_json::from_str(&text).map_err(|e| Error::malformed(config, "file", format!("not JSON: {e}")))?;
    let variant = cfg
        .get("variant")
        .or_else(|| cfg.pointer("/source/variant"))
        .and_then(Value::as_str)
        .ok_or_else(|| Error::malformed(config, "variant", "say which FT_S2A variant the checkpoint is: \"variant\": \"buggy\" (basenji_architecture.py) or \"res\" (basenji_architecture_res.py); it cannot be told from the weights"))?;
    let residual_gelu_inside = match variant {
        "buggy" => true,
        "res" => false,
        v => return Err(Error::malformed(config, "variant", format!("unknown FT_S2A variant {v:?} (buggy or res)"))),
    };
    let args = cfg.get("constructor_args").cloned().unwrap_or(Value::Null);
    let n_conv = count(&sd, "conv_layers.conv_layers.");
    let n_dil = count(&sd, "dilated_layers.dilated_layers.");
    for (key, found) in [("n_conv_layers", n_conv), ("n_dilated_conv_layers", n_dil)] {
        if let Some(want) = args.get(key).and_then(Value::as_u64) {
            if want as usize != found {
                return Err(Error::malformed(
                    config,
                    key,
                    format!("config says {want}, the checkpoint has {found} such layers"),
                ));
            }
        }
    }
    let dilations: Vec<usize> = match cfg.get("dilations").and_then(Value::as_array) {
        Some(d) => d.iter().filter_map(Value::as_u64).map(|x| x as usize).collect(),
        None => {
            let mut rate = args.get("dilation_rate_init").and_then(Value::as_f64).unwrap_or(1.0);
            let mult = args.get("dilation_rate_mult").and_then(Value::as_f64).unwrap_or(1.5);
            (0..n_dil)
                .map(|_| {
                    rate *= mult;
                    rate.round_ties_even() as usize
                })
                .collect()
        }
    };
    if dilations.len() != n_dil {
        return Err(Error::malformed(
            config,
            "dilations",
            format!("{} dilations for {n_dil} dilated blocks", dilations.len()),
        ));
    }
    let seq_len = match cfg.get("seq_len").and_then(Value::as_u64) {
        Some(l) => l,
        None => 1u64.checked_shl(n_conv as u32 + 1).map_or(u64::MAX, |p| p.saturating_mul(1024)),
    };
    let crop = cfg.get("crop_bins_each_side").and_then(Value::as_u64).unwrap_or(64);
    // Sizes are bounded here so that no later arithmetic on lengths can overflow.
    if seq_len == 0 || seq_len > MAX_SEQ_LEN {
        return Err(Error::malformed(
            config,
            "seq_len",
            format!("sequence length {seq_len} is not in 1..={MAX_SEQ_LEN}"),
        ));
    }
    if crop > seq_len {
        return Err(Error::malformed(
            config,
            "crop_bins_each_side",
            format!("{crop} bins is longer than the {seq_len}-bp input"),
        ));
    }
    let crop = crop as usize;
    if let Some((i, d)) = dilations.iter().enumerate().find(|(_, &d)| d == 0 || d as u64 > seq_len) {
        return Err(Error::malformed(
            config,
            "dilations",
            format!("dilation {d} of dilated block {i} is not in 1..={seq_len} (the input length)"),
        ));
    }
    let gelu = || Layer::Activation(ActivationLayer { function: Activation::GeluErf });
    let conv = |name: &str, k: &[usize], d: usize| {
        Layer::Conv1d(Conv1d {
            name: Some(name.into()),
            filters: k[0],
            kernel: k[2],
            dilation: d,
            bias: true,
            padding: Padding::Same,
        })
    };
    let bn = |name: &str| Layer::BatchNorm(BatchNorm { name: Some(name.into()), eps: 1e-5 });
    let mut trunk = Vec::new();
    let stem = "conv_stem.conv_stem.0";
    trunk.push(conv(&format!("{stem}.0"), shape(&sd, &format!("{stem}.0.weight"), pt)?, 1));
    trunk.extend([bn(&format!("{stem}.1")), gelu(), Layer::MaxPool(MaxPool { size: 2 })]);
    for j in 0..n_conv {
        let p = format!("conv_layers.conv_layers.{j}");
        trunk.push(conv(&format!("{p}.0"), shape(&sd, &format!("{p}.0.weight"), pt)?, 1));
        trunk.extend([bn(&format!("{p}.1")), gelu(), Layer::MaxPool(MaxPool { size: 2 })]);
    }
    for (i, d) in dilations.iter().enumerate() {
        let p = format!("dilated_layers.dilated_layers.{i}");
        let mut body = vec![
            conv(&format!("{p}.0"), shape(&sd, &format!("{p}.0.weight"), pt)?, *d),
            bn(&format!("{p}.1")),
            gelu(),
            conv(&format!("{p}.3"), shape(&sd, &format!("{p}.3.weight"), pt)?, 1),
            bn(&format!("{p}.4")),
        ];
        if residual_gelu_inside {
            body.push(gelu());
        }
        trunk.push(Layer::Residual(Residual { layers: body }));
        if !residual_gelu_inside {
            trunk.push(gelu());
        }
    }
    trunk.push(Layer::Crop(Crop { left: crop, right: crop }));
    trunk.push(conv("final_layers.conv.0.0", shape(&sd, "final_layers.conv.0.0.weight", pt)?, 1));
    trunk.extend([bn("final_layers.conv.0.1"), gelu()]);
    let mut head_names: Vec<String> = sd
        .floats
        .keys()
        .filter_map(|k| k.strip_prefix("output_heads.heads.")?.strip_suffix(".0.weight").map(String::from))
        .collect();
    head_names.sort();
    if head_names.is_empty() {
        return Err(Error::Weights {
            path: pt.into(),
            problems: vec!["no output_heads.heads.<name>.0.weight tensors".into()],
        });
    }
    let heads = head_names
        .iter()
        .map(|h| -> Result<Head> {
            let w = shape(&sd, &format!("output_heads.heads.{h}.0.weight"), pt)?;
            Ok(Head {
                from: None,
                name: h.clone(),
                layers: vec![
                    Layer::Dense(Dense { name: Some(format!("output_heads.heads.{h}.0")), units: w[0], bias: true }),
                    Layer::Activation(ActivationLayer { function: Activation::Softplus }),
                ],
                tracks: vec![],
                geometry: None,
                strand_pairs: vec![],
                profile_counts: None,
            })
        })
        .collect::<Result<Vec<_>>>()?;
    let mut spec = ModelSpec {
        format: FORMAT.into(),
        version: VERSION,
        name: format!("ft_s2a_{variant}"),
        description: format!(
            "FT_S2A Basenji2 PyTorch port ({variant}: GELU {} the residual add)",
            if residual_gelu_inside { "before" } else { "after" }
        ),
        input: InputSpec::new(seq_len, 0.25),
        trunk,
        inputs: vec![],
        graph: vec![],
        heads,
        source: None,
    };
    let weights = map_state_dict(&sd, &spec, pt, true)?;
    let mut src = source("torch", &[pt, config])?;
    src.notes.insert("variant".into(), variant.into());
    src.notes.insert("dilations".into(), format!("{dilations:?}"));
    spec.source = Some(src);
    Ok(Converted { spec, weights })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ft_s2a_config_sizes_that_would_overflow_are_refused() {
        let fx = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/models/ft_s2a_small/buggy");
        let cfg: Value = serde_json::from_str(&std::fs::read_to_string(fx.join("config.json")).unwrap()).unwrap();
        let dir = tempfile::tempdir().unwrap();
        for (pointer, value, needle) in [
            ("/dilations/2", serde_json::json!(1u64 << 62), "dilation 4611686018427387904 of dilated block 2"),
            ("/seq_len", serde_json::json!(0), "sequence length 0"),
            ("/crop_bins_each_side", serde_json::json!(u64::MAX), "crop_bins_each_side"),
        ] {
            let mut c = cfg.clone();
            *c.pointer_mut(pointer).unwrap() = value;
            let path = dir.path().join("config.json");
            std::fs::write(&path, c.to_string()).unwrap();
            let e = ft_s2a(&fx.join("state_dict.pt"), &path).unwrap_err().to_string();
            assert!(e.contains("config.json") && e.contains(needle), "{pointer}: {e}");
        }
    }
}
