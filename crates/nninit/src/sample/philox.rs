//! Samplers on the counter-based Philox stream: each element is a pure function of
//! (key, draw, element index), filled in parallel chunks whose boundaries do not change results.

use rayon::prelude::*;

use super::avx_math::{log256, sincos256};
use super::normal_avx2;
use crate::rng::Philox;
use crate::tensor::{DType, Element};

/// Elements per parallel task.
const CHUNK: usize = 1 << 16;
const TAG_UNIFORM: u32 = 0;
const TAG_NORMAL: u32 = 1;
const TAG_PERM: u32 = 2;

/// Computes the values of one block of the stream. Implementations are `#[inline(always)]` so
/// that they are compiled inside [`fill_chunk`]'s CPU-specific versions.
trait BlockSampler<E: Element, const K: usize>: Sync {
    fn block(&self, block: u64) -> [E; K];
}

/// Fills `out` in parallel: element `i` (global index `offset + local`) takes lane `i % K` of
/// block `i / K`.
fn fill_blocks<E: Element, const K: usize, S: BlockSampler<E, K>>(out: &mut [E], offset: u64, s: &S) {
    out.par_chunks_mut(CHUNK).enumerate().for_each(|(c, chunk)| fill_chunk(chunk, offset + (c * CHUNK) as u64, s));
}

/// One chunk, compiled for AVX2+FMA where the CPU has them (bit-identical either way: every
/// operation is correctly rounded).
#[multiversion::multiversion(targets("x86_64+avx512f+avx512bw+avx512vl+avx512dq+avx2+fma", "x86_64+avx2+fma"))]
fn fill_chunk<E: Element, const K: usize, S: BlockSampler<E, K>>(chunk: &mut [E], start: u64, s: &S) {
    let mut j = 0;
    // A partial first block (a chunk or shard starting mid-block).
    while j < chunk.len() && !(start + j as u64).is_multiple_of(K as u64) {
        let i = start + j as u64;
        chunk[j] = s.block(i / K as u64)[(i % K as u64) as usize];
        j += 1;
    }
    let mut block = (start + j as u64) / K as u64;
    let mut whole = chunk[j..].chunks_exact_mut(K);
    for out in &mut whole {
        out.copy_from_slice(&s.block(block));
        block += 1;
    }
    let rest = whole.into_remainder();
    if !rest.is_empty() {
        let values = s.block(block);
        rest.copy_from_slice(&values[..rest.len()]);
    }
}

#[inline(always)]
fn unit_f32(x: u32) -> f32 {
    (x >> 8) as f32 * (1.0 / 16_777_216.0)
}

#[inline(always)]
fn unit_f64(hi: u32, lo: u32) -> f64 {
    (((hi as u64) << 32 | lo as u64) >> 11) as f64 * (1.0 / 9_007_199_254_740_992.0)
}

/// U(from, to) in f32 opmath: `x·(to − from) + from` fused, rounded once to `E`.
struct Uniform32<'a, E> {
    p: &'a Philox,
    from: f32,
    range: f32,
    from_s: E,
    to_s: E,
}

impl<E: Element> Uniform32<'_, E> {
    #[inline(always)]
    fn value(&self, x: u32) -> E {
        let w = E::from_f32(unit_f32(x).mul_add(self.range, self.from));
        // Compared as f32 (exact for these types): vectorizes, unlike f16/bf16 `==`.
        if w.to_f32() == self.to_s.to_f32() {
            self.from_s
        } else {
            w
        }
    }
}

impl<E: Element> BlockSampler<E, 4> for Uniform32<'_, E> {
    #[inline(always)]
    fn block(&self, b: u64) -> [E; 4] {
        self.p.block(b, TAG_UNIFORM).map(|x| self.value(x))
    }
}

/// U(from, to) in f64: 53-bit uniforms from two words each.
struct Uniform64<'a> {
    p: &'a Philox,
    from: f64,
    to: f64,
}

