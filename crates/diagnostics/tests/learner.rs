//! The burn-train integration: a hand-computed SGD step and Adam step checked against the
//! records, and the example trained by burn-train's `Learner` for a few hundred steps.
#![cfg(feature = "learner")]

#[path = "../examples/learner.rs"]
mod example;

use burn::module::{Module, Param};
use burn::nn::Linear;
use burn::optim::{AdamConfig, ModuleOptimizer, SgdConfig};
use burn::tensor::{Device, Tensor, TensorData};
use burn::train::{InferenceStep, ItemLazy, TrainOutput, TrainStep};
use makemore_diagnostics::learner::{no_tap, EpochLines, Watch, WatchStep, Watched};
use makemore_diagnostics::{LayerInfo, LayerKind, ParamRecord, Tap, PLOT_NAMES};
use std::sync::{Arc, Mutex};

/// `y = x · w` with `w` of shape `[3, 1]`, no bias; loss = mean((x · w - t)^2).
#[derive(Module, Debug)]
struct Tiny {
    lin: Linear,
}

#[derive(Clone, Debug)]
struct Batch {
    x: Tensor<2>,
    t: Tensor<2>,
}

struct Out {
    loss: Tensor<1>,
}

impl ItemLazy for Out {
    fn sync(self) -> Result<Self, burn::tensor::ExecutionError> {
        Ok(Out {
            loss: self.loss.without_autodiff(),
        })
    }
}

impl WatchStep for Tiny {
    fn forward_step(&self, b: Batch, tap: &mut dyn Tap) -> (Tensor<1>, Out) {
        let y = tap.tap(LayerInfo::new(0, LayerKind::Linear), self.lin.forward(b.x));
        let loss = y.sub(b.t).powi_scalar(2).mean();
        (loss.clone(), Out { loss })
    }
}

impl TrainStep for Tiny {
    type Input = Batch;
    type Output = Out;
    fn step(&self, b: Batch) -> TrainOutput<Out> {
        let (loss, out) = self.forward_step(b, &mut no_tap());
        TrainOutput::new(self, loss.backward(), out)
    }
}

impl InferenceStep for Tiny {
    type Input = Batch;
    type Output = Out;
    fn step(&self, b: Batch) -> Out {
        self.forward_step(b, &mut no_tap()).1
    }
}

const W: [f32; 3] = [0.5, -1.0, 2.0];
const X: [[f32; 3]; 4] = [
    [1.0, 0.0, 2.0],
    [0.0, 1.0, -1.0],
    [3.0, 1.0, 0.0],
    [-1.0, 2.0, 1.0],
];
const T: [f32; 4] = [1.0, 0.0, -2.0, 3.0];

/// The gradient by hand: d/dw mean((x·w - t)^2) = 2/n Σ_i (x_i·w - t_i) x_i.
fn hand_gradient() -> [f64; 3] {
    let mut g = [0.0f64; 3];
    for (x, t) in X.iter().zip(T) {
        let r: f64 = x.iter().zip(W).map(|(a, b)| f64::from(a * b)).sum::<f64>() - f64::from(t);
        for (gj, xj) in g.iter_mut().zip(x) {
            *gj += 2.0 / X.len() as f64 * r * f64::from(*xj);
        }
    }
    g
}

/// Population std, as the records compute it.
fn std(v: &[f64]) -> f64 {
    let m = v.iter().sum::<f64>() / v.len() as f64;
    (v.iter().map(|x| (x - m).powi(2)).sum::<f64>() / v.len() as f64).sqrt()
}

/// One recorded step of `Watched<Tiny>` with `optim` at `lr`; returns the weight's record.
/// One optimizer step of the tiny model, watched by `watch`.
fn step_watched(watch: &Watch, optim: &mut ModuleOptimizer, lr: f64) {
    let d = Device::flex().autodiff();
    let w = Tensor::<2>::from_data(TensorData::new(W.to_vec(), [3, 1]), &d).require_grad();
    let tiny = Tiny {
        lin: Linear {
            weight: Param::from_tensor(w),
            bias: None,
        },
    };
    let model = Watched::new(tiny, watch);
    let x: Vec<f32> = X.iter().flatten().copied().collect();
    let b = Batch {
        x: Tensor::from_data(TensorData::new(x, [4, 3]), &d),
        t: Tensor::from_data(TensorData::new(T.to_vec(), [4, 1]), &d),
    };
    let out = TrainStep::step(&model, b);
    let _ = model.optimize(optim, lr.into(), out.grads);
}

