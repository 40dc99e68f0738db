//! Inference engines behind one trait, and the [`Predictor`] that adapts any model to s2f's
//! canonical tensors.
//!
//! An [`Engine`] runs an ONNX graph on raw tensors. Two implementations: [`tract`] (pure Rust,
//! embedded, CPU, on every core) and [`ort`] (ONNX Runtime loaded at run time from the PyPI
//! `onnxruntime` wheel; CPU, or CUDA with `onnxruntime-gpu`). The default, [`EngineKind::Auto`],
//! takes ONNX Runtime when its library is found (it is the faster one) and tract otherwise. Every engine must pass the same
//! conformance tests (shape, determinism, batch-1 = batch-N, fixture parity).
//!
//! A [`Predictor`] takes one-hot input `(N, L, 4)` float32, transposes it for graphs that
//! read `(N, 4, L)`, splits it into batches, and returns `(N, bins, tracks)` for one head.

pub mod ensemble;
pub mod ort;
pub mod profile;
pub mod tract;

use ndarray::{Array3, ArrayD, ArrayView3, Axis, IxDyn};

use crate::error::{Error, Result};
use crate::model::package::Package;
use crate::model::spec::InputLayout;

/// Which engine runs the model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum EngineKind {
    /// ONNX Runtime when its library is found, else tract (see [`resolve`]); the default.
    #[default]
    Auto,
    /// tract, pure Rust.
    Tract,
    /// ONNX Runtime.
    Ort,
}

/// The engine [`EngineKind::Auto`] stands for: ONNX Runtime when its shared library is found
/// and loads (see [`ort::find_library`]), else tract. The choice and its reason are logged once
/// per process (at `info` for ONNX Runtime, `warn` for the fall-back to the slower tract).
/// Other kinds are returned as they are.
pub fn resolve(kind: EngineKind) -> EngineKind {
    static AUTO: std::sync::OnceLock<EngineKind> = std::sync::OnceLock::new();
    if kind != EngineKind::Auto {
        return kind;
    }
    *AUTO.get_or_init(|| match ort::library() {
        Ok(lib) => {
            tracing::info!(
                "engine auto: ONNX Runtime found at {}; using it (--engine tract forces tract)",
                lib.display()
            );
            EngineKind::Ort
        }
        Err(e) => {
            tracing::warn!(
                "engine auto: using tract, the slower engine, because ONNX Runtime is not usable: {e}. \
                 For the faster engine: `pip install onnxruntime=={}` in a virtual environment",
                ort::ORT_VERSION
            );
            EngineKind::Tract
        }
    })
}

/// Threads for the CPU engines: 0 (the default) means every available core.
static THREADS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// Sets the threads the CPU engines created afterwards use (`--threads`); 0 = the default
/// (tract: every available core; ONNX Runtime: its own choice, one per physical core). tract
/// splits matrix products and elementwise kernels over them without changing any number; ONNX
/// Runtime gets it as its intra-op thread count.
pub fn set_threads(n: usize) {
    THREADS.store(n, std::sync::atomic::Ordering::Relaxed);
}

/// The thread count CPU engines use: [`set_threads`]'s value, or every available core.
pub fn threads() -> usize {
    match THREADS.load(std::sync::atomic::Ordering::Relaxed) {
        0 => std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
        n => n,
    }
}

/// True when [`set_threads`] was given a count (so ONNX Runtime is told it, instead of choosing).
fn threads_set() -> bool {
    THREADS.load(std::sync::atomic::Ordering::Relaxed) != 0
}

/// Where the engine runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Device {
    /// CPU.
    #[default]
    Cpu,
    /// A CUDA GPU; fails loudly when CUDA is not usable.
    Cuda,
    /// CUDA when usable, else CPU (the choice is logged).
    Auto,
}

/// Runs an ONNX graph.
pub trait Engine: Send {
    /// Engine and device actually used, e.g. `tract (cpu)`.
    fn describe(&self) -> String;
    /// What decides the numbers: the engine and device without settings that leave results
    /// unchanged (tract's thread count), e.g. `tract (cpu)` or `ort (cuda)`. Resumed runs and
    /// shards must agree on it.
    fn identity(&self) -> String {
        self.describe()
    }
    /// Runs the graph on its inputs, in graph order (e.g. a gradient graph's sequence and
    /// objective weights); returns every output in graph order.
    fn run_inputs(&mut self, inputs: Vec<ArrayD<f32>>) -> Result<Vec<ArrayD<f32>>>;

