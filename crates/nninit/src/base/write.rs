//! Writing what comes from the base checkpoint: copied tensors read piece by piece from the
//! base's files straight into the output (positioned reads, so memory stays bounded by one
//! chunk), then the new rows of grown tensors, drawn where `resize_token_embeddings` would draw
//! them on PyTorch's stream: after every other init (`from_pretrained` first, then the resize),
//! each resized layer's construction skipped (`nn.Embedding`: `normal_`; `nn.Linear`:
//! `kaiming_uniform_(a=√5)`), then its new rows drawn.

use std::borrow::Cow;

use super::{mean, Copies, Copy, Grow};
use crate::error::{Error, Result};
use crate::init::{FanMode, Init, Nonlinearity};
use crate::nn::materialize::{fill_chunks, skip, Sink, CHUNK};
use crate::nn::Model;
use crate::rng::Philox;
use crate::sample::Generator;
use crate::tensor::{DType, Data, Tensor};

/// Where the new rows' random numbers come from.
pub enum Draws<'a> {
    /// PyTorch's generator, where the model's inits left it.
    Torch(&'a mut Generator),
    /// The counter-based stream with this seed, keyed by each tensor's name.
    Philox(u64),
}

/// Writes every tensor of `copies` to `sink`: copied tensors (and the old rows of grown ones)
/// from the base, chunk by chunk; then the new rows of each grown tensor from `draws` (see the
/// module docs). `names` gives each tensor's `state_dict` name (which keys the counter-based
/// stream).
///
/// # Errors
/// I/O errors reading the base; the sink's errors; an init's errors.
pub fn write(
    copies: &Copies,
    model: &Model,
    names: &dyn Fn(crate::nn::TensorId) -> String,
    sink: &dyn Sink,
    mut draws: Draws<'_>,
) -> Result<()> {
    for copy in &copies.tensors {
        let t = model.tensor(copy.id);
        let shape = t.shape().to_vec();
        let name = names(copy.id);
        let row = shape.iter().skip(1).product::<usize>();
        let copied = if copy.grow.is_some() { copy.rows * row } else { t.numel() };
        stream_copy(copies, copy, t.safetensors_dtype(), copied, sink).map_err(|e| e.at(&name, &shape))?;
        if let Some((grow, embedding)) = &copy.grow {
            let dtype = t.dtype().ok_or_else(|| Error::value("only float tensors grow"))?;
            let new = NewRows { copy, shape: &shape, dtype, name: &name, embedding: *embedding };
            new.write(copies, grow, &mut draws, sink).map_err(|e| e.at(&name, &shape))?;
        }
    }
    Ok(())
}

/// Copies elements `[0, n)` of `copy`'s tensor from the base to the sink, [`CHUNK`] at a time.
fn stream_copy(copies: &Copies, copy: &Copy, dtype: safetensors::Dtype, n: usize, sink: &dyn Sink) -> Result<()> {
    let bits = dtype.bitsize();
    let mut start = 0;
    while start < n || (n == 0 && start == 0) {
        crate::cancel::check()?;
        let len = CHUNK.min(n - start);
        let mut buf = vec![0u8; (len * bits).div_ceil(8)];
        copies.source.read_at(&copy.name, start * bits / 8, &mut buf)?;
        let chunk = match DType::from_safetensors(dtype) {
            Some(d) => Tensor::from_le_bytes(&[len], d, &buf)?,
            None => Tensor::new(&[len], Data::Other { dtype, bytes: buf })?,
        };
        sink.put(copy.id, start, &chunk)?;
        if n == 0 {
            break;
        }
        start += len;
    }
    Ok(())
}

/// The new rows of one grown tensor.
struct NewRows<'a> {
    copy: &'a Copy,
    shape: &'a [usize],
    dtype: DType,
    name: &'a str,
    embedding: bool,
}

