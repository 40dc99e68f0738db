//! `ModelSpec`: a convolutional sequence-to-function network in a small op vocabulary, plus
//! its input/output geometry and track table. Stored as `model.json` (format `s2f-model`,
//! version 1; documented in `docs/model-spec.md`).
//!
//! Tensors flow in channels-first form `(batch, channels, length)` between layers, as in
//! ONNX/PyTorch; the model's input is one-hot `(batch, L, 4)` (A, C, G, T). Sequence outputs
//! are reported as `(batch, bins, tracks)`; flat outputs (one value per track per sequence) as
//! `(batch, 1, tracks)`.
//!
//! Weight tensors are named `<layer>.<param>`, where `<layer>` is the layer's `name` or, when
//! it has none, its path (`trunk.3`, `trunk.5.0` inside a block, `head.human.0`):
//! - `conv1d`: `weight` (filters, in, kernel), `bias` (filters) when `bias: true`;
//! - `batch_norm`: `gamma`, `beta`, `mean`, `var` (channels);
//! - `dense` (pointwise over positions) and `linear` (on flattened features): `weight`
//!   (units, in), `bias` (units) when `bias: true`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// Current spec format name and version.
pub const FORMAT: &str = "s2f-model";
/// Current spec version.
pub const VERSION: u32 = 1;

/// A whole model description.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelSpec {
    /// Always `s2f-model`.
    pub format: String,
    /// Spec version (1).
    pub version: u32,
    /// Short model name.
    pub name: String,
    /// Free text.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub description: String,
    /// What the model reads.
    pub input: InputSpec,
    /// Shared layers; empty for a foreign ONNX described only by its geometry.
    #[serde(default)]
    pub trunk: Vec<Layer>,
    /// Output heads: each continues from the trunk and is one output of the ONNX graph.
    pub heads: Vec<Head>,
    /// Where the model came from (converters fill this).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<Source>,
}

/// The model's input.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InputSpec {
    /// Sequence length in bp.
    pub length: u64,
    /// Value of N in all four channels (0 for basenji, 0.25 for DRG/kipoiseq).
    #[serde(default)]
    pub n_value: f32,
    /// Layout the ONNX graph's input takes: `NLC` = (batch, L, 4) (s2f's canonical form and
    /// every emitted graph), `NCL` = (batch, 4, L) (PyTorch exports). Engines transpose.
    #[serde(default)]
    pub layout: InputLayout,
    /// ONNX input name (default `sequence`).
    #[serde(default = "default_input_name")]
    pub onnx_name: String,
}

fn default_input_name() -> String {
    "sequence".into()
}

/// Input layout of an ONNX graph.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum InputLayout {
    /// (batch, length, 4)
    #[default]
    NLC,
    /// (batch, 4, length)
    NCL,
}

/// One output head.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Head {
    /// Head (and ONNX output) name.
    pub name: String,
    /// Layers after the trunk.
    #[serde(default)]
    pub layers: Vec<Layer>,
    /// Track metadata (basenji targets.txt columns); may be empty.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tracks: Vec<Track>,
    /// Geometry, required when the spec has no layers (foreign ONNX); derived otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub geometry: Option<Geometry>,
}

/// One output track (basenji's targets.txt: index, identifier, file, clip, scale, sum_stat,
/// description).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Track {
    /// Column in the output.
    pub index: usize,
    /// Short identifier (e.g. `CNhs11760`).
    pub identifier: String,
    /// Description (e.g. `CAGE:aorta`).
    #[serde(default)]
    pub description: String,
    /// Source file of the training data, if known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    /// Clip value used in training.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub clip: Option<f64>,
    /// Scale used in training.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scale: Option<f64>,
    /// Summary statistic (sum, mean).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sum_stat: Option<String>,
}

/// Where a head's outputs lie on the input window.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Geometry {
    /// Number of output bins (1 for one value per sequence).
    pub bins: u64,
    /// Bin width in bp.
    pub bin_size: u64,
    /// Window offset (bp) where bin 0 starts: bin i covers `[offset + i·bin_size, +bin_size)`.
    pub offset: i64,
    /// Tracks per bin.
    pub tracks: u64,
}

