//! Model files: `model.json`, Keras `.h5`, PyTorch zip/pickle, DRG `.dat`, and a package's
//! `model.onnx` through the engine.

use std::io::{Read, Write};
use std::ops::Range;
use std::path::{Path, PathBuf};

use prost::Message;
use rand::Rng;
use s2f::converters::{drg, keras, torch};
use s2f::model::{ModelSpec, Package};
use serde_json::Value;

use crate::{cases, fixture, fixture_bytes, mutate, number_text, put, run, Rand, INTERESTING};

// ---------------------------------------------------------------- model.json

/// Mutates one random node of a JSON document: a number becomes an interesting one, a value
/// changes type, an object loses a key, an array loses or repeats an element, or a string
/// becomes another string seen in the document (e.g. another layer type).
pub fn mutate_json(rng: &mut Rand, v: &mut Value) {
    let mut pointers = Vec::new();
    let mut strings = Vec::new();
    collect(v, String::new(), &mut pointers, &mut strings);
    let numbers: Vec<String> =
        pointers.iter().filter(|p| v.pointer(p).is_some_and(Value::is_number)).cloned().collect();
    for _ in 0..rng.random_range(1..=3) {
        // Half the time a number (sizes, lengths, counts: what analysis computes with).
        let p = if !numbers.is_empty() && rng.random_bool(0.5) {
            &numbers[rng.random_range(0..numbers.len())]
        } else {
            &pointers[rng.random_range(0..pointers.len())]
        };
        let Some(node) = v.pointer_mut(p) else { continue };
        *node = match (rng.random_range(0..8), &*node) {
            (0..=3, Value::Number(_)) | (0, _) => {
                let i = INTERESTING[rng.random_range(0..INTERESTING.len())];
                match rng.random_range(0..4) {
                    0 => serde_json::json!(-1.5e300),
                    1 => serde_json::json!(0.5),
                    _ => serde_json::from_str(&i.to_string()).unwrap_or(Value::Null),
                }
            }
            (1 | 2, Value::Object(m)) if !m.is_empty() => {
                let mut m = m.clone();
                let k = m.keys().nth(rng.random_range(0..m.len())).unwrap().clone();
                m.remove(&k);
                Value::Object(m)
            }
            (1 | 2, Value::Array(a)) if !a.is_empty() => {
                let mut a = a.clone();
                let i = rng.random_range(0..a.len());
                if rng.random_bool(0.5) {
                    a.remove(i);
                } else {
                    let x = a[i].clone();
                    a.insert(i, x);
                }
                Value::Array(a)
            }
            (3, _) if !strings.is_empty() => Value::String(strings[rng.random_range(0..strings.len())].clone()),
            (4, _) => Value::Null,
            (5, _) => Value::Bool(true),
            (6, _) => serde_json::json!([]),
            _ => serde_json::json!({}),
        };
    }
}

fn collect(v: &Value, at: String, pointers: &mut Vec<String>, strings: &mut Vec<String>) {
    match v {
        Value::Object(m) => {
            for (k, x) in m {
                collect(x, format!("{at}/{}", k.replace('~', "~0").replace('/', "~1")), pointers, strings);
            }
        }
        Value::Array(a) => {
            for (i, x) in a.iter().enumerate() {
                collect(x, format!("{at}/{i}"), pointers, strings);
            }
        }
        Value::String(s) => strings.push(s.clone()),
        _ => {}
    }
    pointers.push(at);
}

fn spec_seeds() -> Vec<Vec<u8>> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    [
        root.join("models/basenji2_human.json"),
        root.join("models/calderon2019_shallow/model.json"),
        fixture("models/drg_calderon_shallow/model.json"),
        fixture("models/ft_s2a_small/buggy/model_human.json"),
    ]
    .iter()
    .map(|p| std::fs::read(p).unwrap_or_else(|e| panic!("{}: {e}", p.display())))
    .collect()
}

#[test]
fn fuzz_model_json() {
    let seeds = spec_seeds();
    let t = run("model_json", cases(1000), |rng, dir| {
        let seed = &seeds[rng.random_range(0..seeds.len())];
        let bytes = if rng.random_bool(0.7) {
            let mut v: Value = serde_json::from_slice(seed).unwrap();
            mutate_json(rng, &mut v);
            serde_json::to_vec(&v).unwrap()
        } else {
            mutate(rng, seed, &[], &[])
        };
        let path = put(dir, "model.json", &bytes);
        let spec = ModelSpec::read(&path)?;
        // An accepted spec round-trips through its own JSON.
        let again = ModelSpec::from_json(&spec.to_json())?;
        assert_eq!(again.to_json(), spec.to_json());
        Ok(())
    });
    assert!(t.ok > 0 && t.err > 0, "{t:?}");
}

