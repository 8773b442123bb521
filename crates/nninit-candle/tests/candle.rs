//! candle models initialized by nninit hold PyTorch's bytes: checked against the committed
//! PyTorch golden digests (crates/nninit/tests/golden/modules.json) and against nninit's own
//! in-memory model.

use std::collections::BTreeMap;

use candle_core::{DType, Device, Tensor};
use candle_nn::{Conv2dConfig, VarBuilder, VarMap};
use nninit::adapter::InitSpec;
use nninit::job::{self, InitJob, Source};
use nninit::plan::{Plan, Unmatched};
use nninit::rng::Stream;
use nninit_candle::{from_candle, reinit, Initializer};
use sha2::{Digest, Sha256};

fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

/// name → sha256 of PyTorch's bytes for a recorded case of modules.json.
fn golden(id: &str) -> BTreeMap<String, String> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../nninit/tests/golden/modules.json");
    let json: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let case = json["cases"].as_array().unwrap().iter().find(|c| c["id"] == id).unwrap_or_else(|| panic!("{id}"));
    case["tensors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| (t["name"].as_str().unwrap().to_string(), t["sha256"].as_str().unwrap().to_string()))
        .collect()
}

/// name → sha256 of each variable's bytes.
fn digests(varmap: &VarMap, prefix: &str) -> BTreeMap<String, String> {
    let data = varmap.data().lock().unwrap();
    data.iter()
        .map(|(n, v)| {
            (n.strip_prefix(prefix).unwrap_or(n).to_string(), sha256_hex(from_candle(v.as_tensor()).unwrap().bytes()))
        })
        .collect()
}

fn assert_golden(varmap: &VarMap, prefix: &str, id: &str) {
    let want = golden(id);
    let got = digests(varmap, prefix);
    assert!(!got.is_empty());
    for (name, digest) in &got {
        assert_eq!(Some(digest), want.get(name), "{id}: {name}");
    }
}

/// The seed's network in candle, built in PyTorch's order under PyTorch's names.
fn seed_net(vb: &VarBuilder) -> candle_core::Result<Vec<candle_nn::Linear>> {
    Ok(vec![
        candle_nn::linear(784, 256, vb.pp("layer.0"))?,
        candle_nn::linear(256, 128, vb.pp("layer.2"))?,
        candle_nn::linear(128, 10, vb.pp("layer.4"))?,
    ])
}

/// `nninit init` (the seed's network, `preset`) in memory: name → sha256.
fn nninit_init(preset: &str, rng: Stream) -> BTreeMap<String, String> {
    let job = InitJob {
        source: Source::Arch { name: "mlp".into(), dims: vec![784, 256, 128, 10] },
        preset: Some(preset.into()),
        plan: None,
        seed: 0,
        dtype: None,
        rng,
        shard: None,
        unmatched: Unmatched::Warn,
    };
    let out = job::run_in_memory(&job).unwrap();
    out.model.state_dict().into_iter().map(|(n, id)| (n, sha256_hex(out.model.tensor(id).bytes()))).collect()
}

fn built(spec: InitSpec) -> VarMap {
    let varmap = VarMap::new();
    let init = Initializer::new(&varmap, spec);
    seed_net(&init.var_builder(DType::F32, &Device::Cpu)).unwrap();
    init.finish().unwrap();
    varmap
}

#[test]
fn seed_network_seed_preset_holds_pytorch_bytes() {
    let varmap = built(InitSpec::preset("seed", 0));
    assert_golden(&varmap, "", "seed_mlp_apply");
    assert_eq!(digests(&varmap, ""), nninit_init("seed", Stream::Torch));
}

#[test]
fn seed_network_torch_preset_holds_pytorch_bytes() {
    let varmap = built(InitSpec::preset("torch", 0));
    assert_golden(&varmap, "", "seed_mlp_default");
    assert_eq!(digests(&varmap, ""), nninit_init("torch", Stream::Torch));
}

