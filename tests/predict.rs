//! Genome-wide prediction: test-time augmentation, tiling, outputs, shards and resume.

mod common;

use common::{engines, fixture, ok, p};
use ndarray::Array3;
use s2f::engine::ensemble::{predict_ensemble, Augment};
use s2f::engine::{create, Device, Predictor};
use s2f::io::npy::read_npy;
use s2f::model::Package;

fn npy3(path: &std::path::Path) -> Array3<f32> {
    let a = read_npy(path).unwrap();
    Array3::from_shape_vec((a.shape[0], a.shape[1], a.shape[2]), a.to_f32().unwrap()).unwrap()
}

fn keras_small_package(dir: &std::path::Path) -> std::path::PathBuf {
    let f = |r: &str| fixture(&format!("models/basenji2_keras_small/{r}"));
    let out = dir.join("keras_small");
    ok(&["convert", "--from", "keras-h5", p(&f("model.h5")), "--config", p(&f("params.json")), "--out", p(&out)]);
    out
}

#[test]
fn tta_average_equals_basenji_build_ensemble() {
    let dir = tempfile::tempdir().unwrap();
    let pkg = Package::open(keras_small_package(dir.path())).unwrap();
    let f = |r: &str| fixture(&format!("models/basenji2_keras_small/{r}"));
    let x = npy3(&f("inputs.npy"));
    let want = npy3(&f("expected_ensemble.npy"));
    let want_zero = npy3(&f("expected_ensemble_zeropad.npy"));
    for kind in engines() {
        let mut pred = Predictor::new(&pkg, create(kind, Device::Cpu, &pkg.onnx).unwrap(), 0, 8).unwrap();
        let aug = Augment { shifts: vec![-1, 0, 1], rc: true, pad: 0.25 };
        let got = predict_ensemble(&mut pred, x.view(), &aug).unwrap();
        let worst = got.iter().zip(&want).map(|(g, w)| (g - w).abs() - (1e-4 + 1e-4 * w.abs())).fold(f32::MIN, f32::max);
        assert!(worst <= 0.0, "{kind:?}: ensemble exceeds the fixture tolerance by {worst}");
        // Zero padding is a different ensemble (differs up to 0.02 at the window edges).
        let zero = predict_ensemble(&mut pred, x.view(), &Augment { pad: 0.0, ..aug.clone() }).unwrap();
        let worst0 = zero.iter().zip(&want_zero).map(|(g, w)| (g - w).abs() - (1e-4 + 1e-4 * w.abs())).fold(f32::MIN, f32::max);
        assert!(worst0 <= 0.0, "{kind:?}: zero-pad ensemble exceeds tolerance by {worst0}");
        let edge_diff = got.iter().zip(&zero).map(|(a, b)| (a - b).abs()).fold(0.0f32, f32::max);
        assert!(edge_diff > 1e-3, "0.25 and 0 padding should differ at the edges");
    }
}
