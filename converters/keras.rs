//! Keras 2 full-model HDF5 (Basenji2 as released) → s2f weights.
//!
//! Layout read (see the basenji2_keras_small fixture README): `/model_weights` carries
//! `layer_names` (model order); each layer group has `weight_names` (empty float64 array for
//! layers without weights). Both the h5py 2 encoding (fixed-length `S<n>` strings, compact
//! attributes) and what Keras 2.15 re-saves with h5py 3 (variable-length ASCII strings,
//! attributes possibly in dense fractal-heap storage, an extra empty
//! `/model_weights/top_level_model_weights` group) are read, as are lists Keras split into
//! `name0`, `name1`, … when they outgrew an object header. Datasets live at
//! `/model_weights/<layer>/<weight name>`. Conv1D `kernel` is `(k, in, out)` and becomes
//! `(out, in, k)`; Dense `kernel` `(in, out)` becomes `(out, in)`; BatchNormalization
//! `gamma, beta, moving_mean, moving_variance` become `gamma, beta, mean, var`.
//!
//! The file's weighted layers are matched, in file order, to the spec's weighted layers in
//! emission order, so layer names are never hard-coded. When the root `model_config` is
//! present, every layer class is checked against the classes this importer understands, and
//! an unknown one is reported with its name and position. [`spec_from_file`] builds the whole
//! spec from that `model_config` (see [`crate::converters::keras_config`]) when no spec is given.
//!
//! Memory: the HDF5 metadata is parsed from the file held in memory; when every weight is a
//! contiguous dataset (as Keras writes them) the file is then released and each tensor read from
//! disk, so the peak is about one copy of the weights plus the largest tensor.

use std::collections::HashMap;
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;

use hdf5_pure::AttrValue;

use crate::converters::{source, transpose_2d, transpose_3d_reverse, Converted};
use crate::error::{Error, Result};
use crate::model::spec::ModelSpec;
use crate::model::weights::{Tensor, Weights};

/// Layer classes without weights that are identities or handled by the spec at inference.
const PASSIVE: &[&str] = &[
    "InputLayer",
    "StochasticReverseComplement",
    "StochasticShift",
    "SwitchReverse",
    "GELU",
    "Activation",
    "Dropout",
    "Add",
    "Cropping1D",
    "MaxPooling1D",
    "AveragePooling1D",
    "Softplus",
    "Lambda",
    "TFOpLambda",
    "Functional",
    "Model",
    "Sequential",
];
/// Layer classes with weights this importer maps.
const WEIGHTED: &[&str] = &["Conv1D", "BatchNormalization", "Dense"];

/// Every string an attribute holds, whatever its encoding: fixed-length `S<n>` (h5py 2),
/// variable-length ASCII or UTF-8 (h5py 3 writes a list of `bytes` as variable-length ASCII),
/// scalar or array.
fn strings(v: &AttrValue) -> Option<Vec<String>> {
    v.as_strings().map(<[String]>::to_vec)
}

fn string(v: &AttrValue) -> Option<String> {
    v.as_str().map(str::to_string)
}

/// A string-list attribute `name`, or, when Keras had to split a long one (over the 64 KiB
/// object-header limit), the concatenation of `name0`, `name1`, ….
fn string_list(attrs: &HashMap<String, AttrValue>, name: &str) -> Option<Vec<String>> {
    if let Some(v) = attrs.get(name) {
        return strings(v);
    }
    let mut out = Vec::new();
    let mut i = 0;
    while let Some(v) = attrs.get(&format!("{name}{i}")) {
        out.extend(strings(v)?);
        i += 1;
    }
    (i > 0).then_some(out)
}

/// Opens a Keras `.h5`, checking the HDF5 signature first for a clear error on other files.
fn open(h5: &Path) -> Result<hdf5_pure::File> {
    let bad = |loc: &str, m: String| Error::malformed(h5, loc.to_string(), m);
    let mut head = [0u8; 8];
    std::fs::File::open(h5)
        .and_then(|mut f| f.read_exact(&mut head))
        .map_err(|e| bad("header", format!("not a readable HDF5 file: {e}")))?;
    if &head != b"\x89HDF\r\n\x1a\n" {
        return Err(bad("header", "not an HDF5 file (no HDF5 signature); expected a Keras .h5".into()));
    }
    hdf5_pure::File::open(h5).map_err(|e| bad("file", format!("cannot read HDF5 (truncated or corrupt?): {e}")))
}

/// The root `model_config` attribute (Keras's architecture JSON), if the file has one.
fn model_config_of(file: &hdf5_pure::File, path: &Path) -> Result<Option<String>> {
    let attrs = file.root().attrs().map_err(|e| Error::malformed(path, "/", format!("cannot read attributes: {e}")))?;
    match attrs.get("model_config") {
        None => Ok(None),
        Some(v) => string(v)
            .map(Some)
            .ok_or_else(|| Error::malformed(path, "/model_config", format!("not a string attribute: {v:?}"))),
    }
}

