//! The host-side random streams: one ChaCha8 stream per parameter, keyed by the seed and the
//! FNV-1a hash of the parameter's path, and the normal and uniform draws taken from it.

use rand_chacha::ChaCha8Rng;
use rand_core::{RngCore, SeedableRng};

/// FNV-1a over the bytes: a stable, documented hash (Rust's `DefaultHasher` may change).
fn fnv1a(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

/// The random stream of one parameter: ChaCha8 keyed by `seed`, on the stream number given by
/// the FNV-1a hash of the parameter's path. Adding or renaming one parameter leaves every other
/// parameter's values unchanged.
///
/// ```
/// use makemore_init::param_stream;
/// use rand_core::RngCore;
/// let a = param_stream(1, "embedding").next_u64();
/// assert_eq!(a, param_stream(1, "embedding").next_u64());
/// assert_ne!(a, param_stream(1, "output.weight").next_u64());
/// ```
pub fn param_stream(seed: u64, path: &str) -> ChaCha8Rng {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(fnv1a(path.as_bytes()));
    rng
}

/// Uniform in [0, 1) from the top 53 bits of a 64-bit word.
pub(crate) fn unit_f64(rng: &mut ChaCha8Rng) -> f64 {
    (rng.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
}

/// Standard normal draws by the Box-Muller transform, computed in f64 (so they are the same on
/// every machine that has IEEE `ln`, `sqrt`, `sin`, `cos`), two per pair of uniforms.
///
/// ```
/// use makemore_init::{param_stream, Normal01};
/// let mut n = Normal01::new(param_stream(0, "x"));
/// let v: Vec<f64> = (0..10_000).map(|_| n.sample()).collect();
/// let mean = v.iter().sum::<f64>() / v.len() as f64;
/// assert!(mean.abs() < 0.05);
/// ```
pub struct Normal01 {
    rng: ChaCha8Rng,
    spare: Option<f64>,
}

impl Normal01 {
    /// Wraps a stream (see [`param_stream`]).
    pub fn new(rng: ChaCha8Rng) -> Self {
        Self { rng, spare: None }
    }

    /// The next N(0, 1) value; the second value of each Box-Muller pair is kept for the next call.
    pub fn sample(&mut self) -> f64 {
        if let Some(z) = self.spare.take() {
            return z;
        }
        // 1 - u is in (0, 1], so the logarithm is finite.
        let u1 = 1.0 - unit_f64(&mut self.rng);
        let u2 = unit_f64(&mut self.rng);
        let r = (-2.0 * u1.ln()).sqrt();
        let theta = 2.0 * std::f64::consts::PI * u2;
        self.spare = Some(r * theta.sin());
        r * theta.cos()
    }
}
