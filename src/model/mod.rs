//! Models: the spec (architecture + geometry), weights, packages and the ONNX emitter.
//!
//! A *model package* is a folder with `model.json` ([`spec::ModelSpec`]), `model.safetensors`
//! ([`weights::Weights`]) and `model.onnx` (emitted from the two by [`onnx`]). A foreign ONNX
//! file runs too, with a sidecar `model.json` that gives only geometry and tracks.

pub mod analysis;
pub mod graph;
pub mod onnx;
pub mod ops;
pub mod package;
pub mod presets;
pub mod spec;
pub mod weights;

pub use package::Package;
pub use spec::ModelSpec;
pub use weights::Weights;
