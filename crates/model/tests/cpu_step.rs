//! Host training steps (`cpu::step`): on a CPU backend a plain step of a model the fused
//! kernels cover runs on host copies of the weights, and must give exactly what the same step
//! through Burn's autodiff and the optimizer's module map gives.
#![cfg(any(feature = "flex", feature = "ndarray"))]

use burn::tensor::Tensor;
use makemore_data::Corpus;
use makemore_diagnostics::{LayerInfo, Tap};
use makemore_model::host::to_host;
use makemore_model::{BackendKind, Dataset, RunConfig, Trainer};

/// 600 made-up names over the 26 letters, the same on every run.
fn corpus() -> Corpus {
    let mut state = 0x2545_f491_u64;
    let mut next = |bound: u64| {
        state = state
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (state >> 33) % bound
    };
    let mut text = String::from("abcdefghijklm\nnopqrstuvwxyz\n");
    for _ in 0..600 {
        let len = 2 + next(8);
        text.extend((0..len).map(|_| char::from(b'a' + next(26) as u8)));
        text.push('\n');
    }
    Corpus::from_text(&text, "made-up names", '.', None).expect("corpus")
}

fn config(dir: &str, name: &str, overrides: &[&str]) -> RunConfig {
    let path = format!(
        "{}/../../configs/{dir}/{name}.toml",
        env!("CARGO_MANIFEST_DIR")
    );
    let overrides: Vec<String> = overrides.iter().map(|s| s.to_string()).collect();
    RunConfig::from_file(std::path::Path::new(&path), &overrides).expect("config")
}

fn devices() -> Vec<BackendKind> {
    let mut out = Vec::new();
    if cfg!(feature = "flex") {
        out.push(BackendKind::Flex);
    }
    if cfg!(feature = "ndarray") {
        out.push(BackendKind::Ndarray);
    }
    out
}

/// The model's tensors (running statistics included) and the optimizer's state, as bits.
fn state(t: &Trainer) -> (Vec<(String, Vec<u32>)>, String) {
    let tensors = t
        .model()
        .tensors()
        .into_iter()
        .map(|n| (n.path, n.data.iter().map(|v| v.to_bits()).collect()))
        .collect();
    let optimizer = serde_json::to_string(&t.optimizer.state()).expect("state");
    (tensors, optimizer)
}

fn loss(t: Tensor<1>) -> u32 {
    to_host(t)[0].to_bits()
}

