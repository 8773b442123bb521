//! `tensor.uniform_(from, to)` as PyTorch 2.15's `uniform_kernel`.

use super::{uniform01_f32, uniform01_f64};
use super::{Capability, Generator};
use crate::tensor::{DType, Element};
use rayon::prelude::*;

/// Fills `out` with U(from, to) values, in element order, exactly as PyTorch's CPU
/// `uniform_kernel` (spec: "uniform_real" with the `value == to → from` rule).
///
/// * f64: one `random64()` per element, `x = (bits & (2^53−1))·2^-53`, `v = x·(to−from) + from` in f64.
/// * f32, f16, bf16: one `random()` per element, 24-bit `x` and the same formula in f32, then one
///   rounding to the element type.
///
/// The multiply-add is fused on [`Capability::Avx2`], two roundings on [`Capability::Default`].
/// A value equal to `(T) to` after rounding becomes `(T) from`, so the range stays half-open.
/// Arguments are not validated here (see [`crate::init::uniform_`]). Empty `out` draws nothing.
pub fn uniform<E: Element>(out: &mut [E], from: f64, to: f64, g: &mut Generator) {
    let fused = g.capability() == Capability::Avx2;
    if E::DTYPE == DType::F64 {
        let out: &mut [f64] = bytemuck::cast_slice_mut(out);
        let range = to - from;
        for o in out {
            let x = uniform01_f64(g);
            let v = if fused { x.mul_add(range, from) } else { x * range + from };
            *o = if v == to { from } else { v };
        }
        return;
    }
    let (from_o, to_o) = (from as f32, to as f32);
    let params = Params { from: from_o, range: to_o - from_o, from_s: E::from_f64(from), to_s: E::from_f64(to), fused };
    // The words are drawn in order on this thread while the pool converts the previous chunk.
    let mut words = [vec![0u32; out.len().min(PIPE)], vec![0u32; out.len().min(PIPE)]];
    let mut chunks = out.chunks_mut(PIPE).peekable();
    if let Some(first) = chunks.peek() {
        let n = first.len();
        g.fill_u32(&mut words[0][..n]);
    }
    while let Some(chunk) = chunks.next() {
        let next = chunks.peek().map(|c| c.len());
        let [cur, ahead] = &mut words;
        rayon::join(
            || chunk.par_chunks_mut(1 << 14).zip(cur.par_chunks(1 << 14)).for_each(|(o, b)| convert(o, b, &params)),
            || {
                if let Some(n) = next {
                    g.fill_u32(&mut ahead[..n]);
                }
            },
        );
        words.swap(0, 1);
    }
}

/// Elements per pipeline step (drawn on one thread while the previous step is converted).
pub(crate) const PIPE: usize = 1 << 18;

struct Params<E> {
    from: f32,
    range: f32,
    from_s: E,
    to_s: E,
    fused: bool,
}

/// Turns words into values, compiled for AVX2+FMA where the CPU has them (the result is the
/// same: `mul_add` is correctly rounded either way).
#[multiversion::multiversion(targets("x86_64+avx512f+avx512bw+avx512vl+avx512dq+avx2+fma", "x86_64+avx2+fma"))]
fn convert<E: Element>(out: &mut [E], bits: &[u32], p: &Params<E>) {
    for (o, &b) in out.iter_mut().zip(bits) {
        let x = uniform01_f32(b);
        let v = if p.fused { x.mul_add(p.range, p.from) } else { x * p.range + p.from };
        let w = E::from_f32(v);
        // Compared as f32 (exact for these types): vectorizes, unlike f16/bf16 `==`.
        *o = if w.to_f32() == p.to_s.to_f32() { p.from_s } else { w };
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use half::bf16;

    /// The pipelined fill equals one word per element converted in order.
    #[test]
    fn pipelined_fill_equals_one_word_per_element() {
        let n = 2 * PIPE + 37;
        let mut g = Generator::manual_seed(5);
        let mut got = vec![bf16::ZERO; n];
        uniform(&mut got, -1.0, 3.0, &mut g);
        let mut r = Generator::manual_seed(5);
        let p = Params { from: -1.0, range: 4.0, from_s: bf16::from_f64(-1.0), to_s: bf16::from_f64(3.0), fused: true };
        let want: Vec<bf16> = (0..n)
            .map(|_| {
                let mut o = [bf16::ZERO];
                convert(&mut o, &[r.random()], &p);
                o[0]
            })
            .collect();
        assert_eq!(got, want);
        assert_eq!(g.get_rng_state(), r.get_rng_state());
    }
}
