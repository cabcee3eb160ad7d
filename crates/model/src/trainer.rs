//! The training loop: a `Trainer` (model, optimizer, sampler, step) started fresh or from a
//! checkpoint, host-drawn minibatches gathered on the device (or on the host, for a host step:
//! see `cpu::step`), one optimizer step each, the loss read back only every `log_every` steps,
//! and the `Hooks` through which its owner records, logs and checkpoints. It knows nothing of
//! files.

use crate::config::{RunConfig, TrainConfig};
use crate::data::{Dataset, DeviceWindows};
use crate::error::RunError;
use crate::host::to_host;
use crate::loss::cross_entropy;
use crate::mlp::{Mlp, Source};
use crate::norm::NormMode;
use crate::optim::OptimizerState;
use crate::optim::{Optimizer, Update};
use crate::weights::WeightsFile;
use burn::tensor::{Device, Gradients, Tensor};
use makemore_data::{BatchSampler, SamplerState};
use makemore_diagnostics::Tap;
use std::ops::ControlFlow;
use std::sync::atomic::{AtomicBool, Ordering};

/// A model being trained, with everything needed to take the next step.
///
/// On a CPU backend, plain steps ([`Trainer::step`]) of a model the CPU kernels cover run
/// entirely on the host, over host copies of the weights (see `cpu::step`); the model is
/// then written back into Burn tensors only when asked for ([`Trainer::model`]) or before a
/// step through Burn (a tapped or recorded one).
pub struct Trainer {
    /// The model; while `cpu` holds the weights, only its shape and parameter ids are current.
    model: Option<Mlp>,
    /// The weights on the host, when the last step was a host step.
    cpu: Option<crate::cpu::CpuModel>,
    /// The model with `cpu`'s values, made on demand.
    current: std::sync::OnceLock<Mlp>,
    /// Whether plain steps may run on the host (they may until a model turns out not to fit).
    cpu_steps: bool,
    /// The minibatch's token ids and targets on the host.
    ids: (Vec<usize>, Vec<usize>),
    /// The optimizer and its state.
    pub optimizer: Optimizer,
    /// Where the next minibatch comes from.
    pub sampler: BatchSampler,
    /// Steps taken so far.
    pub step: u64,
    /// The recipe.
    pub config: TrainConfig,
    /// Losses read back from the device but not yet part of a log point.
    pub unlogged: Vec<f32>,
    data: DeviceWindows,
    batch: Vec<i64>,
}

/// Where a trainer picks up: everything a step needs after `step` steps, as a checkpoint holds
/// it. The trainer knows no file; `origin` only names the state's source in errors.
#[derive(Debug, Clone, Copy)]
pub struct TrainState<'a> {
    /// Steps completed.
    pub step: u64,
    /// The model, running statistics included.
    pub weights: &'a WeightsFile,
    /// The optimizer's state.
    pub optimizer: &'a OptimizerState,
    /// The minibatch sampler's position.
    pub sampler: SamplerState,
    /// Losses read back since the last log point.
    pub unlogged: &'a [f32],
    /// Where the state came from (a checkpoint's path), named when it does not fit the corpus.
    pub origin: &'a std::path::Path,
}

/// The result of one recorded step.
pub struct Inspected {
    /// The minibatch loss (no autodiff).
    pub loss: Tensor<1>,
    /// Gradients of the step (tapped leaves included).
    pub grads: Gradients,
    /// Per-parameter data, gradient and update.
    pub updates: Vec<Update>,
    /// The learning rate used.
    pub lr: f64,
    /// The minibatch's logits, `[batch, vocab]` (no autodiff).
    pub logits: Tensor<2>,
    /// Its targets, `[batch]`.
    pub targets: Tensor<1, burn::tensor::Int>,
}

