//! `conv1d`: 1-D convolution (cross-correlation), stride 1, optional dilation, bias and "same"
//! or "valid" padding. Weights `weight` (filters, in, kernel) and `bias` (filters).

use burn::tensor::backend::Backend;
use burn::tensor::module::conv1d;
use burn::tensor::ops::{ConvOptions, PaddedConvOptions};
use burn::tensor::Tensor;
use serde::{Deserialize, Serialize};

use crate::error::Result;
use crate::model::analysis::{Geo, Inferred, Shape, Walker};
use crate::model::onnx::emit::{Emitter, Fwd};
use crate::model::onnx::graph::attr_ints;
use crate::model::ops::{layer_error, seq_input, Backward, Op, Site};
use crate::model::spec::Padding;
use crate::train::net::{Act, Interpreter};

fn one() -> usize {
    1
}

/// 1-D convolution (cross-correlation), stride 1.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Conv1d {
    /// Weight name prefix.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Output channels.
    pub filters: usize,
    /// Kernel width.
    pub kernel: usize,
    /// Dilation.
    #[serde(default = "one")]
    pub dilation: usize,
    /// Whether a bias is added.
    #[serde(default)]
    pub bias: bool,
    /// Padding.
    #[serde(default)]
    pub padding: Padding,
}

impl Conv1d {
    /// Span of the dilated kernel minus one: `dilation·(kernel − 1)`.
    pub fn span(&self) -> usize {
        self.dilation * (self.kernel.max(1) - 1)
    }

    /// Zero padding (left, right): "same" puts `span/2` on the left and the rest on the right
    /// (Keras/PyTorch), "valid" none.
    pub fn pads(&self) -> (usize, usize) {
        let span = self.span();
        match self.padding {
            Padding::Same => (span / 2, span - span / 2),
            Padding::Valid => (0, 0),
        }
    }
}

/// Emits the gradient of a stride-1 convolution with weight `w` (F, C, K) with respect to its
/// input of length `l`, given `dy` (N, F, L_out): a convolution of `dy` with the kernel
/// transposed (C, F, K) and flipped along its width, same dilation, padded so that every input
/// position receives what it contributed to: left `span − pad_left`, right `l − L_out + pad_left`.
pub(crate) fn conv_vjp(
    e: &mut Emitter,
    dy: &str,
    w: &str,
    (kernel, dilation): (usize, usize),
    pad_left: usize,
    (l, l_out): (usize, usize),
) -> String {
    let span = dilation * (kernel - 1);
    let wt = e.g.transpose(w, &[1, 0, 2]);
    let wf = if kernel > 1 { e.g.flip(&wt, &[2]) } else { wt };
    let left = span - pad_left;
    let right = l + pad_left - l_out;
    e.g.node(
        "Conv",
        &[dy, &wf],
        vec![
            attr_ints("kernel_shape", &[kernel as i64]),
            attr_ints("dilations", &[dilation as i64]),
            attr_ints("pads", &[left as i64, right as i64]),
            attr_ints("strides", &[1]),
        ],
    )
}

impl Op for Conv1d {
    const TAG: &'static str = "conv1d";

    fn name(&self) -> Option<&str> {
        self.name.as_deref()
    }

    fn infer(&self, w: &mut Walker, path: &str, input: Shape, mut g: Geo) -> Result<Inferred> {
        let (c, l) = seq_input(path, self.tag(), input)?;
        let (filters, kernel, dilation) = (self.filters, self.kernel, self.dilation);
        if filters == 0 || kernel == 0 || dilation == 0 {
            return Err(layer_error(path, self.tag(), "filters, kernel and dilation must be positive"));
        }
        let span = self.span();
        let lo = match self.padding {
            Padding::Same => l,
            Padding::Valid => {
                if l <= span {
                    return Err(layer_error(
                        path,
                        self.tag(),
                        format!("kernel span {} does not fit length {l}", span + 1),
                    ));
                }
                g.offset += (span / 2) as i64 * g.stride;
                l - span
            }
        };
        let prefix = self.name.clone().unwrap_or_else(|| path.to_string());
        let mut params = w.slot(&prefix, "weight", vec![filters, c, kernel]);
        if self.bias {
            params += w.slot(&prefix, "bias", vec![filters]);
        }
        g.rf += span as i64 * g.stride;
        Ok(Inferred {
            out: Shape::Seq { c: filters, l: lo },
            geo: g,
            what: format!("conv1d k{kernel} d{dilation} {filters}{}", if self.bias { " +bias" } else { "" }),
            params,
            macs: crate::model::analysis::macs(&[lo, filters, c, kernel]),
        })
    }

    fn folds_batch_norm(&self) -> bool {
        true
    }

    fn onnx_forward<'s>(&'s self, e: &mut Emitter<'s>, at: &Site, x: &str) -> Result<Fwd<'s>> {
        let (c, _) = at.seq()?;
        let (w, b) = e.linear_params(&at.prefix(&self.name), &[self.filters, c, self.kernel], self.bias)?;
        let (pl, pr) = self.pads();
        let mut ins = vec![x, w.as_str()];
        if let Some(b) = &b {
            ins.push(b);
        }
        let y = e.g.node(
            "Conv",
            &ins,
            vec![
                attr_ints("kernel_shape", &[self.kernel as i64]),
                attr_ints("dilations", &[self.dilation as i64]),
                attr_ints("pads", &[pl as i64, pr as i64]),
                attr_ints("strides", &[1]),
            ],
        );
        Ok(Fwd::new(y).saving(vec![w]))
    }

