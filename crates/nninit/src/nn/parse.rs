//! Layers from PyTorch constructor syntax: `"nn.Conv2d(16, 32, 3, groups=4)"`. Each layer
//! family parses its own classes' arguments ([`crate::nn::layers`]); this is the entry point.

use super::layer::Layer;
use super::layers;
use crate::error::{Error, Result};
use crate::pycall::{Call, Literal};
use crate::tensor::DType;

impl Layer {
    /// Parses a PyTorch layer constructor call (`nn.Linear(784, 256)`, `torch.nn.LSTM(8, 16,
    /// num_layers=2, bidirectional=True)`), with PyTorch's argument names, order and defaults
    /// (each family's signature is in [`crate::nn::layers`]). Arguments that do not change
    /// parameters (stride, padding, dropout, eps, ...) are accepted and ignored. Returns the
    /// layer and the `dtype=` argument, if given.
    ///
    /// One call builds one layer: `nn.Sequential(...)` with modules inside, and the transformer
    /// modules, are module trees, built by [`crate::arch::from_torch_ctor`].
    ///
    /// ```
    /// use nninit::nn::{Layer, RnnMode};
    /// use nninit::DType;
    ///
    /// let (lstm, dtype) = Layer::parse("nn.LSTM(8, 16, num_layers=2, dtype=torch.float64)")?;
    /// assert!(matches!(lstm, Layer::Rnn { mode: RnnMode::Lstm, input_size: 8, hidden_size: 16, num_layers: 2, .. }));
    /// assert_eq!(dtype, Some(DType::F64));
    /// // weight_ih_l0 [64, 8], weight_hh_l0 [64, 16], bias_ih_l0 [64], bias_hh_l0 [64], then layer 1
    /// assert_eq!(lstm.slots()[0].shape, [64, 8]);
    /// assert_eq!(lstm.slots().len(), 8);
    ///
    /// // PyTorch's constructor errors
    /// let err = Layer::parse("nn.Conv2d(3, 8, 3, groups=2)").unwrap_err();
    /// assert_eq!(err.to_string(), "in_channels must be divisible by groups");
    /// # Ok::<(), nninit::Error>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::Parse`] for bad syntax or arguments (a module where a number is expected, calls
    /// nested more than 64 deep), [`Error::Unknown`] for an unknown class, and PyTorch's
    /// constructor errors ([`Layer::validate`]).
    pub fn parse(src: &str) -> Result<(Layer, Option<DType>)> {
        Layer::from_call(Call::parse("layer", src)?)
    }

    /// [`Layer::parse`] of an already parsed call (an argument of an enclosing call).
    pub(crate) fn from_call(mut call: Call) -> Result<(Layer, Option<DType>)> {
        let dtype = take_dtype(&mut call)?;
        let layer = layers::parse(&call)?;
        layer.validate()?;
        Ok((layer, dtype))
    }
}

/// Removes the `dtype=` and `device=` keywords from `call`, returning the dtype if one was given
/// (`torch.float64`, `'bf16'`, `None`).
///
/// # Errors
/// A dtype nninit does not know, or a value that is not a dtype.
pub(crate) fn take_dtype(call: &mut Call) -> Result<Option<DType>> {
    let dtype = match call.keyword.iter().find(|(k, _)| k == "dtype").map(|(_, v)| v) {
        Some(Literal::Name(n)) | Some(Literal::Str(n)) => Some(n.parse::<DType>()?),
        Some(Literal::None) | None => None,
        Some(other) => return Err(Error::parse("layer", call.text.as_str(), format!("bad dtype {other}"))),
    };
    call.keyword.retain(|(k, _)| k != "dtype" && k != "device");
    Ok(dtype)
}
