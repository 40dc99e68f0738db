//! Kernel knock-outs and kernel PWMs against DRG's own `kernel_assessment` and `kernel_to_ppm`
//! on the Calderon fixture, on every engine; the CLI's tables and MEME output.

mod common;

use common::{engines, fixture};
use ndarray::{s, Array1, Array2, Array3};
use s2f::engine::Device;
use s2f::io::npy::read_npy;
use s2f::jobs::kernels::{stats, Knockout, KnockoutOptions, Null};
use s2f::model::Package;

fn shipped() -> Package {
    Package::open(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("models/calderon2019_shallow")).unwrap()
}

fn drg_input() -> Array3<f32> {
    let a = read_npy(fixture("models/drg_calderon_shallow/onehot.npy")).unwrap();
    let x = Array3::from_shape_vec((a.shape[0], a.shape[1], a.shape[2]), a.to_f32().unwrap()).unwrap();
    x.permuted_axes([0, 2, 1]).as_standard_layout().into_owned()
}

fn load(rel: &str) -> ndarray::ArrayD<f32> {
    let a = read_npy(fixture(&format!("models/drg_calderon_shallow/kernels/{rel}"))).unwrap();
    ndarray::ArrayD::from_shape_vec(a.shape.clone(), a.to_f32().unwrap()).unwrap()
}

fn rel_err<'a>(a: impl Iterator<Item = f64>, b: impl Iterator<Item = f64> + Clone) -> f64 {
    let scale = b.clone().fold(0f64, |m, v| m.max(v.abs()));
    a.zip(b).map(|(p, q)| (p - q).abs()).fold(0f64, f64::max) / scale
}

fn opts(naive: bool) -> KnockoutOptions {
    KnockoutOptions { layer: None, null: Null::Mean, head: 0, batch: 128, naive }
}

#[test]
fn knockouts_reproduce_drg_on_every_engine() {
    let x = drg_input();
    let want_values = load("knockout_value.npy");
    let want_effect = load("knockout_effect.npy");
    let want_delta = load("knockout_delta_first8.npy");
    for kind in engines() {
        let mut ko = Knockout::new(&shipped(), kind, Device::Cpu, opts(false)).unwrap();
        assert_eq!(ko.layer().path, "trunk.1.0");
        let e = rel_err(ko.values().iter().map(|&v| v as f64), want_values.iter().map(|&v| v as f64));
        assert!(e <= 1e-6, "{kind:?}: null values differ by {e}");
        let r = ko.run(x.view()).unwrap();
        assert_eq!(r.delta.shape(), &[256, 51, 45]);
        let effect = stats::effect(&r.delta);
        let e = rel_err(effect.iter().copied(), want_effect.iter().map(|&v| v as f64));
        assert!(e <= 1e-4, "{kind:?}: effect differs from DRG's by {e} of the largest value");
        let first8 = r.delta.slice(s![.., ..8, ..]);
        let e = rel_err(first8.iter().map(|&v| v as f64), want_delta.iter().map(|&v| v as f64));
        assert!(e <= 1e-4, "{kind:?}: per-sequence differences differ from DRG's by {e}");
    }
}

#[test]
fn fast_knockouts_equal_the_naive_path() {
    let x = drg_input().slice(s![..3, .., ..]).to_owned();
    let kind = engines()[0];
    let fast = Knockout::new(&shipped(), kind, Device::Cpu, opts(false)).unwrap().run(x.view()).unwrap();
    let naive = Knockout::new(&shipped(), kind, Device::Cpu, opts(true)).unwrap().run(x.view()).unwrap();
    let e = rel_err(fast.delta.iter().map(|&v| v as f64), naive.delta.iter().map(|&v| v as f64));
    assert!(e <= 1e-6, "{e}");
    // The zero null value differs from the mean one.
    let zero = KnockoutOptions { null: Null::Zero, ..opts(false) };
    let mut z = Knockout::new(&shipped(), kind, Device::Cpu, zero).unwrap();
    assert!(z.values().iter().all(|&v| v == 0.0));
    assert_ne!(z.run(x.view()).unwrap().delta, fast.delta);
    // A layer that is not a convolution is refused by name.
    let bad = KnockoutOptions { layer: Some("trunk.2".into()), ..opts(false) };
    let e = Knockout::new(&shipped(), kind, Device::Cpu, bad).err().unwrap().to_string();
    assert!(e.contains("\"trunk.2\" is not a top-level convolution"), "{e}");
}

