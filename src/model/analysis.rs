//! What a [`ModelSpec`] implies: shapes between layers, weight slots, cost, geometry and
//! receptive fields — one loop over the layers, each op inferring its own part
//! ([`Op::infer`](crate::model::ops::Op::infer)).

use std::collections::{BTreeMap, HashSet};

use crate::error::{Error, Result};
use crate::model::ops::{with_op, Layer, Op, Site};
use crate::model::spec::{Geometry, ModelSpec, FORMAT, VERSION};

/// Shape of the tensor between layers (batch axis omitted).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// (channels, length)
    Seq {
        /// Channels.
        c: usize,
        /// Positions.
        l: usize,
    },
    /// (features,)
    Flat {
        /// Features.
        f: usize,
    },
}

impl std::fmt::Display for Shape {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Shape::Seq { c, l } => write!(f, "({l}, {c})"),
            Shape::Flat { f: n } => write!(f, "({n},)"),
        }
    }
}

impl Shape {
    /// ONNX dimensions with a symbolic batch: `[batch, c, l]` or `[batch, f]`.
    pub fn onnx_dims(&self) -> Vec<Option<i64>> {
        match self {
            Shape::Seq { c, l } => vec![None, Some(*c as i64), Some(*l as i64)],
            Shape::Flat { f } => vec![None, Some(*f as i64)],
        }
    }
}

/// A weight tensor the spec expects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WeightSlot {
    /// Full name, e.g. `conv0.weight`.
    pub name: String,
    /// Expected shape.
    pub shape: Vec<usize>,
}

/// One row of the layer table that `s2f inspect` prints.
#[derive(Debug, Clone)]
pub struct LayerRow {
    /// Nesting depth (0 for trunk/head layers).
    pub depth: usize,
    /// Layer name, else its path.
    pub name: String,
    /// Short description, e.g. `conv1d k15 d1 288`.
    pub what: String,
    /// Output shape as (length, channels) or (features,).
    pub out: Shape,
    /// Parameters (all weight elements, trainable or not).
    pub params: u64,
    /// Multiply-accumulates per sequence (convolutions, dense and linear layers).
    pub macs: u64,
}

/// What the spec implies: shapes, weights, cost and geometry.
#[derive(Debug, Clone)]
pub struct Analysis {
    /// Every weight tensor in emission order.
    pub weights: Vec<WeightSlot>,
    /// Layer table.
    pub rows: Vec<LayerRow>,
    /// Output geometry of each head, in head order.
    pub heads: Vec<(String, Geometry)>,
    /// Total parameters.
    pub params: u64,
    /// Total multiply-accumulates per sequence.
    pub macs: u64,
    /// Receptive field of one output (bp), per head.
    pub receptive_field: Vec<u64>,
    /// (input, output) shape of every layer by path (`trunk.3`, `trunk.28.1`, `head.human.0`).
    pub io: BTreeMap<String, (Shape, Shape)>,
    /// Shape of the trunk's output (the heads' input in the single-chain form).
    pub trunk_out: Shape,
    /// Shape of every named tensor of the graph form (primary input, `trunk`, further inputs,
    /// nodes; see [`crate::model::graph`]).
    pub tensors: BTreeMap<String, Shape>,
}

impl Analysis {
    /// The [`Site`] of the layer at `path`.
    pub fn site(&self, path: &str, layer: &Layer) -> Result<Site> {
        let (input, output) = self
            .io
            .get(path)
            .copied()
            .ok_or_else(|| Error::Spec(format!("{path}: no such layer in the analysed spec")))?;
        Ok(Site { path: path.to_string(), op: layer.tag(), input, output })
    }
}

/// Position bookkeeping: position i of the current tensor starts at `offset + i·stride` bp of
/// the window; `rf` is the receptive field in bp.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Geo {
    /// bp between consecutive positions.
    pub stride: i64,
    /// Window offset (bp) of position 0.
    pub offset: i64,
    /// Receptive field (bp) of one position.
    pub rf: i64,
}

/// What one op infers about its layer.
#[derive(Debug, Clone)]
pub struct Inferred {
    /// Output shape.
    pub out: Shape,
    /// Output geometry.
    pub geo: Geo,
    /// Description for the layer table.
    pub what: String,
    /// Weight elements of this layer itself (not of nested blocks).
    pub params: u64,
    /// Multiply-accumulates of this layer (for a block: any extra work beyond its rows).
    pub macs: u64,
}

