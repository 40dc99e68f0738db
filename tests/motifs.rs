//! MEME files and Tomtom-style motif comparison against the bundled JASPAR database, checked
//! against memelite (expected table made by scripts/motifs_reference.py).

mod common;

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use common::{fails, fixture, ok, p};
use s2f::motifs::{
    compare, parse_meme, read_meme, write_meme, CompareOptions, Distance, Motif, Orientation, MAX_QUERY_WIDTH,
};

/// The database shipped in `motifs/` (read from the project, as a user's clone has it).
fn jaspar_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("motifs/JASPAR2026_CORE_vertebrates.meme")
}

fn jaspar() -> Vec<Motif> {
    read_meme(&jaspar_path()).unwrap()
}

#[test]
fn jaspar_reads_completely() {
    let db = jaspar();
    assert_eq!(db.len(), 1019);
    let ctcf = db.iter().find(|m| m.id == "MA0139.2").unwrap();
    assert_eq!(ctcf.alt.as_deref(), Some("CTCF"));
    for m in &db {
        assert!(m.sites.is_some(), "{}", m.id);
        for c in &m.probs {
            assert!((c.iter().sum::<f64>() - 1.0).abs() < 1e-12, "{}", m.id);
        }
    }
}

/// Every motif is its own best match (identical p-values are ties: JASPAR has near-duplicate
/// matrices), fully overlapping on the forward strand. With Euclidean column scores every self
/// match has q < 1e-3. Pearson correlation cannot tell a pure column from any column whose other
/// three letters are equal, so short motifs of near-pure columns (E-boxes, 4–8 columns) tie with
/// many targets: there q < 1e-3 holds from 9 columns on (92 of the 362 shorter ones miss it).
#[test]
fn every_jaspar_motif_is_its_own_best_match() {
    let db = jaspar();
    for distance in [Distance::Pearson, Distance::Euclidean] {
        let opts = CompareOptions { distance, thresh: 1.0, top: Some(20), ..CompareOptions::default() };
        let matches = compare(&db, &db, &opts).unwrap();
        let mut by_query: HashMap<usize, Vec<_>> = HashMap::new();
        for m in &matches {
            by_query.entry(m.query).or_default().push(m);
        }
        let mut short_misses = 0;
        for (qi, q) in db.iter().enumerate() {
            let rows = &by_query[&qi];
            let me = rows.iter().find(|m| m.target == qi);
            let me = me.unwrap_or_else(|| panic!("{distance:?}: {} is not among its 20 best matches", q.id));
            assert!(me.p_value <= rows[0].p_value, "{distance:?}: {} best is {}", q.id, db[rows[0].target].id);
            assert_eq!((me.offset, me.overlap, me.orientation), (0, q.width(), Orientation::Forward), "{}", q.id);
            if distance == Distance::Euclidean || q.width() >= 9 {
                assert!(me.q_value < 1e-3, "{distance:?}: {} q = {}", q.id, me.q_value);
            } else if me.q_value >= 1e-3 {
                short_misses += 1;
            }
        }
        eprintln!("{distance:?}: {short_misses} motifs of ≤ 8 columns match themselves with q ≥ 1e-3");
        assert!(short_misses <= 100);
    }
}

/// One row of the memelite table.
struct Expected {
    query: String,
    self_p: f64,
    best: String,
    best_p: f64,
    second: String,
    second_p: f64,
}

fn memelite_table() -> Vec<Expected> {
    let text = std::fs::read_to_string(fixture("motifs/memelite_jaspar_subset.tsv")).unwrap();
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.starts_with("query"))
        .map(|l| {
            let f: Vec<&str> = l.split('\t').collect();
            Expected {
                query: f[0].into(),
                self_p: f[1].parse().unwrap(),
                best: f[2].into(),
                best_p: f[3].parse().unwrap(),
                second: f[7].into(),
                second_p: f[8].parse().unwrap(),
            }
        })
        .collect()
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

