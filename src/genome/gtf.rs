//! GTF → transcription start sites (TSS).
//!
//! Each transcript's TSS is its 5′ end: the first base (0-based `start - 1` of the GTF's 1-based
//! start) on `+`, the last base (0-based `end - 1`) on `-`. Transcript extents come from
//! `transcript` lines when the file has them, otherwise from the union of the transcript's
//! other features (exons), as GENCODE excerpts often lack transcript lines.
//!
//! Gene type is read from `gene_type` (GENCODE) or `gene_biotype` (Ensembl).

use std::collections::HashMap;
use std::io::BufRead;
use std::io::Write;
use std::path::Path;

use noodles::gff::feature::record::Strand;
use noodles::gtf;

use crate::error::{Error, Result};
use crate::genome::bed::MAX_COORDINATE;
use crate::genome::coords::{end_from_noodles, start_from_noodles};

/// One transcript's TSS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tss {
    /// `gene_id` attribute.
    pub gene_id: String,
    /// `gene_name` attribute (empty if absent).
    pub gene_name: String,
    /// `transcript_id` attribute.
    pub transcript_id: String,
    /// Chromosome.
    pub chrom: String,
    /// 0-based position of the TSS base.
    pub position: i64,
    /// `+` or `-`.
    pub strand: char,
    /// `gene_type` or `gene_biotype` (empty if absent).
    pub gene_type: String,
}

struct Extent {
    tss: Tss,
    start: i64,
    end: i64,
    from_transcript_line: bool,
}

/// Reads the TSS of every transcript in a GTF file, in order of first appearance, keeping
/// only `gene_type` when given.
pub fn read_tss(path: impl AsRef<Path>, gene_type: Option<&str>) -> Result<Vec<Tss>> {
    let path = path.as_ref();
    let file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let all = parse_tss(std::io::BufReader::new(file), path)?;
    if all.is_empty() {
        return Err(Error::Empty { path: path.into(), what: "no transcripts (no records with transcript_id)".into() });
    }
    Ok(match gene_type {
        Some(t) => all.into_iter().filter(|x| x.gene_type == t).collect(),
        None => all,
    })
}

/// Parses GTF text; `path` names it in errors.
pub fn parse_tss<R: BufRead>(reader: R, path: &Path) -> Result<Vec<Tss>> {
    let mut order: Vec<String> = Vec::new();
    let mut by_tx: HashMap<String, Extent> = HashMap::new();
    let mut line = gtf::Line::default();
    for (i, text) in reader.lines().enumerate() {
        let text = text.map_err(|e| Error::io(path, e))?;
        let at = format!("line {}", i + 1);
        let bad = |m: String| Error::malformed(path, at.clone(), m);
        if text.trim().is_empty() || text.starts_with('#') {
            continue;
        }
        gtf::io::Reader::new(format!("{text}\n").as_bytes())
            .read_line(&mut line)
            .map_err(|e| bad(format!("unreadable GTF line ({e})")))?;
        let Some(record) = line.as_record() else { continue };
        let record = record.map_err(|e| bad(format!("not a GTF record ({e})")))?;
        let attrs = record.attributes().map_err(|e| bad(format!("bad attributes ({e})")))?;
        let get = |key: &str| -> Result<Option<String>> {
            match attrs.get(key.as_bytes()) {
                None => Ok(None),
                Some(v) => {
                    let v = v.map_err(|e| bad(format!("bad attribute {key} ({e})")))?;
                    Ok(v.iter().next().map(|s| s.to_string()))
                }
            }
        };
        let Some(transcript_id) = get("transcript_id")? else { continue };
        let Some(gene_id) = get("gene_id")?.filter(|g| !g.is_empty()) else {
            return Err(bad(format!("transcript {transcript_id} has no gene_id attribute (GTF requires one)")));
        };
        let position = |p: noodles::core::Position, what: &str| {
            if usize::from(p) as u64 > MAX_COORDINATE {
                Err(bad(format!("{what} {p} is beyond any chromosome (limit {MAX_COORDINATE})")))
            } else {
                Ok(p)
            }
        };
        let start =
            start_from_noodles(position(record.start().map_err(|e| bad(format!("bad start ({e})")))?, "start")?);
        let end = end_from_noodles(position(record.end().map_err(|e| bad(format!("bad end ({e})")))?, "end")?);
        if end <= start {
            return Err(bad(format!("end {end} is before start {}", start + 1)));
        }
        let strand = match record.strand().map_err(|e| bad(format!("bad strand ({e})")))? {
            Strand::Forward => '+',
            Strand::Reverse => '-',
            _ => return Err(bad(format!("transcript {transcript_id} has no strand (+ or -); its TSS is undefined"))),
        };
        let is_tx = record.ty() == "transcript";
        let chrom = record.reference_sequence_name().to_string();
        match by_tx.get_mut(&transcript_id) {
            Some(ext) => {
                if ext.tss.chrom != chrom || ext.tss.strand != strand {
                    return Err(bad(format!("transcript {transcript_id} changes chromosome or strand")));
                }
                if is_tx && !ext.from_transcript_line {
                    (ext.start, ext.end, ext.from_transcript_line) = (start, end, true);
                } else if !ext.from_transcript_line {
                    ext.start = ext.start.min(start);
                    ext.end = ext.end.max(end);
                }
            }
            None => {
                let gene_type = match get("gene_type")? {
                    Some(t) => t,
                    None => get("gene_biotype")?.unwrap_or_default(),
                };
                let tss = Tss {
                    gene_id,
                    gene_name: get("gene_name")?.unwrap_or_default(),
                    transcript_id: transcript_id.clone(),
                    chrom,
                    position: 0,
                    strand,
                    gene_type,
                };
                order.push(transcript_id.clone());
                by_tx.insert(transcript_id, Extent { tss, start, end, from_transcript_line: is_tx });
            }
        }
    }
    Ok(order
        .into_iter()
        .filter_map(|id| by_tx.remove(&id))
        .map(|ext| {
            let mut t = ext.tss;
            t.position = if t.strand == '+' { ext.start } else { ext.end - 1 };
            t
        })
        .collect())
}

