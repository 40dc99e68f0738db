//! `flatten`: `(channels, length)` → `channels·length` features, channel-major (index
//! c·L + l, as PyTorch).

use burn::tensor::backend::Backend;
use serde::{Deserialize, Serialize};

use crate::error::Result;
use crate::model::analysis::{Geo, Inferred, Shape, Walker};
use crate::model::onnx::emit::{Emitter, Fwd};
use crate::model::onnx::graph::attr_i;
use crate::model::ops::{seq_input, Backward, Op, Site};
use crate::train::net::{Act, Interpreter};

/// (channels, length) → features.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Flatten {}

impl Op for Flatten {
    const TAG: &'static str = "flatten";

    fn infer(&self, _w: &mut Walker, path: &str, input: Shape, g: Geo) -> Result<Inferred> {
        let (c, l) = seq_input(path, self.tag(), input)?;
        Ok(Inferred::plain(Shape::Flat { f: c.saturating_mul(l) }, g, "flatten"))
    }

    fn onnx_forward<'s>(&'s self, e: &mut Emitter<'s>, _at: &Site, x: &str) -> Result<Fwd<'s>> {
        Ok(Fwd::new(e.g.node("Flatten", &[x], vec![attr_i("axis", 1)])))
    }

    fn onnx_backward<'s>(&'s self, e: &mut Emitter<'s>, b: Backward<'_, 's>) -> Result<String> {
        let Backward { at, x: _, fwd: _, dy } = b;
        let (c, l) = at.seq()?;
        Ok(e.g.reshape(dy, &[0, c as i64, l as i64]))
    }

    fn burn_forward<B: Backend>(&self, _it: &mut Interpreter<'_, B>, at: &Site, x: Act<B>) -> Result<Act<B>> {
        let x = x.seq(at)?;
        let [n, c, l] = x.dims();
        Ok(Act::Flat(x.reshape([n, c * l])))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::ops::testing::{analyze, error};
    use crate::model::ops::Layer;

    #[test]
    fn flattens_once() {
        let a = analyze(5, vec![Layer::Flatten(Flatten {})]).unwrap();
        assert_eq!(a.io["trunk.0"].1, Shape::Flat { f: 20 });
        assert_eq!(a.heads[0].1.bins, 1);
        let e = error(5, vec![Layer::Flatten(Flatten {}), Layer::Flatten(Flatten {})]);
        assert!(e.contains("trunk.1 (flatten): needs a (length, channels) input"), "{e}");
    }
}
