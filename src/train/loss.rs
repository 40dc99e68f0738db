//! Training losses on one head's `(N, bins, tracks)` predictions and targets.
//!
//! - `mse`: mean squared error over all values.
//! - `poisson`: Poisson negative log-likelihood with the prediction as the rate,
//!   mean(ŷ − y·log(ŷ + 1e-7)) (basenji's loss; the constant log y! is left out). The head must
//!   end in a positive activation (softplus, exp, sigmoid or relu); [`Loss::check_head`] says so.
//! - `corr-mse`: DRG's mix of correlation and error, w·(1 − r̄) + (1 − w)·MSE, where r̄ is the mean
//!   Pearson correlation of each data point's predictions with its targets over bins × tracks
//!   (across the batch per track when a head has a single value per sequence), and w the
//!   correlation weight (default 0.5).
//! - `multinomial`: multinomial negative log-likelihood of profile targets, the predictions being
//!   logits over the bins of each (sequence, track): −Σ_bins y·log softmax(ŷ), averaged over
//!   sequences × tracks (constant terms left out). Needs a head with more than one bin.
//! - `multinomial-joint`: as `multinomial` with one softmax over bins × tracks together (the
//!   strands of a BPNet profile share one distribution, as in bpnet-lite), averaged over
//!   sequences.

use burn::tensor::activation::log_softmax;
use burn::tensor::backend::Backend;
use burn::tensor::Tensor;

use crate::error::{Error, Result};
use crate::model::spec::Head;

/// A training loss.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Loss {
    /// Mean squared error.
    Mse,
    /// Poisson NLL (rate parametrisation).
    Poisson,
    /// Correlation + MSE mix with the correlation's weight in [0, 1].
    CorrMse(f32),
    /// Multinomial NLL over bins.
    Multinomial,
    /// Multinomial NLL over bins × tracks together.
    MultinomialJoint,
}

impl Loss {
    /// Parses `mse`, `poisson`, `corr-mse` or `multinomial`; `corr_weight` is used by `corr-mse`.
    pub fn parse(name: &str, corr_weight: f32) -> Result<Self> {
        match name {
            "mse" => Ok(Loss::Mse),
            "poisson" => Ok(Loss::Poisson),
            "corr-mse" if (0.0..=1.0).contains(&corr_weight) => Ok(Loss::CorrMse(corr_weight)),
            "corr-mse" => Err(Error::InvalidArgument(format!("correlation weight {corr_weight} is not in [0, 1]"))),
            "multinomial" => Ok(Loss::Multinomial),
            "multinomial-joint" => Ok(Loss::MultinomialJoint),
            other => Err(Error::InvalidArgument(format!(
                "unknown loss {other:?} (mse, poisson, corr-mse, multinomial, multinomial-joint)"
            ))),
        }
    }

    /// Checks that `head` (with `bins` output bins) can be trained with this loss.
    pub fn check_head(&self, head: &Head, bins: u64) -> Result<()> {
        match self {
            Loss::Poisson if !super::net::head_is_positive(&head.layers) => Err(Error::InvalidArgument(format!(
                "the Poisson loss needs positive outputs, but head {:?} does not end in softplus, exp, sigmoid or \
                 relu (add one, or use --loss mse)",
                head.name
            ))),
            Loss::Multinomial | Loss::MultinomialJoint if bins < 2 => Err(Error::InvalidArgument(format!(
                "the multinomial loss is for profile outputs, but head {:?} has one value per sequence",
                head.name
            ))),
            _ => Ok(()),
        }
    }

    /// The loss (a one-element tensor) of predictions `pred` against `target`, both `(N, bins, tracks)`.
    pub fn compute<B: Backend>(&self, pred: Tensor<B, 3>, target: Tensor<B, 3>) -> Tensor<B, 1> {
        match self {
            Loss::Mse => (pred - target).square().mean(),
            Loss::Poisson => (pred.clone() - target * (pred + 1e-7).log()).mean(),
            Loss::CorrMse(w) => {
                let mse = (pred.clone() - target.clone()).square().mean();
                let [n, bins, tracks] = pred.dims();
                let r = if bins * tracks > 1 {
                    // One correlation per data point over bins × tracks.
                    pearson_rows(pred.reshape([n, bins * tracks]), target.reshape([n, bins * tracks]))
                } else {
                    pearson_rows(pred.reshape([1, n]), target.reshape([1, n]))
                };
                (r.neg() + 1.0).mean() * (*w as f64) + mse * (1.0 - *w as f64)
            }
            Loss::Multinomial => {
                let [n, _, tracks] = pred.dims();
                let logp = log_softmax(pred, 1);
                (target * logp).sum().neg() / (n * tracks) as f64
            }
            Loss::MultinomialJoint => {
                let [n, bins, tracks] = pred.dims();
                let logp = log_softmax(pred.reshape([n, bins * tracks]), 1);
                (target.reshape([n, bins * tracks]) * logp).sum().neg() / n as f64
            }
        }
    }
}

/// Pearson correlation of each row of `a` with the same row of `b`: `(R, K)` → `(R,)`; a row
/// without variance gives 0.
pub fn pearson_rows<B: Backend>(a: Tensor<B, 2>, b: Tensor<B, 2>) -> Tensor<B, 1> {
    let ac = a.clone() - a.mean_dim(1);
    let bc = b.clone() - b.mean_dim(1);
    let cov = (ac.clone() * bc.clone()).sum_dim(1);
    let norm = (ac.square().sum_dim(1) * bc.square().sum_dim(1)).sqrt() + 1e-12;
    let r: Tensor<B, 2> = cov / norm;
    r.flatten(0, 1)
}