impl Trainer {
    /// A trainer for `cfg` on `ds`'s training windows: at step 0, with fresh weights drawn from
    /// `cfg.init` and `cfg.train.seed`, or where `from` left off.
    pub fn start(
        cfg: &RunConfig,
        ds: &Dataset,
        device: &Device,
        from: Option<TrainState<'_>>,
    ) -> Result<Self, RunError> {
        let ad = device.clone().autodiff();
        let data = DeviceWindows::for_training(&ds.windows[0], &ad);
        let vocab = ds.vocab.len();
        Ok(match from {
            Some(c) if c.sampler.population != ds.windows[0].len() as u64 => {
                return Err(RunError::CorpusDiffers {
                    path: c.origin.to_path_buf(),
                    run: format!("{} training windows", c.sampler.population),
                    given: format!("{} training windows", ds.windows[0].len()),
                })
            }
            Some(c) => {
                let model =
                    Mlp::build(&cfg.model, vocab, Source::Saved(&c.weights.by_path()), &ad)?;
                let optimizer = Optimizer::restore(cfg.train.optimizer, c.optimizer, &ad);
                let mut t = Trainer::new(
                    model,
                    cfg.train.clone(),
                    data,
                    optimizer,
                    BatchSampler::from_state(c.sampler),
                    c.step,
                );
                t.unlogged = c.unlogged.to_vec();
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

    /// Starts (or resumes, given a restored optimizer and sampler) training `model`, which must
    /// live on an autodiff device, on `data`.
    pub fn new(
        model: Mlp,
        config: TrainConfig,
        data: DeviceWindows,
        optimizer: Optimizer,
        sampler: BatchSampler,
        step: u64,
    ) -> Self {
        let batch = vec![0; config.batch_size];
        Self {
            model: Some(model),
            cpu: None,
            current: std::sync::OnceLock::new(),
            cpu_steps: true,
            ids: (Vec::new(), Vec::new()),
            optimizer,
            sampler,
            step,
            config,
            unlogged: Vec::new(),
            data,
            batch,
        }
    }

    /// Everything needed to take the same steps again from here. Burn tensors (the model's, the
    /// optimizer's buffers after a step through Burn) are shared, not copied: they are
    /// immutable. Host copies (after host steps: the weights, running statistics and optimizer
    /// buffers) are copied.
    pub fn snapshot(&self) -> Trainer {
        Trainer {
            model: self.model.clone(),
            cpu: self.cpu.clone(),
            // Made again on demand: a model's running statistics are shared by its clones.
            current: std::sync::OnceLock::new(),
            cpu_steps: self.cpu_steps,
            ids: (Vec::new(), Vec::new()),
            optimizer: self.optimizer.clone(),
            sampler: self.sampler.clone(),
            step: self.step,
            config: self.config.clone(),
            unlogged: self.unlogged.clone(),
            data: self.data.clone(),
            batch: self.batch.clone(),
        }
    }

    /// The model as it is now. After host steps this is a copy made from the host values on
    /// first use (and kept until the next step): reading it is what it is for; running
    /// statistics changed through it (a forward pass in `Train` or `Calibrate` mode) do not
    /// reach the trainer.
    pub fn model(&self) -> &Mlp {
        let model = self
            .model
            .as_ref()
            .expect("the model is only taken during a step");
        if let Some(cpu) = &self.cpu {
            return self.current.get_or_init(|| cpu.materialize(model));
        }
        model
    }

    /// Lets plain steps run on the host where they can (the default), or makes every step go
    /// through Burn's autodiff and module map: the same values, slower; for comparisons. Without
    /// a CPU backend compiled in, every step goes through Burn either way.
    pub fn set_cpu_steps(&mut self, on: bool) {
        if !on {
            self.leave_cpu();
        }
        self.cpu_steps = on;
    }

    /// Whether the weights are held on the host now: the last step was a host step, and no
    /// tapped or recorded step (nor [`Trainer::set_cpu_steps`]) has written them back since.
    pub fn on_cpu(&self) -> bool {
        self.cpu.is_some()
    }

    /// Writes the host weights back into the model, which steps through Burn next.
    fn leave_cpu(&mut self) {
        if self.cpu.is_some() {
            let current = self.model().clone();
            self.model = Some(current);
            self.cpu = None;
            self.current = std::sync::OnceLock::new();
        }
    }

    /// A plain step on the host, when the model fits (`None`, having changed nothing, when not).
    fn cpu_step(&mut self) -> Option<Tensor<1>> {
        if !self.cpu_steps {
            return None;
        }
        if self.cpu.is_none() {
            // Windows without a host copy (a trainer given `DeviceWindows::new`'s) are
            // gathered on the device, through Burn.
            self.cpu = self
                .data
                .has_host()
                .then(|| crate::cpu::CpuModel::of(self.model.as_ref()?, self.batch.len()))
                .flatten();
            if self.cpu.is_none() {
                self.cpu_steps = false;
                return None;
            }
        }
        let lr = self.lr();
        self.sampler.fill_batch(&mut self.batch);
        let (ids, targets) = &mut self.ids;
        self.data.gather_host(&self.batch, ids, targets);
        let host = self.cpu.as_mut()?;
        let loss = host.step(&mut self.optimizer, ids, targets, lr);
        self.current = std::sync::OnceLock::new();
        self.step += 1;
        Some(host.loss_tensor(loss))
    }

    /// The learning rate of the next step.
    pub fn lr(&self) -> f64 {
        self.config.lr.lr_at(self.step, self.config.steps)
    }

    /// One step. Returns the minibatch loss without reading it back.
    pub fn step(&mut self) -> Tensor<1> {
        if let Some(loss) = self.cpu_step() {
            return loss;
        }
        self.step_inner(None, false).loss
    }

    /// One step with every layer output passed through `tap` and, with `record`, each
    /// parameter's update kept.
    pub fn step_tapped(&mut self, tap: &mut dyn Tap, record: bool) -> Inspected {
        self.step_inner(Some(tap), record)
    }

    /// One step; without a tap the forward pass may use CPU-path ops.
    fn step_inner(&mut self, tap: Option<&mut dyn Tap>, record: bool) -> Inspected {
        self.leave_cpu();
        let lr = self.lr();
        self.sampler.fill_batch(&mut self.batch);
        let (x, y) = self.data.gather(&self.batch);
        let model = self
            .model
            .take()
            .expect("the model is present between steps");
        let logits = model.forward_with(x, NormMode::Train, tap); // [batch, vocab]
        let loss = cross_entropy(logits.clone(), y.clone());
        let grads = loss.backward();
        let (model, updates) = self.optimizer.step(model, &grads, lr, record);
        self.model = Some(model);
        self.step += 1;
        Inspected {
            loss: loss.without_autodiff(),
            grads,
            updates,
            lr,
            logits: logits.detach().without_autodiff(),
            targets: y,
        }
    }
}

/// A batch of losses read back from the device.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct LogPoint {
    /// Steps taken when it was read.
    pub step: u64,
    /// Mean minibatch loss over the steps since the previous point.
    pub loss: f64,
    /// Learning rate of the last step.
    pub lr: f64,
    /// The per-step losses since the previous point.
    #[serde(skip)]
    pub losses: Vec<f32>,
}

/// Why the loop stopped.
#[derive(Debug, Clone, PartialEq)]
pub enum Stop {
    /// All steps done.
    Finished,
    /// The stop flag was raised (Ctrl-C, SIGTERM); the current step was completed.
    Interrupted,
    /// The `pause_at` step was reached.
    Paused,
    /// A hook asked to stop (it keeps the reason).
    Aborted,
    /// A loss was not finite, or above [`LoopOptions::max_loss`].
    Diverged {
        /// The step (0-based) whose loss was first out of bounds.
        step: u64,
        /// Its learning rate.
        lr: f64,
        /// The loss.
        loss: f32,
    },
}

/// When the loop reads losses back and checkpoints.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LoopOptions {
    /// A minibatch loss above this counts as divergence, like a non-finite one.
    pub max_loss: f64,
    /// Read the losses back every this many steps.
    pub log_every: u64,
    /// Call [`Hooks::checkpoint`] every this many steps (and at the end, on a pause or an
    /// interruption).
    pub checkpoint_every: Option<u64>,
    /// Stop after this many steps, as if interrupted, but on purpose.
    pub pause_at: Option<u64>,
}

/// What the loop tells its owner. Every method has a default that does nothing.
pub trait Hooks {
    /// Before each step; return `Some(loss)` after taking the step yourself (diagnostics record
    /// steps this way), `None` to let the loop take an ordinary step.
    fn step(&mut self, _trainer: &mut Trainer) -> Option<Tensor<1>> {
        None
    }
    /// Losses were read back. A window of steps starts after it.
    fn logged(&mut self, _trainer: &Trainer, _point: &LogPoint) {}
    /// A checkpoint is due (losses up to here have been logged). `Break` stops the loop.
    fn checkpoint(&mut self, _trainer: &Trainer) -> ControlFlow<()> {
        ControlFlow::Continue(())
    }
}

impl Trainer {
    /// Runs until `config.steps`. Losses stay on the device and are read back every `log_every`
    /// steps (and right after the very first step, so the first loss is known), at
    /// checkpoints, and when stopping. Log points fall on the same steps whatever the
    /// checkpoint interval and however often the run was stopped and resumed: losses read back
    /// between log points wait in [`Trainer::unlogged`] (which checkpoints keep).
    pub fn run(&mut self, opts: LoopOptions, stop: &AtomicBool, hooks: &mut dyn Hooks) -> Stop {
        let trainer = self;
        let total = trainer.config.steps;
        // Bounded: log_every is a user's number, and the vector grows as losses arrive anyway.
        let mut pending: Vec<Tensor<1>> = Vec::with_capacity(opts.log_every.min(1024) as usize);
        while trainer.step < total {
            let lr = trainer.lr();
            let loss = hooks.step(trainer).unwrap_or_else(|| trainer.step());
            pending.push(loss);
            let step = trainer.step;
            let due = |every: u64| step.is_multiple_of(every);
            let log = step == 1 || due(opts.log_every) || step == total;
            let checkpoint = opts.checkpoint_every.is_some_and(due) || step == total;
            let paused = opts.pause_at == Some(step);
            let interrupted = stop.load(Ordering::Relaxed);
            let stopping = paused || interrupted;
            if log || checkpoint || stopping {
                let fresh = to_host(Tensor::cat(std::mem::take(&mut pending), 0));
                let first = step - fresh.len() as u64;
                if let Some(bad) = fresh
                    .iter()
                    .position(|&l| !l.is_finite() || f64::from(l) > opts.max_loss)
                {
                    let step = first + bad as u64;
                    return Stop::Diverged {
                        step,
                        lr: trainer.config.lr.lr_at(step, total),
                        loss: fresh[bad],
                    };
                }
                trainer.unlogged.extend(fresh);
                if log {
                    let losses = std::mem::take(&mut trainer.unlogged);
                    let point = LogPoint {
                        step,
                        loss: losses.iter().map(|&l| f64::from(l)).sum::<f64>()
                            / losses.len() as f64,
                        lr,
                        losses,
                    };
                    hooks.logged(trainer, &point);
                }
                if (checkpoint || stopping) && hooks.checkpoint(trainer).is_break() {
                    return Stop::Aborted;
                }
            }
            if interrupted {
                return Stop::Interrupted;
            }
            if paused {
                return Stop::Paused;
            }
        }
        Stop::Finished
    }
}
