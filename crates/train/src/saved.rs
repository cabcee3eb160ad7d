//! A finished (or stopped) run loaded back from its directory, for evaluation or sampling.

use crate::run_dir::{RunDir, RunInfo, CHECKPOINT, MODEL};
use burn::tensor::Device;
use makemore_model::config::RunConfig;
use makemore_model::error::RunError;
use makemore_model::mlp::{Mlp, Source};
use std::path::Path;

/// A saved run, loaded for evaluation or sampling.
pub struct SavedRun {
    /// The run's config.
    pub config: RunConfig,
    /// Its metadata.
    pub info: RunInfo,
    /// The trained model (no autodiff).
    pub model: Mlp,
    /// The checkpoint's step, when the weights came from a checkpoint rather than model.json.
    pub checkpoint_step: Option<u64>,
}

impl SavedRun {
    /// Loads the finished run in `dir` onto `device`; with `from_checkpoint`, the weights of its
    /// last checkpoint instead (a paused or interrupted run has no other).
    pub fn load(dir: &Path, device: &Device, from_checkpoint: bool) -> Result<Self, RunError> {
        if !dir.is_dir() {
            return Err(RunError::bad(dir, "no such run directory"));
        }
        let run = RunDir::new(dir);
        let config = run.read_config()?;
        let info = run.read_info()?;
        run.check_config_unedited()?;
        let (weights, checkpoint_step) = if from_checkpoint {
            let c = run.read_checkpoint()?;
            (c.weights, Some(c.step))
        } else if !run.file(MODEL).is_file() {
            // A run being written now is neither paused nor finished.
            if let Err(e @ RunError::Locked { .. }) = run.lock() {
                return Err(e);
            }
            if let Some(d) = run.diverged()? {
                return Err(run.diverged_error(&d));
            }
            if !run.file(CHECKPOINT).is_file() {
                return Err(RunError::bad(
                    &run.file(MODEL),
                    "missing, and so is its checkpoint: the run stopped before its first one (resuming it starts it over)",
                ));
            }
            return Err(RunError::Unfinished {
                dir: dir.to_owned(),
                step: run.read_checkpoint()?.step,
                steps: config.train.steps,
            });
        } else {
            (run.read_model()?, None)
        };
        let model = Mlp::build(
            &config.model,
            info.vocab.len(),
            Source::Saved(&weights.by_path()),
            device,
        )?;
        Ok(Self {
            config,
            info,
            model,
            checkpoint_step,
        })
    }
}
