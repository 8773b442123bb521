//! Generating a model's tensors straight into a checkpoint, chunk by chunk.
//!
//! A model on the meta device ([`crate::nn::meta`]) holds no values, only each tensor's recorded
//! inits. Here they become values, a chunk of at most [`CHUNK`] elements at a time, each written
//! to its place in the file as soon as it exists, so memory stays bounded by a few chunks (and,
//! for schemes that need a whole tensor, by the largest such tensor) whatever the model's size.
//!
//! * PyTorch stream: the recorded inits are replayed in order on one generator. Only a tensor's
//!   last init is kept; earlier ones (the layers' defaults that a plan overwrites) are drawn and
//!   dropped, so the stream stays where PyTorch's would be. Chunking does not change a value
//!   (see [`crate::init::Draw`]).
//! * Philox: every tensor's last init is generated from `(seed, name)` alone, its chunks in
//!   parallel.
//!
//! Tensors that hold values (an ordinary model, or buffers read from a checkpoint) are written as
//! they are.

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use rayon::prelude::*;

use crate::error::{Error, Result};
use crate::init::{Draw, Init};
use crate::io::Writer;
use crate::job::{RngKind, Shard};
use crate::nn::{Model, TensorId};
use crate::rng::{Generator, Philox};
use crate::stats::Stats;
use crate::tensor::{DType, Tensor};

/// Elements per chunk: 4 Mi (16 MiB of f32), a multiple of `normal_`'s 16-element block.
pub const CHUNK: usize = 1 << 22;

/// Bytes of chunks in flight at once when chunks are generated in parallel (Philox): each of the
/// pool's threads gets a share, so memory does not grow with the thread count.
const IN_FLIGHT: usize = 192 << 20;

/// Elements per chunk for `threads` workers generating `dtype` (a chunk, its converted copy and
/// the buffer being refilled per thread): [`CHUNK`] at most, 64 Ki at least.
fn parallel_chunk(threads: usize, dtype: DType) -> usize {
    (IN_FLIGHT / (3 * threads.max(1) * dtype.size().max(4))).clamp(1 << 16, CHUNK) & !63
}

/// The chunks `(start, len)` of a tensor of `n` elements: `size`-sized (a multiple of 16), the
/// last one merged into its predecessor when shorter than 16 (so `normal_`'s tail block stays in
/// one chunk).
pub fn chunks(n: usize, size: usize) -> Vec<(usize, usize)> {
    let mut out: Vec<(usize, usize)> = (0..n).step_by(size).map(|s| (s, size.min(n - s))).collect();
    if out.len() >= 2 && out[out.len() - 1].1 < 16 {
        let (_, tail) = out.pop().unwrap_or_default();
        if let Some(last) = out.last_mut() {
            last.1 += tail;
        }
    }
    out
}

/// One tensor to write: its place in the file, how it is written (dtype, shard slice), the
/// rows to zero, and the statistics of what was written.
pub(crate) struct Target {
    /// Index in the writer's layout.
    pub index: usize,
    /// `state_dict` name (the first, for tied tensors); keys the Philox stream.
    pub name: String,
    /// The full shape.
    pub shape: Vec<usize>,
    /// The dtype written (float tensors).
    pub out_dtype: Option<DType>,
    /// Rows (of dim 0) set to zero after the init.
    pub zeroed_rows: Vec<usize>,
    /// The slice kept.
    pub shard: Option<Shard>,
    stats: Mutex<Vec<(usize, Stats)>>,
}

