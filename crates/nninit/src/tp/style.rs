//! Transformers' tensor-parallel styles: which dimension of a parameter each one splits.
//!
//! The styles are those transformers 5.24 registers in `ALL_PARALLEL_STYLES`
//! (`transformers/distributed/tensor_parallel.py`), with the placement each one's `shard_param`
//! gives a parameter: `ColwiseParallel` → `Shard(ndim − 2)` (a Linear weight `[out, in]` by rows;
//! a bias by its one dimension), `RowwiseParallel` → `Shard(−1)` for the weight (columns) and
//! `Replicate()` for the bias (added once after the all-reduce), `EmbeddingParallel(shard_dim)` →
//! `Shard(shard_dim)`; styles without `shard_param` keep their parameters whole.

use crate::error::{Error, Result};

/// How a style cuts the parameters of the module (or the parameter) it names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cut {
    /// `ColwiseParallel`: dimension `ndim − 2` (dimension 0 of a 1-D bias).
    Colwise,
    /// `RowwiseParallel`: the last dimension; a parameter named `bias` is kept whole.
    Rowwise,
    /// `EmbeddingParallel(shard_dim)`: this dimension.
    Dim(usize),
    /// Every rank holds the whole parameter.
    Whole,
    /// A strided slice (`_StridedShard`, packed gate/up weights): not a contiguous block, not
    /// supported.
    Strided,
}

/// Every style transformers 5.24 knows, with its cut.
pub const STYLES: &[(&str, Cut)] = &[
    ("colwise", Cut::Colwise),
    ("colwise_rep", Cut::Colwise),
    ("colwise_gather_output", Cut::Colwise),
    ("rowwise", Cut::Rowwise),
    ("rowwise_rep", Cut::Rowwise),
    ("rowwise_split_input", Cut::Rowwise),
    ("embedding_rowwise", Cut::Dim(0)),
    ("embedding_colwise", Cut::Dim(1)),
    ("replicate", Cut::Whole),
    ("sequence_parallel", Cut::Whole),
    ("replicated_with_grad_allreduce", Cut::Whole),
    ("all_reduce", Cut::Whole),
    ("mla_kv_a_proj", Cut::Whole),
    ("moe_tp_experts", Cut::Whole),
    ("moe_identity_expert", Cut::Whole),
    ("local_params", Cut::Whole),
    ("packed_colwise", Cut::Strided),
    ("packed_rowwise", Cut::Strided),
];

/// The cut of the style named `style`.
///
/// ```
/// use nninit::tp::style::{cut, Cut};
/// assert_eq!(cut("colwise")?, Cut::Colwise);
/// assert!(cut("colwize").unwrap_err().to_string().contains("known styles: colwise, colwise_rep"));
/// # Ok::<(), nninit::Error>(())
/// ```
///
/// # Errors
/// An unknown style, listing the known ones.
pub fn cut(style: &str) -> Result<Cut> {
    STYLES.iter().find(|(name, _)| *name == style).map(|(_, c)| *c).ok_or_else(|| {
        let known: Vec<&str> = STYLES.iter().map(|(n, _)| *n).collect();
        Error::value(format!("unknown tensor-parallel style `{style}`; known styles: {}", known.join(", ")))
    })
}

/// The dimension that `style` splits in the parameter `name` (a `state_dict` name, whose last
/// component is the parameter's own name, e.g. `bias`) of `shape`; `None` when it is kept
/// whole (a whole-keeping style, a row-wise bias, a scalar).
///
/// ```
/// use nninit::tp::style::split_dim;
/// assert_eq!(split_dim("colwise", "q_proj.weight", &[64, 32])?, Some(0));
/// assert_eq!(split_dim("colwise", "q_proj.bias", &[64])?, Some(0));
/// assert_eq!(split_dim("rowwise", "o_proj.weight", &[32, 64])?, Some(1));
/// assert_eq!(split_dim("rowwise", "o_proj.bias", &[32])?, None);
/// assert_eq!(split_dim("replicate", "norm.weight", &[32])?, None);
/// # Ok::<(), nninit::Error>(())
/// ```
///
/// # Errors
/// An unknown style; a strided style (`packed_colwise`, `packed_rowwise`); an embedding style
/// whose dimension the parameter lacks.
pub fn split_dim(style: &str, name: &str, shape: &[usize]) -> Result<Option<usize>> {
    let ndim = shape.len();
    let is_bias = name.rsplit('.').next() == Some("bias");
    Ok(match cut(style)? {
        _ if ndim == 0 => None,
        Cut::Colwise => Some(ndim.saturating_sub(2)),
        Cut::Rowwise if is_bias => None,
        Cut::Rowwise => Some(ndim - 1),
        Cut::Dim(d) if d < ndim => Some(d),
        Cut::Dim(d) => {
            return Err(Error::value(format!(
                "tensor `{name}` {shape:?}: style `{style}` splits dimension {d}, which it lacks"
            )))
        }
        Cut::Whole => None,
        Cut::Strided => {
            return Err(Error::value(format!(
            "tensor `{name}`: style `{style}` gives each rank a strided slice (packed weights), which is not supported"
        )))
        }
    })
}
