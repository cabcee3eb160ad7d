//! The character-level MLP: embedding -> flatten -> [Linear -> norm? -> activation (+ residual
//! link)] x L -> Linear -> norm? -> logits.

mod build;

use crate::activation::{activation_kind, apply};
use crate::host::NamedTensor;
use crate::norm::{NormLayer, NormMode};
pub use build::{BuildError, Source};
use burn::module::{Module, Param};
use burn::nn::Linear;
use burn::tensor::{Int, Tensor};
use makemore_diagnostics::{Inspect, LayerInfo, LayerKind, Tap};
use makemore_init::Activation;

/// A hidden block: Linear, optional normalization; the activation is the model's. With a
/// residual link its output is `h + scale * act(norm(linear(h)))`.
#[derive(Module, Debug)]
pub struct Block {
    /// `[fan_in, width]` weight, optional bias.
    pub linear: Linear,
    /// Normalization of the Linear's output.
    pub norm: Option<NormLayer>,
    /// `[1]` learned multiplier of the residual branch (`model.residual_scale`).
    pub scale: Option<Param<Tensor<1>>>,
    /// Whether the block's input is added to its output.
    #[module(skip)]
    pub residual: bool,
}

/// The makemore MLP.
#[derive(Module, Debug)]
pub struct Mlp {
    /// `[vocab, n_embd]` embedding table.
    pub embedding: Param<Tensor<2>>,
    /// Hidden blocks.
    pub blocks: Vec<Block>,
    /// `[width, vocab]` output layer.
    pub output: Linear,
    /// Optional normalization of the logits.
    pub output_norm: Option<NormLayer>,
    /// Nonlinearity after each hidden block.
    #[module(skip)]
    pub activation: Activation,
}

impl Mlp {
    /// Logits for a batch of contexts: `[batch, block_size]` token ids -> `[batch, vocab]`.
    ///
    /// In training and calibration mode on flex with autodiff tensors, each block runs as one
    /// CPU-path op (see `cpu`); elsewhere (evaluation, a `valid()` model, other backends) and
    /// whenever a tap is given, with Burn's ops.
    pub fn forward(&self, contexts: Tensor<2, Int>, mode: NormMode) -> Tensor<2> {
        self.forward_with(contexts, mode, None)
    }

    /// Like [`Mlp::forward`], passing every layer's output through `tap`, which returns the
    /// tensor to continue with (diagnostics add a zero leaf there to read the gradient with
    /// respect to that output). Layers are numbered as the lecture numbers them:
    /// `0 Linear, 1 BatchNorm1d, 2 Tanh, 3 Linear, ...`.
    pub fn forward_tapped(
        &self,
        contexts: Tensor<2, Int>,
        mode: NormMode,
        tap: &mut dyn Tap,
    ) -> Tensor<2> {
        self.forward_with(contexts, mode, Some(tap))
    }

