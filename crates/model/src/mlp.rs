//! The character-level MLP: embedding -> flatten -> [Linear -> BatchNorm? -> activation] x L ->
//! Linear -> BatchNorm? -> logits.

use crate::batchnorm::{BatchNorm, NormMode};
use crate::config::{ModelConfig, Norm};
use burn::module::{Module, Param};
use burn::nn::Linear;
use burn::tensor::{activation, Device, Int, Tensor, TensorData};
use makemore_diagnostics::record::to_host;
use makemore_diagnostics::{Inspect, LayerInfo, LayerKind, Saturation, Tap};
use makemore_init::{Activation, Fans, InitError, InitRoles, Role};

/// A hidden block: Linear, optional BatchNorm; the activation is the model's.
#[derive(Module, Debug)]
pub struct Block {
    /// `[fan_in, width]` weight, optional bias.
    pub linear: Linear,
    /// Normalization of the Linear's output.
    pub norm: Option<BatchNorm>,
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
    pub output_norm: Option<BatchNorm>,
    /// Nonlinearity after each hidden block.
    #[module(skip)]
    pub activation: Activation,
}

/// How the lecture prints a nonlinearity, and how its saturation is counted.
pub fn activation_kind(a: Activation) -> LayerKind {
    let (name, saturation) = match a {
        Activation::Tanh => ("Tanh", Saturation::Tanh),
        Activation::Relu => ("ReLU", Saturation::Zero),
        Activation::LeakyRelu { .. } => ("LeakyReLU", Saturation::Negative),
        Activation::Gelu => ("GELU", Saturation::Never),
        Activation::Sigmoid => ("Sigmoid", Saturation::Sigmoid),
        Activation::Identity => ("Identity", Saturation::Never),
    };
    LayerKind::activation(name, saturation)
}

/// One named tensor of a model, on the host.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct NamedTensor {
    /// Dotted path, e.g. `blocks.0.linear.weight`.
    pub path: String,
    /// Dimensions.
    pub shape: Vec<usize>,
    /// Whether the optimizer trains it (running statistics are not trained).
    pub trainable: bool,
    /// Row-major values.
    pub data: Vec<f32>,
}

/// Where a layer's initial values come from: an initializer, or saved tensors.
pub enum Source<'a> {
    /// Fresh values from the role schemes and a seed.
    Init {
        /// One scheme per role.
        roles: &'a InitRoles,
        /// The seed.
        seed: u64,
    },
    /// Saved values, looked up by path.
    Saved(&'a std::collections::HashMap<String, NamedTensor>),
}

/// Building a model failed.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// An initializer cannot produce values for a tensor.
    #[error("init.{role}: {source}")]
    Init {
        /// The role.
        role: &'static str,
        /// Why.
        source: InitError,
    },
    /// A saved tensor is missing or has the wrong shape.
    #[error("saved model: {0}")]
    Saved(String),
}

fn role_name(role: Role) -> &'static str {
    match role {
        Role::Embedding => "embedding",
        Role::Hidden => "hidden",
        Role::HiddenBias => "hidden_bias",
        Role::Output => "output",
        Role::OutputBias => "output_bias",
    }
}

struct Builder<'a> {
    source: Source<'a>,
    device: &'a Device,
}

