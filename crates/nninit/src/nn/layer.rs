//! Layer kinds: the [`Layer`] enum, its parameter slots and roles. What each kind's constructor
//! accepts, checks, registers and draws lives with its family in [`crate::nn::layers`].

use super::layers;
use crate::error::{Error, Result};
use crate::init::Init;

/// What a parameter or buffer is for, so plans can address it by meaning.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// A weight that maps inputs (Linear, Conv, input-to-hidden, projections).
    Weight,
    /// An additive bias.
    Bias,
    /// A hidden-to-hidden (recurrent) weight of an RNN.
    Recurrent,
    /// An embedding table `(num_embeddings, embedding_dim)`.
    Embedding,
    /// The scale of a normalization layer (BatchNorm, LayerNorm, GroupNorm, RMSNorm).
    NormWeight,
    /// The shift of a normalization layer.
    NormBias,
    /// A buffer (running statistics, counters): never re-initialized by plans.
    Buffer,
}

impl std::str::FromStr for Role {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        serde_json::from_value(serde_json::Value::String(s.to_string())).map_err(|_| Error::Unknown {
            what: "role",
            name: s.into(),
            known: "weight, bias, recurrent, embedding, norm_weight, norm_bias, buffer".into(),
        })
    }
}

/// The recurrent cell type of [`Layer::Rnn`] / [`Layer::RnnCell`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum RnnMode {
    /// Elman RNN with tanh.
    RnnTanh,
    /// Elman RNN with ReLU.
    RnnRelu,
    /// LSTM: gates input, forget, cell, output (4H rows).
    Lstm,
    /// GRU: gates reset, update, new (3H rows).
    Gru,
}

impl RnnMode {
    /// Gates stacked along dim 0 of the weights: 4 (LSTM), 3 (GRU), 1 (RNN).
    pub fn gates(self) -> usize {
        match self {
            RnnMode::Lstm => 4,
            RnnMode::Gru => 3,
            _ => 1,
        }
    }

    /// The index of a named gate (`input`, `forget`, `cell`, `output` for LSTM; `reset`, `update`,
    /// `new` for GRU), in PyTorch's stacking order.
    pub fn gate_index(self, gate: &str) -> Option<usize> {
        let names: &[&str] = match self {
            RnnMode::Lstm => &["input", "forget", "cell", "output"],
            RnnMode::Gru => &["reset", "update", "new"],
            _ => &[],
        };
        names.iter().position(|g| *g == gate)
    }
}

