//! `makemore diagnose`: train for a while, recording what happens inside, and say what looks wrong.

use super::common::{at_least_one, default_out, load_config, open_backend, stop_flag, ConfigArgs};
use crate::exit::{print_json, Failure};
use crate::progress::Bar;
use crate::Common;
use makemore_model::Dataset;
use makemore_train::RunOptions;
use std::path::PathBuf;

/// Flags of `makemore diagnose`.
#[derive(clap::Args)]
#[command(
    after_help = "Examples:\n  makemore diagnose --config configs/lecture/deep-batchnorm.toml --steps 1000\n  makemore diagnose --config configs/lecture/deep-tanh-no-norm.toml --out runs/bad --json"
)]
pub struct DiagnoseArgs {
    #[command(flatten)]
    common: Common,
    #[command(flatten)]
    cfg: ConfigArgs,
    /// Steps to train.
    #[arg(long, default_value_t = 1_000)]
    steps: u64,
    /// Record every K steps (and the first and last step).
    #[arg(long, default_value_t = 100)]
    every: u64,
    /// Seed of the weights and batches (overrides train.seed).
    #[arg(long)]
    seed: Option<u64>,
    /// The run directory for diagnostics.jsonl, the plots and report.html (default: runs/diagnose-UNIXTIME).
    #[arg(long)]
    out: Option<PathBuf>,
    /// Start over even if the run directory already holds a run.
    #[arg(long)]
    force: bool,
    /// Write TensorBoard event files into RUN/tb (sets log.tensorboard).
    #[arg(long)]
    tensorboard: bool,
    /// No progress bar.
    #[arg(long)]
    quiet: bool,
}

/// Runs `makemore diagnose`.
pub fn run(a: DiagnoseArgs) -> Result<(), Failure> {
    at_least_one("--every", Some(a.every))?;
    let mut cfg = load_config(a.cfg.config.as_deref(), &a.cfg.set, Some(a.steps), a.seed)?;
    cfg.log.tensorboard |= a.tensorboard;
    cfg.log.diagnose_every = Some(a.every);
    cfg.validate("--every")?;
    let (backend, device) = open_backend(a.common.backend)?;
    let data = a.common.data_path();
    super::data::ensure_default_corpus(&data)?;
    let ds = Dataset::for_run(&data, &cfg, &a.common.memory.budget())?;
    let out = a.out.clone().unwrap_or_else(|| default_out("diagnose"));
    let opts = RunOptions {
        force: a.force,
        ..RunOptions::new(backend, device, Some(out), stop_flag())
    };
    let mut bar = Bar::new(a.quiet, "diagnose");
    let outcome = makemore_train::train(&cfg, &ds, &data, &opts, &mut bar)?;
    let d = outcome.diagnosis.expect("diagnostics were asked for");
    if a.common.json {
        print_json(&serde_json::json!({
            "record": d.records.last(),
            "first": d.records.first(),
            "advice": d.advice,
            "report": d.report.as_ref().map(|p| p.display().to_string()),
            "summary": outcome.summary,
        }));
    } else {
        crate::report::print_diagnosis(&d);
    }
    Ok(())
}
