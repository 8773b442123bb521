//! What an init draws, resolved for one tensor's shape and dtype: the one place where a scheme's
//! arguments become a primitive.
//!
//! Every elementwise random scheme reduces to one `uniform_` or `normal_` call with computed
//! arguments (`kaiming_uniform_` is `uniform_(−bound, bound)`, ...), and PyTorch's samplers draw
//! the same words whether a tensor is filled at once or in consecutive chunks (of a multiple of
//! 16 elements for `normal_`, the last one holding at least 16). That is what lets the checkpoint
//! writer generate a tensor chunk by chunk, straight into the file.

use super::depth;
use super::fan::{calculate_gain, fan_in_and_fan_out, FanMode};
use super::functions::{check_constant, check_std, check_trunc_normal, check_uniform, fill};
use super::scheme::Init;
use super::structured;
use super::variance::{Distribution, Fan, JaxDistribution, JaxVarianceScaling, VarianceMode, VarianceScaling};
use crate::error::Result;
use crate::sample::Engine;
use crate::tensor::{DType, Element, TensorMut};

/// An init resolved for one tensor: what [`Init::apply`] does to it, as a single primitive.
///
/// ```
/// use nninit::init::{Draw, Init};
/// use nninit::DType;
/// let draw = Init::KaimingUniform {
///     a: 0.0,
///     mode: nninit::init::FanMode::FanIn,
///     nonlinearity: nninit::init::Nonlinearity::Relu,
/// }
/// .draw(&[8, 2], DType::F32)?;
/// assert_eq!(draw, Draw::Uniform { from: -(3f64.sqrt() * (2f64.sqrt() / 2f64.sqrt())), to: 3f64.sqrt() });
/// # Ok::<(), nninit::Error>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Draw {
    /// Nothing is written or drawn (an empty tensor).
    Nothing,
    /// Every element `(T) value`; no draws.
    Fill(f64),
    /// `uniform_(from, to)`.
    Uniform {
        /// Lower bound.
        from: f64,
        /// Upper bound.
        to: f64,
    },
    /// `normal_(mean, std)`.
    Normal {
        /// Mean.
        mean: f64,
        /// Standard deviation.
        std: f64,
    },
    /// Needs the whole tensor at once (`trunc_normal_`'s rejection rounds, `orthogonal_`'s QR,
    /// `sparse_`'s per-column permutations, `eye_`, `dirac_`, ...): apply the [`Init`] itself.
    Whole,
}

impl Draw {
    /// Fills `out` (a whole tensor, or a chunk of one as described in the module docs) with
    /// this primitive. [`Draw::Whole`] and [`Draw::Nothing`] write nothing.
    ///
    /// ```
    /// use nninit::init::Draw;
    /// let mut out = [0f32; 3];
    /// Draw::Fill(0.5).fill(&mut out, &mut nninit::Generator::manual_seed(0));
    /// assert_eq!(out, [0.5; 3]);
    /// ```
    pub fn fill<E: Element>(&self, out: &mut [E], g: &mut impl Engine) {
        match *self {
            Draw::Nothing | Draw::Whole => {}
            Draw::Fill(v) => fill(out, v),
            Draw::Uniform { from, to } => g.uniform(out, from, to),
            Draw::Normal { mean, std } => g.normal(out, mean, std),
        }
    }
}

/// The full resolution of an init: a [`Draw`] primitive, or a whole-tensor algorithm with its
/// computed arguments. [`Init::draw`] is its public, chunkable view.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum Action {
    Nothing,
    Fill(f64),
    Uniform { from: f64, to: f64 },
    Normal { mean: f64, std: f64 },
    TruncNormal { mean: f64, std: f64, a: f64, b: f64 },
    Orthogonal { gain: f64 },
    DeltaOrthogonal { gain: f64 },
    Sparse { sparsity: f64, std: f64 },
    Eye { value: f64 },
    Dirac { groups: usize, value: f64 },
    ZerO,
}

