//! burn modules re-initialized by nninit hold PyTorch's bytes: checked against the committed
//! PyTorch golden digests (crates/nninit/tests/golden/modules.json) and against nninit's own
//! in-memory model.

use std::collections::BTreeMap;

use burn::module::{Module, Param};
use burn::nn::conv::{Conv2d, Conv2dConfig, ConvTranspose2dConfig};
use burn::nn::{
    BatchNormConfig, EmbeddingConfig, GroupNormConfig, LayerNormConfig, Linear, LinearConfig, LinearLayout, LstmConfig,
};
use burn::tensor::{Device, Tensor};
use burn_store::{ModuleSnapshot, PyTorchToBurnAdapter, SafetensorsStore};
use nninit::adapter::InitSpec;
use nninit::job::{self, InitJob, Source};
use nninit::plan::{Plan, Unmatched};
use nninit::rng::Stream;
use nninit_burn::reinit;
use sha2::{Digest, Sha256};

/// burn's ndarray backend, the one these results are pinned on (burn 0.22 deprecates it in
/// favour of `flex`).
#[allow(deprecated)]
fn cpu() -> Device {
    Device::ndarray()
}

fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

/// `(name, sha256)` of PyTorch's bytes for a recorded case of modules.json, in `state_dict` order.
fn golden(id: &str) -> Vec<(String, String)> {
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

fn golden_of(id: &str, name: &str) -> String {
    golden(id).into_iter().find(|(n, _)| n == name).unwrap_or_else(|| panic!("{id}: {name}")).1
}

fn f32_bytes<const D: usize>(t: Tensor<D>) -> Vec<u8> {
    let v: Vec<f32> = t.into_data().convert::<f32>().try_to_vec::<f32>().unwrap();
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

fn digest<const D: usize>(t: Tensor<D>) -> String {
    sha256_hex(&f32_bytes(t))
}

/// A Linear's `(weight, bias)` digests in PyTorch's layout (`[out, in]`).
fn linear_digests(l: &Linear) -> [String; 2] {
    [digest(l.weight.val().transpose()), digest(l.bias.as_ref().unwrap().val())]
}

#[derive(Module, Debug)]
struct Mlp {
    layer: Vec<Linear>,
}

fn seed_net(device: &Device) -> Mlp {
    let dims = [784, 256, 128, 10];
    Mlp { layer: dims.windows(2).map(|w| LinearConfig::new(w[0], w[1]).init(device)).collect() }
}

fn net_digests(net: &Mlp) -> Vec<String> {
    net.layer.iter().flat_map(linear_digests).collect()
}

fn nninit_init(preset: &str) -> Vec<String> {
    let job = InitJob {
        source: Source::Arch { name: "mlp".into(), dims: vec![784, 256, 128, 10] },
        preset: Some(preset.into()),
        plan: None,
        seed: 0,
        dtype: None,
        rng: Stream::Torch,
        shard: None,
        unmatched: Unmatched::Warn,
    };
    let out = job::run_in_memory(&job).unwrap();
    out.model.state_dict().into_iter().map(|(_, id)| sha256_hex(out.model.tensor(id).bytes())).collect()
}

#[test]
fn seed_network_holds_pytorch_bytes_for_both_presets() {
    let device = cpu();
    for (preset, id) in [("seed", "seed_mlp_apply"), ("torch", "seed_mlp_default")] {
        let net = reinit(&seed_net(&device), &InitSpec::preset(preset, 0)).unwrap();
        let want: Vec<String> = golden(id).into_iter().map(|(_, d)| d).collect();
        assert_eq!(net_digests(&net), want, "{preset}");
        assert_eq!(net_digests(&net), nninit_init(preset), "{preset}");
    }
}

#[test]
fn linear_layouts_and_autodiff_keep_pytorch_values() {
    let want = [golden_of("linear_64_32_s42", "weight"), golden_of("linear_64_32_s42", "bias")];
    for device in [cpu(), cpu().autodiff()] {
        for layout in [LinearLayout::Row, LinearLayout::Col] {
            let l = LinearConfig::new(64, 32).with_layout(layout).init(&device);
            let l = reinit(&l, &InitSpec::preset("torch", 42)).unwrap();
            assert_eq!(l.weight.val().dims(), [64, 32]);
            assert_eq!(linear_digests(&l), want);
            assert_eq!(l.weight.val().is_require_grad(), device.is_autodiff());
        }
    }
}

#[test]
fn conv_embedding_and_norms_hold_pytorch_defaults() {
    let device = cpu();
    let spec = InitSpec::preset("torch", 0);
    let conv = reinit(&Conv2dConfig::new([16, 32], [3, 3]).init(&device), &spec).unwrap();
    assert_eq!(digest(conv.weight.val()), golden_of("conv2d_16_32_3_s0", "weight"));
    assert_eq!(digest(conv.bias.as_ref().unwrap().val()), golden_of("conv2d_16_32_3_s0", "bias"));
    let grouped = reinit(&Conv2dConfig::new([4, 4], [3, 3]).with_groups(4).init(&device), &spec).unwrap();
    assert_eq!(digest(grouped.weight.val()), golden_of("conv2d_4_4_3_groups_4_s0", "weight"));
    assert_eq!(digest(grouped.bias.as_ref().unwrap().val()), golden_of("conv2d_4_4_3_groups_4_s0", "bias"));
    let t = reinit(&ConvTranspose2dConfig::new([16, 8], [3, 3]).with_groups(2).init(&device), &spec).unwrap();
    assert_eq!(digest(t.weight.val()), golden_of("convtranspose2d_16_8_3_groups_2_s0", "weight"));
    assert_eq!(digest(t.bias.as_ref().unwrap().val()), golden_of("convtranspose2d_16_8_3_groups_2_s0", "bias"));
    let e = reinit(&EmbeddingConfig::new(4, 4).init(&device), &spec).unwrap();
    assert_eq!(digest(e.weight.val()), golden_of("embedding_4_4_s0", "weight"));
    let ln = reinit(&LayerNormConfig::new(64).init(&device), &spec).unwrap();
    assert_eq!(digest(ln.gamma.val()), golden_of("layernorm_64_s0", "weight"));
    assert_eq!(digest(ln.beta.as_ref().unwrap().val()), golden_of("layernorm_64_s0", "bias"));
    let gn = reinit(&GroupNormConfig::new(4, 64).init(&device), &spec).unwrap();
    assert_eq!(digest(gn.gamma.as_ref().unwrap().val()), golden_of("groupnorm_4_64_s0", "weight"));
    // BatchNorm: affine parameters set, running statistics left as they are.
    let bn = BatchNormConfig::new(64).init(&device);
    let bn = reinit(&bn, &spec).unwrap();
    assert_eq!(digest(bn.gamma.val()), golden_of("batchnorm2d_64_s0", "weight"));
    assert_eq!(digest(bn.beta.val()), golden_of("batchnorm2d_64_s0", "bias"));
    assert_eq!(digest(bn.running_var.value()), golden_of("batchnorm2d_64_s0", "running_var"));
}

/// `(weight, bias)` digests of a reinitialized burn convolution against a recorded case.
fn assert_conv<const D: usize>(weight: Tensor<D>, bias: Option<Tensor<1>>, id: &str) {
    assert_eq!(digest(weight), golden_of(id, "weight"), "{id}");
    match bias {
        Some(b) => assert_eq!(digest(b), golden_of(id, "bias"), "{id}"),
        None => assert!(golden(id).iter().all(|(n, _)| n != "bias"), "{id}"),
    }
}

#[test]
fn every_convolution_rank_holds_pytorch_defaults() {
    use burn::nn::conv::{Conv1dConfig, Conv3dConfig, ConvTranspose1dConfig, ConvTranspose3dConfig};
    let device = cpu();
    for seed in [0, 42] {
        let spec = InitSpec::preset("torch", seed);
        let id = |s: &str| format!("{s}_s{seed}");
        let c = reinit(&Conv1dConfig::new(2, 2, 1).init(&device), &spec).unwrap();
        assert_conv(c.weight.val(), c.bias.map(|b| b.val()), &id("conv1d_2_2_1"));
        let c = reinit(&Conv2dConfig::new([3, 8], [3, 5]).with_bias(false).init(&device), &spec).unwrap();
        assert_conv(c.weight.val(), c.bias.map(|b| b.val()), &id("conv2d_3_8_3_5_stride_2_padding_1_bias_false"));
        let c = reinit(&Conv3dConfig::new([2, 4], [1, 2, 3]).init(&device), &spec).unwrap();
        assert_conv(c.weight.val(), c.bias.map(|b| b.val()), &id("conv3d_2_4_1_2_3"));
        let c = reinit(&ConvTranspose1dConfig::new([4, 6], 3).init(&device), &spec).unwrap();
        assert_conv(c.weight.val(), c.bias.map(|b| b.val()), &id("convtranspose1d_4_6_3"));
        let c = reinit(&ConvTranspose2dConfig::new([16, 8], [3, 3]).init(&device), &spec).unwrap();
        assert_conv(c.weight.val(), c.bias.map(|b| b.val()), &id("convtranspose2d_16_8_3"));
        let c = reinit(&ConvTranspose3dConfig::new([2, 2], [2, 2, 2]).init(&device), &spec).unwrap();
        assert_conv(c.weight.val(), c.bias.map(|b| b.val()), &id("convtranspose3d_2_2_2"));
        let ln = reinit(&LayerNormConfig::new(8).with_bias(false).init(&device), &spec).unwrap();
        assert!(ln.beta.is_none());
        assert_eq!(digest(ln.gamma.val()), golden_of(&id("layernorm_8_bias_false"), "weight"));
        let rms = reinit(&burn::nn::RmsNormConfig::new(8).init(&device), &spec).unwrap();
        assert_eq!(digest(rms.gamma.val()), golden_of(&id("rmsnorm_8"), "weight"));
    }
}

#[test]
fn lstm_gates_hold_slices_of_pytorch_lstm() {
    let device = cpu();
    let lstm = reinit(&LstmConfig::new(8, 16, true).init(&device), &InitSpec::preset("torch", 0)).unwrap();
    // PyTorch's gate order i, f, g, o, stacked by rows.
    let gates = [&lstm.input_gate, lstm.forget_gate.as_ref().unwrap(), &lstm.cell_gate, &lstm.output_gate];
    let stack = |f: &dyn Fn(&burn::nn::GateController) -> Tensor<2>| {
        Tensor::cat(gates.iter().map(|g| f(g)).collect::<Vec<_>>(), 0)
    };
    let stack1 = |f: &dyn Fn(&burn::nn::GateController) -> Tensor<1>| {
        Tensor::cat(gates.iter().map(|g| f(g)).collect::<Vec<_>>(), 0)
    };
    let w_ih = stack(&|g| g.input_transform.weight.val().transpose());
    let w_hh = stack(&|g| g.hidden_transform.weight.val().transpose());
    let b_ih = stack1(&|g| g.input_transform.bias.as_ref().unwrap().val());
    let b_hh = stack1(&|g| g.hidden_transform.bias.as_ref().unwrap().val());
    assert_eq!(w_ih.dims(), [64, 8]);
    assert_eq!(digest(w_ih), golden_of("lstm_8_16_s0", "weight_ih_l0"));
    assert_eq!(digest(w_hh), golden_of("lstm_8_16_s0", "weight_hh_l0"));
    assert_eq!(digest(b_ih), golden_of("lstm_8_16_s0", "bias_ih_l0"));
    assert_eq!(digest(b_hh), golden_of("lstm_8_16_s0", "bias_hh_l0"));
}

#[test]
fn nninit_checkpoint_loads_into_the_burn_model() {
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
    let device = cpu();
    let mut net = seed_net(&device);
    // PyTorch's Sequential indices 0, 2, 4 (ReLUs between) are burn's Vec indices 0, 1, 2.
    let mut store = SafetensorsStore::from_file(&path)
        .with_from_adapter(PyTorchToBurnAdapter)
        .with_key_remapping(r"^layer\.2\.", "layer.1.")
        .with_key_remapping(r"^layer\.4\.", "layer.2.");
    let result = net.load_from(&mut store).unwrap();
    assert!(result.missing.is_empty() && result.errors.is_empty() && result.unused.is_empty(), "{result:?}");
    assert_eq!(result.applied.len(), 6);
    assert_eq!(net_digests(&net), net_digests(&reinit(&seed_net(&device), &InitSpec::preset("seed", 0)).unwrap()));
}

#[derive(Module, Debug)]
struct WithScale {
    fc: Linear,
    scale: Param<Tensor<2>>,
}

#[test]
fn bad_input_names_the_parameter_and_changes_nothing() {
    let device = cpu();
    let m = WithScale {
        fc: LinearConfig::new(4, 3).init(&device),
        scale: Param::from_tensor(Tensor::ones([2, 5], &device)),
    };
    let before = (digest(m.fc.weight.val()), digest(m.scale.val()));
    let err = reinit(&m, &InitSpec::preset("seed", 0)).unwrap_err().to_string();
    assert!(err.contains("scale") && err.contains("[2, 5]"), "{err}");
    let plan = Plan::from_toml("[[rule]]\nlayer = \"Conv2d\"\ninit = \"orthogonal_()\"\n").unwrap();
    let err = reinit(&m, &InitSpec::preset("seed", 0).with_plan(plan)).unwrap_err().to_string();
    assert!(err.contains("Conv2d"), "{err}");
    assert_eq!(before, (digest(m.fc.weight.val()), digest(m.scale.val())));
    // A rule for it makes it drawable.
    let plan = Plan::from_toml("[[rule]]\nname = \"scale\"\ninit = \"ones_()\"\n").unwrap();
    let done = reinit(&m, &InitSpec::preset("seed", 0).with_plan(plan)).unwrap();
    assert_eq!(done.scale.val().into_data().try_to_vec::<f32>().unwrap(), vec![1.0; 10]);
}

/// Where burn's own init differs from PyTorch's (the README lists these).
#[test]
fn burn_defaults_differ_from_pytorch() {
    let device = cpu();
    let max_abs = |t: Tensor<2>| t.abs().max().into_scalar::<f32>() as f64;
    // LinearLayout::Col: burn passes fan_in = d_output, so Linear(1024, 4)'s weight is bounded by
    // 1/√4 instead of PyTorch's 1/√1024.
    let col = LinearConfig::new(1024, 4).with_layout(LinearLayout::Col).init(&device);
    assert!(max_abs(col.weight.val()) > 1.0 / 1024f64.sqrt() * 4.0);
    let row = LinearConfig::new(1024, 4).init(&device);
    assert!(max_abs(row.weight.val()) <= 1.0 / 1024f64.sqrt());
    // LSTM: burn draws xavier_normal_; PyTorch U(±1/√hidden).
    let lstm = LstmConfig::new(64, 64, true).init(&device);
    assert!(max_abs(lstm.input_gate.input_transform.weight.val()) > 1.0 / 8.0);
    // Grouped conv fan_out: burn divides by groups (out/groups · k), PyTorch does not (out · k).
    // kaiming_uniform_(mode='fan_out', a=0): burn's bound √(6/(2·9)) = 0.58 vs PyTorch's
    // √(6/(32·9)) = 0.14.
    let init = burn::nn::Initializer::KaimingUniform { gain: 2f64.sqrt(), fan_out_only: true };
    let c: Conv2d = Conv2dConfig::new([32, 32], [3, 3]).with_groups(16).with_initializer(init).init(&device);
    let w: Vec<f32> = c.weight.val().into_data().try_to_vec::<f32>().unwrap();
    let torch_bound = (6.0f64 / (32.0 * 9.0)).sqrt();
    assert!(w.iter().any(|x| (x.abs() as f64) > 2.0 * torch_bound));
    let mut plan = Plan::default();
    plan.rules.push(nninit::plan::Rule::new(
        Some("Conv2d"),
        Some(nninit::nn::Role::Weight),
        "kaiming_uniform_(mode='fan_out', nonlinearity='relu')".parse().unwrap(),
    ));
    let c = reinit(&c, &InitSpec::preset("torch", 0).with_plan(plan)).unwrap();
    let w: Vec<f32> = c.weight.val().into_data().try_to_vec::<f32>().unwrap();
    assert!(w.iter().all(|x| (x.abs() as f64) <= torch_bound));
    assert!(w.iter().any(|x| (x.abs() as f64) > 0.9 * torch_bound));
    // Transposed convolutions: burn gives its initializer no fan_out, so a Xavier (or fan_out
    // Kaiming) initializer panics when the weight is first used; PyTorch's fan_out of a
    // transposed weight [in, out/groups, k…] is in · k.
    let xavier = burn::nn::Initializer::XavierUniform { gain: 1.0 };
    let xavier_transposed = std::panic::catch_unwind(|| {
        ConvTranspose2dConfig::new([16, 8], [3, 3]).with_initializer(xavier).init(&cpu()).weight.val()
    });
    assert!(xavier_transposed.is_err());
    let mut plan = Plan::default();
    plan.rules.push(nninit::plan::Rule::new(
        Some("ConvTranspose2d"),
        Some(nninit::nn::Role::Weight),
        "xavier_uniform_()".parse().unwrap(),
    ));
    let t = reinit(
        &ConvTranspose2dConfig::new([16, 8], [3, 3]).init(&device),
        &InitSpec::preset("torch", 0).with_plan(plan),
    )
    .unwrap();
    // fan_in = 8 · 9, fan_out = 16 · 9: bound √(6 / 216).
    let bound = (6.0f64 / 216.0).sqrt();
    let w: Vec<f32> = t.weight.val().into_data().try_to_vec::<f32>().unwrap();
    assert!(w.iter().all(|x| (x.abs() as f64) <= bound));
    assert!(w.iter().any(|x| (x.abs() as f64) > 0.95 * bound));
}

/// Training is reproducible from the seed: two runs of 20 SGD steps on the seed's network
/// (autodiff), initialized from the same seed, give bit-identical losses.
#[test]
fn two_training_runs_from_one_seed_give_the_same_losses() {
    use burn::nn::loss::CrossEntropyLossConfig;
    use burn::optim::{GradientsParams, SgdConfig};
    use burn::tensor::{Int, TensorData};
    let mut g = nninit::Generator::manual_seed(3);
    let mut x = nninit::Tensor::zeros(&[64, 784], nninit::DType::F32);
    nninit::init::normal_(x.view_mut().unwrap(), 0.0, 1.0, &mut g).unwrap();
    let x: Vec<f32> = x.to_f64_vec().into_iter().map(|v| v as f32).collect();
    let run = |seed: u64| -> Vec<f32> {
        let device = cpu().autodiff();
        let mut net = reinit(&seed_net(&device), &InitSpec::preset("seed", seed)).unwrap();
        let x = Tensor::<2>::from_data(TensorData::new(x.clone(), [64, 784]), &device);
        let y =
            Tensor::<1, Int>::from_data(TensorData::new((0..64i64).map(|i| i % 10).collect::<Vec<_>>(), [64]), &device);
        let loss_fn = CrossEntropyLossConfig::new().init(&device);
        let mut optim = SgdConfig::new().init();
        (0..20)
            .map(|_| {
                let mut h = x.clone();
                for (i, l) in net.layer.iter().enumerate() {
                    h = l.forward(h);
                    if i < 2 {
                        h = burn::tensor::activation::relu(h);
                    }
                }
                let loss = loss_fn.forward(h, y.clone());
                let value = loss.clone().into_scalar::<f32>();
                let grads = GradientsParams::from_grads(loss.backward(), &net);
                net = optim.step(0.05, net.clone(), grads);
                value
            })
            .collect()
    };
    let first = run(0);
    assert_eq!(first, run(0));
    assert!(first[19] < first[0], "{first:?}");
    assert_ne!(first, run(1));
}
