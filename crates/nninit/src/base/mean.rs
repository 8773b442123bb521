//! `mean_resizing`: new rows of a grown embedding drawn from a multivariate normal with the old
//! rows' mean and covariance, as transformers' `resize_token_embeddings(mean_resizing=True)`
//! (`PreTrainedModel._init_added_embeddings_weights_with_mean`, after Hewitt 2021, "Initializing
//! new word embeddings for pretrained language models"):
//!
//! * μ = mean of the old rows, Σ = (X − μ)ᵀ(X − μ) / n over the n old rows X (as float32 in
//!   transformers; accumulated in f64 here, then μ rounded to f32);
//! * if 10⁻⁹·Σ is positive definite (its Cholesky factorization exists), each new row is
//!   μ + L z with L L ᵀ = 10⁻⁹·Σ and z ~ N(0, I) (`MultivariateNormal(μ, 1e-9·Σ).sample`);
//!   otherwise every new row is μ.
//!
//! The old rows are read in blocks, so memory is one block plus Σ (d² values for rows of
//! length d).

use faer::Mat;

use crate::error::{Error, Result};

/// transformers' scale of the covariance (`epsilon`).
pub const EPSILON: f64 = 1e-9;

/// The mean and covariance of rows of length `dim`, accumulated block by block.
pub struct Moments {
    dim: usize,
    rows: usize,
    sum: Vec<f64>,
    /// Σ (x − μ)(x − μ)ᵀ, once the mean is known ([`Moments::center`]).
    scatter: Option<(Vec<f64>, Mat<f64>)>,
}

impl Moments {
    /// No rows yet.
    pub fn new(dim: usize) -> Self {
        Moments { dim, rows: 0, sum: vec![0.0; dim], scatter: None }
    }

    /// First pass: adds a block of rows (row-major, a multiple of `dim` values) to the mean.
    pub fn add_to_mean(&mut self, block: &[f64]) {
        for row in block.chunks_exact(self.dim) {
            for (s, &x) in self.sum.iter_mut().zip(row) {
                *s += x;
            }
            self.rows += 1;
        }
    }

    /// The mean of the rows added so far (f64).
    pub fn mean(&self) -> Vec<f64> {
        let n = self.rows.max(1) as f64;
        self.sum.iter().map(|s| s / n).collect()
    }

    /// Second pass: adds a block of the same rows, centered on the mean, to the scatter matrix.
    pub fn add_to_covariance(&mut self, block: &[f64]) {
        let dim = self.dim;
        let (mean, scatter) = self.scatter.get_or_insert_with(|| {
            let n = self.rows.max(1) as f64;
            (self.sum.iter().map(|s| s / n).collect(), Mat::zeros(dim, dim))
        });
        let rows = block.len() / dim;
        let centered = Mat::<f64>::from_fn(rows, dim, |i, j| block[i * dim + j] - mean[j]);
        let par = if rows * dim * dim >= 1 << 22 { faer::Par::rayon(0) } else { faer::Par::Seq };
        faer::linalg::matmul::matmul(
            scatter.as_mut(),
            faer::Accum::Add,
            centered.transpose(),
            centered.as_ref(),
            1.0,
            par,
        );
    }

    /// The covariance Σ = scatter / n (transformers divides by the number of rows, not n − 1).
    pub fn covariance(&self) -> Mat<f64> {
        let n = self.rows.max(1) as f64;
        match &self.scatter {
            Some((_, s)) => Mat::from_fn(self.dim, self.dim, |i, j| s[(i, j)] / n),
            None => Mat::zeros(self.dim, self.dim),
        }
    }
}

/// The lower Cholesky factor L of 10⁻⁹·Σ, or `None` when 10⁻⁹·Σ is not positive definite
/// (transformers then uses the mean alone).
pub fn scale_tril(covariance: &Mat<f64>) -> Option<Mat<f64>> {
    let scaled = Mat::from_fn(covariance.nrows(), covariance.ncols(), |i, j| EPSILON * covariance[(i, j)]);
    scaled.llt(faer::Side::Lower).ok().map(|llt| llt.L().to_owned())
}

/// The new rows `μ + L z` for standard normal draws `z` (row-major, a multiple of `μ.len()`):
/// `L z` computed in f64 and rounded to f32, then added to μ in f32 (as PyTorch adds the f32
/// `loc`); with no factor (Σ not positive definite), μ for every row.
///
/// ```
/// use nninit::base::mean::{sample, scale_tril, Moments};
/// // Four old rows of length 2: mean (2.25, 2.25).
/// let rows = [1.0, 2.0, 3.0, 2.0, 5.0, 1.0, 0.0, 4.0];
/// let mut m = Moments::new(2);
/// m.add_to_mean(&rows);
/// m.add_to_covariance(&rows);
/// let l = scale_tril(&m.covariance());
/// let new = sample(&m.mean(), l.as_ref(), &[0.0, 0.0, 1.0, -1.0]);
/// assert_eq!(&new[..2], &[2.25, 2.25]); // z = 0: the mean
/// assert!((new[2] - 2.25).abs() < 1e-3 && new[2] != 2.25); // 1e-9·Σ: a tiny step away
/// ```
pub fn sample(mean: &[f64], scale_tril: Option<&Mat<f64>>, z: &[f32]) -> Vec<f32> {
    let dim = mean.len();
    let loc: Vec<f32> = mean.iter().map(|&m| m as f32).collect();
    let mut out = Vec::with_capacity(z.len());
    for row in z.chunks_exact(dim) {
        for i in 0..dim {
            let noise = match scale_tril {
                Some(l) => (0..=i).map(|j| l[(i, j)] * row[j] as f64).sum::<f64>() as f32,
                None => 0.0,
            };
            out.push(loc[i] + noise);
        }
    }
    out
}

/// Checks that `n` old rows can define a distribution.
///
/// # Errors
/// No old rows.
pub fn check_rows(name: &str, n: usize) -> Result<()> {
    if n == 0 {
        return Err(Error::value(format!("{name}: no old rows to take the mean of (mean_resizing)")));
    }
    Ok(())
}