#[test]
fn weight_pwms_equal_drg_kernel_to_ppm_after_column_normalisation() {
    let pkg = shipped();
    let w = pkg.weights.as_ref().unwrap().get("convolutions.conv1d.weight").unwrap();
    let got = s2f::jobs::kernels::pwm::weight_pwms(&w.data, None, 256, 15).unwrap();
    let want = load("ppm.npy");
    let mut worst = 0f64;
    for k in 0..256 {
        for t in 0..15 {
            let col: Array1<f64> = (0..4).map(|c| want[[k, c, t]] as f64).collect();
            let sum = col.sum();
            for c in 0..4 {
                // DRG rounds to 3 decimals before we normalise its columns.
                worst = worst.max((got[k][t][c] - col[c] / sum).abs());
            }
        }
    }
    assert!(worst <= 2e-3, "{worst}");
}

#[test]
fn cli_writes_tables_meme_and_per_sequence_differences() {
    let dir = tempfile::tempdir().unwrap();
    let x = drg_input().slice(s![..6, .., ..]).to_owned();
    let input = dir.path().join("x.npy");
    s2f::io::npy::write_npy(&input, &[6, 401, 4], x.as_slice().unwrap()).unwrap();
    // Targets: the model's own predictions with noise, as a DRG text matrix.
    let names: Vec<String> = (0..6).map(|i| format!("seq{i}")).collect();
    let mut y = String::from("# ");
    y.push_str(&(0..45).map(|t| format!("t{t}")).collect::<Vec<_>>().join(" "));
    y.push('\n');
    for (i, n) in names.iter().enumerate() {
        let vals: Vec<String> = (0..45).map(|t| format!("{}", ((i * 7 + t * 3) % 11) as f32 * 0.1)).collect();
        y.push_str(&format!("{n} {}\n", vals.join(" ")));
    }
    let targets = dir.path().join("y.txt");
    std::fs::write(&targets, y).unwrap();
    let model = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("models/calderon2019_shallow");
    let out = dir.path().join("k");
    common::ok(&[
        "kernels",
        common::p(&model),
        "--input",
        common::p(&input),
        "--targets",
        common::p(&targets),
        "--tracks",
        "0,7",
        "--per-sequence",
        "--format",
        "tsv,parquet",
        "--engine",
        "tract",
        "--out",
        common::p(&out),
    ]);
    let effect = std::fs::read_to_string(out.join("effect.tsv")).unwrap();
    let lines: Vec<&str> = effect.lines().collect();
    assert_eq!(lines.len(), 257);
    assert_eq!(lines[0].split('\t').count(), 3);
    assert!(lines[1].starts_with("filter0\t"));
    for f in ["impact.tsv", "delta_r.tsv", "delta_rmse.tsv", "kernels.json"] {
        assert!(out.join(f).exists(), "{f}");
    }
    assert!(std::fs::read_to_string(out.join("delta_r.tsv")).unwrap().starts_with("kernel|delta_pearson_r="));
    for f in ["effect.parquet", "impact.parquet", "delta_r.parquet", "delta_rmse.parquet"] {
        let bytes = std::fs::read(out.join(f)).unwrap();
        assert_eq!(&bytes[..4], b"PAR1", "{f}");
    }
    // The parquet table holds the TSV's values.
    {
        use parquet::file::reader::{FileReader, SerializedFileReader};
        let file = std::fs::File::open(out.join("effect.parquet")).unwrap();
        let reader = SerializedFileReader::new(file).unwrap();
        let first = reader.get_row_iter(None).unwrap().next().unwrap().unwrap();
        let cols: Vec<String> = first.get_column_iter().map(|(_, v)| v.to_string()).collect();
        assert_eq!(cols[0], "\"filter0\"");
        let tsv: f64 = lines[1].split('\t').nth(1).unwrap().parse().unwrap();
        let pq: f64 = cols[1].parse().unwrap();
        assert!((tsv - pq).abs() <= 1e-6 * tsv.abs().max(1e-9), "{tsv} vs {pq}");
    }
    let ko = s2f::io::npy::read_npz(out.join("knockout.npz")).unwrap();
    assert_eq!(ko.iter().find(|(n, _)| n == "delta").unwrap().1.shape, vec![256, 6, 2]);
    // The table is the library's effect on the same sequences.
    let mut k = Knockout::new(&shipped(), engines()[0], Device::Cpu, opts(false)).unwrap();
    let e = stats::effect(&k.run(x.view()).unwrap().delta);
    let row1: Vec<f64> = lines[1].split('\t').skip(1).map(|v| v.parse().unwrap()).collect();
    assert!((row1[0] - e[(0, 0)]).abs() <= 1e-6 * e[(0, 0)].abs().max(1e-3), "{} vs {}", row1[0], e[(0, 0)]);
    assert!((row1[1] - e[(0, 7)]).abs() <= 1e-6 * e[(0, 7)].abs().max(1e-3));
    // kernels.meme re-reads: 256 motifs of width 15, columns summing to 1.
    let motifs = s2f::motifs::meme::read_meme(&out.join("kernels.meme")).unwrap();
    assert_eq!(motifs.len(), 256);
    assert_eq!(motifs[0].id, "filter0");
    assert!(motifs.iter().all(|m| m.probs.len() == 15));
    let _ = Array2::<f32>::zeros((1, 1));
}

