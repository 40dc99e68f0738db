//! The streaming pipeline: a reader thread fetches and encodes batches, the calling thread runs
//! the model (with test-time augmentation), a writer thread collects each chunk's windows and
//! writes its part file. Memory is bounded by the batch and chunk sizes.

use std::path::Path;
use std::sync::mpsc::sync_channel;

use ndarray::{s, Array3};

use super::part::{chrom_len, part_path, write_part, PartWindow};
use super::PredictOptions;
use crate::engine::ensemble::predict_ensemble;
use crate::engine::Predictor;
use crate::error::{Error, Result};
use crate::genome::fasta::{ChromSize, Fasta};
use crate::genome::onehot::{Encoder, Layout};
use crate::jobs::tiling::{PlannedWindow, WindowSource};

/// A batch on its way from the reader to the model.
struct Batch {
    chunk: usize,
    windows: Vec<PlannedWindow>,
    /// Which windows are predicted (false: scored span all N).
    present: Vec<bool>,
    x: Array3<f32>,
    /// Further inputs (signals), one per model input after the first, rows as `x`.
    extra: Vec<Array3<f32>>,
}

/// Predicts the chunks `todo` (of `chunk` windows each) of `windows` and writes one part file
/// per chunk under `out`. `total` is the number of windows to do (for the progress bar); with
/// `skip_gaps`, windows whose scored span is all N are not predicted (stored without values).
/// The first error of any stage is returned; chunks finished before it stay on disk.
#[allow(clippy::too_many_arguments)]
pub(super) fn run_pipeline(
    predictor: &mut Predictor,
    genome: &Path,
    spec: &crate::model::spec::ModelSpec,
    windows: &WindowSource,
    todo: &[usize],
    chunk: usize,
    opts: &PredictOptions,
    out: &Path,
    sizes: &[ChromSize],
    total: usize,
    skip_gaps: bool,
) -> Result<()> {
    let batch_size = predictor.batch();
    let (tx_batch, rx_batch) = sync_channel::<Result<Batch>>(2);
    let (tx_out, rx_out) = sync_channel::<(usize, Vec<PartWindow>)>(2);
    let n = windows.len();
    let chunk_sizes: std::collections::HashMap<usize, usize> =
        todo.iter().map(|&c| (c, ((c + 1) * chunk).min(n) - c * chunk)).collect();
    let chunk_jobs: Vec<usize> = todo.to_vec();
    let windows = windows.clone();
    let sizes_r = sizes.to_vec();
    let genome = genome.to_path_buf();
    let n_value = spec.input.n_value;
    let signal_inputs: Vec<(i64, usize, crate::model::spec::InputLayout)> =
        spec.inputs.iter().map(|i| (i.offset.unwrap_or(0), i.length as usize, i.layout)).collect();
    let signal_files = opts.signals.clone();
    let reader = std::thread::spawn(move || {
        let run = || -> Result<()> {
            let mut fasta = Fasta::open(&genome)?;
            let mut bigwigs = signal_files
                .iter()
                .map(|g| {
                    g.iter().map(|f| Ok((crate::io::bigwig::open_bigwig(f)?, f.clone()))).collect::<Result<Vec<_>>>()
                })
                .collect::<Result<Vec<_>>>()?;
            let mut track = Vec::new();
            let enc = Encoder::<f32>::new(n_value)?;
            let mut seq = Vec::new();
            for c in chunk_jobs {
                let wins: Vec<PlannedWindow> =
                    (c * chunk..((c + 1) * chunk).min(n)).map(|i| windows.window(i)).collect();
                for part in wins.chunks(batch_size) {
                    let l = part[0].window.len() as usize;
                    let mut x = Array3::<f32>::zeros((part.len(), l, 4));
                    let mut present = Vec::with_capacity(part.len());
                    let mut extra: Vec<Array3<f32>> = signal_inputs
                        .iter()
                        .zip(&bigwigs)
                        .map(|(&(_, len, layout), files)| match layout {
                            crate::model::spec::InputLayout::NCL => Array3::zeros((part.len(), files.len(), len)),
                            crate::model::spec::InputLayout::NLC => Array3::zeros((part.len(), len, files.len())),
                        })
                        .collect();
                    let mut row = 0;
                    for w in part {
                        fasta.fetch_into(&w.window, &mut seq)?;
                        let (a, b) = w.scored(chrom_len(&sizes_r, &w.chrom) as u64);
                        let lo = (a - w.window.start()).clamp(0, l as i64) as usize;
                        let hi = (b - w.window.start()).clamp(0, l as i64) as usize;
                        let gap = skip_gaps
                            && seq[lo..hi]
                                .iter()
                                .all(|&c| !matches!(c, b'A' | b'C' | b'G' | b'T' | b'a' | b'c' | b'g' | b't'));
                        present.push(!gap);
                        if !gap {
                            let slice = x.slice_mut(s![row, .., ..]);
                            let buf = slice
                                .into_slice()
                                .ok_or_else(|| Error::InvalidArgument("non-contiguous batch".into()))?;
                            enc.encode_into(&seq, Layout::LengthFirst, buf)?;
                            for ((&(offset, len, layout), files), arr) in
                                signal_inputs.iter().zip(bigwigs.iter_mut()).zip(extra.iter_mut())
                            {
                                track.resize(len, 0.0);
                                for (c, (bw, path)) in files.iter_mut().enumerate() {
                                    let at = w.window.start() + offset;
                                    crate::io::bigwig::read_dense(bw, path, w.window.chrom(), at, &mut track)?;
                                    for (p, &v) in track.iter().enumerate() {
                                        match layout {
                                            crate::model::spec::InputLayout::NCL => arr[[row, c, p]] = v,
                                            crate::model::spec::InputLayout::NLC => arr[[row, p, c]] = v,
                                        }
                                    }
                                }
                            }
                            row += 1;
                        }
                    }
                    let x = x.slice(s![..row, .., ..]).to_owned();
                    let extra = extra.into_iter().map(|a| a.slice(s![..row, .., ..]).to_owned()).collect();
                    if tx_batch.send(Ok(Batch { chunk: c, windows: part.to_vec(), present, x, extra })).is_err() {
                        return Ok(());
                    }
                }
            }
            Ok(())
        };
        if let Err(e) = run() {
            let _ = tx_batch.send(Err(e));
        }
    });
    // With a profile as counts, the predictor's last column is the log count: written once per
    // window, at the centre of its written bins.
    let tracks = opts.tracks.len() + usize::from(opts.profile_counts);
    let out_dir = out.to_path_buf();
    let abort_after: Option<usize> = std::env::var("S2F_TEST_ABORT_AFTER_PARTS").ok().and_then(|v| v.parse().ok());
    let writer = std::thread::spawn(move || -> Result<()> {
        let mut pending: std::collections::HashMap<usize, Vec<PartWindow>> = Default::default();
        let mut written = 0usize;
        for (c, ws) in rx_out {
            let entry = pending.entry(c).or_default();
            entry.extend(ws);
            if entry.len() == chunk_sizes[&c] {
                let ws = pending.remove(&c).unwrap_or_default();
                write_part(&part_path(&out_dir, c), tracks, &ws)?;
                written += 1;
                if abort_after == Some(written) {
                    // Test hook: simulate a crash right after a part is on disk.
                    std::process::abort();
                }
            }
        }
        Ok(())
    });
    let progress = indicatif::ProgressBar::new(total as u64);
    progress.set_style(
        indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} windows {per_sec} ETA {eta} {msg}")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    let mut result = Ok(());
    let started = std::time::Instant::now();
    let mut inference = std::time::Duration::ZERO;
    for batch in rx_batch {
        let batch = match batch {
            Ok(b) => b,
            Err(e) => {
                result = Err(e);
                break;
            }
        };
        let t0 = std::time::Instant::now();
        let y = if batch.x.shape()[0] > 0 {
            let run = if batch.extra.is_empty() {
                predict_ensemble(predictor, batch.x.view(), &opts.augment)
            } else {
                let views: Vec<_> = batch.extra.iter().map(|a| a.view()).collect();
                predictor.predict_with(batch.x.view(), &views)
            };
            match run {
                Ok(y) => Some(y),
                Err(e) => {
                    result = Err(e);
                    break;
                }
            }
        } else {
            None
        };
        inference += t0.elapsed();
        let mut row = 0;
        let mut outs = Vec::with_capacity(batch.windows.len());
        for (w, present) in batch.windows.iter().zip(&batch.present) {
            let values = match (present, &y) {
                (true, Some(y)) => {
                    let mut v = Vec::with_capacity(w.n_bins * tracks);
                    let count_column = y.shape()[2] - 1;
                    let centre = w.first_bin + w.n_bins / 2;
                    for b in w.first_bin..w.first_bin + w.n_bins {
                        for &t in &opts.tracks {
                            v.push(y[[row, b, t]]);
                        }
                        if opts.profile_counts {
                            v.push(if b == centre { y[[row, b, count_column]] } else { f32::NAN });
                        }
                    }
                    row += 1;
                    Some(v)
                }
                _ => None,
            };
            outs.push(PartWindow {
                name: w.name.clone(),
                chrom: w.chrom.clone(),
                out_start: w.out_start,
                bin_size: w.bin_size,
                n_bins: w.n_bins,
                values,
            });
        }
        progress.inc(batch.windows.len() as u64);
        if tx_out.send((batch.chunk, outs)).is_err() {
            break;
        }
    }
    progress.finish_and_clear();
    drop(tx_out);
    let _ = reader.join();
    let written = writer.join().map_err(|_| Error::InvalidArgument("writer thread panicked".into()))?;
    let wall = started.elapsed().as_secs_f64();
    tracing::info!(
        "pipeline {wall:.2} s: model {:.2} s, reading/encoding/writing beyond it {:.2} s ({:.1}%)",
        inference.as_secs_f64(),
        wall - inference.as_secs_f64(),
        100.0 * (wall - inference.as_secs_f64()) / inference.as_secs_f64().max(1e-9)
    );
    result.and(written)
}
