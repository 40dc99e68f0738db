//! The emitter's loops: the forward pass over a run of layers (recording what each op's
//! backward pass needs) and the backward pass over that record. Each layer is lowered by its
//! op ([`Op::onnx_forward`], [`Op::onnx_backward`]); shapes come from the [`Analysis`].

use std::borrow::Cow;
use std::ops::Range;

use crate::error::{Error, Result};
use crate::model::analysis::Analysis;
use crate::model::onnx::graph::Graph;
use crate::model::ops::{with_op, Backward, DeepLift, Layer, Op, Site};
use crate::model::weights::Weights;

/// What an op's forward lowering produced: its output, the tensors its backward lowering reads
/// (`saved`, op-specific), and the records of nested blocks (residual, strand max).
#[derive(Debug, Default)]
pub struct Fwd<'s> {
    /// Output tensor name.
    pub y: String,
    /// Intermediate tensors (op-specific order).
    pub saved: Vec<String>,
    /// Forward records of nested blocks (op-specific order).
    pub blocks: Vec<Vec<Step<'s>>>,
}

impl<'s> Fwd<'s> {
    /// Output `y`, nothing saved.
    pub fn new(y: String) -> Self {
        Self { y, saved: Vec::new(), blocks: Vec::new() }
    }

    /// Keeps `saved` for the backward pass.
    pub fn saving(mut self, saved: Vec<String>) -> Self {
        self.saved = saved;
        self
    }

    /// Keeps the records of nested blocks.
    pub fn with_blocks(mut self, blocks: Vec<Vec<Step<'s>>>) -> Self {
        self.blocks = blocks;
        self
    }

    /// The `i`-th saved tensor (an internal error if the op did not save it).
    pub fn saved(&self, i: usize) -> Result<&str> {
        self.saved.get(i).map(String::as_str).ok_or_else(|| Error::Spec(format!("emitter: saved tensor {i} missing")))
    }

    /// The `i`-th nested block record.
    pub fn block(&self, i: usize) -> Result<&[Step<'s>]> {
        self.blocks.get(i).map(Vec::as_slice).ok_or_else(|| Error::Spec(format!("emitter: block record {i} missing")))
    }
}

/// One lowered layer: the layer, where it sits, its input and its forward record.
#[derive(Debug)]
pub struct Step<'s> {
    layer: &'s Layer,
    site: Site,
    x: String,
    fwd: Fwd<'s>,
}

/// Builds one ONNX graph from spec layers.
pub struct Emitter<'s> {
    /// The graph under construction.
    pub g: Graph<'s>,
    weights: &'s Weights,
    analysis: &'s Analysis,
    fold_bn: bool,
    pending_fold: Option<(String, f32)>,
}

impl<'s> Emitter<'s> {
    /// An emitter over checked `weights` and the spec's `analysis`; `fold_bn` folds batch norms
    /// into the convolution or dense layer before them.
    pub fn new(weights: &'s Weights, analysis: &'s Analysis, fold_bn: bool) -> Self {
        Self { g: Graph::default(), weights, analysis, fold_bn, pending_fold: None }
    }

    /// Weight tensor `name` as an initializer with dimensions `dims` (borrowed, not copied).
    pub fn param(&mut self, name: &str, dims: &[usize]) -> Result<String> {
        let t = self.weights.get(name)?;
        Ok(self.g.init_f32(name, dims, Cow::Borrowed(&t.data)))
    }

