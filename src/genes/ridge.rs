//! Ridge regression with an intercept, for many targets and many penalties at once.
//!
//! Every quantity is computed from the Gram matrices of the rows: one symmetric
//! eigendecomposition of the centred training Gram matrix `Xcᵀ Xc = V Λ Vᵀ` (the SVD of the
//! centred training matrix: `Λ` are its squared singular values) gives the coefficients of every
//! penalty `α` and every target in closed form, `W(α) = V diag(1/(λ + α)) Vᵀ Xcᵀ Yc`, and the
//! intercept `ȳ − x̄ᵀ W(α)`. This is scikit-learn's `Ridge(alpha, fit_intercept=True)` objective
//! `‖y − Xw − b‖² + α‖w‖²`, solved for all columns of `Y` together.
//!
//! Cross-validation ([`cross_validate`]) works on per-fold sums: each fold's Gram matrix is
//! computed once, the training Gram of a split is the total minus the held-out fold, and the
//! held-out squared error of every (α, target) comes from the held-out fold's Gram matrix, so no
//! prediction matrix is ever formed. Shapes: `x` is genes × features, `y` genes × targets, rows
//! paired.

use nalgebra::{DMatrix, SymmetricEigen};
use ndarray::{Array1, Array2, ArrayView2, Axis};

use crate::error::{Error, Result};

/// Sums over a set of rows: count, column sums of X and Y, XᵀX, XᵀY and the squared sums of Y.
#[derive(Debug, Clone)]
pub struct Moments {
    n: f64,
    sx: Array1<f64>,
    sy: Array1<f64>,
    xx: Array2<f64>,
    xy: Array2<f64>,
    yy: Array1<f64>,
}

impl Moments {
    /// The moments of paired rows `x` (n × p) and `y` (n × t).
    pub fn of(x: ArrayView2<f64>, y: ArrayView2<f64>) -> Self {
        Moments {
            n: x.nrows() as f64,
            sx: x.sum_axis(Axis(0)),
            sy: y.sum_axis(Axis(0)),
            xx: x.t().dot(&x),
            xy: x.t().dot(&y),
            yy: y.map(|v| v * v).sum_axis(Axis(0)),
        }
    }

    /// The moments of the union of two disjoint row sets.
    pub fn plus(&self, o: &Moments) -> Moments {
        Moments {
            n: self.n + o.n,
            sx: &self.sx + &o.sx,
            sy: &self.sy + &o.sy,
            xx: &self.xx + &o.xx,
            xy: &self.xy + &o.xy,
            yy: &self.yy + &o.yy,
        }
    }

    /// The moments of this row set less a disjoint subset `o`.
    pub fn minus(&self, o: &Moments) -> Moments {
        Moments {
            n: self.n - o.n,
            sx: &self.sx - &o.sx,
            sy: &self.sy - &o.sy,
            xx: &self.xx - &o.xx,
            xy: &self.xy - &o.xy,
            yy: &self.yy - &o.yy,
        }
    }

    /// Number of rows.
    pub fn rows(&self) -> usize {
        self.n as usize
    }
}

/// The eigendecomposition of one training set, ready to give coefficients for any penalty.
#[derive(Debug, Clone)]
pub struct Solver {
    /// Eigenvectors of the centred Gram matrix (p × p, columns).
    v: Array2<f64>,
    /// Its eigenvalues (clamped at 0).
    lambda: Array1<f64>,
    /// `Vᵀ Xcᵀ Yc` (p × t).
    b: Array2<f64>,
    x_mean: Array1<f64>,
    y_mean: Array1<f64>,
}

/// Coefficients (p × t) and intercepts (t) of one penalty.
#[derive(Debug, Clone, PartialEq)]
pub struct Fit {
    /// Feature weights, features × targets.
    pub coef: Array2<f64>,
    /// Intercept per target.
    pub intercept: Array1<f64>,
}

