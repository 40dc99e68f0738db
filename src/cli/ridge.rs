//! `s2f ridge fit` / `s2f ridge predict`: cross-validated ridge read-outs from gene features
//! (e.g. `s2f genes` output) to measured expression.

use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use s2f::genes::data::{load, CvPlan, DataOptions, Holdout};
use s2f::genes::fit::{default_alphas, fit, write_outputs, FitOptions};
use s2f::genes::model::RidgeModel;
use s2f::io::table;

/// Arguments of `s2f ridge`.
#[derive(clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: Sub,
}

#[derive(clap::Subcommand)]
enum Sub {
    /// Fit one ridge regression per target, alpha chosen by cross-validation on training genes.
    Fit(FitArgs),
    /// Apply a fitted read-out (its folder or ridge.json) to a features table.
    Predict(PredictArgs),
}

/// Arguments of `s2f ridge fit`.
#[derive(clap::Args)]
struct FitArgs {
    /// Features: parquet/TSV/CSV with the id column (e.g. `s2f genes` output).
    #[arg(long)]
    features: PathBuf,
    /// Targets: parquet/TSV/CSV with the id column and one numeric column per target.
    #[arg(long)]
    targets: PathBuf,
    /// Id column joining the two tables.
    #[arg(long, default_value = "gene_id")]
    id: String,
    /// Keep feature columns whose name contains this text.
    #[arg(long)]
    feature_filter: Option<String>,
    /// Target columns, comma-separated (default: every numeric column but the id).
    #[arg(long)]
    target_columns: Option<String>,
    /// ln(1 + x) of the features before z-scoring.
    #[arg(long)]
    log1p_features: bool,
    /// ln(1 + y) of the targets (predictions and metrics are then in that scale).
    #[arg(long)]
    log1p_targets: bool,
    /// Alpha grid, comma-separated (default: 10 values log-spaced over 1e-3…1e4).
    #[arg(long)]
    alphas: Option<String>,
    /// K contiguous cross-validation folds over the training genes.
    #[arg(long, default_value_t = 5, conflicts_with = "folds")]
    cv: usize,
    /// Cross-validation grouped by chromosome: an `s2f folds` file (needs a chrom column).
    #[arg(long)]
    folds: Option<PathBuf>,
    /// Hold out the genes on these chromosomes, comma-separated (needs a chrom column).
    #[arg(long, conflicts_with = "split")]
    test_chroms: Option<String>,
    /// Hold out by a table of the id and a split column (train, valid, test; valid trains).
    #[arg(long)]
    split: Option<PathBuf>,
    /// Output folder (must not exist, or be empty).
    #[arg(long)]
    out: PathBuf,
}

/// Arguments of `s2f ridge predict`.
#[derive(clap::Args)]
struct PredictArgs {
    /// A `ridge fit` output folder or its ridge.json.
    model: PathBuf,
    /// Features table with the model's id and feature columns.
    #[arg(long)]
    features: PathBuf,
    /// Output table (parquet, tsv or csv by extension): the id and one column per target.
    #[arg(long)]
    out: PathBuf,
}

/// Runs `s2f ridge`.
pub fn run(args: Args) -> Result<()> {
    match args.command {
        Sub::Fit(a) => run_fit(a),
        Sub::Predict(a) => run_predict(a),
    }
}

fn run_fit(a: FitArgs) -> Result<()> {
    let alphas = match &a.alphas {
        None => default_alphas(),
        Some(s) => super::split_list(s)
            .iter()
            .map(|v| v.parse::<f64>().with_context(|| format!("--alphas: {v:?} is not a number")))
            .collect::<Result<Vec<_>>>()?,
    };
    let opts = DataOptions {
        id: a.id.clone(),
        feature_filter: a.feature_filter.clone(),
        target_columns: a.target_columns.as_deref().map(super::split_list),
        holdout: match (&a.test_chroms, &a.split) {
            (Some(c), _) => Holdout::Chroms(super::split_list(c)),
            (None, Some(s)) => Holdout::Split(s.clone()),
            (None, None) => Holdout::None,
        },
        cv: match &a.folds {
            Some(f) => CvPlan::Folds(f.clone()),
            None => CvPlan::KFold(a.cv),
        },
    };
    s2f::io::atomic::check_out_dir(&a.out)?;
    let started = std::time::Instant::now();
    let data = load(&a.features, &a.targets, &opts)?;
    if !data.unmatched.is_empty() {
        let show: Vec<String> = data.unmatched.iter().take(5).map(|(g, w)| format!("{g} (not in {w})")).collect();
        tracing::warn!(
            "{} genes are left out, in only one table or not in the split: {}{}; all in unmatched.tsv",
            data.unmatched.len(),
            show.join(", "),
            if data.unmatched.len() > 5 { ", …" } else { "" }
        );
    }
    tracing::info!(
        "{} genes ({} training, {} held out) × {} features → {} targets; {} CV folds × {} alphas",
        data.ids.len(),
        data.train.len(),
        data.test.len(),
        data.features.len(),
        data.targets.len(),
        data.cv_folds.len(),
        alphas.len()
    );
    let result = fit(
        &data,
        &a.id,
        &FitOptions { log1p_features: a.log1p_features, log1p_targets: a.log1p_targets, alphas: alphas.clone() },
    )?;
    let fitted = started.elapsed().as_secs_f64();
    if data.test.is_empty() {
        tracing::warn!("no held-out genes (--test-chroms or --split): no test metrics");
    } else {
        tracing::info!(
            "held-out genes: mean Pearson across genes {:.4}, across targets {:.4}",
            s2f::genes::stats::finite_mean(&result.across_genes),
            s2f::genes::stats::finite_mean(&result.across_targets)
        );
    }
    let files = write_outputs(&a.out, &data, &result, &alphas)?;
    tracing::info!("fitted in {fitted:.2} s; wrote {} files to {}", files.len(), a.out.display());
    Ok(())
}

fn run_predict(a: PredictArgs) -> Result<()> {
    table::check_output(&a.out)?;
    let path = if a.model.is_dir() { a.model.join("ridge.json") } else { a.model.clone() };
    let model = RidgeModel::read(&path)?;
    let df = table::read(&a.features)?;
    let ids = table::strings(&df, &model.id, &a.features)?;
    if let Some(d) = table::duplicates(&ids).first() {
        bail!("{}: gene {d:?} appears more than once in column {:?}", a.features.display(), model.id);
    }
    let have = table::names(&df);
    if let Some(f) = model.features.iter().find(|f| !have.contains(f)) {
        bail!("{}: feature column {f:?} of the model is missing", a.features.display());
    }
    let x = table::matrix(&df, &model.features, &a.features, &ids)?;
    let y = model.predict(&x, &ids, &a.features)?;
    let cols = model.targets.iter().enumerate().map(|(k, t)| (t.clone(), y.column(k).to_vec())).collect();
    let mut out = table::frame(vec![(model.id.clone(), ids)], cols)?;
    table::write(&mut out, &a.out)?;
    tracing::info!("wrote {} genes × {} targets to {}", y.nrows(), y.ncols(), a.out.display());
    Ok(())
}
