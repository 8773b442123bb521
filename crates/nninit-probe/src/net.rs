//! The probed networks: a deep MLP (`[width, width]` weights) or CNN (`[width, width, 3, 3]`
//! kernels, same padding, on 8×8 inputs), without biases, weights drawn by nninit, one forward
//! and one backward pass on a random batch.

use candle_core::{DType, Device, Tensor, Var};
use nninit::init::Init;
use nninit::Generator;

use crate::{Error, Result};

/// The nonlinearity after every layer.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Activation {
    /// Identity.
    Linear,
    /// tanh.
    Tanh,
    /// max(0, x).
    Relu,
    /// max(0, x) + slope·min(0, x).
    LeakyRelu(f64),
    /// x·Φ(x) (the erf form, PyTorch's default).
    Gelu,
    /// λ·(x if x > 0 else α(eˣ − 1)), λ = 1.0507, α = 1.67326 (Klambauer et al. 2017).
    Selu,
}

impl std::str::FromStr for Activation {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        Ok(match s {
            "linear" => Activation::Linear,
            "tanh" => Activation::Tanh,
            "relu" => Activation::Relu,
            "leaky_relu" => Activation::LeakyRelu(0.01),
            "gelu" => Activation::Gelu,
            "selu" => Activation::Selu,
            _ => {
                return Err(Error::Value(format!(
                    "unknown activation `{s}` (linear, tanh, relu, leaky_relu, gelu, selu)"
                )))
            }
        })
    }
}

impl Activation {
    /// Applies it (differentiably).
    pub fn apply(&self, x: &Tensor) -> Result<Tensor> {
        Ok(match *self {
            Activation::Linear => x.clone(),
            Activation::Tanh => x.tanh()?,
            Activation::Relu => x.relu()?,
            Activation::LeakyRelu(slope) => (x.relu()? - x.neg()?.relu()?.affine(slope, 0.0)?)?,
            Activation::Gelu => x.gelu_erf()?,
            Activation::Selu => x.elu(1.673_263_242_354_377_3)?.affine(1.050_700_987_355_480_5, 0.0)?,
        })
    }
}

/// The network's shape.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Arch {
    /// Fully connected: `[width, width]` weights, inputs `[batch, width]`.
    Mlp,
    /// Convolutional: `[width, width, 3, 3]` kernels, padding 1, inputs `[batch, width, 8, 8]`.
    Cnn,
}

/// What to probe.
#[derive(Clone, Debug, serde::Serialize)]
pub struct ProbeConfig {
    /// Number of layers.
    pub depth: usize,
    /// Features (MLP) or channels (CNN) of every layer.
    pub width: usize,
    /// Inputs in the batch.
    pub batch: usize,
    /// The nonlinearity.
    pub activation: Activation,
    /// MLP or CNN.
    pub arch: Arch,
    /// Seed of the weights (torch.manual_seed), the input batch and the output gradient.
    pub seed: u64,
}

/// One layer's measurements.
#[derive(Clone, Debug, serde::Serialize)]
pub struct LayerStat {
    /// 1-based layer index.
    pub layer: usize,
    /// Std of the layer's output (after the nonlinearity) over the batch.
    pub activation_std: f64,
    /// Std of the gradient of the loss with respect to the layer's output.
    pub gradient_std: f64,
    /// Std of the gradient with respect to the layer's weight.
    pub weight_gradient_std: f64,
}

/// One scheme's curves.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Curve {
    /// The scheme's label.
    pub scheme: String,
    /// The init, in PyTorch syntax.
    pub init: String,
    /// Std of the input batch.
    pub input_std: f64,
    /// Per layer, first to last.
    pub layers: Vec<LayerStat>,
}

/// Population std of a tensor's values.
pub(crate) fn std_of(t: &Tensor) -> Result<f64> {
    let v: Vec<f32> = t.flatten_all()?.to_dtype(DType::F32)?.to_vec1()?;
    let n = v.len().max(1) as f64;
    let mean = v.iter().map(|&x| x as f64).sum::<f64>() / n;
    Ok((v.iter().map(|&x| (x as f64 - mean).powi(2)).sum::<f64>() / n).sqrt())
}

