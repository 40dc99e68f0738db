//! `s2f train --arch drg-multi` on a planted two-input task: the target is the number of
//! motifs in the first sequence (a "promoter", 80 bp) minus the number in the second (a "utr",
//! 60 bp, another length). With `--merge difference` each input's CNN reads out its own count
//! and the model subtracts them; with `--merge concat` the embeddings are concatenated. The
//! model must learn the difference on held-out data points, its exported ONNX (fed by
//! `s2f run --input NAME=FILE`) must equal burn's forward pass, and data points are matched
//! by name across the one-hot files.

mod common;

use std::path::Path;

use burn::tensor::{Tensor, TensorData};
use common::{fails, ok, p, Lcg};
use s2f::io::npy::{read_npy, write_npy, NpzWriter};
use s2f::model::Package;
use s2f::train::net::{to_vec, Interpreter, ParamStore};

type Cpu = burn::backend::NdArray<f32>;

const LEN_A: usize = 80;
const LEN_B: usize = 60;
const MOTIF: &[u8] = b"GATAAG";

/// One-hot of `n` random sequences of `len` bp with 0–3 motifs each; (one-hot, counts).
fn sequences(r: &mut Lcg, n: usize, len: usize) -> (Vec<f32>, Vec<usize>) {
    let (mut x, mut k) = (Vec::new(), Vec::new());
    for _ in 0..n {
        let mut seq: Vec<u8> = (0..len).map(|_| b"ACGT"[r.below(4) as usize]).collect();
        let c = r.below(4) as usize;
        // One motif at most per 20-bp slot.
        for s in 0..c {
            let at = s * 20 + r.below(20 - MOTIF.len() as u64) as usize;
            seq[at..at + MOTIF.len()].copy_from_slice(MOTIF);
        }
        k.push(c);
        for &b in &seq {
            let mut v = [0f32; 4];
            v[b"ACGT".iter().position(|&c| c == b).unwrap()] = 1.0;
            x.extend_from_slice(&v);
        }
    }
    (x, k)
}

fn write_onehot(path: &Path, x: &[f32], len: usize, names: &[String]) {
    let mut npz = NpzWriter::create(path).unwrap();
    npz.add("seqfeatures", &[names.len(), len, 4], x).unwrap();
    npz.add_strings("genenames", names).unwrap();
    npz.finish().unwrap();
}

/// Writes `promoter.npz`, `utr.npz` (its data points in reverse order, plus one the promoter
/// file lacks), `expression.tsv` (a − b) and `split.txt`; returns the one-hot arrays and targets
/// in the promoter file's order.
fn write_data(dir: &Path, n: usize) -> (Vec<f32>, Vec<f32>, Vec<f64>) {
    let mut r = Lcg(11);
    let (xa, ka) = sequences(&mut r, n, LEN_A);
    let (xb, kb) = sequences(&mut r, n + 1, LEN_B);
    let names: Vec<String> = (0..n).map(|i| format!("gene{i}")).collect();
    write_onehot(&dir.join("promoter.npz"), &xa, LEN_A, &names);
    // The utr file lists the genes backwards, and one extra gene.
    let mut rev_names: Vec<String> = names.iter().rev().cloned().collect();
    rev_names.push("orphan".into());
    let mut rev_x = Vec::new();
    for i in (0..n).rev() {
        rev_x.extend_from_slice(&xb[i * LEN_B * 4..(i + 1) * LEN_B * 4]);
    }
    rev_x.extend_from_slice(&xb[n * LEN_B * 4..]);
    write_onehot(&dir.join("utr.npz"), &rev_x, LEN_B, &rev_names);
    let y: Vec<f64> = (0..n).map(|i| ka[i] as f64 - kb[i] as f64).collect();
    let mut tsv = String::from("#gene\tlevel\n");
    for (nm, v) in names.iter().zip(&y) {
        tsv.push_str(&format!("{nm}\t{v}\n"));
    }
    std::fs::write(dir.join("expression.tsv"), tsv).unwrap();
    let split: String = names
        .iter()
        .enumerate()
        .map(|(i, nm)| format!("{nm} {}\n", ["test", "valid", "train", "train", "train"][i % 5]))
        .collect();
    std::fs::write(dir.join("split.txt"), split).unwrap();
    (xa, xb[..n * LEN_B * 4].to_vec(), y)
}