    fn onnx_backward<'s>(&'s self, e: &mut Emitter<'s>, b: Backward<'_, 's>) -> Result<String> {
        let Backward { at, x: _, fwd, dy } = b;
        let (_, l) = at.seq()?;
        let l_out = match at.output {
            Shape::Seq { l, .. } => l,
            Shape::Flat { .. } => return Err(at.error("output is not a sequence")),
        };
        let w = fwd.saved(0)?.to_string();
        Ok(conv_vjp(e, dy, &w, (self.kernel, self.dilation), self.pads().0, (l, l_out)))
    }

    fn burn_forward<B: Backend>(&self, it: &mut Interpreter<'_, B>, at: &Site, x: Act<B>) -> Result<Act<B>> {
        let x = x.seq(at)?;
        let [_, c, _] = x.dims();
        let pre = at.prefix(&self.name);
        let w = it.weight(&format!("{pre}.weight"), [self.filters, c, self.kernel])?;
        let b = if self.bias { Some(it.weight(&format!("{pre}.bias"), [self.filters])?) } else { None };
        let (left, right) = self.pads();
        if it.im2col() {
            return Ok(Act::Seq(conv1d_im2col(x, w, b, left, right, self.dilation)));
        }
        let opts = if left == right {
            PaddedConvOptions::from(ConvOptions::new([1], [left], [self.dilation], 1))
        } else {
            PaddedConvOptions::asymmetric([1], [left], [right], [self.dilation], 1)
        };
        Ok(Act::Seq(conv1d(x, w, b, opts)))
    }
}

/// Convolution (stride 1) as a matrix product: `x` `(N, C, L)` padded by `left`/`right` zeros,
/// its `K` dilated shifts stacked into `(N, C·K, L_out)` (row c·K + k, the order of the weight's
/// `(F, C, K)` layout), multiplied by the weight as `(F, C·K)`. The same values as the backend's
/// convolution up to float rounding, and several times faster for training on burn's ndarray
/// CPU backend, whose direct convolution is slow.
pub fn conv1d_im2col<B: Backend>(
    x: Tensor<B, 3>,
    w: Tensor<B, 3>,
    b: Option<Tensor<B, 1>>,
    left: usize,
    right: usize,
    dilation: usize,
) -> Tensor<B, 3> {
    let [n, c, l] = x.dims();
    let [f, _, k] = w.dims();
    let device = x.device();
    let mut parts = Vec::with_capacity(3);
    if left > 0 {
        parts.push(Tensor::zeros([n, c, left], &device));
    }
    parts.push(x);
    if right > 0 {
        parts.push(Tensor::zeros([n, c, right], &device));
    }
    let xp = if parts.len() == 1 { parts.remove(0) } else { Tensor::cat(parts, 2) };
    let lout = l + left + right - dilation * (k - 1);
    let cols: Tensor<B, 3> = if k == 1 {
        xp
    } else {
        let shifts: Vec<Tensor<B, 3>> = (0..k).map(|j| xp.clone().narrow(2, j * dilation, lout)).collect();
        Tensor::<B, 3>::stack::<4>(shifts, 2).reshape([n, c * k, lout])
    };
    let y = w.reshape([1, f, c * k]).matmul(cols);
    match b {
        Some(b) => y + b.reshape([1, f, 1]),
        None => y,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::ops::testing::{analyze, error};
    use crate::model::ops::Layer;

    fn conv(filters: usize, kernel: usize, dilation: usize, padding: Padding) -> Layer {
        Layer::Conv1d(Conv1d { name: None, filters, kernel, dilation, bias: true, padding })
    }

    #[test]
    fn same_keeps_length_and_valid_trims_the_span() {
        let a = analyze(20, vec![conv(3, 5, 2, Padding::Same)]).unwrap();
        assert_eq!(a.io["trunk.0"].1, Shape::Seq { c: 3, l: 20 });
        assert_eq!(a.heads[0].1.offset, 0);
        assert_eq!(a.receptive_field[0], 9);
        let a = analyze(20, vec![conv(3, 5, 2, Padding::Valid)]).unwrap();
        assert_eq!(a.io["trunk.0"].1, Shape::Seq { c: 3, l: 12 });
        // Output position 0 is centred on input position 4.
        assert_eq!(a.heads[0].1.offset, 4);
        assert_eq!(a.weights[0].shape, vec![3, 4, 5]);
        assert_eq!(a.weights[1].shape, vec![3]);
        assert_eq!(a.macs, 12 * 3 * 4 * 5);
        assert_eq!(
            Conv1d { name: None, filters: 1, kernel: 4, dilation: 1, bias: false, padding: Padding::Same }.pads(),
            (1, 2)
        );
    }

    #[test]
    fn errors_name_the_layer() {
        let e = error(8, vec![conv(3, 5, 2, Padding::Valid)]);
        assert!(e.contains("trunk.0 (conv1d): kernel span 9 does not fit length 8"), "{e}");
        let e = error(8, vec![conv(0, 5, 1, Padding::Same)]);
        assert!(e.contains("trunk.0 (conv1d): filters, kernel and dilation must be positive"), "{e}");
        let e = error(8, vec![Layer::Flatten(crate::model::ops::Flatten {}), conv(3, 1, 1, Padding::Same)]);
        assert!(e.contains("trunk.1 (conv1d): needs a (length, channels) input"), "{e}");
    }
}
