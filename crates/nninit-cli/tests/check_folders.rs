//! `nninit check` on model folders: `save_pretrained` folders (sharded, with their index),
//! folders of `--shard r/w` files, and checkpoints made elsewhere (no nninit metadata) checked
//! against `--config`, a folder's own config.json, or `--plan`.

use std::collections::HashMap;
use std::path::Path;
use std::process::{Command, Output};

use safetensors::tensor::{Dtype, TensorView};

/// A Llama of 21 tensors (2 layers, hidden size 64).
const CONFIG: &str = r#"{"model_type": "llama", "architectures": ["LlamaForCausalLM"], "hidden_size": 64,
"intermediate_size": 128, "num_attention_heads": 4, "num_key_value_heads": 2, "num_hidden_layers": 2,
"vocab_size": 256, "max_position_embeddings": 128, "initializer_range": 0.02, "rms_norm_eps": 1e-6,
"tie_word_embeddings": false}"#;

fn nninit(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_nninit")).current_dir(dir).args(args).output().unwrap()
}

fn text(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned() + &String::from_utf8_lossy(&o.stderr)
}

/// Rewrites a safetensors file: without its metadata unless `keep_metadata`, and with tensor
/// `scaled` (f32) multiplied by `factor`. Returns whether the file held `scaled`.
fn rewrite(path: &Path, keep_metadata: bool, scaled: &str, factor: f32) -> bool {
    let bytes = std::fs::read(path).unwrap();
    let (_, header) = safetensors::SafeTensors::read_metadata(&bytes).unwrap();
    let metadata: Option<HashMap<String, String>> = if keep_metadata { header.metadata().clone() } else { None };
    let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    let mut found = false;
    let mut owned: Vec<(String, Dtype, Vec<usize>, Vec<u8>)> = Vec::new();
    for (name, view) in st.tensors() {
        let mut data = view.data().to_vec();
        if name == scaled {
            assert_eq!(view.dtype(), Dtype::F32);
            for c in data.chunks_exact_mut(4) {
                let v = f32::from_le_bytes(c.try_into().unwrap()) * factor;
                c.copy_from_slice(&v.to_le_bytes());
            }
            found = true;
        }
        owned.push((name, view.dtype(), view.shape().to_vec(), data));
    }
    let views: Vec<(String, TensorView)> =
        owned.iter().map(|(n, d, s, b)| (n.clone(), TensorView::new(*d, s.clone(), b).unwrap())).collect();
    let out = safetensors::serialize(views, metadata).unwrap();
    std::fs::write(path, out).unwrap();
    found
}

/// Rewrites every `.safetensors` file of `dir` (see [`rewrite`]); panics unless one held `scaled`.
fn rewrite_folder(dir: &Path, keep_metadata: bool, scaled: &str, factor: f32) {
    let mut found = false;
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.extension().is_some_and(|x| x == "safetensors") {
            found |= rewrite(&p, keep_metadata, scaled, factor);
        }
    }
    assert!(found || scaled.is_empty(), "no tensor {scaled} in {}", dir.display());
}

fn sharded_folder(dir: &Path) {
    std::fs::write(dir.join("small.json"), CONFIG).unwrap();
    let out = nninit(dir, &["init", "--config", "small.json", "--save-pretrained", "D", "--max-shard-size", "40KB"]);
    assert!(out.status.success(), "{}", text(&out));
    let shards = std::fs::read_dir(dir.join("D"))
        .unwrap()
        .filter(|e| e.as_ref().unwrap().file_name().to_string_lossy().starts_with("model-"));
    assert!(shards.count() > 5);
}

const Q: &str = "model.layers.1.self_attn.q_proj.weight";

#[test]
fn a_sharded_save_pretrained_folder_passes_and_a_corrupted_shard_fails() {
    let dir = tempfile::tempdir().unwrap();
    sharded_folder(dir.path());
    let out = nninit(dir.path(), &["check", "D"]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("21 tensors: 21 pass, 0 fail, 0 unchecked"), "{}", text(&out));
    // std 0.02 × √3 in one shard, the metadata kept.
    rewrite_folder(&dir.path().join("D"), true, Q, 3f32.sqrt());
    let out = nninit(dir.path(), &["check", "D"]);
    let t = text(&out);
    assert!(!out.status.success(), "{t}");
    assert!(t.contains("21 tensors: 20 pass, 1 fail"), "{t}");
    assert!(t.contains(&format!("{Q} (model-")), "{t}");
    assert!(t.contains("likely cause: std × √3"), "{t}");
}

#[test]
fn a_folder_missing_a_shard_is_one_clear_line() {
    let dir = tempfile::tempdir().unwrap();
    sharded_folder(dir.path());
    std::fs::remove_file(dir.path().join("D/model-00003-of-00012.safetensors")).unwrap();
    let out = nninit(dir.path(), &["check", "D"]);
    assert!(!out.status.success());
    let t = text(&out);
    assert_eq!(t.trim().lines().count(), 1, "{t}");
    assert!(t.contains("model-00003-of-00012.safetensors") && t.contains("no such file"), "{t}");
}

