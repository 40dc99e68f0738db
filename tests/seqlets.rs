//! `s2f seqlets` on synthetic attributions with planted motifs: the clusters, their consensus,
//! the seqlet coordinates, database matches, edge cases and the CLI.

use std::path::Path;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use s2f::io::npy::NpzWriter;
use s2f::jobs::seqlets::{run, SeqletsOptions, Sign};

const L: usize = 100;
const N: usize = 30;

/// A planted site: sequence, start, the planted (forward-strand) text.
struct Site {
    seq: usize,
    start: usize,
    text: &'static str,
}

fn gauss(rng: &mut ChaCha8Rng) -> f32 {
    // Box–Muller.
    let (u, v): (f64, f64) = (rng.random::<f64>().max(1e-12), rng.random());
    ((-2.0 * u.ln()).sqrt() * (2.0 * std::f64::consts::PI * v).cos()) as f32
}

/// 30 random sequences: the first 15 carry GATAA (every third as TTATC, its reverse complement)
/// with attribution +1.0 per planted base, the others CACGTG with −1.0; N(0, 0.05) noise on every
/// base elsewhere (hypothetical-style: all four bases carry values). Two maps when `two_maps`:
/// the second all zero. Returns the sites.
fn write_synthetic(path: &Path, two_maps: bool, with_attributions: bool) -> Vec<Site> {
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    let maps = if two_maps { 2 } else { 1 };
    let mut onehot = vec![0f32; N * L * 4];
    let mut attr = vec![0f32; N * maps * L * 4];
    let mut sites = Vec::new();
    for n in 0..N {
        let mut seq: Vec<u8> = (0..L).map(|_| b"ACGT"[rng.random_range(0..4)]).collect();
        let (text, value) = match (n < N / 2, n % 3) {
            (true, 0) => ("TTATC", 1.0f32),
            (true, _) => ("GATAA", 1.0),
            (false, _) => ("CACGTG", -1.0),
        };
        let start = rng.random_range(10..L - 20);
        seq[start..start + text.len()].copy_from_slice(text.as_bytes());
        sites.push(Site { seq: n, start, text });
        for (i, &b) in seq.iter().enumerate() {
            let base = b"ACGT".iter().position(|&x| x == b).unwrap();
            onehot[(n * L + i) * 4 + base] = 1.0;
            for k in 0..4 {
                let v = if (start..start + text.len()).contains(&i) {
                    if k == base {
                        value
                    } else {
                        0.0
                    }
                } else {
                    0.05 * gauss(&mut rng)
                };
                attr[((n * maps) * L + i) * 4 + k] = v;
            }
        }
    }
    let mut w = NpzWriter::create(path).unwrap();
    if with_attributions {
        w.add("attributions", &[N, maps, L, 4], &attr).unwrap();
    }
    w.add("onehot", &[N, L, 4], &onehot).unwrap();
    w.add_strings("names", &(0..N).map(|i| format!("chr1:{}-{}", i * 1000, i * 1000 + L)).collect::<Vec<_>>()).unwrap();
    let tracks: Vec<String> = ["cell_a", "cell_zero"][..maps].iter().map(|s| s.to_string()).collect();
    w.add_strings("tracks", &tracks).unwrap();
    w.finish().unwrap();
    sites
}

/// A small MEME database: a GATA site, an E-box and random 8-column motifs.
fn write_db(path: &Path) {
    let mut rng = ChaCha8Rng::seed_from_u64(3);
    let col = |b: u8| -> String {
        let i = b"ACGT".iter().position(|&x| x == b).unwrap();
        (0..4).map(|k| if k == i { "0.85" } else { "0.05" }).collect::<Vec<_>>().join(" ")
    };
    let mut text = String::from("MEME version 4\n\nALPHABET= ACGT\n\nstrands: + -\n\n");
    for (id, name, cons) in [("DB_GATA", "GATA_like", "AGATAAGA"), ("DB_EBOX", "EBOX_like", "ACCACGTGGT")] {
        text += &format!("MOTIF {id} {name}\nletter-probability matrix: alength= 4 w= {}\n", cons.len());
        for b in cons.bytes() {
            text += &format!("{}\n", col(b));
        }
        text += "\n";
    }
    for r in 0..60 {
        text += &format!("MOTIF RND{r} random\nletter-probability matrix: alength= 4 w= 8\n");
        for _ in 0..8 {
            let v: [f64; 4] = std::array::from_fn(|_| rng.random::<f64>() + 0.05);
            let s: f64 = v.iter().sum();
            text += &format!("{:.6} {:.6} {:.6} {:.6}\n", v[0] / s, v[1] / s, v[2] / s, 1.0 - (v[0] + v[1] + v[2]) / s);
        }
        text += "\n";
    }
    std::fs::write(path, text).unwrap();
}

