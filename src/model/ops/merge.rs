//! Merges of the graph form ([`Merge`]): how a node combines several source tensors of one
//! shape before its layers. Shape inference and the ONNX forward lowering; tensors are
//! channels-first `(N, C, L)` or flat `(N, F)` as everywhere in the emitter.
//!
//! Merged sequences must lie on the window alike (same bin size and offset), so that position i
//! of every source is the same stretch of DNA.

use burn::tensor::backend::Backend;
use burn::tensor::Tensor;

use crate::error::{Error, Result};
use crate::model::analysis::{Geo, Shape};
use crate::model::graph::Merge;
use crate::model::onnx::emit::Emitter;
use crate::model::onnx::graph::attr_i;
use crate::train::net::Act;

/// ln 2048: DRG's cap on the exponent of `exp_difference`.
pub const EXP_DIFFERENCE_CAP: f32 = 7.624_619;
/// DRG's floor in `fraction`.
pub const FRACTION_EPS: f32 = 1e-12;

fn merge_error(path: &str, m: Merge, message: impl std::fmt::Display) -> Error {
    Error::Spec(format!("{path} (merge {}): {message}", m.name()))
}

/// Output shape and geometry of merging `sources` (at least two) at node `path`.
pub fn infer(m: Merge, path: &str, sources: &[(Shape, Geo)]) -> Result<(Shape, Geo)> {
    let (first, g0) = *sources.first().ok_or_else(|| merge_error(path, m, "no sources"))?;
    let mut geo = g0;
    let mut out = first;
    for &(s, g) in &sources[1..] {
        geo.rf = geo.rf.max(g.rf);
        out = match (out, s) {
            (Shape::Seq { c: c0, l: l0 }, Shape::Seq { c, l }) => {
                if l != l0 {
                    return Err(merge_error(path, m, format!("sources have lengths {l0} and {l}")));
                }
                if (g.stride, g.offset) != (g0.stride, g0.offset) {
                    return Err(merge_error(
                        path,
                        m,
                        format!(
                            "sources lie on the window differently (bin size {} offset {} vs bin size {} offset {})",
                            g0.stride, g0.offset, g.stride, g.offset
                        ),
                    ));
                }
                match m {
                    Merge::Concat => Shape::Seq { c: c0 + c, l },
                    _ if c != c0 => return Err(merge_error(path, m, format!("sources have {c0} and {c} channels"))),
                    _ => out,
                }
            }
            (Shape::Flat { f: f0 }, Shape::Flat { f }) => match m {
                Merge::Concat => Shape::Flat { f: f0 + f },
                _ if f != f0 => return Err(merge_error(path, m, format!("sources have {f0} and {f} features"))),
                _ => out,
            },
            (a, b) => return Err(merge_error(path, m, format!("cannot merge {a} with {b} (sequence and flat)"))),
        };
    }
    Ok((out, geo))
}

/// Emits the merge of `xs` (at least two tensor names); returns the output tensor.
pub fn onnx_forward(e: &mut Emitter, m: Merge, xs: &[String]) -> Result<String> {
    let refs: Vec<&str> = xs.iter().map(String::as_str).collect();
    if refs.len() < 2 {
        return Err(Error::Spec(format!("merge {}: needs at least two sources", m.name())));
    }
    let g = &mut e.g;
    Ok(match m {
        Merge::Concat => g.node("Concat", &refs, vec![attr_i("axis", 1)]),
        Merge::Sum => g.node("Sum", &refs, vec![]),
        Merge::Difference => g.bin("Sub", refs[0], refs[1]),
        Merge::Logsumexp => {
            // m + log Σ exp(xᵢ − m) with m the element-wise maximum.
            let mx = g.node("Max", &refs, vec![]);
            let terms: Vec<String> = refs
                .iter()
                .map(|x| {
                    let d = g.bin("Sub", x, &mx);
                    g.node("Exp", &[&d], vec![])
                })
                .collect();
            let trefs: Vec<&str> = terms.iter().map(String::as_str).collect();
            let s = g.node("Sum", &trefs, vec![]);
            let l = g.node("Log", &[&s], vec![]);
            g.bin("Add", &l, &mx)
        }
        Merge::ExpDifference => {
            let d = g.bin("Sub", refs[0], refs[1]);
            let cap = g.const_f32(EXP_DIFFERENCE_CAP);
            let d = g.bin("Min", &d, &cap);
            g.node("Exp", &[&d], vec![])
        }
        Merge::Fraction => {
            let eps = g.const_f32(FRACTION_EPS);
            let ra = g.node("Relu", &[refs[0]], vec![]);
            let rb = g.node("Relu", &[refs[1]], vec![]);
            let a = g.bin("Add", &ra, &eps);
            let b = g.bin("Add", &rb, &eps);
            g.bin("Div", &a, &b)
        }
    })
}

