//! Every `torch.nn.init` function, with PyTorch's semantics, errors and random-number use.
//!
//! Each takes a [`TensorMut`] (row-major shape + typed slice of f32, f64, f16 or bf16) and,
//! where random, the engine to draw from ([`crate::Generator`], PyTorch's stream, or
//! [`crate::rng::Philox`]). Values are computed in f32 (f64 for f64 tensors) and rounded once
//! into f16/bf16. Each public function is the [`Init`] of the same name applied: what it draws is
//! resolved once, by [`Init::draw`].
//!
//! The examples use `use nninit::{init::*, DType, Generator, Tensor};`.

use super::fan::{FanMode, Nonlinearity};
use super::scheme::Init;
use crate::dispatch_mut;
use crate::error::{Error, Result};
use crate::sample::{tail, Engine};
use crate::tensor::{DType, Element, TensorMut};

/// Formats a number like C++'s default `ostream << double` (`%g`), as PyTorch's messages do.
pub(crate) fn fmt_g(x: f64) -> String {
    if x.is_nan() {
        return "nan".into();
    }
    if x == 0.0 || !x.is_finite() {
        return format!("{x}");
    }
    let exp = x.abs().log10().floor() as i32;
    if (-4..6).contains(&exp) {
        let s = format!("{:.*}", (5 - exp).max(0) as usize, x);
        if s.contains('.') {
            s.trim_end_matches('0').trim_end_matches('.').to_string()
        } else {
            s
        }
    } else {
        let s = format!("{x:.5e}");
        let (mant, e) = s.split_once('e').unwrap_or((&s, "0"));
        let mant = if mant.contains('.') { mant.trim_end_matches('0').trim_end_matches('.') } else { mant };
        let e: i32 = e.parse().unwrap_or(0);
        format!("{mant}e{}{:02}", if e < 0 { '-' } else { '+' }, e.abs())
    }
}

fn dtype_limits(d: DType) -> (f64, f64) {
    let max = match d {
        DType::F16 => half::f16::MAX.to_f64(),
        DType::BF16 => half::bf16::MAX.to_f64(),
        DType::F32 => f32::MAX as f64,
        DType::F64 => f64::MAX,
    };
    (-max, max)
}

/// `uniform_(tensor, a=0.0, b=1.0)`: fills with U(a, b) (PyTorch `torch.nn.init.uniform_`).
///
/// * `a`: lower bound (default 0.0); `b`: upper bound (default 1.0).
/// * Shapes: any. Draws one 32-bit word per element (two for f64) in row-major order; see
///   [`crate::sample::uniform`].
///
/// ```
/// # use nninit::{init::*, DType, Generator, Tensor};
/// let mut w = Tensor::zeros(&[3, 5], DType::F32);
/// uniform_(w.view_mut()?, -0.5, 0.5, &mut Generator::manual_seed(0))?;
/// assert!(w.to_f64_vec().iter().all(|x| (-0.5..0.5).contains(x)));
/// # Ok::<(), nninit::Error>(())
/// ```
///
/// # Errors
/// `a` or `b` outside the dtype's finite range ("from is out of bounds for float"), `a > b`
/// ("uniform_ expects to return a [from, to) range, but found from=1 > to=0"), or `b − a` above
/// the dtype's max. An empty tensor draws nothing.
pub fn uniform_(tensor: TensorMut<'_>, a: f64, b: f64, g: &mut impl Engine) -> Result<()> {
    Init::Uniform { a, b }.apply(tensor, g)
}

/// [`uniform_`]'s argument checks for `dtype`.
pub(crate) fn check_uniform(dtype: DType, a: f64, b: f64) -> Result<()> {
    let (lo, hi) = dtype_limits(dtype);
    let name = dtype.torch_scalar_name();
    if !(lo..=hi).contains(&a) {
        return Err(Error::value(format!("from is out of bounds for {name}")));
    }
    if !(lo..=hi).contains(&b) {
        return Err(Error::value(format!("to is out of bounds for {name}")));
    }
    if a > b {
        return Err(Error::value(format!(
            "uniform_ expects to return a [from, to) range, but found from={} > to={}",
            fmt_g(a),
            fmt_g(b)
        )));
    }
    if b - a > hi {
        return Err(Error::value(format!(
            "uniform_ expects to-from <= std::numeric_limits<Float>::max(), but found to={} and from={} which result in to-from to exceed the limit",
            fmt_g(b),
            fmt_g(a)
        )));
    }
    Ok(())
}

pub(crate) fn check_std(std: f64) -> Result<()> {
    if std >= 0.0 {
        Ok(())
    } else {
        Err(Error::value(format!("normal expects std >= 0.0, but found std {}", fmt_g(std))))
    }
}

/// `normal_(tensor, mean=0.0, std=1.0)`: fills with N(mean, std²) by Box–Muller
/// (PyTorch `torch.nn.init.normal_`; block path for ≥ 16 elements, cached scalar path below; see
/// [`crate::sample::normal`]).
///
/// * `mean` (default 0.0), `std` (default 1.0). Shapes: any.
///
/// ```
/// # use nninit::{init::*, DType, Generator, Tensor};
/// let mut w = Tensor::zeros(&[4, 4], DType::F32);
/// normal_(w.view_mut()?, 0.0, 0.02, &mut Generator::manual_seed(0))?;
/// let err = normal_(w.view_mut()?, 0.0, -1.0, &mut Generator::manual_seed(0)).unwrap_err();
/// assert_eq!(err.to_string(), "normal expects std >= 0.0, but found std -1");
/// # Ok::<(), nninit::Error>(())
/// ```
///
/// # Errors
/// `std < 0` or NaN: "normal expects std >= 0.0, but found std -1". `std == 0` gives `mean`
/// everywhere (still drawing). An empty tensor draws nothing.
pub fn normal_(tensor: TensorMut<'_>, mean: f64, std: f64, g: &mut impl Engine) -> Result<()> {
    Init::Normal { mean, std }.apply(tensor, g)
}

