//! Converters: every fixture checkpoint converts without Python and reproduces its framework's
//! outputs through `s2f run` under tract and ONNX Runtime; bad checkpoints get clear errors.

mod common;

use std::path::{Path, PathBuf};

use common::{fails, fixture, ok, p};
use s2f::io::npy::{read_npy, write_npy};

/// Runs `s2f run` with every engine and compares with `expected` (flattened), allowing
/// `atol + rtol·|expected|`.
fn check_run(pkg: &Path, input: &Path, head: Option<&str>, expected: &Path, atol: f32, rtol: f32) {
    let want = read_npy(expected).unwrap().to_f32().unwrap();
    let dir = tempfile::tempdir().unwrap();
    for kind in common::engines() {
        let engine = match kind {
            s2f::engine::EngineKind::Tract => "tract",
            s2f::engine::EngineKind::Ort => "ort",
        };
        let out = dir.path().join(format!("{engine}.npy"));
        let mut args = vec!["run", p(pkg), "--input", p(input), "--out", p(&out), "--engine", engine, "--batch", "4"];
        if let Some(h) = head {
            args.extend(["--head", h]);
        }
        ok(&args);
        let got = read_npy(&out).unwrap().to_f32().unwrap();
        assert_eq!(got.len(), want.len(), "{engine}: {} values, expected {}", got.len(), want.len());
        let worst = common::excess(&got, &want, atol, rtol);
        assert!(worst <= 0.0, "{engine} {}: exceeds tolerance by {worst}", expected.display());
    }
}

fn convert(args: &[&str], out: &Path) -> PathBuf {
    let mut a = vec!["convert"];
    a.extend_from_slice(args);
    a.extend(["--out", p(out)]);
    ok(&a);
    out.to_path_buf()
}

#[test]
fn keras_basenji2_small_matches_keras() {
    let dir = tempfile::tempdir().unwrap();
    let f = |r: &str| fixture(&format!("models/basenji2_keras_small/{r}"));
    let pkg =
        convert(&["--from", "keras-h5", p(&f("model.h5")), "--config", p(&f("params.json"))], &dir.path().join("k"));
    // The fixture README's suggested float32 check: |got − expected| ≤ 1e-4 + 1e-4·|expected|.
    check_run(&pkg, &f("inputs.npy"), None, &f("expected.npy"), 1e-4, 1e-4);
    let text = ok(&["inspect", p(&pkg)]);
    assert!(text.contains("source: keras-h5 model.h5"), "{text}");
    assert!(
        text.contains("sha256 0c1aca055943ada3a8a39ef60241140a58dd084d9d9e3ecd3ad7925ca1b48833  model.h5"),
        "{text}"
    );
}

#[test]
fn ft_s2a_both_variants_all_formats_both_heads() {
    let dir = tempfile::tempdir().unwrap();
    let f = |r: &str| fixture(&format!("models/ft_s2a_small/{r}"));
    for variant in ["buggy", "res"] {
        for file in ["state_dict.pt", "state_dict_legacy.pt", "state_dict_module_prefix.pt"] {
            let out = dir.path().join(format!("{variant}-{file}"));
            let pkg = convert(
                &[
                    "--from",
                    "torch",
                    p(&f(&format!("{variant}/{file}"))),
                    "--config",
                    p(&f(&format!("{variant}/config.json"))),
                ],
                &out,
            );
            if file == "state_dict.pt" {
                for head in ["human", "mouse"] {
                    check_run(
                        &pkg,
                        &f("inputs.npy"),
                        Some(head),
                        &f(&format!("{variant}/expected_{head}.npy")),
                        1e-4,
                        0.0,
                    );
                    check_run(
                        &pkg,
                        &f("inputs_with_n.npy"),
                        Some(head),
                        &f(&format!("{variant}/expected_with_n_{head}.npy")),
                        1e-4,
                        0.0,
                    );
                }
            } else {
                check_run(
                    &pkg,
                    &f("inputs.npy"),
                    Some("human"),
                    &f(&format!("{variant}/expected_human.npy")),
                    1e-4,
                    0.0,
                );
            }
        }
    }
}

