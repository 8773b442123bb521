//! One streaming pass over a tensor's values: counts, moments, extremes and the empirical CDF.
//!
//! 16-bit values (bf16, f16) are counted per bit pattern (65,536 counters): the empirical
//! distribution is then known exactly, so every statistic, the Kolmogorov–Smirnov distance
//! included, is exact. 32- and 64-bit values go to running sums of the powers of `x − c` (`c` the
//! law's mean) and to a histogram of [`BINS`] equal bins over the law's support: the empirical CDF
//! is exact at the bin edges, and the distance between the edges can hide at most the mass of one
//! bin ([`Summary::ks_resolution`]).

use std::sync::OnceLock;

use crate::tensor::DType;

/// Bins of the histogram of 32/64-bit values over the law's support.
pub const BINS: usize = 1 << 14;

/// Decodes little-endian element `i` of `bytes` in `dtype`.
#[inline(always)]
pub(crate) fn value(dtype: DType, bytes: &[u8], i: usize) -> f64 {
    match dtype {
        DType::BF16 => half::bf16::from_bits(u16::from_le_bytes([bytes[2 * i], bytes[2 * i + 1]])).to_f64(),
        DType::F16 => half::f16::from_bits(u16::from_le_bytes([bytes[2 * i], bytes[2 * i + 1]])).to_f64(),
        DType::F32 => f32::from_le_bytes(bytes[4 * i..4 * i + 4].try_into().unwrap_or_default()) as f64,
        DType::F64 => f64::from_le_bytes(bytes[8 * i..8 * i + 8].try_into().unwrap_or_default()),
    }
}

/// `x` rounded to the nearest value of `dtype`.
pub(crate) fn round_to(dtype: DType, x: f64) -> f64 {
    match dtype {
        DType::BF16 => half::bf16::from_f64(x).to_f64(),
        DType::F16 => half::f16::from_f64(x).to_f64(),
        DType::F32 => x as f32 as f64,
        DType::F64 => x,
    }
}

/// The values of `dtype` just below and just above `x` (`x` itself a value of `dtype`).
pub(crate) fn neighbours(dtype: DType, x: f64) -> (f64, f64) {
    let step = |x: f64, up: bool| -> f64 {
        match dtype {
            DType::BF16 | DType::F16 => {
                let (bits, decode): (u16, fn(u16) -> f64) = match dtype {
                    DType::BF16 => (half::bf16::from_f64(x).to_bits(), |b| half::bf16::from_bits(b).to_f64()),
                    _ => (half::f16::from_f64(x).to_bits(), |b| half::f16::from_bits(b).to_f64()),
                };
                let neg = bits & 0x8000 != 0;
                let mag = bits & 0x7fff;
                let next = match (up, neg, mag) {
                    (true, true, 0) | (false, false, 0) => bits ^ 0x8000 | 1,
                    (true, false, _) | (false, true, _) => bits.wrapping_add(1),
                    _ => bits.wrapping_sub(1),
                };
                decode(next)
            }
            DType::F32 => {
                let v = x as f32;
                (if up { v.next_up() } else { v.next_down() }) as f64
            }
            DType::F64 => {
                if up {
                    x.next_up()
                } else {
                    x.next_down()
                }
            }
        }
    };
    (step(x, false), step(x, true))
}

/// Bits of precision of `dtype` (the relative rounding error is at most 2^-bits).
pub(crate) fn precision_bits(dtype: DType) -> i32 {
    match dtype {
        DType::BF16 => 8,
        DType::F16 => 11,
        DType::F32 => 24,
        DType::F64 => 53,
    }
}

/// The 16-bit patterns of `dtype` that are not NaN, sorted by value, with their values.
fn sorted_patterns(dtype: DType) -> &'static [(f64, u16)] {
    static BF16: OnceLock<Vec<(f64, u16)>> = OnceLock::new();
    static F16: OnceLock<Vec<(f64, u16)>> = OnceLock::new();
    let cell = if dtype == DType::BF16 { &BF16 } else { &F16 };
    cell.get_or_init(|| {
        let mut v: Vec<(f64, u16)> = (0..=u16::MAX)
            .map(|b| {
                (
                    if dtype == DType::BF16 {
                        half::bf16::from_bits(b).to_f64()
                    } else {
                        half::f16::from_bits(b).to_f64()
                    },
                    b,
                )
            })
            .filter(|(x, _)| !x.is_nan())
            .collect();
        v.sort_by(|a, b| a.0.total_cmp(&b.0));
        v
    })
}

