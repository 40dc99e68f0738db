//! The ONNX emitter against an independent, naive forward pass written here from the op
//! definitions in the spec docs, for every op of the vocabulary; run on every engine.

mod common;

use common::{engines, every_op_spec};

use ndarray::Array3;
use s2f::engine::{create, Device, Predictor};
use s2f::model::onnx::{emit, EmitOptions};
use s2f::model::ops::*;
use s2f::model::spec::{Activation, Layer, Padding, PoolPad};
use s2f::model::{Package, Weights};

/// A (channels, length) tensor for the reference.
type T = Vec<Vec<f64>>;

fn w(ws: &Weights, name: &str) -> Vec<f64> {
    ws.get(name).unwrap().data.iter().map(|&v| v as f64).collect()
}

fn act(f: Activation, x: f64) -> f64 {
    match f {
        Activation::Relu => x.max(0.0),
        Activation::GeluErf => 0.5 * x * (1.0 + erf(x / 2f64.sqrt())),
        Activation::GeluTanh => {
            0.5 * x * (1.0 + ((2.0 / std::f64::consts::PI).sqrt() * (x + 0.044715 * x * x * x)).tanh())
        }
        Activation::GeluSigmoid => x / (1.0 + (-1.702 * x).exp()),
        Activation::Softplus => (1.0 + x.exp()).ln(),
        Activation::Exp => x.exp(),
        Activation::Sigmoid => 1.0 / (1.0 + (-x).exp()),
        Activation::Log1p => x.ln_1p(),
    }
}

/// erf from the Chebyshev fit of erfc in Numerical Recipes (fractional error < 1.2e-7).
fn erf(x: f64) -> f64 {
    let z = x.abs();
    let t = 1.0 / (1.0 + 0.5 * z);
    let poly = -z * z - 1.26551223
        + t * (1.00002368
            + t * (0.37409196
                + t * (0.09678418
                    + t * (-0.18628806
                        + t * (0.27886807
                            + t * (-1.13520398 + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277))))))));
    let erfc = t * poly.exp();
    if x >= 0.0 {
        1.0 - erfc
    } else {
        erfc - 1.0
    }
}

enum V {
    Seq(T),
    Flat(Vec<f64>),
}

