//! Training with burn: learning planted motifs in real hg38 sequence, exported packages that
//! reproduce burn's predictions on every engine, fine-tuning with frozen layers, seeded
//! reproducibility, losses against direct formulas, and clear errors.

mod common;

use std::path::{Path, PathBuf};

use burn::backend::NdArray;
use burn::tensor::{Tensor, TensorData};
use common::{engines, every_op_spec, fails, fixture, naive_fasta, ok, p, Lcg};
use ndarray::Array3;
use s2f::engine::{create, Device, Predictor};
use s2f::io::npy::NpzWriter;
use s2f::model::{Package, Weights};
use s2f::train::data::{self, Dataset, Modality};
use s2f::train::loss::Loss;
use s2f::train::net::{Interpreter, ParamStore};
use s2f::train::presets::{preset, PresetSizes};

type Cpu = NdArray<f32>;

const MOTIF_A: &[u8] = b"GGGACTTTCC";
const MOTIF_B: &[u8] = b"CACGTGAC";

fn rc(s: &[u8]) -> Vec<u8> {
    s.iter()
        .rev()
        .map(|b| match b {
            b'A' => b'T',
            b'C' => b'G',
            b'G' => b'C',
            _ => b'A',
        })
        .collect()
}

/// Planted-motif data from the 1 Mb hg38 fixture: `n` windows of `len` bp without N; each of
/// four slots gets motif A, motif B (either strand) or nothing. Targets per window:
/// `#A`, `#B`, `#A + 2·#B` plus noise (three tracks). Writes `onehot.npz` (N value 0.25),
/// `targets.csv` and `split.txt` (every 10th window validates, the next tests) into `dir`.
fn planted(dir: &Path, n: usize, len: usize, seed: u64) -> (PathBuf, PathBuf, PathBuf) {
    let genome = naive_fasta(&fixture("genome/hg38_chr1_1mb.fa.gz"));
    let chr1 = &genome["chr1"];
    let mut rng = Lcg(seed);
    let (mut x, mut names, mut rows) = (Vec::new(), Vec::new(), Vec::new());
    let mut start = 20_000usize;
    while names.len() < n {
        start += 1_000 + rng.below(500) as usize;
        assert!(start + len < chr1.len(), "fixture too short for {n} windows");
        let mut seq: Vec<u8> = chr1[start..start + len].iter().map(|b| b.to_ascii_uppercase()).collect();
        if seq.iter().any(|&b| !b"ACGT".contains(&b)) {
            continue;
        }
        let slot = len / 4;
        let (mut a, mut b) = (0, 0);
        for s in 0..4 {
            let motif = match rng.below(3) {
                0 => continue,
                1 => {
                    a += 1;
                    MOTIF_A.to_vec()
                }
                _ => {
                    b += 1;
                    MOTIF_B.to_vec()
                }
            };
            let motif = if rng.below(2) == 0 { motif } else { rc(&motif) };
            let at = s * slot + rng.below((slot - motif.len()) as u64) as usize;
            seq[at..at + motif.len()].copy_from_slice(&motif);
        }
        for &base in &seq {
            let i = b"ACGT".iter().position(|&c| c == base).unwrap();
            let mut v = [0f32; 4];
            v[i] = 1.0;
            x.extend_from_slice(&v);
        }
        let noise = |r: &mut Lcg| 0.1 * (r.unit() - 0.5);
        let (a, b) = (a as f32, b as f32);
        rows.push([a + noise(&mut rng), b + noise(&mut rng), a + 2.0 * b + noise(&mut rng)]);
        names.push(format!("chr1:{start}-{}", start + len));
    }
    let onehot = dir.join("onehot.npz");
    let mut npz = NpzWriter::create(&onehot).unwrap();
    npz.add("seqfeatures", &[n, len, 4], &x).unwrap();
    npz.add_strings("genenames", &names).unwrap();
    npz.finish().unwrap();
    let targets = dir.join("targets.csv");
    let mut text = String::from("# name,motifA,motifB,mixed\n");
    for (nm, r) in names.iter().zip(&rows) {
        text += &format!("{nm},{},{},{}\n", r[0], r[1], r[2]);
    }
    std::fs::write(&targets, text).unwrap();
    let split = dir.join("split.txt");
    let mut text = String::new();
    for (i, nm) in names.iter().enumerate() {
        let set = match i % 10 {
            0 => "valid",
            1 => "test",
            _ => "train",
        };
        text += &format!("{nm} {set}\n");
    }
    std::fs::write(&split, text).unwrap();
    (onehot, targets, split)
}

