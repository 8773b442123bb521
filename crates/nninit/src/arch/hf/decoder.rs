//! Decoder-only language models laid out as Llama: `LlamaModel` / `LlamaForCausalLM` /
//! `LlamaForSequenceClassification` and the families that share its structure, Qwen2, Qwen3,
//! Mistral, Gemma and Phi-3 (transformers `models/{llama,qwen2,qwen3,mistral,gemma,phi3}`).
//!
//! One builder; the families differ only in ([`Family`]):
//!
//! * which projections have a bias: Qwen2 `q_proj`/`k_proj`/`v_proj` always (not `o_proj`);
//!   Llama, Qwen3 and Gemma all four when `attention_bias`; Mistral and Phi-3 none. Llama's
//!   MLP has biases when `mlp_bias`;
//! * Qwen3's `q_norm`/`k_norm` (`Qwen3RMSNorm(head_dim)`) in the attention;
//! * Phi-3's fused projections: `o_proj` is constructed before `qkv_proj`
//!   (`num_attention_heads·head_dim + 2·num_key_value_heads·head_dim` outputs), and the MLP has
//!   one `gate_up_proj` (`2·intermediate_size` outputs) and `down_proj`; its decoder layers also
//!   hold `resid_attn_dropout` and `resid_mlp_dropout`;
//! * Gemma's RMSNorm weights start at 0 (the norm multiplies by `1 + weight`; its
//!   `_init_weights` zeroes them after the base rule's ones) and its token embedding is a
//!   `GemmaTextScaledWordEmbedding` (an `nn.Embedding` whose `embed_scale` buffer is not
//!   persistent, so it is an `Embedding` here);
//! * config defaults ([`Defaults`]): Qwen3's `head_dim` is 128 and Gemma's 256 when absent (the
//!   others use `hidden_size / num_attention_heads`), and the default vocabulary, sizes,
//!   activation, padding index and tying.
//!
//! What is drawn, in order: every `nn.Linear`'s and `nn.Embedding`'s default init as it is
//! constructed; then the base `_init_weights` rule (`N(0, initializer_range)` on Linear and
//! Embedding weights, biases and the padding row 0, RMSNorm weights 1) over the inner model at
//! the end of its `__init__`; then the head (`lm_head` or `score`) with its default init and the
//! outer model's `post_init`, then tying `lm_head.weight` to `model.embed_tokens.weight` when
//! `tie_word_embeddings`. Rotary embeddings hold only non-persistent buffers (not modelled).

use super::*;

/// A transformers family with Llama's layout.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Family {
    Llama,
    Qwen2,
    Qwen3,
    Mistral,
    Gemma,
    Phi3,
}

/// A family's `*Config` defaults for the fields that shape the model.
struct Defaults {
    config_class: &'static str,
    intermediate_size: usize,
    /// `num_key_value_heads` when absent (`None`: `num_attention_heads`).
    num_key_value_heads: Option<usize>,
    /// `head_dim` when absent (`None`: `hidden_size / num_attention_heads`).
    head_dim: Option<usize>,
    hidden_act: &'static str,
    tie_word_embeddings: bool,
    pad_token_id: Option<i64>,
    /// The config refuses a hidden size that is not a multiple of the number of heads.
    checks_divisible: bool,
}