/// Provenance recorded by converters.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Source {
    /// Source format (`keras-h5`, `torch`, `drg`, `s2f-train`, `random`).
    pub format: String,
    /// Source file name(s).
    #[serde(default)]
    pub files: Vec<String>,
    /// sha256 of each source file, same order.
    #[serde(default)]
    pub sha256: Vec<String>,
    /// Anything else worth knowing (licence, citation, variant).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub notes: BTreeMap<String, String>,
}

/// Convolution padding along the length axis.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Padding {
    /// Output length = input length: left `d·(k−1)/2`, right the rest (Keras/PyTorch "same").
    #[default]
    Same,
    /// No padding.
    Valid,
}

/// Element-wise activations.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Activation {
    /// max(x, 0)
    Relu,
    /// 0.5·x·(1 + erf(x/√2)) (PyTorch `nn.GELU()`).
    GeluErf,
    /// 0.5·x·(1 + tanh(√(2/π)(x + 0.044715x³))).
    GeluTanh,
    /// x·sigmoid(1.702x) (basenji 2020's GELU).
    GeluSigmoid,
    /// log(1 + eˣ)
    Softplus,
    /// eˣ
    Exp,
    /// 1/(1 + e⁻ˣ)
    Sigmoid,
}

/// Value used to pad before weighted pooling.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PoolPad {
    /// The minimum of the whole input of the layer for that sequence (DRG).
    Min,
    /// A constant.
    Value(f32),
}

fn one() -> usize {
    1
}
fn yes() -> bool {
    true
}

/// A layer. Layers with weights may carry a `name`, which names their weight tensors.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case", deny_unknown_fields)]
pub enum Layer {
    /// 1-D convolution (cross-correlation), stride 1.
    Conv1d {
        /// Weight name prefix.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        name: Option<String>,
        /// Output channels.
        filters: usize,
        /// Kernel width.
        kernel: usize,
        /// Dilation.
        #[serde(default = "one")]
        dilation: usize,
        /// Whether a bias is added.
        #[serde(default)]
        bias: bool,
        /// Padding.
        #[serde(default)]
        padding: Padding,
    },
    /// Batch normalisation with running statistics: γ·(x − mean)/√(var + eps) + β.
    BatchNorm {
        /// Weight name prefix.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        name: Option<String>,
        /// Epsilon (Keras 1e-3, PyTorch 1e-5).
        eps: f32,
    },
    /// Element-wise activation.
    Activation {
        /// Which function.
        #[serde(rename = "fn")]
        function: Activation,
    },
    /// Max pooling, window = stride = `size`; a remainder is dropped.
    MaxPool {
        /// Window and stride.
        size: usize,
    },
    /// Average pooling, window = stride = `size`; a remainder is dropped.
    AvgPool {
        /// Window and stride.
        size: usize,
    },
    /// DRG's weighted pooling: pad, then each window of `size` (stride `size`) is averaged with
    /// softmax weights of its own values: Σ x·softmax(x). A remainder is dropped.
    WeightedPool {
        /// Window and stride.
        size: usize,
        /// Columns padded on the left.
        #[serde(default)]
        pad_left: usize,
        /// Columns padded on the right.
        #[serde(default)]
        pad_right: usize,
        /// Pad value.
        #[serde(default = "min_pad")]
        pad_value: PoolPad,
    },
    /// Remove positions at both ends.
    Crop {
        /// Positions removed on the left.
        left: usize,
        /// Positions removed on the right.
        right: usize,
    },
    /// Constant padding along the length axis.
    Pad {
        /// Positions added on the left.
        left: usize,
        /// Positions added on the right.
        right: usize,
        /// Value in every channel.
        value: f32,
    },
    /// x + f(x) where f is `layers`; f must keep the shape.
    Residual {
        /// The block.
        layers: Vec<Layer>,
    },
    /// Strand max: max(f(x), flip(f(rc(x)))) where rc reverses channels and positions and flip
    /// reverses positions (DRG's reverse-complement convolution).
    StrandMax {
        /// The block, shared by both strands.
        layers: Vec<Layer>,
    },
    /// Pointwise dense over channels at every position (a kernel-1 convolution).
    Dense {
        /// Weight name prefix.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        name: Option<String>,
        /// Output channels.
        units: usize,
        /// Whether a bias is added.
        #[serde(default = "yes")]
        bias: bool,
    },
    /// (channels, length) → channels·length, channel-major (index c·L + l, as PyTorch).
    Flatten,
    /// Fully connected layer on flattened features.
    Linear {
        /// Weight name prefix.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        name: Option<String>,
        /// Output features.
        units: usize,
        /// Whether a bias is added.
        #[serde(default = "yes")]
        bias: bool,
    },
}

