//! Hostile input, one test per class of the reliability review: silent wrong answers, crashes,
//! allocation aborts, damage outside the output, leftovers and misleading messages. Each asserts
//! the exit status, the message, and that nothing was left behind or damaged.

mod common;

use std::path::{Path, PathBuf};

use common::{fails, fixture, ok, p, s2f};

fn demo_model() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("models/calderon2019_shallow")
}

/// Names of the entries of `dir`, sorted.
fn entries(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> =
        std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    v.sort();
    v
}

/// Asserts that a failed command did not panic or abort (exit 1 with an `error:` line).
fn clean_failure(args: &[&str], needles: &[&str]) -> String {
    let err = fails(args, needles);
    assert!(!err.contains("panicked") && !err.contains("RUST_BACKTRACE"), "s2f {args:?} crashed: {err}");
    let out = s2f(args);
    assert_eq!(out.status.code(), Some(1), "s2f {args:?}: exit {:?} ({err})", out.status.code());
    err
}

/// Writes `x` (N, L, 4) float32 as .npy.
fn write_x(path: &Path, x: &[f32], n: usize, l: usize) {
    s2f::io::npy::write_npy(path, &[n, l, 4], x).unwrap();
}

/// One-hot rows of random bases.
fn onehot(n: usize, l: usize) -> Vec<f32> {
    let mut v = vec![0f32; n * l * 4];
    for i in 0..n * l {
        v[i * 4 + (i * 7 + i / 3) % 4] = 1.0;
    }
    v
}

// 1. A stale .fai is refused, naming the record, instead of returning wrong bases.
#[test]
fn stale_fai_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let fa = dir.path().join("stale.fa");
    std::fs::write(&fa, ">chrA\nACGTACGTACGTAC\nACGTAC\nACGTACGTAC\n>chrB\nGGGGGCCCCC\nGGGGGCCCCC\n").unwrap();
    std::fs::write(dir.path().join("stale.fa.fai"), "chrA\t30\t6\t10\t11\nchrB\t20\t45\t10\t11\n").unwrap();
    let out = dir.path().join("o.npz");
    let args = ["onehot", "--fasta", p(&fa), "--window", "10", "--stride", "10", "--out", p(&out)];
    clean_failure(&args, &["stale", "chrA"]);
    assert_eq!(entries(dir.path()), ["stale.fa", "stale.fa.fai"]);
    // An index whose offsets point into another record.
    std::fs::write(&fa, ">chrA\nACGTACGTAC\nACGTACGTAC\n>chrB\nGGGGGCCCCC\nGGGGGCCCCC\n").unwrap();
    std::fs::write(dir.path().join("stale.fa.fai"), "chrA\t20\t6\t10\t11\nchrB\t20\t17\t10\t11\n").unwrap();
    clean_failure(&args, &["chrB", "header"]);
    // An unparsable index names its line.
    std::fs::write(dir.path().join("stale.fa.fai"), "chrA\t20\t6\t10\t11\nchrB\t20\tx\t10\t11\n").unwrap();
    clean_failure(&args, &["stale.fa.fai", "line 2"]);
    // Deleting the index rebuilds it and gives the right bases.
    std::fs::remove_file(dir.path().join("stale.fa.fai")).unwrap();
    ok(&args);
    let a = s2f::io::npy::read_npz(&out).unwrap();
    let x = a.iter().find(|(n, _)| n == "seqfeatures").unwrap().1.to_f32().unwrap();
    let base = |w: usize, i: usize| b"ACGT"[(0..4).find(|&c| x[(w * 10 + i) * 4 + c] == 1.0).unwrap()];
    let second: Vec<u8> = (0..10).map(|i| base(1, i)).collect();
    assert_eq!(second, b"ACGTACGTAC");
}

