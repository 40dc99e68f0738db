//! Each op's backward lowering (the gradient graph the emitter builds from every op's
//! vector–Jacobian product), run on every engine in float32, against two float64 references:
//! burn's autodiff of the same spec, and central finite differences of burn's forward pass.
//! One small random spec per op (every activation, both paddings, remainders in pooling) and
//! the spec that uses every op.

mod common;

use burn::backend::{Autodiff, NdArray};
use burn::tensor::backend::Backend;
use burn::tensor::{Tensor, TensorData};
use common::{engines, every_op_spec};
use ndarray::Array3;
use s2f::engine::{create, Device};
use s2f::model::onnx::{emit, emit_deeplift, emit_gradient, EmitOptions};
use s2f::model::ops::*;
use s2f::model::spec::{Activation, Head, InputSpec, Layer, ModelSpec, Padding, PoolPad};
use s2f::model::Weights;
use s2f::train::net::Interpreter;

type F64 = NdArray<f64>;
type Ad = Autodiff<F64>;

struct Lcg(u64);
impl Lcg {
    /// Uniform in [−1, 1).
    fn sym(&mut self) -> f64 {
        self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        ((self.0 >> 11) as f64 / (1u64 << 53) as f64) * 2.0 - 1.0
    }
}

fn spec(name: &str, length: u64, trunk: Vec<Layer>) -> ModelSpec {
    ModelSpec::new(name, InputSpec::new(length, 0.0), trunk, vec![Head::new("out", vec![])])
}

fn conv(filters: usize, kernel: usize, dilation: usize, bias: bool, padding: Padding) -> Layer {
    Layer::Conv1d(Conv1d { name: None, filters, kernel, dilation, bias, padding })
}

fn act(function: Activation) -> Layer {
    Layer::Activation(ActivationLayer { function })
}

/// One spec per op (and per activation and padding), named.
fn per_op_specs() -> Vec<ModelSpec> {
    use Activation::*;
    let mut v = vec![
        spec("conv_same_dilated_bias", 16, vec![conv(3, 5, 2, true, Padding::Same)]),
        spec("conv_same_even_kernel", 16, vec![conv(3, 4, 1, false, Padding::Same)]),
        spec("conv_valid", 16, vec![conv(2, 4, 2, true, Padding::Valid)]),
        spec("batch_norm", 16, vec![Layer::BatchNorm(BatchNorm { name: None, eps: 1e-3 })]),
        spec("max_pool_remainder", 16, vec![Layer::MaxPool(MaxPool { size: 3 })]),
        spec("avg_pool_remainder", 16, vec![Layer::AvgPool(AvgPool { size: 3 })]),
        spec(
            "weighted_pool_value",
            16,
            vec![Layer::WeightedPool(WeightedPool {
                size: 5,
                pad_left: 2,
                pad_right: 3,
                pad_value: PoolPad::Value(0.1),
            })],
        ),
        spec(
            "weighted_pool_min",
            16,
            vec![Layer::WeightedPool(WeightedPool { size: 4, pad_left: 3, pad_right: 2, pad_value: PoolPad::Min })],
        ),
        spec("crop", 16, vec![Layer::Crop(Crop { left: 2, right: 3 })]),
        spec("pad", 16, vec![Layer::Pad(Pad { left: 1, right: 2, value: 0.3 })]),
        spec(
            "residual",
            16,
            vec![Layer::Residual(Residual { layers: vec![conv(4, 3, 1, true, Padding::Same), act(GeluSigmoid)] })],
        ),
        spec("strand_max", 16, vec![Layer::StrandMax(StrandMax { layers: vec![conv(3, 3, 1, true, Padding::Valid)] })]),
        spec("dense", 16, vec![Layer::Dense(Dense { name: None, units: 3, bias: true })]),
        spec(
            "flatten_linear",
            8,
            vec![Layer::Flatten(Flatten {}), Layer::Linear(Linear { name: None, units: 3, bias: true })],
        ),
        spec(
            "conv_bn_for_folding",
            16,
            vec![conv(3, 3, 1, true, Padding::Same), Layer::BatchNorm(BatchNorm { name: None, eps: 1e-3 })],
        ),
    ];
    v.push(spec("residual_activation_only", 16, vec![Layer::Residual(Residual { layers: vec![act(GeluErf)] })]));
    v.push(spec("crop_then_softplus", 16, vec![Layer::Crop(Crop { left: 1, right: 2 }), act(Softplus)]));
    for f in [Relu, GeluErf, GeluTanh, GeluSigmoid, Softplus, Exp, Sigmoid] {
        v.push(spec(&format!("activation_{}", f.name()), 16, vec![act(f)]));
    }
    v
}

