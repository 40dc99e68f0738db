//! Seqlet similarity, agglomerative clustering and per-cluster motifs.
//!
//! **Similarity.** Two seqlets are compared by their contribution-weight matrices (CWMs: the
//! attribution of the observed base at each position, as a position × A,C,G,T matrix). For every
//! relative offset with an overlap of at least half the shorter seqlet, and for both strands of
//! the second seqlet, the score is Σ over the overlapping positions of the dot product of the
//! columns, divided by the product of the two *whole* matrices' Frobenius norms (so a partial
//! overlap cannot score higher than the signal it covers): a cosine similarity in −1..1, 1 for
//! identical matrices. The best offset and strand give the similarity; distance = 1 − similarity.
//! This is used instead of Tomtom p-values because a single seqlet is one sequence, not a
//! probability matrix: its PWM is a smoothed one-hot whose columns all look alike to Tomtom's
//! column scores, so p-values between seqlets do not separate motifs, while attribution
//! magnitudes do (they also say which bases matter).
//!
//! **Clustering.** Average-linkage agglomerative clustering (nearest-neighbour chain, O(n²)
//! time and memory), cut at a distance threshold: the clusters are the groups joined by merges
//! at average distance ≤ the threshold.
//!
//! **Motifs.** Each cluster's medoid (the member with the largest summed similarity to the other
//! members) fixes a frame; every member is placed in it at its best offset and strand against
//! the medoid (reverse-complemented when it aligns better that way). The CWM is the members'
//! sum divided by their number; the PWM counts the members' bases plus a pseudocount. Flanking
//! columns whose CWM magnitude Σ|value| is below a fraction of the largest column are trimmed.

use super::call::Sign;

/// The alignment of a seqlet `b` onto a seqlet `a` that [`align`] found.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Alignment {
    /// Cosine similarity of the aligned matrices (−1..1; 0 when either matrix is all zero).
    pub similarity: f64,
    /// Column `j` of `b` (of its reverse complement when `reverse`) faces column `j + offset` of
    /// `a`.
    pub offset: i64,
    /// `b` is reverse-complemented.
    pub reverse: bool,
}

/// Reverse complement of a position × (A, C, G, T) matrix: positions reversed, A↔T and C↔G.
pub fn reverse_complement(m: &[[f64; 4]]) -> Vec<[f64; 4]> {
    m.iter().rev().map(|c| [c[3], c[2], c[1], c[0]]).collect()
}

fn norm(m: &[[f64; 4]]) -> f64 {
    m.iter().flat_map(|c| c.iter()).map(|v| v * v).sum::<f64>().sqrt()
}

/// Best alignment of `b` onto `a` over every offset with at least ⌈min(|a|, |b|) / 2⌉
/// overlapping positions and both strands of `b` (see the module documentation). Ties keep the
/// forward strand, then the smaller offset.
pub fn align(a: &[[f64; 4]], b: &[[f64; 4]]) -> Alignment {
    let none = Alignment { similarity: 0.0, offset: 0, reverse: false };
    let denom = norm(a) * norm(b);
    if a.is_empty() || b.is_empty() || denom.is_nan() || denom <= 0.0 || !denom.is_finite() {
        return none;
    }
    let (la, lb) = (a.len() as i64, b.len() as i64);
    let min_overlap = ((la.min(lb) + 1) / 2).max(1);
    let rc = reverse_complement(b);
    let mut best: Option<Alignment> = None;
    for (reverse, bb) in [(false, b), (true, &rc[..])] {
        for offset in (min_overlap - lb)..=(la - min_overlap) {
            let j0 = (-offset).max(0);
            let j1 = lb.min(la - offset);
            let mut dot = 0.0;
            for j in j0..j1 {
                let (ca, cb) = (&a[(j + offset) as usize], &bb[j as usize]);
                dot += ca[0] * cb[0] + ca[1] * cb[1] + ca[2] * cb[2] + ca[3] * cb[3];
            }
            let s = dot / denom;
            if best.is_none_or(|b| s > b.similarity) {
                best = Some(Alignment { similarity: s, offset, reverse });
            }
        }
    }
    best.unwrap_or(none)
}

