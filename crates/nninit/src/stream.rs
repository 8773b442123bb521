//! Writing a model's tensors straight into a checkpoint, chunk by chunk.
//!
//! The model's recorded inits are replayed ([`crate::nn::materialize`]) into a target per
//! tensor: each chunk converted to the output dtype, cut to the shard's slice, measured for the
//! report and written to its place in the file as soon as it exists, so memory stays bounded by a
//! few chunks (and, for schemes that need a whole tensor, by the largest such tensor) whatever
//! the model's size. A model whose values are already in memory is written as it is.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use crate::base;
use crate::error::{Error, Result};
use crate::io::{Layout, Overwrite, Writer};
use crate::nn::materialize::{self, chunks, Sink};
use crate::nn::{Model, TensorId};
use crate::report::Written;
use crate::rng::Stream;
use crate::sample::Generator;
use crate::shard::Shard;
use crate::stats::Stats;
use crate::tensor::{DType, Tensor};
use crate::tp::TpShards;

/// One tensor to write: its place in the file, how it is written (dtype, shard slice), and the
/// statistics of what was written.
pub(crate) struct Target {
    /// The tensor.
    pub id: TensorId,
    /// Index in the writer's layout.
    pub index: usize,
    /// Which of the writers the tensor goes to (a model folder's shard file; 0 otherwise).
    pub file: usize,
    /// `state_dict` name (the first, for tied tensors); keys the Philox stream.
    pub name: String,
    /// The full shape.
    pub shape: Vec<usize>,
    /// The dtype written (float tensors).
    pub out_dtype: Option<DType>,
    /// The dtype written, as the header says it (every tensor).
    pub dtype: safetensors::Dtype,
    /// The slice kept.
    pub shard: Option<Shard>,
    stats: Mutex<Parts>,
}

/// The targets of a checkpoint, in `state_dict` order (tied tensors once), found by tensor.
#[derive(Default)]
pub(crate) struct Targets {
    /// In `state_dict` order.
    pub list: Vec<Target>,
    /// Position in `list` by tensor index (`u32::MAX`: not written).
    at: Vec<u32>,
}

impl Targets {
    /// `list` in `state_dict` order, for a model of `tensor_count` tensors.
    fn new(list: Vec<Target>, tensor_count: usize) -> Self {
        let mut at = vec![u32::MAX; tensor_count];
        for (i, t) in list.iter().enumerate() {
            at[t.id.0] = i as u32;
        }
        Targets { list, at }
    }

    /// The target of tensor `id`.
    pub fn get(&self, id: TensorId) -> Option<&Target> {
        self.list.get(*self.at.get(id.0)? as usize)
    }
}

/// The statistics of a target's written pieces, each with its first element's place in the
/// output: most tensors are one piece, kept inline (no allocation per tensor).
#[derive(Clone, Default)]
enum Parts {
    #[default]
    None,
    One(usize, Stats),
    Many(Vec<(usize, Stats)>),
}

impl Parts {
    fn push(&mut self, at: usize, stats: Stats) {
        *self = match std::mem::take(self) {
            Parts::None => Parts::One(at, stats),
            Parts::One(a, s) => Parts::Many(vec![(a, s), (at, stats)]),
            Parts::Many(mut v) => {
                v.push((at, stats));
                Parts::Many(v)
            }
        };
    }

    /// Merged in element order.
    fn merged(self) -> Option<Stats> {
        match self {
            Parts::None => None,
            Parts::One(_, s) => Some(s),
            Parts::Many(mut v) => {
                v.sort_by_key(|(at, _)| *at);
                v.into_iter().map(|(_, s)| s).reduce(Stats::merge)
            }
        }
    }
}

impl Target {
    /// A target; see the fields.
    pub fn new(
        (index, name, id): (usize, String, TensorId),
        t: &Tensor,
        out_dtype: Option<DType>,
        shard: Option<Shard>,
    ) -> Self {
        let dtype = out_dtype.map_or_else(|| t.safetensors_dtype(), DType::to_safetensors);
        let shape = t.shape().to_vec();
        Target { id, index, file: 0, name, shape, out_dtype, dtype, shard, stats: Mutex::new(Parts::None) }
    }