impl<E: Element> BlockSampler<E, 2> for Uniform64<'_> {
    #[inline(always)]
    fn block(&self, b: u64) -> [E; 2] {
        let w = self.p.block(b, TAG_UNIFORM);
        let value = |u: f64| {
            let v = u.mul_add(self.to - self.from, self.from);
            E::from_f64(if v >= self.to { self.from } else { v })
        };
        [value(unit_f64(w[0], w[1])), value(unit_f64(w[2], w[3]))]
    }
}

/// N(mean, std²) in f32 opmath: two Box–Muller pairs per Philox block.
struct Normal32<'a> {
    p: &'a Philox,
    mean: f32,
    std: f32,
}

#[inline(always)]
fn box_muller_f32(x1: u32, x2: u32) -> (f32, f32) {
    let r = (-2.0 * log256(1.0 - unit_f32(x1))).sqrt();
    let (s, c) = sincos256(std::f32::consts::TAU * unit_f32(x2));
    (r * c, r * s)
}

/// Philox blocks per sampler block of [`Normal32`]: 16, so one sampler block fills the SIMD
/// lanes of an AVX-512 register (two of AVX2).
const LANES: usize = 16;

/// A block here is [`LANES`] Philox blocks, `4 · LANES` values stored lane-major
/// (`z[l · LANES + b]` is value `l` of Philox block `b`), so the blocks run in SIMD lanes and
/// store contiguously.
impl<E: Element> BlockSampler<E, { 4 * LANES }> for Normal32<'_> {
    #[inline(always)]
    fn block(&self, g: u64) -> [E; 4 * LANES] {
        let first = g * LANES as u64;
        let w = self.p.blocks::<LANES>(first, TAG_NORMAL);
        let mut z = [[0f32; LANES]; 4];
        #[allow(clippy::needless_range_loop)] // lane b of four arrays: the form that vectorizes
        for b in 0..LANES {
            let (a0, a1) = box_muller_f32(w[0][b], w[1][b]);
            let (b0, b1) = box_muller_f32(w[2][b], w[3][b]);
            z[0][b] = a0.mul_add(self.std, self.mean);
            z[1][b] = a1.mul_add(self.std, self.mean);
            z[2][b] = b0.mul_add(self.std, self.mean);
            z[3][b] = b1.mul_add(self.std, self.mean);
        }
        let mut out = [E::from_f32(0.0); 4 * LANES];
        for l in 0..4 {
            for b in 0..LANES {
                out[l * LANES + b] = E::from_f32(z[l][b]);
            }
        }
        out
    }
}

/// [`Normal32`] for f32 computed by [`normal_avx2::group`] (the same values); only made where
/// [`normal_avx2::available`].
#[cfg(target_arch = "x86_64")]
struct Normal32Avx2<'a> {
    p: &'a Philox,
    mean: f32,
    std: f32,
}

#[cfg(target_arch = "x86_64")]
impl BlockSampler<f32, { 4 * LANES }> for Normal32Avx2<'_> {
    #[inline(always)]
    fn block(&self, g: u64) -> [f32; 4 * LANES] {
        let mut out = [0f32; 4 * LANES];
        // SAFETY: the sampler is only made on CPUs with AVX2 and FMA.
        unsafe { normal_avx2::group(&mut out, g, [self.p.draw, TAG_NORMAL], self.p.key(), self.std, self.mean) };
        out
    }
}

/// N(mean, std²) in f64: one Box–Muller pair of 53-bit uniforms per block.
struct Normal64<'a> {
    p: &'a Philox,
    mean: f64,
    std: f64,
}

impl<E: Element> BlockSampler<E, 2> for Normal64<'_> {
    #[inline(always)]
    fn block(&self, b: u64) -> [E; 2] {
        let w = self.p.block(b, TAG_NORMAL);
        let r = (-2.0 * (1.0 - unit_f64(w[0], w[1])).ln()).sqrt();
        let (s, c) = (2.0 * std::f64::consts::PI * unit_f64(w[2], w[3])).sin_cos();
        [E::from_f64((r * c).mul_add(self.std, self.mean)), E::from_f64((r * s).mul_add(self.std, self.mean))]
    }
}

/// `x·range + from` in f32, fused, before any rounding to a 16-bit type (the values
/// [`Uniform32`] rounds).
struct Affine32<'a> {
    p: &'a Philox,
    from: f32,
    range: f32,
}

