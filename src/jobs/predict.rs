//! Genome-wide prediction: tile, encode, predict (with test-time augmentation), and write
//! bigWig or npz outputs — streaming, sharded and resumable.
//!
//! Work is cut into chunks of windows (see [`crate::jobs::tiling`]). Each finished chunk is
//! written atomically as a *part file* under `OUT/.s2f-parts/`, with its windows' coordinates
//! and values, so a killed run restarted with the same options skips finished chunks, and
//! `--shard I/N` computes chunks `c` with `c % N == I`. When every chunk is present, the parts
//! are assembled into the final files (by [`assemble`], also used by `s2f merge`) and removed;
//! `OUT/s2f-predict.json` then records the run as complete.
//!
//! Memory is bounded by the batch and chunk sizes, not the genome: a reader thread fetches and
//! encodes batches, the calling thread runs the model, a writer thread collects chunks.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::mpsc::sync_channel;
use std::sync::{Arc, Mutex};

use ndarray::{s, Array3};
use serde::{Deserialize, Serialize};

use crate::engine::ensemble::{predict_ensemble, Augment};
use crate::engine::Predictor;
use crate::error::{Error, Result};
use crate::genome::bed::BedRecord;
use crate::genome::fasta::{ChromSize, Fasta};
use crate::genome::onehot::{Encoder, Layout};
use crate::io::atomic::write_atomic;
use crate::jobs::tiling::{chunk_windows, regions_for_model, PlannedWindow, TilePlan, WindowSource};
use crate::model::Package;

/// Folder of part files inside the output folder.
pub const PARTS_DIR: &str = ".s2f-parts";
/// Record of a completed run.
pub const DONE_FILE: &str = "s2f-predict.json";
const PART_MAGIC: &[u8; 8] = b"S2FPART1";

/// What to predict on.
#[derive(Debug, Clone)]
pub enum Target {
    /// Whole chromosomes (all, or these in this order).
    Genome {
        /// Chromosome selection.
        chroms: Option<Vec<String>>,
    },
    /// One window centred on each region.
    Regions(Vec<BedRecord>),
}

/// Output formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Formats {
    /// One bigWig per selected track.
    pub bigwig: bool,
    /// `predictions.npz`: `predictions` (N, bins, tracks) float32 and `names`.
    pub npz: bool,
    /// `predictions.parquet`: chrom, start, end and one column per track, one row per bin.
    #[serde(default)]
    pub parquet: bool,
}

/// Options of a prediction run.
#[derive(Debug, Clone)]
pub struct PredictOptions {
    /// Output head.
    pub head: usize,
    /// Selected output columns (track indices) of that head.
    pub tracks: Vec<usize>,
    /// Test-time augmentation.
    pub augment: Augment,
    /// Window spacing for one-value-per-window models (default: the window length).
    pub stride: Option<u64>,
    /// Output formats.
    pub formats: Formats,
    /// `(I, N)`: compute chunks `c % N == I`.
    pub shard: (usize, usize),
    /// Windows per chunk (the unit of resume and sharding); automatic when None.
    pub chunk_windows: Option<usize>,
}

/// Everything that must agree between a run, its resumption and its shards.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    /// Part-file format.
    pub version: u32,
    /// sha256 of the model's ONNX graph.
    pub model_sha256: String,
    /// Model name.
    pub model: String,
    /// Genome file name.
    pub genome: String,
    /// Chromosome sizes written into bigWigs.
    pub chrom_sizes: Vec<(String, u64)>,
    /// `genome` or `regions`.
    pub mode: String,
    /// Total windows.
    pub windows: usize,
    /// Windows per chunk.
    pub chunk: usize,
    /// Head index and selected tracks.
    pub head: usize,
    /// Selected track indices.
    pub tracks: Vec<usize>,
    /// Output file stem of each selected track.
    pub track_files: Vec<String>,
    /// Shifts, reverse complement and shift padding.
    pub shifts: Vec<i64>,
    /// Reverse complement averaging.
    pub rc: bool,
    /// Window stride (scalar models).
    pub stride: Option<u64>,
    /// Bins per window in the model output.
    pub bins: usize,
    /// Output formats.
    pub formats: Formats,
}

