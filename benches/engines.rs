//! Inference throughput of the Basenji2 human spec (random weights, one 131,072-bp window per
//! call) under tract and ONNX Runtime (CPU). `scripts/bench_engines.sh` runs this and
//! onnxruntime's Python API on the same ONNX file, side by side.
//!
//! Needs the package built by that script (`S2F_BENCH_PACKAGE`, default
//! `target/bench/basenji2_human`) and, for ORT, the onnxruntime wheel (see README).

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use ndarray::Array3;
use s2f::engine::{create, Device, EngineKind, Predictor};
use s2f::model::Package;

fn one_hot(l: usize) -> Array3<f32> {
    let mut s: u64 = 42;
    let mut x = Array3::zeros((1, l, 4));
    for i in 0..l {
        s = s.wrapping_mul(6364136223846793005).wrapping_add(1);
        x[[0, i, (s >> 62) as usize]] = 1.0;
    }
    x
}

fn basenji2(c: &mut Criterion) {
    let dir = std::env::var("S2F_BENCH_PACKAGE").unwrap_or_else(|_| "target/bench/basenji2_human".into());
    let pkg = match Package::open(&dir) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("no benchmark package ({e}); run scripts/bench_engines.sh");
            return;
        }
    };
    let l = pkg.spec.as_ref().map(|s| s.input.length as usize).unwrap_or(131_072);
    let x = one_hot(l);
    let mut g = c.benchmark_group("basenji2_human_window");
    g.sample_size(10);
    g.throughput(Throughput::Elements(1));
    let mut kinds = vec![("tract", EngineKind::Tract)];
    if s2f::engine::ort::find_library().is_ok() {
        kinds.push(("ort_cpu", EngineKind::Ort));
    }
    for (name, kind) in kinds {
        let engine = create(kind, Device::Cpu, &pkg.onnx).unwrap();
        let mut p = Predictor::new(&pkg, engine, 0, 1).unwrap();
        p.predict(x.view()).unwrap(); // plan / warm-up
        g.bench_function(name, |b| b.iter(|| p.predict(x.view()).unwrap()));
    }
    g.finish();
}

criterion_group!(benches, basenji2);
criterion_main!(benches);