// ---------------------------------------------------------------- package + ONNX engine

fn calderon() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("models/calderon2019_shallow")
}

/// Mutates a decoded ONNX model: a node's op type, inputs, outputs or attribute values, an
/// initializer's dims or bytes, or a graph input/output shape.
fn mutate_onnx(rng: &mut Rand, bytes: &[u8]) -> Vec<u8> {
    let mut m = tract_onnx::pb::ModelProto::decode(bytes).expect("fixture ONNX decodes");
    let g = m.graph.as_mut().expect("graph");
    let ops: Vec<String> = g.node.iter().map(|n| n.op_type.clone()).collect();
    let names: Vec<String> = g.node.iter().flat_map(|n| n.output.clone()).collect();
    for _ in 0..rng.random_range(1..=3) {
        let big = |rng: &mut Rand| INTERESTING[rng.random_range(0..INTERESTING.len())] as i64;
        match rng.random_range(0..6) {
            0 if !g.node.is_empty() => {
                let i = rng.random_range(0..g.node.len());
                g.node[i].op_type = ops[rng.random_range(0..ops.len())].clone();
            }
            1 if !g.node.is_empty() => {
                let i = rng.random_range(0..g.node.len());
                let n = &mut g.node[i];
                match rng.random_range(0..3) {
                    0 if !n.input.is_empty() => {
                        let k = rng.random_range(0..n.input.len());
                        n.input[k] = names[rng.random_range(0..names.len())].clone();
                    }
                    1 if !n.input.is_empty() => {
                        n.input.pop();
                    }
                    _ => n.output.push("dangling".into()),
                }
            }
            2 if !g.node.is_empty() => {
                let i = rng.random_range(0..g.node.len());
                if let Some(a) = g.node[i].attribute.iter_mut().next() {
                    // Any value, Transpose `perm` included: the engine refuses a perm that is
                    // not a permutation before tract sees it.
                    if a.ints.is_empty() || rng.random_bool(0.3) {
                        a.i = big(rng);
                    } else {
                        let k = rng.random_range(0..a.ints.len());
                        a.ints[k] = if rng.random_bool(0.5) { rng.random_range(-4..8) } else { big(rng) };
                    }
                }
            }
            3 if !g.initializer.is_empty() => {
                let i = rng.random_range(0..g.initializer.len());
                let t = &mut g.initializer[i];
                if !t.dims.is_empty() && rng.random_bool(0.5) {
                    let k = rng.random_range(0..t.dims.len());
                    t.dims[k] = big(rng);
                } else {
                    let n = rng.random_range(0..=t.raw_data.len());
                    t.raw_data.truncate(n);
                }
            }
            4 => {
                use tract_onnx::pb::tensor_shape_proto::dimension::Value as D;
                for v in g.input.iter_mut().chain(g.output.iter_mut()) {
                    if let Some(tract_onnx::pb::type_proto::Value::TensorType(t)) =
                        v.r#type.as_mut().and_then(|t| t.value.as_mut())
                    {
                        if let Some(d) = t.shape.as_mut().and_then(|s| s.dim.first_mut()) {
                            d.value = Some(D::DimValue(big(rng)));
                        }
                    }
                }
            }
            _ if !g.node.is_empty() => {
                let i = rng.random_range(0..g.node.len());
                g.node.remove(i);
            }
            _ => {}
        }
    }
    m.encode_to_vec()
}

