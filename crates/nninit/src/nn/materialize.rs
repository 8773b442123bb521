//! Fill: turning a model's recorded inits into values, in memory or chunk by chunk into a sink
//! (the checkpoint writer).
//!
//! Building a model and applying rules only record [`Event`]s. Here they are replayed:
//!
//! * PyTorch's stream ([`Stream::Torch`]): every event in recorded order on one generator. A
//!   tensor's last whole init is generated chunk by chunk; the events it overwrites are skipped
//!   by advancing MT19937 without computing values ([`skip`]), so the stream stays where
//!   PyTorch's would be. Chunking does not change a value (see [`crate::init::Draw`]).
//! * Philox ([`Stream::Philox`]): every tensor's last whole init is generated from
//!   `(seed, name)` alone, its chunks in parallel; a ranged init after it from
//!   `(seed, "name@first_element")`.
//!
//! Constant rows written after a tensor's init (an Embedding's padding row) are laid over each
//! chunk. A tensor that needs its values at once — random rows written after its init (a `gate`
//! rule), or values copied into another tensor (`copy.deepcopy`) — is held whole in memory,
//! that tensor alone.

use std::borrow::Cow;
use std::collections::HashMap;
use std::ops::Range;

use rayon::prelude::*;

use super::model::{Event, Fill, Model, TensorId};
use crate::error::{Error, Result};
use crate::init::{Draw, Init};
use crate::rng::{Philox, Stream};
use crate::sample::Generator;
use crate::tensor::{DType, Element, Tensor};

/// Elements per chunk: 4 Mi (16 MiB of f32), a multiple of `normal_`'s 16-element block.
pub const CHUNK: usize = 1 << 22;

/// Where generated values go.
pub trait Sink: Sync {
    /// Receives elements `[start, start + chunk.numel())` (row-major) of tensor `id`'s final
    /// value, in the model's dtype. Chunks of one tensor may arrive from several threads.
    ///
    /// # Errors
    /// Whatever storing them fails with (I/O).
    fn put(&self, id: TensorId, start: usize, chunk: &Tensor) -> Result<()>;

    /// The element ranges `(start, len)` of tensor `id` (of `numel` elements) to generate on
    /// the counter-based stream, each at most `size` long (all of them by default; a shard's
    /// part for a sharded checkpoint).
    fn wanted(&self, id: TensorId, numel: usize, size: usize) -> Vec<(usize, usize)> {
        let _ = id;
        chunks(numel, size)
    }
}

/// The chunks `(start, len)` of a tensor of `n` elements: `size`-sized (a multiple of 16), the
/// last one merged into its predecessor when shorter than 16 (so `normal_`'s tail block stays in
/// one chunk).
pub fn chunks(n: usize, size: usize) -> Vec<(usize, usize)> {
    let mut out: Vec<(usize, usize)> = (0..n).step_by(size.max(1)).map(|s| (s, size.min(n - s))).collect();
    if out.len() >= 2 && out[out.len() - 1].1 < 16 {
        let (_, tail) = out.pop().unwrap_or_default();
        if let Some(last) = out.last_mut() {
            last.1 += tail;
        }
    }
    out
}

impl Model {
    /// Draws every recorded init, in order, and stores the values in the model's tensors
    /// (`torch.manual_seed(seed)` followed by the construction and rules, for
    /// [`Stream::Torch`]; keyed by each tensor's first `state_dict` name for
    /// [`Stream::Philox`]). Tensors outside the `state_dict` keep no values.
    ///
    /// ```
    /// use nninit::rng::Stream;
    /// let mut model = nninit::arch::mlp(&[8, 4, 2], nninit::DType::F32)?;
    /// model.materialize(Stream::Torch, 0)?;
    /// let (name, w) = &model.named_parameters()[0];
    /// assert_eq!((name.as_str(), model.tensor(*w).shape()), ("layer.0.weight", &[4usize, 8][..]));
    /// # Ok::<(), nninit::Error>(())
    /// ```
    ///
    /// # Errors
    /// An init's error that only shows when drawing (`orthogonal_` on f16), with the tensor's
    /// name and shape; a tensor too large to allocate.
    pub fn materialize(&mut self, stream: Stream, seed: u64) -> Result<()> {
        self.check_fits_in_memory()?;
        match stream {
            Stream::Torch => self.materialize_with(&mut Generator::manual_seed(seed)),
            Stream::Philox => {
                let sink = MemorySink::new(self);
                replay_philox(self, seed, &borrowed(&self.first_names()), &sink)?;
                sink.store(self)
            }
        }
    }

