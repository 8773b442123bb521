//! The PyTorch layer behind a candle variable, read from its name, shape and the init hint
//! `candle_nn` passes.

use candle_nn::init::{FanInOut, NonLinearity, NormalOrUniform};
use candle_nn::Init as Hint;
use nninit::adapter::Node;
use nninit::init::{FanMode, Init, Nonlinearity};
use nninit::nn::{Layer, Role};
use nninit::{Error, Result};

/// `(name, shape, hint)` of one variable.
pub(crate) type Var<'a> = (&'a str, &'a [usize], &'a Hint);

fn split(name: &str) -> (&str, &str) {
    name.rsplit_once('.').unwrap_or(("", name))
}

fn is_kaiming(h: &Hint) -> bool {
    matches!(h, Hint::Kaiming { .. })
}

/// The layer whose `weight` this is: `candle_nn::linear`/`conv*` pass a Kaiming hint (the weight
/// shape is PyTorch's: `(out, in)`, `(out, in/groups, *k)`), `candle_nn::embedding` a normal one.
fn weight_layer(shape: &[usize], hint: &Hint, bias: bool) -> Option<Layer> {
    match (hint, shape.len()) {
        (Hint::Kaiming { .. }, 2) => Some(Layer::Linear { in_features: shape[1], out_features: shape[0], bias }),
        (Hint::Kaiming { .. }, 3..=5) => Some(Layer::Conv {
            in_channels: shape[1],
            out_channels: shape[0],
            kernel_size: shape[2..].to_vec(),
            groups: 1,
            bias,
            transposed: false,
        }),
        (Hint::Randn { .. }, 2) if !bias => {
            Some(Layer::Embedding { num_embeddings: shape[0], embedding_dim: shape[1], padding_idx: None })
        }
        _ => None,
    }
}

