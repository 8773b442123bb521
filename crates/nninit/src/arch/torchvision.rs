//! torchvision 0.29 classification models, constructed as torchvision does.
//!
//! Each constructor reproduces the Python one step by step: layers are created in Python's
//! execution order (each drawing its PyTorch default init from the generator), registered in the
//! order `__init__` assigns them (which fixes `modules()` and `state_dict()` order), and then the
//! model's own re-initialization loop over `self.modules()` runs. Layers without
//! parameters (`ReLU`, `MaxPool2d`, `Dropout`, ...) are modules too, as in torchvision, so
//! `modules()` and `apply()` visit the same modules in the same order. Stride, padding and
//! dilation do not change any parameter and are not represented.
//!
//! ResNet, VGG and MobileNetV2 are here; `vit_b_16`, `convnext_tiny`, `efficientnet_b0`,
//! `mobilenet_v3_large` and `densenet121` in the submodules (re-exported).

mod convnext;
mod densenet;
mod efficientnet;
mod mobilenet_v3;
mod vit;

pub use convnext::convnext_tiny;
pub use densenet::densenet121;
pub use efficientnet::efficientnet_b0;
pub use mobilenet_v3::mobilenet_v3_large;
pub use vit::vit_b_16;

use crate::error::Result;
use crate::init::{FanMode, Init, Nonlinearity};
use crate::nn::{Layer, Model, ModuleId, Role, Slot};
use crate::tensor::DType;

/// `nn.Conv2d(in_channels, out_channels, kernel_size, groups=groups, bias=bias)`.
fn conv2d(in_channels: usize, out_channels: usize, kernel_size: usize, groups: usize, bias: bool) -> Layer {
    Layer::Conv {
        in_channels,
        out_channels,
        kernel_size: vec![kernel_size, kernel_size],
        groups,
        bias,
        transposed: false,
    }
}

/// torchvision `resnet.conv3x3`: a 3×3 `Conv2d` without bias.
fn conv3x3(in_planes: usize, out_planes: usize) -> Layer {
    conv2d(in_planes, out_planes, 3, 1, false)
}

/// torchvision `resnet.conv1x1`: a 1×1 `Conv2d` without bias.
fn conv1x1(in_planes: usize, out_planes: usize) -> Layer {
    conv2d(in_planes, out_planes, 1, 1, false)
}

/// `nn.BatchNorm2d(num_features)`.
fn batch_norm2d(num_features: usize) -> Layer {
    Layer::batch_norm(2, num_features)
}

/// `isinstance(m, nn.Conv2d)`.
fn is_conv2d(layer: &Layer) -> bool {
    matches!(layer, Layer::Conv { kernel_size, transposed: false, .. } if kernel_size.len() == 2)
}

/// `isinstance(m, nn.BatchNorm2d)`.
fn is_batch_norm2d(layer: &Layer) -> bool {
    matches!(layer, Layer::BatchNorm { dims: 2, .. })
}

/// `isinstance(m, (nn.BatchNorm2d, nn.GroupNorm))`.
fn is_batch_or_group_norm(layer: &Layer) -> bool {
    is_batch_norm2d(layer) || matches!(layer, Layer::GroupNorm { .. })
}

/// `kaiming_normal_(w, mode='fan_out', nonlinearity=nonlinearity)` (a = 0).
fn kaiming_normal_fan_out(nonlinearity: Nonlinearity) -> Init {
    Init::KaimingNormal { a: 0.0, mode: FanMode::FanOut, nonlinearity }
}

