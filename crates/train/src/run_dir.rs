//! The run-directory format: which files a run directory holds, what each contains, and reading
//! and writing them (every write to a temporary name, fsynced and renamed). The checkpoint's
//! format lives here too. Nothing else in the workspace names these files.

use makemore_data::{SamplerState, Vocabulary};
use makemore_diagnostics::DiagnosticRecord;
use makemore_files::{sha256_hex, write_atomic};
use makemore_model::config::RunConfig;
use makemore_model::data::{CorpusId, Dataset};
use makemore_model::error::RunError;
use makemore_model::optim::OptimizerState;
use makemore_model::trainer::TrainState;
use makemore_model::weights::WeightsFile;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// The run's config, as TOML.
pub const CONFIG: &str = "config.toml";
/// [`RunInfo`], as JSON.
pub const RUN_INFO: &str = "run.json";
/// The vocabulary, as JSON.
pub const VOCAB: &str = "vocab.json";
/// The last [`Checkpoint`].
pub const CHECKPOINT: &str = "checkpoint.json";
/// The trained model ([`WeightsFile`]), written when the run finishes.
pub const MODEL: &str = "model.json";
/// The run's summary, written when the run finishes.
pub const SUMMARY: &str = "summary.json";
/// One JSON object per log point.
pub const METRICS: &str = "metrics.jsonl";
/// One JSON object per recorded step.
pub const DIAGNOSTICS: &str = "diagnostics.jsonl";
/// The diagnostics report.
pub const REPORT: &str = "report.html";
/// Locked (`flock`) by the process writing the run, which writes its pid inside for messages.
pub const LOCK: &str = ".lock";
/// Written when training diverged ([`DivergedRecord`]): the run has no trained model, and
/// resuming it would diverge again.
pub const DIVERGED: &str = "diverged.json";
/// The folder of TensorBoard event files (see `tb`).
pub const TB_DIR: &str = "tb";

/// The metadata file of a run directory.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RunInfo {
    /// The corpus path used.
    pub data: String,
    /// The backend.
    pub backend: String,
    /// The vocabulary.
    pub vocab: Vocabulary,
    /// The corpus trained on (absent in runs written before it was recorded).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub corpus: Option<CorpusId>,
}

impl RunInfo {
    /// Parses `run.json`'s text and checks its vocabulary; `path` is for messages.
    pub fn from_json(text: &str, path: &Path) -> Result<Self, RunError> {
        let info: RunInfo =
            serde_json::from_str(text).map_err(|e| RunError::bad(path, e.to_string()))?;
        info.vocab.validate()?;
        Ok(info)
    }

    /// Checks that `ds` is the corpus this run was trained on (`path` names `run.json`).
    pub fn check_corpus(&self, ds: &Dataset, path: &Path) -> Result<(), RunError> {
        if self.vocab != ds.vocab {
            return Err(RunError::VocabularyDiffers {
                path: path.to_owned(),
            });
        }
        let given = ds.id();
        match &self.corpus {
            Some(run) if run != &given => Err(RunError::CorpusDiffers {
                path: path.to_owned(),
                run: run.to_string(),
                given: given.to_string(),
            }),
            _ => Ok(()),
        }
    }
}

/// What a diverged run keeps in [`DIVERGED`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DivergedRecord {
    /// The step whose loss was not finite or too large.
    pub step: u64,
    /// The learning rate then.
    pub lr: f64,
    /// The loss, in words.
    pub loss: String,
    /// The first tensor that went non-finite.
    pub culprit: String,
}

/// What a finished run reports (and writes as `summary.json`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunSummary {
    /// Loss of the very first minibatch.
    #[serde(deserialize_with = "nan_if_null")]
    pub first_loss: f64,
    /// Loss of the last minibatch.
    #[serde(deserialize_with = "nan_if_null")]
    pub final_loss: f64,
    /// ln(vocab): the loss of a uniform prediction.
    #[serde(deserialize_with = "nan_if_null")]
    pub expected_first_loss: f64,
    /// Mean loss over the whole training split after training.
    #[serde(deserialize_with = "nan_if_null")]
    pub train_loss: f64,
    /// Over the validation split.
    #[serde(deserialize_with = "nan_if_null")]
    pub val_loss: f64,
    /// Over the test split.
    #[serde(deserialize_with = "nan_if_null")]
    pub test_loss: f64,
    /// Steps taken.
    pub steps: u64,
    /// Wall time of the training loop (all sessions of a resumed run).
    #[serde(deserialize_with = "nan_if_null")]
    pub seconds: f64,
    /// Training-loop microseconds per step.
    #[serde(deserialize_with = "nan_if_null")]
    pub us_per_step: f64,
    /// The backend.
    pub backend: String,
    /// Seed of the weights and batches.
    pub seed: u64,
    /// Trained parameters.
    pub parameters: usize,
    /// Vocabulary size.
    pub vocab_size: usize,
    /// The run directory, when one was written.
    pub run_dir: Option<String>,
}

