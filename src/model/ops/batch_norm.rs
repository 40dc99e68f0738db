//! `batch_norm`: γ·(x − mean)/√(var + eps) + β per channel, with running statistics at
//! inference. Weights `gamma`, `beta`, `mean`, `var` (channels).

use burn::tensor::backend::Backend;
use serde::{Deserialize, Serialize};

use crate::error::Result;
use crate::model::analysis::{Geo, Inferred, Shape, Walker};
use crate::model::onnx::emit::{Emitter, Fwd};
use crate::model::onnx::graph::attr_f;
use crate::model::ops::{seq_input, Backward, Op, Site};
use crate::train::net::{to_vec, Act, Interpreter};

/// Batch normalisation with running statistics.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BatchNorm {
    /// Weight name prefix.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Epsilon (Keras 1e-3, PyTorch 1e-5).
    pub eps: f32,
}

const PARAMS: [&str; 4] = ["gamma", "beta", "mean", "var"];

impl Op for BatchNorm {
    const TAG: &'static str = "batch_norm";

    fn name(&self) -> Option<&str> {
        self.name.as_deref()
    }

    fn infer(&self, w: &mut Walker, path: &str, input: Shape, g: Geo) -> Result<Inferred> {
        let (c, _) = seq_input(path, self.tag(), input)?;
        let prefix = self.name.clone().unwrap_or_else(|| path.to_string());
        let params = PARAMS.iter().map(|p| w.slot(&prefix, p, vec![c])).sum();
        Ok(Inferred { params, ..Inferred::plain(input, g, format!("batch_norm eps {}", self.eps)) })
    }

    fn onnx_forward<'s>(&'s self, e: &mut Emitter<'s>, at: &Site, x: &str) -> Result<Fwd<'s>> {
        let (c, _) = at.seq()?;
        let prefix = at.prefix(&self.name);
        let mut names = vec![x.to_string()];
        for p in PARAMS {
            names.push(e.param(&format!("{prefix}.{p}"), &[c])?);
        }
        let ins: Vec<&str> = names.iter().map(String::as_str).collect();
        let y = e.g.node("BatchNormalization", &ins, vec![attr_f("epsilon", self.eps)]);
        Ok(Fwd::new(y).saving(vec![names[1].clone(), names[4].clone()]))
    }

    /// With running statistics the op is a per-channel affine map: dx = dy·γ/√(var + eps).
    fn onnx_backward<'s>(&'s self, e: &mut Emitter<'s>, b: Backward<'_, 's>) -> Result<String> {
        let Backward { at: _, x: _, fwd, dy } = b;
        let (gamma, var) = (fwd.saved(0)?.to_string(), fwd.saved(1)?.to_string());
        let eps = e.g.const_f32(self.eps);
        let v = e.g.bin("Add", &var, &eps);
        let sd = e.g.node("Sqrt", &[&v], vec![]);
        let scale = e.g.bin("Div", &gamma, &sd);
        let scale = e.g.unsqueeze(&scale, &[1]);
        Ok(e.g.bin("Mul", dy, &scale))
    }

    /// Batch statistics in training mode (biased variance for the normalisation; the unbiased
    /// variance is reported for the running averages), running statistics otherwise.
    fn burn_forward<B: Backend>(&self, it: &mut Interpreter<'_, B>, at: &Site, x: Act<B>) -> Result<Act<B>> {
        let x = x.seq(at)?;
        let [n, c, l] = x.dims();
        let pre = at.prefix(&self.name);
        let gamma = it.weight::<3>(&format!("{pre}.gamma"), [1, c, 1])?;
        let beta = it.weight::<3>(&format!("{pre}.beta"), [1, c, 1])?;
        let (mean, var) = if it.is_training() {
            let mean = x.clone().mean_dim(2).mean_dim(0);
            let centred = x.clone() - mean.clone();
            let var = centred.square().mean_dim(2).mean_dim(0);
            let count = (n * l) as f32;
            let unbiased = if count > 1.0 { count / (count - 1.0) } else { 1.0 };
            let m = to_vec(mean.clone().detach())?;
            let vv = to_vec(var.clone().detach())?.into_iter().map(|v| v * unbiased).collect();
            it.stats.push((pre.clone(), m, vv));
            (mean, var)
        } else {
            (it.weight(&format!("{pre}.mean"), [1, c, 1])?, it.weight(&format!("{pre}.var"), [1, c, 1])?)
        };
        Ok(Act::Seq((x - mean) / (var + self.eps as f64).sqrt() * gamma + beta))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::ops::testing::{analyze, error};
    use crate::model::ops::{Flatten, Layer};

    #[test]
    fn keeps_the_shape_and_has_four_slots() {
        let a = analyze(10, vec![Layer::BatchNorm(BatchNorm { name: Some("bn".into()), eps: 1e-3 })]).unwrap();
        assert_eq!(a.io["trunk.0"], (Shape::Seq { c: 4, l: 10 }, Shape::Seq { c: 4, l: 10 }));
        let names: Vec<_> = a.weights.iter().map(|w| w.name.as_str()).collect();
        assert_eq!(names, ["bn.gamma", "bn.beta", "bn.mean", "bn.var"]);
        assert_eq!(a.params, 16);
        assert_eq!(a.macs, 0);
    }

    #[test]
    fn needs_a_sequence() {
        let e = error(10, vec![Layer::Flatten(Flatten {}), Layer::BatchNorm(BatchNorm { name: None, eps: 1e-3 })]);
        assert!(e.contains("trunk.1 (batch_norm): needs a (length, channels) input"), "{e}");
    }
}
