//! Fans and gains: `_calculate_fan_in_and_fan_out`, `_calculate_correct_fan`, `calculate_gain`.

use crate::error::{Error, Result};

/// Which fan a variance-scaling init divides by (PyTorch's `mode` argument).
///
/// ```
/// use nninit::init::FanMode;
/// assert_eq!("fan_out".parse::<FanMode>()?, FanMode::FanOut);
/// assert_eq!(FanMode::FanIn.to_string(), "fan_in");
/// # Ok::<(), nninit::Error>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FanMode {
    /// `fan_in = shape[1] · receptive field`: preserves the variance of the forward pass.
    FanIn,
    /// `fan_out = shape[0] · receptive field`: preserves the variance of the backward pass.
    FanOut,
}

impl FanMode {
    /// PyTorch's spelling: `fan_in` / `fan_out`.
    ///
    /// ```
    /// assert_eq!(nninit::init::FanMode::FanOut.as_str(), "fan_out");
    /// ```
    pub fn as_str(self) -> &'static str {
        match self {
            FanMode::FanIn => "fan_in",
            FanMode::FanOut => "fan_out",
        }
    }
}

impl std::str::FromStr for FanMode {
    type Err = Error;
    /// `mode.lower()` must be `fan_in` or `fan_out`; otherwise PyTorch's
    /// "Mode fan_avg not supported, please use one of ['fan_in', 'fan_out']".
    fn from_str(s: &str) -> Result<Self> {
        match s.to_lowercase().as_str() {
            "fan_in" => Ok(FanMode::FanIn),
            "fan_out" => Ok(FanMode::FanOut),
            other => Err(Error::value(format!("Mode {other} not supported, please use one of ['fan_in', 'fan_out']"))),
        }
    }
}

impl std::fmt::Display for FanMode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Fan-in and fan-out of a weight of shape `shape`, as `torch.nn.init._calculate_fan_in_and_fan_out`.
///
/// `receptive = prod(shape[2..])` (1 for rank 2); `fan_in = shape[1]·receptive`,
/// `fan_out = shape[0]·receptive`. PyTorch's layouts make this right for `Linear` `(out, in)` and
/// `Conv` `(out, in/groups, *k)`; for `ConvTranspose` `(in, out/groups, *k)` it swaps the data-flow
/// meaning, as PyTorch does. Zero sizes are allowed (fans may be 0).
///
/// ```
/// use nninit::init::fan_in_and_fan_out;
/// assert_eq!(fan_in_and_fan_out(&[64, 3, 7, 7])?, (147, 3136));
/// # Ok::<(), nninit::Error>(())
/// ```
///
/// # Errors
/// Rank < 2: "Fan in and fan out can not be computed for tensor with fewer than 2 dimensions".
pub fn fan_in_and_fan_out(shape: &[usize]) -> Result<(usize, usize)> {
    if shape.len() < 2 {
        return Err(Error::value("Fan in and fan out can not be computed for tensor with fewer than 2 dimensions"));
    }
    let receptive: usize = shape[2..].iter().product();
    Ok((shape[1] * receptive, shape[0] * receptive))
}

/// The fan selected by `mode` (`_calculate_correct_fan`). Errors as [`fan_in_and_fan_out`].
///
/// ```
/// use nninit::init::{calculate_correct_fan, FanMode};
/// assert_eq!(calculate_correct_fan(&[16, 8], FanMode::FanOut)?, 16);
/// # Ok::<(), nninit::Error>(())
/// ```
pub fn calculate_correct_fan(shape: &[usize], mode: FanMode) -> Result<usize> {
    let (fan_in, fan_out) = fan_in_and_fan_out(shape)?;
    Ok(match mode {
        FanMode::FanIn => fan_in,
        FanMode::FanOut => fan_out,
    })
}

/// A nonlinearity known to [`calculate_gain`], parsed from PyTorch's names.
///
/// ```
/// use nninit::init::Nonlinearity;
/// assert_eq!("leaky_relu".parse::<Nonlinearity>()?, Nonlinearity::LeakyRelu);
/// assert_eq!("gelu".parse::<Nonlinearity>().unwrap_err().to_string(), "Unsupported nonlinearity gelu");
/// # Ok::<(), nninit::Error>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[allow(missing_docs)]
pub enum Nonlinearity {
    Linear,
    Conv1d,
    Conv2d,
    Conv3d,
    ConvTranspose1d,
    ConvTranspose2d,
    ConvTranspose3d,
    Sigmoid,
    Tanh,
    Relu,
    LeakyRelu,
    Selu,
}

const NONLINEARITIES: [(&str, Nonlinearity); 12] = [
    ("linear", Nonlinearity::Linear),
    ("conv1d", Nonlinearity::Conv1d),
    ("conv2d", Nonlinearity::Conv2d),
    ("conv3d", Nonlinearity::Conv3d),
    ("conv_transpose1d", Nonlinearity::ConvTranspose1d),
    ("conv_transpose2d", Nonlinearity::ConvTranspose2d),
    ("conv_transpose3d", Nonlinearity::ConvTranspose3d),
    ("sigmoid", Nonlinearity::Sigmoid),
    ("tanh", Nonlinearity::Tanh),
    ("relu", Nonlinearity::Relu),
    ("leaky_relu", Nonlinearity::LeakyRelu),
    ("selu", Nonlinearity::Selu),
];