#[test]
fn philox_is_keyed_by_name_not_order() {
    let spec = InitSpec::preset("seed", 7).with_rng(Stream::Philox);
    let forward = built(spec.clone());
    let varmap = VarMap::new();
    let init = Initializer::new(&varmap, spec);
    let vb = init.var_builder(DType::F32, &Device::Cpu);
    candle_nn::linear(128, 10, vb.pp("layer.4")).unwrap();
    candle_nn::linear(256, 128, vb.pp("layer.2")).unwrap();
    candle_nn::linear(784, 256, vb.pp("layer.0")).unwrap();
    init.finish().unwrap();
    assert_eq!(digests(&forward, ""), digests(&varmap, ""));
    let job = InitJob {
        source: Source::Arch { name: "mlp".into(), dims: vec![784, 256, 128, 10] },
        preset: Some("seed".into()),
        plan: None,
        seed: 7,
        dtype: None,
        rng: Stream::Philox,
        shard: None,
        unmatched: Unmatched::Warn,
    };
    let out = job::run_in_memory(&job).unwrap();
    let want: BTreeMap<_, _> =
        out.model.state_dict().into_iter().map(|(n, id)| (n, sha256_hex(out.model.tensor(id).bytes()))).collect();
    assert_eq!(digests(&varmap, ""), want);
}

/// Single layers against PyTorch's `torch.manual_seed(s); nn.X(...)`.
#[test]
fn layers_hold_pytorch_defaults() {
    type Build = fn(&VarBuilder) -> candle_core::Result<()>;
    let cases: [(&str, u64, Build); 8] = [
        ("linear_64_32_s42", 42, |vb| candle_nn::linear(64, 32, vb.clone()).map(drop)),
        ("conv1d_2_2_1_s0", 0, |vb| candle_nn::conv1d(2, 2, 1, Default::default(), vb.clone()).map(drop)),
        ("linear_5_3_bias_false_s0", 0, |vb| candle_nn::linear_no_bias(5, 3, vb.clone()).map(drop)),
        ("conv2d_16_32_3_s0", 0, |vb| candle_nn::conv2d(16, 32, 3, Conv2dConfig::default(), vb.clone()).map(drop)),
        ("conv2d_4_4_3_groups_4_s0", 0, |vb| {
            candle_nn::conv2d(4, 4, 3, Conv2dConfig { groups: 4, ..Default::default() }, vb.clone()).map(drop)
        }),
        ("embedding_4_4_s0", 0, |vb| candle_nn::embedding(4, 4, vb.clone()).map(drop)),
        ("layernorm_64_s0", 0, |vb| candle_nn::layer_norm(64, 1e-5, vb.clone()).map(drop)),
        ("batchnorm2d_64_s0", 0, |vb| candle_nn::batch_norm(64, 1e-5, vb.clone()).map(drop)),
    ];
    for (id, seed, build) in cases {
        let varmap = VarMap::new();
        let init = Initializer::new(&varmap, InitSpec::preset("torch", seed));
        build(&init.var_builder(DType::F32, &Device::Cpu)).unwrap();
        init.finish().unwrap();
        assert_golden(&varmap, "", id);
    }
}

