//! `s2f genes` on the hg38 fixture with the Keras small Basenji2 model (8,192 bp in, 240 bins of
//! 32 bp from offset 256: the TSS bin is 120, `--bins 3` sums bins 119–121), and
//! `s2f evaluate genes` against a direct computation.

mod common;

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use common::{fails, fixture, ok, p};

fn keras_small_package(dir: &Path) -> PathBuf {
    let f = |r: &str| fixture(&format!("models/basenji2_keras_small/{r}"));
    let out = dir.join("keras_small");
    ok(&["convert", "--from", "keras-h5", p(&f("model.h5")), "--config", p(&f("params.json")), "--out", p(&out)]);
    out
}

/// gene id → (row of text columns, track column → value).
type Table = HashMap<String, (HashMap<String, String>, HashMap<String, f64>)>;

fn read_table(path: &Path) -> Table {
    let df = s2f::io::table::read(path).unwrap();
    let names = s2f::io::table::names(&df);
    let ids = s2f::io::table::strings(&df, "gene_id", path).unwrap();
    let mut out: Table = ids.iter().map(|g| (g.clone(), Default::default())).collect();
    for n in &names {
        let text = s2f::io::table::strings_or_empty(&df, n, path).unwrap();
        for (g, v) in ids.iter().zip(text) {
            out.get_mut(g).unwrap().0.insert(n.clone(), v);
        }
        if s2f::io::table::is_numeric(&df, n) {
            let m = s2f::io::table::matrix(&df, std::slice::from_ref(n), path, &ids).unwrap();
            for (g, v) in ids.iter().zip(m.column(0)) {
                out.get_mut(g).unwrap().1.insert(n.clone(), *v);
            }
        }
    }
    out
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

/// TSSs on the 1-Mb chr1 fixture (outside its assembly gaps): g1 has two, g2 and g3 share one.
const TSS: &str = "gene_id\tgene_name\tchrom\ttss\tstrand\n\
g1\tONE\tchr1\t125000\t+\n\
g1\tONE\tchr1\t125400\t+\n\
g1\tONE\tchr1\t125000\t+\n\
g2\tTWO\tchr1\t200123\t-\n\
g3\tTHREE\tchr1\t200123\t+\n\
g4\tFOUR\tchr1\t12000\t+\n\
g5\tFIVE\tchr2\t5000\t+\n";

#[test]
fn gene_values_are_sums_of_predict_bed_bins_around_each_tss() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let pkg = keras_small_package(d);
    let genome = fixture("genome/hg38_chr1_1mb.fa.gz");
    let tss = write(d, "tss.tsv", TSS);
    let out = d.join("genes.tsv");
    ok(&[
        "genes",
        p(&pkg),
        "--genome",
        p(&genome),
        "--tss",
        p(&tss),
        "--tracks",
        "0,5,11",
        "--engine",
        "tract",
        "--out",
        p(&out),
    ]);
    // The reference: one BED region [tss, tss + 1) per distinct TSS, its midpoint the TSS.
    let sites = [125000i64, 125400, 200123, 12000];
    let bed =
        write(d, "tss.bed", &sites.iter().map(|s| format!("chr1\t{s}\t{}\tsite{s}\n", s + 1)).collect::<String>());
    let pred = d.join("bed");
    ok(&["predict", p(&pkg), "--genome", p(&genome), "--bed", p(&bed), "--engine", "tract", "--out", p(&pred)]);
    let arrays = s2f::io::npy::read_npz(pred.join("predictions.npz")).unwrap();
    assert_eq!(arrays[0].1.shape, [4, 240, 12]);
    let y = arrays[0].1.to_f32().unwrap();
    let at =
        |site: usize, track: usize| -> f64 { (119..=121).map(|b| y[site * 240 * 12 + b * 12 + track] as f64).sum() };
    let got = read_table(&out);
    assert_eq!(got.len(), 4, "g5 (chr2, not in the genome) is left out");
    let expect: [(&str, Vec<usize>); 4] = [("g1", vec![0, 1]), ("g2", vec![2]), ("g3", vec![2]), ("g4", vec![3])];
    for (g, idx) in expect {
        let (text, vals) = &got[g];
        assert_eq!(text["n_tss"], idx.len().to_string(), "{g}");
        for (name, t) in [("t0000", 0), ("t0005", 5), ("t0011", 11)] {
            let want: f64 = idx.iter().map(|&i| at(i, t)).sum();
            assert!((vals[name] - want).abs() <= 1e-6 * want.abs().max(1.0), "{g} {name}: {} vs {want}", vals[name]);
        }
    }
    assert_eq!(got["g1"].0["tss"], "125000");
    assert_eq!(got["g1"].0["gene_name"], "ONE");
    assert_eq!(got["g2"].0["strand"], "-");
    // --aggregate max and the TSS of g1 alone.
    let out_max = d.join("max.parquet");
    ok(&[
        "genes",
        p(&pkg),
        "--genome",
        p(&genome),
        "--tss",
        p(&tss),
        "--tracks",
        "5",
        "--aggregate",
        "max",
        "--bins",
        "1",
        "--engine",
        "tract",
        "--out",
        p(&out_max),
    ]);
    let m = read_table(&out_max);
    let one = |site: usize| y[site * 240 * 12 + 120 * 12 + 5] as f64;
    assert!((m["g1"].1["t0005"] - one(0).max(one(1))).abs() < 1e-6);
}

