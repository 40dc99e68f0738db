//! bpnet-lite (jmschrei/bpnet-lite, PyTorch) `BPNet` and `ChromBPNet` state_dicts → s2f specs
//! in the graph form, layer for layer (see `docs/model-spec.md`).
//!
//! One BPNet (bpnet-lite's `BPNet.forward`, trimming T, input length L):
//! - body: `iconv` Conv1d(4→F, k 21, same) → ReLU, then for i = 1..n: x + ReLU(`rconvs.{i−1}`(x)),
//!   Conv1d(F→F, k 3, dilation 2^i, same);
//! - profile: `fconv` Conv1d(F + controls → n_outputs, k 75, same) on [body ; control], cropped to
//!   [T, L − T): logits, canonical output `(N, L − 2T, n_outputs)`;
//! - counts: mean of the body over [T − 37, L − T + 37), with control tracks concatenated with
//!   log(1 + Σ control over the same span and every strand), → `linear` (… → 1): `(N, 1, 1)`.
//!
//! ChromBPNet (`bias.*` and `accessibility.*` in one state_dict): profile = accessibility +
//! bias logits (the bias cropped to the accessibility's span when it trims less); counts =
//! log(exp(accessibility) + exp(bias)).
//!
//! Inputs: `sequence` (N, L, 4) one-hot (N = all zeros, as bpnet-lite encodes it) and, for a
//! BPNet with control tracks, `control` (N, strands, L), bpnet-lite's `X_ctl` layout. Layer names
//! are the state_dict prefixes, so weights map one to one.

use std::path::Path;

use serde_json::Value;

use crate::converters::torch::{map_state_dict, read_state_dict};
use crate::converters::{source, Converted};
use crate::error::{Error, Result};
use crate::model::graph::{ExtraInput, InputKind, Merge, Node, TRUNK};
use crate::model::ops::*;
use crate::model::spec::{Activation, Head, InputLayout, InputSpec, Layer, ModelSpec, Padding, Track};

/// bpnet-lite's input window (bp) when the config does not give `input_length`.
pub const DEFAULT_INPUT_LENGTH: u64 = 2114;
/// Positions the count head keeps on each side beyond the profile's span (bpnet-lite's 37).
const COUNT_MARGIN: usize = 37;
/// Name of the control-track input.
pub const CONTROL: &str = "control";

/// Constructor arguments of one bpnet-lite `BPNet`.
#[derive(Debug, Clone, PartialEq)]
pub struct BpnetConfig {
    /// Filters per convolution.
    pub n_filters: usize,
    /// Dilated residual layers.
    pub n_layers: usize,
    /// Profile strands.
    pub n_outputs: usize,
    /// Control tracks (0 for none).
    pub n_control_tracks: usize,
    /// Positions trimmed at each end of the profile.
    pub trimming: usize,
    /// Bias of `fconv`.
    pub profile_output_bias: bool,
    /// Bias of `linear`.
    pub count_output_bias: bool,
}

const KNOWN_KEYS: [&str; 11] = [
    "n_filters",
    "n_layers",
    "n_outputs",
    "n_control_tracks",
    "trimming",
    "profile_output_bias",
    "count_output_bias",
    "count_loss_weight",
    "name",
    "verbose",
    "input_length",
];

/// Top-level keys of a ChromBPNet config.
const CHROMBPNET_KEYS: [&str; 3] = ["bias", "accessibility", "input_length"];

