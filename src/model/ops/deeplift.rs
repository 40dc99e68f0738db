//! DeepLIFT rules shared by the nonlinear ops' [`Op::onnx_deeplift`](super::Op::onnx_deeplift)
//! lowerings. A DeepLIFT backward pass propagates *multipliers* m (the change of the objective
//! per unit change of a tensor, between the input and a reference) instead of gradients; linear
//! ops pass them through their ordinary vector–Jacobian product, nonlinear ones use a rule that
//! keeps Σ m·Δin = Σ m_out·Δout (summation to delta).

use crate::model::onnx::emit::Emitter;
use crate::model::onnx::graph::{attr_i, attr_ints};

/// Below this |Δin| the rescale rule falls back to the ordinary gradient (tangermeme, captum).
pub const RESCALE_EPS: f32 = 1e-6;
/// Below this |Δin| the max rule falls back to the ordinary gradient (tangermeme, captum).
pub const MAX_EPS: f32 = 1e-7;

/// `num / den`, or `fallback` where |den| < `eps` (the division is guarded, so the branch not
/// taken never produces infinities).
pub fn divide_or(e: &mut Emitter, num: &str, den: &str, eps: f32, fallback: &str) -> String {
    let g = &mut e.g;
    let a = g.node("Abs", &[den], vec![]);
    let eps = g.const_f32(eps);
    let small = g.bin("Less", &a, &eps);
    let one = g.const_f32(1.0);
    let safe = g.node("Where", &[&small, &one, den], vec![]);
    let q = g.bin("Div", num, &safe);
    g.node("Where", &[&small, fallback, &q], vec![])
}

/// The rescale rule of an element-wise function: m_in = m_out·Δy/Δx, or the ordinary gradient
/// `grad` where |Δx| < [`RESCALE_EPS`].
pub fn rescale(e: &mut Emitter, dy: &str, (x, xr): (&str, &str), (y, yr): (&str, &str), grad: &str) -> String {
    let dx = e.g.bin("Sub", x, xr);
    let dout = e.g.bin("Sub", y, yr);
    let num = e.g.bin("Mul", dy, &dout);
    divide_or(e, &num, &dx, RESCALE_EPS, grad)
}

/// Captum's max rule over the last axis (of size `n`) of windows `xw` (input) and `rw`
/// (reference), given the multipliers `dyw` of each window's maximum (the last axis kept, of
/// size 1): Δout is split into max(y, y_r) − y_r, routed to the input's argmax, and
/// y − max(y, y_r), routed to the reference's argmax; each element's multiplier is what it
/// received divided by its Δin, or the ordinary gradient (to the input's argmax) where
/// |Δin| < [`MAX_EPS`]. Returns multipliers shaped as `xw`.
pub fn routed_max(e: &mut Emitter, xw: &str, rw: &str, n: usize, dyw: &str) -> String {
    let axis = -1;
    let g = &mut e.g;
    let y = g.node("ReduceMax", &[xw], vec![attr_ints("axes", &[axis]), attr_i("keepdims", 1)]);
    let yr = g.node("ReduceMax", &[rw], vec![attr_ints("axes", &[axis]), attr_i("keepdims", 1)]);
    let m = g.bin("Max", &y, &yr);
    let to_x = g.bin("Sub", &m, &yr);
    let to_r = g.bin("Sub", &y, &m);
    let cx = g.bin("Mul", &to_x, dyw);
    let cr = g.bin("Mul", &to_r, dyw);
    let range: Vec<i64> = (0..n as i64).collect();
    let range = g.const_i64(&range);
    let ax = g.node("ArgMax", &[xw], vec![attr_i("axis", axis), attr_i("keepdims", 1)]);
    let ar = g.node("ArgMax", &[rw], vec![attr_i("axis", axis), attr_i("keepdims", 1)]);
    let hx = g.bin("Equal", &ax, &range);
    let hr = g.bin("Equal", &ar, &range);
    let mx = g.to_float(&hx);
    let mr = g.to_float(&hr);
    let px = g.bin("Mul", &mx, &cx);
    let pr = g.bin("Mul", &mr, &cr);
    let num = g.bin("Add", &px, &pr);
    let din = g.bin("Sub", xw, rw);
    let grad = g.bin("Mul", &mx, dyw);
    divide_or(e, &num, &din, MAX_EPS, &grad)
}

/// [`routed_max`] for a minimum: min(x) = −max(−x), which gives the same multipliers as the
/// max rule on the negated windows.
pub fn routed_min(e: &mut Emitter, xw: &str, rw: &str, n: usize, dyw: &str) -> String {
    let nx = e.g.node("Neg", &[xw], vec![]);
    let nr = e.g.node("Neg", &[rw], vec![]);
    routed_max(e, &nx, &nr, n, dyw)
}