impl Action {
    /// Checks the computed arguments as the sampler they go to does for `dtype` (PyTorch's
    /// `uniform_`/`normal_`/`fill_` checks): where a scheme derives a bound or std from its
    /// arguments, a bad one is reported in the sampler's words (case P2:
    /// `xavier_uniform_(gain=-1)` on `[4, 4]` gives "uniform_ expects to return a [from, to)
    /// range, but found from=0.866025 > to=-0.866025").
    pub(crate) fn checked(self, dtype: DType) -> Result<Action> {
        match self {
            Action::Uniform { from, to } => check_uniform(dtype, from, to)?,
            Action::Normal { std, .. } => check_std(std)?,
            Action::Fill(v) | Action::Eye { value: v } | Action::Dirac { value: v, .. } => check_constant(dtype, v)?,
            Action::TruncNormal { mean, std, a, b } => check_trunc_normal(mean, std, a, b)?,
            Action::Nothing
            | Action::Orthogonal { .. }
            | Action::DeltaOrthogonal { .. }
            | Action::Sparse { .. }
            | Action::ZerO => {}
        }
        Ok(self)
    }

    /// The chunkable primitive, or [`Draw::Whole`].
    pub(crate) fn draw(self) -> Draw {
        match self {
            Action::Nothing => Draw::Nothing,
            Action::Fill(v) => Draw::Fill(v),
            Action::Uniform { from, to } => Draw::Uniform { from, to },
            Action::Normal { mean, std } => Draw::Normal { mean, std },
            _ => Draw::Whole,
        }
    }

    /// Fills `tensor` (whose shape and dtype this action was resolved for).
    pub(crate) fn run(self, mut tensor: TensorMut<'_>, g: &mut impl Engine) -> Result<()> {
        use super::functions as f;
        match self {
            Action::TruncNormal { mean, std, a, b } => f::fill_trunc_normal(tensor, mean, std, a, b, g),
            Action::Orthogonal { gain } => f::fill_orthogonal(tensor, gain, g),
            Action::DeltaOrthogonal { gain } => structured::fill_delta_orthogonal(tensor, gain, g),
            Action::Sparse { sparsity, std } => f::fill_sparse(tensor, sparsity, std, g),
            Action::Eye { value } => f::fill_eye(tensor, value),
            Action::Dirac { groups, value } => f::fill_dirac(tensor, groups, value),
            Action::ZerO => structured::fill_zero_init(tensor),
            Action::Nothing | Action::Fill(_) | Action::Uniform { .. } | Action::Normal { .. } => {
                let draw = self.draw();
                crate::dispatch_mut!(&mut tensor.data, |s| draw.fill(s, g));
                Ok(())
            }
        }
    }

    /// The population std of what this action writes into a tensor of `shape`.
    pub(crate) fn expected_std(self, shape: &[usize]) -> Option<f64> {
        match self {
            Action::Nothing | Action::Eye { .. } | Action::Dirac { .. } | Action::ZerO => None,
            Action::Fill(_) => Some(0.0),
            Action::Uniform { from, to } => Some((to - from) / 12f64.sqrt()),
            Action::Normal { std, .. } => Some(std),
            Action::TruncNormal { mean, std, a, b } => Some(truncated_normal_std(mean, std, a, b)),
            Action::Orthogonal { gain } => {
                let rows = *shape.first()?;
                let cols = shape.iter().product::<usize>() / rows.max(1);
                Some(gain / (rows.max(cols) as f64).sqrt())
            }
            Action::DeltaOrthogonal { gain } => {
                // `in` orthonormal columns of length `out` at one of `numel / (out · in)` positions.
                let numel: usize = shape.iter().product();
                Some(gain * (shape.get(1).copied()? as f64 / numel as f64).sqrt())
            }
            Action::Sparse { sparsity, std } => {
                let &[rows, _] = shape else { return None };
                let zeros = (sparsity * rows as f64).ceil().min(rows as f64);
                Some(std * (1.0 - zeros / rows.max(1) as f64).sqrt())
            }
        }
    }
}