    /// Weight (`dims`, output channels first) and bias of a convolution-like layer with weight
    /// prefix `prefix`; when the loop folds the following batch norm into this layer, the folded
    /// weight and bias (computed in float64). Returns (weight, bias) initializer names.
    pub fn linear_params(&mut self, prefix: &str, dims: &[usize], bias: bool) -> Result<(String, Option<String>)> {
        let weights = self.weights;
        let w = weights.get(&format!("{prefix}.weight"))?;
        let b = if bias { Some(&weights.get(&format!("{prefix}.bias"))?.data) } else { None };
        let out_c = dims.first().copied().unwrap_or(1);
        match self.pending_fold.take() {
            None => {
                let wn = self.g.init_f32(&format!("{prefix}.weight"), dims, Cow::Borrowed(&w.data));
                let bn = b.map(|b| self.g.init_f32(&format!("{prefix}.bias"), &[out_c], Cow::Borrowed(b)));
                Ok((wn, bn))
            }
            Some((bn_prefix, eps)) => {
                let gamma = &weights.get(&format!("{bn_prefix}.gamma"))?.data;
                let beta = &weights.get(&format!("{bn_prefix}.beta"))?.data;
                let mean = &weights.get(&format!("{bn_prefix}.mean"))?.data;
                let var = &weights.get(&format!("{bn_prefix}.var"))?.data;
                let per = w.data.len() / out_c.max(1);
                let mut fw = w.data.clone();
                let mut fb = vec![0f32; out_c];
                for o in 0..out_c {
                    let s = (gamma[o] as f64) / ((var[o] as f64) + eps as f64).sqrt();
                    for v in &mut fw[o * per..(o + 1) * per] {
                        *v = (*v as f64 * s) as f32;
                    }
                    let b0 = b.map(|b| b[o] as f64).unwrap_or(0.0);
                    fb[o] = ((b0 - mean[o] as f64) * s + beta[o] as f64) as f32;
                }
                let wn = self.g.init_f32(&format!("{prefix}.weight+{bn_prefix}"), dims, Cow::Owned(fw));
                let bn = self.g.init_f32(&format!("{prefix}.bias+{bn_prefix}"), &[out_c], Cow::Owned(fb));
                Ok((wn, Some(bn)))
            }
        }
    }

    /// Lowers a whole block of `layers` at `path` on input `x`.
    pub fn forward(&mut self, layers: &'s [Layer], path: &str, x: String) -> Result<(String, Vec<Step<'s>>)> {
        self.forward_range(layers, path, 0..layers.len(), x)
    }

    /// Lowers `layers[range]` at `path` on input `x`; returns the output and the record the
    /// backward pass reads. A batch norm is folded only into a layer of the same range.
    pub fn forward_range(
        &mut self,
        layers: &'s [Layer],
        path: &str,
        range: Range<usize>,
        mut x: String,
    ) -> Result<(String, Vec<Step<'s>>)> {
        let mut steps = Vec::new();
        let mut i = range.start;
        while i < range.end {
            let layer = &layers[i];
            let site = self.analysis.site(&format!("{path}.{i}"), layer)?;
            let mut next = i + 1;
            if self.fold_bn && with_op!(layer, op => op.folds_batch_norm()) && next < range.end {
                if let Layer::BatchNorm(bn) = &layers[next] {
                    let bn_prefix = bn.name.clone().unwrap_or_else(|| format!("{path}.{next}"));
                    self.pending_fold = Some((bn_prefix, bn.eps));
                    next += 1;
                }
            }
            let fwd = with_op!(layer, op => op.onnx_forward(self, &site, &x))?;
            if self.pending_fold.take().is_some() {
                return Err(site.error("emitter: the batch norm to fold was not taken by the layer before it"));
            }
            let y = fwd.y.clone();
            steps.push(Step { layer, site, x, fwd });
            x = y;
            i = next;
        }
        Ok((x, steps))
    }

    /// The gradient with respect to the input of the layers recorded in `steps`, given the
    /// gradient `dy` of their output.
    pub fn backward(&mut self, steps: &[Step<'s>], mut dy: String) -> Result<String> {
        for s in steps.iter().rev() {
            let b = Backward { at: &s.site, x: &s.x, fwd: &s.fwd, dy: &dy };
            dy = with_op!(s.layer, op => op.onnx_backward(self, b))?;
        }
        Ok(dy)
    }

    /// The DeepLIFT multipliers of the input of the layers recorded in `steps` (the input
    /// sequence's pass) and `refs` (the reference's pass through the same layers), given the
    /// multipliers `dy` of their output.
    pub fn deeplift(&mut self, steps: &[Step<'s>], refs: &[Step<'s>], mut dy: String) -> Result<String> {
        if steps.len() != refs.len() {
            return Err(Error::Spec("emitter: the input and reference passes differ in length".into()));
        }
        for (s, r) in steps.iter().zip(refs).rev() {
            if s.site != r.site {
                return Err(s.site.error("emitter: the reference pass lowered a different layer"));
            }
            let d = DeepLift { at: &s.site, x: &s.x, fwd: &s.fwd, xr: &r.x, fwd_r: &r.fwd, dy: &dy };
            dy = with_op!(s.layer, op => op.onnx_deeplift(self, d))?;
        }
        Ok(dy)
    }
}
