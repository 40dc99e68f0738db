//! The Open Inference Protocol (KServe v2) infer request and response, over HTTP/REST, with the
//! binary tensor data extension that `tritonclient.http` uses.
//!
//! A request body is JSON, or, when the `Inference-Header-Content-Length: n` header is present,
//! `n` bytes of JSON followed by the binary data of the inputs whose `parameters` hold
//! `binary_data_size`, in the order the inputs are listed. Binary `FP32` data is little-endian
//! float32, row-major; binary `BYTES` data is, per element, a 4-byte little-endian length and
//! the bytes. Responses follow the same rules: outputs asked for with `binary_data: true` (or
//! every output, with the request parameter `binary_data_output: true`) are appended after the
//! JSON and announced by `binary_data_size`.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// The header that announces the JSON part's length in a body with binary data.
pub const HEADER_LENGTH: &str = "inference-header-content-length";

/// A malformed request: the message is sent back with a 400.
#[derive(Debug, Clone, PartialEq)]
pub struct BadRequest(pub String);

/// One input tensor of an infer request, as sent.
#[derive(Debug, Deserialize)]
pub struct RequestInput {
    /// Input name.
    pub name: String,
    /// Shape, batch first.
    pub shape: Vec<i64>,
    /// Datatype (`FP32`, or `BYTES` for DNA strings).
    pub datatype: String,
    /// Parameters (`binary_data_size`).
    #[serde(default)]
    pub parameters: Map<String, Value>,
    /// JSON data (flat or nested), absent when the data is binary.
    #[serde(default)]
    pub data: Option<Value>,
}

/// One requested output.
#[derive(Debug, Deserialize)]
pub struct RequestOutput {
    /// Output name.
    pub name: String,
    /// Parameters (`binary_data`).
    #[serde(default)]
    pub parameters: Map<String, Value>,
}

/// The JSON part of an infer request.
#[derive(Debug, Deserialize)]
pub struct InferRequest {
    /// Request id, echoed in the response.
    #[serde(default)]
    pub id: Option<String>,
    /// Parameters (`binary_data_output`).
    #[serde(default)]
    pub parameters: Map<String, Value>,
    /// Inputs.
    pub inputs: Vec<RequestInput>,
    /// Outputs wanted (default: all).
    #[serde(default)]
    pub outputs: Option<Vec<RequestOutput>>,
}

/// Tensor data of one input, decoded.
#[derive(Debug, Clone, PartialEq)]
pub enum TensorData {
    /// float32 values, row-major.
    Fp32(Vec<f32>),
    /// Byte strings (DNA sequences).
    Bytes(Vec<Vec<u8>>),
}

/// A decoded input: name, shape and data.
#[derive(Debug, Clone, PartialEq)]
pub struct Tensor {
    /// Input name.
    pub name: String,
    /// Shape, batch first, every dimension ≥ 0.
    pub shape: Vec<usize>,
    /// Data, of the shape's element count.
    pub data: TensorData,
}

/// A parsed infer request: its inputs and which outputs to send, and how.
#[derive(Debug)]
pub struct Parsed {
    /// Request id.
    pub id: Option<String>,
    /// Inputs, in request order.
    pub inputs: Vec<Tensor>,
    /// Requested outputs with their binary flag; `None` = every output.
    pub outputs: Option<Vec<(String, bool)>>,
    /// Send outputs not listed in `outputs` (or all, when it is `None`) as binary.
    pub binary_default: bool,
}

fn flag(params: &Map<String, Value>, key: &str) -> bool {
    params.get(key).and_then(Value::as_bool).unwrap_or(false)
}

/// Parses a request body; `header_length` is the `Inference-Header-Content-Length` value.
pub fn parse(body: &[u8], header_length: Option<usize>) -> Result<Parsed, BadRequest> {
    let (json, mut binary) = match header_length {
        Some(n) if n > body.len() => {
            return Err(BadRequest(format!("{HEADER_LENGTH} is {n} but the body holds only {} bytes", body.len())))
        }
        Some(n) => (&body[..n], &body[n..]),
        None => (body, &body[body.len()..]),
    };
    let req: InferRequest =
        serde_json::from_slice(json).map_err(|e| BadRequest(format!("malformed infer request JSON: {e}")))?;
    let mut inputs = Vec::with_capacity(req.inputs.len());
    for input in req.inputs {
        inputs.push(decode_input(input, &mut binary)?);
    }
    if !binary.is_empty() {
        return Err(BadRequest(format!(
            "{} bytes of binary data follow the inputs' declared binary_data_size",
            binary.len()
        )));
    }
    let outputs =
        req.outputs.map(|outs| outs.into_iter().map(|o| (o.name, flag(&o.parameters, "binary_data"))).collect());
    Ok(Parsed { id: req.id, inputs, outputs, binary_default: flag(&req.parameters, "binary_data_output") })
}

