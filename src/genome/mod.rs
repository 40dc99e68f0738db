//! Genome input: sequences, annotations, windows and their one-hot encoding.
//!
//! All coordinates are 0-based, half-open (see [`coords`]).

pub mod bed;
pub mod coords;
pub mod fasta;
pub mod fasta_index;
pub mod folds;
pub mod gtf;
pub mod onehot;
pub mod shuffle;
pub mod vcf;
pub mod windows;

pub use coords::Interval;
pub use fasta::Fasta;
