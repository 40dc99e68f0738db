//! Graph-form models: bpnet-lite's BPNet (with control tracks) and ChromBPNet import and
//! reproduce bpnet-lite's profile logits and log counts on every engine; a two-input model
//! exercises every merge against values computed here; jobs that cannot feed further inputs
//! refuse them by name.

mod common;

use std::path::{Path, PathBuf};

use common::{fails, fixture, ok, p};
use s2f::io::npy::{read_npy, write_npy};
use s2f::model::graph::{ExtraInput, InputKind, Merge, Node};
use s2f::model::onnx::EmitOptions;
use s2f::model::ops::{Flatten, Linear};
use s2f::model::spec::{Head, InputLayout, InputSpec, Layer, ModelSpec};
use s2f::model::weights::{Tensor, Weights};
use s2f::model::Package;

fn engine_name(kind: s2f::engine::EngineKind) -> &'static str {
    match kind {
        s2f::engine::EngineKind::Ort => "ort",
        _ => "tract",
    }
}

fn convert(model: &str, out: &Path) -> PathBuf {
    let f = |r: &str| fixture(&format!("models/{model}/{r}"));
    ok(&["convert", "--from", "bpnet-lite", p(&f("model.pt")), "--config", p(&f("config.json")), "--out", p(out)]);
    out.to_path_buf()
}

/// `s2f run` of `head` on every engine with `inputs` (`--input` values); returns (engine, values, shape).
fn run_head(pkg: &Path, inputs: &[String], head: &str, dir: &Path) -> Vec<(&'static str, Vec<f32>, Vec<usize>)> {
    let mut v = Vec::new();
    for kind in common::engines() {
        let engine = engine_name(kind);
        let out = dir.join(format!("{head}_{engine}.npy"));
        let mut args = vec!["run", p(pkg), "--out", p(&out), "--engine", engine, "--batch", "4", "--head", head];
        for i in inputs {
            args.extend(["--input", i.as_str()]);
        }
        ok(&args);
        let a = read_npy(&out).unwrap();
        v.push((engine, a.to_f32().unwrap(), a.shape.clone()));
    }
    v
}

/// bpnet-lite's profile (N, strands, L) in s2f's canonical (N, L, strands) order.
fn canonical_profile(path: &Path) -> (Vec<f32>, Vec<usize>) {
    let a = read_npy(path).unwrap();
    let (n, s, l) = (a.shape[0], a.shape[1], a.shape[2]);
    let x = a.to_f32().unwrap();
    let mut out = vec![0f32; x.len()];
    for i in 0..n {
        for c in 0..s {
            for j in 0..l {
                out[(i * l + j) * s + c] = x[(i * s + c) * l + j];
            }
        }
    }
    (out, vec![n, l, s])
}

fn max_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0f32, f32::max)
}

fn check_model(model: &str, inputs: &[String]) {
    let dir = tempfile::tempdir().unwrap();
    let pkg = convert(model, &dir.path().join("pkg"));
    let f = |r: &str| fixture(&format!("models/{model}/{r}"));
    let (want_p, shape_p) = canonical_profile(&f("expected_profile.npy"));
    let want_c = read_npy(f("expected_counts.npy")).unwrap().to_f32().unwrap();
    for (engine, got, shape) in run_head(&pkg, inputs, "profile", dir.path()) {
        assert_eq!(shape, shape_p, "{model} {engine}: profile shape");
        let d = max_diff(&got, &want_p);
        eprintln!("{model} {engine}: profile max |got − bpnet-lite| = {d:e}");
        assert!(d <= 1e-4, "{model} {engine}: profile differs by {d}");
    }
    for (engine, got, shape) in run_head(&pkg, inputs, "counts", dir.path()) {
        assert_eq!(shape, vec![want_c.len(), 1, 1], "{model} {engine}: counts shape");
        let d = max_diff(&got, &want_c);
        eprintln!("{model} {engine}: counts max |got − bpnet-lite| = {d:e}");
        assert!(d <= 1e-4, "{model} {engine}: counts differ by {d}");
    }
}

#[test]
fn bpnet_with_control_tracks_matches_bpnet_lite() {
    let f = |r: &str| fixture(&format!("models/bpnet_lite_small/{r}"));
    check_model(
        "bpnet_lite_small",
        &[format!("sequence={}", p(&f("inputs.npy"))), format!("control={}", p(&f("control.npy")))],
    );
}

