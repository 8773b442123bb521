//! The variance-scaling family, written once per convention: PyTorch's (Xavier/Glorot,
//! Kaiming/He, LeCun with PyTorch's `[out, in, *k]` fans and operation order) and JAX's
//! `variance_scaling` (fans from `in_axis`/`out_axis`/`batch_axis`, truncated normal by default).

use super::draw::{Action, Draw};
use super::fan::{fan_in_and_fan_out, FanMode};
use crate::error::{Error, Result};
use crate::sample::Engine;
use crate::tensor::{DType, TensorMut};

/// Which fan the variance is scaled by.
///
/// ```
/// use nninit::init::{Distribution, Fan, FanMode, VarianceScaling};
/// let kaiming = VarianceScaling { gain: 1.0, fan: Fan::Mode(FanMode::FanOut), distribution: Distribution::Normal };
/// assert_eq!(kaiming.std(&[4, 9])?, 0.5);
/// # Ok::<(), nninit::Error>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fan {
    /// `fan_in` or `fan_out` (Kaiming/He, LeCun): `std = gain / sqrt(fan)`.
    Mode(FanMode),
    /// `(fan_in + fan_out) / 2` (Xavier/Glorot): `std = gain · sqrt(2 / (fan_in + fan_out))`.
    Avg,
}

/// The distribution the values are drawn from.
///
/// ```
/// use nninit::init::{Distribution, Draw, Fan, VarianceScaling};
/// let xavier = VarianceScaling { gain: 1.0, fan: Fan::Avg, distribution: Distribution::Normal };
/// assert_eq!(xavier.draw(&[2, 2])?, Draw::Normal { mean: 0.0, std: (2.0f64 / 4.0).sqrt() });
/// # Ok::<(), nninit::Error>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Distribution {
    /// `U(−bound, bound)` with `bound = sqrt(3) · std`.
    Uniform,
    /// `N(0, std²)`.
    Normal,
}

/// `Var(W) = gain² / fan`: the general mechanism behind `xavier_*`, `kaiming_*` and `lecun_*`
/// (JAX's `variance_scaling` with PyTorch's fans). Each formula keeps PyTorch's f64 operation
/// order, so the bounds are bit-identical to `torch.nn.init`'s:
///
/// * [`Fan::Mode`]: `std = gain / sqrt(fan)` (He et al. 2015, `kaiming_*`);
/// * [`Fan::Avg`]: `std = gain · sqrt(2.0 / (fan_in + fan_out))` (Glorot & Bengio 2010, `xavier_*`);
/// * uniform: `bound = sqrt(3.0) · std`.
///
/// ```
/// use nninit::init::{Distribution, Draw, Fan, FanMode, VarianceScaling};
/// let vs = VarianceScaling { gain: 2f64.sqrt(), fan: Fan::Mode(FanMode::FanIn), distribution: Distribution::Uniform };
/// assert_eq!(vs.std(&[16, 8])?, 2f64.sqrt() / 8f64.sqrt());
/// let bound = 3f64.sqrt() * (2f64.sqrt() / 8f64.sqrt());
/// assert_eq!(vs.draw(&[16, 8])?, Draw::Uniform { from: -bound, to: bound });
/// # Ok::<(), nninit::Error>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct VarianceScaling {
    /// Multiplies the standard deviation (see [`super::calculate_gain`]).
    pub gain: f64,
    /// The fan to scale by.
    pub fan: Fan,
    /// Uniform or normal.
    pub distribution: Distribution,
}

impl VarianceScaling {
    /// The standard deviation for a weight of `shape`.
    ///
    /// ```
    /// use nninit::init::{Distribution, Fan, VarianceScaling};
    /// let xavier = VarianceScaling { gain: 2.0, fan: Fan::Avg, distribution: Distribution::Uniform };
    /// assert_eq!(xavier.std(&[3, 5])?, 2.0 * (2.0f64 / 8.0).sqrt());
    /// # Ok::<(), nninit::Error>(())
    /// ```
    ///
    /// # Errors
    /// Rank < 2 (see [`fan_in_and_fan_out`]).
    pub fn std(&self, shape: &[usize]) -> Result<f64> {
        let (fan_in, fan_out) = fan_in_and_fan_out(shape)?;
        Ok(match self.fan {
            Fan::Mode(FanMode::FanIn) => self.gain / (fan_in as f64).sqrt(),
            Fan::Mode(FanMode::FanOut) => self.gain / (fan_out as f64).sqrt(),
            Fan::Avg => self.gain * (2.0 / (fan_in + fan_out) as f64).sqrt(),
        })
    }

