//! Assembly of a complete run's part files into its outputs (bigWig per track, parquet, npz),
//! and `s2f merge` of shard folders.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use super::manifest::{read_manifest, write_manifest};
use super::part::{chrom_len, part_path, read_part};
use super::{DONE_FILE, PARTS_DIR};
use crate::error::{Error, Result};
use crate::genome::fasta::ChromSize;

/// Assembles the part files of a complete run in `out` into its outputs, writes
/// `s2f-predict.json` and removes the parts. Returns the files written.
///
/// All or nothing: the outputs are written into a staging folder inside the parts folder and
/// moved into `out` only when every one of them was written, then the manifest is written. A
/// failure (a full disk, a corrupt part) leaves no output and keeps the parts, so the same
/// command assembles again.
pub fn assemble(out: &Path) -> Result<Vec<PathBuf>> {
    let staging = out.join(PARTS_DIR).join("assembled");
    if staging.exists() {
        std::fs::remove_dir_all(&staging).map_err(|e| Error::io(&staging, e))?;
    }
    std::fs::create_dir_all(&staging).map_err(|e| Error::io(&staging, e))?;
    let staged = match assemble_into(out, &staging) {
        Ok(files) => files,
        Err(e) => {
            let _ = std::fs::remove_dir_all(&staging);
            return Err(e);
        }
    };
    let mut files = Vec::with_capacity(staged.len());
    for f in staged {
        let dest = out.join(f.file_name().unwrap_or_default());
        crate::io::atomic::install(&f, &dest)?;
        files.push(dest);
    }
    let parts_dir = out.join(PARTS_DIR);
    let manifest = read_manifest(&parts_dir.join("manifest.json"))?;
    write_manifest(&out.join(DONE_FILE), &manifest)?;
    std::fs::remove_dir_all(&parts_dir).map_err(|e| Error::io(&parts_dir, e))?;
    Ok(files)
}

/// Writes the outputs of the run in `out` into `dir`; returns their paths.
fn assemble_into(out: &Path, dir: &Path) -> Result<Vec<PathBuf>> {
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
            let path = dir.join(format!("{stem}.bw"));
            let error: Arc<Mutex<Option<Error>>> = Arc::default();
            let values = BigWigValues::new(parts.clone(), ti, sizes.clone(), error.clone());
            write_bigwig_checked(&path, &sizes, values, &error)?;
            files.push(path);
        }
    }
    if manifest.formats.parquet {
        let path = dir.join("predictions.parquet");
        crate::io::parquet::write_parquet(
            &path,
            &manifest.track_files,
            ParquetRows::new(parts.clone(), sizes.clone()),
        )?;
        files.push(path);
    }
    if manifest.formats.npz {
        let path = dir.join("predictions.npz");
        let t = manifest.track_files.len();
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
    // Everything is checked before anything is copied: a failed merge changes no folder.
    let n_chunks = m0.windows.div_ceil(m0.chunk);
    let mut source: Vec<Option<PathBuf>> =
        (0..n_chunks).map(|c| Some(part_path(first, c)).filter(|p| p.is_file())).collect();
    for d in &dirs[1..] {
        let m = read_manifest(&d.join(PARTS_DIR).join("manifest.json"))?;
        if !crate::jobs::run_dir::agree(&m0, &m) && !crate::jobs::run_dir::agree(&m, &m0) {
            return Err(Error::InvalidArgument(format!(
                "{} was made with other options or another model than {} ({})",
                d.display(),
                first.display(),
                crate::jobs::run_dir::differences(&m0, &m)
            )));
        }
        for (c, slot) in source.iter_mut().enumerate() {
            let p = part_path(d, c);
            if slot.is_none() && p.is_file() {
                *slot = Some(p);
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
        match src {
            Some(src) if src != dest => {
                crate::io::atomic::write_atomic(&dest, |w| {
                    std::io::copy(&mut std::fs::File::open(&src)?, w).map(|_| ())
                })?;
            }
            _ => {}
        }
    }
    assemble(first)
}
