//! The truncated normal far from its mean, on the counter-based stream: an exact sampler whose
//! expected work is bounded for every interval of positive probability (Robert 1995,
//! "Simulation of truncated normal variables", Statistics and Computing 5:121–125), and the
//! acceptance rate of PyTorch's uniform-proposal sampler that decides when it is used.
//!
//! On the standardized interval `[α, β]` (`z = (x − mean) / std`):
//!
//! * one-sided (`α ≥ 0`; `β ≤ 0` is mirrored): proposals `z = α + E/λ` from the exponential of
//!   rate `λ = (α + √(α² + 4)) / 2` truncated to `[α, β]` (by inversion,
//!   `z = α − ln(1 − u·(1 − e^{−λ(β−α)})) / λ`), accepted when
//!   `ln v ≤ −((z − λ)² − (c − λ)²) / 2` with `c = min(λ, β)` the point of `[α, β]` nearest `λ`.
//!   The acceptance rate is at least Robert's one-sided `≈ 0.76` (at `α = 0`), tending to 1
//!   far out or on narrow intervals;
//! * around the mean (`α < 0 < β`): uniform proposals accepted with probability `e^{−z²/2}`
//!   when `β − α < √(2π)`, else normal proposals kept when inside (acceptance ≥ 0.49 either way).
//!
//! Each attempt takes one Philox block (two 53-bit uniforms), so element `i`'s value is a
//! function of (key, draw, `i`) alone: it does not depend on the thread count or on sharding.

use rayon::prelude::*;

use crate::error::Result;
use crate::rng::Philox;
use crate::tensor::Element;

/// The uniform-proposal acceptance rate below which the counter-based stream's `trunc_normal_`
/// uses this sampler (1/20). Intervals above it keep the rejection rounds, and their values.
pub const TAIL_ACCEPTANCE: f64 = 0.05;

/// Philox counter tag of attempt `k` of this sampler: the high bit set, `k` below it.
const TAG_TAIL: u32 = 0x8000_0000;

/// Elements per parallel task (and per cancellation check).
const CHUNK: usize = 1 << 12;

/// `Q(x) = 1 − Φ(x) = ½·erfc(x/√2)`, the standard normal upper tail (accurate where `Φ(x)`
/// rounds to 1); `Φ(z) = Q(−z)`.
pub(crate) fn upper_tail(x: f64) -> f64 {
    0.5 * libm::erfc(x / std::f64::consts::SQRT_2)
}

/// Mills' ratio `R(x) = (1 − Φ(x)) / φ(x)` for `x ≥ 0`: from `erfc` below 5, else its
/// continued fraction `1/(x + 1/(x + 2/(x + 3/(x + ...))))` (Lentz's method), so it stays
/// accurate where `1 − Φ(x)` underflows. `R(∞) = 0`.
pub(crate) fn mills_ratio(x: f64) -> f64 {
    if x.is_infinite() {
        return 0.0;
    }
    if x < 5.0 {
        let q = upper_tail(x);
        return q * (2.0 * std::f64::consts::PI).sqrt() * (0.5 * x * x).exp();
    }
    // R = 1 / (x + 1/(x + 2/(x + ...))): evaluate the fraction b0 + a1/(b1 + a2/(b2 + ...))
    // with b = x, a_k = k.
    let tiny = 1e-300;
    let mut f = x;
    let (mut c, mut d) = (x, 0.0);
    for k in 1..200 {
        let a = k as f64;
        d = x + a * d;
        d = if d == 0.0 { tiny } else { d };
        c = x + a / c;
        c = if c == 0.0 { tiny } else { c };
        d = 1.0 / d;
        let delta = c * d;
        f *= delta;
        if (delta - 1.0).abs() < 1e-16 {
            break;
        }
    }
    1.0 / f
}

