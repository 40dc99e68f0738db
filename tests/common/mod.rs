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
