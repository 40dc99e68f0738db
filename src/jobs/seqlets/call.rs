//! Seqlet calling on one attribution track (DRG's `find_motifs`): positions whose scaled
//! attribution |z| exceeds a cut, merged into runs of one sign across short gaps.

/// The sign of a seqlet's attribution.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Sign {
    /// Positive attribution: the bases raise the prediction.
    Positive,
    /// Negative attribution: the bases lower the prediction.
    Negative,
}

impl Sign {
    /// `+` or `-`.
    pub fn symbol(self) -> char {
        match self {
            Sign::Positive => '+',
            Sign::Negative => '-',
        }
    }

    /// `pos` or `neg`, the prefix of cluster identifiers.
    pub fn word(self) -> &'static str {
        match self {
            Sign::Positive => "pos",
            Sign::Negative => "neg",
        }
    }
}

/// Options of [`call_runs`] and of seqlet calling in general.
#[derive(Debug, Clone, PartialEq)]
pub struct CallOptions {
    /// A position is significant when |z| > `cut` (z = attribution / RMS of the map).
    pub cut: f64,
    /// Runs of one sign separated by at most this many non-significant positions are merged.
    /// A significant position of the other sign always ends a run.
    pub max_gap: usize,
    /// Runs with fewer significant positions than this are dropped (≥ 1).
    pub min_size: usize,
    /// Bases added on each side of a kept run, clipped to the sequence.
    pub flank: usize,
}

impl Default for CallOptions {
    fn default() -> Self {
        CallOptions { cut: 2.5, max_gap: 1, min_size: 4, flank: 5 }
    }
}

/// A called run on one track, in 0-based half-open positions of the sequence.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Run {
    /// First significant position.
    pub core_start: usize,
    /// One past the last significant position.
    pub core_end: usize,
    /// `core_start − flank`, clipped at 0.
    pub start: usize,
    /// `core_end + flank`, clipped at the sequence length.
    pub end: usize,
    /// Sign of every significant position of the run.
    pub sign: Sign,
    /// Number of significant positions in the run (gaps excluded).
    pub n_significant: usize,
}

/// Calls runs on one track of scaled attributions `z` (one value per position; non-finite
/// values are never significant). Significant positions are those with |z| > `cut`; consecutive
/// significant positions of one sign, separated by at most `max_gap` non-significant positions,
/// form a run; runs with at least `min_size` significant positions are kept and widened by
/// `flank` on each side (clipped to `0..z.len()`). Runs are returned in position order; widened
/// runs may overlap.
pub fn call_runs(z: &[f64], opts: &CallOptions) -> Vec<Run> {
    let sign_at = |v: f64| -> Option<Sign> {
        if !v.is_finite() || v.abs() <= opts.cut {
            None
        } else if v > 0.0 {
            Some(Sign::Positive)
        } else {
            Some(Sign::Negative)
        }
    };
    let min_size = opts.min_size.max(1);
    let mut out = Vec::new();
    // The open run: (sign, first, one past last significant, count).
    let mut open: Option<(Sign, usize, usize, usize)> = None;
    let close = |run: (Sign, usize, usize, usize), out: &mut Vec<Run>| {
        let (sign, a, b, n) = run;
        if n >= min_size {
            out.push(Run {
                core_start: a,
                core_end: b,
                start: a.saturating_sub(opts.flank),
                end: b.saturating_add(opts.flank).min(z.len()),
                sign,
                n_significant: n,
            });
        }
    };
    for (i, &v) in z.iter().enumerate() {
        let Some(s) = sign_at(v) else { continue };
        open = match open {
            Some((os, a, b, n)) if os == s && i - b <= opts.max_gap => Some((os, a, i + 1, n + 1)),
            Some(run) => {
                close(run, &mut out);
                Some((s, i, i + 1, 1))
            }
            None => Some((s, i, i + 1, 1)),
        };
    }
    if let Some(run) = open {
        close(run, &mut out);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(max_gap: usize, min_size: usize, flank: usize) -> CallOptions {
        CallOptions { cut: 2.5, max_gap, min_size, flank }
    }

    fn spans(runs: &[Run]) -> Vec<(usize, usize, char)> {
        runs.iter().map(|r| (r.core_start, r.core_end, r.sign.symbol())).collect()
    }

    #[test]
    fn gaps_up_to_max_gap_are_merged() {
        //        0    1    2    3    4    5    6    7    8    9    10   11
        let z = [0.0, 3.0, 3.0, 0.0, 3.0, 3.0, 0.0, 0.0, 3.0, 3.0, 0.0, 0.0];
        assert_eq!(spans(&call_runs(&z, &opts(1, 2, 0))), vec![(1, 6, '+'), (8, 10, '+')]);
        assert_eq!(spans(&call_runs(&z, &opts(2, 2, 0))), vec![(1, 10, '+')]);
        assert_eq!(spans(&call_runs(&z, &opts(0, 2, 0))), vec![(1, 3, '+'), (4, 6, '+'), (8, 10, '+')]);
        let r = call_runs(&z, &opts(2, 2, 0));
        assert_eq!(r[0].n_significant, 6);
    }

    #[test]
    fn min_size_counts_significant_positions_only() {
        let z = [3.0, 0.0, 3.0, 0.0, 3.0, 0.0, 0.0, 0.0, 3.0, 3.0, 3.0, 3.0];
        // The first run spans 5 positions but has 3 significant ones.
        assert_eq!(spans(&call_runs(&z, &opts(1, 4, 0))), vec![(8, 12, '+')]);
        assert_eq!(spans(&call_runs(&z, &opts(1, 3, 0))), vec![(0, 5, '+'), (8, 12, '+')]);
    }

    #[test]
    fn signs_split_runs_and_cut_is_strict() {
        let z = [-3.0, -3.0, 3.0, 3.0, 2.5, -2.5, -4.0, f64::NAN, -4.0];
        assert_eq!(spans(&call_runs(&z, &opts(1, 2, 0))), vec![(0, 2, '-'), (2, 4, '+'), (6, 9, '-')]);
    }

    #[test]
    fn flanks_are_clipped_to_the_sequence() {
        let z = [3.0, 3.0, 0.0, 0.0, 0.0, 0.0, -3.0, -3.0];
        let r = call_runs(&z, &opts(1, 2, 3));
        assert_eq!((r[0].start, r[0].end), (0, 5));
        assert_eq!((r[1].start, r[1].end), (3, 8));
        assert!(call_runs(&[0.0; 10], &opts(1, 1, 3)).is_empty());
        assert!(call_runs(&[], &opts(1, 1, 3)).is_empty());
    }
}
