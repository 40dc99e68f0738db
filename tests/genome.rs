//! Genome I/O on the real fixtures: FASTA (plain, bgzip, on-the-fly index), BED, GTF → TSS,
//! windows, folds and one-hot. Expected values come from an independent naive FASTA reader or
//! from the files' published coordinates, not from the library's own output.

mod common;

use common::{copy_to_temp, fixture, naive_fasta, padded};
use s2f::genome::bed::read_bed;
use s2f::genome::folds::Folds;
use s2f::genome::gtf::read_tss;
use s2f::genome::onehot::{reverse_complement_onehot, Encoder, Layout};
use s2f::genome::windows::{centre_on_tss, tile_genome};
use s2f::genome::{Fasta, Interval};
use s2f::Error;

fn iv(c: &str, s: i64, e: i64) -> Interval {
    Interval::new(c, s, e).unwrap()
}

#[test]
fn bgzip_hg38_sizes_and_known_bases() {
    let mut fa = Fasta::open(fixture("genome/hg38_chr1_1mb.fa.gz")).unwrap();
    let sizes = fa.chrom_sizes();
    assert_eq!(sizes.len(), 1);
    assert_eq!((sizes[0].name.as_str(), sizes[0].len), ("chr1", 1_000_000));
    // hg38 chr1 starts with 10,000 N, then the telomeric repeat TAACCC.
    assert!(fa.fetch(&iv("chr1", 0, 10_000)).unwrap().iter().all(|&b| b == b'N'));
    assert_eq!(fa.fetch(&iv("chr1", 10_000, 10_012)).unwrap(), b"TAACCCTAACCC");
}

#[test]
fn bgzip_queries_match_a_naive_reader() {
    let path = fixture("genome/hg38_chr1_1mb.fa.gz");
    let truth = naive_fasta(&path);
    let chr1 = &truth["chr1"];
    assert_eq!(chr1.len(), 1_000_000);
    let mut fa = Fasta::open(&path).unwrap();
    // Regions across line and bgzip block boundaries, at the ends, and overhanging them.
    for (s, e) in [
        (0, 1),
        (9_990, 10_010),
        (65_270, 65_300),
        (123_456, 254_528),
        (999_990, 1_000_000),
        (-7, 5),
        (999_995, 1_000_009),
    ] {
        assert_eq!(fa.fetch(&iv("chr1", s, e)).unwrap(), padded(chr1, s, e), "chr1:{s}-{e}");
    }
    // The README's three 50-kb assembly gaps: the naive reader finds runs of N that long.
    let mut runs = Vec::new();
    let mut i = 10_000;
    while i < chr1.len() {
        if chr1[i] == b'N' {
            let j = (i..chr1.len()).find(|&j| chr1[j] != b'N').unwrap_or(chr1.len());
            if j - i >= 50_000 {
                runs.push((i, j));
            }
            i = j;
        } else {
            i += 1;
        }
    }
    assert_eq!(runs.len(), 3, "{runs:?}");
    for (s, e) in runs {
        assert!(fa.fetch(&iv("chr1", s as i64, e as i64)).unwrap().iter().all(|&b| b == b'N'));
    }
}

#[test]
fn plain_fasta_with_odd_headers_and_soft_masking() {
    let path = fixture("genome/test.fa");
    let truth = naive_fasta(&path);
    let mut fa = Fasta::open(&path).unwrap();
    let names: Vec<String> = fa.chrom_sizes().into_iter().map(|c| c.name).collect();
    assert_eq!(names, ["chr1", "chr2", "chr3", "chr4", "chr5", "chr6", "chr7"]);
    for c in fa.chrom_sizes() {
        assert_eq!(c.len as usize, truth[&c.name].len(), "{}", c.name);
        let whole = fa.fetch(&iv(&c.name, -3, c.len as i64 + 4)).unwrap();
        assert_eq!(whole, padded(&truth[&c.name], -3, c.len as i64 + 4), "{}", c.name);
    }
    // Lowercase (soft-masked) bases come back as stored.
    assert_eq!(fa.fetch(&iv("chr3", 8, 17)).unwrap(), b"acggagcac");
}