/// How a run ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Outputs written (the paths).
    Complete(Vec<PathBuf>),
    /// The outputs already existed for the same options.
    AlreadyComplete,
    /// This shard is done; other chunks are missing (present, total).
    ShardDone(usize, usize),
}

fn sanitize(s: &str) -> String {
    s.chars().map(|c| if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') { c } else { '_' }).collect()
}

fn sha256(bytes: &[u8]) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

/// Output file stem for track `t` of a head: `t0007_CNhs11760_CAGE_aorta` (or `t0007`).
pub fn track_stem(pkg: &Package, head: usize, t: usize) -> String {
    let track = pkg.spec.as_ref().and_then(|s| s.heads.get(head)).and_then(|h| h.tracks.iter().find(|x| x.index == t));
    match track {
        Some(tr) => {
            let mut stem = format!("t{t:04}_{}", sanitize(&tr.identifier));
            if !tr.description.is_empty() {
                stem.push('_');
                stem.push_str(&sanitize(&tr.description));
            }
            stem.chars().take(120).collect()
        }
        None => format!("t{t:04}"),
    }
}

fn part_path(out: &Path, chunk: usize) -> PathBuf {
    out.join(PARTS_DIR).join(format!("chunk-{chunk:08}.bin"))
}

/// One window's outputs in a part file.
#[derive(Debug, Clone, PartialEq)]
pub struct PartWindow {
    /// Output name.
    pub name: String,
    /// Chromosome.
    pub chrom: String,
    /// Genome start of the first bin.
    pub out_start: i64,
    /// Bin width.
    pub bin_size: u64,
    /// Bins stored.
    pub n_bins: usize,
    /// `n_bins × tracks` values (bin-major), or None when the window was skipped (all N).
    pub values: Option<Vec<f32>>,
}

fn write_part(path: &Path, tracks: usize, windows: &[PartWindow]) -> Result<()> {
    write_atomic(path, |w| {
        w.write_all(PART_MAGIC)?;
        w.write_all(&(windows.len() as u32).to_le_bytes())?;
        w.write_all(&(tracks as u32).to_le_bytes())?;
        for pw in windows {
            for s in [&pw.name, &pw.chrom] {
                w.write_all(&(s.len() as u32).to_le_bytes())?;
                w.write_all(s.as_bytes())?;
            }
            w.write_all(&pw.out_start.to_le_bytes())?;
            w.write_all(&pw.bin_size.to_le_bytes())?;
            w.write_all(&(pw.n_bins as u32).to_le_bytes())?;
            match &pw.values {
                None => w.write_all(&[0])?,
                Some(v) => {
                    w.write_all(&[1])?;
                    for x in v {
                        w.write_all(&x.to_le_bytes())?;
                    }
                }
            }
        }
        Ok(())
    })
}

/// Reads a part file: (tracks, windows).
pub fn read_part(path: &Path) -> Result<(usize, Vec<PartWindow>)> {
    let bad = |m: &str| Error::malformed(path, "part file", m.to_string());
    let mut bytes = Vec::new();
    std::fs::File::open(path).and_then(|mut f| f.read_to_end(&mut bytes)).map_err(|e| Error::io(path, e))?;
    let mut pos = 0usize;
    let mut take = |n: usize| -> Result<&[u8]> {
        let s = bytes.get(pos..pos + n).ok_or_else(|| bad("truncated"))?;
        pos += n;
        Ok(s)
    };
    if take(8)? != PART_MAGIC {
        return Err(bad("not an s2f part file"));
    }
    let u32_ = |b: &[u8]| u32::from_le_bytes(b.try_into().unwrap_or([0; 4])) as usize;
    let n = u32_(take(4)?);
    let tracks = u32_(take(4)?);
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        let mut strs = Vec::new();
        for _ in 0..2 {
            let len = u32_(take(4)?);
            strs.push(String::from_utf8(take(len)?.to_vec()).map_err(|_| bad("bad name"))?);
        }
        let out_start = i64::from_le_bytes(take(8)?.try_into().unwrap_or([0; 8]));
        let bin_size = u64::from_le_bytes(take(8)?.try_into().unwrap_or([0; 8]));
        let n_bins = u32_(take(4)?);
        let values = match take(1)?[0] {
            0 => None,
            _ => Some(
                take(n_bins * tracks * 4)?
                    .chunks_exact(4)
                    .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                    .collect(),
            ),
        };
        let chrom = strs.pop().unwrap_or_default();
        let name = strs.pop().unwrap_or_default();
        out.push(PartWindow { name, chrom, out_start, bin_size, n_bins, values });
    }
    Ok((tracks, out))
}

