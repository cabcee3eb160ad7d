//! Model-level behaviour: shapes, parameter counts, BatchNorm conventions, optimizer steps,
//! saved weights, and sameness across backends.

use burn::module::Module;
use burn::tensor::{Int, Tensor, TensorData};
use makemore_model::config::{BatchNormConfig, LrSchedule, Norm, OptimizerConfig, RunConfig};
use makemore_model::host::to_host as read_f32;
use makemore_model::loss::cross_entropy;
use makemore_model::optim::Optimizer;
use makemore_model::weights::WeightsFile;
use makemore_model::{BackendKind, Mlp, NormLayer, NormMode, NormParts, Source};

fn cfg(text: &str) -> RunConfig {
    RunConfig::from_toml_str(text, "test", &[]).unwrap()
}

fn lecture(name: &str) -> RunConfig {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../configs/lecture/");
    RunConfig::from_file(std::path::Path::new(&format!("{path}{name}.toml")), &[]).unwrap()
}

fn build(c: &RunConfig, device: &burn::tensor::Device) -> Mlp {
    Mlp::build(
        &c.model,
        27,
        Source::Init {
            roles: &c.init,
            seed: c.train.seed,
        },
        device,
    )
    .unwrap()
}

fn flex() -> burn::tensor::Device {
    BackendKind::Flex.open().unwrap()
}

fn contexts(device: &burn::tensor::Device, rows: usize) -> Tensor<2, Int> {
    let v: Vec<i64> = (0..rows * 3).map(|i| (i * 7 % 27) as i64).collect();
    Tensor::from_data(TensorData::new(v, [rows, 3]), device)
}

#[test]
fn parameter_counts_match_the_lecture() {
    let d = flex();
    assert_eq!(build(&lecture("original"), &d).num_trainable(), 11_897);
    assert_eq!(build(&lecture("kaiming"), &d).num_trainable(), 11_897);
    assert_eq!(build(&lecture("batchnorm"), &d).num_trainable(), 12_097);
    assert_eq!(
        build(&lecture("deep-batchnorm"), &d).num_trainable(),
        47_024
    );
}

#[test]
fn forward_shapes_and_first_loss() {
    let d = flex();
    let m = build(&lecture("batchnorm"), &d);
    let logits = m.forward(contexts(&d, 64), NormMode::Train);
    assert_eq!(logits.dims(), [64, 27]);
    let targets = Tensor::<1, Int>::from_data(
        TensorData::new((0..64).map(|i| i % 27).collect::<Vec<i64>>(), [64]),
        &d,
    );
    let loss = read_f32(cross_entropy(logits, targets))[0];
    assert!(
        (loss - 27f32.ln()).abs() < 0.15,
        "a well-behaved init starts near ln 27: {loss}"
    );
}

/// A fresh normalization layer of `width` features: gamma 1, beta 0, running mean 0, var 1.
fn batch_norm(cfg: &Norm, width: usize, device: &burn::tensor::Device) -> NormLayer {
    let parts = NormParts {
        affine: Some((vec![1.0; width], vec![0.0; width])),
        running: Some((vec![0.0; width], vec![1.0; width])),
    };
    NormLayer::from_parts(cfg, parts, device).unwrap()
}

