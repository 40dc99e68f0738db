//! `s2f folds`: size-balanced chromosome folds for cross-validation.

use std::path::PathBuf;

use anyhow::{Context, Result};
use s2f::genome::folds::Folds;
use s2f::genome::Fasta;

/// Arguments of `s2f folds`.
#[derive(clap::Args)]
pub struct Args {
    /// Genome FASTA (plain or bgzip with .fai/.gzi); chromosome sizes come from its index.
    #[arg(long)]
    fasta: PathBuf,
    /// Number of folds (at least 3): fold i validates, fold i+1 tests, the rest train.
    #[arg(long, default_value_t = 10)]
    folds: usize,
    /// Comma-separated chromosomes to leave out (e.g. chrY,chrM).
    #[arg(long, default_value = "")]
    exclude: String,
    /// Output text file (DRG format: '# Set_j' then the fold's chromosomes).
    #[arg(long)]
    out: PathBuf,
}

/// Runs `s2f folds`.
pub fn run(args: Args) -> Result<()> {
    let fasta = Fasta::open(&args.fasta).with_context(|| format!("opening genome {}", args.fasta.display()))?;
    let exclude = super::split_list(&args.exclude);
    let folds = Folds::balanced(&fasta.chrom_sizes(), args.folds, &exclude)?;
    s2f::io::atomic::write_atomic(&args.out, |w| folds.write(w))?;
    let sizes = fasta.chrom_sizes();
    for (j, set) in folds.sets.iter().enumerate() {
        let total: u64 = set.iter().filter_map(|n| sizes.iter().find(|c| &c.name == n)).map(|c| c.len).sum();
        tracing::info!("fold {j}: {} chromosomes, {total} bp", set.len());
    }
    tracing::info!("wrote {}", args.out.display());
    Ok(())
}
