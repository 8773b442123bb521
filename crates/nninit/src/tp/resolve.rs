//! One rank's slice of each tensor under a tensor-parallel plan: the key that names the tensor,
//! its style's dimension ([`super::style::split_dim`]) and the rank's block of it.
//!
//! A tensor `model.layers.0.mlp.up_proj.weight` is named by a key that matches the parameter
//! (`model.layers.*.mlp.up_proj.weight`) or its module (`model.layers.*.mlp.up_proj`), in full or
//! without the name's first component (the base model's prefix: `layers.*.mlp.up_proj`), as
//! transformers' `_get_parameter_plan` looks a parameter up; a key naming the parameter wins over
//! one naming its module. Tensors no key names are kept whole on every rank.

use std::collections::BTreeMap;

use globset::{GlobBuilder, GlobMatcher};

use super::{style, TpPlan};
use crate::error::{Error, Result};
use crate::shard::Shard;

/// One tensor's slice on this rank.
#[derive(Clone, Debug, PartialEq)]
pub struct TpSlice {
    /// The plan key that names the tensor.
    pub key: String,
    /// Its style.
    pub style: String,
    /// The whole tensor's shape.
    pub shape: Vec<usize>,
    /// The rank's block: `shape[dim] / world` entries along `dim` from `rank · shape[dim] / world`.
    pub shard: Shard,
}

impl TpSlice {
    /// Where the slice starts in the whole tensor, per dimension (0 except along the split one).
    pub fn offsets(&self) -> Vec<usize> {
        let mut offsets = vec![0; self.shape.len()];
        offsets[self.shard.dim] = self.shard.range(self.shape[self.shard.dim]).0;
        offsets
    }
}

/// A plan resolved for one rank: each split tensor's slice; the rest is kept whole.
#[derive(Clone, Debug, PartialEq)]
pub struct TpShards {
    /// This rank.
    pub rank: usize,
    /// Number of ranks.
    pub world: usize,
    /// Where the plan comes from.
    pub source: String,
    /// The plan's `(key, style)` rules.
    pub rules: Vec<(String, String)>,
    /// The split tensors, by `state_dict` name.
    pub slices: BTreeMap<String, TpSlice>,
    /// Tensors no key names (kept whole on every rank), in `state_dict` order.
    pub unnamed: Vec<String>,
}

/// A key as a glob over dotted names: `*` is one name component.
fn matcher(key: &str, source: &str) -> Result<GlobMatcher> {
    GlobBuilder::new(&key.replace('.', "/"))
        .literal_separator(true)
        .build()
        .map(|g| g.compile_matcher())
        .map_err(|e| Error::value(format!("{source}: tp_plan key `{key}`: {e}")))
}

/// `name` and `name` without its first component (the base model's prefix), as paths.
fn forms(name: &str) -> Vec<String> {
    let mut v = vec![name.replace('.', "/")];
    if let Some((_, rest)) = name.split_once('.') {
        v.push(rest.replace('.', "/"));
    }
    v
}

/// The rule that names `name`: the keys matching the parameter, else those matching its
/// module (every matching key is marked used). Errors: two keys of different styles.
fn rule_of<'a>(
    plan: &'a TpPlan,
    globs: &[GlobMatcher],
    name: &str,
    used: &mut [bool],
) -> Result<Option<&'a (String, String)>> {
    let module = name.rsplit_once('.').map(|(m, _)| m);
    let mut found = None;
    for level in [Some(name), module].into_iter().flatten() {
        let forms = forms(level);
        let hits: Vec<usize> = (0..globs.len()).filter(|&i| forms.iter().any(|f| globs[i].is_match(f))).collect();
        for &i in &hits {
            used[i] = true;
        }
        let Some(&first) = hits.first() else { continue };
        if found.is_some() {
            continue;
        }
        if let Some(&other) = hits.iter().find(|&&i| plan.rules[i].1 != plan.rules[first].1) {
            let (a, b) = (&plan.rules[first], &plan.rules[other]);
            return Err(Error::value(format!(
                "{}: tensor `{name}` is named by tp_plan keys `{}` ({}) and `{}` ({})",
                plan.source, a.0, a.1, b.0, b.1
            )));
        }
        found = Some(&plan.rules[first]);
    }
    Ok(found)
}

