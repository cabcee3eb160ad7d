//! A whole training step of a CPU-path model on the host: the model's trained tensors, running
//! statistics and (through [`Optimizer::step_cpu_param`]) the optimizer's buffers held as host
//! vectors between steps, and a step that runs the CPU kernels forward, the cross-entropy, the
//! kernels backward and the optimizer's rule over them, in place, with no Burn tensor, autodiff
//! graph or module map in between.
//!
//! Why: after the kernels, a step of the lecture's models still spent about half of its time in
//! Burn's machinery around them: graph nodes and gradient registries for each block, then the
//! optimizer's module map, which rebuilds every parameter as a new autodiff leaf (README,
//! Performance). The values are those of the same kernels run as autodiff nodes: a step here
//! gives bit-identical weights, statistics, optimizer buffers and loss
//! (`crates/model/tests/cpu_step.rs`).
//!
//! The [`Mlp`] stays the model's shape; [`CpuModel::materialize`] writes the host values into a
//! copy of it whenever the trainer's owner asks for the model (evaluation, checkpoints, a
//! recorded step).

use crate::mlp::Mlp;
use crate::norm::{NormLayer, NormMode, NormStats};
use crate::optim::Optimizer;
use burn::module::{Param, ParamId, RunningState};
use burn::nn::Linear;
use burn::tensor::{Device, Tensor, TensorData};
use makemore_kernels::{Act, BlockInput, NormSpec, Residual, Stats, Tokens, View, Wanted};
use std::collections::HashMap;

/// A trained tensor on the host.
#[derive(Clone)]
struct HostParam {
    /// Its place in [`crate::optim::param_order`]: the optimizer's index.
    index: usize,
    /// Row-major values.
    value: Vec<f32>,
    /// Dimensions.
    shape: Vec<usize>,
}

impl HostParam {
    fn of<const D: usize>(p: &Param<Tensor<D>>, order: &HashMap<ParamId, usize>) -> Option<Self> {
        let t = p.val();
        Some(Self {
            index: *order.get(&p.id)?,
            shape: t.dims().to_vec(),
            value: crate::host::to_host(t.without_autodiff()),
        })
    }

    /// `p` (as a template: its id) holding these values, a leaf that takes gradients on `device`.
    fn param<const D: usize>(&self, p: &Param<Tensor<D>>, device: &Device) -> Param<Tensor<D>> {
        let data = TensorData::new(self.value.clone(), self.shape.clone());
        Param::initialized(p.id, Tensor::from_data(data, device).require_grad())
    }
}

/// A normalization layer on the host.
#[derive(Clone)]
struct HostNorm {
    /// Gamma and beta (`affine`).
    affine: Option<(HostParam, HostParam)>,
    /// Ones and zeros: gamma and beta without `affine`.
    identity: (Vec<f32>, Vec<f32>),
    /// Training's statistics: the batch's, or each row's per group (never the running ones).
    stats: NormStats,
    /// BatchNorm's running mean and unbiased variance, when kept.
    running: Option<(Vec<f32>, Vec<f32>)>,
    eps: f32,
}

impl HostNorm {
    fn of(
        n: &NormLayer,
        width: usize,
        batch: usize,
        order: &HashMap<ParamId, usize>,
    ) -> Option<Self> {
        let parts = n.cpu_parts(NormMode::Train, batch, width)?;
        debug_assert!(
            !matches!(parts.stats, NormStats::Running),
            "training never normalizes with the running statistics"
        );
        let affine = match parts.affine {
            Some((g, b)) => Some((HostParam::of(g, order)?, HostParam::of(b, order)?)),
            None => None,
        };
        let read = |s: &RunningState<Tensor<1>>| crate::host::to_host(s.value_sync());
        Some(Self {
            affine,
            identity: (vec![1.0; width], vec![0.0; width]),
            stats: parts.stats,
            running: parts.running.map(|(m, v)| (read(m), read(v))),
            eps: parts.eps as f32,
        })
    }

    fn spec(&self) -> NormSpec<'_> {
        let (gamma, beta) = match &self.affine {
            Some((g, b)) => (&g.value, &b.value),
            None => (&self.identity.0, &self.identity.1),
        };
        NormSpec {
            // Never the running statistics: in training a norm uses the batch's or each row's.
            stats: self.stats.for_kernels(None).unwrap_or(Stats::Batch),
            eps: self.eps,
            gamma,
            beta,
        }
    }

    /// Blends a batch of `n` rows' statistics into the running ones, as the CPU block does
    /// in training (`cpu::block`).
    fn blend(&mut self, mean: &[f32], var: &[f32]) {
        if let (NormStats::Batch(blend), Some((rm, rv))) = (self.stats, &mut self.running) {
            blend.apply((rm, rv), (mean, var));
        }
    }

    /// `n` with these values.
    fn write(&self, n: &mut NormLayer, device: &Device) {
        if let (Some((g, b)), Some(pg), Some(pb)) = (&self.affine, &n.gamma, &n.beta) {
            let (g, b) = (g.param(pg, device), b.param(pb, device));
            (n.gamma, n.beta) = (Some(g), Some(b));
        }
        if let Some((m, v)) = &self.running {
            let t = |v: &Vec<f32>| {
                let data = TensorData::new(v.clone(), [v.len()]);
                RunningState::new(Tensor::<1>::from_data(data, device).without_autodiff())
            };
            (n.running_mean, n.running_var) = (Some(t(m)), Some(t(v)));
        }
    }
}

