//! Built-in architectures: the seed MLP, torchvision models, PyTorch transformer layers, models
//! written as nested `torch.nn` constructor calls, and Hugging Face models from their
//! `config.json`. Each constructor builds the model exactly as its PyTorch counterpart does (same
//! module tree, `state_dict` names, and draws in the same order), with the [`Model`] methods
//! that mirror a PyTorch `__init__`: [`Model::add`] (a layer), [`Model::stateless`],
//! [`Model::sequential`], [`Model::module_list`], [`Model::custom`] (a module with named
//! children) and [`Model::with_root`].

pub mod hf;
pub mod like;
pub mod torchvision;
pub mod transformer;

use crate::error::{Error, Result};
use crate::nn::{Layer, Model, ModuleId};
use crate::pycall::{Call, Literal};
use crate::tensor::DType;

/// A model made of PyTorch constructor calls, evaluated as Python evaluates them: any layer
/// [`Layer::parse`] accepts (`nn.LSTM(8, 16, num_layers=2)`, `nn.MultiheadAttention(64, 8)`),
/// the transformer modules (`nn.TransformerEncoderLayer(d_model, nhead, dim_feedforward=2048)`,
/// `nn.TransformerDecoderLayer(...)`, `nn.Transformer(...)`), and calls that take modules:
///
/// * `nn.Sequential(*modules)`: children `0`, `1`, ...;
/// * `nn.ModuleList(modules=None)`: a list `[...]` of modules;
/// * `nn.TransformerEncoder(encoder_layer, num_layers, norm=None, enable_nested_tensor=True,
///   mask_check=True)` and `nn.TransformerDecoder(decoder_layer, num_layers, norm=None)`:
///   `layers.0` ... are deep copies of the layer (no draws; the layer itself is not registered),
///   then `norm`.
///
/// Inner calls are constructed first, left to right, as Python evaluates arguments, so the
/// generator is consumed in PyTorch's order and `state_dict` names match
/// (`nn.Sequential(nn.Linear(4, 4), nn.ReLU(), nn.Linear(4, 2))` has `0.weight`, `0.bias`,
/// `2.weight`, `2.bias`). A `dtype=` argument overrides `dtype` for the whole model; the calls
/// that give one must agree, and must all give it when one does (a model has one dtype).
///
/// ```
/// use nninit::arch::from_torch_ctor;
/// use nninit::DType;
///
/// let m = from_torch_ctor("nn.TransformerEncoder(nn.TransformerEncoderLayer(16, 2, 32), 3)", DType::F32)?;
/// let names: Vec<String> = m.state_dict().into_iter().map(|(n, _)| n).collect();
/// assert_eq!(names[0], "layers.0.self_attn.in_proj_weight");
/// assert_eq!(names.len(), 3 * 12);
///
/// let err = from_torch_ctor("nn.Sequential(nn.Linear(4, 4), 3)", DType::F32).unwrap_err();
/// assert!(err.to_string().contains("must be a module"));
/// # Ok::<(), nninit::Error>(())
/// ```
///
/// # Errors
/// Parse errors (calls nested more than 64 deep among them), unknown classes, an argument of the
/// wrong kind (a number where a module is expected, or a module where a number is), mixed
/// dtypes, a stack whose copies would exceed [`transformer::MAX_MODULES`] modules, and PyTorch's
/// constructor errors (prefixed with the nested call they come from).
pub fn from_torch_ctor(src: &str, dtype: DType) -> Result<Model> {
    let call = Call::parse("arch", src)?;
    let dtype = ctor_dtype(&call)?.unwrap_or(dtype);
    let mut m = Model::new(dtype);
    let root = module(&mut m, &call, true)?;
    m.with_root(root)
}

/// Classes whose calls take modules and own no parameters: their `dtype` does not matter.
const TAKES_MODULES: [&str; 4] = ["Sequential", "ModuleList", "TransformerEncoder", "TransformerDecoder"];

