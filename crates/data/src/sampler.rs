//! Minibatch indices drawn on the host from a seeded stream, with a state small enough for a
//! checkpoint.

use rand_chacha::ChaCha8Rng;
use rand_core::{RngCore, SeedableRng};
use serde::{Deserialize, Serialize};

/// Draws minibatch indices uniformly with replacement from a seeded ChaCha8 stream on the host,
/// so the same seed gives the same batches whatever device the model runs on.
///
/// The mapping from random words to indices is this crate's own (Lemire's multiply-and-reject on
/// 64-bit words), so it does not change with the version of `rand`.
///
/// ```
/// use makemore_data::BatchSampler;
/// let mut a = BatchSampler::new(7, 1000);
/// let mut b = BatchSampler::new(7, 1000);
/// let batch = a.next_batch(32);
/// assert_eq!(batch, b.next_batch(32));
/// assert!(batch.iter().all(|&i| i < 1000));
/// ```
#[derive(Debug, Clone)]
pub struct BatchSampler {
    rng: ChaCha8Rng,
    seed: u64,
    population: u64,
}

/// Everything needed to resume a [`BatchSampler`] exactly where it was.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SamplerState {
    /// The seed it was created with.
    pub seed: u64,
    /// Number of windows it draws from.
    pub population: u64,
    /// Position in the ChaCha8 stream, in 32-bit words.
    pub word_pos: u128,
}

/// Domain separation: batch sampling and weight initialization draw from different streams
/// even when given the same seed.
const SAMPLER_STREAM: u64 = 0x6261_7463_6865_7321; // "batches!"

impl BatchSampler {
    /// A sampler over `0..population`.
    pub fn new(seed: u64, population: usize) -> Self {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        rng.set_stream(SAMPLER_STREAM);
        Self {
            rng,
            seed,
            population: population as u64,
        }
    }

    /// Restores a sampler saved with [`BatchSampler::state`].
    pub fn from_state(state: SamplerState) -> Self {
        let mut s = Self::new(state.seed, state.population as usize);
        s.rng.set_word_pos(state.word_pos);
        s
    }

    /// The state to save in a checkpoint.
    pub fn state(&self) -> SamplerState {
        SamplerState {
            seed: self.seed,
            population: self.population,
            word_pos: self.rng.get_word_pos(),
        }
    }

    /// One index in `0..population`.
    pub fn next_index(&mut self) -> u64 {
        let n = self.population;
        assert!(n > 0, "cannot sample from an empty population");
        // Lemire: take the high word of x * n, reject the biased low region.
        let threshold = n.wrapping_neg() % n;
        loop {
            let m = u128::from(self.rng.next_u64()) * u128::from(n);
            if (m as u64) >= threshold {
                return (m >> 64) as u64;
            }
        }
    }

    /// `batch_size` indices, drawn with replacement.
    pub fn next_batch(&mut self, batch_size: usize) -> Vec<u32> {
        (0..batch_size).map(|_| self.next_index() as u32).collect()
    }

    /// Fills `out` with indices, drawn with replacement.
    pub fn fill_batch(&mut self, out: &mut [i64]) {
        for o in out {
            *o = self.next_index() as i64;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resume_continues_the_stream() {
        let mut a = BatchSampler::new(3, 182_625);
        a.next_batch(100);
        let mut b = BatchSampler::from_state(a.state());
        assert_eq!(a.next_batch(64), b.next_batch(64));
    }

    #[test]
    fn roughly_uniform() {
        let mut s = BatchSampler::new(1, 10);
        let mut counts = [0usize; 10];
        for _ in 0..100_000 {
            counts[s.next_index() as usize] += 1;
        }
        assert!(
            counts.iter().all(|&c| (9_500..10_500).contains(&c)),
            "{counts:?}"
        );
    }
}
