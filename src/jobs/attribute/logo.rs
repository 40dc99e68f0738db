//! Sequence-logo plots of attribution maps (DRG's across-tracks attribution plot): one row per
//! map, each position a stack of the letters A, C, G, T whose heights are the absolute
//! attributions; positive values stack upwards from 0, negative ones downwards.
//!
//! Letters are vector glyphs (unions of simple polygons in a unit box) scaled to one position
//! wide and |value| tall, so their height encodes the value. Text uses the embedded DejaVu Sans,
//! so no system fonts are needed. The PNG is written under a temporary name in the destination's
//! folder and renamed when complete.

use std::ops::Range;
use std::path::Path;

use ndarray::ArrayView2;
use plotters::prelude::*;

use crate::error::{Error, Result};

/// Letter colours, A, C, G, T (the classic logo palette).
const COLOURS: [RGBColor; 4] =
    [RGBColor(0x10, 0x96, 0x48), RGBColor(0x25, 0x5C, 0x99), RGBColor(0xF7, 0xB3, 0x2B), RGBColor(0xD6, 0x28, 0x39)];
/// Pixels per position, and the image width limits.
const PX_PER_POSITION: usize = 12;
const MIN_WIDTH: u32 = 800;
const MAX_WIDTH: u32 = 4000;
/// Pixels per row, and for the title.
const ROW_HEIGHT: u32 = 180;
const TITLE_HEIGHT: u32 = 40;

/// Points of an elliptical band centred in the unit box, from angle `a0` to `a1` (degrees,
/// counter-clockwise from the right): the outer arc, then the inner arc backwards.
fn arc_band(a0: f64, a1: f64) -> Vec<(f64, f64)> {
    const STEPS: usize = 24;
    let (outer, inner) = ((0.5, 0.5), (0.29, 0.31));
    let at = |(rx, ry): (f64, f64), i: usize| {
        let a = (a0 + (a1 - a0) * i as f64 / STEPS as f64).to_radians();
        (0.5 + rx * a.cos(), 0.5 + ry * a.sin())
    };
    (0..=STEPS).map(|i| at(outer, i)).chain((0..=STEPS).rev().map(|i| at(inner, i))).collect()
}

fn rect(x0: f64, y0: f64, x1: f64, y1: f64) -> Vec<(f64, f64)> {
    vec![(x0, y0), (x1, y0), (x1, y1), (x0, y1)]
}

/// The glyph of base `b` (0..4 = A, C, G, T) as simple polygons in the unit box (x right, y up);
/// the letter is their union. An unknown index gives no polygons.
fn glyph(b: usize) -> Vec<Vec<(f64, f64)>> {
    match b {
        // Two slanted legs meeting at the top, and a crossbar (leaving a triangular hole).
        0 => vec![
            vec![(0.0, 0.0), (0.2, 0.0), (0.6, 1.0), (0.4, 1.0)],
            vec![(0.8, 0.0), (1.0, 0.0), (0.6, 1.0), (0.4, 1.0)],
            rect(0.25, 0.28, 0.75, 0.43),
        ],
        // An elliptical band open to the right.
        1 => vec![arc_band(40.0, 320.0)],
        // The band, closed down to the right middle, and a bar pointing inwards.
        2 => vec![arc_band(40.0, 360.0), rect(0.55, 0.4, 1.0, 0.55)],
        // Top bar and stem.
        3 => vec![rect(0.0, 0.82, 1.0, 1.0), rect(0.4, 0.0, 0.6, 0.82)],
        _ => Vec::new(),
    }
}

/// Finite value, or 0.
fn finite(v: f32) -> f64 {
    if v.is_finite() {
        v as f64
    } else {
        0.0
    }
}

