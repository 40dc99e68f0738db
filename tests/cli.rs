//! The `s2f` binary as a user runs it: outputs, exit codes, and no partial files on failure.

mod common;

use std::path::Path;
use std::process::Command;

use common::{fails, fixture, naive_fasta, ok, p};
use s2f::genome::folds::Folds;
use s2f::io::npy::{read_npz, DType};

fn no_files_left(dir: &Path) {
    let left: Vec<_> = std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert!(left.is_empty(), "files left behind: {left:?}");
}

#[test]
fn onehot_tiles_the_bgzip_genome() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("x.npz");
    let fa = fixture("genome/hg38_chr1_1mb.fa.gz");
    ok(&["onehot", "--fasta", p(&fa), "--window", "131072", "--stride", "131072", "--out", p(&out)]);
    let arrays = read_npz(&out).unwrap();
    let names: Vec<&str> = arrays.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["seqfeatures", "genenames", "featurenames"]);
    let x = &arrays[0].1;
    assert_eq!((x.dtype, x.shape.as_slice()), (DType::I8, &[8usize, 131_072, 4][..]));
    let genenames = arrays[1].1.to_strings().unwrap();
    assert_eq!(genenames[0], "chr1:0-131072");
    assert_eq!(genenames[7], "chr1:917504-1048576");
    assert_eq!(arrays[2].1.to_strings().unwrap(), ["A", "C", "G", "T"]);
    // Every row sums to 1 for ACGT and 0 for N, matching the naive reader's bases.
    let truth = &naive_fasta(&fa)["chr1"];
    let data = &x.data;
    for w in 0..8usize {
        for i in (0..131_072usize).step_by(311) {
            let g = w * 131_072 + i;
            let row: Vec<i8> = data[(g * 4)..(g * 4 + 4)].iter().map(|&b| b as i8).collect();
            let want = match truth.get(g).copied().unwrap_or(b'N') {
                b'A' => [1, 0, 0, 0],
                b'C' => [0, 1, 0, 0],
                b'G' => [0, 0, 1, 0],
                b'T' => [0, 0, 0, 1],
                _ => [0, 0, 0, 0],
            };
            assert_eq!(row, want, "window {w} offset {i}");
        }
    }
}

#[test]
fn onehot_bed_centred_channels_first_drg_n() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("x.npz");
    let fa = fixture("genome/test.fa");
    let bed = fixture("genome/test.bed");
    ok(&[
        "onehot",
        "--fasta",
        p(&fa),
        "--bed",
        p(&bed),
        "--length",
        "40",
        "--n-value",
        "0.25",
        "--channels-first",
        "--out",
        p(&out),
    ]);
    let arrays = read_npz(&out).unwrap();
    let x = &arrays[0].1;
    assert_eq!((x.dtype, x.shape.as_slice()), (DType::F32, &[5usize, 4, 40][..]));
    assert_eq!(arrays[1].1.to_strings().unwrap()[3], "chr2:25-55");
    // Region chr1:10-30 centred at 20 → window chr1:0-40; its first base is test.fa's 'C'.
    let v = x.to_f32().unwrap();
    let truth = &naive_fasta(&fa)["chr1"];
    for (c, base) in [b'A', b'C', b'G', b'T'].into_iter().enumerate() {
        let want = if truth[0] == base { 1.0 } else { 0.0 };
        assert_eq!(v[c * 40], want, "channel {c}");
    }
}