#[test]
fn chrombpnet_matches_bpnet_lite() {
    let f = fixture("models/chrombpnet_lite_small/inputs.npy");
    check_model("chrombpnet_lite_small", &[p(&f).to_string()]);
}

#[test]
fn converted_bpnet_has_named_inputs_and_heads() {
    let dir = tempfile::tempdir().unwrap();
    let pkg = convert("bpnet_lite_small", &dir.path().join("pkg"));
    let text = ok(&["inspect", p(&pkg)]);
    for needle in [
        "graph input \"sequence\" NLC",
        "input: \"control\" Signal (N, 2, 2114)",
        "head counts: output (N, 1, 1)",
        "head profile: output (N, 1000, 2); bin i covers window [557 + 1·i, +1) bp; receptive field 155 bp",
        "node \"profile\": reads trunk, control merged by concat",
    ] {
        assert!(text.contains(needle), "missing {needle:?} in:\n{text}");
    }
}

#[test]
fn missing_or_wrong_inputs_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let pkg = convert("bpnet_lite_small", &dir.path().join("pkg"));
    let f = |r: &str| fixture(&format!("models/bpnet_lite_small/{r}"));
    let (seq, ctl) = (f("inputs.npy"), f("control.npy"));
    let out = dir.path().join("y.npy");
    let run = |inputs: &[String], needles: &[&str]| {
        let mut args = vec!["run", p(&pkg), "--out", p(&out), "--head", "counts", "--engine", "tract"];
        for i in inputs {
            args.extend(["--input", i.as_str()]);
        }
        fails(&args, needles);
        assert!(!out.exists(), "a failed run left {}", out.display());
    };
    run(&[p(&seq).to_string()], &["also takes input \"control\"", "--input control=FILE.npy"]);
    run(&[p(&seq).to_string(), format!("ctrl={}", p(&ctl))], &["no input \"ctrl\"", "it takes sequence, control"]);
    // The sequences as control: wrong shape.
    run(
        &[p(&seq).to_string(), format!("control={}", p(&seq))],
        &["input \"control\" is [6, 2114, 4]; the model takes [6, 2, 2114]"],
    );
    let bad = dir.path().join("nan.npy");
    let mut c = read_npy(&ctl).unwrap().to_f32().unwrap();
    c[2114 + 5] = f32::NAN;
    write_npy(&bad, &[6, 2, 2114], &c).unwrap();
    run(&[p(&seq).to_string(), format!("control={}", p(&bad))], &["holds NaN at [0, 1, 5]"]);
    // Jobs that feed one sequence input refuse the model by name.
    let err = fails(
        &["kernels", p(&pkg), "--input", p(&seq), "--head", "profile", "--out", p(&dir.path().join("k"))],
        &["not available yet for models with several inputs or a layer graph"],
    );
    assert!(err.contains("kernel knock-outs"), "{err}");
}

#[test]
fn bad_bpnet_configs_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let pt = fixture("models/bpnet_lite_small/model.pt");
    let cfg = dir.path().join("config.json");
    let out = dir.path().join("pkg");
    let try_config = |text: &str, needles: &[&str]| {
        std::fs::write(&cfg, text).unwrap();
        fails(&["convert", "--from", "bpnet-lite", p(&pt), "--config", p(&cfg), "--out", p(&out)], needles);
        assert!(!out.exists());
    };
    try_config(
        r#"{"n_filters": 16, "n_layers": 4, "n_outputs": 2, "n_control_tracks": 2, "trim": 557}"#,
        &["unknown BPNet argument \"trim\""],
    );
    // One layer too many: the checkpoint lacks rconvs.4.
    try_config(
        r#"{"n_filters": 16, "n_layers": 5, "n_outputs": 2, "n_control_tracks": 2, "trimming": 557}"#,
        &["missing tensor rconvs.4.weight"],
    );
    // No control tracks: fconv and linear have the wrong input widths.
    try_config(
        r#"{"n_filters": 16, "n_layers": 4, "n_outputs": 2, "n_control_tracks": 0, "trimming": 557}"#,
        &[
            "tensor fconv.weight: expected shape [2, 16, 75], found [2, 18, 75]",
            "hint: fconv and linear read n_filters channels plus the control tracks",
        ],
    );
    try_config(
        r#"{"bias": {"n_filters": 8}, "accesibility": {"n_filters": 16}}"#,
        &["unknown ChromBPNet key \"accesibility\""],
    );
    // input_length is a config key too: a 1,000-bp BPNet loads the same weights.
    std::fs::write(
        &cfg,
        r#"{"n_filters": 16, "n_layers": 4, "n_outputs": 2, "n_control_tracks": 2, "trimming": 400, "input_length": 1000}"#,
    )
    .unwrap();
    let short = dir.path().join("short");
    ok(&["convert", "--from", "bpnet-lite", p(&pt), "--config", p(&cfg), "--out", p(&short)]);
    let text = ok(&["inspect", p(&short)]);
    assert!(text.contains("head profile: output (N, 200, 2)"), "{text}");
    try_config(r#"{"n_filters": 16, "n_layers": 4, "trimming": 20}"#, &["trimming 20 is below"]);
    fails(&["convert", "--from", "bpnet-lite", p(&pt), "--out", p(&out)], &["bpnet-lite needs --config"]);
}

