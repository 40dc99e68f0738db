//! Building a FASTA index (`.fai`) as `samtools faidx` does, from any uncompressed byte stream.
//!
//! noodles' indexer is strict about header lines (`> chr1`, with a space, is common in the wild
//! and accepted by samtools) and reports errors without line numbers; this indexer accepts what
//! samtools accepts and names the line of anything it rejects.
//!
//! Rules: a header is `>` followed by optional blanks and the name (up to the first
//! whitespace); within a record every sequence line but the last has the same number of bases
//! and bytes; blank lines may only end a record; sequence lines hold letters, `*` or `-`.

use std::collections::HashSet;
use std::io::BufRead;
use std::num::NonZero;
use std::path::Path;

use noodles::fasta::fai;

use crate::error::{Error, Result};

/// One record under construction.
struct Open {
    name: String,
    header_line: u64,
    offset: u64,
    length: u64,
    line_bases: u64,
    line_width: u64,
    /// Set once a line shorter than `line_bases` (or a blank line) was seen: only blank lines
    /// may follow before the next header.
    closed_at: Option<u64>,
}

/// Indexes a FASTA stream. `path` is used in error messages only.
///
/// Returns the records in file order. Fails on duplicate names, empty records, ragged line
/// lengths, invalid characters, or sequence before the first header.
pub fn index_fasta<R: BufRead>(mut reader: R, path: &Path) -> Result<Vec<fai::Record>> {
    let mut records = Vec::new();
    let mut seen = HashSet::new();
    let mut current: Option<Open> = None;
    let mut offset: u64 = 0;
    let mut line_no: u64 = 0;
    let mut buf = Vec::with_capacity(256);

    loop {
        buf.clear();
        let n = reader.read_until(b'\n', &mut buf).map_err(|e| Error::io(path, e))?;
        if n == 0 {
            break;
        }
        line_no += 1;
        let width = n as u64;
        let mut content: &[u8] = &buf;
        if let Some(stripped) = content.strip_suffix(b"\n") {
            content = stripped;
        }
        if let Some(stripped) = content.strip_suffix(b"\r") {
            content = stripped;
        }
        let at = || format!("line {line_no}");

        if let Some(header) = content.strip_prefix(b">") {
            if let Some(open) = current.take() {
                records.push(finish(open, path)?);
            }
            let name = std::str::from_utf8(header)
                .map_err(|_| Error::malformed(path, at(), "header is not UTF-8"))?
                .split_whitespace()
                .next()
                .unwrap_or("")
                .to_string();
            if name.is_empty() {
                return Err(Error::malformed(path, at(), "header line without a sequence name"));
            }
            if !seen.insert(name.clone()) {
                return Err(Error::malformed(path, at(), format!("duplicate sequence name {name:?}")));
            }
            current = Some(Open {
                name,
                header_line: line_no,
                offset: offset + width,
                length: 0,
                line_bases: 0,
                line_width: 0,
                closed_at: None,
            });
        } else {
            let bases = content.len() as u64;
            match current.as_mut() {
                None => {
                    if bases > 0 {
                        return Err(Error::malformed(path, at(), "sequence before the first '>' header"));
                    }
                }
                Some(open) => {
                    if bases == 0 {
                        open.closed_at.get_or_insert(line_no);
                    } else {
                        if let Some(pos) = content.iter().position(|b| !is_sequence_byte(*b)) {
                            return Err(Error::malformed(
                                path,
                                at(),
                                format!(
                                    "invalid character {:?} in sequence {:?} (column {})",
                                    content[pos] as char,
                                    open.name,
                                    pos + 1
                                ),
                            ));
                        }
                        if let Some(closed) = open.closed_at {
                            return Err(Error::malformed(
                                path,
                                at(),
                                format!(
                                    "sequence {:?}: line length differs from the lines before line {closed} \
                                     (all lines but the last must have the same length)",
                                    open.name
                                ),
                            ));
                        }
                        if open.line_bases == 0 {
                            open.line_bases = bases;
                            open.line_width = width;
                        } else if bases > open.line_bases || (bases == open.line_bases && width != open.line_width) {
                            return Err(Error::malformed(
                                path,
                                at(),
                                format!(
                                    "sequence {:?}: line has {bases} bases, earlier lines {}",
                                    open.name, open.line_bases
                                ),
                            ));
                        }
                        if bases < open.line_bases {
                            open.closed_at = Some(line_no);
                        }
                        open.length += bases;
                    }
                }
            }
        }
        offset += width;
    }
    if let Some(open) = current.take() {
        records.push(finish(open, path)?);
    }
    if records.is_empty() {
        return Err(Error::Empty { path: path.into(), what: "no FASTA records (no '>' header line)".into() });
    }
    Ok(records)
}

