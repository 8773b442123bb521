//! Jump-ahead for MT19937 by polynomial arithmetic over GF(2) (Haramoto, Matsumoto, Nishimura,
//! Panneton & L'Ecuyer 2008, "Efficient jump ahead for F2-linear random number generators").
//!
//! The generator's state is a window of 624 consecutive words of the recurrence
//! `x[k+624] = x[k+397] ^ twist(x[k], x[k+1])`; one step `T` slides the window by one word. `T` is
//! linear over GF(2); on the 19937 bits that matter its characteristic polynomial `φ` has degree
//! 19937 (found once by Berlekamp–Massey from the generator's own output). Since `φ(T) = 0`,
//! `T^J = g(T)` with `g(x) = x^J mod φ(x)`, which square-and-multiply computes in `O(log J)`
//! squarings of degree-19937 polynomials; `g(T)·state` is evaluated by Horner's rule with 19937
//! steps of the recurrence. The 31 low bits of the window's first word are never read again and
//! lie outside `φ`'s space, so the jump computes `x^(J−1) mod φ` and takes the last step for real:
//! the result equals walking `J` steps bit for bit, those bits included.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use super::mt19937::{mix, N};

/// Degree of MT19937's characteristic polynomial.
const DEGREE: usize = 19937;
/// 64-bit words of a polynomial of degree ≤ [`DEGREE`].
const WORDS: usize = DEGREE / 64 + 1;

/// A polynomial over GF(2): bit `i` of word `i / 64` is the coefficient of `x^i`.
type Poly = Vec<u64>;

/// The reduction data: `φ` and, for each byte `t`, `t(x)·x^DEGREE mod φ`.
struct Field {
    table: Vec<Poly>,
}

fn field() -> &'static Field {
    static FIELD: OnceLock<Field> = OnceLock::new();
    FIELD.get_or_init(|| {
        let phi = characteristic_polynomial();
        // x^(DEGREE + j) mod φ for j = 0..8, then every byte by linearity.
        let mut powers = Vec::with_capacity(8);
        let mut p = phi.clone();
        clear_bit(&mut p, DEGREE);
        for _ in 0..8 {
            powers.push(p.clone());
            p = times_x(&p, &powers[0]);
        }
        let table = (0..256usize)
            .map(|t| {
                let mut acc = vec![0u64; WORDS];
                for (j, pw) in powers.iter().enumerate() {
                    if t >> j & 1 == 1 {
                        xor_into(&mut acc, pw, 0);
                    }
                }
                acc
            })
            .collect();
        Field { table }
    })
}

fn bit(p: &[u64], i: usize) -> bool {
    p.get(i / 64).is_some_and(|w| w >> (i % 64) & 1 == 1)
}

fn clear_bit(p: &mut [u64], i: usize) {
    p[i / 64] &= !(1u64 << (i % 64));
}

/// `p·x mod φ` for `p` of degree < DEGREE (`low` = `x^DEGREE mod φ`).
fn times_x(p: &[u64], low: &[u64]) -> Poly {
    let mut out = vec![0u64; WORDS];
    let mut carry = 0;
    for (o, &w) in out.iter_mut().zip(p) {
        *o = w << 1 | carry;
        carry = w >> 63;
    }
    if bit(&out, DEGREE) {
        clear_bit(&mut out, DEGREE);
        xor_into(&mut out, low, 0);
    }
    out
}

/// `acc ^= p·x^shift` (`shift` a multiple of 8).
fn xor_into(acc: &mut [u64], p: &[u64], shift: usize) {
    let (ws, bs) = (shift / 64, shift % 64);
    for (i, &w) in p.iter().enumerate() {
        acc[i + ws] ^= w << bs;
        if bs > 0 && w >> (64 - bs) != 0 {
            acc[i + ws + 1] ^= w >> (64 - bs);
        }
    }
}

/// The 8 coefficients of `p` from `x^at` up.
fn byte_at(p: &[u64], at: usize) -> usize {
    let (w, b) = (at / 64, at % 64);
    let lo = p.get(w).copied().unwrap_or(0) >> b;
    let hi = if b > 56 { p.get(w + 1).copied().unwrap_or(0) << (64 - b) } else { 0 };
    ((lo | hi) & 0xFF) as usize
}

