//! Keras `model_config` (the architecture JSON in a full-model `.h5`'s root attribute) →
//! [`ModelSpec`].
//!
//! Contract of [`spec_from_model_config`]:
//! - Accepts `Sequential` and `Functional` (`Model`) configs of Keras 2 (`inbound_nodes` as nested
//!   lists) and Keras 3 (`inbound_nodes` as `args` with `keras_history`), with one one-hot input
//!   `(L, 4)` of fixed length `L`.
//! - Layers understood: `InputLayer`; `Conv1D` (stride 1, `same`/`valid`, any dilation, bias or
//!   not, an optional activation); `BatchNormalization` (channels last, centre and scale);
//!   basenji's `GELU` (x·σ(1.702x)), `Softplus`, Keras `ReLU`, and `Activation` (`relu`, `gelu`
//!   = erf GELU, `softplus`, `sigmoid`, `exponential`, `linear`); `MaxPooling1D`/`MaxPool1D`,
//!   `AveragePooling1D`/`AvgPool1D` (stride = size; `same` only where it divides the length);
//!   `Cropping1D`; `Dense` (pointwise, optional activation); `Add` of `x` and a chain computed from
//!   `x` (a residual block); and, as identities at inference, `Dropout`, `StochasticShift`,
//!   `StochasticReverseComplement` and `SwitchReverse` (when its switch is the reverse flag of a
//!   `StochasticReverseComplement`, which is false at inference). Anything else is refused
//!   with an [`Error::Malformed`] naming the layer, its class and its position in the config.
//! - Heads: one per model output. With several outputs the trunk is their common prefix; with
//!   one, the head starts at the last top-level `Dense` (none: the head has no layers). A head
//!   is named after its `Dense` layer (or its output layer), and its first `Dense` is named
//!   `head_<head>`.
//! - Names follow [`crate::model::presets::basenji`] so that a Basenji2 config gives the spec its
//!   `params.json` gives (up to the head's name and the description): top-level convolutions are
//!   `stem`, then `tower<i>` before the first residual block and `block<j>` (from 1) after it;
//!   the convolutions of the r-th residual block are `dil<r>a`, `dil<r>b`, …; a convolution's
//!   weights are `<tag>_conv` and those of the batch norm right after it `<tag>_bn`. Layers that
//!   fit none of these keep their Keras names.
//! - `n_value` is 0 (Keras models read N as all zeros); the spec is validated with
//!   [`ModelSpec::analyze`] before it is returned.

use std::collections::{HashMap, HashSet};
use std::path::Path;

use serde_json::Value;

use crate::converters::keras_layers::{Builder, Scope};
use crate::error::{Error, Result};
use crate::model::spec::{Head, InputSpec, ModelSpec};

/// One layer of the config.
#[derive(Debug)]
pub(crate) struct KLayer<'a> {
    /// Class name, without a registration prefix (`Custom>GELU` → `GELU`).
    pub(crate) class: String,
    /// Layer name.
    pub(crate) name: String,
    /// Index in the config's layer list.
    pub(crate) position: usize,
    /// The layer's `config` object.
    pub(crate) config: &'a Value,
    /// Inbound tensors `(layer, tensor index)` of its one call.
    inputs: Vec<(String, u64)>,
}

/// A step of a layer chain: a layer, or a residual block `x + body(x)`.
#[derive(Debug)]
pub(crate) enum Item<'a, 'b> {
    /// One layer.
    L(&'b KLayer<'a>),
    /// `x + body(x)`.
    Res(Vec<Item<'a, 'b>>),
}

impl Item<'_, '_> {
    fn key(&self) -> String {
        match self {
            Item::L(l) => l.name.clone(),
            Item::Res(b) => format!("res({})", b.iter().map(Item::key).collect::<Vec<_>>().join(",")),
        }
    }
}

