//! The training loop: mini-batches from the training set with random reverse-complement and
//! shift augmentation, one optimiser step per batch, validation after every epoch, early
//! stopping on the validation loss with the best weights restored.
//!
//! Reproducibility: initial weights, batch order and augmentation come from ChaCha8 streams of
//! one seed ([`super::init::stream`]); burn's CPU backend computes each value in a fixed order,
//! so the same command gives bit-identical weights (tested).

use std::collections::{BTreeMap, HashMap};
use std::time::Instant;

use burn::backend::Autodiff;
use burn::tensor::backend::Backend;
use burn::tensor::{Tensor, TensorData};
use rand::seq::SliceRandom;

use crate::error::{Error, Result};
use crate::model::analysis::Analysis;
use crate::model::spec::ModelSpec;
use crate::model::weights::Weights;
use crate::train::batch::input_tensor;
pub use crate::train::batch::{make_batch, BatchInputs};
use crate::train::checkpoint;
use crate::train::data::{Dataset, Set};
use crate::train::init::stream;
use crate::train::loss::Loss;
pub use crate::train::metrics::{pearson, per_point_pearson, per_track_pearson};
use crate::train::net::{to_vec, Interpreter, ParamKind, ParamStore};
use crate::train::optim::{OptimConfig, Optimizer};

/// Batch-norm running-average momentum (PyTorch's 0.1).
const BN_MOMENTUM: f32 = 0.1;

/// Loop settings.
#[derive(Debug, Clone)]
pub struct TrainConfig {
    /// Loss for every head.
    pub loss: Loss,
    /// Per-modality (loss, weight), overriding `loss` when not empty (BPNet: the profile's
    /// multinomial plus λ times the count head's MSE).
    pub head_losses: Vec<(Loss, f64)>,
    /// The `bpnet` architecture's λ, the weight of the count head's MSE (default: half the mean
    /// total count of the profile targets, BPNet's suggestion).
    pub count_weight: Option<f64>,
    /// Optimiser, learning rate, warm-up, clipping.
    pub optim: OptimConfig,
    /// Maximum epochs.
    pub epochs: usize,
    /// Batch size.
    pub batch: usize,
    /// Epochs without a better validation loss before stopping (0: never stop early).
    pub patience: usize,
    /// Reduce on plateau: after this many epochs without a better validation loss the learning
    /// rate is multiplied by `lr_factor` (again after as many more); 0 keeps it constant.
    pub lr_patience: usize,
    /// Factor of each plateau reduction (in (0, 1)).
    pub lr_factor: f32,
    /// Reverse-complement each training sequence with probability ½ (profile targets are
    /// reversed along their bins).
    pub rc: bool,
    /// Shift each training sequence by a uniform random −shift..=shift bp, filling with N.
    pub shift: usize,
    /// Seed of every random choice.
    pub seed: u64,
    /// Weight-name prefixes not to train (see [`is_frozen`]).
    pub freeze: Vec<String>,
    /// Convolutions as im2col matrix products (see [`Interpreter::with_im2col`]); right for
    /// burn's ndarray CPU backend, whose direct convolution is slow.
    pub im2col: bool,
    /// Folder for per-epoch checkpoints ([`super::checkpoint`]); a matching checkpoint there is
    /// resumed.
    pub checkpoint: Option<std::path::PathBuf>,
}

impl TrainConfig {
    /// The loss and its weight for modality `m`.
    pub fn loss_for(&self, m: usize) -> (Loss, f64) {
        self.head_losses.get(m).copied().unwrap_or((self.loss, 1.0))
    }
}

/// Whether weight `name` is frozen by one of `prefixes` (a layer name or path such as
/// `conv1`, `trunk.2` or `trunk`: the name itself or anything under it).
pub fn is_frozen(name: &str, prefixes: &[String]) -> bool {
    prefixes.iter().any(|p| name == p || name.starts_with(&format!("{p}.")))
}

/// One row of the training log.
#[derive(Debug, Clone, PartialEq)]
pub struct EpochLog {
    /// 1-based epoch.
    pub epoch: usize,
    /// Mean training loss over the epoch's batches.
    pub train_loss: f64,
    /// Validation loss (weighted by batch size).
    pub valid_loss: f64,
    /// Mean over tracks of the per-track Pearson r on validation data.
    pub valid_r: f64,
    /// Learning rate at the end of the epoch.
    pub lr: f64,
    /// Wall seconds for the epoch (training and validation).
    pub seconds: f64,
}

