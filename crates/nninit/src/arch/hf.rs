//! Hugging Face transformers 5.x models (BERT, GPT-2, Llama) from their `config.json`.
//!
//! [`from_config`] reproduces `torch.manual_seed(s); Model(Config.from_json_file(path))` of
//! transformers 5.24 on PyTorch 2.15 bit for bit: the same module tree (HF class names for HF
//! modules, `torch.nn` layer kinds for `torch.nn` layers), the same `state_dict` names, shapes and
//! values, tied weights sharing one tensor, and the same generator state afterwards.
//!
//! What a transformers 5 constructor draws, in order:
//!
//! 1. every `torch.nn` layer's default init as it is constructed (`nn.Linear`'s
//!    `kaiming_uniform_`, `nn.Embedding`'s `N(0, 1)`, GPT-2's `Conv1D` drawing `N(0, 0.02)` in
//!    its own `__init__`): transformers does not suppress these outside `from_pretrained`;
//! 2. `post_init()` of every `PreTrainedModel` as its `__init__` finishes (so an inner
//!    `GPT2Model` is initialized before the outer `GPT2LMHeadModel` builds `lm_head`):
//!    `_init_weights` on each module not yet initialized, children before parents (`smart_apply`);
//!    modules initialized by an inner model's `post_init` are skipped (`_is_hf_initialized`);
//! 3. `tie_weights()`, when `tie_word_embeddings` is true and the class declares tied keys.
//!
//! Non-persistent buffers (BERT `position_ids`/`token_type_ids`, Llama rotary `inv_freq`) are not
//! in the `state_dict` and are not modelled; GPT-2 attention no longer registers its `bias` mask.
//!
//! Config fields: the four that give a model its size (`vocab_size`, `hidden_size`,
//! `num_hidden_layers`, `num_attention_heads`, or GPT-2's `n_embd`, `n_layer`, `n_head`) are
//! required; every other field takes its transformers default when absent or `null`. The
//! config's `dtype`/`torch_dtype` is ignored, as `Model(config)` ignores it: `dtype` decides.

use std::collections::HashSet;

use serde_json::{Map, Value};

use crate::error::{Error, Result};
use crate::init::Init;
use crate::nn::{Layer, Model, ModuleId, Origin, Role, Slot, MAX_LAYERS};

/// The largest size a config field may give (2^40): beyond it no tensor fits in memory or on disk.
const MAX_DIM: u64 = 1 << 40;
use crate::tensor::DType;

/// The `model_type`s [`from_config`] knows, with the class each one builds.
pub const MODEL_TYPES: [(&str, &str); 3] =
    [("bert", "BertModel"), ("gpt2", "GPT2LMHeadModel"), ("llama", "LlamaForCausalLM")];

/// The transformers classes [`build`] can construct.
pub const CLASSES: [&str; 5] = ["BertModel", "GPT2Model", "GPT2LMHeadModel", "LlamaModel", "LlamaForCausalLM"];

/// Builds the model a Hugging Face `config.json` describes, as
/// `torch.manual_seed(s); Model(Config.from_json_file(path))` does with transformers 5.24.
///
/// The class comes from `model_type`: `bert` → `BertModel`, `gpt2` → `GPT2LMHeadModel`,
/// `llama` → `LlamaForCausalLM` (see [`MODEL_TYPES`]). When `architectures[0]` names another
/// class of the same family that [`build`] supports (`GPT2Model`, `LlamaModel`), that class is
/// built instead; other heads (`BertForMaskedLM`, ...) fall back to the family's class above.
/// Without `model_type`, `architectures[0]` must be one of [`CLASSES`].
///
/// # Errors
/// [`Error::Unknown`] for a `model_type` (or, without one, an architecture) that is not
/// supported; [`Error::Value`] naming the field for a missing or ill-typed required field, a
/// wrongly typed optional one, or values transformers rejects (heads not dividing the hidden
/// size, a padding index outside the vocabulary, an unknown activation).
pub fn from_config(config: &Value, dtype: DType) -> Result<Model> {
    build(class_for(config)?, config, dtype)
}

/// Builds transformers class `class` (one of [`CLASSES`]) from `config`, recording its inits in
/// transformers' order (see the module documentation).
///
/// # Errors
/// [`Error::Unknown`] for a class not in [`CLASSES`]; config errors as in [`from_config`].
pub fn build(class: &str, config: &Value, dtype: DType) -> Result<Model> {
    let mut b = PreTrained { m: Model::new(dtype), done: HashSet::new() };
    match class {
        "BertModel" => bert::bert_model(&mut b, &bert::Config::read(config)?)?,
        "GPT2Model" => gpt2::gpt2_model(&mut b, &gpt2::Config::read(config)?)?.root,
        "GPT2LMHeadModel" => gpt2::gpt2_lm_head_model(&mut b, &gpt2::Config::read(config)?)?,
        "LlamaModel" => llama::llama_model(&mut b, &llama::Config::read(config)?)?.root,
        "LlamaForCausalLM" => llama::llama_for_causal_lm(&mut b, &llama::Config::read(config)?)?,
        other => {
            return Err(Error::Unknown { what: "transformers class", name: other.into(), known: CLASSES.join(", ") })
        }
    };
    Ok(b.m)
}

