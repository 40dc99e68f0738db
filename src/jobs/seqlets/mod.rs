//! Seqlets: short stretches of high attribution, called on the maps `s2f attribute` writes and
//! clustered into motifs (DRG's `find_motifs`, then a tfmodisco-like clustering).
//!
//! 1. **Scores.** For sequence `n` and map `m`, s_i = Σ_b attr[n, m, i, b] · onehot[n, i, b]: the
//!    observed base's attribution (so hypothetical maps work too). Each map is scaled by its RMS
//!    over all positions of all sequences, z = s / RMS (non-finite values count as 0).
//! 2. **Calling** ([`call::call_runs`]): |z| > cut, one sign, runs merged across at most
//!    `max_gap` non-significant positions, kept with ≥ `min_size` significant positions, widened
//!    by `flank` bases on each side (clipped to the sequence).
//! 3. **Clustering** ([`cluster`]): per sign, the seqlets' contribution-weight matrices (CWMs,
//!    attr × onehot over the seqlet) are compared over offsets and both strands by cosine
//!    similarity, clustered by average linkage cut at `threshold` (a distance, 1 − similarity),
//!    and aligned onto each cluster's medoid into a CWM and a PWM with low-signal flanks trimmed.
//!    Only the `max_seqlets` strongest seqlets of a sign (by |score|) are clustered; each other
//!    seqlet joins the cluster whose medoid it is most similar to, when that distance is within
//!    the threshold.
//!
//! Coordinates are 0-based, half-open positions within each input sequence (the `L` axis of the
//! npz), as everywhere in s2f.

pub mod call;
pub mod cluster;
pub mod modisco;
mod output;

use std::path::Path;

use ndarray::{Array3, Array4};

pub use call::{CallOptions, Sign};
pub use output::{write_outputs, DbMatch};

use crate::error::{Error, Result};
use crate::motifs::meme::Motif;

/// The arrays of an `attributions.npz` written by `s2f attribute`.
#[derive(Debug, Clone)]
pub struct AttributionSet {
    /// Attributions `(N, maps, L, 4)`: sequence, map, position, base (A, C, G, T).
    pub attributions: Array4<f32>,
    /// The input one-hot `(N, L, 4)`.
    pub onehot: Array3<f32>,
    /// Sequence names (`seq<i>` when the file has none).
    pub names: Vec<String>,
    /// One identifier per map (the map index when the file has none).
    pub tracks: Vec<String>,
}

/// Reads an `attributions.npz`: `attributions` (float, rank 4, last axis 4) and `onehot`
/// (`(N, L, 4)`) are required; `names` (N strings) and `tracks` (one string per map) are used
/// when present with the right length. Errors name the file and the missing or misshaped array.
pub fn read_attributions(path: &Path) -> Result<AttributionSet> {
    let mut arrays = crate::io::npy::read_npz(path)?;
    let mut take = |name: &str| arrays.iter().position(|(n, _)| n == name).map(|i| arrays.swap_remove(i).1);
    let hint = "expected the attributions.npz that `s2f attribute` writes";
    let missing = |name: &str| Error::malformed(path, name, format!("no `{name}` array; {hint}"));
    let attr = take("attributions").ok_or_else(|| missing("attributions"))?;
    let onehot = take("onehot").ok_or_else(|| missing("onehot"))?;
    let names = take("names").and_then(|a| a.to_strings());
    let tracks = take("tracks").and_then(|a| a.to_strings());
    let sh = attr.shape.clone();
    if sh.len() != 4 || sh[3] != 4 {
        return Err(Error::malformed(path, "attributions", format!("shape {sh:?}; expected (N, maps, L, 4)")));
    }
    if onehot.shape != [sh[0], sh[2], 4] {
        return Err(Error::malformed(
            path,
            "onehot",
            format!("shape {:?} does not match attributions {sh:?}; expected ({}, {}, 4)", onehot.shape, sh[0], sh[2]),
        ));
    }
    let numeric = |a: &crate::io::npy::NpyArray, name: &str| {
        a.to_f32().ok_or_else(|| Error::malformed(path, name, "not a numeric array"))
    };
    let a = numeric(&attr, "attributions")?;
    let x = numeric(&onehot, "onehot")?;
    let bad_shape = |e: ndarray::ShapeError| Error::malformed(path, "attributions", e.to_string());
    let attributions = Array4::from_shape_vec((sh[0], sh[1], sh[2], 4), a).map_err(bad_shape)?;
    let onehot = Array3::from_shape_vec((sh[0], sh[2], 4), x).map_err(bad_shape)?;
    let names = match names {
        Some(v) if v.len() == sh[0] => v,
        _ => (0..sh[0]).map(|i| format!("seq{i}")).collect(),
    };
    let tracks = match tracks {
        Some(v) if v.len() == sh[1] => v,
        _ => (0..sh[1]).map(|i| i.to_string()).collect(),
    };
    Ok(AttributionSet { attributions, onehot, names, tracks })
}