// 2. A package whose files do not belong together, or with non-finite or non-float32 weights.
#[test]
fn package_files_are_checked_on_load() {
    let dir = tempfile::tempdir().unwrap();
    let pkg = dir.path().join("pkg");
    copy_dir(&demo_model(), &pkg);
    let x = dir.path().join("x.npy");
    write_x(&x, &onehot(2, 401), 2, 401);
    let y = dir.path().join("y.npy");
    ok(&["run", p(&pkg), "--input", p(&x), "--out", p(&y)]);
    // A foreign model.onnx copied into the package.
    std::fs::copy(fixture("models/ft_s2a_small/res/model_human.onnx"), pkg.join("model.onnx")).unwrap();
    std::fs::remove_file(&y).unwrap();
    clean_failure(&["run", p(&pkg), "--input", p(&x), "--out", p(&y)], &["model.onnx", "s2f package"]);
    assert!(!y.exists());
    // Changed weights.
    copy_dir(&demo_model(), &pkg);
    let st = pkg.join("model.safetensors");
    let mut w = s2f::model::Weights::read(&st).unwrap();
    let name = w.tensors.keys().next().unwrap().clone();
    w.tensors.get_mut(&name).unwrap().data[3] = f32::NAN;
    w.write_safetensors(&st).unwrap();
    clean_failure(&["run", p(&pkg), "--input", p(&x), "--out", p(&y)], &["model.safetensors", "changed"]);
    // Without digests (a hand-made package) the NaN itself is named.
    let spec = s2f::model::ModelSpec::read(pkg.join("model.json")).unwrap();
    std::fs::write(pkg.join("model.json"), spec.to_json()).unwrap();
    std::fs::remove_file(pkg.join("model.onnx")).unwrap();
    clean_failure(&["run", p(&pkg), "--input", p(&x), "--out", p(&y)], &[&name, "not finite"]);
    // `s2f package` refuses non-finite weights too.
    let out = dir.path().join("repacked");
    clean_failure(&["package", p(&pkg.join("model.json")), "--weights", p(&st), "--out", p(&out)], &["not finite"]);
    assert!(!out.exists());
    // float64 weights are converted only explicitly.
    let good = s2f::model::Weights::read(demo_model().join("model.safetensors")).unwrap();
    write_f64_safetensors(&good, &st);
    clean_failure(&["run", p(&pkg), "--input", p(&x), "--out", p(&y)], &["F64", "s2f package"]);
    ok(&["package", p(&pkg.join("model.json")), "--weights", p(&st), "--out", p(&out)]);
    ok(&["run", p(&out), "--input", p(&x), "--out", p(&y)]);
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
    }
}

/// Writes `w` as a safetensors file with float64 tensors.
fn write_f64_safetensors(w: &s2f::model::Weights, path: &Path) {
    let mut header = serde_json::Map::new();
    let mut data = Vec::new();
    for (name, t) in &w.tensors {
        let start = data.len();
        for v in &t.data {
            data.extend_from_slice(&(*v as f64).to_le_bytes());
        }
        header.insert(
            name.clone(),
            serde_json::json!({ "dtype": "F64", "shape": t.shape, "data_offsets": [start, data.len()] }),
        );
    }
    let mut h = serde_json::to_vec(&header).unwrap();
    while h.len() % 8 != 0 {
        h.push(b' ');
    }
    let mut bytes = (h.len() as u64).to_le_bytes().to_vec();
    bytes.extend_from_slice(&h);
    bytes.extend_from_slice(&data);
    std::fs::write(path, bytes).unwrap();
}

