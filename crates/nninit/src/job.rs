//! The `nninit init` job as library calls: build a model from a source, apply a plan, report,
//! and save a safetensors checkpoint.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use crate::arch::{self, like::LikeOptions};
use crate::error::{Error, Result};
use crate::init::fan_in_and_fan_out;
use crate::io::{self, Layout};
use crate::nn::{Model, TensorId};
use crate::plan::{preset, Plan, PresetOptions};
use crate::rng::Generator;
use crate::stats::Stats;
use crate::stream::{self, Target};
use crate::tensor::{DType, Data, Tensor};

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
    /// Which random stream the final values come from.
    pub rng: RngKind,
    /// Keep only one rank's slice of each tensor.
    pub shard: Option<Shard>,
}

/// The random stream of a job.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum RngKind {
    /// PyTorch's MT19937 stream: bit-exact with `torch.manual_seed` + construction + rules.
    #[default]
    Torch,
    /// Counter-based Philox4x32-10: each value a function of (seed, `state_dict` name, element
    /// index), whatever the thread count, the order, or the rest of the model.
    Philox,
}

impl std::str::FromStr for RngKind {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "torch" => Ok(RngKind::Torch),
            "philox" => Ok(RngKind::Philox),
            _ => Err(Error::Unknown { what: "rng", name: s.into(), known: "torch, philox".into() }),
        }
    }
}

/// One rank's slice of every tensor: along `dim`, rank `rank` of `world` gets rows
/// `[rank·c, min((rank+1)·c, size))` with `c = ceil(size / world)`; tensors with `dim` or fewer
/// dimensions are kept whole (replicated).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shard {
    /// This rank, `0 ≤ rank < world`.
    pub rank: usize,
    /// Number of ranks.
    pub world: usize,
    /// The dimension that is split.
    pub dim: usize,
}

impl Shard {
    /// Parses `RANK/WORLD`. Errors: bad syntax, `world == 0`, `rank >= world`.
    pub fn parse(s: &str, dim: usize) -> Result<Shard> {
        let bad = || Error::parse("shard", s, "expected RANK/WORLD with 0 <= RANK < WORLD, e.g. 0/8");
        let (r, w) = s.split_once('/').ok_or_else(bad)?;
        let (rank, world): (usize, usize) =
            (r.trim().parse().map_err(|_| bad())?, w.trim().parse().map_err(|_| bad())?);
        if world == 0 || rank >= world {
            return Err(bad());
        }
        Ok(Shard { rank, world, dim })
    }

    /// The slice `[start, end)` of a dimension of `size`.
    pub fn range(&self, size: usize) -> (usize, usize) {
        let chunk = size.div_ceil(self.world);
        ((self.rank * chunk).min(size), ((self.rank + 1) * chunk).min(size))
    }

    /// The shape of this rank's slice of a tensor of `shape` (the same shape when it has
    /// `dim` or fewer dimensions).
    pub fn slice_shape(&self, shape: &[usize]) -> Vec<usize> {
        let mut s = shape.to_vec();
        if let Some(size) = s.get_mut(self.dim) {
            let (a, b) = self.range(*size);
            *size = b - a;
        }
        s
    }

    /// The elements of `[start, end)` (row-major, of a tensor of `shape`) that this rank keeps,
    /// as runs `(lo, hi, at)`: elements `[lo, hi)` go to element `at` of the slice. One run per
    /// index of the dimensions before `dim`; the whole range when the tensor is kept whole.
    pub fn runs(&self, shape: &[usize], start: usize, end: usize) -> Vec<(usize, usize, usize)> {
        if shape.len() <= self.dim {
            return vec![(start, end, start)];
        }
        let inner: usize = shape[self.dim + 1..].iter().product();
        let size = shape[self.dim];
        let (a, b) = self.range(size);
        let (stride, run) = (size * inner, (b - a) * inner);
        if stride == 0 || run == 0 {
            return Vec::new();
        }
        (start / stride..end.div_ceil(stride))
            .filter_map(|o| {
                let (lo, hi) = ((o * stride + a * inner).max(start), (o * stride + b * inner).min(end));
                (lo < hi).then(|| (lo, hi, o * run + lo - (o * stride + a * inner)))
            })
            .collect()
    }