/// A two-input model: a = linear(flatten(sequence)), b = linear(flatten(other)), with heads
/// for every merge; checked against the same arithmetic done here in float64.
#[test]
fn every_merge_matches_its_formula() {
    let l = 6usize;
    let lin = |name: &str| {
        vec![Layer::Flatten(Flatten {}), Layer::Linear(Linear { name: Some(name.into()), units: 2, bias: true })]
    };
    let node = |name: &str, from: &[&str], merge: Option<Merge>, layers: Vec<Layer>| Node {
        name: name.into(),
        from: from.iter().map(|s| s.to_string()).collect(),
        merge,
        layers,
    };
    let merges = [
        ("concat", Merge::Concat),
        ("sum", Merge::Sum),
        ("difference", Merge::Difference),
        ("logsumexp", Merge::Logsumexp),
        ("exp_difference", Merge::ExpDifference),
        ("fraction", Merge::Fraction),
    ];
    let mut graph = vec![node("a", &["sequence"], None, lin("la")), node("b", &["other"], None, lin("lb"))];
    let mut heads = Vec::new();
    for (name, m) in merges {
        graph.push(node(&format!("m_{name}"), &["a", "b"], Some(m), vec![]));
        let mut h = Head::new(name, vec![]);
        h.from = Some(format!("m_{name}"));
        heads.push(h);
    }
    let mut spec = ModelSpec::new("merges", InputSpec::new(l as u64, 0.0), vec![], heads);
    spec.inputs = vec![ExtraInput {
        name: "other".into(),
        length: l as u64,
        channels: 4,
        kind: InputKind::Onehot,
        layout: InputLayout::NLC,
        offset: None,
    }];
    spec.graph = graph;
    // Weights scaled so that a − b spans both sides of ln 2048 and of zero.
    let wa: Vec<f32> = (0..2 * 4 * l).map(|i| ((i * 7 % 13) as f32 - 6.0) * 0.9).collect();
    let wb: Vec<f32> = (0..2 * 4 * l).map(|i| ((i * 5 % 11) as f32 - 5.0) * 0.4).collect();
    let mut w = Weights::default();
    w.insert("la.weight", Tensor { shape: vec![2, 4 * l], data: wa.clone() });
    w.insert("la.bias", Tensor { shape: vec![2], data: vec![8.0, -1.0] });
    w.insert("lb.weight", Tensor { shape: vec![2, 4 * l], data: wb.clone() });
    w.insert("lb.bias", Tensor { shape: vec![2], data: vec![-0.25, 2.0] });
    let dir = tempfile::tempdir().unwrap();
    let pkg = dir.path().join("pkg");
    Package::write(&pkg, &spec, &w, EmitOptions::default()).unwrap();
    // Four sequences: x (N, L, 4) one-hot.
    let n = 4;
    let onehot = |seed: usize| -> Vec<f32> {
        let mut v = vec![0f32; n * l * 4];
        for i in 0..n * l {
            v[i * 4 + (i * 3 + seed + i / 5) % 4] = 1.0;
        }
        v
    };
    let (x, y) = (onehot(0), onehot(1));
    let (xp, yp) = (dir.path().join("x.npy"), dir.path().join("y.npy"));
    write_npy(&xp, &[n, l, 4], &x).unwrap();
    write_npy(&yp, &[n, l, 4], &y).unwrap();
    // Flatten is channels-first: feature c·L + pos.
    let linear = |wt: &[f32], bias: [f64; 2], s: &[f32], i: usize| -> [f64; 2] {
        let mut out = bias;
        for (u, o) in out.iter_mut().enumerate() {
            for c in 0..4 {
                for pos in 0..l {
                    *o += wt[u * 4 * l + c * l + pos] as f64 * s[(i * l + pos) * 4 + c] as f64;
                }
            }
        }
        out
    };
    let inputs = [format!("sequence={}", p(&xp)), format!("other={}", p(&yp))];
    let mut spread = (f64::MAX, f64::MIN);
    for (name, m) in merges {
        let mut want = Vec::new();
        for i in 0..n {
            let a = linear(&wa, [8.0, -1.0], &x, i);
            let b = linear(&wb, [-0.25, 2.0], &y, i);
            for u in 0..2 {
                spread = (spread.0.min(a[u] - b[u]), spread.1.max(a[u] - b[u]));
            }
            match m {
                Merge::Concat => want.extend([a[0], a[1], b[0], b[1]]),
                _ => want.extend((0..2).map(|u| match m {
                    Merge::Sum => a[u] + b[u],
                    Merge::Difference => a[u] - b[u],
                    Merge::Logsumexp => (a[u].exp() + b[u].exp()).ln(),
                    Merge::ExpDifference => (a[u] - b[u]).min(2048f64.ln()).exp(),
                    _ => (a[u].max(0.0) + 1e-12) / (b[u].max(0.0) + 1e-12),
                })),
            }
        }
        for (engine, got, shape) in run_head(&pkg, &inputs, name, dir.path()) {
            assert_eq!(shape, vec![n, 1, want.len() / n], "{name} {engine}");
            for (g, w) in got.iter().zip(&want) {
                let tol = 1e-4 * (1.0 + w.abs());
                assert!((*g as f64 - w).abs() <= tol, "{name} {engine}: got {g}, expected {w}");
            }
        }
    }
    assert!(spread.0 < 0.0 && spread.1 > 2048f64.ln(), "a − b spans {spread:?}: the test misses a branch");
}

