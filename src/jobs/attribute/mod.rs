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
//!   `center` is off (DRG's `ism`). Positions outside `span` are 0. Every mutant runs through
//!   the whole model graph, in batches; with `split_ism` (experimental) the model is split at
//!   its first convolution and only the rest runs per mutant ([`ism::FastIsm`]): the same
//!   numbers, but not faster on the models measured so far (the rest's element-wise layers and
//!   the transfer of the convolution's output dominate);
//! - [`Method::DeepLift`]: DeepLIFT/SHAP (tangermeme's `deep_lift_shap`) against references,
//!   given or dinucleotide shuffles of each sequence ([`deeplift`]); attributions of the
//!   observed bases, or hypothetical contributions of every base. Not centred.
//!
//! With `profile`, the objective is BPNet's profile objective instead of a sum: each map's
//! cells weighted by the sequence's own softmax minus uniform ([`objective`]); the default
//! for profile heads with a count head.
//!
//! With `rc`, the maps of the reverse complement, mapped back to forward coordinates (reverse
//! both axes), are averaged with the forward ones. The reverse complement's objective covers
//! the same stretch of DNA: its bins reversed (the head's bins must be centred in the window)
//! and, for a stranded profile, its strand pairs swapped.

pub mod deeplift;
mod gradient;
pub mod ism;
pub mod logo;
pub mod objective;
pub mod output;

use std::ops::Range;

use ndarray::{Array2, Array3, Array4, ArrayView3, ArrayView4, Axis};

use crate::engine::{create, Device, Engine, EngineKind};
use crate::error::{Error, Result};
use crate::genome::onehot::reverse_complement_onehot;
use crate::model::onnx::{emit_deeplift, emit_gradient, EmitOptions};
use crate::model::Package;
use ism::{mutants, objective_values, take_head, FastIsm};

/// Attribution method.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// Input gradient.
    Grad,
    /// Raw input gradient × input.
    GradXInput,
    /// Saturation mutagenesis.
    Ism,
    /// DeepLIFT/SHAP against references ([`deeplift`]).
    DeepLift,
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
    /// Rows (sequence × map, or mutants) per engine run.
    pub batch: usize,
    /// ISM: split the model at its first convolution (experimental; see the module docs).
    pub split_ism: bool,
    /// DeepLIFT: dinucleotide shuffles per sequence when no references are given.
    pub shuffles: usize,
    /// DeepLIFT: seed of the shuffles.
    pub seed: u64,
    /// DeepLIFT: hypothetical contributions of every base instead of the observed base's.
    pub hypothetical: bool,
    /// BPNet's profile objective (see [`objective`]) instead of the sum over the cells.
    pub profile: bool,
}

impl AttributeOptions {
    /// Defaults for `method`: head 0, every track, every bin, one map per track, centred, no
    /// reverse complement, the whole window, 16 rows per run, naive ISM, 20 shuffles with seed 0.
    pub fn new(method: Method) -> Self {
        Self {
            method,
            head: 0,
            tracks: Vec::new(),
            bins: None,
            combine: Combine::PerTrack,
            center: true,
            rc: false,
            span: None,
            batch: 16,
            split_ism: false,
            shuffles: 20,
            seed: 0,
            hypothetical: false,
            profile: false,
        }
    }
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
    /// The same objectives seen from the reverse complement: bins reversed, strand pairs of the
    /// head swapped (used for the `rc` pass).
    rc_objectives: Array3<f32>,
    /// The split model of fast ISM.
    fast_ism: Option<FastIsm>,
    /// The plain forward graph, for the profile objective's weights with gradient methods.
    forward: Option<Box<dyn Engine>>,
    /// Further inputs of a graph-form model: name and shape without the batch, in the layout
    /// the graph takes them, and whether each is a one-hot sequence.
    extra: Vec<(String, [usize; 2], bool)>,
    /// Sequences attributed so far (DeepLIFT shuffles are seeded by sequence index).
    seen: usize,
    /// DeepLIFT: the largest relative summation-to-delta deviation so far.
    max_delta: f32,
}

