//! Model packages and how a MODEL argument is resolved.
//!
//! A package is a folder holding `model.json` (the [`ModelSpec`]), `model.safetensors` and
//! `model.onnx`. A MODEL argument may also be an `.onnx` file with a sidecar spec (`X.json`
//! beside `X.onnx`, else `model.json` in the same folder) that gives geometry and tracks, or a
//! bare `.onnx` whose tensors are passed through unchanged.
//!
//! What is checked when a package is opened:
//! - `model.json` is a valid spec; `model.safetensors` holds exactly the tensors the spec expects,
//!   stored as float32, every value finite;
//! - the sha256 digests that [`Package::write`] records under `package` in `model.json` match
//!   `model.safetensors` and `model.onnx`; a mismatch names the file that changed;
//! - a package without digests (written by hand or by an older s2f) has its graph emitted from
//!   spec and weights; a `model.onnx` that differs from that graph is not used (with a warning);
//! - the ONNX graph's input and output names are the spec's (a foreign `model.onnx` is refused).

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::io::atomic::{write_atomic, AtomicFile};
use crate::model::onnx::{emit, emit_to, EmitOptions};
use crate::model::spec::{ModelSpec, PACKAGE_KEY};
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
        if let Some(spec) = &spec {
            check_signature(spec, &onnx, &path)?;
        }
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
        let digests = Digests::read(&spec_path)?;
        let analysis = spec.analyze()?;
        let wpath = dir.join(WEIGHTS_FILE);
        let onnx_path = dir.join(ONNX_FILE);
        let mismatch = |file: &Path, what: &str| {
            Error::InvalidArgument(format!(
                "{}: {what}; the package's files no longer belong together. Rebuild the package from its \
                 spec and weights (`s2f package {} --weights W.safetensors --out DIR`) or convert the model again",
                file.display(),
                spec_path.display()
            ))
        };
        let weights = if wpath.is_file() {
            let bytes = std::fs::read(&wpath).map_err(|e| Error::io(&wpath, e))?;
            if let Some(d) = &digests {
                if sha256_hex(&bytes) != d.weights_sha256 {
                    return Err(mismatch(
                        &wpath,
                        "changed since the package was written (its sha256 differs from model.json's)",
                    ));
                }
            }
            let w = Weights::from_package_safetensors(&bytes, &wpath)?;
            w.check(&analysis.weights, &wpath)?;
            w.check_finite(&wpath)?;
            Some(w)
        } else {
            None
        };
        let stored = if onnx_path.is_file() {
            Some(std::fs::read(&onnx_path).map_err(|e| Error::io(&onnx_path, e))?)
        } else {
            None
        };
        let onnx = match (stored, &weights, &digests) {
            (Some(bytes), _, Some(d)) => {
                if sha256_hex(&bytes) != d.onnx_sha256 {
                    return Err(mismatch(
                        &onnx_path,
                        "is not the graph emitted with this package (its sha256 differs from model.json's)",
                    ));
                }
                bytes
            }
            (stored, Some(w), _) => {
                // No digests: spec and weights are the truth, the graph is emitted from them.
                let emitted = emit(&spec, w, EmitOptions::default())?;
                if stored.is_some_and(|b| b != emitted) {
                    tracing::warn!(
                        "{}: differs from the graph of model.json + model.safetensors, which model.json records no \
                         digest of; running the graph emitted from them instead (rebuild the package with \
                         `s2f package` to record digests)",
                        onnx_path.display()
                    );
                }
                emitted
            }
            (Some(bytes), None, _) => bytes,
            (None, None, _) => {
                return Err(Error::io(
                    &onnx_path,
                    std::io::Error::new(
                        std::io::ErrorKind::NotFound,
                        "package has neither model.onnx nor model.safetensors",
                    ),
                ))
            }
        };
        check_signature(&spec, &onnx, &onnx_path)?;
        Ok(Self { path: dir.to_path_buf(), spec: Some(spec), onnx, weights })
    }

    /// Writes a package folder (created if needed): spec, weights and the emitted ONNX, each
    /// atomically.
    pub fn write(dir: impl AsRef<Path>, spec: &ModelSpec, weights: &Weights, opts: EmitOptions) -> Result<()> {
        let dir = dir.as_ref();
        let analysis = spec.analyze()?;
        weights.check(&analysis.weights, &dir.join(WEIGHTS_FILE))?;
        weights.check_finite(&dir.join(WEIGHTS_FILE))?;
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
        let digests =
            Digests { weights_sha256: file_sha256(st.tmp_path())?, onnx_sha256: file_sha256(onnx.tmp_path())? };
        let json = digests.attach(spec)?;
        st.commit()?;
        onnx.commit()?;
        write_atomic(dir.join(SPEC_FILE), |w| std::io::Write::write_all(w, json.as_bytes()))?;
        Ok(())
    }
}

