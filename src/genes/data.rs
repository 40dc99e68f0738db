//! The gene × feature and gene × target matrices of `s2f ridge fit`: tables joined on their id
//! column (polars inner join), columns chosen, every gene's chromosome and its role (training or
//! held out) and cross-validation group.
//!
//! Conventions: targets are every numeric column of the targets table other than the id (or the
//! chosen `--target-columns`); features are every numeric column of the features table other than
//! the id and the `genes` table's own `tss` and `n_tss` (narrowed by a name filter). Ids present
//! in only one table are reported, never silently dropped. A text column whose values are mostly
//! numbers but not all (`NA`, `1,5`) is an error, not a label.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

use ndarray::{Array2, Axis};
use polars::prelude::{DataFrameJoinOps, JoinArgs, JoinType, MaintainOrderJoin};

use crate::error::{Error, Result};
use crate::genome::folds::Folds;
use crate::io::table;

/// Columns of the `genes` table that are positions or counts, never features.
pub const NOT_FEATURES: [&str; 2] = ["tss", "n_tss"];

/// Which genes are held out for testing.
#[derive(Debug, Clone)]
pub enum Holdout {
    /// None: every gene trains (no test metrics).
    None,
    /// Genes on these chromosomes.
    Chroms(Vec<String>),
    /// A table with the id column and a `split` column of train / valid / test (valid trains).
    Split(PathBuf),
}

/// How training genes are grouped for choosing alpha.
#[derive(Debug, Clone)]
pub enum CvPlan {
    /// K contiguous folds in table order (scikit-learn's `KFold(K)` without shuffling).
    KFold(usize),
    /// One group per fold of an `s2f folds` file, by the gene's chromosome.
    Folds(PathBuf),
}

/// What to read.
#[derive(Debug, Clone)]
pub struct DataOptions {
    /// Id column of both tables.
    pub id: String,
    /// Keep features whose name contains this text.
    pub feature_filter: Option<String>,
    /// Target columns to use (default: all numeric).
    pub target_columns: Option<Vec<String>>,
    /// Held-out genes.
    pub holdout: Holdout,
    /// Cross-validation groups.
    pub cv: CvPlan,
}