/// Writes `dir/<name>.csv` with columns `cols` (indices into the three planted tracks) of
/// `targets.csv`, each scaled by its factor.
fn derived_targets(dir: &Path, name: &str, cols: &[(&str, usize, f32)]) -> PathBuf {
    let text = std::fs::read_to_string(dir.join("targets.csv")).unwrap();
    let header: Vec<&str> = cols.iter().map(|c| c.0).collect();
    let mut out = format!("# name,{}\n", header.join(","));
    for line in text.lines().skip(1) {
        let f: Vec<&str> = line.split(',').collect();
        let vals: Vec<String> =
            cols.iter().map(|&(_, i, k)| (f[i + 1].parse::<f32>().unwrap() * k).to_string()).collect();
        out += &format!("{},{}\n", f[0], vals.join(","));
    }
    let path = dir.join(format!("{name}.csv"));
    std::fs::write(&path, out).unwrap();
    path
}

/// `s2f train` on the planted one-hot data of `dir` with target files `targets`, writing `out`.
fn planted_args(dir: &Path, targets: &str, out: &Path, extra: &[&str]) -> Vec<String> {
    let onehot = dir.join("onehot.npz");
    let files = ["train", "--onehot", p(&onehot), "--targets", targets, "--out", p(out)];
    files.iter().chain(extra).map(|s| s.to_string()).collect()
}

/// The command line that trains the small DRG-shallow model on the planted data in `dir`.
fn small_args(dir: &Path, out: &Path, extra: &[&str]) -> Vec<String> {
    let (targets, split) = (dir.join("targets.csv"), dir.join("split.txt"));
    let fixed = ["--arch", "drg-shallow", "--filters", "24", "--kernel", "12", "--batch", "32", "--lr", "0.01"];
    let rest: Vec<&str> = fixed.iter().chain(&["--split", p(&split)]).chain(extra).copied().collect();
    planted_args(dir, p(&targets), out, &rest)
}

fn strs(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

/// Trains the small DRG-shallow model on planted data; returns the output folder.
fn train_small(dir: &Path, out: &str, extra: &[&str]) -> PathBuf {
    let out = dir.join(out);
    ok(&strs(&small_args(dir, &out, extra)));
    out
}

/// Fine-tunes the package `base` on the planted one-hot data of `dir` with `targets`.
fn fine_tune(dir: &Path, base: &Path, targets: &Path, out: &Path, extra: &[&str]) {
    let split = dir.join("split.txt");
    let rest: Vec<&str> = ["--init", p(base), "--split", p(&split)].iter().chain(extra).copied().collect();
    ok(&strs(&planted_args(dir, p(targets), out, &rest)));
}

/// Runs `s2f` with the test hook that stops the process after `epochs` epochs; asserts it stopped.
fn stop_after(cmd: &[String], epochs: usize) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_s2f"))
        .args(cmd)
        .env("S2F_TEST_ABORT_AFTER_EPOCHS", epochs.to_string())
        .output()
        .unwrap();
    assert!(!out.status.success(), "the run was not stopped");
}

fn read_table(path: &Path) -> Vec<Vec<String>> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .skip(1)
        .map(|l| l.split(['\t', ',']).map(str::to_string).collect())
        .collect()
}

