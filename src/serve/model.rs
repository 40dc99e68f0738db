//! A model being served: its name, its graph's tensors (what clients send and get), the DNA
//! input it accepts as strings, and the queue of its engine.
//!
//! Tensors are the ONNX graph's own, as Triton would serve the same `model.onnx`: input names,
//! layouts and shapes unchanged (batch first, `-1` for the batch), outputs in graph order.

use std::path::Path;

use ndarray::{ArrayD, IxDyn};

use super::batcher::{BatchConfig, Batcher};
use super::metrics::Metrics;
use super::protocol::{BadRequest, Tensor, TensorData};
use crate::engine::{create, Device, EngineKind};
use crate::error::{Error, Result};
use crate::genome::onehot::{Encoder, Layout};
use crate::model::onnx::signature;
use crate::model::spec::InputLayout;
use crate::model::Package;

/// A tensor's name and shape (`-1` for the batch and any axis the graph leaves open).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TensorInfo {
    /// Graph tensor name.
    pub name: String,
    /// Shape, batch first.
    pub shape: Vec<i64>,
}

/// The graph input that takes one-hot DNA (s2f packages only), which also accepts DNA strings.
#[derive(Clone)]
struct SequenceInput {
    index: usize,
    length: usize,
    n_value: f32,
    layout: InputLayout,
    encoder: Encoder<f32>,
}

/// A model loaded for serving.
pub struct ServedModel {
    /// Name in URLs.
    pub name: String,
    /// Engine and device, e.g. `tract (cpu)`.
    pub engine: String,
    /// Graph inputs.
    pub inputs: Vec<TensorInfo>,
    /// Graph outputs.
    pub outputs: Vec<TensorInfo>,
    /// Track identifiers per output (empty when the package has none).
    pub tracks: Vec<Vec<String>>,
    sequence: Option<SequenceInput>,
    batcher: Batcher,
}

/// The name a model is served (and exported to Triton) under when none is given: the spec's
/// name, else the file or folder name; characters other than letters, digits, `-`, `_` and `.`
/// become `_`.
pub fn default_name(pkg: &Package) -> String {
    let raw = match &pkg.spec {
        Some(s) if !s.name.is_empty() => s.name.clone(),
        _ => pkg.path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_else(|| "model".into()),
    };
    raw.chars().map(|c| if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') { c } else { '_' }).collect()
}

/// Checks a model name given on the command line (it appears in URLs and folder names).
pub fn check_name(name: &str) -> Result<()> {
    if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')) {
        return Err(Error::InvalidArgument(format!(
            "model name {name:?} must be letters, digits, '-', '_' or '.' (it appears in URLs)"
        )));
    }
    Ok(())
}

/// Graph inputs and outputs of a package with `-1` for open axes; a spec's sequence length fills
/// an open length axis.
pub fn tensors(pkg: &Package) -> Result<(Vec<TensorInfo>, Vec<TensorInfo>)> {
    let sig = signature(&pkg.onnx, &pkg.path)?;
    let info = |(name, dims): &(String, Vec<Option<i64>>)| TensorInfo {
        name: name.clone(),
        shape: dims.iter().enumerate().map(|(i, d)| if i == 0 { -1 } else { d.unwrap_or(-1) }).collect(),
    };
    let mut inputs: Vec<TensorInfo> = sig.inputs.iter().map(info).collect();
    if let Some(spec) = &pkg.spec {
        if let Some(t) = inputs.iter_mut().find(|t| t.name == spec.input.onnx_name) {
            let len = spec.input.length as i64;
            let want = match spec.input.layout {
                InputLayout::NLC => [-1, len, 4],
                InputLayout::NCL => [-1, 4, len],
            };
            if t.shape.len() == 3 {
                t.shape = want.to_vec();
            }
        }
    }
    Ok((inputs, sig.outputs.iter().map(info).collect()))
}

