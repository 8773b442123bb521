//! The f32 Philox `normal_` kernel written with AVX2 intrinsics: eight Philox blocks per
//! register, Box–Muller with [`super::avx_math`]'s `log256`/`sincos256` operation for operation.
//!
//! Every step is an IEEE operation with one rounding (`+ − × fma sqrt`, conversions of exact
//! integers, bit operations), the same ones in the same order as the portable code, so the
//! values are bit-identical to it; the portable code compiled for AVX2 keeps 16 blocks' state
//! live at once and spills most of it to the stack, this keeps them in 8 registers (two sets of
//! eight blocks whose rounds interleave).

#[cfg(target_arch = "x86_64")]
use std::arch::x86_64::*;

use crate::rng::philox::{M0, M1, W0, W1};

/// Philox blocks per register.
const LANES8: usize = 8;

/// Whether the CPU runs this kernel (AVX2 and FMA), and it is the better one: with AVX-512 the
/// portable code's 16-lane form runs in one register.
pub fn available() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::is_x86_feature_detected!("avx2")
            && std::is_x86_feature_detected!("fma")
            && !std::is_x86_feature_detected!("avx512f")
    }
    #[cfg(not(target_arch = "x86_64"))]
    false
}

/// Values of the sampler group `g` of [`super::philox`]'s `Normal32` (16 Philox blocks, value `l` of
/// block `b` at `out[l · 16 + b]`), from counters `[block low, block high, draw, tag]` under `key`,
/// scaled `z·std + mean`.
///
/// # Safety
/// The CPU must have AVX2 and FMA ([`available`]).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
pub unsafe fn group(out: &mut [f32; 64], g: u64, rest: [u32; 2], key: [u32; 2], std: f32, mean: f32) {
    let both = blocks16(g * 16, rest, key);
    for (half, w) in both.into_iter().enumerate() {
        let (a0, a1) = box_muller(w[0], w[1]);
        let (b0, b1) = box_muller(w[2], w[3]);
        let (std, mean) = (_mm256_set1_ps(std), _mm256_set1_ps(mean));
        for (l, v) in [a0, a1, b0, b1].into_iter().enumerate() {
            _mm256_storeu_ps(out.as_mut_ptr().add(l * 16 + half * LANES8), _mm256_fmadd_ps(v, std, mean));
        }
    }
}

/// The high and low 32 bits of `m · c` in each lane.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
unsafe fn mul_hi_lo(c: __m256i, m: __m256i) -> (__m256i, __m256i) {
    let even = _mm256_mul_epu32(c, m);
    let odd = _mm256_mul_epu32(_mm256_srli_epi64::<32>(c), m);
    let hi = _mm256_blend_epi32::<0b1010_1010>(_mm256_srli_epi64::<32>(even), odd);
    let lo = _mm256_blend_epi32::<0b1010_1010>(even, _mm256_slli_epi64::<32>(odd));
    (hi, lo)
}

