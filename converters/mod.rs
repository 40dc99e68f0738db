//! Importers from foreign checkpoint formats into s2f model packages, with no Python at run
//! time. Each importer reads the source file, builds (or is given) a [`ModelSpec`], maps every
//! source tensor onto the spec's weight names (transposing where the layout differs), and
//! records provenance (format, file, sha256) in the spec's `source`.
//!
//! - [`keras`]: Basenji2 as released (Keras 2 full-model HDF5), via the pure-Rust `hdf5-pure`.
//! - [`torch`]: FT_S2A's PyTorch ports of Basenji2 (zip or legacy state_dicts, with or without
//!   DataParallel's `module.` prefix), via `pytorch-reader`.
//! - [`drg`]: DRG CNN checkpoints (`*_parameter.pth` + `*_model_params.dat`).
//! - [`bpnet`]: bpnet-lite's `BPNet` and `ChromBPNet` state_dicts with their constructor
//!   arguments, as graph-form specs (profile and count heads).

pub mod bpnet;
pub mod drg;
pub mod keras;
pub mod keras_config;
mod keras_layers;
pub mod torch;

use std::path::Path;

use crate::error::{Error, Result};
use crate::model::spec::{ModelSpec, Source};
use crate::model::Weights;

/// A converted model: spec and weights, ready for [`crate::model::Package::write`].
#[derive(Debug, Clone)]
pub struct Converted {
    /// The spec, with `source` filled in.
    pub spec: ModelSpec,
    /// Weights named after the spec.
    pub weights: Weights,
}

/// Lower-case hex sha256 of a file, streamed (see [`crate::io::digest`]).
pub fn sha256_file(path: &Path) -> Result<String> {
    let f = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    crate::io::digest::sha256_hex_reader(f).map_err(|e| Error::io(path, e))
}

/// Provenance for a set of source files.
pub fn source(format: &str, files: &[&Path]) -> Result<Source> {
    Ok(Source {
        format: format.into(),
        files: files
            .iter()
            .map(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default())
            .collect(),
        sha256: files.iter().map(|p| sha256_file(p)).collect::<Result<_>>()?,
        notes: Default::default(),
    })
}

/// Reads basenji's `targets.txt` (tab-separated, header `index identifier file clip scale
/// sum_stat description`, the first column may be unnamed) into a track table.
pub fn read_targets(path: &Path) -> Result<Vec<crate::model::spec::Track>> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
    let mut lines = text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty());
    let (_, header) =
        lines.next().ok_or_else(|| Error::Empty { path: path.into(), what: "empty targets file".into() })?;
    let cols: Vec<&str> = header.split('\t').map(str::trim).collect();
    let col = |name: &str| cols.iter().position(|c| *c == name);
    let id_col = col("identifier").ok_or_else(|| Error::malformed(path, "line 1", "no 'identifier' column"))?;
    let (file_col, clip_col, scale_col, stat_col, desc_col) =
        (col("file"), col("clip"), col("scale"), col("sum_stat"), col("description"));
    let mut tracks = Vec::new();
    for (i, line) in lines {
        let f: Vec<&str> = line.split('\t').collect();
        let at = format!("line {}", i + 1);
        let get = |c: Option<usize>| c.and_then(|c| f.get(c)).map(|s| s.trim().to_string());
        let num = |c: Option<usize>| -> Result<Option<f64>> {
            match get(c) {
                None => Ok(None),
                Some(s) => s
                    .parse()
                    .map(Some)
                    .map_err(|_| Error::malformed(path, at.clone(), format!("{s:?} is not a number"))),
            }
        };
        let identifier = get(Some(id_col)).ok_or_else(|| Error::malformed(path, at.clone(), "missing identifier"))?;
        tracks.push(crate::model::spec::Track {
            index: tracks.len(),
            identifier,
            description: get(desc_col).unwrap_or_default(),
            file: get(file_col),
            clip: num(clip_col)?,
            scale: num(scale_col)?,
            sum_stat: get(stat_col),
        });
    }
    if tracks.is_empty() {
        return Err(Error::Empty { path: path.into(), what: "no tracks".into() });
    }
    Ok(tracks)
}

/// Attaches a track table to the head whose output has as many tracks.
pub fn attach_tracks(spec: &mut ModelSpec, tracks: Vec<crate::model::spec::Track>, path: &Path) -> Result<()> {
    let a = spec.analyze()?;
    let Some(h) = a.heads.iter().position(|(_, g)| g.tracks as usize == tracks.len()) else {
        return Err(Error::InvalidArgument(format!(
            "{}: {} tracks, but the model's heads output {}",
            path.display(),
            tracks.len(),
            a.heads.iter().map(|(n, g)| format!("{n}: {}", g.tracks)).collect::<Vec<_>>().join(", ")
        )));
    };
    spec.heads[h].tracks = tracks;
    Ok(())
}

/// Transposes a 3-D array `(a, b, c)` stored C-order into `(c, b, a)`.
pub(crate) fn transpose_3d_reverse(data: &[f32], a: usize, b: usize, c: usize) -> Vec<f32> {
    let mut out = vec![0f32; data.len()];
    for i in 0..a {
        for j in 0..b {
            for k in 0..c {
                out[(k * b + j) * a + i] = data[(i * b + j) * c + k];
            }
        }
    }
    out
}

/// Transposes a 2-D array `(r, c)` into `(c, r)`.
pub(crate) fn transpose_2d(data: &[f32], r: usize, c: usize) -> Vec<f32> {
    let mut out = vec![0f32; data.len()];
    for i in 0..r {
        for j in 0..c {
            out[j * r + i] = data[i * c + j];
        }
    }
    out
}
