//! The ONNX Runtime engine, through the `ort` crate with `load-dynamic`.
//!
//! The shared library is found at run time (never downloaded at build time), in this order:
//! `ORT_DYLIB_PATH`; the `onnxruntime` package of the active virtual environment
//! (`VIRTUAL_ENV`); `.venv/` in the working folder or above the executable; the `onnxruntime`
//! package the active `python3` would import (asked without importing it). The wheel is
//! `pip install onnxruntime==1.31.1` (CPU) or `onnxruntime-gpu` (CUDA). The runtime must be
//! at least 1.31 (the `api-31` feature).
//!
//! `--device cuda` registers the CUDA execution provider with `error_on_failure`, so a missing
//! GPU, driver or CUDA library is an error, never a silent fall-back; `--device auto` tries CUDA
//! and logs which device it got.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use ndarray::ArrayD;
use ort::session::Session;

use crate::engine::{Device, Engine};
use crate::error::{Error, Result};

/// ONNX Runtime version the crate is built against (minimum at run time).
pub const ORT_VERSION: &str = "1.31.1";

/// The runtime, once loaded, with the library it was loaded from.
static ENV: OnceLock<std::result::Result<(ort::environment::Environment, PathBuf), String>> = OnceLock::new();

fn err(device: &str, e: impl std::fmt::Display) -> Error {
    Error::Engine { engine: format!("ort ({device})"), message: e.to_string() }
}

/// The newest `libonnxruntime.so.*` in an `onnxruntime/capi` folder.
fn capi_lib(capi: &Path) -> Option<PathBuf> {
    let entries = std::fs::read_dir(capi).ok()?;
    let mut libs: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.starts_with("libonnxruntime.so.")))
        .collect();
    libs.sort();
    libs.pop()
}

/// The runtime of the `onnxruntime` package that `python3` on the PATH would import, found with
/// `importlib.util.find_spec` (which does not import it); None without python3 or the package.
fn python_site_lib() -> Option<PathBuf> {
    let code = "import importlib.util as u; s = u.find_spec('onnxruntime'); \
                print(s.submodule_search_locations[0] if s and s.submodule_search_locations else '')";
    let out = std::process::Command::new("python3")
        .args(["-E", "-c", code])
        .stdin(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .output()
        .ok()?;
    let dir = String::from_utf8(out.stdout).ok()?;
    let dir = dir.trim();
    (out.status.success() && !dir.is_empty()).then(|| capi_lib(&Path::new(dir).join("capi"))).flatten()
}

fn site_packages_lib(venv: &Path) -> Option<PathBuf> {
    let lib = venv.join("lib");
    let mut pythons: Vec<PathBuf> = std::fs::read_dir(&lib).ok()?.filter_map(|e| e.ok().map(|e| e.path())).collect();
    pythons.sort();
    for py in pythons {
        if let Some(l) = capi_lib(&py.join("site-packages/onnxruntime/capi")) {
            return Some(l);
        }
    }
    None
}

/// Finds the ONNX Runtime shared library (see the module docs), or explains how to get one.
pub fn find_library() -> Result<PathBuf> {
    if let Some(p) = std::env::var_os("ORT_DYLIB_PATH") {
        let p = PathBuf::from(p);
        return if p.is_file() {
            Ok(p)
        } else {
            Err(err("setup", format!("ORT_DYLIB_PATH={} is not a file", p.display())))
        };
    }
    let mut venvs = Vec::new();
    if let Some(v) = std::env::var_os("VIRTUAL_ENV") {
        venvs.push(PathBuf::from(v));
    }
    if let Ok(cwd) = std::env::current_dir() {
        venvs.extend(cwd.ancestors().map(|a| a.join(".venv")));
    }
    if let Ok(exe) = std::env::current_exe() {
        venvs.extend(exe.ancestors().map(|a| a.join(".venv")));
    }
    for v in venvs {
        if let Some(l) = site_packages_lib(&v) {
            return Ok(l);
        }
    }
    if let Some(l) = python_site_lib() {
        return Ok(l);
    }
    Err(err(
        "setup",
        format!(
            "ONNX Runtime not found. Install it from PyPI: `python3 -m venv .venv && .venv/bin/pip install onnxruntime=={ORT_VERSION}` \
             (or onnxruntime-gpu for CUDA), or set ORT_DYLIB_PATH to its libonnxruntime.so.<version>"
        ),
    ))
}

/// The library [`environment`] loaded, or why none could be: finds the library and starts the
/// runtime once (the result is kept for the process).
pub fn library() -> Result<PathBuf> {
    environment()?;
    match ENV.get() {
        Some(Ok((_, lib))) => Ok(lib.clone()),
        _ => find_library(),
    }
}

/// Whether the loaded ONNX Runtime was built with the CUDA execution provider
/// (`onnxruntime-gpu`); None when no runtime loads or it cannot say.
pub fn has_cuda_provider() -> Option<bool> {
    use ort::ep::ExecutionProvider;
    environment().ok()?;
    ort::ep::CUDA::is_available().ok()
}

fn environment() -> Result<&'static ort::environment::Environment> {
    let env = ENV.get_or_init(|| {
        let lib = find_library().map_err(|e| e.to_string())?;
        tracing::debug!("loading ONNX Runtime from {}", lib.display());
        let builder = ort::init_from(&lib).map_err(|e| format!("cannot load {}: {e}", lib.display()))?;
        let env = builder
            .with_name("s2f")
            .build()
            .map_err(|e| format!("cannot start ONNX Runtime from {}: {e}", lib.display()))?;
        Ok((env, lib))
    });
    env.as_ref().map(|(e, _)| e).map_err(|m| err("setup", m))
}

