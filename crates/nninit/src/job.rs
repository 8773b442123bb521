//! The `nninit init` job as library calls: build a model from a source, apply a plan, report,
//! and save a safetensors checkpoint.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::arch::{self, like::LikeOptions};
use crate::error::{Error, Result};
use crate::io::{self, Overwrite};
use crate::nn::Model;
use crate::plan::{config_vars, preset, Plan, PlanReport, PresetOptions, Unmatched};
use crate::report::{self, Row};
use crate::rng::Stream;
use crate::shard::Shard;
use crate::stream::{self, SaveOptions};
use crate::tensor::DType;

/// Where the model comes from.
#[derive(Clone, Debug)]
pub enum Source {
    /// A built-in architecture ([`arch::ARCHS`]); `dims` for `mlp`.
    Arch {
        /// Architecture name.
        name: String,
        /// Layer sizes for `mlp`.
        dims: Vec<usize>,
    },
    /// A Hugging Face `config.json`.
    Config(PathBuf),
    /// The layout of an existing safetensors checkpoint.
    Like(PathBuf),
    /// The layout of an existing checkpoint, with its model's `config.json`: the config gives
    /// the padding rows (`pad_token_id`, see [`LikeOptions::pad_token_id`]), the plan's
    /// variables and the `bert` preset's `initializer_range`.
    LikeWithConfig {
        /// The checkpoint.
        checkpoint: PathBuf,
        /// Its `config.json`.
        config: PathBuf,
    },
}

impl Source {
    /// The default plan for this source: `seed` for the MLP (the seed network), `torch` (the
    /// model's own construction) otherwise.
    pub fn default_preset(&self) -> &'static str {
        match self {
            Source::Arch { name, .. } if name == "mlp" => "seed",
            _ => "torch",
        }
    }
}

/// What to run.
#[derive(Clone, Debug)]
pub struct InitJob {
    /// The model.
    pub source: Source,
    /// A built-in plan (default: [`Source::default_preset`]).
    pub preset: Option<String>,
    /// A user plan; its rules take precedence over the preset's.
    pub plan: Option<Plan>,
    /// `torch.manual_seed` value.
    pub seed: u64,
    /// dtype of generated tensors (default f32; for `--like`, the checkpoint's).
    pub dtype: Option<DType>,
    /// Which random stream the values come from.
    pub rng: Stream,
    /// Keep only one rank's slice of each tensor.
    pub shard: Option<Shard>,
    /// What a user rule that selects nothing does: a warning ([`Outcome::warnings`]) or an error.
    pub unmatched: Unmatched,
}

/// A built and initialized model.
pub struct Outcome {
    /// The model.
    pub model: Model,
    /// The preset used.
    pub preset: String,
    /// Per-tensor output dtype overrides (from `--like`).
    pub dtypes: BTreeMap<String, DType>,
    /// The slice to keep.
    pub shard: Option<Shard>,
    /// Metadata carried over from the source (`nninit.tied` of a `--like` checkpoint).
    pub carried: BTreeMap<String, String>,
    /// The stream the values are generated from.
    pub rng: Stream,
    /// The seed.
    pub seed: u64,
    /// The plan applied: the user's rules, then the preset's.
    pub plan: Plan,
    /// What the plan did, per parameter.
    pub report: PlanReport,
    /// Things the user should know (user rules that selected nothing, with the nearest name).
    pub warnings: Vec<String>,
}

/// The `config.json` at `path`, or in the folder `path`.
///
/// # Errors
/// A folder without `config.json`.
pub fn config_path(path: &Path) -> Result<PathBuf> {
    if path.is_dir() {
        let p = path.join(crate::folder::CONFIG);
        if !p.is_file() {
            return Err(Error::value(format!("{}: the folder holds no config.json", path.display())));
        }
        return Ok(p);
    }
    Ok(path.to_path_buf())
}

/// The JSON of the config at `path` ([`config_path`]).
///
/// # Errors
/// As [`config_path`]; an unreadable file; malformed JSON.
pub fn read_config(path: &Path) -> Result<serde_json::Value> {
    read_json(&config_path(path)?)
}

