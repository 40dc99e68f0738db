//! Optimisers (SGD with momentum, AdamW), the learning-rate schedule and gradient clipping,
//! applied to a [`ParamStore`] by name. Frozen tensors and running statistics are never touched.
//!
//! - SGD: v ← μ·v + g; p ← p·(1 − lr·wd) − lr·v (decoupled weight decay, as for AdamW).
//! - AdamW: m ← β₁m + (1−β₁)g, v ← β₂v + (1−β₂)g², p ← p − lr·(m̂/(√v̂ + ε) + wd·p), with bias
//!   corrections m̂ = m/(1−β₁ᵗ), v̂ = v/(1−β₂ᵗ) (decoupled weight decay, Loshchilov & Hutter).
//! - Warm-up: the rate rises linearly from lr/warmup to lr over the first `warmup` steps.
//! - Reduce on plateau: the trainer multiplies the rate by a factor when the validation loss
//!   stops improving ([`Optimizer::reduce`]); the current scale is part of the optimiser's state.
//! - Clipping: when the global L2 norm of all gradients exceeds `clip`, every gradient is scaled
//!   by clip/norm.

use std::collections::BTreeMap;

use burn::tensor::backend::Backend;
use burn::tensor::Tensor;

use crate::error::{Error, Result};
use crate::train::net::{to_vec, ParamKind, ParamStore};

/// Which optimiser.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum OptimizerKind {
    /// SGD with momentum μ.
    Sgd {
        /// Momentum.
        momentum: f32,
    },
    /// AdamW.
    AdamW {
        /// β₁.
        beta1: f32,
        /// β₂.
        beta2: f32,
        /// ε.
        eps: f32,
    },
}

impl OptimizerKind {
    /// `sgd` (momentum 0.9) or `adamw` (β 0.9/0.999, ε 1e-8).
    pub fn parse(name: &str, momentum: f32) -> Result<Self> {
        match name {
            "sgd" => Ok(OptimizerKind::Sgd { momentum }),
            "adamw" | "adam" => Ok(OptimizerKind::AdamW { beta1: 0.9, beta2: 0.999, eps: 1e-8 }),
            other => Err(Error::InvalidArgument(format!("unknown optimizer {other:?} (sgd, adamw)"))),
        }
    }
}

/// Optimiser settings.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct OptimConfig {
    /// Which optimiser.
    pub kind: OptimizerKind,
    /// Peak learning rate.
    pub lr: f32,
    /// Decoupled weight decay.
    pub weight_decay: f32,
    /// Warm-up steps (0 = none).
    pub warmup: usize,
    /// Global gradient-norm limit (None = no clipping).
    pub clip: Option<f32>,
}

/// Per-weight optimiser moments (flat), by weight name.
pub type Moments<B> = BTreeMap<String, Tensor<B, 1>>;

/// Optimiser state.
pub struct Optimizer<B: Backend> {
    cfg: OptimConfig,
    step: usize,
    /// Factor on the configured rate from plateau reductions (1 at the start).
    scale: f32,
    first: Moments<B>,
    second: Moments<B>,
}

impl<B: Backend> Optimizer<B> {
    /// A fresh optimiser.
    pub fn new(cfg: OptimConfig) -> Self {
        Self { cfg, step: 0, scale: 1.0, first: BTreeMap::new(), second: BTreeMap::new() }
    }

    /// Steps taken and the first and second moments by weight name (flat), for checkpoints.
    pub fn state(&self) -> (usize, &Moments<B>, &Moments<B>) {
        (self.step, &self.first, &self.second)
    }

    /// Restores what [`Optimizer::state`] gave.
    pub fn restore(&mut self, step: usize, first: Moments<B>, second: Moments<B>) {
        self.step = step;
        self.first = first;
        self.second = second;
    }

    /// The factor plateau reductions put on the configured rate (1 without any).
    pub fn scale(&self) -> f32 {
        self.scale
    }

    /// Restores the factor [`Optimizer::scale`] gave (checkpoints).
    pub fn set_scale(&mut self, scale: f32) {
        self.scale = scale;
    }

    /// Multiplies the rate by `factor` (reduce on plateau); returns the new rate.
    pub fn reduce(&mut self, factor: f32) -> f32 {
        self.scale *= factor;
        self.cfg.lr * self.scale
    }

    /// Learning rate for the next step.
    pub fn lr(&self) -> f32 {
        let lr = self.cfg.lr * self.scale;
        if self.cfg.warmup > 0 && self.step < self.cfg.warmup {
            lr * (self.step + 1) as f32 / self.cfg.warmup as f32
        } else {
            lr
        }
    }

    /// Applies one step with `grads` (by weight name); returns the gradients' global norm
    /// before clipping.
    pub fn step(&mut self, store: &mut ParamStore<B>, mut grads: BTreeMap<String, Tensor<B, 1>>) -> Result<f32> {
        let sq: Vec<Tensor<B, 1>> = grads.values().map(|g| g.clone().square().sum()).collect();
        let norm = if sq.is_empty() { 0.0 } else { to_vec(Tensor::cat(sq, 0).sum())?[0].sqrt() };
        if !norm.is_finite() {
            return Err(Error::Training(
                "the gradient is not finite (the loss diverged): lower --lr or add --clip".into(),
            ));
        }
        if let Some(clip) = self.cfg.clip {
            if norm > clip {
                let s = (clip / norm) as f64;
                for g in grads.values_mut() {
                    *g = g.clone() * s;
                }
            }
        }
        let lr = self.lr() as f64;
        self.step += 1;
        let wd = self.cfg.weight_decay as f64;
        for (name, g) in grads {
            let Some(p) = store.params.get_mut(&name) else { continue };
            if p.frozen || p.kind != ParamKind::Weight {
                continue;
            }
            let update = match self.cfg.kind {
                OptimizerKind::Sgd { momentum } => {
                    let v = match self.first.remove(&name) {
                        Some(v) => v * momentum as f64 + g,
                        None => g,
                    };
                    self.first.insert(name.clone(), v.clone());
                    v
                }
                OptimizerKind::AdamW { beta1, beta2, eps } => {
                    let (b1, b2) = (beta1 as f64, beta2 as f64);
                    let m = match self.first.remove(&name) {
                        Some(m) => m * b1 + g.clone() * (1.0 - b1),
                        None => g.clone() * (1.0 - b1),
                    };
                    let v = match self.second.remove(&name) {
                        Some(v) => v * b2 + g.square() * (1.0 - b2),
                        None => g.square() * (1.0 - b2),
                    };
                    self.first.insert(name.clone(), m.clone());
                    self.second.insert(name.clone(), v.clone());
                    let t = self.step as i32;
                    let mhat = m / (1.0 - b1.powi(t));
                    let vhat = v / (1.0 - b2.powi(t));
                    mhat / (vhat.sqrt() + eps as f64)
                }
            };
            let decayed = if wd > 0.0 { p.value.clone() * (1.0 - lr * wd) } else { p.value.clone() };
            p.value = decayed - update * lr;
        }
        Ok(norm)
    }
}
