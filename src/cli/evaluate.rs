//! `s2f evaluate genes`: predicted vs observed gene values (FT_S2A's TSS CAGE correlations).

use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use s2f::genes::bigwig::signal_sites;
use s2f::genes::evaluate::{evaluate, write_evaluation};
use s2f::genes::table::{gene_table, keep_known_chroms};
use s2f::genes::tss::{group_genes, read_tss_table, sites, Aggregate};
use s2f::genome::gtf::read_tss;
use s2f::io::table;

/// Arguments of `s2f evaluate`.
#[derive(clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: Sub,
}

#[derive(clap::Subcommand)]
enum Sub {
    /// Correlations across genes (per track) and across tracks (per gene) of predicted and observed values.
    Genes(GenesArgs),
}

/// Arguments of `s2f evaluate genes`.
#[derive(clap::Args)]
struct GenesArgs {
    /// Predicted gene table (`s2f genes` output).
    #[arg(long)]
    pred: PathBuf,
    /// Observed table: gene_id and one column per track, named as in --pred.
    #[arg(long, required_unless_present = "obs_tracks", conflicts_with = "obs_tracks")]
    obs: Option<PathBuf>,
    /// Observed bigWigs (one per track, named TRACK.bw after the --pred columns), read at the
    /// TSS bins; needs --gtf or --tss and --bin-size.
    #[arg(long, requires = "bin_size")]
    obs_tracks: Option<PathBuf>,
    /// With --obs-tracks: GTF annotation of the TSSs.
    #[arg(long, conflicts_with = "tss")]
    gtf: Option<PathBuf>,
    /// With --obs-tracks and --gtf: keep genes of this type.
    #[arg(long, requires = "gtf")]
    gene_type: Option<String>,
    /// With --obs-tracks: TSS table (gene_id, chrom, tss, strand).
    #[arg(long)]
    tss: Option<PathBuf>,
    /// With --obs-tracks: bin width (the model's, e.g. 128 for Basenji2).
    #[arg(long)]
    bin_size: Option<u64>,
    /// With --obs-tracks: bins summed per TSS (odd).
    #[arg(long, default_value_t = 3)]
    bins: usize,
    /// With --obs-tracks: how a gene's TSSs are combined (sum, max, mean).
    #[arg(long, default_value = "sum")]
    aggregate: String,
    /// With --obs-tracks: how far into its bin the TSS lies (0: its first base, as for Basenji2).
    #[arg(long, default_value_t = 0)]
    anchor: u64,
    /// Keep tracks whose column name contains this text (with --model: whose description does).
    #[arg(long)]
    track_filter: Option<String>,
    /// The model whose track table names the columns (lets --track-filter match descriptions).
    #[arg(long)]
    model: Option<PathBuf>,
    /// Table of gene_id and split (e.g. train, valid, test): correlations per split as well.
    #[arg(long)]
    split: Option<PathBuf>,
    /// Output folder (must not exist, or be empty).
    #[arg(long)]
    out: PathBuf,
}

/// Runs `s2f evaluate`.
pub fn run(args: Args) -> Result<()> {
    match args.command {
        Sub::Genes(a) => run_genes(a),
    }
}

fn run_genes(a: GenesArgs) -> Result<()> {
    s2f::io::atomic::check_out_dir(&a.out)?;
    // Column name → description, from the model's track tables.
    let mut described: std::collections::HashMap<String, String> = Default::default();
    if let Some(m) = &a.model {
        let pkg = s2f::model::Package::open(m)?;
        let spec = pkg.spec.as_ref().context("the model has no spec")?;
        for h in &spec.heads {
            for t in &h.tracks {
                described.insert(t.identifier.clone(), t.description.clone());
            }
        }
    }
    let keep = |name: &str| -> bool {
        match &a.track_filter {
            None => true,
            Some(f) if a.model.is_some() => described.get(name).is_some_and(|d| d.contains(f.as_str())),
            Some(f) => name.contains(f.as_str()),
        }
    };
    let pred = table::read(&a.pred)?;
    let (obs, obs_path) = match (&a.obs, &a.obs_tracks) {
        (Some(o), _) => (table::read(o)?, o.clone()),
        (None, Some(dir)) => (observed_from_tracks(&a, dir, &pred)?, dir.clone()),
        (None, None) => bail!("give --obs or --obs-tracks"),
    };
    let e = evaluate(&pred, &a.pred, &obs, &obs_path, &keep, a.split.as_deref())?;
    if !e.unmatched.is_empty() {
        tracing::warn!("{} genes are in only one table (listed in unmatched.tsv)", e.unmatched.len());
    }
    for s in &e.splits {
        tracing::info!(
            "{}: {} genes × {} tracks: mean Pearson across genes {:.4}, across tracks {:.4}",
            s.name,
            s.rows.len(),
            e.tracks.len(),
            s2f::genes::stats::finite_mean(&s.across_genes),
            s2f::genes::stats::finite_mean(&s.across_tracks)
        );
    }
    let files = write_evaluation(&a.out, &e)?;
    tracing::info!("wrote {} files to {}", files.len(), a.out.display());
    Ok(())
}

/// The observed table from measured bigWigs: for each --pred track column with a `TRACK.bw`
/// in `dir`, the signal at the genes' TSS bins.
fn observed_from_tracks(
    a: &GenesArgs,
    dir: &std::path::Path,
    pred: &polars::prelude::DataFrame,
) -> Result<polars::prelude::DataFrame> {
    let rows = match (&a.gtf, &a.tss) {
        (Some(g), _) => read_tss(g, a.gene_type.as_deref())?,
        (None, Some(t)) => read_tss_table(t)?,
        (None, None) => bail!("--obs-tracks needs the TSSs: --gtf or --tss"),
    };
    let bin_size = a.bin_size.context("--obs-tracks needs --bin-size")?;
    let how = Aggregate::parse(&a.aggregate)?;
    let tracks: Vec<String> =
        table::names(pred).into_iter().filter(|n| dir.join(format!("{n}.bw")).is_file()).collect();
    if tracks.is_empty() {
        bail!("{}: no TRACK.bw file named after a column of {}", dir.display(), a.pred.display());
    }
    let files: Vec<PathBuf> = tracks.iter().map(|t| dir.join(format!("{t}.bw"))).collect();
    let known: std::collections::HashSet<String> =
        s2f::io::bigwig::bigwig_chroms(&files[0])?.into_iter().map(|c| c.0).collect();
    let (genes, off) = group_genes(&rows);
    if !off.is_empty() {
        tracing::warn!("{} TSSs on another chromosome than their gene's first are left out", off.len());
    }
    let (genes, dropped) = keep_known_chroms(genes, |c| known.contains(c));
    if !dropped.is_empty() {
        tracing::warn!("{} genes left out: their chromosome is not in {}", dropped.len(), files[0].display());
    }
    let (site_list, of_gene) = sites(&genes);
    tracing::info!("reading {} observed bigWigs at {} TSSs", files.len(), site_list.len());
    let values = signal_sites(&files, &site_list, bin_size, a.bins, a.anchor)?;
    Ok(gene_table(&genes, &of_gene, &values, &tracks, how)?)
}