/// The digests a package records in `model.json` (under [`PACKAGE_KEY`]).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Digests {
    /// sha256 (hex) of `model.safetensors`.
    weights_sha256: String,
    /// sha256 (hex) of `model.onnx`.
    onnx_sha256: String,
}

impl Digests {
    /// The digests recorded in the `model.json` at `path`, if any.
    fn read(path: &Path) -> Result<Option<Self>> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        let value: serde_json::Value =
            serde_json::from_str(&text).map_err(|e| Error::Spec(format!("{}: {e}", path.display())))?;
        match value.get(PACKAGE_KEY) {
            None => Ok(None),
            Some(v) => serde_json::from_value(v.clone())
                .map(Some)
                .map_err(|e| Error::Spec(format!("{}: `{PACKAGE_KEY}`: {e}", path.display()))),
        }
    }

    /// `spec` as `model.json` text (fields in the spec's order) with these digests appended.
    fn attach(&self, spec: &ModelSpec) -> Result<String> {
        let json = spec.to_json();
        let body = json.trim_end().strip_suffix('}').ok_or_else(|| Error::Spec("cannot serialise the spec".into()))?;
        let digests = serde_json::to_string_pretty(self).map_err(|e| Error::Spec(format!("cannot serialise: {e}")))?;
        Ok(format!("{},\n  \"{PACKAGE_KEY}\": {}\n}}\n", body.trim_end(), digests.replace('\n', "\n  ")))
    }
}

fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    format!("{:x}", sha2::Sha256::digest(bytes))
}

fn file_sha256(path: &Path) -> Result<String> {
    use sha2::Digest;
    let mut file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let mut hasher = sha2::Sha256::new();
    std::io::copy(&mut file, &mut hasher).map_err(|e| Error::io(path, e))?;
    Ok(format!("{:x}", hasher.finalize()))
}

/// Checks that the ONNX graph fits the spec. An s2f spec (with layers): the graph reads the spec's
/// input and writes one output per head, by name. A sidecar spec of a foreign graph: one output
/// per head, in order, each holding `bins × tracks` values per sequence where its shape is static.
fn check_signature(spec: &ModelSpec, onnx: &[u8], path: &Path) -> Result<()> {
    let sig = crate::model::onnx::signature(onnx, path)?;
    let inputs: Vec<&str> = sig.inputs.iter().map(|(n, _)| n.as_str()).collect();
    let outputs: Vec<&str> = sig.outputs.iter().map(|(n, _)| n.as_str()).collect();
    let mut problems = Vec::new();
    if spec.has_layers() {
        if !inputs.contains(&spec.input.onnx_name.as_str()) {
            problems
                .push(format!("the spec's input {:?} is not a graph input (inputs: {inputs:?})", spec.input.onnx_name));
        }
        for i in &spec.inputs {
            if !inputs.contains(&i.name.as_str()) {
                problems.push(format!("the spec's input {:?} is not a graph input (inputs: {inputs:?})", i.name));
            }
        }
        for h in &spec.heads {
            if !outputs.contains(&h.name.as_str()) {
                problems.push(format!("head {:?} is not a graph output (outputs: {outputs:?})", h.name));
            }
        }
    } else if sig.outputs.len() < spec.heads.len() {
        problems.push(format!("the spec has {} heads but the graph {} outputs", spec.heads.len(), sig.outputs.len()));
    } else {
        for (h, (name, dims)) in spec.heads.iter().zip(&sig.outputs) {
            let (Some(g), Some(rest)) = (h.geometry, dims.get(1..)) else { continue };
            let fixed: Option<Vec<i64>> = rest.iter().copied().collect();
            if let Some(fixed) = fixed {
                let per_seq: i64 = fixed.iter().product();
                if per_seq != (g.bins * g.tracks) as i64 {
                    problems.push(format!(
                        "output {name:?} has shape {fixed:?} per sequence, but head {:?} says {} bins × {} tracks",
                        h.name, g.bins, g.tracks
                    ));
                }
            }
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(Error::malformed(path, "graph", format!("does not match model.json: {}", problems.join("; "))))
    }
}
