//! Summary statistics and histograms of host values.

use serde::{Deserialize, Serialize};

/// A histogram with equal-width bins over `[lo, hi]`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Histogram {
    /// Left edge of the first bin.
    pub lo: f64,
    /// Right edge of the last bin.
    pub hi: f64,
    /// Values per bin.
    pub counts: Vec<u64>,
}

impl Histogram {
    /// Bin centers and densities (count / (total * width)), for plotting.
    pub fn density(&self) -> Vec<(f64, f64)> {
        let total: u64 = self.counts.iter().sum();
        let n = self.counts.len().max(1);
        let width = ((self.hi - self.lo) / n as f64).max(f64::MIN_POSITIVE);
        self.counts
            .iter()
            .enumerate()
            .map(|(i, &c)| {
                let center = self.lo + (i as f64 + 0.5) * width;
                (center, c as f64 / (total.max(1) as f64 * width))
            })
            .collect()
    }
}

/// `bins` equal bins over the data's own range (non-finite values are left out).
///
/// ```
/// let h = makemore_diagnostics::histogram(&[0.0, 0.1, 0.9, 1.0], 2);
/// assert_eq!(h.counts, [2, 2]);
/// assert_eq!((h.lo, h.hi), (0.0, 1.0));
/// ```
pub fn histogram(values: &[f32], bins: usize) -> Histogram {
    let bins = bins.max(1);
    let finite = values
        .iter()
        .filter(|v| v.is_finite())
        .map(|&v| f64::from(v));
    let (lo, hi) = finite.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
        (lo.min(v), hi.max(v))
    });
    if !lo.is_finite() {
        return Histogram {
            lo: 0.0,
            hi: 0.0,
            counts: vec![0; bins],
        };
    }
    let width = if hi > lo {
        (hi - lo) / bins as f64
    } else {
        1.0
    };
    let mut counts = vec![0u64; bins];
    for v in values.iter().filter(|v| v.is_finite()) {
        let i = ((f64::from(*v) - lo) / width) as usize;
        counts[i.min(bins - 1)] += 1;
    }
    Histogram { lo, hi, counts }
}

/// Mean, standard deviation (population), extremes and a histogram.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    /// Number of values.
    pub count: usize,
    /// Mean (NaN if any value is not finite).
    pub mean: f64,
    /// Standard deviation (NaN if any value is not finite).
    pub std: f64,
    /// Smallest value.
    pub min: f64,
    /// Largest value.
    pub max: f64,
    /// Values that are NaN or infinite.
    pub non_finite: usize,
    /// Histogram of the finite values.
    pub histogram: Histogram,
}

impl Summary {
    /// Summarizes `values` with a `bins`-bin histogram.
    pub fn of(values: &[f32], bins: usize) -> Self {
        let n = values.len().max(1) as f64;
        let mean = values.iter().map(|&v| f64::from(v)).sum::<f64>() / n;
        let var = values
            .iter()
            .map(|&v| (f64::from(v) - mean).powi(2))
            .sum::<f64>()
            / n;
        let min = values
            .iter()
            .map(|&v| f64::from(v))
            .fold(f64::INFINITY, f64::min);
        let max = values
            .iter()
            .map(|&v| f64::from(v))
            .fold(f64::NEG_INFINITY, f64::max);
        Self {
            count: values.len(),
            mean,
            std: var.sqrt(),
            min,
            max,
            non_finite: values.iter().filter(|v| !v.is_finite()).count(),
            histogram: histogram(values, bins),
        }
    }

    /// Whether every value was finite.
    pub fn is_finite(&self) -> bool {
        self.non_finite == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summary_of_known_values() {
        let s = Summary::of(&[1.0, 2.0, 3.0, 4.0], 4);
        assert_eq!(s.mean, 2.5);
        assert!((s.std - 1.25f64.sqrt()).abs() < 1e-12);
        assert_eq!((s.min, s.max), (1.0, 4.0));
        assert_eq!(s.histogram.counts, [1, 1, 1, 1]);
        let d = s.histogram.density();
        let area: f64 = d.iter().map(|(_, y)| y * 0.75).sum();
        assert!((area - 1.0).abs() < 1e-12, "densities integrate to 1");
    }

    #[test]
    fn non_finite_values_are_counted_not_binned() {
        let s = Summary::of(&[1.0, f32::NAN, f32::INFINITY], 3);
        assert_eq!(s.non_finite, 2);
        assert!(!s.is_finite());
        assert_eq!(s.histogram.counts.iter().sum::<u64>(), 1);
    }
}
