//! `s2f variants` on disk: chunks of sites, shards, resume and merge, as `s2f predict` does.
//!
//! The VCF's sites are numbered in file order and grouped into chunks of `sites_per_chunk`;
//! chunk `c` belongs to shard `c mod N`. Each finished chunk is a part file in
//! `OUT/.s2f-parts/` (written atomically), so a killed run restarted with the same options skips
//! finished chunks, and shard folders combine with `s2f merge`. The run's options are recorded
//! in `OUT/.s2f-parts/variants.json`; a folder holding another run's parts is refused. When
//! every chunk is present the outputs are assembled in a staging folder and moved into `OUT`
//! together, then the manifest is kept as `OUT/s2f-variants.json` and the parts removed.
//!
//! Part files are text: `S` lines (a scored allele and its values, written with Rust's
//! shortest round-trip float formatting, so re-reading is exact) and `R` lines (rejections).

use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::output::{scores_header, ScoresParquet, Tsv, REJECTED_HEADER};
use super::{Rejected, Scored, Scorer};
use crate::engine::Predictor;
use crate::error::{Error, Result};
use crate::genome::fasta::Fasta;
use crate::genome::vcf::{Site, VcfReader};
use crate::io::atomic::write_atomic;

/// Folder of part files and the manifest inside the output folder.
pub const PARTS_DIR: &str = ".s2f-parts";
const MANIFEST: &str = "variants.json";
/// The manifest of a finished run, in the output folder.
pub const DONE_FILE: &str = "s2f-variants.json";

/// Everything that must agree between shards and resumed runs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// Always `s2f-variants`.
    pub kind: String,
    /// sha256 of the model's ONNX graph.
    pub model_sha256: String,
    /// Genome file name.
    pub genome: String,
    /// sha256 of the VCF file.
    pub vcf_sha256: String,
    /// Sites in the VCF.
    pub sites: usize,
    /// Sites per chunk.
    pub sites_per_chunk: usize,
    /// Statistic names.
    pub stats: Vec<String>,
    /// Value column names (`<stat>:<track>`).
    pub columns: Vec<String>,
    /// Track indices.
    pub tracks: Vec<usize>,
    /// Track identifiers, one per track.
    pub track_ids: Vec<String>,
    /// Track descriptions, one per track (empty when unknown).
    pub track_labels: Vec<String>,
    /// Bins summed over.
    pub bins: Option<(usize, usize)>,
    /// Shifts, reverse complement and shift padding.
    pub shifts: Vec<i64>,
    /// Reverse complement averaging.
    pub rc: bool,
    /// Value of shifted-in positions.
    pub shift_pad: f32,
    /// Pseudocount of SAR/SADR.
    pub pseudo: f64,
    /// `--allow-swap`.
    pub allow_swap: bool,
    /// Output formats (`parquet`, `tsv`, `h5`).
    pub formats: Vec<String>,
    /// The engine's [`crate::engine::Engine::identity`]: a run is resumed or merged only with
    /// the engine it started with (engines differ in the last bits).
    #[serde(default)]
    pub engine: String,
}

/// How a run ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// All outputs written (the files).
    Complete(Vec<PathBuf>),
    /// This shard is done; `(present, total)` chunks exist in the folder.
    ShardDone(usize, usize),
    /// The folder already holds the finished run.
    AlreadyComplete,
}

/// Writes the final files of a complete run into `dir`, reading its chunks from [`Parts`].
pub type Assembler<'a> = dyn Fn(&Path, &Manifest, &Parts) -> Result<Vec<PathBuf>> + 'a;

/// The part files of a complete run, in chunk order, read one at a time.
pub struct Parts {
    paths: Vec<PathBuf>,
}

impl Parts {
    /// Number of chunks.
    pub fn len(&self) -> usize {
        self.paths.len()
    }

    /// True when there is no chunk.
    pub fn is_empty(&self) -> bool {
        self.paths.is_empty()
    }

    /// The scored and rejected alleles of chunk `i`.
    pub fn read(&self, i: usize) -> Result<(Vec<Scored>, Vec<Rejected>)> {
        let (mut s, mut r) = (Vec::new(), Vec::new());
        let path = self.paths.get(i).ok_or_else(|| Error::InvalidArgument(format!("no chunk {i}")))?;
        read_part(path, &mut s, &mut r)?;
        Ok((s, r))
    }