    /// This rank's slice of `t` (see [`Shard::runs`]). Errors: a dtype narrower than a byte.
    pub fn slice(&self, t: &Tensor) -> Result<Tensor> {
        let bits = t.safetensors_dtype().bitsize();
        if !bits.is_multiple_of(8) {
            return Err(Error::value(format!("cannot slice {:?} elements", t.safetensors_dtype())));
        }
        let bytes = t.bytes();
        let mut out = Vec::new();
        for (lo, hi, _) in self.runs(t.shape(), 0, t.numel()) {
            out.extend_from_slice(&bytes[lo * bits / 8..hi * bits / 8]);
        }
        let shape = self.slice_shape(t.shape());
        match t.dtype() {
            Some(d) => Tensor::from_le_bytes(&shape, d, &out),
            None => Tensor::new(&shape, Data::Other { dtype: t.safetensors_dtype(), bytes: out }),
        }
    }
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
    /// The stream values are generated from (for a model on the meta device).
    pub rng: RngKind,
    /// The seed.
    pub seed: u64,
}

fn read_json(path: &Path) -> Result<serde_json::Value> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
    serde_json::from_str(&text).map_err(|e| Error::parse("config", path.display().to_string(), e.to_string()))
}

/// Builds the model (drawing its construction from a generator seeded with `job.seed`), then
/// applies the plan's rules (user plan first, then the preset) with the same generator.
///
/// # Errors
/// Unknown arch or preset; unreadable or malformed config or checkpoint; an init's error with
/// the parameter path and shape.
pub fn run(job: &InitJob) -> Result<Outcome> {
    match crate::nn::meta(|| build(job)) {
        Err(e) if e.needs_values() => build(job),
        other => other,
    }
}

/// [`run`] with an ordinary model: every value computed and held in memory (what [`run`] falls
/// back to when a plan or builder needs values, e.g. gate rules or `nn.Transformer*` layer
/// clones).
///
/// # Errors
/// As [`run`].
pub fn run_in_memory(job: &InitJob) -> Result<Outcome> {
    build(job)
}

fn build(job: &InitJob) -> Result<Outcome> {
    let mut g = Generator::manual_seed(job.seed);
    let dtype = job.dtype.unwrap_or(DType::F32);
    let mut options = PresetOptions::default();
    let mut carried = BTreeMap::new();
    let (model, dtypes) = match &job.source {
        Source::Arch { name, dims } => (arch::build(name, dims, dtype, &mut g)?, BTreeMap::new()),
        Source::Config(path) => {
            let config = read_json(path)?;
            if let Some(r) = config.get("initializer_range").and_then(|v| v.as_f64()) {
                options.initializer_range = r;
            }
            (arch::hf::from_config(&config, dtype, &mut g)?, BTreeMap::new())
        }
        Source::Like(path) => {
            let ckpt = io::Checkpoint::open(path)?;
            // Ties of the layout (tensors written once) stay recorded in the new checkpoint.
            if let Some(tied) = ckpt.metadata().get("nninit.tied") {
                carried.insert("nninit.tied".to_string(), tied.clone());
            }
            let opts = LikeOptions { dtype: job.dtype, ..LikeOptions::default() };
            arch::like::like(ckpt.tensors(), &opts, |info| ckpt.tensor(info), &mut g)?
        }
    };
    let preset_name = job.preset.clone().unwrap_or_else(|| job.source.default_preset().to_string());
    let plan = job.plan.clone().unwrap_or_default().then(preset(&preset_name, &options)?);
    let mut model = model;
    // What each parameter got is recorded in the model's provenance, which the report reads.
    plan.apply(&mut model, &mut g)?;
    if let Source::Like(_) = job.source {
        require_initialized(&model)?;
    }
    if job.rng == RngKind::Philox && !model.is_meta() {
        refill_philox(&mut model, job.seed)?;
    }
    Ok(Outcome { model, preset: preset_name, dtypes, shard: job.shard, carried, rng: job.rng, seed: job.seed })
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
            "{n} tensor(s) of unrecognised layers and no plan rule for them: {}{}; add [[rule]]s for them with --plan",
            missing.iter().take(3).cloned().collect::<Vec<_>>().join(", "),
            if n > 3 { ", ..." } else { "" }
        ))),
    }
}