impl BlockSampler<f32, 4> for Affine32<'_> {
    #[inline(always)]
    fn block(&self, b: u64) -> [f32; 4] {
        self.p.block(b, TAG_UNIFORM).map(|x| unit_f32(x).mul_add(self.range, self.from))
    }
}

/// f32 values per pass of [`uniform_16bit`]: a stack buffer, a multiple of every block size.
const PASS: usize = 4096;

/// [`uniform`] for f16/bf16: each chunk's f32 values go through a stack buffer and are rounded
/// to 16 bits a slice at a time (SIMD; F16C for f16), then values equal to `(T) to` become
/// `(T) from`. Bit-identical to rounding each value on its own.
fn uniform_16bit<E: Element>(p: &Philox, out: &mut [E], from: f64, to: f64) {
    let affine = Affine32 { p, from: from as f32, range: to as f32 - from as f32 };
    let (from_s, to_s) = (E::from_f64(from), E::from_f64(to));
    out.par_chunks_mut(CHUNK).enumerate().for_each(|(c, chunk)| {
        let mut buf = [0f32; PASS];
        let start = p.offset + (c * CHUNK) as u64;
        for (k, part) in chunk.chunks_mut(PASS).enumerate() {
            let values = &mut buf[..part.len()];
            fill_chunk(values, start + (k * PASS) as u64, &affine);
            round_to_16bit(part, values);
            replace_equal(part, to_s, from_s);
        }
    });
}

/// Rounds `values` into the 16-bit `out` (round to nearest even): F16C for f16 (via `half`),
/// integer operations that vectorize for bf16.
fn round_to_16bit<E: Element>(out: &mut [E], values: &[f32]) {
    if E::DTYPE == DType::F16 {
        use half::slice::HalfFloatSliceExt;
        bytemuck::cast_slice_mut::<E, half::f16>(out).convert_from_f32_slice(values);
    } else {
        round_bf16(out, values);
    }
}

#[multiversion::multiversion(targets("x86_64+avx512f+avx512bw+avx512vl+avx512dq+avx2+fma", "x86_64+avx2+fma"))]
fn round_bf16<E: Element>(out: &mut [E], values: &[f32]) {
    for (o, &v) in out.iter_mut().zip(values) {
        *o = E::from_f32(v);
    }
}

/// Replaces the 16-bit values of `s` that equal `to` (as floats: any zero equals any zero, NaN
/// nothing) by `from`, comparing bits so that the loop vectorizes.
#[multiversion::multiversion(targets("x86_64+avx512f+avx512bw+avx512vl+avx512dq+avx2+fma", "x86_64+avx2+fma"))]
fn replace_equal<E: Element>(s: &mut [E], to: E, from: E) {
    let to_f = to.to_f32();
    if to_f.is_nan() {
        return;
    }
    let (from, to) = (bytemuck::cast::<E, u16>(from), bytemuck::cast::<E, u16>(to));
    let mask = if to_f == 0.0 { 0x7FFF } else { 0xFFFF };
    for x in bytemuck::cast_slice_mut::<E, u16>(s) {
        *x = if *x & mask == to & mask { from } else { *x };
    }
}

/// U(from, to), half-open: 24-bit uniforms (53-bit for f64, two words each), the multiply-add
/// fused, one rounding to the element type, a value equal to `(T) to` replaced by `(T) from`.
pub fn uniform<E: Element>(p: &Philox, out: &mut [E], from: f64, to: f64) {
    if E::DTYPE == DType::F64 {
        fill_blocks(out, p.offset, &Uniform64 { p, from, to });
    } else if matches!(E::DTYPE, DType::F16 | DType::BF16) {
        uniform_16bit(p, out, from, to);
    } else {
        let sampler = Uniform32 {
            p,
            from: from as f32,
            range: to as f32 - from as f32,
            from_s: E::from_f64(from),
            to_s: E::from_f64(to),
        };
        fill_blocks(out, p.offset, &sampler);
    }
}

