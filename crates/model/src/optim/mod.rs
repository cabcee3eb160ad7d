//! The optimizers (SGD, Adam) over any Burn module: their config, their step, and their state
//! saved and restored for checkpoints.

use burn::module::{Module, ModuleMapper, ModuleVisitor, Param, ParamId};
use burn::tensor::{Gradients, Tensor};
use std::collections::HashMap;
mod adam;
mod rmsprop;
mod rule;
mod sgd;

pub use makemore_config::optimizer::{
    AdamConfig, OptimizerConfig, RmspropConfig, SgdConfig, ADAMW_WEIGHT_DECAY, OPTIMIZER_NAMES,
};
pub(crate) use rule::buffer_count;

/// The optimizer and its state.
///
/// Parameters are identified by the order in which [`Module::map`] visits them, which is fixed
/// by the module's structure; that is what makes the state checkpointable.
#[derive(Clone)]
pub struct Optimizer {
    config: OptimizerConfig,
    /// Number of steps taken (Adam's bias correction uses it).
    pub steps: u64,
    /// Per parameter (in visiting order), its buffers, flattened: SGD's momentum; Adam's first
    /// and second moments; RMSprop's squared average, then its gradient average (centered),
    /// then its momentum buffer (momentum > 0).
    buffers: Vec<Option<Buffers>>,
}

/// One parameter's buffers, where the last step left them: as tensors after a step through
/// Burn's module map ([`Optimizer::step`]), on the host after a host training step
/// ([`Optimizer::step_cpu_param`]). Each kind of step takes the other's on its first use.
#[derive(Clone)]
enum Buffers {
    Tensors(Vec<Tensor<1>>),
    Host(Vec<Vec<f32>>),
}

impl Buffers {
    /// The values on the host.
    fn into_host(self) -> Vec<Vec<f32>> {
        match self {
            Buffers::Tensors(t) => t.into_iter().map(crate::host::to_host).collect(),
            Buffers::Host(h) => h,
        }
    }

    /// The values as tensors, host ones made on `device`.
    fn into_tensors(self, device: &burn::tensor::Device) -> Vec<Tensor<1>> {
        match self {
            Buffers::Tensors(t) => t,
            Buffers::Host(h) => h.into_iter().map(|v| vector(v, device)).collect(),
        }
    }
}

/// A `[len]` tensor of `v` on `device`.
fn vector(v: Vec<f32>, device: &burn::tensor::Device) -> Tensor<1> {
    let len = v.len();
    Tensor::from_data(burn::tensor::TensorData::new(v, [len]), device)
}

/// One parameter's update on a recorded step: `delta` is what was subtracted from the weights.
pub struct Update {
    /// Position in visiting order.
    pub index: usize,
    /// The parameter's path in the module, e.g. `blocks.0.linear.weight`.
    pub path: String,
    /// Its shape.
    pub shape: Vec<usize>,
    /// The parameter's values before the step, flattened.
    pub data: Tensor<1>,
    /// Its gradient, flattened.
    pub grad: Tensor<1>,
    /// `old - new`, flattened.
    pub delta: Tensor<1>,
}

/// Host copy of the optimizer state, for checkpoints.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct OptimizerState {
    /// Steps taken.
    pub steps: u64,
    /// Each parameter's buffers (see [`Optimizer`]), by parameter index; absent where the
    /// optimizer keeps none. Saved under its first name, `moments` (from when Adam's `[m, v]`
    /// were the only buffers), so that every checkpoint reads as before.
    #[serde(rename = "moments")]
    pub buffers: Vec<Option<Vec<Vec<f32>>>>,
}

impl Optimizer {
    /// A fresh optimizer.
    pub fn new(config: OptimizerConfig) -> Self {
        Self {
            config,
            steps: 0,
            buffers: Vec::new(),
        }
    }

    /// Applies one step with learning rate `lr` to every parameter that has a gradient in
    /// `grads`. With `record`, also returns each parameter's data, gradient and update.
    pub fn step<M: Module>(
        &mut self,
        module: M,
        grads: &Gradients,
        lr: f64,
        record: bool,
    ) -> (M, Vec<Update>) {
        self.steps += 1;
        let mut mapper = Stepper {
            order: param_order(&module),
            opt: self,
            grads,
            lr,
            record,
            updates: Vec::new(),
            path: Vec::new(),
        };
        let module = module.map(&mut mapper);
        let updates = mapper.updates;
        (module, updates)
    }