/// Re-draws every parameter that has a recorded init from the counter-based stream keyed by
/// (seed, its first `state_dict` name), re-zeroing recorded padding rows. Constants and
/// buffers are unchanged (they draw nothing).
pub fn refill_philox(model: &mut Model, seed: u64) -> Result<()> {
    let mut done = std::collections::HashSet::new();
    for (name, id) in model.state_dict() {
        if !done.insert(id) {
            continue;
        }
        let Some(p) = model.provenance(id).cloned() else { continue };
        let t = model.tensor_mut(id);
        let shape = t.shape().to_vec();
        t.view_mut()
            .and_then(|v| p.init.apply(v, &mut crate::rng::Philox::new(seed, &name)))
            .map_err(|e| e.at(&name, &shape))?;
        for row in p.zeroed_rows {
            model.zero_row(id, row)?;
        }
        // Parts (gate rules) from their own streams, keyed by name and first element.
        for part in &p.parts {
            let dtype = model.tensor(id).dtype().unwrap_or(DType::F32);
            let mut values = Tensor::try_zeros(&part.shape, dtype)?;
            let mut philox = crate::rng::Philox::new(seed, &format!("{name}@{}", part.start));
            values.view_mut().and_then(|v| part.init.apply(v, &mut philox)).map_err(|e| e.at(&name, &shape))?;
            model.write_part(id, part.start, &values, None)?;
        }
    }
    Ok(())
}

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

impl Outcome {
    /// The tensors to write: `state_dict` order, tied tensors once (under their first name),
    /// with `(name, first name)` for every tie.
    fn unique_state_dict(&self) -> (Vec<(String, TensorId)>, Vec<(String, String)>) {
        let mut first: HashMap<TensorId, String> = HashMap::new();
        let mut unique = Vec::new();
        let mut ties = Vec::new();
        for (name, id) in self.model.state_dict() {
            match first.get(&id) {
                Some(f) => ties.push((name, f.clone())),
                None => {
                    first.insert(id, name.clone());
                    unique.push((name, id));
                }
            }
        }
        (unique, ties)
    }

    /// Writes the `state_dict` to `path` (atomically; refuses to overwrite unless `force`) and
    /// returns the report, one row per written tensor. Tied tensors are written once;
    /// `__metadata__` records `format = pt`, the ties (`nninit.tied`: `name=first_name` pairs),
    /// and whatever `metadata` adds. A model on the meta device is generated chunk by chunk
    /// straight into the file ([`crate::stream`]).
    ///
    /// # Errors
    /// As [`io::Writer`]; an init's error with the tensor's name and shape.
    pub fn save(&self, path: &Path, force: bool, metadata: BTreeMap<String, String>) -> Result<Vec<Row>> {
        self.save_with_progress(path, force, metadata, &|_, _| {})
    }

