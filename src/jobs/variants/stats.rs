//! Variant effect statistics (basenji's SAD family) from reference and alternate predictions.
//!
//! Inputs are `(bins, tracks)` predictions over the selected bins, after test-time
//! augmentation; every statistic is per track. With Δ = alt − ref:
//! - `SAD` Σalt − Σref; `logSAD` Σlog2(alt+1) − Σlog2(ref+1); `sqrtSAD` Σ√alt − Σ√ref;
//! - `SAX` Δ at the bin of the largest |Δ| (the first such bin);
//! - `D1` Σ|Δ|; `D2` √ΣΔ²; `logD2` √Σ(log2(alt+1) − log2(ref+1))²;
//! - `JS` basenji's "Jensen–Shannon" (the symmetrised KL divergence of the two profiles): a
//!   pseudocount, the 25th percentile (numpy's linear interpolation) of ref over bins, is added to
//!   both, each is normalised to sum 1 over bins, and JS = (KL(ref‖alt) + KL(alt‖ref)) / 2;
//! - `SAR` Σ[log2(alt+p) − log2(ref+p)] and `SADR` log2(Σalt+p) − log2(Σref+p) (basenji 0.5.1,
//!   pseudocount `p`);
//! - `REF` Σref and `ALT` Σalt;
//! - `JSD` for profile logits (BPNet/ChromBPNet heads): the Jensen–Shannon distance of the
//!   softmax profiles over bins, √(½KL(p‖m) + ½KL(q‖m)) with m = (p + q)/2 and natural logs
//!   (scipy's `jensenshannon`, what ChromBPNet's variant scorer reports), per track (each strand
//!   on its own). On a count head of log counts, `SAD` is the log fold change ln(alt/ref).
//!
//! Sums run in float64; values are returned as float64. Negative predictions under `log2`/`√`
//! give NaN, as numpy does.

use ndarray::ArrayView2;

use crate::error::{Error, Result};

/// One statistic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stat {
    /// Σalt − Σref.
    Sad,
    /// Σlog2(alt+1) − Σlog2(ref+1).
    LogSad,
    /// Σ√alt − Σ√ref.
    SqrtSad,
    /// Δ at argmax |Δ|.
    Sax,
    /// Σ|Δ|.
    D1,
    /// √ΣΔ².
    D2,
    /// √Σ(log2(alt+1) − log2(ref+1))².
    LogD2,
    /// Symmetrised KL of normalised profiles.
    Js,
    /// Σ[log2(alt+p) − log2(ref+p)].
    Sar,
    /// log2(Σalt+p) − log2(Σref+p).
    Sadr,
    /// Σref.
    Ref,
    /// Σalt.
    Alt,
    /// Jensen–Shannon distance of softmax(logits) profiles.
    Jsd,
}

/// Every statistic with its name, in the order of the docs.
pub const ALL: [(Stat, &str); 13] = [
    (Stat::Sad, "SAD"),
    (Stat::LogSad, "logSAD"),
    (Stat::SqrtSad, "sqrtSAD"),
    (Stat::Sax, "SAX"),
    (Stat::D1, "D1"),
    (Stat::D2, "D2"),
    (Stat::LogD2, "logD2"),
    (Stat::Js, "JS"),
    (Stat::Sar, "SAR"),
    (Stat::Sadr, "SADR"),
    (Stat::Ref, "REF"),
    (Stat::Alt, "ALT"),
    (Stat::Jsd, "JSD"),
];

impl Stat {
    /// Parses a name (case-sensitive, as basenji writes them).
    pub fn parse(name: &str) -> Result<Self> {
        ALL.iter().find(|(_, n)| *n == name).map(|(s, _)| *s).ok_or_else(|| {
            Error::InvalidArgument(format!(
                "unknown statistic {name:?}; choose from {}",
                ALL.iter().map(|(_, n)| *n).collect::<Vec<_>>().join(", ")
            ))
        })
    }

    /// The statistic's name.
    pub fn name(self) -> &'static str {
        ALL.iter().find(|(s, _)| *s == self).map(|(_, n)| *n).unwrap_or("?")
    }

    /// The statistic for each track of `(bins, tracks)` predictions; `pseudo` is `p` of `SAR`
    /// and `SADR`.
    pub fn compute(self, reference: ArrayView2<f32>, alt: ArrayView2<f32>, pseudo: f64) -> Vec<f64> {
        let tracks = reference.ncols();
        (0..tracks)
            .map(|t| {
                let r: Vec<f64> = reference.column(t).iter().map(|&v| v as f64).collect();
                let a: Vec<f64> = alt.column(t).iter().map(|&v| v as f64).collect();
                self.one(&r, &a, pseudo)
            })
            .collect()
    }

    fn one(self, r: &[f64], a: &[f64], p: f64) -> f64 {
        let sum = |v: &[f64]| v.iter().sum::<f64>();
        let pairs = || r.iter().zip(a);
        match self {
            Stat::Sad => sum(a) - sum(r),
            Stat::LogSad => pairs().map(|(r, a)| (a + 1.0).log2() - (r + 1.0).log2()).sum(),
            Stat::SqrtSad => pairs().map(|(r, a)| a.sqrt() - r.sqrt()).sum(),
            Stat::Sax => pairs().map(|(r, a)| a - r).fold(0.0, |best, d| if d.abs() > best.abs() { d } else { best }),
            Stat::D1 => pairs().map(|(r, a)| (a - r).abs()).sum(),
            Stat::D2 => pairs().map(|(r, a)| (a - r).powi(2)).sum::<f64>().sqrt(),
            Stat::LogD2 => pairs().map(|(r, a)| ((a + 1.0).log2() - (r + 1.0).log2()).powi(2)).sum::<f64>().sqrt(),
            Stat::Js => js(r, a),
            Stat::Sar => pairs().map(|(r, a)| (a + p).log2() - (r + p).log2()).sum(),
            Stat::Sadr => (sum(a) + p).log2() - (sum(r) + p).log2(),
            Stat::Ref => sum(r),
            Stat::Alt => sum(a),
            Stat::Jsd => jsd_logits(r, a),
        }
    }
}