    /// Runs a one-input graph; returns every output in graph order.
    fn run(&mut self, input: ArrayD<f32>) -> Result<Vec<ArrayD<f32>>> {
        self.run_inputs(vec![input])
    }
}

/// Creates an engine for an ONNX model.
///
/// [`EngineKind::Auto`] is [`resolve`]d first; tract runs on [`threads`] cores.
pub fn create(kind: EngineKind, device: Device, onnx: &[u8]) -> Result<Box<dyn Engine>> {
    // Only ONNX Runtime runs on a GPU: `auto` with `--device cuda` means it (and says so when it
    // is missing) instead of falling back to tract.
    let kind = if kind == EngineKind::Auto && device == Device::Cuda { EngineKind::Ort } else { kind };
    match resolve(kind) {
        EngineKind::Auto | EngineKind::Tract => {
            if device == Device::Cuda {
                return Err(Error::Engine {
                    engine: "tract".into(),
                    message: "tract runs on the CPU only; use --engine ort --device cuda for a GPU".into(),
                });
            }
            if device == Device::Auto {
                tracing::info!("engine tract: running on cpu (tract has no GPU backend)");
            }
            Ok(Box::new(tract::TractEngine::with_threads(onnx, threads())?))
        }
        EngineKind::Ort => Ok(Box::new(ort::OrtEngine::with_threads(onnx, device, threads_set().then(threads))?)),
    }
}

/// Runs a model on canonical one-hot input and returns canonical outputs.
pub struct Predictor {
    engine: Box<dyn Engine>,
    layout: Option<InputLayout>,
    head: usize,
    batch: usize,
    /// Further inputs the graph takes after the primary one (name, shape without the batch).
    extra: Vec<(String, Vec<usize>)>,
    /// Track pairs of the head that swap under reverse complement.
    strand_pairs: Vec<[usize; 2]>,
    /// Output index of the count head when the head's profile logits are turned into counts
    /// ([`Predictor::profile_as_counts`]).
    counts: Option<usize>,
}

impl Predictor {
    /// A predictor for `head` (output index) of `package`, in batches of `batch` sequences.
    pub fn new(package: &Package, engine: Box<dyn Engine>, head: usize, batch: usize) -> Result<Self> {
        if batch == 0 {
            return Err(Error::InvalidArgument("batch size must be positive".into()));
        }
        if let Some(spec) = &package.spec {
            spec.require_one_input("this job")?;
        }
        Self::with_inputs(package, engine, head, batch)
    }

    /// As [`Predictor::new`], for a model that may take further inputs (graph form); feed them
    /// with [`Predictor::predict_with`].
    pub fn with_inputs(package: &Package, engine: Box<dyn Engine>, head: usize, batch: usize) -> Result<Self> {
        if batch == 0 {
            return Err(Error::InvalidArgument("batch size must be positive".into()));
        }
        let extra = package
            .spec
            .as_ref()
            .map(|s| {
                s.inputs
                    .iter()
                    .map(|i| {
                        let (c, l) = (i.channels, i.length as usize);
                        let dims = match i.layout {
                            InputLayout::NLC => vec![l, c],
                            InputLayout::NCL => vec![c, l],
                        };
                        (i.name.clone(), dims)
                    })
                    .collect()
            })
            .unwrap_or_default();
        let strand_pairs =
            package.spec.as_ref().and_then(|s| s.heads.get(head)).map(|h| h.strand_pairs.clone()).unwrap_or_default();
        Ok(Self {
            engine,
            layout: package.spec.as_ref().map(|s| s.input.layout),
            head,
            batch,
            extra,
            strand_pairs,
            counts: None,
        })
    }

    /// Predicts the head's profile as counts instead of logits: outputs become
    /// `(N, bins, tracks + 1)` as [`profile::profile_as_counts`] makes them from this head and
    /// the count head at output index `counts` (the head's
    /// [`crate::model::spec::Head::profile_counts`]).
    pub fn profile_as_counts(mut self, counts: usize) -> Self {
        self.counts = Some(counts);
        self
    }

    /// Track pairs of the head that trade places under reverse complement (see
    /// [`crate::model::spec::Head::strand_pairs`]).
    pub fn strand_pairs(&self) -> &[[usize; 2]] {
        &self.strand_pairs
    }

    /// Names and shapes (batch omitted, in the layout the graph takes) of the further inputs,
    /// in graph order.
    pub fn extra_inputs(&self) -> &[(String, Vec<usize>)] {
        &self.extra
    }