/// Builds a spec named `name` from the `model_config` JSON text of the Keras file `origin` (used
/// in error messages only). See the module documentation for what is accepted.
pub fn spec_from_model_config(config: &str, name: &str, origin: &Path) -> Result<ModelSpec> {
    let bad = |loc: String, m: String| Error::malformed(origin, loc, m);
    let json: Value = serde_json::from_str(config).map_err(|e| bad("model_config".into(), format!("not JSON: {e}")))?;
    let class = json.get("class_name").and_then(Value::as_str).unwrap_or("");
    let cfg = json.get("config").unwrap_or(&Value::Null);
    let model_name = cfg.get("name").and_then(Value::as_str).unwrap_or("model");
    let raw = cfg
        .get("layers")
        .and_then(Value::as_array)
        .ok_or_else(|| bad("model_config".into(), "no config.layers list".into()))?;
    let sequential = match class {
        "Sequential" => true,
        "Functional" | "Model" => false,
        other => {
            return Err(bad("model_config".into(), format!("model class {other:?} is not Sequential or Functional")))
        }
    };
    let mut layers = Vec::with_capacity(raw.len());
    for (position, l) in raw.iter().enumerate() {
        let class = l.get("class_name").and_then(Value::as_str).unwrap_or("");
        let class = class.rsplit('>').next().unwrap_or(class).to_string();
        let lname = l
            .get("name")
            .or_else(|| l.pointer("/config/name"))
            .and_then(Value::as_str)
            .map(str::to_string)
            .unwrap_or_else(|| format!("layer{position}"));
        let inputs = if sequential { vec![] } else { inbound(l, &lname, &class, position, origin)? };
        layers.push(KLayer { class, name: lname, position, config: l.get("config").unwrap_or(&Value::Null), inputs });
    }
    // Sequential: implicit input, then every layer in order.
    let (input_len, chains) = if sequential {
        let len = input_length(&layers, origin)?;
        let items: Vec<Item> = layers.iter().filter(|l| l.class != "InputLayer").map(Item::L).collect();
        let out = layers.last().map(|l| l.name.clone()).unwrap_or_default();
        (len, vec![(out, items)])
    } else {
        functional_chains(cfg, &layers, origin)?
    };

    // Split trunk and heads.
    let (trunk_items, head_items): (Vec<&Item>, Vec<(String, Vec<&Item>)>) = if chains.len() == 1 {
        let (out, items) = &chains[0];
        let split = items.iter().rposition(|i| matches!(i, Item::L(l) if l.class == "Dense")).unwrap_or(items.len());
        let head_name = match items.get(split) {
            Some(Item::L(l)) => l.name.clone(),
            _ => out.clone(),
        };
        (items[..split].iter().collect(), vec![(head_name, items[split..].iter().collect())])
    } else {
        let keys: Vec<Vec<String>> = chains.iter().map(|(_, c)| c.iter().map(Item::key).collect()).collect();
        let common = (0..).take_while(|&i| keys.iter().all(|k| i < k.len() && k[i] == keys[0][i])).count();
        let heads = chains
            .iter()
            .map(|(out, c)| {
                let hn = c[common..]
                    .iter()
                    .find_map(|i| match i {
                        Item::L(l) if l.class == "Dense" => Some(l.name.clone()),
                        _ => None,
                    })
                    .unwrap_or_else(|| out.clone());
                (hn, c[common..].iter().collect())
            })
            .collect();
        (chains[0].1[..common].iter().collect(), heads)
    };

    let mut b = Builder::new(origin, input_len);
    let mut trunk = Vec::new();
    b.seq(&trunk_items, &mut Scope::Trunk, &mut None, &mut trunk)?;
    let trunk_len = b.len();
    let mut heads = Vec::new();
    for (hn, items) in head_items {
        b.set_len(trunk_len);
        let mut layers = Vec::new();
        b.seq(&items, &mut Scope::head(&hn), &mut None, &mut layers)?;
        heads.push(Head::new(hn, layers));
    }
    let mut spec = ModelSpec::new(name, InputSpec::new(input_len, 0.0), trunk, heads);
    spec.description = format!("from the Keras model_config of {model_name} ({class})");
    spec.analyze().map_err(|e| bad("model_config".into(), format!("the model built from it is inconsistent: {e}")))?;
    Ok(spec)
}

