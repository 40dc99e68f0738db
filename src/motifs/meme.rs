//! MEME motif files (version 4 text, DNA): reading with strict validation, and writing.
//!
//! A motif is a letter-probability matrix: one row of the file per motif position, four values
//! per row in the order A, C, G, T, each row summing to 1. The reader accepts the header lines
//! MEME writes (`MEME version`, `ALPHABET= ACGT`, `strands:`, `Background letter frequencies`),
//! `MOTIF <id> [<alt>]` lines, `letter-probability matrix:` headers with `alength=`, `w=`,
//! `nsites=` and `E=` fields, and `URL` lines; other text between motifs (e.g. MEME's own
//! `log-odds matrix` sections and summaries) is skipped. It rejects, naming the file, the motif
//! and the line: a row that does not sum to 1 ± 0.01, a row without exactly four values, a value
//! that is not a finite number in [0, 1], a `w=` that differs from the number of rows, a motif
//! without a letter-probability matrix, and an alphabet other than ACGT.

use std::io::Write;
use std::path::Path;

use crate::error::{Error, Result};

/// How far a row of a letter-probability matrix may sum from 1 and still be read.
pub const SUM_TOLERANCE: f64 = 0.01;

/// A DNA motif: a position probability matrix with its MEME identity.
#[derive(Debug, Clone, PartialEq)]
pub struct Motif {
    /// The motif identifier: the first word after `MOTIF` (e.g. `MA0139.2`).
    pub id: String,
    /// The alternative name: the second word after `MOTIF` (e.g. `CTCF`), if any.
    pub alt: Option<String>,
    /// One entry per motif position (5′ → 3′), probabilities of A, C, G, T summing to 1.
    pub probs: Vec<[f64; 4]>,
    /// The number of sites the matrix was built from (`nsites=`), if given.
    pub sites: Option<usize>,
}

/// IUPAC codes indexed by a bit set of bases (A = 1, C = 2, G = 4, T = 8).
const IUPAC: [char; 16] = ['N', 'A', 'C', 'M', 'G', 'R', 'S', 'V', 'T', 'W', 'Y', 'H', 'K', 'D', 'B', 'N'];

impl Motif {
    /// The motif's width (number of positions).
    pub fn width(&self) -> usize {
        self.probs.len()
    }

    /// The IUPAC consensus, one letter per position, in the style of MEME's tools: a base with
    /// probability ≥ 0.5 that is at least twice the runner-up is written alone; else the two most
    /// probable bases as a two-base code when together they reach 0.75; else `N`.
    pub fn consensus(&self) -> String {
        self.probs
            .iter()
            .map(|col| {
                let mut order = [0usize, 1, 2, 3];
                order.sort_by(|&a, &b| col[b].total_cmp(&col[a]));
                let (first, second) = (order[0], order[1]);
                if col[first] >= 0.5 && col[first] >= 2.0 * col[second] {
                    IUPAC[1 << first]
                } else if col[first] + col[second] >= 0.75 {
                    IUPAC[(1 << first) | (1 << second)]
                } else {
                    'N'
                }
            })
            .collect()
    }

    /// Information content of each position in bits against a uniform background:
    /// 2 + Σ p·log2 p (0 for a uniform column, 2 for a single base).
    pub fn information(&self) -> Vec<f64> {
        self.probs
            .iter()
            .map(|col| 2.0 + col.iter().filter(|&&p| p > 0.0).map(|&p| p * p.log2()).sum::<f64>())
            .collect()
    }

    /// The motif of the opposite strand: positions reversed and A↔T, C↔G swapped (the
    /// project's reverse-complement convention). Identity and site count are kept.
    pub fn reverse_complement(&self) -> Motif {
        Motif {
            id: self.id.clone(),
            alt: self.alt.clone(),
            probs: self.probs.iter().rev().map(|c| [c[3], c[2], c[1], c[0]]).collect(),
            sites: self.sites,
        }
    }
}

/// Reads every motif of a MEME file (see the module documentation for what is accepted and what
/// is rejected). Rows are renormalised to sum to exactly 1. A file without motifs is an error.
pub fn read_meme(path: &Path) -> Result<Vec<Motif>> {
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    let text = String::from_utf8(bytes)
        .map_err(|e| Error::malformed(path, format!("byte {}", e.utf8_error().valid_up_to()), "not UTF-8 text"))?;
    parse_meme(&text, &path.display().to_string())
}

