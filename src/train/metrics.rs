//! Pearson correlations of predictions and targets, per series, per track and per data point,
//! for validation and the training reports. NaN where a series has fewer than two values or no
//! variance.

/// Pearson r of two equally long series (NaN without variance).
pub fn pearson(a: impl Iterator<Item = f64> + Clone, b: impl Iterator<Item = f64> + Clone) -> f64 {
    let (mut n, mut sa, mut sb) = (0.0, 0.0, 0.0);
    for (x, y) in a.clone().zip(b.clone()) {
        n += 1.0;
        sa += x;
        sb += y;
    }
    if n < 2.0 {
        return f64::NAN;
    }
    let (ma, mb) = (sa / n, sb / n);
    let (mut cov, mut va, mut vb) = (0.0, 0.0, 0.0);
    for (x, y) in a.zip(b) {
        cov += (x - ma) * (y - mb);
        va += (x - ma) * (x - ma);
        vb += (y - mb) * (y - mb);
    }
    if va == 0.0 || vb == 0.0 {
        return f64::NAN;
    }
    cov / (va * vb).sqrt()
}

/// Per-track r over data points × bins; `shape` = (N, bins, tracks).
pub fn per_track_pearson(pred: &[f32], target: &[f32], shape: [usize; 3]) -> Vec<f64> {
    let t = shape[2];
    (0..t)
        .map(|k| {
            let a = pred.iter().skip(k).step_by(t).map(|&v| v as f64);
            let b = target.iter().skip(k).step_by(t).map(|&v| v as f64);
            pearson(a, b)
        })
        .collect()
}

/// Per-data-point r over bins × tracks; `shape` = (N, bins, tracks).
pub fn per_point_pearson(pred: &[f32], target: &[f32], shape: [usize; 3]) -> Vec<f64> {
    let w = shape[1] * shape[2];
    (0..shape[0])
        .map(|i| {
            let a = pred[i * w..(i + 1) * w].iter().map(|&v| v as f64);
            let b = target[i * w..(i + 1) * w].iter().map(|&v| v as f64);
            pearson(a, b)
        })
        .collect()
}