/// A called seqlet.
#[derive(Debug, Clone, PartialEq)]
pub struct Seqlet {
    /// Sequence index (row of the npz).
    pub seq: usize,
    /// Map (track) index.
    pub map: usize,
    /// First position, 0-based, flank included.
    pub start: usize,
    /// One past the last position (half-open), flank included.
    pub end: usize,
    /// Sign of its significant positions.
    pub sign: Sign,
    /// Σ of the observed bases' attributions over `start..end`.
    pub score: f64,
}

/// Per-position observed-base attributions of map `m` of sequence `n` (non-finite → 0).
fn scores(set: &AttributionSet, n: usize, m: usize) -> Vec<f64> {
    let a = set.attributions.slice(ndarray::s![n, m, .., ..]);
    let x = set.onehot.slice(ndarray::s![n, .., ..]);
    a.outer_iter()
        .zip(x.outer_iter())
        .map(|(ar, xr)| {
            let s: f64 = ar.iter().zip(xr.iter()).map(|(&v, &o)| v as f64 * o as f64).sum();
            if s.is_finite() {
                s
            } else {
                0.0
            }
        })
        .collect()
}

/// The RMS of map `m`'s per-position scores over all sequences (0 for an all-zero map).
pub fn map_rms(set: &AttributionSet, m: usize) -> f64 {
    let (n, l) = (set.attributions.dim().0, set.attributions.dim().2);
    if n * l == 0 {
        return 0.0;
    }
    let ss: f64 = (0..n).map(|i| scores(set, i, m).iter().map(|v| v * v).sum::<f64>()).sum();
    (ss / (n * l) as f64).sqrt()
}

/// Calls seqlets on `maps` (indices into the set's maps; an index out of range is an error),
/// in order of map, then sequence, then position. A map whose RMS is 0 gives none.
pub fn find_seqlets(set: &AttributionSet, maps: &[usize], opts: &CallOptions) -> Result<Vec<Seqlet>> {
    let n_maps = set.attributions.dim().1;
    if let Some(&m) = maps.iter().find(|&&m| m >= n_maps) {
        return Err(Error::InvalidArgument(format!("map {m} does not exist; the file has {n_maps}")));
    }
    if opts.cut.is_nan() || opts.cut < 0.0 || opts.min_size == 0 {
        return Err(Error::InvalidArgument("seqlet calling needs cut ≥ 0 and min_size ≥ 1".into()));
    }
    let mut out = Vec::new();
    for &m in maps {
        let rms = map_rms(set, m);
        if rms.is_nan() || rms <= 0.0 || !rms.is_finite() {
            tracing::warn!("map {m} ({}) has no attribution signal: no seqlets", set.tracks[m]);
            continue;
        }
        for n in 0..set.attributions.dim().0 {
            let s = scores(set, n, m);
            let z: Vec<f64> = s.iter().map(|v| v / rms).collect();
            for r in call::call_runs(&z, opts) {
                let score = s[r.start..r.end].iter().sum();
                out.push(Seqlet { seq: n, map: m, start: r.start, end: r.end, sign: r.sign, score });
            }
        }
    }
    Ok(out)
}

/// Seqlets of `maps` called against tfmodisco-lite's windowed null ([`modisco::call_windows`],
/// per map over all its sequences).
pub fn find_seqlets_null(set: &AttributionSet, maps: &[usize], opts: &modisco::NullOptions) -> Result<Vec<Seqlet>> {
    let n_maps = set.attributions.dim().1;
    if let Some(&m) = maps.iter().find(|&&m| m >= n_maps) {
        return Err(Error::InvalidArgument(format!("map {m} does not exist; the file has {n_maps}")));
    }
    if opts.window == 0 || !(0.0..1.0).contains(&opts.target_fdr) {
        return Err(Error::InvalidArgument("the windowed null needs a window ≥ 1 and an FDR in [0, 1)".into()));
    }
    let mut out = Vec::new();
    for &m in maps {
        let tracks: Vec<Vec<f64>> = (0..set.attributions.dim().0).map(|n| scores(set, n, m)).collect();
        for (n, start, end, sign) in modisco::call_windows(&tracks, opts) {
            let score = tracks[n][start..end].iter().sum();
            out.push(Seqlet { seq: n, map: m, start, end, sign, score });
        }
    }
    Ok(out)
}