/// A hidden block, or the output layer, on the host.
#[derive(Clone)]
struct HostLayer {
    /// `[k, m]` weight.
    w: HostParam,
    k: usize,
    m: usize,
    bias: Option<HostParam>,
    norm: Option<HostNorm>,
    act: Act,
    /// Whether the block's input is added to its output.
    residual: bool,
    /// The residual branch's learned `[1]` scale.
    scale: Option<HostParam>,
}

impl HostLayer {
    fn of(
        linear: &Linear,
        norm: Option<&NormLayer>,
        act: Act,
        residual: bool,
        scale: Option<&Param<Tensor<1>>>,
        batch: usize,
        order: &HashMap<ParamId, usize>,
    ) -> Option<Self> {
        let [k, m] = linear.weight.dims();
        let bias = match &linear.bias {
            Some(b) => Some(HostParam::of(b, order)?),
            None => None,
        };
        let norm = match norm {
            Some(n) => Some(HostNorm::of(n, m, batch, order)?),
            None => None,
        };
        // Without a residual link the scale is not used (nor trained), as in `Mlp::forward_with`.
        let scale = match scale {
            Some(s) if residual => Some(HostParam::of(s, order)?),
            _ => None,
        };
        if residual && k != m {
            return None;
        }
        Some(Self {
            w: HostParam::of(&linear.weight, order)?,
            k,
            m,
            bias,
            norm,
            act,
            residual,
            scale,
        })
    }

    fn residual(&self) -> Option<Residual> {
        self.residual.then(|| Residual {
            scale: self.scale.as_ref().map(|s| s.value[0]),
        })
    }

    /// `linear` with these values.
    fn write_linear(&self, linear: &mut Linear, device: &Device) {
        linear.weight = self.w.param(&linear.weight, device);
        if let (Some(b), Some(p)) = (&self.bias, &linear.bias) {
            linear.bias = Some(b.param(p, device));
        }
    }
}

/// A model's trained tensors and running statistics on the host, stepped by
/// [`CpuModel::step`].
#[derive(Clone)]
pub(crate) struct CpuModel {
    /// `[vocab, n_embd]` table.
    embedding: HostParam,
    /// The hidden blocks, then the output layer.
    layers: Vec<HostLayer>,
    /// The autodiff device the model lives on.
    device: Device,
}

impl CpuModel {
    /// `model`'s values on the host, when a step of batches of `batch` rows can run here: the
    /// model is on a CPU backend in `f32`, with an activation the kernels compute (tanh or
    /// identity), GroupNorm groups that divide each width, and a first hidden block without a
    /// residual link that takes token ids (see `cpu::LayerInput::Tokens`), as the CPU-path
    /// forward pass does with more rows than tokens. `None` otherwise: the trainer then steps
    /// through Burn.
    pub(crate) fn of(model: &Mlp, batch: usize) -> Option<Self> {
        let table = model.embedding.val();
        crate::cpu::host_autodiff(&table)?;
        let act = crate::cpu::act(model.activation)?;
        if !model.first_block_on_tokens(batch) {
            return None;
        }
        let order = &crate::optim::param_order(model);
        let mut layers = Vec::with_capacity(model.blocks.len() + 1);
        for b in &model.blocks {
            let norm = b.norm.as_ref();
            let scale = b.scale.as_ref();
            layers.push(HostLayer::of(
                &b.linear, norm, act, b.residual, scale, batch, order,
            )?);
        }
        let norm = model.output_norm.as_ref();
        layers.push(HostLayer::of(
            &model.output,
            norm,
            Act::Identity,
            false,
            None,
            batch,
            order,
        )?);
        Some(Self {
            embedding: HostParam::of(&model.embedding, order)?,
            layers,
            device: table.device(),
        })
    }