#[test]
fn drg_shallow_learns_planted_motifs_and_writes_reports() {
    let dir = tempfile::tempdir().unwrap();
    planted(dir.path(), 600, 120, 5);
    let out =
        train_small(dir.path(), "model", &["--epochs", "18", "--rc", "--shift", "3", "--warmup", "10", "--clip", "5"]);
    // The log: one row per epoch, training loss falls.
    let log = read_table(&out.join("training_log.csv"));
    assert!(log.len() >= 5, "{} epochs", log.len());
    let loss = |r: &Vec<String>, c: usize| r[c].parse::<f64>().unwrap();
    assert!(loss(&log[log.len() - 1], 1) < 0.25 * loss(&log[0], 1), "training loss {:?}", log);
    assert!(loss(&log[log.len() - 1], 2) < loss(&log[0], 2), "validation loss did not fall: {log:?}");
    // Held-out (test) correlation per track above 0.9.
    let tracks = read_table(&out.join("correlations_tracks.tsv"));
    let test: Vec<&Vec<String>> = tracks.iter().filter(|r| r[0] == "test").collect();
    assert_eq!(test.len(), 3);
    for r in &test {
        let v: f64 = r[3].parse().unwrap();
        assert!(v > 0.9, "test r of track {} is {v}", r[2]);
    }
    assert_eq!(read_table(&out.join("correlations_points.tsv")).len(), 120, "60 valid + 60 test points");
    // A PNG with the loss curve.
    let png = std::fs::read(out.join("loss_curve.png")).unwrap();
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
    assert!(png.len() > 5_000);
    // A package every engine runs, with the track table from the targets.
    let pkg = Package::open(&out).unwrap();
    let spec = pkg.spec.as_ref().unwrap();
    let ids: Vec<&str> = spec.heads[0].tracks.iter().map(|t| t.identifier.as_str()).collect();
    assert_eq!(ids, ["motifA", "motifB", "mixed"]);
    assert_eq!(spec.input.n_value, 0.25, "no N in the data: the DRG preset's N value");
    assert_eq!(spec.source.as_ref().unwrap().format, "s2f-train");
}

/// Burn's inference forward pass over `x` with `weights` (backend convolution).
fn burn_forward(spec: &s2f::model::spec::ModelSpec, weights: &Weights, x: &Array3<f32>) -> Vec<Array3<f32>> {
    burn_forward_with(spec, weights, x, false)
}

/// Same, with convolutions as im2col matrix products when `im2col`.
fn burn_forward_with(
    spec: &s2f::model::spec::ModelSpec,
    weights: &Weights,
    x: &Array3<f32>,
    im2col: bool,
) -> Vec<Array3<f32>> {
    let device = Default::default();
    let store = ParamStore::<Cpu>::from_weights(weights, &device);
    let get = |name: &str| store.params.get(name).map(|p| p.value.clone());
    let (n, l, _) = x.dim();
    let xt = Tensor::<Cpu, 3>::from_data(TensorData::new(x.iter().copied().collect::<Vec<_>>(), [n, l, 4]), &device);
    let analysis = spec.analyze().unwrap();
    let outs = Interpreter::new(spec, &analysis, &get, false).with_im2col(im2col).forward(xt).unwrap();
    outs.into_iter()
        .map(|t| {
            let [a, b, c] = t.dims();
            Array3::from_shape_vec((a, b, c), s2f::train::net::to_vec(t).unwrap()).unwrap()
        })
        .collect()
}

fn random_x(n: usize, l: usize, seed: u64) -> Array3<f32> {
    let mut r = Lcg(seed);
    Array3::from_shape_fn((n, l, 4), |_| r.unit())
}

#[test]
fn burn_forward_matches_every_engine_on_every_op() {
    let spec = every_op_spec();
    let a = spec.analyze().unwrap();
    let weights = Weights::random(&a.weights, 3);
    let x = random_x(3, 64, 9);
    let onnx = s2f::model::onnx::emit(&spec, &weights, Default::default()).unwrap();
    let pkg = Package { path: "mem".into(), spec: Some(spec.clone()), onnx, weights: None };
    for im2col in [false, true] {
        let want = burn_forward_with(&spec, &weights, &x, im2col);
        for kind in engines() {
            for (h, w) in want.iter().enumerate() {
                let mut pr = Predictor::new(&pkg, create(kind, Device::Cpu, &pkg.onnx).unwrap(), h, 2).unwrap();
                let got = pr.predict(x.view()).unwrap();
                assert_eq!(got.shape(), w.shape());
                let e = common::excess(got.iter(), w.iter(), 1e-4, 1e-4);
                assert!(e <= 0.0, "{kind:?} head {h} im2col={im2col}: exceeds tolerance by {e}");
            }
        }
    }
}

