//! Indexed FASTA access: plain or bgzip-compressed, with region queries padded with N.
//!
//! [`Fasta::open`] accepts what `samtools faidx` accepts:
//! - plain FASTA with `<file>.fai`; without one the file is indexed on the fly and the index is
//!   written next to it (as samtools does) when the folder is writable, else kept in memory;
//! - bgzip FASTA with `<file>.gzi` and `<file>.fai` (a missing `.fai` is built in memory; a
//!   missing `.gzi` is an error, since random access is impossible without it). Plain gzip is
//!   rejected with a hint to recompress with bgzip.
//!
//! Each chromosome's index entry is checked against the file the first time it is read, so a
//! stale `.fai` is reported instead of silently returning wrong bases.

use std::collections::HashMap;
use std::fs::File;
use std::io::{BufReader, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use noodles::bgzf;
use noodles::fasta::{self, fai};

use crate::error::{Error, Result};
use crate::genome::coords::{to_noodles_region, Interval};
use crate::genome::fasta_index::index_fasta;

type Inner = fasta::io::IndexedReader<fasta::io::BufReader<File>>;

/// One sequence in the index: its name and length in bases.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChromSize {
    /// Sequence name (first word of the header).
    pub name: String,
    /// Length in bases.
    pub len: u64,
}

/// An open, indexed FASTA file.
pub struct Fasta {
    path: PathBuf,
    reader: Inner,
    records: Vec<fai::Record>,
    by_name: HashMap<String, usize>,
    checked: Vec<bool>,
}

/// How the file is compressed, from its first bytes.
#[derive(Debug, PartialEq, Eq)]
enum Compression {
    None,
    Bgzf,
    Gzip,
}

fn sniff(path: &Path) -> Result<Compression> {
    let mut f = File::open(path).map_err(|e| Error::io(path, e))?;
    let mut head = [0u8; 18];
    let mut n = 0;
    while n < head.len() {
        let k = f.read(&mut head[n..]).map_err(|e| Error::io(path, e))?;
        if k == 0 {
            break;
        }
        n += k;
    }
    if n >= 2 && head[0] == 0x1f && head[1] == 0x8b {
        // BGZF: FEXTRA flag set and an extra subfield 'B','C'.
        let is_bgzf = n >= 16 && head[3] & 4 != 0 && head[12] == b'B' && head[13] == b'C';
        Ok(if is_bgzf { Compression::Bgzf } else { Compression::Gzip })
    } else {
        Ok(Compression::None)
    }
}

fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(suffix);
    PathBuf::from(s)
}

impl Fasta {
    /// Opens `path`, reading or building its index (see the module docs).
    pub fn open(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref().to_path_buf();
        let fai_path = with_suffix(&path, ".fai");
        let compression = sniff(&path)?;
        let (reader, records) = match compression {
            Compression::Gzip => {
                return Err(Error::malformed(
                    &path,
                    "header",
                    "gzip-compressed but not bgzip: random access needs `bgzip` (zcat F | bgzip > F.bgz)",
                ))
            }
            Compression::Bgzf => {
                let gzi_path = with_suffix(&path, ".gzi");
                if !gzi_path.exists() {
                    return Err(Error::MissingGzi { path, gzi: gzi_path });
                }
                let gzi = bgzf::gzi::fs::read(&gzi_path)
                    .map_err(|e| Error::malformed(&gzi_path, "file", format!("cannot read bgzip index: {e}")))?;
                let records = if fai_path.exists() {
                    read_fai(&fai_path)?
                } else {
                    let file = File::open(&path).map_err(|e| Error::io(&path, e))?;
                    tracing::info!("{}: no .fai; indexing in memory", path.display());
                    index_fasta(bgzf::io::Reader::new(file), &path)?
                };
                let file = File::open(&path).map_err(|e| Error::io(&path, e))?;
                let inner = bgzf::io::IndexedReader::new(file, gzi);
                (fasta::io::BufReader::Bgzf(inner), records)
            }
            Compression::None => {
                let records = if fai_path.exists() {
                    read_fai(&fai_path)?
                } else {
                    let file = File::open(&path).map_err(|e| Error::io(&path, e))?;
                    let records = index_fasta(BufReader::new(file), &path)?;
                    write_fai_best_effort(&fai_path, &records);
                    records
                };
                let file = File::open(&path).map_err(|e| Error::io(&path, e))?;
                (fasta::io::BufReader::Uncompressed(BufReader::new(file)), records)
            }
        };
        if records.is_empty() {
            return Err(Error::Empty { path, what: "index lists no sequences".into() });
        }
        let by_name = records.iter().enumerate().map(|(i, r)| (r.name().to_string(), i)).collect();
        let checked = vec![false; records.len()];
        let index = fai::Index::from(records.clone());
        Ok(Self { path, reader: fasta::io::IndexedReader::new(reader, index), records, by_name, checked })
    }

    /// The FASTA file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Sequence names and lengths in index (file) order.
    pub fn chrom_sizes(&self) -> Vec<ChromSize> {
        self.records.iter().map(|r| ChromSize { name: r.name().to_string(), len: r.length() }).collect()
    }

    /// Length of `chrom`, or [`Error::UnknownChrom`].
    pub fn chrom_len(&self, chrom: &str) -> Result<u64> {
        Ok(self.records[self.lookup(chrom)?].length())
    }

