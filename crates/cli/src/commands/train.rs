//! `makemore train`.

use super::{builtin, open_backend};
use crate::exit::{print_json, Failure};
use crate::progress::Bar;
use crate::Common;
use makemore_model::{Dataset, RunConfig, RunOptions, Summary};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

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
    /// Record diagnostics every K steps and write diagnostics.jsonl, plots and report.html.
    #[arg(long, value_name = "K")]
    diagnose_every: Option<u64>,
    /// No progress bar.
    #[arg(long)]
    quiet: bool,
}

/// Which config to run: a file (or the built-in default) and `--set` overrides.
#[derive(clap::Args)]
pub struct ConfigArgs {
    /// A TOML config (default: the lecture's BatchNorm model, configs/default.toml).
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Override a config field, e.g. --set train.lr=0.05 (repeatable).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub set: Vec<String>,
}

/// `Some(0)` for a flag that must be >= 1 is bad input.
pub fn at_least_one(flag: &str, v: Option<u64>) -> Result<(), Failure> {
    match v {
        Some(0) => Err(Failure::input(format!("{flag}: must be >= 1"))),
        _ => Ok(()),
    }
}

/// A fresh run directory name.
pub fn default_out(prefix: &str) -> PathBuf {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    PathBuf::from(format!("runs/{prefix}-{secs}"))
}

static STOP: AtomicBool = AtomicBool::new(false);

/// The flag Ctrl-C and SIGTERM raise: training finishes its step and stops.
pub fn stop_flag() -> &'static AtomicBool {
    static INSTALLED: std::sync::Once = std::sync::Once::new();
    INSTALLED.call_once(|| {
        let _ = ctrlc::set_handler(|| STOP.store(true, Ordering::SeqCst));
    });
    &STOP
}

/// Reads the config (or the built-in default) with `--set`, `--steps` and `--seed` applied.
pub fn load_config(
    config: Option<&Path>,
    set: &[String],
    steps: Option<u64>,
    seed: Option<u64>,
) -> Result<RunConfig, Failure> {
    let mut overrides = set.to_vec();
    if let Some(s) = steps {
        overrides.push(format!("train.steps={s}"));
    }
    if let Some(s) = seed {
        overrides.push(format!("train.seed={s}"));
    }
    Ok(match config {
        Some(path) => RunConfig::from_file(path, &overrides)?,
        None => RunConfig::from_toml_str(builtin::DEFAULT, "configs/default.toml", &overrides)?,
    })
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
            {
                return Err(Failure::input("--resume continues a run with its saved config; drop --config, --set, --steps and --seed"));
            }
            if a.out.as_ref().is_some_and(|o| o != dir) {
                return Err(Failure::input(
                    "--resume RUN_DIR writes into RUN_DIR; drop --out",
                ));
            }
            let cfg_path = dir.join("config.toml");
            if !cfg_path.is_file() {
                return Err(Failure::input(format!(
                    "{}: no run to resume here (config.toml is missing)",
                    dir.display()
                )));
            }
            let cfg = RunConfig::from_file(&cfg_path, &[])?;
            let info = makemore_model::run::RunInfo::load(dir)?;
            let data = a
                .common
                .data
                .clone()
                .unwrap_or_else(|| PathBuf::from(info.data));
            (cfg, data, dir.clone())
        }
        None => {
            let cfg = load_config(a.cfg.config.as_deref(), &a.cfg.set, a.steps, a.seed)?;
            (
                cfg,
                a.common.data_path(),
                a.out.clone().unwrap_or_else(|| default_out("run")),
            )
        }
    };
    let (backend, device) = open_backend(&a.common.backend)?;
    super::data::ensure_default_corpus(&data)?;
    let ds = Dataset::load(&data, &cfg.data, cfg.model.block_size)?;
    let opts = RunOptions {
        diagnose_every: a.diagnose_every,
        checkpoint_every: a.checkpoint_every,
        pause_at: a.pause_at,
        resume: a.resume.is_some(),
        force: a.force,
        ..RunOptions::new(backend, device, Some(out), stop_flag())
    };
    let mut bar = Bar::new(a.quiet, "train");
    let outcome = makemore_model::train(&cfg, &ds, &data, &opts, &mut bar)?;
    if a.common.json {
        let mut v = serde_json::to_value(&outcome.summary).expect("a summary serializes");
        if let Some(d) = &outcome.diagnosis {
            v["advice"] = serde_json::to_value(&d.advice).expect("advice serializes");
            v["report"] = serde_json::json!(d.report.as_ref().map(|p| p.display().to_string()));
        }
        print_json(&v);
    } else {
        if let Some(d) = &outcome.diagnosis {
            super::diagnose::print_diagnosis(d);
        }
        print_summary(&outcome.summary);
    }
    Ok(())
}

/// The text report of a run.
pub fn print_summary(s: &Summary) {
    println!(
        "train {:.4}  val {:.4}  test {:.4}",
        s.train_loss, s.val_loss, s.test_loss
    );
    println!(
        "first loss {:.4} (ln {} = {:.4})",
        s.first_loss, s.vocab_size, s.expected_first_loss
    );
    println!(
        "{} parameters, {} steps in {:.2} s ({:.0} us/step) on {}, seed {}",
        s.parameters, s.steps, s.seconds, s.us_per_step, s.backend, s.seed
    );
    if let Some(dir) = &s.run_dir {
        println!("run directory: {dir}");
    }
}
