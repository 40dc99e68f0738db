//! Streaming protobuf writer: a model whose initializers' raw data are written straight from
//! the weights, without building the whole message in memory (protobuf allows a message's
//! fields in any order, so each initializer's raw data follows its other fields).

use std::borrow::Cow;

use prost::Message;
use tract_onnx::pb;

use crate::model::onnx::graph::{FLOAT, INT64};

/// Initializer values, borrowed from the weights where possible so emission copies nothing.
pub enum InitData<'w> {
    /// float32 values.
    F32(Cow<'w, [f32]>),
    /// int64 values.
    I64(Vec<i64>),
}

/// One initializer: name, dimensions and values.
pub struct Init<'w> {
    /// Tensor name.
    pub name: String,
    /// Dimensions.
    pub dims: Vec<i64>,
    /// Values.
    pub data: InitData<'w>,
}

impl Init<'_> {
    fn proto_without_data(&self) -> pb::TensorProto {
        pb::TensorProto {
            name: self.name.clone(),
            dims: self.dims.clone(),
            data_type: match self.data {
                InitData::F32(_) => FLOAT,
                InitData::I64(_) => INT64,
            },
            ..Default::default()
        }
    }

    fn data_bytes_len(&self) -> usize {
        match &self.data {
            InitData::F32(v) => v.len() * 4,
            InitData::I64(v) => v.len() * 8,
        }
    }

    fn write_data<W: std::io::Write>(&self, w: &mut W) -> std::io::Result<()> {
        let mut buf = Vec::with_capacity(1 << 16);
        match &self.data {
            InitData::F32(v) => {
                for chunk in v.chunks(1 << 14) {
                    buf.clear();
                    buf.extend(chunk.iter().flat_map(|x| x.to_le_bytes()));
                    w.write_all(&buf)?;
                }
            }
            InitData::I64(v) => {
                buf.extend(v.iter().flat_map(|x| x.to_le_bytes()));
                w.write_all(&buf)?;
            }
        }
        Ok(())
    }
}

/// Writes `model` with `graph` (field 7) whose initializers (field 5) are streamed.
pub fn write_streamed<W: std::io::Write>(
    model: &pb::ModelProto,
    graph: &pb::GraphProto,
    inits: &[Init],
    w: &mut W,
) -> std::io::Result<()> {
    use prost::encoding::{encode_varint, encoded_len_varint};
    // Tag bytes: (field << 3) | wire type 2 (length-delimited).
    const GRAPH_INIT: u8 = (5 << 3) | 2;
    const MODEL_GRAPH: u8 = (7 << 3) | 2;
    const TENSOR_RAW: u8 = (9 << 3) | 2;
    let heads: Vec<pb::TensorProto> = inits.iter().map(Init::proto_without_data).collect();
    let tensor_len = |h: &pb::TensorProto, i: &Init| {
        let n = i.data_bytes_len();
        h.encoded_len() + if n > 0 { 1 + encoded_len_varint(n as u64) + n } else { 0 }
    };
    let graph_len = graph.encoded_len()
        + heads
            .iter()
            .zip(inits)
            .map(|(h, i)| {
                let t = tensor_len(h, i);
                1 + encoded_len_varint(t as u64) + t
            })
            .sum::<usize>();
    let mut buf = Vec::new();
    model.encode(&mut buf).map_err(std::io::Error::other)?;
    buf.push(MODEL_GRAPH);
    encode_varint(graph_len as u64, &mut buf);
    graph.encode(&mut buf).map_err(std::io::Error::other)?;
    w.write_all(&buf)?;
    for (h, i) in heads.iter().zip(inits) {
        buf.clear();
        buf.push(GRAPH_INIT);
        encode_varint(tensor_len(h, i) as u64, &mut buf);
        h.encode(&mut buf).map_err(std::io::Error::other)?;
        let n = i.data_bytes_len();
        if n > 0 {
            buf.push(TENSOR_RAW);
            encode_varint(n as u64, &mut buf);
        }
        w.write_all(&buf)?;
        i.write_data(w)?;
    }
    Ok(())
}

/// A float32 graph input or output with symbolic dimensions as `None` (named `batch`).
pub fn value_info(name: &str, dims: &[Option<i64>]) -> pb::ValueInfoProto {
    use pb::tensor_shape_proto::{dimension::Value, Dimension};
    let dim = dims
        .iter()
        .map(|d| Dimension {
            value: Some(match d {
                Some(v) => Value::DimValue(*v),
                None => Value::DimParam("batch".into()),
            }),
            ..Default::default()
        })
        .collect();
    pb::ValueInfoProto {
        name: name.into(),
        r#type: Some(pb::TypeProto {
            value: Some(pb::type_proto::Value::TensorType(pb::type_proto::Tensor {
                elem_type: FLOAT,
                shape: Some(pb::TensorShapeProto { dim }),
            })),
            ..Default::default()
        }),
        ..Default::default()
    }
}