// 3. Every chromosome is covered whatever the stride; stride 0 is refused.
#[test]
fn predict_covers_short_chromosomes_and_refuses_stride_zero() {
    let dir = tempfile::tempdir().unwrap();
    let model = demo_model();
    let genome = fixture("genome/test.fa");
    let out = dir.path().join("o");
    let base = ["predict", p(&model), "--genome", p(&genome), "--tracks", "0", "--format", "parquet", "--out", p(&out)];
    let with = |extra: &[&str]| -> Vec<String> { base.iter().chain(extra).map(|s| s.to_string()).collect() };
    let run = |a: Vec<String>| ok(&a.iter().map(String::as_str).collect::<Vec<_>>());
    run(with(&["--stride", "1000"]));
    let sizes: Vec<(String, u64)> = std::fs::read_to_string(fixture("genome/test.fa.fai"))
        .unwrap()
        .lines()
        .map(|l| {
            let f: Vec<&str> = l.split('\t').collect();
            (f[0].to_string(), f[1].parse().unwrap())
        })
        .collect();
    let manifest = std::fs::read_to_string(out.join("s2f-predict.json")).unwrap();
    let windows: serde_json::Value = serde_json::from_str(&manifest).unwrap();
    let expected: u64 = sizes.iter().map(|(_, l)| l.div_ceil(1000)).sum();
    assert_eq!(windows["windows"].as_u64().unwrap(), expected);
    let rows = parquet_chroms(&out.join("predictions.parquet"));
    for (c, len) in &sizes {
        let covered: u64 = rows.iter().filter(|(n, _, _)| n == c).map(|(_, s, e)| e - s).sum();
        assert_eq!(covered, *len, "{c}: {covered} of {len} bp covered");
    }
    let o2 = dir.path().join("o2");
    let a = ["predict", p(&model), "--genome", p(&genome), "--stride", "0", "--out", p(&o2)];
    clean_failure(&a, &["--stride"]);
    assert!(!o2.exists() || entries(&o2).is_empty(), "stride 0 left {:?}", entries(&o2));
}

/// (chrom, start, end) of every row of a predictions.parquet.
fn parquet_chroms(path: &Path) -> Vec<(String, u64, u64)> {
    use parquet::file::reader::{FileReader, SerializedFileReader};
    let r = SerializedFileReader::new(std::fs::File::open(path).unwrap()).unwrap();
    let mut out = Vec::new();
    for row in r.get_row_iter(None).unwrap() {
        let row = row.unwrap();
        let mut it = row.get_column_iter();
        let chrom = it.next().unwrap().1.to_string().trim_matches('"').to_string();
        let num = |f: &parquet::record::Field| f.to_string().parse::<u64>().unwrap();
        let s = num(it.next().unwrap().1);
        let e = num(it.next().unwrap().1);
        out.push((chrom, s, e));
    }
    out
}

// 4. Options and inputs that used to be accepted without a word.
#[test]
fn nonsense_options_and_inputs_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let model = demo_model();
    let genome = fixture("genome/test.fa");
    let out = dir.path().join("o");
    let pr = |extra: &[&str], needles: &[&str]| {
        let mut a = vec!["predict", p(&model), "--genome", p(&genome), "--out", p(&out)];
        a.extend_from_slice(extra);
        clean_failure(&a, needles);
        assert!(!out.exists() || entries(&out).is_empty(), "{extra:?} left {:?}", entries(&out));
    };
    pr(&["--chunk-windows", "0"], &["--chunk-windows"]);
    pr(&["--shifts", "1000000"], &["shift 1000000", "401-bp window"]);
    pr(&["--shifts=-9223372036854775808"], &["shift -9223372036854775808"]);
    // NaN, infinities and values that are not one-hot.
    let x = dir.path().join("x.npy");
    let y = dir.path().join("y.npy");
    for (bad, needle) in [(f32::NAN, "not finite"), (f32::INFINITY, "not finite"), (0.5, "not one-hot")] {
        let mut v = onehot(3, 401);
        v[(2 * 401 + 17) * 4 + 1] = bad;
        write_x(&x, &v, 3, 401);
        clean_failure(&["run", p(&model), "--input", p(&x), "--out", p(&y)], &[needle, "sequence 2, position 17"]);
        assert!(!y.exists());
    }
    write_x(&x, &[], 0, 401);
    clean_failure(&["run", p(&model), "--input", p(&x), "--out", p(&y)], &["no sequences"]);
    let npz = dir.path().join("o.npz");
    clean_failure(
        &["onehot", "--fasta", p(&genome), "--window", "10", "--stride", "10", "--n-value", "2", "--out", p(&npz)],
        &["--n-value"],
    );
    // A spec head with no units, and a GTF transcript without gene_id.
    let spec = dir.path().join("spec.json");
    std::fs::write(
        &spec,
        r#"{"format":"s2f-model","version":1,"name":"z","input":{"length":20},
            "trunk":[{"op":"conv1d","filters":2,"kernel":3}],
            "heads":[{"name":"h","layers":[{"op":"flatten"},{"op":"linear","units":0}]}]}"#,
    )
    .unwrap();
    clean_failure(&["package", p(&spec), "--random-seed", "1", "--out", p(&out)], &["units must be positive"]);
    let gtf = dir.path().join("g.gtf");
    std::fs::write(&gtf, "chr1\tx\ttranscript\t11\t20\t.\t+\t.\ttranscript_id \"t1\"; gene_name \"A\";\n").unwrap();
    clean_failure(&["tss", "--gtf", p(&gtf), "--out", p(&dir.path().join("t.tsv"))], &["line 1", "gene_id"]);
}