/// `constant_(tensor, val)`: every element `(T) val` (PyTorch `torch.nn.init.constant_`). No
/// randomness. Shapes: any.
///
/// ```
/// # use nninit::{init::*, DType, Tensor};
/// let mut b = Tensor::zeros(&[3], DType::F32);
/// constant_(b.view_mut()?, 0.25)?;
/// assert_eq!(b.to_f64_vec(), [0.25; 3]);
/// # Ok::<(), nninit::Error>(())
/// ```
///
/// # Errors
/// A finite `val` outside the dtype's range: "value cannot be converted to type at::Half without
/// overflow" (PyTorch's `fill_`).
pub fn constant_(tensor: TensorMut<'_>, val: f64) -> Result<()> {
    Init::Constant { val }.apply(tensor, &mut crate::Generator::default())
}

/// [`constant_`]'s check: `val` representable in `dtype`.
pub(crate) fn check_constant(dtype: DType, val: f64) -> Result<()> {
    let (lo, hi) = dtype_limits(dtype);
    if val.is_finite() && !(lo..=hi).contains(&val) {
        let name = match dtype {
            DType::F16 => "at::Half",
            DType::BF16 => "at::BFloat16",
            DType::F32 => "float",
            DType::F64 => "double",
        };
        return Err(Error::value(format!("value cannot be converted to type {name} without overflow")));
    }
    Ok(())
}

pub(crate) fn fill<E: Element>(s: &mut [E], val: f64) {
    s.fill(E::from_f64(val));
}

/// `ones_(tensor)`: every element 1 (PyTorch `torch.nn.init.ones_`). Shapes: any. Never fails.
///
/// ```
/// # use nninit::{init::*, DType, Tensor};
/// let mut w = Tensor::zeros(&[2], DType::BF16);
/// ones_(w.view_mut()?)?;
/// assert_eq!(w.to_f64_vec(), [1.0, 1.0]);
/// # Ok::<(), nninit::Error>(())
/// ```
pub fn ones_(tensor: TensorMut<'_>) -> Result<()> {
    Init::Ones.apply(tensor, &mut crate::Generator::default())
}

/// `zeros_(tensor)`: every element 0 (PyTorch `torch.nn.init.zeros_`). Shapes: any. Never fails.
///
/// ```
/// # use nninit::{init::*, DType, Tensor};
/// let mut w = Tensor::zeros(&[2], DType::F32);
/// ones_(w.view_mut()?)?;
/// zeros_(w.view_mut()?)?;
/// assert_eq!(w.to_f64_vec(), [0.0, 0.0]);
/// # Ok::<(), nninit::Error>(())
/// ```
pub fn zeros_(tensor: TensorMut<'_>) -> Result<()> {
    Init::Zeros.apply(tensor, &mut crate::Generator::default())
}

/// `eye_(tensor)`: the identity of shape `(rows, cols)` (ones at `[i, i]`; PyTorch
/// `torch.nn.init.eye_`). No randomness. Preserves the identity of the inputs in Linear layers.
///
/// ```
/// # use nninit::{init::*, DType, Tensor};
/// let mut w = Tensor::zeros(&[2, 3], DType::F32);
/// eye_(w.view_mut()?)?;
/// assert_eq!(w.to_f64_vec(), [1.0, 0.0, 0.0, 0.0, 1.0, 0.0]);
/// # Ok::<(), nninit::Error>(())
/// ```
///
/// # Errors
/// Rank ≠ 2: "Only tensors with 2 dimensions are supported".
pub fn eye_(tensor: TensorMut<'_>) -> Result<()> {
    Init::Eye.apply(tensor, &mut crate::Generator::default())
}

/// `0 · value` and `1 · value` in `E`, multiplied in PyTorch's opmath as `mul_(value)` after
/// `eye_`/`dirac_` does (a negative value gives −0.0 off the diagonal).
fn scaled_zero_one<E: Element>(value: f64) -> (E, E) {
    let scale = |x: f64| op(E::from_f64(x), |x| x * value as f32, |x| x * value);
    (scale(0.0), scale(1.0))
}

/// `value ·` the identity of a rank-2 tensor (`eye_` then `mul_(value)`).
pub(crate) fn fill_eye(mut tensor: TensorMut<'_>, value: f64) -> Result<()> {
    let &[rows, cols] = tensor.shape else {
        return Err(Error::value("Only tensors with 2 dimensions are supported"));
    };
    dispatch_mut!(&mut tensor.data, |s| {
        let (zero, one) = scaled_zero_one(value);
        s.fill(zero);
        for i in 0..rows.min(cols) {
            s[i * cols + i] = one;
        }
    });
    Ok(())
}

/// `dirac_(tensor, groups=1)`: the Dirac delta, so a convolution `(out, in, *k)` with this weight
/// preserves the identity of its inputs, per group (PyTorch `torch.nn.init.dirac_`). No
/// randomness.
///
/// Zeroes the tensor, then with `opg = out / groups` and `k = min(opg, in)` sets
/// `t[g·opg + d, d, centre] = 1` for each group `g` and `d < k`, centre = `size // 2` in each
/// spatial dimension.
///
/// ```
/// # use nninit::{init::*, DType, Tensor};
/// let mut w = Tensor::zeros(&[2, 2, 3], DType::F32);
/// dirac_(w.view_mut()?, 1)?;
/// assert_eq!(w.to_f64_vec(), [0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0, 0.0]);
/// # Ok::<(), nninit::Error>(())
/// ```
///
/// # Errors
/// Rank ∉ {3, 4, 5}: "Only tensors with 3, 4, or 5 dimensions are supported"; `out % groups != 0`
/// (or `groups == 0`): "dim 0 must be divisible by groups".
pub fn dirac_(tensor: TensorMut<'_>, groups: usize) -> Result<()> {
    Init::Dirac { groups }.apply(tensor, &mut crate::Generator::default())
}

