//! Specs built from other tools' architecture descriptions.
//!
//! [`basenji`] reads a basenji `params.json` (the `model` section; 2020 keys `batch_norm`
//! and later `norm_type` both accepted) and builds the network that calico/basenji's 2020
//! code builds from it: pre-activation blocks GELU → Conv1D (no bias, "same") → BatchNorm
//! (eps 1e-3) → MaxPool, where GELU is basenji's x·sigmoid(1.702x); filter counts and dilation
//! rates rounded half-to-even as numpy does; a final GELU before each dense head.

use serde_json::Value;

use crate::error::{Error, Result};
use crate::model::ops::*;
use crate::model::spec::{Activation, Head, InputSpec, Layer, ModelSpec, Padding, FORMAT, VERSION};

fn gelu() -> Layer {
    Layer::Activation(ActivationLayer { function: Activation::GeluSigmoid })
}

fn get_u(block: &Value, key: &str, default: Option<u64>) -> Result<u64> {
    match block.get(key) {
        Some(v) => v
            .as_f64()
            .map(|f| f as u64)
            .ok_or_else(|| Error::Spec(format!("basenji block key {key:?} is not a number"))),
        None => default.ok_or_else(|| Error::Spec(format!("basenji block {:?} lacks {key:?}", block.get("name")))),
    }
}

fn get_f(block: &Value, key: &str, default: f64) -> f64 {
    block.get(key).and_then(Value::as_f64).unwrap_or(default)
}

/// basenji's conv_block: [GELU], Conv1D, BN, [MaxPool]. `tag` names the weights.
fn conv_block(tag: &str, filters: usize, kernel: usize, dilation: usize, pool: usize, bn: bool) -> Vec<Layer> {
    let mut v = vec![
        gelu(),
        Layer::Conv1d(Conv1d {
            name: Some(format!("{tag}_conv")),
            filters,
            kernel,
            dilation,
            bias: false,
            padding: Padding::Same,
        }),
    ];
    if bn {
        v.push(Layer::BatchNorm(BatchNorm { name: Some(format!("{tag}_bn")), eps: 1e-3 }));
    }
    if pool > 1 {
        v.push(Layer::MaxPool(MaxPool { size: pool }));
    }
    v
}

/// Builds a spec from a basenji `params.json` value (the whole file or its `model` section).
/// `heads` gives each head's name and track count, in output order; when empty, the heads are
/// read from `head_<name>` keys (units) of the params.
pub fn basenji(params: &Value, name: &str, heads: &[(String, usize)]) -> Result<ModelSpec> {
    let model = params.get("model").unwrap_or(params);
    let seq_len = model
        .get("seq_length")
        .and_then(Value::as_u64)
        .ok_or_else(|| Error::Spec("params lack model.seq_length".into()))?;
    let act = model.get("activation").and_then(Value::as_str).unwrap_or("gelu");
    if act != "gelu" {
        return Err(Error::Spec(format!("basenji activation {act:?} is not supported (only gelu)")));
    }
    let bn = model.get("batch_norm").and_then(Value::as_bool).unwrap_or(false)
        || model.get("norm_type").and_then(Value::as_str) == Some("batch");
    let trunk_json =
        model.get("trunk").and_then(Value::as_array).ok_or_else(|| Error::Spec("params lack model.trunk".into()))?;
    let mut trunk = Vec::new();
    let (mut n_block, mut n_tower, mut n_dil) = (0, 0, 0);
    let mut channels = 4usize;
    for block in trunk_json {
        let kind = block.get("name").and_then(Value::as_str).unwrap_or("");
        match kind {
            "conv_block" => {
                let filters = get_u(block, "filters", None)? as usize;
                let tag = if n_block == 0 { "stem".to_string() } else { format!("block{n_block}") };
                n_block += 1;
                trunk.extend(conv_block(
                    &tag,
                    filters,
                    get_u(block, "kernel_size", Some(1))? as usize,
                    get_u(block, "dilation_rate", Some(1))? as usize,
                    get_u(block, "pool_size", Some(1))? as usize,
                    bn,
                ));
                channels = filters;
            }
            "conv_tower" => {
                let mut f = get_f(block, "filters_init", 0.0);
                let mult = get_f(block, "filters_mult", 1.0);
                for _ in 0..get_u(block, "repeat", Some(1))? {
                    let filters = f.round_ties_even() as usize;
                    trunk.extend(conv_block(
                        &format!("tower{n_tower}"),
                        filters,
                        get_u(block, "kernel_size", Some(1))? as usize,
                        1,
                        get_u(block, "pool_size", Some(1))? as usize,
                        bn,
                    ));
                    n_tower += 1;
                    channels = filters;
                    f *= mult;
                }
            }
            "dilated_residual" => {
                let filters = get_u(block, "filters", None)? as usize;
                let mult = get_f(block, "rate_mult", 2.0);
                let round = block.get("round").and_then(Value::as_bool).unwrap_or(false);
                let kernel = get_u(block, "kernel_size", Some(3))? as usize;
                let mut rate = 1.0f64;
                for _ in 0..get_u(block, "repeat", Some(1))? {
                    let tag = format!("dil{n_dil}");
                    let mut body =
                        conv_block(&format!("{tag}a"), filters, kernel, rate.round_ties_even() as usize, 1, bn);
                    body.extend(conv_block(&format!("{tag}b"), channels, 1, 1, 1, bn));
                    trunk.push(Layer::Residual(Residual { layers: body }));
                    n_dil += 1;
                    rate *= mult;
                    if round {
                        rate = rate.round_ties_even();
                    }
                }
            }
            "Cropping1D" | "cropping_1d" => {
                let c = get_u(block, "cropping", None)? as usize;
                trunk.push(Layer::Crop(Crop { left: c, right: c }));
            }
            other => return Err(Error::Spec(format!("basenji block {other:?} is not supported"))),
        }
    }
    // basenji adds the model activation after the trunk, before the heads.
    trunk.push(gelu());
    let head_list: Vec<(String, usize)> = if heads.is_empty() {
        model
            .as_object()
            .map(|o| {
                o.iter()
                    .filter_map(|(k, v)| {
                        Some((k.strip_prefix("head_")?.to_string(), v.get("units")?.as_u64()? as usize))
                    })
                    .collect()
            })
            .unwrap_or_default()
    } else {
        heads.to_vec()
    };
    if head_list.is_empty() {
        return Err(Error::Spec("no heads: give head names and track counts".into()));
    }
    let heads = head_list
        .into_iter()
        .map(|(h, units)| Head {
            from: None,
            layers: vec![
                Layer::Dense(Dense { name: Some(format!("head_{h}")), units, bias: true }),
                Layer::Activation(ActivationLayer { function: Activation::Softplus }),
            ],
            name: h,
            tracks: vec![],
            geometry: None,
            strand_pairs: vec![],
            profile_counts: None,
        })
        .collect();
    let spec = ModelSpec {
        format: FORMAT.into(),
        version: VERSION,
        name: name.into(),
        description: "Basenji2-style dilated residual CNN (calico/basenji 2020 semantics)".into(),
        input: InputSpec::new(seq_len, 0.0),
        trunk,
        inputs: vec![],
        graph: vec![],
        heads,
        source: None,
    };
    spec.analyze()?;
    Ok(spec)
}