#[test]
fn fuzz_package_and_onnx() {
    // A package (spec + weights + emitted ONNX) for the spec and weights files, and the
    // torch-exported DRG ONNX with its geometry sidecar for the ONNX engine.
    let src = calderon();
    let spec = std::fs::read(src.join("model.json")).unwrap();
    let st = std::fs::read(src.join("model.safetensors")).unwrap();
    let pkg_onnx = std::fs::read(src.join("model.onnx")).unwrap();
    let st_header = u64::from_le_bytes(st[..8].try_into().unwrap()) as usize + 8;
    let sidecar = fixture_bytes("models/drg_calderon_shallow/model.json");
    let onnx = fixture_bytes("models/drg_calderon_shallow/model.onnx");
    let n = onnx.len();
    let t = run("package_onnx", cases(150), |rng, dir| {
        let pkg = match rng.random_range(0..5) {
            0 => {
                let mut v: Value = serde_json::from_slice(&spec).unwrap();
                mutate_json(rng, &mut v);
                put(dir, "model.json", &serde_json::to_vec(&v).unwrap());
                put(dir, "model.safetensors", &st);
                put(dir, "model.onnx", &pkg_onnx);
                Package::open(dir)?
            }
            1 => {
                put(dir, "model.json", &spec);
                put(dir, "model.safetensors", &mutate(rng, &st, &[0..st_header], &[]));
                put(dir, "model.onnx", &pkg_onnx);
                Package::open(dir)?
            }
            k => {
                let o = if k == 2 {
                    mutate(rng, &onnx, &[0..4096, n.saturating_sub(4096)..n], &[])
                } else {
                    mutate_onnx(rng, &onnx)
                };
                put(dir, "model.json", &sidecar);
                Package::open(put(dir, "model.onnx", &o))?
            }
        };
        let engine = s2f::engine::create(s2f::engine::EngineKind::Tract, s2f::engine::Device::Cpu, &pkg.onnx)?;
        let spec = pkg.spec.as_ref().expect("a sidecar or package spec");
        let head = spec.head_index(None)?;
        let mut p = s2f::engine::Predictor::new(&pkg, engine, head, 2)?;
        let x = ndarray::Array3::<f32>::from_elem((1, spec.input.length as usize, 4), 0.25);
        let y = p.predict(x.view())?;
        assert_eq!(y.shape()[0], 1);
        Ok(())
    });
    assert!(t.ok > 0 && t.err > 0, "{t:?}");
}

// ---------------------------------------------------------------- Keras h5

/// Byte ranges of the fixture's float datasets (the rest is HDF5 metadata, which mutations
/// favour), from its layout listing and the file's own layout messages.
fn h5_data_ranges(h5: &Path) -> Vec<Range<usize>> {
    let layout = std::fs::read_to_string(h5.with_file_name("layout.txt")).unwrap();
    let file = hdf5_pure::File::open(h5).unwrap();
    let mut stack: Vec<String> = Vec::new();
    let mut out = Vec::new();
    for line in layout.lines().skip(1) {
        let depth = (line.len() - line.trim_start().len()) / 2;
        let t = line.trim();
        if t.starts_with('@') {
            continue;
        }
        stack.truncate(depth);
        let name = t.split_whitespace().next().unwrap_or("");
        if t.ends_with("group") {
            stack.push(name.trim_end_matches('/').to_string());
        } else if t.contains(" dataset ") {
            let full = format!("{}/{name}", stack.join("/"));
            if let Ok(hdf5_pure::Layout::Contiguous { address: Some(a), size }) =
                file.dataset(&full).and_then(|d| d.layout())
            {
                out.push(a as usize..(a + size) as usize);
            }
        }
    }
    out.sort_by_key(|r| r.start);
    out
}

fn complement(ranges: &[Range<usize>], len: usize) -> Vec<Range<usize>> {
    let mut out = Vec::new();
    let mut at = 0;
    for r in ranges {
        if r.start > at {
            out.push(at..r.start);
        }
        at = at.max(r.end);
    }
    if at < len {
        out.push(at..len);
    }
    out
}

#[test]
fn fuzz_keras_h5() {
    let h5 = fixture("models/basenji2_keras_small/model.h5");
    let bytes = std::fs::read(&h5).unwrap();
    let data = h5_data_ranges(&h5);
    assert!(data.len() > 50, "only {} datasets located", data.len());
    let hot = complement(&data, bytes.len());
    let params: Value = serde_json::from_slice(&fixture_bytes("models/basenji2_keras_small/params.json")).unwrap();
    let spec = s2f::model::presets::basenji(&params, "model", &[]).unwrap();
    run("keras_h5", cases(200), |rng, dir| {
        let path = put(dir, "model.h5", &mutate(rng, &bytes, &hot, &[]));
        let c = keras::convert(&path, spec.clone())?;
        c.weights.check(&c.spec.analyze()?.weights, &path)
    });
}