impl Builder<'_> {
    fn values(
        &self,
        path: &str,
        shape: &[usize],
        role: Role,
        fans: Fans,
        activation: Activation,
    ) -> Result<Vec<f32>, BuildError> {
        let n = shape.iter().product();
        match &self.source {
            Source::Init { roles, seed } => {
                let resolved = roles
                    .get(role)
                    .resolve(fans, activation)
                    .map_err(|source| BuildError::Init {
                        role: role_name(role),
                        source,
                    })?;
                Ok(resolved.sample(n, *seed, path))
            }
            Source::Saved(map) => self.saved(map, path, shape),
        }
    }

    fn saved(
        &self,
        map: &std::collections::HashMap<String, NamedTensor>,
        path: &str,
        shape: &[usize],
    ) -> Result<Vec<f32>, BuildError> {
        let t = map
            .get(path)
            .ok_or_else(|| BuildError::Saved(format!("tensor {path} is missing")))?;
        if t.shape != shape || t.data.len() != shape.iter().product::<usize>() {
            return Err(BuildError::Saved(format!(
                "tensor {path} has shape {:?}, the config needs {shape:?}",
                t.shape
            )));
        }
        Ok(t.data.clone())
    }

    fn param<const D: usize>(&self, values: Vec<f32>, shape: [usize; D]) -> Param<Tensor<D>> {
        Param::from_tensor(Tensor::from_data(
            TensorData::new(values, shape),
            self.device,
        ))
    }

    #[allow(clippy::too_many_arguments)]
    fn linear(
        &self,
        path: &str,
        d_in: usize,
        d_out: usize,
        bias: bool,
        weight_role: Role,
        bias_role: Role,
        activation: Activation,
    ) -> Result<Linear, BuildError> {
        let fans = Fans {
            fan_in: d_in,
            fan_out: d_out,
        };
        let w = self.values(
            &format!("{path}.weight"),
            &[d_in, d_out],
            weight_role,
            fans,
            activation,
        )?;
        let bias = if bias {
            let b = self.values(
                &format!("{path}.bias"),
                &[d_out],
                bias_role,
                fans,
                activation,
            )?;
            Some(self.param(b, [d_out]))
        } else {
            None
        };
        Ok(Linear {
            weight: self.param(w, [d_in, d_out]),
            bias,
        })
    }

    fn norm(&self, path: &str, norm: &Norm, width: usize) -> Result<Option<BatchNorm>, BuildError> {
        let Norm::BatchNorm(cfg) = norm else {
            return Ok(None);
        };
        let get = |name: &str, default: f32| -> Result<Vec<f32>, BuildError> {
            match &self.source {
                Source::Init { .. } => Ok(vec![default; width]),
                Source::Saved(map) => self.saved(map, &format!("{path}.{name}"), &[width]),
            }
        };
        Ok(Some(BatchNorm::from_parts(
            cfg,
            get("gamma", cfg.gamma as f32)?,
            get("beta", 0.0)?,
            get("running_mean", 0.0)?,
            get("running_var", 1.0)?,
            self.device,
        )))
    }
}

impl Mlp {
    /// Builds the model for a vocabulary of `vocab` tokens on `device` (use an autodiff device to
    /// train), taking values from `source`.
    ///
    /// Parameter paths, which also key each tensor's random stream: `embedding`,
    /// `blocks.{i}.linear.{weight,bias}`, `blocks.{i}.norm.{gamma,beta,running_mean,running_var}`,
    /// `output.{weight,bias}`, `output_norm.{...}`.
    pub fn build(
        cfg: &ModelConfig,
        vocab: usize,
        source: Source<'_>,
        device: &Device,
    ) -> Result<Self, BuildError> {
        let b = Builder { source, device };
        let emb_fans = Fans {
            fan_in: cfg.n_embd,
            fan_out: vocab,
        };
        let emb = b.values(
            "embedding",
            &[vocab, cfg.n_embd],
            Role::Embedding,
            emb_fans,
            Activation::Identity,
        )?;
        let mut blocks = Vec::with_capacity(cfg.hidden.len());
        let mut fan_in = cfg.n_embd * cfg.block_size;
        for (i, &width) in cfg.hidden.iter().enumerate() {
            let path = format!("blocks.{i}");
            let bias = cfg.bias.has_bias(&cfg.norm);
            blocks.push(Block {
                linear: b.linear(
                    &format!("{path}.linear"),
                    fan_in,
                    width,
                    bias,
                    Role::Hidden,
                    Role::HiddenBias,
                    cfg.activation,
                )?,
                norm: b.norm(&format!("{path}.norm"), &cfg.norm, width)?,
            });
            fan_in = width;
        }
        let output = b.linear(
            "output",
            fan_in,
            vocab,
            cfg.bias.has_bias(&cfg.output_norm),
            Role::Output,
            Role::OutputBias,
            Activation::Identity,
        )?;
        let output_norm = b.norm("output_norm", &cfg.output_norm, vocab)?;
        Ok(Self {
            embedding: b.param(emb, [vocab, cfg.n_embd]),
            blocks,
            output,
            output_norm,
            activation: cfg.activation,
        })
    }

    /// Logits for a batch of contexts: `[batch, block_size]` token ids -> `[batch, vocab]`.
    ///
    /// In training and calibration mode on flex with autodiff tensors, each block runs as one
    /// fused op (see `fused`); elsewhere (evaluation, a `valid()` model, other backends) and
    /// whenever a tap is given, with Burn's ops.
    pub fn forward(&self, contexts: Tensor<2, Int>, mode: NormMode) -> Tensor<2> {
        self.layers(contexts, mode, None)
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
        self.layers(contexts, mode, Some(tap))
    }

