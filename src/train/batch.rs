//! Mini-batches for training: the inputs of a set of data points (the primary one-hot and any
//! further one-hot or signal inputs, in the layout the spec takes them) and their targets, with
//! the same random shift and strand applied to every input and target of a data point.

use burn::tensor::backend::Backend;
use burn::tensor::{Tensor, TensorData};
use rand::Rng;

use crate::genome::onehot::{extend_shifted_onehot, reverse_complement_onehot};
use crate::model::spec::ModelSpec;
use crate::train::data::Dataset;
use crate::train::trainer::TrainConfig;

/// One batch of model inputs: the primary one-hot `(n, L, 4)` and the further inputs (one-hot
/// or signal), in the spec's order and each in the layout the spec states.
pub struct BatchInputs<B: Backend> {
    /// Primary one-hot.
    pub x: Tensor<B, 3>,
    /// Further inputs.
    pub extra: Vec<Tensor<B, 3>>,
}

/// Assembles one batch of data points `idx`: the inputs ([`BatchInputs`]) and one
/// `(n, bins, tracks)` target tensor per modality, with the augmentation `cfg` asks for (the
/// same shift and strand for every input of a data point).
pub fn make_batch<B: Backend>(
    spec: &ModelSpec,
    data: &Dataset,
    idx: &[usize],
    cfg: &TrainConfig,
    rng: &mut impl Rng,
    device: &B::Device,
) -> (BatchInputs<B>, Vec<Tensor<B, 3>>) {
    let l = data.length;
    let mut extra: Vec<Vec<f32>> = data.inputs.iter().map(|d| Vec::with_capacity(idx.len() * d.width())).collect();
    let n_value = spec.input.n_value;
    let mut x = Vec::with_capacity(idx.len() * l * 4);
    let mut ys: Vec<Vec<f32>> = data.modalities.iter().map(|m| Vec::with_capacity(idx.len() * m.width())).collect();
    // Track pairs each modality's head swaps under reverse complement (stranded profiles).
    let pairs: Vec<&[[usize; 2]]> = data
        .modalities
        .iter()
        .map(|m| spec.heads.iter().find(|h| h.name == m.name).map(|h| h.strand_pairs.as_slice()).unwrap_or(&[]))
        .collect();
    for &i in idx {
        let seq = &data.x[i * l * 4..(i + 1) * l * 4];
        let rc = cfg.rc && rng.random_bool(0.5);
        let shift = if cfg.shift > 0 { rng.random_range(-(cfg.shift as i64)..=cfg.shift as i64) } else { 0 };
        let start = x.len();
        extend_shifted_onehot(&mut x, seq, shift, n_value);
        if rc {
            reverse_complement_onehot(&mut x[start..]);
        }
        for (d, e) in data.inputs.iter().zip(extra.iter_mut()) {
            let start = e.len();
            let row = &d.x[i * d.width()..(i + 1) * d.width()];
            if d.onehot {
                extend_shifted_onehot(e, row, shift, n_value);
                if rc {
                    reverse_complement_onehot(&mut e[start..]);
                }
            } else {
                extend_shifted_signal(e, row, d.channels, shift, rc);
            }
        }
        for ((m, y), pairs) in data.modalities.iter().zip(ys.iter_mut()).zip(&pairs) {
            let w = m.width();
            let row = &m.values[i * w..(i + 1) * w];
            if rc && m.bins > 1 {
                let t = m.tracks.len();
                for b in (0..m.bins).rev() {
                    let at = y.len();
                    y.extend_from_slice(&row[b * t..(b + 1) * t]);
                    for &[p, q] in pairs.iter() {
                        if p.max(q) < t {
                            y.swap(at + p, at + q);
                        }
                    }
                }
            } else {
                y.extend_from_slice(row);
            }
        }
    }
    let n = idx.len();
    let xt = Tensor::from_data(TensorData::new(x, [n, l, 4]), device);
    let extra =
        data.inputs.iter().zip(extra).zip(&spec.inputs).map(|((d, e), i)| input_tensor(e, d, i, n, device)).collect();
    let yts = data
        .modalities
        .iter()
        .zip(ys)
        .map(|(m, y)| Tensor::from_data(TensorData::new(y, [n, m.bins, m.tracks.len()]), device))
        .collect();
    (BatchInputs { x: xt, extra }, yts)
}

/// Signal `row` `(L, channels)` shifted by `shift` positions (0 shifted in) and, with `rc`,
/// reversed along positions with two channels (strands) swapped, appended to `out`.
fn extend_shifted_signal(out: &mut Vec<f32>, row: &[f32], channels: usize, shift: i64, rc: bool) {
    let l = row.len() / channels.max(1);
    let start = out.len();
    for p in 0..l as i64 {
        let src = p - shift;
        if (0..l as i64).contains(&src) {
            out.extend_from_slice(&row[src as usize * channels..(src as usize + 1) * channels]);
        } else {
            out.extend(std::iter::repeat_n(0.0, channels));
        }
    }
    if rc {
        let seg = &mut out[start..];
        // Reverse positions, keeping each position's channels together.
        for p in 0..l / 2 {
            for c in 0..channels {
                seg.swap(p * channels + c, (l - 1 - p) * channels + c);
            }
        }
        if channels == 2 {
            for p in 0..l {
                seg.swap(p * 2, p * 2 + 1);
            }
        }
    }
}

/// A further input's batch `(n, L, C)` as the tensor the model takes: transposed to
/// `(n, C, L)` when the spec's input is channels-first.
pub(crate) fn input_tensor<B: Backend>(
    v: Vec<f32>,
    d: &crate::train::multi::InputData,
    spec_input: &crate::model::graph::ExtraInput,
    n: usize,
    device: &B::Device,
) -> Tensor<B, 3> {
    let t = Tensor::<B, 3>::from_data(TensorData::new(v, [n, d.length, d.channels]), device);
    match spec_input.layout {
        crate::model::spec::InputLayout::NLC => t,
        crate::model::spec::InputLayout::NCL => t.swap_dims(1, 2),
    }
}
