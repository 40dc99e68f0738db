//! ONNX emitter: spec + weights → a self-contained `model.onnx`.
//!
//! Opset 17, IR version 8. Input `sequence` (or the spec's `input.onnx_name`) of shape
//! `(batch, L, 4)` float32 with a symbolic batch axis; one output per head, named after it,
//! shaped `(batch, bins, tracks)`. Inside, tensors are `(batch, channels, length)`.
//! With `fold_bn`, a batch norm that directly follows a convolution or dense layer is folded
//! into that layer's weights and bias.

use std::collections::HashSet;

use prost::Message;
use tract_onnx::pb;

use crate::error::{Error, Result};
use crate::model::spec::{Activation, Layer, ModelSpec, Padding, PoolPad, Shape};
use crate::model::weights::Weights;

/// Opset the emitter targets.
pub const OPSET: i64 = 17;

/// Emission options.
#[derive(Debug, Clone, Copy, Default)]
pub struct EmitOptions {
    /// Fold batch norms into the preceding convolution/dense layer.
    pub fold_bn: bool,
}

const FLOAT: i32 = 1;
const INT64: i32 = 7;

/// Initializer values, borrowed from the weights where possible so emission copies nothing.
enum InitData<'w> {
    F32(std::borrow::Cow<'w, [f32]>),
    I64(Vec<i64>),
}

struct Init<'w> {
    name: String,
    dims: Vec<i64>,
    data: InitData<'w>,
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

struct Graph<'w> {
    nodes: Vec<pb::NodeProto>,
    inits: Vec<Init<'w>>,
    init_names: HashSet<String>,
    n: usize,
    weights: &'w Weights,
    fold_bn: bool,
}