impl Inferred {
    /// A shape-only op: no weights, no cost.
    pub fn plain(out: Shape, geo: Geo, what: impl Into<String>) -> Self {
        Self { out, geo, what: what.into(), params: 0, macs: 0 }
    }
}

/// The loop over layers that builds an [`Analysis`]; ops call back into it for weight slots
/// and nested blocks.
pub struct Walker {
    weights: Vec<WeightSlot>,
    rows: Vec<LayerRow>,
    io: BTreeMap<String, (Shape, Shape)>,
    depth: usize,
    /// The first weight too large to hold (name, shape), reported once the walk ends.
    too_large: Option<(String, Vec<usize>)>,
}

/// Most values one weight tensor may hold (2^31, 8 GiB of float32): a spec asking for more is
/// refused before anything is allocated.
pub const MAX_TENSOR_VALUES: u64 = 1 << 31;
/// Longest input a spec may declare (2^28 bp, longer than any human chromosome).
pub const MAX_INPUT_LENGTH: u64 = 1 << 28;

/// Largest integer a layer field (filters, kernel, dilation, pool size, crop, padding, units)
/// may hold: 2^24, far beyond any real model, small enough that no shape arithmetic overflows.
pub const MAX_LAYER_FIELD: u64 = 1 << 24;

/// Fails when a top-level integer field of `layer` exceeds [`MAX_LAYER_FIELD`] (nested blocks
/// are checked when they are walked).
fn check_sizes(layer: &Layer, path: &str) -> Result<()> {
    let value = serde_json::to_value(layer).map_err(|e| Error::Spec(format!("{path}: {e}")))?;
    let Some(fields) = value.as_object() else { return Ok(()) };
    for (key, v) in fields {
        let too_big = match v {
            serde_json::Value::Number(n) => {
                n.as_u64().map_or(n.as_f64().is_some_and(|f| f.abs() > MAX_LAYER_FIELD as f64), |u| u > MAX_LAYER_FIELD)
            }
            _ => false,
        };
        if too_big {
            return Err(Error::Spec(format!("{path}: {key} = {v} is larger than {MAX_LAYER_FIELD}")));
        }
    }
    Ok(())
}

/// Multiply-accumulates of a layer, the product of `dims`, saturating instead of overflowing.
pub fn macs(dims: &[usize]) -> u64 {
    dims.iter().fold(1u64, |a, &d| a.saturating_mul(d as u64))
}

impl Walker {
    /// Declares weight `<prefix>.<param>` of `shape`; returns its element count.
    /// A tensor over [`MAX_TENSOR_VALUES`] makes the analysis fail.
    pub fn slot(&mut self, prefix: &str, param: &str, shape: Vec<usize>) -> u64 {
        let name = format!("{prefix}.{param}");
        let n = shape.iter().try_fold(1u64, |a, &d| a.checked_mul(d as u64)).filter(|&n| n <= MAX_TENSOR_VALUES);
        if n.is_none() && self.too_large.is_none() {
            self.too_large = Some((name.clone(), shape.clone()));
        }
        self.weights.push(WeightSlot { name, shape });
        n.unwrap_or(MAX_TENSOR_VALUES)
    }

    /// Walks a nested block one level deeper; returns its output shape and geometry and the
    /// multiply-accumulates of its rows.
    pub fn block(&mut self, layers: &[Layer], path: &str, s: Shape, g: Geo) -> Result<(Shape, Geo, u64)> {
        self.depth += 1;
        let start = self.rows.len();
        let r = self.walk(layers, path, s, g);
        self.depth -= 1;
        let (s, g) = r?;
        Ok((s, g, self.rows[start..].iter().map(|r| r.macs).sum()))
    }

    fn walk(&mut self, layers: &[Layer], path: &str, mut s: Shape, mut g: Geo) -> Result<(Shape, Geo)> {
        for (i, layer) in layers.iter().enumerate() {
            let lpath = format!("{path}.{i}");
            let row = self.rows.len();
            self.rows.push(LayerRow {
                depth: self.depth,
                name: String::new(),
                what: String::new(),
                out: s,
                params: 0,
                macs: 0,
            });
            check_sizes(layer, &lpath)?;
            let inf = with_op!(layer, op => op.infer(self, &lpath, s, g))?;
            self.rows[row] = LayerRow {
                depth: self.depth,
                name: layer.name().map(str::to_string).unwrap_or_else(|| lpath.clone()),
                what: inf.what,
                out: inf.out,
                params: inf.params,
                macs: inf.macs,
            };
            if self.io.insert(lpath.clone(), (s, inf.out)).is_some() {
                return Err(Error::Spec(format!(
                    "layer path {lpath:?} names two layers (a head name containing '.' collides with a block path): rename the head"
                )));
            }
            s = inf.out;
            g = inf.geo;
        }
        Ok((s, g))
    }
}

