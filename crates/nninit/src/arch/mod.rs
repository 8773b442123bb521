//! Built-in architectures: the seed MLP, torchvision models, PyTorch transformer layers and
//! Hugging Face models from their `config.json`. Each constructor builds the model exactly as its
//! PyTorch counterpart does (same module tree, `state_dict` names, and draws in the same order).

pub mod hf;
pub mod like;
pub mod torchvision;
pub mod transformer;

use crate::error::{Error, Result};
use crate::nn::{Layer, Model};
use crate::tensor::DType;

/// A model made of one PyTorch constructor call: any layer [`Layer::parse`] accepts
/// (`nn.LSTM(8, 16, num_layers=2)`, `nn.MultiheadAttention(64, 8)`, ...) or
/// `nn.TransformerEncoderLayer(d_model, nhead, dim_feedforward=2048)` /
/// `nn.TransformerDecoderLayer(...)`, constructed as PyTorch does (the `dtype=` argument, if
/// given, overrides `dtype`).
///
/// # Errors
/// Parse errors, unknown classes, and PyTorch's constructor errors.
pub fn from_torch_ctor(src: &str, dtype: DType) -> Result<Model> {
    let call = crate::pycall::Call::parse("arch", src)?;
    if matches!(call.name.as_str(), "Transformer" | "TransformerEncoderLayer" | "TransformerDecoderLayer") {
        return transformer_from_call(call, src, dtype);
    }
    let (layer, ctor_dtype) = Layer::parse(src)?;
    let mut m = Model::new(ctor_dtype.unwrap_or(dtype));
    let root = m.add(layer)?;
    m.set_root(root)?;
    Ok(m)
}

/// `nn.Transformer(...)`, `nn.TransformerEncoderLayer(...)`, `nn.TransformerDecoderLayer(...)`
/// with PyTorch's parameters and defaults (`norm_first=True` only for the layers; `bias=False`
/// is not supported).
fn transformer_from_call(call: crate::pycall::Call, src: &str, dtype: DType) -> Result<Model> {
    let name = call.name.clone();
    let name = name.as_str();
    let whole = name == "Transformer";
    let mut params = vec!["d_model", "nhead"];
    if whole {
        params.extend(["num_encoder_layers", "num_decoder_layers"]);
    }
    params.extend(["dim_feedforward", "dropout", "activation"]);
    if whole {
        params.extend(["custom_encoder", "custom_decoder"]);
    }
    params.extend(["layer_norm_eps", "batch_first", "norm_first", "bias", "device", "dtype"]);
    let a = call.bind("arch", src, &params)?;
    // d_model and nhead are required for the layers, 512 and 8 for nn.Transformer.
    let default = |v: usize| whole.then_some(v);
    let (d, h) = (a.usize("d_model", default(512))?, a.usize("nhead", default(8))?);
    let ff = a.usize("dim_feedforward", Some(2048))?;
    let norm_first = a.bool("norm_first", false)?;
    if !a.bool("bias", true)? {
        return Err(Error::value(format!("{name} with bias=False is not supported")));
    }
    if whole && norm_first {
        return Err(Error::value("Transformer with norm_first=True is not supported"));
    }
    let layers = |n: &str| match a.usize(n, Some(6))? {
        v if v > crate::nn::MAX_LAYERS => Err(Error::value(format!("{n}={v} is more than nninit builds"))),
        v => Ok(v),
    };
    let ctor_dtype = match a.get("dtype") {
        Some(crate::pycall::Literal::Name(n) | crate::pycall::Literal::Str(n)) => Some(n.parse::<DType>()?),
        _ => None,
    };
    let mut m = Model::new(ctor_dtype.unwrap_or(dtype));
    let root = match name {
        "Transformer" => {
            let (enc, dec) = (layers("num_encoder_layers")?, layers("num_decoder_layers")?);
            transformer::transformer(&mut m, d, h, enc, dec, ff)?
        }
        "TransformerDecoderLayer" => transformer::transformer_decoder_layer(&mut m, d, h, ff, norm_first)?,
        _ => transformer::transformer_encoder_layer(&mut m, d, h, ff, norm_first)?,
    };
    m.set_root(root)?;
    Ok(m)
}

/// Names accepted by [`build`] (besides PyTorch constructor calls, see [`from_torch_ctor`]).
pub const ARCHS: [&str; 5] = ["mlp", "resnet18", "resnet50", "vgg11_bn", "mobilenet_v2"];

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
            layers.push(m.add(Layer::stateless("ReLU"))?);
        }
        layers.push(m.add(Layer::linear(w[0], w[1]))?);
    }
    let seq = m.sequential(&layers);
    let root = m.container(Layer::Custom("MLP".into()), &[]);
    m.add_child(root, "layer", seq)?;
    m.set_root(root)?;
    Ok(m)
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
