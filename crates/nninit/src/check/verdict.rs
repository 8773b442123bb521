//! The statistical tests of one region of values against its law, each with a threshold that a
//! correct tensor passes with probability at least `1 − α` (α = [`ALPHA`]), whatever its size.
//!
//! How each threshold is derived (`n` finite values, `p` the dtype's bits of precision, so each
//! stored value is within a relative `2^-p` of the drawn one, and `r = 2^-p·√(μ² + σ²)` bounds
//! the shift rounding can give a mean or a standard deviation, by Minkowski's inequality):
//!
//! * **ks**: the Kolmogorov–Smirnov distance `sup |F_n − F|`, with `F` taken as the bracket
//!   `[F(x⁻), F(x⁺)]` of the dtype's neighbours of `x` (a stored value `≤ x` was drawn below a
//!   point of that bracket, whatever the rounding). Threshold by the Dvoretzky–Kiefer–Wolfowitz
//!   inequality with Massart's constant, `P(sup |F_n − F| > ε) ≤ 2·exp(−2nε²)`:
//!   `ε = √(ln(2/α) / (2n))`. Exact for bf16/f16 (every distinct value is a point); for 32/64-bit
//!   values `F_n` is known at [`super::accum::BINS`] bin edges, so the statistic can miss at most
//!   one bin's mass (reported as `ks_resolution`) — a lower bound of the true distance, so the
//!   false-alarm rate stays below α. PyTorch draws a uniform with only `p` random bits (8 for
//!   bf16): laws reached from it are lattices within 2^-p of their CDF, added to ε (and to the
//!   moments' thresholds for bounded laws, see `lattice_allowance`).
//! * **mean**: uniform, normal and symmetric truncated normal laws are strictly sub-Gaussian
//!   (their variance proxy is their variance), so by Chernoff's bound
//!   `P(|x̄ − μ| > tσ/√n) ≤ 2·exp(−t²/2)`: `t = √(2 ln(2/α))` (5.39 for α = 1e-6), plus `r`.
//! * **std**: the sample variance has variance `(μ4 − σ⁴)/n` (central limit theorem, with the
//!   law's exact μ4), so `|s − σ| ≤ 1.1·t·√((μ4 − σ⁴)/n)/(2σ) + σ/n + r` (the 1.1 is a margin for
//!   the normal approximation; `n ≥ 30`).
//! * **kurtosis**: the excess kurtosis `m4/m2² − 3`, whose variance by the delta method is
//!   `(μ8/μ2⁴ − 4μ6μ4/μ2⁵ + 4μ4³/μ2⁶ − μ4²/μ2⁴)/n` (24/n for a normal law), with the law's exact
//!   moments: `|g − κ| ≤ 1.25·t·√(that) + 8·2^-p·(κ + 3)` (rounding moves m4 by at most a
//!   relative 4·2^-p and m2 by 2·2^-p; `n ≥ 1000`).
//! * **range**: a bounded law's values lie within its bounds rounded to the dtype (rounding is
//!   monotone); a normal law's lie within `μ ± z·σ·(1 + 2^-p)` with `P(|Z| > z) = α/n` (union
//!   bound over the values).
//! * **at_bound**: the values equal to a bound, against the mass `q` of the bound's rounding
//!   cell (at most `F(x⁺) − F(x⁻)`), by Bernstein's inequality: at most
//!   `nq + L/3 + √((L/3)² + 2nqL)` with `L = ln(2/α)`.
//! * **nan_inf**: no NaN and no infinity.

use super::accum::{count_equal, neighbours, precision_bits, round_to, Summary};
use super::law::{two_sided_z, Law};

/// The false-alarm probability of each test on a correct tensor.
pub const ALPHA: f64 = 1e-6;

/// One test's outcome.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Test {
    /// `ks`, `mean`, `std`, `kurtosis`, `range`, `at_bound`, `nan_inf`, `constant`,
    /// `padding_row`, `identical_rows`, `sparse_zeros`, `orthogonality`, `exact`.
    pub name: &'static str,
    /// The part of the tensor tested (`all`, `rows 0`, `[16:32]`).
    pub region: String,
    /// The statistic measured.
    pub value: f64,
    /// What it should be (the law's value), when there is one.
    pub expected: Option<f64>,
    /// The largest deviation a correct tensor reaches with probability α (or the exact bound).
    pub threshold: f64,
    /// Whether it passed.
    pub pass: bool,
    /// A few words on what was compared.
    pub detail: String,
}

fn test(
    name: &'static str,
    region: &str,
    value: f64,
    expected: Option<f64>,
    threshold: f64,
    pass: bool,
    detail: String,
) -> Test {
    Test { name, region: region.to_string(), value, expected, threshold, pass, detail }
}

/// √(2 ln(2/α)): the sub-Gaussian deviation in standard errors.
fn t_sub_gaussian() -> f64 {
    (2.0 * (2.0 / ALPHA).ln()).sqrt()
}

