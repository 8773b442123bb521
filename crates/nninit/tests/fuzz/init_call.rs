//! Target 2: the init-call parser (`Init` and a plan rule's `RuleInit`, whose arguments may be
//! constant arithmetic or expressions over variables). Inputs are calls of every scheme with
//! positional and keyword arguments drawn from the real parameter names, values of every kind
//! (numbers at the edges, strings the schemes accept and others, tuples, booleans, `None`,
//! `sqrt(...)`, expressions), then text mutations. Accepted inits print and parse back to
//! themselves, and are applied to small tensors of every dtype.

use std::collections::BTreeMap;

use nninit::init::Init;
use nninit::plan::RuleInit;
use nninit::{DType, Generator, Tensor};
use proptest::prelude::*;

use crate::harness::{fuzz, mutate_text, mutations, number_text, Mutation, Target};

static TARGET: Target = Target::new("init-call");

pub const SCHEMES: &[&str] = &[
    "uniform_",
    "normal_",
    "trunc_normal_",
    "constant_",
    "ones_",
    "zeros_",
    "eye_",
    "dirac_",
    "xavier_uniform_",
    "xavier_normal_",
    "kaiming_uniform_",
    "kaiming_normal_",
    "orthogonal_",
    "sparse_",
    "lecun_uniform_",
    "lecun_normal_",
    "variance_scaling_",
    "glorot_uniform_",
    "glorot_normal_",
    "he_uniform_",
    "he_normal_",
    "jax_lecun_uniform_",
    "jax_lecun_normal_",
    "delta_orthogonal_",
    "identity_",
    "zero_init_",
    "scaled_normal_",
    "small_init_",
    "wang_init_",
    "olmo_mitchell_",
    "deepnorm_",
    "fixup_",
    "t_fixup_",
    "mup_normal_",
];

const PARAMS: &[&str] = &[
    "a",
    "b",
    "mean",
    "std",
    "val",
    "groups",
    "gain",
    "mode",
    "nonlinearity",
    "sparsity",
    "scale",
    "distribution",
    "in_axis",
    "out_axis",
    "batch_axis",
    "n_layers",
    "dim",
    "d",
    "layer_id",
    "std_factor",
    "encoder_layers",
    "decoder_layers",
    "stack",
    "n_branches",
    "m",
    "base_fan_in",
    "readout",
    "generator",
    "tensor",
    "sd",
];

const STRINGS: &[&str] = &[
    "'fan_in'",
    "'fan_out'",
    "'fan_avg'",
    "'relu'",
    "'leaky_relu'",
    "'tanh'",
    "'linear'",
    "'sigmoid'",
    "'selu'",
    "'conv2d'",
    "'encoder'",
    "'decoder'",
    "'normal'",
    "'uniform'",
    "'truncated_normal'",
    "''",
    "'x'",
    "\"relu\"",
    "fan_in",
    "True",
    "False",
    "None",
];

/// Expressions a rule argument may hold: constant arithmetic, variables, and the ways both go
/// wrong (division by zero, overflow, domain errors, unknown names and functions).
const EXPRESSIONS: &[&str] = &[
    "0.02 / sqrt(2 * n_layer)",
    "1 / sqrt(fan_in)",
    "2 / (n_layer * math.sqrt(d_model))",
    "1 / 0",
    "2 ** 1024",
    "-2 ** 0.5",
    "(-8) ** (1 / 3)",
    "n_layer",
    "fan_in // 0",
    "7 % 0",
    "log(0)",
    "sqrt(-1)",
    "exp(1000)",
    "max()",
    "min(1)",
    "pow(2)",
    "gamma(2)",
    "inf - inf",
    "-inf",
    "inf",
    "d_model / base_width",
    "layer_index + 1",
    "numel ** 2",
    "1e308 * 10",
    "floor(-0.5)",
    "abs(-inf)",
    "e ** pi",
    "((((1))))",
];

const TOKENS: &[&str] = &[
    "(",
    ")",
    ",",
    "=",
    "'",
    "\"",
    "-",
    "*",
    "/",
    "**",
    "//",
    "%",
    "sqrt(",
    "math.",
    "inf",
    "None",
    " ",
    "1e309",
    "[",
    "]",
    "_",
    ".",
    "0",
    "nan",
    "\u{e9}",
    "torch.nn.init.",
];

fn name() -> impl Strategy<Value = String> {
    let scheme = prop::sample::select(SCHEMES);
    prop_oneof![
        6 => scheme.clone().prop_map(String::from),
        1 => scheme.clone().prop_map(|s| s.trim_end_matches('_').to_string()),
        1 => scheme.prop_map(|s| format!("torch.nn.init.{s}")),
        1 => prop::sample::select(&["glorot_", "", "keep_", "normal__", "Normal_", "math.sqrt", "nn.init."][..])
            .prop_map(String::from),
    ]
}

fn value(with_expressions: bool) -> impl Strategy<Value = String> {
    let leaf = prop_oneof![
        6 => number_text(),
        2 => prop::sample::select(STRINGS).prop_map(String::from),
        1 => number_text().prop_map(|x| format!("sqrt({x})")),
        1 => prop::collection::vec(number_text(), 0..4).prop_map(|v| format!("({})", v.join(", "))),
        1 => prop::collection::vec(number_text(), 0..3).prop_map(|v| format!("[{}]", v.join(", "))),
    ];
    let expressions = if with_expressions { 3 } else { 0 };
    prop_oneof![
        10 => leaf,
        expressions => prop::sample::select(EXPRESSIONS).prop_map(String::from),
    ]
}