/// Std of N(mean, std²) truncated to [a, b].
/// Std of N(0, 1) truncated to `[al, be]` far in a tail, where the closed form's Φ differences
/// underflow: with `x = t + u` (`t` the bound nearest the mode) the density is proportional to
/// `exp(−t·u − u²/2)`, whose moments are integrated by Simpson's rule over the range where it is
/// not negligible.
fn tail_std(al: f64, be: f64) -> f64 {
    let (t, len) = if al > 0.0 { (al, be - al) } else { (-be, be - al) };
    // exp(−t·u − u²/2) < 1e-30 beyond u = 70 / t (or √140 near t = 0).
    let len = len.min((70.0 / t).min(140f64.sqrt()).max(1e-300));
    let n = 4000;
    let h = len / n as f64;
    let (mut m0, mut m1, mut m2) = (0.0, 0.0, 0.0);
    for i in 0..=n {
        let u = i as f64 * h;
        let w = if i == 0 || i == n {
            1.0
        } else if i % 2 == 1 {
            4.0
        } else {
            2.0
        };
        let d = w * (-t * u - 0.5 * u * u).exp();
        (m0, m1, m2) = (m0 + d, m1 + d * u, m2 + d * u * u);
    }
    let mean = m1 / m0;
    (m2 / m0 - mean * mean).max(0.0).sqrt()
}

fn truncated_normal_std(mean: f64, std: f64, a: f64, b: f64) -> f64 {
    let pdf = |x: f64| (-0.5 * x * x).exp() / (2.0 * std::f64::consts::PI).sqrt();
    let cdf = |x: f64| 0.5 * (1.0 + libm::erf(x / 2f64.sqrt()));
    let (al, be) = ((a - mean) / std, (b - mean) / std);
    if al > 5.0 || be < -5.0 {
        return std * tail_std(al, be);
    }
    let z = cdf(be) - cdf(al);
    if z <= 0.0 {
        return 0.0;
    }
    let t1 = (al * pdf(al) - be * pdf(be)) / z;
    let t2 = (pdf(al) - pdf(be)) / z;
    std * (1.0 + t1 - t2 * t2).max(0.0).sqrt()
}

impl Init {
    /// Resolves this init for a tensor of `shape` and `dtype`: the one place where a scheme
    /// becomes what it draws (the variance-scaling mapping included), checking its arguments
    /// as [`Init::apply`] does. A derived bound or std goes through the same checks as
    /// `uniform_`/`normal_`'s own arguments, with PyTorch's messages:
    ///
    /// ```
    /// use nninit::init::{Draw, Init};
    /// use nninit::DType;
    /// let err = Init::XavierUniform { gain: -1.0 }.draw(&[4, 4], DType::F32).unwrap_err();
    /// assert_eq!(err.to_string(), "uniform_ expects to return a [from, to) range, but found from=0.866025 > to=-0.866025");
    /// let err = Init::XavierNormal { gain: -1.0 }.draw(&[4, 4], DType::F32).unwrap_err();
    /// assert_eq!(err.to_string(), "normal expects std >= 0.0, but found std -0.5");
    /// assert_eq!(Init::Zeros.draw(&[4, 4], DType::F32)?, Draw::Fill(0.0));
    /// # Ok::<(), nninit::Error>(())
    /// ```
    ///
    /// Schemes that need the whole tensor resolve to [`Draw::Whole`]; their shape checks (rank,
    /// divisibility) happen when applied.
    ///
    /// # Errors
    /// Those of the function called: bad bounds or std (given or derived), fans of a rank < 2
    /// shape, a bad gain, a layer count of 0.
    pub fn draw(&self, shape: &[usize], dtype: DType) -> Result<Draw> {
        Ok(self.action(shape, dtype)?.draw())
    }

