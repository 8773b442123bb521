//! Layers from PyTorch constructor syntax: `"nn.Conv2d(16, 32, 3, groups=4)"`.

use super::layer::{Layer, RnnMode};
use crate::error::{Error, Result};
use crate::pycall::{Call, Literal};
use crate::tensor::DType;

const LAYERS: &str = "Linear, Bilinear, Conv1d/2d/3d, ConvTranspose1d/2d/3d, BatchNorm1d/2d/3d, InstanceNorm1d/2d/3d, \
LayerNorm, GroupNorm, RMSNorm, Embedding, RNN, LSTM, GRU, RNNCell, LSTMCell, GRUCell, MultiheadAttention, \
and parameterless layers (ReLU, Dropout, ...)";

/// Class names accepted as parameterless layers.
const STATELESS: [&str; 24] = [
    "ReLU",
    "ReLU6",
    "LeakyReLU",
    "GELU",
    "SiLU",
    "Tanh",
    "Sigmoid",
    "Softmax",
    "Hardswish",
    "Hardtanh",
    "ELU",
    "SELU",
    "Mish",
    "Dropout",
    "Dropout1d",
    "Dropout2d",
    "Identity",
    "Flatten",
    "MaxPool1d",
    "MaxPool2d",
    "MaxPool3d",
    "AvgPool2d",
    "AdaptiveAvgPool2d",
    "AdaptiveAvgPool1d",
];

fn dims_suffix(name: &str, prefix: &str) -> Option<usize> {
    let rest = name.strip_prefix(prefix)?.strip_suffix('d')?;
    rest.parse().ok().filter(|d| (1..=3).contains(d))
}

