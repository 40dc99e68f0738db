//! One-hot encoding of DNA.
//!
//! Channel order is A, C, G, T. Lowercase (soft-masked) bases encode like uppercase. `N`, the
//! IUPAC ambiguity codes (R, Y, K, M, S, W, B, D, H, V) and any other byte encode as
//! `n_value` in all four channels: 0 for basenji, 0.25 for DRG and kipoiseq.
//!
//! Two layouts: [`Layout::LengthFirst`] is `(L, 4)` per sequence (s2f's canonical `(N, L, 4)`,
//! Keras' channels-last); [`Layout::ChannelsFirst`] is `(4, L)` (PyTorch's `(N, 4, L)`).
//! In both layouts the reverse complement of one encoded sequence is the reversal of its flat
//! buffer: positions reverse and channels go 3, 2, 1, 0 (A↔T, C↔G).

use crate::error::{Error, Result};

/// Memory layout of one encoded sequence.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Layout {
    /// `(L, 4)`: the four channels of a position are adjacent.
    #[default]
    LengthFirst,
    /// `(4, L)`: one plane of `L` values per channel.
    ChannelsFirst,
}

/// Numbers a one-hot array can hold.
pub trait OneHotValue: Copy + Default + Send + Sync + 'static {
    /// The value 1.
    const ONE: Self;
    /// Converts an N value, or `None` if this type cannot hold it exactly (0.25 in an int8).
    fn from_n_value(v: f32) -> Option<Self>;
}

impl OneHotValue for f32 {
    const ONE: Self = 1.0;
    fn from_n_value(v: f32) -> Option<Self> {
        Some(v)
    }
}

impl OneHotValue for i8 {
    const ONE: Self = 1;
    fn from_n_value(v: f32) -> Option<Self> {
        (v == 0.0 || v == 1.0).then_some(v as i8)
    }
}

impl OneHotValue for u8 {
    const ONE: Self = 1;
    fn from_n_value(v: f32) -> Option<Self> {
        (v == 0.0 || v == 1.0).then_some(v as u8)
    }
}

/// Channel of a base byte (A=0, C=1, G=2, T=3, case-insensitive), or `None` for N and others.
pub fn base_index(b: u8) -> Option<usize> {
    match b {
        b'A' | b'a' => Some(0),
        b'C' | b'c' => Some(1),
        b'G' | b'g' => Some(2),
        b'T' | b't' => Some(3),
        _ => None,
    }
}

/// Checks model input `(N, L, C)` (one-hot: C = 4), length-first and flattened in `x`, before it
/// reaches a model: at least one sequence, every value finite, and, when `n_value` is given,
/// every value 0, 1 or `n_value` (what [`Encoder`] writes). `source` names the input in errors,
/// which give the sequence, position and channel of the first offending value.
pub fn check_onehot(
    x: &[f32],
    len: usize,
    channels: usize,
    n_value: Option<f32>,
    source: &std::path::Path,
) -> Result<()> {
    if x.is_empty() || len == 0 || channels == 0 {
        return Err(Error::Empty { path: source.into(), what: "no sequences in the input (shape (0, L, 4))".into() });
    }
    let allowed = |v: f32| match n_value {
        None => v.is_finite(),
        Some(n) => v == 0.0 || v == 1.0 || v == n,
    };
    if let Some(i) = x.iter().position(|&v| !allowed(v)) {
        let what = if x[i].is_finite() {
            format!("is not one-hot (values must be 0, 1 or the model's N value {})", n_value.unwrap_or(f32::NAN))
        } else {
            "is not finite".to_string()
        };
        return Err(Error::malformed(
            source,
            format!("sequence {}, position {}, channel {}", i / (channels * len), (i / channels) % len, i % channels),
            format!("value {} {what}", x[i]),
        ));
    }
    Ok(())
}

/// A one-hot encoder with a 256-entry look-up table; build once, reuse for every sequence.
#[derive(Clone)]
pub struct Encoder<T> {
    lut: Box<[[T; 4]; 256]>,
}

