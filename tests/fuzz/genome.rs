//! FASTA (+ `.fai`, bgzip + `.gzi`), BED and GTF.

use rand::Rng;
use s2f::genome::bed::read_bed;
use s2f::genome::fasta_index::index_fasta;
use s2f::genome::gtf::read_tss;
use s2f::genome::{Fasta, Interval};
use std::io::Write;

use crate::{cases, fixture_bytes, mutate, number_text, put, run, Rand};

// ---------------------------------------------------------------- FASTA

/// A generated FASTA: its text, and for a well-formed one the records (name, sequence, line
/// width in bases, offset of the first base, bytes per line).
struct GenFasta {
    text: Vec<u8>,
    valid: bool,
    records: Vec<(String, Vec<u8>, usize, usize, usize)>,
}

fn gen_fasta(rng: &mut Rand) -> GenFasta {
    let mut text = Vec::new();
    let mut valid = true;
    let mut records: Vec<(String, Vec<u8>, usize, usize, usize)> = Vec::new();
    let crlf = rng.random_bool(0.15);
    let eol: &[u8] = if crlf { b"\r\n" } else { b"\n" };
    for r in 0..rng.random_range(1..=4) {
        let mut name = format!("chr{r}_{}", rng.random_range(0..100));
        if rng.random_bool(0.05) {
            valid = false;
            name = ["", " ", "chr0_1", "a\tb", "é"][rng.random_range(0..5)].to_string();
        }
        let sep = if rng.random_bool(0.3) { " " } else { "" };
        let desc = if rng.random_bool(0.3) { " some description" } else { "" };
        text.extend_from_slice(format!(">{sep}{name}{desc}").as_bytes());
        text.extend_from_slice(eol);
        let offset = text.len();
        let len = match rng.random_range(0..10) {
            0 => 0,
            1..=6 => rng.random_range(1..200),
            _ => rng.random_range(200..3000),
        };
        if len == 0 {
            valid = false;
        }
        let alphabet = b"ACGTNacgtnRY";
        let mut seq: Vec<u8> = (0..len).map(|_| alphabet[rng.random_range(0..alphabet.len())]).collect();
        if rng.random_bool(0.05) && !seq.is_empty() {
            let i = rng.random_range(0..seq.len());
            seq[i] = [b' ', b'1', b'>', 0xff, b'\t'][rng.random_range(0..5)];
            valid = false;
        }
        let width = rng.random_range(1..=120usize);
        for (i, line) in seq.chunks(width).enumerate() {
            let mut line = line.to_vec();
            if rng.random_bool(0.02) && i > 0 {
                // Ragged: a line longer or shorter than the others, not at the end.
                line.push(b'A');
                valid = false;
            }
            text.extend_from_slice(&line);
            text.extend_from_slice(eol);
        }
        if rng.random_bool(0.2) {
            text.extend_from_slice(eol);
        }
        if rng.random_bool(0.02) {
            text.extend_from_slice(b"ACGT\n\nACGT\n");
            valid = false;
        }
        if records.iter().any(|(n, ..)| *n == name) {
            valid = false;
        }
        records.push((name, seq, width, offset, width + eol.len()));
    }
    if rng.random_bool(0.05) {
        text.truncate(rng.random_range(0..=text.len()));
        valid = false;
    }
    GenFasta { text, valid, records }
}

fn fai_text(records: &[(String, Vec<u8>, usize, usize, usize)]) -> String {
    records.iter().map(|(n, s, w, o, lw)| format!("{n}\t{}\t{o}\t{w}\t{lw}\n", s.len())).collect()
}

/// Reads a few intervals (inside, overlapping both ends, past the end, empty) of every
/// sequence, and checks that every result has the interval's length.
fn exercise(fa: &mut Fasta, rng: &mut Rand) -> s2f::Result<()> {
    let sizes = fa.chrom_sizes();
    for cs in sizes.iter().take(4) {
        let len = cs.len.min(i64::MAX as u64 / 4) as i64;
        for _ in 0..3 {
            let start = rng.random_range(-50..=len.saturating_add(50).min(len + 50));
            let end = start + rng.random_range(0..300);
            let iv = Interval::new(cs.name.clone(), start, end).unwrap();
            let got = fa.fetch(&iv)?;
            assert_eq!(got.len() as u64, iv.len(), "fetch {iv} returned {} bases", got.len());
            let _ = fa.fetch_strict(&iv);
        }
    }
    let _ = fa.fetch(&Interval::new("no_such_chrom", 0, 10).unwrap());
    Ok(())
}

