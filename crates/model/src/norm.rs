//! Normalization layers: BatchNorm1d (PyTorch's running-variance convention), LayerNorm and
//! GroupNorm, as one module whose parts are optional.

use crate::config::Norm;
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

impl Blend {
    /// Blends a batch's statistics into running ones held on the host, in `f32` (the CPU path's
    /// one implementation: `cpu::block` and `cpu::step` both call it).
    pub(crate) fn apply(&self, (mean, var): (&mut [f32], &mut [f32]), batch: (&[f32], &[f32])) {
        let keep = self.keep as f32;
        let mix = |old: &mut [f32], batch: &[f32], weight: f64| {
            let weight = weight as f32;
            old.iter_mut()
                .zip(batch)
                .for_each(|(o, &b)| *o = *o * keep + b * weight);
        };
        mix(mean, batch.0, self.mean);
        mix(var, batch.1, self.var);
    }
}

/// Which statistics a CPU block's normalization uses.
#[derive(Debug, Clone, Copy)]
pub(crate) enum NormStats {
    /// The batch's, per feature (BatchNorm in training or calibration, or without running
    /// statistics); the running ones, when kept, are blended with them.
    Batch(Blend),
    /// The running statistics (BatchNorm in evaluation).
    Running,
    /// Each row's, per group of features (LayerNorm: one group; GroupNorm).
    Groups(usize),
}

impl NormStats {
    /// The kernels' form of these statistics (the one conversion, for forward and backward
    /// passes and the host step alike), with BatchNorm's running mean and variance where it
    /// uses them; `None` when it uses them and `running` has none.
    pub(crate) fn for_kernels<'a>(
        self,
        running: Option<(&'a [f32], &'a [f32])>,
    ) -> Option<makemore_kernels::Stats<'a>> {
        use makemore_kernels::Stats;
        Some(match self {
            NormStats::Batch(_) => Stats::Batch,
            NormStats::Running => {
                let (mean, var) = running?;
                Stats::Fixed { mean, var }
            }
            NormStats::Groups(g) => Stats::Groups(g),
        })
    }
}

/// A normalization layer as a CPU block sees it, by reference ([`NormLayer::cpu_parts`]).
pub(crate) struct CpuNorm<'a> {
    /// Gamma and beta, with `affine`.
    pub affine: Option<(&'a Param<Tensor<1>>, &'a Param<Tensor<1>>)>,
    /// BatchNorm's running mean and unbiased variance, when it keeps them.
    pub running: Option<(&'a RunningState<Tensor<1>>, &'a RunningState<Tensor<1>>)>,
    /// Added to the variance.
    pub eps: f64,
    /// Which statistics.
    pub stats: NormStats,
}

/// Gamma and beta's values, or ones and zeros (untracked) over `width` features on `device`
/// without an affine pair.
fn affine_or_identity(
    pair: Option<(&Param<Tensor<1>>, &Param<Tensor<1>>)>,
    width: usize,
    device: &Device,
) -> (Tensor<1>, Tensor<1>) {
    match pair {
        Some((g, b)) => (g.val(), b.val()),
        None => (
            Tensor::ones([width], device),
            Tensor::zeros([width], device),
        ),
    }
}

/// A normalization layer's part in a CPU block.
pub(crate) struct NormInputs {
    /// `[m]` scale (ones without `affine`).
    pub gamma: Tensor<1>,
    /// `[m]` shift (zeros without `affine`).
    pub beta: Tensor<1>,
    /// `[m]` running mean and (unbiased) variance, no autodiff; BatchNorm's, when it keeps them.
    pub running: Option<(Tensor<1>, Tensor<1>)>,
    /// Added to the variance.
    pub eps: f64,
    /// Which statistics.
    pub stats: NormStats,
}

/// The new running mean and variance of a CPU block's BatchNorm.
pub(crate) type RunningStats = (Tensor<1>, Tensor<1>);

/// Which statistics a normalization layer uses.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum NormOver {
    /// Per feature, over the batch (BatchNorm1d).
    Batch {
        /// Weight of a new batch in the running statistics.
        momentum: f64,
    },
    /// Per example, over the features of each of `groups` equal groups (GroupNorm; one group
    /// is LayerNorm).
    Features {
        /// Number of groups; divides the width.
        groups: usize,
        /// `LayerNorm` or `GroupNorm`, as the tables name it.
        layer_norm: bool,
    },
}