/// What training returns.
#[derive(Debug, Clone)]
pub struct TrainOutcome {
    /// The best weights (lowest validation loss).
    pub weights: Weights,
    /// One row per epoch run.
    pub log: Vec<EpochLog>,
    /// Epoch whose weights were kept.
    pub best_epoch: usize,
    /// Optimiser steps taken.
    pub steps: usize,
    /// Why training stopped, in words (for the log and the package's notes).
    pub stop: String,
}

/// Predictions of one head for a set of data points: `(N, bins, tracks)` on the host.
pub type HeadPredictions = Vec<f32>;

/// Trains `spec` from `init` on `data` split by `sets` on `device` (burn backend `B` with
/// autodiff). `on_epoch` sees each log row as it is made.
pub fn train<B: Backend>(
    spec: &ModelSpec,
    init: &Weights,
    data: &Dataset,
    sets: &[Set],
    cfg: &TrainConfig,
    device: &B::Device,
    on_epoch: &mut dyn FnMut(&EpochLog),
) -> Result<TrainOutcome> {
    let analysis = spec.analyze()?;
    init.check(&analysis.weights, std::path::Path::new("initial weights"))?;
    let heads = head_map(spec, data)?;
    for (m, &hi) in heads.iter().enumerate() {
        let (h, (_, g)) = (&spec.heads[hi], &analysis.heads[hi]);
        cfg.loss_for(m).0.check_head(h, g.bins)?;
        if cfg.rc && g.bins > 1 && 2 * g.offset + (g.bins * g.bin_size) as i64 != spec.input.length as i64 {
            return Err(Error::InvalidArgument(format!(
                "head {:?}: its bins are not centred in the window, so reverse-complement augmentation cannot \
                 reverse its targets; train without --rc",
                h.name
            )));
        }
    }
    if cfg.batch == 0 || cfg.epochs == 0 {
        return Err(Error::InvalidArgument("batch size and epochs must be positive".into()));
    }
    if cfg.lr_patience > 0 && !(cfg.lr_factor > 0.0 && cfg.lr_factor < 1.0) {
        return Err(Error::InvalidArgument(format!(
            "the learning-rate factor must lie strictly between 0 and 1, not {}",
            cfg.lr_factor
        )));
    }
    let mut store = ParamStore::<B>::from_weights(init, device);
    let mut matched = vec![false; cfg.freeze.len()];
    for (name, p) in store.params.iter_mut() {
        for (i, pre) in cfg.freeze.iter().enumerate() {
            if is_frozen(name, std::slice::from_ref(pre)) {
                p.frozen = true;
                matched[i] = true;
            }
        }
    }
    if let Some(i) = matched.iter().position(|m| !m) {
        return Err(Error::InvalidArgument(format!(
            "--freeze {:?} matches no weight; weights are named {}",
            cfg.freeze[i],
            store.params.keys().take(8).cloned().collect::<Vec<_>>().join(", ")
        )));
    }
    let train_idx: Vec<usize> = (0..data.len()).filter(|&i| sets[i] == Set::Train).collect();
    let valid_idx: Vec<usize> = (0..data.len()).filter(|&i| sets[i] == Set::Valid).collect();
    tracing::info!(
        "training {} values ({} frozen tensors) on {} sequences, validating on {}",
        store.trainable_values(),
        store.params.values().filter(|p| p.frozen).count(),
        train_idx.len(),
        valid_idx.len()
    );
    let mut opt = Optimizer::<B>::new(cfg.optim);
    let mut order_rng = stream(cfg.seed, 1);
    let mut aug_rng = stream(cfg.seed, 2);
    let mut log = Vec::new();
    let mut best: Option<(f64, usize, ParamStore<B>)> = None;
    let mut steps = 0;
    let mut first_epoch = 1;
    let fingerprint = checkpoint::fingerprint(&format!(
        "{}|{:?}|{}|{:?}|{:?}|{}",
        spec.to_json(),
        TrainConfig { checkpoint: None, ..cfg.clone() },
        init.len_values(),
        init.tensors.iter().next().map(|(k, t)| (k, t.data.iter().take(8).map(|v| v.to_bits()).collect::<Vec<_>>())),
        (train_idx.len(), valid_idx.len(), data.names.first(), data.names.last()),
        data.modalities
            .iter()
            .map(|m| format!("{}:{}x{}", m.name, m.bins, m.tracks.len()))
            .collect::<Vec<_>>()
            .join(",")
    ));
    if let Some(dir) = &cfg.checkpoint {
        if let Some((state, mut groups)) = checkpoint::load(dir)? {
            if state.fingerprint != fingerprint {
                return Err(Error::InvalidArgument(format!(
                    "{} holds a checkpoint of a different training run (model, data or settings differ): \
                     remove it, or use another output folder",
                    dir.display()
                )));
            }
            let upload =
                |g: Option<BTreeMap<String, crate::model::weights::Tensor>>| -> BTreeMap<String, Tensor<B, 1>> {
                    g.unwrap_or_default()
                        .into_iter()
                        .map(|(k, t)| {
                            let n = t.data.len();
                            (k, Tensor::from_data(TensorData::new(t.data, [n]), device))
                        })
                        .collect()
                };
            let restore = |store: &mut ParamStore<B>, g: BTreeMap<String, Tensor<B, 1>>| {
                for (k, v) in g {
                    if let Some(p) = store.params.get_mut(&k) {
                        p.value = v;
                    }
                }
            };
            restore(&mut store, upload(groups.remove("p")));
            opt.restore(state.opt_step, upload(groups.remove("m")), upload(groups.remove("v")));
            opt.set_scale(state.lr_scale);
            if let Some((loss, epoch)) = state.best {
                let mut b = store.clone();
                restore(&mut b, upload(groups.remove("b")));
                best = Some((loss, epoch, b));
            }
            order_rng.set_word_pos(state.rng.0);
            aug_rng.set_word_pos(state.rng.1);
            steps = state.steps;
            log = state.log_rows();
            first_epoch = state.epoch + 1;
            tracing::info!("resuming from the checkpoint after epoch {} in {}", state.epoch, dir.display());
        }
    }
    let abort_after: Option<usize> = std::env::var("S2F_TEST_ABORT_AFTER_EPOCHS").ok().and_then(|v| v.parse().ok());
    let mut order = train_idx.clone();
    let stopped = |log: &[EpochLog], best: &Option<(f64, usize, ParamStore<B>)>| {
        let last = log.last().map(|r| r.epoch).unwrap_or(0);
        cfg.patience > 0 && best.as_ref().is_some_and(|(_, e, _)| last - e >= cfg.patience)
    };
    for epoch in first_epoch..=cfg.epochs {
        if stopped(&log, &best) {
            break;
        }
        let t0 = Instant::now();
        order.clone_from(&train_idx);
        order.shuffle(&mut order_rng);
        let mut loss_sum = 0.0;
        let mut batches = 0;
        let analysis = spec.analyze()?;
        for chunk in order.chunks(cfg.batch) {
            let (x, ys) = make_batch::<Autodiff<B>>(spec, data, chunk, cfg, &mut aug_rng, device);
            let loss = train_step(spec, &analysis, &heads, &mut store, &mut opt, cfg, x, ys)?;
            if !loss.is_finite() {
                return Err(Error::Training(format!(
                    "the training loss became {loss} at epoch {epoch}: lower --lr or add --clip"
                )));
            }
            loss_sum += loss;
            batches += 1;
            steps += 1;
        }
        let (valid_loss, valid_r) = evaluate(spec, &heads, &store, data, &valid_idx, cfg, device)?;
        let row = EpochLog {
            epoch,
            train_loss: loss_sum / batches.max(1) as f64,
            valid_loss,
            valid_r,
            lr: opt.lr() as f64,
            seconds: t0.elapsed().as_secs_f64(),
        };
        on_epoch(&row);
        log.push(row);
        if best.as_ref().is_none_or(|(b, _, _)| valid_loss < *b) {
            best = Some((valid_loss, epoch, store.clone()));
        }
        let since_best = best.as_ref().map_or(0, |(_, e, _)| epoch - e);
        if cfg.lr_patience > 0 && since_best > 0 && since_best.is_multiple_of(cfg.lr_patience) && !stopped(&log, &best)
        {
            let lr = opt.reduce(cfg.lr_factor);
            tracing::info!("no better validation loss for {since_best} epochs: learning rate lowered to {lr:.3e}");
        }
        if let Some(dir) = &cfg.checkpoint {
            checkpoint::save_run(dir, &fingerprint, epoch, steps, &opt, &log, &best, &store, (&order_rng, &aug_rng))?;
            if abort_after == Some(epoch) {
                tracing::warn!("S2F_TEST_ABORT_AFTER_EPOCHS: stopping the process after epoch {epoch}");
                std::process::exit(86);
            }
        }
    }
    let early = stopped(&log, &best);
    let (_, best_epoch, best_store) = best.ok_or_else(|| Error::InvalidArgument("no epoch ran".into()))?;
    let last = log.last().map_or(0, |r| r.epoch);
    let stop = if early {
        format!("early stop after epoch {last}: no better validation loss for {} epochs", cfg.patience)
    } else if best_epoch + 1 >= last && last > 1 {
        let msg = format!(
            "reached --epochs {}; the validation loss was still falling (best at epoch {best_epoch}): \
             more --epochs may give a better model",
            cfg.epochs
        );
        tracing::warn!("{msg}");
        msg
    } else {
        format!("reached --epochs {}", cfg.epochs)
    };
    Ok(TrainOutcome { weights: best_store.to_weights()?, log, best_epoch, steps, stop })
}

