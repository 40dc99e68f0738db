//! The tract engine: pure Rust, CPU, nothing to install.
//!
//! tract optimises a graph for concrete input shapes, so a plan is built and cached for each
//! input shape seen (in practice the batch size and a final partial batch). A batch of one
//! sequence runs as a batch of two (see [`TractEngine::run_single`]), so results do not depend
//! on batch sizes.
//!
//! Plans run on tract's rayon executor with the engine's thread count: tract splits matrix
//! products by output panels and elementwise kernels by blocks, never a sum, so the numbers are
//! the same with one thread or many. Engines with the same thread count share one pool.

use std::collections::HashMap;
use std::sync::Arc;

use ndarray::ArrayD;
use tract_linalg::multithread::{multithread_tract_scope, Executor};
use tract_onnx::prelude::*;

use crate::engine::Engine;
use crate::error::{Error, Result};

type Plan = Arc<TypedRunnableModel>;

/// tract running one ONNX model.
pub struct TractEngine {
    onnx: Vec<u8>,
    plans: HashMap<Vec<Vec<usize>>, Plan>,
    /// False once a doubled single-sequence batch failed (a graph with a fixed batch of one).
    double_single: bool,
    /// Where plans run: one thread, or a shared rayon pool.
    executor: Executor,
    threads: usize,
}

/// The executor for `threads` threads: single-threaded for one, else a rayon pool shared by every
/// engine of that count (built on first use).
fn executor(threads: usize) -> Result<Executor> {
    static POOLS: std::sync::Mutex<Vec<(usize, Executor)>> = std::sync::Mutex::new(Vec::new());
    if threads <= 1 {
        return Ok(Executor::SingleThread);
    }
    let mut pools = POOLS.lock().unwrap_or_else(|p| p.into_inner());
    if let Some((_, e)) = pools.iter().find(|(n, _)| *n == threads) {
        return Ok(e.clone());
    }
    let pool = rayon::ThreadPoolBuilder::new()
        .thread_name(|i| format!("s2f-tract-{i}"))
        .num_threads(threads)
        .build()
        .map_err(|e| err(format!("cannot start {threads} threads: {e}")))?;
    let e = Executor::MultiThread(Arc::new(pool));
    pools.push((threads, e.clone()));
    Ok(e)
}

fn err(e: impl std::fmt::Display) -> Error {
    Error::Engine { engine: "tract (cpu)".into(), message: format!("{e:#}") }
}

impl TractEngine {
    /// Parses the model (errors early on unsupported graphs); runs it on one thread.
    pub fn new(onnx: &[u8]) -> Result<Self> {
        Self::with_threads(onnx, 1)
    }

    /// As [`TractEngine::new`], running on `threads` threads (0 is taken as 1).
    pub fn with_threads(onnx: &[u8], threads: usize) -> Result<Self> {
        let proto = guarded(|| tract_onnx::onnx().proto_model_for_read(&mut &onnx[..]))?.map_err(err)?;
        check_transposes(&proto)?;
        let threads = threads.max(1);
        Ok(Self {
            onnx: onnx.to_vec(),
            plans: HashMap::new(),
            double_single: true,
            executor: executor(threads)?,
            threads,
        })
    }

    fn plan(&mut self, shapes: &[Vec<usize>]) -> Result<Plan> {
        if let Some(p) = self.plans.get(shapes) {
            return Ok(p.clone());
        }
        let onnx = &self.onnx;
        let model = guarded(|| -> TractResult<Plan> {
            let mut model = tract_onnx::onnx().model_for_read(&mut &onnx[..])?;
            for (i, shape) in shapes.iter().enumerate() {
                model = model.with_input_fact(i, f32::fact(shape).into())?;
            }
            model.into_optimized()?.into_runnable()
        })?
        .map_err(err)?;
        self.plans.insert(shapes.to_vec(), model.clone());
        Ok(model)
    }
}

