//! `s2f predict` with a BPNet that reads control tracks: the control comes from one bigWig per
//! strand, read per base over each window. The fixture's control arrays are written into
//! bigWigs at the fixture windows, so predicting on those windows must reproduce bpnet-lite.

mod common;

use std::path::Path;

use common::{fails, fixture, ok, p};
use s2f::genome::fasta::ChromSize;
use s2f::io::npy::{read_npy, read_npz};

/// Writes the fixture's control (6, 2, 2114) at its windows into `plus.bw` and `minus.bw`.
fn control_bigwigs(dir: &Path) -> (std::path::PathBuf, std::path::PathBuf) {
    let ctl = read_npy(fixture("models/bpnet_lite_small/control.npy")).unwrap().to_f32().unwrap();
    let bed = std::fs::read_to_string(fixture("models/bpnet_lite_small/windows.bed")).unwrap();
    let mut starts: Vec<(u32, usize)> =
        bed.lines().enumerate().map(|(i, l)| (l.split('\t').nth(1).unwrap().parse().unwrap(), i)).collect();
    starts.sort();
    let sizes = vec![ChromSize { name: "chr1".into(), len: 1_000_000 }];
    let mut paths = Vec::new();
    for (strand, name) in ["plus.bw", "minus.bw"].iter().enumerate() {
        let mut v = Vec::new();
        for &(start, i) in &starts {
            for pos in 0..2114 {
                let x = ctl[(i * 2 + strand) * 2114 + pos];
                v.push(("chr1".to_string(), start + pos as u32, start + pos as u32 + 1, x));
            }
        }
        let path = dir.join(name);
        s2f::io::bigwig::write_bigwig(&path, &sizes, v.into_iter()).unwrap();
        paths.push(path);
    }
    (paths.remove(0), paths.remove(0))
}

#[test]
fn bpnet_with_control_bigwigs_predicts_the_fixture_windows() {
    let dir = tempfile::tempdir().unwrap();
    let f = |r: &str| fixture(&format!("models/bpnet_lite_small/{r}"));
    let pkg = dir.path().join("pkg");
    ok(&["convert", "--from", "bpnet-lite", p(&f("model.pt")), "--config", p(&f("config.json")), "--out", p(&pkg)]);
    let (plus, minus) = control_bigwigs(dir.path());
    let control = format!("control={},{}", p(&plus), p(&minus));
    let genome = fixture("genome/hg38_chr1_1mb.fa.gz");
    let bed = f("windows.bed");
    let base = ["predict", p(&pkg), "--genome", p(&genome), "--bed", p(&bed), "--engine", "tract"];
    // Logits: bpnet-lite's profile, (6, 1000, 2) in s2f's layout.
    let out = dir.path().join("logits");
    ok(&[&base[..], &["--input", &control, "--profile", "logits", "--out", p(&out)]].concat());
    let z = read_npz(out.join("predictions.npz")).unwrap();
    let got = z.into_iter().find(|(n, _)| n == "predictions").unwrap().1;
    assert_eq!(got.shape, [6, 1000, 2]);
    let got = got.to_f32().unwrap();
    let want = read_npy(f("expected_profile.npy")).unwrap().to_f32().unwrap();
    let mut d = 0f32;
    for i in 0..6 {
        for s in 0..2 {
            for j in 0..1000 {
                d = d.max((got[(i * 1000 + j) * 2 + s] - want[(i * 2 + s) * 1000 + j]).abs());
            }
        }
    }
    eprintln!("BPNet with control bigWigs: profile logits vs bpnet-lite {d:e}");
    assert!(d <= 1e-4, "profile logits differ from bpnet-lite by {d}");
    // Counts (the default): the log count column at the centre bin equals bpnet-lite's counts.
    let out = dir.path().join("counts");
    ok(&[&base[..], &["--input", &control, "--out", p(&out)]].concat());
    let z = read_npz(out.join("predictions.npz")).unwrap();
    let got = z.into_iter().find(|(n, _)| n == "predictions").unwrap().1.to_f32().unwrap();
    let counts = read_npy(f("expected_counts.npy")).unwrap().to_f32().unwrap();
    for (i, c) in counts.iter().enumerate() {
        let have = got[(i * 1000 + 500) * 3 + 2];
        assert!((have - c).abs() <= 1e-4, "window {i}: log count {have} vs bpnet-lite {c}");
    }
    // Without the control, or with a wrong number of strands, or a wrong name: refused.
    fails(&[&base[..], &["--out", p(&dir.path().join("x"))]].concat(), &["control with 2 channel(s)"]);
    let one = format!("control={}", p(&plus));
    fails(&[&base[..], &["--input", &one, "--out", p(&dir.path().join("x"))]].concat(), &["2 channel(s); 1 bigWig(s)"]);
    let bad = format!("ctl={},{}", p(&plus), p(&minus));
    fails(&[&base[..], &["--input", &bad, "--out", p(&dir.path().join("x"))]].concat(), &["no further input \"ctl\""]);
    fails(
        &[&base[..], &["--input", &control, "--rc", "--out", p(&dir.path().join("x"))]].concat(),
        &["--rc and --shifts are not applied"],
    );
    assert!(!dir.path().join("x").exists());
}