#[test]
fn fuzz_fasta_structured() {
    let t = run("fasta_structured", cases(1000), |rng, dir| {
        let g = gen_fasta(rng);
        let gz = rng.random_bool(0.25);
        let path = if gz { dir.join("g.fa.gz") } else { dir.join("g.fa") };
        if gz {
            let (bytes, gzi) = bgzip(&g.text, rng);
            std::fs::write(&path, bytes).unwrap();
            if rng.random_bool(0.9) {
                put(dir, "g.fa.gz.gzi", &gzi);
            }
        } else {
            std::fs::write(&path, &g.text).unwrap();
        }
        let fai_mode = rng.random_range(0..3);
        let fai_path = dir.join(format!("{}.fai", path.file_name().unwrap().to_string_lossy()));
        let mut exact = g.valid;
        match fai_mode {
            0 => {} // no index: built on the fly
            1 => std::fs::write(&fai_path, fai_text(&g.records)).unwrap(),
            _ => {
                // An index with random numbers (and sometimes random names).
                exact = false;
                let mut s = String::new();
                for (n, seq, w, o, lw) in &g.records {
                    let pick = |rng: &mut Rand, v: usize| {
                        if rng.random_bool(0.6) {
                            v.to_string()
                        } else {
                            number_text(rng, v as u64 * 2 + 2)
                        }
                    };
                    let name = if rng.random_bool(0.1) { number_text(rng, 5) } else { n.clone() };
                    s.push_str(&format!(
                        "{name}\t{}\t{}\t{}\t{}\n",
                        pick(rng, seq.len()),
                        pick(rng, *o),
                        pick(rng, *w),
                        pick(rng, *lw)
                    ));
                }
                std::fs::write(&fai_path, s).unwrap();
            }
        }
        let opened = Fasta::open(&path);
        if exact && (!gz || dir.join("g.fa.gz.gzi").exists()) {
            let mut fa = opened.unwrap_or_else(|e| panic!("valid FASTA rejected: {e}"));
            for (name, seq, ..) in &g.records {
                let n = seq.len() as i64;
                assert_eq!(fa.chrom_len(name).unwrap(), n as u64);
                let iv = Interval::new(name.clone(), -3, n + 3).unwrap();
                let mut want = b"NNN".to_vec();
                want.extend_from_slice(seq);
                want.extend_from_slice(b"NNN");
                assert_eq!(fa.fetch(&iv).unwrap(), want, "{name}");
            }
            exercise(&mut fa, rng)
        } else {
            exercise(&mut opened?, rng)
        }
    });
    assert!(t.ok > t.cases / 10, "{t:?}: the generator should often produce readable FASTA");
}

/// BGZF-compresses `text` in random-size blocks and returns the file and its `.gzi`.
fn bgzip(text: &[u8], rng: &mut Rand) -> (Vec<u8>, Vec<u8>) {
    let mut out = Vec::new();
    let mut entries = Vec::new();
    let mut upos = 0u64;
    let mut chunks = Vec::new();
    let mut rest = text;
    while !rest.is_empty() {
        let k = rng.random_range(1..=rest.len().min(4000));
        chunks.push(&rest[..k]);
        rest = &rest[k..];
    }
    for (i, c) in chunks.iter().enumerate() {
        if i > 0 {
            entries.push((out.len() as u64, upos));
        }
        let mut w = noodles::bgzf::io::Writer::new(Vec::new());
        w.write_all(c).unwrap();
        let mut block = w.finish().unwrap();
        block.truncate(block.len() - 28); // drop the EOF marker
        out.extend_from_slice(&block);
        upos += c.len() as u64;
    }
    out.extend_from_slice(&noodles::bgzf::io::Writer::new(Vec::new()).finish().unwrap());
    let mut gzi = (entries.len() as u64).to_le_bytes().to_vec();
    for (c, u) in entries {
        gzi.extend_from_slice(&c.to_le_bytes());
        gzi.extend_from_slice(&u.to_le_bytes());
    }
    (out, gzi)
}

