//! torchvision `ConvNeXt` (`convnext_tiny`), `models/convnext.py`.

use super::*;

/// torchvision `LayerNorm2d(num_channels)` (an `nn.LayerNorm` subclass): weight 1, bias 0.
fn layer_norm2d(m: &mut Model, num_channels: usize) -> Result<ModuleId> {
    let slot =
        |name: &str, role| Slot { name: name.into(), shape: vec![num_channels], role, buffer: false, int64: false };
    let id = m.add_with_slots(
        Layer::Custom("LayerNorm2d".into()),
        &[slot("weight", Role::NormWeight), slot("bias", Role::NormBias)],
    )?;
    m.module_mut(id, "").init("weight", &Init::Ones)?;
    Ok(id)
}

/// `CNBlock(dim, layer_scale=1e-6)`: parameter `layer_scale` (`ones(dim, 1, 1) * 1e-6`), then
/// `block` (7×7 depthwise Conv2d, `Permute`, `LayerNorm`, `Linear(dim, 4·dim)`, `GELU`,
/// `Linear(4·dim, dim)`, `Permute`) and `stochastic_depth`.
fn cn_block(m: &mut Model, dim: usize) -> Result<ModuleId> {
    let layers = [
        m.add(conv2d(dim, dim, 7, dim, true))?,
        m.stateless("Permute")?,
        m.add(Layer::layer_norm(&[dim]))?,
        m.add(Layer::linear(dim, 4 * dim))?,
        m.stateless("GELU")?,
        m.add(Layer::linear(4 * dim, dim))?,
        m.stateless("Permute")?,
    ];
    let block = m.sequential(&layers);
    let slot = Slot {
        name: "layer_scale".into(),
        shape: vec![dim, 1, 1],
        role: Role::NormWeight,
        buffer: false,
        int64: false,
    };
    let id = m.add_with_slots(Layer::Custom("CNBlock".into()), &[slot])?;
    m.module_mut(id, "").init("layer_scale", &Init::Constant { val: 1e-6 })?;
    let stochastic_depth = m.stateless("StochasticDepth")?;
    m.add_child(id, "block", block)?;
    m.add_child(id, "stochastic_depth", stochastic_depth)?;
    Ok(id)
}

/// ConvNeXt's re-initialization: Conv2d and Linear → `trunc_normal_(std=0.02)` (cut at ±2),
/// bias 0.
fn convnext_rule(layer: &Layer) -> Vec<(&'static str, Init)> {
    if is_conv2d(layer) || matches!(layer, Layer::Linear { .. }) {
        vec![("weight", Init::TruncNormal { mean: 0.0, std: 0.02, a: -2.0, b: 2.0 }), ("bias", Init::Zeros)]
    } else {
        Vec::new()
    }
}

/// torchvision 0.29 `convnext_tiny()` (no weights): stages of 3, 3, 9, 3 `CNBlock`s with 96,
/// 192, 384, 768 channels, 1000 classes, 28.6M parameters, initialized exactly as torchvision
/// does: each Conv2d and Linear draws its default init when constructed, then the
/// re-initialization loop over `modules()` draws `trunc_normal_(std=0.02)`.
///
/// Building records the inits; nothing is drawn until the model is materialized or saved:
///
/// ```
/// let m = nninit::arch::torchvision::convnext_tiny(nninit::DType::F32)?;
/// let numel = |id| m.tensor(id).shape().iter().product::<usize>();
/// assert_eq!(m.named_parameters().into_iter().map(|(_, id)| numel(id)).sum::<usize>(), 28589128);
/// assert_eq!(m.state_dict().len(), 182);
/// # Ok::<(), nninit::Error>(())
/// ```
///
/// # Errors
/// None in practice (the configuration is fixed); layer construction errors are propagated.
pub fn convnext_tiny(dtype: DType) -> Result<Model> {
    // (input channels, output channels of the downsampling after the stage, blocks)
    const SETTING: [(usize, Option<usize>, usize); 4] =
        [(96, Some(192), 3), (192, Some(384), 3), (384, Some(768), 9), (768, None, 3)];
    let mut m = Model::new(dtype);
    let stem = [m.add(conv2d(3, 96, 4, 1, true))?, layer_norm2d(&mut m, 96)?];
    let mut layers = vec![m.container(Layer::Custom("Conv2dNormActivation".into()), &stem)];
    for (channels, out, blocks) in SETTING {
        let stage = (0..blocks).map(|_| cn_block(&mut m, channels)).collect::<Result<Vec<_>>>()?;
        layers.push(m.sequential(&stage));
        if let Some(out) = out {
            let down = [layer_norm2d(&mut m, channels)?, m.add(conv2d(channels, out, 2, 1, true))?];
            layers.push(m.sequential(&down));
        }
    }
    let features = m.sequential(&layers);
    let avgpool = m.stateless("AdaptiveAvgPool2d")?;
    let classifier = [layer_norm2d(&mut m, 768)?, m.stateless("Flatten")?, m.add(Layer::linear(768, 1000))?];
    let classifier = m.sequential(&classifier);
    let root = m.custom("ConvNeXt", &[("features", features), ("avgpool", avgpool), ("classifier", classifier)])?;
    let mut model = m.with_root(root)?;
    reinit(&mut model, convnext_rule)?;
    Ok(model)
}