/// The class [`from_config`] builds for `config`.
fn class_for(config: &Value) -> Result<&'static str> {
    let obj = config.as_object().ok_or_else(|| Error::value("a Hugging Face config must be a JSON object"))?;
    let architecture = match obj.get("architectures") {
        None | Some(Value::Null) => None,
        Some(Value::Array(a)) => a.first().and_then(Value::as_str),
        Some(other) => return Err(Error::value(format!("config field `architectures` must be a list, got {other}"))),
    };
    let supported = |name: &str| CLASSES.iter().copied().find(|c| *c == name);
    match obj.get("model_type") {
        Some(Value::String(model_type)) => {
            let (_, default) = MODEL_TYPES.iter().find(|(t, _)| t == model_type).ok_or_else(|| Error::Unknown {
                what: "Hugging Face model_type",
                name: model_type.clone(),
                known: MODEL_TYPES.map(|(t, _)| t).join(", "),
            })?;
            Ok(architecture.and_then(supported).filter(|c| family(c) == model_type).unwrap_or(default))
        }
        None | Some(Value::Null) => match architecture {
            Some(a) => supported(a).ok_or_else(|| Error::Unknown {
                what: "Hugging Face architecture",
                name: a.into(),
                known: CLASSES.join(", "),
            }),
            None => Err(Error::value("config has neither `model_type` nor `architectures`: cannot tell the model")),
        },
        Some(other) => Err(Error::value(format!("config field `model_type` must be a string, got {other}"))),
    }
}

/// The `model_type` of a class in [`CLASSES`].
fn family(class: &str) -> &'static str {
    match class {
        "BertModel" => "bert",
        "GPT2Model" | "GPT2LMHeadModel" => "gpt2",
        _ => "llama",
    }
}

// ------------------------------------------------------------------------------------------------
// Reading config.json
// ------------------------------------------------------------------------------------------------

/// A `config.json` object with typed field access whose errors name the field.
struct Fields<'a> {
    obj: &'a Map<String, Value>,
    /// The config class, for messages (`BertConfig`).
    class: &'static str,
}

impl<'a> Fields<'a> {
    fn new(config: &'a Value, class: &'static str) -> Result<Self> {
        let obj =
            config.as_object().ok_or_else(|| Error::value(format!("{class}: the config must be a JSON object")))?;
        Ok(Fields { obj, class })
    }

