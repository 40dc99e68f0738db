//! `s2f ridge fit`: one ridge regression per target from gene features (e.g. predicted CAGE at
//! TSSs) to measured expression, alpha chosen per target by cross-validation on the training
//! genes only, then evaluated on held-out genes.
//!
//! Steps: (log1p) → z-score features with the training genes' mean and deviation → per-fold
//! moments → mean CV squared error of every (alpha, target) ([`ridge::cross_validate`]) → per
//! target the best alpha → one final decomposition of all training genes → coefficients
//! mapped back to the unscaled features → held-out predictions and FT_S2A's two correlations.
//!
//! Output folder (written as `DIR.partial` and renamed, so it appears complete or not at all):
//! `coefficients.parquet`, `cv.tsv`, `ridge.json`, `unmatched.tsv` and, with held-out genes,
//! `test_metrics.tsv` (per target), `test_genes.tsv` (per gene), `predictions.parquet`,
//! `summary.json` and the plots `coefficients.png`, `scatter.png`, `correlations.png`.

use std::io::Write;
use std::path::{Path, PathBuf};

use ndarray::{Array1, Array2, Axis};

use crate::error::{Error, Result};
use crate::genes::data::GeneData;
use crate::genes::model::{RidgeModel, FORMAT};
use crate::genes::ridge::{best_alphas, cross_validate, Moments, Solver};
use crate::genes::stats;
use crate::io::{plot, table};

/// The default alpha grid: 10 values log-spaced over 1e-3 … 1e4.
pub fn default_alphas() -> Vec<f64> {
    (0..10).map(|k| 10f64.powf(-3.0 + 7.0 * k as f64 / 9.0)).collect()
}

/// Options of the fit.
#[derive(Debug, Clone)]
pub struct FitOptions {
    /// `ln(1 + x)` of the features before z-scoring.
    pub log1p_features: bool,
    /// `ln(1 + y)` of the targets.
    pub log1p_targets: bool,
    /// The alpha grid (each > 0).
    pub alphas: Vec<f64>,
}

/// What a fit produced.
#[derive(Debug, Clone)]
pub struct FitResult {
    /// The model (coefficients in the unscaled feature space).
    pub model: RidgeModel,
    /// Mean CV squared error, alphas × targets.
    pub cv: Array2<f64>,
    /// Coefficients on the z-scored features, targets × features (for the heatmap).
    pub coef_z: Array2<f64>,
    /// Held-out predictions and observations, genes × targets (empty without held-out genes).
    pub test_pred: Array2<f64>,
    /// Held-out observations (transformed).
    pub test_obs: Array2<f64>,
    /// Per target Pearson across held-out genes.
    pub across_genes: Vec<f64>,
    /// Per held-out gene Pearson across targets (targets z-scored across held-out genes).
    pub across_targets: Vec<f64>,
}

