//! Kernel × track statistics of knock-outs (DRG's `kernel_assessment` tables), from the full
//! predictions P `(N, tracks)` and the differences Δ = P − M_k `(kernels, N, tracks)`.

use ndarray::{Array2, Array3};

use crate::train::trainer::pearson;

/// Σ_i Δ_k,i,t: positive when kernel k raises the prediction of track t (DRG's `_kerneffct`).
pub fn effect(delta: &Array3<f32>) -> Array2<f64> {
    let (k, n, t) = delta.dim();
    Array2::from_shape_fn((k, t), |(j, c)| (0..n).map(|i| delta[(j, i, c)] as f64).sum())
}

/// Σ_i Δ_k,i,t³ / Σ_t′ Δ_k,i,t′² (DRG's cubic-weighted `_kernimpact`); a sequence whose Δ is 0
/// on every track adds nothing (DRG: NaN).
pub fn impact(delta: &Array3<f32>) -> Array2<f64> {
    let (k, n, t) = delta.dim();
    let mut out = Array2::<f64>::zeros((k, t));
    for j in 0..k {
        for i in 0..n {
            let norm: f64 = (0..t).map(|c| (delta[(j, i, c)] as f64).powi(2)).sum();
            if norm > 0.0 {
                for c in 0..t {
                    out[(j, c)] += (delta[(j, i, c)] as f64).powi(3) / norm;
                }
            }
        }
    }
    out
}

/// With measured `y` `(N, tracks)`: (Δr, ΔRMSE) per kernel and track, Δr = r(M_k, Y) − r(P, Y)
/// (Pearson r across sequences; negative when the knock-out hurts) and
/// ΔRMSE = RMSE(M_k, Y) − RMSE(P, Y) (positive when it hurts).
pub fn against_targets(full: &Array2<f32>, delta: &Array3<f32>, y: &Array2<f32>) -> (Array2<f64>, Array2<f64>) {
    let (k, n, t) = delta.dim();
    let col = |a: &Array2<f32>, c: usize| (0..n).map(move |i| a[(i, c)] as f64).collect::<Vec<f64>>();
    let rmse = |p: &[f64], q: &[f64]| (p.iter().zip(q).map(|(a, b)| (a - b).powi(2)).sum::<f64>() / n as f64).sqrt();
    let mut dr = Array2::<f64>::zeros((k, t));
    let mut de = Array2::<f64>::zeros((k, t));
    for c in 0..t {
        let (p, yc) = (col(full, c), col(y, c));
        let (r0, e0) = (pearson(p.iter().copied(), yc.iter().copied()), rmse(&p, &yc));
        for j in 0..k {
            let m: Vec<f64> = (0..n).map(|i| p[i] - delta[(j, i, c)] as f64).collect();
            dr[(j, c)] = pearson(m.iter().copied(), yc.iter().copied()) - r0;
            de[(j, c)] = rmse(&m, &yc) - e0;
        }
    }
    (dr, de)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn effect_impact_and_target_deltas_on_a_small_case() {
        // 1 kernel, 2 sequences, 2 tracks.
        let delta = Array3::from_shape_vec((1, 2, 2), vec![1.0, -2.0, 0.0, 0.0]).unwrap();
        assert_eq!(effect(&delta), Array2::from_shape_vec((1, 2), vec![1.0, -2.0]).unwrap());
        // Sequence 0: (1, −8)/5; sequence 1 adds nothing.
        assert_eq!(impact(&delta), Array2::from_shape_vec((1, 2), vec![0.2, -1.6]).unwrap());
        let full = Array2::from_shape_vec((2, 2), vec![1.0, 1.0, 2.0, 3.0]).unwrap();
        let y = Array2::from_shape_vec((2, 2), vec![1.0, 1.0, 2.0, 3.0]).unwrap();
        let (dr, de) = against_targets(&full, &delta, &y);
        // Track 0: M = (0, 2) vs Y = (1, 2): r stays 1, RMSE grows to √0.5.
        assert!((dr[(0, 0)]).abs() < 1e-12);
        assert!((de[(0, 0)] - 0.5f64.sqrt()).abs() < 1e-12);
        // Track 1: M = (3, 3) has no variance: r is NaN.
        assert!(dr[(0, 1)].is_nan());
    }
}