    /// The shape written (the shard's slice).
    pub fn out_shape(&self) -> Vec<usize> {
        self.shard.map_or_else(|| self.shape.clone(), |sh| sh.slice_shape(&self.shape))
    }

    /// Runs of the full tensor's elements in `[start, end)` that are written, with their element
    /// offset in the output ([`Shard::runs`]).
    fn kept(&self, start: usize, end: usize) -> Vec<(usize, usize, usize)> {
        self.shard.map_or_else(|| vec![(start, end, start)], |sh| sh.runs(&self.shape, start, end))
    }

    /// The element ranges to generate (the kept runs, split into chunks of `size`); only for
    /// elementwise schemes, whose chunks can be computed alone.
    fn kept_chunks(&self, size: usize) -> Vec<(usize, usize)> {
        let n: usize = self.shape.iter().product();
        self.kept(0, n)
            .into_iter()
            .flat_map(|(lo, hi, _)| chunks(hi - lo, size).into_iter().map(move |(s, l)| (lo + s, l)))
            .collect()
    }

    /// Writes elements `[start, start + chunk.numel())` of the full tensor (`chunk` in the
    /// model's dtype): converts to the output dtype, keeps the shard's part.
    fn put(&self, w: &Writer, start: usize, chunk: &Tensor, done: &AtomicU64) -> Result<()> {
        let converted;
        let chunk = match self.out_dtype.filter(|&d| chunk.dtype().is_some_and(|c| c != d)) {
            Some(d) => {
                converted = chunk.to_dtype(d);
                &converted
            }
            None => chunk,
        };
        let end = start + chunk.numel();
        let bits = chunk.safetensors_dtype().bitsize();
        let bytes = chunk.bytes();
        for (lo, hi, out) in self.kept(start, end) {
            if let Some(s) = Stats::of_range(chunk, lo - start..hi - start) {
                self.stats.lock().map_err(|_| Error::value("poisoned"))?.push(out, s);
            }
            let piece = &bytes[(lo - start) * bits / 8..(hi - start) * bits / 8];
            w.write_at(self.index, (out * bits / 8) as u64, piece)?;
            done.fetch_add(piece.len() as u64, Ordering::Relaxed);
        }
        Ok(())
    }
}

/// The checkpoint writer as a [`Sink`]: each chunk to its target, with progress.
struct FileSink<'a> {
    targets: &'a Targets,
    writers: &'a [Writer],
    total: u64,
    done: AtomicU64,
    progress: &'a (dyn Fn(u64, u64) + Sync),
}

impl Sink for FileSink<'_> {
    fn put(&self, id: TensorId, start: usize, chunk: &Tensor) -> Result<()> {
        let target = self.targets.get(id).ok_or_else(|| Error::value("a tensor outside the checkpoint"))?;
        target.put(&self.writers[target.file], start, chunk, &self.done)?;
        (self.progress)(self.done.load(Ordering::Relaxed), self.total);
        Ok(())
    }

    fn wanted(&self, id: TensorId, numel: usize, size: usize) -> Vec<(usize, usize)> {
        match self.targets.get(id) {
            Some(t) => t.kept_chunks(size),
            None => chunks(numel, size),
        }
    }
}