/// A tensor of `shape` drawn by `init` from `g`, as a candle tensor (f32).
pub(crate) fn drawn(shape: &[usize], init: &Init, g: &mut Generator) -> Result<Tensor> {
    let mut t = nninit::Tensor::try_zeros(shape, nninit::DType::F32)?;
    init.apply(t.view_mut()?, g)?;
    let v: Vec<f32> = t.to_f64_vec().into_iter().map(|x| x as f32).collect();
    Ok(Tensor::from_vec(v, shape, &Device::Cpu)?)
}

/// One layer's linear map: `x Wᵀ` (MLP) or a 3×3 convolution with padding 1 (CNN).
pub(crate) fn layer(x: &Tensor, w: &Tensor) -> Result<Tensor> {
    Ok(match w.rank() {
        2 => x.matmul(&w.t()?)?,
        4 => {
            let k = w.dim(2)?;
            x.conv2d(w, k / 2, 1, 1, 1)?
        }
        r => return Err(Error::Value(format!("a weight of rank {r} is neither a Linear nor a Conv2d weight"))),
    })
}

/// Measures activation and gradient std per layer of the network `config` describes, its
/// weights drawn by `init` (from `torch.manual_seed(config.seed)`, layer by layer), on a batch of
/// N(0, 1) inputs, the loss `Σ y_L · r` with `r ~ N(0, 1)` (so the gradient entering the last
/// layer has unit variance).
///
/// # Errors
/// A depth, width or batch of 0; an init that does not apply to the weights' shape.
pub fn probe(config: &ProbeConfig, scheme: &str, init: &Init) -> Result<Curve> {
    if config.depth == 0 || config.width == 0 || config.batch == 0 {
        return Err(Error::Value("depth, width and batch must be at least 1".into()));
    }
    let (wshape, xshape): (Vec<usize>, Vec<usize>) = match config.arch {
        Arch::Mlp => (vec![config.width, config.width], vec![config.batch, config.width]),
        Arch::Cnn => (vec![config.width, config.width, 3, 3], vec![config.batch, config.width, 8, 8]),
    };
    let mut g = Generator::manual_seed(config.seed);
    let weights: Vec<Var> =
        (0..config.depth).map(|_| Ok(Var::from_tensor(&drawn(&wshape, init, &mut g)?)?)).collect::<Result<_>>()?;
    let mut data = Generator::manual_seed(config.seed.wrapping_add(1));
    let normal = Init::Normal { mean: 0.0, std: 1.0 };
    let input = drawn(&xshape, &normal, &mut data)?;
    let mut x = input.clone();
    let mut taps = Vec::new();
    let mut outputs = Vec::new();
    for w in &weights {
        let y = config.activation.apply(&layer(&x, w.as_tensor())?)?;
        // A zero variable added to each output: its gradient is the output's.
        let tap = Var::zeros(y.shape(), DType::F32, &Device::Cpu)?;
        let y = (y + tap.as_tensor())?;
        outputs.push(y.clone());
        taps.push(tap);
        x = y;
    }
    let r = drawn(x.dims(), &normal, &mut data)?;
    let loss = (&x * &r)?.sum_all()?;
    let grads = loss.backward()?;
    let mut layers = Vec::new();
    for (i, ((y, tap), w)) in outputs.iter().zip(&taps).zip(&weights).enumerate() {
        let grad = |v: &Var| -> Result<f64> { grads.get(v.as_tensor()).map_or(Ok(0.0), std_of) };
        layers.push(LayerStat {
            layer: i + 1,
            activation_std: std_of(y)?,
            gradient_std: grad(tap)?,
            weight_gradient_std: grad(w)?,
        });
    }
    Ok(Curve { scheme: scheme.to_string(), init: init.to_string(), input_std: std_of(&input)?, layers })
}
