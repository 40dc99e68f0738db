//! Fixed-length windows over a genome, chosen chromosomes, or regions.
//!
//! Tiling starts at the region's (or chromosome's) first base and steps by `stride`; the last
//! window is the first one that reaches the end, so every base is covered and the tail is
//! padded with N when it overhangs. Centring puts `length / 2` bases before the centre (see
//! [`Interval::centred`]). Order is deterministic: the input's order, then position.

use crate::error::{Error, Result};
use crate::genome::bed::BedRecord;
use crate::genome::coords::Interval;
use crate::genome::fasta::ChromSize;
use crate::genome::gtf::Tss;

/// A window to encode or score, with the name used in outputs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Window {
    /// The window, 0-based half-open; may overhang chromosome ends.
    pub interval: Interval,
    /// Output name: a region or gene name, or `chrom:start-end`.
    pub name: String,
}

impl Window {
    /// A window named by its coordinates.
    pub fn anonymous(interval: Interval) -> Self {
        let name = interval.to_string();
        Self { interval, name }
    }
}

fn check(length: u64, stride: u64) -> Result<()> {
    let max = crate::model::analysis::MAX_INPUT_LENGTH;
    if length == 0 || length > max {
        return Err(Error::InvalidArgument(format!("window length {length} must be between 1 and {max} bp")));
    }
    if stride == 0 || stride > max {
        return Err(Error::InvalidArgument(format!("stride {stride} must be between 1 and {max} bp")));
    }
    Ok(())
}

/// Tiles one region into windows of `length` every `stride` bases.
pub fn tile_interval(region: &Interval, length: u64, stride: u64) -> Result<Vec<Window>> {
    check(length, stride)?;
    let mut out = Vec::new();
    let mut start = region.start();
    loop {
        let end = start + length as i64;
        out.push(Window::anonymous(Interval::new(region.chrom(), start, end)?));
        if end >= region.end() {
            break;
        }
        start += stride as i64;
    }
    Ok(out)
}

/// The chromosomes to process: all of `sizes` in index order, or `chroms` in the order given;
/// an unknown name is an error that lists some of the genome's.
pub fn select_chroms<'a>(sizes: &'a [ChromSize], chroms: Option<&[String]>) -> Result<Vec<&'a ChromSize>> {
    match chroms {
        None => Ok(sizes.iter().collect()),
        Some(names) => names
            .iter()
            .map(|n| {
                sizes.iter().find(|c| &c.name == n).ok_or_else(|| {
                    Error::InvalidArgument(format!(
                        "unknown chromosome {n:?} (the genome has {})",
                        sizes.iter().take(5).map(|c| c.name.as_str()).collect::<Vec<_>>().join(", ")
                    ))
                })
            })
            .collect(),
    }
}

/// Tiles whole chromosomes: all of `sizes` in order, or only `chroms` in the order given
/// (every name must exist).
pub fn tile_genome(sizes: &[ChromSize], chroms: Option<&[String]>, length: u64, stride: u64) -> Result<Vec<Window>> {
    let selected = select_chroms(sizes, chroms)?;
    let mut out = Vec::new();
    for c in selected {
        out.extend(tile_interval(&Interval::new(c.name.clone(), 0, c.len as i64)?, length, stride)?);
    }
    Ok(out)
}

/// Tiles each BED region; windows are named `name:k` (k-th window of a named region) or by
/// coordinates.
pub fn tile_regions(records: &[BedRecord], length: u64, stride: u64) -> Result<Vec<Window>> {
    let mut out = Vec::new();
    for r in records {
        for (k, mut w) in tile_interval(&r.interval, length, stride)?.into_iter().enumerate() {
            if let Some(name) = &r.name {
                w.name = format!("{name}:{k}");
            }
            out.push(w);
        }
    }
    Ok(out)
}

