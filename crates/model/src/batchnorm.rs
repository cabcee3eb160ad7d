//! BatchNorm1d with PyTorch's running-variance convention.

use crate::config::BatchNormConfig;
use burn::module::{Module, Param, RunningState};
use burn::tensor::{Device, Tensor};

/// How a normalization layer uses statistics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NormMode {
    /// Normalize with the batch's statistics and update the running ones with momentum.
    Train,
    /// Normalize with the running statistics.
    Eval,
    /// Normalize with the batch's statistics and make them the running ones (momentum 1): a
    /// forward pass over the whole training split in this mode is the lecture's calibration.
    Calibrate,
}

/// The weights of an update of the running statistics: `new = keep * old + mean * batch_mean`,
/// and likewise with `var` for the variance.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Blend {
    /// Weight of the old statistic, `1 - momentum`.
    pub keep: f64,
    /// Weight of the batch mean, `momentum`.
    pub mean: f64,
    /// Weight of the biased batch variance, `momentum * n / (n - 1)`.
    pub var: f64,
}

/// A BatchNorm layer's part in a fused block.
#[cfg(feature = "flex")]
pub(crate) struct NormInputs {
    /// `[m]` scale.
    pub gamma: Tensor<1>,
    /// `[m]` shift.
    pub beta: Tensor<1>,
    /// `[m]` running mean (no autodiff).
    pub running_mean: Tensor<1>,
    /// `[m]` running (unbiased) variance (no autodiff).
    pub running_var: Tensor<1>,
    /// Added to the variance.
    pub eps: f64,
    /// How this batch updates the running statistics.
    pub blend: Blend,
}

/// The new running mean and variance of a fused block's BatchNorm.
#[cfg(feature = "flex")]
pub(crate) type RunningStats = (Tensor<1>, Tensor<1>);

/// Batch normalization over the feature axis of `[batch, features]`.
///
/// Convention (PyTorch's): the output uses the biased batch variance, the running variance is
/// updated with the unbiased one (`n / (n - 1)` times it). Burn's own `BatchNorm` uses the
/// biased one for both; for batches of 32 they differ by 32/31.
#[derive(Module, Debug)]
pub struct BatchNorm {
    /// Scale, `[features]`.
    pub gamma: Param<Tensor<1>>,
    /// Shift, `[features]`.
    pub beta: Param<Tensor<1>>,
    /// Running mean, `[features]`; never touched by the optimizer.
    pub running_mean: RunningState<Tensor<1>>,
    /// Running (unbiased) variance, `[features]`.
    pub running_var: RunningState<Tensor<1>>,
    /// Weight of a new batch in the running statistics.
    pub momentum: f64,
    /// Added to the variance.
    pub eps: f64,
}

impl BatchNorm {
    /// A layer from its parts (gamma, beta and the running statistics as host vectors).
    pub fn from_parts(
        cfg: &BatchNormConfig,
        gamma: Vec<f32>,
        beta: Vec<f32>,
        running_mean: Vec<f32>,
        running_var: Vec<f32>,
        device: &Device,
    ) -> Self {
        let n = gamma.len();
        let t = |v: Vec<f32>| Tensor::<1>::from_data(burn::tensor::TensorData::new(v, [n]), device);
        Self {
            gamma: Param::from_tensor(t(gamma)),
            beta: Param::from_tensor(t(beta)),
            running_mean: RunningState::new(t(running_mean).without_autodiff()),
            running_var: RunningState::new(t(running_var).without_autodiff()),
            momentum: cfg.momentum,
            eps: cfg.eps,
        }
    }

    /// How a batch of `batch` rows updates the running statistics in `mode` (Train or
    /// Calibrate): `new = keep * old + weight * batch statistic`, with the batch variance made
    /// unbiased (`n / (n - 1)`) in its weight.
    fn blend(&self, mode: NormMode, batch: usize) -> Blend {
        let m = if mode == NormMode::Calibrate {
            1.0
        } else {
            self.momentum
        };
        let unbiased = if batch > 1 {
            batch as f64 / (batch as f64 - 1.0)
        } else {
            1.0
        };
        Blend {
            keep: 1.0 - m,
            mean: m,
            var: m * unbiased,
        }
    }

    /// This layer's tensors for a fused block over `batch` rows in `mode` (Train or Calibrate).
    #[cfg(feature = "flex")]
    pub(crate) fn fused_inputs(&self, mode: NormMode, batch: usize) -> NormInputs {
        NormInputs {
            gamma: self.gamma.val(),
            beta: self.beta.val(),
            running_mean: self.running_mean.value_sync(),
            running_var: self.running_var.value_sync(),
            eps: self.eps,
            blend: self.blend(mode, batch),
        }
    }

    /// Replaces the running statistics with ones a fused block computed.
    #[cfg(feature = "flex")]
    pub(crate) fn set_running(&self, (mean, var): RunningStats) {
        self.running_mean.update(mean);
        self.running_var.update(var);
    }

    /// Normalizes `[batch, features] -> [batch, features]`.
    pub fn forward(&self, input: Tensor<2>, mode: NormMode) -> Tensor<2> {
        match mode {
            NormMode::Eval => {
                let device = input.device();
                burn::tensor::module::batch_norm(
                    input,
                    self.gamma.val(),
                    self.beta.val(),
                    self.running_mean.value_sync().to_device(&device),
                    self.running_var.value_sync().to_device(&device),
                    self.eps,
                )
            }
            NormMode::Train | NormMode::Calibrate => {
                let [batch, _] = input.dims();
                let out = burn::tensor::module::batch_norm_train(
                    input,
                    self.gamma.val(),
                    self.beta.val(),
                    self.eps,
                );
                let w = self.blend(mode, batch);
                // Three tensor ops per statistic.
                let old_mean = self.running_mean.value_sync();
                let old_var = self.running_var.value_sync();
                let device = old_mean.device();
                let blend = |old: Tensor<1>, batch: Tensor<1>, weight: f64| {
                    old.mul_scalar(w.keep).add(
                        batch
                            .detach()
                            .without_autodiff()
                            .to_device(&device)
                            .mul_scalar(weight),
                    )
                };
                self.running_mean.update(blend(old_mean, out.mean, w.mean));
                self.running_var.update(blend(old_var, out.variance, w.var));
                out.output
            }
        }
    }
}
