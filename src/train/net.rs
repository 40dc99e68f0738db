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

use burn::tensor::activation;
use burn::tensor::backend::Backend;
use burn::tensor::module::{avg_pool1d, conv1d, max_pool1d};
use burn::tensor::ops::{ConvOptions, PaddedConvOptions};
use burn::tensor::{Tensor, TensorData};

use crate::error::{Error, Result};
use crate::model::spec::{Activation, Layer, ModelSpec, Padding, PoolPad};
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

/// Activation values between layers.
enum Act<B: Backend> {
    Seq(Tensor<B, 3>),
    Flat(Tensor<B, 2>),
}

/// Runs the spec's layers over burn tensors. `get` resolves a weight name to its flat tensor.
pub struct Interpreter<'a, B: Backend> {
    spec: &'a ModelSpec,
    get: &'a dyn Fn(&str) -> Option<Tensor<B, 1>>,
    train: bool,
    im2col: bool,
    /// Batch statistics collected in training mode.
    pub stats: BatchStats,
}

impl<'a, B: Backend> Interpreter<'a, B> {
    /// An interpreter; `train` selects batch statistics for batch normalisation.
    pub fn new(spec: &'a ModelSpec, get: &'a dyn Fn(&str) -> Option<Tensor<B, 1>>, train: bool) -> Self {
        Self { spec, get, train, im2col: false, stats: Vec::new() }
    }

    /// Computes convolutions as one matrix product over unfolded windows (im2col) instead of
    /// the backend's convolution: the same values up to float rounding, and several times
    /// faster for training on burn's ndarray CPU backend, whose direct convolution is slow.
    pub fn with_im2col(mut self, on: bool) -> Self {
        self.im2col = on;
        self
    }

    fn weight<const D: usize>(&self, name: &str, shape: [usize; D]) -> Result<Tensor<B, D>> {
        let t = (self.get)(name).ok_or_else(|| Error::Spec(format!("missing weight tensor {name:?}")))?;
        Ok(t.reshape(shape))
    }

