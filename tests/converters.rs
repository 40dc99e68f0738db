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
            s2f::engine::EngineKind::Auto | s2f::engine::EngineKind::Tract => "tract",
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
        let max_abs = got.iter().zip(&want).map(|(g, w)| (g - w).abs()).fold(0f32, f32::max);
        eprintln!("{engine} {}: max |got - expected| = {max_abs:e}", expected.display());
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

/// A file re-saved by Keras 2.15 / h5py 3 (vlen string attributes in dense storage, the empty
/// `top_level_model_weights` group; made by scripts/fixtures/basenji2_keras_h5py3.py) converts
/// to the same model as the h5py 2 layout.
#[test]
fn keras_h5py3_resave_matches_keras() {
    let dir = tempfile::tempdir().unwrap();
    let f = |r: &str| fixture(&format!("models/basenji2_keras_small/{r}"));
    let pkg = convert(
        &["--from", "keras-h5", p(&f("model_h5py3.h5")), "--config", p(&f("params.json"))],
        &dir.path().join("k"),
    );
    check_run(&pkg, &f("inputs.npy"), None, &f("expected.npy"), 1e-4, 1e-4);
    let old =
        convert(&["--from", "keras-h5", p(&f("model.h5")), "--config", p(&f("params.json"))], &dir.path().join("o"));
    let same =
        std::fs::read(pkg.join("model.safetensors")).unwrap() == std::fs::read(old.join("model.safetensors")).unwrap();
    assert!(same, "both layouts give the same weights");
}

/// With neither --spec nor --config, the architecture comes from the file's model_config (both
/// layouts), gives Keras's outputs, and is the spec params.json gives up to the head's name
/// (Keras knows the output layer as "dense", params.json as head_human) and the description.
#[test]
fn keras_model_config_alone_matches_keras_and_params_json() {
    let dir = tempfile::tempdir().unwrap();
    let f = |r: &str| fixture(&format!("models/basenji2_keras_small/{r}"));
    let params: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(f("params.json")).unwrap()).unwrap();
    let mut want = s2f::model::presets::basenji(&params, "model", &[]).unwrap();
    want.heads[0].name = "dense".into();
    match &mut want.heads[0].layers[0] {
        s2f::model::spec::Layer::Dense(d) => d.name = Some("head_dense".into()),
        other => panic!("params.json head starts with {other:?}"),
    }
    for file in ["model.h5", "model_h5py3.h5"] {
        let pkg = convert(&["--from", "keras-h5", p(&f(file))], &dir.path().join(file));
        check_run(&pkg, &f("inputs.npy"), None, &f("expected.npy"), 1e-4, 1e-4);
        let mut got = s2f::model::ModelSpec::read(pkg.join("model.json")).unwrap();
        assert!(got.description.contains("model_config"), "{}", got.description);
        got.source = None;
        got.description = want.description.clone();
        got.name = want.name.clone();
        assert_eq!(got, want, "{file}: model_config spec differs from params.json's");
    }
    // The weights are those of the params.json conversion (the head's renamed as above).
    let with_config = convert(
        &["--from", "keras-h5", p(&f("model.h5")), "--config", p(&f("params.json"))],
        &dir.path().join("with_config"),
    );
    let read = |pkg: &Path| s2f::model::Weights::read(pkg.join("model.safetensors")).unwrap().tensors;
    let mut from_params = read(&with_config);
    for param in ["weight", "bias"] {
        let t = from_params.remove(&format!("head_human.{param}")).unwrap();
        from_params.insert(format!("head_dense.{param}"), t);
    }
    assert!(from_params == read(&dir.path().join("model.h5")), "weights differ from the params.json conversion");
    // --config still wins: its head is called "human".
    let spec = s2f::model::ModelSpec::read(with_config.join("model.json")).unwrap();
    assert_eq!(spec.heads[0].name, "human");
}