/// The inbound tensors of a Functional layer's single call (Keras 2 or 3 encoding).
fn inbound(l: &Value, name: &str, class: &str, position: usize, origin: &Path) -> Result<Vec<(String, u64)>> {
    let nodes = match l.get("inbound_nodes") {
        None | Some(Value::Null) => return Ok(vec![]),
        Some(Value::Array(n)) => n,
        Some(_) => return Err(Error::malformed(origin, at(name), "inbound_nodes is not a list")),
    };
    match nodes.len() {
        0 => return Ok(vec![]),
        1 => {}
        n => {
            return Err(Error::malformed(
                origin,
                at(name),
                format!("layer {name:?} of class {class} at position {position} is called {n} times (shared layers are not supported)"),
            ))
        }
    }
    let mut out = Vec::new();
    match &nodes[0] {
        // Keras 2: [[name, node, tensor, kwargs], ...]
        Value::Array(tensors) => {
            for t in tensors {
                let (Some(src), Some(idx)) = (t.get(0).and_then(Value::as_str), t.get(2).and_then(Value::as_u64))
                else {
                    return Err(Error::malformed(origin, at(name), format!("unreadable inbound tensor {t}")));
                };
                out.push((src.to_string(), idx));
            }
        }
        // Keras 3: {"args": [...], "kwargs": {...}} with keras_history = [name, node, tensor].
        node @ Value::Object(_) => history(node.get("args").unwrap_or(&Value::Null), &mut out),
        other => return Err(Error::malformed(origin, at(name), format!("unreadable inbound node {other}"))),
    }
    Ok(out)
}

fn history(v: &Value, out: &mut Vec<(String, u64)>) {
    match v {
        Value::Object(o) => match o.get("keras_history").and_then(Value::as_array) {
            Some(h) => {
                if let (Some(n), Some(t)) = (h.first().and_then(Value::as_str), h.get(2).and_then(Value::as_u64)) {
                    out.push((n.to_string(), t));
                }
            }
            None => o.values().for_each(|x| history(x, out)),
        },
        Value::Array(a) => a.iter().for_each(|x| history(x, out)),
        _ => {}
    }
}

pub(crate) fn at(layer: &str) -> String {
    format!("model_config, layer {layer:?}")
}

/// Input length from an `InputLayer`'s `batch_input_shape` (Keras 2) / `batch_shape` (Keras 3),
/// or from the first layer's `batch_input_shape` (Sequential without an InputLayer).
fn input_length(layers: &[KLayer], origin: &Path) -> Result<u64> {
    let inputs: Vec<&KLayer> = layers.iter().filter(|l| l.class == "InputLayer").collect();
    let l = match (inputs.as_slice(), layers.first()) {
        ([one], _) => *one,
        ([], Some(first)) => first,
        ([], None) => return Err(Error::malformed(origin, "model_config", "the model has no layers")),
        (many, _) => {
            return Err(Error::malformed(
                origin,
                "model_config",
                format!("{} inputs ({}); s2f models read one sequence", many.len(), names(many)),
            ))
        }
    };
    let shape = l
        .config
        .get("batch_input_shape")
        .or_else(|| l.config.get("batch_shape"))
        .and_then(Value::as_array)
        .ok_or_else(|| Error::malformed(origin, at(&l.name), "no batch_input_shape: the input length is unknown"))?;
    match shape.as_slice() {
        [_, len, c] if c.as_u64() == Some(4) => len.as_u64().filter(|&n| n > 0).ok_or_else(|| {
            Error::malformed(origin, at(&l.name), format!("input length {len} is not fixed; give --spec or --config"))
        }),
        _ => Err(Error::malformed(
            origin,
            at(&l.name),
            format!("input shape {} is not (batch, L, 4) one-hot DNA", Value::Array(shape.clone())),
        )),
    }
}

fn names(ls: &[&KLayer]) -> String {
    ls.iter().map(|l| l.name.as_str()).collect::<Vec<_>>().join(", ")
}

/// Input length and, per model output, the chain of layers from the input to it.
#[allow(clippy::type_complexity)]
fn functional_chains<'a, 'b>(
    cfg: &Value,
    layers: &'b [KLayer<'a>],
    origin: &Path,
) -> Result<(u64, Vec<(String, Vec<Item<'a, 'b>>)>)> {
    let g: HashMap<&str, &KLayer> = layers.iter().map(|l| (l.name.as_str(), l)).collect();
    let len = input_length(layers, origin)?;
    let input = layers.iter().find(|l| l.class == "InputLayer").map(|l| l.name.as_str()).unwrap_or("");
    let outs = endpoints(cfg.get("output_layers"));
    if outs.is_empty() {
        return Err(Error::malformed(origin, "model_config", "no output_layers"));
    }
    let mut chains = Vec::new();
    for out in outs {
        let mut w = Walk { g: &g, origin, steps: 0 };
        chains.push((out.clone(), w.chain(&out, input)?));
    }
    Ok((len, chains))
}

