//! Genome-wide prediction: tile, encode, predict (with test-time augmentation), and write
//! bigWig or npz outputs — streaming, sharded and resumable.
//!
//! Work is cut into chunks of windows (see [`crate::jobs::tiling`]). Each finished chunk is
//! written atomically as a *part file* under `OUT/.s2f-parts/`, with its windows' coordinates
//! and values, so a killed run restarted with the same options skips finished chunks, and
//! `--shard I/N` computes chunks `c` with `c % N == I`. When every chunk is present, the parts
//! are assembled into the final files (by [`assemble`], also used by `s2f merge`) and removed;
//! `OUT/s2f-predict.json` then records the run as complete.
//!
//! Memory is bounded by the batch and chunk sizes, not the genome: a reader thread fetches and
//! encodes batches, the calling thread runs the model, a writer thread collects chunks.
//!
//! The code follows those seams: `manifest` (what must agree between a run, its resumption and
//! its shards), `part` (the part-file format), `pipeline` (reader → model → writer) and
//! `assemble` (bigWig, parquet and npz outputs; `s2f merge`). Their public items are re-exported
//! here.

mod assemble;
mod manifest;
mod part;
mod pipeline;

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::engine::ensemble::Augment;
use crate::engine::Predictor;
use crate::error::{Error, Result};
use crate::genome::bed::BedRecord;
use crate::genome::fasta::Fasta;
use crate::io::digest::sha256_hex;
use crate::jobs::tiling::{chunk_windows, regions_for_model, TilePlan, WindowSource};
use crate::model::Package;

pub use assemble::{assemble, merge};
pub use manifest::Manifest;
pub use part::{read_part, PartWindow};

use part::part_path;

/// Folder of part files inside the output folder.
pub const PARTS_DIR: &str = ".s2f-parts";
/// Record of a completed run.
pub const DONE_FILE: &str = "s2f-predict.json";

/// What to predict on.
#[derive(Debug, Clone)]
pub enum Target {
    /// Whole chromosomes (all, or these in this order).
    Genome {
        /// Chromosome selection.
        chroms: Option<Vec<String>>,
    },
    /// One window centred on each region ([`BedRecord::centre`]; see
    /// [`PredictOptions::ignore_summits`]).
    Regions(Vec<BedRecord>),
}

/// Output formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Formats {
    /// One bigWig per selected track.
    pub bigwig: bool,
    /// `predictions.npz`: `predictions` (N, bins, tracks) float32 and `names`.
    pub npz: bool,
    /// `predictions.parquet`: chrom, start, end and one column per track, one row per bin.
    #[serde(default)]
    pub parquet: bool,
}

/// Options of a prediction run.
#[derive(Debug, Clone)]
pub struct PredictOptions {
    /// Output head.
    pub head: usize,
    /// Selected output columns (track indices) of that head.
    pub tracks: Vec<usize>,
    /// Test-time augmentation.
    pub augment: Augment,
    /// Window spacing for one-value-per-window models (default: the window length).
    pub stride: Option<u64>,
    /// Output formats.
    pub formats: Formats,
    /// `(I, N)`: compute chunks `c % N == I`.
    pub shard: (usize, usize),
    /// Windows per chunk (the unit of resume and sharding); automatic when None.
    pub chunk_windows: Option<usize>,
    /// With [`Target::Regions`]: centre windows on region midpoints even where a narrowPeak
    /// summit is given (by default the summit, when there is one).
    pub ignore_summits: bool,
    /// The head is a profile of logits with a count head
    /// ([`crate::model::spec::Head::profile_counts`]), and the predictor was made with
    /// [`Predictor::profile_as_counts`]: the selected tracks are written as counts, and one
    /// more output, the window's log count, at the centre bin of each window's written span
    /// (one value per window).
    pub profile_counts: bool,
    /// Signal inputs of a graph-form model (BPNet's `control`), one list of bigWigs per
    /// further input in spec order, one file per channel: each window reads them over the
    /// input's span ([`crate::model::graph::ExtraInput::offset`] on the window), per base, 0
    /// where a file has no data.
    pub signals: Vec<Vec<PathBuf>>,
}

/// How a run ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Outputs written (the paths).
    Complete(Vec<PathBuf>),
    /// The outputs already existed for the same options.
    AlreadyComplete,
    /// This shard is done; other chunks are missing (present, total).
    ShardDone(usize, usize),
}

