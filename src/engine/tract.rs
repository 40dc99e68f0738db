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
    plans: HashMap<Vec<Vec<usize>>, Plan>,
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

    fn plan(&mut self, shapes: &[Vec<usize>]) -> Result<Plan> {
        if let Some(p) = self.plans.get(shapes) {
            return Ok(p.clone());
        }
        let mut model = tract_onnx::onnx().model_for_read(&mut &self.onnx[..]).map_err(err)?;
        for (i, shape) in shapes.iter().enumerate() {
            model = model.with_input_fact(i, f32::fact(shape).into()).map_err(err)?;
        }
        let model = model.into_optimized().and_then(|m| m.into_runnable()).map_err(err)?;
        self.plans.insert(shapes.to_vec(), model.clone());
        Ok(model)
    }
}

impl Engine for TractEngine {
    fn describe(&self) -> String {
        "tract (cpu)".into()
    }

    fn run_inputs(&mut self, inputs: Vec<ArrayD<f32>>) -> Result<Vec<ArrayD<f32>>> {
        let shapes: Vec<Vec<usize>> = inputs.iter().map(|x| x.shape().to_vec()).collect();
        let plan = self.plan(&shapes)?;
        let outputs = plan.run(inputs.into_iter().map(|x| Tensor::from(x).into()).collect()).map_err(err)?;
        outputs.iter().map(|o| o.to_plain_array_view::<f32>().map(|v| v.to_owned()).map_err(err)).collect()
    }
}
