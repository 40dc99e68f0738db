//! Fine-tuning edits of a package's spec and weights before training: keep a subset of a
//! head's tracks, replace heads or add new ones. Freezing is done by the trainer
//! ([`super::trainer::TrainConfig::freeze`]).
//!
//! A head's *read-out* is its last weighted layer (linear, dense or conv1d); only shape-keeping
//! or pooling layers (activations, crop, pooling, flatten) may follow it, so that selecting
//! output rows of the read-out selects tracks.

use crate::error::{Error, Result};
use crate::model::ops::*;
use crate::model::spec::{Head, Layer, ModelSpec, Track};
use crate::model::weights::{Tensor, Weights};
use crate::train::init::{init_slot, stream};

/// What to do with the package's heads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HeadMode {
    /// Train the existing heads; each target set names (or, in order, becomes) a head.
    Keep,
    /// Drop the package's heads; one new head per target set, shaped like the first old head
    /// with a read-out sized to the targets, freshly initialised.
    Replace,
    /// Keep the package's heads as they are and add one new head per target set.
    Add,
}

fn readout(layers: &mut [Layer]) -> Option<&mut Layer> {
    let pos = layers.iter().rposition(|l| {
        matches!(l, Layer::Linear(Linear { .. }) | Layer::Dense(Dense { .. }) | Layer::Conv1d(Conv1d { .. }))
    })?;
    let after_ok = layers[pos + 1..].iter().all(|l| {
        matches!(
            l,
            Layer::Activation(ActivationLayer { .. })
                | Layer::Crop(Crop { .. })
                | Layer::MaxPool(MaxPool { .. })
                | Layer::AvgPool(AvgPool { .. })
                | Layer::Flatten(_)
        )
    });
    if after_ok {
        layers.get_mut(pos)
    } else {
        None
    }
}

fn readout_prefix(layer: &Layer, head: &str, index: usize) -> String {
    let name = match layer {
        Layer::Linear(Linear { name, .. }) | Layer::Dense(Dense { name, .. }) | Layer::Conv1d(Conv1d { name, .. }) => {
            name.clone()
        }
        _ => None,
    };
    name.unwrap_or_else(|| format!("head.{head}.{index}"))
}

/// Keeps tracks `keep` (indices into the head's outputs, in the order given) of head `h`.
pub fn select_tracks(spec: &mut ModelSpec, weights: &mut Weights, h: usize, keep: &[usize]) -> Result<()> {
    let head_name = spec.heads[h].name.clone();
    let pos = spec.heads[h].layers.iter().rposition(|l| {
        matches!(l, Layer::Linear(Linear { .. }) | Layer::Dense(Dense { .. }) | Layer::Conv1d(Conv1d { .. }))
    });
    let layer = readout(&mut spec.heads[h].layers).ok_or_else(|| {
        Error::InvalidArgument(format!("head {head_name:?} has no read-out layer whose outputs are its tracks"))
    })?;
    let prefix = readout_prefix(layer, &head_name, pos.unwrap_or(0));
    let units = match layer {
        Layer::Linear(Linear { units, .. })
        | Layer::Dense(Dense { units, .. })
        | Layer::Conv1d(Conv1d { filters: units, .. }) => units,
        _ => unreachable!("readout returns weighted layers only"),
    };
    if let Some(&bad) = keep.iter().find(|&&k| k >= *units) {
        return Err(Error::InvalidArgument(format!(
            "track {bad} is out of range: head {head_name:?} has {units} tracks"
        )));
    }
    *units = keep.len();
    for param in ["weight", "bias"] {
        let key = format!("{prefix}.{param}");
        if let Some(t) = weights.tensors.get(&key) {
            let row: usize = t.shape[1..].iter().product();
            let mut data = Vec::with_capacity(keep.len() * row);
            for &k in keep {
                data.extend_from_slice(&t.data[k * row..(k + 1) * row]);
            }
            let mut shape = t.shape.clone();
            shape[0] = keep.len();
            weights.insert(key, Tensor::new(shape, data)?);
        }
    }
    let head = &mut spec.heads[h];
    if !head.tracks.is_empty() {
        head.tracks = keep.iter().enumerate().map(|(i, &k)| Track { index: i, ..head.tracks[k].clone() }).collect();
    }
    Ok(())
}

