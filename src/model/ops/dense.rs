//! `dense`: a pointwise linear map over channels at every position (a kernel-1 convolution).
//! Weights `weight` (units, in) and `bias` (units).

use burn::tensor::backend::Backend;
use burn::tensor::module::conv1d;
use burn::tensor::ops::ConvOptions;
use serde::{Deserialize, Serialize};

use crate::error::Result;
use crate::model::analysis::{Geo, Inferred, Shape, Walker};
use crate::model::onnx::emit::{Emitter, Fwd};
use crate::model::onnx::graph::attr_ints;
use crate::model::ops::{layer_error, seq_input, Backward, Op, Site};
use crate::train::net::{Act, Interpreter};

fn yes() -> bool {
    true
}

/// Pointwise dense over channels at every position.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Dense {
    /// Weight name prefix.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Output channels.
    pub units: usize,
    /// Whether a bias is added.
    #[serde(default = "yes")]
    pub bias: bool,
}

impl Op for Dense {
    const TAG: &'static str = "dense";

    fn name(&self) -> Option<&str> {
        self.name.as_deref()
    }

    fn infer(&self, w: &mut Walker, path: &str, input: Shape, g: Geo) -> Result<Inferred> {
        let (c, l) = seq_input(path, self.tag(), input)?;
        if self.units == 0 {
            return Err(layer_error(path, self.tag(), "units must be positive"));
        }
        let prefix = self.name.clone().unwrap_or_else(|| path.to_string());
        let mut params = w.slot(&prefix, "weight", vec![self.units, c]);
        if self.bias {
            params += w.slot(&prefix, "bias", vec![self.units]);
        }
        Ok(Inferred {
            out: Shape::Seq { c: self.units, l },
            geo: g,
            what: format!("dense {}", self.units),
            params,
            macs: crate::model::analysis::macs(&[l, self.units, c]),
        })
    }

    fn folds_batch_norm(&self) -> bool {
        true
    }

    fn onnx_forward<'s>(&'s self, e: &mut Emitter<'s>, at: &Site, x: &str) -> Result<Fwd<'s>> {
        let (c, _) = at.seq()?;
        let (w, b) = e.linear_params(&at.prefix(&self.name), &[self.units, c, 1], self.bias)?;
        let mut ins = vec![x, w.as_str()];
        if let Some(b) = &b {
            ins.push(b);
        }
        let y = e.g.node("Conv", &ins, vec![attr_ints("kernel_shape", &[1])]);
        Ok(Fwd::new(y).saving(vec![w]))
    }

    fn onnx_backward<'s>(&'s self, e: &mut Emitter<'s>, b: Backward<'_, 's>) -> Result<String> {
        let Backward { at, x: _, fwd, dy } = b;
        // dx = Wᵀ·dy at every position: a kernel-1 convolution with the transposed weight.
        let (c, _) = at.seq()?;
        let w = fwd.saved(0)?;
        let wt =
            e.g.init_transposed(w, self.units, c, &[c, self.units, 1])
                .ok_or_else(|| at.error(format!("weight {w:?} is not an initializer of the graph")))?;
        Ok(e.g.node("Conv", &[dy, &wt], vec![attr_ints("kernel_shape", &[1])]))
    }

    fn burn_forward<B: Backend>(&self, it: &mut Interpreter<'_, B>, at: &Site, x: Act<B>) -> Result<Act<B>> {
        let x = x.seq(at)?;
        let c = x.dims()[1];
        let pre = at.prefix(&self.name);
        let w = it.weight(&format!("{pre}.weight"), [self.units, c, 1])?;
        let b = if self.bias { Some(it.weight(&format!("{pre}.bias"), [self.units])?) } else { None };
        Ok(Act::Seq(conv1d(x, w, b, ConvOptions::new([1], [0], [1], 1))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::ops::testing::{analyze, error};
    use crate::model::ops::{Flatten, Layer};

    #[test]
    fn maps_channels_at_every_position() {
        let a = analyze(7, vec![Layer::Dense(Dense { name: Some("d".into()), units: 3, bias: true })]).unwrap();
        assert_eq!(a.io["trunk.0"].1, Shape::Seq { c: 3, l: 7 });
        assert_eq!(a.weights[0].shape, vec![3, 4]);
        assert_eq!((a.params, a.macs), (15, 7 * 3 * 4));
        let e = error(7, vec![Layer::Flatten(Flatten {}), Layer::Dense(Dense { name: None, units: 3, bias: true })]);
        assert!(e.contains("trunk.1 (dense): needs a (length, channels) input"), "{e}");
        let e = error(7, vec![Layer::Dense(Dense { name: None, units: 0, bias: true })]);
        assert!(e.contains("trunk.0 (dense): units must be positive"), "{e}");
    }
}
