//! `s2f serve`: models on an HTTP server that speaks the Open Inference Protocol (KServe v2, as
//! Triton, KServe, MLServer and TorchServe do), with dynamic batching and Prometheus metrics;
//! and [`triton`], the same models as a Triton Inference Server model repository.
//!
//! Every model is loaded, and its engine created, before the server listens; each model then has
//! one worker thread that owns its engine and runs batches ([`batcher`]). HTTP is axum on a
//! tokio runtime. SIGINT or SIGTERM stops accepting connections, lets requests in flight finish,
//! drains the queues and returns.

pub mod batcher;
pub mod metrics;
pub mod model;
pub mod protocol;
pub mod routes;
pub mod triton;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use crate::engine::{Device, EngineKind};
use crate::error::{Error, Result};

pub use batcher::BatchConfig;
pub use routes::Limits;

/// Longest the requests in flight may take to finish after SIGINT or SIGTERM.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(60);

/// What `s2f serve` runs.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    /// Models: path and optional name.
    pub models: Vec<(PathBuf, Option<String>)>,
    /// Address to bind (port 0: any free port).
    pub addr: SocketAddr,
    /// Engine.
    pub engine: EngineKind,
    /// Device.
    pub device: Device,
    /// Batching.
    pub batch: BatchConfig,
    /// Request limits.
    pub limits: Limits,
}

/// Loads the models, binds the address, calls `on_listen` with the bound address, and serves
/// until SIGINT or SIGTERM; returns after requests in flight are answered.
pub fn serve(opts: ServeOptions, on_listen: impl FnOnce(SocketAddr)) -> Result<()> {
    let metrics = metrics::Metrics::new(opts.batch.max_batch)?;
    let mut models = BTreeMap::new();
    let mut workers = Vec::new();
    for (path, name) in &opts.models {
        let (m, handle) =
            model::ServedModel::load(path, name.clone(), opts.engine, opts.device, opts.batch, metrics.clone())?;
        tracing::info!(model = %m.name, engine = %m.engine, "loaded {}", path.display());
        if models.contains_key(&m.name) {
            return Err(Error::InvalidArgument(format!(
                "two models are named {:?}; name them with MODEL=NAME",
                m.name
            )));
        }
        models.insert(m.name.clone(), m);
        workers.push(handle);
    }
    let state = Arc::new(routes::AppState { models, metrics, limits: opts.limits });
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_io()
        .enable_time()
        .thread_name("s2f-http")
        .build()
        .map_err(|e| Error::InvalidArgument(format!("cannot start the HTTP runtime: {e}")))?;
    let io_err = |e: std::io::Error| Error::InvalidArgument(format!("{}: {e}", opts.addr));
    runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind(opts.addr).await.map_err(io_err)?;
        let bound = listener.local_addr().map_err(io_err)?;
        on_listen(bound);
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let server = axum::serve(listener, routes::router(state)).with_graceful_shutdown(async move {
            shutdown_signal().await;
            let _ = stop_tx.send(());
        });
        // After the signal, requests in flight get at most SHUTDOWN_GRACE to finish (a stalled
        // client cannot hold the server open).
        let grace = async move {
            if stop_rx.await.is_ok() {
                tokio::time::sleep(SHUTDOWN_GRACE).await;
                tracing::warn!("requests still open {} s after the signal; stopping", SHUTDOWN_GRACE.as_secs());
            } else {
                std::future::pending::<()>().await;
            }
        };
        tokio::select! {
            r = std::future::IntoFuture::into_future(server) => r.map_err(io_err),
            _ = grace => Ok(()),
        }
    })?;
    // The router (and with it every queue's sender) is gone: workers finish what is queued.
    runtime.shutdown_timeout(Duration::from_secs(5));
    for w in workers {
        let _ = w.join();
    }
    tracing::info!("stopped");
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => tracing::info!("SIGINT: finishing requests in flight"),
        _ = term => tracing::info!("SIGTERM: finishing requests in flight"),
    }
}
