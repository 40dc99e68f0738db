//! `s2f attribute`: attribution maps over one-hot arrays (see [`s2f::jobs::attribute`]).

use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use ndarray::{Array3, Array4};
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
    /// DeepLIFT/SHAP (tangermeme's rules) against dinucleotide shuffles or --references.
    Deeplift,
}

/// How selected tracks form objectives.
#[derive(Clone, Copy, clap::ValueEnum)]
enum CombineArg {
    /// One map per track.
    PerTrack,
    /// One map for the mean of the tracks.
    Mean,
}

/// What a map attributes.
#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum ObjectiveArg {
    /// The sum of the selected bins of a track (or of the tracks' mean).
    Sum,
    /// BPNet's profile objective: Σ softmax(logits)·(logits − mean) with the softmax held
    /// constant, one softmax over the selected bins and tracks of a map.
    Profile,
}

/// Arguments of `s2f attribute`.
#[derive(clap::Args)]
pub struct Args {
    /// Model package (attributions need the spec and weights, not a bare ONNX).
    model: PathBuf,
    #[command(flatten)]
    sequences: super::SequenceInput,
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
    /// One map per track, or one for their mean (with --objective profile: one map, one softmax
    /// over the tracks jointly). Default per-track; mean with the profile objective.
    #[arg(long, value_enum)]
    combine: Option<CombineArg>,
    /// The objective: `sum`, or `profile` (BPNet's; the default on profile heads with a count
    /// head, e.g. a converted BPNet's or ChromBPNet's `profile`).
    #[arg(long, value_enum)]
    objective: Option<ObjectiveArg>,
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
    #[arg(long, value_enum, default_value_t = EngineArg::Auto)]
    engine: EngineArg,
    /// Device.
    #[arg(long, value_enum, default_value_t = DeviceArg::Cpu)]
    device: DeviceArg,
    /// Rows (sequence × map, or ISM mutants) per engine run.
    #[arg(long, default_value_t = 16)]
    batch: usize,
    /// ISM (experimental): split the model at its first convolution and run only the rest per
    /// mutant. The same numbers; not faster on the models measured so far.
    #[arg(long)]
    split_ism: bool,
    /// DeepLIFT references (N, R, L, 4) one-hot .npy, R per input sequence.
    #[arg(long, conflicts_with_all = ["shuffles", "seed"])]
    references: Option<PathBuf>,
    /// DeepLIFT: dinucleotide shuffles of each sequence as references.
    #[arg(long, default_value_t = 20)]
    shuffles: usize,
    /// DeepLIFT: seed of the shuffles.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// DeepLIFT: hypothetical contributions of every base (what tfmodisco-lite reads).
    #[arg(long)]
    hypothetical: bool,
    /// Output formats, comma-separated: npz (attributions.npz) and modisco (ohe.npz and
    /// shap.npz, (N, 4, L), one shap file per map when there are several).
    #[arg(long, default_value = "npz")]
    format: String,
    /// Plot sequence logos of the first --plot-max sequences (one PNG each, a row per map).
    #[arg(long)]
    plot: bool,
    /// Sequences plotted by --plot.
    #[arg(long, default_value_t = 20)]
    plot_max: usize,
    /// Trim plots to the span holding this fraction of the |attribution| (plus 10 bp each side).
    #[arg(long)]
    plot_trim: Option<f64>,
    /// Output folder: attributions.npz and attribute.json.
    #[arg(long)]
    out: PathBuf,
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
    let formats = super::split_list(&args.format);
    if let Some(f) = formats.iter().find(|f| *f != "npz" && *f != "modisco") {
        bail!("--format {f:?}: expected npz and/or modisco");
    }
    let n_bins = spec.analyze()?.heads[head].1.bins as usize;
    let bins = match (&args.bins, args.center) {
        (Some(b), _) => Some(super::parse_range("--bins", b)?),
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
        MethodArg::Deeplift => Method::DeepLift,
    };
    if method != Method::DeepLift && (args.references.is_some() || args.hypothetical) {
        bail!("--references and --hypothetical are DeepLIFT options (--method deeplift)");
    }
    let span = args.span.as_deref().map(|s| super::parse_range("--span", s)).transpose()?;
    let profile = match args.objective {
        Some(o) => o == ObjectiveArg::Profile,
        None => spec.heads[head].profile_counts.is_some(),
    };
    if profile && args.objective.is_none() {
        tracing::info!(
            "head {:?} is a profile of logits: attributing BPNet's profile objective (--objective sum for the sum)",
            spec.heads[head].name
        );
    }
    let combine = match (args.combine, profile) {
        (Some(CombineArg::PerTrack), _) | (None, false) => Combine::PerTrack,
        (Some(CombineArg::Mean), _) | (None, true) => Combine::Mean,
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
        split_ism: args.split_ism,
        shuffles: args.shuffles,
        seed: args.seed,
        hypothetical: args.hypothetical,
        profile,
    };
    let mut attributor = Attributor::new(&pkg, args.engine.into(), args.device.into(), opts)?;
    let (x, names, extra) = args.sequences.read_all(spec)?;
    let refs = match &args.references {
        Some(p) => Some(read_references(p, x.dim())?),
        None => None,
    };
    tracing::info!("attributing {} sequences × {} maps on {}", x.shape()[0], attributor.maps(), attributor.describe());
    let (maps, extra_maps) = if extra.is_empty() {
        (attribute_all(&mut attributor, &x, refs.as_ref(), method, args.shuffles)?, vec![])
    } else {
        let mut all = attribute_inputs_all(&mut attributor, &x, &extra)?;
        let primary = all.remove(0);
        (primary, all)
    };
    let table = &spec.heads[head].tracks;
    let track_ids: Vec<String> = match combine {
        Combine::Mean => {
            let list = tracks.iter().map(|t| t.to_string()).collect::<Vec<_>>().join(",");
            vec![if profile { format!("profile({list})") } else { format!("mean({list})") }]
        }
        Combine::PerTrack => tracks
            .iter()
            .map(|&t| {
                table.iter().find(|r| r.index == t).map(|r| r.identifier.clone()).unwrap_or_else(|| t.to_string())
            })
            .collect(),
    };
    std::fs::create_dir_all(&args.out).with_context(|| format!("creating {}", args.out.display()))?;
    let shape = maps.shape().to_vec();
    if formats.iter().any(|f| f == "npz") {
        let npz = args.out.join("attributions.npz");
        let mut w = s2f::io::npy::NpzWriter::create(&npz)?;
        w.add("attributions", &shape, maps.as_standard_layout().as_slice().context("attribution layout")?)?;
        w.add("onehot", x.shape(), x.as_slice().context("input layout")?)?;
        w.add_strings("names", &names)?;
        w.add_strings("tracks", &track_ids)?;
        // Multi-input models: each further input's maps and values under its name.
        for ((name, _), (m, e)) in attributor.extra_inputs().iter().zip(extra_maps.iter().zip(&extra)) {
            let m = m.as_standard_layout();
            w.add(&format!("attributions_{name}"), m.shape(), m.as_slice().context("attribution layout")?)?;
            w.add(&format!("input_{name}"), e.shape(), e.as_slice().context("input layout")?)?;
        }
        w.finish()?;
        tracing::info!("wrote {} {:?}", npz.display(), shape);
    }
    if formats.iter().any(|f| f == "modisco") {
        if method == Method::DeepLift && !args.hypothetical {
            tracing::warn!("tfmodisco-lite reads hypothetical contributions: add --hypothetical");
        }
        s2f::jobs::attribute::output::write_modisco(&args.out, &x, &maps, &track_ids)?;
    }
    if args.plot {
        s2f::jobs::attribute::output::plot_sequences(
            &args.out,
            &maps,
            &names,
            &track_ids,
            args.plot_max,
            args.plot_trim,
        )?;
    }
    let meta = serde_json::json!({
        "method": match method {
            Method::Grad => "grad",
            Method::GradXInput => "grad-x-input",
            Method::Ism => "ism",
            Method::DeepLift => "deeplift",
        },
        "references": match (method, &args.references) {
            (Method::DeepLift, Some(p)) => serde_json::json!({ "file": p.display().to_string() }),
            (Method::DeepLift, None) => serde_json::json!({ "dinucleotide_shuffles": args.shuffles, "seed": args.seed }),
            _ => serde_json::Value::Null,
        },
        "hypothetical": args.hypothetical,
        "summation_to_delta_max_relative_deviation": (method == Method::DeepLift).then(|| attributor.max_delta()),
        "ism": (method == Method::Ism).then(|| if args.split_ism { "split at the first convolution" } else { "every mutant through the model" }),
        "span": span.map(|r| [r.start, r.end]),
        "head": spec.heads[head].name,
        "tracks": tracks,
        "track_ids": track_ids,
        "objective": if profile { "profile: sum of softmax(logits)·(logits − mean), softmax constant" } else { "sum" },
        "combine": match combine { Combine::PerTrack => "per-track", Combine::Mean => "mean" },
        "bins": bins.map(|r| [r.start, r.end]),
        "centred_over_bases": matches!(method, Method::Grad | Method::Ism) && !args.no_center,
        "reverse_complement_averaged": args.rc,
        "shape": "(N, maps, L, 4): position, base A,C,G,T",
        "engine": attributor.describe(),
        "inputs": std::iter::once(spec.input.onnx_name.clone()).chain(attributor.extra_inputs().into_iter().map(|e| e.0)).collect::<Vec<_>>(),
    });
    let json = serde_json::to_string_pretty(&meta)?;
    s2f::io::atomic::write_atomic(args.out.join("attribute.json"), |f| std::io::Write::write_all(f, json.as_bytes()))?;
    Ok(())
}

