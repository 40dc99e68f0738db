//! Engine conformance: every engine reproduces the framework-exported fixtures, is
//! deterministic, gives the same numbers in batches of 1 and of N, and engines agree with each
//! other on emitted graphs. ONNX Runtime is tested when its library is found (CI sets
//! `S2F_REQUIRE_ORT`, so there a missing runtime fails instead of skipping).

mod common;

use common::{engines, fixture};
use ndarray::{Array3, Axis};
use s2f::engine::{create, Device, EngineKind, Predictor};
use s2f::io::npy::read_npy;
use s2f::model::onnx::{emit, EmitOptions};
use s2f::model::{presets, Package, Weights};

fn npy3(rel: &str) -> Array3<f32> {
    let a = read_npy(fixture(rel)).unwrap();
    let s = a.shape.clone();
    match s.len() {
        3 => Array3::from_shape_vec((s[0], s[1], s[2]), a.to_f32().unwrap()).unwrap(),
        2 => Array3::from_shape_vec((s[0], 1, s[1]), a.to_f32().unwrap()).unwrap(),
        _ => panic!("{rel}: rank {}", s.len()),
    }
}

fn max_abs(a: &Array3<f32>, b: &Array3<f32>) -> f32 {
    assert_eq!(a.shape(), b.shape());
    a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0, f32::max)
}

fn predict(pkg: &Package, kind: EngineKind, x: &Array3<f32>, batch: usize) -> Array3<f32> {
    let engine = create(kind, Device::Cpu, &pkg.onnx).unwrap();
    Predictor::new(pkg, engine, 0, batch).unwrap().predict(x.view()).unwrap()
}

/// The DRG fixture's one-hot is (N, 4, L); s2f's canonical input is (N, L, 4).
fn drg_input() -> Array3<f32> {
    npy3("models/drg_calderon_shallow/onehot.npy").permuted_axes([0, 2, 1]).as_standard_layout().into_owned()
}

#[test]
fn torch_exported_fixtures_reproduce_expected_outputs() {
    let drg = Package::open(fixture("models/drg_calderon_shallow/model.onnx")).unwrap();
    let drg_expected = npy3("models/drg_calderon_shallow/expected.npy");
    for kind in engines() {
        let y = predict(&drg, kind, &drg_input(), 16);
        assert!(max_abs(&y, &drg_expected) <= 1e-4, "{kind:?} DRG: {}", max_abs(&y, &drg_expected));
        for variant in ["buggy", "res"] {
            let pkg = Package::open(fixture(&format!("models/ft_s2a_small/{variant}/model_human.onnx"))).unwrap();
            assert!(pkg.spec.is_some(), "sidecar spec found");
            for (inp, exp) in [("inputs.npy", "expected_human.npy"), ("inputs_with_n.npy", "expected_with_n_human.npy")]
            {
                let y = predict(&pkg, kind, &npy3(&format!("models/ft_s2a_small/{inp}")), 4);
                let e = npy3(&format!("models/ft_s2a_small/{variant}/{exp}"));
                assert!(max_abs(&y, &e) <= 1e-4, "{kind:?} {variant} {inp}: {}", max_abs(&y, &e));
            }
        }
    }
}

#[test]
fn deterministic_and_batch_independent() {
    let drg = Package::open(fixture("models/drg_calderon_shallow/model.onnx")).unwrap();
    let x = drg_input().slice_axis(Axis(0), (0..12).into()).to_owned();
    for kind in engines() {
        let a = predict(&drg, kind, &x, 5);
        let b = predict(&drg, kind, &x, 5);
        assert_eq!(a, b, "{kind:?}: two runs differ");
        let one = predict(&drg, kind, &x, 1);
        let all = predict(&drg, kind, &x, 12);
        assert!(max_abs(&one, &all) <= 1e-5, "{kind:?}: batch 1 vs 12 differ by {}", max_abs(&one, &all));
        assert!(max_abs(&one, &a) <= 1e-5, "{kind:?}: batch 1 vs 5 differ by {}", max_abs(&one, &a));
    }
}