    /// [`Outcome::save`], calling `progress(bytes_written, total_bytes)` as data lands.
    pub fn save_with_progress(
        &self,
        path: &Path,
        force: bool,
        mut metadata: BTreeMap<String, String>,
        progress: &(dyn Fn(u64, u64) + Sync),
    ) -> Result<Vec<Row>> {
        let (unique, ties) = self.unique_state_dict();
        metadata.extend(self.carried.clone());
        // Carried ties (`name=written_name`) are kept when they still describe this checkpoint:
        // the written name is written, the tied name is not.
        if let Some(carried) = metadata.get("nninit.tied").cloned() {
            let written: std::collections::HashSet<&str> = unique.iter().map(|(n, _)| n.as_str()).collect();
            let kept: Vec<&str> = carried
                .split(',')
                .filter(|pair| pair.split_once('=').is_some_and(|(a, b)| !written.contains(a) && written.contains(b)))
                .collect();
            metadata.remove("nninit.tied");
            if !kept.is_empty() {
                metadata.insert("nninit.tied".into(), kept.join(","));
            }
        }
        metadata.insert("format".into(), "pt".into());
        metadata.insert("nninit.preset".into(), self.preset.clone());
        if let Some(sh) = &self.shard {
            metadata.insert("nninit.shard".into(), format!("{}/{} dim {}", sh.rank, sh.world, sh.dim));
        }
        if !ties.is_empty() {
            let pairs: Vec<String> = ties.iter().map(|(n, f)| format!("{n}={f}")).collect();
            metadata.insert("nninit.tied".into(), pairs.join(","));
        }
        let mut targets = HashMap::new();
        let mut layout = Vec::new();
        for (index, (name, id)) in unique.iter().enumerate() {
            let t = self.model.tensor(*id);
            let out_dtype = t.dtype().map(|d| self.dtypes.get(name).copied().unwrap_or(d));
            // Values already in memory carry their zeroed rows; generated ones get them here.
            let zeroed_rows = match self.model.provenance(*id) {
                Some(p) if t.is_meta() => p.zeroed_rows.clone(),
                _ => Vec::new(),
            };
            let target = Target::new(index, name.clone(), t.shape().to_vec(), out_dtype, zeroed_rows, self.shard);
            layout.push(Layout {
                name: name.clone(),
                dtype: out_dtype.map_or_else(|| t.safetensors_dtype(), DType::to_safetensors),
                shape: target.out_shape(),
            });
            targets.insert(*id, target);
        }
        let writer = io::Writer::create(path, &layout, &metadata, force)?;
        stream::generate(&self.model, &targets, self.rng, self.seed, &writer, progress)?;
        writer.finish()?;
        Ok(self.rows(&unique, &ties, &targets, &layout))
    }

    /// The report rows of the written tensors.
    fn rows(
        &self,
        unique: &[(String, TensorId)],
        ties: &[(String, String)],
        targets: &HashMap<TensorId, Target>,
        layout: &[Layout],
    ) -> Vec<Row> {
        let buffers: std::collections::HashSet<TensorId> =
            self.model.named_buffers().into_iter().map(|(_, id)| id).collect();
        let mut rows = Vec::new();
        for ((name, id), l) in unique.iter().zip(layout) {
            let provenance = self.model.provenance(*id);
            let is_buffer = buffers.contains(id);
            let mut label = match provenance {
                _ if is_buffer => "buffer".to_string(),
                Some(p) if p.default => format!("default: {}", p.init),
                Some(p) => p.init.to_string(),
                None => "-".to_string(),
            };
            for part in provenance.map(|p| p.parts.as_slice()).unwrap_or_default() {
                let numel: usize = part.shape.iter().product();
                label.push_str(&format!(", then [{}:{}] {}", part.start, part.start + numel, part.init));
            }
            let tied: Vec<&str> = ties.iter().filter(|(_, f)| f == name).map(|(n, _)| n.as_str()).collect();
            if !tied.is_empty() {
                label.push_str(&format!(" (tied: {})", tied.join(", ")));
            }
            // Fans and the expected std are those of the whole tensor, also for a shard.
            let full = targets.get(id).map_or(&l.shape, |t| &t.shape);
            let expected_std = provenance.filter(|_| !is_buffer).and_then(|p| p.init.expected_std(full));
            rows.push(Row {
                name: name.clone(),
                shape: l.shape.clone(),
                dtype: DType::from_safetensors(l.dtype)
                    .map_or_else(|| format!("{:?}", l.dtype).to_lowercase(), |d| d.to_string()),
                init: label,
                fans: if is_buffer { None } else { fan_in_and_fan_out(full).ok() },
                expected_std,
                stats: targets.get(id).and_then(Target::stats),
            });
        }
        rows
    }
}
