//! Models written as nested `torch.nn` constructor calls (`nested.json`, recorded from PyTorch
//! 2.15.0 by `tools/golden/gen_golden.py --only nested`): built by `arch::from_torch_ctor`, they
//! have PyTorch's `named_modules()` tree, `state_dict` names, shapes and bytes, and leave the
//! generator in PyTorch's state, both in memory and written through the streaming writer.

mod common;

use common::*;
use nninit::arch;
use nninit::nn::Model;
use nninit::tensor::DType;
use nninit::Generator;

/// `[path, class]` for every module, in `named_modules()` order.
fn module_classes(model: &Model) -> Vec<(String, String)> {
    model.named_modules().into_iter().map(|(path, id)| (path, model.module(id).layer.type_name())).collect()
}

#[test]
fn p7_nested_constructor_calls_match_pytorch() {
    let golden = golden("nested.json");
    let mut failures = Vec::new();
    let mut checked = 0;
    for case in golden["cases"].as_array().unwrap() {
        let id = case["id"].as_str().unwrap();
        let ctor = case["ctor"].as_str().unwrap();
        let seed = case["seed"].as_u64().unwrap();
        let dtype: DType = case["dtype"].as_str().unwrap().parse().unwrap();
        // The dtype comes from the calls' own `dtype=` arguments; the default is PyTorch's f32.
        let build = || arch::from_torch_ctor(ctor, DType::F32);
        let mut model = match build() {
            Ok(m) => m,
            Err(e) => {
                failures.push(format!("{id}: {e}"));
                continue;
            }
        };
        assert_eq!(model.dtype(), dtype, "{id}");
        let mut g = Generator::manual_seed(seed);
        if let Err(e) = model.materialize_with(&mut g) {
            failures.push(format!("{id}: {e}"));
            continue;
        }
        checked += 1;
        let want_modules: Vec<(String, String)> = case["modules"]
            .as_array()
            .unwrap()
            .iter()
            .map(|pc| (pc[0].as_str().unwrap().to_string(), pc[1].as_str().unwrap().to_string()))
            .collect();
        if module_classes(&model) != want_modules {
            failures.push(format!("{id}: named_modules() {:?} vs torch {want_modules:?}", module_classes(&model)));
        }
        failures.extend(state_dict_differences(&model, &case["tensors"], id));
        if sha256_hex(&g.get_rng_state()) != case["rng_state_sha256"].as_str().unwrap() {
            failures.push(format!("{id}: generator state differs"));
        }
        failures.extend(streamed_differences(build, seed, &case["tensors"], id));
    }
    assert!(checked >= 21, "only {checked} cases");
    assert!(failures.is_empty(), "{} failures:\n{}", failures.len(), failures.join("\n"));
}

/// P7: the two calls of the case, by name.
#[test]
fn p7_nested_calls_give_pytorch_names() {
    let names = |src: &str| -> Vec<String> {
        arch::from_torch_ctor(src, DType::F32).unwrap().state_dict().into_iter().map(|(n, _)| n).collect()
    };
    assert_eq!(
        names("nn.Sequential(nn.Linear(4, 4), nn.ReLU(), nn.Linear(4, 2))"),
        ["0.weight", "0.bias", "2.weight", "2.bias"]
    );
    let enc = names("nn.TransformerEncoder(nn.TransformerEncoderLayer(16, 2, 32), 3)");
    assert_eq!(enc.len(), 36);
    assert_eq!(enc[0], "layers.0.self_attn.in_proj_weight");
    assert_eq!(enc[35], "layers.2.norm2.bias");
    let with_norm = names("nn.TransformerEncoder(nn.TransformerEncoderLayer(16, 2, 32), 3, norm=nn.LayerNorm(16))");
    assert_eq!(&with_norm[36..], ["norm.weight", "norm.bias"]);
    // The same spelled with torch.nn, keywords and extra spaces.
    assert_eq!(
        names("torch.nn.TransformerDecoder( decoder_layer = torch.nn.TransformerDecoderLayer(16, 4), num_layers=2 )")
            .len(),
        2 * 18
    );
}

/// The unregistered original layer of a `TransformerEncoder` draws (it is constructed), its copies
/// do not: the generator ends where building the layer alone leaves it.
#[test]
fn encoder_copies_draw_nothing() {
    let state_after = |src: &str| {
        let mut g = Generator::manual_seed(11);
        arch::from_torch_ctor(src, DType::F32).unwrap().materialize_with(&mut g).unwrap();
        g.get_rng_state()
    };
    assert_eq!(
        state_after("nn.TransformerEncoder(nn.TransformerEncoderLayer(16, 2, 32), 5)"),
        state_after("nn.TransformerEncoderLayer(16, 2, 32)")
    );
}