    /// The first of `names` (a field and its aliases) that is present and not `null`.
    fn get(&self, names: &[&'static str]) -> Option<(&'static str, &'a Value)> {
        names.iter().find_map(|n| self.obj.get(*n).filter(|v| !v.is_null()).map(|v| (*n, v)))
    }

    fn bad(&self, name: &str, expected: &str, got: &Value) -> Error {
        Error::value(format!("{}: config field `{name}` must be {expected}, got {got}", self.class))
    }

    /// A required non-negative integer.
    fn dim(&self, names: &[&'static str]) -> Result<usize> {
        self.opt_dim(names)?.ok_or_else(|| {
            let also = if names.len() > 1 { format!(" (or `{}`)", names[1..].join("`, `")) } else { String::new() };
            Error::value(format!("{}: config is missing required field `{}`{also}", self.class, names[0]))
        })
    }

    /// An optional non-negative integer (`None` when absent or `null`).
    fn opt_dim(&self, names: &[&'static str]) -> Result<Option<usize>> {
        self.get(names)
            .map(|(n, v)| {
                v.as_u64()
                    .filter(|&x| x <= MAX_DIM)
                    .map(|x| x as usize)
                    .ok_or_else(|| self.bad(n, "a non-negative integer up to 2^40", v))
            })
            .transpose()
    }

    /// A required layer count, at most [`MAX_LAYERS`].
    fn layers(&self, names: &[&'static str]) -> Result<usize> {
        let n = self.dim(names)?;
        if n > MAX_LAYERS {
            return Err(Error::value(format!(
                "{}: config field `{}` = {n} is more layers than nninit builds (at most {MAX_LAYERS})",
                self.class, names[0]
            )));
        }
        Ok(n)
    }

    /// A non-negative integer with a default.
    fn dim_or(&self, names: &[&'static str], default: usize) -> Result<usize> {
        Ok(self.opt_dim(names)?.unwrap_or(default))
    }

    /// An optional integer that may be negative (`pad_token_id`).
    fn opt_int(&self, name: &'static str) -> Result<Option<i64>> {
        self.get(&[name]).map(|(n, v)| v.as_i64().ok_or_else(|| self.bad(n, "an integer or null", v))).transpose()
    }

    fn float_or(&self, name: &'static str, default: f64) -> Result<f64> {
        self.get(&[name]).map_or(Ok(default), |(n, v)| v.as_f64().ok_or_else(|| self.bad(n, "a number", v)))
    }

    fn bool_or(&self, name: &'static str, default: bool) -> Result<bool> {
        self.get(&[name]).map_or(Ok(default), |(n, v)| v.as_bool().ok_or_else(|| self.bad(n, "true or false", v)))
    }

    fn str_or(&self, name: &'static str, default: &str) -> Result<String> {
        self.get(&[name]).map_or(Ok(default.to_string()), |(n, v)| {
            v.as_str().map(String::from).ok_or_else(|| self.bad(n, "a string", v))
        })
    }

    /// `num_attention_heads`, which transformers divides by: must be positive.
    fn heads(&self, names: &[&'static str]) -> Result<usize> {
        match self.dim(names)? {
            0 => Err(Error::value(format!("{}: config field `{}` must be positive, got 0", self.class, names[0]))),
            h => Ok(h),
        }
    }

    /// `pad_token_id` (`default` when absent; `null` is none) as `nn.Embedding(num, dim,
    /// padding_idx)` checks and normalizes it.
    fn padding_idx(&self, num_embeddings: usize, default: Option<i64>) -> Result<Option<usize>> {
        let pad = if self.obj.contains_key("pad_token_id") { self.opt_int("pad_token_id")? } else { default };
        let Some(p) = pad else { return Ok(None) };
        let normalized = if p < 0 { num_embeddings as i64 + p } else { p };
        if normalized < 0 || normalized >= num_embeddings as i64 {
            return Err(Error::value(format!(
                "{}: pad_token_id {p}: Padding_idx must be within num_embeddings ({num_embeddings})",
                self.class
            )));
        }
        Ok(Some(normalized as usize))
    }
}

/// The class of the module `ACT2FN[name]` (transformers 5.24 `activations.ACT2CLS`).
///
/// # Errors
/// An unknown name, or an activation with parameters (`prelu`, `xielu`), which is not modelled.
fn activation_class(name: &str) -> Result<&'static str> {
    const ACT2CLS: [(&str, &str); 22] = [
        ("gelu", "GELUActivation"),
        ("gelu_10", "ClippedGELUActivation"),
        ("gelu_fast", "FastGELUActivation"),
        ("gelu_new", "NewGELUActivation"),
        ("gelu_python", "GELUActivation"),
        ("gelu_pytorch_tanh", "GELUTanh"),
        ("gelu_python_tanh", "GELUTanh"),
        ("gelu_accurate", "AccurateGELUActivation"),
        ("hardswish", "Hardswish"),
        ("laplace", "LaplaceActivation"),
        ("leaky_relu", "LeakyReLU"),
        ("linear", "LinearActivation"),
        ("mish", "MishActivation"),
        ("quick_gelu", "QuickGELUActivation"),
        ("relu", "ReLU"),
        ("relu2", "ReLUSquaredActivation"),
        ("relu6", "ReLU6"),
        ("sigmoid", "Sigmoid"),
        ("silu", "SiLUActivation"),
        ("sqrtsoftplus", "SqrtSoftplusActivation"),
        ("swish", "SiLU"),
        ("tanh", "Tanh"),
    ];
    if matches!(name, "prelu" | "xielu") {
        return Err(Error::value(format!("activation `{name}` has parameters and is not supported")));
    }
    ACT2CLS.iter().find(|(n, _)| *n == name).map(|(_, c)| *c).ok_or_else(|| Error::Unknown {
        what: "activation",
        name: name.into(),
        known: ACT2CLS.map(|(n, _)| n).join(", ") + ", prelu, xielu",
    })
}

// ------------------------------------------------------------------------------------------------
// Building blocks shared by the families
// ------------------------------------------------------------------------------------------------

/// transformers' `PreTrainedModel` bookkeeping: the model under construction (built with
/// [`Model`]'s module-tree methods, as every architecture is) and the modules `post_init` has
/// already initialized (the `_is_hf_initialized` flags).
struct PreTrained {
    m: Model,
    done: HashSet<ModuleId>,
}

impl PreTrained {
    /// `nn.Linear(in_features, out_features, bias)`.
    fn linear(&mut self, in_features: usize, out_features: usize, bias: bool) -> Result<ModuleId> {
        self.m.add(Layer::Linear { in_features, out_features, bias })
    }

    /// `nn.LayerNorm(size)` (weight 1, bias 0; no draws).
    fn layer_norm(&mut self, size: usize) -> Result<ModuleId> {
        self.m.add(Layer::layer_norm(&[size]))
    }

    /// A custom module whose own parameters are given by `slots` (zero-filled, no draws).
    fn with_params(&mut self, class: &str, slots: &[Slot]) -> Result<ModuleId> {
        self.m.add_with_slots(Layer::Custom(class.into()), slots)
    }

    /// Sets the float tensor `name` of module `id`, if registered, to `value` (no draws).
    fn fill(&mut self, id: ModuleId, name: &str, value: f64) -> Result<()> {
        match self.m.module(id).slots.iter().find(|s| s.name == name && self.m.tensor(s.tensor).dtype().is_some()) {
            Some(s) => self.m.constant(s.tensor, value, Origin::Rule),
            None => Ok(()),
        }
    }

    /// Applies `init` to parameter `name` of module `id` (reached by `path`).
    fn init(&mut self, id: ModuleId, path: &str, name: &str, init: Init) -> Result<()> {
        self.m.module_mut(id, path).init(name, &init)
    }

    /// `init.normal_(module.<name>, mean=0.0, std=std)`.
    fn normal(&mut self, id: ModuleId, path: &str, name: &str, std: f64) -> Result<()> {
        self.init(id, path, name, Init::Normal { mean: 0.0, std })
    }

    /// The child `name` of module `id`.
    fn child(&self, id: ModuleId, name: &str) -> Result<ModuleId> {
        let m = self.m.module(id);
        m.children
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, c)| *c)
            .ok_or_else(|| Error::value(format!("{} has no child module `{name}`", m.layer.type_name())))
    }

    /// `PreTrainedModel.post_init()`'s weight init for the model rooted at `root`: makes `root`
    /// the model's root and calls `rule` (the family's `_init_weights`) on every module not yet
    /// initialized, children before parents, as `smart_apply(_initialize_weights)` does.
    fn post_init(&mut self, root: ModuleId, rule: &InitRule<'_>) -> Result<()> {
        self.m.set_root(root)?;
        let mut order = Vec::new();
        self.m.apply(|m| {
            order.push((m.id(), m.path().to_string()));
            Ok(())
        })?;
        for (id, path) in order {
            if self.done.insert(id) {
                rule(self, id, &path)?;
            }
        }
        Ok(())
    }
}

/// A family's `_init_weights(module)`: builder, module, its path.
type InitRule<'a> = dyn Fn(&mut PreTrained, ModuleId, &str) -> Result<()> + 'a;

/// `PreTrainedModel._init_weights` (transformers 5.24), for the layer kinds nninit models:
///
/// * `nn.Linear`, `nn.Conv{1,2,3}d`, `nn.ConvTranspose{1,2}d`: weight `N(0, std)`, bias 0;
/// * `nn.Embedding`: weight `N(0, std)`, then the `padding_idx` row 0;
/// * `GroupNorm`, `BatchNorm*`, and any class whose name contains `LayerNorm` or `RMSNorm`:
///   weight 1, bias 0, running mean 0 and variance 1.
///
/// `std` is `config.initializer_range or 0.02` (see [`base_std`]).
fn base_init_weights(b: &mut PreTrained, id: ModuleId, path: &str, std: f64) -> Result<()> {
    let layer = b.m.module(id).layer.clone();
    let class = layer.type_name();
    match layer {
        Layer::Linear { .. } => linear_rule(b, id, path, std),
        Layer::Conv { ref kernel_size, transposed, .. } if !(transposed && kernel_size.len() == 3) => {
            linear_rule(b, id, path, std)
        }
        Layer::Embedding { padding_idx, .. } => {
            b.normal(id, path, "weight", std)?;
            match padding_idx {
                Some(p) => b.m.module_mut(id, path).zero_row("weight", p),
                None => Ok(()),
            }
        }
        Layer::GroupNorm { .. } | Layer::BatchNorm { .. } => norm_rule(b, id),
        _ if class.contains("LayerNorm") || class.contains("RMSNorm") => norm_rule(b, id),
        _ => Ok(()),
    }
}

/// `config.initializer_range or 0.02`: the std of the base rule (Python's `or` maps 0 to 0.02).
fn base_std(initializer_range: f64) -> f64 {
    if initializer_range == 0.0 {
        0.02
    } else {
        initializer_range
    }
}

fn linear_rule(b: &mut PreTrained, id: ModuleId, path: &str, std: f64) -> Result<()> {
    b.normal(id, path, "weight", std)?;
    b.init(id, path, "bias", Init::Zeros)
}

/// Norms: weight 1, bias 0, running mean 0, running variance 1 (whichever exist). The int64
/// `num_batches_tracked`, which transformers also zeroes, is still 0 from construction.
fn norm_rule(b: &mut PreTrained, id: ModuleId) -> Result<()> {
    for (name, value) in [("weight", 1.0), ("bias", 0.0), ("running_mean", 0.0), ("running_var", 1.0)] {
        b.fill(id, name, value)?;
    }
    Ok(())
}

// ------------------------------------------------------------------------------------------------
// BERT
// ------------------------------------------------------------------------------------------------

/// `BertModel` (transformers `models/bert/modeling_bert.py`).
mod bert {
    use super::*;

    /// The `BertConfig` fields that shape `BertModel`, with `BertConfig`'s defaults.
    pub(super) struct Config {
        vocab_size: usize,
        hidden_size: usize,
        num_hidden_layers: usize,
        /// `num_attention_heads * int(hidden_size / num_attention_heads)`.
        all_head_size: usize,
        intermediate_size: usize,
        max_position_embeddings: usize,
        type_vocab_size: usize,
        initializer_range: f64,
        /// Normalized `pad_token_id` (default 0).
        padding_idx: Option<usize>,
        /// The class of `ACT2FN[hidden_act]` (default `gelu`).
        activation: &'static str,
        add_cross_attention: bool,
    }

    impl Config {
        /// Reads a `BertConfig` from `config.json`.
        pub(super) fn read(config: &Value) -> Result<Self> {
            let f = Fields::new(config, "BertConfig")?;
            let vocab_size = f.dim(&["vocab_size"])?;
            let hidden_size = f.dim(&["hidden_size"])?;
            let heads = f.heads(&["num_attention_heads"])?;
            if hidden_size % heads != 0 && !f.obj.contains_key("embedding_size") {
                return Err(Error::value(format!(
                    "BertConfig: the hidden size ({hidden_size}) is not a multiple of the number of attention heads ({heads})"
                )));
            }
            let is_decoder = f.bool_or("is_decoder", false)?;
            let add_cross_attention = f.bool_or("add_cross_attention", false)?;
            if add_cross_attention && !is_decoder {
                return Err(Error::value(
                    "BertConfig: add_cross_attention needs is_decoder (BertLayer should be used as a decoder model if cross attention is added)",
                ));
            }
            Ok(Config {
                vocab_size,
                hidden_size,
                num_hidden_layers: f.layers(&["num_hidden_layers"])?,
                all_head_size: heads * (hidden_size / heads),
                intermediate_size: f.dim_or(&["intermediate_size"], 3072)?,
                max_position_embeddings: f.dim_or(&["max_position_embeddings"], 512)?,
                type_vocab_size: f.dim_or(&["type_vocab_size"], 2)?,
                initializer_range: f.float_or("initializer_range", 0.02)?,
                padding_idx: f.padding_idx(vocab_size, Some(0))?,
                activation: activation_class(&f.str_or("hidden_act", "gelu")?)?,
                add_cross_attention,
            })
        }
    }

    /// `BertModel(config)` with its pooling layer, then its `post_init`.
    pub(super) fn bert_model(b: &mut PreTrained, c: &Config) -> Result<ModuleId> {
        let embeddings = embeddings(b, c)?;
        let mut layers = Vec::with_capacity(c.num_hidden_layers);
        for _ in 0..c.num_hidden_layers {
            layers.push(layer(b, c)?);
        }
        let list = b.m.module_list(&layers);
        let encoder = b.m.custom("BertEncoder", &[("layer", list)])?;
        let dense = b.linear(c.hidden_size, c.hidden_size, true)?;
        let activation = b.m.stateless("Tanh")?;
        let pooler = b.m.custom("BertPooler", &[("dense", dense), ("activation", activation)])?;
        let root = b.m.custom("BertModel", &[("embeddings", embeddings), ("encoder", encoder), ("pooler", pooler)])?;
        b.post_init(root, &|b, id, path| init_weights(b, id, path, c))?;
        Ok(root)
    }

    /// `BertPreTrainedModel._init_weights`: the base rule with `std = initializer_range or 0.02`
    /// (Linear and Embedding weights `N(0, std)`, biases 0, the padding row 0, LayerNorm 1/0).
    /// Its extra cases write only non-persistent buffers (`BertEmbeddings.position_ids`) or the
    /// bias of `BertLMPredictionHead`, which `BertModel` does not have.
    fn init_weights(b: &mut PreTrained, id: ModuleId, path: &str, c: &Config) -> Result<()> {
        base_init_weights(b, id, path, base_std(c.initializer_range))
    }

    /// `BertEmbeddings`: word (with `padding_idx`), position and token-type embeddings, LayerNorm,
    /// dropout. Its `position_ids`/`token_type_ids` buffers are non-persistent.
    fn embeddings(b: &mut PreTrained, c: &Config) -> Result<ModuleId> {
        let h = c.hidden_size;
        let word =
            b.m.add(Layer::Embedding { num_embeddings: c.vocab_size, embedding_dim: h, padding_idx: c.padding_idx })?;
        let position = b.m.add(Layer::Embedding {
            num_embeddings: c.max_position_embeddings,
            embedding_dim: h,
            padding_idx: None,
        })?;
        let token_type =
            b.m.add(Layer::Embedding { num_embeddings: c.type_vocab_size, embedding_dim: h, padding_idx: None })?;
        let norm = b.layer_norm(h)?;
        let dropout = b.m.stateless("Dropout")?;
        b.m.custom(
            "BertEmbeddings",
            &[
                ("word_embeddings", word),
                ("position_embeddings", position),
                ("token_type_embeddings", token_type),
                ("LayerNorm", norm),
                ("dropout", dropout),
            ],
        )
    }

    /// `BertAttention`: `self` (`BertSelfAttention`, or `BertCrossAttention`) and `output`.
    fn attention(b: &mut PreTrained, c: &Config, cross: bool) -> Result<ModuleId> {
        let query = b.linear(c.hidden_size, c.all_head_size, true)?;
        let key = b.linear(c.hidden_size, c.all_head_size, true)?;
        let value = b.linear(c.hidden_size, c.all_head_size, true)?;
        let dropout = b.m.stateless("Dropout")?;
        let class = if cross { "BertCrossAttention" } else { "BertSelfAttention" };
        let attn = b.m.custom(class, &[("query", query), ("key", key), ("value", value), ("dropout", dropout)])?;
        let output = dense_norm_dropout(b, "BertSelfOutput", c.hidden_size, c.hidden_size)?;
        b.m.custom("BertAttention", &[("self", attn), ("output", output)])
    }

    /// `BertSelfOutput` / `BertOutput`: dense `in → out`, LayerNorm, dropout.
    fn dense_norm_dropout(b: &mut PreTrained, class: &str, n_in: usize, n_out: usize) -> Result<ModuleId> {
        let dense = b.linear(n_in, n_out, true)?;
        let norm = b.layer_norm(n_out)?;
        let dropout = b.m.stateless("Dropout")?;
        b.m.custom(class, &[("dense", dense), ("LayerNorm", norm), ("dropout", dropout)])
    }

    /// `BertLayer`: attention, optional cross-attention, intermediate, output.
    fn layer(b: &mut PreTrained, c: &Config) -> Result<ModuleId> {
        let mut children = vec![("attention", attention(b, c, false)?)];
        if c.add_cross_attention {
            children.push(("crossattention", attention(b, c, true)?));
        }
        let dense = b.linear(c.hidden_size, c.intermediate_size, true)?;
        let act = b.m.stateless(c.activation)?;
        children
            .push(("intermediate", b.m.custom("BertIntermediate", &[("dense", dense), ("intermediate_act_fn", act)])?));
        children.push(("output", dense_norm_dropout(b, "BertOutput", c.intermediate_size, c.hidden_size)?));
        b.m.custom("BertLayer", &children)
    }
}

// ------------------------------------------------------------------------------------------------
// GPT-2
// ------------------------------------------------------------------------------------------------

/// `GPT2Model` / `GPT2LMHeadModel` (transformers `models/gpt2/modeling_gpt2.py`).
mod gpt2 {
    use super::*;

    /// The `GPT2Config` fields that shape the model, with `GPT2Config`'s defaults. GPT-2 names
    /// the sizes `n_embd`, `n_layer`, `n_head`, `n_positions`, `n_inner`; the generic names
    /// (`hidden_size`, ...) are accepted too, as `GPT2Config.attribute_map` does.
    pub(super) struct Config {
        vocab_size: usize,
        n_embd: usize,
        n_layer: usize,
        n_positions: usize,
        /// `n_inner`, or `4 * n_embd` when null.
        inner_dim: usize,
        initializer_range: f64,
        /// The class of `ACT2FN[activation_function]` (default `gelu_new`).
        activation: &'static str,
        add_cross_attention: bool,
        tie_word_embeddings: bool,
    }

    impl Config {
        /// Reads a `GPT2Config` from `config.json`.
        pub(super) fn read(config: &Value) -> Result<Self> {
            let f = Fields::new(config, "GPT2Config")?;
            let n_embd = f.dim(&["n_embd", "hidden_size"])?;
            let n_head = f.heads(&["n_head", "num_attention_heads"])?;
            if n_embd % n_head != 0 {
                return Err(Error::value(format!(
                    "GPT2Config: `embed_dim` must be divisible by num_heads (got `embed_dim`: {n_embd} and `num_heads`: {n_head})."
                )));
            }
            Ok(Config {
                vocab_size: f.dim(&["vocab_size"])?,
                n_embd,
                n_layer: f.layers(&["n_layer", "num_hidden_layers"])?,
                n_positions: f.dim_or(&["n_positions", "max_position_embeddings"], 1024)?,
                inner_dim: f.opt_dim(&["n_inner"])?.unwrap_or(4 * n_embd),
                initializer_range: f.float_or("initializer_range", 0.02)?,
                activation: activation_class(&f.str_or("activation_function", "gelu_new")?)?,
                add_cross_attention: f.bool_or("add_cross_attention", false)?,
                tie_word_embeddings: f.bool_or("tie_word_embeddings", true)?,
            })
        }
    }

    /// A built `GPT2Model`: its root and the token embedding (`wte`) that `lm_head` ties to.
    pub(super) struct Gpt2Model {
        pub(super) root: ModuleId,
        wte: ModuleId,
    }

    /// `GPT2Model(config)`, then its `post_init`.
    pub(super) fn gpt2_model(b: &mut PreTrained, c: &Config) -> Result<Gpt2Model> {
        let wte =
            b.m.add(Layer::Embedding { num_embeddings: c.vocab_size, embedding_dim: c.n_embd, padding_idx: None })?;
        let wpe =
            b.m.add(Layer::Embedding { num_embeddings: c.n_positions, embedding_dim: c.n_embd, padding_idx: None })?;
        let drop = b.m.stateless("Dropout")?;
        let mut blocks = Vec::with_capacity(c.n_layer);
        for _ in 0..c.n_layer {
            blocks.push(block(b, c)?);
        }
        let h = b.m.module_list(&blocks);
        let ln_f = b.layer_norm(c.n_embd)?;
        let root = b.m.custom("GPT2Model", &[("wte", wte), ("wpe", wpe), ("drop", drop), ("h", h), ("ln_f", ln_f)])?;
        b.post_init(root, &|b, id, path| init_weights(b, id, path, c))?;
        Ok(Gpt2Model { root, wte })
    }

    /// `GPT2LMHeadModel(config)`: `transformer` (a `GPT2Model`, initialized by its own
    /// `post_init`), then `lm_head = nn.Linear(n_embd, vocab_size, bias=False)`, whose default
    /// and `N(0, initializer_range)` draws happen even when it is then tied to `transformer.wte`
    /// (`tie_word_embeddings`, default true).
    pub(super) fn gpt2_lm_head_model(b: &mut PreTrained, c: &Config) -> Result<ModuleId> {
        let transformer = gpt2_model(b, c)?;
        let lm_head = b.linear(c.n_embd, c.vocab_size, false)?;
        let root = b.m.custom("GPT2LMHeadModel", &[("transformer", transformer.root), ("lm_head", lm_head)])?;
        b.post_init(root, &|b, id, path| init_weights(b, id, path, c))?;
        if c.tie_word_embeddings {
            b.m.tie(lm_head, "weight", transformer.wte, "weight")?;
        }
        Ok(root)
    }

    /// `GPT2PreTrainedModel._init_weights`: the base rule (Embedding and Linear `N(0, std)` with
    /// `std = initializer_range or 0.02`, LayerNorm 1/0); `Conv1D` weight
    /// `N(0, initializer_range)`, bias 0; and for `GPT2Attention`/`GPT2MLP` (visited after their
    /// children, so drawn a second time) `c_proj.weight ~ N(0, initializer_range / √(2·n_layer))`.
    fn init_weights(b: &mut PreTrained, id: ModuleId, path: &str, c: &Config) -> Result<()> {
        base_init_weights(b, id, path, base_std(c.initializer_range))?;
        match b.m.module(id).layer.type_name().as_str() {
            "Conv1D" => linear_rule(b, id, path, c.initializer_range),
            "GPT2Attention" | "GPT2MLP" => {
                let std = c.initializer_range / ((2 * c.n_layer) as f64).sqrt();
                let c_proj = b.child(id, "c_proj")?;
                b.normal(c_proj, &format!("{path}.c_proj"), "weight", std)
            }
            _ => Ok(()),
        }
    }

    /// transformers' `Conv1D(nf, nx)`: weight `(nx, nf)` (input × output, transposed from
    /// `nn.Linear`) drawn `N(0, 0.02)` in its constructor; bias `(nf)` zeros.
    fn conv1d(b: &mut PreTrained, nf: usize, nx: usize) -> Result<ModuleId> {
        let slot =
            |name: &str, shape: Vec<usize>, role| Slot { name: name.into(), shape, role, buffer: false, int64: false };
        let id =
            b.with_params("Conv1D", &[slot("weight", vec![nx, nf], Role::Weight), slot("bias", vec![nf], Role::Bias)])?;
        b.normal(id, "", "weight", 0.02)?;
        Ok(id)
    }

    /// `GPT2Attention`: `c_attn` (3E, or 2E plus `q_attn` for cross-attention), `c_proj`, dropouts.
    fn attention(b: &mut PreTrained, c: &Config, cross: bool) -> Result<ModuleId> {
        let e = c.n_embd;
        let mut children = Vec::new();
        if cross {
            children.push(("c_attn", conv1d(b, 2 * e, e)?));
            children.push(("q_attn", conv1d(b, e, e)?));
        } else {
            children.push(("c_attn", conv1d(b, 3 * e, e)?));
        }
        children.push(("c_proj", conv1d(b, e, e)?));
        children.push(("attn_dropout", b.m.stateless("Dropout")?));
        children.push(("resid_dropout", b.m.stateless("Dropout")?));
        b.m.custom("GPT2Attention", &children)
    }

    /// `GPT2MLP`: `c_fc`, `c_proj`, activation, dropout.
    fn mlp(b: &mut PreTrained, c: &Config) -> Result<ModuleId> {
        let c_fc = conv1d(b, c.inner_dim, c.n_embd)?;
        let c_proj = conv1d(b, c.n_embd, c.inner_dim)?;
        let act = b.m.stateless(c.activation)?;
        let dropout = b.m.stateless("Dropout")?;
        b.m.custom("GPT2MLP", &[("c_fc", c_fc), ("c_proj", c_proj), ("act", act), ("dropout", dropout)])
    }

    /// `GPT2Block`: `ln_1`, `attn`, `ln_2`, optional `crossattention` + `ln_cross_attn`, `mlp`.
    fn block(b: &mut PreTrained, c: &Config) -> Result<ModuleId> {
        let mut children = vec![
            ("ln_1", b.layer_norm(c.n_embd)?),
            ("attn", attention(b, c, false)?),
            ("ln_2", b.layer_norm(c.n_embd)?),
        ];
        if c.add_cross_attention {
            children.push(("crossattention", attention(b, c, true)?));
            children.push(("ln_cross_attn", b.layer_norm(c.n_embd)?));
        }
        children.push(("mlp", mlp(b, c)?));
        b.m.custom("GPT2Block", &children)
    }
}

// ------------------------------------------------------------------------------------------------
// Llama
// ------------------------------------------------------------------------------------------------

/// `LlamaModel` / `LlamaForCausalLM` (transformers `models/llama/modeling_llama.py`).
mod llama {
    use super::*;

    /// The `LlamaConfig` fields that shape the model, with `LlamaConfig`'s defaults.
    pub(super) struct Config {
        vocab_size: usize,
        hidden_size: usize,
        intermediate_size: usize,
        num_hidden_layers: usize,
        num_attention_heads: usize,
        num_key_value_heads: usize,
        head_dim: usize,
        initializer_range: f64,
        padding_idx: Option<usize>,
        /// The class of `ACT2FN[hidden_act]` (default `silu`).
        activation: &'static str,
        attention_bias: bool,
        mlp_bias: bool,
        tie_word_embeddings: bool,
    }

    impl Config {
        /// Reads a `LlamaConfig` from `config.json` (`head_dim` defaults to
        /// `hidden_size / num_attention_heads`, `num_key_value_heads` to `num_attention_heads`).
        pub(super) fn read(config: &Value) -> Result<Self> {
            let f = Fields::new(config, "LlamaConfig")?;
            let vocab_size = f.dim(&["vocab_size"])?;
            let hidden_size = f.dim(&["hidden_size"])?;
            let heads = f.heads(&["num_attention_heads"])?;
            if hidden_size % heads != 0 {
                return Err(Error::value(format!(
                    "LlamaConfig: the hidden size ({hidden_size}) is not a multiple of the number of attention heads ({heads})."
                )));
            }
            Ok(Config {
                vocab_size,
                hidden_size,
                intermediate_size: f.dim_or(&["intermediate_size"], 11008)?,
                num_hidden_layers: f.layers(&["num_hidden_layers"])?,
                num_attention_heads: heads,
                num_key_value_heads: f.dim_or(&["num_key_value_heads"], heads)?,
                head_dim: f.dim_or(&["head_dim"], hidden_size / heads)?,
                initializer_range: f.float_or("initializer_range", 0.02)?,
                padding_idx: f.padding_idx(vocab_size, None)?,
                activation: activation_class(&f.str_or("hidden_act", "silu")?)?,
                attention_bias: f.bool_or("attention_bias", false)?,
                mlp_bias: f.bool_or("mlp_bias", false)?,
                tie_word_embeddings: f.bool_or("tie_word_embeddings", false)?,
            })
        }
    }

    /// A built `LlamaModel`: its root and `embed_tokens`, which `lm_head` may tie to.
    pub(super) struct LlamaModel {
        pub(super) root: ModuleId,
        embed_tokens: ModuleId,
    }

    /// `LlamaModel(config)`, then its `post_init`.
    pub(super) fn llama_model(b: &mut PreTrained, c: &Config) -> Result<LlamaModel> {
        let embed_tokens = b.m.add(Layer::Embedding {
            num_embeddings: c.vocab_size,
            embedding_dim: c.hidden_size,
            padding_idx: c.padding_idx,
        })?;
        let mut layers = Vec::with_capacity(c.num_hidden_layers);
        for _ in 0..c.num_hidden_layers {
            layers.push(decoder_layer(b, c)?);
        }
        let layers = b.m.module_list(&layers);
        let norm = rms_norm(b, c.hidden_size)?;
        // Only non-persistent buffers (`inv_freq`, `original_inv_freq`): nothing in the state_dict.
        let rotary_emb = b.m.custom("LlamaRotaryEmbedding", &[])?;
        let root = b.m.custom(
            "LlamaModel",
            &[("embed_tokens", embed_tokens), ("layers", layers), ("norm", norm), ("rotary_emb", rotary_emb)],
        )?;
        b.post_init(root, &|b, id, path| init_weights(b, id, path, c))?;
        Ok(LlamaModel { root, embed_tokens })
    }

    /// `LlamaForCausalLM(config)`: `model` (a `LlamaModel`, initialized by its own `post_init`),
    /// then `lm_head = nn.Linear(hidden_size, vocab_size, bias=False)` with its default and
    /// `N(0, initializer_range)` draws, tied to `model.embed_tokens` when `tie_word_embeddings`
    /// (default false).
    pub(super) fn llama_for_causal_lm(b: &mut PreTrained, c: &Config) -> Result<ModuleId> {
        let model = llama_model(b, c)?;
        let lm_head = b.linear(c.hidden_size, c.vocab_size, false)?;
        let root = b.m.custom("LlamaForCausalLM", &[("model", model.root), ("lm_head", lm_head)])?;
        b.post_init(root, &|b, id, path| init_weights(b, id, path, c))?;
        if c.tie_word_embeddings {
            b.m.tie(lm_head, "weight", model.embed_tokens, "weight")?;
        }
        Ok(root)
    }

    /// `LlamaPreTrainedModel._init_weights` is the base rule with
    /// `std = initializer_range or 0.02`: Linear/Embedding `N(0, std)`, biases 0, padding row 0,
    /// `LlamaRMSNorm` weight 1 (its rotary case rewrites non-persistent buffers only).
    fn init_weights(b: &mut PreTrained, id: ModuleId, path: &str, c: &Config) -> Result<()> {
        base_init_weights(b, id, path, base_std(c.initializer_range))
    }

    /// `LlamaRMSNorm(size)`: weight ones.
    fn rms_norm(b: &mut PreTrained, size: usize) -> Result<ModuleId> {
        let slot =
            Slot { name: "weight".into(), shape: vec![size], role: Role::NormWeight, buffer: false, int64: false };
        let id = b.with_params("LlamaRMSNorm", &[slot])?;
        b.fill(id, "weight", 1.0)?;
        Ok(id)
    }

    /// `LlamaDecoderLayer`: `self_attn` (q, k, v, o projections), `mlp` (gate, up, down,
    /// activation), `input_layernorm`, `post_attention_layernorm`.
    fn decoder_layer(b: &mut PreTrained, c: &Config) -> Result<ModuleId> {
        let (h, q, kv) = (c.hidden_size, c.num_attention_heads * c.head_dim, c.num_key_value_heads * c.head_dim);
        let q_proj = b.linear(h, q, c.attention_bias)?;
        let k_proj = b.linear(h, kv, c.attention_bias)?;
        let v_proj = b.linear(h, kv, c.attention_bias)?;
        let o_proj = b.linear(q, h, c.attention_bias)?;
        let self_attn = b.m.custom(
            "LlamaAttention",
            &[("q_proj", q_proj), ("k_proj", k_proj), ("v_proj", v_proj), ("o_proj", o_proj)],
        )?;
        let gate_proj = b.linear(h, c.intermediate_size, c.mlp_bias)?;
        let up_proj = b.linear(h, c.intermediate_size, c.mlp_bias)?;
        let down_proj = b.linear(c.intermediate_size, h, c.mlp_bias)?;
        let act_fn = b.m.stateless(c.activation)?;
        let mlp = b.m.custom(
            "LlamaMLP",
            &[("gate_proj", gate_proj), ("up_proj", up_proj), ("down_proj", down_proj), ("act_fn", act_fn)],
        )?;
        let input_layernorm = rms_norm(b, h)?;
        let post_attention_layernorm = rms_norm(b, h)?;
        b.m.custom(
            "LlamaDecoderLayer",
            &[
                ("self_attn", self_attn),
                ("mlp", mlp),
                ("input_layernorm", input_layernorm),
                ("post_attention_layernorm", post_attention_layernorm),
            ],
        )
    }
}
