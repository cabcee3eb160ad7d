//! A burn-train renderer that prints one line per epoch: every numeric metric's epoch value on
//! the training and the validation split, the diagnostics' metrics included.
//!
//! ```ignore
//! SupervisedTraining::new(dir, train, valid)
//!     .metrics((LossMetric::new(), watch.worst_saturation(), watch.median_update_ratio()))
//!     .renderer(Box::new(EpochLines::stdout()))
//!     .launch(learner);
//! // epoch 1/5  train: Loss 0.9871, Worst saturation 3.1  valid: Loss 0.8710, ...
//! ```
//!
//! burn-train's own fallback when its terminal UI is not compiled in (or stdout is not a
//! terminal) prints the Rust debug form of its progress after every minibatch.

use burn::train::logger::{EvaluationProgressLogger, TrainingProgressLogger};
use burn::train::metric::{MetricAttributes, MetricDefinition, MetricId};
use burn::train::renderer::{
    EvaluationName, MetricState, MetricsRenderer, MetricsRendererEvaluation,
    MetricsRendererTraining,
};
use burn::train::LearnerSummary;
use std::io::Write;

/// The values of one split in the current epoch, in the order the metrics were registered.
#[derive(Default)]
struct SplitValues(Vec<(MetricId, f64)>);

impl SplitValues {
    fn set(&mut self, id: &MetricId, value: f64) {
        match self.0.iter_mut().find(|(i, _)| i == id) {
            Some(slot) => slot.1 = value,
            None => self.0.push((id.clone(), value)),
        }
    }
}

/// Prints one line per epoch (and one per test) to a writer; see the module docs.
pub struct EpochLines {
    out: Box<dyn Write + Send + Sync>,
    /// Each metric's name and unit (`%`, `ms`: written after the value).
    names: Vec<(MetricId, String, String)>,
    total_epochs: usize,
    label: String,
    train: SplitValues,
    valid: SplitValues,
    test: Vec<(String, SplitValues)>,
}

impl EpochLines {
    /// Lines on standard output.
    pub fn stdout() -> Self {
        Self::to_writer(Box::new(std::io::stdout()))
    }

    /// Lines on any writer (a file, a buffer in a test).
    pub fn to_writer(out: Box<dyn Write + Send + Sync>) -> Self {
        Self {
            out,
            names: Vec::new(),
            total_epochs: 0,
            label: "training".into(),
            train: SplitValues::default(),
            valid: SplitValues::default(),
            test: Vec::new(),
        }
    }

    /// `Loss 0.9871, Accuracy 61.22%` (four significant digits, then the unit).
    fn values(&self, v: &SplitValues) -> String {
        v.0.iter()
            .map(|(id, x)| {
                let (name, unit) = self
                    .names
                    .iter()
                    .find(|(i, _, _)| i == id)
                    .map_or(("metric", ""), |(_, n, u)| (n.as_str(), u.as_str()));
                format!("{name} {}{unit}", significant(*x))
            })
            .collect::<Vec<_>>()
            .join(", ")
    }

    fn line(&mut self, line: String) {
        // A closed pipe must not stop training: the line is lost, the run goes on.
        let _ = writeln!(self.out, "{line}");
        let _ = self.out.flush();
    }
}

/// Four significant digits, without an exponent for the values metrics usually take.
fn significant(x: f64) -> String {
    if !x.is_finite() || x == 0.0 {
        return format!("{x}");
    }
    let digits = (3 - x.abs().log10().floor() as i32).clamp(0, 8) as usize;
    format!("{x:.digits$}")
}

/// The epoch's value of a numeric state; `None` for text metrics and ticks without a value.
fn numeric(state: &MetricState) -> Option<(&MetricId, f64)> {
    match state {
        MetricState::Numeric(entry, Some(value)) => Some((&entry.metric_id, value.current())),
        _ => None,
    }
}

impl MetricsRendererTraining for EpochLines {
    fn update_train(&mut self, state: MetricState) {
        if let Some((id, x)) = numeric(&state) {
            self.train.set(id, x);
        }
    }

    fn update_valid(&mut self, state: MetricState) {
        if let Some((id, x)) = numeric(&state) {
            self.valid.set(id, x);
        }
    }

    fn on_train_end(
        &mut self,
        _summary: Option<LearnerSummary>,
    ) -> Result<(), Box<dyn core::error::Error>> {
        Ok(())
    }
}

impl MetricsRendererEvaluation for EpochLines {
    fn update_test(&mut self, name: EvaluationName, state: MetricState) {
        if let Some((id, x)) = numeric(&state) {
            let name = name.as_str();
            match self.test.iter_mut().find(|(n, _)| n == name) {
                Some((_, v)) => v.set(id, x),
                None => {
                    let mut v = SplitValues::default();
                    v.set(id, x);
                    self.test.push((name.to_string(), v));
                }
            }
        }
    }

    fn on_test_end(
        &mut self,
        _summary: Option<LearnerSummary>,
    ) -> Result<(), Box<dyn core::error::Error>> {
        let tests = std::mem::take(&mut self.test);
        for (name, v) in &tests {
            let line = format!("test {name}: {}", self.values(v));
            self.line(line);
        }
        Ok(())
    }
}

impl TrainingProgressLogger for EpochLines {
    fn start(&mut self, total: usize, starting: usize, _items: Option<usize>, label: Option<&str>) {
        self.total_epochs = total;
        self.label = label.unwrap_or("training").to_string();
        let from = if starting > 1 {
            format!(", from epoch {starting}")
        } else {
            String::new()
        };
        self.line(format!("{}: {total} epochs{from}", self.label));
    }

    fn update_epoch(&mut self, epoch: usize) {
        let (train, valid) = (
            std::mem::take(&mut self.train),
            std::mem::take(&mut self.valid),
        );
        let mut line = format!("epoch {epoch}/{}", self.total_epochs);
        for (split, v) in [("train", &train), ("valid", &valid)] {
            if !v.0.is_empty() {
                line.push_str(&format!("  {split}: {}", self.values(v)));
            }
        }
        self.line(line);
    }

    fn start_split(&mut self, _split: &str, _total_items: usize) {}

    fn update_split(&mut self, _items_processed: usize) {}

    fn end_split(&mut self) {}

    fn end(&mut self) {
        let label = self.label.clone();
        self.line(format!("{label} ended"));
    }

    fn log_event_training(&mut self, _event: String) {}
}

impl EvaluationProgressLogger for EpochLines {
    fn start_global_progress(&mut self, _total_tests: usize) {}

    fn start_test(&mut self, _name: &str, _total_items: usize) {}

    fn update_test_progress(&mut self, _items_processed: usize) {}

    fn end_test(&mut self) {}

    fn end_global_progress(&mut self) {}

    fn log_event_evaluation(&mut self, _event: String) {}
}

impl MetricsRenderer for EpochLines {
    fn manual_close(&mut self) {}

    fn register_metric(&mut self, definition: MetricDefinition) {
        let unit = match definition.attributes {
            MetricAttributes::Numeric(a) => a.unit.unwrap_or_default(),
            MetricAttributes::None => String::new(),
        };
        self.names
            .push((definition.metric_id, definition.name.to_string(), unit));
    }
}

#[cfg(test)]
mod tests {
    use super::significant;

    #[test]
    fn four_significant_digits() {
        assert_eq!(significant(0.987123), "0.9871");
        assert_eq!(significant(61.2249), "61.22");
        assert_eq!(significant(-3.04567), "-3.046");
        assert_eq!(significant(12345.6), "12346");
        assert_eq!(significant(0.0), "0");
    }
}
