//! Writing scored variants (`variants.parquet` or `.tsv`) and `rejected.tsv`, atomically.
//!
//! Columns: `id`, `chrom`, `pos` (1-based, as in the VCF), `ref`, `alt`, `swapped`, then one
//! column per (statistic, track) named `<stat>:<track identifier>`, statistic-major.

use std::io::Write;
use std::path::Path;

use super::stats::Stat;
use super::{Rejected, Scored};
use crate::error::Result;
use crate::io::atomic::write_atomic;
use crate::io::parquet::{write_table, Column};

/// The value column names, statistic-major.
pub fn value_columns(stats: &[Stat], tracks: &[String]) -> Vec<String> {
    stats.iter().flat_map(|s| tracks.iter().map(move |t| format!("{}:{t}", s.name()))).collect()
}

/// Writes the scored alleles as parquet.
pub fn write_scores_parquet(path: &Path, scored: &[Scored], columns: &[String]) -> Result<()> {
    let text = |f: fn(&Scored) -> String| scored.iter().map(f).collect::<Vec<_>>();
    let mut cols = vec![
        Column::Utf8("id".into(), text(|s| s.id.clone())),
        Column::Utf8("chrom".into(), text(|s| s.chrom.clone())),
        Column::Int64("pos".into(), scored.iter().map(|s| s.pos as i64).collect()),
        Column::Utf8("ref".into(), text(|s| s.reference.clone())),
        Column::Utf8("alt".into(), text(|s| s.alt.clone())),
        Column::Bool("swapped".into(), scored.iter().map(|s| s.swapped).collect()),
    ];
    for (k, name) in columns.iter().enumerate() {
        cols.push(Column::Float64(name.clone(), scored.iter().map(|s| s.values[k]).collect()));
    }
    write_table(path, &cols)
}

/// Writes the scored alleles as TSV (values with full float64 precision).
pub fn write_scores_tsv(path: &Path, scored: &[Scored], columns: &[String]) -> Result<()> {
    write_atomic(path, |w| {
        writeln!(w, "id\tchrom\tpos\tref\talt\tswapped\t{}", columns.join("\t"))?;
        for s in scored {
            write!(w, "{}\t{}\t{}\t{}\t{}\t{}", s.id, s.chrom, s.pos, s.reference, s.alt, s.swapped)?;
            for v in &s.values {
                write!(w, "\t{v}")?;
            }
            writeln!(w)?;
        }
        Ok(())
    })
}

/// Writes `rejected.tsv`: line, chrom, pos, id, ref, alt, reason.
pub fn write_rejected(path: &Path, rejected: &[Rejected]) -> Result<()> {
    write_atomic(path, |w| {
        writeln!(w, "line\tchrom\tpos\tid\tref\talt\treason")?;
        for r in rejected {
            writeln!(w, "{}\t{}\t{}\t{}\t{}\t{}\t{}", r.line, r.chrom, r.pos, r.id, r.reference, r.alt, r.reason)?;
        }
        Ok(())
    })
}
