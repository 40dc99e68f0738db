//! Gradient methods on the gradient graph ([`crate::model::onnx::emit_gradient`]): every
//! sequence × map is one row, with its own objective weights; the graph returns the gradient
//! of every input.

use ndarray::{Array3, Array4, ArrayView3, Axis};

use super::{objective, Attributor, Method};
use crate::error::{Error, Result};

impl Attributor {
    /// Gradient methods on a one-input model: `(N, maps, L, 4)`.
    pub(super) fn gradients(&mut self, x: ArrayView3<f32>, per_sequence: Option<&Array4<f32>>) -> Result<Array4<f32>> {
        let mut maps = self.gradients_with(x, &[], per_sequence)?;
        if maps.is_empty() {
            return Err(Error::InvalidArgument("the gradient graph returned no gradient".into()));
        }
        Ok(maps.swap_remove(0))
    }

    /// Gradient methods on the primary input `x` and the further inputs `extra` (in the layout
    /// the graph takes): one `(N, maps, d0, d1)` array per input. One-hot inputs in (L, 4)
    /// layout are mean-centred over bases by [`Method::Grad`] (unless `center` is off);
    /// [`Method::GradXInput`] multiplies every input's gradient by the input.
    pub(super) fn gradients_with(
        &mut self,
        x: ArrayView3<f32>,
        extra: &[ArrayView3<f32>],
        per_sequence: Option<&Array4<f32>>,
    ) -> Result<Vec<Array4<f32>>> {
        let n = x.dim().0;
        let maps = self.maps();
        let rows = n * maps;
        let inputs: Vec<ArrayView3<f32>> = std::iter::once(x).chain(extra.iter().cloned()).collect();
        let mut grads: Vec<Vec<f32>> = inputs.iter().map(|a| Vec::with_capacity(rows * a.len() / n.max(1))).collect();
        let mut start = 0;
        while start < rows {
            let end = (start + self.opts.batch).min(rows);
            let m = end - start;
            let mut feed = Vec::with_capacity(inputs.len() + 1);
            for a in &inputs {
                let (_, d0, d1) = a.dim();
                let mut b = Array3::<f32>::zeros((m, d0, d1));
                for (j, r) in (start..end).enumerate() {
                    b.index_axis_mut(Axis(0), j).assign(&a.index_axis(Axis(0), r / maps));
                }
                feed.push(b.into_dyn());
            }
            let mut ob = Array3::<f32>::zeros((m, self.bins, self.tracks));
            for (j, r) in (start..end).enumerate() {
                let objectives = objective::of_sequence(per_sequence, &self.objectives, r / maps);
                ob.index_axis_mut(Axis(0), j).assign(&objectives.index_axis(Axis(0), r % maps));
            }
            feed.push(ob.into_dyn());
            let outs = self.engine.run_inputs(feed)?;
            for (k, (a, acc)) in inputs.iter().zip(grads.iter_mut()).enumerate() {
                let (_, d0, d1) = a.dim();
                let g = outs.get(1 + k).ok_or_else(|| Error::Engine {
                    engine: self.engine.describe(),
                    message: format!("the gradient graph returned no gradient for input {k}"),
                })?;
                if g.shape() != [m, d0, d1] {
                    return Err(Error::Engine {
                        engine: self.engine.describe(),
                        message: format!("gradient of shape {:?}, expected [{m}, {d0}, {d1}]", g.shape()),
                    });
                }
                acc.extend(g.iter().copied());
            }
            start = end;
        }
        let mut out = Vec::with_capacity(inputs.len());
        for (k, (a, g)) in inputs.iter().zip(grads).enumerate() {
            let (_, d0, d1) = a.dim();
            let mut maps_k = Array4::from_shape_vec((n, maps, d0, d1), g)
                .map_err(|e| Error::InvalidArgument(format!("attribution shape: {e}")))?;
            let onehot = k == 0 || self.extra.get(k - 1).is_some_and(|e| e.2);
            match self.opts.method {
                Method::Grad if self.opts.center && onehot => {
                    for mut pos in maps_k.lanes_mut(Axis(3)) {
                        let mean = pos.sum() / 4.0;
                        pos.mapv_inplace(|v| v - mean);
                    }
                }
                Method::GradXInput => {
                    for (mut s, xs) in maps_k.outer_iter_mut().zip(a.outer_iter()) {
                        for mut map in s.outer_iter_mut() {
                            map.zip_mut_with(&xs, |g, &v| *g *= v);
                        }
                    }
                }
                _ => {}
            }
            out.push(maps_k);
        }
        Ok(out)
    }
}
