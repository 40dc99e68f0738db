//! Writing scored variants (`variants.parquet` or `.tsv`) and `rejected.tsv`, atomically and
//! streamed (a chunk of rows at a time).
//!
//! Columns: `id`, `chrom`, `pos` (1-based, as in the VCF), `ref`, `alt`, `swapped`, then one
//! column per (statistic, track) named `<stat>:<track identifier>`, statistic-major.

use std::io::{BufWriter, Write};
use std::path::Path;

use super::stats::Stat;
use super::{Rejected, Scored};
use crate::error::{Error, Result};
use crate::io::atomic::AtomicFile;
use crate::io::parquet::{Column, TableWriter};

/// The value column names, statistic-major.
pub fn value_columns(stats: &[Stat], tracks: &[String]) -> Vec<String> {
    stats.iter().flat_map(|s| tracks.iter().map(move |t| format!("{}:{t}", s.name()))).collect()
}

/// The parquet columns of `scored`.
pub fn score_columns(scored: &[Scored], columns: &[String]) -> Vec<Column> {
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
        cols.push(Column::Float64(
            name.clone(),
            scored.iter().map(|s| s.values.get(k).copied().unwrap_or(f64::NAN)).collect(),
        ));
    }
    cols
}

/// `variants.parquet`, one row group per [`ScoresParquet::write`].
pub struct ScoresParquet {
    table: TableWriter,
    columns: Vec<String>,
}

impl ScoresParquet {
    /// Creates the table with the value columns `columns`.
    pub fn create(path: &Path, columns: &[String]) -> Result<Self> {
        Ok(Self { table: TableWriter::create(path, &score_columns(&[], columns))?, columns: columns.to_vec() })
    }

    /// Appends rows.
    pub fn write(&mut self, scored: &[Scored]) -> Result<()> {
        self.table.write(&score_columns(scored, &self.columns))
    }

    /// Finishes the file.
    pub fn finish(self) -> Result<()> {
        self.table.finish()
    }
}

/// A TSV written row by row into an atomic file.
pub struct Tsv {
    out: AtomicFile,
    w: BufWriter<std::fs::File>,
}

impl Tsv {
    /// Creates the file and writes its header line.
    pub fn create(path: &Path, header: &str) -> Result<Self> {
        let mut out = AtomicFile::create(path)?;
        let file = out.file().try_clone().map_err(|e| Error::io(path, e))?;
        let mut t = Self { out, w: BufWriter::new(file) };
        t.line(format_args!("{header}"))?;
        Ok(t)
    }

    fn line(&mut self, args: std::fmt::Arguments<'_>) -> Result<()> {
        let dest = self.out.dest().to_path_buf();
        self.w.write_fmt(args).and_then(|_| self.w.write_all(b"\n")).map_err(|e| Error::io(dest, e))
    }

    /// Appends scored alleles (values with full float64 precision).
    pub fn scores(&mut self, scored: &[Scored]) -> Result<()> {
        for s in scored {
            let values: Vec<String> = s.values.iter().map(|v| v.to_string()).collect();
            self.line(format_args!(
                "{}\t{}\t{}\t{}\t{}\t{}\t{}",
                s.id,
                s.chrom,
                s.pos,
                s.reference,
                s.alt,
                s.swapped,
                values.join("\t")
            ))?;
        }
        Ok(())
    }

    /// Appends rejections.
    pub fn rejected(&mut self, rejected: &[Rejected]) -> Result<()> {
        for r in rejected {
            self.line(format_args!(
                "{}\t{}\t{}\t{}\t{}\t{}\t{}",
                r.line, r.chrom, r.pos, r.id, r.reference, r.alt, r.reason
            ))?;
        }
        Ok(())
    }

    /// Flushes and moves the file to its path.
    pub fn finish(mut self) -> Result<()> {
        let dest = self.out.dest().to_path_buf();
        self.w.flush().map_err(|e| Error::io(dest, e))?;
        drop(self.w);
        self.out.commit()
    }
}

/// Header of `variants.tsv` with value columns `columns`.
pub fn scores_header(columns: &[String]) -> String {
    format!("id\tchrom\tpos\tref\talt\tswapped\t{}", columns.join("\t"))
}

/// Header of `rejected.tsv`.
pub const REJECTED_HEADER: &str = "line\tchrom\tpos\tid\tref\talt\treason";