/// Pairwise similarities (row-major n × n, 1 on the diagonal) of `cwms`, on `threads` threads.
pub fn similarity_matrix(cwms: &[Vec<[f64; 4]>], threads: usize) -> Vec<f64> {
    let n = cwms.len();
    let mut sim = vec![0.0f64; n * n];
    if n == 0 {
        return sim;
    }
    let threads = threads.clamp(1, n);
    let rows_per = n.div_ceil(threads);
    std::thread::scope(|s| {
        for (chunk, rows) in sim.chunks_mut(rows_per * n).enumerate() {
            s.spawn(move || {
                for (k, row) in rows.chunks_mut(n).enumerate() {
                    let i = chunk * rows_per + k;
                    for (j, v) in row.iter_mut().enumerate() {
                        *v = if i == j { 1.0 } else { align(&cwms[i], &cwms[j]).similarity };
                    }
                }
            });
        }
    });
    // align(a, b) and align(b, a) agree up to rounding; make the matrix exactly symmetric.
    for i in 0..n {
        for j in i + 1..n {
            let v = 0.5 * (sim[i * n + j] + sim[j * n + i]);
            sim[i * n + j] = v;
            sim[j * n + i] = v;
        }
    }
    sim
}

/// Average-linkage clustering of `n` items with distances `dist` (row-major n × n, symmetric),
/// cut at `threshold`: returns a group label per item (labels 0.. in order of first
/// appearance), items joined by merges at average distance ≤ `threshold` sharing a label.
/// Non-finite distances count as +∞ (never merged under a finite threshold).
pub fn average_linkage(n: usize, dist: &[f64], threshold: f64) -> Vec<usize> {
    let mut d: Vec<f64> = dist.iter().map(|&v| if v.is_nan() { f64::INFINITY } else { v }).collect();
    let mut size = vec![1usize; n];
    let mut active = vec![true; n];
    let mut parent: Vec<usize> = (0..n).collect();
    fn root(parent: &mut [usize], mut i: usize) -> usize {
        while parent[i] != i {
            parent[i] = parent[parent[i]];
            i = parent[i];
        }
        i
    }
    // Nearest-neighbour chain: average linkage is reducible, so the merges found are those of
    // the greedy algorithm, and heights never decrease along a cluster's history.
    let mut chain: Vec<usize> = Vec::new();
    let mut remaining = n;
    while remaining > 1 {
        if chain.is_empty() {
            if let Some(first) = (0..n).find(|&i| active[i]) {
                chain.push(first);
            }
        }
        let a = chain[chain.len() - 1];
        let prev = if chain.len() >= 2 { Some(chain[chain.len() - 2]) } else { None };
        let mut best = prev.map(|p| (p, d[a * n + p]));
        for k in 0..n {
            if k != a && active[k] && Some(k) != prev && best.is_none_or(|(_, bd)| d[a * n + k] < bd) {
                best = Some((k, d[a * n + k]));
            }
        }
        let Some((b, height)) = best else { break };
        if Some(b) != prev {
            chain.push(b);
            continue;
        }
        chain.truncate(chain.len() - 2);
        // Merge b into a.
        let (sa, sb) = (size[a] as f64, size[b] as f64);
        for k in 0..n {
            if active[k] && k != a && k != b {
                let v = (sa * d[a * n + k] + sb * d[b * n + k]) / (sa + sb);
                d[a * n + k] = v;
                d[k * n + a] = v;
            }
        }
        size[a] += size[b];
        active[b] = false;
        remaining -= 1;
        if height <= threshold {
            let (ra, rb) = (root(&mut parent, a), root(&mut parent, b));
            parent[rb] = ra;
        }
    }
    let mut labels = vec![usize::MAX; n];
    let mut of_root = std::collections::HashMap::new();
    for (i, label) in labels.iter_mut().enumerate() {
        let r = root(&mut parent, i);
        let next = of_root.len();
        *label = *of_root.entry(r).or_insert(next);
    }
    labels
}