/// What is known about the values of one region of one tensor while it streams.
#[derive(Clone, Debug)]
pub(crate) enum Acc {
    /// 16-bit values: a counter per bit pattern.
    Bits { dtype: DType, counts: Vec<u64> },
    /// 32/64-bit values: sums, extremes and a histogram over `[lo, hi)`.
    Wide(Wide),
}

/// The state of [`Acc::Wide`].
#[derive(Clone, Debug)]
pub(crate) struct Wide {
    dtype: DType,
    center: f64,
    lo: f64,
    width: f64,
    n: u64,
    nan: u64,
    inf: u64,
    neg_inf: u64,
    min: f64,
    max: f64,
    sums: [f64; 4],
    below: u64,
    above: u64,
    bins: Vec<u64>,
    /// The law's bounds rounded to the dtype, and how many values equal each.
    bounds: Option<(f64, f64)>,
    at: (u64, u64),
}

impl Acc {
    /// An empty accumulator for values of `dtype` expected around `center` within `support`,
    /// counting values equal to `bounds` (rounded to the dtype).
    pub fn new(dtype: DType, center: f64, support: (f64, f64), bounds: Option<(f64, f64)>) -> Acc {
        match dtype {
            DType::BF16 | DType::F16 => Acc::Bits { dtype, counts: vec![0; 1 << 16] },
            _ => {
                let (lo, hi) = if support.1 > support.0 { support } else { (support.0 - 0.5, support.0 + 0.5) };
                Acc::Wide(Wide {
                    dtype,
                    center,
                    lo,
                    width: (hi - lo) / BINS as f64,
                    n: 0,
                    nan: 0,
                    inf: 0,
                    neg_inf: 0,
                    min: f64::INFINITY,
                    max: f64::NEG_INFINITY,
                    sums: [0.0; 4],
                    below: 0,
                    above: 0,
                    bins: vec![0; BINS],
                    bounds: bounds.map(|(a, b)| (round_to(dtype, a), round_to(dtype, b))),
                    at: (0, 0),
                })
            }
        }
    }

    /// Adds elements `range` of the little-endian `bytes`; with `skip_zeros`, exact zeros are
    /// left out (the forced zeros of `sparse_`).
    pub fn add(&mut self, bytes: &[u8], range: std::ops::Range<usize>, skip_zeros: bool) {
        match self {
            Acc::Bits { counts, .. } => {
                for i in range {
                    let b = u16::from_le_bytes([bytes[2 * i], bytes[2 * i + 1]]);
                    if skip_zeros && b & 0x7fff == 0 {
                        continue;
                    }
                    counts[b as usize] += 1;
                }
            }
            Acc::Wide(w) => w.add(bytes, range, skip_zeros),
        }
    }

    /// The accumulators of two disjoint sets of values together.
    pub fn merge(&mut self, other: &Acc) {
        match (self, other) {
            (Acc::Bits { counts, .. }, Acc::Bits { counts: o, .. }) => {
                counts.iter_mut().zip(o).for_each(|(a, b)| *a += b);
            }
            (Acc::Wide(a), Acc::Wide(b)) => a.merge(b),
            _ => {}
        }
    }

    /// The summary (`law_cdf` gives the brackets of the theoretical CDF at each point of the
    /// empirical one).
    pub fn summary(&self) -> Summary {
        match self {
            Acc::Bits { dtype, counts } => bits_summary(*dtype, counts),
            Acc::Wide(w) => w.summary(),
        }
    }
}