#[test]
fn from_tracks_equals_the_model_path_where_windows_coincide() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let pkg = keras_small_package(d);
    let genome = fixture("genome/hg38_chr1_1mb.fa.gz");
    let run = d.join("run");
    ok(&["predict", p(&pkg), "--genome", p(&genome), "--tracks", "0,5", "--engine", "tract", "--out", p(&run)]);
    // Genome windows start at k·7,680 − 256; a TSS at k·7,680 + 3,840 is centred in window k.
    let mut text = String::from("gene_id\tchrom\ttss\tstrand\n");
    for (i, k) in [3i64, 17, 18, 90, 121].iter().enumerate() {
        text.push_str(&format!("g{i}\tchr1\t{}\t+\n", k * 7680 + 3840));
    }
    text.push_str(&format!("g1\tchr1\t{}\t+\n", 90 * 7680 + 3840));
    let tss = write(d, "tss.tsv", &text);
    let (a, b) = (d.join("model.tsv"), d.join("tracks.tsv"));
    ok(&[
        "genes",
        p(&pkg),
        "--genome",
        p(&genome),
        "--tss",
        p(&tss),
        "--tracks",
        "0,5",
        "--engine",
        "tract",
        "--out",
        p(&a),
    ]);
    ok(&["genes", "--from-tracks", p(&run), "--tss", p(&tss), "--out", p(&b)]);
    let (ta, tb) = (read_table(&a), read_table(&b));
    assert_eq!(ta.len(), 5);
    for (g, (_, va)) in &ta {
        let vb = &tb[g].1;
        for t in ["t0000", "t0005"] {
            assert!(
                (va[t] - vb[t]).abs() <= 1e-5 * va[t].abs().max(1.0),
                "{g} {t}: model {} vs tracks {}",
                va[t],
                vb[t]
            );
        }
    }
    // A TSS off the tiling: each tiled bin weighted by its overlap with the 3 bins from TSS − 32.
    let off = 17 * 7680 + 1000;
    let t2 = write(d, "off.tsv", &format!("gene_id\tchrom\ttss\tstrand\nh\tchr1\t{off}\t+\ngap\tchr1\t320000\t+\n"));
    let c = d.join("off_tracks.tsv");
    ok(&["genes", "--from-tracks", p(&run), "--tss", p(&t2), "--out", p(&c)]);
    let bins = s2f::io::bigwig::read_bigwig(&run.join("t0005.bw"), "chr1", 0, 1_000_000).unwrap();
    let (lo, hi) = (off as u32 - 32, off as u32 + 64);
    let want: f64 =
        bins.iter().map(|&(s, e, v)| v as f64 * (e.min(hi).saturating_sub(s.max(lo))) as f64 / (e - s) as f64).sum();
    let offt = read_table(&c);
    assert!(!offt.contains_key("gap"), "a TSS in the assembly gap the run skipped has no value: left out");
    let got = offt["h"].1["t0005"];
    assert!((got - want).abs() <= 1e-6 * want.abs().max(1.0), "{got} vs {want}");
    assert_eq!(off % 32, 8, "the TSS is 8 bp into a tiled bin: four bins are weighted");
    // --rc/--shifts do not apply to values already predicted.
    fails(
        &["genes", "--from-tracks", p(&run), "--tss", p(&t2), "--rc", "--out", p(&d.join("rc.tsv"))],
        &["--from-tracks reads the run's values as they are"],
    );
    // The model, when given, must be the run's.
    let other = Path::new(env!("CARGO_MANIFEST_DIR")).join("models/calderon2019_shallow");
    fails(
        &["genes", p(&other), "--from-tracks", p(&run), "--tss", p(&tss), "--out", p(&d.join("x.tsv"))],
        &["is not the model of the run"],
    );
}

