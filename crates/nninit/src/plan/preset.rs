//! Built-in plans.

use super::{OneOrMany, Plan, Rule};
use crate::error::{Error, Result};
use crate::init::{FanMode, Init, Nonlinearity};
use crate::nn::Role;

/// Names accepted by [`preset`].
pub const PRESETS: [&str; 3] = ["torch", "seed", "bert"];

/// Options some presets read.
#[derive(Clone, Debug, PartialEq)]
pub struct PresetOptions {
    /// `bert`: the std of the normal init (Hugging Face `initializer_range`, default 0.02).
    pub initializer_range: f64,
}

impl Default for PresetOptions {
    fn default() -> Self {
        PresetOptions { initializer_range: 0.02 }
    }
}

/// A built-in plan:
///
/// * `torch`: no rules — every layer keeps PyTorch's default init from construction.
/// * `seed`: Linear → `xavier_normal_` weight, zero bias; Conv2d → `kaiming_normal_(mode='fan_out',
///   nonlinearity='relu')` weight, zero bias; BatchNorm2d / GroupNorm → weight 1, bias 0.
/// * `bert`: Hugging Face BERT's `_init_weights`: Linear and Embedding weights
///   `normal_(0, initializer_range)`, Linear biases 0, Embedding padding rows 0, LayerNorm 1 / 0.
///
/// # Errors
/// An unknown name ([`Error::Unknown`] listing [`PRESETS`]).
pub fn preset(name: &str, options: &PresetOptions) -> Result<Plan> {
    let rule = |layer: &[&str], role, init| Rule {
        layer: Some(OneOrMany::Many(layer.iter().map(|s| s.to_string()).collect())),
        ..Rule::new(None, Some(role), init)
    };
    let rules = match name {
        "torch" => Vec::new(),
        "seed" => vec![
            rule(&["Linear"], Role::Weight, Init::XavierNormal { gain: 1.0 }),
            rule(&["Linear", "Conv2d"], Role::Bias, Init::Zeros),
            rule(
                &["Conv2d"],
                Role::Weight,
                Init::KaimingNormal { a: 0.0, mode: FanMode::FanOut, nonlinearity: Nonlinearity::Relu },
            ),
            rule(&["BatchNorm2d", "GroupNorm"], Role::NormWeight, Init::Ones),
            rule(&["BatchNorm2d", "GroupNorm"], Role::NormBias, Init::Zeros),
        ],
        "bert" => {
            let normal = Init::Normal { mean: 0.0, std: options.initializer_range };
            vec![
                rule(&["Linear"], Role::Weight, normal.clone()),
                rule(&["Linear"], Role::Bias, Init::Zeros),
                Rule { zero_padding: true, ..rule(&["Embedding"], Role::Embedding, normal) },
                rule(&["LayerNorm"], Role::NormWeight, Init::Ones),
                rule(&["LayerNorm"], Role::NormBias, Init::Zeros),
            ]
        }
        other => return Err(Error::Unknown { what: "preset", name: other.into(), known: PRESETS.join(", ") }),
    };
    Ok(Plan { rules, ..Plan::default() })
}
