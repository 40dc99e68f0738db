//! `residual`: x + f(x), where f is the nested block `layers`, which must keep the shape and
//! the positions.

use burn::tensor::backend::Backend;
use serde::{Deserialize, Serialize};

use crate::error::Result;
use crate::model::analysis::{Geo, Inferred, Shape, Walker};
use crate::model::onnx::emit::{Emitter, Fwd};
use crate::model::ops::{layer_error, Backward, DeepLift, Layer, Op, Site};
use crate::train::net::{Act, Interpreter};

/// x + f(x).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Residual {
    /// The block.
    pub layers: Vec<Layer>,
}

impl Op for Residual {
    const TAG: &'static str = "residual";

    fn infer(&self, w: &mut Walker, path: &str, input: Shape, mut g: Geo) -> Result<Inferred> {
        let (bs, bg, _) = w.block(&self.layers, path, input, g)?;
        if bs != input || bg.stride != g.stride || bg.offset != g.offset {
            return Err(layer_error(
                path,
                self.tag(),
                format!("block changes the shape {input} → {bs}; a residual block must keep it"),
            ));
        }
        g.rf = g.rf.max(bg.rf);
        Ok(Inferred::plain(input, g, "residual"))
    }

    fn onnx_forward<'s>(&'s self, e: &mut Emitter<'s>, at: &Site, x: &str) -> Result<Fwd<'s>> {
        let (fx, steps) = e.forward(&self.layers, &at.path, x.to_string())?;
        let y = e.g.bin("Add", x, &fx);
        Ok(Fwd::new(y).with_blocks(vec![steps]))
    }

    /// dx = dy + (the block's gradient of dy).
    fn onnx_backward<'s>(&'s self, e: &mut Emitter<'s>, b: Backward<'_, 's>) -> Result<String> {
        let Backward { at: _, x: _, fwd, dy } = b;
        let db = e.backward(fwd.block(0)?, dy.to_string())?;
        Ok(e.g.bin("Add", dy, &db))
    }

    /// The skip connection is linear: m = m_out + (the block's multipliers of m_out).
    fn onnx_deeplift<'s>(&'s self, e: &mut Emitter<'s>, d: DeepLift<'_, 's>) -> Result<String> {
        let db = e.deeplift(d.fwd.block(0)?, d.fwd_r.block(0)?, d.dy.to_string())?;
        Ok(e.g.bin("Add", d.dy, &db))
    }

    fn burn_forward<B: Backend>(&self, it: &mut Interpreter<'_, B>, at: &Site, x: Act<B>) -> Result<Act<B>> {
        let x = x.seq(at)?;
        let y = it.block(&self.layers, &at.path, Act::Seq(x.clone()))?.seq(at)?;
        Ok(Act::Seq(x + y))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::ops::testing::{analyze, error};
    use crate::model::ops::{Conv1d, MaxPool};
    use crate::model::spec::Padding;

    #[test]
    fn block_must_keep_the_shape() {
        let conv = |filters| {
            Layer::Conv1d(Conv1d { name: None, filters, kernel: 3, dilation: 2, bias: false, padding: Padding::Same })
        };
        let a = analyze(12, vec![Layer::Residual(Residual { layers: vec![conv(4)] })]).unwrap();
        assert_eq!(a.io["trunk.0"].1, Shape::Seq { c: 4, l: 12 });
        assert_eq!(a.io["trunk.0.0"].1, Shape::Seq { c: 4, l: 12 });
        assert_eq!(a.weights[0].name, "trunk.0.0.weight");
        assert_eq!(a.receptive_field[0], 5);
        assert_eq!((a.rows[0].depth, a.rows[1].depth), (0, 1));
        let e = error(12, vec![Layer::Residual(Residual { layers: vec![conv(5)] })]);
        assert!(e.contains("trunk.0 (residual): block changes the shape (12, 4) → (12, 5)"), "{e}");
        let e = error(12, vec![Layer::Residual(Residual { layers: vec![Layer::MaxPool(MaxPool { size: 13 })] })]);
        assert!(e.contains("trunk.0.0 (max_pool)"), "{e}");
    }
}