impl ModelSpec {
    /// Checks the spec and derives weights, cost, geometry and every layer's shapes.
    pub fn analyze(&self) -> Result<Analysis> {
        if self.format != FORMAT {
            return Err(Error::Spec(format!("format is {:?}, expected {FORMAT:?}", self.format)));
        }
        if self.version != VERSION {
            return Err(Error::Spec(format!("version {} is not supported (this s2f reads {VERSION})", self.version)));
        }
        if self.input.length == 0 || self.input.length > MAX_INPUT_LENGTH {
            return Err(Error::Spec(format!(
                "input length {} must be between 1 and {MAX_INPUT_LENGTH} bp",
                self.input.length
            )));
        }
        if self.heads.is_empty() {
            return Err(Error::Spec("a model needs at least one head".into()));
        }
        let mut names = HashSet::new();
        for h in &self.heads {
            if !names.insert(&h.name) {
                return Err(Error::Spec(format!("duplicate head name {:?}", h.name)));
            }
        }
        let s0 = Shape::Seq { c: 4, l: self.input.length as usize };
        let mut heads = Vec::new();
        let mut rfs = Vec::new();
        if !self.has_layers() {
            for h in &self.heads {
                let g = h.geometry.ok_or_else(|| {
                    Error::Spec(format!("head {:?}: a spec without layers must give its geometry", h.name))
                })?;
                heads.push((h.name.clone(), g));
                rfs.push(self.input.length);
            }
            self.check_profile_counts(&heads)?;
            return Ok(Analysis {
                weights: vec![],
                rows: vec![],
                heads,
                params: 0,
                macs: 0,
                receptive_field: rfs,
                io: BTreeMap::new(),
                trunk_out: s0,
                tensors: BTreeMap::new(),
            });
        }
        let mut w = Walker { weights: Vec::new(), rows: Vec::new(), io: BTreeMap::new(), depth: 0, too_large: None };
        let g0 = Geo { stride: 1, offset: 0, rf: 1 };
        let (ts, tg) = w.walk(&self.trunk, "trunk", s0, g0)?;
        self.check_graph_names()?;
        let mut named: BTreeMap<String, (Shape, Geo)> = BTreeMap::new();
        named.insert(self.input.onnx_name.clone(), (s0, g0));
        named.insert(crate::model::graph::TRUNK.into(), (ts, tg));
        for i in &self.inputs {
            if i.length > MAX_INPUT_LENGTH || i.channels as u64 > MAX_LAYER_FIELD {
                return Err(Error::Spec(format!("input {:?}: length or channels too large", i.name)));
            }
            let g = Geo { stride: 1, offset: i.offset.unwrap_or(0), rf: 1 };
            named.insert(i.name.clone(), (Shape::Seq { c: i.channels, l: i.length as usize }, g));
        }
        for n in &self.graph {
            let sources = n.from.iter().map(|f| named.get(f).copied()).collect::<Option<Vec<_>>>();
            let sources = sources.ok_or_else(|| Error::Spec(format!("node {:?}: a source is undefined", n.name)))?;
            let (s, g) = match n.merge {
                Some(m) => crate::model::ops::merge::infer(m, &n.path(), &sources)?,
                None => sources[0],
            };
            let out = w.walk(&n.layers, &n.path(), s, g)?;
            named.insert(n.name.clone(), out);
        }
        for h in &self.heads {
            let (ss, sg) = named
                .get(self.head_source(h))
                .copied()
                .ok_or_else(|| Error::Spec(format!("head {:?}: its source is undefined", h.name)))?;
            let (hs, hg) = w.walk(&h.layers, &format!("head.{}", h.name), ss, sg)?;
            let geom = match hs {
                Shape::Seq { c, l } => {
                    Geometry { bins: l as u64, bin_size: hg.stride as u64, offset: hg.offset, tracks: c as u64 }
                }
                Shape::Flat { f } => Geometry { bins: 1, bin_size: self.input.length, offset: 0, tracks: f as u64 },
            };
            if let Some(given) = h.geometry {
                if given != geom {
                    return Err(Error::Spec(format!(
                        "head {:?}: stated geometry {given:?} differs from the layers' {geom:?}",
                        h.name
                    )));
                }
            }
            let mut paired = HashSet::new();
            for &[a, b] in &h.strand_pairs {
                if a as u64 >= geom.tracks
                    || b as u64 >= geom.tracks
                    || a == b
                    || !paired.insert(a)
                    || !paired.insert(b)
                {
                    return Err(Error::Spec(format!(
                        "head {:?}: strand pair [{a}, {b}] must name two distinct tracks below {}, each in one pair",
                        h.name, geom.tracks
                    )));
                }
            }
            if !h.tracks.is_empty() && h.tracks.len() as u64 != geom.tracks {
                return Err(Error::Spec(format!(
                    "head {:?} lists {} tracks but outputs {}",
                    h.name,
                    h.tracks.len(),
                    geom.tracks
                )));
            }
            rfs.push(match hs {
                Shape::Seq { .. } => hg.rf as u64,
                Shape::Flat { .. } => self.input.length,
            });
            heads.push((h.name.clone(), geom));
        }
        if let Some((name, shape)) = &w.too_large {
            return Err(Error::Spec(format!(
                "weight {name} of shape {shape:?} would hold more than {MAX_TENSOR_VALUES} values; check the layer sizes"
            )));
        }
        let mut seen = HashSet::new();
        for s in &w.weights {
            if !seen.insert(s.name.clone()) {
                return Err(Error::Spec(format!(
                    "weight name {:?} is used twice (give layers distinct names)",
                    s.name
                )));
            }
        }
        self.check_profile_counts(&heads)?;
        let params = w.rows.iter().map(|r| r.params).sum();
        let macs = w.rows.iter().map(|r| r.macs).sum();
        Ok(Analysis {
            weights: w.weights,
            rows: w.rows,
            heads,
            params,
            macs,
            receptive_field: rfs,
            io: w.io,
            trunk_out: ts,
            tensors: named.into_iter().map(|(k, (s, _))| (k, s)).collect(),
        })
    }

