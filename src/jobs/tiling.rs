//! Windows for genome-wide prediction, derived from the model's output geometry.
//!
//! Profile models (several bins per window): consecutive windows step by the output span
//! (bins × bin size), so their bins tile each chromosome contiguously from base 0; window `k`
//! starts at `k·span − offset` (N-padded where it overhangs). Models with one value per window
//! produce a sliding-window track: windows every `stride` bp, each value assigned to the
//! window's central stride-wide bin `[k·stride, (k+1)·stride)`; the window is centred on that bin
//! clipped to the chromosome, so the last bin of a chromosome (or a chromosome shorter than the
//! stride) is predicted from its own bases, N-padded, never dropped. BED mode: one window per region,
//! centred on its narrowPeak summit or midpoint ([`BedRecord::centre`]); all its bins are kept.
//!
//! Windows come in a deterministic order (chromosomes as given, then position) and are grouped
//! into fixed chunks, the unit of work for shards, resume and part files.

use crate::error::{Error, Result};
use crate::genome::bed::BedRecord;
use crate::genome::fasta::ChromSize;
use crate::genome::Interval;
use crate::model::spec::Geometry;

/// One window to predict and where its outputs go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedWindow {
    /// Chromosome.
    pub chrom: String,
    /// The model's input window (0-based, half-open; may overhang the chromosome).
    pub window: Interval,
    /// Genome position of the first output bin written.
    pub out_start: i64,
    /// Width of each written bin.
    pub bin_size: u64,
    /// Index of the first model bin written, and how many are written.
    pub first_bin: usize,
    /// Number of bins written.
    pub n_bins: usize,
    /// Output name (region name or `chrom:start-end` of the window).
    pub name: String,
}

impl PlannedWindow {
    /// The genome span the written bins cover, clipped to the chromosome (`chrom_len`).
    pub fn scored(&self, chrom_len: u64) -> (i64, i64) {
        let end = (self.out_start + (self.n_bins as u64 * self.bin_size) as i64).min(chrom_len as i64);
        (self.out_start, end)
    }
}

/// Windows that are computed on demand, so a plan for a whole genome takes no memory per window.
#[derive(Debug, Clone)]
pub struct TilePlan {
    /// (chromosome, length, index of its first window, its number of windows).
    chroms: Vec<(String, u64, usize, usize)>,
    input_len: u64,
    geom: Geometry,
    /// Step between windows: the output span (profile models) or the stride (scalar models).
    step: u64,
    total: usize,
}

impl TilePlan {
    /// Plans windows over chromosomes (all, in index order, or `chroms` in the given order).
    pub fn new(
        sizes: &[ChromSize],
        chroms: Option<&[String]>,
        input_len: u64,
        geom: &Geometry,
        stride: Option<u64>,
    ) -> Result<Self> {
        let selected = crate::genome::windows::select_chroms(sizes, chroms)?;
        let step = if geom.bins > 1 {
            if stride.is_some() {
                return Err(Error::InvalidArgument("--stride applies to models with one output per window".into()));
            }
            geom.bins * geom.bin_size
        } else {
            match stride {
                Some(0) => return Err(Error::InvalidArgument("--stride must be at least 1 bp".into())),
                Some(s) => s,
                None => geom.bin_size.max(1),
            }
        };
        let mut total = 0;
        let mut chroms = Vec::new();
        for c in selected {
            let n = c.len.div_ceil(step) as usize;
            chroms.push((c.name.clone(), c.len, total, n));
            total += n;
        }
        Ok(Self { chroms, input_len, geom: *geom, step, total })
    }

    /// Number of windows.
    pub fn len(&self) -> usize {
        self.total
    }

    /// True when there is no window.
    pub fn is_empty(&self) -> bool {
        self.total == 0
    }

