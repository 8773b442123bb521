//! Re-initializing a real checkpoint: all-MiniLM-L6-v2 (a 6-layer BERT: 104 tensors and
//! `__metadata__`, 105 header entries) with the
//! `bert` preset. Needs the checkpoint: `tools/e2e/minilm.sh` fetches it and runs this test.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Command;

use safetensors::{Dtype, SafeTensors};

fn f32s(bytes: &[u8]) -> Vec<f32> {
    bytes.chunks(4).map(|c| f32::from_le_bytes(c.try_into().unwrap())).collect()
}

fn std_of(v: &[f32]) -> f64 {
    let n = v.len() as f64;
    let mean = v.iter().map(|&x| x as f64).sum::<f64>() / n;
    (v.iter().map(|&x| (x as f64 - mean).powi(2)).sum::<f64>() / n).sqrt()
}

#[test]
#[ignore = "needs all-MiniLM-L6-v2: run tools/e2e/minilm.sh"]
fn minilm_like_with_bert_preset() {
    let input = PathBuf::from(std::env::var("NNINIT_MINILM").expect("NNINIT_MINILM = path to model.safetensors"));
    let dir = tempfile::tempdir().unwrap();
    let output = dir.path().join("out.safetensors");
    // The model's config.json (next to it in the package) gives the padding row: pad_token_id 0.
    let config = input.with_file_name("config.json");
    let run = Command::new(env!("CARGO_BIN_EXE_nninit"))
        .args(["init", "--like"])
        .arg(&input)
        .arg("--config")
        .arg(&config)
        .args(["--preset", "bert", "-o"])
        .arg(&output)
        .output()
        .unwrap();
    assert!(run.status.success(), "{}", String::from_utf8_lossy(&run.stderr));

    let in_bytes = std::fs::read(&input).unwrap();
    let out_bytes = std::fs::read(&output).unwrap();
    let a = SafeTensors::deserialize(&in_bytes).unwrap();
    let b = SafeTensors::deserialize(&out_bytes).unwrap();
    let layout = |s: &SafeTensors| -> BTreeMap<String, (Dtype, Vec<usize>)> {
        s.tensors().into_iter().map(|(n, t)| (n, (t.dtype(), t.shape().to_vec()))).collect()
    };
    // 104 tensors + `__metadata__` = the header's 105 entries.
    assert_eq!(a.len(), 104);
    assert_eq!(layout(&a), layout(&b), "same names, shapes and dtypes");

    let mut checks = 0;
    assert_eq!(
        a.tensor("embeddings.position_ids").unwrap().data(),
        b.tensor("embeddings.position_ids").unwrap().data()
    );
    checks += 1;
    for (name, t) in b.tensors() {
        if t.dtype() != Dtype::F32 {
            continue;
        }
        let v = f32s(t.data());
        let leaf = name.rsplit('.').next().unwrap();
        if name.contains("LayerNorm") {
            let want = if leaf == "weight" { 1.0 } else { 0.0 };
            assert!(v.iter().all(|&x| x == want), "{name} is not exactly {want}");
        } else if t.shape().len() == 2 && !name.contains("embeddings") {
            let s = std_of(&v);
            assert!((s - 0.02).abs() <= 0.02 * 0.03, "{name}: std {s} not within 3% of 0.02");
        } else if leaf == "bias" {
            assert!(v.iter().all(|&x| x == 0.0), "{name}: bias not zero");
        }
        checks += 1;
    }
    let words = b.tensor("embeddings.word_embeddings.weight").unwrap();
    let w = f32s(words.data());
    assert!(w[..384].iter().all(|&x| x == 0.0), "padding row 0 is not zero");
    assert!(w[384..].iter().all(|&x| x != 0.0));
    checks += 1;
    // Without the config, the padding row would be the checkpoint's only all-zero row; trained
    // BERT tables have none, so no row is zeroed (never a guess of 0).
    let bare = dir.path().join("bare.safetensors");
    let run = Command::new(env!("CARGO_BIN_EXE_nninit"))
        .args(["init", "--like"])
        .arg(&input)
        .args(["--preset", "bert", "-o"])
        .arg(&bare)
        .output()
        .unwrap();
    assert!(run.status.success(), "{}", String::from_utf8_lossy(&run.stderr));
    let bare_bytes = std::fs::read(&bare).unwrap();
    let c = SafeTensors::deserialize(&bare_bytes).unwrap();
    assert!(f32s(c.tensor("embeddings.word_embeddings.weight").unwrap().data()).iter().all(|&x| x != 0.0));
    checks += 1;
    println!("{checks} passed, 0 failed");
}
