//! `nn.Embedding` (`torch/nn/modules/sparse.py`).
//!
//! Signature: `(num_embeddings, embedding_dim, padding_idx=None, max_norm=None, norm_type=2.0,
//! scale_grad_by_freq=False, sparse=False)`. Parameter: weight `(num_embeddings, embedding_dim)`,
//! default init `normal_(0, 1)`, then the `padding_idx` row set to zero
//! ([`Layer::padding_row`]). `padding_idx` may be negative (counted from the end) and is stored
//! normalized. Error: a `padding_idx` outside `[-num_embeddings, num_embeddings)` ("Padding_idx
//! must be within num_embeddings").

use super::{each, param, Family};
use crate::error::{Error, Result};
use crate::init::Init;
use crate::nn::{Layer, Role, Slot};
use crate::pycall::Call;

/// The embedding family.
pub(crate) struct Embeddings;

const PARAMS: [&str; 7] =
    ["num_embeddings", "embedding_dim", "padding_idx", "max_norm", "norm_type", "scale_grad_by_freq", "sparse"];

impl Family for Embeddings {
    fn classes(&self) -> &'static str {
        "Embedding"
    }

    fn parse(&self, call: &Call) -> Option<Result<Layer>> {
        if call.name != "Embedding" {
            return None;
        }
        Some(call.bind("layer", &PARAMS).and_then(|a| {
            let num = a.usize("num_embeddings", None)?;
            Ok(Layer::Embedding {
                num_embeddings: num,
                embedding_dim: a.usize("embedding_dim", None)?,
                padding_idx: normalize_padding_idx(a.opt_i64("padding_idx")?, num)?,
            })
        }))
    }

    fn validate(&self, layer: &Layer) -> Result<()> {
        match layer {
            Layer::Embedding { num_embeddings, padding_idx: Some(p), .. } if p >= num_embeddings => {
                Err(Error::value("Padding_idx must be within num_embeddings"))
            }
            _ => Ok(()),
        }
    }

    fn slots(&self, layer: &Layer) -> Vec<Slot> {
        match layer {
            Layer::Embedding { num_embeddings, embedding_dim, .. } => {
                vec![param("weight", vec![*num_embeddings, *embedding_dim], Role::Embedding)]
            }
            _ => Vec::new(),
        }
    }

    fn reset_inits(&self, layer: &Layer) -> Vec<(String, Init)> {
        each(&self.slots(layer), |_| Some(Init::Normal { mean: 0.0, std: 1.0 }))
    }
}

/// PyTorch's `padding_idx` rule: must lie in `[-num, num)`; negative values count from the end.
pub(crate) fn normalize_padding_idx(p: Option<i64>, num: usize) -> Result<Option<usize>> {
    match p {
        None => Ok(None),
        Some(p) if p >= 0 && (p as usize) < num => Ok(Some(p as usize)),
        Some(p) if p < 0 && p.unsigned_abs() as usize <= num => Ok(Some(num - p.unsigned_abs() as usize)),
        Some(_) => Err(Error::value("Padding_idx must be within num_embeddings")),
    }
}
