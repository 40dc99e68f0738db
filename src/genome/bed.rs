//! BED input: BED3 and wider (BED3+), including ENCODE narrowPeak with its summit column.
//!
//! Fields are parsed by noodles; this module adds line numbers to errors, skips `#`, `track`
//! and `browser` lines, and reads the optional name (column 4), strand (column 6) and, for
//! 10-column narrowPeak lines, the summit offset (column 10, `-1` meaning none).

use std::io::BufRead;
use std::path::Path;

use noodles::bed;

use crate::error::{Error, Result};
use crate::genome::coords::{end_from_noodles, start_from_noodles, Interval};

/// Largest coordinate s2f accepts in BED and GTF files (2^53, beyond any genome): arithmetic on
/// positions (midpoints, windows around them) then cannot overflow.
pub const MAX_COORDINATE: u64 = 1 << 53;

/// One BED line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BedRecord {
    /// The region, 0-based half-open.
    pub interval: Interval,
    /// Column 4, when present and not `.`.
    pub name: Option<String>,
    /// Column 6 (`+`, `-`), when present and not `.`.
    pub strand: Option<char>,
    /// narrowPeak summit as an offset from `start` (column 10), when present and not -1.
    pub summit: Option<i64>,
}

impl BedRecord {
    /// Name for outputs: column 4, or `chrom:start-end`.
    pub fn label(&self) -> String {
        self.name.clone().unwrap_or_else(|| self.interval.to_string())
    }

    /// The absolute 0-based summit position, if the record has one.
    pub fn summit_position(&self) -> Option<i64> {
        self.summit.map(|s| self.interval.start() + s)
    }

    /// The position a window on this region is centred on: the narrowPeak summit when the
    /// record has one and `ignore_summits` is false, otherwise the midpoint `(start + end) / 2`
    /// rounded down ([`Interval::midpoint`]). This is s2f's one centring rule: `s2f onehot
    /// --bed --length`, `s2f train --bed` and `s2f predict --bed` all use it (each with
    /// `--ignore-summits`); the window then starts `L / 2` bases before it
    /// ([`Interval::centred`]).
    pub fn centre(&self, ignore_summits: bool) -> i64 {
        match self.summit_position() {
            Some(s) if !ignore_summits => s,
            _ => self.interval.midpoint(),
        }
    }
}

/// Reads a BED file. Errors name the file and line.
pub fn read_bed(path: impl AsRef<Path>) -> Result<Vec<BedRecord>> {
    let path = path.as_ref();
    let file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let records = parse_bed(std::io::BufReader::new(file), path)?;
    if records.is_empty() {
        return Err(Error::Empty { path: path.into(), what: "no BED records".into() });
    }
    Ok(records)
}