fn min_pad() -> PoolPad {
    PoolPad::Min
}

/// Shape of the tensor between layers (batch axis omitted).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// (channels, length)
    Seq {
        /// Channels.
        c: usize,
        /// Positions.
        l: usize,
    },
    /// (features,)
    Flat {
        /// Features.
        f: usize,
    },
}

impl std::fmt::Display for Shape {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Shape::Seq { c, l } => write!(f, "({l}, {c})"),
            Shape::Flat { f: n } => write!(f, "({n},)"),
        }
    }
}

/// A weight tensor the spec expects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WeightSlot {
    /// Full name, e.g. `conv0.weight`.
    pub name: String,
    /// Expected shape.
    pub shape: Vec<usize>,
}

/// One row of the layer table that `s2f inspect` prints.
#[derive(Debug, Clone)]
pub struct LayerRow {
    /// Nesting depth (0 for trunk/head layers).
    pub depth: usize,
    /// Layer path or name.
    pub name: String,
    /// Short description, e.g. `conv1d k15 d1 288`.
    pub what: String,
    /// Output shape as (length, channels) or (features,).
    pub out: Shape,
    /// Parameters (all weight elements, trainable or not).
    pub params: u64,
    /// Multiply-accumulates per sequence (convolutions, dense and linear layers).
    pub macs: u64,
}

/// What the spec implies: shapes, weights, cost and geometry.
#[derive(Debug, Clone)]
pub struct Analysis {
    /// Every weight tensor in emission order.
    pub weights: Vec<WeightSlot>,
    /// Layer table.
    pub rows: Vec<LayerRow>,
    /// Output geometry of each head, in head order.
    pub heads: Vec<(String, Geometry)>,
    /// Total parameters.
    pub params: u64,
    /// Total multiply-accumulates per sequence.
    pub macs: u64,
    /// Receptive field of one output (bp), per head.
    pub receptive_field: Vec<u64>,
}

/// Position bookkeeping: position i of the current tensor starts at `offset + i·stride` bp of
/// the window; `rf` is the receptive field in bp.
#[derive(Debug, Clone, Copy)]
struct Track3 {
    stride: i64,
    offset: i64,
    rf: i64,
}

struct Walker {
    weights: Vec<WeightSlot>,
    rows: Vec<LayerRow>,
}

impl Walker {
    fn slot(&mut self, prefix: &str, param: &str, shape: Vec<usize>) {
        self.weights.push(WeightSlot { name: format!("{prefix}.{param}"), shape });
    }

