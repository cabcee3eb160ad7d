//! A whole run: corpus to windows, model, training, evaluation, and the run directory.

use crate::backend::BackendKind;
use crate::config::{DataConfig, RunConfig};
use crate::data::DeviceWindows;
use crate::eval::split_loss;
use crate::mlp::{BuildError, Mlp, Source};
use crate::optim::{Optimizer, OptimizerState};
use crate::train::{run, Hooks, LogPoint, LoopOptions, Stop, Trainer};
use crate::weights::{sha256_hex, WeightsFile};
use burn::module::Module;
use burn::tensor::{Device, Tensor};
use makemore_data::{
    BatchSampler, Corpus, CorpusError, SamplerState, Split, SplitError, Vocabulary,
    VocabularyError, Windows,
};
use makemore_diagnostics::record::{best_rescaled_loss, to_host};
use makemore_diagnostics::{
    advise, param_record, render_plots, window_means, write_atomic, write_report, Advice,
    AdviceConfig, DiagnosticRecord, LayerRecord, Recorder, StatsConfig,
};
use serde::{Deserialize, Serialize};
use std::ops::ControlFlow;
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

/// A run failed (or stopped before the end).
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
    /// A file of the run directory has unexpected contents, or the directory does not fit.
    #[error("{path}: {message}")]
    BadRunFile {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// Writing plots or the report.
    #[error("{0}")]
    Report(String),
    /// The loss stopped being finite, or blew up.
    #[error("training diverged at step {step} (lr {}): the loss is {loss}; first non-finite: {culprit}; {kept}; lower train.lr", short(*lr))]
    Diverged {
        /// The step.
        step: u64,
        /// Its learning rate.
        lr: f64,
        /// The loss, in words (`NaN`, `inf`, or `41843.9, above the limit 329.6`).
        loss: String,
        /// The first layer whose activations or gradients were not finite.
        culprit: String,
        /// What was kept.
        kept: String,
    },
    /// Stopped by a signal, after writing a checkpoint.
    #[error("interrupted at step {step}; {resume}")]
    Interrupted {
        /// Steps completed.
        step: u64,
        /// How to resume.
        resume: String,
    },
    /// Stopped at `pause_at`, after writing a checkpoint.
    #[error("paused at step {step}; {resume}")]
    Paused {
        /// Steps completed.
        step: u64,
        /// How to resume.
        resume: String,
    },
}

/// A number as people write it: `0.1`, `1000`, `1e38`.
fn short(x: f64) -> String {
    if x != 0.0 && (x.abs() >= 1e6 || x.abs() < 1e-4) {
        format!("{x:e}")
    } else {
        format!("{x}")
    }
}

/// What a finished run reports (and writes as `summary.json`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    /// Loss of the very first minibatch.
    pub first_loss: f64,
    /// Loss of the last minibatch.
    pub final_loss: f64,
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
    /// Wall time of the training loop (all sessions of a resumed run).
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

/// What the diagnostics of a run found.
#[derive(Debug, Clone)]
pub struct Diagnosis {
    /// One record per recorded step.
    pub records: Vec<DiagnosticRecord>,
    /// The advice (empty when nothing looks wrong).
    pub advice: Vec<Advice>,
    /// `report.html`, when a run directory was written.
    pub report: Option<PathBuf>,
}

/// A finished run.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// The numbers.
    pub summary: Summary,
    /// The diagnostics, when recorded.
    pub diagnosis: Option<Diagnosis>,
}

/// Hooks for progress display.
pub trait Observer {
    /// Training starts (or resumes at `step`).
    fn started(&mut self, _total_steps: u64, _step: u64, _parameters: usize) {}
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
    /// Raised to stop after the current step (with a checkpoint).
    pub stop: &'a AtomicBool,
    /// Record diagnostics every this many steps (and at the first and last step).
    pub diagnose_every: Option<u64>,
    /// Checkpoint every this many steps (default: every 10% of the steps), and at the end.
    pub checkpoint_every: Option<u64>,
    /// Stop with a checkpoint after this many steps.
    pub pause_at: Option<u64>,
    /// Continue the run in `out` from its checkpoint.
    pub resume: bool,
    /// Start over even if `out` holds a run.
    pub force: bool,
}

