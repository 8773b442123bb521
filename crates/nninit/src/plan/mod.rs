//! Init plans: ordered rules that choose an [`Init`] per parameter by layer type, name, role and
//! block index, with arguments that may be expressions over the model's variables; applied over
//! a model in `apply` order; and the built-in presets.

mod expr;
mod preset;
mod suggest;
mod template;
mod vars;

pub use expr::{Expr, Op};
pub use preset::{preset, PresetOptions, PRESETS};
pub use template::{RuleInit, Template};
pub use vars::{config_vars, layer_index, with_plan_vars, VarValue};

use std::collections::{BTreeMap, HashMap};
use std::fmt;

use globset::{Glob, GlobMatcher};

use crate::error::{Error, Result};
use crate::init::Init;
use crate::nn::{Layer, Model, RnnMode, Role};

/// One or several strings (`layer = "Linear"` or `layer = ["BatchNorm2d", "GroupNorm"]`).
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(untagged, expecting = "a string or a list of strings")]
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

/// Which blocks a rule applies to, by [`layer_index`]: one index (`layer_index = 3`), a list
/// (`[0, 11]`) or a half-open range (`"0..4"`, `"8.."`).
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(untagged, expecting = "a block index (0, 1, ...), a list of them, or a range such as \"0..4\"")]
pub enum IndexSet {
    /// One index.
    One(usize),
    /// Several indices.
    Many(Vec<usize>),
    /// `"a..b"` (b exclusive; either end may be left out).
    Range(String),
}

impl IndexSet {
    /// Refuses a set that can hold no index (`"5..2"`, `[]`): a rule with it could never apply.
    fn check(&self) -> Result<()> {
        self.contains(0)?;
        let empty = match self {
            IndexSet::One(_) => false,
            IndexSet::Many(v) => v.is_empty(),
            IndexSet::Range(r) => {
                let (a, b) = r.split_once("..").unwrap_or_default();
                let a = a.trim().parse::<usize>().unwrap_or(0);
                b.trim().parse::<usize>().is_ok_and(|b| b <= a)
            }
        };
        if empty {
            return Err(Error::parse(
                "layer_index",
                serde_json::to_string(self).unwrap_or_default(),
                "selects no index",
            ));
        }
        Ok(())
    }

    fn contains(&self, i: usize) -> Result<bool> {
        Ok(match self {
            IndexSet::One(j) => i == *j,
            IndexSet::Many(v) => v.contains(&i),
            IndexSet::Range(r) => {
                let bad = || Error::parse("layer_index", r.as_str(), "expected a range such as \"0..4\" or \"8..\"");
                let (a, b) = r.split_once("..").ok_or_else(bad)?;
                let bound = |s: &str, default: usize| -> Result<usize> {
                    if s.trim().is_empty() {
                        Ok(default)
                    } else {
                        s.trim().parse().map_err(|_| bad())
                    }
                };
                (bound(a, 0)?..bound(b, usize::MAX)?).contains(&i)
            }
        })
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
/// layer_index = "0..4"             # blocks 0-3 (the first number in the path: `layers.3.mlp`)
/// init = "normal_(0, 0.02 / sqrt(2 * n_layer))"   # arguments may read the model's variables
/// ```
/// Every given criterion must match. `gate = "forget"` restricts the init to that gate's rows of
/// an LSTM/GRU parameter (gates are stacked along dim 0 in PyTorch's order: LSTM input, forget,
/// cell, output; GRU reset, update, new); a layer without that gate is not matched.
/// `zero_padding = true` zeroes an Embedding's `padding_idx` row after the init (PyTorch leaves
/// a user init's value there). `init = "keep_()"` leaves the tensor's given values (a
/// checkpoint's, with `--like`).
///
/// Variables: those of the model's `config.json` ([`config_vars`]: every number, plus `n_layer`,
/// `d_model`, `n_head`, `n_kv_head`, `d_ff`, `vocab_size`, `initializer_range`), the plan's
/// `[vars]` (and μP's `width_mult = d_model / base_width`), and the parameter's own `fan_in`,
/// `fan_out` (a bias's are its module's `weight`'s), `numel`, `rows`, `layer_index`.
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
    /// The blocks it applies to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub layer_index: Option<IndexSet>,
    /// The init to apply.
    pub init: RuleInit,
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
        Rule {
            layer: layer.map(|l| OneOrMany::One(l.into())),
            name: None,
            role,
            layer_index: None,
            init: RuleInit::Init(init),
            gate: None,
            zero_padding: false,
        }
    }
}