#[test]
fn agrees_with_memelite_on_a_jaspar_subset() {
    let db = jaspar();
    let expected = memelite_table();
    assert_eq!(expected.len(), 41);
    let index: HashMap<&str, usize> = db.iter().enumerate().map(|(i, m)| (m.id.as_str(), i)).collect();
    let queries: Vec<Motif> = expected.iter().map(|e| db[index[e.query.as_str()]].clone()).collect();
    // memelite: Euclidean distance, every offset (no minimum overlap), both strands.
    let opts = CompareOptions {
        distance: Distance::Euclidean,
        min_overlap: 1,
        thresh: 1.0,
        top: Some(5),
        ..CompareOptions::default()
    };
    let matches = compare(&queries, &db, &opts).unwrap();
    let (mut best_ratios, mut self_ratios, mut disagree) = (Vec::new(), Vec::new(), Vec::new());
    for (qi, e) in expected.iter().enumerate() {
        let rows: Vec<_> = matches.iter().filter(|m| m.query == qi).collect();
        let me = rows.iter().find(|m| db[m.target].id == e.query).expect("self match");
        self_ratios.push((me.p_value / e.self_p).log10().abs());
        let other: Vec<_> = rows.iter().filter(|m| db[m.target].id != e.query).collect();
        let ours = &db[other[0].target].id;
        // memelite's best, or its runner-up where memelite itself has them within a factor 2.
        let tied = e.second_p <= 2.0 * e.best_p && *ours == e.second;
        if *ours != e.best && !tied {
            disagree.push(format!(
                "{}: s2f {} (p {:.2e}), memelite {} (p {:.2e})",
                e.query, ours, other[0].p_value, e.best, e.best_p
            ));
        }
        best_ratios.push((other[0].p_value / e.best_p).log10().abs());
    }
    let (med, max) = (median(best_ratios.clone()), best_ratios.iter().copied().fold(0.0, f64::max));
    eprintln!("best other target: |log10(p_s2f / p_memelite)| median {med:.3}, max {max:.3}");
    eprintln!(
        "self match: |log10 ratio| median {:.3}, max {:.3}",
        median(self_ratios.clone()),
        self_ratios.iter().copied().fold(0.0, f64::max)
    );
    assert!(disagree.is_empty(), "best targets differ from memelite:\n{}", disagree.join("\n"));
    assert!(med < 0.3 && max < 1.2, "p-values too far from memelite: median {med}, max {max}");
}

#[test]
fn meme_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let db = jaspar();
    let some: Vec<Motif> = db.iter().step_by(50).cloned().collect();
    let path = dir.path().join("out.meme");
    write_meme(&path, &some, [0.3, 0.2, 0.2, 0.3]).unwrap();
    let back = read_meme(&path).unwrap();
    assert_eq!(back.len(), some.len());
    for (a, b) in some.iter().zip(&back) {
        assert_eq!((&a.id, &a.alt, a.sites, a.width()), (&b.id, &b.alt, b.sites, b.width()));
        for (x, y) in a.probs.iter().zip(&b.probs) {
            for k in 0..4 {
                assert!((x[k] - y[k]).abs() < 2e-6, "{}", a.id);
            }
        }
    }
    // No alternative name, unknown site count, and a name that would break the format.
    let bare = Motif { id: "k0".into(), alt: None, probs: vec![[0.25; 4]; 3], sites: None };
    write_meme(&path, std::slice::from_ref(&bare), [0.25; 4]).unwrap();
    assert_eq!(read_meme(&path).unwrap()[0].probs, bare.probs);
    let spaced = Motif { id: "two words".into(), ..bare };
    assert!(write_meme(&dir.path().join("bad.meme"), &[spaced], [0.25; 4]).is_err());
    assert!(!dir.path().join("bad.meme").exists());
}

const HEADER: &str = "MEME version 4\n\nALPHABET= ACGT\n\nstrands: + -\n\nBackground letter frequencies\nA 0.25 C 0.25 G 0.25 T 0.25\n\n";

/// The error text for a MEME body after the standard header (lines 1–9).
fn error_of(body: &str) -> String {
    parse_meme(&format!("{HEADER}{body}"), "bad.meme").unwrap_err().to_string()
}

