//! Per-tensor statistics, compared with what the init scheme aims at.

use crate::tensor::{Data, Tensor};

/// Summary statistics of a float tensor, computed in f64.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Stats {
    /// Number of elements.
    pub numel: usize,
    /// Mean.
    pub mean: f64,
    /// Standard deviation (population; the same as `torch.std(unbiased=False)`).
    pub std: f64,
    /// Minimum.
    pub min: f64,
    /// Maximum.
    pub max: f64,
}

impl Stats {
    /// Statistics of `values` (NaN fields for an empty input).
    pub fn of(values: impl Iterator<Item = f64>) -> Stats {
        // Welford's update: stable for long tensors.
        let (mut n, mut mean, mut m2) = (0usize, 0.0, 0.0);
        let (mut min, mut max) = (f64::INFINITY, f64::NEG_INFINITY);
        for x in values {
            n += 1;
            let d = x - mean;
            mean += d / n as f64;
            m2 += d * (x - mean);
            min = min.min(x);
            max = max.max(x);
        }
        if n == 0 {
            return Stats { numel: 0, mean: f64::NAN, std: f64::NAN, min: f64::NAN, max: f64::NAN };
        }
        Stats { numel: n, mean, std: (m2 / n as f64).sqrt(), min, max }
    }

    /// Statistics of a float tensor; `None` for non-float data. Computed in parallel chunks
    /// merged with Chan et al.'s pairwise update (deterministic for a given length).
    pub fn of_tensor(t: &Tensor) -> Option<Stats> {
        Some(match t.data() {
            Data::F16(v) => Self::of_slice(v),
            Data::BF16(v) => Self::of_slice(v),
            Data::F32(v) => Self::of_slice(v),
            Data::F64(v) => Self::of_slice(v),
            Data::Other { .. } | Data::Meta(_) => return None,
        })
    }

    /// Statistics of elements `range` of a float tensor's row-major data; `None` for non-float
    /// data. Panics on a range past the end.
    pub fn of_range(t: &Tensor, range: std::ops::Range<usize>) -> Option<Stats> {
        Some(match t.data() {
            Data::F16(v) => Self::of_slice(&v[range]),
            Data::BF16(v) => Self::of_slice(&v[range]),
            Data::F32(v) => Self::of_slice(&v[range]),
            Data::F64(v) => Self::of_slice(&v[range]),
            Data::Other { .. } | Data::Meta(_) => return None,
        })
    }

    /// Chunks of 16 Ki elements in parallel, merged in order.
    fn of_slice<T: Measured>(v: &[T]) -> Stats {
        use rayon::prelude::*;
        v.par_chunks(1 << 14).map(Stats::of_chunk).reduce_with(Stats::merge).unwrap_or(Stats::of(std::iter::empty()))
    }

    /// One pass over a chunk, shifted by its first value (so the sums stay small and the
    /// variance does not cancel: Chan, Golub & LeVeque's shifted data), over [`LANES`]
    /// independent lanes: element `i` goes to lane `i mod 8`, whichever code runs the lanes.
    fn of_chunk<T: Measured>(c: &[T]) -> Stats {
        let Some(shift) = c.first().map(|x| x.widen().wide()).filter(|x| x.is_finite()).or(c.first().map(|_| 0.0))
        else {
            return Stats::of(std::iter::empty());
        };
        let whole = c.len() / LANES * LANES;
        let mut acc = T::lanes_simd(&c[..whole], shift).unwrap_or_else(|| portable(&c[..whole], shift));
        for (k, x) in c[whole..].iter().enumerate() {
            acc.add(k, x.widen(), shift);
        }
        acc.finish(c, shift)
    }

    /// The statistics of two disjoint sets of values together (Chan, Golub & LeVeque 1979).
    pub fn merge(a: Stats, b: Stats) -> Stats {
        if a.numel == 0 {
            return b;
        }
        if b.numel == 0 {
            return a;
        }
        let (na, nb) = (a.numel as f64, b.numel as f64);
        let n = na + nb;
        let d = b.mean - a.mean;
        let m2 = a.std * a.std * na + b.std * b.std * nb + d * d * na * nb / n;
        Stats {
            numel: a.numel + b.numel,
            mean: a.mean + d * nb / n,
            std: (m2 / n).sqrt(),
            // NaN-propagating, unlike `f64::min`.
            min: if a.min.is_nan() || b.min.is_nan() { f64::NAN } else { a.min.min(b.min) },
            max: if a.max.is_nan() || b.max.is_nan() { f64::NAN } else { a.max.max(b.max) },
        }
    }
}

/// Independent accumulators of [`Stats::of_chunk`].
const LANES: usize = 8;

