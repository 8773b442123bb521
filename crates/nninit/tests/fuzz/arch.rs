//! Target 3: `--arch`, a built-in name with `--dims`, or `torch.nn` constructor calls nested as
//! Python nests them (`nn.Sequential(nn.Linear(4, 4), nn.ReLU())`). Inputs are trees of real
//! layer classes with arguments from their real parameter names, containers holding modules or
//! values where modules belong, numbers at the edges, dtypes; then text mutations. Built models
//! stay recipes unless small (see [`crate::model`]).

use nninit::arch::{build, from_torch_ctor, ARCHS};
use nninit::DType;
use proptest::prelude::*;

use crate::harness::{fuzz, mutate_text, mutations, number_text, Mutation, Target};
use crate::model::check_model;

static TARGET: Target = Target::new("arch");

const LAYERS: &[&str] = &[
    "Linear",
    "Bilinear",
    "Conv1d",
    "Conv2d",
    "Conv3d",
    "ConvTranspose1d",
    "ConvTranspose2d",
    "ConvTranspose3d",
    "Conv4d",
    "BatchNorm1d",
    "BatchNorm2d",
    "BatchNorm3d",
    "InstanceNorm1d",
    "InstanceNorm2d",
    "LayerNorm",
    "RMSNorm",
    "GroupNorm",
    "Embedding",
    "EmbeddingBag",
    "LSTM",
    "GRU",
    "RNN",
    "LSTMCell",
    "GRUCell",
    "RNNCell",
    "MultiheadAttention",
    "TransformerEncoderLayer",
    "TransformerDecoderLayer",
    "Transformer",
    "ReLU",
    "GELU",
    "Dropout",
    "Identity",
    "Flatten",
    "Softmax",
    "Foo",
    "Sequential",
    "ModuleList",
];

const KEYWORDS: &[&str] = &[
    "in_features",
    "out_features",
    "bias",
    "in_channels",
    "out_channels",
    "kernel_size",
    "stride",
    "padding",
    "dilation",
    "groups",
    "padding_mode",
    "output_padding",
    "num_features",
    "affine",
    "track_running_stats",
    "normalized_shape",
    "elementwise_affine",
    "eps",
    "num_groups",
    "num_channels",
    "num_embeddings",
    "embedding_dim",
    "padding_idx",
    "max_norm",
    "input_size",
    "hidden_size",
    "num_layers",
    "bidirectional",
    "proj_size",
    "nonlinearity",
    "batch_first",
    "dropout",
    "embed_dim",
    "num_heads",
    "add_bias_kv",
    "kdim",
    "vdim",
    "d_model",
    "nhead",
    "dim_feedforward",
    "norm_first",
    "num_encoder_layers",
    "num_decoder_layers",
    "custom_encoder",
    "activation",
    "dtype",
    "device",
    "modules",
    "norm",
    "num_layers",
    "enable_nested_tensor",
    "in1_features",
    "in2_features",
    "mode",
    "x",
];

const VALUES: &[&str] = &[
    "True",
    "False",
    "None",
    "'tanh'",
    "'relu'",
    "'zeros'",
    "'reflect'",
    "'same'",
    "'gelu'",
    "torch.float32",
    "torch.float64",
    "torch.bfloat16",
    "torch.float16",
    "torch.int8",
    "'f32'",
    "'bf16'",
    "'cpu'",
    "(2, 3)",
    "(3,)",
    "()",
    "[4, 4]",
    "(0, 0)",
    "(2, 2, 2)",
    "x",
    "nn",
];

const TOKENS: &[&str] = &[
    "(",
    ")",
    ",",
    "=",
    "'",
    "nn.",
    "torch.nn.",
    "Linear(",
    "Sequential(",
    "[",
    "]",
    "-",
    "1e309",
    " ",
    "0",
    "None",
    "dtype=torch.float64",
    "(((",
    ")))",
];

fn value() -> impl Strategy<Value = String> {
    prop_oneof![6 => number_text(), 2 => prop::sample::select(VALUES).prop_map(String::from)]
}

fn prefix() -> impl Strategy<Value = &'static str> {
    prop::sample::select(&["nn.", "nn.", "torch.nn.", ""][..])
}

