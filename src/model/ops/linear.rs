//! `linear`: a fully connected layer on flat features: y = x·Wᵀ + b. Weights `weight`
//! (units, in) and `bias` (units).

use burn::tensor::backend::Backend;
use serde::{Deserialize, Serialize};

use crate::error::Result;
use crate::model::analysis::{Geo, Inferred, Shape, Walker};
use crate::model::onnx::emit::{Emitter, Fwd};
use crate::model::onnx::graph::attr_i;
use crate::model::ops::{layer_error, Backward, Op, Site};
use crate::train::net::{Act, Interpreter};

fn yes() -> bool {
    true
}

/// Fully connected layer on flattened features.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Linear {
    /// Weight name prefix.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Output features.
    pub units: usize,
    /// Whether a bias is added.
    #[serde(default = "yes")]
    pub bias: bool,
}

impl Op for Linear {
    const TAG: &'static str = "linear";

    fn name(&self) -> Option<&str> {
        self.name.as_deref()
    }

    fn infer(&self, w: &mut Walker, path: &str, input: Shape, g: Geo) -> Result<Inferred> {
        let f = match input {
            Shape::Flat { f } => f,
            Shape::Seq { .. } => {
                return Err(layer_error(path, self.tag(), "needs flat features: add a flatten layer first"))
            }
        };
        if self.units == 0 {
            return Err(layer_error(path, self.tag(), "units must be positive"));
        }
        let prefix = self.name.clone().unwrap_or_else(|| path.to_string());
        let mut params = w.slot(&prefix, "weight", vec![self.units, f]);
        if self.bias {
            params += w.slot(&prefix, "bias", vec![self.units]);
        }
        Ok(Inferred {
            out: Shape::Flat { f: self.units },
            geo: g,
            what: format!("linear {}", self.units),
            params,
            macs: crate::model::analysis::macs(&[self.units, f]),
        })
    }

    fn onnx_forward<'s>(&'s self, e: &mut Emitter<'s>, at: &Site, x: &str) -> Result<Fwd<'s>> {
        let f = match at.input {
            Shape::Flat { f } => f,
            Shape::Seq { .. } => return Err(at.error("needs flat features")),
        };
        let prefix = at.prefix(&self.name);
        let w = e.param(&format!("{prefix}.weight"), &[self.units, f])?;
        let mut ins = vec![x.to_string(), w.clone()];
        if self.bias {
            ins.push(e.param(&format!("{prefix}.bias"), &[self.units])?);
        }
        let refs: Vec<&str> = ins.iter().map(String::as_str).collect();
        let y = e.g.node("Gemm", &refs, vec![attr_i("transB", 1)]);
        Ok(Fwd::new(y).saving(vec![w]))
    }

    /// dx = dy·W.
    fn onnx_backward<'s>(&'s self, e: &mut Emitter<'s>, b: Backward<'_, 's>) -> Result<String> {
        let Backward { at: _, x: _, fwd, dy } = b;
        let w = fwd.saved(0)?.to_string();
        Ok(e.g.bin("MatMul", dy, &w))
    }

    fn burn_forward<B: Backend>(&self, it: &mut Interpreter<'_, B>, at: &Site, x: Act<B>) -> Result<Act<B>> {
        let x = match x {
            Act::Flat(t) => t,
            Act::Seq(_) => return Err(at.error("needs flat features")),
        };
        let f = x.dims()[1];
        let pre = at.prefix(&self.name);
        let w = it.weight::<2>(&format!("{pre}.weight"), [self.units, f])?;
        let mut y = x.matmul(w.transpose());
        if self.bias {
            y = y + it.weight::<2>(&format!("{pre}.bias"), [1, self.units])?;
        }
        Ok(Act::Flat(y))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::ops::testing::{analyze, error};
    use crate::model::ops::{Flatten, Layer};

    #[test]
    fn needs_flat_features() {
        let lin = || Layer::Linear(Linear { name: None, units: 2, bias: false });
        let a = analyze(3, vec![Layer::Flatten(Flatten {}), lin()]).unwrap();
        assert_eq!(a.io["trunk.1"].1, Shape::Flat { f: 2 });
        assert_eq!((a.params, a.macs), (24, 24));
        assert_eq!(a.weights[0].name, "trunk.1.weight");
        let e = error(3, vec![lin()]);
        assert!(e.contains("trunk.0 (linear): needs flat features: add a flatten layer first"), "{e}");
    }
}
