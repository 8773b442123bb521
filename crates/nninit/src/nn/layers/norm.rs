//! Normalization layers (`torch/nn/modules/batchnorm.py`, `instancenorm.py`, `normalization.py`).
//!
//! | class | signature | parameters and buffers |
//! |---|---|---|
//! | `BatchNorm{n}d` | `(num_features, eps=1e-5, momentum=0.1, affine=True, track_running_stats=True)` | weight, bias `(C)`; buffers running_mean, running_var `(C)`, num_batches_tracked `()` int64 |
//! | `InstanceNorm{n}d` | the same, with `affine=False, track_running_stats=False` | as `BatchNorm{n}d` (class name `BatchNorm{n}d`) |
//! | `LayerNorm` | `(normalized_shape, eps=1e-5, elementwise_affine=True, bias=True)` | weight, bias `normalized_shape` |
//! | `GroupNorm` | `(num_groups, num_channels, eps=1e-5, affine=True)` | weight, bias `(num_channels)` |
//! | `RMSNorm` | `(normalized_shape, eps=None, elementwise_affine=True)` | weight `normalized_shape` |
//!
//! Default init, no draws: weight and `running_var` 1, bias and `running_mean` 0,
//! `num_batches_tracked` 0. Errors: `GroupNorm` with `num_channels` not divisible by `num_groups`
//! ("num_channels (C) must be divisible by num_groups (G)").

use super::conv::dims_suffix;
use super::{buffer, each, param, Family};
use crate::error::{Error, Result};
use crate::init::Init;
use crate::nn::{Layer, Role, Slot};
use crate::pycall::Call;

/// The normalization family.
pub(crate) struct Norms;

impl Family for Norms {
    fn classes(&self) -> &'static str {
        "BatchNorm1d/2d/3d, InstanceNorm1d/2d/3d, LayerNorm, GroupNorm, RMSNorm"
    }

    fn parse(&self, call: &Call) -> Option<Result<Layer>> {
        let name = call.name.as_str();
        let bind = |params: &[&'static str]| call.bind("layer", params);
        if let Some(dims) = dims_suffix(name, "BatchNorm").or_else(|| dims_suffix(name, "InstanceNorm")) {
            let instance = name.starts_with("Instance");
            return Some(bind(&["num_features", "eps", "momentum", "affine", "track_running_stats"]).and_then(|a| {
                Ok(Layer::BatchNorm {
                    dims,
                    num_features: a.usize("num_features", None)?,
                    affine: a.bool("affine", !instance)?,
                    track_running_stats: a.bool("track_running_stats", !instance)?,
                })
            }));
        }
        Some(match name {
            "LayerNorm" => bind(&["normalized_shape", "eps", "elementwise_affine", "bias"]).and_then(|a| {
                Ok(Layer::LayerNorm {
                    normalized_shape: a.sizes("normalized_shape", 0)?,
                    elementwise_affine: a.bool("elementwise_affine", true)?,
                    bias: a.bool("bias", true)?,
                })
            }),
            "RMSNorm" => bind(&["normalized_shape", "eps", "elementwise_affine"]).and_then(|a| {
                Ok(Layer::RmsNorm {
                    normalized_shape: a.sizes("normalized_shape", 0)?,
                    elementwise_affine: a.bool("elementwise_affine", true)?,
                })
            }),
            "GroupNorm" => bind(&["num_groups", "num_channels", "eps", "affine"]).and_then(|a| {
                Ok(Layer::GroupNorm {
                    num_groups: a.usize("num_groups", None)?,
                    num_channels: a.usize("num_channels", None)?,
                    affine: a.bool("affine", true)?,
                })
            }),
            _ => return None,
        })
    }

    fn validate(&self, layer: &Layer) -> Result<()> {
        match layer {
            Layer::GroupNorm { num_groups, num_channels, .. } if *num_groups == 0 || num_channels % num_groups != 0 => {
                Err(Error::value(format!(
                    "num_channels ({num_channels}) must be divisible by num_groups ({num_groups})"
                )))
            }
            _ => Ok(()),
        }
    }

    fn slots(&self, layer: &Layer) -> Vec<Slot> {
        let mut s = Vec::new();
        match layer {
            Layer::BatchNorm { num_features: c, affine, track_running_stats, .. } => {
                if *affine {
                    s.push(param("weight", vec![*c], Role::NormWeight));
                    s.push(param("bias", vec![*c], Role::NormBias));
                }
                if *track_running_stats {
                    s.push(buffer("running_mean", vec![*c], false));
                    s.push(buffer("running_var", vec![*c], false));
                    s.push(buffer("num_batches_tracked", vec![], true));
                }
            }
            Layer::LayerNorm { normalized_shape, elementwise_affine: true, bias } => {
                s.push(param("weight", normalized_shape.clone(), Role::NormWeight));
                if *bias {
                    s.push(param("bias", normalized_shape.clone(), Role::NormBias));
                }
            }
            Layer::GroupNorm { num_channels, affine: true, .. } => {
                s.push(param("weight", vec![*num_channels], Role::NormWeight));
                s.push(param("bias", vec![*num_channels], Role::NormBias));
            }
            Layer::RmsNorm { normalized_shape, elementwise_affine: true } => {
                s.push(param("weight", normalized_shape.clone(), Role::NormWeight));
            }
            _ => {}
        }
        s
    }

    fn reset_inits(&self, layer: &Layer) -> Vec<(String, Init)> {
        each(&self.slots(layer), |s| {
            Some(if matches!(s.name.as_str(), "weight" | "running_var") { Init::Ones } else { Init::Zeros })
        })
    }
}
