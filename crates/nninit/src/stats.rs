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

    /// Statistics of a float tensor; `None` for non-float data.
    pub fn of_tensor(t: &Tensor) -> Option<Stats> {
        Some(match t.data() {
            Data::F16(v) => Stats::of(v.iter().map(|x| x.to_f64())),
            Data::BF16(v) => Stats::of(v.iter().map(|x| x.to_f64())),
            Data::F32(v) => Stats::of(v.iter().map(|&x| x as f64)),
            Data::F64(v) => Stats::of(v.iter().copied()),
            Data::Other { .. } => return None,
        })
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
    }
}