/// Generates and writes every target of `model` (keyed by tensor, each to its writer) from `seed` on `stream`,
/// calling `progress(bytes_written, total_bytes)` as chunks land. A materialized model's values
/// are written as they are.
///
/// # Errors
/// An init's error, with the tensor's name and shape; I/O errors.
pub(crate) fn generate(
    model: &Model,
    targets: &Targets,
    options: &SaveOptions,
    writers: &[Writer],
    progress: &(dyn Fn(u64, u64) + Sync),
) -> Result<()> {
    let total = writers.iter().map(Writer::data_bytes).sum();
    let sink = FileSink { targets, writers, total, done: AtomicU64::new(0), progress };
    if model.is_materialized() {
        for target in &targets.list {
            sink.put(target.id, 0, model.tensor(target.id)).map_err(|e| e.at(&target.name, &target.shape))?;
        }
        return Ok(());
    }
    // Tensors from a base checkpoint are streamed from it, after the others are generated.
    let copies = options.copies.as_deref();
    let names: HashMap<TensorId, &str> = targets
        .list
        .iter()
        .filter(|t| !copies.is_some_and(|c| c.contains(t.id)))
        .map(|t| (t.id, t.name.as_str()))
        .collect();
    let name_of = |id: TensorId| targets.get(id).map_or_else(String::new, |t| t.name.clone());
    match options.stream {
        Stream::Torch => {
            let mut g = Generator::manual_seed(options.seed);
            materialize::replay_torch(model, &mut g, &names, &sink)?;
            match copies {
                Some(c) => base::write(c, model, &name_of, &sink, base::write::Draws::Torch(&mut g)),
                None => Ok(()),
            }
        }
        Stream::Philox => {
            materialize::replay_philox(model, options.seed, &names, &sink)?;
            match copies {
                Some(c) => base::write(c, model, &name_of, &sink, base::write::Draws::Philox(options.seed)),
                None => Ok(()),
            }
        }
    }
}

/// How a model is written ([`Model::save`] takes the defaults; [`crate::job::Outcome::save`] sets them all).
#[derive(Clone, Debug, Default)]
pub(crate) struct SaveOptions {
    /// The stream values are generated from (for a model that is not materialized).
    pub stream: Stream,
    /// The seed.
    pub seed: u64,
    /// Whether an existing file is replaced.
    pub overwrite: Overwrite,
    /// Keep only this rank's slice of each tensor.
    pub shard: Option<Shard>,
    /// Keep only this rank's slice of each tensor under a tensor-parallel plan (in place of
    /// `shard`).
    pub tp: Option<TpShards>,
    /// Per-tensor output dtypes, by `state_dict` name (default: the tensor's own).
    pub dtypes: BTreeMap<String, DType>,
    /// Extra `__metadata__` entries (a carried `nninit.tied` is kept where it still holds).
    pub metadata: BTreeMap<String, String>,
    /// Tensors read from a base checkpoint (`--from`) when written.
    pub copies: Option<std::sync::Arc<base::Copies>>,
}

/// What [`save`] wrote.
pub(crate) struct Saved {
    /// Each written tensor with its statistics.
    pub written: Vec<Written>,
    /// `(name, first name)` for every tied name not written.
    pub ties: Vec<(String, String)>,
}

/// The tensors to write: `state_dict` order, tied tensors once (under their first name), with
/// `(name, first name)` for every tie.
pub(crate) fn unique_state_dict(model: &Model) -> (Vec<(String, TensorId)>, Vec<(String, String)>) {
    let mut first: HashMap<TensorId, usize> = HashMap::new();
    let mut unique: Vec<(String, TensorId)> = Vec::new();
    let mut ties = Vec::new();
    for (name, id) in model.state_dict() {
        match first.get(&id) {
            Some(&f) => ties.push((name, unique[f].0.clone())),
            None => {
                first.insert(id, unique.len());
                unique.push((name, id));
            }
        }
    }
    (unique, ties)
}

/// Writes `model`'s `state_dict` to a safetensors file at `path`, atomically: tied tensors once
/// (the tie recorded in `nninit.tied` as `name=first_name` pairs), `format = pt`, each tensor's
/// values generated chunk by chunk straight to its place in the file (or written as they are for
/// a materialized model), calling `progress(bytes_written, total_bytes)` as data lands.
///
/// # Errors
/// As [`crate::io::Writer`]; an init's error with the tensor's name and shape.
pub(crate) fn save(
    model: &Model,
    path: &Path,
    options: &SaveOptions,
    progress: &(dyn Fn(u64, u64) + Sync),
) -> Result<Saved> {
    let mut prepared = prepare(model, options);
    let writer = Writer::create(path, &prepared.layout(model, options), &prepared.metadata, options.overwrite)?;
    // The header is written: its metadata and layout (tens of MB for many tensors) are not
    // needed again, and are freed before the targets exist.
    prepared.metadata = BTreeMap::new();
    prepared.make_targets(model, options);
    generate(model, &prepared.targets, options, std::slice::from_ref(&writer), progress)?;
    writer.finish()?;
    Ok(prepared.saved())
}