#[test]
fn learning_rate_falls_on_plateaus_and_the_log_says_why_training_stopped() {
    let dir = tempfile::tempdir().unwrap();
    planted(dir.path(), 160, 120, 13);
    // With 16 validation points and one epoch of patience, the validation loss stalls now and then.
    let args = ["--epochs", "12", "--lr-patience", "1", "--lr-factor", "0.5", "--patience", "4"];
    let out_dir = dir.path().join("m");
    let cmd = small_args(dir.path(), &out_dir, &args);
    let run = common::s2f(&strs(&cmd));
    let stderr = String::from_utf8_lossy(&run.stderr).to_string();
    assert!(run.status.success(), "{stderr}");
    let log = read_table(&out_dir.join("training_log.csv"));
    let col = |r: &Vec<String>, c: usize| r[c].parse::<f64>().unwrap();
    // Replay the rule on the logged validation losses: after each epoch that ends a run of
    // `lr-patience` (1) epochs without a better loss, the next epoch's rate is halved.
    let (mut best, mut best_epoch, mut reductions) = (f64::INFINITY, 0, 0);
    for (i, row) in log.iter().enumerate() {
        let epoch = i + 1;
        if col(row, 2) < best {
            (best, best_epoch) = (col(row, 2), epoch);
        }
        let Some(next) = log.get(i + 1) else { break };
        let expected = if epoch > best_epoch { col(row, 4) * 0.5 } else { col(row, 4) };
        reductions += usize::from(epoch > best_epoch);
        assert!(
            (col(next, 4) - expected).abs() <= 1e-9 * expected,
            "epoch {}: lr {} after {}: {log:?}",
            epoch + 1,
            col(next, 4),
            col(row, 4)
        );
    }
    assert!(reductions > 0, "the validation loss never stalled: {log:?}");
    assert!(stderr.contains("learning rate lowered to"), "{stderr}");
    let early = stderr.contains(&format!("training stopped: early stop after epoch {}", log.len()));
    let full = log.len() == 12 && stderr.contains("training stopped: reached --epochs 12");
    assert!(early || full, "{} epochs; {stderr}", log.len());
    let model: serde_json::Value = serde_json::from_slice(&std::fs::read(out_dir.join("model.json")).unwrap()).unwrap();
    assert!(model.to_string().contains("stop"), "the package notes say why training stopped: {model}");
    // Resuming after a reduction continues at the reduced rate: same weights as one run.
    let resumed = dir.path().join("r");
    let cmd = small_args(dir.path(), &resumed, &args);
    stop_after(&cmd, log.len().min(4));
    ok(&strs(&cmd));
    let bytes = |d: &Path| std::fs::read(d.join("model.safetensors")).unwrap();
    assert_eq!(bytes(&resumed), bytes(&out_dir), "a resumed run differs from the uninterrupted one");
    fails(
        &strs(&small_args(dir.path(), &dir.path().join("bad"), &["--lr-factor", "1.5"])),
        &["strictly between 0 and 1"],
    );
}

#[test]
fn trained_package_reproduces_burn_predictions_and_seeds_reproduce() {
    let dir = tempfile::tempdir().unwrap();
    let (onehot, targets, _) = planted(dir.path(), 200, 120, 11);
    let args = ["--epochs", "3", "--rc", "--seed", "42", "--patience", "0"];
    let a = train_small(dir.path(), "a", &args);
    let b = train_small(dir.path(), "b", &args);
    let c = train_small(dir.path(), "c", &["--epochs", "3", "--rc", "--seed", "43", "--patience", "0"]);
    let bytes = |d: &Path| std::fs::read(d.join("model.safetensors")).unwrap();
    assert_eq!(bytes(&a), bytes(&b), "same seed, same weights");
    // A run stopped after epoch 2 and started again resumes from its checkpoint and ends with
    // the same weights as the uninterrupted run.
    let out_d = dir.path().join("d");
    let cmd = small_args(dir.path(), &out_d, &args);
    stop_after(&cmd, 2);
    assert!(out_d.join(".s2f-checkpoint/state.json").is_file());
    assert!(!out_d.join("model.safetensors").exists());
    ok(&strs(&cmd));
    assert_eq!(bytes(&out_d), bytes(&a), "resumed run differs from the uninterrupted one");
    assert!(!out_d.join(".s2f-checkpoint").exists(), "checkpoint removed after a finished run");
    let log = read_table(&out_d.join("training_log.csv"));
    assert_eq!(log.len(), 3, "log rows from before and after the restart");
    // Another command on the same folder refuses the stale checkpoint.
    stop_after(&cmd, 1);
    let mut other = cmd.clone();
    other.extend(["--shift".to_string(), "2".to_string()]);
    fails(&strs(&other), &["checkpoint of a different training run"]);
    assert_ne!(bytes(&a), bytes(&c), "another seed, other weights");
    assert_eq!(std::fs::read(a.join("model.onnx")).unwrap(), std::fs::read(b.join("model.onnx")).unwrap());
    // The exported ONNX gives burn's predictions on every engine.
    let pkg = Package::open(&a).unwrap();
    let spec = pkg.spec.clone().unwrap();
    let d: Dataset = data::from_files(&onehot, &[targets]).unwrap();
    let x = Array3::from_shape_vec((d.len(), d.length, 4), d.x.clone()).unwrap();
    let want = burn_forward(&spec, pkg.weights.as_ref().unwrap(), &x);
    for kind in engines() {
        let mut pr = Predictor::new(&pkg, create(kind, Device::Cpu, &pkg.onnx).unwrap(), 0, 16).unwrap();
        let got = pr.predict(x.view()).unwrap();
        let e = common::excess(got.iter(), want[0].iter(), 1e-4, 0.0);
        assert!(e <= 0.0, "{kind:?}: |onnx − burn| exceeds 1e-4 by {e}");
    }
}