impl<'a> RunOptions<'a> {
    /// Options for a plain run: no diagnostics, default checkpoints, no resume.
    pub fn new(
        backend: BackendKind,
        device: Device,
        out: Option<PathBuf>,
        stop: &'a AtomicBool,
    ) -> Self {
        Self {
            backend,
            device,
            out,
            stop,
            diagnose_every: None,
            checkpoint_every: None,
            pause_at: None,
            resume: false,
            force: false,
        }
    }
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

fn bad(path: &Path, message: impl Into<String>) -> RunError {
    RunError::BadRunFile {
        path: path.to_owned(),
        message: message.into(),
    }
}

/// Writes a file of the run directory atomically.
pub fn write_run_file(path: &Path, contents: &[u8]) -> Result<(), RunError> {
    write_atomic(path, contents).map_err(io(path))
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
    /// Training seconds so far.
    pub seconds: f64,
    /// `metrics.jsonl` so far.
    pub metrics: String,
    /// Diagnostic records so far.
    pub diagnostics: Vec<DiagnosticRecord>,
    /// Per-step losses so far (kept only when diagnostics are recorded, for the loss plot).
    pub losses: Vec<f32>,
    /// Losses read back since the last log point.
    pub unlogged: Vec<f32>,
}

/// The checkpoint's file name in a run directory.
pub const CHECKPOINT: &str = "checkpoint.json";

impl Checkpoint {
    /// The file's text: the SHA-256 of the JSON body on the first line, then the body.
    pub fn to_text(&self) -> String {
        let body = serde_json::to_string(self).expect("a checkpoint serializes");
        format!("{}\n{body}", sha256_hex(body.as_bytes()))
    }