    /// The forward pass, through `tap` when given (every layer output then goes through Burn's
    /// ops); without one, blocks run on the CPU path where it applies.
    pub(crate) fn forward_with(
        &self,
        contexts: Tensor<2, Int>,
        mode: NormMode,
        mut tap: Option<&mut dyn Tap>,
    ) -> Tensor<2> {
        let [batch, block] = contexts.dims();
        let [_, n_embd] = self.embedding.dims();
        let fusable = tap.is_none();
        let mut blocks = self.blocks.iter();
        // With more rows than the vocabulary has tokens, the first block takes the token ids
        // and the table (see `cpu::LayerInput::Tokens`): its products then cost as much as `vocab`
        // rows of the dense product instead of `batch` rows, and no embedding rows are gathered.
        let first = match self.blocks.first() {
            Some(b) if fusable && self.first_block_on_tokens(batch) => {
                let table = self.embedding.val();
                let act = Some(self.activation);
                cpu_first_layer(&contexts, &table, &b.linear, b.norm.as_ref(), act, mode)
            }
            _ => None,
        };
        let mut x = match first {
            Some(y) => {
                blocks.next();
                y // [batch, width]
            }
            // [batch, block] -> [batch * block] -> [batch * block, n_embd] -> [batch, block * n_embd]
            None => self
                .embedding
                .val()
                .select(0, contexts.reshape([batch * block]))
                .reshape([batch, block * n_embd]),
        };
        let mut layer = 0;
        let mut emit = |kind, t| {
            let out = match tap.as_deref_mut() {
                Some(tap) => tap.tap(LayerInfo::new(layer, kind), t),
                None => t,
            };
            layer += 1;
            out
        };
        for b in blocks {
            let act = Some(self.activation);
            let norm = b.norm.as_ref();
            let link = b.residual.then_some(&b.scale);
            if let Some(y) = fusable
                .then(|| cpu_layer(&x, &b.linear, norm, act, link, mode))
                .flatten()
            {
                x = y; // [batch, width]
                continue;
            }
            let input = b.residual.then(|| x.clone()); // [batch, width]
            let mut h = emit(LayerKind::Linear, b.linear.forward(x)); // [batch, width]
            if let Some(norm) = &b.norm {
                h = emit(LayerKind::norm(norm.label()), norm.forward(h, mode));
            }
            let branch = emit(activation_kind(self.activation), apply(self.activation, h));
            x = match (input, &b.scale) {
                (None, _) => branch,
                (Some(h), None) => emit(LayerKind::Residual, h.add(branch)),
                // [1] -> [1, 1], broadcast over [batch, width]
                (Some(h), Some(s)) => emit(
                    LayerKind::Residual,
                    h.add(branch.mul(s.val().unsqueeze_dim(0))),
                ),
            };
        }
        let out = self.output_norm.as_ref();
        if let Some(y) = fusable
            .then(|| cpu_layer(&x, &self.output, out, None, None, mode))
            .flatten()
        {
            return y; // [batch, vocab]
        }
        x = emit(LayerKind::Linear, self.output.forward(x)); // [batch, vocab]
        if let Some(norm) = &self.output_norm {
            x = emit(LayerKind::norm(norm.label()), norm.forward(x, mode));
        }
        x
    }

    /// Whether a CPU-path forward pass over `batch` rows gives its first block the token ids and
    /// the embedding table (`cpu::LayerInput::Tokens`) instead of gathered rows: with more rows
    /// than the vocabulary has tokens, when that block has no residual link.
    pub(crate) fn first_block_on_tokens(&self, batch: usize) -> bool {
        let [vocab, _] = self.embedding.dims();
        self.blocks
            .first()
            .is_some_and(|b| batch > vocab && !b.residual)
    }

    /// Every tensor, with its path, on the host (running statistics included).
    pub fn tensors(&self) -> Vec<NamedTensor> {
        let mut out = vec![NamedTensor::read(
            "embedding".into(),
            self.embedding.val(),
            true,
        )];
        let linear = |out: &mut Vec<NamedTensor>, path: &str, l: &Linear| {
            out.push(NamedTensor::read(
                format!("{path}.weight"),
                l.weight.val(),
                true,
            ));
            if let Some(b) = &l.bias {
                out.push(NamedTensor::read(format!("{path}.bias"), b.val(), true));
            }
        };
        let norm = |out: &mut Vec<NamedTensor>, path: &str, n: &NormLayer| {
            if let (Some(g), Some(b)) = (&n.gamma, &n.beta) {
                out.push(NamedTensor::read(format!("{path}.gamma"), g.val(), true));
                out.push(NamedTensor::read(format!("{path}.beta"), b.val(), true));
            }
            if let (Some(m), Some(v)) = (&n.running_mean, &n.running_var) {
                let stat = |name: &str, t| NamedTensor::read(format!("{path}.{name}"), t, false);
                out.push(stat("running_mean", m.value_sync()));
                out.push(stat("running_var", v.value_sync()));
            }
        };
        for (i, b) in self.blocks.iter().enumerate() {
            linear(&mut out, &format!("blocks.{i}.linear"), &b.linear);
            if let Some(n) = &b.norm {
                norm(&mut out, &format!("blocks.{i}.norm"), n);
            }
            if let Some(s) = &b.scale {
                out.push(NamedTensor::read(
                    format!("blocks.{i}.scale"),
                    s.val(),
                    true,
                ));
            }
        }
        linear(&mut out, "output", &self.output);
        if let Some(n) = &self.output_norm {
            norm(&mut out, "output_norm", n);
        }
        out
    }

    /// Whether some layer normalizes with the statistics of the batch it is given even in
    /// evaluation (BatchNorm without running statistics): then a row's output depends on the
    /// other rows of its batch.
    pub fn eval_mixes_rows(&self) -> bool {
        let batch_stats = |n: &NormLayer| {
            matches!(n.over, crate::norm::NormOver::Batch { .. }) && n.running_mean.is_none()
        };
        self.blocks
            .iter()
            .filter_map(|b| b.norm.as_ref())
            .chain(&self.output_norm)
            .any(batch_stats)
    }

