//! `s2f seqlets`: seqlets called on attribution maps and clustered into motifs (see
//! [`s2f::jobs::seqlets`]).

use std::path::PathBuf;

use anyhow::{Context, Result};
use s2f::jobs::seqlets::{CallOptions, ClusterOptions, SeqletsOptions};

/// How seqlets are called.
#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum CallMethod {
    /// DRG's find_motifs: runs of significant positions.
    Drg,
    /// tfmodisco-lite's windowed null.
    ModiscoNull,
}

/// Arguments of `s2f seqlets`.
#[derive(clap::Args)]
pub struct Args {
    /// The attributions.npz that `s2f attribute` writes.
    input: PathBuf,
    /// Maps to use, comma-separated: indices or identifiers from the file's `tracks` (default all).
    #[arg(long)]
    tracks: Option<String>,
    /// Seqlet calling: drg (|attribution/RMS| > --cut runs) or modisco-null (tfmodisco-lite's
    /// windowed sums against a Laplace null at --target-fdr).
    #[arg(long, value_enum, default_value_t = CallMethod::Drg)]
    method: CallMethod,
    /// --method modisco-null: sliding window (positions).
    #[arg(long, default_value_t = 20)]
    window: usize,
    /// --method modisco-null: false discovery rate of the window thresholds.
    #[arg(long, default_value_t = 0.2)]
    target_fdr: f64,
    /// A position is significant when |attribution / RMS of its map| exceeds this.
    #[arg(long, default_value_t = 2.5)]
    cut: f64,
    /// Merge runs of one sign separated by at most this many non-significant positions.
    #[arg(long, default_value_t = 1)]
    max_gap: usize,
    /// Keep runs with at least this many significant positions.
    #[arg(long, default_value_t = 4)]
    min_size: usize,
    /// Bases added on each side of a seqlet (clipped to the sequence).
    #[arg(long, default_value_t = 5)]
    flank: usize,
    /// Average-linkage distance cut (1 − cosine similarity of aligned CWMs, both strands).
    #[arg(long, default_value_t = 0.5)]
    cluster_threshold: f64,
    /// Drop clusters with fewer seqlets.
    #[arg(long, default_value_t = 3)]
    min_seqlets: usize,
    /// Cluster at most this many seqlets per sign pairwise (the strongest); the rest join the
    /// nearest cluster within the threshold.
    #[arg(long, default_value_t = 2000)]
    max_seqlets: usize,
    /// Trim flank columns whose CWM magnitude is below this fraction of the largest column.
    #[arg(long, default_value_t = 0.3)]
    trim: f64,
    /// Motif database (MEME): each cluster's best match in clusters.tsv.
    #[arg(long)]
    db: Option<PathBuf>,
    /// Do not draw logos.
    #[arg(long)]
    no_logos: bool,
    /// Output folder: clusters.meme, clusters.tsv, seqlets.tsv, logos/.
    #[arg(long)]
    out: PathBuf,
}

/// Runs `s2f seqlets`.
pub fn run(args: Args) -> Result<()> {
    let maps = match &args.tracks {
        None => None,
        Some(list) => {
            let set_tracks = track_ids(&args.input)?;
            let maps = super::split_list(list)
                .iter()
                .map(|t| {
                    set_tracks
                        .iter()
                        .position(|x| x == t)
                        .or_else(|| t.parse::<usize>().ok().filter(|&i| i < set_tracks.len()))
                        .with_context(|| {
                            format!(
                                "--tracks: no map {t:?} in {} (it has {})",
                                args.input.display(),
                                set_tracks.join(",")
                            )
                        })
                })
                .collect::<Result<Vec<_>>>()?;
            Some(maps)
        }
    };
    let opts = SeqletsOptions {
        maps,
        call: CallOptions { cut: args.cut, max_gap: args.max_gap, min_size: args.min_size, flank: args.flank },
        null: (args.method == CallMethod::ModiscoNull).then(|| s2f::jobs::seqlets::modisco::NullOptions {
            window: args.window,
            flank: args.flank,
            target_fdr: args.target_fdr,
            ..Default::default()
        }),
        cluster: ClusterOptions {
            threshold: args.cluster_threshold,
            min_seqlets: args.min_seqlets,
            max_seqlets: args.max_seqlets,
            trim: args.trim,
            ..Default::default()
        },
        logos: !args.no_logos,
    };
    let a = s2f::jobs::seqlets::run(&args.input, args.db.as_deref(), &args.out, &opts)?;
    let clustered = a.assigned.iter().filter(|c| c.is_some()).count();
    tracing::info!(
        "{} seqlets, {} clusters ({clustered} seqlets clustered); wrote {}",
        a.seqlets.len(),
        a.clusters.len(),
        args.out.display()
    );
    for (c, m) in a.clusters.iter().zip(&a.matches) {
        let hit = m.as_ref().map(|d| format!(" {} {} q={:.2e}", d.id, d.name.as_deref().unwrap_or(""), d.q_value));
        tracing::info!(
            "{} {} n={} {}{}",
            c.id,
            c.sign.symbol(),
            c.members.len(),
            c.consensus(),
            hit.unwrap_or_default()
        );
    }
    Ok(())
}

/// The map identifiers of an attributions file (for `--tracks`).
fn track_ids(path: &std::path::Path) -> Result<Vec<String>> {
    Ok(s2f::jobs::seqlets::read_attributions(path)?.tracks)
}
