//! Attributions: which bases drive a prediction. Gradient methods run the gradient graph the
//! emitter derives from the spec ([`crate::model::onnx::emit_gradient`]) on any engine.
//!
//! The objective, per sequence and map: Σ over bins `bins` of the head's output for one track
//! (one map per selected track), or of the mean of the selected tracks ([`Combine::Mean`], one
//! map, DRG's class averaging). Maps are `(N, maps, L, 4)`: position then base (A, C, G, T), as
//! the input one-hot.
//!
//! Methods:
//! - [`Method::Grad`]: ∂objective/∂input; mean-centred over the four bases at each position
//!   unless `center` is off (DRG's `takegrad`, with weighted pooling's `min` pad held constant);
//! - [`Method::GradXInput`]: the raw gradient times the input;
//! - [`Method::Ism`]: in-silico saturation mutagenesis: for every position of `span` and every
//!   base, objective(mutant) − objective(reference), 0 at the observed base (all four bases are
//!   substituted where the input has no observed base, e.g. N); mean-centred over bases unless
//!   `center` is off (DRG's `ism`). Positions outside `span` are 0. Mutants run through the
//!   model graph in batches.
//!
//! With `rc`, the maps of the reverse complement, mapped back to forward coordinates (reverse
//! both axes), are averaged with the forward ones.

use std::ops::Range;

use ndarray::{Array2, Array3, Array4, ArrayView3, Axis};

use crate::engine::{create, Device, Engine, EngineKind};
use crate::error::{Error, Result};
use crate::genome::onehot::reverse_complement_onehot;
use crate::model::onnx::{emit_gradient, EmitOptions};
use crate::model::Package;

/// Attribution method.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// Input gradient.
    Grad,
    /// Raw input gradient × input.
    GradXInput,
    /// Saturation mutagenesis.
    Ism,
}

/// How the selected tracks form objectives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Combine {
    /// One objective (and map) per track.
    #[default]
    PerTrack,
    /// One objective: the mean of the selected tracks.
    Mean,
}

/// What to attribute and how.
#[derive(Debug, Clone)]
pub struct AttributeOptions {
    /// Method.
    pub method: Method,
    /// Head index.
    pub head: usize,
    /// Track columns of the head (empty: all).
    pub tracks: Vec<usize>,
    /// Output bins summed by the objective (`None`: all).
    pub bins: Option<Range<usize>>,
    /// Per-track maps or their mean.
    pub combine: Combine,
    /// Mean-centre gradients over the four bases at each position ([`Method::Grad`] only).
    pub center: bool,
    /// Average with the reverse complement's maps.
    pub rc: bool,
    /// Positions mutated by [`Method::Ism`] (`None`: the whole window).
    pub span: Option<Range<usize>>,
    /// Rows (sequence × map) per engine run.
    pub batch: usize,
}

/// Computes attributions of one package's head on one engine.
pub struct Attributor {
    engine: Box<dyn Engine>,
    opts: AttributeOptions,
    length: usize,
    bins: usize,
    tracks: usize,
    /// Objective weights `(maps, bins, tracks)`.
    objectives: Array3<f32>,
}

