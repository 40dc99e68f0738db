//! Multi-input training (DRG's `cnn_model_multi`): further one-hot inputs aligned with the data
//! set by name, and the `drg-multi` architecture.
//!
//! `drg-multi` runs one DRG CNN ([`crate::train::presets::drg_body`]) per input, each with its
//! own weights (named after its input: `promoter.conv1`, `utr.conv1`, …), then combines them:
//! - [`Combination::Concat`] (DRG's default): each CNN's flattened features → a linear
//!   embedding of `embedding` units with GELU; the embeddings concatenated → a dense layer of
//!   `embedding` units with GELU → one linear read-out per modality.
//! - [`Combination::Analytic`] (DRG's `simple_multi_output`, exactly two inputs): each CNN
//!   reads out every modality's tracks linearly (`promoter.<modality>`), and the two read-outs
//!   are combined by the merge: `difference` a − b, `exp_difference`, `fraction` (see
//!   [`Merge`]); `a` is the first input.
//!
//! The primary input is the first one-hot file; further inputs are ONNX inputs of their own
//! name (layout (N, L, 4)), fed to `s2f run` by `--input NAME=FILE`.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::model::graph::{ExtraInput, InputKind, Merge, Node, TRUNK};
use crate::model::ops::{ActivationLayer, Linear};
use crate::model::spec::{Activation, Head, InputLayout, InputSpec, Layer, ModelSpec, FORMAT, VERSION};
use crate::train::data::{read_onehot, Dataset};
use crate::train::presets::{drg_body, PresetSizes};

/// One further input of a data set, aligned with its data points: a one-hot sequence or
/// signal tracks (BPNet's control).
#[derive(Debug, Clone)]
pub struct InputData {
    /// Input name (the model's further input of the same position takes it).
    pub name: String,
    /// Positions.
    pub length: usize,
    /// Channels (4 for one-hot).
    pub channels: usize,
    /// A one-hot sequence (shifted with the N value and reverse-complemented), or signal
    /// (shifted in with 0; under reverse complement, positions reversed and, with two channels,
    /// the strands swapped).
    pub onehot: bool,
    /// Values `(N, L, channels)`, position-major whatever layout the model takes.
    pub x: Vec<f32>,
}

impl InputData {
    /// Values per data point.
    pub fn width(&self) -> usize {
        self.length * self.channels
    }
}

/// Control tracks for genome windows: one bigWig per channel, read per base over each
/// window (`start` to `start + length`; 0 where a file has no data or beyond the chromosome).
pub fn control_from_bigwigs(
    name: &str,
    windows: &[crate::genome::windows::Window],
    length: usize,
    files: &[PathBuf],
) -> Result<InputData> {
    let c = files.len();
    let mut x = vec![0f32; windows.len() * length * c];
    let mut track = vec![0f32; length];
    for (k, f) in files.iter().enumerate() {
        let mut bw = crate::io::bigwig::open_bigwig(f)?;
        for (i, w) in windows.iter().enumerate() {
            crate::io::bigwig::read_dense(&mut bw, f, w.interval.chrom(), w.interval.start(), &mut track)?;
            if let Some(p) = track.iter().position(|v| !v.is_finite()) {
                return Err(Error::malformed(
                    f,
                    format!("{}:{}", w.interval.chrom(), w.interval.start() + p as i64),
                    "the control signal is not finite",
                ));
            }
            for (p, &v) in track.iter().enumerate() {
                x[(i * length + p) * c + k] = v;
            }
        }
    }
    Ok(InputData { name: name.into(), length, channels: c, onehot: false, x })
}

/// How `drg-multi` combines its inputs (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Combination {
    /// Embeddings concatenated, then dense layers.
    Concat,
    /// Per-input read-outs combined by a two-source merge.
    Analytic(Merge),
}

/// Input names for one-hot files: their stems made identifiers (`[A-Za-z0-9_]`), or
/// `input{i}` where a stem is empty or taken.
pub fn input_names(paths: &[PathBuf]) -> Vec<String> {
    let mut seen = HashSet::new();
    paths
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let stem = p.file_stem().map(|s| s.to_string_lossy().to_string()).unwrap_or_default();
            let stem = stem.trim_end_matches(".onehot").to_string();
            let clean: String = stem.chars().map(|c| if c.is_ascii_alphanumeric() { c } else { '_' }).collect();
            let ok = !clean.is_empty() && !clean.starts_with(|c: char| c.is_ascii_digit()) && clean != TRUNK;
            if seen.contains(&clean) {
                tracing::warn!(
                    "{}: another one-hot file has the stem {clean:?}; this input is named input{i}",
                    p.display()
                );
            }
            let name = if ok && !seen.contains(&clean) { clean } else { format!("input{i}") };
            seen.insert(name.clone());
            name
        })
        .collect()
}