    /// [`Model::materialize`] on PyTorch's stream, continuing from `g` (several models, or other
    /// draws, sharing one generator as in one PyTorch program). `g` ends where PyTorch's
    /// generator would.
    ///
    /// # Errors
    /// As [`Model::materialize`].
    pub fn materialize_with(&mut self, g: &mut Generator) -> Result<()> {
        self.check_fits_in_memory()?;
        let sink = MemorySink::new(self);
        replay_torch(self, g, &borrowed(&self.first_names()), &sink)?;
        sink.store(self)
    }

    /// Refuses to hold the model's values in memory when they need more bytes than the machine
    /// has available (`MemAvailable` + `SwapFree` of `/proc/meminfo`, where there is one), before
    /// anything is allocated.
    fn check_fits_in_memory(&self) -> Result<()> {
        let bytes = self.first_names().keys().fold(0u128, |sum, &id| {
            let t = self.tensor(id);
            let size = t.dtype().map_or(8, |d| d.size()) as u128;
            sum + t.shape().iter().fold(size, |n, &d| n.saturating_mul(d as u128))
        });
        let Some(available) = available_memory() else { return Ok(()) };
        if bytes > available as u128 {
            return Err(Error::value(format!(
                "the model's values need {bytes} bytes, more than the {available} bytes of memory available: \
                 write it to a file with `save` (`nninit init`), which streams it chunk by chunk"
            )));
        }
        Ok(())
    }

    /// Each `state_dict` tensor under its first name (a tied tensor once).
    pub(crate) fn first_names(&self) -> HashMap<TensorId, String> {
        let mut names = HashMap::new();
        for (name, id) in self.state_dict() {
            names.entry(id).or_insert(name);
        }
        names
    }
}

/// `names` borrowed.
fn borrowed(names: &HashMap<TensorId, String>) -> HashMap<TensorId, &str> {
    names.iter().map(|(id, n)| (*id, n.as_str())).collect()
}

/// Collects tensors in memory, then stores them in the model.
struct MemorySink {
    shapes: Vec<Vec<usize>>,
    values: Vec<std::sync::Mutex<Option<Tensor>>>,
}

impl MemorySink {
    fn new(model: &Model) -> Self {
        let n = model.tensor_count();
        MemorySink {
            shapes: (0..n).map(|i| model.tensor(TensorId(i)).shape().to_vec()).collect(),
            values: (0..n).map(|_| std::sync::Mutex::new(None)).collect(),
        }
    }

    fn store(self, model: &mut Model) -> Result<()> {
        for (i, v) in self.values.into_iter().enumerate() {
            if let Some(t) = v.into_inner().map_err(|_| Error::value("a fill thread panicked"))? {
                *model.tensor_mut(TensorId(i)) = t;
            }
        }
        model.set_materialized();
        Ok(())
    }
}

impl Sink for MemorySink {
    fn put(&self, id: TensorId, start: usize, chunk: &Tensor) -> Result<()> {
        let mut slot = self.values[id.0].lock().map_err(|_| Error::value("a fill thread panicked"))?;
        let shape = &self.shapes[id.0];
        match slot.as_mut() {
            None if chunk.numel() == shape.iter().product::<usize>() => *slot = Some(chunk.reshape(shape)?),
            None => {
                let dtype = chunk.dtype().ok_or_else(|| Error::value("only float chunks are generated"))?;
                let mut whole = Tensor::try_zeros(shape, dtype)?;
                whole.write_at(start, chunk)?;
                *slot = Some(whole);
            }
            Some(whole) => whole.write_at(start, chunk)?,
        }
        Ok(())
    }
}

/// What a tensor's final value is made of on the counter-based stream: a base (an init, or the
/// tensor's own values) and the ranged inits after it.
struct Recipe {
    base: Option<Init>,
    /// Values the base starts from when it is not an init.
    start: TensorId,
    /// The base is `keep_()`: `start`'s given values (which must exist).
    kept: bool,
    /// The ranged inits after the base, each with the tensor whose event it is (which keys it).
    ranged: Vec<(Range<usize>, Init, TensorId)>,
}

/// The events of each tensor, in order: `by[t]` lists tensor `t`'s event indices. Kept as one
/// list cut at offsets (a vector per tensor would cost 50 bytes each for a model of many small
/// tensors).
struct ByTensor {
    /// Tensor `t`'s events are `events[start[t]..start[t + 1]]`.
    start: Vec<usize>,
    events: Vec<usize>,
}

impl std::ops::Index<usize> for ByTensor {
    type Output = [usize];
    fn index(&self, t: usize) -> &[usize] {
        &self.events[self.start[t]..self.start[t + 1]]
    }
}

/// The events of each tensor, by index.
fn events_by_tensor(model: &Model) -> ByTensor {
    let events = model.events();
    let mut start = vec![0usize; model.tensor_count() + 1];
    for e in events {
        start[e.tensor.0 + 1] += 1;
    }
    for t in 0..model.tensor_count() {
        start[t + 1] += start[t];
    }
    let mut next = start.clone();
    let mut by = vec![0usize; events.len()];
    for (i, e) in events.iter().enumerate() {
        by[next[e.tensor.0]] = i;
        next[e.tensor.0] += 1;
    }
    ByTensor { start, events: by }
}