fn rows(path: &Path) -> Vec<Vec<String>> {
    std::fs::read_to_string(path).unwrap().lines().map(|l| l.split('\t').map(String::from).collect()).collect()
}

#[test]
fn planted_motifs_give_one_cluster_per_sign() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("attributions.npz");
    let sites = write_synthetic(&input, true, true);
    let db = dir.path().join("db.meme");
    write_db(&db);
    let out = dir.path().join("out");
    let a = run(&input, Some(&db), &out, &SeqletsOptions::default()).unwrap();

    assert_eq!(a.clusters.len(), 2, "{:?}", a.clusters.iter().map(|c| (&c.id, c.consensus())).collect::<Vec<_>>());
    let pos = a.clusters.iter().find(|c| c.sign == Sign::Positive).unwrap();
    let neg = a.clusters.iter().find(|c| c.sign == Sign::Negative).unwrap();
    let (pc, nc) = (pos.consensus(), neg.consensus());
    assert!(pc.contains("GATAA") || pc.contains("TTATC"), "positive consensus {pc}");
    assert!(nc.contains("CACGTG"), "negative consensus {nc}");
    assert_eq!((pos.members.len(), pos.n_sequences), (15, 15));
    assert_eq!((neg.members.len(), neg.n_sequences), (15, 15));
    assert_eq!(pos.maps, vec![0]);
    // Trimmed to about the planted width.
    assert!((5..=7).contains(&pc.len()) && (6..=8).contains(&nc.len()), "{pc} {nc}");
    // The CWM carries the sign.
    assert!(pos.cwm.iter().flatten().sum::<f64>() > 0.0 && neg.cwm.iter().flatten().sum::<f64>() < 0.0);

    // One seqlet per planted site, covering it, on the zero map none.
    assert_eq!(a.seqlets.len(), N);
    for site in &sites {
        let s = a.seqlets.iter().find(|s| s.seq == site.seq).unwrap();
        assert!(s.start <= site.start && s.end >= site.start + site.text.len(), "site {} {}", site.seq, site.start);
        assert!(s.end - s.start <= site.text.len() + 10);
        assert_eq!(s.map, 0);
        assert_eq!(s.sign, if site.text == "CACGTG" { Sign::Negative } else { Sign::Positive });
    }
    // Reverse-complemented GATA sites are flipped relative to the forward ones.
    let strand = |seq: usize| {
        let i = a.seqlets.iter().position(|s| s.seq == seq).unwrap();
        pos.members.iter().find(|m| m.seqlet == i).unwrap().alignment.reverse
    };
    assert_ne!(strand(0), strand(1));
    assert_eq!(strand(1), strand(2));

    // Database matches.
    assert_eq!(a.matches[0].as_ref().map(|m| m.id.as_str()), Some("DB_GATA"));
    assert_eq!(a.matches[1].as_ref().map(|m| m.id.as_str()), Some("DB_EBOX"));

    // Files.
    let t = rows(&out.join("clusters.tsv"));
    assert_eq!(t[0][..7], ["id", "sign", "n_seqlets", "n_sequences", "tracks", "width", "consensus"]);
    assert_eq!(t.len(), 3);
    assert_eq!(t[1][..5], ["pos_0", "+", "15", "15", "cell_a"]);
    assert_eq!(t[1][7..9], ["DB_GATA", "GATA_like"]);
    assert_eq!(t[2][..2], ["neg_0", "-"]);
    assert_eq!(t[2][7], "DB_EBOX");
    let s = rows(&out.join("seqlets.tsv"));
    assert_eq!(s[0], ["sequence", "track", "start", "end", "sign", "score", "cluster", "strand"]);
    assert_eq!(s.len(), N + 1);
    let first = &s[1];
    assert_eq!(first[0], "chr1:0-100");
    assert_eq!(first[1], "cell_a");
    let (st, en): (usize, usize) = (first[2].parse().unwrap(), first[3].parse().unwrap());
    assert!(st <= sites[0].start && en >= sites[0].start + 5);
    assert!(first[5].parse::<f64>().unwrap() > 4.0);
    assert_eq!(first[6], "pos_0");
    let motifs = s2f::motifs::meme::read_meme(&out.join("clusters.meme")).unwrap();
    assert_eq!(motifs.len(), 2);
    assert_eq!(motifs[0].id, "pos_0");
    assert_eq!(motifs[0].sites, Some(15));
    assert!(out.join("logos/pos_0.png").exists() && out.join("logos/neg_0.png").exists());
}

