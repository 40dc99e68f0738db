//! Values at TSSs read from bigWigs, over the same genome span the model path sums
//! ([`crate::genes::readout`]): with `h = (n−1)/2` bins of width `w` on either side of the bin
//! holding the TSS, which starts `anchor` bases before it, the span
//! `R = [tss − anchor − h·w, tss − anchor + (h+1)·w)`.
//!
//! - Predicted tracks of a genome-wide `s2f predict` ([`track_sites`]): bins tile each
//!   chromosome from base 0 (`[k·w, (k+1)·w)`, the last one clipped to the chromosome). Each bin
//!   contributes its value times the fraction of it inside `R`, so where the tiling and `R` align
//!   (the TSS `anchor` bases into a tiled bin) the sum is exactly the sum of `n` bins, and
//!   elsewhere the bins are weighted by overlap. The bin width is read from the file.
//! - Measured signal ([`signal_sites`]): the sum over the bases of `R` of the signal (value ×
//!   overlapping bases); bases without a value count 0.
//!
//! Bases of `R` outside the chromosome add nothing. A chromosome the file lacks is an error
//! naming the file; a TSS that no bin of a predicted track covers (an assembly gap the run
//! skipped) gets NaN, for the caller to report.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use bigtools::BigWigRead;
use ndarray::Array2;
use rayon::prelude::*;

use crate::error::{Error, Result};

fn check_n(n: usize) -> Result<u32> {
    if n == 0 || n.is_multiple_of(2) {
        return Err(Error::InvalidArgument(format!("--bins {n}: use an odd number of bins (1, 3, 5, …)")));
    }
    Ok(((n - 1) / 2) as u32)
}

/// One column per file (in parallel over files), as a sites × files matrix.
fn per_file<F>(files: &[PathBuf], sites: &[(String, i64)], column: F) -> Result<Array2<f64>>
where
    F: Fn(&Path) -> Result<Vec<f64>> + Sync,
{
    let cols: Vec<Vec<f64>> = files.par_iter().map(|f| column(f)).collect::<Result<_>>()?;
    let mut out = Array2::<f64>::zeros((sites.len(), files.len()));
    for (j, c) in cols.into_iter().enumerate() {
        out.column_mut(j).assign(&ndarray::Array1::from(c));
    }
    Ok(out)
}

struct Reader<'a> {
    path: &'a Path,
    bw: BigWigRead<bigtools::utils::reopen::ReopenableFile>,
    lens: HashMap<String, u32>,
}

impl<'a> Reader<'a> {
    fn open(path: &'a Path) -> Result<Self> {
        let bw = BigWigRead::open_file(path)
            .map_err(|e| Error::malformed(path, "file", format!("not a readable bigWig: {e}")))?;
        let lens = bw.chroms().iter().map(|c| (c.name.clone(), c.length)).collect();
        Ok(Self { path, bw, lens })
    }

    fn bad(&self, chrom: &str, m: String) -> Error {
        Error::malformed(self.path, chrom.to_string(), m)
    }

    fn len(&self, chrom: &str) -> Result<u32> {
        self.lens.get(chrom).copied().ok_or_else(|| self.bad(chrom, format!("no chromosome {chrom} in this bigWig")))
    }

    /// Intervals overlapping `[lo, hi)`, clipped to it (bigtools' behaviour).
    fn query(&mut self, chrom: &str, lo: u32, hi: u32) -> Result<Vec<(u32, u32, f32)>> {
        if hi <= lo {
            return Ok(Vec::new());
        }
        let path = self.path;
        let it = self
            .bw
            .get_interval(chrom, lo, hi)
            .map_err(|e| Error::malformed(path, chrom.to_string(), format!("{e}")))?;
        it.map(|v| {
            v.map(|v| (v.start, v.end, v.value)).map_err(|e| Error::malformed(path, chrom.to_string(), format!("{e}")))
        })
        .collect()
    }
}

/// The span `R` clipped to `[0, len)`.
fn span(tss: i64, anchor: u64, h: u32, w: u64, len: u32) -> (u32, u32) {
    let lo = tss - anchor as i64 - h as i64 * w as i64;
    let hi = tss - anchor as i64 + (h as i64 + 1) * w as i64;
    (lo.clamp(0, len as i64) as u32, hi.clamp(0, len as i64) as u32)
}

