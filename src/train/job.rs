//! `s2f train` as a library call: resolve the model (preset, spec or package to fine-tune), load
//! and split the data, train, and write the package and reports into one folder.
//!
//! Output folder: `model.json`, `model.safetensors`, `model.onnx` (a package every engine
//! runs), `training_log.csv`, `loss_curve.png`, `correlations_tracks.tsv`,
//! `correlations_points.tsv` (see [`super::report`]).

use std::path::PathBuf;
use std::time::Instant;

use burn::tensor::backend::Backend;

use crate::error::{Error, Result};
use crate::genome::bed::read_bed;
use crate::genome::fasta::Fasta;
use crate::genome::folds::Folds;
use crate::model::onnx::EmitOptions;
use crate::model::spec::{ModelSpec, Source, Track};
use crate::model::weights::Weights;
use crate::model::Package;
use crate::train::data::{self, BigwigGroup, BinStat, Dataset, Set};
use crate::train::finetune::{new_heads, resolve_tracks, select_tracks, HeadMode};
use crate::train::init::init_weights;
use crate::train::loss::Loss;
use crate::train::multi;
use crate::train::net::ParamStore;
use crate::train::presets::{self, preset, preset_source, PresetSizes};
use crate::train::report::{self, CorrRow};
use crate::train::trainer::{
    gather, head_map, per_point_pearson, per_track_pearson, predict, train, EpochLog, TrainConfig,
};

/// Where the model comes from.
#[derive(Debug, Clone)]
pub enum ModelSource {
    /// A preset architecture with size overrides.
    Arch(String, PresetSizes),
    /// A spec file (fresh weights).
    Spec(PathBuf),
    /// A package to fine-tune.
    Init {
        /// Package folder (or model.json).
        package: PathBuf,
        /// What to do with its heads.
        heads: HeadMode,
        /// Tracks to keep of the (single or first) head, as indices or identifiers.
        tracks: Vec<String>,
    },
}

/// Where the data comes from.
#[derive(Debug, Clone)]
pub enum DataSource {
    /// One-hot `.npz` and one target file per head.
    Files {
        /// One-hot file (the primary input).
        onehot: PathBuf,
        /// Further one-hot files of multi-input models, aligned by data-point name
        /// ([`crate::train::multi`]).
        inputs: Vec<PathBuf>,
        /// Target files.
        targets: Vec<PathBuf>,
    },
    /// Windows from a genome with bigWig targets, one group of files per head.
    Genome {
        /// FASTA.
        fasta: PathBuf,
        /// BED regions to centre windows on; tiles the chromosomes when absent.
        bed: Option<PathBuf>,
        /// Centre on region midpoints even where narrowPeak summits are given
        /// ([`crate::genome::bed::BedRecord::centre`]).
        ignore_summits: bool,
        /// Tiling stride (default the input length).
        stride: Option<u64>,
        /// Chromosomes to tile (default all).
        chroms: Option<Vec<String>>,
        /// bigWig groups; each group is one head.
        bigwigs: Vec<Vec<PathBuf>>,
        /// Sum or mean per bin.
        stat: BinStat,
        /// Control tracks (`bpnet`): one bigWig per strand, read per base over each window.
        control: Vec<PathBuf>,
    },
}

/// How data points are split.
#[derive(Debug, Clone)]
pub enum SplitSource {
    /// Chromosome folds file and the fold to validate on.
    Folds(PathBuf, usize),
    /// `NAME SET` file.
    File(PathBuf),
    /// Seeded random fractions for validation and test.
    Random(f64, f64),
}

/// A whole training run.
#[derive(Debug, Clone)]
pub struct TrainJob {
    /// Model.
    pub model: ModelSource,
    /// Data.
    pub data: DataSource,
    /// Split.
    pub split: SplitSource,
    /// Loop settings.
    pub cfg: TrainConfig,
    /// Output folder.
    pub out: PathBuf,
    /// Run on CUDA (needs the `cuda` feature).
    pub cuda: bool,
}

/// What a run reports.
#[derive(Debug, Clone)]
pub struct TrainSummary {
    /// Epoch log.
    pub log: Vec<EpochLog>,
    /// Kept epoch.
    pub best_epoch: usize,
    /// Mean per-track r on validation and test data (NaN without test data).
    pub valid_r: f64,
    /// Same on test data.
    pub test_r: f64,
    /// Optimiser steps.
    pub steps: usize,
    /// Why training stopped.
    pub stop: String,
    /// Seconds spent in training epochs.
    pub seconds: f64,
}