/// A layer: its kind and the configuration that fixes its parameters' shapes.
///
/// [`Layer::type_name`] is PyTorch's class name, which plan rules match on. Each kind's
/// constructor signature, errors, parameters and default init are documented, and written, in
/// its family's file under [`crate::nn::layers`].
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[allow(missing_docs)] // fields carry PyTorch's constructor argument names
pub enum Layer {
    /// `nn.Linear(in_features, out_features, bias)`: weight `(out, in)`, bias `(out)`.
    Linear { in_features: usize, out_features: usize, bias: bool },
    /// `nn.Bilinear(in1, in2, out, bias)`: weight `(out, in1, in2)`, bias `(out)`.
    Bilinear { in1_features: usize, in2_features: usize, out_features: usize, bias: bool },
    /// `nn.Conv{1,2,3}d` / `nn.ConvTranspose{1,2,3}d`: weight `(out, in/groups, *k)`, transposed
    /// `(in, out/groups, *k)`; bias `(out)`. `kernel_size.len()` is the spatial rank.
    Conv {
        in_channels: usize,
        out_channels: usize,
        kernel_size: Vec<usize>,
        groups: usize,
        bias: bool,
        transposed: bool,
    },
    /// `nn.BatchNorm{1,2,3}d(num_features)`: weight, bias `(C)`; buffers running_mean,
    /// running_var `(C)`, num_batches_tracked `()` int64.
    BatchNorm { dims: usize, num_features: usize, affine: bool, track_running_stats: bool },
    /// `nn.LayerNorm(normalized_shape, elementwise_affine, bias)`.
    LayerNorm { normalized_shape: Vec<usize>, elementwise_affine: bool, bias: bool },
    /// `nn.GroupNorm(num_groups, num_channels, affine)`.
    GroupNorm { num_groups: usize, num_channels: usize, affine: bool },
    /// `nn.RMSNorm(normalized_shape)` (and Hugging Face `*RMSNorm`): weight ones.
    RmsNorm { normalized_shape: Vec<usize>, elementwise_affine: bool },
    /// `nn.Embedding(num_embeddings, embedding_dim, padding_idx)`: weight `(num, dim)`.
    /// `padding_idx` is stored normalized (non-negative).
    Embedding { num_embeddings: usize, embedding_dim: usize, padding_idx: Option<usize> },
    /// `nn.RNN` / `nn.LSTM` / `nn.GRU`.
    Rnn {
        mode: RnnMode,
        input_size: usize,
        hidden_size: usize,
        num_layers: usize,
        bias: bool,
        bidirectional: bool,
        proj_size: usize,
    },
    /// `nn.RNNCell` / `nn.LSTMCell` / `nn.GRUCell`.
    RnnCell { mode: RnnMode, input_size: usize, hidden_size: usize, bias: bool },
    /// `nn.MultiheadAttention(embed_dim, num_heads, bias, add_bias_kv, kdim, vdim)`; its `out_proj`
    /// is a child [`Layer::Linear`].
    MultiheadAttention { embed_dim: usize, num_heads: usize, bias: bool, add_bias_kv: bool, kdim: usize, vdim: usize },
    /// A layer without parameters (`ReLU`, `Dropout`, `MaxPool2d`, ...), by class name.
    Stateless(String),
    /// `nn.Sequential`: children named `0`, `1`, ...
    Sequential,
    /// `nn.ModuleList`.
    ModuleList,
    /// A user-defined module (a container, or a layer whose parameters are added by hand), by
    /// class name.
    Custom(String),
}

/// A parameter or buffer slot a layer declares.
#[derive(Clone, Debug, PartialEq)]
pub struct Slot {
    /// Name within the layer (`weight`, `bias_ih_l0`, ...).
    pub name: String,
    /// Shape.
    pub shape: Vec<usize>,
    /// What it is for.
    pub role: Role,
    /// A buffer (in `state_dict`, not in `parameters()`)?
    pub buffer: bool,
    /// For buffers: stored as int64 (`num_batches_tracked`).
    pub int64: bool,
}

impl Layer {
    /// `nn.Linear(in, out)` with bias.
    pub fn linear(in_features: usize, out_features: usize) -> Self {
        Layer::Linear { in_features, out_features, bias: true }
    }

    /// `nn.Conv{k.len()}d(in, out, kernel_size)` with bias, groups 1.
    pub fn conv(in_channels: usize, out_channels: usize, kernel_size: &[usize]) -> Self {
        Layer::Conv {
            in_channels,
            out_channels,
            kernel_size: kernel_size.to_vec(),
            groups: 1,
            bias: true,
            transposed: false,
        }
    }

    /// `nn.BatchNorm{dims}d(num_features)` with affine parameters and running statistics.
    pub fn batch_norm(dims: usize, num_features: usize) -> Self {
        Layer::BatchNorm { dims, num_features, affine: true, track_running_stats: true }
    }

    /// `nn.LayerNorm(normalized_shape)` with weight and bias.
    pub fn layer_norm(normalized_shape: &[usize]) -> Self {
        Layer::LayerNorm { normalized_shape: normalized_shape.to_vec(), elementwise_affine: true, bias: true }
    }

    /// `nn.LSTM(input_size, hidden_size)` (one layer, bias, unidirectional).
    pub fn lstm(input_size: usize, hidden_size: usize) -> Self {
        Layer::Rnn {
            mode: RnnMode::Lstm,
            input_size,
            hidden_size,
            num_layers: 1,
            bias: true,
            bidirectional: false,
            proj_size: 0,
        }
    }

    /// `nn.MultiheadAttention(embed_dim, num_heads)`.
    pub fn multihead_attention(embed_dim: usize, num_heads: usize) -> Self {
        Layer::MultiheadAttention {
            embed_dim,
            num_heads,
            bias: true,
            add_bias_kv: false,
            kdim: embed_dim,
            vdim: embed_dim,
        }
    }

