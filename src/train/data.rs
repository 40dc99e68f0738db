//! Training data: one-hot sequences and one target matrix per modality (head), aligned by
//! data-point name, and their assignment to train / validation / test sets.
//!
//! Two sources:
//! - DRG style: a one-hot `.npz` (as written by `s2f onehot`: `seqfeatures` `(N, L, 4)` int8 or
//!   float32, `genenames`) plus target files. A target file is either a text matrix — a `#`
//!   header line with the track names, then one line per data point: its name and one value per
//!   track, separated by commas, tabs or spaces — or an `.npz` with `counts` `(N, tracks)` or
//!   `(N, bins, tracks)`, `names` and `celltypes` (track names). Data points are matched by
//!   name; those missing from any file are dropped (and counted in the log).
//! - Genome style: windows of the model's input length (centred on BED regions by
//!   [`BedRecord::centre`], or tiling the genome; [`genome_windows`]) read from a FASTA, and bigWig coverage binned to each head's output bins
//!   ([`crate::model::spec::Geometry`]): the sum or mean of the signal per bin (bases without
//!   data count as 0).
//!
//! Sequences are held as float32 `(N, L, 4)` with the model's N value; targets as
//! `(N, bins, tracks)` float32 per modality.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::genome::bed::BedRecord;
use crate::genome::fasta::{ChromSize, Fasta};
use crate::genome::folds::Folds;
use crate::genome::onehot::{Encoder, Layout};
use crate::genome::windows::{centre_on_regions, tile_genome, Window};
use crate::io::bigwig::read_bigwig;
use crate::io::npy::read_npz;
use crate::model::spec::Geometry;

/// Targets of one modality (one head).
#[derive(Debug, Clone)]
pub struct Modality {
    /// Head name (the target file's stem unless given).
    pub name: String,
    /// Track names.
    pub tracks: Vec<String>,
    /// Output bins per data point (1 for one value per sequence).
    pub bins: usize,
    /// Values, `(N, bins, tracks)` C order.
    pub values: Vec<f32>,
}

impl Modality {
    /// Values per data point.
    pub fn width(&self) -> usize {
        self.bins * self.tracks.len()
    }
}

/// Sequences and targets, aligned.
#[derive(Debug, Clone)]
pub struct Dataset {
    /// Data-point names.
    pub names: Vec<String>,
    /// Chromosome of each data point, when known (genome style, or a `chrom:start-end` name).
    pub chroms: Vec<Option<String>>,
    /// Sequence length.
    pub length: usize,
    /// One-hot `(N, L, 4)`.
    pub x: Vec<f32>,
    /// One entry per head.
    pub modalities: Vec<Modality>,
    /// Further one-hot inputs of multi-input models, aligned with `x`
    /// ([`crate::train::multi`]).
    pub inputs: Vec<crate::train::multi::InputData>,
}

impl Dataset {
    /// Number of data points.
    pub fn len(&self) -> usize {
        self.names.len()
    }

    /// True when there are no data points.
    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }
}

/// How bigWig signal becomes one value per bin.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BinStat {
    /// Sum over the bin's bases.
    Sum,
    /// Mean over the bin's bases.
    Mean,
}

/// The chromosome in a `chrom:start-end` name.
pub fn chrom_of_name(name: &str) -> Option<String> {
    let (chrom, range) = name.rsplit_once(':')?;
    let (a, b) = range.split_once('-')?;
    (a.parse::<u64>().is_ok() && b.parse::<u64>().is_ok()).then(|| chrom.to_string())
}

/// Reads a one-hot `.npz`: (names, length, values `(N, L, 4)`).
pub fn read_onehot(path: &Path) -> Result<(Vec<String>, usize, Vec<f32>)> {
    let arrays = read_npz(path)?;
    let get = |k: &str| arrays.iter().find(|(n, _)| n == k).map(|(_, a)| a);
    let seq = get("seqfeatures").ok_or_else(|| Error::malformed(path, "seqfeatures", "no seqfeatures array"))?;
    if seq.shape.len() != 3 {
        return Err(Error::malformed(path, "seqfeatures", format!("shape {:?} is not (N, L, 4)", seq.shape)));
    }
    let (n, a, b) = (seq.shape[0], seq.shape[1], seq.shape[2]);
    let values = seq.to_f32().ok_or_else(|| Error::malformed(path, "seqfeatures", "not a numeric array"))?;
    let (length, x) = if b == 4 {
        (a, values)
    } else if a == 4 {
        // (N, 4, L) → (N, L, 4)
        let mut x = vec![0f32; values.len()];
        for i in 0..n {
            for c in 0..4 {
                for p in 0..b {
                    x[(i * b + p) * 4 + c] = values[(i * 4 + c) * b + p];
                }
            }
        }
        (b, x)
    } else {
        return Err(Error::malformed(path, "seqfeatures", format!("shape {:?} has no axis of 4 bases", seq.shape)));
    };
    crate::genome::onehot::check_onehot(&x, length, 4, None, path)?;
    let names = match get("genenames") {
        Some(a) => a.to_strings().ok_or_else(|| Error::malformed(path, "genenames", "not a string array"))?,
        None => (0..n).map(|i| format!("seq{i}")).collect(),
    };
    if names.len() != n {
        return Err(Error::malformed(path, "genenames", format!("{} names for {n} sequences", names.len())));
    }
    Ok((names, length, x))
}

