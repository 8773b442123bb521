//! Init plans: ordered rules that choose an [`Init`] per parameter by layer type, name and role,
//! applied over a model in `apply` order; and the built-in presets.

mod preset;

pub use preset::{preset, PresetOptions, PRESETS};

use globset::{Glob, GlobMatcher};

use crate::error::{Error, Result};
use crate::init::Init;
use crate::nn::{Layer, Model, RnnMode, Role};

/// One or several strings (`layer = "Linear"` or `layer = ["BatchNorm2d", "GroupNorm"]`).
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(untagged)]
pub enum OneOrMany {
    /// A single value.
    One(String),
    /// Several values; any may match.
    Many(Vec<String>),
}

impl OneOrMany {
    fn items(&self) -> &[String] {
        match self {
            OneOrMany::One(s) => std::slice::from_ref(s),
            OneOrMany::Many(v) => v,
        }
    }
}

/// A rule: which parameters it matches, and the init it applies.
///
/// In TOML:
/// ```toml
/// [[rule]]
/// layer = "Conv2d"                 # PyTorch class name(s); globs allowed ("Conv*d", "BatchNorm*")
/// name = "*.weight"                # glob over the parameter's dotted path
/// role = "weight"                  # weight, bias, recurrent, embedding, norm_weight, norm_bias
/// init = "kaiming_normal_(mode='fan_out', nonlinearity='relu')"
/// ```
/// Every given criterion must match. `gate = "forget"` restricts the init to that gate's rows of
/// an LSTM/GRU parameter (and the rule to layers that have that gate) (gates are stacked along dim 0 in PyTorch's order: LSTM input, forget,
/// cell, output; GRU reset, update, new). `zero_padding = true` zeroes an Embedding's
/// `padding_idx` row after the init (PyTorch leaves a user init's value there).
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rule {
    /// Layer type name(s) or globs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub layer: Option<OneOrMany>,
    /// Glob(s) over the dotted parameter path.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<OneOrMany>,
    /// The parameter's role.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<Role>,
    /// The init to apply.
    pub init: Init,
    /// Only this gate's rows of a recurrent parameter.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gate: Option<String>,
    /// Re-zero an Embedding's padding row afterwards.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub zero_padding: bool,
}

impl Rule {
    /// A rule applying `init` to parameters of layer type `layer` with role `role`.
    pub fn new(layer: Option<&str>, role: Option<Role>, init: Init) -> Self {
        Rule { layer: layer.map(|l| OneOrMany::One(l.into())), name: None, role, init, gate: None, zero_padding: false }
    }
}

/// An ordered list of rules.
///
/// For each parameter, in `apply` order (children before parents, each module's parameters in
/// registration order): the **first** matching rule without a `gate` initializes the whole
/// tensor; then every matching `gate` rule re-initializes its gate's rows, in plan order.
/// Parameters no rule matches keep their value (their layer's default init). Buffers are never
/// touched.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Plan {
    /// The rules, in priority order.
    #[serde(default, rename = "rule")]
    pub rules: Vec<Rule>,
}

/// What a plan did to one parameter.
#[derive(Clone, Debug, PartialEq)]
pub struct Applied {
    /// Dotted path.
    pub path: String,
    /// The init that filled the whole tensor (`None`: kept the layer default).
    pub init: Option<Init>,
    /// The layer type name.
    pub layer: String,
}

struct Compiled {
    layer: Option<Vec<GlobMatcher>>,
    name: Option<Vec<GlobMatcher>>,
}

fn globs(v: &Option<OneOrMany>) -> Result<Option<Vec<GlobMatcher>>> {
    v.as_ref()
        .map(|v| {
            v.items()
                .iter()
                .map(|g| {
                    Glob::new(g)
                        .map(|g| g.compile_matcher())
                        .map_err(|e| Error::parse("glob", g.as_str(), e.to_string()))
                })
                .collect()
        })
        .transpose()
}

impl Plan {
    /// Parses a TOML plan (`[[rule]]` tables). Errors: [`Error::Parse`] with the TOML error on
    /// one line; unknown keys, roles or gates; bad globs.
    pub fn from_toml(text: &str) -> Result<Self> {
        Self::parse_named(text, "plan")
    }

    /// Reads and parses a TOML plan file; errors name the file.
    pub fn from_file(path: &std::path::Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        Self::parse_named(&text, &path.display().to_string())
    }

    fn parse_named(text: &str, name: &str) -> Result<Self> {
        let plan: Plan = toml::from_str(text).map_err(|e| {
            // toml's own message spans several lines (with a caret diagram): one line here.
            let msg = e.message().trim().replace('\n', " ");
            let line = e.span().map(|s| text[..s.start.min(text.len())].lines().count().max(1));
            Error::parse("plan", name, line.map_or(msg.clone(), |l| format!("line {l}: {msg}")))
        })?;
        for rule in &plan.rules {
            if let Some(gate) = &rule.gate {
                if ![RnnMode::Lstm, RnnMode::Gru].iter().any(|m| m.gate_index(gate).is_some()) {
                    return Err(Error::parse(
                        "plan",
                        name,
                        format!("unknown gate `{gate}` (LSTM: input, forget, cell, output; GRU: reset, update, new)"),
                    ));
                }
            }
        }
        plan.compile()?;
        Ok(plan)
    }

    /// The plan as TOML.
    pub fn to_toml(&self) -> String {
        toml::to_string(self).unwrap_or_default()
    }

    /// This plan's rules followed by `other`'s (so this plan's rules take precedence).
    pub fn then(mut self, other: Plan) -> Plan {
        self.rules.extend(other.rules);
        self
    }

    fn compile(&self) -> Result<Vec<Compiled>> {
        self.rules.iter().map(|r| Ok(Compiled { layer: globs(&r.layer)?, name: globs(&r.name)? })).collect()
    }

