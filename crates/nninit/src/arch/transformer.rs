//! PyTorch's `nn.TransformerEncoderLayer`, `nn.TransformerDecoderLayer`,
//! `nn.TransformerEncoder`, `nn.TransformerDecoder` and `nn.Transformer`, constructed as
//! `torch/nn/modules/transformer.py` does (defaults: dropout 0.1, ReLU activation, `bias=True`;
//! `batch_first`, `norm_first`, `layer_norm_eps` and the activation change only the forward pass,
//! never a parameter). Their constructor calls (`nn.TransformerEncoder(nn.TransformerEncoderLayer(16,
//! 2), 3)`) are parsed here too, next to the builders, for [`super::from_torch_ctor`].
//!
//! The functions add modules to a caller's [`Model`] and return the new module's id; they do not
//! set the model's root.

use std::collections::{HashMap, HashSet};

use crate::error::{Error, Result};
use crate::init::Init;
use crate::nn::{Layer, Model, ModuleId, Slot, TensorId, MAX_LAYERS};
use crate::pycall::{Call, Literal};

/// The most modules the deep copies of one `TransformerEncoder`/`TransformerDecoder` may add:
/// stacks of stacks multiply, and a typo must not exhaust memory.
pub const MAX_MODULES: usize = 1 << 23;

/// `nn.Transformer(...)`, `nn.TransformerEncoderLayer(...)`, `nn.TransformerDecoderLayer(...)`
/// from a constructor call, with PyTorch's parameters and defaults (`d_model` and `nhead` are
/// required for the layers, 512 and 8 for `nn.Transformer`; 6 layers each; `dim_feedforward`
/// 2048). `norm_first=True` is accepted for the layers only; `bias=False` and custom
/// encoders/decoders are not supported. `dtype`/`device` are accepted (the model's dtype is
/// decided by the caller).
pub(crate) fn from_call(m: &mut Model, call: &Call) -> Result<ModuleId> {
    let name = call.name.as_str();
    let whole = name == "Transformer";
    let mut params = vec!["d_model", "nhead"];
    if whole {
        params.extend(["num_encoder_layers", "num_decoder_layers"]);
    }
    params.extend(["dim_feedforward", "dropout", "activation"]);
    if whole {
        params.extend(["custom_encoder", "custom_decoder"]);
    }
    params.extend(["layer_norm_eps", "batch_first", "norm_first", "bias", "device", "dtype"]);
    let a = call.bind("arch", &params)?;
    let default = |v: usize| whole.then_some(v);
    let (d, h) = (a.usize("d_model", default(512))?, a.usize("nhead", default(8))?);
    let ff = a.usize("dim_feedforward", Some(2048))?;
    let norm_first = a.bool("norm_first", false)?;
    if !a.bool("bias", true)? {
        return Err(Error::value(format!("{name} with bias=False is not supported")));
    }
    if whole && norm_first {
        return Err(Error::value("Transformer with norm_first=True is not supported"));
    }
    for custom in ["custom_encoder", "custom_decoder"] {
        if !matches!(a.get(custom), None | Some(Literal::None)) {
            return Err(Error::value(format!("Transformer with {custom} is not supported")));
        }
    }
    let layers = |n: &str| match a.usize(n, Some(6))? {
        v if v > MAX_LAYERS => Err(Error::value(format!("{n}={v} is more than nninit builds"))),
        v => Ok(v),
    };
    match name {
        "Transformer" => {
            let (enc, dec) = (layers("num_encoder_layers")?, layers("num_decoder_layers")?);
            transformer(m, d, h, enc, dec, ff)
        }
        "TransformerDecoderLayer" => transformer_decoder_layer(m, d, h, ff, norm_first),
        _ => transformer_encoder_layer(m, d, h, ff, norm_first),
    }
}

