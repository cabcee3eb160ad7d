//! The lecture's diagnostics inside burn-train's `Learner`: a small tanh classifier learns three
//! interleaved spirals (data generated here, no download), wrapped in `Watched`, and writes
//! `diagnostics.jsonl`, the five plots, `report.html` with the advice, and TensorBoard events.
//!
//! ```text
//! cargo run --release --example learner --features learner -p makemore-diagnostics -- --out runs/learner
//! cargo run ... -- --saturated      # hidden weights 8x too large: the saturation advice
//! cargo run ... -- --adam           # Adam instead of SGD
//! ```
#![allow(dead_code)] // the tests include this file for `run`

use burn::data::dataloader::batcher::Batcher;
use burn::data::dataloader::DataLoaderBuilder;
use burn::data::dataset::InMemDataset;
use burn::module::{Module, Param};
use burn::nn::loss::CrossEntropyLossConfig;
use burn::nn::{Linear, LinearConfig};
use burn::optim::{AdamConfig, ModuleOptimizer, SgdConfig};
use burn::tensor::{activation, Device, Int, Tensor, TensorData};
use burn::train::metric::{AccuracyMetric, LossMetric};
use burn::train::{
    ClassificationOutput, InferenceStep, Learner, SupervisedTraining, TrainOutput, TrainStep,
};
use makemore_diagnostics::learner::{no_tap, EpochLines, Watch, WatchStep, WatchSummary, Watched};
use makemore_diagnostics::{LayerInfo, LayerKind, Saturation, Tap};
use std::path::PathBuf;

/// Classes (spiral arms).
const CLASSES: usize = 3;
/// Points per arm in the training set (the validation set has a quarter as many).
const POINTS: usize = 600;
/// Hidden width.
const HIDDEN: usize = 64;
/// Minibatch size.
const BATCH: usize = 32;

/// Two hidden tanh layers and a linear read-out.
#[derive(Module, Debug)]
pub struct Classifier {
    l1: Linear,
    l2: Linear,
    out: Linear,
}

impl Classifier {
    /// A classifier with PyTorch's default init, its hidden weights multiplied by `scale`.
    pub fn new(scale: f32, device: &Device) -> Self {
        let scaled = |l: Linear| Linear {
            weight: Param::from_tensor(l.weight.val().mul_scalar(scale).detach()),
            bias: l.bias,
        };
        Self {
            l1: scaled(LinearConfig::new(2, HIDDEN).init(device)),
            l2: scaled(LinearConfig::new(HIDDEN, HIDDEN).init(device)),
            out: LinearConfig::new(HIDDEN, CLASSES).init(device),
        }
    }

    /// `[batch, 2]` points -> `[batch, CLASSES]` logits, each layer output through `tap`.
    pub fn forward(&self, x: Tensor<2>, tap: &mut dyn Tap) -> Tensor<2> {
        let tanh = || LayerKind::activation("Tanh", Saturation::Tanh);
        let h = tap.tap(LayerInfo::new(0, LayerKind::Linear), self.l1.forward(x));
        let h = tap.tap(LayerInfo::new(1, tanh()), activation::tanh(h));
        let h = tap.tap(LayerInfo::new(2, LayerKind::Linear), self.l2.forward(h));
        let h = tap.tap(LayerInfo::new(3, tanh()), activation::tanh(h));
        tap.tap(LayerInfo::new(4, LayerKind::Linear), self.out.forward(h))
    }

    fn output(&self, b: Points, tap: &mut dyn Tap) -> ClassificationOutput {
        let logits = self.forward(b.x, tap);
        let loss = CrossEntropyLossConfig::new()
            .init(&logits.device())
            .forward(logits.clone(), b.y.clone());
        ClassificationOutput::new(loss, logits, b.y)
    }
}

// The one addition a Learner program makes to its model: the forward pass with taps.
impl WatchStep for Classifier {
    fn forward_step(&self, b: Points, tap: &mut dyn Tap) -> (Tensor<1>, ClassificationOutput) {
        let out = self.output(b, tap);
        (out.loss.clone(), out)
    }
}

impl TrainStep for Classifier {
    type Input = Points;
    type Output = ClassificationOutput;
    fn step(&self, b: Points) -> TrainOutput<ClassificationOutput> {
        let (loss, out) = self.forward_step(b, &mut no_tap());
        TrainOutput::new(self, loss.backward(), out)
    }
}

impl InferenceStep for Classifier {
    type Input = Points;
    type Output = ClassificationOutput;
    fn step(&self, b: Points) -> ClassificationOutput {
        self.output(b, &mut no_tap())
    }
}