/// Every kind of layer and optimizer the host step takes: BatchNorm with running statistics
/// (the lecture's), without them, without affine, LayerNorm with residual links, GroupNorm
/// with learned residual scales and on the logits, tanh and identity; SGD (plain, Nesterov,
/// with dampening and weight decay), Adam, AdamW, RMSprop (plain; centered with momentum).
#[test]
fn cpu_steps_match_steps_through_burn_bit_for_bit() {
    let ds = |c: &RunConfig| {
        Dataset::from_corpus(corpus(), &c.data, c.model.block_size).expect("dataset")
    };
    let cases = [
        config("lecture", "batchnorm", &[]),
        config("lecture", "deep-batchnorm", &[]),
        config("mitigations", "deep-batchnorm-plain", &[]),
        config("mitigations", "deep-layernorm-residual", &[]),
        config("mitigations", "deep-groupnorm-rmsprop", &[]),
        config(
            "lecture",
            "deep-batchnorm",
            &[
                "train.optimizer={adamw={weight_decay=0.01}}",
                "model.output_norm=\"none\"",
            ],
        ),
        config(
            "lecture",
            "original",
            &["train.optimizer={sgd={momentum=0.9,nesterov=true}}"],
        ),
        // Plain Adam, an identity activation, BatchNorm with running statistics but no affine,
        // GroupNorm on the logits.
        config(
            "lecture",
            "deep-batchnorm",
            &[
                "train.optimizer=\"adam\"",
                "model.activation=\"identity\"",
                "model.norm={batch_norm={affine=false}}",
                "model.output_norm={group_norm={groups=3}}",
            ],
        ),
        // RMSprop without centring or momentum; SGD with dampening and weight decay; BatchNorm
        // with affine but no running statistics.
        config(
            "lecture",
            "batchnorm",
            &[
                "train.optimizer=\"rmsprop\"",
                "model.norm={batch_norm={track_running_stats=false}}",
            ],
        ),
        config(
            "lecture",
            "batchnorm",
            &["train.optimizer={sgd={momentum=0.5,dampening=0.1,weight_decay=0.01}}"],
        ),
    ];
    for kind in devices() {
        let device = kind.open().expect("backend");
        for cfg in &cases {
            let what = format!("{kind:?} {:?} {:?}", cfg.model.norm, cfg.train.optimizer);
            let ds = ds(cfg);
            let mut host = Trainer::start(cfg, &ds, &device, None).expect("trainer");
            let mut burn = Trainer::start(cfg, &ds, &device, None).expect("trainer");
            burn.set_cpu_steps(false);
            for step in 0..12 {
                if step == 6 {
                    // A recorded step (diagnostics) goes through Burn on both; the host one
                    // then resumes on the host from where it left.
                    let mut identity = |_: LayerInfo, t: Tensor<2>| t;
                    let a = host.step_tapped(&mut identity as &mut dyn Tap, true);
                    let b = burn.step_tapped(&mut identity as &mut dyn Tap, true);
                    assert!(!host.on_cpu(), "{what}: a tapped step leaves the host");
                    assert_eq!(loss(a.loss), loss(b.loss), "{what}: tapped step's loss");
                    continue;
                }
                let (a, b) = (host.step(), burn.step());
                assert!(host.on_cpu(), "{what}: step {step} ran on the host");
                assert!(!burn.on_cpu(), "{what}: steps through Burn");
                assert_eq!(loss(a), loss(b), "{what}: step {step}'s loss");
                if step == 3 {
                    assert_eq!(state(&host), state(&burn), "{what}: after step {step}");
                }
            }
            assert_eq!(state(&host), state(&burn), "{what}: after 12 steps");
        }
    }
}

/// A snapshot (kept at every log point, replayed after a divergence) owns its weights: the
/// steps the trainer takes after it do not show in it, and it replays them alike.
#[test]
fn a_snapshot_of_a_host_trainer_is_its_own() {
    let cfg = config("lecture", "deep-batchnorm", &[]);
    let ds = Dataset::from_corpus(corpus(), &cfg.data, cfg.model.block_size).expect("dataset");
    let device = devices()[0].open().expect("backend");
    let mut trainer = Trainer::start(&cfg, &ds, &device, None).expect("trainer");
    for _ in 0..3 {
        trainer.step();
    }
    let mut snapshot = trainer.snapshot();
    let before = state(&snapshot);
    for _ in 0..2 {
        trainer.step();
    }
    assert_eq!(state(&snapshot), before, "the snapshot did not move");
    assert_ne!(state(&trainer), before, "the trainer did");
    for _ in 0..2 {
        snapshot.step();
    }
    assert_eq!(
        state(&snapshot),
        state(&trainer),
        "the snapshot replays the same steps"
    );
}

/// A model the kernels do not cover (ReLU) steps through Burn, and says so.
#[test]
fn a_model_the_cpu_step_does_not_cover_steps_through_burn() {
    let cfg = config("lecture", "batchnorm", &["model.activation=\"relu\""]);
    let ds = Dataset::from_corpus(corpus(), &cfg.data, cfg.model.block_size).expect("dataset");
    let device = devices()[0].open().expect("backend");
    let mut trainer = Trainer::start(&cfg, &ds, &device, None).expect("trainer");
    let loss = to_host(trainer.step())[0];
    assert!(loss.is_finite() && !trainer.on_cpu(), "{loss}");
}
