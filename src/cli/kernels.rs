//! `s2f kernels`: kernel knock-outs and first-layer PWMs (see [`s2f::jobs::kernels`]).

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use ndarray::{Array2, Axis};
use s2f::jobs::kernels::pwm::{weight_pwms, ActivationPwms, Columns};
use s2f::jobs::kernels::{stats, Knockout, KnockoutOptions, Null};
use s2f::model::Package;

use super::{DeviceArg, EngineArg};

/// Null value of a knocked-out kernel.
#[derive(Clone, Copy, clap::ValueEnum)]
enum NullArg {
    /// b_k + ¼·ΣW_k, the expected output over random sequence.
    Mean,
    /// 0.
    Zero,
}

/// How kernel PWMs are made.
#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum PwmArg {
    /// From the windows of the input sequences that activate each kernel (trust these).
    Activations,
    /// From the weights alone (DRG's kernel_to_ppm; nearly uniform for real models).
    Weights,
}

/// Arguments of `s2f kernels`.
#[derive(clap::Args)]
pub struct Args {
    /// Model package.
    model: PathBuf,
    #[command(flatten)]
    sequences: super::SequenceInput,
    /// Measured values (DRG text matrix or .npz), matched to the sequences by name: adds
    /// delta_r.tsv and delta_rmse.tsv.
    #[arg(long)]
    targets: Option<PathBuf>,
    /// The convolution to knock out: its name, path or top-level index (default the first).
    #[arg(long)]
    layer: Option<String>,
    /// Value a knocked-out kernel's output takes.
    #[arg(long, value_enum, default_value_t = NullArg::Mean)]
    knockout: NullArg,
    /// Track indices in the tables (default all).
    #[arg(long, conflicts_with = "track_names")]
    tracks: Option<String>,
    /// Track identifiers or descriptions from the model's track table.
    #[arg(long)]
    track_names: Option<String>,
    /// Head, for models with several.
    #[arg(long)]
    head: Option<String>,
    /// Kernel PWMs (first convolution only).
    #[arg(long, value_enum, default_value_t = PwmArg::Activations)]
    pwm: PwmArg,
    /// --pwm activations: windows scoring at least this fraction of the kernel's output range.
    #[arg(long, default_value_t = 0.5)]
    activation_fraction: f32,
    /// Motif database (MEME): kernel_matches.tsv with each kernel's best three matches.
    #[arg(long)]
    db: Option<PathBuf>,
    /// Plots: effect.png (the effect table, kernels clustered by profile) and logos of the
    /// --plot-top kernels with the largest total |effect| in logos/.
    #[arg(long)]
    plot: bool,
    /// Kernels with logos under --plot.
    #[arg(long, default_value_t = 10)]
    plot_top: usize,
    /// Also write knockout.npz with the per-sequence differences P − M_k.
    #[arg(long)]
    per_sequence: bool,
    /// Inference engine.
    #[arg(long, value_enum, default_value_t = EngineArg::Auto)]
    engine: EngineArg,
    /// Device.
    #[arg(long, value_enum, default_value_t = DeviceArg::Cpu)]
    device: DeviceArg,
    /// Rows (sequence × kernel) per engine run.
    #[arg(long, default_value_t = 64)]
    batch: usize,
    /// Table formats, comma-separated: tsv and/or parquet (same columns).
    #[arg(long, default_value = "tsv")]
    format: String,
    /// Output folder.
    #[arg(long)]
    out: PathBuf,
}

