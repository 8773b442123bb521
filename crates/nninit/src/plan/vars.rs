//! The variables plan expressions read: a model's configuration, the plan's own `[vars]`, and
//! each matched parameter's (`fan_in`, `fan_out`, `layer_index`, ...).

use std::collections::BTreeMap;

use super::expr::Expr;
use crate::error::{Error, Result};

/// The standard names, each with the configuration keys that mean it (first present wins).
const ALIASES: [(&str, &[&str]); 6] = [
    ("n_layer", &["num_hidden_layers", "n_layer", "num_layers", "n_layers"]),
    ("d_model", &["hidden_size", "n_embd", "d_model", "dim"]),
    ("n_head", &["num_attention_heads", "n_head", "num_heads"]),
    ("n_kv_head", &["num_key_value_heads", "num_attention_heads", "n_head"]),
    ("d_ff", &["intermediate_size", "n_inner", "ffn_dim", "d_ff", "dim_feedforward"]),
    ("vocab_size", &["vocab_size", "n_vocab"]),
];

/// Variables of a Hugging Face `config.json`: every top-level number under its own name, plus
/// the standard names `n_layer`, `d_model`, `n_head`, `n_kv_head`, `d_ff`, `vocab_size` (from
/// `num_hidden_layers`/`n_layer`, `hidden_size`/`n_embd`, ...), and `initializer_range`
/// (0.02 when absent, as transformers).
///
/// ```
/// let config = serde_json::json!({"n_layer": 12, "n_embd": 768, "initializer_range": 0.02});
/// let vars = nninit::plan::config_vars(&config);
/// assert_eq!((vars["n_layer"], vars["d_model"]), (12.0, 768.0));
/// ```
pub fn config_vars(config: &serde_json::Value) -> BTreeMap<String, f64> {
    let mut vars: BTreeMap<String, f64> = config
        .as_object()
        .map(|o| o.iter().filter_map(|(k, v)| Some((k.clone(), v.as_f64()?))).collect())
        .unwrap_or_default();
    for (name, keys) in ALIASES {
        if let Some(v) = keys.iter().find_map(|k| config.get(*k).and_then(|v| v.as_f64())) {
            vars.entry(name.to_string()).or_insert(v);
        }
    }
    vars.entry("initializer_range".into()).or_insert(0.02);
    vars
}

/// The variables computed for each parameter (a plan's `[vars]` cannot set them).
pub(crate) const PER_PARAMETER: [&str; 5] = ["fan_in", "fan_out", "numel", "rows", "layer_index"];

/// A plan's own variable: a number or an expression over other variables (it overrides a
/// configuration's variable of the same name).
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(untagged, expecting = "a number or an expression string such as \"d_model / 256\"")]
pub enum VarValue {
    /// A number.
    Num(f64),
    /// An expression, e.g. `"d_model / base_width"`.
    Expr(String),
}

/// `base` extended with the plan's `[vars]`, each evaluated once the variables it reads are
/// known (in any order), and `width_mult = d_model / base_width` when both are known and the
/// plan does not set it (μP's width multiplier).
///
/// # Errors
/// A bad expression; variables that depend on each other in a circle or on unknown names.
pub fn with_plan_vars(
    base: &BTreeMap<String, f64>,
    defs: &BTreeMap<String, VarValue>,
) -> Result<BTreeMap<String, f64>> {
    let mut vars = base.clone();
    let mut pending: Vec<(&String, Expr)> = Vec::new();
    for (name, value) in defs {
        match value {
            VarValue::Num(x) => {
                vars.insert(name.clone(), *x);
            }
            VarValue::Expr(src) => pending.push((name, Expr::parse(src)?)),
        }
    }
    while !pending.is_empty() {
        let before = pending.len();
        let mut rest = Vec::new();
        for (name, e) in pending {
            if e.variables().iter().all(|v| vars.contains_key(*v)) {
                let v = e.eval(&vars).map_err(|err| Error::value(format!("[vars] {name}: {err}")))?;
                vars.insert(name.clone(), v);
            } else {
                rest.push((name, e));
            }
        }
        if rest.len() == before {
            let (name, e) = &rest[0];
            let missing: Vec<&str> = e.variables().into_iter().filter(|v| !vars.contains_key(*v)).collect();
            return Err(Error::value(format!(
                "[vars] {name} = {e} reads {}, which no config, plan variable or other [vars] entry defines (or they depend on each other)",
                missing.join(", ")
            )));
        }
        pending = rest;
    }
    if let (Some(d), Some(b), false) = (vars.get("d_model"), vars.get("base_width"), vars.contains_key("width_mult")) {
        let m = d / b;
        vars.insert("width_mult".into(), m);
    }
    Ok(vars)
}

/// The first whole-number component of a dotted module path (`model.layers.3.mlp` → 3,
/// `h.0.attn` → 0): the index of the block a parameter belongs to.
pub fn layer_index(path: &str) -> Option<usize> {
    path.split('.').find_map(|p| p.parse().ok())
}

/// A parameter's own variables: `fan_in`, `fan_out` (of its shape when the rank is ≥ 2, else of
/// its module's `weight`, as PyTorch's default bias bound `1 / sqrt(fan_in)` reads them),
/// `numel`, `rows`, `layer_index` (when its path has one).
pub(crate) fn tensor_vars(vars: &mut BTreeMap<String, f64>, path: &str, shape: &[usize], weight: Option<&[usize]>) {
    for k in ["fan_in", "fan_out", "layer_index", "rows"] {
        vars.remove(k);
    }
    let fans =
        crate::init::fan_in_and_fan_out(shape).or_else(|e| weight.map_or(Err(e), crate::init::fan_in_and_fan_out));
    if let Ok((fan_in, fan_out)) = fans {
        vars.insert("fan_in".into(), fan_in as f64);
        vars.insert("fan_out".into(), fan_out as f64);
    }
    vars.insert("numel".into(), shape.iter().product::<usize>() as f64);
    if let Some(&rows) = shape.first() {
        vars.insert("rows".into(), rows as f64);
    }
    if let Some(i) = layer_index(path) {
        vars.insert("layer_index".into(), i as f64);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plan_vars_resolve_in_any_order_and_report_circles() {
        let base: BTreeMap<String, f64> = [("d_model".to_string(), 1024.0)].into_iter().collect();
        let defs: BTreeMap<String, VarValue> = [
            ("a".to_string(), VarValue::Expr("b * 2".into())),
            ("b".to_string(), VarValue::Expr("base_width / 64".into())),
            ("base_width".to_string(), VarValue::Num(256.0)),
        ]
        .into_iter()
        .collect();
        let vars = with_plan_vars(&base, &defs).unwrap();
        assert_eq!((vars["a"], vars["b"], vars["width_mult"]), (8.0, 4.0, 4.0));
        let circle: BTreeMap<String, VarValue> =
            [("x".to_string(), VarValue::Expr("y".into())), ("y".to_string(), VarValue::Expr("x + 1".into()))]
                .into_iter()
                .collect();
        let err = with_plan_vars(&base, &circle).unwrap_err().to_string();
        assert!(err.contains("[vars] x = y reads y"), "{err}");
        assert_eq!(layer_index("model.layers.11.self_attn.q_proj"), Some(11));
        assert_eq!(layer_index("lm_head"), None);
    }
}
