//! `s2f variants --format h5`: basenji's `sad.h5` layout (keys, dtypes, shapes), read back with
//! hdf5-pure always and with h5py when a Python is provided (`S2F_PYTHON`, set by CI); the
//! float16 scores equal the TSV's within float16 precision.

mod common;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::{fixture, ok, p};

/// Rows of a TSV as maps from column to text.
fn tsv(path: &Path) -> (Vec<String>, Vec<HashMap<String, String>>) {
    let text = std::fs::read_to_string(path).unwrap();
    let mut lines = text.lines();
    let header: Vec<String> = lines.next().unwrap().split('\t').map(String::from).collect();
    let rows = lines.map(|l| header.iter().cloned().zip(l.split('\t').map(String::from)).collect()).collect();
    (header, rows)
}

/// float16 bits to their value (independent of the library's conversion).
fn half(h: u16) -> f64 {
    let (e, m) = (i32::from((h >> 10) & 0x1f), f64::from(h & 0x3ff));
    let v = if e == 0 { m * 2f64.powi(-24) } else { (1.0 + m / 1024.0) * 2f64.powi(e - 15) };
    if h & 0x8000 != 0 {
        -v
    } else {
        v
    }
}

/// Runs `s2f variants` on the demo model with `--format h5,tsv --stats SAD,D2`; the output folder.
fn run(dir: &Path) -> PathBuf {
    let model = Path::new(env!("CARGO_MANIFEST_DIR")).join("models/calderon2019_shallow");
    let out = dir.join("v");
    ok(&[
        "variants",
        "--engine",
        "tract",
        p(&model),
        "--genome",
        p(&fixture("genome/hg38_chr1_1mb.fa.gz")),
        "--vcf",
        p(&fixture("genome/eqtl_hg38_chr1.vcf")),
        "--format",
        "h5,tsv",
        "--stats",
        "SAD,D2",
        "--out",
        p(&out),
    ]);
    out
}

#[test]
fn sad_h5_has_basenjis_layout_and_the_tsv_scores() {
    let dir = tempfile::tempdir().unwrap();
    let out = run(dir.path());
    let (header, rows) = tsv(&out.join("variants.tsv"));
    assert_eq!(rows.len(), 8);
    let tracks = header.iter().filter(|c| c.starts_with("SAD:")).count();
    assert_eq!(tracks, 45);
    let f = hdf5_pure::File::open(out.join("sad.h5")).unwrap();
    let text = |n: &str| f.dataset(n).unwrap().read_string().unwrap();
    let col = |c: &str| rows.iter().map(|r| r[c].clone()).collect::<Vec<_>>();
    assert_eq!(text("snp"), col("id"));
    assert_eq!(text("chr"), col("chrom"));
    assert_eq!(text("ref_allele"), col("ref"));
    assert_eq!(text("alt_allele"), col("alt"));
    let pos: Vec<String> = f.dataset("pos").unwrap().read_u32().unwrap().iter().map(u32::to_string).collect();
    assert_eq!(pos, col("pos"));
    assert_eq!(text("target_ids"), (0..tracks).map(|t| t.to_string()).collect::<Vec<_>>());
    assert_eq!(text("target_labels"), vec![String::new(); tracks]);
    for stat in ["SAD", "D2"] {
        let ds = f.dataset(stat).unwrap();
        assert_eq!(ds.shape().unwrap(), [8, tracks as u64]);
        let raw = ds.read_raw().unwrap();
        for (i, r) in rows.iter().enumerate() {
            for t in 0..tracks {
                let k = 2 * (i * tracks + t);
                let got = half(u16::from_le_bytes([raw[k], raw[k + 1]]));
                let want: f64 = r[&format!("{stat}:{t}")].parse().unwrap();
                assert!(
                    (got - want).abs() <= want.abs() * 2f64.powi(-11) + 2f64.powi(-25),
                    "{stat} {i} {t}: {got} vs {want}"
                );
            }
        }
        assert_eq!(f.dataset(&format!("{stat}_pct")).unwrap().shape().unwrap(), [tracks as u64, 279]);
    }
    assert_eq!(f.dataset("percentiles").unwrap().shape().unwrap(), [279]);
}

