//! The module tree: PyTorch's layers with their default init, and the traversals
//! (`children`, `modules`, `named_parameters`, `state_dict`, `apply`) to re-initialize them.

mod layer;
mod model;
mod parse;

pub use layer::{zero_row, Layer, RnnMode, Role, Slot, MAX_LAYERS};
pub use model::{meta, Event, Model, Module, ModuleId, ModuleMut, Part, Provenance, Registered, TensorId};