/// Philox4x32-10 blocks `first..first + 16` as two registers' worth ([`crate::rng::philox::philox4x32_10_lanes`]):
/// word `w` of block `h · 8 + b` in lane `b` of register `[h][w]`. The two halves' rounds are
/// interleaved, so one half's multiplications overlap the other's dependent chain.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
unsafe fn blocks16(first: u64, rest: [u32; 2], key: [u32; 2]) -> [[__m256i; 4]; 2] {
    let counter: [u64; 2 * LANES8] = std::array::from_fn(|b| first.wrapping_add(b as u64));
    let lo: [u32; 2 * LANES8] = counter.map(|c| c as u32);
    let hi: [u32; 2 * LANES8] = counter.map(|c| (c >> 32) as u32);
    let (r0, r1) = (_mm256_set1_epi32(rest[0] as i32), _mm256_set1_epi32(rest[1] as i32));
    let mut c = [
        [_mm256_loadu_si256(lo.as_ptr().cast()), _mm256_loadu_si256(hi.as_ptr().cast()), r0, r1],
        [_mm256_loadu_si256(lo[LANES8..].as_ptr().cast()), _mm256_loadu_si256(hi[LANES8..].as_ptr().cast()), r0, r1],
    ];
    let (m0, m1) = (_mm256_set1_epi32(M0 as i32), _mm256_set1_epi32(M1 as i32));
    let mut k = key;
    for r in 0..10 {
        if r > 0 {
            k = [k[0].wrapping_add(W0), k[1].wrapping_add(W1)];
        }
        let k0 = _mm256_set1_epi32(k[0] as i32);
        let k1 = _mm256_set1_epi32(k[1] as i32);
        for c in &mut c {
            let (hi0, lo0) = mul_hi_lo(c[0], m0);
            let (hi1, lo1) = mul_hi_lo(c[2], m1);
            *c = [
                _mm256_xor_si256(_mm256_xor_si256(hi1, c[1]), k0),
                lo1,
                _mm256_xor_si256(_mm256_xor_si256(hi0, c[3]), k1),
                lo0,
            ];
        }
    }
    c
}

/// `(x >> 8) · 2⁻²⁴`: a 24-bit uniform in [0, 1).
#[cfg(target_arch = "x86_64")]
#[inline(always)]
unsafe fn unit(x: __m256i) -> __m256 {
    _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_srli_epi32::<8>(x)), _mm256_set1_ps(1.0 / 16_777_216.0))
}

/// One Box–Muller pair per lane: `(r·cos θ, r·sin θ)`, `r = √(−2 log(1 − u₁))`, `θ = 2π·u₂`.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
unsafe fn box_muller(x1: __m256i, x2: __m256i) -> (__m256, __m256) {
    let one = _mm256_set1_ps(1.0);
    let log = log256(_mm256_sub_ps(one, unit(x1)));
    let r = _mm256_sqrt_ps(_mm256_mul_ps(_mm256_set1_ps(-2.0), log));
    let (s, c) = sincos256(_mm256_mul_ps(_mm256_set1_ps(std::f32::consts::TAU), unit(x2)));
    (_mm256_mul_ps(r, c), _mm256_mul_ps(r, s))
}

/// [`super::avx_math::log256`] in 8 lanes.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
unsafe fn log256(x: __m256) -> __m256 {
    use super::avx_math::{LOG_P, LOG_Q1, LOG_Q2, SQRTHF};
    let invalid = _mm256_cmp_ps::<_CMP_LE_OQ>(x, _mm256_setzero_ps());
    let x = _mm256_max_ps(x, _mm256_set1_ps(f32::MIN_POSITIVE));
    let bits = _mm256_castps_si256(x);
    let k = _mm256_sub_epi32(_mm256_srli_epi32::<23>(bits), _mm256_set1_epi32(127));
    let m = _mm256_or_si256(
        _mm256_and_si256(bits, _mm256_set1_epi32(0x807F_FFFF_u32 as i32)),
        _mm256_set1_epi32(0x3F00_0000),
    );
    let m = _mm256_castsi256_ps(m);
    let one = _mm256_set1_ps(1.0);
    let mut e = _mm256_add_ps(_mm256_cvtepi32_ps(k), one);
    let small = _mm256_cmp_ps::<_CMP_LT_OQ>(m, _mm256_set1_ps(SQRTHF));
    let t = _mm256_and_ps(small, m);
    let mut m = _mm256_add_ps(m, _mm256_set1_ps(-1.0));
    e = _mm256_sub_ps(e, _mm256_and_ps(small, one));
    m = _mm256_add_ps(m, t);
    let z = _mm256_mul_ps(m, m);
    let mut y = _mm256_set1_ps(LOG_P[0]);
    for &p in &LOG_P[1..] {
        y = _mm256_fmadd_ps(y, m, _mm256_set1_ps(p));
    }
    y = _mm256_mul_ps(y, m);
    y = _mm256_fmadd_ps(y, z, _mm256_mul_ps(e, _mm256_set1_ps(LOG_Q1)));
    y = _mm256_fnmadd_ps(z, _mm256_set1_ps(0.5), y);
    let r = _mm256_add_ps(m, y);
    let r = _mm256_fmadd_ps(e, _mm256_set1_ps(LOG_Q2), r);
    _mm256_or_ps(r, invalid)
}