/// `value ·` [`dirac_`] (`dirac_` then `mul_(value)`).
pub(crate) fn fill_dirac(mut tensor: TensorMut<'_>, groups: usize, value: f64) -> Result<()> {
    let shape = tensor.shape;
    if !(3..=5).contains(&shape.len()) {
        return Err(Error::value("Only tensors with 3, 4, or 5 dimensions are supported"));
    }
    if groups == 0 || !shape[0].is_multiple_of(groups) {
        return Err(Error::value("dim 0 must be divisible by groups"));
    }
    let out_per_group = shape[0] / groups;
    let k = out_per_group.min(shape[1]);
    let spatial = &shape[2..];
    let receptive: usize = spatial.iter().product();
    let centre = spatial.iter().fold(0, |acc, &s| acc * s + s / 2);
    dispatch_mut!(&mut tensor.data, |s| {
        let (zero, one) = scaled_zero_one(value);
        s.fill(zero);
        for g in 0..groups {
            for d in 0..k {
                s[((g * out_per_group + d) * shape[1] + d) * receptive + centre] = one;
            }
        }
    });
    Ok(())
}

/// `xavier_uniform_(tensor, gain=1.0)`: U(−a, a) with `a = gain · sqrt(6 / (fan_in + fan_out))`
/// (Glorot & Bengio 2010; PyTorch `torch.nn.init.xavier_uniform_`). Computed as
/// `sqrt(3.0) · (gain · sqrt(2.0 / (fan_in + fan_out)))`, PyTorch's f64 operation order.
///
/// * `gain`: scales the bound (default 1.0; see [`calculate_gain`](super::calculate_gain)).
/// * Shapes: rank ≥ 2, fans as [`fan_in_and_fan_out`](super::fan_in_and_fan_out)
///   (`[out, in, *k]`). An empty tensor draws nothing (`[0, 0]` is a no-op, where PyTorch
///   divides by zero).
///
/// ```
/// # use nninit::{init::*, DType, Generator, Tensor};
/// let mut w = Tensor::zeros(&[4, 4], DType::F32);
/// xavier_uniform_(w.view_mut()?, 1.0, &mut Generator::manual_seed(0))?;
/// let err = xavier_uniform_(w.view_mut()?, -1.0, &mut Generator::manual_seed(0)).unwrap_err();
/// assert_eq!(
///     err.to_string(),
///     "uniform_ expects to return a [from, to) range, but found from=0.866025 > to=-0.866025"
/// );
/// # Ok::<(), nninit::Error>(())
/// ```
///
/// # Errors
/// Rank < 2: "Fan in and fan out can not be computed for tensor with fewer than 2 dimensions";
/// a derived bound `uniform_` rejects (negative or NaN gain, a bound outside the dtype's range).
pub fn xavier_uniform_(tensor: TensorMut<'_>, gain: f64, g: &mut impl Engine) -> Result<()> {
    Init::XavierUniform { gain }.apply(tensor, g)
}

/// `xavier_normal_(tensor, gain=1.0)`: N(0, std²) with `std = gain · sqrt(2 / (fan_in + fan_out))`
/// (Glorot & Bengio 2010; PyTorch `torch.nn.init.xavier_normal_`). Arguments and shapes as
/// [`xavier_uniform_`].
///
/// ```
/// # use nninit::{init::*, DType, Generator, Tensor};
/// let mut w = Tensor::zeros(&[4, 4], DType::F32);
/// xavier_normal_(w.view_mut()?, 1.0, &mut Generator::manual_seed(0))?;
/// let err = xavier_normal_(w.view_mut()?, -1.0, &mut Generator::manual_seed(0)).unwrap_err();
/// assert_eq!(err.to_string(), "normal expects std >= 0.0, but found std -0.5");
/// # Ok::<(), nninit::Error>(())
/// ```
///
/// # Errors
/// Rank < 2; a derived std `normal_` rejects ("normal expects std >= 0.0, but found std -0.5").
pub fn xavier_normal_(tensor: TensorMut<'_>, gain: f64, g: &mut impl Engine) -> Result<()> {
    Init::XavierNormal { gain }.apply(tensor, g)
}

/// `kaiming_uniform_(tensor, a=0, mode='fan_in', nonlinearity='leaky_relu')`: U(−bound, bound)
/// with `bound = sqrt(3) · gain / sqrt(fan)`, `gain = calculate_gain(nonlinearity, a)` (He et
/// al. 2015; PyTorch `torch.nn.init.kaiming_uniform_`).
///
/// * `a`: the negative slope of the rectifier (default 0; only read for `leaky_relu`).
/// * `mode`: `fan_in` (default, preserves the forward pass's variance) or `fan_out` (the
///   backward pass's).
/// * `nonlinearity`: default `leaky_relu`; see [`calculate_gain`](super::calculate_gain).
/// * Shapes: rank ≥ 2. A tensor with no elements is left as is (PyTorch warns "Initializing
///   zero-element tensors is a no-op").
///
/// ```
/// # use nninit::{init::*, DType, Generator, Tensor};
/// let mut w = Tensor::zeros(&[16, 8], DType::F32);
/// kaiming_uniform_(w.view_mut()?, 0.0, FanMode::FanIn, Nonlinearity::Relu, &mut Generator::manual_seed(0))?;
/// let bound = 3f64.sqrt() * (2f64.sqrt() / 8f64.sqrt());
/// assert!(w.to_f64_vec().iter().all(|x| x.abs() <= bound));
/// # Ok::<(), nninit::Error>(())
/// ```
///
/// # Errors
/// Rank < 2 (fan error); a non-finite `a` with `leaky_relu` ("negative_slope inf not a valid
/// number", where PyTorch reports the NaN bound instead).
pub fn kaiming_uniform_(
    tensor: TensorMut<'_>,
    a: f64,
    mode: FanMode,
    nonlinearity: Nonlinearity,
    g: &mut impl Engine,
) -> Result<()> {
    Init::KaimingUniform { a, mode, nonlinearity }.apply(tensor, g)
}