fn decode_input(input: RequestInput, binary: &mut &[u8]) -> Result<Tensor, BadRequest> {
    let name = input.name;
    let mut shape = Vec::with_capacity(input.shape.len());
    for &d in &input.shape {
        let d = usize::try_from(d)
            .map_err(|_| BadRequest(format!("input {name:?}: negative dimension {d} in shape {:?}", input.shape)))?;
        shape.push(d);
    }
    let count = shape
        .iter()
        .try_fold(1usize, |a, &d| a.checked_mul(d))
        .ok_or_else(|| BadRequest(format!("input {name:?}: shape {shape:?} is too large")))?;
    let binary_size = match input.parameters.get("binary_data_size") {
        None => None,
        Some(v) => Some(
            v.as_u64()
                .and_then(|n| usize::try_from(n).ok())
                .ok_or_else(|| BadRequest(format!("input {name:?}: binary_data_size {v} is not a byte count")))?,
        ),
    };
    let data = match (binary_size, input.data) {
        (Some(_), Some(_)) => {
            return Err(BadRequest(format!("input {name:?} has both JSON data and binary_data_size")))
        }
        (None, None) => return Err(BadRequest(format!("input {name:?} has no data"))),
        (Some(size), None) => {
            if size > binary.len() {
                return Err(BadRequest(format!(
                    "input {name:?}: binary_data_size is {size} bytes but only {} bytes of binary data remain \
                     (truncated body)",
                    binary.len()
                )));
            }
            let (bytes, rest) = binary.split_at(size);
            *binary = rest;
            decode_binary(&name, &input.datatype, bytes, count)?
        }
        (None, Some(v)) => decode_json(&name, &input.datatype, v)?,
    };
    let n = match &data {
        TensorData::Fp32(v) => v.len(),
        TensorData::Bytes(v) => v.len(),
    };
    if n != count {
        return Err(BadRequest(format!("input {name:?}: shape {shape:?} holds {count} elements but the data has {n}")));
    }
    Ok(Tensor { name, shape, data })
}

fn decode_binary(name: &str, datatype: &str, bytes: &[u8], count: usize) -> Result<TensorData, BadRequest> {
    match datatype {
        "FP32" => {
            if bytes.len() != count.saturating_mul(4) {
                return Err(BadRequest(format!(
                    "input {name:?}: {} bytes of FP32 data for {count} elements (expected {})",
                    bytes.len(),
                    count.saturating_mul(4)
                )));
            }
            Ok(TensorData::Fp32(bytes.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect()))
        }
        "BYTES" => {
            let mut out = Vec::new();
            let mut rest = bytes;
            while !rest.is_empty() {
                if out.len() >= count {
                    return Err(BadRequest(format!("input {name:?}: more BYTES elements than its shape's {count}")));
                }
                if rest.len() < 4 {
                    return Err(BadRequest(format!("input {name:?}: truncated BYTES element length")));
                }
                let len = u32::from_le_bytes([rest[0], rest[1], rest[2], rest[3]]) as usize;
                if rest.len() - 4 < len {
                    return Err(BadRequest(format!(
                        "input {name:?}: BYTES element {} declares {len} bytes, {} remain (truncated)",
                        out.len(),
                        rest.len() - 4
                    )));
                }
                out.push(rest[4..4 + len].to_vec());
                rest = &rest[4 + len..];
            }
            Ok(TensorData::Bytes(out))
        }
        other => Err(unsupported(name, other)),
    }
}

fn unsupported(name: &str, datatype: &str) -> BadRequest {
    BadRequest(format!("input {name:?}: datatype {datatype:?} is not supported (FP32, or BYTES for DNA sequences)"))
}

fn decode_json(name: &str, datatype: &str, data: Value) -> Result<TensorData, BadRequest> {
    let mut flat = Vec::new();
    flatten(data, &mut flat);
    match datatype {
        "FP32" => flat
            .into_iter()
            .enumerate()
            .map(|(i, v)| match v.as_f64() {
                Some(x) if x.is_finite() && x.abs() <= f32::MAX as f64 => Ok(x as f32),
                _ => Err(BadRequest(format!("input {name:?}: element {i} ({v}) is not a finite FP32 number"))),
            })
            .collect::<Result<_, _>>()
            .map(TensorData::Fp32),
        "BYTES" => flat
            .into_iter()
            .enumerate()
            .map(|(i, v)| match v {
                Value::String(s) => Ok(s.into_bytes()),
                other => Err(BadRequest(format!("input {name:?}: BYTES element {i} ({other}) is not a string"))),
            })
            .collect::<Result<_, _>>()
            .map(TensorData::Bytes),
        other => Err(unsupported(name, other)),
    }
}

fn flatten(v: Value, out: &mut Vec<Value>) {
    match v {
        Value::Array(items) => items.into_iter().for_each(|x| flatten(x, out)),
        other => out.push(other),
    }
}