/// A normalization layer over the feature axis of `[batch, features]`:
/// `y = (x - mean) / sqrt(var + eps) * gamma + beta`, with biased variances.
///
/// BatchNorm follows PyTorch: the output uses the biased batch variance, the running variance is
/// updated with the unbiased one (`n / (n - 1)` times it); Burn's own `BatchNorm` uses the
/// biased one for both (for batches of 32 they differ by 32/31). Without running statistics
/// (`track_running_stats = false`) it normalizes with the batch's statistics in evaluation too.
/// LayerNorm and GroupNorm use each example's own statistics and keep no state.
#[derive(Module, Debug)]
pub struct NormLayer {
    /// Scale, `[features]`; absent without `affine`.
    pub gamma: Option<Param<Tensor<1>>>,
    /// Shift, `[features]`; absent without `affine`.
    pub beta: Option<Param<Tensor<1>>>,
    /// BatchNorm's running mean, `[features]`; never touched by the optimizer.
    pub running_mean: Option<RunningState<Tensor<1>>>,
    /// BatchNorm's running (unbiased) variance, `[features]`.
    pub running_var: Option<RunningState<Tensor<1>>>,
    /// Which statistics it uses.
    #[module(skip)]
    pub over: NormOver,
    /// Added to the variance.
    pub eps: f64,
}

/// The tensors of a normalization layer, on the host.
pub struct NormParts {
    /// Scale and shift (`affine`).
    pub affine: Option<(Vec<f32>, Vec<f32>)>,
    /// Running mean and variance (BatchNorm with `track_running_stats`).
    pub running: Option<(Vec<f32>, Vec<f32>)>,
}

impl NormLayer {
    /// A layer of kind `cfg` (not `Norm::None`) from its parts; `None` for `Norm::None`.
    pub fn from_parts(cfg: &Norm, parts: NormParts, device: &Device) -> Option<Self> {
        let t = |v: Vec<f32>| {
            let n = v.len();
            Tensor::<1>::from_data(burn::tensor::TensorData::new(v, [n]), device)
        };
        let (over, eps) = match cfg {
            Norm::None => return None,
            Norm::BatchNorm(c) => (
                NormOver::Batch {
                    momentum: c.momentum,
                },
                c.eps,
            ),
            Norm::LayerNorm(c) => (
                NormOver::Features {
                    groups: 1,
                    layer_norm: true,
                },
                c.eps,
            ),
            Norm::GroupNorm(c) => (
                NormOver::Features {
                    groups: c.groups,
                    layer_norm: false,
                },
                c.eps,
            ),
        };
        let (gamma, beta) = match parts.affine {
            Some((g, b)) => (
                Some(Param::from_tensor(t(g))),
                Some(Param::from_tensor(t(b))),
            ),
            None => (None, None),
        };
        let (running_mean, running_var) = match parts.running {
            Some((m, v)) => (
                Some(RunningState::new(t(m).without_autodiff())),
                Some(RunningState::new(t(v).without_autodiff())),
            ),
            None => (None, None),
        };
        Some(Self {
            gamma,
            beta,
            running_mean,
            running_var,
            over,
            eps,
        })
    }

