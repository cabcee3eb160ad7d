//! The checkpoint: everything a run needs to continue exactly where it stopped, its file format
//! (a SHA-256 line, then JSON), and reading, writing and checking it in a run directory.

use crate::run_dir::{
    parse_jsonl, read_text, RunDir, CHECKPOINT, CONFIG, METRICS, MODEL, RUN_INFO, SUMMARY,
};
use makemore_data::SamplerState;
use makemore_diagnostics::DiagnosticRecord;
use makemore_files::sha256_hex;
use makemore_model::config::RunConfig;
use makemore_model::data::Dataset;
use makemore_model::error::RunError;
use makemore_model::optim::OptimizerState;
use makemore_model::trainer::TrainState;
use makemore_model::weights::WeightsFile;
use serde::{Deserialize, Serialize};
use std::path::Path;

/// Everything needed to continue a run exactly where it stopped.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Checkpoint {
    /// Steps completed.
    pub step: u64,
    /// SHA-256 of the run's config (as saved in `config.toml`).
    pub config_sha256: String,
    /// The model, running statistics included.
    pub weights: WeightsFile,
    /// The optimizer's state.
    pub optimizer: OptimizerState,
    /// The minibatch sampler's position.
    pub sampler: SamplerState,
    /// The very first minibatch loss.
    pub first_loss: f64,
    /// The last minibatch loss so far (absent in checkpoints written before it was kept).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub final_loss: Option<f64>,
    /// Training seconds so far.
    pub seconds: f64,
    /// `metrics.jsonl` so far.
    pub metrics: String,
    /// `diagnostics.jsonl` so far: the records as text, so that a resumed run writes the same
    /// bytes as an uninterrupted one (a float read back from JSON may differ in its last bit).
    #[serde(default)]
    pub diagnostics_jsonl: String,
    /// Diagnostic records, as checkpoints before `diagnostics_jsonl` held them (read only).
    #[serde(default, skip_serializing)]
    pub diagnostics: Vec<DiagnosticRecord>,
    /// Per-step losses so far (kept only when diagnostics are recorded, for the loss plot).
    pub losses: Vec<f32>,
    /// Losses read back since the last log point.
    pub unlogged: Vec<f32>,
}

impl Checkpoint {
    /// What the trainer needs to take the next step; `origin` names the checkpoint in errors.
    pub fn state<'a>(&'a self, origin: &'a Path) -> TrainState<'a> {
        TrainState {
            step: self.step,
            weights: &self.weights,
            optimizer: &self.optimizer,
            sampler: self.sampler,
            unlogged: &self.unlogged,
            origin,
        }
    }

    /// `diagnostics.jsonl` so far (rebuilt from the records of an older checkpoint).
    pub fn jsonl(&self) -> String {
        if !self.diagnostics_jsonl.is_empty() {
            return self.diagnostics_jsonl.clone();
        }
        self.diagnostics
            .iter()
            .map(|r| serde_json::to_string(r).expect("a diagnostic record serializes") + "\n")
            .collect()
    }

    /// The diagnostic records so far.
    pub fn records(&self) -> Result<Vec<DiagnosticRecord>, RunError> {
        if self.diagnostics_jsonl.is_empty() {
            return Ok(self.diagnostics.clone());
        }
        parse_jsonl(&self.diagnostics_jsonl, Path::new(CHECKPOINT))
    }

    /// The first tensor (a parameter, a running statistic or an optimizer moment) holding a NaN
    /// or an infinity, if any: such a checkpoint must not be written.
    pub fn first_non_finite(&self) -> Option<String> {
        let bad = |v: &[f32]| v.iter().any(|x| !x.is_finite());
        if let Some(t) = self.weights.tensors.iter().find(|t| bad(&t.data)) {
            return Some(t.path.clone());
        }
        self.optimizer
            .buffers
            .iter()
            .zip(&self.weights.tensors)
            .find(|(m, _)| m.as_ref().is_some_and(|b| b.iter().any(|v| bad(v))))
            .map(|(_, t)| format!("the optimizer's moments of {}", t.path))
    }

    /// The file's text: the SHA-256 of the JSON body on the first line, then the body.
    pub fn to_text(&self) -> Result<String, serde_json::Error> {
        let body = serde_json::to_string(self)?;
        Ok(format!("{}\n{body}", sha256_hex(body.as_bytes())))
    }

