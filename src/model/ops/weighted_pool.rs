//! `weighted_pool` (DRG): pad, then each window of `size` positions (stride `size`) becomes
//! Σ x·softmax(x) over the window; a remainder shorter than a window is dropped.

use burn::tensor::activation::softmax;
use burn::tensor::backend::Backend;
use burn::tensor::Tensor;
use serde::{Deserialize, Serialize};

use crate::error::Result;
use crate::model::analysis::{Geo, Inferred, Shape, Walker};
use crate::model::onnx::emit::{Emitter, Fwd};
use crate::model::onnx::graph::{attr_i, attr_ints};
use crate::model::ops::max_pool::{unwindow, windows};
use crate::model::ops::{deeplift, layer_error, seq_input, Backward, DeepLift, Op, Site};
use crate::model::spec::PoolPad;
use crate::train::net::{Act, Interpreter};

fn min_pad() -> PoolPad {
    PoolPad::Min
}

/// DRG's weighted pooling.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WeightedPool {
    /// Window and stride.
    pub size: usize,
    /// Columns padded on the left.
    #[serde(default)]
    pub pad_left: usize,
    /// Columns padded on the right.
    #[serde(default)]
    pub pad_right: usize,
    /// Pad value.
    #[serde(default = "min_pad")]
    pub pad_value: PoolPad,
}

impl Op for WeightedPool {
    const TAG: &'static str = "weighted_pool";

    fn infer(&self, _w: &mut Walker, path: &str, input: Shape, mut g: Geo) -> Result<Inferred> {
        let (c, l) = seq_input(path, self.tag(), input)?;
        let (size, pl, pr) = (self.size, self.pad_left, self.pad_right);
        let lp = l + pl + pr;
        if size == 0 || lp < size {
            return Err(layer_error(path, self.tag(), format!("pool size {size} does not fit padded length {lp}")));
        }
        g.offset -= pl as i64 * g.stride;
        g.rf += (size as i64 - 1) * g.stride;
        g.stride *= size as i64;
        Ok(Inferred::plain(Shape::Seq { c, l: lp / size }, g, format!("weighted_pool {size} pad {pl}/{pr}")))
    }

    fn onnx_forward<'s>(&'s self, e: &mut Emitter<'s>, at: &Site, x: &str) -> Result<Fwd<'s>> {
        let (c, l) = at.seq()?;
        let (pl, pr) = (self.pad_left, self.pad_right);
        let padded = match self.pad_value {
            PoolPad::Value(v) => e.g.pad_length(x, pl, pr, v),
            PoolPad::Min if pl + pr == 0 => x.to_string(),
            PoolPad::Min => {
                // The minimum over each sequence's whole input, expanded to the pad columns.
                let m = e.g.node("ReduceMin", &[x], vec![attr_ints("axes", &[1, 2]), attr_i("keepdims", 1)]);
                let shape = e.g.node("Shape", &[x], vec![]);
                let (s0, s1) = (e.g.const_i64(&[0]), e.g.const_i64(&[1]));
                let batch = e.g.node("Slice", &[&shape, &s0, &s1], vec![]);
                let mut ins: Vec<String> = Vec::new();
                for (side, n) in [(0, pl), (1, pr)] {
                    if side == 1 {
                        ins.push(x.to_string());
                    }
                    if n > 0 {
                        let rest = e.g.const_i64(&[c as i64, n as i64]);
                        let full = e.g.node("Concat", &[&batch, &rest], vec![attr_i("axis", 0)]);
                        ins.push(e.g.node("Expand", &[&m, &full], vec![]));
                    }
                }
                let refs: Vec<&str> = ins.iter().map(String::as_str).collect();
                e.g.node("Concat", &refs, vec![attr_i("axis", 2)])
            }
        };
        let r = windows(e, &padded, c, l + pl + pr, self.size);
        let sm = e.g.node("Softmax", &[&r], vec![attr_i("axis", 3)]);
        let prod = e.g.bin("Mul", &r, &sm);
        let ax = e.g.const_i64(&[3]);
        let y = e.g.node("ReduceSum", &[&prod, &ax], vec![attr_i("keepdims", 0)]);
        Ok(Fwd::new(y).saving(vec![r, sm]))
    }

