//! Times attribution methods side by side with the forward pass they build on, on tract and
//! ONNX Runtime (ORT_DYLIB_PATH, or `.venv/`):
//! - grad on one Basenji2 window (the human spec, random weights) as a multiple of its forward;
//! - naive saturation mutagenesis on the Calderon demo model (sequences per second).
//!
//! `cargo run --release --example attribution_timing [basenji2|calderon|all]`

use std::time::Instant;

use ndarray::Array3;
use s2f::engine::{create, Device, EngineKind};
use s2f::jobs::attribute::{AttributeOptions, Attributor, Method};
use s2f::model::onnx::{emit, emit_gradient, EmitOptions};
use s2f::model::{ModelSpec, Package, Weights};

fn onehot(n: usize, l: usize, seed: u64) -> Array3<f32> {
    let mut s = seed;
    let mut x = Array3::<f32>::zeros((n, l, 4));
    for i in 0..n {
        for j in 0..l {
            s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            x[(i, j, (s >> 62) as usize)] = 1.0;
        }
    }
    x
}

fn engines() -> Vec<EngineKind> {
    let mut v = vec![EngineKind::Tract];
    if s2f::engine::ort::find_library().is_ok() {
        v.push(EngineKind::Ort);
    }
    v
}

fn basenji2() -> s2f::error::Result<()> {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let spec = ModelSpec::read(root.join("models/basenji2_human.json"))?;
    let analysis = spec.analyze()?;
    let weights = Weights::random(&analysis.weights, 1);
    let geom = analysis.heads[0].1;
    let model = emit(&spec, &weights, EmitOptions::default())?;
    let grad = emit_gradient(&spec, &weights, 0, EmitOptions::default())?;
    let x = onehot(1, spec.input.length as usize, 7).into_dyn();
    let mut objective = ndarray::Array3::<f32>::zeros((1, geom.bins as usize, geom.tracks as usize));
    objective.slice_mut(ndarray::s![0, 448..449, 0..1]).fill(1.0);
    for kind in engines() {
        let mut f = create(kind, Device::Cpu, &model)?;
        f.run(x.clone())?; // plan / warm-up
        let t = Instant::now();
        f.run(x.clone())?;
        let forward = t.elapsed().as_secs_f64();
        drop(f);
        let mut g = create(kind, Device::Cpu, &grad)?;
        g.run_inputs(vec![x.clone(), objective.clone().into_dyn()])?;
        let t = Instant::now();
        g.run_inputs(vec![x.clone(), objective.clone().into_dyn()])?;
        let backward = t.elapsed().as_secs_f64();
        println!(
            "basenji2 131072 bp, 1 window, {kind:?}: forward {forward:.2} s, grad {backward:.2} s = {:.2}x forward",
            backward / forward
        );
    }
    Ok(())
}

fn calderon() -> s2f::error::Result<()> {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let pkg = Package::open(root.join("models/calderon2019_shallow"))?;
    let x = onehot(4, 401, 3);
    for kind in engines() {
        let opts = AttributeOptions { batch: 256, naive_ism: true, ..AttributeOptions::new(Method::Ism) };
        let mut a = Attributor::new(&pkg, kind, Device::Cpu, opts.clone())?;
        let t = Instant::now();
        a.attribute(x.view())?;
        let ism = t.elapsed().as_secs_f64();
        let mut f = Attributor::new(&pkg, kind, Device::Cpu, AttributeOptions { naive_ism: false, ..opts.clone() })?;
        let t = Instant::now();
        f.attribute(x.view())?;
        let fast = t.elapsed().as_secs_f64();
        let mut g = Attributor::new(&pkg, kind, Device::Cpu, AttributeOptions { method: Method::Grad, ..opts })?;
        let t = Instant::now();
        g.attribute(x.view())?;
        let grad = t.elapsed().as_secs_f64();
        println!(
            "calderon 401 bp, 45 tracks, {kind:?}: naive ISM {:.2} sequences/s, fast ISM {:.2} sequences/s \
             ({:.1}x; 1,203 mutants each), grad {:.1} sequences/s (45 maps each)",
            4.0 / ism,
            4.0 / fast,
            ism / fast,
            4.0 / grad
        );
    }
    Ok(())
}

fn main() -> s2f::error::Result<()> {
    let which = std::env::args().nth(1).unwrap_or_else(|| "all".into());
    if which == "calderon" || which == "all" {
        calderon()?;
    }
    if which == "basenji2" || which == "all" {
        basenji2()?;
    }
    Ok(())
}