/// Fits the read-out.
pub fn fit(data: &GeneData, id: &str, opts: &FitOptions) -> Result<FitResult> {
    if opts.alphas.is_empty() || opts.alphas.iter().any(|a| !(a.is_finite() && *a > 0.0)) {
        return Err(Error::InvalidArgument(format!("alphas must be finite and > 0, got {:?}", opts.alphas)));
    }
    let x = if opts.log1p_features {
        stats::log1p(&data.x, "features", &data.ids, &data.features)?
    } else {
        data.x.clone()
    };
    let y =
        if opts.log1p_targets { stats::log1p(&data.y, "targets", &data.ids, &data.targets)? } else { data.y.clone() };
    if data.train.len() < 2 {
        return Err(Error::InvalidArgument(format!("only {} training genes", data.train.len())));
    }
    let xt = GeneData::rows(&x, &data.train);
    let yt = GeneData::rows(&y, &data.train);
    let (mean, sd) = stats::column_scale(xt.view());
    let zt = stats::standardise(xt.view(), &mean, &sd);
    // Targets centred on their training mean before forming moments, so the held-out errors
    // expanded from them lose no digits to large means (the fit adds the mean back).
    let y_mean = yt.mean_axis(Axis(0)).unwrap_or_else(|| Array1::zeros(yt.ncols()));
    let yt = &yt - &y_mean;

    let folds: Vec<Moments> = data
        .cv_folds
        .iter()
        .map(|rows| Moments::of(zt.select(Axis(0), rows).view(), yt.select(Axis(0), rows).view()))
        .collect();
    let cv = cross_validate(&folds, &opts.alphas)?;
    let best = best_alphas(&cv);
    let total = folds.iter().skip(1).fold(folds[0].clone(), |a, f| a.plus(f));
    let solver = Solver::new(&total)?;

    let (p, t) = (data.features.len(), data.targets.len());
    let mut coef_z = Array2::<f64>::zeros((t, p));
    let mut intercept_z = Array1::<f64>::zeros(t);
    // One fit per distinct chosen alpha, all targets at once; keep each target's column.
    let mut distinct: Vec<usize> = best.clone();
    distinct.sort_unstable();
    distinct.dedup();
    for a in distinct {
        let f = solver.fit(opts.alphas[a]);
        for (k, _) in best.iter().enumerate().filter(|(_, &b)| b == a) {
            coef_z.row_mut(k).assign(&f.coef.column(k));
            intercept_z[k] = f.intercept[k];
        }
    }
    intercept_z += &y_mean;
    // Back to the unscaled features: w = w_z / sd, b = b_z − Σ w·mean.
    let coef = &coef_z / &sd;
    let intercept = &intercept_z - &coef.dot(&mean);
    let model = RidgeModel {
        format: FORMAT.into(),
        version: 1,
        id: id.to_string(),
        features: data.features.clone(),
        targets: data.targets.clone(),
        log1p_features: opts.log1p_features,
        log1p_targets: opts.log1p_targets,
        feature_mean: mean.to_vec(),
        feature_sd: sd.to_vec(),
        alpha: best.iter().map(|&b| opts.alphas[b]).collect(),
        coef: coef.outer_iter().map(|r| r.to_vec()).collect(),
        intercept: intercept.to_vec(),
        n_train: data.train.len(),
    };
    let (test_pred, test_obs, across_genes, across_targets) = if data.test.is_empty() {
        (Array2::zeros((0, t)), Array2::zeros((0, t)), Vec::new(), Vec::new())
    } else {
        let zv = stats::standardise(GeneData::rows(&x, &data.test).view(), &mean, &sd);
        let pred = zv.dot(&coef_z.t()) + &intercept_z;
        let obs = GeneData::rows(&y, &data.test);
        let genes = stats::pearson_columns(pred.view(), obs.view());
        let targets =
            stats::pearson_rows(stats::zscore_columns(pred.view()).view(), stats::zscore_columns(obs.view()).view());
        (pred, obs, genes, targets)
    };
    Ok(FitResult { model, cv, coef_z, test_pred, test_obs, across_genes, across_targets })
}

fn alpha_label(a: f64) -> String {
    format!("alpha={a:e}")
}