/// Bad nesting gives one clear line, never a panic.
#[test]
fn p7_bad_nesting_is_a_clear_error() {
    let deep = |n: usize| format!("{}nn.Linear(2, 2){}", "nn.Sequential(".repeat(n), ")".repeat(n));
    let cases: Vec<(String, &str)> = vec![
        ("nn.Sequential(nn.Linear(4, 4), nn.Lineer(4, 2))".into(), "unknown layer type `Lineer`"),
        ("nn.Sequential(nn.Linear(4, 4), 3)".into(), "`argument 2` must be a module"),
        ("nn.TransformerEncoder(16, 3)".into(), "`encoder_layer` must be a module"),
        ("nn.TransformerEncoder(nn.TransformerEncoderLayer(16, 2), 3, norm=16)".into(), "`norm` must be a module"),
        ("nn.TransformerEncoder(nn.TransformerEncoderLayer(16, 2), nn.Linear(2, 2))".into(), "`num_layers` must be"),
        ("nn.TransformerEncoder(nn.TransformerEncoderLayer(16, 2))".into(), "missing required argument `num_layers`"),
        ("nn.TransformerEncoder(num_layers=2)".into(), "missing required argument `encoder_layer`"),
        ("nn.Linear(nn.Linear(2, 2), 4)".into(), "`in_features` must be a non-negative integer"),
        ("nn.ModuleList(nn.Linear(2, 2))".into(), "`modules` must be a list of modules"),
        ("nn.ModuleList([nn.Linear(2, 2), 5])".into(), "`modules[1]` must be a module"),
        ("nn.Sequential(nn.Linear(2, 2), bias=True)".into(), "not keyword arguments"),
        ("nn.ReLU(nn.Linear(2, 2))".into(), "takes no module arguments"),
        ("nn.Transformer(16, 2, custom_encoder=nn.Linear(2, 2))".into(), "custom_encoder is not supported"),
        ("nn.Sequential(nn.Linear(4, 4, dtype=torch.float64), nn.Linear(4, 2))".into(), "a model has one dtype"),
        (
            "nn.Sequential(nn.Linear(4, 4, dtype=torch.float64), nn.Linear(4, 2, dtype=torch.float16))".into(),
            "a model has one dtype",
        ),
        ("nn.Sequential(nn.Linear(4, 4)".into(), "expected `,` or `)`"),
        (deep(64), "nested more than 64 deep"),
        (deep(100_000), "nested more than 64 deep"),
        (format!("nn.ModuleList({}]{})", "[".repeat(100_000), "]".repeat(99_999)), "nested more than 64 deep"),
        (
            "nn.TransformerEncoder(nn.TransformerEncoder(nn.TransformerEncoderLayer(4, 1, 4), 1000), 10000)".into(),
            "more than nninit builds",
        ),
    ];
    for (src, want) in &cases {
        let err = match arch::from_torch_ctor(src, DType::F32) {
            Ok(_) => panic!("{src}: accepted"),
            Err(e) => e.to_string(),
        };
        let shown = if src.len() > 80 { &src[..80] } else { src.as_str() };
        assert!(err.contains(want), "{shown}: {err}");
        assert!(!err.contains('\n'), "{shown}: {err}");
    }
    // 64 nested calls are accepted, and build the model PyTorch builds.
    let m = arch::from_torch_ctor(&deep(63), DType::F32).unwrap();
    let names: Vec<String> = m.state_dict().into_iter().map(|(n, _)| n).collect();
    assert_eq!(names, [format!("{}weight", "0.".repeat(63)), format!("{}bias", "0.".repeat(63))]);
}

/// The other parsers share the nesting bound: deep lists, signs and `sqrt` in an init string or a
/// layer call are errors, not a stack overflow.
#[test]
fn deep_literals_are_bounded_everywhere() {
    let deep_list = format!("normal_({}0{})", "[".repeat(100_000), "]".repeat(100_000));
    assert!(deep_list.parse::<nninit::init::Init>().unwrap_err().to_string().contains("nested more than 64 deep"));
    let deep_sqrt = format!("normal_(0, {}1{})", "sqrt(".repeat(100_000), ")".repeat(100_000));
    assert!(deep_sqrt.parse::<nninit::init::Init>().unwrap_err().to_string().contains("nested more than 64 deep"));
    let signs = format!("uniform_({}1, 2)", "-".repeat(100_001));
    assert_eq!(signs.parse::<nninit::init::Init>().unwrap(), nninit::init::Init::Uniform { a: -1.0, b: 2.0 });
    let err = nninit::nn::Layer::parse(&format!("nn.LayerNorm({}4{})", "(".repeat(1000), ")".repeat(1000)))
        .unwrap_err()
        .to_string();
    assert!(err.contains("nested more than 64 deep"), "{err}");
    // A container with modules is a model, not one layer.
    let err = nninit::nn::Layer::parse("nn.Sequential(nn.Linear(4, 4))").unwrap_err().to_string();
    assert!(err.contains("from_torch_ctor"), "{err}");
}
