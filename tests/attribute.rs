//! Attributions against DRG's own `takegrad` on the Calderon fixture, and their invariants,
//! on every engine.

mod common;

use common::{engines, fixture};
use ndarray::{s, Array3, Array4, Axis};
use s2f::engine::Device;
use s2f::io::npy::read_npy;
use s2f::jobs::attribute::{AttributeOptions, Attributor, Combine, Method};
use s2f::model::Package;

fn shipped() -> Package {
    Package::open(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("models/calderon2019_shallow")).unwrap()
}

/// The fixture's first `n` windows as (N, L, 4).
fn drg_input(n: usize) -> Array3<f32> {
    let a = read_npy(fixture("models/drg_calderon_shallow/onehot.npy")).unwrap();
    let x = Array3::from_shape_vec((a.shape[0], a.shape[1], a.shape[2]), a.to_f32().unwrap()).unwrap();
    x.slice(s![..n, .., ..]).permuted_axes([0, 2, 1]).as_standard_layout().into_owned()
}

/// DRG's (N, tracks, base, position) array as (N, tracks, position, base).
fn drg_maps(rel: &str) -> Array4<f32> {
    let a = read_npy(fixture(rel)).unwrap();
    let v = Array4::from_shape_vec((a.shape[0], a.shape[1], a.shape[2], a.shape[3]), a.to_f32().unwrap()).unwrap();
    v.permuted_axes([0, 1, 3, 2]).as_standard_layout().into_owned()
}

fn opts(method: Method) -> AttributeOptions {
    AttributeOptions { tracks: vec![0, 7], batch: 3, ..AttributeOptions::new(method) }
}

fn rel_err(a: &Array4<f32>, b: &Array4<f32>) -> f32 {
    let scale = b.iter().fold(0f32, |m, v| m.max(v.abs()));
    a.iter().zip(b.iter()).map(|(p, q)| (p - q).abs()).fold(0f32, f32::max) / scale
}

#[test]
fn grad_reproduces_drg_takegrad_on_every_engine() {
    let want = drg_maps("models/drg_calderon_shallow/grad.npy");
    let x = drg_input(4);
    let mut per_engine = Vec::new();
    for kind in engines() {
        let mut a = Attributor::new(&shipped(), kind, Device::Cpu, opts(Method::Grad)).unwrap();
        let got = a.attribute(x.view()).unwrap();
        assert_eq!(got.shape(), &[4, 2, 401, 4]);
        let e = rel_err(&got, &want);
        assert!(e <= 1e-4, "{kind:?}: grad differs from DRG's by {e} of the largest value");
        per_engine.push(got);
    }
    for other in &per_engine[1..] {
        assert!(rel_err(other, &per_engine[0]) <= 1e-5, "engines disagree");
    }
}

#[test]
fn grad_x_input_combine_and_reverse_complement() {
    let x = drg_input(3);
    let kind = engines()[0];
    let raw = Attributor::new(&shipped(), kind, Device::Cpu, AttributeOptions { center: false, ..opts(Method::Grad) })
        .unwrap()
        .attribute(x.view())
        .unwrap();
    // Centring only subtracts the per-position base mean.
    let centred =
        Attributor::new(&shipped(), kind, Device::Cpu, opts(Method::Grad)).unwrap().attribute(x.view()).unwrap();
    let mean = raw.mean_axis(Axis(3)).unwrap().insert_axis(Axis(3));
    assert!(rel_err(&(&raw - &mean), &centred) < 1e-6);
    // grad × input keeps the observed base's raw gradient and zeroes the others.
    let gxi =
        Attributor::new(&shipped(), kind, Device::Cpu, opts(Method::GradXInput)).unwrap().attribute(x.view()).unwrap();
    let xb = x.clone().insert_axis(Axis(1));
    assert!(rel_err(&gxi, &(&raw * &xb)) < 1e-6);
    // The mean of tracks 0 and 7 is the mean of their maps (the objective is linear).
    let mean_map = Attributor::new(
        &shipped(),
        kind,
        Device::Cpu,
        AttributeOptions { combine: Combine::Mean, center: false, ..opts(Method::Grad) },
    )
    .unwrap()
    .attribute(x.view())
    .unwrap();
    assert_eq!(mean_map.shape(), &[3, 1, 401, 4]);
    assert!(rel_err(&mean_map, &raw.mean_axis(Axis(1)).unwrap().insert_axis(Axis(1))) < 1e-5);
    // With --rc, the reverse complement's maps mapped back are averaged in: attributing the
    // reverse complement with --rc gives the same maps, mapped.
    let rc_opts = AttributeOptions { rc: true, ..opts(Method::Grad) };
    let fwd = Attributor::new(&shipped(), kind, Device::Cpu, rc_opts.clone()).unwrap().attribute(x.view()).unwrap();
    let mut xr = x.clone();
    xr.invert_axis(Axis(1));
    xr.invert_axis(Axis(2));
    let xr = xr.as_standard_layout().into_owned();
    let mut rev = Attributor::new(&shipped(), kind, Device::Cpu, rc_opts).unwrap().attribute(xr.view()).unwrap();
    rev.invert_axis(Axis(2));
    rev.invert_axis(Axis(3));
    assert!(rel_err(&rev.as_standard_layout().into_owned(), &fwd) < 1e-5);
}