/// Track labels for each output: the head's track identifiers in column order, `t0000`, … where
/// the package has none, empty for outputs that are not heads.
pub fn track_labels(pkg: &Package, outputs: &[TensorInfo]) -> Vec<Vec<String>> {
    outputs
        .iter()
        .map(|o| {
            let head = pkg.spec.as_ref().and_then(|s| s.heads.iter().find(|h| h.name == o.name));
            let n = o.shape.last().copied().unwrap_or(-1);
            match head {
                Some(h) if n > 0 => (0..n as usize)
                    .map(|t| {
                        h.tracks
                            .iter()
                            .find(|x| x.index == t)
                            .map(|x| x.identifier.clone())
                            .unwrap_or_else(|| format!("t{t:04}"))
                    })
                    .collect(),
                _ => vec![],
            }
        })
        .collect()
}

impl ServedModel {
    /// Loads `path` under `name` on the engine and starts its batching worker.
    pub fn load(
        path: &Path,
        name: Option<String>,
        kind: EngineKind,
        device: Device,
        config: BatchConfig,
        metrics: Metrics,
    ) -> Result<(Self, std::thread::JoinHandle<()>)> {
        let pkg = Package::open(path)?;
        let name = name.unwrap_or_else(|| default_name(&pkg));
        check_name(&name)?;
        let (inputs, outputs) = tensors(&pkg)?;
        let tracks = track_labels(&pkg, &outputs);
        let sequence = match &pkg.spec {
            Some(spec) => match inputs.iter().position(|t| t.name == spec.input.onnx_name) {
                Some(index) => Some(SequenceInput {
                    index,
                    length: spec.input.length as usize,
                    n_value: spec.input.n_value,
                    layout: spec.input.layout,
                    encoder: Encoder::new(spec.input.n_value)?,
                }),
                None => None,
            },
            None => None,
        };
        let engine = create(kind, device, &pkg.onnx)?;
        let describe = engine.describe();
        let (batcher, handle) = Batcher::start(name.clone(), engine, config, metrics)
            .map_err(|e| Error::Io { path: path.to_path_buf(), source: e })?;
        Ok((Self { name, engine: describe, inputs, outputs, tracks, sequence, batcher }, handle))
    }

    /// The model's queue.
    pub fn batcher(&self) -> &Batcher {
        &self.batcher
    }

    /// Turns a request's tensors into the graph's inputs (in graph order) and the number of
    /// sequences; every problem is a [`BadRequest`] naming the input and element.
    pub fn prepare(&self, tensors: Vec<Tensor>) -> std::result::Result<(Vec<ArrayD<f32>>, usize), BadRequest> {
        let mut slots: Vec<Option<ArrayD<f32>>> = vec![None; self.inputs.len()];
        let expected = || self.inputs.iter().map(|t| format!("{:?}", t.name)).collect::<Vec<_>>().join(", ");
        for t in tensors {
            let Some(i) = self.inputs.iter().position(|x| x.name == t.name) else {
                return Err(BadRequest(format!(
                    "model {:?} has no input {:?}; its inputs: {}",
                    self.name,
                    t.name,
                    expected()
                )));
            };
            if slots[i].is_some() {
                return Err(BadRequest(format!("input {:?} is given twice", t.name)));
            }
            slots[i] = Some(self.input_array(i, t)?);
        }
        let mut arrays = Vec::with_capacity(slots.len());
        for (slot, info) in slots.into_iter().zip(&self.inputs) {
            arrays.push(slot.ok_or_else(|| {
                BadRequest(format!("input {:?} is missing; the model takes {}", info.name, expected()))
            })?);
        }
        let n = arrays.first().map_or(0, |a| a.shape()[0]);
        if let Some(a) = arrays.iter().find(|a| a.shape()[0] != n) {
            return Err(BadRequest(format!("inputs hold different numbers of sequences ({n} and {})", a.shape()[0])));
        }
        if n == 0 {
            return Err(BadRequest("the request holds no sequences (batch dimension 0)".into()));
        }
        Ok((arrays, n))
    }

