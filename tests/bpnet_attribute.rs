//! Attributions of base-pair profile heads: BPNet's profile objective (bpnet-lite's
//! `ProfileWrapper`: Σ softmax(z − z̄)·(z − z̄) with the softmax detached) on a converted
//! ChromBPNet, against burn's float64 autodiff of that wrapper written out directly.

mod common;

use burn::backend::{Autodiff, NdArray};
use burn::tensor::{Tensor, TensorData};
use common::{fixture, ok, p};
use s2f::engine::{Device, EngineKind};
use s2f::io::npy::read_npy;
use s2f::jobs::attribute::{AttributeOptions, Attributor, Combine, Method};
use s2f::model::Package;
use s2f::train::net::Interpreter;

type Ad = Autodiff<NdArray<f64>>;

fn chrombpnet(dir: &std::path::Path) -> (Package, std::path::PathBuf) {
    let f = |r: &str| fixture(&format!("models/chrombpnet_lite_small/{r}"));
    let out = dir.join("pkg");
    ok(&["convert", "--from", "bpnet-lite", p(&f("model.pt")), "--config", p(&f("config.json")), "--out", p(&out)]);
    (Package::open(&out).unwrap(), out)
}

/// The first `n` fixture windows, (n, 2114, 4).
fn windows(n: usize) -> ndarray::Array3<f32> {
    let a = read_npy(fixture("models/chrombpnet_lite_small/inputs.npy")).unwrap();
    let l = a.shape[1];
    ndarray::Array3::from_shape_vec((n, l, 4), a.to_f32().unwrap()[..n * l * 4].to_vec()).unwrap()
}

/// ∂/∂x of bpnet-lite's ProfileWrapper objective by burn's autodiff in float64.
fn wrapper_gradient(pkg: &Package, x: &ndarray::Array3<f32>) -> Vec<f64> {
    let (spec, weights) = pkg.spec_and_weights("test").unwrap();
    let analysis = spec.analyze().unwrap();
    let device = Default::default();
    let store: std::collections::HashMap<String, Tensor<Ad, 1>> = weights
        .tensors
        .iter()
        .map(|(k, t)| {
            let d: Vec<f64> = t.data.iter().map(|&v| v as f64).collect();
            (k.clone(), Tensor::from_data(TensorData::new(d, [t.data.len()]), &device))
        })
        .collect();
    let get = |name: &str| store.get(name).cloned();
    let (n, l, _) = x.dim();
    let xs: Vec<f64> = x.iter().map(|&v| v as f64).collect();
    let xt = Tensor::<Ad, 3>::from_data(TensorData::new(xs, [n, l, 4]), &device).require_grad();
    let head = spec.head_index(Some("profile")).unwrap();
    let y = Interpreter::new(spec, &analysis, &get, false).forward(xt.clone()).unwrap().swap_remove(head);
    let [_, bins, tracks] = y.dims();
    let z = y.reshape([n, bins * tracks]);
    let z = z.clone() - z.mean_dim(1);
    let p = burn::tensor::activation::softmax(z.clone(), 1).detach();
    let grads = (z * p).sum().backward();
    xt.grad(&grads).unwrap().into_data().convert::<f64>().into_vec::<f64>().unwrap()
}

#[test]
fn profile_objective_gradient_matches_bpnet_lite_wrapper() {
    let dir = tempfile::tempdir().unwrap();
    let (pkg, _) = chrombpnet(dir.path());
    let x = windows(2);
    let want = wrapper_gradient(&pkg, &x);
    let head = pkg.spec.as_ref().unwrap().head_index(Some("profile")).unwrap();
    for kind in common::engines() {
        let mut opts = AttributeOptions::new(Method::Grad);
        opts.head = head;
        opts.center = false;
        opts.profile = true;
        opts.combine = Combine::Mean;
        let mut a = Attributor::new(&pkg, kind, Device::Cpu, opts).unwrap();
        let got = a.attribute(x.view()).unwrap();
        assert_eq!(got.shape(), [2, 1, 2114, 4]);
        let scale = want.iter().fold(0f64, |m, v| m.max(v.abs()));
        assert!(scale > 1e-6, "a nonzero gradient");
        let err = got.iter().zip(&want).map(|(g, w)| (*g as f64 - w).abs()).fold(0f64, f64::max) / scale;
        assert!(err < 1e-4, "{kind:?}: profile-objective gradient vs autodiff of the wrapper: {err}");
        // The sum objective is a different map.
        let mut opts = AttributeOptions::new(Method::Grad);
        opts.head = head;
        opts.center = false;
        let sum = Attributor::new(&pkg, kind, Device::Cpu, opts).unwrap().attribute(x.view()).unwrap();
        let d = sum.iter().zip(&want).map(|(g, w)| (*g as f64 - w).abs()).fold(0f64, f64::max) / scale;
        assert!(d > 1e-2, "the sum objective's gradient should differ from the profile objective's ({d})");
    }
}

#[test]
fn profile_objective_deeplift_sums_to_delta_and_is_the_cli_default() {
    let dir = tempfile::tempdir().unwrap();
    let (pkg, pkg_dir) = chrombpnet(dir.path());
    let x = windows(2);
    let mut opts = AttributeOptions::new(Method::DeepLift);
    opts.head = pkg.spec.as_ref().unwrap().head_index(Some("profile")).unwrap();
    opts.profile = true;
    opts.combine = Combine::Mean;
    opts.shuffles = 3;
    let mut a = Attributor::new(&pkg, EngineKind::Tract, Device::Cpu, opts).unwrap();
    let maps = a.attribute(x.view()).unwrap();
    assert_eq!(maps.shape(), [2, 1, 2114, 4]);
    assert!(a.max_delta() < 1e-3, "summation to delta: {}", a.max_delta());
    assert!(maps.iter().any(|v| v.abs() > 0.0));

    // The CLI: no --head, no --objective: the profile head, its profile objective, one map.
    let npy = dir.path().join("x.npy");
    s2f::io::npy::write_npy(&npy, &[2, 2114, 4], x.as_slice().unwrap()).unwrap();
    let out = dir.path().join("att");
    ok(&[
        "attribute",
        p(&pkg_dir),
        "--input",
        p(&npy),
        "--method",
        "grad",
        "--no-center",
        "--engine",
        "tract",
        "--out",
        p(&out),
    ]);
    let meta: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("attribute.json")).unwrap()).unwrap();
    assert_eq!(meta["head"], "profile");
    assert!(meta["objective"].as_str().unwrap().starts_with("profile"), "{meta}");
    assert_eq!(meta["track_ids"][0], "profile(0)");
    let z = s2f::io::npy::read_npz(out.join("attributions.npz")).unwrap();
    let got = z.into_iter().find(|(n, _)| n == "attributions").unwrap().1;
    assert_eq!(got.shape, [2, 1, 2114, 4]);
    let want = wrapper_gradient(&pkg, &x);
    let scale = want.iter().fold(0f64, |m, v| m.max(v.abs()));
    let err = got.to_f32().unwrap().iter().zip(&want).map(|(g, w)| (*g as f64 - w).abs()).fold(0f64, f64::max);
    assert!(err / scale < 1e-4, "CLI map vs the wrapper's gradient: {}", err / scale);
}
