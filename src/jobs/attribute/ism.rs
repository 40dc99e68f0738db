//! Fast saturation mutagenesis: the model split at its first convolution
//! ([`crate::model::onnx::stem`]).
//!
//! Per sequence, the stem runs once on the reference (and on four constant sequences, all A,
//! all C, all G, all T, which give the convolution's input column of each base after the
//! leading pads and activations). A mutant's convolution output is the reference's plus the
//! kernel's response to the one changed column ([`Stem::conv_delta`], on both strands for a
//! strand max); only the rest of the model runs per mutant. The numbers are those of running
//! every mutant through the whole model, up to float rounding of the convolution's sum.

use std::ops::Range;

use ndarray::{s, Array2, Array3, ArrayD, ArrayView2, Axis};

use crate::engine::{create, Device, Engine, EngineKind};
use crate::error::{Error, Result};
use crate::model::onnx::stem::{emit_rest, emit_stem, Stem};
use crate::model::onnx::EmitOptions;
use crate::model::spec::ModelSpec;
use crate::model::weights::Weights;

/// The substitutions of saturation mutagenesis over `span` of one sequence `(L, 4)`: every
/// (position, base) except the observed base (all four where the column is not one-hot).
pub fn mutants(xs: ArrayView2<f32>, span: Range<usize>) -> Vec<(usize, usize)> {
    let mut out = Vec::with_capacity(span.len() * 3);
    for i in span {
        let observed = (0..4).find(|&b| xs[(i, b)] == 1.0 && (0..4).all(|c| c == b || xs[(i, c)] == 0.0));
        out.extend((0..4).filter(|&b| Some(b) != observed).map(|b| (i, b)));
    }
    out
}

/// Objective values `(rows, maps)` of head outputs `y` `(rows, bins, tracks)` under the
/// objective weights `(maps, bins, tracks)`; `y` must have that shape (checked by the caller).
pub fn objective_values(y: &ArrayD<f32>, objectives: &Array3<f32>) -> Array2<f32> {
    let rows = y.shape()[0];
    let maps = objectives.shape()[0];
    let mut out = Array2::<f32>::zeros((rows, maps));
    for (r, yr) in y.outer_iter().enumerate() {
        for (m, w) in objectives.outer_iter().enumerate() {
            out[(r, m)] = yr.iter().zip(w.iter()).map(|(a, b)| a * b).sum();
        }
    }
    out
}

/// Checks that an engine returned head `head` shaped `(rows, bins, tracks)` and takes it.
pub fn take_head(
    engine: &dyn Engine,
    mut outs: Vec<ArrayD<f32>>,
    head: usize,
    dims: [usize; 3],
) -> Result<ArrayD<f32>> {
    if head >= outs.len() {
        return Err(Error::Engine { engine: engine.describe(), message: format!("no output {head}") });
    }
    let y = outs.swap_remove(head);
    if y.shape() != dims {
        return Err(Error::Engine {
            engine: engine.describe(),
            message: format!("output of shape {:?}, expected {dims:?}", y.shape()),
        });
    }
    Ok(y)
}

/// The stem and rest graphs of one model on one engine.
pub struct FastIsm {
    stem: Stem,
    weight: Vec<f32>,
    stem_engine: Box<dyn Engine>,
    rest_engine: Box<dyn Engine>,
}

impl FastIsm {
    /// Splits `spec` at its first convolution; an error says why a model has no stem.
    pub fn new(spec: &ModelSpec, weights: &Weights, kind: EngineKind, device: Device) -> Result<Self> {
        let stem = Stem::find(spec)?;
        let prefix = stem.conv.name.clone().unwrap_or_else(|| stem.conv_path.clone());
        let weight = weights.get(&format!("{prefix}.weight"))?.data.clone();
        if weight.len() != stem.filters * 4 * stem.conv.kernel {
            return Err(Error::Spec(format!("{prefix}.weight: {} values for a (F, 4, K) kernel", weight.len())));
        }
        let opts = EmitOptions::default();
        let stem_engine = create(kind, device, &emit_stem(spec, weights, &stem, opts)?)?;
        let rest_engine = create(kind, device, &emit_rest(spec, weights, &stem, opts)?)?;
        Ok(Self { stem, weight, stem_engine, rest_engine })
    }

