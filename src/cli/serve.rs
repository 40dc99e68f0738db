//! `s2f serve`: models over the Open Inference Protocol (HTTP/REST), with dynamic batching.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{bail, Result};
use s2f::serve::{serve, BatchConfig, Limits, ServeOptions};

use super::{DeviceArg, EngineArg};

/// Arguments of `s2f serve`.
#[derive(clap::Args)]
pub struct Args {
    /// Models to serve: a package folder or .onnx, optionally `=NAME` (default: the spec's name).
    #[arg(required = true, value_name = "MODEL[=NAME]")]
    models: Vec<String>,
    /// Address to listen on (loopback by default; 0.0.0.0 for every interface).
    #[arg(long, default_value = "127.0.0.1")]
    host: IpAddr,
    /// Port (0: any free port; the address is printed on standard output).
    #[arg(long, default_value_t = 8000)]
    port: u16,
    /// Inference engine.
    #[arg(long, value_enum, default_value_t = EngineArg::Auto)]
    engine: EngineArg,
    /// Device: cpu, cuda (fails if CUDA is unusable), auto (logs its choice).
    #[arg(long, value_enum, default_value_t = DeviceArg::Cpu)]
    device: DeviceArg,
    /// Most sequences per engine run: concurrent requests are joined up to this.
    #[arg(long, default_value_t = 64)]
    max_batch: usize,
    /// Longest a request waits for others to join its batch, in milliseconds.
    #[arg(long, default_value_t = 5.0)]
    max_delay_ms: f64,
    /// Largest request body, in MiB (413 beyond).
    #[arg(long, default_value_t = 64)]
    max_body_mb: usize,
    /// Most sequences in one request (413 beyond).
    #[arg(long, default_value_t = 4096)]
    max_sequences: usize,
    /// Largest response (a request's outputs), in MiB: bounds the sequences of one request.
    #[arg(long, default_value_t = 1024)]
    max_output_mb: u64,
    /// Requests that may wait in a model's queue before new ones get 503.
    #[arg(long, default_value_t = 1024)]
    queue: usize,
}

/// Runs `s2f serve`.
pub fn run(args: Args) -> Result<()> {
    if args.max_batch == 0 || args.max_sequences == 0 || args.max_body_mb == 0 || args.max_output_mb == 0 {
        bail!("--max-batch, --max-sequences, --max-body-mb and --max-output-mb must be at least 1");
    }
    if !(args.max_delay_ms.is_finite() && args.max_delay_ms >= 0.0) {
        bail!("--max-delay-ms must be a non-negative number of milliseconds");
    }
    let models = args.models.iter().map(|m| split_model(m)).collect::<Result<Vec<_>>>()?;
    let opts = ServeOptions {
        models,
        addr: SocketAddr::new(args.host, args.port),
        engine: args.engine.into(),
        device: args.device.into(),
        batch: BatchConfig {
            max_batch: args.max_batch,
            max_delay: Duration::from_secs_f64(args.max_delay_ms / 1000.0),
            queue: args.queue,
        },
        limits: Limits {
            max_body: args.max_body_mb.saturating_mul(1 << 20),
            max_sequences: args.max_sequences,
            max_output: args.max_output_mb.saturating_mul(1 << 20),
        },
    };
    serve(opts, |addr| {
        tracing::info!("listening on http://{addr} (Open Inference Protocol at /v2, metrics at /metrics)");
        println!("s2f serve: listening on http://{addr}");
    })?;
    Ok(())
}

/// `PATH` or `PATH=NAME`.
pub(crate) fn split_model(arg: &str) -> Result<(PathBuf, Option<String>)> {
    match arg.rsplit_once('=') {
        Some((path, name)) if !path.is_empty() => {
            if name.is_empty() {
                bail!("{arg:?}: empty model name after '='");
            }
            Ok((PathBuf::from(path), Some(name.to_string())))
        }
        _ => Ok((PathBuf::from(arg), None)),
    }
}