fn read_json(path: &Path) -> Result<serde_json::Value> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
    serde_json::from_str(&text).map_err(|e| Error::parse("config", path.display().to_string(), e.to_string()))
}

/// Reads a `config.json`: its `initializer_range` into `options`, its variables into `vars`.
fn load_config(
    path: &Path,
    options: &mut PresetOptions,
    vars: &mut BTreeMap<String, f64>,
) -> Result<serde_json::Value> {
    let config = read_config(path)?;
    if let Some(r) = config.get("initializer_range").and_then(|v| v.as_f64()) {
        options.initializer_range = r;
    }
    *vars = config_vars(&config);
    Ok(config)
}

/// Builds the model's recipe (construction, then the plan's rules: user plan first, then the
/// preset), drawing nothing: the values are generated when the outcome is saved
/// ([`Outcome::save`], chunk by chunk) or materialized ([`run_in_memory`]), from `job.seed` on
/// `job.rng`.
///
/// ```
/// use nninit::job::{self, InitJob, Source};
/// let job = InitJob {
///     source: Source::Arch { name: "mlp".into(), dims: vec![8, 4, 2] },
///     preset: None,
///     plan: None,
///     seed: 0,
///     dtype: None,
///     rng: nninit::rng::Stream::Torch,
///     shard: None,
///     unmatched: nninit::plan::Unmatched::Warn,
/// };
/// let outcome = job::run(&job)?;
/// assert_eq!(outcome.preset, "seed");
/// assert!(!outcome.model.is_materialized());
/// # Ok::<(), nninit::Error>(())
/// ```
///
/// # Errors
/// Unknown arch or preset; unreadable or malformed config or checkpoint; an init's error with
/// the parameter path and shape.
pub fn run(job: &InitJob) -> Result<Outcome> {
    let dtype = job.dtype.unwrap_or(DType::F32);
    let mut options = PresetOptions::default();
    let mut carried = BTreeMap::new();
    let mut vars = BTreeMap::new();
    let mut like_source: Option<io::Checkpoint> = None;
    let (mut model, dtypes) = match &job.source {
        Source::Arch { name, dims } => {
            if name == "mlp" {
                vars.insert("n_layer".to_string(), dims.len().saturating_sub(1) as f64);
            }
            (arch::build(name, dims, dtype)?, BTreeMap::new())
        }
        Source::Config(path) => {
            let config = load_config(path, &mut options, &mut vars)?;
            (arch::hf::from_config(&config, dtype)?, BTreeMap::new())
        }
        Source::Like(path) => {
            let (ckpt, layout) = open_like(path, None, job.dtype, &mut options, &mut vars)?;
            like_source = Some(ckpt);
            layout
        }
        Source::LikeWithConfig { checkpoint, config } => {
            let (ckpt, layout) = open_like(checkpoint, Some(config), job.dtype, &mut options, &mut vars)?;
            like_source = Some(ckpt);
            layout
        }
    };
    // Ties of a `--like` layout (tensors written once) stay recorded in the new checkpoint.
    if let Some(tied) = like_source.as_ref().and_then(|c| c.metadata().get("nninit.tied")) {
        carried.insert("nninit.tied".to_string(), tied.clone());
    }
    let preset_name = job.preset.clone().unwrap_or_else(|| job.source.default_preset().to_string());
    let user_rules = job.plan.as_ref().map_or(0, |p| p.rules.len());
    let plan = job.plan.clone().unwrap_or_default().then(preset(&preset_name, &options)?);
    // What each parameter got is recorded in the model's provenance, which the report reads.
    let mut report = plan.apply_with(&mut model, &vars)?;
    // Only the user's own rules are reported: a preset's rules for layers a model lacks are not
    // mistakes.
    report.unmatched.retain(|u| u.index < user_rules);
    Plan::check_unmatched(&report, job.unmatched)?;
    let warnings = report.unmatched.iter().map(|u| format!("plan: {u}")).collect();
    if let Some(shard) = job.shard {
        check_shard_dim(&model, shard)?;
    }
    if let Some(ckpt) = &like_source {
        require_initialized(&model)?;
        load_kept(&mut model, ckpt)?;
    }
    Ok(Outcome {
        model,
        preset: preset_name,
        dtypes,
        shard: job.shard,
        carried,
        rng: job.rng,
        seed: job.seed,
        plan,
        report,
        warnings,
    })
}

