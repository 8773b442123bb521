//! The variance-scaling family, written once: Xavier/Glorot, Kaiming/He and LeCun are instances.

use super::draw::Draw;
use super::fan::{fan_in_and_fan_out, FanMode};
use crate::error::Result;
use crate::sample::Engine;
use crate::tensor::TensorMut;

/// Which fan the variance is scaled by.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fan {
    /// `fan_in` or `fan_out` (Kaiming/He, LeCun): `std = gain / sqrt(fan)`.
    Mode(FanMode),
    /// `(fan_in + fan_out) / 2` (Xavier/Glorot): `std = gain · sqrt(2 / (fan_in + fan_out))`.
    Avg,
}

/// The distribution the values are drawn from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Distribution {
    /// `U(−bound, bound)` with `bound = sqrt(3) · std`.
    Uniform,
    /// `N(0, std²)`.
    Normal,
}

/// `Var(W) = gain² / fan`: the general mechanism behind `xavier_*`, `kaiming_*` and `lecun_*`
/// (JAX's `variance_scaling`). Each formula keeps PyTorch's f64 operation order, so the bounds
/// are bit-identical to `torch.nn.init`'s:
///
/// * [`Fan::Mode`]: `std = gain / sqrt(fan)` (He et al. 2015, `kaiming_*`);
/// * [`Fan::Avg`]: `std = gain · sqrt(2.0 / (fan_in + fan_out))` (Glorot & Bengio 2010, `xavier_*`);
/// * uniform: `bound = sqrt(3.0) · std`.
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
    /// The standard deviation for a weight of `shape`. Errors: rank < 2 (see
    /// [`fan_in_and_fan_out`]).
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
    /// and for `xavier_*` after them (so rank < 2 still errors; `[0, 0]`, where PyTorch divides
    /// by zero, is a no-op).
    pub fn init(&self, mut tensor: TensorMut<'_>, g: &mut impl Engine) -> Result<()> {
        let draw = self.draw(tensor.shape)?;
        crate::dispatch_mut!(&mut tensor.data, |s| draw.fill(s, g));
        Ok(())
    }

    /// What [`VarianceScaling::init`] draws for a tensor of `shape`: `U(−bound, bound)` or
    /// `N(0, std²)`, or nothing for an empty tensor. Errors as [`VarianceScaling::init`].
    pub fn draw(&self, shape: &[usize]) -> Result<Draw> {
        let empty = shape.iter().product::<usize>() == 0;
        if empty && self.fan != Fan::Avg {
            return Ok(Draw::Nothing);
        }
        let std = self.std(shape)?;
        if empty {
            return Ok(Draw::Nothing);
        }
        Ok(match self.distribution {
            Distribution::Uniform => {
                let bound = 3f64.sqrt() * std;
                Draw::Uniform { from: -bound, to: bound }
            }
            Distribution::Normal => Draw::Normal { mean: 0.0, std },
        })
    }
}
