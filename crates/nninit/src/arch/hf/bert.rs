//! BERT and RoBERTa encoders: `BertModel`, `BertForSequenceClassification`, `RobertaModel`,
//! `RobertaForSequenceClassification` (transformers `models/bert/modeling_bert.py`,
//! `models/roberta/modeling_roberta.py`).
//!
//! RoBERTa is BERT with `Roberta*` class names and two differences in `RobertaEmbeddings`: its
//! modules are registered as `word_embeddings`, `token_type_embeddings`, `LayerNorm`, `dropout`,
//! `position_embeddings` (constructed in that order), and the position embedding has
//! `padding_idx = pad_token_id` (default 1) like the word embedding.

use super::*;

/// BERT or RoBERTa.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Family {
    Bert,
    Roberta,
}

impl Family {
    /// The prefix of the family's class names.
    pub(super) fn prefix(self) -> &'static str {
        match self {
            Family::Bert => "Bert",
            Family::Roberta => "Roberta",
        }
    }
}

/// The `BertConfig`/`RobertaConfig` fields that shape the model, with their defaults.
pub(super) struct Config {
    family: Family,
    vocab_size: usize,
    hidden_size: usize,
    num_hidden_layers: usize,
    /// `num_attention_heads * int(hidden_size / num_attention_heads)`.
    all_head_size: usize,
    intermediate_size: usize,
    max_position_embeddings: usize,
    type_vocab_size: usize,
    initializer_range: f64,
    /// Normalized `pad_token_id` (default 0 for BERT, 1 for RoBERTa).
    padding_idx: Option<usize>,
    /// RoBERTa: `pad_token_id` normalized against `max_position_embeddings`.
    position_padding_idx: Option<usize>,
    /// The class of `ACT2FN[hidden_act]` (default `gelu`).
    activation: &'static str,
    add_cross_attention: bool,
    num_labels: usize,
}

impl Config {
    /// Reads a `BertConfig` or `RobertaConfig` from `config.json`.
    pub(super) fn read(config: &Value, family: Family) -> Result<Self> {
        let class = match family {
            Family::Bert => "BertConfig",
            Family::Roberta => "RobertaConfig",
        };
        let f = Fields::new(config, class)?;
        let vocab_size = f.dim(&["vocab_size"])?;
        let hidden_size = f.dim(&["hidden_size"])?;
        let heads = f.heads(&["num_attention_heads"])?;
        if hidden_size % heads != 0 && !f.obj.contains_key("embedding_size") {
            return Err(Error::value(format!(
                "{class}: the hidden size ({hidden_size}) is not a multiple of the number of attention heads ({heads})"
            )));
        }
        let is_decoder = f.bool_or("is_decoder", false)?;
        let add_cross_attention = f.bool_or("add_cross_attention", false)?;
        if add_cross_attention && !is_decoder {
            return Err(Error::value(format!(
                "{class}: add_cross_attention needs is_decoder ({}Layer should be used as a decoder model if cross attention is added)",
                family.prefix()
            )));
        }
        let max_position_embeddings = f.dim_or(&["max_position_embeddings"], 512)?;
        let default_pad = match family {
            Family::Bert => 0,
            Family::Roberta => 1,
        };
        Ok(Config {
            family,
            vocab_size,
            hidden_size,
            num_hidden_layers: f.layers(&["num_hidden_layers"])?,
            all_head_size: heads * (hidden_size / heads),
            intermediate_size: f.dim_or(&["intermediate_size"], 3072)?,
            max_position_embeddings,
            type_vocab_size: f.dim_or(&["type_vocab_size"], 2)?,
            initializer_range: f.float_or("initializer_range", 0.02)?,
            padding_idx: f.padding_idx(vocab_size, Some(default_pad))?,
            position_padding_idx: match family {
                Family::Bert => None,
                Family::Roberta => f.padding_idx(max_position_embeddings, Some(default_pad))?,
            },
            activation: activation_class(&f.str_or("hidden_act", "gelu")?)?,
            add_cross_attention,
            num_labels: f.num_labels()?,
        })
    }

    fn class(&self, suffix: &str) -> String {
        format!("{}{suffix}", self.family.prefix())
    }
}

/// `BertModel(config)` / `RobertaModel(config, add_pooling_layer)`, then its `post_init`.
pub(super) fn model(b: &mut PreTrained, c: &Config, add_pooling_layer: bool) -> Result<ModuleId> {
    let embeddings = embeddings(b, c)?;
    let mut layers = Vec::with_capacity(c.num_hidden_layers);
    for _ in 0..c.num_hidden_layers {
        layers.push(layer(b, c)?);
    }
    let list = b.m.module_list(&layers);
    let encoder = b.m.custom(&c.class("Encoder"), &[("layer", list)])?;
    let mut children = vec![("embeddings", embeddings), ("encoder", encoder)];
    if add_pooling_layer {
        let dense = b.linear(c.hidden_size, c.hidden_size, true)?;
        let activation = b.m.stateless("Tanh")?;
        children.push(("pooler", b.m.custom(&c.class("Pooler"), &[("dense", dense), ("activation", activation)])?));
    }
    let root = b.m.custom(&c.class("Model"), &children)?;
    b.post_init(root, &|b, id, path| init_weights(b, id, path, c))?;
    Ok(root)
}

