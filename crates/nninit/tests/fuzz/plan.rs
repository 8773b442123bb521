//! Target 4: plan TOML. Inputs are plans with a `[vars]` table (numbers at the edges and
//! expressions) and `[[rule]]` tables whose keys are the real ones (and unknown ones), with
//! globs, roles, block indices and ranges, gates and init calls with expressions over the
//! model's variables; then text mutations. Accepted plans print as TOML that parses again, and
//! are applied to a small model with every layer kind a rule can select, which is then
//! materialized.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use nninit::nn::Model;
use nninit::plan::{config_vars, Expr, Plan};
use nninit::DType;
use proptest::prelude::*;

use crate::harness::{fuzz, mutate_text, mutations, number_text, Mutation, Target};
use crate::init_call::call_text;
use crate::model::check_model;

static TARGET: Target = Target::new("plan");

const VAR_NAMES: &[&str] = &["n_layer", "d_model", "base_width", "width_mult", "fan_in", "x", "a b", "", "std"];
const VAR_EXPRESSIONS: &[&str] =
    &["d_model / base_width", "n_layer * 2", "x", "x + 1", "1 / 0", "sqrt(-1)", "(", "y", "2 ** 2000"];
const GLOBS: &[&str] = &[
    "Linear",
    "Conv*d",
    "*",
    "**",
    "LSTM",
    "Embedding",
    "LayerNorm",
    "[",
    "{a,b",
    "[!a]",
    "\\",
    "",
    "*.weight",
    "layer.0.*",
    "**/bias",
    "0.weight",
    "{Linear,LSTM}",
    "Lin?ar",
    "[z-a]",
];
const ROLES: &[&str] = &["weight", "bias", "recurrent", "embedding", "norm_weight", "norm_bias", "bogus", "Weight", ""];
const INDEXES: &[&str] = &[
    "0",
    "3",
    "[0, 11]",
    "[]",
    "\"0..4\"",
    "\"8..\"",
    "\"..2\"",
    "\"5..2\"",
    "\"..\"",
    "\"a..b\"",
    "\"1\"",
    "-1",
    "1e20",
    "18446744073709551616",
    "\"0..18446744073709551616\"",
    "[1, -1]",
    "true",
];
const GATES: &[&str] = &["forget", "input", "cell", "output", "reset", "update", "new", "bogus", ""];
const TOKENS: &[&str] = &[
    "[", "]", "[[rule]]", "[vars]", "\n", "=", "\"", "'", "#", "{", "}", ",", "init = ", "layer = ", "\\", "\\u0000",
    "nan", "inf", "1e400", "\"\"\"",
];

/// A TOML basic string holding `s`.
fn quoted(s: &str) -> String {
    toml::Value::String(s.to_string()).to_string()
}

fn toml_number() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => (0u32..64).prop_map(|n| n.to_string()),
        1 => prop::sample::select(&["nan", "inf", "-inf", "0.5", "-3", "1e300", "0", "1e-320", "+1"][..]).prop_map(String::from),
        1 => any::<i64>().prop_map(|n| n.to_string()),
    ]
}

fn var_line() -> impl Strategy<Value = String> {
    let value = prop_oneof![
        2 => toml_number(),
        1 => prop::sample::select(VAR_EXPRESSIONS).prop_map(quoted),
        1 => number_text().prop_map(|x| quoted(&x)),
    ];
    (prop::sample::select(VAR_NAMES), value).prop_map(|(name, v)| format!("{} = {v}", quoted(name)))
}

fn one_or_many(items: &'static [&'static str]) -> impl Strategy<Value = String> {
    prop_oneof![
        3 => prop::sample::select(items).prop_map(quoted),
        1 => prop::collection::vec(prop::sample::select(items).prop_map(quoted), 0..3)
            .prop_map(|v| format!("[{}]", v.join(", "))),
    ]
}

