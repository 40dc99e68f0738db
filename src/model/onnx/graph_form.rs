//! Forward and backward lowering of the graph form (see [`crate::model::graph`]): the trunk,
//! further inputs and named nodes, with the record a gradient graph walks back.
//!
//! The backward pass seeds the gradient of the tensors heads read, walks the nodes in reverse
//! (each node's layers, then its merge's vector–Jacobian product to every source), then the
//! trunk. A tensor read by several nodes or heads receives the sum of their gradients.

use std::collections::BTreeMap;

use crate::error::{Error, Result};
use crate::model::analysis::{Analysis, Shape};
use crate::model::graph::{Merge, TRUNK};
use crate::model::onnx::emit::{Emitter, Step};
use crate::model::ops::merge;
use crate::model::spec::{InputLayout, ModelSpec};

/// One lowered node: its sources (names and tensors), merge, merged output and layer record.
pub struct NodeRecord<'s> {
    name: String,
    from: Vec<String>,
    sources: Vec<String>,
    merge: Option<Merge>,
    merged: String,
    steps: Vec<Step<'s>>,
}

/// What the forward lowering produced: every named tensor and the records to walk back.
pub struct Record<'s> {
    /// ONNX tensor of every named tensor (primary input channels-first, `trunk`, further
    /// inputs channels-first, nodes).
    pub named: BTreeMap<String, String>,
    trunk_steps: Vec<Step<'s>>,
    nodes: Vec<NodeRecord<'s>>,
}

/// Lowers the trunk and every node; the primary input is read from the graph input as the
/// spec lays it out.
pub fn forward<'s>(e: &mut Emitter<'s>, spec: &'s ModelSpec) -> Result<Record<'s>> {
    let x0 = e.g.transpose(&spec.input.onnx_name, &[0, 2, 1]);
    forward_on(e, spec, x0)
}

/// As [`forward`], with the primary input given as the channels-first tensor `x0` (DeepLIFT's
/// reference pass).
pub fn forward_on<'s>(e: &mut Emitter<'s>, spec: &'s ModelSpec, x0: String) -> Result<Record<'s>> {
    let mut named = BTreeMap::new();
    named.insert(spec.input.onnx_name.clone(), x0.clone());
    let (trunk, trunk_steps) = e.forward(&spec.trunk, "trunk", x0)?;
    named.insert(TRUNK.to_string(), trunk);
    for i in &spec.inputs {
        let t = match i.layout {
            InputLayout::NLC => e.g.transpose(&i.name, &[0, 2, 1]),
            InputLayout::NCL => i.name.clone(),
        };
        named.insert(i.name.clone(), t);
    }
    let mut nodes = Vec::new();
    for n in &spec.graph {
        let sources = n
            .from
            .iter()
            .map(|f| named.get(f).cloned().ok_or_else(|| Error::Spec(format!("node {:?}: {f:?} is undefined", n.name))))
            .collect::<Result<Vec<_>>>()?;
        let merged = match n.merge {
            Some(m) => merge::onnx_forward(e, m, &sources)?,
            None => sources[0].clone(),
        };
        let (y, steps) = e.forward(&n.layers, &n.path(), merged.clone())?;
        named.insert(n.name.clone(), y);
        nodes.push(NodeRecord { name: n.name.clone(), from: n.from.clone(), sources, merge: n.merge, merged, steps });
    }
    Ok(Record { named, trunk_steps, nodes })
}

/// Adds gradient `g` to the one `name` has received so far.
fn accumulate(e: &mut Emitter, grads: &mut BTreeMap<String, String>, name: &str, g: String) {
    let sum = match grads.remove(name) {
        Some(prev) => e.g.bin("Add", &prev, &g),
        None => g,
    };
    grads.insert(name.to_string(), sum);
}

/// Channels (sequences) or features (flat) of a named tensor.
fn width(analysis: &Analysis, name: &str) -> Result<usize> {
    match analysis.tensors.get(name) {
        Some(Shape::Seq { c, .. }) => Ok(*c),
        Some(Shape::Flat { f }) => Ok(*f),
        None => Err(Error::Spec(format!("{name:?} has no shape in the analysis"))),
    }
}

/// Walks `rec` back from `seeds` (gradients of named tensors, channels-first); returns the
/// gradient of every input that received one (primary and further inputs, channels-first).
pub fn backward<'s>(
    e: &mut Emitter<'s>,
    spec: &ModelSpec,
    analysis: &Analysis,
    rec: &Record<'s>,
    seeds: Vec<(String, String)>,
) -> Result<BTreeMap<String, String>> {
    let mut grads = BTreeMap::new();
    for (name, g) in seeds {
        accumulate(e, &mut grads, &name, g);
    }
    for n in rec.nodes.iter().rev() {
        let Some(g) = grads.remove(&n.name) else { continue };
        let g = e.backward(&n.steps, g)?;
        let parts = match n.merge {
            Some(m) => {
                let widths = n.from.iter().map(|f| width(analysis, f)).collect::<Result<Vec<_>>>()?;
                merge::onnx_backward(e, m, &n.sources, &n.merged, &g, &widths)?
            }
            None => vec![g],
        };
        for (f, part) in n.from.iter().zip(parts) {
            accumulate(e, &mut grads, f, part);
        }
    }
    if let Some(g) = grads.remove(TRUNK) {
        let g = e.backward(&rec.trunk_steps, g)?;
        accumulate(e, &mut grads, &spec.input.onnx_name, g);
    }
    Ok(grads)
}

/// The DeepLIFT multipliers of the inputs: as [`backward`], over the input's record `rec` and
/// the reference's `refs` (the same nodes), with each op's DeepLIFT rule and each merge's
/// ([`merge::onnx_deeplift`]). `seeds` are multipliers of named tensors.
pub fn deeplift<'s>(
    e: &mut Emitter<'s>,
    spec: &ModelSpec,
    analysis: &Analysis,
    (rec, refs): (&Record<'s>, &Record<'s>),
    seeds: Vec<(String, String)>,
) -> Result<BTreeMap<String, String>> {
    let mut grads = BTreeMap::new();
    for (name, g) in seeds {
        accumulate(e, &mut grads, &name, g);
    }
    if rec.nodes.len() != refs.nodes.len() {
        return Err(Error::Spec("emitter: the input and reference passes differ".into()));
    }
    for (n, r) in rec.nodes.iter().zip(&refs.nodes).rev() {
        let Some(g) = grads.remove(&n.name) else { continue };
        let g = e.deeplift(&n.steps, &r.steps, g)?;
        let parts = match n.merge {
            Some(m) => {
                let widths = n.from.iter().map(|f| width(analysis, f)).collect::<Result<Vec<_>>>()?;
                merge::onnx_deeplift(e, m, (&n.sources, &r.sources), (&n.merged, &r.merged), &g, &widths)?
            }
            None => vec![g],
        };
        for (f, part) in n.from.iter().zip(parts) {
            accumulate(e, &mut grads, f, part);
        }
    }
    if let Some(g) = grads.remove(TRUNK) {
        let g = e.deeplift(&rec.trunk_steps, &refs.trunk_steps, g)?;
        accumulate(e, &mut grads, &spec.input.onnx_name, g);
    }
    Ok(grads)
}
