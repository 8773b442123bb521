//! Checkpoint I/O: safetensors reading (validated, memory-mapped) and writing (atomic, one
//! tensor in memory at a time).

mod safetensors;
mod space;
mod temporary;

pub(crate) use self::safetensors::parse_header as parse_header_of;
pub use self::safetensors::{
    check_destination, load_bytes, read_layout, remove_temporary_files, write, write_with_progress, Checkpoint, Entry,
    Layout, Overwrite, TensorInfo, TensorSource, Writer,
};
pub use self::space::{available_bytes, check_free_space};