/// Parses BED text from `reader`; `path` is used in messages. May return no records.
pub fn parse_bed<R: BufRead>(reader: R, path: &Path) -> Result<Vec<BedRecord>> {
    let mut out = Vec::new();
    let mut record = bed::Record::<3>::default();
    for (i, line) in reader.lines().enumerate() {
        let line = line.map_err(|e| Error::io(path, e))?;
        let at = format!("line {}", i + 1);
        let trimmed = line.trim_end_matches('\r');
        if trimmed.trim().is_empty()
            || trimmed.starts_with('#')
            || trimmed.starts_with("track")
            || trimmed.starts_with("browser")
        {
            continue;
        }
        let bad = |m: String| Error::malformed(path, at.clone(), m);
        bed::io::Reader::<3, _>::new(format!("{trimmed}\n").as_bytes())
            .read_record(&mut record)
            .map_err(|e| bad(format!("not a BED line ({e}): {trimmed:?}")))?;
        let chrom = record.reference_sequence_name().to_string();
        let start = record.feature_start().map_err(|e| bad(format!("bad start ({e})")))?;
        let end = record
            .feature_end()
            .ok_or_else(|| bad("missing end".into()))?
            .map_err(|e| bad(format!("bad end ({e})")))?;
        for (what, p) in [("start", usize::from(start) - 1), ("end", usize::from(end))] {
            if p as u64 > MAX_COORDINATE {
                return Err(bad(format!("{what} {p} is beyond any chromosome (limit {MAX_COORDINATE})")));
            }
        }
        let (start, end) = (start_from_noodles(start), end_from_noodles(end));
        if end < start {
            return Err(bad(format!("end {end} is before start {start}")));
        }
        let other: Vec<String> = record.other_fields().iter().map(|f| f.to_string()).collect();
        let opt = |i: usize| other.get(i).filter(|s| s.as_str() != ".").cloned();
        let name = opt(0);
        let strand = match opt(2).as_deref() {
            None => None,
            Some("+") => Some('+'),
            Some("-") => Some('-'),
            Some(s) => return Err(bad(format!("strand (column 6) must be +, - or ., not {s:?}"))),
        };
        let summit = if other.len() == 7 {
            let s: i64 = other[6]
                .parse()
                .map_err(|_| bad(format!("narrowPeak summit (column 10) {:?} is not an integer", other[6])))?;
            if s >= 0 && s >= end - start {
                return Err(bad(format!("narrowPeak summit offset {s} lies outside the {}-bp peak", end - start)));
            }
            (s >= 0).then_some(s)
        } else {
            None
        };
        let interval = Interval::new(chrom, start, end).map_err(|e| bad(e.to_string()))?;
        out.push(BedRecord { interval, name, strand, summit });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Result<Vec<BedRecord>> {
        parse_bed(s.as_bytes(), Path::new("t.bed"))
    }

    #[test]
    fn reads_bed3_bed6_and_narrowpeak() {
        let r = parse(
            "track name=x\n# c\nchr1\t10\t30\nchr2\t5\t9\tpeak1\t0\t-\n\
                       chr3\t100\t200\tp\t0\t.\t5.0\t-1\t-1\t42\n",
        )
        .unwrap();
        assert_eq!(r.len(), 3);
        assert_eq!(r[0].interval, Interval::new("chr1", 10, 30).unwrap());
        assert_eq!(r[0].label(), "chr1:10-30");
        assert_eq!(r[1].name.as_deref(), Some("peak1"));
        assert_eq!(r[1].strand, Some('-'));
        assert_eq!(r[2].summit, Some(42));
        assert_eq!(r[2].summit_position(), Some(142));
        assert_eq!(r[2].strand, None);
    }

    #[test]
    fn centre_is_the_summit_unless_ignored_else_the_midpoint() {
        let r = parse(
            "chr3\t100\t201\tp\t0\t.\t5.0\t-1\t-1\t42\nchr3\t100\t201\tq\t0\t.\t5.0\t-1\t-1\t-1\nchr3\t100\t201\n",
        )
        .unwrap();
        assert_eq!((r[0].centre(false), r[0].centre(true)), (142, 150));
        assert_eq!((r[1].centre(false), r[1].centre(true)), (150, 150));
        assert_eq!((r[2].centre(false), r[2].centre(true)), (150, 150));
    }

    #[test]
    fn errors_name_the_line() {
        let e = parse("chr1\t10\t30\nchr1\tx\t30\n").unwrap_err().to_string();
        assert!(e.contains("t.bed: line 2"), "{e}");
        let e = parse("chr1\t30\t10\n").unwrap_err().to_string();
        assert!(e.contains("line 1") && e.contains("before start"), "{e}");
        let e = parse("chr1\t10\n").unwrap_err().to_string();
        assert!(e.contains("line 1"), "{e}");
        let e = parse("chr1\t0\t10\tp\t0\t.\t1\t1\t1\t50\n").unwrap_err().to_string();
        assert!(e.contains("summit"), "{e}");
        // Coordinates past 2^63 used to overflow when converted to signed positions.
        for line in ["chr1\t9223372036854775807\t9223372036854775807\n", "chr1\t0\t18446744073709551615\n"] {
            let e = parse(line).unwrap_err().to_string();
            assert!(e.contains("line 1") && e.contains("beyond any chromosome"), "{e}");
        }
    }
}
