//! Jobs: whole workflows over genome windows, shared by the CLI and other front ends.

pub mod attribute;
pub mod kernels;
pub mod onehot;
pub mod predict;
pub mod run_dir;
pub mod seqlets;
pub mod tiling;
pub mod variants;