fn one_step(optim: &mut ModuleOptimizer, lr: f64, dir: &std::path::Path) -> ParamRecord {
    let _ = std::fs::remove_dir_all(dir);
    let watch = Watch::new(dir, 1).unwrap();
    step_watched(&watch, optim, lr);
    let records = watch.records();
    assert_eq!(records.len(), 1);
    assert_eq!(records[0].step, 0);
    assert_eq!(records[0].lr, lr);
    assert_eq!(records[0].layers.len(), 1, "the tapped layer");
    records[0]
        .params
        .iter()
        .find(|p| p.name == "lin.weight")
        .expect("the weight's record")
        .clone()
}

#[test]
fn an_sgd_step_and_an_adam_step_match_the_hand_computed_update() {
    let t = std::env::temp_dir().join(format!("makemore-learner-{}", std::process::id()));
    let g = hand_gradient();
    let w: Vec<f64> = W.iter().map(|&x| f64::from(x)).collect();
    let (sw, sg) = (std(&w), std(&g));
    // SGD: update = lr * grad.
    let lr = 0.05;
    let p = one_step(&mut SgdConfig::new().init(), lr, &t.join("sgd"));
    let ratio = p.grad_data_ratio.expect("defined");
    assert!(
        (ratio - sg / sw).abs() < 1e-5 * (sg / sw),
        "grad:data {ratio} vs {}",
        sg / sw
    );
    let upd = p.log10_update_ratio.expect("defined");
    let want = (lr * sg / sw).log10();
    assert!(
        (upd - want).abs() < 1e-5,
        "SGD log10 update:data {upd} vs {want}"
    );
    // Adam's first step: m = (1 - b1) g, v = (1 - b2) g^2, bias-corrected m^ = g, v^ = g^2, so
    // the update is lr * g / (|g| + eps) (burn's eps 1e-5): about lr * sign(g), not lr * g.
    let lr = 0.01;
    let p = one_step(&mut AdamConfig::new().init(), lr, &t.join("adam"));
    let eps = 1e-5;
    let delta: Vec<f64> = g.iter().map(|gi| lr * gi / (gi.abs() + eps)).collect();
    let want = (std(&delta) / sw).log10();
    let upd = p.log10_update_ratio.expect("defined");
    assert!(
        (upd - want).abs() < 1e-4,
        "Adam log10 update:data {upd} vs {want}"
    );
    let sgd_like = (lr * sg / sw).log10();
    assert!(
        (upd - sgd_like).abs() > 0.3,
        "Adam's step is not lr x grad ({upd} vs {sgd_like})"
    );
    let _ = std::fs::remove_dir_all(&t);
}