/// Runs `s2f kernels`.
pub fn run(args: Args) -> Result<()> {
    let pkg = Package::open(&args.model)?;
    let spec = pkg.spec.as_ref().context("kernel analysis needs an s2f package with a model.json")?;
    let head = spec.head_index(args.head.as_deref())?;
    let tracks = super::select_tracks(spec, head, args.tracks.as_deref(), args.track_names.as_deref())?;
    let formats = super::split_list(&args.format);
    if let Some(f) = formats.iter().find(|f| *f != "tsv" && *f != "parquet") {
        bail!("--format {f:?}: expected tsv and/or parquet");
    }
    let (x, names) = args.sequences.read(spec)?;
    let n_tracks = spec.analyze()?.heads[head].1.tracks as usize;
    let y = args.targets.as_deref().map(|t| read_targets(t, &names, n_tracks)).transpose()?;
    let null = match args.knockout {
        NullArg::Mean => Null::Mean,
        NullArg::Zero => Null::Zero,
    };
    let opts = KnockoutOptions { layer: args.layer.clone(), null, head, batch: args.batch, naive: false };
    let mut ko = Knockout::new(&pkg, args.engine.into(), args.device.into(), opts)?;
    let k = ko.values().len();
    let kernel_names: Vec<String> = (0..k).map(|j| format!("filter{j}")).collect();
    tracing::info!("knocking out {k} kernels of {} on {} sequences ({})", ko.layer().path, names.len(), ko.describe());
    let bar = indicatif::ProgressBar::new(names.len() as u64);
    let mut full = Array2::<f32>::zeros((0, n_tracks));
    let mut parts = Vec::new();
    let chunk = args.batch.div_ceil(k.max(1)).max(1);
    let mut start = 0;
    while start < names.len() {
        let end = (start + chunk).min(names.len());
        let r = ko.run(x.slice(ndarray::s![start..end, .., ..]))?;
        full.append(Axis(0), r.full.view())?;
        parts.push(r.delta);
        bar.inc((end - start) as u64);
        start = end;
    }
    bar.finish_and_clear();
    let views: Vec<_> = parts.iter().map(|p| p.view()).collect();
    let delta = ndarray::concatenate(Axis(1), &views)?;
    let table = &spec.heads[head].tracks;
    let ids: Vec<String> = tracks
        .iter()
        .map(|&t| table.iter().find(|r| r.index == t).map(|r| r.identifier.clone()).unwrap_or_else(|| t.to_string()))
        .collect();
    std::fs::create_dir_all(&args.out).with_context(|| format!("creating {}", args.out.display()))?;
    let pick = |a: &Array2<f64>| a.select(Axis(1), &tracks);
    let effect = pick(&stats::effect(&delta));
    let write = |name: &str, corner: &str, v: &Array2<f64>| -> Result<()> {
        if formats.iter().any(|f| f == "tsv") {
            write_table(&args.out.join(format!("{name}.tsv")), corner, &kernel_names, &ids, v)?;
        }
        if formats.iter().any(|f| f == "parquet") {
            s2f::io::parquet::write_matrix(&args.out.join(format!("{name}.parquet")), corner, &kernel_names, &ids, v)?;
        }
        Ok(())
    };
    write("effect", "kernel", &effect)?;
    if args.plot {
        s2f::jobs::kernels::plot::effect_heatmap(&args.out.join("effect.png"), &effect, &kernel_names, &ids)?;
    }
    write("impact", "kernel", &pick(&stats::impact(&delta)))?;
    if let Some(y) = &y {
        let (dr, de) = stats::against_targets(&full, &delta, y);
        let corner = "kernel|delta_pearson_r=r(knockout,Y)-r(full,Y)";
        write("delta_r", corner, &pick(&dr))?;
        let corner = "kernel|delta_rmse=RMSE(knockout,Y)-RMSE(full,Y)";
        write("delta_rmse", corner, &pick(&de))?;
    }
    if args.per_sequence {
        let sel = delta.select(Axis(2), &tracks);
        let mut w = s2f::io::npy::NpzWriter::create(args.out.join("knockout.npz"))?;
        w.add("delta", sel.shape(), sel.as_standard_layout().as_slice().context("layout")?)?;
        w.add_strings("kernels", &kernel_names)?;
        w.add_strings("names", &names)?;
        w.add_strings("tracks", &ids)?;
        w.finish()?;
    }
    let pwms = kernel_pwms(&pkg, &args, &x, ko.layer().cut)?;
    if let Some((pwms, sites)) = &pwms {
        let motifs: Vec<s2f::motifs::meme::Motif> = kernel_names
            .iter()
            .zip(pwms.iter().zip(sites))
            .map(|(n, (p, &s))| s2f::motifs::meme::Motif {
                id: n.clone(),
                alt: None,
                probs: p.clone(),
                sites: (s > 0).then_some(s),
            })
            .map(|mut m| {
                m.alt = Some(m.consensus());
                m
            })
            .collect();
        s2f::motifs::meme::write_meme(&args.out.join("kernels.meme"), &motifs, [0.25; 4])?;
        let best = match &args.db {
            Some(db) => write_matches(&args.out.join("kernel_matches.tsv"), &pkg, ko.layer(), &motifs, db)?,
            None => vec![None; motifs.len()],
        };
        if args.plot {
            let logos = args.out.join("logos");
            std::fs::create_dir_all(&logos).with_context(|| format!("creating {}", logos.display()))?;
            let mut rank: Vec<usize> = (0..motifs.len()).collect();
            let total = |k: usize| effect.row(k).iter().map(|v| v.abs()).sum::<f64>();
            rank.sort_by(|&a, &b| total(b).total_cmp(&total(a)));
            for &k in rank.iter().take(args.plot_top) {
                let m = &motifs[k];
                let title = match &best[k] {
                    Some(b) => format!("{}: {b}", m.id),
                    None => format!("{} {}", m.id, m.consensus()),
                };
                let label = format!("{} Σ|effect| {:.3}", m.id, total(k));
                let path = logos.join(format!("{}.png", m.id));
                s2f::jobs::kernels::plot::kernel_logo(&path, &label, &m.probs, &title)?;
            }
        }
    }
    let meta = serde_json::json!({
        "layer": ko.layer().path,
        "knockout": match null { Null::Mean => "mean: b_k + 0.25*sum(W_k)", Null::Zero => "zero" },
        "values": ko.values(),
        "head": spec.heads[head].name,
        "tracks": tracks,
        "track_ids": ids,
        "sequences": names.len(),
        "prediction": "head output summed over bins",
        "effect": "sum over sequences of P - M_k (positive: the kernel raises the prediction)",
        "pwm": pwms.as_ref().map(|_| match args.pwm { PwmArg::Activations => "activations", PwmArg::Weights => "weights" }),
        "engine": ko.describe(),
    });
    let json = serde_json::to_string_pretty(&meta)?;
    s2f::io::atomic::write_atomic(args.out.join("kernels.json"), |f| f.write_all(json.as_bytes()))?;
    tracing::info!("wrote {}", args.out.display());
    Ok(())
}

