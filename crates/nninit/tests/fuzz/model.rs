//! What every property checks of a model a parser built: each tensor's size is addressable (a
//! size that overflows must have been refused), and small models materialize without a panic.

use nninit::nn::Model;
use nninit::rng::Stream;

/// Models of at most this many elements are materialized (larger ones stay recipes).
pub const MATERIALIZE_LIMIT: usize = 20_000;

/// One model in this many is materialized (drawing runs a writer thread per model: most of a
/// case's time), on PyTorch's stream or, one in two, on Philox.
pub const MATERIALIZE_EVERY: u64 = 16;

/// Checks `model`'s shapes, then, for one `seed` in [`MATERIALIZE_EVERY`], materializes it if it
/// is small.
pub fn check_model(model: &mut Model, seed: u64) {
    let mut total: usize = 0;
    for (name, id) in model.state_dict() {
        let tensor = model.tensor(id);
        let shape = tensor.shape().to_vec();
        let size = tensor.dtype().map_or(8, |d| d.size());
        let numel = shape.iter().try_fold(1usize, |a, &d| a.checked_mul(d));
        let bytes = numel.and_then(|n| n.checked_mul(size)).filter(|&b| b <= isize::MAX as usize);
        assert!(bytes.is_some(), "tensor `{name}` of shape {shape:?} was accepted but cannot be addressed");
        total = total.saturating_add(numel.unwrap_or(usize::MAX));
    }
    if seed % MATERIALIZE_EVERY == 0 && total <= MATERIALIZE_LIMIT && model.len() <= 2_000 {
        let stream = if seed % (2 * MATERIALIZE_EVERY) == 0 { Stream::Philox } else { Stream::Torch };
        // Errors (an init refusing a dtype, say) are fine; panics are not.
        let _ = model.materialize(stream, seed);
    }
}