// ---------------------------------------------------------------- PyTorch

/// Rewrites a zip checkpoint with one member changed: the pickle mutated, or a storage
/// truncated, extended or dropped.
fn mutate_zip_member(rng: &mut Rand, bytes: &[u8]) -> Vec<u8> {
    let mut z = zip::ZipArchive::new(std::io::Cursor::new(bytes)).expect("fixture zip");
    let mut out = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let opts = zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
    let victim = rng.random_range(0..z.len());
    let pickle = rng.random_bool(0.6);
    for i in 0..z.len() {
        let mut f = z.by_index(i).unwrap();
        let name = f.name().to_string();
        let mut body = Vec::new();
        f.read_to_end(&mut body).unwrap();
        if pickle && name.ends_with("data.pkl") {
            body = mutate(rng, &body, &[], &[]);
        } else if !pickle && i == victim {
            match rng.random_range(0..3) {
                0 => body.truncate(rng.random_range(0..=body.len())),
                1 => body.extend(std::iter::repeat_n(0u8, rng.random_range(1..64))),
                _ => continue,
            }
        }
        out.start_file(name, opts).unwrap();
        out.write_all(&body).unwrap();
    }
    out.finish().unwrap().into_inner()
}

#[test]
fn fuzz_torch() {
    let seeds: Vec<(Vec<u8>, bool, usize)> = [
        ("models/drg_calderon_shallow/parameter.pth", true, 1024),
        ("models/ft_s2a_small/buggy/state_dict.pt", true, 13600),
        ("models/ft_s2a_small/res/state_dict_legacy.pt", false, 16384),
    ]
    .iter()
    .map(|(p, zip, pickle_end)| (fixture_bytes(p), *zip, *pickle_end))
    .collect();
    let config = fixture_bytes("models/ft_s2a_small/buggy/config.json");
    run("torch", cases(400), |rng, dir| {
        let (seed, is_zip, pickle_end) = &seeds[rng.random_range(0..seeds.len())];
        let n = seed.len();
        let bytes = if *is_zip && rng.random_bool(0.5) {
            mutate_zip_member(rng, seed)
        } else {
            mutate(rng, seed, &[0..*pickle_end, n.saturating_sub(8192)..n], &[])
        };
        let pt = put(dir, "state_dict.pt", &bytes);
        let sd = torch::read_state_dict(&pt)?;
        for (k, t) in &sd.floats {
            assert_eq!(t.data.len(), t.shape.iter().product::<usize>(), "{k}");
        }
        if rng.random_bool(0.3) {
            // The FT_S2A importer on the mutated checkpoint, with a (sometimes mutated) config.
            let mut cfg: Value = serde_json::from_slice(&config).unwrap();
            if rng.random_bool(0.5) {
                mutate_json(rng, &mut cfg);
            }
            let cfg_path = put(dir, "config.json", &serde_json::to_vec(&cfg).unwrap());
            torch::ft_s2a(&pt, &cfg_path)?;
        }
        Ok(())
    });
}

#[test]
fn fuzz_ft_s2a_config() {
    let pt = fixture("models/ft_s2a_small/buggy/state_dict.pt");
    let config = fixture_bytes("models/ft_s2a_small/buggy/config.json");
    let t = run("ft_s2a_config", cases(200), |rng, dir| {
        let mut cfg: Value = serde_json::from_slice(&config).unwrap();
        mutate_json(rng, &mut cfg);
        let cfg_path = put(dir, "config.json", &serde_json::to_vec(&cfg).unwrap());
        torch::ft_s2a(&pt, &cfg_path).map(|_| ())
    });
    assert!(t.ok > 0 && t.err > 0, "{t:?}");
}

// ---------------------------------------------------------------- DRG

