//! Bit streams: PyTorch's CPU generator (MT19937) and the counter-based Philox4x32-10, behind
//! one [`Engine`] interface that the init schemes draw through.

mod generator;
mod mt19937;
mod philox;

pub use generator::{Capability, Generator};
pub use mt19937::Mt19937;
pub use philox::{philox4x32_10, Philox};

use crate::error::{Error, Result};
use crate::tensor::Element;

/// Which random stream a model's values come from.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Stream {
    /// PyTorch's MT19937 stream ([`Generator`]): bit-exact with `torch.manual_seed(seed)` followed
    /// by the same construction and rules.
    #[default]
    Torch,
    /// Counter-based Philox4x32-10 ([`Philox`]): each value a function of (seed, `state_dict`
    /// name, element index), whatever the thread count, the order, or the rest of the model.
    Philox,
}

impl std::fmt::Display for Stream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Stream::Torch => "torch",
            Stream::Philox => "philox",
        })
    }
}

impl std::str::FromStr for Stream {
    type Err = Error;
    /// `torch` or `philox`.
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "torch" => Ok(Stream::Torch),
            "philox" => Ok(Stream::Philox),
            _ => Err(Error::Unknown { what: "rng", name: s.into(), known: "torch, philox".into() }),
        }
    }
}

/// What the init schemes draw from: PyTorch's stream ([`Generator`], bit-exact with
/// `torch.manual_seed`) or the counter-based [`Philox`] stream (parallel, order-independent).
pub trait Engine {
    /// Fills `out` with U(from, to), half-open (arguments already validated).
    fn uniform<E: Element>(&mut self, out: &mut [E], from: f64, to: f64);
    /// Fills `out` with N(mean, std²) (arguments already validated).
    fn normal<E: Element>(&mut self, out: &mut [E], mean: f64, std: f64);
    /// A random permutation of `0..n`.
    fn randperm(&mut self, n: usize) -> Vec<usize>;
    /// Whether `trunc_normal_` also rejects values equal to the bounds after rounding
    /// (the tail-safe variant; PyTorch keeps them).
    fn strict_truncation(&self) -> bool {
        false
    }
}

impl Engine for Generator {
    fn uniform<E: Element>(&mut self, out: &mut [E], from: f64, to: f64) {
        crate::sample::uniform(out, from, to, self)
    }
    fn normal<E: Element>(&mut self, out: &mut [E], mean: f64, std: f64) {
        crate::sample::normal(out, mean, std, self)
    }
    fn randperm(&mut self, n: usize) -> Vec<usize> {
        crate::sample::randperm(n, self)
    }
}

impl Engine for Philox {
    fn uniform<E: Element>(&mut self, out: &mut [E], from: f64, to: f64) {
        crate::sample::philox::uniform(self, out, from, to);
        self.draw += 1;
    }
    fn normal<E: Element>(&mut self, out: &mut [E], mean: f64, std: f64) {
        crate::sample::philox::normal(self, out, mean, std);
        self.draw += 1;
    }
    fn randperm(&mut self, n: usize) -> Vec<usize> {
        let p = crate::sample::philox::randperm(self, n);
        self.draw += 1;
        p
    }
    fn strict_truncation(&self) -> bool {
        true
    }
}
