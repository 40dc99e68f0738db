//! Reading variant sites from a VCF (plain or bgzip): the first five columns, streamed.
//!
//! Only `CHROM POS ID REF ALT` are read, so sites-only files with or without the `#CHROM` header
//! line (as eQTL fine-mapping tables are often shared) are accepted; lines starting with `#` are
//! skipped. `POS` is 1-based as in the file. Alleles are kept as written; each ALT of a
//! multi-allelic record is classified separately by [`Allele::parse`], so one unscorable ALT
//! (`<DEL>`, `*`, `.`, a breakend) does not hide the others.
//!
//! A dedicated reader rather than noodles' VCF reader: noodles requires the full header (it
//! refuses files without `#CHROM`), and scoring needs none of the header, INFO or samples.

use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};

use noodles::bgzf;

use crate::error::{Error, Result};

/// One VCF record (site) with its alternate alleles.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Site {
    /// Line in the file (1-based), for messages.
    pub line: u64,
    /// Chromosome as written in the VCF.
    pub chrom: String,
    /// Position of the first REF base, 1-based as in the VCF (0 for a telomere record, which
    /// scoring rejects).
    pub pos: u64,
    /// ID column (`.` when missing).
    pub id: String,
    /// Reference allele as written.
    pub reference: String,
    /// Alternate alleles, in order.
    pub alts: Vec<Allele>,
}

/// An alternate allele: bases that can be scored, or the reason it cannot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Allele {
    /// Upper-case bases (ACGTN).
    Bases(String),
    /// As written, with why it is not scored.
    Unscorable(String, &'static str),
}

impl Allele {
    /// Classifies one ALT field.
    pub fn parse(alt: &str) -> Self {
        let reason = if alt.is_empty() || alt == "." {
            Some("missing ALT allele")
        } else if alt == "*" {
            Some("`*` (allele missing due to an upstream deletion)")
        } else if alt.starts_with('<') {
            Some("symbolic allele")
        } else if alt.contains('[') || alt.contains(']') {
            Some("breakend")
        } else if !alt.bytes().all(|b| matches!(b.to_ascii_uppercase(), b'A' | b'C' | b'G' | b'T' | b'N')) {
            Some("ALT holds characters other than ACGTN")
        } else {
            None
        };
        match reason {
            Some(r) => Self::Unscorable(alt.to_string(), r),
            None => Self::Bases(alt.to_ascii_uppercase()),
        }
    }

    /// The allele as written (upper-cased when scorable).
    pub fn text(&self) -> &str {
        match self {
            Self::Bases(s) | Self::Unscorable(s, _) => s,
        }
    }
}

/// Streams [`Site`]s from a VCF file.
pub struct VcfReader {
    path: PathBuf,
    inner: Box<dyn BufRead + Send>,
    line: u64,
    buf: String,
}

impl VcfReader {
    /// Opens a plain or bgzip-compressed VCF (plain gzip is refused with a hint).
    pub fn open(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref().to_path_buf();
        let mut file = File::open(&path).map_err(|e| Error::io(&path, e))?;
        let mut head = [0u8; 18];
        let n = read_up_to(&mut file, &mut head).map_err(|e| Error::io(&path, e))?;
        let file = File::open(&path).map_err(|e| Error::io(&path, e))?;
        let inner: Box<dyn BufRead + Send> = if n >= 2 && head[0] == 0x1f && head[1] == 0x8b {
            let bgzf = n >= 16 && head[3] & 4 != 0 && head[12] == b'B' && head[13] == b'C';
            if !bgzf {
                return Err(Error::malformed(
                    &path,
                    "header",
                    "gzip-compressed but not bgzip: recompress with `bgzip`",
                ));
            }
            Box::new(BufReader::new(bgzf::io::Reader::new(file)))
        } else {
            Box::new(BufReader::new(file))
        };
        Ok(Self { path, inner, line: 0, buf: String::new() })
    }