/// The `dtype=` of the calls in `call` (itself and every nested call) that construct parameters.
///
/// # Errors
/// Two different dtypes, or a dtype on some of those calls but not on others.
fn ctor_dtype(call: &Call) -> Result<Option<DType>> {
    let mut seen: Option<(Option<DType>, &str)> = None;
    let mut stack = vec![call];
    while let Some(c) = stack.pop() {
        for v in c.positional.iter().chain(c.keyword.iter().map(|(_, v)| v)) {
            match v {
                Literal::Call(inner) => stack.push(inner),
                Literal::List(items) => stack.extend(items.iter().filter_map(|i| match i {
                    Literal::Call(inner) => Some(&**inner),
                    _ => None,
                })),
                _ => {}
            }
        }
        let name = c.name.as_str();
        if TAKES_MODULES.contains(&name) || crate::nn::layers::container::STATELESS.contains(&name) {
            continue;
        }
        let dtype = crate::nn::take_dtype(&mut c.clone())?;
        match seen {
            None => seen = Some((dtype, &c.text)),
            Some((d, _)) if d == dtype => {}
            Some((d, other)) => {
                let show = |d: Option<DType>| d.map_or("the default dtype".to_string(), |d| d.to_string());
                return Err(Error::parse(
                    "arch",
                    call.text.as_str(),
                    format!(
                        "`{}` has {} but `{other}` has {}: a model has one dtype (give the same dtype= to every layer)",
                        c.text,
                        show(dtype),
                        show(d)
                    ),
                ));
            }
        }
    }
    Ok(seen.and_then(|(d, _)| d))
}

/// The classes [`module`] builds besides [`Layer::parse`]'s, for the unknown-class message.
const MODULE_CLASSES: &str =
    "Transformer, TransformerEncoderLayer, TransformerDecoderLayer, TransformerEncoder, TransformerDecoder";

/// Constructs the module `call` describes in `m` (its arguments' modules first, in order) and
/// returns it. Recursion follows the call's nesting, which the parser bounds. PyTorch's
/// constructor errors of a nested call are prefixed with that call (`top`: the outermost call,
/// whose errors read as for a single layer).
fn module(m: &mut Model, call: &Call, top: bool) -> Result<ModuleId> {
    let located = |e: Error| match e {
        Error::Value { message } if !top => Error::value(format!("{}: {message}", call.text)),
        Error::Unknown { what, name, known } => {
            Error::Unknown { what, name, known: format!("{known}, {MODULE_CLASSES}") }
        }
        other => other,
    };
    match call.name.as_str() {
        "Sequential" => {
            if let Some((k, _)) = call.keyword.first() {
                return Err(Error::parse(
                    "arch",
                    call.text.as_str(),
                    format!("nn.Sequential takes modules, not keyword arguments (got `{k}`)"),
                ));
            }
            let children = call
                .positional
                .iter()
                .enumerate()
                .map(|(i, v)| module_arg(m, call, &format!("argument {}", i + 1), v))
                .collect::<Result<Vec<_>>>()?;
            Ok(m.sequential(&children))
        }
        "ModuleList" => {
            let a = call.bind("arch", &["modules"])?;
            let items = match a.get("modules") {
                None | Some(Literal::None) => Vec::new(),
                Some(Literal::List(items)) => items
                    .iter()
                    .enumerate()
                    .map(|(i, v)| module_arg(m, call, &format!("modules[{i}]"), v))
                    .collect::<Result<Vec<_>>>()?,
                Some(other) => {
                    return Err(Error::parse(
                        "arch",
                        call.text.as_str(),
                        format!("`modules` must be a list of modules, got {other}"),
                    ))
                }
            };
            Ok(m.module_list(&items))
        }
        "TransformerEncoder" | "TransformerDecoder" => transformer::stack_from_call(m, call),
        "Transformer" | "TransformerEncoderLayer" | "TransformerDecoderLayer" => {
            transformer::from_call(m, call).map_err(located)
        }
        _ => Layer::from_call(call.clone()).and_then(|(layer, _)| m.add(layer)).map_err(located),
    }
}

