//! A whole run: corpus to windows, model, training, evaluation, and the run directory.

use crate::backend::BackendKind;
use crate::config::{DataConfig, RunConfig};
use crate::data::DeviceWindows;
use crate::eval::split_loss;
use crate::fsio::write_atomic;
use crate::mlp::{BuildError, Mlp, Source};
use crate::optim::Optimizer;
use crate::train::{run, LogPoint, Stop, Trainer};
use crate::weights::WeightsFile;
use burn::module::Module;
use burn::tensor::Device;
use makemore_data::{
    BatchSampler, Corpus, CorpusError, Split, SplitError, Vocabulary, VocabularyError, Windows,
};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::time::Instant;

/// A corpus turned into a vocabulary, a split and windows.
pub struct Dataset {
    /// The corpus.
    pub corpus: Corpus,
    /// Its vocabulary.
    pub vocab: Vocabulary,
    /// Items by split.
    pub split: Split,
    /// Windows of the train, val and test splits.
    pub windows: [Windows; 3],
}

/// The split names, in [`Dataset::windows`] order.
pub const SPLITS: [&str; 3] = ["train", "val", "test"];

impl Dataset {
    /// Loads `path` and prepares it for contexts of `block_size`.
    pub fn load(path: &Path, data: &DataConfig, block_size: usize) -> Result<Self, RunError> {
        let corpus = Corpus::load(path, data.boundary, None)?;
        Self::from_corpus(corpus, data, block_size)
    }

    /// Prepares an already loaded corpus.
    pub fn from_corpus(
        corpus: Corpus,
        data: &DataConfig,
        block_size: usize,
    ) -> Result<Self, RunError> {
        let vocab = Vocabulary::from_items(&corpus.items, data.boundary)?;
        Self::with_vocab(corpus, vocab, data, block_size)
    }

    /// Prepares a corpus with a given vocabulary (a saved run's).
    pub fn with_vocab(
        corpus: Corpus,
        vocab: Vocabulary,
        data: &DataConfig,
        block_size: usize,
    ) -> Result<Self, RunError> {
        let split = Split::python_shuffle(corpus.items.clone(), data.split_seed, data.split)?;
        let windows = [&split.train, &split.val, &split.test]
            .map(|items| Windows::build(items, &vocab, block_size));
        let [a, b, c] = windows;
        Ok(Self {
            corpus,
            vocab,
            split,
            windows: [a?, b?, c?],
        })
    }
}