/// Emits the vector–Jacobian product of the merge: given the sources `xs`, the output `y` and
/// its gradient `dy`, the gradient of each source. `widths` are the sources' channels (or
/// features), which `concat` slices `dy` by.
///
/// concat: slices of `dy`; sum: `dy` each; difference: `dy`, −`dy`; logsumexp: `dy`·exp(xᵢ − y);
/// exp_difference: ±`dy`·y where a − b is below the cap (0 above it); fraction with
/// A = ReLU(a) + ε, B = ReLU(b) + ε: `dy`·[a > 0]/B and −`dy`·y·[b > 0]/B.
pub fn onnx_backward(
    e: &mut Emitter,
    m: Merge,
    xs: &[String],
    y: &str,
    dy: &str,
    widths: &[usize],
) -> Result<Vec<String>> {
    if xs.len() < 2 || widths.len() != xs.len() {
        return Err(Error::Spec(format!("merge {}: backward needs every source and its width", m.name())));
    }
    let g = &mut e.g;
    let zero = g.const_f32(0.0);
    Ok(match m {
        Merge::Concat => {
            let mut at = 0i64;
            widths
                .iter()
                .map(|&w| {
                    let s = g.slice(dy, 1, at, at + w as i64);
                    at += w as i64;
                    s
                })
                .collect()
        }
        Merge::Sum => xs.iter().map(|_| g.node("Identity", &[dy], vec![])).collect(),
        Merge::Difference => vec![g.node("Identity", &[dy], vec![]), g.node("Neg", &[dy], vec![])],
        Merge::Logsumexp => xs
            .iter()
            .map(|x| {
                let d = g.bin("Sub", x, y);
                let w = g.node("Exp", &[&d], vec![]);
                g.bin("Mul", dy, &w)
            })
            .collect(),
        Merge::ExpDifference => {
            let d = g.bin("Sub", &xs[0], &xs[1]);
            let cap = g.const_f32(EXP_DIFFERENCE_CAP);
            let below = g.bin("Less", &d, &cap);
            let below = g.to_float(&below);
            let dyy = g.bin("Mul", dy, y);
            let da = g.bin("Mul", &dyy, &below);
            let db = g.node("Neg", &[&da], vec![]);
            vec![da, db]
        }
        Merge::Fraction => {
            let eps = g.const_f32(FRACTION_EPS);
            let rb = g.node("Relu", &[&xs[1]], vec![]);
            let b = g.bin("Add", &rb, &eps);
            let pa = g.bin("Greater", &xs[0], &zero);
            let pa = g.to_float(&pa);
            let pb = g.bin("Greater", &xs[1], &zero);
            let pb = g.to_float(&pb);
            let dyb = g.bin("Div", dy, &b);
            let da = g.bin("Mul", &dyb, &pa);
            let t = g.bin("Mul", &dyb, y);
            let t = g.bin("Mul", &t, &pb);
            let db = g.node("Neg", &[&t], vec![]);
            vec![da, db]
        }
    })
}

/// Emits the DeepLIFT multipliers of each source given those of the output `dy`, for the
/// input's sources `xs` (output `y`) and the reference's `rs` (output `yr`).
///
/// The linear merges (concat, sum, difference) use their vector–Jacobian product. A nonlinear
/// merge of two sources splits Δf = f(a, b) − f(a_r, b_r) between them by their Shapley values,
/// φ_a = ½[(f(a, b_r) − f(a_r, b_r)) + (f(a, b) − f(a_r, b))] and φ_b = Δf − φ_a, and gives
/// m_a = dy·φ_a/Δa (the gradient where |Δa| < 1e-6), so Σ m·Δ keeps summation to delta.
/// A `logsumexp` of more than two sources is refused.
pub fn onnx_deeplift(
    e: &mut Emitter,
    m: Merge,
    (xs, rs): (&[String], &[String]),
    (y, yr): (&str, &str),
    dy: &str,
    widths: &[usize],
) -> Result<Vec<String>> {
    if matches!(m, Merge::Concat | Merge::Sum | Merge::Difference) {
        return onnx_backward(e, m, xs, y, dy, widths);
    }
    if xs.len() != 2 || rs.len() != 2 {
        return Err(Error::InvalidArgument(format!(
            "DeepLIFT through merge {} of {} sources is not defined here (two at most)",
            m.name(),
            xs.len()
        )));
    }
    let grads = onnx_backward(e, m, xs, y, dy, widths)?;
    let f_a_br = onnx_forward(e, m, &[xs[0].clone(), rs[1].clone()])?;
    let f_ar_b = onnx_forward(e, m, &[rs[0].clone(), xs[1].clone()])?;
    let g = &mut e.g;
    let half = g.const_f32(0.5);
    let t1 = g.bin("Sub", &f_a_br, yr);
    let t2 = g.bin("Sub", y, &f_ar_b);
    let phi_a = g.bin("Add", &t1, &t2);
    let phi_a = g.bin("Mul", &phi_a, &half);
    let total = g.bin("Sub", y, yr);
    let phi_b = g.bin("Sub", &total, &phi_a);
    let mut out = Vec::new();
    for (i, phi) in [phi_a, phi_b].iter().enumerate() {
        let delta = e.g.bin("Sub", &xs[i], &rs[i]);
        let num = e.g.bin("Mul", dy, phi);
        out.push(crate::model::ops::deeplift::divide_or(
            e,
            &num,
            &delta,
            crate::model::ops::deeplift::RESCALE_EPS,
            &grads[i],
        ));
    }
    Ok(out)
}