/// One output of a response.
#[derive(Debug, Serialize)]
pub struct ResponseOutput {
    /// Output name.
    pub name: String,
    /// Always `FP32`.
    pub datatype: &'static str,
    /// Shape, batch first.
    pub shape: Vec<usize>,
    /// `binary_data_size` when the data follows the JSON.
    #[serde(skip_serializing_if = "Map::is_empty")]
    pub parameters: Map<String, Value>,
    /// JSON data, flat, when not binary.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data: Option<Vec<f64>>,
}

/// The JSON part of an infer response.
#[derive(Debug, Serialize)]
pub struct InferResponse {
    /// Model name.
    pub model_name: String,
    /// Model version.
    pub model_version: String,
    /// Request id, when the request had one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Outputs.
    pub outputs: Vec<ResponseOutput>,
}

/// Builds a response body from `(name, shape, values, binary)` outputs: the JSON part and the
/// binary part (empty when nothing is binary). JSON values are the float32 values widened to
/// float64, which print exactly and read back to the same float32.
pub fn encode(
    model_name: &str,
    id: Option<String>,
    outputs: Vec<(String, Vec<usize>, Vec<f32>, bool)>,
) -> (Vec<u8>, Vec<u8>) {
    let mut binary = Vec::new();
    let mut outs = Vec::with_capacity(outputs.len());
    for (name, shape, values, is_binary) in outputs {
        let mut parameters = Map::new();
        let data = if is_binary {
            parameters.insert("binary_data_size".into(), Value::from(values.len() * 4));
            binary.reserve(values.len() * 4);
            values.iter().for_each(|v| binary.extend_from_slice(&v.to_le_bytes()));
            None
        } else {
            Some(values.iter().map(|&v| v as f64).collect())
        };
        outs.push(ResponseOutput { name, datatype: "FP32", shape, parameters, data });
    }
    let response = InferResponse { model_name: model_name.into(), model_version: "1".into(), id, outputs: outs };
    // Serialising plain structs of strings, integers and finite floats cannot fail.
    let json = serde_json::to_vec(&response).unwrap_or_default();
    (json, binary)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_and_binary_inputs() {
        let body = br#"{"inputs":[{"name":"x","shape":[1,2],"datatype":"FP32","data":[[1.5,2]]}]}"#;
        let p = parse(body, None).unwrap();
        assert_eq!(p.inputs[0].data, TensorData::Fp32(vec![1.5, 2.0]));
        assert_eq!(p.inputs[0].shape, vec![1, 2]);

        let json = br#"{"inputs":[{"name":"s","shape":[2],"datatype":"BYTES","parameters":{"binary_data_size":13}}],"outputs":[{"name":"y","parameters":{"binary_data":true}}]}"#;
        let mut body = json.to_vec();
        body.extend_from_slice(&3u32.to_le_bytes());
        body.extend_from_slice(b"ACG");
        body.extend_from_slice(&2u32.to_le_bytes());
        body.extend_from_slice(b"TT");
        let p = parse(&body, Some(json.len())).unwrap();
        assert_eq!(p.inputs[0].data, TensorData::Bytes(vec![b"ACG".to_vec(), b"TT".to_vec()]));
        assert_eq!(p.outputs, Some(vec![("y".to_string(), true)]));
    }

    #[test]
    fn bad_requests_are_named() {
        let e = parse(b"{not json", None).unwrap_err();
        assert!(e.0.contains("malformed"), "{e:?}");
        let e = parse(br#"{"inputs":[{"name":"x","shape":[3],"datatype":"FP32","data":[1,2]}]}"#, None).unwrap_err();
        assert!(e.0.contains("3 elements") && e.0.contains("has 2"), "{e:?}");
        let e = parse(br#"{"inputs":[{"name":"x","shape":[1],"datatype":"INT64","data":[1]}]}"#, None).unwrap_err();
        assert!(e.0.contains("INT64"), "{e:?}");
        let json = br#"{"inputs":[{"name":"x","shape":[2],"datatype":"FP32","parameters":{"binary_data_size":8}}]}"#;
        let mut body = json.to_vec();
        body.extend_from_slice(&[0, 0, 0, 0]);
        let e = parse(&body, Some(json.len())).unwrap_err();
        assert!(e.0.contains("truncated"), "{e:?}");
        let e = parse(json, Some(json.len() + 10)).unwrap_err();
        assert!(e.0.contains("holds only"), "{e:?}");
    }

    #[test]
    fn response_round_trips_float32() {
        let v = vec![0.1f32, 1.0 / 3.0, -7.25e-8];
        let (json, bin) = encode("m", None, vec![("y".into(), vec![1, 3], v.clone(), false)]);
        assert!(bin.is_empty());
        let back: Value = serde_json::from_slice(&json).unwrap();
        let data: Vec<f32> =
            back["outputs"][0]["data"].as_array().unwrap().iter().map(|x| x.as_f64().unwrap() as f32).collect();
        assert_eq!(data, v);
        let (_, bin) = encode("m", None, vec![("y".into(), vec![1, 3], v, true)]);
        assert_eq!(bin.len(), 12);
    }
}