/// The acceptance rate of PyTorch 2.15's `trunc_normal_` uniform proposals on the standardized
/// interval `[al, be]`: the mean over `[al, be]` of `e^{−(z² − c²)/2}`, `c` the point of the
/// interval nearest 0. Computed from Mills' ratio, so it is accurate in far tails (≈ 1.7e-5 on
/// `[6, 1e4]`); 0 for an infinite interval, 1 for a point.
pub fn uniform_acceptance(al: f64, be: f64) -> f64 {
    if al > be || al.is_nan() || be.is_nan() {
        return 0.0;
    }
    let width = be - al;
    if width == 0.0 {
        return 1.0;
    }
    if width.is_infinite() {
        return 0.0;
    }
    // Mass ∫ e^{−(z² − c²)/2} dz over the interval, c nearest 0.
    let mass = if al >= 0.0 {
        one_sided_mass(al, be)
    } else if be <= 0.0 {
        one_sided_mass(-be, -al)
    } else {
        (1.0 - upper_tail(be) - upper_tail(-al)) * (2.0 * std::f64::consts::PI).sqrt()
    };
    (mass / width).clamp(0.0, 1.0)
}

/// `∫_α^β e^{−(z² − α²)/2} dz = R(α) − R(β)·e^{−(β² − α²)/2}` for `0 ≤ α ≤ β`.
fn one_sided_mass(al: f64, be: f64) -> f64 {
    let decay = (-0.5 * (be - al) * (be + al)).exp();
    let tail = if decay == 0.0 { 0.0 } else { mills_ratio(be) * decay };
    mills_ratio(al) - tail
}

/// The acceptance rate of the uniform-proposal sampler when `[a, b]` holds at most 64 values of
/// `E` (a narrow interval in f16/bf16): the proposals are rounded to `E` before the acceptance
/// test, so each value `v` is proposed with the length of its rounding cell within `[a, b]` and
/// accepted with `e^{−(z_v² − z_mode²)/2}`; with `strict`, `(E) a` is rejected as well. `None`
/// when the interval holds more values (the rounding then hardly changes the rate).
pub fn rounded_acceptance<E: Element>(mean: f64, std: f64, a: f64, b: f64, strict: bool) -> Option<f64> {
    let round = |x: f64| E::from_f64(x).to_f64();
    let (lo, hi) = (round(a), round(b));
    if !(a < b) || !lo.is_finite() || !hi.is_finite() {
        return None;
    }
    let z_mode = (a.max(mean.min(b)) - mean) / std;
    let (mut v, mut start, mut sum) = (lo, a, 0.0);
    for _ in 0..64 {
        // The cell of `v` within [a, b]: up to the first f64 that rounds above it.
        let end = if v < hi { bisect(v, hi, |x| round(x) > v).min(b) } else { b };
        let z = (v - mean) / std;
        if !(strict && v == lo) {
            sum += (end - start) * (-0.5 * (z - z_mode) * (z + z_mode)).exp();
        }
        if v >= hi {
            return Some((sum / (b - a)).clamp(0.0, 1.0));
        }
        (v, start) = (round(end), end);
    }
    None
}

/// Robert's proposal for one standardized interval.
#[derive(Clone, Copy, Debug)]
enum Proposal {
    /// Truncated exponential of rate `lambda` from `al`: `q = 1 − e^{−λ(β−α)}`, `c = min(λ, β)`.
    Exponential { lambda: f64, q: f64, c: f64 },
    /// Uniform on `[al, be]`, accepted with `e^{−z²/2}`.
    Uniform,
    /// N(0, 1), kept inside `[al, be]`.
    Normal,
}

/// A sampler of N(0, 1) restricted to `[al, be]` (`al < be`), mirrored when the interval lies
/// below 0.
#[derive(Clone, Copy, Debug)]
struct Robert {
    al: f64,
    be: f64,
    mirrored: bool,
    proposal: Proposal,
}

impl Robert {
    fn new(al: f64, be: f64) -> Self {
        let (al, be, mirrored) = if be <= 0.0 { (-be, -al, true) } else { (al, be, false) };
        let proposal = if al >= 0.0 {
            let lambda = 0.5 * (al + (al * al + 4.0).sqrt());
            Proposal::Exponential { lambda, q: -(-lambda * (be - al)).exp_m1(), c: lambda.min(be) }
        } else if be - al < (2.0 * std::f64::consts::PI).sqrt() {
            Proposal::Uniform
        } else {
            Proposal::Normal
        };
        Robert { al, be, mirrored, proposal }
    }

