//! The diagnostics inside burn-train's `Learner` (feature `learner`).
//!
//! Wrap the model you hand to `Learner::new` in [`Watched`], give it a [`Watch`] (where to write
//! and how often to record), and implement [`WatchStep`] next to your `TrainStep`: the same
//! forward pass and loss, with every layer output passed through a [`Tap`] as for [`Inspect`]
//! (crate::Inspect). On recorded steps the wrapper taps the layers (their outputs, and the
//! gradients with respect to them, read before the gradients become `GradientsParams`),
//! snapshots the parameters, lets your optimizer step (your `optimize` override, if any, runs
//! unchanged), and measures the update as `after - before`, so update:data ratios are right for
//! Adam, weight decay and clipping too. Everything else is delegated: the record paths are your
//! model's (checkpoints are interchangeable with the unwrapped model), the output type is
//! yours (your metric adaptors keep working), and `InferenceStep` is yours.
//!
//! ```ignore
//! impl WatchStep for MyModel {
//!     fn forward_step(&self, batch: MyBatch, tap: &mut dyn Tap) -> (Tensor<1>, MyOutput) {
//!         let out = self.forward_tapped(batch, tap); // your forward, calling tap.tap(...) per layer
//!         (out.loss.clone(), out)
//!     }
//! }
//! let watch = Watch::new("runs/learner", 100)?;       // record step 0 and every 100th
//! let learner = Learner::new(Watched::new(model, &watch), optim, 1e-3);
//! SupervisedTraining::new(dir, train, valid)
//!     .metrics((LossMetric::new(), watch.worst_saturation(), watch.median_update_ratio()))
//!     .launch(learner);
//! let summary = watch.finish()?;                       // diagnostics.jsonl, plots, report.html
//! ```
//!
//! [`EpochLines`] prints one line per epoch with every metric, for programs that run without
//! burn-train's terminal UI (whose fallback prints its progress in Rust's debug form).

mod lines;
mod watched;
pub use lines::EpochLines;
pub use watched::Watched;

use crate::record::{DiagnosticRecord, LayerRecord, StatsConfig, Tap};
use crate::{advise, render_plots, write_report, Advice, AdviceConfig};
use burn::tensor::{Tensor, TensorReadError};
use burn::train::metric::state::{FormatOptions, NumericMetricState};
use burn::train::metric::{
    LossInput, Metric, MetricAttributes, MetricMetadata, MetricName, Numeric, NumericAttributes,
    NumericEntry, SerializedEntry,
};
use burn::train::TrainStep;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

/// The file the records go to, one JSON object a line, as makemore writes it.
pub const DIAGNOSTICS_FILE: &str = "diagnostics.jsonl";

/// Your step's forward pass with taps: what [`Watched`] calls on recorded steps.
pub trait WatchStep: TrainStep {
    /// The loss of `item` and your step's output, with every layer output passed through `tap`
    /// (in forward order, continuing with what it returns). Your `TrainStep::step` can call it
    /// with a tap that returns its input.
    fn forward_step(&self, item: Self::Input, tap: &mut dyn Tap) -> (Tensor<1>, Self::Output);
}

/// A tap that changes nothing (for your own `step`).
pub fn no_tap() -> impl Tap {
    |_: crate::LayerInfo, t: Tensor<2>| t
}

/// What a watch keeps between steps.
struct State {
    dir: PathBuf,
    every: u64,
    /// Optimizer steps taken (continues a resumed run's count).
    step: u64,
    stats: StatsConfig,
    expected_loss: Option<f64>,
    /// A recorded step's layers and loss, waiting for its optimizer step.
    pending: Option<(Vec<LayerRecord>, f64)>,
    records: Vec<DiagnosticRecord>,
    /// The first failure to write a record during the run, reported by `finish`.
    write_error: Option<WatchError>,
}

/// Where the diagnostics go and how often they are recorded; shared by the wrapper, the metrics
/// and you (it is a handle: clones see the same records, whatever thread or device steps).
#[derive(Clone)]
pub struct Watch {
    state: Arc<Mutex<State>>,
}

impl std::fmt::Debug for Watch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let s = self.lock();
        write!(f, "Watch({}, every {})", s.dir.display(), s.every)
    }
}