impl Solver {
    /// Decomposes the training set summarised by `m` (at least 2 rows).
    pub fn new(m: &Moments) -> Result<Self> {
        if m.n < 2.0 {
            return Err(Error::InvalidArgument(format!("ridge needs at least 2 training rows, got {}", m.rows())));
        }
        let p = m.sx.len();
        let x_mean = &m.sx / m.n;
        let y_mean = &m.sy / m.n;
        // Centred Gram: XᵀX − n x̄ x̄ᵀ; centred cross products: XᵀY − n x̄ ȳᵀ.
        let outer =
            |a: &Array1<f64>, b: &Array1<f64>| a.view().insert_axis(Axis(1)).dot(&b.view().insert_axis(Axis(0)));
        let g = &m.xx - &(outer(&x_mean, &x_mean) * m.n);
        let xy = &m.xy - &(outer(&x_mean, &y_mean) * m.n);
        let gm = DMatrix::from_fn(p, p, |i, j| 0.5 * (g[(i, j)] + g[(j, i)]));
        let eig = SymmetricEigen::new(gm);
        let v = Array2::from_shape_fn((p, p), |(i, j)| eig.eigenvectors[(i, j)]);
        let lambda = Array1::from_iter(eig.eigenvalues.iter().map(|&l| l.max(0.0)));
        let b = v.t().dot(&xy);
        Ok(Solver { v, lambda, b, x_mean, y_mean })
    }

    /// Coefficients and intercepts for penalty `alpha` (> 0), every target.
    pub fn fit(&self, alpha: f64) -> Fit {
        let scaled = self.scaled_b(alpha);
        let coef = self.v.dot(&scaled);
        let intercept = &self.y_mean - &self.x_mean.dot(&coef);
        Fit { coef, intercept }
    }

    /// `diag(1/(λ + α)) B`.
    fn scaled_b(&self, alpha: f64) -> Array2<f64> {
        let mut s = self.b.clone();
        for (mut row, &l) in s.outer_iter_mut().zip(&self.lambda) {
            row /= l + alpha;
        }
        s
    }

    /// Sum of squared errors per target of `fit` on the rows summarised by `m`:
    /// `Σ (y − b − xᵀw)² = Σy² − 2 Σy·(b + xᵀw) + Σ (b + xᵀw)²`, expanded in the moments.
    pub fn squared_error(fit: &Fit, m: &Moments) -> Array1<f64> {
        let t = fit.intercept.len();
        let gw = m.xx.dot(&fit.coef); // p × t
        Array1::from_shape_fn(t, |j| {
            let w = fit.coef.column(j);
            let b = fit.intercept[j];
            let sxw = m.sx.dot(&w);
            let pred_sq = w.dot(&gw.column(j)) + 2.0 * b * sxw + m.n * b * b;
            let cross = m.xy.column(j).dot(&w) + b * m.sy[j];
            (m.yy[j] - 2.0 * cross + pred_sq).max(0.0)
        })
    }
}

/// Mean held-out squared error of every penalty and target over the folds: `scores[(a, t)]` is the
/// unweighted mean over folds of each fold's mean squared error (scikit-learn's `GridSearchCV`
/// `mean_test_score`, negated). `folds` are the per-fold moments of a partition of the training
/// rows; each needs at least one row, and the rest of the training set at least two.
pub fn cross_validate(folds: &[Moments], alphas: &[f64]) -> Result<Array2<f64>> {
    if folds.len() < 2 {
        return Err(Error::InvalidArgument(format!("cross-validation needs at least 2 folds, got {}", folds.len())));
    }
    let total = folds.iter().skip(1).fold(folds[0].clone(), |acc, f| acc.plus(f));
    let t = total.sy.len();
    let mut scores = Array2::<f64>::zeros((alphas.len(), t));
    for (k, held) in folds.iter().enumerate() {
        if held.n < 1.0 {
            return Err(Error::InvalidArgument(format!("cross-validation fold {k} holds no genes")));
        }
        let rest = total.minus(held);
        if rest.n < 2.0 {
            return Err(Error::InvalidArgument(format!(
                "cross-validation fold {k} leaves {} training gene(s); at least 2 are needed",
                rest.rows()
            )));
        }
        let solver = Solver::new(&rest)?;
        for (a, &alpha) in alphas.iter().enumerate() {
            let sse = Solver::squared_error(&solver.fit(alpha), held);
            let mut row = scores.row_mut(a);
            row += &(sse / held.n);
        }
    }
    scores /= folds.len() as f64;
    Ok(scores)
}