impl Nonlinearity {
    /// PyTorch's name (`leaky_relu`, `conv_transpose2d`, ...).
    ///
    /// ```
    /// assert_eq!(nninit::init::Nonlinearity::ConvTranspose2d.as_str(), "conv_transpose2d");
    /// ```
    pub fn as_str(self) -> &'static str {
        NONLINEARITIES.iter().find(|(_, n)| *n == self).map(|(s, _)| *s).unwrap_or("linear")
    }
}

impl std::str::FromStr for Nonlinearity {
    type Err = Error;
    /// Exact PyTorch names; anything else: "Unsupported nonlinearity `<name>`".
    fn from_str(s: &str) -> Result<Self> {
        NONLINEARITIES
            .iter()
            .find(|(name, _)| *name == s)
            .map(|(_, n)| *n)
            .ok_or_else(|| Error::value(format!("Unsupported nonlinearity {s}")))
    }
}

impl std::fmt::Display for Nonlinearity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The recommended gain for a nonlinearity, as `torch.nn.init.calculate_gain(nonlinearity, param)`.
///
/// | nonlinearity | gain |
/// |---|---|
/// | linear, conv*, conv_transpose*, sigmoid | 1 |
/// | tanh | 5/3 |
/// | relu | √2 |
/// | leaky_relu | √(2 / (1 + slope²)), slope = `param` or 0.01 |
/// | selu | 3/4 |
///
/// `param` is the negative slope and only read for `leaky_relu` (computed as `slope·slope` in f64,
/// the same as Python's `slope**2`). Source: PyTorch `torch/nn/init.py`; the SELU value follows
/// Klambauer et al. 2017 as PyTorch rounds it. A non-finite slope is an error
/// ("negative_slope nan not a valid number"), and so is one whose square overflows (Python's
/// `negative_slope**2` raises `OverflowError: (34, 'Numerical result out of range')`).
///
/// ```
/// use nninit::init::{calculate_gain, Nonlinearity};
/// assert_eq!(calculate_gain(Nonlinearity::Relu, None)?, 2f64.sqrt());
/// assert_eq!(calculate_gain(Nonlinearity::LeakyRelu, Some(1.0))?, 1.0);
/// let err = calculate_gain(Nonlinearity::LeakyRelu, Some(1e200)).unwrap_err();
/// assert_eq!(err.to_string(), "negative_slope 1e+200: (34, 'Numerical result out of range')");
/// # Ok::<(), nninit::Error>(())
/// ```
pub fn calculate_gain(nonlinearity: Nonlinearity, param: Option<f64>) -> Result<f64> {
    Ok(match nonlinearity {
        Nonlinearity::Tanh => 5.0 / 3.0,
        Nonlinearity::Relu => 2f64.sqrt(),
        Nonlinearity::LeakyRelu => {
            let slope = param.unwrap_or(0.01);
            if !slope.is_finite() {
                return Err(Error::value(format!("negative_slope {slope} not a valid number")));
            }
            let square = slope * slope;
            if square.is_infinite() {
                let slope = super::functions::fmt_g(slope);
                return Err(Error::value(format!("negative_slope {slope}: (34, 'Numerical result out of range')")));
            }
            (2.0 / (1.0 + square)).sqrt()
        }
        Nonlinearity::Selu => 3.0 / 4.0,
        _ => 1.0,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gain(name: &str, p: Option<f64>) -> f64 {
        calculate_gain(name.parse().unwrap(), p).unwrap()
    }

    #[test]
    #[allow(clippy::approx_constant)] // PyTorch's printed values, on purpose
    fn gains_case_v6() {
        for n in [
            "linear",
            "conv1d",
            "conv2d",
            "conv3d",
            "conv_transpose1d",
            "conv_transpose2d",
            "conv_transpose3d",
            "sigmoid",
        ] {
            assert_eq!(gain(n, None), 1.0);
        }
        assert_eq!(gain("tanh", None), 1.6666666666666667);
        assert_eq!(gain("relu", None), 1.4142135623730951);
        assert_eq!(gain("leaky_relu", None), 1.4141428569978354);
        assert!((gain("leaky_relu", Some(0.2)) - 1.3867505).abs() < 1e-7);
        assert_eq!(gain("selu", None), 0.75);
        let err = "gelu".parse::<Nonlinearity>().unwrap_err();
        assert_eq!(err.to_string(), "Unsupported nonlinearity gelu");
        assert!(calculate_gain(Nonlinearity::LeakyRelu, Some(f64::NAN)).is_err());
        // a = sqrt(5): one ulp below 1/sqrt(3), as in Python.
        assert_eq!(gain("leaky_relu", Some(5f64.sqrt())), 0.5773502691896257);
    }

    #[test]
    fn fans() {
        assert_eq!(fan_in_and_fan_out(&[3, 5]).unwrap(), (5, 3));
        assert_eq!(fan_in_and_fan_out(&[16, 8, 3, 3]).unwrap(), (72, 144));
        assert_eq!(fan_in_and_fan_out(&[4, 1, 3, 3]).unwrap(), (9, 36));
        let e = fan_in_and_fan_out(&[64]).unwrap_err().to_string();
        assert_eq!(e, "Fan in and fan out can not be computed for tensor with fewer than 2 dimensions");
        assert!(fan_in_and_fan_out(&[]).is_err());
        assert_eq!("FAN_OUT".parse::<FanMode>().unwrap(), FanMode::FanOut);
        assert_eq!(
            "fan_avg".parse::<FanMode>().unwrap_err().to_string(),
            "Mode fan_avg not supported, please use one of ['fan_in', 'fan_out']"
        );
    }
}
