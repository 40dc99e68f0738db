//! `global_pool`: the mean or sum over every position of each channel, (C, L) → C flat
//! features; with `across_channels`, over channels too, (C, L) → 1 feature. BPNet's count head
//! averages the trunk over its positions this way, and sums its control tracks over positions
//! and strands.

use burn::tensor::backend::Backend;
use serde::{Deserialize, Serialize};

use crate::error::Result;
use crate::model::analysis::{Geo, Inferred, Shape, Walker};
use crate::model::onnx::emit::{Emitter, Fwd};
use crate::model::onnx::graph::{attr_i, attr_ints};
use crate::model::ops::{seq_input, Backward, Op, Site};
use crate::train::net::{Act, Interpreter};

/// How positions are combined.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PoolFn {
    /// Arithmetic mean.
    Mean,
    /// Sum.
    Sum,
}

/// Mean or sum over all positions (and channels with `across_channels`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GlobalPool {
    /// Mean or sum.
    #[serde(rename = "fn")]
    pub function: PoolFn,
    /// Also combine the channels into one feature.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub across_channels: bool,
}

impl GlobalPool {
    /// Values combined into each output feature, from the input (channels, length).
    fn count(&self, c: usize, l: usize) -> usize {
        if self.across_channels {
            c * l
        } else {
            l
        }
    }

    fn axes(&self) -> Vec<i64> {
        if self.across_channels {
            vec![1, 2]
        } else {
            vec![2]
        }
    }
}

impl Op for GlobalPool {
    const TAG: &'static str = "global_pool";

    fn infer(&self, _w: &mut Walker, path: &str, input: Shape, g: Geo) -> Result<Inferred> {
        let (c, _) = seq_input(path, self.tag(), input)?;
        let f = if self.across_channels { 1 } else { c };
        let what = match self.function {
            PoolFn::Mean => "global mean",
            PoolFn::Sum => "global sum",
        };
        let what = if self.across_channels { format!("{what} (all channels)") } else { what.to_string() };
        Ok(Inferred::plain(Shape::Flat { f }, g, what))
    }

    fn onnx_forward<'s>(&'s self, e: &mut Emitter<'s>, at: &Site, x: &str) -> Result<Fwd<'s>> {
        at.seq()?;
        // Opset 17: ReduceMean takes its axes as an attribute, ReduceSum as an input.
        let r = match self.function {
            PoolFn::Mean => e.g.node("ReduceMean", &[x], vec![attr_ints("axes", &self.axes()), attr_i("keepdims", 1)]),
            PoolFn::Sum => {
                let axes = e.g.const_i64(&self.axes());
                e.g.node("ReduceSum", &[x, &axes], vec![attr_i("keepdims", 1)])
            }
        };
        Ok(Fwd::new(e.g.reshape(&r, &[0, -1])))
    }

    /// Every position (and channel) gets the feature's gradient, divided by their count for
    /// the mean.
    fn onnx_backward<'s>(&'s self, e: &mut Emitter<'s>, b: Backward<'_, 's>) -> Result<String> {
        let (c, l) = b.at.seq()?;
        let d = match self.function {
            PoolFn::Mean => {
                let k = e.g.const_f32(1.0 / self.count(c, l) as f32);
                e.g.bin("Mul", b.dy, &k)
            }
            PoolFn::Sum => b.dy.to_string(),
        };
        let d = e.g.unsqueeze(&d, &[2]);
        let shape = e.g.node("Shape", &[b.x], vec![]);
        Ok(e.g.node("Expand", &[&d, &shape], vec![]))
    }

    fn burn_forward<B: Backend>(&self, _it: &mut Interpreter<'_, B>, at: &Site, x: Act<B>) -> Result<Act<B>> {
        let x = x.seq(at)?;
        let [n, c, _] = x.dims();
        let y = match (self.function, self.across_channels) {
            (PoolFn::Mean, false) => x.mean_dim(2).reshape([n, c]),
            (PoolFn::Sum, false) => x.sum_dim(2).reshape([n, c]),
            (PoolFn::Mean, true) => x.mean_dim(2).mean_dim(1).reshape([n, 1]),
            (PoolFn::Sum, true) => x.sum_dim(2).sum_dim(1).reshape([n, 1]),
        };
        Ok(Act::Flat(y))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::ops::testing::{analyze, error};
    use crate::model::ops::{Flatten, Layer};

    #[test]
    fn pools_to_features() {
        let p = |across_channels| Layer::GlobalPool(GlobalPool { function: PoolFn::Mean, across_channels });
        let a = analyze(10, vec![p(false)]).unwrap();
        assert_eq!(a.io["trunk.0"].1, Shape::Flat { f: 4 });
        let a = analyze(10, vec![p(true)]).unwrap();
        assert_eq!(a.io["trunk.0"].1, Shape::Flat { f: 1 });
        let e = error(10, vec![Layer::Flatten(Flatten {}), p(false)]);
        assert!(e.contains("trunk.1 (global_pool): needs a (length, channels) input"), "{e}");
    }
}