    /// Reads and verifies `dir/checkpoint.json`.
    pub fn load(dir: &Path) -> Result<Self, RunError> {
        let path = dir.join(CHECKPOINT);
        if !path.is_file() {
            return Err(bad(
                dir,
                "no checkpoint to resume from (checkpoint.json is missing)",
            ));
        }
        let text = std::fs::read_to_string(&path).map_err(io(&path))?;
        let (digest, body) = text
            .split_once('\n')
            .ok_or_else(|| bad(&path, "truncated checkpoint (no digest line)"))?;
        let found = sha256_hex(body.as_bytes());
        if found != digest {
            return Err(bad(&path, format!("checksum mismatch: the checkpoint is truncated or corrupted (expected {digest}, found {found})")));
        }
        let c: Checkpoint = serde_json::from_str(body)
            .map_err(|e| bad(&path, format!("malformed checkpoint: {e}")))?;
        let weights = c.weights.verify(&path.display().to_string())?;
        Ok(Checkpoint { weights, ..c })
    }
}

/// Checks `dir` before a run writes into it: refuses to overwrite another run unless `force`, and
/// for a resume checks that the run there is this config and this vocabulary.
fn check_run_dir(
    dir: &Path,
    cfg: &RunConfig,
    vocab: &Vocabulary,
    opts: &RunOptions,
) -> Result<Option<Checkpoint>, RunError> {
    let cfg_path = dir.join("config.toml");
    let exists = cfg_path.is_file();
    if opts.resume {
        if !exists {
            return Err(bad(dir, "no run to resume here (config.toml is missing)"));
        }
        let saved = std::fs::read_to_string(&cfg_path).map_err(io(&cfg_path))?;
        if saved != cfg.to_toml() {
            return Err(bad(&cfg_path, "holds a different config than the one asked for; resume without --config/--set, or pass --force to start over"));
        }
        let info = RunInfo::load(dir)?;
        if &info.vocab != vocab {
            return Err(bad(&dir.join("run.json"), "the run's vocabulary differs from this corpus's; pass the corpus it was trained on (--data)"));
        }
        let ckpt = Checkpoint::load(dir)?;
        if ckpt.config_sha256 != sha256_hex(saved.as_bytes()) {
            return Err(bad(&dir.join(CHECKPOINT), "was written for another config"));
        }
        return Ok(Some(ckpt));
    }
    if exists && !opts.force {
        let saved = std::fs::read_to_string(&cfg_path).unwrap_or_default();
        let what = if saved == cfg.to_toml() {
            "a run of this config"
        } else {
            "a run with a different config"
        };
        return Err(bad(dir, format!("already holds {what}; pass --resume to continue it, --force to start over, or another --out")));
    }
    if exists {
        // --force: the old run's files go, so nothing stale is mistaken for this run's.
        for f in [
            CHECKPOINT,
            "model.json",
            "summary.json",
            "metrics.jsonl",
            "diagnostics.jsonl",
            "report.html",
        ] {
            let _ = std::fs::remove_file(dir.join(f));
        }
        for name in makemore_diagnostics::PLOT_NAMES {
            for ext in ["svg", "png"] {
                let _ = std::fs::remove_file(dir.join(format!("{name}.{ext}")));
            }
        }
    }
    Ok(None)
}

impl RunInfo {
    /// Reads `dir/run.json`.
    pub fn load(dir: &Path) -> Result<Self, RunError> {
        let path = dir.join("run.json");
        let text = std::fs::read_to_string(&path).map_err(io(&path))?;
        let info: RunInfo = serde_json::from_str(&text).map_err(|e| bad(&path, e.to_string()))?;
        info.vocab.validate()?;
        Ok(info)
    }
}

/// Records diagnostics on chosen steps of a run.
struct Recording {
    every: u64,
    total: u64,
    stats: StatsConfig,
    records: Vec<DiagnosticRecord>,
    vocab: usize,
}

impl Recording {
    fn wants(&self, step: u64) -> bool {
        step.is_multiple_of(self.every) || step + 1 == self.total
    }

    fn record(&mut self, trainer: &mut Trainer) -> Tensor<1> {
        let step = trainer.step;
        let mut rec = Recorder::new(true);
        let ins = trainer.step_tapped(&mut rec, true);
        let layers = rec.finish(Some(&ins.grads), &self.stats);
        let params = ins
            .updates
            .into_iter()
            .map(|u| {
                param_record(
                    &u.path,
                    &u.shape,
                    &to_host(u.data),
                    &to_host(u.grad),
                    &to_host(u.delta),
                    &self.stats,
                )
            })
            .collect();
        let loss = f64::from(to_host(ins.loss.clone())[0]);
        let (expected_loss, rescaled_loss) = if step == 0 {
            let targets: Vec<u32> = to_host(ins.targets.float())
                .iter()
                .map(|&t| t as u32)
                .collect();
            let logits = to_host(ins.logits);
            (
                Some((self.vocab as f64).ln()),
                Some(best_rescaled_loss(&logits, &targets, self.vocab)),
            )
        } else {
            (None, None)
        };
        self.records.push(DiagnosticRecord {
            step,
            loss,
            lr: ins.lr,
            layers,
            params,
            expected_loss,
            rescaled_loss,
        });
        ins.loss
    }
}

/// The loop's hooks for one run: metrics, checkpoints, diagnostics, the divergence snapshot.
struct RunHooks<'a> {
    dir: Option<&'a Path>,
    config_sha256: String,
    observer: &'a mut dyn Observer,
    first_loss: f64,
    final_loss: f64,
    metrics: String,
    losses: Vec<f32>,
    recording: Option<Recording>,
    seconds_before: f64,
    started: Instant,
    snapshot: Option<Trainer>,
    error: Option<RunError>,
    last_checkpoint: Option<u64>,
}