    /// Sequences per batch.
    pub fn batch(&self) -> usize {
        self.batch
    }

    /// Engine description.
    pub fn describe(&self) -> String {
        self.engine.describe()
    }

    /// The engine's [`Engine::identity`].
    pub fn identity(&self) -> String {
        self.engine.identity()
    }

    /// Predicts `(N, bins, tracks)` from one-hot `(N, L, 4)`. For a bare ONNX model (no spec)
    /// the input is passed as it is and outputs of rank 2 become `(N, 1, tracks)`.
    pub fn predict(&mut self, x: ArrayView3<f32>) -> Result<Array3<f32>> {
        self.predict_with(x, &[])
    }

    /// As [`Predictor::predict`], with the further inputs of a graph-form model: one array per
    /// [`Predictor::extra_inputs`] entry, in that order and shape, with the same sequences.
    pub fn predict_with(&mut self, x: ArrayView3<f32>, extra: &[ArrayView3<f32>]) -> Result<Array3<f32>> {
        let n = x.shape()[0];
        if n == 0 {
            return Err(Error::InvalidArgument("no sequences to predict (the input holds 0)".into()));
        }
        if extra.len() != self.extra.len() {
            return Err(Error::InvalidArgument(format!(
                "the model takes {} further input(s) ({}), {} given",
                self.extra.len(),
                self.extra.iter().map(|(n, _)| n.as_str()).collect::<Vec<_>>().join(", "),
                extra.len()
            )));
        }
        for ((name, dims), a) in self.extra.iter().zip(extra) {
            if a.shape()[0] != n || a.shape()[1..] != dims[..] {
                return Err(Error::InvalidArgument(format!(
                    "input {name:?} is {:?}; the model takes ({n}, {}, {})",
                    a.shape(),
                    dims[0],
                    dims[1]
                )));
            }
        }
        let mut parts = Vec::new();
        let mut start = 0;
        while start < n {
            let end = (start + self.batch).min(n);
            let chunk = x.slice_axis(Axis(0), (start..end).into());
            let input = match self.layout {
                Some(InputLayout::NCL) => chunk.permuted_axes([0, 2, 1]).as_standard_layout().into_owned().into_dyn(),
                _ => chunk.as_standard_layout().into_owned().into_dyn(),
            };
            let mut inputs = vec![input];
            for a in extra {
                inputs.push(a.slice_axis(Axis(0), (start..end).into()).as_standard_layout().into_owned().into_dyn());
            }
            let mut outs = self.engine.run_inputs(inputs)?;
            let needed = self.head.max(self.counts.unwrap_or(0));
            if needed >= outs.len() {
                return Err(Error::Engine {
                    engine: self.engine.describe(),
                    message: format!("the graph has {} outputs, output {needed} requested", outs.len()),
                });
            }
            let y = match self.counts {
                None => to_canonical(outs.swap_remove(self.head), end - start)?,
                Some(c) => {
                    let counts =
                        to_canonical(std::mem::replace(&mut outs[c], ArrayD::zeros(IxDyn(&[0]))), end - start)?;
                    let logits =
                        to_canonical(std::mem::replace(&mut outs[self.head], ArrayD::zeros(IxDyn(&[0]))), end - start)?;
                    profile::profile_as_counts(logits.view(), counts.view())?
                }
            };
            parts.push(y);
            start = end;
        }
        if parts.len() == 1 {
            return Ok(parts.swap_remove(0));
        }
        let views: Vec<_> = parts.iter().map(|p| p.view()).collect();
        ndarray::concatenate(Axis(0), &views).map_err(|e| Error::InvalidArgument(format!("cannot join batches: {e}")))
    }
}

fn to_canonical(y: ArrayD<f32>, n: usize) -> Result<Array3<f32>> {
    let shape = y.shape().to_vec();
    let bad = || {
        Error::InvalidArgument(format!(
            "model output of shape {shape:?} is not (batch, tracks) or (batch, bins, tracks)"
        ))
    };
    if shape.first() != Some(&n) {
        return Err(bad());
    }
    let y = match shape.len() {
        1 => y.into_shape_with_order(IxDyn(&[n, 1, 1])).map_err(|_| bad())?,
        2 => y.insert_axis(Axis(1)),
        3 => y,
        _ => return Err(bad()),
    };
    y.into_dimensionality::<ndarray::Ix3>().map_err(|_| bad())
}
