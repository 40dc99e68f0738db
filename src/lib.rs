//! # s2f — genomic sequence-to-function models, fast and framework-free
//!
//! The library behind the `s2f` binary. This crate holds the foundation every job stands on:
//!
//! - [`genome`]: FASTA (plain or bgzip, indexed), BED, GTF → TSS, windows, chromosome folds,
//!   one-hot encoding.
//! - [`io`]: NumPy `.npy`/`.npz` files and atomic (temporary name + rename) output.
//!
//! ## Conventions
//! - Every interval is 0-based and half-open (BED). Conversion to noodles' 1-based inclusive
//!   positions happens only in [`genome::coords`].
//! - One-hot channel order is A, C, G, T; N and any other code is all `n_value` (0 by default).
//! - Sequence beyond a chromosome's ends is N.

#[path = "../converters/mod.rs"]
pub mod converters;
pub mod devices;
pub mod engine;
pub mod error;
pub mod genes;
pub mod genome;
pub mod io;
pub mod jobs;
pub mod model;
pub mod motifs;
pub mod serve;
pub mod train;

pub use error::{Error, Result};