/// Where the tensors a model already has come from (`--from`).
#[derive(Clone, Debug)]
pub struct Base {
    /// A safetensors file or a model folder ([`crate::folder::Source`]).
    pub path: PathBuf,
    /// Tensors whose shape differs are initialized instead of refused (transformers'
    /// `ignore_mismatched_sizes`).
    pub ignore_mismatched_sizes: bool,
}

/// What [`run_from`] took from the base checkpoint.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Loaded {
    /// `(model name, checkpoint name)` of each tensor copied byte for byte.
    pub copied: Vec<(String, String)>,
    /// Tensors initialized by the plan because the checkpoint lacks them or holds another dtype.
    pub initialized: Vec<String>,
    /// Tensors initialized because their shape differs (with `ignore_mismatched_sizes`).
    pub mismatched: Vec<String>,
}

/// [`run`], then every tensor the base checkpoint holds (same name after the base-model prefix
/// mapping, same shape and dtype) copied byte for byte in place of its init, as
/// `from_pretrained` loads it: on PyTorch's stream only the other tensors' final inits draw, in
/// the model's order (transformers builds the model without drawing, then initializes the
/// missing weights once), so their values equal `torch.manual_seed(seed);
/// Model.from_pretrained(base)`'s. Names map as transformers maps them between a base model and a model with a head:
/// the checkpoint's names may lack the model's first prefix (`model.`, `transformer.`, `bert.`)
/// or carry one the model lacks.
///
/// # Errors
/// As [`run`]; an unreadable or unsafe base ([`crate::folder::Source::open`]); a base sharing no
/// tensor with the model; tensors whose shapes differ (listed), unless
/// `ignore_mismatched_sizes`.
pub fn run_from(job: &InitJob, base: &Base) -> Result<(Outcome, Loaded)> {
    let mut outcome = run(job)?;
    let loaded = load_base(&mut outcome.model, base)?;
    Ok((outcome, loaded))
}

/// How a model name maps to a checkpoint name.
#[derive(Clone, Debug, PartialEq)]
enum Mapping {
    Same,
    /// The checkpoint lacks the model's prefix `p.`.
    Strip(String),
    /// The checkpoint has the prefix `p.` the model lacks.
    Add(String),
}

impl Mapping {
    fn apply(&self, name: &str) -> Option<String> {
        match self {
            Mapping::Same => Some(name.to_string()),
            Mapping::Strip(p) => name.strip_prefix(p.as_str()).and_then(|n| n.strip_prefix('.')).map(str::to_string),
            Mapping::Add(p) => Some(format!("{p}.{name}")),
        }
    }
}

fn first_components<'a>(names: impl Iterator<Item = &'a str>) -> std::collections::BTreeSet<String> {
    names.filter_map(|n| n.split_once('.').map(|(a, _)| a.to_string())).collect()
}