/// A watch could not read or write its files.
#[derive(Debug, thiserror::Error)]
pub enum WatchError {
    /// Reading or writing a file.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A line of an existing diagnostics.jsonl that does not parse.
    #[error("{}: line {line}: {message}", path.display())]
    Parse {
        /// The file.
        path: PathBuf,
        /// 1-based line.
        line: usize,
        /// The parser's message.
        message: String,
    },
    /// `every` was 0.
    #[error("record every 0 steps: must be >= 1")]
    Every,
    /// Plots or the report.
    #[error("{0}")]
    Report(String),
}

/// What [`Watch::finish`] wrote and found.
#[derive(Debug)]
pub struct WatchSummary {
    /// The records (a resumed run's earlier ones included).
    pub records: Vec<DiagnosticRecord>,
    /// The advice at the last record.
    pub advice: Vec<Advice>,
    /// `report.html`.
    pub report: PathBuf,
}

impl Watch {
    /// Records step 0 and every `every`-th optimizer step into `dir` (created if missing); a
    /// `diagnostics.jsonl` already there is replaced when the first record is written.
    pub fn new(dir: impl AsRef<Path>, every: u64) -> Result<Self, WatchError> {
        Self::open(dir.as_ref(), every, None)
    }

    /// For a run resumed at optimizer step `step` (what burn-train's checkpoint holds: the
    /// steps of the epochs done): keeps the records of `dir/diagnostics.jsonl` before `step`,
    /// drops any after it (they were taken after the checkpoint and will be taken again), and
    /// counts on from `step`.
    pub fn resume(dir: impl AsRef<Path>, every: u64, step: u64) -> Result<Self, WatchError> {
        Self::open(dir.as_ref(), every, Some(step))
    }

    fn open(dir: &Path, every: u64, resume_at: Option<u64>) -> Result<Self, WatchError> {
        if every == 0 {
            return Err(WatchError::Every);
        }
        let dir = dir.to_owned();
        std::fs::create_dir_all(&dir).map_err(|source| WatchError::Io {
            path: dir.clone(),
            source,
        })?;
        let path = dir.join(DIAGNOSTICS_FILE);
        let mut records = Vec::new();
        if resume_at.is_some() && path.is_file() {
            let text = std::fs::read_to_string(&path).map_err(|source| WatchError::Io {
                path: path.clone(),
                source,
            })?;
            for (i, line) in text
                .lines()
                .enumerate()
                .filter(|(_, l)| !l.trim().is_empty())
            {
                records.push(serde_json::from_str(line).map_err(|e| WatchError::Parse {
                    path: path.clone(),
                    line: i + 1,
                    message: e.to_string(),
                })?);
            }
        }
        let step = resume_at.unwrap_or(0);
        records.retain(|r: &DiagnosticRecord| r.step < step);
        Ok(Self {
            state: Arc::new(Mutex::new(State {
                dir,
                every,
                step,
                stats: StatsConfig::default(),
                expected_loss: None,
                pending: None,
                records,
                write_error: None,
            })),
        })
    }