#[test]
fn engines_agree_on_an_emitted_basenji2_shaped_graph() {
    let text = std::fs::read_to_string(fixture("models/basenji2_keras_small/params.json")).unwrap();
    let params: serde_json::Value = serde_json::from_str(&text).unwrap();
    let spec = presets::basenji(&params, "basenji2_small", &[("human".into(), 12)]).unwrap();
    let a = spec.analyze().unwrap();
    assert_eq!((a.heads[0].1.bins, a.heads[0].1.bin_size, a.heads[0].1.offset), (240, 32, 256));
    let weights = Weights::random(&a.weights, 3);
    let x = npy3("models/basenji2_keras_small/inputs.npy").slice_axis(Axis(0), (0..3).into()).to_owned();
    let plain = Package {
        path: "mem".into(),
        spec: Some(spec.clone()),
        onnx: emit(&spec, &weights, EmitOptions::default()).unwrap(),
        weights: None,
    };
    let folded = Package { onnx: emit(&spec, &weights, EmitOptions { fold_bn: true }).unwrap(), ..plain.clone() };
    let reference = predict(&plain, EngineKind::Tract, &x, 3);
    assert_eq!(reference.shape(), &[3, 240, 12]);
    assert!(reference.iter().all(|v| v.is_finite() && *v >= 0.0), "softplus outputs");
    for kind in engines() {
        for pkg in [&plain, &folded] {
            let y = predict(pkg, kind, &x, 2);
            assert!(max_abs(&y, &reference) <= 1e-4, "{kind:?}: {}", max_abs(&y, &reference));
        }
    }
}

#[test]
fn wrong_weight_shape_names_the_tensor() {
    let text = std::fs::read_to_string(fixture("models/basenji2_keras_small/params.json")).unwrap();
    let params: serde_json::Value = serde_json::from_str(&text).unwrap();
    let spec = presets::basenji(&params, "b", &[("human".into(), 12)]).unwrap();
    let a = spec.analyze().unwrap();
    let mut weights = Weights::random(&a.weights, 1);
    weights.insert(
        "tower2_conv.weight",
        s2f::model::weights::Tensor::new(vec![55, 47, 3], vec![0.0; 55 * 47 * 3]).unwrap(),
    );
    weights.tensors.remove("head_human.bias");
    let dir = tempfile::tempdir().unwrap();
    let err = Package::write(dir.path().join("p"), &spec, &weights, EmitOptions::default()).unwrap_err().to_string();
    assert!(err.contains("tower2_conv.weight: expected shape [55, 47, 5], found [55, 47, 3]"), "{err}");
    assert!(err.contains("missing tensor head_human.bias"), "{err}");
    assert!(!dir.path().join("p").exists(), "nothing written");
}

#[test]
fn cuda_requests_fail_loudly_without_a_gpu() {
    let drg = Package::open(fixture("models/drg_calderon_shallow/model.onnx")).unwrap();
    let e = create(EngineKind::Tract, Device::Cuda, &drg.onnx).err().unwrap().to_string();
    assert!(e.contains("CPU only"), "{e}");
    if engines().contains(&EngineKind::Ort) && std::env::var_os("S2F_HAS_CUDA").is_none() {
        let e = create(EngineKind::Ort, Device::Cuda, &drg.onnx).err().unwrap().to_string();
        assert!(e.contains("CUDA is not usable"), "{e}");
        let auto = create(EngineKind::Ort, Device::Auto, &drg.onnx).unwrap();
        assert_eq!(auto.describe(), "ort (cpu)");
    }
}

#[test]
fn tract_gives_the_same_numbers_on_one_thread_and_many() {
    // Thresholds at 0: every matrix product and elementwise kernel that can be split is split,
    // however small (the same for the other tests of this binary: they must not change either).
    tract_linalg::multithread::set_threading_panel_threshold(0);
    tract_linalg::multithread::set_threading_element_threshold(0);
    let text = std::fs::read_to_string(fixture("models/basenji2_keras_small/params.json")).unwrap();
    let params: serde_json::Value = serde_json::from_str(&text).unwrap();
    let spec = presets::basenji(&params, "basenji2_small", &[("human".into(), 12)]).unwrap();
    let weights = Weights::random(&spec.analyze().unwrap().weights, 11);
    let onnx = emit(&spec, &weights, EmitOptions::default()).unwrap();
    let x = npy3("models/basenji2_keras_small/inputs.npy").slice_axis(Axis(0), (0..3).into()).to_owned().into_dyn();
    let mut one = s2f::engine::tract::TractEngine::with_threads(&onnx, 1).unwrap();
    let mut four = s2f::engine::tract::TractEngine::with_threads(&onnx, 4).unwrap();
    assert_eq!(four.describe(), "tract (cpu, 4 threads)");
    use s2f::engine::Engine;
    let a = one.run(x.clone()).unwrap();
    let b = four.run(x.clone()).unwrap();
    assert_eq!(a, b, "1 vs 4 threads");
    let drg = Package::open(fixture("models/drg_calderon_shallow/model.onnx")).unwrap();
    let xd = npy3("models/drg_calderon_shallow/onehot.npy").into_dyn(); // the graph reads (N, 4, L)
    let a = s2f::engine::tract::TractEngine::with_threads(&drg.onnx, 1).unwrap().run(xd.clone()).unwrap();
    let b = s2f::engine::tract::TractEngine::with_threads(&drg.onnx, 3).unwrap().run(xd).unwrap();
    assert_eq!(a, b, "DRG: 1 vs 3 threads");
}