    /// Checks [`Head::profile_counts`]: it names another head with one value per window.
    fn check_profile_counts(&self, heads: &[(String, Geometry)]) -> Result<()> {
        for h in &self.heads {
            let Some(c) = &h.profile_counts else { continue };
            match heads.iter().find(|(n, _)| n == c) {
                Some((n, g)) if n != &h.name && g.bins == 1 && g.tracks == 1 => {}
                Some(_) => {
                    return Err(Error::Spec(format!(
                        "head {:?}: its profile_counts head {c:?} must be another head with one value per window",
                        h.name
                    )))
                }
                None => return Err(Error::Spec(format!("head {:?}: profile_counts names no head {c:?}", h.name))),
            }
        }
        Ok(())
    }

    /// Index of the top-level trunk layer named `at`: its path (`trunk.3`), its index (`3`) or
    /// its name (`stem_bn`). The point where graphs are cut into prefix and suffix.
    pub fn trunk_layer_index(&self, at: &str) -> Result<usize> {
        let by_index = at.strip_prefix("trunk.").unwrap_or(at).parse::<usize>().ok();
        let found = match by_index {
            Some(i) if i < self.trunk.len() => Some(i),
            _ => self.trunk.iter().position(|l| l.name() == Some(at)),
        };
        found.ok_or_else(|| {
            Error::InvalidArgument(format!(
                "no top-level trunk layer {at:?}: give trunk.I with I < {}, or a layer name ({})",
                self.trunk.len(),
                self.trunk.iter().filter_map(|l| l.name()).collect::<Vec<_>>().join(", ")
            ))
        })
    }
}

#[cfg(test)]
mod tests {
    use crate::model::ops::{Crop, Layer, MaxPool, Residual};
    use crate::model::spec::{Head, InputSpec, ModelSpec};

    #[test]
    fn colliding_layer_paths_are_refused() {
        // head "a" has a block at index 0 (path head.a.0.0); head "a.0" has layer head.a.0.0 too.
        let block = Layer::Residual(Residual { layers: vec![Layer::Crop(Crop { left: 0, right: 0 })] });
        let heads = vec![
            Head::new("a", vec![Layer::MaxPool(MaxPool { size: 1 }), block]),
            Head::new("a.0", vec![Layer::Crop(Crop { left: 1, right: 1 })]),
        ];
        let mut spec = ModelSpec::new("c", InputSpec::new(8, 0.0), vec![], heads);
        spec.heads[0].layers.swap(0, 1);
        let e = spec.analyze().unwrap_err().to_string();
        assert!(e.contains("layer path \"head.a.0.0\" names two layers"), "{e}");
    }
}