/// A model_config layer the spec cannot express is refused by class and name, with no --config.
#[test]
fn keras_model_config_with_unknown_layer_is_refused() {
    use hdf5_pure::{AttrValue, FileBuilder};
    let dir = tempfile::tempdir().unwrap();
    let h5 = dir.path().join("lstm.h5");
    let mut fb = FileBuilder::new();
    let config = serde_json::json!({"class_name": "Functional", "config": {"name": "m",
        "input_layers": [["sequence", 0, 0]], "output_layers": [["lstm", 0, 0]], "layers": [
        {"class_name": "InputLayer", "name": "sequence",
         "config": {"name": "sequence", "batch_input_shape": [null, 64, 4]}, "inbound_nodes": []},
        {"class_name": "LSTM", "name": "lstm", "config": {"name": "lstm", "units": 2},
         "inbound_nodes": [[["sequence", 0, 0, {}]]]}]}});
    fb.set_attr("model_config", AttrValue::VarLenAsciiString(config.to_string()));
    let mut mw = fb.create_group("model_weights");
    mw.set_attr("layer_names", AttrValue::VarLenAsciiStringArray(vec!["sequence".into(), "lstm".into()]));
    let mut seq = mw.create_group("sequence");
    seq.set_attr("weight_names", AttrValue::F64Array(vec![]));
    mw.add_group(seq.finish());
    fb.add_group(mw.finish());
    fb.write(&h5).unwrap();
    fails(
        &["convert", "--from", "keras-h5", p(&h5), "--out", p(&dir.path().join("o"))],
        &["\"lstm\"", "LSTM", "position 1"],
    );
    // A weights-only file (no model_config) asks for the architecture.
    let bare = dir.path().join("bare.h5");
    let mut fb = FileBuilder::new();
    let mw = fb.create_group("model_weights");
    fb.add_group(mw.finish());
    fb.write(&bare).unwrap();
    fails(
        &["convert", "--from", "keras-h5", p(&bare), "--out", p(&dir.path().join("o"))],
        &["no model_config", "--spec"],
    );
}

mod model_config {
    //! `keras_config::spec_from_model_config` on JSON strings.
    use std::path::Path;

    use s2f::converters::keras_config::spec_from_model_config;
    use s2f::model::spec::{Activation, Layer};
    use serde_json::{json, Value};

    fn layer(class: &str, name: &str, config: Value, from: &[(&str, u64)]) -> Value {
        let inbound: Vec<Value> = from.iter().map(|(n, t)| json!([n, 0, t, {}])).collect();
        let mut config = config;
        config["name"] = json!(name);
        json!({"class_name": class, "name": name, "config": config,
               "inbound_nodes": if from.is_empty() { json!([]) } else { json!([inbound]) }})
    }

    fn functional(layers: Vec<Value>, out: &str) -> String {
        json!({"class_name": "Functional", "config": {"name": "m", "layers": layers,
               "input_layers": [["x", 0, 0]], "output_layers": [[out, 0, 0]]}})
        .to_string()
    }

    fn input(len: u64) -> Value {
        layer("InputLayer", "x", json!({"batch_input_shape": [null, len, 4]}), &[])
    }

    fn conv(name: &str, filters: u64, k: u64, from: &str) -> Value {
        layer(
            "Conv1D",
            name,
            json!({"filters": filters, "kernel_size": [k], "strides": [1], "padding": "same",
                   "dilation_rate": [1], "use_bias": true, "activation": "relu"}),
            &[(from, 0)],
        )
    }