/// Parses MEME text; `source` names it in errors (a file path, or e.g. `"<stdin>"`).
pub fn parse_meme(text: &str, source: &str) -> Result<Vec<Motif>> {
    let bad = |line: usize, message: String| Error::malformed(source, format!("line {line}"), message);
    let lines: Vec<&str> = text.lines().collect();
    let mut motifs = Vec::new();
    // The motif being read: (MOTIF line number, id, alt, matrix found).
    let mut current: Option<(usize, String, Option<String>, bool)> = None;
    let mut i = 0;
    while i < lines.len() {
        let line = lines[i].trim();
        let n = i + 1;
        i += 1;
        if let Some(rest) = line.strip_prefix("ALPHABET") {
            let value = rest.trim_start_matches(['=', ' ', '\t']).trim();
            if value != "ACGT" {
                return Err(bad(n, format!("alphabet {value:?} is not supported (only ALPHABET= ACGT)")));
            }
        } else if line == "MOTIF" || line.starts_with("MOTIF ") || line.starts_with("MOTIF\t") {
            if let Some((at, id, _, false)) = &current {
                return Err(bad(*at, format!("motif {id}: no letter-probability matrix")));
            }
            let mut words = line["MOTIF".len()..].split_whitespace();
            let Some(id) = words.next() else {
                return Err(bad(n, "MOTIF line without an identifier".into()));
            };
            current = Some((n, id.to_string(), words.next().map(String::from), false));
        } else if let Some(fields) = line.strip_prefix("letter-probability matrix") {
            let Some((_, id, alt, found)) = current.as_mut() else {
                return Err(bad(n, "letter-probability matrix before any MOTIF line".into()));
            };
            if *found {
                return Err(bad(n, format!("motif {id}: a second letter-probability matrix")));
            }
            *found = true;
            let header =
                parse_header(fields.trim_start_matches(':')).map_err(|m| bad(n, format!("motif {id}: {m}")))?;
            if header.alength.is_some_and(|a| a != 4) {
                return Err(bad(
                    n,
                    format!("motif {id}: alength= {} (only 4, ACGT, is supported)", header.alength.unwrap_or(0)),
                ));
            }
            // Rows: the non-blank lines up to a blank line, a keyword line or the end; blank
            // lines before the first row are skipped.
            while i < lines.len() && lines[i].trim().is_empty() {
                i += 1;
            }
            let mut probs = Vec::new();
            while i < lines.len() {
                let row = lines[i].trim();
                if row.is_empty() || is_keyword(row) {
                    break;
                }
                probs.push(
                    parse_row(row).map_err(|m| bad(i + 1, format!("motif {id}: position {}: {m}", probs.len() + 1)))?,
                );
                i += 1;
            }
            if let Some(w) = header.width {
                if w != probs.len() {
                    return Err(bad(n, format!("motif {id}: w= {w} but the matrix has {} rows", probs.len())));
                }
            }
            if probs.is_empty() {
                return Err(bad(n, format!("motif {id}: the letter-probability matrix has no rows")));
            }
            motifs.push(Motif { id: id.clone(), alt: alt.clone(), probs, sites: header.sites });
        } else if line.starts_with("log-odds matrix") {
            // MEME's own output: skip the log-odds rows (they need not sum to 1).
            while i < lines.len() && !lines[i].trim().is_empty() && !is_keyword(lines[i].trim()) {
                i += 1;
            }
        }
    }
    if let Some((at, id, _, false)) = &current {
        return Err(bad(*at, format!("motif {id}: no letter-probability matrix")));
    }
    if motifs.is_empty() {
        return Err(Error::Empty {
            path: source.into(),
            what: "no motifs (no MOTIF with a letter-probability matrix)".into(),
        });
    }
    Ok(motifs)
}

/// Lines that end a matrix's rows.
fn is_keyword(line: &str) -> bool {
    ["MOTIF", "URL", "letter-probability", "log-odds", "MEME", "ALPHABET", "strands", "Background"]
        .iter()
        .any(|k| line.starts_with(k))
}

/// The fields of a `letter-probability matrix:` line.
struct Header {
    alength: Option<usize>,
    width: Option<usize>,
    sites: Option<usize>,
}

/// Parses `alength= 4 w= 9 nsites= 20 E= 0` (spaces after `=` optional; `E=` is not used).
fn parse_header(fields: &str) -> std::result::Result<Header, String> {
    let mut header = Header { alength: None, width: None, sites: None };
    let mut tokens = fields.split_whitespace().peekable();
    while let Some(tok) = tokens.next() {
        let Some((key, value)) = tok.split_once('=') else { continue };
        let value = if value.is_empty() { tokens.next().unwrap_or("") } else { value };
        let count = |what: &str| -> std::result::Result<usize, String> {
            match value.parse::<f64>() {
                Ok(v) if v.is_finite() && v >= 0.0 && v.fract() == 0.0 => Ok(v as usize),
                _ => Err(format!("{what}= {value:?} is not a whole number")),
            }
        };
        match key {
            "alength" => header.alength = Some(count("alength")?),
            "w" => header.width = Some(count("w")?),
            // Some tools write fractional site counts; they are rounded.
            "nsites" => match value.parse::<f64>() {
                Ok(v) if v.is_finite() && v >= 0.0 => header.sites = Some(v.round() as usize),
                _ => return Err(format!("nsites= {value:?} is not a number")),
            },
            _ => {}
        }
    }
    Ok(header)
}

