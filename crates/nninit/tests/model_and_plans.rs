//! The module tree, traversal orders, both ways to re-initialize a model, plans and presets.

mod common;

use common::*;
use nninit::init::{FanMode, Init, Nonlinearity};
use nninit::nn::{Layer, Model, ModuleId};
use nninit::plan::{preset, Plan, PresetOptions};
use nninit::rng::Stream;
use nninit::tensor::{DType, Data};
use nninit::{arch, Generator};

/// The values of `name` after `torch.manual_seed(0)` and the model's recorded inits.
fn values(m: &Model, name: &str) -> Vec<f64> {
    let id = m.state_dict().into_iter().find(|(n, _)| n == name).unwrap_or_else(|| panic!("no {name}")).1;
    let mut m = m.clone();
    m.materialize(Stream::Torch, 0).unwrap();
    m.tensor(id).to_f64_vec()
}

fn golden_case(id: &str) -> serde_json::Value {
    golden("modules.json")["cases"].as_array().unwrap().iter().find(|c| c["id"] == id).unwrap().clone()
}

/// Compares the model's values after `torch.manual_seed(0)` with a recorded case.
fn assert_matches_golden(model: &Model, id: &str) {
    let mut model = model.clone();
    model.materialize(Stream::Torch, 0).unwrap();
    let case = golden_case(id);
    let want = case["tensors"].as_array().unwrap();
    let got = model.state_dict();
    assert_eq!(got.len(), want.len());
    for ((name, tid), w) in got.iter().zip(want) {
        assert_eq!(name, w["name"].as_str().unwrap());
        assert_eq!(sha256_hex(model.tensor(*tid).bytes()), w["sha256"].as_str().unwrap(), "{id}: {name}");
    }
}

/// The seed's rules as an `apply` function: PyTorch's
/// `if isinstance(m, nn.Linear): xavier_normal_(m.weight); zeros_(m.bias) ...`.
fn seed_rules(model: &mut Model) -> nninit::Result<()> {
    let relu_fan_out = Init::KaimingNormal { a: 0.0, mode: FanMode::FanOut, nonlinearity: Nonlinearity::Relu };
    model.apply(|mut m| match m.layer().type_name().as_str() {
        "Linear" => {
            m.init("weight", &Init::XavierNormal { gain: 1.0 })?;
            m.init("bias", &Init::Zeros)
        }
        "Conv2d" => {
            m.init("weight", &relu_fan_out)?;
            m.init("bias", &Init::Zeros)
        }
        "BatchNorm2d" | "GroupNorm" => {
            m.init("weight", &Init::Ones)?;
            m.init("bias", &Init::Zeros)
        }
        _ => Ok(()),
    })
}

#[test]
fn seed_network_default_and_apply_match_pytorch() {
    let mut model = arch::mlp(&[784, 256, 128, 10], DType::F32).unwrap();
    assert_matches_golden(&model, "seed_mlp_default");
    // (a) model.apply(fn) after default construction: the rules' draws follow the defaults'.
    let mut a = model.clone();
    seed_rules(&mut a).unwrap();
    assert_matches_golden(&a, "seed_mlp_apply");
    // The same through the `seed` preset.
    preset("seed", &PresetOptions::default()).unwrap().apply(&mut model).unwrap();
    assert_matches_golden(&model, "seed_mlp_apply");
    // Continuing one generator, as one PyTorch program does: the generator ends where torch's.
    let mut g = Generator::manual_seed(0);
    model.materialize_with(&mut g).unwrap();
    let mut again = Generator::manual_seed(0);
    let mut replayed = model.clone();
    replayed.materialize_with(&mut again).unwrap();
    assert_eq!(g.get_rng_state(), again.get_rng_state());
    assert_ne!(g.get_rng_state(), Generator::manual_seed(0).get_rng_state());
}

#[test]
fn loop_over_modules_in_a_constructor() {
    // (b) A model whose own constructor loops over `modules()` (pre-order) and re-initializes.
    let mut model = arch::mlp(&[784, 256, 128, 10], DType::F32).unwrap();
    for (path, id) in model.named_modules() {
        let mut m = model.module_mut(id, &path);
        if let Layer::Linear { .. } = m.layer() {
            m.init("weight", &Init::XavierNormal { gain: 1.0 }).unwrap();
            m.init("bias", &Init::Zeros).unwrap();
        }
    }
    // For this model pre-order and post-order visit the Linears in the same order.
    assert_matches_golden(&model, "seed_mlp_apply");
}