/// Resolves track selectors (indices or identifiers) against head `h`.
pub fn resolve_tracks(spec: &ModelSpec, h: usize, selectors: &[String]) -> Result<Vec<usize>> {
    let head = &spec.heads[h];
    selectors
        .iter()
        .map(|s| {
            if let Ok(i) = s.parse::<usize>() {
                return Ok(i);
            }
            head.tracks.iter().position(|t| &t.identifier == s || &t.description == s).ok_or_else(|| {
                Error::InvalidArgument(format!("head {:?} has no track {s:?} (give indices or identifiers)", head.name))
            })
        })
        .collect()
}

fn clear_names(layers: &mut [Layer]) {
    for l in layers {
        match l {
            Layer::Conv1d(Conv1d { name, .. })
            | Layer::BatchNorm(BatchNorm { name, .. })
            | Layer::Dense(Dense { name, .. })
            | Layer::Linear(Linear { name, .. }) => *name = None,
            Layer::Residual(Residual { layers }) | Layer::StrandMax(StrandMax { layers }) => clear_names(layers),
            _ => {}
        }
    }
}

/// Builds new heads `(name, tracks)` shaped like head 0, replacing (`HeadMode::Replace`) or
/// joining (`HeadMode::Add`) the existing ones; their weights are initialised from `seed`. Weight
/// names of new heads are their paths (`head.<name>.<i>`).
pub fn new_heads(
    spec: &mut ModelSpec,
    weights: &mut Weights,
    heads: &[(String, usize)],
    mode: HeadMode,
    seed: u64,
) -> Result<()> {
    let template = spec.heads.first().cloned().ok_or_else(|| Error::Spec("the package has no head".into()))?;
    let mut made = Vec::new();
    for (name, tracks) in heads {
        let mut layers = template.layers.clone();
        clear_names(&mut layers);
        match readout(&mut layers) {
            Some(
                Layer::Linear(Linear { units, .. })
                | Layer::Dense(Dense { units, .. })
                | Layer::Conv1d(Conv1d { filters: units, .. }),
            ) => *units = *tracks,
            _ => {
                return Err(Error::InvalidArgument(format!(
                    "head {:?} has no read-out layer to resize for new targets",
                    template.name
                )))
            }
        }
        made.push(Head {
            name: name.clone(),
            from: None,
            layers,
            tracks: vec![],
            geometry: None,
            strand_pairs: vec![],
            profile_counts: None,
        });
    }
    let old: Vec<String> = spec.heads.iter().map(|h| h.name.clone()).collect();
    match mode {
        HeadMode::Replace => {
            // Keep the trunk's weights only: old heads' weights go, even where a new head's
            // weight would have the same name.
            let mut trunk_only = spec.clone();
            trunk_only.heads = vec![Head {
                name: "trunk".into(),
                from: None,
                layers: vec![],
                tracks: vec![],
                geometry: None,
                strand_pairs: vec![],
                profile_counts: None,
            }];
            let trunk: std::collections::HashSet<String> =
                trunk_only.analyze()?.weights.into_iter().map(|s| s.name).collect();
            weights.tensors.retain(|name, _| trunk.contains(name));
            spec.heads = made;
        }
        HeadMode::Add => {
            if let Some(dup) = made.iter().find(|h| old.contains(&h.name)) {
                return Err(Error::InvalidArgument(format!(
                    "the package already has a head {:?}; name the new targets differently",
                    dup.name
                )));
            }
            spec.heads.extend(made);
        }
        HeadMode::Keep => return Ok(()),
    }
    let analysis = spec.analyze()?;
    let mut rng = stream(seed, 3);
    for slot in &analysis.weights {
        if !weights.tensors.contains_key(&slot.name) {
            weights.insert(slot.name.clone(), init_slot(slot, &mut rng)?);
        }
    }
    Ok(())
}