    /// How the tables name it: `BatchNorm1d`, `LayerNorm` or `GroupNorm`.
    pub fn label(&self) -> &'static str {
        match self.over {
            NormOver::Batch { .. } => "BatchNorm1d",
            NormOver::Features {
                layer_norm: true, ..
            } => "LayerNorm",
            NormOver::Features { .. } => "GroupNorm",
        }
    }

    /// Number of trained values (gamma and beta).
    pub fn num_trainable(&self) -> usize {
        self.gamma.as_ref().map_or(0, |g| g.dims()[0])
            + self.beta.as_ref().map_or(0, |b| b.dims()[0])
    }

    /// How a batch of `batch` rows updates the running statistics in `mode` (Train or
    /// Calibrate): `new = keep * old + weight * batch statistic`, with the batch variance made
    /// unbiased (`n / (n - 1)`) in its weight.
    pub(crate) fn blend(momentum: f64, mode: NormMode, batch: usize) -> Blend {
        let m = if mode == NormMode::Calibrate {
            1.0
        } else {
            momentum
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

    /// Gamma and beta, or ones and zeros (untracked) on `device` without `affine`.
    fn affine(&self, width: usize, device: &Device) -> (Tensor<1>, Tensor<1>) {
        affine_or_identity(self.gamma.as_ref().zip(self.beta.as_ref()), width, device)
    }

    /// Which statistics this layer normalizes `batch` rows with in `mode`: the one place that
    /// decides it for the CPU path (both ways of running a block ask through
    /// [`NormLayer::cpu_parts`]).
    pub(crate) fn stats(&self, mode: NormMode, batch: usize) -> NormStats {
        let running = self.running_mean.is_some() && self.running_var.is_some();
        match (self.over, running, mode) {
            (NormOver::Features { groups, .. }, ..) => NormStats::Groups(groups),
            (NormOver::Batch { .. }, true, NormMode::Eval) => NormStats::Running,
            (NormOver::Batch { momentum }, ..) => {
                NormStats::Batch(Self::blend(momentum, mode, batch))
            }
        }
    }

    /// What a CPU block of `batch` rows and `width` features takes of this layer in `mode`, or
    /// `None` when the kernels do not cover it (groups that do not divide the width, or only one
    /// of gamma and beta): the one conversion from the layer to the kernels' terms. The autodiff
    /// nodes turn it into tensors ([`NormLayer::cpu_inputs`]), the host step into host vectors
    /// (`cpu::step`). Without it the layer runs as Burn's ops.
    pub(crate) fn cpu_parts(
        &self,
        mode: NormMode,
        batch: usize,
        width: usize,
    ) -> Option<CpuNorm<'_>> {
        let stats = self.stats(mode, batch);
        if let NormStats::Groups(groups) = stats {
            if !makemore_kernels::groups_fit(groups, width) {
                return None;
            }
        }
        let affine = match (&self.gamma, &self.beta) {
            (Some(g), Some(b)) => Some((g, b)),
            (None, None) => None,
            _ => return None,
        };
        Some(CpuNorm {
            affine,
            running: self.running_mean.as_ref().zip(self.running_var.as_ref()),
            eps: self.eps,
            stats,
        })
    }

    /// This layer's tensors for a CPU block over `batch` rows in `mode` ([`NormLayer::cpu_parts`]
    /// as tensors: ones and zeros stand in for gamma and beta without `affine`).
    pub(crate) fn cpu_inputs(
        &self,
        mode: NormMode,
        batch: usize,
        device: &Device,
        width: usize,
    ) -> Option<NormInputs> {
        let parts = self.cpu_parts(mode, batch, width)?;
        let (gamma, beta) = affine_or_identity(parts.affine, width, device);
        Some(NormInputs {
            gamma,
            beta,
            running: parts.running.map(|(m, v)| (m.value_sync(), v.value_sync())),
            eps: parts.eps,
            stats: parts.stats,
        })
    }

    /// Replaces the running statistics (where it keeps any) with ones a CPU block computed.
    pub(crate) fn set_running(&self, (mean, var): RunningStats) {
        if let (Some(m), Some(v)) = (&self.running_mean, &self.running_var) {
            m.update(mean);
            v.update(var);
        }
    }

    /// Normalizes `[batch, features] -> [batch, features]`.
    pub fn forward(&self, input: Tensor<2>, mode: NormMode) -> Tensor<2> {
        let [batch, width] = input.dims();
        let device = input.device();
        match self.over {
            NormOver::Features { groups, .. } => {
                // [batch, width] -> [batch, groups, width / groups]: statistics per group.
                let x = input.reshape([batch, groups, width / groups]);
                let (var, mean) = x.clone().var_mean_bias(2); // [batch, groups, 1] each
                let x = x
                    .sub(mean)
                    .div(var.add_scalar(self.eps).sqrt())
                    .reshape([batch, width]);
                match (&self.gamma, &self.beta) {
                    (Some(g), Some(b)) => x
                        .mul(g.val().unsqueeze_dim(0))
                        .add(b.val().unsqueeze_dim(0)),
                    _ => x,
                }
            }
            NormOver::Batch { momentum } => {
                let (gamma, beta) = self.affine(width, &device);
                let running = self.running_mean.as_ref().zip(self.running_var.as_ref());
                match (mode, running) {
                    (NormMode::Eval, Some((mean, var))) => burn::tensor::module::batch_norm(
                        input,
                        gamma,
                        beta,
                        mean.value_sync().to_device(&device),
                        var.value_sync().to_device(&device),
                        self.eps,
                    ),
                    (_, None) => {
                        burn::tensor::module::batch_norm_train(input, gamma, beta, self.eps).output
                    }
                    (NormMode::Train | NormMode::Calibrate, Some((mean, var))) => {
                        let out =
                            burn::tensor::module::batch_norm_train(input, gamma, beta, self.eps);
                        let w = Self::blend(momentum, mode, batch);
                        // Three tensor ops per statistic.
                        let old_mean = mean.value_sync();
                        let old_var = var.value_sync();
                        let stat_device = old_mean.device();
                        let blend = |old: Tensor<1>, batch: Tensor<1>, weight: f64| {
                            old.mul_scalar(w.keep).add(
                                batch
                                    .detach()
                                    .without_autodiff()
                                    .to_device(&stat_device)
                                    .mul_scalar(weight),
                            )
                        };
                        mean.update(blend(old_mean, out.mean, w.mean));
                        var.update(blend(old_var, out.variance, w.var));
                        out.output
                    }
                }
            }
        }
    }
}

