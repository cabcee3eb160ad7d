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
#[serde(try_from = "toml::Value", into = "LrRepr")]
pub enum LrSchedule {
    /// The same rate for every step.
    Constant(f64),
    /// Piecewise-constant points, steps increasing, the first at 0.
    Points(Vec<(StepPoint, f64)>),
}

/// How a schedule is written out.
#[derive(Serialize)]
#[serde(untagged)]
enum LrRepr {
    Constant(f64),
    Points(Vec<(StepPoint, f64)>),
}

impl From<LrSchedule> for LrRepr {
    fn from(s: LrSchedule) -> Self {
        match s {
            LrSchedule::Constant(lr) => LrRepr::Constant(lr),
            LrSchedule::Points(p) => LrRepr::Points(p),
        }
    }
}

/// Read through TOML's own value, so that a bad point is named with what is wrong with it.
impl TryFrom<toml::Value> for LrSchedule {
    type Error = String;
    fn try_from(v: toml::Value) -> Result<Self, String> {
        let number = |v: &toml::Value| v.as_float().or_else(|| v.as_integer().map(|i| i as f64));
        let expected =
            "a learning rate, or a list of [step, lr] points such as [[0, 0.1], [\"50%\", 0.01]]";
        if let Some(lr) = number(&v) {
            return Ok(LrSchedule::Constant(lr));
        }
        let toml::Value::Array(points) = v else {
            return Err(format!("expected {expected}"));
        };
        let point = |(i, p): (usize, &toml::Value)| {
            let bad = |what: &str| format!("point {}: {what}", i + 1);
            let [step, lr] = p.as_array().map(Vec::as_slice).unwrap_or_default() else {
                return Err(bad("expected [step, lr]"));
            };
            let step = match step {
                toml::Value::Integer(s) => {
                    StepRepr::Step(u64::try_from(*s).map_err(|_| bad("the step must be >= 0"))?)
                }
                toml::Value::String(s) => StepRepr::Percent(s.clone()),
                _ => {
                    return Err(bad(
                        "the step must be a number or a percentage such as \"50%\"",
                    ))
                }
            };
            let lr = number(lr).ok_or_else(|| bad("the learning rate must be a number"))?;
            Ok((StepPoint::try_from(step).map_err(|e| bad(&e))?, lr))
        };
        Ok(LrSchedule::Points(
            points
                .iter()
                .enumerate()
                .map(point)
                .collect::<Result<_, _>>()?,
        ))
    }
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
