//! The op vocabulary of a [`ModelSpec`](crate::model::ModelSpec), one file per op.
//!
//! Each op is a struct (its JSON fields) implementing [`Op`], the one place that defines it:
//! - shape and geometry inference and its weight slots and cost ([`Op::infer`], used by the
//!   [`Analysis`](crate::model::analysis::Analysis));
//! - the ONNX lowering of its forward pass ([`Op::onnx_forward`]) and of its vector–Jacobian
//!   product with respect to its input ([`Op::onnx_backward`]), used by the emitter for whole
//!   models, graphs cut at a layer and gradient graphs;
//! - its DeepLIFT multiplier lowering ([`Op::onnx_deeplift`]; the ordinary backward pass for
//!   affine ops, a rule from [`deeplift`] for nonlinear ones);
//! - its burn forward pass ([`Op::burn_forward`]), used by training (burn differentiates it).
//!
//! [`Layer`] is the serde form of one layer: `{"op": "<tag>", …fields}`. Everything that walks a
//! model is a short loop that dispatches each layer to its op with [`with_op!`].
//!
//! Tensors between layers are channels-first `(N, C, L)` ([`Shape::Seq`]) or flat `(N, F)`
//! ([`Shape::Flat`]); positions are 0-based along the layer's input.
//!
//! Adding an op: a new file here implementing [`Op`], its variant in [`Layer`] and one line in
//! [`with_op!`] (and its section in `docs/model-spec.md`).

use burn::tensor::backend::Backend;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::model::analysis::{Geo, Inferred, Shape, Walker};
use crate::model::onnx::emit::{Emitter, Fwd};
use crate::train::net::{Act, Interpreter};

pub mod activation;
pub mod avg_pool;
pub mod batch_norm;
pub mod conv1d;
pub mod crop;
pub mod deeplift;
pub mod dense;
pub mod flatten;
pub mod global_pool;
pub mod linear;
pub mod max_pool;
pub mod merge;
pub mod pad;
pub mod residual;
pub mod strand_max;
pub mod weighted_pool;

pub use activation::ActivationLayer;
pub use avg_pool::AvgPool;
pub use batch_norm::BatchNorm;
pub use conv1d::Conv1d;
pub use crop::Crop;
pub use dense::Dense;
pub use flatten::Flatten;
pub use global_pool::{GlobalPool, PoolFn};
pub use linear::Linear;
pub use max_pool::MaxPool;
pub use pad::Pad;
pub use residual::Residual;
pub use strand_max::StrandMax;
pub use weighted_pool::WeightedPool;

/// A layer: one op with its parameters. Layers with weights may carry a `name`, which names
/// their weight tensors (`<name>.<param>`; without one, the layer's path such as `trunk.3`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Layer {
    /// 1-D convolution (cross-correlation), stride 1.
    Conv1d(Conv1d),
    /// Batch normalisation with running statistics.
    BatchNorm(BatchNorm),
    /// Element-wise activation.
    Activation(ActivationLayer),
    /// Max pooling, window = stride.
    MaxPool(MaxPool),
    /// Average pooling, window = stride.
    AvgPool(AvgPool),
    /// DRG's softmax-weighted pooling.
    WeightedPool(WeightedPool),
    /// Remove positions at both ends.
    Crop(Crop),
    /// Constant padding along the length axis.
    Pad(Pad),
    /// x + f(x).
    Residual(Residual),
    /// max(f(x), flip(f(rc(x)))).
    StrandMax(StrandMax),
    /// Pointwise dense over channels.
    Dense(Dense),
    /// (channels, length) → features.
    Flatten(Flatten),
    /// Fully connected on flat features.
    Linear(Linear),
    /// Mean or sum over all positions → flat features.
    GlobalPool(GlobalPool),
}

/// Runs `$body` with `$op` bound to the op inside `$layer` (each arm has its own type, so the
/// body may call generic methods of [`Op`]).
macro_rules! with_op {
    ($layer:expr, $op:ident => $body:expr) => {
        match $layer {
            $crate::model::ops::Layer::Conv1d($op) => $body,
            $crate::model::ops::Layer::BatchNorm($op) => $body,
            $crate::model::ops::Layer::Activation($op) => $body,
            $crate::model::ops::Layer::MaxPool($op) => $body,
            $crate::model::ops::Layer::AvgPool($op) => $body,
            $crate::model::ops::Layer::WeightedPool($op) => $body,
            $crate::model::ops::Layer::Crop($op) => $body,
            $crate::model::ops::Layer::Pad($op) => $body,
            $crate::model::ops::Layer::Residual($op) => $body,
            $crate::model::ops::Layer::StrandMax($op) => $body,
            $crate::model::ops::Layer::Dense($op) => $body,
            $crate::model::ops::Layer::Flatten($op) => $body,
            $crate::model::ops::Layer::Linear($op) => $body,
            $crate::model::ops::Layer::GlobalPool($op) => $body,
        }
    };
}
pub(crate) use with_op;

impl Layer {
    /// The op's tag as written in JSON (`conv1d`, `batch_norm`, …).
    pub fn tag(&self) -> &'static str {
        with_op!(self, op => op.tag())
    }

    /// The name given in the spec, if any.
    pub fn name(&self) -> Option<&str> {
        with_op!(self, op => op.name())
    }
}

/// Where a layer sits and what it reads, as the analysis found it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Site {
    /// Layer path: `trunk.3`, `trunk.28.1` inside a block, `head.human.0`.
    pub path: String,
    /// Op tag.
    pub op: &'static str,
    /// Input shape (batch omitted).
    pub input: Shape,
    /// Output shape (batch omitted).
    pub output: Shape,
}