impl Wide {
    #[inline(always)]
    fn add(&mut self, bytes: &[u8], range: std::ops::Range<usize>, skip_zeros: bool) {
        let (c, lo, inv) = (self.center, self.lo, 1.0 / self.width);
        let (blo, bhi) = self.bounds.unwrap_or((f64::NAN, f64::NAN));
        let mut s = [0.0f64; 4];
        for i in range {
            let x = value(self.dtype, bytes, i);
            if skip_zeros && x == 0.0 {
                continue;
            }
            if !x.is_finite() {
                if x.is_nan() {
                    self.nan += 1;
                } else {
                    self.inf += 1;
                    self.neg_inf += (x < 0.0) as u64;
                }
                continue;
            }
            self.n += 1;
            let d = x - c;
            let d2 = d * d;
            s[0] += d;
            s[1] += d2;
            s[2] += d2 * d;
            s[3] += d2 * d2;
            self.min = self.min.min(x);
            self.max = self.max.max(x);
            let t = (x - lo) * inv;
            if t < 0.0 {
                self.below += 1;
            } else if t >= BINS as f64 {
                self.above += 1;
            } else {
                self.bins[t as usize] += 1;
            }
            self.at.0 += (x == blo) as u64;
            self.at.1 += (x == bhi) as u64;
        }
        for k in 0..4 {
            self.sums[k] += s[k];
        }
    }

    fn merge(&mut self, o: &Wide) {
        self.n += o.n;
        self.nan += o.nan;
        self.inf += o.inf;
        self.neg_inf += o.neg_inf;
        self.min = self.min.min(o.min);
        self.max = self.max.max(o.max);
        for k in 0..4 {
            self.sums[k] += o.sums[k];
        }
        self.below += o.below;
        self.above += o.above;
        self.bins.iter_mut().zip(&o.bins).for_each(|(a, b)| *a += b);
        self.at = (self.at.0 + o.at.0, self.at.1 + o.at.1);
    }

    fn summary(&self) -> Summary {
        let n = self.n as f64;
        let [s1, s2, s3, s4] = self.sums.map(|s| s / n.max(1.0));
        // Central moments from the raw moments about `center`.
        let mean_d = s1;
        let m2 = s2 - mean_d * mean_d;
        let m4 = s4 - 4.0 * mean_d * s3 + 6.0 * mean_d * mean_d * s2 - 3.0 * mean_d.powi(4);
        // The empirical CDF just below each bin edge: count(x < edge).
        let mut points = Vec::with_capacity(BINS + 1);
        let mut below = self.below;
        for (j, &c) in self.bins.iter().enumerate() {
            points.push(Point { x: self.lo + j as f64 * self.width, below, at_or_below: below });
            below += c;
        }
        points.push(Point { x: self.lo + BINS as f64 * self.width, below, at_or_below: below });
        let max_bin = self.bins.iter().copied().max().unwrap_or(0);
        Summary {
            dtype: self.dtype,
            n: self.n,
            nan: self.nan,
            inf: self.inf,
            neg_inf: self.neg_inf,
            min: self.min,
            max: self.max,
            mean: self.center + mean_d,
            var: m2.max(0.0),
            m4: m4.max(0.0),
            points,
            exact_ecdf: false,
            max_bin,
            at_bounds: self.at,
            histogram: coarse(self.lo, self.width, &self.bins, self.below, self.above),
        }
    }
}

/// A point of the empirical CDF: how many values are `< x` and `≤ x`.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Point {
    pub x: f64,
    pub below: u64,
    pub at_or_below: u64,
}

/// Everything the tests need about a region's values.
#[derive(Clone, Debug)]
pub(crate) struct Summary {
    pub dtype: DType,
    /// Finite values.
    pub n: u64,
    pub nan: u64,
    /// Infinite values, of either sign.
    pub inf: u64,
    /// Of `inf`, how many are −∞.
    pub neg_inf: u64,
    pub min: f64,
    pub max: f64,
    pub mean: f64,
    /// Population variance.
    pub var: f64,
    /// Fourth central moment.
    pub m4: f64,
    /// Points of the empirical CDF (every distinct value for 16-bit dtypes; the bin edges else).
    pub points: Vec<Point>,
    /// Whether `points` holds every distinct value.
    pub exact_ecdf: bool,
    /// The largest bin count (histograms only).
    pub max_bin: u64,
    /// How many values equal the law's lower and upper bound (rounded to the dtype).
    pub at_bounds: (u64, u64),
    /// A coarse histogram for display: `(lo, hi, count)`.
    pub histogram: Vec<(f64, f64, u64)>,
}

