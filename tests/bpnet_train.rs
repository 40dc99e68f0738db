//! `s2f train --arch bpnet` on a planted footprint task: each planted motif leaves a fixed
//! footprint on the + strand just before it and on the − strand just after it. The trained
//! model must place the footprint (profile Pearson on held-out sequences), count the motifs
//! (count Pearson), and its exported ONNX must equal burn's forward pass.

mod common;

use std::path::Path;

use burn::tensor::{Tensor, TensorData};
use common::{ok, p, Lcg};
use s2f::engine::{create, Device, EngineKind, Predictor};
use s2f::io::npy::NpzWriter;
use s2f::model::Package;
use s2f::train::net::{to_vec, Interpreter, ParamStore};

type Cpu = burn::backend::NdArray<f32>;

const LEN: usize = 256;
/// bpnet-lite's trimming for 2 dilated layers: 47 + 2 + 4.
const TRIM: usize = 53;
const OUT: usize = LEN - 2 * TRIM;
const MOTIF: &[u8] = b"AGATAAGG";
const FOOT: [f32; 5] = [2.0, 6.0, 12.0, 6.0, 2.0];

/// `n` random sequences with 0–3 motifs in the profile span; targets (N, OUT, 2): a background
/// of 0.05 per base and strand plus each motif's footprint. Returns (one-hot, profiles).
fn planted(n: usize, seed: u64) -> (Vec<f32>, Vec<f32>, Vec<usize>) {
    let mut r = Lcg(seed);
    let (mut x, mut y, mut motifs) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..n {
        let mut seq: Vec<u8> = (0..LEN).map(|_| b"ACGT"[r.below(4) as usize]).collect();
        let mut prof = vec![0.05f32; OUT * 2];
        let k = r.below(4) as usize;
        // Slots of 35 bp inside the profile span, one motif at most in each.
        let slots = OUT / 35;
        let mut used = vec![false; slots];
        let mut placed = 0;
        while placed < k {
            let s = r.below(slots as u64) as usize;
            if used[s] {
                continue;
            }
            used[s] = true;
            placed += 1;
            let at = TRIM + s * 35 + 8 + r.below(10) as usize;
            seq[at..at + MOTIF.len()].copy_from_slice(MOTIF);
            for (j, f) in FOOT.iter().enumerate() {
                // + strand centred 4 bp before the motif, − strand 4 bp after its end.
                let plus = at - 4 + j - 2 - TRIM;
                let minus = at + MOTIF.len() + 4 + j - 2 - TRIM;
                prof[plus * 2] += f;
                prof[minus * 2 + 1] += f;
            }
        }
        motifs.push(k);
        for &b in &seq {
            let mut v = [0f32; 4];
            v[b"ACGT".iter().position(|&c| c == b).unwrap()] = 1.0;
            x.extend_from_slice(&v);
        }
        y.extend(prof);
    }
    (x, y, motifs)
}

fn pearson(a: &[f64], b: &[f64]) -> f64 {
    let n = a.len() as f64;
    let (ma, mb) = (a.iter().sum::<f64>() / n, b.iter().sum::<f64>() / n);
    let cov: f64 = a.iter().zip(b).map(|(x, y)| (x - ma) * (y - mb)).sum();
    let va: f64 = a.iter().map(|x| (x - ma).powi(2)).sum();
    let vb: f64 = b.iter().map(|y| (y - mb).powi(2)).sum();
    cov / (va * vb).sqrt()
}

fn write_data(dir: &Path, n: usize) -> (Vec<f32>, Vec<f32>, Vec<usize>) {
    let (x, y, motifs) = planted(n, 5);
    let names: Vec<String> = (0..n).map(|i| format!("s{i}")).collect();
    let mut npz = NpzWriter::create(dir.join("onehot.npz")).unwrap();
    npz.add("seqfeatures", &[n, LEN, 4], &x).unwrap();
    npz.add_strings("genenames", &names).unwrap();
    npz.finish().unwrap();
    let mut npz = NpzWriter::create(dir.join("profile.npz")).unwrap();
    npz.add("counts", &[n, OUT, 2], &y).unwrap();
    npz.add_strings("names", &names).unwrap();
    npz.add_strings("celltypes", &["plus".to_string(), "minus".to_string()]).unwrap();
    npz.finish().unwrap();
    let split: String = names
        .iter()
        .enumerate()
        .map(|(i, nm)| {
            format!(
                "{nm} {}\n",
                if i % 5 == 0 {
                    "test"
                } else if i % 5 == 1 {
                    "valid"
                } else {
                    "train"
                }
            )
        })
        .collect();
    std::fs::write(dir.join("split.txt"), split).unwrap();
    (x, y, motifs)
}