/// Resolves `plan` for rank `rank` of `world` over a model's tensors (`(state_dict name,
/// shape)`, every name of a tied tensor included).
///
/// ```
/// use nninit::tp::{resolve::resolve, TpPlan};
/// let plan = TpPlan::new("plan", vec![
///     ("layers.*.q_proj".into(), "colwise".into()),
///     ("layers.*.o_proj".into(), "rowwise".into()),
/// ])?;
/// let tensors = vec![
///     ("model.layers.0.q_proj.weight".to_string(), vec![8, 4]),
///     ("model.layers.0.q_proj.bias".to_string(), vec![8]),
///     ("model.layers.0.o_proj.weight".to_string(), vec![4, 8]),
///     ("model.layers.0.o_proj.bias".to_string(), vec![4]),
///     ("model.norm.weight".to_string(), vec![4]),
/// ];
/// let shards = resolve(&plan, &tensors, 1, 2)?;
/// let q = &shards.slices["model.layers.0.q_proj.weight"];
/// assert_eq!((q.shard.dim, q.offsets()), (0, vec![4, 0]));
/// assert_eq!(shards.slices["model.layers.0.q_proj.bias"].offsets(), vec![4]);
/// assert_eq!(shards.slices["model.layers.0.o_proj.weight"].offsets(), vec![0, 4]);
/// assert!(!shards.slices.contains_key("model.layers.0.o_proj.bias")); // a row-wise bias is whole
/// assert_eq!(shards.unnamed, ["model.norm.weight"]);
/// // Three ranks cannot share 8 rows evenly.
/// assert!(resolve(&plan, &tensors, 0, 3).is_err());
/// # Ok::<(), nninit::Error>(())
/// ```
///
/// # Errors
/// A key that names no tensor (other than [`TpPlan::optional`] ones); a tensor named by two keys
/// of different styles; a split dimension that does not divide by `world`; a style that cannot
/// cut the tensor ([`style::split_dim`]); `world == 0` or `rank >= world`. Each names the plan's
/// source and the key or tensor.
pub fn resolve(plan: &TpPlan, tensors: &[(String, Vec<usize>)], rank: usize, world: usize) -> Result<TpShards> {
    if world == 0 || rank >= world {
        return Err(Error::value(format!("tensor parallelism: rank {rank} of world {world}")));
    }
    let globs = plan.rules.iter().map(|(k, _)| matcher(k, &plan.source)).collect::<Result<Vec<_>>>()?;
    let mut used = vec![false; globs.len()];
    let mut slices = BTreeMap::new();
    let mut unnamed = Vec::new();
    for (name, shape) in tensors {
        let Some((key, style)) = rule_of(plan, &globs, name, &mut used)? else {
            unnamed.push(name.clone());
            continue;
        };
        let in_plan = |e: Error| Error::value(format!("{}: tp_plan key `{key}`: {e}", plan.source));
        let Some(dim) = style::split_dim(style, name, shape).map_err(in_plan)? else { continue };
        if shape[dim] % world != 0 {
            return Err(Error::value(format!(
                "{}: tensor `{name}` {shape:?} (tp_plan key `{key}`, {style}): dimension {dim} of size {} does not divide by the world size {world}",
                plan.source, shape[dim]
            )));
        }
        let slice =
            TpSlice { key: key.clone(), style: style.clone(), shape: shape.clone(), shard: Shard { rank, world, dim } };
        slices.insert(name.clone(), slice);
    }
    if let Some(i) = (0..globs.len()).find(|&i| !used[i] && !plan.optional.contains(&plan.rules[i].0)) {
        let example = tensors.iter().map(|(n, _)| n.as_str()).find(|n| n.matches('.').count() >= 3);
        return Err(Error::value(format!(
            "{}: tp_plan key `{}` names no tensor of the model{}",
            plan.source,
            plan.rules[i].0,
            example.map_or(String::new(), |e| format!(" (its tensors are named like `{e}`)"))
        )));
    }
    let rules = plan.rules.clone();
    Ok(TpShards { rank, world, source: plan.source.clone(), rules, slices, unnamed })
}