impl PartWindow {
    /// The bins written to the genome: (bin, start, end), clipped to the chromosome
    /// (`chrom_len`); bins before base 0 or past the end are left out.
    pub fn genome_bins(&self, chrom_len: i64) -> impl Iterator<Item = (usize, i64, i64)> + '_ {
        (0..self.n_bins).filter_map(move |b| {
            let start = self.out_start + (b as u64 * self.bin_size) as i64;
            let end = (start + self.bin_size as i64).min(chrom_len);
            (start >= 0 && start < end).then_some((b, start, end))
        })
    }
}

fn chrom_len(sizes: &[ChromSize], chrom: &str) -> i64 {
    sizes.iter().find(|c| c.name == chrom).map(|c| c.len as i64).unwrap_or(0)
}

fn read_manifest(path: &Path) -> Result<Manifest> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
    serde_json::from_str(&text).map_err(|e| Error::malformed(path, "manifest", format!("{e}")))
}

fn write_manifest(path: &Path, m: &Manifest) -> Result<()> {
    let json = serde_json::to_string_pretty(m).unwrap_or_default();
    write_atomic(path, |w| w.write_all(json.as_bytes()))
}

/// A batch on its way from the reader to the model.
struct Batch {
    chunk: usize,
    windows: Vec<PlannedWindow>,
    /// Which windows are predicted (false: scored span all N).
    present: Vec<bool>,
    x: Array3<f32>,
}

