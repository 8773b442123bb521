//! `GPTNeoXModel` / `GPTNeoXForCausalLM` (transformers `models/gpt_neox/modeling_gpt_neox.py`):
//! Pythia and GPT-NeoX checkpoints.
//!
//! `GPTNeoXModel`: `embed_in` (no padding index), `emb_dropout`, `layers`, `final_layer_norm`
//! (a `torch.nn.LayerNorm`), `rotary_emb` (non-persistent buffers only). Each `GPTNeoXLayer`
//! registers `input_layernorm`, `post_attention_layernorm`, two dropouts, `attention` (fused
//! `query_key_value` with `3·hidden_size` outputs and `dense`, with biases when
//! `attention_bias`, default true) and `mlp` (`dense_h_to_4h`, `dense_4h_to_h`, `act`).
//! `_init_weights` is the base rule; `lm_head` ties to `embed_in` only when
//! `tie_word_embeddings` (default false).

use super::*;

/// The `GPTNeoXConfig` fields that shape the model, with `GPTNeoXConfig`'s defaults.
pub(super) struct Config {
    vocab_size: usize,
    hidden_size: usize,
    intermediate_size: usize,
    num_hidden_layers: usize,
    initializer_range: f64,
    /// The class of `ACT2FN[hidden_act]` (default `gelu`).
    activation: &'static str,
    attention_bias: bool,
    tie_word_embeddings: bool,
}

impl Config {
    /// Reads a `GPTNeoXConfig` from `config.json`.
    pub(super) fn read(config: &Value) -> Result<Self> {
        let f = Fields::new(config, "GPTNeoXConfig")?;
        let hidden_size = f.dim(&["hidden_size"])?;
        let heads = f.heads(&["num_attention_heads"])?;
        if hidden_size % heads != 0 {
            return Err(Error::value(format!(
                "GPTNeoXConfig: the hidden size ({hidden_size}) is not divisible by the number of attention heads ({heads})"
            )));
        }
        Ok(Config {
            vocab_size: f.dim(&["vocab_size"])?,
            hidden_size,
            intermediate_size: f.dim_or(&["intermediate_size"], 24576)?,
            num_hidden_layers: f.layers(&["num_hidden_layers"])?,
            initializer_range: f.float_or("initializer_range", 0.02)?,
            activation: activation_class(&f.str_or("hidden_act", "gelu")?)?,
            attention_bias: f.bool_or("attention_bias", true)?,
            tie_word_embeddings: f.bool_or("tie_word_embeddings", false)?,
        })
    }
}

/// A built `GPTNeoXModel`: its root and `embed_in`, which `lm_head` may tie to.
pub(super) struct NeoXModel {
    pub(super) root: ModuleId,
    embed_in: ModuleId,
}

/// `GPTNeoXModel(config)`, then its `post_init`.
pub(super) fn model(b: &mut PreTrained, c: &Config) -> Result<NeoXModel> {
    let h = c.hidden_size;
    let embed_in = b.m.add(Layer::Embedding { num_embeddings: c.vocab_size, embedding_dim: h, padding_idx: None })?;
    let emb_dropout = b.m.stateless("Dropout")?;
    let mut layers = Vec::with_capacity(c.num_hidden_layers);
    for _ in 0..c.num_hidden_layers {
        let input_layernorm = b.layer_norm(h)?;
        let post_attention_layernorm = b.layer_norm(h)?;
        let post_attention_dropout = b.m.stateless("Dropout")?;
        let post_mlp_dropout = b.m.stateless("Dropout")?;
        let query_key_value = b.linear(h, 3 * h, c.attention_bias)?;
        let dense = b.linear(h, h, c.attention_bias)?;
        let attention = b.m.custom("GPTNeoXAttention", &[("query_key_value", query_key_value), ("dense", dense)])?;
        let dense_h_to_4h = b.linear(h, c.intermediate_size, true)?;
        let dense_4h_to_h = b.linear(c.intermediate_size, h, true)?;
        let act = b.m.stateless(c.activation)?;
        let mlp = b.m.custom(
            "GPTNeoXMLP",
            &[("dense_h_to_4h", dense_h_to_4h), ("dense_4h_to_h", dense_4h_to_h), ("act", act)],
        )?;
        layers.push(b.m.custom(
            "GPTNeoXLayer",
            &[
                ("input_layernorm", input_layernorm),
                ("post_attention_layernorm", post_attention_layernorm),
                ("post_attention_dropout", post_attention_dropout),
                ("post_mlp_dropout", post_mlp_dropout),
                ("attention", attention),
                ("mlp", mlp),
            ],
        )?);
    }
    let layers = b.m.module_list(&layers);
    let final_layer_norm = b.layer_norm(h)?;
    let rotary_emb = b.m.custom("GPTNeoXRotaryEmbedding", &[])?;
    let root = b.m.custom(
        "GPTNeoXModel",
        &[
            ("embed_in", embed_in),
            ("emb_dropout", emb_dropout),
            ("layers", layers),
            ("final_layer_norm", final_layer_norm),
            ("rotary_emb", rotary_emb),
        ],
    )?;
    b.post_init(root, &|b, id, path| base_init_weights(b, id, path, base_std(c.initializer_range)))?;
    Ok(NeoXModel { root, embed_in })
}

/// `GPTNeoXForCausalLM(config)`: `gpt_neox`, then `lm_head = nn.Linear(hidden_size, vocab_size,
/// bias=False)`, tied to `gpt_neox.embed_in` when `tie_word_embeddings`.
pub(super) fn for_causal_lm(b: &mut PreTrained, c: &Config) -> Result<ModuleId> {
    let gpt_neox = model(b, c)?;
    let lm_head = b.linear(c.hidden_size, c.vocab_size, false)?;
    let root = b.m.custom("GPTNeoXForCausalLM", &[("gpt_neox", gpt_neox.root), ("lm_head", lm_head)])?;
    b.post_init(root, &|b, id, path| base_init_weights(b, id, path, base_std(c.initializer_range)))?;
    if c.tie_word_embeddings {
        b.m.tie(lm_head, "weight", gpt_neox.embed_in, "weight")?;
    }
    Ok(root)
}
