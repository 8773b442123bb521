//! `tensor.normal_(mean, std)` as PyTorch 2.15's CPU `normal_kernel`.

use std::f64::consts::PI;

use super::avx_math::{log256, sincos256};
use super::uniform::PIPE;
use super::{uniform01_f32, uniform01_f64};
use super::{Capability, Generator};
use crate::tensor::{DType, Element};
use rayon::prelude::*;

const BLOCK: usize = 16;
const TWO_PI_F32: f32 = f32::from_bits(0x40C9_0FDB);

/// Fills `out` with N(mean, std²) values exactly as PyTorch's CPU `normal_kernel` on a contiguous
/// tensor.
///
/// * `out.len() >= 16`: the block Box–Muller path. Each block of 16 takes 16 uniforms; the first 8
///   feed the radius `sqrt(−2·log(1 − u))`, the last 8 the angle `2π·u`; output `j` is the cosine and
///   `j + 8` the sine of pair `j`, then `fma(z, std, mean)`. f32/f64 draw all `n` uniforms first and,
///   when `n % 16 != 0`, 16 fresh ones for a last block over `[n − 16, n)`; f16/bf16 draw 16 per
///   block (16·⌈n/16⌉ in all). f32-opmath dtypes use PyTorch's AVX2 `log`/`sincos` (or glibc's
///   `logf`/`sincosf` on [`Capability::Default`]); f64 uses the platform's `log`/`sin`/`cos`.
/// * `out.len() < 16`: the scalar path (`normal_distribution<double>`), which consumes and refills
///   the generator's cached second Box–Muller sample; `z·std + mean` in f64, fused on
///   [`Capability::Avx2`], rounded twice on [`Capability::Default`].
///
/// `std` is not validated here (see [`crate::init::normal_`]). Empty `out` draws nothing.
pub fn normal<E: Element>(out: &mut [E], mean: f64, std: f64, g: &mut Generator) {
    let n = out.len();
    if n == 0 {
        return;
    }
    if n < BLOCK {
        // Fused on AVX2 builds; the portable kernel rounds the product first.
        let fused = g.capability() == Capability::Avx2;
        for o in out {
            let z = scalar_normal(g);
            *o = E::from_f64(if fused { z.mul_add(std, mean) } else { z * std + mean });
        }
        return;
    }
    match E::DTYPE {
        DType::F64 => block_f64(bytemuck::cast_slice_mut(out), mean, std, g),
        DType::F32 => block_f32(bytemuck::cast_slice_mut(out), mean as f32, std as f32, g),
        DType::F16 | DType::BF16 => block_narrow(out, mean as f32, std as f32, g),
    }
}

/// One N(0, 1) sample of PyTorch's `at::normal_distribution<double>`: uses the cached sample if
/// present; otherwise draws `u1` (angle) then `u2` (radius via `log1p(−u2)`), caches `r·sin` and
/// returns `r·cos`.
pub(crate) fn scalar_normal(g: &mut Generator) -> f64 {
    if let Some(z) = g.next_double_normal.take() {
        return z;
    }
    let u1 = uniform01_f64(g);
    let u2 = uniform01_f64(g);
    let r = (-2.0 * (-u2).ln_1p()).sqrt();
    let theta = 2.0 * PI * u1;
    g.next_double_normal = Some(r * theta.sin());
    r * theta.cos()
}

/// Fills `out` with 24-bit uniforms from consecutive `random()` outputs: the words are
/// generated in bulk into the same memory, then converted in place.
fn fill_uniform_f32(out: &mut [f32], g: &mut Generator) {
    let bits: &mut [u32] = bytemuck::cast_slice_mut(out);
    g.fill_u32(bits);
    for x in bits.iter_mut() {
        *x = uniform01_f32(*x).to_bits();
    }
}

/// Elements per parallel task (a multiple of the block).
const CHUNK: usize = BLOCK * 4096;

fn block_f32(out: &mut [f32], mean: f32, std: f32, g: &mut Generator) {
    let n = out.len();
    let cap = g.capability();
    let full = n - n % BLOCK;
    // All n uniforms are drawn in order on this thread, a step ahead of the pool transforming
    // the whole blocks of the previous step (steps are multiples of the block).
    let steps = n.div_ceil(PIPE);
    fill_uniform_f32(&mut out[..PIPE.min(n)], g);
    for k in 0..steps {
        let (done, ahead) = out.split_at_mut(((k + 1) * PIPE).min(n));
        let current = &mut done[k * PIPE..];
        let whole = full.saturating_sub(k * PIPE).min(current.len());
        let next = ahead.len().min(PIPE);
        rayon::join(
            || transform_parallel(&mut current[..whole], mean, std, cap),
            || fill_uniform_f32(&mut ahead[..next], g),
        );
    }
    if !n.is_multiple_of(BLOCK) {
        let tail = &mut out[n - BLOCK..];
        fill_uniform_f32(tail, g);
        transform_chunk(tail, mean, std, cap);
    }
}