// 5 and 9. Training inputs that crashed or gave misleading messages.
#[test]
fn training_input_errors_name_the_problem() {
    let dir = tempfile::tempdir().unwrap();
    let n = 12;
    let names: Vec<String> = (0..n).map(|i| format!("s{i}")).collect();
    let onehot_path = dir.path().join("x.npz");
    let mut npz = s2f::io::npy::NpzWriter::create(&onehot_path).unwrap();
    npz.add("seqfeatures", &[n, 30, 4], &onehot(n, 30)).unwrap();
    npz.add_strings("genenames", &names).unwrap();
    npz.finish().unwrap();
    let targets = |name: &str, rows: &[String]| -> PathBuf {
        let path = dir.path().join(name);
        std::fs::write(&path, format!("# name,a,b\n{}\n", rows.join("\n"))).unwrap();
        path
    };
    let good: Vec<String> = names.iter().enumerate().map(|(i, s)| format!("{s},{i},1")).collect();
    let t = targets("t.csv", &good);
    let out = dir.path().join("m");
    let train = |t: &Path, extra: &[&str], needles: &[&str]| {
        let mut a = vec!["train", "--arch", "drg-shallow", "--onehot", p(&onehot_path), "--targets", p(t)];
        a.extend_from_slice(extra);
        a.extend_from_slice(&["--epochs", "1", "--out", p(&out)]);
        clean_failure(&a, needles);
        assert!(!out.exists(), "a failed run leaves no output folder");
    };
    train(&t, &["--holdout", "1.0"], &["--holdout"]);
    train(&t, &["--holdout", "0.6"], &["--holdout"]);
    let mut nan = good.clone();
    nan[4] = "s4,nan,1".into();
    train(&targets("nan.csv", &nan), &[], &["nan.csv", "line 6", "\"a\"", "not finite"]);
    let mut short = good.clone();
    short[7] = "s7,1".into();
    train(&targets("short.csv", &short), &[], &["short.csv", "line 9", "expected a name and 2 values"]);
    let mut dup = good.clone();
    dup[9] = "s2,9,1".into();
    train(&targets("dup.csv", &dup), &[], &["dup.csv", "line 11", "\"s2\"", "line 4"]);
    // A one-head spec with two target files.
    let spec = dir.path().join("spec.json");
    std::fs::write(
        &spec,
        r#"{"format":"s2f-model","version":1,"name":"z","input":{"length":30},
            "trunk":[{"op":"conv1d","filters":2,"kernel":3},{"op":"flatten"}],
            "heads":[{"name":"h","layers":[{"op":"linear","units":2}]}]}"#,
    )
    .unwrap();
    let t2 = targets("t2.csv", &good);
    let mut a = vec!["train", "--spec", p(&spec), "--onehot", p(&onehot_path), "--targets"];
    let both = format!("{},{}", p(&t), p(&t2));
    a.push(&both);
    a.extend_from_slice(&["--epochs", "1", "--out", p(&out)]);
    clean_failure(&a, &["2 target sets", "1 head"]);
    // NaN in the one-hot input.
    let mut x = onehot(n, 30);
    x[(5 * 30 + 2) * 4] = f32::NAN;
    let mut npz = s2f::io::npy::NpzWriter::create(&onehot_path).unwrap();
    npz.add("seqfeatures", &[n, 30, 4], &x).unwrap();
    npz.add_strings("genenames", &names).unwrap();
    npz.finish().unwrap();
    train(&t, &[], &["x.npz", "sequence 5, position 2", "not finite"]);
}