/// Uploads `weights` as float64 burn tensors.
fn params<B: Backend>(weights: &Weights) -> std::collections::HashMap<String, Tensor<B, 1>> {
    let device = Default::default();
    weights
        .tensors
        .iter()
        .map(|(k, t)| {
            let d: Vec<f64> = t.data.iter().map(|&v| v as f64).collect();
            (k.clone(), Tensor::from_data(TensorData::new(d, [t.data.len()]), &device))
        })
        .collect()
}

/// Σ objective·output of head `head` for each sequence of `x` `(N, L, 4)`, in float64.
fn objectives(spec: &ModelSpec, weights: &Weights, head: usize, x: &[f64], n: usize, obj: &[f64]) -> Vec<f64> {
    let analysis = spec.analyze().unwrap();
    let l = spec.input.length as usize;
    let store = params::<F64>(weights);
    let get = |name: &str| store.get(name).cloned();
    let device = Default::default();
    let xt = Tensor::<F64, 3>::from_data(TensorData::new(x.to_vec(), [n, l, 4]), &device);
    let y = Interpreter::new(spec, &analysis, &get, false).forward(xt).unwrap().swap_remove(head);
    let [_, bins, tracks] = y.dims();
    let w = Tensor::<F64, 3>::from_data(TensorData::new(obj.to_vec(), [1, bins, tracks]), &device);
    let j = (y * w).sum_dim(2).sum_dim(1);
    j.into_data().convert::<f64>().into_vec::<f64>().unwrap()
}

/// The input gradient by burn's autodiff in float64 (the `min` pad held constant).
fn autodiff_grad(spec: &ModelSpec, weights: &Weights, head: usize, x: &[f64], n: usize, obj: &[f64]) -> Vec<f64> {
    let analysis = spec.analyze().unwrap();
    let l = spec.input.length as usize;
    let store = params::<Ad>(weights);
    let get = |name: &str| store.get(name).cloned();
    let device = Default::default();
    let xt = Tensor::<Ad, 3>::from_data(TensorData::new(x.to_vec(), [n, l, 4]), &device).require_grad();
    let y = Interpreter::new(spec, &analysis, &get, false)
        .with_constant_pool_min(true)
        .forward(xt.clone())
        .unwrap()
        .swap_remove(head);
    let [_, bins, tracks] = y.dims();
    let w = Tensor::<Ad, 3>::from_data(TensorData::new(obj.to_vec(), [1, bins, tracks]), &device);
    let grads = (y * w).sum().backward();
    let g = xt.grad(&grads).unwrap();
    g.into_data().convert::<f64>().into_vec::<f64>().unwrap()
}

/// The input gradient by central differences of the float64 forward pass (step 1e-5).
fn finite_diff_grad(spec: &ModelSpec, weights: &Weights, head: usize, x: &[f64], n: usize, obj: &[f64]) -> Vec<f64> {
    let per = x.len() / n;
    let h = 1e-5;
    let mut out = Vec::with_capacity(x.len());
    for s in 0..n {
        let base = &x[s * per..(s + 1) * per];
        let mut batch = Vec::with_capacity(2 * per * per);
        for i in 0..per {
            for sign in [1.0, -1.0] {
                let mut c = base.to_vec();
                c[i] += sign * h;
                batch.extend(c);
            }
        }
        let j = objectives(spec, weights, head, &batch, 2 * per, obj);
        out.extend((0..per).map(|i| (j[2 * i] - j[2 * i + 1]) / (2.0 * h)));
    }
    out
}