    fn input_array(&self, i: usize, t: Tensor) -> std::result::Result<ArrayD<f32>, BadRequest> {
        let info = &self.inputs[i];
        let seq = self.sequence.as_ref().filter(|s| s.index == i);
        match t.data {
            TensorData::Bytes(strings) => match seq {
                Some(s) => {
                    if !(t.shape.len() == 1 || (t.shape.len() == 2 && t.shape[1] == 1)) {
                        return Err(BadRequest(format!(
                            "input {:?}: DNA strings take shape [N] or [N, 1], not {:?}",
                            t.name, t.shape
                        )));
                    }
                    encode_strings(s, &strings)
                }
                None => Err(BadRequest(format!("input {:?} takes FP32 data, not BYTES", t.name))),
            },
            TensorData::Fp32(values) => {
                let fits = t.shape.len() == info.shape.len()
                    && t.shape.iter().zip(&info.shape).skip(1).all(|(&a, &b)| b < 0 || a as i64 == b);
                if !fits {
                    return Err(BadRequest(format!(
                        "input {:?}: shape {:?} does not fit the model's {:?} (-1: any)",
                        t.name, t.shape, info.shape
                    )));
                }
                if let Some(k) = values.iter().position(|v| !v.is_finite()) {
                    return Err(BadRequest(format!("input {:?}: element {k} is {} (not finite)", t.name, values[k])));
                }
                if let Some(s) = seq {
                    check_onehot(s, &t.name, &values)?;
                }
                ArrayD::from_shape_vec(IxDyn(&t.shape), values)
                    .map_err(|e| BadRequest(format!("input {:?}: {e}", t.name)))
            }
        }
    }
}

/// Values of a one-hot input must be 0, 1 or the model's N value, as `s2f run` requires.
fn check_onehot(s: &SequenceInput, name: &str, values: &[f32]) -> std::result::Result<(), BadRequest> {
    let Some(k) = values.iter().position(|&v| !(v == 0.0 || v == 1.0 || v == s.n_value)) else { return Ok(()) };
    let per_seq = 4 * s.length;
    let (seq, within) = (k / per_seq, k % per_seq);
    let (pos, ch) = match s.layout {
        InputLayout::NLC => (within / 4, within % 4),
        InputLayout::NCL => (within % s.length, within / s.length),
    };
    Err(BadRequest(format!(
        "input {name:?}: sequence {seq}, position {pos}, channel {ch}: value {} is not one-hot \
         (0, 1 or the model's N value {})",
        values[k], s.n_value
    )))
}

/// One-hot encodes DNA strings (A, C, G, T, N in any case) of the model's length.
fn encode_strings(s: &SequenceInput, strings: &[Vec<u8>]) -> std::result::Result<ArrayD<f32>, BadRequest> {
    let layout = match s.layout {
        InputLayout::NLC => Layout::LengthFirst,
        InputLayout::NCL => Layout::ChannelsFirst,
    };
    // Every string is checked before anything is allocated for the one-hot array.
    for (k, seq) in strings.iter().enumerate() {
        if seq.len() != s.length {
            return Err(BadRequest(format!("sequence {k} is {} bp; the model reads {} bp", seq.len(), s.length)));
        }
        if let Some(p) = seq.iter().position(|b| !matches!(b.to_ascii_uppercase(), b'A' | b'C' | b'G' | b'T' | b'N')) {
            return Err(BadRequest(format!(
                "sequence {k}, position {p}: character {:?} is not A, C, G, T or N",
                char::from(seq[p])
            )));
        }
    }
    let size = strings
        .len()
        .checked_mul(4 * s.length)
        .ok_or_else(|| BadRequest(format!("{} sequences are too many", strings.len())))?;
    let mut out = vec![0f32; size];
    for (seq, dst) in strings.iter().zip(out.chunks_exact_mut(4 * s.length)) {
        s.encoder.encode_into(seq, layout, dst).map_err(|e| BadRequest(e.to_string()))?;
    }
    let shape = match s.layout {
        InputLayout::NLC => [strings.len(), s.length, 4],
        InputLayout::NCL => [strings.len(), 4, s.length],
    };
    ArrayD::from_shape_vec(IxDyn(&shape), out).map_err(|e| BadRequest(e.to_string()))
}