/// One window of `length` centred on each region by [`BedRecord::centre`]: on its narrowPeak
/// summit when `use_summit` and the record has one, otherwise on its midpoint. Windows take the
/// region's label as name.
pub fn centre_on_regions(records: &[BedRecord], length: u64, use_summit: bool) -> Result<Vec<Window>> {
    check(length, 1)?;
    Ok(records
        .iter()
        .map(|r| Window {
            interval: Interval::centred(r.interval.chrom().to_string(), r.centre(!use_summit), length),
            name: r.label(),
        })
        .collect())
}

/// BED regions used as they are; all must have the same length (returned).
pub fn regions_as_windows(records: &[BedRecord]) -> Result<(Vec<Window>, u64)> {
    let first = records.first().ok_or_else(|| Error::InvalidArgument("no regions".into()))?;
    let len = first.interval.len();
    if let Some(r) = records.iter().find(|r| r.interval.len() != len) {
        return Err(Error::InvalidArgument(format!(
            "regions differ in length ({} is {} bp, {} is {len} bp): give a window length to centre them",
            r.interval,
            r.interval.len(),
            first.interval
        )));
    }
    if len == 0 {
        return Err(Error::InvalidArgument(format!("region {} is empty", first.interval)));
    }
    Ok((records.iter().map(|r| Window { interval: r.interval.clone(), name: r.label() }).collect(), len))
}

/// One window of `length` centred on each TSS, named `gene_name|transcript_id` (or the
/// transcript id alone when the gene has no name).
pub fn centre_on_tss(tss: &[Tss], length: u64) -> Result<Vec<Window>> {
    check(length, 1)?;
    Ok(tss
        .iter()
        .map(|t| Window {
            interval: Interval::centred(t.chrom.clone(), t.position, length),
            name: if t.gene_name.is_empty() {
                t.transcript_id.clone()
            } else {
                format!("{}|{}", t.gene_name, t.transcript_id)
            },
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn iv(c: &str, s: i64, e: i64) -> Interval {
        Interval::new(c, s, e).unwrap()
    }

    #[test]
    fn tiling_covers_every_base() {
        let w = tile_interval(&iv("c", 0, 25), 10, 10).unwrap();
        let starts: Vec<i64> = w.iter().map(|w| w.interval.start()).collect();
        assert_eq!(starts, [0, 10, 20]);
        assert_eq!(w[2].interval.end(), 30);
        let w = tile_interval(&iv("c", 0, 20), 10, 10).unwrap();
        assert_eq!(w.len(), 2);
        let w = tile_interval(&iv("c", 0, 20), 10, 5).unwrap();
        assert_eq!(w.iter().map(|w| w.interval.start()).collect::<Vec<_>>(), [0, 5, 10]);
        let w = tile_interval(&iv("c", 3, 5), 10, 5).unwrap();
        assert_eq!(w.len(), 1);
        assert!(tile_interval(&iv("c", 0, 5), 10, 0).is_err());
    }

    #[test]
    fn genome_tiling_respects_chrom_order_and_rejects_unknown() {
        let sizes = vec![ChromSize { name: "a".into(), len: 15 }, ChromSize { name: "b".into(), len: 5 }];
        let w = tile_genome(&sizes, None, 10, 10).unwrap();
        assert_eq!(w.iter().map(|w| w.name.as_str()).collect::<Vec<_>>(), ["a:0-10", "a:10-20", "b:0-10"]);
        let w = tile_genome(&sizes, Some(&["b".to_string(), "a".to_string()]), 10, 10).unwrap();
        assert_eq!(w[0].interval.chrom(), "b");
        assert!(tile_genome(&sizes, Some(&["z".to_string()]), 10, 10).is_err());
    }

    #[test]
    fn centring_on_regions_and_summits() {
        let r = BedRecord { interval: iv("c", 100, 200), name: Some("p".into()), strand: None, summit: Some(10) };
        let w = centre_on_regions(std::slice::from_ref(&r), 20, false).unwrap();
        assert_eq!(w[0].interval, iv("c", 140, 160));
        assert_eq!(w[0].name, "p");
        let w = centre_on_regions(&[r], 20, true).unwrap();
        assert_eq!(w[0].interval, iv("c", 100, 120));
    }
}