impl Site {
    /// Weight-name prefix: the layer's name, else its path.
    pub fn prefix(&self, name: &Option<String>) -> String {
        name.clone().unwrap_or_else(|| self.path.clone())
    }

    /// (channels, length) of a sequence input.
    pub fn seq(&self) -> Result<(usize, usize)> {
        seq_input(&self.path, self.op, self.input)
    }

    /// An error about this layer.
    pub fn error(&self, message: impl std::fmt::Display) -> Error {
        layer_error(&self.path, self.op, message)
    }
}

/// An error about the layer at `path` with op `op`: `trunk.3 (conv1d): …`.
pub fn layer_error(path: &str, op: &str, message: impl std::fmt::Display) -> Error {
    Error::Spec(format!("{path} ({op}): {message}"))
}

/// (channels, length) of a sequence shape, or the error an op that needs one gives.
pub fn seq_input(path: &str, op: &str, s: Shape) -> Result<(usize, usize)> {
    match s {
        Shape::Seq { c, l } => Ok((c, l)),
        Shape::Flat { .. } => Err(layer_error(path, op, "needs a (length, channels) input but gets flat features")),
    }
}

/// What an op's backward lowering reads: where the layer sits, its forward input `x`, its
/// forward record and the upstream gradient `dy` (shaped as its output).
#[derive(Debug, Clone, Copy)]
pub struct Backward<'a, 's> {
    /// The layer's site.
    pub at: &'a Site,
    /// Forward input tensor.
    pub x: &'a str,
    /// Forward record.
    pub fwd: &'a Fwd<'s>,
    /// Upstream gradient tensor.
    pub dy: &'a str,
}

/// What an op's DeepLIFT lowering reads: as [`Backward`] (with `dy` the multipliers of the
/// output), plus the reference's forward input and record from the same layer.
#[derive(Debug, Clone, Copy)]
pub struct DeepLift<'a, 's> {
    /// The layer's site.
    pub at: &'a Site,
    /// Forward input tensor (the input sequence's pass).
    pub x: &'a str,
    /// Forward record (the input sequence's pass).
    pub fwd: &'a Fwd<'s>,
    /// Forward input tensor of the reference's pass.
    pub xr: &'a str,
    /// Forward record of the reference's pass.
    pub fwd_r: &'a Fwd<'s>,
    /// Multipliers of the output.
    pub dy: &'a str,
}

impl<'a, 's> DeepLift<'a, 's> {
    /// The ordinary backward arguments at the input (the linear ops' rule, and the fallback of
    /// the nonlinear ones).
    pub fn backward(&self) -> Backward<'a, 's> {
        Backward { at: self.at, x: self.x, fwd: self.fwd, dy: self.dy }
    }
}

/// One op of the spec vocabulary. See the module docs.
pub trait Op {
    /// The op's JSON tag.
    const TAG: &'static str;

    /// [`Op::TAG`], callable through [`with_op!`].
    fn tag(&self) -> &'static str {
        Self::TAG
    }

    /// The name given in the spec (names weights and the layer-table row), if any.
    fn name(&self) -> Option<&str> {
        None
    }

    /// Output shape and geometry from the input's, the weight slots (through
    /// [`Walker::slot`]) and the cost. `g` tracks where positions of the input lie on the
    /// window. Errors name `path` and the op.
    fn infer(&self, w: &mut Walker, path: &str, input: Shape, g: Geo) -> Result<Inferred>;

    /// Whether a batch norm right after this layer can be folded into its weights (the
    /// emitter's `fold_bn`); such an op takes its parameters from [`Emitter::linear_params`].
    fn folds_batch_norm(&self) -> bool {
        false
    }

    /// Emits the forward pass of input `x`; returns the output and what the backward pass needs.
    fn onnx_forward<'s>(&'s self, e: &mut Emitter<'s>, at: &Site, x: &str) -> Result<Fwd<'s>>;

    /// Emits the vector–Jacobian product: given the upstream gradient `b.dy` (shaped as the
    /// output) and the forward values (`b.x`, `b.fwd`), the gradient with respect to `b.x`.
    fn onnx_backward<'s>(&'s self, e: &mut Emitter<'s>, b: Backward<'_, 's>) -> Result<String>;

    /// Emits the DeepLIFT backward pass: the multipliers of the input given those of the
    /// output (see [`deeplift`]). The default, for ops that are affine in their input, is the
    /// ordinary vector–Jacobian product; nonlinear ops and blocks override it.
    fn onnx_deeplift<'s>(&'s self, e: &mut Emitter<'s>, d: DeepLift<'_, 's>) -> Result<String> {
        self.onnx_backward(e, d.backward())
    }

    /// The burn forward pass (training and the float64 reference).
    fn burn_forward<B: Backend>(&self, it: &mut Interpreter<'_, B>, at: &Site, x: Act<B>) -> Result<Act<B>>;
}

#[cfg(test)]
pub(crate) mod testing {
    //! Shape-inference checks shared by the ops' unit tests.
    use super::*;
    use crate::model::analysis::Analysis;
    use crate::model::spec::{Head, InputSpec, ModelSpec};

    /// A one-head spec with `trunk` on an input of length `l`.
    pub fn spec(l: u64, trunk: Vec<Layer>) -> ModelSpec {
        ModelSpec::new("t", InputSpec::new(l, 0.0), trunk, vec![Head::new("out", vec![])])
    }

    /// The analysis of `trunk` on input length `l`.
    pub fn analyze(l: u64, trunk: Vec<Layer>) -> Result<Analysis> {
        spec(l, trunk).analyze()
    }

    /// The error text of analysing `trunk`, which must fail.
    pub fn error(l: u64, trunk: Vec<Layer>) -> String {
        match analyze(l, trunk) {
            Ok(_) => panic!("analysis should fail"),
            Err(e) => e.to_string(),
        }
    }
}
