//! Position weight matrices of first-layer kernels, as columns of (A, C, G, T) probabilities
//! that each sum to 1, position 0 first.
//!
//! Two ways:
//! - [`weight_pwms`]: DRG's `kernel_to_ppm` from the weights alone, P ∝ 2^(W′/σ) with
//!   W′ = W + b/(4·l) and σ the population standard deviation of the kernel's entries, each column
//!   then normalised (DRG normalises by the largest column sum only);
//! - [`ActivationPwms`]: the Basset/DeepBind way, from the sequences that activate the kernel: the
//!   kernel's pre-activation output a on every window of the given sequences (both strands for a
//!   strand max); the windows with a ≥ `fraction` · max a (the maximum over all windows, when
//!   positive) are summed weighted by a / max a, plus a pseudocount of 0.025 per cell, then
//!   normalised (DRG's `transform_kernels_to_pwms` weights and pseudocount). Windows reaching into the convolution's zero padding
//!   add nothing for those columns; the model's own constant pads (e.g. 0.25) count as they are.

use ndarray::{Array3, ArrayD};

use crate::error::{Error, Result};
use crate::model::onnx::stem::Stem;

/// One PWM: columns of (A, C, G, T) probabilities.
pub type Columns = Vec<[f64; 4]>;

/// DRG's weight-derived PWM of every kernel of a convolution with weight `w` `(F, 4, K)`
/// (row-major) and optional bias `(F)`, each column normalised.
pub fn weight_pwms(w: &[f32], bias: Option<&[f32]>, filters: usize, kernel: usize) -> Result<Vec<Columns>> {
    if w.len() != filters * 4 * kernel || bias.is_some_and(|b| b.len() != filters) {
        return Err(Error::Spec(format!("kernel weights of {} values are not ({filters}, 4, {kernel})", w.len())));
    }
    let mut out = Vec::with_capacity(filters);
    for f in 0..filters {
        let b = bias.map_or(0.0, |b| b[f] as f64);
        let entries: Vec<f64> =
            w[f * 4 * kernel..(f + 1) * 4 * kernel].iter().map(|&v| v as f64 + b / (4 * kernel) as f64).collect();
        let mean = entries.iter().sum::<f64>() / entries.len() as f64;
        let sd = (entries.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / entries.len() as f64).sqrt();
        let sd = if sd > 0.0 { sd } else { 1.0 };
        let cols = (0..kernel)
            .map(|t| {
                let p: [f64; 4] = std::array::from_fn(|c| 2f64.powf(entries[c * kernel + t] / sd) * 0.25);
                let s: f64 = p.iter().sum();
                p.map(|v| v / s)
            })
            .collect();
        out.push(cols);
    }
    Ok(out)
}

/// Accumulates activation PWMs over batches of stem outputs (see the module docs): call
/// [`ActivationPwms::scan`] on every batch, then [`ActivationPwms::accumulate`] on every batch
/// again, then [`ActivationPwms::finish`].
pub struct ActivationPwms {
    stem: Stem,
    fraction: f32,
    range: Vec<(f32, f32)>,
    counts: Vec<Vec<[f64; 4]>>,
    windows: Vec<usize>,
}

impl ActivationPwms {
    /// For the kernels of `stem`'s convolution; windows scoring ≥ `fraction` of the maximum count.
    pub fn new(stem: Stem, fraction: f32) -> Self {
        let f = stem.filters;
        let k = stem.conv.kernel;
        Self {
            stem,
            fraction,
            range: vec![(f32::INFINITY, f32::NEG_INFINITY); f],
            counts: vec![vec![[0.0; 4]; k]; f],
            windows: vec![0; f],
        }
    }

    /// Pass 1: the range of each kernel's output over `strands` (`(N, F, Lc)` each).
    pub fn scan(&mut self, strands: &[ArrayD<f32>]) {
        for s in strands {
            for (f, r) in self.range.iter_mut().enumerate() {
                for v in s.index_axis(ndarray::Axis(1), f).iter() {
                    r.0 = r.0.min(*v);
                    r.1 = r.1.max(*v);
                }
            }
        }
    }