/// Worst |got − want| relative to the largest |want| (at least 1).
fn rel_err(got: &[f32], want: &[f64]) -> f64 {
    assert_eq!(got.len(), want.len());
    let scale = want.iter().fold(1f64, |m, v| m.max(v.abs()));
    got.iter().zip(want).map(|(&g, &w)| (g as f64 - w).abs()).fold(0.0, f64::max) / scale
}

/// Checks head `head` of `spec`: the gradient graph on every engine (with and without batch-norm
/// folding) against autodiff, and against finite differences unless the head pads with `min`.
fn check(spec: &ModelSpec, head: usize, seed: u64, finite_diff: bool) {
    let analysis = spec.analyze().unwrap();
    let weights = Weights::random(&analysis.weights, seed);
    let geom = analysis.heads[head].1;
    let (n, l) = (2, spec.input.length as usize);
    let mut r = Lcg(seed);
    let x: Vec<f64> = (0..n * l * 4).map(|_| r.sym()).collect();
    let obj: Vec<f64> = (0..(geom.bins * geom.tracks) as usize).map(|_| r.sym()).collect();
    let ad = autodiff_grad(spec, &weights, head, &x, n, &obj);
    let fd = finite_diff.then(|| finite_diff_grad(spec, &weights, head, &x, n, &obj));
    if let Some(fd) = &fd {
        // The two references agree with each other first.
        let e = fd.iter().zip(&ad).map(|(a, b)| (a - b).abs()).fold(0.0, f64::max);
        assert!(
            e < 1e-4 * ad.iter().fold(1f64, |m, v| m.max(v.abs())),
            "{}: autodiff vs finite differences {e}",
            spec.name
        );
    }
    let x32 = Array3::from_shape_vec((n, l, 4), x.iter().map(|&v| v as f32).collect()).unwrap();
    // The same objective for each sequence.
    let o32 = Array3::from_shape_fn((n, geom.bins as usize, geom.tracks as usize), |(_, b, t)| {
        obj[b * geom.tracks as usize + t] as f32
    });
    for kind in engines() {
        for fold_bn in [false, true] {
            let bytes = emit_gradient(spec, &weights, head, EmitOptions { fold_bn }).unwrap();
            let mut engine = create(kind, Device::Cpu, &bytes).unwrap();
            let outs = engine.run_inputs(vec![x32.clone().into_dyn(), o32.clone().into_dyn()]).unwrap();
            assert_eq!(outs.len(), 2);
            assert_eq!(outs[1].shape(), &[n, l, 4]);
            let g: Vec<f32> = outs[1].iter().copied().collect();
            let e = rel_err(&g, &ad);
            assert!(e < 1e-4, "{} head {head} {kind:?} fold_bn={fold_bn}: gradient vs autodiff {e}", spec.name);
            if let Some(fd) = &fd {
                let e = rel_err(&g, fd);
                assert!(e < 1e-4, "{} head {head} {kind:?}: gradient vs finite differences {e}", spec.name);
            }
            // The gradient graph's forward output is the model's.
            let model = emit(spec, &weights, EmitOptions { fold_bn }).unwrap();
            let y = create(kind, Device::Cpu, &model).unwrap().run(x32.clone().into_dyn()).unwrap().swap_remove(head);
            let e = y.iter().zip(outs[0].iter()).map(|(a, b)| (a - b).abs()).fold(0f32, f32::max);
            assert!(
                e <= 1e-6 * y.iter().fold(1f32, |m, v| m.max(v.abs())),
                "{}: forward output differs by {e}",
                spec.name
            );
        }
    }
}

