//! Seeded weight initialisation for a spec.
//!
//! Convolution, dense and linear kernels: uniform in ±1/√fan_in (PyTorch's default for
//! `Conv1d`/`Linear`, which DRG uses), fan_in = input channels × kernel width (or input
//! features); biases zero; batch norm γ = 1, β = 0, running mean 0, variance 1. Values are drawn
//! on the host from a ChaCha8 stream seeded with `seed`, in the spec's weight order, so a seed
//! gives the same weights on every backend and machine.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::error::Result;
use crate::model::spec::WeightSlot;
use crate::model::weights::{Tensor, Weights};

/// Fresh values for `slots`.
pub fn init_weights(slots: &[WeightSlot], seed: u64) -> Result<Weights> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut w = Weights::default();
    for s in slots {
        w.insert(s.name.clone(), init_slot(s, &mut rng)?);
    }
    Ok(w)
}

/// Fresh values for one slot (used when a head is replaced or added).
pub fn init_slot(s: &WeightSlot, rng: &mut ChaCha8Rng) -> Result<Tensor> {
    let n: usize = s.shape.iter().product();
    let param = s.name.rsplit('.').next().unwrap_or("");
    let data = match param {
        "weight" => {
            let fan_in: usize = s.shape.iter().skip(1).product::<usize>().max(1);
            let bound = 1.0 / (fan_in as f32).sqrt();
            (0..n).map(|_| rng.random_range(-bound..bound)).collect()
        }
        "gamma" | "var" => vec![1.0; n],
        _ => vec![0.0; n],
    };
    Tensor::new(s.shape.clone(), data)
}

/// A ChaCha8 stream for `seed` and a purpose tag, so that streams for initialisation, shuffling
/// and augmentation do not depend on each other's use.
pub fn stream(seed: u64, purpose: u64) -> ChaCha8Rng {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(purpose);
    rng
}
