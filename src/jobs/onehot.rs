//! One-hot encode windows into a DRG-compatible `.npz`.
//!
//! Members: `seqfeatures` — `(N, L, 4)` (or `(N, 4, L)` channels-first), int8 when the N value
//! is 0 and float32 otherwise (int8 cannot hold 0.25); `genenames` — window names; and
//! `featurenames` — `[A, C, G, T]`. Windows are streamed: memory holds one window at a time.

use std::path::Path;

use crate::error::{Error, Result};
use crate::genome::fasta::Fasta;
use crate::genome::onehot::{Encoder, Layout};
use crate::genome::windows::Window;
use crate::io::npy::{to_bytes, DType, NpzWriter};
use crate::model::analysis::MAX_INPUT_LENGTH;

/// How to encode.
#[derive(Debug, Clone, Copy)]
pub struct OnehotOptions {
    /// Value of N (and other non-ACGT codes) in all four channels.
    pub n_value: f32,
    /// Per-sequence layout.
    pub layout: Layout,
    /// Allow windows that reach outside their chromosome (padded with N); otherwise such a
    /// window is an error naming it.
    pub pad: bool,
}

/// Encodes every window (all must have length `len`) from `fasta` and writes `out`.
/// Nothing is written under `out` unless every window encodes.
pub fn write_onehot_npz(
    fasta: &mut Fasta,
    windows: &[Window],
    len: u64,
    opts: OnehotOptions,
    out: &Path,
) -> Result<()> {
    if windows.is_empty() {
        return Err(Error::InvalidArgument("no windows to encode".into()));
    }
    if len == 0 || len > MAX_INPUT_LENGTH {
        return Err(Error::InvalidArgument(format!("window length {len} must be between 1 and {MAX_INPUT_LENGTH} bp")));
    }
    // Check every window before any work, so bad input fails fast.
    for w in windows {
        let iv = &w.interval;
        if iv.len() != len {
            return Err(Error::InvalidArgument(format!("window {} is {} bp, expected {len}", iv, iv.len())));
        }
        let chrom_len = fasta.chrom_len(iv.chrom())?;
        if !opts.pad && (iv.start() < 0 || iv.end() as u64 > chrom_len) {
            return Err(Error::BadInterval {
                chrom: iv.chrom().to_string(),
                start: iv.start(),
                end: iv.end(),
                message: format!("outside the chromosome (length {chrom_len}); pass --pad to pad with N"),
            });
        }
    }
    let n = windows.len();
    let l = len as usize;
    let shape = match opts.layout {
        Layout::LengthFirst => [n, l, 4],
        Layout::ChannelsFirst => [n, 4, l],
    };
    let mut npz = NpzWriter::create(out)?;
    let mut seq = Vec::with_capacity(l);
    if opts.n_value == 0.0 {
        let enc = Encoder::<i8>::new(0.0)?;
        let mut buf = vec![0i8; 4 * l];
        npz.start_array("seqfeatures", DType::I8, &shape)?;
        for w in windows {
            fasta.fetch_into(&w.interval, &mut seq)?;
            enc.encode_into(&seq, opts.layout, &mut buf)?;
            npz.write_body(&to_bytes(&buf))?;
        }
    } else {
        let enc = Encoder::<f32>::new(opts.n_value)?;
        let mut buf = vec![0f32; 4 * l];
        npz.start_array("seqfeatures", DType::F32, &shape)?;
        for w in windows {
            fasta.fetch_into(&w.interval, &mut seq)?;
            enc.encode_into(&seq, opts.layout, &mut buf)?;
            npz.write_body(&to_bytes(&buf))?;
        }
    }
    let names: Vec<String> = windows.iter().map(|w| w.name.clone()).collect();
    npz.add_strings("genenames", &names)?;
    npz.add_strings("featurenames", &["A", "C", "G", "T"].map(String::from))?;
    npz.finish()
}
