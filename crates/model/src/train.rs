//! The training loop: host-drawn minibatches gathered on the device, one optimizer step each,
//! the loss read back only every `log_every` steps.

use crate::batchnorm::NormMode;
use crate::config::TrainConfig;
use crate::data::DeviceWindows;
use crate::mlp::{cross_entropy, read_f32, LayerKind, Mlp};
use crate::optim::{Optimizer, Update};
use burn::tensor::{Gradients, Tensor};
use makemore_data::BatchSampler;
use std::sync::atomic::{AtomicBool, Ordering};

/// A model being trained, with everything needed to take the next step.
pub struct Trainer {
    model: Option<Mlp>,
    /// The optimizer and its state.
    pub optimizer: Optimizer,
    /// Where the next minibatch comes from.
    pub sampler: BatchSampler,
    /// Steps taken so far.
    pub step: u64,
    /// The recipe.
    pub config: TrainConfig,
    data: DeviceWindows,
    batch: Vec<i64>,
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
}

impl Trainer {
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
            optimizer,
            sampler,
            step,
            config,
            data,
            batch,
        }
    }

    /// The model as it is now.
    pub fn model(&self) -> &Mlp {
        self.model
            .as_ref()
            .expect("the model is only taken during a step")
    }

    /// The learning rate of the next step.
    pub fn lr(&self) -> f64 {
        self.config.lr.lr_at(self.step, self.config.steps)
    }

    /// One step. Returns the minibatch loss without reading it back.
    pub fn step(&mut self) -> Tensor<1> {
        self.step_tapped(&mut |_, _, t| t, false).loss
    }

    /// One step with every layer output passed through `tap` and, with `record`, each
    /// parameter's update kept.
    pub fn step_tapped(
        &mut self,
        tap: &mut dyn FnMut(usize, LayerKind, Tensor<2>) -> Tensor<2>,
        record: bool,
    ) -> Inspected {
        let lr = self.lr();
        self.sampler.fill_batch(&mut self.batch);
        let (x, y) = self.data.gather(&self.batch);
        let model = self
            .model
            .take()
            .expect("the model is present between steps");
        let logits = model.forward_tapped(x, NormMode::Train, tap); // [batch, vocab]
        let loss = cross_entropy(logits, y);
        let grads = loss.backward();
        let (model, updates) = self.optimizer.step(model, &grads, lr, record);
        self.model = Some(model);
        self.step += 1;
        Inspected {
            loss: loss.without_autodiff(),
            grads,
            updates,
            lr,
        }
    }
}

/// A batch of losses read back from the device.
#[derive(Debug, Clone, serde::Serialize)]
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
    /// The stop flag was raised (Ctrl-C); the current step was completed.
    Interrupted,
    /// A loss was not finite.
    Diverged {
        /// The step (0-based) whose loss was first non-finite.
        step: u64,
        /// Its learning rate.
        lr: f64,
    },
}

/// Runs `trainer` until `config.steps`, reading losses back every `config.log_every` steps (and
/// right after the very first step, so the first loss is known), and calling `on_log` with them.
/// `on_step` runs before every step (diagnostics use it to take over recorded steps: it
/// returns `Some(loss)` when it took the step itself).
pub fn run(
    trainer: &mut Trainer,
    stop: &AtomicBool,
    on_step: &mut dyn FnMut(&mut Trainer) -> Option<Tensor<1>>,
    on_log: &mut dyn FnMut(&Trainer, &LogPoint),
) -> Stop {
    let total = trainer.config.steps;
    let log_every = trainer.config.log_every;
    let mut pending: Vec<Tensor<1>> = Vec::with_capacity(log_every as usize);
    let mut first_step = trainer.step;
    while trainer.step < total {
        let lr = trainer.lr();
        let loss = match on_step(trainer) {
            Some(loss) => loss,
            None => trainer.step(),
        };
        pending.push(loss);
        let read_now =
            trainer.step == 1 || trainer.step.is_multiple_of(log_every) || trainer.step == total;
        let interrupted = stop.load(Ordering::Relaxed);
        if read_now || interrupted {
            let losses = read_f32(Tensor::cat(std::mem::take(&mut pending), 0));
            if let Some(bad) = losses.iter().position(|l| !l.is_finite()) {
                let step = first_step + bad as u64;
                return Stop::Diverged {
                    step,
                    lr: trainer.config.lr.lr_at(step, total),
                };
            }
            let point = LogPoint {
                step: trainer.step,
                loss: losses.iter().map(|&l| f64::from(l)).sum::<f64>() / losses.len() as f64,
                lr,
                losses,
            };
            on_log(trainer, &point);
            first_step = trainer.step;
        }
        if interrupted {
            return Stop::Interrupted;
        }
    }
    Stop::Finished
}