    #[test]
    fn unknown_class_names_class_and_layer() {
        let cfg = functional(vec![input(32), layer("Bidirectional", "bi", json!({}), &[("x", 0)])], "bi");
        let e = spec_from_model_config(&cfg, "m", Path::new("m.h5")).unwrap_err().to_string();
        assert!(
            e.contains("\"bi\"") && e.contains("Bidirectional") && e.contains("position 1") && e.contains("m.h5"),
            "{e}"
        );
        // Not JSON, not a model.
        assert!(spec_from_model_config("{", "m", Path::new("m.h5")).unwrap_err().to_string().contains("not JSON"));
        let e = spec_from_model_config(r#"{"class_name": "Adam", "config": {"layers": []}}"#, "m", Path::new("m.h5"));
        assert!(e.unwrap_err().to_string().contains("Adam"));
    }

    #[test]
    fn reverse_complement_ensemble_layers_are_identities() {
        // basenji: seq, flag = StochasticReverseComplement()(x); ...; SwitchReverse([y, flag]).
        let cfg = functional(
            vec![
                input(32),
                layer("StochasticReverseComplement", "rc", json!({}), &[("x", 0)]),
                layer("StochasticShift", "shift", json!({"shift_max": 3}), &[("rc", 0)]),
                conv("c", 8, 3, "shift"),
                layer("Dense", "d", json!({"units": 2, "activation": "softplus", "use_bias": true}), &[("c", 0)]),
                layer("SwitchReverse", "sw", json!({}), &[("d", 0), ("rc", 1)]),
            ],
            "sw",
        );
        let spec = spec_from_model_config(&cfg, "m", Path::new("m.h5")).unwrap();
        assert_eq!(spec.trunk.len(), 2, "{:?}", spec.trunk); // conv + its relu
        assert!(matches!(&spec.trunk[0], Layer::Conv1d(c) if c.name.as_deref() == Some("stem_conv") && c.bias));
        assert!(matches!(&spec.trunk[1], Layer::Activation(a) if a.function == Activation::Relu));
        assert_eq!((spec.heads.len(), spec.heads[0].name.as_str(), spec.heads[0].layers.len()), (1, "d", 2));
        // A SwitchReverse whose flag is not the rc layer's is not an identity.
        let cfg = cfg.replace(r#"["rc",0,1,{}]"#, r#"["c",0,0,{}]"#);
        let e = spec_from_model_config(&cfg, "m", Path::new("m.h5")).unwrap_err().to_string();
        assert!(e.contains("SwitchReverse") && e.contains("sw"), "{e}");
    }

    #[test]
    fn sequential_and_keras3_functional() {
        let seq = json!({"class_name": "Sequential", "config": {"name": "s", "layers": [
            {"class_name": "InputLayer", "config": {"name": "in", "batch_shape": [null, 40, 4]}},
            {"class_name": "Conv1D", "config": {"name": "c", "filters": 6, "kernel_size": 5, "padding": "valid",
                                                "use_bias": false, "activation": "linear"}},
            {"class_name": "MaxPooling1D", "config": {"name": "p", "pool_size": 2, "strides": 2, "padding": "valid"}},
            {"class_name": "Dense", "config": {"name": "d", "units": 3}}]}});
        let spec = spec_from_model_config(&seq.to_string(), "s", Path::new("s.h5")).unwrap();
        let a = spec.analyze().unwrap();
        assert_eq!((a.heads[0].1.bins, a.heads[0].1.tracks), (18, 3));
        // Keras 3: inbound nodes as args with keras_history; a residual block x + f(x).
        let t = |n: &str| json!({"class_name": "__keras_tensor__", "config": {"keras_history": [n, 0, 0]}});
        let l3 = |class: &str, name: &str, config: Value, args: Value| {
            json!({"class_name": class, "name": name, "config": config,
                   "inbound_nodes": [{"args": args, "kwargs": {}}]})
        };
        let cfg = json!({"class_name": "Functional", "config": {"name": "k3",
            "input_layers": ["x", 0, 0], "output_layers": ["d", 0, 0], "layers": [
            {"class_name": "InputLayer", "name": "x", "config": {"name": "x", "batch_shape": [null, 16, 4]}, "inbound_nodes": []},
            l3("Conv1D", "c0", json!({"filters": 4, "kernel_size": [3], "padding": "same", "use_bias": false}), json!([t("x")])),
            l3("GELU", "g", json!({}), json!([t("c0")])),
            l3("Conv1D", "c1", json!({"filters": 4, "kernel_size": [3], "padding": "same", "use_bias": false}), json!([t("g")])),
            l3("BatchNormalization", "bn", json!({"axis": -1, "epsilon": 1e-5}), json!([t("c1")])),
            l3("Add", "add", json!({}), json!([[t("c0"), t("bn")]])),
            l3("Dense", "d", json!({"units": 2}), json!([t("add")]))]}});
        let spec = spec_from_model_config(&cfg.to_string(), "k3", Path::new("k3.h5")).unwrap();
        let Layer::Residual(r) = &spec.trunk[1] else { panic!("{:?}", spec.trunk) };
        assert_eq!(r.layers.len(), 3);
        assert!(matches!(&r.layers[2], Layer::BatchNorm(b) if b.name.as_deref() == Some("dil0a_bn") && b.eps == 1e-5));
    }
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
    let file = "model.safetensors";
    assert_eq!(std::fs::read(shipped.join(file)).unwrap(), std::fs::read(fresh.join(file)).unwrap(), "{file}");
    // The shipped spec has a hand-written name and description, which the graph embeds: its
    // graph is the one emitted from that spec and the freshly converted weights.
    let spec = s2f::model::ModelSpec::read(shipped.join("model.json")).unwrap();
    let weights = s2f::model::Weights::read(fresh.join(file)).unwrap();
    let emitted = s2f::model::onnx::emit(&spec, &weights, Default::default()).unwrap();
    assert_eq!(std::fs::read(shipped.join("model.onnx")).unwrap(), emitted, "model.onnx");
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
