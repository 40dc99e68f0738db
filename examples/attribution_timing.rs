//! Times attribution methods side by side with the forward pass they build on, on tract and
//! ONNX Runtime (ORT_DYLIB_PATH, or `.venv/`):
//! - grad on one Basenji2 window (the human spec, random weights) as a multiple of its forward;
//! - on the Calderon demo model (sequences per second): naive and fast saturation mutagenesis,
//!   grad and DeepLIFT with 20 dinucleotide shuffles;
//! - naive and split saturation mutagenesis on one Basenji2 window;
//! - kernel knock-outs on the Calderon demo model, cut vs prefix per kernel.
//!
//! `cargo run --release --example attribution_timing [calderon|basenji2|kernels|basenji2-ism|all]`

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

/// Seconds to attribute `x` with `opts` (the engine is loaded and warmed up first).
fn time(pkg: &Package, kind: EngineKind, opts: AttributeOptions, x: &Array3<f32>) -> s2f::error::Result<f64> {
    let mut a = Attributor::new(pkg, kind, Device::Cpu, opts)?;
    a.attribute(x.slice(ndarray::s![..1, .., ..]))?;
    let t = Instant::now();
    a.attribute(x.view())?;
    Ok(t.elapsed().as_secs_f64())
}

fn calderon() -> s2f::error::Result<()> {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let pkg = Package::open(root.join("models/calderon2019_shallow"))?;
    let n = 4;
    let x = onehot(n, 401, 3);
    for kind in engines() {
        let ism = AttributeOptions { batch: 256, ..AttributeOptions::new(Method::Ism) };
        let naive = time(&pkg, kind, AttributeOptions { split_ism: false, ..ism.clone() }, &x)?;
        let fast = time(&pkg, kind, AttributeOptions { split_ism: true, ..ism.clone() }, &x)?;
        let grad = time(&pkg, kind, AttributeOptions { method: Method::Grad, ..ism.clone() }, &x)?;
        let dl = AttributeOptions { method: Method::DeepLift, tracks: vec![0], batch: 20, ..ism };
        let deeplift = time(&pkg, kind, dl, &x)?;
        let n = n as f64;
        println!(
            "calderon 401 bp, {kind:?}: ISM of 1,203 mutants × 45 tracks: naive {:.2} sequences/s, split at the first convolution {:.2} \
             sequences/s ({:.1}x); grad (45 maps) {:.1} sequences/s; DeepLIFT (1 track, 20 shuffles) {:.2} sequences/s",
            n / naive,
            n / fast,
            naive / fast,
            n / grad,
            n / deeplift
        );
    }
    Ok(())
}

/// Fast vs naive ISM on one Basenji2 window (random weights): a 2-position span (6 mutants),
/// extrapolated to 1 kb (3,000 mutants).
fn basenji2_ism() -> s2f::error::Result<()> {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let dir = std::env::temp_dir().join("s2f_basenji2_timing");
    let spec = ModelSpec::read(root.join("models/basenji2_human.json"))?;
    let weights = Weights::random(&spec.analyze()?.weights, 1);
    Package::write(&dir, &spec, &weights, EmitOptions::default())?;
    let pkg = Package::open(&dir)?;
    let x = onehot(1, spec.input.length as usize, 7);
    for kind in engines() {
        let opts = AttributeOptions {
            tracks: vec![0],
            bins: Some(448..449),
            span: Some(65536..65538),
            batch: 6,
            ..AttributeOptions::new(Method::Ism)
        };
        let mut naive =
            Attributor::new(&pkg, kind, Device::Cpu, AttributeOptions { split_ism: false, ..opts.clone() })?;
        let t = Instant::now();
        naive.attribute(x.view())?;
        let naive = t.elapsed().as_secs_f64();
        let mut fast = Attributor::new(&pkg, kind, Device::Cpu, AttributeOptions { split_ism: true, ..opts })?;
        let t = Instant::now();
        fast.attribute(x.view())?;
        let fast = t.elapsed().as_secs_f64();
        println!(
            "basenji2 131072 bp, {kind:?}: ISM of 6 mutants: naive {naive:.1} s, split {fast:.1} s ({:.2}x); \
             a 1-kb span (3,000 mutants) extrapolates to naive {:.0} s, split {:.0} s",
            naive / fast,
            naive / 7.0 * 3001.0,
            fast / 7.0 * 3001.0
        );
    }
    Ok(())
}

/// Kernel knock-outs on the Calderon demo model: the model cut after the kernel layer (prefix
/// once per sequence) against rerunning the prefix per kernel, as a full forward per kernel does.
fn kernels() -> s2f::error::Result<()> {
    use s2f::jobs::kernels::{Knockout, KnockoutOptions, Null};
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let pkg = Package::open(root.join("models/calderon2019_shallow"))?;
    let n = 8;
    let x = onehot(n, 401, 5);
    for kind in engines() {
        let mut rate = Vec::new();
        for naive in [false, true] {
            let opts = KnockoutOptions { layer: None, null: Null::Mean, head: 0, batch: 256, naive };
            let mut ko = Knockout::new(&pkg, kind, Device::Cpu, opts)?;
            ko.run(x.slice(ndarray::s![..1, .., ..]))?;
            let t = Instant::now();
            ko.run(x.view())?;
            rate.push((n * 256) as f64 / t.elapsed().as_secs_f64());
        }
        println!(
            "calderon kernel knock-outs, {kind:?}: cut {:.0} kernel×sequences/s, prefix per kernel {:.0} ({:.1}x)",
            rate[0],
            rate[1],
            rate[0] / rate[1]
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
    if which == "kernels" || which == "all" {
        kernels()?;
    }
    if which == "basenji2-ism" || which == "all" {
        basenji2_ism()?;
    }
    Ok(())
}