fn reference(layers: &[Layer], ws: &Weights, path: &str, mut v: V) -> V {
    for (i, layer) in layers.iter().enumerate() {
        let p = format!("{path}.{i}");
        let prefix = |name: &Option<String>| name.clone().unwrap_or(p.clone());
        v = match (layer, v) {
            (Layer::Conv1d(Conv1d { name, filters, kernel, dilation, bias, padding }), V::Seq(x)) => {
                let wt = w(ws, &format!("{}.weight", prefix(name)));
                let b = if *bias { w(ws, &format!("{}.bias", prefix(name))) } else { vec![0.0; *filters] };
                let (c, l) = (x.len(), x[0].len());
                let span = dilation * (kernel - 1);
                let (left, lo) = match padding {
                    Padding::Same => (span / 2, l),
                    Padding::Valid => (0, l - span),
                };
                let y = (0..*filters)
                    .map(|o| {
                        (0..lo)
                            .map(|t| {
                                let mut s = b[o];
                                for ci in 0..c {
                                    for j in 0..*kernel {
                                        let pos = t as i64 + (j * dilation) as i64 - left as i64;
                                        if pos >= 0 && (pos as usize) < l {
                                            s += wt[(o * c + ci) * kernel + j] * x[ci][pos as usize];
                                        }
                                    }
                                }
                                s
                            })
                            .collect()
                    })
                    .collect();
                V::Seq(y)
            }
            (Layer::BatchNorm(BatchNorm { name, eps }), V::Seq(x)) => {
                let pre = prefix(name);
                let (g, b, m, var) = (
                    w(ws, &format!("{pre}.gamma")),
                    w(ws, &format!("{pre}.beta")),
                    w(ws, &format!("{pre}.mean")),
                    w(ws, &format!("{pre}.var")),
                );
                V::Seq(
                    x.iter()
                        .enumerate()
                        .map(|(c, row)| {
                            row.iter().map(|&v| g[c] * (v - m[c]) / (var[c] + *eps as f64).sqrt() + b[c]).collect()
                        })
                        .collect(),
                )
            }
            (Layer::Activation(ActivationLayer { function }), V::Seq(x)) => {
                V::Seq(x.iter().map(|r| r.iter().map(|&v| act(*function, v)).collect()).collect())
            }
            (Layer::Activation(ActivationLayer { function }), V::Flat(x)) => {
                V::Flat(x.iter().map(|&v| act(*function, v)).collect())
            }
            (Layer::MaxPool(MaxPool { size }), V::Seq(x)) => V::Seq(
                x.iter()
                    .map(|r| r.chunks_exact(*size).map(|c| c.iter().cloned().fold(f64::MIN, f64::max)).collect())
                    .collect(),
            ),
            (Layer::AvgPool(AvgPool { size }), V::Seq(x)) => V::Seq(
                x.iter()
                    .map(|r| r.chunks_exact(*size).map(|c| c.iter().sum::<f64>() / *size as f64).collect())
                    .collect(),
            ),
            (Layer::WeightedPool(WeightedPool { size, pad_left, pad_right, pad_value }), V::Seq(x)) => {
                let pv = match pad_value {
                    PoolPad::Min => x.iter().flatten().cloned().fold(f64::MAX, f64::min),
                    PoolPad::Value(v) => *v as f64,
                };
                V::Seq(
                    x.iter()
                        .map(|r| {
                            let mut padded = vec![pv; *pad_left];
                            padded.extend(r);
                            padded.extend(vec![pv; *pad_right]);
                            padded
                                .chunks_exact(*size)
                                .map(|c| {
                                    let mx = c.iter().cloned().fold(f64::MIN, f64::max);
                                    let z: f64 = c.iter().map(|v| (v - mx).exp()).sum();
                                    c.iter().map(|v| v * (v - mx).exp() / z).sum()
                                })
                                .collect()
                        })
                        .collect(),
                )
            }
            (Layer::Crop(Crop { left, right }), V::Seq(x)) => {
                V::Seq(x.iter().map(|r| r[*left..r.len() - right].to_vec()).collect())
            }
            (Layer::Pad(Pad { left, right, value }), V::Seq(x)) => V::Seq(
                x.iter()
                    .map(|r| {
                        let mut v = vec![*value as f64; *left];
                        v.extend(r);
                        v.extend(vec![*value as f64; *right]);
                        v
                    })
                    .collect(),
            ),
            (Layer::Residual(Residual { layers }), V::Seq(x)) => {
                let V::Seq(y) = reference(layers, ws, &p, V::Seq(x.clone())) else { panic!() };
                V::Seq(x.iter().zip(&y).map(|(a, b)| a.iter().zip(b).map(|(u, v)| u + v).collect()).collect())
            }
            (Layer::StrandMax(StrandMax { layers }), V::Seq(x)) => {
                let rc: T = x.iter().rev().map(|r| r.iter().rev().cloned().collect()).collect();
                let V::Seq(f) = reference(layers, ws, &p, V::Seq(x)) else { panic!() };
                let V::Seq(r) = reference(layers, ws, &p, V::Seq(rc)) else { panic!() };
                V::Seq(
                    f.iter()
                        .zip(&r)
                        .map(|(a, b)| a.iter().zip(b.iter().rev()).map(|(u, v)| u.max(*v)).collect())
                        .collect(),
                )
            }
            (Layer::Dense(Dense { name, units, bias }), V::Seq(x)) => {
                let wt = w(ws, &format!("{}.weight", prefix(name)));
                let b = if *bias { w(ws, &format!("{}.bias", prefix(name))) } else { vec![0.0; *units] };
                let c = x.len();
                V::Seq(
                    (0..*units)
                        .map(|o| {
                            (0..x[0].len())
                                .map(|t| b[o] + (0..c).map(|ci| wt[o * c + ci] * x[ci][t]).sum::<f64>())
                                .collect()
                        })
                        .collect(),
                )
            }
            (Layer::Flatten(_), V::Seq(x)) => V::Flat(x.into_iter().flatten().collect()),
            (Layer::Linear(Linear { name, units, bias }), V::Flat(x)) => {
                let wt = w(ws, &format!("{}.weight", prefix(name)));
                let b = if *bias { w(ws, &format!("{}.bias", prefix(name))) } else { vec![0.0; *units] };
                V::Flat(
                    (0..*units)
                        .map(|o| b[o] + x.iter().enumerate().map(|(i, v)| wt[o * x.len() + i] * v).sum::<f64>())
                        .collect(),
                )
            }
            (Layer::GlobalPool(GlobalPool { function, across_channels }), V::Seq(x)) => {
                let per: Vec<f64> = x.iter().map(|row| row.iter().sum::<f64>()).collect();
                let (sums, count) = if *across_channels {
                    (vec![per.iter().sum::<f64>()], x.len() * x[0].len())
                } else {
                    (per, x[0].len())
                };
                match function {
                    PoolFn::Sum => V::Flat(sums),
                    PoolFn::Mean => V::Flat(sums.into_iter().map(|v| v / count as f64).collect()),
                }
            }
            _ => panic!("reference: op/shape combination not covered"),
        };
    }
    v
}

