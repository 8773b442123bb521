//! One rank's slice of every tensor: which elements of a tensor a rank keeps.

use crate::error::{Error, Result};
use crate::tensor::{Data, Tensor};

/// One rank's slice of every tensor: along `dim`, rank `rank` of `world` gets rows
/// `[rank·c, min((rank+1)·c, size))` with `c = ceil(size / world)`; tensors with `dim` or fewer
/// dimensions are kept whole (replicated).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shard {
    /// This rank, `0 ≤ rank < world`.
    pub rank: usize,
    /// Number of ranks.
    pub world: usize,
    /// The dimension that is split.
    pub dim: usize,
}

impl Shard {
    /// Parses `RANK/WORLD`. Errors: bad syntax, `world == 0`, `rank >= world`.
    pub fn parse(s: &str, dim: usize) -> Result<Shard> {
        let bad = || Error::parse("shard", s, "expected RANK/WORLD with 0 <= RANK < WORLD, e.g. 0/8");
        let (r, w) = s.split_once('/').ok_or_else(bad)?;
        let (rank, world): (usize, usize) =
            (r.trim().parse().map_err(|_| bad())?, w.trim().parse().map_err(|_| bad())?);
        if world == 0 || rank >= world {
            return Err(bad());
        }
        Ok(Shard { rank, world, dim })
    }

    /// `auto`: rank and world size from the launcher's environment: torchrun's
    /// `RANK`/`WORLD_SIZE`, Slurm's `SLURM_PROCID`/`SLURM_NTASKS`, Open MPI's
    /// `OMPI_COMM_WORLD_RANK`/`OMPI_COMM_WORLD_SIZE` (`env` looks a variable up; pass
    /// `|k| std::env::var(k).ok()`). Several launchers may be set if they agree.
    ///
    /// ```
    /// let env = |k: &str| match k { "RANK" => Some("3".to_string()), "WORLD_SIZE" => Some("8".to_string()), _ => None };
    /// let shard = nninit::shard::Shard::from_env(env, 0)?;
    /// assert_eq!((shard.rank, shard.world), (3, 8));
    /// assert!(nninit::shard::Shard::from_env(|_| None, 0).is_err());
    /// # Ok::<(), nninit::Error>(())
    /// ```
    ///
    /// # Errors
    /// No launcher's variables set; one of a pair set without the other; a value that is not a
    /// number; launchers that disagree; `rank >= world` or `world == 0`.
    pub fn from_env(env: impl Fn(&str) -> Option<String>, dim: usize) -> Result<Shard> {
        const PAIRS: [(&str, &str); 3] = [
            ("RANK", "WORLD_SIZE"),
            ("SLURM_PROCID", "SLURM_NTASKS"),
            ("OMPI_COMM_WORLD_RANK", "OMPI_COMM_WORLD_SIZE"),
        ];
        let mut found: Option<(usize, usize, &str)> = None;
        for (r, w) in PAIRS {
            let (rank, world) = match (env(r), env(w)) {
                (None, None) => continue,
                (Some(rank), Some(world)) => (rank, world),
                (Some(_), None) => return Err(Error::value(format!("--shard auto: {r} is set but {w} is not"))),
                (None, Some(_)) => return Err(Error::value(format!("--shard auto: {w} is set but {r} is not"))),
            };
            let num = |k: &str, v: &str| {
                v.trim().parse::<usize>().map_err(|_| Error::value(format!("--shard auto: {k}={v} is not a number")))
            };
            let (rank, world) = (num(r, &rank)?, num(w, &world)?);
            match found {
                Some((fr, fw, name)) if (fr, fw) != (rank, world) => {
                    return Err(Error::value(format!(
                        "--shard auto: {r}/{w} give {rank}/{world} but {name} gives {fr}/{fw}"
                    )))
                }
                Some(_) => {}
                None => found = Some((rank, world, r)),
            }
        }
        let (rank, world, name) = found.ok_or_else(|| {
            Error::value("--shard auto: no launcher's rank is set (RANK/WORLD_SIZE, SLURM_PROCID/SLURM_NTASKS or OMPI_COMM_WORLD_RANK/OMPI_COMM_WORLD_SIZE)")
        })?;
        if world == 0 || rank >= world {
            return Err(Error::value(format!("--shard auto: {name} gives rank {rank} of world {world}")));
        }
        Ok(Shard { rank, world, dim })
    }

    /// The slice `[start, end)` of a dimension of `size`.
    pub fn range(&self, size: usize) -> (usize, usize) {
        let chunk = size.div_ceil(self.world);
        ((self.rank * chunk).min(size), ((self.rank + 1) * chunk).min(size))
    }

    /// The shape of this rank's slice of a tensor of `shape` (the same shape when it has
    /// `dim` or fewer dimensions).
    pub fn slice_shape(&self, shape: &[usize]) -> Vec<usize> {
        let mut s = shape.to_vec();
        if let Some(size) = s.get_mut(self.dim) {
            let (a, b) = self.range(*size);
            *size = b - a;
        }
        s
    }

    /// The elements of `[start, end)` (row-major, of a tensor of `shape`) that this rank keeps,
    /// as runs `(lo, hi, at)`: elements `[lo, hi)` go to element `at` of the slice. One run per
    /// index of the dimensions before `dim`; the whole range when the tensor is kept whole.
    pub fn runs(&self, shape: &[usize], start: usize, end: usize) -> Vec<(usize, usize, usize)> {
        if shape.len() <= self.dim {
            return vec![(start, end, start)];
        }
        let inner: usize = shape[self.dim + 1..].iter().product();
        let size = shape[self.dim];
        let (a, b) = self.range(size);
        let (stride, run) = (size * inner, (b - a) * inner);
        if stride == 0 || run == 0 {
            return Vec::new();
        }
        (start / stride..end.div_ceil(stride))
            .filter_map(|o| {
                let (lo, hi) = ((o * stride + a * inner).max(start), (o * stride + b * inner).min(end));
                (lo < hi).then(|| (lo, hi, o * run + lo - (o * stride + a * inner)))
            })
            .collect()
    }

    /// This rank's slice of `t` (see [`Shard::runs`]). Errors: a dtype narrower than a byte.
    pub fn slice(&self, t: &Tensor) -> Result<Tensor> {
        let bits = t.safetensors_dtype().bitsize();
        if !bits.is_multiple_of(8) {
            return Err(Error::value(format!("cannot slice {:?} elements", t.safetensors_dtype())));
        }
        let bytes = t.bytes();
        let mut out = Vec::new();
        for (lo, hi, _) in self.runs(t.shape(), 0, t.numel()) {
            out.extend_from_slice(&bytes[lo * bits / 8..hi * bits / 8]);
        }
        let shape = self.slice_shape(t.shape());
        match t.dtype() {
            Some(d) => Tensor::from_le_bytes(&shape, d, &out),
            None => Tensor::new(&shape, Data::Other { dtype: t.safetensors_dtype(), bytes: out }),
        }
    }
}