#[test]
fn fasta_without_index_is_indexed_like_samtools() {
    let dir = copy_to_temp(&["genome/gata4_hg19.fa"]);
    let path = dir.path().join("gata4_hg19.fa");
    let mut fa = Fasta::open(&path).unwrap();
    assert_eq!(fa.chrom_len("chr8:11496144-11627216").unwrap(), 131_072);
    let fai = std::fs::read_to_string(dir.path().join("gata4_hg19.fa.fai")).unwrap();
    // One line of 131,072 bases after a 24-byte header, as samtools faidx writes it.
    assert_eq!(fai, "chr8:11496144-11627216\t131072\t24\t131072\t131073\n");
    assert_eq!(fa.fetch(&iv("chr8:11496144-11627216", 0, 10)).unwrap(), b"AAACATGAGG");
    let truth = naive_fasta(&path);
    assert_eq!(fa.fetch(&iv("chr8:11496144-11627216", 0, 131_072)).unwrap(), truth["chr8:11496144-11627216"]);
}

#[test]
fn bgzip_without_fai_is_indexed_in_memory() {
    let dir = copy_to_temp(&["genome/hg38_chr1_1mb.fa.gz", "genome/hg38_chr1_1mb.fa.gz.gzi"]);
    let mut fa = Fasta::open(dir.path().join("hg38_chr1_1mb.fa.gz")).unwrap();
    assert_eq!(fa.chrom_len("chr1").unwrap(), 1_000_000);
    assert_eq!(fa.fetch(&iv("chr1", 10_000, 10_006)).unwrap(), b"TAACCC");
}

#[test]
fn bgzip_without_gzi_is_an_error() {
    let dir = copy_to_temp(&["genome/hg38_chr1_1mb.fa.gz", "genome/hg38_chr1_1mb.fa.gz.fai"]);
    let err = Fasta::open(dir.path().join("hg38_chr1_1mb.fa.gz")).err().unwrap();
    assert!(matches!(err, Error::MissingGzi { .. }), "{err}");
    assert!(err.to_string().contains(".gzi"), "{err}");
}

#[test]
fn plain_gzip_is_rejected_with_a_hint() {
    use std::io::Write;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("x.fa.gz");
    let mut enc = flate2::write::GzEncoder::new(std::fs::File::create(&path).unwrap(), flate2::Compression::default());
    enc.write_all(b">a\nACGT\n").unwrap();
    enc.finish().unwrap();
    let err = Fasta::open(&path).err().unwrap().to_string();
    assert!(err.contains("bgzip"), "{err}");
}

#[test]
fn stale_index_is_detected() {
    let dir = copy_to_temp(&["genome/test.fa"]);
    let path = dir.path().join("test.fa");
    // chr1 really has 284 bases; claim 300.
    std::fs::write(dir.path().join("test.fa.fai"), "chr1\t300\t7\t80\t81\nchr2\t211\t303\t80\t81\n").unwrap();
    let mut fa = Fasta::open(&path).unwrap();
    let err = fa.fetch(&iv("chr1", 0, 10)).unwrap_err();
    assert!(matches!(err, Error::StaleIndex { .. }), "{err}");
    // A wrong offset is caught too.
    std::fs::write(dir.path().join("test.fa.fai"), "chr2\t211\t300\t80\t81\n").unwrap();
    let mut fa = Fasta::open(&path).unwrap();
    assert!(matches!(fa.fetch(&iv("chr2", 0, 10)).unwrap_err(), Error::StaleIndex { .. }));
}

#[test]
fn malformed_and_empty_fasta() {
    let dir = tempfile::tempdir().unwrap();
    let ragged = dir.path().join("ragged.fa");
    std::fs::write(&ragged, ">a\nACGT\nAC\nACGT\n").unwrap();
    let err = Fasta::open(&ragged).err().unwrap().to_string();
    assert!(err.contains("ragged.fa") && err.contains("line 4"), "{err}");
    assert!(!dir.path().join("ragged.fa.fai").exists(), "no index for a bad file");
    let empty = dir.path().join("empty.fa");
    std::fs::write(&empty, "").unwrap();
    assert!(matches!(Fasta::open(&empty).err().unwrap(), Error::Empty { .. }));
    assert!(matches!(Fasta::open(dir.path().join("missing.fa")).err().unwrap(), Error::Io { .. }));
}

#[test]
fn unknown_chromosome_and_strict_bounds() {
    let mut fa = Fasta::open(fixture("genome/test.fa")).unwrap();
    let err = fa.fetch(&iv("chrZ", 0, 10)).unwrap_err();
    assert!(matches!(err, Error::UnknownChrom { .. }), "{err}");
    assert!(err.to_string().contains("chrZ"));
    let err = fa.fetch_strict(&iv("chr1", 280, 290)).unwrap_err().to_string();
    assert!(err.contains("chr1:280-290") && err.contains("284"), "{err}");
    assert!(fa.fetch_strict(&iv("chr1", -1, 5)).is_err());
    assert_eq!(fa.fetch_strict(&iv("chr1", 0, 284)).unwrap().len(), 284);
}