fn sanitize(s: &str) -> String {
    s.chars().map(|c| if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') { c } else { '_' }).collect()
}

/// Output file stem for track `t` of a head: `t0007_CNhs11760_CAGE_aorta` (or `t0007`).
pub fn track_stem(pkg: &Package, head: usize, t: usize) -> String {
    let track = pkg.spec.as_ref().and_then(|s| s.heads.get(head)).and_then(|h| h.tracks.iter().find(|x| x.index == t));
    match track {
        Some(tr) => {
            let mut stem = format!("t{t:04}_{}", sanitize(&tr.identifier));
            if !tr.description.is_empty() {
                stem.push('_');
                stem.push_str(&sanitize(&tr.description));
            }
            stem.chars().take(120).collect()
        }
        None => format!("t{t:04}"),
    }
}

/// Checks the signal inputs: one bigWig group per further input of the model, each input a
/// signal lying on the window with one file per channel, every chromosome to predict present
/// in every file, and no test-time augmentation (which would have to transform the signal too).
fn check_signals(
    spec: &crate::model::spec::ModelSpec,
    opts: &PredictOptions,
    target: &Target,
    sizes: &[crate::genome::fasta::ChromSize],
) -> Result<()> {
    use crate::model::graph::InputKind;
    if let Some(i) = spec.inputs.iter().find(|i| i.kind != InputKind::Signal || i.offset.is_none()) {
        return Err(Error::InvalidArgument(format!(
            "input {:?} is {}; genome-wide prediction reads only signal inputs lying on the window (from \
             bigWigs): predict this model with `s2f run --input NAME=FILE …` on one-hot arrays",
            i.name,
            if i.kind == InputKind::Onehot { "a one-hot sequence" } else { "not placed on the window (no offset)" }
        )));
    }
    if let Some(f) = opts.signals.iter().flatten().find(|f| f.extension().is_some_and(|e| e == "npy" || e == "npz")) {
        return Err(Error::InvalidArgument(format!(
            "{}: predict reads signal inputs from bigWigs (one per channel); arrays go to `s2f run --input NAME=FILE`",
            f.display()
        )));
    }
    if opts.signals.len() != spec.inputs.len() {
        return Err(Error::InvalidArgument(format!(
            "the model reads further inputs ({}): give each as --input NAME=A.bw[,B.bw…], one bigWig per channel",
            spec.inputs
                .iter()
                .map(|i| format!("{} with {} channel(s)", i.name, i.channels))
                .collect::<Vec<_>>()
                .join(", ")
        )));
    }
    for (i, files) in spec.inputs.iter().zip(&opts.signals) {
        if files.len() != i.channels {
            return Err(Error::InvalidArgument(format!(
                "input {:?} has {} channel(s); {} bigWig(s) given",
                i.name,
                i.channels,
                files.len()
            )));
        }
        let wanted: Vec<String> = match target {
            Target::Genome { chroms: Some(c) } => c.clone(),
            Target::Genome { chroms: None } => sizes.iter().map(|c| c.name.clone()).collect(),
            Target::Regions(r) => r.iter().map(|x| x.interval.chrom().to_string()).collect(),
        };
        for f in files {
            let have = crate::io::bigwig::bigwig_chroms(f)?;
            if let Some(c) = wanted.iter().find(|c| !have.iter().any(|(n, _)| n == *c)) {
                return Err(Error::malformed(
                    f,
                    c.clone(),
                    format!("input {:?}: the bigWig has no chromosome {c}", i.name),
                ));
            }
        }
    }
    if !opts.signals.is_empty() && (opts.augment.rc || opts.augment.shifts.iter().any(|&s| s != 0)) {
        return Err(Error::InvalidArgument(
            "--rc and --shifts are not applied to models with signal inputs (the signal would need the same \
             transformation); predict without them"
                .into(),
        ));
    }
    Ok(())
}

/// Output file stems: one per selected track, and with [`PredictOptions::profile_counts`] the
/// tracks as `t0000_plus_counts` and the count head's log count last (`counts_log_counts`).
fn track_files(pkg: &Package, spec: &crate::model::spec::ModelSpec, opts: &PredictOptions) -> Result<Vec<String>> {
    let head = &spec.heads[opts.head];
    let id = |t: usize| head.tracks.iter().find(|x| x.index == t).map(|x| sanitize(&x.identifier)).unwrap_or_default();
    if !opts.profile_counts {
        if head.profile_counts.is_some() {
            // A profile written as logits: `t0000_plus_logits`.
            return Ok(opts
                .tracks
                .iter()
                .map(
                    |&t| if id(t).is_empty() { format!("t{t:04}_logits") } else { format!("t{t:04}_{}_logits", id(t)) },
                )
                .collect());
        }
        return Ok(opts.tracks.iter().map(|&t| track_stem(pkg, opts.head, t)).collect());
    }
    let counts = head.profile_counts.as_deref().ok_or_else(|| {
        Error::InvalidArgument(format!("head {:?} is not a profile with a count head (profile_counts)", head.name))
    })?;
    let mut stems: Vec<String> = opts
        .tracks
        .iter()
        .map(|&t| if id(t).is_empty() { format!("t{t:04}_counts") } else { format!("t{t:04}_{}_counts", id(t)) })
        .collect();
    stems.push(format!("{}_log_counts", sanitize(counts)));
    Ok(stems)
}

/// Runs (or resumes) a prediction; see the module docs.
pub fn predict(
    pkg: &Package,
    predictor: &mut Predictor,
    genome: &Path,
    target: &Target,
    opts: &PredictOptions,
    out: &Path,
) -> Result<Outcome> {
    let spec = pkg.spec.as_ref().ok_or_else(|| {
        Error::InvalidArgument(
            "predict needs a model with a spec (geometry); give a package or an .onnx with a sidecar model.json".into(),
        )
    })?;
    let analysis = spec.analyze()?;
    let (_, geom) =
        analysis.heads.get(opts.head).ok_or_else(|| Error::InvalidArgument(format!("no head {}", opts.head)))?;
    if let Some(t) = opts.tracks.iter().find(|&&t| t as u64 >= geom.tracks) {
        return Err(Error::InvalidArgument(format!("track {t} does not exist (the head has {} tracks)", geom.tracks)));
    }
    let fasta = Fasta::open(genome)?;
    let sizes = fasta.chrom_sizes();
    check_signals(spec, opts, target, &sizes)?;
    let (windows, mode) = match target {
        Target::Genome { chroms } => (
            WindowSource::Tiled(TilePlan::new(&sizes, chroms.as_deref(), spec.input.length, geom, opts.stride)?),
            "genome",
        ),
        Target::Regions(r) => {
            for rec in r {
                fasta.chrom_len(rec.interval.chrom())?;
            }
            (WindowSource::Listed(regions_for_model(r, spec.input.length, geom, opts.ignore_summits)), "regions")
        }
    };
    if windows.is_empty() {
        return Err(Error::InvalidArgument("nothing to predict".into()));
    }
    let (shard, n_shards) = opts.shard;
    crate::jobs::run_dir::check_shard(shard, n_shards)?;
    if opts.chunk_windows == Some(0) {
        return Err(Error::InvalidArgument("--chunk-windows must be at least 1".into()));
    }
    opts.augment.check(spec.input.length as usize)?;
    let chunk = opts.chunk_windows.unwrap_or_else(|| chunk_windows(geom.bins as usize, opts.tracks.len())).max(1);
    let n_chunks = windows.len().div_ceil(chunk);
    let manifest = Manifest {
        version: 1,
        model_sha256: sha256_hex(&pkg.onnx),
        model: spec.name.clone(),
        genome: genome.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default(),
        chrom_sizes: sizes.iter().map(|c| (c.name.clone(), c.len)).collect(),
        mode: mode.into(),
        windows: windows.len(),
        chunk,
        head: opts.head,
        tracks: opts.tracks.clone(),
        track_files: track_files(pkg, spec, opts)?,
        shifts: opts.augment.shifts.clone(),
        rc: opts.augment.rc,
        shift_pad: opts.augment.pad,
        stride: opts.stride,
        bins: geom.bins as usize,
        formats: opts.formats,
        centre: match target {
            Target::Genome { .. } => None,
            Target::Regions(_) if opts.ignore_summits => Some("midpoint".into()),
            Target::Regions(_) => Some("summit-or-midpoint".into()),
        },
        engine: predictor.identity(),
        profile_counts: opts.profile_counts,
        signals: opts
            .signals
            .iter()
            .map(|g| {
                g.iter().map(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default()).collect()
            })
            .collect(),
    };
    std::fs::create_dir_all(out.join(PARTS_DIR)).map_err(|e| Error::io(out, e))?;
    if crate::jobs::run_dir::finished(&out.join(DONE_FILE), &manifest, out)? {
        return Ok(Outcome::AlreadyComplete);
    }
    crate::jobs::run_dir::claim(&out.join(PARTS_DIR).join("manifest.json"), &manifest, out)?;
    let todo: Vec<usize> = (0..n_chunks).filter(|c| c % n_shards == shard && !part_path(out, *c).is_file()).collect();
    let todo_windows: usize = todo.iter().map(|&c| ((c + 1) * chunk).min(windows.len()) - c * chunk).sum();
    drop(fasta);
    tracing::info!(
        "{} windows in {n_chunks} chunks; this run: {} chunks ({} windows) on {}, {} passes per window",
        windows.len(),
        todo.len(),
        todo_windows,
        predictor.describe(),
        opts.augment.passes()
    );
    let skip_gaps = matches!(target, Target::Genome { .. });
    pipeline::run_pipeline(
        predictor,
        genome,
        spec,
        &windows,
        &todo,
        chunk,
        opts,
        out,
        &sizes,
        todo_windows,
        skip_gaps,
    )?;
    let present = (0..n_chunks).filter(|&c| part_path(out, c).is_file()).count();
    if present < n_chunks {
        return Ok(Outcome::ShardDone(present, n_chunks));
    }
    let t = std::time::Instant::now();
    let files = assemble(out)?;
    tracing::info!("assembled {} output files in {:.2} s", files.len(), t.elapsed().as_secs_f64());
    Ok(Outcome::Complete(files))
}
