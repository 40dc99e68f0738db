//! `strand_max` (DRG's reverse-complement convolution): max(f(x), flip(f(rc(x)))), where f is
//! the nested block `layers` (shared by both strands), rc reverses channels and positions (the
//! reverse complement of one-hot A, C, G, T) and flip reverses positions.

use burn::tensor::backend::Backend;
use serde::{Deserialize, Serialize};

use crate::error::Result;
use crate::model::analysis::{Geo, Inferred, Shape, Walker};
use crate::model::onnx::emit::{Emitter, Fwd};
use crate::model::onnx::graph::attr_i;
use crate::model::ops::{deeplift, layer_error, seq_input, Backward, DeepLift, Layer, Op, Site};
use crate::train::net::{contiguous, Act, Interpreter};

/// Strand max over a shared block.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StrandMax {
    /// The block, shared by both strands.
    pub layers: Vec<Layer>,
}

impl Op for StrandMax {
    const TAG: &'static str = "strand_max";

    /// The layer-table row carries the block's second (reverse-strand) pass as its cost.
    fn infer(&self, w: &mut Walker, path: &str, input: Shape, g: Geo) -> Result<Inferred> {
        let (bs, bg, macs) = w.block(&self.layers, path, input, g)?;
        if !matches!(bs, Shape::Seq { .. }) {
            return Err(layer_error(path, self.tag(), "block must keep a (length, channels) shape"));
        }
        Ok(Inferred { macs, ..Inferred::plain(bs, bg, "strand_max") })
    }

    fn onnx_forward<'s>(&'s self, e: &mut Emitter<'s>, at: &Site, x: &str) -> Result<Fwd<'s>> {
        let rc = e.g.flip(x, &[1, 2]);
        let (f, fwd_steps) = e.forward(&self.layers, &at.path, x.to_string())?;
        let (r, rev_steps) = e.forward(&self.layers, &at.path, rc)?;
        let (_, l_out) = seq_input(&at.path, self.tag(), at.output)?;
        let back = e.g.reverse(&r, 2, l_out);
        let y = e.g.bin("Max", &f, &back);
        Ok(Fwd::new(y).saving(vec![f, back]).with_blocks(vec![fwd_steps, rev_steps]))
    }

    /// The gradient flows through the winning strand (the forward strand on ties), back
    /// through its pass of the block, and for the reverse strand back through rc.
    fn onnx_backward<'s>(&'s self, e: &mut Emitter<'s>, b: Backward<'_, 's>) -> Result<String> {
        let Backward { at, x: _, fwd, dy } = b;
        let (_, l_out) = seq_input(&at.path, self.tag(), at.output)?;
        let (f, back) = (fwd.saved(0)?.to_string(), fwd.saved(1)?.to_string());
        let rev_wins = e.g.bin("Less", &f, &back);
        let m_rev = e.g.to_float(&rev_wins);
        let one = e.g.const_f32(1.0);
        let m_fwd = e.g.bin("Sub", &one, &m_rev);
        let d_f = e.g.bin("Mul", dy, &m_fwd);
        let d_back = e.g.bin("Mul", dy, &m_rev);
        let d_r = e.g.reverse(&d_back, 2, l_out);
        let dx_f = e.backward(fwd.block(0)?, d_f)?;
        let dx_rc = e.backward(fwd.block(1)?, d_r)?;
        let dx_r = e.g.flip(&dx_rc, &[1, 2]);
        Ok(e.g.bin("Add", &dx_f, &dx_r))
    }

    /// The strand max is a max over a window of two (the strands at the same position), so
    /// captum's max rule ([`deeplift::routed_max`]) splits the multipliers between the strands;
    /// each strand's block then passes its share back as DeepLIFT does.
    fn onnx_deeplift<'s>(&'s self, e: &mut Emitter<'s>, d: DeepLift<'_, 's>) -> Result<String> {
        let DeepLift { at, fwd, fwd_r, dy, .. } = d;
        let (_, l_out) = seq_input(&at.path, self.tag(), at.output)?;
        let pair = |e: &mut Emitter<'s>, f: &Fwd<'s>| -> Result<String> {
            let a = e.g.unsqueeze(f.saved(0)?, &[3]);
            let b = e.g.unsqueeze(f.saved(1)?, &[3]);
            Ok(e.g.node("Concat", &[&a, &b], vec![attr_i("axis", 3)]))
        };
        let xw = pair(e, fwd)?;
        let rw = pair(e, fwd_r)?;
        let dyw = e.g.unsqueeze(dy, &[3]);
        let m = deeplift::routed_max(e, &xw, &rw, 2, &dyw);
        let ax = e.g.const_i64(&[3]);
        let m_f = e.g.slice(&m, 3, 0, 1);
        let d_f = e.g.node("Squeeze", &[&m_f, &ax], vec![]);
        let m_b = e.g.slice(&m, 3, 1, 2);
        let d_back = e.g.node("Squeeze", &[&m_b, &ax], vec![]);
        let d_r = e.g.reverse(&d_back, 2, l_out);
        let dx_f = e.deeplift(fwd.block(0)?, fwd_r.block(0)?, d_f)?;
        let dx_rc = e.deeplift(fwd.block(1)?, fwd_r.block(1)?, d_r)?;
        let dx_r = e.g.flip(&dx_rc, &[1, 2]);
        Ok(e.g.bin("Add", &dx_f, &dx_r))
    }

    fn burn_forward<B: Backend>(&self, it: &mut Interpreter<'_, B>, at: &Site, x: Act<B>) -> Result<Act<B>> {
        let x = x.seq(at)?;
        // Reverse complement of one-hot ACGT (or of any channels-first tensor, as DRG):
        // reverse channels and positions.
        let rc = contiguous(x.clone().flip([1, 2]));
        let f = it.block(&self.layers, &at.path, Act::Seq(x))?.seq(at)?;
        let r = it.block(&self.layers, &at.path, Act::Seq(rc))?.seq(at)?;
        Ok(Act::Seq(f.max_pair(contiguous(r.flip([2])))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::ops::testing::{analyze, error};
    use crate::model::ops::{Conv1d, Flatten};
    use crate::model::spec::Padding;

    #[test]
    fn row_carries_the_second_pass() {
        let conv = Layer::Conv1d(Conv1d {
            name: None,
            filters: 2,
            kernel: 3,
            dilation: 1,
            bias: false,
            padding: Padding::Valid,
        });
        let a = analyze(10, vec![Layer::StrandMax(StrandMax { layers: vec![conv] })]).unwrap();
        assert_eq!(a.io["trunk.0"].1, Shape::Seq { c: 2, l: 8 });
        assert_eq!(a.heads[0].1.offset, 1);
        assert_eq!(a.rows[0].macs, a.rows[1].macs);
        assert_eq!(a.macs, 2 * 8 * 2 * 4 * 3);
        let e = error(10, vec![Layer::StrandMax(StrandMax { layers: vec![Layer::Flatten(Flatten {})] })]);
        assert!(e.contains("trunk.0 (strand_max): block must keep a (length, channels) shape"), "{e}");
    }
}
