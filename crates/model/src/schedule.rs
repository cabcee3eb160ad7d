//! The learning-rate schedule: a constant, or piecewise-constant points at absolute steps or at
//! percentages of the run (`[[0, 0.1], ["50%", 0.01]]`).

use serde::{Deserialize, Serialize};

/// Where a learning-rate point starts: an absolute step or a percentage of the run (`"50%"`).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "StepRepr", into = "StepRepr")]
pub enum StepPoint {
    /// At this step.
    Step(u64),
    /// At this percentage of `train.steps`.
    Percent(f64),
}

impl StepPoint {
    /// The absolute step for a run of `steps`.
    pub fn resolve(&self, steps: u64) -> u64 {
        match *self {
            StepPoint::Step(s) => s,
            StepPoint::Percent(p) => (p / 100.0 * steps as f64).round() as u64,
        }
    }
}

/// How a step point is written: a step number, or a percentage string.
#[derive(Serialize, Deserialize)]
#[serde(untagged)]
enum StepRepr {
    Step(u64),
    Percent(String),
}

impl TryFrom<StepRepr> for StepPoint {
    type Error = String;
    fn try_from(r: StepRepr) -> Result<Self, String> {
        match r {
            StepRepr::Step(s) => Ok(StepPoint::Step(s)),
            StepRepr::Percent(p) => p
                .strip_suffix('%')
                .and_then(|v| v.trim().parse::<f64>().ok())
                .filter(|v| v.is_finite() && (0.0..=100.0).contains(v))
                .map(StepPoint::Percent)
                .ok_or_else(|| {
                    format!(r#"invalid value: string {p:?}, expected a step number >= 0 or a percentage such as "50%""#)
                }),
        }
    }
}

impl From<StepPoint> for StepRepr {
    fn from(p: StepPoint) -> Self {
        match p {
            StepPoint::Step(s) => StepRepr::Step(s),
            StepPoint::Percent(v) => StepRepr::Percent(format!("{v}%")),
        }
    }
}

/// The learning rate: a constant, or a list of `[step, lr]` points (each lr holds from its step
/// until the next point).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum LrSchedule {
    /// The same rate for every step.
    Constant(f64),
    /// Piecewise-constant points, steps increasing, the first at 0.
    Points(Vec<(StepPoint, f64)>),
}

impl LrSchedule {
    /// The `(first step, lr)` points for a run of `steps`.
    pub fn points(&self, steps: u64) -> Vec<(u64, f64)> {
        match self {
            LrSchedule::Constant(lr) => vec![(0, *lr)],
            LrSchedule::Points(p) => p.iter().map(|(s, lr)| (s.resolve(steps), *lr)).collect(),
        }
    }

    /// The rate at `step` of a run of `steps`.
    pub fn lr_at(&self, step: u64, steps: u64) -> f64 {
        let points = self.points(steps);
        points
            .iter()
            .rev()
            .find(|(s, _)| *s <= step)
            .or(points.first())
            .map(|p| p.1)
            .unwrap_or(0.0)
    }
}