/// Options of [`cluster_seqlets`].
#[derive(Debug, Clone, PartialEq)]
pub struct ClusterOptions {
    /// Average-linkage distance cut (distance = 1 − cosine similarity of aligned CWMs, 0..2).
    pub threshold: f64,
    /// Clusters with fewer seqlets are dropped (their seqlets stay unassigned).
    pub min_seqlets: usize,
    /// At most this many seqlets per sign (the largest |score|) are clustered pairwise.
    pub max_seqlets: usize,
    /// Flank columns with Σ|CWM| below this fraction of the largest column are trimmed.
    pub trim: f64,
    /// Added to every base count of a PWM column.
    pub pseudocount: f64,
    /// Worker threads; 0 uses every available core.
    pub threads: usize,
}

impl Default for ClusterOptions {
    fn default() -> Self {
        ClusterOptions { threshold: 0.5, min_seqlets: 3, max_seqlets: 2000, trim: 0.3, pseudocount: 0.5, threads: 0 }
    }
}

/// A cluster of seqlets and its motif.
#[derive(Debug, Clone, PartialEq)]
pub struct Cluster {
    /// `pos_<k>` or `neg_<k>`, k counting clusters of that sign from 0, largest first.
    pub id: String,
    /// Sign of its seqlets.
    pub sign: Sign,
    /// Index of the medoid seqlet (into the seqlet slice).
    pub medoid: usize,
    /// Its seqlets with their alignment onto the medoid.
    pub members: Vec<cluster::Member>,
    /// Trimmed contribution-weight matrix (mean over members), position × A, C, G, T.
    pub cwm: Vec<[f64; 4]>,
    /// Trimmed base probabilities over the same columns.
    pub pwm: Vec<[f64; 4]>,
    /// Number of distinct sequences among the members.
    pub n_sequences: usize,
    /// Map indices among the members, ascending.
    pub maps: Vec<usize>,
}

impl Cluster {
    /// The cluster's PWM as a MEME motif (`MOTIF <id> <consensus>`, `nsites` = members).
    pub fn motif(&self) -> Motif {
        let mut m = Motif { id: self.id.clone(), alt: None, probs: self.pwm.clone(), sites: Some(self.members.len()) };
        m.alt = Some(m.consensus());
        m
    }

    /// The IUPAC consensus of the PWM.
    pub fn consensus(&self) -> String {
        self.motif().consensus()
    }
}

/// A seqlet's CWM (attr × onehot over `start..end`) and one-hot, position × A, C, G, T.
pub fn seqlet_matrices(set: &AttributionSet, s: &Seqlet) -> (Vec<[f64; 4]>, Vec<[f64; 4]>) {
    let mut cwm = Vec::with_capacity(s.end - s.start);
    let mut oh = Vec::with_capacity(s.end - s.start);
    for i in s.start..s.end {
        let x: [f64; 4] = std::array::from_fn(|b| set.onehot[[s.seq, i, b]] as f64);
        let c: [f64; 4] = std::array::from_fn(|b| {
            let v = set.attributions[[s.seq, s.map, i, b]] as f64 * x[b];
            if v.is_finite() {
                v
            } else {
                0.0
            }
        });
        cwm.push(c);
        oh.push(x);
    }
    (cwm, oh)
}