/// The span holding most of the signal: the shortest range of positions whose summed
/// |attribution| over all rows (non-finite values count as 0) is at least `fraction` (clamped to
/// 0..=1; NaN counts as 1) of the total, and holds some signal; widened by `pad` on each side
/// and clipped to the sequence. Returns `0..L` (L the longest row) when the total is 0. Among
/// equally short ranges, the leftmost.
pub fn signal_span(rows: &[(String, ArrayView2<f32>)], fraction: f64, pad: usize) -> Range<usize> {
    let len = rows.iter().map(|(_, m)| m.nrows()).max().unwrap_or(0);
    let mut per_pos = vec![0.0f64; len];
    for (_, map) in rows {
        for (p, row) in map.outer_iter().enumerate() {
            per_pos[p] += row.iter().map(|&v| finite(v).abs()).sum::<f64>();
        }
    }
    let mut prefix = Vec::with_capacity(len + 1);
    prefix.push(0.0f64);
    for s in &per_pos {
        prefix.push(prefix[prefix.len() - 1] + s);
    }
    let total = prefix[len];
    if !(total > 0.0) || !total.is_finite() {
        return 0..len;
    }
    let fraction = if fraction.is_nan() { 1.0 } else { fraction.clamp(0.0, 1.0) };
    // Tolerance for the rounding of prefix differences.
    let target = fraction * total - 1e-9 * total;
    let ok = |i: usize, j: usize| prefix[j] - prefix[i] >= target && prefix[j] - prefix[i] > 0.0;
    let mut best = 0..len;
    let mut i = 0;
    for j in 1..=len {
        while i + 1 < j && ok(i + 1, j) {
            i += 1;
        }
        if ok(i, j) && j - i < best.len() {
            best = i..j;
        }
    }
    best.start.saturating_sub(pad)..best.end.saturating_add(pad).min(len)
}

/// Stacks of one position: (base, bottom, top) for each nonzero letter, positive values upwards
/// from 0 and negative ones downwards, the largest magnitude farthest from the axis.
fn stacks(values: [f64; 4]) -> Vec<(usize, f64, f64)> {
    let mut order: Vec<usize> = (0..4).filter(|&b| values[b] != 0.0).collect();
    order.sort_by(|&a, &b| values[a].abs().total_cmp(&values[b].abs()));
    let (mut up, mut down) = (0.0, 0.0);
    let mut out = Vec::with_capacity(order.len());
    for b in order {
        let v = values[b];
        if v > 0.0 {
            out.push((b, up, up + v));
            up += v;
        } else {
            out.push((b, down + v, down));
            down += v;
        }
    }
    out
}

/// The y range of a row: the largest positive and negative stacks, each at least 15% of the
/// larger, with a 8% margin (−1..1 for an empty row).
fn y_range(per_pos: &[[f64; 4]]) -> (f64, f64) {
    let (mut hi, mut lo) = (0.0f64, 0.0f64);
    for v in per_pos {
        hi = hi.max(v.iter().filter(|x| **x > 0.0).sum());
        lo = lo.max(-v.iter().filter(|x| **x < 0.0).sum::<f64>());
    }
    let top = hi.max(lo);
    if !(top > 0.0) || !top.is_finite() {
        return (-1.0, 1.0);
    }
    (-lo.max(0.15 * top) * 1.08, hi.max(0.15 * top) * 1.08)
}