/// Checks the data against the model and maps each modality to the head of the same name.
pub fn head_map(spec: &ModelSpec, data: &Dataset) -> Result<Vec<usize>> {
    if data.length as u64 != spec.input.length {
        return Err(Error::InvalidArgument(format!(
            "the sequences are {} bp but the model reads {} bp",
            data.length, spec.input.length
        )));
    }
    let analysis = spec.analyze()?;
    let mut map = Vec::new();
    for m in &data.modalities {
        let h = spec.heads.iter().position(|h| h.name == m.name).ok_or_else(|| {
            Error::InvalidArgument(format!(
                "targets {:?} have no head of that name; the model's heads are {}",
                m.name,
                spec.heads.iter().map(|h| h.name.as_str()).collect::<Vec<_>>().join(", ")
            ))
        })?;
        let (name, g) = &analysis.heads[h];
        if m.bins as u64 != g.bins || m.tracks.len() as u64 != g.tracks {
            return Err(Error::InvalidArgument(format!(
                "targets {:?} are {} bins × {} tracks per data point, but head {name:?} outputs {} × {}",
                m.name,
                m.bins,
                m.tracks.len(),
                g.bins,
                g.tracks
            )));
        }
        map.push(h);
    }
    if map.is_empty() {
        return Err(Error::InvalidArgument("no targets to train on".into()));
    }
    Ok(map)
}

