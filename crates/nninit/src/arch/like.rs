//! A model with the layout of an existing checkpoint: the same names, shapes and dtypes, with
//! layer types inferred from names and shapes.

use std::collections::BTreeMap;

use crate::error::{Error, Result};
use crate::io::TensorInfo;
use crate::nn::{Layer, Model, ModuleId, RnnMode, Role, SlotKind};
use crate::tensor::{DType, Tensor};

/// Options for [`like`].
#[derive(Clone, Debug)]
pub struct LikeOptions {
    /// dtype for the generated tensors; `None`: the checkpoint's most common float dtype.
    pub dtype: Option<DType>,
    /// `padding_idx` given to Embeddings named `*word_embeddings` (BERT's `pad_token_id`, 0).
    pub pad_token_id: Option<usize>,
}

impl Default for LikeOptions {
    fn default() -> Self {
        LikeOptions { dtype: None, pad_token_id: Some(0) }
    }
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
///   Embedding (with `padding_idx` for `*word_embeddings`);
/// * `weight` (2-d) [+ `bias`] → Linear; (≥ 3-d) [+ `bias`] → Conv{n}d;
/// * `weight` + `bias` + `running_mean` + `running_var` → BatchNorm2d;
/// * `weight` (1-d) + `bias` → LayerNorm; `weight` (1-d) alone → RMSNorm;
/// * anything else: a custom module keeping the tensors, roles guessed from the names.
fn infer(path: &str, tensors: &[&TensorInfo], opts: &LikeOptions) -> Option<Layer> {
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
    let w = get("weight")?;
    let bias = get("bias").is_some();
    let layer = match w.len() {
        2 if !bias && (module.contains("embed") || module == "wte" || module == "wpe") && has_only(&["weight"]) => {
            let padding_idx =
                if module.ends_with("word_embeddings") { opts.pad_token_id.filter(|&p| p < w[0]) } else { None };
            Layer::Embedding { num_embeddings: w[0], embedding_dim: w[1], padding_idx }
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

fn guess_role(leaf: &str, shape: &[usize]) -> Role {
    if leaf.contains("bias") {
        Role::Bias
    } else if shape.len() >= 2 {
        Role::Weight
    } else {
        Role::NormWeight
    }
}

/// Builds a model with the layout of a checkpoint's header, constructing inferred layers with
/// their PyTorch default init (recorded in file order). Tensors that are not floating
/// point (e.g. int64 `position_ids`) are copied unchanged from `read(info)`; float tensors of
/// modules whose type cannot be inferred become parameters of a custom module, zero until a
/// plan rule initializes them. Returns the model and, per tensor name, the dtype to write it in.
///
/// # Errors
/// A checkpoint with no tensors; errors from `read`.
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
    let out_dtypes = tensors
        .iter()
        .filter_map(|t| DType::from_safetensors(t.dtype).map(|d| (t.name.clone(), opts.dtype.unwrap_or(d))))
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
            if let Some(layer) = infer("", &group.tensors, opts) {
                let root = model.add(layer)?;
                model.set_root(root)?;
                return Ok((model, out_dtypes));
            }
        }
    }
    let root = model.container(Layer::Custom("Checkpoint".into()), &[]);
    let mut modules: BTreeMap<String, ModuleId> = BTreeMap::from([(String::new(), root)]);
    for group in &groups {
        let (float, others): (Vec<&TensorInfo>, Vec<&TensorInfo>) =
            group.tensors.iter().partition(|t| DType::from_safetensors(t.dtype).is_some());
        let existing = modules.get(&group.path).copied();
        // A layer is recognised only if its float slots hold float tensors: an integer tensor
        // named `weight` is data to copy, not a parameter to draw.
        let inferred = infer(&group.path, &group.tensors, opts).filter(|layer| {
            layer.slots().iter().filter(|s| !s.int64).all(|s| {
                group.tensors.iter().all(|t| split(&t.name).1 != s.name || DType::from_safetensors(t.dtype).is_some())
            })
        });
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
                    let leaf = split(&t.name).1;
                    let tensor = model.new_tensor(&t.shape).map_err(|e| e.at(&t.name, &t.shape))?;
                    model.register(id, leaf, tensor, guess_role(leaf, &t.shape), SlotKind::Parameter)?;
                }
                id
            }
        };
        for t in &others {
            model.register(id, split(&t.name).1, read(t)?, Role::Buffer, SlotKind::Buffer)?;
        }
    }
    model.set_root(root)?;
    Ok((model, out_dtypes))
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