impl Attributor {
    /// Emits the gradient graph of `opts.head` and loads it on `kind`/`device`. A bare ONNX
    /// model (no spec or weights) is refused: attributions need an s2f package.
    pub fn new(pkg: &Package, kind: EngineKind, device: Device, opts: AttributeOptions) -> Result<Self> {
        let (spec, weights) = match (&pkg.spec, &pkg.weights) {
            (Some(s), Some(w)) if s.has_layers() => (s, w),
            _ => {
                return Err(Error::InvalidArgument(format!(
                    "{}: attributions need an s2f package (model.json with layers and model.safetensors), \
                     not a bare or foreign ONNX model",
                    pkg.path.display()
                )))
            }
        };
        if opts.batch == 0 {
            return Err(Error::InvalidArgument("batch size must be positive".into()));
        }
        let analysis = spec.analyze()?;
        let geom = analysis
            .heads
            .get(opts.head)
            .map(|h| h.1)
            .ok_or_else(|| Error::InvalidArgument(format!("no head {}", opts.head)))?;
        let (bins, tracks) = (geom.bins as usize, geom.tracks as usize);
        let range = opts.bins.clone().unwrap_or(0..bins);
        if range.start >= range.end || range.end > bins {
            return Err(Error::InvalidArgument(format!(
                "bins {}:{} are not a non-empty range within the head's {bins} bins",
                range.start, range.end
            )));
        }
        let selected: Vec<usize> = if opts.tracks.is_empty() { (0..tracks).collect() } else { opts.tracks.clone() };
        if let Some(t) = selected.iter().find(|&&t| t >= tracks) {
            return Err(Error::InvalidArgument(format!("track {t} is out of range: the head has {tracks} tracks")));
        }
        let maps = if opts.combine == Combine::Mean { 1 } else { selected.len() };
        let mut objectives = Array3::<f32>::zeros((maps, bins, tracks));
        let share = if opts.combine == Combine::Mean { 1.0 / selected.len() as f32 } else { 1.0 };
        for (k, &t) in selected.iter().enumerate() {
            let m = if opts.combine == Combine::Mean { 0 } else { k };
            for b in range.clone() {
                objectives[(m, b, t)] += share;
            }
        }
        if let Some(span) = &opts.span {
            if span.start >= span.end || span.end as u64 > spec.input.length {
                return Err(Error::InvalidArgument(format!(
                    "span {}:{} is not a non-empty range within the {}-bp window",
                    span.start, span.end, spec.input.length
                )));
            }
        }
        let graph = match opts.method {
            Method::Ism => crate::model::onnx::emit(spec, weights, EmitOptions::default())?,
            Method::Grad | Method::GradXInput => emit_gradient(spec, weights, opts.head, EmitOptions::default())?,
        };
        let engine = create(kind, device, &graph)?;
        Ok(Self { engine, opts, length: spec.input.length as usize, bins, tracks, objectives })
    }

    /// Number of maps per sequence.
    pub fn maps(&self) -> usize {
        self.objectives.shape()[0]
    }

    /// Engine description.
    pub fn describe(&self) -> String {
        self.engine.describe()
    }

    /// Attributions `(N, maps, L, 4)` of one-hot `x` `(N, L, 4)`.
    pub fn attribute(&mut self, x: ArrayView3<f32>) -> Result<Array4<f32>> {
        let (n, l, c) = x.dim();
        if l != self.length || c != 4 {
            return Err(Error::InvalidArgument(format!(
                "input is (N, {l}, {c}); the model reads (N, {}, 4)",
                self.length
            )));
        }
        let mut out = self.pass(x)?;
        if self.opts.rc {
            let mut rc = x.to_owned();
            for mut s in rc.axis_iter_mut(Axis(0)) {
                if let Some(v) = s.as_slice_mut() {
                    reverse_complement_onehot(v);
                }
            }
            let back = self.pass(rc.view())?;
            for (mut a, b) in out.outer_iter_mut().zip(back.outer_iter()) {
                for (mut am, bm) in a.outer_iter_mut().zip(b.outer_iter()) {
                    // Position i, base b of the reverse complement is position L−1−i, base 3−b.
                    let mut flipped = bm.to_owned();
                    if let Some(v) = flipped.as_slice_mut() {
                        reverse_complement_onehot(v);
                    }
                    am.zip_mut_with(&flipped, |p, q| *p = 0.5 * (*p + q));
                }
            }
        }
        debug_assert_eq!(out.shape()[0], n);
        Ok(out)
    }

    /// One pass over `x` (no reverse complement).
    fn pass(&mut self, x: ArrayView3<f32>) -> Result<Array4<f32>> {
        match self.opts.method {
            Method::Ism => self.ism(x),
            Method::Grad | Method::GradXInput => self.gradients(x),
        }
    }

    /// Objective values `(rows, maps)` of the model's outputs for `x`, in engine batches.
    fn objectives_of(&mut self, x: &Array3<f32>) -> Result<Array2<f32>> {
        let (rows, l, _) = x.dim();
        let maps = self.maps();
        let mut out = Array2::<f32>::zeros((rows, maps));
        let mut start = 0;
        while start < rows {
            let end = (start + self.opts.batch).min(rows);
            let xb = x.slice(ndarray::s![start..end, .., ..]).to_owned().into_dyn();
            let mut outs = self.engine.run(xb)?;
            let head = self.opts.head;
            if head >= outs.len() {
                return Err(Error::Engine { engine: self.engine.describe(), message: format!("no output {head}") });
            }
            let y = outs.swap_remove(head);
            if y.shape() != [end - start, self.bins, self.tracks] {
                return Err(Error::Engine {
                    engine: self.engine.describe(),
                    message: format!(
                        "output of shape {:?}, expected [{}, {}, {}]",
                        y.shape(),
                        end - start,
                        self.bins,
                        self.tracks
                    ),
                });
            }
            for (r, yr) in y.outer_iter().enumerate() {
                for m in 0..maps {
                    let w = self.objectives.index_axis(Axis(0), m);
                    out[(start + r, m)] = yr.iter().zip(w.iter()).map(|(a, b)| a * b).sum();
                }
            }
            start = end;
        }
        debug_assert_eq!(l, self.length);
        Ok(out)
    }

