//! # nninit
//!
//! Neural-network parameter initialization for Rust, faithful to PyTorch's `torch.nn.init`.
//!
//! Layers, from the bits up:
//! * [`rng`]: bit streams (MT19937, Philox4x32-10) and the choice between them;
//! * [`sample`]: PyTorch's CPU generator (MT19937 with its Box–Muller cache) and the uniform,
//!   normal and permutation samplers, exact per dtype;
//! * [`init`]: every `torch.nn.init` scheme, fans and gains, and [`init::Init`] as a value;
//! * [`nn`]: a module tree with PyTorch's layers and their default init, `modules()`, `apply()`;
//! * [`plan`]: ordered rules (layer type, name glob, role) → init; presets;
//! * [`arch`]: built-in architectures and a layout read from a checkpoint;
//! * [`adapter`]: a framework's model (candle, burn) described as PyTorch names it, initialized;
//! * `ndarray` (feature `ndarray`): the init functions over `ndarray` arrays;
//! * [`io`]: safetensors reading and writing; [`stream`]: tensors generated chunk by chunk into a
//!   checkpoint; [`stats`]: per-tensor statistics.
//!
//! ```
//! use nninit::{init, tensor::Tensor, DType, Generator};
//! let mut g = Generator::manual_seed(0);
//! let mut w = Tensor::zeros(&[256, 512], DType::F32);
//! init::kaiming_uniform_(w.view_mut()?, 0.0, init::FanMode::FanIn, init::Nonlinearity::Relu, &mut g)?;
//! # Ok::<(), nninit::Error>(())
//! ```
#![warn(missing_docs)]
#![allow(clippy::type_complexity)]

pub mod adapter;
pub mod arch;
pub mod base;
pub mod cancel;
pub mod check;
pub mod error;
pub mod folder;
pub mod init;
pub mod io;
pub mod job;
#[cfg(feature = "ndarray")]
pub mod ndarray;
pub mod nn;
pub mod plan;
mod pycall;
pub mod report;
pub mod rng;
pub mod sample;
pub mod shard;
pub mod stats;
pub mod stream;
pub mod tensor;
pub mod tp;

pub use error::{Error, Result};
pub use half;
pub use sample::Generator;
pub use tensor::{DType, Tensor, TensorMut};
