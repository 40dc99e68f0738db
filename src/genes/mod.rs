//! Gene-level read-outs: model outputs at transcription start sites (`s2f genes`), their
//! correlation with measured expression (`s2f evaluate genes`), and cross-validated ridge
//! regression from predicted tracks to expression (`s2f ridge`). Tables go through polars
//! ([`crate::io::table`]).

pub mod bigwig;
pub mod data;
pub mod evaluate;
pub mod fit;
pub mod model;
pub mod readout;
pub mod ridge;
pub mod stats;
pub mod table;
pub mod tss;