impl BpnetConfig {
    /// Reads bpnet-lite's constructor arguments (its defaults for absent keys: 64 filters, 8
    /// layers, 2 outputs, 2 control tracks, trimming 47 + Σ 2^i). `what` names the object in
    /// errors.
    pub fn from_json(v: &Value, what: &str) -> Result<Self> {
        let obj = v.as_object().ok_or_else(|| Error::Spec(format!("{what}: expected an object of BPNet arguments")))?;
        if let Some(k) = obj.keys().find(|k| !KNOWN_KEYS.contains(&k.as_str())) {
            return Err(Error::Spec(format!(
                "{what}: unknown BPNet argument {k:?} (known: {})",
                KNOWN_KEYS.join(", ")
            )));
        }
        let int = |key: &str, default: usize| -> Result<usize> {
            match obj.get(key) {
                None | Some(Value::Null) => Ok(default),
                Some(v) => v
                    .as_u64()
                    .filter(|&n| n <= 1 << 20)
                    .map(|n| n as usize)
                    .ok_or_else(|| Error::Spec(format!("{what}: {key} = {v} is not a non-negative integer"))),
            }
        };
        let flag = |key: &str| -> Result<bool> {
            match obj.get(key) {
                None => Ok(true),
                Some(v) => v.as_bool().ok_or_else(|| Error::Spec(format!("{what}: {key} = {v} is not true/false"))),
            }
        };
        let n_layers = int("n_layers", 8)?;
        if n_layers > 24 {
            return Err(Error::Spec(format!(
                "{what}: n_layers = {n_layers} is beyond any BPNet (dilation 2^{n_layers})"
            )));
        }
        let default_trim = Self::default_trimming(n_layers);
        let c = Self {
            n_filters: int("n_filters", 64)?,
            n_layers,
            n_outputs: int("n_outputs", 2)?,
            n_control_tracks: int("n_control_tracks", 2)?,
            trimming: int("trimming", default_trim)?,
            profile_output_bias: flag("profile_output_bias")?,
            count_output_bias: flag("count_output_bias")?,
        };
        if c.n_filters == 0 || c.n_outputs == 0 {
            return Err(Error::Spec(format!("{what}: n_filters and n_outputs must be positive")));
        }
        if c.trimming < COUNT_MARGIN {
            return Err(Error::Spec(format!(
                "{what}: trimming {} is below bpnet-lite's count margin of {COUNT_MARGIN}",
                c.trimming
            )));
        }
        Ok(c)
    }

    /// The body: iconv + ReLU, then the dilated residual layers; weight names under `prefix`.
    fn body(&self, prefix: &str) -> Vec<Layer> {
        let relu = || Layer::Activation(ActivationLayer { function: Activation::Relu });
        let mut v = vec![
            Layer::Conv1d(Conv1d {
                name: Some(format!("{prefix}iconv")),
                filters: self.n_filters,
                kernel: 21,
                dilation: 1,
                bias: true,
                padding: Padding::Same,
            }),
            relu(),
        ];
        for i in 0..self.n_layers {
            v.push(Layer::Residual(Residual {
                layers: vec![
                    Layer::Conv1d(Conv1d {
                        name: Some(format!("{prefix}rconvs.{i}")),
                        filters: self.n_filters,
                        kernel: 3,
                        dilation: 1 << (i + 1),
                        bias: true,
                        padding: Padding::Same,
                    }),
                    relu(),
                ],
            }));
        }
        v
    }

    /// The profile layers after [body ; control]: fconv, then the crop to [T + extra, L − T − extra).
    fn profile(&self, prefix: &str, extra: usize) -> Vec<Layer> {
        let t = self.trimming + extra;
        vec![
            Layer::Conv1d(Conv1d {
                name: Some(format!("{prefix}fconv")),
                filters: self.n_outputs,
                kernel: 75,
                dilation: 1,
                bias: self.profile_output_bias,
                padding: Padding::Same,
            }),
            Layer::Crop(Crop { left: t, right: t }),
        ]
    }

    /// The span the count head averages: crop T − 37 at both ends.
    fn count_crop(&self) -> Layer {
        let m = self.trimming - COUNT_MARGIN;
        Layer::Crop(Crop { left: m, right: m })
    }

    fn count_linear(&self, prefix: &str) -> Layer {
        Layer::Linear(Linear { name: Some(format!("{prefix}linear")), units: 1, bias: self.count_output_bias })
    }