/// Tensor `id`'s value as of event `upto` (exclusive) on the counter-based stream: copies
/// resolve to the init their source had at the copy.
fn recipe(model: &Model, by: &ByTensor, id: TensorId, upto: usize) -> Result<Recipe> {
    let events = model.events();
    let (mut id, mut upto) = (id, upto);
    let mut ranged_stack: Vec<Vec<(Range<usize>, Init, TensorId)>> = Vec::new();
    loop {
        let mine: Vec<usize> = by[id.0].iter().copied().filter(|&i| i < upto).collect();
        let whole = mine.iter().rposition(|&i| events[i].rows.is_none());
        let after = whole.map_or(0, |w| w + 1);
        let mut ranged = Vec::new();
        for &i in &mine[after..] {
            match (&events[i].rows, &events[i].fill) {
                (Some(rows), Fill::Init(init)) => ranged.push((rows.clone(), (**init).clone(), id)),
                _ => return Err(Error::value("a ranged copy of a tensor is not supported")),
            }
        }
        ranged_stack.push(ranged);
        let fill = whole.map(|w| &events[mine[w]].fill);
        let base = match fill {
            Some(Fill::CopyOf(source)) => {
                (id, upto) = (*source, mine[whole.unwrap_or_default()]);
                continue;
            }
            Some(Fill::Init(init)) => Some((**init).clone()),
            Some(Fill::Keep) | None => None,
        };
        let ranged = ranged_stack.into_iter().rev().flatten().collect();
        return Ok(Recipe { base, start: id, kept: fill == Some(&Fill::Keep), ranged });
    }
}

/// Whether a ranged init writes constants (no draws), so it can be laid over each chunk.
fn is_constant(init: &Init, shape: &[usize], dtype: DType) -> bool {
    matches!(init.draw(shape, dtype), Ok(Draw::Fill(_) | Draw::Nothing))
}

/// The shape of rows `rows` of a tensor of `shape`.
fn rows_shape(shape: &[usize], rows: &Range<usize>) -> Vec<usize> {
    let mut s = shape.to_vec();
    if let Some(d) = s.first_mut() {
        *d = rows.len();
    }
    s
}

/// Elements per row (of dim 0).
fn row_len(shape: &[usize]) -> usize {
    shape.iter().skip(1).product()
}

/// Lays constant ranged inits over a chunk holding elements `[start, start + len)`.
fn overlay(chunk: &mut Tensor, start: usize, shape: &[usize], overlays: &[(Range<usize>, f64)]) -> Result<()> {
    let width = row_len(shape);
    let end = start + chunk.numel();
    for (rows, value) in overlays {
        let (lo, hi) = ((rows.start * width).max(start), (rows.end * width).min(end));
        if lo < hi {
            let view = chunk.view_mut()?;
            crate::dispatch_mut!(view.data, |s| s[lo - start..hi - start].fill(Element::from_f64(*value)));
        }
    }
    Ok(())
}

/// The values a `keep_()` keeps: the tensor's own.
fn given(model: &Model, id: TensorId) -> Result<Tensor> {
    let t = model.tensor(id);
    if t.is_meta() {
        return Err(Error::value(
            "keep_(): the tensor has no given values to keep (a checkpoint's tensor with --like, or one registered with values)",
        ));
    }
    Ok(t.clone())
}

/// The tensor's values before any init: what it holds, or zeros.
fn initial(model: &Model, id: TensorId) -> Result<Tensor> {
    let t = model.tensor(id);
    match t.dtype() {
        Some(dtype) if t.is_meta() => Tensor::try_zeros(t.shape(), dtype),
        _ => Ok(t.clone()),
    }
}

/// Writes `part` (rows `rows`) into `whole`.
fn write_rows(whole: &mut Tensor, rows: &Range<usize>, part: &Tensor) -> Result<()> {
    whole.write_at(rows.start * row_len(whole.shape()), part)
}

