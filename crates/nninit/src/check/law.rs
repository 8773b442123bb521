//! The distribution an elementwise random init draws from: its CDF, density, moments and support.
//!
//! `uniform_(a, b)` is U(a, b); `normal_(mean, std)` is N(mean, std²); `trunc_normal_(mean, std,
//! a, b)` is N(mean, std²) conditioned on [a, b] (PyTorch's `trunc_normal_`, which does not
//! correct the parent std). Every scheme built on them (`kaiming_*`, `xavier_*`, `lecun_*`,
//! variance scaling) resolves to one of these ([`crate::init::Init::draw`]).

use std::f64::consts::{PI, SQRT_2};

/// A continuous law of one value.
///
/// ```
/// use nninit::check::Law;
/// let u = Law::Uniform { from: -1.0, to: 1.0 };
/// assert_eq!(u.cdf(0.0), 0.5);
/// assert!((u.central_moment(2) - 1.0 / 3.0).abs() < 1e-12);
/// assert!((Law::Normal { mean: 0.0, std: 1.0 }.excess_kurtosis()).abs() < 1e-9);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize)]
pub enum Law {
    /// U(from, to).
    Uniform {
        /// Lower bound.
        from: f64,
        /// Upper bound.
        to: f64,
    },
    /// N(mean, std²).
    Normal {
        /// Mean.
        mean: f64,
        /// Standard deviation.
        std: f64,
    },
    /// N(mean, std²) truncated to [a, b].
    TruncNormal {
        /// Parent mean.
        mean: f64,
        /// Parent std.
        std: f64,
        /// Lower bound.
        a: f64,
        /// Upper bound.
        b: f64,
    },
}

/// Φ, the standard normal CDF.
pub(crate) fn phi_cdf(z: f64) -> f64 {
    crate::sample::tail::upper_tail(-z)
}

/// The standard normal density.
fn phi_pdf(z: f64) -> f64 {
    (-0.5 * z * z).exp() / (2.0 * PI).sqrt()
}