    /// The checked [`Action`] for a tensor of `shape` and `dtype`.
    pub(crate) fn action(&self, shape: &[usize], dtype: DType) -> Result<Action> {
        let torch = |gain: f64, fan: Fan, distribution: Distribution| {
            VarianceScaling { gain, fan, distribution }.action(shape, dtype)
        };
        let jax = |scale: f64, mode, distribution, in_axis: &[isize], out_axis: &[isize], batch_axis: &[isize]| {
            JaxVarianceScaling { scale, mode, distribution, in_axis, out_axis, batch_axis }.action(shape)
        };
        use Distribution::{Normal as TorchNormal, Uniform as TorchUniform};
        use JaxDistribution::{TruncatedNormal, Uniform as JaxUniform};
        use VarianceMode::{FanAvg, FanIn};
        let fan_in = FanMode::FanIn;
        let action = match *self {
            Init::Uniform { a, b } => Action::Uniform { from: a, to: b },
            Init::Normal { mean, std } => Action::Normal { mean, std },
            Init::TruncNormal { mean, std, a, b } => Action::TruncNormal { mean, std, a, b },
            Init::Constant { val } => Action::Fill(val),
            Init::Ones => Action::Fill(1.0),
            Init::Zeros => Action::Fill(0.0),
            Init::Eye => Action::Eye { value: 1.0 },
            Init::Dirac { groups } => Action::Dirac { groups, value: 1.0 },
            Init::Orthogonal { gain } => Action::Orthogonal { gain },
            Init::Sparse { sparsity, std } => Action::Sparse { sparsity, std },
            Init::XavierUniform { gain } => torch(gain, Fan::Avg, TorchUniform)?,
            Init::XavierNormal { gain } => torch(gain, Fan::Avg, TorchNormal)?,
            Init::KaimingUniform { a, mode, nonlinearity } => {
                torch(calculate_gain(nonlinearity, Some(a))?, Fan::Mode(mode), TorchUniform)?
            }
            Init::KaimingNormal { a, mode, nonlinearity } => {
                torch(calculate_gain(nonlinearity, Some(a))?, Fan::Mode(mode), TorchNormal)?
            }
            Init::LecunUniform => torch(1.0, Fan::Mode(fan_in), TorchUniform)?,
            Init::LecunNormal => torch(1.0, Fan::Mode(fan_in), TorchNormal)?,
            Init::VarianceScaling { scale, mode, distribution, ref in_axis, ref out_axis, ref batch_axis } => {
                jax(scale, mode, distribution, in_axis, out_axis, batch_axis)?
            }
            Init::GlorotUniform { ref in_axis, ref out_axis, ref batch_axis } => {
                jax(1.0, FanAvg, JaxUniform, in_axis, out_axis, batch_axis)?
            }
            Init::GlorotNormal { ref in_axis, ref out_axis, ref batch_axis } => {
                jax(1.0, FanAvg, TruncatedNormal, in_axis, out_axis, batch_axis)?
            }
            Init::HeUniform { ref in_axis, ref out_axis, ref batch_axis } => {
                jax(2.0, FanIn, JaxUniform, in_axis, out_axis, batch_axis)?
            }
            Init::HeNormal { ref in_axis, ref out_axis, ref batch_axis } => {
                jax(2.0, FanIn, TruncatedNormal, in_axis, out_axis, batch_axis)?
            }
            Init::JaxLecunUniform { ref in_axis, ref out_axis, ref batch_axis } => {
                jax(1.0, FanIn, JaxUniform, in_axis, out_axis, batch_axis)?
            }
            Init::JaxLecunNormal { ref in_axis, ref out_axis, ref batch_axis } => {
                jax(1.0, FanIn, TruncatedNormal, in_axis, out_axis, batch_axis)?
            }
            Init::DeltaOrthogonal { gain } => Action::DeltaOrthogonal { gain },
            Init::Identity { gain } => structured::identity_action(shape, gain)?,
            Init::ZerO => Action::ZerO,
            Init::ScaledNormal { std, n_layers } => {
                Action::Normal { mean: 0.0, std: depth::scaled_normal_std(std, n_layers)? }
            }
            Init::SmallInit { dim } => Action::Normal { mean: 0.0, std: depth::small_init_std(dim)? },
            Init::WangInit { n_layers, dim } => Action::Normal { mean: 0.0, std: depth::wang_init_std(n_layers, dim)? },
            Init::OlmoMitchell { d, layer_id, std_factor } => {
                let std = depth::olmo_mitchell_std(d, layer_id, std_factor)?;
                Action::TruncNormal { mean: 0.0, std, a: -3.0 * std, b: 3.0 * std }
            }
            Init::DeepNorm { encoder_layers, decoder_layers, stack } => {
                let (_, beta) = depth::deepnorm_alpha_beta(encoder_layers, decoder_layers, stack)?;
                torch(beta, Fan::Avg, TorchNormal)?
            }
            Init::Fixup { n_branches, m } => {
                let scale = depth::fixup_scale(n_branches, m)?;
                if shape.iter().product::<usize>() == 0 {
                    fan_in_and_fan_out(shape)?;
                    Action::Nothing
                } else {
                    let (_, fan_out) = fan_in_and_fan_out(shape)?;
                    Action::Normal { mean: 0.0, std: (2.0 / fan_out as f64).sqrt() * scale }
                }
            }
            Init::TFixup { n_layers, stack } => torch(depth::t_fixup_scale(n_layers, stack)?, Fan::Avg, TorchUniform)?,
            Init::MupNormal { base_fan_in, std, readout } => {
                let (fan_in, _) = fan_in_and_fan_out(shape)?;
                if fan_in == 0 {
                    Action::Nothing
                } else {
                    Action::Normal { mean: 0.0, std: depth::mup_std(std, base_fan_in, fan_in, readout)? }
                }
            }
        };
        action.checked(dtype)
    }
}

