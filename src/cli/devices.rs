//! `s2f devices`: what the engines can run on here — the CUDA driver and GPUs (cudarc, loaded at
//! run time), the ONNX Runtime library and its CUDA execution provider, burn's CUDA backend.

use anyhow::Result;

/// Arguments of `s2f devices`.
#[derive(clap::Args)]
pub struct Args {
    /// Print the report as JSON.
    #[arg(long)]
    json: bool,
}

/// Runs `s2f devices`: always succeeds; what is missing is reported, not an error.
pub fn run(args: Args) -> Result<()> {
    let report = s2f::devices::report();
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        println!("{report}");
    }
    Ok(())
}
