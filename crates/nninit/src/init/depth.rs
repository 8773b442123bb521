//! Depth- and width-aware schemes: the std (or gain) is a function of the model's depth or
//! width, given as explicit arguments (a plan fills them from the model's configuration).
//!
//! Each formula keeps its source's f64 operation order; the `*_std` / `*_scale` functions are
//! public so that a plan or report can state the value.

use super::args::Stack;
use super::scheme::Init;
use crate::error::{Error, Result};
use crate::sample::Engine;
use crate::tensor::TensorMut;

/// `value >= min`, else "`<function> expects <param> >= <min>, got <value>`".
fn at_least(function: &str, param: &str, value: usize, min: usize) -> Result<f64> {
    if value < min {
        return Err(Error::value(format!("{function} expects {param} >= {min}, got {value}")));
    }
    Ok(value as f64)
}

/// `std / sqrt(2 · n_layers)`: Megatron-LM's `scaled_init_method_normal(sigma, num_layers)`
/// (`std = sigma / math.sqrt(2.0 * num_layers)`), GPT-2's residual projections
/// (`initializer_range / math.sqrt(2 * n_layer)`, Radford et al. 2019).
///
/// ```
/// assert_eq!(nninit::init::scaled_normal_std(0.02, 12)?, 0.02 / 24f64.sqrt());
/// # Ok::<(), nninit::Error>(())
/// ```
///
/// # Errors
/// `n_layers == 0`.
pub fn scaled_normal_std(std: f64, n_layers: usize) -> Result<f64> {
    Ok(std / (2.0 * at_least("scaled_normal_", "n_layers", n_layers, 1)?).sqrt())
}

/// `sqrt(2 / (5 · dim))`: GPT-NeoX's `small_init_init_method(dim)` (Nguyen & Salazar 2019,
/// "Transformers without Tears").
///
/// ```
/// assert_eq!(nninit::init::small_init_std(1024)?, (2.0f64 / 5120.0).sqrt());
/// # Ok::<(), nninit::Error>(())
/// ```
///
/// # Errors
/// `dim == 0`.
pub fn small_init_std(dim: usize) -> Result<f64> {
    Ok((2.0 / (5.0 * at_least("small_init_", "dim", dim, 1)?)).sqrt())
}

/// `2 / n_layers / sqrt(dim)`: GPT-NeoX's `wang_init_method(n_layers, dim)` (Wang & Komatsuzaki
/// 2021, GPT-J), for the output projections of residual branches.
///
/// ```
/// assert_eq!(nninit::init::wang_init_std(32, 768)?, 2.0 / 32.0 / 768f64.sqrt());
/// # Ok::<(), nninit::Error>(())
/// ```
///
/// # Errors
/// `n_layers == 0` or `dim == 0`.
pub fn wang_init_std(n_layers: usize, dim: usize) -> Result<f64> {
    let n = at_least("wang_init_", "n_layers", n_layers, 1)?;
    Ok(2.0 / n / at_least("wang_init_", "dim", dim, 1)?.sqrt())
}

/// OLMo's "mitchell" init std (`olmo/initialization.py`, `init_weights`):
/// `std = std_factor / sqrt(d)`, then, with a `layer_id`, `std = std / sqrt(2 · (layer_id + 1))`
/// (depth scaling after Zhang et al. 2019, arXiv:1908.11365).
///
/// ```
/// use nninit::init::olmo_mitchell_std;
/// assert_eq!(olmo_mitchell_std(4096, None, 1.0)?, 1.0 / 64.0);
/// assert_eq!(olmo_mitchell_std(4096, Some(3), 1.0)?, 1.0 / 64.0 / 8f64.sqrt());
/// # Ok::<(), nninit::Error>(())
/// ```
///
/// # Errors
/// `d == 0`.
pub fn olmo_mitchell_std(d: usize, layer_id: Option<usize>, std_factor: f64) -> Result<f64> {
    let std = std_factor / at_least("olmo_mitchell_", "d", d, 1)?.sqrt();
    Ok(match layer_id {
        Some(id) => std / (2.0 * (id as f64 + 1.0)).sqrt(),
        None => std,
    })
}