/// `nn.TransformerEncoder(encoder_layer, num_layers, norm=None, enable_nested_tensor=True,
/// mask_check=True)` / `nn.TransformerDecoder(decoder_layer, num_layers, norm=None)` from a
/// constructor call whose module arguments are calls too: they are constructed first, in the
/// order written (Python evaluates arguments before `__init__` runs), then the layer is deep
/// copied `num_layers` times.
pub(crate) fn stack_from_call(m: &mut Model, call: &Call) -> Result<ModuleId> {
    let encoder = call.name == "TransformerEncoder";
    let params: &[&'static str] = if encoder {
        &["encoder_layer", "num_layers", "norm", "enable_nested_tensor", "mask_check"]
    } else {
        &["decoder_layer", "num_layers", "norm"]
    };
    let a = call.bind("arch", params)?;
    let num_layers = a.usize("num_layers", None)?;
    if num_layers > MAX_LAYERS {
        return Err(Error::value(format!("num_layers={num_layers} is more than nninit builds (at most {MAX_LAYERS})")));
    }
    for flag in ["enable_nested_tensor", "mask_check"] {
        a.bool(flag, true)?;
    }
    let (mut layer, mut norm) = (None, None);
    for (name, value) in a.given() {
        match name {
            "norm" if *value == Literal::None => {}
            "norm" => norm = Some(super::module_arg(m, call, name, value)?),
            n if n == params[0] => layer = Some(super::module_arg(m, call, name, value)?),
            _ => {}
        }
    }
    let layer = layer.ok_or_else(|| {
        Error::parse("arch", call.text.as_str(), format!("missing required argument `{}`", params[0]))
    })?;
    stack(m, &call.name, layer, num_layers, norm)
}

/// `copy.deepcopy(module)` of the subtree at `from`: new modules and tensors that take the
/// values the originals hold now ([`Model::copy_tensor`]), no draws. Sharing inside the subtree is preserved as deepcopy's memo
/// does (a module registered twice is copied once; a tensor tied between two modules stays tied).
fn deep_copy(m: &mut Model, from: ModuleId) -> Result<ModuleId> {
    let order = m.named_modules_of(from);
    let mut copy_of: HashMap<ModuleId, ModuleId> = HashMap::new();
    // Old tensor → (new module, slot name) holding its first copy.
    let mut first_copy: HashMap<TensorId, (ModuleId, String)> = HashMap::new();
    for &(_, old) in &order {
        let source = m.module(old);
        let layer = source.layer.clone();
        let registered = source.slots.clone();
        let slots: Vec<Slot> = registered
            .iter()
            .map(|r| {
                let t = m.tensor(r.tensor);
                Slot {
                    name: r.name.clone(),
                    shape: t.shape().to_vec(),
                    role: r.role,
                    buffer: r.buffer,
                    int64: t.dtype().is_none(),
                }
            })
            .collect();
        let new = m.add_with_slots(layer, &slots)?;
        let new_tensors: Vec<TensorId> = m.module(new).slots.iter().map(|s| s.tensor).collect();
        for (r, new_tensor) in registered.iter().zip(new_tensors) {
            if let Some((owner, name)) = first_copy.get(&r.tensor) {
                m.tie(new, &r.name, *owner, name)?;
            } else {
                m.copy_tensor(new_tensor, r.tensor)?;
                first_copy.insert(r.tensor, (new, r.name.clone()));
            }
        }
        copy_of.insert(old, new);
    }
    for &(_, old) in &order {
        for (name, child) in m.module(old).children.clone() {
            m.add_child(copy_of[&old], &name, copy_of[&child])?;
        }
    }
    Ok(copy_of[&from])
}