impl Attributor {
    /// Emits the gradient graph of `opts.head` and loads it on `kind`/`device`. A bare ONNX
    /// model (no spec or weights) is refused: attributions need an s2f package.
    pub fn new(pkg: &Package, kind: EngineKind, device: Device, opts: AttributeOptions) -> Result<Self> {
        let (spec, weights) = pkg.spec_and_weights("attributions")?;
        if opts.batch == 0 {
            return Err(Error::InvalidArgument("batch size must be positive".into()));
        }
        let analysis = spec.analyze()?;
        let extra: Vec<(String, [usize; 2], bool)> = spec
            .inputs
            .iter()
            .map(|i| {
                let (l, c) = (i.length as usize, i.channels);
                let dims = match i.layout {
                    crate::model::spec::InputLayout::NLC => [l, c],
                    crate::model::spec::InputLayout::NCL => [c, l],
                };
                let onehot = i.kind == crate::model::graph::InputKind::Onehot
                    && c == 4
                    && i.layout == crate::model::spec::InputLayout::NLC;
                (i.name.clone(), dims, onehot)
            })
            .collect();
        if !extra.is_empty() && (!matches!(opts.method, Method::Grad | Method::GradXInput) || opts.rc) {
            return Err(Error::InvalidArgument(format!(
                "the model reads further inputs ({}): its per-input attributions are computed with grad or grad-x-input, \
                 without --rc",
                extra.iter().map(|e| e.0.as_str()).collect::<Vec<_>>().join(", ")
            )));
        }
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
        // On the reverse complement, bin b is bin (bins − 1 − b) of the forward strand and a
        // stranded profile's + track is the − track.
        let head_spec = &spec.heads[opts.head];
        let centred = 2 * geom.offset + (geom.bins * geom.bin_size) as i64 == spec.input.length as i64;
        if opts.rc && bins > 1 && !centred {
            return Err(Error::InvalidArgument(format!(
                "head {:?}: its bins are not centred in the window, so the reverse complement's bins are not the \
                 forward bins reversed; attribute without --rc",
                head_spec.name
            )));
        }
        let mut rc_objectives = objectives.clone();
        rc_objectives.invert_axis(Axis(1));
        let mut rc_objectives = rc_objectives.as_standard_layout().into_owned();
        for &[a, b] in &head_spec.strand_pairs {
            if a.max(b) < tracks {
                let (ca, cb) =
                    (rc_objectives.index_axis(Axis(2), a).to_owned(), rc_objectives.index_axis(Axis(2), b).to_owned());
                rc_objectives.index_axis_mut(Axis(2), a).assign(&cb);
                rc_objectives.index_axis_mut(Axis(2), b).assign(&ca);
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
            Method::DeepLift => emit_deeplift(spec, weights, opts.head, EmitOptions::default())?,
        };
        if opts.method == Method::DeepLift && opts.shuffles == 0 {
            return Err(Error::InvalidArgument("DeepLIFT needs at least one shuffle per sequence".into()));
        }
        let engine = create(kind, device, &graph)?;
        let forward = match (opts.profile, opts.method) {
            (true, Method::Grad | Method::GradXInput | Method::DeepLift) => {
                Some(create(kind, device, &crate::model::onnx::emit(spec, weights, EmitOptions::default())?)?)
            }
            _ => None,
        };
        let fast_ism = match opts.method {
            Method::Ism if opts.split_ism => match FastIsm::new(spec, weights, kind, device) {
                Ok(f) => Some(f),
                Err(e) => {
                    tracing::warn!("{e}; every mutant runs through the whole model");
                    None
                }
            },
            _ => None,
        };
        Ok(Self {
            engine,
            opts,
            length: spec.input.length as usize,
            bins,
            tracks,
            objectives,
            rc_objectives,
            fast_ism,
            forward,
            extra,
            seen: 0,
            max_delta: 0.0,
        })
    }

    /// Rows per engine run.
    pub fn batch(&self) -> usize {
        self.opts.batch
    }

    /// Number of maps per sequence.
    pub fn maps(&self) -> usize {
        self.objectives.shape()[0]
    }

    /// Engine description.
    pub fn describe(&self) -> String {
        self.engine.describe()
    }

    /// DeepLIFT: the largest relative deviation from summation to delta so far (see
    /// [`deeplift::DeepLiftOut::max_delta`]); 0 for other methods.
    pub fn max_delta(&self) -> f32 {
        self.max_delta
    }

    /// Attributions `(N, maps, L, 4)` of one-hot `x` `(N, L, 4)` (DeepLIFT against dinucleotide
    /// shuffles of each sequence).
    pub fn attribute(&mut self, x: ArrayView3<f32>) -> Result<Array4<f32>> {
        self.attribute_with(x, None)
    }

    /// Names and shapes (batch omitted, in the layout the graph takes) of the model's further
    /// inputs, in spec order.
    pub fn extra_inputs(&self) -> Vec<(String, [usize; 2])> {
        self.extra.iter().map(|(n, d, _)| (n.clone(), *d)).collect()
    }

    /// Per-input attributions of a multi-input model: the primary one-hot `x` `(N, L, 4)` and
    /// one array per [`Attributor::extra_inputs`] entry, with the same sequences; returns one
    /// `(N, maps, d0, d1)` array per input, in the input's layout (grad and grad-x-input; a
    /// one-hot further input is centred over bases like the primary).
    pub fn attribute_inputs(&mut self, x: ArrayView3<f32>, extra: &[ArrayView3<f32>]) -> Result<Vec<Array4<f32>>> {
        let (n, l, c) = x.dim();
        if l != self.length || c != 4 {
            return Err(Error::InvalidArgument(format!(
                "input is (N, {l}, {c}); the model reads (N, {}, 4)",
                self.length
            )));
        }
        if extra.len() != self.extra.len() {
            return Err(Error::InvalidArgument(format!(
                "the model takes {} further input(s), {} given",
                self.extra.len(),
                extra.len()
            )));
        }
        for ((name, dims, _), a) in self.extra.iter().zip(extra) {
            if a.dim() != (n, dims[0], dims[1]) {
                return Err(Error::InvalidArgument(format!(
                    "input {name:?} is {:?}; the model takes ({n}, {}, {})",
                    a.shape(),
                    dims[0],
                    dims[1]
                )));
            }
        }
        if !matches!(self.opts.method, Method::Grad | Method::GradXInput) {
            return Err(Error::InvalidArgument("per-input attributions are computed with grad or grad-x-input".into()));
        }
        self.seen += n;
        let per_sequence = self.profile_objectives_with(x, extra)?;
        self.gradients_with(x, extra, per_sequence.as_ref())
    }

    /// [`Attributor::attribute`], DeepLIFT against the given references `(N, R, L, 4)` (one-hot)
    /// instead of shuffles when `refs` is given (other methods ignore them).
    pub fn attribute_with(&mut self, x: ArrayView3<f32>, refs: Option<ArrayView4<f32>>) -> Result<Array4<f32>> {
        let (n, l, c) = x.dim();
        if l != self.length || c != 4 {
            return Err(Error::InvalidArgument(format!(
                "input is (N, {l}, {c}); the model reads (N, {}, 4)",
                self.length
            )));
        }
        let refs = match (self.opts.method, refs) {
            (Method::DeepLift, Some(r)) => Some(r.to_owned()),
            (Method::DeepLift, None) => {
                Some(deeplift::shuffled_references(x, self.opts.shuffles, self.opts.seed, self.seen)?)
            }
            _ => None,
        };
        self.seen += n;
        let mut out = self.pass(x, refs.as_ref())?;
        if self.opts.rc {
            let mut rc = x.to_owned();
            for mut s in rc.axis_iter_mut(Axis(0)) {
                if let Some(v) = s.as_slice_mut() {
                    reverse_complement_onehot(v);
                }
            }
            let rc_refs = refs.map(|mut r| {
                for mut s in r.outer_iter_mut() {
                    for mut one in s.outer_iter_mut() {
                        if let Some(v) = one.as_slice_mut() {
                            reverse_complement_onehot(v);
                        }
                    }
                }
                r
            });
            std::mem::swap(&mut self.objectives, &mut self.rc_objectives);
            let back = self.pass(rc.view(), rc_refs.as_ref());
            std::mem::swap(&mut self.objectives, &mut self.rc_objectives);
            let back = back?;
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
    fn pass(&mut self, x: ArrayView3<f32>, refs: Option<&Array4<f32>>) -> Result<Array4<f32>> {
        let per_sequence = self.profile_objectives(x)?;
        match self.opts.method {
            Method::Ism => self.ism(x, per_sequence.as_ref()),
            Method::DeepLift => {
                let refs = refs.ok_or_else(|| Error::InvalidArgument("DeepLIFT needs references".into()))?;
                let (batch, hyp) = (self.opts.batch, self.opts.hypothetical);
                let objectives = match &per_sequence {
                    Some(w) => w.view(),
                    None => self.objectives.view().insert_axis(Axis(0)),
                };
                let r = deeplift::deeplift(self.engine.as_mut(), x, refs.view(), objectives, batch, hyp)?;
                self.max_delta = self.max_delta.max(r.max_delta);
                Ok(r.maps)
            }
            Method::Grad | Method::GradXInput => self.gradients(x, per_sequence.as_ref()),
        }
    }

    /// With the profile objective, each sequence's objectives `(N, maps, bins, tracks)` from its
    /// forward pass ([`objective::profile_weights`]); None otherwise.
    fn profile_objectives(&mut self, x: ArrayView3<f32>) -> Result<Option<Array4<f32>>> {
        self.profile_objectives_with(x, &[])
    }

    /// [`Attributor::profile_objectives`] of a model with further inputs `extra`.
    fn profile_objectives_with(
        &mut self,
        x: ArrayView3<f32>,
        extra: &[ArrayView3<f32>],
    ) -> Result<Option<Array4<f32>>> {
        if !self.opts.profile {
            return Ok(None);
        }
        let (n, bins, tracks) = (x.dim().0, self.bins, self.tracks);
        let mut logits = Array3::<f32>::zeros((n, bins, tracks));
        let engine = match &mut self.forward {
            Some(f) => f.as_mut(),
            None => self.engine.as_mut(),
        };
        let mut start = 0;
        while start < n {
            let end = (start + self.opts.batch).min(n);
            let mut inputs = vec![x.slice(ndarray::s![start..end, .., ..]).to_owned().into_dyn()];
            inputs.extend(extra.iter().map(|a| a.slice(ndarray::s![start..end, .., ..]).to_owned().into_dyn()));
            let outs = engine.run_inputs(inputs)?;
            let y = take_head(engine, outs, self.opts.head, [end - start, bins, tracks])?;
            logits.slice_mut(ndarray::s![start..end, .., ..]).assign(
                &y.view()
                    .into_shape_with_order((end - start, bins, tracks))
                    .map_err(|e| Error::InvalidArgument(format!("head output: {e}")))?,
            );
            start = end;
        }
        objective::profile_weights(logits.view(), &self.objectives).map(Some)
    }

    /// Objective values `(rows, maps)` of the model's outputs for `x` under `objectives`, in
    /// engine batches.
    fn objectives_of(&mut self, x: &Array3<f32>, objectives: &Array3<f32>) -> Result<Array2<f32>> {
        let rows = x.dim().0;
        let mut out = Array2::<f32>::zeros((rows, self.maps()));
        let mut start = 0;
        while start < rows {
            let end = (start + self.opts.batch).min(rows);
            let xb = x.slice(ndarray::s![start..end, .., ..]).to_owned().into_dyn();
            let outs = self.engine.run(xb)?;
            let y = take_head(self.engine.as_ref(), outs, self.opts.head, [end - start, self.bins, self.tracks])?;
            out.slice_mut(ndarray::s![start..end, ..]).assign(&objective_values(&y, objectives));
            start = end;
        }
        Ok(out)
    }

    /// Saturation mutagenesis of each sequence of `x`.
    fn ism(&mut self, x: ArrayView3<f32>, per_sequence: Option<&Array4<f32>>) -> Result<Array4<f32>> {
        let (n, l, _) = x.dim();
        let maps = self.maps();
        let span = self.opts.span.clone().unwrap_or(0..l);
        let mut out = Array4::<f32>::zeros((n, maps, l, 4));
        for s in 0..n {
            let xs = x.index_axis(Axis(0), s);
            let objectives = objective::of_sequence(per_sequence, &self.objectives, s).to_owned();
            if let Some(fast) = &mut self.fast_ism {
                let maps = fast.sequence(xs, span.clone(), &objectives, self.opts.head, self.opts.batch)?;
                out.index_axis_mut(Axis(0), s).assign(&maps);
                continue;
            }
            // Row 0 is the reference; then one row per substitution.
            let muts = mutants(xs, span.clone());
            let mut batch = Array3::<f32>::zeros((muts.len() + 1, l, 4));
            for mut row in batch.outer_iter_mut() {
                row.assign(&xs);
            }
            for (k, &(i, b)) in muts.iter().enumerate() {
                let mut pos = batch.slice_mut(ndarray::s![k + 1, i, ..]);
                pos.fill(0.0);
                pos[b] = 1.0;
            }
            let obj = self.objectives_of(&batch, &objectives)?;
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
}
