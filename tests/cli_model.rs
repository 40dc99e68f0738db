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
            "--engine",
            "tract",
        ],
        &["CPU only"],
    );
    fails(&["run", p(&dir.path().join("nope")), "--input", "x.npy", "--out", p(&out)], &["no such model"]);
    assert!(!out.exists());
}

/// Runs `s2f` with `ORT_DYLIB_PATH` set to `ort` (the test's own when `None`), asserts success,
/// returns standard error.
fn run_with_ort(args: &[&str], ort: Option<&str>) -> String {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_s2f"));
    cmd.args(args).env_remove("VIRTUAL_ENV");
    if let Some(o) = ort {
        cmd.env("ORT_DYLIB_PATH", o);
    }
    let out = cmd.output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(out.status.success(), "s2f {args:?} failed: {err}");
    err
}

#[test]
fn engine_auto_picks_onnx_runtime_when_found_and_tract_otherwise() {
    let dir = tempfile::tempdir().unwrap();
    let model = fixture("models/ft_s2a_small/res/model_human.onnx");
    let input = fixture("models/ft_s2a_small/inputs.npy");
    let run = |name: &str, extra: &[&str], ort: Option<&str>| {
        let out = dir.path().join(name);
        let mut args = vec!["run", p(&model), "--input", p(&input), "--out", p(&out)];
        args.extend_from_slice(extra);
        let log = run_with_ort(&args, ort);
        (read_npy(&out).unwrap().to_f32().unwrap(), std::fs::read(&out).unwrap(), log)
    };
    // No runtime where ORT_DYLIB_PATH points: tract, with a warning that says why and how to get ORT.
    let (tract, _, log) = run("tract.npy", &[], Some("/nonexistent/libonnxruntime.so.1"));
    assert!(log.contains("engine auto: using tract"), "{log}");
    assert!(log.contains("/nonexistent/libonnxruntime.so.1") && log.contains("pip install onnxruntime"), "{log}");
    if common::engines().contains(&s2f::engine::EngineKind::Ort) {
        let (ort, _, log) = run("ort.npy", &[], None);
        assert!(log.contains("engine auto: ONNX Runtime found at"), "{log}");
        let diff = ort.iter().zip(&tract).map(|(a, b)| (a - b).abs()).fold(0.0f32, f32::max);
        assert!(diff <= 1e-4, "auto (ORT) vs tract: {diff}");
    }
    // tract on one thread and on several writes the same bytes (this small model stays under
    // tract's threading thresholds: tests/engines.rs forces threading on); --engine tract never
    // looks for ORT.
    let (_, one, log) = run("t1.npy", &["--engine", "tract", "--threads", "1"], None);
    assert!(!log.contains("engine auto"), "{log}");
    let (_, three, _) = run("t3.npy", &["--engine", "tract", "--threads", "3"], None);
    assert_eq!(one, three, "tract with 1 and 3 threads");
    let out = common::s2f(&["run", p(&model), "--input", p(&input), "--out", "y.npy", "--threads", "0"]);
    assert!(!out.status.success() && String::from_utf8_lossy(&out.stderr).contains("--threads must be at least 1"));
}

#[test]
fn devices_reports_what_is_missing_and_exits_zero() {
    let run = |ort: &str| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_s2f"))
            .args(["devices", "--json"])
            .env_remove("VIRTUAL_ENV")
            .env("ORT_DYLIB_PATH", ort)
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        v
    };
    let v = run("/nonexistent/libonnxruntime.so.1");
    // Either no usable driver, with the reason, or the driver and its GPU list.
    let cuda = &v["cuda"];
    let no_gpu = match (cuda["unavailable"].as_str(), cuda["driver"]["gpus"].as_array()) {
        (Some(why), None) => {
            assert!(why.contains("CUDA driver"), "{why}");
            true
        }
        (None, Some(_)) => false,
        _ => panic!("neither a reason nor a GPU list: {v}"),
    };
    // This machine and CI have no NVIDIA driver at all.
    if !std::path::Path::new("/proc/driver/nvidia").exists() && std::env::var_os("S2F_HAS_CUDA").is_none() {
        assert!(no_gpu && cuda["unavailable"].as_str().unwrap().contains("no CUDA driver"), "{v}");
    }
    assert!(v["onnx_runtime"]["library"]["Err"].as_str().unwrap().contains("not a file"), "{v}");
    assert_eq!(v["burn_cuda"], serde_json::Value::Bool(cfg!(feature = "cuda")));
    assert!(v["cpu_threads"].as_u64().unwrap() >= 1);
    // With the test environment's ONNX Runtime: its version and that the CPU wheel has no CUDA provider.
    if let Ok(lib) = std::env::var("ORT_DYLIB_PATH") {
        let v = run(&lib);
        assert_eq!(v["onnx_runtime"]["library"]["Ok"].as_str(), Some(lib.as_str()), "{v}");
        if let Some(version) = v["onnx_runtime"]["version"].as_str() {
            assert!(lib.ends_with(version) && version.starts_with("1."), "{version} from {lib}");
        }
        // The test environment's wheel is the CPU one unless a GPU run says otherwise.
        let gpu_wheel = std::env::var_os("S2F_HAS_CUDA").is_some();
        assert_eq!(v["onnx_runtime"]["cuda_provider"], serde_json::Value::Bool(gpu_wheel), "{v}");
    }
    // The plain report says the same in words.
    let text = ok(&["devices"]);
    if no_gpu {
        assert!(text.contains("CUDA: not available"), "{text}");
    }
    assert!(text.contains("burn CUDA backend"), "{text}");
}
