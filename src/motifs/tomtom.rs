//! Tomtom-style motif comparison (Gupta, Stamatoyannopoulos, Bailey & Noble 2007, Genome
//! Biology 8:R24), as in MEME's `tomtom` and memelite.
//!
//! For a query motif of width `n` and a database of targets:
//!
//! 1. Every query column is scored against every database column, of both orientations when
//!    `reverse_complement` is on ([`Distance`]: Pearson correlation, or minus the Euclidean
//!    distance). These scores are the column's null distribution. Each score has the column's
//!    median subtracted, so a query column outside the alignment scores 0 (Tomtom's "complete"
//!    scores), and is rounded onto an integer grid: `score_bins` steps span the range of all of
//!    the query's centred scores.
//! 2. An alignment of the query with a target at offset `o` pairs query column `i` with target
//!    column `i + o`; its score is the sum over the paired columns, and it counts when at least
//!    `min(min_overlap, n, target width)` columns pair up. The optimal offset has the highest
//!    score (ties: the larger overlap, then the smaller offset).
//! 3. Under the null, the score of an alignment covering query columns `a..=b` is a sum of
//!    independent column scores (a convolution of the column distributions), and offsets are
//!    independent: the p-value of the optimal score `s` against a target of width `w` is
//!    P(max over that width's offsets ≥ s) = 1 − Π_o (1 − P(S_o ≥ s)).
//! 4. With both orientations, the strand with the smaller p-value is reported and the p-value is
//!    corrected for the two tries, 1 − (1 − p)². E-value = p × number of targets; q-values are
//!    Benjamini–Hochberg over the query's targets.

use std::sync::atomic::{AtomicUsize, Ordering};

use super::meme::{Motif, SUM_TOLERANCE};
use crate::error::{Error, Result};

/// The widest query [`compare`] accepts: the null distributions of a query's column spans cost
/// time and memory that grow with the cube of its width.
pub const MAX_QUERY_WIDTH: usize = 300;

/// How two motif columns are scored (higher is more similar).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Distance {
    /// Pearson correlation of the four probabilities (Tomtom's default `-dist pearson`); a
    /// uniform column correlates 0 with everything.
    Pearson,
    /// Minus the Euclidean distance between the columns (Tomtom's `-dist ed`, memelite's only
    /// score).
    Euclidean,
}

/// The strand of the target in an alignment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Orientation {
    /// The target as given (`+`).
    Forward,
    /// The target's reverse complement (`-`); offsets then count columns of the reverse complement.
    Reverse,
}

impl Orientation {
    /// `+` or `-`, as in Tomtom's output.
    pub fn symbol(self) -> char {
        match self {
            Orientation::Forward => '+',
            Orientation::Reverse => '-',
        }
    }
}

/// Options of [`compare`]. The defaults are Tomtom's, with `min_overlap` 5.
#[derive(Debug, Clone)]
pub struct CompareOptions {
    /// Column score.
    pub distance: Distance,
    /// Minimum number of paired columns in an alignment (capped at both motifs' widths); ≥ 1.
    pub min_overlap: usize,
    /// Keep matches with q-value (or E-value, with `evalue`) ≤ `thresh`; 1.0 (q) keeps all.
    pub thresh: f64,
    /// Apply `thresh` to E-values instead of q-values (Tomtom's `-evalue`).
    pub evalue: bool,
    /// Keep at most this many matches per query (the best by p-value).
    pub top: Option<usize>,
    /// Also align each target's reverse complement (and include its columns in the null).
    pub reverse_complement: bool,
    /// Resolution of the integer score grid (Tomtom and memelite use 100).
    pub score_bins: usize,
    /// Worker threads; 0 uses every available core.
    pub threads: usize,
}

impl Default for CompareOptions {
    fn default() -> Self {
        CompareOptions {
            distance: Distance::Pearson,
            min_overlap: 5,
            thresh: 0.05,
            evalue: false,
            top: None,
            reverse_complement: true,
            score_bins: 100,
            threads: 0,
        }
    }
}