#[test]
fn every_op_backward_matches_autodiff_and_finite_differences() {
    let only = std::env::var("S2F_GRAD_ONLY").ok();
    for (i, spec) in per_op_specs().iter().enumerate() {
        if only.as_deref().is_some_and(|o| !spec.name.contains(o)) {
            continue;
        }
        let min_pad = spec.name == "weighted_pool_min";
        check(spec, 0, 11 + i as u64, !min_pad);
    }
}

#[test]
fn spec_with_every_op_backward_matches_on_both_heads() {
    let spec = every_op_spec();
    // The profile head has no min-padded pooling: finite differences apply.
    check(&spec, 0, 5, true);
    // The scalar head pools with a min pad, held constant by the gradient graph and autodiff.
    check(&spec, 1, 6, false);
    // With a constant pad instead, finite differences apply to the scalar head too.
    let mut constant = spec.clone();
    for l in &mut constant.heads[1].layers {
        if let Layer::WeightedPool(w) = l {
            w.pad_value = PoolPad::Value(-0.2);
        }
    }
    check(&constant, 1, 7, true);
    // The global pools (mean then log1p, and the sum over channels).
    check(&spec, 2, 12, true);
    check(&spec, 3, 13, true);
}

/// DeepLIFT multipliers m of `spec`'s head `head` between random inputs x and references r
/// must sum to delta: Σ m·(x − r) = objective(x) − objective(r), per row, on every engine; and
/// the graph's two forward outputs are the model's on x and on r.
fn check_summation_to_delta(spec: &ModelSpec, head: usize, seed: u64) {
    let analysis = spec.analyze().unwrap();
    let weights = Weights::random(&analysis.weights, seed);
    let geom = analysis.heads[head].1;
    let (n, l) = (3, spec.input.length as usize);
    let (bins, tracks) = (geom.bins as usize, geom.tracks as usize);
    let mut r = Lcg(seed);
    let x = Array3::from_shape_fn((n, l, 4), |_| r.sym() as f32);
    let refs = Array3::from_shape_fn((n, l, 4), |_| r.sym() as f32);
    let obj = Array3::from_shape_fn((n, bins, tracks), |_| r.sym() as f32);
    for kind in engines() {
        for fold_bn in [false, true] {
            let bytes = emit_deeplift(spec, &weights, head, EmitOptions { fold_bn }).unwrap();
            let mut engine = create(kind, Device::Cpu, &bytes).unwrap();
            let outs =
                engine.run_inputs(vec![x.clone().into_dyn(), refs.clone().into_dyn(), obj.clone().into_dyn()]).unwrap();
            assert_eq!(outs.len(), 3);
            let model = emit(spec, &weights, EmitOptions { fold_bn }).unwrap();
            let mut m = create(kind, Device::Cpu, &model).unwrap();
            for (input, out) in [(&x, &outs[0]), (&refs, &outs[1])] {
                let y = m.run(input.clone().into_dyn()).unwrap().swap_remove(head);
                let e = y.iter().zip(out.iter()).map(|(a, b)| (a - b).abs()).fold(0f32, f32::max);
                assert!(e <= 1e-6 * y.iter().fold(1f32, |m, v| m.max(v.abs())), "{}: forward differs", spec.name);
            }
            for i in 0..n {
                let f = |o: &ndarray::ArrayD<f32>| -> f64 {
                    let o = o.index_axis(ndarray::Axis(0), i);
                    o.iter().zip(obj.index_axis(ndarray::Axis(0), i).iter()).map(|(a, b)| (a * b) as f64).sum()
                };
                let delta = f(&outs[0]) - f(&outs[1]);
                let sum: f64 = (0..l * 4)
                    .map(|k| {
                        let (p, b) = (k / 4, k % 4);
                        outs[2][[i, p, b]] as f64 * (x[(i, p, b)] - refs[(i, p, b)]) as f64
                    })
                    .sum();
                let scale = delta.abs().max(f(&outs[0]).abs()).max(1e-3);
                assert!(
                    (sum - delta).abs() <= 1e-4 * scale,
                    "{} head {head} {kind:?} fold_bn={fold_bn} row {i}: Σ m·Δx = {sum}, Δf = {delta}",
                    spec.name
                );
            }
        }
    }
}