/// `BertForSequenceClassification(config)`: `bert` (a `BertModel` with its pooler, initialized
/// by its own `post_init`), `dropout`, `classifier = nn.Linear(hidden_size, num_labels)`.
/// `RobertaForSequenceClassification(config)`: `roberta` (without pooler), then `classifier`, a
/// `RobertaClassificationHead` of `dense` (hidden → hidden), `dropout`, `out_proj`
/// (hidden → num_labels).
pub(super) fn for_sequence_classification(b: &mut PreTrained, c: &Config) -> Result<ModuleId> {
    let children = match c.family {
        Family::Bert => {
            let bert = model(b, c, true)?;
            let dropout = b.m.stateless("Dropout")?;
            let classifier = b.linear(c.hidden_size, c.num_labels, true)?;
            vec![("bert", bert), ("dropout", dropout), ("classifier", classifier)]
        }
        Family::Roberta => {
            let roberta = model(b, c, false)?;
            let dense = b.linear(c.hidden_size, c.hidden_size, true)?;
            let dropout = b.m.stateless("Dropout")?;
            let out_proj = b.linear(c.hidden_size, c.num_labels, true)?;
            let head = b.m.custom(
                "RobertaClassificationHead",
                &[("dense", dense), ("dropout", dropout), ("out_proj", out_proj)],
            )?;
            vec![("roberta", roberta), ("classifier", head)]
        }
    };
    let root = b.m.custom(&c.class("ForSequenceClassification"), &children)?;
    b.post_init(root, &|b, id, path| init_weights(b, id, path, c))?;
    Ok(root)
}

/// `BertPreTrainedModel._init_weights` / `RobertaPreTrainedModel._init_weights`: the base rule
/// with `std = initializer_range or 0.02` (Linear and Embedding weights `N(0, std)`, biases 0,
/// the padding row 0, LayerNorm 1/0). Their extra cases write only non-persistent buffers
/// (`position_ids`, `token_type_ids`) or the bias of an LM head, which these classes do not have.
fn init_weights(b: &mut PreTrained, id: ModuleId, path: &str, c: &Config) -> Result<()> {
    base_init_weights(b, id, path, base_std(c.initializer_range))
}

/// `BertEmbeddings`: word (with `padding_idx`), position and token-type embeddings, LayerNorm,
/// dropout; `RobertaEmbeddings`: word, token-type, LayerNorm, dropout, position (with
/// `padding_idx`). Their `position_ids`/`token_type_ids` buffers are non-persistent.
fn embeddings(b: &mut PreTrained, c: &Config) -> Result<ModuleId> {
    let h = c.hidden_size;
    let embedding = |b: &mut PreTrained, num_embeddings, padding_idx| {
        b.m.add(Layer::Embedding { num_embeddings, embedding_dim: h, padding_idx })
    };
    let word = embedding(b, c.vocab_size, c.padding_idx)?;
    let children = match c.family {
        Family::Bert => {
            let position = embedding(b, c.max_position_embeddings, None)?;
            let token_type = embedding(b, c.type_vocab_size, None)?;
            vec![
                ("word_embeddings", word),
                ("position_embeddings", position),
                ("token_type_embeddings", token_type),
                ("LayerNorm", b.layer_norm(h)?),
                ("dropout", b.m.stateless("Dropout")?),
            ]
        }
        Family::Roberta => {
            let token_type = embedding(b, c.type_vocab_size, None)?;
            let norm = b.layer_norm(h)?;
            let dropout = b.m.stateless("Dropout")?;
            let position = embedding(b, c.max_position_embeddings, c.position_padding_idx)?;
            vec![
                ("word_embeddings", word),
                ("token_type_embeddings", token_type),
                ("LayerNorm", norm),
                ("dropout", dropout),
                ("position_embeddings", position),
            ]
        }
    };
    b.m.custom(&c.class("Embeddings"), &children)
}

/// `BertAttention`: `self` (`BertSelfAttention`, or `BertCrossAttention`) and `output`.
fn attention(b: &mut PreTrained, c: &Config, cross: bool) -> Result<ModuleId> {
    let query = b.linear(c.hidden_size, c.all_head_size, true)?;
    let key = b.linear(c.hidden_size, c.all_head_size, true)?;
    let value = b.linear(c.hidden_size, c.all_head_size, true)?;
    let dropout = b.m.stateless("Dropout")?;
    let class = c.class(if cross { "CrossAttention" } else { "SelfAttention" });
    let attn = b.m.custom(&class, &[("query", query), ("key", key), ("value", value), ("dropout", dropout)])?;
    let output = dense_norm_dropout(b, &c.class("SelfOutput"), c.hidden_size, c.hidden_size)?;
    b.m.custom(&c.class("Attention"), &[("self", attn), ("output", output)])
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
    children.push((
        "intermediate",
        b.m.custom(&c.class("Intermediate"), &[("dense", dense), ("intermediate_act_fn", act)])?,
    ));
    children.push(("output", dense_norm_dropout(b, &c.class("Output"), c.intermediate_size, c.hidden_size)?));
    b.m.custom(&c.class("Layer"), &children)
}
