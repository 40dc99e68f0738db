//! The graph form of a [`ModelSpec`]: further named inputs, and named nodes that read inputs,
//! the trunk and earlier nodes, merge them and run layers. The single-chain form (`input` →
//! `trunk` → heads) is the special case with no `inputs` and no `graph`.
//!
//! Tensor names a node or head may read ([`ModelSpec::tensor_names`]): the primary input's ONNX
//! name (`sequence`), `trunk` (the trunk's output; the primary input itself when the trunk is
//! empty), every further input by name, and every node before it. A node with several sources
//! merges them first ([`Merge`], lowered in [`crate::model::ops::merge`]); then its layers run,
//! with paths `node.<name>.<i>` (weights named by the layers' names, else those paths).
//!
//! Further inputs are taken by the ONNX graph under their own name, in the layout they state:
//! `NCL` = (batch, channels, L) (bpnet-lite's control tracks), `NLC` = (batch, L, channels)
//! (one-hot sequences). Inside, every tensor is channels-first, as for the primary input.

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::model::spec::{InputLayout, Layer, ModelSpec};

/// Name of the trunk's output as a graph tensor.
pub const TRUNK: &str = "trunk";

/// What a further input holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InputKind {
    /// A one-hot DNA sequence (4 channels, A C G T).
    Onehot,
    /// Signal tracks (any number of channels), e.g. BPNet's control read counts per strand.
    #[default]
    Signal,
}

/// A further named model input (beyond the primary `input`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExtraInput {
    /// ONNX input name, and the name nodes read it by.
    pub name: String,
    /// Positions (bp).
    pub length: u64,
    /// Channels (4 for a one-hot sequence).
    pub channels: usize,
    /// One-hot sequence or signal.
    #[serde(default)]
    pub kind: InputKind,
    /// Layout the ONNX graph takes this input in.
    #[serde(default)]
    pub layout: InputLayout,
    /// Where position 0 of this input lies on the primary input's window (bp); `None` when it
    /// does not lie on it (another region, e.g. a 3' UTR beside a promoter).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub offset: Option<i64>,
}

/// How a node combines several sources (all of one shape). `a` is the first source, `b` the
/// second; `concat`, `sum` and `logsumexp` take any number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Merge {
    /// Concatenation along channels (sequences of one length) or features (flat).
    Concat,
    /// Element-wise sum.
    Sum,
    /// a − b.
    Difference,
    /// log(Σ exp(sᵢ)), computed stably (ChromBPNet's count combination).
    Logsumexp,
    /// exp(min(a − b, ln 2048)) (DRG's `exp_difference`).
    ExpDifference,
    /// (ReLU(a) + 1e-12) / (ReLU(b) + 1e-12) (DRG's `fraction`).
    Fraction,
}

impl Merge {
    /// The name as written in JSON.
    pub fn name(self) -> &'static str {
        match self {
            Merge::Concat => "concat",
            Merge::Sum => "sum",
            Merge::Difference => "difference",
            Merge::Logsumexp => "logsumexp",
            Merge::ExpDifference => "exp_difference",
            Merge::Fraction => "fraction",
        }
    }

    /// Whether the merge takes exactly two sources.
    pub fn binary(self) -> bool {
        matches!(self, Merge::Difference | Merge::ExpDifference | Merge::Fraction)
    }
}

/// One named node: its sources, merged when there are several, then its layers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Node {
    /// Tensor name of the node's output.
    pub name: String,
    /// Tensors it reads (see the module docs).
    pub from: Vec<String>,
    /// How several sources combine (required with more than one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub merge: Option<Merge>,
    /// Layers after the merge (may be empty).
    #[serde(default)]
    pub layers: Vec<Layer>,
}

impl Node {
    /// Layer path prefix: `node.<name>`.
    pub fn path(&self) -> String {
        format!("node.{}", self.name)
    }
}

impl ModelSpec {
    /// True when the spec uses the graph form: further inputs, nodes, or a head reading
    /// something other than the trunk.
    pub fn is_graph(&self) -> bool {
        !self.inputs.is_empty() || !self.graph.is_empty() || self.heads.iter().any(|h| h.from.is_some())
    }

