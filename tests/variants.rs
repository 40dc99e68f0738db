//! `s2f variants`: scores equal an independent computation from hand-built windows (the variant
//! at index L/2 − 1), alleles are split and checked against the genome, rejections are reported.

mod common;

use std::collections::HashMap;
use std::path::Path;

use common::{fails, fixture, naive_fasta, ok, p};
use ndarray::Array3;
use s2f::engine::{create, Device, Predictor};
use s2f::model::Package;

fn onehot(seqs: &[Vec<u8>]) -> Array3<f32> {
    let l = seqs[0].len();
    let mut x = Array3::<f32>::zeros((seqs.len(), l, 4));
    for (i, s) in seqs.iter().enumerate() {
        for (j, b) in s.iter().enumerate() {
            if let Some(c) = b"ACGT".iter().position(|&c| c == b.to_ascii_uppercase()) {
                x[[i, j, c]] = 1.0;
            }
        }
    }
    x
}

/// The window of a variant at 1-based `pos`, built by hand: the variant's first base at index
/// L/2 − 1, N outside the chromosome.
fn window(chrom: &[u8], pos: usize, len: usize) -> Vec<u8> {
    let start = pos as i64 - 1 - (len as i64 / 2 - 1);
    common::padded(chrom, start, start + len as i64).iter().map(|b| b.to_ascii_uppercase()).collect()
}

/// Rows of a TSV as maps from column to text.
fn tsv(path: &Path) -> Vec<HashMap<String, String>> {
    let text = std::fs::read_to_string(path).unwrap();
    let mut lines = text.lines();
    let header: Vec<String> = lines.next().unwrap().split('\t').map(String::from).collect();
    lines.map(|l| header.iter().cloned().zip(l.split('\t').map(String::from)).collect()).collect()
}

fn close(got: f64, want: f64, what: &str) {
    assert!((got - want).abs() <= 1e-6 * want.abs().max(1e-3), "{what}: {got} vs {want}");
}

/// basenji's JS, written out independently of the library.
fn js(r: &[f64], a: &[f64]) -> f64 {
    let mut s = r.to_vec();
    s.sort_by(f64::total_cmp);
    let h = (s.len() - 1) as f64 * 0.25;
    let pc = s[h.floor() as usize] + (h - h.floor()) * (s[h.ceil() as usize] - s[h.floor() as usize]);
    let rs: f64 = r.iter().map(|x| x + pc).sum();
    let as_: f64 = a.iter().map(|x| x + pc).sum();
    let (rn, an): (Vec<f64>, Vec<f64>) = r.iter().zip(a).map(|(x, y)| ((x + pc) / rs, (y + pc) / as_)).unzip();
    let kl = |x: &[f64], y: &[f64]| x.iter().zip(y).map(|(x, y)| x * (x / y).ln()).sum::<f64>();
    (kl(&rn, &an) + kl(&an, &rn)) / 2.0
}