/// `kaiming_normal_(tensor, a=0, mode='fan_in', nonlinearity='leaky_relu')`: N(0, std²) with
/// `std = gain / sqrt(fan)` (He et al. 2015; PyTorch `torch.nn.init.kaiming_normal_`).
/// Arguments, shapes and errors as [`kaiming_uniform_`].
///
/// ```
/// # use nninit::{init::*, DType, Generator, Tensor};
/// let mut w = Tensor::zeros(&[64, 3, 3, 3], DType::F32);
/// kaiming_normal_(w.view_mut()?, 0.0, FanMode::FanOut, Nonlinearity::Relu, &mut Generator::manual_seed(0))?;
/// # Ok::<(), nninit::Error>(())
/// ```
pub fn kaiming_normal_(
    tensor: TensorMut<'_>,
    a: f64,
    mode: FanMode,
    nonlinearity: Nonlinearity,
    g: &mut impl Engine,
) -> Result<()> {
    Init::KaimingNormal { a, mode, nonlinearity }.apply(tensor, g)
}

/// `lecun_uniform_(tensor)`: U(−bound, bound), `bound = sqrt(3) · 1 / sqrt(fan_in)` (LeCun et
/// al. 1998), with PyTorch's fans (`[out, in, *k]`) and operation order: `kaiming_uniform_` with
/// gain 1. For JAX's `lecun_uniform` (its axes) see [`jax_lecun_uniform_`](super::jax_lecun_uniform_).
///
/// ```
/// # use nninit::{init::*, DType, Generator, Tensor};
/// let mut w = Tensor::zeros(&[4, 3], DType::F32);
/// lecun_uniform_(w.view_mut()?, &mut Generator::manual_seed(0))?;
/// assert!(w.to_f64_vec().iter().all(|x| x.abs() <= 1.0));
/// # Ok::<(), nninit::Error>(())
/// ```
///
/// # Errors
/// Rank < 2 (fan error).
pub fn lecun_uniform_(tensor: TensorMut<'_>, g: &mut impl Engine) -> Result<()> {
    Init::LecunUniform.apply(tensor, g)
}

/// `lecun_normal_(tensor)`: N(0, 1 / fan_in), untruncated (LeCun et al. 1998), with PyTorch's
/// fans. JAX's `lecun_normal` is truncated and uses its own axes: see
/// [`jax_lecun_normal_`](super::jax_lecun_normal_).
///
/// ```
/// # use nninit::{init::*, DType, Generator, Tensor};
/// let mut w = Tensor::zeros(&[4, 3], DType::F32);
/// lecun_normal_(w.view_mut()?, &mut Generator::manual_seed(0))?;
/// assert_eq!(Init::LecunNormal.expected_std(&[4, 3]), Some(1.0 / 3f64.sqrt()));
/// # Ok::<(), nninit::Error>(())
/// ```
///
/// # Errors
/// Rank < 2 (fan error).
pub fn lecun_normal_(tensor: TensorMut<'_>, g: &mut impl Engine) -> Result<()> {
    Init::LecunNormal.apply(tensor, g)
}

/// `1/2 · (1 + erf(x / √2))`, PyTorch's `norm_cdf` in `trunc_normal_`.
fn norm_cdf(x: f64) -> f64 {
    (1.0 + libm::erf(x / 2f64.sqrt())) / 2.0
}

/// `trunc_normal_(tensor, mean=0.0, std=1.0, a=-2.0, b=2.0)`: N(mean, std²) restricted to
/// `[a, b]`, with PyTorch 2.15's algorithm:
///
/// * `p = Φ((b − mean)/std) − Φ((a − mean)/std) > 0.3`: draw the whole tensor with `normal_`, then
///   while any value lies outside `[(T) a, (T) b]`, draw a full fresh tensor and replace those.
/// * otherwise: uniform proposals on `[a, b]` accepted when `log(u) ≤ logpdf(x) − logpdf(mode)`,
///   each round drawing full tensors of proposals and acceptance uniforms.
///
/// The std of the result is that of the truncated distribution (no correction of the parent std).
/// PyTorch `torch.nn.init.trunc_normal_`; defaults `mean=0.0, std=1.0, a=-2.0, b=2.0`. Shapes:
/// any.
///
/// ```
/// # use nninit::{init::*, DType, Generator, Tensor};
/// let mut w = Tensor::zeros(&[8, 8], DType::F32);
/// trunc_normal_(w.view_mut()?, 0.0, 0.02, -0.04, 0.04, &mut Generator::manual_seed(0))?;
/// assert!(w.to_f64_vec().iter().all(|x| x.abs() <= 0.04));
/// # Ok::<(), nninit::Error>(())
/// ```
///
/// # Errors
/// `std == 0`: "float division by zero" (Python's `ZeroDivisionError`); `std < 0` (which PyTorch
/// accepts: a deliberate difference); `a > b`; `[a, b]` so far in the tail (`mean=5e18` with the
/// default bounds) that, rounded to the element type, no proposal can be accepted and PyTorch's
/// loop would never end: "lies too far in the tail".
pub fn trunc_normal_(tensor: TensorMut<'_>, mean: f64, std: f64, a: f64, b: f64, g: &mut impl Engine) -> Result<()> {
    Init::TruncNormal { mean, std, a, b }.apply(tensor, g)
}

