//! `torch.randperm(n)` on the CPU.

use super::Generator;

/// A random permutation of `0..n`, exactly as PyTorch's CPU `randperm`:
/// for `n < 214748364` a Fisher–Yates shuffle with `z = random() mod (n − i)` (n − 1 draws);
/// above that, PyTorch's inside-out shuffle with `random64()` (2n draws).
pub fn randperm(n: usize, g: &mut Generator) -> Vec<usize> {
    let mut r: Vec<usize> = (0..n).collect();
    if n < 214_748_364 {
        for i in 0..n.saturating_sub(1) {
            let z = (g.random() % (n - i) as u32) as usize;
            r.swap(i, i + z);
        }
    } else {
        for i in 0..n {
            let z = (g.random64() % (i as u64 + 1)) as usize;
            r[i] = r[z];
            r[z] = i;
        }
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seed_zero_randperm_5() {
        let mut g = Generator::manual_seed(0);
        assert_eq!(randperm(5, &mut g), [4, 0, 1, 3, 2]);
    }
}
