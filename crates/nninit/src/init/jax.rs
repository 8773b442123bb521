//! JAX's `jax.nn.initializers.variance_scaling` and its named instances, as one-line wrappers.
//!
//! JAX's default axes (`in_axis=-2, out_axis=-1`) fit its `[..., in, out]` kernels; for a
//! PyTorch-layout weight `[out, in, *k]` pass `in_axis=1, out_axis=0` (see
//! [`jax_fans`](super::jax_fans)). JAX's `glorot_normal`, `he_normal` and `lecun_normal` are
//! truncated normals; PyTorch's `xavier_normal_`/`kaiming_normal_`/`lecun_normal_` are not.

use super::scheme::Init;
use super::variance::{JaxDistribution, VarianceMode};
use crate::error::Result;
use crate::sample::Engine;
use crate::tensor::TensorMut;

/// `variance_scaling_(tensor, scale, mode, distribution, in_axis=-2, out_axis=-1, batch_axis=())`:
/// JAX's `jax.nn.initializers.variance_scaling` (`jax/_src/nn/initializers.py`).
///
/// `variance = scale / n`, `n` = `fan_in`, `fan_out`, `(fan_in + fan_out) / 2` or
/// `(fan_in · fan_out) ** 0.5` by `mode` (`fan_in`, `fan_out`, `fan_avg`, `fan_geo_avg`), with
/// JAX's fans ([`jax_fans`](super::jax_fans)); then by `distribution`:
/// * `truncated_normal`: N(0, σ²) truncated to [−2σ, 2σ], `σ = sqrt(variance) / 0.87962566103423978`
///   (so the values' std is `sqrt(variance)`); drawn by [`trunc_normal_`](super::trunc_normal_);
/// * `normal`: N(0, variance);
/// * `uniform`: U(−sqrt(3 · variance), sqrt(3 · variance)).
///
/// Arguments: `scale` (> 0), `mode` ([`VarianceMode`]), `distribution` ([`JaxDistribution`]),
/// `in_axis` / `out_axis` (axes of the input / output dimension; default −2 / −1), `batch_axis`
/// (axes the fans ignore; default none). Shapes: rank ≥ 2; an empty tensor draws nothing.
///
/// ```
/// # use nninit::{init::*, DType, Generator, Tensor};
/// // A PyTorch conv weight [out, in, kh, kw]: in_axis=1, out_axis=0.
/// let mut w = Tensor::zeros(&[32, 16, 3, 3], DType::F32);
/// let mut g = Generator::manual_seed(0);
/// variance_scaling_(w.view_mut()?, 2.0, VarianceMode::FanIn, JaxDistribution::TruncatedNormal, &[1], &[0], &[], &mut g)?;
/// let init: Init = "variance_scaling_(2.0, 'fan_in', 'truncated_normal', in_axis=1, out_axis=0)".parse()?;
/// let std = init.expected_std(&[32, 16, 3, 3]).unwrap();
/// assert!((std - (2.0f64 / 144.0).sqrt()).abs() < 1e-12);
/// # Ok::<(), nninit::Error>(())
/// ```
///
/// # Errors
/// Rank < 2 with the default `in_axis` (JAX's "Can't compute input and output sizes of a
/// 1-dimensional weights tensor with default in_axis. ..."); an axis out of range; a derived std or bound that `normal_`/`uniform_`
/// reject (a negative `scale` gives a NaN std: "normal expects std >= 0.0, but found std nan").
#[allow(clippy::too_many_arguments)] // JAX's signature
pub fn variance_scaling_(
    tensor: TensorMut<'_>,
    scale: f64,
    mode: VarianceMode,
    distribution: JaxDistribution,
    in_axis: &[isize],
    out_axis: &[isize],
    batch_axis: &[isize],
    g: &mut impl Engine,
) -> Result<()> {
    let (in_axis, out_axis, batch_axis) = (in_axis.to_vec(), out_axis.to_vec(), batch_axis.to_vec());
    Init::VarianceScaling { scale, mode, distribution, in_axis, out_axis, batch_axis }.apply(tensor, g)
}