/// Replays the events on PyTorch's stream from `g`, handing the final value of every tensor in
/// `names` to `sink`.
pub(crate) fn replay_torch(
    model: &Model,
    g: &mut Generator,
    names: &HashMap<TensorId, &str>,
    sink: &dyn Sink,
) -> Result<()> {
    let events = model.events();
    let by = events_by_tensor(model);
    let n = model.tensor_count();
    let mut last_whole = vec![None; n];
    let mut copied = vec![false; n];
    for (i, e) in events.iter().enumerate() {
        if e.rows.is_none() {
            last_whole[e.tensor.0] = Some(i);
        }
        if let Fill::CopyOf(source) = e.fill {
            copied[source.0] = true;
        }
    }
    let constant_event = |i: usize| {
        let (e, t) = (&events[i], model.tensor(events[i].tensor));
        match (&e.fill, &e.rows, t.dtype()) {
            (Fill::Init(init), Some(rows), Some(dtype)) => is_constant(init, &rows_shape(t.shape(), rows), dtype),
            _ => false,
        }
    };
    // Held whole in memory: tensors copied from, and wanted ones whose final value is not one
    // init laid over with constant rows.
    let held: Vec<bool> = (0..n)
        .map(|t| {
            let wanted = names.contains_key(&TensorId(t));
            copied[t]
                || wanted
                    && match last_whole[t] {
                        None => !by[t].is_empty(),
                        Some(w) => {
                            matches!(events[w].fill, Fill::CopyOf(_) | Fill::Keep)
                                || by[t].iter().any(|&i| i > w && !constant_event(i))
                        }
                    }
        })
        .collect();
    let mut ids: Vec<&TensorId> = names.keys().collect();
    ids.sort();
    for &id in ids.iter().filter(|id| by[id.0].is_empty()) {
        sink.put(*id, 0, &initial(model, *id)?)?;
    }
    // One thread draws (its transforms run on the pool); another hands the chunks to the sink,
    // two chunks in flight at most. Chunks come back to be filled again: no allocation per chunk.
    let (tx, rx) = std::sync::mpsc::sync_channel::<(TensorId, usize, Tensor)>(2);
    let (back, returned) = std::sync::mpsc::channel::<Tensor>();
    std::thread::scope(|scope| {
        let writer = scope.spawn(move || {
            rx.iter().try_for_each(|(id, start, c)| {
                sink.put(id, start, &c)?;
                let _ = back.send(c);
                Ok(())
            })
        });
        let drawn = (|| -> Result<()> {
            let mut live: HashMap<TensorId, Tensor> = HashMap::new();
            for (i, e) in events.iter().enumerate() {
                let t = e.tensor;
                let tensor = model.tensor(t);
                let (shape, dtype) = (tensor.shape(), tensor.dtype().unwrap_or(DType::F32));
                let last = by[t.0].last() == Some(&i);
                // A held tensor keeps every event from its last whole init on (a copied one, all
                // of them); any other only its last whole init.
                let keep = if held[t.0] {
                    copied[t.0] || last_whole[t.0].is_none_or(|w| i >= w)
                } else {
                    names.contains_key(&t) && last_whole[t.0] == Some(i)
                };
                crate::cancel::check()?;
                let mut step = || -> Result<()> {
                    match (&e.fill, &e.rows) {
                        (Fill::Init(init), None) if keep && held[t.0] => {
                            let mut v = Tensor::try_zeros(shape, dtype)?;
                            init.apply(v.view_mut()?, g)?;
                            live.insert(t, v);
                            Ok(())
                        }
                        (Fill::Init(init), None) if keep => {
                            let overlays: Vec<(Range<usize>, Init)> = by[t.0]
                                .iter()
                                .filter(|&&j| j > i)
                                .filter_map(|&j| Some((events[j].rows.clone()?, init_of(&events[j])?.clone())))
                                .collect();
                            let overlays = constant_overlays(&overlays, shape, dtype)?;
                            let mut buffer = |len: usize| match returned.try_recv() {
                                Ok(b) if b.numel() == len && b.dtype() == Some(dtype) => Ok(b),
                                _ => Tensor::try_zeros(&[len], dtype),
                            };
                            let wanted = sink.wanted(t, shape.iter().product(), CHUNK);
                            fill_wanted(init, shape, dtype, g, &wanted, &mut buffer, &mut |s, c| {
                                let mut c = c.into_owned();
                                overlay(&mut c, s, shape, &overlays)?;
                                // A closed channel means the sink failed: its error is reported.
                                tx.send((t, s, c)).or(Ok(()))
                            })
                        }
                        (Fill::Init(init), None) => skip(init, shape, dtype, g),
                        (Fill::Init(init), Some(rows)) if keep => {
                            let mut part = Tensor::try_zeros(&rows_shape(shape, rows), dtype)?;
                            init.apply(part.view_mut()?, g)?;
                            let whole = match live.entry(t) {
                                std::collections::hash_map::Entry::Occupied(o) => o.into_mut(),
                                std::collections::hash_map::Entry::Vacant(v) => v.insert(initial(model, t)?),
                            };
                            write_rows(whole, rows, &part)
                        }
                        (Fill::Init(init), Some(rows)) => skip(init, &rows_shape(shape, rows), dtype, g),
                        (Fill::CopyOf(source), None) => {
                            if keep {
                                let v = match live.get(source) {
                                    Some(v) => v.clone(),
                                    None => initial(model, *source)?,
                                };
                                live.insert(t, v);
                            }
                            Ok(())
                        }
                        (Fill::Keep, None) => {
                            if keep {
                                live.insert(t, given(model, t)?);
                            }
                            Ok(())
                        }
                        (Fill::CopyOf(_) | Fill::Keep, Some(_)) => {
                            Err(Error::value("a ranged copy of a tensor is not supported"))
                        }
                    }
                };
                step().map_err(|err| match names.get(&t) {
                    Some(name) => err.at(name, shape),
                    None => err,
                })?;
                if last && held[t.0] && names.contains_key(&t) {
                    let v = if copied[t.0] { live.get(&t).cloned() } else { live.remove(&t) };
                    let v = match v {
                        Some(v) => v,
                        None => initial(model, t)?,
                    };
                    tx.send((t, 0, v)).or(Ok::<(), Error>(()))?;
                }
            }
            Ok(())
        })();
        drop(tx);
        let written = writer.join().unwrap_or_else(|_| Err(Error::value("the sink thread panicked")));
        drawn.and(written)
    })
}