/// f16 and bf16 layers against PyTorch's `nn.X(..., dtype=torch.float16/bfloat16)`: drawn in
/// their own dtype, not drawn in f32 and rounded.
#[test]
fn half_precision_layers_hold_pytorch_bytes() {
    type Build = fn(&VarBuilder) -> candle_core::Result<()>;
    let cases: [(&str, DType, Build); 4] = [
        ("linear_3_2_float16_s0", DType::F16, |vb| candle_nn::linear(3, 2, vb.clone()).map(drop)),
        ("linear_3_2_bfloat16_s0", DType::BF16, |vb| candle_nn::linear(3, 2, vb.clone()).map(drop)),
        ("linear_64_32_bfloat16_s0", DType::BF16, |vb| candle_nn::linear(64, 32, vb.clone()).map(drop)),
        ("conv2d_4_4_3_groups_4_float16_s0", DType::F16, |vb| {
            candle_nn::conv2d(4, 4, 3, Conv2dConfig { groups: 4, ..Default::default() }, vb.clone()).map(drop)
        }),
    ];
    for (id, dtype, build) in cases {
        let varmap = VarMap::new();
        let init = Initializer::new(&varmap, InitSpec::preset("torch", 0));
        build(&init.var_builder(dtype, &Device::Cpu)).unwrap();
        init.finish().unwrap();
        assert!(varmap.all_vars().iter().all(|v| v.dtype() == dtype));
        assert_golden(&varmap, "", id);
    }
}

#[test]
fn half_precision_is_drawn_in_its_own_dtype() {
    for (dtype, ndtype) in [(DType::F16, nninit::DType::F16), (DType::BF16, nninit::DType::BF16)] {
        let varmap = VarMap::new();
        let init = Initializer::new(&varmap, InitSpec::preset("torch", 0));
        candle_nn::linear(16, 8, init.var_builder(dtype, &Device::Cpu).pp("fc")).unwrap();
        let mut model = nninit::nn::Model::new(ndtype);
        let fc = model.add(nninit::nn::Layer::linear(16, 8)).unwrap();
        model.set_root(fc).unwrap();
        model.materialize(Stream::Torch, 0).unwrap();
        let data = varmap.data().lock().unwrap();
        for (name, id) in model.state_dict() {
            let var = &data[&format!("fc.{name}")];
            assert_eq!(var.dtype(), dtype);
            assert_eq!(from_candle(var.as_tensor()).unwrap().bytes(), model.tensor(id).bytes(), "{name}");
        }
    }
}

#[test]
fn reinit_gives_a_candle_initialized_map_pytorch_values() {
    // Built with candle's own init (its generator cannot be seeded), then re-initialized.
    let varmap = VarMap::new();
    seed_net(&VarBuilder::from_varmap(&varmap, DType::F32, &Device::Cpu)).unwrap();
    reinit(&varmap, &InitSpec::preset("seed", 0)).unwrap();
    assert_golden(&varmap, "", "seed_mlp_apply");
    reinit(&varmap, &InitSpec::preset("torch", 0)).unwrap();
    assert_golden(&varmap, "", "seed_mlp_default");
    // BatchNorm: affine parameters and running statistics as a fresh model has them.
    let varmap = VarMap::new();
    let vb = VarBuilder::from_varmap(&varmap, DType::F32, &Device::Cpu);
    let bn = candle_nn::batch_norm(64, 1e-5, vb.pp("bn")).unwrap();
    varmap.data().lock().unwrap()["bn.running_mean"].set(&Tensor::ones(64, DType::F32, &Device::Cpu).unwrap()).unwrap();
    drop(bn);
    reinit(&varmap, &InitSpec::preset("torch", 0)).unwrap();
    assert_golden(&varmap, "bn.", "batchnorm2d_64_s0");
}

/// `reinit` builds the layers in PyTorch's construction order whatever the map's hash order:
/// twelve Linears named `layer.0` … `layer.22` (`layer.10` sorts before `layer.2` as text),
/// created in reverse order, hold `nninit init --arch mlp`'s values for the same seed.
#[test]
fn reinit_is_independent_of_the_maps_order() {
    let dims: Vec<usize> = (0..13).map(|i| 3 + i % 4).collect();
    let job = InitJob {
        source: Source::Arch { name: "mlp".into(), dims: dims.clone() },
        preset: Some("torch".into()),
        plan: None,
        seed: 5,
        dtype: None,
        rng: Stream::Torch,
        shard: None,
        unmatched: Unmatched::Warn,
    };
    let out = job::run_in_memory(&job).unwrap();
    let want: BTreeMap<_, _> =
        out.model.state_dict().into_iter().map(|(n, id)| (n, sha256_hex(out.model.tensor(id).bytes()))).collect();
    assert_eq!(want.len(), 24);
    let varmap = VarMap::new();
    let vb = VarBuilder::from_varmap(&varmap, DType::F32, &Device::Cpu);
    for i in (0..12).rev() {
        candle_nn::linear(dims[i], dims[i + 1], vb.pp(format!("layer.{}", 2 * i))).unwrap();
    }
    reinit(&varmap, &InitSpec::preset("torch", 5)).unwrap();
    assert_eq!(digests(&varmap, ""), want);
}

