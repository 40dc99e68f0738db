//! `s2f package`: build a model package from a spec and weights (or seeded random weights),
//! and `s2f spec basenji`: a spec from a basenji params.json.

use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use s2f::model::onnx::EmitOptions;
use s2f::model::{presets, ModelSpec, Package, Weights};

/// Arguments of `s2f package`.
#[derive(clap::Args)]
pub struct Args {
    /// Model spec (model.json format).
    spec: PathBuf,
    /// Weights (safetensors) named as the spec expects.
    #[arg(long, conflicts_with = "random_seed")]
    weights: Option<PathBuf>,
    /// Fill the weights with seeded random values instead (for tests and benchmarks).
    #[arg(long)]
    random_seed: Option<u64>,
    /// Output package folder.
    #[arg(long)]
    out: PathBuf,
}

/// Runs `s2f package`.
pub fn run(args: Args) -> Result<()> {
    let mut spec = ModelSpec::read(&args.spec)?;
    let a = spec.analyze()?;
    let weights = match (&args.weights, args.random_seed) {
        (Some(w), _) => Weights::read(w)?,
        (None, Some(seed)) => {
            spec.source.get_or_insert_with(|| s2f::model::spec::Source {
                format: "random".into(),
                files: vec![],
                sha256: vec![],
                notes: Default::default(),
            });
            if let Some(src) = spec.source.as_mut() {
                src.notes.insert("random_seed".into(), seed.to_string());
            }
            Weights::random(&a.weights, seed)
        }
        (None, None) => bail!("give --weights W.safetensors or --random-seed N"),
    };
    Package::write(&args.out, &spec, &weights, EmitOptions::default())?;
    tracing::info!("wrote package {} ({} parameters)", args.out.display(), weights.len_values());
    Ok(())
}

/// Arguments of `s2f spec-basenji`.
#[derive(clap::Args)]
pub struct BasenjiArgs {
    /// basenji params.json.
    params: PathBuf,
    /// Model name.
    #[arg(long)]
    name: String,
    /// Heads as name:tracks, comma-separated (default: the params' head_<name> entries).
    #[arg(long)]
    heads: Option<String>,
    /// Output spec (model.json).
    #[arg(long)]
    out: PathBuf,
}

/// Runs `s2f spec-basenji`.
pub fn run_basenji(args: BasenjiArgs) -> Result<()> {
    let text = std::fs::read_to_string(&args.params).with_context(|| format!("reading {}", args.params.display()))?;
    let params: serde_json::Value =
        serde_json::from_str(&text).with_context(|| format!("parsing {}", args.params.display()))?;
    let heads = match &args.heads {
        None => vec![],
        Some(h) => super::split_list(h)
            .into_iter()
            .map(|item| {
                let (n, t) = item.split_once(':').with_context(|| format!("head {item:?} is not name:tracks"))?;
                Ok((n.to_string(), t.parse::<usize>().with_context(|| format!("head {item:?}: bad track count"))?))
            })
            .collect::<Result<Vec<_>>>()?,
    };
    let spec = presets::basenji(&params, &args.name, &heads)?;
    let json = spec.to_json() + "\n";
    s2f::io::atomic::write_atomic(&args.out, |w| std::io::Write::write_all(w, json.as_bytes()))?;
    tracing::info!("wrote {}", args.out.display());
    Ok(())
}