impl Family {
    /// The prefix of the family's class names (`Qwen2` in `Qwen2ForCausalLM`).
    pub(super) fn prefix(self) -> &'static str {
        match self {
            Family::Llama => "Llama",
            Family::Qwen2 => "Qwen2",
            Family::Qwen3 => "Qwen3",
            Family::Mistral => "Mistral",
            Family::Gemma => "Gemma",
            Family::Phi3 => "Phi3",
        }
    }

    fn defaults(self) -> Defaults {
        let llama = Defaults {
            config_class: "LlamaConfig",
            intermediate_size: 11008,
            num_key_value_heads: None,
            head_dim: None,
            hidden_act: "silu",
            tie_word_embeddings: false,
            pad_token_id: None,
            checks_divisible: true,
        };
        match self {
            Family::Llama => llama,
            Family::Qwen2 => Defaults {
                config_class: "Qwen2Config",
                intermediate_size: 22016,
                num_key_value_heads: Some(32),
                checks_divisible: false,
                ..llama
            },
            Family::Qwen3 => Defaults {
                config_class: "Qwen3Config",
                intermediate_size: 22016,
                num_key_value_heads: Some(32),
                head_dim: Some(128),
                checks_divisible: false,
                ..llama
            },
            Family::Mistral => Defaults {
                config_class: "MistralConfig",
                intermediate_size: 14336,
                num_key_value_heads: Some(8),
                checks_divisible: false,
                ..llama
            },
            Family::Gemma => Defaults {
                config_class: "GemmaConfig",
                intermediate_size: 24576,
                num_key_value_heads: Some(16),
                head_dim: Some(256),
                hidden_act: "gelu_pytorch_tanh",
                tie_word_embeddings: true,
                pad_token_id: Some(0),
                checks_divisible: false,
            },
            Family::Phi3 => Defaults {
                config_class: "Phi3Config",
                intermediate_size: 8192,
                pad_token_id: Some(32000),
                checks_divisible: false,
                ..llama
            },
        }
    }
}

/// The config fields that shape the model, with the family's defaults.
pub(super) struct Config {
    family: Family,
    vocab_size: usize,
    hidden_size: usize,
    intermediate_size: usize,
    num_hidden_layers: usize,
    num_attention_heads: usize,
    num_key_value_heads: usize,
    head_dim: usize,
    initializer_range: f64,
    padding_idx: Option<usize>,
    /// The class of `ACT2FN[hidden_act]`.
    activation: &'static str,
    attention_bias: bool,
    mlp_bias: bool,
    tie_word_embeddings: bool,
    num_labels: usize,
}

impl Config {
    /// Reads the family's config from `config.json`.
    pub(super) fn read(config: &Value, family: Family) -> Result<Self> {
        let d = family.defaults();
        let f = Fields::new(config, d.config_class)?;
        let vocab_size = f.dim(&["vocab_size"])?;
        let hidden_size = f.dim(&["hidden_size"])?;
        let heads = f.heads(&["num_attention_heads"])?;
        let head_dim = match (f.opt_dim(&["head_dim"])?, d.head_dim) {
            (Some(h), _) | (None, Some(h)) => h,
            (None, None) => hidden_size / heads,
        };
        if d.checks_divisible && hidden_size % heads != 0 {
            return Err(Error::value(format!(
                "{}: the hidden size ({hidden_size}) is not a multiple of the number of attention heads ({heads}).",
                d.config_class
            )));
        }
        // Absent: the family default; `null`: `num_attention_heads` (as `__post_init__` does).
        let num_key_value_heads =
            match (f.opt_dim(&["num_key_value_heads"])?, f.obj.contains_key("num_key_value_heads")) {
                (Some(n), _) => n,
                (None, true) => heads,
                (None, false) => d.num_key_value_heads.unwrap_or(heads),
            };
        let mut hidden_act = f.str_or("hidden_act", d.hidden_act)?;
        if family == Family::Gemma && hidden_act == "gelu" {
            // GemmaConfig.__post_init__: the legacy value means the tanh approximation.
            hidden_act = "gelu_pytorch_tanh".into();
        }
        let reads_attention_bias = matches!(family, Family::Llama | Family::Qwen3 | Family::Gemma);
        Ok(Config {
            family,
            vocab_size,
            hidden_size,
            intermediate_size: f.dim_or(&["intermediate_size"], d.intermediate_size)?,
            num_hidden_layers: f.layers(&["num_hidden_layers"])?,
            num_attention_heads: heads,
            num_key_value_heads,
            head_dim,
            initializer_range: f.float_or("initializer_range", 0.02)?,
            padding_idx: f.padding_idx(vocab_size, d.pad_token_id)?,
            activation: activation_class(&hidden_act)?,
            attention_bias: reads_attention_bias && f.bool_or("attention_bias", false)?,
            mlp_bias: family == Family::Llama && f.bool_or("mlp_bias", false)?,
            tie_word_embeddings: f.bool_or("tie_word_embeddings", d.tie_word_embeddings)?,
            num_labels: f.num_labels()?,
        })
    }