    /// Parses and verifies a checkpoint's text; `path` is for messages.
    pub fn from_text(text: &str, path: &Path) -> Result<Self, RunError> {
        let (digest, body) = text
            .split_once('\n')
            .ok_or_else(|| RunError::bad(path, "truncated checkpoint (no digest line)"))?;
        let found = sha256_hex(body.as_bytes());
        if found != digest {
            return Err(RunError::bad(path, format!("checksum mismatch: the checkpoint is truncated or corrupted (expected {digest}, found {found})")));
        }
        let c: Checkpoint = serde_json::from_str(body)
            .map_err(|e| RunError::bad(path, format!("malformed checkpoint: {e}")))?;
        let weights = c.weights.verify(&path.display().to_string())?;
        // The optimizer indexes every tensor in visiting order, running statistics included.
        let sizes: Vec<usize> = weights.tensors.iter().map(|t| t.data.len()).collect();
        let fits = c.optimizer.buffers.len() <= sizes.len()
            && c.optimizer
                .buffers
                .iter()
                .zip(&sizes)
                .all(|(m, &n)| m.as_ref().is_none_or(|b| b.iter().all(|v| v.len() == n)));
        if !fits {
            return Err(RunError::bad(
                path,
                "the optimizer's state does not fit the model's parameters",
            ));
        }
        Ok(Checkpoint { weights, ..c })
    }
}

/// The checkpoint of a run directory.
impl RunDir {
    /// The last checkpoint, verified.
    pub fn read_checkpoint(&self) -> Result<Checkpoint, RunError> {
        let path = self.file(CHECKPOINT);
        if !path.exists() {
            return Err(RunError::bad(
                self.path(),
                "no checkpoint (checkpoint.json is missing)",
            ));
        }
        let text = read_text(&path)?;
        Checkpoint::from_text(&text, &path)
    }

    /// Writes a checkpoint.
    pub fn write_checkpoint(&self, ckpt: &Checkpoint) -> Result<(), RunError> {
        let text = ckpt
            .to_text()
            .map_err(|e| RunError::bad(&self.file(CHECKPOINT), e.to_string()))?;
        self.write(CHECKPOINT, text.as_bytes())
    }

    /// Checks that the run here is `cfg` on the corpus of `ds`, and returns its checkpoint: none
    /// for a run stopped before its first (it starts over from step 0, with nothing lost).
    pub fn prepare_resume(
        &self,
        cfg: &RunConfig,
        ds: &Dataset,
    ) -> Result<Option<Checkpoint>, RunError> {
        let saved = self.read_config_text()?;
        if saved != cfg.to_toml() {
            return Err(RunError::ConfigDiffers {
                path: self.file(CONFIG),
            });
        }
        self.read_info()?.check_corpus(ds, &self.file(RUN_INFO))?;
        if let Some(d) = self.diverged()? {
            return Err(self.diverged_error(&d));
        }
        if !self.file(CHECKPOINT).exists() {
            // Only a run with nothing past its start may start over: a finished run's outputs
            // stay.
            if self.file(MODEL).exists() || self.file(SUMMARY).exists() {
                return Err(RunError::bad(
                    self.path(),
                    "no checkpoint (checkpoint.json is missing), and the run has written its model: there is nothing to resume",
                ));
            }
            // Metrics are written with each checkpoint: a run that has them got past its first
            // one, and starting over would throw that away without a word.
            if self.file(METRICS).exists() {
                return Err(RunError::bad(
                    &self.file(CHECKPOINT),
                    "missing, though the run logged steps (metrics.jsonl): restore it, or start the run over with --force",
                ));
            }
            return Ok(None);
        }
        let ckpt = self.read_checkpoint()?;
        if ckpt.config_sha256 != sha256_hex(saved.as_bytes()) {
            return Err(RunError::ConfigDiffers {
                path: self.file(CONFIG),
            });
        }
        // A run stopped after its last checkpoint but before its model and summary were written
        // resumes with no step left: it is evaluated and written.
        if ckpt.step >= cfg.train.steps && self.is_finished() {
            return Err(RunError::bad(
                self.path(),
                format!(
                    "the run is finished ({} of {} steps); there is nothing to resume",
                    ckpt.step, cfg.train.steps
                ),
            ));
        }
        Ok(Some(ckpt))
    }

    /// Checks that `config.toml` is still the config the run was trained with (its last
    /// checkpoint says which): an edited one would describe another model than the weights'.
    /// A run without a checkpoint is not checked.
    pub fn check_config_unedited(&self) -> Result<(), RunError> {
        /// The one field read; the weights are skipped over, not kept.
        #[derive(Deserialize)]
        struct Head {
            config_sha256: String,
        }
        let path = self.file(CHECKPOINT);
        let Ok(text) = std::fs::read_to_string(&path) else {
            return Ok(());
        };
        let body = text.split_once('\n').map_or("", |(_, b)| b);
        let head: Head = serde_json::from_str(body)
            .map_err(|e| RunError::bad(&path, format!("malformed checkpoint: {e}")))?;
        if head.config_sha256 != sha256_hex(self.read_config_text()?.as_bytes()) {
            return Err(RunError::ConfigDiffers {
                path: self.file(CONFIG),
            });
        }
        Ok(())
    }
}