    /// Window `i` (0 ≤ i < len).
    pub fn window(&self, i: usize) -> PlannedWindow {
        let c = self.chroms.partition_point(|(_, _, first, _)| *first <= i) - 1;
        let (name, len, first, _) = &self.chroms[c];
        let k = (i - first) as i64;
        let step = self.step as i64;
        let len = *len as i64;
        let (start, out_start, bin_size, n_bins) = if self.geom.bins > 1 {
            let out_start = k * step;
            let n_bins = ((len - out_start) as u64).div_ceil(self.geom.bin_size).min(self.geom.bins) as usize;
            (out_start - self.geom.offset, out_start, self.geom.bin_size, n_bins)
        } else {
            // The centre of the stride-wide bin, clipped to the chromosome, so the last bin (and
            // a chromosome shorter than the stride) is predicted from a window over its own bases.
            let centre = (k * step + ((k + 1) * step).min(len)) / 2;
            (centre - (self.input_len / 2) as i64, k * step, self.step, 1)
        };
        let window = Interval::centred(name.clone(), start + (self.input_len / 2) as i64, self.input_len);
        PlannedWindow {
            chrom: name.clone(),
            name: window.to_string(),
            window,
            out_start,
            bin_size,
            first_bin: 0,
            n_bins,
        }
    }
}

/// Where a run's windows come from: a genome plan (computed on demand) or a list (BED regions).
#[derive(Debug, Clone)]
pub enum WindowSource {
    /// Tiled chromosomes.
    Tiled(TilePlan),
    /// Listed windows.
    Listed(Vec<PlannedWindow>),
}

impl WindowSource {
    /// Number of windows.
    pub fn len(&self) -> usize {
        match self {
            Self::Tiled(p) => p.len(),
            Self::Listed(v) => v.len(),
        }
    }

    /// True when there is no window.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Window `i`.
    pub fn window(&self, i: usize) -> PlannedWindow {
        match self {
            Self::Tiled(p) => p.window(i),
            Self::Listed(v) => v[i].clone(),
        }
    }
}

/// Tiles chromosomes (all, in index order, or `chroms` in the given order) into a list.
pub fn tile_for_model(
    sizes: &[ChromSize],
    chroms: Option<&[String]>,
    input_len: u64,
    geom: &Geometry,
    stride: Option<u64>,
) -> Result<Vec<PlannedWindow>> {
    let plan = TilePlan::new(sizes, chroms, input_len, geom, stride)?;
    Ok((0..plan.len()).map(|i| plan.window(i)).collect())
}

/// One window per BED region, centred by [`BedRecord::centre`] (the narrowPeak summit unless
/// `ignore_summits`, else the midpoint); every bin is kept.
pub fn regions_for_model(
    records: &[BedRecord],
    input_len: u64,
    geom: &Geometry,
    ignore_summits: bool,
) -> Vec<PlannedWindow> {
    records
        .iter()
        .map(|r| {
            let window = Interval::centred(r.interval.chrom().to_string(), r.centre(ignore_summits), input_len);
            PlannedWindow {
                chrom: r.interval.chrom().to_string(),
                out_start: window.start() + geom.offset,
                window,
                bin_size: geom.bin_size,
                first_bin: 0,
                n_bins: geom.bins as usize,
                name: r.label(),
            }
        })
        .collect()
}

/// Windows per chunk: enough to amortise a part file, few enough that one chunk's outputs stay
/// near 16 M values.
pub fn chunk_windows(bins: usize, tracks: usize) -> usize {
    ((1usize << 24) / (bins * tracks).max(1)).clamp(1, 4096)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn profile_tiling_is_contiguous_from_zero() {
        let sizes = vec![ChromSize { name: "c".into(), len: 1000 }];
        let g = Geometry { bins: 10, bin_size: 32, offset: 64, tracks: 3 };
        let w = tile_for_model(&sizes, None, 448, &g, None).unwrap();
        // span 320: out_starts 0, 320, 640, 960; the last writes 2 bins (960..1000).
        assert_eq!(w.iter().map(|w| w.out_start).collect::<Vec<_>>(), [0, 320, 640, 960]);
        assert_eq!(w[0].window, Interval::new("c", -64, 384).unwrap());
        assert_eq!(w[3].n_bins, 2);
        assert_eq!(w[3].scored(1000), (960, 1000));
    }

    #[test]
    fn sliding_windows_for_scalar_models() {
        let sizes = vec![ChromSize { name: "c".into(), len: 250 }];
        let g = Geometry { bins: 1, bin_size: 401, offset: 0, tracks: 45 };
        let w = tile_for_model(&sizes, None, 401, &g, Some(100)).unwrap();
        assert_eq!(w.len(), 3);
        // Window 1 is centred on 150: [150 − 200, 150 + 201).
        assert_eq!(w[1].window, Interval::new("c", -50, 351).unwrap());
        assert_eq!((w[1].out_start, w[1].bin_size), (100, 100));
        assert_eq!(w[2].scored(250), (200, 250));
    }
}
