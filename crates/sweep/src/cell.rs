//! Running one cell: an ordinary run directory that is skipped when done, resumed from its
//! checkpoint when interrupted, and marked (not failed) when training diverges.

use crate::plan::Plan;
use crate::SweepError;
use makemore_model::budget::Budget;
use makemore_model::{BackendKind, Dataset, Device, RunConfig, RunError};
use makemore_train::run_dir::{CHECKPOINT, CONFIG, SUMMARY};
use makemore_train::{Observer, RunOptions};
use serde::{Deserialize, Serialize};
use std::path::Path;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};

pub use makemore_train::run_dir::{DivergedRecord, DIVERGED};
/// The file that marks a cell whose last run failed (a bad config value, a missing file): the
/// error, and where that run's log went. Not a result: the next run of the cell tries again.
pub const FAILED: &str = "failed.json";

/// What running a cell did.
#[derive(Debug, Clone, PartialEq)]
pub enum CellOutcome {
    /// It trained to the end now.
    Trained,
    /// It was already done (finished or diverged) and was left as it is.
    AlreadyDone,
    /// Training diverged at `step`; the cell is marked and counts as done.
    Diverged {
        /// The step.
        step: u64,
    },
    /// Stopped (Ctrl-C, SIGTERM) with a checkpoint; the next run resumes it.
    Interrupted,
}

/// The record a failed cell keeps in [`FAILED`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FailedRecord {
    /// The error, on one line.
    pub error: String,
    /// The file the failed run's standard error went to (a scheduler's task log), if it was one.
    pub log: Option<String>,
}

/// Marks the cell in `dir` as failed with `record` (written whole).
pub fn record_failure(dir: &Path, record: &FailedRecord) -> Result<(), SweepError> {
    std::fs::create_dir_all(dir).map_err(|e| SweepError::io(dir, e))?;
    let path = dir.join(FAILED);
    let text = serde_json::to_string_pretty(record).expect("a record serializes");
    makemore_files::write_atomic(&path, text.as_bytes()).map_err(|e| SweepError::io(&path, e))
}

/// Removes a failure mark left by an earlier run of the cell in `dir`, once it is done.
fn clear_failure(dir: &Path) -> Result<(), SweepError> {
    let path = dir.join(FAILED);
    match std::fs::remove_file(&path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(SweepError::io(&path, e)),
        _ => Ok(()),
    }
}

/// The datasets of a sweep's cells, built once per distinct data config and context length.
pub struct Datasets {
    path: std::path::PathBuf,
    budget: Budget,
    built: Mutex<Vec<(String, Arc<Dataset>)>>,
}

impl Datasets {
    /// Datasets from the corpus at `path`, each checked against `budget`.
    pub fn new(path: &Path, budget: Budget) -> Self {
        Self {
            path: path.to_owned(),
            budget,
            built: Mutex::new(Vec::new()),
        }
    }

    /// The corpus path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The dataset `cfg` trains on.
    pub fn get(&self, cfg: &RunConfig) -> Result<Arc<Dataset>, RunError> {
        let key = format!("{:?} {}", cfg.data, cfg.model.block_size);
        let mut built = self.built.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((_, ds)) = built.iter().find(|(k, _)| *k == key) {
            return Ok(ds.clone());
        }
        let ds = Arc::new(Dataset::for_run(&self.path, cfg, &self.budget)?);
        built.push((key, ds.clone()));
        Ok(ds)
    }
}

/// Whether the cell in `dir` is done: it finished (its summary is written) or diverged.
pub fn is_done(dir: &Path) -> bool {
    dir.join(SUMMARY).is_file() || dir.join(DIVERGED).is_file()
}

/// Runs cell `index` of the sweep in `sweep_dir` on `device`: skipped when done, resumed from
/// its checkpoint when one is there, started (over) otherwise.
pub fn run_cell(
    plan: &Plan,
    sweep_dir: &Path,
    index: usize,
    datasets: &Datasets,
    (backend, device): (BackendKind, &Device),
    stop: &AtomicBool,
    observer: &mut dyn Observer,
) -> Result<CellOutcome, SweepError> {
    let cell = plan.cell(index, sweep_dir)?;
    let dir = sweep_dir.join(&cell.dir);
    let wrap = |source: RunError| SweepError::Run {
        index,
        dir: cell.dir.clone(),
        source: Box::new(source),
    };
    let cfg = RunConfig::from_toml_str(&cell.config, &format!("{}/{}", cell.dir, "plan"), &[])
        .map_err(|e| wrap(RunError::Config(e)))?;
    // A plan edited after the cell started would mix two configs in one cell's results.
    let saved = dir.join(CONFIG);
    if saved.is_file() && std::fs::read_to_string(&saved).ok() != Some(cfg.to_toml()) {
        return Err(SweepError::Plan {
            dir: sweep_dir.to_owned(),
            message: format!(
                "cell {index} ({}) was started with another config than the plan now gives it (was {} edited?); restore the plan, or remove {} to run the cell again",
                cell.dir,
                crate::PLAN_FILE,
                dir.display()
            ),
        });
    }
    if is_done(&dir) {
        return Ok(CellOutcome::AlreadyDone);
    }
    let ds = datasets.get(&cfg).map_err(wrap)?;
    plan.check_corpus(&ds, datasets.path(), sweep_dir)?;
    let mut opts = RunOptions::new(backend, device.clone(), Some(dir.clone()), stop);
    // With a checkpoint, continue; without one (killed before its first), start over.
    opts.resume = dir.join(CHECKPOINT).is_file();
    opts.force = !opts.resume;
    match makemore_train::train(&cfg, &ds, datasets.path(), &opts, observer) {
        Ok(_) => {
            clear_failure(&dir)?;
            Ok(CellOutcome::Trained)
        }
        // The run marked itself diverged (DIVERGED), which makes the cell done.
        Err(RunError::Diverged { step, .. }) => {
            clear_failure(&dir)?;
            Ok(CellOutcome::Diverged { step })
        }
        Err(RunError::Interrupted { .. }) => Ok(CellOutcome::Interrupted),
        Err(e) => Err(wrap(e)),
    }
}