#[test]
fn fuzz_fasta_mutated() {
    let fa = fixture_bytes("genome/test.fa");
    let fai = fixture_bytes("genome/test.fa.fai");
    let gata = fixture_bytes("genome/gata4_hg19.fa");
    let gata = &gata[..4000];
    run("fasta_mutated", cases(1000), |rng, dir| {
        let path = dir.join("t.fa");
        match rng.random_range(0..4) {
            0 => {
                // Mutated FASTA, no index.
                std::fs::write(&path, mutate(rng, &fa, &[], &[gata])).unwrap();
                // Also the indexer directly, from memory.
                let _ = index_fasta(&std::fs::read(&path).unwrap()[..], &path);
            }
            1 => {
                // Mutated FASTA, its (now stale) index.
                std::fs::write(&path, mutate(rng, &fa, &[], &[gata])).unwrap();
                put(dir, "t.fa.fai", &fai);
            }
            _ => {
                // Intact FASTA, mutated index.
                std::fs::write(&path, &fa).unwrap();
                put(dir, "t.fa.fai", &mutate(rng, &fai, &[], &[]));
            }
        }
        exercise(&mut Fasta::open(&path)?, rng)
    });
}

#[test]
fn fuzz_fasta_bgzip_mutated() {
    let gz = fixture_bytes("genome/hg38_chr1_1mb.fa.gz");
    let gzi = fixture_bytes("genome/hg38_chr1_1mb.fa.gz.gzi");
    let fai = fixture_bytes("genome/hg38_chr1_1mb.fa.gz.fai");
    run("fasta_bgzip_mutated", cases(400), |rng, dir| {
        let path = dir.join("h.fa.gz");
        let (g, i, f) = match rng.random_range(0..4) {
            0 => (mutate(rng, &gz, &[0..2048], &[]), gzi.clone(), Some(fai.clone())),
            1 => (gz.clone(), mutate(rng, &gzi, &[], &[]), Some(fai.clone())),
            2 => (gz.clone(), gzi.clone(), Some(mutate(rng, &fai, &[], &[]))),
            _ => (gz.clone(), mutate(rng, &gzi, &[], &[]), None),
        };
        std::fs::write(&path, g).unwrap();
        put(dir, "h.fa.gz.gzi", &i);
        if let Some(f) = f {
            put(dir, "h.fa.gz.fai", &f);
        }
        exercise(&mut Fasta::open(&path)?, rng)
    });
}

// ---------------------------------------------------------------- BED