#[test]
fn running_variance_uses_the_unbiased_batch_variance() {
    let d = flex();
    let bn_cfg = Norm::BatchNorm(BatchNormConfig {
        momentum: 1.0,
        ..BatchNormConfig::default()
    });
    let bn = batch_norm(&bn_cfg, 2, &d.clone().autodiff());
    let x = Tensor::<2>::from_data(
        TensorData::new(vec![1.0f32, 10.0, 2.0, 20.0, 3.0, 30.0, 6.0, 60.0], [4, 2]),
        &d.clone().autodiff(),
    );
    let y = bn.forward(x, NormMode::Train);
    // Normalization uses the biased variance: column 0 = [1, 2, 3, 6], mean 3, biased var 3.5.
    let out = read_f32(y.without_autodiff());
    assert!(
        (out[0] - (1.0 - 3.0) / (3.5f32 + 1e-5).sqrt()).abs() < 1e-5,
        "{out:?}"
    );
    let valid = bn.valid();
    let mean = read_f32(valid.running_mean.as_ref().unwrap().value());
    let var = read_f32(valid.running_var.as_ref().unwrap().value());
    assert!((mean[0] - 3.0).abs() < 1e-6 && (mean[1] - 30.0).abs() < 1e-5);
    // Unbiased: 14 / 3, not 14 / 4.
    assert!((var[0] - 14.0 / 3.0).abs() < 1e-5, "{var:?}");
    assert!((var[1] - 1400.0 / 3.0).abs() < 1e-3, "{var:?}");
}

#[test]
fn momentum_blends_running_statistics() {
    let d = flex().autodiff();
    let bn_cfg = Norm::BatchNorm(BatchNormConfig::default());
    let bn = batch_norm(&bn_cfg, 1, &d);
    let x = Tensor::<2>::from_data(TensorData::new(vec![2.0f32, 4.0], [2, 1]), &d);
    let _ = bn.forward(x, NormMode::Train);
    let v = bn.valid();
    assert!((read_f32(v.running_mean.as_ref().unwrap().value())[0] - 0.3).abs() < 1e-6); // 0.9 * 0 + 0.1 * 3
    assert!(
        (read_f32(v.running_var.as_ref().unwrap().value())[0] - (0.9 + 0.1 * 2.0)).abs() < 1e-6
    );
    // unbiased var 2
}

#[test]
fn calibrate_makes_the_running_statistics_the_batch_statistics() {
    let d = flex();
    let m = build(&lecture("batchnorm"), &d);
    let x = contexts(&d, 500);
    let _ = m.forward(x.clone(), NormMode::Calibrate);
    // After calibration, eval mode on the same data normalizes exactly like batch mode.
    let eval = read_f32(m.forward(x.clone(), NormMode::Eval));
    let m2 = build(&lecture("batchnorm"), &d);
    let batch = read_f32(m2.forward(x, NormMode::Calibrate));
    let max = eval
        .iter()
        .zip(&batch)
        .map(|(a, b)| (a - b).abs())
        .fold(0f32, f32::max);
    // Running variance is the unbiased one, so the two differ by sqrt(500/499) at most.
    assert!(max < 5e-3, "max difference {max}");
}

#[test]
fn evaluation_builds_no_autodiff_graph() {
    let d = flex();
    let m = build(&lecture("batchnorm"), &d.clone().autodiff());
    assert!(m.embedding.val().is_autodiff());
    let v = m.valid();
    assert!(!v.embedding.val().is_autodiff());
    let logits = v.forward(contexts(&d, 8), NormMode::Eval);
    assert!(!logits.is_autodiff());
}

#[test]
fn sgd_step_is_p_minus_lr_grad() {
    let d = flex().autodiff();
    let c = cfg("[model]\nhidden = [8]\nnorm = \"none\"\n");
    let m = build(&c, &d);
    let before = m.tensors();
    let targets = Tensor::<1, Int>::from_data(TensorData::new(vec![1i64, 2, 3, 4], [4]), &d);
    let loss = cross_entropy(m.forward(contexts(&d, 4), NormMode::Train), targets);
    let grads = loss.backward();
    let g = read_f32(m.embedding.val().grad(&grads).unwrap());
    let mut opt = Optimizer::new(OptimizerConfig::default());
    let (m, updates) = opt.step(m, &grads, 0.5, true);
    let after = m.tensors();
    for (i, (b, a)) in before[0].data.iter().zip(&after[0].data).enumerate() {
        assert!((a - (b - 0.5 * g[i])).abs() < 1e-6);
    }
    assert_eq!(updates.len(), before.iter().filter(|t| t.trainable).count());
    assert!(
        m.embedding.val().is_require_grad(),
        "updated parameters keep training"
    );
}