fn input(n: usize, l: usize, seed: u64) -> Array3<f32> {
    let mut s = seed;
    Array3::from_shape_fn((n, l, 4), |(_, _, _)| {
        s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        ((s >> 33) as f64 / (1u64 << 31) as f64) as f32
    })
}

#[test]
fn every_op_matches_the_naive_reference_on_every_engine() {
    let spec = every_op_spec();
    let a = spec.analyze().unwrap();
    assert_eq!(a.heads[0].1.bins, (((64 + 4) / 2) - 4) as u64 / 2);
    assert_eq!(a.heads[1].1.bins, 1);
    let weights = Weights::random(&a.weights, 7);
    let x = input(3, 64, 11);
    for fold_bn in [false, true] {
        let onnx = emit(&spec, &weights, EmitOptions { fold_bn }).unwrap();
        let pkg = Package { path: "mem".into(), spec: Some(spec.clone()), onnx, weights: None };
        for kind in engines() {
            for (h, head) in spec.heads.iter().enumerate() {
                let mut p = Predictor::new(&pkg, create(kind, Device::Cpu, &pkg.onnx).unwrap(), h, 2).unwrap();
                let y = p.predict(x.view()).unwrap();
                for n in 0..3 {
                    let xin: Vec<Vec<f64>> = (0..4).map(|c| (0..64).map(|l| x[[n, l, c]] as f64).collect()).collect();
                    let trunk = reference(&spec.trunk, &weights, "trunk", V::Seq(xin));
                    let want: Vec<Vec<f64>> =
                        match reference(&head.layers, &weights, &format!("head.{}", head.name), trunk) {
                            V::Seq(t) => (0..t[0].len()).map(|b| t.iter().map(|row| row[b]).collect()).collect(),
                            V::Flat(f) => vec![f],
                        };
                    assert_eq!(y.shape()[1..], [want.len(), want[0].len()], "head {}", head.name);
                    for (b, row) in want.iter().enumerate() {
                        for (t, v) in row.iter().enumerate() {
                            let got = y[[n, b, t]] as f64;
                            assert!(
                                (got - v).abs() <= 1e-4 * (1.0 + v.abs()),
                                "{kind:?} fold_bn={fold_bn} head {} [{n},{b},{t}]: {got} vs {v}",
                                head.name
                            );
                        }
                    }
                }
            }
        }
    }
}
