//! A model with the layout of an existing checkpoint: the same names, shapes and dtypes, with
//! layer types inferred from names and shapes.
//!
//! What is not a parameter is never re-drawn: buffers a model computes or counts with (causal
//! masks, rotary frequency tables, position ids, any integer tensor) are copied byte for byte,
//! and a BatchNorm's running statistics are reset as a fresh `nn.BatchNorm*d` has them.

use std::collections::BTreeMap;

use crate::error::{Error, Result};
use crate::init::Init;
use crate::io::TensorInfo;
use crate::nn::{Layer, Model, ModuleId, Origin, RnnMode, Role, Slot, SlotKind};
use crate::tensor::{DType, Data, Tensor};

/// Options for [`like`].
#[derive(Clone, Debug)]
pub struct LikeOptions {
    /// dtype for the generated tensors; `None`: the checkpoint's most common float dtype.
    pub dtype: Option<DType>,
    /// The model config's `pad_token_id` (`--config` given with `--like`): the padding row of
    /// the word embedding table (`*word_embeddings`, `embed_tokens`, as transformers'
    /// `nn.Embedding(vocab_size, hidden_size, padding_idx=config.pad_token_id)`), and of any
    /// other embedding table whose row there is all zero in the checkpoint (RoBERTa, XLM-R and
    /// CamemBERT give their position embeddings the same `padding_idx`). `None` (no config, or
    /// a config without one): a table's padding row is the checkpoint's only all-zero row, if it
    /// has exactly one; never a fixed guess.
    pub pad_token_id: Option<usize>,
}

impl Default for LikeOptions {
    fn default() -> Self {
        LikeOptions { dtype: None, pad_token_id: None }
    }
}

/// Leaf names of buffers (`register_buffer`) that a model computes rather than learns: copied
/// byte for byte, never given an init. Rotary frequency tables (`inv_freq`, transformers'
/// `original_inv_freq`) and their caches, position and token-type ids, GPT-2's
/// `attn.masked_bias`, fairseq's `_float_tensor`.
const KEPT_BUFFERS: [&str; 10] = [
    "inv_freq",
    "original_inv_freq",
    "cos_cached",
    "sin_cached",
    "_cos_cached",
    "_sin_cached",
    "masked_bias",
    "position_ids",
    "token_type_ids",
    "_float_tensor",
];

/// Module names transformers gives its `Conv1D` layers (GPT-2, GPT-1, XLNet's successors).
const CONV1D_NAMES: [&str; 4] = ["c_attn", "c_fc", "c_proj", "q_attn"];

/// Whether a tensor is a buffer to copy: a [`KEPT_BUFFERS`] name, or a `bias` of two or more
/// dimensions (GPT-2's causal mask `attn.bias [1, 1, n, n]`; an additive bias is 1-d).
fn is_kept_buffer(leaf: &str, shape: &[usize]) -> bool {
    KEPT_BUFFERS.contains(&leaf) || (leaf == "bias" && shape.len() >= 2)
}

/// Tensors grouped by module path, in order of first appearance.
struct Group<'a> {
    path: String,
    tensors: Vec<&'a TensorInfo>,
}

fn split(name: &str) -> (&str, &str) {
    name.rsplit_once('.').unwrap_or(("", name))
}