/// h5py reads what basenji's readers read: every key, dtype and shape as `basenji_sad.py`
/// creates them (string types equal to numpy `'S'` arrays written by h5py), the percentile levels
/// and `_pct` tables as `write_pct` computes them, and the scores of the TSV.
const H5PY_CHECK: &str = r#"
import sys, h5py, numpy as np
h5, tsv, ref = sys.argv[1:4]
f = h5py.File(h5, 'r')
rows = [l.rstrip('\n').split('\t') for l in open(tsv)]
head, rows = rows[0], rows[1:]
c = {name: [r[i] for r in rows] for i, name in enumerate(head)}
n, t = len(rows), sum(1 for h in head if h.startswith('SAD:'))
keys = {'snp', 'chr', 'pos', 'ref_allele', 'alt_allele', 'target_ids', 'target_labels', 'percentiles',
        'SAD', 'D2', 'SAD_pct', 'D2_pct'}
assert set(f.keys()) == keys, sorted(f.keys())
r = h5py.File(ref, 'w')
want = {'snp': c['id'], 'chr': c['chrom'], 'ref_allele': c['ref'], 'alt_allele': c['alt'],
        'target_ids': [str(i) for i in range(t)], 'target_labels': [''] * t}
for k, v in want.items():
    r.create_dataset(k, data=np.array(v, 'S'))
    assert f[k].dtype == r[k].dtype and f[k].shape == r[k].shape, (k, f[k].dtype, r[k].dtype)
    assert f[k].id.get_type() == r[k].id.get_type(), k
    assert [s.decode('UTF-8') for s in f[k]] == v, k
assert f['pos'].dtype == np.uint32 and list(f['pos'][:]) == [int(x) for x in c['pos']]
pct = np.concatenate([np.arange(0.001, 0.1, 0.001), np.arange(0.1, 0.9, 0.01), np.arange(0.9, 1, 0.001)])
assert f['percentiles'].dtype == np.float64 and np.array_equal(f['percentiles'][:], pct)
for s in ['SAD', 'D2']:
    x = f[s]
    assert x.dtype == np.float16 and x.shape == (n, t), (s, x.dtype, x.shape)
    tv = np.array([[float(v) for v in c['%s:%d' % (s, j)]] for j in range(t)]).T
    f16 = np.finfo(np.float16)
    assert np.array_equal(x[:], np.clip(tv, f16.min, f16.max).astype('float16')), s
    assert np.allclose(x[:].astype('float64'), tv, rtol=2**-11, atol=2**-25), s
    p = f[s + '_pct']
    assert p.dtype == np.float16 and p.shape == (t, len(pct)), (s, p.dtype, p.shape)
    want_pct = np.percentile(x, 100 * pct, axis=0).T.astype('float16')
    assert np.allclose(p[:].astype('float64'), want_pct.astype('float64'), rtol=2**-10, atol=2**-24), s
print('ok', n, t)
"#;

#[test]
fn sad_h5_reads_in_h5py_as_basenji_writes_it() {
    let Ok(python) = std::env::var("S2F_PYTHON") else {
        eprintln!("S2F_PYTHON not set: skipping the h5py cross-check");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let out = run(dir.path());
    let reference = dir.path().join("reference.h5");
    let res = Command::new(python)
        .args(["-c", H5PY_CHECK, p(&out.join("sad.h5")), p(&out.join("variants.tsv")), p(&reference)])
        .output()
        .unwrap();
    assert!(res.status.success(), "{}", String::from_utf8_lossy(&res.stderr));
    assert_eq!(String::from_utf8_lossy(&res.stdout).trim(), "ok 8 45");
}
