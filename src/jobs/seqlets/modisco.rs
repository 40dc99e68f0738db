//! Seqlet calling against a windowed null, as tfmodisco-lite's `extract_seqlets` does.
//!
//! 1. Each position's score (the observed base's attribution) is summed over sliding windows of
//!    `window` positions (window i covers positions i..i+window).
//! 2. A Laplace null is fitted to those window sums: its centre μ is the mode (a histogram of
//!    1,000 bins, refined once inside the peak bin), and each side's rate is the largest
//!    −ln(1 − p)/(quantile_p − μ) over p = 5 %, 10 %, …, 95 % of that side's sums; 10,000 values
//!    are drawn from it (seeded).
//! 3. Per sign, an isotonic regression (pool-adjacent-violators) of "real vs null" on the window
//!    sum gives a precision at each sum; the threshold is the least extreme sum whose precision
//!    reaches 1 − `target_fdr`. The thresholds are then moved so that between `min_passing` and
//!    `max_passing` of all windows pass.
//! 4. Passing windows are taken greedily, largest |sum| first, as seqlets of `flank` + `window`
//!    + `flank` positions (windows whose flanks leave the sequence are skipped), suppressing
//!    windows within `window/2 + flank` of each one taken.
//!
//! The null is drawn with our own generator, so thresholds differ slightly from tfmodisco-lite's
//! on the same data.

use rand::{Rng, SeedableRng};

use crate::jobs::seqlets::call::Sign;

/// Options of [`call_windows`]; the defaults are tfmodisco-lite's.
#[derive(Debug, Clone, PartialEq)]
pub struct NullOptions {
    /// Sliding window (positions).
    pub window: usize,
    /// Positions added on each side of a window to make a seqlet.
    pub flank: usize,
    /// Target false discovery rate of the thresholds.
    pub target_fdr: f64,
    /// At least this fraction of windows pass (thresholds lowered otherwise).
    pub min_passing: f64,
    /// At most this fraction of windows pass (thresholds raised otherwise).
    pub max_passing: f64,
    /// Seed of the null sample.
    pub seed: u64,
}

impl Default for NullOptions {
    fn default() -> Self {
        NullOptions { window: 20, flank: 5, target_fdr: 0.2, min_passing: 0.03, max_passing: 0.2, seed: 1234 }
    }
}

/// One called seqlet: sequence index, start, end (0-based, half-open) and sign.
pub type Called = (usize, usize, usize, Sign);

/// Window sums `(sequence, window)` of per-position scores.
fn smooth(tracks: &[Vec<f64>], w: usize) -> Vec<Vec<f64>> {
    tracks
        .iter()
        .map(|t| {
            if t.len() < w {
                return Vec::new();
            }
            let mut c = vec![0.0; t.len() + 1];
            for (i, v) in t.iter().enumerate() {
                c[i + 1] = c[i] + v;
            }
            (0..=t.len() - w).map(|i| c[i + w] - c[i]).collect()
        })
        .collect()
}

/// The centre of the values' histogram mode (two rounds of 1,000 bins).
fn mode(values: &[f64]) -> f64 {
    let peak = |v: &[f64]| -> (f64, f64) {
        let (lo, hi) = v.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &x| (a.min(x), b.max(x)));
        if !(hi > lo) {
            return (lo, lo);
        }
        let width = (hi - lo) / 1000.0;
        let mut counts = vec![0usize; 1000];
        for &x in v {
            counts[(((x - lo) / width) as usize).min(999)] += 1;
        }
        let k = counts.iter().enumerate().max_by_key(|(i, c)| (**c, std::cmp::Reverse(*i))).map_or(0, |(i, _)| i);
        (lo + k as f64 * width, lo + (k + 1) as f64 * width)
    };
    let (l, r) = peak(values);
    let inner: Vec<f64> = values.iter().copied().filter(|&x| l < x && x < r).collect();
    let (l, r) = if inner.is_empty() { (l, r) } else { peak(&inner) };
    (l + r) / 2.0
}

/// The `q`-th percentile (0–100) of sorted values, linearly interpolated (numpy's default).
fn percentile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let pos = q / 100.0 * (sorted.len() - 1) as f64;
    let (i, f) = (pos.floor() as usize, pos - pos.floor());
    let j = (i + 1).min(sorted.len() - 1);
    sorted[i] + f * (sorted[j] - sorted[i])
}

