//! Translation of Keras layers (from a `model_config`, see [`crate::converters::keras_config`])
//! into spec layers, naming them as [`crate::model::presets::basenji`] does.
//!
//! Contract: [`Builder::seq`] appends the spec layers of a chain of Keras layers, or fails with an
//! [`Error::Malformed`] naming the layer, its class and its position for anything the spec
//! cannot express exactly at inference (strided or grouped convolutions, `causal` padding,
//! pooling with a partial last window, batch norm without centre/scale, unknown activations or
//! classes). It tracks the sequence length to tell when `same` pooling equals `valid`.

use std::path::Path;

use serde_json::Value;

use crate::converters::keras_config::{at, Item, KLayer};
use crate::error::{Error, Result};
use crate::model::ops::{ActivationLayer, AvgPool, BatchNorm, Conv1d, Crop, Dense, MaxPool, Residual};
use crate::model::spec::{Activation, Layer, Padding};

/// Layer classes that are identities at inference.
const IDENTITY: &[&str] = &["Dropout", "StochasticShift", "StochasticReverseComplement", "SwitchReverse"];

/// Where a layer sits, which decides its name.
pub(crate) enum Scope {
    /// The shared trunk.
    Trunk,
    /// Inside a residual block: convolutions are `<prefix>a`, `<prefix>b`, ….
    Residual { prefix: String, next: u8 },
    /// A head: its first dense layer is `head_<name>`.
    Head { name: String, dense_named: bool },
}

impl Scope {
    /// The scope of the head `name`.
    pub(crate) fn head(name: &str) -> Self {
        Scope::Head { name: name.to_string(), dense_named: false }
    }
}

/// Translates chains into spec layers, tracking the length to check `same` pooling.
pub(crate) struct Builder<'p> {
    origin: &'p Path,
    len: u64,
    top_convs: usize,
    towers: usize,
    blocks: usize,
    residuals: usize,
    seen_residual: bool,
}

impl<'p> Builder<'p> {
    /// A builder for a model reading `len` bp, reporting errors against `origin`.
    pub(crate) fn new(origin: &'p Path, len: u64) -> Self {
        Builder { origin, len, top_convs: 0, towers: 0, blocks: 1, residuals: 0, seen_residual: false }
    }

    /// The length (positions) after the layers translated so far.
    pub(crate) fn len(&self) -> u64 {
        self.len
    }

    /// Restarts from `len` positions (each head continues from the trunk).
    pub(crate) fn set_len(&mut self, len: u64) {
        self.len = len;
    }

    /// Appends the translation of `items` to `out`; `bn_tag` is the tag of the convolution
    /// that a following batch norm pairs with.
    pub(crate) fn seq(
        &mut self,
        items: &[&Item],
        scope: &mut Scope,
        bn_tag: &mut Option<String>,
        out: &mut Vec<Layer>,
    ) -> Result<()> {
        for item in items {
            match item {
                Item::Res(body) => {
                    let before = self.len;
                    let body: Vec<&Item> = body.iter().collect();
                    let mut layers = Vec::new();
                    match scope {
                        Scope::Trunk => {
                            let mut inner = Scope::Residual { prefix: format!("dil{}", self.residuals), next: 0 };
                            self.residuals += 1;
                            self.seen_residual = true;
                            self.seq(&body, &mut inner, &mut None, &mut layers)?;
                        }
                        _ => self.seq(&body, scope, &mut None, &mut layers)?,
                    }
                    self.len = before;
                    *bn_tag = None;
                    out.push(Layer::Residual(Residual { layers }));
                }
                Item::L(l) => self.layer(l, scope, bn_tag, out)?,
            }
        }
        Ok(())
    }