/// Reads a target file (text matrix or `.npz`, see the module docs): (names, modality).
pub fn read_targets(path: &Path) -> Result<(Vec<String>, Modality)> {
    let stem = path.file_stem().map(|s| s.to_string_lossy().to_string()).unwrap_or_else(|| "targets".into());
    let name = stem.trim_end_matches(".csv").trim_end_matches(".txt").to_string();
    if path.extension().is_some_and(|e| e == "npz") {
        let arrays = read_npz(path)?;
        let get = |k: &str| arrays.iter().find(|(n, _)| n == k).map(|(_, a)| a);
        let counts = get("counts").ok_or_else(|| Error::malformed(path, "counts", "no counts array"))?;
        let (n, bins, tracks) = match counts.shape[..] {
            [n, t] => (n, 1, t),
            [n, b, t] => (n, b, t),
            _ => return Err(Error::malformed(path, "counts", format!("shape {:?} is not (N, tracks)", counts.shape))),
        };
        let values = counts.to_f32().ok_or_else(|| Error::malformed(path, "counts", "not a numeric array"))?;
        let names = get("names")
            .and_then(|a| a.to_strings())
            .ok_or_else(|| Error::malformed(path, "names", "no names string array"))?;
        let track_names = match get("celltypes").and_then(|a| a.to_strings()) {
            Some(t) => t,
            None => (0..tracks).map(|i| format!("track{i}")).collect(),
        };
        if names.len() != n || track_names.len() != tracks {
            return Err(Error::malformed(
                path,
                "names",
                format!(
                    "{} names and {} track names for counts of shape {:?}",
                    names.len(),
                    track_names.len(),
                    counts.shape
                ),
            ));
        }
        if let Some(i) = values.iter().position(|v| !v.is_finite()) {
            let row = i / (bins * tracks);
            return Err(Error::malformed(
                path,
                "counts",
                format!(
                    "value {} for data point {:?} (row {row}), track {:?} is not finite",
                    values[i],
                    names[row],
                    track_names[i % tracks]
                ),
            ));
        }
        let mut seen = HashSet::new();
        if let Some(d) = names.iter().find(|n| !seen.insert(n.as_str())) {
            return Err(Error::malformed(path, "names", format!("data point {d:?} appears twice")));
        }
        check_track_names(&track_names, path)?;
        return Ok((names, Modality { name, tracks: track_names, bins, values }));
    }
    let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
    let split = |line: &str| -> Vec<String> {
        if line.contains(',') {
            line.split(',').map(|s| s.trim().to_string()).collect()
        } else {
            line.split_whitespace().map(str::to_string).collect()
        }
    };
    let mut header: Option<Vec<String>> = None;
    // Whether the header names the data-point column too, decided on the first data line.
    let mut names_column: Option<bool> = None;
    let mut names = Vec::new();
    let mut values = Vec::new();
    let mut rows: HashMap<String, usize> = HashMap::new();
    for (i, line) in text.lines().enumerate() {
        let line_no = i + 1;
        let at = || format!("line {line_no}");
        if line.trim().is_empty() {
            continue;
        }
        if let Some(h) = line.strip_prefix('#') {
            if header.is_none() {
                header = Some(split(h.trim()).into_iter().filter(|s| !s.is_empty()).collect());
            }
            continue;
        }
        let fields = split(line);
        let Some(h) = &header else {
            return Err(Error::malformed(path, at(), "the first line must be a # header of track names"));
        };
        let deciding = names_column.is_none();
        let first_col = *names_column.get_or_insert(h.len() == fields.len());
        let tracks = if first_col { h.len().saturating_sub(1) } else { h.len() };
        if tracks == 0 {
            return Err(Error::malformed(path, at(), "the # header names no track"));
        }
        if deciding && fields.len() != tracks + 1 {
            return Err(Error::malformed(
                path,
                at(),
                format!(
                    "{} fields, expected a name and {} values (one per header track; {} if the header's first \
                     field names the data-point column)",
                    fields.len(),
                    h.len(),
                    h.len() - 1
                ),
            ));
        }
        if fields.len() != tracks + 1 {
            return Err(Error::malformed(
                path,
                at(),
                format!("{} fields, expected a name and {tracks} values (one per header track)", fields.len()),
            ));
        }
        if let Some(first) = rows.insert(fields[0].clone(), line_no) {
            return Err(Error::malformed(
                path,
                at(),
                format!("data point {:?} already appears on line {first}", fields[0]),
            ));
        }
        names.push(fields[0].clone());
        for (t, f) in fields[1..].iter().enumerate() {
            let v: f32 = f.parse().map_err(|_| Error::malformed(path, at(), format!("{f:?} is not a number")))?;
            if !v.is_finite() {
                let track = h.get(t + usize::from(first_col)).map(String::as_str).unwrap_or("?");
                return Err(Error::malformed(
                    path,
                    at(),
                    format!("value {f:?} for data point {:?}, track {track:?} is not finite", fields[0]),
                ));
            }
            values.push(v);
        }
    }
    let h =
        header.ok_or_else(|| Error::Empty { path: path.to_path_buf(), what: "no # header of track names".into() })?;
    if names.is_empty() {
        return Err(Error::Empty { path: path.to_path_buf(), what: "no data lines".into() });
    }
    let track_names = if names_column == Some(true) { h[1..].to_vec() } else { h };
    check_track_names(&track_names, path)?;
    Ok((names, Modality { name, tracks: track_names, bins: 1, values }))
}

