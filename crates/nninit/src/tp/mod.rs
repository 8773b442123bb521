//! Tensor-parallel plans: transformers' `base_model_tp_plan` (name globs → styles), read from a
//! config, a TOML `[tp_plan]` table or a JSON object, and resolved per tensor into one rank's
//! slice ([`resolve`]).
//!
//! A key names a module or a parameter, relative to the base model (`layers.*.self_attn.q_proj`,
//! as transformers' config classes write it) or in full (`model.layers.*.self_attn.q_proj`);
//! `*` stands for one name component (transformers writes it for a layer number). The styles and
//! what each cuts are in [`style`].

pub mod resolve;
pub mod style;

use std::path::Path;

use crate::error::{Error, Result};

pub use resolve::{TpShards, TpSlice};

/// A tensor-parallel plan: `(key, style)` rules, and where they come from (for messages).
#[derive(Clone, Debug, PartialEq)]
pub struct TpPlan {
    /// Where the plan comes from: a file, or a config's `model_type` (named in error messages).
    pub source: String,
    /// `(key, style)`, in the plan's order.
    pub rules: Vec<(String, String)>,
    /// Keys that may match no tensor (the embeddings and head [`TpPlan::for_config`] adds);
    /// any other key must match one.
    pub optional: Vec<String>,
}

/// The `base_model_tp_plan` of transformers 5.24's config class for `model_type`, for the model
/// types nninit builds from a config (`LlamaConfig.base_model_tp_plan`, ...); `None` for the
/// others (BERT, RoBERTa, GPT-2, T5, ViT have none).
pub fn base_model_tp_plan(model_type: &str) -> Option<Vec<(&'static str, &'static str)>> {
    const ATTENTION_MLP: [(&str, &str); 7] = [
        ("layers.*.self_attn.q_proj", "colwise"),
        ("layers.*.self_attn.k_proj", "colwise"),
        ("layers.*.self_attn.v_proj", "colwise"),
        ("layers.*.self_attn.o_proj", "rowwise"),
        ("layers.*.mlp.gate_proj", "colwise"),
        ("layers.*.mlp.up_proj", "colwise"),
        ("layers.*.mlp.down_proj", "rowwise"),
    ];
    Some(match model_type {
        "llama" | "mistral" | "qwen2" | "gemma" => ATTENTION_MLP.to_vec(),
        "qwen3" => {
            let mut plan = ATTENTION_MLP.to_vec();
            plan.insert(3, ("layers.*.self_attn.q_norm", "replicated_with_grad_allreduce"));
            plan.insert(4, ("layers.*.self_attn.k_norm", "replicated_with_grad_allreduce"));
            plan
        }
        "phi3" => vec![
            ("layers.*.self_attn.qkv_proj", "colwise_gather_output"),
            ("layers.*.self_attn.o_proj", "rowwise_split_input"),
            ("layers.*.mlp.gate_up_proj", "colwise_gather_output"),
            ("layers.*.mlp.down_proj", "rowwise_split_input"),
        ],
        "gpt_neox" => vec![
            ("embed_in", "embedding_rowwise"),
            ("layers.*.attention.query_key_value", "colwise"),
            ("layers.*.attention.dense", "rowwise"),
            ("layers.*.mlp.dense_h_to_4h", "colwise"),
            ("layers.*.mlp.dense_4h_to_h", "rowwise"),
        ],
        _ => return None,
    })
}

impl TpPlan {
    /// A plan from `(key, style)` pairs; each style is checked.
    ///
    /// # Errors
    /// An unknown style (naming the key and listing the known styles); an empty key.
    pub fn new(source: impl Into<String>, rules: Vec<(String, String)>) -> Result<TpPlan> {
        let source = source.into();
        for (key, style) in &rules {
            if key.is_empty() {
                return Err(Error::value(format!("{source}: an empty tp_plan key")));
            }
            style::cut(style).map_err(|e| Error::value(format!("{source}: tp_plan key `{key}`: {e}")))?;
        }
        Ok(TpPlan { source, rules, optional: Vec::new() })
    }

    /// The plan of a JSON object `{"key": "style", ...}`, or of a config holding one under
    /// `base_model_tp_plan`.
    ///
    /// ```
    /// let json = serde_json::json!({"layers.*.mlp.up_proj": "colwise", "layers.*.mlp.down_proj": "rowwise"});
    /// let plan = nninit::tp::TpPlan::from_json(&json, "plan.json")?;
    /// assert_eq!(plan.rules.len(), 2);
    /// assert!(nninit::tp::TpPlan::from_json(&serde_json::json!({"x": 1}), "plan.json").is_err());
    /// # Ok::<(), nninit::Error>(())
    /// ```
    ///
    /// # Errors
    /// Not an object; a style that is not a string or not known.
    pub fn from_json(value: &serde_json::Value, source: &str) -> Result<TpPlan> {
        let value = value.get("base_model_tp_plan").unwrap_or(value);
        let map = value
            .as_object()
            .ok_or_else(|| Error::value(format!("{source}: a tp plan is an object of \"key\": \"style\" entries")))?;
        TpPlan::new(source, string_styles(source, map.iter().map(|(k, v)| (k, v.as_str(), v)))?)
    }

