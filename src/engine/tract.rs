//! The tract engine: pure Rust, CPU, nothing to install.
//!
//! tract optimises a graph for concrete input shapes, so a plan is built and cached for each
//! input shape seen (in practice the batch size and a final partial batch).

use std::collections::HashMap;
use std::sync::Arc;

use ndarray::ArrayD;
use tract_onnx::prelude::*;

use crate::engine::Engine;
use crate::error::{Error, Result};

type Plan = Arc<TypedRunnableModel>;

/// tract running one ONNX model.
pub struct TractEngine {
    onnx: Vec<u8>,
    plans: HashMap<Vec<usize>, Plan>,
}

fn err(e: impl std::fmt::Display) -> Error {
    Error::Engine { engine: "tract (cpu)".into(), message: format!("{e:#}") }
}

impl TractEngine {
    /// Parses the model (errors early on unsupported graphs).
    pub fn new(onnx: &[u8]) -> Result<Self> {
        tract_onnx::onnx().proto_model_for_read(&mut &onnx[..]).map_err(err)?;
        Ok(Self { onnx: onnx.to_vec(), plans: HashMap::new() })
    }

    fn plan(&mut self, shape: &[usize]) -> Result<Plan> {
        if let Some(p) = self.plans.get(shape) {
            return Ok(p.clone());
        }
        let model = tract_onnx::onnx()
            .model_for_read(&mut &self.onnx[..])
            .and_then(|m| m.with_input_fact(0, f32::fact(shape).into()))
            .and_then(|m| m.into_optimized())
            .and_then(|m| m.into_runnable())
            .map_err(err)?;
        self.plans.insert(shape.to_vec(), model.clone());
        Ok(model)
    }
}

impl Engine for TractEngine {
    fn describe(&self) -> String {
        "tract (cpu)".into()
    }

    fn run(&mut self, input: ArrayD<f32>) -> Result<Vec<ArrayD<f32>>> {
        let plan = self.plan(input.shape())?;
        let outputs = plan.run(tvec!(Tensor::from(input).into())).map_err(err)?;
        outputs.iter().map(|o| o.to_plain_array_view::<f32>().map(|v| v.to_owned()).map_err(err)).collect()
    }
}
