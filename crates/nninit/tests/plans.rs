//! Plans that read the model's variables, select blocks by index, keep given values, report
//! rules that select nothing, and checkpoints that record how they were made.

use std::collections::BTreeMap;

use nninit::init::Init;
use nninit::io::{Checkpoint, Overwrite};
use nninit::job::{self, InitJob, Source};
use nninit::nn::{Layer, Model, Role, SlotKind};
use nninit::plan::{Plan, Unmatched};
use nninit::rng::Stream;
use nninit::{DType, Tensor};

fn data(file: &str) -> std::path::PathBuf {
    format!("{}/tests/data/{file}", env!("CARGO_MANIFEST_DIR")).into()
}

fn job(source: Source, plan: &str) -> InitJob {
    InitJob {
        source,
        preset: None,
        plan: Some(Plan::from_toml(plan).unwrap()),
        seed: 0,
        dtype: None,
        rng: Stream::Torch,
        shard: None,
        unmatched: Unmatched::Error,
    }
}

fn applied(outcome: &job::Outcome) -> BTreeMap<String, Option<Init>> {
    outcome.report.applied.iter().map(|a| (a.path.clone(), a.init.as_deref().cloned())).collect()
}

/// GPT-2's scaled residual init written as an expression over the config's `n_layer`, for the
/// blocks `layer_index` selects.
#[test]
fn expressions_read_the_config_and_layer_index_selects_blocks() {
    let config: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(data("gpt2-tiny.config.json")).unwrap()).unwrap();
    let n_layer = config["n_layer"].as_f64().unwrap();
    assert!(n_layer >= 2.0, "the test needs two blocks");
    let plan = r#"
        [[rule]]
        name = "*.c_proj.weight"
        layer_index = "1.."
        init = "normal_(0, 0.02 / sqrt(2 * n_layer))"

        [[rule]]
        name = "*.c_fc.weight"
        init = "uniform_(-1 / sqrt(fan_in), 1 / sqrt(fan_in))"
    "#;
    let outcome = job::run(&job(Source::Config(data("gpt2-tiny.config.json")), plan)).unwrap();
    let got = applied(&outcome);
    let scaled = Init::Normal { mean: 0.0, std: 0.02 / (2.0 * n_layer).sqrt() };
    for (path, init) in &got {
        if path.ends_with(".c_proj.weight") && path.starts_with("transformer.h.") {
            let block: usize = path.split('.').nth(2).unwrap().parse().unwrap();
            if block >= 1 {
                assert_eq!(init.as_ref(), Some(&scaled), "{path}");
            } else {
                // Block 0 keeps GPT-2's own init (the preset has no rules: `torch`).
                assert_eq!(init, &None, "{path}");
            }
        }
        if path.ends_with(".c_fc.weight") {
            // Conv1D stores [in, out]: fan_in is PyTorch's, from dim 1.
            let shape = outcome
                .model
                .tensor(outcome.model.state_dict().iter().find(|(n, _)| n == path).unwrap().1)
                .shape()
                .to_vec();
            let b = 1.0 / (shape[1] as f64).sqrt();
            assert_eq!(init.as_ref(), Some(&Init::Uniform { a: -b, b }), "{path}");
        }
    }
    assert!(got.keys().any(|p| p == "transformer.h.1.attn.c_proj.weight"));
    // The variables are the config's: a plan reading one the config lacks names it and the rule.
    let bad = r#"
        [[rule]]
        name = "*.c_proj.weight"
        init = "normal_(0, 0.02 / sqrt(2 * n_layers))"
    "#;
    let err = job::run(&job(Source::Config(data("gpt2-tiny.config.json")), bad)).err().unwrap().to_string();
    assert!(err.contains("unknown variable `n_layers`") && err.contains("rule 1"), "{err}");
    assert!(err.starts_with("transformer.h.0.attn.c_proj.weight (shape"), "{err}");
}

