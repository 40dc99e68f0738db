//! Architectures for `s2f train --arch`: specs built for a given input length and one head per
//! modality (name, track count).
//!
//! - `drg-shallow` — DRG's shallow CNN (as in the Calderon 2019 model): strand-max convolution
//!   (`filters` kernels of width `kernel`, no bias, "same"), GELU, DRG's weighted pooling in
//!   windows of `pool` bp (default ⌈L/5⌉, padded with the sequence minimum to a multiple of
//!   `pool`), flatten, one linear read-out per head.
//! - `drg-dilated` — DRG's dilated residual CNN: the same strand-max convolution and GELU, then
//!   `blocks` residual blocks [conv k3 with dilation 2, 4, 8, …, batch norm, GELU], weighted
//!   pooling, flatten, one linear read-out per head.
//! - `basenji2` — the released Basenji2 architecture (basenji's params.json for the 2020 model)
//!   for any input length divisible by 128: bins of 128 bp, cropping L/128/16 bins at each end
//!   (64 of 1024 for the released 131,072 bp), one softplus dense head per modality.
//!   `filters` overrides the 1,536 filters of the final block; `blocks` the 11 dilated residual
//!   blocks.
//! - `bpnet` — bpnet-lite's BPNet (the same graph `s2f convert --from bpnet-lite` builds, see
//!   [`crate::converters::bpnet`]) without control tracks: `filters` (64) per convolution,
//!   `blocks` (8) dilated residual layers, input `length` (2,114 bp), trimming 47 + Σ 2^i (557,
//!   a 1,000-bp profile). One modality: its tracks are the profile's strands (a head named
//!   after it, logits), plus the `counts` head (log total count), trained on the log1p of the
//!   profile's total (see [`crate::train::job`]). With control tracks (`control`, one per
//!   strand), the `control` input (N, strands, L) joins the profile's final convolution and the
//!   count read-out (log(1 + its total)), as in bpnet-lite.

use serde_json::json;

use crate::error::{Error, Result};
use crate::model::ops::*;
use crate::model::spec::{Activation, Head, InputSpec, Layer, ModelSpec, Padding, PoolPad, Source, FORMAT, VERSION};

/// Size settings; `None` takes the preset's default.
#[derive(Debug, Clone, Copy, Default)]
pub struct PresetSizes {
    /// Input length in bp.
    pub length: Option<u64>,
    /// Convolution filters.
    pub filters: Option<usize>,
    /// First kernel width.
    pub kernel: Option<usize>,
    /// Pooling window.
    pub pool: Option<usize>,
    /// Residual blocks.
    pub blocks: Option<usize>,
    /// `drg-multi`: units of each input's embedding and of the dense layer (default 512).
    pub embedding: Option<usize>,
    /// `drg-multi`: how inputs combine (`concat`, the default, or an analytic merge).
    pub merge: Option<crate::model::graph::Merge>,
    /// `bpnet`: control tracks (strands) read beside the sequence (0: none).
    pub control: usize,
}

/// Preset names.
pub const PRESETS: &[&str] = &["drg-shallow", "drg-dilated", "basenji2", "bpnet", DRG_MULTI];

/// The multi-input architecture, built by [`crate::train::multi::drg_multi`] from the data's
/// one-hot files.
pub const DRG_MULTI: &str = "drg-multi";

/// Name of the count head of the `bpnet` preset.
pub const BPNET_COUNTS: &str = "counts";