/// Infers the layer of one module from its tensors' leaf names and shapes:
///
/// * `weight_ih_l0`, `weight_hh_l0`, ... → LSTM / GRU / RNN (gates = rows / hidden size);
/// * `weight` (2-d) in a module named like an embedding (`*embed*`, `wte`, `wpe`) and no bias →
///   Embedding (its `padding_idx` is set by [`padding_row`]);
/// * `weight` (2-d) [+ `bias`] → Linear; (≥ 3-d) [+ `bias`] → Conv{n}d;
/// * `weight` + `bias` + `running_mean` + `running_var` → BatchNorm2d (`running_mean` +
///   `running_var` alone: `affine=False`);
/// * `weight` (1-d) + `bias` → LayerNorm; `weight` (1-d) alone → RMSNorm;
/// * anything else: a custom module keeping the tensors, roles guessed from the names.
fn infer(path: &str, tensors: &[&TensorInfo]) -> Option<Layer> {
    let get = |n: &str| tensors.iter().find(|t| split(&t.name).1 == n).map(|t| &t.shape);
    let leaves: Vec<&str> = tensors.iter().map(|t| split(&t.name).1).collect();
    let has_only = |allowed: &[&str]| leaves.iter().all(|l| allowed.contains(l));
    let module = split(path).1;
    if let (Some(ih), Some(hh)) = (get("weight_ih_l0"), get("weight_hh_l0")) {
        if ih.len() != 2 || hh.len() != 2 || get("weight_hr_l0").is_some_and(|hr| hr.len() != 2) {
            return None;
        }
        let hidden = get("weight_hr_l0").map_or(hh[1], |hr| hr[1]);
        let mode = match ih[0] / hidden.max(1) {
            4 => RnnMode::Lstm,
            3 => RnnMode::Gru,
            _ => RnnMode::RnnTanh,
        };
        let layer = Layer::Rnn {
            mode,
            input_size: ih[1],
            hidden_size: hidden,
            num_layers: leaves.iter().filter(|l| l.starts_with("weight_ih_l") && !l.ends_with("_reverse")).count(),
            bias: get("bias_ih_l0").is_some(),
            bidirectional: get("weight_ih_l0_reverse").is_some(),
            proj_size: get("weight_hr_l0").map_or(0, |hr| hr[0]),
        };
        return Some(layer).filter(|l| same_slots(l, tensors));
    }
    if let (None, Some(mean)) = (get("weight"), get("running_mean")) {
        let layer = Layer::BatchNorm {
            dims: 2,
            num_features: mean.first().copied().unwrap_or(0),
            affine: false,
            track_running_stats: get("num_batches_tracked").is_some(),
        };
        return Some(layer).filter(|l| mean.len() == 1 && same_slots(l, tensors));
    }
    let w = get("weight")?;
    let bias = get("bias").is_some();
    let layer = match w.len() {
        2 if !bias && (module.contains("embed") || module == "wte" || module == "wpe") && has_only(&["weight"]) => {
            Layer::Embedding { num_embeddings: w[0], embedding_dim: w[1], padding_idx: None }
        }
        2 => Layer::Linear { in_features: w[1], out_features: w[0], bias },
        3..=5 => Layer::Conv {
            in_channels: w[1],
            out_channels: w[0],
            kernel_size: w[2..].to_vec(),
            groups: 1,
            bias,
            transposed: false,
        },
        1 if get("running_mean").is_some() => Layer::BatchNorm {
            dims: 2,
            num_features: w[0],
            affine: true,
            track_running_stats: get("num_batches_tracked").is_some(),
        },
        1 if bias => Layer::layer_norm(&[w[0]]),
        1 => Layer::RmsNorm { normalized_shape: vec![w[0]], elementwise_affine: true },
        _ => return None,
    };
    Some(layer).filter(|l| same_slots(l, tensors))
}

/// The inferred layer declares exactly the module's tensors, with the same shapes.
fn same_slots(layer: &Layer, tensors: &[&TensorInfo]) -> bool {
    let slots = layer.slots();
    slots.len() == tensors.len()
        && slots.iter().all(|s| tensors.iter().any(|t| split(&t.name).1 == s.name && t.shape == s.shape))
}

/// The role of a parameter of an unrecognised module: an additive bias is 1-d, so a `*bias`
/// of 0 or ≥ 2 dimensions is a weight.
fn guess_role(leaf: &str, shape: &[usize]) -> Role {
    if leaf.contains("bias") && shape.len() == 1 {
        Role::Bias
    } else if shape.len() >= 2 || leaf.contains("bias") {
        Role::Weight
    } else {
        Role::NormWeight
    }
}

