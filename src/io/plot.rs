//! Plots shared by the commands (PNG through plotters, DejaVu Sans embedded): clustered
//! heatmaps, histograms and scatter plots. Every plot is drawn into `NAME.partial.png` and renamed
//! into place, so a failed plot never leaves a truncated image.

use std::path::Path;

use ndarray::Array2;
use plotters::prelude::*;

use crate::error::{Error, Result};

/// Leaf order of average-linkage clustering of the rows of `v` under 1 − Pearson r (a row
/// without variance is at distance 1 from every other). O(n³); meant for a few hundred rows.
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
        let mut merged_row: Vec<f64> =
            (0..clusters.len()).map(|k| (d[bi][k] * ni + d[bj][k] * nj) / (ni + nj)).collect();
        let right = clusters.remove(bj);
        clusters[bi].extend(right);
        d.remove(bj);
        for row in d.iter_mut() {
            row.remove(bj);
        }
        merged_row.remove(bj);
        for (k, v) in merged_row.iter().enumerate() {
            d[bi][k] = *v;
            d[k][bi] = *v;
        }
        d[bi][bi] = 0.0;
    }
    clusters.pop().unwrap_or_default()
}

/// An error of plotters as an I/O error naming the image.
pub fn plot_err(path: &Path, e: impl std::fmt::Display) -> Error {
    Error::io(path, std::io::Error::other(e.to_string()))
}

/// Draws into `path.partial.png` with `draw`, then renames it to `path`.
pub fn draw_png<F>(path: &Path, size: (u32, u32), draw: F) -> Result<()>
where
    F: FnOnce(&DrawingArea<BitMapBackend<'_>, plotters::coord::Shift>) -> Result<()>,
{
    crate::io::font::register_font();
    let tmp = path.with_extension("partial.png");
    {
        let root = BitMapBackend::new(&tmp, size).into_drawing_area();
        root.fill(&WHITE).map_err(|e| plot_err(path, e))?;
        draw(&root)?;
        root.present().map_err(|e| plot_err(path, e))?;
    }
    std::fs::rename(&tmp, path).map_err(|e| Error::io(path, e))
}

/// A rows × columns heatmap (blue negative, red positive, scaled to the largest |value|), rows
/// in [`cluster_order`], and columns too when `cluster_columns`. Labels are drawn where cells are
/// large enough to hold them.
pub fn heatmap(
    path: &Path,
    values: &Array2<f64>,
    rows: &[String],
    cols: &[String],
    title: &str,
    cluster_columns: bool,
) -> Result<()> {
    let (k, t) = values.dim();
    if k == 0 || t == 0 {
        return Err(Error::InvalidArgument("an empty table has no heatmap".into()));
    }
    let order = cluster_order(values);
    let col_order: Vec<usize> = if cluster_columns { cluster_order(&values.t().to_owned()) } else { (0..t).collect() };
    let scale = values.iter().fold(0f64, |m, v| m.max(v.abs())).max(f64::MIN_POSITIVE);
    let (cell_w, cell_h) = ((1200 / t as u32).clamp(2, 40), (2400 / k as u32).clamp(3, 20));
    // Column labels, when they fit, run upwards above their column.
    let top: i32 = if cell_w >= 10 { 150 } else { 60 };
    let (w, h) = (160 + cell_w * t as u32, top as u32 + 20 + cell_h * k as u32);
    draw_png(path, (w.max(900), h), |root| {
        for (row, &kk) in order.iter().enumerate() {
            for (c, &cc) in col_order.iter().enumerate() {
                let v = (values[(kk, cc)] / scale).clamp(-1.0, 1.0);
                let shade = (255.0 * (1.0 - v.abs())) as u8;
                let colour = if v >= 0.0 { RGBColor(255, shade, shade) } else { RGBColor(shade, shade, 255) };
                let (x0, y0) = (150 + c as i32 * cell_w as i32, top + row as i32 * cell_h as i32);
                root.draw(&Rectangle::new([(x0, y0), (x0 + cell_w as i32, y0 + cell_h as i32)], colour.filled()))
                    .map_err(|e| plot_err(path, e))?;
            }
            if cell_h >= 8 {
                let label = rows.get(kk).map(String::as_str).unwrap_or("");
                root.draw_text(
                    label,
                    &("sans-serif", 10).into_font().color(&BLACK),
                    (4, top + row as i32 * cell_h as i32),
                )
                .map_err(|e| plot_err(path, e))?;
            }
        }
        if cell_w >= 10 {
            let font = ("sans-serif", 9).into_font().transform(FontTransform::Rotate270).color(&BLACK);
            for (c, &cc) in col_order.iter().enumerate() {
                let name: String = cols.get(cc).map(String::as_str).unwrap_or("").chars().take(22).collect();
                root.draw_text(&name, &font, (150 + c as i32 * cell_w as i32 + cell_w as i32 / 2 - 5, top - 4))
                    .map_err(|e| plot_err(path, e))?;
            }
        }
        let title = format!("{title} (max |value| {scale:.3})");
        root.draw_text(&title, &("sans-serif", 14).into_font().color(&BLACK), (10, 10))
            .map_err(|e| plot_err(path, e))?;
        Ok(())
    })
}

/// Side-by-side histograms (20 bins over the finite values) of each named series, titled with
/// the series' mean.
pub fn histograms(path: &Path, series: &[(&str, &[f64])]) -> Result<()> {
    let n = series.len().max(1) as u32;
    draw_png(path, (480 * n, 380), |root| {
        for (area, (name, values)) in root.split_evenly((1, n as usize)).iter().zip(series) {
            let finite: Vec<f64> = values.iter().copied().filter(|v| v.is_finite()).collect();
            let mean = finite.iter().sum::<f64>() / finite.len().max(1) as f64;
            let (lo, hi) = finite.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &v| (a.min(v), b.max(v)));
            let (lo, hi) = if lo.is_finite() && hi > lo { (lo, hi) } else { (-1.0, 1.0) };
            let bins = 20usize;
            let width = (hi - lo) / bins as f64;
            let mut counts = vec![0u32; bins];
            for v in &finite {
                counts[(((v - lo) / width) as usize).min(bins - 1)] += 1;
            }
            let top = counts.iter().copied().max().unwrap_or(1).max(1);
            let mut chart = ChartBuilder::on(area)
                .caption(format!("{name}: mean {mean:.3} (n = {})", finite.len()), ("sans-serif", 15))
                .margin(12)
                .x_label_area_size(30)
                .y_label_area_size(40)
                .build_cartesian_2d(lo..hi, 0u32..top + top / 10 + 1)
                .map_err(|e| plot_err(path, e))?;
            chart.configure_mesh().disable_mesh().draw().map_err(|e| plot_err(path, e))?;
            chart
                .draw_series(counts.iter().enumerate().map(|(i, &c)| {
                    let x0 = lo + i as f64 * width;
                    Rectangle::new([(x0, 0), (x0 + width, c)], BLUE.mix(0.6).filled())
                }))
                .map_err(|e| plot_err(path, e))?;
        }
        Ok(())
    })
}

