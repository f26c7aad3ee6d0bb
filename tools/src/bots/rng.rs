//! A small deterministic PRNG (SplitMix64): a scenario replays exactly from its seed, whatever
//! version of any random-number crate is in the tree.

/// SplitMix64 generator. Not cryptographic; fast and well mixed, which is all a bot needs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rng(u64);

impl Rng {
    /// A generator starting from `seed`.
    pub fn new(seed: u64) -> Self {
        Rng(seed)
    }

    /// The generator of client `index` in a run seeded with `seed`: independent streams per
    /// client, the same stream for the same `(seed, index)`.
    pub fn for_client(seed: u64, index: u64) -> Self {
        let mut mix = Rng(seed ^ index.wrapping_mul(0xA076_1D64_78BD_642F));
        Rng(mix.next_u64() ^ index)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A value in `0..n` (`0` when `n == 0`), by multiply-high (bias below 2^-32 for our `n`).
    pub fn below(&mut self, n: u64) -> u64 {
        ((u128::from(self.next_u64()) * u128::from(n)) >> 64) as u64
    }

    /// A value in `lo..=hi` (`lo` when `hi <= lo`).
    pub fn between(&mut self, lo: u64, hi: u64) -> u64 {
        if hi <= lo {
            return lo;
        }
        lo + self.below(hi - lo + 1)
    }

    /// A float in `[0, 1)`.
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// True with probability `p`.
    pub fn chance(&mut self, p: f64) -> bool {
        self.unit() < p
    }

    /// An index into `weights`, each picked in proportion to its weight; `None` if all are zero.
    pub fn weighted(&mut self, weights: &[u32]) -> Option<usize> {
        let total: u64 = weights.iter().map(|&w| u64::from(w)).sum();
        if total == 0 {
            return None;
        }
        let mut roll = self.below(total);
        for (i, &w) in weights.iter().enumerate() {
            if roll < u64::from(w) {
                return Some(i);
            }
            roll -= u64::from(w);
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_stream_and_clients_differ() {
        let a: Vec<u64> = {
            let mut r = Rng::for_client(7, 3);
            (0..8).map(|_| r.next_u64()).collect()
        };
        let b: Vec<u64> = {
            let mut r = Rng::for_client(7, 3);
            (0..8).map(|_| r.next_u64()).collect()
        };
        let c: Vec<u64> = {
            let mut r = Rng::for_client(7, 4);
            (0..8).map(|_| r.next_u64()).collect()
        };
        assert_eq!(a, b);
        assert_ne!(a, c);
    }

    #[test]
    fn ranges_hold_and_cover() {
        let mut r = Rng::new(1);
        let mut seen = [false; 5];
        for _ in 0..1000 {
            let v = r.between(10, 14);
            assert!((10..=14).contains(&v));
            seen[(v - 10) as usize] = true;
            let u = r.unit();
            assert!((0.0..1.0).contains(&u));
        }
        assert!(
            seen.iter().all(|&s| s),
            "every value of 10..=14 drawn: {seen:?}"
        );
        assert_eq!(r.between(5, 5), 5);
        assert_eq!(r.below(0), 0);
    }

    #[test]
    fn weighted_follows_weights() {
        let mut r = Rng::new(2);
        let mut counts = [0u32; 3];
        for _ in 0..10_000 {
            counts[r.weighted(&[1, 0, 3]).unwrap()] += 1;
        }
        assert_eq!(counts[1], 0);
        // 1:3 split, within a few percent.
        assert!((2300..2700).contains(&counts[0]), "{counts:?}");
        assert_eq!(r.weighted(&[0, 0]), None);
    }
}