/// `p mod φ` for `p` of degree < 2·DEGREE, a byte at a time from the top.
fn reduce(mut p: Poly, f: &Field) -> Poly {
    let top = p.len() * 64;
    let mut m = top.saturating_sub(DEGREE).div_ceil(8);
    while m > 0 {
        m -= 1;
        let at = DEGREE + 8 * m;
        let t = byte_at(&p, at);
        if t != 0 {
            for j in 0..8 {
                if at + j < top {
                    clear_bit(&mut p, at + j);
                }
            }
            xor_into(&mut p, &f.table[t], 8 * m);
        }
    }
    p.truncate(WORDS);
    p
}

/// `p² mod φ`: squaring over GF(2) spreads the coefficients (`x^i → x^2i`).
fn square(p: &[u64], f: &Field) -> Poly {
    fn spread(x: u32) -> u64 {
        let mut x = x as u64;
        x = (x | x << 16) & 0x0000_FFFF_0000_FFFF;
        x = (x | x << 8) & 0x00FF_00FF_00FF_00FF;
        x = (x | x << 4) & 0x0F0F_0F0F_0F0F_0F0F;
        x = (x | x << 2) & 0x3333_3333_3333_3333;
        (x | x << 1) & 0x5555_5555_5555_5555
    }
    let mut out = vec![0u64; 2 * WORDS + 1];
    for (i, &w) in p.iter().enumerate() {
        out[2 * i] = spread(w as u32);
        out[2 * i + 1] = spread((w >> 32) as u32);
    }
    reduce(out, f)
}

/// `x^e mod φ`.
fn x_pow_mod(e: u64) -> Poly {
    let f = field();
    // The leading bits of `e` that stay below DEGREE give a monomial without reduction.
    let mut s = 0;
    while (e >> s) >= DEGREE as u64 {
        s += 1;
    }
    let mut p = vec![0u64; WORDS];
    let lead = (e >> s) as usize;
    p[lead / 64] = 1 << (lead % 64);
    for b in (0..s).rev() {
        p = square(&p, f);
        if e >> b & 1 == 1 {
            p = times_x(&p, &f.table[1]);
        }
    }
    p
}

/// `x^e mod φ`, remembered for the distances a run jumps by (a model's layers repeat them).
fn jump_polynomial(e: u64) -> Arc<Poly> {
    static CACHE: OnceLock<Mutex<HashMap<u64, Arc<Poly>>>> = OnceLock::new();
    let cache = CACHE.get_or_init(|| Mutex::new(HashMap::new()));
    if let Some(p) = cache.lock().ok().and_then(|c| c.get(&e).cloned()) {
        return p;
    }
    let p = Arc::new(x_pow_mod(e));
    if let Ok(mut c) = cache.lock() {
        if c.len() >= 256 {
            c.clear();
        }
        c.insert(e, p.clone());
    }
    p
}

/// Berlekamp–Massey over GF(2) on the top bit of 2·19937 outputs: the connection polynomial
/// `C(x) = 1 + c₁x + … + c_L x^L` of the sequence; `φ(x) = x^L·C(1/x)`.
fn characteristic_polynomial() -> Poly {
    let n = 2 * DEGREE;
    let mut mt = super::Mt19937::new(5489);
    // The sequence stored reversed: bit `n − 1 − k` holds output k, so a window of past bits
    // read from position `n − 1 − k + 1` upward is `s[k−1], s[k−2], …`.
    let mut rev = vec![0u64; n / 64 + 2];
    for k in 0..n {
        let b = mt.next_u32() >> 31 == 1;
        if b {
            let j = n - 1 - k;
            rev[j / 64] |= 1 << (j % 64);
        }
    }
    let len = n / 64 + 2;
    let (mut c, mut prev) = (vec![0u64; len], vec![0u64; len]);
    c[0] = 1;
    prev[0] = 1;
    let (mut l, mut m) = (0usize, 1usize);
    for k in 0..n {
        // d = Σ_{i=0..L} c_i s[k−i]; s[k−i] is bit (n − 1 − k + i) of `rev`.
        let base = n - 1 - k;
        // With c_0 = 1 the i = 0 term is s[k] itself.
        let mut d = 0u32;
        for (w, &cw) in c.iter().enumerate().take((l + 1).div_ceil(64) + 1) {
            let at = base + 64 * w;
            let (i, b) = (at / 64, at % 64);
            let lo = rev.get(i).copied().unwrap_or(0) >> b;
            let hi = if b > 0 { rev.get(i + 1).copied().unwrap_or(0) << (64 - b) } else { 0 };
            d ^= (cw & (lo | hi)).count_ones();
        }
        if d & 1 == 0 {
            m += 1;
            continue;
        }
        let old = c.clone();
        shifted_xor(&mut c, &prev, m);
        if 2 * l <= k {
            l = k + 1 - l;
            prev = old;
            m = 1;
        } else {
            m += 1;
        }
    }
    assert_eq!(l, DEGREE, "MT19937's characteristic polynomial has degree 19937");
    let mut phi = vec![0u64; WORDS];
    for i in 0..=l {
        if bit(&c, i) {
            let j = l - i;
            phi[j / 64] |= 1 << (j % 64);
        }
    }
    phi
}