/// Parses one matrix row: exactly four finite numbers in [0, 1] summing to 1 ± [`SUM_TOLERANCE`],
/// returned renormalised to sum to 1.
fn parse_row(row: &str) -> std::result::Result<[f64; 4], String> {
    let words: Vec<&str> = row.split_whitespace().collect();
    if words.len() != 4 {
        return Err(format!("expected 4 values (A C G T), found {} in {row:?}", words.len()));
    }
    let mut col = [0.0; 4];
    for (c, w) in col.iter_mut().zip(&words) {
        *c = match w.parse::<f64>() {
            Ok(v) if v.is_finite() => v,
            _ => return Err(format!("{w:?} is not a number")),
        };
        if !(0.0..=1.0 + SUM_TOLERANCE).contains(c) {
            return Err(format!("probability {w} is outside [0, 1]"));
        }
    }
    let sum: f64 = col.iter().sum();
    if (sum - 1.0).abs() > SUM_TOLERANCE {
        return Err(format!("values sum to {sum:.4}, not 1 (± {SUM_TOLERANCE})"));
    }
    Ok(col.map(|v| v / sum))
}

/// Writes motifs as MEME version 4 text (`ALPHABET= ACGT`, both strands, the given background
/// letter frequencies A, C, G, T), atomically: the file appears complete or not at all. Each
/// motif is `MOTIF <id> [<alt>]` and a `letter-probability matrix:` with `alength= 4`, `w=`,
/// `nsites=` (20 when unknown, MEME's default) and `E= 0`, values with six decimals.
/// Identifiers and names must be single non-empty words, every motif must have a position, and
/// the background must sum to 1 ± 0.01.
pub fn write_meme(path: &Path, motifs: &[Motif], background: [f64; 4]) -> Result<()> {
    let bg_sum: f64 = background.iter().sum();
    if background.iter().any(|b| !b.is_finite() || *b < 0.0) || (bg_sum - 1.0).abs() > SUM_TOLERANCE {
        return Err(Error::InvalidArgument(format!("background {background:?} does not sum to 1")));
    }
    for m in motifs {
        let one_word = |s: &str| !s.is_empty() && !s.contains(char::is_whitespace);
        if !one_word(&m.id) || m.alt.as_deref().is_some_and(|a| !one_word(a)) {
            return Err(Error::InvalidArgument(format!(
                "motif {:?} ({:?}): MEME identifiers and names must be single words",
                m.id, m.alt
            )));
        }
        if m.probs.is_empty() {
            return Err(Error::InvalidArgument(format!("motif {}: no positions", m.id)));
        }
    }
    crate::io::atomic::write_atomic(path, |w| {
        writeln!(w, "MEME version 4\n\nALPHABET= ACGT\n\nstrands: + -\n\nBackground letter frequencies")?;
        writeln!(w, "A {:.6} C {:.6} G {:.6} T {:.6}\n", background[0], background[1], background[2], background[3])?;
        for m in motifs {
            match &m.alt {
                Some(alt) => writeln!(w, "MOTIF {} {alt}", m.id)?,
                None => writeln!(w, "MOTIF {}", m.id)?,
            }
            let sites = m.sites.unwrap_or(20);
            writeln!(w, "letter-probability matrix: alength= 4 w= {} nsites= {sites} E= 0", m.probs.len())?;
            for col in &m.probs {
                let sum: f64 = col.iter().sum();
                let c = if sum > 0.0 { col.map(|v| v / sum) } else { [0.25; 4] };
                writeln!(w, "{:.6} {:.6} {:.6} {:.6}", c[0], c[1], c[2], c[3])?;
            }
            writeln!(w)?;
        }
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(text: &str) -> Motif {
        parse_meme(text, "t.meme").unwrap().remove(0)
    }

    #[test]
    fn consensus_information_and_reverse_complement() {
        let m = one(
            "MOTIF m x\nletter-probability matrix: alength= 4 w= 4\n1 0 0 0\n0.5 0.5 0 0\n0.25 0.25 0.25 0.25\n0.1 0.1 0.1 0.7\n",
        );
        assert_eq!(m.consensus(), "AMNT");
        let info = m.information();
        assert!((info[0] - 2.0).abs() < 1e-12 && (info[1] - 1.0).abs() < 1e-12 && info[2].abs() < 1e-12);
        let rc = m.reverse_complement();
        assert_eq!(rc.consensus(), "ANKT");
        assert_eq!(rc.reverse_complement(), m);
    }

    #[test]
    fn header_fields_without_spaces_and_meme_output_sections() {
        let text =
            "MEME version 4\nALPHABET= ACGT\nstrands: +\nMOTIF a\nlog-odds matrix: alength= 4 w= 1\n-1 2 -3 4\n\n\
                    letter-probability matrix: alength=4 w=1 nsites=7.0 E=1e-3\n0.1 0.2 0.3 0.4\nURL http://x\n";
        let m = one(text);
        assert_eq!((m.id.as_str(), m.alt.clone(), m.sites, m.width()), ("a", None, Some(7), 1));
    }
}
