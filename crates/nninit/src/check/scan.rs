//! One tensor's check: its regions (the scheme's main part, parts re-initialized afterwards,
//! zeroed padding rows), one parallel streaming pass over its bytes, then the tests.

use std::os::unix::fs::FileExt;

use rayon::prelude::*;

use super::accum::{neighbours, precision_bits, round_to, value, Acc, Summary};
use super::diagnose::{self, Expected};
use super::law::Law;
use super::verdict::{self, Test};
use super::{Moments, TensorCheck, CHUNK, MAX_WHOLE_BYTES};
use crate::init::{Action, Init};
use crate::io::TensorInfo;
use crate::tensor::{DType, Tensor};

/// What a region should hold.
#[derive(Clone, Debug)]
pub(crate) enum Kind {
    /// Draws from a law.
    Random(Law),
    /// Every value this constant; the test's name (`constant`, `padding_row`).
    Constant(f64, &'static str),
    /// Unknown: only finiteness is tested.
    Plain,
}

/// A part of the tensor with one expectation.
#[derive(Clone, Debug)]
pub(crate) struct Region {
    pub label: String,
    pub kind: Kind,
    /// Leave exact zeros out (`sparse_`'s forced zeros are tested by column).
    pub skip_zeros: bool,
}

/// A test that needs more than the values' distribution.
#[derive(Clone, Debug)]
pub(crate) enum Whole {
    None,
    /// `orthogonal_`: rows (or columns) orthonormal times `gain`.
    Orthogonal {
        gain: f64,
    },
    /// A deterministic scheme: the values must equal the scheme's, element for element.
    Exact(Init),
    /// `sparse_`: exactly `zeros` zeros in each column.
    Sparse {
        zeros: usize,
    },
}

/// Everything the scan needs.
pub(crate) struct Scan<'a> {
    pub file: &'a std::fs::File,
    pub data_start: u64,
    pub info: &'a TensorInfo,
    pub dtype: DType,
    pub full_shape: Vec<usize>,
    pub regions: Vec<Region>,
    /// `(start, end, region)` covering every element of the slice, in order.
    pub segments: Vec<(usize, usize, usize)>,
    pub whole: Whole,
    /// Rows whose hashes are compared (rank ≥ 2, main region only), or `None`.
    pub rows: Option<RowTest>,
}

/// The identical-rows test: row length and the rows to skip (zeroed ones).
pub(crate) struct RowTest {
    pub len: usize,
    pub skip: Vec<usize>,
}

/// What one chunk contributes.
struct Part {
    accs: Vec<Option<Acc>>,
    hashes: Vec<u64>,
    col_zeros: Vec<u64>,
}

impl Part {
    fn merge(mut self, other: Part) -> Part {
        for (total, acc) in self.accs.iter_mut().zip(other.accs) {
            match (total.as_mut(), acc) {
                (Some(t), Some(a)) => t.merge(&a),
                (None, Some(a)) => *total = Some(a),
                _ => {}
            }
        }
        self.hashes.extend(other.hashes);
        if self.col_zeros.len() < other.col_zeros.len() {
            self.col_zeros.resize(other.col_zeros.len(), 0);
        }
        self.col_zeros.iter_mut().zip(&other.col_zeros).for_each(|(a, b)| *a += b);
        self
    }
}