/// Copies the base checkpoint's matching tensors into `model` ([`run_from`]).
fn load_base(model: &mut Model, base: &Base) -> Result<Loaded> {
    let source = crate::folder::Source::open(&base.path)?;
    let state = model.state_dict();
    let names: std::collections::HashSet<&str> = source.tensors().map(|(n, _)| n).collect();
    let mut candidates = vec![Mapping::Same];
    candidates.extend(first_components(state.iter().map(|(n, _)| n.as_str())).into_iter().map(Mapping::Strip));
    candidates.extend(first_components(names.iter().copied()).into_iter().map(Mapping::Add));
    let matches =
        |m: &Mapping| state.iter().filter(|(n, _)| m.apply(n).is_some_and(|c| names.contains(c.as_str()))).count();
    let best = candidates.iter().max_by_key(|m| matches(m)).cloned().unwrap_or(Mapping::Same);
    if matches(&best) == 0 {
        let show = |v: Vec<&str>| v.into_iter().take(3).collect::<Vec<_>>().join(", ");
        return Err(Error::value(format!(
            "{}: shares no tensor with the model, not a checkpoint of it (it holds {}, ...; the model has {}, ...)",
            base.path.display(),
            show(source.tensors().map(|(n, _)| n).collect()),
            show(state.iter().map(|(n, _)| n.as_str()).collect())
        )));
    }
    let mut loaded = Loaded::default();
    let mut done = std::collections::HashSet::new();
    let mut mismatched = Vec::new();
    for (name, id) in &state {
        if done.contains(id) {
            continue;
        }
        let ckpt_name = best.apply(name).filter(|c| names.contains(c.as_str()));
        let Some(ckpt_name) = ckpt_name else { continue };
        done.insert(*id);
        let info = source.info(&ckpt_name).ok_or_else(|| Error::value(format!("no tensor `{ckpt_name}`")))?;
        let t = model.tensor(*id);
        if info.shape != t.shape() {
            mismatched.push(format!("{name}: checkpoint {:?}, model {:?}", info.shape, t.shape()));
            loaded.mismatched.push(name.clone());
        } else if info.dtype != t.safetensors_dtype() {
            loaded.initialized.push(name.clone());
        } else {
            model.copy_from_checkpoint(*id, source.tensor(&ckpt_name)?).map_err(|e| e.at(name, &info.shape))?;
            loaded.copied.push((name.clone(), ckpt_name));
        }
    }
    // The model is built without drawing, and each missing weight initialized once.
    model.drop_superseded_inits();
    if !mismatched.is_empty() && !base.ignore_mismatched_sizes {
        return Err(Error::value(format!(
            "{}: {} tensor(s) of another shape: {}; use --ignore-mismatched-sizes to initialize them instead",
            base.path.display(),
            mismatched.len(),
            mismatched.join("; ")
        )));
    }
    for (name, id) in &state {
        if !done.contains(id) {
            done.insert(*id);
            loaded.initialized.push(name.clone());
        }
    }
    Ok(loaded)
}

/// [`run`], then every value drawn and held in memory ([`Model::materialize`]).
///
/// # Errors
/// As [`run`] and [`Model::materialize`].
pub fn run_in_memory(job: &InitJob) -> Result<Outcome> {
    let mut outcome = run(job)?;
    outcome.model.materialize(job.rng, job.seed)?;
    Ok(outcome)
}

/// The layout of checkpoint `path` ([`arch::like::like`]), with the padding rows, variables and
/// options of `config` when given; returns the open checkpoint too (for `keep_()`).
fn open_like(
    path: &Path,
    config: Option<&PathBuf>,
    dtype: Option<DType>,
    options: &mut PresetOptions,
    vars: &mut BTreeMap<String, f64>,
) -> Result<(io::Checkpoint, (Model, BTreeMap<String, DType>))> {
    let config = config.map(|c| load_config(c, options, vars)).transpose()?;
    let pad_token_id = config
        .as_ref()
        .and_then(|c| c.get("pad_token_id"))
        .and_then(|v| v.as_u64())
        .and_then(|p| usize::try_from(p).ok());
    let ckpt = io::Checkpoint::open(path)?;
    let layout = arch::like::like(ckpt.tensors(), &LikeOptions { dtype, pad_token_id }, |info| ckpt.tensor(info))?;
    Ok((ckpt, layout))
}

/// Fails when the shard dimension is beyond every tensor's rank: nothing would be sharded.
fn check_shard_dim(model: &Model, shard: Shard) -> Result<()> {
    let max_rank = model.state_dict().iter().map(|(_, id)| model.tensor(*id).shape().len()).max().unwrap_or(0);
    if shard.dim >= max_rank {
        return Err(Error::value(format!(
            "shard dimension {} is beyond every tensor's rank (the largest has {max_rank} dimensions): nothing would be sharded",
            shard.dim
        )));
    }
    Ok(())
}

/// Loads the checkpoint's values of the tensors a `keep_()` rule keeps (only those: the rest is
/// generated).
fn load_kept(model: &mut Model, ckpt: &io::Checkpoint) -> Result<()> {
    let kept: Vec<(String, crate::nn::TensorId)> = model
        .state_dict()
        .into_iter()
        .filter(|(_, id)| model.provenance(*id).is_some_and(|p| p.init.is_none()) && model.tensor(*id).is_meta())
        .collect();
    for (name, id) in kept {
        if let Some(info) = ckpt.tensors().iter().find(|t| t.name == name) {
            *model.tensor_mut(id) = ckpt.tensor(info)?;
        }
    }
    Ok(())
}