/// DeepNorm's `(α, β)` (Wang et al. 2022, "DeepNet: Scaling Transformers to 1,000 Layers",
/// Table/Figure 2), for `N = encoder_layers`, `M = decoder_layers`:
///
/// | architecture | stack | α | β |
/// |---|---|---|---|
/// | encoder-only (`M = 0`) | encoder | `(2N)^(1/4)` | `(8N)^(−1/4)` |
/// | decoder-only (`N = 0`) | decoder | `(2M)^(1/4)` | `(8M)^(−1/4)` |
/// | encoder–decoder | encoder | `0.81 · (N⁴M)^(1/16)` | `0.87 · (N⁴M)^(−1/16)` |
/// | encoder–decoder | decoder | `(3M)^(1/4)` | `(12M)^(−1/4)` |
///
/// α scales the residual (`x · α + f(x)`), β the init. microsoft/torchscale divides the
/// weights by `init_scale = (8N)^(1/4)` (the same β), and for the encoder–decoder encoder by
/// `(N⁴M)^(1/16) / 1.15`; nninit uses the paper's 0.87.
///
/// ```
/// use nninit::init::{deepnorm_alpha_beta, Stack};
/// let (alpha, beta) = deepnorm_alpha_beta(18, 0, Stack::Encoder)?;
/// assert_eq!((alpha, beta), (36f64.powf(0.25), 144f64.powf(-0.25)));
/// # Ok::<(), nninit::Error>(())
/// ```
///
/// # Errors
/// Both counts 0, or the `stack`'s own count 0.
pub fn deepnorm_alpha_beta(encoder_layers: usize, decoder_layers: usize, stack: Stack) -> Result<(f64, f64)> {
    let (n, m) = (encoder_layers as f64, decoder_layers as f64);
    match (stack, encoder_layers, decoder_layers) {
        (Stack::Encoder, 0, _) => Err(Error::value("deepnorm_ expects encoder_layers >= 1 for stack='encoder', got 0")),
        (Stack::Decoder, _, 0) => Err(Error::value("deepnorm_ expects decoder_layers >= 1 for stack='decoder', got 0")),
        (Stack::Encoder, _, 0) => Ok(((2.0 * n).powf(0.25), (8.0 * n).powf(-0.25))),
        (Stack::Decoder, 0, _) => Ok(((2.0 * m).powf(0.25), (8.0 * m).powf(-0.25))),
        (Stack::Encoder, _, _) => {
            let nm = n.powi(4) * m;
            Ok((0.81 * nm.powf(0.0625), 0.87 * nm.powf(-0.0625)))
        }
        (Stack::Decoder, _, _) => Ok(((3.0 * m).powf(0.25), (12.0 * m).powf(-0.25))),
    }
}

/// Fixup's branch scale `L^(−1/(2m−2))` (Zhang et al. 2019, "Fixup Initialization"; reference
/// code hongyi-zhang/Fixup: `self.num_layers ** (-0.5)` for basic blocks, `** (-0.25)` for
/// bottlenecks), for `L = n_branches` residual branches of `m` layers each.
///
/// ```
/// assert_eq!(nninit::init::fixup_scale(16, 2)?, 0.25);
/// assert_eq!(nninit::init::fixup_scale(16, 3)?, 0.5);
/// # Ok::<(), nninit::Error>(())
/// ```
///
/// # Errors
/// `n_branches == 0`; `m < 2` (the exponent divides by `2m − 2`).
pub fn fixup_scale(n_branches: usize, m: usize) -> Result<f64> {
    let l = at_least("fixup_", "n_branches", n_branches, 1)?;
    let m = at_least("fixup_", "m", m, 2)?;
    Ok(l.powf(-1.0 / (2.0 * m - 2.0)))
}