/// Writes the outputs into `dir` (staged as `dir.partial`, renamed at the end; `dir` must not
/// exist or be empty).
pub fn write_outputs(dir: &Path, data: &GeneData, r: &FitResult, alphas: &[f64]) -> Result<Vec<PathBuf>> {
    let staged = crate::io::atomic::StagedDir::create(dir)?;
    let stage = staged.path().to_path_buf();
    let m = &r.model;
    let mut files = Vec::new();
    let put = |files: &mut Vec<PathBuf>, name: &str, mut df: polars::prelude::DataFrame| -> Result<()> {
        table::write(&mut df, &stage.join(name))?;
        files.push(dir.join(name));
        Ok(())
    };
    // Coefficients: one row per target.
    let mut nums = vec![("alpha".to_string(), m.alpha.clone()), ("intercept".to_string(), m.intercept.clone())];
    for (j, f) in m.features.iter().enumerate() {
        nums.push((f.clone(), m.coef.iter().map(|c| c[j]).collect()));
    }
    put(&mut files, "coefficients.parquet", table::frame(vec![("target".into(), m.targets.clone())], nums)?)?;
    // CV: target × alpha.
    let mut nums = vec![("best_alpha".to_string(), m.alpha.clone())];
    for (a, &alpha) in alphas.iter().enumerate() {
        nums.push((alpha_label(alpha), r.cv.row(a).to_vec()));
    }
    put(&mut files, "cv.tsv", table::frame(vec![("target".into(), m.targets.clone())], nums)?)?;
    put(
        &mut files,
        "unmatched.tsv",
        table::frame(
            vec![
                (m.id.clone(), data.unmatched.iter().map(|u| u.0.clone()).collect()),
                ("missing_from".into(), data.unmatched.iter().map(|u| u.1.to_string()).collect()),
            ],
            vec![],
        )?,
    )?;
    m.write(&stage.join("ridge.json"))?;
    files.push(dir.join("ridge.json"));
    plot::heatmap(
        &stage.join("coefficients.png"),
        &r.coef_z,
        &m.targets,
        &m.features,
        "ridge coefficients on z-scored features (targets × features, clustered)",
        true,
    )?;
    files.push(dir.join("coefficients.png"));
    if !data.test.is_empty() {
        let ids: Vec<String> = data.test.iter().map(|&i| data.ids[i].clone()).collect();
        let chroms: Vec<String> = data.test.iter().map(|&i| data.chroms[i].clone()).collect();
        let n = vec![data.test.len() as i64; m.targets.len()];
        let metrics = table::frame(
            vec![("target".into(), m.targets.clone())],
            vec![("alpha".into(), m.alpha.clone()), ("pearson".into(), r.across_genes.clone())],
        )?;
        put(&mut files, "test_metrics.tsv", table::with_i64(metrics, vec![("n_genes", n)])?)?;
        put(
            &mut files,
            "test_genes.tsv",
            table::frame(
                vec![(m.id.clone(), ids.clone()), ("chrom".into(), chroms.clone())],
                vec![("pearson".into(), r.across_targets.clone())],
            )?,
        )?;
        let cols = m.targets.iter().enumerate().map(|(k, t)| (t.clone(), r.test_pred.column(k).to_vec())).collect();
        put(
            &mut files,
            "predictions.parquet",
            table::frame(vec![(m.id.clone(), ids), ("chrom".into(), chroms)], cols)?,
        )?;
        let summary = serde_json::json!({
            "n_train": m.n_train,
            "n_test": data.test.len(),
            "n_features": m.features.len(),
            "n_targets": m.targets.len(),
            "mean_pearson_across_genes": stats::finite_mean(&r.across_genes),
            "mean_pearson_across_targets": stats::finite_mean(&r.across_targets),
        });
        crate::io::atomic::write_atomic(stage.join("summary.json"), |w| {
            w.write_all(serde_json::to_string_pretty(&summary).unwrap_or_default().as_bytes())
        })?;
        files.push(dir.join("summary.json"));
        let obs: Vec<f64> = r.test_obs.iter().copied().collect();
        let pred: Vec<f64> = r.test_pred.iter().copied().collect();
        plot::scatter(&stage.join("scatter.png"), &obs, &pred, "held-out genes, all targets", "observed", "predicted")?;
        plot::histograms(
            &stage.join("correlations.png"),
            &[("across genes (per target)", &r.across_genes), ("across targets (per gene)", &r.across_targets)],
        )?;
        files.extend([dir.join("scatter.png"), dir.join("correlations.png")]);
    }
    staged.commit()?;
    Ok(files)
}
