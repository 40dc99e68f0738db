//! A small ONNX graph builder: nodes with fresh names, initializers borrowed from the weights
//! where possible, deduplicated constants, and the few compound patterns the ops share
//! (flips, slices and pads along an axis).

use std::borrow::Cow;
use std::collections::HashSet;

use tract_onnx::pb;

use crate::model::onnx::writer::{Init, InitData};

/// ONNX `TensorProto` data type of float32.
pub const FLOAT: i32 = 1;
/// ONNX `TensorProto` data type of int64.
pub const INT64: i32 = 7;

/// An integer attribute.
pub fn attr_i(name: &str, v: i64) -> pb::AttributeProto {
    pb::AttributeProto { name: name.into(), r#type: 2, i: v, ..Default::default() }
}
/// A float attribute.
pub fn attr_f(name: &str, v: f32) -> pb::AttributeProto {
    pb::AttributeProto { name: name.into(), r#type: 1, f: v, ..Default::default() }
}
/// An integer-list attribute.
pub fn attr_ints(name: &str, v: &[i64]) -> pb::AttributeProto {
    pb::AttributeProto { name: name.into(), r#type: 7, ints: v.to_vec(), ..Default::default() }
}

/// Nodes and initializers of one graph under construction.
#[derive(Default)]
pub struct Graph<'w> {
    /// Nodes in topological order.
    pub nodes: Vec<pb::NodeProto>,
    /// Initializers, streamed after the graph's other fields.
    pub inits: Vec<Init<'w>>,
    init_names: HashSet<String>,
    n: usize,
}

impl<'w> Graph<'w> {
    fn fresh(&mut self, hint: &str) -> String {
        self.n += 1;
        format!("{hint}_{}", self.n)
    }

    /// Adds a one-output node; returns the output's name.
    pub fn node(&mut self, op: &str, inputs: &[&str], attrs: Vec<pb::AttributeProto>) -> String {
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

    /// Adds a node whose output has a given name (a graph output).
    pub fn named_node(&mut self, op: &str, inputs: &[&str], attrs: Vec<pb::AttributeProto>, out: &str) {
        self.nodes.push(pb::NodeProto {
            input: inputs.iter().map(|s| s.to_string()).collect(),
            output: vec![out.to_string()],
            name: format!("output_{out}"),
            op_type: op.into(),
            attribute: attrs,
            ..Default::default()
        });
    }

    /// A float32 initializer named `name` (added once; later calls return the name).
    pub fn init_f32(&mut self, name: &str, dims: &[usize], data: Cow<'w, [f32]>) -> String {
        if self.init_names.insert(name.to_string()) {
            self.inits.push(Init {
                name: name.into(),
                dims: dims.iter().map(|&d| d as i64).collect(),
                data: InitData::F32(data),
            });
        }
        name.to_string()
    }

    /// A copy of the float32 initializer `name`, viewed as a `rows × cols` matrix (trailing
    /// axes of size 1 ignored), transposed and stored with dimensions `dims` (`cols·rows`
    /// values); `None` when no such initializer exists. (tract mis-lowers a `Transpose` node
    /// of a weight that feeds a matrix product, so gradients use a transposed copy.)
    pub fn init_transposed(&mut self, name: &str, rows: usize, cols: usize, dims: &[usize]) -> Option<String> {
        let data = self.inits.iter().find_map(|i| match (&i.data, i.name == name) {
            (InitData::F32(v), true) if v.len() == rows * cols => Some(v.clone()),
            _ => None,
        })?;
        let mut t = vec![0f32; rows * cols];
        for r in 0..rows {
            for c in 0..cols {
                t[c * rows + r] = data[r * cols + c];
            }
        }
        Some(self.init_f32(&format!("{name}^T"), dims, Cow::Owned(t)))
    }

    /// A float32 scalar constant.
    pub fn const_f32(&mut self, v: f32) -> String {
        let name = format!("const_f{:08x}", v.to_bits());
        self.init_f32(&name, &[], Cow::Owned(vec![v]))
    }

    /// A 1-D float32 constant of `n` copies of `v`.
    pub fn const_f32_fill(&mut self, v: f32, n: usize) -> String {
        let name = format!("const_f{:08x}x{n}", v.to_bits());
        self.init_f32(&name, &[n], Cow::Owned(vec![v; n]))
    }

    /// A 1-D int64 constant.
    pub fn const_i64(&mut self, v: &[i64]) -> String {
        let name =
            format!("const_i{}", v.iter().map(|x| x.to_string()).collect::<Vec<_>>().join("_").replace('-', "m"));
        if self.init_names.insert(name.clone()) {
            self.inits.push(Init { name: name.clone(), dims: vec![v.len() as i64], data: InitData::I64(v.to_vec()) });
        }
        name
    }

    /// `x[..., start:end, ...]` along `axis`.
    pub fn slice(&mut self, x: &str, axis: i64, start: i64, end: i64) -> String {
        let st = self.const_i64(&[start]);
        let en = self.const_i64(&[end]);
        let ax = self.const_i64(&[axis]);
        self.node("Slice", &[x, &st, &en, &ax], vec![])
    }

    /// Reverses `x` along each of `axes`.
    pub fn flip(&mut self, x: &str, axes: &[i64]) -> String {
        let st = self.const_i64(&vec![-1; axes.len()]);
        let en = self.const_i64(&vec![i64::MIN; axes.len()]);
        let ax = self.const_i64(axes);
        let steps = self.const_i64(&vec![-1; axes.len()]);
        self.node("Slice", &[x, &st, &en, &ax, &steps], vec![])
    }

    /// Reverses axis `axis` of `x`, whose length there is `len`, by a Gather with constant
    /// indices `len-1, …, 0`. Same values as [`Graph::flip`]; tract runs a Gather as a block
    /// copy, where it runs a step −1 Slice element by element (several times slower on wide
    /// tensors such as a strand max's convolution output).
    pub fn reverse(&mut self, x: &str, axis: i64, len: usize) -> String {
        let name = format!("const_reverse_{len}");
        if self.init_names.insert(name.clone()) {
            let idx: Vec<i64> = (0..len as i64).rev().collect();
            self.inits.push(Init { name: name.clone(), dims: vec![len as i64], data: InitData::I64(idx) });
        }
        self.node("Gather", &[x, &name], vec![attr_i("axis", axis)])
    }

    /// Pads a `(N, C, L)` tensor along its length with `left`/`right` copies of `value`.
    pub fn pad_length(&mut self, x: &str, left: usize, right: usize, value: f32) -> String {
        if left == 0 && right == 0 {
            return x.to_string();
        }
        let pads = self.const_i64(&[0, 0, left as i64, 0, 0, right as i64]);
        let v = self.const_f32(value);
        self.node("Pad", &[x, &pads, &v], vec![])
    }

    /// Inserts axes of size 1 at `axes`.
    pub fn unsqueeze(&mut self, x: &str, axes: &[i64]) -> String {
        let ax = self.const_i64(axes);
        self.node("Unsqueeze", &[x, &ax], vec![])
    }

    /// Reshapes (0 in `shape` keeps that dimension).
    pub fn reshape(&mut self, x: &str, shape: &[i64]) -> String {
        let s = self.const_i64(shape);
        self.node("Reshape", &[x, &s], vec![])
    }

    /// Transposes with `perm`.
    pub fn transpose(&mut self, x: &str, perm: &[i64]) -> String {
        self.node("Transpose", &[x], vec![attr_ints("perm", perm)])
    }

    /// A boolean tensor as float32 (1 or 0).
    pub fn to_float(&mut self, x: &str) -> String {
        self.node("Cast", &[x], vec![attr_i("to", FLOAT as i64)])
    }

    /// Element-wise binary op.
    pub fn bin(&mut self, op: &str, a: &str, b: &str) -> String {
        self.node(op, &[a, b], vec![])
    }
}