/// NaN and infinities.
pub(crate) fn nan_inf(s: &Summary, region: &str) -> Test {
    let bad = s.nan + s.inf;
    test("nan_inf", region, bad as f64, Some(0.0), 0.0, bad == 0, format!("{} NaN, {} infinite", s.nan, s.inf))
}

/// The tests of values drawn from `law`.
pub(crate) fn random(law: &Law, s: &Summary, region: &str) -> Vec<Test> {
    let mut out = vec![nan_inf(s, region)];
    if s.n == 0 {
        return out;
    }
    let n = s.n as f64;
    let (mu, sigma) = (law.mean(), law.std());
    let p = precision_bits(s.dtype);
    let rel = 2f64.powi(-p);
    let r = rel * (mu * mu + sigma * sigma).sqrt() * 1.01
        + f64::from(half::f16::MIN_POSITIVE_SUBNORMAL) * (s.dtype == crate::DType::F16) as u8 as f64;
    let t = t_sub_gaussian();
    // PyTorch's samplers draw a uniform with as many random bits as the dtype's precision
    // (`uniform_real_distribution<T>`: 8 bits for bf16, 11 for f16): a law reached from such a
    // uniform (uniform_, inverse-CDF truncated normal) is a lattice whose CDF is within 2^-p of
    // the continuous one, and whose moments are within the total variation of the moment's
    // integrand times 2^-p ([`lattice_allowance`]).
    let lat = rel;
    let (mean_lat, std_lat, kurt_lat) = lattice_allowance(law, lat);
    // ks
    let eps = ((2.0 / ALPHA).ln() / (2.0 * n)).sqrt() + lat;
    let d = ks_distance(law, s);
    out.push(test(
        "ks",
        region,
        d,
        Some(0.0),
        eps,
        d <= eps,
        format!("sup|F_n − F| against {}; DKW ε = √(ln(2/α)/2n); resolution {:.2e}", law_name(law), s.ks_resolution()),
    ));
    // mean
    if s.n >= 2 {
        let thr = t * sigma / n.sqrt() + r + mean_lat;
        out.push(test("mean", region, s.mean, Some(mu), thr, (s.mean - mu).abs() <= thr, "sub-Gaussian bound".into()));
    }
    // std
    let std = s.var.sqrt();
    if s.n >= 30 && sigma > 0.0 {
        let m4 = law.central_moment(4);
        let thr = 1.1 * t * ((m4 - sigma.powi(4)).max(0.0) / n).sqrt() / (2.0 * sigma) + sigma / n + r + std_lat;
        out.push(test(
            "std",
            region,
            std,
            Some(sigma),
            thr,
            (std - sigma).abs() <= thr,
            "CLT with the law's μ4".into(),
        ));
    }
    // kurtosis
    if s.n >= 1000 && sigma > 0.0 && s.var > 0.0 {
        let m = |k| law.central_moment(k);
        let (m2, m4, m6, m8) = (m(2), m(4), m(6), m(8));
        let v = m8 / m2.powi(4) - 4.0 * m6 * m4 / m2.powi(5) + 4.0 * m4.powi(3) / m2.powi(6) - m4 * m4 / m2.powi(4);
        let kappa = law.excess_kurtosis();
        let g = s.m4 / (s.var * s.var) - 3.0;
        let thr = 1.25 * t * (v.max(0.0) / n).sqrt() + 8.0 * rel * (kappa + 3.0) + kurt_lat;
        out.push(test(
            "kurtosis",
            region,
            g,
            Some(kappa),
            thr,
            (g - kappa).abs() <= thr,
            "delta method with μ2..μ8".into(),
        ));
    }
    // range
    match law.bounds() {
        Some((a, b)) => {
            let (ra, rb) = (round_to(s.dtype, a), round_to(s.dtype, b));
            let pass = s.min >= ra && s.max <= rb;
            let over = (ra - s.min).max(s.max - rb).max(0.0);
            out.push(test(
                "range",
                region,
                over,
                Some(0.0),
                0.0,
                pass,
                format!("[{}, {}] within [{ra}, {rb}]", s.min, s.max),
            ));
            out.push(at_bound(law, s, region, ra, rb, lat));
        }
        None => {
            let z = two_sided_z(ALPHA / n);
            let thr = z * sigma * (1.0 + rel) + rel * mu.abs();
            let dev = (s.max - mu).abs().max((s.min - mu).abs());
            out.push(test("range", region, dev, None, thr, dev <= thr, format!("max |x − μ| ≤ {z:.2} σ")));
        }
    }
    out
}