/// Adam's first step is lr * g / (|g| + eps), about lr * sign(g) whatever its betas, so the
/// betas show only from the second step on: a second step on other targets (another gradient) is
/// checked, as the first is, against PyTorch's rule with PyTorch's defaults (beta1 0.9, beta2
/// 0.999, eps 1e-8), worked out here in f64 from the gradients the steps record.
#[test]
fn adam_moves_every_parameter_by_about_lr_on_the_first_step() {
    let d = flex().autodiff();
    let c = cfg("[model]\nhidden = [8]\n[train]\noptimizer = { adam = {} }\nlr = 0.001\n");
    let m = build(&c, &d);
    let before = m.tensors();
    let gradients = |m: &Mlp, targets: Vec<i64>| {
        let targets = Tensor::<1, Int>::from_data(TensorData::new(targets, [4]), &d);
        cross_entropy(m.forward(contexts(&d, 4), NormMode::Train), targets).backward()
    };
    let grads = gradients(&m, vec![1, 2, 3, 4]);
    let mut opt = Optimizer::new(c.train.optimizer);
    let (m, first) = opt.step(m, &grads, 0.001, true);
    let after = m.tensors();
    let trained: Vec<_> = before
        .iter()
        .zip(&after)
        .filter(|(b, _)| b.trainable)
        .collect();
    assert!(
        trained.len() >= 6,
        "embedding, hidden weight, gamma, beta, output weight and bias"
    );
    for (b, a) in trained {
        let moved: Vec<f32> = b
            .data
            .iter()
            .zip(&a.data)
            .map(|(b, a)| (a - b).abs())
            .collect();
        assert!(
            moved.iter().all(|&d| d < 1.01e-3),
            "{}: bias-corrected Adam moves at most lr on step 1",
            b.path
        );
        assert!(
            moved.iter().any(|&d| d > 0.9e-3),
            "{} moves by about lr",
            b.path
        );
    }
    let grads = gradients(&m, vec![20, 0, 9, 13]);
    let (_, second) = opt.step(m, &grads, 0.001, true);
    assert_eq!(first.len(), second.len(), "the same parameters step twice");
    let (lr, beta1, beta2, eps) = (1e-3, 0.9f64, 0.999f64, 1e-8);
    let mut betas_show = 0;
    for (one, two) in first.into_iter().zip(second) {
        let (g1, d1) = (read_f32(one.grad), read_f32(one.delta));
        let (g2, d2) = (read_f32(two.grad), read_f32(two.delta));
        for i in 0..g1.len() {
            let (g1, g2) = (f64::from(g1[i]), f64::from(g2[i]));
            // m and v after two steps from zero, bias-corrected by 1 - beta^2.
            let m_hat = (1.0 - beta1) * (beta1 * g1 + g2) / (1.0 - beta1 * beta1);
            let v_hat = (1.0 - beta2) * (beta2 * g1 * g1 + g2 * g2) / (1.0 - beta2 * beta2);
            let want = [
                lr * g1 / (g1.abs() + eps),
                lr * m_hat / (v_hat.sqrt() + eps),
            ];
            // To 1e-5 of lr: f32's rounding of m where g1 and g2 nearly cancel, far below what
            // beta2 0.99 for 0.999 moves (about 2e-3 of lr where one of them is small).
            for (step, (got, want)) in [d1[i], d2[i]].into_iter().zip(want).enumerate() {
                assert!(
                    (f64::from(got) - want).abs() <= 1e-5 * lr,
                    "{} [{i}] step {}: moved {got}, PyTorch's Adam {want} (g {g1}, {g2})",
                    one.path,
                    step + 1
                );
            }
            // Where the gradient changed, the second step is not lr * sign: the betas matter.
            betas_show += usize::from(g1 != 0.0 && (want[1].abs() - lr).abs() > 1e-2 * lr);
        }
    }
    assert!(
        betas_show > 100,
        "{betas_show} elements where the betas show"
    );
    let state = opt.state();
    let restored = Optimizer::restore(c.train.optimizer, &state, &d);
    assert_eq!(restored.state(), state);
}

