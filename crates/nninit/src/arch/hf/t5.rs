//! `T5ForConditionalGeneration`, `T5Model`, `T5EncoderModel` (transformers
//! `models/t5/modeling_t5.py`): T5 and T5 v1.1 (`feed_forward_proj = "gated-gelu"`).
//!
//! Construction: `shared = nn.Embedding(vocab_size, d_model)`; then `encoder = T5Stack(config)`,
//! a `PreTrainedModel` of its own that builds `embed_tokens`, `block` (`num_layers`
//! `T5Block`s; only block 0's self-attention has `relative_attention_bias`), `final_layer_norm`
//! and `dropout` and runs its own `post_init`; then `decoder` likewise (`num_decoder_layers`
//! blocks, each with cross-attention); then `lm_head` (no bias). The outer `post_init`
//! initializes `shared` and `lm_head` and redraws `shared`, then ties
//! `encoder.embed_tokens.weight`, `decoder.embed_tokens.weight` and `lm_head.weight` to
//! `shared.weight`: transformers 5 always ties T5's embeddings (`T5Config` forces
//! `tie_word_embeddings = True`), so `lm_head` is never redrawn.
//!
//! `T5PreTrainedModel._init_weights` (with `factor = initializer_factor`, default 1): the base
//! rule with `std = initializer_factor` (the config has no `initializer_range` unless the file
//! gives one), then `T5LayerNorm` weight `factor`; on the root, `shared.weight ~ N(0, factor)`;
//! `T5DenseActDense`/`T5DenseGatedActDense`: `wi*` `N(0, factor·d_model^-½)`, `wo`
//! `N(0, factor·d_ff^-½)`; `T5Attention`: `q` `N(0, factor·(d_model·d_kv)^-½)`, `k` and `v`
//! `N(0, factor·d_model^-½)`, `o` `N(0, factor·(num_heads·d_kv)^-½)`,
//! `relative_attention_bias` `N(0, factor·d_model^-½)`.

use super::*;

/// The `T5Config` fields that shape the model, with `T5Config`'s defaults. The generic names
/// (`hidden_size`, `num_attention_heads`, `num_hidden_layers`, `head_dim`) are accepted too, as
/// `T5Config.attribute_map` does.
pub(super) struct Config {
    vocab_size: usize,
    d_model: usize,
    d_kv: usize,
    d_ff: usize,
    num_layers: usize,
    num_decoder_layers: usize,
    num_heads: usize,
    relative_attention_num_buckets: usize,
    initializer_factor: f64,
    /// The base rule's std: `initializer_range or 0.02` when the file gives `initializer_range`,
    /// else `init_std`, else `initializer_factor`.
    base_std: f64,
    is_gated_act: bool,
    /// The class of `ACT2FN[dense_act_fn]`.
    activation: &'static str,
}

impl Config {
    /// Reads a `T5Config` from `config.json`.
    pub(super) fn read(config: &Value) -> Result<Self> {
        let f = Fields::new(config, "T5Config")?;
        let num_layers = f.layers(&["num_layers", "num_hidden_layers"])?;
        let feed_forward_proj = f.str_or("feed_forward_proj", "relu")?;
        let parts: Vec<&str> = feed_forward_proj.split('-').collect();
        if (parts.len() > 1 && parts[0] != "gated") || parts.len() > 2 {
            return Err(Error::value(format!(
                "T5Config: `feed_forward_proj`: {feed_forward_proj} is not a valid activation function of the dense layer; \
                 it must be of the format `gated-{{ACT_FN}}` or `{{ACT_FN}}`, e.g. 'gated-gelu' or 'relu'"
            )));
        }
        let dense_act_fn = if feed_forward_proj == "gated-gelu" { "gelu_new" } else { parts[parts.len() - 1] };
        let initializer_factor = f.float_or("initializer_factor", 1.0)?;
        let base_std = if f.get(&["initializer_range"]).is_some() {
            base_std(f.float_or("initializer_range", 0.02)?)
        } else if f.get(&["init_std"]).is_some() {
            f.float_or("init_std", 0.02)?
        } else {
            initializer_factor
        };
        Ok(Config {
            vocab_size: f.dim(&["vocab_size"])?,
            d_model: f.dim(&["d_model", "hidden_size"])?,
            d_kv: f.dim_or(&["d_kv", "head_dim"], 64)?,
            d_ff: f.dim_or(&["d_ff"], 2048)?,
            num_layers,
            num_decoder_layers: match f.opt_dim(&["num_decoder_layers"])? {
                Some(n) => f.layers(&["num_decoder_layers"]).map(|_| n)?,
                None => num_layers,
            },
            num_heads: f.heads(&["num_heads", "num_attention_heads"])?,
            relative_attention_num_buckets: f.dim_or(&["relative_attention_num_buckets"], 32)?,
            initializer_factor,
            base_std,
            is_gated_act: parts[0] == "gated",
            activation: activation_class(dense_act_fn)?,
        })
    }
}