/// The merge on burn tensors of one rank (`dim` 1 is channels or features).
fn combine<B: Backend, const D: usize>(m: Merge, xs: Vec<Tensor<B, D>>) -> Tensor<B, D> {
    let relu = burn::tensor::activation::relu;
    let mut it = xs.clone().into_iter();
    let (a, b) = (it.next(), it.next());
    match (m, a, b) {
        (Merge::Concat, _, _) => Tensor::cat(xs, 1),
        (Merge::Sum, Some(a), _) => it.fold(a + xs[1].clone(), |s, x| s + x),
        (Merge::Difference, Some(a), Some(b)) => a - b,
        (Merge::Logsumexp, Some(a), _) => {
            let mx = xs[1..].iter().fold(a, |s, x| s.max_pair(x.clone())).detach();
            let sum = xs.iter().map(|x| (x.clone() - mx.clone()).exp()).reduce(|s, x| s + x);
            match sum {
                Some(s) => s.log() + mx,
                None => mx,
            }
        }
        (Merge::ExpDifference, Some(a), Some(b)) => (a - b).clamp_max(EXP_DIFFERENCE_CAP).exp(),
        (Merge::Fraction, Some(a), Some(b)) => (relu(a) + FRACTION_EPS) / (relu(b) + FRACTION_EPS),
        (_, a, _) => a.unwrap_or_else(|| Tensor::cat(xs, 1)),
    }
}

/// The merge of `xs` (at least two, all sequences or all flat) in burn (training), at node
/// `path`.
pub fn burn_forward<B: Backend>(m: Merge, path: &str, xs: Vec<Act<B>>) -> Result<Act<B>> {
    if xs.len() < 2 {
        return Err(merge_error(path, m, "needs at least two sources"));
    }
    let mixed = || merge_error(path, m, "cannot merge sequences with flat features");
    match &xs[0] {
        Act::Seq(_) => {
            let ts = xs.into_iter().map(|a| match a {
                Act::Seq(t) => Ok(t),
                Act::Flat(_) => Err(mixed()),
            });
            Ok(Act::Seq(combine(m, ts.collect::<Result<Vec<_>>>()?)))
        }
        Act::Flat(_) => {
            let ts = xs.into_iter().map(|a| match a {
                Act::Flat(t) => Ok(t),
                Act::Seq(_) => Err(mixed()),
            });
            Ok(Act::Flat(combine(m, ts.collect::<Result<Vec<_>>>()?)))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const G: Geo = Geo { stride: 1, offset: 0, rf: 3 };

    #[test]
    fn concat_adds_channels_and_features() {
        let s = [(Shape::Seq { c: 16, l: 10 }, G), (Shape::Seq { c: 2, l: 10 }, Geo { rf: 1, ..G })];
        assert_eq!(infer(Merge::Concat, "node.x", &s).unwrap(), (Shape::Seq { c: 18, l: 10 }, G));
        let f = [(Shape::Flat { f: 16 }, G), (Shape::Flat { f: 1 }, G)];
        assert_eq!(infer(Merge::Concat, "node.x", &f).unwrap().0, Shape::Flat { f: 17 });
    }

    #[test]
    fn mismatches_are_named() {
        let s = [(Shape::Seq { c: 2, l: 10 }, G), (Shape::Seq { c: 2, l: 9 }, G)];
        let e = infer(Merge::Sum, "node.x", &s).unwrap_err().to_string();
        assert!(e.contains("node.x (merge sum): sources have lengths 10 and 9"), "{e}");
        let s = [(Shape::Seq { c: 2, l: 10 }, G), (Shape::Seq { c: 2, l: 10 }, Geo { offset: 5, ..G })];
        let e = infer(Merge::Concat, "node.x", &s).unwrap_err().to_string();
        assert!(e.contains("lie on the window differently"), "{e}");
        let s = [(Shape::Flat { f: 2 }, G), (Shape::Flat { f: 3 }, G)];
        let e = infer(Merge::Difference, "node.x", &s).unwrap_err().to_string();
        assert!(e.contains("sources have 2 and 3 features"), "{e}");
        let s = [(Shape::Flat { f: 2 }, G), (Shape::Seq { c: 2, l: 1 }, G)];
        assert!(infer(Merge::Sum, "node.x", &s).is_err());
    }
}
