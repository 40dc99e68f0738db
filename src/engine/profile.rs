//! Base-pair profile heads as counts: BPNet/ChromBPNet output a profile as logits over bins and
//! strands, and a separate log total count per window (see
//! [`crate::model::spec::Head::profile_counts`]).

use ndarray::{Array3, ArrayView3};

use crate::error::{Error, Result};

/// Profile logits `(N, bins, T)` and log counts `(N, 1, 1)` as `(N, bins, T + 1)`: columns
/// `0..T` the expected counts softmax(logits) · exp(log count), with one softmax per sequence
/// over bins and tracks jointly (bpnet-lite's multinomial over both strands); column `T` the
/// log count itself, repeated in every bin (so that flipping bins for reverse-complement
/// averaging leaves it in place).
///
/// exp(log count), not exp(log count) − 1, as ChromBPNet's bigWig writer scales its profiles:
/// the two differ by less than one read per window. The softmax runs in f64 after subtracting
/// the sequence's largest logit, so large logits do not overflow.
pub fn profile_as_counts(logits: ArrayView3<f32>, log_counts: ArrayView3<f32>) -> Result<Array3<f32>> {
    let (n, bins, t) = logits.dim();
    if log_counts.dim() != (n, 1, 1) {
        return Err(Error::InvalidArgument(format!(
            "the count head outputs {:?}; a profile of {n} sequences needs ({n}, 1, 1)",
            log_counts.shape()
        )));
    }
    let mut out = Array3::<f32>::zeros((n, bins, t + 1));
    for s in 0..n {
        let z = logits.index_axis(ndarray::Axis(0), s);
        let max = z.iter().fold(f64::NEG_INFINITY, |m, &v| m.max(v as f64));
        let total: f64 = z.iter().map(|&v| (v as f64 - max).exp()).sum();
        let count = log_counts[[s, 0, 0]];
        let scale = (count as f64).exp() / total;
        for b in 0..bins {
            for k in 0..t {
                out[[s, b, k]] = ((z[[b, k]] as f64 - max).exp() * scale) as f32;
            }
            out[[s, b, t]] = count;
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_sum_to_the_total_and_follow_the_softmax() {
        let logits = Array3::from_shape_fn((2, 5, 2), |(s, b, k)| (s as f32) * 0.3 + (b as f32) * 0.7 - k as f32);
        let counts = Array3::from_shape_vec((2, 1, 1), vec![3.0f32, 1000.0f32.ln()]).unwrap();
        let y = profile_as_counts(logits.view(), counts.view()).unwrap();
        assert_eq!(y.dim(), (2, 5, 3));
        for s in 0..2 {
            let total: f32 = y.slice(ndarray::s![s, .., 0..2]).sum();
            assert!((total - counts[[s, 0, 0]].exp()).abs() < 1e-3 * total, "{total}");
            // Adjacent bins differ by e^0.7, strands by e^-1.
            let r = y[[s, 3, 0]] / y[[s, 2, 0]];
            assert!((r - 0.7f32.exp()).abs() < 1e-4, "{r}");
            let r = y[[s, 3, 1]] / y[[s, 3, 0]];
            assert!((r - (-1.0f32).exp()).abs() < 1e-4, "{r}");
            assert!(y.slice(ndarray::s![s, .., 2]).iter().all(|&c| c == counts[[s, 0, 0]]));
        }
        // Huge logits do not overflow.
        let big = Array3::from_elem((1, 4, 1), 1e4f32);
        let y = profile_as_counts(big.view(), Array3::from_elem((1, 1, 1), 0.0f32).view()).unwrap();
        assert!((0..4).all(|b| (y[[0, b, 0]] - 0.25).abs() < 1e-6));
        assert!(profile_as_counts(logits.view(), Array3::zeros((2, 2, 1)).view()).is_err());
    }
}