/// A seqlet placed in its cluster's frame.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Member {
    /// Index of the seqlet (in the slice given to clustering).
    pub seqlet: usize,
    /// Alignment onto the cluster's medoid (offset in medoid columns, before trimming).
    pub alignment: Alignment,
}

/// A cluster's aligned motif: CWM and PWM over the same trimmed columns.
#[derive(Debug, Clone, PartialEq)]
pub struct Aggregate {
    /// Mean contribution per position and base (sum over members / number of members).
    pub cwm: Vec<[f64; 4]>,
    /// Base probabilities: members' base counts plus `pseudocount`, normalised per column.
    pub pwm: Vec<[f64; 4]>,
    /// Column of the medoid frame (before trimming) where the trimmed motif starts: a member
    /// column `j` faces trimmed motif column `j + offset − frame_start`.
    pub frame_start: i64,
}

/// Aligns `members` (whose CWMs and one-hots are `cwms[m.seqlet]`, `onehots[m.seqlet]`) into
/// one motif: see the module documentation. Columns whose Σ|CWM| is below `trim` × the largest
/// are trimmed from both ends (nothing is trimmed when every column is 0). `None` without
/// members.
pub fn aggregate(
    members: &[Member],
    cwms: &[Vec<[f64; 4]>],
    onehots: &[Vec<[f64; 4]>],
    trim: f64,
    pseudocount: f64,
) -> Option<Aggregate> {
    let lo = members.iter().map(|m| m.alignment.offset.min(0)).min()?;
    let hi = members.iter().map(|m| m.alignment.offset + cwms[m.seqlet].len() as i64).max()?;
    let width = (hi - lo).max(0) as usize;
    let mut cwm = vec![[0.0f64; 4]; width];
    let mut counts = vec![[0.0f64; 4]; width];
    for m in members {
        let (c, o) = (&cwms[m.seqlet], &onehots[m.seqlet]);
        let (c, o) =
            if m.alignment.reverse { (reverse_complement(c), reverse_complement(o)) } else { (c.clone(), o.clone()) };
        for (j, (cc, oc)) in c.iter().zip(&o).enumerate() {
            let col = (j as i64 + m.alignment.offset - lo) as usize;
            for b in 0..4 {
                cwm[col][b] += cc[b];
                counts[col][b] += oc[b];
            }
        }
    }
    let n = members.len() as f64;
    for col in &mut cwm {
        for v in col.iter_mut() {
            *v /= n;
        }
    }
    let mag: Vec<f64> = cwm.iter().map(|c| c.iter().map(|v| v.abs()).sum()).collect();
    let top = mag.iter().copied().fold(0.0f64, f64::max);
    let (a, b) = if top > 0.0 {
        let keep = |m: &f64| *m >= trim * top;
        let a = mag.iter().position(keep).unwrap_or(0);
        let b = mag.iter().rposition(keep).map_or(width, |b| b + 1);
        (a, b)
    } else {
        (0, width)
    };
    let pwm = counts[a..b]
        .iter()
        .map(|c| {
            let p = c.map(|v| v.max(0.0) + pseudocount.max(0.0));
            let s: f64 = p.iter().sum();
            if s > 0.0 {
                p.map(|v| v / s)
            } else {
                [0.25; 4]
            }
        })
        .collect();
    Some(Aggregate { cwm: cwm[a..b].to_vec(), pwm, frame_start: lo + a as i64 })
}

