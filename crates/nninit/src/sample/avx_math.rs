//! Scalar ports of PyTorch's AVX2 `log256_ps` and `sincos256_ps` (from `avx_mathfun.h`, Cephes
//! polynomials), with the fused multiply-adds exactly where GCC placed them in the 2.15 build.
//! Only `+ − × fma sqrt` and bit operations on f32: portable and bit-exact.

pub(super) const SQRTHF: f32 = f32::from_bits(0x3F35_04F3);
pub(super) const LOG_P: [f32; 9] = [
    f32::from_bits(0x3D90_21BB),
    f32::from_bits(0xBDEB_D1B8),
    f32::from_bits(0x3DEF_251A),
    f32::from_bits(0xBDFE_5D4F),
    f32::from_bits(0x3E11_E9BF),
    f32::from_bits(0xBE2A_AE50),
    f32::from_bits(0x3E4C_CEAC),
    f32::from_bits(0xBE7F_FFFC),
    f32::from_bits(0x3EAA_AAAA),
];
pub(super) const LOG_Q1: f32 = f32::from_bits(0xB95E_8083);
pub(super) const LOG_Q2: f32 = f32::from_bits(0x3F31_8000);

/// `log256_ps` for one lane: natural log of `x` (input domain here: [2^-24, 1]).
#[inline(always)]
pub fn log256(x: f32) -> f32 {
    let invalid = x <= 0.0;
    let x = x.max(f32::MIN_POSITIVE);
    let bits = x.to_bits();
    let k = (bits >> 23) as i32 - 127;
    let m = f32::from_bits((bits & 0x807F_FFFF) | 0x3F00_0000);
    let mut e = k as f32 + 1.0;
    let small = m < SQRTHF;
    let t = if small { m } else { 0.0 };
    let mut m = m + -1.0;
    e -= if small { 1.0 } else { 0.0 };
    m += t;
    let z = m * m;
    let mut y = LOG_P[0];
    for &p in &LOG_P[1..] {
        y = y.mul_add(m, p);
    }
    y *= m;
    y = y.mul_add(z, e * LOG_Q1);
    y = (-z).mul_add(0.5, y);
    let r = m + y;
    let r = e.mul_add(LOG_Q2, r);
    if invalid {
        f32::from_bits(u32::MAX)
    } else {
        r
    }
}

pub(super) const FOPI: f32 = f32::from_bits(0x3FA2_F983);
pub(super) const NEG_DP1: f32 = f32::from_bits(0xBF49_0000);
pub(super) const NEG_DP2: f32 = f32::from_bits(0xB97D_A000);
pub(super) const NEG_DP3: f32 = f32::from_bits(0xB322_2169);
pub(super) const SIN_P: [f32; 3] =
    [f32::from_bits(0xB94C_A1F9), f32::from_bits(0x3C08_839E), f32::from_bits(0xBE2A_AAA3)];
pub(super) const COS_P: [f32; 3] =
    [f32::from_bits(0x37CC_F5CE), f32::from_bits(0xBAB6_061A), f32::from_bits(0x3D2A_AAA5)];

/// `sincos256_ps` for one lane: `(sin θ, cos θ)` (input domain here: [0, 2π)).
#[inline(always)]
pub fn sincos256(theta: f32) -> (f32, f32) {
    let mut sign_sin = theta.to_bits() & 0x8000_0000;
    let a = f32::from_bits(theta.to_bits() & 0x7FFF_FFFF);
    let j = (a * FOPI) as i32;
    let j = (j + 1) & !1;
    let yf = j as f32;
    sign_sin ^= ((j & 4) as u32) << 29;
    let poly = (j & 2) == 0;
    let mut x = yf.mul_add(NEG_DP1, a);
    x = yf.mul_add(NEG_DP2, x);
    x = yf.mul_add(NEG_DP3, x);
    let sign_cos = ((!(j - 2) & 4) as u32) << 29;
    let z = x * x;

    let mut c = COS_P[0].mul_add(z, COS_P[1]);
    c = c.mul_add(z, COS_P[2]);
    c *= z;
    c = c.mul_add(z, -(z * 0.5));
    c += 1.0;

    let mut s = SIN_P[0].mul_add(z, SIN_P[1]);
    s = s.mul_add(z, SIN_P[2]);
    s *= z;
    s = s.mul_add(x, x);

    // The kernel blends with masks as `(+0 or v) + (v or +0)`; reproduce it literally.
    let s_part = if poly { s } else { 0.0 };
    let c_part = if poly { 0.0 } else { c };
    let sin_mag = c_part + s_part;
    let cos_mag = (c - c_part) + (s - s_part);
    (f32::from_bits(sin_mag.to_bits() ^ sign_sin), f32::from_bits(cos_mag.to_bits() ^ sign_cos))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[allow(clippy::approx_constant)] // PyTorch's printed values, on purpose
    fn log_and_sincos_are_accurate() {
        for i in 1..1000 {
            let x = i as f32 / 1000.0;
            assert!((log256(x) as f64 - (x as f64).ln()).abs() < 1e-6, "log {x}");
            let t = x * 6.283_185;
            let (s, c) = sincos256(t);
            assert!((s as f64 - (t as f64).sin()).abs() < 1e-6, "sin {t}");
            assert!((c as f64 - (t as f64).cos()).abs() < 1e-6, "cos {t}");
        }
    }
}