#[test]
fn graph_specs_with_bad_names_are_refused() {
    let base = || {
        let mut s = ModelSpec::new("g", InputSpec::new(8, 0.0), vec![], vec![Head::new("out", vec![])]);
        s.graph = vec![Node { name: "x".into(), from: vec!["trunk".into()], merge: None, layers: vec![] }];
        s.heads[0].from = Some("x".into());
        s
    };
    assert!(base().analyze().is_ok());
    let mut s = base();
    s.heads[0].from = Some("y".into());
    let e = s.analyze().unwrap_err().to_string();
    assert!(e.contains("head \"out\" reads \"y\", which is not defined before it"), "{e}");
    let mut s = base();
    s.graph[0].from = vec!["trunk".into(), "sequence".into()];
    let e = s.analyze().unwrap_err().to_string();
    assert!(e.contains("say how they combine with \"merge\""), "{e}");
    let mut s = base();
    s.graph[0].name = "sequence".into();
    let e = s.analyze().unwrap_err().to_string();
    assert!(e.contains("node name \"sequence\" is empty or used twice"), "{e}");
    let mut s = base();
    s.graph[0].from = vec!["trunk".into(), "sequence".into(), "trunk".into()];
    s.graph[0].merge = Some(Merge::Difference);
    let e = s.analyze().unwrap_err().to_string();
    assert!(e.contains("merge difference takes two sources, not 3"), "{e}");
    // JSON round trip keeps the graph form.
    let s = base();
    let back = ModelSpec::from_json(&s.to_json()).unwrap();
    assert_eq!(back, s);
}

