//! Training with burn: models built from the same [`crate::model::spec::ModelSpec`] the ONNX
//! emitter writes, so a trained model exports to a package that tract and ONNX Runtime run with
//! the same predictions.
//!
//! - [`net`]: the spec interpreted over burn tensors; weights by spec name.
//! - [`init`]: seeded initialisation.
//! - [`loss`]: MSE, Poisson, DRG's correlation + MSE, multinomial.
//! - [`optim`]: SGD with momentum, AdamW, warm-up, gradient clipping.
//! - [`data`]: one-hot + target files, or genome windows + bigWig targets; splits.
//! - [`presets`]: `drg-shallow`, `drg-dilated`, `basenji2`, `bpnet`.
//! - [`multi`]: further one-hot inputs and the `drg-multi` architecture.
//! - [`finetune`]: track selection, head replacement or addition.
//! - [`metrics`]: Pearson r per track and per data point.
//! - [`batch`]: mini-batches with augmentation, every input in the layout the spec takes.
//! - [`trainer`]: the loop (augmentation, early stopping, reproducibility).
//! - [`checkpoint`]: per-epoch checkpoints and resume.
//! - [`report`]: training log, loss curve, correlation tables.
//! - [`job`]: `s2f train` end to end.
//!
//! Backends: burn's ndarray CPU backend (always), burn's CUDA backend with the `cuda` feature.

pub mod batch;
pub mod checkpoint;
pub mod data;
pub mod finetune;
pub mod init;
pub mod job;
pub mod loss;
pub mod metrics;
pub mod multi;
pub mod net;
pub mod optim;
pub mod presets;
pub mod report;
pub mod trainer;
