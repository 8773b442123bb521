//! `nn.Linear` and `nn.Bilinear` (`torch/nn/modules/linear.py`).
//!
//! | class | signature | parameters | default init |
//! |---|---|---|---|
//! | `Linear` | `(in_features, out_features, bias=True)` | weight `(out, in)`, bias `(out)` | weight `kaiming_uniform_(a=sqrt(5))` = `U(-1/sqrt(in), 1/sqrt(in))`; bias `U(-1/sqrt(in), 1/sqrt(in))` |
//! | `Bilinear` | `(in1_features, in2_features, out_features, bias=True)` | weight `(out, in1, in2)`, bias `(out)` | both `U(-1/sqrt(in1), 1/sqrt(in1))` |
//!
//! Errors: `Bilinear` with `in1_features=0` ("in1_features must be > 0, but got (in1_features=0)").
//! `Linear(0, n)` is valid: its bias bound is 0, so the bias is exactly zero.

use super::{each, inv_sqrt, kaiming_default, param, uniform, Family};
use crate::error::{Error, Result};
use crate::init::Init;
use crate::nn::{Layer, Role, Slot};
use crate::pycall::Call;

/// The `Linear` family.
pub(crate) struct Linears;

impl Family for Linears {
    fn classes(&self) -> &'static str {
        "Linear, Bilinear"
    }

    fn parse(&self, call: &Call) -> Option<Result<Layer>> {
        let parse = |params: &[&'static str]| call.bind("layer", params);
        Some(match call.name.as_str() {
            "Linear" => parse(&["in_features", "out_features", "bias"]).and_then(|a| {
                Ok(Layer::Linear {
                    in_features: a.usize("in_features", None)?,
                    out_features: a.usize("out_features", None)?,
                    bias: a.bool("bias", true)?,
                })
            }),
            "Bilinear" => parse(&["in1_features", "in2_features", "out_features", "bias"]).and_then(|a| {
                Ok(Layer::Bilinear {
                    in1_features: a.usize("in1_features", None)?,
                    in2_features: a.usize("in2_features", None)?,
                    out_features: a.usize("out_features", None)?,
                    bias: a.bool("bias", true)?,
                })
            }),
            _ => return None,
        })
    }

    fn validate(&self, layer: &Layer) -> Result<()> {
        match layer {
            Layer::Bilinear { in1_features: 0, .. } => {
                Err(Error::value("in1_features must be > 0, but got (in1_features=0)"))
            }
            _ => Ok(()),
        }
    }

    fn slots(&self, layer: &Layer) -> Vec<Slot> {
        let (weight, out_features, bias) = match layer {
            Layer::Linear { in_features, out_features, bias } => {
                (vec![*out_features, *in_features], out_features, bias)
            }
            Layer::Bilinear { in1_features, in2_features, out_features, bias } => {
                (vec![*out_features, *in1_features, *in2_features], out_features, bias)
            }
            _ => return Vec::new(),
        };
        let mut s = vec![param("weight", weight, Role::Weight)];
        if *bias {
            s.push(param("bias", vec![*out_features], Role::Bias));
        }
        s
    }

    fn reset_inits(&self, layer: &Layer) -> Vec<(String, Init)> {
        match layer {
            Layer::Bilinear { in1_features, .. } => {
                each(&self.slots(layer), |_| Some(uniform(inv_sqrt(*in1_features))))
            }
            _ => kaiming_default(&self.slots(layer)),
        }
    }
}