fn argument(with_expressions: bool) -> impl Strategy<Value = String> {
    (prop::option::weighted(0.5, prop::sample::select(PARAMS)), value(with_expressions)).prop_map(
        |(key, v)| match key {
            Some(k) => format!("{k}={v}"),
            None => v,
        },
    )
}

#[derive(Clone, Debug)]
pub struct CallSpec {
    pub text: String,
    mutations: Vec<Mutation>,
    shape: Vec<usize>,
    dtype: u8,
    seed: u64,
    vars: Vec<(String, f64)>,
}

impl CallSpec {
    pub fn input(&self) -> String {
        mutate_text(&self.text, &self.mutations, TOKENS)
    }
}

/// A call as written in `--init` or a plan (`with_expressions`: arguments may be expressions).
pub fn call_text(with_expressions: bool) -> impl Strategy<Value = String> {
    (name(), prop::collection::vec(argument(with_expressions), 0..7), 0u8..10).prop_map(|(name, args, form)| match form
    {
        0 => name,
        _ => format!("{name}({})", args.join(", ")),
    })
}

fn shape() -> impl Strategy<Value = Vec<usize>> {
    prop_oneof![
        Just(vec![]),
        Just(vec![0]),
        Just(vec![5]),
        Just(vec![4, 3]),
        Just(vec![3, 4]),
        Just(vec![0, 4]),
        Just(vec![2, 3, 3]),
        Just(vec![4, 2, 2, 2]),
        Just(vec![2, 2, 1, 3, 3]),
        Just(vec![1, 1]),
    ]
}

fn var_value() -> impl Strategy<Value = f64> {
    prop_oneof![
        4 => (0u32..100).prop_map(f64::from),
        1 => prop::sample::select(&[0.0, -1.0, 0.5, 1e308, -1e308, f64::INFINITY, f64::NEG_INFINITY, f64::NAN, 1e-320][..]),
        1 => any::<f64>(),
    ]
}

fn call_spec(with_expressions: bool) -> impl Strategy<Value = CallSpec> {
    let names = prop::sample::select(&["n_layer", "d_model", "fan_in", "base_width", "layer_index", "numel"][..]);
    (
        call_text(with_expressions),
        mutations(),
        shape(),
        0u8..4,
        any::<u64>(),
        prop::collection::vec((names.prop_map(String::from), var_value()), 0..6),
    )
        .prop_map(|(text, mutations, shape, dtype, seed, vars)| CallSpec {
            text,
            mutations,
            shape,
            dtype,
            seed,
            vars,
        })
}

fn show(spec: &CallSpec) -> String {
    format!("{:?} (shape {:?}, vars {:?})", spec.input(), spec.shape, spec.vars)
}

/// Applies `init` to a zero tensor of `spec`'s shape and dtype (as a whole and, when it is
/// elementwise, as a range of a counter-based stream), and asks its expected std: any error is
/// fine, a panic is not.
pub fn exercise(init: &Init, shape: &[usize], dtype: u8, seed: u64) {
    let dtype = [DType::F32, DType::F64, DType::F16, DType::BF16][dtype as usize % 4];
    let mut t = Tensor::zeros(shape, dtype);
    if let Ok(view) = t.view_mut() {
        let _ = init.apply(view, &mut Generator::manual_seed(seed));
    }
    let _ = init.expected_std(shape);
    let numel: usize = shape.iter().product();
    if init.is_elementwise() && numel > 1 {
        let mut part = Tensor::zeros(&[numel - 1], dtype);
        if let Ok(view) = part.view_mut() {
            let _ = init.apply_range(shape, 1, view.into_data(), seed, "w");
        }
    }
}

/// `Init`: never panics; what parses prints as a call that parses back to the same init.
fn init_property(spec: &CallSpec) {
    let input = spec.input();
    if let Ok(init) = input.parse::<Init>() {
        let printed = init.to_string();
        match printed.parse::<Init>() {
            Ok(again) => assert_eq!(again, init, "{input:?} printed as {printed:?}"),
            Err(e) => panic!("{input:?} printed as {printed:?}, which does not parse: {e}"),
        }
        exercise(&init, &spec.shape, spec.dtype, spec.seed);
    }
}

/// `RuleInit`: never panics; a template resolves (or fails) with any variables, and what it
/// resolves to is applied.
fn rule_property(spec: &CallSpec) {
    let input = spec.input();
    if let Ok(rule) = input.parse::<RuleInit>() {
        let vars: BTreeMap<String, f64> = spec.vars.iter().cloned().collect();
        let _ = rule.variables();
        let printed = rule.to_string();
        assert!(printed.parse::<RuleInit>().is_ok(), "{input:?} printed as {printed:?}, which does not parse");
        if let Ok(Some(init)) = rule.resolve(&vars) {
            exercise(&init, &spec.shape, spec.dtype, spec.seed);
        }
    }
}

#[test]
fn init_calls_never_panic_and_round_trip() {
    fuzz(&TARGET, call_spec(false), show, init_property);
}

static RULE_TARGET: Target = Target::new("rule-init");

#[test]
fn rule_inits_never_panic() {
    fuzz(&RULE_TARGET, call_spec(true), show, rule_property);
}
