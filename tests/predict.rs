//! Genome-wide prediction: test-time augmentation, tiling, outputs, shards and resume.

mod common;

use std::path::Path;

use common::{engines, fixture, ok, p};
use ndarray::Array3;
use s2f::engine::ensemble::{predict_ensemble, Augment};
use s2f::engine::{create, Device, Predictor};
use s2f::io::npy::read_npy;
use s2f::model::Package;

fn npy3(path: &std::path::Path) -> Array3<f32> {
    let a = read_npy(path).unwrap();
    Array3::from_shape_vec((a.shape[0], a.shape[1], a.shape[2]), a.to_f32().unwrap()).unwrap()
}

fn keras_small_package(dir: &std::path::Path) -> std::path::PathBuf {
    let f = |r: &str| fixture(&format!("models/basenji2_keras_small/{r}"));
    let out = dir.join("keras_small");
    ok(&["convert", "--from", "keras-h5", p(&f("model.h5")), "--config", p(&f("params.json")), "--out", p(&out)]);
    out
}

#[test]
fn tta_average_equals_basenji_build_ensemble() {
    let dir = tempfile::tempdir().unwrap();
    let pkg = Package::open(keras_small_package(dir.path())).unwrap();
    let f = |r: &str| fixture(&format!("models/basenji2_keras_small/{r}"));
    let x = npy3(&f("inputs.npy"));
    let want = npy3(&f("expected_ensemble.npy"));
    let want_zero = npy3(&f("expected_ensemble_zeropad.npy"));
    for kind in engines() {
        let mut pred = Predictor::new(&pkg, create(kind, Device::Cpu, &pkg.onnx).unwrap(), 0, 8).unwrap();
        let aug = Augment { shifts: vec![-1, 0, 1], rc: true, pad: 0.25 };
        let got = predict_ensemble(&mut pred, x.view(), &aug).unwrap();
        let worst = common::excess(&got, &want, 1e-4, 1e-4);
        assert!(worst <= 0.0, "{kind:?}: ensemble exceeds the fixture tolerance by {worst}");
        // Zero padding is a different ensemble (differs up to 0.02 at the window edges).
        let zero = predict_ensemble(&mut pred, x.view(), &Augment { pad: 0.0, ..aug.clone() }).unwrap();
        let worst0 = common::excess(&zero, &want_zero, 1e-4, 1e-4);
        assert!(worst0 <= 0.0, "{kind:?}: zero-pad ensemble exceeds tolerance by {worst0}");
        let edge_diff = got.iter().zip(&zero).map(|(a, b)| (a - b).abs()).fold(0.0f32, f32::max);
        assert!(edge_diff > 1e-3, "0.25 and 0 padding should differ at the edges");
    }
}

/// Prediction of one window through the library (fetch, encode, predict), the reference the
/// genome-wide outputs are compared with.
fn predict_window(pkg: &Package, genome: &std::path::Path, start: i64, len: u64) -> Array3<f32> {
    let mut fa = s2f::genome::Fasta::open(genome).unwrap();
    let seq = fa.fetch(&s2f::genome::Interval::new("chr1", start, start + len as i64).unwrap()).unwrap();
    let enc = s2f::genome::onehot::Encoder::<f32>::new(0.0).unwrap();
    let x = Array3::from_shape_vec((1, len as usize, 4), enc.encode(&seq, s2f::genome::onehot::Layout::LengthFirst))
        .unwrap();
    let mut pred =
        Predictor::new(pkg, create(s2f::engine::EngineKind::Tract, Device::Cpu, &pkg.onnx).unwrap(), 0, 1).unwrap();
    pred.predict(x.view()).unwrap()
}

