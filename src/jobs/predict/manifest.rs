//! The run manifest: everything that must agree between a run, its resumption and its shards,
//! kept as JSON in the parts folder while a run is unfinished and as `s2f-predict.json` once
//! it is complete.

use std::io::Write;
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::Formats;
use crate::error::{Error, Result};
use crate::io::atomic::write_atomic;

/// Everything that must agree between a run, its resumption and its shards.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    /// Part-file format.
    pub version: u32,
    /// sha256 of the model's ONNX graph.
    pub model_sha256: String,
    /// Model name.
    pub model: String,
    /// Genome file name.
    pub genome: String,
    /// Chromosome sizes written into bigWigs.
    pub chrom_sizes: Vec<(String, u64)>,
    /// `genome` or `regions`.
    pub mode: String,
    /// Total windows.
    pub windows: usize,
    /// Windows per chunk.
    pub chunk: usize,
    /// Head index and selected tracks.
    pub head: usize,
    /// Selected track indices.
    pub tracks: Vec<usize>,
    /// Output file stem of each selected track.
    pub track_files: Vec<String>,
    /// Shifts (bp).
    pub shifts: Vec<i64>,
    /// Reverse complement averaging.
    pub rc: bool,
    /// Value of shifted-in positions (`--shift-pad`); 0 in manifests written before it was
    /// recorded.
    #[serde(default)]
    pub shift_pad: f32,
    /// Window stride (scalar models).
    pub stride: Option<u64>,
    /// Bins per window in the model output.
    pub bins: usize,
    /// Output formats.
    pub formats: Formats,
    /// Regions mode: how windows are centred, `summit-or-midpoint` or `midpoint`. Absent in
    /// genome mode, and in manifests of runs from before summits were used in regions mode (so
    /// such an unfinished run is not resumed with differently centred windows).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub centre: Option<String>,
}

/// Reads a manifest; a file that is not one is a [`Error::Malformed`] naming it.
pub(super) fn read_manifest(path: &Path) -> Result<Manifest> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
    serde_json::from_str(&text).map_err(|e| Error::malformed(path, "manifest", format!("{e}")))
}

/// Writes a manifest atomically (temporary name, then rename).
pub(super) fn write_manifest(path: &Path, m: &Manifest) -> Result<()> {
    let json = serde_json::to_string_pretty(m)
        .map_err(|e| Error::io(path, std::io::Error::other(format!("cannot serialise the manifest: {e}"))))?;
    write_atomic(path, |w| w.write_all(json.as_bytes()))
}
