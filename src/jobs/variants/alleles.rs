//! Reference and alternate sequences of a variant, in basenji_sad's convention.
//!
//! For a model reading `L` bp, the window is fetched so that the variant's first REF base sits
//! at index `L/2 − 1` (0-based), N-padded beyond the chromosome. The alternate sequence is
//! `prefix + ALT + suffix` (prefix: the `L/2 − 1` bases before the variant; suffix: the bases
//! after REF, to the window's end); when an indel changes its length it is centre-cropped (extra
//! bases removed equally from both ends, the odd one from the right) or N-padded (equally on
//! both sides, the odd N on the right) back to `L`.

use crate::error::{Error, Result};
use crate::genome::fasta::Fasta;
use crate::genome::Interval;

/// Index of the variant's first base in the window.
pub fn variant_index(len: usize) -> usize {
    (len / 2).saturating_sub(1)
}

/// The reference window of a variant at 1-based `pos` on `chrom` (the genome's name).
pub fn reference_window(fasta: &mut Fasta, chrom: &str, pos: u64, len: usize) -> Result<(Interval, Vec<u8>)> {
    let start = pos as i64 - 1 - variant_index(len) as i64;
    let iv = Interval::new(chrom, start, start + len as i64)?;
    let mut seq = fasta.fetch(&iv)?;
    seq.make_ascii_uppercase();
    Ok((iv, seq))
}

/// The alternate sequence: `reference` with the `ref_len` bases at [`variant_index`] replaced
/// by `alt`, brought back to the window length (see the module docs).
pub fn alternate_sequence(reference: &[u8], ref_len: usize, alt: &[u8]) -> Result<Vec<u8>> {
    let len = reference.len();
    let at = variant_index(len);
    if at + ref_len > len {
        return Err(Error::InvalidArgument(format!(
            "a {ref_len}-bp REF does not fit the {len}-bp window after index {at}"
        )));
    }
    let mut seq = Vec::with_capacity(len + alt.len());
    seq.extend_from_slice(&reference[..at]);
    seq.extend_from_slice(alt);
    seq.extend_from_slice(&reference[at + ref_len..]);
    Ok(fit(seq, len))
}

/// Centre-crops or N-pads `seq` to `len`.
fn fit(seq: Vec<u8>, len: usize) -> Vec<u8> {
    use std::cmp::Ordering;
    match seq.len().cmp(&len) {
        Ordering::Equal => seq,
        Ordering::Greater => {
            let left = (seq.len() - len) / 2;
            seq[left..left + len].to_vec()
        }
        Ordering::Less => {
            let missing = len - seq.len();
            let left = missing / 2;
            let mut out = vec![b'N'; left];
            out.extend_from_slice(&seq);
            out.resize(len, b'N');
            out
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snvs_and_indels_keep_the_window_length() {
        let r = b"AACCGGTT".to_vec(); // variant index 3
        assert_eq!(alternate_sequence(&r, 1, b"T").unwrap(), b"AACTGGTT");
        // Insertion of 2 bases: 10 bp cropped by one base at each end.
        assert_eq!(alternate_sequence(&r, 1, b"CAA").unwrap(), b"ACCAAGGT");
        // Deletion of 2 bases: 6 bp padded with one N at each end.
        assert_eq!(alternate_sequence(&r, 3, b"C").unwrap(), b"NAACCTTN");
        assert!(alternate_sequence(&r, 6, b"C").is_err());
        assert_eq!(variant_index(401), 199);
    }
}