/// A number JSON wrote as `null` because it was NaN (an empty split's loss, say) reads back as
/// NaN.
fn nan_if_null<'de, D: serde::Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
    Ok(Option::<f64>::deserialize(d)?.unwrap_or(f64::NAN))
}

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

/// A value per line of `text`; errors name `path` and the line.
pub(crate) fn parse_jsonl<T: serde::de::DeserializeOwned>(
    text: &str,
    path: &Path,
) -> Result<Vec<T>, RunError> {
    text.lines()
        .enumerate()
        .map(|(i, l)| {
            serde_json::from_str(l).map_err(|e| RunError::bad(path, format!("line {}: {e}", i + 1)))
        })
        .collect()
}

/// The lock on a run directory (see [`RunDir::lock`]): an open, `flock`ed file, which the
/// kernel releases when the process ends however it ends.
#[derive(Debug)]
pub struct RunLock {
    file: std::fs::File,
    path: PathBuf,
    dir: PathBuf,
    /// The highest folder that taking the lock created, if it created any.
    created: Option<PathBuf>,
}

impl Drop for RunLock {
    fn drop(&mut self) {
        // Removed while still held, so that a process that opened it meanwhile sees that the
        // file it locked is no longer the lock (see `RunDir::lock`).
        let _ = std::fs::remove_file(&self.path);
        let _ = self.file.unlock();
        if let Some(top) = &self.created {
            // Only empty folders go, from the run directory up to the highest one created.
            for dir in self.dir.ancestors() {
                if std::fs::remove_dir(dir).is_err() || dir == top {
                    break;
                }
            }
        }
    }
}

/// Whether the open `file` is still the file at `path` (a lock file removed and created again
/// between opening and locking is not).
fn is_file_at(file: &std::fs::File, path: &Path) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        match (file.metadata(), std::fs::metadata(path)) {
            (Ok(a), Ok(b)) => a.dev() == b.dev() && a.ino() == b.ino(),
            _ => false,
        }
    }
    #[cfg(not(unix))]
    {
        let _ = file;
        path.is_file()
    }
}

/// A run directory: its files by name, read and written whole.
///
/// ```no_run
/// let dir = makemore_train::RunDir::new("runs/bn");
/// let config = dir.read_config()?;
/// let checkpoint = dir.read_checkpoint()?;
/// println!("{} of {} steps done", checkpoint.step, config.train.steps);
/// # Ok::<(), makemore_model::RunError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunDir {
    path: PathBuf,
}