    fn class(&self, suffix: &str) -> String {
        format!("{}{suffix}", self.family.prefix())
    }
}

/// A built `*Model`: its root and `embed_tokens`, which `lm_head` may tie to.
pub(super) struct DecoderModel {
    pub(super) root: ModuleId,
    embed_tokens: ModuleId,
}

/// `*Model(config)` (`LlamaModel`, `Qwen2Model`, ...), then its `post_init`.
pub(super) fn model(b: &mut PreTrained, c: &Config) -> Result<DecoderModel> {
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
    let norm = rms_norm(b, c, c.hidden_size)?;
    // Only non-persistent buffers (`inv_freq`, `original_inv_freq`): nothing in the state_dict.
    let rotary_emb = b.m.custom(&c.class("RotaryEmbedding"), &[])?;
    let root = b.m.custom(
        &c.class("Model"),
        &[("embed_tokens", embed_tokens), ("layers", layers), ("norm", norm), ("rotary_emb", rotary_emb)],
    )?;
    b.post_init(root, &|b, id, path| init_weights(b, id, path, c))?;
    Ok(DecoderModel { root, embed_tokens })
}

/// `*ForCausalLM(config)`: `model`, then `lm_head = nn.Linear(hidden_size, vocab_size,
/// bias=False)` with its default and `N(0, initializer_range)` draws, tied to
/// `model.embed_tokens` when `tie_word_embeddings`.
pub(super) fn for_causal_lm(b: &mut PreTrained, c: &Config) -> Result<ModuleId> {
    let model = model(b, c)?;
    let lm_head = b.linear(c.hidden_size, c.vocab_size, false)?;
    let root = b.m.custom(&c.class("ForCausalLM"), &[("model", model.root), ("lm_head", lm_head)])?;
    b.post_init(root, &|b, id, path| init_weights(b, id, path, c))?;
    if c.tie_word_embeddings {
        b.m.tie(lm_head, "weight", model.embed_tokens, "weight")?;
    }
    Ok(root)
}

/// `*ForSequenceClassification(config)` (transformers `GenericForSequenceClassification`):
/// `model` (`AutoModel.from_config`, initialized by its own `post_init`), then
/// `score = nn.Linear(hidden_size, num_labels, bias=False)`; nothing is tied.
pub(super) fn for_sequence_classification(b: &mut PreTrained, c: &Config) -> Result<ModuleId> {
    let model = model(b, c)?;
    let score = b.linear(c.hidden_size, c.num_labels, false)?;
    let root = b.m.custom(&c.class("ForSequenceClassification"), &[("model", model.root), ("score", score)])?;
    b.post_init(root, &|b, id, path| init_weights(b, id, path, c))?;
    Ok(root)
}

/// `*PreTrainedModel._init_weights`: the base rule with `std = initializer_range or 0.02`
/// (Linear/Embedding `N(0, std)`, biases 0, padding row 0, RMSNorm weight 1; the rotary case
/// rewrites non-persistent buffers only). Gemma then sets RMSNorm weights to 0.
fn init_weights(b: &mut PreTrained, id: ModuleId, path: &str, c: &Config) -> Result<()> {
    base_init_weights(b, id, path, base_std(c.initializer_range))?;
    if c.family == Family::Gemma && b.m.module(id).layer.type_name().contains("RMSNorm") {
        b.fill(id, "weight", 0.0)?;
    }
    Ok(())
}

