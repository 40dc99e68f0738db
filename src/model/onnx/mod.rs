//! ONNX emitter: spec + weights → a self-contained ONNX graph.
//!
//! Opset 17, IR version 8, float32, a symbolic batch axis. Three kinds of graph:
//! - the **model** ([`emit`], [`emit_to`]): input `sequence` (or the spec's `input.onnx_name`)
//!   `(batch, L, 4)`; one output per head, named after it, `(batch, bins, tracks)`;
//! - a model **cut** at a top-level trunk layer P ([`emit_cut`]): the *prefix* maps `sequence`
//!   to [`CUT_TENSOR`], the output of P, channels-first `(batch, C, L)` (or `(batch, F)` when flat);
//!   the *suffix* maps [`CUT_TENSOR`] to every head. suffix(prefix(x)) is the model;
//! - a **gradient** graph ([`emit_gradient`]): forward and backward in one graph. Inputs
//!   `sequence` and [`OBJECTIVE`], weights `(batch, bins, tracks)` on one head's outputs (one set
//!   per sequence; repeat it for the same objective everywhere); outputs the head (as in the
//!   model) and [`GRADIENT`], `(batch, L, 4)`: for each sequence, the gradient of
//!   Σ_{bins, tracks} objective·output with respect to that sequence. A graph-form model's
//!   further inputs come between `sequence` and [`OBJECTIVE`], in spec order, and their
//!   gradients follow [`GRADIENT`] as `gradient.<name>` ([`gradient_name`]), each in its input's
//!   layout (zero for an input the head does not read).
//!
//! Inside, tensors are `(batch, channels, length)`. With `fold_bn`, a batch norm that directly
//! follows a convolution or dense layer is folded into that layer's weights and bias.

pub mod deeplift;
pub mod emit;
pub mod graph;
pub mod graph_form;
pub mod signature;
pub mod stem;
pub mod writer;

use tract_onnx::pb;

use crate::error::{Error, Result};
use crate::model::analysis::{Analysis, Shape};
use crate::model::spec::{InputLayout, ModelSpec};
use crate::model::weights::Weights;
pub use deeplift::emit_deeplift;
use emit::Emitter;
use graph::attr_ints;
pub use signature::{signature, OnnxSignature};
use writer::{value_info, write_streamed};

/// Opset the emitter targets.
pub const OPSET: i64 = 17;
/// Name of the tensor at a cut: the prefix's output and the suffix's input.
pub const CUT_TENSOR: &str = "features";
/// Name of the objective-weights input of a gradient graph.
pub const OBJECTIVE: &str = "objective";
/// Name of the input-gradient output of a gradient graph.
pub const GRADIENT: &str = "gradient";

/// Emission options.
#[derive(Debug, Clone, Copy, Default)]
pub struct EmitOptions {
    /// Fold batch norms into the preceding convolution/dense layer.
    pub fold_bn: bool,
}

/// Which side of a cut to emit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Part {
    /// Input up to and including the cut layer.
    Prefix,
    /// After the cut layer, to every head.
    Suffix,
}

/// Emits the ONNX model for `spec` with `weights` (checked against the spec first).
pub fn emit(spec: &ModelSpec, weights: &Weights, opts: EmitOptions) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    emit_to(spec, weights, opts, &mut out)?;
    Ok(out)
}

/// The analysis of a spec that has layers, with `weights` checked against it.
fn prepare(spec: &ModelSpec, weights: &Weights) -> Result<Analysis> {
    let analysis = spec.analyze()?;
    if !spec.has_layers() {
        return Err(Error::Spec("the spec has no layers to emit (it describes a foreign ONNX file)".into()));
    }
    weights.check(&analysis.weights, std::path::Path::new("weights"))?;
    Ok(analysis)
}

/// Converts the internal `(N, C, L)` (or `(N, F)`) output `y` of a head into the graph output
/// `name`, `(N, bins, tracks)`.
fn head_output(e: &mut Emitter, y: &str, shape: Shape, name: &str) {
    match shape {
        Shape::Seq { .. } => e.g.named_node("Transpose", &[y], vec![attr_ints("perm", &[0, 2, 1])], name),
        Shape::Flat { .. } => {
            let ax = e.g.const_i64(&[1]);
            e.g.named_node("Unsqueeze", &[y, &ax], vec![], name)
        }
    }
}

/// The one-hot input transposed to `(N, 4, L)`.
fn input_nlc(e: &mut Emitter, spec: &ModelSpec) -> String {
    e.g.transpose(&spec.input.onnx_name, &[0, 2, 1])
}

fn input_info(spec: &ModelSpec) -> pb::ValueInfoProto {
    value_info(&spec.input.onnx_name, &[None, Some(spec.input.length as i64), Some(4)])
}