/// The converted ChromBPNet's profile logits and log count on the window of `len` bp at
/// `start` of the 1-Mb chr1 fixture, through the library (tract).
fn profile_of_window(pkg: &Package, start: i64, len: usize) -> (Vec<f32>, f32) {
    use s2f::engine::{create, Device, EngineKind, Predictor};
    let mut fa = s2f::genome::Fasta::open(fixture("genome/hg38_chr1_1mb.fa.gz")).unwrap();
    let seq = fa.fetch(&s2f::genome::Interval::new("chr1", start, start + len as i64).unwrap()).unwrap();
    let enc = s2f::genome::onehot::Encoder::<f32>::new(0.0).unwrap();
    let x = ndarray::Array3::from_shape_vec((1, len, 4), enc.encode(&seq, s2f::genome::onehot::Layout::LengthFirst))
        .unwrap();
    let spec = pkg.spec.as_ref().unwrap();
    let run = |head: &str| {
        let engine = create(EngineKind::Tract, Device::Cpu, &pkg.onnx).unwrap();
        let head = spec.head_index(Some(head)).unwrap();
        Predictor::new(pkg, engine, head, 1).unwrap().predict(x.view()).unwrap().into_raw_vec_and_offset().0
    };
    (run("profile"), run("counts")[0])
}

/// Genome-wide prediction with a base-pair model: one bigWig value per base, each equal to the
/// profile of the window whose output span holds it (windows step by the 1,000-bp profile), as
/// counts softmax(logits) · exp(log count) by default, and the log count once per window at
/// the centre of its span; `--profile logits` writes the logits.
#[test]
fn chrombpnet_predict_writes_per_base_bigwigs() {
    let dir = tempfile::tempdir().unwrap();
    let pkg_dir = convert("chrombpnet_lite_small", &dir.path().join("pkg"));
    let pkg = Package::open(&pkg_dir).unwrap();
    let genome = fixture("genome/hg38_chr1_1mb.fa.gz");
    let out = dir.path().join("gw");
    // No --head: the profile (with its count head) is the default.
    ok(&["predict", p(&pkg_dir), "--genome", p(&genome), "--out", p(&out), "--engine", "tract"]);
    let profile_bw = out.join("t0000_profile_counts.bw");
    let counts_bw = out.join("counts_log_counts.bw");
    let n_bw = std::fs::read_dir(&out)
        .unwrap()
        .filter(|e| e.as_ref().unwrap().path().extension().is_some_and(|e| e == "bw"))
        .count();
    assert_eq!(n_bw, 2);
    for k in [20i64, 281, 919] {
        let out_start = k * 1000;
        let (logits, count) = profile_of_window(&pkg, out_start - 557, 2114);
        let max = logits.iter().fold(f32::NEG_INFINITY, |m, &v| m.max(v));
        let z: f64 = logits.iter().map(|&v| ((v - max) as f64).exp()).sum();
        let want: Vec<f64> = logits.iter().map(|&v| ((v - max) as f64).exp() / z * (count as f64).exp()).collect();
        let got =
            s2f::io::bigwig::read_bigwig(&profile_bw, "chr1", out_start as u32, (out_start + 1000) as u32).unwrap();
        let mut covered = 0;
        let mut total = 0.0;
        for (s, e, v) in got {
            for pos in s..e {
                let b = (pos as i64 - out_start) as usize;
                let w = want[b] as f32;
                assert!((v - w).abs() <= 1e-5 * w.abs().max(1.0), "chr1:{pos}: bigWig {v}, window {k} bin {b} {w}");
                covered += 1;
                total += v as f64;
            }
        }
        assert_eq!(covered, 1000, "window {k}: every base has a value");
        assert!((total - (count as f64).exp()).abs() <= 1e-4 * total, "window {k}: the profile sums to exp(count)");
        // The count: one 1-bp value at the centre of the window's span.
        let got =
            s2f::io::bigwig::read_bigwig(&counts_bw, "chr1", out_start as u32, (out_start + 1000) as u32).unwrap();
        assert_eq!(got.len(), 1, "window {k}: {got:?}");
        assert_eq!((got[0].0, got[0].1), ((out_start + 500) as u32, (out_start + 501) as u32));
        assert!((got[0].2 - count).abs() <= 1e-5, "window {k}: count {} vs {count}", got[0].2);
    }
    // Regions: one window centred on each fixture window, the same sequences as inputs.npy.
    let bed_out = dir.path().join("bed");
    let bed = fixture("models/chrombpnet_lite_small/windows.bed");
    ok(&[
        "predict",
        p(&pkg_dir),
        "--genome",
        p(&genome),
        "--bed",
        p(&bed),
        "--profile",
        "logits",
        "--out",
        p(&bed_out),
    ]);
    let z = s2f::io::npy::read_npz(bed_out.join("predictions.npz")).unwrap();
    let got = z.into_iter().find(|(n, _)| n == "predictions").unwrap().1;
    assert_eq!(got.shape, [6, 1000, 1]);
    let (want, _) = canonical_profile(&fixture("models/chrombpnet_lite_small/expected_profile.npy"));
    let d = max_diff(&got.to_f32().unwrap(), &want);
    assert!(d <= 1e-4, "BED windows differ from bpnet-lite by {d}");
    // As counts, the npz has the log count as a last column, at the centre bin only.
    let bed_counts = dir.path().join("bed_counts");
    ok(&["predict", p(&pkg_dir), "--genome", p(&genome), "--bed", p(&bed), "--out", p(&bed_counts)]);
    let z = s2f::io::npy::read_npz(bed_counts.join("predictions.npz")).unwrap();
    let got = z.into_iter().find(|(n, _)| n == "predictions").unwrap().1;
    assert_eq!(got.shape, [6, 1000, 2]);
    let got = got.to_f32().unwrap();
    let counts = read_npy(fixture("models/chrombpnet_lite_small/expected_counts.npy")).unwrap().to_f32().unwrap();
    for (i, c) in counts.iter().enumerate() {
        let col: Vec<f32> = (0..1000).map(|b| got[(i * 1000 + b) * 2 + 1]).collect();
        assert!(col.iter().enumerate().all(|(b, v)| (b == 500) != v.is_nan()), "window {i}: one value, at bin 500");
        assert!((col[500] - c).abs() <= 1e-4, "window {i}: count {} vs bpnet-lite {c}", col[500]);
        let total: f32 = (0..1000).map(|b| got[(i * 1000 + b) * 2]).sum();
        assert!((total - c.exp()).abs() <= 1e-3 * total, "window {i}: profile total {total} vs exp {}", c.exp());
    }
    // --profile on a head without a count head is refused.
    let x = dir.path().join("x");
    let args =
        ["predict", p(&pkg_dir), "--genome", p(&genome), "--bed", p(&bed), "--head", "counts", "--profile", "counts"];
    fails(&[&args[..], &["--out", p(&x)]].concat(), &["--profile applies to profile heads"]);
}