#[test]
fn fuzz_bed_structured() {
    let t = run("bed_structured", cases(1500), |rng, dir| {
        let valid_only = rng.random_bool(0.3);
        let mut text = String::new();
        let mut want = Vec::new();
        for _ in 0..rng.random_range(1..=8) {
            match rng.random_range(0..12) {
                0 => text.push_str("# comment\n"),
                1 => text.push_str("track name=x\n"),
                2 => text.push('\n'),
                _ => {}
            }
            let chrom = if valid_only || rng.random_bool(0.9) {
                format!("chr{}", rng.random_range(1..30))
            } else {
                ["", " ", "chr 1", "é"][rng.random_range(0..4)].to_string()
            };
            let ncol = if valid_only { [3, 6, 10][rng.random_range(0..3)] } else { rng.random_range(1..=13) };
            let (start, end, summit);
            let mut f: Vec<String> = vec![chrom.clone()];
            if valid_only {
                let s = rng.random_range(0..1_000_000_000i64);
                let e = s + rng.random_range(0..100_000);
                let sm = if e > s && rng.random_bool(0.7) { rng.random_range(0..e - s) } else { -1 };
                (start, end, summit) = (s, e, sm);
                f.extend([s.to_string(), e.to_string()]);
            } else {
                (start, end, summit) = (0, 0, -1);
                f.extend([number_text(rng, 1 << 30), number_text(rng, 1 << 30)]);
            }
            let strand = if valid_only {
                ["+", "-", "."][rng.random_range(0..3)]
            } else {
                ["+", "-", ".", "x", ""][rng.random_range(0..5)]
            };
            for c in 3..ncol {
                f.push(match c {
                    3 => format!("peak{}", rng.random_range(0..9)),
                    4 => number_text(rng, 1000),
                    5 => strand.to_string(),
                    9 if valid_only => summit.to_string(),
                    9 => number_text(rng, 1000),
                    _ if valid_only => rng.random_range(0..100).to_string(),
                    _ => number_text(rng, 100),
                });
            }
            let sep = if !valid_only && rng.random_bool(0.05) { " " } else { "\t" };
            text.push_str(&f.join(sep));
            text.push_str(if rng.random_bool(0.1) { "\r\n" } else { "\n" });
            want.push((chrom, start, end, (ncol == 10 && summit >= 0).then_some(summit)));
        }
        let path = put(dir, "r.bed", text.as_bytes());
        let records = read_bed(&path);
        if valid_only {
            let records = records.as_ref().unwrap_or_else(|e| panic!("valid BED rejected: {e}\n{text}"));
            let got: Vec<_> = records
                .iter()
                .map(|r| (r.interval.chrom().to_string(), r.interval.start(), r.interval.end(), r.summit))
                .collect();
            assert_eq!(got, want, "{text}");
        }
        check_records(&records?);
        Ok(())
    });
    assert!(t.ok > 0 && t.err > 0, "{t:?}");
}

/// What every accepted BED record must satisfy, and the derived positions must not overflow.
fn check_records(records: &[s2f::genome::bed::BedRecord]) {
    for r in records {
        let (start, end) = (r.interval.start(), r.interval.end());
        assert!(0 <= start && start <= end, "{r:?}");
        if let Some(s) = r.summit_position() {
            assert!(start <= s && s < end, "{r:?}");
        }
        let c = r.centre(false);
        assert!(start <= c && c <= end, "{r:?}");
        let w = Interval::centred(r.interval.chrom(), r.centre(true), 131_072);
        assert_eq!(w.len(), 131_072);
        let _ = r.label();
    }
}

#[test]
fn fuzz_bed_mutated() {
    let bed = fixture_bytes("genome/test.bed");
    let np = b"chr3\t100\t200\tp\t0\t.\t5.0\t-1\t-1\t42\nchr1\t5\t9\tpeak1\t0\t-\n".to_vec();
    run("bed_mutated", cases(1500), |rng, dir| {
        let seed = if rng.random_bool(0.5) { &bed } else { &np };
        let path = put(dir, "m.bed", &mutate(rng, seed, &[], &[&bed, &np]));
        check_records(&read_bed(&path)?);
        Ok(())
    });
}

// ---------------------------------------------------------------- GTF

fn gtf_line(rng: &mut Rand, valid: bool, tx: &str, chrom: &str, strand: &str, s: i64, e: i64) -> String {
    let feature = ["exon", "transcript", "CDS", "gene"][rng.random_range(0..if valid { 2 } else { 4 })];
    let (start, end) =
        if valid { (s.to_string(), e.to_string()) } else { (number_text(rng, 1 << 28), number_text(rng, 1 << 28)) };
    let strand = if valid { strand } else { ["+", "-", ".", "?", "x", ""][rng.random_range(0..6)] };
    let mut attrs = Vec::new();
    if valid || rng.random_bool(0.9) {
        attrs.push("gene_id \"g1\"".to_string());
    }
    if valid || rng.random_bool(0.9) {
        attrs.push(format!("transcript_id \"{tx}\""));
    }
    if rng.random_bool(0.5) {
        attrs.push("gene_type \"protein_coding\"".into());
    }
    if !valid && rng.random_bool(0.2) {
        attrs.push(["gene_name \"unterminated", "key", "\"\"", "x \"a\" \"b\"", ";;"][rng.random_range(0..5)].into());
    }
    let sep = if !valid && rng.random_bool(0.05) { " " } else { "\t" };
    [chrom, "src", feature, &start, &end, ".", strand, ".", &(attrs.join("; ") + ";")].join(sep)
}

