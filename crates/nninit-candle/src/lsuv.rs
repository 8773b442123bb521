//! LSUV (Mishkin & Matas, "All you need is a good init", ICLR 2016) on a candle network that
//! runs layer by layer: the same algorithm as [`nninit_probe::lsuv`], on the candle modules and
//! the [`VarMap`] variables they were built from.

use candle_core::{Tensor, Var};
use candle_nn::{Module, VarMap};
use nninit::init::Init;
use nninit::{Error, Generator, Result};
use nninit_probe::lsuv::{output_variance, rescale};

pub use nninit_probe::lsuv::{LsuvLayer, LsuvOptions};

use crate::convert::to_candle;

/// One step of a network that runs layer by layer.
pub enum Step<'a> {
    /// A layer LSUV initializes: the module (e.g. `candle_nn::Linear`, `candle_nn::Conv2d`) and
    /// the [`VarMap`] name of its weight (`"layer.0.weight"`); the variable named the same with
    /// `bias` in place of `weight`, if the map has one, is the layer's bias.
    Layer {
        /// Runs the layer.
        module: &'a dyn Module,
        /// The weight's name in the map.
        weight: &'a str,
    },
    /// Anything in between, run as is: an activation, a flatten, a pooling.
    Other(&'a dyn Module),
}

struct Weighted<'a> {
    module: &'a dyn Module,
    name: &'a str,
    weight: Var,
    bias: Option<Var>,
}

fn candle_err(e: candle_core::Error) -> Error {
    Error::value(e.to_string())
}

fn probe_err(e: nninit_probe::Error) -> Error {
    match e {
        nninit_probe::Error::Nninit(e) => e,
        other => Error::value(other.to_string()),
    }
}

/// The map's variables of each layer step, every one looked up before anything is changed.
fn weighted<'a>(varmap: &VarMap, steps: &[Step<'a>]) -> Result<Vec<Weighted<'a>>> {
    let vars = varmap.data().lock().map_err(|_| Error::value("the VarMap's lock is poisoned"))?;
    let mut layers = Vec::new();
    for step in steps {
        if let Step::Layer { module, weight } = step {
            let var = vars.get(*weight).ok_or_else(|| {
                Error::value(format!("LSUV: the VarMap has no variable `{weight}` (a Step::Layer weight)"))
            })?;
            let rank = var.as_tensor().rank();
            if rank < 2 {
                return Err(Error::value(format!(
                    "LSUV: `{weight}` has shape {:?}; a layer's weight has 2 or more dimensions",
                    var.as_tensor().dims()
                )));
            }
            let bias = weight.strip_suffix("weight").and_then(|p| vars.get(&format!("{p}bias"))).cloned();
            layers.push(Weighted { module: *module, name: weight, weight: var.clone(), bias });
        }
    }
    if layers.is_empty() {
        return Err(Error::value("LSUV needs at least one Step::Layer"));
    }
    Ok(layers)
}

/// Runs LSUV on the candle network `steps` (in the order its forward pass runs them), with the
/// data `batch` (`[batch, features]` for an MLP, `[batch, channels, h, w]` for a CNN):
///
/// 1. every layer's weight is drawn `orthogonal_` (Saxe et al. 2014) in step order from
///    `torch.manual_seed(options.seed)` (the values of [`nninit_probe::lsuv::lsuv`] on the same
///    layers, and of PyTorch's `orthogonal_` calls in that order), its bias set to zeros;
/// 2. layer by layer, the layer's output on the batch (what `module.forward` returns) is
///    computed and, while `|Var(output) − 1| > tol` and fewer than `max_iter` rounds were made,
///    the weight is divided by `√Var(output)`.
///
/// The variables are changed in place (the modules built from them see the new values). Returns
/// one report per layer step, in order; a layer that cannot reach the tolerance (a dead input,
/// a variance that stays off) is reported as not converged, and the next layer is processed.
///
/// ```
/// use candle_core::{DType, Device, Tensor};
/// use candle_nn::{linear, Activation, VarBuilder, VarMap};
/// use nninit_candle::lsuv::{lsuv, LsuvOptions, Step};
///
/// let varmap = VarMap::new();
/// let vb = VarBuilder::from_varmap(&varmap, DType::F32, &Device::Cpu);
/// let fc1 = linear(16, 32, vb.pp("layer.0"))?;
/// let fc2 = linear(32, 4, vb.pp("layer.2"))?;
/// let steps = [
///     Step::Layer { module: &fc1, weight: "layer.0.weight" },
///     Step::Other(&Activation::Relu),
///     Step::Layer { module: &fc2, weight: "layer.2.weight" },
/// ];
/// let batch = Tensor::randn(0f32, 1.0, (64, 16), &Device::Cpu)?;
/// let report = lsuv(&varmap, &steps, &batch, &LsuvOptions::default())?;
/// assert!(report.iter().all(|l| l.converged && (l.variance - 1.0).abs() <= 0.1));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # Errors
/// `tol ≤ 0` or `max_iter == 0`; a layer weight the map does not have, or with fewer than 2
/// dimensions (named); no layer step; a batch whose shape does not fit the network (candle's
/// error). On any error every variable keeps the value it had before the call.
pub fn lsuv(varmap: &VarMap, steps: &[Step], batch: &Tensor, options: &LsuvOptions) -> Result<Vec<LsuvLayer>> {
    options.check()?;
    let layers = weighted(varmap, steps)?;
    let saved: Vec<(Var, Tensor)> = layers
        .iter()
        .flat_map(|l| std::iter::once(&l.weight).chain(l.bias.as_ref()))
        .map(|v| v.as_tensor().copy().map(|t| (v.clone(), t)))
        .collect::<std::result::Result<_, _>>()
        .map_err(candle_err)?;
    let result = run(&layers, steps, batch, options);
    if result.is_err() {
        for (var, value) in &saved {
            let _ = var.set(value);
        }
    }
    result
}

fn run(layers: &[Weighted], steps: &[Step], batch: &Tensor, options: &LsuvOptions) -> Result<Vec<LsuvLayer>> {
    let mut g = Generator::manual_seed(options.seed);
    for layer in layers {
        let current = layer.weight.as_tensor();
        let mut w = nninit::Tensor::try_zeros(current.dims(), crate::to_nninit_dtype(current.dtype())?)?;
        Init::Orthogonal { gain: 1.0 }.apply(w.view_mut()?, &mut g)?;
        layer.weight.set(&to_candle(&w, current.dtype(), current.device())?).map_err(candle_err)?;
        if let Some(b) = &layer.bias {
            b.set(&b.as_tensor().zeros_like().map_err(candle_err)?).map_err(candle_err)?;
        }
    }
    let mut x = batch.clone();
    let mut next = layers.iter();
    let mut report = Vec::new();
    for step in steps {
        let module = match step {
            Step::Other(m) => *m,
            Step::Layer { .. } => {
                let layer = next.next().ok_or_else(|| Error::value("LSUV: steps changed"))?;
                let variance = |x: &Tensor| {
                    let y = layer.module.forward(x).map_err(candle_err)?;
                    output_variance(&y).map_err(probe_err)
                };
                let initial = variance(&x)?;
                report.push(rescale(layer.name, initial, options, |s| {
                    let w = layer.weight.as_tensor().affine(s, 0.0).map_err(candle_err)?;
                    layer.weight.set(&w).map_err(candle_err)?;
                    variance(&x)
                })?);
                layer.module
            }
        };
        x = module.forward(&x).map_err(candle_err)?;
    }
    Ok(report)
}