/// A float element type whose statistics are taken.
trait Measured: Sync + Sized {
    /// The type the minimum and maximum are taken in: f32 for f32 and narrower (the same values
    /// as in f64, at twice the SIMD width).
    type Wide: Lane;
    /// Exactly.
    fn widen(&self) -> Self::Wide;
    /// [`portable`] with the CPU's vector instructions, bit for bit; `None` where there
    /// are none for this type.
    fn lanes_simd(_groups: &[Self], _shift: f64) -> Option<Lanes<Self::Wide>> {
        None
    }
}

/// The running sums (of `x − shift` and its square, in f64), minimum and maximum of each lane.
struct Lanes<W> {
    sum: [f64; LANES],
    sq: [f64; LANES],
    min: [W; LANES],
    max: [W; LANES],
}

impl<W: Lane> Lanes<W> {
    fn new() -> Self {
        Lanes { sum: [0.0; LANES], sq: [0.0; LANES], min: [W::INFINITY; LANES], max: [W::NEG_INFINITY; LANES] }
    }

    /// Adds `x` to lane `k`.
    #[inline(always)]
    fn add(&mut self, k: usize, x: W, shift: f64) {
        let d = x.wide() - shift;
        self.sum[k] += d;
        self.sq[k] += d * d;
        self.min[k] = if x < self.min[k] { x } else { self.min[k] };
        self.max[k] = if x > self.max[k] { x } else { self.max[k] };
    }

    /// The statistics of chunk `c` from its lanes.
    fn finish<T: Measured<Wide = W>>(self, c: &[T], shift: f64) -> Stats {
        let (min, max) = (self.min.map(W::wide), self.max.map(W::wide));
        let n = c.len() as f64;
        let (sum, sq) = (self.sum.iter().sum::<f64>(), self.sq.iter().sum::<f64>());
        let var = (sq - sum * sum / n) / n;
        // Rounding can make a zero variance slightly negative; NaN stays NaN.
        let var = if var < 0.0 { 0.0 } else { var };
        let fold = |v: [f64; LANES], g: fn(f64, f64) -> f64| v.into_iter().reduce(g).unwrap_or(f64::NAN);
        // A NaN makes the sums NaN; only then look for one (inf − inf is NaN too).
        if sum.is_nan() && c.iter().any(|x| x.widen().wide().is_nan()) {
            // As torch: any NaN makes every statistic NaN.
            return Stats { numel: c.len(), mean: f64::NAN, std: f64::NAN, min: f64::NAN, max: f64::NAN };
        }
        Stats {
            numel: c.len(),
            mean: shift + sum / n,
            std: var.sqrt(),
            min: fold(min, f64::min),
            max: fold(max, f64::max),
        }
    }
}

/// The lanes over `groups` (a multiple of [`LANES`] long), written so the loop vectorizes.
#[multiversion::multiversion(targets("x86_64+avx512f+avx512bw+avx512vl+avx512dq+avx2+fma", "x86_64+avx2+fma"))]
fn portable<T: Measured>(groups: &[T], shift: f64) -> Lanes<T::Wide> {
    let mut acc = Lanes::new();
    for group in groups.chunks_exact(LANES) {
        let x: [T::Wide; LANES] = std::array::from_fn(|k| group[k].widen());
        for (k, &x) in x.iter().enumerate() {
            acc.add(k, x, shift);
        }
    }
    acc
}

impl Measured for f32 {
    type Wide = f32;
    #[inline(always)]
    fn widen(&self) -> f32 {
        *self
    }
    fn lanes_simd(groups: &[f32], shift: f64) -> Option<Lanes<f32>> {
        avx2::lanes(groups, shift)
    }
}

/// The 16-bit floats: widened to f32 exactly.
macro_rules! half_element {
    ($($t:ty),*) => {$(
        impl Measured for $t {
            type Wide = f32;
            #[inline(always)]
            fn widen(&self) -> f32 {
                self.to_f32()
            }
            fn lanes_simd(groups: &[$t], shift: f64) -> Option<Lanes<f32>> {
                avx2::lanes(groups, shift)
            }
        }
    )*};
}
half_element!(half::bf16, half::f16);

impl Measured for f64 {
    type Wide = f64;
    #[inline(always)]
    fn widen(&self) -> f64 {
        *self
    }
}

/// The lanes of f32, bf16 and f16 data with AVX2: eight elements widened to f32 per register,
/// the same operations lane by lane as [`Lanes::add`] (`vminps`/`vmaxps` keep the old value
/// unless the new one is smaller/larger, as its comparisons do; products and sums are separate
/// roundings, no FMA), so the statistics are bit-identical to the portable code's.
mod avx2 {
    use super::{Lanes, LANES};