/// Runs (or resumes) a prediction; see the module docs.
pub fn predict(
    pkg: &Package,
    predictor: &mut Predictor,
    genome: &Path,
    target: &Target,
    opts: &PredictOptions,
    out: &Path,
) -> Result<Outcome> {
    let spec = pkg.spec.as_ref().ok_or_else(|| {
        Error::InvalidArgument(
            "predict needs a model with a spec (geometry); give a package or an .onnx with a sidecar model.json".into(),
        )
    })?;
    let analysis = spec.analyze()?;
    let (_, geom) =
        analysis.heads.get(opts.head).ok_or_else(|| Error::InvalidArgument(format!("no head {}", opts.head)))?;
    if let Some(t) = opts.tracks.iter().find(|&&t| t as u64 >= geom.tracks) {
        return Err(Error::InvalidArgument(format!("track {t} does not exist (the head has {} tracks)", geom.tracks)));
    }
    let fasta = Fasta::open(genome)?;
    let sizes = fasta.chrom_sizes();
    let (windows, mode) = match target {
        Target::Genome { chroms } => (
            WindowSource::Tiled(TilePlan::new(&sizes, chroms.as_deref(), spec.input.length, geom, opts.stride)?),
            "genome",
        ),
        Target::Regions(r) => {
            for rec in r {
                fasta.chrom_len(&rec.interval.chrom)?;
            }
            (WindowSource::Listed(regions_for_model(r, spec.input.length, geom)), "regions")
        }
    };
    if windows.is_empty() {
        return Err(Error::InvalidArgument("nothing to predict".into()));
    }
    let (shard, n_shards) = opts.shard;
    if n_shards == 0 || shard >= n_shards {
        return Err(Error::InvalidArgument(format!(
            "shard {shard}/{n_shards} does not exist (use I/N with 0 ≤ I < N)"
        )));
    }
    let chunk = opts.chunk_windows.unwrap_or_else(|| chunk_windows(geom.bins as usize, opts.tracks.len())).max(1);
    let n_chunks = windows.len().div_ceil(chunk);
    let manifest = Manifest {
        version: 1,
        model_sha256: sha256(&pkg.onnx),
        model: spec.name.clone(),
        genome: genome.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default(),
        chrom_sizes: sizes.iter().map(|c| (c.name.clone(), c.len)).collect(),
        mode: mode.into(),
        windows: windows.len(),
        chunk,
        head: opts.head,
        tracks: opts.tracks.clone(),
        track_files: opts.tracks.iter().map(|&t| track_stem(pkg, opts.head, t)).collect(),
        shifts: opts.augment.shifts.clone(),
        rc: opts.augment.rc,
        stride: opts.stride,
        bins: geom.bins as usize,
        formats: opts.formats,
    };
    std::fs::create_dir_all(out.join(PARTS_DIR)).map_err(|e| Error::io(out, e))?;
    let done = out.join(DONE_FILE);
    if done.is_file() {
        if read_manifest(&done)? == manifest {
            return Ok(Outcome::AlreadyComplete);
        }
        return Err(Error::InvalidArgument(format!(
            "{} holds a finished run with other options or another model; choose another --out",
            out.display()
        )));
    }
    let mpath = out.join(PARTS_DIR).join("manifest.json");
    if mpath.is_file() {
        if read_manifest(&mpath)? != manifest {
            return Err(Error::InvalidArgument(format!(
                "{} holds an unfinished run with other options; resume it with the same options or choose another --out",
                out.display()
            )));
        }
    } else {
        write_manifest(&mpath, &manifest)?;
    }
    let todo: Vec<usize> = (0..n_chunks).filter(|c| c % n_shards == shard && !part_path(out, *c).is_file()).collect();
    let todo_windows: usize = todo.iter().map(|&c| ((c + 1) * chunk).min(windows.len()) - c * chunk).sum();
    drop(fasta);
    tracing::info!(
        "{} windows in {n_chunks} chunks; this run: {} chunks ({} windows) on {}, {} passes per window",
        windows.len(),
        todo.len(),
        todo_windows,
        predictor.describe(),
        opts.augment.passes()
    );
    let skip_gaps = matches!(target, Target::Genome { .. });
    run_pipeline(
        predictor,
        genome,
        spec.input.n_value,
        &windows,
        &todo,
        chunk,
        opts,
        out,
        &sizes,
        todo_windows,
        skip_gaps,
    )?;
    let present = (0..n_chunks).filter(|&c| part_path(out, c).is_file()).count();
    if present < n_chunks {
        return Ok(Outcome::ShardDone(present, n_chunks));
    }
    let t = std::time::Instant::now();
    let files = assemble(out)?;
    tracing::info!("assembled {} output files in {:.2} s", files.len(), t.elapsed().as_secs_f64());
    Ok(Outcome::Complete(files))
}

