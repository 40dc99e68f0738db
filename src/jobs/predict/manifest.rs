//! The run manifest: everything that must agree between a run, its resumption and its shards,
//! kept as JSON in the parts folder while a run is unfinished and as `s2f-predict.json` once
//! it is complete.

use std::path::Path;

use serde::{Deserialize, Serialize};

use super::Formats;
use crate::error::Result;

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
    /// The engine's [`crate::engine::Engine::identity`] (engines differ in the last bits, so a
    /// run is resumed or merged only with the engine it started with); empty in manifests
    /// written before it was recorded.
    #[serde(default)]
    pub engine: String,
    /// A profile head predicted as counts ([`super::PredictOptions::profile_counts`]): the
    /// last output file is the log count, one value per window.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub profile_counts: bool,
    /// File names of the bigWigs of each signal input ([`super::PredictOptions::signals`]).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub signals: Vec<Vec<String>>,
}

/// Reads a manifest (see [`crate::jobs::run_dir`]).
pub(super) fn read_manifest(path: &Path) -> Result<Manifest> {
    crate::jobs::run_dir::read_manifest(path)
}

/// Writes a manifest atomically.
pub(super) fn write_manifest(path: &Path, m: &Manifest) -> Result<()> {
    crate::jobs::run_dir::write_manifest(path, m)
}
