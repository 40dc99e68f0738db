//! `s2f motifs`: motif files and comparison (see [`s2f::motifs`]).

use std::path::PathBuf;

use anyhow::{Context, Result};
use s2f::motifs::{compare, read_meme, write_table, CompareOptions, Distance};

/// Arguments of `s2f motifs`.
#[derive(clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: MotifsCommand,
}

#[derive(clap::Subcommand)]
enum MotifsCommand {
    /// Compare query motifs with a motif database, as Tomtom does (p-, E- and q-values).
    Compare(CompareArgs),
}

/// Column scores on the command line.
#[derive(Clone, Copy, clap::ValueEnum)]
enum DistArg {
    /// Pearson correlation of the columns (Tomtom's default).
    Pearson,
    /// Minus the Euclidean distance between the columns.
    Ed,
}

/// Arguments of `s2f motifs compare`.
#[derive(clap::Args)]
struct CompareArgs {
    /// Query motifs (MEME text).
    query: PathBuf,
    /// Target motifs (MEME text), e.g. motifs/JASPAR2026_CORE_vertebrates.meme.
    target: PathBuf,
    /// Column score.
    #[arg(long, value_enum, default_value_t = DistArg::Pearson)]
    dist: DistArg,
    /// Minimum number of aligned columns (capped at both motifs' widths).
    #[arg(long, default_value_t = 5)]
    min_overlap: usize,
    /// Keep matches with q-value (E-value with --evalue) at most this.
    #[arg(long, default_value_t = 0.05)]
    thresh: f64,
    /// Apply --thresh to E-values instead of q-values.
    #[arg(long)]
    evalue: bool,
    /// Keep at most this many matches per query (the best by p-value).
    #[arg(long)]
    top: Option<usize>,
    /// Align targets on the given strand only.
    #[arg(long)]
    no_rc: bool,
    /// Output TSV in Tomtom's -text columns.
    #[arg(long)]
    out: PathBuf,
}

/// Runs `s2f motifs …`.
pub fn run(args: Args) -> Result<()> {
    match args.command {
        MotifsCommand::Compare(a) => run_compare(a),
    }
}

fn run_compare(args: CompareArgs) -> Result<()> {
    let queries = read_meme(&args.query)?;
    let targets = read_meme(&args.target)?;
    let opts = CompareOptions {
        distance: match args.dist {
            DistArg::Pearson => Distance::Pearson,
            DistArg::Ed => Distance::Euclidean,
        },
        min_overlap: args.min_overlap,
        thresh: args.thresh,
        evalue: args.evalue,
        top: args.top,
        reverse_complement: !args.no_rc,
        // `--threads` is the global option (every available core by default).
        threads: s2f::engine::threads(),
        ..CompareOptions::default()
    };
    let t0 = std::time::Instant::now();
    let matches = compare(&queries, &targets, &opts).context("motif comparison")?;
    let secs = t0.elapsed().as_secs_f64();
    s2f::io::atomic::write_atomic(&args.out, |w| write_table(w, &matches, &queries, &targets))?;
    tracing::info!(
        "{} queries × {} targets in {secs:.2} s: {} matches written to {}",
        queries.len(),
        targets.len(),
        matches.len(),
        args.out.display()
    );
    Ok(())
}
