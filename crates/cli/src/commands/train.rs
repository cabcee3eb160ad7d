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
    after_help = "Examples:\n  makemore train --data ../shared/data/names.txt --steps 20000 --out runs/bn\n  makemore train --config configs/lecture/original.toml --set train.lr=0.05"
)]
pub struct TrainArgs {
    #[command(flatten)]
    common: Common,
    /// A TOML config (default: the lecture's BatchNorm model, configs/default.toml).
    #[arg(long)]
    config: Option<PathBuf>,
    /// Override a config field, e.g. --set train.lr=0.05 (repeatable).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    set: Vec<String>,
    /// Number of steps (overrides train.steps).
    #[arg(long)]
    steps: Option<u64>,
    /// Seed of the weights and batches (overrides train.seed).
    #[arg(long)]
    seed: Option<u64>,
    /// The run directory (default: runs/run-UNIXTIME).
    #[arg(long)]
    out: Option<PathBuf>,
    /// No progress bar.
    #[arg(long)]
    quiet: bool,
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
    let cfg = load_config(a.config.as_deref(), &a.set, a.steps, a.seed)?;
    let (backend, device) = open_backend(&a.common.backend)?;
    super::data::ensure_default_corpus(&a.common.data)?;
    let ds = Dataset::load(&a.common.data, &cfg.data, cfg.model.block_size)?;
    let out = a.out.unwrap_or_else(|| {
        let secs = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        PathBuf::from(format!("runs/run-{secs}"))
    });
    let opts = RunOptions {
        backend,
        device,
        out: Some(out),
        stop: stop_flag(),
    };
    let mut bar = Bar::new(a.quiet, "train");
    let summary = makemore_model::train(&cfg, &ds, &a.common.data, &opts, &mut bar)?;
    if a.common.json {
        print_json(&summary);
    } else {
        print_summary(&summary);
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
        "{} parameters, {} steps in {:.1} s ({:.0} us/step) on {}, seed {}",
        s.parameters, s.steps, s.seconds, s.us_per_step, s.backend, s.seed
    );
    if let Some(dir) = &s.run_dir {
        println!("run directory: {dir}");
    }
}