/// A run failed.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The corpus.
    #[error(transparent)]
    Corpus(#[from] CorpusError),
    /// The split fractions.
    #[error(transparent)]
    Split(#[from] SplitError),
    /// The vocabulary.
    #[error(transparent)]
    Vocabulary(#[from] VocabularyError),
    /// Building the model.
    #[error(transparent)]
    Build(#[from] BuildError),
    /// Reading a saved model.
    #[error(transparent)]
    Weights(#[from] crate::weights::WeightsError),
    /// A file of the run directory.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A file of the run directory has unexpected contents.
    #[error("{path}: {message}")]
    BadRunFile {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// The loss stopped being finite.
    #[error("training diverged at step {step} (lr {lr}): the loss is not finite; lower train.lr")]
    Diverged {
        /// The step.
        step: u64,
        /// Its learning rate.
        lr: f64,
    },
    /// Stopped by a signal.
    #[error("interrupted at step {step}")]
    Interrupted {
        /// Steps completed.
        step: u64,
    },
}

/// What a finished run reports (and writes as `summary.json`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    /// Loss of the very first minibatch.
    pub first_loss: f64,
    /// ln(vocab): the loss of a uniform prediction.
    pub expected_first_loss: f64,
    /// Mean loss over the whole training split after training.
    pub train_loss: f64,
    /// Over the validation split.
    pub val_loss: f64,
    /// Over the test split.
    pub test_loss: f64,
    /// Steps taken.
    pub steps: u64,
    /// Wall time of the training loop.
    pub seconds: f64,
    /// Training-loop microseconds per step.
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

/// Hooks for progress display.
pub trait Observer {
    /// Training starts.
    fn started(&mut self, _total_steps: u64, _parameters: usize) {}
    /// Losses were read back.
    fn logged(&mut self, _point: &LogPoint) {}
    /// Training ended; evaluation follows.
    fn finished(&mut self) {}
}

/// An observer that shows nothing.
pub struct Silent;
impl Observer for Silent {}

/// Where and how to run.
pub struct RunOptions<'a> {
    /// Which backend `device` belongs to.
    pub backend: BackendKind,
    /// The device (without autodiff).
    pub device: Device,
    /// The run directory to write, if any.
    pub out: Option<PathBuf>,
    /// Raised to stop after the current step.
    pub stop: &'a AtomicBool,
}

/// The metadata file of a run directory.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RunInfo {
    /// The corpus path used.
    pub data: String,
    /// The backend.
    pub backend: String,
    /// The vocabulary.
    pub vocab: Vocabulary,
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> RunError + '_ {
    move |source| RunError::Io {
        path: path.to_owned(),
        source,
    }
}

/// Writes a file of the run directory atomically.
pub fn write_run_file(path: &Path, contents: &[u8]) -> Result<(), RunError> {
    write_atomic(path, contents).map_err(io(path))
}

/// Trains `cfg` on `ds` and evaluates every split; writes the run directory when asked.
pub fn train(
    cfg: &RunConfig,
    ds: &Dataset,
    data_path: &Path,
    opts: &RunOptions,
    observer: &mut dyn Observer,
) -> Result<Summary, RunError> {
    let ad = opts.device.clone().autodiff();
    let model = Mlp::build(
        &cfg.model,
        ds.vocab.len(),
        Source::Init {
            roles: &cfg.init,
            seed: cfg.train.seed,
        },
        &ad,
    )?;
    let parameters = model.num_trainable();
    if let Some(dir) = &opts.out {
        std::fs::create_dir_all(dir).map_err(io(dir))?;
        write_run_file(&dir.join("config.toml"), cfg.to_toml().as_bytes())?;
        let info = RunInfo {
            data: data_path.display().to_string(),
            backend: opts.backend.name().into(),
            vocab: ds.vocab.clone(),
        };
        write_run_file(
            &dir.join("run.json"),
            serde_json::to_string_pretty(&info)
                .unwrap_or_default()
                .as_bytes(),
        )?;
        write_run_file(
            &dir.join("vocab.json"),
            serde_json::to_string(&ds.vocab)
                .unwrap_or_default()
                .as_bytes(),
        )?;
    }
    let train_data = DeviceWindows::new(&ds.windows[0], &ad);
    let mut trainer = Trainer::new(
        model,
        cfg.train.clone(),
        train_data,
        Optimizer::new(cfg.train.optimizer),
        BatchSampler::new(cfg.train.seed, ds.windows[0].len()),
        0,
    );
    observer.started(cfg.train.steps, parameters);
    let mut first_loss = f64::NAN;
    let mut metrics = String::new();
    let start = Instant::now();
    let stop = run(&mut trainer, opts.stop, &mut |_| None, &mut |_, p| {
        if first_loss.is_nan() {
            first_loss = f64::from(p.losses[0]);
        }
        metrics.push_str(&serde_json::to_string(p).unwrap_or_default());
        metrics.push('\n');
        observer.logged(p);
    });
    let seconds = start.elapsed().as_secs_f64();
    observer.finished();
    if let Some(dir) = &opts.out {
        write_run_file(&dir.join("metrics.jsonl"), metrics.as_bytes())?;
    }
    match stop {
        Stop::Finished => {}
        Stop::Interrupted => return Err(RunError::Interrupted { step: trainer.step }),
        Stop::Diverged { step, lr } => return Err(RunError::Diverged { step, lr }),
    }
    let model = trainer.model().valid();
    let losses = evaluate(&model, ds, &opts.device);
    let summary = Summary {
        first_loss,
        expected_first_loss: (ds.vocab.len() as f64).ln(),
        train_loss: losses[0],
        val_loss: losses[1],
        test_loss: losses[2],
        steps: trainer.step,
        seconds,
        us_per_step: seconds * 1e6 / trainer.step.max(1) as f64,
        backend: opts.backend.name().into(),
        seed: cfg.train.seed,
        parameters,
        vocab_size: ds.vocab.len(),
        run_dir: opts.out.as_ref().map(|d| d.display().to_string()),
    };
    if let Some(dir) = &opts.out {
        write_run_file(
            &dir.join("model.json"),
            WeightsFile::new(model.tensors()).to_json().as_bytes(),
        )?;
        write_run_file(
            &dir.join("summary.json"),
            serde_json::to_string_pretty(&summary)
                .unwrap_or_default()
                .as_bytes(),
        )?;
    }
    Ok(summary)
}

/// Mean loss of a no-autodiff `model` on the train, val and test splits.
pub fn evaluate(model: &Mlp, ds: &Dataset, device: &Device) -> [f64; 3] {
    let w = &ds.windows;
    [0, 1, 2].map(|i| split_loss(model, &DeviceWindows::new(&w[i], device)))
}

/// A saved run, loaded for evaluation or sampling.
pub struct SavedRun {
    /// The run's config.
    pub config: RunConfig,
    /// Its metadata.
    pub info: RunInfo,
    /// The trained model (no autodiff).
    pub model: Mlp,
}

impl SavedRun {
    /// Loads `dir` onto `device`.
    pub fn load(dir: &Path, device: &Device) -> Result<Self, RunError> {
        if !dir.is_dir() {
            return Err(RunError::BadRunFile {
                path: dir.to_owned(),
                message: "no such run directory".into(),
            });
        }
        let cfg_path = dir.join("config.toml");
        let config = RunConfig::from_file(&cfg_path, &[]).map_err(|e| RunError::BadRunFile {
            path: cfg_path.clone(),
            message: e.to_string(),
        })?;
        let info_path = dir.join("run.json");
        let text = std::fs::read_to_string(&info_path).map_err(io(&info_path))?;
        let info: RunInfo = serde_json::from_str(&text).map_err(|e| RunError::BadRunFile {
            path: info_path.clone(),
            message: e.to_string(),
        })?;
        info.vocab.validate()?;
        let weights = WeightsFile::load(&dir.join("model.json"))?;
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
        })
    }
}