impl NewRows<'_> {
    /// Elements per row.
    fn row(&self) -> usize {
        self.shape[1..].iter().product()
    }

    /// First element of the new rows.
    fn first(&self) -> usize {
        self.copy.rows * self.row()
    }

    fn write(&self, copies: &Copies, grow: &Grow, draws: &mut Draws<'_>, sink: &dyn Sink) -> Result<()> {
        if let Draws::Torch(g) = draws {
            // The resized layer's construction.
            let constructed = match self.embedding {
                true => Init::Normal { mean: 0.0, std: 1.0 },
                false => {
                    Init::KaimingUniform { a: 5f64.sqrt(), mode: FanMode::FanIn, nonlinearity: Nonlinearity::LeakyRelu }
                }
            };
            skip(&constructed, self.shape, self.dtype, g)?;
        }
        match grow {
            Grow::Plan(init) => self.plan(init, draws, sink),
            Grow::Mean => self.mean_resized(copies, draws, sink),
        }
    }

    /// The tensor's init drawn over the whole grown shape, its new rows kept (`_init_weights` of
    /// the new layer, whose old rows are then overwritten).
    fn plan(&self, init: &Init, draws: &mut Draws<'_>, sink: &dyn Sink) -> Result<()> {
        let first = self.first();
        let mut keep = |start: usize, chunk: Cow<'_, Tensor>| -> Result<()> {
            let end = start + chunk.numel();
            if end <= first {
                return Ok(());
            }
            let skip = first.saturating_sub(start);
            let size = self.dtype.size();
            let part = Tensor::from_le_bytes(&[end - start - skip], self.dtype, &chunk.bytes()[skip * size..])?;
            sink.put(self.copy.id, start + skip, &part)
        };
        match draws {
            Draws::Torch(g) => fill_chunks(init, self.shape, self.dtype, g, &mut keep),
            Draws::Philox(seed) => {
                let mut whole = Tensor::try_zeros(self.shape, self.dtype)?;
                init.apply(whole.view_mut()?, &mut Philox::new(*seed, self.name))?;
                keep(0, Cow::Owned(whole))
            }
        }
    }

    /// `mean_resizing` ([`mean`]): two passes over the old rows (mean, then covariance), then
    /// `N(0, 1)` float32 draws for the new rows (`MultivariateNormal.sample`) when the scaled
    /// covariance is positive definite.
    fn mean_resized(&self, copies: &Copies, draws: &mut Draws<'_>, sink: &dyn Sink) -> Result<()> {
        let (row, old) = (self.row(), self.copy.rows);
        mean::check_rows(self.name, old)?;
        let mut moments = mean::Moments::new(row);
        self.old_rows(copies, &mut |block| moments.add_to_mean(block))?;
        self.old_rows(copies, &mut |block| moments.add_to_covariance(block))?;
        let tril = mean::scale_tril(&moments.covariance());
        let added = self.shape[0] - old;
        let mut z = Tensor::try_zeros(&[added, row], DType::F32)?;
        if tril.is_some() {
            let standard = Init::Normal { mean: 0.0, std: 1.0 };
            match draws {
                Draws::Torch(g) => standard.apply(z.view_mut()?, *g)?,
                Draws::Philox(seed) => {
                    standard.apply(z.view_mut()?, &mut Philox::new(*seed, &format!("{}@mean_resizing", self.name)))?
                }
            }
        }
        let z: Vec<f32> = z.to_f64_vec().into_iter().map(|v| v as f32).collect();
        let rows = Tensor::from_f32(&[added * row], mean::sample(&moments.mean(), tril.as_ref(), &z))?;
        sink.put(self.copy.id, self.first(), &rows.to_dtype(self.dtype))
    }

    /// Hands the old rows to `f` as f64 values, in blocks of whole rows.
    fn old_rows(&self, copies: &Copies, f: &mut dyn FnMut(&[f64])) -> Result<()> {
        let (row, size) = (self.row(), self.dtype.size());
        let per_block = (CHUNK / row.max(1)).max(1);
        let mut r = 0;
        while r < self.copy.rows {
            crate::cancel::check()?;
            let n = per_block.min(self.copy.rows - r);
            let mut buf = vec![0u8; n * row * size];
            copies.source.read_at(&self.copy.name, r * row * size, &mut buf)?;
            f(&Tensor::from_le_bytes(&[n * row], self.dtype, &buf)?.to_f64_vec());
            r += n;
        }
        Ok(())
    }
}