impl TractEngine {
    /// Runs a batch of one as a batch of two (the sequence twice) and keeps the first result.
    /// tract optimises a plan for one sequence differently from plans for several, and its
    /// outputs differ in the last bits; this way a sequence's result does not depend on the
    /// batch or chunk it happens to run in. Axis 0 of every input and output is the batch.
    fn run_single(&mut self, inputs: Vec<ArrayD<f32>>) -> Result<Vec<ArrayD<f32>>> {
        let doubled = inputs
            .iter()
            .map(|x| ndarray::concatenate(ndarray::Axis(0), &[x.view(), x.view()]).map_err(err))
            .collect::<Result<Vec<_>>>()?;
        let outs = match self.run_inputs(doubled) {
            Ok(outs) => outs,
            Err(e) => {
                tracing::debug!("a batch of two failed ({e}); running single sequences as they are");
                self.double_single = false;
                return self.run_inputs(inputs);
            }
        };
        Ok(outs
            .into_iter()
            .map(|y| {
                if y.shape().first() == Some(&2) {
                    y.slice_axis(ndarray::Axis(0), (0..1).into()).to_owned()
                } else {
                    y
                }
            })
            .collect())
    }
}

impl Engine for TractEngine {
    fn describe(&self) -> String {
        match self.threads {
            1 => "tract (cpu, 1 thread)".into(),
            n => format!("tract (cpu, {n} threads)"),
        }
    }

    fn identity(&self) -> String {
        "tract (cpu)".into()
    }

    fn run_inputs(&mut self, inputs: Vec<ArrayD<f32>>) -> Result<Vec<ArrayD<f32>>> {
        if self.double_single && !inputs.is_empty() && inputs.iter().all(|x| x.shape().first() == Some(&1)) {
            return self.run_single(inputs);
        }
        let shapes: Vec<Vec<usize>> = inputs.iter().map(|x| x.shape().to_vec()).collect();
        let plan = self.plan(&shapes)?;
        let executor = self.executor.clone();
        let outputs = guarded(|| {
            multithread_tract_scope(executor, || plan.run(inputs.into_iter().map(|x| Tensor::from(x).into()).collect()))
        })?
        .map_err(err)?;
        outputs.iter().map(|o| o.to_plain_array_view::<f32>().map(|v| v.to_owned()).map_err(err)).collect()
    }
}

/// Checks every Transpose's `perm` before tract sees it: a permutation of `0..len`. tract trusts
/// it and allocates by its values (a perm of 2^31 aborts the process).
fn check_transposes(proto: &tract_onnx::pb::ModelProto) -> Result<()> {
    let Some(graph) = &proto.graph else { return Ok(()) };
    for node in graph.node.iter().filter(|n| n.op_type == "Transpose") {
        for a in node.attribute.iter().filter(|a| a.name == "perm") {
            let n = a.ints.len() as i64;
            let mut seen = vec![false; a.ints.len()];
            for &p in &a.ints {
                if !(0..n).contains(&p) || std::mem::replace(&mut seen[p as usize], true) {
                    return Err(err(format!("Transpose node {:?}: perm {:?} is not a permutation", node.name, a.ints)));
                }
            }
        }
    }
    Ok(())
}

thread_local! {
    /// Set while [`guarded`] runs, so the panic hook stays quiet for panics it turns into errors.
    static GUARDED: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Runs `f`, turning a panic inside tract (malformed graphs reach assertions in tract's parser
/// and optimiser) into an engine error instead of a crash.
fn guarded<T>(f: impl FnOnce() -> T) -> Result<T> {
    static HOOK: std::sync::Once = std::sync::Once::new();
    HOOK.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if !GUARDED.with(|g| g.get()) {
                previous(info)
            }
        }));
    });
    let was = GUARDED.with(|g| g.replace(true));
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f));
    GUARDED.with(|g| g.set(was));
    r.map_err(|payload| {
        let what = payload
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "unknown failure".into());
        err(format!("the graph cannot be run (tract failed on it: {what})"))
    })
}