/// A scatter of `(x, y)` points (non-finite ones left out) with the y = x line, titled with
/// their Pearson r.
pub fn scatter(path: &Path, x: &[f64], y: &[f64], title: &str, x_label: &str, y_label: &str) -> Result<()> {
    let pts: Vec<(f64, f64)> =
        x.iter().zip(y).map(|(&a, &b)| (a, b)).filter(|(a, b)| a.is_finite() && b.is_finite()).collect();
    let (lo, hi) =
        pts.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(l, h), &(a, b)| (l.min(a).min(b), h.max(a).max(b)));
    let (lo, hi) = if lo.is_finite() && hi > lo { (lo, hi) } else { (0.0, 1.0) };
    let xs = ndarray::Array1::from_iter(pts.iter().map(|p| p.0));
    let ys = ndarray::Array1::from_iter(pts.iter().map(|p| p.1));
    let r = crate::genes::stats::pearson(xs.view(), ys.view());
    draw_png(path, (560, 560), |root| {
        let mut chart = ChartBuilder::on(root)
            .caption(format!("{title} (r = {r:.3}, n = {})", pts.len()), ("sans-serif", 15))
            .margin(14)
            .x_label_area_size(40)
            .y_label_area_size(50)
            .build_cartesian_2d(lo..hi, lo..hi)
            .map_err(|e| plot_err(path, e))?;
        chart.configure_mesh().x_desc(x_label).y_desc(y_label).draw().map_err(|e| plot_err(path, e))?;
        chart.draw_series(LineSeries::new([(lo, lo), (hi, hi)], BLACK.mix(0.4))).map_err(|e| plot_err(path, e))?;
        let alpha = if pts.len() > 5000 { 0.15 } else { 0.5 };
        chart
            .draw_series(pts.iter().map(|&p| Circle::new(p, 2, BLUE.mix(alpha).filled())))
            .map_err(|e| plot_err(path, e))?;
        Ok(())
    })
}