    /// Number of trained parameters (running statistics excluded), as the lecture counts them.
    pub fn num_trainable(&self) -> usize {
        let mut n = self.embedding.dims().iter().product::<usize>();
        let lin = |l: &Linear| {
            l.weight.dims().iter().product::<usize>() + l.bias.as_ref().map_or(0, |b| b.dims()[0])
        };
        let bn = |b: &Option<NormLayer>| b.as_ref().map_or(0, NormLayer::num_trainable);
        for b in &self.blocks {
            n += lin(&b.linear) + bn(&b.norm) + b.scale.as_ref().map_or(0, |_| 1);
        }
        n + lin(&self.output) + bn(&self.output_norm)
    }
}

impl Inspect for Mlp {
    type Input = (Tensor<2, Int>, NormMode);

    fn forward_inspect(&self, (contexts, mode): Self::Input, tap: &mut dyn Tap) -> Tensor<2> {
        self.forward_tapped(contexts, mode, tap)
    }
}

/// One block (or the output layer) as a CPU-path op on a CPU backend: `None` when the tensors are
/// elsewhere or the activation is not one the kernels compute. `residual` is the block's link
/// (with its learned scale, if any) when it has one.
fn cpu_layer(
    x: &Tensor<2>,
    linear: &Linear,
    norm: Option<&NormLayer>,
    act: Option<Activation>,
    residual: Option<&Option<Param<Tensor<1>>>>,
    mode: NormMode,
) -> Option<Tensor<2>> {
    let input = crate::cpu::LayerInput::Rows(x);
    cpu_block(input, linear, norm, act, residual, mode)
}

/// The first block with the embedding, as one CPU-path op on `[batch, block_size]` token ids (see
/// `cpu::LayerInput::Tokens`); `None` as for [`cpu_layer`].
fn cpu_first_layer(
    ids: &Tensor<2, Int>,
    table: &Tensor<2>,
    linear: &Linear,
    norm: Option<&NormLayer>,
    act: Option<Activation>,
    mode: NormMode,
) -> Option<Tensor<2>> {
    let input = crate::cpu::LayerInput::Tokens { ids, table };
    cpu_block(input, linear, norm, act, None, mode)
}

fn cpu_block(
    input: crate::cpu::LayerInput<'_>,
    linear: &Linear,
    norm: Option<&NormLayer>,
    act: Option<Activation>,
    residual: Option<&Option<Param<Tensor<1>>>>,
    mode: NormMode,
) -> Option<Tensor<2>> {
    use crate::cpu::{self, LayerInput};
    let act = match act {
        None => cpu::Act::Identity,
        Some(a) => cpu::act(a)?,
    };
    let (batch, device) = match &input {
        LayerInput::Rows(x) => (x.dims()[0], x.device()),
        LayerInput::Tokens { ids, table } => (ids.dims()[0], table.device()),
    };
    let [_, width] = linear.weight.dims();
    let inputs = match norm {
        Some(n) => Some(n.cpu_inputs(mode, batch, &device, width)?),
        None => None,
    };
    let bias = linear.bias.as_ref().map(|b| b.val());
    let link = residual.map(|s| cpu::ResidualInputs {
        scale: s.as_ref().map(Param::val),
    });
    let (y, running) = cpu::block(
        input,
        &linear.weight.val(),
        bias.as_ref(),
        inputs.as_ref(),
        act,
        link.as_ref(),
    )?;
    if let (Some(n), Some(stats)) = (norm, running) {
        n.set_running(stats);
    }
    Some(y)
}

