//! `s2f onehot`: one-hot encode windows of a genome into a DRG-compatible .npz.

use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use s2f::genome::bed::read_bed;
use s2f::genome::gtf::read_tss;
use s2f::genome::onehot::Layout;
use s2f::genome::windows::{centre_on_regions, centre_on_tss, regions_as_windows, tile_genome};
use s2f::genome::Fasta;
use s2f::jobs::onehot::{write_onehot_npz, OnehotOptions};

/// Arguments of `s2f onehot`.
#[derive(clap::Args)]
pub struct Args {
    /// Genome FASTA: plain (indexed on the fly if it has no .fai) or bgzip with .fai and .gzi.
    #[arg(long)]
    fasta: PathBuf,
    /// Regions (BED3+, narrowPeak): one sequence per region.
    #[arg(long, conflicts_with_all = ["window", "gtf"])]
    bed: Option<PathBuf>,
    /// GTF: one sequence centred on each transcript's TSS (needs --length).
    #[arg(long, conflicts_with = "window", requires = "length")]
    gtf: Option<PathBuf>,
    /// With --gtf: keep only genes of this type (e.g. protein_coding).
    #[arg(long, requires = "gtf")]
    gene_type: Option<String>,
    /// Sequence length: centre a window of this length on each region (its narrowPeak summit
    /// when it has one, else its midpoint) or TSS. Without it, BED regions are used as they are
    /// and must all have the same length.
    #[arg(long)]
    length: Option<u64>,
    /// Tile chromosomes into windows of this length (the last one is padded with N).
    #[arg(long, requires = "stride")]
    window: Option<u64>,
    /// Step between tiled windows.
    #[arg(long)]
    stride: Option<u64>,
    /// With --window: comma-separated chromosomes to tile (default: all, in index order).
    #[arg(long, requires = "window")]
    chroms: Option<String>,
    /// Centre on region midpoints (start + end) / 2 even where narrowPeak summits are given.
    #[arg(long, alias = "no-summit")]
    ignore_summits: bool,
    /// Allow regions reaching past chromosome ends; the missing bases are N.
    #[arg(long)]
    pad: bool,
    /// Value of N and other ambiguity codes in all four channels: 0 (basenji) or 0.25 (DRG,
    /// kipoiseq). With 0 the array is int8, otherwise float32.
    #[arg(long, default_value_t = 0.0)]
    n_value: f32,
    /// Channels-first arrays (N, 4, L), as PyTorch models read them, instead of (N, L, 4).
    #[arg(long)]
    channels_first: bool,
    /// Output .npz (seqfeatures, genenames, featurenames).
    #[arg(long)]
    out: PathBuf,
}

/// Runs `s2f onehot`.
pub fn run(args: Args) -> Result<()> {
    if !(args.n_value.is_finite() && (0.0..=1.0).contains(&args.n_value)) {
        bail!("--n-value must be between 0 and 1 (0 for basenji, 0.25 for DRG), got {}", args.n_value);
    }
    let mut fasta = Fasta::open(&args.fasta).with_context(|| format!("opening genome {}", args.fasta.display()))?;
    let (windows, len, pad) = if let Some(bed) = &args.bed {
        let records = read_bed(bed)?;
        match args.length {
            Some(l) => (centre_on_regions(&records, l, !args.ignore_summits)?, l, args.pad),
            None => {
                let (w, l) = regions_as_windows(&records)?;
                (w, l, args.pad)
            }
        }
    } else if let Some(gtf) = &args.gtf {
        let l = args.length.context("--gtf needs --length")?;
        let tss = read_tss(gtf, args.gene_type.as_deref())?;
        (centre_on_tss(&tss, l)?, l, args.pad)
    } else if let (Some(l), Some(s)) = (args.window, args.stride) {
        let chroms = args.chroms.as_deref().map(super::split_list);
        (tile_genome(&fasta.chrom_sizes(), chroms.as_deref(), l, s)?, l, true)
    } else {
        bail!("say what to encode: --bed B [--length L], --gtf G --length L, or --window L --stride S");
    };
    let layout = if args.channels_first { Layout::ChannelsFirst } else { Layout::LengthFirst };
    let opts = OnehotOptions { n_value: args.n_value, layout, pad };
    tracing::info!("encoding {} sequences of {len} bp from {}", windows.len(), args.fasta.display());
    write_onehot_npz(&mut fasta, &windows, len, opts, &args.out)?;
    tracing::info!("wrote {}", args.out.display());
    Ok(())
}
