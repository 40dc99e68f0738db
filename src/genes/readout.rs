//! Track values at TSSs: the sum of `n` output bins centred on the bin holding the TSS, from a
//! model (one TSS-centred window per site) or from the bigWigs of a genome-wide `s2f predict`.
//!
//! Model path (FT_S2A's `Interval(tss, tss).resize(L)`): the window is `[tss − L/2, tss + L/2)`,
//! N-padded beyond the chromosome, so the TSS base is at window offset `L/2`; with the head's
//! geometry (bin `i` covers `[offset + i·bin_size, +bin_size)`) it lies in bin
//! `c = (L/2 − offset) div bin_size`, and bins `c − (n−1)/2 … c + (n−1)/2` are summed (Basenji2:
//! 131,072 bp, offset 8,192, 128-bp bins → bins 447–449 for n = 3).
//!
//! Tracks path: a genome-wide run tiles each chromosome with bins `[k·bin_size, (k+1)·bin_size)`
//! from base 0; the TSS's bin and its `(n−1)/2` neighbours on each side are read from each
//! bigWig and summed. Where the TSS-centred window's bins fall on the genome tiling, the two paths
//! see the same bins (and, away from window edges, the same predictions); bins past a chromosome
//! end do not exist in a bigWig and add nothing.

use std::ops::Range;
use std::path::{Path, PathBuf};

use ndarray::{s, Array2, Array3, Axis};
use rayon::prelude::*;

use crate::engine::ensemble::{predict_ensemble, Augment};
use crate::engine::Predictor;
use crate::error::{Error, Result};
use crate::genome::fasta::Fasta;
use crate::genome::onehot::{Encoder, Layout};
use crate::genome::Interval;
use crate::model::spec::Geometry;

/// The `n` bins centred on the bin holding window position `input_len / 2`.
pub fn centre_bins(geom: &Geometry, input_len: u64, n: usize) -> Result<Range<usize>> {
    if n == 0 || n % 2 == 0 {
        return Err(Error::InvalidArgument(format!("--bins {n}: use an odd number of bins (1, 3, 5, …)")));
    }
    let at = input_len as i64 / 2 - geom.offset;
    if at < 0 || geom.bin_size == 0 || at as u64 >= geom.bins * geom.bin_size {
        return Err(Error::InvalidArgument(format!(
            "the window centre ({} bp) is not inside the model's output bins ({} bins of {} bp from {})",
            input_len / 2,
            geom.bins,
            geom.bin_size,
            geom.offset
        )));
    }
    let c = (at as u64 / geom.bin_size) as usize;
    let h = (n - 1) / 2;
    if c < h || c + h >= geom.bins as usize {
        return Err(Error::InvalidArgument(format!(
            "--bins {n}: bins {}…{} around the TSS bin {c} are not all among the model's {} bins",
            c as i64 - h as i64,
            c + h,
            geom.bins
        )));
    }
    Ok(c - h..c + h + 1)
}

/// Model predictions at `sites` (chromosome, 0-based TSS): sites × tracks, each the sum of
/// `bins` of the chosen `tracks`. Sites are predicted `chunk` at a time; `progress` gets the
/// number of sites done.
#[allow(clippy::too_many_arguments)]
pub fn predict_sites(
    predictor: &mut Predictor,
    fasta: &mut Fasta,
    sites: &[(String, i64)],
    input_len: u64,
    n_value: f32,
    bins: Range<usize>,
    tracks: &[usize],
    augment: &Augment,
    chunk: usize,
    mut progress: impl FnMut(usize),
) -> Result<Array2<f64>> {
    let enc = Encoder::<f32>::new(n_value)?;
    let len = input_len as usize;
    let mut out = Array2::<f64>::zeros((sites.len(), tracks.len()));
    let mut seq = Vec::with_capacity(len);
    for (c, group) in sites.chunks(chunk.max(1)).enumerate() {
        let mut x = Array3::<f32>::zeros((group.len(), len, 4));
        for (i, (chrom, tss)) in group.iter().enumerate() {
            fasta.fetch_into(&Interval::centred(chrom.clone(), *tss, input_len), &mut seq)?;
            let mut row = x.index_axis_mut(Axis(0), i);
            let buf = row.as_slice_mut().ok_or_else(|| Error::InvalidArgument("one-hot layout".into()))?;
            enc.encode_into(&seq, Layout::LengthFirst, buf)?;
        }
        let y = predict_ensemble(predictor, x.view(), augment)?;
        if bins.end > y.shape()[1] {
            return Err(Error::InvalidArgument(format!("the model returned {} bins, not {}", y.shape()[1], bins.end)));
        }
        if let Some(&t) = tracks.iter().find(|&&t| t >= y.shape()[2]) {
            return Err(Error::InvalidArgument(format!("track {t} does not exist (the head has {})", y.shape()[2])));
        }
        for i in 0..group.len() {
            let part = y.slice(s![i, bins.clone(), ..]);
            for (j, &t) in tracks.iter().enumerate() {
                out[(c * chunk.max(1) + i, j)] = part.column(t).iter().map(|&v| v as f64).sum();
            }
        }
        progress(group.len());
    }
    Ok(out)
}