    /// Records the plan's inits on `model` (see [`Plan`] for the order); values are drawn when
    /// the model is materialized or saved.
    /// Returns, per parameter in `named_parameters` order of first visit, what was applied.
    ///
    /// # Errors
    /// A bad glob; an init's error, with the parameter's path and shape (e.g. `xavier_uniform_`
    /// matched to a bias: "layer.0.bias (shape `[64]`): Fan in and fan out can not be computed for
    /// tensor with fewer than 2 dimensions"); a `gate` on a layer without that gate.
    pub fn apply(&self, model: &mut Model) -> Result<Vec<Applied>> {
        // Recorded on a copy and kept only when every rule applied: a failed plan leaves the
        // model as it was.
        let mut staged = model.clone();
        let report = self.record(&mut staged)?;
        *model = staged;
        Ok(report)
    }

    fn record(&self, model: &mut Model) -> Result<Vec<Applied>> {
        let compiled = self.compile()?;
        let mut report: Vec<Applied> = Vec::new();
        let mut index: std::collections::HashMap<String, usize> = std::collections::HashMap::new();
        let mut gates_used = vec![false; self.rules.len()];
        model.apply(|mut m| {
            let layer = m.layer().clone();
            let type_name = layer.type_name();
            let slots: Vec<_> = m.slots().iter().filter(|s| !s.buffer).map(|s| (s.name.clone(), s.role)).collect();
            let module_path = if slots.is_empty() { String::new() } else { m.path() };
            for (name, role) in slots {
                let path = if module_path.is_empty() { name.clone() } else { format!("{module_path}.{name}") };
                let filters_match = |r: &Rule, c: &Compiled| {
                    c.layer.as_ref().is_none_or(|gs| gs.iter().any(|g| g.is_match(&type_name)))
                        && c.name.as_ref().is_none_or(|gs| gs.iter().any(|g| g.is_match(&path)))
                        && r.role.is_none_or(|want| want == role)
                };
                let recurrent = matches!(layer, Layer::Rnn { .. } | Layer::RnnCell { .. });
                let mut rules: Vec<&Rule> = Vec::new();
                for (i, (r, c)) in self.rules.iter().zip(&compiled).enumerate() {
                    if !filters_match(r, c) {
                        continue;
                    }
                    match r.gate.as_deref() {
                        None => rules.push(r),
                        Some(gate) if has_gate(&layer, gate) => {
                            gates_used[i] = true;
                            rules.push(r);
                        }
                        // A gate rule aimed at a recurrent layer that has no such gate.
                        Some(gate) if recurrent => {
                            return Err(Error::value(format!(
                                "{path}: {type_name} has no gate `{gate}` (LSTM: input, forget, cell, output; GRU: reset, update, new; RNN: none)"
                            )));
                        }
                        Some(_) => {}
                    }
                }
                let whole = rules.iter().find(|r| r.gate.is_none());
                if let Some(rule) = whole {
                    m.init(&name, &rule.init)?;
                    if let (true, Layer::Embedding { padding_idx: Some(p), .. }) = (rule.zero_padding, &layer) {
                        m.zero_row(&name, *p)?;
                    }
                }
                for rule in rules.iter().filter(|r| r.gate.is_some()) {
                    let gate = rule.gate.as_deref().unwrap_or_default();
                    let t = m.tensor(&name).ok_or_else(|| Error::value(format!("{path}: missing")))?;
                    let shape = t.shape().to_vec();
                    let rows = gate_rows(&layer, gate, &shape).map_err(|e| e.at(&path, &shape))?;
                    m.init_rows(&name, rows, &rule.init)?;
                }
                let entry = Applied { path, init: whole.map(|r| r.init.clone()), layer: type_name.clone() };
                match index.get(&entry.path) {
                    Some(&i) if entry.init.is_some() => report[i] = entry,
                    Some(_) => {}
                    None => {
                        index.insert(entry.path.clone(), report.len());
                        report.push(entry);
                    }
                }
            }
            Ok(())
        })?;
        if let Some(i) = gates_used.iter().zip(&self.rules).position(|(used, r)| r.gate.is_some() && !used) {
            let r = &self.rules[i];
            return Err(Error::value(format!(
                "rule {} (gate `{}`, init {}) matched no recurrent parameter of this model",
                i + 1,
                r.gate.as_deref().unwrap_or_default(),
                r.init
            )));
        }
        Ok(report)
    }
}

/// Whether `layer` is a recurrent layer with a gate named `gate`.
fn has_gate(layer: &Layer, gate: &str) -> bool {
    matches!(layer, Layer::Rnn { mode, .. } | Layer::RnnCell { mode, .. } if mode.gate_index(gate).is_some())
}

/// Rows `[k·H, (k+1)·H)` of a recurrent parameter of `shape`: gate `gate` (number `k`).
fn gate_rows(layer: &Layer, gate: &str, shape: &[usize]) -> Result<std::ops::Range<usize>> {
    let (mode, hidden) = match layer {
        Layer::Rnn { mode, hidden_size, .. } | Layer::RnnCell { mode, hidden_size, .. } => (*mode, *hidden_size),
        other => return Err(Error::value(format!("`gate` needs an RNN layer, got {}", other.type_name()))),
    };
    let k = mode.gate_index(gate).ok_or_else(|| Error::value(format!("{} has no gate `{gate}`", layer.type_name())))?;
    if shape.first() != Some(&(mode.gates() * hidden)) {
        return Err(Error::value(format!("shape {shape:?} is not gate-stacked (dim 0 ≠ {})", mode.gates() * hidden)));
    }
    Ok(k * hidden..(k + 1) * hidden)
}