/// Fails when a track name is used twice (`path` names the file).
fn check_track_names(tracks: &[String], path: &Path) -> Result<()> {
    let mut seen = HashSet::new();
    match tracks.iter().find(|t| !seen.insert(t.as_str())) {
        Some(t) => Err(Error::malformed(path, "header", format!("track name {t:?} appears twice"))),
        None => Ok(()),
    }
}

/// Aligns one-hot sequences with target files by data-point name (the one-hot file's order).
pub fn from_files(onehot: &Path, targets: &[PathBuf]) -> Result<Dataset> {
    let (names, length, x) = read_onehot(onehot)?;
    let mut sets = Vec::new();
    for t in targets {
        sets.push(read_targets(t)?);
    }
    let mut seen = HashSet::new();
    if let Some(d) = names.iter().find(|n| !seen.insert(n.as_str())) {
        return Err(Error::malformed(onehot, "genenames", format!("data point {d:?} appears twice")));
    }
    let lookups: Vec<HashMap<&str, usize>> =
        sets.iter().map(|(ns, _)| ns.iter().enumerate().map(|(i, n)| (n.as_str(), i)).collect()).collect();
    let keep: Vec<usize> =
        (0..names.len()).filter(|&i| lookups.iter().all(|m| m.contains_key(names[i].as_str()))).collect();
    if keep.is_empty() {
        return Err(Error::InvalidArgument(format!(
            "no data point of {} is in every target file (first names: {:?} vs {:?})",
            onehot.display(),
            names.first(),
            sets.first().and_then(|(n, _)| n.first())
        )));
    }
    if keep.len() < names.len() {
        tracing::warn!(
            "{} of {} sequences have no targets in every file and are left out",
            names.len() - keep.len(),
            names.len()
        );
    }
    let mut modalities = Vec::new();
    for ((tn, m), lookup) in sets.iter().zip(&lookups) {
        let w = m.width();
        let mut values = Vec::with_capacity(keep.len() * w);
        for &i in &keep {
            let j = lookup[names[i].as_str()];
            values.extend_from_slice(&m.values[j * w..(j + 1) * w]);
        }
        if tn.len() > keep.len() {
            tracing::info!("{}: {} of {} data points have a sequence", m.name, keep.len(), tn.len());
        }
        modalities.push(Modality { values, ..m.clone() });
    }
    let mut xs = Vec::with_capacity(keep.len() * length * 4);
    for &i in &keep {
        xs.extend_from_slice(&x[i * length * 4..(i + 1) * length * 4]);
    }
    let names: Vec<String> = keep.iter().map(|&i| names[i].clone()).collect();
    let chroms = names.iter().map(|n| chrom_of_name(n)).collect();
    Ok(Dataset { names, chroms, length, x: xs, modalities, inputs: vec![] })
}

