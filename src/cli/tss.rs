//! `s2f tss`: a table of transcription start sites from a GTF.

use std::path::PathBuf;

use anyhow::Result;
use s2f::genome::gtf::{read_tss, write_tss_table};

/// Arguments of `s2f tss`.
#[derive(clap::Args)]
pub struct Args {
    /// GTF annotation (GENCODE or Ensembl style).
    #[arg(long)]
    gtf: PathBuf,
    /// Keep only transcripts of genes of this type (gene_type / gene_biotype), e.g. protein_coding.
    #[arg(long)]
    gene_type: Option<String>,
    /// Output TSV: gene_id, gene_name, transcript_id, chrom, tss (0-based), strand, gene_type.
    #[arg(long)]
    out: PathBuf,
}

/// Runs `s2f tss`.
pub fn run(args: Args) -> Result<()> {
    let rows = read_tss(&args.gtf, args.gene_type.as_deref())?;
    if rows.is_empty() {
        anyhow::bail!(
            "{}: no transcripts of gene type {:?}",
            args.gtf.display(),
            args.gene_type.as_deref().unwrap_or("")
        );
    }
    s2f::io::atomic::write_atomic(&args.out, |w| write_tss_table(w, &rows))?;
    tracing::info!("wrote {} transcripts to {}", rows.len(), args.out.display());
    Ok(())
}