/// Reverse-complement augmentation of a stranded profile swaps the strands back: a model whose
/// − strand filter is the reverse complement of its + strand filter predicts the same with and
/// without `--rc`; without the strand pair it would not.
#[test]
fn rc_augmentation_swaps_strand_pairs() {
    use s2f::model::ops::Conv1d;
    use s2f::model::spec::Padding;
    let k = 5;
    let conv = Layer::Conv1d(Conv1d {
        name: Some("c".into()),
        filters: 2,
        kernel: k,
        dilation: 1,
        bias: true,
        padding: Padding::Same,
    });
    let w0: Vec<f32> = (0..4 * k).map(|i| ((i * 7 % 11) as f32 - 5.0) * 0.3).collect();
    let mut w = vec![0f32; 2 * 4 * k];
    for c in 0..4 {
        for j in 0..k {
            w[c * k + j] = w0[c * k + j];
            w[4 * k + c * k + j] = w0[(3 - c) * k + (k - 1 - j)];
        }
    }
    let mut weights = Weights::default();
    weights.insert("c.weight", Tensor { shape: vec![2, 4, k], data: w });
    weights.insert("c.bias", Tensor { shape: vec![2], data: vec![0.1, 0.1] });
    let dir = tempfile::tempdir().unwrap();
    let genome = fixture("genome/hg38_chr1_1mb.fa.gz");
    let bed = fixture("models/chrombpnet_lite_small/windows.bed");
    let mut results = Vec::new();
    for paired in [true, false] {
        let mut spec =
            ModelSpec::new("stranded", InputSpec::new(64, 0.0), vec![conv.clone()], vec![Head::new("profile", vec![])]);
        if paired {
            spec.heads[0].strand_pairs = vec![[0, 1]];
        }
        let pkg = dir.path().join(format!("pkg{paired}"));
        Package::write(&pkg, &spec, &weights, EmitOptions::default()).unwrap();
        let run = |rc: bool| {
            let out = dir.path().join(format!("o{paired}{rc}"));
            let mut a = vec![
                "predict",
                p(&pkg),
                "--genome",
                p(&genome),
                "--bed",
                p(&bed),
                "--out",
                p(&out),
                "--engine",
                "tract",
            ];
            if rc {
                a.push("--rc");
            }
            ok(&a);
            let z = s2f::io::npy::read_npz(out.join("predictions.npz")).unwrap();
            z.into_iter().find(|(n, _)| n == "predictions").unwrap().1.to_f32().unwrap()
        };
        let (plain, rc) = (run(false), run(true));
        results.push(max_diff(&plain, &rc));
    }
    assert!(results[0] <= 1e-5, "with the strand pair, --rc changes the profile by {}", results[0]);
    assert!(
        results[1] > 0.1,
        "without the strand pair --rc should differ (the test would miss the swap): {}",
        results[1]
    );
    // Attributions of the + strand: the reverse complement's pass attributes its − strand.
    let x = dir.path().join("x.npy");
    let n = 3;
    let seq: Vec<f32> = (0..n * 64)
        .flat_map(|i| {
            let mut v = [0f32; 4];
            v[(i * 7 + i / 3) % 4] = 1.0;
            v
        })
        .collect();
    write_npy(&x, &[n, 64, 4], &seq).unwrap();
    let mut maps = Vec::new();
    for rc in [false, true] {
        let out = dir.path().join(format!("attr{rc}"));
        let pkg = dir.path().join("pkgtrue");
        let mut a = vec!["attribute", p(&pkg), "--input", p(&x), "--method", "grad", "--tracks", "0", "--no-center"];
        a.extend(["--engine", "tract", "--out", p(&out)]);
        if rc {
            a.push("--rc");
        }
        ok(&a);
        let z = s2f::io::npy::read_npz(out.join("attributions.npz")).unwrap();
        maps.push(z.into_iter().find(|(n, _)| n == "attributions").unwrap().1.to_f32().unwrap());
    }
    let d = max_diff(&maps[0], &maps[1]);
    assert!(d <= 1e-5, "--rc attributions of a strand-symmetric model differ by {d}");
}

