//! torchvision `EfficientNet` (`efficientnet_b0`), `models/efficientnet.py`.

use super::*;

/// `MBConv(cnf)`: `block` (1×1 expansion when `expand_ratio != 1`, depthwise `kernel`×`kernel`,
/// `SqueezeExcitation(expanded, max(1, input_channels / 4))` with SiLU, 1×1 projection without
/// activation), then `stochastic_depth`.
fn mb_conv(
    m: &mut Model,
    expand_ratio: usize,
    kernel: usize,
    input_channels: usize,
    out_channels: usize,
) -> Result<ModuleId> {
    let expanded = make_divisible((input_channels * expand_ratio) as f64, 8);
    let mut layers = Vec::new();
    if expanded != input_channels {
        layers.push(conv_norm_activation(m, input_channels, expanded, 1, 1, Some("SiLU"))?);
    }
    layers.push(conv_norm_activation(m, expanded, expanded, kernel, expanded, Some("SiLU"))?);
    layers.push(squeeze_excitation(m, expanded, (input_channels / 4).max(1), "SiLU", "Sigmoid")?);
    layers.push(conv_norm_activation(m, expanded, out_channels, 1, 1, None)?);
    let block = m.sequential(&layers);
    let stochastic_depth = m.stateless("StochasticDepth")?;
    m.custom("MBConv", &[("block", block), ("stochastic_depth", stochastic_depth)])
}

/// EfficientNet's re-initialization: Conv2d → `kaiming_normal_(mode='fan_out')` (a = 0), bias
/// 0; BatchNorm2d/GroupNorm → 1, 0; Linear → `uniform_(-1/√out_features, 1/√out_features)`,
/// bias 0.
fn efficientnet_rule(layer: &Layer) -> Vec<(&'static str, Init)> {
    if is_conv2d(layer) {
        vec![("weight", kaiming_normal_fan_out(Nonlinearity::LeakyRelu)), ("bias", Init::Zeros)]
    } else if is_batch_or_group_norm(layer) {
        vec![("weight", Init::Ones), ("bias", Init::Zeros)]
    } else if let Layer::Linear { out_features, .. } = layer {
        let r = 1.0 / (*out_features as f64).sqrt();
        vec![("weight", Init::Uniform { a: -r, b: r }), ("bias", Init::Zeros)]
    } else {
        Vec::new()
    }
}

/// torchvision 0.29 `efficientnet_b0()` (no weights): width and depth multipliers 1.0, 1000
/// classes, dropout 0.2, 5.3M parameters, initialized exactly as torchvision does.
///
/// Building records the inits; nothing is drawn until the model is materialized or saved:
///
/// ```
/// let m = nninit::arch::torchvision::efficientnet_b0(nninit::DType::F32)?;
/// let numel = |id| m.tensor(id).shape().iter().product::<usize>();
/// assert_eq!(m.named_parameters().into_iter().map(|(_, id)| numel(id)).sum::<usize>(), 5288548);
/// assert_eq!(m.state_dict().len(), 360);
/// # Ok::<(), nninit::Error>(())
/// ```
///
/// # Errors
/// None in practice (the configuration is fixed); layer construction errors are propagated.
pub fn efficientnet_b0(dtype: DType) -> Result<Model> {
    // (expand ratio, kernel, stride, input channels, output channels, layers)
    const SETTING: [[usize; 6]; 7] = [
        [1, 3, 1, 32, 16, 1],
        [6, 3, 2, 16, 24, 2],
        [6, 5, 2, 24, 40, 2],
        [6, 3, 2, 40, 80, 3],
        [6, 5, 1, 80, 112, 3],
        [6, 5, 2, 112, 192, 4],
        [6, 3, 1, 192, 320, 1],
    ];
    let mut m = Model::new(dtype);
    let mut features = vec![conv_norm_activation(&mut m, 3, 32, 3, 1, Some("SiLU"))?];
    for [expand_ratio, kernel, _stride, input_channels, out_channels, layers] in SETTING {
        let mut stage = Vec::with_capacity(layers);
        for i in 0..layers {
            let input = if i == 0 { input_channels } else { out_channels };
            stage.push(mb_conv(&mut m, expand_ratio, kernel, input, out_channels)?);
        }
        features.push(m.sequential(&stage));
    }
    features.push(conv_norm_activation(&mut m, 320, 1280, 1, 1, Some("SiLU"))?);
    let features = m.sequential(&features);
    let avgpool = m.stateless("AdaptiveAvgPool2d")?;
    let classifier = [m.stateless("Dropout")?, m.add(Layer::linear(1280, 1000))?];
    let classifier = m.sequential(&classifier);
    let root = m.custom("EfficientNet", &[("features", features), ("avgpool", avgpool), ("classifier", classifier)])?;
    let mut model = m.with_root(root)?;
    reinit(&mut model, efficientnet_rule)?;
    Ok(model)
}