/// One optimiser step on a batch; `heads[m]` is the head of modality `m`. Returns the batch loss.
#[allow(clippy::too_many_arguments)]
pub fn train_step<B: Backend>(
    spec: &ModelSpec,
    analysis: &Analysis,
    heads: &[usize],
    store: &mut ParamStore<B>,
    opt: &mut Optimizer<B>,
    cfg: &TrainConfig,
    x: BatchInputs<Autodiff<B>>,
    ys: Vec<Tensor<Autodiff<B>, 3>>,
) -> Result<f64> {
    let tensors: HashMap<String, (Tensor<Autodiff<B>, 1>, bool)> = store
        .params
        .iter()
        .map(|(name, p)| {
            let t = Tensor::<Autodiff<B>, 1>::from_inner(p.value.clone());
            let trainable = p.kind == ParamKind::Weight && !p.frozen;
            (name.clone(), (if trainable { t.require_grad() } else { t }, trainable))
        })
        .collect();
    let get = |name: &str| tensors.get(name).map(|(t, _)| t.clone());
    let mut interp = Interpreter::new(spec, analysis, &get, true).with_im2col(cfg.im2col);
    let outs = interp.forward_with(x.x, x.extra)?;
    let mut total: Option<Tensor<Autodiff<B>, 1>> = None;
    for (m, (&h, y)) in heads.iter().zip(ys).enumerate() {
        let (loss, weight) = cfg.loss_for(m);
        let l = loss.compute(outs[h].clone(), y) * weight;
        total = Some(match total {
            Some(t) => t + l,
            None => l,
        });
    }
    let total = total.ok_or_else(|| Error::InvalidArgument("no targets to train on".into()))?;
    let grads = total.backward();
    let mut gmap = BTreeMap::new();
    for (name, (t, trainable)) in &tensors {
        if *trainable {
            if let Some(g) = t.grad(&grads) {
                gmap.insert(name.clone(), g);
            }
        }
    }
    let loss = to_vec(total.inner())?[0] as f64;
    opt.step(store, gmap)?;
    // Running statistics of batch norms follow the batch statistics (unless frozen).
    for (prefix, mean, var) in std::mem::take(&mut interp.stats) {
        for (param, batch) in [("mean", mean), ("var", var)] {
            if let Some(p) = store.params.get_mut(&format!("{prefix}.{param}")) {
                if p.frozen {
                    continue;
                }
                let device = p.value.device();
                let b = Tensor::<B, 1>::from_data(TensorData::new(batch, [p.shape[0]]), &device);
                p.value = p.value.clone() * (1.0 - BN_MOMENTUM) as f64 + b * BN_MOMENTUM as f64;
            }
        }
    }
    Ok(loss)
}

