//! NumPy `.npy` / `.npz` and safetensors weights.

use std::io::Write;

use rand::Rng;
use s2f::io::npy::{header, read_npy, read_npz, DType, NpyArray, NpzWriter};
use s2f::model::weights::{Tensor, Weights};

use crate::{cases, fixture_bytes, mutate, number_text, put, run, Rand};

const DTYPES: &[DType] =
    &[DType::I8, DType::U8, DType::I32, DType::I64, DType::F32, DType::F64, DType::Unicode(1), DType::Unicode(7)];

/// What every accepted array must satisfy: the body holds exactly the shape's elements, and
/// conversions agree with it.
fn check_array(a: &NpyArray) {
    let n: usize = a.shape.iter().product();
    assert_eq!(a.data.len(), n * a.dtype.size(), "{:?} {:?}", a.dtype, a.shape);
    match a.dtype {
        DType::Unicode(_) => {
            assert!(a.to_f32().is_none());
            if a.dtype.size() > 0 {
                assert_eq!(a.to_strings().unwrap().len(), n);
            }
        }
        _ => assert_eq!(a.to_f32().unwrap().len(), n),
    }
}

/// A header dict with random fields: good or bad type strings, shapes with huge, negative or
/// junk dimensions, a lying header length or version.
fn gen_npy(rng: &mut Rand) -> (Vec<u8>, Option<(DType, Vec<usize>)>) {
    if rng.random_bool(0.3) {
        // Valid: the writer's own header and a body of the right size.
        let dtype = DTYPES[rng.random_range(0..DTYPES.len())];
        let shape: Vec<usize> = (0..rng.random_range(0..4)).map(|_| rng.random_range(0..6)).collect();
        let mut bytes = header(dtype, &shape);
        let n: usize = shape.iter().product::<usize>() * dtype.size();
        bytes.extend((0..n).map(|_| rng.random::<u8>()));
        return (bytes, Some((dtype, shape)));
    }
    let descr =
        ["<f4", "<f8", "|i1", "|u1", "|b1", "<i8", "<U3", "<U0", ">f4", "<c8", "O", "", "<U18446744073709551615"]
            [rng.random_range(0..13)]
        .to_string();
    let descr = if rng.random_bool(0.15) { format!("<U{}", number_text(rng, 64)) } else { descr };
    let dims: Vec<String> = (0..rng.random_range(0..5)).map(|_| number_text(rng, 8)).collect();
    let shape = match dims.len() {
        1 if rng.random_bool(0.5) => format!("({},)", dims[0]),
        _ => format!("({})", dims.join(", ")),
    };
    let fortran = ["False", "True", "0", ""][rng.random_range(0..4)];
    let mut dict = format!("{{'descr': '{descr}', 'fortran_order': {fortran}, 'shape': {shape}, }}");
    if rng.random_bool(0.1) {
        dict = dict.replace("'shape'", "'shap'");
    }
    let mut bytes = b"\x93NUMPY".to_vec();
    let version = [1u8, 1, 2, 3, 0, 9][rng.random_range(0..6)];
    bytes.extend([version, 0]);
    let mut len = dict.len() + 1;
    if rng.random_bool(0.2) {
        len = rng.random_range(0..len * 2 + 10);
    }
    if version == 1 {
        bytes.extend_from_slice(&(len as u16).to_le_bytes());
    } else {
        bytes.extend_from_slice(&(len as u32).to_le_bytes());
    }
    bytes.extend_from_slice(dict.as_bytes());
    bytes.push(b'\n');
    bytes.extend((0..rng.random_range(0..200)).map(|_| rng.random::<u8>()));
    (bytes, None)
}

#[test]
fn fuzz_npy_structured() {
    let t = run("npy_structured", cases(1500), |rng, dir| {
        let (bytes, want) = gen_npy(rng);
        let path = put(dir, "a.npy", &bytes);
        let got = read_npy(&path);
        if let Some((dtype, shape)) = want {
            let a = got.as_ref().unwrap_or_else(|e| panic!("valid npy rejected: {e}"));
            assert_eq!((a.dtype, &a.shape), (dtype, &shape));
        }
        check_array(&got?);
        Ok(())
    });
    assert!(t.ok > 0 && t.err > 0, "{t:?}");
}

#[test]
fn fuzz_npy_mutated() {
    let seeds = [
        fixture_bytes("models/drg_calderon_shallow/expected.npy"),
        fixture_bytes("models/ft_s2a_small/inputs_with_n.npy")[..4096].to_vec(),
    ];
    run("npy_mutated", cases(1500), |rng, dir| {
        let seed = &seeds[rng.random_range(0..seeds.len())];
        let path = put(dir, "m.npy", &mutate(rng, seed, &[0..128], &[&seeds[0][..128]]));
        check_array(&read_npy(&path)?);
        Ok(())
    });
}

