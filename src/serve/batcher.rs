//! Dynamic batching: one worker thread per model owns its engine and runs the requests queued
//! for it, joined into batches.
//!
//! The worker takes the oldest request, then adds queued requests while the batch holds at most
//! `max_batch` sequences, waiting until `max_delay` after the oldest request entered the queue,
//! but only while other requests for the model have arrived and are not yet in the batch (they
//! are counted from their first byte, by [`Batcher::arrive`]): a lone client is never delayed.
//! A request that would overflow the batch opens the next one; a request larger than `max_batch`
//! runs alone, in slices of `max_batch`. Inputs are joined along the batch axis, run once, and
//! every output is split back by the same offsets, so a request gets exactly the rows its own
//! sequences produced (engines give the same numbers for a sequence in any batch; tested).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender, TryRecvError, TrySendError};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ndarray::{ArrayD, Axis};
use tokio::sync::oneshot;

use super::metrics::Metrics;
use crate::engine::Engine;

/// What a request gets back: every graph output for its sequences, or an engine error.
pub type Reply = std::result::Result<Vec<ArrayD<f32>>, String>;

/// One request in the queue.
struct Job {
    inputs: Vec<ArrayD<f32>>,
    n: usize,
    enqueued: Instant,
    reply: oneshot::Sender<Reply>,
    /// Counts the request as active until its answer is sent (the job is dropped).
    _active: Active,
}

/// One request being handled, from its arrival to its answer: dropping it ends it.
pub struct Active(Arc<AtomicUsize>);

impl Drop for Active {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Why a request could not be queued.
#[derive(Debug, PartialEq, Eq)]
pub enum SubmitError {
    /// The queue is full (the server is overloaded).
    Full,
    /// The worker has stopped.
    Stopped,
}

/// The queue of one model's worker.
pub struct Batcher {
    tx: SyncSender<Job>,
    active: Arc<AtomicUsize>,
}

/// Batching settings.
#[derive(Debug, Clone, Copy)]
pub struct BatchConfig {
    /// Most sequences per engine run.
    pub max_batch: usize,
    /// Longest a request waits for others to join its batch.
    pub max_delay: Duration,
    /// Requests that may wait in the queue before new ones are refused.
    pub queue: usize,
}

impl Batcher {
    /// Starts the worker thread for `model` with its engine; the thread ends when the last
    /// [`Batcher`] is dropped and the queue is empty.
    pub fn start(
        model: String,
        engine: Box<dyn Engine>,
        config: BatchConfig,
        metrics: Metrics,
    ) -> std::io::Result<(Self, std::thread::JoinHandle<()>)> {
        let (tx, rx) = std::sync::mpsc::sync_channel(config.queue.max(1));
        let active = Arc::new(AtomicUsize::new(0));
        let seen = active.clone();
        let handle = std::thread::Builder::new()
            .name(format!("s2f-serve-{model}"))
            .spawn(move || Worker { model, engine, config, metrics, active: seen }.run(rx))?;
        Ok((Self { tx, active }, handle))
    }

    /// Marks a request for this model as arrived (before its body is read); it counts until
    /// the returned guard, or the job [`Batcher::submit`] makes of it, is dropped.
    pub fn arrive(&self) -> Active {
        self.active.fetch_add(1, Ordering::AcqRel);
        Active(self.active.clone())
    }