#[allow(clippy::too_many_arguments)]
fn run_pipeline(
    predictor: &mut Predictor,
    genome: &Path,
    n_value: f32,
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
    let reader = std::thread::spawn(move || {
        let run = || -> Result<()> {
            let mut fasta = Fasta::open(&genome)?;
            let enc = Encoder::<f32>::new(n_value)?;
            let mut seq = Vec::new();
            for c in chunk_jobs {
                let wins: Vec<PlannedWindow> =
                    (c * chunk..((c + 1) * chunk).min(n)).map(|i| windows.window(i)).collect();
                for part in wins.chunks(batch_size) {
                    let l = part[0].window.len() as usize;
                    let mut x = Array3::<f32>::zeros((part.len(), l, 4));
                    let mut present = Vec::with_capacity(part.len());
                    let mut row = 0;
                    for w in part {
                        fasta.fetch_into(&w.window, &mut seq)?;
                        let (a, b) = w.scored(chrom_len(&sizes_r, &w.chrom) as u64);
                        let lo = (a - w.window.start).clamp(0, l as i64) as usize;
                        let hi = (b - w.window.start).clamp(0, l as i64) as usize;
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
                            row += 1;
                        }
                    }
                    let x = x.slice(s![..row, .., ..]).to_owned();
                    if tx_batch.send(Ok(Batch { chunk: c, windows: part.to_vec(), present, x })).is_err() {
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
    let tracks = opts.tracks.len();
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
            match predict_ensemble(predictor, batch.x.view(), &opts.augment) {
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
                    for b in w.first_bin..w.first_bin + w.n_bins {
                        for &t in &opts.tracks {
                            v.push(y[[row, b, t]]);
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

/// Assembles the part files of a complete run in `out` into its outputs, writes
/// `s2f-predict.json` and removes the parts. Returns the files written.
pub fn assemble(out: &Path) -> Result<Vec<PathBuf>> {
    let parts_dir = out.join(PARTS_DIR);
    let manifest = read_manifest(&parts_dir.join("manifest.json"))?;
    let n_chunks = manifest.windows.div_ceil(manifest.chunk);
    let parts: Vec<PathBuf> = (0..n_chunks).map(|c| part_path(out, c)).collect();
    if let Some(missing) = parts.iter().position(|p| !p.is_file()) {
        return Err(Error::InvalidArgument(format!(
            "{}: chunk {missing} of {n_chunks} is missing; run every shard (or merge their folders) first",
            out.display()
        )));
    }
    let sizes: Vec<ChromSize> =
        manifest.chrom_sizes.iter().map(|(n, l)| ChromSize { name: n.clone(), len: *l }).collect();
    let mut files = Vec::new();
    if manifest.formats.bigwig {
        for (ti, stem) in manifest.track_files.iter().enumerate() {
            let path = out.join(format!("{stem}.bw"));
            let error: Arc<Mutex<Option<Error>>> = Arc::default();
            let values = BigWigValues::new(parts.clone(), ti, sizes.clone(), error.clone());
            write_bigwig_checked(&path, &sizes, values, &error)?;
            files.push(path);
        }
    }
    if manifest.formats.parquet {
        let path = out.join("predictions.parquet");
        crate::io::parquet::write_parquet(
            &path,
            &manifest.track_files,
            ParquetRows::new(parts.clone(), sizes.clone()),
        )?;
        files.push(path);
    }
    if manifest.formats.npz {
        let path = out.join("predictions.npz");
        let t = manifest.tracks.len();
        let bins = manifest.bins;
        let mut npz = crate::io::npy::NpzWriter::create(&path)?;
        npz.start_array("predictions", crate::io::npy::DType::F32, &[manifest.windows, bins, t])?;
        let mut names = Vec::with_capacity(manifest.windows);
        for p in &parts {
            let (_, ws) = read_part(p)?;
            for w in ws {
                let mut full = vec![f32::NAN; bins * t];
                if let Some(v) = &w.values {
                    full[..v.len()].copy_from_slice(v);
                }
                npz.write_body(&crate::io::npy::to_bytes(&full))?;
                names.push(w.name);
            }
        }
        npz.add_strings("names", &names)?;
        npz.finish()?;
        files.push(path);
    }
    write_manifest(&out.join(DONE_FILE), &manifest)?;
    std::fs::remove_dir_all(&parts_dir).map_err(|e| Error::io(&parts_dir, e))?;
    Ok(files)
}

fn write_bigwig_checked(
    path: &Path,
    sizes: &[ChromSize],
    values: BigWigValues,
    error: &Arc<Mutex<Option<Error>>>,
) -> Result<()> {
    let r = crate::io::bigwig::write_bigwig(path, sizes, values);
    if let Some(e) = error.lock().ok().and_then(|mut g| g.take()) {
        let _ = std::fs::remove_file(path);
        return Err(e);
    }
    r
}

/// Streams one track's bigWig intervals from the part files, in chunk order.
struct BigWigValues {
    parts: std::vec::IntoIter<PathBuf>,
    track: usize,
    sizes: Vec<ChromSize>,
    current: std::vec::IntoIter<crate::io::bigwig::Interval>,
    last: Option<(String, u32)>,
    error: Arc<Mutex<Option<Error>>>,
}

impl BigWigValues {
    fn new(parts: Vec<PathBuf>, track: usize, sizes: Vec<ChromSize>, error: Arc<Mutex<Option<Error>>>) -> Self {
        Self { parts: parts.into_iter(), track, sizes, current: Vec::new().into_iter(), last: None, error }
    }

    fn load(&mut self, path: &Path) -> Result<Vec<crate::io::bigwig::Interval>> {
        let (tracks, ws) = read_part(path)?;
        let mut v = Vec::new();
        for w in ws {
            let Some(values) = &w.values else { continue };
            for (b, start, end) in w.genome_bins(chrom_len(&self.sizes, &w.chrom)) {
                let x = values[b * tracks + self.track];
                if !x.is_finite() {
                    continue;
                }
                if let Some((c, e)) = &self.last {
                    if *c == w.chrom && (start as u32) < *e {
                        return Err(Error::InvalidArgument(format!(
                            "windows overlap at {}:{start} (overlapping BED regions?); use --format npz",
                            w.chrom
                        )));
                    }
                }
                self.last = Some((w.chrom.clone(), end as u32));
                v.push((w.chrom.clone(), start as u32, end as u32, x));
            }
        }
        Ok(v)
    }
}

impl Iterator for BigWigValues {
    type Item = crate::io::bigwig::Interval;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if let Some(x) = self.current.next() {
                return Some(x);
            }
            let path = self.parts.next()?;
            match self.load(&path) {
                Ok(v) => self.current = v.into_iter(),
                Err(e) => {
                    if let Ok(mut g) = self.error.lock() {
                        *g = Some(e);
                    }
                    return None;
                }
            }
        }
    }
}

/// Streams parquet rows (one per written bin, all tracks) from the part files.
struct ParquetRows {
    parts: std::vec::IntoIter<PathBuf>,
    sizes: Vec<ChromSize>,
    current: std::vec::IntoIter<crate::io::parquet::Row>,
}

impl ParquetRows {
    fn new(parts: Vec<PathBuf>, sizes: Vec<ChromSize>) -> Self {
        Self { parts: parts.into_iter(), sizes, current: Vec::new().into_iter() }
    }

    fn load(&self, path: &Path) -> Result<Vec<crate::io::parquet::Row>> {
        let (tracks, ws) = read_part(path)?;
        let mut rows = Vec::new();
        for w in ws {
            let Some(values) = &w.values else { continue };
            for (b, start, end) in w.genome_bins(chrom_len(&self.sizes, &w.chrom)) {
                rows.push((w.chrom.clone(), start, end, values[b * tracks..(b + 1) * tracks].to_vec()));
            }
        }
        Ok(rows)
    }
}

impl Iterator for ParquetRows {
    type Item = Result<crate::io::parquet::Row>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if let Some(r) = self.current.next() {
                return Some(Ok(r));
            }
            let path = self.parts.next()?;
            match self.load(&path) {
                Ok(v) => self.current = v.into_iter(),
                Err(e) => return Some(Err(e)),
            }
        }
    }
}

/// Combines the part files of shard runs (each folder the `--out` of one or more shards) into
/// the first folder and assembles the outputs there.
pub fn merge(dirs: &[PathBuf]) -> Result<Vec<PathBuf>> {
    let first = dirs.first().ok_or_else(|| Error::InvalidArgument("give the shard output folders to merge".into()))?;
    let m0 = read_manifest(&first.join(PARTS_DIR).join("manifest.json"))?;
    for d in &dirs[1..] {
        let m = read_manifest(&d.join(PARTS_DIR).join("manifest.json"))?;
        if m != m0 {
            return Err(Error::InvalidArgument(format!(
                "{} was made with other options or another model than {}",
                d.display(),
                first.display()
            )));
        }
        for entry in std::fs::read_dir(d.join(PARTS_DIR)).map_err(|e| Error::io(d, e))? {
            let entry = entry.map_err(|e| Error::io(d, e))?;
            let name = entry.file_name();
            if name.to_string_lossy().starts_with("chunk-") {
                let dest = first.join(PARTS_DIR).join(&name);
                if !dest.exists() {
                    std::fs::copy(entry.path(), &dest).map_err(|e| Error::io(&dest, e))?;
                }
            }
        }
    }
    assemble(first)
}
