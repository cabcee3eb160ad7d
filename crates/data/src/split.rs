//! The train / val / test split, shuffled exactly as Python's `random.shuffle` does.

use crate::PyRandom;
use serde::{Deserialize, Serialize};

/// The share of items that go to the training and validation splits; the test split gets the rest.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SplitFractions {
    /// Fraction of items for training (the lecture: 0.8).
    pub train: f64,
    /// Fraction of items for validation (the lecture: 0.1).
    pub val: f64,
}

impl Default for SplitFractions {
    fn default() -> Self {
        Self {
            train: 0.8,
            val: 0.1,
        }
    }
}

/// Invalid split fractions.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum SplitError {
    /// A fraction is negative, non-finite, or they sum above 1.
    #[error(
        "split fractions train={train} val={val}: each must be in [0, 1] and train + val <= 1"
    )]
    BadFractions {
        /// Training fraction.
        train: f64,
        /// Validation fraction.
        val: f64,
    },
    /// The training split would be empty.
    #[error("the training split is empty ({items} items x train fraction {train})")]
    EmptyTrain {
        /// Number of items.
        items: usize,
        /// Training fraction.
        train: f64,
    },
}

/// Items split into train / val / test.
///
/// ```
/// use makemore_data::{Split, SplitFractions};
/// let items: Vec<String> = (0..10).map(|i| i.to_string()).collect();
/// let s = Split::python_shuffle(items, 42, SplitFractions::default()).unwrap();
/// assert_eq!((s.train.len(), s.val.len(), s.test.len()), (8, 1, 1));
/// assert_eq!(s.train[0], "7"); // Python's random.seed(42); random.shuffle(...)
/// ```
#[derive(Debug, Clone)]
pub struct Split {
    /// Training items.
    pub train: Vec<String>,
    /// Validation items.
    pub val: Vec<String>,
    /// Test items.
    pub test: Vec<String>,
}

impl Split {
    /// Shuffles exactly as `random.seed(seed); random.shuffle(items)` in Python, then cuts at
    /// `int(train * n)` and `int((train + val) * n)`, as the lecture does.
    pub fn python_shuffle(
        mut items: Vec<String>,
        seed: u64,
        fractions: SplitFractions,
    ) -> Result<Self, SplitError> {
        let SplitFractions { train, val } = fractions;
        let ok = |f: f64| f.is_finite() && (0.0..=1.0).contains(&f);
        if !ok(train) || !ok(val) || train + val > 1.0 + 1e-12 {
            return Err(SplitError::BadFractions { train, val });
        }
        PyRandom::new(seed).shuffle(&mut items);
        let n = items.len();
        let n1 = ((train * n as f64) as usize).min(n);
        let n2 = (((train + val) * n as f64) as usize).clamp(n1, n);
        if n1 == 0 {
            return Err(SplitError::EmptyTrain { items: n, train });
        }
        let test = items.split_off(n2);
        let val = items.split_off(n1);
        Ok(Self {
            train: items,
            val,
            test,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand_chacha::ChaCha8Rng;
    use rand_core::{RngCore, SeedableRng};

    #[test]
    fn shuffle_is_a_stable_permutation() {
        let mut rng = ChaCha8Rng::seed_from_u64(11);
        for _ in 0..256 {
            let n = 1 + rng.next_u32() as usize % 299;
            let seed = rng.next_u64() % 1_000_000;
            let items: Vec<usize> = (0..n).collect();
            let mut a = items.clone();
            PyRandom::new(seed).shuffle(&mut a);
            let mut b = items.clone();
            PyRandom::new(seed).shuffle(&mut b);
            assert_eq!(a, b, "n {n}, seed {seed}");
            a.sort_unstable();
            assert_eq!(a, items, "n {n}, seed {seed}");
        }
    }

    #[test]
    fn bad_fractions() {
        let items = vec!["a".to_string(); 10];
        let f = SplitFractions {
            train: 0.9,
            val: 0.2,
        };
        assert!(Split::python_shuffle(items.clone(), 1, f).is_err());
        let f = SplitFractions {
            train: 0.0,
            val: 0.2,
        };
        assert!(matches!(
            Split::python_shuffle(items, 1, f),
            Err(SplitError::EmptyTrain { .. })
        ));
    }
}
