//! The `nninit init` job as library calls: build a model from a source, apply a plan, report,
//! and save a safetensors checkpoint.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::arch::{self, like::LikeOptions};
use crate::error::{Error, Result};
use crate::io::Overwrite;
use crate::nn::Model;
use crate::plan::{config_vars, preset, Plan, PlanReport, PresetOptions, Unmatched};
use crate::report::{self, Row};
use crate::rng::Stream;
use crate::shard::Shard;
use crate::stream::{self, SaveOptions};
use crate::tensor::DType;
use crate::tp::{resolve::resolve, TpPlan, TpShards};

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
    /// The slices to keep under a tensor-parallel plan ([`Outcome::tensor_parallel`]; in place
    /// of `shard`'s one dimension).
    pub tp: Option<TpShards>,
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
    /// Tensors read from a base checkpoint when the outcome is saved ([`run_from`]).
    pub copies: Option<std::sync::Arc<crate::base::Copies>>,
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
    let mut like_source: Option<crate::folder::Source> = None;
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
    if let Some(tied) = like_source.as_ref().and_then(|c| c.metadata()?.get("nninit.tied")) {
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
        tp: None,
        carried,
        rng: job.rng,
        seed: job.seed,
        plan,
        report,
        warnings,
        copies: None,
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
    /// New rows of a grown vocabulary drawn from the old rows' mean and covariance
    /// (transformers' `resize_token_embeddings(mean_resizing=True)`, its default), else by the
    /// plan.
    pub mean_resizing: bool,
}

pub use crate::base::Loaded;

/// [`run`], then every tensor the base checkpoint holds (same name after the base-model prefix
/// mapping, same shape and dtype) copied byte for byte in place of its init, as
/// `from_pretrained` loads it: on PyTorch's stream only the other tensors' final inits draw, in
/// the model's order (transformers builds the model without drawing, then initializes the
/// missing weights once), so their values equal `torch.manual_seed(seed);
/// Model.from_pretrained(base)`'s. Names map as transformers maps them between a base model and
/// a model with a head: the checkpoint's names may lack the model's first prefix (`model.`,
/// `transformer.`, `bert.`) or carry one the model lacks.
///
/// A tensor of the config's `vocab_size` rows whose base has fewer grows, as
/// `resize_token_embeddings` grows it (see [`crate::base`]): old rows copied, new rows drawn
/// after everything else.
///
/// Nothing of the base is read here but its headers: the copied values are streamed from it
/// into the output when the outcome is saved (so the outcome cannot be materialized in memory).
///
/// # Errors
/// As [`run`]; an unreadable or unsafe base ([`crate::folder::Source::open`]); a base sharing no
/// tensor with the model; tensors whose shapes differ (listed), unless
/// `ignore_mismatched_sizes`.
pub fn run_from(job: &InitJob, base: &Base) -> Result<(Outcome, Loaded)> {
    let mut outcome = run(job)?;
    let vocab_size = match &job.source {
        Source::Config(path) => vocab_size(&read_config(path)?),
        _ => None,
    };
    let options = crate::base::Options {
        ignore_mismatched_sizes: base.ignore_mismatched_sizes,
        vocab_size,
        mean_resizing: base.mean_resizing,
    };
    let (copies, loaded) = crate::base::load(&mut outcome.model, &base.path, &options)?;
    outcome.copies = Some(std::sync::Arc::new(copies));
    Ok((outcome, loaded))
}