    /// Every scored allele (for outputs that need the whole table in memory, e.g. h5).
    pub fn all_scored(&self) -> Result<Vec<Scored>> {
        let mut all = Vec::new();
        for i in 0..self.len() {
            all.extend(self.read(i)?.0);
        }
        Ok(all)
    }
}

/// sha256 (hex) of a file, streamed.
pub fn file_sha256(path: &Path) -> Result<String> {
    use sha2::Digest;
    let mut f = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let mut h = sha2::Sha256::new();
    std::io::copy(&mut f, &mut h).map_err(|e| Error::io(path, e))?;
    Ok(format!("{:x}", h.finalize()))
}

/// Counts the sites of a VCF (a streaming pass that also checks every record).
pub fn count_sites(vcf: &Path) -> Result<usize> {
    let mut r = VcfReader::open(vcf)?;
    let mut n = 0;
    while r.next_site()?.is_some() {
        n += 1;
    }
    Ok(n)
}

fn part_path(out: &Path, chunk: usize) -> PathBuf {
    out.join(PARTS_DIR).join(format!("chunk-{chunk:08}.tsv"))
}

fn read_manifest(path: &Path) -> Result<Manifest> {
    crate::jobs::run_dir::read_manifest(path)
}

/// One `s2f variants` run: what to score, where, and how to write the final files.
pub struct Job<'a> {
    /// The scorer (options checked).
    pub scorer: &'a Scorer,
    /// The VCF.
    pub vcf: &'a Path,
    /// The run's manifest.
    pub manifest: Manifest,
    /// This shard and the number of shards.
    pub shard: (usize, usize),
    /// The output folder.
    pub out: &'a Path,
    /// Writes the final files.
    pub assembler: &'a Assembler<'a>,
}

/// Runs (or resumes) `job`'s shard; assembles when every chunk is present. `progress` is called
/// with the number of sites done.
pub fn run(
    job: &Job<'_>,
    predictor: &mut Predictor,
    fasta: &mut Fasta,
    mut progress: impl FnMut(usize),
) -> Result<Outcome> {
    let (out, manifest) = (job.out, &job.manifest);
    crate::jobs::run_dir::check_shard(job.shard.0, job.shard.1)?;
    let done = out.join(DONE_FILE);
    if crate::jobs::run_dir::finished(&done, manifest, out)? {
        let missing: Vec<String> = output_files(manifest).into_iter().filter(|f| !out.join(f).is_file()).collect();
        if missing.is_empty() {
            return Ok(Outcome::AlreadyComplete);
        }
        tracing::warn!("{}: {} missing; scoring again", out.display(), missing.join(", "));
        std::fs::remove_file(&done).map_err(|e| Error::io(&done, e))?;
    }
    let fresh = !out.exists();
    std::fs::create_dir_all(out.join(PARTS_DIR)).map_err(|e| Error::io(out, e))?;
    let result = run_in(job, predictor, fasta, &mut progress);
    if result.is_err() && fresh {
        // Nothing to resume from a run that failed before its first chunk: leave no folder.
        let parts = std::fs::read_dir(out.join(PARTS_DIR))
            .map(|d| d.flatten().filter(|e| e.file_name().to_string_lossy().starts_with("chunk-")).count())
            .unwrap_or(0);
        if parts == 0 {
            let _ = std::fs::remove_dir_all(out);
        }
    }
    result
}