#[test]
fn a_checkpoint_made_elsewhere_is_checked_against_a_config() {
    let dir = tempfile::tempdir().unwrap();
    sharded_folder(dir.path());
    let d = dir.path().join("D");
    rewrite_folder(&d, false, "", 1.0);
    // No metadata and no config: nothing to compare with.
    std::fs::rename(d.join("config.json"), dir.path().join("moved.json")).unwrap();
    let out = nninit(dir.path(), &["check", "D"]);
    assert!(text(&out).contains("21 tensors: 0 pass, 0 fail, 21 unchecked"), "{}", text(&out));
    assert!(text(&out).contains("give --plan or --config"), "{}", text(&out));
    // --config on the folder and on one of its files.
    let out = nninit(dir.path(), &["check", "D", "--config", "small.json"]);
    assert!(out.status.success() && text(&out).contains("21 tensors: 21 pass"), "{}", text(&out));
    let out = nninit(dir.path(), &["check", "D/model-00001-of-00012.safetensors", "--config", "small.json"]);
    assert!(out.status.success() && text(&out).contains("1 tensors: 1 pass"), "{}", text(&out));
    // The folder's own config.json is used when the checkpoint records no inits.
    std::fs::rename(dir.path().join("moved.json"), d.join("config.json")).unwrap();
    let out = nninit(dir.path(), &["check", "D"]);
    assert!(out.status.success() && text(&out).contains("21 tensors: 21 pass"), "{}", text(&out));
    assert!(text(&out).contains("records no inits: checking against D/config.json"), "{}", text(&out));
    // A corrupted tensor fails, named with its cause.
    rewrite_folder(&d, false, Q, 3f32.sqrt());
    for args in [&["check", "D", "--config", "small.json"][..], &["check", "D"][..]] {
        let out = nninit(dir.path(), args);
        let t = text(&out);
        assert!(!out.status.success() && t.contains("20 pass, 1 fail"), "{t}");
        assert!(t.contains(Q) && t.contains("likely cause: std × √3"), "{t}");
    }
}

#[test]
fn plans_that_do_not_fit_the_checkpoint_say_why() {
    let dir = tempfile::tempdir().unwrap();
    sharded_folder(dir.path());
    let d = dir.path().join("D");
    rewrite_folder(&d, false, "", 1.0);
    // A plan on the folder (built from its config.json): a rule naming a tensor the
    // checkpoint lacks is a warning; the rest is checked.
    std::fs::write(dir.path().join("p.toml"), "[[rule]]\nname = \"model.absent.weight\"\ninit = \"zeros_()\"\n")
        .unwrap();
    let out = nninit(dir.path(), &["check", "D", "--plan", "p.toml"]);
    let t = text(&out);
    assert!(out.status.success() && t.contains("21 tensors: 21 pass"), "{t}");
    assert!(t.contains("warning: plan: rule 1 (name = \"model.absent.weight\""), "{t}");
    // A plan on a lone file's own layout (no config): it is what is checked.
    std::fs::copy(d.join("model-00002-of-00012.safetensors"), dir.path().join("one.safetensors")).unwrap();
    std::fs::write(dir.path().join("n.toml"), "[[rule]]\nrole = \"weight\"\ninit = \"normal_(std=0.02)\"\n").unwrap();
    let out = nninit(dir.path(), &["check", "one.safetensors", "--plan", "n.toml"]);
    assert!(out.status.success(), "{}", text(&out));
    // A config of another size: each tensor whose shape differs is unchecked, saying why; the
    // model's tensors the file lacks are listed.
    std::fs::write(dir.path().join("wide.json"), CONFIG.replace("\"hidden_size\": 64", "\"hidden_size\": 32")).unwrap();
    let out = nninit(dir.path(), &["check", "D", "--config", "wide.json"]);
    let t = text(&out);
    assert!(
        t.contains(
            "unchecked: the expected init is for fans (fan_in, fan_out) = (32, 32), the shape [64, 64] has (64, 64)"
        ),
        "{t}"
    );
    assert!(!t.contains("fail, 0 unchecked"), "{t}");
    let out = nninit(dir.path(), &["check", "one.safetensors", "--config", "small.json"]);
    assert!(
        text(&out).contains("warning: 18 tensor(s) of the given model are not in one.safetensors: lm_head.weight"),
        "{}",
        text(&out)
    );
}

#[test]
fn a_folder_of_rank_files_is_checked_shard_by_shard() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("small.json"), CONFIG).unwrap();
    std::fs::create_dir(dir.path().join("R")).unwrap();
    for r in 0..2 {
        let o = format!("R/rank{r}.safetensors");
        let out = nninit(dir.path(), &["init", "--config", "small.json", "--shard", &format!("{r}/2"), "-o", &o]);
        assert!(out.status.success(), "{}", text(&out));
    }
    let out = nninit(dir.path(), &["check", "R", "--json"]);
    assert!(out.status.success(), "{}", text(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let q: Vec<&serde_json::Value> = v.as_array().unwrap().iter().filter(|c| c["name"] == Q).collect();
    assert_eq!(q.len(), 2);
    for c in &q {
        assert_eq!(c["shape"], serde_json::json!([32, 64]));
        assert_eq!(c["full_shape"], serde_json::json!([64, 64]));
        assert_eq!(c["status"], "pass");
    }
    rewrite(&dir.path().join("R/rank1.safetensors"), true, Q, 3f32.sqrt());
    let out = nninit(dir.path(), &["check", "R"]);
    let t = text(&out);
    assert!(!out.status.success() && t.contains(&format!("{Q} (rank1.safetensors)")), "{t}");
    assert!(t.contains("likely cause: std × √3"), "{t}");
}
