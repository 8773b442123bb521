//! Structured schemes: identity-like weights (`identity_`, ZerO) and the delta-orthogonal
//! convolution kernel.

use super::draw::Action;
use super::functions::{fill, op, orthogonal_matrix};
use super::scheme::Init;
use crate::dispatch_mut;
use crate::error::{Error, Result};
use crate::sample::Engine;
use crate::tensor::{Element, TensorMut};

/// `identity_`'s primitive for a tensor of `shape`: `eye_` for rank 2, `dirac_` for rank 3–5.
pub(crate) fn identity_action(shape: &[usize], gain: f64) -> Result<Action> {
    match shape.len() {
        2 => Ok(Action::Eye { value: gain }),
        3..=5 => Ok(Action::Dirac { groups: 1, value: gain }),
        _ => Err(Error::value("Only tensors with 2, 3, 4, or 5 dimensions are supported")),
    }
}

/// `identity_(tensor, gain=1.0)`: `gain ·` the identity map of a layer: `eye_` for a Linear
/// weight `[out, in]`, `dirac_` for a convolution `[out, in, *k]` (PyTorch's `eye_` / `dirac_`
/// times `gain`, rounded once into the dtype). Deterministic: draws nothing.
///
/// * `gain`: the value on the diagonal (default 1.0).
/// * Shapes: rank 2 to 5.
///
/// ```
/// # use nninit::{init::*, DType, Tensor};
/// let mut w = Tensor::zeros(&[2, 2], DType::F32);
/// identity_(w.view_mut()?, 0.5)?;
/// assert_eq!(w.to_f64_vec(), [0.5, 0.0, 0.0, 0.5]);
/// let mut k = Tensor::zeros(&[1, 1, 3], DType::F32);
/// identity_(k.view_mut()?, 2.0)?;
/// assert_eq!(k.to_f64_vec(), [0.0, 2.0, 0.0]);
/// # Ok::<(), nninit::Error>(())
/// ```
///
/// # Errors
/// Rank ∉ 2..=5: "Only tensors with 2, 3, 4, or 5 dimensions are supported"; a `gain` outside
/// the dtype's range (as `constant_`).
pub fn identity_(tensor: TensorMut<'_>, gain: f64) -> Result<()> {
    Init::Identity { gain }.apply(tensor, &mut crate::Generator::default())
}

/// `delta_orthogonal_(tensor, gain=1.0)`: the delta-orthogonal convolution kernel (Xiao et al.
/// 2018, "Dynamical Isometry and a Mean Field Theory of CNNs"; JAX's
/// `jax.nn.initializers.delta_orthogonal`): zeros except at the spatial centre, where the
/// `[out, in]` matrix is `gain ·` a random matrix with orthonormal columns (drawn as
/// [`orthogonal_`](super::orthogonal_) draws an `[out, in]` matrix). The convolution is then
/// norm-preserving at initialization.
///
/// * `gain`: scales the matrix (JAX's `scale`, default 1.0).
/// * Shapes: `[out, in, *k]` of rank 3, 4 or 5 with `in ≤ out` (PyTorch's conv layout; JAX's
///   is `[*k, in, out]`). The centre is JAX's, `(k − 1) // 2` in each spatial dimension (for an
///   even `k` one before `dirac_`'s `k // 2`).
///
/// ```
/// # use nninit::{init::*, DType, Generator, Tensor};
/// let mut w = Tensor::zeros(&[4, 2, 3], DType::F64);
/// delta_orthogonal_(w.view_mut()?, 1.0, &mut Generator::manual_seed(0))?;
/// let v = w.to_f64_vec();
/// // Only the centre tap (index 1 of 3) is non-zero.
/// assert!(v.iter().enumerate().all(|(i, x)| i % 3 == 1 || *x == 0.0));
/// // Its 4 × 2 matrix has orthonormal columns.
/// let col = |j: usize| (0..4).map(|o| v[(o * 2 + j) * 3 + 1]).collect::<Vec<_>>();
/// let dot = |a: &[f64], b: &[f64]| a.iter().zip(b).map(|(x, y)| x * y).sum::<f64>();
/// assert!((dot(&col(0), &col(0)) - 1.0).abs() < 1e-12 && dot(&col(0), &col(1)).abs() < 1e-12);
/// # Ok::<(), nninit::Error>(())
/// ```
///
/// # Errors
/// Rank ∉ {3, 4, 5}: "Delta orthogonal initializer requires a 3D, 4D or 5D shape."; `in > out`:
/// "`fan_in` must be less or equal than `fan_out`." (JAX's texts); f16/bf16 as `orthogonal_`.
pub fn delta_orthogonal_(tensor: TensorMut<'_>, gain: f64, g: &mut impl Engine) -> Result<()> {
    Init::DeltaOrthogonal { gain }.apply(tensor, g)
}

