//! Graphs cut at a top-level trunk layer: suffix(prefix(x)) is the whole model on every
//! engine, for Basenji2-shaped and DRG-shaped specs, with and without batch-norm folding.

mod common;

use common::engines;
use ndarray::{Array3, ArrayD};
use s2f::engine::{create, Device, EngineKind};
use s2f::model::onnx::{emit, emit_cut, signature, EmitOptions, Part, CUT_TENSOR};
use s2f::model::spec::{ModelSpec, Shape};
use s2f::model::Weights;

/// A Basenji2-shaped spec (conv block, tower, dilated residual blocks, crop, final block,
/// softplus head), small enough for a test: 4,096 bp in, 24 bins of 128 bp.
fn basenji2_small() -> ModelSpec {
    let params = serde_json::json!({ "model": {
        "seq_length": 4096, "activation": "gelu", "norm_type": "batch",
        "trunk": [
            { "name": "conv_block", "filters": 12, "kernel_size": 15, "pool_size": 2 },
            { "name": "conv_tower", "filters_init": 12, "filters_mult": 1.2, "kernel_size": 5, "pool_size": 2, "repeat": 6 },
            { "name": "dilated_residual", "filters": 8, "rate_mult": 1.5, "repeat": 3, "round": true },
            { "name": "Cropping1D", "cropping": 4 },
            { "name": "conv_block", "filters": 24 }
        ]
    }});
    s2f::model::presets::basenji(&params, "basenji2_small", &[("human".into(), 5)]).unwrap()
}

fn random_x(n: usize, l: usize, seed: u64) -> Array3<f32> {
    let mut s = seed;
    Array3::from_shape_fn((n, l, 4), |_| {
        s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        (s >> 40) as f32 / (1u64 << 24) as f32
    })
}

fn run(kind: EngineKind, onnx: &[u8], x: ArrayD<f32>) -> Vec<ArrayD<f32>> {
    create(kind, Device::Cpu, onnx).unwrap().run(x).unwrap()
}

/// Cuts `spec` at each of `cuts` and checks the two halves against the whole model.
fn check_cuts(spec: &ModelSpec, cuts: &[&str]) {
    let analysis = spec.analyze().unwrap();
    let weights = Weights::random(&analysis.weights, 3);
    let x = random_x(2, spec.input.length as usize, 9).into_dyn();
    for kind in engines() {
        for fold_bn in [false, true] {
            let opts = EmitOptions { fold_bn };
            let whole = run(kind, &emit(spec, &weights, opts).unwrap(), x.clone());
            for cut in cuts {
                let prefix = emit_cut(spec, &weights, cut, Part::Prefix, opts).unwrap();
                let suffix = emit_cut(spec, &weights, cut, Part::Suffix, opts).unwrap();
                // The cut tensor is the layer's output, channels-first.
                let i = spec.trunk_layer_index(cut).unwrap();
                let want = match analysis.io[&format!("trunk.{i}")].1 {
                    Shape::Seq { c, l } => vec![Some(c as i64), Some(l as i64)],
                    Shape::Flat { f } => vec![Some(f as i64)],
                };
                let sig = signature(&prefix, std::path::Path::new("prefix.onnx")).unwrap();
                assert_eq!(sig.outputs[0].0, CUT_TENSOR);
                assert_eq!(sig.outputs[0].1[1..], want[..], "{cut}");
                let mid = run(kind, &prefix, x.clone()).swap_remove(0);
                let parts = run(kind, &suffix, mid);
                assert_eq!(parts.len(), whole.len());
                for (h, (a, b)) in parts.iter().zip(&whole).enumerate() {
                    assert_eq!(a.shape(), b.shape());
                    let scale = b.iter().fold(1f32, |m, v| m.max(v.abs()));
                    let e = a.iter().zip(b.iter()).map(|(p, q)| (p - q).abs()).fold(0f32, f32::max);
                    assert!(
                        e <= 1e-6 * scale,
                        "{} cut at {cut} ({kind:?}, fold_bn={fold_bn}), head {h}: differs by {e}",
                        spec.name
                    );
                }
            }
        }
    }
}

#[test]
fn basenji2_shaped_cuts_compose_to_the_model() {
    let spec = basenji2_small();
    // Inside the first conv block (activation, conv, batch norm, pool), a tower block, a
    // dilated residual block, the crop and the last layer.
    let last = format!("trunk.{}", spec.trunk.len() - 1);
    check_cuts(&spec, &["trunk.0", "stem_conv", "stem_bn", "3", "trunk.7", "trunk.28", "trunk.31", &last]);
}

#[test]
fn drg_shaped_cuts_compose_to_the_model() {
    let spec = ModelSpec::read(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("models/calderon2019_shallow/model.json"),
    )
    .unwrap();
    let all: Vec<String> = (0..spec.trunk.len()).map(|i| format!("trunk.{i}")).collect();
    check_cuts(&spec, &all.iter().map(String::as_str).collect::<Vec<_>>());
}

#[test]
fn unknown_cut_points_are_refused_with_the_choices() {
    let spec = basenji2_small();
    let weights = Weights::random(&spec.analyze().unwrap().weights, 3);
    let e = emit_cut(&spec, &weights, "no_such_layer", Part::Prefix, EmitOptions::default()).unwrap_err().to_string();
    assert!(e.contains("no top-level trunk layer \"no_such_layer\"") && e.contains("stem_conv"), "{e}");
    let e = emit_cut(&spec, &weights, "trunk.999", Part::Suffix, EmitOptions::default()).unwrap_err().to_string();
    assert!(e.contains("trunk.I with I <"), "{e}");
}