#[test]
fn bad_meme_input_is_named() {
    let good =
        "MOTIF ok\nletter-probability matrix: alength= 4 w= 2 nsites= 3 E= 0\n0.1 0.2 0.3 0.4\n1 0 0 0\nURL x\n\n";
    assert_eq!(parse_meme(&format!("{HEADER}{good}"), "ok.meme").unwrap().len(), 1);
    let cases: [(&str, &[&str]); 6] = [
        // A column (matrix row) summing to 1.2.
        (
            "MOTIF m1 X\nletter-probability matrix: alength= 4 w= 2\n0.1 0.2 0.3 0.4\n0.3 0.3 0.3 0.3\n",
            &["bad.meme", "line 13", "m1", "sum to 1.2"],
        ),
        // A ragged row.
        (
            "MOTIF m2\nletter-probability matrix: alength= 4 w= 2\n0.1 0.2 0.3 0.4\n0.5 0.5 0.0\n",
            &["line 13", "m2", "expected 4 values"],
        ),
        // A value that is not a number.
        (
            "MOTIF m3\nletter-probability matrix: alength= 4 w= 1\n0.1 0.2 x 0.4\n",
            &["line 12", "m3", "\"x\" is not a number"],
        ),
        // w= 3 with two rows, and w= 1 with two rows.
        (
            "MOTIF m4\nletter-probability matrix: alength= 4 w= 3\n0.1 0.2 0.3 0.4\n1 0 0 0\n\n",
            &["line 11", "m4", "w= 3", "2 rows"],
        ),
        (
            "MOTIF m5\nletter-probability matrix: alength= 4 w= 1\n0.1 0.2 0.3 0.4\n1 0 0 0\n",
            &["line 11", "m5", "w= 1", "2 rows"],
        ),
        // No letter-probability matrix before the next motif.
        (
            "MOTIF m6\n\nMOTIF m7\nletter-probability matrix: alength= 4 w= 1\n1 0 0 0\n",
            &["line 10", "m6", "no letter-probability matrix"],
        ),
    ];
    for (body, needles) in cases {
        let err = error_of(body);
        for n in needles {
            assert!(err.contains(n), "expected {n:?} in {err:?}");
        }
    }
    // A missing matrix at the end of the file, another alphabet, and no motifs at all.
    assert!(error_of("MOTIF last\n").contains("last: no letter-probability matrix"));
    assert!(parse_meme("ALPHABET= ACDEFGHIKLMNPQRSTVWY\n", "p.meme").unwrap_err().to_string().contains("alphabet"));
    assert!(parse_meme(HEADER, "e.meme").unwrap_err().to_string().contains("no motifs"));
}

#[test]
fn cli_compare_writes_tomtom_text() {
    let dir = tempfile::tempdir().unwrap();
    let db = jaspar();
    let query = dir.path().join("q.meme");
    let ctcf = db.iter().find(|m| m.id == "MA0139.2").unwrap().clone();
    write_meme(&query, &[ctcf.reverse_complement()], [0.25; 4]).unwrap();
    let out = dir.path().join("matches.tsv");
    let jaspar = jaspar_path();
    ok(&["motifs", "compare", p(&query), p(&jaspar), "--top", "3", "--out", p(&out)]);
    let text = std::fs::read_to_string(&out).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines[0],
        "Query_ID\tTarget_ID\tOptimal_offset\tp-value\tE-value\tq-value\tOverlap\tQuery_consensus\tTarget_consensus\tOrientation"
    );
    let row: Vec<&str> = lines[1].split('\t').collect();
    // The reverse complement of CTCF finds CTCF on the opposite strand, fully overlapping.
    let width = ctcf.width().to_string();
    assert_eq!((row[0], row[1], row[2], row[6], row[9]), ("MA0139.2", "MA0139.2", "0", width.as_str(), "-"));
    assert!(row[3].parse::<f64>().unwrap() < 1e-10 && row[5].parse::<f64>().unwrap() < 1e-3);
    assert_eq!(row[7], ctcf.reverse_complement().consensus());
    assert_eq!(row[8], ctcf.consensus());
    assert!(lines.len() <= 4);
    // A bad database fails naming the file and line, and leaves no output.
    let bad = dir.path().join("bad.meme");
    std::fs::write(&bad, format!("{HEADER}MOTIF z\nletter-probability matrix: alength= 4 w= 1\n0.5 0.5 0.5 0.5\n"))
        .unwrap();
    let out2 = dir.path().join("none.tsv");
    fails(&["motifs", "compare", p(&query), p(&bad), "--out", p(&out2)], &["bad.meme", "line 12", "z"]);
    assert!(!out2.exists());
}

/// Deterministic pseudo-random motifs (columns with one dominant base, as real motifs have).
fn random_motifs(n: usize, width: usize, seed: u64) -> Vec<Motif> {
    let mut state = seed;
    let mut next = move || {
        state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        (state >> 11) as f64 / (1u64 << 53) as f64
    };
    (0..n)
        .map(|k| {
            let probs = (0..width)
                .map(|_| {
                    let mut c = [0.0; 4].map(|_: f64| next() * 0.3);
                    c[(next() * 4.0) as usize % 4] += 1.0;
                    let sum: f64 = c.iter().sum();
                    c.map(|v| v / sum)
                })
                .collect();
            Motif { id: format!("m{k}"), alt: None, probs, sites: None }
        })
        .collect()
}

