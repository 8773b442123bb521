//! LSUV (Mishkin & Matas, "All you need is a good init", ICLR 2016) on a burn MLP that runs
//! layer by layer: the algorithm of `nninit lsuv` (`nninit_probe::lsuv`) on burn's `Linear`
//! modules.

use burn::module::Param;
use burn::nn::Linear;
use burn::tensor::{Tensor, TensorData};
use nninit::init::Init;
use nninit::{Error, Generator, Result};
use nninit_probe::lsuv::rescale;

pub use nninit_probe::lsuv::{LsuvLayer, LsuvOptions};

/// One step of an MLP's forward pass.
pub enum Step<'a> {
    /// A layer LSUV initializes.
    Linear(&'a mut Linear),
    /// Anything in between, run as is (an activation, a dropout at init).
    Other(&'a dyn Fn(Tensor<2>) -> Tensor<2>),
}

/// The population variance of all of `t`'s values, computed in f64 from its f32 values.
fn variance(t: Tensor<2>) -> Result<f64> {
    let v: Vec<f32> = t.into_data().convert::<f32>().try_to_vec::<f32>().map_err(|e| Error::value(format!("{e:?}")))?;
    let n = v.len().max(1) as f64;
    let mean = v.iter().map(|&x| x as f64).sum::<f64>() / n;
    Ok(v.iter().map(|&x| (x as f64 - mean).powi(2)).sum::<f64>() / n)
}

fn scaled(weight: &Param<Tensor<2>>, s: f64) -> Param<Tensor<2>> {
    weight.clone().map(|w| w.mul_scalar(s))
}

/// Runs LSUV on the burn MLP `steps` (in forward order) with the data `batch` (`[batch,
/// features]`):
///
/// 1. every `Linear` weight is drawn `orthogonal_` (Saxe et al. 2014) as PyTorch draws it for
///    `nn.Linear` (`[out, in]`, from `torch.manual_seed(options.seed)` in step order) and stored
///    in burn's `[in, out]` view, its bias set to zeros;
/// 2. layer by layer, the layer's output on the batch is computed and, while
///    `|Var(output) − 1| > tol` and fewer than `max_iter` rounds were made, the weight is divided
///    by `√Var(output)`.
///
/// The layers are changed in place. Returns one report per `Linear`, named `"{k}.weight"` by
/// its position `k` among the steps; a layer that cannot reach the tolerance is reported as not
/// converged and the next one is processed.
///
/// ```
/// use burn::nn::LinearConfig;
/// use burn::tensor::{activation::relu, Device, Distribution, Tensor};
/// use nninit_burn::lsuv::{lsuv, LsuvOptions, Step};
///
/// let device = Device::ndarray();
/// let (mut fc1, mut fc2) = (LinearConfig::new(16, 32).init(&device), LinearConfig::new(32, 4).init(&device));
/// let batch = Tensor::<2>::random([64, 16], Distribution::Normal(0.0, 1.0), &device);
/// let relu = |x: Tensor<2>| relu(x);
/// let report = lsuv(&mut [Step::Linear(&mut fc1), Step::Other(&relu), Step::Linear(&mut fc2)], batch, &LsuvOptions::default())?;
/// assert!(report.iter().all(|l| l.converged && (l.variance - 1.0).abs() <= 0.1));
/// # Ok::<(), nninit::Error>(())
/// ```
///
/// # Errors
/// `tol ≤ 0` or `max_iter == 0`; no `Linear` step; a batch or layer whose width does not fit the
/// next layer (named by position and shapes). On an error no layer is changed.
pub fn lsuv(steps: &mut [Step], batch: Tensor<2>, options: &LsuvOptions) -> Result<Vec<LsuvLayer>> {
    options.check()?;
    check_widths(steps, batch.dims()[1])?;
    let mut g = Generator::manual_seed(options.seed);
    for step in steps.iter_mut() {
        if let Step::Linear(layer) = step {
            let [d_in, d_out] = layer.weight.val().dims();
            let mut w = nninit::Tensor::try_zeros(&[d_out, d_in], nninit::DType::F32)?;
            Init::Orthogonal { gain: 1.0 }.apply(w.view_mut()?, &mut g)?;
            let values: Vec<f32> = w.to_f64_vec().into_iter().map(|x| x as f32).collect();
            layer.weight = layer.weight.clone().map(|old| {
                let device = old.device();
                Tensor::<2>::from_data(TensorData::new(values, [d_out, d_in]), (&device, old.dtype()))
                    .transpose()
                    .set_require_grad(old.is_require_grad())
            });
            layer.bias = layer.bias.take().map(|b| b.map(|old| old.zeros_like()));
        }
    }
    let mut x = batch;
    let mut report = Vec::new();
    for (k, step) in steps.iter_mut().enumerate() {
        x = match step {
            Step::Other(f) => f(x),
            Step::Linear(layer) => {
                let initial = variance(layer.forward(x.clone()))?;
                let result = rescale(&format!("{k}.weight"), initial, options, |s| {
                    layer.weight = scaled(&layer.weight, s);
                    variance(layer.forward(x.clone()))
                })?;
                report.push(result);
                layer.forward(x)
            }
        };
    }
    Ok(report)
}

/// Every Linear's input width, from the batch's and the previous layer's, before anything runs
/// (burn's `Linear::forward` panics on a mismatch); an `Other` step is assumed to keep the width.
fn check_widths(steps: &[Step], batch_width: usize) -> Result<()> {
    let mut width = batch_width;
    let mut any = false;
    for (k, step) in steps.iter().enumerate() {
        if let Step::Linear(layer) = step {
            let [d_in, d_out] = layer.weight.val().dims();
            if d_in != width {
                return Err(Error::value(format!(
                    "LSUV: step {k} is a Linear({d_in} → {d_out}), but its input has width {width}"
                )));
            }
            width = d_out;
            any = true;
        }
    }
    if !any {
        return Err(Error::value("LSUV needs at least one Step::Linear"));
    }
    Ok(())
}
