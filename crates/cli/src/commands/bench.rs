//! `makemore bench`: how fast one model trains, evaluates and samples on one backend.
//! `cargo xtask bench` runs it for every compiled backend and model, next to PyTorch.

use super::common::{load_config, open_backend};
use crate::exit::{print_json, Failure};
use crate::Common;
use makemore_model::budget::sampling_needs;
use makemore_model::data::DeviceWindows;
use makemore_model::eval::split_loss;
use makemore_model::sample::{sample, SampleOptions};
use makemore_model::{Dataset, Trainer};
use serde::Serialize;
use std::path::PathBuf;
use std::time::Instant;

/// Flags of `makemore bench`.
#[derive(clap::Args)]
#[command(
    after_help = "Example:\n  makemore bench --config configs/lecture/deep-batchnorm.toml --steps 2000 --repeats 5 --json"
)]
pub struct BenchArgs {
    #[command(flatten)]
    common: Common,
    /// The model (default: the lecture's BatchNorm model).
    #[arg(long)]
    config: Option<PathBuf>,
    /// Timed steps per repeat.
    #[arg(long, default_value_t = 2_000)]
    steps: u64,
    /// Untimed steps before each repeat.
    #[arg(long, default_value_t = 200)]
    warmup: u64,
    /// Repeats; the median is reported.
    #[arg(long, default_value_t = 3)]
    repeats: usize,
    /// Names to sample.
    #[arg(long, default_value_t = 1_000)]
    samples: usize,
    /// Instead of a model: time the CPU kernels' matrix product on square sizes, one thread
    /// against every core, and one 2048 x 2048 x 2048 product (the machine's peak).
    #[arg(long, conflicts_with_all = ["config", "steps", "warmup", "repeats", "samples"])]
    matmul: bool,
}

/// One size of `makemore bench --matmul`.
#[derive(Serialize)]
struct MatmulRow {
    /// `n x n x n`.
    n: usize,
    gflops_one_thread: f64,
    gflops_all_cores: f64,
}

/// What `makemore bench --matmul` reports.
#[derive(Serialize)]
struct MatmulReport {
    threads: usize,
    /// The kernels' threshold (multiply-adds) from which a product uses every core.
    parallel_min_macs: usize,
    rows: Vec<MatmulRow>,
    /// GFLOP/s of one 2048 x 2048 x 2048 product on every core.
    peak_gflops: f64,
}

/// Times the kernels' matrix product (`--matmul`).
fn matmul(json: bool) -> Result<(), Failure> {
    #[cfg(any(feature = "flex", feature = "ndarray"))]
    {
        use makemore_model::perf::{time_matmul, PARALLEL_MIN_MACS};
        let gflops = |n: usize, parallel: bool| {
            let repeats = (2e9 / (n * n * n) as f64).clamp(3.0, 2_000.0) as usize;
            2.0 * (n * n * n) as f64 / time_matmul(n, n, n, parallel, repeats) / 1e9
        };
        let rows: Vec<MatmulRow> = [32, 64, 96, 128, 160, 192, 256, 320, 384, 512, 768, 1024]
            .into_iter()
            .map(|n| MatmulRow {
                n,
                gflops_one_thread: gflops(n, false),
                gflops_all_cores: gflops(n, true),
            })
            .collect();
        let report = MatmulReport {
            threads: std::thread::available_parallelism().map_or(1, |n| n.get()),
            parallel_min_macs: PARALLEL_MIN_MACS,
            rows,
            peak_gflops: gflops(2048, true),
        };
        if json {
            print_json(&report);
        } else {
            println!(
                "n x n x n | GFLOP/s 1 thread | GFLOP/s {} threads",
                report.threads
            );
            for r in &report.rows {
                println!(
                    "{:>9} | {:>16.1} | {:>16.1}",
                    r.n, r.gflops_one_thread, r.gflops_all_cores
                );
            }
            println!(
                "peak (2048^3, every core): {:.1} GFLOP/s; the kernels go parallel from {} multiply-adds",
                report.peak_gflops, report.parallel_min_macs
            );
        }
        Ok(())
    }
    #[cfg(not(any(feature = "flex", feature = "ndarray")))]
    {
        let _ = json;
        Err(Failure::input(
            "--matmul times the CPU kernels, which come with the flex or ndarray feature",
        ))
    }
}

#[derive(Serialize)]
struct Report {
    backend: &'static str,
    config: String,
    parameters: usize,
    batch_size: usize,
    /// Median over the repeats.
    us_per_step: f64,
    steps_per_s: f64,
    us_per_step_runs: Vec<f64>,
    /// Forward passes over all 228,146 windows of the three splits.
    eval_all_ms: f64,
    eval_windows: usize,
    /// Drawing `samples` names: one batch per character position of the names not yet ended.
    sample_ms: f64,
    samples: usize,
    /// Peak resident memory of the process after training (VmHWM).
    peak_rss_mb_after_training: Option<f64>,
    /// Multiply-adds of one example through the model's matrix products.
    macs_per_example: u64,
    /// FLOPs of a training step's matrix products: 6 per multiply-add and example (forward,
    /// weight gradient, input gradient).
    flops_per_step: f64,
    /// FLOPs of the evaluation: 2 per multiply-add and window.
    eval_flops: f64,
    /// Rows forwarded while sampling: each name once per character it drew, its end included
    /// (finished names drop out of the batch).
    sample_rows: usize,
    /// FLOPs of the sampling: 2 per multiply-add and row forwarded.
    sample_flops: f64,
}

