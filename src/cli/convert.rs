//! `s2f convert`: import a foreign checkpoint into a model package.

use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use s2f::converters::{attach_tracks, bpnet, drg, keras, read_targets, torch, Converted};
use s2f::model::onnx::EmitOptions;
use s2f::model::{presets, ModelSpec, Package};

/// Source formats.
#[derive(Clone, Copy, clap::ValueEnum)]
pub enum From {
    /// Keras 2 full-model .h5 (Basenji2 as released); the architecture comes from the file's
    /// model_config unless --spec or --config (basenji params.json) is given.
    KerasH5,
    /// PyTorch state_dict of an FT_S2A Basenji2 port; needs --config (config.json with "variant").
    Torch,
    /// DRG *_parameter.pth; its *_model_params.dat is found beside it or given with --config.
    Drg,
    /// bpnet-lite BPNet or ChromBPNet state_dict (model.pt); needs --config with the
    /// constructor arguments (a ChromBPNet's as {"bias": {…}, "accessibility": {…}}).
    BpnetLite,
}

/// Arguments of `s2f convert`.
#[derive(clap::Args)]
pub struct Args {
    /// Source format.
    #[arg(long = "from", value_enum)]
    from: From,
    /// Source checkpoint.
    src: PathBuf,
    /// Model spec to load the weights into (e.g. models/basenji2_human.json); for keras-h5 it
    /// overrides the file's model_config.
    #[arg(long, conflicts_with = "config")]
    spec: Option<PathBuf>,
    /// Architecture description: basenji params.json (keras-h5, overrides the file's
    /// model_config), FT_S2A config.json (torch), DRG model_params.dat (drg), or bpnet-lite's
    /// constructor arguments (bpnet-lite).
    #[arg(long)]
    config: Option<PathBuf>,
    /// basenji targets.txt: becomes the track table of the head with that many tracks.
    #[arg(long)]
    targets: Option<PathBuf>,
    /// Fold batch norms into convolutions in the emitted ONNX.
    #[arg(long)]
    fold_bn: bool,
    /// Output package folder.
    #[arg(long)]
    out: PathBuf,
}

/// Runs `s2f convert`.
pub fn run(args: Args) -> Result<()> {
    let started = std::time::Instant::now();
    let Converted { mut spec, weights } = match args.from {
        From::KerasH5 => {
            let name = args.src.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
            let spec = match (&args.spec, &args.config) {
                (Some(s), _) => ModelSpec::read(s)?,
                (None, Some(c)) => {
                    let text = std::fs::read_to_string(c).with_context(|| format!("reading {}", c.display()))?;
                    let params: serde_json::Value =
                        serde_json::from_str(&text).with_context(|| format!("parsing {}", c.display()))?;
                    presets::basenji(&params, &name, &[])?
                }
                // The file's own architecture (its root model_config attribute).
                (None, None) => keras::spec_from_file(&args.src, &name)?,
            };
            keras::convert(&args.src, spec)?
        }
        From::Torch => {
            if args.spec.is_some() {
                bail!("torch: give the FT_S2A config.json with --config (its variant and dilations are not in the checkpoint)");
            }
            let config = args
                .config
                .as_ref()
                .context("torch needs --config config.json (FT_S2A constructor arguments and variant)")?;
            torch::ft_s2a(&args.src, config)?
        }
        From::Drg => {
            let params = args.config.clone().unwrap_or_else(|| drg::params_path_for(&args.src));
            if !params.is_file() {
                bail!("{}: DRG parameter file not found; give it with --config", params.display());
            }
            drg::convert(&args.src, &params)?
        }
        From::BpnetLite => {
            if args.spec.is_some() {
                bail!("bpnet-lite: give the constructor arguments with --config config.json (--spec is not used)");
            }
            let config = args.config.as_ref().context(
                "bpnet-lite needs --config config.json: the BPNet constructor arguments (n_filters, n_layers, n_outputs, n_control_tracks, trimming)",
            )?;
            bpnet::convert(&args.src, config)?
        }
    };
    if let Some(t) = &args.targets {
        attach_tracks(&mut spec, read_targets(t)?, t)?;
    }
    Package::write(&args.out, &spec, &weights, EmitOptions { fold_bn: args.fold_bn })?;
    tracing::info!(
        "wrote package {} ({} parameters) in {:.1} s",
        args.out.display(),
        weights.len_values(),
        started.elapsed().as_secs_f64()
    );
    Ok(())
}
