//! `s2f predict`: score a genome or regions with a model; `s2f merge`: combine shard outputs.

use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use s2f::engine::{create, Predictor};
use s2f::genome::bed::read_bed;
use s2f::jobs::predict::{merge, predict, Formats, Outcome, PredictOptions, Target};
use s2f::model::Package;

use super::{DeviceArg, EngineArg};

/// Arguments of `s2f predict`.
#[derive(clap::Args)]
pub struct Args {
    /// Model: a package folder or an .onnx with a sidecar model.json.
    model: PathBuf,
    /// Genome FASTA (plain or bgzip with .fai/.gzi).
    #[arg(long)]
    genome: PathBuf,
    /// Regions: one window centred on each, on its narrowPeak summit when it has one, else on
    /// its midpoint (outputs per region, default format npz).
    #[arg(long, conflicts_with = "chroms")]
    bed: Option<PathBuf>,
    /// With --bed: centre on region midpoints (start + end) / 2 even where narrowPeak summits
    /// are given.
    #[arg(long, requires = "bed")]
    ignore_summits: bool,
    /// Chromosomes to score, comma-separated (default: all, in index order).
    #[arg(long)]
    chroms: Option<String>,
    /// Output folder.
    #[arg(long)]
    out: PathBuf,
    /// Track indices to write, comma-separated (default: all).
    #[arg(long, conflicts_with = "track_names")]
    tracks: Option<String>,
    /// Tracks by identifier or description, comma-separated.
    #[arg(long)]
    track_names: Option<String>,
    #[command(flatten)]
    augment: super::AugmentArgs,
    /// Sequences per batch.
    #[arg(long, default_value_t = 8)]
    batch: usize,
    /// Window spacing in bp for models with one value per window (default: the window length).
    #[arg(long)]
    stride: Option<u64>,
    /// Inference engine.
    #[arg(long, value_enum, default_value_t = EngineArg::Auto)]
    engine: EngineArg,
    /// Device: cpu, cuda (fails if CUDA is unusable), auto (logs its choice).
    #[arg(long, value_enum, default_value_t = DeviceArg::Cpu)]
    device: DeviceArg,
    /// Output formats, comma-separated: bigwig, parquet, npz (default: bigwig for genomes, npz
    /// for BED).
    #[arg(long)]
    format: Option<String>,
    /// Compute only shard I of N (0-based), e.g. 0/4; combine the shards with `s2f merge`.
    #[arg(long)]
    shard: Option<String>,
    /// Head to predict, for models with several.
    #[arg(long)]
    head: Option<String>,
    /// Profile heads with a count head (BPNet, ChromBPNet): `counts` (the default) writes the
    /// profile as counts, softmax(logits) over bins and strands × exp(log count), and the log
    /// count once per window at its centre; `logits` writes the raw logits.
    #[arg(long, value_enum)]
    profile: Option<ProfileArg>,
    /// Signal inputs of the model (BPNet's control tracks): NAME=A.bw[,B.bw…], one bigWig per
    /// channel (strand), read per base over the input's span of each window; repeat per input.
    #[arg(long)]
    input: Vec<String>,
    /// Windows per chunk, the unit of resume and sharding (default: about 16 M output values).
    #[arg(long)]
    chunk_windows: Option<usize>,
}

/// How a profile head is written.
#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum ProfileArg {
    /// softmax(logits) × exp(log count), and the log count per window.
    Counts,
    /// The logits as the model outputs them.
    Logits,
}