/// Column header of the TSS table.
pub const TSS_HEADER: &str = "gene_id\tgene_name\ttranscript_id\tchrom\ttss\tstrand\tgene_type";

/// Writes a TSS table (tab-separated, with [`TSS_HEADER`]; `tss` is 0-based).
pub fn write_tss_table<W: Write>(mut w: W, rows: &[Tss]) -> std::io::Result<()> {
    writeln!(w, "{TSS_HEADER}")?;
    for t in rows {
        writeln!(
            w,
            "{}\t{}\t{}\t{}\t{}\t{}\t{}",
            t.gene_id, t.gene_name, t.transcript_id, t.chrom, t.position, t.strand, t.gene_type
        )?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Result<Vec<Tss>> {
        parse_tss(s.as_bytes(), Path::new("t.gtf"))
    }

    #[test]
    fn tss_from_exons_and_transcript_lines() {
        let gtf = "chr1\tX\texon\t101\t200\t.\t+\t.\tgene_id \"g1\"; transcript_id \"t1\"; gene_type \"pc\";\n\
                   chr1\tX\texon\t51\t80\t.\t+\t.\tgene_id \"g1\"; transcript_id \"t1\";\n\
                   chr2\tX\ttranscript\t1000\t2000\t.\t-\t.\tgene_id \"g2\"; transcript_id \"t2\"; gene_biotype \"lnc\";\n\
                   chr2\tX\texon\t1500\t2500\t.\t-\t.\tgene_id \"g2\"; transcript_id \"t2\";\n";
        let t = parse(gtf).unwrap();
        assert_eq!(t.len(), 2);
        assert_eq!((t[0].position, t[0].strand, t[0].gene_type.as_str()), (50, '+', "pc"));
        // transcript line wins over exons: 1-based end 2000 → 0-based 1999.
        assert_eq!((t[1].position, t[1].strand, t[1].gene_type.as_str()), (1999, '-', "lnc"));
    }

    #[test]
    fn errors_name_the_line() {
        let e = parse("chr1\tX\texon\tabc\t200\t.\t+\t.\ttranscript_id \"t\";\n").unwrap_err().to_string();
        assert!(e.contains("t.gtf: line 1"), "{e}");
        let e = parse("chr1\tX\texon\t1\t2\t.\t.\t.\tgene_id \"g\"; transcript_id \"t\";\n").unwrap_err().to_string();
        assert!(e.contains("no strand"), "{e}");
        let e = parse("chr1\tX\texon\n").unwrap_err().to_string();
        assert!(e.contains("line 1"), "{e}");
        let e = parse("chr1\tX\texon\t1\t18446744073709551615\t.\t+\t.\tgene_id \"g\"; transcript_id \"t\";\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("line 1") && e.contains("beyond any chromosome"), "{e}");
    }

    #[test]
    fn transcript_without_gene_id_is_refused() {
        let ok = "chr1\tX\texon\t11\t20\t.\t+\t.\tgene_id \"g1\"; transcript_id \"t1\";\n";
        let e = parse(&format!("{ok}chr1\tX\texon\t31\t40\t.\t-\t.\ttranscript_id \"t2\"; gene_name \"G\";\n"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("t.gtf: line 2") && e.contains("t2") && e.contains("gene_id"), "{e}");
        let e = parse("chr1\tX\texon\t31\t40\t.\t-\t.\tgene_id \"\"; transcript_id \"t3\";\n").unwrap_err().to_string();
        assert!(e.contains("line 1") && e.contains("gene_id"), "{e}");
        assert_eq!(parse(ok).unwrap()[0].gene_id, "g1");
    }
}
