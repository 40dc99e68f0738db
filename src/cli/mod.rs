//! Command-line interface: one file per subcommand; clap types stay here, never in the library.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod attribute;
mod convert;
mod devices;
mod evaluate;
mod export_onnx;
mod export_triton;
mod folds;
mod genes;
mod inspect;
mod kernels;
mod motifs;
mod onehot;
mod package;
mod predict;
mod ridge;
mod run;
mod seqlets;
mod serve;
mod train;
mod tss;
mod variants;

/// s2f — a fast engine for genomic sequence-to-function models.
#[derive(Parser)]
#[command(name = "s2f", version, about, long_about = None)]
struct Cli {
    /// More log output (-v: debug, -vv: trace). Logs go to standard error.
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    verbose: u8,

    /// CPU threads for the engines (default: tract every available core, ONNX Runtime its own
    /// choice). tract gives the same numbers for any count.
    #[arg(long, global = true, value_name = "N")]
    threads: Option<usize>,

    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// One-hot encode genome windows or regions into a DRG-compatible .npz.
    Onehot(onehot::Args),
    /// Split chromosomes into size-balanced cross-validation folds.
    Folds(folds::Args),
    /// Extract transcription start sites from a GTF into a TSV table.
    Tss(tss::Args),
    /// Show a model's layers, parameters, MACs, receptive field and output geometry.
    Inspect(inspect::Args),
    /// Write a package's ONNX graph (optionally with batch norm folded).
    ExportOnnx(export_onnx::Args),
    /// Predict from one-hot arrays (.npy) with a model.
    Run(run::Args),
    /// Build a model package from a spec and weights (or seeded random weights).
    Package(package::Args),
    /// Score a genome or BED regions with a model: bigWig / npz outputs, TTA, shards, resume.
    Predict(predict::Args),
    /// Attributions: which bases drive a prediction (gradients, ISM, DeepLIFT/SHAP on any engine).
    Attribute(attribute::Args),
    /// Kernel knock-outs (effect per track) and first-layer kernel PWMs.
    Kernels(kernels::Args),
    /// Seqlets called on attribution maps, clustered into motifs (CWM, PWM, database matches).
    Seqlets(seqlets::Args),
    /// Motif files and Tomtom-style comparison with a motif database (`motifs compare`).
    Motifs(motifs::Args),
    /// Variant effect scores (SAD, logSAD, D2, JS, …) for the records of a VCF, with REF checks.
    Variants(variants::Args),
    /// Combine the outputs of `predict --shard` runs into the files an unsharded run writes.
    Merge(predict::MergeArgs),
    /// Import a Keras .h5 (Basenji2), PyTorch (FT_S2A) or DRG checkpoint into a model package.
    Convert(convert::Args),
    /// Build a model spec from a basenji params.json.
    SpecBasenji(package::BasenjiArgs),
    /// Train a model (preset, spec, or a package to fine-tune) and write a package with reports.
    Train(Box<train::Args>),
    /// Serve models over the Open Inference Protocol (KServe v2 / Triton HTTP), with dynamic batching.
    Serve(serve::Args),
    /// Write models as a Triton Inference Server model repository (config.pbtxt, model.onnx, labels).
    ExportTriton(export_triton::Args),
    /// What the engines can run on here: CUDA driver and GPUs, ONNX Runtime and its CUDA provider.
    Devices(devices::Args),
    /// Model outputs at transcription start sites, one row per gene (from a model or predicted bigWigs).
    Genes(genes::Args),
    /// Evaluate predictions against observations (`evaluate genes`: FT_S2A's TSS correlations).
    Evaluate(evaluate::Args),
    /// Cross-validated ridge regression from gene features (e.g. predicted CAGE) to expression.
    Ridge(ridge::Args),
}

/// Engines selectable on the command line.
#[derive(Clone, Copy, clap::ValueEnum)]
pub(crate) enum EngineArg {
    /// ONNX Runtime when its library is found (ORT_DYLIB_PATH, an active or nearby .venv), else
    /// tract; the choice is logged.
    Auto,
    /// tract: pure Rust, CPU, nothing to install.
    Tract,
    /// ONNX Runtime from the PyPI onnxruntime wheel (see README).
    Ort,
}

impl From<EngineArg> for s2f::engine::EngineKind {
    fn from(e: EngineArg) -> Self {
        match e {
            EngineArg::Auto => Self::Auto,
            EngineArg::Tract => Self::Tract,
            EngineArg::Ort => Self::Ort,
        }
    }
}