/// Reads further one-hot files (`(N, L, 4)` `.npz` as `s2f onehot` writes) and attaches them
/// to `data` by data-point name, keeping only data points present in every file (DRG
/// intersects its inputs by name).
pub fn attach_inputs(data: &mut Dataset, paths: &[PathBuf], names: &[String]) -> Result<()> {
    for (path, name) in paths.iter().zip(names) {
        let (ns, length, x) = read_onehot(path)?;
        let mut index: HashMap<&str, usize> = HashMap::with_capacity(ns.len());
        for (i, n) in ns.iter().enumerate() {
            if index.insert(n.as_str(), i).is_some() {
                return Err(Error::malformed(path, "genenames", format!("data point {n:?} appears twice")));
            }
        }
        let keep: Vec<usize> = (0..data.len()).filter(|&i| index.contains_key(data.names[i].as_str())).collect();
        if keep.is_empty() {
            return Err(Error::InvalidArgument(format!(
                "{}: none of its sequences is named like a data point of the first input (e.g. {} vs {}); \
                 one-hot files are matched by their genenames arrays",
                path.display(),
                ns.first().map(String::as_str).unwrap_or("none"),
                data.names.first().map(String::as_str).unwrap_or("none")
            )));
        }
        if keep.len() < data.len() {
            tracing::warn!(
                "{}: {} of {} data points have no sequence in it and are left out",
                path.display(),
                data.len() - keep.len(),
                data.len()
            );
            retain(data, &keep);
        }
        let mut xs = Vec::with_capacity(data.len() * length * 4);
        for n in &data.names {
            let j = index[n.as_str()];
            xs.extend_from_slice(&x[j * length * 4..(j + 1) * length * 4]);
        }
        data.inputs.push(InputData { name: name.clone(), length, channels: 4, onehot: true, x: xs });
    }
    Ok(())
}

/// Keeps the data points `keep` (ascending indices) of every array of `data`.
fn retain(data: &mut Dataset, keep: &[usize]) {
    let pick = |v: &[f32], w: usize| keep.iter().flat_map(|&i| v[i * w..(i + 1) * w].iter().copied()).collect();
    data.x = pick(&data.x, data.length * 4);
    for m in &mut data.modalities {
        m.values = pick(&m.values, m.width());
    }
    for inp in &mut data.inputs {
        inp.x = pick(&inp.x, inp.width());
    }
    data.names = keep.iter().map(|&i| data.names[i].clone()).collect();
    data.chroms = keep.iter().map(|&i| data.chroms[i].clone()).collect();
}