/// DeepLIFT references `(N, R, L, 4)` matching the input `(N, L, 4)`.
fn read_references(path: &std::path::Path, (n, l, c): (usize, usize, usize)) -> Result<Array4<f32>> {
    let a = s2f::io::npy::read_npy(path)?;
    if a.shape.len() != 4 || a.shape[0] != n || a.shape[2] != l || a.shape[3] != c || a.shape[1] == 0 {
        bail!("{}: references are {:?}; expected (N = {n}, R ≥ 1, L = {l}, 4)", path.display(), a.shape);
    }
    let v = a.to_f32().with_context(|| format!("{}: expected a numeric one-hot array", path.display()))?;
    Ok(Array4::from_shape_vec((a.shape[0], a.shape[1], l, c), v)?)
}

/// Attributes every sequence of `x` in chunks (bounded engine batches), with a progress bar.
/// Per-input attributions of a multi-input model, in chunks of sequences: one array per
/// input, the primary first.
fn attribute_inputs_all(a: &mut Attributor, x: &Array3<f32>, extra: &[Array3<f32>]) -> Result<Vec<Array4<f32>>> {
    let n = x.dim().0;
    let chunk = a.batch().div_ceil(a.maps().max(1)).max(1);
    let mut parts: Vec<Vec<Array4<f32>>> = Vec::new();
    let mut start = 0;
    while start < n {
        let end = (start + chunk).min(n);
        let views: Vec<_> = extra.iter().map(|e| e.slice(ndarray::s![start..end, .., ..])).collect();
        parts.push(a.attribute_inputs(x.slice(ndarray::s![start..end, .., ..]), &views)?);
        start = end;
    }
    let inputs = parts.first().map_or(0, Vec::len);
    (0..inputs)
        .map(|k| {
            let views: Vec<_> = parts.iter().map(|p| p[k].view()).collect();
            Ok(ndarray::concatenate(ndarray::Axis(0), &views)?)
        })
        .collect()
}