#[test]
fn eqtl_scores_equal_a_hand_built_computation_on_the_keras_model() {
    let dir = tempfile::tempdir().unwrap();
    let f = |r: &str| fixture(&format!("models/basenji2_keras_small/{r}"));
    let pkg_dir = dir.path().join("ks");
    ok(&["convert", "--from", "keras-h5", p(&f("model.h5")), "--config", p(&f("params.json")), "--out", p(&pkg_dir)]);
    let genome = fixture("genome/hg38_chr1_1mb.fa.gz");
    let vcf = fixture("genome/eqtl_hg38_chr1.vcf");
    let out = dir.path().join("v");
    ok(&[
        "variants",
        "--engine",
        "tract",
        p(&pkg_dir),
        "--genome",
        p(&genome),
        "--vcf",
        p(&vcf),
        "--stats",
        "SAD,D2,JS,SAX,SADR",
        "--tracks",
        "0,5",
        "--bins",
        "100:140",
        "--format",
        "tsv,parquet",
        "--out",
        p(&out),
    ]);
    let rows = tsv(&out.join("variants.tsv"));
    assert_eq!(rows.len(), 8);
    assert_eq!(std::fs::read_to_string(out.join("rejected.tsv")).unwrap().lines().count(), 1);
    let pkg = Package::open(&pkg_dir).unwrap();
    let len = pkg.spec.as_ref().unwrap().input.length as usize;
    let chr1 = &naive_fasta(&genome)["chr1"];
    let mut pred = Predictor::new(&pkg, create(common::engines()[0], Device::Cpu, &pkg.onnx).unwrap(), 0, 2).unwrap();
    for row in &rows {
        let pos: usize = row["pos"].parse().unwrap();
        let r = window(chr1, pos, len);
        assert_eq!(r[len / 2 - 1], row["ref"].as_bytes()[0], "REF sits at L/2 − 1");
        let mut a = r.clone();
        a[len / 2 - 1] = row["alt"].as_bytes()[0];
        let y = pred.predict(onehot(&[r, a]).view()).unwrap();
        for t in [0usize, 5].iter() {
            let col = |i: usize| -> Vec<f64> { (100..140).map(|b| y[[i, b, *t]] as f64).collect() };
            let (rv, av) = (col(0), col(1));
            let id = format!("{} track {t}", row["id"]);
            let sad: f64 = av.iter().sum::<f64>() - rv.iter().sum::<f64>();
            close(row[&format!("SAD:{}", track_id(&pkg, *t))].parse().unwrap(), sad, &format!("SAD {id}"));
            let d2 = rv.iter().zip(&av).map(|(r, a)| (a - r).powi(2)).sum::<f64>().sqrt();
            close(row[&format!("D2:{}", track_id(&pkg, *t))].parse().unwrap(), d2, &format!("D2 {id}"));
            close(row[&format!("JS:{}", track_id(&pkg, *t))].parse().unwrap(), js(&rv, &av), &format!("JS {id}"));
            let sax = rv.iter().zip(&av).map(|(r, a)| a - r).fold(0.0f64, |b, d| if d.abs() > b.abs() { d } else { b });
            close(row[&format!("SAX:{}", track_id(&pkg, *t))].parse().unwrap(), sax, &format!("SAX {id}"));
            let sadr = (av.iter().sum::<f64>() + 1.0).log2() - (rv.iter().sum::<f64>() + 1.0).log2();
            close(row[&format!("SADR:{}", track_id(&pkg, *t))].parse().unwrap(), sadr, &format!("SADR {id}"));
        }
    }
    // The parquet table holds the same rows and names its columns `<stat>:<track>`.
    use parquet::file::reader::{FileReader, SerializedFileReader};
    let reader = SerializedFileReader::new(std::fs::File::open(out.join("variants.parquet")).unwrap()).unwrap();
    let names: Vec<String> =
        reader.metadata().file_metadata().schema_descr().columns().iter().map(|c| c.name().to_string()).collect();
    assert_eq!(&names[..6], ["id", "chrom", "pos", "ref", "alt", "swapped"]);
    assert_eq!(names[6], format!("SAD:{}", track_id(&pkg, 0)));
    assert_eq!(reader.metadata().file_metadata().num_rows(), 8);
}

fn track_id(pkg: &Package, t: usize) -> String {
    let h = &pkg.spec.as_ref().unwrap().heads[0];
    h.tracks.iter().find(|r| r.index == t).map(|r| r.identifier.clone()).unwrap_or_else(|| t.to_string())
}

