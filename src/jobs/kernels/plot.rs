//! Kernel plots: the effect table as a heatmap with kernels ordered by clustering their effect
//! profiles, and logos of the kernels with the largest effects.

use std::path::Path;

use ndarray::{Array2, ArrayView2};
use plotters::prelude::*;

use crate::error::{Error, Result};
use crate::jobs::kernels::pwm::{information, Columns};

/// Leaf order of average-linkage clustering of the rows of `v` under 1 − Pearson r (a row
/// without variance is at distance 1 from every other). O(n³); meant for a few hundred kernels.
pub fn cluster_order(v: &Array2<f64>) -> Vec<usize> {
    let n = v.nrows();
    let centred: Vec<Vec<f64>> = v
        .outer_iter()
        .map(|r| {
            let m = r.mean().unwrap_or(0.0);
            let c: Vec<f64> = r.iter().map(|x| x - m).collect();
            let s = c.iter().map(|x| x * x).sum::<f64>().sqrt();
            c.into_iter().map(|x| if s > 0.0 { x / s } else { 0.0 }).collect()
        })
        .collect();
    let dist = |a: usize, b: usize| 1.0 - centred[a].iter().zip(&centred[b]).map(|(x, y)| x * y).sum::<f64>();
    // Each cluster: its leaves in order.
    let mut clusters: Vec<Vec<usize>> = (0..n).map(|i| vec![i]).collect();
    let mut d: Vec<Vec<f64>> = (0..n).map(|i| (0..n).map(|j| dist(i, j)).collect()).collect();
    while clusters.len() > 1 {
        let (mut bi, mut bj, mut best) = (0, 1, f64::INFINITY);
        for i in 0..clusters.len() {
            for j in i + 1..clusters.len() {
                if d[i][j] < best {
                    (bi, bj, best) = (i, j, d[i][j]);
                }
            }
        }
        let (ni, nj) = (clusters[bi].len() as f64, clusters[bj].len() as f64);
        let merged_row: Vec<f64> = (0..clusters.len()).map(|k| (d[bi][k] * ni + d[bj][k] * nj) / (ni + nj)).collect();
        let right = clusters.remove(bj);
        clusters[bi].extend(right);
        d.remove(bj);
        for row in d.iter_mut() {
            row.remove(bj);
        }
        let mut merged_row = merged_row;
        merged_row.remove(bj);
        for (k, v) in merged_row.iter().enumerate() {
            d[bi][k] = *v;
            d[k][bi] = *v;
        }
        d[bi][bi] = 0.0;
    }
    clusters.pop().unwrap_or_default()
}

fn plot_err(path: &Path, e: impl std::fmt::Display) -> Error {
    Error::io(path, std::io::Error::other(e.to_string()))
}

/// Writes the kernels × tracks `effect` table as a PNG heatmap (blue negative, red positive,
/// scaled to the largest |effect|), rows in [`cluster_order`].
pub fn effect_heatmap(path: &Path, effect: &Array2<f64>, kernels: &[String], tracks: &[String]) -> Result<()> {
    let (k, t) = effect.dim();
    if k == 0 || t == 0 {
        return Err(Error::InvalidArgument("an empty effect table has no heatmap".into()));
    }
    let order = cluster_order(effect);
    let scale = effect.iter().fold(0f64, |m, v| m.max(v.abs())).max(f64::MIN_POSITIVE);
    let (cell_w, cell_h) = ((900 / t as u32).clamp(6, 40), (2400 / k as u32).clamp(3, 20));
    let (w, h) = (160 + cell_w * t as u32, 80 + cell_h * k as u32);
    crate::io::font::register_font();
    let tmp = path.with_extension("partial.png");
    {
        let root = BitMapBackend::new(&tmp, (w, h)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| plot_err(path, e))?;
        for (row, &kk) in order.iter().enumerate() {
            for c in 0..t {
                let v = (effect[(kk, c)] / scale).clamp(-1.0, 1.0);
                let shade = (255.0 * (1.0 - v.abs())) as u8;
                let colour = if v >= 0.0 { RGBColor(255, shade, shade) } else { RGBColor(shade, shade, 255) };
                let (x0, y0) = (150 + c as i32 * cell_w as i32, 60 + row as i32 * cell_h as i32);
                root.draw(&Rectangle::new([(x0, y0), (x0 + cell_w as i32, y0 + cell_h as i32)], colour.filled()))
                    .map_err(|e| plot_err(path, e))?;
            }
            if cell_h >= 8 {
                let label = kernels.get(kk).map(String::as_str).unwrap_or("");
                root.draw_text(
                    label,
                    &("sans-serif", 10).into_font().color(&BLACK),
                    (4, 60 + row as i32 * cell_h as i32),
                )
                .map_err(|e| plot_err(path, e))?;
            }
        }
        for (c, name) in tracks.iter().enumerate().take(t) {
            if cell_w >= 10 {
                root.draw_text(
                    name,
                    &("sans-serif", 9).into_font().color(&BLACK),
                    (150 + c as i32 * cell_w as i32, 44),
                )
                .map_err(|e| plot_err(path, e))?;
            }
        }
        let title = format!("kernel knock-out effect (red: the kernel raises the prediction; max |effect| {scale:.3})");
        root.draw_text(&title, &("sans-serif", 14).into_font().color(&BLACK), (150, 10))
            .map_err(|e| plot_err(path, e))?;
        root.present().map_err(|e| plot_err(path, e))?;
    }
    std::fs::rename(&tmp, path).map_err(|e| Error::io(path, e))
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