/// `*RMSNorm(size)`: weight ones (Gemma: zeros).
fn rms_norm(b: &mut PreTrained, c: &Config, size: usize) -> Result<ModuleId> {
    let slot = Slot { name: "weight".into(), shape: vec![size], role: Role::NormWeight, buffer: false, int64: false };
    let id = b.with_params(&c.class("RMSNorm"), &[slot])?;
    b.fill(id, "weight", if c.family == Family::Gemma { 0.0 } else { 1.0 })?;
    Ok(id)
}

/// `*Attention`: `q_proj`, `k_proj`, `v_proj`, `o_proj` (Qwen3: then `q_norm`, `k_norm`;
/// Phi-3: `o_proj`, then the fused `qkv_proj`).
fn attention(b: &mut PreTrained, c: &Config) -> Result<ModuleId> {
    let (h, q, kv) = (c.hidden_size, c.num_attention_heads * c.head_dim, c.num_key_value_heads * c.head_dim);
    let class = c.class("Attention");
    if c.family == Family::Phi3 {
        let o_proj = b.linear(q, h, false)?;
        let qkv_proj = b.linear(h, q + 2 * kv, false)?;
        return b.m.custom(&class, &[("o_proj", o_proj), ("qkv_proj", qkv_proj)]);
    }
    let (qkv_bias, o_bias) = match c.family {
        Family::Qwen2 => (true, false),
        _ => (c.attention_bias, c.attention_bias),
    };
    let mut children = vec![
        ("q_proj", b.linear(h, q, qkv_bias)?),
        ("k_proj", b.linear(h, kv, qkv_bias)?),
        ("v_proj", b.linear(h, kv, qkv_bias)?),
        ("o_proj", b.linear(q, h, o_bias)?),
    ];
    if c.family == Family::Qwen3 {
        children.push(("q_norm", rms_norm(b, c, c.head_dim)?));
        children.push(("k_norm", rms_norm(b, c, c.head_dim)?));
    }
    b.m.custom(&class, &children)
}

/// `*MLP`: `gate_proj`, `up_proj`, `down_proj`, `act_fn` (Phi-3: `gate_up_proj`, `down_proj`,
/// `activation_fn`).
fn mlp(b: &mut PreTrained, c: &Config) -> Result<ModuleId> {
    let (h, i) = (c.hidden_size, c.intermediate_size);
    let class = c.class("MLP");
    if c.family == Family::Phi3 {
        let gate_up_proj = b.linear(h, 2 * i, false)?;
        let down_proj = b.linear(i, h, false)?;
        let act = b.m.stateless(c.activation)?;
        return b.m.custom(&class, &[("gate_up_proj", gate_up_proj), ("down_proj", down_proj), ("activation_fn", act)]);
    }
    let gate_proj = b.linear(h, i, c.mlp_bias)?;
    let up_proj = b.linear(h, i, c.mlp_bias)?;
    let down_proj = b.linear(i, h, c.mlp_bias)?;
    let act_fn = b.m.stateless(c.activation)?;
    b.m.custom(&class, &[("gate_proj", gate_proj), ("up_proj", up_proj), ("down_proj", down_proj), ("act_fn", act_fn)])
}

/// `*DecoderLayer`: `self_attn`, `mlp`, `input_layernorm`, `post_attention_layernorm` (Phi-3:
/// then `resid_attn_dropout`, `resid_mlp_dropout`).
fn decoder_layer(b: &mut PreTrained, c: &Config) -> Result<ModuleId> {
    let mut children = vec![
        ("self_attn", attention(b, c)?),
        ("mlp", mlp(b, c)?),
        ("input_layernorm", rms_norm(b, c, c.hidden_size)?),
        ("post_attention_layernorm", rms_norm(b, c, c.hidden_size)?),
    ];
    if c.family == Family::Phi3 {
        children.push(("resid_attn_dropout", b.m.stateless("Dropout")?));
        children.push(("resid_mlp_dropout", b.m.stateless("Dropout")?));
    }
    b.m.custom(&c.class("DecoderLayer"), &children)
}