/// A seeded sample of the Laplace null: (non-negative values, negative values).
fn laplace_null(values: &[f64], n: usize, seed: u64) -> (Vec<f64>, Vec<f64>) {
    let mu = mode(values);
    let mut pos: Vec<f64> = values.iter().copied().filter(|&v| v >= mu).collect();
    let mut neg: Vec<f64> = values.iter().copied().filter(|&v| v <= mu).collect();
    pos.sort_by(f64::total_cmp);
    neg.sort_by(f64::total_cmp);
    let rate = |side: &[f64], positive: bool| -> f64 {
        (1..20)
            .map(|k| {
                let p = 5.0 * k as f64;
                let q = if positive { percentile(side, p) - mu } else { (percentile(side, 100.0 - p) - mu).abs() };
                -(1.0 - p / 100.0).ln() / q
            })
            .filter(|r| r.is_finite())
            .fold(f64::NEG_INFINITY, f64::max)
    };
    let (lp, ln) = (rate(&pos, true), rate(&neg, false));
    let prob_pos = pos.len() as f64 / (pos.len() + neg.len()).max(1) as f64;
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let (mut np, mut nn) = (Vec::new(), Vec::new());
    for _ in 0..n {
        let u: f64 = rng.random();
        let v = if rng.random::<f64>() < prob_pos { mu - (1.0 - u).ln() / lp } else { mu + (1.0 - u).ln() / ln };
        if v.is_finite() {
            if v >= 0.0 {
                np.push(v)
            } else {
                nn.push(v)
            }
        }
    }
    (np, nn)
}

/// Weighted isotonic (non-decreasing) fit of `y` on sorted `x` by pool-adjacent-violators;
/// returns the fitted value per point.
fn pav(y: &[f64], w: &[f64]) -> Vec<f64> {
    // Blocks: (weighted mean, weight, count).
    let mut blocks: Vec<(f64, f64, usize)> = Vec::new();
    for (&yi, &wi) in y.iter().zip(w) {
        blocks.push((yi, wi, 1));
        while blocks.len() > 1 && blocks[blocks.len() - 2].0 > blocks[blocks.len() - 1].0 {
            let (m2, w2, c2) = blocks.pop().unwrap_or((0.0, 0.0, 0));
            let (m1, w1, c1) = blocks.pop().unwrap_or((0.0, 0.0, 0));
            let wt = w1 + w2;
            blocks.push(((m1 * w1 + m2 * w2) / wt.max(f64::MIN_POSITIVE), wt, c1 + c2));
        }
    }
    blocks.into_iter().flat_map(|(m, _, c)| std::iter::repeat_n(m, c)).collect()
}

/// tfmodisco-lite's isotonic threshold for one sign: `values` of that sign ordered from the
/// least to the most extreme, `null` the null sample of that sign.
fn isotonic_threshold(values: &[f64], null: &[f64], fdr: f64) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    if null.is_empty() {
        return values.first().copied();
    }
    let wnull = values.len() as f64 / null.len() as f64;
    // Points ordered by extremeness (|x| grows along the order for both signs).
    let mut pts: Vec<(f64, f64, f64, Option<usize>)> = values
        .iter()
        .enumerate()
        .map(|(i, &v)| (v.abs(), 1.0, 1.0, Some(i)))
        .chain(null.iter().map(|&v| (v.abs(), 0.0, wnull, None)))
        .collect();
    pts.sort_by(|a, b| a.0.total_cmp(&b.0).then(b.1.total_cmp(&a.1)));
    let fit = pav(&pts.iter().map(|p| p.1).collect::<Vec<_>>(), &pts.iter().map(|p| p.2).collect::<Vec<_>>());
    let mut prec = vec![0.0; values.len()];
    for (p, f) in pts.iter().zip(&fit) {
        if let Some(i) = p.3 {
            prec[i] = *f;
        }
    }
    let min_precision = fit.first().copied().unwrap_or(0.0).max(1e-7);
    let implied = (-1.0 / (1.0 - 1.0 / min_precision)).clamp(0.95, 1.0);
    let implied = if implied.is_finite() { implied } else { 1.0 };
    let last = values.len() - 1;
    (0..values.len())
        .find(|&i| {
            let p = if i == last { 1.0 } else { (1.0 + implied * (1.0 - 1.0 / prec[i].max(1e-7))).clamp(0.0, 1.0) };
            p >= 1.0 - fdr
        })
        .map(|i| values[i])
}