#[test]
fn genes_from_a_gtf_and_bad_inputs() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let pkg = keras_small_package(d);
    let genome = fixture("genome/hg38_chr1_1mb.fa.gz");
    let attrs = |g: &str, t: &str, ty: &str| {
        format!("gene_id \"{g}\"; transcript_id \"{t}\"; gene_type \"{ty}\"; gene_name \"{g}N\";")
    };
    let gtf = write(
        d,
        "a.gtf",
        &[
            format!("chr1\tHAVANA\texon\t125001\t125300\t.\t+\t.\t{}\n", attrs("G1", "T1", "protein_coding")),
            format!("chr1\tHAVANA\texon\t125101\t125300\t.\t+\t.\t{}\n", attrs("G1", "T2", "protein_coding")),
            format!("chr1\tHAVANA\texon\t199000\t200124\t.\t-\t.\t{}\n", attrs("G2", "T3", "lncRNA")),
        ]
        .concat(),
    );
    let out = d.join("g.tsv");
    ok(&[
        "genes",
        p(&pkg),
        "--genome",
        p(&genome),
        "--gtf",
        p(&gtf),
        "--gene-type",
        "protein_coding",
        "--tracks",
        "1",
        "--engine",
        "tract",
        "--out",
        p(&out),
    ]);
    let t = read_table(&out);
    assert_eq!(t.len(), 1);
    assert_eq!((t["G1"].0["tss"].as_str(), t["G1"].0["n_tss"].as_str()), ("125000", "2"));
    let tss = write(d, "tss.tsv", TSS);
    let base = |extra: &[&str]| -> Vec<String> {
        let mut a: Vec<String> = [
            "genes",
            p(&pkg),
            "--genome",
            p(&genome),
            "--tss",
            p(&tss),
            "--engine",
            "tract",
            "--out",
            p(&d.join("bad.tsv")),
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        a.extend(extra.iter().map(|s| s.to_string()));
        a
    };
    let run_fail = |extra: &[&str], needle: &str| {
        let a = base(extra);
        let r: Vec<&str> = a.iter().map(String::as_str).collect();
        fails(&r, &[needle]);
    };
    run_fail(&["--bins", "2"], "odd number of bins");
    run_fail(&["--bins", "241"], "are not all among the model's 240 bins");
    run_fail(&["--aggregate", "median"], "choose sum, max or mean");
    run_fail(&["--track-filter", "CAGE"], "no tracks selected");
    let bad = write(d, "bad_strand.tsv", "gene_id\tchrom\ttss\tstrand\ng1\tchr1\t100\tx\n");
    fails(
        &["genes", p(&pkg), "--genome", p(&genome), "--tss", p(&bad), "--out", p(&d.join("b.tsv"))],
        &["row 1", "strand \"x\""],
    );
    assert!(!d.join("bad.tsv").exists() && !d.join("b.tsv").exists());
}