    /// Nodes of one BPNet reading `seq` (and `control`), named `<tag>_…`; returns the nodes and
    /// the names of its profile and count outputs. `extra` crops the profile further.
    fn nodes(&self, prefix: &str, tag: &str, seq: &str, extra: usize) -> (Vec<Node>, String, String) {
        let body = format!("{tag}body");
        let mut nodes =
            vec![Node { name: body.clone(), from: vec![seq.to_string()], merge: None, layers: self.body(prefix) }];
        let (profile_from, merge) = if self.n_control_tracks > 0 {
            (vec![body.clone(), CONTROL.to_string()], Some(Merge::Concat))
        } else {
            (vec![body.clone()], None)
        };
        let profile = format!("{tag}profile");
        nodes.push(Node { name: profile.clone(), from: profile_from, merge, layers: self.profile(prefix, extra) });
        let pooled = format!("{tag}count_features");
        nodes.push(Node {
            name: pooled.clone(),
            from: vec![body],
            merge: None,
            layers: vec![
                self.count_crop(),
                Layer::GlobalPool(GlobalPool { function: PoolFn::Mean, across_channels: false }),
            ],
        });
        let mut count_in = vec![pooled];
        if self.n_control_tracks > 0 {
            let total = format!("{tag}control_total");
            nodes.push(Node {
                name: total.clone(),
                from: vec![CONTROL.to_string()],
                merge: None,
                layers: vec![
                    self.count_crop(),
                    Layer::GlobalPool(GlobalPool { function: PoolFn::Sum, across_channels: true }),
                    Layer::Activation(ActivationLayer { function: Activation::Log1p }),
                ],
            });
            count_in.push(total);
        }
        let counts = format!("{tag}counts");
        let merge = (count_in.len() > 1).then_some(Merge::Concat);
        nodes.push(Node { name: counts.clone(), from: count_in, merge, layers: vec![self.count_linear(prefix)] });
        (nodes, profile, counts)
    }
}

impl BpnetConfig {
    /// The spec of one BPNet on `length` bp: the body as the trunk, heads `profile_head`
    /// (logits) and `count_head` (log total count), and a `control` input when it has control
    /// tracks. Weight names are bpnet-lite's state_dict keys.
    pub fn spec(&self, length: u64, profile_head: &str, count_head: &str) -> ModelSpec {
        let (mut nodes, profile, counts) = self.nodes("", "", TRUNK, 0);
        // The body is the trunk of a single BPNet.
        let body = nodes.remove(0);
        let mut s = spec(
            "bpnet",
            length,
            vec![],
            nodes,
            vec![
                profile_head_of(head(profile_head, &profile, profile_tracks(self.n_outputs)), count_head),
                head(count_head, &counts, counts_track()),
            ],
        );
        s.trunk = body.layers;
        for n in &mut s.graph {
            for f in &mut n.from {
                if *f == body.name {
                    *f = TRUNK.to_string();
                }
            }
        }
        if self.n_control_tracks > 0 {
            s.inputs.push(ExtraInput {
                name: CONTROL.into(),
                length,
                channels: self.n_control_tracks,
                kind: InputKind::Signal,
                layout: InputLayout::NCL,
                offset: Some(0),
            });
        }
        s
    }

    /// bpnet-lite's default trimming for `n_layers` dilated layers: 47 + Σ 2^i.
    pub fn default_trimming(n_layers: usize) -> usize {
        47 + (1..=n_layers).map(|i| 1usize << i).sum::<usize>()
    }
}

/// The track table of a profile head with `n` strands.
fn profile_tracks(n: usize) -> Vec<Track> {
    let strand = |i: usize| match (n, i) {
        (2, 0) => ("plus".to_string(), "profile logits, + strand".to_string()),
        (2, 1) => ("minus".to_string(), "profile logits, − strand".to_string()),
        (1, _) => ("profile".to_string(), "profile logits".to_string()),
        _ => (format!("output{i}"), format!("profile logits, output {i}")),
    };
    (0..n)
        .map(|i| {
            let (identifier, description) = strand(i);
            Track { index: i, identifier, description, file: None, clip: None, scale: None, sum_stat: None }
        })
        .collect()
}

fn counts_track() -> Vec<Track> {
    vec![Track {
        index: 0,
        identifier: "log_counts".into(),
        description: "log total count over the profile window".into(),
        file: None,
        clip: None,
        scale: None,
        sum_stat: None,
    }]
}

fn head(name: &str, from: &str, tracks: Vec<Track>) -> Head {
    // Two profile outputs are the + and − strands: they swap under reverse complement.
    let strand_pairs = if tracks.len() == 2 { vec![[0, 1]] } else { vec![] };
    Head {
        name: name.into(),
        from: Some(from.into()),
        layers: vec![],
        tracks,
        geometry: None,
        strand_pairs,
        profile_counts: None,
    }
}

/// `h` as the profile (logits) of the count head `counts`.
fn profile_head_of(mut h: Head, counts: &str) -> Head {
    h.profile_counts = Some(counts.into());
    h
}

fn read_config(path: &Path) -> Result<Value> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
    serde_json::from_str(&text).map_err(|e| Error::malformed(path, "config", format!("{e}")))
}