    /// Fills `tensor`. A tensor with no elements is left as is and draws nothing: PyTorch's
    /// `kaiming_*` guard ("Initializing zero-element tensors is a no-op") checked before the fans,
    /// and for `xavier_*` after them (so rank < 2 still errors, and so does a negative gain, as
    /// PyTorch's `uniform_`/`normal_` check their arguments on empty tensors too; `[0, 0]`, where
    /// PyTorch divides by zero, is a no-op).
    ///
    /// ```
    /// use nninit::init::{Distribution, Fan, VarianceScaling};
    /// use nninit::{DType, Generator, Tensor};
    /// let mut w = Tensor::zeros(&[4, 4], DType::F32);
    /// let vs = VarianceScaling { gain: -1.0, fan: Fan::Avg, distribution: Distribution::Normal };
    /// let err = vs.init(w.view_mut()?, &mut Generator::manual_seed(0)).unwrap_err();
    /// assert_eq!(err.to_string(), "normal expects std >= 0.0, but found std -0.5");
    /// # Ok::<(), nninit::Error>(())
    /// ```
    ///
    /// # Errors
    /// Rank < 2; a derived bound or std that `uniform_`/`normal_` reject for the tensor's dtype.
    pub fn init(&self, mut tensor: TensorMut<'_>, g: &mut impl Engine) -> Result<()> {
        let action = self.action(tensor.shape, tensor.dtype())?;
        action.run(tensor.reborrow(), g)
    }

    /// What [`VarianceScaling::init`] draws for a tensor of `shape`: `U(−bound, bound)` or
    /// `N(0, std²)`, or nothing for an empty tensor.
    ///
    /// ```
    /// use nninit::init::{Distribution, Draw, Fan, FanMode, VarianceScaling};
    /// let vs = VarianceScaling { gain: 1.0, fan: Fan::Mode(FanMode::FanIn), distribution: Distribution::Normal };
    /// assert_eq!(vs.draw(&[0, 4])?, Draw::Nothing);
    /// # Ok::<(), nninit::Error>(())
    /// ```
    ///
    /// # Errors
    /// As [`VarianceScaling::init`], with f64's range for the bounds.
    pub fn draw(&self, shape: &[usize]) -> Result<Draw> {
        Ok(self.action(shape, DType::F64)?.draw())
    }

    /// The primitive, checked for `dtype` (see [`Action::checked`]).
    pub(crate) fn action(&self, shape: &[usize], dtype: DType) -> Result<Action> {
        let empty = shape.iter().product::<usize>() == 0;
        if empty && self.fan != Fan::Avg {
            return Ok(Action::Nothing);
        }
        let std = self.std(shape)?;
        let (fan_in, fan_out) = fan_in_and_fan_out(shape)?;
        if empty && fan_in + fan_out == 0 {
            return Ok(Action::Nothing);
        }
        let action = match self.distribution {
            Distribution::Uniform => {
                let bound = 3f64.sqrt() * std;
                Action::Uniform { from: -bound, to: bound }
            }
            Distribution::Normal => Action::Normal { mean: 0.0, std },
        };
        // An empty tensor still has its arguments checked (PyTorch's `uniform_`/`normal_` do).
        let action = action.checked(dtype)?;
        Ok(if empty { Action::Nothing } else { action })
    }
}