/// A bigWig group's head name for a preset: `profile` for the `bpnet` architecture's one
/// group, else [`group_name`].
fn arch_group_name(job: &TrainJob, i: usize, n: usize) -> String {
    match &job.model {
        ModelSource::Arch(a, _) if a == "bpnet" && n == 1 => "profile".into(),
        _ => group_name(i, n),
    }
}

fn group_name(i: usize, n: usize) -> String {
    if n == 1 {
        "signal".into()
    } else {
        format!("signal{i}")
    }
}

/// Detects the N value of one-hot data: the value of a position whose four channels are equal
/// and non-zero, or 0 when some position is all zeros; `None` when no position is ambiguous.
fn detect_n_value(x: &[f32]) -> Option<f32> {
    x.chunks_exact(4).find(|c| c[0] == c[1] && c[1] == c[2] && c[2] == c[3]).map(|c| c[0])
}

/// Runs the job; `on_epoch` sees each epoch's log row.
pub fn run(job: &TrainJob, on_epoch: &mut dyn FnMut(&EpochLog)) -> Result<TrainSummary> {
    // 1. Data whose shape does not depend on the model.
    let mut input_names = Vec::new();
    let mut dataset = match &job.data {
        DataSource::Files { onehot, inputs, targets } => {
            if targets.is_empty() {
                return Err(Error::InvalidArgument("give at least one target file".into()));
            }
            let mut d = data::from_files(onehot, targets)?;
            input_names = multi::input_names(std::slice::from_ref(onehot));
            if !inputs.is_empty() {
                let files: Vec<PathBuf> = std::iter::once(onehot.clone()).chain(inputs.iter().cloned()).collect();
                let names = multi::input_names(&files);
                multi::attach_inputs(&mut d, inputs, &names[1..])?;
                input_names = names;
            }
            Some(d)
        }
        DataSource::Genome { .. } => None,
    };
    let modality_shapes: Vec<(String, usize)> = match (&dataset, &job.data) {
        (Some(d), _) => d.modalities.iter().map(|m| (m.name.clone(), m.tracks.len())).collect(),
        (None, DataSource::Genome { bigwigs, .. }) => {
            bigwigs.iter().enumerate().map(|(i, g)| (arch_group_name(job, i, bigwigs.len()), g.len())).collect()
        }
        _ => unreachable!("files data is loaded above"),
    };
    // 2. The model.
    let data_n = dataset.as_ref().and_then(|d| detect_n_value(&d.x));
    let (mut spec, mut weights) = match &job.model {
        ModelSource::Arch(name, sizes) => {
            let mut sizes = *sizes;
            if sizes.length.is_none() {
                sizes.length = dataset.as_ref().map(|d| d.length as u64);
            }
            if let DataSource::Genome { control, .. } = &job.data {
                if !control.is_empty() && name != "bpnet" {
                    return Err(Error::InvalidArgument(format!(
                        "control tracks (--control) are read by --arch bpnet, not {name}"
                    )));
                }
                sizes.control = control.len();
            }
            let mut spec = match (name.as_str(), &dataset) {
                (presets::DRG_MULTI, Some(d)) => {
                    let inputs: Vec<(String, u64)> = std::iter::once(d.length)
                        .chain(d.inputs.iter().map(|i| i.length))
                        .zip(&input_names)
                        .map(|(l, n)| (n.clone(), l as u64))
                        .collect();
                    if sizes.embedding.is_some()
                        && !matches!(sizes.merge, None | Some(crate::model::graph::Merge::Concat))
                    {
                        tracing::warn!("--embedding applies to --merge concat; the analytic merges read tracks out of each CNN directly");
                    }
                    let combination = match sizes.merge {
                        None | Some(crate::model::graph::Merge::Concat) => multi::Combination::Concat,
                        Some(m) => multi::Combination::Analytic(m),
                    };
                    let mut s = multi::drg_multi(
                        sizes,
                        &inputs,
                        sizes.embedding.unwrap_or(512),
                        combination,
                        &modality_shapes,
                    )?;
                    s.source = preset_source(name);
                    s
                }
                (presets::DRG_MULTI, None) => {
                    return Err(Error::InvalidArgument(
                        "drg-multi trains on one-hot files (--onehot a.npz,b.npz --targets …), not genome windows"
                            .into(),
                    ))
                }
                _ => preset(name, sizes, &modality_shapes)?,
            };
            if let Some(n) = data_n {
                spec.input.n_value = n;
            }
            let w = init_weights(&spec.analyze()?.weights, job.cfg.seed)?;
            (spec, w)
        }
        ModelSource::Spec(path) => {
            let spec = ModelSpec::read(path)?;
            let w = init_weights(&spec.analyze()?.weights, job.cfg.seed)?;
            (spec, w)
        }
        ModelSource::Init { package, heads, tracks } => {
            let pkg = Package::open(package)?;
            let mut spec = pkg.spec.ok_or_else(|| {
                Error::InvalidArgument(format!("{}: a bare ONNX file cannot be fine-tuned", package.display()))
            })?;
            let mut w = pkg.weights.ok_or_else(|| {
                Error::InvalidArgument(format!("{}: the package has no model.safetensors", package.display()))
            })?;
            if !tracks.is_empty() {
                let keep = resolve_tracks(&spec, 0, tracks)?;
                select_tracks(&mut spec, &mut w, 0, &keep)?;
            }
            match heads {
                HeadMode::Keep => {
                    if modality_shapes.len() > spec.heads.len() {
                        return Err(Error::InvalidArgument(format!(
                            "{} target sets for a model with {} heads: use --new-head or --add-head",
                            modality_shapes.len(),
                            spec.heads.len()
                        )));
                    }
                }
                mode => new_heads(&mut spec, &mut w, &modality_shapes, *mode, job.cfg.seed)?,
            }
            (spec, w)
        }
    };
    if let (Some(n), false) = (data_n, matches!(job.model, ModelSource::Arch(..))) {
        if n != spec.input.n_value {
            tracing::warn!("the one-hot data encodes N as {n} but the model's input says {}", spec.input.n_value);
        }
    }
    // Keep-mode heads take their target sets in order when names differ.
    if let (ModelSource::Init { heads: HeadMode::Keep, .. } | ModelSource::Spec(_), Some(d)) =
        (&job.model, &mut dataset)
    {
        if d.modalities.len() > spec.heads.len() {
            return Err(Error::InvalidArgument(format!(
                "{} target sets (--targets) for a model with {} head(s) ({}); give one target set per head",
                d.modalities.len(),
                spec.heads.len(),
                spec.heads.iter().map(|h| h.name.as_str()).collect::<Vec<_>>().join(", ")
            )));
        }
        for (i, m) in d.modalities.iter_mut().enumerate() {
            if !spec.heads.iter().any(|h| h.name == m.name) {
                m.name = spec.heads[i].name.clone();
            }
        }
    }
    // 3. Genome data, binned by the heads' geometry.
    let dataset = match (dataset, &job.data) {
        (Some(d), _) => d,
        (None, DataSource::Genome { fasta, bed, ignore_summits, stride, chroms, bigwigs, stat, control }) => {
            let analysis = spec.analyze()?;
            let len = spec.input.length;
            let mut fa = Fasta::open(fasta)?;
            let records = bed.as_ref().map(read_bed).transpose()?;
            let windows = data::genome_windows(
                &fa.chrom_sizes(),
                records.as_deref(),
                len,
                *stride,
                chroms.as_deref(),
                *ignore_summits,
            )?;
            let mut groups = Vec::new();
            for (i, files) in bigwigs.iter().enumerate() {
                let name =
                    if matches!(job.model, ModelSource::Spec(_) | ModelSource::Init { heads: HeadMode::Keep, .. }) {
                        spec.heads.get(i).map(|h| h.name.clone()).unwrap_or_else(|| group_name(i, bigwigs.len()))
                    } else {
                        arch_group_name(job, i, bigwigs.len())
                    };
                let h =
                    spec.heads.iter().position(|h| h.name == name).ok_or_else(|| {
                        Error::InvalidArgument(format!("no head {name:?} for bigWig group {}", i + 1))
                    })?;
                groups.push(BigwigGroup { name, files: files.clone(), geometry: analysis.heads[h].1 });
            }
            let mut d = data::from_genome(&mut fa, &windows, len as usize, spec.input.n_value, &groups, *stat)?;
            if !control.is_empty() {
                let name = spec.inputs.first().map_or("control", |i| i.name.as_str());
                d.inputs.push(multi::control_from_bigwigs(name, &windows, len as usize, control)?);
            }
            d
        }
        _ => unreachable!(),
    };
    // Further inputs (one-hot files after the first, control tracks), in the model's input order.
    let mut dataset = dataset;
    if !spec.inputs.is_empty() || !dataset.inputs.is_empty() {
        let what = match &job.data {
            DataSource::Files { onehot, .. } => onehot,
            DataSource::Genome { fasta, .. } => fasta,
        };
        multi::match_inputs(&spec, &mut dataset, what)?;
    }
    // The bpnet architecture: the count head learns log(1 + the profile's total).
    let mut cfg = job.cfg.clone();
    if matches!(&job.model, ModelSource::Arch(a, _) if a == "bpnet") {
        let (lambda, mean_log) = add_bpnet_counts(&mut dataset)?;
        // The count read-out starts at the mean log count, so that Adam's bounded steps need not
        // carry its bias there from 0 (hundreds of steps for a log count of 5).
        if let Ok(b) = weights.get("linear.bias") {
            let mut b = b.clone();
            b.data.iter_mut().for_each(|v| *v = mean_log as f32);
            weights.insert("linear.bias", b);
        }
        let lambda = cfg.count_weight.unwrap_or(lambda);
        tracing::info!(
            "bpnet: loss = joint multinomial NLL of the profile + {lambda:.4} × MSE of log(1 + total count)"
        );
        cfg.head_losses = vec![(Loss::MultinomialJoint, 1.0), (Loss::Mse, lambda)];
    }
    // 4. Track tables from the targets.
    let sources: Vec<Option<String>> = match &job.data {
        DataSource::Files { targets, .. } => targets.iter().map(|t| Some(t.display().to_string())).collect(),
        DataSource::Genome { .. } => vec![None; dataset.modalities.len()],
    };
    for (m, src) in dataset.modalities.iter().zip(&sources) {
        if let Some(h) = spec.heads.iter_mut().find(|h| h.name == m.name) {
            h.tracks = m
                .tracks
                .iter()
                .enumerate()
                .map(|(i, t)| Track {
                    index: i,
                    identifier: t.clone(),
                    description: t.clone(),
                    file: src.clone(),
                    clip: None,
                    scale: None,
                    sum_stat: None,
                })
                .collect();
        }
    }
    head_map(&spec, &dataset)?;
    // 5. Split.
    let sets = match &job.split {
        SplitSource::Folds(path, fold) => data::sets_from_folds(&dataset, &Folds::read(path)?, *fold)?,
        SplitSource::File(path) => data::sets_from_split(&dataset, path)?,
        SplitSource::Random(v, t) => data::random_sets(dataset.len(), *v, *t, job.cfg.seed)?,
    };
    // 6. Train (the output folder is made when the package is written).
    if job.cuda {
        #[cfg(feature = "cuda")]
        {
            // burn's CUDA runtime panics when no driver or device is usable: report that as an
            // error instead of aborting.
            let run = std::panic::AssertUnwindSafe(|| {
                let device = burn::backend::cuda::CudaDevice::default();
                finish::<burn::backend::Cuda>(job, &cfg, spec, weights, &dataset, &sets, &device, on_epoch)
            });
            return std::panic::catch_unwind(run).unwrap_or_else(|panic| {
                let what = panic
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                    .unwrap_or_default();
                Err(Error::Training(format!("CUDA training failed (is a CUDA GPU and driver usable?): {what}")))
            });
        }
        #[cfg(not(feature = "cuda"))]
        return Err(Error::Training(
            "this s2f was built without CUDA training: rebuild with `cargo build --release --features cuda`".into(),
        ));
    }
    finish::<burn::backend::NdArray<f32>>(job, &cfg, spec, weights, &dataset, &sets, &Default::default(), on_epoch)
}