impl Layer {
    /// Parses a PyTorch layer constructor call (`nn.Linear(784, 256)`, `torch.nn.LSTM(8, 16,
    /// num_layers=2, bidirectional=True)`), with PyTorch's argument names, order and defaults.
    /// Arguments that do not change parameters (stride, padding, dropout, eps, ...) are accepted
    /// and ignored. Returns the layer and the `dtype=` argument, if given.
    ///
    /// # Errors
    /// [`Error::Parse`] for bad syntax or arguments, [`Error::Unknown`] for an unknown class,
    /// and PyTorch's constructor errors ([`Layer::validate`]).
    pub fn parse(src: &str) -> Result<(Layer, Option<DType>)> {
        let call = Call::parse("layer", src)?;
        let dtype = match call.keyword.iter().find(|(k, _)| k == "dtype").map(|(_, v)| v) {
            Some(Literal::Name(n)) | Some(Literal::Str(n)) => Some(n.parse::<DType>()?),
            Some(Literal::None) | None => None,
            Some(other) => return Err(Error::parse("layer", src, format!("bad dtype {other}"))),
        };
        let mut call = call;
        call.keyword.retain(|(k, _)| k != "dtype" && k != "device");
        let name = call.name.clone();
        let bind = |call: Call, params: &[&'static str]| call.bind("layer", src, params);
        let layer = if let Some(d) = dims_suffix(&name, "ConvTranspose").or_else(|| dims_suffix(&name, "Conv")) {
            let transposed = name.starts_with("ConvTranspose");
            let params: &[&str] = if transposed {
                &[
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
                ]
            } else {
                &[
                    "in_channels",
                    "out_channels",
                    "kernel_size",
                    "stride",
                    "padding",
                    "dilation",
                    "groups",
                    "bias",
                    "padding_mode",
                ]
            };
            let a = bind(call, params)?;
            Layer::Conv {
                in_channels: a.usize("in_channels", None)?,
                out_channels: a.usize("out_channels", None)?,
                kernel_size: a.sizes("kernel_size", d)?,
                groups: a.usize("groups", Some(1))?,
                bias: a.bool("bias", true)?,
                transposed,
            }
        } else if let Some(dims) = dims_suffix(&name, "BatchNorm").or_else(|| dims_suffix(&name, "InstanceNorm")) {
            let a = bind(call, &["num_features", "eps", "momentum", "affine", "track_running_stats"])?;
            let instance = name.starts_with("Instance");
            Layer::BatchNorm {
                dims,
                num_features: a.usize("num_features", None)?,
                affine: a.bool("affine", !instance)?,
                track_running_stats: a.bool("track_running_stats", !instance)?,
            }
        } else {
            match name.as_str() {
                "Linear" => {
                    let a = bind(call, &["in_features", "out_features", "bias"])?;
                    Layer::Linear {
                        in_features: a.usize("in_features", None)?,
                        out_features: a.usize("out_features", None)?,
                        bias: a.bool("bias", true)?,
                    }
                }
                "Bilinear" => {
                    let a = bind(call, &["in1_features", "in2_features", "out_features", "bias"])?;
                    Layer::Bilinear {
                        in1_features: a.usize("in1_features", None)?,
                        in2_features: a.usize("in2_features", None)?,
                        out_features: a.usize("out_features", None)?,
                        bias: a.bool("bias", true)?,
                    }
                }
                "LayerNorm" => {
                    let a = bind(call, &["normalized_shape", "eps", "elementwise_affine", "bias"])?;
                    Layer::LayerNorm {
                        normalized_shape: a.sizes("normalized_shape", 0)?,
                        elementwise_affine: a.bool("elementwise_affine", true)?,
                        bias: a.bool("bias", true)?,
                    }
                }
                "RMSNorm" => {
                    let a = bind(call, &["normalized_shape", "eps", "elementwise_affine"])?;
                    Layer::RmsNorm {
                        normalized_shape: a.sizes("normalized_shape", 0)?,
                        elementwise_affine: a.bool("elementwise_affine", true)?,
                    }
                }
                "GroupNorm" => {
                    let a = bind(call, &["num_groups", "num_channels", "eps", "affine"])?;
                    Layer::GroupNorm {
                        num_groups: a.usize("num_groups", None)?,
                        num_channels: a.usize("num_channels", None)?,
                        affine: a.bool("affine", true)?,
                    }
                }
                "Embedding" => {
                    let a = bind(
                        call,
                        &[
                            "num_embeddings",
                            "embedding_dim",
                            "padding_idx",
                            "max_norm",
                            "norm_type",
                            "scale_grad_by_freq",
                            "sparse",
                        ],
                    )?;
                    let num = a.usize("num_embeddings", None)?;
                    Layer::Embedding {
                        num_embeddings: num,
                        embedding_dim: a.usize("embedding_dim", None)?,
                        padding_idx: normalize_padding_idx(a.opt_i64("padding_idx")?, num)?,
                    }
                }
                "RNN" | "LSTM" | "GRU" => {
                    let params: &[&str] = match name.as_str() {
                        "RNN" => &[
                            "input_size",
                            "hidden_size",
                            "num_layers",
                            "nonlinearity",
                            "bias",
                            "batch_first",
                            "dropout",
                            "bidirectional",
                        ],
                        "LSTM" => &[
                            "input_size",
                            "hidden_size",
                            "num_layers",
                            "bias",
                            "batch_first",
                            "dropout",
                            "bidirectional",
                            "proj_size",
                        ],
                        _ => &[
                            "input_size",
                            "hidden_size",
                            "num_layers",
                            "bias",
                            "batch_first",
                            "dropout",
                            "bidirectional",
                        ],
                    };
                    let a = bind(call, params)?;
                    let mode = rnn_mode(&name, &a.str("nonlinearity", "tanh")?).ok_or_else(|| {
                        Error::value(format!(
                            "Unknown nonlinearity '{}'. Select from 'tanh' or 'relu'.",
                            a.str("nonlinearity", "tanh").unwrap_or_default()
                        ))
                    })?;
                    Layer::Rnn {
                        mode,
                        input_size: a.usize("input_size", None)?,
                        hidden_size: a.usize("hidden_size", None)?,
                        num_layers: a.usize("num_layers", Some(1))?,
                        bias: a.bool("bias", true)?,
                        bidirectional: a.bool("bidirectional", false)?,
                        proj_size: a.usize("proj_size", Some(0))?,
                    }
                }
                "RNNCell" | "LSTMCell" | "GRUCell" => {
                    let a = bind(call, &["input_size", "hidden_size", "bias", "nonlinearity"])?;
                    let base = name.trim_end_matches("Cell");
                    let mode = rnn_mode(base, &a.str("nonlinearity", "tanh")?)
                        .ok_or_else(|| Error::value("Unknown nonlinearity. Select from 'tanh' or 'relu'."))?;
                    Layer::RnnCell {
                        mode,
                        input_size: a.usize("input_size", None)?,
                        hidden_size: a.usize("hidden_size", None)?,
                        bias: a.bool("bias", true)?,
                    }
                }
                "MultiheadAttention" => {
                    let a = bind(
                        call,
                        &[
                            "embed_dim",
                            "num_heads",
                            "dropout",
                            "bias",
                            "add_bias_kv",
                            "add_zero_attn",
                            "kdim",
                            "vdim",
                            "batch_first",
                        ],
                    )?;
                    let e = a.usize("embed_dim", None)?;
                    Layer::MultiheadAttention {
                        embed_dim: e,
                        num_heads: a.usize("num_heads", None)?,
                        bias: a.bool("bias", true)?,
                        add_bias_kv: a.bool("add_bias_kv", false)?,
                        kdim: a.usize("kdim", Some(e))?,
                        vdim: a.usize("vdim", Some(e))?,
                    }
                }
                "Sequential" if call.positional.is_empty() => Layer::Sequential,
                "ModuleList" if call.positional.is_empty() => Layer::ModuleList,
                n if STATELESS.contains(&n) => Layer::Stateless(n.to_string()),
                n => return Err(Error::Unknown { what: "layer type", name: n.to_string(), known: LAYERS.into() }),
            }
        };
        layer.validate()?;
        Ok((layer, dtype))
    }
}

fn rnn_mode(name: &str, nonlinearity: &str) -> Option<RnnMode> {
    match (name, nonlinearity) {
        ("LSTM", _) => Some(RnnMode::Lstm),
        ("GRU", _) => Some(RnnMode::Gru),
        ("RNN", "tanh") => Some(RnnMode::RnnTanh),
        ("RNN", "relu") => Some(RnnMode::RnnRelu),
        _ => None,
    }
}

/// PyTorch's `padding_idx` rule: must lie in `[-num, num)`; negative values count from the end.
pub(crate) fn normalize_padding_idx(p: Option<i64>, num: usize) -> Result<Option<usize>> {
    match p {
        None => Ok(None),
        Some(p) if p >= 0 && (p as usize) < num => Ok(Some(p as usize)),
        Some(p) if p < 0 && p.unsigned_abs() as usize <= num => Ok(Some(num - p.unsigned_abs() as usize)),
        Some(_) => Err(Error::value("Padding_idx must be within num_embeddings")),
    }
}