/// Where a CPU backend's tensor keeps its values.
#[cfg(any(feature = "flex", feature = "ndarray"))]
fn address<const D: usize>(t: Tensor<D>) -> usize {
    let t = t.without_autodiff();
    #[cfg(feature = "flex")]
    if let Ok(p) = t.clone().try_into_primitive::<burn::backend::Flex>() {
        return p.storage::<f32>().as_ptr() as usize;
    }
    #[cfg(feature = "ndarray")]
    #[allow(deprecated)] // Burn 0.22 deprecates ndarray, which users may still ask for
    if let Ok(burn::backend::ndarray::NdArrayTensor::F32(s)) =
        t.clone().try_into_primitive::<burn::backend::NdArray>()
    {
        return s.view().as_ptr() as usize;
    }
    panic!("not an f32 tensor of a CPU backend")
}

/// Where each trained parameter's values live, in visiting order.
#[cfg(any(feature = "flex", feature = "ndarray"))]
fn addresses(m: &Mlp) -> Vec<usize> {
    struct Addresses(Vec<usize>);
    impl burn::module::ModuleVisitor for Addresses {
        fn visit_float<const D: usize>(&mut self, param: &burn::module::Param<Tensor<D>>) {
            if param.val().is_require_grad() {
                self.0.push(address(param.val()));
            }
        }
    }
    let mut a = Addresses(Vec::new());
    m.visit(&mut a);
    a.0
}

#[test]
#[cfg(any(feature = "flex", feature = "ndarray"))]
fn the_optimizer_writes_into_parameters_nothing_else_holds() {
    let cpu = [BackendKind::Flex, BackendKind::Ndarray];
    for kind in cpu.into_iter().filter(BackendKind::compiled_in) {
        let d = kind.open().unwrap().autodiff();
        let c = lecture("deep-batchnorm");
        let mut opt = Optimizer::new(OptimizerConfig::Adam(Default::default()));
        let mut m = build(&c, &d);
        let targets: Vec<i64> = (0..32).map(|i| i % 27).collect();
        let targets = Tensor::<1, Int>::from_data(TensorData::new(targets, [32]), &d);
        let step = |opt: &mut Optimizer, m: Mlp, record: bool| {
            let logits = m.forward(contexts(&d, 32), NormMode::Train);
            let grads = cross_entropy(logits, targets.clone()).backward();
            opt.step(m, &grads, 0.001, record)
        };
        for _ in 0..2 {
            // The second step also reuses Adam's buffers of the first.
            let (before, at) = (m.tensors(), addresses(&m));
            assert_eq!(at.len(), 19, "{kind:?}: embedding, 5 x 3 hidden, 3 output");
            m = step(&mut opt, m, false).0;
            assert_eq!(
                addresses(&m),
                at,
                "{kind:?}: every parameter stepped in place"
            );
            assert_ne!(
                m.tensors()[0].data,
                before[0].data,
                "{kind:?}: embedding moved"
            );
        }
        // A copy of the model and of the optimizer (as `Trainer::snapshot` keeps) shares their
        // storage: the step then writes elsewhere and leaves the copies' parameters and Adam's
        // moments as they were. (The running statistics are Burn's `RunningState`, which
        // clones share by design.)
        let (kept, kept_opt) = (m.clone(), opt.clone());
        let (before, moments) = (m.tensors(), opt.state());
        m = step(&mut opt, m, false).0;
        let trained = kept
            .tensors()
            .into_iter()
            .zip(&before)
            .filter(|(_, b)| b.trainable);
        for (k, b) in trained {
            assert!(k == *b, "{kind:?} {}: the shared copy is untouched", b.path);
        }
        assert_eq!(
            kept_opt.state(),
            moments,
            "{kind:?}: the shared moments are untouched"
        );
        assert_ne!(opt.state(), moments, "{kind:?}: the moments moved");
        let (moved, stayed) = (addresses(&m), addresses(&kept));
        let elsewhere = moved.iter().zip(&stayed).all(|(a, b)| a != b);
        assert!(elsewhere, "{kind:?}: written elsewhere");
        // A recorded step keeps each parameter's old values next to its update.
        let before = m.tensors();
        let (m, updates) = step(&mut opt, m, true);
        let after = m.tensors();
        let trained = before.iter().zip(&after).filter(|(b, _)| b.trainable);
        for ((b, a), u) in trained.zip(&updates) {
            let old = read_f32(u.data.clone());
            assert_eq!(old, b.data, "{kind:?} {}: recorded old values", b.path);
            let delta = read_f32(u.delta.clone());
            assert_eq!(delta.len(), a.data.len(), "{}: one step per value", b.path);
            for (i, ((new, old), d)) in a.data.iter().zip(&b.data).zip(&delta).enumerate() {
                assert_eq!(*new, old - d, "{kind:?} {}[{i}]: new = old - delta", b.path);
            }
        }
    }
}

