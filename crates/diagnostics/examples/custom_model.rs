//! The diagnostics on a model that is not makemore's: a two-layer ReLU network written directly
//! with Burn tensors, learning y = sin(x0) + x1^2 by plain SGD. Implementing `Inspect` is the only
//! thing it takes: pass each layer output you want to see through the `Tap`.
//!
//! ```sh
//! cargo run --release -p makemore-diagnostics --example custom_model -- /tmp/custom-diagnostics
//! ```
//!
//! writes `report.html` and the plots there, and prints the lecture-style tables and the advice.

use burn::tensor::{activation, Device, Tensor, TensorData};
use makemore_diagnostics::record::to_host;
use makemore_diagnostics::{
    advise, layer_table, param_record, render_plots, window_means, write_report, AdviceConfig,
    DiagnosticRecord, Inspect, LayerInfo, LayerKind, Recorder, Saturation, StatsConfig, Tap,
};

/// Two Linear layers with a ReLU between them: `[batch, 2] -> [batch, 64] -> [batch, 1]`.
struct TwoLayer {
    w1: Tensor<2>,
    b1: Tensor<2>,
    w2: Tensor<2>,
}

impl Inspect for TwoLayer {
    type Input = Tensor<2>;

    fn forward_inspect(&self, x: Tensor<2>, tap: &mut dyn Tap) -> Tensor<2> {
        let h = tap.tap(
            LayerInfo::new(0, LayerKind::Linear),
            x.matmul(self.w1.clone()).add(self.b1.clone()),
        ); // [batch, 64]
        let a = tap.tap(
            LayerInfo::new(1, LayerKind::activation("ReLU", Saturation::Zero)),
            activation::relu(h),
        );
        tap.tap(
            LayerInfo::new(2, LayerKind::Linear),
            a.matmul(self.w2.clone()),
        ) // [batch, 1]
    }
}

/// A small deterministic generator, so the example needs no RNG crate.
fn lcg(state: &mut u64) -> f32 {
    *state = state
        .wrapping_mul(6_364_136_223_846_793_005)
        .wrapping_add(1_442_695_040_888_963_407);
    ((*state >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
}

fn main() {
    let out = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "target/custom-model-diagnostics".into());
    let out = std::path::PathBuf::from(out);
    std::fs::create_dir_all(&out).expect("the output folder can be created");
    let device = Device::flex().autodiff();
    let mut seed = 7u64;
    let mut tensor = |rows: usize, cols: usize, scale: f32| {
        let v: Vec<f32> = (0..rows * cols).map(|_| lcg(&mut seed) * scale).collect();
        Tensor::<2>::from_data(TensorData::new(v, [rows, cols]), &device).require_grad()
    };
    // Kaiming-uniform for a ReLU: bound sqrt(6 / fan_in).
    let mut model = TwoLayer {
        w1: tensor(2, 64, 3f32.sqrt()),
        b1: tensor(1, 64, 0.0),
        w2: tensor(64, 1, (6.0f32 / 64.0).sqrt()),
    };
    let (steps, lr, batch) = (600, 0.05, 64);
    let stats = StatsConfig::default();
    let mut records = Vec::new();
    let mut losses = Vec::new();
    for step in 0..steps {
        let xs: Vec<f32> = (0..batch * 2).map(|_| lcg(&mut seed) * 2.0).collect();
        let ys: Vec<f32> = xs.chunks(2).map(|p| p[0].sin() + p[1] * p[1]).collect();
        let x = Tensor::<2>::from_data(TensorData::new(xs, [batch, 2]), &device);
        let y = Tensor::<2>::from_data(TensorData::new(ys, [batch, 1]), &device);
        let recording = step % 100 == 0 || step == steps - 1;
        let mut rec = Recorder::new(recording);
        let pred = model.forward_inspect(x, &mut rec);
        let loss = pred.sub(y).square().mean();
        let grads = loss.backward();
        let loss_value = to_host(loss.clone())[0];
        losses.push(loss_value);
        let mut params = Vec::new();
        let mut update = |name: &str, p: Tensor<2>| -> Tensor<2> {
            let g = p.grad(&grads).expect("every parameter has a gradient");
            let delta = g.clone().mul_scalar(lr);
            if recording {
                let shape = p.dims().to_vec();
                params.push(param_record(
                    name,
                    &shape,
                    &to_host(p.clone().detach()),
                    &to_host(g),
                    &to_host(delta.clone()),
                    &stats,
                ));
            }
            p.without_autodiff().sub(delta).autodiff().require_grad()
        };
        model = TwoLayer {
            w1: update("w1", model.w1.clone()),
            b1: update("b1", model.b1.clone()),
            w2: update("w2", model.w2.clone()),
        };
        if recording {
            let layers = rec.finish(Some(&grads), &stats);
            records.push(DiagnosticRecord {
                step: step as u64,
                loss: f64::from(loss_value),
                lr,
                layers,
                params,
                expected_loss: None,
                rescaled_loss: None,
                saturation_threshold: Some(stats.saturation_threshold),
            });
        }
    }
    let last = records.last().expect("the last step is recorded");
    print!("{}", layer_table(last));
    let advice = advise(None, last, &AdviceConfig::default());
    for a in &advice {
        println!("advice: {}", a.message);
    }
    let plots =
        render_plots(&out, &records, &window_means(&losses, 30)).expect("plots are written");
    let report = write_report(&out, "a two-layer ReLU network", &records, &plots, &advice)
        .expect("the report is written");
    println!(
        "loss {:.4} -> {:.4}; report: {}",
        losses[0],
        losses[losses.len() - 1],
        report.display()
    );
}