    /// Saturation mutagenesis of each sequence of `x`.
    fn ism(&mut self, x: ArrayView3<f32>) -> Result<Array4<f32>> {
        let (n, l, _) = x.dim();
        let maps = self.maps();
        let span = self.opts.span.clone().unwrap_or(0..l);
        let mut out = Array4::<f32>::zeros((n, maps, l, 4));
        for s in 0..n {
            let xs = x.index_axis(Axis(0), s);
            // Row 0 is the reference; then one row per (position, base) that differs from it.
            let mut muts: Vec<(usize, usize)> = Vec::new();
            for i in span.clone() {
                let observed = (0..4).find(|&b| xs[(i, b)] == 1.0 && (0..4).all(|c| c == b || xs[(i, c)] == 0.0));
                for b in 0..4 {
                    if Some(b) != observed {
                        muts.push((i, b));
                    }
                }
            }
            let mut batch = Array3::<f32>::zeros((muts.len() + 1, l, 4));
            for mut row in batch.outer_iter_mut() {
                row.assign(&xs);
            }
            for (k, &(i, b)) in muts.iter().enumerate() {
                let mut pos = batch.slice_mut(ndarray::s![k + 1, i, ..]);
                pos.fill(0.0);
                pos[b] = 1.0;
            }
            let obj = self.objectives_of(&batch)?;
            for (k, &(i, b)) in muts.iter().enumerate() {
                for m in 0..maps {
                    out[(s, m, i, b)] = obj[(k + 1, m)] - obj[(0, m)];
                }
            }
        }
        if self.opts.center {
            for mut pos in out.lanes_mut(Axis(3)) {
                let mean = pos.sum() / 4.0;
                pos.mapv_inplace(|v| v - mean);
            }
        }
        Ok(out)
    }

    /// Gradient methods: every sequence × map as one row of the gradient graph.
    fn gradients(&mut self, x: ArrayView3<f32>) -> Result<Array4<f32>> {
        let (n, l, _) = x.dim();
        let maps = self.maps();
        let rows = n * maps;
        let mut grads: Vec<f32> = Vec::with_capacity(rows * l * 4);
        let mut start = 0;
        while start < rows {
            let end = (start + self.opts.batch).min(rows);
            let m = end - start;
            let mut xb = Array3::<f32>::zeros((m, l, 4));
            let mut ob = Array3::<f32>::zeros((m, self.bins, self.tracks));
            for (j, r) in (start..end).enumerate() {
                xb.index_axis_mut(Axis(0), j).assign(&x.index_axis(Axis(0), r / maps));
                ob.index_axis_mut(Axis(0), j).assign(&self.objectives.index_axis(Axis(0), r % maps));
            }
            let outs = self.engine.run_inputs(vec![xb.into_dyn(), ob.into_dyn()])?;
            let g = outs.get(1).ok_or_else(|| Error::Engine {
                engine: self.engine.describe(),
                message: "the gradient graph returned no gradient".into(),
            })?;
            if g.shape() != [m, l, 4] {
                return Err(Error::Engine {
                    engine: self.engine.describe(),
                    message: format!("gradient of shape {:?}, expected [{m}, {l}, 4]", g.shape()),
                });
            }
            grads.extend(g.iter().copied());
            start = end;
        }
        let mut out = Array4::from_shape_vec((n, maps, l, 4), grads)
            .map_err(|e| Error::InvalidArgument(format!("attribution shape: {e}")))?;
        match self.opts.method {
            Method::Grad if self.opts.center => {
                for mut pos in out.lanes_mut(Axis(3)) {
                    let mean = pos.sum() / 4.0;
                    pos.mapv_inplace(|v| v - mean);
                }
            }
            Method::Grad | Method::Ism => {}
            Method::GradXInput => {
                for (mut s, xs) in out.outer_iter_mut().zip(x.outer_iter()) {
                    for mut map in s.outer_iter_mut() {
                        map.zip_mut_with(&xs, |g, &v| *g *= v);
                    }
                }
            }
        }
        Ok(out)
    }
}