/// The graph inputs of the model: the primary one-hot input, then the further inputs in spec
/// order, each in its stated layout.
fn model_inputs(spec: &ModelSpec) -> Vec<pb::ValueInfoProto> {
    let mut v = vec![input_info(spec)];
    for i in &spec.inputs {
        let (l, c) = (Some(i.length as i64), Some(i.channels as i64));
        v.push(match i.layout {
            InputLayout::NLC => value_info(&i.name, &[None, l, c]),
            InputLayout::NCL => value_info(&i.name, &[None, c, l]),
        });
    }
    v
}

/// Lowers the trunk and the graph form's nodes ([`graph_form::forward`]); returns the ONNX
/// tensor of every named tensor.
fn forward_all<'s>(e: &mut Emitter<'s>, spec: &'s ModelSpec) -> Result<std::collections::BTreeMap<String, String>> {
    Ok(graph_form::forward(e, spec)?.named)
}

fn head_infos(spec: &ModelSpec, analysis: &Analysis) -> Vec<pb::ValueInfoProto> {
    spec.heads
        .iter()
        .zip(&analysis.heads)
        .map(|(h, (_, geom))| value_info(&h.name, &[None, Some(geom.bins as i64), Some(geom.tracks as i64)]))
        .collect()
}

/// Streams the ONNX model to `w` without building it in memory: weights are written straight
/// from `weights`.
pub fn emit_to<W: std::io::Write>(spec: &ModelSpec, weights: &Weights, opts: EmitOptions, w: &mut W) -> Result<()> {
    let analysis = prepare(spec, weights)?;
    let mut e = Emitter::new(weights, &analysis, opts.fold_bn);
    let named = forward_all(&mut e, spec)?;
    for h in &spec.heads {
        let src = spec.head_source(h);
        let x =
            named.get(src).cloned().ok_or_else(|| Error::Spec(format!("head {:?}: {src:?} is undefined", h.name)))?;
        let (y, _) = e.forward(&h.layers, &format!("head.{}", h.name), x)?;
        let shape = head_shape(&analysis, spec, h)?;
        head_output(&mut e, &y, shape, &h.name);
    }
    let outputs = head_infos(spec, &analysis);
    finish(spec, e, model_inputs(spec), outputs, "model", w)
}

/// Emits one side of `spec` cut after the top-level trunk layer `at` (path `trunk.I`, index or
/// name; see [`ModelSpec::trunk_layer_index`]).
pub fn emit_cut(spec: &ModelSpec, weights: &Weights, at: &str, part: Part, opts: EmitOptions) -> Result<Vec<u8>> {
    spec.require_chain("cutting a model at a layer")?;
    let analysis = prepare(spec, weights)?;
    let p = spec.trunk_layer_index(at)?;
    let cut_shape = analysis
        .io
        .get(&format!("trunk.{p}"))
        .map(|io| io.1)
        .ok_or_else(|| Error::Spec(format!("trunk.{p}: no shape in the analysis")))?;
    let mut e = Emitter::new(weights, &analysis, opts.fold_bn);
    let mut out = Vec::new();
    match part {
        Part::Prefix => {
            let x0 = input_nlc(&mut e, spec);
            let (y, _) = e.forward_range(&spec.trunk, "trunk", 0..p + 1, x0)?;
            e.g.named_node("Identity", &[&y], vec![], CUT_TENSOR);
            let outputs = vec![value_info(CUT_TENSOR, &cut_shape.onnx_dims())];
            finish(spec, e, vec![input_info(spec)], outputs, "prefix", &mut out)?;
        }
        Part::Suffix => {
            let (trunk, _) = e.forward_range(&spec.trunk, "trunk", p + 1..spec.trunk.len(), CUT_TENSOR.to_string())?;
            for h in &spec.heads {
                let (y, _) = e.forward(&h.layers, &format!("head.{}", h.name), trunk.clone())?;
                let shape = head_shape(&analysis, spec, h)?;
                head_output(&mut e, &y, shape, &h.name);
            }
            let outputs = head_infos(spec, &analysis);
            let inputs = vec![value_info(CUT_TENSOR, &cut_shape.onnx_dims())];
            finish(spec, e, inputs, outputs, "suffix", &mut out)?;
        }
    }
    Ok(out)
}

