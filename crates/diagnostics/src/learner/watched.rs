//! [`Watched`]: the model wrapper that takes the records on due steps, and the parameter
//! snapshots it measures the optimizer's update with.

use super::{Watch, WatchStep};
use crate::record::{param_record, to_host, DiagnosticRecord};
use crate::Recorder;
use burn::module::{Devices, Module, ModuleMapper, ModuleVisitor, Param};
use burn::optim::lr_scheduler::module_lr_scheduler::ModuleLearningRate;
use burn::optim::{GradientsParams, ModuleOptimizer, MultiGradientsParams};
use burn::tensor::{Device, Tensor};
use burn::train::{InferenceStep, TrainOutput, TrainStep};

/// A parameter as the wrapper saw it before the optimizer step.
struct Snapshot {
    name: String,
    shape: Vec<usize>,
    data: Vec<f32>,
    grad: Option<Vec<f32>>,
}

/// Reads every float parameter (path, shape, values) and, with `grads`, its gradient.
struct Reader<'a> {
    path: Vec<String>,
    grads: Option<&'a GradientsParams>,
    out: Vec<Snapshot>,
}

impl ModuleVisitor for Reader<'_> {
    fn enter_module(&mut self, name: &str, _container_type: &str) {
        self.path.push(name.to_owned());
    }

    fn exit_module(&mut self, _name: &str, _container_type: &str) {
        self.path.pop();
    }

    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        let value = param.val();
        let grad = self.grads.and_then(|g| g.get::<D>(param.id)).map(to_host);
        self.out.push(Snapshot {
            name: self.path.join("."),
            shape: value.dims().to_vec(),
            data: to_host(value),
            grad,
        });
    }
}

fn snapshot<M: Module>(m: &M, grads: Option<&GradientsParams>) -> Vec<Snapshot> {
    let mut r = Reader {
        path: Vec::new(),
        grads,
        out: Vec::new(),
    };
    m.visit(&mut r);
    r.out
}

/// Your model with the diagnostics attached. Transparent to Burn: the same parameters, record
/// paths and devices as the model inside.
#[derive(Clone, Debug)]
pub struct Watched<M> {
    /// Your model.
    pub model: M,
    watch: Watch,
}

impl<M> Watched<M> {
    /// Wraps `model`; `watch` says where the records go.
    pub fn new(model: M, watch: &Watch) -> Self {
        Self {
            model,
            watch: watch.clone(),
        }
    }

    /// The model inside.
    pub fn into_inner(self) -> M {
        self.model
    }

    fn with(&self, model: M) -> Self {
        Self {
            model,
            watch: self.watch.clone(),
        }
    }
}

impl<M: std::fmt::Display> std::fmt::Display for Watched<M> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.model.fmt(f)
    }
}

impl<M: Module> Module for Watched<M> {
    fn collect_devices(&self, devices: Devices) -> Devices {
        self.model.collect_devices(devices)
    }
    fn fork(self, device: &Device) -> Self {
        let model = self.model.clone().fork(device);
        self.with(model)
    }
    fn to_device(self, device: &Device) -> Self {
        let model = self.model.clone().to_device(device);
        self.with(model)
    }
    fn train(self) -> Self {
        let model = self.model.clone().train();
        self.with(model)
    }
    fn valid(&self) -> Self {
        self.with(self.model.valid())
    }
    fn materialize(self) -> Self {
        let model = self.model.clone().materialize();
        self.with(model)
    }
    fn visit<V: ModuleVisitor>(&self, visitor: &mut V) {
        self.model.visit(visitor)
    }
    fn map<Mp: ModuleMapper>(self, mapper: &mut Mp) -> Self {
        let model = self.model.clone().map(mapper);
        self.with(model)
    }
}

impl<M: WatchStep + Module> TrainStep for Watched<M> {
    type Input = M::Input;
    type Output = M::Output;

    fn step(&self, item: Self::Input) -> TrainOutput<Self::Output> {
        if !self.watch.due() {
            return self.model.step(item);
        }
        let mut recorder = Recorder::new(true);
        let (loss, output) = self.model.forward_step(item, &mut recorder);
        let loss_value = f64::from(to_host(loss.clone().detach())[0]);
        let grads = loss.backward();
        let stats = self.watch.lock().stats;
        let layers = recorder.finish(Some(&grads), &stats);
        self.watch.lock().pending = Some((layers, loss_value));
        TrainOutput::new(&self.model, grads, output)
    }

    fn optimize(
        self,
        optim: &mut ModuleOptimizer,
        lr_module: ModuleLearningRate,
        grads: GradientsParams,
    ) -> Self {
        let pending = self.watch.lock().pending.take();
        let Some((layers, loss)) = pending else {
            let model = self.model.clone().optimize(optim, lr_module, grads);
            self.watch.lock().step += 1;
            return self.with(model);
        };
        let lr = lr_module.base();
        let before = snapshot(&self.model, Some(&grads));
        let model = self.model.clone().optimize(optim, lr_module, grads);
        let after = snapshot(&model, None);
        let mut s = self.watch.lock();
        let params = before
            .iter()
            .zip(&after)
            .filter_map(|(b, a)| {
                let grad = b.grad.as_ref()?;
                let delta: Vec<f32> = b.data.iter().zip(&a.data).map(|(x, y)| x - y).collect();
                Some(param_record(
                    &b.name, &b.shape, &b.data, grad, &delta, &s.stats,
                ))
            })
            .collect();
        let record = DiagnosticRecord {
            step: s.step,
            loss,
            lr,
            layers,
            params,
            expected_loss: s.expected_loss,
            rescaled_loss: None,
            saturation_threshold: Some(s.stats.saturation_threshold),
        };
        s.records.push(record);
        s.step += 1;
        // Each record reaches the disk as it is taken, so a run that dies keeps its records; a
        // failure is kept for `finish` to report (training goes on).
        if let Err(e) = Watch::write_records(&s) {
            s.write_error.get_or_insert(e);
        }
        drop(s);
        self.with(model)
    }

    fn optimize_multi(
        self,
        optim: &mut ModuleOptimizer,
        lr_module: ModuleLearningRate,
        grads: MultiGradientsParams,
    ) -> Self {
        // Several devices: the gradients live on each device; the step is counted but no record
        // is taken (diagnostics need a single-device run).
        self.watch.lock().pending = None;
        let model = self.model.clone().optimize_multi(optim, lr_module, grads);
        self.watch.lock().step += 1;
        self.with(model)
    }
}

impl<M: InferenceStep> InferenceStep for Watched<M> {
    type Input = M::Input;
    type Output = M::Output;

    fn step(&self, item: Self::Input) -> Self::Output {
        self.model.step(item)
    }
}