#[test]
fn fine_tuning_keeps_frozen_layers_bit_identical() {
    let dir = tempfile::tempdir().unwrap();
    planted(dir.path(), 200, 120, 17);
    let base = train_small(dir.path(), "base", &["--epochs", "2"]);
    // New assay: one track, from a target file with another name.
    let new_targets = derived_targets(dir.path(), "assay", &[("assay", 0, 3.0)]);
    let tuned = dir.path().join("tuned");
    fine_tune(
        dir.path(),
        &base,
        &new_targets,
        &tuned,
        &["--new-head", "--freeze", "conv1", "--epochs", "2", "--lr", "0.01"],
    );
    let w0 = Weights::read(base.join("model.safetensors")).unwrap();
    let w1 = Weights::read(tuned.join("model.safetensors")).unwrap();
    assert_eq!(w0.get("conv1.weight").unwrap(), w1.get("conv1.weight").unwrap(), "frozen layer changed");
    let spec = Package::open(&tuned).unwrap().spec.unwrap();
    assert_eq!(spec.heads.len(), 1);
    assert_eq!(spec.heads[0].name, "assay");
    assert_eq!(spec.analyze().unwrap().heads[0].1.tracks, 1);
    assert!(w1.tensors.keys().all(|k| !k.starts_with("targets.")), "old head weights dropped");
    // Adding a head keeps the old one bit-identical when the trunk is frozen.
    let added = dir.path().join("added");
    fine_tune(dir.path(), &base, &new_targets, &added, &["--add-head", "--freeze", "conv1,targets", "--epochs", "1"]);
    let w2 = Weights::read(added.join("model.safetensors")).unwrap();
    for (k, t) in &w0.tensors {
        assert_eq!(w2.get(k).unwrap(), t, "{k} changed");
    }
    assert_eq!(Package::open(&added).unwrap().spec.unwrap().heads.len(), 2);
    // Keeping two of the three tracks and training without freezing changes the trunk.
    let kept = dir.path().join("kept");
    let two = derived_targets(dir.path(), "two", &[("motifA", 0, 1.0), ("mixed", 2, 1.0)]);
    fine_tune(dir.path(), &base, &two, &kept, &["--tracks", "motifA,2", "--epochs", "1"]);
    let w3 = Weights::read(kept.join("model.safetensors")).unwrap();
    assert_ne!(w3.get("conv1.weight").unwrap(), w0.get("conv1.weight").unwrap());
    assert_eq!(w3.get("targets.linear.weight").unwrap().shape[0], 2);
}