/// Values at `sites` read from genome-wide bigWigs (one per track): the bin holding each TSS and
/// `(n−1)/2` bins on either side, summed. A TSS that no bin of a track covers is an error
/// naming the file and position (the run did not cover that chromosome).
pub fn track_sites(files: &[PathBuf], sites: &[(String, i64)], n: usize) -> Result<Array2<f64>> {
    if n == 0 || n % 2 == 0 {
        return Err(Error::InvalidArgument(format!("--bins {n}: use an odd number of bins (1, 3, 5, …)")));
    }
    let h = (n - 1) / 2;
    let cols: Vec<Vec<f64>> = files.par_iter().map(|f| track_column(f, sites, h)).collect::<Result<_>>()?;
    let mut out = Array2::<f64>::zeros((sites.len(), files.len()));
    for (j, c) in cols.into_iter().enumerate() {
        out.column_mut(j).assign(&ndarray::Array1::from(c));
    }
    Ok(out)
}

/// The bins of a genome-wide run in one bigWig: the bin holding each TSS (bigtools clips the
/// intervals it returns to the query, so the query grows until the bin lies strictly inside it)
/// and `h` bins on either side, summed.
fn track_column(path: &Path, sites: &[(String, i64)], h: usize) -> Result<Vec<f64>> {
    use bigtools::BigWigRead;
    let mut bw = BigWigRead::open_file(path)
        .map_err(|e| Error::malformed(path, "file", format!("not a readable bigWig: {e}")))?;
    let lens: std::collections::HashMap<String, u32> = bw.chroms().iter().map(|c| (c.name.clone(), c.length)).collect();
    let bad = |chrom: &str, e: String| Error::malformed(path, chrom.to_string(), e);
    let mut out = Vec::with_capacity(sites.len());
    for (chrom, tss) in sites {
        let len = *lens.get(chrom).ok_or_else(|| bad(chrom, format!("no chromosome {chrom} in this bigWig")))?;
        let pos = u32::try_from(*tss)
            .ok()
            .filter(|&p| p < len)
            .ok_or_else(|| bad(chrom, format!("TSS {tss} is outside {chrom}")))?;
        let mut half = 1024u32;
        let (start, end) = loop {
            let (qlo, qhi) = (pos.saturating_sub(half), pos.saturating_add(half).min(len));
            let mut hit = None;
            for v in bw.get_interval(chrom, qlo, qhi).map_err(|e| bad(chrom, format!("{e}")))? {
                let v = v.map_err(|e| bad(chrom, format!("{e}")))?;
                if v.start <= pos && pos < v.end {
                    hit = Some((v.start, v.end));
                }
            }
            let Some((s, e)) = hit else {
                return Err(bad(
                    chrom,
                    format!("no value at the TSS {chrom}:{tss}; was the genome-wide run over {chrom}?"),
                ));
            };
            let clipped = (s == qlo && qlo > 0) || (e == qhi && qhi < len);
            if !clipped {
                break (s, e);
            }
            if half >= 1 << 22 {
                return Err(bad(chrom, format!("the bin at {chrom}:{tss} is wider than 4 Mb")));
            }
            half *= 8;
        };
        let width = end - start;
        let lo = start.saturating_sub(width * h as u32);
        let hi = end.saturating_add(width * h as u32).min(len);
        let mut sum = 0.0;
        for v in bw.get_interval(chrom, lo, hi).map_err(|e| bad(chrom, format!("{e}")))? {
            sum += v.map_err(|e| bad(chrom, format!("{e}")))?.value as f64;
        }
        out.push(sum);
    }
    Ok(out)
}

/// Measured signal at `sites` from bigWigs at base resolution (or any resolution): for each
/// TSS, the bins `[k·bin_size, (k+1)·bin_size)` of the genome tiling from the one holding the TSS
/// and `(n−1)/2` on either side, each the sum over its bases of the signal (value × overlapping
/// bp), summed. Bases without a value count 0; a chromosome the file lacks is an error.
pub fn signal_sites(files: &[PathBuf], sites: &[(String, i64)], bin_size: u64, n: usize) -> Result<Array2<f64>> {
    if n == 0 || n % 2 == 0 || bin_size == 0 {
        return Err(Error::InvalidArgument(format!(
            "--bins {n} --bin-size {bin_size}: use an odd bin count and a bin size ≥ 1"
        )));
    }
    let h = (n - 1) as i64 / 2;
    let bs = bin_size as i64;
    let cols: Vec<Vec<f64>> = files
        .par_iter()
        .map(|path| {
            use bigtools::BigWigRead;
            let mut bw = BigWigRead::open_file(path)
                .map_err(|e| Error::malformed(path, "file", format!("not a readable bigWig: {e}")))?;
            let lens: std::collections::HashMap<String, u32> =
                bw.chroms().iter().map(|c| (c.name.clone(), c.length)).collect();
            let mut out = Vec::with_capacity(sites.len());
            for (chrom, tss) in sites {
                let bad = |e: String| Error::malformed(path, chrom.clone(), e);
                let len = *lens.get(chrom).ok_or_else(|| bad(format!("no chromosome {chrom} in this bigWig")))? as i64;
                let k = tss.div_euclid(bs);
                let lo = ((k - h) * bs).clamp(0, len) as u32;
                let hi = ((k + h + 1) * bs).clamp(0, len) as u32;
                let mut sum = 0.0;
                if hi > lo {
                    for v in bw.get_interval(chrom, lo, hi).map_err(|e| bad(format!("{e}")))? {
                        let v = v.map_err(|e| bad(format!("{e}")))?;
                        let overlap = v.end.min(hi).saturating_sub(v.start.max(lo));
                        if v.value.is_finite() {
                            sum += v.value as f64 * overlap as f64;
                        }
                    }
                }
                out.push(sum);
            }
            Ok(out)
        })
        .collect::<Result<_>>()?;
    let mut out = Array2::<f64>::zeros((sites.len(), files.len()));
    for (j, c) in cols.into_iter().enumerate() {
        out.column_mut(j).assign(&ndarray::Array1::from(c));
    }
    Ok(out)
}