/// One group of bigWig files that forms one head.
#[derive(Debug, Clone)]
pub struct BigwigGroup {
    /// Head name.
    pub name: String,
    /// The files, one track each.
    pub files: Vec<PathBuf>,
    /// Output geometry of the head that reads them.
    pub geometry: Geometry,
}

/// Windows of `length` bp for genome-style data: with `records`, one per BED record, centred
/// by [`BedRecord::centre`] (its narrowPeak summit unless `ignore_summits`, else its midpoint)
/// and named by its label; without, tiles of `chroms` (default all) every `stride` bp (default
/// `length`).
pub fn genome_windows(
    sizes: &[ChromSize],
    records: Option<&[BedRecord]>,
    length: u64,
    stride: Option<u64>,
    chroms: Option<&[String]>,
    ignore_summits: bool,
) -> Result<Vec<Window>> {
    match records {
        Some(r) => centre_on_regions(r, length, !ignore_summits),
        None => tile_genome(sizes, chroms, length, stride.unwrap_or(length)),
    }
}

/// Reads windows of the model's input length and bins bigWig signal under each head's bins.
pub fn from_genome(
    fasta: &mut Fasta,
    windows: &[Window],
    length: usize,
    n_value: f32,
    groups: &[BigwigGroup],
    stat: BinStat,
) -> Result<Dataset> {
    let enc = Encoder::<f32>::new(n_value)?;
    let mut x = vec![0f32; windows.len() * length * 4];
    let mut seq = Vec::with_capacity(length);
    for (i, w) in windows.iter().enumerate() {
        if w.interval.len() as usize != length {
            return Err(Error::InvalidArgument(format!("window {} is not {length} bp", w.interval)));
        }
        fasta.fetch_into(&w.interval, &mut seq)?;
        enc.encode_into(&seq, Layout::LengthFirst, &mut x[i * length * 4..(i + 1) * length * 4])?;
    }
    let mut modalities = Vec::new();
    for g in groups {
        let bins = g.geometry.bins as usize;
        let tracks = g.files.len();
        if g.geometry.tracks as usize != tracks {
            return Err(Error::InvalidArgument(format!(
                "head {:?} has {} tracks but {} bigWig files are given for it",
                g.name, g.geometry.tracks, tracks
            )));
        }
        let mut values = vec![0f32; windows.len() * bins * tracks];
        for (t, file) in g.files.iter().enumerate() {
            let sizes: HashMap<String, u32> = crate::io::bigwig::bigwig_chroms(file)?.into_iter().collect();
            for (i, w) in windows.iter().enumerate() {
                let iv = &w.interval;
                let lo = iv.start() + g.geometry.offset;
                let hi = lo + (bins as u64 * g.geometry.bin_size) as i64;
                let Some(&clen) = sizes.get(iv.chrom()) else { continue };
                let (qs, qe) = (lo.max(0) as u32, (hi.max(0) as u32).min(clen));
                if qs >= qe {
                    continue;
                }
                for (s, e, v) in read_bigwig(file, iv.chrom(), qs, qe)? {
                    // Spread the interval's value over the bins it overlaps.
                    let (s, e) = (s.max(qs) as i64, e.min(qe) as i64);
                    let mut p = s;
                    while p < e {
                        let b = ((p - lo) as u64 / g.geometry.bin_size) as usize;
                        let bin_end = lo + ((b as u64 + 1) * g.geometry.bin_size) as i64;
                        let q = e.min(bin_end);
                        values[(i * bins + b) * tracks + t] += v * (q - p) as f32;
                        p = q;
                    }
                }
            }
        }
        if stat == BinStat::Mean {
            let inv = 1.0 / g.geometry.bin_size as f32;
            values.iter_mut().for_each(|v| *v *= inv);
        }
        let track_names = g
            .files
            .iter()
            .map(|f| f.file_stem().map(|s| s.to_string_lossy().to_string()).unwrap_or_default())
            .collect();
        modalities.push(Modality { name: g.name.clone(), tracks: track_names, bins, values });
    }
    Ok(Dataset {
        names: windows.iter().map(|w| w.name.clone()).collect(),
        chroms: windows.iter().map(|w| Some(w.interval.chrom().to_string())).collect(),
        length,
        x,
        modalities,
        inputs: vec![],
    })
}