    /// A parameterless layer by class name (`ReLU`, `Dropout`, ...).
    pub fn stateless(name: &str) -> Self {
        Layer::Stateless(name.to_string())
    }

    /// PyTorch's class name: `Linear`, `Conv2d`, `ConvTranspose1d`, `BatchNorm2d`, `LSTM`, ...
    pub fn type_name(&self) -> String {
        match self {
            Layer::Linear { .. } => "Linear".into(),
            Layer::Bilinear { .. } => "Bilinear".into(),
            Layer::Conv { kernel_size, transposed: false, .. } => format!("Conv{}d", kernel_size.len()),
            Layer::Conv { kernel_size, transposed: true, .. } => format!("ConvTranspose{}d", kernel_size.len()),
            Layer::BatchNorm { dims, .. } => format!("BatchNorm{dims}d"),
            Layer::LayerNorm { .. } => "LayerNorm".into(),
            Layer::GroupNorm { .. } => "GroupNorm".into(),
            Layer::RmsNorm { .. } => "RMSNorm".into(),
            Layer::Embedding { .. } => "Embedding".into(),
            Layer::Rnn { mode, .. } => match mode {
                RnnMode::Lstm => "LSTM".into(),
                RnnMode::Gru => "GRU".into(),
                _ => "RNN".into(),
            },
            Layer::RnnCell { mode, .. } => match mode {
                RnnMode::Lstm => "LSTMCell".into(),
                RnnMode::Gru => "GRUCell".into(),
                _ => "RNNCell".into(),
            },
            Layer::MultiheadAttention { .. } => "MultiheadAttention".into(),
            Layer::Stateless(n) | Layer::Custom(n) => n.clone(),
            Layer::Sequential => "Sequential".into(),
            Layer::ModuleList => "ModuleList".into(),
        }
    }

    /// Checks the configuration with PyTorch's constructor errors (each layer family's, in
    /// [`crate::nn::layers`]).
    ///
    /// # Errors
    /// [`Error::Value`] with PyTorch's message, e.g. "in_channels must be divisible by groups".
    pub fn validate(&self) -> Result<()> {
        layers::family(self).validate(self)
    }

    /// The parameters and buffers the layer registers, in PyTorch's registration order (which is
    /// also `state_dict` order within the layer: parameters, then buffers).
    pub fn slots(&self) -> Vec<Slot> {
        layers::family(self).slots(self)
    }

    /// Child layers the layer builds itself, constructed before its own default init:
    /// `MultiheadAttention.out_proj`.
    pub fn builtin_children(&self) -> Vec<(&'static str, Layer)> {
        layers::family(self).builtin_children(self)
    }

    /// PyTorch's `reset_parameters()` as values: the init of each float slot, in the order the
    /// constructor draws them (slot names as in [`Layer::slots`]; `out_proj.bias` is
    /// MultiheadAttention's child bias, which it zeroes). An Embedding's padding row is zeroed
    /// afterwards ([`Layer::padding_row`]). Buffers get their constants (`running_var` 1,
    /// `running_mean` 0); containers and stateless layers have none.
    pub fn reset_inits(&self) -> Vec<(String, Init)> {
        layers::family(self).reset_inits(self)
    }

    /// The default init of slot `name` ([`Layer::reset_inits`]), `None` for unknown names.
    pub fn default_init(&self, name: &str) -> Option<Init> {
        self.reset_inits().into_iter().find(|(n, _)| n == name).map(|(_, i)| i)
    }

    /// The Embedding row `reset_parameters()` zeroes after drawing (`padding_idx`).
    pub fn padding_row(&self) -> Option<usize> {
        match self {
            Layer::Embedding { padding_idx, .. } => *padding_idx,
            _ => None,
        }
    }
}

/// The most layers a stacked layer (`num_layers`) or a model config (`num_hidden_layers`) may
/// ask for: far beyond any real model, small enough that a typo cannot exhaust memory.
pub const MAX_LAYERS: usize = 100_000;