impl<T: OneHotValue> Encoder<T> {
    /// An encoder writing `n_value` for non-ACGT bytes; fails if `T` cannot hold `n_value`.
    pub fn new(n_value: f32) -> Result<Self> {
        if !(n_value.is_finite() && (0.0..=1.0).contains(&n_value)) {
            return Err(Error::InvalidArgument(format!(
                "N value {n_value} is not in [0, 1] (0 for basenji, 0.25 for DRG)"
            )));
        }
        let n = T::from_n_value(n_value).ok_or_else(|| {
            Error::InvalidArgument(format!(
                "N value {n_value} cannot be stored in {} (use float32 output)",
                std::any::type_name::<T>()
            ))
        })?;
        let mut lut = Box::new([[n; 4]; 256]);
        for b in 0..=255u8 {
            if let Some(c) = base_index(b) {
                let mut row = [T::default(); 4];
                row[c] = T::ONE;
                lut[b as usize] = row;
            }
        }
        Ok(Self { lut })
    }

    /// Encodes `seq` into `out`, which must hold exactly `4 * seq.len()` values.
    pub fn encode_into(&self, seq: &[u8], layout: Layout, out: &mut [T]) -> Result<()> {
        if out.len() != 4 * seq.len() {
            return Err(Error::InvalidArgument(format!(
                "one-hot buffer holds {} values, sequence of {} bases needs {}",
                out.len(),
                seq.len(),
                4 * seq.len()
            )));
        }
        match layout {
            Layout::LengthFirst => {
                for (o, &b) in out.chunks_exact_mut(4).zip(seq) {
                    o.copy_from_slice(&self.lut[b as usize]);
                }
            }
            Layout::ChannelsFirst => {
                let l = seq.len();
                for c in 0..4 {
                    for (o, &b) in out[c * l..(c + 1) * l].iter_mut().zip(seq) {
                        *o = self.lut[b as usize][c];
                    }
                }
            }
        }
        Ok(())
    }

    /// Encodes `seq` into a new buffer.
    pub fn encode(&self, seq: &[u8], layout: Layout) -> Vec<T> {
        let mut out = vec![T::default(); 4 * seq.len()];
        // The buffer is sized above, so this cannot fail.
        let _ = self.encode_into(seq, layout, &mut out);
        out
    }
}

/// Reverse-complements one encoded sequence in place (either layout): positions reverse and
/// channels go 3, 2, 1, 0 (A↔T, C↔G), which is the reversal of the flat buffer. The one
/// implementation of the one-hot reverse complement: test-time augmentation
/// ([`crate::engine::ensemble`]) and training augmentation call it.
pub fn reverse_complement_onehot<T>(encoded: &mut [T]) {
    encoded.reverse();
}

/// Appends one encoded sequence in the `(L, 4)` layout ([`Layout::LengthFirst`]) to `out`,
/// shifted by `shift` positions: a positive shift moves the sequence right
/// (`shifted[i] = encoded[i − shift]`), a negative one left, and the vacated positions hold
/// `pad` in all four channels (all of them when `|shift| ≥ L`). Exactly `4 · L` values are
/// appended, `L = encoded.len() / 4`; a trailing partial position is ignored. The one
/// implementation of the one-hot shift, used by test-time and training augmentation.
pub fn extend_shifted_onehot<T: Copy>(out: &mut Vec<T>, encoded: &[T], shift: i64, pad: T) {
    let l = (encoded.len() / 4) as i64;
    let s = shift.clamp(-l, l);
    // Padding before, the kept source positions [from, to), padding after.
    let (lead, from, to, trail) = if s >= 0 { (s, 0, l - s, 0) } else { (0, -s, l, -s) };
    out.reserve(4 * l as usize);
    out.extend(std::iter::repeat_n(pad, 4 * lead as usize));
    out.extend_from_slice(&encoded[4 * from as usize..4 * to as usize]);
    out.extend(std::iter::repeat_n(pad, 4 * trail as usize));
}

