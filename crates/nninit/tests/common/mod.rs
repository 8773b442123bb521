//! Shared helpers for the golden-data tests (files written by `tools/golden/gen_golden.py`).
#![allow(dead_code)]

use nninit::tensor::{Data, Tensor};
use sha2::{Digest, Sha256};

pub fn golden(name: &str) -> serde_json::Value {
    let path = format!("{}/tests/golden/{name}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_json::from_str(&text).unwrap()
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

/// Raw bits of each element as lowercase hex, zero-padded to the element width.
pub fn hex_bits(t: &Tensor) -> Vec<String> {
    match t.data() {
        Data::F16(v) => v.iter().map(|x| format!("{:04x}", x.to_bits())).collect(),
        Data::BF16(v) => v.iter().map(|x| format!("{:04x}", x.to_bits())).collect(),
        Data::F32(v) => v.iter().map(|x| format!("{:08x}", x.to_bits())).collect(),
        Data::F64(v) => v.iter().map(|x| format!("{:016x}", x.to_bits())).collect(),
        Data::Other { bytes, .. } => {
            bytes.chunks(8).map(|c| format!("{:016x}", u64::from_le_bytes(c.try_into().unwrap()))).collect()
        }
        Data::Meta(_) => Vec::new(),
    }
}

pub fn strings(v: &serde_json::Value) -> Vec<String> {
    v.as_array().map(|a| a.iter().map(|x| x.as_str().unwrap().to_string()).collect()).unwrap_or_default()
}

pub fn shape(v: &serde_json::Value) -> Vec<usize> {
    v.as_array().unwrap().iter().map(|x| x.as_u64().unwrap() as usize).collect()
}

/// Decodes a hex bit pattern of the given dtype to f64.
pub fn bits_to_f64(hex: &str, dtype: &str) -> f64 {
    let u = u64::from_str_radix(hex, 16).unwrap();
    match dtype {
        "f32" => f32::from_bits(u as u32) as f64,
        "f64" => f64::from_bits(u),
        "f16" => half::f16::from_bits(u as u16).to_f64(),
        "bf16" => half::bf16::from_bits(u as u16).to_f64(),
        _ => panic!("{dtype}"),
    }
}

/// Compares a model's `state_dict` with a recorded one (`tensors` of a models.json case): names
/// in order, shapes, sha256 of the bytes, and, for records with `tied_to`, that both names share
/// one tensor in the model. Returns the differences, each prefixed with `id`.
pub fn state_dict_differences(model: &nninit::nn::Model, want: &serde_json::Value, id: &str) -> Vec<String> {
    let got = model.state_dict();
    let want = want.as_array().unwrap();
    let names: Vec<&str> = got.iter().map(|(n, _)| n.as_str()).collect();
    let want_names: Vec<&str> = want.iter().map(|t| t["name"].as_str().unwrap()).collect();
    if names != want_names {
        return vec![format!("{id}: state_dict keys {names:?} vs torch {want_names:?}")];
    }
    let by_name: std::collections::HashMap<&str, nninit::nn::TensorId> =
        got.iter().map(|(n, t)| (n.as_str(), *t)).collect();
    let mut failures = Vec::new();
    for ((name, tid), w) in got.iter().zip(want) {
        let t = model.tensor(*tid);
        if t.shape() != shape(&w["shape"]).as_slice() {
            failures.push(format!("{id} {name}: shape {:?} vs torch {:?}", t.shape(), w["shape"]));
        } else if sha256_hex(t.bytes()) != w["sha256"].as_str().unwrap() {
            let head = hex_bits(t);
            let want_head = strings(&w["head"]);
            let n = head.len().min(want_head.len()).min(4);
            failures.push(format!("{id} {name}: bytes differ: {:?} vs torch {:?}", &head[..n], &want_head[..n]));
        }
        if let Some(source) = w["tied_to"].as_str() {
            if by_name.get(source) != Some(tid) {
                failures.push(format!("{id} {name}: should share its tensor with {source}"));
            }
        }
    }
    failures
}

/// Builds the model's recipe with `build`, writes it through the streaming writer with the
/// PyTorch stream from `seed`, and compares the file with a recorded `state_dict` (tied names,
/// written once, are skipped). The same check as [`state_dict_differences`] for what
/// `nninit init` writes without holding the model in memory.
pub fn streamed_differences(
    build: impl FnOnce() -> nninit::Result<nninit::nn::Model>,
    seed: u64,
    want: &serde_json::Value,
    id: &str,
) -> Vec<String> {
    let model = match build() {
        Ok(m) => m,
        Err(e) => return vec![format!("{id} (streamed): {e}")],
    };
    let outcome = nninit::job::Outcome {
        model,
        preset: "torch".into(),
        dtypes: Default::default(),
        shard: None,
        tp: None,
        carried: Default::default(),
        rng: nninit::rng::Stream::Torch,
        seed,
        plan: Default::default(),
        report: Default::default(),
        warnings: Vec::new(),
        copies: None,
    };
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m.safetensors");
    if let Err(e) = outcome.save(&path, nninit::io::Overwrite::Refuse, Default::default()) {
        return vec![format!("{id} (streamed): {e}")];
    }
    let (tensors, _) = nninit::io::load_bytes(&std::fs::read(&path).unwrap()).unwrap();
    let got: std::collections::HashMap<String, Tensor> = tensors.into_iter().collect();
    let mut failures = Vec::new();
    for w in want.as_array().unwrap() {
        let name = w["name"].as_str().unwrap();
        let Some(t) = got.get(name) else {
            if w["tied_to"].is_null() {
                failures.push(format!("{id} (streamed) {name}: missing"));
            }
            continue;
        };
        if t.shape() != shape(&w["shape"]).as_slice() || sha256_hex(t.bytes()) != w["sha256"].as_str().unwrap() {
            failures.push(format!("{id} (streamed) {name}: streamed bytes differ from torch"));
        }
    }
    failures
}