    fn lookup(&self, chrom: &str) -> Result<usize> {
        self.by_name.get(chrom).copied().ok_or_else(|| {
            let mut names: Vec<String> = self.records.iter().take(5).map(|r| r.name().to_string()).collect();
            if self.records.len() > 5 {
                names.push(format!("… {} in all", self.records.len()));
            }
            Error::UnknownChrom { chrom: chrom.to_string(), path: self.path.clone(), known: names.join(", ") }
        })
    }

    /// Bases of `iv` as stored (case preserved); positions before 0 or past the chromosome end
    /// are `N`. The result always has `iv.len()` bytes.
    pub fn fetch(&mut self, iv: &Interval) -> Result<Vec<u8>> {
        let mut out = Vec::with_capacity(iv.len() as usize);
        self.fetch_into(iv, &mut out)?;
        Ok(out)
    }

    /// Like [`Fasta::fetch`] but an interval reaching outside the chromosome is an error.
    pub fn fetch_strict(&mut self, iv: &Interval) -> Result<Vec<u8>> {
        let len = self.chrom_len(&iv.chrom)?;
        if iv.start < 0 || iv.end as u64 > len {
            return Err(Error::BadInterval {
                chrom: iv.chrom.clone(),
                start: iv.start,
                end: iv.end,
                message: format!("outside the chromosome (length {len}) and padding was not requested"),
            });
        }
        self.fetch(iv)
    }

    /// Appends the bases of `iv` to `out` (cleared first), padding with `N` outside the
    /// chromosome.
    pub fn fetch_into(&mut self, iv: &Interval, out: &mut Vec<u8>) -> Result<()> {
        out.clear();
        let i = self.lookup(&iv.chrom)?;
        self.check_record(i)?;
        let len = self.records[i].length() as i64;
        let lo = iv.start.clamp(0, len);
        let hi = iv.end.clamp(0, len).max(lo);
        let left_pad = (lo - iv.start).min(iv.end - iv.start).max(0) as usize;
        out.resize(left_pad, b'N');
        if hi > lo {
            let region = to_noodles_region(&iv.chrom, lo as u64, hi as u64)?;
            let record = self.reader.query(&region).map_err(|e| Error::io(&self.path, e))?;
            let seq = record.sequence().as_ref();
            if seq.len() as i64 != hi - lo {
                return Err(Error::StaleIndex {
                    path: self.path.clone(),
                    message: format!(
                        "{} has {} bases in the file where the index promised {}",
                        region,
                        seq.len(),
                        hi - lo
                    ),
                });
            }
            out.extend_from_slice(seq);
        }
        out.resize(iv.len() as usize, b'N');
        Ok(())
    }

    /// Checks, once per record, that the index agrees with the file: the byte before the
    /// sequence ends a line, and the sequence ends exactly where the index says.
    fn check_record(&mut self, i: usize) -> Result<()> {
        if self.checked[i] {
            return Ok(());
        }
        let r = &self.records[i];
        let name = r.name().to_string();
        let (len, offset, lb, lw) = (r.length(), r.position(), r.line_base_count().get(), r.line_width().get());
        let stale = |message: String| Error::StaleIndex { path: self.path.clone(), message };
        if lw <= lb {
            return Err(stale(format!("{name}: line width {lw} not larger than bases per line {lb}")));
        }
        // Byte offset one past the last base.
        let full = len / lb;
        let rem = len % lb;
        let end = offset + full * lw + rem - if rem == 0 { lw - lb } else { 0 };
        let inner = self.reader.get_mut();
        let mut probe = [0u8; 1];
        if offset > 0 {
            inner.seek(SeekFrom::Start(offset - 1)).map_err(|e| Error::io(&self.path, e))?;
            let ok = inner.read(&mut probe).map_err(|e| Error::io(&self.path, e))? == 1 && probe[0] == b'\n';
            if !ok {
                return Err(stale(format!("{name}: offset {offset} is not the start of a line")));
            }
        }
        // The last base must be a sequence letter and be followed by a line end or EOF.
        inner.seek(SeekFrom::Start(end - 1)).map_err(|e| Error::io(&self.path, e))?;
        let mut tail = [0u8; 2];
        let mut got = 0;
        while got < 2 {
            let k = inner.read(&mut tail[got..]).map_err(|e| Error::io(&self.path, e))?;
            if k == 0 {
                break;
            }
            got += k;
        }
        let last_ok = got >= 1 && tail[0].is_ascii_alphabetic();
        let after_ok = got == 1 || matches!(tail[1], b'\n' | b'\r');
        if !(last_ok && after_ok) {
            return Err(stale(format!(
                "{name}: the index says {len} bases ending at byte {end}, but the file differs there"
            )));
        }
        self.checked[i] = true;
        Ok(())
    }
}

fn read_fai(path: &Path) -> Result<Vec<fai::Record>> {
    let index =
        fai::fs::read(path).map_err(|e| Error::malformed(path, "file", format!("cannot parse FASTA index: {e}")))?;
    Ok(Vec::from(index))
}

fn write_fai_best_effort(fai_path: &Path, records: &[fai::Record]) {
    let result = crate::io::atomic::write_atomic(fai_path, |w| {
        let mut writer = fai::io::Writer::new(w);
        writer.write_index(&fai::Index::from(records.to_vec()))
    });
    match result {
        Ok(()) => tracing::info!("wrote FASTA index {}", fai_path.display()),
        Err(e) => tracing::warn!("could not write {} ({e}); keeping the index in memory", fai_path.display()),
    }
}
