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