impl Summary {
    /// The largest mass the empirical CDF can hide between two of its points: 0 for 16-bit
    /// dtypes, else the largest bin's share.
    pub fn ks_resolution(&self) -> f64 {
        if self.exact_ecdf || self.n == 0 {
            0.0
        } else {
            self.max_bin as f64 / self.n as f64
        }
    }
}

/// 64 bins for display from a fine histogram (values outside the range in the end bins).
fn coarse(lo: f64, width: f64, bins: &[u64], below: u64, above: u64) -> Vec<(f64, f64, u64)> {
    let group = bins.len() / 64;
    let mut out: Vec<(f64, f64, u64)> = bins
        .chunks(group)
        .enumerate()
        .map(|(k, c)| {
            let a = lo + (k * group) as f64 * width;
            (a, a + group as f64 * width, c.iter().sum())
        })
        .collect();
    if let Some(first) = out.first_mut() {
        first.2 += below;
    }
    if let Some(last) = out.last_mut() {
        last.2 += above;
    }
    out
}

/// The summary of per-pattern counts: exact moments and the exact empirical CDF.
fn bits_summary(dtype: DType, counts: &[u64]) -> Summary {
    let decode = |b: u16| {
        if dtype == DType::BF16 {
            half::bf16::from_bits(b).to_f64()
        } else {
            half::f16::from_bits(b).to_f64()
        }
    };
    let (mut n, mut nan, mut inf, mut neg_inf) = (0u64, 0u64, 0u64, 0u64);
    let (mut min, mut max) = (f64::INFINITY, f64::NEG_INFINITY);
    let mut sum = 0.0;
    for (b, &c) in counts.iter().enumerate() {
        if c == 0 {
            continue;
        }
        let x = decode(b as u16);
        if x.is_nan() {
            nan += c;
        } else if x.is_infinite() {
            inf += c;
            neg_inf += if x < 0.0 { c } else { 0 };
        } else {
            n += c;
            sum += c as f64 * x;
            min = min.min(x);
            max = max.max(x);
        }
    }
    let mean = sum / n.max(1) as f64;
    let (mut m2, mut m4) = (0.0, 0.0);
    let mut points = Vec::new();
    let mut below = 0u64;
    let mut last: Option<f64> = None;
    for &(x, b) in sorted_patterns(dtype) {
        let c = counts[b as usize];
        if c == 0 || x.is_infinite() {
            continue;
        }
        let d = x - mean;
        m2 += c as f64 * d * d;
        m4 += c as f64 * d * d * d * d;
        // −0 and +0 are one value.
        match points.last_mut() {
            Some(p) if last == Some(x) => {
                let p: &mut Point = p;
                p.at_or_below += c;
            }
            _ => points.push(Point { x, below, at_or_below: below + c }),
        }
        below += c;
        last = Some(x);
    }
    let nf = n.max(1) as f64;
    // A display histogram: 64 bins over [min, max].
    let mut histogram = Vec::new();
    if n > 0 {
        let width = if max > min { (max - min) / 64.0 } else { 1.0 };
        histogram = (0..64).map(|k| (min + k as f64 * width, min + (k + 1) as f64 * width, 0u64)).collect();
        for p in &points {
            let k = (((p.x - min) / width) as usize).min(63);
            histogram[k].2 += p.at_or_below - p.below;
        }
    }
    Summary {
        dtype,
        n,
        nan,
        inf,
        neg_inf,
        min,
        max,
        mean,
        var: m2 / nf,
        m4: m4 / nf,
        points,
        exact_ecdf: true,
        max_bin: 0,
        at_bounds: (0, 0),
        histogram,
    }
}

/// The number of values equal to `v` (a value of the dtype) in a bit-pattern count.
pub(crate) fn count_equal(summary: &Summary, v: f64) -> u64 {
    summary.points.iter().find(|p| p.x == v).map_or(0, |p| p.at_or_below - p.below)
}