/// `[vars]` of the plan itself, μP's `width_mult`, and values drawn as the resolved init draws.
#[test]
fn plan_vars_and_values() {
    let plan = r#"
        [vars]
        base_width = 16
        depth = "n_layer + 1"

        [[rule]]
        layer = "Linear"
        role = "weight"
        init = "normal_(0, 1 / sqrt(fan_in * width_mult * depth))"
    "#;
    // An MLP has no `d_model`, so no `width_mult` either until the plan defines it.
    let source = Source::Arch { name: "mlp".into(), dims: vec![64, 32, 8] };
    let err = job::run(&job(source, plan)).err().unwrap().to_string();
    assert!(err.contains("unknown variable `width_mult`"), "{err}");
    let plan_ok = plan.replace("base_width = 16", "base_width = 16\nd_model = 32");
    let source = Source::Arch { name: "mlp".into(), dims: vec![64, 32, 8] };
    let mut outcome = job::run(&job(source, &plan_ok)).unwrap();
    let got = applied(&outcome);
    let std = |fan_in: f64| 1.0 / (fan_in * 2.0 * 3.0f64).sqrt();
    assert_eq!(got["layer.0.weight"], Some(Init::Normal { mean: 0.0, std: std(64.0) }));
    assert_eq!(got["layer.2.weight"], Some(Init::Normal { mean: 0.0, std: std(32.0) }));
    // Drawn as `normal_` with that std draws: the same bytes as the init written out.
    outcome.model.materialize(Stream::Torch, 0).unwrap();
    let mut direct = job::run(&job(
        Source::Arch { name: "mlp".into(), dims: vec![64, 32, 8] },
        &format!(
            "[[rule]]\nname = \"layer.0.weight\"\ninit = \"normal_(0, {:?})\"\n[[rule]]\nname = \"layer.2.weight\"\ninit = \"normal_(0, {:?})\"\n",
            std(64.0),
            std(32.0)
        ),
    ))
    .unwrap();
    direct.model.materialize(Stream::Torch, 0).unwrap();
    for ((n, a), (_, b)) in outcome.model.state_dict().iter().zip(direct.model.state_dict()) {
        assert_eq!(outcome.model.tensor(*a), direct.model.tensor(b), "{n}");
    }
    let circle = "[vars]\nx = \"y\"\ny = \"x\"\n[[rule]]\nlayer = \"Linear\"\ninit = \"zeros_()\"\n";
    let source = Source::Arch { name: "mlp".into(), dims: vec![4, 2] };
    let err = job::run(&job(source, circle)).err().unwrap().to_string();
    assert!(err.contains("depend on each other"), "{err}");
}

/// `keep_()`: the tensor ends with the values it was given, on both streams, whatever was
/// recorded before it (the earlier draws still happen on PyTorch's stream).
#[test]
fn keep_leaves_given_values() {
    let given = Tensor::from_f32(&[2, 3], vec![1.0, -2.0, 3.5, 0.25, 8.0, -0.5]).unwrap();
    let build = || {
        let mut m = Model::new(DType::F32);
        let lin = m.add(Layer::linear(3, 2)).unwrap();
        let table = m.container(Layer::Custom("Table".into()), &[]);
        m.register(table, "freq", given.clone(), Role::Weight, SlotKind::Parameter).unwrap();
        let root = m.sequential(&[lin, table]);
        m.set_root(root).unwrap();
        m
    };
    let plan =
        Plan::from_toml("[[rule]]\nname = \"1.freq\"\ninit = \"keep_()\"\n[[rule]]\ninit = \"ones_()\"\n").unwrap();
    for stream in [Stream::Torch, Stream::Philox] {
        let mut m = build();
        // An init recorded first is overridden by keep_().
        m.apply(|mut mm| mm.init("freq", &Init::Normal { mean: 0.0, std: 1.0 })).unwrap();
        let report = plan.apply(&mut m).unwrap();
        assert!(report.unmatched.is_empty());
        m.materialize(stream, 0).unwrap();
        let sd = m.state_dict();
        assert_eq!(m.tensor(sd[2].1), &given, "{stream:?}");
        assert!(m.tensor(sd[0].1).to_f64_vec().iter().all(|&x| x == 1.0));
        let mut written = m.clone();
        written.apply(|mut mm| mm.init("weight", &Init::Ones)).unwrap();
        let path = std::env::temp_dir().join(format!("nninit-keep-{stream}.safetensors"));
        written.save(&path, stream, 0, Overwrite::Replace).unwrap();
        let ckpt = Checkpoint::open(&path).unwrap();
        // Model::save records how the file was made, as `nninit init` does.
        assert_eq!(
            (ckpt.metadata()["nninit.rng"].as_str(), ckpt.metadata()["nninit.seed"].as_str()),
            (stream.to_string().as_str(), "0")
        );
        let inits: serde_json::Value = serde_json::from_str(&ckpt.metadata()["nninit.inits"]).unwrap();
        assert_eq!(inits["1.freq"]["init"], "keep_() (given values)");
        assert_eq!(inits["0.weight"]["init"], "ones_()");
        let freq = ckpt.tensors().iter().find(|t| t.name == "1.freq").unwrap().clone();
        assert_eq!(ckpt.tensor(&freq).unwrap().bytes(), given.bytes(), "{stream:?} streamed");
        std::fs::remove_file(&path).ok();
    }
    // Nothing to keep: a tensor without given values is an error naming it.
    let mut m = Model::new(DType::F32);
    let lin = m.add(Layer::linear(3, 2)).unwrap();
    m.set_root(lin).unwrap();
    Plan::from_toml("[[rule]]\nname = \"weight\"\ninit = \"keep_()\"\n").unwrap().apply(&mut m).unwrap();
    for stream in [Stream::Torch, Stream::Philox] {
        let err = m.clone().materialize(stream, 0).unwrap_err().to_string();
        assert!(err.starts_with("weight (shape [2, 3]): keep_(): the tensor has no given values"), "{err}");
    }
}

