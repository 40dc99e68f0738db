//! Dinucleotide-preserving shuffles, used as DeepLIFT/SHAP references.
//!
//! This is the Altschul–Erickson algorithm as made uniform by Kandel et al. (1996), the one
//! behind tangermeme's `dinucleotide_shuffle`: a shuffle is a random Eulerian walk through the
//! multigraph whose vertices are symbols and whose edges are the consecutive pairs of the input.
//! The walk preserves exactly the multiset of consecutive pairs, the first and the last symbol,
//! and every such sequence is drawn with the same probability. The random "last edges" that
//! make the walk valid form an arborescence towards the last symbol, drawn with Wilson's
//! loop-erased random walk (the same distribution as Kandel's draw-and-retry).
//!
//! Output is a deterministic function of the input and the RNG state: pass a seeded
//! `rand_chacha::ChaCha8Rng` for reproducible references.

use std::collections::HashMap;

use rand::seq::SliceRandom;
use rand::Rng;

use crate::error::{Error, Result};

/// One random sequence with the same consecutive-pair counts, first and last symbol as `seq`.
///
/// Symbols are arbitrary `u8` ids (e.g. 0..4 for A,C,G,T, 4 for N). The output has the length
/// of `seq`; sequences shorter than 3 are returned unchanged (they have no other arrangement).
pub fn shuffle_symbols(seq: &[u8], rng: &mut impl Rng) -> Vec<u8> {
    let ids: Vec<usize> = seq.iter().map(|&s| usize::from(s)).collect();
    // Every output id is one of the input's, so it fits in a u8.
    shuffle_ids(&ids, 256, rng).into_iter().map(|i| i as u8).collect()
}

/// `k` dinucleotide shuffles of one one-hot sequence `x`.
///
/// `x` is `L×4` row-major: position-major, then channels A, C, G, T. Returns `k·L·4` values,
/// shuffle-major (shuffle `i` is `out[i·L·4..(i+1)·L·4]`, same layout as `x`). Each distinct
/// column (compared bit for bit) is one symbol: a column that is not exactly one-hot (all zero
/// for N, 0.25 everywhere, or anything else) is copied as is and takes part in the shuffle as
/// a further letter, so every output column is a column of `x` and the multiset of columns and
/// of consecutive column pairs is that of `x`. Errors when `x.len()` is not a multiple of 4.
pub fn dinucleotide_shuffles(x: &[f32], k: usize, rng: &mut impl Rng) -> Result<Vec<f32>> {
    if !x.len().is_multiple_of(4) {
        return Err(Error::InvalidArgument(format!("one-hot sequence has {} values, not a multiple of 4", x.len())));
    }
    let mut columns: Vec<&[f32]> = Vec::new();
    let mut index: HashMap<[u32; 4], usize> = HashMap::new();
    let ids: Vec<usize> = x
        .chunks_exact(4)
        .map(|c| {
            let bits = [c[0].to_bits(), c[1].to_bits(), c[2].to_bits(), c[3].to_bits()];
            *index.entry(bits).or_insert_with(|| {
                columns.push(c);
                columns.len() - 1
            })
        })
        .collect();
    let mut out = Vec::with_capacity(k * x.len());
    for _ in 0..k {
        for id in shuffle_ids(&ids, columns.len(), rng) {
            out.extend_from_slice(columns[id]);
        }
    }
    Ok(out)
}