#[test]
fn onehot_rejects_bad_input_without_leaving_files() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    std::fs::create_dir(&out).unwrap();
    let o = out.join("x.npz");
    let fa = fixture("genome/test.fa");
    // Regions of different lengths without --length.
    fails(
        &["onehot", "--fasta", p(&fa), "--bed", p(&fixture("genome/test.bed")), "--out", p(&o)],
        &["differ in length"],
    );
    // A region past the chromosome end (chr1 has 284 bp) without --pad.
    let bed = dir.path().join("past.bed");
    std::fs::write(&bed, "chr1\t270\t300\n").unwrap();
    fails(&["onehot", "--fasta", p(&fa), "--bed", p(&bed), "--out", p(&o)], &["chr1:270-300"]);
    // Unknown chromosome.
    std::fs::write(&bed, "chrUn\t0\t10\n").unwrap();
    fails(&["onehot", "--fasta", p(&fa), "--bed", p(&bed), "--out", p(&o)], &["chrUn"]);
    fails(
        &["onehot", "--fasta", p(&fa), "--window", "10", "--stride", "10", "--chroms", "chr1,chrQ", "--out", p(&o)],
        &["chrQ"],
    );
    // Malformed BED line.
    std::fs::write(&bed, "chr1\t0\t10\nchr1\tzero\t10\n").unwrap();
    fails(&["onehot", "--fasta", p(&fa), "--bed", p(&bed), "--out", p(&o)], &["line 2"]);
    // Empty BED.
    std::fs::write(&bed, "# nothing\n").unwrap();
    fails(&["onehot", "--fasta", p(&fa), "--bed", p(&bed), "--out", p(&o)], &["no BED records"]);
    // Malformed FASTA.
    let bad_fa = dir.path().join("bad.fa");
    std::fs::write(&bad_fa, ">a\nACGT\nAC\nACGT\n").unwrap();
    fails(&["onehot", "--fasta", p(&bad_fa), "--window", "2", "--stride", "2", "--out", p(&o)], &["line 4"]);
    no_files_left(&out);
    // With --pad the overhanging region is encoded, N beyond the end.
    std::fs::write(&bed, "chr1\t270\t300\n").unwrap();
    ok(&["onehot", "--fasta", p(&fa), "--bed", p(&bed), "--pad", "--out", p(&o)]);
    let x = &read_npz(&o).unwrap()[0].1;
    assert_eq!(x.shape, [1, 30, 4]);
    assert!(x.data[14 * 4..].iter().all(|&b| b == 0), "bases past 284 are N");
    assert!(x.data[..14 * 4].chunks(4).all(|r| r.iter().map(|&b| b as i32).sum::<i32>() == 1));
}

#[test]
fn folds_and_tss_commands() {
    let dir = tempfile::tempdir().unwrap();
    let folds = dir.path().join("folds.txt");
    ok(&["folds", "--fasta", p(&fixture("genome/test.fa")), "--folds", "3", "--exclude", "chr6", "--out", p(&folds)]);
    let f = Folds::read(&folds).unwrap();
    assert_eq!(f.sets, vec![vec!["chr7"], vec!["chr1", "chr5", "chr3"], vec!["chr4", "chr2"]]);
    fails(
        &["folds", "--fasta", p(&fixture("genome/test.fa")), "--folds", "9", "--out", p(&folds)],
        &["only 7 chromosomes"],
    );

    let tss = dir.path().join("tss.tsv");
    ok(&["tss", "--gtf", p(&fixture("genome/genes.gtf")), "--gene-type", "protein_coding", "--out", p(&tss)]);
    let text = std::fs::read_to_string(&tss).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], "gene_id\tgene_name\ttranscript_id\tchrom\ttss\tstrand\tgene_type");
    assert_eq!(lines.len(), 5);
    assert!(lines.contains(&"ENSG00000102974.14_1\tCTCF\tENST00000401394.5_1\tchr16\t67596309\t+\tprotein_coding"));
    let missing = dir.path().join("none.tsv");
    fails(
        &["tss", "--gtf", p(&fixture("genome/genes.gtf")), "--gene-type", "lncRNA", "--out", p(&missing)],
        &["no transcripts"],
    );
    assert!(!missing.exists());
}

/// Cross-check with NumPy when a Python with NumPy is provided (`S2F_PYTHON`, set by CI).
#[test]
fn npz_loads_in_numpy() {
    let Ok(python) = std::env::var("S2F_PYTHON") else {
        eprintln!("S2F_PYTHON not set: skipping the NumPy cross-check");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("x.npz");
    ok(&[
        "onehot",
        "--fasta",
        p(&fixture("genome/hg38_chr1_1mb.fa.gz")),
        "--window",
        "100000",
        "--stride",
        "50000",
        "--chroms",
        "chr1",
        "--out",
        p(&out),
    ]);
    let script = "import sys, numpy as np\n\
                  d = np.load(sys.argv[1])\n\
                  x = d['seqfeatures']\n\
                  print(x.dtype, x.shape, int(x.sum()), d['genenames'][1], ''.join(d['featurenames']))";
    let res = Command::new(python).args(["-c", script, p(&out)]).output().unwrap();
    assert!(res.status.success(), "{}", String::from_utf8_lossy(&res.stderr));
    let truth = &naive_fasta(&fixture("genome/hg38_chr1_1mb.fa.gz"))["chr1"];
    // 19 windows of 100 kb every 50 kb (the last ends at 1,000,000); count their ACGT bases.
    let mut acgt = 0usize;
    for w in 0..19usize {
        for i in (w * 50_000)..(w * 50_000 + 100_000) {
            if matches!(truth.get(i), Some(b'A' | b'C' | b'G' | b'T')) {
                acgt += 1;
            }
        }
    }
    let got = String::from_utf8_lossy(&res.stdout).trim().to_string();
    assert_eq!(got, format!("int8 (19, 100000, 4) {acgt} chr1:50000-150000 ACGT"));
}