/// The optimal alignment of one query with one target.
#[derive(Debug, Clone, PartialEq)]
pub struct Match {
    /// Index of the query in the `queries` slice.
    pub query: usize,
    /// Index of the target in the `targets` slice.
    pub target: usize,
    /// Target column paired with query column 0 (of the reverse-complemented target when
    /// `orientation` is `Reverse`): query column `i` pairs with target column `i + offset`;
    /// negative when the query starts before the target. Tomtom's `Optimal_offset` convention.
    pub offset: i64,
    /// P-value of the optimal alignment (over offsets and, corrected, both strands).
    pub p_value: f64,
    /// `p_value` × number of targets.
    pub e_value: f64,
    /// Benjamini–Hochberg q-value among this query's matches against all targets.
    pub q_value: f64,
    /// Number of paired columns.
    pub overlap: usize,
    /// Strand of the target.
    pub orientation: Orientation,
    /// The optimal score: the sum over paired columns of (column score − that query column's
    /// null median), in column-score units (as rounded onto the score grid).
    pub score: f64,
}

/// Compares every query with every target. Returns, per query in query order, its matches with
/// q-value (or E-value) ≤ `thresh`, at most `top` of them, ordered by p-value (ties by target
/// index). With `thresh: 1.0` and `top: Some(3)` this gives each query's three best targets.
///
/// Fails when there are no targets, a motif has no columns or a column that is not a
/// probability vector (names the motif), a query is wider than [`MAX_QUERY_WIDTH`], or
/// `min_overlap`/`score_bins` is 0.
pub fn compare(queries: &[Motif], targets: &[Motif], opts: &CompareOptions) -> Result<Vec<Match>> {
    if targets.is_empty() {
        return Err(Error::InvalidArgument("motif comparison needs at least one target motif".into()));
    }
    if opts.min_overlap == 0 || opts.score_bins == 0 || opts.score_bins > 100_000 {
        return Err(Error::InvalidArgument("min_overlap must be ≥ 1 and score_bins in 1..=100000".into()));
    }
    for (role, set) in [("query", queries), ("target", targets)] {
        for m in set {
            check_motif(m).map_err(|e| Error::InvalidArgument(format!("{role} motif {}: {e}", m.id)))?;
        }
    }
    if let Some(q) = queries.iter().find(|q| q.width() > MAX_QUERY_WIDTH) {
        return Err(Error::InvalidArgument(format!(
            "query motif {} has {} columns; at most {MAX_QUERY_WIDTH} are supported (trim its flanks)",
            q.id,
            q.width()
        )));
    }
    if targets.len() < 50 {
        tracing::warn!(
            "{} target motifs: p-values use the targets' columns as their null and are unreliable with fewer than 50",
            targets.len()
        );
    }
    let db = Database::new(targets, opts);
    let threads = match opts.threads {
        0 => std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
        t => t,
    }
    .clamp(1, queries.len().max(1));
    let next = AtomicUsize::new(0);
    let mut per_query: Vec<Vec<Match>> = vec![Vec::new(); queries.len()];
    let done: Vec<Vec<(usize, Vec<Match>)>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|_| {
                s.spawn(|| {
                    let mut out = Vec::new();
                    let mut work = Workspace::default();
                    loop {
                        let qi = next.fetch_add(1, Ordering::Relaxed);
                        if qi >= queries.len() {
                            break;
                        }
                        out.push((qi, compare_one(qi, &queries[qi], &db, opts, &mut work)));
                    }
                    out
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap_or_default()).collect()
    });
    let mut n_done = 0;
    for (qi, matches) in done.into_iter().flatten() {
        per_query[qi] = matches;
        n_done += 1;
    }
    if n_done != queries.len() {
        return Err(Error::InvalidArgument("a motif comparison worker failed".into()));
    }
    Ok(per_query.into_iter().flatten().collect())
}

