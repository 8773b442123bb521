//! The report of a written checkpoint: per tensor, the init it got, fans, the expected std and the
//! measured statistics.

use std::collections::HashSet;

use crate::init::fan_in_and_fan_out;
use crate::nn::{Model, Origin, Provenance, TensorId};
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

/// How tensor `id` was initialized, in words: `default: kaiming_uniform_(...)`, the rule's
/// init, `keep_() (given values)`, `buffer`, or `-`; then each part initialized afterwards.
fn label(model: &Model, id: TensorId, is_buffer: bool) -> String {
    let provenance = model.provenance(id);
    let mut label = match provenance {
        _ if is_buffer => "buffer".to_string(),
        Some(Provenance { init: None, origin: Origin::Copied, .. }) => "copied".to_string(),
        Some(Provenance { init, origin: Origin::Grown { rows }, .. }) => match init {
            Some(init) => format!("copied rows 0..{rows}, new rows {init}"),
            None => format!("copied rows 0..{rows}, new rows mean_resizing"),
        },
        Some(Provenance { init: None, .. }) => "keep_() (given values)".to_string(),
        Some(Provenance { init: Some(init), origin: Origin::LayerDefault, .. }) => format!("default: {init}"),
        Some(Provenance { init: Some(init), .. }) => init.to_string(),
        None => "-".to_string(),
    };
    for part in provenance.map(|p| p.parts.as_slice()).unwrap_or_default() {
        let numel: usize = part.shape.iter().product();
        label.push_str(&format!(", then [{}:{}] {}", part.start, part.start + numel, part.init));
    }
    if let Some(p) = provenance.filter(|p| !p.zeroed_rows.is_empty()) {
        let rows: Vec<String> = p.zeroed_rows.iter().map(|r| r.to_string()).collect();
        label.push_str(&format!(", row {} zeroed", rows.join(", ")));
    }
    label
}

/// Each parameter's final init as compact JSON (`{"layer.0.weight": {"init": "...", "fan_in":
/// 784, "fan_out": 256}, ...}`), for a checkpoint's `nninit.inits` metadata: the checkpoint
/// says how it was made.
/// `unique` holds the `state_dict`'s tensors under their first names (a tensor's first name in
/// `state_dict` order is its first in `named_parameters` order: both visit modules in the same
/// order, parameters before buffers).
pub(crate) fn inits_json(model: &Model, unique: &[(String, TensorId)]) -> String {
    // Written directly, keys in byte order as a `serde_json::Map` orders them: a map of values
    // for 200,000 parameters would cost 20 times the text's size.
    let buffers: HashSet<TensorId> = model.named_buffers().into_iter().map(|(_, id)| id).collect();
    let mut params: Vec<&(String, TensorId)> = unique.iter().filter(|(_, id)| !buffers.contains(id)).collect();
    params.sort_unstable_by(|a, b| a.0.cmp(&b.0));
    let mut json = String::from("{");
    for (i, (name, id)) in params.into_iter().enumerate() {
        if i > 0 {
            json.push(',');
        }
        push_json_string(&mut json, name);
        json.push_str(":{");
        if let Ok((fan_in, fan_out)) = fan_in_and_fan_out(model.tensor(*id).shape()) {
            json.push_str(&format!("\"fan_in\":{fan_in},\"fan_out\":{fan_out},"));
        }
        json.push_str("\"init\":");
        push_json_string(&mut json, &label(model, *id, false));
        json.push('}');
    }
    json.push('}');
    json
}

/// Appends `s` as a JSON string, escaped as `serde_json` escapes it.
fn push_json_string(json: &mut String, s: &str) {
    json.push_str(&serde_json::Value::from(s).to_string());
}

/// `items` in order, their buffer shrinking as they are taken (a drained vector keeps its
/// whole buffer until the end): turning one per-tensor list into another holds about one
/// list, not two, for a model of many tensors.
pub(crate) fn consume<T>(mut items: Vec<T>) -> impl Iterator<Item = T> {
    items.reverse();
    std::iter::from_fn(move || {
        let item = items.pop();
        if items.len() % 16_384 == 0 {
            items.shrink_to_fit();
        }
        item
    })
}

