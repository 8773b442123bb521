//! Hugging Face transformers 5.x models from their `config.json`: BERT, RoBERTa, GPT-2,
//! GPT-NeoX, Llama, Qwen2, Qwen3, Mistral, Gemma, Phi-3, T5 and ViT, and the BERT, RoBERTa and
//! Llama sequence-classification heads.
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
//!    its own `__init__`, ViT's `torch.randn` parameters): transformers does not suppress these
//!    outside `from_pretrained`;
//! 2. `post_init()` of every `PreTrainedModel` as its `__init__` finishes (so an inner
//!    `GPT2Model` is initialized before the outer `GPT2LMHeadModel` builds `lm_head`, and each
//!    `T5Stack` before the next is built): `_init_weights` on each module not yet initialized,
//!    children before parents (`smart_apply`); modules initialized by an inner model's
//!    `post_init` are skipped (`_is_hf_initialized`);
//! 3. `tie_weights()`, when `tie_word_embeddings` is true (always for T5) and the class declares
//!    tied keys.
//!
//! Non-persistent buffers (BERT `position_ids`/`token_type_ids`, rotary `inv_freq`, Gemma's
//! `embed_scale`) are not in the `state_dict` and are not modelled; GPT-2 attention no longer
//! registers its `bias` mask.
//!
//! Config fields: the ones that give a model its size (`vocab_size`, `hidden_size`,
//! `num_hidden_layers`, `num_attention_heads`, or GPT-2's `n_embd`, `n_layer`, `n_head`, or
//! T5's `d_model`, `num_layers`, `num_heads`) are required; every other field takes its
//! transformers default when absent or `null`. The config's `dtype`/`torch_dtype` is ignored, as
//! `Model(config)` ignores it: `dtype` decides.

mod bert;
mod decoder;
mod gpt_neox;
mod t5;
mod vit;

use std::collections::HashSet;

use serde_json::{Map, Value};

use crate::error::{Error, Result};
use crate::init::Init;
use crate::nn::{Layer, Model, ModuleId, Origin, Role, Slot, MAX_LAYERS};

/// The largest size a config field may give (2^40): beyond it no tensor fits in memory or on disk.
const MAX_DIM: u64 = 1 << 40;
use crate::tensor::DType;

/// The `model_type`s [`from_config`] knows, with the class each one builds.
pub const MODEL_TYPES: [(&str, &str); 12] = [
    ("bert", "BertModel"),
    ("gemma", "GemmaForCausalLM"),
    ("gpt2", "GPT2LMHeadModel"),
    ("gpt_neox", "GPTNeoXForCausalLM"),
    ("llama", "LlamaForCausalLM"),
    ("mistral", "MistralForCausalLM"),
    ("phi3", "Phi3ForCausalLM"),
    ("qwen2", "Qwen2ForCausalLM"),
    ("qwen3", "Qwen3ForCausalLM"),
    ("roberta", "RobertaModel"),
    ("t5", "T5ForConditionalGeneration"),
    ("vit", "ViTModel"),
];

/// The transformers classes [`build`] can construct, each with its `model_type`.
const CLASS_FAMILIES: [(&str, &str); 26] = [
    ("BertModel", "bert"),
    ("BertForSequenceClassification", "bert"),
    ("GemmaModel", "gemma"),
    ("GemmaForCausalLM", "gemma"),
    ("GPT2Model", "gpt2"),
    ("GPT2LMHeadModel", "gpt2"),
    ("GPTNeoXModel", "gpt_neox"),
    ("GPTNeoXForCausalLM", "gpt_neox"),
    ("LlamaModel", "llama"),
    ("LlamaForCausalLM", "llama"),
    ("LlamaForSequenceClassification", "llama"),
    ("MistralModel", "mistral"),
    ("MistralForCausalLM", "mistral"),
    ("Phi3Model", "phi3"),
    ("Phi3ForCausalLM", "phi3"),
    ("Qwen2Model", "qwen2"),
    ("Qwen2ForCausalLM", "qwen2"),
    ("Qwen3Model", "qwen3"),
    ("Qwen3ForCausalLM", "qwen3"),
    ("RobertaModel", "roberta"),
    ("RobertaForSequenceClassification", "roberta"),
    ("T5Model", "t5"),
    ("T5ForConditionalGeneration", "t5"),
    ("T5EncoderModel", "t5"),
    ("ViTModel", "vit"),
    ("ViTForImageClassification", "vit"),
];

/// The transformers classes [`build`] can construct.
pub const CLASSES: [&str; 26] = {
    let mut out = [""; 26];
    let mut i = 0;
    while i < 26 {
        out[i] = CLASS_FAMILIES[i].0;
        i += 1;
    }
    out
};