/// burn's forward pass of the graph form (what training differentiates) equals bpnet-lite on the
/// converted BPNet (with its control input) and ChromBPNet, head by head.
#[test]
fn burn_forward_of_graph_models_matches_bpnet_lite() {
    use burn::tensor::{Tensor as BurnTensor, TensorData};
    use s2f::train::net::{to_vec, Interpreter, ParamStore};
    type Cpu = burn::backend::NdArray<f32>;
    let device = Default::default();
    for (model, control) in [("bpnet_lite_small", true), ("chrombpnet_lite_small", false)] {
        let dir = tempfile::tempdir().unwrap();
        let pkg = Package::open(convert(model, &dir.path().join("pkg"))).unwrap();
        let spec = pkg.spec.clone().unwrap();
        let weights = pkg.weights.clone().unwrap();
        let store = ParamStore::<Cpu>::from_weights(&weights, &device);
        let get = |name: &str| store.params.get(name).map(|p| p.value.clone());
        let f = |r: &str| fixture(&format!("models/{model}/{r}"));
        let load = |path: &Path| {
            let a = read_npy(path).unwrap();
            let s = [a.shape[0], a.shape[1], a.shape[2]];
            BurnTensor::<Cpu, 3>::from_data(TensorData::new(a.to_f32().unwrap(), s), &device)
        };
        let extra = if control { vec![load(&f("control.npy"))] } else { vec![] };
        let analysis = spec.analyze().unwrap();
        for im2col in [false, true] {
            let outs = Interpreter::new(&spec, &analysis, &get, false)
                .with_im2col(im2col)
                .forward_with(load(&f("inputs.npy")), extra.clone())
                .unwrap();
            let (want_p, _) = canonical_profile(&f("expected_profile.npy"));
            let want_c = read_npy(f("expected_counts.npy")).unwrap().to_f32().unwrap();
            let dp = max_diff(&to_vec(outs[0].clone()).unwrap(), &want_p);
            let dc = max_diff(&to_vec(outs[1].clone()).unwrap(), &want_c);
            assert!(dp <= 1e-4 && dc <= 1e-4, "{model} im2col={im2col}: burn differs by {dp} (profile), {dc} (counts)");
        }
    }
}