/// [`delta_orthogonal_`]'s algorithm.
pub(crate) fn fill_delta_orthogonal(mut tensor: TensorMut<'_>, gain: f64, g: &mut impl Engine) -> Result<()> {
    let shape = tensor.shape;
    if !(3..=5).contains(&shape.len()) {
        return Err(Error::value("Delta orthogonal initializer requires a 3D, 4D or 5D shape."));
    }
    let (out, inp) = (shape[0], shape[1]);
    if inp > out {
        return Err(Error::value("`fan_in` must be less or equal than `fan_out`. "));
    }
    let spatial = &shape[2..];
    let receptive: usize = spatial.iter().product();
    if out * inp * receptive == 0 {
        return Ok(());
    }
    let centre = spatial.iter().fold(0, |acc, &k| acc * k + (k - 1) / 2);
    dispatch_mut!(&mut tensor.data, |s| {
        let mut q = vec![Element::from_f64(0.0); out * inp];
        orthogonal_matrix(&mut q, out, inp, gain, g)?;
        fill(s, 0.0);
        for (i, &v) in q.iter().enumerate() {
            s[i * receptive + centre] = v;
        }
        Ok(())
    })
}

/// `zero_init_(tensor)`: ZerO initialization (Zhao et al. 2022, "ZerO Initialization:
/// Initializing Neural Networks with only Zeros and Ones", Algorithm 1; reference code
/// jiaweizzhao/ZerO-initialization, `ZerO_Init_on_matrix`). Deterministic: draws nothing.
///
/// For a weight `[m, n]`: the partial identity (`eye_`) when `m ≤ n`; otherwise the first `n`
/// columns of the first `m` rows of the Sylvester–Hadamard matrix `H_p / 2^(c/2)`, `c =
/// ceil(log2 m)`, `p = 2^c` (`H[i, j] = (−1)^popcount(i & j)`). The division is in the
/// tensor's precision (f32 for f32/f16/bf16, rounded once), as the reference computes it.
///
/// Shapes: rank 2 `[out, in]`.
///
/// ```
/// # use nninit::{init::*, DType, Tensor};
/// let mut w = Tensor::zeros(&[4, 2], DType::F32);
/// zero_init_(w.view_mut()?)?;
/// assert_eq!(w.to_f64_vec(), [0.5, 0.5, 0.5, -0.5, 0.5, 0.5, 0.5, -0.5]);
/// # Ok::<(), nninit::Error>(())
/// ```
///
/// # Errors
/// Rank ≠ 2: "Only tensors with 2 dimensions are supported".
pub fn zero_init_(tensor: TensorMut<'_>) -> Result<()> {
    Init::ZerO.apply(tensor, &mut crate::Generator::default())
}

/// [`zero_init_`]'s algorithm.
pub(crate) fn fill_zero_init(mut tensor: TensorMut<'_>) -> Result<()> {
    let &[m, n] = tensor.shape else {
        return Err(Error::value("Only tensors with 2 dimensions are supported"));
    };
    if m <= n {
        return super::functions::fill_eye(tensor, 1.0);
    }
    let c = m.next_power_of_two().trailing_zeros();
    let divisor = 2f64.powf(c as f64 / 2.0);
    dispatch_mut!(&mut tensor.data, |s| {
        for i in 0..m {
            for j in 0..n {
                let sign = if (i & j).count_ones() % 2 == 0 { 1.0 } else { -1.0 };
                s[i * n + j] = op(Element::from_f64(sign), |x| x / divisor as f32, |x| x / divisor);
            }
        }
    });
    Ok(())
}
