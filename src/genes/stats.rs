//! Column statistics of gene × track matrices: log1p, z-scores and Pearson correlations, in f64.
//!
//! Conventions (FT_S2A's): natural `log(x + 1)`; z-scores with the population standard deviation
//! (ddof = 0), a column without variance becomes all zeros (scale 1, as scikit-learn's
//! `StandardScaler`); a Pearson correlation with a constant side is NaN (undefined), never 0.

use ndarray::{Array1, Array2, ArrayView1, ArrayView2, Axis};

use crate::error::{Error, Result};

/// `ln(x + 1)` of every value; a value ≤ −1 (where it is undefined) is an error naming `what`
/// and its row and column.
pub fn log1p(m: &Array2<f64>, what: &str, rows: &[String], cols: &[String]) -> Result<Array2<f64>> {
    if let Some(((r, c), v)) = m.indexed_iter().find(|(_, v)| **v <= -1.0) {
        return Err(Error::InvalidArgument(format!(
            "{what}: log(x + 1) is undefined for {v} (row {}, column {})",
            rows.get(r).map(String::as_str).unwrap_or("?"),
            cols.get(c).map(String::as_str).unwrap_or("?")
        )));
    }
    Ok(m.mapv(f64::ln_1p))
}

/// Mean and population standard deviation of each column. A constant column (variance within
/// rounding of zero: `var ≤ n·ε·var + (n·|mean|·ε)²`, scikit-learn's test) gets deviation 1.
pub fn column_scale(m: ArrayView2<f64>) -> (Array1<f64>, Array1<f64>) {
    let n = m.nrows().max(1) as f64;
    let mean = m.sum_axis(Axis(0)) / n;
    let eps = f64::EPSILON;
    let sd = Array1::from_iter(m.columns().into_iter().zip(&mean).map(|(c, mu)| {
        let var = c.iter().map(|v| (v - mu).powi(2)).sum::<f64>() / n;
        let bound = n * eps * var + (n * mu.abs() * eps).powi(2);
        if var > bound {
            var.sqrt()
        } else {
            1.0
        }
    }));
    (mean, sd)
}

/// `(m − mean) / sd` column by column.
pub fn standardise(m: ArrayView2<f64>, mean: &Array1<f64>, sd: &Array1<f64>) -> Array2<f64> {
    (&m - mean) / sd
}

/// Z-scores each column with its own mean and deviation.
pub fn zscore_columns(m: ArrayView2<f64>) -> Array2<f64> {
    let (mean, sd) = column_scale(m);
    standardise(m, &mean, &sd)
}

/// Pearson correlation of two equally long vectors (NaN when either is constant or shorter than 2).
pub fn pearson(a: ArrayView1<f64>, b: ArrayView1<f64>) -> f64 {
    let n = a.len();
    if n < 2 || b.len() != n {
        return f64::NAN;
    }
    let (ma, mb) = (a.sum() / n as f64, b.sum() / n as f64);
    let (mut sab, mut saa, mut sbb) = (0.0, 0.0, 0.0);
    for (x, y) in a.iter().zip(b.iter()) {
        let (dx, dy) = (x - ma, y - mb);
        sab += dx * dy;
        saa += dx * dx;
        sbb += dy * dy;
    }
    // A side whose spread is rounding error around its mean is constant: r is undefined.
    let tiny = |ss: f64, m: f64| ss <= (n as f64) * (4.0 * f64::EPSILON * m.abs().max(f64::MIN_POSITIVE)).powi(2);
    if saa <= 0.0 || sbb <= 0.0 || tiny(saa, ma) || tiny(sbb, mb) {
        return f64::NAN;
    }
    sab / (saa.sqrt() * sbb.sqrt())
}

/// Per column: Pearson of `a`'s and `b`'s column across rows ("across genes").
pub fn pearson_columns(a: ArrayView2<f64>, b: ArrayView2<f64>) -> Vec<f64> {
    a.columns().into_iter().zip(b.columns()).map(|(x, y)| pearson(x, y)).collect()
}

/// Per row: Pearson of `a`'s and `b`'s row across columns ("across experiments").
pub fn pearson_rows(a: ArrayView2<f64>, b: ArrayView2<f64>) -> Vec<f64> {
    a.rows().into_iter().zip(b.rows()).map(|(x, y)| pearson(x, y)).collect()
}

/// Mean of the finite values (NaN when there are none).
pub fn finite_mean(v: &[f64]) -> f64 {
    let f: Vec<f64> = v.iter().copied().filter(|x| x.is_finite()).collect();
    if f.is_empty() {
        f64::NAN
    } else {
        f.iter().sum::<f64>() / f.len() as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    #[test]
    fn pearson_of_known_vectors() {
        let a = array![1.0, 2.0, 3.0, 4.0];
        let b = array![2.0, 4.1, 5.9, 8.0];
        let r = pearson(a.view(), b.view());
        // numpy.corrcoef([1,2,3,4],[2,4.1,5.9,8])[0,1]
        assert!((r - 0.999_541_179_145_381_3).abs() < 1e-12, "{r}");
        assert!(pearson(a.view(), array![1.0, 1.0, 1.0, 1.0].view()).is_nan());
        // ln(1 + 0.3) repeated: equal values whose mean differs from them by rounding.
        let c = ndarray::Array1::from_elem(7, 0.3f64.ln_1p());
        assert!(pearson(a.slice(ndarray::s![..]).to_owned().view(), a.view()) > 0.99);
        assert!(pearson(ndarray::Array1::linspace(0.0, 1.0, 7).view(), c.view()).is_nan());
    }

    #[test]
    fn zscores_use_the_population_deviation_and_zero_constant_columns() {
        let m = array![[1.0, 5.0], [3.0, 5.0]];
        let z = zscore_columns(m.view());
        assert_eq!(z, array![[-1.0, 0.0], [1.0, 0.0]]);
    }

    #[test]
    fn log1p_refuses_values_at_or_below_minus_one() {
        let m = array![[0.0, -1.0]];
        let e = log1p(&m, "targets", &["g1".into()], &["a".into(), "b".into()]).unwrap_err().to_string();
        assert!(e.contains("g1") && e.contains("column b"), "{e}");
    }
}