/// N(mean, std²) by Box–Muller: each block's four words give two pairs (f32 opmath, with the
/// same vectorizable `log`/`sincos` as PyTorch's AVX2 kernel) or one pair of 53-bit uniforms
/// (f64). `1 − u ∈ (0, 1]` keeps the logarithm finite.
pub fn normal<E: Element>(p: &Philox, out: &mut [E], mean: f64, std: f64) {
    if E::DTYPE == DType::F64 {
        fill_blocks(out, p.offset, &Normal64 { p, mean, std });
    } else if E::DTYPE == DType::F32 && normal_avx2::available() {
        #[cfg(target_arch = "x86_64")]
        fill_blocks(
            bytemuck::cast_slice_mut::<E, f32>(out),
            p.offset,
            &Normal32Avx2 { p, mean: mean as f32, std: std as f32 },
        );
    } else {
        fill_blocks(out, p.offset, &Normal32 { p, mean: mean as f32, std: std as f32 });
    }
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

#[cfg(test)]
mod tests {
    use super::*;
    use half::{bf16, f16};

    /// The per-value rounding [`uniform`] did before the 16-bit slice path.
    fn one_by_one<E: Element>(p: &Philox, n: usize, from: f64, to: f64) -> Vec<E> {
        let mut out = vec![E::from_f32(0.0); n];
        let s = Uniform32 {
            p,
            from: from as f32,
            range: to as f32 - from as f32,
            from_s: E::from_f64(from),
            to_s: E::from_f64(to),
        };
        fill_blocks(&mut out, p.offset, &s);
        out
    }

    fn check<E: Element>() {
        // Ranges where `to` is often hit after rounding (replaced by `from`), negative and
        // zero bounds, odd lengths and offsets (chunks and passes starting mid-block).
        for (from, to) in [(0.0, 1.0), (-1.0, 1.0), (-3.0, 0.0), (0.0, -0.0), (1e-3, 1e-3), (-60000.0, 60000.0)] {
            for (n, offset) in [(1, 0), (7, 3), (4096 + 5, 1), (3 * CHUNK + 13, 2 * CHUNK as u64 + 1)] {
                let p = Philox::new(11, "w").with_offset(offset);
                let mut got = vec![E::from_f32(0.0); n];
                uniform(&p, &mut got, from, to);
                let want = one_by_one::<E>(&p, n, from, to);
                assert!(
                    bytemuck::cast_slice::<E, u16>(&got) == bytemuck::cast_slice::<E, u16>(&want),
                    "{from} {to} {n}"
                );
            }
        }
    }

    /// The AVX2 kernel against the portable sampler, bit for bit: chunks and shards starting
    /// mid-block and mid-group, partial last groups, counters crossing 2³² blocks, several
    /// draws, means and scales.
    #[test]
    #[cfg(target_arch = "x86_64")]
    fn normal_avx2_kernel_equals_the_portable_sampler() {
        if !normal_avx2::available() {
            return;
        }
        for (n, offset, draw) in [
            (1, 0, 0),
            (63, 5, 1),
            (64, 0, 2),
            (4096 + 37, 17, 0),
            (3 * CHUNK + 13, 2 * CHUNK as u64 + 1, 3),
            (200, (1u64 << 34) - 100, 7),
        ] {
            for (mean, std) in [(0.0f32, 1.0f32), (0.5, 0.02), (-3.0, 1e-3)] {
                let mut p = Philox::new(5, "layers.0.w").with_offset(offset);
                p.draw = draw;
                let mut fast = vec![0f32; n];
                let mut portable = vec![0f32; n];
                fill_blocks(&mut fast, p.offset, &Normal32Avx2 { p: &p, mean, std });
                fill_blocks(&mut portable, p.offset, &Normal32 { p: &p, mean, std });
                let (a, b) = (bytemuck::cast_slice::<f32, u32>(&fast), bytemuck::cast_slice::<f32, u32>(&portable));
                assert!(a == b, "{n} {offset} {draw} {mean} {std}");
            }
        }
    }

    #[test]
    fn uniform_16bit_slices_equal_value_by_value_rounding() {
        check::<bf16>();
        check::<f16>();
    }
}