/// f16/bf16: PyTorch draws 16 uniforms per block (the full blocks, then the tail block), so the
/// words are drawn in that order into a reused buffer, transformed in parallel, and narrowed.
fn block_narrow<E: Element>(out: &mut [E], mean: f32, std: f32, g: &mut Generator) {
    let n = out.len();
    let full = n - n % BLOCK;
    let cap = g.capability();
    // As `block_f32`: the next step's words are drawn while the pool transforms and narrows the
    // current one, in two f32 buffers.
    let step = full.clamp(BLOCK, PIPE);
    let mut bufs = [vec![0f32; step], vec![0f32; step]];
    let mut parts = out[..full].chunks_mut(step).peekable();
    if let Some(first) = parts.peek() {
        let len = first.len();
        fill_uniform_f32(&mut bufs[0][..len], g);
    }
    while let Some(part) = parts.next() {
        let next = parts.peek().map(|p| p.len());
        let [cur, ahead] = &mut bufs;
        rayon::join(
            || {
                let cur = &mut cur[..part.len()];
                transform_parallel(cur, mean, std, cap);
                part.par_chunks_mut(CHUNK).zip(cur.par_chunks(CHUNK)).for_each(|(o, s)| narrow(o, s));
            },
            || {
                if let Some(len) = next {
                    fill_uniform_f32(&mut ahead[..len], g);
                }
            },
        );
        bufs.swap(0, 1);
    }
    if !n.is_multiple_of(BLOCK) {
        let tail = &mut bufs[0][..BLOCK];
        fill_uniform_f32(tail, g);
        transform_chunk(tail, mean, std, cap);
        narrow(&mut out[n - BLOCK..], tail);
    }
}

fn narrow<E: Element>(out: &mut [E], values: &[f32]) {
    for (o, &v) in out.iter_mut().zip(values) {
        *o = E::from_f32(v);
    }
}

fn block_f64(out: &mut [f64], mean: f64, std: f64, g: &mut Generator) {
    let n = out.len();
    for o in out.iter_mut() {
        *o = uniform01_f64(g);
    }
    let full = n - n % BLOCK;
    out[..full].par_chunks_mut(CHUNK).for_each(|c| c.chunks_exact_mut(BLOCK).for_each(|b| transform_f64(b, mean, std)));
    if !n.is_multiple_of(BLOCK) {
        let tail = &mut out[n - BLOCK..];
        for o in tail.iter_mut() {
            *o = uniform01_f64(g);
        }
        transform_f64(tail, mean, std);
    }
}

/// Transforms whole blocks in parallel; block boundaries are fixed, so the result does not
/// depend on the thread count.
fn transform_parallel(d: &mut [f32], mean: f32, std: f32, cap: Capability) {
    d.par_chunks_mut(CHUNK).for_each(|c| transform_chunk(c, mean, std, cap));
}

/// Transforms the whole blocks of `d`, compiled for AVX2+FMA where the CPU has them (the result
/// is the same: every operation is correctly rounded).
#[multiversion::multiversion(targets("x86_64+avx512f+avx512bw+avx512vl+avx512dq+avx2+fma", "x86_64+avx2+fma"))]
fn transform_chunk(d: &mut [f32], mean: f32, std: f32, cap: Capability) {
    for block in d.chunks_exact_mut(BLOCK) {
        match cap {
            Capability::Avx2 => transform_f32_avx2(block, mean, std),
            Capability::Default => transform_f32_default(block, mean, std),
        }
    }
}

/// PyTorch's AVX2 `normal_fill_16`: vectorised `log`/`sincos` of `avx_mathfun.h`.
#[inline(always)]
fn transform_f32_avx2(d: &mut [f32], mean: f32, std: f32) {
    for j in 0..BLOCK / 2 {
        let radius = (-2.0 * log256(1.0 - d[j])).sqrt();
        let (s, c) = sincos256(TWO_PI_F32 * d[j + 8]);
        d[j] = (radius * c).mul_add(std, mean);
        d[j + 8] = (radius * s).mul_add(std, mean);
    }
}

/// PyTorch's portable `normal_fill_16<float>`: libm `logf`, the angle in double, `sincosf`.
fn transform_f32_default(d: &mut [f32], mean: f32, std: f32) {
    for j in 0..BLOCK / 2 {
        let radius = (-2.0 * (1.0 - d[j]).ln()).sqrt();
        let theta = (2.0 * PI * d[j + 8] as f64) as f32;
        d[j] = (radius * theta.cos()).mul_add(std, mean);
        d[j + 8] = (radius * theta.sin()).mul_add(std, mean);
    }
}