/// A motif's columns must be probability vectors.
fn check_motif(m: &Motif) -> std::result::Result<(), String> {
    if m.probs.is_empty() {
        return Err("no columns".into());
    }
    for (i, c) in m.probs.iter().enumerate() {
        let sum: f64 = c.iter().sum();
        if c.iter().any(|p| !p.is_finite() || *p < 0.0) || (sum - 1.0).abs() > SUM_TOLERANCE {
            return Err(format!("column {} {c:?} is not a probability vector", i + 1));
        }
    }
    Ok(())
}

/// A column as the distance wants it: centred and scaled to unit length for Pearson, as is for
/// Euclidean.
fn transform(col: &[f64; 4], distance: Distance) -> [f64; 4] {
    match distance {
        Distance::Euclidean => *col,
        Distance::Pearson => {
            let c = col.map(|p| p - 0.25);
            let norm = c.iter().map(|x| x * x).sum::<f64>().sqrt();
            if norm > 1e-12 {
                c.map(|x| x / norm)
            } else {
                [0.0; 4]
            }
        }
    }
}

/// The targets' columns in structure-of-arrays form: every target forward, then (with
/// `reverse_complement`) every target reverse-complemented.
struct Database {
    /// Transformed column values by letter.
    letters: [Vec<f64>; 4],
    /// (first column, width) of each target forward, then of each reverse complement.
    spans: Vec<(usize, usize)>,
    n_targets: usize,
    distance: Distance,
    /// widths[w]: some target is `w` columns wide.
    widths: Vec<bool>,
}

impl Database {
    fn new(targets: &[Motif], opts: &CompareOptions) -> Database {
        let mut letters: [Vec<f64>; 4] = Default::default();
        let mut spans = Vec::new();
        let mut add = |probs: &mut dyn Iterator<Item = [f64; 4]>, spans: &mut Vec<(usize, usize)>| {
            let start = letters[0].len();
            for col in probs {
                let t = transform(&col, opts.distance);
                for (l, v) in letters.iter_mut().zip(t) {
                    l.push(v);
                }
            }
            spans.push((start, letters[0].len() - start));
        };
        for t in targets {
            add(&mut t.probs.iter().copied(), &mut spans);
        }
        if opts.reverse_complement {
            for t in targets {
                add(&mut t.probs.iter().rev().map(|c| [c[3], c[2], c[1], c[0]]), &mut spans);
            }
        }
        let mut widths = vec![false; targets.iter().map(Motif::width).max().unwrap_or(0) + 1];
        for t in targets {
            widths[t.width()] = true;
        }
        Database { letters, spans, n_targets: targets.len(), distance: opts.distance, widths }
    }

    /// Which widths below `nq` some target has (indexed by width).
    fn narrower(&self, nq: usize) -> &[bool] {
        &self.widths[..nq.min(self.widths.len())]
    }

    fn n_columns(&self) -> usize {
        self.letters[0].len()
    }

    /// Scores of query column `q` (transformed) against every database column, into `row`;
    /// returns their (minimum, maximum).
    #[inline(never)]
    fn score_row(&self, q: &[f64; 4], row: &mut [f64]) -> (f64, f64) {
        let [a, c, g, t] = &self.letters;
        let n = row.len();
        let (a, c, g, t) = (&a[..n], &c[..n], &g[..n], &t[..n]);
        match self.distance {
            Distance::Pearson => {
                for j in 0..n {
                    row[j] = q[0] * a[j] + q[1] * c[j] + q[2] * g[j] + q[3] * t[j];
                }
            }
            Distance::Euclidean => {
                for j in 0..n {
                    let (d0, d1, d2, d3) = (q[0] - a[j], q[1] - c[j], q[2] - g[j], q[3] - t[j]);
                    row[j] = -(d0 * d0 + d1 * d1 + d2 * d2 + d3 * d3).sqrt();
                }
            }
        }
        // Four lanes of running extremes (the scores are never NaN), so the loop vectorises.
        let (mut lo, mut hi) = ([f64::INFINITY; 4], [f64::NEG_INFINITY; 4]);
        let mut chunks = row.chunks_exact(4);
        for ch in &mut chunks {
            for k in 0..4 {
                lo[k] = if ch[k] < lo[k] { ch[k] } else { lo[k] };
                hi[k] = if ch[k] > hi[k] { ch[k] } else { hi[k] };
            }
        }
        for &x in chunks.remainder() {
            lo[0] = lo[0].min(x);
            hi[0] = hi[0].max(x);
        }
        (lo.iter().copied().fold(f64::INFINITY, f64::min), hi.iter().copied().fold(f64::NEG_INFINITY, f64::max))
    }
}

