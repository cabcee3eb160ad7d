//! How the suite compares: a figure's mean and spread over seeds on each side, a check of ours
//! against PyTorch's with its tolerance, and a README figure as a check without spread.

/// Standard errors of the difference of two means that a check allows. Two implementations of
/// the same model would differ by this much with a two-sided probability of 6e-5 under a normal
/// model; with spreads estimated from few seeds the tails are Student's t: about 1.3e-3 for 8 seeds
/// a side (14 degrees of freedom) and 1.6e-2 for 3 (4 degrees of freedom; the sweep's floored
/// spreads make it smaller).
pub(super) const K_SIGMA: f64 = 4.0;

/// Half the last digit of PyTorch's losses (printed to 4 decimals).
pub(super) const ROUNDING: f64 = 5e-5;

/// Seeds of the lecture rows and of the deep stack's diagnostics, on each side.
pub(super) const SEEDS: u64 = 8;

/// Mean and sample standard deviation of what several seeds measured.
#[derive(Clone, Copy, Debug)]
pub(super) struct Spread {
    /// The mean over seeds.
    pub(super) mean: f64,
    /// The sample standard deviation over seeds (0 for one).
    pub(super) sd: f64,
    /// How many seeds.
    pub(super) n: usize,
}

impl Spread {
    /// The mean and sample standard deviation of `v`.
    pub(super) fn of(v: &[f64]) -> Spread {
        let n = v.len();
        let mean = v.iter().sum::<f64>() / n as f64;
        let var = v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n.max(2) - 1) as f64;
        Spread {
            mean,
            sd: var.sqrt(),
            n,
        }
    }

    /// The same with its standard deviation raised to at least `sd`.
    pub(super) fn floored(self, sd: f64) -> Spread {
        Spread {
            sd: self.sd.max(sd),
            ..self
        }
    }
}

/// One comparison of ours with PyTorch's.
pub(super) struct Check {
    /// What is compared, as the table names it.
    pub(super) what: String,
    /// Our side.
    pub(super) ours: Spread,
    /// PyTorch's side (or the README's, or an expectation).
    pub(super) theirs: Spread,
    /// How far apart the two means may be.
    pub(super) tolerance: f64,
}

impl Check {
    /// A check with the tolerance [`K_SIGMA`] standard errors of the difference plus `rounding`:
    /// half the last digit PyTorch's script prints of this figure.
    pub(super) fn new(what: String, ours: Spread, theirs: Spread, rounding: f64) -> Check {
        let se = (ours.sd.powi(2) / ours.n as f64 + theirs.sd.powi(2) / theirs.n as f64).sqrt();
        Check {
            what,
            ours,
            theirs,
            tolerance: K_SIGMA * se + rounding,
        }
    }

    /// Ours minus theirs.
    pub(super) fn diff(&self) -> f64 {
        self.ours.mean - self.theirs.mean
    }

    /// Whether the difference is within the tolerance.
    pub(super) fn passes(&self) -> bool {
        self.diff().abs() <= self.tolerance
    }
}

/// A README figure against what this build measured: no spread, a stated tolerance.
pub(super) fn figure(what: String, measured: f64, readme: f64, tolerance: f64) -> Check {
    let one = |mean| Spread {
        mean,
        sd: 0.0,
        n: 1,
    };
    Check {
        what,
        ours: one(measured),
        theirs: one(readme),
        tolerance,
    }
}