    /// objective(mutant) − objective(reference) `(maps, L, 4)` of one sequence `xs` `(L, 4)`
    /// over `span`, 0 elsewhere and at the observed bases; `batch` mutants per engine run.
    pub fn sequence(
        &mut self,
        xs: ArrayView2<f32>,
        span: Range<usize>,
        objectives: &Array3<f32>,
        head: usize,
        batch: usize,
    ) -> Result<Array3<f32>> {
        let (l, _) = xs.dim();
        let (maps, bins, tracks) = objectives.dim();
        // Row 0: the reference; rows 1–4: all A, C, G, T.
        let mut x = Array3::<f32>::zeros((5, l, 4));
        x.index_axis_mut(Axis(0), 0).assign(&xs);
        for b in 0..4 {
            x.slice_mut(s![b + 1, .., b]).fill(1.0);
        }
        let outs = self.stem_engine.run(x.into_dyn())?;
        let want = if self.stem.strand { 3 } else { 2 };
        if outs.len() != want {
            return Err(Error::Engine {
                engine: self.stem_engine.describe(),
                message: format!("the stem graph returned {} outputs, expected {want}", outs.len()),
            });
        }
        let (f, lc, lp) = (self.stem.filters, self.stem.len_out, self.stem.len_in);
        if outs[0].shape() != [5, 4, lp] || outs[1].shape() != [5, f, lc] {
            return Err(Error::Engine {
                engine: self.stem_engine.describe(),
                message: format!("stem outputs {:?} and {:?}", outs[0].shape(), outs[1].shape()),
            });
        }
        let column = |row: usize, p: usize| -> [f32; 4] { std::array::from_fn(|c| outs[0][[row, c, p]]) };
        let reference: Vec<Vec<f32>> =
            outs[1..].iter().map(|o| o.slice(s![0, .., ..]).iter().copied().collect()).collect();
        let muts = mutants(xs, span);
        let mut values = Vec::with_capacity(muts.len() + 1);
        // The reference through the rest, then the mutants in batches.
        let mut chunks: Vec<&[(usize, usize)]> = vec![&[]];
        chunks.extend(muts.chunks(batch.max(1)));
        for (ci, chunk) in chunks.iter().enumerate() {
            let rows = if ci == 0 { 1 } else { chunk.len() };
            let mut strands: Vec<Array3<f32>> = Vec::with_capacity(reference.len());
            for (si, r) in reference.iter().enumerate() {
                let mut t = Array3::<f32>::zeros((rows, f, lc));
                for (k, mut row) in t.outer_iter_mut().enumerate() {
                    let data = row.as_slice_mut().ok_or_else(|| Error::InvalidArgument("stem layout".into()))?;
                    data.copy_from_slice(r);
                    if ci == 0 {
                        continue;
                    }
                    let (i, b) = chunk[k];
                    let p = i + self.stem.offset;
                    let (old, new) = (column(0, p), column(b + 1, p));
                    let delta: [f32; 4] = std::array::from_fn(|c| new[c] - old[c]);
                    if si == 0 {
                        self.stem.conv_delta(&self.weight, data, p, delta);
                    } else {
                        // The reverse strand reads the complement, position Lp − 1 − p.
                        let rev: [f32; 4] = std::array::from_fn(|c| delta[3 - c]);
                        self.stem.conv_delta(&self.weight, data, lp - 1 - p, rev);
                    }
                }
                strands.push(t);
            }
            let outs = self.rest_engine.run_inputs(strands.into_iter().map(|t| t.into_dyn()).collect())?;
            let y = take_head(self.rest_engine.as_ref(), outs, head, [rows, bins, tracks])?;
            values.push(objective_values(&y, objectives));
        }
        let mut out = Array3::<f32>::zeros((maps, l, 4));
        let base = values[0].row(0).to_owned();
        let mut k = 0;
        for v in &values[1..] {
            for row in v.outer_iter() {
                let (i, b) = muts[k];
                for m in 0..maps {
                    out[(m, i, b)] = row[m] - base[m];
                }
                k += 1;
            }
        }
        Ok(out)
    }
}