fn pearson(a: &[f64], b: &[f64]) -> f64 {
    let n = a.len() as f64;
    let (ma, mb) = (a.iter().sum::<f64>() / n, b.iter().sum::<f64>() / n);
    let cov: f64 = a.iter().zip(b).map(|(x, y)| (x - ma) * (y - mb)).sum();
    let va: f64 = a.iter().map(|x| (x - ma).powi(2)).sum();
    let vb: f64 = b.iter().map(|y| (y - mb).powi(2)).sum();
    cov / (va * vb).sqrt()
}

fn train(dir: &Path, merge: &str, epochs: &str) -> std::path::PathBuf {
    let d = |f: &str| dir.join(f);
    let out = d(&format!("model_{merge}"));
    let onehots = format!("{},{}", p(&d("promoter.npz")), p(&d("utr.npz")));
    ok(&[
        "train",
        "--arch",
        "drg-multi",
        "--merge",
        merge,
        "--onehot",
        &onehots,
        "--targets",
        p(&d("expression.tsv")),
        "--split",
        p(&d("split.txt")),
        "--filters",
        "8",
        "--kernel",
        "6",
        "--pool",
        "20",
        "--embedding",
        "16",
        "--epochs",
        epochs,
        "--batch",
        "16",
        "--lr",
        "0.005",
        "--patience",
        "0",
        "--seed",
        "2",
        "--out",
        p(&out),
    ]);
    out
}

/// The held-out data points' predictions through `s2f run` (tract), and burn's forward pass.
fn predictions(dir: &Path, pkg_dir: &Path, xa: &[f32], xb: &[f32], idx: &[usize]) -> (Vec<f32>, Vec<f32>) {
    let pick = |x: &[f32], l: usize| -> Vec<f32> {
        idx.iter().flat_map(|&i| x[i * l * 4..(i + 1) * l * 4].iter().copied()).collect()
    };
    let (a, b) = (pick(xa, LEN_A), pick(xb, LEN_B));
    let (fa, fb, fy) = (dir.join("a.npy"), dir.join("b.npy"), dir.join("y.npy"));
    write_npy(&fa, &[idx.len(), LEN_A, 4], &a).unwrap();
    write_npy(&fb, &[idx.len(), LEN_B, 4], &b).unwrap();
    let ia = format!("promoter={}", p(&fa));
    let ib = format!("utr={}", p(&fb));
    ok(&["run", p(pkg_dir), "--input", &ia, "--input", &ib, "--engine", "tract", "--out", p(&fy)]);
    let onnx = read_npy(&fy).unwrap().to_f32().unwrap();
    let pkg = Package::open(pkg_dir).unwrap();
    let spec = pkg.spec.clone().unwrap();
    let device = Default::default();
    let store = ParamStore::<Cpu>::from_weights(pkg.weights.as_ref().unwrap(), &device);
    let get = |name: &str| store.params.get(name).map(|p| p.value.clone());
    let analysis = spec.analyze().unwrap();
    let ta = Tensor::<Cpu, 3>::from_data(TensorData::new(a, [idx.len(), LEN_A, 4]), &device);
    let tb = Tensor::<Cpu, 3>::from_data(TensorData::new(b, [idx.len(), LEN_B, 4]), &device);
    let burn =
        to_vec(Interpreter::new(&spec, &analysis, &get, false).forward_with(ta, vec![tb]).unwrap().swap_remove(0))
            .unwrap();
    (onnx, burn)
}