#[test]
fn activation_pwms_recover_a_planted_kernel_motif_on_both_strands() {
    // One kernel that scores +1 for each base of ACGGT and −1 otherwise, inside a strand max.
    let json = r#"{
      "format": "s2f-model", "version": 1, "name": "planted",
      "input": { "length": 60, "n_value": 0.25 },
      "trunk": [
        { "op": "strand_max", "layers": [
          { "op": "conv1d", "name": "k", "filters": 2, "kernel": 5, "bias": true, "padding": "valid" } ] },
        { "op": "activation", "fn": "relu" },
        { "op": "flatten" }
      ],
      "heads": [ { "name": "out", "layers": [ { "op": "linear", "name": "lin", "units": 1, "bias": true } ] } ]
    }"#;
    let spec = s2f::model::ModelSpec::from_json(json).unwrap();
    let analysis = spec.analyze().unwrap();
    let mut weights = s2f::model::Weights::random(&analysis.weights, 3);
    let motif = [0usize, 1, 2, 2, 3];
    let mut w = vec![-1f32; 2 * 4 * 5];
    for (t, &b) in motif.iter().enumerate() {
        w[b * 5 + t] = 1.0;
    }
    weights.insert("k.weight", s2f::model::weights::Tensor::new(vec![2, 4, 5], w).unwrap());
    weights.insert("k.bias", s2f::model::weights::Tensor::new(vec![2], vec![0.0, 0.0]).unwrap());
    let dir = tempfile::tempdir().unwrap();
    let pkg = dir.path().join("pkg");
    Package::write(&pkg, &spec, &weights, Default::default()).unwrap();
    // Random sequences; half carry ACGGT, half its reverse complement ACCGT.
    let mut state = 9u64;
    let mut x = Array3::<f32>::zeros((40, 60, 4));
    for i in 0..40 {
        for j in 0..60 {
            state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            x[(i, j, (state >> 62) as usize)] = 1.0;
        }
        let planted: Vec<usize> = if i % 2 == 0 { motif.to_vec() } else { vec![0, 1, 1, 2, 3] };
        for (t, &b) in planted.iter().enumerate() {
            x.slice_mut(s![i, 20 + t, ..]).fill(0.0);
            x[(i, 20 + t, b)] = 1.0;
        }
    }
    let input = dir.path().join("x.npy");
    s2f::io::npy::write_npy(&input, &[40, 60, 4], x.as_slice().unwrap()).unwrap();
    let out = dir.path().join("k");
    let db = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("motifs/JASPAR2026_CORE_vertebrates.meme");
    common::ok(&[
        "kernels",
        common::p(&pkg),
        "--input",
        common::p(&input),
        "--activation-fraction",
        "0.9",
        "--db",
        common::p(&db),
        "--plot",
        "--out",
        common::p(&out),
    ]);
    let motifs = s2f::motifs::meme::read_meme(&out.join("kernels.meme")).unwrap();
    assert_eq!(motifs[0].consensus(), "ACGGT");
    // The planted kernel is compared with the database; its three best matches are listed.
    let table = std::fs::read_to_string(out.join("kernel_matches.tsv")).unwrap();
    let rows: Vec<Vec<&str>> = table.lines().map(|l| l.split('\t').collect()).collect();
    assert_eq!(rows.len(), 3);
    assert_eq!(rows[0][..5], ["kernel", "weight_norm", "consensus", "information_bits", "compared_columns"]);
    assert_eq!((rows[1][0], rows[1][2], rows[1][4]), ("filter0", "ACGGT", "5"));
    assert!(rows[1][5].starts_with("MA"), "{:?}", rows[1]);
    // Plots: the effect heatmap and a logo per kernel (two kernels here).
    for png in ["effect.png", "logos/filter0.png", "logos/filter1.png"] {
        let bytes = std::fs::read(out.join(png)).unwrap();
        assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n", "{png}");
    }
    assert!(motifs[0].probs.iter().zip(motif).all(|(col, b)| col[b] > 0.9), "{:?}", motifs[0].probs);
    // --pwm weights gives the same consensus from the weights alone.
    let out = dir.path().join("w");
    common::ok(&[
        "kernels",
        common::p(&pkg),
        "--input",
        common::p(&input),
        "--pwm",
        "weights",
        "--out",
        common::p(&out),
    ]);
    let motifs = s2f::motifs::meme::read_meme(&out.join("kernels.meme")).unwrap();
    assert_eq!(motifs[0].consensus(), "ACGGT");
}
