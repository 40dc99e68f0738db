//! `activation`: an element-wise function (see [`Activation`] for the definitions), on
//! sequences or flat features.

use burn::tensor::activation as act;
use burn::tensor::backend::Backend;
use burn::tensor::Tensor;
use serde::{Deserialize, Serialize};

use crate::error::Result;
use crate::model::analysis::{Geo, Inferred, Shape, Walker};
use crate::model::onnx::emit::{Emitter, Fwd};
use crate::model::onnx::graph::Graph;
use crate::model::ops::{deeplift, Backward, DeepLift, Op, Site};
use crate::model::spec::Activation;
use crate::train::net::{Act, Interpreter};

/// Element-wise activation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ActivationLayer {
    /// Which function.
    #[serde(rename = "fn")]
    pub function: Activation,
}

impl Activation {
    /// The function's name as written in JSON.
    pub fn name(self) -> &'static str {
        match self {
            Activation::Relu => "relu",
            Activation::GeluErf => "gelu_erf",
            Activation::GeluTanh => "gelu_tanh",
            Activation::GeluSigmoid => "gelu_sigmoid",
            Activation::Softplus => "softplus",
            Activation::Exp => "exp",
            Activation::Sigmoid => "sigmoid",
            Activation::Log1p => "log1p",
        }
    }

    /// Applies the function to a burn tensor, in the backend's own precision (burn's
    /// `sigmoid` computes in float32 even on a float64 backend, so it is written out here).
    pub fn burn<B: Backend, const D: usize>(self, x: Tensor<B, D>) -> Tensor<B, D> {
        match self {
            Activation::Relu => act::relu(x),
            // Written out: burn's `gelu` derivative is approximate (≈3e-4 off in float64).
            Activation::GeluErf => x.clone() * ((x * std::f64::consts::FRAC_1_SQRT_2).erf() + 1.0) * 0.5,
            Activation::GeluTanh => act::gelu_approximate(x),
            Activation::GeluSigmoid => x.clone() * sigmoid(x * 1.702),
            Activation::Softplus => softplus(x),
            Activation::Exp => x.exp(),
            Activation::Sigmoid => sigmoid(x),
            Activation::Log1p => x.log1p(),
        }
    }
}

/// Stable log(1 + eˣ) = max(x, 0) + log1p(e^−|x|): finite values and gradients everywhere.
fn softplus<B: Backend, const D: usize>(x: Tensor<B, D>) -> Tensor<B, D> {
    act::relu(x.clone()) + x.abs().neg().exp().log1p()
}

/// Stable 1/(1 + e⁻ˣ) = exp(−softplus(−x)).
fn sigmoid<B: Backend, const D: usize>(x: Tensor<B, D>) -> Tensor<B, D> {
    softplus(x.neg()).neg().exp()
}

const SQRT_2_OVER_PI: f32 = 0.797_884_6;
const GELU_TANH_A: f32 = 0.044_715;

/// Emits t = tanh(c·(x + a·x³)) of the tanh GELU; returns (t, x²).
fn gelu_tanh_inner(g: &mut Graph, x: &str) -> (String, String) {
    let c = g.const_f32(SQRT_2_OVER_PI);
    let a = g.const_f32(GELU_TANH_A);
    let x2 = g.bin("Mul", x, x);
    let x3 = g.bin("Mul", &x2, x);
    let ax3 = g.bin("Mul", &x3, &a);
    let inner = g.bin("Add", x, &ax3);
    let u = g.bin("Mul", &inner, &c);
    (g.node("Tanh", &[&u], vec![]), x2)
}

impl Op for ActivationLayer {
    const TAG: &'static str = "activation";

    fn infer(&self, _w: &mut Walker, _path: &str, input: Shape, g: Geo) -> Result<Inferred> {
        Ok(Inferred::plain(input, g, self.function.name()))
    }

    fn onnx_forward<'s>(&'s self, e: &mut Emitter<'s>, _at: &Site, x: &str) -> Result<Fwd<'s>> {
        let g = &mut e.g;
        let y = match self.function {
            Activation::Relu => g.node("Relu", &[x], vec![]),
            Activation::Softplus => g.node("Softplus", &[x], vec![]),
            Activation::Exp => g.node("Exp", &[x], vec![]),
            Activation::Sigmoid => g.node("Sigmoid", &[x], vec![]),
            Activation::Log1p => {
                let one = g.const_f32(1.0);
                let x1 = g.bin("Add", x, &one);
                g.node("Log", &[&x1], vec![])
            }
            Activation::GeluSigmoid => {
                let k = g.const_f32(1.702);
                let kx = g.bin("Mul", x, &k);
                let s = g.node("Sigmoid", &[&kx], vec![]);
                g.bin("Mul", x, &s)
            }
            Activation::GeluErf => {
                let k = g.const_f32(std::f32::consts::FRAC_1_SQRT_2);
                let one = g.const_f32(1.0);
                let half = g.const_f32(0.5);
                let kx = g.bin("Mul", x, &k);
                let e = g.node("Erf", &[&kx], vec![]);
                let e1 = g.bin("Add", &e, &one);
                let xe = g.bin("Mul", x, &e1);
                g.bin("Mul", &xe, &half)
            }
            Activation::GeluTanh => {
                let (t, _) = gelu_tanh_inner(g, x);
                let one = g.const_f32(1.0);
                let half = g.const_f32(0.5);
                let t1 = g.bin("Add", &t, &one);
                let xt = g.bin("Mul", x, &t1);
                g.bin("Mul", &xt, &half)
            }
        };
        Ok(Fwd::new(y))
    }