/// [`trunc_normal_`]'s algorithm, arguments checked.
pub(crate) fn fill_trunc_normal(
    mut tensor: TensorMut<'_>,
    mean: f64,
    std: f64,
    a: f64,
    b: f64,
    g: &mut impl Engine,
) -> Result<()> {
    check_trunc_normal(mean, std, a, b)?;
    let n = tensor.numel();
    let (al, be) = ((a - mean) / std, (b - mean) / std);
    let p = norm_cdf(be) - norm_cdf(al);
    let strict = g.strict_truncation() && a < b;
    let acceptance = if p > 0.3 {
        p
    } else {
        dispatch_mut!(&mut tensor.data, |s| uniform_proposal_rate(s, mean, std, a, b, strict))
    };
    // The strict rejection rounds keep far fewer draws than `p` when a bound overflows the
    // element type (draws rounding to ±inf are rejected): the tail sampler then takes them too.
    let rate = if p > 0.3 && strict {
        dispatch_mut!(&mut tensor.data, |s| kept_normal_rate(s, mean, std, a, b))
    } else {
        acceptance
    };
    if !g.has_tail_sampler() {
        check_expected_work(n, acceptance, (mean, std, a, b))?;
    } else if n > 0 && a < b && rate < tail::TAIL_ACCEPTANCE {
        if let Some(done) = dispatch_mut!(&mut tensor.data, |s| g.trunc_normal_tail(s, mean, std, a, b)) {
            return done;
        }
    }
    dispatch_mut!(&mut tensor.data, |s| {
        if p > 0.3 {
            trunc_by_rejection(s, mean, std, a, b, g)
        } else {
            trunc_by_uniform_proposals(s, mean, std, a, b, g)
        }
    })
}

/// [`tail::kept_normal_rate`] for elements like `_s`'s.
fn kept_normal_rate<E: Element>(_s: &mut [E], mean: f64, std: f64, a: f64, b: f64) -> f64 {
    tail::kept_normal_rate::<E>(mean, std, a, b)
}

/// The acceptance rate of [`trunc_by_uniform_proposals`] on `[a, b]` for elements like `_s`'s.
fn uniform_proposal_rate<E: Element>(_s: &mut [E], mean: f64, std: f64, a: f64, b: f64, strict: bool) -> f64 {
    let real = tail::uniform_acceptance((a - mean) / std, (b - mean) / std);
    tail::rounded_acceptance::<E>(mean, std, a, b, strict).unwrap_or(real)
}

/// The work PyTorch's `trunc_normal_` may be expected to do before nninit refuses it, in
/// proposals: 2^30 (a few seconds), unless it needs at most [`MAX_ROUNDS`] rounds.
pub(crate) const MAX_PROPOSALS: f64 = (1u64 << 30) as f64;

/// The fixed cost of one rejection round, in proposals (drawing two tensors of any size costs
/// about as much as 32,768 proposals on a 2-core machine).
pub(crate) const ROUND_COST: f64 = 32_768.0;

/// Expected rounds that are never refused, whatever the tensor's size: every interval whose
/// acceptance rate is above about 0.25 stays below it.
pub(crate) const MAX_ROUNDS: f64 = 100.0;

/// The expected number of rounds of a rejection sampler that redraws all `n` values each round
/// until each has been accepted once, with acceptance rate `rate`: the expected maximum of `n`
/// geometric variables, `H_n / −ln(1 − rate) + 1/2` (at least 1).
pub(crate) fn expected_rounds(n: usize, rate: f64) -> f64 {
    if n == 0 {
        return 0.0;
    }
    if !(rate > 0.0) {
        return f64::INFINITY;
    }
    let n = n as f64;
    let harmonic = n.ln() + 0.577_215_664_901_532_9 + 0.5 / n;
    (harmonic / -(-rate.min(1.0)).ln_1p() + 0.5).max(1.0)
}

/// Refuses PyTorch's algorithm (which every round draws all `n` values again) when its expected
/// work, [`expected_rounds`] `· (n +` [`ROUND_COST`]`)` proposals, exceeds [`MAX_PROPOSALS`] and
/// the rounds exceed [`MAX_ROUNDS`].
fn check_expected_work(n: usize, rate: f64, (mean, std, a, b): (f64, f64, f64, f64)) -> Result<()> {
    let rounds = expected_rounds(n, rate);
    let proposals = rounds * n as f64;
    if rounds <= MAX_ROUNDS || rounds * (n as f64 + ROUND_COST) <= MAX_PROPOSALS {
        return Ok(());
    }
    Err(Error::TooMuchWork {
        message: format!(
            "trunc_normal_(mean={}, std={}, a={}, b={}) on the torch stream: PyTorch's sampler accepts {rate:.2e} \
             of its proposals on this interval, an expected {proposals:.1e} proposals in {rounds:.1e} rounds for {n} values (beyond \
             nninit's bound of {MAX_PROPOSALS:.1e} proposals, {ROUND_COST} per round included); use --rng philox (an exact tail sampler) or a narrower interval",
            fmt_g(mean),
            fmt_g(std),
            fmt_g(a),
            fmt_g(b)
        ),
    })
}

/// The log-acceptance below which the best uniform proposal of [`trunc_normal_`] is refused: it
/// is 0 in exact arithmetic, and far below it only when rounding the far tail to the element
/// type leaves `[a, b]` with no value that can be accepted (the draws would never end).
const MIN_LOG_ACCEPT: f64 = -10.0;