/// `class(config)` for `T5ForConditionalGeneration`, `T5Model` or `T5EncoderModel`.
pub(super) fn build(b: &mut PreTrained, class: &str, c: &Config) -> Result<ModuleId> {
    let shared =
        b.m.add(Layer::Embedding { num_embeddings: c.vocab_size, embedding_dim: c.d_model, padding_idx: None })?;
    let mut children = vec![("shared", shared)];
    let mut stacks = vec![stack(b, c, false)?];
    children.push(("encoder", stacks[0].0));
    if class != "T5EncoderModel" {
        stacks.push(stack(b, c, true)?);
        children.push(("decoder", stacks[1].0));
    }
    let lm_head = if class == "T5ForConditionalGeneration" {
        let lm_head = b.linear(c.d_model, c.vocab_size, false)?;
        children.push(("lm_head", lm_head));
        Some(lm_head)
    } else {
        None
    };
    let root = b.m.custom(class, &children)?;
    b.post_init(root, &|b, id, path| init_weights(b, id, path, c))?;
    for (_, embed_tokens) in &stacks {
        b.m.tie(*embed_tokens, "weight", shared, "weight")?;
    }
    if let Some(lm_head) = lm_head {
        b.m.tie(lm_head, "weight", shared, "weight")?;
    }
    Ok(root)
}

/// `T5PreTrainedModel._init_weights` (see the module documentation).
fn init_weights(b: &mut PreTrained, id: ModuleId, path: &str, c: &Config) -> Result<()> {
    base_init_weights(b, id, path, c.base_std)?;
    let factor = c.initializer_factor;
    let (d_model, d_ff) = (c.d_model as f64, c.d_ff as f64);
    let class = b.m.module(id).layer.type_name();
    let child = |b: &mut PreTrained, name: &str, std: f64| -> Result<()> {
        let child = b.child(id, name)?;
        b.normal(child, &format!("{path}.{name}"), "weight", std)
    };
    match class.as_str() {
        "T5LayerNorm" => b.fill(id, "weight", factor),
        "T5Model" | "T5ForConditionalGeneration" | "T5EncoderModel" => child(b, "shared", factor),
        "T5DenseActDense" => {
            child(b, "wi", factor * d_model.powf(-0.5))?;
            child(b, "wo", factor * d_ff.powf(-0.5))
        }
        "T5DenseGatedActDense" => {
            child(b, "wi_0", factor * d_model.powf(-0.5))?;
            child(b, "wi_1", factor * d_model.powf(-0.5))?;
            child(b, "wo", factor * d_ff.powf(-0.5))
        }
        "T5Attention" => {
            let d_kv = c.d_kv as f64;
            child(b, "q", factor * (d_model * d_kv).powf(-0.5))?;
            child(b, "k", factor * d_model.powf(-0.5))?;
            child(b, "v", factor * d_model.powf(-0.5))?;
            child(b, "o", factor * (c.num_heads as f64 * d_kv).powf(-0.5))?;
            if b.m.module(id).children.iter().any(|(n, _)| n == "relative_attention_bias") {
                child(b, "relative_attention_bias", factor * d_model.powf(-0.5))?;
            }
            Ok(())
        }
        _ => Ok(()),
    }
}