fn rule() -> impl Strategy<Value = String> {
    (
        prop::option::weighted(0.6, one_or_many(GLOBS)),
        prop::option::weighted(0.3, one_or_many(GLOBS)),
        prop::option::weighted(0.4, prop::sample::select(ROLES).prop_map(quoted)),
        prop::option::weighted(0.2, prop::sample::select(INDEXES).prop_map(String::from)),
        prop::option::weighted(0.95, call_text(true).prop_map(|c| quoted(&c))),
        prop::option::weighted(0.15, prop::sample::select(GATES).prop_map(quoted)),
        prop::option::weighted(0.1, prop::sample::select(&["true", "false", "1"][..])),
        prop::option::weighted(0.03, Just("bogus = 1")),
    )
        .prop_map(|(layer, name, role, index, init, gate, zero, bogus)| {
            let mut lines = vec!["[[rule]]".to_string()];
            let fields = [
                ("layer", layer),
                ("name", name),
                ("role", role),
                ("layer_index", index),
                ("init", init),
                ("gate", gate),
                ("zero_padding", zero.map(String::from)),
            ];
            lines.extend(fields.into_iter().filter_map(|(k, v)| v.map(|v| format!("{k} = {v}"))));
            lines.extend(bogus.map(String::from));
            lines.join("\n")
        })
}

#[derive(Clone, Debug)]
struct PlanSpec {
    text: String,
    mutations: Vec<Mutation>,
    seed: u64,
}

impl PlanSpec {
    fn input(&self) -> String {
        mutate_text(&self.text, &self.mutations, TOKENS)
    }
}

fn spec() -> impl Strategy<Value = PlanSpec> {
    let text = (prop::option::of(prop::collection::vec(var_line(), 0..4)), prop::collection::vec(rule(), 0..4))
        .prop_map(|(vars, rules)| {
            let mut parts = Vec::new();
            if let Some(vars) = vars {
                parts.push(format!("[vars]\n{}", vars.join("\n")));
            }
            parts.extend(rules);
            parts.join("\n\n")
        });
    (text, mutations(), any::<u64>()).prop_map(|(text, mutations, seed)| PlanSpec { text, mutations, seed })
}

fn show(spec: &PlanSpec) -> String {
    format!("{:?}", spec.input())
}

/// A small model with every kind of parameter a rule can select: linear and conv weights and
/// biases, recurrent gates, an embedding with a padding row, norms.
fn model() -> &'static Model {
    static MODEL: OnceLock<Model> = OnceLock::new();
    MODEL.get_or_init(|| {
        let src = "nn.Sequential(nn.Embedding(10, 4, padding_idx=0), nn.LSTM(4, 3, num_layers=2), nn.GRU(3, 2), \
                   nn.Linear(2, 4), nn.Conv2d(4, 2, 3), nn.LayerNorm(2), nn.BatchNorm1d(2), \
                   nn.ModuleList([nn.Linear(3, 3), nn.Linear(3, 3)]), nn.MultiheadAttention(4, 2))";
        nninit::arch::from_torch_ctor(src, DType::F32).expect("the plan target's model")
    })
}

/// Never panics; an accepted plan round-trips through TOML and applies (or fails) on the
/// model, which then materializes.
fn property(spec: &PlanSpec) {
    let input = spec.input();
    let Ok(plan) = Plan::from_toml(&input) else { return };
    let printed = plan.to_toml();
    if let Err(e) = Plan::from_toml(&printed) {
        panic!("{input:?} printed as {printed:?}, which does not parse: {e}");
    }
    for value in plan.vars.values() {
        if let nninit::plan::VarValue::Expr(src) = value {
            assert!(Expr::parse(src).is_ok(), "[vars] expression {src:?} was accepted but does not parse");
        }
    }
    let config = serde_json::json!({"num_hidden_layers": 2, "hidden_size": 4, "num_attention_heads": 2});
    let vars: BTreeMap<String, f64> = config_vars(&config);
    let mut m = model().clone();
    if plan.apply_with(&mut m, &vars).is_ok() {
        check_model(&mut m, spec.seed);
    }
}

#[test]
fn plans_never_panic() {
    fuzz(&TARGET, spec(), show, property);
}
