//! `s2f variants`: variant effect scores (basenji's SAD family) for the records of a VCF.

use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use s2f::engine::ensemble::Augment;
use s2f::engine::{create, Predictor};
use s2f::genome::fasta::Fasta;
use s2f::genome::vcf::VcfReader;
use s2f::jobs::variants::output::{value_columns, write_rejected, write_scores_parquet, write_scores_tsv};
use s2f::jobs::variants::stats::Stat;
use s2f::jobs::variants::{score_vcf, VariantOptions};
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
    /// Statistics, comma-separated: SAD, logSAD, sqrtSAD, SAX, D1, D2, logD2, JS, SAR, SADR, REF, ALT.
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
    /// Average with the reverse complement.
    #[arg(long)]
    rc: bool,
    /// Shifts to average, comma-separated, e.g. -1,0,1.
    #[arg(long, default_value = "0", allow_hyphen_values = true)]
    shifts: String,
    /// Value of shifted-in positions in all four channels.
    #[arg(long, default_value_t = 0.25)]
    shift_pad: f32,
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
    /// Output formats, comma-separated: parquet, tsv.
    #[arg(long, default_value = "parquet")]
    format: String,
    /// Sequences per batch.
    #[arg(long, default_value_t = 8)]
    batch: usize,
    /// Inference engine.
    #[arg(long, value_enum, default_value_t = EngineArg::Tract)]
    engine: EngineArg,
    /// Device: cpu, cuda, auto.
    #[arg(long, value_enum, default_value_t = DeviceArg::Cpu)]
    device: DeviceArg,
    /// Head to score, for models with several.
    #[arg(long)]
    head: Option<String>,
    /// Output folder: variants.parquet / variants.tsv and rejected.tsv.
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
    if let Some(f) = formats.iter().find(|f| !matches!(f.as_str(), "parquet" | "tsv")) {
        bail!("--format {f:?}: choose from parquet, tsv");
    }
    let shifts: Vec<i64> = super::split_list(&args.shifts)
        .iter()
        .map(|s| s.parse::<i64>().with_context(|| format!("--shifts: {s:?} is not an integer")))
        .collect::<Result<_>>()?;
    let bins = args.bins.as_deref().map(|b| super::parse_range("--bins", b)).transpose()?.map(|r| (r.start, r.end));
    let augment = Augment { shifts, rc: args.rc, pad: args.shift_pad };
    let len = spec.input.length as usize;
    augment.check(len)?;
    let mut fasta = Fasta::open(&args.genome)?;
    let mut vcf = VcfReader::open(&args.vcf)?;
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
    tracing::info!("scoring {} on {}", args.vcf.display(), predictor.describe());
    let bar = indicatif::ProgressBar::new_spinner();
    bar.set_style(
        indicatif::ProgressStyle::with_template("{spinner} {pos} alleles scored ({per_sec}) {elapsed}")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner()),
    );
    let (scored, rejected) =
        score_vcf(&mut predictor, &mut fasta, &mut vcf, len, spec.input.n_value, &opts, |n| bar.inc(n as u64))?;
    bar.finish_and_clear();
    let table = &spec.heads[head].tracks;
    let ids: Vec<String> = tracks
        .iter()
        .map(|&t| table.iter().find(|r| r.index == t).map(|r| r.identifier.clone()).unwrap_or_else(|| t.to_string()))
        .collect();
    let columns = value_columns(&opts.stats, &ids);
    std::fs::create_dir_all(&args.out).with_context(|| format!("creating {}", args.out.display()))?;
    if formats.iter().any(|f| f == "parquet") {
        write_scores_parquet(&args.out.join("variants.parquet"), &scored, &columns)?;
    }
    if formats.iter().any(|f| f == "tsv") {
        write_scores_tsv(&args.out.join("variants.tsv"), &scored, &columns)?;
    }
    write_rejected(&args.out.join("rejected.tsv"), &rejected)?;
    if !rejected.is_empty() {
        tracing::warn!("{} alleles not scored; see {}", rejected.len(), args.out.join("rejected.tsv").display());
    }
    tracing::info!("scored {} alleles into {}", scored.len(), args.out.display());
    Ok(())
}