/// `T5Stack(config)` (encoder, or decoder with `num_decoder_layers` blocks), then its own
/// `post_init`. Returns the stack and its `embed_tokens`.
fn stack(b: &mut PreTrained, c: &Config, is_decoder: bool) -> Result<(ModuleId, ModuleId)> {
    let embed_tokens =
        b.m.add(Layer::Embedding { num_embeddings: c.vocab_size, embedding_dim: c.d_model, padding_idx: None })?;
    let n = if is_decoder { c.num_decoder_layers } else { c.num_layers };
    let mut blocks = Vec::with_capacity(n);
    for i in 0..n {
        let mut layer = vec![sublayer(b, c, "T5LayerSelfAttention", "SelfAttention", i == 0)?];
        if is_decoder {
            layer.push(sublayer(b, c, "T5LayerCrossAttention", "EncDecAttention", false)?);
        }
        layer.push(feed_forward(b, c)?);
        let layer = b.m.module_list(&layer);
        blocks.push(b.m.custom("T5Block", &[("layer", layer)])?);
    }
    let block = b.m.module_list(&blocks);
    let final_layer_norm = layer_norm(b, c)?;
    let dropout = b.m.stateless("Dropout")?;
    let root = b.m.custom(
        "T5Stack",
        &[
            ("embed_tokens", embed_tokens),
            ("block", block),
            ("final_layer_norm", final_layer_norm),
            ("dropout", dropout),
        ],
    )?;
    b.post_init(root, &|b, id, path| init_weights(b, id, path, c))?;
    Ok((root, embed_tokens))
}

/// `T5LayerNorm(d_model)`: weight ones, no bias.
fn layer_norm(b: &mut PreTrained, c: &Config) -> Result<ModuleId> {
    let slot =
        Slot { name: "weight".into(), shape: vec![c.d_model], role: Role::NormWeight, buffer: false, int64: false };
    let id = b.with_params("T5LayerNorm", &[slot])?;
    b.fill(id, "weight", 1.0)?;
    Ok(id)
}

/// `T5LayerSelfAttention` / `T5LayerCrossAttention`: a `T5Attention` named `attention_name`
/// (`q`, `k`, `v`, `o` without bias, then `relative_attention_bias` when `relative`),
/// `layer_norm`, `dropout`.
fn sublayer(b: &mut PreTrained, c: &Config, class: &str, attention_name: &str, relative: bool) -> Result<ModuleId> {
    let inner = c.num_heads * c.d_kv;
    let mut children = vec![
        ("q", b.linear(c.d_model, inner, false)?),
        ("k", b.linear(c.d_model, inner, false)?),
        ("v", b.linear(c.d_model, inner, false)?),
        ("o", b.linear(inner, c.d_model, false)?),
    ];
    if relative {
        let bias = Layer::Embedding {
            num_embeddings: c.relative_attention_num_buckets,
            embedding_dim: c.num_heads,
            padding_idx: None,
        };
        children.push(("relative_attention_bias", b.m.add(bias)?));
    }
    let attention = b.m.custom("T5Attention", &children)?;
    let norm = layer_norm(b, c)?;
    let dropout = b.m.stateless("Dropout")?;
    b.m.custom(class, &[(attention_name, attention), ("layer_norm", norm), ("dropout", dropout)])
}

/// `T5LayerFF`: `DenseReluDense` (`T5DenseActDense`: `wi`, `wo`; or `T5DenseGatedActDense`:
/// `wi_0`, `wi_1`, `wo`; then `dropout`, `act`), `layer_norm`, `dropout`.
fn feed_forward(b: &mut PreTrained, c: &Config) -> Result<ModuleId> {
    let mut children = Vec::new();
    let class = if c.is_gated_act {
        children.push(("wi_0", b.linear(c.d_model, c.d_ff, false)?));
        children.push(("wi_1", b.linear(c.d_model, c.d_ff, false)?));
        "T5DenseGatedActDense"
    } else {
        children.push(("wi", b.linear(c.d_model, c.d_ff, false)?));
        "T5DenseActDense"
    };
    children.push(("wo", b.linear(c.d_ff, c.d_model, false)?));
    children.push(("dropout", b.m.stateless("Dropout")?));
    children.push(("act", b.m.stateless(c.activation)?));
    let dense = b.m.custom(class, &children)?;
    let norm = layer_norm(b, c)?;
    let dropout = b.m.stateless("Dropout")?;
    b.m.custom("T5LayerFF", &[("DenseReluDense", dense), ("layer_norm", norm), ("dropout", dropout)])
}
