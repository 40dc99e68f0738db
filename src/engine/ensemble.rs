//! Test-time augmentation with basenji's semantics.
//!
//! For each shift `s` (positive moves the sequence right: `out[i] = in[i − s]`, the vacated
//! positions filled with `pad` in all four channels — basenji 2020 pads with 0.25) and, when
//! asked, its reverse complement (channels and positions reversed; the prediction is flipped
//! back along the bin axis), predict, then take the arithmetic mean. Predictions are not
//! shifted back: shifts are meant to be smaller than a bin, as in basenji's `build_ensemble`.

use ndarray::{s, Array3, ArrayView3, Axis};

use crate::engine::Predictor;
use crate::error::{Error, Result};

/// The augmentations to average.
#[derive(Debug, Clone, PartialEq)]
pub struct Augment {
    /// Shifts in bp (0 = the sequence as is).
    pub shifts: Vec<i64>,
    /// Also predict each reverse complement.
    pub rc: bool,
    /// Value of shifted-in positions in all four channels.
    pub pad: f32,
}

impl Default for Augment {
    fn default() -> Self {
        Self { shifts: vec![0], rc: false, pad: 0.25 }
    }
}

impl Augment {
    /// Number of forward passes per sequence.
    pub fn passes(&self) -> usize {
        self.shifts.len() * if self.rc { 2 } else { 1 }
    }
}

/// Shifts one-hot `(N, L, 4)` by `s` positions, filling with `pad`.
pub fn shift(x: ArrayView3<f32>, s: i64, pad: f32) -> Array3<f32> {
    let l = x.shape()[1] as i64;
    let mut out = Array3::from_elem(x.raw_dim(), pad);
    if s.abs() < l {
        let (dst, src) = if s >= 0 { (s..l, 0..l - s) } else { (0..l + s, -s..l) };
        out.slice_mut(s![.., dst.start as usize..dst.end as usize, ..]).assign(&x.slice(s![
            ..,
            src.start as usize..src.end as usize,
            ..
        ]));
    }
    out
}

/// Reverse complement of one-hot `(N, L, 4)` in A, C, G, T order.
pub fn reverse_complement(x: ArrayView3<f32>) -> Array3<f32> {
    let mut v = x.to_owned();
    v.invert_axis(Axis(1));
    v.invert_axis(Axis(2));
    v.as_standard_layout().into_owned()
}

/// Predicts with every augmentation and returns the mean `(N, bins, tracks)`.
pub fn predict_ensemble(p: &mut Predictor, x: ArrayView3<f32>, aug: &Augment) -> Result<Array3<f32>> {
    if aug.shifts.is_empty() {
        return Err(Error::InvalidArgument("at least one shift (0 for none) is needed".into()));
    }
    let mut sum: Option<Array3<f32>> = None;
    for &s in &aug.shifts {
        let xs = if s == 0 { x.to_owned() } else { shift(x, s, aug.pad) };
        for rc in [false, true].into_iter().take(if aug.rc { 2 } else { 1 }) {
            let y = if rc {
                let mut y = p.predict(reverse_complement(xs.view()).view())?;
                y.invert_axis(Axis(1));
                y
            } else {
                p.predict(xs.view())?
            };
            match &mut sum {
                None => sum = Some(y.as_standard_layout().into_owned()),
                Some(acc) => *acc += &y,
            }
        }
    }
    let mut mean = sum.unwrap_or_default();
    mean /= aug.passes() as f32;
    Ok(mean)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shift_moves_right_and_pads() {
        let x = Array3::from_shape_fn((1, 4, 4), |(_, l, c)| if c == l { 1.0 } else { 0.0 });
        let r = shift(x.view(), 1, 0.25);
        assert_eq!(r.slice(s![0, 0, ..]).to_vec(), [0.25; 4]);
        assert_eq!(r.slice(s![0, 1, ..]).to_vec(), [1.0, 0.0, 0.0, 0.0]);
        let l = shift(x.view(), -1, 0.25);
        assert_eq!(l.slice(s![0, 0, ..]).to_vec(), [0.0, 1.0, 0.0, 0.0]);
        assert_eq!(l.slice(s![0, 3, ..]).to_vec(), [0.25; 4]);
        let rc = reverse_complement(x.view());
        // Last position was T (channel 3) → first position is A (channel 0).
        assert_eq!(rc.slice(s![0, 0, ..]).to_vec(), [1.0, 0.0, 0.0, 0.0]);
    }
}