/// One PNG: one row per map (track), each a sequence logo of `maps[m]` (L×4 values, positions
/// then A, C, G, T) over positions `range`: at each position the letters are stacked, each
/// letter's height = |value|, positive values stacked upwards from 0 and negative ones downwards
/// from 0 (so a letter below the axis is negative). Rows are labelled with their names; x-axis
/// labels are positions plus `offset_label` (e.g. the genomic start). Non-finite values are
/// drawn as 0. Width is ~12 px per position (800 to 4000 px), ~180 px per row.
///
/// Errors: no rows, a map without 4 columns, an empty range or one past a map's end
/// ([`Error::InvalidArgument`]); the file not writable or a drawing failure ([`Error::Io`] on
/// `path`).
pub fn plot_logos(
    path: &Path,
    title: &str,
    rows: &[(String, ArrayView2<f32>)],
    range: Range<usize>,
    offset_label: i64,
) -> Result<()> {
    if rows.is_empty() {
        return Err(Error::InvalidArgument(format!("{}: no attribution maps to plot", path.display())));
    }
    if range.is_empty() {
        return Err(Error::InvalidArgument(format!("{}: empty position range {range:?}", path.display())));
    }
    for (name, map) in rows {
        if map.ncols() != 4 || range.end > map.nrows() {
            return Err(Error::InvalidArgument(format!(
                "{}: map {name:?} is {}×{}; needs 4 columns (A, C, G, T) and positions {range:?}",
                path.display(),
                map.nrows(),
                map.ncols()
            )));
        }
    }
    crate::io::font::register_font();
    let n = range.len();
    let width = (n.saturating_mul(PX_PER_POSITION).saturating_add(120)).clamp(MIN_WIDTH as usize, MAX_WIDTH as usize);
    let height = u32::try_from(rows.len())
        .ok()
        .and_then(|r| r.checked_mul(ROW_HEIGHT))
        .and_then(|h| h.checked_add(TITLE_HEIGHT))
        .ok_or_else(|| Error::InvalidArgument(format!("{}: too many rows ({})", path.display(), rows.len())))?;

    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => std::path::PathBuf::from("."),
    };
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    // The bitmap encoder picks the format from the extension, so the temporary name ends in .png.
    let tmp = tempfile::Builder::new()
        .prefix(&format!(".{name}."))
        .suffix(".partial.png")
        .tempfile_in(&dir)
        .map_err(|e| Error::io(path, e))?;

    let draw = || -> std::result::Result<(), Box<dyn std::error::Error>> {
        let root = BitMapBackend::new(tmp.path(), (width as u32, height)).into_drawing_area();
        root.fill(&WHITE)?;
        let body = root.titled(title, ("sans-serif", 22))?;
        let (x_lo, x_hi) = (range.start as f64 - 0.5, range.end as f64 - 0.5);
        let n_labels = n.min(width / 90).max(1);
        let fmt = |x: &f64| {
            if (x - x.round()).abs() < 1e-6 {
                format!("{}", x.round() as i64 + offset_label)
            } else {
                String::new()
            }
        };
        for ((name, map), area) in rows.iter().zip(body.split_evenly((rows.len(), 1))) {
            let per_pos: Vec<[f64; 4]> = map
                .slice(ndarray::s![range.clone(), ..])
                .outer_iter()
                .map(|r| [finite(r[0]), finite(r[1]), finite(r[2]), finite(r[3])])
                .collect();
            let (y_lo, y_hi) = y_range(&per_pos);
            let mut chart = ChartBuilder::on(&area)
                .caption(name, ("sans-serif", 16))
                .margin(6)
                .x_label_area_size(26)
                .y_label_area_size(70)
                .build_cartesian_2d(x_lo..x_hi, y_lo..y_hi)?;
            chart
                .configure_mesh()
                .disable_x_mesh()
                .disable_y_mesh()
                .x_labels(n_labels)
                .x_label_formatter(&fmt)
                .y_labels(5)
                .label_style(("sans-serif", 13))
                .draw()?;
            let mut letters = Vec::new();
            for (k, values) in per_pos.iter().enumerate() {
                let x0 = (range.start + k) as f64 - 0.5;
                for (b, bottom, top) in stacks(*values) {
                    for poly in glyph(b) {
                        let pts: Vec<(f64, f64)> =
                            poly.iter().map(|&(gx, gy)| (x0 + gx, bottom + gy * (top - bottom))).collect();
                        letters.push(Polygon::new(pts, COLOURS[b].filled()));
                    }
                }
            }
            chart.draw_series(letters)?;
            chart.draw_series(std::iter::once(PathElement::new(vec![(x_lo, 0.0), (x_hi, 0.0)], BLACK)))?;
        }
        root.present()?;
        Ok(())
    };
    draw().map_err(|e| Error::io(path, std::io::Error::other(format!("drawing sequence logos: {e}"))))?;
    // Temporary files are created private (0600); a finished output gets the usual 0644.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(tmp.path(), std::fs::Permissions::from_mode(0o644)).map_err(|e| Error::io(path, e))?;
    }
    tmp.persist(path).map_err(|e| Error::io(path, e.error))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::Array2;

    fn rows(maps: &[Array2<f32>]) -> Vec<(String, ArrayView2<'_, f32>)> {
        maps.iter().enumerate().map(|(i, m)| (format!("track {i}"), m.view())).collect()
    }

    #[test]
    fn signal_span_finds_the_concentrated_region() {
        let mut a = Array2::<f32>::zeros((100, 4));
        let mut b = Array2::<f32>::zeros((100, 4));
        for p in 40..50 {
            a[[p, p % 4]] = 1.0;
            b[[p, 0]] = -0.5;
        }
        a[[5, 2]] = 0.01; // a little noise outside
        let maps = [a, b];
        assert_eq!(signal_span(&rows(&maps), 0.9, 3), 37..53);
        assert_eq!(signal_span(&rows(&maps), 0.9, 0), 40..50);
        // All the signal, noise included.
        assert_eq!(signal_span(&rows(&maps), 1.0, 0), 5..50);
    }

    #[test]
    fn signal_span_all_zero_is_full_range_and_pad_clips() {
        let z = [Array2::<f32>::zeros((30, 4))];
        assert_eq!(signal_span(&rows(&z), 0.9, 5), 0..30);
        assert_eq!(signal_span(&[], 0.9, 5), 0..0);
        let mut a = Array2::<f32>::zeros((30, 4));
        a[[1, 0]] = 2.0;
        a[[28, 3]] = f32::NAN;
        a[[29, 3]] = -2.0;
        let maps = [a];
        assert_eq!(signal_span(&rows(&maps), 0.5, 4), 0..6);
        assert_eq!(signal_span(&rows(&maps), 1.0, 4), 0..30);
    }

    #[test]
    fn stacks_put_the_largest_farthest_from_the_axis() {
        let s = stacks([0.5, -0.2, 1.0, -0.7]);
        assert_eq!(s, vec![(1, -0.2, 0.0), (0, 0.0, 0.5), (3, -0.8999999999999999, -0.2), (2, 0.5, 1.5)]);
        assert_eq!(y_range(&[[0.0; 4]]), (-1.0, 1.0));
        let (lo, hi) = y_range(&[[1.0, 0.0, 0.0, 0.0]]);
        assert!(lo < 0.0 && hi > 1.0);
    }

    #[test]
    fn glyphs_lie_in_the_unit_box() {
        for b in 0..4 {
            let g = glyph(b);
            assert!(!g.is_empty());
            for poly in g {
                assert!(poly.len() >= 3);
                for (x, y) in poly {
                    assert!((-1e-12..=1.0 + 1e-12).contains(&x) && (-1e-12..=1.0 + 1e-12).contains(&y), "{b}: {x},{y}");
                }
            }
        }
        assert!(glyph(4).is_empty());
    }

    #[test]
    fn plot_logos_writes_a_png() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("logo.png");
        let a = Array2::from_shape_fn((60, 4), |(p, b)| ((p * 7 + b * 3) % 11) as f32 / 10.0 - 0.5);
        let b = Array2::from_shape_fn((60, 4), |(p, b)| if b == p % 4 { -(p as f32) / 60.0 } else { 0.01 });
        let maps = [a, b];
        plot_logos(&out, "attributions", &rows(&maps), 10..50, 1_000_000).unwrap();
        let bytes = std::fs::read(&out).unwrap();
        assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n");
        assert!(bytes.len() > 5_000, "{} bytes", bytes.len());
        let w = u32::from_be_bytes([bytes[16], bytes[17], bytes[18], bytes[19]]);
        let h = u32::from_be_bytes([bytes[20], bytes[21], bytes[22], bytes[23]]);
        assert_eq!((w, h), (MIN_WIDTH, 2 * ROW_HEIGHT + TITLE_HEIGHT));
        // Only the finished file is left.
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
        // Bad input is an error, not a panic.
        assert!(plot_logos(&out, "t", &rows(&maps), 10..61, 0).is_err());
        assert!(plot_logos(&out, "t", &rows(&maps), 10..10, 0).is_err());
        assert!(plot_logos(&out, "t", &[], 0..1, 0).is_err());
    }
}