/// [`trunc_normal_`]'s argument checks.
pub(crate) fn check_trunc_normal(mean: f64, std: f64, a: f64, b: f64) -> Result<()> {
    if std == 0.0 {
        return Err(Error::value("float division by zero (trunc_normal_ with std=0)"));
    }
    check_std(std)?;
    if !std.is_finite() || !mean.is_finite() || a.is_nan() || b.is_nan() {
        return Err(Error::value(format!(
            "trunc_normal_ needs a finite mean and std and bounds that are numbers, but found mean={}, std={}, a={}, b={}",
            fmt_g(mean),
            fmt_g(std),
            fmt_g(a),
            fmt_g(b)
        )));
    }
    if a > b {
        return Err(Error::value(format!(
            "uniform_ expects to return a [from, to) range, but found from={} > to={}",
            fmt_g(a),
            fmt_g(b)
        )));
    }
    Ok(())
}

fn trunc_by_rejection<E: Element>(s: &mut [E], mean: f64, std: f64, a: f64, b: f64, g: &mut impl Engine) -> Result<()> {
    // Compared widened to f64 (exact for every element type): vectorizes, unlike f16/bf16 `<`.
    let (lo, hi) = (E::from_f64(a).to_f64(), E::from_f64(b).to_f64());
    g.normal(s, mean, std);
    // PyTorch keeps values that round onto a bound; the tail-safe engines reject them too.
    let strict = g.strict_truncation() && lo < hi;
    let outside = |x: &E| {
        let x = x.to_f64();
        x < lo || x > hi || (strict && (x == lo || x == hi))
    };
    let any_outside = |s: &[E]| {
        use rayon::prelude::*;
        s.par_chunks(1 << 16).any(|c| c.iter().fold(false, |acc, x| acc | outside(x)))
    };
    let mut fresh = Vec::new();
    while any_outside(s) {
        crate::cancel::check()?;
        fresh.resize(s.len(), E::from_f64(0.0));
        g.normal(&mut fresh, mean, std);
        for (x, &f) in s.iter_mut().zip(&fresh) {
            if outside(x) {
                *x = f;
            }
        }
    }
    Ok(())
}

/// Elementwise arithmetic in PyTorch's opmath (f32 for f32/f16/bf16, f64 for f64), rounding to
/// the element type after each op, as a chain of tensor ops does.
pub(crate) fn op<E: Element>(x: E, f32_op: impl Fn(f32) -> f32, f64_op: impl Fn(f64) -> f64) -> E {
    if E::DTYPE == DType::F64 {
        E::from_f64(f64_op(x.to_f64()))
    } else {
        E::from_f32(f32_op(x.to_f32()))
    }
}

fn trunc_by_uniform_proposals<E: Element>(
    s: &mut [E],
    mean: f64,
    std: f64,
    a: f64,
    b: f64,
    g: &mut impl Engine,
) -> Result<()> {
    let n = s.len();
    let mode = a.max(mean.min(b));
    let z = (mode - mean) / std;
    let log_peak = -0.5 * (z * z);
    let logpdf = |c: E| {
        let c = op(c, |x| x - mean as f32, |x| x - mean);
        let c = op(c, |x| x / std as f32, |x| x / std);
        let c = op(c, |x| x * x, |x| x * x);
        let c = op(c, |x| x * -0.5, |x| x * -0.5);
        op(c, |x| x - log_peak as f32, |x| x - log_peak)
    };
    let best = [mode, a, b].map(|c| logpdf(E::from_f64(c)).to_f64()).into_iter().fold(f64::NEG_INFINITY, f64::max);
    if n > 0 && !(best >= MIN_LOG_ACCEPT) {
        return Err(Error::value(format!(
            "trunc_normal_: [a, b] = [{}, {}] lies too far in the tail of N(mean={}, std={}) to sample in {}: \
             no value of the interval is accepted (log-acceptance {best:e} at best)",
            fmt_g(a),
            fmt_g(b),
            fmt_g(mean),
            fmt_g(std),
            E::DTYPE
        )));
    }
    let ln = |u: E| op(u, f32::ln, f64::ln);
    let mut accept_u = vec![E::from_f64(0.0); n];
    g.uniform(s, a, b);
    g.uniform(&mut accept_u, 0.0, 1.0);
    let lo = E::from_f64(a);
    let strict = g.strict_truncation() && a < b;
    let reject = |c: E, u: E| ln(u) > logpdf(c) || (strict && c == lo);
    let mut pending: Vec<bool> = s.iter().zip(&accept_u).map(|(&c, &u)| reject(c, u)).collect();
    let mut candidates = vec![E::from_f64(0.0); n];
    while pending.iter().any(|&p| p) {
        crate::cancel::check()?;
        g.uniform(&mut candidates, a, b);
        g.uniform(&mut accept_u, 0.0, 1.0);
        for i in 0..n {
            if pending[i] {
                s[i] = candidates[i];
                pending[i] = reject(candidates[i], accept_u[i]);
            }
        }
    }
    Ok(())
}

