//! Motifs: MEME motif files and Tomtom-style motif comparison.
//!
//! - [`meme`]: read (strictly validated) and write MEME version 4 text files of DNA
//!   letter-probability matrices ([`Motif`]).
//! - [`tomtom`]: compare query motifs against a database as MEME's Tomtom does (Gupta et al.
//!   2007): column similarity scores, every offset and both strands, p-values from each query
//!   column's null distribution against all database columns, E-values and Benjamini–Hochberg
//!   q-values ([`compare`]).
//!
//! A motif database ships with the project: `motifs/JASPAR2026_CORE_vertebrates.meme` (CC BY 4.0).

pub mod meme;
pub mod tomtom;

pub use meme::{parse_meme, read_meme, write_meme, Motif};
pub use tomtom::{compare, write_table, CompareOptions, Distance, Match, Orientation};
