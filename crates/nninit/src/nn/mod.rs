//! The module tree: PyTorch's layers with their default init, and the traversals
//! (`children`, `modules`, `named_parameters`, `state_dict`, `apply`) to re-initialize them.

mod layer;
pub mod layers;
pub mod materialize;
mod model;
mod parse;

pub use layer::{Layer, RnnMode, Role, Slot, MAX_LAYERS};
pub use materialize::{chunks, fill_chunks, skip, Sink, CHUNK};
pub use model::{
    Event, Fill, Model, Module, ModuleId, ModuleMut, Origin, Part, Provenance, Registered, SlotKind, TensorId,
};
pub(crate) use parse::take_dtype;
