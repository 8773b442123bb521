//! `Generator`: PyTorch's CPU generator (MT19937 + the Box–Muller cache).

use crate::rng::Mt19937;

/// Which of PyTorch's CPU kernels to reproduce.
///
/// PyTorch 2.15 dispatches its `uniform_`/`normal_` kernels by CPU capability. On x86-64 hosts
/// with AVX2 (and AVX-512, which falls back to the AVX2 kernels) the multiply-add of `uniform_` is
/// fused and `normal_` uses vectorised `log`/`sincos`; the `default` kernel (no AVX2, or
/// `ATEN_CPU_CAPABILITY=default`) rounds twice in `uniform_` and calls glibc `logf`/`sincosf`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Capability {
    /// AVX2 / AVX-512 hosts: PyTorch's behaviour on every current x86-64 machine.
    #[default]
    Avx2,
    /// PyTorch's portable kernel (`ATEN_CPU_CAPABILITY=default`).
    Default,
}

/// PyTorch's CPU random generator: `torch.manual_seed(seed)` / `torch.Generator().manual_seed(seed)`.
///
/// State: an MT19937 stream plus the cached second Box–Muller sample of PyTorch's scalar normal
/// path (`next_double_normal`). Every init function takes `&mut Generator`, and the state carries
/// across calls exactly as PyTorch's does: initializing two tensors one after another equals doing
/// the same in PyTorch.
#[derive(Clone, Debug)]
pub struct Generator {
    mt: Mt19937,
    /// Words skipped and not yet applied: consecutive skips (the rest of one tensor, the start of
    /// the next) become one jump.
    pending: u64,
    seed: u64,
    pub(crate) next_double_normal: Option<f64>,
    capability: Capability,
}

impl Generator {
    /// `torch.manual_seed(seed)`: the low 32 bits seed MT19937 (seeds differing only in the high
    /// 32 bits give the same stream, as in PyTorch); the Box–Muller cache is cleared. A negative
    /// Python seed `s` corresponds to `s as u64` (mod 2^64), like PyTorch.
    pub fn manual_seed(seed: u64) -> Self {
        Generator { mt: Mt19937::new(seed), pending: 0, seed, next_double_normal: None, capability: Capability::Avx2 }
    }

    /// The same generator reproducing the given CPU kernel family (default: [`Capability::Avx2`]).
    pub fn with_capability(mut self, capability: Capability) -> Self {
        self.capability = capability;
        self
    }

    /// The kernel family this generator's samplers reproduce.
    pub fn capability(&self) -> Capability {
        self.capability
    }

    /// The seed given to [`Generator::manual_seed`] (`torch.initial_seed()`).
    pub fn initial_seed(&self) -> u64 {
        self.seed
    }

    /// `random()`: the next 32-bit output.
    #[inline]
    pub fn random(&mut self) -> u32 {
        if self.pending != 0 {
            self.flush();
        }
        self.mt.next_u32()
    }

    /// `random64()`: two outputs, the first one as the high half.
    #[inline]
    pub fn random64(&mut self) -> u64 {
        let hi = self.random() as u64;
        let lo = self.random() as u64;
        (hi << 32) | lo
    }

    /// Fills `out` with consecutive `random()` outputs.
    pub fn fill_u32(&mut self, out: &mut [u32]) {
        self.flush();
        self.mt.fill_u32(out);
    }

    /// Advances the stream past `k` 32-bit words (as `k` calls of [`Generator::random`]) without
    /// computing them: applied at the next draw, consecutive skips together, by running the
    /// state twists or, for long skips, jumping ahead ([`Mt19937::discard`]). The Box–Muller
    /// cache is untouched (as in PyTorch, where drawing words does not touch it).
    ///
    /// ```
    /// let (mut a, mut b) = (nninit::Generator::manual_seed(0), nninit::Generator::manual_seed(0));
    /// a.discard(1 << 30);
    /// a.discard(5);
    /// b.discard((1 << 30) + 5);
    /// assert_eq!(a.random(), b.random());
    /// ```
    pub fn discard(&mut self, k: u64) {
        self.pending += k;
    }

    fn flush(&mut self) {
        self.mt.discard(std::mem::take(&mut self.pending));
    }

    /// `torch.get_rng_state()`: PyTorch's 5056-byte little-endian serialization
    /// (`u64 seed | i32 left | i32 seeded | u64 next | u64 state[624] | f64 normal_x | f64 normal_y |
    /// f64 normal_rho | i32 normal_is_valid | pad | f32 next_float_normal | u8 valid | pad`).
    pub fn get_rng_state(&self) -> Vec<u8> {
        let mut mt = self.mt.clone();
        mt.discard(self.pending);
        let (left, next, state) = mt.raw();
        let mut b = Vec::with_capacity(5056);
        b.extend_from_slice(&self.seed.to_le_bytes());
        b.extend_from_slice(&(left as i32).to_le_bytes());
        b.extend_from_slice(&1i32.to_le_bytes());
        b.extend_from_slice(&(next as u64).to_le_bytes());
        for &w in state.iter() {
            b.extend_from_slice(&(w as u64).to_le_bytes());
        }
        b.extend_from_slice(&0f64.to_le_bytes());
        b.extend_from_slice(&self.next_double_normal.unwrap_or(0.0).to_le_bytes());
        b.extend_from_slice(&0f64.to_le_bytes());
        b.extend_from_slice(&(self.next_double_normal.is_some() as i32).to_le_bytes());
        b.extend_from_slice(&[0u8; 4]);
        b.extend_from_slice(&0f32.to_le_bytes());
        b.extend_from_slice(&[0u8; 4]);
        b
    }
}

impl Default for Generator {
    /// `torch.Generator()`: seed 67280421310721.
    fn default() -> Self {
        Generator::manual_seed(67_280_421_310_721)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A skip (jumping or walking) leaves the cached Box–Muller sample in place, as drawing the
    /// skipped words would: the next scalar normal is the cached one, the one after it comes
    /// from the words after the skip.
    #[test]
    fn skips_keep_the_box_muller_cache() {
        for k in [0usize, 7, 624, 100_000, (1 << 24) + 3] {
            let mut a = Generator::manual_seed(11);
            crate::sample::normal::scalar_normal(&mut a);
            assert!(a.next_double_normal.is_some());
            let mut b = a.clone();
            a.discard(k as u64);
            b.fill_u32(&mut vec![0; k]);
            assert_eq!(a.get_rng_state(), b.get_rng_state(), "{k}");
            for _ in 0..3 {
                let (x, y) =
                    (crate::sample::normal::scalar_normal(&mut a), crate::sample::normal::scalar_normal(&mut b));
                assert_eq!(x.to_bits(), y.to_bits(), "{k}");
            }
            assert_eq!(a.random(), b.random());
        }
    }
}