impl Hooks for RunHooks<'_> {
    fn step(&mut self, trainer: &mut Trainer) -> Option<Tensor<1>> {
        let rec = self.recording.as_mut().filter(|r| r.wants(trainer.step))?;
        Some(rec.record(trainer))
    }

    fn logged(&mut self, trainer: &Trainer, p: &LogPoint) {
        if self.first_loss.is_nan() {
            self.first_loss = f64::from(p.losses[0]);
        }
        self.final_loss = p.losses.last().map_or(f64::NAN, |&l| f64::from(l));
        self.metrics
            .push_str(&serde_json::to_string(p).unwrap_or_default());
        self.metrics.push('\n');
        if self.recording.is_some() {
            self.losses.extend_from_slice(&p.losses);
        }
        self.observer.logged(p);
        self.snapshot = Some(trainer.snapshot());
    }

    fn checkpoint(&mut self, trainer: &Trainer) -> ControlFlow<()> {
        let Some(dir) = self.dir else {
            return ControlFlow::Continue(());
        };
        let model = trainer.model().valid();
        let ckpt = Checkpoint {
            step: trainer.step,
            config_sha256: self.config_sha256.clone(),
            weights: WeightsFile::new(model.tensors()),
            optimizer: trainer.optimizer.state(),
            sampler: trainer.sampler.state(),
            first_loss: self.first_loss,
            seconds: self.seconds(),
            metrics: self.metrics.clone(),
            diagnostics: self
                .recording
                .as_ref()
                .map(|r| r.records.clone())
                .unwrap_or_default(),
            losses: self.losses.clone(),
            unlogged: trainer.unlogged.clone(),
        };
        let result = write_run_file(&dir.join("metrics.jsonl"), self.metrics.as_bytes())
            .and_then(|_| write_run_file(&dir.join(CHECKPOINT), ckpt.to_text().as_bytes()));
        match result {
            Ok(()) => {
                self.last_checkpoint = Some(trainer.step);
                ControlFlow::Continue(())
            }
            Err(e) => {
                self.error = Some(e);
                ControlFlow::Break(())
            }
        }
    }
}

impl RunHooks<'_> {
    fn seconds(&self) -> f64 {
        self.seconds_before + self.started.elapsed().as_secs_f64()
    }
}

/// A trainer for `cfg` on `ds`'s training windows: at step 0, with fresh weights drawn from
/// `cfg.init` and `cfg.train.seed`, or where `from` left off.
pub fn trainer(
    cfg: &RunConfig,
    ds: &Dataset,
    device: &Device,
    from: Option<&Checkpoint>,
) -> Result<Trainer, RunError> {
    let ad = device.clone().autodiff();
    let data = DeviceWindows::new(&ds.windows[0], &ad);
    let vocab = ds.vocab.len();
    Ok(match from {
        Some(c) => {
            let model = Mlp::build(&cfg.model, vocab, Source::Saved(&c.weights.by_path()), &ad)?;
            let optimizer = Optimizer::restore(cfg.train.optimizer, &c.optimizer, &ad);
            let mut t = Trainer::new(
                model,
                cfg.train.clone(),
                data,
                optimizer,
                BatchSampler::from_state(c.sampler),
                c.step,
            );
            t.unlogged = c.unlogged.clone();
            t
        }
        None => {
            let model = Mlp::build(
                &cfg.model,
                vocab,
                Source::Init {
                    roles: &cfg.init,
                    seed: cfg.train.seed,
                },
                &ad,
            )?;
            let sampler = BatchSampler::new(cfg.train.seed, ds.windows[0].len());
            Trainer::new(
                model,
                cfg.train.clone(),
                data,
                Optimizer::new(cfg.train.optimizer),
                sampler,
                0,
            )
        }
    })
}

