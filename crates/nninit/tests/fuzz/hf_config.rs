//! Target 5: a Hugging Face `config.json` → model. Inputs start from small valid BERT, GPT-2
//! and Llama configs (the committed test configs' fields, with sizes that divide as
//! transformers needs), then replace fields with hostile values (sizes at and past the 2^40
//! limit, negative, fractional, strings, `null`, lists, objects), add and drop fields, and
//! mutate the JSON text. Built models stay recipes unless small (see [`crate::model`]).

use nninit::arch::hf::from_config;
use nninit::plan::config_vars;
use nninit::DType;
use proptest::prelude::*;
use serde_json::{json, Value};

use crate::harness::{fuzz, mutate_text, mutations, Mutation, Target};
use crate::model::check_model;

static TARGET: Target = Target::new("hf-config");

const FIELDS: &[&str] = &[
    "model_type",
    "architectures",
    "vocab_size",
    "hidden_size",
    "num_hidden_layers",
    "num_attention_heads",
    "intermediate_size",
    "max_position_embeddings",
    "type_vocab_size",
    "pad_token_id",
    "hidden_act",
    "initializer_range",
    "tie_word_embeddings",
    "n_embd",
    "n_layer",
    "n_head",
    "n_inner",
    "n_positions",
    "activation_function",
    "add_cross_attention",
    "num_key_value_heads",
    "head_dim",
    "attention_bias",
    "mlp_bias",
    "is_decoder",
    "embedding_size",
    "layer_norm_eps",
    "rms_norm_eps",
    "torch_dtype",
    "dtype",
];

const TOKENS: &[&str] = &[
    "{",
    "}",
    "[",
    "]",
    ",",
    ":",
    "\"",
    "null",
    "-1",
    "1e400",
    "18446744073709551616",
    "0.5",
    "true",
    "\\u0000",
    "\"model_type\": \"gpt2\"",
    " ",
];

fn hostile() -> impl Strategy<Value = Value> {
    prop_oneof![
        4 => (0u64..9).prop_map(Value::from),
        2 => prop::sample::select(&[1u64 << 40, (1 << 40) + 1, 1 << 53, 1 << 63, u64::MAX, 100_001][..]).prop_map(Value::from),
        1 => prop::sample::select(&[-1i64, -2, i64::MIN][..]).prop_map(Value::from),
        1 => prop::sample::select(&[0.5f64, -0.0, 1e300, 2.0][..]).prop_map(Value::from),
        1 => prop::sample::select(&["", "gelu", "relu", "prelu", "xielu", "bert", "gpt2", "llama", "t5", "BertModel", "GPT2Model", "LlamaModel", "8", "silu"][..]).prop_map(Value::from),
        1 => Just(Value::Null),
        1 => any::<bool>().prop_map(Value::from),
        1 => Just(json!(["LlamaForCausalLM"])),
        1 => Just(json!(["BertForMaskedLM", "GPT2Model"])),
        1 => Just(json!([])),
        1 => Just(json!([1])),
        1 => Just(json!({"a": 1})),
    ]
}

/// A small valid config of one family: heads divide the hidden size, the padding index lies in
/// the vocabulary.
fn base() -> impl Strategy<Value = Value> {
    let heads = 1u64..4;
    let head_dim = 1u64..5;
    let layers = 0u64..3;
    let vocab = 1u64..40;
    (0u8..5, heads, head_dim, layers, vocab, 1u64..3, any::<bool>()).prop_map(
        |(family, heads, head_dim, layers, vocab, kv, tie)| {
            let hidden = heads * head_dim;
            match family {
                0 => json!({
                    "model_type": "bert", "vocab_size": vocab, "hidden_size": hidden,
                    "num_hidden_layers": layers, "num_attention_heads": heads,
                    "intermediate_size": hidden * 2, "max_position_embeddings": 16, "type_vocab_size": 2,
                    "pad_token_id": 0, "hidden_act": "gelu", "initializer_range": 0.02
                }),
                1 => json!({
                    "model_type": "gpt2", "vocab_size": vocab, "n_embd": hidden, "n_layer": layers,
                    "n_head": heads, "n_positions": 16, "n_inner": null, "activation_function": "gelu_new",
                    "tie_word_embeddings": tie, "add_cross_attention": !tie
                }),
                2 => json!({
                    "architectures": ["GPT2Model"], "vocab_size": vocab, "n_embd": hidden, "n_layer": layers,
                    "n_head": heads
                }),
                3 => json!({
                    "architectures": ["LlamaModel"], "model_type": "llama", "vocab_size": vocab,
                    "hidden_size": hidden, "num_hidden_layers": layers, "num_attention_heads": heads,
                    "num_key_value_heads": if heads % kv == 0 { kv } else { heads }, "head_dim": head_dim,
                    "intermediate_size": hidden * 3, "tie_word_embeddings": tie, "mlp_bias": !tie,
                    "attention_bias": tie, "pad_token_id": null, "hidden_act": "silu"
                }),
                _ => json!({
                    "model_type": "llama", "vocab_size": vocab, "hidden_size": hidden,
                    "num_hidden_layers": layers, "num_attention_heads": heads
                }),
            }
        },
    )
}

#[derive(Clone, Debug)]
struct ConfigSpec {
    base: Value,
    edits: Vec<(&'static str, Option<Value>)>,
    mutations: Vec<Mutation>,
    dtype: u8,
    seed: u64,
}

impl ConfigSpec {
    fn input(&self) -> String {
        let mut config = self.base.clone();
        if let Some(obj) = config.as_object_mut() {
            for (field, value) in &self.edits {
                match value {
                    Some(v) => obj.insert(field.to_string(), v.clone()),
                    None => obj.remove(*field),
                };
            }
        }
        mutate_text(&config.to_string(), &self.mutations, TOKENS)
    }
}

fn spec() -> impl Strategy<Value = ConfigSpec> {
    let edit = (prop::sample::select(FIELDS), prop::option::weighted(0.85, hostile()));
    (base(), prop::collection::vec(edit, 0..4), mutations(), 0u8..4, any::<u64>())
        .prop_map(|(base, edits, mutations, dtype, seed)| ConfigSpec { base, edits, mutations, dtype, seed })
}

fn show(spec: &ConfigSpec) -> String {
    spec.input()
}

/// Never panics; a built model has addressable shapes and, if small, materializes.
fn property(spec: &ConfigSpec) {
    let Ok(config) = serde_json::from_str::<Value>(&spec.input()) else { return };
    let _ = config_vars(&config);
    let dtype = [DType::F32, DType::F64, DType::F16, DType::BF16][spec.dtype as usize % 4];
    if let Ok(mut model) = from_config(&config, dtype) {
        check_model(&mut model, spec.seed);
    }
}

#[test]
fn hf_configs_never_panic() {
    fuzz(&TARGET, spec(), show, property);
}