/// The median of `row` (the element of rank ⌊n/2⌋), whose values lie in `lo..=hi`: a histogram
/// finds the bin holding that rank, then only that bin's values are ranked exactly.
fn median(row: &[f64], lo: f64, hi: f64, hist: &mut Vec<u32>, scratch: &mut Vec<f64>) -> f64 {
    const BINS: usize = 4096;
    if row.is_empty() || hi - lo <= 0.0 {
        return lo;
    }
    let f = (BINS - 1) as f64 / (hi - lo);
    let bin = |x: f64| (((x - lo) * f) as usize).min(BINS - 1);
    hist.clear();
    hist.resize(BINS, 0);
    for &x in row {
        hist[bin(x)] += 1;
    }
    let rank = row.len() / 2;
    let (mut below, mut b) = (0usize, 0usize);
    while b < BINS - 1 && below + hist[b] as usize <= rank {
        below += hist[b] as usize;
        b += 1;
    }
    scratch.clear();
    scratch.extend(row.iter().copied().filter(|&x| bin(x) == b));
    match scratch.len() {
        0 => lo,
        n => *scratch.select_nth_unstable_by((rank - below).min(n - 1), f64::total_cmp).1,
    }
}

/// Per-thread buffers, reused across queries.
#[derive(Default)]
struct Workspace {
    rows: Vec<f64>,
    scratch: Vec<f64>,
    hist: Vec<u32>,
    grid: Vec<i32>,
    sf: Vec<f64>,
    pdf: Vec<f64>,
    next: Vec<f64>,
    sums: Vec<i32>,
}

/// A span's survival function: `sf[start + k]` = P(S ≥ lo + k) for k in 0..len.
#[derive(Clone, Copy, Default)]
struct Span {
    lo: i64,
    start: usize,
    len: usize,
}

impl Span {
    fn survival(&self, sf: &[f64], s: i64) -> f64 {
        let k = s - self.lo;
        if k <= 0 {
            1.0
        } else if k as usize >= self.len {
            0.0
        } else {
            sf[self.start + k as usize]
        }
    }
}

