//! Modules without parameters of their own: parameterless layers (`nn.ReLU`, `nn.Dropout`,
//! `nn.MaxPool2d`, ...), the containers `nn.Sequential` and `nn.ModuleList`, and user-defined
//! modules ([`Layer::Custom`]); and the [`Model`] methods that build module trees out of them the
//! way a PyTorch `__init__` does.
//!
//! A parameterless layer accepts any literal arguments (`nn.Dropout(0.1)`, `nn.MaxPool2d(3,
//! stride=2)`): they change only the forward pass. A container with children is a module tree,
//! not a single layer: [`crate::arch::from_torch_ctor`] builds
//! `nn.Sequential(nn.Linear(4, 4), nn.ReLU())`.

use super::Family;
use crate::error::{Error, Result};
use crate::nn::{Layer, Model, ModuleId};
use crate::pycall::{Call, Literal};

/// The container family.
pub(crate) struct Containers;

/// Class names accepted as parameterless layers.
pub const STATELESS: [&str; 24] = [
    "ReLU",
    "ReLU6",
    "LeakyReLU",
    "GELU",
    "SiLU",
    "Tanh",
    "Sigmoid",
    "Softmax",
    "Hardswish",
    "Hardtanh",
    "ELU",
    "SELU",
    "Mish",
    "Dropout",
    "Dropout1d",
    "Dropout2d",
    "Identity",
    "Flatten",
    "MaxPool1d",
    "MaxPool2d",
    "MaxPool3d",
    "AvgPool2d",
    "AdaptiveAvgPool2d",
    "AdaptiveAvgPool1d",
];

impl Family for Containers {
    fn classes(&self) -> &'static str {
        "Sequential, ModuleList, parameterless layers (ReLU, Dropout, ...)"
    }

    fn parse(&self, call: &Call) -> Option<Result<Layer>> {
        let name = call.name.as_str();
        let module_arg = call.positional.iter().chain(call.keyword.iter().map(|(_, v)| v)).find(|v| is_module(v));
        match name {
            "Sequential" | "ModuleList" if call.positional.is_empty() && call.keyword.is_empty() => {
                Some(Ok(if name == "Sequential" { Layer::Sequential } else { Layer::ModuleList }))
            }
            "Sequential" | "ModuleList" => Some(Err(Error::parse(
                "layer",
                call.text.as_str(),
                format!(
                    "nn.{name} with modules inside is a model, not one layer (build it with arch::from_torch_ctor)"
                ),
            ))),
            n if STATELESS.contains(&n) => Some(match module_arg {
                Some(m) => {
                    Err(Error::parse("layer", call.text.as_str(), format!("nn.{n} takes no module arguments, got {m}")))
                }
                None => Ok(Layer::Stateless(n.to_string())),
            }),
            _ => None,
        }
    }
}

/// Whether `v` is a constructor call or holds one (a list of modules).
fn is_module(v: &Literal) -> bool {
    match v {
        Literal::Call(_) => true,
        Literal::List(items) => items.iter().any(|i| matches!(i, Literal::Call(_))),
        _ => false,
    }
}

/// Building module trees as a PyTorch `__init__` does: each layer is constructed (its default
/// init recorded) when [`Model::add`] is called, so call these in the order the Python code
/// creates the modules, and register children in the order `__init__` assigns them.
///
/// ```
/// use nninit::nn::{Layer, Model};
/// use nninit::DType;
///
/// // class Block(nn.Module):
/// //     def __init__(self):
/// //         self.fc = nn.Linear(4, 4); self.act = nn.ReLU()
/// //         self.heads = nn.ModuleList([nn.Linear(4, 2), nn.Linear(4, 3)])
/// let mut m = Model::new(DType::F32);
/// let fc = m.add(Layer::linear(4, 4))?;
/// let act = m.stateless("ReLU")?;
/// let heads = [m.add(Layer::linear(4, 2))?, m.add(Layer::linear(4, 3))?];
/// let heads = m.module_list(&heads);
/// let block = m.custom("Block", &[("fc", fc), ("act", act), ("heads", heads)])?;
/// let m = m.with_root(block)?;
/// let names: Vec<String> = m.state_dict().into_iter().map(|(n, _)| n).collect();
/// assert_eq!(names, ["fc.weight", "fc.bias", "heads.0.weight", "heads.0.bias", "heads.1.weight", "heads.1.bias"]);
/// # Ok::<(), nninit::Error>(())
/// ```
impl Model {
    /// A parameterless layer of class `class` (`nn.ReLU()`, `nn.Dropout()`, `nn.MaxPool2d(...)`):
    /// a module with no parameters, buffers or draws, visited by `modules()` and `apply()`.
    ///
    /// # Errors
    /// None in practice (kept fallible like [`Model::add`]).
    pub fn stateless(&mut self, class: &str) -> Result<ModuleId> {
        self.add(Layer::stateless(class))
    }

    /// `nn.ModuleList(items)`: children named `0`, `1`, ...
    pub fn module_list(&mut self, items: &[ModuleId]) -> ModuleId {
        self.container(Layer::ModuleList, items)
    }

    /// A user-defined `nn.Module` subclass `class` (a [`Layer::Custom`]) whose `__init__`
    /// registers `children` in this order (`self.name = child`); the children must already be
    /// constructed.
    ///
    /// # Errors
    /// An unknown module id among `children`.
    pub fn custom(&mut self, class: &str, children: &[(&str, ModuleId)]) -> Result<ModuleId> {
        let id = self.container(Layer::Custom(class.into()), &[]);
        for (name, child) in children {
            self.add_child(id, name, *child)?;
        }
        Ok(id)
    }

    /// Makes `root` the root (the module whose `state_dict` the model is) and hands the model
    /// back: the last step of building a model.
    ///
    /// # Errors
    /// An unknown module id.
    pub fn with_root(mut self, root: ModuleId) -> Result<Model> {
        self.set_root(root)?;
        Ok(self)
    }
}