    /// The state on the host.
    pub fn state(&self) -> OptimizerState {
        OptimizerState {
            steps: self.steps,
            buffers: (self.buffers.iter())
                .map(|b| b.clone().map(Buffers::into_host))
                .collect(),
        }
    }

    /// Restores a state saved with [`Optimizer::state`] onto `device`.
    pub fn restore(
        config: OptimizerConfig,
        state: &OptimizerState,
        device: &burn::tensor::Device,
    ) -> Self {
        let tensors = |b: &Vec<Vec<f32>>| b.iter().map(|v| vector(v.clone(), device)).collect();
        Self {
            config,
            steps: state.steps,
            buffers: (state.buffers.iter())
                .map(|b| b.as_ref().map(|b| Buffers::Tensors(tensors(b))))
                .collect(),
        }
    }

    /// Starts a step taken on the host: the step count advances, as [`Optimizer::step`]
    /// advances it, before [`Optimizer::step_cpu_param`] updates each parameter.
    pub(crate) fn begin_cpu_step(&mut self) {
        self.steps += 1;
    }

    /// The rule's step of parameter `index` (in visiting order) in place on host values `p`
    /// with gradient `g`, its buffers kept on the host: the same values as the step
    /// [`Optimizer::step`] takes on a CPU backend.
    pub(crate) fn step_cpu_param(&mut self, index: usize, p: &mut [f32], g: &[f32], lr: f64) {
        let (config, t, n) = (self.config, self.steps, p.len());
        if self.buffers.len() <= index {
            self.buffers.resize(index + 1, None);
        }
        let slot = &mut self.buffers[index];
        let count = buffer_count(config);
        let (mut host, fresh) = match slot.take() {
            Some(b) => (b.into_host(), false),
            None => ((0..count).map(|_| vec![0.0; n]).collect(), true),
        };
        assert!(
            host.len() == count && host.iter().all(|b| b.len() == n),
            "parameter {index}: {count} buffers of {n} values expected"
        );
        let mut slices: Vec<&mut [f32]> = host.iter_mut().map(Vec::as_mut_slice).collect();
        crate::cpu::simd(SimdStep {
            config,
            p,
            g,
            buffers: &mut slices,
            fresh,
            delta: None,
            lr,
            t,
        });
        *slot = (count > 0).then_some(Buffers::Host(host));
    }
}

/// Each parameter's index in the optimizer's state: its place in the order Burn's `Module`
/// visits (and maps) a module's tensors. The one definition of that order: [`Optimizer::step`]
/// and the host step (`cpu::step`) both index by it.
pub(crate) fn param_order<M: Module>(module: &M) -> HashMap<ParamId, usize> {
    let mut order = Order::default();
    module.visit(&mut order);
    order.ids
}

/// The ids of a module's tensors, numbered as they are visited.
#[derive(Default)]
struct Order {
    ids: HashMap<ParamId, usize>,
}

impl ModuleVisitor for Order {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        let next = self.ids.len();
        self.ids.insert(param.id, next);
    }
}

struct Stepper<'a> {
    opt: &'a mut Optimizer,
    grads: &'a Gradients,
    lr: f64,
    /// [`param_order`] of the module stepped.
    order: HashMap<ParamId, usize>,
    record: bool,
    updates: Vec<Update>,
    path: Vec<String>,
}