/// T-Fixup's scale (Huang et al. 2020, "Improving Transformer Optimization Through Better
/// Initialization"; reference code layer6ai-labs/T-Fixup): encoder `0.67 · N^(−1/4)`, decoder
/// `(9M)^(−1/4)`, for `n_layers` layers of the stack.
///
/// ```
/// use nninit::init::{t_fixup_scale, Stack};
/// assert_eq!(t_fixup_scale(6, Stack::Encoder)?, 0.67 * 6f64.powf(-0.25));
/// assert_eq!(t_fixup_scale(6, Stack::Decoder)?, 54f64.powf(-0.25));
/// # Ok::<(), nninit::Error>(())
/// ```
///
/// # Errors
/// `n_layers == 0`.
pub fn t_fixup_scale(n_layers: usize, stack: Stack) -> Result<f64> {
    let n = at_least("t_fixup_", "n_layers", n_layers, 1)?;
    Ok(match stack {
        Stack::Encoder => 0.67 * n.powf(-1.0 / 4.0),
        Stack::Decoder => (9.0 * n).powf(-0.25),
    })
}

/// μP's std (Yang et al. 2021, "Tensor Programs V"; microsoft/mup `mup/init.py`) for a weight
/// with `fan_in` whose base model had `base_fan_in`, `width_mult = fan_in / base_fan_in`:
/// * hidden weights: `std · width_mult^(−1/2)` (mup's `constant_std_init_` for matrix-like
///   parameters: variance ∝ 1/fan_in);
/// * readout (`readout = true`): `std / width_mult` (variance ∝ 1/fan_in², Table 3; mup's
///   `MuReadout` divides the output by `width_mult` instead).
///
/// At the base width both are `std`.
///
/// ```
/// use nninit::init::mup_std;
/// assert_eq!(mup_std(0.02, 256, 1024, false)?, 0.02 * 4f64.powf(-0.5));
/// assert_eq!(mup_std(0.02, 256, 1024, true)?, 0.02 / 4.0);
/// # Ok::<(), nninit::Error>(())
/// ```
///
/// # Errors
/// `base_fan_in == 0` or `fan_in == 0`.
pub fn mup_std(std: f64, base_fan_in: usize, fan_in: usize, readout: bool) -> Result<f64> {
    let base = at_least("mup_normal_", "base_fan_in", base_fan_in, 1)?;
    let width_mult = at_least("mup_normal_", "fan_in", fan_in, 1)? / base;
    Ok(if readout { std / width_mult } else { std * width_mult.powf(-0.5) })
}

/// `scaled_normal_(tensor, std=0.02, n_layers=12)`: N(0, σ²), `σ = std / sqrt(2 · n_layers)` —
/// the GPT-2 / Megatron-LM init of the output projections of residual branches (attention
/// output, MLP down-projection); see [`scaled_normal_std`].
///
/// Shapes: any. Depends only on its arguments, not on the shape.
///
/// ```
/// # use nninit::{init::*, DType, Generator, Tensor};
/// let mut w = Tensor::zeros(&[768, 3072], DType::F32);
/// scaled_normal_(w.view_mut()?, 0.02, 12, &mut Generator::manual_seed(0))?;
/// assert_eq!(Init::ScaledNormal { std: 0.02, n_layers: 12 }.expected_std(&[768, 3072]), Some(0.02 / 24f64.sqrt()));
/// # Ok::<(), nninit::Error>(())
/// ```
///
/// # Errors
/// `n_layers == 0`; `std < 0` ("normal expects std >= 0.0, but found std -0.00408248").
pub fn scaled_normal_(tensor: TensorMut<'_>, std: f64, n_layers: usize, g: &mut impl Engine) -> Result<()> {
    Init::ScaledNormal { std, n_layers }.apply(tensor, g)
}

/// `small_init_(tensor, dim)`: N(0, 2 / (5 · dim)), GPT-NeoX's `small_init` (see
/// [`small_init_std`]). `dim` is the model's hidden size. Shapes: any.
///
/// ```
/// # use nninit::{init::*, DType, Generator, Tensor};
/// let mut w = Tensor::zeros(&[64, 64], DType::F32);
/// small_init_(w.view_mut()?, 64, &mut Generator::manual_seed(0))?;
/// # Ok::<(), nninit::Error>(())
/// ```
///
/// # Errors
/// `dim == 0`.
pub fn small_init_(tensor: TensorMut<'_>, dim: usize, g: &mut impl Engine) -> Result<()> {
    Init::SmallInit { dim }.apply(tensor, g)
}

