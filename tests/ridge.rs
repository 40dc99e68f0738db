//! `s2f ridge fit` / `predict` against scikit-learn's expected table
//! (tests/fixtures/ridge, made by scripts/ridge_reference.py), and its input errors.

mod common;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::fixture;

fn s2f(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_s2f")).args(args).output().unwrap()
}

fn ok(out: &std::process::Output) {
    assert!(out.status.success(), "s2f failed: {}", String::from_utf8_lossy(&out.stderr));
}

fn err(out: &std::process::Output) -> String {
    assert!(!out.status.success(), "s2f should have failed");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// (case, target, key) → value.
fn expected() -> HashMap<(String, String, String), f64> {
    let text = std::fs::read_to_string(fixture("ridge/expected.tsv")).unwrap();
    text.lines()
        .skip(1)
        .map(|l| {
            let f: Vec<&str> = l.split('\t').collect();
            ((f[0].into(), f[1].into(), f[2].into()), f[3].parse().unwrap())
        })
        .collect()
}

fn close(a: f64, b: f64, what: &str) {
    assert!((a - b).abs() <= 1e-9 + 1e-6 * b.abs(), "{what}: s2f {a} vs scikit-learn {b}");
}

fn fit(dir: &Path, extra: &[&str]) -> PathBuf {
    let out = dir.join("fit");
    let mut args = vec![
        "ridge",
        "fit",
        "--features",
        fixture("ridge/features.tsv").to_str().unwrap().to_owned().leak(),
        "--targets",
        fixture("ridge/targets.tsv").to_str().unwrap().to_owned().leak(),
        "--log1p-features",
        "--log1p-targets",
        "--test-chroms",
        "chr6",
        "--out",
        out.to_str().unwrap().to_owned().leak(),
    ];
    args.extend_from_slice(extra);
    ok(&s2f(&args));
    out
}

/// Column name → values of a table written by s2f.
fn columns(path: &Path) -> (Vec<String>, HashMap<String, Vec<f64>>) {
    let df = s2f::io::table::read(path).unwrap();
    let names = s2f::io::table::names(&df);
    let first = s2f::io::table::strings(&df, &names[0], path).unwrap();
    let mut cols = HashMap::new();
    for n in &names[1..] {
        if s2f::io::table::is_numeric(&df, n) {
            cols.insert(
                n.clone(),
                s2f::io::table::matrix(&df, std::slice::from_ref(n), path, &[]).unwrap().into_raw_vec_and_offset().0,
            );
        }
    }
    (first, cols)
}

fn check_coefficients(dir: &Path, case: &str, exp: &HashMap<(String, String, String), f64>) {
    let (targets, cols) = columns(&dir.join("coefficients.parquet"));
    assert_eq!(targets, ["cell_0", "cell_1", "cell_2", "cell_3"]);
    let mut n = 0;
    for ((c, t, key), v) in exp.iter().filter(|((c, _, k), _)| c == case && (k == "intercept" || k.starts_with("CNhs")))
    {
        let row = targets.iter().position(|x| x == t).unwrap();
        close(cols[key][row], *v, &format!("{c} {t} {key}"));
        n += 1;
    }
    assert_eq!(n, 4 * 13, "{case}: every intercept and coefficient compared");
}

#[test]
fn fixed_alpha_fits_equal_scikit_learn_ridge() {
    let exp = expected();
    for alpha in ["0.5", "100"] {
        let tmp = tempfile::tempdir().unwrap();
        let dir = fit(tmp.path(), &["--alphas", alpha]);
        check_coefficients(&dir, &format!("fixed_{alpha}"), &exp);
        let m: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(dir.join("ridge.json")).unwrap()).unwrap();
        assert_eq!(m["n_train"], 237 - 39, "the 39 genes on chr6 held out");
    }
}