    /// The plan of a TOML document's `[tp_plan]` table (`"layers.*.self_attn.q_proj" = "colwise"`).
    ///
    /// ```
    /// let toml = "[tp_plan]\n\"layers.*.self_attn.q_proj\" = \"colwise\"\n\"layers.*.self_attn.o_proj\" = \"rowwise\"\n";
    /// let plan = nninit::tp::TpPlan::parse_toml(toml, "tp.toml")?;
    /// assert_eq!(plan.rules.len(), 2);
    /// assert!(nninit::tp::TpPlan::parse_toml("[tp_plan]\nx = \"sideways\"\n", "tp.toml").is_err());
    /// # Ok::<(), nninit::Error>(())
    /// ```
    ///
    /// # Errors
    /// Malformed TOML; no `[tp_plan]` table; a style that is not a string or not known.
    pub fn parse_toml(text: &str, source: &str) -> Result<TpPlan> {
        let doc: toml::Table = text
            .parse()
            .map_err(|e: toml::de::Error| Error::parse("tp plan", source, e.message().replace('\n', " ")))?;
        let table = doc
            .get("tp_plan")
            .and_then(|t| t.as_table())
            .ok_or_else(|| Error::value(format!("{source}: no [tp_plan] table")))?;
        TpPlan::new(source, string_styles(source, table.iter().map(|(k, v)| (k, v.as_str(), v)))?)
    }

    /// The plan in the file `path`: a `.json` file ([`TpPlan::from_json`]) or TOML
    /// ([`TpPlan::parse_toml`]).
    ///
    /// # Errors
    /// An unreadable file; as [`TpPlan::from_json`] and [`TpPlan::parse_toml`].
    pub fn load(path: &Path) -> Result<TpPlan> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        let source = path.display().to_string();
        if path.extension().is_some_and(|e| e == "json") {
            let json = serde_json::from_str(&text).map_err(|e| Error::parse("tp plan", &source, e.to_string()))?;
            TpPlan::from_json(&json, &source)
        } else {
            TpPlan::parse_toml(&text, &source)
        }
    }

    /// The plan transformers applies to a model of `config` (`from_pretrained(...,
    /// tp_plan="auto")`): the config's own `base_model_tp_plan` when it has one, else its config
    /// class's ([`base_model_tp_plan`]); then, as transformers adds them, the input embeddings
    /// `embed_tokens` split by vocabulary (`embedding_rowwise`) unless the plan names them, and
    /// a causal-LM head `lm_head` by rows (`colwise_gather_output`). The two additions apply to a
    /// model that has them ([`resolve`] skips them otherwise).
    ///
    /// ```
    /// let config = serde_json::json!({"model_type": "llama"});
    /// let plan = nninit::tp::TpPlan::for_config(&config, "config.json")?;
    /// assert!(plan.rules.contains(&("layers.*.self_attn.q_proj".to_string(), "colwise".to_string())));
    /// assert!(plan.rules.contains(&("embed_tokens".to_string(), "embedding_rowwise".to_string())));
    /// assert!(nninit::tp::TpPlan::for_config(&serde_json::json!({"model_type": "bert"}), "config.json").is_err());
    /// # Ok::<(), nninit::Error>(())
    /// ```
    ///
    /// # Errors
    /// A config without a plan whose `model_type` has none in transformers.
    pub fn for_config(config: &serde_json::Value, source: &str) -> Result<TpPlan> {
        let mut plan = match config.get("base_model_tp_plan") {
            Some(p) => TpPlan::from_json(p, &format!("{source} (base_model_tp_plan)"))?,
            None => {
                let model_type = config.get("model_type").and_then(|v| v.as_str()).unwrap_or("");
                let rules = base_model_tp_plan(model_type).ok_or_else(|| {
                    Error::value(format!(
                        "{source}: transformers has no base_model_tp_plan for model_type `{model_type}`; give --tp-plan a TOML [tp_plan] table"
                    ))
                })?;
                let rules = rules.into_iter().map(|(k, s)| (k.to_string(), s.to_string())).collect();
                TpPlan::new(format!("{source} (the base_model_tp_plan of model_type {model_type})"), rules)?
            }
        };
        if !plan.rules.is_empty() && !plan.rules.iter().any(|(k, _)| k == "embed_tokens") {
            plan.rules.insert(0, ("embed_tokens".to_string(), "embedding_rowwise".to_string()));
            plan.optional.push("embed_tokens".to_string());
        }
        if !plan.rules.iter().any(|(k, _)| k == "lm_head") {
            plan.rules.push(("lm_head".to_string(), "colwise_gather_output".to_string()));
            plan.optional.push("lm_head".to_string());
        }
        Ok(plan)
    }
}

/// A plan's `(key, style)` entries, each style a string (`entries`: key, the style as a string if
/// it is one, the value as written).
fn string_styles<'a, V: std::fmt::Display + 'a>(
    source: &str,
    entries: impl Iterator<Item = (&'a String, Option<&'a str>, &'a V)>,
) -> Result<Vec<(String, String)>> {
    entries
        .map(|(k, style, v)| match style {
            Some(s) => Ok((k.clone(), s.to_string())),
            None => Err(Error::value(format!("{source}: tp_plan key `{k}`: the style {v} is not a string"))),
        })
        .collect()
}
