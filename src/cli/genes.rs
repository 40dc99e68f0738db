//! `s2f genes`: model outputs at transcription start sites, one row per gene (FT_S2A's TSS
//! read-out), from a model or from the bigWigs of a genome-wide `s2f predict`.

use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use s2f::engine::{create, Predictor};
use s2f::genes::bigwig::track_sites;
use s2f::genes::readout::{centre_bins, predict_sites};
use s2f::genes::table::{gene_table, keep_known_chroms};
use s2f::genes::tss::{group_genes, read_tss_table, sites, Aggregate};
use s2f::genome::fasta::Fasta;
use s2f::genome::gtf::read_tss;
use s2f::jobs::predict::Manifest as PredictManifest;
use s2f::model::Package;

use super::{DeviceArg, EngineArg};

/// Arguments of `s2f genes`.
#[derive(clap::Args)]
pub struct Args {
    /// Model package (or .onnx + model.json). With --from-tracks it is optional and only names
    /// the tracks (it must be the model of that run).
    model: Option<PathBuf>,
    /// Genome FASTA: predict one TSS-centred window per distinct TSS.
    #[arg(long, required_unless_present = "from_tracks", conflicts_with = "from_tracks")]
    genome: Option<PathBuf>,
    /// Read the bins from the bigWigs of a finished genome-wide `s2f predict` run in this folder.
    #[arg(long)]
    from_tracks: Option<PathBuf>,
    /// GTF annotation: one TSS per transcript.
    #[arg(long, required_unless_present = "tss", conflicts_with = "tss")]
    gtf: Option<PathBuf>,
    /// With --gtf: keep genes of this type (gene_type / gene_biotype).
    #[arg(long, requires = "gtf")]
    gene_type: Option<String>,
    /// TSS table (TSV/CSV/parquet): gene_id, chrom, tss (0-based), strand[, gene_name] (`s2f tss` output).
    #[arg(long)]
    tss: Option<PathBuf>,
    /// Output bins summed per TSS, centred on the bin holding it (odd).
    #[arg(long, default_value_t = 3)]
    bins: usize,
    /// Track indices, comma-separated (default: all).
    #[arg(long, conflicts_with = "track_filter")]
    tracks: Option<String>,
    /// Keep tracks whose description contains this text (e.g. CAGE).
    #[arg(long)]
    track_filter: Option<String>,
    /// How a gene's TSSs are combined: sum (FT_S2A), max, mean.
    #[arg(long, default_value = "sum")]
    aggregate: String,
    #[command(flatten)]
    augment: super::AugmentArgs,
    /// Sequences per batch.
    #[arg(long, default_value_t = 8)]
    batch: usize,
    /// Inference engine.
    #[arg(long, value_enum, default_value_t = EngineArg::Auto)]
    engine: EngineArg,
    /// Device: cpu, cuda, auto.
    #[arg(long, value_enum, default_value_t = DeviceArg::Cpu)]
    device: DeviceArg,
    /// Head to read, for models with several.
    #[arg(long)]
    head: Option<String>,
    /// Output table: .parquet, .tsv or .csv.
    #[arg(long)]
    out: PathBuf,
}