    fn walk(
        &mut self,
        layers: &[Layer],
        path: &str,
        depth: usize,
        mut s: Shape,
        mut g: Track3,
    ) -> Result<(Shape, Track3)> {
        for (i, layer) in layers.iter().enumerate() {
            let lpath = format!("{path}.{i}");
            let err = |m: String| Error::Spec(format!("{lpath} ({}): {m}", op_name(layer)));
            let seq = |s: Shape| match s {
                Shape::Seq { c, l } => Ok((c, l)),
                Shape::Flat { .. } => Err(err("needs a (length, channels) input but gets flat features".into())),
            };
            let (mut params, mut macs) = (0u64, 0u64);
            let (out, what) = match layer {
                Layer::Conv1d { name, filters, kernel, dilation, bias, padding } => {
                    let (c, l) = seq(s)?;
                    if *filters == 0 || *kernel == 0 || *dilation == 0 {
                        return Err(err("filters, kernel and dilation must be positive".into()));
                    }
                    let span = dilation * (kernel - 1);
                    let lo = match padding {
                        Padding::Same => l,
                        Padding::Valid => {
                            if l <= span {
                                return Err(err(format!("kernel span {} does not fit length {l}", span + 1)));
                            }
                            g.offset += (span / 2) as i64 * g.stride;
                            l - span
                        }
                    };
                    let prefix = name.clone().unwrap_or(lpath.clone());
                    self.slot(&prefix, "weight", vec![*filters, c, *kernel]);
                    params += (filters * c * kernel) as u64;
                    if *bias {
                        self.slot(&prefix, "bias", vec![*filters]);
                        params += *filters as u64;
                    }
                    macs += (lo * filters * c * kernel) as u64;
                    g.rf += span as i64 * g.stride;
                    (
                        Shape::Seq { c: *filters, l: lo },
                        format!("conv1d k{kernel} d{dilation} {filters}{}", if *bias { " +bias" } else { "" }),
                    )
                }
                Layer::BatchNorm { name, eps } => {
                    let (c, _) = seq(s)?;
                    let prefix = name.clone().unwrap_or(lpath.clone());
                    for p in ["gamma", "beta", "mean", "var"] {
                        self.slot(&prefix, p, vec![c]);
                    }
                    params += 4 * c as u64;
                    (s, format!("batch_norm eps {eps}"))
                }
                Layer::Activation { function } => (s, activation_name(*function).to_string()),
                Layer::MaxPool { size } | Layer::AvgPool { size } => {
                    let (c, l) = seq(s)?;
                    if *size == 0 || l < *size {
                        return Err(err(format!("pool size {size} does not fit length {l}")));
                    }
                    g.rf += (*size as i64 - 1) * g.stride;
                    g.stride *= *size as i64;
                    (Shape::Seq { c, l: l / size }, format!("{} {size}", op_name(layer)))
                }
                Layer::WeightedPool { size, pad_left, pad_right, .. } => {
                    let (c, l) = seq(s)?;
                    let lp = l + pad_left + pad_right;
                    if *size == 0 || lp < *size {
                        return Err(err(format!("pool size {size} does not fit padded length {lp}")));
                    }
                    g.offset -= *pad_left as i64 * g.stride;
                    g.rf += (*size as i64 - 1) * g.stride;
                    g.stride *= *size as i64;
                    (Shape::Seq { c, l: lp / size }, format!("weighted_pool {size} pad {pad_left}/{pad_right}"))
                }
                Layer::Crop { left, right } => {
                    let (c, l) = seq(s)?;
                    if left + right >= l {
                        return Err(err(format!("cropping {left}+{right} leaves nothing of length {l}")));
                    }
                    g.offset += *left as i64 * g.stride;
                    (Shape::Seq { c, l: l - left - right }, format!("crop {left}/{right}"))
                }
                Layer::Pad { left, right, value } => {
                    let (c, l) = seq(s)?;
                    g.offset -= *left as i64 * g.stride;
                    (Shape::Seq { c, l: l + left + right }, format!("pad {left}/{right} value {value}"))
                }
                Layer::Residual { layers } => {
                    self.rows.push(LayerRow {
                        depth,
                        name: lpath.clone(),
                        what: "residual".into(),
                        out: s,
                        params: 0,
                        macs: 0,
                    });
                    let (bs, bg) = self.walk(layers, &lpath, depth + 1, s, g)?;
                    if bs != s || bg.stride != g.stride || bg.offset != g.offset {
                        return Err(err(format!("block changes the shape {s} → {bs}; a residual block must keep it")));
                    }
                    g.rf = g.rf.max(bg.rf);
                    continue;
                }
                Layer::StrandMax { layers } => {
                    self.rows.push(LayerRow {
                        depth,
                        name: lpath.clone(),
                        what: "strand_max".into(),
                        out: s,
                        params: 0,
                        macs: 0,
                    });
                    let (bs, bg) = self.walk(layers, &lpath, depth + 1, s, g)?;
                    if !matches!(bs, Shape::Seq { .. }) {
                        return Err(err("block must keep a (length, channels) shape".into()));
                    }
                    // The reverse strand repeats the block's work: the row carries that second pass.
                    let start = self.rows.iter().rposition(|r| r.name == lpath).unwrap_or(0);
                    let extra: u64 = self.rows[start..].iter().map(|r| r.macs).sum();
                    self.rows[start].macs = extra;
                    self.rows[start].out = bs;
                    s = bs;
                    g = bg;
                    continue;
                }
                Layer::Dense { name, units, bias } => {
                    let (c, l) = seq(s)?;
                    let prefix = name.clone().unwrap_or(lpath.clone());
                    self.slot(&prefix, "weight", vec![*units, c]);
                    params += (units * c) as u64;
                    if *bias {
                        self.slot(&prefix, "bias", vec![*units]);
                        params += *units as u64;
                    }
                    macs += (l * units * c) as u64;
                    (Shape::Seq { c: *units, l }, format!("dense {units}"))
                }
                Layer::Flatten => {
                    let (c, l) = seq(s)?;
                    (Shape::Flat { f: c * l }, "flatten".into())
                }
                Layer::Linear { name, units, bias } => {
                    let f = match s {
                        Shape::Flat { f } => f,
                        Shape::Seq { .. } => return Err(err("needs flat features: add a flatten layer first".into())),
                    };
                    let prefix = name.clone().unwrap_or(lpath.clone());
                    self.slot(&prefix, "weight", vec![*units, f]);
                    params += (units * f) as u64;
                    if *bias {
                        self.slot(&prefix, "bias", vec![*units]);
                        params += *units as u64;
                    }
                    macs += (units * f) as u64;
                    (Shape::Flat { f: *units }, format!("linear {units}"))
                }
            };
            let display = layer_name(layer).unwrap_or(lpath.clone());
            self.rows.push(LayerRow { depth, name: display, what, out, params, macs });
            s = out;
        }
        Ok((s, g))
    }
}