/// Clusters `seqlets` (called on `set`) per sign; see the module documentation. Returns the
/// clusters (positive first, each sign largest first) and, per seqlet, the index of its cluster.
pub fn cluster_seqlets(
    set: &AttributionSet,
    seqlets: &[Seqlet],
    opts: &ClusterOptions,
) -> Result<(Vec<Cluster>, Vec<Option<usize>>)> {
    if !opts.threshold.is_finite()
        || !(0.0..=1.0).contains(&opts.trim)
        || opts.pseudocount.is_nan()
        || opts.pseudocount < 0.0
    {
        return Err(Error::InvalidArgument("cluster threshold must be finite, trim in 0..=1, pseudocount ≥ 0".into()));
    }
    let threads = match opts.threads {
        0 => std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
        t => t,
    };
    let (cwms, onehots): (Vec<_>, Vec<_>) = seqlets.iter().map(|s| seqlet_matrices(set, s)).unzip();
    let mut clusters = Vec::new();
    let mut assigned = vec![None; seqlets.len()];
    for sign in [Sign::Positive, Sign::Negative] {
        let mut idx: Vec<usize> = (0..seqlets.len()).filter(|&i| seqlets[i].sign == sign).collect();
        idx.sort_by(|&a, &b| seqlets[b].score.abs().total_cmp(&seqlets[a].score.abs()).then(a.cmp(&b)));
        let rest = idx.split_off(idx.len().min(opts.max_seqlets.max(1)));
        if !rest.is_empty() {
            tracing::info!("{} {sign:?} seqlets: clustering the strongest {}", idx.len() + rest.len(), idx.len());
        }
        let sub: Vec<Vec<[f64; 4]>> = idx.iter().map(|&i| cwms[i].clone()).collect();
        let mut groups: Vec<(usize, Vec<cluster::Member>)> =
            cluster::group(&sub, opts.threshold, opts.min_seqlets, threads)
                .into_iter()
                .map(|(medoid, members)| {
                    let members = members.into_iter().map(|m| cluster::Member { seqlet: idx[m.seqlet], ..m }).collect();
                    (idx[medoid], members)
                })
                .collect();
        for i in rest {
            let best = groups
                .iter()
                .enumerate()
                .map(|(g, (medoid, _))| (g, cluster::align(&cwms[*medoid], &cwms[i])))
                .max_by(|a, b| a.1.similarity.total_cmp(&b.1.similarity));
            if let Some((g, al)) = best.filter(|(_, al)| 1.0 - al.similarity <= opts.threshold) {
                groups[g].1.push(cluster::Member { seqlet: i, alignment: al });
            }
        }
        for (k, (medoid, members)) in groups.into_iter().enumerate() {
            let Some(agg) = cluster::aggregate(&members, &cwms, &onehots, opts.trim, opts.pseudocount) else {
                continue;
            };
            let members: Vec<cluster::Member> = members
                .into_iter()
                .map(|m| cluster::Member {
                    alignment: cluster::Alignment { offset: m.alignment.offset - agg.frame_start, ..m.alignment },
                    ..m
                })
                .collect();
            let mut seqs: Vec<usize> = members.iter().map(|m| seqlets[m.seqlet].seq).collect();
            seqs.sort_unstable();
            seqs.dedup();
            let mut maps: Vec<usize> = members.iter().map(|m| seqlets[m.seqlet].map).collect();
            maps.sort_unstable();
            maps.dedup();
            for m in &members {
                assigned[m.seqlet] = Some(clusters.len());
            }
            clusters.push(Cluster {
                id: format!("{}_{k}", sign.word()),
                sign,
                medoid,
                members,
                cwm: agg.cwm,
                pwm: agg.pwm,
                n_sequences: seqs.len(),
                maps,
            });
        }
    }
    Ok((clusters, assigned))
}

/// Options of [`run`]. The defaults are the CLI's: all maps, logos drawn.
#[derive(Debug, Clone)]
pub struct SeqletsOptions {
    /// Map indices to call seqlets on (`None`: all).
    pub maps: Option<Vec<usize>>,
    /// Seqlet calling.
    pub call: CallOptions,
    /// Call against tfmodisco-lite's windowed null instead of `call` ([`modisco`]).
    pub null: Option<modisco::NullOptions>,
    /// Clustering.
    pub cluster: ClusterOptions,
    /// Draw a logo per cluster into `logos/`.
    pub logos: bool,
}

impl Default for SeqletsOptions {
    fn default() -> Self {
        SeqletsOptions {
            maps: None,
            call: CallOptions::default(),
            null: None,
            cluster: ClusterOptions::default(),
            logos: true,
        }
    }
}

/// What [`run`] found.
#[derive(Debug, Clone)]
pub struct Analysis {
    /// The input.
    pub set: AttributionSet,
    /// Every called seqlet.
    pub seqlets: Vec<Seqlet>,
    /// The clusters.
    pub clusters: Vec<Cluster>,
    /// Per seqlet, its cluster.
    pub assigned: Vec<Option<usize>>,
    /// Per cluster, its best database match (with `db`).
    pub matches: Vec<Option<DbMatch>>,
}

/// Reads `input`, calls and clusters seqlets, compares the clusters with the motif database
/// `db` when given, and writes `clusters.meme`, `clusters.tsv`, `seqlets.tsv` and (with
/// `opts.logos`) `logos/<id>.png` into `out` (created if needed); see [`write_outputs`].
pub fn run(input: &Path, db: Option<&Path>, out: &Path, opts: &SeqletsOptions) -> Result<Analysis> {
    let set = read_attributions(input)?;
    let maps = match &opts.maps {
        Some(m) => m.clone(),
        None => (0..set.attributions.dim().1).collect(),
    };
    let seqlets = match &opts.null {
        None => find_seqlets(&set, &maps, &opts.call)?,
        Some(null) => find_seqlets_null(&set, &maps, null)?,
    };
    tracing::info!("{} seqlets on {} sequences × {} maps", seqlets.len(), set.names.len(), maps.len());
    let (clusters, assigned) = cluster_seqlets(&set, &seqlets, &opts.cluster)?;
    let matches = match db {
        Some(db) => output::best_matches(&clusters, db)?,
        None => vec![None; clusters.len()],
    };
    let analysis = Analysis { set, seqlets, clusters, assigned, matches };
    write_outputs(out, &analysis, opts.logos)?;
    Ok(analysis)
}