/// Devices selectable on the command line.
#[derive(Clone, Copy, clap::ValueEnum)]
pub(crate) enum DeviceArg {
    /// CPU.
    Cpu,
    /// CUDA GPU; an error when CUDA is not usable.
    Cuda,
    /// CUDA if usable, else CPU (logged).
    Auto,
}

impl From<DeviceArg> for s2f::engine::Device {
    fn from(d: DeviceArg) -> Self {
        match d {
            DeviceArg::Cpu => Self::Cpu,
            DeviceArg::Cuda => Self::Cuda,
            DeviceArg::Auto => Self::Auto,
        }
    }
}

/// Parses the command line, runs the subcommand, and reports errors with their causes.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let level = match cli.verbose {
        0 => "info",
        1 => "debug",
        _ => "trace",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("S2F_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(format!("s2f={level},warn")));
    // Colours only on a terminal (and never with NO_COLOR), so logs written to files stay plain.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr()) && std::env::var_os("NO_COLOR").is_none();
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .with_ansi(ansi)
        .init();

    if let Some(n) = cli.threads {
        if n == 0 {
            eprintln!("error: --threads must be at least 1");
            return ExitCode::FAILURE;
        }
        s2f::engine::set_threads(n);
    }
    let result = match cli.command {
        Command::Onehot(a) => onehot::run(a),
        Command::Attribute(a) => attribute::run(a),
        Command::Kernels(a) => kernels::run(a),
        Command::Seqlets(a) => seqlets::run(a),
        Command::Motifs(a) => motifs::run(a),
        Command::Folds(a) => folds::run(a),
        Command::Tss(a) => tss::run(a),
        Command::Inspect(a) => inspect::run(a),
        Command::Devices(a) => devices::run(a),
        Command::Serve(a) => serve::run(a),
        Command::Ridge(a) => ridge::run(a),
        Command::Evaluate(a) => evaluate::run(a),
        Command::Genes(a) => genes::run(a),
        Command::ExportTriton(a) => export_triton::run(a),
        Command::ExportOnnx(a) => export_onnx::run(a),
        Command::Run(a) => run::run(a),
        Command::Package(a) => package::run(a),
        Command::SpecBasenji(a) => package::run_basenji(a),
        Command::Convert(a) => convert::run(a),
        Command::Predict(a) => predict::run(a),
        Command::Merge(a) => predict::run_merge(a),
        Command::Variants(a) => variants::run(a),
        Command::Train(a) => train::run(*a),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            let top = e.to_string();
            eprintln!("error: {top}");
            for cause in e.chain().skip(1) {
                let cause = cause.to_string();
                if !top.contains(&cause) {
                    eprintln!("  caused by: {cause}");
                }
            }
            ExitCode::FAILURE
        }
    }
}

/// Parses a comma-separated list, dropping empty items.
/// Track columns of `head` from `--tracks` (indices) or `--track-names` (identifiers or
/// descriptions of the model's track table); all tracks when neither is given.
pub(crate) fn select_tracks(
    spec: &s2f::model::ModelSpec,
    head: usize,
    tracks: Option<&str>,
    names: Option<&str>,
) -> anyhow::Result<Vec<usize>> {
    use anyhow::Context;
    let n_tracks = spec.analyze()?.heads[head].1.tracks as usize;
    Ok(match (tracks, names) {
        (Some(t), _) => split_list(t)
            .iter()
            .map(|x| x.parse::<usize>().with_context(|| format!("--tracks: {x:?} is not a track index")))
            .collect::<anyhow::Result<_>>()?,
        (None, Some(names)) => {
            let table = &spec.heads[head].tracks;
            if table.is_empty() {
                anyhow::bail!("--track-names: the model has no track table (convert it with --targets)");
            }
            split_list(names)
                .iter()
                .map(|n| {
                    table
                        .iter()
                        .find(|t| &t.identifier == n || &t.description == n)
                        .map(|t| t.index)
                        .with_context(|| format!("--track-names: no track {n:?}"))
                })
                .collect::<anyhow::Result<_>>()?
        }
        (None, None) => (0..n_tracks).collect(),
    })
}