/// Layer names of `input_layers`/`output_layers`: `[[name, 0, 0], ...]` or `[name, 0, 0]`.
fn endpoints(v: Option<&Value>) -> Vec<String> {
    match v.and_then(Value::as_array) {
        Some(a) if a.first().is_some_and(Value::is_string) => {
            a.first().and_then(Value::as_str).map(|s| vec![s.to_string()]).unwrap_or_default()
        }
        Some(a) => a.iter().filter_map(|e| e.get(0).and_then(Value::as_str).map(str::to_string)).collect(),
        None => vec![],
    }
}

/// Backward walk over a Functional graph.
struct Walk<'g, 'a, 'b> {
    g: &'g HashMap<&'b str, &'b KLayer<'a>>,
    origin: &'g Path,
    /// Layers visited so far, to stop on a cyclic (corrupt) graph.
    steps: usize,
}

impl<'a, 'b> Walk<'_, 'a, 'b> {
    fn get(&self, name: &str) -> Result<&'b KLayer<'a>> {
        self.g.get(name).copied().ok_or_else(|| {
            Error::malformed(self.origin, "model_config", format!("layer {name:?} is used but not defined"))
        })
    }

    /// The layers from just after `stop` to `end` inclusive, in forward order.
    fn chain(&mut self, end: &str, stop: &str) -> Result<Vec<Item<'a, 'b>>> {
        let mut rev = Vec::new();
        let mut cur = end.to_string();
        while cur != stop {
            self.steps += 1;
            if self.steps > 4 * self.g.len() + 4 {
                return Err(Error::malformed(self.origin, "model_config", "the layer graph has a cycle"));
            }
            let l = self.get(&cur)?;
            let origin = self.origin;
            let err = |m: String| Error::malformed(origin, at(&l.name), m);
            match (l.class.as_str(), l.inputs.as_slice()) {
                ("InputLayer", _) | (_, []) => {
                    return Err(err(format!(
                        "layer {:?} is not connected to the model's input {stop:?} (a second input? s2f models read one sequence)",
                        l.name
                    )))
                }
                ("Add", [a, b]) => {
                    let (skip, body) = if self.reaches(&b.0, &a.0) {
                        (&a.0, &b.0)
                    } else if self.reaches(&a.0, &b.0) {
                        (&b.0, &a.0)
                    } else {
                        return Err(err(format!(
                            "Add {:?} at position {}: neither input is computed from the other (only x + f(x) residual blocks are supported)",
                            l.name, l.position
                        )));
                    };
                    rev.push(Item::Res(self.chain(body, skip)?));
                    cur = skip.clone();
                }
                ("SwitchReverse", [x, (flag, 1)]) if self.get(flag)?.class == "StochasticReverseComplement" => {
                    rev.push(Item::L(l));
                    cur = x.0.clone();
                }
                ("SwitchReverse", _) => {
                    return Err(err(format!(
                        "SwitchReverse {:?} at position {}: its switch is not the flag of a StochasticReverseComplement, so it may not be an identity at inference",
                        l.name, l.position
                    )))
                }
                (_, [x]) => {
                    rev.push(Item::L(l));
                    cur = x.0.clone();
                }
                (class, ins) => {
                    return Err(err(format!(
                        "layer {:?} of class {class} at position {} has {} inputs; only Add residual blocks may join branches",
                        l.name,
                        l.position,
                        ins.len()
                    )))
                }
            }
        }
        rev.reverse();
        Ok(rev)
    }

    /// Whether `target` is an ancestor of `from` (a strict one).
    fn reaches(&self, from: &str, target: &str) -> bool {
        let mut seen = HashSet::new();
        let mut stack = vec![from.to_string()];
        while let Some(n) = stack.pop() {
            let Some(l) = self.g.get(n.as_str()) else { continue };
            for (i, _) in &l.inputs {
                if i == target {
                    return true;
                }
                if seen.insert(i.clone()) {
                    stack.push(i.clone());
                }
            }
        }
        false
    }
}