#[test]
fn offsets_strands_and_thresholds() {
    let db = random_motifs(60, 10, 7);
    let all = CompareOptions { thresh: 1.0, top: Some(1), ..CompareOptions::default() };
    let target = &db[17];
    // A piece of the target: its columns 2..8 pair with target columns 2..8.
    let piece = Motif { probs: target.probs[2..8].to_vec(), ..target.clone() };
    // The target with three foreign columns in front: query column 3 faces target column 0.
    let mut longer = db[40].probs[..3].to_vec();
    longer.extend_from_slice(&target.probs);
    let longer = Motif { probs: longer, ..target.clone() };
    let queries = [piece.clone(), longer, target.reverse_complement()];
    let m = compare(&queries, &db, &all).unwrap();
    let got: Vec<_> = m.iter().map(|m| (m.target, m.offset, m.overlap, m.orientation)).collect();
    assert_eq!(
        got,
        [(17, 2, 6, Orientation::Forward), (17, -3, 10, Orientation::Forward), (17, 0, 10, Orientation::Reverse)]
    );
    assert!(m.iter().all(|m| m.p_value < 1e-6 && m.q_value < 1e-3 && m.e_value == m.p_value * 60.0));
    // One strand only: the reverse complement no longer matches its target as well.
    let fwd = CompareOptions { reverse_complement: false, thresh: 1.0, ..CompareOptions::default() };
    let m = compare(&queries[2..], &db, &fwd).unwrap();
    assert!(m.iter().all(|m| m.orientation == Orientation::Forward));
    assert!(m.iter().find(|m| m.target == 17).is_some_and(|m| m.p_value > 1e-6));
    // E-value threshold, q-value threshold.
    let e = CompareOptions { evalue: true, thresh: 0.5, ..CompareOptions::default() };
    assert!(compare(std::slice::from_ref(&piece), &db, &e).unwrap().iter().all(|m| m.e_value <= 0.5));
    assert_eq!(compare(&[piece], &db, &CompareOptions::default()).unwrap()[0].target, 17);
}

/// Width-2 queries and targets with `min_overlap` 2 have a single alignment per strand, so
/// the p-value is P(G₀ + G₁ ≥ s) for independent grid scores of the two query columns:
/// counted here over every pair of database columns.
#[test]
fn p_value_equals_enumeration() {
    let db = random_motifs(40, 2, 3);
    let query = random_motifs(1, 2, 99).remove(0);
    let opts = CompareOptions {
        distance: Distance::Euclidean,
        min_overlap: 2,
        reverse_complement: false,
        thresh: 1.0,
        ..CompareOptions::default()
    };
    let matches = compare(std::slice::from_ref(&query), &db, &opts).unwrap();
    let cols: Vec<[f64; 4]> = db.iter().flat_map(|m| m.probs.clone()).collect();
    let score = |q: &[f64; 4], t: &[f64; 4]| -q.iter().zip(t).map(|(a, b)| (a - b) * (a - b)).sum::<f64>().sqrt();
    let rows: Vec<Vec<f64>> = query.probs.iter().map(|q| cols.iter().map(|t| score(q, t)).collect()).collect();
    let medians: Vec<f64> = rows
        .iter()
        .map(|r| {
            let mut v = r.clone();
            v.sort_by(f64::total_cmp);
            v[v.len() / 2]
        })
        .collect();
    let medians = &medians;
    let centred = |i: usize| rows[i].iter().map(move |x| x - medians[i]);
    let lo = (0..2).flat_map(centred).fold(f64::INFINITY, f64::min);
    let hi = (0..2).flat_map(centred).fold(f64::NEG_INFINITY, f64::max);
    let grid = |x: f64| ((x * 100.0 / (hi - lo)).round()) as i64;
    let g: Vec<Vec<i64>> = (0..2).map(|i| centred(i).map(grid).collect()).collect();
    for m in &matches {
        let s = g[0][2 * m.target] + g[1][2 * m.target + 1];
        let hits = g[0].iter().flat_map(|a| g[1].iter().map(move |b| a + b)).filter(|&x| x >= s).count();
        let want = hits as f64 / (cols.len() * cols.len()) as f64;
        assert!((m.p_value - want).abs() < 1e-12 * want.max(1e-300), "{} {} {}", m.target, m.p_value, want);
        assert_eq!((m.offset, m.overlap), (0, 2));
    }
}

#[test]
fn bad_arguments() {
    let db = random_motifs(3, 4, 1);
    assert!(compare(&db, &[], &CompareOptions::default()).is_err());
    let wide = random_motifs(1, MAX_QUERY_WIDTH + 1, 1);
    assert!(compare(&wide, &db, &CompareOptions::default()).unwrap_err().to_string().contains("m0"));
    let mut bad = db[0].clone();
    bad.probs[1] = [0.5, 0.5, 0.5, f64::NAN];
    let err = compare(&[bad], &db, &CompareOptions::default()).unwrap_err().to_string();
    assert!(err.contains("query motif m0") && err.contains("column 2"), "{err}");
    let zero = CompareOptions { min_overlap: 0, ..CompareOptions::default() };
    assert!(compare(&db, &db, &zero).is_err());
}