/// The report rows of the written tensors; `ties` holds `(name, first name)` per tied name.
pub(crate) fn rows(model: &Model, written: Vec<Written>, ties: &[(String, String)]) -> Vec<Row> {
    let buffers: HashSet<TensorId> = model.named_buffers().into_iter().map(|(_, id)| id).collect();
    let mut rows = Vec::with_capacity(written.len());
    for w in consume(written) {
        let provenance = model.provenance(w.id);
        let is_buffer = buffers.contains(&w.id);
        let mut label = label(model, w.id, is_buffer);
        let tied: Vec<&str> = ties.iter().filter(|(_, f)| *f == w.name).map(|(n, _)| n.as_str()).collect();
        if !tied.is_empty() {
            label.push_str(&format!(" (tied: {})", tied.join(", ")));
        }
        let expected_std = provenance.filter(|_| !is_buffer).and_then(|p| p.init.as_ref()?.expected_std(&w.full_shape));
        rows.push(Row {
            name: w.name,
            shape: w.shape,
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

/// One parameter of a dry run (`nninit plan`): what the plan does to it, and what the values'
/// distribution will be, without drawing anything.
#[derive(Clone, Debug, serde::Serialize)]
pub struct PlanRow {
    /// `state_dict` key (the first name of a tied parameter).
    pub name: String,
    /// Shape.
    pub shape: Vec<usize>,
    /// dtype.
    pub dtype: String,
    /// The module's layer type (PyTorch class name).
    pub layer: String,
    /// The plan rules that matched it, in plan order (1-based, as `nninit plan` numbers them).
    pub rules: Vec<usize>,
    /// The init it ends with (as in the `init` report).
    pub init: String,
    /// `fan_in` (rank ≥ 2).
    pub fan_in: Option<usize>,
    /// `fan_out` (rank ≥ 2).
    pub fan_out: Option<usize>,
    /// `U(a, b)`, `N(mean, std)`, `constant v`, or the scheme for whole-tensor schemes.
    pub distribution: String,
    /// The bound of a symmetric uniform init.
    pub bound: Option<f64>,
    /// The effective gain, `expected_std · √fan_in` (not an init's `gain` argument): PyTorch's
    /// `gain` for fan_in-mode schemes (`kaiming_*` with `mode='fan_in'`, `lecun_*`) and for
    /// `xavier_*` on square weights; the same yardstick for every other scheme.
    pub effective_gain: Option<f64>,
    /// The mean the values aim at.
    pub expected_mean: Option<f64>,
    /// The standard deviation the values aim at ([`crate::init::Init::expected_std`]).
    pub expected_std: Option<f64>,
}

/// The dry-run rows of a model with its plan report: every parameter, in `named_parameters`
/// order, tied ones once.
pub fn plan_rows(model: &Model, report: &crate::plan::PlanReport) -> Vec<PlanRow> {
    use crate::init::Draw;
    let by_path: std::collections::HashMap<&str, &crate::plan::Applied> =
        report.applied.iter().map(|a| (a.path.as_str(), a)).collect();
    let mut seen = HashSet::new();
    let mut rows = Vec::new();
    for (name, id) in model.named_parameters() {
        if !seen.insert(id) {
            continue;
        }
        let t = model.tensor(id);
        let shape = t.shape().to_vec();
        let dtype = t.dtype().unwrap_or(DType::F32);
        let init = model.provenance(id).and_then(|p| p.init.clone());
        let (mut distribution, mut bound, mut expected_mean) = ("given values".to_string(), None, None);
        if let Some(init) = &init {
            (distribution, bound, expected_mean) = match init.draw(&shape, dtype) {
                Ok(Draw::Uniform { from, to }) => {
                    (format!("U({from:.6}, {to:.6})"), (from == -to).then_some(to), Some((from + to) / 2.0))
                }
                Ok(Draw::Normal { mean, std }) => (format!("N({mean}, {std:.6})"), None, Some(mean)),
                Ok(Draw::Fill(v)) => (format!("constant {v}"), None, Some(v)),
                Ok(Draw::Nothing) => ("empty".to_string(), None, None),
                Ok(Draw::Whole) => (init.name().to_string(), None, None),
                Err(e) => (format!("error: {e}"), None, None),
            };
        }
        let fans = fan_in_and_fan_out(&shape).ok();
        let expected_std = init.and_then(|i| i.expected_std(&shape));
        let gain =
            expected_std.zip(fans).filter(|(_, (fan_in, _))| *fan_in > 0).map(|(s, (i, _))| s * (i as f64).sqrt());
        let applied = by_path.get(name.as_str());
        rows.push(PlanRow {
            name: name.clone(),
            dtype: dtype.to_string(),
            layer: applied.map(|a| a.layer.clone()).unwrap_or_default(),
            rules: applied.map(|a| a.matched.iter().map(|i| i + 1).collect()).unwrap_or_default(),
            init: label(model, id, false),
            fan_in: fans.map(|f| f.0),
            fan_out: fans.map(|f| f.1),
            distribution,
            bound,
            effective_gain: gain,
            expected_mean,
            expected_std,
            shape,
        });
    }
    rows
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The text is what a `serde_json::Map` of the same entries serializes to: keys in byte
    /// order (`layer.10` before `layer.2`), `fan_in`, `fan_out`, `init` in each entry, and
    /// `serde_json`'s escaping.
    #[test]
    fn inits_json_is_the_text_of_a_serde_json_map() -> crate::Result<()> {
        let model = crate::arch::mlp(&[3; 13], DType::F32)?;
        let json = inits_json(&model, &crate::stream::unique_state_dict(&model).0);
        let parsed: serde_json::Value = serde_json::from_str(&json).map_err(|e| crate::Error::value(e.to_string()))?;
        assert_eq!(parsed.to_string(), json);
        let keys: Vec<&String> = parsed.as_object().map(|m| m.keys().collect()).unwrap_or_default();
        assert_eq!(keys.len(), 24);
        assert_eq!((keys[0].as_str(), keys[2].as_str()), ("layer.0.bias", "layer.10.bias"));
        assert_eq!(parsed["layer.0.weight"]["fan_in"], 3);
        assert!(json.starts_with(r#"{"layer.0.bias":{"init":"#), "{json}");
        for s in ["plain", "quote \" back \\ slash", "tab\t new\nline \u{1} é ☃"] {
            let mut pushed = String::new();
            push_json_string(&mut pushed, s);
            assert_eq!(pushed, serde_json::to_string(s).unwrap_or_default());
        }
        Ok(())
    }

    /// Every item, in order, across the shrinking points.
    #[test]
    fn consume_yields_every_item_in_order() {
        for n in [0, 1, 16_383, 16_384, 16_385, 40_000] {
            let items: Vec<usize> = (0..n).collect();
            assert_eq!(consume(items).collect::<Vec<_>>(), (0..n).collect::<Vec<_>>(), "{n}");
        }
    }
}