/// Calls seqlets on per-position scores `tracks` (one vector per sequence).
pub fn call_windows(tracks: &[Vec<f64>], opts: &NullOptions) -> Vec<Called> {
    let w = opts.window.max(1);
    let smoothed = smooth(tracks, w);
    let all: Vec<f64> = smoothed.iter().flatten().copied().collect();
    if all.is_empty() || all.iter().all(|&v| v == 0.0) {
        return Vec::new();
    }
    let mut pos: Vec<f64> = all.iter().copied().filter(|&v| v >= 0.0).collect();
    let mut neg: Vec<f64> = all.iter().copied().filter(|&v| v < 0.0).collect();
    pos.sort_by(f64::total_cmp);
    neg.sort_by(|a, b| b.total_cmp(a));
    let (null_pos, null_neg) = laplace_null(&all, 10_000, opts.seed);
    let mut pt = isotonic_threshold(&pos, &null_pos, opts.target_fdr).unwrap_or(f64::INFINITY);
    let mut nt = isotonic_threshold(&neg, &null_neg, opts.target_fdr).unwrap_or(f64::NEG_INFINITY);
    let n = all.len() as f64;
    let frac = all.iter().filter(|&&v| v >= pt || v <= nt).count() as f64 / n;
    let mut abs: Vec<f64> = all.iter().map(|v| v.abs()).collect();
    abs.sort_by(f64::total_cmp);
    if frac < opts.min_passing {
        pt = percentile(&abs, 100.0 * (1.0 - opts.min_passing));
        nt = -pt;
    }
    if frac > opts.max_passing {
        pt = percentile(&abs, 100.0 * (1.0 - opts.max_passing));
        nt = -pt;
    }
    let suppress = w as f64 / 2.0 + opts.flank as f64;
    let mut out = Vec::new();
    for (s, sm) in smoothed.iter().enumerate() {
        let d = sm.len();
        let mut score: Vec<f64> = sm
            .iter()
            .enumerate()
            .map(|(i, &v)| {
                let inside = i >= opts.flank && i + opts.flank < d;
                if inside && (v >= pt || v <= nt) && v != 0.0 {
                    v.abs()
                } else {
                    f64::NEG_INFINITY
                }
            })
            .collect();
        loop {
            let Some((i, &best)) = score.iter().enumerate().max_by(|a, b| a.1.total_cmp(b.1)) else { break };
            if best == f64::NEG_INFINITY {
                break;
            }
            let sign = if sm[i] >= 0.0 { Sign::Positive } else { Sign::Negative };
            out.push((s, i - opts.flank, i + w + opts.flank, sign));
            let l = ((i as f64 + 0.5 - suppress).floor().max(0.0)) as usize;
            let r = ((i as f64 + 0.5 + suppress).ceil() as usize).min(d);
            score[l..r].fill(f64::NEG_INFINITY);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pav_pools_violators() {
        assert_eq!(pav(&[1.0, 0.0, 1.0, 1.0], &[1.0; 4]), vec![0.5, 0.5, 1.0, 1.0]);
        assert_eq!(pav(&[0.0, 1.0], &[1.0, 3.0]), vec![0.0, 1.0]);
        assert_eq!(pav(&[1.0, 0.0], &[1.0, 3.0]), vec![0.25, 0.25]);
    }

    #[test]
    fn planted_windows_are_called_with_their_sign_and_noise_is_not() {
        let mut state = 7u64;
        let mut noise = || {
            state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            ((state >> 11) as f64 / (1u64 << 53) as f64 - 0.5) * 0.02
        };
        let mut tracks: Vec<Vec<f64>> = (0..40).map(|_| (0..200).map(|_| noise()).collect()).collect();
        for (s, t) in tracks.iter_mut().enumerate().take(10) {
            let sign = if s % 2 == 0 { 1.0 } else { -1.0 };
            for v in &mut t[90..98] {
                *v += sign;
            }
        }
        let called = call_windows(&tracks, &NullOptions::default());
        for s in 0..10 {
            let hit = called.iter().find(|c| c.0 == s).expect("planted sequence called");
            assert!(hit.1 <= 90 && hit.2 >= 98, "{hit:?}");
            assert_eq!(hit.3, if s % 2 == 0 { Sign::Positive } else { Sign::Negative });
        }
        // Noise-only sequences give far fewer seqlets than planted ones get.
        let noise_calls = called.iter().filter(|c| c.0 >= 10).count();
        assert!(noise_calls < 30, "{noise_calls}");
        assert!(call_windows(&[vec![0.0; 100]], &NullOptions::default()).is_empty());
    }
}
