//! Kernel plots: the effect table as a heatmap with kernels ordered by clustering their effect
//! profiles, and logos of the kernels with the largest effects.

use std::path::Path;

use ndarray::{Array2, ArrayView2};

use crate::error::Result;
use crate::jobs::kernels::pwm::{information, Columns};

pub use crate::io::plot::cluster_order;

/// Writes the kernels × tracks `effect` table as a PNG heatmap (blue negative, red positive,
/// scaled to the largest |effect|), rows in [`cluster_order`].
pub fn effect_heatmap(path: &Path, effect: &Array2<f64>, kernels: &[String], tracks: &[String]) -> Result<()> {
    crate::io::plot::heatmap(
        path,
        effect,
        kernels,
        tracks,
        "kernel knock-out effect (red: the kernel raises the prediction)",
        false,
    )
}

/// Letter heights of a PWM logo: probability × the column's information (bits), `(L, 4)`.
pub fn information_heights(cols: &Columns) -> Array2<f32> {
    let mut out = Array2::<f32>::zeros((cols.len(), 4));
    for (i, c) in cols.iter().enumerate() {
        let ic = information(c);
        for b in 0..4 {
            out[(i, b)] = (c[b] * ic) as f32;
        }
    }
    out
}

/// A logo PNG of one kernel's PWM titled with its best database match.
pub fn kernel_logo(path: &Path, name: &str, cols: &Columns, title: &str) -> Result<()> {
    let h = information_heights(cols);
    let rows: Vec<(String, ArrayView2<f32>)> = vec![(name.to_string(), h.view())];
    crate::jobs::attribute::logo::plot_logos(path, title, &rows, 0..cols.len(), 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clustering_puts_similar_profiles_together() {
        // Rows 0 and 2 share a profile, rows 1 and 3 the opposite one.
        let v =
            Array2::from_shape_vec((4, 3), vec![1.0, 2.0, 3.0, 3.0, 2.0, 1.0, 2.0, 4.0, 6.1, 3.0, 2.1, 1.0]).unwrap();
        let order = cluster_order(&v);
        let mut sorted = order.clone();
        sorted.sort();
        assert_eq!(sorted, vec![0, 1, 2, 3]);
        let pos = |i: usize| order.iter().position(|&x| x == i).unwrap();
        assert_eq!(pos(0).abs_diff(pos(2)), 1);
        assert_eq!(pos(1).abs_diff(pos(3)), 1);
    }

    #[test]
    fn heights_scale_with_information() {
        let h = information_heights(&vec![[1.0, 0.0, 0.0, 0.0], [0.25; 4]]);
        assert!((h[(0, 0)] - 2.0).abs() < 1e-6 && h[(1, 2)].abs() < 1e-6);
    }
}