/// Every match of one query, thresholded and ordered.
fn compare_one(qi: usize, query: &Motif, db: &Database, opts: &CompareOptions, w: &mut Workspace) -> Vec<Match> {
    let nq = query.width();
    let nc = db.n_columns();
    // 1. Column scores, medians, and the integer grid.
    w.rows.resize(nq * nc, 0.0);
    let mut stats = Vec::with_capacity(nq); // (min, max, median)
    for (i, col) in query.probs.iter().enumerate() {
        let row = &mut w.rows[i * nc..(i + 1) * nc];
        let (lo, hi) = db.score_row(&transform(col, db.distance), row);
        stats.push((lo, hi, median(row, lo, hi, &mut w.hist, &mut w.scratch)));
    }
    let z_min = stats.iter().map(|(lo, _, m)| lo - m).fold(f64::INFINITY, f64::min);
    let z_max = stats.iter().map(|(_, hi, m)| hi - m).fold(f64::NEG_INFINITY, f64::max);
    let scale = if z_max - z_min > 1e-12 { opts.score_bins as f64 / (z_max - z_min) } else { 1.0 };
    let to_grid = |x: f64, m: f64| {
        let v = (x - m) * scale;
        (v + 0.5f64.copysign(v)) as i32 // rounds half away from zero, as f64::round
    };
    // grid[i * nc + j]: query column i against database column j.
    w.grid.resize(nc * nq, 0);
    let mut col_lo = Vec::with_capacity(nq);
    let mut pdfs: Vec<Vec<f64>> = Vec::with_capacity(nq);
    for (i, &(lo, hi, m)) in stats.iter().enumerate() {
        let (glo, ghi) = (to_grid(lo, m), to_grid(hi, m));
        let mut counts = vec![0u32; (ghi - glo + 1) as usize];
        let grid = &mut w.grid[i * nc..(i + 1) * nc];
        for (g, &x) in grid.iter_mut().zip(&w.rows[i * nc..(i + 1) * nc]) {
            *g = to_grid(x, m);
        }
        for &g in grid.iter() {
            counts[(g - glo) as usize] += 1;
        }
        col_lo.push(glo as i64);
        pdfs.push(counts.iter().map(|&c| c as f64 / nc as f64).collect());
    }
    // 2. Survival functions of the spans a..=b of query columns that alignments use
    //    (spans[a * nq + b]): prefixes, suffixes, and inner spans as wide as a narrower target.
    let mut spans = vec![Span::default(); nq * nq];
    w.sf.clear();
    let mut chain = |a: usize, cols: &mut dyn Iterator<Item = usize>, keep: &dyn Fn(usize, usize) -> bool| {
        w.pdf.clear();
        let mut lo = 0;
        for c in cols {
            if w.pdf.is_empty() {
                w.pdf.extend_from_slice(&pdfs[c]);
            } else {
                convolve(&w.pdf, &pdfs[c], &mut w.next);
                std::mem::swap(&mut w.pdf, &mut w.next);
            }
            lo += col_lo[c];
            let (first, last) = if c >= a { (a, c) } else { (c, a) };
            if !keep(first, last) {
                continue;
            }
            let start = w.sf.len();
            w.sf.resize(start + w.pdf.len(), 0.0);
            let mut acc = 0.0;
            for (s, p) in w.sf[start..].iter_mut().zip(&w.pdf).rev() {
                acc += p;
                *s = acc.min(1.0);
            }
            spans[first * nq + last] = Span { lo, start, len: w.pdf.len() };
        }
    };
    let inner = |first: usize, last: usize| db.narrower(nq).get(last - first + 1).copied().unwrap_or(false);
    chain(0, &mut (0..nq), &|_, _| true);
    chain(nq - 1, &mut (1..nq).rev(), &|_, _| true);
    let widest_inner = db.narrower(nq).iter().rposition(|&x| x).unwrap_or(0);
    for a in 1..nq.saturating_sub(1) {
        chain(a, &mut (a..(a + widest_inner).min(nq - 1)), &inner);
    }
    // 3. Optimal alignments and their p-values, per target and strand.
    let mut rows: Vec<Match> = Vec::with_capacity(db.n_targets);
    for ti in 0..db.n_targets {
        let fwd = best_alignment(db.spans[ti], nq, opts.min_overlap, &w.grid, &mut w.sums, &spans, &w.sf);
        let (mut best, mut orientation) = (fwd, Orientation::Forward);
        if opts.reverse_complement {
            let rev =
                best_alignment(db.spans[db.n_targets + ti], nq, opts.min_overlap, &w.grid, &mut w.sums, &spans, &w.sf);
            if rev.3 < fwd.3 || (rev.3 == fwd.3 && rev.0 > fwd.0) {
                (best, orientation) = (rev, Orientation::Reverse);
            }
        }
        let (score, offset, overlap, p) = best;
        let p = if opts.reverse_complement { p * (2.0 - p) } else { p };
        rows.push(Match {
            query: qi,
            target: ti,
            offset,
            p_value: p,
            e_value: p * db.n_targets as f64,
            q_value: 1.0,
            overlap,
            orientation,
            score: score as f64 / scale,
        });
    }
    // 4. q-values (Benjamini–Hochberg), threshold, order.
    rows.sort_by(|x, y| x.p_value.total_cmp(&y.p_value).then(x.target.cmp(&y.target)));
    let n = rows.len() as f64;
    let mut running = 1.0f64;
    for (rank, m) in rows.iter_mut().enumerate().rev() {
        running = running.min(m.p_value * n / (rank + 1) as f64);
        m.q_value = running;
    }
    rows.retain(|m| if opts.evalue { m.e_value <= opts.thresh } else { m.q_value <= opts.thresh });
    if let Some(top) = opts.top {
        rows.truncate(top);
    }
    rows
}

