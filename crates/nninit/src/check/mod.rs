//! Whether a checkpoint's values are what their init should give: per tensor, statistical tests
//! against the scheme's law and exact tests of its structure, with the likely cause of a failure.
//!
//! nninit records every parameter's init in the checkpoint (`nninit.inits`); for checkpoints
//! from elsewhere the inits come from a plan applied to the checkpoint's layout ([`expectations`]).
//! Each tensor is read once, chunk by chunk ([`CHUNK`] elements, in parallel), so memory stays
//! bounded whatever the checkpoint's size; only structured schemes whose test needs the whole
//! tensor (`orthogonal_`, `eye_`, `dirac_`, `identity_`, `zero_init_`) hold one tensor, up to
//! [`MAX_WHOLE_BYTES`].
//!
//! The tests and how their thresholds are derived are in [`verdict`]; every test passes a correct
//! tensor with probability at least `1 − 1e-6`.

mod accum;
mod diagnose;
pub mod law;
mod scan;
mod source;
pub mod verdict;

use std::collections::BTreeMap;

pub use law::Law;
pub use source::{check_path, expectations, Recorded};
pub use verdict::{Test, ALPHA};

/// Elements read at a time (rounded to whole rows).
pub const CHUNK: usize = 1 << 20;

/// The largest tensor loaded whole for a structural test.
pub const MAX_WHOLE_BYTES: usize = 64 << 20;

/// Summary statistics of a tensor's values (finite values of the scheme's main part).
#[derive(Clone, Debug, serde::Serialize)]
pub struct Moments {
    /// Finite values.
    pub n: u64,
    /// Mean.
    pub mean: f64,
    /// Population standard deviation.
    pub std: f64,
    /// Minimum.
    pub min: f64,
    /// Maximum.
    pub max: f64,
    /// Excess kurtosis.
    pub kurtosis: f64,
}

/// The verdict on one tensor.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Every test passed.
    Pass,
    /// A test failed.
    Fail,
    /// Not tested (see [`TensorCheck::unchecked`]).
    Unchecked,
}

/// The check of one tensor.
#[derive(Clone, Debug, serde::Serialize)]
pub struct TensorCheck {
    /// The file holding it.
    pub file: String,
    /// Its name.
    pub name: String,
    /// Its dtype (safetensors spelling, lower case).
    pub dtype: String,
    /// Its shape in the file.
    pub shape: Vec<usize>,
    /// The whole tensor's shape, when the file holds a shard's slice.
    pub full_shape: Vec<usize>,
    /// `rank/world dim d`, for a shard.
    pub shard: Option<String>,
    /// The recorded init.
    pub init: Option<String>,
    /// `(fan_in, fan_out)` of the whole tensor.
    pub fans: Option<(usize, usize)>,
    /// The law of the values (elementwise random schemes).
    pub law: Option<Law>,
    /// The verdict.
    pub status: Status,
    /// Why it was not checked (or which part was not).
    pub unchecked: Option<String>,
    /// Every test.
    pub tests: Vec<Test>,
    /// The likely cause of a failure.
    pub cause: Option<String>,
    /// Statistics of the values.
    pub moments: Option<Moments>,
    /// A 64-bin histogram for display: `(lo, hi, count)`.
    pub histogram: Vec<(f64, f64, u64)>,
}

impl TensorCheck {
    fn new(file: &str, name: &str, dtype: String, shape: &[usize]) -> Self {
        TensorCheck {
            file: file.to_string(),
            name: name.to_string(),
            dtype,
            shape: shape.to_vec(),
            full_shape: shape.to_vec(),
            shard: None,
            init: None,
            fans: None,
            law: None,
            status: Status::Unchecked,
            unchecked: None,
            tests: Vec::new(),
            cause: None,
            moments: None,
            histogram: Vec::new(),
        }
    }

    /// Marks it unchecked for `why`.
    fn skip(mut self, why: impl Into<String>) -> Self {
        self.status = Status::Unchecked;
        self.unchecked = Some(why.into());
        self
    }

    /// Sets the status from the tests.
    fn settle(&mut self) {
        self.status = if self.tests.iter().any(|t| !t.pass) {
            Status::Fail
        } else if self.tests.is_empty() {
            Status::Unchecked
        } else {
            Status::Pass
        };
    }
}

/// Counts of a check's verdicts.
///
/// ```
/// use nninit::check::{tally, Status};
/// assert_eq!(tally(&[]), std::collections::BTreeMap::new());
/// ```
pub fn tally(checks: &[TensorCheck]) -> BTreeMap<&'static str, usize> {
    let mut t = BTreeMap::new();
    for c in checks {
        let k = match c.status {
            Status::Pass => "pass",
            Status::Fail => "fail",
            Status::Unchecked => "unchecked",
        };
        *t.entry(k).or_insert(0) += 1;
    }
    t
}