impl Scan<'_> {
    fn numel(&self) -> usize {
        self.info.shape.iter().product()
    }

    fn template(&self, r: usize) -> Acc {
        match &self.regions[r].kind {
            Kind::Random(law) => Acc::new(self.dtype, law.mean(), law.support(), law.bounds()),
            Kind::Constant(v, _) => Acc::new(self.dtype, *v, (v - 1.0, v + 1.0), None),
            Kind::Plain => Acc::new(self.dtype, 0.0, (-1.0, 1.0), None),
        }
    }

    /// Elements per chunk: whole rows when rows are hashed.
    fn chunk_len(&self) -> usize {
        match &self.rows {
            Some(r) if r.len > 0 && r.len <= CHUNK => (CHUNK / r.len).max(1) * r.len,
            _ => CHUNK,
        }
    }

    fn read(&self, start: usize, len: usize) -> crate::Result<Vec<u8>> {
        let size = self.dtype.size();
        let mut buf = vec![0u8; len * size];
        let at = self.data_start + (self.info.data_offsets.0 + start * size) as u64;
        self.file
            .read_exact_at(&mut buf, at)
            .map_err(|e| crate::Error::Checkpoint(format!("tensor `{}`: {e}", self.info.name)))?;
        Ok(buf)
    }

    fn chunk(&self, start: usize, len: usize, cols: usize) -> crate::Result<Part> {
        let bytes = self.read(start, len)?;
        let end = start + len;
        let mut accs: Vec<Option<Acc>> = vec![None; self.regions.len()];
        let first = self.segments.partition_point(|s| s.1 <= start);
        for &(lo, hi, r) in self.segments[first..].iter().take_while(|s| s.0 < end) {
            let (a, b) = (lo.max(start) - start, hi.min(end) - start);
            accs[r].get_or_insert_with(|| self.template(r)).add(&bytes, a..b, self.regions[r].skip_zeros);
        }
        let mut hashes = Vec::new();
        if let Some(rows) = &self.rows {
            let size = self.dtype.size();
            for (k, row) in bytes.chunks_exact(rows.len * size).enumerate() {
                if !rows.skip.contains(&(start / rows.len + k)) {
                    hashes.push(hash(row));
                }
            }
        }
        let mut col_zeros = Vec::new();
        if let Whole::Sparse { .. } = self.whole {
            col_zeros = vec![0u64; cols];
            for i in 0..len {
                if value(self.dtype, &bytes, i) == 0.0 {
                    col_zeros[(start + i) % cols] += 1;
                }
            }
        }
        Ok(Part { accs, hashes, col_zeros })
    }

    /// Streams the tensor and runs every test.
    pub fn run(&self, mut out: TensorCheck) -> crate::Result<TensorCheck> {
        let n = self.numel();
        let step = self.chunk_len();
        let cols = if self.info.shape.len() == 2 { self.info.shape[1] } else { 1 };
        let starts: Vec<usize> = (0..n).step_by(step.max(1)).collect();
        // Chunks are merged as they finish (memory: a few chunks at a time).
        let total = starts
            .par_iter()
            .map(|&s| self.chunk(s, step.min(n - s), cols))
            .try_reduce_with(|a, b| Ok(a.merge(b)))
            .transpose()?;
        let Part { accs, hashes, col_zeros } = total.unwrap_or(Part {
            accs: vec![None; self.regions.len()],
            hashes: Vec::new(),
            col_zeros: vec![0; cols],
        });
        let mut global = Vec::new();
        if let (Some(rows), Some(Kind::Random(law))) = (&self.rows, self.regions.first().map(|r| &r.kind)) {
            if let Some(t) = identical_rows(law, self.dtype, rows.len, hashes) {
                global.push(t);
            }
        }
        match &self.whole {
            Whole::Sparse { zeros } => global.push(sparse_zeros(&col_zeros, *zeros)),
            Whole::Orthogonal { gain } => match self.load_whole()? {
                Some(t) => global.push(orthogonality(&t, *gain, self.dtype)),
                None => out.unchecked = Some(format!("orthogonality: larger than {} MiB", MAX_WHOLE_BYTES >> 20)),
            },
            Whole::Exact(init) => match self.load_whole()? {
                Some(t) => global.push(exact(init, &t, &self.full_shape, self.dtype)?),
                None => out.unchecked = Some(format!("exact structure: larger than {} MiB", MAX_WHOLE_BYTES >> 20)),
            },
            Whole::None => {}
        }
        let mut cause = None;
        for (r, acc) in self.regions.iter().zip(&accs) {
            let Some(acc) = acc else { continue };
            let s = acc.summary();
            let mut tests = match &r.kind {
                Kind::Random(law) => verdict::random(law, &s, &r.label),
                Kind::Constant(v, name) => vec![verdict::constant(*v, &s, &r.label, name)],
                Kind::Plain => vec![verdict::nan_inf(&s, &r.label)],
            };
            if out.moments.is_none() {
                out.moments = Some(moments(&s));
                out.histogram = s.histogram.clone();
            }
            if cause.is_none() && (tests.iter().chain(&global).any(|t| !t.pass)) {
                let expected = match &r.kind {
                    Kind::Random(law) => Some(Expected::Random(law)),
                    Kind::Constant(v, _) => Some(Expected::Constant(*v)),
                    Kind::Plain => Some(Expected::Structure),
                };
                let all: Vec<Test> = tests.iter().chain(&global).cloned().collect();
                cause = expected.and_then(|e| diagnose::cause(e, &moments(&s), out.fans, &all));
            }
            out.tests.append(&mut tests);
        }
        out.tests.extend(global);
        out.settle();
        out.cause = cause.filter(|_| out.status == super::Status::Fail);
        Ok(out)
    }

    fn load_whole(&self) -> crate::Result<Option<Tensor>> {
        let n = self.numel();
        if n * self.dtype.size() > MAX_WHOLE_BYTES {
            return Ok(None);
        }
        let bytes = self.read(0, n)?;
        Tensor::from_le_bytes(&self.info.shape, self.dtype, &bytes).map(Some)
    }
}