#[test]
fn two_target_files_train_two_heads_with_folds_sgd_and_the_best_epoch_kept() {
    let dir = tempfile::tempdir().unwrap();
    let (onehot, targets, _) = planted(dir.path(), 240, 120, 29);
    let assay = derived_targets(dir.path(), "assay", &[("assay", 1, 2.0)]);
    // DRG-style folds that list data points: three folds, fold 0 validates, fold 1 tests.
    let d = data::from_files(&onehot, std::slice::from_ref(&targets)).unwrap();
    let mut folds = String::new();
    for j in 0..3 {
        folds += &format!("# Set_{j}\n");
        let names: Vec<&str> =
            d.names.iter().enumerate().filter(|(i, _)| i % 3 == j).map(|(_, n)| n.as_str()).collect();
        folds += &format!("{}\n", names.join(" "));
    }
    let folds_path = dir.path().join("folds.txt");
    std::fs::write(&folds_path, folds).unwrap();
    let out = dir.path().join("two");
    let tlist = format!("{},{}", p(&targets), p(&assay));
    let settings = [
        "--arch",
        "drg-shallow",
        "--filters",
        "8",
        "--folds",
        p(&folds_path),
        "--fold",
        "0",
        "--optimizer",
        "sgd",
        "--lr",
        "0.005",
        "--momentum",
        "0.9",
        "--epochs",
        "6",
        "--patience",
        "0",
        "--batch",
        "16",
    ];
    ok(&strs(&planted_args(dir.path(), &tlist, &out, &settings)));
    let pkg = Package::open(&out).unwrap();
    let spec = pkg.spec.clone().unwrap();
    let heads: Vec<(&str, usize)> = spec.heads.iter().map(|h| (h.name.as_str(), h.tracks.len())).collect();
    assert_eq!(heads, [("targets", 3), ("assay", 1)]);
    let rows = read_table(&out.join("correlations_tracks.tsv"));
    assert_eq!(rows.iter().filter(|r| r[1] == "assay").count(), 2, "valid and test rows for the assay head");
    // The kept weights are those of the epoch with the lowest validation loss: the package's MSE
    // on fold 0, summed over heads, is that loss.
    let log = read_table(&out.join("training_log.csv"));
    let best = log.iter().map(|r| r[2].parse::<f64>().unwrap()).fold(f64::MAX, f64::min);
    let two = data::from_files(&onehot, &[targets, assay]).unwrap();
    let valid: Vec<usize> = (0..two.len()).filter(|i| i % 3 == 0).collect();
    let mut x = Vec::new();
    for &i in &valid {
        x.extend_from_slice(&two.x[i * 120 * 4..(i + 1) * 120 * 4]);
    }
    let x = Array3::from_shape_vec((valid.len(), 120, 4), x).unwrap();
    let preds = burn_forward(&spec, pkg.weights.as_ref().unwrap(), &x);
    let mut loss = 0.0;
    for (m, pr) in two.modalities.iter().zip(&preds) {
        let y = s2f::train::trainer::gather(m, &valid);
        loss += pr.iter().zip(&y).map(|(a, b)| ((a - b) as f64).powi(2)).sum::<f64>() / y.len() as f64;
    }
    assert!((loss - best).abs() <= 1e-4 * best, "package loss {loss} vs best logged {best}");
}

#[test]
fn drg_dilated_trains_batch_norm_statistics_that_the_export_uses() {
    let dir = tempfile::tempdir().unwrap();
    let (onehot, targets, split) = planted(dir.path(), 120, 120, 31);
    let out = dir.path().join("dil");
    let settings = ["--arch", "drg-dilated", "--filters", "8", "--blocks", "2", "--epochs", "2", "--batch", "16"];
    let split_args = ["--split", p(&split)];
    let all: Vec<&str> = settings.iter().chain(&split_args).copied().collect();
    ok(&strs(&planted_args(dir.path(), p(&targets), &out, &all)));
    let pkg = Package::open(&out).unwrap();
    let w = pkg.weights.as_ref().unwrap();
    // Running statistics moved away from their initial 0 / 1.
    for name in ["res0.bn.mean", "res1.bn.var"] {
        let t = w.get(name).unwrap();
        assert!(t.data.iter().any(|&v| v != 0.0 && v != 1.0), "{name} was not updated");
    }
    let d = data::from_files(&onehot, &[targets]).unwrap();
    let x = Array3::from_shape_vec((16, 120, 4), d.x[..16 * 120 * 4].to_vec()).unwrap();
    let want = burn_forward(pkg.spec.as_ref().unwrap(), w, &x);
    for kind in engines() {
        let mut pr = Predictor::new(&pkg, create(kind, Device::Cpu, &pkg.onnx).unwrap(), 0, 8).unwrap();
        let e = common::excess(pr.predict(x.view()).unwrap().iter(), want[0].iter(), 1e-4, 1e-4);
        assert!(e <= 0.0, "{kind:?}: exceeds tolerance by {e}");
    }
}

fn t3(v: &[f32], shape: [usize; 3]) -> Tensor<Cpu, 3> {
    Tensor::from_data(TensorData::new(v.to_vec(), shape), &Default::default())
}