#[test]
fn v3_fan_error_names_the_parameter() {
    let mut g = Generator::manual_seed(0);
    let mut model = arch::mlp(&[784, 64, 10], DType::F32).unwrap();
    let plan = Plan::from_toml("[[rule]]\nlayer = \"Linear\"\ninit = \"xavier_uniform_()\"\n").unwrap();
    let events = model.events().len();
    let weight = model.named_parameters()[0].1;
    let before = model.provenance(weight).cloned();
    let err = plan.apply(&mut model).unwrap_err().to_string();
    assert_eq!(model.events().len(), events, "a failed plan leaves the model as it was");
    // layer.0.weight was recorded before layer.0.bias failed: its provenance is restored too.
    assert_eq!(model.provenance(weight).cloned(), before);
    assert!(before.unwrap().init.unwrap().name().starts_with("kaiming_uniform_"));
    assert_eq!(
        err,
        "layer.0.bias (shape [64]): Fan in and fan out can not be computed for tensor with fewer than 2 dimensions"
    );
    let mut t = nninit::Tensor::zeros(&[], DType::F32);
    let e = nninit::init::kaiming_normal_(t.view_mut().unwrap(), 0.0, FanMode::FanIn, Nonlinearity::Relu, &mut g);
    assert!(e.unwrap_err().to_string().starts_with("Fan in and fan out can not be computed"));
}

#[test]
fn t1_embedding_padding_row() {
    let mut m = Model::new(DType::F32);
    let id = m.add(Layer::parse("nn.Embedding(10, 3, padding_idx=0)").unwrap().0).unwrap();
    m.set_root(id).unwrap();
    let w = values(&m, "weight");
    assert_eq!(&w[..3], &[0.0, 0.0, 0.0]);
    assert!(w[3..].iter().all(|&x| x != 0.0));
    // A later user init overwrites the padding row, as in PyTorch.
    let overwrite = Plan::from_toml("[[rule]]\nlayer = \"Embedding\"\ninit = \"normal_(0, 0.1)\"\n").unwrap();
    let mut m2 = m.clone();
    overwrite.apply(&mut m2).unwrap();
    assert!(values(&m2, "weight")[..3].iter().all(|&x| x != 0.0));
    // ... unless the rule asks to re-zero it.
    let rezero =
        Plan::from_toml("[[rule]]\nlayer = \"Embedding\"\ninit = \"normal_(0, 0.1)\"\nzero_padding = true\n").unwrap();
    rezero.apply(&mut m).unwrap();
    let w = values(&m, "weight");
    assert_eq!(&w[..3], &[0.0, 0.0, 0.0]);
    assert!(w[3..].iter().all(|&x| x != 0.0 && x.abs() < 0.6));
    // No padding index: no row is zeroed.
    let mut m3 = Model::new(DType::F32);
    let id = m3.add(Layer::parse("nn.Embedding(4, 4)").unwrap().0).unwrap();
    m3.set_root(id).unwrap();
    rezero.apply(&mut m3).unwrap();
    assert!(values(&m3, "weight").iter().all(|&x| x != 0.0));
}

#[test]
fn t2_lstm_default_bounds_and_forget_gate_rule() {
    let mut m = Model::new(DType::F32);
    let id = m.add(Layer::lstm(8, 16)).unwrap();
    m.set_root(id).unwrap();
    for name in ["weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0"] {
        let v = values(&m, name);
        assert!(v.iter().all(|x| x.abs() <= 0.25) && v.iter().any(|x| x.abs() > 0.24), "{name}");
    }
    assert_eq!(values(&m, "bias_ih_l0").len(), 64);
    let plan = Plan::from_toml(
        "[[rule]]\nrole = \"bias\"\ninit = \"zeros_()\"\n\n[[rule]]\nname = \"*bias_ih*\"\ngate = \"forget\"\ninit = \"constant_(1.0)\"\n",
    )
    .unwrap();
    plan.apply(&mut m).unwrap();
    let ih = values(&m, "bias_ih_l0");
    assert!(ih[16..32].iter().all(|&x| x == 1.0), "forget gate is indices 16..32");
    assert!(ih[..16].iter().chain(&ih[32..]).all(|&x| x == 0.0));
    assert!(values(&m, "bias_hh_l0").iter().all(|&x| x == 0.0), "the rule wrote only bias_ih");
    // A gate the layer does not have (a GRU gate on an LSTM) selects nothing: reported (so the
    // plan stays usable on models with and without that layer), never silently applied.
    let before = values(&m, "bias_ih_l0");
    let other = Plan::from_toml("[[rule]]\nrole = \"bias\"\ngate = \"reset\"\ninit = \"ones_()\"\n").unwrap();
    let report = other.apply(&mut m).unwrap();
    assert_eq!(report.unmatched.len(), 1);
    assert_eq!(
        report.unmatched[0].to_string(),
        "rule 1 (role = \"bias\", gate = \"reset\", init = \"ones_()\") selected no parameter; the model has no LSTM or GRU with a `reset` gate"
    );
    assert_eq!(values(&m, "bias_ih_l0"), before);
    let nowhere = Plan::from_toml("[[rule]]\nname = \"nothing.*\"\ngate = \"forget\"\ninit = \"ones_()\"\n").unwrap();
    assert_eq!(nowhere.apply(&mut m).unwrap().unmatched.len(), 1);
    assert!(Plan::check_unmatched(&nowhere.apply(&mut m).unwrap(), nninit::plan::Unmatched::Error).is_err());
    let err = Plan::from_toml("[[rule]]\ngate = \"forgot\"\ninit = \"ones_()\"\n").unwrap_err().to_string();
    assert!(err.contains("unknown gate `forgot`"), "{err}");
}

