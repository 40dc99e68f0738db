//! `max_pool`: the maximum of each window of `size` positions (window = stride); a remainder
//! shorter than a window is dropped.

use burn::tensor::backend::Backend;
use burn::tensor::module::max_pool1d;
use serde::{Deserialize, Serialize};

use crate::error::Result;
use crate::model::analysis::{Geo, Inferred, Shape, Walker};
use crate::model::onnx::emit::{Emitter, Fwd};
use crate::model::onnx::graph::{attr_i, attr_ints};
use crate::model::ops::{deeplift, layer_error, seq_input, Backward, DeepLift, Op, Site};
use crate::train::net::{Act, Interpreter};

/// Max pooling, window = stride = `size`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MaxPool {
    /// Window and stride.
    pub size: usize,
}

/// Shape and geometry of a window = stride pooling (max and average).
pub(crate) fn pool_infer(tag: &str, size: usize, path: &str, input: Shape, mut g: Geo) -> Result<Inferred> {
    let (c, l) = seq_input(path, tag, input)?;
    if size == 0 || l < size {
        return Err(layer_error(path, tag, format!("pool size {size} does not fit length {l}")));
    }
    g.rf += (size as i64 - 1) * g.stride;
    g.stride *= size as i64;
    Ok(Inferred::plain(Shape::Seq { c, l: l / size }, g, format!("{tag} {size}")))
}

/// `(N, C, L)` → its complete windows as `(N, C, L/size, size)`.
pub(crate) fn windows(e: &mut Emitter, x: &str, c: usize, l: usize, size: usize) -> String {
    let nb = l / size;
    let used = if nb * size != l { e.g.slice(x, 2, 0, (nb * size) as i64) } else { x.to_string() };
    e.g.reshape(&used, &[0, c as i64, nb as i64, size as i64])
}

/// `(N, C, nb, size)` gradients of the windows → `(N, C, L)`, zero for the dropped remainder.
pub(crate) fn unwindow(e: &mut Emitter, g: &str, c: usize, l: usize, size: usize) -> String {
    let used = (l / size) * size;
    let flat = e.g.reshape(g, &[0, c as i64, used as i64]);
    e.g.pad_length(&flat, 0, l - used, 0.0)
}

impl Op for MaxPool {
    const TAG: &'static str = "max_pool";

    fn infer(&self, _w: &mut Walker, path: &str, input: Shape, g: Geo) -> Result<Inferred> {
        pool_infer(self.tag(), self.size, path, input, g)
    }

    fn onnx_forward<'s>(&'s self, e: &mut Emitter<'s>, _at: &Site, x: &str) -> Result<Fwd<'s>> {
        let k = self.size as i64;
        Ok(Fwd::new(e.g.node("MaxPool", &[x], vec![attr_ints("kernel_shape", &[k]), attr_ints("strides", &[k])])))
    }

    /// Routes each window's gradient to its first maximum (as PyTorch and burn do).
    fn onnx_backward<'s>(&'s self, e: &mut Emitter<'s>, b: Backward<'_, 's>) -> Result<String> {
        let Backward { at, x, fwd: _, dy } = b;
        let (c, l) = at.seq()?;
        let w = windows(e, x, c, l, self.size);
        let arg = e.g.node("ArgMax", &[&w], vec![attr_i("axis", 3), attr_i("keepdims", 1)]);
        let range: Vec<i64> = (0..self.size as i64).collect();
        let range = e.g.const_i64(&range);
        let hit = e.g.bin("Equal", &arg, &range);
        let mask = e.g.to_float(&hit);
        let dyw = e.g.unsqueeze(dy, &[3]);
        let gw = e.g.bin("Mul", &mask, &dyw);
        Ok(unwindow(e, &gw, c, l, self.size))
    }

    /// Captum's max rule per window ([`deeplift::routed_max`]).
    fn onnx_deeplift<'s>(&'s self, e: &mut Emitter<'s>, d: DeepLift<'_, 's>) -> Result<String> {
        let (c, l) = d.at.seq()?;
        let xw = windows(e, d.x, c, l, self.size);
        let rw = windows(e, d.xr, c, l, self.size);
        let dyw = e.g.unsqueeze(d.dy, &[3]);
        let gw = deeplift::routed_max(e, &xw, &rw, self.size, &dyw);
        Ok(unwindow(e, &gw, c, l, self.size))
    }

    fn burn_forward<B: Backend>(&self, _it: &mut Interpreter<'_, B>, at: &Site, x: Act<B>) -> Result<Act<B>> {
        Ok(Act::Seq(max_pool1d(x.seq(at)?, self.size, self.size, 0, 1, false)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::ops::testing::{analyze, error};
    use crate::model::ops::Layer;

    #[test]
    fn drops_the_remainder_and_scales_the_geometry() {
        let a = analyze(10, vec![Layer::MaxPool(MaxPool { size: 3 })]).unwrap();
        assert_eq!(a.io["trunk.0"].1, Shape::Seq { c: 4, l: 3 });
        assert_eq!((a.heads[0].1.bin_size, a.receptive_field[0]), (3, 3));
        let e = error(2, vec![Layer::MaxPool(MaxPool { size: 3 })]);
        assert!(e.contains("trunk.0 (max_pool): pool size 3 does not fit length 2"), "{e}");
        let e = error(2, vec![Layer::MaxPool(MaxPool { size: 0 })]);
        assert!(e.contains("pool size 0"), "{e}");
    }
}
