//! Genes and their transcription start sites for `s2f genes`: from a GTF (one TSS per
//! transcript, [`crate::genome::gtf`]) or a TSS table, grouped per gene.
//!
//! Coordinates: a TSS is the 0-based position of the transcript's first base. A gene's TSSs are
//! its distinct TSS positions in order of first appearance (transcripts sharing a start count
//! once); `n_tss` is their number and `tss` the first. TSS tables need `gene_id`, `chrom`, `tss`
//! (0-based, as `s2f tss` writes) and `strand`; `gene_name` is optional.

use std::collections::HashMap;
use std::path::Path;

use crate::error::{Error, Result};
use crate::genome::gtf::Tss;
use crate::io::table;

/// One gene and its distinct TSSs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Gene {
    /// Gene id.
    pub gene_id: String,
    /// Gene name (may be empty).
    pub gene_name: String,
    /// Chromosome.
    pub chrom: String,
    /// `+` or `-` (`.` when unknown).
    pub strand: char,
    /// Distinct 0-based TSS positions, first appearance first.
    pub tss: Vec<i64>,
}

/// Reads a TSS table (parquet, TSV or CSV).
pub fn read_tss_table(path: &Path) -> Result<Vec<Tss>> {
    let df = table::read(path)?;
    let ids = table::strings(&df, "gene_id", path)?;
    let chroms = table::strings(&df, "chrom", path)?;
    let strands = table::strings(&df, "strand", path)?;
    let names = table::strings_or_empty(&df, "gene_name", path)?;
    let pos = table::matrix(&df, &["tss".to_string()], path, &ids)?;
    let mut out = Vec::with_capacity(ids.len());
    for (i, id) in ids.into_iter().enumerate() {
        let p = pos[(i, 0)];
        if p < 0.0 || p.fract() != 0.0 || p > crate::genome::bed::MAX_COORDINATE as f64 {
            return Err(Error::malformed(
                path,
                format!("row {}", i + 1),
                format!("tss {p} of {id} is not a 0-based position"),
            ));
        }
        let strand = match strands[i].trim() {
            "+" => '+',
            "-" => '-',
            "." | "" => '.',
            s => {
                return Err(Error::malformed(
                    path,
                    format!("row {}", i + 1),
                    format!("strand {s:?} of {id}: use +, - or ."),
                ))
            }
        };
        out.push(Tss {
            gene_id: id,
            gene_name: names[i].clone(),
            transcript_id: String::new(),
            chrom: chroms[i].clone(),
            position: p as i64,
            strand,
            gene_type: String::new(),
        });
    }
    Ok(out)
}

/// Groups TSS rows per gene (first appearance order). TSSs of a gene on another chromosome than
/// its first one are left out and returned as (gene, chromosome) for the caller to report.
pub fn group_genes(rows: &[Tss]) -> (Vec<Gene>, Vec<(String, String)>) {
    let mut genes: Vec<Gene> = Vec::new();
    let mut at: HashMap<&str, usize> = HashMap::new();
    let mut off_chrom = Vec::new();
    for r in rows {
        match at.get(r.gene_id.as_str()) {
            Some(&g) => {
                let gene = &mut genes[g];
                if gene.chrom != r.chrom {
                    off_chrom.push((r.gene_id.clone(), r.chrom.clone()));
                } else if !gene.tss.contains(&r.position) {
                    gene.tss.push(r.position);
                }
            }
            None => {
                at.insert(&r.gene_id, genes.len());
                genes.push(Gene {
                    gene_id: r.gene_id.clone(),
                    gene_name: r.gene_name.clone(),
                    chrom: r.chrom.clone(),
                    strand: r.strand,
                    tss: vec![r.position],
                });
            }
        }
    }
    (genes, off_chrom)
}

/// Distinct (chromosome, position) sites of `genes`, sorted, and for each gene the indices of
/// its sites (in its TSS order): TSSs shared by genes are computed once.
pub fn sites(genes: &[Gene]) -> (Vec<(String, i64)>, Vec<Vec<usize>>) {
    let mut all: Vec<(String, i64)> = genes.iter().flat_map(|g| g.tss.iter().map(|&p| (g.chrom.clone(), p))).collect();
    all.sort();
    all.dedup();
    let index: HashMap<(&str, i64), usize> = all.iter().enumerate().map(|(i, (c, p))| ((c.as_str(), *p), i)).collect();
    let of_gene = genes.iter().map(|g| g.tss.iter().map(|&p| index[&(g.chrom.as_str(), p)]).collect()).collect();
    (all, of_gene)
}

/// How a gene's TSS values are combined.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Aggregate {
    /// Sum (FT_S2A).
    Sum,
    /// Maximum.
    Max,
    /// Mean.
    Mean,
}

impl Aggregate {
    /// Parses `sum`, `max` or `mean`.
    pub fn parse(s: &str) -> Result<Self> {
        match s {
            "sum" => Ok(Aggregate::Sum),
            "max" => Ok(Aggregate::Max),
            "mean" => Ok(Aggregate::Mean),
            _ => Err(Error::InvalidArgument(format!("--aggregate {s:?}: choose sum, max or mean"))),
        }
    }

    /// Combines the rows `rows` of `values` (sites × tracks) into one row.
    pub fn combine(self, values: &ndarray::Array2<f64>, rows: &[usize]) -> Vec<f64> {
        let t = values.ncols();
        (0..t)
            .map(|j| {
                let it = rows.iter().map(|&r| values[(r, j)]);
                if rows.iter().any(|&r| values[(r, j)].is_nan()) {
                    return f64::NAN;
                }
                match self {
                    Aggregate::Sum => it.sum(),
                    Aggregate::Max => it.fold(f64::NEG_INFINITY, f64::max),
                    Aggregate::Mean => it.sum::<f64>() / rows.len().max(1) as f64,
                }
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tss(g: &str, c: &str, p: i64) -> Tss {
        Tss {
            gene_id: g.into(),
            gene_name: String::new(),
            transcript_id: String::new(),
            chrom: c.into(),
            position: p,
            strand: '+',
            gene_type: String::new(),
        }
    }

    #[test]
    fn genes_keep_distinct_tss_and_share_sites() {
        let rows = [
            tss("a", "chr1", 10),
            tss("b", "chr1", 10),
            tss("a", "chr1", 10),
            tss("a", "chr1", 5),
            tss("a", "chr2", 7),
        ];
        let (genes, off) = group_genes(&rows);
        assert_eq!(genes.len(), 2);
        assert_eq!(genes[0].tss, vec![10, 5]);
        assert_eq!(off, vec![("a".to_string(), "chr2".to_string())]);
        let (s, of) = sites(&genes);
        assert_eq!(s, vec![("chr1".to_string(), 5), ("chr1".to_string(), 10)]);
        assert_eq!(of, vec![vec![1, 0], vec![1]]);
        let v = ndarray::array![[1.0, 2.0], [3.0, -1.0]];
        assert_eq!(Aggregate::Sum.combine(&v, &[1, 0]), vec![4.0, 1.0]);
        assert_eq!(Aggregate::Max.combine(&v, &[1, 0]), vec![3.0, 2.0]);
        assert_eq!(Aggregate::Mean.combine(&v, &[1, 0]), vec![2.0, 0.5]);
    }
}
