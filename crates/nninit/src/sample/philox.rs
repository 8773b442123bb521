//! Samplers on the counter-based Philox stream: each element is a pure function of
//! (key, draw, element index), filled in parallel chunks whose boundaries do not change results.

use rayon::prelude::*;

use super::avx_math::{log256, sincos256};
use crate::rng::Philox;
use crate::tensor::{DType, Element};

/// Elements per parallel task.
const CHUNK: usize = 1 << 16;
const TAG_UNIFORM: u32 = 0;
const TAG_NORMAL: u32 = 1;
const TAG_PERM: u32 = 2;

/// Fills `out` in parallel: `f(block)` computes the `per_block` values of block `block`;
/// element `i` (global index `offset + local`) takes lane `i % per_block` of block `i / per_block`.
fn fill_blocks<E: Element, const K: usize>(out: &mut [E], offset: u64, f: impl Fn(u64) -> [E; K] + Sync) {
    out.par_chunks_mut(CHUNK).enumerate().for_each(|(c, chunk)| {
        let start = offset + (c * CHUNK) as u64;
        let mut cached = (u64::MAX, [E::from_f64(0.0); K]);
        for (j, o) in chunk.iter_mut().enumerate() {
            let i = start + j as u64;
            let b = i / K as u64;
            if cached.0 != b {
                cached = (b, f(b));
            }
            *o = cached.1[(i % K as u64) as usize];
        }
    });
}

#[inline]
fn unit_f32(x: u32) -> f32 {
    (x >> 8) as f32 * (1.0 / 16_777_216.0)
}

#[inline]
fn unit_f64(hi: u32, lo: u32) -> f64 {
    (((hi as u64) << 32 | lo as u64) >> 11) as f64 * (1.0 / 9_007_199_254_740_992.0)
}

/// U(from, to), half-open: 24-bit uniforms (53-bit for f64, two words each), the multiply-add
/// fused, one rounding to the element type, a value equal to `(T) to` replaced by `(T) from`.
pub fn uniform<E: Element>(p: &Philox, out: &mut [E], from: f64, to: f64) {
    if E::DTYPE == DType::F64 {
        let range = to - from;
        let value = |u: f64| {
            let v = u.mul_add(range, from);
            E::from_f64(if v >= to { from } else { v })
        };
        fill_blocks::<E, 2>(out, p.offset, |b| {
            let w = p.block(b, TAG_UNIFORM);
            [value(unit_f64(w[0], w[1])), value(unit_f64(w[2], w[3]))]
        });
        return;
    }
    let (from_o, range) = (from as f32, to as f32 - from as f32);
    let (from_s, to_s) = (E::from_f64(from), E::from_f64(to));
    let value = |x: u32| {
        let w = E::from_f32(unit_f32(x).mul_add(range, from_o));
        if w == to_s {
            from_s
        } else {
            w
        }
    };
    fill_blocks::<E, 4>(out, p.offset, |b| p.block(b, TAG_UNIFORM).map(value));
}

/// N(mean, std²) by Box–Muller: each block's four words give two pairs (f32 opmath, with the
/// same vectorizable `log`/`sincos` as PyTorch's AVX2 kernel) or one pair of 53-bit uniforms
/// (f64). `1 − u ∈ (0, 1]` keeps the logarithm finite.
pub fn normal<E: Element>(p: &Philox, out: &mut [E], mean: f64, std: f64) {
    if E::DTYPE == DType::F64 {
        fill_blocks::<E, 2>(out, p.offset, |b| {
            let w = p.block(b, TAG_NORMAL);
            let r = (-2.0 * (1.0 - unit_f64(w[0], w[1])).ln()).sqrt();
            let (s, c) = (2.0 * std::f64::consts::PI * unit_f64(w[2], w[3])).sin_cos();
            [E::from_f64((r * c).mul_add(std, mean)), E::from_f64((r * s).mul_add(std, mean))]
        });
        return;
    }
    let (mean, std) = (mean as f32, std as f32);
    let pair = |x1: u32, x2: u32| {
        let r = (-2.0 * log256(1.0 - unit_f32(x1))).sqrt();
        let (s, c) = sincos256(std::f32::consts::TAU * unit_f32(x2));
        [E::from_f32((r * c).mul_add(std, mean)), E::from_f32((r * s).mul_add(std, mean))]
    };
    fill_blocks::<E, 4>(out, p.offset, |b| {
        let w = p.block(b, TAG_NORMAL);
        let (a, c) = (pair(w[0], w[1]), pair(w[2], w[3]));
        [a[0], a[1], c[0], c[1]]
    });
}

/// A permutation of `0..n` by Fisher–Yates, swap `i` taking word `i % 4` of block `i / 4`
/// (Lemire's multiply-shift reduction).
pub fn randperm(p: &Philox, n: usize) -> Vec<usize> {
    let mut r: Vec<usize> = (0..n).collect();
    let mut words = [0u32; 4];
    for i in 0..n.saturating_sub(1) {
        if i % 4 == 0 {
            words = p.block((i / 4) as u64, TAG_PERM);
        }
        let z = ((words[i % 4] as u64 * (n - i) as u64) >> 32) as usize;
        r.swap(i, i + z);
    }
    r
}