/// `c ^= p·x^shift` for any shift (bits beyond `c`'s length dropped).
fn shifted_xor(c: &mut [u64], p: &[u64], shift: usize) {
    let (ws, bs) = (shift / 64, shift % 64);
    for (i, &w) in p.iter().enumerate() {
        if w == 0 {
            continue;
        }
        if let Some(o) = c.get_mut(i + ws) {
            *o ^= w << bs;
        }
        if bs > 0 {
            if let Some(o) = c.get_mut(i + ws + 1) {
                *o ^= w >> (64 - bs);
            }
        }
    }
}

/// A window of 624 words as a ring: word `j` of the window is `buf[(start + j) % N]`.
struct Ring {
    buf: [u32; N],
    start: usize,
}

impl Ring {
    /// One step of the recurrence: the first word is replaced by the word 624 later.
    #[inline]
    fn step(&mut self) {
        let i = self.start;
        let b = self.buf[if i + 1 == N { 0 } else { i + 1 }];
        let c = self.buf[if i + super::mt19937::M >= N { i + super::mt19937::M - N } else { i + super::mt19937::M }];
        self.buf[i] = mix(self.buf[i], b, c);
        self.start = if i + 1 == N { 0 } else { i + 1 };
    }

    /// Adds (XOR) the window `w` (starting at its index 0).
    #[inline]
    fn add(&mut self, w: &[u32; N]) {
        let s = self.start;
        let (head, tail) = self.buf.split_at_mut(s);
        for (a, b) in tail.iter_mut().zip(&w[..N - s]) {
            *a ^= b;
        }
        for (a, b) in head.iter_mut().zip(&w[N - s..]) {
            *a ^= b;
        }
    }
}

/// The window `steps` recurrence steps after `window` (`steps ≥ 1`), exactly as stepping.
pub(crate) fn jump(window: &[u32; N], steps: u64) -> [u32; N] {
    debug_assert!(steps >= 1);
    let g = jump_polynomial(steps - 1);
    let mut acc = Ring { buf: [0; N], start: 0 };
    for i in (0..DEGREE).rev() {
        acc.step();
        if g[i / 64] >> (i % 64) & 1 == 1 {
            acc.add(window);
        }
    }
    acc.step();
    std::array::from_fn(|j| acc.buf[(acc.start + j) % N])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn polynomial_has_the_known_shape() {
        let f = field();
        // x^DEGREE mod φ is φ without its leading term: φ's constant term is 1 (T is invertible
        // on its space).
        assert_eq!(f.table[1][0] & 1, 1);
        assert_eq!(f.table[1].len(), WORDS);
    }

    #[test]
    fn small_powers_are_monomials_and_wrap_consistently() {
        let p = x_pow_mod(100);
        assert!(bit(&p, 100) && p.iter().map(|w| w.count_ones()).sum::<u32>() == 1);
        // x^(a+b) = x^a · x^b: compare x^(2·DEGREE + 5) via squaring with stepping by x.
        let mut q = x_pow_mod(DEGREE as u64 + 3);
        for _ in 0..(DEGREE + 2) {
            q = times_x(&q, &field().table[1]);
        }
        assert_eq!(q, x_pow_mod(2 * DEGREE as u64 + 5));
    }
}