/// [`super::avx_math::sincos256`] in 8 lanes: `(sin θ, cos θ)`.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
unsafe fn sincos256(theta: __m256) -> (__m256, __m256) {
    use super::avx_math::{COS_P, FOPI, NEG_DP1, NEG_DP2, NEG_DP3, SIN_P};
    let sign_bit = _mm256_set1_epi32(i32::MIN);
    let bits = _mm256_castps_si256(theta);
    let mut sign_sin = _mm256_and_si256(bits, sign_bit);
    let a = _mm256_castsi256_ps(_mm256_andnot_si256(sign_bit, bits));
    let j = _mm256_cvttps_epi32(_mm256_mul_ps(a, _mm256_set1_ps(FOPI)));
    let j = _mm256_and_si256(_mm256_add_epi32(j, _mm256_set1_epi32(1)), _mm256_set1_epi32(!1));
    let yf = _mm256_cvtepi32_ps(j);
    let four = _mm256_set1_epi32(4);
    sign_sin = _mm256_xor_si256(sign_sin, _mm256_slli_epi32::<29>(_mm256_and_si256(j, four)));
    let poly = _mm256_cmpeq_epi32(_mm256_and_si256(j, _mm256_set1_epi32(2)), _mm256_setzero_si256());
    let poly = _mm256_castsi256_ps(poly);
    let mut x = _mm256_fmadd_ps(yf, _mm256_set1_ps(NEG_DP1), a);
    x = _mm256_fmadd_ps(yf, _mm256_set1_ps(NEG_DP2), x);
    x = _mm256_fmadd_ps(yf, _mm256_set1_ps(NEG_DP3), x);
    let sign_cos = _mm256_slli_epi32::<29>(_mm256_andnot_si256(_mm256_sub_epi32(j, _mm256_set1_epi32(2)), four));
    let z = _mm256_mul_ps(x, x);

    let mut c = _mm256_fmadd_ps(_mm256_set1_ps(COS_P[0]), z, _mm256_set1_ps(COS_P[1]));
    c = _mm256_fmadd_ps(c, z, _mm256_set1_ps(COS_P[2]));
    c = _mm256_mul_ps(c, z);
    let neg_half_z = _mm256_xor_ps(_mm256_mul_ps(z, _mm256_set1_ps(0.5)), _mm256_castsi256_ps(sign_bit));
    c = _mm256_fmadd_ps(c, z, neg_half_z);
    c = _mm256_add_ps(c, _mm256_set1_ps(1.0));

    let mut s = _mm256_fmadd_ps(_mm256_set1_ps(SIN_P[0]), z, _mm256_set1_ps(SIN_P[1]));
    s = _mm256_fmadd_ps(s, z, _mm256_set1_ps(SIN_P[2]));
    s = _mm256_mul_ps(s, z);
    s = _mm256_fmadd_ps(s, x, x);

    let s_part = _mm256_and_ps(poly, s);
    let c_part = _mm256_andnot_ps(poly, c);
    let sin_mag = _mm256_add_ps(c_part, s_part);
    let cos_mag = _mm256_add_ps(_mm256_sub_ps(c, c_part), _mm256_sub_ps(s, s_part));
    (_mm256_xor_ps(sin_mag, _mm256_castsi256_ps(sign_sin)), _mm256_xor_ps(cos_mag, _mm256_castsi256_ps(sign_cos)))
}