/// Replays the steps from `snapshot` up to `step` and names the first layer whose output (in
/// forward order) or output gradient (from the loss backwards) is not finite.
fn localize_divergence(mut snapshot: Trainer, step: u64) -> String {
    while snapshot.step < step {
        snapshot.step();
    }
    let mut rec = Recorder::new(true);
    let ins = snapshot.step_tapped(&mut rec, false);
    let layers = rec.finish(Some(&ins.grads), &StatsConfig::default());
    if let Some(l) = layers.iter().find(|l| !l.output.summary.is_finite()) {
        return format!("the output of {}", l.name);
    }
    if let Some(l) = layers
        .iter()
        .rev()
        .find(|l| l.grad.as_ref().is_some_and(|g| !g.is_finite()))
    {
        return format!("the gradient at {}", l.name);
    }
    let magnitude = |l: &LayerRecord| l.output.summary.min.abs().max(l.output.summary.max.abs());
    match layers.iter().max_by(|a, b| magnitude(a).total_cmp(&magnitude(b))) {
        Some(l) => format!(
            "none yet (every output and gradient is finite; the largest outputs are at {}, |x| up to {:.3e})",
            l.name,
            magnitude(l)
        ),
        None => "none yet".into(),
    }
}

/// Trains `cfg` on `ds` and evaluates every split; writes the run directory when asked, with
/// checkpoints, and diagnostics when asked. Resumes from a checkpoint with `opts.resume`.
pub fn train(
    cfg: &RunConfig,
    ds: &Dataset,
    data_path: &Path,
    opts: &RunOptions,
    observer: &mut dyn Observer,
) -> Result<Outcome, RunError> {
    let dir = opts.out.as_deref();
    let resumed = match dir {
        Some(d) => check_run_dir(d, cfg, &ds.vocab, opts)?,
        None => None,
    };
    let mut trainer = trainer(cfg, ds, &opts.device, resumed.as_ref())?;
    let parameters = trainer.model().num_trainable();
    let config_text = cfg.to_toml();
    if let (Some(d), None) = (dir, &resumed) {
        std::fs::create_dir_all(d).map_err(io(d))?;
        write_run_file(&d.join("config.toml"), config_text.as_bytes())?;
        let info = RunInfo {
            data: data_path.display().to_string(),
            backend: opts.backend.name().into(),
            vocab: ds.vocab.clone(),
        };
        write_run_file(
            &d.join("run.json"),
            serde_json::to_string_pretty(&info)
                .unwrap_or_default()
                .as_bytes(),
        )?;
        write_run_file(
            &d.join("vocab.json"),
            serde_json::to_string(&ds.vocab)
                .unwrap_or_default()
                .as_bytes(),
        )?;
    }
    let max_loss = cfg.train.divergence_factor * (ds.vocab.len() as f64).ln();
    let steps = cfg.train.steps;
    let loop_opts = LoopOptions {
        max_loss,
        log_every: cfg.train.log_every,
        checkpoint_every: dir.map(|_| opts.checkpoint_every.unwrap_or((steps / 10).max(1))),
        pause_at: opts.pause_at,
    };
    let mut hooks = RunHooks {
        dir,
        config_sha256: sha256_hex(config_text.as_bytes()),
        observer,
        first_loss: resumed.as_ref().map_or(f64::NAN, |c| c.first_loss),
        final_loss: f64::NAN,
        metrics: resumed
            .as_ref()
            .map(|c| c.metrics.clone())
            .unwrap_or_default(),
        losses: resumed
            .as_ref()
            .map(|c| c.losses.clone())
            .unwrap_or_default(),
        recording: opts.diagnose_every.map(|every| Recording {
            every: every.max(1),
            total: steps,
            stats: StatsConfig::default(),
            records: resumed
                .as_ref()
                .map(|c| c.diagnostics.clone())
                .unwrap_or_default(),
            vocab: ds.vocab.len(),
        }),
        seconds_before: resumed.as_ref().map_or(0.0, |c| c.seconds),
        started: Instant::now(),
        snapshot: Some(trainer.snapshot()),
        error: None,
        last_checkpoint: resumed.as_ref().map(|c| c.step),
    };
    hooks.observer.started(steps, trainer.step, parameters);
    let stop = run(&mut trainer, loop_opts, opts.stop, &mut hooks);
    let seconds = hooks.seconds();
    hooks.observer.finished();
    let resume_hint = |dir: Option<&Path>| match dir {
        Some(d) => format!(
            "checkpoint written; resume with: makemore train --resume {}",
            d.display()
        ),
        None => "no run directory, nothing was saved".to_string(),
    };
    match stop {
        Stop::Finished => {}
        Stop::Aborted => {
            return Err(hooks
                .error
                .take()
                .unwrap_or_else(|| bad(Path::new("."), "stopped")))
        }
        Stop::Interrupted => {
            return Err(RunError::Interrupted {
                step: trainer.step,
                resume: resume_hint(dir),
            })
        }
        Stop::Paused => {
            return Err(RunError::Paused {
                step: trainer.step,
                resume: resume_hint(dir),
            })
        }
        Stop::Diverged { step, lr, loss } => {
            let loss = if loss.is_finite() {
                format!(
                    "{loss}, above the limit {max_loss:.1} (train.divergence_factor x ln(vocab))"
                )
            } else {
                loss.to_string()
            };
            let culprit = match hooks.snapshot.take() {
                Some(s) => localize_divergence(s, step),
                None => "unknown".into(),
            };
            let kept = match (hooks.last_checkpoint, dir) {
                (Some(s), Some(d)) => format!(
                    "the last good checkpoint (step {s}) is kept in {}",
                    d.display()
                ),
                _ => "no checkpoint was written".into(),
            };
            return Err(RunError::Diverged {
                step,
                lr,
                loss,
                culprit,
                kept,
            });
        }
    }
    let model = trainer.model().valid();
    let losses = evaluate(&model, ds, &opts.device);
    let summary = Summary {
        first_loss: hooks.first_loss,
        final_loss: hooks.final_loss,
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
        run_dir: dir.map(|d| d.display().to_string()),
    };
    let diagnosis = match hooks.recording.take() {
        Some(rec) => Some(finish_diagnosis(rec.records, &hooks.losses, dir, steps)?),
        None => None,
    };
    if let Some(d) = dir {
        write_run_file(
            &d.join("model.json"),
            WeightsFile::new(model.tensors()).to_json().as_bytes(),
        )?;
        write_run_file(
            &d.join("summary.json"),
            serde_json::to_string_pretty(&summary)
                .unwrap_or_default()
                .as_bytes(),
        )?;
    }
    Ok(Outcome { summary, diagnosis })
}

