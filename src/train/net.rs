//! A [`ModelSpec`] as a differentiable burn computation.
//!
//! The network is not a burn `Module`: it is the spec interpreted op by op over burn tensors,
//! with the weights held in a [`ParamStore`] under the spec's own weight names
//! (`<layer>.<param>`, see [`crate::model::spec`]). The same spec is what the ONNX emitter
//! writes, so a trained store exported through [`ParamStore::to_weights`] and
//! [`crate::model::Package::write`] gives the same predictions under tract and ONNX Runtime
//! (tested in `tests/train.rs`).
//!
//! Shapes: the input is one-hot `(N, L, 4)` (s2f's canonical layout); between layers tensors are
//! channels-first `(N, C, L)` as in the emitter; every head's output is `(N, bins, tracks)`
//! (flat heads give `bins = 1`).
//!
//! Batch normalisation uses batch statistics in training mode (biased variance for the
//! normalisation; the running averages take the unbiased variance with momentum 0.1, as
//! PyTorch) and the running statistics otherwise. Running statistics are not trained: they are
//! stored with [`ParamKind::RunningStat`] and updated from the batch statistics the forward pass
//! reports.

use std::collections::BTreeMap;

use burn::tensor::backend::Backend;
use burn::tensor::{Tensor, TensorData};

use crate::error::{Error, Result};
use crate::model::analysis::Analysis;
use crate::model::ops::{with_op, Op, Site};
use crate::model::spec::{Activation, InputLayout, Layer, ModelSpec};
use crate::model::weights::{Tensor as HostTensor, Weights};

/// What a stored tensor is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParamKind {
    /// Learned by gradient descent (unless frozen).
    Weight,
    /// A batch-norm running mean or variance, updated from batch statistics.
    RunningStat,
}

/// One named tensor, kept flat on the device; `shape` is its spec shape.
#[derive(Debug, Clone)]
pub struct Param<B: Backend> {
    /// Spec shape (C order).
    pub shape: Vec<usize>,
    /// Values, flattened.
    pub value: Tensor<B, 1>,
    /// Weight or running statistic.
    pub kind: ParamKind,
    /// Frozen tensors are neither updated by the optimiser nor (for running statistics) by
    /// batch statistics, so they stay bit-identical.
    pub frozen: bool,
}

/// The model's tensors by weight name.
#[derive(Debug, Clone)]
pub struct ParamStore<B: Backend> {
    /// Tensors by name.
    pub params: BTreeMap<String, Param<B>>,
}

impl<B: Backend> ParamStore<B> {
    /// Uploads host weights (which must match the spec; see [`Weights::check`]).
    pub fn from_weights(weights: &Weights, device: &B::Device) -> Self {
        let params = weights
            .tensors
            .iter()
            .map(|(name, t)| {
                let kind = if name.ends_with(".mean") || name.ends_with(".var") {
                    ParamKind::RunningStat
                } else {
                    ParamKind::Weight
                };
                let value = Tensor::from_data(TensorData::new(t.data.clone(), [t.data.len()]), device);
                (name.clone(), Param { shape: t.shape.clone(), value, kind, frozen: false })
            })
            .collect();
        Self { params }
    }

    /// Downloads every tensor to host weights (spec names and shapes).
    pub fn to_weights(&self) -> Result<Weights> {
        let mut w = Weights::default();
        for (name, p) in &self.params {
            let data = to_vec(p.value.clone())?;
            w.insert(name.clone(), HostTensor::new(p.shape.clone(), data)?);
        }
        Ok(w)
    }

    /// Number of trainable (not frozen) values.
    pub fn trainable_values(&self) -> usize {
        self.params
            .values()
            .filter(|p| p.kind == ParamKind::Weight && !p.frozen)
            .map(|p| p.shape.iter().product::<usize>())
            .sum()
    }
}

/// A float tensor's values on the host.
pub fn to_vec<B: Backend, const D: usize>(t: Tensor<B, D>) -> Result<Vec<f32>> {
    t.into_data().convert::<f32>().into_vec::<f32>().map_err(|e| Error::Training(format!("reading a tensor: {e:?}")))
}

