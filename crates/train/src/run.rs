//! A whole run: the options, the orchestration of one training (fresh or resumed) with its
//! checkpoints, metrics and diagnostics, evaluation at the end, and loading a finished run.
//! The loop itself is `trainer`'s; the files are `run_dir`'s; the recording is `recording`'s.

use crate::checkpoint::Checkpoint;
use crate::recording::{finish_diagnosis, localize_divergence, Diagnosis, Recording};
use crate::run_dir::{
    DivergedRecord, RunDir, RunInfo, RunSummary, CHECKPOINT, DIVERGED, METRICS, MODEL, SUMMARY,
};
use crate::tb::TbLog;
use burn::module::Module;
use burn::tensor::{Device, Tensor};
use makemore_diagnostics::StatsConfig;
use makemore_files::sha256_hex;
use makemore_model::backend::BackendKind;
use makemore_model::config::RunConfig;
use makemore_model::data::Dataset;
use makemore_model::error::RunError;
use makemore_model::eval::evaluate;
use makemore_model::trainer::{Hooks, LogPoint, LoopOptions, Stop, Trainer};
use makemore_model::weights::WeightsFile;
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::time::Instant;

/// A finished run.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// The numbers.
    pub summary: RunSummary,
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
    /// `makemore doctor`'s round `k` starts (trained, resumed or read back).
    fn round(&mut self, _k: usize) {}
    /// Something the user should know that does not stop the run (by default printed on
    /// stderr as `warning: MESSAGE`).
    fn warning(&mut self, message: &str) {
        eprintln!("warning: {message}");
    }
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
            checkpoint_every: None,
            pause_at: None,
            resume: false,
            force: false,
        }
    }
}

/// The loop's hooks for one run: metrics, checkpoints, diagnostics, the divergence snapshot.
struct RunHooks<'a> {
    dir: Option<&'a RunDir>,
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
    tb: Option<TbLog>,
}