/// Builds a model with the layout of a checkpoint's header, constructing inferred layers with
/// their PyTorch default init (recorded in file order; transformers' `Conv1D` draws
/// `normal_(std=0.02)`, as its constructor does). Buffers are never drawn: tensors that are not
/// floating point (int64 `position_ids`, bool masks) and the float buffers of
/// [`KEPT_BUFFERS`] or a `bias` of two or more dimensions (GPT-2's causal mask) are copied
/// unchanged from `read(info)`, in their own dtype; BatchNorm running statistics are reset
/// (`running_mean` 0, `running_var` 1, `num_batches_tracked` 0). Float tensors of modules whose
/// type cannot be inferred become parameters of a custom module, without an init until a plan
/// rule gives them one (`keep_()` keeps the checkpoint's). Embedding padding rows: see
/// [`LikeOptions::pad_token_id`]. Returns the model and, per tensor name, the dtype to write it
/// in.
///
/// ```
/// use nninit::arch::like::{like, LikeOptions};
/// use nninit::io::TensorInfo;
/// let info = |name: &str, shape: Vec<usize>| TensorInfo {
///     name: name.into(),
///     dtype: safetensors::Dtype::F32,
///     shape,
///     data_offsets: (0, 0),
/// };
/// let header = [info("h.0.attn.c_attn.weight", vec![4, 12]), info("h.0.attn.c_attn.bias", vec![12])];
/// let (model, dtypes) = like(&header, &LikeOptions::default(), |_| unreachable!())?;
/// let attn = model.named_modules().into_iter().find(|(n, _)| n == "h.0.attn.c_attn").unwrap().1;
/// assert_eq!(model.module(attn).layer.type_name(), "Conv1D");
/// assert_eq!(dtypes.len(), 2);
/// # Ok::<(), nninit::Error>(())
/// ```
///
/// # Errors
/// A checkpoint with no tensors; a float format nninit cannot generate; errors from `read`.
pub fn like(
    tensors: &[TensorInfo],
    opts: &LikeOptions,
    mut read: impl FnMut(&TensorInfo) -> Result<Tensor>,
) -> Result<(Model, BTreeMap<String, DType>)> {
    if tensors.is_empty() {
        return Err(Error::value("the checkpoint has no tensors"));
    }
    // Floating-point formats nninit cannot generate: refused, rather than copied (they would
    // carry the old values) or widened (the dtype would change).
    if let Some(t) = tensors.iter().find(|t| DType::from_safetensors(t.dtype).is_none() && is_float(t.dtype)) {
        return Err(Error::value(format!(
            "tensor `{}` has dtype {:?}, which nninit cannot generate (f16, bf16, f32, f64)",
            t.name, t.dtype
        )));
    }
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    for t in tensors {
        if let Some(d) = DType::from_safetensors(t.dtype) {
            *counts.entry(d.to_string()).or_default() += 1;
        }
    }
    let common = counts.iter().max_by_key(|(_, n)| **n).and_then(|(d, _)| d.parse().ok()).unwrap_or(DType::F32);
    let dtype = opts.dtype.unwrap_or(common);
    // Kept buffers stay in their own dtype (byte for byte); the rest follows `opts.dtype`.
    let out_dtypes = tensors
        .iter()
        .filter_map(|t| {
            let own = is_kept_buffer(split(&t.name).1, &t.shape);
            DType::from_safetensors(t.dtype).map(|d| (t.name.clone(), if own { d } else { opts.dtype.unwrap_or(d) }))
        })
        .collect();

    let mut groups: Vec<Group<'_>> = Vec::new();
    for t in tensors {
        let path = split(&t.name).0;
        match groups.iter_mut().find(|g| g.path == path) {
            Some(g) => g.tensors.push(t),
            None => groups.push(Group { path: path.to_string(), tensors: vec![t] }),
        }
    }

    let mut model = Model::new(dtype);
    // A checkpoint of a single layer (`weight`, `bias` at the top level): that layer is the root.
    if let [group] = groups.as_slice() {
        if group.path.is_empty() {
            if let Some(layer) = infer("", &group.tensors) {
                let root = model.add(layer)?;
                model.set_root(root)?;
                return Ok((model, out_dtypes));
            }
        }
    }
    let transposed = groups.iter().any(|g| conv1d(split(&g.path).1, &g.tensors, false).is_some());
    let root = model.container(Layer::Custom("Checkpoint".into()), &[]);
    let mut modules: BTreeMap<String, ModuleId> = BTreeMap::from([(String::new(), root)]);
    for group in &groups {
        let (float, others): (Vec<&TensorInfo>, Vec<&TensorInfo>) =
            group.tensors.iter().partition(|t| DType::from_safetensors(t.dtype).is_some());
        let existing = modules.get(&group.path).copied();
        let module = split(&group.path).1;
        if let (None, true, Some((nx, nf))) = (existing, others.is_empty(), conv1d(module, &group.tensors, transposed))
        {
            let id = add_conv1d(&mut model, nx, nf)?;
            attach(&mut model, &mut modules, &group.path, id)?;
            continue;
        }
        // A layer is recognised only if its float slots hold float tensors: an integer tensor
        // named `weight` is data to copy, not a parameter to draw.
        let inferred = infer(&group.path, &group.tensors).filter(|layer| {
            layer.slots().iter().filter(|s| !s.int64).all(|s| {
                group.tensors.iter().all(|t| split(&t.name).1 != s.name || DType::from_safetensors(t.dtype).is_some())
            })
        });
        let inferred = match inferred {
            Some(Layer::Embedding { num_embeddings, embedding_dim, .. }) => {
                let padding_idx = padding_row(module, group.tensors[0], opts, &mut read)?;
                Some(Layer::Embedding { num_embeddings, embedding_dim, padding_idx })
            }
            other => other,
        };
        let declared: Vec<String> = inferred.iter().flat_map(|l| l.slots()).map(|s| s.name).collect();
        let others: Vec<&TensorInfo> =
            others.into_iter().filter(|t| !declared.iter().any(|d| d == split(&t.name).1)).collect();
        let id = match (existing, inferred) {
            (None, Some(layer)) => {
                let id = model.add(layer)?;
                attach(&mut model, &mut modules, &group.path, id)?;
                id
            }
            (existing, _) => {
                let id = match existing {
                    Some(id) => id,
                    None => {
                        let id = model.container(Layer::Custom("Module".into()), &[]);
                        attach(&mut model, &mut modules, &group.path, id)?;
                        id
                    }
                };
                for t in &float {
                    register_float(&mut model, id, t, &mut read)?;
                }
                id
            }
        };
        for t in &others {
            let leaf = split(&t.name).1;
            let value = if leaf == "num_batches_tracked" { zeros_like(t)? } else { read(t)? };
            model.register(id, leaf, value, Role::Buffer, SlotKind::Buffer)?;
        }
    }
    model.set_root(root)?;
    Ok((model, out_dtypes))
}

