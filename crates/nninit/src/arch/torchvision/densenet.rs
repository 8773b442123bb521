//! torchvision `DenseNet` (`densenet121`), `models/densenet.py`.

use super::*;

/// `_DenseLayer(num_input_features, growth_rate, bn_size)`: `norm1`, `relu1`, `conv1` (1×1 to
/// `bn_size·growth_rate`), `norm2`, `relu2`, `conv2` (3×3 to `growth_rate`), no biases.
fn dense_layer(m: &mut Model, num_input_features: usize, growth_rate: usize, bn_size: usize) -> Result<ModuleId> {
    let width = bn_size * growth_rate;
    let norm1 = m.add(batch_norm2d(num_input_features))?;
    let relu1 = m.stateless("ReLU")?;
    let conv1 = m.add(conv1x1(num_input_features, width))?;
    let norm2 = m.add(batch_norm2d(width))?;
    let relu2 = m.stateless("ReLU")?;
    let conv2 = m.add(conv3x3(width, growth_rate))?;
    m.custom(
        "_DenseLayer",
        &[("norm1", norm1), ("relu1", relu1), ("conv1", conv1), ("norm2", norm2), ("relu2", relu2), ("conv2", conv2)],
    )
}

/// DenseNet's re-initialization: Conv2d → `kaiming_normal_` (fan_in, a = 0), BatchNorm2d → 1,
/// 0, Linear → bias 0 (its weight keeps the default init).
fn densenet_rule(layer: &Layer) -> Vec<(&'static str, Init)> {
    if is_conv2d(layer) {
        vec![("weight", Init::KaimingNormal { a: 0.0, mode: FanMode::FanIn, nonlinearity: Nonlinearity::LeakyRelu })]
    } else if is_batch_norm2d(layer) {
        vec![("weight", Init::Constant { val: 1.0 }), ("bias", Init::Constant { val: 0.0 })]
    } else if matches!(layer, Layer::Linear { .. }) {
        vec![("bias", Init::Constant { val: 0.0 })]
    } else {
        Vec::new()
    }
}

/// torchvision 0.29 `densenet121()` (no weights): `DenseNet(growth_rate=32, block_config=(6,
/// 12, 24, 16), num_init_features=64)`, 1000 classes, 8.0M parameters, initialized exactly as
/// torchvision does.
///
/// Building records the inits; nothing is drawn until the model is materialized or saved:
///
/// ```
/// let m = nninit::arch::torchvision::densenet121(nninit::DType::F32)?;
/// let numel = |id| m.tensor(id).shape().iter().product::<usize>();
/// assert_eq!(m.named_parameters().into_iter().map(|(_, id)| numel(id)).sum::<usize>(), 7978856);
/// assert_eq!(m.state_dict().len(), 727);
/// # Ok::<(), nninit::Error>(())
/// ```
///
/// # Errors
/// None in practice (the configuration is fixed); layer construction errors are propagated.
pub fn densenet121(dtype: DType) -> Result<Model> {
    const GROWTH_RATE: usize = 32;
    const BN_SIZE: usize = 4;
    const BLOCK_CONFIG: [usize; 4] = [6, 12, 24, 16];
    let mut m = Model::new(dtype);
    let mut features: Vec<(String, ModuleId)> = vec![
        ("conv0".into(), m.add(conv2d(3, 64, 7, 1, false))?),
        ("norm0".into(), m.add(batch_norm2d(64))?),
        ("relu0".into(), m.stateless("ReLU")?),
        ("pool0".into(), m.stateless("MaxPool2d")?),
    ];
    let mut num_features = 64;
    for (i, num_layers) in BLOCK_CONFIG.into_iter().enumerate() {
        let mut layers = Vec::with_capacity(num_layers);
        for j in 0..num_layers {
            let layer = dense_layer(&mut m, num_features + j * GROWTH_RATE, GROWTH_RATE, BN_SIZE)?;
            layers.push((format!("denselayer{}", j + 1), layer));
        }
        let named: Vec<(&str, ModuleId)> = layers.iter().map(|(n, id)| (n.as_str(), *id)).collect();
        features.push((format!("denseblock{}", i + 1), m.custom("_DenseBlock", &named)?));
        num_features += num_layers * GROWTH_RATE;
        if i != BLOCK_CONFIG.len() - 1 {
            let norm = m.add(batch_norm2d(num_features))?;
            let relu = m.stateless("ReLU")?;
            let conv = m.add(conv1x1(num_features, num_features / 2))?;
            let pool = m.stateless("AvgPool2d")?;
            let transition =
                m.custom("_Transition", &[("norm", norm), ("relu", relu), ("conv", conv), ("pool", pool)])?;
            features.push((format!("transition{}", i + 1), transition));
            num_features /= 2;
        }
    }
    features.push(("norm5".into(), m.add(batch_norm2d(num_features))?));
    let named: Vec<(&str, ModuleId)> = features.iter().map(|(n, id)| (n.as_str(), *id)).collect();
    let features = m.custom("Sequential", &named)?;
    let classifier = m.add(Layer::linear(num_features, 1000))?;
    let root = m.custom("DenseNet", &[("features", features), ("classifier", classifier)])?;
    let mut model = m.with_root(root)?;
    reinit(&mut model, densenet_rule)?;
    Ok(model)
}
