//! `ViTModel` / `ViTForImageClassification` (transformers `models/vit/modeling_vit.py`, 5.x
//! layout: `layers.N.attention.{q,k,v,o}_proj`).
//!
//! `ViTEmbeddings.__init__` draws `cls_token = torch.randn(1, 1, hidden_size)`, then constructs
//! `patch_embeddings.projection` (`nn.Conv2d(num_channels, hidden_size, kernel_size=patch_size,
//! stride=patch_size)`, default init), then draws `position_embeddings = torch.randn(1,
//! num_patches + 1, hidden_size)`. `ViTPreTrainedModel._init_weights` is the base rule (the
//! projection counts as a Conv2d: `N(0, std)`, bias 0) plus, on `ViTEmbeddings`,
//! `trunc_normal_(position_embeddings, std=initializer_range)` then
//! `trunc_normal_(cls_token, std=initializer_range)` (cut at ±2, not ±2σ).

use super::*;

/// The `ViTConfig` fields that shape the model, with `ViTConfig`'s defaults.
pub(super) struct Config {
    hidden_size: usize,
    num_hidden_layers: usize,
    /// `num_attention_heads * head_dim`.
    all_head_size: usize,
    intermediate_size: usize,
    initializer_range: f64,
    /// `(height, width)` of the image and of a patch.
    image_size: [usize; 2],
    patch_size: [usize; 2],
    num_channels: usize,
    qkv_bias: bool,
    pooler_output_size: usize,
    /// The classes of `ACT2FN[hidden_act]` and `ACT2FN[pooler_act]`.
    activation: &'static str,
    pooler_activation: &'static str,
    num_labels: usize,
}

impl Config {
    /// Reads a `ViTConfig` from `config.json`.
    pub(super) fn read(config: &Value) -> Result<Self> {
        let f = Fields::new(config, "ViTConfig")?;
        let hidden_size = f.dim(&["hidden_size"])?;
        let heads = f.heads(&["num_attention_heads"])?;
        let head_dim = f.dim_or(&["head_dim"], hidden_size / heads)?;
        let patch_size = f.pair_or("patch_size", 16)?;
        if patch_size.contains(&0) {
            return Err(Error::value(format!(
                "ViTConfig: config field `patch_size` must be positive, got {patch_size:?}"
            )));
        }
        Ok(Config {
            hidden_size,
            num_hidden_layers: f.layers(&["num_hidden_layers"])?,
            all_head_size: heads * head_dim,
            intermediate_size: f.dim_or(&["intermediate_size"], 3072)?,
            initializer_range: f.float_or("initializer_range", 0.02)?,
            image_size: f.pair_or("image_size", 224)?,
            patch_size,
            num_channels: f.dim_or(&["num_channels"], 3)?,
            qkv_bias: f.bool_or("qkv_bias", true)?,
            pooler_output_size: f.dim_or(&["pooler_output_size"], hidden_size)?,
            activation: activation_class(&f.str_or("hidden_act", "gelu")?)?,
            pooler_activation: activation_class(&f.str_or("pooler_act", "tanh")?)?,
            num_labels: f.num_labels()?,
        })
    }
}

/// `ViTModel(config, add_pooling_layer)`, then its `post_init`.
pub(super) fn model(b: &mut PreTrained, c: &Config, add_pooling_layer: bool) -> Result<ModuleId> {
    let h = c.hidden_size;
    let embeddings = embeddings(b, c)?;
    let mut layers = Vec::with_capacity(c.num_hidden_layers);
    for _ in 0..c.num_hidden_layers {
        let q_proj = b.linear(h, c.all_head_size, c.qkv_bias)?;
        let k_proj = b.linear(h, c.all_head_size, c.qkv_bias)?;
        let v_proj = b.linear(h, c.all_head_size, c.qkv_bias)?;
        let o_proj = b.linear(c.all_head_size, h, true)?;
        let attention = b.m.custom(
            "ViTAttention",
            &[("q_proj", q_proj), ("k_proj", k_proj), ("v_proj", v_proj), ("o_proj", o_proj)],
        )?;
        let layernorm_before = b.layer_norm(h)?;
        let layernorm_after = b.layer_norm(h)?;
        let activation_fn = b.m.stateless(c.activation)?;
        let fc1 = b.linear(h, c.intermediate_size, true)?;
        let fc2 = b.linear(c.intermediate_size, h, true)?;
        let mlp = b.m.custom("ViTMLP", &[("activation_fn", activation_fn), ("fc1", fc1), ("fc2", fc2)])?;
        let dropout = b.m.stateless("Dropout")?;
        layers.push(b.m.custom(
            "ViTLayer",
            &[
                ("attention", attention),
                ("layernorm_before", layernorm_before),
                ("layernorm_after", layernorm_after),
                ("mlp", mlp),
                ("dropout", dropout),
            ],
        )?);
    }
    let layers = b.m.module_list(&layers);
    let layernorm = b.layer_norm(h)?;
    let mut children = vec![("embeddings", embeddings), ("layers", layers), ("layernorm", layernorm)];
    if add_pooling_layer {
        let dense = b.linear(h, c.pooler_output_size, true)?;
        let activation = b.m.stateless(c.pooler_activation)?;
        children.push(("pooler", b.m.custom("ViTPooler", &[("dense", dense), ("activation", activation)])?));
    }
    let root = b.m.custom("ViTModel", &children)?;
    b.post_init(root, &|b, id, path| init_weights(b, id, path, c))?;
    Ok(root)
}