#[test]
fn drg_calderon_matches_drg() {
    let dir = tempfile::tempdir().unwrap();
    let f = |r: &str| fixture(&format!("models/drg_calderon_shallow/{r}"));
    let pkg = convert(&["--from", "drg", p(&f("parameter.pth"))], &dir.path().join("drg"));
    // DRG's one-hot is stored (N, 4, L); s2f run reads (N, L, 4).
    let x = read_npy(f("onehot.npy")).unwrap();
    let (n, c, l) = (x.shape[0], x.shape[1], x.shape[2]);
    let v = x.to_f32().unwrap();
    let mut t = vec![0f32; v.len()];
    for i in 0..n {
        for ch in 0..c {
            for j in 0..l {
                t[(i * l + j) * c + ch] = v[(i * c + ch) * l + j];
            }
        }
    }
    let input = dir.path().join("x.npy");
    write_npy(&input, &[n, l, c], &t).unwrap();
    check_run(&pkg, &input, None, &f("expected.npy"), 1e-4, 0.0);
    let text = ok(&["inspect", p(&pkg)]);
    assert!(text.contains("source: drg parameter.pth, model_params.dat"), "{text}");
    assert!(text.contains("skipped: modelstart.Pooling.pool.weight"), "{text}");
}

#[test]
fn shipped_calderon_package_is_the_converted_checkpoint() {
    let shipped = Path::new(env!("CARGO_MANIFEST_DIR")).join("models/calderon2019_shallow");
    let dir = tempfile::tempdir().unwrap();
    let fresh =
        convert(&["--from", "drg", p(&fixture("models/drg_calderon_shallow/parameter.pth"))], &dir.path().join("drg"));
    for file in ["model.safetensors", "model.onnx"] {
        assert_eq!(std::fs::read(shipped.join(file)).unwrap(), std::fs::read(fresh.join(file)).unwrap(), "{file}");
    }
}

#[test]
fn bad_checkpoints_get_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("o");
    let km = |r: &str| fixture(&format!("models/basenji2_keras_small/{r}"));
    // Not HDF5, truncated HDF5.
    let junk = dir.path().join("junk.h5");
    std::fs::write(&junk, b"this is not hdf5 at all").unwrap();
    fails(
        &["convert", "--from", "keras-h5", p(&junk), "--config", p(&km("params.json")), "--out", p(&out)],
        &["not an HDF5 file"],
    );
    let trunc = dir.path().join("trunc.h5");
    std::fs::write(&trunc, &std::fs::read(km("model.h5")).unwrap()[..4000]).unwrap();
    fails(
        &["convert", "--from", "keras-h5", p(&trunc), "--config", p(&km("params.json")), "--out", p(&out)],
        &["trunc.h5"],
    );
    // A spec with other widths: the misshaped tensor is named with both shapes.
    let mut params: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(km("params.json")).unwrap()).unwrap();
    params["model"]["trunk"][0]["filters"] = serde_json::json!(30);
    let wrong = dir.path().join("wrong.json");
    std::fs::write(&wrong, params.to_string()).unwrap();
    fails(
        &["convert", "--from", "keras-h5", p(&km("model.h5")), "--config", p(&wrong), "--out", p(&out)],
        &["stem_conv.weight", "expected shape [30, 4, 15], found [32, 4, 15]"],
    );
    // Torch: a truncated zip, and a config that disagrees with the checkpoint.
    let ft = |r: &str| fixture(&format!("models/ft_s2a_small/{r}"));
    let tpt = dir.path().join("t.pt");
    std::fs::write(&tpt, &std::fs::read(ft("res/state_dict.pt")).unwrap()[..5000]).unwrap();
    fails(&["convert", "--from", "torch", p(&tpt), "--config", p(&ft("res/config.json")), "--out", p(&out)], &["t.pt"]);
    fails(
        &[
            "convert",
            "--from",
            "torch",
            p(&ft("buggy/state_dict.pt")),
            "--config",
            p(&ft("res/config.json")),
            "--out",
            p(&out),
        ],
        &["n_dilated_conv_layers", "config says 5, the checkpoint has 4"],
    );
    // DRG without its parameter file.
    let lone = dir.path().join("x_parameter.pth");
    std::fs::copy(fixture("models/drg_calderon_shallow/parameter.pth"), &lone).unwrap();
    fails(&["convert", "--from", "drg", p(&lone), "--out", p(&out)], &["x_model_params.dat"]);
    assert!(!out.exists(), "no package left behind");
}

