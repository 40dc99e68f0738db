//! What this machine offers the engines: the CUDA driver and its GPUs (through cudarc's dynamic
//! loading, so s2f builds and runs where CUDA is absent), the ONNX Runtime library s2f would load
//! and whether it carries the CUDA execution provider, and whether this build has burn's CUDA
//! training backend. Nothing here fails: every part reports what it found or why it found nothing.

use std::path::PathBuf;

/// One GPU as the CUDA driver reports it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Gpu {
    /// Device ordinal (`cuda:N`).
    pub ordinal: usize,
    /// Product name.
    pub name: String,
    /// Total memory in bytes.
    pub memory_bytes: u64,
    /// Compute capability (major, minor).
    pub compute_capability: (i32, i32),
}

/// The CUDA driver, or why it is not usable.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Cuda {
    /// No usable CUDA driver; the reason.
    Unavailable(String),
    /// The driver (its CUDA version, e.g. (12, 8)) and its GPUs (possibly none).
    Driver {
        /// CUDA version the driver supports (major, minor).
        version: (i32, i32),
        /// The GPUs it sees.
        gpus: Vec<Gpu>,
    },
}

/// The ONNX Runtime library s2f would load.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct OnnxRuntime {
    /// Its path, or why none is usable.
    pub library: Result<PathBuf, String>,
    /// Its version (from the library's name, e.g. `1.31.1`), when found.
    pub version: Option<String>,
    /// Whether it was built with the CUDA execution provider (`onnxruntime-gpu`), when loaded.
    pub cuda_provider: Option<bool>,
}

/// Everything [`report`] finds.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Report {
    /// The CUDA driver.
    pub cuda: Cuda,
    /// ONNX Runtime.
    pub onnx_runtime: OnnxRuntime,
    /// Whether this build has burn's CUDA backend (`--features cuda`) for `s2f train --device cuda`.
    pub burn_cuda: bool,
    /// CPU cores the CPU engines use by default.
    pub cpu_threads: usize,
}

/// Looks at the CUDA driver, ONNX Runtime and this build.
pub fn report() -> Report {
    Report {
        cuda: cuda(),
        onnx_runtime: onnx_runtime(),
        burn_cuda: cfg!(feature = "cuda"),
        cpu_threads: crate::engine::threads(),
    }
}

/// The CUDA driver and its GPUs, through cudarc (the driver library is loaded at run time; its
/// absence is reported, never a panic).
pub fn cuda() -> Cuda {
    use cudarc::driver::{result, sys};
    // SAFETY: only tries to open the library; no symbol is called.
    if !unsafe { sys::is_culib_present() } {
        return Cuda::Unavailable("no CUDA driver library (libcuda.so) found: no NVIDIA driver on this machine".into());
    }
    if let Err(e) = result::init() {
        return Cuda::Unavailable(format!("the CUDA driver did not start: {e}"));
    }
    let mut v = 0i32;
    // SAFETY: the driver is initialised; `v` is a valid out-pointer.
    let version = match unsafe { sys::cuDriverGetVersion(&mut v) }.result() {
        Ok(()) => (v / 1000, (v % 1000) / 10),
        Err(e) => return Cuda::Unavailable(format!("the CUDA driver gave no version: {e}")),
    };
    let count = match result::device::get_count() {
        Ok(n) => n.max(0),
        Err(e) => return Cuda::Unavailable(format!("the CUDA driver cannot count devices: {e}")),
    };
    let mut gpus = Vec::new();
    for ordinal in 0..count {
        let Ok(dev) = result::device::get(ordinal) else { continue };
        let name = result::device::get_name(dev).unwrap_or_else(|e| format!("(name unavailable: {e})"));
        // SAFETY: `dev` came from `device::get`.
        let memory_bytes = unsafe { result::device::total_mem(dev) }.unwrap_or(0) as u64;
        let attr = |a| unsafe { result::device::get_attribute(dev, a) }.unwrap_or(-1);
        let compute_capability = (
            attr(sys::CUdevice_attribute::CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR),
            attr(sys::CUdevice_attribute::CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR),
        );
        gpus.push(Gpu { ordinal: ordinal as usize, name, memory_bytes, compute_capability });
    }
    Cuda::Driver { version, gpus }
}

/// The ONNX Runtime library s2f would load, its version and CUDA execution provider.
pub fn onnx_runtime() -> OnnxRuntime {
    match crate::engine::ort::library() {
        Ok(path) => OnnxRuntime {
            version: version_from_name(&path),
            cuda_provider: crate::engine::ort::has_cuda_provider(),
            library: Ok(path),
        },
        Err(e) => OnnxRuntime { library: Err(e.to_string()), version: None, cuda_provider: None },
    }
}

/// `1.31.1` from `…/libonnxruntime.so.1.31.1` (or `libonnxruntime.1.31.1.dylib`).
fn version_from_name(path: &std::path::Path) -> Option<String> {
    let name = path.file_name()?.to_str()?;
    let rest = name.strip_prefix("libonnxruntime.")?;
    let rest = rest.strip_prefix("so.").unwrap_or(rest);
    let rest = rest.strip_suffix(".dylib").unwrap_or(rest);
    (!rest.is_empty() && rest.chars().all(|c| c.is_ascii_digit() || c == '.')).then(|| rest.to_string())
}

impl std::fmt::Display for Report {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.cuda {
            Cuda::Unavailable(why) => writeln!(f, "CUDA: not available ({why})")?,
            Cuda::Driver { version, gpus } => {
                writeln!(f, "CUDA: driver for CUDA {}.{}, {} device(s)", version.0, version.1, gpus.len())?;
                for g in gpus {
                    writeln!(
                        f,
                        "  cuda:{}  {}  {:.1} GiB  compute capability {}.{}",
                        g.ordinal,
                        g.name,
                        g.memory_bytes as f64 / (1u64 << 30) as f64,
                        g.compute_capability.0,
                        g.compute_capability.1
                    )?;
                }
            }
        }
        match &self.onnx_runtime.library {
            Ok(path) => {
                writeln!(
                    f,
                    "ONNX Runtime: {} at {}",
                    self.onnx_runtime.version.as_deref().unwrap_or("(version unknown)"),
                    path.display()
                )?;
                let ep = match self.onnx_runtime.cuda_provider {
                    Some(true) => "yes (onnxruntime-gpu)",
                    Some(false) => "no (CPU wheel; `pip install onnxruntime-gpu` for --engine ort --device cuda)",
                    None => "unknown",
                };
                writeln!(f, "  CUDA execution provider: {ep}")?;
            }
            Err(why) => writeln!(f, "ONNX Runtime: not found ({why}); the tract engine is used")?,
        }
        writeln!(
            f,
            "burn CUDA backend (s2f train --device cuda): {}",
            if self.burn_cuda { "built in" } else { "not in this build (cargo build --release --features cuda)" }
        )?;
        write!(f, "CPU threads for the engines: {}", self.cpu_threads)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_are_read_from_library_names() {
        let v = |p: &str| version_from_name(std::path::Path::new(p));
        assert_eq!(v("/x/capi/libonnxruntime.so.1.31.1").as_deref(), Some("1.31.1"));
        assert_eq!(v("libonnxruntime.1.20.0.dylib").as_deref(), Some("1.20.0"));
        assert_eq!(v("/x/libonnxruntime.so"), None);
        assert_eq!(v("/x/other.so.1"), None);
    }
}