/// The activation's name as written in JSON.
pub fn activation_name(f: Activation) -> &'static str {
    match f {
        Activation::Relu => "relu",
        Activation::GeluErf => "gelu_erf",
        Activation::GeluTanh => "gelu_tanh",
        Activation::GeluSigmoid => "gelu_sigmoid",
        Activation::Softplus => "softplus",
        Activation::Exp => "exp",
        Activation::Sigmoid => "sigmoid",
    }
}

/// The op's tag as written in JSON.
pub fn op_name(layer: &Layer) -> &'static str {
    match layer {
        Layer::Conv1d { .. } => "conv1d",
        Layer::BatchNorm { .. } => "batch_norm",
        Layer::Activation { .. } => "activation",
        Layer::MaxPool { .. } => "max_pool",
        Layer::AvgPool { .. } => "avg_pool",
        Layer::WeightedPool { .. } => "weighted_pool",
        Layer::Crop { .. } => "crop",
        Layer::Pad { .. } => "pad",
        Layer::Residual { .. } => "residual",
        Layer::StrandMax { .. } => "strand_max",
        Layer::Dense { .. } => "dense",
        Layer::Flatten => "flatten",
        Layer::Linear { .. } => "linear",
    }
}

fn layer_name(layer: &Layer) -> Option<String> {
    match layer {
        Layer::Conv1d { name, .. }
        | Layer::BatchNorm { name, .. }
        | Layer::Dense { name, .. }
        | Layer::Linear { name, .. } => name.clone(),
        _ => None,
    }
}

impl ModelSpec {
    /// Parses and validates `model.json` text.
    pub fn from_json(text: &str) -> Result<Self> {
        let spec: ModelSpec = serde_json::from_str(text).map_err(|e| Error::Spec(format!("{e}")))?;
        spec.analyze()?;
        Ok(spec)
    }

