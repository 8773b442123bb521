//! One file per family of `torch.nn` layers. Each family holds, for its classes, what PyTorch's
//! class holds: the constructor's signature (argument names, order and defaults), its errors,
//! the parameters and buffers it registers (shapes and roles) and `reset_parameters()` as values.
//!
//! | file | classes |
//! |---|---|
//! | [`linear`] | `Linear`, `Bilinear` |
//! | [`conv`] | `Conv1d/2d/3d`, `ConvTranspose1d/2d/3d` |
//! | [`norm`] | `BatchNorm1d/2d/3d`, `InstanceNorm1d/2d/3d`, `LayerNorm`, `GroupNorm`, `RMSNorm` |
//! | [`embedding`] | `Embedding` |
//! | [`rnn`] | `RNN`, `LSTM`, `GRU`, `RNNCell`, `LSTMCell`, `GRUCell` |
//! | [`attention`] | `MultiheadAttention` (the transformer layers built from it are in [`crate::arch::transformer`]) |
//! | [`container`] | parameterless layers (`ReLU`, `Dropout`, ...), `Sequential`, `ModuleList`, user-defined modules |
//!
//! [`Layer`]'s methods ([`Layer::parse`], [`Layer::validate`], [`Layer::slots`],
//! [`Layer::reset_inits`], [`Layer::builtin_children`]) dispatch to the layer's family.

pub mod attention;
pub mod container;
pub mod conv;
pub mod embedding;
pub mod linear;
pub mod norm;
pub mod rnn;

use super::layer::{Layer, Role, Slot};
use crate::error::{Error, Result};
use crate::init::{FanMode, Init, Nonlinearity};
use crate::pycall::Call;

/// A family of layer classes: how they are constructed, checked, laid out and initialized.
pub(crate) trait Family: Sync {
    /// The class names, for the message listing known layers.
    fn classes(&self) -> &'static str;

    /// The layer `call` constructs, if it names one of the family's classes (`None` otherwise);
    /// `dtype`/`device` are already removed. Errors: bad arguments ([`Error::Parse`]).
    fn parse(&self, call: &Call) -> Option<Result<Layer>>;

    /// PyTorch's constructor errors for a configuration of one of the family's layers.
    fn validate(&self, _layer: &Layer) -> Result<()> {
        Ok(())
    }

    /// The parameters and buffers, in registration order (see [`Layer::slots`]).
    fn slots(&self, _layer: &Layer) -> Vec<Slot> {
        Vec::new()
    }

    /// Child layers the constructor builds before its own parameters.
    fn builtin_children(&self, _layer: &Layer) -> Vec<(&'static str, Layer)> {
        Vec::new()
    }

    /// `reset_parameters()` as values (see [`Layer::reset_inits`]).
    fn reset_inits(&self, _layer: &Layer) -> Vec<(String, Init)> {
        Vec::new()
    }
}

/// Every family, in the order a class name is looked up.
const FAMILIES: [&dyn Family; 7] = [
    &linear::Linears,
    &conv::Convs,
    &norm::Norms,
    &embedding::Embeddings,
    &rnn::Rnns,
    &attention::Attention,
    &container::Containers,
];

/// The family of `layer`.
pub(crate) fn family(layer: &Layer) -> &'static dyn Family {
    match layer {
        Layer::Linear { .. } | Layer::Bilinear { .. } => &linear::Linears,
        Layer::Conv { .. } => &conv::Convs,
        Layer::BatchNorm { .. } | Layer::LayerNorm { .. } | Layer::GroupNorm { .. } | Layer::RmsNorm { .. } => {
            &norm::Norms
        }
        Layer::Embedding { .. } => &embedding::Embeddings,
        Layer::Rnn { .. } | Layer::RnnCell { .. } => &rnn::Rnns,
        Layer::MultiheadAttention { .. } => &attention::Attention,
        Layer::Stateless(_) | Layer::Sequential | Layer::ModuleList | Layer::Custom(_) => &container::Containers,
    }
}

/// The layer a constructor call builds, by the family that knows its class.
///
/// # Errors
/// [`Error::Unknown`] listing the known classes; the family's argument errors.
pub(crate) fn parse(call: &Call) -> Result<Layer> {
    FAMILIES.iter().find_map(|f| f.parse(call)).unwrap_or_else(|| {
        Err(Error::Unknown {
            what: "layer type",
            name: call.name.clone(),
            known: FAMILIES.iter().map(|f| f.classes()).collect::<Vec<_>>().join(", "),
        })
    })
}

/// A parameter slot.
pub(crate) fn param(name: impl Into<String>, shape: Vec<usize>, role: Role) -> Slot {
    Slot { name: name.into(), shape, role, buffer: false, int64: false }
}

/// A buffer slot (`int64` for counters such as `num_batches_tracked`).
pub(crate) fn buffer(name: &str, shape: Vec<usize>, int64: bool) -> Slot {
    Slot { name: name.into(), shape, role: Role::Buffer, buffer: true, int64 }
}

/// `init.uniform_(t, -bound, bound)`. A zero bound is PyTorch's int 0: `U(0, 0)` gives +0.0
/// (`U(-0.0, 0.0)` would give -0.0).
pub(crate) fn uniform(bound: f64) -> Init {
    Init::Uniform { a: if bound == 0.0 { 0.0 } else { -bound }, b: bound }
}

/// `1 / sqrt(n)`, or 0 when `n` is 0 (PyTorch's `bound = 1 / math.sqrt(fan_in) if fan_in > 0 else 0`).
pub(crate) fn inv_sqrt(n: usize) -> f64 {
    if n > 0 {
        1.0 / (n as f64).sqrt()
    } else {
        0.0
    }
}

/// `f`'s init for each float slot of `slots` (int64 counters have none), in order.
pub(crate) fn each(slots: &[Slot], f: impl Fn(&Slot) -> Option<Init>) -> Vec<(String, Init)> {
    slots.iter().filter(|s| !s.int64).filter_map(|s| f(s).map(|i| (s.name.clone(), i))).collect()
}

/// `nn.Linear` and `nn.Conv*`'s `reset_parameters()`: `kaiming_uniform_(weight, a=sqrt(5))`, then
/// `uniform_(bias, -1/sqrt(fan_in), 1/sqrt(fan_in))` with the weight's fan_in. `slots[0]` is the
/// weight.
pub(crate) fn kaiming_default(slots: &[Slot]) -> Vec<(String, Init)> {
    let Some(weight) = slots.first() else { return Vec::new() };
    let fan_in = crate::init::fan_in_and_fan_out(&weight.shape).map(|(fan_in, _)| fan_in);
    each(slots, |s| match s.name.as_str() {
        "weight" => {
            Some(Init::KaimingUniform { a: 5f64.sqrt(), mode: FanMode::FanIn, nonlinearity: Nonlinearity::LeakyRelu })
        }
        _ => Some(uniform(inv_sqrt(*fan_in.as_ref().ok()?))),
    })
}