/// Predicted tracks of a genome-wide run at `sites`: see the module docs. `anchor` must be
/// smaller than the files' bin width.
pub fn track_sites(files: &[PathBuf], sites: &[(String, i64)], n: usize, anchor: u64) -> Result<Array2<f64>> {
    let h = check_n(n)?;
    per_file(files, sites, |path| {
        let mut r = Reader::open(path)?;
        let mut out = Vec::with_capacity(sites.len());
        // The run's bin width, learned at the first TSS a bin covers (one width per run).
        let mut width: Option<u64> = None;
        for (chrom, tss) in sites {
            let len = r.len(chrom)?;
            let pos = u32::try_from(*tss)
                .ok()
                .filter(|&p| p < len)
                .ok_or_else(|| r.bad(chrom, format!("TSS {tss} is outside {chrom} (length {len})")))?;
            let w = match width {
                Some(w) => w,
                None => match bin_width(&mut r, chrom, pos, len)? {
                    Some(w) => *width.insert(w as u64),
                    None => {
                        out.push(f64::NAN);
                        continue;
                    }
                },
            };
            if anchor >= w {
                return Err(r.bad(chrom, format!("the TSS anchor {anchor} is not inside a {w}-bp bin")));
            }
            let (lo, hi) = span(*tss, anchor, h, w, len);
            let got = r.query(chrom, lo, hi)?;
            if !got.iter().any(|(s, e, _)| *s <= pos && pos < *e) {
                // No bin holds the TSS (an assembly gap the run skipped): no value.
                out.push(f64::NAN);
                continue;
            }
            let mut sum = 0.0;
            for (s, e, v) in got {
                // The tiled bin holding `s`, and its full width (the chromosome's last is shorter).
                let k = s as u64 / w;
                let full = ((k + 1) * w).min(len as u64) - k * w;
                sum += v as f64 * (e - s) as f64 / full as f64;
            }
            out.push(sum);
        }
        Ok(out)
    })
}

/// The width of the tiled bins around `pos`: the widest interval the query holds whole
/// (bigtools clips intervals to the query, so the query grows until one is whole).
fn bin_width(r: &mut Reader<'_>, chrom: &str, pos: u32, len: u32) -> Result<Option<u32>> {
    let mut half = 1024u32;
    loop {
        let (qlo, qhi) = (pos.saturating_sub(half), pos.saturating_add(half).min(len));
        let got = r.query(chrom, qlo, qhi)?;
        if !got.iter().any(|(s, e, _)| *s <= pos && pos < *e) {
            return Ok(None);
        }
        let whole = got
            .iter()
            .filter(|(s, e, _)| (*s > qlo || qlo == 0) && (*e < qhi || qhi == len))
            .map(|(s, e, _)| e - s)
            .max();
        if let Some(w) = whole {
            return Ok(Some(w));
        }
        if half >= 1 << 22 {
            return Err(r.bad(chrom, format!("the bin at {chrom}:{pos} is wider than 4 Mb")));
        }
        half *= 8;
    }
}

/// Measured signal at `sites` over bins of `bin_size` anchored as on the model path: see the
/// module docs.
pub fn signal_sites(
    files: &[PathBuf],
    sites: &[(String, i64)],
    bin_size: u64,
    n: usize,
    anchor: u64,
) -> Result<Array2<f64>> {
    let h = check_n(n)?;
    if bin_size == 0 || anchor >= bin_size {
        return Err(Error::InvalidArgument(format!(
            "--bin-size {bin_size} --anchor {anchor}: need 0 ≤ anchor < bin size"
        )));
    }
    per_file(files, sites, |path| {
        let mut r = Reader::open(path)?;
        let mut out = Vec::with_capacity(sites.len());
        for (chrom, tss) in sites {
            let len = r.len(chrom)?;
            let (lo, hi) = span(*tss, anchor, h, bin_size, len);
            let sum: f64 = r
                .query(chrom, lo, hi)?
                .into_iter()
                .filter(|(_, _, v)| v.is_finite())
                .map(|(s, e, v)| v as f64 * (e - s) as f64)
                .sum();
            out.push(sum);
        }
        Ok(out)
    })
}