    /// Eight elements, exactly as f32.
    pub(super) trait Load8: Sized {
        /// # Safety
        /// `p` points to eight readable elements; the CPU has AVX2 and F16C.
        #[cfg(target_arch = "x86_64")]
        unsafe fn load8(p: *const Self) -> std::arch::x86_64::__m256;
    }

    #[cfg(target_arch = "x86_64")]
    impl Load8 for f32 {
        #[inline(always)]
        unsafe fn load8(p: *const f32) -> std::arch::x86_64::__m256 {
            unsafe { std::arch::x86_64::_mm256_loadu_ps(p) }
        }
    }

    #[cfg(target_arch = "x86_64")]
    impl Load8 for half::bf16 {
        /// A bf16 is the high half of the f32 with the same value.
        #[inline(always)]
        unsafe fn load8(p: *const half::bf16) -> std::arch::x86_64::__m256 {
            use std::arch::x86_64::*;
            unsafe {
                let h = _mm_loadu_si128(p.cast());
                _mm256_castsi256_ps(_mm256_slli_epi32::<16>(_mm256_cvtepu16_epi32(h)))
            }
        }
    }

    #[cfg(target_arch = "x86_64")]
    impl Load8 for half::f16 {
        #[inline(always)]
        unsafe fn load8(p: *const half::f16) -> std::arch::x86_64::__m256 {
            use std::arch::x86_64::*;
            unsafe { _mm256_cvtph_ps(_mm_loadu_si128(p.cast())) }
        }
    }

    #[cfg(not(target_arch = "x86_64"))]
    impl Load8 for f32 {}
    #[cfg(not(target_arch = "x86_64"))]
    impl Load8 for half::bf16 {}
    #[cfg(not(target_arch = "x86_64"))]
    impl Load8 for half::f16 {}

    /// The lanes over `groups` (a multiple of [`LANES`] long); `None` without AVX2 and F16C.
    pub(super) fn lanes<T: Load8>(groups: &[T], shift: f64) -> Option<Lanes<f32>> {
        #[cfg(target_arch = "x86_64")]
        if std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("f16c") {
            // SAFETY: the features are present; `lanes_avx2` reads whole groups of `groups` only.
            return Some(unsafe { lanes_avx2(groups, shift) });
        }
        let _ = (groups, shift);
        None
    }

    /// # Safety
    /// The CPU has AVX2 and F16C; `groups.len()` is a multiple of [`LANES`].
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2,f16c")]
    unsafe fn lanes_avx2<T: Load8>(groups: &[T], shift: f64) -> Lanes<f32> {
        use std::arch::x86_64::*;
        debug_assert_eq!(groups.len() % LANES, 0);
        let s = _mm256_set1_pd(shift);
        let (mut sum0, mut sum1, mut sq0, mut sq1) =
            (_mm256_setzero_pd(), _mm256_setzero_pd(), _mm256_setzero_pd(), _mm256_setzero_pd());
        let (mut min, mut max) = (_mm256_set1_ps(f32::INFINITY), _mm256_set1_ps(f32::NEG_INFINITY));
        for group in groups.chunks_exact(LANES) {
            // SAFETY: a whole group of eight.
            let x = unsafe { T::load8(group.as_ptr()) };
            min = _mm256_min_ps(x, min);
            max = _mm256_max_ps(x, max);
            let d0 = _mm256_sub_pd(_mm256_cvtps_pd(_mm256_castps256_ps128(x)), s);
            let d1 = _mm256_sub_pd(_mm256_cvtps_pd(_mm256_extractf128_ps::<1>(x)), s);
            sum0 = _mm256_add_pd(sum0, d0);
            sum1 = _mm256_add_pd(sum1, d1);
            sq0 = _mm256_add_pd(sq0, _mm256_mul_pd(d0, d0));
            sq1 = _mm256_add_pd(sq1, _mm256_mul_pd(d1, d1));
        }
        let mut acc = Lanes::<f32>::new();
        // SAFETY: each array holds exactly one register's lanes.
        unsafe {
            _mm256_storeu_pd(acc.sum.as_mut_ptr(), sum0);
            _mm256_storeu_pd(acc.sum.as_mut_ptr().add(4), sum1);
            _mm256_storeu_pd(acc.sq.as_mut_ptr(), sq0);
            _mm256_storeu_pd(acc.sq.as_mut_ptr().add(4), sq1);
            _mm256_storeu_ps(acc.min.as_mut_ptr(), min);
            _mm256_storeu_ps(acc.max.as_mut_ptr(), max);
        }
        acc
    }
}

