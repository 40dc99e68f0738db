//! `s2f evaluate genes`: FT_S2A's TSS correlations between predicted and observed gene values.
//!
//! Procedure (FT_S2A `CageCorr`): genes in both tables (inner join on `gene_id`, the rest
//! reported); tracks present in both (by column name); natural `log(x + 1)`; z-score each track
//! across all joined genes (ddof 0), predicted and observed alike; then, per split (all genes,
//! or each split of a split table):
//! - across genes: per track, Pearson of predicted and observed across the split's genes;
//! - across experiments: per gene, Pearson across the tracks of the z-scored values.
//!
//! Outputs (folder, staged and renamed into place): `tracks.tsv` (track, split, pearson,
//! n_genes), `genes.tsv` (gene_id, split, pearson), `summary.tsv` (split, genes, tracks, the two
//! means), `correlations.png` (histograms of the two measures on the test split, or on all
//! genes), `scatter_best.png` and `scatter_worst.png` (log1p predicted vs observed of the tracks
//! with the highest and lowest across-genes correlation on that split).

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

use ndarray::{Array2, Axis};
use polars::prelude::DataFrame;

use crate::error::{Error, Result};
use crate::genes::data::{check_unique, numeric_columns, NOT_FEATURES};
use crate::genes::stats;
use crate::io::{plot, table};

/// One evaluated split.
#[derive(Debug, Clone)]
pub struct SplitResult {
    /// Split name (`all`, `train`, `valid`, `test`).
    pub name: String,
    /// Row indices (into [`Evaluation::genes`]).
    pub rows: Vec<usize>,
    /// Per track Pearson across the split's genes.
    pub across_genes: Vec<f64>,
    /// Per gene Pearson across tracks.
    pub across_tracks: Vec<f64>,
}