/// What to write: the tensors (tied ones once), their layout and targets, the metadata.
pub(crate) struct Prepared {
    /// `state_dict` order, tied tensors once (emptied by [`Prepared::make_targets`], which
    /// moves the names into the targets).
    pub unique: Vec<(String, TensorId)>,
    /// `(name, first name)` for every tied name not written.
    pub ties: Vec<(String, String)>,
    /// `__metadata__`.
    pub metadata: BTreeMap<String, String>,
    /// One target per written tensor ([`Prepared::make_targets`]).
    pub targets: Targets,
}

impl Prepared {
    /// The layout, in `unique`'s order (made when a header is written, not kept).
    pub fn layout(&self, model: &Model, options: &SaveOptions) -> Vec<Layout> {
        let layout = |(index, (name, id)): (usize, &(String, TensorId))| {
            let t = target(model, options, index, name.clone(), *id);
            let shape = t.out_shape();
            Layout { name: t.name, dtype: t.dtype, shape }
        };
        self.unique.iter().enumerate().map(layout).collect()
    }

    /// Makes the targets, once the headers are written (one per tensor: made after the
    /// metadata and layouts are freed, so the two are never held at once). The names move from
    /// `unique` into the targets, in the same order.
    pub fn make_targets(&mut self, model: &Model, options: &SaveOptions) {
        let unique = std::mem::take(&mut self.unique);
        let list = crate::report::consume(unique)
            .enumerate()
            .map(|(index, (name, id))| target(model, options, index, name, id));
        self.targets = Targets::new(list.collect(), model.tensor_count());
    }

    /// The report's input once everything is written.
    pub fn saved(self) -> Saved {
        // Moved out of the targets (in `state_dict` order), not copied.
        let mut written = Vec::with_capacity(self.targets.list.len());
        for t in crate::report::consume(self.targets.list) {
            let shape = t.out_shape();
            let Target { id, name, shape: full_shape, dtype, stats, .. } = t;
            let stats = stats.into_inner().ok().and_then(Parts::merged);
            written.push(Written { name, id, full_shape, shape, dtype, stats });
        }
        Saved { written, ties: self.ties }
    }
}

/// The tensors and metadata [`save`] writes (the targets are made later).
pub(crate) fn prepare(model: &Model, options: &SaveOptions) -> Prepared {
    let (unique, ties) = unique_state_dict(model);
    let mut metadata = options.metadata.clone();
    // Carried ties (`name=written_name`) are kept when they still describe this checkpoint: the
    // written name is written, the tied name is not.
    if let Some(carried) = metadata.remove("nninit.tied") {
        let written: HashSet<&str> = unique.iter().map(|(n, _)| n.as_str()).collect();
        let kept: Vec<&str> = carried
            .split(',')
            .filter(|pair| pair.split_once('=').is_some_and(|(a, b)| !written.contains(a) && written.contains(b)))
            .collect();
        if !kept.is_empty() {
            metadata.insert("nninit.tied".into(), kept.join(","));
        }
    }
    metadata.insert("format".into(), "pt".into());
    // How the checkpoint was made.
    metadata.insert("nninit.version".into(), env!("CARGO_PKG_VERSION").into());
    metadata.insert("nninit.seed".into(), options.seed.to_string());
    metadata.insert("nninit.rng".into(), options.stream.to_string());
    metadata.insert("nninit.inits".into(), crate::report::inits_json(model, &unique));
    match (&options.tp, &options.shard) {
        (Some(tp), _) => {
            let written: Vec<&str> = unique.iter().map(|(n, _)| n.as_str()).collect();
            metadata.extend(tp.metadata(&written));
        }
        (None, Some(sh)) => {
            metadata.insert("nninit.shard".into(), format!("{}/{} dim {}", sh.rank, sh.world, sh.dim));
        }
        (None, None) => {}
    }
    if !ties.is_empty() {
        let pairs: Vec<String> = ties.iter().map(|(n, f)| format!("{n}={f}")).collect();
        metadata.insert("nninit.tied".into(), pairs.join(","));
    }
    Prepared { unique, ties, metadata, targets: Targets::default() }
}

