//! Philox4x32-10 (Salmon et al. 2011, "Parallel random numbers: as easy as 1, 2, 3"): a
//! counter-based generator. Every output is a pure function of (key, counter), so any element of
//! any tensor can be computed alone, in any order, on any thread.

pub(crate) const M0: u32 = 0xD251_1F53;
pub(crate) const M1: u32 = 0xCD9E_8D57;
pub(crate) const W0: u32 = 0x9E37_79B9;
pub(crate) const W1: u32 = 0xBB67_AE85;

#[inline(always)]
fn round(c: [u32; 4], k: [u32; 2]) -> [u32; 4] {
    let p0 = M0 as u64 * c[0] as u64;
    let p1 = M1 as u64 * c[2] as u64;
    [(p1 >> 32) as u32 ^ c[1] ^ k[0], p1 as u32, (p0 >> 32) as u32 ^ c[3] ^ k[1], p0 as u32]
}

/// One Philox4x32-10 block: 4 random words for `counter` under `key` (Random123's
/// `philox4x32(ctr, key)` with 10 rounds).
#[inline(always)]
pub fn philox4x32_10(counter: [u32; 4], key: [u32; 2]) -> [u32; 4] {
    let mut c = round(counter, key);
    let mut k = key;
    for _ in 1..10 {
        k = [k[0].wrapping_add(W0), k[1].wrapping_add(W1)];
        c = round(c, k);
    }
    c
}

/// `L` consecutive blocks, counters `first + 0..L` in words 0–1 and `rest` in words 2–3,
/// lane-major: `out[w][b]` is word `w` of block `b`. The same values as `L` [`philox4x32_10`]
/// calls, written so the compiler runs them in SIMD lanes.
#[inline(always)]
pub fn philox4x32_10_lanes<const L: usize>(first: u64, rest: [u32; 2], key: [u32; 2]) -> [[u32; L]; 4] {
    let counter = |b: usize| first.wrapping_add(b as u64);
    let mut c = [
        std::array::from_fn(|b| counter(b) as u32),
        std::array::from_fn(|b| (counter(b) >> 32) as u32),
        [rest[0]; L],
        [rest[1]; L],
    ];
    let mut k = key;
    for r in 0..10 {
        if r > 0 {
            k = [k[0].wrapping_add(W0), k[1].wrapping_add(W1)];
        }
        let mut n = [[0u32; L]; 4];
        for b in 0..L {
            let p0 = M0 as u64 * c[0][b] as u64;
            let p1 = M1 as u64 * c[2][b] as u64;
            n[0][b] = (p1 >> 32) as u32 ^ c[1][b] ^ k[0];
            n[1][b] = p1 as u32;
            n[2][b] = (p0 >> 32) as u32 ^ c[3][b] ^ k[1];
            n[3][b] = p0 as u32;
        }
        c = n;
    }
    c
}

/// SplitMix64's finalizer: spreads the bits of `x` (Steele et al. 2014).
fn mix64(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

/// FNV-1a over the path's bytes: a stable (platform- and version-independent) hash.
fn fnv1a64(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xCBF2_9CE4_8422_2325, |h, &b| (h ^ b as u64).wrapping_mul(0x0000_0100_0000_01B3))
}

/// A counter-based stream for one tensor: Philox4x32-10 keyed by (seed, parameter path).
///
/// Element `i` of the `d`-th draw from the stream (each call of a sampler is one draw: a
/// rejection round, the acceptance uniforms, a permutation) uses counter
/// `[block(i) low, block(i) high, d, tag]`, so the values do not depend on the thread count, on
/// the order tensors are initialized in, or on other tensors. `offset` is the global index of
/// the first element a fill writes (non-zero for a shard of a tensor).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Philox {
    key: [u32; 2],
    pub(crate) offset: u64,
    pub(crate) draw: u32,
}

impl Philox {
    /// The stream for `path` (a dotted `state_dict` name; `""` for a lone tensor) under `seed`.
    pub fn new(seed: u64, path: &str) -> Self {
        let k = mix64(seed ^ mix64(fnv1a64(path.as_bytes())));
        Philox { key: [k as u32, (k >> 32) as u32], offset: 0, draw: 0 }
    }

    /// The same stream, writing elements from global index `offset` on (for shards).
    pub fn with_offset(mut self, offset: u64) -> Self {
        self.offset = offset;
        self
    }

    /// The key.
    pub fn key(&self) -> [u32; 2] {
        self.key
    }

    /// Blocks `first..first + L` of the current draw for purpose `tag`, lane-major (see
    /// [`philox4x32_10_lanes`]).
    #[inline(always)]
    pub(crate) fn blocks<const L: usize>(&self, first: u64, tag: u32) -> [[u32; L]; 4] {
        philox4x32_10_lanes::<L>(first, [self.draw, tag], self.key)
    }

    /// The 4 words of block `block` of the current draw, for purpose `tag`.
    #[inline(always)]
    pub(crate) fn block(&self, block: u64, tag: u32) -> [u32; 4] {
        philox4x32_10([block as u32, (block >> 32) as u32, self.draw, tag], self.key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn random123_known_answers() {
        assert_eq!(philox4x32_10([0; 4], [0; 2]), [0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8]);
        assert_eq!(philox4x32_10([u32::MAX; 4], [u32::MAX; 2]), [0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd]);
        assert_eq!(
            philox4x32_10([0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344], [0xa4093822, 0x299f31d0]),
            [0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1]
        );
    }

    #[test]
    fn eight_blocks_at_once_equal_eight_calls() {
        let key = [0x1234_5678, 0x9abc_def0];
        for first in [0u64, 5, u32::MAX as u64 - 3] {
            let x8 = philox4x32_10_lanes::<8>(first, [4, 5], key);
            for b in 0..8u32 {
                let c = first + b as u64;
                let one = philox4x32_10([c as u32, (c >> 32) as u32, 4, 5], key);
                assert_eq!([x8[0][b as usize], x8[1][b as usize], x8[2][b as usize], x8[3][b as usize]], one);
            }
        }
    }

    #[test]
    fn keys_depend_on_seed_and_path() {
        assert_ne!(Philox::new(0, "a.weight").key(), Philox::new(0, "b.weight").key());
        assert_ne!(Philox::new(0, "a.weight").key(), Philox::new(1, "a.weight").key());
        assert_eq!(Philox::new(7, "a.weight"), Philox::new(7, "a.weight"));
    }
}
