//! Helpers shared by integration tests: fixture paths and an independent FASTA reader.
#![allow(dead_code)]

use std::collections::HashMap;
use std::io::Read;
use std::path::{Path, PathBuf};

/// Path of a file under `tests/fixtures/`.
pub fn fixture(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(rel)
}

/// Copies fixture files into a fresh temporary folder (tests never write into fixtures).
pub fn copy_to_temp(files: &[&str]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for f in files {
        let src = fixture(f);
        std::fs::copy(&src, dir.path().join(src.file_name().unwrap())).unwrap();
    }
    dir
}

/// Reads a whole FASTA (optionally gzip/bgzip) naively into name → sequence, independent of
/// the library's indexed reader: the reference the tests compare against.
pub fn naive_fasta(path: &Path) -> HashMap<String, Vec<u8>> {
    let raw = std::fs::read(path).unwrap();
    let mut text = Vec::new();
    if raw.starts_with(&[0x1f, 0x8b]) {
        flate2::read::MultiGzDecoder::new(&raw[..]).read_to_end(&mut text).unwrap();
    } else {
        text = raw;
    }
    let mut out = HashMap::new();
    let mut name = String::new();
    for line in String::from_utf8(text).unwrap().lines() {
        if let Some(h) = line.strip_prefix('>') {
            name = h.split_whitespace().next().unwrap().to_string();
            out.insert(name.clone(), Vec::new());
        } else {
            out.get_mut(&name).unwrap().extend_from_slice(line.trim().as_bytes());
        }
    }
    out
}

/// The bases of `[start, end)` of `seq`, with N outside `0..seq.len()`.
pub fn padded(seq: &[u8], start: i64, end: i64) -> Vec<u8> {
    (start..end).map(|i| if i < 0 || i >= seq.len() as i64 { b'N' } else { seq[i as usize] }).collect()
}

/// Runs the `s2f` binary.
pub fn s2f(args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_s2f")).args(args).output().unwrap()
}

/// Runs `s2f`, asserts success, returns standard output.
pub fn ok(args: &[&str]) -> String {
    let out = s2f(args);
    assert!(out.status.success(), "s2f {args:?} failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).to_string()
}

/// Runs `s2f`, asserts failure with every needle in standard error, returns it.
pub fn fails(args: &[&str], needles: &[&str]) -> String {
    let out = s2f(args);
    let err = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(!out.status.success(), "s2f {args:?} should fail");
    for n in needles {
        assert!(err.contains(n), "s2f {args:?}: expected {n:?} in: {err}");
    }
    err
}

/// A path as `&str` for command lines.
pub fn p(path: &Path) -> &str {
    path.to_str().unwrap()
}

/// The engines to test: tract always, ONNX Runtime when its library is found (CI sets
/// `S2F_REQUIRE_ORT`, making a missing runtime a failure instead of a skip).
pub fn engines() -> Vec<s2f::engine::EngineKind> {
    let mut v = vec![s2f::engine::EngineKind::Tract];
    match s2f::engine::ort::find_library() {
        Ok(_) => v.push(s2f::engine::EngineKind::Ort),
        Err(e) if std::env::var_os("S2F_REQUIRE_ORT").is_some() => panic!("S2F_REQUIRE_ORT is set but {e}"),
        Err(e) => eprintln!("skipping ONNX Runtime: {e}"),
    }
    v
}

/// How far `got` exceeds the tolerance `atol + rtol·|want|` at its worst element (≤ 0: within).
pub fn excess<'a>(
    got: impl IntoIterator<Item = &'a f32>,
    want: impl IntoIterator<Item = &'a f32>,
    atol: f32,
    rtol: f32,
) -> f32 {
    got.into_iter().zip(want).map(|(g, w)| (g - w).abs() - (atol + rtol * w.abs())).fold(f32::MIN, f32::max)
}

/// A spec that uses every op of the vocabulary, with four heads (a profile, a scalar one and two
/// global pools).
pub fn every_op_spec() -> s2f::model::spec::ModelSpec {
    let json = r#"{
      "format": "s2f-model", "version": 1, "name": "every_op",
      "input": { "length": 64, "n_value": 0.25 },
      "trunk": [
        { "op": "pad", "left": 2, "right": 2, "value": 0.25 },
        { "op": "conv1d", "name": "c1", "filters": 6, "kernel": 5, "dilation": 1, "bias": true },
        { "op": "batch_norm", "name": "bn1", "eps": 0.001 },
        { "op": "activation", "fn": "gelu_sigmoid" },
        { "op": "max_pool", "size": 2 },
        { "op": "residual", "layers": [
            { "op": "activation", "fn": "gelu_erf" },
            { "op": "conv1d", "filters": 3, "kernel": 3, "dilation": 2 },
            { "op": "batch_norm", "eps": 1e-5 },
            { "op": "activation", "fn": "relu" },
            { "op": "dense", "units": 6 }
        ] },
        { "op": "activation", "fn": "gelu_tanh" },
        { "op": "crop", "left": 3, "right": 1 }
      ],
      "heads": [
        { "name": "profile", "layers": [
            { "op": "avg_pool", "size": 2 },
            { "op": "dense", "name": "hp", "units": 3 },
            { "op": "activation", "fn": "softplus" }
        ] },
        { "name": "scalar", "layers": [
            { "op": "strand_max", "layers": [ { "op": "conv1d", "name": "rc", "filters": 4, "kernel": 3, "bias": false } ] },
            { "op": "activation", "fn": "sigmoid" },
            { "op": "weighted_pool", "size": 5, "pad_left": 3, "pad_right": 3 },
            { "op": "flatten" },
            { "op": "linear", "name": "lin", "units": 2 },
            { "op": "activation", "fn": "exp" }
        ] },
        { "name": "pooled_mean", "layers": [
            { "op": "global_pool", "fn": "mean" },
            { "op": "activation", "fn": "log1p" },
            { "op": "linear", "name": "lp", "units": 2 }
        ] },
        { "name": "pooled_sum", "layers": [
            { "op": "global_pool", "fn": "sum", "across_channels": true },
            { "op": "linear", "name": "ls", "units": 1 }
        ] }
      ]
    }"#;
    s2f::model::spec::ModelSpec::from_json(json).unwrap()
}

/// A small LCG so test data do not depend on the library's random streams (the same stream in
/// every test that uses it: outputs the high 31 bits of each state).
pub struct Lcg(pub u64);

impl Lcg {
    /// The next 31-bit value.
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        self.0 >> 33
    }

    /// Uniform in `0..n`.
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    /// Uniform in [0, 1).
    pub fn unit(&mut self) -> f32 {
        self.next() as f32 / (1u64 << 31) as f32
    }
}
