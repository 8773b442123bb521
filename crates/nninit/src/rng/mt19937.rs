//! MT19937, exactly as PyTorch's CPU generator (`at::mt19937`, `init_genrand` seeding).

const N: usize = 624;
const M: usize = 397;
const MATRIX_A: u32 = 0x9908_B0DF;
const UPPER_MASK: u32 = 0x8000_0000;
const LOWER_MASK: u32 = 0x7FFF_FFFF;

/// The 32-bit Mersenne Twister of Matsumoto & Nishimura (1998), seeded like PyTorch:
/// only the low 32 bits of the seed are used (`std::mt19937(seed as u32)`).
#[derive(Clone, Debug)]
pub struct Mt19937 {
    state: [u32; N],
    left: usize,
    next: usize,
}

impl Mt19937 {
    /// Seeds with `init_genrand(seed & 0xFFFF_FFFF)`.
    pub fn new(seed: u64) -> Self {
        let mut state = [0u32; N];
        state[0] = seed as u32;
        for j in 1..N {
            let prev = state[j - 1];
            state[j] = 1_812_433_253u32.wrapping_mul(prev ^ (prev >> 30)).wrapping_add(j as u32);
        }
        Mt19937 { state, left: 1, next: 0 }
    }

    fn twist(&mut self) {
        let st = &mut self.state;
        let mix = |a: u32, b: u32, c: u32| {
            let y = (a & UPPER_MASK) | (b & LOWER_MASK);
            c ^ (y >> 1) ^ if b & 1 != 0 { MATRIX_A } else { 0 }
        };
        for i in 0..N - M {
            st[i] = mix(st[i], st[i + 1], st[i + M]);
        }
        for i in N - M..N - 1 {
            st[i] = mix(st[i], st[i + 1], st[i + M - N]);
        }
        st[N - 1] = mix(st[N - 1], st[0], st[M - 1]);
        self.left = N;
        self.next = 0;
    }

    #[inline(always)]
    fn temper(mut y: u32) -> u32 {
        y ^= y >> 11;
        y ^= (y << 7) & 0x9D2C_5680;
        y ^= (y << 15) & 0xEFC6_0000;
        y ^ (y >> 18)
    }

    /// The next tempered 32-bit output.
    #[inline]
    pub fn next_u32(&mut self) -> u32 {
        self.left -= 1;
        if self.left == 0 {
            self.twist();
        }
        let y = self.state[self.next];
        self.next += 1;
        Self::temper(y)
    }

    /// Fills `out` with consecutive outputs (the same as calling [`Mt19937::next_u32`] in a
    /// loop), a whole block of the state at a time.
    pub fn fill_u32(&mut self, out: &mut [u32]) {
        let mut pos = 0;
        while pos < out.len() {
            // `left − 1` outputs remain before the next twist.
            if self.left <= 1 {
                self.twist();
                self.left = N + 1;
            }
            let take = (self.left - 1).min(out.len() - pos);
            for (o, &y) in out[pos..pos + take].iter_mut().zip(&self.state[self.next..self.next + take]) {
                *o = Self::temper(y);
            }
            self.next += take;
            self.left -= take;
            pos += take;
        }
    }

    /// Advances past `k` outputs without computing them (only the state twists run).
    pub fn discard(&mut self, mut k: u64) {
        while k > 0 {
            if self.left <= 1 {
                self.twist();
                self.left = N + 1;
            }
            let take = ((self.left - 1) as u64).min(k) as usize;
            self.next += take;
            self.left -= take;
            k -= take as u64;
        }
    }

    /// `(left, next, state)` as PyTorch stores them (for `get_rng_state`).
    pub(crate) fn raw(&self) -> (usize, usize, &[u32; N]) {
        (self.left, self.next, &self.state)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seed_zero_matches_pytorch() {
        let mut mt = Mt19937::new(0);
        let got: Vec<u32> = (0..4).map(|_| mt.next_u32()).collect();
        assert_eq!(got, [0x8C7F_0AAC, 0x97C4_AA2F, 0xB716_A675, 0xD821_CCC0]);
    }

    #[test]
    fn bulk_fill_equals_single_draws() {
        for split in [1usize, 5, 623, 624, 625, 1300, 5000] {
            let (mut a, mut b) = (Mt19937::new(42), Mt19937::new(42));
            a.next_u32();
            b.next_u32();
            let mut bulk = vec![0u32; split];
            a.fill_u32(&mut bulk);
            let single: Vec<u32> = (0..split).map(|_| b.next_u32()).collect();
            assert_eq!(bulk, single, "{split}");
            assert_eq!(a.next_u32(), b.next_u32());
        }
    }

    #[test]
    fn reference_mt19937_5489() {
        // The reference implementation's default seed; the 10000th output is 4123659995.
        let mut mt = Mt19937::new(5489);
        let mut last = 0;
        for _ in 0..10_000 {
            last = mt.next_u32();
        }
        assert_eq!(last, 4_123_659_995);
    }
}