/// The init of an event, if it is one.
fn init_of(e: &Event) -> Option<&Init> {
    match &e.fill {
        Fill::Init(init) => Some(init),
        Fill::CopyOf(_) | Fill::Keep => None,
    }
}

/// Replays the events on the counter-based stream, handing the final value of every tensor in
/// `names` to `sink`; tensors are independent, their chunks generated in parallel.
pub(crate) fn replay_philox(model: &Model, seed: u64, names: &HashMap<TensorId, &str>, sink: &dyn Sink) -> Result<()> {
    let by = events_by_tensor(model);
    let mut ids: Vec<&TensorId> = names.keys().collect();
    ids.sort();
    // A copied tensor's values are its source's: the source's events are keyed by the source's
    // name, or (a layer deep-copied and not registered itself) by its first copy's name, so
    // every copy holds the same values, as in PyTorch.
    let mut keys: HashMap<TensorId, &str> = names.clone();
    for &id in &ids {
        if let Ok(r) = recipe(model, &by, *id, model.events().len()) {
            for owner in std::iter::once(r.start).chain(r.ranged.iter().map(|(_, _, o)| *o)) {
                keys.entry(owner).or_insert(names[id]);
            }
        }
    }
    for &id in ids {
        let name = &names[&id];
        let t = model.tensor(id);
        let shape = t.shape().to_vec();
        let Some(dtype) = t.dtype().filter(|_| !by[id.0].is_empty()) else {
            sink.put(id, 0, &initial(model, id)?)?;
            continue;
        };
        philox_tensor(model, &by, id, &keys, dtype, seed, sink).map_err(|e| e.at(name, &shape))?;
    }
    Ok(())
}

/// Tensor `id`'s final value on the counter-based stream; each event keyed by the name in
/// `keys` of the tensor it belongs to.
fn philox_tensor(
    model: &Model,
    by: &ByTensor,
    id: TensorId,
    keys: &HashMap<TensorId, &str>,
    dtype: DType,
    seed: u64,
    sink: &dyn Sink,
) -> Result<()> {
    let shape = model.tensor(id).shape().to_vec();
    let r = recipe(model, by, id, model.events().len())?;
    let key = |t: TensorId| keys.get(&t).copied().unwrap_or_default();
    let ranged: Vec<(Range<usize>, Init)> =
        r.ranged.iter().map(|(rows, init, _)| (rows.clone(), init.clone())).collect();
    let constant = ranged.iter().all(|(rows, init)| is_constant(init, &rows_shape(&shape, rows), dtype));
    if let (Some(init), true) = (&r.base, constant) {
        if init.draw(&shape, dtype)? != Draw::Whole {
            let overlays = constant_overlays(&ranged, &shape, dtype)?;
            return philox_chunks(init, id, &shape, dtype, key(r.start), seed, &overlays, sink);
        }
    }
    let mut whole = if r.kept { given(model, r.start)? } else { initial(model, r.start)? };
    if let Some(init) = &r.base {
        init.apply(whole.view_mut()?, &mut Philox::new(seed, key(r.start)))?;
    }
    for (rows, init, owner) in &r.ranged {
        let mut part = Tensor::try_zeros(&rows_shape(&shape, rows), dtype)?;
        let start = rows.start * row_len(&shape);
        init.apply(part.view_mut()?, &mut Philox::new(seed, &format!("{}@{start}", key(*owner))))?;
        write_rows(&mut whole, rows, &part)?;
    }
    sink.put(id, 0, &whole)
}

/// The constant value of each ranged init.
fn constant_overlays(
    ranged: &[(Range<usize>, Init)],
    shape: &[usize],
    dtype: DType,
) -> Result<Vec<(Range<usize>, f64)>> {
    ranged
        .iter()
        .filter_map(|(rows, init)| match init.draw(&rows_shape(shape, rows), dtype) {
            Ok(Draw::Fill(v)) => Some(Ok((rows.clone(), v))),
            Ok(_) => None,
            Err(e) => Some(Err(e)),
        })
        .collect()
}