/// A config's `vocab_size` (or its text config's, for a multimodal model).
fn vocab_size(config: &serde_json::Value) -> Option<usize> {
    let v = config.get("vocab_size").or_else(|| config.get("text_config")?.get("vocab_size"))?;
    v.as_u64().and_then(|v| usize::try_from(v).ok())
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

/// The layout of checkpoint `path` (a file or a model folder, [`crate::folder::Source`];
/// [`arch::like::like`]), with the padding rows, variables and options of `config` when given
/// (else of the folder's own `config.json`, if any); returns the open checkpoint too (for
/// `keep_()`).
fn open_like(
    path: &Path,
    config: Option<&PathBuf>,
    dtype: Option<DType>,
    options: &mut PresetOptions,
    vars: &mut BTreeMap<String, f64>,
) -> Result<(crate::folder::Source, (Model, BTreeMap<String, DType>))> {
    let source = crate::folder::Source::open(path)?;
    let config = config.cloned().or_else(|| source.config().map(Path::to_path_buf));
    let config = config.map(|c| load_config(&c, options, vars)).transpose()?;
    let pad_token_id = config
        .as_ref()
        .and_then(|c| c.get("pad_token_id"))
        .and_then(|v| v.as_u64())
        .and_then(|p| usize::try_from(p).ok());
    let infos = source.infos_in_file_order();
    let layout = arch::like::like(&infos, &LikeOptions { dtype, pad_token_id }, |info| source.tensor(&info.name))?;
    Ok((source, layout))
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
fn load_kept(model: &mut Model, ckpt: &crate::folder::Source) -> Result<()> {
    let kept: Vec<(String, crate::nn::TensorId)> = model
        .state_dict()
        .into_iter()
        .filter(|(_, id)| model.provenance(*id).is_some_and(|p| p.init.is_none()) && model.tensor(*id).is_meta())
        .collect();
    for (name, id) in kept {
        if ckpt.info(&name).is_some() {
            *model.tensor_mut(id) = ckpt.tensor(&name)?;
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
        Ok(report::rows(&self.model, saved.written, &saved.ties))
    }

    /// Splits the checkpoint by the tensor-parallel plan `plan` (transformers' styles,
    /// [`crate::tp`]): on saving, each tensor keeps the slice rank `shard.rank` of `shard.world`
    /// holds under its style (column-wise: weight rows and bias; row-wise: weight columns, bias
    /// whole; tensors no key names: whole), the job's [`InitJob::shard`] giving rank and world.
    /// With `config` (`(config.json's JSON, its name)`), attention heads must divide by the world
    /// size ([`TpShards::check_heads`]). Tensors no key names are listed in the warnings. The
    /// values are those of the unsharded checkpoint: the `world` files together equal it.
    ///
    /// ```
    /// use nninit::job::{self, InitJob, Source};
    /// use nninit::tp::TpPlan;
    /// let job = InitJob {
    ///     source: Source::Arch { name: "mlp".into(), dims: vec![8, 4, 2] },
    ///     preset: None,
    ///     plan: None,
    ///     seed: 0,
    ///     dtype: None,
    ///     rng: nninit::rng::Stream::Torch,
    ///     shard: Some(nninit::shard::Shard::parse("1/2", 0)?),
    ///     unmatched: nninit::plan::Unmatched::Warn,
    /// };
    /// let plan = TpPlan::new("tp.toml", vec![("layer.0".into(), "colwise".into()), ("layer.2".into(), "rowwise".into())])?;
    /// let outcome = job::run(&job)?.tensor_parallel(&plan, None)?;
    /// let tp = outcome.tp.as_ref().unwrap();
    /// assert_eq!(tp.slices["layer.0.weight"].offsets(), vec![2, 0]); // rows 2..4 of [4, 8]
    /// assert_eq!(tp.slices["layer.2.weight"].offsets(), vec![0, 2]); // columns 2..4 of [2, 4]
    /// assert!(!tp.slices.contains_key("layer.2.bias"));
    /// # Ok::<(), nninit::Error>(())
    /// ```
    ///
    /// # Errors
    /// No `shard` (rank and world); a `shard` along another dimension than 0 (`--shard-dim`
    /// conflicts with a plan); as [`resolve`] and [`TpShards::check_heads`].
    pub fn tensor_parallel(mut self, plan: &TpPlan, config: Option<(&serde_json::Value, &str)>) -> Result<Outcome> {
        let shard = self.shard.ok_or_else(|| {
            Error::value(
                "a tensor-parallel plan needs this rank and the world size: --shard RANK/WORLD or --shard auto",
            )
        })?;
        if shard.dim != 0 {
            return Err(Error::value(format!(
                "--shard-dim {} conflicts with --tp-plan: the plan gives each tensor its own dimension",
                shard.dim
            )));
        }
        let tensors: Vec<(String, Vec<usize>)> =
            self.model.state_dict().into_iter().map(|(n, id)| (n, self.model.tensor(id).shape().to_vec())).collect();
        let tp = resolve(plan, &tensors, shard.rank, shard.world)?;
        if let Some((config, name)) = config {
            tp.check_heads(config, name)?;
        }
        self.warnings.extend(tp.warning());
        self.tp = Some(tp);
        Ok(self)
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
            tp: self.tp.clone(),
            dtypes: self.dtypes.clone(),
            metadata,
            copies: self.copies.clone(),
        }
    }

    /// Writes the `state_dict` to `path` (atomically; an existing file is replaced only with
    /// [`Overwrite::Replace`]) and returns the report, one row per written tensor: the values
    /// generated from the outcome's seed and stream chunk by chunk ([`Model::save`]'s writer),
    /// the shard's slice of each tensor, the `--like` dtypes. `__metadata__` records
    /// `format = pt`, the ties, the preset and whatever `metadata` adds.
    ///
    /// # Errors
    /// As [`crate::io::Writer`]; an init's error with the tensor's name and shape.
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
        Ok(report::rows(&self.model, saved.written, &saved.ties))
    }
}