/// `out` = the convolution of the distributions `a` and `b`.
#[inline(never)]
fn convolve(a: &[f64], b: &[f64], out: &mut Vec<f64>) {
    out.clear();
    out.resize(a.len() + b.len() - 1, 0.0);
    for (l, &wb) in b.iter().enumerate() {
        if wb == 0.0 {
            continue;
        }
        for (o, &pa) in out[l..l + a.len()].iter_mut().zip(a) {
            *o += pa * wb;
        }
    }
}

/// The optimal alignment of the query (grid `nq` wide) with the target columns
/// `start..start + width`: (score, offset, overlap, p-value of one strand).
fn best_alignment(
    (start, width): (usize, usize),
    nq: usize,
    min_overlap: usize,
    grid: &[i32],
    sums: &mut Vec<i32>,
    spans: &[Span],
    sf: &[f64],
) -> (i64, i64, usize, f64) {
    // sums[j - i + nq - 1] accumulates query column i against target column j.
    sums.clear();
    sums.resize(nq + width - 1, 0);
    let nc = grid.len() / nq;
    for i in 0..nq {
        let g = &grid[i * nc + start..i * nc + start + width];
        for (o, &x) in sums[nq - 1 - i..nq - 1 - i + width].iter_mut().zip(g) {
            *o += x;
        }
    }
    let min_overlap = min_overlap.min(nq).min(width);
    // Offsets o = p - (nq - 1); query columns a..b (exclusive) pair up.
    let cols = |p: usize| {
        let o = p as i64 - (nq as i64 - 1);
        let a = (-o).max(0) as usize;
        let b = (width as i64 - o).min(nq as i64) as usize;
        (o, a, b)
    };
    let mut best: Option<(i64, i64, usize)> = None;
    for (p, &s) in sums.iter().enumerate() {
        let (o, a, b) = cols(p);
        let overlap = b - a;
        if overlap < min_overlap {
            continue;
        }
        let s = s as i64;
        let better = match best {
            None => true,
            Some((bs, _, bo)) => s > bs || (s == bs && overlap > bo),
        };
        if better {
            best = Some((s, o, overlap));
        }
    }
    let Some((score, offset, overlap)) = best else { return (0, 0, 0, 1.0) };
    // P(max over offsets ≥ score), offsets independent: 1 − Π (1 − P(S_o ≥ score)).
    let mut log_all_below = 0.0;
    for p in 0..sums.len() {
        let (_, a, b) = cols(p);
        if b - a >= min_overlap {
            let tail = spans[a * nq + b - 1].survival(sf, score);
            if tail > 0.0 {
                log_all_below += (-tail).ln_1p();
            }
        }
    }
    (score, offset, overlap, -log_all_below.exp_m1())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn convolution_of_distributions() {
        let mut out = Vec::new();
        convolve(&[0.5, 0.5], &[0.25, 0.75], &mut out);
        assert_eq!(out, vec![0.125, 0.5, 0.375]);
    }
}