/// Bytes of chunks in flight at once when chunks are generated in parallel: each of the pool's
/// threads gets a share, so memory does not grow with the thread count.
const IN_FLIGHT: usize = 192 << 20;

/// Bytes of a chunk generated in parallel at most: small enough that the values are still in
/// the CPU's caches when the report's statistics read them and the kernel copies them into the
/// file (16 MiB chunks went through memory three times).
const CACHED_CHUNK: usize = 1 << 20;

/// Elements per chunk for `threads` workers generating `dtype` (a chunk, its converted copy and
/// the buffer being refilled per thread): [`CACHED_CHUNK`] bytes at most, 64 Ki elements at
/// least.
fn parallel_chunk(threads: usize, dtype: DType) -> usize {
    let size = dtype.size().max(4);
    (IN_FLIGHT / (3 * threads.max(1) * size)).clamp(1 << 16, (CACHED_CHUNK / size).max(1 << 16)) & !63
}

/// Generates an elementwise init on the counter-based stream keyed by `name`, the chunks the
/// sink wants, in parallel, reusing chunk buffers.
#[allow(clippy::too_many_arguments)]
fn philox_chunks(
    init: &Init,
    id: TensorId,
    shape: &[usize],
    dtype: DType,
    name: &str,
    seed: u64,
    overlays: &[(Range<usize>, f64)],
    sink: &dyn Sink,
) -> Result<()> {
    let pool = std::sync::Mutex::new(Vec::<Tensor>::new());
    let numel: usize = shape.iter().product();
    let size = parallel_chunk(rayon::current_num_threads(), dtype);
    sink.wanted(id, numel, size).into_par_iter().try_for_each(|(start, len)| {
        crate::cancel::check()?;
        let reused = pool.lock().ok().and_then(|mut p| p.pop()).filter(|b| b.numel() == len);
        let mut c = match reused {
            Some(b) => b,
            None => Tensor::try_zeros(&[len], dtype)?,
        };
        init.apply_range(shape, start, c.view_mut()?.data, seed, name)?;
        overlay(&mut c, start, shape, overlays)?;
        sink.put(id, start, &c)?;
        if let Ok(mut p) = pool.lock() {
            p.push(c);
        }
        Ok(())
    })
}

