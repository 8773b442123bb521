//! Built-in architectures: the seed MLP, torchvision models, PyTorch transformer layers and
//! Hugging Face models from their `config.json`. Each constructor builds the model exactly as its
//! PyTorch counterpart does (same module tree, `state_dict` names, and draws in the same order).

pub mod hf;
pub mod like;
pub mod torchvision;
pub mod transformer;

use crate::error::{Error, Result};
use crate::nn::{Layer, Model};
use crate::rng::Generator;
use crate::tensor::DType;

/// Names accepted by [`build`].
pub const ARCHS: [&str; 5] = ["mlp", "resnet18", "resnet50", "vgg11_bn", "mobilenet_v2"];

/// The seed network: `layer = nn.Sequential(Linear(d0, d1), ReLU(), ..., Linear(dn-1, dn))` inside
/// a root module, so parameters are named `layer.0.weight`, `layer.0.bias`, `layer.2.weight`, ...
/// Needs at least two sizes; the default is `[784, 256, 128, 10]`.
///
/// # Errors
/// Fewer than two sizes.
pub fn mlp(dims: &[usize], dtype: DType, g: &mut Generator) -> Result<Model> {
    if dims.len() < 2 {
        return Err(Error::value(format!("an MLP needs at least two sizes (input and output), got {dims:?}")));
    }
    let mut m = Model::new(dtype);
    let mut layers = Vec::new();
    for (i, w) in dims.windows(2).enumerate() {
        if i > 0 {
            layers.push(m.add(Layer::stateless("ReLU"), g)?);
        }
        layers.push(m.add(Layer::linear(w[0], w[1]), g)?);
    }
    let seq = m.sequential(&layers);
    let root = m.container(Layer::Custom("MLP".into()), &[]);
    m.add_child(root, "layer", seq)?;
    m.set_root(root)?;
    Ok(m)
}

/// Builds a named architecture with PyTorch's construction (and, for torchvision models, their
/// constructors' own re-initialization). `dims` is used by `mlp` only.
///
/// # Errors
/// An unknown name ([`Error::Unknown`] listing [`ARCHS`]); `mlp` with fewer than two sizes.
pub fn build(name: &str, dims: &[usize], dtype: DType, g: &mut Generator) -> Result<Model> {
    match name {
        "mlp" => mlp(dims, dtype, g),
        "resnet18" => torchvision::resnet18(dtype, g),
        "resnet50" => torchvision::resnet50(dtype, g),
        "vgg11_bn" => torchvision::vgg11_bn(dtype, g),
        "mobilenet_v2" => torchvision::mobilenet_v2(dtype, g),
        other => Err(Error::Unknown { what: "arch", name: other.into(), known: ARCHS.join(", ") }),
    }
}