/// The upper quantile `z` with `P(|Z| > z) = p` for a standard normal `Z` (bisection on erfc).
pub(crate) fn two_sided_z(p: f64) -> f64 {
    let (mut lo, mut hi) = (0.0f64, 40.0f64);
    for _ in 0..200 {
        let mid = 0.5 * (lo + hi);
        if libm::erfc(mid / SQRT_2) > p {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    0.5 * (lo + hi)
}

impl Law {
    /// The law's CDF at `x`.
    pub fn cdf(&self, x: f64) -> f64 {
        match *self {
            Law::Uniform { from, to } => {
                if to <= from {
                    return if x >= from { 1.0 } else { 0.0 };
                }
                ((x - from) / (to - from)).clamp(0.0, 1.0)
            }
            Law::Normal { mean, std } => phi_cdf((x - mean) / std),
            Law::TruncNormal { mean, std, a, b } => {
                if x <= a {
                    return 0.0;
                }
                if x >= b {
                    return 1.0;
                }
                let (al, be, z) = ((a - mean) / std, (b - mean) / std, (x - mean) / std);
                // Far in the upper tail, differences of upper tails keep their precision.
                if al > 0.0 {
                    let q = |t: f64| phi_cdf(-t);
                    return ((q(al) - q(z)) / (q(al) - q(be))).clamp(0.0, 1.0);
                }
                ((phi_cdf(z) - phi_cdf(al)) / (phi_cdf(be) - phi_cdf(al))).clamp(0.0, 1.0)
            }
        }
    }

    /// The density at `x` (for plots).
    pub fn pdf(&self, x: f64) -> f64 {
        match *self {
            Law::Uniform { from, to } => {
                if x >= from && x <= to && to > from {
                    1.0 / (to - from)
                } else {
                    0.0
                }
            }
            Law::Normal { mean, std } => phi_pdf((x - mean) / std) / std,
            Law::TruncNormal { mean, std, a, b } => {
                if x < a || x > b {
                    return 0.0;
                }
                let (al, be) = ((a - mean) / std, (b - mean) / std);
                let z = phi_cdf(be) - phi_cdf(al);
                if z <= 0.0 {
                    return 0.0;
                }
                phi_pdf((x - mean) / std) / (std * z)
            }
        }
    }

    /// The hard bounds of the values, if any.
    pub fn bounds(&self) -> Option<(f64, f64)> {
        match *self {
            Law::Uniform { from, to } => Some((from, to)),
            Law::Normal { .. } => None,
            Law::TruncNormal { a, b, .. } => Some((a, b)),
        }
    }

    /// An interval holding all but a negligible mass (< 1e-15) of the law: the histogram's range.
    pub fn support(&self) -> (f64, f64) {
        match *self {
            Law::Uniform { from, to } => (from, to),
            Law::Normal { mean, std } => (mean - 8.5 * std, mean + 8.5 * std),
            Law::TruncNormal { mean, std, a, b } => (a.max(mean - 8.5 * std), b.min(mean + 8.5 * std)),
        }
    }

    /// The mean.
    pub fn mean(&self) -> f64 {
        match *self {
            Law::Uniform { from, to } => 0.5 * (from + to),
            Law::Normal { mean, .. } => mean,
            Law::TruncNormal { .. } => self.numeric_moments().0,
        }
    }

    /// The `k`-th central moment (`k` ≥ 1): closed forms for the uniform and normal laws,
    /// Simpson's rule over the support for the truncated normal.
    pub fn central_moment(&self, k: u32) -> f64 {
        match *self {
            Law::Uniform { from, to } => {
                if k % 2 == 1 {
                    return 0.0;
                }
                let h = 0.5 * (to - from);
                h.powi(k as i32) / (k as f64 + 1.0)
            }
            Law::Normal { std, .. } => {
                if k % 2 == 1 {
                    return 0.0;
                }
                // (k − 1)!! σ^k
                let double_fact: f64 = (1..k).step_by(2).map(|i| i as f64).product();
                double_fact * std.powi(k as i32)
            }
            Law::TruncNormal { .. } => self.numeric_moments().1[k as usize],
        }
    }

    /// The standard deviation.
    pub fn std(&self) -> f64 {
        self.central_moment(2).max(0.0).sqrt()
    }

    /// The excess kurtosis μ4/μ2² − 3.
    pub fn excess_kurtosis(&self) -> f64 {
        let m2 = self.central_moment(2);
        self.central_moment(4) / (m2 * m2) - 3.0
    }

    /// Mean and central moments 0..=8 of a truncated normal by Simpson's rule in standard units,
    /// the density scaled by its value nearest the mode (no underflow far in a tail).
    fn numeric_moments(&self) -> (f64, [f64; 9]) {
        let Law::TruncNormal { mean, std, a, b } = *self else { return (self.mean(), [0.0; 9]) };
        let (lo, hi) = (((a - mean) / std).max(-12.0), ((b - mean) / std).min(12.0));
        // Far tails: beyond 12 σ from the mode the density is below e^-72 of its peak.
        let (lo, hi) = if lo >= hi {
            ((a - mean) / std, ((a - mean) / std + 40.0 / ((a - mean) / std).abs().max(1.0)).min((b - mean) / std))
        } else {
            (lo, hi)
        };
        let peak = if lo > 0.0 {
            lo
        } else if hi < 0.0 {
            hi
        } else {
            0.0
        };
        let n = 20_000;
        let h = (hi - lo) / n as f64;
        let weight = |i: usize| {
            if i == 0 || i == n {
                1.0
            } else if i % 2 == 1 {
                4.0
            } else {
                2.0
            }
        };
        let density = |z: f64| (-0.5 * (z * z - peak * peak)).exp();
        let (mut m0, mut m1) = (0.0, 0.0);
        for i in 0..=n {
            let z = lo + i as f64 * h;
            let d = weight(i) * density(z);
            m0 += d;
            m1 += d * z;
        }
        let mu = m1 / m0;
        let mut m = [0.0; 9];
        for i in 0..=n {
            let z = lo + i as f64 * h;
            let d = weight(i) * density(z) / m0;
            let mut p = 1.0;
            for mk in m.iter_mut() {
                *mk += d * p;
                p *= z - mu;
            }
        }
        for (k, mk) in m.iter_mut().enumerate() {
            *mk *= std.powi(k as i32);
        }
        (mean + mu * std, m)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn truncated_normal_matches_closed_forms() {
        // PyTorch's trunc_normal_(0, 1, -2, 2): std 0.8796 (case N8).
        let t = Law::TruncNormal { mean: 0.0, std: 1.0, a: -2.0, b: 2.0 };
        assert!((t.std() - 0.879_625_661).abs() < 1e-8, "{}", t.std());
        assert!(t.mean().abs() < 1e-12);
        // Far tail (case P6): mean φ(6)/(1 − Φ(6)) ≈ 6.158.
        let tail = Law::TruncNormal { mean: 0.0, std: 1.0, a: 6.0, b: 1e4 };
        assert!((tail.mean() - 6.1585).abs() < 1e-3, "{}", tail.mean());
        assert!((tail.cdf(6.1585) - 0.6).abs() < 0.1);
        // Wide truncation is the normal law.
        let wide = Law::TruncNormal { mean: 0.0, std: 2.0, a: -100.0, b: 100.0 };
        assert!((wide.std() - 2.0).abs() < 1e-9 && wide.excess_kurtosis().abs() < 1e-6);
    }

    #[test]
    fn quantiles() {
        assert!((two_sided_z(0.05) - 1.959_964).abs() < 1e-5);
        assert!((two_sided_z(1e-6) - 4.891_638).abs() < 1e-5);
    }
}