/// `orthogonal_(tensor, gain=1)`: a (semi-)orthogonal matrix (Saxe et al. 2013).
///
/// The tensor is viewed as `rows × cols` with `rows = shape[0]`, `cols = numel / rows`. A
/// `rows × cols` N(0, 1) matrix is drawn (PyTorch's draws exactly), transposed when
/// `rows < cols`, factored `A = QR` (Householder QR by `faer`, in the tensor's precision), `Q`'s columns multiplied
/// by `sign(diag(R))`, transposed back, rounded to the dtype and multiplied by `gain`. Rows are
/// orthonormal when `rows ≤ cols`, columns otherwise. Values agree with PyTorch's LAPACK QR to
/// about 1e-7 (not bit-exact). An empty tensor is left as is.
///
/// `gain` defaults to 1. Shapes: rank ≥ 2.
///
/// ```
/// # use nninit::{init::*, DType, Generator, Tensor};
/// let mut w = Tensor::zeros(&[3, 3], DType::F64);
/// orthogonal_(w.view_mut()?, 1.0, &mut Generator::manual_seed(0))?;
/// let v = w.to_f64_vec();
/// let row0: f64 = v[..3].iter().map(|x| x * x).sum();
/// assert!((row0 - 1.0).abs() < 1e-12);
/// # Ok::<(), nninit::Error>(())
/// ```
///
/// # Errors
/// Rank < 2: "Only tensors with 2 or more dimensions are supported"; f16/bf16 (after drawing, as
/// PyTorch): `"geqrf_cpu" not implemented for 'Half'`.
pub fn orthogonal_(tensor: TensorMut<'_>, gain: f64, g: &mut impl Engine) -> Result<()> {
    Init::Orthogonal { gain }.apply(tensor, g)
}

/// [`orthogonal_`]'s algorithm.
pub(crate) fn fill_orthogonal(mut tensor: TensorMut<'_>, gain: f64, g: &mut impl Engine) -> Result<()> {
    if tensor.shape.len() < 2 {
        return Err(Error::value("Only tensors with 2 or more dimensions are supported"));
    }
    let numel = tensor.numel();
    if numel == 0 {
        return Ok(());
    }
    let rows = tensor.shape[0];
    let cols = numel / rows;
    dispatch_mut!(&mut tensor.data, |s| orthogonal_matrix(s, rows, cols, gain, g))
}

/// Fills the row-major `rows × cols` matrix `s` with `gain ·` a random (semi-)orthogonal
/// matrix: PyTorch's normal draws, QR, sign correction.
pub(crate) fn orthogonal_matrix<E: Element>(
    s: &mut [E],
    rows: usize,
    cols: usize,
    gain: f64,
    g: &mut impl Engine,
) -> Result<()> {
    g.normal(s, 0.0, 1.0);
    if matches!(E::DTYPE, DType::F16 | DType::BF16) {
        return Err(Error::DType { op: "\"geqrf_cpu\"", dtype: E::DTYPE.torch_type_name().into() });
    }
    if E::DTYPE == DType::F64 {
        sign_corrected_q::<f64, E>(s, rows, cols, gain, |x| x.to_f64(), |x| x);
    } else {
        sign_corrected_q::<f32, E>(s, rows, cols, gain, |x| x.to_f32(), |x| x as f64);
    }
    Ok(())
}

/// Replaces the row-major `rows × cols` matrix `s` by `gain ·` its sign-corrected Q factor
/// (transposed first when `rows < cols`), factored in `T`, the tensor's own precision (f32 or
/// f64), as PyTorch's LAPACK call is.
fn sign_corrected_q<T: faer::traits::RealField + Copy + PartialOrd + Default, E: Element>(
    s: &mut [E],
    rows: usize,
    cols: usize,
    gain: f64,
    narrow: impl Fn(E) -> T,
    widen: impl Fn(T) -> f64,
) {
    let transpose = rows < cols;
    let (m, k) = if transpose { (cols, rows) } else { (rows, cols) };
    let at = |i: usize, j: usize| if transpose { j * cols + i } else { i * cols + j };
    let mut mat = faer::Mat::<T>::zeros(m, k);
    in_tiles(m, k, |i, j| mat[(i, j)] = narrow(s[at(i, j)]));
    // faer's parallel QR splits the work by its thread count, which changes the rounding: a fixed
    // count of 2 gives the same result on any pool (1 thread runs the 2 tasks in turn), tested
    // for 1–8 threads. Below 512² elements the split costs more than it saves.
    let par = if m * k >= 1 << 18 { faer::Par::rayon(2) } else { faer::Par::Seq };
    // On one of the pool's threads, so faer's many fork-joins find a worker at hand instead of
    // each waking the pool from outside and sleeping until it is done (a `rayon::scope` called
    // from a worker runs in place).
    let (q, diag) = rayon::scope(|_| {
        let (basis, factor, diag) = householder_qr(mat, par);
        (thin_q(basis.as_ref(), factor.as_ref(), par), diag)
    });
    let zero = T::default();
    // Column j times sign(R[j, j]) (sign(0) = 0 zeroes it, as PyTorch's `d.sign()`).
    let signs: Vec<f64> = diag
        .iter()
        .map(|&d| {
            if d > zero {
                1.0
            } else if d < zero {
                -1.0
            } else {
                0.0
            }
        })
        .collect();
    in_tiles(m, k, |i, j| {
        let v = E::from_f64(widen(q[(i, j)]) * signs[j]);
        s[at(i, j)] = op(v, |x| x * gain as f32, |x| x * gain);
    });
}

/// Calls `f(i, j)` for every entry of an `m × k` matrix, in 64 × 64 tiles (down the columns
/// within a tile): a copy between a column-major matrix and a row-major buffer then stays in
/// cache instead of missing it on every strided access.
fn in_tiles(m: usize, k: usize, mut f: impl FnMut(usize, usize)) {
    const TILE: usize = 64;
    for j0 in (0..k).step_by(TILE) {
        for i0 in (0..m).step_by(TILE) {
            for j in j0..(j0 + TILE).min(k) {
                for i in i0..(i0 + TILE).min(m) {
                    f(i, j);
                }
            }
        }
    }
}

