//! Prometheus metrics of `s2f serve`, exposed as text at `/metrics`.
//!
//! - `s2f_requests_total{model, endpoint, status}`: requests answered, by HTTP status;
//! - `s2f_sequences_total{model}`: sequences predicted;
//! - `s2f_batch_size{model}`: sequences per engine run (a histogram: above 1 when dynamic
//!   batching joined requests);
//! - `s2f_queue_seconds{model}`: from a request entering the queue to its batch starting;
//! - `s2f_run_seconds{model}`: engine time per batch.

use prometheus::{Encoder, HistogramOpts, HistogramVec, IntCounterVec, Opts, Registry, TextEncoder};

use crate::error::{Error, Result};

/// The server's metrics.
#[derive(Clone)]
pub struct Metrics {
    registry: Registry,
    /// Requests by model, endpoint and status code.
    pub requests: IntCounterVec,
    /// Sequences predicted, by model.
    pub sequences: IntCounterVec,
    /// Sequences per engine run.
    pub batch_size: HistogramVec,
    /// Queue wait per request.
    pub queue_seconds: HistogramVec,
    /// Engine time per batch.
    pub run_seconds: HistogramVec,
}

fn metric_error(e: prometheus::Error) -> Error {
    Error::InvalidArgument(format!("metrics: {e}"))
}

impl Metrics {
    /// New metrics; batch-size buckets run in powers of two up to `max_batch`.
    pub fn new(max_batch: usize) -> Result<Self> {
        let registry = Registry::new();
        let requests = IntCounterVec::new(
            Opts::new("s2f_requests_total", "Requests answered, by model, endpoint and HTTP status"),
            &["model", "endpoint", "status"],
        )
        .map_err(metric_error)?;
        let sequences = IntCounterVec::new(Opts::new("s2f_sequences_total", "Sequences predicted"), &["model"])
            .map_err(metric_error)?;
        let mut buckets = vec![1.0];
        while (*buckets.last().unwrap_or(&1.0) as usize) < max_batch {
            let next = buckets.last().unwrap_or(&1.0) * 2.0;
            buckets.push(next);
        }
        let batch_size = HistogramVec::new(
            HistogramOpts::new("s2f_batch_size", "Sequences per engine run").buckets(buckets),
            &["model"],
        )
        .map_err(metric_error)?;
        let latency = prometheus::exponential_buckets(0.0005, 2.0, 18).map_err(metric_error)?;
        let queue_seconds = HistogramVec::new(
            HistogramOpts::new("s2f_queue_seconds", "Seconds from a request entering the queue to its batch starting")
                .buckets(latency.clone()),
            &["model"],
        )
        .map_err(metric_error)?;
        let run_seconds = HistogramVec::new(
            HistogramOpts::new("s2f_run_seconds", "Engine seconds per batch").buckets(latency),
            &["model"],
        )
        .map_err(metric_error)?;
        for c in [&requests, &sequences] {
            registry.register(Box::new(c.clone())).map_err(metric_error)?;
        }
        for h in [&batch_size, &queue_seconds, &run_seconds] {
            registry.register(Box::new(h.clone())).map_err(metric_error)?;
        }
        Ok(Self { registry, requests, sequences, batch_size, queue_seconds, run_seconds })
    }

    /// The metrics in Prometheus' text format.
    pub fn render(&self) -> String {
        let mut out = Vec::new();
        // Encoding gathered metrics into a Vec cannot fail.
        let _ = TextEncoder::new().encode(&self.registry.gather(), &mut out);
        String::from_utf8_lossy(&out).into_owned()
    }
}