/// An evaluation.
#[derive(Debug, Clone)]
pub struct Evaluation {
    /// Joined gene ids.
    pub genes: Vec<String>,
    /// Evaluated tracks.
    pub tracks: Vec<String>,
    /// log1p predicted values, genes × tracks.
    pub pred: Array2<f64>,
    /// log1p observed values, genes × tracks.
    pub obs: Array2<f64>,
    /// Results per split.
    pub splits: Vec<SplitResult>,
    /// Ids in only one table: (id, the table it is missing from).
    pub unmatched: Vec<(String, &'static str)>,
}

/// Numeric track columns (not the id, `tss` or `n_tss`); a text column of numbers with
/// exceptions (`NA`) is an error.
fn numeric_tracks(df: &DataFrame, path: &Path) -> Result<Vec<String>> {
    let mut skip = vec!["gene_id"];
    skip.extend(NOT_FEATURES);
    numeric_columns(df, &skip, path)
}

/// Evaluates predicted against observed tables (`obs` may come from bigWigs, see the CLI);
/// `split` is an optional table of `gene_id` and `split`.
pub fn evaluate(
    pred: &DataFrame,
    pred_path: &Path,
    obs: &DataFrame,
    obs_path: &Path,
    keep: &dyn Fn(&str) -> bool,
    split: Option<&Path>,
) -> Result<Evaluation> {
    let pids = table::strings(pred, "gene_id", pred_path)?;
    let oids = table::strings(obs, "gene_id", obs_path)?;
    for (ids, p) in [(&pids, pred_path), (&oids, obs_path)] {
        check_unique(ids, p, "gene_id")?;
    }
    let obs_tracks: HashSet<String> = numeric_tracks(obs, obs_path)?.into_iter().collect();
    let pred_tracks = numeric_tracks(pred, pred_path)?;
    let mut tracks: Vec<String> = pred_tracks.iter().filter(|t| obs_tracks.contains(*t)).cloned().collect();
    let (only_pred, only_obs) = (pred_tracks.len() - tracks.len(), obs_tracks.len() - tracks.len());
    if only_pred + only_obs > 0 {
        tracing::warn!(
            "{only_pred} track columns only in {} and {only_obs} only in {} are not evaluated",
            pred_path.display(),
            obs_path.display()
        );
    }
    tracks.retain(|t| keep(t));
    if tracks.is_empty() {
        return Err(Error::InvalidArgument(format!(
            "{} and {} share no (selected) track column",
            pred_path.display(),
            obs_path.display()
        )));
    }
    let orow: HashMap<&str, usize> = oids.iter().enumerate().map(|(i, g)| (g.as_str(), i)).collect();
    let pset: HashSet<&str> = pids.iter().map(String::as_str).collect();
    let pairs: Vec<(usize, usize)> =
        pids.iter().enumerate().filter_map(|(i, g)| orow.get(g.as_str()).map(|&j| (i, j))).collect();
    let mut unmatched: Vec<(String, &'static str)> =
        pids.iter().filter(|g| !orow.contains_key(g.as_str())).map(|g| (g.clone(), "observed")).collect();
    unmatched.extend(oids.iter().filter(|g| !pset.contains(g.as_str())).map(|g| (g.clone(), "predicted")));
    if pairs.len() < 2 {
        return Err(Error::InvalidArgument(format!(
            "{} and {} share {} gene(s); correlations need at least 2",
            pred_path.display(),
            obs_path.display(),
            pairs.len()
        )));
    }
    let genes: Vec<String> = pairs.iter().map(|p| pids[p.0].clone()).collect();
    let pm =
        table::matrix(pred, &tracks, pred_path, &pids)?.select(Axis(0), &pairs.iter().map(|p| p.0).collect::<Vec<_>>());
    let om =
        table::matrix(obs, &tracks, obs_path, &oids)?.select(Axis(0), &pairs.iter().map(|p| p.1).collect::<Vec<_>>());
    let pred = stats::log1p(&pm, &pred_path.display().to_string(), &genes, &tracks)?;
    let obs = stats::log1p(&om, &obs_path.display().to_string(), &genes, &tracks)?;
    let (zp, zo) = (stats::zscore_columns(pred.view()), stats::zscore_columns(obs.view()));

    let mut groups: Vec<(String, Vec<usize>)> = vec![("all".into(), (0..genes.len()).collect())];
    if let Some(path) = split {
        let df = table::read(path)?;
        let sid = table::strings(&df, "gene_id", path)?;
        let sname = table::strings(&df, "split", path)?;
        check_unique(&sid, path, "gene_id")?;
        if let Some(i) = sname.iter().position(|s| s.trim().is_empty() || s == "all") {
            return Err(Error::malformed(
                path,
                format!("row {}", i + 1),
                format!("split {:?}: name it (not \"all\", not empty)", sname[i]),
            ));
        }
        let of: HashMap<&str, &str> = sid.iter().map(String::as_str).zip(sname.iter().map(String::as_str)).collect();
        let missing = genes.iter().filter(|g| !of.contains_key(g.as_str())).count();
        if missing > 0 {
            tracing::warn!("{missing} genes are not in {} (counted in the \"all\" rows only)", path.display());
        }
        let mut names: Vec<String> = Vec::new();
        for g in &genes {
            if let Some(s) = of.get(g.as_str()) {
                if !names.iter().any(|n| n == s) {
                    names.push(s.to_string());
                }
            }
        }
        names.sort();
        for n in names {
            let rows: Vec<usize> =
                (0..genes.len()).filter(|&i| of.get(genes[i].as_str()) == Some(&n.as_str())).collect();
            groups.push((n, rows));
        }
    }
    let splits = groups
        .into_iter()
        .map(|(name, rows)| {
            let (p, o) = (pred.select(Axis(0), &rows), obs.select(Axis(0), &rows));
            let (zps, zos) = (zp.select(Axis(0), &rows), zo.select(Axis(0), &rows));
            SplitResult {
                name,
                across_genes: stats::pearson_columns(p.view(), o.view()),
                across_tracks: stats::pearson_rows(zps.view(), zos.view()),
                rows,
            }
        })
        .collect();
    Ok(Evaluation { genes, tracks, pred, obs, splits, unmatched })
}

/// Writes the evaluation's tables and plots into `dir` (staged, then renamed into place).
pub fn write_evaluation(dir: &Path, e: &Evaluation) -> Result<Vec<PathBuf>> {
    let staged = crate::io::atomic::StagedDir::create(dir)?;
    let stage = staged.path().to_path_buf();
    let (mut tn, mut ts, mut tr, mut tg) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let (mut gn, mut gs, mut gr) = (Vec::new(), Vec::new(), Vec::new());
    let (mut sn, mut sg, mut st, mut sa, mut sb) = (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for s in &e.splits {
        for (t, r) in e.tracks.iter().zip(&s.across_genes) {
            tn.push(t.clone());
            ts.push(s.name.clone());
            tr.push(*r);
            tg.push(s.rows.len() as i64);
        }
        for (&i, r) in s.rows.iter().zip(&s.across_tracks) {
            gn.push(e.genes[i].clone());
            gs.push(s.name.clone());
            gr.push(*r);
        }
        sn.push(s.name.clone());
        sg.push(s.rows.len() as i64);
        st.push(e.tracks.len() as i64);
        sa.push(stats::finite_mean(&s.across_genes));
        sb.push(stats::finite_mean(&s.across_tracks));
    }
    let mut files = Vec::new();
    let mut put = |name: &str, mut df: DataFrame| -> Result<()> {
        table::write(&mut df, &stage.join(name))?;
        files.push(dir.join(name));
        Ok(())
    };
    let tracks = table::frame(vec![("track".into(), tn), ("split".into(), ts)], vec![("pearson".into(), tr)])?;
    put("tracks.tsv", table::with_i64(tracks, vec![("n_genes", tg)])?)?;
    put("genes.tsv", table::frame(vec![("gene_id".into(), gn), ("split".into(), gs)], vec![("pearson".into(), gr)])?)?;
    let mut summary =
        table::with_i64(table::frame(vec![("split".into(), sn)], vec![])?, vec![("n_genes", sg), ("n_tracks", st)])?;
    table::push_f64(&mut summary, "mean_pearson_across_genes", sa)?;
    table::push_f64(&mut summary, "mean_pearson_across_tracks", sb)?;
    put("summary.tsv", summary)?;
    put(
        "unmatched.tsv",
        table::frame(
            vec![
                ("gene_id".into(), e.unmatched.iter().map(|u| u.0.clone()).collect()),
                ("missing_from".into(), e.unmatched.iter().map(|u| u.1.to_string()).collect()),
            ],
            vec![],
        )?,
    )?;
    let shown = e.splits.iter().find(|s| s.name == "test").or_else(|| e.splits.first());
    if let Some(s) = shown {
        plot::histograms(
            &stage.join("correlations.png"),
            &[
                (&format!("{}: across genes (per track)", s.name), &s.across_genes),
                (&format!("{}: across tracks (per gene)", s.name), &s.across_tracks),
            ],
        )?;
        files.push(dir.join("correlations.png"));
        let ranked: Vec<(usize, f64)> =
            s.across_genes.iter().copied().enumerate().filter(|(_, r)| r.is_finite()).collect();
        let best = ranked
            .iter()
            .copied()
            .fold(None, |b: Option<(usize, f64)>, x| if b.is_none_or(|b| x.1 > b.1) { Some(x) } else { b });
        let worst = ranked
            .iter()
            .copied()
            .fold(None, |b: Option<(usize, f64)>, x| if b.is_none_or(|b| x.1 < b.1) { Some(x) } else { b });
        for (file, pick) in [("scatter_best.png", best), ("scatter_worst.png", worst)] {
            if let Some((t, _)) = pick {
                let x: Vec<f64> = s.rows.iter().map(|&i| e.obs[(i, t)]).collect();
                let y: Vec<f64> = s.rows.iter().map(|&i| e.pred[(i, t)]).collect();
                plot::scatter(
                    &stage.join(file),
                    &x,
                    &y,
                    &format!("{} ({})", e.tracks[t], s.name),
                    "observed log(x+1)",
                    "predicted log(x+1)",
                )?;
                files.push(dir.join(file));
            }
        }
    }
    staged.commit()?;
    Ok(files)
}