#[test]
fn nninit_checkpoint_loads_into_the_candle_model() {
    let job = InitJob {
        source: Source::Arch { name: "mlp".into(), dims: vec![784, 256, 128, 10] },
        preset: None,
        plan: None,
        seed: 0,
        dtype: None,
        rng: Stream::Torch,
        shard: None,
        unmatched: Unmatched::Warn,
    };
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("seed.safetensors");
    job::run(&job).unwrap().save(&path, nninit::io::Overwrite::Refuse, BTreeMap::new()).unwrap();
    let mut varmap = VarMap::new();
    seed_net(&VarBuilder::from_varmap(&varmap, DType::F32, &Device::Cpu)).unwrap();
    varmap.load(&path).unwrap(); // fails on any missing key
    assert_golden(&varmap, "", "seed_mlp_apply");
    assert_eq!(digests(&varmap, ""), digests(&built(InitSpec::preset("seed", 0)), ""));
}

#[test]
fn bad_input_names_the_variable_and_changes_nothing() {
    // A Kaiming hint on a 1-d variable: no fans.
    let varmap = VarMap::new();
    let init = Initializer::new(&varmap, InitSpec::preset("torch", 0));
    let vb = init.var_builder(DType::F32, &Device::Cpu);
    let err =
        vb.pp("head").get_with_hints(5, "scale", candle_nn::init::DEFAULT_KAIMING_NORMAL).unwrap_err().to_string();
    assert!(err.contains("head.scale") && err.contains("[5]"), "{err}");

    // A plan rule for a layer the model lacks, and a variable no layer fits: the map unchanged.
    let varmap = built(InitSpec::preset("torch", 0));
    let before = digests(&varmap, "");
    let plan = Plan::from_toml("[[rule]]\nlayer = \"Conv2d\"\ninit = \"orthogonal_()\"\n").unwrap();
    let err = reinit(&varmap, &InitSpec::preset("seed", 1).with_plan(plan)).unwrap_err().to_string();
    assert!(err.contains("Conv2d"), "{err}");
    VarBuilder::from_varmap(&varmap, DType::F32, &Device::Cpu).get(3, "head.scale").unwrap();
    let err = reinit(&varmap, &InitSpec::preset("seed", 1)).unwrap_err().to_string();
    assert!(err.contains("head.scale") && err.contains("[3]"), "{err}");
    let mut after = digests(&varmap, "");
    after.remove("head.scale");
    assert_eq!(before, after);

    // `finish` with a rule for a layer the model lacks: the construction values stay.
    let plan = Plan::from_toml("[[rule]]\nlayer = \"Conv2d\"\ninit = \"orthogonal_()\"\n").unwrap();
    let varmap = VarMap::new();
    let init = Initializer::new(&varmap, InitSpec::preset("seed", 0).with_plan(plan));
    seed_net(&init.var_builder(DType::F32, &Device::Cpu)).unwrap();
    let constructed = digests(&varmap, "");
    let err = init.finish().unwrap_err().to_string();
    assert!(err.contains("Conv2d"), "{err}");
    assert_eq!(digests(&varmap, ""), constructed);
    assert_eq!(constructed, nninit_init("torch", Stream::Torch));
}