/// The init nninit draws for variable `name` created after `before` (in creation order): the
/// PyTorch default of its layer, or its hint translated.
pub(crate) fn init_for(before: &[Var<'_>], name: &str, shape: &[usize], hint: &Hint) -> Result<Init> {
    let (path, leaf) = split(name);
    if leaf == "weight" {
        if let Some(layer) = weight_layer(shape, hint, false) {
            return layer.default_init("weight").ok_or_else(|| Error::value("no default init"));
        }
    }
    if leaf == "bias" && matches!(hint, Hint::Uniform { .. }) && shape.len() == 1 {
        let weight = before
            .iter()
            .find(|(n, s, h)| split(n) == (path, "weight") && is_kaiming(h) && s.first() == Some(&shape[0]));
        if let Some(layer) = weight.and_then(|(_, s, h)| weight_layer(s, h, true)) {
            return layer.default_init("bias").ok_or_else(|| Error::value("no default init"));
        }
    }
    translate(hint, shape).map_err(|e| e.at(name, shape))
}

/// A hint as nninit's init: the same distribution, drawn on nninit's stream.
fn translate(hint: &Hint, shape: &[usize]) -> Result<Init> {
    Ok(match *hint {
        Hint::Const(val) => Init::Constant { val },
        Hint::Randn { mean, stdev } => Init::Normal { mean, std: stdev },
        Hint::Uniform { lo, up } => Init::Uniform { a: lo, b: up },
        Hint::Kaiming { dist, fan, non_linearity } => {
            let mode = match fan {
                FanInOut::FanIn => FanMode::FanIn,
                FanInOut::FanOut => FanMode::FanOut,
            };
            let nonlinearity = match non_linearity {
                NonLinearity::ReLU => Nonlinearity::Relu,
                NonLinearity::Linear => Nonlinearity::Linear,
                NonLinearity::Sigmoid => Nonlinearity::Sigmoid,
                NonLinearity::Tanh => Nonlinearity::Tanh,
                NonLinearity::SELU => Nonlinearity::Selu,
                NonLinearity::ExplicitGain(gain) => {
                    let (fan_in, fan_out) = nninit::init::fan_in_and_fan_out(shape)?;
                    let fan = if mode == FanMode::FanIn { fan_in } else { fan_out } as f64;
                    let std = gain / fan.sqrt();
                    return Ok(match dist {
                        NormalOrUniform::Normal => Init::Normal { mean: 0.0, std },
                        NormalOrUniform::Uniform => Init::Uniform { a: -(3f64.sqrt()) * std, b: 3f64.sqrt() * std },
                    });
                }
            };
            // Fans need two dimensions: say so for this variable rather than at draw time.
            nninit::init::fan_in_and_fan_out(shape)?;
            match dist {
                NormalOrUniform::Normal => Init::KaimingNormal { a: 0.0, mode, nonlinearity },
                NormalOrUniform::Uniform => Init::KaimingUniform { a: 0.0, mode, nonlinearity },
            }
        }
    })
}

fn role(leaf: &str, shape: &[usize]) -> Role {
    if leaf.contains("bias") {
        Role::Bias
    } else if shape.len() >= 2 {
        Role::Weight
    } else {
        Role::NormWeight
    }
}

/// The model the variables describe, module by module in order of first creation: a typed
/// layer where the variables are exactly a PyTorch layer's (Linear, Conv, Embedding, BatchNorm,
/// LayerNorm), loose parameters (with their hint's init) otherwise.
pub(crate) fn nodes<'a>(vars: impl Iterator<Item = Var<'a>>) -> Result<Vec<Node>> {
    let vars: Vec<Var<'a>> = vars.collect();
    let mut modules: Vec<(&str, Vec<usize>)> = Vec::new();
    for (i, (name, _, _)) in vars.iter().enumerate() {
        let path = split(name).0;
        match modules.iter_mut().find(|(p, _)| *p == path) {
            Some((_, members)) => members.push(i),
            None => modules.push((path, vec![i])),
        }
    }
    let mut nodes = Vec::new();
    for (path, members) in modules {
        let get = |leaf: &str| members.iter().map(|&i| vars[i]).find(|(n, _, _)| split(n).1 == leaf);
        let layer = module_layer(&members.iter().map(|&i| vars[i]).collect::<Vec<_>>(), &get);
        match layer {
            Some(layer) => nodes.push(Node::layer(path, layer)),
            None => {
                for &i in &members {
                    let (name, shape, _) = vars[i];
                    let init = init_for(&vars[..i], name, shape, vars[i].2)?;
                    nodes.push(Node::Param {
                        name: name.to_string(),
                        shape: shape.to_vec(),
                        role: role(split(name).1, shape),
                        init: Some(init),
                    });
                }
            }
        }
    }
    Ok(nodes)
}

/// The PyTorch layer whose slots are exactly `members` (same names and shapes), if any.
fn module_layer<'a>(members: &[Var<'a>], get: &dyn Fn(&str) -> Option<Var<'a>>) -> Option<Layer> {
    let konst =
        |leaf: &str, v: f64| get(leaf).is_some_and(|(_, s, h)| s.len() == 1 && matches!(h, Hint::Const(c) if *c == v));
    let (_, w, wh) = get("weight")?;
    let bias = get("bias").is_some();
    let layer = if let Some(layer) =
        weight_layer(w, wh, bias).filter(|_| !bias || matches!(get("bias"), Some((_, _, Hint::Uniform { .. }))))
    {
        layer
    } else if w.len() == 1 && konst("weight", 1.0) && konst("running_mean", 0.0) && konst("running_var", 1.0) {
        Layer::BatchNorm { dims: 2, num_features: w[0], affine: true, track_running_stats: true }
    } else if w.len() == 1 && konst("weight", 1.0) && (!bias || konst("bias", 0.0)) {
        Layer::LayerNorm { normalized_shape: vec![w[0]], elementwise_affine: true, bias }
    } else {
        return None;
    };
    let slots: Vec<_> = layer.slots().into_iter().filter(|s| !s.int64).collect();
    let same = slots.len() == members.len()
        && slots
            .iter()
            .all(|s| members.iter().any(|(n, shape, _)| split(n).1 == s.name && *shape == s.shape.as_slice()));
    same.then_some(layer)
}
