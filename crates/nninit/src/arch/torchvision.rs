//! torchvision 0.29 classification models, constructed as torchvision does.

use crate::error::{Error, Result};
use crate::nn::Model;
use crate::rng::Generator;
use crate::tensor::DType;

fn todo(name: &str) -> Result<Model> {
    Err(Error::value(format!("{name} is not available yet")))
}

/// torchvision `resnet18()`.
pub fn resnet18(_dtype: DType, _g: &mut Generator) -> Result<Model> {
    todo("resnet18")
}

/// torchvision `resnet50()`.
pub fn resnet50(_dtype: DType, _g: &mut Generator) -> Result<Model> {
    todo("resnet50")
}

/// torchvision `vgg11_bn()`.
pub fn vgg11_bn(_dtype: DType, _g: &mut Generator) -> Result<Model> {
    todo("vgg11_bn")
}

/// torchvision `mobilenet_v2()`.
pub fn mobilenet_v2(_dtype: DType, _g: &mut Generator) -> Result<Model> {
    todo("mobilenet_v2")
}
