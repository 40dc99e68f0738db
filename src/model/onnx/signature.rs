//! Reading an ONNX file's signature: inputs, outputs, opset and size.

use std::collections::HashSet;

use prost::Message;
use tract_onnx::pb;

use crate::error::{Error, Result};

/// Input and output names and shapes of an ONNX file (symbolic axes as `None`).
#[derive(Debug, Clone)]
pub struct OnnxSignature {
    /// (name, dims) of each graph input that is not an initializer.
    pub inputs: Vec<(String, Vec<Option<i64>>)>,
    /// (name, dims) of each output.
    pub outputs: Vec<(String, Vec<Option<i64>>)>,
    /// Opset of the default domain.
    pub opset: i64,
    /// Number of nodes.
    pub nodes: usize,
    /// Values in initializers (parameters).
    pub params: u64,
}

/// Reads an ONNX file's signature; a corrupt file is an error naming it.
pub fn signature(bytes: &[u8], path: &std::path::Path) -> Result<OnnxSignature> {
    let model = pb::ModelProto::decode(bytes)
        .map_err(|e| Error::malformed(path, "protobuf", format!("not an ONNX model: {e}")))?;
    let graph = model.graph.ok_or_else(|| Error::malformed(path, "model", "ONNX model without a graph"))?;
    let inits: HashSet<&str> = graph.initializer.iter().map(|t| t.name.as_str()).collect();
    let dims = |v: &pb::ValueInfoProto| -> Vec<Option<i64>> {
        use pb::tensor_shape_proto::dimension::Value;
        match &v.r#type {
            Some(pb::TypeProto { value: Some(pb::type_proto::Value::TensorType(t)), .. }) => t
                .shape
                .as_ref()
                .map(|s| {
                    s.dim
                        .iter()
                        .map(|d| match d.value {
                            Some(Value::DimValue(x)) => Some(x),
                            _ => None,
                        })
                        .collect()
                })
                .unwrap_or_default(),
            _ => vec![],
        }
    };
    let params = graph
        .initializer
        .iter()
        .map(|t| t.dims.iter().fold(1u64, |a, &d| a.saturating_mul(d.max(0) as u64)))
        .fold(0u64, u64::saturating_add);
    Ok(OnnxSignature {
        inputs: graph
            .input
            .iter()
            .filter(|v| !inits.contains(v.name.as_str()))
            .map(|v| (v.name.clone(), dims(v)))
            .collect(),
        outputs: graph.output.iter().map(|v| (v.name.clone(), dims(v))).collect(),
        opset: model
            .opset_import
            .iter()
            .find(|o| o.domain.is_empty() || o.domain == "ai.onnx")
            .map(|o| o.version)
            .unwrap_or(0),
        nodes: graph.node.len(),
        params,
    })
}