#[test]
fn cross_validated_alphas_equal_scikit_learn_grid_search() {
    let exp = expected();
    for (case, extra) in [("kfold5", vec!["--cv", "5"]), ("folds", vec!["--folds", "FOLDS"])] {
        let tmp = tempfile::tempdir().unwrap();
        let folds = fixture("ridge/folds.txt").to_str().unwrap().to_string();
        let extra: Vec<&str> = extra.iter().map(|a| if *a == "FOLDS" { folds.as_str() } else { a }).collect();
        let dir = fit(tmp.path(), &extra);
        check_coefficients(&dir, case, &exp);
        // cv.tsv: best alpha and the mean CV error of each alpha, in grid order.
        let text = std::fs::read_to_string(dir.join("cv.tsv")).unwrap();
        let mut lines = text.lines();
        let header: Vec<&str> = lines.next().unwrap().split('\t').collect();
        assert_eq!(header.len(), 2 + 10);
        for line in lines {
            let f: Vec<&str> = line.split('\t').collect();
            let t = f[0];
            close(f[1].parse().unwrap(), exp[&(case.into(), t.into(), "best_alpha".into())], "best alpha");
            let grid: Vec<f64> = (0..10).map(|k| 10f64.powf(-3.0 + 7.0 * k as f64 / 9.0)).collect();
            for (a, v) in grid.iter().zip(&f[2..]) {
                let key = format!("alpha={}", python_e(*a));
                close(v.parse().unwrap(), exp[&(case.into(), t.into(), key.clone())], &format!("{case} {t} {key}"));
            }
        }
        let (targets, cols) = columns(&dir.join("test_metrics.tsv"));
        for (i, t) in targets.iter().enumerate() {
            close(cols["pearson"][i], exp[&(case.into(), t.clone(), "test_pearson".into())], "test Pearson");
            assert_eq!(cols["n_genes"][i], 39.0);
        }
        if case == "kfold5" {
            let (genes, cols) = columns(&dir.join("test_genes.tsv"));
            assert_eq!(genes.len(), 39);
            for (i, g) in genes.iter().enumerate() {
                close(cols["pearson"][i], exp[&("genes".into(), g.clone(), "pearson".into())], g);
            }
        }
        for f in ["coefficients.png", "scatter.png", "correlations.png", "summary.json", "predictions.parquet"] {
            assert!(std::fs::metadata(dir.join(f)).unwrap().len() > 100, "{f}");
        }
    }
}

/// Python's `f"{a:e}"`.
fn python_e(a: f64) -> String {
    let s = format!("{a:.6e}");
    let (m, e) = s.split_once('e').unwrap();
    let e: i32 = e.parse().unwrap();
    format!("{m}e{}{:02}", if e < 0 { '-' } else { '+' }, e.abs())
}

#[test]
fn unmatched_genes_are_reported_and_predict_reproduces_the_held_out_predictions() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = fit(tmp.path(), &[]);
    let text = std::fs::read_to_string(dir.join("unmatched.tsv")).unwrap();
    let mut rows: Vec<&str> = text.lines().skip(1).collect();
    rows.sort();
    assert_eq!(
        rows,
        ["ENSG00237\ttargets", "ENSG00238\ttargets", "ENSG00239\ttargets", "ENSGX1\tfeatures", "ENSGX2\tfeatures"]
    );
    let pred = tmp.path().join("all.tsv");
    ok(&s2f(&[
        "ridge",
        "predict",
        dir.to_str().unwrap(),
        "--features",
        fixture("ridge/features.tsv").to_str().unwrap(),
        "--out",
        pred.to_str().unwrap(),
    ]));
    let (all_ids, all) = columns(&pred);
    assert_eq!(all_ids.len(), 240, "every gene of the features table is predicted");
    let (test_ids, held) = columns(&dir.join("predictions.parquet"));
    for t in ["cell_0", "cell_3"] {
        for (i, g) in test_ids.iter().enumerate() {
            let j = all_ids.iter().position(|x| x == g).unwrap();
            assert!((all[t][j] - held[t][i]).abs() < 1e-9, "{g} {t}");
        }
    }
}

fn write(dir: &Path, name: &str, text: &str) -> String {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p.to_str().unwrap().to_string()
}