#[test]
fn saved_weights_round_trip_and_detect_corruption() {
    let d = flex();
    let c = lecture("deep-batchnorm");
    let m = build(&c, &d);
    let file = WeightsFile::new(m.tensors());
    let json = file.to_json();
    let back = WeightsFile::from_json(&json, "m.json").unwrap();
    let m2 = Mlp::build(&c.model, 27, Source::Saved(&back.by_path()), &d).unwrap();
    assert_eq!(m.tensors(), m2.tensors());
    let corrupted = json.replacen("0.", "1.", 1);
    let e = WeightsFile::from_json(&corrupted, "m.json")
        .unwrap_err()
        .to_string();
    assert!(e.contains("checksum mismatch"), "{e}");
    let e = WeightsFile::from_json(&json[..json.len() / 2], "m.json")
        .unwrap_err()
        .to_string();
    assert!(e.contains("not a makemore model file"), "{e}");
    let other = lecture("batchnorm");
    let e = Mlp::build(&other.model, 27, Source::Saved(&back.by_path()), &d)
        .unwrap_err()
        .to_string();
    assert!(e.contains("shape"), "{e}");
}

#[test]
fn initial_weights_are_identical_on_every_compiled_backend() {
    let c = lecture("deep-batchnorm");
    let reference = build(&c, &flex()).tensors();
    for b in BackendKind::compiled() {
        let device = b
            .open()
            .unwrap_or_else(|e| panic!("{} is compiled in but does not open: {e}", b.name()));
        assert_eq!(
            build(&c, &device).tensors(),
            reference,
            "backend {}",
            b.name()
        );
    }
}

#[test]
fn lr_schedule_points() {
    let c = cfg("[train]\nsteps = 1000\nlr = [[0, 0.1], [\"50%\", 0.01], [900, 0.001]]\n");
    assert_eq!(c.train.lr.lr_at(499, 1000), 0.1);
    assert_eq!(c.train.lr.lr_at(500, 1000), 0.01);
    assert_eq!(c.train.lr.lr_at(950, 1000), 0.001);
    assert_eq!(LrSchedule::Constant(0.3).lr_at(5, 10), 0.3);
}

fn mitigation(name: &str) -> RunConfig {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../configs/mitigations/");
    RunConfig::from_file(std::path::Path::new(&format!("{path}{name}.toml")), &[]).unwrap()
}