/// `ViTForImageClassification(config)`: `vit` (a `ViTModel` without pooler), then `classifier =
/// nn.Linear(hidden_size, num_labels)` (`nn.Identity()` when `num_labels` is 0).
pub(super) fn for_image_classification(b: &mut PreTrained, c: &Config) -> Result<ModuleId> {
    let vit = model(b, c, false)?;
    let classifier =
        if c.num_labels > 0 { b.linear(c.hidden_size, c.num_labels, true)? } else { b.m.stateless("Identity")? };
    let root = b.m.custom("ViTForImageClassification", &[("vit", vit), ("classifier", classifier)])?;
    b.post_init(root, &|b, id, path| init_weights(b, id, path, c))?;
    Ok(root)
}

/// `ViTPreTrainedModel._init_weights`: the base rule, then on `ViTEmbeddings`
/// `trunc_normal_(position_embeddings, 0, initializer_range)` and
/// `trunc_normal_(cls_token, 0, initializer_range)`.
fn init_weights(b: &mut PreTrained, id: ModuleId, path: &str, c: &Config) -> Result<()> {
    base_init_weights(b, id, path, base_std(c.initializer_range))?;
    if b.m.module(id).layer.type_name() == "ViTEmbeddings" {
        let init = Init::TruncNormal { mean: 0.0, std: c.initializer_range, a: -2.0, b: 2.0 };
        b.init(id, path, "position_embeddings", init.clone())?;
        b.init(id, path, "cls_token", init)?;
    }
    Ok(())
}

/// `ViTEmbeddings(config)`: parameters `cls_token`, `position_embeddings` (drawn `N(0, 1)`
/// before and after the projection is constructed), children `patch_embeddings`
/// (`ViTPatchEmbeddings` holding `projection`) and `dropout`.
fn embeddings(b: &mut PreTrained, c: &Config) -> Result<ModuleId> {
    let h = c.hidden_size;
    let num_patches = (c.image_size[1] / c.patch_size[1]) * (c.image_size[0] / c.patch_size[0]);
    let param = |name: &str, shape: Vec<usize>| Slot {
        name: name.into(),
        shape,
        role: Role::Embedding,
        buffer: false,
        int64: false,
    };
    let id = b.with_params(
        "ViTEmbeddings",
        &[param("cls_token", vec![1, 1, h]), param("position_embeddings", vec![1, num_patches + 1, h])],
    )?;
    let randn = Init::Normal { mean: 0.0, std: 1.0 };
    b.init(id, "", "cls_token", randn.clone())?;
    let projection = b.m.add(Layer::Conv {
        in_channels: c.num_channels,
        out_channels: h,
        kernel_size: c.patch_size.to_vec(),
        groups: 1,
        bias: true,
        transposed: false,
    })?;
    b.init(id, "", "position_embeddings", randn)?;
    let patch_embeddings = b.m.custom("ViTPatchEmbeddings", &[("projection", projection)])?;
    let dropout = b.m.stateless("Dropout")?;
    b.m.add_child(id, "patch_embeddings", patch_embeddings)?;
    b.m.add_child(id, "dropout", dropout)?;
    Ok(id)
}