#[test]
fn genome_bigwigs_match_window_predictions_and_skip_gaps() {
    let dir = tempfile::tempdir().unwrap();
    let pkg_dir = keras_small_package(dir.path());
    let pkg = Package::open(&pkg_dir).unwrap();
    let genome = fixture("genome/hg38_chr1_1mb.fa.gz");
    let out = dir.path().join("out");
    let predict = [
        "predict",
        p(&pkg_dir),
        "--genome",
        p(&genome),
        "--out",
        p(&out),
        "--tracks",
        "0,5",
        "--batch",
        "4",
        "--format",
        "bigwig,parquet",
        "--engine",
        "tract",
    ];
    ok(&predict);
    let bw = out.join("t0005.bw");
    // The parquet table holds the same bins and values as the bigWigs.
    let (cols, rows) = s2f::io::parquet::read_parquet(&out.join("predictions.parquet")).unwrap();
    assert_eq!(cols, ["t0000", "t0005"]);
    let all = s2f::io::bigwig::read_bigwig(&bw, "chr1", 0, 1_000_000).unwrap();
    assert_eq!(rows.len(), all.len());
    for (r, (s, e, v)) in rows.iter().zip(&all) {
        assert_eq!((r.0.as_str(), r.1, r.2, r.3[1]), ("chr1", *s as i64, *e as i64, *v));
    }
    assert_eq!(s2f::io::bigwig::bigwig_chroms(&bw).unwrap(), [("chr1".to_string(), 1_000_000)]);
    // Geometry: 240 bins of 32 bp from offset 256, so windows step by 7,680 bp.
    for k in [1i64, 60, 130] {
        let out_start = k * 7680;
        let y = predict_window(&pkg, &genome, out_start - 256, 8192);
        let got = s2f::io::bigwig::read_bigwig(&bw, "chr1", out_start as u32, (out_start + 7680).min(1_000_000) as u32)
            .unwrap();
        assert!(!got.is_empty(), "window {k}");
        for (s, e, v) in got {
            let b = ((s as i64 - out_start) / 32) as usize;
            assert_eq!(e - s, if s + 32 > 1_000_000 { 1_000_000 - s } else { 32 });
            assert!((v - y[[0, b, 5]]).abs() <= 1e-5, "window {k} bin {b}: {v} vs {}", y[[0, b, 5]]);
        }
    }
    // chr1 starts with 10 kb of N: the first window (scored 0..7,680) is skipped, and so is window
    // 40 (307,200..314,880), inside the assembly gap 297,968..347,968.
    assert!(s2f::io::bigwig::read_bigwig(&bw, "chr1", 0, 7680).unwrap().is_empty());
    assert!(s2f::io::bigwig::read_bigwig(&bw, "chr1", 307_200, 314_880).unwrap().is_empty());
    // A rerun with the same options has nothing to do and changes nothing.
    let before = std::fs::read(&bw).unwrap();
    ok(&predict);
    assert_eq!(std::fs::read(&bw).unwrap(), before);
}

#[test]
fn bed_mode_reproduces_keras_on_the_fixture_windows() {
    let dir = tempfile::tempdir().unwrap();
    let pkg_dir = keras_small_package(dir.path());
    let f = |r: &str| fixture(&format!("models/basenji2_keras_small/{r}"));
    let out = dir.path().join("bed");
    // windows.bed holds the fixture's 8,192-bp windows (= the model's input length).
    ok(&[
        "predict",
        p(&pkg_dir),
        "--genome",
        p(&fixture("genome/hg38_chr1_1mb.fa.gz")),
        "--bed",
        p(&f("windows.bed")),
        "--out",
        p(&out),
    ]);
    let arrays = s2f::io::npy::read_npz(out.join("predictions.npz")).unwrap();
    assert_eq!(arrays[0].1.shape, [8, 240, 12]);
    let got = arrays[0].1.to_f32().unwrap();
    let want = read_npy(f("expected.npy")).unwrap().to_f32().unwrap();
    let worst = common::excess(&got, &want, 1e-4, 1e-4);
    assert!(worst <= 0.0, "BED-mode predictions differ from Keras by more than the fixture tolerance ({worst})");
    let names = arrays[1].1.to_strings().unwrap();
    let first = std::fs::read_to_string(f("windows.bed")).unwrap();
    let first_name = first.lines().next().unwrap().split('\t').nth(3).unwrap().to_string();
    assert_eq!(names[0], first_name);
}