/// Seconds per training step of `t`, timed over `steps` steps after `warmup` steps and one more
/// whose loss is read back (so that the device's queue is empty when the clock starts), up to the
/// read-back of the last loss (so that the device has finished).
pub fn seconds_per_step(t: &mut Trainer, warmup: u64, steps: u64) -> f64 {
    for _ in 0..warmup {
        t.step();
    }
    let _ = makemore_diagnostics::record::to_host(t.step());
    let start = Instant::now();
    let mut loss = None;
    for _ in 0..steps {
        loss = Some(t.step());
    }
    if let Some(l) = loss {
        let _ = makemore_diagnostics::record::to_host(l);
    }
    start.elapsed().as_secs_f64() / steps.max(1) as f64
}

fn median(v: &[f64]) -> f64 {
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    s[s.len() / 2]
}

fn peak_rss_mb() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let kb: f64 = status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()?;
    Some(kb / 1024.0)
}

/// Runs `makemore bench`.
pub fn run(a: BenchArgs) -> Result<(), Failure> {
    if a.matmul {
        // The products take no corpus: a --data would be ignored without a word. A corpus that
        // comes from MAKEMORE_DATA is the environment's default, not a request.
        let from_env = std::env::var_os("MAKEMORE_DATA").map(std::path::PathBuf::from);
        if a.common.data.is_some() && a.common.data != from_env {
            return Err(Failure::input(
                "--data: --matmul times the matrix product alone and reads no corpus; drop one of them",
            ));
        }
        return matmul(a.common.json);
    }
    if a.steps == 0 || a.repeats == 0 || a.samples == 0 {
        return Err(Failure::input(
            "--steps, --repeats and --samples must be >= 1",
        ));
    }
    let total = a
        .warmup
        .checked_add(a.steps)
        .ok_or_else(|| Failure::input("--warmup + --steps: more steps than a counter holds"))?;
    let cfg = load_config(a.config.as_deref(), &[], Some(total), None)?;
    let (backend, device) = open_backend(a.common.backend)?;
    let data = a.common.data_path();
    let ds = Dataset::for_run(&data, &cfg, &a.common.memory.budget())?;
    let mut runs = Vec::new();
    let mut last = None;
    for _ in 0..a.repeats {
        let mut t = Trainer::start(&cfg, &ds, &device, None)?;
        runs.push(seconds_per_step(&mut t, a.warmup, a.steps) * 1e6);
        last = Some(t);
    }
    let rss = peak_rss_mb();
    let t = last.expect("at least one repeat");
    let model = makemore_model::Module::valid(t.model());
    let splits: Vec<DeviceWindows> = ds
        .windows
        .iter()
        .map(|w| DeviceWindows::new(w, &device))
        .collect();
    let start = Instant::now();
    for s in &splits {
        split_loss(&model, s);
    }
    let eval_all_ms = start.elapsed().as_secs_f64() * 1e3;
    let needs = sampling_needs("--samples", &cfg, ds.vocab.len(), a.samples, 64);
    a.common.memory.budget().check(&needs)?;
    let opts = SampleOptions {
        n: a.samples,
        seed: 1,
        temperature: 1.0,
        top_k: None,
        max_len: 64,
    };
    let start = Instant::now();
    let sampled = sample(&model, &ds.vocab, cfg.model.block_size, &opts, &device);
    let sample_ms = start.elapsed().as_secs_f64() * 1e3;
    assert_eq!(sampled.items.len(), a.samples);
    let us = median(&runs);
    let macs = macs_per_example(&cfg.model, ds.vocab.len());
    let report = Report {
        backend: backend.name(),
        config: a
            .config
            .as_ref()
            .map_or("configs/default.toml".into(), |p| p.display().to_string()),
        parameters: t.model().num_trainable(),
        batch_size: cfg.train.batch_size,
        us_per_step: us,
        steps_per_s: 1e6 / us,
        us_per_step_runs: runs,
        eval_all_ms,
        eval_windows: splits.iter().map(|s| s.len).sum(),
        sample_ms,
        samples: a.samples,
        peak_rss_mb_after_training: rss,
        macs_per_example: macs,
        flops_per_step: 6.0 * macs as f64 * cfg.train.batch_size as f64,
        eval_flops: 2.0 * macs as f64 * splits.iter().map(|s| s.len).sum::<usize>() as f64,
        sample_rows: sampled.rows_forwarded,
        sample_flops: 2.0 * macs as f64 * sampled.rows_forwarded as f64,
    };
    if a.common.json {
        print_json(&report);
    } else {
        println!(
            "{} on {}: {:.0} us/step ({:.0} steps/s), eval of {} windows {:.0} ms, {} samples {:.1} ms, peak RSS {:.0} MB",
            report.config, report.backend, report.us_per_step, report.steps_per_s, report.eval_windows, report.eval_all_ms, report.samples, report.sample_ms,
            report.peak_rss_mb_after_training.unwrap_or(f64::NAN)
        );
    }
    Ok(())
}

/// Multiply-adds of one example through the model's Linear layers.
fn macs_per_example(m: &makemore_model::ModelConfig, vocab: usize) -> u64 {
    let mut fan_in = (m.n_embd * m.block_size) as u64;
    let mut macs = 0;
    for &w in m.hidden.iter().chain(std::iter::once(&vocab)) {
        macs += fan_in * w as u64;
        fan_in = w as u64;
    }
    macs
}