fn attr_i(name: &str, v: i64) -> pb::AttributeProto {
    pb::AttributeProto { name: name.into(), r#type: 2, i: v, ..Default::default() }
}
fn attr_f(name: &str, v: f32) -> pb::AttributeProto {
    pb::AttributeProto { name: name.into(), r#type: 1, f: v, ..Default::default() }
}
fn attr_ints(name: &str, v: &[i64]) -> pb::AttributeProto {
    pb::AttributeProto { name: name.into(), r#type: 7, ints: v.to_vec(), ..Default::default() }
}

impl<'w> Graph<'w> {
    fn fresh(&mut self, hint: &str) -> String {
        self.n += 1;
        format!("{hint}_{}", self.n)
    }

    fn node(&mut self, op: &str, inputs: &[&str], attrs: Vec<pb::AttributeProto>) -> String {
        let out = self.fresh(&op.to_lowercase());
        self.nodes.push(pb::NodeProto {
            input: inputs.iter().map(|s| s.to_string()).collect(),
            output: vec![out.clone()],
            name: out.clone(),
            op_type: op.into(),
            attribute: attrs,
            ..Default::default()
        });
        out
    }

    fn init_f32(&mut self, name: &str, dims: &[usize], data: std::borrow::Cow<'w, [f32]>) -> String {
        if self.init_names.insert(name.to_string()) {
            self.inits.push(Init {
                name: name.into(),
                dims: dims.iter().map(|&d| d as i64).collect(),
                data: InitData::F32(data),
            });
        }
        name.to_string()
    }

    fn const_f32(&mut self, v: f32) -> String {
        let name = format!("const_f{:08x}", v.to_bits());
        self.init_f32(&name, &[], std::borrow::Cow::Owned(vec![v]))
    }

    fn const_i64(&mut self, v: &[i64]) -> String {
        let name =
            format!("const_i{}", v.iter().map(|x| x.to_string()).collect::<Vec<_>>().join("_").replace('-', "m"));
        if self.init_names.insert(name.clone()) {
            self.inits.push(Init { name: name.clone(), dims: vec![v.len() as i64], data: InitData::I64(v.to_vec()) });
        }
        name
    }

    fn weight(&self, name: &str) -> Result<&'w crate::model::weights::Tensor> {
        self.weights.get(name)
    }

    fn activation(&mut self, x: &str, f: Activation) -> String {
        match f {
            Activation::Relu => self.node("Relu", &[x], vec![]),
            Activation::Softplus => self.node("Softplus", &[x], vec![]),
            Activation::Exp => self.node("Exp", &[x], vec![]),
            Activation::Sigmoid => self.node("Sigmoid", &[x], vec![]),
            Activation::GeluSigmoid => {
                let k = self.const_f32(1.702);
                let kx = self.node("Mul", &[x, &k], vec![]);
                let s = self.node("Sigmoid", &[&kx], vec![]);
                self.node("Mul", &[x, &s], vec![])
            }
            Activation::GeluErf => {
                let k = self.const_f32(std::f32::consts::FRAC_1_SQRT_2);
                let one = self.const_f32(1.0);
                let half = self.const_f32(0.5);
                let kx = self.node("Mul", &[x, &k], vec![]);
                let e = self.node("Erf", &[&kx], vec![]);
                let e1 = self.node("Add", &[&e, &one], vec![]);
                let xe = self.node("Mul", &[x, &e1], vec![]);
                self.node("Mul", &[&xe, &half], vec![])
            }
            Activation::GeluTanh => {
                let c = self.const_f32((2.0 / std::f32::consts::PI).sqrt());
                let a = self.const_f32(0.044_715);
                let one = self.const_f32(1.0);
                let half = self.const_f32(0.5);
                let x2 = self.node("Mul", &[x, x], vec![]);
                let x3 = self.node("Mul", &[&x2, x], vec![]);
                let ax3 = self.node("Mul", &[&x3, &a], vec![]);
                let inner = self.node("Add", &[x, &ax3], vec![]);
                let scaled = self.node("Mul", &[&inner, &c], vec![]);
                let t = self.node("Tanh", &[&scaled], vec![]);
                let t1 = self.node("Add", &[&t, &one], vec![]);
                let xt = self.node("Mul", &[x, &t1], vec![]);
                self.node("Mul", &[&xt, &half], vec![])
            }
        }
    }

    /// Weight and bias of a conv/dense layer, optionally folded with the batch norm `bn`.
    fn conv_params(
        &mut self,
        prefix: &str,
        wshape: &[usize],
        bias: bool,
        bn: Option<(&str, f32)>,
    ) -> Result<(String, Option<String>)> {
        let w = self.weight(&format!("{prefix}.weight"))?;
        let out_c = wshape[0];
        let b = if bias { Some(&self.weight(&format!("{prefix}.bias"))?.data) } else { None };
        match bn {
            None => {
                let wn = self.init_f32(&format!("{prefix}.weight"), wshape, std::borrow::Cow::Borrowed(&w.data));
                let bn = b.map(|b| self.init_f32(&format!("{prefix}.bias"), &[out_c], std::borrow::Cow::Borrowed(b)));
                Ok((wn, bn))
            }
            Some((bn_prefix, eps)) => {
                let gamma = &self.weight(&format!("{bn_prefix}.gamma"))?.data;
                let beta = &self.weight(&format!("{bn_prefix}.beta"))?.data;
                let mean = &self.weight(&format!("{bn_prefix}.mean"))?.data;
                let var = &self.weight(&format!("{bn_prefix}.var"))?.data;
                let per = w.data.len() / out_c;
                let mut fw = w.data.clone();
                let mut fb = vec![0f32; out_c];
                for o in 0..out_c {
                    let s = (gamma[o] as f64) / ((var[o] as f64) + eps as f64).sqrt();
                    for v in &mut fw[o * per..(o + 1) * per] {
                        *v = (*v as f64 * s) as f32;
                    }
                    let b0 = b.map(|b| b[o] as f64).unwrap_or(0.0);
                    fb[o] = ((b0 - mean[o] as f64) * s + beta[o] as f64) as f32;
                }
                let wn = self.init_f32(&format!("{prefix}.weight+{bn_prefix}"), wshape, std::borrow::Cow::Owned(fw));
                let bn = self.init_f32(&format!("{prefix}.bias+{bn_prefix}"), &[out_c], std::borrow::Cow::Owned(fb));
                Ok((wn, Some(bn)))
            }
        }
    }

    fn layers(&mut self, layers: &[Layer], path: &str, mut x: String, mut s: Shape) -> Result<(String, Shape)> {
        let mut i = 0;
        while i < layers.len() {
            let layer = &layers[i];
            let lpath = format!("{path}.{i}");
            let next_bn = match layers.get(i + 1) {
                Some(Layer::BatchNorm { name, eps }) if self.fold_bn => {
                    Some((name.clone().unwrap_or(format!("{path}.{}", i + 1)), *eps))
                }
                _ => None,
            };
            let (c, l) = match s {
                Shape::Seq { c, l } => (c, l),
                Shape::Flat { f } => (f, 0),
            };
            let mut consumed_bn = false;
            match layer {
                Layer::Conv1d { name, filters, kernel, dilation, bias, padding } => {
                    let prefix = name.clone().unwrap_or(lpath.clone());
                    let (w, b) = self.conv_params(
                        &prefix,
                        &[*filters, c, *kernel],
                        *bias,
                        next_bn.as_ref().map(|(n, e)| (n.as_str(), *e)),
                    )?;
                    consumed_bn = next_bn.is_some();
                    let span = dilation * (kernel - 1);
                    let (pl, pr, lo) = match padding {
                        Padding::Same => (span / 2, span - span / 2, l),
                        Padding::Valid => (0, 0, l - span),
                    };
                    let mut ins = vec![x.as_str(), w.as_str()];
                    if let Some(b) = &b {
                        ins.push(b);
                    }
                    x = self.node(
                        "Conv",
                        &ins,
                        vec![
                            attr_ints("kernel_shape", &[*kernel as i64]),
                            attr_ints("dilations", &[*dilation as i64]),
                            attr_ints("pads", &[pl as i64, pr as i64]),
                            attr_ints("strides", &[1]),
                        ],
                    );
                    s = Shape::Seq { c: *filters, l: lo };
                }
                Layer::Dense { name, units, bias } => {
                    let prefix = name.clone().unwrap_or(lpath.clone());
                    let (w, b) = self.conv_params(
                        &prefix,
                        &[*units, c, 1],
                        *bias,
                        next_bn.as_ref().map(|(n, e)| (n.as_str(), *e)),
                    )?;
                    consumed_bn = next_bn.is_some();
                    let mut ins = vec![x.as_str(), w.as_str()];
                    if let Some(b) = &b {
                        ins.push(b);
                    }
                    x = self.node("Conv", &ins, vec![attr_ints("kernel_shape", &[1])]);
                    s = Shape::Seq { c: *units, l };
                }
                Layer::BatchNorm { name, eps } => {
                    let prefix = name.clone().unwrap_or(lpath.clone());
                    let mut names = Vec::new();
                    for p in ["gamma", "beta", "mean", "var"] {
                        let t = self.weight(&format!("{prefix}.{p}"))?;
                        names.push(self.init_f32(&format!("{prefix}.{p}"), &[c], std::borrow::Cow::Borrowed(&t.data)));
                    }
                    let ins: Vec<&str> = std::iter::once(x.as_str()).chain(names.iter().map(String::as_str)).collect();
                    x = self.node("BatchNormalization", &ins, vec![attr_f("epsilon", *eps)]);
                }
                Layer::Activation { function } => x = self.activation(&x, *function),
                Layer::MaxPool { size } | Layer::AvgPool { size } => {
                    let op = if matches!(layer, Layer::MaxPool { .. }) { "MaxPool" } else { "AveragePool" };
                    x = self.node(
                        op,
                        &[&x],
                        vec![attr_ints("kernel_shape", &[*size as i64]), attr_ints("strides", &[*size as i64])],
                    );
                    s = Shape::Seq { c, l: l / size };
                }
                Layer::WeightedPool { size, pad_left, pad_right, pad_value } => {
                    let padded = match pad_value {
                        PoolPad::Value(v) => {
                            let pads = self.const_i64(&[0, 0, *pad_left as i64, 0, 0, *pad_right as i64]);
                            let v = self.const_f32(*v);
                            self.node("Pad", &[&x, &pads, &v], vec![])
                        }
                        PoolPad::Min => {
                            let m =
                                self.node("ReduceMin", &[&x], vec![attr_ints("axes", &[1, 2]), attr_i("keepdims", 1)]);
                            let shape = self.node("Shape", &[&x], vec![]);
                            let s0 = self.const_i64(&[0]);
                            let s1 = self.const_i64(&[1]);
                            let batch = self.node("Slice", &[&shape, &s0, &s1], vec![]);
                            let mut parts = Vec::new();
                            for (side, n) in [("l", *pad_left), ("r", *pad_right)] {
                                if n == 0 {
                                    parts.push((side, None));
                                    continue;
                                }
                                let rest = self.const_i64(&[c as i64, n as i64]);
                                let full = self.node("Concat", &[&batch, &rest], vec![attr_i("axis", 0)]);
                                parts.push((side, Some(self.node("Expand", &[&m, &full], vec![]))));
                            }
                            let mut ins: Vec<String> = Vec::new();
                            if let Some(p) = &parts[0].1 {
                                ins.push(p.clone());
                            }
                            ins.push(x.clone());
                            if let Some(p) = &parts[1].1 {
                                ins.push(p.clone());
                            }
                            let refs: Vec<&str> = ins.iter().map(String::as_str).collect();
                            self.node("Concat", &refs, vec![attr_i("axis", 2)])
                        }
                    };
                    let lp = l + pad_left + pad_right;
                    let w = lp / size;
                    let trimmed = if w * size != lp {
                        let st = self.const_i64(&[0]);
                        let en = self.const_i64(&[(w * size) as i64]);
                        let ax = self.const_i64(&[2]);
                        self.node("Slice", &[&padded, &st, &en, &ax], vec![])
                    } else {
                        padded
                    };
                    let shape = self.const_i64(&[0, c as i64, w as i64, *size as i64]);
                    let r = self.node("Reshape", &[&trimmed, &shape], vec![]);
                    let sm = self.node("Softmax", &[&r], vec![attr_i("axis", 3)]);
                    let prod = self.node("Mul", &[&r, &sm], vec![]);
                    let ax = self.const_i64(&[3]);
                    x = self.node("ReduceSum", &[&prod, &ax], vec![attr_i("keepdims", 0)]);
                    s = Shape::Seq { c, l: w };
                }
                Layer::Crop { left, right } => {
                    let st = self.const_i64(&[*left as i64]);
                    let en = self.const_i64(&[(l - right) as i64]);
                    let ax = self.const_i64(&[2]);
                    x = self.node("Slice", &[&x, &st, &en, &ax], vec![]);
                    s = Shape::Seq { c, l: l - left - right };
                }
                Layer::Pad { left, right, value } => {
                    let pads = self.const_i64(&[0, 0, *left as i64, 0, 0, *right as i64]);
                    let v = self.const_f32(*value);
                    x = self.node("Pad", &[&x, &pads, &v], vec![]);
                    s = Shape::Seq { c, l: l + left + right };
                }
                Layer::Residual { layers } => {
                    let (y, _) = self.layers(layers, &lpath, x.clone(), s)?;
                    x = self.node("Add", &[&x, &y], vec![]);
                }
                Layer::StrandMax { layers } => {
                    let st = self.const_i64(&[-1, -1]);
                    let en = self.const_i64(&[i64::MIN, i64::MIN]);
                    let ax = self.const_i64(&[1, 2]);
                    let steps = self.const_i64(&[-1, -1]);
                    let rc = self.node("Slice", &[&x, &st, &en, &ax, &steps], vec![]);
                    let (fwd, s2) = self.layers(layers, &lpath, x.clone(), s)?;
                    let (rev, _) = self.layers(layers, &lpath, rc, s)?;
                    let st1 = self.const_i64(&[-1]);
                    let en1 = self.const_i64(&[i64::MIN]);
                    let ax1 = self.const_i64(&[2]);
                    let step1 = self.const_i64(&[-1]);
                    let back = self.node("Slice", &[&rev, &st1, &en1, &ax1, &step1], vec![]);
                    x = self.node("Max", &[&fwd, &back], vec![]);
                    s = s2;
                }
                Layer::Flatten => {
                    x = self.node("Flatten", &[&x], vec![attr_i("axis", 1)]);
                    s = Shape::Flat { f: c * l };
                }
                Layer::Linear { name, units, bias } => {
                    let prefix = name.clone().unwrap_or(lpath.clone());
                    let w = self.weight(&format!("{prefix}.weight"))?;
                    let wn =
                        self.init_f32(&format!("{prefix}.weight"), &[*units, c], std::borrow::Cow::Borrowed(&w.data));
                    let mut ins = vec![x.clone(), wn];
                    if *bias {
                        let b = self.weight(&format!("{prefix}.bias"))?;
                        ins.push(self.init_f32(
                            &format!("{prefix}.bias"),
                            &[*units],
                            std::borrow::Cow::Borrowed(&b.data),
                        ));
                    }
                    let refs: Vec<&str> = ins.iter().map(String::as_str).collect();
                    x = self.node("Gemm", &refs, vec![attr_i("transB", 1)]);
                    s = Shape::Flat { f: *units };
                }
            }
            i += if consumed_bn { 2 } else { 1 };
        }
        Ok((x, s))
    }
}

fn value_info(name: &str, dims: &[Option<i64>]) -> pb::ValueInfoProto {
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

/// Emits the ONNX model for `spec` with `weights` (checked against the spec first).
pub fn emit(spec: &ModelSpec, weights: &Weights, opts: EmitOptions) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    emit_to(spec, weights, opts, &mut out)?;
    Ok(out)
}

/// Streams the ONNX model to `w` without building it in memory: weights are written straight
/// from `weights` (protobuf allows a message's fields in any order, so each initializer's
/// raw data follows its other fields).
pub fn emit_to<W: std::io::Write>(spec: &ModelSpec, weights: &Weights, opts: EmitOptions, w: &mut W) -> Result<()> {
    let analysis = spec.analyze()?;
    if !spec.has_layers() {
        return Err(Error::Spec("the spec has no layers to emit (it describes a foreign ONNX file)".into()));
    }
    weights.check(&analysis.weights, std::path::Path::new("weights"))?;
    let mut g =
        Graph { nodes: vec![], inits: vec![], init_names: HashSet::new(), n: 0, weights, fold_bn: opts.fold_bn };
    let input = spec.input.onnx_name.clone();
    let x0 = g.node("Transpose", &[&input], vec![attr_ints("perm", &[0, 2, 1])]);
    let (trunk, ts) = g.layers(&spec.trunk, "trunk", x0, Shape::Seq { c: 4, l: spec.input.length as usize })?;
    let mut outputs = Vec::new();
    for (h, (_, geom)) in spec.heads.iter().zip(&analysis.heads) {
        let (y, hs) = g.layers(&h.layers, &format!("head.{}", h.name), trunk.clone(), ts)?;
        let node = match hs {
            Shape::Seq { .. } => pb::NodeProto {
                input: vec![y],
                output: vec![h.name.clone()],
                name: format!("output_{}", h.name),
                op_type: "Transpose".into(),
                attribute: vec![attr_ints("perm", &[0, 2, 1])],
                ..Default::default()
            },
            Shape::Flat { .. } => {
                let ax = g.const_i64(&[1]);
                pb::NodeProto {
                    input: vec![y, ax],
                    output: vec![h.name.clone()],
                    name: format!("output_{}", h.name),
                    op_type: "Unsqueeze".into(),
                    ..Default::default()
                }
            }
        };
        g.nodes.push(node);
        outputs.push(value_info(&h.name, &[None, Some(geom.bins as i64), Some(geom.tracks as i64)]));
    }
    let inits = std::mem::take(&mut g.inits);
    let graph = pb::GraphProto {
        node: g.nodes,
        name: spec.name.clone(),
        input: vec![value_info(&input, &[None, Some(spec.input.length as i64), Some(4)])],
        output: outputs,
        ..Default::default()
    };
    let model = pb::ModelProto {
        ir_version: 8,
        opset_import: vec![pb::OperatorSetIdProto { domain: String::new(), version: OPSET }],
        producer_name: "s2f".into(),
        producer_version: env!("CARGO_PKG_VERSION").into(),
        doc_string: format!("{} (s2f model spec v{})", spec.name, spec.version),
        graph: None,
        metadata_props: vec![pb::StringStringEntryProto { key: "s2f.spec".into(), value: spec.to_json() }],
        ..Default::default()
    };
    write_streamed(&model, &graph, &inits, w).map_err(|e| Error::io("model.onnx", e))
}

/// Writes `model` with `graph` (field 7) whose initializers (field 5) are streamed.
fn write_streamed<W: std::io::Write>(
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
    let params = graph.initializer.iter().map(|t| t.dims.iter().product::<i64>().max(0) as u64).sum();
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
