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
fn split_ism_equals_naive_ism_on_every_engine() {
    let x = drg_input(2);
    for kind in engines() {
        let run = |split_ism: bool| {
            let o =
                AttributeOptions { center: false, split_ism, batch: 128, span: Some(150..250), ..opts(Method::Ism) };
            Attributor::new(&shipped(), kind, Device::Cpu, o).unwrap().attribute(x.view()).unwrap()
        };
        let (fast, naive) = (run(true), run(false));
        let e = rel_err(&fast, &naive);
        assert!(e <= 1e-5, "{kind:?}: split ISM differs from naive ISM by {e} of the largest value");
        assert!(naive.iter().any(|&v| v != 0.0));
    }
}

#[test]
fn deeplift_sums_to_delta_and_engines_agree_on_every_method() {
    let x = drg_input(2);
    let mut per_method: Vec<Vec<Array4<f32>>> = Vec::new();
    for method in [Method::Grad, Method::GradXInput, Method::Ism, Method::DeepLift] {
        let o = AttributeOptions { shuffles: 3, seed: 5, batch: 64, span: Some(190..210), ..opts(method) };
        let mut got = Vec::new();
        for kind in engines() {
            let mut a = Attributor::new(&shipped(), kind, Device::Cpu, o.clone()).unwrap();
            got.push(a.attribute(x.view()).unwrap());
            if method == Method::DeepLift {
                assert!(a.max_delta() <= 1e-4, "{kind:?}: summation to delta off by {}", a.max_delta());
            }
        }
        per_method.push(got);
    }
    for (i, got) in per_method.iter().enumerate() {
        for other in &got[1..] {
            let e = rel_err(other, &got[0]);
            assert!(e <= 1e-4, "method {i}: engines differ by {e} of the largest value");
        }
    }
    // DeepLIFT attributions sit on the observed bases only; hypothetical ones on every base.
    let dl = &per_method[3][0];
    for (s, xs) in x.outer_iter().enumerate() {
        for (i, pos) in xs.outer_iter().enumerate() {
            for b in 0..4 {
                if pos[b] == 0.0 {
                    assert_eq!(dl[(s, 0, i, b)], 0.0);
                }
            }
        }
    }
}

#[test]
fn cli_deeplift_from_genome_regions_with_modisco_output_and_plots() {
    let dir = tempfile::tempdir().unwrap();
    let bed = dir.path().join("peaks.bed");
    std::fs::write(&bed, "chr1\t900000\t900600\tpeak1\nchr1\t950000\t950400\tpeak2\n").unwrap();
    let genome = fixture("genome/hg38_chr1_1mb.fa.gz");
    let model = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("models/calderon2019_shallow");
    let out = dir.path().join("dl");
    let base = [
        "attribute",
        common::p(&model),
        "--genome",
        common::p(&genome),
        "--bed",
        common::p(&bed),
        "--tracks",
        "0,7",
        "--method",
        "deeplift",
        "--shuffles",
        "4",
    ];
    let mut args = base.to_vec();
    args.extend(["--hypothetical", "--format", "npz,modisco", "--plot", "--out", common::p(&out)]);
    common::ok(&args);
    let arrays = s2f::io::npy::read_npz(out.join("attributions.npz")).unwrap();
    let get = |k: &str| arrays.iter().find(|(n, _)| n == k).map(|(_, a)| a.clone()).unwrap();
    assert_eq!(get("attributions").shape, vec![2, 2, 401, 4]);
    assert_eq!(get("names").to_strings().unwrap(), vec!["peak1", "peak2"]);
    // The windows are the regions' centred 401 bp, as `s2f onehot` encodes them.
    let npz = dir.path().join("x.npz");
    common::ok(&[
        "onehot",
        "--fasta",
        common::p(&genome),
        "--bed",
        common::p(&bed),
        "--length",
        "401",
        "--n-value",
        "0.25",
        "--out",
        common::p(&npz),
    ]);
    let enc = s2f::io::npy::read_npz(&npz).unwrap();
    let seq = enc.iter().find(|(n, _)| n == "seqfeatures").map(|(_, a)| a.to_f32().unwrap()).unwrap();
    assert_eq!(get("onehot").to_f32().unwrap(), seq);
    // tfmodisco-lite's inputs: (N, 4, L), one shap file per track.
    let ohe = s2f::io::npy::read_npz(out.join("ohe.npz")).unwrap();
    assert_eq!(ohe[0].0, "arr_0");
    assert_eq!(ohe[0].1.shape, vec![2, 4, 401]);
    let hyp = get("attributions").to_f32().unwrap();
    let hyp = Array4::from_shape_vec((2, 2, 401, 4), hyp).unwrap();
    for (k, name) in ["shap_0.npz", "shap_1.npz"].iter().enumerate() {
        let shap = s2f::io::npy::read_npz(out.join(name)).unwrap();
        assert_eq!(shap[0].1.shape, vec![2, 4, 401]);
        let v = shap[0].1.to_f32().unwrap();
        assert_eq!(v[401 + 7], hyp[(0, k, 7, 1)], "(N, 4, L) layout of {name}");
    }
    for png in ["plots/0_peak1.png", "plots/1_peak2.png"] {
        let bytes = std::fs::read(out.join(png)).unwrap();
        assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n");
    }
    let meta: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("attribute.json")).unwrap()).unwrap();
    assert_eq!(meta["method"], "deeplift");
    assert_eq!(meta["references"]["dinucleotide_shuffles"], 4);
    assert!(meta["summation_to_delta_max_relative_deviation"].as_f64().unwrap() < 1e-4);
    // References of the wrong shape are refused, naming the file; nothing is written.
    let refs = dir.path().join("refs.npy");
    s2f::io::npy::write_npy(&refs, &[2, 3, 400, 4], &vec![0f32; 2 * 3 * 400 * 4]).unwrap();
    let bad = dir.path().join("bad");
    let mut args: Vec<&str> = base[..base.len() - 2].to_vec();
    args.extend(["--references", common::p(&refs), "--out", common::p(&bad)]);
    common::fails(&args, &["refs.npy", "expected (N = 2, R ≥ 1, L = 401, 4)"]);
    assert!(!bad.exists());
}