#[test]
fn alleles_are_split_checked_and_rejected_with_reasons() {
    let dir = tempfile::tempdir().unwrap();
    let genome = fixture("genome/test.fa");
    let seqs = naive_fasta(&genome);
    let chr2 = seqs["chr2"].iter().map(|b| b.to_ascii_uppercase()).collect::<Vec<u8>>();
    let base = |pos: usize| chr2[pos - 1] as char;
    let other = |pos: usize| if base(pos) == 'A' { 'C' } else { 'A' };
    let third = |pos: usize| b"ACGT".iter().map(|&c| c as char).find(|&c| c != base(pos) && c != other(pos)).unwrap();
    let del: String = chr2[99..102].iter().map(|&b| b as char).collect();
    let lines = [
        format!("2\t50\tmulti\t{}\t{},{},<DEL>,*", base(50), other(50), third(50)),
        format!("chr2\t60\twrong\t{}\t{}", other(60), third(60)),
        format!("chr2\t70\tswap\t{}\t{}", other(70), base(70)),
        format!("chr2\t100\tdel\t{del}\t{}", &del[..1]),
        format!("chr2\t120\tins\t{}\t{}GG", base(120), base(120)),
        format!("chr9\t5\tnochrom\tA\tC"),
        format!("chr2\t5\tedge\t{}\t{}", base(5), other(5)),
    ];
    let vcf = dir.path().join("v.vcf");
    std::fs::write(&vcf, format!("##fileformat=VCFv4.2\n#CHROM\tPOS\tID\tREF\tALT\n{}\n", lines.join("\n"))).unwrap();
    let model = Path::new(env!("CARGO_MANIFEST_DIR")).join("models/calderon2019_shallow");
    let out = dir.path().join("o");
    let args = [
        "variants",
        "--engine",
        "tract",
        p(&model),
        "--genome",
        p(&genome),
        "--vcf",
        p(&vcf),
        "--tracks",
        "3",
        "--format",
        "tsv",
    ];
    let mut a = args.to_vec();
    a.extend_from_slice(&["--out", p(&out)]);
    ok(&a);
    let rows = tsv(&out.join("variants.tsv"));
    let ids: Vec<(&str, &str)> = rows.iter().map(|r| (r["id"].as_str(), r["alt"].as_str())).collect();
    let (o50, t50) = (other(50).to_string(), third(50).to_string());
    let ins = format!("{}GG", base(120));
    let o5 = other(5).to_string();
    assert_eq!(
        ids,
        [
            ("multi", o50.as_str()),
            ("multi", t50.as_str()),
            ("del", &del[..1]),
            ("ins", ins.as_str()),
            ("edge", o5.as_str())
        ]
    );
    let rejected = std::fs::read_to_string(out.join("rejected.tsv")).unwrap();
    for needle in ["symbolic allele", "upstream deletion", "wrong", "does not match the genome", "swap", "chr9"] {
        assert!(rejected.contains(needle), "{needle:?} not in {rejected}");
    }
    // Every score equals the library's prediction of hand-built sequences (the record after a
    // rejected one is still scored against its own bases).
    let pkg = Package::open(&model).unwrap();
    let mut pred = Predictor::new(&pkg, create(common::engines()[0], Device::Cpu, &pkg.onnx).unwrap(), 0, 8).unwrap();
    let mut sad = |pos: usize, ref_len: usize, alt: &str| -> f64 {
        let r = window(&chr2, pos, 401);
        let mut a: Vec<u8> = r[..199].to_vec();
        a.extend_from_slice(alt.as_bytes());
        a.extend_from_slice(&r[199 + ref_len..]);
        let a = if a.len() > 401 {
            let left = (a.len() - 401) / 2;
            a[left..left + 401].to_vec()
        } else {
            let missing = 401 - a.len();
            let mut v = vec![b'N'; missing / 2];
            v.extend_from_slice(&a);
            v.resize(401, b'N');
            v
        };
        let y = pred.predict(onehot(&[r, a]).view()).unwrap();
        (y[[1, 0, 3]] - y[[0, 0, 3]]) as f64
    };
    let want = [sad(50, 1, &o50), sad(50, 1, &t50), sad(100, 3, &del[..1]), sad(120, 1, &ins), sad(5, 1, &o5)];
    for (row, w) in rows.iter().zip(want) {
        close(row["SAD:3"].parse().unwrap(), w, &row["id"]);
    }
    // --allow-swap scores the swapped record with REF and ALT exchanged.
    let out2 = dir.path().join("o2");
    let mut a = args.to_vec();
    a.extend_from_slice(&["--allow-swap", "--out", p(&out2)]);
    ok(&a);
    let rows2 = tsv(&out2.join("variants.tsv"));
    let swap = rows2.iter().find(|r| r["id"] == "swap").unwrap();
    assert_eq!(swap["swapped"], "true");
    assert_eq!(
        (swap["ref"].as_str(), swap["alt"].as_str()),
        (base(70).to_string().as_str(), other(70).to_string().as_str())
    );
    close(swap["SAD:3"].parse().unwrap(), sad(70, 1, &other(70).to_string()), "swap");
    // --strict stops at the first mismatch, naming the line, and writes nothing.
    let out3 = dir.path().join("o3");
    let mut a = args.to_vec();
    a.extend_from_slice(&["--strict", "--out", p(&out3)]);
    fails(&a, &["v.vcf", "line 4", "does not match the genome"]);
    assert!(!out3.exists());
}

