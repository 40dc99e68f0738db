//! Per-epoch checkpoints, so an interrupted `s2f train` resumes where it stopped and ends with
//! the weights an uninterrupted run gives (bit-identical: tensors round-trip exactly through
//! safetensors, and the random streams continue from their saved positions).
//!
//! Folder `OUT/.s2f-checkpoint/`: `state.safetensors` holds the current tensors (`p/<name>`), the
//! optimiser's moments (`m/<name>`, `v/<name>`) and the best epoch's tensors (`b/<name>`);
//! `state.json` the epoch, step counts, log, best loss and epoch, random stream positions and a
//! fingerprint of the run (spec, data sizes, settings) that must match to resume. Both files are
//! written atomically; the folder is removed when the run finishes.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::io::atomic::{write_atomic, AtomicFile};
use crate::model::weights::{Tensor, Weights};
use crate::train::net::{to_vec, ParamStore};
use crate::train::optim::Optimizer;
use crate::train::trainer::EpochLog;
use burn::tensor::backend::Backend;

/// The checkpoint folder of an output folder.
pub fn dir_for(out: &Path) -> PathBuf {
    out.join(".s2f-checkpoint")
}

/// Everything but the tensors.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct State {
    /// Fingerprint of the run this checkpoint belongs to.
    pub fingerprint: String,
    /// Epochs finished.
    pub epoch: usize,
    /// Optimiser steps taken.
    pub steps: usize,
    /// The optimiser's own step counter (for warm-up and bias correction).
    pub opt_step: usize,
    /// The learning-rate factor from plateau reductions.
    #[serde(default = "one")]
    pub lr_scale: f32,
    /// Log rows so far: (epoch, train loss, valid loss, valid r, lr, seconds).
    pub log: Vec<(usize, f64, f64, f64, f64, f64)>,
    /// Best validation loss and its epoch.
    pub best: Option<(f64, usize)>,
    /// Word positions of the batch-order and augmentation streams.
    pub rng: (u128, u128),
}

impl State {
    /// The log rows as [`EpochLog`]s.
    pub fn log_rows(&self) -> Vec<EpochLog> {
        self.log
            .iter()
            .map(|&(epoch, train_loss, valid_loss, valid_r, lr, seconds)| EpochLog {
                epoch,
                train_loss,
                valid_loss,
                valid_r,
                lr,
                seconds,
            })
            .collect()
    }

    /// Log rows in storable form.
    pub fn pack_log(log: &[EpochLog]) -> Vec<(usize, f64, f64, f64, f64, f64)> {
        log.iter().map(|r| (r.epoch, r.train_loss, r.valid_loss, r.valid_r, r.lr, r.seconds)).collect()
    }
}

fn one() -> f32 {
    1.0
}

/// Tensor groups of a checkpoint, by prefix letter.
pub type Groups = BTreeMap<&'static str, BTreeMap<String, Tensor>>;

/// Writes a checkpoint (tensors first, then the state that points at them).
pub fn save(dir: &Path, state: &State, groups: &Groups) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    let mut w = Weights::default();
    for (prefix, tensors) in groups {
        for (name, t) in tensors {
            w.insert(format!("{prefix}/{name}"), t.clone());
        }
    }
    let path = dir.join("state.safetensors");
    let file = AtomicFile::create(&path)?;
    w.write_safetensors(file.tmp_path())?;
    file.commit()?;
    let json = serde_json::to_string(state).map_err(|e| Error::Training(format!("checkpoint state: {e}")))?;
    write_atomic(dir.join("state.json"), |f| std::io::Write::write_all(f, json.as_bytes()))
}

/// Reads a checkpoint, if `dir` has one.
pub fn load(dir: &Path) -> Result<Option<(State, Groups)>> {
    let json_path = dir.join("state.json");
    if !json_path.is_file() {
        return Ok(None);
    }
    let text = std::fs::read_to_string(&json_path).map_err(|e| Error::io(&json_path, e))?;
    let state: State =
        serde_json::from_str(&text).map_err(|e| Error::malformed(&json_path, "state", format!("{e}")))?;
    let w = Weights::read(dir.join("state.safetensors"))?;
    let mut groups: Groups = BTreeMap::new();
    for (key, t) in w.tensors {
        let (prefix, name) = key
            .split_once('/')
            .ok_or_else(|| Error::malformed(dir.join("state.safetensors"), key.clone(), "not a checkpoint tensor"))?;
        let prefix: &'static str = match prefix {
            "p" => "p",
            "m" => "m",
            "v" => "v",
            "b" => "b",
            other => {
                return Err(Error::malformed(dir.join("state.safetensors"), key.clone(), format!("group {other:?}")))
            }
        };
        groups.entry(prefix).or_default().insert(name.to_string(), t);
    }
    Ok(Some((state, groups)))
}

/// A short hex fingerprint of `text` (sha256, first 16 bytes).
pub fn fingerprint(text: &str) -> String {
    let mut hex = crate::io::digest::sha256_hex(text.as_bytes());
    hex.truncate(32);
    hex
}

/// Writes the checkpoint of a run after `epoch`: current and best weights, optimiser state
/// (moments, step, learning-rate scale), log and random stream positions.
#[allow(clippy::too_many_arguments)]
pub(crate) fn save_run<B: Backend>(
    dir: &std::path::Path,
    fingerprint: &str,
    epoch: usize,
    steps: usize,
    opt: &Optimizer<B>,
    log: &[EpochLog],
    best: &Option<(f64, usize, ParamStore<B>)>,
    store: &ParamStore<B>,
    rngs: (&rand_chacha::ChaCha8Rng, &rand_chacha::ChaCha8Rng),
) -> Result<()> {
    let host = |m: &BTreeMap<String, burn::tensor::Tensor<B, 1>>| -> Result<BTreeMap<String, Tensor>> {
        m.iter()
            .map(|(k, t)| {
                let v = to_vec(t.clone())?;
                Ok((k.clone(), Tensor::new(vec![v.len()], v)?))
            })
            .collect()
    };
    let flat = |s: &ParamStore<B>| host(&s.params.iter().map(|(k, p)| (k.clone(), p.value.clone())).collect());
    let (opt_step, first, second) = opt.state();
    let mut groups: Groups = BTreeMap::new();
    groups.insert("p", flat(store)?);
    groups.insert("m", host(first)?);
    groups.insert("v", host(second)?);
    if let Some((_, _, b)) = best {
        groups.insert("b", flat(b)?);
    }
    let state = State {
        fingerprint: fingerprint.to_string(),
        epoch,
        steps,
        opt_step,
        lr_scale: opt.scale(),
        log: State::pack_log(log),
        best: best.as_ref().map(|(l, e, _)| (*l, *e)),
        rng: (rngs.0.get_word_pos(), rngs.1.get_word_pos()),
    };
    save(dir, &state, &groups)
}