    /// One attempt from two uniforms `u, v ∈ [0, 1)`: the standardized value, if accepted.
    #[inline]
    fn attempt(&self, u: f64, v: f64) -> Option<f64> {
        let z = match self.proposal {
            Proposal::Exponential { lambda, q, c } => {
                let z = (self.al - (-u * q).ln_1p() / lambda).min(self.be);
                let log_ratio = -0.5 * ((z - lambda) * (z - lambda) - (c - lambda) * (c - lambda));
                if (1.0 - v).ln() > log_ratio {
                    return None;
                }
                z
            }
            Proposal::Uniform => {
                let z = u.mul_add(self.be - self.al, self.al);
                if (1.0 - v).ln() > -0.5 * z * z {
                    return None;
                }
                z
            }
            Proposal::Normal => {
                let r = (-2.0 * (1.0 - u).ln()).sqrt();
                let z = r * (std::f64::consts::TAU * v).cos();
                if z < self.al || z > self.be {
                    return None;
                }
                z
            }
        };
        Some(if self.mirrored { -z } else { z })
    }
}

#[inline(always)]
fn unit_f64(hi: u32, lo: u32) -> f64 {
    (((hi as u64) << 32 | lo as u64) >> 11) as f64 * (1.0 / 9_007_199_254_740_992.0)
}

/// The `f64` bounds `[A, B] ⊆ [a, b]` of the values that round to an element strictly between
/// `(E) a` and `(E) b`, when there is such an element (else `[a, b]`, whose values round into
/// `[(E) a, (E) b]`), and whether the strict form applies.
fn strict_bounds<E: Element>(a: f64, b: f64) -> (f64, f64, bool) {
    let round = |x: f64| E::from_f64(x).to_f64();
    let (lo, hi) = (round(a), round(b));
    if !(lo < hi) {
        return (a, b, false);
    }
    // The first f64 above `lo` that rounds above it, and the last below `hi` that rounds below.
    let above = bisect(lo, hi, |x| round(x) > lo);
    let below = bisect(lo, hi, |x| round(x) >= hi);
    let below = from_key(to_key(below) - 1);
    if !(round(above) < hi) || below < above {
        return (a, b, false);
    }
    (a.max(above), b.min(below), true)
}

/// Totally ordered integer image of an `f64` (and back).
fn to_key(x: f64) -> i64 {
    let bits = x.to_bits() as i64;
    if bits < 0 {
        bits ^ i64::MAX
    } else {
        bits
    }
}

fn from_key(k: i64) -> f64 {
    f64::from_bits((if k < 0 { k ^ i64::MAX } else { k }) as u64)
}

/// The least `x` in `(lo, hi]` with `pred(x)`, for `pred` monotone and `pred(hi)`.
fn bisect(lo: f64, hi: f64, pred: impl Fn(f64) -> bool) -> f64 {
    let (mut l, mut h) = (to_key(lo), to_key(hi));
    while h - l > 1 {
        let m = l + (h - l) / 2;
        if pred(from_key(m)) {
            h = m;
        } else {
            l = m;
        }
    }
    from_key(h)
}

