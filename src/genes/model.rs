//! A fitted ridge read-out (`ridge.json`): everything `s2f ridge predict` needs to turn a
//! features table into predicted targets, in the features' original scale.
//!
//! Prediction of target `t` for a gene with features `x`: `intercept[t] + Σ_j coef[t][j]·f(x_j)`
//! where `f` is `ln(1 + x)` when `log1p_features`, else the identity. Predictions are in the
//! targets' fitted scale (`ln(1 + y)` when `log1p_targets`).

use std::path::Path;

use ndarray::{Array1, Array2};
use serde::{Deserialize, Serialize};

use std::io::Write;

use crate::error::{Error, Result};

/// Format tag of `ridge.json`.
pub const FORMAT: &str = "s2f-ridge";

/// A fitted read-out.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RidgeModel {
    /// Always [`FORMAT`].
    pub format: String,
    /// Format version (1).
    pub version: u32,
    /// Id column of the tables.
    pub id: String,
    /// Feature columns, in coefficient order.
    pub features: Vec<String>,
    /// Target names.
    pub targets: Vec<String>,
    /// Features were log1p-transformed before z-scoring.
    pub log1p_features: bool,
    /// Targets were log1p-transformed (predictions are in that scale).
    pub log1p_targets: bool,
    /// Training mean of each (transformed) feature.
    pub feature_mean: Vec<f64>,
    /// Training standard deviation of each (transformed) feature (ddof 0; 1 for constants).
    pub feature_sd: Vec<f64>,
    /// Chosen penalty per target (on the z-scored features).
    pub alpha: Vec<f64>,
    /// Coefficients per target on the transformed, unscaled features: `[target][feature]`.
    pub coef: Vec<Vec<f64>>,
    /// Intercept per target on the transformed, unscaled features.
    pub intercept: Vec<f64>,
    /// Number of training genes.
    pub n_train: usize,
}

impl RidgeModel {
    /// Checks the internal shapes.
    pub fn check(&self, path: &Path) -> Result<()> {
        let (p, t) = (self.features.len(), self.targets.len());
        let bad = |m: String| Err(Error::malformed(path, "ridge.json", m));
        if self.format != FORMAT {
            return bad(format!("format {:?} is not {FORMAT:?}", self.format));
        }
        if self.feature_mean.len() != p || self.feature_sd.len() != p {
            return bad("feature_mean/feature_sd do not match the features".into());
        }
        if self.alpha.len() != t || self.intercept.len() != t || self.coef.len() != t {
            return bad("alpha/intercept/coef do not match the targets".into());
        }
        if let Some(i) = self.coef.iter().position(|c| c.len() != p) {
            return bad(format!("coef of target {} has the wrong length", self.targets[i]));
        }
        Ok(())
    }

    /// Reads and checks `ridge.json`.
    pub fn read(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        let m: RidgeModel =
            serde_json::from_str(&text).map_err(|e| Error::malformed(path, "ridge.json", e.to_string()))?;
        m.check(path)?;
        Ok(m)
    }

    /// Writes `ridge.json` atomically.
    pub fn write(&self, path: &Path) -> Result<()> {
        let text = serde_json::to_string_pretty(self)
            .map_err(|e| Error::InvalidArgument(format!("serialising the ridge model: {e}")))?;
        crate::io::atomic::write_atomic(path, |w| w.write_all(text.as_bytes()))
    }

    /// Predictions (genes × targets) from raw features (genes × features, in `features` order).
    pub fn predict(&self, x: &Array2<f64>, gene_ids: &[String], path: &Path) -> Result<Array2<f64>> {
        let x = if self.log1p_features {
            crate::genes::stats::log1p(x, &path.display().to_string(), gene_ids, &self.features)?
        } else {
            x.clone()
        };
        let (p, t) = (self.features.len(), self.targets.len());
        let w = Array2::from_shape_fn((p, t), |(j, k)| self.coef[k][j]);
        Ok(x.dot(&w) + &Array1::from(self.intercept.clone()))
    }
}