/// log(x + 1), z-scored per column across rows (ddof 0).
fn z(m: &[Vec<f64>]) -> Vec<Vec<f64>> {
    let l: Vec<Vec<f64>> = m.iter().map(|r| r.iter().map(|v| (v + 1.0).ln()).collect()).collect();
    let (n, t) = (l.len() as f64, l[0].len());
    let mut out = l.clone();
    for j in 0..t {
        let mu = l.iter().map(|r| r[j]).sum::<f64>() / n;
        let sd = (l.iter().map(|r| (r[j] - mu).powi(2)).sum::<f64>() / n).sqrt();
        for (o, r) in out.iter_mut().zip(&l) {
            o[j] = (r[j] - mu) / sd;
        }
    }
    out
}

fn pearson(a: &[f64], b: &[f64]) -> f64 {
    let n = a.len() as f64;
    let (ma, mb) = (a.iter().sum::<f64>() / n, b.iter().sum::<f64>() / n);
    let c: f64 = a.iter().zip(b).map(|(x, y)| (x - ma) * (y - mb)).sum();
    let va: f64 = a.iter().map(|x| (x - ma).powi(2)).sum();
    let vb: f64 = b.iter().map(|y| (y - mb).powi(2)).sum();
    c / (va * vb).sqrt()
}

