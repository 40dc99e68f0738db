//! `s2f attribute`: attribution maps over one-hot arrays (see [`s2f::jobs::attribute`]).

use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use s2f::jobs::attribute::{AttributeOptions, Attributor, Combine, Method};
use s2f::model::Package;

use super::{DeviceArg, EngineArg};

/// Attribution methods on the command line.
#[derive(Clone, Copy, clap::ValueEnum)]
enum MethodArg {
    /// Input gradient, mean-centred over bases (DRG's takegrad) unless --no-center.
    Grad,
    /// Raw input gradient × input.
    GradXInput,
    /// Saturation mutagenesis: f(mutant) − f(reference), centred over bases unless --no-center.
    Ism,
}

/// How selected tracks form objectives.
#[derive(Clone, Copy, clap::ValueEnum)]
enum CombineArg {
    /// One map per track.
    PerTrack,
    /// One map for the mean of the tracks.
    Mean,
}

/// Arguments of `s2f attribute`.
#[derive(clap::Args)]
pub struct Args {
    /// Model package (attributions need the spec and weights, not a bare ONNX).
    model: PathBuf,
    /// One-hot input (N, L, 4): an .npy, or the .npz `s2f onehot` writes.
    #[arg(long)]
    input: PathBuf,
    /// Method.
    #[arg(long, value_enum, default_value_t = MethodArg::Grad)]
    method: MethodArg,
    /// Track indices (default all).
    #[arg(long, conflicts_with = "track_names")]
    tracks: Option<String>,
    /// Track identifiers or descriptions from the model's track table.
    #[arg(long)]
    track_names: Option<String>,
    /// Output bins a:b (0-based, half-open) summed by the objective (default all).
    #[arg(long, conflicts_with = "center")]
    bins: Option<String>,
    /// Sum the N central bins instead.
    #[arg(long)]
    center: Option<usize>,
    /// One map per track, or one for their mean.
    #[arg(long, value_enum, default_value_t = CombineArg::PerTrack)]
    combine: CombineArg,
    /// Keep raw gradients (no centring over the four bases).
    #[arg(long)]
    no_center: bool,
    /// Positions a:b (0-based, half-open) mutated by --method ism (default the whole window).
    #[arg(long)]
    span: Option<String>,
    /// Average with the reverse complement's attributions (mapped back).
    #[arg(long)]
    rc: bool,
    /// Head, for models with several.
    #[arg(long)]
    head: Option<String>,
    /// Inference engine.
    #[arg(long, value_enum, default_value_t = EngineArg::Tract)]
    engine: EngineArg,
    /// Device.
    #[arg(long, value_enum, default_value_t = DeviceArg::Cpu)]
    device: DeviceArg,
    /// Rows (sequence × map) per engine run.
    #[arg(long, default_value_t = 16)]
    batch: usize,
    /// Output folder: attributions.npz and attribute.json.
    #[arg(long)]
    out: PathBuf,
}

fn parse_range(flag: &str, s: &str) -> Result<std::ops::Range<usize>> {
    let (a, b) = s.split_once(':').with_context(|| format!("{flag} {s:?}: expected a:b"))?;
    let a = a.trim().parse::<usize>().with_context(|| format!("{flag} {s:?}: {a:?} is not an index"))?;
    let b = b.trim().parse::<usize>().with_context(|| format!("{flag} {s:?}: {b:?} is not an index"))?;
    Ok(a..b)
}

/// Runs `s2f attribute`.
pub fn run(args: Args) -> Result<()> {
    let pkg = Package::open(&args.model)?;
    let spec = pkg.spec.as_ref().context("attributions need an s2f package with a model.json")?;
    let head = spec.head_index(args.head.as_deref())?;
    let tracks = super::select_tracks(spec, head, args.tracks.as_deref(), args.track_names.as_deref())?;
    if tracks.is_empty() {
        bail!("no tracks selected");
    }
    let n_bins = spec.analyze()?.heads[head].1.bins as usize;
    let bins = match (&args.bins, args.center) {
        (Some(b), _) => Some(parse_range("--bins", b)?),
        (None, Some(c)) => {
            if c == 0 || c > n_bins {
                bail!("--center {c}: the head has {n_bins} bins");
            }
            let start = (n_bins - c) / 2;
            Some(start..start + c)
        }
        (None, None) => None,
    };
    let method = match args.method {
        MethodArg::Grad => Method::Grad,
        MethodArg::GradXInput => Method::GradXInput,
        MethodArg::Ism => Method::Ism,
    };
    let span = args.span.as_deref().map(|s| parse_range("--span", s)).transpose()?;
    let combine = match args.combine {
        CombineArg::PerTrack => Combine::PerTrack,
        CombineArg::Mean => Combine::Mean,
    };
    let opts = AttributeOptions {
        method,
        head,
        tracks: tracks.clone(),
        bins: bins.clone(),
        combine,
        center: !args.no_center,
        rc: args.rc,
        span: span.clone(),
        batch: args.batch,
    };
    let mut attributor = Attributor::new(&pkg, args.engine.into(), args.device.into(), opts)?;
    let (x, names) = super::read_onehot_input(&args.input)?;
    tracing::info!("attributing {} sequences × {} maps on {}", x.shape()[0], attributor.maps(), attributor.describe());
    let maps = attributor.attribute(x.view())?;
    let table = &spec.heads[head].tracks;
    let track_ids: Vec<String> = match combine {
        Combine::Mean => vec![format!("mean({})", tracks.iter().map(|t| t.to_string()).collect::<Vec<_>>().join(","))],
        Combine::PerTrack => tracks
            .iter()
            .map(|&t| {
                table.iter().find(|r| r.index == t).map(|r| r.identifier.clone()).unwrap_or_else(|| t.to_string())
            })
            .collect(),
    };
    std::fs::create_dir_all(&args.out).with_context(|| format!("creating {}", args.out.display()))?;
    let npz = args.out.join("attributions.npz");
    let mut w = s2f::io::npy::NpzWriter::create(&npz)?;
    let shape = maps.shape().to_vec();
    w.add("attributions", &shape, maps.as_standard_layout().as_slice().context("attribution layout")?)?;
    w.add("onehot", x.shape(), x.as_slice().context("input layout")?)?;
    w.add_strings("names", &names)?;
    w.add_strings("tracks", &track_ids)?;
    w.finish()?;
    let meta = serde_json::json!({
        "method": match method { Method::Grad => "grad", Method::GradXInput => "grad-x-input", Method::Ism => "ism" },
        "span": span.map(|r| [r.start, r.end]),
        "head": spec.heads[head].name,
        "tracks": tracks,
        "track_ids": track_ids,
        "combine": match combine { Combine::PerTrack => "per-track", Combine::Mean => "mean" },
        "bins": bins.map(|r| [r.start, r.end]),
        "centred_over_bases": method != Method::GradXInput && !args.no_center,
        "reverse_complement_averaged": args.rc,
        "shape": "(N, maps, L, 4): position, base A,C,G,T",
        "engine": attributor.describe(),
    });
    let json = serde_json::to_string_pretty(&meta)?;
    s2f::io::atomic::write_atomic(args.out.join("attribute.json"), |f| std::io::Write::write_all(f, json.as_bytes()))?;
    tracing::info!("wrote {} {:?}", npz.display(), shape);
    Ok(())
}