/// Builds preset `name` with one head per `(name, tracks)`.
pub fn preset(name: &str, sizes: PresetSizes, heads: &[(String, usize)]) -> Result<ModelSpec> {
    if heads.is_empty() {
        return Err(Error::InvalidArgument("a model needs at least one head (target file)".into()));
    }
    let mut spec = match name {
        "drg-shallow" => drg(sizes, heads, 0)?,
        "drg-dilated" => drg(sizes, heads, sizes.blocks.unwrap_or(4))?,
        "basenji2" => basenji2(sizes, heads)?,
        "bpnet" => bpnet(sizes, heads)?,
        DRG_MULTI => {
            return Err(Error::InvalidArgument(
                "drg-multi is built from several one-hot files (--onehot a.npz,b.npz)".into(),
            ))
        }
        other => {
            return Err(Error::InvalidArgument(format!("unknown architecture {other:?} ({})", PRESETS.join(", "))))
        }
    };
    spec.source = preset_source(name);
    spec.analyze()?;
    Ok(spec)
}

/// Provenance of a preset-built spec.
pub fn preset_source(name: &str) -> Option<Source> {
    Some(Source {
        format: "s2f-train".into(),
        files: vec![],
        sha256: vec![],
        notes: [("arch".to_string(), name.to_string())].into_iter().collect(),
    })
}

fn bpnet(sizes: PresetSizes, heads: &[(String, usize)]) -> Result<ModelSpec> {
    let [(name, strands)] = heads else {
        return Err(Error::InvalidArgument(format!(
            "the bpnet architecture trains one profile (one bigWig group, its files the strands), not {}",
            heads.len()
        )));
    };
    if name == BPNET_COUNTS {
        return Err(Error::InvalidArgument(format!(
            "the profile cannot be named {BPNET_COUNTS:?} (the count head's name)"
        )));
    }
    if sizes.kernel.is_some() || sizes.pool.is_some() {
        return Err(Error::InvalidArgument(
            "bpnet takes --filters, --blocks and --length (no kernel or pool sizes)".into(),
        ));
    }
    let n_layers = sizes.blocks.unwrap_or(8);
    if n_layers > 20 {
        return Err(Error::InvalidArgument(format!(
            "{n_layers} dilated layers (dilation 2^{n_layers}) is beyond any BPNet"
        )));
    }
    let cfg = crate::converters::bpnet::BpnetConfig {
        n_filters: sizes.filters.unwrap_or(64),
        n_layers,
        n_outputs: *strands,
        n_control_tracks: sizes.control,
        trimming: crate::converters::bpnet::BpnetConfig::default_trimming(n_layers),
        profile_output_bias: true,
        count_output_bias: true,
    };
    let length = sizes.length.unwrap_or(crate::converters::bpnet::DEFAULT_INPUT_LENGTH);
    if length <= 2 * cfg.trimming as u64 {
        return Err(Error::InvalidArgument(format!(
            "bpnet with {n_layers} layers trims {} bp at each end: the input ({length} bp) must be longer than {}",
            cfg.trimming,
            2 * cfg.trimming
        )));
    }
    let mut spec = cfg.spec(length, name, BPNET_COUNTS);
    spec.name = "bpnet".into();
    spec.description = String::new();
    Ok(spec)
}

fn drg(sizes: PresetSizes, heads: &[(String, usize)], blocks: usize) -> Result<ModelSpec> {
    let length = sizes.length.unwrap_or(401) as usize;
    let filters = sizes.filters.unwrap_or(if blocks > 0 { 128 } else { 256 });
    let kernel = sizes.kernel.unwrap_or(15);
    let trunk = drg_body("", length, sizes, blocks)?;
    let heads = heads
        .iter()
        .map(|(name, tracks)| Head {
            from: None,
            name: name.clone(),
            layers: vec![Layer::Linear(Linear { name: Some(format!("{name}.linear")), units: *tracks, bias: true })],
            tracks: vec![],
            geometry: None,
            strand_pairs: vec![],
            profile_counts: None,
        })
        .collect();
    Ok(ModelSpec {
        format: FORMAT.into(),
        version: VERSION,
        name: if blocks > 0 { "drg_dilated".into() } else { "drg_shallow".into() },
        description: if blocks > 0 {
            format!("DRG dilated residual CNN ({filters} filters, {blocks} blocks), trained with s2f")
        } else {
            format!("DRG shallow CNN ({filters} kernels of {kernel}), trained with s2f")
        },
        input: InputSpec::new(length as u64, 0.25),
        trunk,
        inputs: vec![],
        graph: vec![],
        heads,
        source: None,
    })
}