#[test]
fn every_op_deeplift_sums_to_delta() {
    for (i, spec) in per_op_specs().iter().enumerate() {
        check_summation_to_delta(spec, 0, 31 + i as u64);
    }
    let spec = every_op_spec();
    check_summation_to_delta(&spec, 0, 8);
    check_summation_to_delta(&spec, 1, 9);
    check_summation_to_delta(&spec, 2, 10);
    check_summation_to_delta(&spec, 3, 11);
}

#[test]
fn gradient_graph_rejects_a_missing_head_and_a_foreign_spec() {
    let spec = per_op_specs().remove(0);
    let weights = Weights::random(&spec.analyze().unwrap().weights, 1);
    let e = emit_gradient(&spec, &weights, 3, EmitOptions::default()).unwrap_err().to_string();
    assert!(e.contains("no head 3"), "{e}");
}

/// A single-input graph-form spec: a trunk read by two branches (fan-out), a branch on the
/// sequence itself, and one head per merge, so the backward pass walks every merge's
/// vector–Jacobian product and sums gradients where a tensor is read twice.
fn graph_spec() -> ModelSpec {
    let json = r#"{
      "format": "s2f-model", "version": 1, "name": "graph_form",
      "input": { "length": 16 },
      "trunk": [ { "op": "conv1d", "name": "t", "filters": 4, "kernel": 3, "bias": true },
                 { "op": "activation", "fn": "gelu_erf" } ],
      "graph": [
        { "name": "a", "from": ["trunk"], "layers": [ { "op": "conv1d", "name": "ca", "filters": 3, "kernel": 3, "bias": true },
                                                     { "op": "activation", "fn": "gelu_tanh" } ] },
        { "name": "b", "from": ["trunk"], "layers": [ { "op": "conv1d", "name": "cb", "filters": 3, "kernel": 5, "bias": true },
                                                     { "op": "activation", "fn": "softplus" } ] },
        { "name": "direct", "from": ["sequence"], "layers": [ { "op": "dense", "name": "d", "units": 3 } ] },
        { "name": "cat", "from": ["a", "b", "direct"], "merge": "concat",
          "layers": [ { "op": "conv1d", "name": "cc", "filters": 2, "kernel": 3 } ] },
        { "name": "sum", "from": ["a", "b", "direct"], "merge": "sum" },
        { "name": "diff", "from": ["a", "direct"], "merge": "difference" },
        { "name": "lse", "from": ["a", "b"], "merge": "logsumexp" },
        { "name": "expdiff", "from": ["a", "b"], "merge": "exp_difference" },
        { "name": "frac", "from": ["a", "b"], "merge": "fraction" },
        { "name": "pooled", "from": ["a"], "layers": [ { "op": "global_pool", "fn": "mean" } ] },
        { "name": "flat_lse", "from": ["pooled", "pooled"], "merge": "logsumexp",
          "layers": [ { "op": "linear", "name": "l", "units": 2 } ] }
      ],
      "heads": [
        { "name": "cat", "from": "cat" }, { "name": "sum", "from": "sum" }, { "name": "diff", "from": "diff" },
        { "name": "lse", "from": "lse" }, { "name": "expdiff", "from": "expdiff" }, { "name": "frac", "from": "frac" },
        { "name": "flat", "from": "flat_lse" }
      ]
    }"#;
    ModelSpec::from_json(json).unwrap()
}

#[test]
fn graph_form_backward_matches_autodiff_and_finite_differences() {
    let spec = graph_spec();
    for head in 0..spec.heads.len() {
        check(&spec, head, 40 + head as u64, true);
    }
    // DeepLIFT multipliers through every merge keep summation to delta.
    for head in 0..spec.heads.len() {
        check_summation_to_delta(&spec, head, 60 + head as u64);
    }
}