impl Target {
    /// A target; see the fields.
    pub fn new(
        index: usize,
        name: String,
        shape: Vec<usize>,
        out_dtype: Option<DType>,
        zeroed_rows: Vec<usize>,
        shard: Option<Shard>,
    ) -> Self {
        Target { index, name, shape, out_dtype, zeroed_rows, shard, stats: Mutex::new(Vec::new()) }
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
    /// model's dtype): zeroes recorded rows, converts to the output dtype, keeps the shard's part.
    fn put(&self, w: &Writer, start: usize, chunk: Cow<'_, Tensor>, done: &AtomicU64) -> Result<()> {
        let mut chunk = chunk;
        let end = start + chunk.numel();
        let width = self.shape.iter().skip(1).product::<usize>();
        for &r in &self.zeroed_rows {
            let (lo, hi) = ((r * width).max(start), ((r + 1) * width).min(end));
            if lo < hi {
                let t = chunk.to_mut();
                let view = t.view_mut()?;
                crate::dispatch_mut!(view.data, |s| s[lo - start..hi - start]
                    .fill(crate::tensor::Element::from_f64(0.0)));
            }
        }
        if let Some(d) = self.out_dtype.filter(|&d| chunk.dtype().is_some_and(|c| c != d)) {
            chunk = Cow::Owned(chunk.to_dtype(d));
        }
        let bits = chunk.safetensors_dtype().bitsize();
        let bytes = chunk.bytes();
        for (lo, hi, out) in self.kept(start, end) {
            if let Some(s) = Stats::of_range(&chunk, lo - start..hi - start) {
                self.stats.lock().map_err(|_| Error::value("poisoned"))?.push((out, s));
            }
            let piece = &bytes[(lo - start) * bits / 8..(hi - start) * bits / 8];
            w.write_at(self.index, (out * bits / 8) as u64, piece)?;
            done.fetch_add(piece.len() as u64, Ordering::Relaxed);
        }
        Ok(())
    }

    /// Statistics of everything written (float tensors), merged in element order.
    pub fn stats(&self) -> Option<Stats> {
        let mut parts = self.stats.lock().ok()?.clone();
        parts.sort_by_key(|(at, _)| *at);
        parts.into_iter().map(|(_, s)| s).reduce(Stats::merge)
    }
}

/// Generates and writes every target of `model` (keyed by tensor), calling
/// `progress(bytes_written, total_bytes)` as chunks land.
///
/// # Errors
/// An init's error, with the tensor's name and shape; I/O errors.
pub(crate) fn generate(
    model: &Model,
    targets: &HashMap<TensorId, Target>,
    rng: RngKind,
    seed: u64,
    w: &Writer,
    progress: &(dyn Fn(u64, u64) + Sync),
) -> Result<()> {
    let done = AtomicU64::new(0);
    let total = w.data_bytes();
    let put = |t: &Target, start: usize, chunk: Cow<'_, Tensor>| -> Result<()> {
        t.put(w, start, chunk, &done)?;
        progress(done.load(Ordering::Relaxed), total);
        Ok(())
    };
    let mut ids: Vec<&TensorId> = targets.keys().collect();
    ids.sort();
    let last_event: HashMap<TensorId, usize> = model.events().iter().enumerate().map(|(i, e)| (e.tensor, i)).collect();
    // Tensors with values, and meta tensors nothing was recorded for (zeros, as constructed).
    for id in &ids {
        let (t, target) = (model.tensor(**id), &targets[*id]);
        if !t.is_meta() {
            put(target, 0, Cow::Borrowed(t))?;
        } else if !last_event.contains_key(*id) {
            let dtype = t.dtype().unwrap_or(DType::F32);
            fill_chunks(&Init::Zeros, t.shape(), dtype, &mut Generator::default(), &mut |s, c| put(target, s, c))?;
        }
    }
    match rng {
        RngKind::Torch => {
            // One thread draws (its transforms run on the pool); another writes the chunks
            // (zeroed rows, dtype, statistics, the file), two chunks in flight at most.
            let (tx, rx) = std::sync::mpsc::sync_channel::<(&Target, usize, Tensor)>(2);
            // Written chunks come back to be filled again: no allocation per chunk.
            let (back, returned) = std::sync::mpsc::channel::<Tensor>();
            std::thread::scope(|scope| {
                let writer = scope.spawn(move || {
                    rx.iter().try_for_each(|(t, start, c)| {
                        put(t, start, Cow::Borrowed(&c))?;
                        let _ = back.send(c);
                        Ok(())
                    })
                });
                let drawn = (|| {
                    let mut g = Generator::manual_seed(seed);
                    for (i, e) in model.events().iter().enumerate() {
                        let t = model.tensor(e.tensor);
                        let (shape, dtype) = (t.shape().to_vec(), t.dtype().unwrap_or(DType::F32));
                        let target = targets.get(&e.tensor).filter(|_| last_event[&e.tensor] == i);
                        let mut buffer = |len: usize| match returned.try_recv() {
                            Ok(b) if b.numel() == len && b.dtype() == Some(dtype) => Ok(b),
                            _ => Tensor::try_zeros(&[len], dtype),
                        };
                        let result = match target {
                            Some(target) => {
                                fill_chunks_of(&e.init, &shape, dtype, &mut g, CHUNK, &mut buffer, &mut |s, c| {
                                    // A closed channel means the writer failed: its error is reported.
                                    tx.send((target, s, c.into_owned())).or(Ok(()))
                                })
                            }
                            None => skip(&e.init, &shape, dtype, &mut g),
                        };
                        result.map_err(|err| match targets.get(&e.tensor) {
                            Some(t) => err.at(&t.name, &shape),
                            None => err,
                        })?;
                    }
                    Ok(())
                })();
                drop(tx);
                let written = writer.join().unwrap_or_else(|_| Err(Error::value("the writer thread panicked")));
                drawn.and(written)
            })?;
        }
        RngKind::Philox => {
            for id in ids.iter().filter(|id| last_event.contains_key(**id)) {
                let target = &targets[*id];
                let e = &model.events()[last_event[*id]];
                let dtype = model.tensor(**id).dtype().unwrap_or(DType::F32);
                philox_fill(&e.init, target, dtype, seed, &put).map_err(|err| err.at(&target.name, &target.shape))?;
            }
        }
    }
    Ok(())
}