/// The `drg-multi` spec: `inputs` (name, length), the first the primary; one head per
/// modality (name, tracks). `embedding` units per input and in the dense layer (concat).
pub fn drg_multi(
    sizes: PresetSizes,
    inputs: &[(String, u64)],
    embedding: usize,
    combination: Combination,
    heads: &[(String, usize)],
) -> Result<ModelSpec> {
    if inputs.len() < 2 {
        return Err(Error::InvalidArgument(format!(
            "drg-multi reads several sequences: give two or more one-hot files (--onehot a.npz,b.npz), not {}",
            inputs.len()
        )));
    }
    if heads.is_empty() {
        return Err(Error::InvalidArgument("a model needs at least one head (target file)".into()));
    }
    if embedding == 0 {
        return Err(Error::InvalidArgument("the embedding needs at least one unit".into()));
    }
    let blocks = sizes.blocks.unwrap_or(0);
    let body = |name: &str, length: u64| drg_body(&format!("{name}."), length as usize, sizes, blocks);
    let gelu = || Layer::Activation(ActivationLayer { function: Activation::GeluErf });
    let linear = |name: String, units: usize| Layer::Linear(Linear { name: Some(name), units, bias: true });
    let (primary, primary_len) = &inputs[0];
    let mut trunk = body(primary, *primary_len)?;
    let mut graph = Vec::new();
    // The tensor holding each input's CNN output.
    let mut outputs = vec![TRUNK.to_string()];
    for (name, length) in &inputs[1..] {
        let node = format!("{name}_cnn");
        graph.push(Node { name: node.clone(), from: vec![name.clone()], merge: None, layers: body(name, *length)? });
        outputs.push(node);
    }
    let mut spec_heads = Vec::new();
    match combination {
        Combination::Concat => {
            trunk.extend([linear(format!("{primary}.embedding"), embedding), gelu()]);
            for (node, (name, _)) in graph.iter_mut().zip(&inputs[1..]) {
                node.layers.extend([linear(format!("{name}.embedding"), embedding), gelu()]);
            }
            graph.push(Node {
                name: "combined".into(),
                from: outputs,
                merge: Some(Merge::Concat),
                layers: vec![linear("combine.dense".into(), embedding), gelu()],
            });
            for (name, tracks) in heads {
                let mut h = Head::new(name.clone(), vec![linear(format!("{name}.linear"), *tracks)]);
                h.from = Some("combined".into());
                spec_heads.push(h);
            }
        }
        Combination::Analytic(merge) => {
            if inputs.len() != 2 {
                return Err(Error::InvalidArgument(format!(
                    "an analytic combination ({}) takes exactly two inputs, not {}",
                    merge.name(),
                    inputs.len()
                )));
            }
            if matches!(merge, Merge::Concat | Merge::Sum | Merge::Logsumexp) {
                return Err(Error::InvalidArgument(format!(
                    "{} is not one of DRG's analytic combinations (difference, exp_difference, fraction)",
                    merge.name()
                )));
            }
            for (m, tracks) in heads {
                let mut from = Vec::new();
                for ((input, _), source) in inputs.iter().zip(&outputs) {
                    let node = format!("{m}_{input}");
                    graph.push(Node {
                        name: node.clone(),
                        from: vec![source.clone()],
                        merge: None,
                        layers: vec![linear(format!("{input}.{m}"), *tracks)],
                    });
                    from.push(node);
                }
                let merged = format!("{m}_{}", merge.name());
                graph.push(Node { name: merged.clone(), from, merge: Some(merge), layers: vec![] });
                let mut h = Head::new(m.clone(), vec![]);
                h.from = Some(merged);
                spec_heads.push(h);
            }
        }
    }
    let mut input = InputSpec::new(*primary_len, 0.25);
    input.onnx_name = primary.clone();
    let filters = sizes.filters.unwrap_or(if blocks > 0 { 128 } else { 256 });
    let spec = ModelSpec {
        format: FORMAT.into(),
        version: VERSION,
        name: "drg_multi".into(),
        description: format!(
            "DRG multi-input CNN ({} inputs, {filters} kernels each, {}), trained with s2f",
            inputs.len(),
            match combination {
                Combination::Concat => format!("embeddings of {embedding} concatenated"),
                Combination::Analytic(m) => format!("combined by {}", m.name()),
            }
        ),
        input,
        trunk,
        inputs: inputs[1..]
            .iter()
            .map(|(name, length)| ExtraInput {
                name: name.clone(),
                length: *length,
                channels: 4,
                kind: InputKind::Onehot,
                layout: InputLayout::NLC,
                offset: None,
            })
            .collect(),
        graph,
        heads: spec_heads,
        source: None,
    };
    spec.analyze()?;
    Ok(spec)
}

/// Checks that `data`'s further inputs fit `spec`'s (by position: lengths, one-hot, NLC) and
/// names them as the spec does.
pub fn match_inputs(spec: &ModelSpec, data: &mut Dataset, what: &Path) -> Result<()> {
    if data.inputs.len() != spec.inputs.len() {
        let names = |v: Vec<&str>| if v.is_empty() { "none".to_string() } else { v.join(", ") };
        return Err(Error::InvalidArgument(format!(
            "{}: the model reads {} further input(s) beside its sequence ({}); the data gives {} ({}): \
             give one-hot files with --onehot a.npz,b.npz, or control tracks with --control",
            what.display(),
            spec.inputs.len(),
            names(spec.inputs.iter().map(|i| i.name.as_str()).collect()),
            data.inputs.len(),
            names(data.inputs.iter().map(|i| i.name.as_str()).collect())
        )));
    }
    for (want, have) in spec.inputs.iter().zip(&mut data.inputs) {
        let kind_ok = (want.kind == InputKind::Onehot) == have.onehot;
        if !kind_ok || want.channels != have.channels || want.length as usize != have.length {
            return Err(Error::InvalidArgument(format!(
                "input {:?}: the model reads {} positions of {} channel(s) ({:?}); the data gives {} of {} ({})",
                want.name,
                want.length,
                want.channels,
                want.kind,
                have.length,
                have.channels,
                if have.onehot { "one-hot" } else { "signal" }
            )));
        }
        have.name = want.name.clone();
    }
    Ok(())
}