#[test]
fn fuzz_drg() {
    let pth_bytes = fixture_bytes("models/drg_calderon_shallow/parameter.pth");
    let dat = std::fs::read_to_string(fixture("models/drg_calderon_shallow/model_params.dat")).unwrap();
    let numeric = [
        "l_seqs",
        "n_features",
        "n_classes",
        "num_kernels",
        "l_kernels",
        "shift_sequence",
        "pooling_size",
        "pooling_steps",
    ];
    let t = run("drg", cases(600), |rng, dir| {
        let text = match rng.random_range(0..3) {
            0 => String::from_utf8_lossy(&mutate(rng, dat.as_bytes(), &[], &[])).into_owned(),
            _ => {
                // Structured: the real file with a few values replaced by random numbers, flags or
                // names, or a line dropped.
                let mut lines: Vec<String> = dat.lines().map(String::from).collect();
                for _ in 0..rng.random_range(1..=3) {
                    let i = rng.random_range(0..lines.len());
                    let Some((k, _)) = lines[i].split_once(" : ") else { continue };
                    let k = if rng.random_bool(0.6) { numeric[rng.random_range(0..numeric.len())] } else { k };
                    let v = match rng.random_range(0..4) {
                        0 | 1 => number_text(rng, 64),
                        2 => ["True", "False", "None", "max", "GELU", "Linear", ""][rng.random_range(0..7)].to_string(),
                        _ => {
                            lines.remove(i);
                            continue;
                        }
                    };
                    let line = format!("{k} : {v}");
                    match lines.iter().position(|l| l.starts_with(&format!("{k} : "))) {
                        Some(j) => lines[j] = line,
                        None => lines.push(line),
                    }
                }
                lines.join("\n")
            }
        };
        let dat_path = put(dir, "model_params.dat", text.as_bytes());
        let pth = if rng.random_bool(0.15) {
            put(dir, "parameter.pth", &mutate(rng, &pth_bytes, &[0..1024], &[]))
        } else {
            put(dir, "parameter.pth", &pth_bytes)
        };
        assert_eq!(drg::params_path_for(&pth), dat_path);
        let c = drg::convert(&pth, &dat_path)?;
        c.weights.check(&c.spec.analyze()?.weights, &pth)
    });
    assert!(t.ok > 0 && t.err > 0, "{t:?}");
}

// ---------------------------------------------------------------- regressions

