//! What an init draws, resolved for one tensor's shape and dtype.
//!
//! Every elementwise random scheme reduces to one `uniform_` or `normal_` call with computed
//! arguments (`kaiming_uniform_` is `uniform_(−bound, bound)`, ...), and PyTorch's samplers draw
//! the same words whether a tensor is filled at once or in consecutive chunks (of a multiple of
//! 16 elements for `normal_`, the last one holding at least 16). That is what lets the checkpoint
//! writer generate a tensor chunk by chunk, straight into the file.

use super::fan::calculate_gain;
use super::fan::FanMode;
use super::functions::{check_constant, check_std, check_trunc_normal, check_uniform, fill};
use super::scheme::Init;
use super::variance::{Distribution, Fan, VarianceScaling};
use crate::error::Result;
use crate::sample::Engine;
use crate::tensor::{DType, Element};

/// An init resolved for one tensor: what [`Init::apply`] does to it, as a single primitive.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Draw {
    /// Nothing is written or drawn (an empty tensor).
    Nothing,
    /// Every element `(T) value`; no draws.
    Fill(f64),
    /// `uniform_(from, to)`.
    Uniform {
        /// Lower bound.
        from: f64,
        /// Upper bound.
        to: f64,
    },
    /// `normal_(mean, std)`.
    Normal {
        /// Mean.
        mean: f64,
        /// Standard deviation.
        std: f64,
    },
    /// Needs the whole tensor at once (`trunc_normal_`'s rejection rounds, `orthogonal_`'s QR,
    /// `sparse_`'s per-column permutations, `eye_`, `dirac_`): apply the [`Init`] itself.
    Whole,
}

impl Draw {
    /// Fills `out` (a whole tensor, or a chunk of one as described in the module docs) with
    /// this primitive. [`Draw::Whole`] and [`Draw::Nothing`] write nothing.
    pub fn fill<E: Element>(&self, out: &mut [E], g: &mut impl Engine) {
        match *self {
            Draw::Nothing | Draw::Whole => {}
            Draw::Fill(v) => fill(out, v),
            Draw::Uniform { from, to } => g.uniform(out, from, to),
            Draw::Normal { mean, std } => g.normal(out, mean, std),
        }
    }
}

impl Init {
    /// Resolves this init for a tensor of `shape` and `dtype`, checking its arguments as
    /// [`Init::apply`] would (the same errors, except that [`Draw::Whole`] schemes are checked
    /// when applied).
    ///
    /// # Errors
    /// Those of the function called: bad bounds or std, fans of a rank < 2 shape, a bad gain.
    pub fn draw(&self, shape: &[usize], dtype: DType) -> Result<Draw> {
        let vs =
            |gain: f64, fan: Fan, distribution: Distribution| VarianceScaling { gain, fan, distribution }.draw(shape);
        match *self {
            Init::Uniform { a, b } => check_uniform(dtype, a, b).map(|_| Draw::Uniform { from: a, to: b }),
            Init::Normal { mean, std } => check_std(std).map(|_| Draw::Normal { mean, std }),
            Init::Constant { val } => check_constant(dtype, val).map(|_| Draw::Fill(val)),
            Init::Ones => Ok(Draw::Fill(1.0)),
            Init::Zeros => Ok(Draw::Fill(0.0)),
            Init::XavierUniform { gain } => vs(gain, Fan::Avg, Distribution::Uniform),
            Init::XavierNormal { gain } => vs(gain, Fan::Avg, Distribution::Normal),
            Init::KaimingUniform { a, mode, nonlinearity } => {
                vs(calculate_gain(nonlinearity, Some(a))?, Fan::Mode(mode), Distribution::Uniform)
            }
            Init::KaimingNormal { a, mode, nonlinearity } => {
                vs(calculate_gain(nonlinearity, Some(a))?, Fan::Mode(mode), Distribution::Normal)
            }
            Init::LecunUniform => vs(1.0, Fan::Mode(FanMode::FanIn), Distribution::Uniform),
            Init::LecunNormal => vs(1.0, Fan::Mode(FanMode::FanIn), Distribution::Normal),
            Init::TruncNormal { std, a, b, .. } => check_trunc_normal(std, a, b).map(|_| Draw::Whole),
            Init::Eye | Init::Dirac { .. } | Init::Orthogonal { .. } | Init::Sparse { .. } => Ok(Draw::Whole),
        }
    }
}