/// Builds the model a Hugging Face `config.json` describes, as
/// `torch.manual_seed(s); Model(Config.from_json_file(path))` does with transformers 5.24.
///
/// The class comes from `model_type` (see [`MODEL_TYPES`]: `bert` → `BertModel`, `gpt2` →
/// `GPT2LMHeadModel`, `llama` → `LlamaForCausalLM`, `t5` → `T5ForConditionalGeneration`, ...).
/// When `architectures[0]` names another class of the same family that [`build`] supports
/// (`GPT2Model`, `LlamaForSequenceClassification`, `RobertaForSequenceClassification`, ...),
/// that class is built instead; other heads (`BertForMaskedLM`, ...) fall back to the family's
/// class above. Without `model_type`, `architectures[0]` must be one of [`CLASSES`].
///
/// ```
/// let config = serde_json::json!({
///     "model_type": "qwen2", "vocab_size": 100, "hidden_size": 32, "intermediate_size": 64,
///     "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2,
/// });
/// let m = nninit::arch::hf::from_config(&config, nninit::DType::F32)?;
/// let names: Vec<String> = m.state_dict().into_iter().map(|(n, _)| n).collect();
/// assert_eq!(names[1], "model.layers.0.self_attn.q_proj.weight");
/// assert_eq!(names[2], "model.layers.0.self_attn.q_proj.bias");
/// # Ok::<(), nninit::Error>(())
/// ```
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
    use decoder::Family as D;
    let mut b = PreTrained { m: Model::new(dtype), done: HashSet::new() };
    let decoder_family = |prefix: &str| {
        [D::Llama, D::Qwen2, D::Qwen3, D::Mistral, D::Gemma, D::Phi3].into_iter().find(|f| f.prefix() == prefix)
    };
    let bert_family =
        |prefix: &str| [bert::Family::Bert, bert::Family::Roberta].into_iter().find(|f| f.prefix() == prefix);
    let split = |suffix: &str| class.strip_suffix(suffix).filter(|p| !p.is_empty());
    if let Some(f) = split("ForCausalLM").and_then(decoder_family) {
        decoder::for_causal_lm(&mut b, &decoder::Config::read(config, f)?)?;
    } else if let Some(f) = split("ForSequenceClassification").and_then(decoder_family).filter(|f| *f == D::Llama) {
        decoder::for_sequence_classification(&mut b, &decoder::Config::read(config, f)?)?;
    } else if let Some(f) = split("ForSequenceClassification").and_then(bert_family) {
        bert::for_sequence_classification(&mut b, &bert::Config::read(config, f)?)?;
    } else if let Some(f) = split("Model").and_then(bert_family) {
        bert::model(&mut b, &bert::Config::read(config, f)?, true)?;
    } else if let Some(f) = split("Model").and_then(decoder_family) {
        decoder::model(&mut b, &decoder::Config::read(config, f)?)?;
    } else {
        match class {
            "GPT2Model" => gpt2::gpt2_model(&mut b, &gpt2::Config::read(config)?)?.root,
            "GPT2LMHeadModel" => gpt2::gpt2_lm_head_model(&mut b, &gpt2::Config::read(config)?)?,
            "GPTNeoXModel" => gpt_neox::model(&mut b, &gpt_neox::Config::read(config)?)?.root,
            "GPTNeoXForCausalLM" => gpt_neox::for_causal_lm(&mut b, &gpt_neox::Config::read(config)?)?,
            "T5Model" | "T5ForConditionalGeneration" | "T5EncoderModel" => {
                t5::build(&mut b, class, &t5::Config::read(config)?)?
            }
            "ViTModel" => vit::model(&mut b, &vit::Config::read(config)?, true)?,
            "ViTForImageClassification" => vit::for_image_classification(&mut b, &vit::Config::read(config)?)?,
            other => {
                return Err(Error::Unknown {
                    what: "transformers class",
                    name: other.into(),
                    known: CLASSES.join(", "),
                })
            }
        };
    }
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
    CLASS_FAMILIES.iter().find(|(c, _)| *c == class).map_or("", |(_, t)| t)
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

    /// The number of labels of a classification head, as `PreTrainedConfig` gives it: the
    /// length of `id2label` when present, else `num_labels`, else 2.
    fn num_labels(&self) -> Result<usize> {
        let given = self.opt_dim(&["num_labels"])?;
        match self.get(&["id2label"]) {
            None => Ok(given.unwrap_or(2)),
            Some((_, Value::Object(labels))) => match given {
                Some(n) if n != labels.len() => Err(Error::value(format!(
                    "{}: num_labels = {n} is incompatible with the id2label map of length {}",
                    self.class,
                    labels.len()
                ))),
                _ => Ok(labels.len()),
            },
            Some((n, v)) => Err(self.bad(n, "an object", v)),
        }
    }

    /// A size given as one integer or a `[height, width]` pair (`image_size`, `patch_size`).
    fn pair_or(&self, name: &'static str, default: usize) -> Result<[usize; 2]> {
        let Some((n, v)) = self.get(&[name]) else { return Ok([default, default]) };
        let dim = |v: &Value| v.as_u64().filter(|&x| x <= MAX_DIM).map(|x| x as usize);
        let pair = match v {
            Value::Array(a) if a.len() == 2 => dim(&a[0]).zip(dim(&a[1])).map(|(h, w)| [h, w]),
            other => dim(other).map(|x| [x, x]),
        };
        pair.ok_or_else(|| self.bad(n, "a non-negative integer or a [height, width] pair", v))
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