/// Predictions of every head for data points `idx` (inference mode), `(N, bins, tracks)` each.
pub fn predict<B: Backend>(
    spec: &ModelSpec,
    store: &ParamStore<B>,
    data: &Dataset,
    idx: &[usize],
    batch_size: usize,
    im2col: bool,
    device: &B::Device,
) -> Result<Vec<HeadPredictions>> {
    let get = |name: &str| store.params.get(name).map(|p| p.value.clone());
    let analysis = spec.analyze()?;
    let mut outs: Vec<Vec<f32>> = vec![Vec::new(); spec.heads.len()];
    let l = data.length;
    for chunk in idx.chunks(batch_size.max(1)) {
        let mut x = Vec::with_capacity(chunk.len() * l * 4);
        for &i in chunk {
            x.extend_from_slice(&data.x[i * l * 4..(i + 1) * l * 4]);
        }
        let xt = Tensor::<B, 3>::from_data(TensorData::new(x, [chunk.len(), l, 4]), device);
        let extra = data
            .inputs
            .iter()
            .zip(&spec.inputs)
            .map(|(d, inp)| {
                let w = d.width();
                let v: Vec<f32> = chunk.iter().flat_map(|&i| d.x[i * w..(i + 1) * w].iter().copied()).collect();
                input_tensor(v, d, inp, chunk.len(), device)
            })
            .collect();
        let mut interp = Interpreter::new(spec, &analysis, &get, false).with_im2col(im2col);
        for (o, y) in outs.iter_mut().zip(interp.forward_with(xt, extra)?) {
            o.extend(to_vec(y)?);
        }
    }
    Ok(outs)
}

/// Validation loss and mean per-track Pearson r over data points `idx`.
fn evaluate<B: Backend>(
    spec: &ModelSpec,
    heads: &[usize],
    store: &ParamStore<B>,
    data: &Dataset,
    idx: &[usize],
    cfg: &TrainConfig,
    device: &B::Device,
) -> Result<(f64, f64)> {
    let preds = predict(spec, store, data, idx, cfg.batch, cfg.im2col, device)?;
    let mut loss = 0.0;
    let mut rs = Vec::new();
    for (mi, (m, &h)) in data.modalities.iter().zip(heads).enumerate() {
        let (loss_fn, weight) = cfg.loss_for(mi);
        let p = &preds[h];
        let y = gather(m, idx);
        let t = m.tracks.len();
        let shape = [idx.len(), m.bins, t];
        // The loss over the whole set in batches of the training size, weighted by batch size.
        let w = m.width();
        for start in (0..idx.len()).step_by(cfg.batch) {
            let end = (start + cfg.batch).min(idx.len());
            let pt = Tensor::<B, 3>::from_data(
                TensorData::new(p[start * w..end * w].to_vec(), [end - start, m.bins, t]),
                device,
            );
            let yt = Tensor::<B, 3>::from_data(
                TensorData::new(y[start * w..end * w].to_vec(), [end - start, m.bins, t]),
                device,
            );
            loss += to_vec(loss_fn.compute(pt, yt))?[0] as f64 * weight * (end - start) as f64 / idx.len() as f64;
        }
        rs.extend(per_track_pearson(p, &y, shape));
    }
    let finite: Vec<f64> = rs.iter().copied().filter(|r| r.is_finite()).collect();
    let mean_r = if finite.is_empty() { f64::NAN } else { finite.iter().sum::<f64>() / finite.len() as f64 };
    Ok((loss, mean_r))
}

/// A modality's targets for data points `idx`, `(N, bins, tracks)`.
pub fn gather(m: &crate::train::data::Modality, idx: &[usize]) -> Vec<f32> {
    let w = m.width();
    let mut y = Vec::with_capacity(idx.len() * w);
    for &i in idx {
        y.extend_from_slice(&m.values[i * w..(i + 1) * w]);
    }
    y
}
