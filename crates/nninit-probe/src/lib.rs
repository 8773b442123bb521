//! # nninit-probe
//!
//! Signal propagation at initialization, measured on a real forward and backward pass
//! (candle-core on the CPU, gradients by its autograd): per layer the standard deviation of the
//! activations and of the back-propagated gradients of a deep MLP or CNN whose weights are drawn
//! by an [`nninit::init::Init`] ([`probe`]); plots of the curves ([`plot`]); and LSUV,
//! layer-sequential unit-variance initialization (Mishkin & Matas 2015, [`lsuv`]).
//!
//! It reproduces the classic measurements: activations shrink layer after layer through a deep
//! tanh net with the "standard" init `U(−1/√n, 1/√n)` and stay level with the normalized
//! (Xavier) init (Glorot & Bengio 2010, figure 6); through a 30-layer ReLU net Xavier's signal
//! vanishes while Kaiming's holds (He et al. 2015, figure 3).
//!
//! ```
//! use nninit_probe::{probe, Activation, Arch, ProbeConfig};
//! let config = ProbeConfig { depth: 5, width: 32, batch: 16, activation: Activation::Relu, arch: Arch::Mlp, seed: 0 };
//! let init = "kaiming_normal_(nonlinearity='relu')".parse()?;
//! let curve = probe(&config, "kaiming", &init)?;
//! assert_eq!(curve.layers.len(), 5);
//! # Ok::<(), nninit_probe::Error>(())
//! ```
#![warn(missing_docs)]

pub mod lsuv;
mod net;
pub mod plot;

pub use net::{probe, Activation, Arch, Curve, LayerStat, ProbeConfig};

/// Errors of probing and LSUV.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// From nninit (a bad init, a model that cannot be built).
    #[error("{0}")]
    Nninit(#[from] nninit::Error),
    /// From candle (shapes, reading a batch file).
    #[error("{0}")]
    Candle(#[from] candle_core::Error),
    /// A bad argument, named.
    #[error("{0}")]
    Value(String),
    /// Drawing a plot.
    #[error("plot: {0}")]
    Plot(String),
}

/// This crate's result.
pub type Result<T> = std::result::Result<T, Error>;
