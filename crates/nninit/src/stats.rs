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
            Data::F16(v) => Self::of_slice(v, |x| x.to_f32()),
            Data::BF16(v) => Self::of_slice(v, |x| x.to_f32()),
            Data::F32(v) => Self::of_slice(v, |&x| x),
            Data::F64(v) => Self::of_slice(v, |&x| x),
            Data::Other { .. } | Data::Meta(_) => return None,
        })
    }

    /// Statistics of elements `range` of a float tensor's row-major data; `None` for non-float
    /// data. Panics on a range past the end.
    pub fn of_range(t: &Tensor, range: std::ops::Range<usize>) -> Option<Stats> {
        Some(match t.data() {
            Data::F16(v) => Self::of_slice(&v[range], |x| x.to_f32()),
            Data::BF16(v) => Self::of_slice(&v[range], |x| x.to_f32()),
            Data::F32(v) => Self::of_slice(&v[range], |&x| x),
            Data::F64(v) => Self::of_slice(&v[range], |&x| x),
            Data::Other { .. } | Data::Meta(_) => return None,
        })
    }

    /// `f` widens an element to `W` (f32 for the types of 32 bits or fewer, exactly).
    fn of_slice<T: Sync, W: Lane>(v: &[T], f: impl Fn(&T) -> W + Sync) -> Stats {
        use rayon::prelude::*;
        v.par_chunks(1 << 14)
            .map(|c| Stats::of_chunk(c, &f))
            .reduce_with(Stats::merge)
            .unwrap_or(Stats::of(std::iter::empty()))
    }

    /// One pass over a chunk, shifted by its first value (so the sums stay small and the
    /// variance does not cancel: Chan, Golub & LeVeque's shifted data), over 8 independent lanes
    /// so the loop vectorizes. Minimum and maximum are taken in the widened type `W` (f32 for
    /// f32 and narrower: the same values as in f64, at twice the SIMD width), the sums in f64.
    #[multiversion::multiversion(targets("x86_64+avx512f+avx512bw+avx512vl+avx512dq+avx2+fma", "x86_64+avx2+fma"))]
    fn of_chunk<T, W: Lane, F: Fn(&T) -> W>(c: &[T], f: F) -> Stats {
        const L: usize = 8;
        let Some(shift) = c.first().map(|x| f(x).wide()).filter(|x| x.is_finite()).or(c.first().map(|_| 0.0)) else {
            return Stats::of(std::iter::empty());
        };
        let (mut sum, mut sq) = ([0.0; L], [0.0; L]);
        let (mut min, mut max) = ([W::INFINITY; L], [W::NEG_INFINITY; L]);
        let mut lanes = c.chunks_exact(L);
        for group in &mut lanes {
            let x: [W; L] = std::array::from_fn(|k| f(&group[k]));
            for k in 0..L {
                min[k] = if x[k] < min[k] { x[k] } else { min[k] };
                max[k] = if x[k] > max[k] { x[k] } else { max[k] };
            }
            for k in 0..L {
                let d = x[k].wide() - shift;
                sum[k] += d;
                sq[k] += d * d;
            }
        }
        for (k, x) in lanes.remainder().iter().map(&f).enumerate() {
            let d = x.wide() - shift;
            sum[k] += d;
            sq[k] += d * d;
            min[k] = if x < min[k] { x } else { min[k] };
            max[k] = if x > max[k] { x } else { max[k] };
        }
        let (min, max) = (min.map(W::wide), max.map(W::wide));
        let n = c.len() as f64;
        let (sum, sq) = (sum.iter().sum::<f64>(), sq.iter().sum::<f64>());
        let var = (sq - sum * sum / n) / n;
        // Rounding can make a zero variance slightly negative; NaN stays NaN.
        let var = if var < 0.0 { 0.0 } else { var };
        let fold = |v: [f64; L], g: fn(f64, f64) -> f64| v.into_iter().reduce(g).unwrap_or(f64::NAN);
        // A NaN makes the sums NaN; only then look for one (inf − inf is NaN too).
        if sum.is_nan() && c.iter().any(|x| f(x).wide().is_nan()) {
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

/// The type an element is widened to for [`Stats::of_chunk`]'s minimum and maximum.
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
        let (one, many) = (Stats::of(v.iter().copied()), Stats::of_slice(&v, |&x| x));
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
}
