//! `s2f train --arch bpnet --control plus.bw,minus.bw` on genome windows: a planted genome
//! whose per-base targets are motif footprints plus the control signal. The control reaches the
//! model as bpnet-lite's `X_ctl`; the trained package takes it as input `control`, its ONNX
//! equals burn's forward pass, and `predict` reads the same bigWigs.

mod common;

use std::path::Path;

use burn::tensor::{Tensor, TensorData};
use common::{ok, p, Lcg};
use s2f::genome::fasta::ChromSize;
use s2f::io::npy::{read_npy, write_npy};
use s2f::model::Package;
use s2f::train::net::{to_vec, Interpreter, ParamStore};

type Cpu = burn::backend::NdArray<f32>;

const LEN: usize = 256;
const TRIM: usize = 53;
const STEP: usize = 320;
const N: usize = 240;
const MOTIF: &[u8] = b"AGATAAGG";
const FOOT: [f32; 5] = [2.0, 6.0, 12.0, 6.0, 2.0];

/// Writes `g.fa` (one chromosome `chrP`), `peaks.bed` (N windows of LEN bp named w0…),
/// `plus.bw`/`minus.bw` (targets: footprints + control) and `ctl_plus.bw`/`ctl_minus.bw`;
/// returns the genome sequence and the two control tracks.
fn planted_genome(dir: &Path) -> (Vec<u8>, [Vec<f32>; 2]) {
    let mut r = Lcg(9);
    let total = N * STEP + 200;
    let mut seq: Vec<u8> = (0..total).map(|_| b"ACGT"[r.below(4) as usize]).collect();
    let mut target = [vec![0f32; total], vec![0f32; total]];
    let mut control = [vec![0f32; total], vec![0f32; total]];
    // Control: a smooth bump per window on one strand or the other, plus a low floor.
    for (s, c) in control.iter_mut().enumerate() {
        for (i, v) in c.iter_mut().enumerate() {
            let w = i / STEP;
            let phase = (i % STEP) as f32 / STEP as f32;
            *v = 0.1 + if (w + s) % 3 == 0 { 3.0 * (std::f32::consts::PI * phase).sin().powi(2) } else { 0.0 };
        }
    }
    let mut bed = String::new();
    for w in 0..N {
        let start = w * STEP + 100;
        bed.push_str(&format!("chrP\t{start}\t{}\tw{w}\n", start + LEN));
        for k in 0..r.below(3) as usize {
            let at = start + TRIM + 20 + k * 60 + r.below(20) as usize;
            seq[at..at + MOTIF.len()].copy_from_slice(MOTIF);
            for (j, f) in FOOT.iter().enumerate() {
                target[0][at - 6 + j] += f;
                target[1][at + MOTIF.len() + 2 + j] += f;
            }
        }
    }
    for s in 0..2 {
        for i in 0..total {
            target[s][i] += control[s][i];
        }
    }
    let mut fa = String::from(">chrP\n");
    for line in seq.chunks(60) {
        fa.push_str(std::str::from_utf8(line).unwrap());
        fa.push('\n');
    }
    std::fs::write(dir.join("g.fa"), fa).unwrap();
    std::fs::write(dir.join("peaks.bed"), bed).unwrap();
    let split: String =
        (0..N).map(|w| format!("w{w} {}\n", ["test", "valid", "train", "train", "train"][w % 5])).collect();
    std::fs::write(dir.join("split.txt"), split).unwrap();
    let sizes = vec![ChromSize { name: "chrP".into(), len: total as u64 }];
    for (name, track) in
        [("plus.bw", &target[0]), ("minus.bw", &target[1]), ("ctl_plus.bw", &control[0]), ("ctl_minus.bw", &control[1])]
    {
        let v: Vec<_> =
            track.iter().enumerate().map(|(i, &x)| ("chrP".to_string(), i as u32, i as u32 + 1, x)).collect();
        s2f::io::bigwig::write_bigwig(&dir.join(name), &sizes, v.into_iter()).unwrap();
    }
    (seq, control)
}