/// What a re-initialization loop does to one module: `(parameter, init)` in call order.
type Rule = fn(&Layer) -> Vec<(&'static str, Init)>;

/// A torchvision constructor's re-initialization loop:
/// `for m in self.modules(): if isinstance(m, ...): nn.init.xxx_(m.weight) ...`. Visits modules
/// in `modules()` order and records `rule`'s inits in order; a parameter the
/// module does not have is skipped (as `if m.bias is not None`).
fn reinit(model: &mut Model, rule: Rule) -> Result<()> {
    for (path, id) in model.named_modules() {
        for (name, init) in rule(&model.module(id).layer) {
            model.module_mut(id, &path).init(name, &init)?;
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// ResNet
// ---------------------------------------------------------------------------------------------

/// ResNet's residual block type.
#[derive(Clone, Copy)]
enum Block {
    /// `BasicBlock`: two 3×3 convolutions, expansion 1.
    Basic,
    /// `Bottleneck`: 1×1, 3×3, 1×1 convolutions, expansion 4.
    Bottleneck,
}

impl Block {
    fn expansion(self) -> usize {
        match self {
            Block::Basic => 1,
            Block::Bottleneck => 4,
        }
    }

    /// `block(inplanes, planes, stride, downsample)` with groups 1, base width 64, dilation 1.
    fn build(self, m: &mut Model, inplanes: usize, planes: usize, downsample: Option<ModuleId>) -> Result<ModuleId> {
        match self {
            Block::Basic => basic_block(m, inplanes, planes, downsample),
            Block::Bottleneck => bottleneck(m, inplanes, planes, downsample),
        }
    }
}

/// Appends `downsample` (constructed by the caller before the block) after the block's own
/// layers, where `self.downsample = downsample` registers it.
fn with_downsample(mut children: Vec<(&str, ModuleId)>, downsample: Option<ModuleId>) -> Vec<(&str, ModuleId)> {
    children.extend(downsample.map(|d| ("downsample", d)));
    children
}

/// torchvision `BasicBlock.__init__`: conv1, bn1, relu, conv2, bn2, then downsample.
fn basic_block(m: &mut Model, inplanes: usize, planes: usize, downsample: Option<ModuleId>) -> Result<ModuleId> {
    let conv1 = m.add(conv3x3(inplanes, planes))?;
    let bn1 = m.add(batch_norm2d(planes))?;
    let relu = m.stateless("ReLU")?;
    let conv2 = m.add(conv3x3(planes, planes))?;
    let bn2 = m.add(batch_norm2d(planes))?;
    let children = vec![("conv1", conv1), ("bn1", bn1), ("relu", relu), ("conv2", conv2), ("bn2", bn2)];
    m.custom("BasicBlock", &with_downsample(children, downsample))
}

/// torchvision `Bottleneck.__init__` (width = planes): conv1, bn1, conv2, bn2, conv3, bn3, relu,
/// then downsample.
fn bottleneck(m: &mut Model, inplanes: usize, planes: usize, downsample: Option<ModuleId>) -> Result<ModuleId> {
    let width = planes;
    let out = planes * Block::Bottleneck.expansion();
    let conv1 = m.add(conv1x1(inplanes, width))?;
    let bn1 = m.add(batch_norm2d(width))?;
    let conv2 = m.add(conv3x3(width, width))?;
    let bn2 = m.add(batch_norm2d(width))?;
    let conv3 = m.add(conv1x1(width, out))?;
    let bn3 = m.add(batch_norm2d(out))?;
    let relu = m.stateless("ReLU")?;
    let children = vec![
        ("conv1", conv1),
        ("bn1", bn1),
        ("conv2", conv2),
        ("bn2", bn2),
        ("conv3", conv3),
        ("bn3", bn3),
        ("relu", relu),
    ];
    m.custom("Bottleneck", &with_downsample(children, downsample))
}

/// torchvision `ResNet._make_layer`: a `Sequential` of `blocks` blocks. The `downsample`
/// Sequential (1×1 conv + BatchNorm, when the stride or width changes) is constructed before the
/// first block, though that block registers it last. Updates `inplanes`.
fn make_layer(
    m: &mut Model,
    block: Block,
    inplanes: &mut usize,
    planes: usize,
    blocks: usize,
    stride: usize,
) -> Result<ModuleId> {
    let out = planes * block.expansion();
    let downsample = if stride != 1 || *inplanes != out {
        let conv = m.add(conv1x1(*inplanes, out))?;
        let bn = m.add(batch_norm2d(out))?;
        Some(m.sequential(&[conv, bn]))
    } else {
        None
    };
    let mut layers = vec![block.build(m, *inplanes, planes, downsample)?];
    *inplanes = out;
    for _ in 1..blocks {
        layers.push(block.build(m, *inplanes, planes, None)?);
    }
    Ok(m.sequential(&layers))
}

/// ResNet's re-initialization: Conv2d → `kaiming_normal_(mode='fan_out', nonlinearity='relu')`,
/// BatchNorm2d/GroupNorm → weight 1, bias 0 (`fc` keeps its default init).
fn resnet_rule(layer: &Layer) -> Vec<(&'static str, Init)> {
    if is_conv2d(layer) {
        vec![("weight", kaiming_normal_fan_out(Nonlinearity::Relu))]
    } else if is_batch_or_group_norm(layer) {
        vec![("weight", Init::Constant { val: 1.0 }), ("bias", Init::Constant { val: 0.0 })]
    } else {
        Vec::new()
    }
}

/// torchvision `ResNet(block, layers)` with 1000 classes and the default options.
fn resnet(block: Block, layers: [usize; 4], dtype: DType) -> Result<Model> {
    let mut m = Model::new(dtype);
    let mut inplanes = 64;
    let conv1 = m.add(conv2d(3, inplanes, 7, 1, false))?;
    let bn1 = m.add(batch_norm2d(inplanes))?;
    let relu = m.stateless("ReLU")?;
    let maxpool = m.stateless("MaxPool2d")?;
    let layer1 = make_layer(&mut m, block, &mut inplanes, 64, layers[0], 1)?;
    let layer2 = make_layer(&mut m, block, &mut inplanes, 128, layers[1], 2)?;
    let layer3 = make_layer(&mut m, block, &mut inplanes, 256, layers[2], 2)?;
    let layer4 = make_layer(&mut m, block, &mut inplanes, 512, layers[3], 2)?;
    let avgpool = m.stateless("AdaptiveAvgPool2d")?;
    let fc = m.add(Layer::linear(512 * block.expansion(), 1000))?;
    let root = m.custom(
        "ResNet",
        &[
            ("conv1", conv1),
            ("bn1", bn1),
            ("relu", relu),
            ("maxpool", maxpool),
            ("layer1", layer1),
            ("layer2", layer2),
            ("layer3", layer3),
            ("layer4", layer4),
            ("avgpool", avgpool),
            ("fc", fc),
        ],
    )?;
    let mut model = m.with_root(root)?;
    reinit(&mut model, resnet_rule)?;
    Ok(model)
}

/// torchvision 0.29 `resnet18()` (no weights): `ResNet(BasicBlock, [2, 2, 2, 2])`, 1000
/// classes, 11.7M parameters, initialized exactly as torchvision does for the same generator
/// state (and leaving the generator in the same state).
///
/// # Errors
/// None in practice (the configuration is fixed); layer construction errors are propagated.
pub fn resnet18(dtype: DType) -> Result<Model> {
    resnet(Block::Basic, [2, 2, 2, 2], dtype)
}

/// torchvision 0.29 `resnet50()` (no weights): `ResNet(Bottleneck, [3, 4, 6, 3])`, 1000
/// classes, 25.6M parameters, initialized exactly as torchvision does.
///
/// # Errors
/// None in practice (the configuration is fixed); layer construction errors are propagated.
pub fn resnet50(dtype: DType) -> Result<Model> {
    resnet(Block::Bottleneck, [3, 4, 6, 3], dtype)
}

// ---------------------------------------------------------------------------------------------
// VGG
// ---------------------------------------------------------------------------------------------

/// An entry of torchvision's VGG `cfgs`: a 3×3 convolution with this many output channels, or
/// `"M"` (max pooling).
#[derive(Clone, Copy)]
enum VggItem {
    Conv(usize),
    MaxPool,
}

/// torchvision `vgg.cfgs["A"]` (VGG-11).
const VGG_A: [VggItem; 13] = {
    use VggItem::{Conv as C, MaxPool as M};
    [C(64), M, C(128), M, C(256), C(256), M, C(512), C(512), M, C(512), C(512), M]
};

/// torchvision `vgg.make_layers(cfg, batch_norm)`: the `features` Sequential.
fn vgg_features(m: &mut Model, cfg: &[VggItem], batch_norm: bool) -> Result<ModuleId> {
    let mut layers = Vec::new();
    let mut in_channels = 3;
    for item in cfg {
        match *item {
            VggItem::MaxPool => layers.push(m.stateless("MaxPool2d")?),
            VggItem::Conv(v) => {
                layers.push(m.add(conv2d(in_channels, v, 3, 1, true))?);
                if batch_norm {
                    layers.push(m.add(batch_norm2d(v))?);
                }
                layers.push(m.stateless("ReLU")?);
                in_channels = v;
            }
        }
    }
    Ok(m.sequential(&layers))
}

/// VGG's re-initialization (`init_weights=True`): Conv2d → `kaiming_normal_(mode='fan_out',
/// nonlinearity='relu')`, bias 0; BatchNorm2d → 1, 0; Linear → `normal_(0, 0.01)`, bias 0.
fn vgg_rule(layer: &Layer) -> Vec<(&'static str, Init)> {
    let zero = Init::Constant { val: 0.0 };
    if is_conv2d(layer) {
        vec![("weight", kaiming_normal_fan_out(Nonlinearity::Relu)), ("bias", zero)]
    } else if is_batch_norm2d(layer) {
        vec![("weight", Init::Constant { val: 1.0 }), ("bias", zero)]
    } else if matches!(layer, Layer::Linear { .. }) {
        vec![("weight", Init::Normal { mean: 0.0, std: 0.01 }), ("bias", zero)]
    } else {
        Vec::new()
    }
}

/// torchvision `VGG(features)` with 1000 classes, dropout 0.5 and `init_weights=True`.
fn vgg(cfg: &[VggItem], batch_norm: bool, dtype: DType) -> Result<Model> {
    let mut m = Model::new(dtype);
    let features = vgg_features(&mut m, cfg, batch_norm)?;
    let avgpool = m.stateless("AdaptiveAvgPool2d")?;
    let classifier = [
        m.add(Layer::linear(512 * 7 * 7, 4096))?,
        m.stateless("ReLU")?,
        m.stateless("Dropout")?,
        m.add(Layer::linear(4096, 4096))?,
        m.stateless("ReLU")?,
        m.stateless("Dropout")?,
        m.add(Layer::linear(4096, 1000))?,
    ];
    let classifier = m.sequential(&classifier);
    let root = m.custom("VGG", &[("features", features), ("avgpool", avgpool), ("classifier", classifier)])?;
    let mut model = m.with_root(root)?;
    reinit(&mut model, vgg_rule)?;
    Ok(model)
}

/// torchvision 0.29 `vgg11_bn()` (no weights): VGG configuration "A" with BatchNorm, 1000
/// classes, 132.9M parameters, initialized exactly as torchvision does. The default
/// initialization of the three Linear layers is drawn (and then overwritten) as in PyTorch, so
/// this takes a moment.
///
/// # Errors
/// None in practice (the configuration is fixed); layer construction errors are propagated.
pub fn vgg11_bn(dtype: DType) -> Result<Model> {
    vgg(&VGG_A, true, dtype)
}

// ---------------------------------------------------------------------------------------------
// MobileNetV2
// ---------------------------------------------------------------------------------------------

/// torchvision `_utils._make_divisible(v, divisor)`: `v` rounded to the nearest multiple of
/// `divisor` (at least `divisor`), not going down by more than 10%.
fn make_divisible(v: f64, divisor: usize) -> usize {
    let rounded = (v + divisor as f64 / 2.0) as usize / divisor * divisor;
    let new_v = rounded.max(divisor);
    if (new_v as f64) < 0.9 * v {
        new_v + divisor
    } else {
        new_v
    }
}

/// torchvision `ops.Conv2dNormActivation(in, out, kernel_size, groups=groups,
/// norm_layer=BatchNorm2d, activation_layer=ReLU6)`: a Sequential subclass of a bias-free
/// Conv2d, a BatchNorm2d and a ReLU6, named `0`, `1`, `2`.
fn conv_bn_relu6(
    m: &mut Model,
    in_channels: usize,
    out_channels: usize,
    kernel_size: usize,
    groups: usize,
) -> Result<ModuleId> {
    let conv = m.add(conv2d(in_channels, out_channels, kernel_size, groups, false))?;
    let bn = m.add(batch_norm2d(out_channels))?;
    let act = m.stateless("ReLU6")?;
    Ok(m.container(Layer::Custom("Conv2dNormActivation".into()), &[conv, bn, act]))
}

/// torchvision `ops.Conv2dNormActivation(in, out, kernel_size, groups=groups,
/// norm_layer=BatchNorm2d, activation_layer=activation)`: a Sequential subclass of a bias-free
/// Conv2d, a BatchNorm2d and, unless `activation` is `None`, the activation (`0`, `1`, `2`).
fn conv_norm_activation(
    m: &mut Model,
    in_channels: usize,
    out_channels: usize,
    kernel_size: usize,
    groups: usize,
    activation: Option<&str>,
) -> Result<ModuleId> {
    let mut layers = vec![m.add(conv2d(in_channels, out_channels, kernel_size, groups, false))?];
    layers.push(m.add(batch_norm2d(out_channels))?);
    if let Some(act) = activation {
        layers.push(m.stateless(act)?);
    }
    Ok(m.container(Layer::Custom("Conv2dNormActivation".into()), &layers))
}

/// torchvision `ops.SqueezeExcitation(input_channels, squeeze_channels, activation,
/// scale_activation)`: `avgpool`, `fc1` (1×1 Conv2d with bias), `fc2`, `activation`,
/// `scale_activation`.
fn squeeze_excitation(
    m: &mut Model,
    input_channels: usize,
    squeeze_channels: usize,
    activation: &str,
    scale_activation: &str,
) -> Result<ModuleId> {
    let avgpool = m.stateless("AdaptiveAvgPool2d")?;
    let fc1 = m.add(conv2d(input_channels, squeeze_channels, 1, 1, true))?;
    let fc2 = m.add(conv2d(squeeze_channels, input_channels, 1, 1, true))?;
    let act = m.stateless(activation)?;
    let scale = m.stateless(scale_activation)?;
    m.custom(
        "SqueezeExcitation",
        &[("avgpool", avgpool), ("fc1", fc1), ("fc2", fc2), ("activation", act), ("scale_activation", scale)],
    )
}

/// torchvision `mobilenetv2.InvertedResidual(inp, oup, stride, expand_ratio)`: a `conv`
/// Sequential of [1×1 expansion (if `expand_ratio != 1`)], 3×3 depthwise, 1×1 projection
/// Conv2d and BatchNorm2d.
fn inverted_residual(m: &mut Model, inp: usize, oup: usize, expand_ratio: usize) -> Result<ModuleId> {
    let hidden_dim = inp * expand_ratio;
    let mut layers = Vec::new();
    if expand_ratio != 1 {
        layers.push(conv_bn_relu6(m, inp, hidden_dim, 1, 1)?);
    }
    layers.push(conv_bn_relu6(m, hidden_dim, hidden_dim, 3, hidden_dim)?);
    layers.push(m.add(conv2d(hidden_dim, oup, 1, 1, false))?);
    layers.push(m.add(batch_norm2d(oup))?);
    let conv = m.sequential(&layers);
    m.custom("InvertedResidual", &[("conv", conv)])
}

/// MobileNetV2's and MobileNetV3's re-initialization (the same in torchvision): Conv2d → `kaiming_normal_(mode='fan_out')` (leaky_relu with
/// a = 0), bias zeros; BatchNorm2d/GroupNorm → ones, zeros; Linear → `normal_(0, 0.01)`, zeros.
fn mobilenet_rule(layer: &Layer) -> Vec<(&'static str, Init)> {
    if is_conv2d(layer) {
        vec![("weight", kaiming_normal_fan_out(Nonlinearity::LeakyRelu)), ("bias", Init::Zeros)]
    } else if is_batch_or_group_norm(layer) {
        vec![("weight", Init::Ones), ("bias", Init::Zeros)]
    } else if matches!(layer, Layer::Linear { .. }) {
        vec![("weight", Init::Normal { mean: 0.0, std: 0.01 }), ("bias", Init::Zeros)]
    } else {
        Vec::new()
    }
}

/// torchvision 0.29 `mobilenet_v2()` (no weights): `MobileNetV2()` with width multiplier 1.0,
/// 1000 classes, dropout 0.2, 3.5M parameters, initialized exactly as torchvision does.
///
/// # Errors
/// None in practice (the configuration is fixed); layer construction errors are propagated.
pub fn mobilenet_v2(dtype: DType) -> Result<Model> {
    const WIDTH_MULT: f64 = 1.0;
    const ROUND_NEAREST: usize = 8;
    // (expand ratio t, output channels c, repeats n, first stride s)
    const SETTING: [[usize; 4]; 7] =
        [[1, 16, 1, 1], [6, 24, 2, 2], [6, 32, 3, 2], [6, 64, 4, 2], [6, 96, 3, 1], [6, 160, 3, 2], [6, 320, 1, 1]];

    let mut m = Model::new(dtype);
    let mut input_channel = make_divisible(32.0 * WIDTH_MULT, ROUND_NEAREST);
    let last_channel = make_divisible(1280.0 * WIDTH_MULT.max(1.0), ROUND_NEAREST);
    let mut features = vec![conv_bn_relu6(&mut m, 3, input_channel, 3, 1)?];
    for [t, c, n, _stride] in SETTING {
        let output_channel = make_divisible(c as f64 * WIDTH_MULT, ROUND_NEAREST);
        for _ in 0..n {
            features.push(inverted_residual(&mut m, input_channel, output_channel, t)?);
            input_channel = output_channel;
        }
    }
    features.push(conv_bn_relu6(&mut m, input_channel, last_channel, 1, 1)?);
    let features = m.sequential(&features);
    let classifier = [m.stateless("Dropout")?, m.add(Layer::linear(last_channel, 1000))?];
    let classifier = m.sequential(&classifier);
    let root = m.custom("MobileNetV2", &[("features", features), ("classifier", classifier)])?;
    let mut model = m.with_root(root)?;
    reinit(&mut model, mobilenet_rule)?;
    Ok(model)
}