    /// Reads and validates a `model.json` file.
    pub fn read(path: impl AsRef<std::path::Path>) -> Result<Self> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        Self::from_json(&text).map_err(|e| match e {
            Error::Spec(m) => Error::Spec(format!("{}: {m}", path.display())),
            other => other,
        })
    }

    /// Pretty JSON.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_default()
    }

    /// True when the spec describes layers (an s2f model), false for a foreign ONNX sidecar.
    pub fn has_layers(&self) -> bool {
        !self.trunk.is_empty() || self.heads.iter().any(|h| !h.layers.is_empty())
    }

    /// Checks the spec and derives weights, cost and geometry.
    pub fn analyze(&self) -> Result<Analysis> {
        if self.format != FORMAT {
            return Err(Error::Spec(format!("format is {:?}, expected {FORMAT:?}", self.format)));
        }
        if self.version != VERSION {
            return Err(Error::Spec(format!("version {} is not supported (this s2f reads {VERSION})", self.version)));
        }
        if self.input.length == 0 {
            return Err(Error::Spec("input length must be positive".into()));
        }
        if self.heads.is_empty() {
            return Err(Error::Spec("a model needs at least one head".into()));
        }
        let mut names = std::collections::HashSet::new();
        for h in &self.heads {
            if !names.insert(&h.name) {
                return Err(Error::Spec(format!("duplicate head name {:?}", h.name)));
            }
        }
        let mut w = Walker { weights: Vec::new(), rows: Vec::new() };
        let mut heads = Vec::new();
        let mut rfs = Vec::new();
        if !self.has_layers() {
            for h in &self.heads {
                let g = h.geometry.ok_or_else(|| {
                    Error::Spec(format!("head {:?}: a spec without layers must give its geometry", h.name))
                })?;
                heads.push((h.name.clone(), g));
                rfs.push(self.input.length);
            }
            return Ok(Analysis { weights: vec![], rows: vec![], heads, params: 0, macs: 0, receptive_field: rfs });
        }
        let s0 = Shape::Seq { c: 4, l: self.input.length as usize };
        let g0 = Track3 { stride: 1, offset: 0, rf: 1 };
        let (ts, tg) = w.walk(&self.trunk, "trunk", 0, s0, g0)?;
        for h in &self.heads {
            let (hs, hg) = w.walk(&h.layers, &format!("head.{}", h.name), 0, ts, tg)?;
            let geom = match hs {
                Shape::Seq { c, l } => {
                    Geometry { bins: l as u64, bin_size: hg.stride as u64, offset: hg.offset, tracks: c as u64 }
                }
                Shape::Flat { f } => Geometry { bins: 1, bin_size: self.input.length, offset: 0, tracks: f as u64 },
            };
            if let Some(given) = h.geometry {
                if given != geom {
                    return Err(Error::Spec(format!(
                        "head {:?}: stated geometry {given:?} differs from the layers' {geom:?}",
                        h.name
                    )));
                }
            }
            if !h.tracks.is_empty() && h.tracks.len() as u64 != geom.tracks {
                return Err(Error::Spec(format!(
                    "head {:?} lists {} tracks but outputs {}",
                    h.name,
                    h.tracks.len(),
                    geom.tracks
                )));
            }
            rfs.push(match hs {
                Shape::Seq { .. } => hg.rf as u64,
                Shape::Flat { .. } => self.input.length,
            });
            heads.push((h.name.clone(), geom));
        }
        let mut seen = std::collections::HashSet::new();
        for s in &w.weights {
            if !seen.insert(s.name.clone()) {
                return Err(Error::Spec(format!(
                    "weight name {:?} is used twice (give layers distinct names)",
                    s.name
                )));
            }
        }
        let params = w.rows.iter().map(|r| r.params).sum();
        let macs = w.rows.iter().map(|r| r.macs).sum();
        Ok(Analysis { weights: w.weights, rows: w.rows, heads, params, macs, receptive_field: rfs })
    }

    /// The head named `name`, or the only head when `name` is `None`.
    pub fn head_index(&self, name: Option<&str>) -> Result<usize> {
        match name {
            Some(n) => self.heads.iter().position(|h| h.name == n).ok_or_else(|| {
                Error::InvalidArgument(format!(
                    "no head {n:?}; the model has {}",
                    self.heads.iter().map(|h| h.name.as_str()).collect::<Vec<_>>().join(", ")
                ))
            }),
            None if self.heads.len() == 1 => Ok(0),
            None => Err(Error::InvalidArgument(format!(
                "the model has several heads ({}): choose one with --head",
                self.heads.iter().map(|h| h.name.as_str()).collect::<Vec<_>>().join(", ")
            ))),
        }
    }
}