/// Builds the spec of a Keras full-model `.h5` from its root `model_config` (see
/// [`crate::converters::keras_config`] for the layers understood and the names given), named
/// `name`. Errors when the file has no `model_config` (a weights-only file) or uses a layer the
/// spec cannot express.
pub fn spec_from_file(h5: &Path, name: &str) -> Result<ModelSpec> {
    let file = open(h5)?;
    let config = model_config_of(&file, h5)?.ok_or_else(|| {
        Error::malformed(
            h5,
            "/",
            "no model_config attribute (a weights-only file?): give the architecture with --spec or --config",
        )
    })?;
    crate::converters::keras_config::spec_from_model_config(&config, name, h5)
}

/// How a Keras tensor becomes an s2f tensor.
enum How {
    /// Unchanged.
    Same,
    /// Conv1D kernel (k, in, out) → (out, in, k).
    Conv,
    /// Dense kernel (in, out) → (out, in).
    Dense,
}

/// One weighted Keras layer as found in the file.
#[derive(Debug)]
struct KLayer {
    name: String,
    position: usize,
    kind: &'static str,
    /// (short variable name, full dataset path, shape)
    vars: Vec<(String, String, Vec<usize>)>,
}

fn classify(vars: &[(String, String, Vec<usize>)]) -> Option<&'static str> {
    let names: Vec<&str> = vars.iter().map(|(n, _, _)| n.as_str()).collect();
    let has = |n: &str| names.contains(&n);
    let only = |allowed: &[&str]| names.iter().all(|n| allowed.contains(n));
    if only(&["gamma", "beta", "moving_mean", "moving_variance"]) && has("moving_mean") && has("moving_variance") {
        Some("BatchNormalization")
    } else if only(&["kernel", "bias"]) && has("kernel") {
        match vars.iter().find(|(n, _, _)| n == "kernel").map(|(_, _, s)| s.len()) {
            Some(3) => Some("Conv1D"),
            Some(2) => Some("Dense"),
            _ => None,
        }
    } else {
        None
    }
}

/// Layer classes from `model_config` (layer name → class name), if the file has one.
fn layer_classes(file: &hdf5_pure::File, path: &Path) -> Result<HashMap<String, String>> {
    let Some(cfg) = model_config_of(file, path)? else { return Ok(HashMap::new()) };
    let json: serde_json::Value =
        serde_json::from_str(&cfg).map_err(|e| Error::malformed(path, "model_config", format!("not JSON: {e}")))?;
    let mut out = HashMap::new();
    if let Some(layers) = json.pointer("/config/layers").and_then(|l| l.as_array()) {
        for l in layers {
            // Functional layers carry their name beside the config (basenji's GELU has an empty
            // config); Sequential ones inside it. Custom classes may be registered "pkg>Class".
            let name = l.get("name").or_else(|| l.pointer("/config/name")).and_then(|n| n.as_str());
            if let (Some(class), Some(name)) = (l.get("class_name").and_then(|c| c.as_str()), name) {
                out.insert(name.to_string(), class.rsplit('>').next().unwrap_or(class).to_string());
            }
        }
    }
    Ok(out)
}