/// The input length: the config's `input_length`, else bpnet-lite's 2,114 bp.
fn input_length(v: &Value, path: &Path) -> Result<u64> {
    match v.get("input_length") {
        None => Ok(DEFAULT_INPUT_LENGTH),
        Some(n) => n
            .as_u64()
            .filter(|&n| n > 0)
            .ok_or_else(|| Error::malformed(path, "input_length", format!("{n} is not a positive integer"))),
    }
}

fn spec(name: &str, length: u64, inputs: Vec<ExtraInput>, graph: Vec<Node>, heads: Vec<Head>) -> ModelSpec {
    let mut s = ModelSpec::new(name, InputSpec::new(length, 0.0), vec![], heads);
    s.inputs = inputs;
    s.graph = graph;
    s
}

/// Converts a bpnet-lite checkpoint: a `BPNet` state_dict with its constructor arguments in
/// `config` (the fixtures' `config.json`; `input_length` optional), or a `ChromBPNet` when the
/// config holds `bias` and `accessibility` objects.
pub fn convert(pt: &Path, config: &Path) -> Result<Converted> {
    let v = read_config(config)?;
    let length = input_length(&v, config)?;
    let what = config.display().to_string();
    let mut spec = if v.get("bias").is_some() || v.get("accessibility").is_some() {
        if let Some(k) = v.as_object().and_then(|o| o.keys().find(|k| !CHROMBPNET_KEYS.contains(&k.as_str()))) {
            return Err(Error::Spec(format!(
                "{what}: unknown ChromBPNet key {k:?} (a ChromBPNet config holds {})",
                CHROMBPNET_KEYS.join(", ")
            )));
        }
        let b = BpnetConfig::from_json(v.get("bias").unwrap_or(&Value::Null), &format!("{what}: bias"))?;
        let a =
            BpnetConfig::from_json(v.get("accessibility").unwrap_or(&Value::Null), &format!("{what}: accessibility"))?;
        if a.n_control_tracks + b.n_control_tracks > 0 {
            return Err(Error::Spec(format!(
                "{what}: ChromBPNet's bias and accessibility models take no control tracks (bpnet-lite ignores X_ctl)"
            )));
        }
        if b.trimming > a.trimming {
            return Err(Error::Spec(format!(
                "{what}: the bias model trims more ({}) than the accessibility model ({}), so its profile is shorter",
                b.trimming, a.trimming
            )));
        }
        let seq = InputSpec::new(length, 0.0).onnx_name;
        let (mut nodes, bp, bc) = b.nodes("bias.", "bias_", &seq, a.trimming - b.trimming);
        let (an, ap, ac) = a.nodes("accessibility.", "accessibility_", &seq, 0);
        nodes.extend(an);
        nodes.push(Node { name: "profile_sum".into(), from: vec![ap, bp], merge: Some(Merge::Sum), layers: vec![] });
        nodes.push(Node {
            name: "counts_logsumexp".into(),
            from: vec![ac, bc],
            merge: Some(Merge::Logsumexp),
            layers: vec![],
        });
        if a.n_outputs != b.n_outputs {
            return Err(Error::Spec(format!(
                "{what}: the bias model has {} profile outputs and the accessibility model {}",
                b.n_outputs, a.n_outputs
            )));
        }
        let heads = vec![
            profile_head_of(head("profile", "profile_sum", profile_tracks(a.n_outputs)), "counts"),
            head("counts", "counts_logsumexp", counts_track()),
        ];
        spec("chrombpnet", length, vec![], nodes, heads)
    } else {
        BpnetConfig::from_json(&v, &what)?.spec(length, "profile", "counts")
    };
    spec.description = "imported from bpnet-lite".into();
    let analysis = spec.analyze()?;
    if let Some((_, g)) = analysis.heads.first() {
        tracing::info!("bpnet-lite: profile of {} bp at window offset {}", g.bins, g.offset);
    }
    let sd = read_state_dict(pt)?;
    let weights = map_state_dict(&sd, &spec, pt, true).map_err(|e| match e {
        Error::Weights { path, mut problems } => {
            if problems.iter().any(|p| p.contains("fconv.weight: expected shape") || p.contains("linear.weight: expected shape")) {
                problems.push(
                    "hint: fconv and linear read n_filters channels plus the control tracks; check n_filters and n_control_tracks in the config"
                        .into(),
                );
            }
            Error::Weights { path, problems }
        }
        other => other,
    })?;
    spec.source = Some(source("bpnet-lite", &[pt, config])?);
    Ok(Converted { spec, weights })
}
