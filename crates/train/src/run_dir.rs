//! The run-directory format: which files a run directory holds, what each contains, and reading
//! and writing them (every write to a temporary name, fsynced and renamed). The checkpoint's
//! format lives here too. Nothing else in the workspace names these files.

use makemore_data::Vocabulary;
use makemore_files::write_atomic;
use makemore_model::config::RunConfig;
use makemore_model::data::{CorpusId, Dataset};
use makemore_model::error::RunError;
use makemore_model::weights::WeightsFile;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// The run's config, as TOML.
pub const CONFIG: &str = "config.toml";
/// [`RunInfo`], as JSON.
pub const RUN_INFO: &str = "run.json";
/// The vocabulary, as JSON.
pub const VOCAB: &str = "vocab.json";
/// The last checkpoint ([`crate::Checkpoint`]).
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
/// The folder where runs written before event files went into the run directory itself keep
/// theirs (see [`event_files`]): still read, resumed, exported over and cleared.
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

impl DivergedRecord {
    /// The record of a [`RunError::Diverged`]; `None` for any other error.
    pub fn of(e: &RunError) -> Option<Self> {
        match e {
            RunError::Diverged {
                step,
                lr,
                loss,
                culprit,
                ..
            } => Some(DivergedRecord {
                step: *step,
                lr: *lr,
                loss: loss.clone(),
                culprit: culprit.clone(),
            }),
            _ => None,
        }
    }
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

/// The text of a run file: one that is missing, a directory or not text is a damaged run (bad
/// input, naming the file), not a failure to read.
pub(crate) fn read_text(path: &Path) -> Result<String, RunError> {
    use std::io::ErrorKind;
    if path.is_dir() {
        return Err(RunError::bad(path, "is a directory, expected a file"));
    }
    if std::fs::metadata(path).is_ok_and(|m| !m.is_file()) {
        return Err(RunError::bad(
            path,
            "is not a regular file (a device, FIFO or socket)",
        ));
    }
    std::fs::read_to_string(path).map_err(|e| match e.kind() {
        ErrorKind::NotFound => RunError::bad(path, "missing"),
        ErrorKind::InvalidData => RunError::bad(path, "is not text: damaged"),
        _ => RunError::io(path)(e),
    })
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
        read_text(&path)
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
        let text = read_text(&path)?;
        RunInfo::from_json(&text, &path)
    }

    /// A JSON file of the run.
    pub fn read_json<T: serde::de::DeserializeOwned>(&self, name: &str) -> Result<T, RunError> {
        let path = self.file(name);
        let text = read_text(&path)?;
        serde_json::from_str(&text).map_err(|e| RunError::bad(&path, e.to_string()))
    }

    /// A JSON-lines file of the run, a value per line.
    pub fn read_jsonl<T: serde::de::DeserializeOwned>(
        &self,
        name: &str,
    ) -> Result<Vec<T>, RunError> {
        let path = self.file(name);
        let text = read_text(&path)?;
        parse_jsonl(&text, &path)
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

    /// Creates the directory and writes what a new run starts with: its config, `run.json` and
    /// the vocabulary.
    pub fn create(&self, config_text: &str, info: &RunInfo) -> Result<(), RunError> {
        std::fs::create_dir_all(&self.path).map_err(RunError::io(&self.path))?;
        makemore_files::sync_dir(self.path.parent().unwrap_or(Path::new(".")));
        // The config last: it is what marks a directory as holding a run, so a kill between
        // these writes leaves files a new run refuses to replace without --force, not a run
        // that cannot be resumed.
        self.write_json(VOCAB, &info.vocab, false)?;
        self.write_json(RUN_INFO, info, true)?;
        self.write(CONFIG, config_text.as_bytes())
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
        let started = [RUN_INFO, VOCAB].map(|f| self.file(f));
        if let Some(path) = self
            .outputs()
            .into_iter()
            .chain(started)
            .find(|p| p.exists())
        {
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
        all.extend(event_files(self));
        all.extend(unfinished_event_files(self));
        // The saturation maps, whose names depend on the layers and steps.
        let maps = std::fs::read_dir(&self.path)
            .into_iter()
            .flatten()
            .flatten();
        all.extend(maps.map(|e| e.path()).filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(makemore_diagnostics::satmap::is_map_file)
        }));
        all
    }

    /// Removes an old run's outputs, so nothing stale is taken for the new run's: the files a
    /// run writes, and its event files (an older run's `tb` folder too when that leaves it
    /// empty).
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

    /// Whether the run here finished: its model and summary are written.
    pub fn is_finished(&self) -> bool {
        self.file(MODEL).is_file() && self.file(SUMMARY).is_file()
    }
}

/// The files named `events.out.tfevents.*` in the run directory and its `tb` folder whose name
/// ends in `.tmp` (`unfinished`) or not.
fn event_files_where(dir: &RunDir, unfinished: bool) -> Vec<PathBuf> {
    [dir.path().to_owned(), dir.file(TB_DIR)]
        .iter()
        .flat_map(std::fs::read_dir)
        .flatten()
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.file_name().and_then(|n| n.to_str()).is_some_and(|n| {
                n.starts_with("events.out.tfevents.") && n.ends_with(".tmp") == unfinished
            }) && p.is_file()
        })
        .collect()
}

/// Event files a write did not finish (`events.out.tfevents.*.tmp`, left by a kill during an
/// atomic write), in the run directory and its `tb` folder: never read, but TensorBoard would
/// read them, so a new run (`--force`) and an export remove them.
pub fn unfinished_event_files(dir: &RunDir) -> Vec<PathBuf> {
    event_files_where(dir, true)
}

/// The event files already in the run directory, and in its `tb` folder where an older run
/// wrote them: sorted by name (their creation time first), the newest last.
pub fn event_files(dir: &RunDir) -> Vec<PathBuf> {
    let mut files = event_files_where(dir, false);
    files.sort_by(|a, b| a.file_name().cmp(&b.file_name()).then_with(|| a.cmp(b)));
    files
}