/// Applies `init` to a tensor of `shape` on the PyTorch stream, handing each chunk of `size`
/// elements to `sink` in order (the whole tensor at once for [`Draw::Whole`] schemes).
///
/// # Errors
/// The init's errors; a chunk too large to allocate; the sink's errors.
pub fn fill_chunks(
    init: &Init,
    shape: &[usize],
    dtype: DType,
    g: &mut Generator,
    sink: &mut dyn FnMut(usize, Cow<'_, Tensor>) -> Result<()>,
) -> Result<()> {
    fill_chunks_of(init, shape, dtype, g, CHUNK, &mut |len| Tensor::try_zeros(&[len], dtype), sink)
}

/// [`fill_chunks`] with chunks of `size` elements taken from `buffer(len)`.
fn fill_chunks_of(
    init: &Init,
    shape: &[usize],
    dtype: DType,
    g: &mut Generator,
    size: usize,
    buffer: &mut dyn FnMut(usize) -> Result<Tensor>,
    sink: &mut dyn FnMut(usize, Cow<'_, Tensor>) -> Result<()>,
) -> Result<()> {
    let n: usize = shape.iter().product();
    match init.draw(shape, dtype)? {
        Draw::Whole => {
            let mut t = Tensor::try_zeros(shape, dtype)?;
            init.apply(t.view_mut()?, g)?;
            sink(0, Cow::Owned(t))
        }
        draw => {
            for (start, len) in chunks(n, size) {
                crate::cancel::check()?;
                let mut c = buffer(len)?;
                let view = c.view_mut()?;
                crate::dispatch_mut!(view.data, |s| draw.fill(s, g));
                sink(start, Cow::Owned(c))?;
            }
            Ok(())
        }
    }
}

/// The 32-bit words PyTorch's `init` draws for a tensor of `shape`, where known without drawing
/// (uniform and block-path normal draws): `None` for rejection sampling, whole-tensor schemes
/// and `normal_` on fewer than 16 elements.
fn words(draw: &Draw, n: usize, dtype: DType) -> Option<u64> {
    let per_value = if dtype == DType::F64 { 2 } else { 1 };
    let w = match draw {
        Draw::Nothing | Draw::Fill(_) => 0,
        Draw::Uniform { .. } => n,
        // The block path: every value, plus a fresh tail block (f16/bf16: whole blocks only).
        Draw::Normal { .. } if n >= 16 => match dtype {
            DType::F16 | DType::BF16 => n.div_ceil(16) * 16,
            DType::F32 | DType::F64 => n + if n.is_multiple_of(16) { 0 } else { 16 },
        },
        Draw::Normal { .. } | Draw::Whole => return None,
    };
    Some((w * per_value) as u64)
}

/// Advances `g` past what `init` draws for a tensor of `shape`, as [`Init::apply`] would but
/// without computing values where the number of words is known (uniform and block-path normal
/// draws: the generator jumps, [`Generator::discard`]); otherwise draws and drops them.
///
/// # Errors
/// The init's errors.
pub fn skip(init: &Init, shape: &[usize], dtype: DType, g: &mut Generator) -> Result<()> {
    let n: usize = shape.iter().product();
    match words(&init.draw(shape, dtype)?, n, dtype) {
        Some(w) => {
            g.discard(w);
            Ok(())
        }
        None => fill_chunks(init, shape, dtype, g, &mut |_, _| Ok(())),
    }
}

/// The element spans to generate so that every `wanted` range `(start, len)` of a tensor of `n`
/// elements is covered, each starting on a 16-element block of `normal_` (as chunks do) and a
/// span reaching into the last 16 elements running to the end with at least one whole block;
/// overlapping or touching spans merged. `None` when the tensor is drawn whole (or all of it is
/// wanted).
fn spans(wanted: &[(usize, usize)], n: usize, draw: &Draw) -> Option<Vec<(usize, usize)>> {
    let elementwise = matches!(draw, Draw::Uniform { .. }) || matches!(draw, Draw::Normal { .. }) && n >= 16;
    if !elementwise || wanted.iter().map(|w| w.1).sum::<usize>() >= n {
        return None;
    }
    // `normal_` recomputes the last 16 elements with fresh draws when `n` is not a multiple of
    // 16: a span reaching them runs to the end.
    let (full_blocks, tail) = (n / 16 * 16, if n % 16 == 0 { n } else { n.saturating_sub(16) });
    let mut out: Vec<(usize, usize)> = Vec::new();
    for &(start, len) in wanted.iter().filter(|w| w.1 > 0) {
        let (mut lo, mut hi) = (start / 16 * 16, (start + len).div_ceil(16) * 16);
        if hi > tail {
            hi = n;
            if n % 16 != 0 {
                lo = lo.min(full_blocks.saturating_sub(16));
            }
        }
        match out.last_mut() {
            Some(last) if lo <= last.1 => last.1 = last.1.max(hi),
            _ => out.push((lo, hi)),
        }
    }
    Some(out)
}

/// [`fill_chunks_of`] for the `wanted` ranges only (the sink's, e.g. a shard's slice): the
/// words of the rest are skipped ([`Generator::discard`]), so `g` ends where generating the
/// whole tensor leaves it. Chunks cover at least the wanted ranges.
fn fill_wanted(
    init: &Init,
    shape: &[usize],
    dtype: DType,
    g: &mut Generator,
    wanted: &[(usize, usize)],
    buffer: &mut dyn FnMut(usize) -> Result<Tensor>,
    sink: &mut dyn FnMut(usize, Cow<'_, Tensor>) -> Result<()>,
) -> Result<()> {
    let n: usize = shape.iter().product();
    let draw = init.draw(shape, dtype)?;
    let (Some(spans), Some(total)) = (spans(wanted, n, &draw), words(&draw, n, dtype)) else {
        return fill_chunks_of(init, shape, dtype, g, CHUNK, buffer, sink);
    };
    let per_value = if dtype == DType::F64 { 2 } else { 1 };
    let mut used = 0u64;
    for (lo, hi) in spans {
        g.discard(lo as u64 * per_value - used);
        for (start, len) in chunks(hi - lo, CHUNK) {
            let mut c = buffer(len)?;
            let view = c.view_mut()?;
            crate::dispatch_mut!(view.data, |s| draw.fill(s, g));
            sink(lo + start, Cow::Owned(c))?;
        }
        used = if hi == n { total } else { hi as u64 * per_value };
    }
    g.discard(total - used);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The PyTorch stream gives the same values and leaves the generator in the same state
    /// whether a tensor is filled whole or in chunks, for every dtype and primitive, around
    /// every boundary case of `normal_` (fewer than 16 elements, multiples of 16, a short tail).
    #[test]
    fn chunked_fills_equal_whole_fills() {
        let inits: [Init; 4] = [
            "uniform_(-2, 3)".parse().unwrap(),
            "normal_(0.5, 2)".parse().unwrap(),
            "kaiming_uniform_(a=1)".parse().unwrap(),
            "xavier_normal_()".parse().unwrap(),
        ];
        for dtype in [DType::F32, DType::F64, DType::F16, DType::BF16] {
            for init in &inits {
                for n in [0usize, 1, 15, 16, 17, 31, 32, 33, 47, 48, 49, 100, 161, 700, 1300] {
                    let shape = [n, 1];
                    let mut whole = Tensor::zeros(&shape, dtype);
                    let mut g1 = Generator::manual_seed(7);
                    g1.random();
                    init.apply(whole.view_mut().unwrap(), &mut g1).unwrap();
                    for size in [16, 32, 48] {
                        let mut g2 = Generator::manual_seed(7);
                        g2.random();
                        let mut got = vec![0u8; whole.bytes().len()];
                        let mut sink = |start: usize, c: Cow<'_, Tensor>| {
                            let at = start * dtype.size();
                            got[at..at + c.bytes().len()].copy_from_slice(c.bytes());
                            Ok(())
                        };
                        let mut buffer = |len| Ok(Tensor::zeros(&[len], dtype));
                        fill_chunks_of(init, &shape, dtype, &mut g2, size, &mut buffer, &mut sink).unwrap();
                        assert_eq!(got, whole.bytes(), "{init} {dtype} n={n} chunk={size}");
                        assert_eq!(g2.get_rng_state(), g1.get_rng_state(), "{init} {dtype} n={n} chunk={size}");
                    }
                    let mut g3 = Generator::manual_seed(7);
                    g3.random();
                    skip(init, &shape, dtype, &mut g3).unwrap();
                    assert_eq!(g3.get_rng_state(), g1.get_rng_state(), "skip {init} {dtype} n={n}");
                }
            }
        }
    }

    /// Generating only some ranges gives the same values there, and leaves the generator where
    /// generating everything does, for every dtype, short and long tails and ranges touching the
    /// last partial block.
    #[test]
    fn wanted_ranges_equal_whole_fills() {
        let inits: [Init; 2] = ["uniform_(-2, 3)".parse().unwrap(), "normal_(0.5, 2)".parse().unwrap()];
        let cases: [(usize, &[(usize, usize)]); 9] = [
            (10, &[(3, 3)]),
            (20, &[(0, 2)]),
            (100, &[(0, 10)]),
            (100, &[(90, 10)]),
            (100, &[(40, 3), (50, 40)]),
            (161, &[(150, 11)]),
            (161, &[(3, 5), (144, 2)]),
            (64, &[(17, 30)]),
            (33, &[(20, 13)]),
        ];
        for dtype in [DType::F32, DType::F64, DType::F16, DType::BF16] {
            for init in &inits {
                for (n, wanted) in cases {
                    let mut whole = Tensor::zeros(&[n], dtype);
                    let mut g1 = Generator::manual_seed(3);
                    g1.random();
                    init.apply(whole.view_mut().unwrap(), &mut g1).unwrap();
                    let whole: Vec<u64> = whole.to_f64_vec().into_iter().map(f64::to_bits).collect();
                    let mut g2 = Generator::manual_seed(3);
                    g2.random();
                    let mut got = vec![None; n];
                    let mut sink = |start: usize, c: Cow<'_, Tensor>| {
                        for (i, v) in c.to_f64_vec().into_iter().enumerate() {
                            got[start + i] = Some(v.to_bits());
                        }
                        Ok(())
                    };
                    let mut buffer = |len| Ok(Tensor::zeros(&[len], dtype));
                    fill_wanted(init, &[n], dtype, &mut g2, wanted, &mut buffer, &mut sink).unwrap();
                    for &(s, l) in wanted {
                        for i in s..s + l {
                            assert_eq!(got[i], Some(whole[i]), "{init} {dtype} n={n} {wanted:?} at {i}");
                        }
                    }
                    assert_eq!(g2.get_rng_state(), g1.get_rng_state(), "{init} {dtype} n={n} {wanted:?}");
                }
            }
        }
    }

    #[test]
    fn chunks_keep_normal_tails_whole() {
        assert_eq!(chunks(40, 16), vec![(0, 16), (16, 24)]);
        assert_eq!(chunks(48, 16), vec![(0, 16), (16, 16), (32, 16)]);
        assert_eq!(chunks(10, 16), vec![(0, 10)]);
        assert_eq!(chunks(0, 16), vec![]);
    }
}

/// Bytes of memory available to a new allocation: `MemAvailable` + `SwapFree` from
/// `/proc/meminfo` (Linux); `None` elsewhere.
fn available_memory() -> Option<u64> {
    let info = std::fs::read_to_string("/proc/meminfo").ok()?;
    let field = |name: &str| -> Option<u64> {
        let line = info.lines().find(|l| l.starts_with(name))?;
        let kib: u64 = line[name.len()..].trim().trim_end_matches("kB").trim().parse().ok()?;
        Some(kib * 1024)
    };
    Some(field("MemAvailable:")? + field("SwapFree:").unwrap_or(0))
}
