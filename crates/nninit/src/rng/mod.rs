//! Bit streams: MT19937 (the bits of PyTorch's CPU generator) and the counter-based
//! Philox4x32-10, and the choice between them ([`Stream`]). Turning bits into values is
//! [`crate::sample`]'s job.

mod jump;
mod mt19937;
pub(crate) mod philox;

pub use mt19937::Mt19937;
pub use philox::{philox4x32_10, Philox};

use crate::error::{Error, Result};

/// Which random stream a model's values come from.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Stream {
    /// PyTorch's MT19937 stream ([`crate::Generator`]): bit-exact with `torch.manual_seed(seed)` followed
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