    /// The forward pass; without a tap, blocks may be fused.
    pub(crate) fn layers(
        &self,
        contexts: Tensor<2, Int>,
        mode: NormMode,
        mut tap: Option<&mut dyn Tap>,
    ) -> Tensor<2> {
        let [batch, block] = contexts.dims();
        let [_, n_embd] = self.embedding.dims();
        // [batch, block] -> [batch * block] -> [batch * block, n_embd] -> [batch, block * n_embd]
        let mut x = self
            .embedding
            .val()
            .select(0, contexts.reshape([batch * block]))
            .reshape([batch, block * n_embd]);
        let fusable = tap.is_none() && mode != NormMode::Eval;
        let mut layer = 0;
        let mut emit = |kind, t| {
            let out = match tap.as_deref_mut() {
                Some(tap) => tap.tap(LayerInfo::new(layer, kind), t),
                None => t,
            };
            layer += 1;
            out
        };
        for b in &self.blocks {
            let act = Some(self.activation);
            let norm = b.norm.as_ref();
            if let Some(y) = fusable
                .then(|| fused_layer(&x, &b.linear, norm, act, mode))
                .flatten()
            {
                x = y; // [batch, width]
                continue;
            }
            x = emit(LayerKind::Linear, b.linear.forward(x)); // [batch, width]
            if let Some(norm) = &b.norm {
                x = emit(LayerKind::Norm, norm.forward(x, mode));
            }
            x = emit(activation_kind(self.activation), apply(self.activation, x));
        }
        let out = self.output_norm.as_ref();
        if let Some(y) = fusable
            .then(|| fused_layer(&x, &self.output, out, None, mode))
            .flatten()
        {
            return y; // [batch, vocab]
        }
        x = emit(LayerKind::Linear, self.output.forward(x)); // [batch, vocab]
        if let Some(norm) = &self.output_norm {
            x = emit(LayerKind::Norm, norm.forward(x, mode));
        }
        x
    }

    /// Every tensor, with its path, on the host (running statistics included).
    pub fn tensors(&self) -> Vec<NamedTensor> {
        let mut out = vec![host("embedding".into(), self.embedding.val(), true)];
        let linear = |out: &mut Vec<NamedTensor>, path: &str, l: &Linear| {
            out.push(host(format!("{path}.weight"), l.weight.val(), true));
            if let Some(b) = &l.bias {
                out.push(host(format!("{path}.bias"), b.val(), true));
            }
        };
        let norm = |out: &mut Vec<NamedTensor>, path: &str, n: &BatchNorm| {
            out.push(host(format!("{path}.gamma"), n.gamma.val(), true));
            out.push(host(format!("{path}.beta"), n.beta.val(), true));
            out.push(host(
                format!("{path}.running_mean"),
                n.running_mean.value_sync(),
                false,
            ));
            out.push(host(
                format!("{path}.running_var"),
                n.running_var.value_sync(),
                false,
            ));
        };
        for (i, b) in self.blocks.iter().enumerate() {
            linear(&mut out, &format!("blocks.{i}.linear"), &b.linear);
            if let Some(n) = &b.norm {
                norm(&mut out, &format!("blocks.{i}.norm"), n);
            }
        }
        linear(&mut out, "output", &self.output);
        if let Some(n) = &self.output_norm {
            norm(&mut out, "output_norm", n);
        }
        out
    }