/// A small archive written by s2f's own writer.
fn npz_seed(dir: &std::path::Path) -> Vec<u8> {
    let p = dir.join("seed.npz");
    let mut w = NpzWriter::create(&p).unwrap();
    w.add("x", &[2, 3], &[1i8, -2, 3, 4, 5, 6]).unwrap();
    w.add("f", &[2], &[0.25f32, -1.5]).unwrap();
    w.add_strings("names", &["chr1:0-10".to_string(), "é".to_string()]).unwrap();
    w.finish().unwrap();
    std::fs::read(&p).unwrap()
}

#[test]
fn fuzz_npz() {
    let tmp = tempfile::tempdir().unwrap();
    let seed = npz_seed(tmp.path());
    let n = seed.len();
    run("npz", cases(800), |rng, dir| {
        let bytes = if rng.random_bool(0.5) {
            // Raw mutations, favouring local headers and the central directory.
            let hot = if rng.random_bool(0.5) { 0..64 } else { n.saturating_sub(200)..n };
            mutate(rng, &seed, &[hot], &[])
        } else {
            // A well-formed archive of stored (uncompressed) members holding generated or
            // mutated .npy bodies, with odd names.
            let mut z = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
            let opts = zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
            for i in 0..rng.random_range(0..4) {
                let name = ["a.npy", "b", "../c.npy", "", "dir/d.npy", "é.npy"][rng.random_range(0..6)];
                let name = format!("{i}{name}");
                let (body, _) = gen_npy(rng);
                z.start_file(name, opts).unwrap();
                z.write_all(&body).unwrap();
            }
            z.finish().unwrap().into_inner()
        };
        let path = put(dir, "m.npz", &bytes);
        for (_, a) in read_npz(&path)? {
            check_array(&a);
        }
        Ok(())
    });
}

// ---------------------------------------------------------------- safetensors

fn random_weights(rng: &mut Rand) -> Weights {
    let mut w = Weights::default();
    for i in 0..rng.random_range(1..5) {
        let shape: Vec<usize> = (0..rng.random_range(0..4)).map(|_| rng.random_range(1..5)).collect();
        let n = shape.iter().product();
        let data = (0..n).map(|_| rng.random::<f32>()).collect();
        w.insert(format!("layer{i}.weight"), Tensor::new(shape, data).unwrap());
    }
    w
}

/// A safetensors file with a hand-written header: random dtypes, shapes and offsets.
fn gen_safetensors(rng: &mut Rand) -> Vec<u8> {
    let mut entries = Vec::new();
    let mut at = 0usize;
    for i in 0..rng.random_range(0..4) {
        let dtype = ["F32", "F16", "BF16", "F64", "I64", "U8", "BOOL", "F8_E4M3", "X"][rng.random_range(0..9)];
        let shape: Vec<String> = (0..rng.random_range(0..3)).map(|_| number_text(rng, 6)).collect();
        let len = rng.random_range(0..40usize);
        let (b, e) = if rng.random_bool(0.7) {
            (at.to_string(), (at + len).to_string())
        } else {
            (number_text(rng, 64), number_text(rng, 64))
        };
        at += len;
        entries.push(format!(
            "\"t{i}\": {{\"dtype\": \"{dtype}\", \"shape\": [{}], \"data_offsets\": [{b}, {e}]}}",
            shape.join(", ")
        ));
    }
    if rng.random_bool(0.2) {
        entries.push("\"__metadata__\": {\"format\": \"pt\"}".into());
    }
    let header = format!("{{{}}}", entries.join(", "));
    let mut bytes = (header.len() as u64).to_le_bytes().to_vec();
    bytes.extend_from_slice(header.as_bytes());
    let body = if rng.random_bool(0.8) { at } else { rng.random_range(0..at + 10) };
    bytes.extend((0..body).map(|_| rng.random::<u8>()));
    bytes
}

#[test]
fn fuzz_safetensors() {
    let t = run("safetensors", cases(1500), |rng, dir| {
        let bytes = match rng.random_range(0..3) {
            0 => gen_safetensors(rng),
            _ => {
                let w = random_weights(rng);
                let b = w.to_safetensors().unwrap();
                let hlen = u64::from_le_bytes(b[..8].try_into().unwrap()) as usize + 8;
                mutate(rng, &b, &[0..hlen], &[])
            }
        };
        let path = put(dir, "model.safetensors", &bytes);
        let w = Weights::read(&path)?;
        for (name, t) in &w.tensors {
            assert_eq!(t.data.len(), t.shape.iter().product::<usize>(), "{name}");
        }
        Ok(())
    });
    assert!(t.ok > 0 && t.err > 0, "{t:?}");
}
