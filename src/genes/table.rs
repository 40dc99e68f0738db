//! The `s2f genes` table: one row per gene, columns `gene_id`, `gene_name`, `chrom`, `tss` (the
//! first TSS, 0-based), `strand`, `n_tss`, then one f64 column per track named by the track's
//! identifier.

use ndarray::Array2;
use polars::prelude::DataFrame;

use crate::error::{Error, Result};
use crate::genes::tss::{Aggregate, Gene};
use crate::io::table;

/// Genes whose TSSs lie on chromosomes the genome (or the tracks) lack are dropped: the genes
/// kept and the ids dropped.
pub fn keep_known_chroms(genes: Vec<Gene>, known: impl Fn(&str) -> bool) -> (Vec<Gene>, Vec<String>) {
    let (keep, drop): (Vec<Gene>, Vec<Gene>) = genes.into_iter().partition(|g| known(&g.chrom));
    (keep, drop.into_iter().map(|g| g.gene_id).collect())
}

/// Builds the table from per-site values (sites × tracks) and each gene's site indices.
pub fn gene_table(
    genes: &[Gene],
    of_gene: &[Vec<usize>],
    values: &Array2<f64>,
    track_names: &[String],
    how: Aggregate,
) -> Result<DataFrame> {
    if values.ncols() != track_names.len() {
        return Err(Error::InvalidArgument(format!("{} track names for {} tracks", track_names.len(), values.ncols())));
    }
    if let Some(d) = table::duplicates(track_names).first() {
        return Err(Error::InvalidArgument(format!("two tracks are named {d:?}; their columns would collide")));
    }
    let reserved = ["gene_id", "gene_name", "chrom", "tss", "strand", "n_tss"];
    if let Some(r) = track_names.iter().find(|n| reserved.contains(&n.as_str())) {
        return Err(Error::InvalidArgument(format!("a track is named {r:?}, a column of the genes table")));
    }
    let rows: Vec<Vec<f64>> = of_gene.iter().map(|s| how.combine(values, s)).collect();
    let names: Vec<Option<&str>> = genes.iter().map(|g| Some(g.gene_name.as_str()).filter(|n| !n.is_empty())).collect();
    let mut df =
        table::frame(vec![("gene_id".to_string(), genes.iter().map(|g| g.gene_id.clone()).collect())], vec![])?;
    // An unknown name is missing (an empty field in text, null in parquet), not "".
    df.with_column(polars::prelude::Column::new("gene_name".into(), names))
        .map_err(|e| Error::InvalidArgument(format!("table: {e}")))?;
    df.with_column(polars::prelude::Column::new(
        "chrom".into(),
        genes.iter().map(|g| g.chrom.clone()).collect::<Vec<_>>(),
    ))
    .map_err(|e| Error::InvalidArgument(format!("table: {e}")))?;
    table::push_i64(&mut df, "tss", genes.iter().map(|g| g.tss.first().copied().unwrap_or(0)).collect())?;
    let strands: Vec<String> = genes.iter().map(|g| g.strand.to_string()).collect();
    let mut df = df
        .hstack(&[polars::prelude::Column::new("strand".into(), strands)])
        .map_err(|e| Error::InvalidArgument(format!("table: {e}")))?;
    table::push_i64(&mut df, "n_tss", genes.iter().map(|g| g.tss.len() as i64).collect())?;
    for (j, name) in track_names.iter().enumerate() {
        let col: Vec<f64> = rows.iter().map(|r| r[j]).collect();
        df.with_column(polars::prelude::Column::new(name.as_str().into(), col))
            .map_err(|e| Error::InvalidArgument(format!("table: {e}")))?;
    }
    Ok(df)
}