/// PyTorch's `normal_fill_16<double>`: libm `log`, `sin`, `cos`.
fn transform_f64(d: &mut [f64], mean: f64, std: f64) {
    for j in 0..BLOCK / 2 {
        let radius = (-2.0 * (1.0 - d[j]).ln()).sqrt();
        let theta = 2.0 * PI * d[j + 8];
        d[j] = (radius * theta.cos()).mul_add(std, mean);
        d[j + 8] = (radius * theta.sin()).mul_add(std, mean);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bits(v: &[f32]) -> Vec<u32> {
        v.iter().map(|x| x.to_bits()).collect()
    }

    /// The pipelined fill (steps of `PIPE` elements drawn ahead of the transforms) equals the plain
    /// algorithm — every uniform first, then every whole block, then the tail block — across
    /// several steps and with a tail, for both capabilities.
    #[test]
    fn pipelined_block_path_equals_the_plain_algorithm() {
        for cap in [Capability::Avx2, Capability::Default] {
            for n in [2 * PIPE + 37, PIPE, PIPE + 16] {
                let mut g = Generator::manual_seed(3).with_capability(cap);
                let mut got = vec![0f32; n];
                normal(&mut got, 0.5, 2.0, &mut g);
                let mut r = Generator::manual_seed(3).with_capability(cap);
                let mut want = vec![0f32; n];
                fill_uniform_f32(&mut want, &mut r);
                transform_chunk(&mut want[..n - n % BLOCK], 0.5, 2.0, cap);
                if n % BLOCK != 0 {
                    fill_uniform_f32(&mut want[n - BLOCK..], &mut r);
                    transform_chunk(&mut want[n - BLOCK..], 0.5, 2.0, cap);
                }
                assert_eq!(bits(&got), bits(&want), "{cap:?} n={n}");
                assert_eq!(g.get_rng_state(), r.get_rng_state());
            }
        }
    }

    /// The same for f16/bf16, whose words are drawn 16 per block: whole blocks, then the tail.
    #[test]
    fn pipelined_narrow_path_equals_the_plain_algorithm() {
        use half::bf16;
        for n in [2 * PIPE + 37, PIPE + 16, 40] {
            let mut g = Generator::manual_seed(4);
            let mut got = vec![bf16::ZERO; n];
            normal(&mut got, 0.5, 2.0, &mut g);
            let mut r = Generator::manual_seed(4);
            let full = n - n % BLOCK;
            let mut values = vec![0f32; full];
            fill_uniform_f32(&mut values, &mut r);
            transform_chunk(&mut values, 0.5, 2.0, Capability::Avx2);
            let mut want: Vec<bf16> = values.iter().map(|&v| bf16::from_f32(v)).collect();
            want.resize(n, bf16::ZERO);
            if n % BLOCK != 0 {
                let mut tail = [0f32; BLOCK];
                fill_uniform_f32(&mut tail, &mut r);
                transform_chunk(&mut tail, 0.5, 2.0, Capability::Avx2);
                narrow(&mut want[n - BLOCK..], &tail);
            }
            assert_eq!(got, want, "n={n}");
            assert_eq!(g.get_rng_state(), r.get_rng_state());
        }
    }

    #[test]
    fn spec_vectors() {
        let mut g = Generator::manual_seed(0);
        let mut v = [0f32; 4];
        normal(&mut v, 0.0, 1.0, &mut g);
        assert_eq!(bits(&v), [0x3fc53f5c, 0xbe963c50, 0xc00b7149, 0x3f1184b6]);

        let mut g = Generator::manual_seed(0);
        let mut v = [0f32; 16];
        normal(&mut v, 0.0, 1.0, &mut g);
        assert_eq!(bits(&v[..4]), [0xbf901b85, 0xbf93808a, 0xbe804bd6, 0xbede255d]);

        let mut g = Generator::manual_seed(0);
        let mut v = [0f32; 17];
        normal(&mut v, 0.0, 1.0, &mut g);
        assert_eq!(bits(&v[15..]), [0xbf57fb33, 0x3f6e8c30]);

        let mut g = Generator::manual_seed(0);
        let mut v = [0f64; 16];
        normal(&mut v, 0.0, 1.0, &mut g);
        assert_eq!(v[0].to_bits(), 0xc0027bb92e9262dc);
        assert_eq!(v[1].to_bits(), 0xbfd7e35794939460);
    }
}
