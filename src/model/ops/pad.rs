//! `pad`: add `left` and `right` positions of a constant value along the length axis.

use burn::tensor::backend::Backend;
use burn::tensor::Tensor;
use serde::{Deserialize, Serialize};

use crate::error::Result;
use crate::model::analysis::{Geo, Inferred, Shape, Walker};
use crate::model::onnx::emit::{Emitter, Fwd};
use crate::model::ops::{seq_input, Backward, Op, Site};
use crate::train::net::{Act, Interpreter};

/// Constant padding along the length axis.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Pad {
    /// Positions added on the left.
    pub left: usize,
    /// Positions added on the right.
    pub right: usize,
    /// Value in every channel.
    pub value: f32,
}

impl Op for Pad {
    const TAG: &'static str = "pad";

    fn infer(&self, _w: &mut Walker, path: &str, input: Shape, mut g: Geo) -> Result<Inferred> {
        let (c, l) = seq_input(path, self.tag(), input)?;
        g.offset -= self.left as i64 * g.stride;
        let what = format!("pad {}/{} value {}", self.left, self.right, self.value);
        Ok(Inferred::plain(Shape::Seq { c, l: l + self.left + self.right }, g, what))
    }

    fn onnx_forward<'s>(&'s self, e: &mut Emitter<'s>, _at: &Site, x: &str) -> Result<Fwd<'s>> {
        Ok(Fwd::new(e.g.pad_length(x, self.left, self.right, self.value)))
    }

    /// The gradient of the original positions; the padding is constant.
    fn onnx_backward<'s>(&'s self, e: &mut Emitter<'s>, b: Backward<'_, 's>) -> Result<String> {
        let Backward { at, x: _, fwd: _, dy } = b;
        let (_, l) = at.seq()?;
        if self.left + self.right == 0 {
            return Ok(dy.to_string());
        }
        Ok(e.g.slice(dy, 2, self.left as i64, (self.left + l) as i64))
    }

    fn burn_forward<B: Backend>(&self, _it: &mut Interpreter<'_, B>, at: &Site, x: Act<B>) -> Result<Act<B>> {
        let x = x.seq(at)?;
        let [n, c, _] = x.dims();
        let device = x.device();
        let mut parts = Vec::new();
        if self.left > 0 {
            parts.push(Tensor::full([n, c, self.left], self.value, &device));
        }
        parts.push(x);
        if self.right > 0 {
            parts.push(Tensor::full([n, c, self.right], self.value, &device));
        }
        Ok(Act::Seq(Tensor::cat(parts, 2)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::ops::testing::{analyze, error};
    use crate::model::ops::{Flatten, Layer};

    #[test]
    fn grows_and_shifts() {
        let a = analyze(10, vec![Layer::Pad(Pad { left: 3, right: 1, value: 0.25 })]).unwrap();
        assert_eq!(a.io["trunk.0"].1, Shape::Seq { c: 4, l: 14 });
        assert_eq!(a.heads[0].1.offset, -3);
        let e = error(10, vec![Layer::Flatten(Flatten {}), Layer::Pad(Pad { left: 1, right: 1, value: 0.0 })]);
        assert!(e.contains("trunk.1 (pad): needs a (length, channels) input"), "{e}");
    }
}