#[test]
fn bpnet_learns_a_planted_footprint() {
    let dir = tempfile::tempdir().unwrap();
    let n = 300;
    let (x, y, motifs) = write_data(dir.path(), n);
    let out = dir.path().join("model");
    let d = |f: &str| dir.path().join(f);
    ok(&[
        "train",
        "--arch",
        "bpnet",
        "--filters",
        "16",
        "--blocks",
        "2",
        "--onehot",
        p(&d("onehot.npz")),
        "--targets",
        p(&d("profile.npz")),
        "--split",
        p(&d("split.txt")),
        "--epochs",
        "25",
        "--batch",
        "16",
        "--lr",
        "0.004",
        "--seed",
        "3",
        "--out",
        p(&out),
    ]);
    let pkg = Package::open(&out).unwrap();
    let spec = pkg.spec.clone().unwrap();
    assert_eq!(spec.heads.iter().map(|h| h.name.as_str()).collect::<Vec<_>>(), ["profile", "counts"]);
    assert_eq!(spec.heads[0].strand_pairs, [[0, 1]]);
    // Held-out sequences through the exported ONNX (tract).
    let test: Vec<usize> = (0..n).filter(|i| i % 5 == 0).collect();
    let xt: Vec<f32> = test.iter().flat_map(|&i| x[i * LEN * 4..(i + 1) * LEN * 4].iter().copied()).collect();
    let xa = ndarray::Array3::from_shape_vec((test.len(), LEN, 4), xt.clone()).unwrap();
    let run = |head: usize| {
        let engine = create(EngineKind::Tract, Device::Cpu, &pkg.onnx).unwrap();
        Predictor::new(&pkg, engine, head, 16).unwrap().predict(xa.view()).unwrap().into_raw_vec_and_offset().0
    };
    let (logits, counts) = (run(0), run(1));
    // The profile as counts: softmax over bases and strands together × exp(log count).
    let (mut pred, mut obs, mut pc, mut oc) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for (t, &i) in test.iter().enumerate() {
        let l = &logits[t * OUT * 2..(t + 1) * OUT * 2];
        let m = l.iter().fold(f32::MIN, |a, &b| a.max(b));
        let z: f64 = l.iter().map(|&v| ((v - m) as f64).exp()).sum();
        let total = (counts[t] as f64).exp();
        pred.extend(l.iter().map(|&v| ((v - m) as f64).exp() / z * total));
        obs.extend(y[i * OUT * 2..(i + 1) * OUT * 2].iter().map(|&v| v as f64));
        pc.push(counts[t] as f64);
        oc.push((y[i * OUT * 2..(i + 1) * OUT * 2].iter().map(|&v| v as f64).sum::<f64>()).ln_1p());
    }
    let (rp, rc) = (pearson(&pred, &obs), pearson(&pc, &oc));
    eprintln!("planted BPNet, {} held-out sequences: profile Pearson {rp:.3}, count Pearson {rc:.3}", test.len());
    let with: Vec<f64> = test.iter().map(|&i| motifs[i] as f64).collect();
    eprintln!("  count Pearson with the number of motifs {:.3}", pearson(&pc, &with));
    assert!(rp > 0.7, "profile Pearson {rp}");
    assert!(rc > 0.8, "count Pearson {rc}");
    // The exported ONNX equals burn's forward pass with the trained weights.
    let device = Default::default();
    let store = ParamStore::<Cpu>::from_weights(pkg.weights.as_ref().unwrap(), &device);
    let get = |name: &str| store.params.get(name).map(|p| p.value.clone());
    let analysis = spec.analyze().unwrap();
    let xb = Tensor::<Cpu, 3>::from_data(TensorData::new(xt, [test.len(), LEN, 4]), &device);
    let outs = Interpreter::new(&spec, &analysis, &get, false).forward(xb).unwrap();
    for (h, onnx) in [(0, &logits), (1, &counts)] {
        let b = to_vec(outs[h].clone()).unwrap();
        let dmax = b.iter().zip(onnx.iter()).map(|(a, c)| (a - c).abs()).fold(0f32, f32::max);
        eprintln!("  head {h}: max |ONNX − burn| = {dmax:e}");
        assert!(dmax <= 1e-4, "head {h}: ONNX and burn differ by {dmax}");
    }
}

#[test]
fn bpnet_arch_refuses_what_it_cannot_train() {
    let dir = tempfile::tempdir().unwrap();
    write_data(dir.path(), 20);
    let d = |f: &str| dir.path().join(f);
    let (onehot, profile) = (d("onehot.npz"), d("profile.npz"));
    let base = ["train", "--arch", "bpnet", "--onehot", p(&onehot), "--targets", p(&profile)];
    let out = d("m");
    let with = |extra: &[&str]| -> Vec<String> {
        base.iter().chain(extra).map(|s| s.to_string()).chain(["--out".to_string(), p(&out).to_string()]).collect()
    };
    let run = |extra: &[&str], needle: &str| {
        let args = with(extra);
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        common::fails(&refs, &[needle]);
        assert!(!out.exists());
    };
    run(&["--loss", "mse"], "--arch bpnet trains with its own loss");
    // The default 8 layers trim 557 bp at each end: 256 bp is too short.
    run(&[], "the input (256 bp) must be longer than 1114");
    run(&["--blocks", "2", "--kernel", "5"], "bpnet takes --filters, --blocks and --length");
}