fn chain(depth: usize) -> (Model, ModuleId) {
    let mut m = Model::new(DType::F32);
    let mut inner = m.add(Layer::linear(2, 2)).unwrap();
    for _ in 0..depth {
        inner = m.sequential(&[inner]);
    }
    m.set_root(inner).unwrap();
    (m, inner)
}

#[test]
fn t3_traversal_orders_shared_modules_and_deep_chains() {
    let mut m = Model::new(DType::F32);
    let shared = m.add(Layer::linear(3, 3)).unwrap();
    let other = m.add(Layer::linear(3, 1)).unwrap();
    let a = m.sequential(&[shared, other]);
    let b = m.sequential(&[shared]);
    let root = m.container(Layer::Custom("Net".into()), &[]);
    m.add_child(root, "a", a).unwrap();
    m.add_child(root, "b", b).unwrap();
    m.set_root(root).unwrap();
    let names: Vec<String> = m.named_modules().into_iter().map(|(n, _)| n).collect();
    assert_eq!(names, ["", "a", "a.0", "a.1", "b"], "pre-order, root first, shared module once");
    let mut visits = Vec::new();
    m.apply(|mm| {
        visits.push(mm.path().to_string());
        Ok(())
    })
    .unwrap();
    assert_eq!(visits, ["a.0", "a.1", "a", "b.0", "b", ""], "post-order, shared child once per parent");
    let params: Vec<String> = m.named_parameters().into_iter().map(|(n, _)| n).collect();
    assert_eq!(params, ["a.0.weight", "a.0.bias", "a.1.weight", "a.1.bias"]);
    let keys: Vec<String> = m.state_dict().into_iter().map(|(n, _)| n).collect();
    assert_eq!(keys, ["a.0.weight", "a.0.bias", "a.1.weight", "a.1.bias", "b.0.weight", "b.0.bias"]);

    let (mut deep, _) = chain(100_000);
    assert_eq!(deep.modules().len(), 100_001);
    let mut count = 0;
    deep.apply(|_| {
        count += 1;
        Ok(())
    })
    .unwrap();
    assert_eq!(count, 100_001);
    let sd = deep.state_dict();
    assert_eq!(sd.len(), 2);
    let named = deep.named_parameters();
    assert_eq!(named.iter().map(|(n, _)| n.len()).collect::<Vec<_>>(), [2 * 100_000 + 6, 2 * 100_000 + 4]);
    assert!(sd[0].0.ends_with(".0.weight") && sd[0].0.len() == 2 * 100_000 + "weight".len());
    let plan = preset("seed", &PresetOptions::default()).unwrap();
    let report = plan.apply(&mut deep).unwrap();
    assert_eq!(report.applied.len(), 2);
    drop(deep);
}