#[test]
fn evaluate_genes_equals_a_direct_computation() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let tracks = ["CNhs1", "CNhs2", "CNhs3"];
    let n = 12;
    let pred: Vec<Vec<f64>> =
        (0..n).map(|i| (0..3).map(|j| ((i * 7 + j * 3) % 11) as f64 * 1.5 + j as f64).collect()).collect();
    let obs: Vec<Vec<f64>> =
        (0..n).map(|i| (0..3).map(|j| ((i * 5 + j * 2) % 13) as f64 + 0.5 * j as f64).collect()).collect();
    let table = |m: &[Vec<f64>], extra: &str| -> String {
        let mut s = format!("gene_id\ttss\tn_tss\t{}\n", tracks.join("\t"));
        for (i, r) in m.iter().enumerate() {
            s.push_str(&format!(
                "g{i}\t{}\t1\t{}\n",
                i * 100,
                r.iter().map(|v| v.to_string()).collect::<Vec<_>>().join("\t")
            ));
        }
        s + extra
    };
    let pf = write(d, "pred.tsv", &table(&pred, ""));
    let of = write(d, "obs.tsv", &table(&obs, "gX\t0\t1\t1\t1\t1\n"));
    let split = write(
        d,
        "split.tsv",
        &(0..n)
            .map(|i| format!("g{i}\t{}\n", if i < 8 { "train" } else { "test" }))
            .fold("gene_id\tsplit\n".to_string(), |a, b| a + &b),
    );
    let out = d.join("eval");
    ok(&["evaluate", "genes", "--pred", p(&pf), "--obs", p(&of), "--split", p(&split), "--out", p(&out)]);
    let (zp, zo) = (z(&pred), z(&obs));
    let text = std::fs::read_to_string(out.join("tracks.tsv")).unwrap();
    let mut seen = 0;
    for line in text.lines().skip(1) {
        let f: Vec<&str> = line.split('\t').collect();
        let j = tracks.iter().position(|t| *t == f[0]).unwrap();
        let rows: Vec<usize> = (0..n).filter(|&i| f[1] == "all" || (f[1] == "test") == (i >= 8)).collect();
        let a: Vec<f64> = rows.iter().map(|&i| zp[i][j]).collect();
        let b: Vec<f64> = rows.iter().map(|&i| zo[i][j]).collect();
        let got: f64 = f[2].parse().unwrap();
        assert!((got - pearson(&a, &b)).abs() < 1e-12, "{line}");
        seen += 1;
    }
    assert_eq!(seen, 9, "3 tracks × (all, test, train)");
    let text = std::fs::read_to_string(out.join("genes.tsv")).unwrap();
    for line in text.lines().skip(1) {
        let f: Vec<&str> = line.split('\t').collect();
        let i: usize = f[0][1..].parse().unwrap();
        let got: f64 = f[2].parse().unwrap();
        assert!((got - pearson(&zp[i], &zo[i])).abs() < 1e-12, "{line}");
    }
    let un = std::fs::read_to_string(out.join("unmatched.tsv")).unwrap();
    assert_eq!(un.lines().nth(1), Some("gX\tpredicted"));
    for f in ["summary.tsv", "correlations.png", "scatter_best.png", "scatter_worst.png"] {
        assert!(out.join(f).is_file(), "{f}");
    }
    // Observed bigWigs at base resolution read at the same bins equal the table of their sums.
    let sizes = [s2f::genome::fasta::ChromSize { name: "chr1".into(), len: 10_000 }];
    let bw_dir = d.join("bw");
    std::fs::create_dir(&bw_dir).unwrap();
    let mut obs_text = format!("gene_id\t{}\n", tracks.join("\t"));
    let tss_text = (0..n)
        .map(|i| format!("g{i}\tchr1\t{}\t+\n", 200 + i * 700))
        .fold("gene_id\tchrom\ttss\tstrand\n".to_string(), |a, b| a + &b);
    let tss = write(d, "tss.tsv", &tss_text);
    let mut sums = vec![vec![0.0; 3]; n];
    for (j, t) in tracks.iter().enumerate() {
        // value (j + 1)·(1 + base mod 7) on every base.
        let vals: Vec<(String, u32, u32, f32)> =
            (0..10_000u32).map(|b| ("chr1".to_string(), b, b + 1, ((j + 1) as f32) * (1 + b % 7) as f32)).collect();
        s2f::io::bigwig::write_bigwig(&bw_dir.join(format!("{t}.bw")), &sizes, vals.into_iter()).unwrap();
        for (i, s) in sums.iter_mut().enumerate() {
            // The TSS is the first base of the middle bin (anchor 0): bases tss − 32 … tss + 63.
            let tss = 200 + i as u32 * 700;
            s[j] = (tss - 32..tss + 64).map(|b| ((j + 1) as f64) * (1 + b % 7) as f64).sum();
        }
    }
    for (i, s) in sums.iter().enumerate() {
        obs_text.push_str(&format!("g{i}\t{}\n", s.iter().map(|v| v.to_string()).collect::<Vec<_>>().join("\t")));
    }
    let obs_sums = write(d, "obs_sums.tsv", &obs_text);
    let (e1, e2) = (d.join("e1"), d.join("e2"));
    ok(&["evaluate", "genes", "--pred", p(&pf), "--obs", p(&obs_sums), "--out", p(&e1)]);
    ok(&[
        "evaluate",
        "genes",
        "--pred",
        p(&pf),
        "--obs-tracks",
        p(&bw_dir),
        "--tss",
        p(&tss),
        "--bin-size",
        "32",
        "--out",
        p(&e2),
    ]);
    assert_eq!(
        std::fs::read_to_string(e1.join("tracks.tsv")).unwrap(),
        std::fs::read_to_string(e2.join("tracks.tsv")).unwrap()
    );
    assert_eq!(
        std::fs::read_to_string(e1.join("genes.tsv")).unwrap(),
        std::fs::read_to_string(e2.join("genes.tsv")).unwrap()
    );
    // A text value in a numeric column is refused, not a silently dropped track.
    let na = write(d, "na.tsv", &table(&obs, "gY\t0\t1\tNA\t1\t1\n"));
    fails(
        &["evaluate", "genes", "--pred", p(&pf), "--obs", p(&na), "--out", p(&d.join("e4"))],
        &["column \"CNhs1\"", "\"NA\""],
    );
    // Duplicate genes are refused.
    let dup = write(d, "dup.tsv", &table(&obs, "g1\t0\t1\t1\t1\t1\n"));
    fails(
        &["evaluate", "genes", "--pred", p(&pf), "--obs", p(&dup), "--out", p(&d.join("e3"))],
        &["\"g1\" appears more than once"],
    );
}