/// The joined data.
#[derive(Debug, Clone)]
pub struct GeneData {
    /// Gene ids, in the joined table's order.
    pub ids: Vec<String>,
    /// Chromosome of each gene (empty when neither table has one).
    pub chroms: Vec<String>,
    /// Feature names.
    pub features: Vec<String>,
    /// Target names.
    pub targets: Vec<String>,
    /// Genes × features.
    pub x: Array2<f64>,
    /// Genes × targets.
    pub y: Array2<f64>,
    /// Row indices of the training genes.
    pub train: Vec<usize>,
    /// Row indices of the held-out genes.
    pub test: Vec<usize>,
    /// For each cross-validation fold, its rows (indices into `train`'s rows of `x`).
    pub cv_folds: Vec<Vec<usize>>,
    /// Ids found in only one table: (id, the table it is missing from).
    pub unmatched: Vec<(String, &'static str)>,
}

/// Numeric columns of `df` except `skip`; text columns that are numbers with exceptions are refused.
pub(crate) fn numeric_columns(df: &polars::prelude::DataFrame, skip: &[&str], path: &Path) -> Result<Vec<String>> {
    let mut out = Vec::new();
    for name in table::names(df) {
        if skip.contains(&name.as_str()) {
            continue;
        }
        if table::is_numeric(df, &name) {
            out.push(name);
        } else if let Some((row, v)) = table::non_numeric_value(df, &name) {
            return Err(Error::malformed(
                path,
                format!("column {name:?}"),
                format!("holds numbers but row {row} is {v:?}, not a number"),
            ));
        }
    }
    Ok(out)
}

/// An error naming the first id of `ids` (column `id` of `path`) that occurs twice.
pub(crate) fn check_unique(ids: &[String], path: &Path, id: &str) -> Result<()> {
    match table::duplicates(ids).first() {
        Some(d) => Err(Error::malformed(path, format!("column {id:?}"), format!("gene {d:?} appears more than once"))),
        None => Ok(()),
    }
}

/// Reads, checks and joins the feature and target tables.
pub fn load(features_path: &Path, targets_path: &Path, opts: &DataOptions) -> Result<GeneData> {
    let id = opts.id.as_str();
    let fdf = table::read(features_path)?;
    let tdf = table::read(targets_path)?;
    let fids = table::strings(&fdf, id, features_path)?;
    let tids = table::strings(&tdf, id, targets_path)?;
    check_unique(&fids, features_path, id)?;
    check_unique(&tids, targets_path, id)?;

    let mut skip_f: Vec<&str> = vec![id, "chrom"];
    skip_f.extend(NOT_FEATURES);
    let mut features = numeric_columns(&fdf, &skip_f, features_path)?;
    if let Some(f) = &opts.feature_filter {
        features.retain(|n| n.contains(f.as_str()));
    }
    if features.is_empty() {
        return Err(Error::InvalidArgument(format!(
            "{}: no numeric feature columns{}",
            features_path.display(),
            opts.feature_filter.as_ref().map(|f| format!(" whose name contains {f:?}")).unwrap_or_default()
        )));
    }
    let mut skip_t: Vec<&str> = vec![id, "chrom"];
    skip_t.extend(NOT_FEATURES);
    let targets = match &opts.target_columns {
        Some(t) => {
            let have = table::names(&tdf);
            for c in t {
                if c == id || c == "chrom" {
                    return Err(Error::InvalidArgument(format!("--target-columns: {c:?} is not a target")));
                }
                if !have.contains(c) {
                    return Err(Error::malformed(
                        targets_path,
                        "header",
                        format!("no column {c:?} (--target-columns)"),
                    ));
                }
            }
            if let Some(d) = table::duplicates(t).first() {
                return Err(Error::InvalidArgument(format!("--target-columns: {d:?} is given twice")));
            }
            t.clone()
        }
        None => numeric_columns(&tdf, &skip_t, targets_path)?,
    };
    if targets.is_empty() {
        return Err(Error::InvalidArgument(format!("{}: no numeric target columns", targets_path.display())));
    }
    if let Some(c) = targets.iter().find(|t| features.contains(t)) {
        return Err(Error::InvalidArgument(format!(
            "column {c:?} is both a feature ({}) and a target ({}); choose with --feature-filter or --target-columns",
            features_path.display(),
            targets_path.display()
        )));
    }

    // Unmatched ids, reported.
    let fset: HashSet<&str> = fids.iter().map(String::as_str).collect();
    let tset: HashSet<&str> = tids.iter().map(String::as_str).collect();
    let mut unmatched: Vec<(String, &'static str)> =
        fids.iter().filter(|g| !tset.contains(g.as_str())).map(|g| (g.clone(), "targets")).collect();
    unmatched.extend(tids.iter().filter(|g| !fset.contains(g.as_str())).map(|g| (g.clone(), "features")));

    // Join on the id with polars, each side reduced to the id, chrom and the chosen columns.
    let fchrom = table::names(&fdf).iter().any(|n| n == "chrom");
    let tchrom = table::names(&tdf).iter().any(|n| n == "chrom");
    let mut fcols = vec![id.to_string()];
    if fchrom {
        fcols.push("chrom".into());
    }
    fcols.extend(features.iter().cloned());
    let mut tcols = vec![id.to_string()];
    if tchrom && !fchrom {
        tcols.push("chrom".into());
    }
    tcols.extend(targets.iter().cloned());
    let fsel = fdf.select(fcols).map_err(|e| table::perr(features_path, e))?;
    let tsel = tdf.select(tcols).map_err(|e| table::perr(targets_path, e))?;
    // Join on text ids, whatever either table's id type.
    let as_text = |mut df: polars::prelude::DataFrame, path: &Path| -> Result<polars::prelude::DataFrame> {
        let c = df.column(id).map_err(|e| table::perr(path, e))?.cast(&polars::prelude::DataType::String);
        let c = c.map_err(|e| table::perr(path, e))?;
        df.with_column(c).map_err(|e| table::perr(path, e))?;
        Ok(df)
    };
    // Genes keep the features table's order (the order of `--cv` folds).
    let mut join_args = JoinArgs::new(JoinType::Inner);
    join_args.maintain_order = MaintainOrderJoin::Left;
    let joined = as_text(fsel, features_path)?
        .join(&as_text(tsel, targets_path)?, [id], [id], join_args, None)
        .map_err(|e| table::perr(targets_path, e))?;
    if joined.height() == 0 {
        return Err(Error::InvalidArgument(format!(
            "no gene of {} is in {} (column {id:?})",
            targets_path.display(),
            features_path.display()
        )));
    }
    let ids = table::strings(&joined, id, targets_path)?;
    let chroms = if fchrom || tchrom {
        table::strings(&joined, "chrom", if fchrom { features_path } else { targets_path })?
    } else {
        vec![String::new(); ids.len()]
    };
    let x = table::matrix(&joined, &features, features_path, &ids)?;
    let y = table::matrix(&joined, &targets, targets_path, &ids)?;

    let need_chrom = matches!(opts.holdout, Holdout::Chroms(_)) || matches!(opts.cv, CvPlan::Folds(_));
    if need_chrom && !(fchrom || tchrom) {
        return Err(Error::InvalidArgument(format!(
            "--test-chroms and --folds need a \"chrom\" column in {} or {}",
            features_path.display(),
            targets_path.display()
        )));
    }
    let (train, test, dropped) = holdout(&ids, &chroms, &opts.holdout, id)?;
    unmatched.extend(dropped.into_iter().map(|g| (g, "split")));
    let cv_folds = cv_folds(&train, &chroms, &opts.cv)?;
    Ok(GeneData { ids, chroms, features, targets, x, y, train, test, cv_folds, unmatched })
}

/// Training and held-out rows, and the genes a split table does not list.
fn holdout(ids: &[String], chroms: &[String], h: &Holdout, id: &str) -> Result<(Vec<usize>, Vec<usize>, Vec<String>)> {
    let n = ids.len();
    match h {
        Holdout::None => Ok(((0..n).collect(), Vec::new(), Vec::new())),
        Holdout::Chroms(c) => {
            let (test, train): (Vec<usize>, Vec<usize>) = (0..n).partition(|&i| c.contains(&chroms[i]));
            if train.is_empty() {
                return Err(Error::InvalidArgument(format!(
                    "--test-chroms {} holds out all {n} genes: none is left to train on",
                    c.join(",")
                )));
            }
            if test.is_empty() {
                let mut seen: Vec<&str> = chroms.iter().map(String::as_str).collect();
                seen.sort_unstable();
                seen.dedup();
                let shown: Vec<&str> = seen.iter().take(12).copied().collect();
                return Err(Error::InvalidArgument(format!(
                    "--test-chroms {}: no gene is on these chromosomes (the genes are on {}{})",
                    c.join(","),
                    shown.join(", "),
                    if seen.len() > 12 { ", …" } else { "" }
                )));
            }
            Ok((train, test, Vec::new()))
        }
        Holdout::Split(path) => {
            let df = table::read(path)?;
            let sid = table::strings(&df, id, path)?;
            let split = table::strings(&df, "split", path)?;
            check_unique(&sid, path, id)?;
            let mut role = HashMap::new();
            for (row, (g, s)) in sid.iter().zip(&split).enumerate() {
                let s = s.trim().to_ascii_lowercase();
                if !matches!(s.as_str(), "train" | "valid" | "test") {
                    return Err(Error::malformed(
                        path,
                        format!("row {}", row + 1),
                        format!("split {s:?} of gene {g:?}: use train, valid or test"),
                    ));
                }
                role.insert(g.as_str(), s == "test");
            }
            let (mut train, mut test, mut dropped) = (Vec::new(), Vec::new(), Vec::new());
            for (i, g) in ids.iter().enumerate() {
                match role.get(g.as_str()) {
                    Some(true) => test.push(i),
                    Some(false) => train.push(i),
                    None => dropped.push(g.clone()),
                }
            }
            Ok((train, test, dropped))
        }
    }
}

/// Cross-validation folds as positions within `train`.
fn cv_folds(train: &[usize], chroms: &[String], plan: &CvPlan) -> Result<Vec<Vec<usize>>> {
    let n = train.len();
    match plan {
        CvPlan::KFold(k) => {
            if *k < 2 {
                return Err(Error::InvalidArgument(format!("--cv {k}: use at least 2 folds")));
            }
            if n < *k {
                return Err(Error::InvalidArgument(format!(
                    "{n} training genes are fewer than the {k} cross-validation folds"
                )));
            }
            // scikit-learn's KFold: the first n % k folds hold one gene more.
            let mut out = Vec::with_capacity(*k);
            let mut start = 0;
            for f in 0..*k {
                let size = n / k + usize::from(f < n % k);
                out.push((start..start + size).collect());
                start += size;
            }
            Ok(out)
        }
        CvPlan::Folds(path) => {
            let folds = Folds::read(path)?;
            let mut set_of = HashMap::new();
            for (j, set) in folds.sets.iter().enumerate() {
                for c in set {
                    set_of.insert(c.as_str(), j);
                }
            }
            let mut out = vec![Vec::new(); folds.sets.len()];
            for (pos, &row) in train.iter().enumerate() {
                let c = chroms[row].as_str();
                let j = set_of.get(c).ok_or_else(|| {
                    Error::malformed(path, "folds", format!("chromosome {c:?} of a training gene is in no fold"))
                })?;
                out[*j].push(pos);
            }
            out.retain(|f| !f.is_empty());
            if out.len() < 2 {
                return Err(Error::InvalidArgument(format!(
                    "{}: the training genes fall in {} fold(s); cross-validation needs at least 2",
                    path.display(),
                    out.len()
                )));
            }
            Ok(out)
        }
    }
}

impl GeneData {
    /// Rows `rows` of a matrix.
    pub fn rows(m: &Array2<f64>, rows: &[usize]) -> Array2<f64> {
        m.select(Axis(0), rows)
    }
}
