//! `nninit init --like` on checkpoints laid out by other libraries (cases P3, P4, P5): buffers are
//! kept byte for byte or reset as a fresh model has them, GPT-2's `Conv1D` is recognised and
//! drawn as transformers draws it, padding rows come from the config or the checkpoint.
//!
//! The checkpoints are written here with the `safetensors` crate; values that must equal
//! transformers' come from `tests/data/like_reference.json` (tools/golden/gen_like.py).

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Output};

use safetensors::Dtype;

type Tensors = BTreeMap<String, (Dtype, Vec<usize>, Vec<u8>)>;

fn nninit(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_nninit")).args(args).current_dir(dir).output().unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Runs `args`, which must succeed, and returns the tensors of `out`.
fn run_ok(dir: &Path, args: &[&str], out: &str) -> Tensors {
    let o = nninit(dir, &[args, &["-o", out, "--force"]].concat());
    assert!(o.status.success(), "{args:?}: {}", stderr(&o));
    read(&dir.join(out))
}

fn f32_bytes(values: &[f32]) -> Vec<u8> {
    values.iter().flat_map(|v| v.to_le_bytes()).collect()
}

fn f32s(bytes: &[u8]) -> Vec<f32> {
    bytes.chunks(4).map(|c| f32::from_le_bytes(c.try_into().unwrap())).collect()
}

/// A float32 tensor whose values are all non-zero and distinct.
fn filled(shape: &[usize], start: f32) -> (Dtype, Vec<usize>, Vec<u8>) {
    let n: usize = shape.iter().product();
    let v: Vec<f32> = (0..n).map(|i| start + 0.25 * (i as f32 + 1.0)).collect();
    (Dtype::F32, shape.to_vec(), f32_bytes(&v))
}

/// Writes `tensors` with the safetensors crate.
fn write(path: &Path, tensors: &Tensors) {
    let views: Vec<(String, safetensors::tensor::TensorView<'_>)> = tensors
        .iter()
        .map(|(n, (d, s, b))| (n.clone(), safetensors::tensor::TensorView::new(*d, s.clone(), b).unwrap()))
        .collect();
    std::fs::write(path, safetensors::serialize(views, None).unwrap()).unwrap();
}

fn read(path: &Path) -> Tensors {
    let bytes = std::fs::read(path).unwrap();
    let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    st.tensors().into_iter().map(|(n, t)| (n, (t.dtype(), t.shape().to_vec(), t.data().to_vec()))).collect()
}

fn reference() -> serde_json::Value {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/like_reference.json");
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// Row `r` of a float32 `[rows, cols]` table.
fn row(t: &(Dtype, Vec<usize>, Vec<u8>), r: usize) -> Vec<f32> {
    let cols = t.1[1];
    f32s(&t.2)[r * cols..(r + 1) * cols].to_vec()
}

/// P4: GPT-2's causal mask `attn.bias [1, 1, 4, 4]` and `attn.masked_bias []` are buffers, copied
/// byte for byte (like an int64 `position_ids`), even under a plan `role = "bias" -> zeros_()`;
/// the `Conv1D` layers (`[in, out]` weights) are recognised without a plan and drawn
/// `normal_(std=0.02)` exactly as transformers' constructor draws them.
#[test]
fn p4_gpt2_buffers_are_kept_and_conv1d_is_recognised() {
    let dir = tempfile::tempdir().unwrap();
    let mut src = Tensors::new();
    let mask: Vec<f32> = (0..16).map(|i| if i % 4 <= i / 4 { 1.0 } else { 0.0 }).collect();
    src.insert("h.0.attn.bias".into(), (Dtype::F32, vec![1, 1, 4, 4], f32_bytes(&mask)));
    src.insert("h.0.attn.masked_bias".into(), (Dtype::F32, vec![], f32_bytes(&[-10000.0])));
    for (path, nx, nf) in
        [("h.0.attn.c_attn", 4, 12), ("h.0.attn.c_proj", 4, 4), ("h.0.mlp.c_fc", 4, 16), ("h.0.mlp.c_proj", 16, 4)]
    {
        src.insert(format!("{path}.weight"), filled(&[nx, nf], 1.0));
        src.insert(format!("{path}.bias"), filled(&[nf], 3.0));
    }
    let ids: Vec<u8> = (0..10i64).flat_map(|i| i.to_le_bytes()).collect();
    src.insert("wpe.position_ids".into(), (Dtype::I64, vec![1, 10], ids));
    write(&dir.path().join("gpt2.safetensors"), &src);
    std::fs::write(dir.path().join("bias.toml"), "[[rule]]\nrole = \"bias\"\ninit = \"zeros_()\"\n").unwrap();

    let golden = &reference()["gpt2_conv1d"];
    for plan in [None, Some("bias.toml")] {
        let mut args = vec!["init", "--like", "gpt2.safetensors"];
        args.extend(plan.iter().flat_map(|p| ["--plan", *p]));
        let out = run_ok(dir.path(), &args, "out.safetensors");
        for name in ["h.0.attn.bias", "h.0.attn.masked_bias", "wpe.position_ids"] {
            assert_eq!(out[name], src[name], "{name} ({plan:?})");
        }
        for (name, want) in golden.as_object().unwrap() {
            let values: Vec<f32> =
                want["values"].as_array().unwrap().iter().map(|v| v.as_f64().unwrap() as f32).collect();
            let shape: Vec<usize> =
                want["shape"].as_array().unwrap().iter().map(|v| v.as_u64().unwrap() as usize).collect();
            assert_eq!(out[name], (Dtype::F32, shape, f32_bytes(&values)), "{name} ({plan:?})");
        }
    }
    // The report names the layer type and its init.
    let o = nninit(dir.path(), &["plan", "--like", "gpt2.safetensors", "--json"]);
    let rows: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let c_attn = rows.as_array().unwrap().iter().find(|r| r["name"] == "h.0.attn.c_attn.weight").unwrap();
    assert_eq!((&c_attn["layer"], &c_attn["init"]), (&"Conv1D".into(), &"default: normal_(mean=0.0, std=0.02)".into()));
    assert!(rows.as_array().unwrap().iter().all(|r| r["name"] != "h.0.attn.bias"), "a buffer is not a parameter");
}

/// P4: a tensor with 0 or ≥ 2 dimensions named `*bias` never takes the 1-d `bias` role: a plan
/// rule `role = "bias"` does not select it (it is reported as needing its own rule).
#[test]
fn p4_only_1d_tensors_take_the_bias_role() {
    let dir = tempfile::tempdir().unwrap();
    let mut src = Tensors::new();
    src.insert("blk.rel_bias".into(), filled(&[2, 3], 1.0));
    src.insert("blk.scale_bias".into(), filled(&[], 1.0));
    src.insert("blk.shift_bias".into(), filled(&[3], 1.0));
    write(&dir.path().join("b.safetensors"), &src);
    std::fs::write(dir.path().join("bias.toml"), "[[rule]]\nrole = \"bias\"\ninit = \"zeros_()\"\n").unwrap();
    let o = nninit(dir.path(), &["init", "--like", "b.safetensors", "--plan", "bias.toml", "-o", "o.safetensors"]);
    let err = stderr(&o);
    assert!(!o.status.success());
    assert!(err.contains("2 tensor(s) of unrecognised layers") && err.contains("blk.rel_bias [2, 3]"), "{err}");
    assert!(err.contains("blk.scale_bias []") && !err.contains("shift_bias"), "{err}");
    assert!(!dir.path().join("o.safetensors").exists());
}

/// P5: a rotary `inv_freq` table is kept byte for byte (in its own dtype, whatever `--dtype`
/// says), a plan rule matching every name cannot overwrite it, and the error that asks for
/// rules offers `keep_()`, which keeps any tensor's values.
#[test]
fn p5_rotary_frequencies_are_kept() {
    let dir = tempfile::tempdir().unwrap();
    let mut src = Tensors::new();
    let freq = (Dtype::F32, vec![4], f32_bytes(&[1.0, 0.1, 0.01, 0.001]));
    src.insert("model.layers.0.self_attn.rotary_emb.inv_freq".into(), freq.clone());
    src.insert("model.layers.0.self_attn.q_proj.weight".into(), filled(&[4, 4], 1.0));
    src.insert("model.norm.weight".into(), filled(&[4], 1.0));
    write(&dir.path().join("llama.safetensors"), &src);
    let freq_name = "model.layers.0.self_attn.rotary_emb.inv_freq";

    let out = run_ok(dir.path(), &["init", "--like", "llama.safetensors"], "a.safetensors");
    assert_eq!(out[freq_name], freq);
    let out = run_ok(dir.path(), &["init", "--like", "llama.safetensors", "--dtype", "bf16"], "b.safetensors");
    assert_eq!(out[freq_name], freq);
    assert_eq!(out["model.layers.0.self_attn.q_proj.weight"].0, Dtype::BF16);
    std::fs::write(dir.path().join("all.toml"), "[[rule]]\nname = \"*\"\ninit = \"zeros_()\"\n").unwrap();
    let out = run_ok(dir.path(), &["init", "--like", "llama.safetensors", "--plan", "all.toml"], "c.safetensors");
    assert_eq!(out[freq_name], freq);
    assert!(f32s(&out["model.norm.weight"].2).iter().all(|&x| x == 0.0));

    // An unknown table: the error offers keep_(), which keeps it.
    src.insert("model.mystery.table".into(), filled(&[3], 7.0));
    write(&dir.path().join("mystery.safetensors"), &src);
    let o = nninit(dir.path(), &["init", "--like", "mystery.safetensors", "-o", "m.safetensors"]);
    assert!(
        stderr(&o).contains("model.mystery.table [3]") && stderr(&o).contains("init = \"keep_()\""),
        "{}",
        stderr(&o)
    );
    std::fs::write(dir.path().join("keep.toml"), "[[rule]]\nname = \"*.table\"\ninit = \"keep_()\"\n").unwrap();
    let out = run_ok(dir.path(), &["init", "--like", "mystery.safetensors", "--plan", "keep.toml"], "m.safetensors");
    assert_eq!(out["model.mystery.table"], src["model.mystery.table"]);
    assert_eq!(out[freq_name], freq);
}

/// P3: padding rows come from the config's `pad_token_id` when `--config` is given, else from
/// the checkpoint (a table's only all-zero row), never from a fixed guess. RoBERTa (pad id 1 on
/// the word and position tables, as transformers builds it) and BERT (pad id 0 on the word table
/// only).
#[test]
fn p3_padding_rows_come_from_the_config_or_the_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let (word, pos) = ("embeddings.word_embeddings.weight", "embeddings.position_embeddings.weight");
    let table = |rows: usize, zero: Option<usize>| {
        let mut t = filled(&[rows, 4], 1.0);
        if let Some(z) = zero {
            t.2[z * 16..(z + 1) * 16].fill(0);
        }
        t
    };
    let padding = &reference()["padding_idx"];
    assert_eq!(padding["roberta"], serde_json::json!({"word_embeddings": 1, "position_embeddings": 1}));
    assert_eq!(padding["bert"], serde_json::json!({"word_embeddings": 0, "position_embeddings": null}));
    std::fs::write(dir.path().join("roberta.json"), r#"{"model_type": "roberta", "pad_token_id": 1}"#).unwrap();
    std::fs::write(dir.path().join("bert.json"), r#"{"model_type": "bert", "pad_token_id": 0}"#).unwrap();

    // RoBERTa: row 1 of both tables is all zeros in the checkpoint.
    let roberta = Tensors::from([(word.to_string(), table(8, Some(1))), (pos.to_string(), table(10, Some(1)))]);
    write(&dir.path().join("roberta.safetensors"), &roberta);
    for config in [None, Some("roberta.json")] {
        for preset in ["bert", "torch"] {
            let mut args = vec!["init", "--like", "roberta.safetensors", "--preset", preset];
            args.extend(config.iter().flat_map(|c| ["--config", *c]));
            let out = run_ok(dir.path(), &args, "r.safetensors");
            for name in [word, pos] {
                assert!(row(&out[name], 1).iter().all(|&x| x == 0.0), "{name} {config:?} {preset}");
                let r0 = row(&out[name], 0);
                assert!(r0.iter().all(|&x| x != 0.0) && r0 != row(&roberta[name], 0), "{name} {config:?} {preset}");
            }
        }
    }

    // BERT: no all-zero row (a trained table). The config says the word table pads at 0; the
    // position table has no padding row; without a config nothing is guessed.
    let bert = Tensors::from([(word.to_string(), table(8, None)), (pos.to_string(), table(10, None))]);
    write(&dir.path().join("bert.safetensors"), &bert);
    let out = run_ok(dir.path(), &["init", "--like", "bert.safetensors", "--config", "bert.json"], "b.safetensors");
    assert!(row(&out[word], 0).iter().all(|&x| x == 0.0));
    assert!((0..10).all(|r| row(&out[pos], r).iter().all(|&x| x != 0.0)));
    let out = run_ok(dir.path(), &["init", "--like", "bert.safetensors", "--preset", "bert"], "b.safetensors");
    for (name, rows) in [(word, 8), (pos, 10)] {
        assert!((0..rows).all(|r| row(&out[name], r).iter().all(|&x| x != 0.0)), "{name}: no fixed guess of 0");
    }
    // Two all-zero rows (a table never trained): no guess either.
    let mut blank = bert.clone();
    blank.insert(word.into(), table(8, Some(2)));
    blank.get_mut(word).unwrap().2[5 * 16..6 * 16].fill(0);
    write(&dir.path().join("blank.safetensors"), &blank);
    let out = run_ok(dir.path(), &["init", "--like", "blank.safetensors"], "b.safetensors");
    assert!((0..8).all(|r| row(&out[word], r).iter().all(|&x| x != 0.0)));
}

/// Buffers reset exactly as a fresh model has them: BatchNorm `running_mean` 0, `running_var`
/// 1, `num_batches_tracked` 0 (int64), with and without affine parameters.
#[test]
fn batchnorm_statistics_are_reset_as_fresh() {
    let dir = tempfile::tempdir().unwrap();
    let mut src = Tensors::new();
    for bn in ["bn", "bn_plain"] {
        if bn == "bn" {
            src.insert(format!("{bn}.weight"), filled(&[3], 2.0));
            src.insert(format!("{bn}.bias"), filled(&[3], 2.0));
        }
        src.insert(format!("{bn}.running_mean"), filled(&[3], 5.0));
        src.insert(format!("{bn}.running_var"), filled(&[3], 9.0));
        src.insert(format!("{bn}.num_batches_tracked"), (Dtype::I64, vec![], 123i64.to_le_bytes().to_vec()));
    }
    src.insert("fc.weight".into(), filled(&[2, 3], 1.0));
    write(&dir.path().join("bn.safetensors"), &src);
    let out = run_ok(dir.path(), &["init", "--like", "bn.safetensors"], "o.safetensors");
    for bn in ["bn", "bn_plain"] {
        assert_eq!(out[&format!("{bn}.running_mean")], (Dtype::F32, vec![3], f32_bytes(&[0.0; 3])), "{bn}");
        assert_eq!(out[&format!("{bn}.running_var")], (Dtype::F32, vec![3], f32_bytes(&[1.0; 3])), "{bn}");
        assert_eq!(out[&format!("{bn}.num_batches_tracked")], (Dtype::I64, vec![], vec![0; 8]), "{bn}");
    }
    assert_eq!(out["bn.weight"].2, f32_bytes(&[1.0; 3]));
    assert_eq!(out["bn.bias"].2, f32_bytes(&[0.0; 3]));
    assert!(!out.contains_key("bn_plain.weight"));
}