/// The complement of a base byte, preserving case; IUPAC codes map to their complements and
/// anything unknown to `N`/`n`.
pub fn complement(b: u8) -> u8 {
    let c = match b.to_ascii_uppercase() {
        b'A' => b'T',
        b'T' | b'U' => b'A',
        b'C' => b'G',
        b'G' => b'C',
        b'R' => b'Y',
        b'Y' => b'R',
        b'K' => b'M',
        b'M' => b'K',
        b'S' => b'S',
        b'W' => b'W',
        b'B' => b'V',
        b'V' => b'B',
        b'D' => b'H',
        b'H' => b'D',
        _ => b'N',
    };
    if b.is_ascii_lowercase() {
        c.to_ascii_lowercase()
    } else {
        c
    }
}

/// The reverse complement of a sequence.
pub fn reverse_complement(seq: &[u8]) -> Vec<u8> {
    seq.iter().rev().map(|&b| complement(b)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_acgt_lowercase_and_n() {
        let e = Encoder::<f32>::new(0.25).unwrap();
        let x = e.encode(b"AcGtNR", Layout::LengthFirst);
        #[rustfmt::skip]
        let want = [1., 0., 0., 0.,  0., 1., 0., 0.,  0., 0., 1., 0.,  0., 0., 0., 1.,
                    0.25, 0.25, 0.25, 0.25,  0.25, 0.25, 0.25, 0.25];
        assert_eq!(x, want);
    }

    #[test]
    fn channels_first_is_the_transpose() {
        let e = Encoder::<i8>::new(0.0).unwrap();
        let seq = b"ACGTTN";
        let a = e.encode(seq, Layout::LengthFirst);
        let b = e.encode(seq, Layout::ChannelsFirst);
        for i in 0..seq.len() {
            for c in 0..4 {
                assert_eq!(a[i * 4 + c], b[c * seq.len() + i]);
            }
        }
        assert_eq!(&b[0..6], &[1, 0, 0, 0, 0, 0]);
        assert_eq!(&b[18..24], &[0, 0, 0, 1, 1, 0]);
    }

    #[test]
    fn int8_rejects_quarter() {
        assert!(Encoder::<i8>::new(0.25).is_err());
        assert!(Encoder::<i8>::new(0.0).is_ok());
    }

    #[test]
    fn rc_of_encoding_equals_encoding_of_rc() {
        let e = Encoder::<f32>::new(0.25).unwrap();
        let seq = b"AACGTNGGTtca";
        for layout in [Layout::LengthFirst, Layout::ChannelsFirst] {
            let mut x = e.encode(seq, layout);
            reverse_complement_onehot(&mut x);
            assert_eq!(x, e.encode(&reverse_complement(seq), layout));
        }
        assert_eq!(reverse_complement(b"ACGTNacgtRYKM"), b"KMRYacgtNACGT".to_vec());
    }

    #[test]
    fn shift_moves_right_pads_and_saturates() {
        let e = Encoder::<f32>::new(0.0).unwrap();
        let x = e.encode(b"ACGT", Layout::LengthFirst);
        let shifted = |s: i64| {
            let mut out = vec![9.0];
            extend_shifted_onehot(&mut out, &x, s, 0.25);
            out.split_off(1)
        };
        assert_eq!(shifted(0), x);
        let mut want = vec![0.25; 4];
        want.extend_from_slice(&x[..12]);
        assert_eq!(shifted(1), want);
        let mut want = x[8..].to_vec();
        want.extend([0.25; 8]);
        assert_eq!(shifted(-2), want);
        assert_eq!(shifted(4), [0.25; 16]);
        assert_eq!(shifted(-9), [0.25; 16]);
    }

    #[test]
    fn wrong_buffer_size_is_an_error() {
        let e = Encoder::<f32>::new(0.0).unwrap();
        let mut out = vec![0.0; 7];
        assert!(e.encode_into(b"AC", Layout::LengthFirst, &mut out).is_err());
    }
}
