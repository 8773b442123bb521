//! Samplers: turn the generator's bits into uniform and normal values, per dtype, exactly as
//! PyTorch 2.15's CPU kernels do. The init schemes (`crate::init`) are built on these.

mod avx_math;
mod normal;
pub(crate) mod philox;
mod randperm;
mod uniform;

pub use avx_math::{log256, sincos256};
pub use normal::normal;
pub use randperm::randperm;
pub use uniform::uniform;

use crate::rng::Generator;

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