/// The type an element is widened to for the minimum and maximum.
trait Lane: Copy + PartialOrd {
    const INFINITY: Self;
    const NEG_INFINITY: Self;
    /// Exactly, to f64.
    fn wide(self) -> f64;
}

impl Lane for f32 {
    const INFINITY: Self = f32::INFINITY;
    const NEG_INFINITY: Self = f32::NEG_INFINITY;
    #[inline(always)]
    fn wide(self) -> f64 {
        self as f64
    }
}

impl Lane for f64 {
    const INFINITY: Self = f64::INFINITY;
    const NEG_INFINITY: Self = f64::NEG_INFINITY;
    #[inline(always)]
    fn wide(self) -> f64 {
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_values() {
        let s = Stats::of([1.0, 2.0, 3.0, 4.0].into_iter());
        assert_eq!((s.numel, s.mean, s.min, s.max), (4, 2.5, 1.0, 4.0));
        assert!((s.std - 1.25f64.sqrt()).abs() < 1e-15);
        assert!(Stats::of(std::iter::empty()).mean.is_nan());
        let v: Vec<f64> = (0..200_001).map(|i| ((i * 7919) % 1000) as f64 / 10.0).collect();
        let (one, many) = (Stats::of(v.iter().copied()), Stats::of_slice(&v));
        assert_eq!((one.numel, one.min, one.max), (many.numel, many.min, many.max));
        assert!((one.mean - many.mean).abs() < 1e-9 && (one.std - many.std).abs() < 1e-9);
    }

    #[test]
    fn nan_and_inf_propagate_as_in_torch() {
        let t = |v: Vec<f32>| Stats::of_tensor(&Tensor::from_f32(&[v.len()], v).unwrap()).unwrap();
        let s = t(vec![1.0, f32::NAN, f32::INFINITY, 2.0]);
        assert!(s.mean.is_nan() && s.std.is_nan() && s.min.is_nan() && s.max.is_nan(), "{s:?}");
        let mut long = vec![0.5f32; 100_000];
        long[70_000] = f32::NAN;
        let s = t(long);
        assert!(s.mean.is_nan() && s.min.is_nan() && s.max.is_nan(), "{s:?}");
        let s = t(vec![f32::INFINITY, 1.0, 2.0]);
        assert_eq!((s.mean, s.min, s.max), (f64::INFINITY, 1.0, f64::INFINITY));
        assert!(s.std.is_nan());
        let s = t(vec![3.0; 17]);
        assert_eq!((s.mean, s.std, s.min, s.max), (3.0, 0.0, 3.0, 3.0));
    }

    /// The vector lanes equal the portable lanes bit for bit, for every type they handle, with
    /// signed zeros, infinities, NaNs, subnormals and ties between lanes.
    #[test]
    fn simd_lanes_equal_portable_lanes() {
        fn same<T: Measured<Wide = f32>>(v: &[T], what: &str) {
            for shift in [0.0, 0.25, -3.5] {
                let Some(simd) = T::lanes_simd(v, shift) else { return };
                let port = portable(v, shift);
                // Bits, every NaN as one (IEEE leaves a NaN's sign and payload open).
                let d = |x: f64| if x.is_nan() { u64::MAX } else { x.to_bits() };
                let f = |x: f32| if x.is_nan() { u32::MAX } else { x.to_bits() };
                let bits = |l: &Lanes<f32>| (l.sum.map(d), l.sq.map(d), l.min.map(f), l.max.map(f));
                assert_eq!(bits(&simd), bits(&port), "{what}, shift {shift}");
            }
        }
        let mut state = 0x9e37_79b9_7f4a_7c15_u64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let special = [0.0, -0.0, f32::INFINITY, f32::NEG_INFINITY, f32::NAN, 1e-40, -1e-40, 65504.0, 1.0, 1.0];
        for len in [0, 8, 64, 1000 * 8] {
            for case in 0..4 {
                let v: Vec<f32> = (0..len)
                    .map(|i| {
                        let r = next();
                        match case {
                            0 => (r >> 40) as f32 / (1u64 << 24) as f32 - 0.5,
                            1 => f32::from_bits(r as u32),
                            2 => special[(r % special.len() as u64) as usize],
                            _ => [0.0, -0.0][i % 2],
                        }
                    })
                    .collect();
                same(&v, &format!("f32 case {case} len {len}"));
                let b: Vec<half::bf16> = v.iter().map(|&x| half::bf16::from_f32(x)).collect();
                same(&b, &format!("bf16 case {case} len {len}"));
                let h: Vec<half::f16> = v.iter().map(|&x| half::f16::from_f32(x)).collect();
                same(&h, &format!("f16 case {case} len {len}"));
            }
        }
    }
}
