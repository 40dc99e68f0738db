//! DeepLIFT/SHAP on the DeepLIFT graph ([`crate::model::onnx::emit_deeplift`]): multipliers
//! for every (sequence, map, reference) row, turned into attributions as tangermeme's
//! `deep_lift_shap` does.
//!
//! For one reference r, with m the multipliers `(L, 4)`: the hypothetical contribution of base
//! b at position i is m[i, b] − Σ_c m[i, c]·r[i, c] (the change of the objective had base b been
//! there instead of the reference's), and the attribution is that times the one-hot input
//! (Σ over bases at i of m·(x − r)). Both are averaged over references. Summation to delta:
//! Σ attributions = objective(x) − mean_r objective(r); the largest deviation seen is reported
//! ([`DeepLiftOut::max_delta`]).

use ndarray::{s, Array3, Array4, ArrayView3, ArrayView4, Axis};
use rand::SeedableRng;

use crate::engine::Engine;
use crate::error::{Error, Result};
use crate::genome::shuffle::dinucleotide_shuffles;
use crate::jobs::attribute::ism::{objective_values, take_head};

/// Attributions of one batch of sequences.
pub struct DeepLiftOut {
    /// `(N, maps, L, 4)`: attributions, or hypothetical contributions.
    pub maps: Array4<f32>,
    /// Largest |Σ m·(x − r) − (objective(x) − objective(r))| over rows, relative to the largest
    /// |objective(x) − objective(r)| (absolute when that is 0).
    pub max_delta: f32,
}

/// `k` dinucleotide shuffles `(N, k, L, 4)` of each sequence of `x`; sequence `first + s` is
/// shuffled with its own generator seeded from (`seed`, its index), so the references do not
/// depend on how sequences are batched.
pub fn shuffled_references(x: ArrayView3<f32>, k: usize, seed: u64, first: usize) -> Result<Array4<f32>> {
    let (n, l, _) = x.dim();
    let mut out = Array4::<f32>::zeros((n, k, l, 4));
    for (s, xs) in x.outer_iter().enumerate() {
        let stream = seed ^ ((first + s) as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(stream);
        let flat = xs.as_standard_layout().iter().copied().collect::<Vec<f32>>();
        let shuffled = dinucleotide_shuffles(&flat, k, &mut rng)?;
        let view = ndarray::ArrayView3::from_shape((k, l, 4), &shuffled)
            .map_err(|e| Error::InvalidArgument(format!("shuffle layout: {e}")))?;
        out.index_axis_mut(Axis(0), s).assign(&view);
    }
    Ok(out)
}

/// Runs the DeepLIFT graph on `engine` for `x` `(N, L, 4)` with references `refs`
/// `(N, R, L, 4)` and the objectives `(N, maps, bins, tracks)` — per sequence, or `(1, maps,
/// bins, tracks)` shared by all — `batch` rows per run.
pub fn deeplift(
    engine: &mut dyn Engine,
    x: ArrayView3<f32>,
    refs: ArrayView4<f32>,
    objectives: ArrayView4<f32>,
    batch: usize,
    hypothetical: bool,
) -> Result<DeepLiftOut> {
    let (n, l, _) = x.dim();
    let nr = refs.dim().1;
    if refs.dim() != (n, nr, l, 4) || nr == 0 {
        return Err(Error::InvalidArgument(format!(
            "references are {:?}; expected (N = {n}, R ≥ 1, L = {l}, 4)",
            refs.shape()
        )));
    }
    let (per, maps, bins, tracks) = objectives.dim();
    if per != 1 && per != n {
        return Err(Error::InvalidArgument(format!("objectives for {per} sequences; {n} given")));
    }
    let objectives_of = |sq: usize| objectives.index_axis(Axis(0), if per == 1 { 0 } else { sq });
    let rows = n * maps * nr;
    let mut out = Array4::<f32>::zeros((n, maps, l, 4));
    let (mut worst, mut scale) = (0f32, 0f32);
    let mut start = 0;
    while start < rows {
        let end = (start + batch.max(1)).min(rows);
        let m = end - start;
        // Row index = (sequence · maps + map) · R + reference.
        let who = |row: usize| (row / (maps * nr), (row / nr) % maps, row % nr);
        let mut xb = Array3::<f32>::zeros((m, l, 4));
        let mut rb = Array3::<f32>::zeros((m, l, 4));
        let mut ob = Array3::<f32>::zeros((m, bins, tracks));
        for (j, row) in (start..end).enumerate() {
            let (sq, mp, r) = who(row);
            xb.index_axis_mut(Axis(0), j).assign(&x.index_axis(Axis(0), sq));
            rb.index_axis_mut(Axis(0), j).assign(&refs.slice(s![sq, r, .., ..]));
            ob.index_axis_mut(Axis(0), j).assign(&objectives_of(sq).index_axis(Axis(0), mp));
        }
        let outs = engine.run_inputs(vec![xb.clone().into_dyn(), rb.clone().into_dyn(), ob.into_dyn()])?;
        if outs.len() != 3 {
            return Err(Error::Engine {
                engine: engine.describe(),
                message: format!("the DeepLIFT graph returned {} outputs, expected 3", outs.len()),
            });
        }
        let mut outs = outs.into_iter();
        let (fy, fr, mult) = match (outs.next(), outs.next(), outs.next()) {
            (Some(a), Some(b), Some(c)) => (a, b, c),
            _ => return Err(Error::Engine { engine: engine.describe(), message: "missing outputs".into() }),
        };
        let fy = take_head(engine, vec![fy], 0, [m, bins, tracks])?;
        let fr = take_head(engine, vec![fr], 0, [m, bins, tracks])?;
        if mult.shape() != [m, l, 4] {
            return Err(Error::Engine {
                engine: engine.describe(),
                message: format!("multipliers of shape {:?}, expected [{m}, {l}, 4]", mult.shape()),
            });
        }
        for (j, row) in (start..end).enumerate() {
            let (sq, mp, _) = who(row);
            let w = objectives_of(sq).slice(s![mp..mp + 1, .., ..]).to_owned();
            let want = objective_values(&fy.slice(s![j..j + 1, .., ..]).to_owned().into_dyn(), &w)[(0, 0)]
                - objective_values(&fr.slice(s![j..j + 1, .., ..]).to_owned().into_dyn(), &w)[(0, 0)];
            let mut sum = 0f32;
            let mut acc = out.slice_mut(s![sq, mp, .., ..]);
            for i in 0..l {
                let (mi, ri, xi) = (mult.slice(s![j, i, ..]), rb.slice(s![j, i, ..]), xb.slice(s![j, i, ..]));
                let proj: f32 = (0..4).map(|c| mi[c] * ri[c]).sum();
                for b in 0..4 {
                    let hyp = mi[b] - proj;
                    sum += hyp * xi[b];
                    acc[(i, b)] += if hypothetical { hyp } else { hyp * xi[b] } / nr as f32;
                }
            }
            worst = worst.max((sum - want).abs());
            scale = scale.max(want.abs());
        }
        start = end;
    }
    let max_delta = if scale > 0.0 { worst / scale } else { worst };
    Ok(DeepLiftOut { maps: out, max_delta })
}