/// Fails when a parameter of a checkpoint layout was neither typed (so it has no default init)
/// nor matched by a plan rule: writing it would silently give zeros.
fn require_initialized(model: &Model) -> Result<()> {
    let missing: Vec<String> = model
        .named_parameters()
        .into_iter()
        .filter(|(_, id)| model.provenance(*id).is_none())
        .map(|(n, id)| format!("{n} {:?}", model.tensor(id).shape()))
        .collect();
    match missing.len() {
        0 => Ok(()),
        n => Err(Error::value(format!(
            "{n} tensor(s) of unrecognised layers and no plan rule for them: {}{}; add [[rule]]s for them with --plan: an init, or init = \"keep_()\" to keep the checkpoint's values (a table a model computes, such as frequencies)",
            missing.iter().take(3).cloned().collect::<Vec<_>>().join(", "),
            if n > 3 { ", ..." } else { "" }
        ))),
    }
}

impl Outcome {
    /// Writes the model as a Hugging Face model folder `dir` ([`crate::folder`]: what
    /// `save_pretrained(dir, max_shard_size=...)` writes, `config` with the `dtype` written),
    /// atomically, and returns the report as [`Outcome::save`] does.
    ///
    /// # Errors
    /// As [`Outcome::save`]; an existing `dir` without [`Overwrite::Replace`], or one holding
    /// other files than a model's.
    pub fn save_pretrained(
        &self,
        dir: &Path,
        config: &serde_json::Value,
        max_shard_size: u64,
        overwrite: Overwrite,
        progress: &(dyn Fn(u64, u64) + Sync),
    ) -> Result<Vec<Row>> {
        let options = self.save_options(overwrite, BTreeMap::new());
        let saved = crate::folder::write(&self.model, config, dir, max_shard_size, &options, progress)?;
        Ok(report::rows(&self.model, &saved.written, &saved.ties))
    }

    fn save_options(&self, overwrite: Overwrite, mut metadata: BTreeMap<String, String>) -> SaveOptions {
        metadata.extend(self.carried.clone());
        metadata.insert("nninit.preset".into(), self.preset.clone());
        if !self.plan.rules.is_empty() {
            metadata.insert("nninit.plan".into(), self.plan.to_toml());
        }
        SaveOptions {
            stream: self.rng,
            seed: self.seed,
            overwrite,
            shard: self.shard,
            dtypes: self.dtypes.clone(),
            metadata,
        }
    }

    /// Writes the `state_dict` to `path` (atomically; an existing file is replaced only with
    /// [`Overwrite::Replace`]) and returns the report, one row per written tensor: the values
    /// generated from the outcome's seed and stream chunk by chunk ([`Model::save`]'s writer),
    /// the shard's slice of each tensor, the `--like` dtypes. `__metadata__` records
    /// `format = pt`, the ties, the preset and whatever `metadata` adds.
    ///
    /// # Errors
    /// As [`io::Writer`]; an init's error with the tensor's name and shape.
    pub fn save(&self, path: &Path, overwrite: Overwrite, metadata: BTreeMap<String, String>) -> Result<Vec<Row>> {
        self.save_with_progress(path, overwrite, metadata, &|_, _| {})
    }

    /// [`Outcome::save`], calling `progress(bytes_written, total_bytes)` as data lands.
    ///
    /// # Errors
    /// As [`Outcome::save`].
    pub fn save_with_progress(
        &self,
        path: &Path,
        overwrite: Overwrite,
        metadata: BTreeMap<String, String>,
        progress: &(dyn Fn(u64, u64) + Sync),
    ) -> Result<Vec<Row>> {
        let options = self.save_options(overwrite, metadata);
        let saved = stream::save(&self.model, path, &options, progress)?;
        Ok(report::rows(&self.model, &saved.written, &saved.ties))
    }
}