fn moments(s: &Summary) -> Moments {
    let kurtosis = if s.var > 0.0 { s.m4 / (s.var * s.var) - 3.0 } else { f64::NAN };
    Moments { n: s.n, mean: s.mean, std: s.var.sqrt(), min: s.min, max: s.max, kurtosis }
}

/// A 64-bit hash of a row's bytes (multiply–rotate over 8-byte words, as FxHash).
fn hash(bytes: &[u8]) -> u64 {
    const K: u64 = 0x517c_c1b7_2722_0a95;
    let mut h = bytes.len() as u64;
    let mut words = bytes.chunks_exact(8);
    for w in &mut words {
        h = (h.rotate_left(5) ^ u64::from_le_bytes(w.try_into().unwrap_or_default())).wrapping_mul(K);
    }
    for &b in words.remainder() {
        h = (h.rotate_left(5) ^ b as u64).wrapping_mul(K);
    }
    h
}

/// Identical rows, tested only where a correct tensor has a pair of identical rows with
/// probability below 1e-7: each pair of rows is equal with probability at most `q^len`, `q` the
/// largest mass of one value of the dtype under the law (union bound over the pairs).
fn identical_rows(law: &Law, dtype: DType, len: usize, mut hashes: Vec<u64>) -> Option<Test> {
    let rows = hashes.len() as f64;
    let (lo, hi) = law.support();
    let q = (0..=2000)
        .map(|k| {
            let x = round_to(dtype, lo + (hi - lo) * k as f64 / 2000.0);
            let (a, b) = neighbours(dtype, x);
            law.cdf(b) - law.cdf(a)
        })
        .fold(0.0f64, f64::max)
        .max(2f64.powi(1 - precision_bits(dtype)));
    let bound = rows * rows / 2.0 * q.powf(len as f64);
    if !(bound < 1e-7) || rows < 2.0 {
        return None;
    }
    hashes.sort_unstable();
    let dup = hashes.windows(2).filter(|w| w[0] == w[1]).count();
    Some(Test {
        name: "identical_rows",
        region: "rows".into(),
        value: dup as f64,
        expected: Some(0.0),
        threshold: 0.0,
        pass: dup == 0,
        detail: format!(
            "{dup} repeated rows among {rows} (a correct tensor repeats one with probability < {bound:.1e})"
        ),
    })
}

fn sparse_zeros(col_zeros: &[u64], zeros: usize) -> Test {
    let bad = col_zeros.iter().filter(|&&z| z != zeros as u64).count();
    let (lo, hi) = (col_zeros.iter().min().copied().unwrap_or(0), col_zeros.iter().max().copied().unwrap_or(0));
    Test {
        name: "sparse_zeros",
        region: "columns".into(),
        value: bad as f64,
        expected: Some(0.0),
        threshold: 0.0,
        pass: bad == 0,
        detail: format!("{bad} columns without exactly {zeros} zeros (zeros per column from {lo} to {hi})"),
    }
}

