//! LSUV: layer-sequential unit-variance initialization (Mishkin & Matas, "All you need is a good
//! init", ICLR 2016, algorithm 1).
//!
//! 1. Every Linear and Conv2d weight is pre-initialized with `orthogonal_` (Saxe et al. 2014),
//!    biases with zeros.
//! 2. Layer by layer, from the input: the layer's output (before its nonlinearity) is computed on
//!    a data batch; while `|Var(output) − 1| > tol` and fewer than `max_iter` rounds were made,
//!    the weight is divided by `√Var(output)`.
//!
//! A layer whose output variance is 0 or not finite (a dead input, all-zero weights) cannot be
//! rescaled: it is reported as not converged and the next layer is processed; so is a layer that
//! is still outside the tolerance after `max_iter` rounds. Nothing loops unbounded.
//!
//! The network is the model's leaf modules in order (`modules()`): Linear, Conv2d (groups 1,
//! stride 1, padding `k/2`), and the activations ReLU, LeakyReLU, Tanh, GELU, SELU, Sigmoid,
//! Identity, Dropout (identity at init) and Flatten — an MLP or a plain CNN.

use candle_core::Tensor;
use nninit::init::Init;
use nninit::nn::{Layer, Model, TensorId};
use nninit::Generator;

use crate::net::{layer, std_of};
use crate::{Activation, Error, Result};

/// LSUV's arguments.
#[derive(Clone, Debug)]
pub struct LsuvOptions {
    /// Accepted distance of the output variance from 1 (the paper uses 0.1).
    pub tol: f64,
    /// Most rescaling rounds per layer (the paper uses 10).
    pub max_iter: usize,
    /// Seed of the orthogonal pre-initialization (torch.manual_seed).
    pub seed: u64,
}

impl Default for LsuvOptions {
    fn default() -> Self {
        LsuvOptions { tol: 0.1, max_iter: 10, seed: 0 }
    }
}

impl LsuvOptions {
    /// Checks the arguments: `tol > 0` and `max_iter ≥ 1`.
    ///
    /// ```
    /// use nninit_probe::lsuv::LsuvOptions;
    /// assert!(LsuvOptions::default().check().is_ok());
    /// assert!(LsuvOptions { tol: 0.0, ..LsuvOptions::default() }.check().is_err());
    /// ```
    ///
    /// # Errors
    /// `tol` not greater than 0 (or NaN), or `max_iter == 0`, both values named.
    pub fn check(&self) -> nninit::Result<()> {
        if !(self.tol > 0.0) || self.max_iter == 0 {
            return Err(nninit::Error::value(format!(
                "LSUV needs tol > 0 and max_iter ≥ 1, got tol {} and max_iter {}",
                self.tol, self.max_iter
            )));
        }
        Ok(())
    }
}

/// What LSUV did to one layer.
#[derive(Clone, Debug, serde::Serialize)]
pub struct LsuvLayer {
    /// The weight's `state_dict` name.
    pub name: String,
    /// Output variance after the orthogonal pre-init.
    pub initial_variance: f64,
    /// Output variance at the end.
    pub variance: f64,
    /// The factor the orthogonal weight was multiplied by.
    pub scale: f64,
    /// Rescaling rounds made.
    pub iterations: usize,
    /// Whether `|variance − 1| ≤ tol`.
    pub converged: bool,
    /// Why it did not converge.
    pub note: Option<String>,
}

enum Op {
    Weight { name: String, weight: TensorId, bias: Option<TensorId> },
    Act(Activation),
    Sigmoid,
    Flatten,
    Identity,
}

