//! Test-time augmentation with basenji's semantics.
//!
//! For each shift `s` (positive moves the sequence right: `out[i] = in[i − s]`, the vacated
//! positions filled with `pad` in all four channels — basenji 2020 pads with 0.25) and, when
//! asked, its reverse complement (channels and positions reversed; the prediction is flipped
//! back along the bin axis), predict, then take the arithmetic mean. Predictions are not
//! shifted back: shifts are meant to be smaller than a bin, as in basenji's `build_ensemble`.

use std::borrow::Cow;

use ndarray::{Array3, ArrayView3, Axis};

use crate::engine::Predictor;
use crate::error::{Error, Result};
use crate::genome::onehot::{extend_shifted_onehot, reverse_complement_onehot};

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

    /// Checks the augmentations for windows of `len` bp: at least one shift, every shift
    /// smaller than the window (a shift of the whole window would predict on padding alone),
    /// and a finite padding value in [0, 1].
    pub fn check(&self, len: usize) -> Result<()> {
        if self.shifts.is_empty() {
            return Err(Error::InvalidArgument("at least one shift (0 for none) is needed".into()));
        }
        if let Some(s) = self.shifts.iter().find(|s| s.unsigned_abs() >= len as u64) {
            return Err(Error::InvalidArgument(format!(
                "shift {s} bp is not smaller than the {len}-bp window (shifts are meant to be a few bp)"
            )));
        }
        if !(self.pad.is_finite() && (0.0..=1.0).contains(&self.pad)) {
            return Err(Error::InvalidArgument(format!("shift padding {} is not in [0, 1]", self.pad)));
        }
        Ok(())
    }
}

/// Shifts one-hot `(N, L, 4)` by `s` positions (positive moves right), filling with `pad`;
/// per sequence by [`extend_shifted_onehot`].
pub fn shift(x: ArrayView3<f32>, s: i64, pad: f32) -> Array3<f32> {
    map_sequences(x, |seq, out| extend_shifted_onehot(out, seq, s, pad))
}

/// Reverse complement of one-hot `(N, L, 4)` in A, C, G, T order; per sequence by
/// [`reverse_complement_onehot`].
pub fn reverse_complement(x: ArrayView3<f32>) -> Array3<f32> {
    map_sequences(x, |seq, out| {
        out.extend_from_slice(seq);
        reverse_complement_onehot(out);
    })
}

/// A new standard-layout array whose sequence `n` is what `f` appends to an empty buffer
/// given sequence `n` of `x` as a flat `(L, 4)` slice. `f` must append `L · 4` values (the
/// helpers above do); missing ones stay 0.
fn map_sequences(x: ArrayView3<f32>, f: impl Fn(&[f32], &mut Vec<f32>)) -> Array3<f32> {
    let mut out = Array3::zeros(x.raw_dim());
    let mut buf = Vec::with_capacity(x.shape()[1] * x.shape()[2]);
    for (src, mut dst) in x.outer_iter().zip(out.outer_iter_mut()) {
        let src: Cow<[f32]> = match src.as_slice() {
            Some(s) => Cow::Borrowed(s),
            None => Cow::Owned(src.iter().copied().collect()),
        };
        buf.clear();
        f(&src, &mut buf);
        dst.iter_mut().zip(&buf).for_each(|(d, s)| *d = *s);
    }
    out
}

/// Predicts with every augmentation and returns the mean `(N, bins, tracks)`.
pub fn predict_ensemble(p: &mut Predictor, x: ArrayView3<f32>, aug: &Augment) -> Result<Array3<f32>> {
    aug.check(x.shape()[1])?;
    if (aug.rc || aug.shifts.iter().any(|&s| s != 0)) && x.shape()[2] != 4 {
        return Err(Error::InvalidArgument(format!(
            "shift and reverse-complement augmentation need one-hot (N, L, 4) input, not {:?}",
            x.shape()
        )));
    }
    let mut sum: Option<Array3<f32>> = None;
    for &s in &aug.shifts {
        let xs = if s == 0 { x.to_owned() } else { shift(x, s, aug.pad) };
        for rc in [false, true].into_iter().take(if aug.rc { 2 } else { 1 }) {
            let y = if rc {
                let mut y = p.predict(reverse_complement(xs.view()).view())?;
                y.invert_axis(Axis(1));
                // The reverse strand's + track is the forward strand's − track.
                let mut y = y.as_standard_layout().into_owned();
                for &[a, b] in p.strand_pairs() {
                    if a.max(b) < y.shape()[2] {
                        let (ya, yb) = (y.index_axis(Axis(2), a).to_owned(), y.index_axis(Axis(2), b).to_owned());
                        y.index_axis_mut(Axis(2), a).assign(&yb);
                        y.index_axis_mut(Axis(2), b).assign(&ya);
                    }
                }
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
    use ndarray::s;

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