#[allow(clippy::too_many_arguments)]
fn finish<B: Backend>(
    job: &TrainJob,
    cfg: &TrainConfig,
    mut spec: ModelSpec,
    weights: Weights,
    dataset: &Dataset,
    sets: &[Set],
    device: &B::Device,
    on_epoch: &mut dyn FnMut(&EpochLog),
) -> Result<TrainSummary> {
    let t0 = Instant::now();
    let outcome = train::<B>(&spec, &weights, dataset, sets, cfg, device, on_epoch)?;
    let seconds = t0.elapsed().as_secs_f64();
    // Provenance.
    let mut notes = spec.source.as_ref().map(|s| s.notes.clone()).unwrap_or_default();
    notes.insert("trained_with".into(), format!("s2f {} (burn)", env!("CARGO_PKG_VERSION")));
    notes.insert("loss".into(), format!("{:?}", cfg.loss));
    notes.insert("optimizer".into(), format!("{:?}", cfg.optim));
    notes.insert("seed".into(), cfg.seed.to_string());
    notes.insert("epochs".into(), format!("{} run, best {}", outcome.log.len(), outcome.best_epoch));
    notes.insert("stopped".into(), outcome.stop.clone());
    if !cfg.freeze.is_empty() {
        notes.insert("frozen".into(), cfg.freeze.join(", "));
    }
    if let ModelSource::Init { package, .. } = &job.model {
        notes.insert("init".into(), package.display().to_string());
    }
    let files: Vec<String> = match &job.data {
        DataSource::Files { onehot, inputs, targets } => {
            std::iter::once(onehot).chain(inputs).chain(targets).map(|p| p.display().to_string()).collect()
        }
        DataSource::Genome { fasta, bed, bigwigs, control, .. } => std::iter::once(fasta)
            .chain(bed)
            .chain(bigwigs.iter().flatten())
            .chain(control)
            .map(|p| p.display().to_string())
            .collect(),
    };
    spec.source = Some(Source { format: "s2f-train".into(), files, sha256: vec![], notes });
    Package::write(&job.out, &spec, &outcome.weights, EmitOptions::default())?;
    report::write_log(&job.out.join("training_log.csv"), &outcome.log)?;
    report::plot_losses(
        &job.out.join("loss_curve.png"),
        &outcome.log,
        outcome.best_epoch,
        &format!("{} — training", spec.name),
    )?;
    // Correlations with the kept weights.
    let store = ParamStore::<B>::from_weights(&outcome.weights, device);
    let heads = head_map(&spec, dataset)?;
    let mut track_rows = Vec::new();
    let mut point_rows = Vec::new();
    let mut set_r = [f64::NAN, f64::NAN];
    for (k, (set, label)) in [(Set::Valid, "valid"), (Set::Test, "test")].into_iter().enumerate() {
        let idx: Vec<usize> = (0..dataset.len()).filter(|&i| sets[i] == set).collect();
        if idx.is_empty() {
            continue;
        }
        let preds = predict::<B>(&spec, &store, dataset, &idx, cfg.batch, cfg.im2col, device)?;
        let mut all = Vec::new();
        for (m, &h) in dataset.modalities.iter().zip(&heads) {
            let y = gather(m, &idx);
            let shape = [idx.len(), m.bins, m.tracks.len()];
            for (t, r) in per_track_pearson(&preds[h], &y, shape).into_iter().enumerate() {
                all.push(r);
                track_rows.push(CorrRow {
                    set: label,
                    head: m.name.clone(),
                    name: m.tracks[t].clone(),
                    r,
                    n: idx.len() * m.bins,
                });
            }
            for (i, r) in per_point_pearson(&preds[h], &y, shape).into_iter().enumerate() {
                point_rows.push(CorrRow {
                    set: label,
                    head: m.name.clone(),
                    name: dataset.names[idx[i]].clone(),
                    r,
                    n: m.width(),
                });
            }
        }
        let finite: Vec<f64> = all.into_iter().filter(|r| r.is_finite()).collect();
        if !finite.is_empty() {
            set_r[k] = finite.iter().sum::<f64>() / finite.len() as f64;
        }
    }
    report::write_correlations(&job.out.join("correlations_tracks.tsv"), "track", &track_rows)?;
    report::write_correlations(&job.out.join("correlations_points.tsv"), "name", &point_rows)?;
    if let Some(dir) = &cfg.checkpoint {
        if dir.exists() {
            std::fs::remove_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        }
    }
    Ok(TrainSummary {
        log: outcome.log,
        best_epoch: outcome.best_epoch,
        valid_r: set_r[0],
        test_r: set_r[1],
        steps: outcome.steps,
        stop: outcome.stop,
        seconds,
    })
}