/// Which set a data point belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Set {
    /// Training.
    Train,
    /// Validation (early stopping).
    Valid,
    /// Test (reported only).
    Test,
    /// In no set (left out).
    None,
}

/// Sets from chromosome folds (`# Set_j` format, by [`Folds`]): fold `i` validates, fold
/// `i + 1` tests, the rest train (as `s2f folds` documents). A fold may list chromosomes or
/// data-point names (DRG writes either); a data point matches by name first, then by chromosome.
pub fn sets_from_folds(data: &Dataset, folds: &Folds, fold: usize) -> Result<Vec<Set>> {
    let split = folds.split(fold)?;
    let of = |v: &[String]| -> HashSet<String> { v.iter().cloned().collect() };
    let (train, valid, test) = (of(&split.train), of(&split.valid), of(&split.test));
    assign(data, |key| {
        if valid.contains(key) {
            Some(Set::Valid)
        } else if test.contains(key) {
            Some(Set::Test)
        } else if train.contains(key) {
            Some(Set::Train)
        } else {
            None
        }
    })
}

/// Sets from a split file: one `KEY SET` pair per line (whitespace-separated), KEY a data-point
/// name or a chromosome, SET `train`, `valid` or `test`; `#` lines are comments.
pub fn sets_from_split(data: &Dataset, path: &Path) -> Result<Vec<Set>> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
    let mut map = HashMap::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let f: Vec<&str> = line.split_whitespace().collect();
        let set = match f.get(1).copied() {
            Some("train") => Set::Train,
            Some("valid" | "validation") => Set::Valid,
            Some("test") => Set::Test,
            other => {
                return Err(Error::malformed(
                    path,
                    format!("line {}", i + 1),
                    format!("expected `NAME train|valid|test`, found set {other:?}"),
                ))
            }
        };
        map.insert(f[0].to_string(), set);
    }
    assign(data, |key| map.get(key).copied())
}

fn assign(data: &Dataset, lookup: impl Fn(&str) -> Option<Set>) -> Result<Vec<Set>> {
    let sets: Vec<Set> = data
        .names
        .iter()
        .zip(&data.chroms)
        .map(|(n, c)| lookup(n).or_else(|| c.as_deref().and_then(&lookup)).unwrap_or(Set::None))
        .collect();
    let count = |s: Set| sets.iter().filter(|&&x| x == s).count();
    if count(Set::Train) == 0 || count(Set::Valid) == 0 {
        return Err(Error::InvalidArgument(format!(
            "the split leaves {} training and {} validation data points (of {}); check that the split names \
             chromosomes or data points of this data (e.g. {:?})",
            count(Set::Train),
            count(Set::Valid),
            sets.len(),
            data.names.first()
        )));
    }
    Ok(sets)
}

/// A seeded random split when neither folds nor a split file is given: `valid` and `test`
/// fractions of the data points (at least one each).
pub fn random_sets(n: usize, valid: f64, test: f64, seed: u64) -> Result<Vec<Set>> {
    use rand::seq::SliceRandom;
    if n < 3 {
        return Err(Error::InvalidArgument(format!("{n} data points are too few to split")));
    }
    let ok = |f: f64| f.is_finite() && f > 0.0 && f < 1.0;
    if !(ok(valid) && ok(test) && valid + test < 1.0) {
        return Err(Error::InvalidArgument(format!(
            "held-out fractions {valid} (validation) and {test} (test) must each be in (0, 1) and leave data \
             to train on (--holdout 0.1 holds out 10% for each)"
        )));
    }
    let nv = ((n as f64 * valid).round() as usize).max(1);
    let nt = ((n as f64 * test).round() as usize).max(1);
    let nr = n.saturating_sub(nv + nt);
    if nr < 2 || nr < nv.max(nt) {
        return Err(Error::InvalidArgument(format!(
            "the random split of {n} data points would train on {nr}, validate on {nv} and test on {nt}; \
             lower --holdout or give more data"
        )));
    }
    let mut idx: Vec<usize> = (0..n).collect();
    idx.shuffle(&mut super::init::stream(seed, 7));
    let mut sets = vec![Set::Train; n];
    for &i in &idx[..nv] {
        sets[i] = Set::Valid;
    }
    for &i in &idx[nv..nv + nt] {
        sets[i] = Set::Test;
    }
    Ok(sets)
}