/// Fills `out` (elements from the stream's offset on) with N(mean, std²) truncated to `[a, b]`
/// (`a < b`, `std > 0`), every value after rounding to `E` within `[a, b]` and, where the
/// element type has values strictly between `(E) a` and `(E) b`, not equal to either (as the
/// stream's rejection rounds). One draw of the stream.
///
/// # Errors
/// [`crate::Error::Cancelled`] when [`crate::cancel::request`] was called meanwhile.
pub(crate) fn fill<E: Element>(p: &Philox, out: &mut [E], mean: f64, std: f64, a: f64, b: f64) -> Result<()> {
    let (lo_b, hi_b, strict) = strict_bounds::<E>(a, b);
    let (lo, hi) = (E::from_f64(a).to_f64(), E::from_f64(b).to_f64());
    let sampler = Robert::new((lo_b - mean) / std, (hi_b - mean) / std);
    let keep = |x: f64| if strict { lo < x && x < hi } else { lo <= x && x <= hi };
    out.par_chunks_mut(CHUNK).enumerate().try_for_each(|(c, chunk)| {
        crate::cancel::check()?;
        let first = p.offset + (c * CHUNK) as u64;
        for (j, slot) in chunk.iter_mut().enumerate() {
            let i = first + j as u64;
            let mut k = 0u32;
            *slot = loop {
                let w = p.block(i, TAG_TAIL | (k & !TAG_TAIL));
                k = k.wrapping_add(1);
                if k.is_multiple_of(1 << 16) {
                    crate::cancel::check()?;
                }
                if let Some(z) = sampler.attempt(unit_f64(w[0], w[1]), unit_f64(w[2], w[3])) {
                    let v = E::from_f64(z.mul_add(std, mean));
                    if keep(v.to_f64()) {
                        break v;
                    }
                }
            };
        }
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mills_ratio_matches_erfc_and_its_asymptote() {
        for x in [0.0, 1.0, 3.0, 4.9] {
            let q = 0.5 * libm::erfc(x / std::f64::consts::SQRT_2);
            let phi = (-0.5 * x * x).exp() / (2.0 * std::f64::consts::PI).sqrt();
            assert!((mills_ratio(x) - q / phi).abs() < 1e-12 * (q / phi), "{x}");
        }
        // Continuity across the switch, and R(x) ≈ 1/x − 1/x³ + 3/x⁵ far out.
        assert!((mills_ratio(5.0) - mills_ratio(5.0 - 1e-12)).abs() < 1e-10);
        let x: f64 = 40.0;
        assert!((mills_ratio(x) - (1.0 / x - 1.0 / x.powi(3) + 3.0 / x.powi(5))).abs() < 1e-9);
    }

    #[test]
    fn acceptance_rates() {
        // The P6 interval: about 1.7e-5 of PyTorch's uniform proposals are accepted.
        let r = uniform_acceptance(6.0, 1e4);
        assert!((r - 1.6248e-5).abs() < 1e-8, "{r}");
        assert_eq!(uniform_acceptance(-1.0, -1.0), 1.0);
        assert_eq!(uniform_acceptance(6.0, f64::INFINITY), 0.0);
        // Around the mean: the closed form.
        let r = uniform_acceptance(-0.5, 0.5);
        assert!((r - 0.9599).abs() < 1e-4, "{r}");
        // Mirrored.
        assert_eq!(uniform_acceptance(2.0, 3.0), uniform_acceptance(-3.0, -2.0));
    }

    #[test]
    fn rates_of_rounded_proposals() {
        use half::bf16;
        // [40, 40.25] in bf16 holds 40 and 40.25: half the proposals round to each (up to the
        // f32 half-ulp by which the conversion through f32 moves the cells' edge).
        let r = rounded_acceptance::<bf16>(0.0, 1.0, 40.0, 40.25, false).unwrap();
        assert!((r - 0.5 * (1.0 + (-0.5 * 0.25 * 80.25f64).exp())).abs() < 2e-5, "{r}");
        let strict = rounded_acceptance::<bf16>(0.0, 1.0, 40.0, 40.25, true).unwrap();
        assert!((strict / (0.5 * (-0.5 * 0.25 * 80.25f64).exp()) - 1.0).abs() < 1e-4, "{strict}");
        assert_eq!(rounded_acceptance::<f32>(0.0, 1.0, 40.0, 40.25, true), None);
    }

    #[test]
    fn strict_bounds_of_each_type() {
        use half::bf16;
        // f32: the values strictly inside [6, 7] round to neither bound.
        let (l, h, strict) = strict_bounds::<f32>(6.0, 7.0);
        assert!(strict && l > 6.0 && h < 7.0);
        assert!((l as f32) > 6.0 && ((l - 1e-15) as f32) == 6.0 && (h as f32) < 7.0);
        // bf16 neighbours (1 and 1 + 2^-7) have nothing between them: not strict.
        assert_eq!(strict_bounds::<bf16>(1.0, 1.0078125), (1.0, 1.0078125, false));
        // One bf16 value between: its rounding cell (edges within an f32 ulp: the conversion
        // rounds through f32).
        let (l, h, strict) = strict_bounds::<bf16>(1.0, 1.015625);
        assert!(strict && (l - (1.0 + 2f64.powi(-8))).abs() < 1e-6 && (h - (1.0 + 3.0 * 2f64.powi(-8))).abs() < 1e-6);
        let round = |x: f64| <bf16 as Element>::from_f64(x).to_f64();
        assert!(round(l) == 1.0078125 && round(h) == 1.0078125);
    }
}
