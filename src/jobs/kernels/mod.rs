//! Kernel knock-outs (DRG's `kernel_assessment`) and kernel PWMs ([`pwm`]).
//!
//! A knock-out of kernel k: channel k of a convolution layer's output — the output of the
//! top-level trunk layer that holds it, so after the strand max when the convolution sits in a
//! `strand_max` block, before any activation — is replaced at every position by a constant c_k,
//! and the rest of the network runs. [`Null::Mean`]: c_k = b_k + ¼·ΣW_k, the exact expectation of
//! the convolution's output over uniformly random one-hot sequence (DRG estimates it from random
//! sequences); [`Null::Zero`]: c_k = 0.
//!
//! The model is cut after that layer ([`crate::model::onnx::emit_cut`]): the prefix runs once
//! per sequence, the suffix once per (sequence, kernel), batched. The prediction of a sequence
//! for a track is its head's output summed over bins (the value itself for one-bin heads).

pub mod plot;
pub mod pwm;
pub mod stats;

use ndarray::{s, Array2, Array3, ArrayView3, Axis};

use crate::engine::{create, Device, Engine, EngineKind};
use crate::error::{Error, Result};
use crate::model::analysis::Shape;
use crate::model::onnx::{emit_cut, EmitOptions, Part};
use crate::model::ops::{Conv1d, Layer};
use crate::model::spec::ModelSpec;
use crate::model::Package;

/// The constant a knocked-out channel takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Null {
    /// b_k + ¼·ΣW_k.
    Mean,
    /// 0.
    Zero,
}

/// What to knock out and how.
#[derive(Debug, Clone)]
pub struct KnockoutOptions {
    /// Convolution: its name, path (`trunk.1.0`) or top-level index; `None`: the first.
    pub layer: Option<String>,
    /// Null value.
    pub null: Null,
    /// Head index.
    pub head: usize,
    /// Rows (sequence × kernel) per suffix run.
    pub batch: usize,
    /// Rerun the prefix for every kernel (the cost of a full forward per kernel; same numbers).
    pub naive: bool,
}

/// The convolution whose channels are knocked out.
#[derive(Debug, Clone)]
pub struct KernelLayer {
    /// Top-level trunk index of the layer holding it (the cut).
    pub cut: usize,
    /// The convolution.
    pub conv: Conv1d,
    /// Its weight-name prefix.
    pub prefix: String,
    /// Its path.
    pub path: String,
}

impl KernelLayer {
    /// Finds the convolution `layer` names (see [`KnockoutOptions::layer`]) or the first one.
    pub fn find(spec: &ModelSpec, layer: Option<&str>) -> Result<Self> {
        spec.require_chain("kernel knock-outs")?;
        for (i, l) in spec.trunk.iter().enumerate() {
            let (conv, path) = match l {
                Layer::Conv1d(c) => (c, format!("trunk.{i}")),
                Layer::StrandMax(sm) => match sm.layers.first() {
                    Some(Layer::Conv1d(c)) if sm.layers.len() == 1 => (c, format!("trunk.{i}.0")),
                    _ => continue,
                },
                _ => continue,
            };
            let prefix = conv.name.clone().unwrap_or_else(|| path.clone());
            let hit = match layer {
                None => true,
                Some(want) => want == prefix || want == path || want == format!("trunk.{i}") || want == i.to_string(),
            };
            if hit {
                return Ok(Self { cut: i, conv: conv.clone(), prefix, path });
            }
        }
        Err(Error::InvalidArgument(match layer {
            None => format!("{}: no top-level convolution (or strand max of one) to knock out", spec.name),
            Some(l) => format!(
                "{}: {l:?} is not a top-level convolution or a strand max of one (s2f inspect lists the layers)",
                spec.name
            ),
        }))
    }
}

/// Knock-out results for a set of sequences.
pub struct Knockouts {
    /// Full predictions P `(N, tracks)`.
    pub full: Array2<f32>,
    /// P − M_k `(kernels, N, tracks)`.
    pub delta: Array3<f32>,
}

/// Runs knock-outs of one package's kernels on one engine.
pub struct Knockout {
    prefix: Box<dyn Engine>,
    suffix: Box<dyn Engine>,
    layer: KernelLayer,
    values: Vec<f32>,
    opts: KnockoutOptions,
    bins: usize,
    tracks: usize,
    length: usize,
}