/// `nn.TransformerEncoder` / `nn.TransformerDecoder(layer, num_layers, norm)`: `layers`, a
/// `ModuleList` of `_get_clones(layer, num_layers)` (deep copies: every layer has the values of
/// `layer`, no draws), then `norm`. Like in PyTorch, `layer` itself is not registered: it stays in
/// the model's arena, unreachable from the root, so no traversal sees it.
///
/// # Errors
/// An unknown module id; more than [`MAX_MODULES`] modules to copy.
fn stack(m: &mut Model, class: &str, layer: ModuleId, num_layers: usize, norm: Option<ModuleId>) -> Result<ModuleId> {
    if layer.0 >= m.len() {
        return Err(Error::value(format!("no module with id {}", layer.0)));
    }
    let per_copy = m.named_modules_of(layer).len();
    if per_copy.saturating_mul(num_layers) > MAX_MODULES {
        return Err(Error::value(format!(
            "{class}: {num_layers} copies of a {per_copy}-module layer is more than nninit builds (at most {MAX_MODULES} modules)"
        )));
    }
    let layers = (0..num_layers).map(|_| deep_copy(m, layer)).collect::<Result<Vec<_>>>()?;
    let layers = m.module_list(&layers);
    let mut children = vec![("layers", layers)];
    children.extend(norm.map(|n| ("norm", n)));
    m.custom(class, &children)
}

/// `nn.TransformerEncoderLayer(d_model, nhead, dim_feedforward, norm_first=norm_first)`: modules
/// `self_attn` (MultiheadAttention, with `out_proj`), `linear1`, `dropout`, `linear2`, `norm1`,
/// `norm2`, `dropout1`, `dropout2`, constructed in that order with PyTorch's default init.
/// `norm_first` only changes the forward pass (it is accepted for symmetry with PyTorch).
///
/// # Errors
/// MultiheadAttention's: `d_model` or `nhead` zero, `d_model` not divisible by `nhead`.
pub fn transformer_encoder_layer(
    m: &mut Model,
    d_model: usize,
    nhead: usize,
    dim_feedforward: usize,
    norm_first: bool,
) -> Result<ModuleId> {
    let _ = norm_first;
    let self_attn = m.add(Layer::multihead_attention(d_model, nhead))?;
    let linear1 = m.add(Layer::linear(d_model, dim_feedforward))?;
    let dropout = m.stateless("Dropout")?;
    let linear2 = m.add(Layer::linear(dim_feedforward, d_model))?;
    let norm1 = m.add(Layer::layer_norm(&[d_model]))?;
    let norm2 = m.add(Layer::layer_norm(&[d_model]))?;
    let dropout1 = m.stateless("Dropout")?;
    let dropout2 = m.stateless("Dropout")?;
    m.custom(
        "TransformerEncoderLayer",
        &[
            ("self_attn", self_attn),
            ("linear1", linear1),
            ("dropout", dropout),
            ("linear2", linear2),
            ("norm1", norm1),
            ("norm2", norm2),
            ("dropout1", dropout1),
            ("dropout2", dropout2),
        ],
    )
}

/// `nn.TransformerDecoderLayer(d_model, nhead, dim_feedforward, norm_first=norm_first)`: modules
/// `self_attn`, `multihead_attn` (MultiheadAttention each), `linear1`, `dropout`, `linear2`,
/// `norm1`, `norm2`, `norm3`, `dropout1`, `dropout2`, `dropout3`, constructed in that order with
/// PyTorch's default init. `norm_first` only changes the forward pass.
///
/// # Errors
/// MultiheadAttention's: `d_model` or `nhead` zero, `d_model` not divisible by `nhead`.
pub fn transformer_decoder_layer(
    m: &mut Model,
    d_model: usize,
    nhead: usize,
    dim_feedforward: usize,
    norm_first: bool,
) -> Result<ModuleId> {
    let _ = norm_first;
    let self_attn = m.add(Layer::multihead_attention(d_model, nhead))?;
    let multihead_attn = m.add(Layer::multihead_attention(d_model, nhead))?;
    let linear1 = m.add(Layer::linear(d_model, dim_feedforward))?;
    let dropout = m.stateless("Dropout")?;
    let linear2 = m.add(Layer::linear(dim_feedforward, d_model))?;
    let norm1 = m.add(Layer::layer_norm(&[d_model]))?;
    let norm2 = m.add(Layer::layer_norm(&[d_model]))?;
    let norm3 = m.add(Layer::layer_norm(&[d_model]))?;
    let dropout1 = m.stateless("Dropout")?;
    let dropout2 = m.stateless("Dropout")?;
    let dropout3 = m.stateless("Dropout")?;
    m.custom(
        "TransformerDecoderLayer",
        &[
            ("self_attn", self_attn),
            ("multihead_attn", multihead_attn),
            ("linear1", linear1),
            ("dropout", dropout),
            ("linear2", linear2),
            ("norm1", norm1),
            ("norm2", norm2),
            ("norm3", norm3),
            ("dropout1", dropout1),
            ("dropout2", dropout2),
            ("dropout3", dropout3),
        ],
    )
}