#[test]
fn losses_match_their_formulas() {
    let pred = [0.5f32, 1.0, 2.0, 0.1, 3.0, 0.7, 1.5, 0.2];
    let target = [1.0f32, 0.0, 2.0, 1.0, 2.0, 1.0, 0.0, 3.0];
    let shape = [2, 2, 2];
    let value = |l: Loss| s2f::train::net::to_vec(l.compute(t3(&pred, shape), t3(&target, shape))).unwrap()[0] as f64;
    let (p64, t64): (Vec<f64>, Vec<f64>) =
        (pred.iter().map(|&v| v as f64).collect(), target.iter().map(|&v| v as f64).collect());
    let mse = p64.iter().zip(&t64).map(|(a, b)| (a - b).powi(2)).sum::<f64>() / 8.0;
    assert!((value(Loss::Mse) - mse).abs() < 1e-6);
    let pois = p64.iter().zip(&t64).map(|(a, b)| a - b * (a + 1e-7).ln()).sum::<f64>() / 8.0;
    assert!((value(Loss::Poisson) - pois).abs() < 1e-5);
    // Multinomial over the 2 bins of each (sequence, track).
    let mut nll = 0.0;
    for n in 0..2 {
        for t in 0..2 {
            let logits = [p64[n * 4 + t], p64[n * 4 + 2 + t]];
            let lse = (logits[0].exp() + logits[1].exp()).ln();
            nll -= t64[n * 4 + t] * (logits[0] - lse) + t64[n * 4 + 2 + t] * (logits[1] - lse);
        }
    }
    assert!((value(Loss::Multinomial) - nll / 4.0).abs() < 1e-5);
    // corr-mse: per data point r over its 4 values.
    let r = |a: &[f64], b: &[f64]| {
        let (ma, mb) = (a.iter().sum::<f64>() / 4.0, b.iter().sum::<f64>() / 4.0);
        let cov: f64 = a.iter().zip(b).map(|(x, y)| (x - ma) * (y - mb)).sum();
        let va: f64 = a.iter().map(|x| (x - ma).powi(2)).sum();
        let vb: f64 = b.iter().map(|y| (y - mb).powi(2)).sum();
        cov / (va * vb).sqrt()
    };
    let rbar = (r(&p64[..4], &t64[..4]) + r(&p64[4..], &t64[4..])) / 2.0;
    assert!((value(Loss::CorrMse(0.3)) - (0.3 * (1.0 - rbar) + 0.7 * mse)).abs() < 1e-5);
}

#[test]
fn basenji2_preset_is_the_released_architecture() {
    let released = s2f::model::spec::ModelSpec::read("models/basenji2_human.json").unwrap().analyze().unwrap();
    let spec = preset("basenji2", PresetSizes::default(), &[("human".into(), 5313)]).unwrap();
    let a = spec.analyze().unwrap();
    assert_eq!(a.params, released.params);
    assert_eq!(a.heads[0].1, released.heads[0].1);
    let shapes = |x: &s2f::model::spec::Analysis| x.weights.iter().map(|w| w.shape.clone()).collect::<Vec<_>>();
    assert_eq!(shapes(&a), shapes(&released));
    // Other lengths divisible by 128 keep 128-bp bins and crop 1/16 of them at each end.
    let small =
        preset("basenji2", PresetSizes { length: Some(8192), ..Default::default() }, &[("h".into(), 3)]).unwrap();
    let g = small.analyze().unwrap().heads[0].1;
    assert_eq!((g.bins, g.bin_size, g.offset), (64 - 8, 128, 4 * 128));
    assert!(preset("basenji2", PresetSizes { length: Some(1000), ..Default::default() }, &[("h".into(), 3)]).is_err());
    let dil = preset("drg-dilated", PresetSizes::default(), &[("t".into(), 45)]).unwrap();
    assert_eq!(dil.analyze().unwrap().heads[0].1.tracks, 45);
}