#[test]
fn an_all_zero_map_gives_empty_but_valid_outputs() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("attributions.npz");
    write_synthetic(&input, true, true);
    let out = dir.path().join("out");
    let opts = SeqletsOptions { maps: Some(vec![1]), ..Default::default() };
    let a = run(&input, None, &out, &opts).unwrap();
    assert!(a.seqlets.is_empty() && a.clusters.is_empty());
    assert_eq!(rows(&out.join("clusters.tsv")).len(), 1);
    assert_eq!(rows(&out.join("seqlets.tsv")).len(), 1);
    let meme = std::fs::read_to_string(out.join("clusters.meme")).unwrap();
    assert!(meme.starts_with("MEME version 4") && !meme.contains("MOTIF"));
    assert!(!out.join("logos").exists());
}

#[test]
fn a_file_without_attributions_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("onehot_only.npz");
    write_synthetic(&input, false, false);
    let out = dir.path().join("out");
    let e = run(&input, None, &out, &SeqletsOptions::default()).unwrap_err().to_string();
    assert!(e.contains("onehot_only.npz") && e.contains("attributions"), "{e}");
    assert!(!out.exists());
    let opts = SeqletsOptions { maps: Some(vec![5]), ..Default::default() };
    let input2 = dir.path().join("attributions.npz");
    write_synthetic(&input2, false, true);
    assert!(run(&input2, None, &out, &opts).unwrap_err().to_string().contains("map 5"));
}

#[test]
fn cli_writes_the_tables() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("attributions.npz");
    write_synthetic(&input, true, true);
    let out = dir.path().join("cli");
    let res = std::process::Command::new(env!("CARGO_BIN_EXE_s2f"))
        .arg("seqlets")
        .arg(&input)
        .args(["--tracks", "cell_a", "--cut", "2.5", "--max-gap", "1", "--min-size", "4", "--no-logos"])
        .arg("--out")
        .arg(&out)
        .output()
        .unwrap();
    assert!(res.status.success(), "{}", String::from_utf8_lossy(&res.stderr));
    let t = rows(&out.join("clusters.tsv"));
    assert_eq!(t.len(), 3);
    assert!(t[1][6].contains("GATAA") || t[1][6].contains("TTATC"), "{:?}", t[1]);
    assert!(!out.join("logos").exists());
    let bad = std::process::Command::new(env!("CARGO_BIN_EXE_s2f"))
        .arg("seqlets")
        .arg(&input)
        .args(["--tracks", "nope", "--out"])
        .arg(&out)
        .output()
        .unwrap();
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("no map \"nope\""));
}

#[test]
fn the_windowed_null_also_recovers_the_planted_motifs() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("attributions.npz");
    write_synthetic(&input, true, true);
    let out = dir.path().join("out");
    let opts = SeqletsOptions { null: Some(Default::default()), ..Default::default() };
    let a = run(&input, None, &out, &opts).unwrap();
    let found = |sign: Sign, motifs: &[&str]| {
        a.clusters
            .iter()
            .any(|c| c.sign == sign && motifs.iter().any(|m| c.consensus().contains(m)) && c.members.len() >= 10)
    };
    let summary: Vec<_> = a.clusters.iter().map(|c| (c.sign, c.consensus(), c.members.len())).collect();
    assert!(found(Sign::Positive, &["GATAA", "TTATC"]), "{summary:?}");
    assert!(found(Sign::Negative, &["CACGTG"]), "{summary:?}");
}