/// `nn.TransformerEncoder(encoder_layer, num_layers, norm)`: `layers` holds `num_layers` deep
/// copies of `encoder_layer` (identical values, no draws), then `norm` if given.
///
/// # Errors
/// An unknown module id.
pub fn transformer_encoder(
    m: &mut Model,
    encoder_layer: ModuleId,
    num_layers: usize,
    norm: Option<ModuleId>,
) -> Result<ModuleId> {
    stack(m, "TransformerEncoder", encoder_layer, num_layers, norm)
}

/// `nn.TransformerDecoder(decoder_layer, num_layers, norm)`: as [`transformer_encoder`].
///
/// # Errors
/// An unknown module id.
pub fn transformer_decoder(
    m: &mut Model,
    decoder_layer: ModuleId,
    num_layers: usize,
    norm: Option<ModuleId>,
) -> Result<ModuleId> {
    stack(m, "TransformerDecoder", decoder_layer, num_layers, norm)
}

/// `nn.Transformer._reset_parameters()`: `xavier_uniform_(p)` for every parameter of the subtree
/// at `root` with more than one dimension, in `parameters()` order (each tensor once).
fn xavier_uniform_matrices(m: &mut Model, root: ModuleId) -> Result<()> {
    let init = Init::XavierUniform { gain: 1.0 };
    let mut seen = HashSet::new();
    for (path, id) in m.named_modules_of(root) {
        let names: Vec<String> = m
            .module(id)
            .slots
            .iter()
            .filter(|s| !s.buffer && seen.insert(s.tensor) && m.tensor(s.tensor).shape().len() > 1)
            .map(|s| s.name.clone())
            .collect();
        for name in names {
            m.module_mut(id, &path).init(&name, &init)?;
        }
    }
    Ok(())
}

/// `nn.Transformer(d_model, nhead, num_encoder_layers, num_decoder_layers, dim_feedforward)`
/// (dropout 0.1, ReLU, post-norm, `bias=True`): `encoder` (a [`transformer_encoder`] of
/// [`transformer_encoder_layer`] with a final LayerNorm) and `decoder` (likewise), constructed
/// in PyTorch's order (encoder layer, encoder norm, decoder layer, decoder norm; the deep copies
/// draw nothing), then `_reset_parameters()`: `xavier_uniform_` on every parameter with more
/// than one dimension, in `parameters()` order.
///
/// # Errors
/// MultiheadAttention's: `d_model` or `nhead` zero, `d_model` not divisible by `nhead`.
pub fn transformer(
    m: &mut Model,
    d_model: usize,
    nhead: usize,
    num_encoder_layers: usize,
    num_decoder_layers: usize,
    dim_feedforward: usize,
) -> Result<ModuleId> {
    let encoder_layer = transformer_encoder_layer(m, d_model, nhead, dim_feedforward, false)?;
    let encoder_norm = m.add(Layer::layer_norm(&[d_model]))?;
    let encoder = transformer_encoder(m, encoder_layer, num_encoder_layers, Some(encoder_norm))?;
    let decoder_layer = transformer_decoder_layer(m, d_model, nhead, dim_feedforward, false)?;
    let decoder_norm = m.add(Layer::layer_norm(&[d_model]))?;
    let decoder = transformer_decoder(m, decoder_layer, num_decoder_layers, Some(decoder_norm))?;
    let root = m.custom("Transformer", &[("encoder", encoder), ("decoder", decoder)])?;
    xavier_uniform_matrices(m, root)?;
    Ok(root)
}