/// Runs `s2f genes`.
pub fn run(args: Args) -> Result<()> {
    let how = Aggregate::parse(&args.aggregate)?;
    s2f::io::table::check_output(&args.out)?;
    let rows = match (&args.gtf, &args.tss) {
        (Some(g), _) => read_tss(g, args.gene_type.as_deref())?,
        (None, Some(t)) => read_tss_table(t)?,
        (None, None) => bail!("give --gtf or --tss"),
    };
    if rows.is_empty() {
        match (&args.gtf, &args.gene_type) {
            (Some(g), Some(t)) => bail!("{}: no transcript of gene type {t:?}", g.display()),
            _ => bail!(
                "no TSS in {}",
                args.gtf.as_ref().or(args.tss.as_ref()).map(|p| p.display().to_string()).unwrap_or_default()
            ),
        }
    }
    let (genes, off) = group_genes(&rows);
    if !off.is_empty() {
        tracing::warn!(
            "{} TSSs lie on another chromosome than their gene's first (e.g. {} on {}); left out",
            off.len(),
            off[0].0,
            off[0].1
        );
    }
    let started = std::time::Instant::now();
    let (genes, of_gene, values, names) = match &args.from_tracks {
        Some(dir) => from_tracks(&args, dir, genes)?,
        None => from_model(&args, genes)?,
    };
    let n_sites = values.nrows();
    let mut df = gene_table(&genes, &of_gene, &values, &names, how)?;
    s2f::io::table::write(&mut df, &args.out)?;
    tracing::info!(
        "wrote {} genes ({n_sites} distinct TSSs) × {} tracks to {} in {:.1} s",
        genes.len(),
        names.len(),
        args.out.display(),
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

type Readout = (Vec<s2f::genes::tss::Gene>, Vec<Vec<usize>>, ndarray::Array2<f64>, Vec<String>);

fn report_dropped(dropped: &[String], what: &str) -> Result<()> {
    if !dropped.is_empty() {
        tracing::warn!("{} genes left out: their chromosome is not in {what} (e.g. {})", dropped.len(), dropped[0]);
    }
    Ok(())
}

/// Track indices and names (identifiers) of `head`, filtered.
fn chosen_tracks(spec: &s2f::model::ModelSpec, head: usize, args: &Args) -> Result<Vec<(usize, String)>> {
    let all = super::select_tracks(spec, head, args.tracks.as_deref(), None)?;
    let table = &spec.heads[head].tracks;
    let row = |t: usize| table.iter().find(|r| r.index == t);
    let chosen: Vec<(usize, String)> = all
        .into_iter()
        .filter(|&t| match &args.track_filter {
            Some(f) => row(t).is_some_and(|r| r.description.contains(f.as_str())),
            None => true,
        })
        .map(|t| {
            (t, row(t).map(|r| r.identifier.clone()).filter(|s| !s.is_empty()).unwrap_or_else(|| format!("t{t:04}")))
        })
        .collect();
    if chosen.is_empty() {
        bail!(
            "no tracks selected{}",
            args.track_filter.as_ref().map(|f| format!(" (no description contains {f:?})")).unwrap_or_default()
        );
    }
    Ok(chosen)
}

fn from_model(args: &Args, genes: Vec<s2f::genes::tss::Gene>) -> Result<Readout> {
    let model = args.model.as_ref().context("give a MODEL to predict with (or --from-tracks DIR)")?;
    let genome = args.genome.as_ref().context("give --genome")?;
    let pkg = Package::open(model)?;
    let spec = pkg.spec.as_ref().context("genes needs a model with a spec (a package or .onnx + model.json)")?;
    let head = spec.head_index(args.head.as_deref())?;
    let geom = spec.analyze()?.heads[head].1;
    let len = spec.input.length;
    let bins = centre_bins(&geom, len, args.bins)?;
    let chosen = chosen_tracks(spec, head, args)?;
    let augment = args.augment.augment()?;
    augment.check(len as usize)?;
    let mut fasta = Fasta::open(genome)?;
    let known: std::collections::HashMap<String, u64> =
        fasta.chrom_sizes().into_iter().map(|c| (c.name, c.len)).collect();
    let (genes, dropped) = keep_known_chroms(genes, |c| known.contains_key(c));
    for g in &genes {
        if let Some(&t) = g.tss.iter().find(|&&t| t as u64 >= known[&g.chrom]) {
            bail!(
                "TSS {t} of gene {} is past the end of {} ({} bp in {})",
                g.gene_id,
                g.chrom,
                known[&g.chrom],
                genome.display()
            );
        }
    }
    report_dropped(&dropped, &genome.display().to_string())?;
    if genes.is_empty() {
        bail!("no gene has its TSS on a chromosome of {}", genome.display());
    }
    let (site_list, of_gene) = sites(&genes);
    let engine = create(args.engine.into(), args.device.into(), &pkg.onnx)?;
    let mut predictor = Predictor::new(&pkg, engine, head, args.batch)?;
    tracing::info!(
        "{} genes, {} distinct TSSs: bins {}–{} of {} on {}",
        genes.len(),
        site_list.len(),
        bins.start,
        bins.end - 1,
        geom.bins,
        predictor.describe()
    );
    let bar = indicatif::ProgressBar::new(site_list.len() as u64);
    bar.set_style(
        indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} TSSs ({per_sec}, ETA {eta})")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    let tracks: Vec<usize> = chosen.iter().map(|c| c.0).collect();
    let values = predict_sites(
        &mut predictor,
        &mut fasta,
        &site_list,
        len,
        spec.input.n_value,
        bins,
        &tracks,
        &augment,
        (args.batch * 16).max(64),
        |n| bar.inc(n as u64),
    )?;
    bar.finish_and_clear();
    Ok((genes, of_gene, values, chosen.into_iter().map(|c| c.1).collect()))
}

fn from_tracks(args: &Args, dir: &std::path::Path, genes: Vec<s2f::genes::tss::Gene>) -> Result<Readout> {
    let done = dir.join(s2f::jobs::predict::DONE_FILE);
    let m: PredictManifest = s2f::jobs::run_dir::read_manifest(&done)
        .with_context(|| format!("{} is not a finished `s2f predict` run", dir.display()))?;
    let aug = args.augment.augment()?;
    if aug.rc || aug.shifts != [0] || args.head.is_some() {
        bail!("--from-tracks reads the run's values as they are (its head, rc {}, shifts {:?}); drop --rc/--shifts/--head", m.rc, m.shifts);
    }
    if m.mode != "genome" || !m.formats.bigwig {
        bail!(
            "{}: --from-tracks needs a genome-wide run with bigWig output (this one is {}, formats {:?})",
            dir.display(),
            m.mode,
            m.formats
        );
    }
    // Track names: the model's identifiers when the model is given, else the file stems.
    let mut names: Vec<(usize, String, String)> =
        m.tracks.iter().zip(&m.track_files).map(|(&t, f)| (t, f.clone(), f.clone())).collect();
    // Where the TSS lies in its bin on the model path (0 without a model: its first base).
    let mut anchor = 0;
    if let Some(model) = &args.model {
        let pkg = Package::open(model)?;
        let sha = {
            use sha2::Digest;
            format!("{:x}", sha2::Sha256::digest(&pkg.onnx))
        };
        if sha != m.model_sha256 {
            bail!("{} is not the model of the run in {} (its ONNX differs)", model.display(), dir.display());
        }
        let spec = pkg.spec.as_ref().context("the model has no spec")?;
        let table = &spec.heads.get(m.head).context("the run's head is not in the model")?.tracks;
        let geom = spec.analyze()?.heads[m.head].1;
        anchor = s2f::genes::readout::anchor(&geom, spec.input.length);
        for n in names.iter_mut() {
            if let Some(r) = table.iter().find(|r| r.index == n.0) {
                n.1 = r.identifier.clone();
                n.2 = r.description.clone();
            }
        }
    }
    if let Some(t) = &args.tracks {
        let want: Vec<usize> = super::split_list(t)
            .iter()
            .map(|x| x.parse().with_context(|| format!("--tracks: {x:?}")))
            .collect::<Result<_>>()?;
        if let Some(w) = want.iter().find(|w| !m.tracks.contains(w)) {
            bail!("--tracks: track {w} is not among the run's tracks {:?}", m.tracks);
        }
        names.retain(|n| want.contains(&n.0));
    }
    if let Some(f) = &args.track_filter {
        names.retain(|n| n.2.contains(f.as_str()));
    }
    if names.is_empty() {
        bail!("no tracks selected");
    }
    let known: std::collections::HashSet<&str> = m.chrom_sizes.iter().map(|c| c.0.as_str()).collect();
    let (genes, dropped) = keep_known_chroms(genes, |c| known.contains(c));
    report_dropped(&dropped, &format!("the run in {}", dir.display()))?;
    if genes.is_empty() {
        bail!("no gene has its TSS on a chromosome of the run in {}", dir.display());
    }
    let (site_list, of_gene) = sites(&genes);
    let files: Vec<PathBuf> = names
        .iter()
        .map(|n| {
            let stem = &m.track_files[m.tracks.iter().position(|&t| t == n.0).unwrap_or(0)];
            dir.join(format!("{stem}.bw"))
        })
        .collect();
    tracing::info!(
        "{} genes, {} distinct TSSs, {} bigWigs in {}",
        genes.len(),
        site_list.len(),
        files.len(),
        dir.display()
    );
    let values = track_sites(&files, &site_list, args.bins, anchor)?;
    // Genes with a TSS that no bin covers (an assembly gap the run skipped) are left out.
    let gap = |g: &Vec<usize>| g.iter().any(|&s| values.row(s).iter().any(|v| v.is_nan()));
    let keep: Vec<bool> = of_gene.iter().map(|s| !gap(s)).collect();
    if let Some(i) = keep.iter().position(|k| !k) {
        tracing::warn!(
            "{} genes left out: a TSS has no predicted value in {} (an assembly gap the run skipped; e.g. {})",
            keep.iter().filter(|k| !**k).count(),
            dir.display(),
            genes[i].gene_id
        );
    }
    let genes: Vec<_> = genes.into_iter().zip(&keep).filter(|(_, k)| **k).map(|(g, _)| g).collect();
    let of_gene: Vec<_> = of_gene.into_iter().zip(&keep).filter(|(_, k)| **k).map(|(s, _)| s).collect();
    if genes.is_empty() {
        bail!("no gene has predicted values at its TSSs in {}", dir.display());
    }
    Ok((genes, of_gene, values, names.into_iter().map(|n| n.1).collect()))
}
