//! Hugging Face models built from their `config.json`, recorded from transformers 5.24.0 on
//! PyTorch 2.15.0 (`tools/golden/gen_golden.py`, `models.json`): the same `state_dict` names,
//! shapes and bytes, tied weights sharing one tensor, and the same generator state afterwards.

mod common;

use common::*;
use nninit::arch::hf;
use nninit::tensor::DType;
use nninit::Error;
use nninit::Generator;

fn config(file: &str) -> serde_json::Value {
    let path = format!("{}/tests/data/{file}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_json::from_str(&text).unwrap()
}

#[test]
fn hf_models_match_transformers() {
    let g = golden("models.json");
    let mut failures = Vec::new();
    let mut checked = Vec::new();
    for case in g["cases"].as_array().unwrap() {
        let Some(file) = case["config"].as_str() else { continue };
        let id = case["id"].as_str().unwrap();
        let mut gen = Generator::manual_seed(case["seed"].as_u64().unwrap());
        let built = hf::from_config(&config(file), DType::F32);
        let model = match built.and_then(|mut m| m.materialize_with(&mut gen).map(|_| m)) {
            Ok(m) => m,
            Err(e) => {
                failures.push(format!("{id}: {e}"));
                continue;
            }
        };
        checked.push(id.to_string());
        failures.extend(state_dict_differences(&model, &case["tensors"], id));
        let seed = case["seed"].as_u64().unwrap();
        failures.extend(streamed_differences(
            || hf::from_config(&config(file), DType::F32),
            seed,
            &case["tensors"],
            id,
        ));
        if let Some(want) = case["rng_state_sha256"].as_str() {
            if sha256_hex(&gen.get_rng_state()) != want {
                failures.push(format!("{id}: generator state differs"));
            }
        }
    }
    assert!(checked.len() >= 5, "only {checked:?}");
    assert!(failures.is_empty(), "{} failures:\n{}", failures.len(), failures.join("\n"));
}

#[test]
fn module_tree_uses_hf_class_names() {
    let m = hf::from_config(&config("gpt2-tiny.config.json"), DType::F32).unwrap();
    let types: Vec<(String, String)> =
        m.named_modules().into_iter().map(|(n, id)| (n, m.module(id).layer.type_name())).take(12).collect();
    let want = [
        ("", "GPT2LMHeadModel"),
        ("transformer", "GPT2Model"),
        ("transformer.wte", "Embedding"),
        ("transformer.wpe", "Embedding"),
        ("transformer.drop", "Dropout"),
        ("transformer.h", "ModuleList"),
        ("transformer.h.0", "GPT2Block"),
        ("transformer.h.0.ln_1", "LayerNorm"),
        ("transformer.h.0.attn", "GPT2Attention"),
        ("transformer.h.0.attn.c_attn", "Conv1D"),
        ("transformer.h.0.attn.c_proj", "Conv1D"),
        ("transformer.h.0.attn.attn_dropout", "Dropout"),
    ];
    let want: Vec<(String, String)> = want.iter().map(|(a, b)| (a.to_string(), b.to_string())).collect();
    assert_eq!(types, want);
    // Tied: one parameter fewer than state_dict entries.
    assert_eq!(m.named_parameters().len() + 1, m.state_dict().len());
}

#[test]
fn unknown_model_type_is_a_clear_error() {
    let cfg = serde_json::json!({"model_type": "t5", "vocab_size": 10});
    let err = hf::from_config(&cfg, DType::F32).unwrap_err();
    assert!(matches!(err, Error::Unknown { .. }), "{err:?}");
    let msg = err.to_string();
    assert!(msg.contains("t5") && msg.contains("bert") && msg.contains("gpt2") && msg.contains("llama"), "{msg}");

    let cfg = serde_json::json!({"architectures": ["T5ForConditionalGeneration"]});
    let msg = hf::from_config(&cfg, DType::F32).unwrap_err().to_string();
    assert!(msg.contains("T5ForConditionalGeneration") && msg.contains("BertModel"), "{msg}");

    let msg = hf::from_config(&serde_json::json!({}), DType::F32).unwrap_err();
    assert!(msg.to_string().contains("model_type"), "{msg}");
}

#[test]
fn missing_or_bad_fields_are_named() {
    let mut cfg = config("bert-tiny.config.json");
    cfg.as_object_mut().unwrap().remove("hidden_size");
    let msg = hf::from_config(&cfg, DType::F32).unwrap_err().to_string();
    assert!(msg.contains("`hidden_size`") && msg.contains("missing"), "{msg}");

    let mut cfg = config("gpt2-tiny.config.json");
    cfg.as_object_mut().unwrap().remove("n_embd");
    let msg = hf::from_config(&cfg, DType::F32).unwrap_err().to_string();
    assert!(msg.contains("`n_embd`") && msg.contains("`hidden_size`"), "{msg}");

    let mut cfg = config("llama-tiny.config.json");
    cfg["num_hidden_layers"] = serde_json::json!("two");
    let msg = hf::from_config(&cfg, DType::F32).unwrap_err().to_string();
    assert!(msg.contains("`num_hidden_layers`") && msg.contains("\"two\""), "{msg}");

    let mut cfg = config("bert-tiny.config.json");
    cfg["num_attention_heads"] = serde_json::json!(5);
    let msg = hf::from_config(&cfg, DType::F32).unwrap_err().to_string();
    assert!(msg.contains("not a multiple"), "{msg}");

    let mut cfg = config("bert-tiny.config.json");
    cfg["pad_token_id"] = serde_json::json!(100);
    let msg = hf::from_config(&cfg, DType::F32).unwrap_err().to_string();
    assert!(msg.contains("pad_token_id") && msg.contains("Padding_idx"), "{msg}");

    let mut cfg = config("bert-tiny.config.json");
    cfg["hidden_act"] = serde_json::json!("swiglu9");
    let msg = hf::from_config(&cfg, DType::F32).unwrap_err().to_string();
    assert!(msg.contains("swiglu9"), "{msg}");
}

#[test]
fn architectures_choose_the_class() {
    let root_type = |cfg: &serde_json::Value| {
        let m = hf::from_config(cfg, DType::F32).unwrap();
        m.module(m.root().unwrap()).layer.type_name()
    };
    let mut cfg = config("gpt2-tiny.config.json");
    assert_eq!(root_type(&cfg), "GPT2LMHeadModel");
    cfg["architectures"] = serde_json::json!(["GPT2Model"]);
    assert_eq!(root_type(&cfg), "GPT2Model");
    // A head nninit does not model falls back to the family's class.
    let mut cfg = config("bert-tiny.config.json");
    cfg["architectures"] = serde_json::json!(["BertForMaskedLM"]);
    assert_eq!(root_type(&cfg), "BertModel");
    // Without model_type, the architecture decides.
    let mut cfg = config("llama-tiny.config.json");
    cfg.as_object_mut().unwrap().remove("model_type");
    cfg["architectures"] = serde_json::json!(["LlamaModel"]);
    assert_eq!(root_type(&cfg), "LlamaModel");
}