/// What a lattice of 2^p equally likely uniforms (mapped through the inverse CDF) can move the
/// mean, std and excess kurtosis of a bounded law on [a, b]: `|E f(U_lattice) − E f(U)|` is at most
/// the total variation of `f` times 2^-p, which is `(b − a)` for the mean, `2M²` for the second
/// and `2M⁴` for the fourth central moment (`M` the largest distance of a bound from the mean).
/// Unbounded (normal) laws are drawn from f32/f64 uniforms: no allowance.
fn lattice_allowance(law: &Law, lat: f64) -> (f64, f64, f64) {
    let Some((a, b)) = law.bounds() else { return (0.0, 0.0, 0.0) };
    let (mu, sigma) = (law.mean(), law.std());
    if sigma <= 0.0 {
        return (0.0, 0.0, 0.0);
    }
    let m = (a - mu).abs().max((b - mu).abs());
    let var_allow = 2.0 * m * m * lat;
    let kappa = law.excess_kurtosis();
    let kurt = 2.0 * m.powi(4) * lat / sigma.powi(4) + 2.0 * (kappa + 3.0) * var_allow / (sigma * sigma);
    ((b - a) * lat, var_allow / (2.0 * sigma), kurt)
}

/// Values equal to a bound, against the mass of its rounding cell.
fn at_bound(law: &Law, s: &Summary, region: &str, ra: f64, rb: f64, lat: f64) -> Test {
    let n = s.n as f64;
    let count = |v: f64, wide: u64| if s.exact_ecdf { count_equal(s, v) } else { wide };
    let (ca, cb) = (count(ra, s.at_bounds.0), count(rb, s.at_bounds.1));
    let cell = |v: f64| {
        let (lo, hi) = neighbours(s.dtype, v);
        // The lattice puts up to 2^-p on its end point.
        (law.cdf(hi) - law.cdf(lo) + lat).clamp(0.0, 1.0)
    };
    let l = (2.0 / ALPHA).ln();
    let allowed = |q: f64| n * q + l / 3.0 + ((l / 3.0).powi(2) + 2.0 * n * q * l).sqrt();
    let (aa, ab) = (allowed(cell(ra)), allowed(cell(rb)));
    let pass = (ca as f64) <= aa && (cb as f64) <= ab;
    let frac = ca.max(cb) as f64 / n;
    test(
        "at_bound",
        region,
        frac,
        Some((cell(ra).max(cell(rb))).min(1.0)),
        aa.max(ab) / n,
        pass,
        format!("{ca} values at {ra}, {cb} at {rb} (Bernstein bound {aa:.0}, {ab:.0})"),
    )
}

/// The distance between the empirical CDF and the bracket of the law's CDF.
pub(crate) fn ks_distance(law: &Law, s: &Summary) -> f64 {
    let n = s.n as f64;
    let mut d: f64 = 0.0;
    let dist = |fn_: f64, lo: f64, hi: f64| {
        if fn_ < lo {
            lo - fn_
        } else if fn_ > hi {
            fn_ - hi
        } else {
            0.0
        }
    };
    for p in &s.points {
        let r = round_to(s.dtype, p.x);
        let (prev, next) = neighbours(s.dtype, r);
        let (fp, fx, fnx) = (law.cdf(prev), law.cdf(r), law.cdf(next));
        if s.exact_ecdf {
            d = d.max(dist(p.below as f64 / n, fp, fx)).max(dist(p.at_or_below as f64 / n, fx, fnx));
        } else {
            d = d.max(dist(p.below as f64 / n, fp, fnx));
        }
    }
    d
}

/// Every value is `v` (rounded to the dtype).
pub(crate) fn constant(v: f64, s: &Summary, region: &str, name: &'static str) -> Test {
    let rv = round_to(s.dtype, v);
    if rv.is_infinite() {
        // `constant_(inf)` is valid in PyTorch: every value must be that infinity.
        let other_sign = if rv > 0.0 { s.neg_inf } else { s.inf - s.neg_inf };
        let wrong = s.n + s.nan + other_sign;
        let detail = format!("{wrong} of {} values are not {rv}", s.n + s.nan + s.inf);
        return test(name, region, wrong as f64, Some(rv), 0.0, wrong == 0, detail);
    }
    let pass = s.nan == 0 && s.inf == 0 && (s.n == 0 || (s.min == rv && s.max == rv));
    let dev = if s.n == 0 { 0.0 } else { (s.min - rv).abs().max((s.max - rv).abs()) };
    test(name, region, dev, Some(rv), 0.0, pass, format!("values in [{}, {}], all should be {rv}", s.min, s.max))
}

/// The law in words, numbers in 6 digits.
///
/// ```
/// use nninit::check::{verdict::law_name, Law};
/// assert_eq!(law_name(&Law::Uniform { from: -0.125, to: 0.125 }), "U(-0.125, 0.125)");
/// ```
pub fn law_name(law: &Law) -> String {
    match *law {
        Law::Uniform { from, to } => format!("U({}, {})", short(from), short(to)),
        Law::Normal { mean, std } => format!("N({}, {}²)", short(mean), short(std)),
        Law::TruncNormal { mean, std, a, b } => {
            format!("N({}, {}²) on [{}, {}]", short(mean), short(std), short(a), short(b))
        }
    }
}

/// A number in 6 significant digits.
pub(crate) fn short(x: f64) -> String {
    let s = format!("{x:.6}");
    let s = if x != 0.0 && (x.abs() < 1e-3 || x.abs() >= 1e6) { format!("{x:.5e}") } else { s };
    if s.contains('.') && !s.contains('e') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s
    }
}