/// Index of the best (smallest) score of each target; ties go to the earlier penalty.
pub fn best_alphas(scores: &Array2<f64>) -> Vec<usize> {
    scores
        .columns()
        .into_iter()
        .map(|c| c.iter().enumerate().fold((0, f64::INFINITY), |b, (i, &v)| if v < b.1 { (i, v) } else { b }).0)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    /// Direct solution of the normal equations for one target by Gaussian elimination.
    fn direct(x: &Array2<f64>, y: &Array1<f64>, alpha: f64) -> (Array1<f64>, f64) {
        let xm = x.mean_axis(Axis(0)).unwrap();
        let ym = y.mean().unwrap();
        let xc = x - &xm;
        let yc = y - ym;
        let p = x.ncols();
        let mut a = xc.t().dot(&xc) + Array2::<f64>::eye(p) * alpha;
        let mut b = xc.t().dot(&yc);
        for i in 0..p {
            for r in i + 1..p {
                let f = a[(r, i)] / a[(i, i)];
                for c in 0..p {
                    a[(r, c)] -= f * a[(i, c)];
                }
                b[r] -= f * b[i];
            }
        }
        let mut w = Array1::zeros(p);
        for i in (0..p).rev() {
            let s: f64 = (i + 1..p).map(|c| a[(i, c)] * w[c]).sum();
            w[i] = (b[i] - s) / a[(i, i)];
        }
        let b0 = ym - xm.dot(&w);
        (w, b0)
    }

    fn data() -> (Array2<f64>, Array2<f64>) {
        let x = array![
            [1.0, 2.0, 0.5],
            [0.3, -1.0, 2.0],
            [2.2, 0.1, -0.7],
            [-1.5, 0.4, 0.9],
            [0.0, 1.1, 1.3],
            [1.7, -0.6, 0.2],
            [-0.4, -1.8, -1.1]
        ];
        let y = array![[1.0, 0.2], [0.5, -1.0], [2.0, 0.7], [-1.0, 0.1], [0.3, 0.9], [1.1, -0.4], [-0.8, -1.3]];
        (x, y)
    }

    #[test]
    fn closed_form_matches_the_normal_equations() {
        let (x, y) = data();
        let solver = Solver::new(&Moments::of(x.view(), y.view())).unwrap();
        for alpha in [1e-3, 0.5, 10.0] {
            let fit = solver.fit(alpha);
            for j in 0..2 {
                let (w, b) = direct(&x, &y.column(j).to_owned(), alpha);
                for i in 0..3 {
                    assert!((fit.coef[(i, j)] - w[i]).abs() < 1e-10, "{alpha} {i} {j}");
                }
                assert!((fit.intercept[j] - b).abs() < 1e-10);
            }
        }
    }

    #[test]
    fn squared_error_from_moments_equals_the_residuals() {
        let (x, y) = data();
        let solver = Solver::new(&Moments::of(x.slice(ndarray::s![..5, ..]), y.slice(ndarray::s![..5, ..]))).unwrap();
        let fit = solver.fit(0.7);
        let (xv, yv) = (x.slice(ndarray::s![5.., ..]), y.slice(ndarray::s![5.., ..]));
        let pred = xv.dot(&fit.coef) + &fit.intercept;
        let direct = (&yv - &pred).map(|v| v * v).sum_axis(Axis(0));
        let sse = Solver::squared_error(&fit, &Moments::of(xv, yv));
        for j in 0..2 {
            assert!((sse[j] - direct[j]).abs() < 1e-10);
        }
    }

    #[test]
    fn cross_validation_averages_fold_errors_and_picks_the_minimum() {
        let (x, y) = data();
        let parts = [0..3, 3..5, 5..7];
        let folds: Vec<Moments> = parts
            .iter()
            .map(|r| Moments::of(x.slice(ndarray::s![r.clone(), ..]), y.slice(ndarray::s![r.clone(), ..])))
            .collect();
        let alphas = [0.01, 1.0, 100.0];
        let scores = cross_validate(&folds, &alphas).unwrap();
        // Alpha 1: refit without each fold directly and average the folds' mean squared errors.
        let mut expect = [0.0; 2];
        for r in parts.iter() {
            let keep: Vec<usize> = (0..7).filter(|i| !r.contains(i)).collect();
            let (xt, yt) = (x.select(Axis(0), &keep), y.select(Axis(0), &keep));
            for (j, e) in expect.iter_mut().enumerate() {
                let (w, b) = direct(&xt, &yt.column(j).to_owned(), 1.0);
                let xv = x.slice(ndarray::s![r.clone(), ..]);
                let err: f64 =
                    xv.outer_iter().zip(r.clone()).map(|(row, i)| (y[(i, j)] - b - row.dot(&w)).powi(2)).sum();
                *e += err / r.len() as f64 / 3.0;
            }
        }
        for j in 0..2 {
            assert!((scores[(1, j)] - expect[j]).abs() < 1e-10);
        }
        let best = best_alphas(&scores);
        for (j, &b) in best.iter().enumerate() {
            assert!(scores.column(j).iter().all(|&s| s >= scores[(b, j)]));
        }
    }
}