/// PWMs of the first convolution's kernels (and the windows behind each); `None` for a deeper
/// layer, whose inputs are not bases.
fn kernel_pwms(
    pkg: &Package,
    args: &Args,
    x: &ndarray::Array3<f32>,
    cut: usize,
) -> Result<Option<(Vec<Columns>, Vec<usize>)>> {
    let (Some(spec), Some(weights)) = (&pkg.spec, &pkg.weights) else { return Ok(None) };
    let stem = match s2f::model::onnx::stem::Stem::find(spec) {
        Ok(s) if s.pre == cut => s,
        _ => {
            tracing::info!("no PWMs: the knocked-out layer is not the first convolution");
            return Ok(None);
        }
    };
    let prefix = stem.conv.name.clone().unwrap_or_else(|| stem.conv_path.clone());
    let (f, kw) = (stem.filters, stem.conv.kernel);
    if args.pwm == PwmArg::Weights {
        let w = &weights.get(&format!("{prefix}.weight"))?.data;
        let b = if stem.conv.bias { Some(weights.get(&format!("{prefix}.bias"))?.data.as_slice()) } else { None };
        return Ok(Some((weight_pwms(w, b, f, kw)?, vec![0; f])));
    }
    let graph = s2f::model::onnx::stem::emit_stem(spec, weights, &stem, Default::default())?;
    let mut engine = s2f::engine::create(args.engine.into(), args.device.into(), &graph)?;
    let mut acc = ActivationPwms::new(stem, args.activation_fraction);
    for pass in 0..2 {
        for start in (0..x.dim().0).step_by(32) {
            let end = (start + 32).min(x.dim().0);
            let mut outs = engine.run(x.slice(ndarray::s![start..end, .., ..]).to_owned().into_dyn())?;
            let input = outs.remove(0).into_dimensionality::<ndarray::Ix3>()?;
            if pass == 0 {
                acc.scan(&outs);
            } else {
                acc.accumulate(&input, &outs);
            }
        }
    }
    Ok(Some(acc.finish()))
}