// 6. Sizes that would abort on allocation are refused before allocating.
#[test]
fn huge_sizes_are_refused_before_allocating() {
    let dir = tempfile::tempdir().unwrap();
    let genome = fixture("genome/test.fa");
    let out = dir.path().join("o.npz");
    clean_failure(
        &["onehot", "--fasta", p(&genome), "--window", "1000000000000", "--stride", "1000", "--out", p(&out)],
        &["1000000000000"],
    );
    let bed = dir.path().join("r.bed");
    std::fs::write(&bed, "chr1\t10\t20\n").unwrap();
    clean_failure(
        &["onehot", "--fasta", p(&genome), "--bed", p(&bed), "--length", "1000000000000", "--pad", "--out", p(&out)],
        &["1000000000000"],
    );
    assert_eq!(entries(dir.path()), ["r.bed"]);
    let spec = dir.path().join("spec.json");
    let cases = [
        (100u64, 1_000_000_000_000u64, 3, "filters = 1000000000000"),
        (1_000_000_000_000, 4, 3, "input length"),
        (1 << 25, 1 << 24, 1024, "trunk.0.weight"),
    ];
    for (length, filters, kernel, needle) in cases {
        std::fs::write(
            &spec,
            format!(
                r#"{{"format":"s2f-model","version":1,"name":"z","input":{{"length":{length}}},
                "trunk":[{{"op":"conv1d","filters":{filters},"kernel":{kernel}}}],
                "heads":[{{"name":"h","layers":[]}}]}}"#
            ),
        )
        .unwrap();
        let pkg = dir.path().join("pkg");
        clean_failure(&["package", p(&spec), "--random-seed", "1", "--out", p(&pkg)], &[needle]);
        assert!(!pkg.exists());
    }
}

// 7. Special files and links at --out.
#[cfg(unix)]
#[test]
fn outputs_never_replace_special_files_or_links() {
    use std::os::unix::fs::FileTypeExt;
    let dir = tempfile::tempdir().unwrap();
    let model = demo_model();
    let x = dir.path().join("x.npy");
    write_x(&x, &onehot(2, 401), 2, 401);
    let run = |out: &Path| s2f(&["run", p(&model), "--input", p(&x), "--out", p(out)]);
    let r = run(Path::new("/dev/full"));
    assert!(!r.status.success());
    assert!(std::fs::metadata("/dev/full").unwrap().file_type().is_char_device(), "/dev/full was replaced");
    let fifo = dir.path().join("fifo");
    assert!(std::process::Command::new("mkfifo").arg(&fifo).status().unwrap().success());
    clean_failure(&["run", p(&model), "--input", p(&x), "--out", p(&fifo)], &["FIFO"]);
    assert!(std::fs::symlink_metadata(&fifo).unwrap().file_type().is_fifo());
    let target = dir.path().join("target.npy");
    std::fs::write(&target, b"old").unwrap();
    let link = dir.path().join("link.npy");
    std::os::unix::fs::symlink(&target, &link).unwrap();
    assert!(run(&link).status.success());
    assert!(std::fs::symlink_metadata(&link).unwrap().file_type().is_symlink(), "the link was replaced");
    assert_eq!(s2f::io::npy::read_npy(&target).unwrap().shape, vec![2, 1, 45]);
    assert_eq!(entries(dir.path()), ["fifo", "link.npy", "target.npy", "x.npy"]);
}