#[cfg(all(test, feature = "flex"))]
mod tests {
    use super::{NormLayer, NormMode, NormParts, NormStats};
    use crate::config::{BatchNormConfig, GroupNormConfig, Norm};

    /// A layer of kind `cfg` over `width` features, with gamma and beta and running statistics.
    fn layer(cfg: &Norm, width: usize) -> NormLayer {
        let device = crate::BackendKind::Flex.open().expect("flex");
        let parts = NormParts {
            affine: Some((vec![1.5; width], vec![0.5; width])),
            running: Some((vec![0.0; width], vec![1.0; width])),
        };
        NormLayer::from_parts(cfg, parts, &device).expect("a norm")
    }

    #[test]
    fn the_cpu_conversion_refuses_what_the_kernels_do_not_cover() {
        let groups = |groups| {
            Norm::GroupNorm(GroupNormConfig {
                groups,
                eps: 1e-5,
                affine: true,
            })
        };
        // Four groups divide 8 features; three do not, and the layer stays on Burn's ops.
        assert!(layer(&groups(4), 8)
            .cpu_parts(NormMode::Train, 32, 8)
            .is_some());
        assert!(layer(&groups(3), 8)
            .cpu_parts(NormMode::Train, 32, 8)
            .is_none());
        let device = crate::BackendKind::Flex.open().expect("flex");
        assert!(layer(&groups(3), 8)
            .cpu_inputs(NormMode::Train, 32, &device, 8)
            .is_none());
        // Gamma without beta is not an affine pair the kernels take.
        let mut lone = layer(&Norm::BatchNorm(BatchNormConfig::default()), 8);
        assert!(lone.cpu_parts(NormMode::Train, 32, 8).is_some());
        lone.beta = None;
        assert!(lone.cpu_parts(NormMode::Train, 32, 8).is_none());
    }

    #[test]
    fn the_cpu_conversion_carries_the_layers_statistics_and_parts() {
        let bn = layer(&Norm::BatchNorm(BatchNormConfig::default()), 8);
        let train = bn.cpu_parts(NormMode::Train, 32, 8).expect("covered");
        assert!(train.affine.is_some() && train.running.is_some());
        assert!(matches!(train.stats, NormStats::Batch(b) if b.mean == 0.1));
        let eval = bn.cpu_parts(NormMode::Eval, 32, 8).expect("covered");
        assert!(matches!(eval.stats, NormStats::Running));
        let calibrate = bn.cpu_parts(NormMode::Calibrate, 32, 8).expect("covered");
        assert!(matches!(calibrate.stats, NormStats::Batch(b) if b.mean == 1.0));
        let device = crate::BackendKind::Flex.open().expect("flex");
        let inputs = bn
            .cpu_inputs(NormMode::Train, 32, &device, 8)
            .expect("covered");
        assert_eq!(crate::host::to_host(inputs.gamma), vec![1.5; 8]);
        assert_eq!(crate::host::to_host(inputs.beta), vec![0.5; 8]);
        // Without affine, ones and zeros stand in.
        let mut plain = layer(&Norm::BatchNorm(BatchNormConfig::default()), 8);
        (plain.gamma, plain.beta) = (None, None);
        let inputs = plain
            .cpu_inputs(NormMode::Train, 32, &device, 8)
            .expect("covered");
        assert_eq!(crate::host::to_host(inputs.gamma), vec![1.0; 8]);
        assert_eq!(crate::host::to_host(inputs.beta), vec![0.0; 8]);
    }
}