#[test]
fn parameter_counts_of_the_new_layers() {
    let d = flex();
    // Embedding 27 x 10 = 270; block 0: 30 x 100 weights (no bias before a norm) + 200 gamma and
    // beta; blocks 1-4: 100 x 100 + 200 each; output 100 x 27 + 27; one residual scale on each
    // of the four 100 -> 100 blocks.
    let blocks = 30 * 100 + 200 + 4 * (100 * 100 + 200);
    let output = 100 * 27 + 27;
    let ln = build(&mitigation("deep-layernorm-residual"), &d);
    assert_eq!(ln.num_trainable(), 270 + blocks + output + 4);
    assert_eq!(
        build(&mitigation("deep-groupnorm-rmsprop"), &d).num_trainable(),
        270 + blocks + output + 4
    );
    // affine = false: no gamma or beta; plain residual links: no scale.
    let plain = build(&mitigation("deep-batchnorm-plain"), &d);
    assert_eq!(plain.num_trainable(), 270 + blocks - 5 * 200 + output);
    let paths: Vec<String> = plain.tensors().into_iter().map(|t| t.path).collect();
    assert!(
        !paths.iter().any(|p| p.contains("norm")),
        "no norm tensors without affine or running statistics: {paths:?}"
    );
    let paths: Vec<String> = ln.tensors().into_iter().map(|t| t.path).collect();
    assert!(paths.contains(&"blocks.4.scale".to_string()), "{paths:?}");
    assert!(
        !paths.contains(&"blocks.0.scale".to_string()),
        "30 -> 100 has no link"
    );
    assert!(!paths.iter().any(|p| p.contains("running")), "{paths:?}");
}

#[test]
fn layer_and_group_norm_use_each_examples_statistics() {
    let d = flex();
    // Two examples with different means and variances: each is normalized by its own.
    let rows = [[1.0f32, 2.0, 3.0, 6.0], [10.0, 10.0, 30.0, 50.0]];
    let x = || {
        let v: Vec<f32> = rows.iter().flatten().copied().collect();
        Tensor::<2>::from_data(TensorData::new(v, [2, 4]), &d)
    };
    let normalized = |v: &[f32]| -> Vec<f32> {
        let m = v.iter().sum::<f32>() / v.len() as f32;
        let var = v.iter().map(|x| (x - m).powi(2)).sum::<f32>() / v.len() as f32;
        v.iter().map(|x| (x - m) / (var + 1e-5).sqrt()).collect()
    };
    let close = |got: &[f32], want: &[f32]| {
        for (a, b) in got.iter().zip(want) {
            assert!((a - b).abs() < 1e-4, "{got:?} vs {want:?}");
        }
    };
    let ln = batch_norm(
        &cfg("[model]\nnorm = { layer_norm = {} }").model.norm,
        4,
        &d,
    );
    for mode in [NormMode::Eval, NormMode::Train] {
        let out = read_f32(ln.forward(x(), mode));
        close(&out[..4], &normalized(&rows[0])); // mean 3, biased variance 3.5
        close(&out[4..], &normalized(&rows[1])); // mean 25, biased variance 275
    }
    let text = "[model]\nhidden = [4]\nnorm = { group_norm = { groups = 2 } }";
    let gn = batch_norm(&cfg(text).model.norm, 4, &d);
    let out = read_f32(gn.forward(x(), NormMode::Train));
    // Each example's groups [x0, x1] and [x2, x3] on their own.
    for (r, row) in rows.iter().enumerate() {
        close(&out[4 * r..4 * r + 2], &normalized(&row[..2]));
        close(&out[4 * r + 2..4 * r + 4], &normalized(&row[2..]));
    }
    assert_eq!((ln.label(), gn.label()), ("LayerNorm", "GroupNorm"));
}