#[test]
fn bad_requests_are_refused() {
    let kind = engines()[0];
    let e = Attributor::new(&shipped(), kind, Device::Cpu, AttributeOptions { tracks: vec![45], ..opts(Method::Grad) })
        .err()
        .unwrap()
        .to_string();
    assert!(e.contains("track 45 is out of range"), "{e}");
    let e = Attributor::new(&shipped(), kind, Device::Cpu, AttributeOptions { bins: Some(0..2), ..opts(Method::Grad) })
        .err()
        .unwrap()
        .to_string();
    assert!(e.contains("bins 0:2"), "{e}");
    let bare = Package::open(fixture("models/drg_calderon_shallow/model.onnx")).unwrap();
    let e = Attributor::new(&bare, kind, Device::Cpu, opts(Method::Grad)).err().unwrap().to_string();
    assert!(e.contains("attributions need an s2f package"), "{e}");
    let mut a = Attributor::new(&shipped(), kind, Device::Cpu, opts(Method::Grad)).unwrap();
    let e = a.attribute(Array3::<f32>::zeros((1, 400, 4)).view()).unwrap_err().to_string();
    assert!(e.contains("the model reads (N, 401, 4)"), "{e}");
}

#[test]
fn cli_writes_drg_gradients_with_metadata() {
    let dir = tempfile::tempdir().unwrap();
    let x = drg_input(4);
    let input = dir.path().join("x.npy");
    s2f::io::npy::write_npy(&input, &[4, 401, 4], x.as_slice().unwrap()).unwrap();
    let out = dir.path().join("attr");
    let model = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("models/calderon2019_shallow");
    common::ok(&[
        "attribute",
        common::p(&model),
        "--input",
        common::p(&input),
        "--tracks",
        "0,7",
        "--out",
        common::p(&out),
    ]);
    let arrays = s2f::io::npy::read_npz(out.join("attributions.npz")).unwrap();
    let get = |k: &str| arrays.iter().find(|(n, _)| n == k).map(|(_, a)| a).unwrap();
    let a = get("attributions");
    assert_eq!(a.shape, vec![4, 2, 401, 4]);
    let got = Array4::from_shape_vec((4, 2, 401, 4), a.to_f32().unwrap()).unwrap();
    let e = rel_err(&got, &drg_maps("models/drg_calderon_shallow/grad.npy"));
    assert!(e <= 1e-4, "{e}");
    assert_eq!(get("onehot").shape, vec![4, 401, 4]);
    assert_eq!(get("names").to_strings().unwrap().len(), 4);
    let meta: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("attribute.json")).unwrap()).unwrap();
    assert_eq!(meta["method"], "grad");
    assert_eq!(meta["centred_over_bases"], true);
    // A bare ONNX model is refused with the reason, and nothing is written.
    let bare = fixture("models/drg_calderon_shallow/model.onnx");
    let out2 = dir.path().join("bare");
    common::fails(
        &["attribute", common::p(&bare), "--input", common::p(&input), "--out", common::p(&out2)],
        &["attributions need an s2f package"],
    );
    assert!(!out2.exists());
}

#[test]
fn ism_reproduces_drg_ism_on_every_engine() {
    // Two of the fixture's four sequences keep the naive mutagenesis quick.
    let want = drg_maps("models/drg_calderon_shallow/ism.npy").slice(s![..2, .., .., ..]).to_owned();
    let x = drg_input(2);
    for kind in engines() {
        let mut a =
            Attributor::new(&shipped(), kind, Device::Cpu, AttributeOptions { batch: 256, ..opts(Method::Ism) })
                .unwrap();
        let got = a.attribute(x.view()).unwrap();
        let e = rel_err(&got, &want);
        assert!(e <= 1e-4, "{kind:?}: ism differs from DRG's by {e} of the largest value");
    }
    // A span mutates only its positions, and those agree with the full run.
    let kind = engines()[0];
    let raw = |span| {
        Attributor::new(
            &shipped(),
            kind,
            Device::Cpu,
            AttributeOptions { center: false, span, batch: 256, ..opts(Method::Ism) },
        )
        .unwrap()
        .attribute(x.slice(s![..1, .., ..]))
        .unwrap()
    };
    let full = raw(None);
    let part = raw(Some(100..120));
    assert!(part.slice(s![.., .., ..100, ..]).iter().all(|&v| v == 0.0));
    assert!(
        rel_err(&part.slice(s![.., .., 100..120, ..]).to_owned(), &full.slice(s![.., .., 100..120, ..]).to_owned())
            < 1e-6
    );
    // Without centring the observed base is exactly 0.
    let x0 = x.slice(s![0, 100..120, ..]);
    for (i, pos) in x0.outer_iter().enumerate() {
        let b = pos.iter().position(|&v| v == 1.0).unwrap();
        assert_eq!(part[(0, 0, 100 + i, b)], 0.0);
    }
}

#[test]
fn fast_ism_equals_naive_ism_on_every_engine() {
    let x = drg_input(2);
    for kind in engines() {
        let run = |naive_ism: bool| {
            let o = AttributeOptions { center: false, naive_ism, batch: 128, span: Some(150..250), ..opts(Method::Ism) };
            Attributor::new(&shipped(), kind, Device::Cpu, o).unwrap().attribute(x.view()).unwrap()
        };
        let (fast, naive) = (run(false), run(true));
        let e = rel_err(&fast, &naive);
        assert!(e <= 1e-5, "{kind:?}: fast ISM differs from naive ISM by {e} of the largest value");
        assert!(naive.iter().any(|&v| v != 0.0));
    }
}