impl RunDir {
    /// The run directory at `path` (nothing is read or created yet).
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self { path: path.into() }
    }

    /// Where it is.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The path of one of its files.
    pub fn file(&self, name: &str) -> PathBuf {
        self.path.join(name)
    }

    /// Whether a run was started here (its config is saved).
    pub fn holds_run(&self) -> bool {
        self.file(CONFIG).is_file()
    }

    /// The saved config's text.
    pub fn read_config_text(&self) -> Result<String, RunError> {
        if !self.holds_run() {
            return Err(RunError::NoRun {
                dir: self.path.clone(),
            });
        }
        let path = self.file(CONFIG);
        std::fs::read_to_string(&path).map_err(RunError::io(&path))
    }

    /// The saved config.
    pub fn read_config(&self) -> Result<RunConfig, RunError> {
        let text = self.read_config_text()?;
        let path = self.file(CONFIG);
        Ok(RunConfig::from_toml_str(
            &text,
            &path.display().to_string(),
            &[],
        )?)
    }

    /// `run.json`, with its vocabulary checked.
    pub fn read_info(&self) -> Result<RunInfo, RunError> {
        let path = self.file(RUN_INFO);
        let text = std::fs::read_to_string(&path).map_err(RunError::io(&path))?;
        RunInfo::from_json(&text, &path)
    }

    /// A JSON file of the run.
    pub fn read_json<T: serde::de::DeserializeOwned>(&self, name: &str) -> Result<T, RunError> {
        let path = self.file(name);
        let text = std::fs::read_to_string(&path).map_err(RunError::io(&path))?;
        serde_json::from_str(&text).map_err(|e| RunError::bad(&path, e.to_string()))
    }

    /// A JSON-lines file of the run, a value per line.
    pub fn read_jsonl<T: serde::de::DeserializeOwned>(
        &self,
        name: &str,
    ) -> Result<Vec<T>, RunError> {
        let path = self.file(name);
        let text = std::fs::read_to_string(&path).map_err(RunError::io(&path))?;
        parse_jsonl(&text, &path)
    }

    /// The last checkpoint, verified.
    pub fn read_checkpoint(&self) -> Result<Checkpoint, RunError> {
        let path = self.file(CHECKPOINT);
        if !path.is_file() {
            return Err(RunError::bad(
                &self.path,
                "no checkpoint to resume from (checkpoint.json is missing)",
            ));
        }
        let text = std::fs::read_to_string(&path).map_err(RunError::io(&path))?;
        Checkpoint::from_text(&text, &path)
    }

    /// The trained model, verified.
    pub fn read_model(&self) -> Result<WeightsFile, RunError> {
        Ok(WeightsFile::load(&self.file(MODEL))?)
    }

    /// Writes one file atomically.
    pub fn write(&self, name: &str, bytes: &[u8]) -> Result<(), RunError> {
        let path = self.file(name);
        write_atomic(&path, bytes).map_err(RunError::io(&path))
    }

    /// Writes `value` as JSON (pretty-printed, or on one line), reporting a value that does not
    /// serialize rather than writing an empty file.
    pub fn write_json<T: Serialize>(
        &self,
        name: &str,
        value: &T,
        pretty: bool,
    ) -> Result<(), RunError> {
        let text = if pretty {
            serde_json::to_string_pretty(value)
        } else {
            serde_json::to_string(value)
        };
        let text = text.map_err(|e| RunError::bad(&self.file(name), e.to_string()))?;
        self.write(name, text.as_bytes())
    }

    /// Writes a checkpoint.
    pub fn write_checkpoint(&self, ckpt: &Checkpoint) -> Result<(), RunError> {
        let text = ckpt
            .to_text()
            .map_err(|e| RunError::bad(&self.file(CHECKPOINT), e.to_string()))?;
        self.write(CHECKPOINT, text.as_bytes())
    }

    /// Creates the directory if need be and takes its lock, so that no other process writes this
    /// run at the same time; the lock goes when the guard is dropped (and with it the directory,
    /// if it was created here and nothing was written into it). The lock is the kernel's
    /// (`flock`), so a holder that died, however it died, holds nothing: a lock file left
    /// behind is taken over, whatever pid it names.
    pub fn lock(&self) -> Result<RunLock, RunError> {
        if self.path.exists() && !self.path.is_dir() {
            return Err(RunError::bad(&self.path, "is not a directory"));
        }
        let created = !self.path.is_dir();
        // The highest folder this call creates, so that a refused run leaves none behind.
        let mut top = self.path.clone();
        while let Some(parent) = top
            .parent()
            .filter(|p| !p.as_os_str().is_empty() && !p.exists())
        {
            top = parent.to_path_buf();
        }
        if created {
            std::fs::create_dir_all(&self.path).map_err(RunError::io(&self.path))?;
            let parent = self.path.parent().filter(|p| !p.as_os_str().is_empty());
            makemore_files::sync_dir(parent.unwrap_or(Path::new(".")));
        }
        let path = self.file(LOCK);
        // A lock file removed by its holder between our open and our lock is retried.
        for _ in 0..8 {
            let mut file = std::fs::OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .truncate(false)
                .open(&path)
                .map_err(RunError::io(&path))?;
            match file.try_lock() {
                Ok(()) if is_file_at(&file, &path) => {
                    use std::io::{Seek, Write};
                    let pid = format!("{}\n", std::process::id());
                    let _ = file
                        .set_len(0)
                        .and_then(|_| file.rewind())
                        .and_then(|_| file.write_all(pid.as_bytes()));
                    return Ok(RunLock {
                        file,
                        path,
                        dir: self.path.clone(),
                        created: created.then_some(top),
                    });
                }
                Ok(()) => continue,
                Err(std::fs::TryLockError::WouldBlock) => {
                    let holder = std::fs::read_to_string(&path).unwrap_or_default();
                    return Err(RunError::Locked {
                        dir: self.path.clone(),
                        pid: holder.trim().parse().ok(),
                    });
                }
                Err(std::fs::TryLockError::Error(e)) => {
                    return Err(RunError::bad(
                        &path,
                        format!("cannot lock the run directory: {e}"),
                    ))
                }
            }
        }
        Err(RunError::bad(
            &path,
            "could not take the run directory's lock (it kept being replaced)",
        ))
    }

    /// Creates the directory and writes what a new run starts with: its config, `run.json` and
    /// the vocabulary.
    pub fn create(&self, config_text: &str, info: &RunInfo) -> Result<(), RunError> {
        std::fs::create_dir_all(&self.path).map_err(RunError::io(&self.path))?;
        makemore_files::sync_dir(self.path.parent().unwrap_or(Path::new(".")));
        self.write(CONFIG, config_text.as_bytes())?;
        self.write_json(RUN_INFO, info, true)?;
        self.write_json(VOCAB, &info.vocab, false)
    }

    /// Checks that a new run of `cfg` may start here: refuses a directory holding a run, or any
    /// file a run writes, unless `force` (then [`RunDir::clear`] removes the old outputs, once
    /// the new run is sure to start). Files a run does not write are never touched.
    pub fn check_new(&self, cfg: &RunConfig, force: bool) -> Result<(), RunError> {
        if force {
            return Ok(());
        }
        if self.holds_run() {
            let saved = std::fs::read_to_string(self.file(CONFIG)).unwrap_or_default();
            return Err(RunError::RunExists {
                dir: self.path.clone(),
                same_config: saved == cfg.to_toml(),
            });
        }
        if let Some(path) = self.outputs().into_iter().find(|p| p.exists()) {
            return Err(RunError::OutputExists { path });
        }
        Ok(())
    }

    /// Every file a run writes here, but its config, metadata and lock: what [`RunDir::clear`]
    /// removes.
    fn outputs(&self) -> Vec<PathBuf> {
        let plots = makemore_diagnostics::PLOT_NAMES
            .iter()
            .flat_map(|name| ["svg", "png"].map(|ext| format!("{name}.{ext}")));
        let files = [
            CHECKPOINT,
            MODEL,
            SUMMARY,
            METRICS,
            DIAGNOSTICS,
            REPORT,
            DIVERGED,
        ];
        let mut all: Vec<PathBuf> = files
            .into_iter()
            .map(String::from)
            .chain(plots)
            .map(|f| self.file(&f))
            .collect();
        all.extend(crate::tb::event_files(self));
        all
    }

    /// Removes an old run's outputs, so nothing stale is taken for the new run's: the files a
    /// run writes, and its event files (the `tb` folder too when that leaves it empty).
    pub fn clear(&self) {
        for f in self.outputs() {
            let _ = std::fs::remove_file(f);
        }
        let _ = std::fs::remove_dir(self.file(TB_DIR));
    }

    /// The record of a diverged run, if this one diverged.
    pub fn diverged(&self) -> Result<Option<DivergedRecord>, RunError> {
        if !self.file(DIVERGED).is_file() {
            return Ok(None);
        }
        self.read_json(DIVERGED).map(Some)
    }

    /// The error for a run that diverged (`record`), which has no model to evaluate or resume.
    pub fn diverged_error(&self, record: &DivergedRecord) -> RunError {
        RunError::DivergedRun {
            dir: self.path.clone(),
            step: record.step,
            lr: record.lr,
        }
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

    /// Whether the run here finished: its model and summary are written.
    pub fn is_finished(&self) -> bool {
        self.file(MODEL).is_file() && self.file(SUMMARY).is_file()
    }

    /// Checks that the run here is `cfg` on the corpus of `ds`, and returns its checkpoint.
    pub fn prepare_resume(&self, cfg: &RunConfig, ds: &Dataset) -> Result<Checkpoint, RunError> {
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
                &self.path,
                format!(
                    "the run is finished ({} of {} steps); there is nothing to resume",
                    ckpt.step, cfg.train.steps
                ),
            ));
        }
        Ok(ckpt)
    }
}