/// Imports the weights of a Keras full-model `.h5` for `spec`.
pub fn convert(h5: &Path, mut spec: ModelSpec) -> Result<Converted> {
    let analysis = spec.analyze()?;
    let bad = |loc: &str, m: String| Error::malformed(h5, loc.to_string(), m);
    let file = open(h5)?;
    // Every handle below (groups, datasets) keeps the in-memory file alive; they live in this
    // block so that the file can be released before the weights are read.
    let (layers, plan, locations, disk) = {
        let classes = layer_classes(&file, h5)?;
        let mw = file
            .group("model_weights")
            .map_err(|e| bad("/model_weights", format!("not a Keras full-model file: {e}")))?;
        let mw_attrs = mw.attrs().map_err(|e| bad("/model_weights", format!("{e}")))?;
        let layer_names = string_list(&mw_attrs, "layer_names").ok_or_else(|| {
            let mut found: Vec<&str> = mw_attrs.keys().map(String::as_str).collect();
            found.sort_unstable();
            bad("/model_weights", format!("no readable layer_names attribute (attributes: {})", found.join(", ")))
        })?;
        // Keras 2.15 saves the model's own top-level variables here; Basenji2 has none.
        if let Ok(top) = mw.group("top_level_model_weights") {
            let attrs = top.attrs().map_err(|e| bad("/model_weights/top_level_model_weights", format!("{e}")))?;
            if let Some(w) = string_list(&attrs, "weight_names").filter(|w| !w.is_empty()) {
                return Err(bad(
                    "/model_weights/top_level_model_weights",
                    format!("top-level weights this importer does not map: {}", w.join(", ")),
                ));
            }
        }

        // Collect weighted layers in file order.
        let mut layers = Vec::new();
        for (pos, lname) in layer_names.iter().enumerate() {
            if let Some(class) = classes.get(lname) {
                if !PASSIVE.contains(&class.as_str()) && !WEIGHTED.contains(&class.as_str()) {
                    return Err(bad(
                        &format!("layer {pos}"),
                        format!("unsupported layer {lname:?} of class {class} at position {pos}"),
                    ));
                }
            }
            let g = mw
                .group(lname)
                .map_err(|e| bad(&format!("layer {pos}"), format!("layer {lname:?} has no weight group: {e}")))?;
            let attrs = g.attrs().map_err(|e| bad(&format!("/model_weights/{lname}"), format!("{e}")))?;
            // Layers without weights have an empty float64 array (or, rarely, no attribute).
            let wnames = match (string_list(&attrs, "weight_names"), attrs.get("weight_names")) {
                (Some(w), _) => w,
                (None, None) => vec![],
                (None, Some(v)) if v.to_f64s().is_some_and(|x| x.is_empty()) => vec![],
                (None, Some(v)) => {
                    return Err(bad(
                        &format!("/model_weights/{lname}"),
                        format!("weight_names is not a list of names: {v:?}"),
                    ))
                }
            };
            if wnames.is_empty() {
                continue;
            }
            let mut vars = Vec::new();
            for w in &wnames {
                let short = w.rsplit('/').next().unwrap_or(w).trim_end_matches(":0").to_string();
                let full = format!("model_weights/{lname}/{w}");
                let ds = file.dataset(&full).map_err(|e| bad(&full, format!("missing dataset: {e}")))?;
                let shape: Vec<usize> =
                    ds.shape().map_err(|e| bad(&full, format!("{e}")))?.iter().map(|&d| d as usize).collect();
                vars.push((short, full, shape));
            }
            let kind = classify(&vars).ok_or_else(|| {
                bad(
                    &format!("layer {pos}"),
                    format!(
                        "unsupported layer {lname:?} at position {pos} (weights {})",
                        vars.iter().map(|(n, _, s)| format!("{n} {s:?}")).collect::<Vec<_>>().join(", ")
                    ),
                )
            })?;
            layers.push(KLayer { name: lname.clone(), position: pos, kind, vars });
        }

        // Group the spec's weight slots by layer, in emission order.
        let mut slots: Vec<(String, Vec<&crate::model::spec::WeightSlot>)> = Vec::new();
        for s in &analysis.weights {
            let prefix = s.name.rsplit_once('.').map(|(p, _)| p.to_string()).unwrap_or_default();
            match slots.last_mut() {
                Some((p, v)) if *p == prefix => v.push(s),
                _ => slots.push((prefix, vec![s])),
            }
        }
        if slots.len() != layers.len() {
            return Err(Error::Weights {
                path: h5.into(),
                problems: vec![format!(
                    "the file has {} layers with weights, the spec {} ({})",
                    layers.len(),
                    slots.len(),
                    spec.name
                )],
            });
        }

        // Plan reads: (spec name, spec shape, dataset path, keras shape, transform).
        let mut plan = Vec::new();
        let mut problems = Vec::new();
        for (kl, (prefix, sl)) in layers.iter().zip(&slots) {
            let var = |n: &str| kl.vars.iter().find(|(v, _, _)| v == n);
            let kinds: Vec<&str> = sl.iter().map(|s| s.name.rsplit('.').next().unwrap_or("")).collect();
            let expect = match kinds.as_slice() {
                ["weight", ..] if sl[0].shape.len() == 3 => "Conv1D",
                ["weight", ..] => "Dense",
                ["gamma", ..] => "BatchNormalization",
                _ => "?",
            };
            if expect != kl.kind {
                problems.push(format!(
                    "layer {:?} (position {}) is {} but the spec's layer {prefix} is {expect}",
                    kl.name, kl.position, kl.kind
                ));
                continue;
            }
            for s in sl {
                let param = s.name.rsplit('.').next().unwrap_or("");
                let (kname, how) = match (kl.kind, param) {
                    ("Conv1D", "weight") => ("kernel", How::Conv),
                    ("Dense", "weight") => ("kernel", How::Dense),
                    (_, "bias") => ("bias", How::Same),
                    (_, "gamma") => ("gamma", How::Same),
                    (_, "beta") => ("beta", How::Same),
                    (_, "mean") => ("moving_mean", How::Same),
                    (_, "var") => ("moving_variance", How::Same),
                    _ => ("?", How::Same),
                };
                let Some((_, full, kshape)) = var(kname) else {
                    problems.push(format!("layer {:?} has no {kname} for {}", kl.name, s.name));
                    continue;
                };
                let converted: Vec<usize> = match how {
                    How::Conv if kshape.len() == 3 => vec![kshape[2], kshape[1], kshape[0]],
                    How::Dense if kshape.len() == 2 => vec![kshape[1], kshape[0]],
                    _ => kshape.clone(),
                };
                if converted != s.shape {
                    problems.push(format!(
                        "tensor {} (from {full}, Keras shape {kshape:?}): expected shape {:?}, found {converted:?}",
                        s.name, s.shape
                    ));
                    continue;
                }
                plan.push((s.name.clone(), s.shape.clone(), full.clone(), kshape.clone(), how));
            }
            let used: usize = sl.len();
            if kl.vars.len() > used {
                let extra: Vec<&str> = kl
                    .vars
                    .iter()
                    .map(|(n, _, _)| n.as_str())
                    .filter(|n| !matches!(*n, "kernel" | "bias" | "gamma" | "beta" | "moving_mean" | "moving_variance"))
                    .collect();
                if !extra.is_empty() {
                    problems.push(format!(
                        "layer {:?} has weights the spec does not use: {}",
                        kl.name,
                        extra.join(", ")
                    ));
                }
            }
        }
        if !problems.is_empty() {
            return Err(Error::Weights { path: h5.into(), problems });
        }

        // Where each dataset's bytes are: contiguous runs can be read from disk after releasing
        // the in-memory file.
        let mut locations = Vec::new();
        for (_, shape, full, _, _) in &plan {
            let ds = file.dataset(full).map_err(|e| bad(full, format!("{e}")))?;
            let n: usize = shape.iter().product();
            locations.push(match ds.layout() {
                Ok(hdf5_pure::Layout::Contiguous { address: Some(a), size }) if size as usize == n * 4 => Some(a),
                _ => None,
            });
        }
        let all_contiguous = locations.iter().all(Option::is_some);
        // Check the disk path against the library on the first tensor before relying on it.
        if all_contiguous {
            if let (Some((_, _, full, _, _)), Some(Some(addr))) = (plan.first(), locations.first()) {
                let lib = file.dataset(full).and_then(|d| d.read_f32()).map_err(|e| bad(full, format!("{e}")))?;
                let disk = read_f32_at(h5, *addr, lib.len())?;
                if disk != lib {
                    return Err(bad(full, "dataset bytes are not little-endian float32".into()));
                }
            }
        }
        let disk = if all_contiguous { None } else { Some(file.clone()) };
        (layers, plan, locations, disk)
    };
    drop(file);
    let mut disk = disk;
    let mut weights = Weights::default();
    for ((name, shape, full, kshape, how), loc) in plan.into_iter().zip(locations) {
        let n: usize = shape.iter().product();
        let raw = match (&mut disk, loc) {
            (None, Some(addr)) => read_f32_at(h5, addr, n)?,
            (Some(f), _) => {
                f.dataset(&full).and_then(|d| d.read_f32()).map_err(|e| bad(&full, format!("cannot read: {e}")))?
            }
            (None, None) => unreachable!("all datasets are contiguous when the file is released"),
        };
        if raw.len() != n {
            return Err(bad(&full, format!("{} values, shape {kshape:?} needs {n}", raw.len())));
        }
        let data = match how {
            How::Same => raw,
            How::Conv => transpose_3d_reverse(&raw, kshape[0], kshape[1], kshape[2]),
            How::Dense => transpose_2d(&raw, kshape[0], kshape[1]),
        };
        weights.insert(name, Tensor { shape, data });
    }
    weights.check(&analysis.weights, h5)?;
    let mut src = source("keras-h5", &[h5])?;
    src.notes.insert("layers".into(), format!("{} weighted Keras layers mapped in file order", layers.len()));
    spec.source = Some(src);
    Ok(Converted { spec, weights })
}

/// Reads `n` little-endian f32 at byte `addr`, through a 1 MiB buffer (one copy of the tensor).
fn read_f32_at(path: &Path, addr: u64, n: usize) -> Result<Vec<f32>> {
    let mut f = std::io::BufReader::new(std::fs::File::open(path).map_err(|e| Error::io(path, e))?);
    f.seek(SeekFrom::Start(addr)).map_err(|e| Error::io(path, e))?;
    let mut out = Vec::with_capacity(n);
    let mut buf = vec![0u8; 1 << 20];
    while out.len() < n {
        let take = ((n - out.len()) * 4).min(buf.len());
        f.read_exact(&mut buf[..take])
            .map_err(|e| Error::malformed(path, format!("byte {addr}"), format!("truncated dataset: {e}")))?;
        out.extend(crate::io::le::f32s_from_le(&buf[..take]));
    }
    Ok(out)
}
