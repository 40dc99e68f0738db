//! Indexed FASTA access: plain or bgzip-compressed, with region queries padded with N.
//!
//! [`Fasta::open`] accepts what `samtools faidx` accepts:
//! - plain FASTA with `<file>.fai`; without one the file is indexed on the fly and the index is
//!   written next to it (as samtools does) when the folder is writable, else kept in memory;
//! - bgzip FASTA with `<file>.gzi` and `<file>.fai` (a missing `.fai` is built in memory; a
//!   missing `.gzi` is an error, since random access is impossible without it). Plain gzip is
//!   rejected with a hint to recompress with bgzip.
//!
//! A stale `.fai` is reported instead of silently returning wrong bases: the first time a
//! chromosome is read, its entry is checked against the file (the line before the offset is the
//! record's own `>` header, the sequence ends where the index says), and every fetch reads the raw
//! bytes of its region and checks that line ends fall exactly where the index's line width and
//! bases-per-line put them.

use std::collections::HashMap;
use std::fs::File;
use std::io::{BufReader, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use noodles::bgzf;
use noodles::fasta::{self, fai};

use crate::error::{Error, Result};
use crate::genome::coords::Interval;
use crate::genome::fasta_index::index_fasta;

type Inner = fasta::io::BufReader<File>;

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
    /// Raw bytes of the last fetched region (reused between fetches).
    raw: Vec<u8>,
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
        Ok(Self { path, reader, records, by_name, checked, raw: Vec::new() })
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
        let len = self.chrom_len(iv.chrom())?;
        if iv.start() < 0 || iv.end() as u64 > len {
            return Err(Error::BadInterval {
                chrom: iv.chrom().to_string(),
                start: iv.start(),
                end: iv.end(),
                message: format!("outside the chromosome (length {len}) and padding was not requested"),
            });
        }
        self.fetch(iv)
    }

    /// Appends the bases of `iv` to `out` (cleared first), padding with `N` outside the
    /// chromosome.
    pub fn fetch_into(&mut self, iv: &Interval, out: &mut Vec<u8>) -> Result<()> {
        out.clear();
        if iv.len() > crate::model::analysis::MAX_INPUT_LENGTH {
            return Err(Error::BadInterval {
                chrom: iv.chrom().to_string(),
                start: iv.start(),
                end: iv.end(),
                message: format!(
                    "{} bp is longer than one fetch may be ({} bp)",
                    iv.len(),
                    crate::model::analysis::MAX_INPUT_LENGTH
                ),
            });
        }
        let i = self.lookup(iv.chrom())?;
        self.check_record(i)?;
        let len = self.records[i].length() as i64;
        let lo = iv.start().clamp(0, len);
        let hi = iv.end().clamp(0, len).max(lo);
        let left_pad = (lo - iv.start()).min(iv.end() - iv.start()).max(0) as usize;
        out.resize(left_pad, b'N');
        if hi > lo {
            self.read_bases(i, lo as u64, hi as u64, out)?;
        }
        out.resize(iv.len() as usize, b'N');
        Ok(())
    }

    /// Appends bases `lo..hi` (0-based, within the chromosome) of record `i` to `out`, reading
    /// the raw bytes and checking that every line break sits where the index puts it.
    fn read_bases(&mut self, i: usize, lo: u64, hi: u64, out: &mut Vec<u8>) -> Result<()> {
        let r = &self.records[i];
        let (offset, lb, lw) = (r.position(), r.line_base_count().get(), r.line_width().get());
        let byte_of = |base: u64| offset + (base / lb) * lw + base % lb;
        let first = byte_of(lo);
        let span = (byte_of(hi - 1) + 1 - first) as usize;
        self.raw.clear();
        self.raw
            .try_reserve(span)
            .map_err(|_| Error::malformed(&self.path, r.name().to_string(), "region too large"))?;
        let inner = &mut self.reader;
        inner.seek(SeekFrom::Start(first)).map_err(|e| Error::io(&self.path, e))?;
        (&mut *inner).take(span as u64).read_to_end(&mut self.raw).map_err(|e| Error::io(&self.path, e))?;
        let stale = |byte: u64, what: &str| Error::StaleIndex {
            path: self.path.clone(),
            message: format!(
                "{}:{}-{}: byte {byte} {what}; the index (offset {offset}, {lb} bases per line, {lw} bytes per \
                 line) does not match the file",
                r.name(),
                lo,
                hi
            ),
        };
        if self.raw.len() != span {
            return Err(stale(first + self.raw.len() as u64, "is past the end of the file"));
        }
        let eol: &[u8] = if lw - lb == 2 { b"\r\n" } else { b"\n" };
        let mut col = lo % lb;
        let mut at = 0usize;
        let mut base = lo;
        while base < hi {
            let run = (lb - col).min(hi - base) as usize;
            let bases = &self.raw[at..at + run];
            if let Some(k) = bases.iter().position(|b| !is_base(*b)) {
                return Err(stale(first + (at + k) as u64, &format!("is {:?}, not a base", bases[k] as char)));
            }
            out.extend_from_slice(bases);
            at += run;
            base += run as u64;
            col = 0;
            if base < hi {
                let end = &self.raw[at..at + eol.len()];
                if end != eol {
                    return Err(stale(first + at as u64, "should end a line but does not"));
                }
                at += eol.len();
            }
        }
        Ok(())
    }

    /// Checks, once per record, that the index agrees with the file: the line before the
    /// sequence is the record's own header (`>name`), line ends are `\n` or `\r\n`, and the
    /// sequence ends exactly where the index says.
    fn check_record(&mut self, i: usize) -> Result<()> {
        if self.checked[i] {
            return Ok(());
        }
        let r = &self.records[i];
        let name = r.name().to_string();
        let (len, offset, lb, lw) = (r.length(), r.position(), r.line_base_count().get(), r.line_width().get());
        let path = self.path.clone();
        let stale = |message: String| Error::StaleIndex { path: path.clone(), message };
        if !matches!(lw.checked_sub(lb), Some(1 | 2)) {
            return Err(stale(format!(
                "{name}: line width {lw} is not bases per line {lb} plus a line end of 1 or 2 bytes"
            )));
        }
        if len == 0 {
            return Err(stale(format!("{name}: the index lists it with length 0")));
        }
        // Byte offset one past the last base.
        let (full, rem) = (len / lb, len % lb);
        let end = full
            .checked_mul(lw)
            .and_then(|b| b.checked_add(offset))
            .and_then(|b| b.checked_add(rem))
            .map(|b| if rem == 0 { b - (lw - lb) } else { b })
            .ok_or_else(|| stale(format!("{name}: offset {offset} and length {len} overflow")))?;
        self.check_header(&name, offset).map_err(|m| stale(format!("{name}: {m}")))?;
        // The last base must be a sequence letter and be followed by a line end or EOF.
        let inner = &mut self.reader;
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
        let last_ok = got >= 1 && is_base(tail[0]);
        let after_ok = got == 1 || matches!(tail[1], b'\n' | b'\r');
        if !(last_ok && after_ok) {
            return Err(stale(format!(
                "{name}: the index says {len} bases ending at byte {end}, but the file differs there"
            )));
        }
        self.checked[i] = true;
        Ok(())
    }

    /// Checks that the line ending just before byte `offset` is the header of `name`.
    /// Returns what disagrees. Headers longer than [`MAX_HEADER`] bytes are not checked.
    fn check_header(&mut self, name: &str, offset: u64) -> std::result::Result<(), String> {
        let io = |e: std::io::Error| format!("cannot read the header: {e}");
        let back = offset.min(MAX_HEADER);
        let mut buf = vec![0u8; back as usize];
        self.reader.seek(SeekFrom::Start(offset - back)).map_err(io)?;
        self.reader.read_exact(&mut buf).map_err(|_| format!("offset {offset} is past the end of the file"))?;
        let Some(body) = buf.strip_suffix(b"\n") else {
            return Err(format!("offset {offset} is not the start of a line"));
        };
        let body = body.strip_suffix(b"\r").unwrap_or(body);
        let line = match body.iter().rposition(|&b| b == b'\n') {
            Some(k) => &body[k + 1..],
            None if back < offset => return Ok(()),
            None => body,
        };
        let header = line.strip_prefix(b">").map(|h| String::from_utf8_lossy(h).into_owned());
        match header.as_deref().and_then(|h| h.split_whitespace().next()) {
            Some(found) if found == name => Ok(()),
            Some(found) => Err(format!("offset {offset} follows the header of {found:?}, not of {name:?}")),
            None => Err(format!("offset {offset} does not follow a '>' header line")),
        }
    }
}

/// Longest header line (bytes) that [`Fasta::check_header`] reads back to verify.
const MAX_HEADER: u64 = 1 << 16;

/// A byte that may appear in a FASTA sequence line (as [`index_fasta`] accepts).
fn is_base(b: u8) -> bool {
    b.is_ascii_alphabetic() || b == b'*' || b == b'-'
}

fn read_fai(path: &Path) -> Result<Vec<fai::Record>> {
    let file = File::open(path).map_err(|e| Error::io(path, e))?;
    crate::genome::fasta_index::read_fai(BufReader::new(file), path)
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