    /// Number of trained parameters (running statistics excluded), as the lecture counts them.
    pub fn num_trainable(&self) -> usize {
        let mut n = self.embedding.dims().iter().product::<usize>();
        let lin = |l: &Linear| {
            l.weight.dims().iter().product::<usize>() + l.bias.as_ref().map_or(0, |b| b.dims()[0])
        };
        let bn = |b: &Option<BatchNorm>| b.as_ref().map_or(0, |b| 2 * b.gamma.dims()[0]);
        for b in &self.blocks {
            n += lin(&b.linear) + bn(&b.norm);
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

/// Whether `device` is one of Burn's pure-Rust CPU backends: tensors live in host memory, and
/// their `tanh` is a scalar libm call (`tanhf`, an `expm1f` inside) that the autodiff backward
/// evaluates a second time.
pub(crate) fn host_memory(device: &Device) -> bool {
    let plain = device.clone().without_autodiff();
    [crate::BackendKind::Flex, crate::BackendKind::Ndarray]
        .iter()
        .any(|b| b.device().is_ok_and(|d| d == plain))
}

/// tanh on a CPU backend, computed on the host with [`tanh_f32`] (vectorized), and with its
/// derivative `1 - y^2` from the output instead of a second evaluation. For an autodiff input `x`
/// the result is `x * c + (y - x * c)` with `c = 1 - y^2` and `y - x * c` constants: its value is
/// `y` (to one rounding) and its gradient is `c`, so the graph holds one multiply and one add.
/// This is what brings a training step of the lecture's models on flex to a third of its time
/// with Burn's `tanh` (README, Performance).
fn host_tanh(x: Tensor<2>) -> Tensor<2> {
    let device = x.device();
    let shape = x.dims();
    let data = x.clone().without_autodiff().into_data();
    let Ok(xs) = data.as_slice::<f32>() else {
        return activation::tanh(x); // not f32: no fast path
    };
    let plain = device.clone().without_autodiff();
    let tensor = |v: Vec<f32>, d: &Device| Tensor::<2>::from_data(TensorData::new(v, shape), d);
    if !x.is_autodiff() {
        return tensor(xs.iter().map(|&v| tanh_f32(v)).collect(), &device);
    }
    // Three simple passes rather than one with two pushes: each of these vectorizes.
    let y: Vec<f32> = xs.iter().map(|&v| tanh_f32(v)).collect();
    let c: Vec<f32> = y.iter().map(|&y| 1.0 - y * y).collect();
    let rest: Vec<f32> = xs
        .iter()
        .zip(&y)
        .zip(&c)
        .map(|((&v, &y), &c)| y - v * c)
        .collect();
    x.mul(tensor(c, &plain)).add(tensor(rest, &plain))
}

/// tanh in f32 by the rational approximation Eigen uses (a 13/6-degree odd/even pair on
/// `[-7.905, 7.905]`, where tanh rounds to +-1 beyond), branch-free so it vectorizes; within
/// 5e-7 of the exact value.
pub fn tanh_f32(x: f32) -> f32 {
    const CLAMP: f32 = 7.905_311;
    const A: [f32; 7] = [
        4.893_524_6e-3,
        6.372_619_3e-4,
        1.485_722_4e-5,
        5.122_297e-8,
        -8.604_672e-11,
        2.000_188e-13,
        -2.760_768_5e-16,
    ];
    const B: [f32; 4] = [4.893_525e-3, 2.268_434_6e-3, 1.185_347_1e-4, 1.198_258_4e-6];
    let x = x.clamp(-CLAMP, CLAMP); // NaN stays NaN, so divergence is still seen
    let x2 = x * x;
    let p = x
        * (A[0] + x2 * (A[1] + x2 * (A[2] + x2 * (A[3] + x2 * (A[4] + x2 * (A[5] + x2 * A[6]))))));
    let q = B[0] + x2 * (B[1] + x2 * (B[2] + x2 * B[3]));
    p / q
}

/// Linear -> BatchNorm? -> activation? (`None`: identity) as one fused op, updating the running
/// statistics as [`BatchNorm::forward`] does; `None` (nothing done) where no fused op applies,
/// which is everywhere in a build without flex.
fn fused_layer(
    x: &Tensor<2>,
    linear: &Linear,
    norm: Option<&BatchNorm>,
    act: Option<Activation>,
    mode: NormMode,
) -> Option<Tensor<2>> {
    #[cfg(feature = "flex")]
    {
        use crate::fused;
        let act = match act {
            None | Some(Activation::Identity) => fused::Act::Identity,
            Some(Activation::Tanh) => fused::Act::Tanh,
            Some(_) => return None,
        };
        let [batch, _] = x.dims();
        let inputs = norm.map(|n| n.fused_inputs(mode, batch));
        let bias = linear.bias.as_ref().map(|b| b.val());
        let (y, running) =
            fused::block_train(x, &linear.weight.val(), bias.as_ref(), inputs.as_ref(), act)?;
        if let (Some(n), Some(stats)) = (norm, running) {
            n.set_running(stats);
        }
        Some(y)
    }
    #[cfg(not(feature = "flex"))]
    {
        let _ = (x, linear, norm, act, mode);
        None
    }
}

/// Applies a nonlinearity.
pub fn apply(a: Activation, x: Tensor<2>) -> Tensor<2> {
    match a {
        Activation::Tanh if host_memory(&x.device()) => host_tanh(x),
        Activation::Tanh => activation::tanh(x),
        Activation::Relu => activation::relu(x),
        Activation::LeakyRelu { slope } => activation::leaky_relu(x, slope),
        Activation::Gelu => activation::gelu(x),
        Activation::Sigmoid => activation::sigmoid(x),
        Activation::Identity => x,
    }
}

/// Mean cross-entropy of `[batch, vocab]` logits against `[batch]` targets, as a 1-element tensor.
///
/// On flex with autodiff logits this is one fused op (`fused::cross_entropy`).
pub fn cross_entropy(logits: Tensor<2>, targets: Tensor<1, Int>) -> Tensor<1> {
    #[cfg(feature = "flex")]
    if let Some(loss) = crate::fused::cross_entropy(&logits, &targets) {
        return loss;
    }
    let [batch, _] = logits.dims();
    activation::log_softmax(logits, 1)
        .gather(1, targets.reshape([batch, 1]))
        .mean()
        .neg()
}

/// Summed negative log-likelihood of `[batch, vocab]` logits against `[batch]` targets.
pub fn nll_sum(logits: Tensor<2>, targets: Tensor<1, Int>) -> Tensor<1> {
    let [batch, _] = logits.dims();
    activation::log_softmax(logits, 1)
        .gather(1, targets.reshape([batch, 1]))
        .sum()
        .neg()
}

/// Reads a tensor back to the host as a [`NamedTensor`].
pub fn host<const D: usize>(path: String, t: Tensor<D>, trainable: bool) -> NamedTensor {
    let shape = t.dims().to_vec();
    let data = to_host(t);
    NamedTensor {
        path,
        shape,
        trainable,
        data,
    }
}

#[cfg(test)]
mod tests {
    use super::tanh_f32;

    #[test]
    fn tanh_f32_is_accurate_everywhere() {
        let mut worst = 0f64;
        let mut x = -20.0f64;
        while x <= 20.0 {
            let err = (f64::from(tanh_f32(x as f32)) - (x as f32 as f64).tanh()).abs();
            worst = worst.max(err);
            x += 1e-4;
        }
        assert!(worst < 5e-7, "max error {worst}");
        assert_eq!(tanh_f32(0.0), 0.0);
        assert!(tanh_f32(f32::INFINITY) > 0.999_999 && tanh_f32(-1e30) < -0.999_999);
        assert!(
            tanh_f32(f32::NAN).is_nan(),
            "NaN propagates, so divergence is still seen"
        );
    }

    /// The training forward pass on flex is fused, and agrees with the tapped forward pass
    /// (Burn's ops) in logits, every parameter's gradient and the running statistics.
    #[cfg(feature = "flex")]
    #[test]
    fn the_fused_training_forward_agrees_with_burns_ops() {
        use super::{fused_layer, Linear, Mlp, NormMode, Source};
        use crate::config::RunConfig;
        use burn::tensor::{Distribution, Int, Tensor, TensorData};
        use makemore_diagnostics::{LayerInfo, Tap};

        let device = crate::BackendKind::Flex.device().expect("flex").autodiff();
        let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../../configs/lecture/");
        for name in ["deep-batchnorm", "original"] {
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
            let applies = fused_layer(&x, &b0.linear, None, act, NormMode::Train);
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
            let host = |t: Tensor<2>| makemore_diagnostics::record::to_host(t.without_autodiff());
            close("logits", &host(y.clone()), &host(y_ref.clone()));
            let g = y.mul(weights.clone()).sum().backward();
            let g_ref = y_ref.mul(weights).sum().backward();
            let grad = |m: &Mlp, g| host(m.embedding.val().grad(g).expect("embedding gradient"));
            close(
                "embedding grad",
                &grad(&fused, &g),
                &grad(&reference, &g_ref),
            );
            for (i, (a, b)) in fused.blocks.iter().zip(&reference.blocks).enumerate() {
                let dw = |l: &Linear, g| host(l.weight.val().grad(g).expect("weight gradient"));
                close(
                    &format!("blocks.{i} weight grad"),
                    &dw(&a.linear, &g),
                    &dw(&b.linear, &g_ref),
                );
            }
            let (a, b) = (fused.tensors(), reference.tensors());
            for (a, b) in a.iter().zip(&b) {
                close(&a.path, &a.data, &b.data); // running statistics updated alike
            }
        }
    }
}