#[test]
fn drg_multi_learns_a_difference_of_two_inputs() {
    let dir = tempfile::tempdir().unwrap();
    let n = 400;
    let (xa, xb, y) = write_data(dir.path(), n);
    let test: Vec<usize> = (0..n).filter(|i| i % 5 == 0).collect();
    let want: Vec<f64> = test.iter().map(|&i| y[i]).collect();
    for (merge, epochs, min_r) in [("difference", "30", 0.85), ("concat", "30", 0.7)] {
        let pkg_dir = train(dir.path(), merge, epochs);
        let spec = Package::open(&pkg_dir).unwrap().spec.unwrap();
        assert_eq!(spec.input.onnx_name, "promoter");
        assert_eq!(spec.inputs.iter().map(|i| (i.name.as_str(), i.length)).collect::<Vec<_>>(), [("utr", 60)]);
        let (onnx, burn) = predictions(dir.path(), &pkg_dir, &xa, &xb, &test);
        let d = onnx.iter().zip(&burn).map(|(a, b)| (a - b).abs()).fold(0f32, f32::max);
        eprintln!("drg-multi --merge {merge}: max |ONNX − burn| = {d:e}");
        assert!(d <= 1e-4, "{merge}: ONNX and burn differ by {d}");
        let got: Vec<f64> = onnx.iter().map(|&v| v as f64).collect();
        let r = pearson(&got, &want);
        eprintln!("drg-multi --merge {merge}: held-out Pearson with a − b = {r:.3} ({} data points)", test.len());
        assert!(r > min_r, "{merge}: held-out Pearson {r}");
        if merge == "difference" {
            check_per_input_gradients(dir.path(), &pkg_dir, &xa, &xb, &test[..8]);
        }
    }
}

/// `s2f attribute --method grad --no-center` on both inputs equals burn's autodiff of the
/// output with respect to each input; the promoter's motifs raise the output, the utr's lower it.
fn check_per_input_gradients(dir: &Path, pkg_dir: &Path, xa: &[f32], xb: &[f32], idx: &[usize]) {
    type Ad = burn::backend::Autodiff<Cpu>;
    let pick = |x: &[f32], l: usize| -> Vec<f32> {
        idx.iter().flat_map(|&i| x[i * l * 4..(i + 1) * l * 4].iter().copied()).collect()
    };
    let (a, b) = (pick(xa, LEN_A), pick(xb, LEN_B));
    let (fa, fb, out) = (dir.join("ga.npy"), dir.join("gb.npy"), dir.join("att"));
    write_npy(&fa, &[idx.len(), LEN_A, 4], &a).unwrap();
    write_npy(&fb, &[idx.len(), LEN_B, 4], &b).unwrap();
    let (ia, ib) = (format!("promoter={}", p(&fa)), format!("utr={}", p(&fb)));
    let args = ["attribute", p(pkg_dir), "--input", &ia, "--input", &ib, "--method", "grad", "--no-center"];
    ok(&[&args[..], &["--engine", "tract", "--out", p(&out)]].concat());
    let z = s2f::io::npy::read_npz(out.join("attributions.npz")).unwrap();
    let get = |k: &str| z.iter().find(|(n, _)| n == k).unwrap_or_else(|| panic!("no {k}")).1.clone();
    let (ga, gb) = (get("attributions"), get("attributions_utr"));
    assert_eq!(ga.shape, [idx.len(), 1, LEN_A, 4]);
    assert_eq!(gb.shape, [idx.len(), 1, LEN_B, 4]);
    let pkg = Package::open(pkg_dir).unwrap();
    let spec = pkg.spec.clone().unwrap();
    let device = Default::default();
    let store = ParamStore::<Ad>::from_weights(pkg.weights.as_ref().unwrap(), &device);
    let getp = |name: &str| store.params.get(name).map(|p| p.value.clone());
    let analysis = spec.analyze().unwrap();
    let ta = Tensor::<Ad, 3>::from_data(TensorData::new(a.clone(), [idx.len(), LEN_A, 4]), &device).require_grad();
    let tb = Tensor::<Ad, 3>::from_data(TensorData::new(b.clone(), [idx.len(), LEN_B, 4]), &device).require_grad();
    let y = Interpreter::new(&spec, &analysis, &getp, false)
        .with_constant_pool_min(true)
        .forward_with(ta.clone(), vec![tb.clone()])
        .unwrap()
        .swap_remove(0);
    let grads = y.sum().backward();
    for (name, got, t) in [("promoter", &ga, &ta), ("utr", &gb, &tb)] {
        let want = to_vec(t.grad(&grads).unwrap()).unwrap();
        let got = got.to_f32().unwrap();
        let scale = want.iter().fold(0f32, |m, v| m.max(v.abs()));
        let d = got.iter().zip(&want).map(|(g, w)| (g - w).abs()).fold(0f32, f32::max);
        eprintln!("{name}: max |attribute − autodiff| = {d:e} (max |gradient| {scale:e})");
        assert!(scale > 0.0 && d <= 1e-4 * scale.max(1.0), "{name}: gradient differs from autodiff by {d}");
    }
    // Gradient × input summed over each sequence: the promoter's motifs count up, the utr's down.
    let total = |g: &[f32], x: &[f32]| g.iter().zip(x).map(|(g, x)| (g * x) as f64).sum::<f64>();
    let (sa, sb) = (total(&ga.to_f32().unwrap(), &a), total(&gb.to_f32().unwrap(), &b));
    eprintln!("Σ grad × input: promoter {sa:.3}, utr {sb:.3}");
    assert!(sa > 0.0 && sb < 0.0, "promoter {sa}, utr {sb}");
}

