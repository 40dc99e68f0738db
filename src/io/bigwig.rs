//! bigWig output and read-back (bigtools).
//!
//! Values are written per chromosome in the order given (which must keep each chromosome's
//! intervals together and sorted); chromosome sizes come from the genome index so browsers
//! show the whole assembly. bigtools adds the zoom levels.

use std::collections::HashMap;
use std::path::Path;

use bigtools::beddata::BedParserStreamingIterator;
use bigtools::{BigWigRead, BigWigWrite, Value};

use crate::error::{Error, Result};
use crate::genome::fasta::ChromSize;
use crate::io::atomic::AtomicFile;

/// One bigWig interval: chromosome, 0-based start, end, value.
pub type Interval = (String, u32, u32, f32);

/// Writes `values` (grouped by chromosome, sorted within) to `path` atomically.
pub fn write_bigwig<I>(path: &Path, sizes: &[ChromSize], values: I) -> Result<()>
where
    I: Iterator<Item = Interval> + Send + 'static,
{
    let chrom_map: HashMap<String, u32> =
        sizes.iter().map(|c| (c.name.clone(), c.len.min(u32::MAX as u64) as u32)).collect();
    let mut out = AtomicFile::create(path)?;
    let file = out.file().try_clone().map_err(|e| Error::io(path, e))?;
    let runtime =
        tokio::runtime::Builder::new_multi_thread().worker_threads(2).build().map_err(|e| Error::io(path, e))?;
    let writer = BigWigWrite::new(file, chrom_map);
    let items = values.map(|(chrom, start, end, value)| (chrom, Value { start, end, value }));
    let source = BedParserStreamingIterator::wrap_infallible_iter(items, true);
    writer
        .write(source, runtime)
        .map_err(|e| Error::io(path, std::io::Error::other(format!("bigWig write failed: {e}"))))?;
    out.commit()
}

/// Reads every interval of `chrom` in `[start, end)` from a bigWig.
pub fn read_bigwig(path: &Path, chrom: &str, start: u32, end: u32) -> Result<Vec<(u32, u32, f32)>> {
    let mut bw = BigWigRead::open_file(path)
        .map_err(|e| Error::malformed(path, "file", format!("not a readable bigWig: {e}")))?;
    let iter =
        bw.get_interval(chrom, start, end).map_err(|e| Error::malformed(path, chrom.to_string(), format!("{e}")))?;
    iter.map(|v| {
        v.map(|v| (v.start, v.end, v.value)).map_err(|e| Error::malformed(path, chrom.to_string(), format!("{e}")))
    })
    .collect()
}

/// Chromosome names and lengths stored in a bigWig.
pub fn bigwig_chroms(path: &Path) -> Result<Vec<(String, u32)>> {
    let bw = BigWigRead::open_file(path)
        .map_err(|e| Error::malformed(path, "file", format!("not a readable bigWig: {e}")))?;
    Ok(bw.chroms().iter().map(|c| (c.name.clone(), c.length)).collect())
}

/// Per-base values of `chrom` over `[start, end)` (0-based; positions outside the chromosome
/// or without data are 0) into `out` (`end − start` values), reading an open bigWig.
pub fn read_dense(bw: &mut OpenBigWig, path: &Path, chrom: &str, start: i64, out: &mut [f32]) -> Result<()> {
    out.iter_mut().for_each(|v| *v = 0.0);
    let end = start + out.len() as i64;
    let len = bw
        .chroms()
        .iter()
        .find(|c| c.name == chrom)
        .map(|c| c.length as i64)
        .ok_or_else(|| Error::malformed(path, chrom.to_string(), "the bigWig has no such chromosome"))?;
    let (qs, qe) = (start.clamp(0, len), end.clamp(0, len));
    if qs >= qe {
        return Ok(());
    }
    let iter = bw
        .get_interval(chrom, qs as u32, qe as u32)
        .map_err(|e| Error::malformed(path, chrom.to_string(), format!("{e}")))?;
    for v in iter {
        let v = v.map_err(|e| Error::malformed(path, chrom.to_string(), format!("{e}")))?;
        let (s, e) = ((v.start as i64).max(qs), (v.end as i64).min(qe));
        for p in s..e {
            out[(p - start) as usize] = v.value;
        }
    }
    Ok(())
}

/// An open bigWig file.
pub type OpenBigWig = BigWigRead<bigtools::utils::reopen::ReopenableFile>;

/// Opens a bigWig for [`read_dense`].
pub fn open_bigwig(path: &Path) -> Result<OpenBigWig> {
    BigWigRead::open_file(path).map_err(|e| Error::malformed(path, "file", format!("not a readable bigWig: {e}")))
}