    /// The file being read.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The next site, `None` at the end of the file.
    pub fn next_site(&mut self) -> Result<Option<Site>> {
        loop {
            self.buf.clear();
            let n = self.inner.read_line(&mut self.buf).map_err(|e| Error::io(&self.path, e))?;
            if n == 0 {
                return Ok(None);
            }
            self.line += 1;
            let text = self.buf.trim_end_matches(['\n', '\r']);
            if text.is_empty() || text.starts_with('#') {
                continue;
            }
            return self.parse(text).map(Some);
        }
    }

    fn parse(&self, text: &str) -> Result<Site> {
        let at = || format!("line {}", self.line);
        let f: Vec<&str> = text.split('\t').collect();
        if f.len() < 5 {
            return Err(Error::malformed(
                &self.path,
                at(),
                format!("{} tab-separated fields, a VCF record needs CHROM POS ID REF ALT", f.len()),
            ));
        }
        let pos: u64 =
            f[1].parse().ok().filter(|&p| p <= crate::genome::bed::MAX_COORDINATE).ok_or_else(|| {
                Error::malformed(&self.path, at(), format!("POS {:?} is not a 1-based position", f[1]))
            })?;
        let reference = f[3];
        if reference.is_empty()
            || !reference.bytes().all(|b| matches!(b.to_ascii_uppercase(), b'A' | b'C' | b'G' | b'T' | b'N'))
        {
            return Err(Error::malformed(&self.path, at(), format!("REF {reference:?} is not a run of ACGTN")));
        }
        if f[0].is_empty() {
            return Err(Error::malformed(&self.path, at(), "empty CHROM"));
        }
        Ok(Site {
            line: self.line,
            chrom: f[0].to_string(),
            pos,
            id: f[2].to_string(),
            reference: reference.to_ascii_uppercase(),
            alts: f[4].split(',').map(Allele::parse).collect(),
        })
    }
}

fn read_up_to(r: &mut impl Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        let k = r.read(&mut buf[n..])?;
        if k == 0 {
            break;
        }
        n += k;
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sites(text: &str) -> Result<Vec<Site>> {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("v.vcf");
        std::fs::write(&p, text).unwrap();
        let mut r = VcfReader::open(&p)?;
        let mut v = Vec::new();
        while let Some(s) = r.next_site()? {
            v.push(s);
        }
        Ok(v)
    }

    #[test]
    fn reads_sites_and_splits_alleles() {
        let v = sites(
            "##fileformat=VCFv4.2\n#CHROM\tPOS\tID\tREF\tALT\n1\t5\trs1\tg\tA,<DEL>,*,.,TT\n2\t9\t.\tAC\tA\t.\t.\n",
        )
        .unwrap();
        assert_eq!(v.len(), 2);
        assert_eq!((v[0].line, v[0].pos, v[0].reference.as_str()), (3, 5, "G"));
        assert_eq!(v[0].alts[0], Allele::Bases("A".into()));
        assert!(matches!(v[0].alts[1], Allele::Unscorable(_, "symbolic allele")));
        assert!(matches!(v[0].alts[2], Allele::Unscorable(..)));
        assert!(matches!(v[0].alts[3], Allele::Unscorable(_, "missing ALT allele")));
        assert_eq!(v[0].alts[4], Allele::Bases("TT".into()));
        assert_eq!(v[1].line, 4);
    }

    #[test]
    fn bad_records_name_their_line() {
        assert_eq!(sites("1\t0\t.\tA\tG\n").unwrap()[0].pos, 0);
        assert!(sites("1\t-3\t.\tA\tG\n").unwrap_err().to_string().contains("line 1"));
        assert!(sites("#h\n1\tx\t.\tA\tG\n").unwrap_err().to_string().contains("line 2"));
        assert!(sites("1\t5\t.\tA\n").unwrap_err().to_string().contains("CHROM POS ID REF ALT"));
        assert!(sites("1\t5\t.\t<X>\tG\n").unwrap_err().to_string().contains("REF"));
    }
}