/// Advice, and with a run directory `diagnostics.jsonl`, the plots and `report.html`.
fn finish_diagnosis(
    records: Vec<DiagnosticRecord>,
    losses: &[f32],
    dir: Option<&Path>,
    steps: u64,
) -> Result<Diagnosis, RunError> {
    let advice = match records.last() {
        Some(last) => advise(
            records.iter().find(|r| r.step == 0),
            last,
            &AdviceConfig::default(),
        ),
        None => Vec::new(),
    };
    let mut report = None;
    if let Some(d) = dir {
        let mut jsonl = String::new();
        for r in &records {
            jsonl.push_str(&serde_json::to_string(r).unwrap_or_default());
            jsonl.push('\n');
        }
        write_run_file(&d.join("diagnostics.jsonl"), jsonl.as_bytes())?;
        // The lecture averages the loss over windows of 1,000 steps; short runs get 20 windows.
        let window = (steps as usize / 20).clamp(1, 1_000);
        let plots = render_plots(d, &records, &window_means(losses, window))
            .map_err(|e| RunError::Report(e.to_string()))?;
        let title = format!("makemore diagnostics: {}", d.display());
        report = Some(
            write_report(d, &title, &records, &plots, &advice)
                .map_err(|e| RunError::Report(e.to_string()))?,
        );
    }
    Ok(Diagnosis {
        records,
        advice,
        report,
    })
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
        let info = RunInfo::load(dir)?;
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