/// `wang_init_(tensor, n_layers, dim)`: N(0, σ²), `σ = 2 / n_layers / sqrt(dim)`, GPT-NeoX's
/// `wang_init` (see [`wang_init_std`]). Shapes: any.
///
/// ```
/// # use nninit::{init::*, DType, Generator, Tensor};
/// let mut w = Tensor::zeros(&[64, 256], DType::F32);
/// wang_init_(w.view_mut()?, 24, 64, &mut Generator::manual_seed(0))?;
/// # Ok::<(), nninit::Error>(())
/// ```
///
/// # Errors
/// `n_layers == 0` or `dim == 0`.
pub fn wang_init_(tensor: TensorMut<'_>, n_layers: usize, dim: usize, g: &mut impl Engine) -> Result<()> {
    Init::WangInit { n_layers, dim }.apply(tensor, g)
}

/// `olmo_mitchell_(tensor, d, layer_id=None, std_factor=1.0)`: OLMo's "mitchell" init,
/// `trunc_normal_(mean=0, std=σ, a=−3σ, b=3σ)` with `σ` from [`olmo_mitchell_std`]: `d` is the
/// input dimension of the weight, `layer_id` (0-based) scales by `1 / sqrt(2 · (layer_id + 1))`.
/// Shapes: any.
///
/// ```
/// # use nninit::{init::*, DType, Generator, Tensor};
/// let mut w = Tensor::zeros(&[64, 256], DType::F32);
/// olmo_mitchell_(w.view_mut()?, 256, Some(0), 1.0, &mut Generator::manual_seed(0))?;
/// let sigma = 1.0 / 16.0 / 2f64.sqrt();
/// assert!(w.to_f64_vec().iter().all(|x| x.abs() <= 3.0 * sigma + 1e-6));
/// # Ok::<(), nninit::Error>(())
/// ```
///
/// # Errors
/// `d == 0`; a negative `std_factor` (the derived std, as `trunc_normal_`).
pub fn olmo_mitchell_(
    tensor: TensorMut<'_>,
    d: usize,
    layer_id: Option<usize>,
    std_factor: f64,
    g: &mut impl Engine,
) -> Result<()> {
    Init::OlmoMitchell { d, layer_id, std_factor }.apply(tensor, g)
}

/// `deepnorm_(tensor, encoder_layers=0, decoder_layers=0, stack='encoder')`: DeepNet's init,
/// `xavier_normal_(gain=β)` with β from [`deepnorm_alpha_beta`] (Wang et al. 2022). Apply it to
/// the feed-forward weights and the value and output projections; the query and key
/// projections take `xavier_normal_(gain=1)`.
///
/// Shapes and errors as [`xavier_normal_`](super::xavier_normal_), plus the layer-count errors of
/// [`deepnorm_alpha_beta`].
///
/// ```
/// # use nninit::{init::*, DType, Generator, Tensor};
/// let mut w = Tensor::zeros(&[512, 512], DType::F32);
/// deepnorm_(w.view_mut()?, 6, 6, Stack::Decoder, &mut Generator::manual_seed(0))?;
/// let beta = 72f64.powf(-0.25);
/// assert_eq!(Init::DeepNorm { encoder_layers: 6, decoder_layers: 6, stack: Stack::Decoder }.expected_std(&[512, 512]),
///            Some(beta * (2.0f64 / 1024.0).sqrt()));
/// # Ok::<(), nninit::Error>(())
/// ```
pub fn deepnorm_(
    tensor: TensorMut<'_>,
    encoder_layers: usize,
    decoder_layers: usize,
    stack: Stack,
    g: &mut impl Engine,
) -> Result<()> {
    Init::DeepNorm { encoder_layers, decoder_layers, stack }.apply(tensor, g)
}