impl TpShards {
    /// The slice kept of the tensor written under `name`; `None` when it is kept whole.
    pub fn shard_of(&self, name: &str) -> Option<Shard> {
        self.slices.get(name).map(|s| s.shard)
    }

    /// Refuses a plan that splits attention (a tensor under a module named `*attn*` or
    /// `*attention*`) when `config`'s `num_attention_heads`, `num_key_value_heads` or `n_head`
    /// does not divide by the world size: each rank must hold whole heads (grouped-query
    /// attention's key/value heads included).
    ///
    /// ```
    /// use nninit::tp::{resolve::resolve, TpPlan};
    /// let plan = TpPlan::new("plan", vec![("layers.*.self_attn.k_proj".into(), "colwise".into())])?;
    /// let tensors = vec![("model.layers.0.self_attn.k_proj.weight".to_string(), vec![16, 32])];
    /// let config = serde_json::json!({"num_attention_heads": 4, "num_key_value_heads": 2});
    /// assert!(resolve(&plan, &tensors, 0, 2)?.check_heads(&config, "config.json").is_ok());
    /// let err = resolve(&plan, &tensors, 0, 4)?.check_heads(&config, "config.json").unwrap_err();
    /// assert!(err.to_string().contains("num_key_value_heads = 2"));
    /// # Ok::<(), nninit::Error>(())
    /// ```
    ///
    /// # Errors
    /// A heads count that does not divide by the world size, naming the config key.
    pub fn check_heads(&self, config: &serde_json::Value, source: &str) -> Result<()> {
        let attention = |n: &str| n.split('.').any(|c| c.contains("attn") || c.contains("attention"));
        let Some(name) = self.slices.keys().find(|n| attention(n)) else { return Ok(()) };
        for key in ["num_attention_heads", "num_key_value_heads", "n_head"] {
            if let Some(heads) = config.get(key).and_then(|v| v.as_u64()) {
                if heads % self.world as u64 != 0 {
                    return Err(Error::value(format!(
                        "{source}: {key} = {heads} does not divide by the world size {}: each rank must hold whole attention heads (the plan splits `{name}`)",
                        self.world
                    )));
                }
            }
        }
        Ok(())
    }

    /// A line for the user when some tensors are named by no key (transformers warns "The
    /// following layers were not sharded").
    pub fn warning(&self) -> Option<String> {
        let n = self.unnamed.len();
        (n > 0).then(|| {
            let shown: Vec<&str> = self.unnamed.iter().take(4).map(String::as_str).collect();
            format!(
                "tp plan: {n} tensor(s) named by no key are kept whole on every rank: {}{}",
                shown.join(", "),
                if n > 4 { ", ..." } else { "" }
            )
        })
    }

    /// The checkpoint's `__metadata__` entries: `nninit.shard` = `RANK/WORLD tp`, `nninit.tp_plan`
    /// = the plan as a JSON object (key → style), and `nninit.slices` = a JSON object giving each
    /// split tensor of `written` (the names written) its `style`, whole `shape` and `offsets`
    /// (where the slice starts along each dimension); tensors absent from it are whole.
    pub fn metadata(&self, written: &[&str]) -> BTreeMap<String, String> {
        let plan: serde_json::Map<String, serde_json::Value> =
            self.rules.iter().map(|(k, s)| (k.clone(), s.clone().into())).collect();
        let slices: serde_json::Map<String, serde_json::Value> = written
            .iter()
            .filter_map(|n| self.slices.get(*n).map(|s| (n, s)))
            .map(|(n, s)| {
                let entry = serde_json::json!({"style": s.style, "shape": s.shape, "offsets": s.offsets()});
                (n.to_string(), entry)
            })
            .collect();
        BTreeMap::from([
            ("nninit.shard".to_string(), format!("{}/{} tp", self.rank, self.world)),
            ("nninit.tp_plan".to_string(), serde_json::Value::Object(plan).to_string()),
            ("nninit.slices".to_string(), serde_json::Value::Object(slices).to_string()),
        ])
    }
}