#[test]
fn profile_training_from_genome_windows_and_bigwigs() {
    // bigWig signal on the 1 Mb fixture: a step at known positions; windows from a BED.
    let dir = tempfile::tempdir().unwrap();
    let fa = fixture("genome/hg38_chr1_1mb.fa.gz");
    let sizes = s2f::genome::Fasta::open(&fa).unwrap().chrom_sizes();
    let bw = dir.path().join("sig.bw");
    let vals: Vec<(String, u32, u32, f32)> =
        (0..400u32).map(|i| ("chr1".to_string(), 100_000 + i * 100, 100_000 + i * 100 + 50, (i % 7) as f32)).collect();
    s2f::io::bigwig::write_bigwig(&bw, &sizes, vals.into_iter()).unwrap();
    let bed = dir.path().join("regions.bed");
    let mut text = String::new();
    for i in 0..40 {
        text += &format!("chr1\t{}\t{}\n", 100_000 + i * 900, 100_000 + i * 900 + 256);
    }
    std::fs::write(&bed, text).unwrap();
    let spec = dir.path().join("profile.json");
    std::fs::write(
        &spec,
        r#"{"format": "s2f-model", "version": 1, "name": "profile",
            "input": {"length": 256},
            "trunk": [{"op": "conv1d", "name": "c", "filters": 8, "kernel": 9, "bias": true},
                      {"op": "activation", "fn": "relu"}, {"op": "max_pool", "size": 32}],
            "heads": [{"name": "cov", "layers": [{"op": "dense", "name": "out", "units": 2}]}]}"#,
    )
    .unwrap();
    let out = dir.path().join("prof");
    let bws = format!("{},{}", p(&bw), p(&bw));
    ok(&[
        "train",
        "--spec",
        p(&spec),
        "--genome",
        p(&fa),
        "--bed",
        p(&bed),
        "--bigwigs",
        &bws,
        "--bin-stat",
        "sum",
        "--loss",
        "multinomial",
        "--rc",
        "--epochs",
        "2",
        "--batch",
        "8",
        "--holdout",
        "0.2",
        "--out",
        p(&out),
    ]);
    assert!(Package::open(&out).is_ok());
    // The binning itself: sums of the bigWig over each 32-bp bin of a window.
    let mut f = s2f::genome::Fasta::open(&fa).unwrap();
    let w =
        s2f::genome::windows::Window::anonymous(s2f::genome::coords::Interval::new("chr1", 100_000, 100_256).unwrap());
    let g = s2f::model::spec::Geometry { bins: 8, bin_size: 32, offset: 0, tracks: 1 };
    let groups = [data::BigwigGroup { name: "cov".into(), files: vec![bw.clone()], geometry: g }];
    let d = data::from_genome(&mut f, &[w], 256, 0.0, &groups, data::BinStat::Sum).unwrap();
    // Intervals [100000+100i, +50) with value i%7, relative to the window: [0,50) = 0, [100,150) = 1,
    // [200,250) = 2. Bin 3 = [96,128) overlaps [100,128): 28·1; bin 4 = [128,160): 22·1;
    // bin 6 = [192,224): 24·2; bin 7 = [224,256): 26·2.
    let Modality { values, .. } = &d.modalities[0];
    assert_eq!(values[..], [0.0, 0.0, 0.0, 28.0, 22.0, 0.0, 48.0, 52.0]);
}

#[test]
fn bad_training_input_gives_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let (onehot, targets, split) = planted(dir.path(), 60, 120, 23);
    let out = dir.path().join("x");
    let base = [
        "train",
        "--onehot",
        p(&onehot),
        "--targets",
        p(&targets),
        "--split",
        p(&split),
        "--epochs",
        "1",
        "--out",
        p(&out),
    ];
    let with = |extra: &[&'static str]| -> Vec<String> {
        base.iter().map(|s| s.to_string()).chain(extra.iter().map(|s| s.to_string())).collect()
    };
    let run = |a: Vec<String>, needles: &[&str]| {
        let v: Vec<&str> = a.iter().map(String::as_str).collect();
        fails(&v, needles);
    };
    run(with(&["--arch", "transformer"]), &["unknown architecture", "drg-shallow"]);
    run(with(&["--arch", "drg-shallow", "--loss", "poisson"]), &["Poisson", "softplus"]);
    run(with(&["--arch", "drg-shallow", "--loss", "hinge"]), &["unknown loss"]);
    run(with(&["--arch", "drg-shallow", "--freeze", "nosuchlayer"]), &["nosuchlayer", "matches no weight"]);
    run(with(&["--arch", "drg-shallow", "--length", "200"]), &["120 bp", "200 bp"]);
    let bad = dir.path().join("bad.csv");
    std::fs::write(&bad, "# name,a,b\nchr1:1-2,1.0,x\n").unwrap();
    fails(
        &["train", "--arch", "drg-shallow", "--onehot", p(&onehot), "--targets", p(&bad), "--out", p(&out)],
        &["bad.csv", "line 2", "not a number"],
    );
    assert!(!out.exists(), "a failed run leaves no output folder");
}