/// P1: the nearest real layer type for a misspelt one, on a model that has it.
#[test]
fn unmatched_rules_suggest_the_nearest_layer_type() {
    let mut m = nninit::arch::build("resnet18", &[], DType::F32).unwrap();
    let plan = Plan::from_toml(
        "[[rule]]\nlayer = \"Conv2D\"\ninit = \"zeros_()\"\n[[rule]]\nlayer = \"BatchNorm\"\ninit = \"ones_()\"\n",
    )
    .unwrap();
    let report = plan.apply(&mut m).unwrap();
    let text: Vec<String> = report.unmatched.iter().map(|u| u.to_string()).collect();
    assert_eq!(
        text,
        [
            "rule 1 (layer = \"Conv2D\", init = \"zeros_()\") selected no parameter; did you mean layer = \"Conv2d\"?",
            "rule 2 (layer = \"BatchNorm\", init = \"ones_()\") selected no parameter; did you mean layer = \"BatchNorm2d\"?",
        ]
    );
    assert!(Plan::check_unmatched(&report, Unmatched::Error).is_err());
    assert!(Plan::check_unmatched(&report, Unmatched::Warn).is_ok());
}

/// The checkpoint records how it was made: version, seed, stream, plan and each parameter's
/// final init with its fans.
#[test]
fn checkpoints_record_how_they_were_made() {
    let plan = "[[rule]]\nlayer = \"Linear\"\nrole = \"bias\"\ninit = \"constant_(0.5)\"\n";
    let mut j = job(Source::Arch { name: "mlp".into(), dims: vec![6, 4, 2] }, plan);
    j.rng = Stream::Philox;
    j.seed = 9;
    let outcome = job::run(&j).unwrap();
    let path = std::env::temp_dir().join("nninit-metadata.safetensors");
    outcome.save(&path, Overwrite::Replace, BTreeMap::new()).unwrap();
    let ckpt = Checkpoint::open(&path).unwrap();
    let meta = ckpt.metadata();
    assert_eq!(meta["nninit.seed"], "9");
    assert_eq!(meta["nninit.rng"], "philox");
    assert_eq!(meta["nninit.version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(Plan::from_toml(&meta["nninit.plan"]).unwrap(), outcome.plan);
    let inits: serde_json::Value = serde_json::from_str(&meta["nninit.inits"]).unwrap();
    assert_eq!(
        inits["layer.0.weight"],
        serde_json::json!({"init": "xavier_normal_(gain=1.0)", "fan_in": 6, "fan_out": 4})
    );
    assert_eq!(inits["layer.0.bias"], serde_json::json!({"init": "constant_(val=0.5)"}));
    assert_eq!(inits.as_object().unwrap().len(), 4);
    std::fs::remove_file(&path).ok();
}
