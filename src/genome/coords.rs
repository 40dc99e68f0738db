//! Coordinates: 0-based, half-open intervals, and the single place where they meet noodles'
//! 1-based, inclusive positions.
//!
//! An [`Interval`] `chr1:10-20` covers bases 10, 11, …, 19 (BED semantics). Starts are signed so
//! that a window may reach before the chromosome start (those bases read as N).

use std::fmt;

use noodles::core::{Position, Region};

use crate::error::{Error, Result};

/// A 0-based, half-open interval on a named sequence. Its fields are private so that every
/// interval has `start ≤ end` (see [`Interval::new`]) and [`Interval::len`] cannot wrap.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Interval {
    chrom: String,
    start: i64,
    end: i64,
}

impl Interval {
    /// Creates an interval; `end` must not be before `start`.
    pub fn new(chrom: impl Into<String>, start: i64, end: i64) -> Result<Self> {
        let chrom = chrom.into();
        if end < start {
            return Err(Error::BadInterval { chrom, start, end, message: "end before start".into() });
        }
        Ok(Self { chrom, start, end })
    }

    /// Sequence (chromosome) name.
    pub fn chrom(&self) -> &str {
        &self.chrom
    }

    /// First base, 0-based; may be negative for windows overhanging the chromosome start.
    pub fn start(&self) -> i64 {
        self.start
    }

    /// One past the last base.
    pub fn end(&self) -> i64 {
        self.end
    }

    /// Number of bases covered.
    pub fn len(&self) -> u64 {
        self.end.abs_diff(self.start)
    }

    /// True when the interval covers no base.
    pub fn is_empty(&self) -> bool {
        self.end == self.start
    }

    /// The interval of length `len` centred on 0-based position `centre`: it starts at
    /// `centre - len / 2`, so for even `len` the centre base is the first of the right half.
    pub fn centred(chrom: impl Into<String>, centre: i64, len: u64) -> Self {
        let len = i64::try_from(len).unwrap_or(i64::MAX);
        let start = centre.saturating_sub(len / 2);
        Self { chrom: chrom.into(), start, end: start.saturating_add(len) }
    }

    /// The midpoint used to centre windows on a region: `(start + end) / 2`, rounded down.
    pub fn midpoint(&self) -> i64 {
        ((self.start as i128 + self.end as i128).div_euclid(2)) as i64
    }
}

impl fmt::Display for Interval {
    /// `chrom:start-end`, 0-based half-open, as in BED and in s2f's output names.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}-{}", self.chrom, self.start, self.end)
    }
}

/// Converts a non-empty 0-based half-open range to a noodles [`Region`] (1-based, inclusive).
///
/// `start` must be ≥ 0 and `end > start`.
pub fn to_noodles_region(chrom: &str, start: u64, end: u64) -> Result<Region> {
    let bad = |message: &str| Error::BadInterval {
        chrom: chrom.to_string(),
        start: start as i64,
        end: end as i64,
        message: message.to_string(),
    };
    if end <= start {
        return Err(bad("empty interval"));
    }
    let first = Position::try_from(start as usize + 1).map_err(|_| bad("start out of range"))?;
    let last = Position::try_from(end as usize).map_err(|_| bad("end out of range"))?;
    Ok(Region::new(chrom, first..=last))
}

/// Converts a noodles 1-based start position to a 0-based start.
pub fn start_from_noodles(pos: Position) -> i64 {
    usize::from(pos) as i64 - 1
}

/// Converts a noodles 1-based inclusive end position to a 0-based exclusive end (the same
/// number).
pub fn end_from_noodles(pos: Position) -> i64 {
    usize::from(pos) as i64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn region_is_one_based_inclusive() {
        let r = to_noodles_region("chr1", 0, 10).unwrap();
        assert_eq!(r.to_string(), "chr1:1-10");
        let r = to_noodles_region("chr1", 9, 10).unwrap();
        assert_eq!(r.to_string(), "chr1:10-10");
    }

    #[test]
    fn empty_region_is_rejected() {
        assert!(to_noodles_region("chr1", 5, 5).is_err());
    }

    #[test]
    fn round_trip_positions() {
        let p = Position::try_from(11).unwrap();
        assert_eq!(start_from_noodles(p), 10);
        assert_eq!(end_from_noodles(p), 11);
    }

    #[test]
    fn centring() {
        let w = Interval::centred("c", 100, 10);
        assert_eq!((w.start, w.end), (95, 105));
        let w = Interval::centred("c", 100, 11);
        assert_eq!((w.start, w.end), (95, 106));
        assert_eq!(Interval::new("c", 10, 21).unwrap().midpoint(), 15);
        assert_eq!(Interval::new("c", -11, -1).unwrap().midpoint(), -6);
        assert!(Interval::new("c", 10, 9).is_err());
        // Extremes neither wrap nor overflow.
        let huge = Interval::new("c", i64::MIN, i64::MAX).unwrap();
        assert_eq!(huge.len(), u64::MAX);
        assert_eq!(huge.midpoint(), -1);
        let w = Interval::centred("c", i64::MAX, u64::MAX);
        assert!(w.start() <= w.end());
    }
}