impl fmt::Display for Rule {
    /// The rule's criteria and init, as in TOML (`layer = "Lineer", init = "zeros_()"`).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let show = |v: &OneOrMany| match v {
            OneOrMany::One(s) => format!("{s:?}"),
            OneOrMany::Many(v) => format!("{v:?}"),
        };
        let mut parts = Vec::new();
        if let Some(l) = &self.layer {
            parts.push(format!("layer = {}", show(l)));
        }
        if let Some(n) = &self.name {
            parts.push(format!("name = {}", show(n)));
        }
        if let Some(r) = &self.role {
            parts.push(format!(
                "role = {:?}",
                serde_json::to_value(r).ok().and_then(|v| v.as_str().map(String::from)).unwrap_or_default()
            ));
        }
        if let Some(i) = &self.layer_index {
            parts.push(format!("layer_index = {}", serde_json::to_string(i).unwrap_or_default()));
        }
        if let Some(g) = &self.gate {
            parts.push(format!("gate = {g:?}"));
        }
        parts.push(format!("init = {:?}", self.init.to_string()));
        f.write_str(&parts.join(", "))
    }
}

/// What to do with a user rule that selects no parameter.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Unmatched {
    /// Report it ([`PlanReport::unmatched`]) and go on: a plan reused across models (with and
    /// without LSTMs, say) must work.
    #[default]
    Warn,
    /// Fail (the command line's `--strict`).
    Error,
}

/// An ordered list of rules, and the plan's own variables.
///
/// For each parameter, in `apply` order (children before parents, each module's parameters in
/// registration order): the **first** matching rule without a `gate` initializes the whole
/// tensor; then every matching `gate` rule re-initializes its gate's rows, in plan order.
/// Parameters no rule matches keep their layer's default init. Buffers are never touched.
///
/// ```
/// use nninit::plan::Plan;
/// use nninit::rng::Stream;
/// let plan = Plan::from_toml(r#"
///     [vars]
///     n_layer = 2
///     [[rule]]
///     layer = "Linear"
///     role = "weight"
///     init = "normal_(0, 0.02 / sqrt(2 * n_layer))"
/// "#)?;
/// let mut model = nninit::arch::mlp(&[8, 4, 2], nninit::DType::F32)?;
/// let report = plan.apply(&mut model)?;
/// assert_eq!(report.applied[0].init.as_ref().unwrap().to_string(), "normal_(mean=0.0, std=0.01)");
/// assert!(report.unmatched.is_empty());
/// model.materialize(Stream::Torch, 0)?;
/// # Ok::<(), nninit::Error>(())
/// ```
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Plan {
    /// Variables the rules' expressions may read (numbers or expressions).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub vars: BTreeMap<String, VarValue>,
    /// The rules, in priority order.
    #[serde(default, rename = "rule")]
    pub rules: Vec<Rule>,
}

/// What a plan did to one parameter.
#[derive(Clone, Debug, PartialEq)]
pub struct Applied {
    /// Dotted path.
    pub path: String,
    /// The init that filled the whole tensor (`None`: the layer default, or `keep_()`); the
    /// allocation the model's events share.
    pub init: Option<std::sync::Arc<Init>>,
    /// The layer type name.
    pub layer: String,
    /// The rules (0-based indices into [`Plan::rules`]) that matched it, in plan order.
    pub matched: Vec<usize>,
}

/// A rule that selected no parameter, with the nearest real layer type or name.
#[derive(Clone, Debug, PartialEq)]
pub struct UnmatchedRule {
    /// 0-based index into [`Plan::rules`].
    pub index: usize,
    /// The rule as written.
    pub rule: String,
    /// Why, where it can be told: `did you mean ...?` for a misspelt layer type or name, or
    /// that the model has no layer with the rule's gate.
    pub hint: Option<String>,
}

impl fmt::Display for UnmatchedRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "rule {} ({}) selected no parameter", self.index + 1, self.rule)?;
        if let Some(h) = &self.hint {
            write!(f, "; {h}")?;
        }
        Ok(())
    }
}

