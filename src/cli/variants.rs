//! `s2f variants`: variant effect scores (basenji's SAD family) for the records of a VCF.

use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use s2f::engine::{create, Predictor};
use s2f::genome::fasta::Fasta;
use s2f::jobs::variants::h5::{write_sad_h5, SAD_H5};
use s2f::jobs::variants::output::value_columns;
use s2f::jobs::variants::run::{count_sites, file_sha256, write_tables, Job, Manifest, Outcome, Parts};
use s2f::jobs::variants::stats::Stat;
use s2f::jobs::variants::{Scorer, VariantOptions};
use s2f::model::Package;

use super::{DeviceArg, EngineArg};

/// Arguments of `s2f variants`.
#[derive(clap::Args)]
pub struct Args {
    /// Model: a package folder or an .onnx with a sidecar model.json.
    model: PathBuf,
    /// Genome FASTA (plain or bgzip with .fai/.gzi).
    #[arg(long)]
    genome: PathBuf,
    /// Variants: VCF, plain or bgzip (only CHROM POS ID REF ALT are read).
    #[arg(long)]
    vcf: PathBuf,
    /// Statistics, comma-separated: SAD, logSAD, sqrtSAD, SAX, D1, D2, logD2, JS, SAR, SADR, REF, ALT, JSD (profile logits: Jensen–Shannon distance of the softmax profiles).
    #[arg(long, default_value = "SAD")]
    stats: String,
    /// Track indices, comma-separated (default: all).
    #[arg(long, conflicts_with = "track_names")]
    tracks: Option<String>,
    /// Tracks by identifier or description, comma-separated.
    #[arg(long)]
    track_names: Option<String>,
    /// Output bins summed over, a:b (0-based, end exclusive; default all).
    #[arg(long)]
    bins: Option<String>,
    #[command(flatten)]
    augment: super::AugmentArgs,
    /// Pseudocount of SAR and SADR.
    #[arg(long, default_value_t = 1.0)]
    pseudo: f64,
    /// A REF that does not match the genome (or an unknown chromosome) is an error instead of a
    /// line of rejected.tsv.
    #[arg(long)]
    strict: bool,
    /// Score a record whose ALT is the genome's base with REF and ALT exchanged (marked swapped).
    #[arg(long)]
    allow_swap: bool,
    /// Output formats, comma-separated: parquet, tsv, h5 (basenji's sad.h5).
    #[arg(long, default_value = "parquet")]
    format: String,
    /// Sequences per batch.
    #[arg(long, default_value_t = 8)]
    batch: usize,
    /// Inference engine.
    #[arg(long, value_enum, default_value_t = EngineArg::Auto)]
    engine: EngineArg,
    /// Device: cpu, cuda, auto.
    #[arg(long, value_enum, default_value_t = DeviceArg::Cpu)]
    device: DeviceArg,
    /// Head to score, for models with several.
    #[arg(long)]
    head: Option<String>,
    /// Compute only shard I of N (0-based), e.g. 0/4; combine the shard folders with `s2f merge`.
    #[arg(long)]
    shard: Option<String>,
    /// VCF records per chunk, the unit of resume and sharding.
    #[arg(long, default_value_t = 2048)]
    chunk_sites: usize,
    /// Output folder: variants.parquet / variants.tsv / sad.h5 and rejected.tsv.
    #[arg(long)]
    out: PathBuf,
}