/// `A = QR` by `faer`'s blocked Householder QR (LAPACK `geqrf`): the Householder vectors (unit
/// lower trapezoidal, `m × k`), the block reflectors' triangular factors and `diag(R)`.
fn householder_qr<T: faer::traits::RealField + Copy>(
    mut a: faer::Mat<T>,
    par: faer::Par,
) -> (faer::Mat<T>, faer::Mat<T>, Vec<T>) {
    use faer::dyn_stack::{MemBuffer, MemStack};
    use faer::linalg::qr::no_pivoting::factor;
    let (m, k) = a.shape();
    let block = factor::recommended_blocksize::<T>(m, k);
    let mut t = faer::Mat::<T>::zeros(block, k);
    let scratch = factor::qr_in_place_scratch::<T>(m, k, block, par, Default::default());
    factor::qr_in_place(a.as_mut(), t.as_mut(), par, MemStack::new(&mut MemBuffer::new(scratch)), Default::default());
    let diag = (0..k).map(|j| a[(j, j)]).collect();
    // The basis: R's part replaced by the unit upper triangle the reflectors imply.
    for j in 0..k {
        for i in 0..j {
            a[(i, j)] = T::zero_impl();
        }
        a[(j, j)] = T::one_impl();
    }
    (a, t, diag)
}

/// The thin `Q` (`m × k`) of a blocked Householder QR (LAPACK `orgqr`): the block reflectors
/// applied to the identity's first `k` columns, last block first. The block starting at column
/// `j` leaves columns before `j` unchanged (they are zero in its rows), so it is applied to
/// `Q[j.., j..]` only: `4/3 k³` flops for a square matrix instead of `2 k³`.
fn thin_q<T: faer::traits::RealField + Copy>(
    basis: faer::MatRef<'_, T>,
    factor: faer::MatRef<'_, T>,
    par: faer::Par,
) -> faer::Mat<T> {
    use faer::dyn_stack::{MemBuffer, MemStack};
    use faer::linalg::householder;
    let (m, k) = basis.shape();
    let block = factor.nrows();
    let mut q = faer::Mat::<T>::identity(m, k);
    let scratch = householder::apply_block_householder_sequence_on_the_left_in_place_scratch::<T>(m, block, k);
    let mut mem = MemBuffer::new(scratch);
    let stack = MemStack::new(&mut mem);
    // Blocks as faer's `apply_block_householder_sequence_on_the_left_in_place_with_conj`
    // walks them: the last (partial) block first.
    let mut j = k;
    let mut size = if k % block == 0 { block } else { k % block };
    while j > 0 {
        let start = j - size;
        householder::apply_block_householder_on_the_left_in_place_with_conj(
            basis.get(start.., start..j),
            factor.get(.., start..j).subrows(0, size),
            faer::Conj::No,
            q.as_mut().get_mut(start.., start..),
            par,
            stack,
        );
        j = start;
        size = block;
    }
    q
}

/// `sparse_(tensor, sparsity, std=0.01)`: N(0, std²) with, in each column, `ceil(sparsity · rows)`
/// entries set to zero (Martens 2010). Draws the normal values first, then one
/// `randperm(rows)` per column, in column order, from the same generator (PyTorch draws the
/// permutations from its default generator).
///
/// PyTorch `torch.nn.init.sparse_`; `std` defaults to 0.01. Shapes: rank 2 `[rows, cols]`.
///
/// ```
/// # use nninit::{init::*, DType, Generator, Tensor};
/// let mut w = Tensor::zeros(&[10, 4], DType::F32);
/// sparse_(w.view_mut()?, 0.3, 0.01, &mut Generator::manual_seed(0))?;
/// let zeros = w.to_f64_vec().iter().filter(|x| **x == 0.0).count();
/// assert!(zeros >= 12); // ceil(0.3 · 10) = 3 per column
/// # Ok::<(), nninit::Error>(())
/// ```
///
/// # Errors
/// Rank ≠ 2: "Only tensors with 2 dimensions are supported"; `sparsity` outside `[0, 1]`; `std`
/// as [`normal_`].
pub fn sparse_(tensor: TensorMut<'_>, sparsity: f64, std: f64, g: &mut impl Engine) -> Result<()> {
    Init::Sparse { sparsity, std }.apply(tensor, g)
}

/// [`sparse_`]'s algorithm.
pub(crate) fn fill_sparse(mut tensor: TensorMut<'_>, sparsity: f64, std: f64, g: &mut impl Engine) -> Result<()> {
    let &[rows, cols] = tensor.shape else {
        return Err(Error::value("Only tensors with 2 dimensions are supported"));
    };
    if !(0.0..=1.0).contains(&sparsity) {
        return Err(Error::value(format!("sparsity must be in [0, 1], got {sparsity}")));
    }
    check_std(std)?;
    let num_zeros = ((sparsity * rows as f64).ceil() as usize).min(rows);
    dispatch_mut!(&mut tensor.data, |s| {
        g.normal(s, 0.0, std);
        for c in 0..cols {
            for r in g.randperm(rows).into_iter().take(num_zeros) {
                s[r * cols + c] = Element::from_f64(0.0);
            }
        }
    });
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::fmt_g;

    #[test]
    fn formats_like_cpp() {
        assert_eq!(fmt_g(1.0), "1");
        assert_eq!(fmt_g(-1.0), "-1");
        assert_eq!(fmt_g(0.5), "0.5");
        assert_eq!(fmt_g(3e38), "3e+38");
        assert_eq!(fmt_g(-3e38), "-3e+38");
        assert_eq!(fmt_g(0.0001), "0.0001");
        assert_eq!(fmt_g(1e-5), "1e-05");
        assert_eq!(fmt_g(123456.0), "123456");
        assert_eq!(fmt_g(1234567.0), "1.23457e+06");
    }
}
