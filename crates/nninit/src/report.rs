//! The report of a written checkpoint: per tensor, the init it got, fans, the expected std and the
//! measured statistics.

use std::collections::HashSet;

use crate::init::fan_in_and_fan_out;
use crate::nn::{Model, Origin, TensorId};
use crate::stats::Stats;
use crate::tensor::DType;

/// One row of the report.
#[derive(Clone, Debug)]
pub struct Row {
    /// `state_dict` key.
    pub name: String,
    /// Shape.
    pub shape: Vec<usize>,
    /// dtype as written.
    pub dtype: String,
    /// The init (plan rule, layer default, `buffer`, or `tied to X`).
    pub init: String,
    /// Fans when the rank is ≥ 2.
    pub fans: Option<(usize, usize)>,
    /// The init's target std.
    pub expected_std: Option<f64>,
    /// Measured statistics (float tensors).
    pub stats: Option<Stats>,
}

/// A tensor as written: the input of [`rows`].
pub(crate) struct Written {
    /// `state_dict` key.
    pub name: String,
    /// The tensor.
    pub id: TensorId,
    /// The whole tensor's shape (fans and the expected std are those of the whole tensor, also
    /// for a shard).
    pub full_shape: Vec<usize>,
    /// The shape written.
    pub shape: Vec<usize>,
    /// The dtype written.
    pub dtype: safetensors::Dtype,
    /// Statistics of the values written.
    pub stats: Option<Stats>,
}

/// The report rows of the written tensors; `ties` holds `(name, first name)` per tied name.
pub(crate) fn rows(model: &Model, written: &[Written], ties: &[(String, String)]) -> Vec<Row> {
    let buffers: HashSet<TensorId> = model.named_buffers().into_iter().map(|(_, id)| id).collect();
    let mut rows = Vec::new();
    for w in written {
        let provenance = model.provenance(w.id);
        let is_buffer = buffers.contains(&w.id);
        let mut label = match provenance {
            _ if is_buffer => "buffer".to_string(),
            Some(p) if p.origin == Origin::LayerDefault => format!("default: {}", p.init),
            Some(p) => p.init.to_string(),
            None => "-".to_string(),
        };
        for part in provenance.map(|p| p.parts.as_slice()).unwrap_or_default() {
            let numel: usize = part.shape.iter().product();
            label.push_str(&format!(", then [{}:{}] {}", part.start, part.start + numel, part.init));
        }
        let tied: Vec<&str> = ties.iter().filter(|(_, f)| *f == w.name).map(|(n, _)| n.as_str()).collect();
        if !tied.is_empty() {
            label.push_str(&format!(" (tied: {})", tied.join(", ")));
        }
        let expected_std = provenance.filter(|_| !is_buffer).and_then(|p| p.init.expected_std(&w.full_shape));
        rows.push(Row {
            name: w.name.clone(),
            shape: w.shape.clone(),
            dtype: DType::from_safetensors(w.dtype)
                .map_or_else(|| format!("{:?}", w.dtype).to_lowercase(), |d| d.to_string()),
            init: label,
            fans: if is_buffer { None } else { fan_in_and_fan_out(&w.full_shape).ok() },
            expected_std,
            stats: w.stats,
        });
    }
    rows
}