fn attribute_all(
    a: &mut Attributor,
    x: &Array3<f32>,
    refs: Option<&Array4<f32>>,
    method: Method,
    shuffles: usize,
) -> Result<Array4<f32>> {
    let (n, l, _) = x.dim();
    let per_seq = match method {
        Method::Ism => usize::MAX,
        Method::DeepLift => a.maps() * refs.map_or(shuffles, |r| r.dim().1),
        Method::Grad | Method::GradXInput => a.maps(),
    };
    let chunk = if per_seq == usize::MAX { 1 } else { a.batch().div_ceil(per_seq.max(1)).max(1) };
    let bar = indicatif::ProgressBar::new(n as u64);
    bar.set_style(
        indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} sequences {per_sec} ETA {eta}")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    let mut out = Array4::<f32>::zeros((n, a.maps(), l, 4));
    let mut start = 0;
    while start < n {
        let end = (start + chunk).min(n);
        let xs = x.slice(ndarray::s![start..end, .., ..]);
        let rs = refs.map(|r| r.slice(ndarray::s![start..end, .., .., ..]));
        let m = a.attribute_with(xs, rs)?;
        out.slice_mut(ndarray::s![start..end, .., .., ..]).assign(&m);
        bar.inc((end - start) as u64);
        start = end;
    }
    bar.finish_and_clear();
    Ok(out)
}
