//! The part-file format: one finished chunk of windows, written atomically.
//!
//! Layout (all integers little-endian): the magic `S2FPART1`, the window count (u32) and the
//! track count (u32); then per window its name and chromosome (u32 byte length + UTF-8), the
//! genome start of its first bin (i64), the bin width (u64), the bin count (u32), and a flag
//! byte: 0 for a skipped window (no values), 1 followed by `bins × tracks` f32 values
//! (bin-major).

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use super::PARTS_DIR;
use crate::error::{Error, Result};
use crate::genome::fasta::ChromSize;
use crate::io::atomic::write_atomic;
use crate::io::le::f32s_from_le;

const PART_MAGIC: &[u8; 8] = b"S2FPART1";

/// Path of the part file of chunk `chunk` under the output folder `out`.
pub(super) fn part_path(out: &Path, chunk: usize) -> PathBuf {
    out.join(PARTS_DIR).join(format!("chunk-{chunk:08}.bin"))
}

/// One window's outputs in a part file.
#[derive(Debug, Clone, PartialEq)]
pub struct PartWindow {
    /// Output name.
    pub name: String,
    /// Chromosome.
    pub chrom: String,
    /// Genome start of the first bin.
    pub out_start: i64,
    /// Bin width.
    pub bin_size: u64,
    /// Bins stored.
    pub n_bins: usize,
    /// `n_bins × tracks` values (bin-major), or None when the window was skipped (all N).
    pub values: Option<Vec<f32>>,
}

/// Writes the windows of one chunk to `path` atomically; `tracks` values per bin.
pub(super) fn write_part(path: &Path, tracks: usize, windows: &[PartWindow]) -> Result<()> {
    write_atomic(path, |w| {
        w.write_all(PART_MAGIC)?;
        w.write_all(&(windows.len() as u32).to_le_bytes())?;
        w.write_all(&(tracks as u32).to_le_bytes())?;
        for pw in windows {
            for s in [&pw.name, &pw.chrom] {
                w.write_all(&(s.len() as u32).to_le_bytes())?;
                w.write_all(s.as_bytes())?;
            }
            w.write_all(&pw.out_start.to_le_bytes())?;
            w.write_all(&pw.bin_size.to_le_bytes())?;
            w.write_all(&(pw.n_bins as u32).to_le_bytes())?;
            match &pw.values {
                None => w.write_all(&[0])?,
                Some(v) => {
                    w.write_all(&[1])?;
                    for x in v {
                        w.write_all(&x.to_le_bytes())?;
                    }
                }
            }
        }
        Ok(())
    })
}

/// Reads a part file: (tracks, windows).
pub fn read_part(path: &Path) -> Result<(usize, Vec<PartWindow>)> {
    let bad = |m: &str| Error::malformed(path, "part file", m.to_string());
    let mut bytes = Vec::new();
    std::fs::File::open(path).and_then(|mut f| f.read_to_end(&mut bytes)).map_err(|e| Error::io(path, e))?;
    let mut pos = 0usize;
    let mut take = |n: usize| -> Result<&[u8]> {
        let s = bytes.get(pos..pos + n).ok_or_else(|| bad("truncated"))?;
        pos += n;
        Ok(s)
    };
    if take(8)? != PART_MAGIC {
        return Err(bad("not an s2f part file"));
    }
    let u32_ = |b: &[u8]| u32::from_le_bytes(b.try_into().unwrap_or([0; 4])) as usize;
    let n = u32_(take(4)?);
    let tracks = u32_(take(4)?);
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        let mut strs = Vec::new();
        for _ in 0..2 {
            let len = u32_(take(4)?);
            strs.push(String::from_utf8(take(len)?.to_vec()).map_err(|_| bad("bad name"))?);
        }
        let out_start = i64::from_le_bytes(take(8)?.try_into().unwrap_or([0; 8]));
        let bin_size = u64::from_le_bytes(take(8)?.try_into().unwrap_or([0; 8]));
        let n_bins = u32_(take(4)?);
        let values = match take(1)?[0] {
            0 => None,
            _ => Some(f32s_from_le(take(n_bins * tracks * 4)?)),
        };
        let chrom = strs.pop().unwrap_or_default();
        let name = strs.pop().unwrap_or_default();
        out.push(PartWindow { name, chrom, out_start, bin_size, n_bins, values });
    }
    Ok((tracks, out))
}

impl PartWindow {
    /// The bins written to the genome: (bin, start, end), clipped to the chromosome
    /// (`chrom_len`); bins before base 0 or past the end are left out.
    pub fn genome_bins(&self, chrom_len: i64) -> impl Iterator<Item = (usize, i64, i64)> + '_ {
        (0..self.n_bins).filter_map(move |b| {
            let start = self.out_start + (b as u64 * self.bin_size) as i64;
            let end = (start + self.bin_size as i64).min(chrom_len);
            (start >= 0 && start < end).then_some((b, start, end))
        })
    }
}

/// Length of `chrom` in `sizes`, or 0 when it is not there (its bins are then all dropped).
pub(super) fn chrom_len(sizes: &[ChromSize], chrom: &str) -> i64 {
    sizes.iter().find(|c| c.name == chrom).map(|c| c.len as i64).unwrap_or(0)
}
