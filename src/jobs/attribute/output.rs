//! Attribution outputs besides `attributions.npz`: tfmodisco-lite's inputs and logo plots.

use std::path::Path;

use ndarray::{Array3, Array4, Axis};

use crate::error::Result;
use crate::io::npy::NpzWriter;
use crate::jobs::attribute::logo::{plot_logos, signal_span};

/// Writes tfmodisco-lite's inputs into `dir`: `ohe.npz` (member `arr_0`, the one-hot `(N, 4, L)`)
/// and `shap.npz` (member `arr_0`, the attributions `(N, 4, L)`) when there is one map, else
/// one `shap_<k>.npz` per map `k` (its track identifier in `track_ids[k]`, recorded in
/// `shap_maps.tsv`). Each file is written atomically.
pub fn write_modisco(dir: &Path, x: &Array3<f32>, maps: &Array4<f32>, track_ids: &[String]) -> Result<()> {
    let channels_first = |a: ndarray::ArrayView3<f32>| a.permuted_axes([0, 2, 1]).as_standard_layout().into_owned();
    let ohe = channels_first(x.view());
    let mut w = NpzWriter::create(dir.join("ohe.npz"))?;
    w.add("arr_0", ohe.shape(), ohe.as_slice().unwrap_or(&[]))?;
    w.finish()?;
    let n_maps = maps.shape()[1];
    let mut table = String::from("file\tmap\ttrack\n");
    for k in 0..n_maps {
        let a = channels_first(maps.index_axis(Axis(1), k));
        let name = if n_maps == 1 { "shap.npz".to_string() } else { format!("shap_{k}.npz") };
        let mut w = NpzWriter::create(dir.join(&name))?;
        w.add("arr_0", a.shape(), a.as_slice().unwrap_or(&[]))?;
        w.finish()?;
        table.push_str(&format!("{name}\t{k}\t{}\n", track_ids.get(k).map(String::as_str).unwrap_or("")));
    }
    crate::io::atomic::write_atomic(dir.join("shap_maps.tsv"), |f| std::io::Write::write_all(f, table.as_bytes()))
}

/// One logo PNG per sequence for the first `max` sequences, in `dir/plots/`: `<i>_<name>.png`
/// with one row per map. With `trim`, each plot shows the shortest span holding that fraction
/// of the sequence's |attribution| (10 bp added on each side).
pub fn plot_sequences(
    dir: &Path,
    maps: &Array4<f32>,
    names: &[String],
    track_ids: &[String],
    max: usize,
    trim: Option<f64>,
) -> Result<()> {
    let plots = dir.join("plots");
    std::fs::create_dir_all(&plots).map_err(|e| crate::error::Error::io(&plots, e))?;
    let (n, n_maps, l, _) = maps.dim();
    for s in 0..n.min(max) {
        let seq = maps.index_axis(Axis(0), s);
        let rows: Vec<(String, ndarray::ArrayView2<f32>)> = (0..n_maps)
            .map(|k| (track_ids.get(k).cloned().unwrap_or_else(|| k.to_string()), seq.index_axis(Axis(0), k)))
            .collect();
        let range = match trim {
            Some(f) => signal_span(&rows, f, 10),
            None => 0..l,
        };
        let name = names.get(s).cloned().unwrap_or_else(|| format!("seq{s}"));
        let safe: String =
            name.chars().map(|c| if c.is_ascii_alphanumeric() || "-_.".contains(c) { c } else { '_' }).collect();
        plot_logos(&plots.join(format!("{s}_{safe}.png")), &name, &rows, range, 0)?;
    }
    Ok(())
}
