//! `nn.Conv1d/2d/3d` and `nn.ConvTranspose1d/2d/3d` (`torch/nn/modules/conv.py`).
//!
//! | class | signature (arguments that shape parameters in bold) |
//! |---|---|
//! | `Conv{n}d` | (**in_channels**, **out_channels**, **kernel_size**, stride=1, padding=0, dilation=1, **groups=1**, **bias=True**, padding_mode='zeros') |
//! | `ConvTranspose{n}d` | (**in_channels**, **out_channels**, **kernel_size**, stride=1, padding=0, output_padding=0, **groups=1**, **bias=True**, dilation=1, padding_mode='zeros') |
//!
//! `kernel_size` is an int or an `n`-tuple. Parameters: weight `(out, in/groups, *k)`, transposed
//! `(in, out/groups, *k)`; bias `(out)`. Default init as `nn.Linear`'s: `kaiming_uniform_(a=sqrt(5))`
//! and a bias `U(-1/sqrt(fan_in), 1/sqrt(fan_in))` with the weight's fan_in (dims 1.. of the weight,
//! for transposed convolutions too).
//!
//! Errors (PyTorch's): "groups must be a positive integer", "in_channels must be divisible by
//! groups", "out_channels must be divisible by groups".

use super::{kaiming_default, param, Family};
use crate::error::{Error, Result};
use crate::init::Init;
use crate::nn::{Layer, Role, Slot};
use crate::pycall::Call;

/// The convolution family.
pub(crate) struct Convs;

/// `Conv`/`ConvTranspose`'s positional parameters, in order.
const CONV: [&str; 9] =
    ["in_channels", "out_channels", "kernel_size", "stride", "padding", "dilation", "groups", "bias", "padding_mode"];
const CONV_TRANSPOSE: [&str; 10] = [
    "in_channels",
    "out_channels",
    "kernel_size",
    "stride",
    "padding",
    "output_padding",
    "groups",
    "bias",
    "dilation",
    "padding_mode",
];

/// `n` when `name` is `{prefix}{n}d` with `n` in 1..=3.
pub(crate) fn dims_suffix(name: &str, prefix: &str) -> Option<usize> {
    let rest = name.strip_prefix(prefix)?.strip_suffix('d')?;
    rest.parse().ok().filter(|d| (1..=3).contains(d))
}

impl Family for Convs {
    fn classes(&self) -> &'static str {
        "Conv1d/2d/3d, ConvTranspose1d/2d/3d"
    }

    fn parse(&self, call: &Call) -> Option<Result<Layer>> {
        let name = call.name.as_str();
        let transposed = name.starts_with("ConvTranspose");
        let d = if transposed { dims_suffix(name, "ConvTranspose") } else { dims_suffix(name, "Conv") }?;
        let params: &[&'static str] = if transposed { &CONV_TRANSPOSE } else { &CONV };
        Some(call.bind("layer", params).and_then(|a| {
            Ok(Layer::Conv {
                in_channels: a.usize("in_channels", None)?,
                out_channels: a.usize("out_channels", None)?,
                kernel_size: a.sizes("kernel_size", d)?,
                groups: a.usize("groups", Some(1))?,
                bias: a.bool("bias", true)?,
                transposed,
            })
        }))
    }

    fn validate(&self, layer: &Layer) -> Result<()> {
        let Layer::Conv { in_channels, out_channels, groups, .. } = layer else { return Ok(()) };
        if *groups == 0 {
            Err(Error::value("groups must be a positive integer"))
        } else if in_channels % groups != 0 {
            Err(Error::value("in_channels must be divisible by groups"))
        } else if out_channels % groups != 0 {
            Err(Error::value("out_channels must be divisible by groups"))
        } else {
            Ok(())
        }
    }

    fn slots(&self, layer: &Layer) -> Vec<Slot> {
        let Layer::Conv { in_channels, out_channels, kernel_size, groups, bias, transposed } = layer else {
            return Vec::new();
        };
        // `checked_div`: a layer that failed `validate` (groups 0) still has a layout, never a panic.
        let per_group = |c: usize| c.checked_div(*groups).unwrap_or(0);
        let (a, b) = if *transposed {
            (*in_channels, per_group(*out_channels))
        } else {
            (*out_channels, per_group(*in_channels))
        };
        let mut shape = vec![a, b];
        shape.extend_from_slice(kernel_size);
        let mut s = vec![param("weight", shape, Role::Weight)];
        if *bias {
            s.push(param("bias", vec![*out_channels], Role::Bias));
        }
        s
    }

    fn reset_inits(&self, layer: &Layer) -> Vec<(String, Init)> {
        kaiming_default(&self.slots(layer))
    }
}
