//! File input and output helpers shared by every job.

pub mod atomic;
pub mod bigwig;
pub mod digest;
pub mod font;
pub mod le;
pub mod npy;
pub mod parquet;
pub mod plot;
pub mod table;