/// Compares each kernel's PWM (flanks below 0.5 bits trimmed; kernels left with fewer than 5
/// columns or 4 bits are not compared) with the database `db`; writes per kernel its weight
/// norm, consensus, information and best three matches. Returns each kernel's best match as
/// `ID name (p = …)`, if any.
fn write_matches(
    path: &Path,
    pkg: &Package,
    layer: &s2f::jobs::kernels::KernelLayer,
    motifs: &[s2f::motifs::meme::Motif],
    db: &Path,
) -> Result<Vec<Option<String>>> {
    use s2f::jobs::kernels::pwm::{information, trimmed};
    use s2f::motifs::tomtom::{compare, CompareOptions};
    let targets = s2f::motifs::meme::read_meme(db)?;
    let weights = pkg.weights.as_ref().context("no weights")?;
    let w = &weights.get(&format!("{}.weight", layer.prefix))?.data;
    let per = w.len() / motifs.len().max(1);
    let mut queries = Vec::new();
    let mut which = Vec::new();
    for (k, m) in motifs.iter().enumerate() {
        if let Some(cols) = trimmed(&m.probs, 0.5, 5, 4.0) {
            queries.push(s2f::motifs::meme::Motif { probs: cols, ..m.clone() });
            which.push(k);
        }
    }
    let opts = CompareOptions { thresh: 1.0, top: Some(3), ..Default::default() };
    let found = if queries.is_empty() { Vec::new() } else { compare(&queries, &targets, &opts)? };
    s2f::io::atomic::write_atomic(path, |out| {
        write!(out, "kernel\tweight_norm\tconsensus\tinformation_bits\tcompared_columns")?;
        for i in 1..=3 {
            write!(out, "\tmatch{i}_id\tmatch{i}_name\tmatch{i}_p\tmatch{i}_q")?;
        }
        writeln!(out)?;
        for (k, m) in motifs.iter().enumerate() {
            let norm = w[k * per..(k + 1) * per].iter().map(|&v| (v as f64).powi(2)).sum::<f64>().sqrt();
            let bits: f64 = m.probs.iter().map(information).sum();
            let q = which.iter().position(|&j| j == k);
            let width = q.map_or(0, |q| queries[q].probs.len());
            write!(out, "{}\t{norm:.4}\t{}\t{bits:.2}\t{width}", m.id, m.consensus())?;
            let hits: Vec<_> = q.map(|q| found.iter().filter(|h| h.query == q).take(3).collect()).unwrap_or_default();
            for i in 0..3 {
                match hits.get(i) {
                    Some(h) => {
                        let t = &targets[h.target];
                        write!(
                            out,
                            "\t{}\t{}\t{:.3e}\t{:.3e}",
                            t.id,
                            t.alt.as_deref().unwrap_or(""),
                            h.p_value,
                            h.q_value
                        )?
                    }
                    None => write!(out, "\t\t\t\t")?,
                }
            }
            writeln!(out)?;
        }
        Ok(())
    })?;
    Ok((0..motifs.len())
        .map(|k| {
            let q = which.iter().position(|&j| j == k)?;
            let h = found.iter().find(|h| h.query == q)?;
            let t = &targets[h.target];
            Some(format!("{} {} (p = {:.1e})", t.id, t.alt.as_deref().unwrap_or(""), h.p_value))
        })
        .collect())
}

/// Writes a kernels × tracks table (TSV, header `corner` then the track ids).
fn write_table(path: &Path, corner: &str, rows: &[String], cols: &[String], v: &Array2<f64>) -> Result<()> {
    s2f::io::atomic::write_atomic(path, |w| {
        writeln!(w, "{corner}\t{}", cols.join("\t"))?;
        for (name, row) in rows.iter().zip(v.outer_iter()) {
            let vals: Vec<String> = row.iter().map(|x| format!("{x:.6e}")).collect();
            writeln!(w, "{name}\t{}", vals.join("\t"))?;
        }
        Ok(())
    })?;
    Ok(())
}

/// Measured values `(N, tracks)` of the sequences `names` (summed over bins), from a target file.
fn read_targets(path: &Path, names: &[String], tracks: usize) -> Result<Array2<f32>> {
    let (tnames, m) = s2f::train::data::read_targets(path)?;
    if m.tracks.len() != tracks {
        bail!("{}: {} tracks, the head has {tracks}", path.display(), m.tracks.len());
    }
    let index: std::collections::HashMap<&str, usize> =
        tnames.iter().enumerate().map(|(i, n)| (n.as_str(), i)).collect();
    let w = m.width();
    let mut y = Array2::<f32>::zeros((names.len(), tracks));
    for (i, n) in names.iter().enumerate() {
        let j = *index.get(n.as_str()).with_context(|| format!("{}: no row for sequence {n:?}", path.display()))?;
        for b in 0..m.bins {
            for t in 0..tracks {
                y[(i, t)] += m.values[j * w + b * tracks + t];
            }
        }
    }
    Ok(y)
}