    /// The loss of a uniform guess (ln of the number of classes), for the "confidently wrong"
    /// advice at step 0.
    pub fn expected_loss(self, loss: f64) -> Self {
        self.lock().expected_loss = Some(loss);
        self
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic elsewhere while holding the lock leaves plain data behind: keep going.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Optimizer steps counted so far.
    pub fn steps(&self) -> u64 {
        self.lock().step
    }

    /// The records so far.
    pub fn records(&self) -> Vec<DiagnosticRecord> {
        self.lock().records.clone()
    }

    fn due(&self) -> bool {
        let s = self.lock();
        s.step.is_multiple_of(s.every) && s.records.last().is_none_or(|r| r.step < s.step)
    }

    /// A metric for the Learner's dashboard: the largest share of saturated units in any
    /// squashing layer at the latest record (in %).
    pub fn worst_saturation(&self) -> WatchMetric {
        WatchMetric::new(self, "Worst saturation", Some("%"), |r| {
            r.max_saturation().map(|x| 100.0 * x)
        })
    }

    /// A metric for the Learner's dashboard: the median log10 update:data ratio of the weight
    /// matrices at the latest record (the lecture's rule of thumb: about -3).
    pub fn median_update_ratio(&self) -> WatchMetric {
        WatchMetric::new(self, "Median log10 update ratio", None, |r| {
            r.median_log10_update()
        })
    }

    /// Writes `diagnostics.jsonl` (atomically) with every record so far.
    fn write_records(s: &State) -> Result<(), WatchError> {
        let mut text = String::new();
        for r in &s.records {
            text.push_str(&serde_json::to_string(r).expect("a record serializes"));
            text.push('\n');
        }
        let path = s.dir.join(DIAGNOSTICS_FILE);
        makemore_files::write_atomic(&path, text.as_bytes())
            .map_err(|source| WatchError::Io { path, source })
    }

    /// Writes `diagnostics.jsonl`, the five plots and `report.html` with the advice, and a
    /// TensorBoard event file beside them; returns the records and the advice.
    pub fn finish(&self) -> Result<WatchSummary, WatchError> {
        let mut s = self.lock();
        if let Some(e) = s.write_error.take() {
            return Err(e);
        }
        Self::write_records(&s)?;
        let records = s.records.clone();
        let advice = match records.last() {
            Some(last) => advise(
                records.iter().find(|r| r.step == 0),
                last,
                &AdviceConfig::default(),
            ),
            None => Vec::new(),
        };
        let losses: Vec<(u64, f64)> = records.iter().map(|r| (r.step, r.loss)).collect();
        let plots = render_plots(&s.dir, &records, &losses)
            .map_err(|e| WatchError::Report(e.to_string()))?;
        let title = format!("diagnostics: {}", s.dir.display());
        let report = write_report(&s.dir, &title, &records, &plots, &advice)
            .map_err(|e| WatchError::Report(e.to_string()))?;
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0.0, |d| d.as_secs_f64());
        let mut log = crate::tensorboard::EventLog::new(now);
        for r in &records {
            log.push_record(r, now);
        }
        // Directly in the directory, so that `tensorboard --logdir` names the run after it.
        let path = s.dir.join(crate::tensorboard::event_file_name(
            now as u64,
            "learner",
            std::process::id(),
        ));
        makemore_files::write_atomic(&path, log.as_bytes()).map_err(|source| WatchError::Io {
            path: path.clone(),
            source,
        })?;
        // The file holds every record: an earlier finish's file (this watch's, or one it
        // resumed) would show each step twice.
        for old in std::fs::read_dir(&s.dir).into_iter().flatten().flatten() {
            let (p, name) = (old.path(), old.file_name());
            let name = name.to_string_lossy();
            if p != path && name.starts_with("events.out.tfevents.") && name.contains(".learner.") {
                let _ = std::fs::remove_file(&p);
            }
        }
        Ok(WatchSummary {
            records,
            advice,
            report,
        })
    }
}

/// A numeric metric the Learner shows, read from the watch's latest record. Its input is the
/// loss (which every burn-train output already adapts to); the value comes from the record.
#[derive(Clone)]
pub struct WatchMetric {
    watch: Watch,
    name: MetricName,
    unit: Option<&'static str>,
    read: fn(&DiagnosticRecord) -> Option<f64>,
    state: NumericMetricState,
}

impl WatchMetric {
    fn new(
        watch: &Watch,
        name: &str,
        unit: Option<&'static str>,
        read: fn(&DiagnosticRecord) -> Option<f64>,
    ) -> Self {
        Self {
            watch: watch.clone(),
            name: MetricName::new(name.to_owned()),
            unit,
            read,
            state: NumericMetricState::default(),
        }
    }

    fn format(&self) -> FormatOptions {
        let f = FormatOptions::new(self.name.clone()).precision(2);
        match self.unit {
            Some(u) => f.unit(u),
            None => f,
        }
    }
}

impl Metric for WatchMetric {
    type Input = LossInput;

    fn name(&self) -> MetricName {
        self.name.clone()
    }

    fn attributes(&self) -> MetricAttributes {
        NumericAttributes {
            unit: self.unit.map(str::to_owned),
            higher_is_better: false,
        }
        .into()
    }

    fn update(
        &mut self,
        _item: &LossInput,
        _metadata: &MetricMetadata,
    ) -> Result<SerializedEntry, TensorReadError> {
        let latest = self.watch.lock().records.last().and_then(self.read);
        if let Some(v) = latest {
            self.state.update(v, 1);
        }
        Ok(self.state.compute_update(self.format()))
    }

    fn compute(&mut self) -> Result<SerializedEntry, TensorReadError> {
        Ok(self.state.compute_final(self.format()))
    }

    fn clear(&mut self) {
        self.state.reset()
    }
}

impl Numeric for WatchMetric {
    fn value(&self) -> Option<NumericEntry> {
        Some(self.state.current_value())
    }
    fn running_value(&self) -> Option<NumericEntry> {
        Some(self.state.running_value())
    }
    fn final_value(&self) -> NumericEntry {
        self.state.final_value()
    }
}