#[test]
fn shards_merge_and_resume_give_identical_files() {
    let dir = tempfile::tempdir().unwrap();
    let model = p(&Path::new(env!("CARGO_MANIFEST_DIR")).join("models/calderon2019_shallow")).to_string();
    let genome = fixture("genome/hg38_chr1_1mb.fa.gz");
    let common = |out: &Path| -> Vec<String> {
        [
            "predict",
            &model,
            "--genome",
            p(&genome),
            "--out",
            p(out),
            "--tracks",
            "3,44",
            "--stride",
            "1000",
            "--chunk-windows",
            "100",
            "--batch",
            "64",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect()
    };
    let run = |extra: &[&str], out: &Path| {
        let mut a = common(out);
        a.extend(extra.iter().map(|s| s.to_string()));
        let refs: Vec<&str> = a.iter().map(String::as_str).collect();
        ok(&refs)
    };
    let whole = dir.path().join("whole");
    run(&[], &whole);
    let (a, b) = (dir.path().join("a"), dir.path().join("b"));
    run(&["--shard", "0/2"], &a);
    run(&["--shard", "1/2"], &b);
    assert!(!a.join("t0003.bw").exists(), "a shard alone writes no final files");
    ok(&["merge", p(&a), p(&b)]);
    // A run killed after two chunks and restarted.
    let resumed = dir.path().join("resumed");
    let args = common(&resumed);
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    let crashed = std::process::Command::new(env!("CARGO_BIN_EXE_s2f"))
        .args(&refs)
        .env("S2F_TEST_ABORT_AFTER_PARTS", "2")
        .output()
        .unwrap();
    assert!(!crashed.status.success(), "the test hook aborts the run");
    assert!(!resumed.join("t0003.bw").exists());
    let parts = std::fs::read_dir(resumed.join(".s2f-parts")).unwrap().count();
    assert_eq!(parts, 3, "manifest and two finished chunks survive the crash");
    run(&[], &resumed);
    for f in ["t0003.bw", "t0044.bw"] {
        let w = std::fs::read(whole.join(f)).unwrap();
        assert_eq!(std::fs::read(a.join(f)).unwrap(), w, "{f}: merged shards differ from the unsharded run");
        assert_eq!(std::fs::read(resumed.join(f)).unwrap(), w, "{f}: resumed run differs from the uninterrupted run");
    }
    // Options that disagree with an unfinished run are refused.
    let c = dir.path().join("c");
    run(&["--shard", "0/2"], &c);
    let mut other = common(&c);
    other[7] = "0,1".into();
    let refs: Vec<&str> = other.iter().map(String::as_str).collect();
    common::fails(&refs, &["other options"]);
}

#[test]
fn scalar_model_track_values_sit_on_central_bins() {
    let dir = tempfile::tempdir().unwrap();
    let model_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("models/calderon2019_shallow");
    let pkg = Package::open(&model_dir).unwrap();
    let genome = fixture("genome/hg38_chr1_1mb.fa.gz");
    let out = dir.path().join("demo");
    ok(&[
        "predict",
        p(&model_dir),
        "--genome",
        p(&genome),
        "--out",
        p(&out),
        "--stride",
        "200",
        "--chroms",
        "chr1",
        "--tracks",
        "7",
        "--batch",
        "256",
    ]);
    let bw = out.join("t0007.bw");
    // Bin k covers [200k, 200k + 200) and holds the window centred at 200k + 100.
    for k in [60i64, 2500, 4999] {
        let got = s2f::io::bigwig::read_bigwig(&bw, "chr1", (k * 200) as u32, (k * 200 + 200) as u32).unwrap();
        assert_eq!(got.len(), 1, "bin {k}");
        let y = predict_window(&pkg, &genome, k * 200 + 100 - 200, 401);
        assert!((got[0].2 - y[[0, 0, 7]]).abs() <= 1e-5, "bin {k}: {} vs {}", got[0].2, y[[0, 0, 7]]);
    }
}

#[test]
fn narrowpeak_windows_agree_across_onehot_train_and_predict() {
    // The same BED lines centre the same 401-bp windows in `s2f onehot --length`, genome-style
    // training data and `s2f predict --bed`: on the narrowPeak summit when a line has one, else
    // on the midpoint; with --ignore-summits always on the midpoint.
    let dir = tempfile::tempdir().unwrap();
    let genome = fixture("genome/hg38_chr1_1mb.fa.gz");
    let model_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("models/calderon2019_shallow");
    let pkg = Package::open(&model_dir).unwrap();
    let bed = dir.path().join("peaks.narrowPeak");
    std::fs::write(
        &bed,
        "chr1\t100000\t100600\tpeakA\t0\t.\t5.0\t-1\t-1\t150\n\
         chr1\t200001\t200500\tpeakB\t0\t.\t5.0\t-1\t-1\t-1\n\
         chr1\t300000\t300010\tpeakC\n",
    )
    .unwrap();
    let records = s2f::genome::bed::read_bed(&bed).unwrap();
    let chr1 = &common::naive_fasta(&genome)["chr1"];
    let enc = s2f::genome::onehot::Encoder::<f32>::new(0.0).unwrap();
    let mut onehots = Vec::new();
    for (flag, centres) in
        [(None, [100_150i64, 200_250, 300_005]), (Some("--ignore-summits"), [100_300, 200_250, 300_005])]
    {
        let tag = if flag.is_some() { "mid" } else { "summit" };
        let want: Vec<f32> = centres
            .iter()
            .flat_map(|&c| {
                enc.encode(&common::padded(chr1, c - 200, c + 201), s2f::genome::onehot::Layout::LengthFirst)
            })
            .collect();
        // s2f onehot
        let npz = dir.path().join(format!("{tag}.npz"));
        let mut args = vec!["onehot", "--fasta", p(&genome), "--bed", p(&bed), "--length", "401", "--out", p(&npz)];
        args.extend(flag);
        ok(&args);
        let x = s2f::io::npy::read_npz(&npz).unwrap()[0].1.to_f32().unwrap();
        assert!(x == want, "{tag}: s2f onehot windows");
        // Genome-style training data
        let mut fa = s2f::genome::Fasta::open(&genome).unwrap();
        let windows =
            s2f::train::data::genome_windows(&fa.chrom_sizes(), Some(&records), 401, None, None, flag.is_some())
                .unwrap();
        let starts: Vec<i64> = windows.iter().map(|w| w.interval.start()).collect();
        assert_eq!(starts, centres.map(|c| c - 200), "{tag}: training windows");
        let data =
            s2f::train::data::from_genome(&mut fa, &windows, 401, 0.0, &[], s2f::train::data::BinStat::Sum).unwrap();
        assert!(data.x == want, "{tag}: training sequences");
        // s2f predict --bed
        let out = dir.path().join(format!("pred_{tag}"));
        let mut args = vec!["predict", p(&model_dir), "--genome", p(&genome), "--bed", p(&bed), "--out", p(&out)];
        args.extend(flag);
        ok(&args);
        let arrays = s2f::io::npy::read_npz(out.join("predictions.npz")).unwrap();
        assert_eq!(arrays[0].1.shape, [3, 1, 45]);
        let got = arrays[0].1.to_f32().unwrap();
        for (i, &c) in centres.iter().enumerate() {
            let y = predict_window(&pkg, &genome, c - 200, 401);
            let worst = common::excess(&got[i * 45..(i + 1) * 45], y.as_slice().unwrap(), 1e-5, 0.0);
            assert!(worst <= 0.0, "{tag}: predict window {i} is not the one centred on {c} ({worst})");
        }
        onehots.push(x);
    }
    // The flag matters only for the line with a summit.
    let l = 401 * 4;
    assert_ne!(onehots[0][..l], onehots[1][..l]);
    assert_eq!(onehots[0][l..], onehots[1][l..]);
}