    fn layer(
        &mut self,
        l: &KLayer,
        scope: &mut Scope,
        bn_tag: &mut Option<String>,
        out: &mut Vec<Layer>,
    ) -> Result<()> {
        let c = l.config;
        let err = |m: String| Error::malformed(self.origin, at(&l.name), m);
        let what = format!("layer {:?} of class {} at position {}", l.name, l.class, l.position);
        let int = |key: &str, default: Option<u64>| -> Result<u64> {
            match c.get(key) {
                None | Some(Value::Null) => default.ok_or_else(|| err(format!("{what}: no {key}"))),
                Some(v) => v
                    .as_u64()
                    .or_else(|| v.get(0).and_then(Value::as_u64))
                    .ok_or_else(|| err(format!("{what}: {key} {v} is not a positive integer"))),
            }
        };
        let text = |key: &str, default: &'static str| c.get(key).and_then(Value::as_str).unwrap_or(default).to_string();
        let channels_last = || match text("data_format", "channels_last").as_str() {
            "channels_last" => Ok(()),
            f => Err(err(format!("{what}: data_format {f} (s2f reads channels_last Keras models)"))),
        };
        match l.class.as_str() {
            "InputLayer" => {}
            c if IDENTITY.contains(&c) => {}
            "GELU" => out.push(act(Activation::GeluSigmoid)),
            "Softplus" => out.push(act(Activation::Softplus)),
            "ReLU" => {
                let plain = ["max_value", "threshold", "negative_slope"]
                    .iter()
                    .all(|k| c.get(*k).is_none_or(|v| v.is_null() || v.as_f64() == Some(0.0)));
                if !plain {
                    return Err(err(format!(
                        "{what}: only a plain ReLU (no max_value, threshold or slope) is supported"
                    )));
                }
                out.push(act(Activation::Relu));
            }
            "Activation" => out.extend(activation(c.get("activation"), &what).map_err(err)?),
            "Conv1D" => {
                channels_last()?;
                let (k, d) = (int("kernel_size", None)?, int("dilation_rate", Some(1))?);
                if int("strides", Some(1))? != 1 || int("groups", Some(1))? != 1 {
                    return Err(err(format!("{what}: strides and groups other than 1 are not supported")));
                }
                let padding = match text("padding", "valid").as_str() {
                    "same" => Padding::Same,
                    "valid" => {
                        self.len = self
                            .len
                            .checked_sub(d * (k.max(1) - 1))
                            .ok_or_else(|| err(format!("{what}: kernel longer than its input")))?;
                        Padding::Valid
                    }
                    p => return Err(err(format!("{what}: padding {p:?} is not supported"))),
                };
                let tag = match scope {
                    Scope::Trunk => {
                        self.top_convs += 1;
                        if self.top_convs == 1 {
                            "stem".to_string()
                        } else if !self.seen_residual {
                            self.towers += 1;
                            format!("tower{}", self.towers - 1)
                        } else {
                            self.blocks += 1;
                            format!("block{}", self.blocks - 1)
                        }
                    }
                    Scope::Residual { prefix, next } => {
                        *next += 1;
                        format!("{prefix}{}", char::from(b'a' + (*next - 1) % 26))
                    }
                    Scope::Head { .. } => l.name.clone(),
                };
                out.push(Layer::Conv1d(Conv1d {
                    name: Some(format!("{tag}_conv")),
                    filters: int("filters", None)? as usize,
                    kernel: k as usize,
                    dilation: d as usize,
                    bias: c.get("use_bias").and_then(Value::as_bool).unwrap_or(true),
                    padding,
                }));
                *bn_tag = Some(tag);
                out.extend(activation(c.get("activation"), &what).map_err(err)?);
            }
            "BatchNormalization" => {
                let axis = c.get("axis").map(|a| a.as_i64().or_else(|| a.get(0).and_then(Value::as_i64)));
                if !matches!(axis, None | Some(Some(-1)) | Some(Some(2))) {
                    return Err(err(format!("{what}: normalises axis {axis:?}, not the channels (last) axis")));
                }
                if c.get("center").and_then(Value::as_bool) == Some(false)
                    || c.get("scale").and_then(Value::as_bool) == Some(false)
                {
                    return Err(err(format!("{what}: center=false or scale=false is not supported")));
                }
                let eps = c.get("epsilon").and_then(Value::as_f64).unwrap_or(1e-3) as f32;
                let name = bn_tag.take().map(|t| format!("{t}_bn")).unwrap_or_else(|| l.name.clone());
                out.push(Layer::BatchNorm(BatchNorm { name: Some(name), eps }));
            }
            "MaxPooling1D" | "MaxPool1D" | "AveragePooling1D" | "AvgPool1D" => {
                channels_last()?;
                let size = int("pool_size", Some(2))?;
                if size == 0 || int("strides", Some(size))? != size {
                    return Err(err(format!("{what}: only windows with stride = size are supported")));
                }
                match text("padding", "valid").as_str() {
                    "valid" => {}
                    "same" if self.len.is_multiple_of(size) => {}
                    p => {
                        return Err(err(format!(
                            "{what}: padding {p:?} on length {} with size {size} is not supported",
                            self.len
                        )))
                    }
                }
                self.len /= size;
                let size = size as usize;
                out.push(if l.class.starts_with("Max") {
                    Layer::MaxPool(MaxPool { size })
                } else {
                    Layer::AvgPool(AvgPool { size })
                });
            }
            "Cropping1D" => {
                let (left, right) = match c.get("cropping") {
                    Some(Value::Array(a)) if a.len() == 2 => (a[0].as_u64(), a[1].as_u64()),
                    Some(v) => (v.as_u64(), v.as_u64()),
                    None => (Some(1), Some(1)),
                };
                let (Some(left), Some(right)) = (left, right) else {
                    return Err(err(format!("{what}: unreadable cropping {:?}", c.get("cropping"))));
                };
                self.len = self.len.saturating_sub(left + right);
                out.push(Layer::Crop(Crop { left: left as usize, right: right as usize }));
            }
            "Dense" => {
                let name = match scope {
                    Scope::Head { name, dense_named } if !*dense_named => {
                        *dense_named = true;
                        format!("head_{name}")
                    }
                    _ => l.name.clone(),
                };
                *bn_tag = None;
                out.push(Layer::Dense(Dense {
                    name: Some(name),
                    units: int("units", None)? as usize,
                    bias: c.get("use_bias").and_then(Value::as_bool).unwrap_or(true),
                }));
                out.extend(activation(c.get("activation"), &what).map_err(err)?);
            }
            "Add" => return Err(err(format!("{what}: an Add outside a residual block x + f(x) is not supported"))),
            "Functional" | "Model" | "Sequential" => {
                return Err(err(format!(
                    "unsupported layer {:?} of class {} at position {} (nested models are not supported)",
                    l.name, l.class, l.position
                )))
            }
            other => {
                return Err(err(format!(
                "unsupported layer {:?} of class {other} at position {}; give the architecture with --spec or --config",
                l.name, l.position
            )))
            }
        }
        Ok(())
    }
}

fn act(function: Activation) -> Layer {
    Layer::Activation(ActivationLayer { function })
}

/// A Keras activation (by its serialised name) as zero or one spec layers.
fn activation(v: Option<&Value>, what: &str) -> std::result::Result<Option<Layer>, String> {
    let name = match v {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::String(s)) => s.as_str(),
        Some(other) => return Err(format!("{what}: activation {other} is not a built-in name")),
    };
    Ok(Some(act(match name {
        "linear" => return Ok(None),
        "relu" => Activation::Relu,
        "gelu" => Activation::GeluErf,
        "softplus" => Activation::Softplus,
        "sigmoid" => Activation::Sigmoid,
        "exponential" => Activation::Exp,
        other => return Err(format!("{what}: activation {other:?} is not supported")),
    })))
}