/// One-hot input from an `.npy` `(N, L, 4)` or the `.npz` `s2f onehot` writes (`seqfeatures`,
/// with its `genenames`): (values `(N, L, C)` as float32, sequence names).
pub(crate) fn read_onehot_input(path: &std::path::Path) -> anyhow::Result<(ndarray::Array3<f32>, Vec<String>)> {
    use anyhow::Context;
    let (arr, names) = if path.extension().is_some_and(|e| e == "npz") {
        let arrays = s2f::io::npy::read_npz(path)?;
        let names = arrays.iter().find(|(n, _)| n == "genenames").and_then(|(_, a)| a.to_strings());
        let x = arrays
            .into_iter()
            .find(|(n, _)| n == "seqfeatures")
            .map(|(_, a)| a)
            .with_context(|| format!("{}: no seqfeatures array (write it with s2f onehot)", path.display()))?;
        (x, names)
    } else {
        (s2f::io::npy::read_npy(path)?, None)
    };
    if arr.shape.len() != 3 {
        anyhow::bail!("{}: expected a rank-3 one-hot array (N, L, 4), found {:?}", path.display(), arr.shape);
    }
    let x = arr.to_f32().with_context(|| format!("{}: expected a numeric one-hot array", path.display()))?;
    let n = arr.shape[0];
    let names = match names {
        Some(v) if v.len() == n => v,
        _ => (0..n).map(|i| format!("seq{i}")).collect(),
    };
    Ok((ndarray::Array3::from_shape_vec((n, arr.shape[1], arr.shape[2]), x)?, names))
}

/// Windows of the model's length centred on the regions of `bed`, one-hot encoded.
/// Where the sequences of a model-driven analysis come from: a one-hot array, or windows of the
/// model's length centred on regions of a genome.
#[derive(clap::Args)]
pub(crate) struct SequenceInput {
    /// One-hot input (N, L, 4): an .npy, or the .npz `s2f onehot` writes. For a model with
    /// further inputs, repeat as NAME=FILE.npy for each (`s2f run`'s form).
    #[arg(long, required_unless_present = "genome", conflicts_with = "genome")]
    input: Vec<String>,
    /// Genome FASTA (indexed); with --bed, windows of the model's length centred on each region.
    #[arg(long, requires = "bed")]
    genome: Option<std::path::PathBuf>,
    /// Regions (BED or narrowPeak) to centre windows on, as `predict --bed`.
    #[arg(long, requires = "genome")]
    bed: Option<std::path::PathBuf>,
    /// With --bed: centre on region midpoints even where narrowPeak summits are given.
    #[arg(long, requires = "bed")]
    ignore_summits: bool,
}

impl SequenceInput {
    /// The one-hot sequences `(N, L, 4)` and their names.
    pub(crate) fn read(&self, spec: &s2f::model::ModelSpec) -> anyhow::Result<(ndarray::Array3<f32>, Vec<String>)> {
        let (primary, extra_files) = run::split_inputs(&self.input, &spec.input.onnx_name)?;
        if !extra_files.is_empty() {
            anyhow::bail!("this command reads one sequence input; give --input FILE only");
        }
        self.read_primary(primary.as_deref(), spec)
    }

    /// The primary sequences: the one-hot file, or windows on the BED regions.
    fn read_primary(
        &self,
        primary: Option<&std::path::Path>,
        spec: &s2f::model::ModelSpec,
    ) -> anyhow::Result<(ndarray::Array3<f32>, Vec<String>)> {
        match (primary, &self.genome, &self.bed) {
            (Some(input), _, _) => {
                let (x, names) = read_onehot_input(input)?;
                let (_, l, c) = x.dim();
                let flat = x.as_slice().ok_or_else(|| anyhow::anyhow!("one-hot layout"))?;
                s2f::genome::onehot::check_onehot(flat, l, c, Some(spec.input.n_value), input)?;
                Ok((x, names))
            }
            (None, Some(genome), Some(bed)) => read_regions(genome, bed, spec, self.ignore_summits),
            _ => anyhow::bail!(
                "say which sequences: --input X.npy|X.npz (--input {}=FILE for a multi-input model), or --genome FA --bed B",
                spec.input.onnx_name
            ),
        }
    }