/// The module argument `name` of `call`: `value` must be a constructor call, which is
/// constructed now.
///
/// # Errors
/// `value` is not a call ("`norm` must be a module ..., got 3"); the inner call's errors.
fn module_arg(m: &mut Model, call: &Call, name: &str, value: &Literal) -> Result<ModuleId> {
    match value {
        Literal::Call(inner) => module(m, inner, false),
        other => Err(Error::parse(
            "arch",
            call.text.as_str(),
            format!("`{name}` must be a module (a torch.nn constructor call such as nn.Linear(4, 4)), got {other}"),
        )),
    }
}

/// Names accepted by [`build`] (besides PyTorch constructor calls, see [`from_torch_ctor`]).
pub const ARCHS: [&str; 10] = [
    "mlp",
    "resnet18",
    "resnet50",
    "vgg11_bn",
    "mobilenet_v2",
    "mobilenet_v3_large",
    "efficientnet_b0",
    "densenet121",
    "convnext_tiny",
    "vit_b_16",
];

/// The seed network: `layer = nn.Sequential(Linear(d0, d1), ReLU(), ..., Linear(dn-1, dn))` inside
/// a root module, so parameters are named `layer.0.weight`, `layer.0.bias`, `layer.2.weight`, ...
/// Needs at least two sizes; the default is `[784, 256, 128, 10]`.
///
/// # Errors
/// Fewer than two sizes.
pub fn mlp(dims: &[usize], dtype: DType) -> Result<Model> {
    if dims.len() < 2 {
        return Err(Error::value(format!("an MLP needs at least two sizes (input and output), got {dims:?}")));
    }
    let mut m = Model::new(dtype);
    let mut layers = Vec::new();
    for (i, w) in dims.windows(2).enumerate() {
        if i > 0 {
            layers.push(m.stateless("ReLU")?);
        }
        layers.push(m.add(Layer::linear(w[0], w[1]))?);
    }
    let seq = m.sequential(&layers);
    let root = m.custom("MLP", &[("layer", seq)])?;
    m.with_root(root)
}

/// Builds a named architecture with PyTorch's construction (and, for torchvision models, their
/// constructors' own re-initialization), or a PyTorch constructor call such as
/// `nn.LSTM(8, 16)` ([`from_torch_ctor`]). `dims` is used by `mlp` only.
///
/// # Errors
/// An unknown name ([`Error::Unknown`] listing [`ARCHS`]); `mlp` with fewer than two sizes.
pub fn build(name: &str, dims: &[usize], dtype: DType) -> Result<Model> {
    match name {
        "mlp" => mlp(dims, dtype),
        "resnet18" => torchvision::resnet18(dtype),
        "resnet50" => torchvision::resnet50(dtype),
        "vgg11_bn" => torchvision::vgg11_bn(dtype),
        "mobilenet_v2" => torchvision::mobilenet_v2(dtype),
        "mobilenet_v3_large" => torchvision::mobilenet_v3_large(dtype),
        "efficientnet_b0" => torchvision::efficientnet_b0(dtype),
        "densenet121" => torchvision::densenet121(dtype),
        "convnext_tiny" => torchvision::convnext_tiny(dtype),
        "vit_b_16" => torchvision::vit_b_16(dtype),
        ctor if ctor.contains('(') => from_torch_ctor(ctor, dtype),
        other => Err(Error::Unknown {
            what: "arch",
            name: other.into(),
            known: format!(
                "{}, or a torch.nn constructor such as \"nn.LSTM(8, 16)\" or \"nn.Transformer()\"",
                ARCHS.join(", ")
            ),
        }),
    }
}