impl ModuleMapper for Stepper<'_> {
    fn enter_module(&mut self, name: &str, _container_type: &str) {
        self.path.push(name.to_owned());
    }

    fn exit_module(&mut self, _name: &str, _container_type: &str) {
        self.path.pop();
    }

    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        let Some(&index) = self.order.get(&param.id) else {
            return param;
        };
        let Some(grad) = param.val().grad(self.grads) else {
            return param;
        };
        let lr = self.lr;
        let config = self.opt.config;
        let t = self.opt.steps;
        if self.opt.buffers.len() <= index {
            self.opt.buffers.resize(index + 1, None);
        }
        let stored = &mut self.opt.buffers[index];
        let mut recorded = None;
        let record = self.record;
        let param = param.map(|value| {
            let value = value.without_autodiff();
            let shape = value.shape();
            let n = shape.num_elements();
            // Buffers a host step left become tensors on the parameter's device.
            let mut tensors = stored.take().map(|b| b.into_tensors(&value.device()));
            let value = {
                // On a CPU backend, one pass over the host values, in the parameter's own
                // storage, instead of Burn's ops. A recorded step keeps the old value, which
                // makes the update write to a copy.
                let before = record.then(|| value.clone().reshape([n]));
                let step = |p: &mut [f32],
                            g: &[f32],
                            b: &mut [&mut [f32]],
                            fresh: bool,
                            d: Option<&mut [f32]>| {
                    crate::cpu::simd(SimdStep {
                        config,
                        p,
                        g,
                        buffers: b,
                        fresh,
                        delta: d,
                        lr,
                        t,
                    })
                };
                let buffers = buffer_count(config);
                match crate::cpu::host_update(value, &grad, &mut tensors, buffers, record, &step) {
                    Ok(out) => {
                        if let (Some(data), Some(delta)) = (before, out.delta) {
                            let grad = grad.clone().reshape([n]);
                            recorded = Some((shape.dims::<D>().to_vec(), data, grad, delta));
                        }
                        *stored = tensors.map(Buffers::Tensors);
                        return out.value.autodiff().require_grad();
                    }
                    Err(value) => value,
                }
            };
            let p = value.clone().reshape([n]);
            let g = grad.clone().reshape([n]);
            let (d, buffers) = update(config, p, g, tensors, lr, t);
            *stored = buffers.map(Buffers::Tensors);
            let delta: Tensor<D> = d.reshape(shape.clone());
            if record {
                recorded = Some((
                    shape.dims::<D>().to_vec(),
                    value.clone().reshape([n]),
                    grad.clone().reshape([n]),
                    delta.clone().reshape([n]),
                ));
            }
            value.sub(delta).autodiff().require_grad()
        });
        if let Some((shape, data, grad, delta)) = recorded {
            self.updates.push(Update {
                index,
                path: self.path.join("."),
                shape,
                data,
                grad,
                delta,
            });
        }
        param
    }
}

/// One parameter's step: `(delta, new buffers)` with `new = p - delta`, for flattened values `p`,
/// gradient `g` and the buffers of the previous steps, at step `t` (1-based) and rate `lr`,
/// following PyTorch's `_single_tensor_*` implementations.
fn update(
    config: OptimizerConfig,
    p: Tensor<1>,
    g: Tensor<1>,
    buffers: Option<Vec<Tensor<1>>>,
    lr: f64,
    t: u64,
) -> (Tensor<1>, Option<Vec<Tensor<1>>>) {
    let old = buffers.unwrap_or_default().into_iter();
    match config {
        OptimizerConfig::Sgd(c) => sgd::tensor_rule(c, p, g, old, lr),
        OptimizerConfig::Adam(a) => adam::tensor_rule(a, false, p, g, old, lr, t),
        OptimizerConfig::AdamW(a) => adam::tensor_rule(a, true, p, g, old, lr, t),
        OptimizerConfig::Rmsprop(c) => rmsprop::tensor_rule(c, p, g, old, lr),
    }
}

/// [`step_host`]'s arguments, as a `pulp` op: run by `cpu::simd`, the step is compiled for
/// AVX-512 or AVX2 as the CPU allows (as a closure it was too large to be inlined into the
/// dispatch's copies, and ran on the target's baseline: SSE2 on x86-64).
struct SimdStep<'a, 'b> {
    config: OptimizerConfig,
    p: &'a mut [f32],
    g: &'a [f32],
    buffers: &'a mut [&'b mut [f32]],
    fresh: bool,
    delta: Option<&'a mut [f32]>,
    lr: f64,
    t: u64,
}

impl pulp::WithSimd for SimdStep<'_, '_> {
    type Output = ();

    #[inline(always)]
    fn with_simd<S: pulp::Simd>(self, _: S) {
        let Self {
            config,
            p,
            g,
            buffers,
            fresh,
            delta,
            lr,
            t,
        } = self;
        step_host(config, p, g, buffers, fresh, delta, lr, t);
    }
}