    /// ∂y/∂x_i = s_i·(1 + x_i − y) within a window (s = softmax of the window); the pad values,
    /// including the `min` pad, are constants (as DRG's `takegrad` treats them).
    fn onnx_backward<'s>(&'s self, e: &mut Emitter<'s>, b: Backward<'_, 's>) -> Result<String> {
        let Backward { at, x: _, fwd, dy } = b;
        let (c, l) = at.seq()?;
        let (r, sm) = (fwd.saved(0)?.to_string(), fwd.saved(1)?.to_string());
        let yw = e.g.unsqueeze(&fwd.y, &[3]);
        let one = e.g.const_f32(1.0);
        let centred = e.g.bin("Sub", &r, &yw);
        let t = e.g.bin("Add", &centred, &one);
        let d = e.g.bin("Mul", &sm, &t);
        let dyw = e.g.unsqueeze(dy, &[3]);
        let gw = e.g.bin("Mul", &d, &dyw);
        let lp = l + self.pad_left + self.pad_right;
        let gp = unwindow(e, &gw, c, lp, self.size);
        if self.pad_left + self.pad_right == 0 {
            return Ok(gp);
        }
        Ok(e.g.slice(&gp, 2, self.pad_left as i64, (self.pad_left + l) as i64))
    }

    /// DeepLIFT rule (ours; tangermeme has none for this op). A window's output is
    /// y = A/Z with A = Σ x·eˣ and Z = Σ eˣ (both scaled by e^−c, c the largest value of the
    /// window in the input or the reference, which leaves y unchanged). A and Z are sums of
    /// element-wise functions, so the rescale rule gives exact per-element multipliers
    /// a_i = Δ(x·eˣ)_i/Δx_i and z_i = Δ(eˣ)_i/Δx_i (their derivatives where |Δx_i| < 1e-6). The
    /// quotient splits ΔY between ΔA and ΔZ by the Shapley value of its two inputs:
    /// m_A = ½(1/Z + 1/Z_r), m_Z = −½(A + A_r)/(Z·Z_r), so m_i = m_out·(m_A·a_i + m_Z·z_i). No division
    /// by a small difference, and Σ m_i·Δx_i = m_out·Δy exactly (up to the fallbacks' O(Δx²)). At
    /// r = x it is the gradient s_i·(1 + x_i − y).
    ///
    /// With a `min` pad, the pad columns' multipliers are summed and routed to the input's and
    /// the reference's minimum by captum's max rule on −x ([`deeplift::routed_min`]), so the
    /// change of the pad value is attributed too and summation to delta holds for the layer.
    fn onnx_deeplift<'s>(&'s self, e: &mut Emitter<'s>, d: DeepLift<'_, 's>) -> Result<String> {
        let DeepLift { at, x, fwd, xr, fwd_r, dy } = d;
        let (c, l) = at.seq()?;
        let (xw, rw) = (fwd.saved(0)?.to_string(), fwd_r.saved(0)?.to_string());
        let g = &mut e.g;
        let keep = |g: &mut crate::model::onnx::graph::Graph, op: &str, t: &str| {
            g.node(op, &[t], vec![attr_ints("axes", &[3]), attr_i("keepdims", 1)])
        };
        let mx = keep(g, "ReduceMax", &xw);
        let mr = keep(g, "ReduceMax", &rw);
        let shift = g.bin("Max", &mx, &mr);
        let xs = g.bin("Sub", &xw, &shift);
        let rs = g.bin("Sub", &rw, &shift);
        let ex = g.node("Exp", &[&xs], vec![]);
        let er = g.node("Exp", &[&rs], vec![]);
        let xex = g.bin("Mul", &xw, &ex);
        let rer = g.bin("Mul", &rw, &er);
        let ax = g.const_i64(&[3]);
        let sum = |g: &mut crate::model::onnx::graph::Graph, t: &str| {
            g.node("ReduceSum", &[t, &ax], vec![attr_i("keepdims", 1)])
        };
        let (za, zr) = (sum(g, &ex), sum(g, &er));
        let (aa, ar) = (sum(g, &xex), sum(g, &rer));
        // m_A = ½(1/Z + 1/Z_r); m_Z = −½(A + A_r)/(Z·Z_r).
        let half = g.const_f32(0.5);
        let zsum = g.bin("Add", &za, &zr);
        let zprod = g.bin("Mul", &za, &zr);
        let ma0 = g.bin("Div", &zsum, &zprod);
        let m_a = g.bin("Mul", &ma0, &half);
        let asum = g.bin("Add", &aa, &ar);
        let mz0 = g.bin("Div", &asum, &zprod);
        let mz1 = g.bin("Mul", &mz0, &half);
        let m_z = g.node("Neg", &[&mz1], vec![]);
        // Element-wise rescale multipliers of x·eˣ and eˣ, derivatives (1 + x)·eˣ and eˣ.
        let one = g.const_f32(1.0);
        let x1 = g.bin("Add", &xw, &one);
        let d_a = g.bin("Mul", &x1, &ex);
        let dxw = g.bin("Sub", &xw, &rw);
        let da = g.bin("Sub", &xex, &rer);
        let dz = g.bin("Sub", &ex, &er);
        let a_i = deeplift::divide_or(e, &da, &dxw, deeplift::RESCALE_EPS, &d_a);
        let z_i = deeplift::divide_or(e, &dz, &dxw, deeplift::RESCALE_EPS, &ex);
        let g = &mut e.g;
        let pa = g.bin("Mul", &m_a, &a_i);
        let pz = g.bin("Mul", &m_z, &z_i);
        let per = g.bin("Add", &pa, &pz);
        let dyw = g.unsqueeze(dy, &[3]);
        let mw = g.bin("Mul", &per, &dyw);
        let (pl, pr) = (self.pad_left, self.pad_right);
        let lp = l + pl + pr;
        let mp = unwindow(e, &mw, c, lp, self.size);
        if pl + pr == 0 {
            return Ok(mp);
        }
        let inner = e.g.slice(&mp, 2, pl as i64, (pl + l) as i64);
        if !matches!(self.pad_value, PoolPad::Min) {
            return Ok(inner);
        }
        // Σ of the pad columns' multipliers, (N, 1), routed to the minimum over (C, L).
        let mut parts = Vec::new();
        if pl > 0 {
            parts.push(e.g.slice(&mp, 2, 0, pl as i64));
        }
        if pr > 0 {
            parts.push(e.g.slice(&mp, 2, (pl + l) as i64, lp as i64));
        }
        let refs: Vec<&str> = parts.iter().map(String::as_str).collect();
        let pads = if refs.len() == 1 { parts[0].clone() } else { e.g.node("Concat", &refs, vec![attr_i("axis", 2)]) };
        let flat = e.g.reshape(&pads, &[0, -1]);
        let ax1 = e.g.const_i64(&[1]);
        let m_pad = e.g.node("ReduceSum", &[&flat, &ax1], vec![attr_i("keepdims", 1)]);
        let xf = e.g.reshape(x, &[0, (c * l) as i64]);
        let rf = e.g.reshape(xr, &[0, (c * l) as i64]);
        let to_min = deeplift::routed_min(e, &xf, &rf, c * l, &m_pad);
        let to_min = e.g.reshape(&to_min, &[0, c as i64, l as i64]);
        Ok(e.g.bin("Add", &inner, &to_min))
    }

    fn burn_forward<B: Backend>(&self, it: &mut Interpreter<'_, B>, at: &Site, x: Act<B>) -> Result<Act<B>> {
        let x = x.seq(at)?;
        let [n, c, l] = x.dims();
        let device = x.device();
        let constant_min = it.constant_pool_min();
        let fill = |width: usize, x: &Tensor<B, 3>| -> Tensor<B, 3> {
            let src = if constant_min { x.clone().detach() } else { x.clone() };
            match self.pad_value {
                // The minimum of each sequence's whole input to the layer (DRG).
                PoolPad::Min => src.min_dim(2).min_dim(1).expand([n, c, width]),
                PoolPad::Value(value) => Tensor::full([n, c, width], value, &device),
            }
        };
        let mut parts = Vec::new();
        if self.pad_left > 0 {
            parts.push(fill(self.pad_left, &x));
        }
        let right = if self.pad_right > 0 { Some(fill(self.pad_right, &x)) } else { None };
        parts.push(x);
        parts.extend(right);
        let padded = Tensor::cat(parts, 2);
        let lp = l + self.pad_left + self.pad_right;
        let nb = lp / self.size;
        let windows = padded.narrow(2, 0, nb * self.size).reshape([n, c, nb, self.size]);
        let weights = softmax(windows.clone(), 3);
        Ok(Act::Seq((windows * weights).sum_dim(3).reshape([n, c, nb])))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::ops::testing::{analyze, error};
    use crate::model::ops::Layer;

    fn wp(size: usize, pad_left: usize, pad_right: usize) -> Layer {
        Layer::WeightedPool(WeightedPool { size, pad_left, pad_right, pad_value: PoolPad::Min })
    }

    #[test]
    fn pads_then_pools() {
        let a = analyze(10, vec![wp(4, 1, 2)]).unwrap();
        assert_eq!(a.io["trunk.0"].1, Shape::Seq { c: 4, l: 3 });
        // Bin 0 starts one position before the window.
        assert_eq!((a.heads[0].1.offset, a.heads[0].1.bin_size), (-1, 4));
        let e = error(2, vec![wp(5, 1, 1)]);
        assert!(e.contains("trunk.0 (weighted_pool): pool size 5 does not fit padded length 4"), "{e}");
    }
}