/// ONNX Runtime running one ONNX model.
pub struct OrtEngine {
    session: Session,
    device: &'static str,
}

impl OrtEngine {
    /// Loads the runtime (once) and creates a session on `device`, with ONNX Runtime's own
    /// choice of threads.
    pub fn new(onnx: &[u8], device: Device) -> Result<Self> {
        Self::with_threads(onnx, device, None)
    }

    /// As [`OrtEngine::new`], with `threads` intra-op threads when given.
    pub fn with_threads(onnx: &[u8], device: Device, threads: Option<usize>) -> Result<Self> {
        let env = environment()?;
        let build = |cuda: bool| -> std::result::Result<Session, String> {
            // Full graph optimisation, as onnxruntime's Python API does by default.
            let b = Session::builder(env).map_err(|e| e.to_string())?;
            let mut b = b
                .with_optimization_level(ort::session::builder::GraphOptimizationLevel::All)
                .map_err(|e| e.to_string())?;
            if let Some(n) = threads {
                b = b.with_intra_threads(n).map_err(|e| e.to_string())?;
            }
            if cuda {
                b = b
                    .with_execution_providers([ort::ep::CUDA::default().build().error_on_failure()])
                    .map_err(|e| e.to_string())?;
            }
            b.commit_from_memory(onnx).map_err(|e| e.to_string())
        };
        match device {
            Device::Cpu => Ok(Self { session: build(false).map_err(|e| err("cpu", e))?, device: "cpu" }),
            Device::Cuda => {
                let session = build(true).map_err(|e| err("cuda", format!("CUDA is not usable: {e}")))?;
                tracing::info!("engine ort: running on cuda");
                Ok(Self { session, device: "cuda" })
            }
            Device::Auto => match build(true) {
                Ok(session) => {
                    tracing::info!("engine ort: --device auto picked cuda");
                    Ok(Self { session, device: "cuda" })
                }
                Err(e) => {
                    tracing::warn!("engine ort: CUDA not usable ({e}); --device auto falls back to cpu");
                    Ok(Self { session: build(false).map_err(|e| err("cpu", e))?, device: "cpu" })
                }
            },
        }
    }
}

impl Engine for OrtEngine {
    fn describe(&self) -> String {
        format!("ort ({})", self.device)
    }

    fn run_inputs(&mut self, inputs: Vec<ArrayD<f32>>) -> Result<Vec<ArrayD<f32>>> {
        let device = self.device;
        let names: Vec<String> = self.session.inputs().iter().map(|i| i.name().to_string()).collect();
        if names.len() != inputs.len() {
            return Err(err(device, format!("the graph takes {} inputs, {} given", names.len(), inputs.len())));
        }
        let mut feed: Vec<(String, ort::session::SessionInputValue)> = Vec::with_capacity(inputs.len());
        for (name, x) in names.into_iter().zip(inputs) {
            feed.push((name, ort::value::Tensor::from_array(x).map_err(|e| err(device, e))?.into()));
        }
        let outputs = self.session.run(feed).map_err(|e| err(device, e))?;
        let mut result = Vec::new();
        for (_, v) in outputs.iter() {
            result.push(v.try_extract_array::<f32>().map_err(|e| err(device, e))?.to_owned());
        }
        Ok(result)
    }
}