    /// Queues `inputs` (one array per graph input, `n` sequences each, batch first); the
    /// receiver gets the outputs.
    pub fn submit(
        &self,
        inputs: Vec<ArrayD<f32>>,
        n: usize,
        active: Active,
    ) -> Result<oneshot::Receiver<Reply>, SubmitError> {
        let (reply, rx) = oneshot::channel();
        match self.tx.try_send(Job { inputs, n, enqueued: Instant::now(), reply, _active: active }) {
            Ok(()) => Ok(rx),
            Err(TrySendError::Full(_)) => Err(SubmitError::Full),
            Err(TrySendError::Disconnected(_)) => Err(SubmitError::Stopped),
        }
    }
}

struct Worker {
    model: String,
    engine: Box<dyn Engine>,
    config: BatchConfig,
    metrics: Metrics,
    active: Arc<AtomicUsize>,
}

impl Worker {
    fn run(mut self, rx: Receiver<Job>) {
        let max_batch = self.config.max_batch.max(1);
        let mut pending: Option<Job> = None;
        loop {
            let first = match pending.take() {
                Some(j) => j,
                None => match rx.recv() {
                    Ok(j) => j,
                    Err(_) => return,
                },
            };
            let deadline = first.enqueued + self.config.max_delay;
            let mut total = first.n;
            let mut jobs = vec![first];
            while total < max_batch {
                let next = match rx.try_recv() {
                    Ok(j) => Some(j),
                    Err(TryRecvError::Disconnected) => None,
                    Err(TryRecvError::Empty) => self.wait(&rx, jobs.len(), deadline),
                };
                let Some(job) = next else { break };
                // Only inputs of one shape (after the batch axis) can be joined.
                let same_shape = job.inputs.iter().zip(&jobs[0].inputs).all(|(a, b)| a.shape()[1..] == b.shape()[1..]);
                if total + job.n > max_batch || !same_shape {
                    pending = Some(job);
                    break;
                }
                total += job.n;
                jobs.push(job);
            }
            self.run_batch(jobs, total, max_batch);
        }
    }

    /// The next job, waiting until `deadline` while requests that arrived are not yet among the
    /// `in_batch` jobs (re-checked every 200 µs); `None` when there is none to wait for.
    fn wait(&self, rx: &Receiver<Job>, in_batch: usize, deadline: Instant) -> Option<Job> {
        loop {
            let now = Instant::now();
            if now >= deadline || self.active.load(Ordering::Acquire) <= in_batch {
                return None;
            }
            match rx.recv_timeout((deadline - now).min(Duration::from_micros(200))) {
                Ok(j) => return Some(j),
                Err(RecvTimeoutError::Timeout) => continue,
                Err(RecvTimeoutError::Disconnected) => return None,
            }
        }
    }

    /// Runs the joined inputs of `jobs` (in slices of `max_batch` when one job is larger) and
    /// sends each job its rows.
    fn run_batch(&mut self, jobs: Vec<Job>, total: usize, max_batch: usize) {
        let start = Instant::now();
        for job in &jobs {
            self.metrics.queue_seconds.with_label_values(&[&self.model]).observe((start - job.enqueued).as_secs_f64());
        }
        let outputs = self.run_joined(&jobs, total, max_batch);
        self.metrics.run_seconds.with_label_values(&[&self.model]).observe(start.elapsed().as_secs_f64());
        self.metrics.sequences.with_label_values(&[&self.model]).inc_by(total as u64);
        let outputs = match outputs {
            Ok(o) => o,
            Err(e) => {
                tracing::error!(model = %self.model, "engine run failed: {e}");
                for job in jobs {
                    let _ = job.reply.send(Err(e.clone()));
                }
                return;
            }
        };
        let mut offset = 0;
        for job in jobs {
            let rows: Vec<ArrayD<f32>> =
                outputs.iter().map(|o| o.slice_axis(Axis(0), (offset..offset + job.n).into()).to_owned()).collect();
            offset += job.n;
            // The client may have gone away; nothing to do then.
            let _ = job.reply.send(Ok(rows));
        }
    }