/// Guards the layer-field cap in the spec analysis (`src/model/analysis.rs`; found by
/// `fuzz_model_json`, `fuzz_drg` and `fuzz_ft_s2a_config`): layer sizes near `usize::MAX` in a
/// `model.json` once made shape inference panic with "attempt to add/multiply with overflow" —
/// crop `left + right`, weighted pooling `l + pad_left + pad_right`, a convolution's
/// receptive-field step after pooling, and the weight count summed over layers with `filters`
/// near 2^62. Each must be a spec error naming the field that exceeds the cap.
#[test]
fn spec_huge_layer_fields_are_rejected() {
    let head = r#"[{"name":"h","layers":[{"op":"flatten"},{"op":"linear","units":1}]}]"#;
    let cases = [
        (r#"[{"op":"crop","left":18446744073709551615,"right":1}]"#, "left"),
        (r#"[{"op":"weighted_pool","size":2,"pad_left":18446744073709551615,"pad_right":1}]"#, "pad_left"),
        (
            r#"[{"op":"max_pool","size":2},{"op":"conv1d","filters":2,"kernel":3,"dilation":4611686018427387904}]"#,
            "dilation",
        ),
        (
            r#"[{"op":"conv1d","filters":4611686018427387904,"kernel":3},{"op":"conv1d","filters":4611686018427387904,"kernel":3}]"#,
            "filters",
        ),
    ];
    for (trunk, field) in cases {
        let json = format!(
            r#"{{"format":"s2f-model","version":1,"name":"z","input":{{"length":20}},"trunk":{trunk},"heads":{head}}}"#
        );
        let e = ModelSpec::from_json(&json).map(|_| ()).expect_err(trunk);
        assert!(matches!(e, s2f::Error::Spec(_)), "{trunk}: {e:?}");
        let msg = e.to_string();
        assert!(msg.contains(field) && msg.contains("larger than"), "{trunk}: {msg}");
    }
}

/// Writes the DRG ONNX fixture, decoded and changed by `edit`, with its geometry sidecar, and
/// runs it through the tract engine: open, create, plan and predict one sequence.
fn run_edited_drg_onnx(edit: impl FnOnce(&mut tract_onnx::pb::ModelProto)) -> s2f::Result<()> {
    let bytes = fixture_bytes("models/drg_calderon_shallow/model.onnx");
    let mut m = tract_onnx::pb::ModelProto::decode(&bytes[..]).unwrap();
    edit(&mut m);
    let dir = tempfile::tempdir().unwrap();
    put(dir.path(), "model.json", &fixture_bytes("models/drg_calderon_shallow/model.json"));
    let onnx = put(dir.path(), "model.onnx", &m.encode_to_vec());
    let pkg = Package::open(&onnx)?;
    let engine = s2f::engine::create(s2f::engine::EngineKind::Tract, s2f::engine::Device::Cpu, &pkg.onnx)?;
    let mut p = s2f::engine::Predictor::new(&pkg, engine, 0, 1)?;
    p.predict(ndarray::Array3::<f32>::zeros((1, 401, 4)).view()).map(|_| ())
}

/// Guards the panic guard in `src/engine/tract.rs` (found by `fuzz_package_and_onnx`): an ONNX
/// node with fewer inputs than its operator needs makes tract's shape inference index an empty
/// slice and panic ("index out of bounds: the len is 0 but the index is 0", tract-hir
/// ops/array/permute_axes.rs). The engine must turn that into an engine error.
#[test]
fn tract_malformed_graph_is_an_engine_error() {
    let e = run_edited_drg_onnx(|m| {
        let g = m.graph.as_mut().unwrap();
        let t = g.node.iter_mut().find(|n| n.op_type == "Transpose").expect("a Transpose node");
        t.input.clear();
    })
    .expect_err("an ONNX Transpose without inputs must be rejected");
    assert!(matches!(e, s2f::Error::Engine { .. }), "{e:?}");
    let msg = e.to_string();
    assert!(msg.contains("tract") && msg.contains("cannot be run"), "{msg}");
}

/// Guards the Transpose check in `src/engine/tract.rs` (found by `fuzz_package_and_onnx`, seed
/// 777 case 11047): a `perm` entry near 2^31 made tract allocate ~2 GiB in
/// `tract_core::ops::change_axes::perm_to_ops` and abort. The engine must refuse a perm that is
/// not a permutation before tract sees it (a regression aborts this test via the fuzz
/// allocator's cap instead of failing it).
#[test]
fn tract_transpose_perm_must_be_a_permutation() {
    for bad in [vec![0, 2, i32::MAX as i64], vec![0, 1, 3], vec![0, 0, 1], vec![-1, 0, 1], vec![i64::MIN, 0, 1]] {
        let e = run_edited_drg_onnx(|m| {
            let g = m.graph.as_mut().unwrap();
            let t = g.node.iter_mut().find(|n| n.op_type == "Transpose").expect("a Transpose node");
            let perm = t.attribute.iter_mut().find(|a| a.name == "perm").expect("a perm attribute");
            perm.ints = bad.clone();
        })
        .expect_err("a Transpose perm that is not a permutation must be rejected");
        assert!(matches!(e, s2f::Error::Engine { .. }), "{bad:?}: {e:?}");
        let msg = e.to_string();
        assert!(msg.contains("Transpose") && msg.contains("not a permutation"), "{bad:?}: {msg}");
    }
}

/// Guards the parameter count in `src/model/onnx/signature.rs` (found by
/// `fuzz_package_and_onnx`): multiplying an initializer's dims with `product::<i64>()` once
/// panicked ("attempt to multiply with overflow") on dims such as `[2^62, 4]` in a corrupt or
/// hostile `model.onnx`. Reading the signature now saturates the count, and running the file
/// must be an engine error naming tract, not a crash.
#[test]
fn onnx_huge_initializer_dims_are_rejected() {
    let huge = |m: &mut tract_onnx::pb::ModelProto| {
        let g = m.graph.as_mut().unwrap();
        let init = g.initializer.iter_mut().find(|t| t.dims.len() >= 2).expect("a 2-D initializer");
        init.dims[0] = 1 << 62;
        init.dims[1] = 4;
    };
    let mut m =
        tract_onnx::pb::ModelProto::decode(&fixture_bytes("models/drg_calderon_shallow/model.onnx")[..]).unwrap();
    huge(&mut m);
    let sig = s2f::model::onnx::signature(&m.encode_to_vec(), Path::new("bare.onnx")).expect("the signature reads");
    assert_eq!(sig.params, u64::MAX, "the parameter count saturates");

    let e = run_edited_drg_onnx(huge).expect_err("an ONNX initializer with dims [2^62, 4] must be rejected");
    assert!(matches!(e, s2f::Error::Engine { .. }), "{e:?}");
    let msg = e.to_string();
    assert!(msg.contains("tract") && msg.contains("4611686018427387904"), "{msg}");
}