/// Clusters the seqlets of one sign: labels from [`average_linkage`] on 1 − similarity, groups
/// of at least `min_seqlets` kept, each with its medoid and members aligned onto it. Returns
/// (medoid, members) per kept group, largest first (ties: earliest medoid).
pub fn group(cwms: &[Vec<[f64; 4]>], threshold: f64, min_seqlets: usize, threads: usize) -> Vec<(usize, Vec<Member>)> {
    let n = cwms.len();
    let sim = similarity_matrix(cwms, threads);
    let dist: Vec<f64> = sim.iter().map(|s| 1.0 - s).collect();
    let labels = average_linkage(n, &dist, threshold);
    let n_groups = labels.iter().copied().max().map_or(0, |m| m + 1);
    let mut groups: Vec<Vec<usize>> = vec![Vec::new(); n_groups];
    for (i, &l) in labels.iter().enumerate() {
        groups[l].push(i);
    }
    let mut out: Vec<(usize, Vec<Member>)> = groups
        .into_iter()
        .filter(|g| g.len() >= min_seqlets.max(1))
        .map(|g| {
            let score = |i: usize| g.iter().map(|&j| sim[i * n + j]).sum::<f64>();
            let medoid = g.iter().copied().fold(g[0], |best, i| if score(i) > score(best) { i } else { best });
            let members = g.iter().map(|&i| Member { seqlet: i, alignment: align(&cwms[medoid], &cwms[i]) }).collect();
            (medoid, members)
        })
        .collect();
    out.sort_by(|a, b| b.1.len().cmp(&a.1.len()).then(a.0.cmp(&b.0)));
    out
}

/// The sign of a CWM's total contribution (positive when the sum is ≥ 0).
pub fn sign_of(cwm: &[[f64; 4]]) -> Sign {
    if cwm.iter().flat_map(|c| c.iter()).sum::<f64>() >= 0.0 {
        Sign::Positive
    } else {
        Sign::Negative
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn onehot(seq: &str, w: f64) -> Vec<[f64; 4]> {
        seq.bytes()
            .map(|b| {
                let mut c = [0.0; 4];
                if let Some(i) = b"ACGT".iter().position(|&x| x == b) {
                    c[i] = w;
                }
                c
            })
            .collect()
    }

    #[test]
    fn align_finds_offset_and_strand() {
        let a = onehot("CCGATAACC", 1.0);
        let b = onehot("GATAA", 1.0);
        let al = align(&a, &b);
        assert_eq!((al.offset, al.reverse), (2, false));
        assert!((al.similarity - 5.0 / (9.0f64.sqrt() * 5.0f64.sqrt())).abs() < 1e-12);
        let r = align(&a, &onehot("TTATC", 1.0));
        assert_eq!((r.offset, r.reverse), (2, true));
        assert_eq!(align(&a, &[[0.0; 4]; 3]).similarity, 0.0);
    }

    #[test]
    fn average_linkage_cuts_at_threshold() {
        // Two tight pairs far apart.
        let p = [0.0f64, 0.1, 5.0, 5.2];
        let n = p.len();
        let d: Vec<f64> = (0..n * n).map(|k| (p[k / n] - p[k % n]).abs()).collect();
        assert_eq!(average_linkage(n, &d, 0.5), vec![0, 0, 1, 1]);
        assert_eq!(average_linkage(n, &d, 0.05), vec![0, 1, 2, 3]);
        assert_eq!(average_linkage(n, &d, 10.0), vec![0, 0, 0, 0]);
        // Average distance between the pairs is 5.05: 5.0 is not enough.
        assert_eq!(average_linkage(n, &d, 5.0), vec![0, 0, 1, 1]);
        assert!(average_linkage(0, &[], 1.0).is_empty());
    }

    #[test]
    fn aggregate_aligns_both_strands_and_trims() {
        let cwms = vec![onehot("AGATAAC", 1.0), onehot("GTTATCT", 1.0), onehot("CGATAAG", 1.0)];
        let groups = group(&cwms, 0.5, 2, 2);
        assert_eq!(groups.len(), 1);
        let (_, members) = &groups[0];
        let agg = aggregate(members, &cwms, &cwms, 0.3, 0.0).unwrap();
        let cons: String =
            agg.pwm.iter().map(|c| b"ACGT"[(0..4).fold(0, |m, b| if c[b] > c[m] { b } else { m })] as char).collect();
        assert!(cons.contains("GATAA") || cons.contains("TTATC"), "{cons}");
        assert!(agg.cwm.len() <= 7);
    }
}