    /// dx = dy·f′(x), with f′ written out per function (gelu_erf: Φ(x) + x·φ(x); gelu_tanh:
    /// ½(1 + t) + ½x(1 − t²)·c(1 + 3a·x²); gelu_sigmoid: s·(1 + 1.702·x·(1 − s)) with
    /// s = σ(1.702x); softplus: σ(x); log1p: 1/(1 + x); exp: eˣ; sigmoid: σ(1 − σ); relu: 1 where x > 0).
    fn onnx_backward<'s>(&'s self, e: &mut Emitter<'s>, b: Backward<'_, 's>) -> Result<String> {
        let Backward { at: _, x, fwd, dy } = b;
        let g = &mut e.g;
        let d = match self.function {
            Activation::Relu => {
                let zero = g.const_f32(0.0);
                let pos = g.bin("Greater", x, &zero);
                g.to_float(&pos)
            }
            Activation::Exp => fwd.y.clone(),
            Activation::Sigmoid => {
                let one = g.const_f32(1.0);
                let om = g.bin("Sub", &one, &fwd.y);
                g.bin("Mul", &fwd.y, &om)
            }
            Activation::Softplus => g.node("Sigmoid", &[x], vec![]),
            Activation::Log1p => {
                let one = g.const_f32(1.0);
                let x1 = g.bin("Add", x, &one);
                g.node("Reciprocal", &[&x1], vec![])
            }
            Activation::GeluSigmoid => {
                let k = g.const_f32(1.702);
                let one = g.const_f32(1.0);
                let kx = g.bin("Mul", x, &k);
                let s = g.node("Sigmoid", &[&kx], vec![]);
                let om = g.bin("Sub", &one, &s);
                let t = g.bin("Mul", &kx, &om);
                let t1 = g.bin("Add", &t, &one);
                g.bin("Mul", &s, &t1)
            }
            Activation::GeluErf => {
                let k = g.const_f32(std::f32::consts::FRAC_1_SQRT_2);
                let one = g.const_f32(1.0);
                let half = g.const_f32(0.5);
                let mhalf = g.const_f32(-0.5);
                let inv_sqrt_2pi = g.const_f32(0.398_942_3);
                let kx = g.bin("Mul", x, &k);
                let erf = g.node("Erf", &[&kx], vec![]);
                let e1 = g.bin("Add", &erf, &one);
                let cdf = g.bin("Mul", &e1, &half);
                let x2 = g.bin("Mul", x, x);
                let ex = g.bin("Mul", &x2, &mhalf);
                let ex = g.node("Exp", &[&ex], vec![]);
                let pdf = g.bin("Mul", &ex, &inv_sqrt_2pi);
                let xpdf = g.bin("Mul", x, &pdf);
                g.bin("Add", &cdf, &xpdf)
            }
            Activation::GeluTanh => {
                let (t, x2) = gelu_tanh_inner(g, x);
                let c = g.const_f32(SQRT_2_OVER_PI);
                let a3 = g.const_f32(3.0 * GELU_TANH_A);
                let one = g.const_f32(1.0);
                let half = g.const_f32(0.5);
                let t1 = g.bin("Add", &t, &one);
                let left = g.bin("Mul", &t1, &half);
                let t2 = g.bin("Mul", &t, &t);
                let sech2 = g.bin("Sub", &one, &t2);
                let a3x2 = g.bin("Mul", &x2, &a3);
                let du = g.bin("Add", &a3x2, &one);
                let du = g.bin("Mul", &du, &c);
                let r = g.bin("Mul", &sech2, &du);
                let r = g.bin("Mul", &r, x);
                let r = g.bin("Mul", &r, &half);
                g.bin("Add", &left, &r)
            }
        };
        Ok(e.g.bin("Mul", dy, &d))
    }

    /// The rescale rule ([`deeplift::rescale`]).
    fn onnx_deeplift<'s>(&'s self, e: &mut Emitter<'s>, d: DeepLift<'_, 's>) -> Result<String> {
        let grad = self.onnx_backward(e, d.backward())?;
        Ok(deeplift::rescale(e, d.dy, (d.x, d.xr), (&d.fwd.y, &d.fwd_r.y), &grad))
    }

    fn burn_forward<B: Backend>(&self, _it: &mut Interpreter<'_, B>, _at: &Site, x: Act<B>) -> Result<Act<B>> {
        Ok(match x {
            Act::Seq(t) => Act::Seq(self.function.burn(t)),
            Act::Flat(t) => Act::Flat(self.function.burn(t)),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::ops::testing::analyze;
    use crate::model::ops::{Flatten, Layer};

    #[test]
    fn keeps_any_shape() {
        let relu = || Layer::Activation(ActivationLayer { function: Activation::Relu });
        let a = analyze(6, vec![relu(), Layer::Flatten(Flatten {}), relu()]).unwrap();
        assert_eq!(a.io["trunk.0"], (Shape::Seq { c: 4, l: 6 }, Shape::Seq { c: 4, l: 6 }));
        assert_eq!(a.io["trunk.2"], (Shape::Flat { f: 24 }, Shape::Flat { f: 24 }));
        assert_eq!(a.rows[0].what, "relu");
        assert!(a.weights.is_empty());
    }
}
