//! `crop`: remove `left` and `right` positions at the ends of the length axis.

use burn::tensor::backend::Backend;
use serde::{Deserialize, Serialize};

use crate::error::Result;
use crate::model::analysis::{Geo, Inferred, Shape, Walker};
use crate::model::onnx::emit::{Emitter, Fwd};
use crate::model::ops::{layer_error, seq_input, Backward, Op, Site};
use crate::train::net::{contiguous, Act, Interpreter};

/// Remove positions at both ends.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Crop {
    /// Positions removed on the left.
    pub left: usize,
    /// Positions removed on the right.
    pub right: usize,
}

impl Op for Crop {
    const TAG: &'static str = "crop";

    fn infer(&self, _w: &mut Walker, path: &str, input: Shape, mut g: Geo) -> Result<Inferred> {
        let (c, l) = seq_input(path, self.tag(), input)?;
        let (left, right) = (self.left, self.right);
        if left + right >= l {
            return Err(layer_error(path, self.tag(), format!("cropping {left}+{right} leaves nothing of length {l}")));
        }
        g.offset += left as i64 * g.stride;
        Ok(Inferred::plain(Shape::Seq { c, l: l - left - right }, g, format!("crop {left}/{right}")))
    }

    fn onnx_forward<'s>(&'s self, e: &mut Emitter<'s>, at: &Site, x: &str) -> Result<Fwd<'s>> {
        let (_, l) = at.seq()?;
        Ok(Fwd::new(e.g.slice(x, 2, self.left as i64, (l - self.right) as i64)))
    }

    /// The cropped positions get zero gradient.
    fn onnx_backward<'s>(&'s self, e: &mut Emitter<'s>, b: Backward<'_, 's>) -> Result<String> {
        let dy = b.dy;
        Ok(e.g.pad_length(dy, self.left, self.right, 0.0))
    }

    fn burn_forward<B: Backend>(&self, _it: &mut Interpreter<'_, B>, at: &Site, x: Act<B>) -> Result<Act<B>> {
        let x = x.seq(at)?;
        let l = x.dims()[2];
        Ok(Act::Seq(contiguous(x.narrow(2, self.left, l - self.left - self.right))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::ops::testing::{analyze, error};
    use crate::model::ops::Layer;

    #[test]
    fn shifts_the_offset() {
        let a = analyze(10, vec![Layer::Crop(Crop { left: 2, right: 3 })]).unwrap();
        assert_eq!(a.io["trunk.0"].1, Shape::Seq { c: 4, l: 5 });
        assert_eq!(a.heads[0].1.offset, 2);
        let e = error(10, vec![Layer::Crop(Crop { left: 5, right: 5 })]);
        assert!(e.contains("trunk.0 (crop): cropping 5+5 leaves nothing of length 10"), "{e}");
    }
}