    /// The one-hot sequences `(N, L, 4)`, their names, and the model's further inputs from
    /// `--input NAME=FILE` (in spec order, in the layout the graph takes them).
    pub(crate) fn read_all(
        &self,
        spec: &s2f::model::ModelSpec,
    ) -> anyhow::Result<(ndarray::Array3<f32>, Vec<String>, Vec<ndarray::Array3<f32>>)> {
        use anyhow::Context;
        let (primary, mut extra_files) = run::split_inputs(&self.input, &spec.input.onnx_name)?;
        if let Some(name) = extra_files.keys().find(|n| !spec.inputs.iter().any(|i| &i.name == *n)) {
            anyhow::bail!(
                "the model has no input {name:?}; it takes {}",
                std::iter::once(spec.input.onnx_name.as_str())
                    .chain(spec.inputs.iter().map(|i| i.name.as_str()))
                    .collect::<Vec<_>>()
                    .join(", ")
            );
        }
        if self.input.is_empty() && !spec.inputs.is_empty() {
            anyhow::bail!("the model reads further inputs: give each sequence input as --input NAME=FILE");
        }
        let (x, names) = self.read_primary(primary.as_deref(), spec)?;
        let mut extra = Vec::new();
        for i in &spec.inputs {
            let file = extra_files.remove(&i.name).with_context(|| {
                format!("the model also takes input {:?}: give it with --input {}=FILE.npy", i.name, i.name)
            })?;
            let (l, c) = (i.length as usize, i.channels);
            let dims = match i.layout {
                s2f::model::spec::InputLayout::NLC => [l, c],
                s2f::model::spec::InputLayout::NCL => [c, l],
            };
            let onehot = run::onehot_n_value(Some(spec), &i.name);
            extra.push(run::read_extra(&file, &i.name, x.dim().0, &dims, onehot)?);
        }
        Ok((x, names, extra))
    }
}

pub(crate) fn read_regions(
    genome: &std::path::Path,
    bed: &std::path::Path,
    spec: &s2f::model::ModelSpec,
    ignore_summits: bool,
) -> anyhow::Result<(ndarray::Array3<f32>, Vec<String>)> {
    use anyhow::{bail, Context};
    let records = s2f::genome::bed::read_bed(bed)?;
    if records.is_empty() {
        bail!("{}: no regions", bed.display());
    }
    let len = spec.input.length;
    let windows = s2f::genome::windows::centre_on_regions(&records, len, !ignore_summits)?;
    let mut fasta = s2f::genome::fasta::Fasta::open(genome)?;
    let enc = s2f::genome::onehot::Encoder::<f32>::new(spec.input.n_value)?;
    let l = len as usize;
    let mut x = ndarray::Array3::<f32>::zeros((windows.len(), l, 4));
    let mut seq = Vec::with_capacity(l);
    for (w, mut row) in windows.iter().zip(x.outer_iter_mut()) {
        fasta.fetch_into(&w.interval, &mut seq)?;
        let buf = row.as_slice_mut().context("one-hot layout")?;
        enc.encode_into(&seq, s2f::genome::onehot::Layout::LengthFirst, buf)?;
    }
    let names = windows.iter().map(|w| w.name.clone()).collect();
    Ok((x, names))
}

/// Test-time augmentation options shared by `predict` and `variants` (basenji semantics).
#[derive(clap::Args)]
pub(crate) struct AugmentArgs {
    /// Average with the reverse complement (outputs flipped back).
    #[arg(long)]
    rc: bool,
    /// Shifts to average, comma-separated, e.g. -1,0,1 (positive moves the sequence right).
    #[arg(long, default_value = "0", allow_hyphen_values = true)]
    shifts: String,
    /// Value of shifted-in positions in all four channels (basenji 2020: 0.25).
    #[arg(long, default_value_t = 0.25)]
    shift_pad: f32,
}

impl AugmentArgs {
    /// The augmentations.
    pub(crate) fn augment(&self) -> anyhow::Result<s2f::engine::ensemble::Augment> {
        use anyhow::Context;
        let shifts = split_list(&self.shifts)
            .iter()
            .map(|s| s.parse::<i64>().with_context(|| format!("--shifts: {s:?} is not an integer")))
            .collect::<anyhow::Result<_>>()?;
        Ok(s2f::engine::ensemble::Augment { shifts, rc: self.rc, pad: self.shift_pad })
    }
}

/// Parses `a:b` (0-based, end exclusive) for the option `flag`.
pub(crate) fn parse_range(flag: &str, s: &str) -> anyhow::Result<std::ops::Range<usize>> {
    use anyhow::Context;
    let (a, b) = s.split_once(':').with_context(|| format!("{flag} {s:?}: expected a:b"))?;
    let a = a.trim().parse::<usize>().with_context(|| format!("{flag} {s:?}: {a:?} is not an index"))?;
    let b = b.trim().parse::<usize>().with_context(|| format!("{flag} {s:?}: {b:?} is not an index"))?;
    if a >= b {
        anyhow::bail!("{flag} {s:?}: the range is empty");
    }
    Ok(a..b)
}

pub(crate) fn split_list(s: &str) -> Vec<String> {
    s.split(',').map(str::trim).filter(|x| !x.is_empty()).map(String::from).collect()
}