fn run_in(
    job: &Job<'_>,
    predictor: &mut Predictor,
    fasta: &mut Fasta,
    progress: &mut impl FnMut(usize),
) -> Result<Outcome> {
    let (out, manifest, vcf, (shard, n_shards)) = (job.out, &job.manifest, job.vcf, job.shard);
    crate::jobs::run_dir::claim(&out.join(PARTS_DIR).join(MANIFEST), manifest, out)?;
    let k = manifest.sites_per_chunk.max(1);
    let n_chunks = manifest.sites.div_ceil(k);
    let todo = |c: usize| c % n_shards == shard && !part_path(out, c).is_file();
    let mut reader = VcfReader::open(vcf)?;
    let mut sites: Vec<Site> = Vec::with_capacity(k);
    let mut index = 0usize;
    for c in 0..n_chunks {
        sites.clear();
        let wanted = todo(c);
        while index < ((c + 1) * k).min(manifest.sites) {
            let site = reader.next_site()?.ok_or_else(|| {
                Error::InvalidArgument(format!("{} changed while it was read (fewer sites)", vcf.display()))
            })?;
            if wanted {
                sites.push(site);
            }
            index += 1;
        }
        if wanted {
            let (scored, rejected) = job.scorer.score(predictor, fasta, &sites, vcf)?;
            write_part(&part_path(out, c), &scored, &rejected)?;
            progress(sites.len());
        }
    }
    let present = (0..n_chunks).filter(|&c| part_path(out, c).is_file()).count();
    if present < n_chunks {
        return Ok(Outcome::ShardDone(present, n_chunks));
    }
    assemble(out, job.assembler).map(Outcome::Complete)
}

fn write_part(path: &Path, scored: &[Scored], rejected: &[Rejected]) -> Result<()> {
    write_atomic(path, |w| {
        for s in scored {
            write!(w, "S\t{}\t{}\t{}\t{}\t{}\t{}", s.id, s.chrom, s.pos, s.reference, s.alt, s.swapped)?;
            for v in &s.values {
                write!(w, "\t{v}")?;
            }
            writeln!(w)?;
        }
        for r in rejected {
            writeln!(w, "R\t{}\t{}\t{}\t{}\t{}\t{}\t{}", r.line, r.chrom, r.pos, r.id, r.reference, r.alt, r.reason)?;
        }
        Ok(())
    })
}

fn read_part(path: &Path, scored: &mut Vec<Scored>, rejected: &mut Vec<Rejected>) -> Result<()> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
    for (i, line) in text.lines().enumerate() {
        let bad = || {
            Error::malformed(
                path,
                format!("line {}", i + 1),
                "not a part-file line (delete the file to redo its chunk)",
            )
        };
        let f: Vec<&str> = line.split('\t').collect();
        match f.first() {
            Some(&"S") if f.len() >= 7 => scored.push(Scored {
                id: f[1].into(),
                chrom: f[2].into(),
                pos: f[3].parse().map_err(|_| bad())?,
                reference: f[4].into(),
                alt: f[5].into(),
                swapped: f[6] == "true",
                values: f[7..]
                    .iter()
                    .map(|v| v.parse::<f64>())
                    .collect::<std::result::Result<_, _>>()
                    .map_err(|_| bad())?,
            }),
            Some(&"R") if f.len() == 8 => rejected.push(Rejected {
                line: f[1].parse().map_err(|_| bad())?,
                chrom: f[2].into(),
                pos: f[3].parse().map_err(|_| bad())?,
                id: f[4].into(),
                reference: f[5].into(),
                alt: f[6].into(),
                reason: f[7].into(),
            }),
            _ => return Err(bad()),
        }
    }
    Ok(())
}

/// Assembles a complete run in `out` (all or nothing, see the module docs).
pub fn assemble(out: &Path, assembler: &Assembler<'_>) -> Result<Vec<PathBuf>> {
    let parts_dir = out.join(PARTS_DIR);
    let manifest = read_manifest(&parts_dir.join(MANIFEST))?;
    let n_chunks = manifest.sites.div_ceil(manifest.sites_per_chunk.max(1));
    let parts = Parts { paths: (0..n_chunks).map(|c| part_path(out, c)).collect() };
    let staging = parts_dir.join("assembled");
    if staging.exists() {
        std::fs::remove_dir_all(&staging).map_err(|e| Error::io(&staging, e))?;
    }
    std::fs::create_dir_all(&staging).map_err(|e| Error::io(&staging, e))?;
    let staged = match assembler(&staging, &manifest, &parts) {
        Ok(f) => f,
        Err(e) => {
            let _ = std::fs::remove_dir_all(&staging);
            return Err(e);
        }
    };
    let mut files = Vec::new();
    for f in staged {
        let dest = out.join(f.file_name().unwrap_or_default());
        crate::io::atomic::install(&f, &dest)?;
        files.push(dest);
    }
    crate::jobs::run_dir::write_manifest(&out.join(DONE_FILE), &manifest)?;
    std::fs::remove_dir_all(&parts_dir).map_err(|e| Error::io(&parts_dir, e))?;
    Ok(files)
}