/// Registers float tensor `t` of an unrecognised module `id`: a buffer to keep
/// ([`is_kept_buffer`]) with the checkpoint's values; `running_mean` / `running_var` as a fresh
/// BatchNorm has them (zeros / ones); anything else as a parameter with a guessed role, without
/// an init until a plan rule gives it one.
fn register_float(
    model: &mut Model,
    id: ModuleId,
    t: &TensorInfo,
    read: &mut impl FnMut(&TensorInfo) -> Result<Tensor>,
) -> Result<()> {
    let leaf = split(&t.name).1;
    if is_kept_buffer(leaf, &t.shape) {
        model.register(id, leaf, read(t)?, Role::Buffer, SlotKind::Buffer)?;
        return Ok(());
    }
    let tensor = model.new_tensor(&t.shape).map_err(|e| e.at(&t.name, &t.shape))?;
    match leaf {
        "running_mean" | "running_var" => {
            let tid = model.register(id, leaf, tensor, Role::Buffer, SlotKind::Buffer)?;
            let fresh = if leaf == "running_var" { 1.0 } else { 0.0 };
            model.constant(tid, fresh, Origin::LayerDefault)
        }
        _ => model.register(id, leaf, tensor, guess_role(leaf, &t.shape), SlotKind::Parameter).map(|_| ()),
    }
}

/// A tensor of `t`'s dtype and shape holding zeros (a reset `num_batches_tracked`).
fn zeros_like(t: &TensorInfo) -> Result<Tensor> {
    let bits = t.shape.iter().try_fold(t.dtype.bitsize(), |n, &d| n.checked_mul(d));
    let bytes = bits.ok_or_else(|| Error::value(format!("tensor `{}`: shape {:?} is too large", t.name, t.shape)))?;
    Tensor::new(&t.shape, Data::Other { dtype: t.dtype, bytes: vec![0; bytes.div_ceil(8)] })
}