#[test]
fn n7_norm_defaults() {
    for (ctor, has_buffers) in
        [("nn.BatchNorm2d(64)", true), ("nn.LayerNorm(64)", false), ("nn.GroupNorm(4, 64)", false)]
    {
        let mut m = Model::new(DType::F32);
        let id = m.add(Layer::parse(ctor).unwrap().0).unwrap();
        m.set_root(id).unwrap();
        assert!(values(&m, "weight").iter().all(|&x| x == 1.0), "{ctor}");
        assert!(values(&m, "bias").iter().all(|&x| x == 0.0), "{ctor}");
        if has_buffers {
            assert!(values(&m, "running_mean").iter().all(|&x| x == 0.0));
            assert!(values(&m, "running_var").iter().all(|&x| x == 1.0));
            let nbt = m.state_dict().into_iter().find(|(n, _)| n == "num_batches_tracked").unwrap().1;
            assert_eq!(m.tensor(nbt).data(), &Data::Other { dtype: safetensors::Dtype::I64, bytes: vec![0; 8] });
        }
    }
    let err = Layer::parse("nn.GroupNorm(5, 64)").unwrap_err().to_string();
    assert_eq!(err, "num_channels (64) must be divisible by num_groups (5)");
}

#[test]
fn bert_preset_and_plan_files() {
    let plan = preset("bert", &PresetOptions { initializer_range: 0.05 }).unwrap();
    let toml = plan.to_toml();
    assert!(toml.contains("normal_(mean=0.0, std=0.05)"), "{toml}");
    assert_eq!(Plan::from_toml(&toml).unwrap(), plan);
    let mut m = Model::new(DType::F32);
    let emb = m.add(Layer::parse("nn.Embedding(100, 16, padding_idx=1)").unwrap().0).unwrap();
    let lin = m.add(Layer::linear(16, 300)).unwrap();
    let ln = m.add(Layer::layer_norm(&[300])).unwrap();
    let root = m.sequential(&[emb, lin, ln]);
    m.set_root(root).unwrap();
    plan.apply(&mut m).unwrap();
    let e = values(&m, "0.weight");
    assert!(e[16..32].iter().all(|&x| x == 0.0));
    let s = nninit::stats::Stats::of(values(&m, "1.weight").into_iter());
    assert!((s.std - 0.05).abs() < 0.002, "{}", s.std);
    assert!(values(&m, "1.bias").iter().all(|&x| x == 0.0));
    assert!(values(&m, "2.weight").iter().all(|&x| x == 1.0));
    for bad in [
        "[[rule]]\ninit = \"glorot_()\"\n",
        "[[rule]]\nlayer = \"Linear\"\n",
        "[[rule]]\ninit = \"ones_()\"\ncolour = 1\n",
    ] {
        assert!(Plan::from_toml(bad).is_err(), "{bad}");
    }
    assert!(preset("nope", &PresetOptions::default()).unwrap_err().to_string().contains("unknown preset `nope`"));
}

/// Equal inits recorded on several tensors share one allocation; `constant_(-0.0)` and
/// `constant_(0.0)` (equal as numbers, not as bits) do not, and each tensor gets its own.
#[test]
fn equal_inits_share_one_allocation_and_signed_zeros_stay_apart() {
    use nninit::nn::Fill;
    let mut model = Model::new(DType::F32);
    let a = model.add(Layer::linear(4, 2)).unwrap();
    let b = model.add(Layer::linear(4, 2)).unwrap();
    let root = model.sequential(&[a, b]);
    model.set_root(root).unwrap();
    let init_of = |model: &Model, i: usize| match &model.events()[i].fill {
        Fill::Init(init) => init.clone(),
        other => panic!("{other:?}"),
    };
    // Construction: weight, bias of `a`, then of `b`; equal defaults share.
    assert!(std::sync::Arc::ptr_eq(&init_of(&model, 0), &init_of(&model, 2)));
    assert!(std::sync::Arc::ptr_eq(&init_of(&model, 1), &init_of(&model, 3)));
    let weights: Vec<_> = model.named_parameters().into_iter().filter(|(n, _)| n.ends_with("weight")).collect();
    model.init_tensor(weights[0].1, &Init::Constant { val: 0.0 }, nninit::nn::Origin::Rule).unwrap();
    model.init_tensor(weights[1].1, &Init::Constant { val: -0.0 }, nninit::nn::Origin::Rule).unwrap();
    let (zero, minus_zero) = (init_of(&model, 4), init_of(&model, 5));
    assert!(!std::sync::Arc::ptr_eq(&zero, &minus_zero));
    assert_eq!((zero.to_string(), minus_zero.to_string()), ("constant_(val=0.0)".into(), "constant_(val=-0.0)".into()));
    model.materialize(nninit::rng::Stream::Torch, 0).unwrap();
    let signs: Vec<bool> = weights.iter().map(|(_, id)| model.tensor(*id).to_f64_vec()[0].is_sign_negative()).collect();
    assert_eq!(signs, [false, true]);
}
