//! Model packages and how a MODEL argument is resolved.
//!
//! A package is a folder holding `model.json` (the [`ModelSpec`]), `model.safetensors` and
//! `model.onnx`. A MODEL argument may also be an `.onnx` file with a sidecar spec (`X.json`
//! beside `X.onnx`, else `model.json` in the same folder) that gives geometry and tracks, or a
//! bare `.onnx` whose tensors are passed through unchanged.

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::io::atomic::{write_atomic, AtomicFile};
use crate::model::onnx::{emit, emit_to, EmitOptions};
use crate::model::spec::ModelSpec;
use crate::model::weights::Weights;

/// File names inside a package.
pub const SPEC_FILE: &str = "model.json";
/// Weights file name.
pub const WEIGHTS_FILE: &str = "model.safetensors";
/// ONNX file name.
pub const ONNX_FILE: &str = "model.onnx";

/// A model ready to run: its ONNX bytes and, unless it is a bare ONNX file, its spec.
#[derive(Debug, Clone)]
pub struct Package {
    /// Where it was loaded from.
    pub path: PathBuf,
    /// The spec (None for a bare ONNX file).
    pub spec: Option<ModelSpec>,
    /// The ONNX model.
    pub onnx: Vec<u8>,
    /// Weights, when the package has them.
    pub weights: Option<Weights>,
}

impl Package {
    /// The spec (with layers) and weights, which analyses that build their own graphs need;
    /// otherwise an error saying that `what` needs an s2f package, not a bare or foreign ONNX.
    pub fn spec_and_weights(&self, what: &str) -> Result<(&ModelSpec, &Weights)> {
        match (&self.spec, &self.weights) {
            (Some(s), Some(w)) if s.has_layers() => Ok((s, w)),
            _ => Err(Error::InvalidArgument(format!(
                "{}: {what} need an s2f package (model.json with layers and model.safetensors), \
                 not a bare or foreign ONNX model",
                self.path.display()
            ))),
        }
    }

    /// Resolves a MODEL argument (see the module docs).
    pub fn open(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref().to_path_buf();
        if path.is_dir() {
            return Self::open_dir(&path);
        }
        if !path.exists() {
            return Err(Error::io(
                &path,
                std::io::Error::new(std::io::ErrorKind::NotFound, "no such model file or package folder"),
            ));
        }
        if path.extension().is_some_and(|e| e == "json") {
            // A spec file: the package is its folder.
            let dir = path.parent().map(Path::to_path_buf).unwrap_or_else(|| PathBuf::from("."));
            return Self::open_dir(&dir);
        }
        let onnx = std::fs::read(&path).map_err(|e| Error::io(&path, e))?;
        crate::model::onnx::signature(&onnx, &path)?;
        let sidecars = [path.with_extension("json"), path.with_file_name(SPEC_FILE)];
        let spec = match sidecars.iter().find(|p| p.is_file()) {
            Some(p) => Some(ModelSpec::read(p)?),
            None => None,
        };
        Ok(Self { path, spec, onnx, weights: None })
    }

    fn open_dir(dir: &Path) -> Result<Self> {
        let spec_path = dir.join(SPEC_FILE);
        if !spec_path.is_file() {
            return Err(Error::io(
                &spec_path,
                std::io::Error::new(std::io::ErrorKind::NotFound, "a model package needs model.json"),
            ));
        }
        let spec = ModelSpec::read(&spec_path)?;
        let analysis = spec.analyze()?;
        let wpath = dir.join(WEIGHTS_FILE);
        let weights = if wpath.is_file() {
            let w = Weights::read(&wpath)?;
            w.check(&analysis.weights, &wpath)?;
            Some(w)
        } else {
            None
        };
        let onnx_path = dir.join(ONNX_FILE);
        let onnx = if onnx_path.is_file() {
            let bytes = std::fs::read(&onnx_path).map_err(|e| Error::io(&onnx_path, e))?;
            crate::model::onnx::signature(&bytes, &onnx_path)?;
            bytes
        } else {
            match &weights {
                Some(w) => emit(&spec, w, EmitOptions::default())?,
                None => {
                    return Err(Error::io(
                        &onnx_path,
                        std::io::Error::new(
                            std::io::ErrorKind::NotFound,
                            "package has neither model.onnx nor model.safetensors",
                        ),
                    ))
                }
            }
        };
        Ok(Self { path: dir.to_path_buf(), spec: Some(spec), onnx, weights })
    }

    /// Writes a package folder (created if needed): spec, weights and the emitted ONNX, each
    /// atomically.
    pub fn write(dir: impl AsRef<Path>, spec: &ModelSpec, weights: &Weights, opts: EmitOptions) -> Result<()> {
        let dir = dir.as_ref();
        let analysis = spec.analyze()?;
        weights.check(&analysis.weights, &dir.join(WEIGHTS_FILE))?;
        std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        // Both files are streamed from `weights`: writing a package holds no second copy.
        let mut onnx = AtomicFile::create(dir.join(ONNX_FILE))?;
        {
            let mut w = std::io::BufWriter::new(onnx.file());
            emit_to(spec, weights, opts, &mut w)?;
            std::io::Write::flush(&mut w).map_err(|e| Error::io(dir.join(ONNX_FILE), e))?;
        }
        let st = AtomicFile::create(dir.join(WEIGHTS_FILE))?;
        weights.write_safetensors(st.tmp_path())?;
        st.commit()?;
        onnx.commit()?;
        let json = spec.to_json();
        write_atomic(dir.join(SPEC_FILE), |w| std::io::Write::write_all(w, json.as_bytes()))?;
        Ok(())
    }
}
