//! The DeepLIFT graph of one head: the input sequence and a reference run through the model
//! side by side, then one backward pass propagates DeepLIFT multipliers (each op's
//! [`Op::onnx_deeplift`](crate::model::ops::Op::onnx_deeplift)) from the objective to the input.
//!
//! Inputs: `sequence` `(N, L, 4)`, [`REFERENCE`] `(N, L, 4)` (one reference per row) and
//! [`OBJECTIVE`] `(N, bins, tracks)`. Outputs: the head on the sequence, [`REFERENCE_OUTPUT`] (the
//! head on the reference) and [`GRADIENT`] `(N, L, 4)`, the multipliers m of the objective with
//! respect to the sequence. Summation to delta: Σ m·(x − r) = objective(x) − objective(r).

use crate::error::{Error, Result};
use crate::model::analysis::Shape;
use crate::model::onnx::emit::Emitter;
use crate::model::onnx::graph::attr_ints;
use crate::model::onnx::graph_form;
use crate::model::onnx::writer::value_info;
use crate::model::onnx::{finish, head_output, head_shape, input_info, prepare, EmitOptions};
use crate::model::onnx::{GRADIENT, OBJECTIVE};
use crate::model::spec::ModelSpec;
use crate::model::weights::Weights;

/// Input of the DeepLIFT graph: the reference of each row.
pub const REFERENCE: &str = "reference";
/// Output of the DeepLIFT graph: the head on the reference.
pub const REFERENCE_OUTPUT: &str = "reference_output";

/// Emits the DeepLIFT graph of head `head` (see the module docs). Both passes run through the
/// trunk and every node of a graph-form spec (one input), the multipliers back through the
/// nodes and merges ([`graph_form::deeplift`]).
pub fn emit_deeplift(spec: &ModelSpec, weights: &Weights, head: usize, opts: EmitOptions) -> Result<Vec<u8>> {
    spec.require_one_input("a DeepLIFT graph")?;
    let analysis = prepare(spec, weights)?;
    let h = spec.heads.get(head).ok_or_else(|| Error::InvalidArgument(format!("no head {head}")))?;
    let geom = analysis.heads[head].1;
    let shape = head_shape(&analysis, spec, h)?;
    let mut e = Emitter::new(weights, &analysis, opts.fold_bn);
    let hpath = format!("head.{}", h.name);
    let src = spec.head_source(h);
    let undefined = || Error::Spec(format!("head {:?}: {src:?} is undefined", h.name));
    let rec = graph_form::forward(&mut e, spec)?;
    let x = rec.named.get(src).cloned().ok_or_else(undefined)?;
    let (y, head_steps) = e.forward(&h.layers, &hpath, x)?;
    head_output(&mut e, &y, shape, &h.name);
    let r0 = e.g.transpose(REFERENCE, &[0, 2, 1]);
    let refs = graph_form::forward_on(&mut e, spec, r0)?;
    let xr = refs.named.get(src).cloned().ok_or_else(undefined)?;
    let (ry, rhead_steps) = e.forward(&h.layers, &hpath, xr)?;
    head_output(&mut e, &ry, shape, REFERENCE_OUTPUT);
    let dy = OBJECTIVE.to_string();
    let dy = match shape {
        Shape::Seq { .. } => e.g.transpose(&dy, &[0, 2, 1]),
        Shape::Flat { f } => e.g.reshape(&dy, &[0, f as i64]),
    };
    let d_src = e.deeplift(&head_steps, &rhead_steps, dy)?;
    let mut m = graph_form::deeplift(&mut e, spec, &analysis, (&rec, &refs), vec![(src.to_string(), d_src)])?;
    let dx0 = m.remove(&spec.input.onnx_name).ok_or_else(|| {
        Error::InvalidArgument(format!("head {:?} does not depend on the input {:?}", h.name, spec.input.onnx_name))
    })?;
    e.g.named_node("Transpose", &[&dx0], vec![attr_ints("perm", &[0, 2, 1])], GRADIENT);
    let seq = [None, Some(spec.input.length as i64), Some(4)];
    let out = [None, Some(geom.bins as i64), Some(geom.tracks as i64)];
    let inputs = vec![input_info(spec), value_info(REFERENCE, &seq), value_info(OBJECTIVE, &out)];
    let outputs = vec![value_info(&h.name, &out), value_info(REFERENCE_OUTPUT, &out), value_info(GRADIENT, &seq)];
    let mut bytes = Vec::new();
    finish(spec, e, inputs, outputs, "deeplift", &mut bytes)?;
    Ok(bytes)
}
