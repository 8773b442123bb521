//! MT19937, exactly as PyTorch's CPU generator (`at::mt19937`, `init_genrand` seeding).

pub(super) const N: usize = 624;
pub(super) const M: usize = 397;
const MATRIX_A: u32 = 0x9908_B0DF;
const UPPER_MASK: u32 = 0x8000_0000;
const LOWER_MASK: u32 = 0x7FFF_FFFF;

/// One step of the recurrence: the word 624 after `a`, from `a`, the word after it (`b`) and
/// the word 397 after it (`c`).
#[inline(always)]
pub(super) fn mix(a: u32, b: u32, c: u32) -> u32 {
    let y = (a & UPPER_MASK) | (b & LOWER_MASK);
    c ^ (y >> 1) ^ if b & 1 != 0 { MATRIX_A } else { 0 }
}

/// Skips of at least this many words jump ([`super::jump`]) instead of running the twists.
const JUMP_MIN: u64 = 1 << 24;

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

    /// Advances past `k` outputs without computing them: the state twists run for short skips;
    /// long ones (2^24 words or more) jump ahead by polynomial arithmetic over GF(2) in
    /// milliseconds whatever `k` (Haramoto et al. 2008). Either way the state afterwards is
    /// exactly the one `k` calls of [`Mt19937::next_u32`] leave.
    ///
    /// ```
    /// let (mut a, mut b) = (nninit::rng::Mt19937::new(1), nninit::rng::Mt19937::new(1));
    /// a.discard(50_000_000);
    /// for _ in 0..50_000_000 { b.next_u32(); }
    /// assert_eq!(a.next_u32(), b.next_u32());
    /// ```
    pub fn discard(&mut self, k: u64) {
        if k >= JUMP_MIN {
            self.jump(k);
        } else {
            self.walk(k);
        }
    }

    /// [`Mt19937::discard`] by jumping, for any `k`.
    pub(crate) fn jump(&mut self, k: u64) {
        if k == 0 {
            return;
        }
        // Words of the current window already consumed (all of them right after seeding).
        let consumed = (N + 1 - self.left) as u64;
        let t = consumed + k;
        let (mut blocks, mut r) = (t / N as u64, (t % N as u64) as usize);
        if r == 0 {
            (blocks, r) = (blocks - 1, N);
        }
        if blocks > 0 {
            self.state = super::jump::jump(&self.state, blocks * N as u64);
        }
        self.left = N + 1 - r;
        self.next = r;
    }

    /// [`Mt19937::discard`] by running the twists.
    fn walk(&mut self, mut k: u64) {
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

    /// Jumping `k` words leaves exactly the state walking leaves (the raw state included), from
    /// fresh seeds and from every position within a block, for short and long distances.
    #[test]
    fn jump_equals_walk() {
        let ks = [1u64, 2, 623, 624, 625, 1247, 1248, 1249, 10_000, 123_457, 1_000_000, 3_000_001];
        for (pre, &k) in [0usize, 1, 5, 623, 624, 700, 1300]
            .iter()
            .zip(ks.iter().cycle())
            .chain(ks.iter().map(|k| (&0usize, k)).chain(ks.iter().map(|k| (&311usize, k))))
        {
            let (mut a, mut b) = (Mt19937::new(7), Mt19937::new(7));
            for _ in 0..*pre {
                a.next_u32();
                b.next_u32();
            }
            a.jump(k);
            b.walk(k);
            assert_eq!(a.raw(), b.raw(), "pre {pre} k {k}");
            let x: Vec<u32> = (0..1500).map(|_| a.next_u32()).collect();
            let y: Vec<u32> = (0..1500).map(|_| b.next_u32()).collect();
            assert_eq!(x, y, "pre {pre} k {k}");
        }
    }

    /// Huge jumps compose: jump(a) then jump(b) equals jump(a + b), and a 2^40 + 2^33 + 5 jump
    /// done in two parts of any split lands on the same state.
    #[test]
    fn huge_jumps_compose() {
        let total = (1u64 << 40) + (1 << 33) + 5;
        let mut whole = Mt19937::new(3);
        whole.jump(total);
        for first in [1u64 << 20, 123_456_789, 1 << 39, total - 624] {
            let mut parts = Mt19937::new(3);
            parts.jump(first);
            parts.jump(total - first);
            assert_eq!(parts.raw(), whole.raw(), "{first}");
        }
        // Crossing the jump threshold by walking the remainder.
        let mut mixed = Mt19937::new(3);
        mixed.jump(total - 100_000);
        mixed.walk(100_000);
        assert_eq!(mixed.raw(), whole.raw());
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