    /// Fails with a clear message when the spec uses the graph form, for the analyses that
    /// walk a single chain (training, gradients, DeepLIFT, cuts, fast ISM, kernels).
    pub fn require_chain(&self, what: &str) -> Result<()> {
        if self.is_graph() {
            return Err(Error::InvalidArgument(format!(
                "{what} is not available yet for models with several inputs or a layer graph (model {:?})",
                self.name
            )));
        }
        Ok(())
    }

    /// Fails when the model takes more inputs than the primary sequence (for the jobs that feed
    /// it one-hot sequences only: genome-wide prediction, variants, gene read-outs).
    pub fn require_one_input(&self, what: &str) -> Result<()> {
        if let Some(i) = self.inputs.first() {
            return Err(Error::InvalidArgument(format!(
                "{what} feeds the model one sequence input, but {:?} also takes {:?}; use `s2f run` with --input NAME=FILE",
                self.name, i.name
            )));
        }
        Ok(())
    }

    /// Every tensor name a node or head may read, in definition order: the primary input,
    /// `trunk`, the further inputs, then the nodes.
    pub fn tensor_names(&self) -> Vec<&str> {
        let mut v = vec![self.input.onnx_name.as_str(), TRUNK];
        v.extend(self.inputs.iter().map(|i| i.name.as_str()));
        v.extend(self.graph.iter().map(|n| n.name.as_str()));
        v
    }

    /// The source a head reads (`trunk` unless it says otherwise).
    pub fn head_source<'a>(&'a self, head: &'a crate::model::spec::Head) -> &'a str {
        head.from.as_deref().unwrap_or(TRUNK)
    }

    /// Checks names: inputs and nodes distinct from each other, from `trunk` and from the
    /// primary input; every source defined before it is read.
    pub fn check_graph_names(&self) -> Result<()> {
        let mut seen: Vec<&str> = vec![self.input.onnx_name.as_str(), TRUNK];
        let defined = |seen: &Vec<&str>, name: &str, by: &str| -> Result<()> {
            if seen.contains(&name) {
                return Ok(());
            }
            Err(Error::Spec(format!(
                "{by} reads {name:?}, which is not defined before it (defined: {})",
                seen.join(", ")
            )))
        };
        for i in &self.inputs {
            if i.name.is_empty() || seen.contains(&i.name.as_str()) {
                return Err(Error::Spec(format!("input name {:?} is empty or used twice", i.name)));
            }
            if i.channels == 0 || i.length == 0 {
                return Err(Error::Spec(format!("input {:?}: length and channels must be positive", i.name)));
            }
            if i.kind == InputKind::Onehot && i.channels != 4 {
                return Err(Error::Spec(format!("input {:?}: a one-hot input has 4 channels", i.name)));
            }
            seen.push(&i.name);
        }
        for n in &self.graph {
            if n.name.is_empty() || seen.contains(&n.name.as_str()) {
                return Err(Error::Spec(format!("node name {:?} is empty or used twice", n.name)));
            }
            if n.from.is_empty() {
                return Err(Error::Spec(format!("node {:?} reads nothing (give \"from\")", n.name)));
            }
            for f in &n.from {
                defined(&seen, f, &format!("node {:?}", n.name))?;
            }
            match (n.from.len(), n.merge) {
                (1, Some(m)) => {
                    return Err(Error::Spec(format!("node {:?}: merge {} needs several sources", n.name, m.name())))
                }
                (k, None) if k > 1 => {
                    return Err(Error::Spec(format!(
                        "node {:?} reads {k} tensors: say how they combine with \"merge\"",
                        n.name
                    )))
                }
                (k, Some(m)) if m.binary() && k != 2 => {
                    return Err(Error::Spec(format!(
                        "node {:?}: merge {} takes two sources, not {k}",
                        n.name,
                        m.name()
                    )))
                }
                _ => {}
            }
            seen.push(&n.name);
        }
        for h in &self.heads {
            defined(&seen, self.head_source(h), &format!("head {:?}", h.name))?;
        }
        Ok(())
    }
}