impl Hooks for RunHooks<'_> {
    fn step(&mut self, trainer: &mut Trainer) -> Option<Tensor<1>> {
        let rec = self.recording.as_mut().filter(|r| r.wants(trainer.step))?;
        let loss = rec.record(trainer);
        if let (Some(tb), Some(r)) = (self.tb.as_mut(), rec.records.last()) {
            tb.record(r);
        }
        Some(loss)
    }

    fn logged(&mut self, trainer: &Trainer, p: &LogPoint) {
        if self.first_loss.is_nan() {
            self.first_loss = f64::from(p.losses[0]);
        }
        self.final_loss = p.losses.last().map_or(f64::NAN, |&l| f64::from(l));
        match serde_json::to_string(p) {
            Ok(line) => {
                self.metrics.push_str(&line);
                self.metrics.push('\n');
            }
            Err(e) => self.error = Some(RunError::Report(format!("a log point: {e}"))),
        }
        if self.recording.is_some() {
            self.losses.extend_from_slice(&p.losses);
        }
        if let Some(tb) = self.tb.as_mut() {
            tb.log_point(p);
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
            final_loss: Some(self.final_loss).filter(|l| l.is_finite()),
            seconds: self.seconds(),
            metrics: self.metrics.clone(),
            diagnostics_jsonl: self
                .recording
                .as_ref()
                .map(|r| r.jsonl.clone())
                .unwrap_or_default(),
            diagnostics: Vec::new(),
            losses: self.losses.clone(),
            unlogged: trainer.unlogged.clone(),
        };
        if let Some(culprit) = ckpt.first_non_finite() {
            // The loss was still finite, but the last update blew the weights up: stop here and
            // keep the last good checkpoint rather than write this one.
            let step = trainer.step;
            self.error = Some(RunError::Diverged {
                step,
                lr: trainer
                    .config
                    .lr
                    .lr_at(step.saturating_sub(1), trainer.config.steps),
                loss: format!(
                    "{} (still finite), but the weights are not",
                    self.final_loss
                ),
                culprit,
                kept: kept(self.last_checkpoint, Some(dir), None),
            });
            return ControlFlow::Break(());
        }
        // The event file first: a checkpoint never refers to events that were not written, and
        // a resume drops any written after it.
        let result = match self.error.take() {
            Some(e) => Err(e),
            None => self
                .tb
                .as_ref()
                .map_or(Ok(()), TbLog::write)
                .and_then(|_| dir.write(METRICS, self.metrics.as_bytes()))
                .and_then(|_| dir.write_checkpoint(&ckpt)),
        };
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

/// What a diverged run kept, in words.
/// What a diverged run kept, in words; `diverged` is the step whose loss diverged (the loss of
/// the weights after that many steps), when it was a loss.
fn kept(last_checkpoint: Option<u64>, dir: Option<&RunDir>, diverged: Option<u64>) -> String {
    match (last_checkpoint, dir) {
        // The checkpoint after step s holds the weights whose loss diverged: kept, not good.
        (Some(s), Some(d)) if Some(s) == diverged => format!(
            "the last checkpoint (step {s}) is kept in {}, though its weights are the ones that gave this loss",
            d.path().display()
        ),
        (Some(s), Some(d)) => format!(
            "the last good checkpoint (step {s}) is kept in {}",
            d.path().display()
        ),
        _ => "no checkpoint was written".into(),
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
    let run_dir = opts.out.as_ref().map(RunDir::new);
    let dir = run_dir.as_ref();
    let _lock = dir.map(RunDir::lock).transpose()?;
    let resumed = match dir {
        Some(d) if opts.resume => d.prepare_resume(cfg, ds)?,
        Some(d) => {
            d.check_new(cfg, opts.force)?;
            None
        }
        None => None,
    };
    let from = resumed.as_ref();
    let start = from.map_or(0, |c| c.step);
    if let Some(p) = opts
        .pause_at
        .filter(|&p| p <= start || p >= cfg.train.steps)
    {
        // A pause the loop never reaches would be ignored without a word.
        return Err(RunError::PauseOutside {
            pause_at: p,
            from: start,
            steps: cfg.train.steps,
        });
    }
    // The model is built (its init checked) before a forced run removes the old one's files.
    let state = from.map(|c| c.state(Path::new(CHECKPOINT)));
    let mut trainer = Trainer::start(cfg, ds, &opts.device, state)?;
    let parameters = trainer.model().num_trainable();
    let config_text = cfg.to_toml();
    if let (Some(d), None) = (dir, from) {
        d.clear();
        let info = RunInfo {
            // Absolute, so that a later command finds it from any directory.
            data: std::path::absolute(data_path)
                .unwrap_or_else(|_| data_path.to_owned())
                .display()
                .to_string(),
            backend: opts.backend.name().into(),
            vocab: ds.vocab.clone(),
            corpus: Some(ds.id()),
        };
        d.create(&config_text, &info)?;
    }
    let max_loss = cfg.train.divergence_factor * (ds.vocab.len() as f64).ln();
    let steps = cfg.train.steps;
    let loop_opts = LoopOptions {
        max_loss,
        log_every: cfg.train.log_every,
        checkpoint_every: dir.map(|_| opts.checkpoint_every.unwrap_or((steps / 10).max(1))),
        pause_at: opts.pause_at,
    };
    let mut hooks = RunHooks::new(cfg, ds, dir, from, &config_text, observer, &trainer)?;
    hooks.observer.started(steps, trainer.step, parameters);
    let stop = trainer.run(loop_opts, opts.stop, &mut hooks);
    let seconds = hooks.seconds();
    hooks.observer.finished();
    let result = stopped(stop, &mut hooks, &trainer, dir, max_loss)
        .and_then(|()| hooks.error.take().map_or(Ok(()), Err));
    let diverged = result.as_ref().err().and_then(DivergedRecord::of);
    if let (Some(record), Some(d)) = (diverged, dir) {
        // Marked, so that a resume or an evaluation says it diverged rather than offer to go on.
        d.write_json(DIVERGED, &record, true)?;
    }
    result?;
    finish(cfg, ds, opts, dir, &trainer, hooks, seconds, parameters)
}

impl<'a> RunHooks<'a> {
    /// The hooks of a run that starts fresh or resumes from `from`.
    fn new(
        cfg: &RunConfig,
        ds: &Dataset,
        dir: Option<&'a RunDir>,
        from: Option<&Checkpoint>,
        config_text: &str,
        observer: &'a mut dyn Observer,
        trainer: &Trainer,
    ) -> Result<Self, RunError> {
        let records = from.map(Checkpoint::records).transpose()?;
        Ok(RunHooks {
            dir,
            config_sha256: sha256_hex(config_text.as_bytes()),
            first_loss: from.map_or(f64::NAN, |c| c.first_loss),
            final_loss: from.and_then(|c| c.final_loss).unwrap_or(f64::NAN),
            metrics: from.map(|c| c.metrics.clone()).unwrap_or_default(),
            losses: from.map(|c| c.losses.clone()).unwrap_or_default(),
            recording: cfg.log.diagnose_every.map(|every| Recording {
                every: every.max(1),
                total: cfg.train.steps,
                stats: StatsConfig {
                    saturation_threshold: cfg.log.saturation_threshold as f32,
                    ..StatsConfig::default()
                },
                records: records.clone().unwrap_or_default(),
                jsonl: from.map(Checkpoint::jsonl).unwrap_or_default(),
                vocab: ds.vocab.len(),
            }),
            seconds_before: from.map_or(0.0, |c| c.seconds),
            started: Instant::now(),
            snapshot: Some(trainer.snapshot()),
            error: None,
            last_checkpoint: from.map(|c| c.step),
            tb: match dir.filter(|_| cfg.log.tensorboard) {
                Some(d) => Some(match from {
                    Some(c) => {
                        let (tb, warning) = TbLog::resume(d, c)?;
                        if let Some(w) = warning {
                            observer.warning(&w);
                        }
                        tb
                    }
                    None => TbLog::start(d)?,
                }),
                None => None,
            },
            observer,
        })
    }
}

/// The error for a loop that stopped before its last step: aborted by a hook, interrupted,
/// paused, or diverged (with the step and layer where the divergence started).
fn stopped(
    stop: Stop,
    hooks: &mut RunHooks<'_>,
    trainer: &Trainer,
    dir: Option<&RunDir>,
    max_loss: f64,
) -> Result<(), RunError> {
    let stopped_in = || dir.map(|d| d.path().to_owned());
    match stop {
        Stop::Finished => Ok(()),
        Stop::Aborted => Err(hooks
            .error
            .take()
            .unwrap_or_else(|| RunError::Report("the run stopped".into()))),
        Stop::Interrupted => Err(RunError::Interrupted {
            step: trainer.step,
            dir: stopped_in(),
        }),
        Stop::Paused => Err(RunError::Paused {
            step: trainer.step,
            dir: stopped_in(),
        }),
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
            let kept = kept(hooks.last_checkpoint, dir, Some(step));
            Err(RunError::Diverged {
                step,
                lr,
                loss,
                culprit,
                kept,
            })
        }
    }
}

/// A finished loop's end: evaluation on every split, the diagnosis, the model and summary files
/// and the event file's last values.
#[allow(clippy::too_many_arguments)] // one run's parts, each used once
fn finish(
    cfg: &RunConfig,
    ds: &Dataset,
    opts: &RunOptions,
    dir: Option<&RunDir>,
    trainer: &Trainer,
    mut hooks: RunHooks<'_>,
    seconds: f64,
    parameters: usize,
) -> Result<Outcome, RunError> {
    let model = trainer.model().valid();
    let losses = evaluate(&model, ds, &opts.device);
    let summary = RunSummary {
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
        run_dir: dir.map(|d| d.path().display().to_string()),
    };
    let diagnosis = match hooks.recording.take() {
        Some(rec) => Some(finish_diagnosis(
            rec.records,
            &rec.jsonl,
            &hooks.losses,
            dir,
            cfg.train.steps,
        )?),
        None => None,
    };
    if let Some(d) = dir {
        d.write(
            MODEL,
            WeightsFile::new(model.tensors()).to_json().as_bytes(),
        )?;
        d.write_json(SUMMARY, &summary, true)?;
    }
    if let Some(tb) = hooks.tb.as_mut() {
        tb.finished(&summary);
        tb.write()?;
    }
    Ok(Outcome { summary, diagnosis })
}