#[test]
fn shards_merge_and_resume_give_identical_files() {
    let dir = tempfile::tempdir().unwrap();
    let genome = fixture("genome/hg38_chr1_1mb.fa.gz");
    let chr1 = &naive_fasta(&genome)["chr1"];
    let mut text = String::from("##fileformat=VCFv4.2\n");
    let mut pos = 200_000usize;
    for i in 0..40 {
        pos += 997;
        let b = chr1[pos - 1].to_ascii_uppercase();
        let alt = if b == b'A' { 'G' } else { 'A' };
        let reference = if i == 3 {
            if b == b'C' {
                'G'
            } else {
                'C'
            }
        } else {
            b as char
        };
        text += &format!("chr1\t{pos}\tv{i}\t{reference}\t{alt},T\n");
    }
    let vcf = dir.path().join("v.vcf");
    std::fs::write(&vcf, text).unwrap();
    let model = Path::new(env!("CARGO_MANIFEST_DIR")).join("models/calderon2019_shallow");
    let run = |out: &Path, extra: &[&str]| {
        let mut a = vec![
            "variants",
            "--engine",
            "tract",
            p(&model),
            "--genome",
            p(&genome),
            "--vcf",
            p(&vcf),
            "--stats",
            "SAD,logSAD",
            "--tracks",
            "0,44",
            "--chunk-sites",
            "7",
            "--format",
            "tsv,parquet",
            "--out",
            p(out),
        ];
        a.extend_from_slice(extra);
        ok(&a);
    };
    let whole = dir.path().join("whole");
    run(&whole, &[]);
    let (a, b, c) = (dir.path().join("a"), dir.path().join("b"), dir.path().join("c"));
    run(&a, &["--shard", "0/3"]);
    run(&b, &["--shard", "1/3"]);
    run(&c, &["--shard", "2/3"]);
    assert!(!a.join("variants.tsv").exists(), "a shard alone writes no final files");
    ok(&["merge", p(&a), p(&b), p(&c)]);
    // A shard's folder finished by an unsharded run with the same options (resume).
    let resumed = dir.path().join("resumed");
    run(&resumed, &["--shard", "1/2"]);
    run(&resumed, &[]);
    for f in ["variants.tsv", "variants.parquet", "rejected.tsv"] {
        let want = std::fs::read(whole.join(f)).unwrap();
        assert_eq!(std::fs::read(a.join(f)).unwrap(), want, "{f}: merged shards differ");
        assert_eq!(std::fs::read(resumed.join(f)).unwrap(), want, "{f}: resumed run differs");
    }
    let rejected = std::fs::read_to_string(whole.join("rejected.tsv")).unwrap();
    assert!(rejected.contains("\tv3\t") && rejected.contains("does not match the genome"), "{rejected}");
    assert_eq!(tsv(&whole.join("variants.tsv")).len() + rejected.lines().count() - 1, 80);
    // Other options in a folder with parts are refused.
    let d = dir.path().join("d");
    run(&d, &["--shard", "0/2"]);
    let mut a2 =
        vec!["variants", "--engine", "tract", p(&model), "--genome", p(&genome), "--vcf", p(&vcf), "--stats", "SAD"];
    a2.extend_from_slice(&["--tracks", "0,44", "--chunk-sites", "7", "--format", "tsv,parquet", "--out", p(&d)]);
    fails(&a2, &["other options"]);
}

#[test]
fn empty_vcfs_missing_outputs_and_bad_options() {
    let dir = tempfile::tempdir().unwrap();
    let genome = fixture("genome/hg38_chr1_1mb.fa.gz");
    let model = Path::new(env!("CARGO_MANIFEST_DIR")).join("models/calderon2019_shallow");
    let vcf = dir.path().join("v.vcf");
    std::fs::write(&vcf, "##fileformat=VCFv4.2\n#CHROM\tPOS\tID\tREF\tALT\n").unwrap();
    let out = dir.path().join("o");
    let base =
        ["variants", "--engine", "tract", p(&model), "--genome", p(&genome), "--vcf", p(&vcf), "--format", "tsv"];
    let with = |extra: &[&'static str], out: &Path| -> Vec<String> {
        base.iter().chain(extra).map(|s| s.to_string()).chain(["--out".to_string(), p(out).to_string()]).collect()
    };
    let run = |a: Vec<String>| ok(&a.iter().map(String::as_str).collect::<Vec<_>>());
    run(with(&[], &out));
    assert_eq!(std::fs::read_to_string(out.join("variants.tsv")).unwrap().lines().count(), 1, "header only");
    // A telomere record (POS 0) is rejected, not fatal; a deleted output is written again.
    std::fs::write(&vcf, "chr1\t0\tt\tN\tA\nchr1\t14677\tx\tG\tA\n").unwrap();
    let o2 = dir.path().join("o2");
    run(with(&[], &o2));
    assert!(std::fs::read_to_string(o2.join("rejected.tsv")).unwrap().contains("telomere"));
    let want = std::fs::read(o2.join("variants.tsv")).unwrap();
    std::fs::remove_file(o2.join("variants.tsv")).unwrap();
    run(with(&[], &o2));
    assert_eq!(std::fs::read(o2.join("variants.tsv")).unwrap(), want);
    let o3 = dir.path().join("o3");
    for (extra, needle) in [
        (&["--pseudo", "nan"][..], "--pseudo"),
        (&["--stats", "SAD,SAD"][..], "given twice"),
        (&["--tracks", "1,1"][..], "given twice"),
        (&["--chunk-sites", "0"][..], "--chunk-sites"),
    ] {
        let a = with(extra, &o3);
        fails(&a.iter().map(String::as_str).collect::<Vec<_>>(), &[needle]);
        assert!(!o3.exists(), "{extra:?} left {}", o3.display());
    }
}