macro_rules! str_enum {
    ($(#[$meta:meta])* $name:ident, $what:literal, { $($(#[$vmeta:meta])* $variant:ident = $text:literal),* $(,)? }) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum $name {
            $($(#[$vmeta])* $variant),*
        }

        impl std::str::FromStr for $name {
            type Err = Error;
            /// JAX's spelling; anything else is JAX's `ValueError` text.
            fn from_str(s: &str) -> Result<Self> {
                match s {
                    $($text => Ok($name::$variant),)*
                    other => Err(Error::value(format!(concat!("invalid ", $what, " for variance scaling initializer: {}"), other))),
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(match self { $($name::$variant => $text),* })
            }
        }
    };
}

str_enum!(
    /// JAX's `mode`: the denominator of the variance.
    ///
    /// ```
    /// use nninit::init::VarianceMode;
    /// assert_eq!("fan_avg".parse::<VarianceMode>()?, VarianceMode::FanAvg);
    /// assert_eq!(
    ///     "fan_sum".parse::<VarianceMode>().unwrap_err().to_string(),
    ///     "invalid mode for variance scaling initializer: fan_sum"
    /// );
    /// # Ok::<(), nninit::Error>(())
    /// ```
    VarianceMode, "mode", {
        /// `fan_in`.
        FanIn = "fan_in",
        /// `fan_out`.
        FanOut = "fan_out",
        /// `(fan_in + fan_out) / 2`.
        FanAvg = "fan_avg",
        /// `(fan_in · fan_out) ** 0.5`.
        FanGeoAvg = "fan_geo_avg",
    }
);

str_enum!(
    /// JAX's `distribution`.
    ///
    /// ```
    /// use nninit::init::JaxDistribution;
    /// assert_eq!("truncated_normal".parse::<JaxDistribution>()?, JaxDistribution::TruncatedNormal);
    /// # Ok::<(), nninit::Error>(())
    /// ```
    JaxDistribution, "distribution", {
        /// N(0, σ²) truncated to ±2σ, σ corrected so that the truncated std is `sqrt(variance)`.
        TruncatedNormal = "truncated_normal",
        /// N(0, variance).
        Normal = "normal",
        /// U(−sqrt(3·variance), sqrt(3·variance)).
        Uniform = "uniform",
    }
);

/// Std of the standard normal truncated to (−2, 2), JAX's constant: the parent std is
/// `sqrt(variance) / TRUNCATED_STD` so that the truncated values have std `sqrt(variance)`.
///
/// ```
/// use nninit::init::{Init, TRUNCATED_STD};
/// // N(0, 1) truncated to ±2 has std TRUNCATED_STD.
/// let std = Init::TruncNormal { mean: 0.0, std: 1.0, a: -2.0, b: 2.0 }.expected_std(&[4]).unwrap();
/// assert!((std - TRUNCATED_STD).abs() < 1e-12);
/// ```
pub const TRUNCATED_STD: f64 = 0.879_625_661_034_239_8;

/// Fan-in and fan-out as JAX's `_compute_fans(shape, in_axis, out_axis, batch_axis)`
/// (`jax/_src/nn/initializers.py`), in f64 as JAX computes them:
///
/// `in_size = prod(shape[in_axis])`, `out_size = prod(shape[out_axis])`,
/// `batch_size = prod(shape[batch_axis])`,
/// `receptive = numel / in_size / out_size / batch_size` (three float divisions, in that order),
/// `fan_in = in_size · receptive`, `fan_out = out_size · receptive`.
///
/// JAX's defaults `in_axis=-2, out_axis=-1` fit its `[..., in, out]` layouts (a Dense kernel
/// `[in, out]`, a conv kernel `[*k, in, out]`). For PyTorch's `[out, in, *k]` pass `in_axis=1,
/// out_axis=0`; with the defaults a PyTorch Linear weight `[out, in]` gets `fan_in = out`.
///
/// ```
/// use nninit::init::jax_fans;
/// assert_eq!(jax_fans(&[3, 3, 16, 32], &[-2], &[-1], &[])?, (144.0, 288.0));
/// assert_eq!(jax_fans(&[32, 16, 3, 3], &[1], &[0], &[])?, (144.0, 288.0));
/// # Ok::<(), nninit::Error>(())
/// ```
///
/// # Errors
/// Rank < 2 with the default `in_axis`: "Can't compute input and output sizes of a
/// 1-dimensional weights tensor with default in_axis. Must be at least 2D or specify in_axis
/// explicitly." (JAX's text); an axis outside `[-rank, rank)`.
pub fn jax_fans(shape: &[usize], in_axis: &[isize], out_axis: &[isize], batch_axis: &[isize]) -> Result<(f64, f64)> {
    let rank = shape.len();
    if rank <= 1 && in_axis == [-2] {
        return Err(Error::value(format!(
            "Can't compute input and output sizes of a {rank}-dimensional weights tensor with default in_axis. \
             Must be at least 2D or specify in_axis explicitly."
        )));
    }
    let size = |param: &str, axes: &[isize]| -> Result<f64> {
        let mut product = 1usize;
        for &axis in axes {
            let i = if axis < 0 { axis + rank as isize } else { axis };
            if i < 0 || i >= rank as isize {
                return Err(Error::value(format!("{param}={axis} is out of range for a weight of rank {rank}")));
            }
            product *= shape[i as usize];
        }
        Ok(product as f64)
    };
    let in_size = size("in_axis", in_axis)?;
    let out_size = size("out_axis", out_axis)?;
    let batch_size = size("batch_axis", batch_axis)?;
    let total = shape.iter().product::<usize>() as f64;
    let receptive = total / in_size / out_size / batch_size;
    Ok((in_size * receptive, out_size * receptive))
}

/// JAX's `variance_scaling(scale, mode, distribution, in_axis, out_axis, batch_axis)`
/// (`jax.nn.initializers`), with JAX's f64 operation order:
///
/// `variance = scale / denominator` (`fan_in`, `fan_out`, `(fan_in + fan_out) / 2` or
/// `(fan_in · fan_out) ** 0.5`), then
/// * `truncated_normal`: N(0, σ²) truncated to [−2σ, 2σ], `σ = sqrt(variance) / 0.87962566103423978`;
/// * `normal`: N(0, variance), std `sqrt(variance)`;
/// * `uniform`: U(−b, b), `b = sqrt(3 · variance)`.
///
/// ```
/// use nninit::init::{JaxDistribution, JaxVarianceScaling, VarianceMode};
/// let vs = JaxVarianceScaling {
///     scale: 2.0,
///     mode: VarianceMode::FanIn,
///     distribution: JaxDistribution::Normal,
///     in_axis: &[-2],
///     out_axis: &[-1],
///     batch_axis: &[],
/// };
/// assert_eq!(vs.std(&[8, 4])?, (2.0f64 / 8.0).sqrt());
/// # Ok::<(), nninit::Error>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct JaxVarianceScaling<'a> {
    /// Scales the variance (`gain²` in PyTorch's terms).
    pub scale: f64,
    /// The denominator.
    pub mode: VarianceMode,
    /// The distribution.
    pub distribution: JaxDistribution,
    /// Axes of the input dimension.
    pub in_axis: &'a [isize],
    /// Axes of the output dimension.
    pub out_axis: &'a [isize],
    /// Axes ignored by the fans.
    pub batch_axis: &'a [isize],
}

impl JaxVarianceScaling<'_> {
    /// `scale / denominator` for a weight of `shape`. Errors as [`jax_fans`].
    ///
    /// ```
    /// use nninit::init::{JaxDistribution, JaxVarianceScaling, VarianceMode};
    /// let vs = JaxVarianceScaling {
    ///     scale: 1.0,
    ///     mode: VarianceMode::FanAvg,
    ///     distribution: JaxDistribution::Uniform,
    ///     in_axis: &[-2],
    ///     out_axis: &[-1],
    ///     batch_axis: &[],
    /// };
    /// assert_eq!(vs.variance(&[2, 6])?, 0.25);
    /// # Ok::<(), nninit::Error>(())
    /// ```
    pub fn variance(&self, shape: &[usize]) -> Result<f64> {
        let (fan_in, fan_out) = jax_fans(shape, self.in_axis, self.out_axis, self.batch_axis)?;
        let denominator = match self.mode {
            VarianceMode::FanIn => fan_in,
            VarianceMode::FanOut => fan_out,
            VarianceMode::FanAvg => (fan_in + fan_out) / 2.0,
            VarianceMode::FanGeoAvg => (fan_in * fan_out).powf(0.5),
        };
        Ok(self.scale / denominator)
    }

    /// The std of the values (after truncation): `sqrt(variance)`. Errors as [`jax_fans`].
    ///
    /// ```
    /// use nninit::init::{JaxDistribution, JaxVarianceScaling, VarianceMode};
    /// let he = JaxVarianceScaling {
    ///     scale: 2.0,
    ///     mode: VarianceMode::FanIn,
    ///     distribution: JaxDistribution::TruncatedNormal,
    ///     in_axis: &[-2],
    ///     out_axis: &[-1],
    ///     batch_axis: &[],
    /// };
    /// assert_eq!(he.std(&[8, 3])?, 0.5);
    /// # Ok::<(), nninit::Error>(())
    /// ```
    pub fn std(&self, shape: &[usize]) -> Result<f64> {
        Ok(self.variance(shape)?.sqrt())
    }

    /// The unchecked primitive. An empty tensor draws nothing (JAX divides by zero there).
    pub(crate) fn action(&self, shape: &[usize]) -> Result<Action> {
        // JAX: "`scale` must be a positive float".
        if self.scale.is_nan() || self.scale <= 0.0 {
            return Err(Error::value(format!(
                "`scale` must be a positive float, got {}",
                super::functions::fmt_g(self.scale)
            )));
        }
        if shape.iter().product::<usize>() == 0 {
            jax_fans(shape, self.in_axis, self.out_axis, self.batch_axis)?;
            return Ok(Action::Nothing);
        }
        let variance = self.variance(shape)?;
        Ok(match self.distribution {
            JaxDistribution::TruncatedNormal => {
                let std = variance.sqrt() / TRUNCATED_STD;
                Action::TruncNormal { mean: 0.0, std, a: -2.0 * std, b: 2.0 * std }
            }
            JaxDistribution::Normal => Action::Normal { mean: 0.0, std: variance.sqrt() },
            JaxDistribution::Uniform => {
                let bound = (3.0 * variance).sqrt();
                Action::Uniform { from: -bound, to: bound }
            }
        })
    }
}
