//! `s2f inspect`, `run`, `export-onnx`, `package` and `spec-basenji` as a user runs them.

mod common;

use std::path::Path;

use common::{fails, fixture, ok, p};
use s2f::io::npy::read_npy;

fn models_dir() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("models")
}

#[test]
fn shipped_basenji2_specs_are_the_released_architecture() {
    let text = ok(&["inspect", p(&models_dir().join("basenji2_human.json"))]);
    assert!(text.contains("parameters: 30,123,584"), "{text}");
    assert!(text.contains("MACs per sequence: 116.6 G"), "{text}");
    assert!(text.contains("output (N, 896, 5313); bin i covers window [8192 + 128·i, +128) bp"), "{text}");
    let mouse = ok(&["inspect", p(&models_dir().join("basenji2_mouse.json"))]);
    assert!(mouse.contains("output (N, 896, 1643)"), "{mouse}");
    // The shipped files are exactly what spec-basenji builds from the released params.
    let dir = tempfile::tempdir().unwrap();
    for (name, head) in [("basenji2_human", "human:5313"), ("basenji2_mouse", "mouse:1643")] {
        let out = dir.path().join(format!("{name}.json"));
        ok(&[
            "spec-basenji",
            p(&fixture("basenji2_params_human.json")),
            "--name",
            name,
            "--heads",
            head,
            "--out",
            p(&out),
        ]);
        assert_eq!(
            std::fs::read_to_string(&out).unwrap(),
            std::fs::read_to_string(models_dir().join(format!("{name}.json"))).unwrap()
        );
    }
}

#[test]
fn package_run_export_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let spec = dir.path().join("small.json");
    ok(&[
        "spec-basenji",
        p(&fixture("models/basenji2_keras_small/params.json")),
        "--name",
        "small",
        "--heads",
        "human:12",
        "--out",
        p(&spec),
    ]);
    let pkg = dir.path().join("pkg");
    ok(&["package", p(&spec), "--random-seed", "5", "--out", p(&pkg)]);
    for f in ["model.json", "model.safetensors", "model.onnx"] {
        assert!(pkg.join(f).is_file(), "{f}");
    }
    let text = ok(&["inspect", p(&pkg)]);
    assert!(text.contains("source: random"), "{text}");
    let input = fixture("models/basenji2_keras_small/inputs.npy");
    let y1 = dir.path().join("y1.npy");
    ok(&["run", p(&pkg), "--input", p(&input), "--out", p(&y1), "--batch", "3"]);
    let y1a = read_npy(&y1).unwrap();
    assert_eq!(y1a.shape, [8, 240, 12]);
    // The BN-folded export gives the same predictions.
    let folded = dir.path().join("folded.onnx");
    ok(&["export-onnx", p(&pkg), "--fold-bn", "--out", p(&folded)]);
    std::fs::copy(pkg.join("model.json"), dir.path().join("folded.json")).unwrap();
    let y2 = dir.path().join("y2.npy");
    ok(&["run", p(&folded), "--input", p(&input), "--out", p(&y2)]);
    let (a, b) = (y1a.to_f32().unwrap(), read_npy(&y2).unwrap().to_f32().unwrap());
    let diff = a.iter().zip(&b).map(|(x, y)| (x - y).abs()).fold(0.0f32, f32::max);
    assert!(diff <= 1e-4, "folded vs plain: {diff}");
}

#[test]
fn run_rejects_bad_input_clearly() {
    let dir = tempfile::tempdir().unwrap();
    let model = fixture("models/drg_calderon_shallow/model.onnx");
    let out = dir.path().join("y.npy");
    // The FT_S2A input is 8192 bp; the DRG model reads 401.
    fails(
        &["run", p(&model), "--input", p(&fixture("models/ft_s2a_small/inputs.npy")), "--out", p(&out)],
        &["model reads 401 bp"],
    );
    let junk = dir.path().join("junk.onnx");
    std::fs::write(&junk, b"definitely not protobuf \xff\xff\xff").unwrap();
    fails(&["inspect", p(&junk)], &["not an ONNX model"]);
    fails(
        &[
            "run",
            p(&model),
            "--input",
            p(&fixture("models/ft_s2a_small/inputs.npy")),
            "--out",
            p(&out),
            "--device",
            "cuda",
        ],
        &["CPU only"],
    );
    fails(&["run", p(&dir.path().join("nope")), "--input", "x.npy", "--out", p(&out)], &["no such model"]);
    assert!(!out.exists());
}