/// `max |G/gain² − I|` with `G = QQᵀ` (rows ≤ columns) or `QᵀQ`, `Q` the tensor flattened to
/// `[rows, numel/rows]`. Threshold: 4·2^-p (rounding each element by a relative 2^-p moves each
/// entry of G by at most 2·2^-p for unit rows, Cauchy–Schwarz) plus the factorization's error,
/// k·2^-24 for an inner dimension k.
fn orthogonality(t: &Tensor, gain: f64, dtype: DType) -> Test {
    let v = t.to_f64_vec();
    let rows = t.shape().first().copied().unwrap_or(0);
    let cols = if rows == 0 { 0 } else { v.len() / rows };
    let q = faer::Mat::<f64>::from_fn(rows, cols, |i, j| v[i * cols + j] / gain);
    let g = if rows <= cols { &q * q.transpose() } else { q.transpose() * &q };
    let k = rows.max(cols) as f64;
    let mut dev: f64 = 0.0;
    for i in 0..g.nrows() {
        for j in 0..g.ncols() {
            let target = if i == j { 1.0 } else { 0.0 };
            dev = dev.max((g[(i, j)] - target).abs());
        }
    }
    if v.iter().any(|x| !x.is_finite()) {
        dev = f64::INFINITY;
    }
    let thr = 4.0 * 2f64.powi(-precision_bits(dtype)) + k * 2f64.powi(-24);
    Test {
        name: "orthogonality",
        region: "all".into(),
        value: dev,
        expected: Some(0.0),
        threshold: thr,
        pass: dev <= thr,
        detail: format!("max |QQᵀ/gain² − I| over the {}×{} Gram matrix", g.nrows(), g.ncols()),
    }
}

/// The values against the deterministic scheme's own output.
fn exact(init: &Init, t: &Tensor, full_shape: &[usize], dtype: DType) -> crate::Result<Test> {
    let mut want = Tensor::try_zeros(full_shape, dtype)?;
    init.apply(want.view_mut()?, &mut crate::Generator::manual_seed(0))?;
    let (a, b) = (t.to_f64_vec(), want.to_f64_vec());
    let bad = a.iter().zip(&b).filter(|(x, y)| x != y).count();
    let first = a.iter().zip(&b).position(|(x, y)| x != y);
    Ok(Test {
        name: "exact",
        region: "all".into(),
        value: bad as f64,
        expected: Some(0.0),
        threshold: 0.0,
        pass: bad == 0,
        detail: match first {
            Some(i) => {
                format!("{bad} elements differ from {init}; first at flat index {i}: {} instead of {}", a[i], b[i])
            }
            None => format!("every element equals {init}'s"),
        },
    })
}

/// The region and whole-tensor test of an action.
pub(crate) fn kind_of(action: Action, init: &Init, shape: &[usize]) -> (Kind, Whole, bool) {
    match action {
        Action::Fill(v) => (Kind::Constant(v, "constant"), Whole::None, false),
        Action::Uniform { from, to } => (Kind::Random(Law::Uniform { from, to }), Whole::None, false),
        Action::Normal { mean, std } => (Kind::Random(Law::Normal { mean, std }), Whole::None, false),
        Action::TruncNormal { mean, std, a, b } => {
            (Kind::Random(Law::TruncNormal { mean, std, a, b }), Whole::None, false)
        }
        Action::Sparse { sparsity, std } => {
            let rows = shape.first().copied().unwrap_or(0);
            let zeros = ((sparsity * rows as f64).ceil() as usize).min(rows);
            (Kind::Random(Law::Normal { mean: 0.0, std }), Whole::Sparse { zeros }, true)
        }
        Action::Orthogonal { gain } => (Kind::Plain, Whole::Orthogonal { gain }, false),
        Action::Eye { .. } | Action::Dirac { .. } | Action::ZerO => (Kind::Plain, Whole::Exact(init.clone()), false),
        Action::Nothing | Action::DeltaOrthogonal { .. } => (Kind::Plain, Whole::None, false),
    }
}