fn pipeline(model: &Model) -> Result<Vec<Op>> {
    let names: std::collections::HashMap<TensorId, String> =
        model.named_parameters().into_iter().map(|(n, id)| (id, n)).collect();
    let mut ops = Vec::new();
    for id in model.modules() {
        let m = model.module(id);
        if !m.children.is_empty() {
            continue;
        }
        let slot = |n: &str| m.slots.iter().find(|s| s.name == n).map(|s| s.tensor);
        let op = match &m.layer {
            Layer::Linear { .. } => None,
            Layer::Conv { kernel_size, groups: 1, transposed: false, .. } if kernel_size.len() == 2 => None,
            Layer::Stateless(name) => Some(match name.as_str() {
                "ReLU" => Op::Act(Activation::Relu),
                "LeakyReLU" => Op::Act(Activation::LeakyRelu(0.01)),
                "Tanh" => Op::Act(Activation::Tanh),
                "GELU" => Op::Act(Activation::Gelu),
                "SELU" => Op::Act(Activation::Selu),
                "Sigmoid" => Op::Sigmoid,
                "Flatten" => Op::Flatten,
                "Identity" | "Dropout" => Op::Identity,
                other => {
                    return Err(Error::Value(format!("LSUV handles MLPs and plain CNNs; {other} is not supported")))
                }
            }),
            other => {
                return Err(Error::Value(format!(
                    "LSUV handles MLPs and plain CNNs (Linear, Conv2d, activations); {} is not supported",
                    other.type_name()
                )))
            }
        };
        let op = match op {
            Some(op) => op,
            None => {
                let weight = slot("weight").ok_or_else(|| Error::Value("a layer without a weight".into()))?;
                Op::Weight { name: names.get(&weight).cloned().unwrap_or_default(), weight, bias: slot("bias") }
            }
        };
        ops.push(op);
    }
    if !ops.iter().any(|o| matches!(o, Op::Weight { .. })) {
        return Err(Error::Value("LSUV needs at least one Linear or Conv2d layer".into()));
    }
    Ok(ops)
}

fn candle_of(t: &nninit::Tensor) -> Result<Tensor> {
    let v: Vec<f32> = t.to_f64_vec().into_iter().map(|x| x as f32).collect();
    Ok(Tensor::from_vec(v, t.shape(), &candle_core::Device::Cpu)?)
}

fn store(model: &mut Model, id: TensorId, t: &Tensor) -> Result<()> {
    let dtype = model.tensor(id).dtype().unwrap_or(nninit::DType::F32);
    let v: Vec<f32> = t.flatten_all()?.to_vec1()?;
    let shape = model.tensor(id).shape().to_vec();
    *model.tensor_mut(id) = nninit::Tensor::from_f32(&shape, v)?.to_dtype(dtype);
    Ok(())
}

/// Runs LSUV on `model` (which must hold values: [`Model::materialize`]) with the data `batch`
/// (`[batch, features]` for an MLP, `[batch, channels, h, w]` for a CNN), writing the new
/// weights into the model. Returns one report per Linear/Conv2d layer, in order.
///
/// ```
/// use nninit_probe::lsuv::{lsuv, LsuvOptions};
/// let mut model = nninit::arch::mlp(&[16, 32, 32, 4], nninit::DType::F32)?;
/// model.materialize(nninit::rng::Stream::Torch, 0)?;
/// let batch = candle_core::Tensor::randn(0f32, 1.0, (64, 16), &candle_core::Device::Cpu)?;
/// let report = lsuv(&mut model, &batch, &LsuvOptions::default())?;
/// assert!(report.iter().all(|l| l.converged && (l.variance - 1.0).abs() <= 0.1));
/// # Ok::<(), nninit_probe::Error>(())
/// ```
///
/// # Errors
/// A model with layers other than Linear, Conv2d and activations, or without values; a batch
/// whose shape does not fit the first layer; `tol ≤ 0`; `max_iter == 0`.
pub fn lsuv(model: &mut Model, batch: &Tensor, options: &LsuvOptions) -> Result<Vec<LsuvLayer>> {
    options.check()?;
    if !model.is_materialized() {
        return Err(Error::Value("LSUV needs the model's values (materialize it first)".into()));
    }
    let ops = pipeline(model)?;
    let mut g = Generator::manual_seed(options.seed);
    let orthogonal = Init::Orthogonal { gain: 1.0 };
    for op in &ops {
        if let Op::Weight { weight, bias, .. } = op {
            orthogonal.apply(model.tensor_mut(*weight).view_mut()?, &mut g)?;
            if let Some(b) = bias {
                Init::Zeros.apply(model.tensor_mut(*b).view_mut()?, &mut g)?;
            }
        }
    }
    let mut x = batch.to_dtype(candle_core::DType::F32)?;
    let mut report = Vec::new();
    for op in &ops {
        x = match op {
            Op::Act(a) => a.apply(&x)?,
            Op::Sigmoid => candle_core::Tensor::ones_like(&x)?.broadcast_div(&(x.neg()?.exp()? + 1.0)?)?,
            Op::Identity => x,
            Op::Flatten => x.flatten_from(1)?,
            Op::Weight { name, weight, bias } => {
                let mut w = candle_of(model.tensor(*weight))?;
                if w.rank() == 2 && x.rank() > 2 {
                    x = x.flatten_from(1)?;
                }
                let b = bias.map(|b| candle_of(model.tensor(b))).transpose()?;
                let out = |w: &Tensor| -> Result<Tensor> {
                    let y = layer(&x, w)?;
                    Ok(match &b {
                        Some(b) => {
                            let shape: Vec<usize> =
                                (0..y.rank()).map(|d| if d == 1 { b.dim(0).unwrap_or(1) } else { 1 }).collect();
                            y.broadcast_add(&b.reshape(shape)?)?
                        }
                        None => y,
                    })
                };
                let initial = output_variance(&out(&w)?)?;
                let layer = rescale(name, initial, options, |s| {
                    w = w.affine(s, 0.0)?;
                    output_variance(&out(&w)?)
                })?;
                store(model, *weight, &w)?;
                let y = out(&w)?;
                report.push(layer);
                y
            }
        };
    }
    Ok(report)
}

