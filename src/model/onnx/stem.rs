//! A model split at its first convolution, for fast saturation mutagenesis.
//!
//! The **stem** of a spec is its leading run of element-wise layers on the input (`pad`,
//! `activation`) followed by its first convolution: a top-level `conv1d`, or the first layer of
//! a `strand_max` block (then the convolution runs on both strands). Everything before the
//! convolution acts column by column, and the convolution is linear, so a single-base change
//! of the input changes the convolution's output only in the columns its kernel covers (see
//! [`Stem::conv_delta`]).
//!
//! Two graphs:
//! - [`emit_stem`]: input `sequence` `(N, L, 4)`; outputs [`STEM_IN`], the convolution's input
//!   `(N, 4, Lp)` (after the leading pads and activations), [`STEM_FWD`], the convolution's
//!   output `(N, F, Lc)` and, for a strand max, [`STEM_REV`], its output on the reverse
//!   complement of [`STEM_IN`] (in the reverse strand's own coordinates, not flipped back);
//! - [`emit_rest`]: inputs [`STEM_FWD`] (and [`STEM_REV`]); outputs every head, as the model.
//!
//! `rest(stem(x))` is the model.

use crate::error::{Error, Result};
use crate::model::analysis::Shape;
use crate::model::onnx::emit::Emitter;
use crate::model::onnx::writer::value_info;
use crate::model::onnx::{finish, head_infos, head_output, head_shape, input_info, input_nlc, prepare, EmitOptions};
use crate::model::ops::{Conv1d, Layer};
use crate::model::spec::ModelSpec;
use crate::model::weights::Weights;

/// Output of the stem graph: the convolution's input.
pub const STEM_IN: &str = "stem_in";
/// The convolution's output on the forward strand.
pub const STEM_FWD: &str = "stem_fwd";
/// The convolution's output on the reverse complement (strand max only).
pub const STEM_REV: &str = "stem_rev";

/// Where a spec's stem ends (see the module docs).
#[derive(Debug, Clone)]
pub struct Stem {
    /// Number of leading element-wise layers (`trunk.0 .. trunk.pre`).
    pub pre: usize,
    /// Whether the convolution is the first layer of a `strand_max` at `trunk.pre`.
    pub strand: bool,
    /// The convolution.
    pub conv: Conv1d,
    /// Its layer path (`trunk.P` or `trunk.P.0`).
    pub conv_path: String,
    /// Left padding added by the leading `pad` layers: input position i is column `i + offset`
    /// of [`STEM_IN`].
    pub offset: usize,
    /// Length of [`STEM_IN`].
    pub len_in: usize,
    /// Length of the convolution's output.
    pub len_out: usize,
    /// Output channels.
    pub filters: usize,
}

impl Stem {
    /// The stem of `spec`, or why it has none.
    pub fn find(spec: &ModelSpec) -> Result<Self> {
        spec.require_chain("fast ISM")?;
        let analysis = spec.analyze()?;
        let mut offset = 0;
        for (i, layer) in spec.trunk.iter().enumerate() {
            let (conv, strand, conv_path) = match layer {
                Layer::Pad(p) => {
                    offset += p.left;
                    continue;
                }
                Layer::Activation(_) => continue,
                Layer::Conv1d(c) => (c, false, format!("trunk.{i}")),
                Layer::StrandMax(s) => match s.layers.first() {
                    Some(Layer::Conv1d(c)) => (c, true, format!("trunk.{i}.0")),
                    _ => return Err(no_stem(spec, "its strand max does not start with a convolution")),
                },
                other => return Err(no_stem(spec, format!("trunk.{i} is a {} before any convolution", other.tag()))),
            };
            let io = analysis.io.get(&conv_path).ok_or_else(|| no_stem(spec, "no shapes for its convolution"))?;
            let (Shape::Seq { c: 4, l: len_in }, Shape::Seq { c: filters, l: len_out }) = (io.0, io.1) else {
                return Err(no_stem(spec, "its first convolution does not read the 4 one-hot channels"));
            };
            return Ok(Self { pre: i, strand, conv: conv.clone(), conv_path, offset, len_in, len_out, filters });
        }
        Err(no_stem(spec, "it has no convolution"))
    }