#[test]
fn group_norm_groups_must_divide_every_width() {
    let text = "[model]\nhidden = [100, 30]\nnorm = { group_norm = { groups = 4 } }";
    let e = RunConfig::from_toml_str(text, "sweep.toml", &[])
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("model.norm.group_norm.groups") && e.contains("model.hidden[1] = 30"),
        "{e}"
    );
    let text = "[model]\nhidden = [100]\noutput_norm = { group_norm = { groups = 4 } }";
    let c = cfg(text);
    let e = Mlp::build(
        &c.model,
        27,
        Source::Init {
            roles: &c.init,
            seed: 1,
        },
        &flex(),
    )
    .unwrap_err()
    .to_string();
    assert!(
        e.contains("model.output_norm.group_norm.groups") && e.contains("27"),
        "{e}"
    );
    let e = RunConfig::from_toml_str("[model]\nresidual_scale = 0.0", "x.toml", &[])
        .unwrap_err()
        .to_string();
    assert!(e.contains("model.residual_scale"), "{e}");
    let e = RunConfig::from_toml_str("[model]\nhidden = [200]\nresidual = true", "x.toml", &[])
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("model.residual") && e.contains("nothing to link"),
        "{e}"
    );
}

#[test]
fn without_running_statistics_evaluation_uses_the_batchs() {
    let d = flex();
    let c = mitigation("deep-batchnorm-plain");
    let m = build(&c, &d);
    let x = contexts(&d, 64);
    let eval = read_f32(m.forward(x.clone(), NormMode::Eval));
    let train = read_f32(m.forward(x, NormMode::Train));
    assert_eq!(eval, train, "eval normalizes with the batch's statistics");
    // One row: every normalized value is 0, so the logits no longer depend on the context.
    let one = |ids: Vec<i64>| {
        let t = Tensor::<2, Int>::from_data(TensorData::new(ids, [1, 3]), &d);
        read_f32(m.forward(t, NormMode::Eval))
    };
    assert_eq!(one(vec![0, 0, 0]), one(vec![5, 9, 13]));
}

#[test]
fn a_residual_scale_of_zero_makes_linked_blocks_the_identity() {
    use makemore_diagnostics::{LayerInfo, LayerKind};
    let d = flex();
    let m = build(&mitigation("deep-groupnorm-rmsprop"), &d);
    let mut outputs: Vec<(LayerInfo, Vec<f32>)> = Vec::new();
    let mut tap = |l: LayerInfo, t: Tensor<2>| {
        outputs.push((l, read_f32(t.clone())));
        t
    };
    let _ = m.forward_tapped(contexts(&d, 8), NormMode::Train, &mut tap);
    let labels: Vec<&str> = outputs.iter().map(|(l, _)| l.kind.label()).collect();
    assert_eq!(
        &labels[..7],
        [
            "Linear",
            "GroupNorm",
            "Tanh",
            "Linear",
            "GroupNorm",
            "Tanh",
            "Residual"
        ]
    );
    let sums: Vec<&Vec<f32>> = outputs
        .iter()
        .filter(|(l, _)| l.kind == LayerKind::Residual)
        .map(|(_, v)| v)
        .collect();
    assert_eq!(sums.len(), 4, "blocks 1-4 are linked");
    let first_tanh = &outputs[2].1;
    for s in sums {
        assert_eq!(s, first_tanh, "h + 0 * block(h) = h");
    }
    // With the learned scale at 1 the branch is added.
    let ln = build(&mitigation("deep-layernorm-residual"), &d);
    let mut outputs: Vec<Vec<f32>> = Vec::new();
    let mut tap = |_: LayerInfo, t: Tensor<2>| {
        outputs.push(read_f32(t.clone()));
        t
    };
    let _ = ln.forward_tapped(contexts(&d, 8), NormMode::Train, &mut tap);
    // outputs: 0 Linear, 1 LayerNorm, 2 Tanh, 3 Linear, 4 LayerNorm, 5 Tanh, 6 Residual.
    for (i, s) in outputs[6].iter().enumerate() {
        let want = outputs[2][i] + outputs[5][i];
        assert!((s - want).abs() < 1e-6, "[{i}] {s} vs {want}");
    }
}