/// DRG's CNN body for `length` bp (strand-max convolution, GELU, `blocks` dilated residual
/// blocks, weighted pooling, flatten), its weights named `{prefix}conv1`, `{prefix}res0.conv`, ….
pub(crate) fn drg_body(prefix: &str, length: usize, sizes: PresetSizes, blocks: usize) -> Result<Vec<Layer>> {
    let filters = sizes.filters.unwrap_or(if blocks > 0 { 128 } else { 256 });
    let kernel = sizes.kernel.unwrap_or(15);
    let pool = sizes.pool.unwrap_or(length.div_ceil(5));
    if pool == 0 || pool > length {
        return Err(Error::InvalidArgument(format!("pooling window {pool} does not fit length {length}")));
    }
    let mut trunk = vec![
        Layer::StrandMax(StrandMax {
            layers: vec![Layer::Conv1d(Conv1d {
                name: Some(format!("{prefix}conv1")),
                filters,
                kernel,
                dilation: 1,
                bias: false,
                padding: Padding::Same,
            })],
        }),
        Layer::Activation(ActivationLayer { function: Activation::GeluErf }),
    ];
    for b in 0..blocks {
        trunk.push(Layer::Residual(Residual {
            layers: vec![
                Layer::Conv1d(Conv1d {
                    name: Some(format!("{prefix}res{b}.conv")),
                    filters,
                    kernel: 3,
                    dilation: 2usize.pow(b as u32 + 1),
                    bias: false,
                    padding: Padding::Same,
                }),
                Layer::BatchNorm(BatchNorm { name: Some(format!("{prefix}res{b}.bn")), eps: 1e-5 }),
                Layer::Activation(ActivationLayer { function: Activation::GeluErf }),
            ],
        }));
    }
    let total_pad = length.div_ceil(pool) * pool - length;
    let side = total_pad.div_ceil(2);
    trunk.push(Layer::WeightedPool(WeightedPool {
        size: pool,
        pad_left: side,
        pad_right: side,
        pad_value: PoolPad::Min,
    }));
    trunk.push(Layer::Flatten(Flatten {}));
    Ok(trunk)
}

fn basenji2(sizes: PresetSizes, heads: &[(String, usize)]) -> Result<ModelSpec> {
    let length = sizes.length.unwrap_or(131_072);
    if !length.is_multiple_of(128) || length < 128 * 32 {
        return Err(Error::InvalidArgument(format!(
            "basenji2 needs an input length divisible by 128 and at least 4096 bp, not {length}"
        )));
    }
    let bins = length / 128;
    let crop = bins / 16;
    let params = json!({"model": {
        "seq_length": length,
        "target_length": bins,
        "activation": "gelu",
        "norm_type": "batch",
        "bn_momentum": 0.9,
        "trunk": [
            {"name": "conv_block", "filters": 288, "kernel_size": sizes.kernel.unwrap_or(15), "pool_size": 2},
            {"name": "conv_tower", "filters_init": 339, "filters_mult": 1.1776, "kernel_size": 5, "pool_size": 2, "repeat": 6},
            {"name": "dilated_residual", "filters": 384, "rate_mult": 1.5, "repeat": sizes.blocks.unwrap_or(11), "dropout": 0.3, "round": true},
            {"name": "Cropping1D", "cropping": crop},
            {"name": "conv_block", "filters": sizes.filters.unwrap_or(1536), "dropout": 0.05}
        ]
    }});
    let mut spec = crate::model::presets::basenji(&params, "basenji2", heads)?;
    spec.description = format!("Basenji2 architecture for {length} bp windows, trained with s2f");
    Ok(spec)
}