    /// Pass 2: adds the windows scoring above the threshold; `input` is the stem's input
    /// `(N, 4, Lp)`, `strands` its convolution's outputs (forward, then reverse complement).
    pub fn accumulate(&mut self, input: &Array3<f32>, strands: &[ArrayD<f32>]) {
        let (n, _, lp) = input.dim();
        let (k, d) = (self.stem.conv.kernel, self.stem.conv.dilation);
        let (pl, _) = self.stem.conv.pads();
        for (si, s) in strands.iter().enumerate() {
            for i in 0..n {
                for f in 0..self.stem.filters {
                    let hi = self.range[f].1;
                    if !(hi > 0.0) {
                        continue;
                    }
                    for j in 0..self.stem.len_out {
                        let a = s[[i, f, j]] / hi;
                        if a < self.fraction {
                            continue;
                        }
                        self.windows[f] += 1;
                        for t in 0..k {
                            // Input column of tap t, in this strand's coordinates.
                            let Some(q) = (j + t * d).checked_sub(pl).filter(|&q| q < lp) else { continue };
                            let col = &mut self.counts[f][t];
                            for (c, v) in col.iter_mut().enumerate() {
                                *v += a as f64
                                    * if si == 0 { input[(i, c, q)] } else { input[(i, 3 - c, lp - 1 - q)] } as f64;
                            }
                        }
                    }
                }
            }
        }
    }

    /// The PWMs and the number of windows behind each.
    pub fn finish(self) -> (Vec<Columns>, Vec<usize>) {
        let pwms = self
            .counts
            .into_iter()
            .map(|cols| {
                cols.into_iter()
                    .map(|c| {
                        let p = c.map(|v| v + 0.025);
                        let s: f64 = p.iter().sum();
                        p.map(|v| v / s)
                    })
                    .collect()
            })
            .collect();
        (pwms, self.windows)
    }
}

/// Information content (bits against a uniform background) of one column.
pub fn information(col: &[f64; 4]) -> f64 {
    2.0 + col.iter().filter(|&&p| p > 0.0).map(|&p| p * p.log2()).sum::<f64>()
}

/// The columns after dropping flanking columns below `min_bits`; `None` when what is left is
/// narrower than `min_width` or holds less than `min_total` bits (a kernel too weak to compare:
/// short low-information queries match long database matrices, such as JASPAR's 31–33-column
/// CTCF, at misleadingly small p-values).
pub fn trimmed(cols: &Columns, min_bits: f64, min_width: usize, min_total: f64) -> Option<Columns> {
    let keep: Vec<bool> = cols.iter().map(|c| information(c) >= min_bits).collect();
    let first = keep.iter().position(|&k| k)?;
    let last = keep.iter().rposition(|&k| k)?;
    let t: Columns = cols[first..=last].to_vec();
    let total: f64 = t.iter().map(information).sum();
    (t.len() >= min_width && total >= min_total).then_some(t)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weight_pwm_columns_sum_to_one_and_follow_the_weights() {
        // One kernel of width 2: column 0 favours C, column 1 is flat.
        let w = [0.0, 0.0, 3.0, 0.0, 0.0, 0.0, 0.0, 0.0];
        let p = weight_pwms(&w, Some(&[0.4]), 1, 2).unwrap();
        for col in &p[0] {
            assert!((col.iter().sum::<f64>() - 1.0).abs() < 1e-12);
        }
        assert!(p[0][0][1] > 0.5 && p[0][0][0] < 0.2);
        assert!((p[0][1][0] - 0.25).abs() < 1e-12);
        assert!(weight_pwms(&w, None, 2, 2).is_err());
    }

    #[test]
    fn trimming_drops_weak_flanks_and_weak_kernels() {
        let flat = [0.25; 4];
        let pure = [1.0, 0.0, 0.0, 0.0];
        assert!((information(&flat)).abs() < 1e-12 && (information(&pure) - 2.0).abs() < 1e-12);
        let cols = vec![flat, pure, pure, flat, pure, flat];
        let t = trimmed(&cols, 0.5, 3, 4.0).unwrap();
        assert_eq!(t.len(), 4);
        assert!(trimmed(&cols, 0.5, 3, 6.1).is_none());
        assert!(trimmed(&vec![flat; 5], 0.5, 1, 0.0).is_none());
    }
}
