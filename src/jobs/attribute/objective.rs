//! Objectives that depend on the sequence: BPNet's profile objective.
//!
//! A profile head outputs logits z over bins and strands; its prediction is softmax(z). The
//! objective ChromBPNet and bpnet-lite attribute (bpnet-lite's `ProfileWrapper`) is
//! Σ softmax(z)·(z − mean z) with the softmax held constant: a weighted sum of the logits whose
//! weights are the sequence's own predicted profile. Its gradient is Σ (p − 1/n)·∂z, so the
//! objective weights of a sequence are p − 1/n over the objective's cells (the selected bins of
//! the selected tracks: one softmax per map, over every track of the map jointly) and 0
//! elsewhere. They are computed from each sequence's forward pass (the reverse complement's
//! from its own) and enter the gradient and DeepLIFT graphs as ordinary objective weights; for
//! DeepLIFT they come from the sequence, not the references, as in bpnet-lite where the
//! softmax is detached.

use ndarray::{Array3, Array4, ArrayView3, Axis};

use crate::error::{Error, Result};

/// Per-sequence objective weights `(N, maps, bins, tracks)` from the head's logits `(N, bins,
/// tracks)` and the base objectives `(maps, bins, tracks)`, whose nonzero cells are each map's
/// cells: p − 1/n on them, with p the softmax over them and n their number; 0 elsewhere.
pub fn profile_weights(logits: ArrayView3<f32>, base: &Array3<f32>) -> Result<Array4<f32>> {
    let (n, bins, tracks) = logits.dim();
    let (maps, b2, t2) = base.dim();
    if (b2, t2) != (bins, tracks) {
        return Err(Error::InvalidArgument(format!(
            "the head outputs ({bins}, {tracks}) per sequence; the objective covers ({b2}, {t2})"
        )));
    }
    let mut out = Array4::<f32>::zeros((n, maps, bins, tracks));
    for (s, z) in logits.outer_iter().enumerate() {
        for (m, mask) in base.outer_iter().enumerate() {
            let cells: Vec<(usize, f64)> = mask
                .iter()
                .zip(z.iter())
                .enumerate()
                .filter(|(_, (w, _))| **w != 0.0)
                .map(|(i, (_, &v))| (i, v as f64))
                .collect();
            if cells.is_empty() {
                continue;
            }
            let max = cells.iter().fold(f64::NEG_INFINITY, |a, &(_, v)| a.max(v));
            if !max.is_finite() {
                return Err(Error::InvalidArgument(format!("sequence {s}: the profile logits are not finite")));
            }
            let total: f64 = cells.iter().map(|&(_, v)| (v - max).exp()).sum();
            let uniform = 1.0 / cells.len() as f64;
            let mut w = out.slice_mut(ndarray::s![s, m, .., ..]);
            let flat = w.as_slice_mut().ok_or_else(|| Error::InvalidArgument("non-contiguous weights".into()))?;
            for (i, v) in cells {
                flat[i] = ((v - max).exp() / total - uniform) as f32;
            }
        }
    }
    Ok(out)
}

/// Objectives `(maps, bins, tracks)` of sequence `s` of `per_sequence` `(N, maps, bins, tracks)`,
/// or `shared` when there are none per sequence.
pub fn of_sequence<'a>(
    per_sequence: Option<&'a Array4<f32>>,
    shared: &'a Array3<f32>,
    s: usize,
) -> ArrayView3<'a, f32> {
    match per_sequence {
        Some(w) => w.index_axis(Axis(0), s),
        None => shared.view(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weights_are_the_softmax_minus_uniform_on_each_maps_cells() {
        let logits = Array3::from_shape_fn((2, 3, 2), |(s, b, t)| (s + b) as f32 * 0.5 - t as f32);
        // Map 0: both tracks, bins 0..3 (joint); map 1: track 1, bins 1..3.
        let mut base = Array3::<f32>::zeros((2, 3, 2));
        base.slice_mut(ndarray::s![0, .., ..]).fill(0.5);
        base.slice_mut(ndarray::s![1, 1..3, 1]).fill(1.0);
        let w = profile_weights(logits.view(), &base).unwrap();
        for s in 0..2 {
            let z = logits.index_axis(Axis(0), s);
            let e: Vec<f64> = z.iter().map(|&v| (v as f64).exp()).collect();
            let tot: f64 = e.iter().sum();
            for (i, wi) in w.slice(ndarray::s![s, 0, .., ..]).iter().enumerate() {
                assert!((*wi as f64 - (e[i] / tot - 1.0 / 6.0)).abs() < 1e-6);
            }
            let (a, b) = ((z[[1, 1]] as f64).exp(), (z[[2, 1]] as f64).exp());
            assert!((w[[s, 1, 1, 1]] as f64 - (a / (a + b) - 0.5)).abs() < 1e-6);
            assert!((w[[s, 1, 2, 1]] as f64 - (b / (a + b) - 0.5)).abs() < 1e-6);
            assert_eq!(w[[s, 1, 0, 1]], 0.0);
            assert_eq!(w.slice(ndarray::s![s, 1, .., 0]).sum(), 0.0);
            // Weights sum to 0: adding a constant to every logit changes nothing.
            assert!(w.slice(ndarray::s![s, 0, .., ..]).sum().abs() < 1e-6);
        }
        assert!(profile_weights(logits.view(), &Array3::zeros((1, 2, 2))).is_err());
    }
}