/// Batch statistics reported by a training-mode forward pass: (batch-norm prefix, mean,
/// unbiased variance), per channel.
pub type BatchStats = Vec<(String, Vec<f32>, Vec<f32>)>;

/// Activation values between layers: channels-first `(N, C, L)` or flat `(N, F)`.
pub enum Act<B: Backend> {
    /// A sequence tensor.
    Seq(Tensor<B, 3>),
    /// Flat features.
    Flat(Tensor<B, 2>),
}

impl<B: Backend> Act<B> {
    /// The sequence tensor, or an error naming the layer at `at` that needs one.
    pub fn seq(self, at: &Site) -> Result<Tensor<B, 3>> {
        match self {
            Act::Seq(t) => Ok(t),
            Act::Flat(_) => Err(at.error("needs a (length, channels) input")),
        }
    }
}

impl<B: Backend> Clone for Act<B> {
    fn clone(&self) -> Self {
        match self {
            Act::Seq(t) => Act::Seq(t.clone()),
            Act::Flat(t) => Act::Flat(t.clone()),
        }
    }
}

/// Runs the spec's layers over burn tensors, each through its op's
/// [`Op::burn_forward`](crate::model::ops::Op::burn_forward). `get` resolves a weight name to
/// its flat tensor.
pub struct Interpreter<'a, B: Backend> {
    spec: &'a ModelSpec,
    analysis: &'a Analysis,
    get: &'a dyn Fn(&str) -> Option<Tensor<B, 1>>,
    train: bool,
    im2col: bool,
    constant_pool_min: bool,
    /// Batch statistics collected in training mode.
    pub stats: BatchStats,
}

impl<'a, B: Backend> Interpreter<'a, B> {
    /// An interpreter of `spec` (whose analysis is `analysis`); `train` selects batch
    /// statistics for batch normalisation.
    pub fn new(
        spec: &'a ModelSpec,
        analysis: &'a Analysis,
        get: &'a dyn Fn(&str) -> Option<Tensor<B, 1>>,
        train: bool,
    ) -> Self {
        Self { spec, analysis, get, train, im2col: false, constant_pool_min: false, stats: Vec::new() }
    }

    /// Computes convolutions as one matrix product over unfolded windows (im2col) instead of
    /// the backend's convolution (see [`conv1d_im2col`](crate::model::ops::conv1d::conv1d_im2col)).
    pub fn with_im2col(mut self, on: bool) -> Self {
        self.im2col = on;
        self
    }

    /// Treats the `min` pad value of weighted pooling as a constant for differentiation (its
    /// value is unchanged), as DRG's `takegrad` and the emitted gradient graphs do. Training
    /// leaves it off: the loss is differentiated through the minimum.
    pub fn with_constant_pool_min(mut self, on: bool) -> Self {
        self.constant_pool_min = on;
        self
    }

    /// Whether the `min` pad of weighted pooling is a constant for differentiation.
    pub fn constant_pool_min(&self) -> bool {
        self.constant_pool_min
    }

    /// Whether convolutions run as im2col matrix products.
    pub fn im2col(&self) -> bool {
        self.im2col
    }

    /// Whether batch norms use batch statistics (training mode).
    pub fn is_training(&self) -> bool {
        self.train
    }

    /// Weight tensor `name` reshaped to `shape`.
    pub fn weight<const D: usize>(&self, name: &str, shape: [usize; D]) -> Result<Tensor<B, D>> {
        let t = (self.get)(name).ok_or_else(|| Error::Spec(format!("missing weight tensor {name:?}")))?;
        Ok(t.reshape(shape))
    }

    /// One-hot `(N, L, 4)` → one `(N, bins, tracks)` tensor per head, in head order.
    pub fn forward(&mut self, x: Tensor<B, 3>) -> Result<Vec<Tensor<B, 3>>> {
        self.forward_with(x, Vec::new())
    }