/// The target of tensor `id`, written as `name`, at `index` of the layout.
fn target(model: &Model, options: &SaveOptions, index: usize, name: String, id: TensorId) -> Target {
    let t = model.tensor(id);
    let out_dtype = t.dtype().map(|d| options.dtypes.get(&name).copied().unwrap_or(d));
    let shard = match &options.tp {
        Some(tp) => tp.shard_of(&name),
        None => options.shard,
    };
    Target::new((index, name, id), t, out_dtype, shard)
}

impl Model {
    /// Writes the model's `state_dict` to a safetensors file at `path` (`safetensors.torch.
    /// save_file(model.state_dict(), path)`), the values generated from `seed` on `stream` chunk
    /// by chunk, so memory stays bounded whatever the model's size (a materialized model's
    /// values are written as they are). Tied tensors are written once. The metadata records how
    /// the file was made (`nninit.version`, `nninit.seed`, `nninit.rng`, and `nninit.inits`: each
    /// parameter's init and fans). The file is written to a temporary name and renamed when
    /// complete.
    ///
    /// ```
    /// use nninit::io::{Checkpoint, Overwrite};
    /// use nninit::rng::Stream;
    /// let model = nninit::arch::mlp(&[8, 4, 2], nninit::DType::BF16)?;
    /// let path = std::env::temp_dir().join("nninit-doc-mlp.safetensors");
    /// model.save(&path, Stream::Torch, 0, Overwrite::Replace)?;
    /// let names: Vec<String> = Checkpoint::open(&path)?.tensors().iter().map(|t| t.name.clone()).collect();
    /// assert_eq!(names, ["layer.0.weight", "layer.0.bias", "layer.2.weight", "layer.2.bias"]);
    /// # std::fs::remove_file(&path).ok();
    /// # Ok::<(), nninit::Error>(())
    /// ```
    ///
    /// # Errors
    /// An existing file with [`Overwrite::Refuse`], a missing directory, I/O errors (nothing is
    /// left behind); an init's error with the tensor's name and shape.
    pub fn save(&self, path: &Path, stream: Stream, seed: u64, overwrite: Overwrite) -> Result<()> {
        let options = SaveOptions { stream, seed, overwrite, ..SaveOptions::default() };
        save(self, path, &options, &|_, _| {}).map(|_| ())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The kept runs of any element range, against a brute-force walk over every element.
    #[test]
    fn kept_runs_map_every_element_to_its_place_in_the_shard() {
        for (shape, dim, world) in
            [(vec![4, 6], 1, 3), (vec![5, 3, 4], 1, 2), (vec![7, 5], 0, 3), (vec![2, 3, 5], 2, 4)]
        {
            for rank in 0..world {
                let shard = Shard { rank, world, dim };
                let t = Target::new(
                    (0, "w".into(), TensorId(0)),
                    &Tensor::meta(&shape, DType::F32),
                    Some(DType::F32),
                    Some(shard),
                );
                let n: usize = shape.iter().product();
                let inner: usize = shape[dim + 1..].iter().product();
                let (a, b) = shard.range(shape[dim]);
                // Brute force: element i is kept when its coordinate along `dim` is in [a, b);
                // its place in the shard counts the kept elements before it.
                let place: Vec<Option<usize>> = (0..n)
                    .scan(0, |next, i| {
                        let kept = (a..b).contains(&(i / inner % shape[dim]));
                        *next += kept as usize;
                        Some(kept.then_some(*next - 1))
                    })
                    .collect();
                for start in 0..n {
                    for end in start + 1..=n {
                        let mut got = vec![None; n];
                        for (lo, hi, out) in t.kept(start, end) {
                            for (i, g) in got.iter_mut().enumerate().take(hi).skip(lo) {
                                *g = Some(out + i - lo);
                            }
                        }
                        let want: Vec<Option<usize>> =
                            (0..n).map(|i| if (start..end).contains(&i) { place[i] } else { None }).collect();
                        assert_eq!(got, want, "{shape:?} {shard:?} {start}..{end}");
                    }
                }
            }
        }
    }
}
