//! Training throughput: optimiser steps per second of a DRG-shallow-sized model (256 kernels of
//! 15, 401 bp, 45 tracks, batch 64, AdamW, MSE) on burn's ndarray CPU backend.
//! `scripts/bench_train.sh` runs this and the same architecture in PyTorch (CPU) side by side.

use burn::backend::{Autodiff, NdArray};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use s2f::train::data::{Dataset, Modality};
use s2f::train::init::init_weights;
use s2f::train::loss::Loss;
use s2f::train::net::ParamStore;
use s2f::train::optim::{OptimConfig, Optimizer, OptimizerKind};
use s2f::train::presets::{preset, PresetSizes};
use s2f::train::trainer::{make_batch, train_step, TrainConfig};

type B = NdArray<f32>;

fn drg_shallow_steps(c: &mut Criterion) {
    let (n, l, tracks, batch) = (256usize, 401usize, 45usize, 64usize);
    let spec = preset("drg-shallow", PresetSizes::default(), &[("atac".into(), tracks)]).unwrap();
    let weights = init_weights(&spec.analyze().unwrap().weights, 1).unwrap();
    let mut s: u64 = 7;
    let mut x = vec![0f32; n * l * 4];
    for i in 0..n * l {
        s = s.wrapping_mul(6364136223846793005).wrapping_add(1);
        x[i * 4 + (s >> 62) as usize] = 1.0;
    }
    let values: Vec<f32> = (0..n * tracks).map(|i| (i % 13) as f32 / 13.0).collect();
    let data = Dataset {
        names: (0..n).map(|i| format!("s{i}")).collect(),
        chroms: vec![None; n],
        length: l,
        x,
        modalities: vec![Modality { name: "atac".into(), tracks: vec!["t".into(); tracks], bins: 1, values }],
        inputs: vec![],
    };
    let optim = OptimConfig {
        kind: OptimizerKind::AdamW { beta1: 0.9, beta2: 0.999, eps: 1e-8 },
        lr: 1e-3,
        weight_decay: 0.0,
        warmup: 0,
        clip: None,
    };
    let cfg = TrainConfig {
        loss: Loss::Mse,
        optim,
        epochs: 1,
        batch,
        patience: 0,
        lr_patience: 0,
        lr_factor: 0.5,
        rc: false,
        shift: 0,
        seed: 1,
        freeze: vec![],
        im2col: true,
        checkpoint: None,
        head_losses: vec![],
        count_weight: None,
    };
    let device = Default::default();
    let mut store = ParamStore::<B>::from_weights(&weights, &device);
    let mut opt = Optimizer::<B>::new(optim);
    let mut rng = s2f::train::init::stream(1, 2);
    let mut start = 0;
    let mut g = c.benchmark_group("train_drg_shallow_256x15_401bp_45tracks");
    g.sample_size(10);
    g.throughput(Throughput::Elements(1));
    let analysis = spec.analyze().unwrap();
    g.bench_function("ndarray_cpu_step_batch64", |b| {
        b.iter(|| {
            let idx: Vec<usize> = (start..start + batch).map(|i| i % n).collect();
            start += batch;
            let (xb, ys) = make_batch::<Autodiff<B>>(&spec, &data, &idx, &cfg, &mut rng, &device);
            train_step(&spec, &analysis, &[0], &mut store, &mut opt, &cfg, xb, ys).unwrap()
        })
    });
    g.finish();
}

criterion_group!(benches, drg_shallow_steps);
criterion_main!(benches);