#[test]
fn the_example_trains_with_the_learner_and_writes_the_report() {
    let t = std::env::temp_dir().join(format!("makemore-learner-ex-{}", std::process::id()));
    let o = example::Options {
        out: t.join("healthy"),
        saturated: false,
        adam: false,
        epochs: 5,
        every: 25,
    };
    let printed = Lines::default();
    let s =
        example::run(&o, EpochLines::to_writer(Box::new(printed.clone()))).expect("training runs");
    // One line per epoch with both splits' loss and the two diagnostics metrics, no debug dump.
    let text = printed.text();
    let epochs: Vec<&str> = text.lines().filter(|l| l.starts_with("epoch ")).collect();
    assert_eq!(epochs.len(), 5, "{text}");
    for (i, line) in epochs.iter().enumerate() {
        assert!(line.starts_with(&format!("epoch {}/5 ", i + 1)), "{line}");
        for part in [
            "train: Loss ",
            "valid: Loss ",
            "Accuracy",
            "saturation",
            "update",
        ] {
            assert!(line.contains(part), "{part:?} missing from {line:?}");
        }
    }
    assert!(!text.contains("Progress {"), "{text}");
    assert!(text.lines().count() <= 8, "{text}");
    let steps: Vec<u64> = s.records.iter().map(|r| r.step).collect();
    let n = 5 * (3 * 600_u64).div_ceil(32);
    assert_eq!(
        steps,
        (0..n).step_by(25).collect::<Vec<_>>(),
        "step 0 and every 25th of {n}"
    );
    let dir = o.out.join("diagnostics");
    let jsonl = std::fs::read_to_string(dir.join("diagnostics.jsonl")).unwrap();
    assert_eq!(jsonl.lines().count(), steps.len());
    let html = std::fs::read_to_string(&s.report).unwrap();
    for plot in PLOT_NAMES {
        let at = html
            .find(&format!("id=\"plot-{plot}\""))
            .unwrap_or_else(|| panic!("plot {plot} missing from the report"));
        let figure = &html[at..at + html[at..].find("</figure>").unwrap()];
        assert!(
            figure.contains("<svg") && figure.contains("<polyline"),
            "plot {plot} is empty"
        );
    }
    let events = dir
        .read_dir()
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .file_name()
                .to_string_lossy()
                .starts_with("events.out.tfevents.")
        })
        .count();
    assert_eq!(
        events, 1,
        "one TensorBoard event file, in the directory itself"
    );
    assert!(!dir.join("tb").exists(), "no tb/ folder");
    let last = s.records.last().unwrap();
    assert!(
        last.loss < s.records[0].loss,
        "it learned: {} -> {}",
        s.records[0].loss,
        last.loss
    );
    assert!(
        !s.advice.iter().any(|a| a.rule == "saturation"),
        "{:?}",
        s.advice
    );
    // Every layer the forward pass tapped, with activation gradients, and every parameter.
    assert_eq!(last.layers.len(), 5);
    assert!(last.layers.iter().all(|l| l.grad.is_some()));
    let names: Vec<&str> = last.params.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "l1.weight",
            "l1.bias",
            "l2.weight",
            "l2.bias",
            "out.weight",
            "out.bias"
        ]
    );

    // A run resumed at step 100 keeps the records before it and counts on from there; a new
    // watch on the same directory starts empty.
    let resumed = Watch::resume(&dir, 25, 100).unwrap();
    let kept: Vec<u64> = resumed.records().iter().map(|r| r.step).collect();
    assert_eq!((kept, resumed.steps()), (vec![0, 25, 50, 75], 100));
    assert!(Watch::new(&dir, 25).unwrap().records().is_empty());

    // Hidden weights 8x too large: tanh saturates and the advice says so.
    let o = example::Options {
        out: t.join("saturated"),
        saturated: true,
        epochs: 1,
        ..o
    };
    let s =
        example::run(&o, EpochLines::to_writer(Box::new(std::io::sink()))).expect("training runs");
    assert!(
        s.advice.iter().any(|a| a.rule == "saturation"),
        "{:?}",
        s.advice.iter().map(|a| &a.message).collect::<Vec<_>>()
    );
    let _ = std::fs::remove_dir_all(&t);
}

/// Bad input to a watch: recording every 0 steps, and resuming from a diagnostics.jsonl that is
/// not one, are errors that say what and where.
#[test]
fn a_watch_refuses_bad_input() {
    let t = std::env::temp_dir().join(format!("makemore-learner-bad-{}", std::process::id()));
    let e = Watch::new(&t, 0).unwrap_err().to_string();
    assert!(e.contains("every 0 steps"), "{e}");
    std::fs::create_dir_all(&t).unwrap();
    std::fs::write(t.join("diagnostics.jsonl"), "{\"step\": 0}\n").unwrap();
    let e = Watch::resume(&t, 10, 5).unwrap_err().to_string();
    assert!(
        e.contains("diagnostics.jsonl") && e.contains("line 1"),
        "{e}"
    );
    let _ = std::fs::remove_dir_all(&t);
}

/// A writer whose bytes the test reads back.
#[derive(Clone, Default)]
struct Lines(Arc<Mutex<Vec<u8>>>);

impl Lines {
    fn text(&self) -> String {
        String::from_utf8(self.0.lock().unwrap().clone()).unwrap()
    }
}

impl std::io::Write for Lines {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// `finish` writes one event file holding every record, so a file an earlier finish of a watch
/// left in the directory (which would show each step twice) goes, and another program's stays.
#[test]
fn finishing_leaves_one_event_file_of_its_own() {
    let dir = std::env::temp_dir().join(format!("makemore-learner-tb-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let stale = dir.join("events.out.tfevents.1.learner.1");
    let foreign = dir.join("events.out.tfevents.1.other-host.1");
    std::fs::write(&stale, b"an earlier finish").unwrap();
    std::fs::write(&foreign, b"someone else's").unwrap();
    let watch = Watch::new(&dir, 1).unwrap();
    step_watched(&watch, &mut SgdConfig::new().init(), 0.05);
    watch.finish().unwrap();
    let names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("events.out.tfevents."))
        .collect();
    assert!(!stale.exists(), "{names:?}");
    assert!(foreign.exists(), "{names:?}");
    assert_eq!(
        names.iter().filter(|n| n.contains(".learner.")).count(),
        1,
        "{names:?}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