/// Adds the `bpnet` architecture's count targets: log(1 + Σ profile) per data point over every
/// bin and strand of the first modality (the profile), as modality `counts`. Returns BPNet's
/// suggested count-loss weight, half the mean total count, and the mean log count.
fn add_bpnet_counts(data: &mut Dataset) -> Result<(f64, f64)> {
    let profile = data
        .modalities
        .first()
        .ok_or_else(|| Error::InvalidArgument("bpnet needs a profile to train on (--bigwigs)".into()))?;
    let w = profile.width();
    let totals: Vec<f64> = profile.values.chunks(w).map(|r| r.iter().map(|&v| v as f64).sum()).collect();
    if let Some(i) = totals.iter().position(|t| !t.is_finite() || *t < 0.0) {
        return Err(Error::InvalidArgument(format!(
            "bpnet: data point {i} has a negative or non-finite profile total ({}); profiles are read counts",
            totals[i]
        )));
    }
    let mean = totals.iter().sum::<f64>() / totals.len().max(1) as f64;
    let mean_log = totals.iter().map(|t| t.ln_1p()).sum::<f64>() / totals.len().max(1) as f64;
    let counts = data::Modality {
        name: crate::train::presets::BPNET_COUNTS.into(),
        tracks: vec!["log_counts".into()],
        bins: 1,
        values: totals.iter().map(|t| t.ln_1p() as f32).collect(),
    };
    data.modalities.push(counts);
    Ok(((mean / 2.0).max(1e-6), mean_log))
}