#[test]
fn drg_multi_refuses_what_it_cannot_build() {
    let dir = tempfile::tempdir().unwrap();
    write_data(dir.path(), 20);
    let d = |f: &str| dir.path().join(f);
    let out = d("m");
    let two = format!("{},{}", p(&d("promoter.npz")), p(&d("utr.npz")));
    let three = format!("{two},{}", p(&d("utr.npz")));
    let t = d("expression.tsv");
    let base = |onehot: &str, extra: &[&str]| -> Vec<String> {
        ["train", "--arch", "drg-multi", "--onehot", onehot, "--targets", p(&t), "--out", p(&out), "--epochs", "1"]
            .iter()
            .chain(extra)
            .map(|s| s.to_string())
            .collect()
    };
    let check = |args: Vec<String>, needle: &str| {
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        fails(&refs, &[needle]);
    };
    check(base(p(&d("promoter.npz")), &[]), "two or more one-hot files");
    check(base(&three, &["--merge", "difference"]), "exactly two inputs");
    // A second file whose sequences share no name with the first.
    let other = d("other.npz");
    write_onehot(&other, &[0.25; LEN_B * 4], LEN_B, &["nobody".to_string()]);
    check(base(&format!("{},{}", p(&d("promoter.npz")), p(&other)), &[]), "none of its sequences is named like");
    // --merge is drg-multi's.
    let args: Vec<String> =
        ["train", "--arch", "drg-shallow", "--onehot", &two, "--targets", p(&t), "--merge", "concat"]
            .iter()
            .map(|s| s.to_string())
            .chain(["--out".to_string(), p(&out).to_string()])
            .collect();
    check(args, "--embedding and --merge are options of --arch drg-multi");
    // A single-input architecture does not take further one-hot files.
    let args: Vec<String> = ["train", "--arch", "drg-shallow", "--onehot", &two, "--targets", p(&t), "--epochs", "1"]
        .iter()
        .map(|s| s.to_string())
        .chain(["--out".to_string(), p(&out).to_string()])
        .collect();
    check(args, "the model reads 0 further input(s) beside its sequence");
    assert!(!out.exists(), "nothing is written on refusal");
}