/// Runs `s2f predict`.
pub fn run(args: Args) -> Result<()> {
    let pkg = Package::open(&args.model)?;
    let spec = pkg
        .spec
        .as_ref()
        .context("predict needs a model with a spec: a package, or an .onnx with a sidecar model.json")?;
    let head = spec.head_index(args.head.as_deref())?;
    let tracks = super::select_tracks(spec, head, args.tracks.as_deref(), args.track_names.as_deref())?;
    if tracks.is_empty() {
        bail!("no tracks selected");
    }
    let shard = match &args.shard {
        None => (0, 1),
        Some(s) => {
            let (i, n) = s.split_once('/').with_context(|| format!("--shard {s:?}: use I/N, e.g. 0/4"))?;
            (i.trim().parse().context("--shard: bad I")?, n.trim().parse().context("--shard: bad N")?)
        }
    };
    let target = match &args.bed {
        Some(b) => Target::Regions(read_bed(b)?),
        None => Target::Genome { chroms: args.chroms.as_deref().map(super::split_list) },
    };
    let formats = match &args.format {
        None => Formats {
            bigwig: matches!(target, Target::Genome { .. }),
            npz: matches!(target, Target::Regions(_)),
            parquet: false,
        },
        Some(f) => {
            let list = super::split_list(f);
            for x in &list {
                if !matches!(x.as_str(), "bigwig" | "npz" | "parquet") {
                    bail!("--format {x:?}: choose from bigwig, parquet, npz");
                }
            }
            let has = |f: &str| list.iter().any(|x| x == f);
            Formats { bigwig: has("bigwig"), npz: has("npz"), parquet: has("parquet") }
        }
    };
    let engine = create(args.engine.into(), args.device.into(), &pkg.onnx)?;
    let counts_head = spec.heads[head].profile_counts.as_deref();
    let profile_counts = match (args.profile, counts_head) {
        (Some(_), None) => bail!(
            "--profile applies to profile heads with a count head (BPNet, ChromBPNet); head {:?} is not one",
            spec.heads[head].name
        ),
        (Some(ProfileArg::Logits), Some(_)) | (None, None) => None,
        (Some(ProfileArg::Counts) | None, Some(c)) => Some(spec.head_index(Some(c))?),
    };
    let mut given = std::collections::BTreeMap::new();
    for v in &args.input {
        let (name, files) = v.split_once('=').with_context(|| format!("--input {v:?}: use NAME=A.bw[,B.bw…]"))?;
        if given
            .insert(name.to_string(), super::split_list(files).into_iter().map(PathBuf::from).collect::<Vec<_>>())
            .is_some()
        {
            bail!("--input {name:?} is given twice");
        }
    }
    if let Some(name) = given.keys().find(|n| !spec.inputs.iter().any(|i| &i.name == *n)) {
        bail!(
            "the model has no further input {name:?}{}",
            if spec.inputs.is_empty() {
                String::new()
            } else {
                format!(" (it takes {})", spec.inputs.iter().map(|i| i.name.as_str()).collect::<Vec<_>>().join(", "))
            }
        );
    }
    let signals: Vec<Vec<PathBuf>> = spec.inputs.iter().filter_map(|i| given.remove(&i.name)).collect();
    let mut predictor = if spec.inputs.is_empty() {
        Predictor::new(&pkg, engine, head, args.batch)?
    } else {
        Predictor::with_inputs(&pkg, engine, head, args.batch)?
    };
    if let Some(c) = profile_counts {
        tracing::info!(
            "head {:?}: writing the profile as counts and the log count per window (--profile logits for the logits)",
            spec.heads[head].name
        );
        predictor = predictor.profile_as_counts(c);
    }
    let opts = PredictOptions {
        head,
        tracks,
        augment: args.augment.augment()?,
        stride: args.stride,
        formats,
        shard,
        chunk_windows: args.chunk_windows,
        ignore_summits: args.ignore_summits,
        profile_counts: profile_counts.is_some(),
        signals,
    };
    let started = std::time::Instant::now();
    match predict(&pkg, &mut predictor, &args.genome, &target, &opts, &args.out)? {
        Outcome::Complete(files) => {
            tracing::info!(
                "wrote {} files to {} in {:.1} s",
                files.len(),
                args.out.display(),
                started.elapsed().as_secs_f64()
            );
        }
        Outcome::AlreadyComplete => {
            tracing::info!("{}: already complete for these options; nothing to do", args.out.display())
        }
        Outcome::ShardDone(have, total) => tracing::info!(
            "shard {}/{} done: {have} of {total} chunks in {}; run the other shards, then `s2f merge`",
            shard.0,
            shard.1,
            args.out.display()
        ),
    }
    Ok(())
}

/// Arguments of `s2f merge`.
#[derive(clap::Args)]
pub struct MergeArgs {
    /// Output folders of the shard runs; the merged files are written into the first.
    #[arg(required = true)]
    dirs: Vec<PathBuf>,
}

/// Runs `s2f merge`.
pub fn run_merge(args: MergeArgs) -> Result<()> {
    if let Some(d) = args.dirs.first().filter(|d| d.join(s2f::jobs::variants::run::DONE_FILE).is_file()) {
        tracing::info!("{} already holds a finished variants run; nothing to merge", d.display());
        return Ok(());
    }
    let files = match args.dirs.first() {
        Some(d) if s2f::jobs::variants::run::is_variants_run(d) => {
            s2f::jobs::variants::run::merge(&args.dirs, &super::variants::assembler)?
        }
        _ => merge(&args.dirs)?,
    };
    tracing::info!("merged {} folders: wrote {} files to {}", args.dirs.len(), files.len(), args.dirs[0].display());
    Ok(())
}