    /// As [`Interpreter::forward`], with the further inputs of a graph-form spec (one tensor
    /// per `inputs` entry, in its stated layout; see [`crate::model::graph`]).
    pub fn forward_with(&mut self, x: Tensor<B, 3>, extra: Vec<Tensor<B, 3>>) -> Result<Vec<Tensor<B, 3>>> {
        let [_, l, c] = x.dims();
        if c != 4 || l as u64 != self.spec.input.length {
            return Err(Error::InvalidArgument(format!(
                "input is (N, {l}, {c}); the model reads (N, {}, 4)",
                self.spec.input.length
            )));
        }
        let spec = self.spec;
        if extra.len() != spec.inputs.len() {
            return Err(Error::InvalidArgument(format!(
                "the model takes {} further input(s), {} given",
                spec.inputs.len(),
                extra.len()
            )));
        }
        let x0 = Act::Seq(contiguous(x.swap_dims(1, 2)));
        let mut named: std::collections::HashMap<&str, Act<B>> = std::collections::HashMap::new();
        named.insert(spec.input.onnx_name.as_str(), x0.clone());
        let trunk = self.block(&spec.trunk, "trunk", x0)?;
        named.insert(crate::model::graph::TRUNK, trunk);
        for (i, t) in spec.inputs.iter().zip(extra) {
            let t = match i.layout {
                InputLayout::NCL => t,
                InputLayout::NLC => contiguous(t.swap_dims(1, 2)),
            };
            named.insert(i.name.as_str(), Act::Seq(t));
        }
        let source = |named: &std::collections::HashMap<&str, Act<B>>, f: &str| {
            named.get(f).cloned().ok_or_else(|| Error::Spec(format!("{f:?} is read before it is defined")))
        };
        for n in &spec.graph {
            let xs = n.from.iter().map(|f| source(&named, f)).collect::<Result<Vec<_>>>()?;
            let x = match n.merge {
                Some(m) => crate::model::ops::merge::burn_forward(m, &n.path(), xs)?,
                None => xs.into_iter().next().ok_or_else(|| Error::Spec(format!("node {:?} reads nothing", n.name)))?,
            };
            let y = self.block(&n.layers, &n.path(), x)?;
            named.insert(n.name.as_str(), y);
        }
        let mut outs = Vec::with_capacity(spec.heads.len());
        for h in &spec.heads {
            let x = source(&named, spec.head_source(h))?;
            let y = match self.block(&h.layers, &format!("head.{}", h.name), x)? {
                Act::Seq(t) => t.swap_dims(1, 2),
                Act::Flat(t) => {
                    let [n, f] = t.dims();
                    t.reshape([n, 1, f])
                }
            };
            outs.push(y);
        }
        Ok(outs)
    }

    /// Runs the block `layers` at `path` on `v`.
    pub fn block(&mut self, layers: &[Layer], path: &str, mut v: Act<B>) -> Result<Act<B>> {
        for (i, layer) in layers.iter().enumerate() {
            let site = self.analysis.site(&format!("{path}.{i}"), layer)?;
            v = with_op!(layer, op => op.burn_forward(self, &site, v))?;
        }
        Ok(v)
    }
}

/// `t` with its values laid out in standard (row-major) order. burn 0.21's ndarray autodiff
/// gives wrong gradients for some chains of element-wise ops (`abs` → `neg` → `exp`, as in a
/// stable softplus) on permuted views such as `swap_dims` or `flip` results; views are made
/// contiguous before the ops read them.
pub fn contiguous<B: Backend, const D: usize>(t: Tensor<B, D>) -> Tensor<B, D> {
    let dims = t.dims();
    let n: usize = dims.iter().product();
    t.reshape([n]).reshape(dims)
}

/// Applies an activation (definitions as in [`Activation`]).
pub fn act<B: Backend, const D: usize>(f: Activation, x: Tensor<B, D>) -> Tensor<B, D> {
    f.burn(x)
}

/// Whether a head's output is positive by construction (its last activation is softplus, exp,
/// sigmoid or relu after the last weighted layer), as a Poisson or rate loss needs.
pub fn head_is_positive(layers: &[Layer]) -> bool {
    for l in layers.iter().rev() {
        match l {
            Layer::Activation(a) => {
                return matches!(
                    a.function,
                    Activation::Softplus | Activation::Exp | Activation::Sigmoid | Activation::Relu
                )
            }
            Layer::Crop(_) | Layer::Flatten(_) | Layer::MaxPool(_) | Layer::AvgPool(_) => continue,
            _ => return false,
        }
    }
    false
}
