//! `avg_pool`: the mean of each window of `size` positions (window = stride); a remainder
//! shorter than a window is dropped.

use burn::tensor::backend::Backend;
use burn::tensor::module::avg_pool1d;
use serde::{Deserialize, Serialize};

use crate::error::Result;
use crate::model::analysis::{Geo, Inferred, Shape, Walker};
use crate::model::onnx::emit::{Emitter, Fwd};
use crate::model::onnx::graph::attr_ints;
use crate::model::ops::max_pool::{pool_infer, unwindow};
use crate::model::ops::{Backward, Op, Site};
use crate::train::net::{Act, Interpreter};

/// Average pooling, window = stride = `size`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AvgPool {
    /// Window and stride.
    pub size: usize,
}

impl Op for AvgPool {
    const TAG: &'static str = "avg_pool";

    fn infer(&self, _w: &mut Walker, path: &str, input: Shape, g: Geo) -> Result<Inferred> {
        pool_infer(self.tag(), self.size, path, input, g)
    }

    fn onnx_forward<'s>(&'s self, e: &mut Emitter<'s>, _at: &Site, x: &str) -> Result<Fwd<'s>> {
        let k = self.size as i64;
        Ok(Fwd::new(e.g.node("AveragePool", &[x], vec![attr_ints("kernel_shape", &[k]), attr_ints("strides", &[k])])))
    }

    /// Each position of a window receives dy/size.
    fn onnx_backward<'s>(&'s self, e: &mut Emitter<'s>, b: Backward<'_, 's>) -> Result<String> {
        let Backward { at, x: _, fwd: _, dy } = b;
        let (c, l) = at.seq()?;
        let share = e.g.const_f32_fill(1.0 / self.size as f32, self.size);
        let dyw = e.g.unsqueeze(dy, &[3]);
        let gw = e.g.bin("Mul", &dyw, &share);
        Ok(unwindow(e, &gw, c, l, self.size))
    }

    fn burn_forward<B: Backend>(&self, _it: &mut Interpreter<'_, B>, at: &Site, x: Act<B>) -> Result<Act<B>> {
        Ok(Act::Seq(avg_pool1d(x.seq(at)?, self.size, self.size, 0, true, false)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::ops::testing::{analyze, error};
    use crate::model::ops::{Flatten, Layer};

    #[test]
    fn shape_and_errors() {
        let a = analyze(9, vec![Layer::AvgPool(AvgPool { size: 2 })]).unwrap();
        assert_eq!(a.io["trunk.0"].1, Shape::Seq { c: 4, l: 4 });
        assert_eq!(a.rows[0].what, "avg_pool 2");
        let e = error(9, vec![Layer::Flatten(Flatten {}), Layer::AvgPool(AvgPool { size: 2 })]);
        assert!(e.contains("trunk.1 (avg_pool): needs a (length, channels) input"), "{e}");
    }
}
