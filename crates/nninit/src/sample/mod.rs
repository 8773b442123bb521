//! Samplers: turn the generator's bits into uniform and normal values, per dtype, exactly as
//! PyTorch 2.15's CPU kernels do. The init schemes (`crate::init`) are built on these.

mod avx_math;
mod generator;
mod normal;
mod normal_avx2;
pub(crate) mod philox;
mod randperm;
pub mod tail;
mod uniform;

pub use avx_math::{log256, sincos256};
pub use generator::{Capability, Generator};
pub use normal::normal;
pub use randperm::randperm;
pub use uniform::uniform;

use crate::rng::Philox;
use crate::tensor::Element;

/// A 24-bit uniform in [0, 1) as f32: `(bits & (2^24 − 1)) · 2^-24` (exact).
#[inline(always)]
pub(crate) fn uniform01_f32(bits: u32) -> f32 {
    (bits & 0x00FF_FFFF) as f32 * (1.0 / 16_777_216.0)
}

/// A 53-bit uniform in [0, 1) as f64 from one `random64()`.
#[inline]
pub(crate) fn uniform01_f64(g: &mut Generator) -> f64 {
    (g.random64() & ((1u64 << 53) - 1)) as f64 * (1.0 / 9_007_199_254_740_992.0)
}

/// What the init schemes draw from: PyTorch's stream ([`Generator`], bit-exact with
/// `torch.manual_seed`) or the counter-based [`Philox`] stream (parallel, order-independent).
/// Each turns its bits into values with the samplers of this module.
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
    /// Whether [`Engine::trunc_normal_tail`] is implemented (else `trunc_normal_` follows
    /// PyTorch's algorithm everywhere, refusing intervals where its expected work is too large).
    fn has_tail_sampler(&self) -> bool {
        false
    }
    /// Fills `out` with N(mean, std²) truncated to `[a, b]` by an exact sampler of bounded
    /// expected work ([`tail`]), if this stream has one (`None`: it keeps PyTorch's algorithm).
    /// `trunc_normal_` calls it for intervals where the uniform proposals' acceptance rate is
    /// below [`tail::TAIL_ACCEPTANCE`].
    fn trunc_normal_tail<E: Element>(
        &mut self,
        out: &mut [E],
        mean: f64,
        std: f64,
        a: f64,
        b: f64,
    ) -> Option<crate::Result<()>> {
        let _ = (out, mean, std, a, b);
        None
    }
}

impl Engine for Generator {
    fn uniform<E: Element>(&mut self, out: &mut [E], from: f64, to: f64) {
        uniform(out, from, to, self)
    }
    fn normal<E: Element>(&mut self, out: &mut [E], mean: f64, std: f64) {
        normal(out, mean, std, self)
    }
    fn randperm(&mut self, n: usize) -> Vec<usize> {
        randperm(n, self)
    }
}

impl Engine for Philox {
    fn uniform<E: Element>(&mut self, out: &mut [E], from: f64, to: f64) {
        philox::uniform(self, out, from, to);
        self.draw += 1;
    }
    fn normal<E: Element>(&mut self, out: &mut [E], mean: f64, std: f64) {
        philox::normal(self, out, mean, std);
        self.draw += 1;
    }
    fn randperm(&mut self, n: usize) -> Vec<usize> {
        let p = philox::randperm(self, n);
        self.draw += 1;
        p
    }
    fn strict_truncation(&self) -> bool {
        true
    }
    fn has_tail_sampler(&self) -> bool {
        true
    }
    fn trunc_normal_tail<E: Element>(
        &mut self,
        out: &mut [E],
        mean: f64,
        std: f64,
        a: f64,
        b: f64,
    ) -> Option<crate::Result<()>> {
        let done = tail::fill(self, out, mean, std, a, b);
        self.draw += 1;
        Some(done)
    }
}