    /// One training step on the `[n * positions]` token ids `ids` with `[n]` `targets`: the
    /// forward pass, the mean cross-entropy, the backward pass and `optimizer`'s step at rate
    /// `lr`, in place. Each layer's parameters are updated as soon as the backward pass has
    /// passed them. Returns the minibatch loss.
    pub(crate) fn step(
        &mut self,
        optimizer: &mut Optimizer,
        ids: &[usize],
        targets: &[usize],
        lr: f64,
    ) -> f32 {
        let n = targets.len();
        let Self {
            embedding, layers, ..
        } = self;
        let (vocab, e) = (embedding.shape[0], embedding.shape[1]);
        let positions = ids.len() / n;
        // The first block's input: the token ids into the table (never gathered).
        fn tokens<'a>(ids: &'a [usize], positions: usize, table: View<'a>) -> BlockInput<'a> {
            BlockInput::Tokens(Tokens {
                ids,
                positions,
                table,
            })
        }
        optimizer.begin_cpu_step();
        let mut outputs: Vec<Vec<f32>> = Vec::with_capacity(layers.len());
        let mut saved = Vec::with_capacity(layers.len());
        for layer in layers.iter_mut() {
            let input = match outputs.last() {
                None => tokens(ids, positions, View::rows(&embedding.value, vocab, e)),
                Some(x) => BlockInput::Rows(View::rows(x, n, layer.k)),
            };
            let fwd = makemore_kernels::block_forward(
                input,
                View::rows(&layer.w.value, layer.k, layer.m),
                layer.bias.as_ref().map(|b| b.value.as_slice()),
                layer.norm.as_ref().map(HostNorm::spec),
                layer.act,
                layer.residual(),
                true,
            );
            if let Some(norm) = &mut layer.norm {
                norm.blend(&fwd.mean, &fwd.var);
            }
            outputs.push(fwd.y);
            saved.push(fwd.saved);
        }
        let logits = outputs.pop().expect("the output layer ran");
        let (loss, mut dy) = makemore_kernels::cross_entropy(&logits, targets, vocab);
        drop(logits);
        for layer in layers.iter_mut().rev() {
            let saved = saved.pop().expect("one saved state per layer");
            let input = outputs.last();
            let wanted = Wanted {
                x: true,
                w: true,
                bias: layer.bias.is_some(),
                gamma: layer.norm.as_ref().is_some_and(|n| n.affine.is_some()),
                beta: layer.norm.as_ref().is_some_and(|n| n.affine.is_some()),
                scale: layer.scale.is_some(),
            };
            let g = makemore_kernels::block_backward(
                &dy,
                match input {
                    None => tokens(ids, positions, View::rows(&embedding.value, vocab, e)),
                    Some(x) => BlockInput::Rows(View::rows(x, n, layer.k)),
                },
                View::rows(&layer.w.value, layer.k, layer.m),
                layer.norm.as_ref().map(HostNorm::spec),
                layer.residual(),
                &saved,
                wanted,
            );
            let mut update = |p: &mut HostParam, grad: Option<Vec<f32>>| {
                let grad = grad.expect("the backward pass gives every wanted gradient");
                optimizer.step_cpu_param(p.index, &mut p.value, &grad, lr);
            };
            update(&mut layer.w, g.w);
            if let Some(b) = &mut layer.bias {
                update(b, g.bias);
            }
            if let Some((gamma, beta)) = layer.norm.as_mut().and_then(|n| n.affine.as_mut()) {
                update(gamma, g.gamma);
                update(beta, g.beta);
            }
            if let Some(s) = &mut layer.scale {
                update(s, g.scale);
            }
            dy = g.x.expect("the input's gradient was wanted");
            outputs.pop();
        }
        // The first block's input gradient is the table's.
        optimizer.step_cpu_param(embedding.index, &mut embedding.value, &dy, lr);
        loss
    }

    /// `template` (the model these values were read from, or one of its earlier states) holding
    /// the values: trained tensors as leaves that take gradients, running statistics as new
    /// states of their own.
    pub(crate) fn materialize(&self, template: &Mlp) -> Mlp {
        let mut model = template.clone();
        let device = &self.device;
        model.embedding = self.embedding.param(&model.embedding, device);
        let (output, hidden) = self.layers.split_last().expect("an output layer");
        for (b, l) in model.blocks.iter_mut().zip(hidden) {
            l.write_linear(&mut b.linear, device);
            if let (Some(n), Some(h)) = (&mut b.norm, &l.norm) {
                h.write(n, device);
            }
            if let (Some(s), Some(h)) = (&b.scale, &l.scale) {
                b.scale = Some(h.param(s, device));
            }
        }
        output.write_linear(&mut model.output, device);
        if let (Some(n), Some(h)) = (&mut model.output_norm, &output.norm) {
            h.write(n, device);
        }
        model
    }

    /// A `[1]` tensor holding `loss` on the model's device, without autodiff (what a step
    /// through Burn returns).
    pub(crate) fn loss_tensor(&self, loss: f32) -> Tensor<1> {
        let data = TensorData::new(vec![loss], [1]);
        Tensor::from_data(data, &self.device.clone().inner())
    }
}