/// One point of an arm and its class.
#[derive(Clone, Debug)]
pub struct Point {
    xy: [f32; 2],
    class: usize,
}

/// A minibatch.
#[derive(Clone, Debug)]
pub struct Points {
    x: Tensor<2>,
    y: Tensor<1, Int>,
}

#[derive(Clone)]
struct PointBatcher;

impl Batcher<Point, Points> for PointBatcher {
    fn batch(&self, items: Vec<Point>, device: &Device) -> Points {
        let n = items.len();
        let xs: Vec<f32> = items.iter().flat_map(|p| p.xy).collect();
        let ys: Vec<i64> = items.iter().map(|p| p.class as i64).collect();
        Points {
            x: Tensor::from_data(TensorData::new(xs, [n, 2]), device),
            y: Tensor::from_data(TensorData::new(ys, [n]), device),
        }
    }
}

/// `n` points per arm of three spirals, with noise from a fixed-seed generator.
pub fn spirals(n: usize, seed: u64) -> Vec<Point> {
    let mut s = seed;
    let mut noise = || {
        s = s
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((s >> 40) as f32 / (1u64 << 24) as f32 - 0.5) * 0.2
    };
    let mut out = Vec::with_capacity(n * CLASSES);
    for class in 0..CLASSES {
        for i in 0..n {
            let r = i as f32 / n as f32;
            let t = class as f32 * 2.094 + 4.0 * r + noise();
            out.push(Point {
                xy: [r * t.sin(), r * t.cos()],
                class,
            });
        }
    }
    out
}

/// What to train.
pub struct Options {
    /// Where the diagnostics and burn-train's files go.
    pub out: PathBuf,
    /// Hidden weights 8x PyTorch's default: tanh saturates.
    pub saturated: bool,
    /// Adam (lr 1e-2) instead of SGD (lr 0.1).
    pub adam: bool,
    /// Epochs (57 minibatches of 32 each).
    pub epochs: usize,
    /// Record every this many optimizer steps.
    pub every: u64,
}

/// Trains with burn-train's `Learner`, printing one line per epoch through `lines`, and writes
/// the diagnostics; returns what they found.
pub fn run(o: &Options, lines: EpochLines) -> Result<WatchSummary, Box<dyn std::error::Error>> {
    let device = Device::flex().autodiff();
    let train = DataLoaderBuilder::new(PointBatcher)
        .batch_size(BATCH)
        .shuffle(7)
        .num_workers(1)
        .build(InMemDataset::new(spirals(POINTS, 1)));
    let valid = DataLoaderBuilder::new(PointBatcher)
        .batch_size(BATCH)
        .build(InMemDataset::new(spirals(POINTS / 4, 2)));
    let scale = if o.saturated { 8.0 } else { 1.0 };
    let (optim, lr): (ModuleOptimizer, f64) = if o.adam {
        (AdamConfig::new().init(), 1e-2)
    } else {
        (SgdConfig::new().init(), 0.1)
    };
    let watch =
        Watch::new(o.out.join("diagnostics"), o.every)?.expected_loss((CLASSES as f64).ln());
    let model = Watched::new(Classifier::new(scale, &device), &watch);
    let result = SupervisedTraining::new(&o.out, train, valid)
        .metrics((
            LossMetric::new(),
            AccuracyMetric::new(),
            watch.worst_saturation(),
            watch.median_update_ratio(),
        ))
        .num_epochs(o.epochs)
        .renderer(Box::new(lines))
        .with_application_logger(None)
        .launch(Learner::new(model, optim, lr));
    if let Some(e) = result.error {
        return Err(format!("training failed: {e:?}").into());
    }
    Ok(watch.finish()?)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut o = Options {
        out: PathBuf::from("runs/learner"),
        saturated: false,
        adam: false,
        epochs: 5,
        every: 25,
    };
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--out" => o.out = it.next().ok_or("--out needs a directory")?.into(),
            "--saturated" => o.saturated = true,
            "--adam" => o.adam = true,
            "--epochs" => o.epochs = it.next().ok_or("--epochs needs a number")?.parse()?,
            other => {
                return Err(format!(
                    "unknown argument {other}; use --out DIR, --saturated, --adam, --epochs N"
                )
                .into())
            }
        }
    }
    let s = run(&o, EpochLines::stdout())?;
    println!(
        "{} records (steps {}..={}); report: {}",
        s.records.len(),
        s.records.first().map_or(0, |r| r.step),
        s.records.last().map_or(0, |r| r.step),
        s.report.display()
    );
    if s.advice.is_empty() {
        println!("advice: none, nothing looks wrong");
    }
    for a in &s.advice {
        println!("advice: {}", a.message);
    }
    Ok(())
}
