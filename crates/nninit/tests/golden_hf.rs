//! Hugging Face models built from their `config.json`, recorded from transformers 5.24.0 on
//! PyTorch 2.15.0 (`tools/golden/gen_golden.py`: `models.json` and `models_hf.json`): the same
//! `state_dict` names, shapes and bytes, tied weights sharing one tensor, and the same generator
//! state afterwards, in memory and through the streaming writer.

mod common;

use common::*;
use nninit::arch::hf;
use nninit::tensor::DType;
use nninit::Error;
use nninit::Generator;

/// `(len, sha256)` of `"\n".join(f"{path} {type(m).__name__}" for path, m in named_modules())`.
fn module_tree(model: &nninit::nn::Model) -> (usize, String) {
    let lines: Vec<String> = model
        .named_modules()
        .iter()
        .map(|(path, id)| format!("{path} {}", model.module(*id).layer.type_name()))
        .collect();
    (lines.len(), sha256_hex(lines.join("\n").as_bytes()))
}

fn config(file: &str) -> serde_json::Value {
    let path = format!("{}/tests/data/{file}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_json::from_str(&text).unwrap()
}

#[test]
fn hf_models_match_transformers() {
    let (failures, checked) = check_golden("models.json");
    assert!(checked.len() >= 5, "only {checked:?}");
    assert!(failures.is_empty(), "{} failures:\n{}", failures.len(), failures.join("\n"));
}

/// Every family and head of `models_hf.json`: Qwen2, Mistral, Qwen3, Gemma, Phi-3, GPT-NeoX,
/// RoBERTa, ViT, T5 (plain and gated), and the BERT, RoBERTa, Llama sequence-classification and
/// ViT image-classification heads.
#[test]
fn more_hf_models_match_transformers() {
    let (failures, checked) = check_golden("models_hf.json");
    let classes: std::collections::BTreeSet<String> = golden("models_hf.json")["cases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["ctor"].as_str().unwrap().split('(').next().unwrap().to_string())
        .collect();
    assert_eq!(classes.len(), 15, "{classes:?}");
    assert!(checked.len() >= 17, "only {checked:?}");
    assert!(failures.is_empty(), "{} failures:\n{}", failures.len(), failures.join("\n"));
}

/// Builds every case of golden file `name` that has a config, in memory and streamed, and
/// returns the differences from the recorded `state_dict` and generator state, and the ids checked.
fn check_golden(name: &str) -> (Vec<String>, Vec<String>) {
    let g = golden(name);
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
        if let Some(want) = case["tree"].as_array() {
            let got = module_tree(&model);
            let want = (want[0].as_u64().unwrap() as usize, want[1].as_str().unwrap().to_string());
            if got != want {
                failures.push(format!("{id}: named_modules() tree {got:?} vs transformers {want:?}"));
            }
        }
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
    (failures, checked)
}

/// On both streams (PyTorch's and the counter-based one), the streaming writer writes the same
/// bytes as the in-memory model, for every config of `models_hf.json` (tied names once).
#[test]
fn more_hf_models_stream_as_in_memory_on_both_streams() {
    use nninit::job::{self, InitJob, Source};
    use nninit::rng::Stream;
    let written = |o: &job::Outcome| {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m.safetensors");
        o.save(&path, nninit::io::Overwrite::Refuse, Default::default()).unwrap();
        std::fs::read(&path).unwrap()
    };
    let mut files: Vec<String> = golden("models_hf.json")["cases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["config"].as_str().unwrap().to_string())
        .collect();
    files.dedup();
    for file in files {
        let source = Source::Config(format!("{}/tests/data/{file}", env!("CARGO_MANIFEST_DIR")).into());
        for rng in [Stream::Torch, Stream::Philox] {
            let unmatched = Default::default();
            let job = InitJob {
                source: source.clone(),
                preset: None,
                plan: None,
                seed: 3,
                dtype: None,
                rng,
                shard: None,
                unmatched,
            };
            let in_memory = written(&job::run_in_memory(&job).unwrap());
            let outcome = job::run(&job).unwrap();
            assert!(!outcome.model.is_materialized());
            assert!(written(&outcome) == in_memory, "{file} {rng:?}: streamed file differs from the in-memory one");
        }
    }
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
    let cfg = serde_json::json!({"model_type": "mamba", "vocab_size": 10});
    let err = hf::from_config(&cfg, DType::F32).unwrap_err();
    assert!(matches!(err, Error::Unknown { .. }), "{err:?}");
    let msg = err.to_string();
    assert!(msg.contains("mamba") && msg.contains("bert") && msg.contains("gpt2") && msg.contains("llama"), "{msg}");
    for known in hf::MODEL_TYPES.map(|(t, _)| t) {
        assert!(msg.contains(known), "{msg} should list {known}");
    }

    let cfg = serde_json::json!({"architectures": ["MambaForCausalLM"]});
    let msg = hf::from_config(&cfg, DType::F32).unwrap_err().to_string();
    assert!(msg.contains("MambaForCausalLM") && msg.contains("BertModel"), "{msg}");
    for known in hf::CLASSES {
        assert!(msg.contains(known), "{msg} should list {known}");
    }

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
fn new_config_fields_are_checked() {
    let err = |cfg: &serde_json::Value| hf::from_config(cfg, DType::F32).unwrap_err().to_string();
    let mut cfg = config("roberta-cls-tiny.config.json");
    cfg["num_labels"] = serde_json::json!(5);
    let msg = err(&cfg);
    assert!(msg.contains("num_labels = 5") && msg.contains("id2label"), "{msg}");

    let mut cfg = config("roberta-tiny.config.json");
    cfg["pad_token_id"] = serde_json::json!(70);
    let msg = err(&cfg);
    assert!(msg.contains("pad_token_id 70") && msg.contains("66"), "{msg}");

    let mut cfg = config("t5-tiny.config.json");
    cfg["feed_forward_proj"] = serde_json::json!("fancy-gelu");
    let msg = err(&cfg);
    assert!(msg.contains("fancy-gelu") && msg.contains("gated-"), "{msg}");

    let mut cfg = config("vit-tiny.config.json");
    cfg["patch_size"] = serde_json::json!(0);
    assert!(err(&cfg).contains("`patch_size`"), "{}", err(&cfg));
    cfg["patch_size"] = serde_json::json!("8");
    assert!(err(&cfg).contains("`patch_size`") && err(&cfg).contains("\"8\""), "{}", err(&cfg));

    let mut cfg = config("phi3-tiny.config.json");
    cfg.as_object_mut().unwrap().remove("pad_token_id");
    // Phi3Config's default pad_token_id (32000) is outside this vocabulary, as in transformers.
    assert!(err(&cfg).contains("pad_token_id 32000"), "{}", err(&cfg));
}

#[test]
fn family_defaults_follow_their_configs() {
    let shape = |cfg: &serde_json::Value, name: &str| {
        let m = hf::from_config(cfg, DType::F32).unwrap();
        let sd = m.state_dict();
        let (_, id) = sd.iter().find(|(n, _)| n == name).unwrap_or_else(|| panic!("no {name}"));
        m.tensor(*id).shape().to_vec()
    };
    // Without `head_dim`, Qwen3 uses 128 and Gemma 256 (not hidden_size / num_attention_heads).
    let mut cfg = config("qwen3-tiny.config.json");
    cfg.as_object_mut().unwrap().remove("head_dim");
    assert_eq!(shape(&cfg, "model.layers.0.self_attn.q_proj.weight"), [4 * 128, 32]);
    assert_eq!(shape(&cfg, "model.layers.0.self_attn.q_norm.weight"), [128]);
    let mut cfg = config("gemma-tiny.config.json");
    cfg.as_object_mut().unwrap().remove("head_dim");
    assert_eq!(shape(&cfg, "model.layers.0.self_attn.k_proj.weight"), [256, 32]);
    // Mistral's absent num_key_value_heads is 8; null means num_attention_heads.
    let mut cfg = config("mistral-tiny.config.json");
    cfg.as_object_mut().unwrap().remove("num_key_value_heads");
    assert_eq!(shape(&cfg, "model.layers.0.self_attn.k_proj.weight"), [8 * 16, 32]);
    cfg["num_key_value_heads"] = serde_json::Value::Null;
    assert_eq!(shape(&cfg, "model.layers.0.self_attn.k_proj.weight"), [4 * 16, 32]);
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
    cfg["architectures"] = serde_json::json!(["BertForSequenceClassification"]);
    assert_eq!(root_type(&cfg), "BertForSequenceClassification");
    // A class of another family is not taken from `architectures`.
    let mut cfg = config("qwen2-tiny.config.json");
    cfg["architectures"] = serde_json::json!(["LlamaForSequenceClassification"]);
    assert_eq!(root_type(&cfg), "Qwen2ForCausalLM");
    cfg["architectures"] = serde_json::json!(["Qwen2Model"]);
    assert_eq!(root_type(&cfg), "Qwen2Model");
    // Without model_type, the architecture decides.
    let mut cfg = config("llama-tiny.config.json");
    cfg.as_object_mut().unwrap().remove("model_type");
    cfg["architectures"] = serde_json::json!(["LlamaModel"]);
    assert_eq!(root_type(&cfg), "LlamaModel");
}