/// Runs `s2f variants`.
pub fn run(args: Args) -> Result<()> {
    let pkg = Package::open(&args.model)?;
    let spec = pkg.spec.as_ref().context("variants needs a model with a spec (a package or .onnx + model.json)")?;
    let head = spec.head_index(args.head.as_deref())?;
    let tracks = super::select_tracks(spec, head, args.tracks.as_deref(), args.track_names.as_deref())?;
    if tracks.is_empty() {
        bail!("no tracks selected");
    }
    let stats =
        super::split_list(&args.stats).iter().map(|s| Stat::parse(s)).collect::<s2f::error::Result<Vec<_>>>()?;
    let formats = super::split_list(&args.format);
    if let Some(f) = formats.iter().find(|f| !matches!(f.as_str(), "parquet" | "tsv" | "h5")) {
        bail!("--format {f:?}: choose from parquet, tsv, h5");
    }
    let bins = args.bins.as_deref().map(|b| super::parse_range("--bins", b)).transpose()?.map(|r| (r.start, r.end));
    let augment = args.augment.augment()?;
    let len = spec.input.length as usize;
    augment.check(len)?;
    let shard = match &args.shard {
        None => (0, 1),
        Some(s) => {
            let (i, n) = s.split_once('/').with_context(|| format!("--shard {s:?}: use I/N, e.g. 0/4"))?;
            (i.trim().parse().context("--shard: bad I")?, n.trim().parse().context("--shard: bad N")?)
        }
    };
    let mut fasta = Fasta::open(&args.genome)?;
    let engine = create(args.engine.into(), args.device.into(), &pkg.onnx)?;
    let mut predictor = Predictor::new(&pkg, engine, head, args.batch)?;
    let opts = VariantOptions {
        stats,
        tracks: tracks.clone(),
        bins,
        augment,
        pseudo: args.pseudo,
        strict: args.strict,
        allow_swap: args.allow_swap,
        chunk_sequences: (args.batch * 16).max(64),
    };
    let scorer = Scorer::new(&fasta, len, spec.input.n_value, opts.clone())?;
    let table = &spec.heads[head].tracks;
    let ids: Vec<String> = tracks
        .iter()
        .map(|&t| table.iter().find(|r| r.index == t).map(|r| r.identifier.clone()).unwrap_or_else(|| t.to_string()))
        .collect();
    if args.chunk_sites == 0 {
        bail!("--chunk-sites must be at least 1");
    }
    let sites = count_sites(&args.vcf)?;
    let manifest = Manifest {
        kind: "s2f-variants".into(),
        model_sha256: file_sha256_bytes(&pkg.onnx),
        genome: args.genome.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default(),
        vcf_sha256: file_sha256(&args.vcf)?,
        sites,
        sites_per_chunk: args.chunk_sites,
        stats: opts.stats.iter().map(|s| s.name().to_string()).collect(),
        columns: value_columns(&opts.stats, &ids),
        tracks: tracks.clone(),
        track_ids: ids.clone(),
        track_labels: tracks
            .iter()
            .map(|&t| table.iter().find(|x| x.index == t).map(|x| x.description.clone()).unwrap_or_default())
            .collect(),
        bins,
        shifts: opts.augment.shifts.clone(),
        rc: opts.augment.rc,
        shift_pad: opts.augment.pad,
        pseudo: opts.pseudo,
        allow_swap: opts.allow_swap,
        formats,
        engine: predictor.identity(),
    };
    tracing::info!("scoring {sites} VCF records of {} on {}", args.vcf.display(), predictor.describe());
    let bar = indicatif::ProgressBar::new(sites as u64);
    bar.set_style(
        indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} sites ({per_sec}, ETA {eta})")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    let job = Job { scorer: &scorer, vcf: &args.vcf, manifest, shard, out: &args.out, assembler: &assembler };
    let outcome = s2f::jobs::variants::run::run(&job, &mut predictor, &mut fasta, |n| bar.inc(n as u64))?;
    bar.finish_and_clear();
    match outcome {
        Outcome::Complete(files) => {
            let rejected = std::fs::read_to_string(args.out.join("rejected.tsv"))
                .map(|t| t.lines().count().saturating_sub(1))
                .unwrap_or(0);
            if rejected > 0 {
                let n = rejected;
                tracing::warn!("{n} alleles not scored; see {}", args.out.join("rejected.tsv").display());
            }
            tracing::info!("wrote {} files to {}", files.len(), args.out.display());
        }
        Outcome::ShardDone(present, total) => {
            tracing::info!("shard done: {present} of {total} chunks present; run the others, then `s2f merge`")
        }
        Outcome::AlreadyComplete => tracing::info!("{} already holds this finished run", args.out.display()),
    }
    Ok(())
}

/// Writes the final files of a complete run: [`write_tables`], then basenji's `sad.h5` when the
/// formats ask for it (track identifiers and descriptions from the manifest).
pub(crate) fn assembler(dir: &std::path::Path, m: &Manifest, parts: &Parts) -> s2f::error::Result<Vec<PathBuf>> {
    let mut files = write_tables(dir, m, parts)?;
    if m.formats.iter().any(|f| f == "h5") {
        let stats = m.stats.iter().map(|s| Stat::parse(s)).collect::<s2f::error::Result<Vec<_>>>()?;
        let path = dir.join(SAD_H5);
        write_sad_h5(&path, &parts.all_scored()?, &stats, &m.track_ids, &m.track_labels, m.tracks.len())?;
        files.push(path);
    }
    Ok(files)
}

fn file_sha256_bytes(bytes: &[u8]) -> String {
    use sha2::Digest;
    format!("{:x}", sha2::Sha256::digest(bytes))
}