/// [`update`] on host values, in place and element by element in `f32`, with the constants
/// rounded as Burn's scalar ops round them: `p -= delta`, the buffers (see [`buffer_count`])
/// advanced, and `delta` written out when asked for. `fresh`: the buffers are new zeros, before
/// the first step (SGD's and RMSprop's momentum buffers then start as the step itself, as
/// PyTorch's do). Every element is independent of the others, so any split of the slices into
/// runs gives the same values.
#[allow(clippy::too_many_arguments)] // the rule's inputs, each named where it is used
#[inline(always)] // into `SimdStep`'s wide-vector copies, so that its loops vectorize there
pub(crate) fn step_host(
    config: OptimizerConfig,
    p: &mut [f32],
    g: &[f32],
    buffers: &mut [&mut [f32]],
    fresh: bool,
    delta: Option<&mut [f32]>,
    lr: f64,
    t: u64,
) {
    match config {
        OptimizerConfig::Sgd(c) => sgd::host_rule(c, p, g, buffers, fresh, delta, lr),
        OptimizerConfig::Adam(a) => adam::host_rule(a, false, p, g, buffers, delta, lr, t),
        OptimizerConfig::AdamW(a) => adam::host_rule(a, true, p, g, buffers, delta, lr, t),
        OptimizerConfig::Rmsprop(c) => rmsprop::host_rule(c, p, g, buffers, fresh, delta, lr),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::{Device, TensorData};
    use serde::{Deserialize, Serialize};

    /// One parameter vector: the smallest module an optimizer can step.
    #[derive(Module, Debug)]
    struct Point {
        p: Param<Tensor<1>>,
    }

    /// How a step is taken: through [`Optimizer::step`] on a module (on the flex backend that is
    /// the host rule, run by `cpu::host_update`), through the tensor rule [`update`] (what the
    /// other backends run), or through the host rule [`step_host`] called directly.
    #[derive(Clone, Copy, Debug)]
    enum Path {
        Module,
        Tensor,
        Host,
    }

    /// `steps` steps from p = [1, -2] on loss = sum(0.5 * a * p^2 + c * p), a = [0.5, 2],
    /// c = [0.3, -0.1] (so grad = a * p + c), lr 0.1, each taken along `path`.
    fn descend(config: OptimizerConfig, steps: usize, path: Path) -> Vec<f32> {
        if let Path::Module = path {
            return descend_module(config, steps);
        }
        let device = Device::flex();
        let mut p = vec![1.0f32, -2.0];
        let mut tensors: Option<Vec<Tensor<1>>> = None;
        let mut host = vec![vec![0.0f32; p.len()]; buffer_count(config)];
        for t in 1..=steps as u64 {
            let g: Vec<f32> = (p.iter().zip([0.5f32, 2.0]).zip([0.3f32, -0.1]))
                .map(|((p, a), c)| a * p + c)
                .collect();
            if let Path::Tensor = path {
                let (p_t, g_t) = (vector(p.clone(), &device), vector(g, &device));
                let (d, buffers) = update(config, p_t, g_t, tensors.take(), 0.1, t);
                tensors = buffers;
                let d = crate::host::to_host(d);
                p = p.iter().zip(&d).map(|(p, d)| p - d).collect();
            } else {
                let mut b: Vec<&mut [f32]> = host.iter_mut().map(Vec::as_mut_slice).collect();
                step_host(config, &mut p, &g, &mut b, t == 1, None, 0.1, t);
            }
        }
        p
    }

    /// [`descend`] through [`Optimizer::step`], the gradient taken by Burn's autodiff.
    fn descend_module(config: OptimizerConfig, steps: usize) -> Vec<f32> {
        let device = Device::flex().autodiff();
        let t = |v: [f32; 2]| Tensor::<1>::from_data(TensorData::new(v.to_vec(), [2]), &device);
        let mut point = Point {
            p: Param::from_tensor(t([1.0, -2.0]).require_grad()),
        };
        let mut opt = Optimizer::new(config);
        for _ in 0..steps {
            let p = point.p.val();
            let loss = p
                .clone()
                .square()
                .mul(t([0.25, 1.0]))
                .add(p.mul(t([0.3, -0.1])))
                .sum();
            let grads = loss.backward();
            point = opt.step(point, &grads, 0.1, false).0;
        }
        crate::host::to_host(point.p.val())
    }

    /// The cases of `crates/model/tests/optim_reference.py`, in its order: the optimizer, as a
    /// config's `optimizer = { ... }` table (read as configs are, so PyTorch's defaults are those
    /// of the options it leaves out), and p after 1, 3 and 5 steps of [`descend`]. The numbers are
    /// the script's output, copied (`python3 crates/model/tests/optim_reference.py` prints them);
    /// it is an independent plain-Python transcription of PyTorch's documented update rules
    /// (`torch.optim.SGD`, `Adam`, `AdamW`, `RMSprop`, single-tensor path). Besides the defaults,
    /// each option of each optimizer is away from its default in one case with the others at
    /// theirs (beta1 0.5, beta2 0.9, eps 0.1, alpha 0.5, momentum 0.5, dampening 0.5, weight decay
    /// 0.5, nesterov, centered), then all at once. Adam's first step is about lr * sign(g)
    /// whatever its betas: they show from the third step on, and bias correction's powers of
    /// them most at the fifth.
    fn reference_cases() -> Vec<(&'static str, OptimizerConfig, [[f64; 2]; 3])> {
        #[derive(Deserialize)]
        struct Train {
            optimizer: OptimizerConfig,
        }
        #[rustfmt::skip]
        let cases: [(&str, [[f64; 2]; 3]); 25] = [
            ("sgd = {}", [[0.920_000_000, -1.590_000_000], [0.771_800_000, -0.999_600_000], [0.638_049_500, -0.621_744_000]]),
            ("sgd = { momentum = 0.9 }", [[0.920_000_000, -1.590_000_000], [0.570_200_000, -0.077_100_000], [0.067_449_500, 1.239_861_000]]),
            ("sgd = { momentum = 0.9, dampening = 0.5, weight_decay = 0.01 }", [[0.919_000_000, -1.588_000_000], [0.671_868_980, -0.459_964_497], [0.350_408_132, 0.643_256_445]]),
            ("sgd = { momentum = 0.9, nesterov = true }", [[0.848_000_000, -1.221_000_000], [0.410_340_200, 0.272_121_600], [-0.094_492_312, 0.902_221_041]]),
            ("adam = {}", [[0.900_000_001, -1.900_000_000], [0.700_829_324, -1.700_604_453], [0.503_984_799, -1.502_862_387]]),
            ("adam = { weight_decay = 0.1 }", [[0.900_000_001, -1.900_000_000], [0.700_902_873, -1.700_605_329], [0.504_358_174, -1.502_866_705]]),
            ("adamw = {}", [[0.899_000_001, -1.898_000_000], [0.698_142_478, -1.694_925_045], [0.500_039_718, -1.493_949_656]]),
            ("adamw = { weight_decay = 0.1 }", [[0.890_000_001, -1.880_000_000], [0.674_222_603, -1.644_344_153], [0.465_338_752, -1.415_445_169]]),
            ("rmsprop = {}", [[0.000_000_125, -1.000_000_024], [-0.497_246_078, -0.291_139_788], [-0.582_541_802, -0.063_938_891]]),
            ("rmsprop = { momentum = 0.9, centered = true, weight_decay = 0.01 }", [[-0.005_037_691, -0.994_962_209], [-2.014_300_263, 1.457_860_862], [-1.578_919_507, 1.751_030_923]]),
            ("sgd = { momentum = 0.5 }", [[0.920_000_000, -1.590_000_000], [0.675_800_000, -0.569_100_000], [0.426_569_500, 0.032_821_000]]),
            ("sgd = { momentum = 0.9, dampening = 0.5 }", [[0.920_000_000, -1.590_000_000], [0.675_750_000, -0.466_600_000], [0.357_508_594, 0.634_496_000]]),
            ("sgd = { weight_decay = 0.5 }", [[0.870_000_000, -1.490_000_000], [0.647_700_000, -0.820_625_000], [0.467_637_000, -0.444_101_562]]),
            ("sgd = { momentum = 0.5, nesterov = true }", [[0.880_000_000, -1.385_000_000], [0.619_325_000, -0.458_400_000], [0.383_708_078, -0.045_776_000]]),
            ("adam = { beta1 = 0.5 }", [[0.900_000_001, -1.900_000_000], [0.704_101_352, -1.703_131_560], [0.518_047_692, -1.513_665_118]]),
            ("adam = { beta2 = 0.9 }", [[0.900_000_001, -1.900_000_000], [0.700_200_327, -1.700_118_894], [0.501_011_349, -1.500_585_088]]),
            ("adam = { eps = 0.1 }", [[0.911_111_111, -1.902_380_952], [0.734_804_119, -1.707_884_789], [0.561_403_573, -1.515_186_625]]),
            ("adamw = { weight_decay = 0.5 }", [[0.850_000_001, -1.800_000_000], [0.573_514_031, -1.430_971_534], [0.327_722_342, -1.101_918_621]]),
            ("adamw = { beta1 = 0.5, beta2 = 0.9, eps = 0.1, weight_decay = 0.5 }", [[0.861_111_111, -1.802_380_952], [0.609_505_234, -1.442_049_590], [0.393_938_570, -1.129_790_494]]),
            ("rmsprop = { alpha = 0.5 }", [[0.858_578_646, -1.858_578_644], [0.645_278_398, -1.643_099_346], [0.454_288_642, -1.448_494_667]]),
            ("rmsprop = { eps = 0.1 }", [[0.555_555_556, -1.196_078_431], [0.055_493_922, -0.494_557_198], [-0.216_699_769, -0.197_316_054]]),
            ("rmsprop = { momentum = 0.5 }", [[0.000_000_125, -1.000_000_024], [-1.131_378_465, 0.476_944_837], [-0.688_023_124, 0.376_357_785]]),
            ("rmsprop = { centered = true }", [[-0.005_037_689, -0.994_962_209], [-0.501_096_327, -0.283_409_604], [-0.583_788_860, -0.058_615_993]]),
            ("rmsprop = { weight_decay = 0.5 }", [[0.000_000_077, -1.000_000_020], [-0.281_907_505, -0.294_768_625], [-0.298_969_795, -0.070_716_219]]),
            ("rmsprop = { alpha = 0.5, eps = 0.1, momentum = 0.5, centered = true, weight_decay = 0.5 }", [[0.826_666_667, -1.807_547_170], [0.239_215_595, -1.101_007_147], [-0.257_302_217, -0.306_227_927]]),
        ];
        (cases.into_iter())
            .map(|(table, want)| {
                let read: Result<Train, _> = toml::from_str(&format!("optimizer = {{ {table} }}"));
                let config = read.unwrap_or_else(|e| panic!("{table}: {e}")).optimizer;
                (table, config, want)
            })
            .collect()
    }

    /// [`reference_cases`] along each [`Path`]: the module's step, the tensor rule and the host
    /// rule all take PyTorch's steps, to 2e-5.
    #[test]
    fn one_three_and_five_steps_match_pytorchs_rules() {
        for (name, config, want) in reference_cases() {
            for (steps, want) in [1, 3, 5].into_iter().zip(want) {
                for path in [Path::Module, Path::Tensor, Path::Host] {
                    let got = descend(config, steps, path);
                    for (g, w) in got.iter().zip(want) {
                        assert!(
                            (f64::from(*g) - w).abs() < 2e-5,
                            "{name}, {steps} step(s), {path:?}: {got:?} vs {want:?}"
                        );
                    }
                }
            }
        }
    }

    #[test]
    #[cfg(feature = "flex")]
    fn the_host_rules_match_the_tensor_rules_over_three_steps() {
        let device = Device::flex();
        let p0: Vec<f32> = (0..50).map(|i| (i as f32 * 0.37).sin()).collect();
        let configs = [
            OptimizerConfig::Sgd(SgdConfig::default()),
            OptimizerConfig::Sgd(SgdConfig {
                momentum: 0.9,
                dampening: 0.1,
                nesterov: false,
                weight_decay: 0.01,
            }),
            OptimizerConfig::Sgd(SgdConfig {
                momentum: 0.9,
                dampening: 0.0,
                nesterov: true,
                weight_decay: 0.0,
            }),
            OptimizerConfig::Adam(AdamConfig {
                weight_decay: 0.1,
                ..AdamConfig::default()
            }),
            OptimizerConfig::AdamW(AdamConfig {
                weight_decay: 0.1,
                ..AdamConfig::default()
            }),
            OptimizerConfig::Rmsprop(RmspropConfig::default()),
            OptimizerConfig::Rmsprop(RmspropConfig {
                momentum: 0.9,
                ..RmspropConfig::default()
            }),
            OptimizerConfig::Rmsprop(RmspropConfig {
                centered: true,
                ..RmspropConfig::default()
            }),
            OptimizerConfig::Rmsprop(RmspropConfig {
                momentum: 0.9,
                centered: true,
                weight_decay: 0.01,
                ..RmspropConfig::default()
            }),
        ];
        // And every configuration pinned to PyTorch's rules, each option away from its default.
        let configs = configs
            .into_iter()
            .chain(reference_cases().into_iter().map(|(_, config, _)| config));
        let t = |v: &[f32]| Tensor::<1>::from_data(TensorData::new(v.to_vec(), [v.len()]), &device);
        for config in configs {
            let (mut p_host, mut p_burn) = (p0.clone(), p0.clone());
            let mut state_host = vec![vec![0.0f32; p0.len()]; buffer_count(config)];
            let mut state_burn: Option<Vec<Tensor<1>>> = None;
            for step in 1..=3u64 {
                let g: Vec<f32> = p_host
                    .iter()
                    .enumerate()
                    .map(|(i, &p)| p * 0.5 + (i as f32 * 0.11 + step as f32).cos())
                    .collect();
                let before = p_host.clone();
                let mut delta = vec![0.0f32; p0.len()];
                let mut bufs: Vec<&mut [f32]> =
                    state_host.iter_mut().map(Vec::as_mut_slice).collect();
                let fresh = step == 1;
                step_host(
                    config,
                    &mut p_host,
                    &g,
                    &mut bufs,
                    fresh,
                    Some(&mut delta),
                    0.05,
                    step,
                );
                let (d, buffers) = update(config, t(&p_burn), t(&g), state_burn.take(), 0.05, step);
                let d = crate::host::to_host(d);
                for (i, (a, b)) in delta.iter().zip(&d).enumerate() {
                    assert!(
                        (a - b).abs() <= 1e-6 * (1.0 + b.abs()),
                        "{config:?} step {step} delta[{i}]: {a} vs {b}"
                    );
                    assert_eq!(p_host[i], before[i] - a, "{config:?}: p -= delta");
                }
                p_burn = p_burn.iter().zip(&d).map(|(p, d)| p - d).collect();
                assert_eq!(
                    state_host.len(),
                    buffers.as_ref().map_or(0, Vec::len),
                    "{config:?}: buffers"
                );
                state_burn = buffers;
            }
        }
    }

    #[test]
    fn adamw_defaults_to_pytorchs_weight_decay_and_a_saved_zero_stays_zero() {
        #[derive(Serialize, Deserialize)]
        struct Train {
            optimizer: OptimizerConfig,
        }
        let read = |text: &str| toml::from_str::<Train>(text).unwrap().optimizer;
        let pytorch = OptimizerConfig::AdamW(AdamConfig {
            weight_decay: ADAMW_WEIGHT_DECAY,
            ..AdamConfig::default()
        });
        assert_eq!(read("optimizer = \"adamw\""), pytorch);
        assert_eq!(read("optimizer = { adamw = {} }"), pytorch);
        let adam = read("optimizer = \"adam\"");
        assert_eq!(adam, OptimizerConfig::Adam(AdamConfig::default()));
        let zero = OptimizerConfig::AdamW(AdamConfig::default());
        let text = toml::to_string(&Train { optimizer: zero }).unwrap();
        assert_eq!(read(&text), zero, "{text}");
    }

    #[test]
    fn state_round_trips_through_a_checkpoint() {
        let config = OptimizerConfig::Rmsprop(RmspropConfig {
            momentum: 0.9,
            centered: true,
            ..RmspropConfig::default()
        });
        let device = Device::flex().autodiff();
        let p = Tensor::<1>::from_data(TensorData::new(vec![1.0f32, -2.0], [2]), &device);
        let point = Point {
            p: Param::from_tensor(p.require_grad()),
        };
        let mut opt = Optimizer::new(config);
        let grads = point.p.val().square().sum().backward();
        let _ = opt.step(point, &grads, 0.1, false);
        let state = opt.state();
        assert_eq!(
            state.buffers[0].as_ref().map(Vec::len),
            Some(3),
            "square avg, grad avg, momentum"
        );
        let json = serde_json::to_string(&state).unwrap();
        let back: OptimizerState = serde_json::from_str(&json).unwrap();
        assert_eq!(Optimizer::restore(config, &back, &device).state(), state);
        // A checkpoint written before these optimizers stored Adam's moments as a pair.
        let old: OptimizerState =
            serde_json::from_str(r#"{"steps":1,"moments":[[[0.5,0.25],[0.1,0.2]],null]}"#).unwrap();
        assert_eq!(old.buffers[0].as_ref().map(Vec::len), Some(2));
    }
}
