//! The optimizers (SGD, Adam) over any Burn module: their config, their step, and their state
//! saved and restored for checkpoints.

use burn::module::{Module, ModuleMapper, Param};
use burn::tensor::{Gradients, Tensor};
use serde::{Deserialize, Serialize};

/// The optimizer.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum OptimizerConfig {
    /// Plain SGD: `p -= lr * grad`.
    #[default]
    Sgd,
    /// Adam (Kingma & Ba), bias-corrected.
    Adam(AdamConfig),
}

/// Adam's constants.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AdamConfig {
    /// First-moment decay.
    pub beta1: f64,
    /// Second-moment decay.
    pub beta2: f64,
    /// Denominator guard.
    pub eps: f64,
}

impl Default for AdamConfig {
    fn default() -> Self {
        Self {
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
        }
    }
}

/// Adam's moments for one parameter, flattened.
#[derive(Clone)]
struct Moments {
    m: Tensor<1>,
    v: Tensor<1>,
}

/// The optimizer and its state.
///
/// Parameters are identified by the order in which [`Module::map`] visits them, which is fixed
/// by the module's structure; that is what makes the state checkpointable.
#[derive(Clone)]
pub struct Optimizer {
    config: OptimizerConfig,
    /// Number of steps taken (Adam's bias correction uses it).
    pub steps: u64,
    moments: Vec<Option<Moments>>,
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
    /// Adam's first and second moments, by parameter index (absent for SGD).
    pub moments: Vec<Option<(Vec<f32>, Vec<f32>)>>,
}

impl Optimizer {
    /// A fresh optimizer.
    pub fn new(config: OptimizerConfig) -> Self {
        Self {
            config,
            steps: 0,
            moments: Vec::new(),
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
            opt: self,
            grads,
            lr,
            index: 0,
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
        let read = |t: &Tensor<1>| crate::host::to_host(t.clone());
        OptimizerState {
            steps: self.steps,
            moments: self
                .moments
                .iter()
                .map(|m| m.as_ref().map(|m| (read(&m.m), read(&m.v))))
                .collect(),
        }
    }

    /// Restores a state saved with [`Optimizer::state`] onto `device`.
    pub fn restore(
        config: OptimizerConfig,
        state: &OptimizerState,
        device: &burn::tensor::Device,
    ) -> Self {
        let t = |v: &Vec<f32>| {
            Tensor::<1>::from_data(burn::tensor::TensorData::new(v.clone(), [v.len()]), device)
        };
        Self {
            config,
            steps: state.steps,
            moments: state
                .moments
                .iter()
                .map(|m| m.as_ref().map(|(m, v)| Moments { m: t(m), v: t(v) }))
                .collect(),
        }
    }
}

struct Stepper<'a> {
    opt: &'a mut Optimizer,
    grads: &'a Gradients,
    lr: f64,
    index: usize,
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
        let index = self.index;
        self.index += 1;
        let Some(grad) = param.val().grad(self.grads) else {
            return param;
        };
        let lr = self.lr;
        let config = self.opt.config;
        let t = self.opt.steps;
        if self.opt.moments.len() <= index {
            self.opt.moments.resize(index + 1, None);
        }
        let slot = &mut self.opt.moments[index];
        let mut recorded = None;
        let param = param.map(|value| {
            let value = value.without_autodiff();
            let shape = value.shape();
            let delta: Tensor<D> = match config {
                OptimizerConfig::Sgd => grad.clone().mul_scalar(lr),
                OptimizerConfig::Adam(a) => {
                    let n = shape.num_elements();
                    let g = grad.clone().reshape([n]);
                    let (m, v) = match slot.take() {
                        Some(Moments { m, v }) => (m, v),
                        None => (g.zeros_like(), g.zeros_like()),
                    };
                    let m = m
                        .mul_scalar(a.beta1)
                        .add(g.clone().mul_scalar(1.0 - a.beta1));
                    let v = v
                        .mul_scalar(a.beta2)
                        .add(g.square().mul_scalar(1.0 - a.beta2));
                    let m_hat = m.clone().div_scalar(1.0 - a.beta1.powi(t as i32));
                    let v_hat = v.clone().div_scalar(1.0 - a.beta2.powi(t as i32));
                    let d = m_hat.div(v_hat.sqrt().add_scalar(a.eps)).mul_scalar(lr);
                    *slot = Some(Moments { m, v });
                    d.reshape(shape.clone())
                }
            };
            if self.record {
                let n = shape.num_elements();
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