/// `fixup_(tensor, n_branches, m=2)`: Fixup's He init of the layers of a residual branch,
/// N(0, σ²) with `σ = sqrt(2 / fan_out) · L^(−1/(2m−2))` ([`fixup_scale`]; `fan_out =
/// shape[0] · receptive field`, as the reference code), for `L = n_branches` branches of `m`
/// layers. The last layer of each branch (and the classifier) is zero: give it
/// [`zeros_`](super::zeros_).
///
/// Shapes: rank ≥ 2 (`[out, in, *k]`); an empty tensor draws nothing.
///
/// ```
/// # use nninit::{init::*, DType, Generator, Tensor};
/// let mut w = Tensor::zeros(&[64, 64, 3, 3], DType::F32);
/// fixup_(w.view_mut()?, 8, 2, &mut Generator::manual_seed(0))?;
/// let std = (2.0f64 / 576.0).sqrt() * 8f64.powf(-0.5);
/// assert_eq!(Init::Fixup { n_branches: 8, m: 2 }.expected_std(&[64, 64, 3, 3]), Some(std));
/// # Ok::<(), nninit::Error>(())
/// ```
///
/// # Errors
/// Rank < 2; `n_branches == 0`; `m < 2`.
pub fn fixup_(tensor: TensorMut<'_>, n_branches: usize, m: usize, g: &mut impl Engine) -> Result<()> {
    Init::Fixup { n_branches, m }.apply(tensor, g)
}

/// `t_fixup_(tensor, n_layers, stack='encoder')`: T-Fixup's init of a transformer's value and
/// output projections and MLP weights, `xavier_uniform_(gain=s)` with `s` from
/// [`t_fixup_scale`] (`0.67 · N^(−1/4)` in an encoder of N layers, `(9M)^(−1/4)` in a decoder of
/// M). The reference code scales fairseq's `v_proj` (initialized with gain `1/√2`) by a further
/// `√2`; with PyTorch's gain-1 Xavier start that factor is already in. Input embeddings:
/// `normal_(0, d^(−1/2) · s)`.
///
/// Shapes and errors as [`xavier_uniform_`](super::xavier_uniform_), plus `n_layers == 0`.
///
/// ```
/// # use nninit::{init::*, DType, Generator, Tensor};
/// let mut w = Tensor::zeros(&[512, 2048], DType::F32);
/// t_fixup_(w.view_mut()?, 6, Stack::Encoder, &mut Generator::manual_seed(0))?;
/// # Ok::<(), nninit::Error>(())
/// ```
pub fn t_fixup_(tensor: TensorMut<'_>, n_layers: usize, stack: Stack, g: &mut impl Engine) -> Result<()> {
    Init::TFixup { n_layers, stack }.apply(tensor, g)
}

/// `mup_normal_(tensor, base_fan_in, std=1.0, readout=False)`: μP's N(0, σ²) from a base width,
/// `σ` from [`mup_std`] with this tensor's `fan_in` (PyTorch's, `shape[1] · receptive field`):
/// hidden weights `std · (fan_in / base_fan_in)^(−1/2)`, the readout `std · base_fan_in / fan_in`.
/// Input weights (embeddings) keep their std: give them [`normal_`](super::normal_).
///
/// Shapes: rank ≥ 2; a tensor with `fan_in == 0` draws nothing.
///
/// ```
/// # use nninit::{init::*, DType, Generator, Tensor};
/// let mut w = Tensor::zeros(&[1024, 1024], DType::F32);
/// mup_normal_(w.view_mut()?, 256, 0.02, false, &mut Generator::manual_seed(0))?;
/// assert_eq!(Init::MupNormal { base_fan_in: 256, std: 0.02, readout: false }.expected_std(&[1024, 1024]), Some(0.01));
/// # Ok::<(), nninit::Error>(())
/// ```
///
/// # Errors
/// Rank < 2; `base_fan_in == 0`; `std < 0`.
pub fn mup_normal_(
    tensor: TensorMut<'_>,
    base_fan_in: usize,
    std: f64,
    readout: bool,
    g: &mut impl Engine,
) -> Result<()> {
    Init::MupNormal { base_fan_in, std, readout }.apply(tensor, g)
}