impl Knockout {
    /// Cuts the model after the kernel layer and loads both sides on `kind`/`device`.
    pub fn new(pkg: &Package, kind: EngineKind, device: Device, opts: KnockoutOptions) -> Result<Self> {
        let (spec, weights) = pkg.spec_and_weights("kernel knock-outs")?;
        if opts.batch == 0 {
            return Err(Error::InvalidArgument("batch size must be positive".into()));
        }
        let layer = KernelLayer::find(spec, opts.layer.as_deref())?;
        let analysis = spec.analyze()?;
        let geom = analysis.heads.get(opts.head).map(|h| h.1).ok_or_else(|| {
            Error::InvalidArgument(format!("no head {} (the model has {})", opts.head, analysis.heads.len()))
        })?;
        let cut_out = analysis.io.get(&format!("trunk.{}", layer.cut)).map(|io| io.1);
        if !matches!(cut_out, Some(Shape::Seq { c, .. }) if c == layer.conv.filters) {
            return Err(Error::Spec(format!("trunk.{}: output is not the convolution's channels", layer.cut)));
        }
        let w = &weights.get(&format!("{}.weight", layer.prefix))?.data;
        let per = w.len() / layer.conv.filters.max(1);
        let values = (0..layer.conv.filters)
            .map(|k| -> Result<f32> {
                Ok(match opts.null {
                    Null::Zero => 0.0,
                    Null::Mean => {
                        let b = if layer.conv.bias {
                            weights.get(&format!("{}.bias", layer.prefix))?.data[k] as f64
                        } else {
                            0.0
                        };
                        (b + 0.25 * w[k * per..(k + 1) * per].iter().map(|&v| v as f64).sum::<f64>()) as f32
                    }
                })
            })
            .collect::<Result<Vec<f32>>>()?;
        let at = format!("trunk.{}", layer.cut);
        let eo = EmitOptions::default();
        let prefix = create(kind, device, &emit_cut(spec, weights, &at, Part::Prefix, eo)?)?;
        let suffix = create(kind, device, &emit_cut(spec, weights, &at, Part::Suffix, eo)?)?;
        let (bins, tracks) = (geom.bins as usize, geom.tracks as usize);
        Ok(Self { prefix, suffix, layer, values, opts, bins, tracks, length: spec.input.length as usize })
    }

    /// The kernel layer.
    pub fn layer(&self) -> &KernelLayer {
        &self.layer
    }

    /// Null values c_k, one per kernel.
    pub fn values(&self) -> &[f32] {
        &self.values
    }

    /// Engine description.
    pub fn describe(&self) -> String {
        self.suffix.describe()
    }

    /// Features (the cut layer's output) of `x` `(N, L, 4)`.
    fn features(&mut self, x: ArrayView3<f32>) -> Result<ndarray::ArrayD<f32>> {
        let mut outs = self.prefix.run(x.to_owned().into_dyn())?;
        let f =
            outs.pop().ok_or_else(|| Error::Engine { engine: self.prefix.describe(), message: "no output".into() })?;
        let (n, c) = (x.dim().0, self.layer.conv.filters);
        if f.ndim() != 3 || f.shape()[0] != n || f.shape()[1] != c {
            return Err(Error::Engine {
                engine: self.prefix.describe(),
                message: format!("features of shape {:?}, expected [{n}, {c}, L]", f.shape()),
            });
        }
        Ok(f)
    }

    /// Predictions `(rows, tracks)` (summed over bins) of the suffix on `features`.
    fn predict(&mut self, features: ndarray::ArrayD<f32>) -> Result<Array2<f32>> {
        let rows = features.shape()[0];
        let outs = self.suffix.run(features)?;
        let y = crate::jobs::attribute::ism::take_head(
            self.suffix.as_ref(),
            outs,
            self.opts.head,
            [rows, self.bins, self.tracks],
        )?;
        let y = y.into_dimensionality::<ndarray::Ix3>().map_err(|e| Error::InvalidArgument(e.to_string()))?;
        Ok(y.sum_axis(Axis(1)))
    }

    /// P and P − M_k for every kernel of the sequences `x` `(N, L, 4)`.
    pub fn run(&mut self, x: ArrayView3<f32>) -> Result<Knockouts> {
        let (n, l, c) = x.dim();
        if l != self.length || c != 4 {
            return Err(Error::InvalidArgument(format!(
                "input is (N, {l}, {c}); the model reads (N, {}, 4)",
                self.length
            )));
        }
        let k = self.values.len();
        let feats = self.features(x)?;
        let full = self.predict(feats.clone())?;
        let mut delta = Array3::<f32>::zeros((k, n, self.tracks));
        let rows: Vec<(usize, usize)> = (0..n).flat_map(|i| (0..k).map(move |j| (i, j))).collect();
        for chunk in rows.chunks(self.opts.batch) {
            let mut shape = feats.shape().to_vec();
            shape[0] = chunk.len();
            let mut batch = ndarray::ArrayD::<f32>::zeros(shape);
            for (r, &(i, j)) in chunk.iter().enumerate() {
                let mut row = batch.index_axis_mut(Axis(0), r);
                if self.opts.naive {
                    // The prefix again for this (sequence, kernel), as a full forward would.
                    let f = self.features(x.slice(s![i..i + 1, .., ..]))?;
                    row.assign(&f.index_axis(Axis(0), 0));
                } else {
                    row.assign(&feats.index_axis(Axis(0), i));
                }
                row.index_axis_mut(Axis(0), j).fill(self.values[j]);
            }
            let m = self.predict(batch)?;
            for (r, &(i, j)) in chunk.iter().enumerate() {
                for t in 0..self.tracks {
                    delta[(j, i, t)] = full[(i, t)] - m[(r, t)];
                }
            }
        }
        Ok(Knockouts { full, delta })
    }
}