#[test]
fn bpnet_trains_with_control_tracks_from_bigwigs() {
    let dir = tempfile::tempdir().unwrap();
    let (seq, control) = planted_genome(dir.path());
    let d = |f: &str| dir.path().join(f);
    let out = d("model");
    let targets = format!("{},{}", p(&d("plus.bw")), p(&d("minus.bw")));
    let ctl = format!("{},{}", p(&d("ctl_plus.bw")), p(&d("ctl_minus.bw")));
    ok(&[
        "train",
        "--arch",
        "bpnet",
        "--filters",
        "16",
        "--blocks",
        "2",
        "--length",
        "256",
        "--genome",
        p(&d("g.fa")),
        "--bed",
        p(&d("peaks.bed")),
        "--bigwigs",
        &targets,
        "--bin-stat",
        "sum",
        "--control",
        &ctl,
        "--split",
        p(&d("split.txt")),
        "--epochs",
        "12",
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
    assert_eq!(spec.inputs.len(), 1);
    assert_eq!((spec.inputs[0].name.as_str(), spec.inputs[0].channels), ("control", 2));
    // Held-out windows: `s2f run` with the control as bpnet-lite's (N, strands, L) equals burn.
    let test: Vec<usize> = (0..N).filter(|w| w % 5 == 0).collect();
    let mut x = Vec::new();
    let mut c = vec![0f32; test.len() * 2 * LEN];
    for (t, &w) in test.iter().enumerate() {
        let start = w * STEP + 100;
        for &b in &seq[start..start + LEN] {
            let mut v = [0f32; 4];
            v[b"ACGT".iter().position(|&q| q == b).unwrap()] = 1.0;
            x.extend_from_slice(&v);
        }
        for s in 0..2 {
            c[(t * 2 + s) * LEN..(t * 2 + s + 1) * LEN].copy_from_slice(&control[s][start..start + LEN]);
        }
    }
    let (fx, fc, fy) = (d("x.npy"), d("c.npy"), d("y.npy"));
    write_npy(&fx, &[test.len(), LEN, 4], &x).unwrap();
    write_npy(&fc, &[test.len(), 2, LEN], &c).unwrap();
    let (ix, ic) = (format!("sequence={}", p(&fx)), format!("control={}", p(&fc)));
    ok(&["run", p(&out), "--input", &ix, "--input", &ic, "--head", "profile", "--engine", "tract", "--out", p(&fy)]);
    let onnx = read_npy(&fy).unwrap().to_f32().unwrap();
    let device = Default::default();
    let store = ParamStore::<Cpu>::from_weights(pkg.weights.as_ref().unwrap(), &device);
    let get = |name: &str| store.params.get(name).map(|p| p.value.clone());
    let analysis = spec.analyze().unwrap();
    let xt = Tensor::<Cpu, 3>::from_data(TensorData::new(x, [test.len(), LEN, 4]), &device);
    let ct = Tensor::<Cpu, 3>::from_data(TensorData::new(c, [test.len(), 2, LEN]), &device);
    let outs = Interpreter::new(&spec, &analysis, &get, false).forward_with(xt, vec![ct]).unwrap();
    let burn = to_vec(outs[0].clone()).unwrap();
    let dmax = burn.iter().zip(&onnx).map(|(a, b)| (a - b).abs()).fold(0f32, f32::max);
    eprintln!("bpnet with control: max |ONNX − burn| = {dmax:e}");
    assert!(dmax <= 1e-4, "ONNX and burn differ by {dmax}");
    // The model learned something: the held-out profile correlation (training log's test r).
    let corr = std::fs::read_to_string(out.join("correlations_tracks.tsv")).unwrap();
    let rs: Vec<f64> = corr
        .lines()
        .filter(|l| l.starts_with("test\tprofile"))
        .map(|l| l.split('\t').nth(3).unwrap().parse().unwrap())
        .collect();
    eprintln!("held-out per-strand Pearson r (logits vs counts): {rs:?}");
    assert_eq!(rs.len(), 2, "{corr}");
    assert!(rs.iter().all(|&r| r > 0.5), "held-out profile r {rs:?}");
    // predict reads the control from the same bigWigs.
    let pred = d("pred");
    let ctl_in = format!("control={ctl}");
    ok(&[
        "predict",
        p(&out),
        "--genome",
        p(&d("g.fa")),
        "--bed",
        p(&d("peaks.bed")),
        "--input",
        &ctl_in,
        "--profile",
        "logits",
        "--engine",
        "tract",
        "--out",
        p(&pred),
    ]);
    let z = s2f::io::npy::read_npz(pred.join("predictions.npz")).unwrap();
    let got = z.into_iter().find(|(n, _)| n == "predictions").unwrap().1.to_f32().unwrap();
    let w0 = &got[..(LEN - 2 * TRIM) * 2];
    let d0 = w0.iter().zip(&onnx[..w0.len()]).map(|(a, b)| (a - b).abs()).fold(0f32, f32::max);
    assert!(d0 <= 1e-4, "predict with control bigWigs vs run on window w0: {d0}");
}