#[test]
fn fuzz_gtf_structured() {
    let t = run("gtf_structured", cases(1500), |rng, dir| {
        let valid = rng.random_bool(0.3);
        let mut text = String::new();
        let mut want = Vec::new();
        for t in 0..rng.random_range(1..=4) {
            let tx = format!("t{t}");
            let chrom = format!("chr{}", rng.random_range(1..5));
            let strand = if rng.random_bool(0.5) { "+" } else { "-" };
            let (mut lo, mut hi) = (i64::MAX, 0);
            for _ in 0..rng.random_range(1..=3) {
                let s = rng.random_range(1..1_000_000i64);
                let e = s + rng.random_range(0..5000);
                (lo, hi) = (lo.min(s - 1), hi.max(e));
                let line = gtf_line(rng, valid, &tx, &chrom, strand, s, e);
                if valid {
                    // Only exon lines, so the extent is their union.
                    text.push_str(&line.replacen("\ttranscript\t", "\texon\t", 1));
                } else {
                    text.push_str(&line);
                }
                text.push('\n');
            }
            want.push((tx, if strand == "+" { lo } else { hi - 1 }));
        }
        let path = put(dir, "a.gtf", text.as_bytes());
        let tss = read_tss(&path, None);
        if valid {
            let tss = tss.as_ref().unwrap_or_else(|e| panic!("valid GTF rejected: {e}\n{text}"));
            let got: Vec<_> = tss.iter().map(|t| (t.transcript_id.clone(), t.position)).collect();
            assert_eq!(got, want, "{text}");
        }
        for t in tss? {
            assert!(t.position >= 0 && !t.gene_id.is_empty(), "{t:?}");
        }
        Ok(())
    });
    assert!(t.ok > 0 && t.err > 0, "{t:?}");
}

#[test]
fn fuzz_gtf_mutated() {
    let gtf = fixture_bytes("genome/genes.gtf");
    // The first dozen lines are enough material and keep each case fast.
    let cut = gtf.iter().enumerate().filter(|(_, b)| **b == b'\n').nth(12).map_or(gtf.len(), |(i, _)| i + 1);
    let seed = &gtf[..cut];
    run("gtf_mutated", cases(1500), |rng, dir| {
        let path = put(dir, "m.gtf", &mutate(rng, seed, &[], &[seed]));
        for t in read_tss(&path, if rng.random_bool(0.5) { None } else { Some("protein_coding") })? {
            assert!(t.position >= 0 && !t.gene_id.is_empty(), "{t:?}");
        }
        Ok(())
    });
}

// ---------------------------------------------------------------- regressions

/// Guards the `.fai` check in `src/genome/fasta.rs` (found by `fuzz_fasta_mutated` and
/// `fuzz_fasta_structured`): a bases-per-line column near `u64::MAX` once made the line-width
/// test compute `lb + 2` and panic with "attempt to add with overflow". It must be reported as a
/// stale index naming the line width and the bases per line.
#[test]
fn fai_line_width_overflow_is_a_stale_index() {
    let dir = tempfile::tempdir().unwrap();
    let fa = put(dir.path(), "t.fa", b">a\nACGT\n");
    put(dir.path(), "t.fa.fai", b"a\t4\t3\t18446744073709551615\t5\n");
    let result = Fasta::open(&fa).and_then(|mut f| f.fetch(&Interval::new("a", 0, 4).unwrap()));
    let e = result.expect_err("a .fai with a huge bases-per-line count must be rejected");
    assert!(matches!(e, s2f::Error::StaleIndex { .. }), "{e:?}");
    let msg = e.to_string();
    assert!(msg.contains("line width 5") && msg.contains("18446744073709551615"), "{msg}");
}
