//! torchvision `MobileNetV3` (`mobilenet_v3_large`), `models/mobilenetv3.py`.

use super::*;

/// One row of torchvision's `InvertedResidualConfig` table for MobileNetV3-Large.
struct Bneck {
    input_channels: usize,
    kernel: usize,
    expanded_channels: usize,
    out_channels: usize,
    use_se: bool,
    /// Hardswish (`"HS"`) rather than ReLU (`"RE"`).
    use_hs: bool,
}

/// `InvertedResidual(cnf)`: `block` (1×1 expansion when the width changes, depthwise
/// convolution, `SqueezeExcitation(expanded, _make_divisible(expanded / 4, 8))` with ReLU and
/// Hardsigmoid when `use_se`, 1×1 projection without activation).
fn inverted_residual(m: &mut Model, c: &Bneck) -> Result<ModuleId> {
    let act = if c.use_hs { "Hardswish" } else { "ReLU" };
    let e = c.expanded_channels;
    let mut layers = Vec::new();
    if e != c.input_channels {
        layers.push(conv_norm_activation(m, c.input_channels, e, 1, 1, Some(act))?);
    }
    layers.push(conv_norm_activation(m, e, e, c.kernel, e, Some(act))?);
    if c.use_se {
        layers.push(squeeze_excitation(m, e, make_divisible((e / 4) as f64, 8), "ReLU", "Hardsigmoid")?);
    }
    layers.push(conv_norm_activation(m, e, c.out_channels, 1, 1, None)?);
    let block = m.sequential(&layers);
    m.custom("InvertedResidual", &[("block", block)])
}

/// torchvision 0.29 `mobilenet_v3_large()` (no weights): width multiplier 1.0, 1000 classes,
/// dropout 0.2, 5.5M parameters, initialized exactly as torchvision does.
///
/// Building records the inits; nothing is drawn until the model is materialized or saved:
///
/// ```
/// let m = nninit::arch::torchvision::mobilenet_v3_large(nninit::DType::F32)?;
/// let numel = |id| m.tensor(id).shape().iter().product::<usize>();
/// assert_eq!(m.named_parameters().into_iter().map(|(_, id)| numel(id)).sum::<usize>(), 5483032);
/// assert_eq!(m.state_dict().len(), 312);
/// # Ok::<(), nninit::Error>(())
/// ```
///
/// # Errors
/// None in practice (the configuration is fixed); layer construction errors are propagated.
pub fn mobilenet_v3_large(dtype: DType) -> Result<Model> {
    // (input, kernel, expanded, output, use_se, use_hs); strides and dilations change no parameter.
    const SETTING: [(usize, usize, usize, usize, bool, bool); 15] = [
        (16, 3, 16, 16, false, false),
        (16, 3, 64, 24, false, false),
        (24, 3, 72, 24, false, false),
        (24, 5, 72, 40, true, false),
        (40, 5, 120, 40, true, false),
        (40, 5, 120, 40, true, false),
        (40, 3, 240, 80, false, true),
        (80, 3, 200, 80, false, true),
        (80, 3, 184, 80, false, true),
        (80, 3, 184, 80, false, true),
        (80, 3, 480, 112, true, true),
        (112, 3, 672, 112, true, true),
        (112, 5, 672, 160, true, true),
        (160, 5, 960, 160, true, true),
        (160, 5, 960, 160, true, true),
    ];
    const LAST_CHANNEL: usize = 1280;
    let mut m = Model::new(dtype);
    let mut features = vec![conv_norm_activation(&mut m, 3, 16, 3, 1, Some("Hardswish"))?];
    for (input_channels, kernel, expanded_channels, out_channels, use_se, use_hs) in SETTING {
        let c = Bneck { input_channels, kernel, expanded_channels, out_channels, use_se, use_hs };
        features.push(inverted_residual(&mut m, &c)?);
    }
    features.push(conv_norm_activation(&mut m, 160, 960, 1, 1, Some("Hardswish"))?);
    let features = m.sequential(&features);
    let avgpool = m.stateless("AdaptiveAvgPool2d")?;
    let classifier = [
        m.add(Layer::linear(960, LAST_CHANNEL))?,
        m.stateless("Hardswish")?,
        m.stateless("Dropout")?,
        m.add(Layer::linear(LAST_CHANNEL, 1000))?,
    ];
    let classifier = m.sequential(&classifier);
    let root = m.custom("MobileNetV3", &[("features", features), ("avgpool", avgpool), ("classifier", classifier)])?;
    let mut model = m.with_root(root)?;
    reinit(&mut model, mobilenet_rule)?;
    Ok(model)
}
