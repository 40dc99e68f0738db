//! Track values at TSSs: the sum of `n` output bins centred on the bin holding the TSS, from a
//! model (one TSS-centred window per site) or from the bigWigs of a genome-wide `s2f predict`.
//!
//! Model path (FT_S2A's `Interval(tss, tss).resize(L)`): the window is `[tss − L/2, tss + L/2)`,
//! N-padded beyond the chromosome, so the TSS base is at window offset `L/2`; with the head's
//! geometry (bin `i` covers `[offset + i·bin_size, +bin_size)`) it lies in bin
//! `c = (L/2 − offset) div bin_size`, and bins `c − (n−1)/2 … c + (n−1)/2` are summed (Basenji2:
//! 131,072 bp, offset 8,192, 128-bp bins → bins 447–449 for n = 3).
//!
//! The TSS lies `anchor = (L/2 − offset) mod bin_size` bases into its bin ([`anchor`]; 0 for
//! Basenji2, whose TSS is the first base of bin 448), so the summed bins cover the genome span
//! `[tss − anchor − h·bin_size, tss − anchor + (h+1)·bin_size)` with `h = (n−1)/2`. The bigWig
//! paths ([`crate::genes::bigwig`]) read that same span.

use std::ops::Range;

use ndarray::{s, Array2, Array3, Axis};

use crate::engine::ensemble::{predict_ensemble, Augment};
use crate::engine::Predictor;
use crate::error::{Error, Result};
use crate::genome::fasta::Fasta;
use crate::genome::onehot::{Encoder, Layout};
use crate::genome::Interval;
use crate::model::spec::Geometry;

/// The `n` bins centred on the bin holding window position `input_len / 2`.
pub fn centre_bins(geom: &Geometry, input_len: u64, n: usize) -> Result<Range<usize>> {
    if n == 0 || n.is_multiple_of(2) {
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

/// How far into its output bin the TSS lies on the model path: `(L/2 − offset) mod bin_size`.
pub fn anchor(geom: &Geometry, input_len: u64) -> u64 {
    let at = input_len as i64 / 2 - geom.offset;
    at.rem_euclid(geom.bin_size.max(1) as i64) as u64
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basenji2_sums_bins_447_to_449_with_the_tss_first_in_bin_448() {
        let g = Geometry { bins: 896, bin_size: 128, offset: 8192, tracks: 5313 };
        assert_eq!(centre_bins(&g, 131_072, 3).unwrap(), 447..450);
        assert_eq!(anchor(&g, 131_072), 0);
        // A geometry whose window centre falls mid-bin.
        let g = Geometry { bins: 10, bin_size: 32, offset: 20, tracks: 1 };
        assert_eq!(centre_bins(&g, 200, 1).unwrap(), 2..3);
        assert_eq!(anchor(&g, 200), 16);
        assert!(centre_bins(&g, 200, 2).is_err());
        assert!(centre_bins(&g, 200, 7).is_err());
    }
}