#[test]
fn bed_fixture() {
    let r = read_bed(fixture("genome/test.bed")).unwrap();
    let got: Vec<(String, i64, i64)> =
        r.iter().map(|r| (r.interval.chrom().to_string(), r.interval.start(), r.interval.end())).collect();
    assert_eq!(
        got,
        [("chr1", 10, 30), ("chr1", 80, 100), ("chr1", 140, 160), ("chr2", 25, 55), ("chr2", 35, 65)]
            .map(|(c, s, e)| (c.to_string(), s, e))
    );
}

#[test]
fn tss_from_gencode_exons() {
    let t = read_tss(fixture("genome/genes.gtf"), None).unwrap();
    let find = |id: &str| t.iter().find(|x| x.transcript_id == id).unwrap();
    // CTCF, + strand: first exon starts at 1-based 67,596,310 → 0-based 67,596,309.
    let ctcf = find("ENST00000401394.5_1");
    assert_eq!(
        (ctcf.chrom.as_str(), ctcf.position, ctcf.strand, ctcf.gene_name.as_str()),
        ("chr16", 67_596_309, '+', "CTCF")
    );
    // HNRNPU, - strand: last exon ends at 1-based 245,027,827 → 0-based 245,027,826.
    let h = find("ENST00000283179.13_2");
    assert_eq!((h.position, h.strand), (245_027_826, '-'));
    assert_eq!(find("ENST00000440865.1_2").position, 245_026_395);
    assert_eq!(t.len(), 4);
    assert!(read_tss(fixture("genome/genes.gtf"), Some("lncRNA")).unwrap().is_empty());
    let w = centre_on_tss(&t, 1000).unwrap();
    assert_eq!(w[0].interval, iv("chr16", 67_595_809, 67_596_809));
    assert_eq!(w[0].name, "CTCF|ENST00000401394.5_1");
}

#[test]
fn tiling_and_onehot_of_hg38() {
    let mut fa = Fasta::open(fixture("genome/hg38_chr1_1mb.fa.gz")).unwrap();
    let windows = tile_genome(&fa.chrom_sizes(), None, 131_072, 131_072).unwrap();
    assert_eq!(windows.len(), 8); // ceil(1,000,000 / 131,072)
    assert_eq!(windows[7].interval, iv("chr1", 917_504, 1_048_576));
    let enc = Encoder::<f32>::new(0.25).unwrap();
    let seq = fa.fetch(&windows[0].interval).unwrap();
    let x = enc.encode(&seq, Layout::LengthFirst);
    assert_eq!(&x[4 * 9_999..4 * 10_001], &[0.25, 0.25, 0.25, 0.25, 0.0, 0.0, 0.0, 1.0]); // N then T
                                                                                          // Encoding agrees with the naive reader's bases everywhere.
    let truth = naive_fasta(&fixture("genome/hg38_chr1_1mb.fa.gz"));
    let last = fa.fetch(&windows[7].interval).unwrap();
    assert_eq!(last, padded(&truth["chr1"], 917_504, 1_048_576));
    let y = enc.encode(&last, Layout::ChannelsFirst);
    let code = |b: u8| match b {
        b'A' => Some(0),
        b'C' => Some(1),
        b'G' => Some(2),
        b'T' => Some(3),
        _ => None,
    };
    for (i, &b) in last.iter().enumerate().step_by(997) {
        for c in 0..4 {
            let want = match code(b) {
                Some(k) if k == c => 1.0,
                Some(_) => 0.0,
                None => 0.25,
            };
            assert_eq!(y[c * last.len() + i], want, "position {i}");
        }
    }
    // Reverse complement of the encoding equals the encoding of the reverse complement.
    let mut rc = x.clone();
    reverse_complement_onehot(&mut rc);
    assert_eq!(rc, enc.encode(&s2f::genome::onehot::reverse_complement(&seq), Layout::LengthFirst));
}

#[test]
fn folds_from_the_test_genome() {
    let fa = Fasta::open(fixture("genome/test.fa")).unwrap();
    let folds = Folds::balanced(&fa.chrom_sizes(), 3, &["chr6".to_string()]).unwrap();
    // Sizes: chr7 2000, chr1 284, chr4 240, chr2 211, chr5 160, chr3 126 (chr6 excluded).
    assert_eq!(folds.sets, vec![vec!["chr7"], vec!["chr1", "chr5", "chr3"], vec!["chr4", "chr2"]]);
    let split = folds.split(1).unwrap();
    assert_eq!(split.valid, ["chr1", "chr5", "chr3"]);
    assert_eq!(split.test, ["chr4", "chr2"]);
    assert_eq!(split.train, ["chr7"]);
}