/// The standard assembler: `variants.parquet`/`.tsv` as the manifest's formats say, and
/// `rejected.tsv`, streamed a chunk at a time.
pub fn write_tables(dir: &Path, m: &Manifest, parts: &Parts) -> Result<Vec<PathBuf>> {
    let has = |f: &str| m.formats.iter().any(|x| x == f);
    let (pq, tsv, rej) = (dir.join("variants.parquet"), dir.join("variants.tsv"), dir.join("rejected.tsv"));
    let mut parquet = if has("parquet") { Some(ScoresParquet::create(&pq, &m.columns)?) } else { None };
    let mut table = if has("tsv") { Some(Tsv::create(&tsv, &scores_header(&m.columns))?) } else { None };
    let mut rejected = Tsv::create(&rej, REJECTED_HEADER)?;
    for i in 0..parts.len() {
        let (s, r) = parts.read(i)?;
        if let Some(p) = parquet.as_mut() {
            p.write(&s)?;
        }
        if let Some(t) = table.as_mut() {
            t.scores(&s)?;
        }
        rejected.rejected(&r)?;
    }
    let mut files = Vec::new();
    if let Some(p) = parquet {
        p.finish()?;
        files.push(pq);
    }
    if let Some(t) = table {
        t.finish()?;
        files.push(tsv);
    }
    rejected.finish()?;
    files.push(rej);
    Ok(files)
}

/// The final files a complete run with `m` writes (besides the manifest).
pub fn output_files(m: &Manifest) -> Vec<String> {
    let mut v: Vec<String> = [("parquet", "variants.parquet"), ("tsv", "variants.tsv"), ("h5", "sad.h5")]
        .iter()
        .filter(|(f, _)| m.formats.iter().any(|x| x == f))
        .map(|(_, name)| name.to_string())
        .collect();
    v.push("rejected.tsv".into());
    v
}

/// True when `dir` holds parts of a variants run (so `s2f merge` knows which kind to merge).
pub fn is_variants_run(dir: &Path) -> bool {
    dir.join(PARTS_DIR).join(MANIFEST).is_file()
}

/// Combines shard folders into the first and assembles there; everything is checked before
/// anything is copied.
pub fn merge(dirs: &[PathBuf], assembler: &Assembler<'_>) -> Result<Vec<PathBuf>> {
    let first = dirs.first().ok_or_else(|| Error::InvalidArgument("give the shard output folders to merge".into()))?;
    let m0 = read_manifest(&first.join(PARTS_DIR).join(MANIFEST))?;
    let n_chunks = m0.sites.div_ceil(m0.sites_per_chunk.max(1));
    let mut source: Vec<Option<PathBuf>> =
        (0..n_chunks).map(|c| Some(part_path(first, c)).filter(|p| p.is_file())).collect();
    for d in &dirs[1..] {
        let m: Manifest = read_manifest(&d.join(PARTS_DIR).join(MANIFEST))?;
        if !crate::jobs::run_dir::agree(&m0, &m) && !crate::jobs::run_dir::agree(&m, &m0) {
            return Err(Error::InvalidArgument(format!(
                "{} was made with other options or another model than {} ({})",
                d.display(),
                first.display(),
                crate::jobs::run_dir::differences(&m0, &m)
            )));
        }
        for (c, slot) in source.iter_mut().enumerate() {
            if slot.is_none() && part_path(d, c).is_file() {
                *slot = Some(part_path(d, c));
            }
        }
    }
    if let Some(missing) = source.iter().position(Option::is_none) {
        return Err(Error::InvalidArgument(format!(
            "chunk {missing} of {n_chunks} is in none of the folders; run every shard first (nothing was changed)"
        )));
    }
    for (c, src) in source.into_iter().enumerate() {
        let dest = part_path(first, c);
        if let Some(src) = src.filter(|s| *s != dest) {
            write_atomic(&dest, |w| std::io::copy(&mut std::fs::File::open(&src)?, w).map(|_| ()))?;
        }
    }
    assemble(first, assembler)
}