macro_rules! named_instance {
    ($(#[$meta:meta])* $fn:ident, $variant:ident) => {
        $(#[$meta])*
        ///
        /// Arguments: `in_axis` (default −2), `out_axis` (default −1), `batch_axis` (default none),
        /// as [`variance_scaling_`]. Shapes and errors as [`variance_scaling_`].
        pub fn $fn(
            tensor: TensorMut<'_>,
            in_axis: &[isize],
            out_axis: &[isize],
            batch_axis: &[isize],
            g: &mut impl Engine,
        ) -> Result<()> {
            let (in_axis, out_axis, batch_axis) = (in_axis.to_vec(), out_axis.to_vec(), batch_axis.to_vec());
            Init::$variant { in_axis, out_axis, batch_axis }.apply(tensor, g)
        }
    };
}

named_instance!(
    /// `glorot_uniform_(tensor, in_axis=-2, out_axis=-1, batch_axis=())`: JAX's `glorot_uniform`,
    /// `variance_scaling(1.0, 'fan_avg', 'uniform')` (Glorot & Bengio 2010): U(−b, b),
    /// `b = sqrt(3 / ((fan_in + fan_out) / 2))`.
    ///
    /// ```
    /// # use nninit::{init::*, DType, Generator, Tensor};
    /// let mut w = Tensor::zeros(&[4, 6], DType::F32); // JAX layout [in, out]
    /// glorot_uniform_(w.view_mut()?, &[-2], &[-1], &[], &mut Generator::manual_seed(0))?;
    /// assert!(w.to_f64_vec().iter().all(|x| x.abs() <= (3.0f64 / 5.0).sqrt()));
    /// # Ok::<(), nninit::Error>(())
    /// ```
    glorot_uniform_,
    GlorotUniform
);

named_instance!(
    /// `glorot_normal_(tensor, in_axis=-2, out_axis=-1, batch_axis=())`: JAX's `glorot_normal`,
    /// `variance_scaling(1.0, 'fan_avg', 'truncated_normal')` (Glorot & Bengio 2010): values
    /// within ±2σ with std `sqrt(2 / (fan_in + fan_out))`.
    ///
    /// ```
    /// # use nninit::{init::*, DType, Generator, Tensor};
    /// let mut w = Tensor::zeros(&[4, 6], DType::F32);
    /// glorot_normal_(w.view_mut()?, &[-2], &[-1], &[], &mut Generator::manual_seed(0))?;
    /// let sigma = (1.0f64 / 5.0).sqrt() / 0.87962566103423978;
    /// assert!(w.to_f64_vec().iter().all(|x| x.abs() <= 2.0 * sigma + 1e-6));
    /// # Ok::<(), nninit::Error>(())
    /// ```
    glorot_normal_,
    GlorotNormal
);

named_instance!(
    /// `he_uniform_(tensor, in_axis=-2, out_axis=-1, batch_axis=())`: JAX's `he_uniform`,
    /// `variance_scaling(2.0, 'fan_in', 'uniform')` (He et al. 2015): U(−b, b), `b = sqrt(6 / fan_in)`.
    ///
    /// ```
    /// # use nninit::{init::*, DType, Generator, Tensor};
    /// let mut w = Tensor::zeros(&[3, 3, 8, 16], DType::F32); // JAX conv [kh, kw, in, out]
    /// he_uniform_(w.view_mut()?, &[-2], &[-1], &[], &mut Generator::manual_seed(0))?;
    /// assert!(w.to_f64_vec().iter().all(|x| x.abs() <= (6.0f64 / 72.0).sqrt()));
    /// # Ok::<(), nninit::Error>(())
    /// ```
    he_uniform_,
    HeUniform
);

named_instance!(
    /// `he_normal_(tensor, in_axis=-2, out_axis=-1, batch_axis=())`: JAX's `he_normal`,
    /// `variance_scaling(2.0, 'fan_in', 'truncated_normal')` (He et al. 2015): std `sqrt(2 / fan_in)`,
    /// truncated at ±2σ.
    ///
    /// ```
    /// # use nninit::{init::*, DType, Generator, Tensor};
    /// let mut w = Tensor::zeros(&[32, 16, 3, 3], DType::F32); // PyTorch layout
    /// he_normal_(w.view_mut()?, &[1], &[0], &[], &mut Generator::manual_seed(0))?;
    /// # Ok::<(), nninit::Error>(())
    /// ```
    he_normal_,
    HeNormal
);

named_instance!(
    /// `jax_lecun_uniform_(tensor, in_axis=-2, out_axis=-1, batch_axis=())`: JAX's
    /// `lecun_uniform`, `variance_scaling(1.0, 'fan_in', 'uniform')` (LeCun et al. 1998) with
    /// JAX's axes. [`lecun_uniform_`](super::lecun_uniform_) is the same formula with PyTorch's
    /// fans (`in_axis=1, out_axis=0` here) and operation order.
    ///
    /// ```
    /// # use nninit::{init::*, DType, Generator, Tensor};
    /// let mut w = Tensor::zeros(&[4, 3], DType::F32); // JAX [in, out]: fan_in = 4
    /// jax_lecun_uniform_(w.view_mut()?, &[-2], &[-1], &[], &mut Generator::manual_seed(0))?;
    /// assert!(w.to_f64_vec().iter().all(|x| x.abs() <= (3.0f64 / 4.0).sqrt()));
    /// # Ok::<(), nninit::Error>(())
    /// ```
    jax_lecun_uniform_,
    JaxLecunUniform
);

named_instance!(
    /// `jax_lecun_normal_(tensor, in_axis=-2, out_axis=-1, batch_axis=())`: JAX's `lecun_normal`,
    /// `variance_scaling(1.0, 'fan_in', 'truncated_normal')` (LeCun et al. 1998; Klambauer et
    /// al. 2017 for SELU networks). Unlike [`lecun_normal_`](super::lecun_normal_) (PyTorch
    /// fans, untruncated), the values are truncated at ±2σ.
    ///
    /// ```
    /// # use nninit::{init::*, DType, Generator, Tensor};
    /// let mut w = Tensor::zeros(&[4, 3], DType::F32);
    /// jax_lecun_normal_(w.view_mut()?, &[-2], &[-1], &[], &mut Generator::manual_seed(0))?;
    /// # Ok::<(), nninit::Error>(())
    /// ```
    jax_lecun_normal_,
    JaxLecunNormal
);