// 8. Leftovers of killed runs are cleaned; a failed merge changes nothing.
#[test]
fn leftovers_are_cleaned_and_failed_merges_change_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let genome = fixture("genome/test.fa");
    let out = dir.path().join("o.npz");
    let stale = dir.path().join(".o.npz.Ab12Cd.part");
    std::fs::write(&stale, b"left by a killed run").unwrap();
    ok(&["onehot", "--fasta", p(&genome), "--window", "100", "--stride", "100", "--out", p(&out)]);
    assert_eq!(entries(dir.path()), ["o.npz"]);

    let model = demo_model();
    let pr = |out: &Path, extra: &[&str]| -> Vec<String> {
        let base = ["predict", p(&model), "--genome", p(&genome), "--tracks", "0", "--stride", "200"];
        let mut v: Vec<String> = base.iter().map(|s| s.to_string()).collect();
        v.extend(["--chunk-windows", "3", "--out", p(out)].iter().map(|s| s.to_string()));
        v.extend(extra.iter().map(|s| s.to_string()));
        v
    };
    let run = |a: Vec<String>| ok(&a.iter().map(String::as_str).collect::<Vec<_>>());
    let (a, b) = (dir.path().join("a"), dir.path().join("b"));
    run(pr(&a, &["--shard", "0/2"]));
    run(pr(&b, &["--shard", "1/2", "--shift-pad", "0"]));
    let before = entries(&a.join(".s2f-parts"));
    clean_failure(&["merge", p(&a), p(&b)], &["other options"]);
    assert_eq!(entries(&a.join(".s2f-parts")), before, "a failed merge changed the first folder");
    let c = dir.path().join("c");
    run(pr(&c, &["--shard", "1/3"]));
    clean_failure(&["merge", p(&a), p(&c)], &["chunk", "nothing was changed"]);
    assert_eq!(entries(&a.join(".s2f-parts")), before);
}

// 10. Outputs do not depend on the batch size or the chunking of a genome-wide run.
#[test]
fn outputs_do_not_depend_on_batch_or_chunk_size() {
    use s2f::engine::{create, Device, Predictor};
    let pkg = s2f::model::Package::open(demo_model()).unwrap();
    let genome = common::naive_fasta(&fixture("genome/hg38_chr1_1mb.fa.gz"));
    let chr1 = &genome["chr1"];
    let n = 11;
    let mut x = ndarray::Array3::<f32>::zeros((n, 401, 4));
    for i in 0..n {
        for (j, b) in chr1[300_000 + i * 5_000..][..401].iter().enumerate() {
            if let Some(c) = b"ACGT".iter().position(|&c| c == b.to_ascii_uppercase()) {
                x[[i, j, c]] = 1.0;
            }
        }
    }
    for kind in common::engines() {
        let run = |batch: usize| {
            let mut pred = Predictor::new(&pkg, create(kind, Device::Cpu, &pkg.onnx).unwrap(), 0, batch).unwrap();
            pred.predict(x.view()).unwrap()
        };
        let want = run(n);
        for batch in [1, 2, 3, 5] {
            let got = run(batch);
            let differ = got.iter().zip(&want).filter(|(a, b)| a.to_bits() != b.to_bits()).count();
            assert_eq!(differ, 0, "{kind:?}: batch {batch} changes {differ} values");
        }
    }
    let dir = tempfile::tempdir().unwrap();
    let model = demo_model();
    let fa = fixture("genome/test.fa");
    let outs: Vec<PathBuf> = ["1", "3", "1000"]
        .iter()
        .map(|chunk| {
            let out = dir.path().join(format!("c{chunk}"));
            ok(&[
                "predict",
                p(&model),
                "--genome",
                p(&fa),
                "--stride",
                "50",
                "--tracks",
                "0,9",
                "--chunk-windows",
                chunk,
                "--batch",
                "4",
                "--out",
                p(&out),
            ]);
            out
        })
        .collect();
    for f in ["t0000.bw", "t0009.bw"] {
        let want = std::fs::read(outs[2].join(f)).unwrap();
        for o in &outs[..2] {
            assert_eq!(std::fs::read(o.join(f)).unwrap(), want, "{f}: {} differs", o.display());
        }
    }
}