/// The population variance of all of `t`'s values (in f64): the quantity LSUV brings to 1.
///
/// ```
/// let t = candle_core::Tensor::new(&[1f32, -1.0, 1.0, -1.0], &candle_core::Device::Cpu)?;
/// assert_eq!(nninit_probe::lsuv::output_variance(&t)?, 1.0);
/// # Ok::<(), nninit_probe::Error>(())
/// ```
///
/// # Errors
/// candle's (a dtype that does not convert to f32).
pub fn output_variance(t: &Tensor) -> Result<f64> {
    Ok(std_of(t)?.powi(2))
}

/// LSUV's rounds for one layer (step 2 of the algorithm), whatever runs the layer: `initial` is
/// the output variance of the pre-initialized weight; `multiply(s)` multiplies the layer's
/// current weight by `s` and returns the new output variance. While `|variance − 1| > tol`, the
/// weight is multiplied by `1/√variance`, at most `max_iter` times; a variance that is 0 or not
/// finite stops at once. Returns the layer's report (named `name`).
///
/// ```
/// use nninit_probe::lsuv::{rescale, LsuvOptions};
/// // A layer whose output variance is 4·scale²: one round of 1/√4 brings it to 1.
/// let mut scale = 1.0f64;
/// let layer = rescale("w", 4.0, &LsuvOptions::default(), |s| {
///     scale *= s;
///     Ok::<_, nninit_probe::Error>(4.0 * scale * scale)
/// })?;
/// assert!(layer.converged && layer.iterations == 1 && layer.scale == 0.5);
/// # Ok::<(), nninit_probe::Error>(())
/// ```
///
/// # Errors
/// Only those of `multiply`.
pub fn rescale<E>(
    name: &str,
    initial: f64,
    options: &LsuvOptions,
    mut multiply: impl FnMut(f64) -> std::result::Result<f64, E>,
) -> std::result::Result<LsuvLayer, E> {
    let (mut variance, mut scale, mut iterations, mut note) = (initial, 1.0, 0, None);
    while (variance - 1.0).abs() > options.tol {
        if !(variance > 0.0 && variance.is_finite()) {
            note = Some(format!("output variance {variance}: cannot be rescaled to 1"));
            break;
        }
        if iterations == options.max_iter {
            note = Some(format!("still {variance:.4} after {iterations} rounds"));
            break;
        }
        let s = 1.0 / variance.sqrt();
        variance = multiply(s)?;
        scale *= s;
        iterations += 1;
    }
    Ok(LsuvLayer {
        name: name.to_string(),
        initial_variance: initial,
        variance,
        scale,
        iterations,
        converged: (variance - 1.0).abs() <= options.tol,
        note,
    })
}