#[cfg(test)]
mod tests {
    /// Every trained parameter's gradient, by path, on the host.
    #[cfg(feature = "flex")]
    fn gradients(m: &super::Mlp, g: &burn::tensor::Gradients) -> Vec<(String, Vec<f32>)> {
        use super::{Linear, NormLayer};
        use crate::host::to_host;
        let grad = |p: &burn::module::Param<burn::tensor::Tensor<1>>| {
            to_host(p.val().grad(g).expect("gradient"))
        };
        let mut out = vec![(
            "embedding".to_string(),
            to_host(m.embedding.val().grad(g).expect("gradient")),
        )];
        let linear = |out: &mut Vec<(String, Vec<f32>)>, path: &str, l: &Linear| {
            out.push((
                format!("{path}.weight"),
                to_host(l.weight.val().grad(g).expect("gradient")),
            ));
            if let Some(b) = &l.bias {
                out.push((format!("{path}.bias"), grad(b)));
            }
        };
        let norm = |out: &mut Vec<(String, Vec<f32>)>, path: &str, n: &Option<NormLayer>| {
            if let Some((g, b)) = n
                .as_ref()
                .and_then(|n| n.gamma.as_ref().zip(n.beta.as_ref()))
            {
                out.push((format!("{path}.gamma"), grad(g)));
                out.push((format!("{path}.beta"), grad(b)));
            }
        };
        for (i, b) in m.blocks.iter().enumerate() {
            linear(&mut out, &format!("blocks.{i}.linear"), &b.linear);
            norm(&mut out, &format!("blocks.{i}.norm"), &b.norm);
            if let Some(s) = &b.scale {
                out.push((format!("blocks.{i}.scale"), grad(s)));
            }
        }
        linear(&mut out, "output", &m.output);
        norm(&mut out, "output_norm", &m.output_norm);
        out
    }

    /// The training forward pass on flex is fused, and agrees with the tapped forward pass
    /// (Burn's ops) in logits, every parameter's gradient and the running statistics.
    #[cfg(feature = "flex")]
    #[test]
    fn the_fused_training_forward_agrees_with_burns_ops() {
        use super::{cpu_layer, Mlp, NormMode, Source};
        use crate::config::RunConfig;
        use burn::tensor::{Distribution, Int, Tensor, TensorData};
        use makemore_diagnostics::{LayerInfo, Tap};

        let device = crate::BackendKind::Flex.device().expect("flex").autodiff();
        let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../../configs/lecture/");
        let names = [
            "deep-batchnorm",
            "original",
            "../mitigations/deep-batchnorm-plain",
            "../mitigations/deep-layernorm-residual",
        ];
        for name in names {
            let path = std::path::PathBuf::from(format!("{root}{name}.toml"));
            let cfg = RunConfig::from_file(&path, &[]).expect("lecture config");
            let build = || {
                let roles = &cfg.init;
                let source = Source::Init { roles, seed: 7 };
                Mlp::build(&cfg.model, 27, source, &device).expect("model")
            };
            let (fused, reference) = (build(), build());
            let ids: Vec<i64> = (0..32 * 3).map(|i| (i * 11 % 27) as i64).collect();
            let contexts = Tensor::<2, Int>::from_data(TensorData::new(ids, [32, 3]), &device);
            let x = Tensor::<2>::random([32, 30], Distribution::Default, &device).require_grad();
            let (b0, act) = (&fused.blocks[0], Some(fused.activation));
            let applies = cpu_layer(&x, &b0.linear, None, act, None, NormMode::Train);
            assert!(
                applies.is_some(),
                "{name}: the fused path applies to the model's tensors"
            );

            let y = fused.forward(contexts.clone(), NormMode::Train);
            let mut identity = |_: LayerInfo, t: Tensor<2>| t;
            let tap: &mut dyn Tap = &mut identity;
            let y_ref = reference.forward_tapped(contexts, NormMode::Train, tap);
            let weights = Tensor::<2>::random([32, 27], Distribution::Normal(0.0, 1.0), &device);
            let close = |what: &str, a: &[f32], b: &[f32]| {
                for (i, (x, y)) in a.iter().zip(b).enumerate() {
                    let tol = 1e-4 * (1.0 + x.abs().max(y.abs()));
                    assert!((x - y).abs() <= tol, "{name} {what}[{i}]: {x} vs {y}");
                }
            };
            let host = |t: Tensor<2>| crate::host::to_host(t.without_autodiff());
            close("logits", &host(y.clone()), &host(y_ref.clone()));
            let g = y.mul(weights.clone()).sum().backward();
            let g_ref = y_ref.mul(weights).sum().backward();
            let (ga, gb) = (gradients(&fused, &g), gradients(&reference, &g_ref));
            let trained = fused.tensors().iter().filter(|t| t.trainable).count();
            assert_eq!(ga.len(), trained, "{name}: a gradient for every parameter");
            for ((path, a), (_, b)) in ga.iter().zip(&gb) {
                close(&format!("{path} grad"), a, b);
            }
            let (a, b) = (fused.tensors(), reference.tensors());
            for (a, b) in a.iter().zip(&b) {
                close(&a.path, &a.data, &b.data); // running statistics updated alike
            }
        }
    }
}