/// Emits the gradient graph of head `head` (see the module docs).
pub fn emit_gradient(spec: &ModelSpec, weights: &Weights, head: usize, opts: EmitOptions) -> Result<Vec<u8>> {
    let analysis = prepare(spec, weights)?;
    let h = spec.heads.get(head).ok_or_else(|| Error::InvalidArgument(format!("no head {head}")))?;
    let geom = analysis.heads[head].1;
    let shape = head_shape(&analysis, spec, h)?;
    let mut e = Emitter::new(weights, &analysis, opts.fold_bn);
    let rec = graph_form::forward(&mut e, spec)?;
    let src = spec.head_source(h);
    let x =
        rec.named.get(src).cloned().ok_or_else(|| Error::Spec(format!("head {:?}: {src:?} is undefined", h.name)))?;
    let (y, head_steps) = e.forward(&h.layers, &format!("head.{}", h.name), x)?;
    head_output(&mut e, &y, shape, &h.name);
    // d objective / d output = the objective's weights, given per sequence.
    let dy = OBJECTIVE.to_string();
    let dy = match shape {
        Shape::Seq { .. } => e.g.transpose(&dy, &[0, 2, 1]),
        Shape::Flat { f } => e.g.reshape(&dy, &[0, f as i64]),
    };
    let d_src = e.backward(&head_steps, dy)?;
    let mut grads = graph_form::backward(&mut e, spec, &analysis, &rec, vec![(src.to_string(), d_src)])?;
    // An input the head does not read has a zero gradient.
    let mut grad_of = |e: &mut Emitter, name: &str, cf: &str| match grads.remove(name) {
        Some(g) => g,
        None => {
            let zero = e.g.const_f32(0.0);
            e.g.bin("Mul", cf, &zero)
        }
    };
    let x0 = rec.named.get(&spec.input.onnx_name).cloned().unwrap_or_default();
    let dx0 = grad_of(&mut e, &spec.input.onnx_name, &x0);
    e.g.named_node("Transpose", &[&dx0], vec![attr_ints("perm", &[0, 2, 1])], GRADIENT);
    let mut inputs = model_inputs(spec);
    inputs.push(value_info(OBJECTIVE, &[None, Some(geom.bins as i64), Some(geom.tracks as i64)]));
    let mut outputs = vec![
        value_info(&h.name, &[None, Some(geom.bins as i64), Some(geom.tracks as i64)]),
        value_info(GRADIENT, &[None, Some(spec.input.length as i64), Some(4)]),
    ];
    // Further inputs: `gradient.<name>` in the input's own layout.
    for (i, info) in spec.inputs.iter().zip(model_inputs(spec).into_iter().skip(1)) {
        let cf = rec.named.get(&i.name).cloned().unwrap_or_default();
        let g = grad_of(&mut e, &i.name, &cf);
        let out = gradient_name(&i.name);
        match i.layout {
            InputLayout::NLC => e.g.named_node("Transpose", &[&g], vec![attr_ints("perm", &[0, 2, 1])], &out),
            InputLayout::NCL => e.g.named_node("Identity", &[&g], vec![], &out),
        }
        outputs.push(pb::ValueInfoProto { name: out, ..info });
    }
    let mut out = Vec::new();
    finish(spec, e, inputs, outputs, "gradient", &mut out)?;
    Ok(out)
}

/// Name of the gradient output of further input `input` in a gradient graph.
pub fn gradient_name(input: &str) -> String {
    format!("{GRADIENT}.{input}")
}

/// Shape of head `h`'s last layer output (its source's when the head has no layers).
fn head_shape(analysis: &Analysis, spec: &ModelSpec, h: &crate::model::spec::Head) -> Result<Shape> {
    if h.layers.is_empty() {
        if h.from.is_none() {
            return Ok(analysis.trunk_out);
        }
        let src = spec.head_source(h);
        return analysis
            .tensors
            .get(src)
            .copied()
            .ok_or_else(|| Error::Spec(format!("head {:?}: {src:?} has no shape in the analysis", h.name)));
    }
    let path = format!("head.{}.{}", h.name, h.layers.len() - 1);
    analysis
        .io
        .get(&path)
        .map(|io| io.1)
        .ok_or_else(|| Error::Spec(format!("{}: head {path} has no shape in the analysis", spec.name)))
}

/// Writes the graph with its inputs, outputs and the spec as metadata.
fn finish<W: std::io::Write>(
    spec: &ModelSpec,
    e: Emitter,
    inputs: Vec<pb::ValueInfoProto>,
    outputs: Vec<pb::ValueInfoProto>,
    kind: &str,
    w: &mut W,
) -> Result<()> {
    let graph = pb::GraphProto {
        node: e.g.nodes,
        name: if kind == "model" { spec.name.clone() } else { format!("{}_{kind}", spec.name) },
        input: inputs,
        output: outputs,
        ..Default::default()
    };
    let model = pb::ModelProto {
        ir_version: 8,
        opset_import: vec![pb::OperatorSetIdProto { domain: String::new(), version: OPSET }],
        producer_name: "s2f".into(),
        producer_version: env!("CARGO_PKG_VERSION").into(),
        doc_string: format!("{} (s2f model spec v{})", spec.name, spec.version),
        graph: None,
        metadata_props: vec![pb::StringStringEntryProto { key: "s2f.spec".into(), value: spec.to_json() }],
        ..Default::default()
    };
    write_streamed(&model, &graph, &e.g.inits, w).map_err(|err| Error::io("model.onnx", err))
}