#[test]
fn unsupported_keras_layer_names_itself_and_its_position() {
    use hdf5_pure::{AttrValue, FileBuilder};
    let dir = tempfile::tempdir().unwrap();
    let h5 = dir.path().join("lstm.h5");
    let mut fb = FileBuilder::new();
    let config = serde_json::json!({"class_name": "Functional", "config": {"layers": [
        {"class_name": "InputLayer", "config": {"name": "sequence"}},
        {"class_name": "LSTM", "config": {"name": "lstm"}}]}});
    fb.set_attr("model_config", AttrValue::String(config.to_string()));
    let mut mw = fb.create_group("model_weights");
    mw.set_attr("layer_names", AttrValue::StringArray(vec!["sequence".into(), "lstm".into()]));
    let mut seq = mw.create_group("sequence");
    seq.set_attr("weight_names", AttrValue::F64Array(vec![]));
    mw.add_group(seq.finish());
    let mut l = mw.create_group("lstm");
    l.set_attr("weight_names", AttrValue::StringArray(vec!["lstm/kernel:0".into()]));
    let mut inner = l.create_group("lstm");
    inner.create_dataset("kernel:0").with_f32_data(&[0.0; 8]).with_shape(&[4, 2]);
    l.add_group(inner.finish());
    mw.add_group(l.finish());
    fb.add_group(mw.finish());
    fb.write(&h5).unwrap();
    let km = fixture("models/basenji2_keras_small/params.json");
    fails(
        &["convert", "--from", "keras-h5", p(&h5), "--config", p(&km), "--out", p(&dir.path().join("o"))],
        &["\"lstm\"", "LSTM", "position 1"],
    );
}

#[test]
fn targets_table_becomes_the_track_table() {
    let dir = tempfile::tempdir().unwrap();
    let f = |r: &str| fixture(&format!("models/basenji2_keras_small/{r}"));
    let targets = dir.path().join("targets.txt");
    let mut text = String::from("\tidentifier\tfile\tclip\tscale\tsum_stat\tdescription\n");
    for i in 0..12 {
        text.push_str(&format!("{i}\tCNhs{:05}\t/data/t{i}.w5\t384\t1\tsum\tCAGE:tissue {i}\n", 11760 + i));
    }
    std::fs::write(&targets, &text).unwrap();
    let convert_with_targets = |out: &Path| -> Vec<String> {
        [
            "convert",
            "--from",
            "keras-h5",
            p(&f("model.h5")),
            "--config",
            p(&f("params.json")),
            "--targets",
            p(&targets),
            "--out",
            p(out),
        ]
        .map(String::from)
        .to_vec()
    };
    let pkg = dir.path().join("k");
    let args = convert_with_targets(&pkg);
    ok(&args.iter().map(String::as_str).collect::<Vec<_>>());
    let spec = s2f::model::ModelSpec::read(pkg.join("model.json")).unwrap();
    let tracks = &spec.heads[0].tracks;
    assert_eq!(tracks.len(), 12);
    assert_eq!(
        (tracks[3].index, tracks[3].identifier.as_str(), tracks[3].description.as_str()),
        (3, "CNhs11763", "CAGE:tissue 3")
    );
    assert_eq!((tracks[3].clip, tracks[3].scale, tracks[3].sum_stat.as_deref()), (Some(384.0), Some(1.0), Some("sum")));
    assert!(ok(&["inspect", p(&pkg)]).contains("12 named tracks"));
    // A table whose length matches no head is refused.
    std::fs::write(&targets, "\tidentifier\tdescription\n0\ta\tA\n").unwrap();
    let args = convert_with_targets(&dir.path().join("k2"));
    fails(&args.iter().map(String::as_str).collect::<Vec<_>>(), &["1 tracks", "human: 12"]);
}