/// Where candle's own init differs from PyTorch's (the README lists these).
#[test]
fn candle_defaults_differ_from_pytorch() {
    let varmap = VarMap::new();
    let vb = VarBuilder::from_varmap(&varmap, DType::F32, &Device::Cpu);
    candle_nn::linear(784, 256, vb.pp("fc")).unwrap();
    candle_nn::conv2d(16, 32, 3, Conv2dConfig::default(), vb.pp("conv")).unwrap();
    let data = varmap.data().lock().unwrap();
    let values = |n: &str| from_candle(data[n].as_tensor()).unwrap().to_f64_vec();
    // Linear weight: candle draws kaiming_normal_ (std √(2/784)); PyTorch kaiming_uniform_(a=√5),
    // bounded by 1/√784.
    let w = values("fc.weight");
    let outside = w.iter().filter(|x| x.abs() > 1.0 / 784f64.sqrt()).count();
    assert!(outside > w.len() / 4, "{outside} of {}", w.len());
    // Conv bias: candle bounds it by 1/√in_channels (0.25); PyTorch by 1/√fan_in = 1/√144.
    let b = values("conv.bias");
    assert!(b.iter().any(|x| x.abs() > 1.0 / 144f64.sqrt()));
    assert!(b.iter().all(|x| x.abs() <= 0.25));
    drop(data);
    // candle's CPU generator cannot be seeded: two builds differ.
    let other = VarMap::new();
    candle_nn::linear(784, 256, VarBuilder::from_varmap(&other, DType::F32, &Device::Cpu).pp("fc")).unwrap();
    assert_ne!(digests(&varmap, "")["fc.weight"], digests(&other, "")["fc.weight"]);
}

/// Training is reproducible from the seed: two runs of 20 SGD steps on the seed's network,
/// initialized from the same seed, give bit-identical losses (candle's own init cannot be
/// seeded, so its runs differ).
#[test]
fn two_training_runs_from_one_seed_give_the_same_losses() {
    use candle_nn::{Module, Optimizer};
    let mut g = nninit::Generator::manual_seed(3);
    let mut x = nninit::Tensor::zeros(&[64, 784], nninit::DType::F32);
    nninit::init::normal_(x.view_mut().unwrap(), 0.0, 1.0, &mut g).unwrap();
    let x = nninit_candle::to_candle(&x, DType::F32, &Device::Cpu).unwrap();
    let y = Tensor::new((0..64u32).map(|i| i % 10).collect::<Vec<_>>(), &Device::Cpu).unwrap();
    let run = |spec: Option<InitSpec>| -> Vec<f32> {
        let varmap = VarMap::new();
        let net = match spec {
            Some(spec) => {
                let init = Initializer::new(&varmap, spec);
                let net = seed_net(&init.var_builder(DType::F32, &Device::Cpu)).unwrap();
                init.finish().unwrap();
                net
            }
            None => seed_net(&VarBuilder::from_varmap(&varmap, DType::F32, &Device::Cpu)).unwrap(),
        };
        let mut sgd = candle_nn::SGD::new(varmap.all_vars(), 0.05).unwrap();
        (0..20)
            .map(|_| {
                let h = net[1].forward(&net[0].forward(&x).unwrap().relu().unwrap()).unwrap().relu().unwrap();
                let loss = candle_nn::loss::cross_entropy(&net[2].forward(&h).unwrap(), &y).unwrap();
                sgd.backward_step(&loss).unwrap();
                loss.to_scalar::<f32>().unwrap()
            })
            .collect()
    };
    let first = run(Some(InitSpec::preset("seed", 0)));
    assert_eq!(first, run(Some(InitSpec::preset("seed", 0))));
    assert!(first[19] < first[0], "{first:?}");
    assert_ne!(first, run(Some(InitSpec::preset("seed", 1))));
    assert_ne!(run(None), run(None));
}
