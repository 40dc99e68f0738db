//! `ModelSpec`: a convolutional sequence-to-function network in a small op vocabulary, plus
//! its input/output geometry and track table. Stored as `model.json` (format `s2f-model`,
//! version 1; documented in `docs/model-spec.md`).
//!
//! Tensors flow in channels-first form `(batch, channels, length)` between layers, as in
//! ONNX/PyTorch; the model's input is one-hot `(batch, L, 4)` (A, C, G, T). Sequence outputs
//! are reported as `(batch, bins, tracks)`; flat outputs (one value per track per sequence) as
//! `(batch, 1, tracks)`.
//!
//! This file is the serde schema; what a spec implies (shapes, weights, cost, geometry) is
//! [`crate::model::analysis`], and each op is defined in [`crate::model::ops`].
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
pub use crate::model::analysis::{Analysis, LayerRow, Shape, WeightSlot};
pub use crate::model::graph::{ExtraInput, InputKind, Merge, Node};
pub use crate::model::ops::Layer;

/// Current spec format name and version.
pub const FORMAT: &str = "s2f-model";
/// Current spec version.
pub const VERSION: u32 = 1;
/// Top-level key of `model.json` under which a package records its file digests.
pub const PACKAGE_KEY: &str = "package";

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
    /// Further named inputs (graph form; see [`crate::model::graph`]).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub inputs: Vec<ExtraInput>,
    /// Shared layers on the primary input; empty for a foreign ONNX described only by its
    /// geometry.
    #[serde(default)]
    pub trunk: Vec<Layer>,
    /// Named nodes after the trunk (graph form; see [`crate::model::graph`]).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub graph: Vec<Node>,
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

impl InputSpec {
    /// One-hot input of `length` bp in s2f's canonical layout `(batch, L, 4)`, ONNX input
    /// `sequence`, N encoded as `n_value` in every channel.
    pub fn new(length: u64, n_value: f32) -> Self {
        Self { length, n_value, layout: InputLayout::NLC, onnx_name: default_input_name() }
    }
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

impl Head {
    /// A head named `name` with `layers`, no track table and derived geometry.
    pub fn new(name: impl Into<String>, layers: Vec<Layer>) -> Self {
        Self {
            name: name.into(),
            from: None,
            layers,
            tracks: vec![],
            geometry: None,
            strand_pairs: vec![],
            profile_counts: None,
        }
    }
}

/// One output head.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Head {
    /// Head (and ONNX output) name.
    pub name: String,
    /// Tensor the head reads (graph form): `trunk` when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    /// Layers after the trunk (or after `from`).
    #[serde(default)]
    pub layers: Vec<Layer>,
    /// Track metadata (basenji targets.txt columns); may be empty.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tracks: Vec<Track>,
    /// Geometry, required when the spec has no layers (foreign ONNX); derived otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub geometry: Option<Geometry>,
    /// Pairs of tracks that trade places under reverse complement (a stranded profile's + and
    /// − strands): reverse-complement augmentation flips positions back and swaps these.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub strand_pairs: Vec<[usize; 2]>,
    /// For a base-pair profile head whose outputs are logits (BPNet, ChromBPNet): the head
    /// holding the window's log total count, one value per window. The profile as counts is
    /// softmax(logits) over bins and tracks jointly × exp(count); `predict` writes that by
    /// default, and `attribute` uses BPNet's profile objective on such a head.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub profile_counts: Option<String>,
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
    /// log(1 + x) (BPNet's count transform of control totals).
    Log1p,
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

impl ModelSpec {
    /// A spec of the current format and version (no description or source).
    pub fn new(name: impl Into<String>, input: InputSpec, trunk: Vec<Layer>, heads: Vec<Head>) -> Self {
        Self {
            format: FORMAT.into(),
            version: VERSION,
            name: name.into(),
            description: String::new(),
            input,
            inputs: vec![],
            trunk,
            graph: vec![],
            heads,
            source: None,
        }
    }

    /// Parses and validates `model.json` text.
    ///
    /// A top-level `package` object (the digests a package records, see
    /// [`crate::model::package`]) is not part of the spec and is ignored here.
    pub fn from_json(text: &str) -> Result<Self> {
        let mut value: serde_json::Value = serde_json::from_str(text).map_err(|e| Error::Spec(format!("{e}")))?;
        let spec: ModelSpec = match value.as_object_mut().and_then(|o| o.remove(PACKAGE_KEY)) {
            Some(_) => serde_json::from_value(value),
            // Parsed from the text again so errors keep their line and column.
            None => serde_json::from_str(text),
        }
        .map_err(|e| Error::Spec(format!("{e}")))?;
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
        !self.trunk.is_empty() || !self.graph.is_empty() || self.heads.iter().any(|h| !h.layers.is_empty())
    }

    /// The head named `name`; when `name` is `None`, the only head, or of a profile head and its
    /// count head ([`Head::profile_counts`]) the profile.
    pub fn head_index(&self, name: Option<&str>) -> Result<usize> {
        match name {
            Some(n) => self.heads.iter().position(|h| h.name == n).ok_or_else(|| {
                Error::InvalidArgument(format!(
                    "no head {n:?}; the model has {}",
                    self.heads.iter().map(|h| h.name.as_str()).collect::<Vec<_>>().join(", ")
                ))
            }),
            None if self.heads.len() == 1 => Ok(0),
            // A profile and its count head (BPNet, ChromBPNet): the profile, which carries both.
            None if self.heads.len() == 2
                && self.heads.iter().any(|h| self.heads.iter().any(|p| p.profile_counts.as_ref() == Some(&h.name))) =>
            {
                Ok(self.heads.iter().position(|h| h.profile_counts.is_some()).unwrap_or(0))
            }
            None => Err(Error::InvalidArgument(format!(
                "the model has several heads ({}): choose one with --head",
                self.heads.iter().map(|h| h.name.as_str()).collect::<Vec<_>>().join(", ")
            ))),
        }
    }
}
