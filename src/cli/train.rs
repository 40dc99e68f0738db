//! `s2f train`: train a model (preset, spec or fine-tuned package) and write a package.

use std::path::PathBuf;

use anyhow::{bail, Result};
use s2f::train::data::BinStat;
use s2f::train::finetune::HeadMode;
use s2f::train::job::{self, DataSource, ModelSource, SplitSource, TrainJob};
use s2f::train::loss::Loss;
use s2f::train::optim::{OptimConfig, OptimizerKind};
use s2f::train::presets::PresetSizes;
use s2f::train::trainer::TrainConfig;

#[derive(Clone, Copy, clap::ValueEnum)]
enum TrainDevice {
    /// burn's ndarray CPU backend.
    Cpu,
    /// burn's CUDA backend (s2f built with `--features cuda`).
    Cuda,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum StatArg {
    Sum,
    Mean,
}

/// How drg-multi combines its inputs.
#[derive(Clone, Copy, clap::ValueEnum)]
enum MergeArg {
    Concat,
    Difference,
    ExpDifference,
    Fraction,
}

impl MergeArg {
    fn merge(self) -> s2f::model::graph::Merge {
        use s2f::model::graph::Merge;
        match self {
            MergeArg::Concat => Merge::Concat,
            MergeArg::Difference => Merge::Difference,
            MergeArg::ExpDifference => Merge::ExpDifference,
            MergeArg::Fraction => Merge::Fraction,
        }
    }
}

/// Arguments of `s2f train`.
#[derive(clap::Args)]
#[command(group(clap::ArgGroup::new("model").required(true).args(["spec", "arch", "init"])))]
pub struct Args {
    /// Model spec (model.json) to train from fresh weights.
    #[arg(long)]
    spec: Option<PathBuf>,
    /// Preset architecture: drg-shallow, drg-dilated, basenji2, bpnet (profile + counts),
    /// drg-multi (one DRG CNN per one-hot file, combined; see --merge).
    #[arg(long)]
    arch: Option<String>,
    /// Package to fine-tune (imported or trained).
    #[arg(long)]
    init: Option<PathBuf>,
    /// One-hot .npz from `s2f onehot` (DRG-style data). Several, comma-separated, for
    /// multi-input models: one sequence per file and data point, matched by name; the first is
    /// the primary input, the others are named after their file stems.
    #[arg(long, requires = "targets", value_delimiter = ',')]
    onehot: Vec<PathBuf>,
    /// Target file(s) (csv/tsv with a '#' header of track names, or npz with counts/names/celltypes);
    /// comma-separated or repeated; each file is one head.
    #[arg(long, value_delimiter = ',')]
    targets: Vec<PathBuf>,
    /// Genome FASTA (genome-style data, with --bigwigs).
    #[arg(long, conflicts_with = "onehot", requires = "bigwigs")]
    genome: Option<PathBuf>,
    /// BED regions to centre windows on (genome-style): the narrowPeak summit when a region has
    /// one, else its midpoint. Without it the genome is tiled.
    #[arg(long, requires = "genome")]
    bed: Option<PathBuf>,
    /// With --bed: centre on region midpoints (start + end) / 2 even where narrowPeak summits
    /// are given.
    #[arg(long, requires = "bed")]
    ignore_summits: bool,
    /// bigWig targets of one head, comma-separated; repeat the option for more heads.
    #[arg(long)]
    bigwigs: Vec<String>,
    /// --arch bpnet: control tracks, one bigWig per strand (comma-separated), read per base over
    /// each window as bpnet-lite's `X_ctl`.
    #[arg(long, value_delimiter = ',', requires = "genome")]
    control: Vec<PathBuf>,
    /// Tiling stride in bp when no BED is given (default: the input length).
    #[arg(long)]
    stride: Option<u64>,
    /// Chromosomes to tile (comma-separated; default all).
    #[arg(long)]
    chroms: Option<String>,
    /// How bigWig signal is summarised per output bin.
    #[arg(long, value_enum, default_value = "mean")]
    bin_stat: StatArg,
    /// Output folder: the model package plus training reports.
    #[arg(long)]
    out: PathBuf,
    /// Chromosome folds file (from `s2f folds`, DRG format).
    #[arg(long, requires = "fold", conflicts_with = "split")]
    folds: Option<PathBuf>,
    /// Fold to validate on (the next one tests).
    #[arg(long)]
    fold: Option<usize>,
    /// Split file: lines `NAME train|valid|test` (NAME a data point or chromosome).
    #[arg(long)]
    split: Option<PathBuf>,
    /// Without folds or a split: fraction of data points (seeded) for validation and for test.
    #[arg(long, default_value_t = 0.1)]
    holdout: f64,
    /// Maximum epochs (early stopping usually ends training before).
    #[arg(long, default_value_t = 200)]
    epochs: usize,
    /// Batch size.
    #[arg(long, default_value_t = 64)]
    batch: usize,
    /// Loss: mse, poisson, corr-mse (DRG), multinomial (profiles, a softmax per track),
    /// multinomial-joint (one softmax over bins and tracks). Default mse; --arch bpnet has its
    /// own (the profile's multinomial-joint + λ·MSE of the log counts).
    #[arg(long)]
    loss: Option<String>,
    /// --arch bpnet: λ, the weight of the count head's MSE (default: half the mean total count
    /// of the training profiles, as BPNet suggests).
    #[arg(long)]
    count_weight: Option<f64>,
    /// Weight of the correlation term of corr-mse.
    #[arg(long, default_value_t = 0.5)]
    corr_weight: f32,
    /// Optimizer: adamw or sgd.
    #[arg(long, default_value = "adamw")]
    optimizer: String,
    /// Learning rate.
    #[arg(long, default_value_t = 1e-3)]
    lr: f32,
    /// SGD momentum.
    #[arg(long, default_value_t = 0.9)]
    momentum: f32,
    /// Decoupled weight decay.
    #[arg(long, default_value_t = 0.0)]
    weight_decay: f32,
    /// Learning-rate warm-up steps.
    #[arg(long, default_value_t = 0)]
    warmup: usize,
    /// Clip the global gradient norm to this value.
    #[arg(long)]
    clip: Option<f32>,
    /// Early stopping: epochs without a better validation loss (0: run all epochs).
    #[arg(long, default_value_t = 10)]
    patience: usize,
    /// Reduce on plateau: halve (--lr-factor) the learning rate after this many epochs without
    /// a better validation loss, and again after as many more (0: constant rate).
    #[arg(long, default_value_t = 3)]
    lr_patience: usize,
    /// Factor of each reduce-on-plateau step.
    #[arg(long, default_value_t = 0.5)]
    lr_factor: f32,
    /// Random reverse-complement augmentation.
    #[arg(long)]
    rc: bool,
    /// Random shift augmentation up to this many bp each way.
    #[arg(long, default_value_t = 0)]
    shift: usize,
    /// Seed for initialisation, batch order, augmentation and the random split.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Freeze weights under these layer names or paths (comma-separated, e.g. conv1,trunk.2).
    #[arg(long, value_delimiter = ',')]
    freeze: Vec<String>,
    /// With --init: replace the package's heads by new ones sized for the targets.
    #[arg(long, requires = "init", conflicts_with = "add_head")]
    new_head: bool,
    /// With --init: keep the package's heads and add a new head per target set.
    #[arg(long, requires = "init")]
    add_head: bool,
    /// With --init: keep only these tracks of the first head (indices or identifiers, comma-separated).
    #[arg(long, value_delimiter = ',', requires = "init")]
    tracks: Vec<String>,
    /// Preset input length in bp (default: the data's, or 401 / 131072).
    #[arg(long)]
    length: Option<u64>,
    /// Preset filters (drg: kernels; basenji2: final block).
    #[arg(long)]
    filters: Option<usize>,
    /// Preset first kernel width.
    #[arg(long)]
    kernel: Option<usize>,
    /// Preset pooling window (drg presets).
    #[arg(long)]
    pool: Option<usize>,
    /// Preset residual blocks (drg-dilated, basenji2).
    #[arg(long)]
    blocks: Option<usize>,
    /// drg-multi: units of each input's embedding and of the dense layer after concatenation
    /// (default 512, DRG's cnn_embedding).
    #[arg(long)]
    embedding: Option<usize>,
    /// drg-multi: how the inputs combine: concat (embeddings concatenated, then a dense layer;
    /// the default) or, for two inputs, DRG's analytic functions of per-input read-outs a, b:
    /// difference a − b, exp-difference exp(min(a − b, ln 2048)), fraction (ReLU a + 1e-12)/(ReLU b + 1e-12).
    #[arg(long, value_enum)]
    merge: Option<MergeArg>,
    /// Training device.
    #[arg(long, value_enum, default_value = "cpu")]
    device: TrainDevice,
}

/// Runs `s2f train`.
pub fn run(args: Args) -> Result<()> {
    let sizes = PresetSizes {
        length: args.length,
        filters: args.filters,
        kernel: args.kernel,
        pool: args.pool,
        blocks: args.blocks,
        embedding: args.embedding,
        merge: args.merge.map(MergeArg::merge),
        control: 0,
    };
    if args.arch.as_deref() != Some(s2f::train::presets::DRG_MULTI)
        && (args.embedding.is_some() || args.merge.is_some())
    {
        bail!("--embedding and --merge are options of --arch drg-multi");
    }
    let model = match (&args.spec, &args.arch, &args.init) {
        (Some(s), None, None) => ModelSource::Spec(s.clone()),
        (None, Some(a), None) => ModelSource::Arch(a.clone(), sizes),
        (None, None, Some(p)) => ModelSource::Init {
            package: p.clone(),
            heads: if args.new_head {
                HeadMode::Replace
            } else if args.add_head {
                HeadMode::Add
            } else {
                HeadMode::Keep
            },
            tracks: args.tracks.clone(),
        },
        _ => bail!("give exactly one of --spec, --arch, --init"),
    };
    let bpnet = args.arch.as_deref() == Some("bpnet");
    if bpnet && args.loss.is_some() {
        bail!("--arch bpnet trains with its own loss (multinomial-joint on the profile + λ·MSE of the log counts); drop --loss, or set λ with --count-weight");
    }
    if !bpnet && args.count_weight.is_some() {
        bail!("--count-weight is for --arch bpnet");
    }
    if args.count_weight.is_some_and(|w| !(w.is_finite() && w >= 0.0)) {
        bail!("--count-weight must be a finite non-negative number");
    }
    let data = match (args.onehot.split_first(), &args.genome) {
        (Some((onehot, inputs)), None) => {
            DataSource::Files { onehot: onehot.clone(), inputs: inputs.to_vec(), targets: args.targets.clone() }
        }
        (None, Some(fasta)) => DataSource::Genome {
            fasta: fasta.clone(),
            bed: args.bed.clone(),
            ignore_summits: args.ignore_summits,
            stride: args.stride,
            chroms: args.chroms.as_deref().map(super::split_list),
            bigwigs: args
                .bigwigs
                .iter()
                .map(|g| super::split_list(g).into_iter().map(PathBuf::from).collect())
                .collect(),
            stat: match args.bin_stat {
                StatArg::Sum => BinStat::Sum,
                StatArg::Mean => BinStat::Mean,
            },
            control: args.control.clone(),
        },
        _ => bail!("give training data: --onehot X.npz --targets Y.csv, or --genome FA --bigwigs A.bw,B.bw [--bed B]"),
    };
    let split = match (&args.folds, args.fold, &args.split) {
        (Some(f), Some(i), None) => SplitSource::Folds(f.clone(), i),
        (None, None, Some(s)) => SplitSource::File(s.clone()),
        (None, None, None) => SplitSource::Random(args.holdout, args.holdout),
        _ => bail!("give --folds with --fold, or --split"),
    };
    let cfg = TrainConfig {
        loss: Loss::parse(args.loss.as_deref().unwrap_or("mse"), args.corr_weight)?,
        head_losses: vec![],
        count_weight: args.count_weight,
        optim: OptimConfig {
            kind: OptimizerKind::parse(&args.optimizer, args.momentum)?,
            lr: args.lr,
            weight_decay: args.weight_decay,
            warmup: args.warmup,
            clip: args.clip,
        },
        epochs: args.epochs,
        batch: args.batch,
        patience: args.patience,
        lr_patience: args.lr_patience,
        lr_factor: args.lr_factor,
        rc: args.rc,
        shift: args.shift,
        seed: args.seed,
        freeze: args.freeze.clone(),
        im2col: matches!(args.device, TrainDevice::Cpu),
        checkpoint: Some(s2f::train::checkpoint::dir_for(&args.out)),
    };
    let job =
        TrainJob { model, data, split, cfg, out: args.out.clone(), cuda: matches!(args.device, TrainDevice::Cuda) };
    let bar = indicatif::ProgressBar::new(args.epochs as u64);
    bar.set_style(
        indicatif::ProgressStyle::with_template("{bar:30} epoch {pos}/{len} {msg} [{elapsed} < {eta}]")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    let summary = job::run(&job, &mut |row| {
        bar.set_position(row.epoch as u64);
        bar.set_message(format!("train {:.4} valid {:.4} r {:.3}", row.train_loss, row.valid_loss, row.valid_r));
        bar.suspend(|| {
            tracing::info!(
                "epoch {}: train loss {:.5}, valid loss {:.5}, valid r {:.4} ({:.1} s)",
                row.epoch,
                row.train_loss,
                row.valid_loss,
                row.valid_r,
                row.seconds
            )
        });
    })?;
    bar.finish_and_clear();
    tracing::info!("training stopped: {}", summary.stop);
    tracing::info!(
        "kept epoch {} of {}: validation r {:.4}, test r {:.4}; {} steps in {:.1} s ({:.2} steps/s); wrote {}",
        summary.best_epoch,
        summary.log.len(),
        summary.valid_r,
        summary.test_r,
        summary.steps,
        summary.seconds,
        summary.steps as f64 / summary.seconds.max(1e-9),
        args.out.display()
    );
    Ok(())
}