    fn run_joined(&mut self, jobs: &[Job], total: usize, max_batch: usize) -> Reply {
        let n_inputs = jobs.first().map_or(0, |j| j.inputs.len());
        let joined: Vec<ArrayD<f32>> = (0..n_inputs)
            .map(|i| {
                let views: Vec<_> = jobs.iter().map(|j| j.inputs[i].view()).collect();
                ndarray::concatenate(Axis(0), &views).map_err(|e| format!("cannot join the batch: {e}"))
            })
            .collect::<Result<_, _>>()?;
        let mut parts: Vec<Vec<ArrayD<f32>>> = Vec::new();
        let mut start = 0;
        while start < total {
            let end = (start + max_batch).min(total);
            let slice: Vec<ArrayD<f32>> =
                joined.iter().map(|x| x.slice_axis(Axis(0), (start..end).into()).to_owned()).collect();
            self.metrics.batch_size.with_label_values(&[&self.model]).observe((end - start) as f64);
            let engine = &mut self.engine;
            let outs = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| engine.run_inputs(slice)))
                .map_err(|_| "the engine panicked".to_string())?
                .map_err(|e| e.to_string())?;
            if let Some(bad) = outs.iter().find(|o| o.shape().first() != Some(&(end - start))) {
                return Err(format!("the engine returned shape {:?} for {} sequences", bad.shape(), end - start));
            }
            parts.push(outs);
            start = end;
        }
        if parts.len() == 1 {
            return Ok(parts.swap_remove(0));
        }
        let n_out = parts.first().map_or(0, Vec::len);
        (0..n_out)
            .map(|k| {
                let views: Vec<_> = parts.iter().map(|p| p[k].view()).collect();
                ndarray::concatenate(Axis(0), &views).map_err(|e| format!("cannot join outputs: {e}"))
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    /// Doubles its input and records the batch sizes it ran.
    struct Doubler(Arc<Mutex<Vec<usize>>>);

    impl Engine for Doubler {
        fn describe(&self) -> String {
            "doubler".into()
        }
        fn run_inputs(&mut self, inputs: Vec<ArrayD<f32>>) -> crate::error::Result<Vec<ArrayD<f32>>> {
            self.0.lock().unwrap().push(inputs[0].shape()[0]);
            Ok(vec![inputs[0].mapv(|v| v * 2.0)])
        }
    }

    fn rows(first: f32, n: usize) -> ArrayD<f32> {
        ArrayD::from_shape_fn(ndarray::IxDyn(&[n, 3]), |ix| first + ix[0] as f32 * 10.0 + ix[1] as f32)
    }

    #[test]
    fn requests_are_joined_split_back_and_sliced() {
        let runs = Arc::new(Mutex::new(Vec::new()));
        let config = BatchConfig { max_batch: 8, max_delay: Duration::from_millis(200), queue: 16 };
        let (b, handle) =
            Batcher::start("t".into(), Box::new(Doubler(runs.clone())), config, Metrics::new(8).unwrap()).unwrap();
        let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
        // Three requests queued within the delay: 3 + 4 sequences join; 5 more would overflow.
        let sizes = [3usize, 4, 5, 20];
        // All four have arrived before the first is queued, so the worker waits for the others.
        let arrived: Vec<Active> = sizes.iter().map(|_| b.arrive()).collect();
        let receivers: Vec<_> = sizes
            .iter()
            .zip(arrived)
            .enumerate()
            .map(|(k, (&n, a))| b.submit(vec![rows(k as f32 * 1000.0, n)], n, a).unwrap())
            .collect();
        for ((k, &n), rx) in sizes.iter().enumerate().zip(receivers) {
            let got = rt.block_on(rx).unwrap().unwrap();
            assert_eq!(got[0], rows(k as f32 * 1000.0, n).mapv(|v| v * 2.0), "request {k} got other rows");
        }
        drop(b);
        handle.join().unwrap();
        let runs = runs.lock().unwrap().clone();
        assert_eq!(runs[0], 7, "the first two requests share a run: {runs:?}");
        assert!(runs.iter().all(|&r| r <= 8), "no run above max_batch: {runs:?}");
        assert_eq!(runs.iter().sum::<usize>(), 32);
    }
}