    /// One-hot `(N, L, 4)` → one `(N, bins, tracks)` tensor per head, in head order.
    pub fn forward(&mut self, x: Tensor<B, 3>) -> Result<Vec<Tensor<B, 3>>> {
        let [_, l, c] = x.dims();
        if c != 4 || l as u64 != self.spec.input.length {
            return Err(Error::InvalidArgument(format!(
                "input is (N, {l}, {c}); the model reads (N, {}, 4)",
                self.spec.input.length
            )));
        }
        let x = Act::Seq(x.swap_dims(1, 2));
        let trunk = self.layers(&self.spec.trunk, "trunk", x)?;
        let mut outs = Vec::with_capacity(self.spec.heads.len());
        for h in &self.spec.heads {
            let y = match self.layers(&h.layers, &format!("head.{}", h.name), clone_act(&trunk))? {
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

    fn layers(&mut self, layers: &[Layer], path: &str, mut v: Act<B>) -> Result<Act<B>> {
        for (i, layer) in layers.iter().enumerate() {
            let p = format!("{path}.{i}");
            v = self.layer(layer, &p, v)?;
        }
        Ok(v)
    }

    fn layer(&mut self, layer: &Layer, path: &str, v: Act<B>) -> Result<Act<B>> {
        let prefix = |name: &Option<String>| name.clone().unwrap_or_else(|| path.to_string());
        let seq = |v: Act<B>| match v {
            Act::Seq(t) => Ok(t),
            Act::Flat(_) => Err(Error::Spec(format!("{path}: needs a (length, channels) input"))),
        };
        Ok(match layer {
            Layer::Conv1d { name, filters, kernel, dilation, bias, padding } => {
                let x = seq(v)?;
                let [_, c, _] = x.dims();
                let pre = prefix(name);
                let w = self.weight(&format!("{pre}.weight"), [*filters, c, *kernel])?;
                let b = if *bias { Some(self.weight(&format!("{pre}.bias"), [*filters])?) } else { None };
                let span = dilation * (kernel - 1);
                let (left, right) = match padding {
                    Padding::Same => (span / 2, span - span / 2),
                    Padding::Valid => (0, 0),
                };
                if self.im2col {
                    return Ok(Act::Seq(conv1d_im2col(x, w, b, left, right, *dilation)));
                }
                let opts = if left == right {
                    PaddedConvOptions::from(ConvOptions::new([1], [left], [*dilation], 1))
                } else {
                    PaddedConvOptions::asymmetric([1], [left], [right], [*dilation], 1)
                };
                Act::Seq(conv1d(x, w, b, opts))
            }
            Layer::BatchNorm { name, eps } => {
                let x = seq(v)?;
                let [n, c, l] = x.dims();
                let pre = prefix(name);
                let gamma = self.weight::<3>(&format!("{pre}.gamma"), [1, c, 1])?;
                let beta = self.weight::<3>(&format!("{pre}.beta"), [1, c, 1])?;
                let (mean, var) = if self.train {
                    let mean = x.clone().mean_dim(2).mean_dim(0);
                    let centred = x.clone() - mean.clone();
                    let var = centred.square().mean_dim(2).mean_dim(0);
                    let count = (n * l) as f32;
                    let unbiased = if count > 1.0 { count / (count - 1.0) } else { 1.0 };
                    let m = to_vec(mean.clone().detach())?;
                    let vv = to_vec(var.clone().detach())?.into_iter().map(|v| v * unbiased).collect();
                    self.stats.push((pre.clone(), m, vv));
                    (mean, var)
                } else {
                    (self.weight(&format!("{pre}.mean"), [1, c, 1])?, self.weight(&format!("{pre}.var"), [1, c, 1])?)
                };
                Act::Seq((x - mean) / (var + *eps as f64).sqrt() * gamma + beta)
            }
            Layer::Activation { function } => match v {
                Act::Seq(t) => Act::Seq(act(*function, t)),
                Act::Flat(t) => Act::Flat(act(*function, t)),
            },
            Layer::MaxPool { size } => Act::Seq(max_pool1d(seq(v)?, *size, *size, 0, 1, false)),
            Layer::AvgPool { size } => Act::Seq(avg_pool1d(seq(v)?, *size, *size, 0, true, false)),
            Layer::WeightedPool { size, pad_left, pad_right, pad_value } => {
                let x = seq(v)?;
                let [n, c, l] = x.dims();
                let device = x.device();
                let fill = |width: usize, x: &Tensor<B, 3>| -> Tensor<B, 3> {
                    match pad_value {
                        // The minimum of each sequence's whole input to the layer (DRG).
                        PoolPad::Min => x.clone().min_dim(2).min_dim(1).expand([n, c, width]),
                        PoolPad::Value(value) => Tensor::full([n, c, width], *value, &device),
                    }
                };
                let mut parts = Vec::new();
                if *pad_left > 0 {
                    parts.push(fill(*pad_left, &x));
                }
                let right = if *pad_right > 0 { Some(fill(*pad_right, &x)) } else { None };
                parts.push(x);
                parts.extend(right);
                let padded = Tensor::cat(parts, 2);
                let lp = l + pad_left + pad_right;
                let nb = lp / size;
                let windows = padded.narrow(2, 0, nb * size).reshape([n, c, nb, *size]);
                let weights = activation::softmax(windows.clone(), 3);
                Act::Seq((windows * weights).sum_dim(3).reshape([n, c, nb]))
            }
            Layer::Crop { left, right } => {
                let x = seq(v)?;
                let l = x.dims()[2];
                Act::Seq(x.narrow(2, *left, l - left - right))
            }
            Layer::Pad { left, right, value } => {
                let x = seq(v)?;
                let [n, c, _] = x.dims();
                let device = x.device();
                let mut parts = Vec::new();
                if *left > 0 {
                    parts.push(Tensor::full([n, c, *left], *value, &device));
                }
                parts.push(x);
                if *right > 0 {
                    parts.push(Tensor::full([n, c, *right], *value, &device));
                }
                Act::Seq(Tensor::cat(parts, 2))
            }
            Layer::Residual { layers } => {
                let x = seq(v)?;
                let y = seq(self.layers(layers, path, Act::Seq(x.clone()))?)?;
                Act::Seq(x + y)
            }
            Layer::StrandMax { layers } => {
                let x = seq(v)?;
                // Reverse complement of one-hot ACGT (or of any channels-first tensor, as DRG):
                // reverse channels and positions.
                let rc = x.clone().flip([1, 2]);
                let f = seq(self.layers(layers, path, Act::Seq(x))?)?;
                let r = seq(self.layers(layers, path, Act::Seq(rc))?)?;
                Act::Seq(f.max_pair(r.flip([2])))
            }
            Layer::Dense { name, units, bias } => {
                let x = seq(v)?;
                let c = x.dims()[1];
                let pre = prefix(name);
                let w = self.weight(&format!("{pre}.weight"), [*units, c, 1])?;
                let b = if *bias { Some(self.weight(&format!("{pre}.bias"), [*units])?) } else { None };
                Act::Seq(conv1d(x, w, b, ConvOptions::new([1], [0], [1], 1)))
            }
            Layer::Flatten => {
                let x = seq(v)?;
                let [n, c, l] = x.dims();
                Act::Flat(x.reshape([n, c * l]))
            }
            Layer::Linear { name, units, bias } => {
                let x = match v {
                    Act::Flat(t) => t,
                    Act::Seq(_) => return Err(Error::Spec(format!("{path}: linear needs flat features"))),
                };
                let f = x.dims()[1];
                let pre = prefix(name);
                let w = self.weight::<2>(&format!("{pre}.weight"), [*units, f])?;
                let mut y = x.matmul(w.transpose());
                if *bias {
                    y = y + self.weight::<2>(&format!("{pre}.bias"), [1, *units])?;
                }
                Act::Flat(y)
            }
        })
    }
}

/// Convolution (stride 1) as a matrix product: `x` `(N, C, L)` padded by `left`/`right` zeros,
/// its `K` dilated shifts stacked into `(N, C·K, L_out)` (row c·K + k, the order of the weight's
/// `(F, C, K)` layout), multiplied by the weight as `(F, C·K)`.
fn conv1d_im2col<B: Backend>(
    x: Tensor<B, 3>,
    w: Tensor<B, 3>,
    b: Option<Tensor<B, 1>>,
    left: usize,
    right: usize,
    dilation: usize,
) -> Tensor<B, 3> {
    let [n, c, l] = x.dims();
    let [f, _, k] = w.dims();
    let device = x.device();
    let mut parts = Vec::with_capacity(3);
    if left > 0 {
        parts.push(Tensor::zeros([n, c, left], &device));
    }
    parts.push(x);
    if right > 0 {
        parts.push(Tensor::zeros([n, c, right], &device));
    }
    let xp = if parts.len() == 1 { parts.remove(0) } else { Tensor::cat(parts, 2) };
    let lout = l + left + right - dilation * (k - 1);
    let cols: Tensor<B, 3> = if k == 1 {
        xp
    } else {
        let shifts: Vec<Tensor<B, 3>> = (0..k).map(|j| xp.clone().narrow(2, j * dilation, lout)).collect();
        Tensor::<B, 3>::stack::<4>(shifts, 2).reshape([n, c * k, lout])
    };
    let y = w.reshape([1, f, c * k]).matmul(cols);
    match b {
        Some(b) => y + b.reshape([1, f, 1]),
        None => y,
    }
}

fn clone_act<B: Backend>(a: &Act<B>) -> Act<B> {
    match a {
        Act::Seq(t) => Act::Seq(t.clone()),
        Act::Flat(t) => Act::Flat(t.clone()),
    }
}

/// Applies an activation (definitions as in [`Activation`]).
pub fn act<B: Backend, const D: usize>(f: Activation, x: Tensor<B, D>) -> Tensor<B, D> {
    match f {
        Activation::Relu => activation::relu(x),
        Activation::GeluErf => activation::gelu(x),
        Activation::GeluTanh => activation::gelu_approximate(x),
        Activation::GeluSigmoid => x.clone() * activation::sigmoid(x * 1.702),
        // Stable form of log(1 + eˣ): max(x, 0) + log1p(e^−|x|).
        Activation::Softplus => activation::relu(x.clone()) + x.abs().neg().exp().log1p(),
        Activation::Exp => x.exp(),
        Activation::Sigmoid => activation::sigmoid(x),
    }
}

/// Whether a head's output is positive by construction (its last activation is softplus, exp,
/// sigmoid or relu after the last weighted layer), as a Poisson or rate loss needs.
pub fn head_is_positive(layers: &[Layer]) -> bool {
    for l in layers.iter().rev() {
        match l {
            Layer::Activation { function } => {
                return matches!(
                    function,
                    Activation::Softplus | Activation::Exp | Activation::Sigmoid | Activation::Relu
                )
            }
            Layer::Crop { .. } | Layer::Flatten | Layer::MaxPool { .. } | Layer::AvgPool { .. } => continue,
            _ => return false,
        }
    }
    false
}
