//! Default construction of single `torch.nn` layers, recorded from PyTorch 2.15.0: the same
//! `state_dict` names, shapes and bytes, and the same generator state afterwards.

mod common;

use common::*;
use nninit::nn::{Layer, Model};
use nninit::tensor::DType;
use nninit::Generator;

fn build(ctor: &str, dtype: DType) -> nninit::Result<Model> {
    let (layer, _) = Layer::parse(ctor)?;
    let mut m = Model::new(dtype);
    m.add(layer)?;
    Ok(m)
}

#[test]
fn single_layers_match_pytorch() {
    let g = golden("modules.json");
    let mut failures = Vec::new();
    let mut checked = 0;
    for case in g["cases"].as_array().unwrap() {
        let ctor = case["ctor"].as_str().unwrap();
        if !ctor.starts_with("nn.") || ctor.starts_with("nn.Transformer") || ctor.starts_with("nn.EmbeddingBag") {
            continue;
        }
        let id = case["id"].as_str().unwrap();
        let dtype: DType = case["dtype"].as_str().unwrap().parse().unwrap();
        let mut gen = Generator::manual_seed(case["seed"].as_u64().unwrap());
        let model = match build(ctor, dtype).and_then(|mut m| m.materialize_with(&mut gen).map(|_| m)) {
            Ok(m) => m,
            Err(e) => {
                failures.push(format!("{id}: {e}"));
                continue;
            }
        };
        checked += 1;
        failures.extend(state_dict_differences(&model, &case["tensors"], id));
        let seed = case["seed"].as_u64().unwrap();
        failures.extend(streamed_differences(|| build(ctor, dtype), seed, &case["tensors"], id));
        if sha256_hex(&gen.get_rng_state()) != case["rng_state_sha256"].as_str().unwrap() {
            failures.push(format!("{id}: generator state differs"));
        }
    }
    assert!(checked >= 90, "only {checked} cases");
    assert!(failures.is_empty(), "{} failures:\n{}", failures.len(), failures.join("\n"));
}