/// Core shuffle over ids in `0..n` (every id in `ids` must be `< n`).
fn shuffle_ids<R: Rng + ?Sized>(ids: &[usize], n: usize, rng: &mut R) -> Vec<usize> {
    let (Some(&first), Some(&last)) = (ids.first(), ids.last()) else {
        return Vec::new();
    };
    if ids.len() < 3 {
        return ids.to_vec();
    }
    // Out-edges of each vertex, in order of occurrence.
    let mut edges: Vec<Vec<usize>> = vec![Vec::new(); n];
    for w in ids.windows(2) {
        edges[w[0]].push(w[1]);
    }
    // Wilson: a random arborescence of last edges pointing to `last`. Every vertex but `last`
    // that occurs has an out-edge and reaches `last`, so each walk ends.
    let mut in_tree = vec![false; n];
    let mut next = vec![0usize; n];
    in_tree[last] = true;
    for v in 0..n {
        if in_tree[v] || edges[v].is_empty() {
            continue;
        }
        let mut u = v;
        while !in_tree[u] {
            if edges[u].is_empty() {
                return ids.to_vec(); // unreachable for a graph built from a sequence
            }
            next[u] = rng.random_range(0..edges[u].len());
            u = edges[u][next[u]];
        }
        u = v;
        while !in_tree[u] {
            in_tree[u] = true;
            u = edges[u][next[u]];
        }
    }
    // Shuffle the other edges of each vertex; its last edge goes at the end.
    for (v, out) in edges.iter_mut().enumerate() {
        if out.is_empty() {
            continue;
        }
        if v == last {
            out.shuffle(rng);
        } else {
            let e = out.swap_remove(next[v]);
            out.shuffle(rng);
            out.push(e);
        }
    }
    // Walk from the first symbol, consuming edges in order.
    let mut pos = vec![0usize; n];
    let mut walk = Vec::with_capacity(ids.len());
    let mut cur = first;
    walk.push(cur);
    while let Some(&nx) = edges[cur].get(pos[cur]) {
        pos[cur] += 1;
        cur = nx;
        walk.push(cur);
    }
    if walk.len() != ids.len() {
        return ids.to_vec(); // unreachable: the last edges form an arborescence
    }
    walk
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    fn pairs(s: &[u8]) -> HashMap<(u8, u8), usize> {
        let mut m = HashMap::new();
        for w in s.windows(2) {
            *m.entry((w[0], w[1])).or_insert(0) += 1;
        }
        m
    }

    fn random_seq(len: usize, alphabet: u8, seed: u64) -> Vec<u8> {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        (0..len).map(|_| rng.random_range(0..alphabet)).collect()
    }

    #[test]
    fn preserves_pairs_first_and_last() {
        for len in [0, 1, 2, 3, 4, 5, 8, 31, 200, 1000] {
            for alphabet in [2u8, 4, 5] {
                for seed in 0..5 {
                    let s = random_seq(len, alphabet, 1000 + seed);
                    let t = shuffle_symbols(&s, &mut ChaCha8Rng::seed_from_u64(seed));
                    assert_eq!(t.len(), s.len());
                    assert_eq!(t.first(), s.first());
                    assert_eq!(t.last(), s.last());
                    assert_eq!(pairs(&t), pairs(&s), "len {len} alphabet {alphabet} seed {seed}");
                }
            }
        }
    }

    #[test]
    fn shuffles_long_sequences_and_is_deterministic() {
        let s = random_seq(1000, 4, 7);
        let a = shuffle_symbols(&s, &mut ChaCha8Rng::seed_from_u64(1));
        let b = shuffle_symbols(&s, &mut ChaCha8Rng::seed_from_u64(2));
        assert_ne!(a, s);
        assert_ne!(a, b);
        assert_eq!(a, shuffle_symbols(&s, &mut ChaCha8Rng::seed_from_u64(1)));
    }

    #[test]
    fn uniform_over_few_orderings() {
        // A C A G A T A: A's three edges (to C, G, T) can come in 3! = 6 orders, all distinct.
        let s = [0u8, 1, 0, 2, 0, 3, 0];
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let mut counts: HashMap<Vec<u8>, usize> = HashMap::new();
        for _ in 0..6000 {
            *counts.entry(shuffle_symbols(&s, &mut rng)).or_insert(0) += 1;
        }
        assert_eq!(counts.len(), 6, "{counts:?}");
        assert!(counts.values().all(|&c| (850..1150).contains(&c)), "{counts:?}");
    }

    #[test]
    fn uniform_over_all_valid_sequences() {
        // Brute force every sequence with the same pairs, first and last; where the last-edge
        // tree matters, all must be drawn about equally often.
        let s = [0u8, 1, 0, 0, 2, 1, 1, 2, 0, 2];
        let want = pairs(&s);
        let valid: Vec<Vec<u8>> = (0..3usize.pow(s.len() as u32))
            .map(|mut c| (0..s.len()).map(|_| (c % 3, c /= 3).0 as u8).collect::<Vec<u8>>())
            .filter(|t| t[0] == s[0] && t[s.len() - 1] == s[s.len() - 1] && pairs(t) == want)
            .collect();
        assert!(valid.len() > 5, "{}", valid.len());
        let draws = 400 * valid.len();
        let mut rng = ChaCha8Rng::seed_from_u64(4);
        let mut counts: HashMap<Vec<u8>, usize> = HashMap::new();
        for _ in 0..draws {
            *counts.entry(shuffle_symbols(&s, &mut rng)).or_insert(0) += 1;
        }
        assert_eq!(counts.len(), valid.len());
        assert!(valid.iter().all(|t| counts.get(t).is_some_and(|&c| (300..500).contains(&c))), "{counts:?}");
    }

    #[test]
    fn one_hot_columns_are_input_columns() {
        let s = random_seq(300, 6, 11); // 0..4 bases, 4 = N (all zero), 5 = 0.25 everywhere
        let col = |b: u8| -> [f32; 4] {
            match b {
                4 => [0.0; 4],
                5 => [0.25; 4],
                _ => std::array::from_fn(|i| f32::from(i == usize::from(b))),
            }
        };
        let x: Vec<f32> = s.iter().flat_map(|&b| col(b)).collect();
        let out = dinucleotide_shuffles(&x, 3, &mut ChaCha8Rng::seed_from_u64(5)).unwrap();
        assert_eq!(out.len(), 3 * x.len());
        let decode = |c: &[f32]| (0..6u8).find(|&b| col(b) == c).unwrap();
        for shuffled in out.chunks(x.len()) {
            let t: Vec<u8> = shuffled.chunks(4).map(decode).collect();
            assert_ne!(t, s);
            assert_eq!((t[0], t[t.len() - 1], pairs(&t)), (s[0], s[s.len() - 1], pairs(&s)));
            assert_eq!(t.iter().filter(|&&b| b == 4).count(), s.iter().filter(|&&b| b == 4).count());
        }
        assert_ne!(out[..x.len()], out[x.len()..2 * x.len()]);
        assert!(dinucleotide_shuffles(&x, 0, &mut ChaCha8Rng::seed_from_u64(5)).unwrap().is_empty());
        assert!(dinucleotide_shuffles(&[], 2, &mut ChaCha8Rng::seed_from_u64(5)).unwrap().is_empty());
        let bad = dinucleotide_shuffles(&x[..7], 1, &mut ChaCha8Rng::seed_from_u64(5));
        assert!(matches!(bad, Err(Error::InvalidArgument(_))));
    }
}