    /// Adds to `out` (`F × Lc`, row-major, one strand's convolution output) the change caused
    /// by adding `delta` (4 values, one per input channel) to column `p` of that strand's
    /// convolution input; `w` is the convolution weight `(F, 4, K)`, row-major.
    pub fn conv_delta(&self, w: &[f32], out: &mut [f32], p: usize, delta: [f32; 4]) {
        let (k, d) = (self.conv.kernel, self.conv.dilation);
        let (pl, _) = self.conv.pads();
        for t in 0..k {
            // Output column j reads input column j + t·d − pl.
            let Some(j) = (p + pl).checked_sub(t * d) else { continue };
            if j >= self.len_out {
                continue;
            }
            for f in 0..self.filters {
                let base = (f * 4) * k + t;
                let s: f32 = (0..4).map(|c| w[base + c * k] * delta[c]).sum();
                out[f * self.len_out + j] += s;
            }
        }
    }
}

fn no_stem(spec: &ModelSpec, why: impl std::fmt::Display) -> Error {
    Error::InvalidArgument(format!("{}: no stem for fast ISM: {why}", spec.name))
}

/// Emits the stem graph (see the module docs).
pub fn emit_stem(spec: &ModelSpec, weights: &Weights, stem: &Stem, opts: EmitOptions) -> Result<Vec<u8>> {
    let analysis = prepare(spec, weights)?;
    let mut e = Emitter::new(weights, &analysis, opts.fold_bn);
    let x0 = input_nlc(&mut e, spec);
    let (xin, _) = e.forward_range(&spec.trunk, "trunk", 0..stem.pre, x0)?;
    e.g.named_node("Identity", &[&xin], vec![], STEM_IN);
    let dims_in = [None, Some(4), Some(stem.len_in as i64)];
    let dims_out = [None, Some(stem.filters as i64), Some(stem.len_out as i64)];
    let mut outputs = vec![value_info(STEM_IN, &dims_in), value_info(STEM_FWD, &dims_out)];
    match &spec.trunk[stem.pre] {
        Layer::StrandMax(sm) => {
            let path = format!("trunk.{}", stem.pre);
            let rc = e.g.flip(&xin, &[1, 2]);
            let (f, _) = e.forward_range(&sm.layers, &path, 0..1, xin)?;
            let (r, _) = e.forward_range(&sm.layers, &path, 0..1, rc)?;
            e.g.named_node("Identity", &[&f], vec![], STEM_FWD);
            e.g.named_node("Identity", &[&r], vec![], STEM_REV);
            outputs.push(value_info(STEM_REV, &dims_out));
        }
        _ => {
            let (f, _) = e.forward_range(&spec.trunk, "trunk", stem.pre..stem.pre + 1, xin)?;
            e.g.named_node("Identity", &[&f], vec![], STEM_FWD);
        }
    }
    let mut out = Vec::new();
    finish(spec, e, vec![input_info(spec)], outputs, "stem", &mut out)?;
    Ok(out)
}

/// Emits the rest of the model after the stem (see the module docs).
pub fn emit_rest(spec: &ModelSpec, weights: &Weights, stem: &Stem, opts: EmitOptions) -> Result<Vec<u8>> {
    let analysis = prepare(spec, weights)?;
    let mut e = Emitter::new(weights, &analysis, opts.fold_bn);
    let dims = [None, Some(stem.filters as i64), Some(stem.len_out as i64)];
    let mut inputs = vec![value_info(STEM_FWD, &dims)];
    let trunk_in = match &spec.trunk[stem.pre] {
        Layer::StrandMax(sm) => {
            let path = format!("trunk.{}", stem.pre);
            let n = sm.layers.len();
            let (f, _) = e.forward_range(&sm.layers, &path, 1..n, STEM_FWD.to_string())?;
            let (r, _) = e.forward_range(&sm.layers, &path, 1..n, STEM_REV.to_string())?;
            inputs.push(value_info(STEM_REV, &dims));
            let back = e.g.flip(&r, &[2]);
            e.g.bin("Max", &f, &back)
        }
        _ => STEM_FWD.to_string(),
    };
    let (trunk, _) = e.forward_range(&spec.trunk, "trunk", stem.pre + 1..spec.trunk.len(), trunk_in)?;
    for h in &spec.heads {
        let (y, _) = e.forward(&h.layers, &format!("head.{}", h.name), trunk.clone())?;
        let shape = head_shape(&analysis, spec, h)?;
        head_output(&mut e, &y, shape, &h.name);
    }
    let outputs = head_infos(spec, &analysis);
    let mut out = Vec::new();
    finish(spec, e, inputs, outputs, "rest", &mut out)?;
    Ok(out)
}