/// Parses a `.fai` index (`name length offset line_bases line_width`, tab-separated, as
/// `samtools faidx` writes it). `path` is used in error messages, which name the line.
pub fn read_fai<R: BufRead>(reader: R, path: &Path) -> Result<Vec<fai::Record>> {
    let mut records = Vec::new();
    let mut seen = HashSet::new();
    for (i, line) in reader.lines().enumerate() {
        let line = line.map_err(|e| Error::io(path, e))?;
        let at = || format!("line {}", i + 1);
        let line = line.trim_end_matches('\r');
        if line.is_empty() {
            continue;
        }
        let fields: Vec<&str> = line.split('\t').collect();
        if fields.len() < 5 {
            return Err(Error::malformed(
                path,
                at(),
                format!(
                    "expected 5 tab-separated fields (name, length, offset, line bases, line width), found {}",
                    fields.len()
                ),
            ));
        }
        let num = |k: usize, what: &str| -> Result<u64> {
            fields[k]
                .parse::<u64>()
                .map_err(|_| Error::malformed(path, at(), format!("{what} {:?} is not a number", fields[k])))
        };
        let (length, offset, bases, width) =
            (num(1, "length")?, num(2, "offset")?, num(3, "line bases")?, num(4, "line width")?);
        let (Some(bases), Some(width)) = (NonZero::new(bases), NonZero::new(width)) else {
            return Err(Error::malformed(path, at(), "line bases and line width must be positive"));
        };
        let name = fields[0].to_string();
        if name.is_empty() || !seen.insert(name.clone()) {
            return Err(Error::malformed(path, at(), format!("empty or duplicate sequence name {name:?}")));
        }
        records.push(fai::Record::new(name, length, offset, bases, width));
    }
    Ok(records)
}

fn finish(open: Open, path: &Path) -> Result<fai::Record> {
    let (Some(bases), Some(width)) = (NonZero::new(open.line_bases), NonZero::new(open.line_width)) else {
        return Err(Error::malformed(
            path,
            format!("line {}", open.header_line),
            format!("sequence {:?} is empty", open.name),
        ));
    };
    Ok(fai::Record::new(open.name, open.length, open.offset, bases, width))
}

fn is_sequence_byte(b: u8) -> bool {
    b.is_ascii_alphabetic() || b == b'*' || b == b'-'
}

#[cfg(test)]
mod tests {
    use super::*;

    fn idx(s: &str) -> Result<Vec<fai::Record>> {
        index_fasta(s.as_bytes(), Path::new("t.fa"))
    }

    #[test]
    fn indexes_like_samtools() {
        let r = idx(">a desc\nACGT\nAC\n> b\nAAAA\nAAAA\n\n").unwrap();
        assert_eq!(r.len(), 2);
        assert_eq!(r[0].name(), "a");
        assert_eq!(
            (r[0].length(), r[0].position(), r[0].line_base_count().get(), r[0].line_width().get()),
            (6, 8, 4, 5)
        );
        assert_eq!(r[1].name(), "b");
        assert_eq!((r[1].length(), r[1].position()), (8, 20));
    }

    #[test]
    fn crlf_counts_in_width() {
        let r = idx(">a\r\nACGT\r\nAC\r\n").unwrap();
        assert_eq!((r[0].position(), r[0].line_width().get(), r[0].line_base_count().get()), (4, 6, 4));
    }

    #[test]
    fn rejects_ragged_lines() {
        let e = idx(">a\nACGT\nAC\nACGT\n").unwrap_err().to_string();
        assert!(e.contains("line 4"), "{e}");
        let e = idx(">a\nACGT\nACGTA\n").unwrap_err().to_string();
        assert!(e.contains("line 3"), "{e}");
    }

    #[test]
    fn fai_errors_name_the_line() {
        let fai = |s: &str| read_fai(s.as_bytes(), Path::new("t.fa.fai"));
        assert_eq!(fai("a\t6\t3\t4\t5\nb\t8\t20\t4\t5\n").unwrap().len(), 2);
        let e = fai("a\t6\t3\t4\t5\nb\t8\tx\t4\t5\n").unwrap_err().to_string();
        assert!(e.contains("line 2") && e.contains("offset"), "{e}");
        assert!(fai("a\t6\t3\n").unwrap_err().to_string().contains("line 1"));
        assert!(fai("a\t6\t3\t0\t1\n").unwrap_err().to_string().contains("positive"));
        assert!(fai("a\t6\t3\t4\t5\na\t6\t3\t4\t5\n").unwrap_err().to_string().contains("duplicate"));
    }

    #[test]
    fn rejects_bad_input() {
        assert!(idx("ACGT\n>a\nAC\n").unwrap_err().to_string().contains("before the first"));
        assert!(idx(">a\nAC GT\n").unwrap_err().to_string().contains("invalid character"));
        assert!(idx(">a\nAC\n>a\nAC\n").unwrap_err().to_string().contains("duplicate"));
        assert!(idx(">a\n>b\nAC\n").unwrap_err().to_string().contains("empty"));
        assert!(idx("").unwrap_err().to_string().contains("no FASTA records"));
        assert!(idx(">\nAC\n").unwrap_err().to_string().contains("without a sequence name"));
    }
}
