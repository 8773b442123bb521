//! torchvision `VisionTransformer` (`vit_b_16`), `models/vision_transformer.py`.

use super::*;

/// `MLPBlock(in_dim, mlp_dim)`: a Sequential subclass of `Linear`, `GELU`, `Dropout`, `Linear`,
/// `Dropout` (children `0` to `4`), whose constructor then re-initializes each `Linear`:
/// `xavier_uniform_(weight)`, `normal_(bias, std=1e-6)`.
fn mlp_block(m: &mut Model, in_dim: usize, mlp_dim: usize) -> Result<ModuleId> {
    let fc1 = m.add(Layer::linear(in_dim, mlp_dim))?;
    let act = m.stateless("GELU")?;
    let drop1 = m.stateless("Dropout")?;
    let fc2 = m.add(Layer::linear(mlp_dim, in_dim))?;
    let drop2 = m.stateless("Dropout")?;
    for (id, path) in [(fc1, "0"), (fc2, "3")] {
        m.module_mut(id, path).init("weight", &Init::XavierUniform { gain: 1.0 })?;
        m.module_mut(id, path).init("bias", &Init::Normal { mean: 0.0, std: 1e-6 })?;
    }
    Ok(m.container(Layer::Custom("MLPBlock".into()), &[fc1, act, drop1, fc2, drop2]))
}

/// `EncoderBlock`: `ln_1`, `self_attention` (`nn.MultiheadAttention(hidden_dim, num_heads)`),
/// `dropout`, `ln_2`, `mlp`.
fn encoder_block(m: &mut Model, num_heads: usize, hidden_dim: usize, mlp_dim: usize) -> Result<ModuleId> {
    let ln_1 = m.add(Layer::layer_norm(&[hidden_dim]))?;
    let self_attention = m.add(Layer::MultiheadAttention {
        embed_dim: hidden_dim,
        num_heads,
        bias: true,
        add_bias_kv: false,
        kdim: hidden_dim,
        vdim: hidden_dim,
    })?;
    let dropout = m.stateless("Dropout")?;
    let ln_2 = m.add(Layer::layer_norm(&[hidden_dim]))?;
    let mlp = mlp_block(m, hidden_dim, mlp_dim)?;
    m.custom(
        "EncoderBlock",
        &[("ln_1", ln_1), ("self_attention", self_attention), ("dropout", dropout), ("ln_2", ln_2), ("mlp", mlp)],
    )
}

/// torchvision `VisionTransformer(image_size, patch_size, num_layers, num_heads, hidden_dim,
/// mlp_dim)` with 1000 classes and no representation layer.
///
/// Draws, in order: `conv_proj`'s default init; `encoder.pos_embedding ~ N(0, 0.02)`; each
/// block's layers (MultiheadAttention's `xavier_uniform_`, its `out_proj` default init, the MLP's
/// default then `xavier_uniform_`/`N(0, 1e-6)` inits); `heads.head`'s default init; then
/// `trunc_normal_(conv_proj.weight, std=√(1/fan_in))` and zeros for `conv_proj.bias` and
/// `heads.head`. `class_token` is zeros.
fn vision_transformer(
    image_size: usize,
    patch_size: usize,
    num_layers: usize,
    num_heads: usize,
    hidden_dim: usize,
    mlp_dim: usize,
    dtype: DType,
) -> Result<Model> {
    let mut m = Model::new(dtype);
    let conv_proj = m.add(conv2d(3, hidden_dim, patch_size, 1, true))?;
    let seq_length = (image_size / patch_size).pow(2) + 1;
    let param = |name: &str, shape: Vec<usize>| Slot {
        name: name.into(),
        shape,
        role: Role::Embedding,
        buffer: false,
        int64: false,
    };
    let root =
        m.add_with_slots(Layer::Custom("VisionTransformer".into()), &[param("class_token", vec![1, 1, hidden_dim])])?;
    let encoder =
        m.add_with_slots(Layer::Custom("Encoder".into()), &[param("pos_embedding", vec![1, seq_length, hidden_dim])])?;
    m.module_mut(encoder, "encoder").init("pos_embedding", &Init::Normal { mean: 0.0, std: 0.02 })?;
    let dropout = m.stateless("Dropout")?;
    let mut blocks = Vec::with_capacity(num_layers);
    for i in 0..num_layers {
        blocks.push((format!("encoder_layer_{i}"), encoder_block(&mut m, num_heads, hidden_dim, mlp_dim)?));
    }
    let named: Vec<(&str, ModuleId)> = blocks.iter().map(|(n, id)| (n.as_str(), *id)).collect();
    let layers = m.custom("Sequential", &named)?;
    let ln = m.add(Layer::layer_norm(&[hidden_dim]))?;
    for (name, child) in [("dropout", dropout), ("layers", layers), ("ln", ln)] {
        m.add_child(encoder, name, child)?;
    }
    let head = m.add(Layer::linear(hidden_dim, 1000))?;
    let heads = m.custom("Sequential", &[("head", head)])?;
    for (name, child) in [("conv_proj", conv_proj), ("encoder", encoder), ("heads", heads)] {
        m.add_child(root, name, child)?;
    }
    let fan_in = (3 * patch_size * patch_size) as f64;
    let std = (1.0 / fan_in).sqrt();
    m.module_mut(conv_proj, "conv_proj").init("weight", &Init::TruncNormal { mean: 0.0, std, a: -2.0, b: 2.0 })?;
    m.module_mut(conv_proj, "conv_proj").init("bias", &Init::Zeros)?;
    m.module_mut(head, "heads.head").init("weight", &Init::Zeros)?;
    m.module_mut(head, "heads.head").init("bias", &Init::Zeros)?;
    m.with_root(root)
}

/// torchvision 0.29 `vit_b_16()` (no weights): `VisionTransformer(image_size=224, patch_size=16,
/// num_layers=12, num_heads=12, hidden_dim=768, mlp_dim=3072)`, 1000 classes, 86.6M
/// parameters, initialized exactly as torchvision does (see `vision_transformer` in this module's source).
///
/// Building records the inits; nothing is drawn until the model is materialized or saved:
///
/// ```
/// let m = nninit::arch::torchvision::vit_b_16(nninit::DType::F32)?;
/// let numel = |id| m.tensor(id).shape().iter().product::<usize>();
/// assert_eq!(m.named_parameters().into_iter().map(|(_, id)| numel(id)).sum::<usize>(), 86567656);
/// assert_eq!(m.state_dict().len(), 152);
/// # Ok::<(), nninit::Error>(())
/// ```
///
/// # Errors
/// None in practice (the configuration is fixed); layer construction errors are propagated.
pub fn vit_b_16(dtype: DType) -> Result<Model> {
    vision_transformer(224, 16, 12, 12, 768, 3072, dtype)
}
