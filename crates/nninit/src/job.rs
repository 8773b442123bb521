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

fn read_json(path: &Path) -> Result<serde_json::Value> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
    serde_json::from_str(&text).map_err(|e| Error::parse("config", path.display().to_string(), e.to_string()))
}

/// Reads a `config.json`: its `initializer_range` into `options`, its variables into `vars`.
fn read_config(
    path: &Path,
    options: &mut PresetOptions,
    vars: &mut BTreeMap<String, f64>,
) -> Result<serde_json::Value> {
    let config = read_json(path)?;
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
            let config = read_config(path, &mut options, &mut vars)?;
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
    let config = config.map(|c| read_config(c, options, vars)).transpose()?;
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
        mut metadata: BTreeMap<String, String>,
        progress: &(dyn Fn(u64, u64) + Sync),
    ) -> Result<Vec<Row>> {
        metadata.extend(self.carried.clone());
        metadata.insert("nninit.preset".into(), self.preset.clone());
        if !self.plan.rules.is_empty() {
            metadata.insert("nninit.plan".into(), self.plan.to_toml());
        }
        let options = SaveOptions {
            stream: self.rng,
            seed: self.seed,
            overwrite,
            shard: self.shard,
            dtypes: self.dtypes.clone(),
            metadata,
        };
        let saved = stream::save(&self.model, path, &options, progress)?;
        Ok(report::rows(&self.model, &saved.written, &saved.ties))
    }
}
