//! Bit streams: PyTorch's CPU generator.

mod generator;
mod mt19937;

pub use generator::{Capability, Generator};
pub use mt19937::Mt19937;