/// Applies `init` to a tensor of `shape` on the PyTorch stream, handing each chunk to `sink` in
/// order (the whole tensor at once for [`Draw::Whole`] schemes).
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
                let mut c = buffer(len)?;
                let view = c.view_mut()?;
                crate::dispatch_mut!(view.data, |s| draw.fill(s, g));
                sink(start, Cow::Owned(c))?;
            }
            Ok(())
        }
    }
}

/// Advances `g` past what `init` draws for a tensor of `shape`, as [`Init::apply`] would but
/// without computing values where the number of words is known (uniform and block-path normal
/// draws); otherwise draws and drops them.
pub fn skip(init: &Init, shape: &[usize], dtype: DType, g: &mut Generator) -> Result<()> {
    let n: usize = shape.iter().product();
    let per_value = if dtype == DType::F64 { 2 } else { 1 };
    let words = match init.draw(shape, dtype)? {
        Draw::Nothing | Draw::Fill(_) => Some(0),
        Draw::Uniform { .. } => Some(n),
        // The block path: every value, plus a fresh tail block (f16/bf16: whole blocks only).
        Draw::Normal { .. } if n >= 16 => Some(match dtype {
            DType::F16 | DType::BF16 => n.div_ceil(16) * 16,
            DType::F32 | DType::F64 => n + if n.is_multiple_of(16) { 0 } else { 16 },
        }),
        Draw::Normal { .. } | Draw::Whole => None,
    };
    match words {
        Some(w) => {
            g.discard((w * per_value) as u64);
            Ok(())
        }
        None => fill_chunks(init, shape, dtype, g, &mut |_, _| Ok(())),
    }
}

/// Generates a tensor's `init` on the counter-based stream keyed by its name: elementwise schemes
/// chunk by chunk in parallel (only the shard's part), others whole.
fn philox_fill(
    init: &Init,
    target: &Target,
    dtype: DType,
    seed: u64,
    put: &(dyn Fn(&Target, usize, Cow<'_, Tensor>) -> Result<()> + Sync),
) -> Result<()> {
    if init.draw(&target.shape, dtype)? == Draw::Whole {
        let mut t = Tensor::try_zeros(&target.shape, dtype)?;
        init.apply(t.view_mut()?, &mut Philox::new(seed, &target.name))?;
        return put(target, 0, Cow::Owned(t));
    }
    // Chunk buffers are reused (one per thread at most), not allocated and zeroed each time.
    let pool = Mutex::new(Vec::<Tensor>::new());
    let size = parallel_chunk(rayon::current_num_threads(), dtype);
    target.kept_chunks(size).into_par_iter().try_for_each(|(start, len)| {
        let reused = pool.lock().ok().and_then(|mut p| p.pop()).filter(|b| b.numel() == len);
        let mut c = match reused {
            Some(b) => b,
            None => Tensor::try_zeros(&[len], dtype)?,
        };
        init.apply_range(&target.shape, start, c.view_mut()?.data, seed, &target.name)?;
        put(target, start, Cow::Borrowed(&c))?;
        if let Ok(mut p) = pool.lock() {
            p.push(c);
        }
        Ok(())
    })
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

    /// The kept runs of any element range, against a brute-force walk over every element.
    #[test]
    fn kept_runs_map_every_element_to_its_place_in_the_shard() {
        for (shape, dim, world) in
            [(vec![4, 6], 1, 3), (vec![5, 3, 4], 1, 2), (vec![7, 5], 0, 3), (vec![2, 3, 5], 2, 4)]
        {
            for rank in 0..world {
                let shard = Shard { rank, world, dim };
                let t = Target::new(0, "w".into(), shape.clone(), Some(DType::F32), vec![], Some(shard));
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

    #[test]
    fn chunks_keep_normal_tails_whole() {
        assert_eq!(chunks(40, 16), vec![(0, 16), (16, 24)]);
        assert_eq!(chunks(48, 16), vec![(0, 16), (16, 16), (32, 16)]);
        assert_eq!(chunks(10, 16), vec![(0, 10)]);
        assert_eq!(chunks(0, 16), vec![]);
    }
}