/// basenji's JS of two profiles (see the module docs).
fn js(r: &[f64], a: &[f64]) -> f64 {
    let pc = percentile(r, 25.0);
    let norm = |v: &[f64]| -> Vec<f64> {
        let s: f64 = v.iter().map(|x| x + pc).sum();
        v.iter().map(|x| (x + pc) / s).collect()
    };
    let (rn, an) = (norm(r), norm(a));
    let kl = |x: &[f64], y: &[f64]| -> f64 { x.iter().zip(y).map(|(&x, &y)| rel_entr(x, y)).sum() };
    (kl(&rn, &an) + kl(&an, &rn)) / 2.0
}

/// The Jensen–Shannon distance of softmax(`r`) and softmax(`a`) (see the module docs).
fn jsd_logits(r: &[f64], a: &[f64]) -> f64 {
    let softmax = |v: &[f64]| -> Vec<f64> {
        let m = v.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let e: Vec<f64> = v.iter().map(|x| (x - m).exp()).collect();
        let s: f64 = e.iter().sum();
        e.into_iter().map(|x| x / s).collect()
    };
    let (p, q) = (softmax(r), softmax(a));
    let m: Vec<f64> = p.iter().zip(&q).map(|(x, y)| 0.5 * (x + y)).collect();
    let kl = |x: &[f64]| -> f64 { x.iter().zip(&m).map(|(&x, &y)| rel_entr(x, y)).sum() };
    (0.5 * kl(&p) + 0.5 * kl(&q)).max(0.0).sqrt()
}

/// scipy's `rel_entr`: x·ln(x/y) for x > 0, y > 0; 0 for x = 0, y ≥ 0; +∞ otherwise.
fn rel_entr(x: f64, y: f64) -> f64 {
    if x.is_nan() || y.is_nan() {
        f64::NAN
    } else if x > 0.0 && y > 0.0 {
        x * (x / y).ln()
    } else if x == 0.0 && y >= 0.0 {
        0.0
    } else {
        f64::INFINITY
    }
}

/// numpy's default (linear) percentile `q` (0–100) of `v`.
fn percentile(v: &[f64], q: f64) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    let mut s = v.to_vec();
    s.sort_by(|a, b| a.total_cmp(b));
    let h = (s.len() - 1) as f64 * q / 100.0;
    let (lo, hi) = (h.floor() as usize, h.ceil() as usize);
    s[lo] + (h - lo as f64) * (s[hi] - s[lo])
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    #[test]
    fn stats_follow_their_formulas() {
        let r = array![[1.0f32, 0.0], [3.0, 2.0]];
        let a = array![[2.0f32, 0.0], [1.0, 5.0]];
        let get = |s: Stat| s.compute(r.view(), a.view(), 1.0);
        assert_eq!(get(Stat::Sad), vec![-1.0, 3.0]);
        assert_eq!(get(Stat::Sax), vec![-2.0, 3.0]);
        assert_eq!(get(Stat::D1), vec![3.0, 3.0]);
        assert!((get(Stat::D2)[0] - 5f64.sqrt()).abs() < 1e-12);
        assert!((get(Stat::LogSad)[0] - ((3f64.log2() + 1.0) - (1.0 + 2.0))).abs() < 1e-12);
        assert!((get(Stat::Sadr)[1] - (6f64.log2() - 3f64.log2())).abs() < 1e-12);
        assert_eq!(get(Stat::Ref), vec![4.0, 2.0]);
        assert_eq!(get(Stat::Alt), vec![3.0, 5.0]);
        assert_eq!(Stat::Js.compute(r.view(), r.view(), 1.0), vec![0.0, 0.0]);
        // softmax([0, ln 3]) = (¼, ¾) against (¾, ¼): √(¼ ln ½ + ¾ ln 1.5) = 0.361678…
        let (lr, la) = (array![[0.0f32], [3f32.ln()]], array![[3f32.ln()], [0.0f32]]);
        let d = Stat::Jsd.compute(lr.view(), la.view(), 1.0)[0];
        assert!((d - (0.25 * 0.5f64.ln() + 0.75 * 1.5f64.ln()).sqrt()).abs() < 1e-6, "{d}");
        assert_eq!(Stat::Jsd.compute(lr.view(), lr.view(), 1.0), vec![0.0]);
        assert!(get(Stat::Js).iter().all(|v| *v > 0.0));
        assert_eq!(percentile(&[4.0, 1.0, 3.0, 2.0], 25.0), 1.75);
        assert!(Stat::parse("sad").is_err());
        assert_eq!(Stat::parse("logD2").unwrap().name(), "logD2");
    }
}