/// What [`Plan::apply`] did.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct PlanReport {
    /// Per parameter, in `named_parameters` order of first visit.
    pub applied: Vec<Applied>,
    /// Rules that selected nothing.
    pub unmatched: Vec<UnmatchedRule>,
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
    /// Parses a TOML plan (`[[rule]]` tables, an optional `[vars]` table).
    ///
    /// # Errors
    /// [`Error::Parse`] with the TOML error on one line (with a hint for `[rule]` written for
    /// `[[rule]]` and for unquoted strings); unknown keys, roles or gates; bad globs, ranges or
    /// expressions.
    pub fn from_toml(text: &str) -> Result<Self> {
        Self::parse_named(text, "plan")
    }

    /// Reads and parses a TOML plan file; errors name the file.
    ///
    /// # Errors
    /// An unreadable file; as [`Plan::from_toml`].
    pub fn from_file(path: &std::path::Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        Self::parse_named(&text, &path.display().to_string())
    }

    fn parse_named(text: &str, name: &str) -> Result<Self> {
        let plan: Plan = toml::from_str(text).map_err(|e| {
            // toml's own message spans several lines (with a caret diagram): one line here.
            let mut msg = e.message().trim().replace('\n', " ");
            if msg.contains("invalid type: map, expected a sequence") {
                msg.push_str(" (rules are written [[rule]], with double brackets)");
            }
            if msg.contains("invalid string") || msg.contains("invalid floating-point number") {
                msg.push_str(" (strings, init calls and ranges are quoted: layer = \"Linear\", layer_index = \"1..\")");
            }
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
            if let Some(set) = &rule.layer_index {
                set.check()?;
            }
        }
        for (var, value) in &plan.vars {
            if vars::PER_PARAMETER.contains(&var.as_str()) {
                return Err(Error::parse(
                    "plan",
                    name,
                    format!("[vars] {var}: `{var}` is computed for each parameter and cannot be set"),
                ));
            }
            if let VarValue::Expr(src) = value {
                Expr::parse(src).map_err(|e| Error::parse("plan", name, format!("[vars] {var}: {e}")))?;
            }
        }
        plan.compile()?;
        Ok(plan)
    }

    /// The plan as TOML.
    pub fn to_toml(&self) -> String {
        toml::to_string(self).unwrap_or_default()
    }

    /// This plan's rules followed by `other`'s (so this plan's rules take precedence); the
    /// variables of both (this plan's win).
    pub fn then(mut self, other: Plan) -> Plan {
        self.rules.extend(other.rules);
        for (k, v) in other.vars {
            self.vars.entry(k).or_insert(v);
        }
        self
    }

    fn compile(&self) -> Result<Vec<Compiled>> {
        self.rules.iter().map(|r| Ok(Compiled { layer: globs(&r.layer)?, name: globs(&r.name)? })).collect()
    }

    /// Records the plan's inits on `model` (see [`Plan`] for the order), with no variables but
    /// the plan's own and each parameter's; values are drawn when the model is materialized or
    /// saved. A failed plan leaves the model as it was.
    ///
    /// # Errors
    /// As [`Plan::apply_with`].
    pub fn apply(&self, model: &mut Model) -> Result<PlanReport> {
        self.apply_with(model, &BTreeMap::new())
    }

    /// [`Plan::apply`] with the model's variables (e.g. [`config_vars`]).
    ///
    /// # Errors
    /// An init's error, with the parameter's path and shape (e.g. `xavier_uniform_` matched to a
    /// bias: "layer.0.bias (shape `[64]`): Fan in and fan out can not be computed for tensor with
    /// fewer than 2 dimensions"); an expression reading an unknown variable, naming the rule.
    pub fn apply_with(&self, model: &mut Model, vars: &BTreeMap<String, f64>) -> Result<PlanReport> {
        let vars = with_plan_vars(vars, &self.vars)?;
        // Kept only when every rule applied: recording changes only the model's events and
        // provenance, which are restored on an error.
        let mark = model.mark();
        match self.record(model, vars) {
            Ok(report) => {
                drop(mark);
                model.shrink_to_fit();
                Ok(report)
            }
            Err(e) => {
                model.rollback(mark);
                Err(e)
            }
        }
    }

    /// Rules (from index `first` on) that selected nothing, as errors under [`Unmatched::Error`].
    ///
    /// # Errors
    /// Under [`Unmatched::Error`], the first unmatched rule.
    pub fn check_unmatched(report: &PlanReport, mode: Unmatched) -> Result<()> {
        match (mode, report.unmatched.first()) {
            (Unmatched::Error, Some(u)) => Err(Error::value(u.to_string())),
            _ => Ok(()),
        }
    }

    fn record(&self, model: &mut Model, mut vars: BTreeMap<String, f64>) -> Result<PlanReport> {
        let compiled = self.compile()?;
        let mut applied: Vec<Applied> = Vec::new();
        let mut index: HashMap<String, usize> = HashMap::new();
        let mut selected = vec![false; self.rules.len()];
        model.apply(|mut m| {
            let layer = m.layer().clone();
            let type_name = layer.type_name();
            let slots: Vec<_> = m.slots().iter().filter(|s| !s.buffer).map(|s| (s.name.clone(), s.role)).collect();
            let module_path = if slots.is_empty() { String::new() } else { m.path() };
            for (name, role) in slots {
                let path = if module_path.is_empty() { name.clone() } else { format!("{module_path}.{name}") };
                let block = layer_index(&path);
                let mut matched: Vec<usize> = Vec::new();
                for (i, (r, c)) in self.rules.iter().zip(&compiled).enumerate() {
                    let hit = c.layer.as_ref().is_none_or(|gs| gs.iter().any(|g| g.is_match(&type_name)))
                        && c.name.as_ref().is_none_or(|gs| gs.iter().any(|g| g.is_match(&path)))
                        && r.role.is_none_or(|want| want == role)
                        && match (&r.layer_index, block) {
                            (None, _) => true,
                            (Some(set), Some(b)) => set.contains(b)?,
                            (Some(_), None) => false,
                        }
                        && r.gate.as_deref().is_none_or(|gate| has_gate(&layer, gate));
                    if hit {
                        selected[i] = true;
                        matched.push(i);
                    }
                }
                let shape = m.tensor(&name).map(|t| t.shape().to_vec()).unwrap_or_default();
                let whole = matched.iter().copied().find(|&i| self.rules[i].gate.is_none());
                let resolve = |i: usize, vars: &BTreeMap<String, f64>| {
                    self.rules[i]
                        .init
                        .resolve(vars)
                        .map_err(|e| Error::value(format!("rule {} ({}): {e}", i + 1, self.rules[i])).at(&path, &shape))
                };
                if matched.iter().any(|&i| !self.rules[i].init.variables().is_empty()) {
                    let weight = m.tensor("weight").map(|t| t.shape().to_vec());
                    vars::tensor_vars(&mut vars, &path, &shape, weight.as_deref());
                }
                let mut init_used = None;
                if let Some(i) = whole {
                    let rule = &self.rules[i];
                    match resolve(i, &vars)? {
                        Some(init) => {
                            let recorded = m.init_recorded(&name, &init)?;
                            init_used = Some(recorded.unwrap_or_else(|| std::sync::Arc::new(init)));
                        }
                        None => m.keep(&name)?,
                    }
                    if let (true, Layer::Embedding { padding_idx: Some(p), .. }) = (rule.zero_padding, &layer) {
                        m.zero_row(&name, *p)?;
                    }
                }
                for &i in matched.iter().filter(|&&i| self.rules[i].gate.is_some()) {
                    let gate = self.rules[i].gate.as_deref().unwrap_or_default();
                    let rows = gate_rows(&layer, gate, &shape).map_err(|e| e.at(&path, &shape))?;
                    let init = resolve(i, &vars)?
                        .ok_or_else(|| Error::value("keep_() cannot be a gate rule").at(&path, &shape))?;
                    m.init_rows(&name, rows, &init)?;
                }
                let entry = Applied { path, init: init_used, layer: type_name.clone(), matched };
                match index.get(&entry.path) {
                    Some(&i) if entry.init.is_some() => applied[i] = entry,
                    Some(_) => {}
                    None => {
                        index.insert(entry.path.clone(), applied.len());
                        applied.push(entry);
                    }
                }
            }
            Ok(())
        })?;
        let unmatched = selected
            .iter()
            .enumerate()
            .filter(|(_, hit)| !**hit)
            .map(|(i, _)| UnmatchedRule {
                index: i,
                rule: self.rules[i].to_string(),
                hint: suggest::hint(&self.rules[i], model),
            })
            .collect();
        Ok(PlanReport { applied, unmatched })
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
