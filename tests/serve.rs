//! `s2f serve` against the Triton HTTP client (`tritonclient.http`, in the test venv): metadata,
//! health, JSON and binary infer and DNA strings equal to `s2f run` bit for bit, every class of
//! bad request, concurrency with dynamic batching, metrics, and SIGTERM draining requests in
//! flight (tests/serve/oip_client.py does the client side). `s2f export-triton` configs parse as
//! Triton's model-config protobuf text.

mod common;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use common::{ok, p};

/// The test venv's Python (`S2F_PYTHON`); `None` skips, except under CI (`S2F_REQUIRE_ORT`).
fn python() -> Option<String> {
    match std::env::var("S2F_PYTHON") {
        Ok(p) => Some(p),
        Err(_) if std::env::var_os("S2F_REQUIRE_ORT").is_some() => {
            panic!("S2F_REQUIRE_ORT is set but S2F_PYTHON is not")
        }
        Err(_) => {
            eprintln!("S2F_PYTHON not set: skipping the tritonclient checks");
            None
        }
    }
}

fn demo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("models/calderon2019_shallow")
}

/// Starts `s2f serve` on a free loopback port; returns the child and its `host:port`.
fn start(extra: &[&str]) -> (Child, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_s2f"))
        .args(["serve", p(&demo()), "--port", "0", "--engine", "tract"])
        .args(extra)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
    let addr = line.trim().strip_prefix("s2f serve: listening on http://").unwrap_or_else(|| {
        let _ = child.kill();
        panic!("unexpected first line from s2f serve: {line:?}")
    });
    (child, addr.to_string())
}

fn client(python: &str, args: &[&str]) {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/serve/oip_client.py");
    let out = Command::new(python).arg(script).args(args).output().unwrap();
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "client checks failed:\n{text}");
    eprintln!("{text}");
}

fn terminate(child: &mut Child) -> std::process::ExitStatus {
    let pid = child.id().to_string();
    Command::new("kill").args(["-TERM", &pid]).status().unwrap();
    child.wait().unwrap()
}

#[test]
fn serve_answers_like_run_and_refuses_bad_requests() {
    let Some(python) = python() else { return };
    let (mut child, addr) =
        start(&["--max-batch", "16", "--max-delay-ms", "20", "--max-body-mb", "1", "--max-sequences", "64"]);
    let model = demo();
    let bin = env!("CARGO_BIN_EXE_s2f");
    let name = "calderon2019_atac_shallow";
    let args = ["checks", "--url", &addr, "--bin", bin, "--model", p(&model), "--name", name];
    let result = std::panic::catch_unwind(|| client(&python, &args));
    let status = terminate(&mut child);
    if let Err(e) = result {
        std::panic::resume_unwind(e);
    }
    assert!(status.success(), "s2f serve exited with {status} after SIGTERM");
}

#[test]
fn sigterm_drains_requests_in_flight() {
    let Some(python) = python() else { return };
    let (mut child, addr) = start(&["--max-batch", "64"]);
    let model = demo();
    let pid = child.id().to_string();
    let bin = env!("CARGO_BIN_EXE_s2f");
    let name = "calderon2019_atac_shallow";
    let args = ["drain", "--url", &addr, "--bin", bin, "--model", p(&model), "--name", name, "--pid", &pid];
    let result = std::panic::catch_unwind(|| client(&python, &args));
    if result.is_err() {
        let _ = child.kill();
    }
    let status = child.wait().unwrap();
    if let Err(e) = result {
        std::panic::resume_unwind(e);
    }
    assert!(status.success(), "s2f serve exited with {status} after SIGTERM");
}

#[test]
fn export_triton_writes_a_repository_triton_reads() {
    let dir = tempfile::tempdir().unwrap();
    let repo = dir.path().join("repo");
    let out =
        ok(&["export-triton", p(&demo()), &format!("{}=demo", p(&demo())), "--out", p(&repo), "--max-batch", "32"]);
    assert!(out.contains("calderon2019_atac_shallow") && out.contains("demo"), "{out}");
    for name in ["calderon2019_atac_shallow", "demo"] {
        let m = repo.join(name);
        assert_eq!(
            std::fs::read(m.join("1/model.onnx")).unwrap(),
            std::fs::read(demo().join("model.onnx")).unwrap(),
            "the exported graph is the package's"
        );
        let labels = std::fs::read_to_string(m.join("predictions_labels.txt")).unwrap();
        assert_eq!(labels.lines().count(), 45, "one label per track");
    }
    // Exporting again over an existing model folder is refused and changes nothing.
    let before = std::fs::read(repo.join("demo/config.pbtxt")).unwrap();
    common::fails(&["export-triton", &format!("{}=demo", p(&demo())), "--out", p(&repo)], &["already exists"]);
    assert_eq!(std::fs::read(repo.join("demo/config.pbtxt")).unwrap(), before);
    let leftovers: Vec<_> = std::fs::read_dir(&repo)
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with('.'))
        .collect();
    assert!(leftovers.is_empty(), "staging folders left behind: {leftovers:?}");

    let Some(python) = python() else { return };
    // Triton's own model-config schema (tritonclient's bundled protos) reads the config.
    let check = r#"
import sys
from google.protobuf import text_format
from tritonclient.grpc import model_config_pb2 as mc
c = text_format.Parse(open(sys.argv[1]).read(), mc.ModelConfig())
assert c.name == "calderon2019_atac_shallow", c.name
assert c.platform == "onnxruntime_onnx" and c.max_batch_size == 32
assert [(i.name, i.data_type, list(i.dims)) for i in c.input] == [("sequence", mc.TYPE_FP32, [401, 4])], c.input
assert [(o.name, o.data_type, list(o.dims), o.label_filename) for o in c.output] == \
    [("predictions", mc.TYPE_FP32, [1, 45], "predictions_labels.txt")], c.output
assert c.dynamic_batching.max_queue_delay_microseconds == 5000
print("config ok")
"#;
    let out = Command::new(&python)
        .args(["-c", check, p(&repo.join("calderon2019_atac_shallow/config.pbtxt"))])
        .output()
        .unwrap();
    assert!(out.status.success(), "config.pbtxt: {}", String::from_utf8_lossy(&out.stderr));
}