#[cfg(test)]
mod tail_tests {
    use super::*;

    /// Far in a tail the closed form underflows; the integrated std agrees with it where both
    /// work, and with the asymptote from Mills' ratio far out; never 0 for a real interval.
    #[test]
    fn truncated_std_in_far_tails() {
        let closed = |a: f64, b: f64| {
            let pdf = |x: f64| (-0.5 * x * x).exp() / (2.0 * std::f64::consts::PI).sqrt();
            let cdf = |x: f64| 0.5 * (1.0 + libm::erf(x / 2f64.sqrt()));
            let z = cdf(b) - cdf(a);
            let (t1, t2) = ((a * pdf(a) - b * pdf(b)) / z, (pdf(a) - pdf(b)) / z);
            (1.0 + t1 - t2 * t2).sqrt()
        };
        for (a, b) in [(3.0, 4.0), (4.0, 9.0), (2.5, 2.6), (-4.0, -3.0)] {
            assert!((tail_std(a, b) - closed(a, b)).abs() < 1e-7, "{a}..{b}: {} vs {}", tail_std(a, b), closed(a, b));
        }
        let s40 = truncated_normal_std(0.0, 1.0, 40.0, 1e4);
        // Var = 1 + tλ − λ² with Mills' λ = t + 1/t − 2/t³ + ...: std ≈ (1/t)(1 − 3/t²).
        assert!((s40 - (1.0 - 3.0 / 1600.0) / 40.0).abs() < 1e-6, "{s40}");
        let s10 = truncated_normal_std(0.0, 1.0, 10.0, 11.0);
        assert!((0.095..0.1).contains(&s10), "{s10}");
        assert!((truncated_normal_std(0.0, 2.0, -2e4, -80.0) - 2.0 * s40).abs() < 1e-9);
    }
}