/// The padding row of the embedding table `info` of module `module`: with a config, its
/// `pad_token_id` for the word table (`*word_embeddings`, `embed_tokens`) and for any other
/// table whose row there is all zero in the checkpoint; without one, the table's only all-zero
/// row (PyTorch zeroes `padding_idx`'s row and it never receives a gradient).
fn padding_row(
    module: &str,
    info: &TensorInfo,
    opts: &LikeOptions,
    read: &mut impl FnMut(&TensorInfo) -> Result<Tensor>,
) -> Result<Option<usize>> {
    let rows = info.shape.first().copied().unwrap_or(0);
    let word = module.ends_with("word_embeddings") || module == "embed_tokens";
    match opts.pad_token_id {
        Some(p) if word => return Ok(Some(p).filter(|&p| p < rows)),
        Some(p) if p >= rows => return Ok(None),
        _ => {}
    }
    if rows == 0 {
        return Ok(None);
    }
    let table = read(info)?;
    let bytes = table.bytes();
    let row_bytes = bytes.len() / rows;
    let is_zero = |r: usize| bytes[r * row_bytes..(r + 1) * row_bytes].iter().all(|&b| b == 0);
    Ok(match opts.pad_token_id {
        Some(p) => Some(p).filter(|&p| is_zero(p)),
        None => {
            let mut zero = (0..rows).filter(|&r| is_zero(r));
            match (zero.next(), zero.next()) {
                (Some(r), None) => Some(r),
                _ => None,
            }
        }
    })
}

/// transformers' `Conv1D` (GPT-2's `c_attn`, `c_fc`, `c_proj`, `q_attn`): `weight [nx, nf]`
/// (input × output, `nn.Linear`'s layout transposed) and `bias [nf]`. A module of those names
/// whose bias matches the weight's columns, not its rows, is one; a square one (`c_proj` of
/// `[E, E]`) is one when `transposed` (the checkpoint has an unambiguous `Conv1D`). Returns
/// `(nx, nf)`.
fn conv1d(module: &str, tensors: &[&TensorInfo], transposed: bool) -> Option<(usize, usize)> {
    let get = |n: &str| tensors.iter().find(|t| split(&t.name).1 == n).map(|t| &t.shape);
    let (w, b) = (get("weight")?, get("bias")?);
    let shaped = tensors.len() == 2 && w.len() == 2 && b.len() == 1 && b[0] == w[1];
    (shaped && CONV1D_NAMES.contains(&module) && (w[0] != w[1] || transposed)).then(|| (w[0], w[1]))
}

/// transformers' `Conv1D(nf, nx)`: `weight [nx, nf]` drawn `normal_(std=0.02)` in its
/// constructor, `bias [nf]` zeros (`torch.zeros`, no draw).
fn add_conv1d(model: &mut Model, nx: usize, nf: usize) -> Result<ModuleId> {
    let slot =
        |name: &str, shape: Vec<usize>, role| Slot { name: name.into(), shape, role, buffer: false, int64: false };
    let id = model.add_with_slots(
        Layer::Custom("Conv1D".into()),
        &[slot("weight", vec![nx, nf], Role::Weight), slot("bias", vec![nf], Role::Bias)],
    )?;
    let (weight, bias) = (model.module(id).slots[0].tensor, model.module(id).slots[1].tensor);
    model.init_tensor(weight, &Init::Normal { mean: 0.0, std: 0.02 }, Origin::LayerDefault)?;
    model.constant(bias, 0.0, Origin::LayerDefault)?;
    Ok(id)
}

/// Whether a safetensors dtype is a floating-point format (including those nninit cannot
/// generate: 8-, 6- and 4-bit floats).
fn is_float(d: safetensors::Dtype) -> bool {
    format!("{d:?}").starts_with('F') || d == safetensors::Dtype::BF16
}

/// Registers module `id` at `path`, creating `Custom` containers for missing ancestors.
fn attach(model: &mut Model, modules: &mut BTreeMap<String, ModuleId>, path: &str, id: ModuleId) -> Result<()> {
    let mut parent = modules[""];
    let mut prefix = String::new();
    let parts: Vec<&str> = path.split('.').collect();
    for (i, part) in parts.iter().enumerate() {
        prefix = if prefix.is_empty() { part.to_string() } else { format!("{prefix}.{part}") };
        let next = match modules.get(&prefix) {
            Some(&m) => m,
            None => {
                let m = if i + 1 == parts.len() { id } else { model.container(Layer::Custom("Module".into()), &[]) };
                model.add_child(parent, part, m)?;
                modules.insert(prefix.clone(), m);
                m
            }
        };
        parent = next;
    }
    Ok(())
}
