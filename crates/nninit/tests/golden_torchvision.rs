//! Whole torchvision models (`models.json`) and PyTorch's transformer modules (`modules.json`),
//! recorded from torch 2.15.0 / torchvision 0.29: the same `state_dict` names, shapes and bytes,
//! the same generator state afterwards, and the same `named_modules()` tree (paths and class
//! names, parameterless modules included).

mod common;

use common::*;
use nninit::arch::{self, transformer as tf};
use nninit::nn::{Layer, Model};
use nninit::tensor::DType;
use nninit::Generator;
use sha2::{Digest, Sha256};

/// `(len, sha256)` of `"\n".join(f"{path} {type(m).__name__}" for path, m in named_modules())`
/// (PyTorch's `NonDynamicallyQuantizableLinear` written `Linear`).
fn module_tree(model: &Model) -> (usize, String) {
    let lines: Vec<String> = model
        .named_modules()
        .iter()
        .map(|(path, id)| format!("{path} {}", model.module(*id).layer.type_name()))
        .collect();
    (lines.len(), sha256_hex(lines.join("\n").as_bytes()))
}

/// sha256 over every `state_dict` entry as `name, 0x00, raw little-endian bytes`.
fn state_dict_digest(model: &Model) -> String {
    let mut h = Sha256::new();
    for (name, t) in model.state_dict() {
        h.update(name.as_bytes());
        h.update([0u8]);
        h.update(model.tensor(t).bytes());
    }
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

fn rng_matches(g: &Generator, case: &serde_json::Value) -> bool {
    match case["rng_state_sha256"].as_str() {
        Some(want) => sha256_hex(&g.get_rng_state()) == want,
        None => true,
    }
}

/// `named_modules()` trees recorded from torchvision 0.29 (see [`module_tree`]).
const TORCHVISION_TREES: [(&str, usize, &str); 4] = [
    ("resnet18", 68, "e09155bb9f432d8315cd9326d76800003bd500233818014ede44daa2511e4b95"),
    ("resnet50", 151, "3a3b134ee2b2290273f989ac84be4927edd80a1600eb9d3c7a631e46c33fc988"),
    ("vgg11_bn", 40, "4c3ee2e210154495623e1cfb2d8a25ea07fe7dd961f584584a7fd71508d5baf2"),
    ("mobilenet_v2", 213, "e638f049d427cd8d14a1a3cccd30710445fa044c54a12fe076efee3c149e0c0e"),
];

fn torchvision_name(case: &serde_json::Value) -> Option<&str> {
    case["ctor"].as_str()?.strip_prefix("torchvision.models.")?.strip_suffix("()")
}

/// Builds every recorded case of torchvision model `name` once and compares it.
fn check_torchvision(name: &str) {
    let golden = golden("models.json");
    let (_, tree_len, tree_sha) = TORCHVISION_TREES.iter().find(|t| t.0 == name).unwrap();
    let mut failures = Vec::new();
    let mut checked = 0;
    for case in golden["cases"].as_array().unwrap().iter().filter(|c| torchvision_name(c) == Some(name)) {
        let id = case["id"].as_str().unwrap();
        let mut g = Generator::manual_seed(case["seed"].as_u64().unwrap());
        let mut model = arch::build(name, &[], DType::F32).unwrap_or_else(|e| panic!("{id}: {e}"));
        model.materialize_with(&mut g).unwrap_or_else(|e| panic!("{id}: {e}"));
        checked += 1;
        failures.extend(state_dict_differences(&model, &case["tensors"], id));
        if !rng_matches(&g, case) {
            failures.push(format!("{id}: generator state differs"));
        }
        let tree = module_tree(&model);
        if tree != (*tree_len, tree_sha.to_string()) {
            failures.push(format!("{id}: named_modules() tree {tree:?} vs torchvision ({tree_len}, {tree_sha})"));
        }
    }
    assert!(checked > 0, "no recorded case for {name}");
    assert!(failures.is_empty(), "{} failures:\n{}", failures.len(), failures.join("\n"));
}

#[test]
fn every_recorded_torchvision_model_is_covered() {
    let golden = golden("models.json");
    let names: Vec<&str> = golden["cases"].as_array().unwrap().iter().filter_map(torchvision_name).collect();
    assert!(names.len() >= 5, "{names:?}");
    for name in names {
        assert!(TORCHVISION_TREES.iter().any(|t| t.0 == name), "untested torchvision model {name}");
        assert!(arch::ARCHS.contains(&name), "{name} not in arch::ARCHS");
    }
}

#[test]
fn resnet18_matches_torchvision() {
    check_torchvision("resnet18");
}

#[test]
fn resnet50_matches_torchvision() {
    check_torchvision("resnet50");
}

#[test]
fn vgg11_bn_matches_torchvision() {
    check_torchvision("vgg11_bn");
}

#[test]
fn mobilenet_v2_matches_torchvision() {
    check_torchvision("mobilenet_v2");
}

/// Builds every case of `models_torchvision.json` for model `name` (a fixed-size torchvision
/// model recorded as per-tensor digests, `named_modules()` tree and generator state), in memory
/// and through the streaming writer, and compares it with torchvision 0.29.
fn check_more_torchvision(name: &str) {
    let golden = golden("models_torchvision.json");
    let mut failures = Vec::new();
    let mut checked = 0;
    for case in golden["cases"].as_array().unwrap().iter().filter(|c| torchvision_name(c) == Some(name)) {
        let id = case["id"].as_str().unwrap();
        let seed = case["seed"].as_u64().unwrap();
        let mut g = Generator::manual_seed(seed);
        let mut model = arch::build(name, &[], DType::F32).unwrap_or_else(|e| panic!("{id}: {e}"));
        let tree = module_tree(&model);
        let want_tree = (case["tree"][0].as_u64().unwrap() as usize, case["tree"][1].as_str().unwrap().to_string());
        if tree != want_tree {
            failures.push(format!("{id}: named_modules() tree {tree:?} vs torchvision {want_tree:?}"));
        }
        model.materialize_with(&mut g).unwrap_or_else(|e| panic!("{id}: {e}"));
        checked += 1;
        failures.extend(state_dict_differences(&model, &case["tensors"], id));
        if !rng_matches(&g, case) {
            failures.push(format!("{id}: generator state differs"));
        }
        drop(model);
        if checked == 1 {
            failures.extend(streamed_differences(|| arch::build(name, &[], DType::F32), seed, &case["tensors"], id));
        }
    }
    assert!(checked > 0, "no recorded case for {name}");
    assert!(failures.is_empty(), "{} failures:\n{}", failures.len(), failures.join("\n"));
}

#[test]
fn every_model_of_models_torchvision_is_covered() {
    let golden = golden("models_torchvision.json");
    let names: std::collections::BTreeSet<&str> =
        golden["cases"].as_array().unwrap().iter().filter_map(torchvision_name).collect();
    let tested = ["vit_b_16", "convnext_tiny", "efficientnet_b0", "mobilenet_v3_large", "densenet121"];
    assert_eq!(names, tested.into_iter().collect());
    for name in names {
        assert!(arch::ARCHS.contains(&name), "{name} not in arch::ARCHS");
    }
}

#[test]
fn vit_b_16_matches_torchvision() {
    check_more_torchvision("vit_b_16");
}

#[test]
fn convnext_tiny_matches_torchvision() {
    check_more_torchvision("convnext_tiny");
}

#[test]
fn efficientnet_b0_matches_torchvision() {
    check_more_torchvision("efficientnet_b0");
}

#[test]
fn mobilenet_v3_large_matches_torchvision() {
    check_more_torchvision("mobilenet_v3_large");
}

#[test]
fn densenet121_matches_torchvision() {
    check_more_torchvision("densenet121");
}

// ---------------------------------------------------------------------------------------------
// Transformer modules
// ---------------------------------------------------------------------------------------------

/// A recorded `nn.Transformer*` constructor call, with PyTorch's defaults for missing arguments.
struct TransformerCtor {
    class: String,
    d_model: usize,
    nhead: usize,
    num_encoder_layers: usize,
    num_decoder_layers: usize,
    dim_feedforward: usize,
    norm_first: bool,
}

/// Parses `nn.TransformerEncoderLayer(16,4,dim_feedforward=32,norm_first=True)` and the like.
/// Arguments that only change the forward pass (`batch_first`, `dropout`, ...) are accepted and
/// ignored; anything else panics, so a new recorded case cannot pass unnoticed.
fn parse_transformer_ctor(ctor: &str) -> TransformerCtor {
    let (class, args) = ctor.strip_prefix("nn.").unwrap().strip_suffix(')').unwrap().split_once('(').unwrap();
    let positional: &[&str] = match class {
        "Transformer" => &["d_model", "nhead", "num_encoder_layers", "num_decoder_layers", "dim_feedforward"],
        "TransformerEncoderLayer" | "TransformerDecoderLayer" => &["d_model", "nhead", "dim_feedforward"],
        other => panic!("unexpected transformer module {other}"),
    };
    let mut c = TransformerCtor {
        class: class.to_string(),
        d_model: 512,
        nhead: 8,
        num_encoder_layers: 6,
        num_decoder_layers: 6,
        dim_feedforward: 2048,
        norm_first: false,
    };
    for (i, arg) in args.split(',').map(str::trim).filter(|a| !a.is_empty()).enumerate() {
        let (key, value) = arg.split_once('=').unwrap_or_else(|| (positional[i], arg));
        let int = || value.parse::<usize>().unwrap_or_else(|_| panic!("{ctor}: {key}={value}"));
        match key {
            "d_model" => c.d_model = int(),
            "nhead" => c.nhead = int(),
            "num_encoder_layers" => c.num_encoder_layers = int(),
            "num_decoder_layers" => c.num_decoder_layers = int(),
            "dim_feedforward" => c.dim_feedforward = int(),
            "norm_first" => c.norm_first = value == "True",
            "batch_first" | "dropout" | "layer_norm_eps" | "activation" => {}
            other => panic!("{ctor}: argument {other} not supported by this test"),
        }
    }
    c
}

fn build_transformer(c: &TransformerCtor, dtype: DType) -> nninit::Result<Model> {
    let mut m = Model::new(dtype);
    let root = match c.class.as_str() {
        "TransformerEncoderLayer" => {
            tf::transformer_encoder_layer(&mut m, c.d_model, c.nhead, c.dim_feedforward, c.norm_first)?
        }
        "TransformerDecoderLayer" => {
            tf::transformer_decoder_layer(&mut m, c.d_model, c.nhead, c.dim_feedforward, c.norm_first)?
        }
        _ => {
            tf::transformer(&mut m, c.d_model, c.nhead, c.num_encoder_layers, c.num_decoder_layers, c.dim_feedforward)?
        }
    };
    m.set_root(root)?;
    Ok(m)
}

/// `named_modules()` trees recorded from torch 2.15.0 (see [`module_tree`]), by constructor.
const TRANSFORMER_TREES: [(&str, usize, &str); 4] = [
    (
        "nn.TransformerEncoderLayer(16,4,dim_feedforward=32)",
        10,
        "edc967ecef8361d2f6274f1b64b9830d4555519f154cd31b9b1ec94a0e65c894",
    ),
    (
        "nn.TransformerEncoderLayer(16,4,dim_feedforward=32,norm_first=True,batch_first=True)",
        10,
        "edc967ecef8361d2f6274f1b64b9830d4555519f154cd31b9b1ec94a0e65c894",
    ),
    (
        "nn.TransformerDecoderLayer(16,4,dim_feedforward=32)",
        14,
        "76eb98a688c2e1acf60876530445effb7572852ecf6022d7b23f3fba2f57d0b8",
    ),
    (
        "nn.Transformer(d_model=16,nhead=2,num_encoder_layers=1,num_decoder_layers=1,dim_feedforward=32)",
        31,
        "6622d032b38b287399bbeec89a95b4f1d609c60c86af6b26b8f709948a10f83e",
    ),
];

#[test]
fn transformer_modules_match_pytorch() {
    let golden = golden("modules.json");
    let mut failures = Vec::new();
    let mut checked = 0;
    for case in golden["cases"].as_array().unwrap() {
        let ctor = case["ctor"].as_str().unwrap();
        if !ctor.starts_with("nn.Transformer") {
            continue;
        }
        let id = case["id"].as_str().unwrap();
        let dtype: DType = case["dtype"].as_str().unwrap().parse().unwrap();
        let mut g = Generator::manual_seed(case["seed"].as_u64().unwrap());
        let mut model = build_transformer(&parse_transformer_ctor(ctor), dtype).unwrap_or_else(|e| panic!("{id}: {e}"));
        model.materialize_with(&mut g).unwrap_or_else(|e| panic!("{id}: {e}"));
        checked += 1;
        failures.extend(state_dict_differences(&model, &case["tensors"], id));
        if !rng_matches(&g, case) {
            failures.push(format!("{id}: generator state differs"));
        }
        if let Some((_, len, sha)) = TRANSFORMER_TREES.iter().find(|t| t.0 == ctor) {
            let got = module_tree(&model);
            if got != (*len, sha.to_string()) {
                failures.push(format!("{id}: named_modules() tree {got:?} vs torch ({len}, {sha})"));
            }
        }
    }
    assert!(checked >= 8, "only {checked} cases");
    assert!(failures.is_empty(), "{} failures:\n{}", failures.len(), failures.join("\n"));
}

/// Builds `root(model)` in a fresh model of `dtype` and makes it the root.
fn rooted(
    dtype: DType,
    root: impl FnOnce(&mut Model) -> nninit::Result<nninit::nn::ModuleId>,
) -> nninit::Result<Model> {
    let mut m = Model::new(dtype);
    let id = root(&mut m)?;
    m.set_root(id)?;
    Ok(m)
}

/// `nn.Transformer(d_model=16,nhead=2,num_encoder_layers=2,num_decoder_layers=3,dim_feedforward=32)`.
fn transformer_2_3() -> nninit::Result<Model> {
    rooted(DType::F32, |m| tf::transformer(m, 16, 2, 2, 3, 32))
}

/// `nn.Transformer(d_model=8,nhead=4,num_encoder_layers=3,num_decoder_layers=2,dim_feedforward=24,
/// dtype=torch.float64)`.
fn transformer_3_2_f64() -> nninit::Result<Model> {
    rooted(DType::F64, |m| tf::transformer(m, 8, 4, 3, 2, 24))
}

/// `nn.TransformerEncoder(nn.TransformerEncoderLayer(16,4,dim_feedforward=32),3,nn.LayerNorm(16))`.
fn encoder_3_with_norm() -> nninit::Result<Model> {
    rooted(DType::F32, |m| {
        let layer = tf::transformer_encoder_layer(m, 16, 4, 32, false)?;
        let norm = m.add(Layer::layer_norm(&[16]))?;
        tf::transformer_encoder(m, layer, 3, Some(norm))
    })
}

/// `nn.TransformerDecoder(nn.TransformerDecoderLayer(16,4,dim_feedforward=32),2)`.
fn decoder_2() -> nninit::Result<Model> {
    rooted(DType::F32, |m| {
        let layer = tf::transformer_decoder_layer(m, 16, 4, 32, false)?;
        tf::transformer_decoder(m, layer, 2, None)
    })
}

/// Recorded with torch 2.15.0 (`ATEN_CPU_CAPABILITY=avx2`): `torch.manual_seed(seed); m = ctor`,
/// then [`module_tree`], [`state_dict_digest`] and the sha256 of `torch.get_rng_state()`. These
/// have several layers, so they check that `_get_clones` copies without drawing and that
/// `_reset_parameters` runs over the copies in `parameters()` order.
/// A multi-layer transformer case recorded from torch (see [`stacked_transformers_match_pytorch`]).
struct StackedCase {
    build: fn() -> nninit::Result<Model>,
    seed: u64,
    /// `named_modules()` tree (see [`module_tree`]), where recorded.
    tree: Option<(usize, &'static str)>,
    /// [`state_dict_digest`].
    state: &'static str,
    /// sha256 of the generator state afterwards.
    rng: &'static str,
}

/// Recorded with torch 2.15.0 (`ATEN_CPU_CAPABILITY=avx2`): `torch.manual_seed(seed); m = ctor`
/// (the constructor in each builder's doc comment), then [`module_tree`], [`state_dict_digest`]
/// and the sha256 of `torch.get_rng_state()`. These have several layers, so they check that
/// `_get_clones` copies without drawing and that `_reset_parameters` runs over the copies in
/// `parameters()` order.
#[test]
fn stacked_transformers_match_pytorch() {
    let cases = [
        StackedCase {
            build: transformer_2_3,
            seed: 5,
            tree: Some((69, "dbe837a6a120d1cf8fa1daf539653a455fb847c38f3818f2f62c9a224dad880a")),
            state: "1547fd3e145b4633a49eb0c555c06aec68c13f368a34503737f1a2c935bcf078",
            rng: "f23aa6e8981246189a57d8001905c0ede329961067679628c77ec1438dfbae33",
        },
        StackedCase {
            build: transformer_3_2_f64,
            seed: 9,
            tree: None,
            state: "2d768804e50226f45df85d8d91f0a9e353e50245378d20b4e7de05b1f47d73af",
            rng: "01fa3e84b462124f03301285dddae430a136c10b551a6e8a94ca26f66e3854fd",
        },
        StackedCase {
            build: encoder_3_with_norm,
            seed: 1,
            tree: None,
            state: "cee015588dd541cffcd16d85d359b8d3b4c1e2353a0e1ac95cf3e374996f5ad6",
            rng: "1915ae61752d14df0b1eafb5ed81f7385a12ac5dc3a5a07cbc2269288e9e46ad",
        },
        StackedCase {
            build: decoder_2,
            seed: 2,
            tree: None,
            state: "00431a0237a1037ee636587e9723aa9f3307f44796536ee829d45669d682269b",
            rng: "abc1a5cbe42782a5936e4dc06d79444308dc3049358f3483a472ce6bed7a3dfa",
        },
    ];
    let mut failures = Vec::new();
    for (i, case) in cases.iter().enumerate() {
        let mut g = Generator::manual_seed(case.seed);
        let mut model = (case.build)().unwrap_or_else(|e| panic!("case {i}: {e}"));
        model.materialize_with(&mut g).unwrap_or_else(|e| panic!("case {i}: {e}"));
        if let Some((len, sha)) = case.tree {
            let got = module_tree(&model);
            if got != (len, sha.to_string()) {
                failures.push(format!("case {i}: named_modules() tree {got:?} vs torch ({len}, {sha})"));
            }
        }
        if state_dict_digest(&model) != case.state {
            failures.push(format!("case {i} (seed {}): state_dict differs", case.seed));
        }
        if sha256_hex(&g.get_rng_state()) != case.rng {
            failures.push(format!("case {i} (seed {}): generator state differs", case.seed));
        }
    }
    assert!(failures.is_empty(), "{} failures:\n{}", failures.len(), failures.join("\n"));
}

/// The layers of a `TransformerEncoder` are deep copies: equal values, distinct tensors.
#[test]
fn encoder_layers_are_independent_copies() {
    let mut g = Generator::manual_seed(3);
    let mut m = Model::new(DType::F32);
    let layer = tf::transformer_encoder_layer(&mut m, 16, 4, 32, false).unwrap();
    let root = tf::transformer_encoder(&mut m, layer, 2, None).unwrap();
    m.set_root(root).unwrap();
    m.materialize_with(&mut g).unwrap();
    let sd = m.state_dict();
    let (first, second): (Vec<_>, Vec<_>) = sd.iter().partition(|(n, _)| n.starts_with("layers.0."));
    assert_eq!(first.len(), 12);
    assert_eq!(first.len(), second.len());
    for ((n0, t0), (n1, t1)) in first.iter().zip(&second) {
        assert_eq!(n0.trim_start_matches("layers.0."), n1.trim_start_matches("layers.1."));
        assert_ne!(t0, t1, "{n0} and {n1} share a tensor");
        assert_eq!(m.tensor(*t0), m.tensor(*t1), "{n0} vs {n1}");
    }
}
