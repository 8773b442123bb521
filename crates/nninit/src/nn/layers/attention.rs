//! `nn.MultiheadAttention` (`torch/nn/modules/activation.py`).
//!
//! Signature: `(embed_dim, num_heads, dropout=0.0, bias=True, add_bias_kv=False,
//! add_zero_attn=False, kdim=None, vdim=None, batch_first=False)`.
//!
//! Parameters, `E = embed_dim`: `in_proj_weight (3E, E)` when `kdim == vdim == E`, else
//! `q_proj_weight (E, E)`, `k_proj_weight (E, kdim)`, `v_proj_weight (E, vdim)`; with `bias`,
//! `in_proj_bias (3E)`; with `add_bias_kv`, `bias_k`, `bias_v (1, 1, E)`. The child `out_proj`
//! (an `nn.Linear(E, E, bias)`) is constructed first, with its own default init.
//!
//! Default init (`_reset_parameters`): projection weights `xavier_uniform_`, `in_proj_bias` and
//! `out_proj.bias` 0, `bias_k`/`bias_v` `xavier_normal_`.
//!
//! Errors (PyTorch's): `embed_dim` or `num_heads` zero, `embed_dim` not divisible by
//! `num_heads`.
//!
//! `nn.TransformerEncoderLayer`, `nn.TransformerDecoderLayer`, `nn.Transformer` and the
//! `TransformerEncoder`/`TransformerDecoder` stacks are modules built from this layer, `Linear`,
//! `LayerNorm` and `Dropout`: see [`crate::arch::transformer`].

use super::{each, param, Family};
use crate::error::{Error, Result};
use crate::init::Init;
use crate::nn::{Layer, Role, Slot};
use crate::pycall::Call;

/// The attention family.
pub(crate) struct Attention;

const PARAMS: [&str; 9] =
    ["embed_dim", "num_heads", "dropout", "bias", "add_bias_kv", "add_zero_attn", "kdim", "vdim", "batch_first"];

impl Family for Attention {
    fn classes(&self) -> &'static str {
        "MultiheadAttention"
    }

    fn parse(&self, call: &Call) -> Option<Result<Layer>> {
        if call.name != "MultiheadAttention" {
            return None;
        }
        Some(call.bind("layer", &PARAMS).and_then(|a| {
            let e = a.usize("embed_dim", None)?;
            Ok(Layer::MultiheadAttention {
                embed_dim: e,
                num_heads: a.usize("num_heads", None)?,
                bias: a.bool("bias", true)?,
                add_bias_kv: a.bool("add_bias_kv", false)?,
                kdim: a.usize("kdim", Some(e))?,
                vdim: a.usize("vdim", Some(e))?,
            })
        }))
    }

    fn validate(&self, layer: &Layer) -> Result<()> {
        let Layer::MultiheadAttention { embed_dim, num_heads, .. } = layer else { return Ok(()) };
        if *embed_dim == 0 || *num_heads == 0 {
            Err(Error::value(format!(
                "embed_dim and num_heads must be greater than 0, got embed_dim={embed_dim} and num_heads={num_heads} instead"
            )))
        } else if embed_dim % num_heads != 0 {
            Err(Error::value("embed_dim must be divisible by num_heads"))
        } else {
            Ok(())
        }
    }

    fn slots(&self, layer: &Layer) -> Vec<Slot> {
        let Layer::MultiheadAttention { embed_dim: e, bias, add_bias_kv, kdim, vdim, .. } = layer else {
            return Vec::new();
        };
        let mut s = Vec::new();
        if kdim == e && vdim == e {
            s.push(param("in_proj_weight", vec![3 * e, *e], Role::Weight));
        } else {
            s.push(param("q_proj_weight", vec![*e, *e], Role::Weight));
            s.push(param("k_proj_weight", vec![*e, *kdim], Role::Weight));
            s.push(param("v_proj_weight", vec![*e, *vdim], Role::Weight));
        }
        if *bias {
            s.push(param("in_proj_bias", vec![3 * e], Role::Bias));
        }
        if *add_bias_kv {
            s.push(param("bias_k", vec![1, 1, *e], Role::Bias));
            s.push(param("bias_v", vec![1, 1, *e], Role::Bias));
        }
        s
    }

    fn builtin_children(&self, layer: &Layer) -> Vec<(&'static str, Layer)> {
        match layer {
            Layer::MultiheadAttention { embed_dim, bias, .. } => {
                vec![("out_proj", Layer::Linear { in_features: *embed_dim, out_features: *embed_dim, bias: *bias })]
            }
            _ => Vec::new(),
        }
    }

    fn reset_inits(&self, layer: &Layer) -> Vec<(String, Init)> {
        let Layer::MultiheadAttention { bias, .. } = layer else { return Vec::new() };
        let mut inits = each(&self.slots(layer), |s| {
            Some(match s.name.as_str() {
                "in_proj_bias" => Init::Zeros,
                "bias_k" | "bias_v" => Init::XavierNormal { gain: 1.0 },
                _ => Init::XavierUniform { gain: 1.0 },
            })
        });
        if *bias {
            inits.push(("out_proj.bias".to_string(), Init::Zeros));
        }
        inits
    }
}