#[test]
fn bad_tables_are_refused_with_the_gene_or_column_named() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let feats =
        write(d, "f.tsv", "gene_id\tchrom\ta\tb\ng1\tchr1\t1\t2\ng2\tchr1\t3\t1\ng3\tchr2\t2\t2\ng4\tchr2\t5\t1\n");
    let out = d.join("out");
    let o = out.to_str().unwrap();
    let run = |f: &str, t: &str, extra: &[&str]| {
        let mut a = vec!["ridge", "fit", "--features", f, "--targets", t, "--out", o];
        a.extend_from_slice(extra);
        s2f(&a)
    };
    let dup = write(d, "dup.tsv", "gene_id\ty\ng1\t1\ng2\t2\ng1\t3\n");
    assert!(err(&run(&feats, &dup, &["--cv", "2"])).contains("\"g1\" appears more than once"));
    let na = write(d, "na.tsv", "gene_id\ty\ng1\t1\ng2\tNA\ng3\t3\ng4\t1\n");
    let e = err(&run(&feats, &na, &["--cv", "2"]));
    assert!(e.contains("column \"y\"") && e.contains("row 2") && e.contains("NA"), "{e}");
    let none = write(d, "none.tsv", "gene_id\ty\nx1\t1\nx2\t2\n");
    assert!(err(&run(&feats, &none, &["--cv", "2"])).contains("no gene of"));
    let good = write(d, "good.tsv", "gene_id\ty\ng1\t1\ng2\t2\ng3\t3\ng4\t1\n");
    let e = err(&run(&feats, &good, &["--cv", "5"]));
    assert!(e.contains("4 training genes are fewer than the 5 cross-validation folds"), "{e}");
    let e = err(&run(&feats, &good, &["--cv", "2", "--alphas", "0"]));
    assert!(e.contains("alphas must be finite and > 0"), "{e}");
    assert!(!out.exists() && !d.join("out.partial").exists(), "nothing written on error");
    let e = err(&run(&feats, &good, &["--cv", "2", "--test-chroms", "6"]));
    assert!(e.contains("no gene is on these chromosomes (the genes are on chr1, chr2)"), "{e}");
    let nochrom = write(d, "nochrom.tsv", "gene_id\ta\tb\ng1\t1\t2\ng2\t3\t1\ng3\t2\t2\ng4\t5\t1\n");
    let folds = write(d, "folds.txt", "# Set_0\nchr1\n# Set_1\nchr2\n");
    let e = err(&run(&nochrom, &good, &["--folds", &folds]));
    assert!(e.contains("need a \"chrom\" column"), "{e}");
    let text_feat =
        write(d, "tf.tsv", "gene_id\tchrom\ta\tb\ng1\tchr1\t1\t2\ng2\tchr1\tx\t1\ng3\tchr2\t2\t2\ng4\tchr2\t5\t1\n");
    let e = err(&run(&text_feat, &good, &["--cv", "2"]));
    assert!(e.contains("column \"a\"") && e.contains("row 2 is \"x\""), "{e}");
    let neg = write(d, "neg.tsv", "gene_id\ty\ng1\t1\ng2\t-1\ng3\t3\ng4\t1\n");
    let e = err(&run(&feats, &neg, &["--cv", "2", "--log1p-targets"]));
    assert!(e.contains("log(x + 1) is undefined for -1 (row g2, column y)"), "{e}");
    let e = err(&run(&feats, &good, &["--cv", "2", "--target-columns", "z"]));
    assert!(e.contains("no column \"z\""), "{e}");
    assert!(!out.exists() && !d.join("out.partial").exists(), "nothing written on error");
    // A constant target is fitted (intercept only) without error.
    let flat = write(d, "flat.tsv", "gene_id\ty\tz\ng1\t1\t2\ng2\t1\t4\ng3\t1\t3\ng4\t1\t5\n");
    ok(&run(&feats, &flat, &["--cv", "2"]));
    let (t, c) = columns(&out.join("coefficients.parquet"));
    assert_eq!(t, ["y", "z"]);
    assert_eq!((c["intercept"][0], c["a"][0], c["b"][0]), (1.0, 0.0, 0.0));
    let e = err(&run(&feats, &good, &["--cv", "2"]));
    assert!(e.contains("exists and is not empty"), "{e}");
    // ridge predict needs every feature of the model.
    let e = err(&s2f(&[
        "ridge",
        "predict",
        o,
        "--features",
        &nochrom.replace("nochrom", "nob"),
        "--out",
        d.join("p.tsv").to_str().unwrap(),
    ]));
    assert!(e.contains("nob.tsv"), "{e}");
    let only_a = write(d, "only_a.tsv", "gene_id\ta\ng1\t1\n");
    let e = err(&s2f(&["ridge", "predict", o, "--features", &only_a, "--out", d.join("p.tsv").to_str().unwrap()]));
    assert!(e.contains("feature column \"b\" of the model is missing"), "{e}");
}

#[test]
fn a_split_table_holds_out_its_test_genes() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    // chr6 genes as "test", the rest train/valid: the same fit as --test-chroms chr6.
    let feats = std::fs::read_to_string(fixture("ridge/features.tsv")).unwrap();
    let mut split = String::from("gene_id\tsplit\n");
    for (i, line) in feats.lines().skip(1).enumerate() {
        let f: Vec<&str> = line.split('\t').collect();
        let s = if f[2] == "chr6" {
            "test"
        } else if i % 2 == 0 {
            "train"
        } else {
            "valid"
        };
        split.push_str(&format!("{}\t{s}\n", f[0]));
    }
    let split = write(d, "split.tsv", &split);
    let a = d.join("a");
    let b = fit(d, &["--alphas", "0.5"]);
    let mut args =
        vec!["ridge", "fit", "--features", fixture("ridge/features.tsv").to_str().unwrap().to_owned().leak()];
    args.extend(["--targets", fixture("ridge/targets.tsv").to_str().unwrap().to_owned().leak()]);
    args.extend([
        "--log1p-features",
        "--log1p-targets",
        "--alphas",
        "0.5",
        "--split",
        &split,
        "--out",
        a.to_str().unwrap(),
    ]);
    ok(&s2f(&args));
    assert_eq!(
        std::fs::read_to_string(a.join("test_metrics.tsv")).unwrap(),
        std::fs::read_to_string(b.join("test_metrics.tsv")).unwrap()
    );
    let bad = write(d, "bad.tsv", "gene_id\tsplit\nENSG00000\ttraining\n");
    let mut args2: Vec<&str> = args.clone();
    let n = args2.len();
    args2[n - 3] = &bad;
    args2[n - 1] = "unused";
    let e = err(&s2f(&args2));
    assert!(e.contains("split \"training\" of gene \"ENSG00000\": use train, valid or test"), "{e}");
}
