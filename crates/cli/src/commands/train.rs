//! `makemore train`.

use super::common::{at_least_one, default_out, load_config, open_backend, stop_flag, ConfigArgs};
use crate::exit::{print_json, Failure};
use crate::progress::Bar;
use crate::Common;
use makemore_model::Dataset;
use makemore_train::{RunDir, RunOptions};
use std::path::PathBuf;

/// Flags of `makemore train`.
#[derive(clap::Args)]
#[command(
    after_help = "Examples:\n  makemore train --data ../shared/data/names.txt --steps 20000 --out runs/bn\n  makemore train --config configs/lecture/original.toml --set train.lr=0.05 --diagnose-every 1000\n  makemore train --resume runs/bn"
)]
pub struct TrainArgs {
    #[command(flatten)]
    common: Common,
    #[command(flatten)]
    cfg: ConfigArgs,
    /// Number of steps (overrides train.steps).
    #[arg(long)]
    steps: Option<u64>,
    /// Seed of the weights and batches (overrides train.seed).
    #[arg(long)]
    seed: Option<u64>,
    /// The run directory (default: runs/run-UNIXTIME).
    #[arg(long)]
    out: Option<PathBuf>,
    /// Continue the run in this directory from its last checkpoint, with its saved config.
    #[arg(long, value_name = "RUN_DIR")]
    resume: Option<PathBuf>,
    /// Start over even if the run directory already holds a run.
    #[arg(long)]
    force: bool,
    /// Write a checkpoint every N steps (default: every 10% of the steps) and at the end.
    #[arg(long, value_name = "N")]
    checkpoint_every: Option<u64>,
    /// Stop after step N with a checkpoint (continue later with --resume).
    #[arg(long, value_name = "N")]
    pause_at: Option<u64>,
    /// Record diagnostics every K steps and write diagnostics.jsonl, plots and report.html
    /// (sets log.diagnose_every).
    #[arg(long, value_name = "K")]
    diagnose_every: Option<u64>,
    /// Write a TensorBoard event file into RUN (sets log.tensorboard; `tensorboard --logdir`
    /// on the folder holding RUN lists it by name).
    #[arg(long)]
    tensorboard: bool,
    /// |tanh| (or sigmoid) beyond which an output counts as saturated (sets
    /// log.saturation_threshold; the lecture uses 0.97, the default, and 0.99).
    #[arg(long, value_name = "T", allow_negative_numbers = true)]
    saturation_threshold: Option<f64>,
    /// No progress bar.
    #[arg(long)]
    quiet: bool,
}

/// Runs `makemore train`.
pub fn run(a: TrainArgs) -> Result<(), Failure> {
    at_least_one("--checkpoint-every", a.checkpoint_every)?;
    at_least_one("--pause-at", a.pause_at)?;
    at_least_one("--diagnose-every", a.diagnose_every)?;
    let (cfg, data, out) = match &a.resume {
        Some(dir) => {
            if a.cfg.config.is_some()
                || !a.cfg.set.is_empty()
                || a.steps.is_some()
                || a.seed.is_some()
                || a.tensorboard
                || a.diagnose_every.is_some()
                || a.saturation_threshold.is_some()
            {
                return Err(Failure::input("--resume continues a run with its saved config; drop --config, --set, --steps, --seed, --diagnose-every, --saturation-threshold and --tensorboard"));
            }
            if a.force {
                return Err(Failure::input(
                    "--force starts a run over and --resume continues it; drop one of them",
                ));
            }
            if a.out.as_ref().is_some_and(|o| o != dir) {
                return Err(Failure::input(
                    "--resume RUN_DIR writes into RUN_DIR; drop --out",
                ));
            }
            let run = RunDir::new(dir);
            let cfg = run.read_config()?;
            let info = run.read_info()?;
            let data = a
                .common
                .data
                .clone()
                .unwrap_or_else(|| PathBuf::from(info.data));
            (cfg, data, dir.clone())
        }
        None => {
            let mut cfg = load_config(a.cfg.config.as_deref(), &a.cfg.set, a.steps, a.seed)?;
            cfg.log.tensorboard |= a.tensorboard;
            if a.diagnose_every.is_some() {
                cfg.log.diagnose_every = a.diagnose_every;
                cfg.validate("--diagnose-every")?;
            }
            if let Some(t) = a.saturation_threshold {
                cfg.log.saturation_threshold = t;
                cfg.validate("--saturation-threshold")?;
            }
            (
                cfg,
                a.common.data_path(),
                a.out.clone().unwrap_or_else(|| default_out("run")),
            )
        }
    };
    let (backend, device) = open_backend(a.common.backend)?;
    super::data::ensure_default_corpus(&data)?;
    let ds = Dataset::for_run(&data, &cfg, &a.common.memory.budget())?;
    let opts = RunOptions {
        checkpoint_every: a.checkpoint_every,
        pause_at: a.pause_at,
        resume: a.resume.is_some(),
        force: a.force,
        ..RunOptions::new(backend, device, Some(out), stop_flag())
    };
    let mut bar = Bar::new(a.quiet, "train");
    let outcome = match makemore_train::train(&cfg, &ds, &data, &opts, &mut bar) {
        Err(e @ makemore_model::RunError::Paused { .. }) if a.common.json => {
            // A pause is a success: --json still prints its one object.
            let makemore_model::RunError::Paused { step, dir } = &e else {
                unreachable!("matched above")
            };
            print_json(&serde_json::json!({
                "paused": true,
                "step": step,
                "steps": cfg.train.steps,
                "run_dir": dir.as_ref().map(|d| d.display().to_string()),
            }));
            return Err(Failure::from(e));
        }
        r => r?,
    };
    if a.common.json {
        let mut v = serde_json::to_value(&outcome.summary).expect("a summary serializes");
        if let Some(d) = &outcome.diagnosis {
            v["advice"] = serde_json::to_value(&d.advice).expect("advice serializes");
            v["report"] = serde_json::json!(d.report.as_ref().map(|p| p.display().to_string()));
        }
        print_json(&v);
    } else {
        if let Some(d) = &outcome.diagnosis {
            crate::report::print_diagnosis(d);
        }
        crate::report::print_summary(&outcome.summary);
    }
    Ok(())
}