/// A layer call with 0-5 positional and 0-3 keyword arguments (small sizes most often).
fn layer() -> impl Strategy<Value = String> {
    let positional = prop_oneof![4 => (1u32..9).prop_map(|n| n.to_string()), 1 => value()];
    (
        prefix(),
        prop::sample::select(LAYERS),
        prop::collection::vec(positional, 0..6),
        prop::collection::vec((prop::sample::select(KEYWORDS), value()), 0..4),
    )
        .prop_map(|(prefix, class, positional, keyword)| {
            let mut args = positional;
            args.extend(keyword.into_iter().map(|(k, v)| format!("{k}={v}")));
            format!("{prefix}{class}({})", args.join(", "))
        })
}

/// Containers of modules (and of values where modules belong), nested.
fn tree() -> impl Strategy<Value = String> {
    layer().prop_recursive(4, 24, 4, |inner| {
        let count = prop_oneof![4 => (1u32..4).prop_map(|n| n.to_string()), 1 => number_text()];
        prop_oneof![
            3 => (prefix(), prop::collection::vec(inner.clone(), 0..4))
                .prop_map(|(p, items)| format!("{p}Sequential({})", items.join(", "))),
            1 => (prefix(), prop::collection::vec(inner.clone(), 0..3))
                .prop_map(|(p, items)| format!("{p}ModuleList([{}])", items.join(", "))),
            1 => (prefix(), prop::sample::select(&["TransformerEncoder", "TransformerDecoder"][..]), inner.clone(), count, prop::option::of(inner.clone()))
                .prop_map(|(p, class, layer, n, norm)| match norm {
                    Some(norm) => format!("{p}{class}({layer}, {n}, norm={norm})"),
                    None => format!("{p}{class}({layer}, num_layers={n})"),
                }),
            1 => (prefix(), prop::collection::vec(prop_oneof![inner.clone(), value()], 0..3))
                .prop_map(|(p, items)| format!("{p}Sequential({})", items.join(", "))),
            1 => (prefix(), inner.clone(), 1u32..4)
                .prop_map(|(p, layer, n)| format!("{p}TransformerEncoder({p}TransformerEncoderLayer(4, 2, 8), {n}, {layer})")),
        ]
    })
}

#[derive(Clone, Debug)]
struct ArchSpec {
    /// `Some`: a built-in name with these `--dims`; `None`: the constructor text.
    builtin: Option<(String, Vec<usize>)>,
    text: String,
    mutations: Vec<Mutation>,
    dtype: u8,
    seed: u64,
}

impl ArchSpec {
    fn input(&self) -> String {
        mutate_text(&self.text, &self.mutations, TOKENS)
    }
}

fn dims() -> impl Strategy<Value = Vec<usize>> {
    let d = prop_oneof![
        8 => 0usize..9,
        1 => prop::sample::select(&[1usize << 32, 1 << 40, 1 << 53, usize::MAX, 100_000][..]),
    ];
    prop::collection::vec(d, 0..6)
}

fn spec() -> impl Strategy<Value = ArchSpec> {
    let builtin = prop_oneof![
        1 => Just(None),
        1 => (prop::sample::select(&["mlp", "mlp", "mlp", "MLP", "", "resnet"][..]), dims())
            .prop_map(|(n, d)| Some((n.to_string(), d))),
    ];
    (prop_oneof![9 => Just(None), 1 => builtin], tree(), mutations(), 0u8..4, any::<u64>())
        .prop_map(|(builtin, text, mutations, dtype, seed)| ArchSpec { builtin, text, mutations, dtype, seed })
}

fn show(spec: &ArchSpec) -> String {
    match &spec.builtin {
        Some((name, dims)) => format!("--arch {name:?} --dims {dims:?}"),
        None => format!("{:?}", spec.input()),
    }
}

/// Never panics; a built model has addressable shapes and, if small, materializes.
fn property(spec: &ArchSpec) {
    let dtype = [DType::F32, DType::F64, DType::F16, DType::BF16][spec.dtype as usize % 4];
    let built = match &spec.builtin {
        Some((name, dims)) => build(name, dims, dtype),
        None => from_torch_ctor(&spec.input(), dtype),
    };
    if let Ok(mut model) = built {
        check_model(&mut model, spec.seed);
    }
}

#[test]
fn arch_constructors_never_panic() {
    assert!(ARCHS.contains(&"mlp"));
    fuzz(&TARGET, spec(), show, property);
}
