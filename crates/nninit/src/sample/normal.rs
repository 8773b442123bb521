//! `tensor.normal_(mean, std)` as PyTorch 2.15's CPU `normal_kernel`.

use std::f64::consts::PI;

use super::avx_math::{log256, sincos256};
use super::{uniform01_f32, uniform01_f64};
use crate::rng::{Capability, Generator};
use crate::tensor::{DType, Element};

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

fn fill_uniform_f32(out: &mut [f32], g: &mut Generator) {
    for o in out {
        *o = uniform01_f32(g.random());
    }
}

fn block_f32(out: &mut [f32], mean: f32, std: f32, g: &mut Generator) {
    let n = out.len();
    fill_uniform_f32(out, g);
    let transform = transform_f32(g.capability());
    for block in out.chunks_exact_mut(BLOCK) {
        transform(block, mean, std);
    }
    if n % BLOCK != 0 {
        let tail = &mut out[n - BLOCK..];
        fill_uniform_f32(tail, g);
        transform(tail, mean, std);
    }
}

fn block_narrow<E: Element>(out: &mut [E], mean: f32, std: f32, g: &mut Generator) {
    let n = out.len();
    let transform = transform_f32(g.capability());
    let mut scratch = [0f32; BLOCK];
    let mut fill = |dst: &mut [E], g: &mut Generator| {
        fill_uniform_f32(&mut scratch, g);
        transform(&mut scratch, mean, std);
        for (d, &s) in dst.iter_mut().zip(&scratch) {
            *d = E::from_f32(s);
        }
    };
    for block in out.chunks_exact_mut(BLOCK) {
        fill(block, g);
    }
    if n % BLOCK != 0 {
        fill(&mut out[n - BLOCK..], g);
    }
}

fn block_f64(out: &mut [f64], mean: f64, std: f64, g: &mut Generator) {
    let n = out.len();
    for o in out.iter_mut() {
        *o = uniform01_f64(g);
    }
    for block in out.chunks_exact_mut(BLOCK) {
        transform_f64(block, mean, std);
    }
    if n % BLOCK != 0 {
        let tail = &mut out[n - BLOCK..];
        for o in tail.iter_mut() {
            *o = uniform01_f64(g);
        }
        transform_f64(tail, mean, std);
    }
}

type Transform32 = fn(&mut [f32], f32, f32);

fn transform_f32(cap: Capability) -> Transform32 {
    match cap {
        Capability::Avx2 => transform_f32_avx2,
        Capability::Default => transform_f32_default,
    }
}

/// PyTorch's AVX2 `normal_fill_16`: vectorised `log`/`sincos` of `avx_mathfun.h`.
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
