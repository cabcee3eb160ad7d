//! `makemore diagnose`: train for a while, recording what happens inside, and say what looks wrong.

use super::common::{at_least_one, default_out, load_config, open_backend, stop_flag, ConfigArgs};
use crate::exit::{print_json, shell, shell_word, Failure};
use crate::progress::Bar;
use crate::Common;
use makemore_model::{Dataset, RunConfig};
use makemore_train::remedy::{changes, overlaps, Change, Family};
use makemore_train::{Diagnosis, RunOptions};
use std::path::PathBuf;

/// Steps a diagnosis trains unless told otherwise: enough to see the first hundreds of steps.
const DEFAULT_STEPS: u64 = 1_000;
/// Steps between recordings unless told otherwise.
const DEFAULT_EVERY: u64 = 100;

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
    /// Steps to train [default: 1000, or train.steps when --set gives it].
    #[arg(long)]
    steps: Option<u64>,
    /// Record every K steps (and the first and last step) [default: 100, or log.diagnose_every
    /// when --set gives it].
    #[arg(long)]
    every: Option<u64>,
    /// Seed of the weights and batches (overrides train.seed).
    #[arg(long)]
    seed: Option<u64>,
    /// The run directory for diagnostics.jsonl, the plots and report.html (default: runs/diagnose-UNIXTIME).
    #[arg(long)]
    out: Option<PathBuf>,
    /// Start over even if the run directory already holds a run.
    #[arg(long)]
    force: bool,
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

/// Runs `makemore diagnose`.
pub fn run(a: DiagnoseArgs) -> Result<(), Failure> {
    at_least_one("--every", a.every)?;
    // A short run by default, whatever the config's length; a --set of the same key is taken as
    // asked, and the flag and the --set together are refused.
    let sets = |key: &str| {
        a.cfg
            .set
            .iter()
            .any(|s| s.split_once('=').is_some_and(|(k, _)| k.trim() == key))
    };
    for (flag, given, key) in [
        ("--steps", a.steps.is_some(), "train.steps"),
        ("--every", a.every.is_some(), "log.diagnose_every"),
    ] {
        if given && sets(key) {
            return Err(Failure::input(format!(
                "{flag} and --set {key}=... both set it; give one"
            )));
        }
    }
    let steps = a.steps.or((!sets("train.steps")).then_some(DEFAULT_STEPS));
    let mut cfg = load_config(a.cfg.config.as_deref(), &a.cfg.set, steps, a.seed)?;
    cfg.log.tensorboard |= a.tensorboard;
    if let Some(t) = a.saturation_threshold {
        cfg.log.saturation_threshold = t;
        cfg.validate("--saturation-threshold")?;
    }
    if a.every.is_some() || !sets("log.diagnose_every") {
        cfg.log.diagnose_every = Some(a.every.unwrap_or(DEFAULT_EVERY));
        cfg.validate("--every")?;
    }
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
    let outcome = match makemore_train::train(&cfg, &ds, &data, &opts, &mut bar) {
        Err(makemore_model::RunError::RunExists { dir, .. }) => {
            return Err(Failure::input(format!(
                "{}: already holds a run; pass --force to start over, or another --out",
                dir.display()
            )))
        }
        r => r?,
    };
    let d = outcome.diagnosis.expect("diagnostics were asked for");
    let (fix, norm) = to_try(&d, &cfg);
    let sets = |c: &[Change]| c.iter().map(Change::set_arg).collect::<Vec<_>>();
    if a.common.json {
        print_json(&serde_json::json!({
            "record": d.records.last(),
            "first": d.records.first(),
            "advice": d.advice,
            "to_try": sets(&fix),
            "normalize_instead": sets(&norm),
            "report": d.report.as_ref().map(|p| p.display().to_string()),
            "summary": outcome.summary,
        }));
    } else {
        crate::report::print_diagnosis(&d);
        if !fix.is_empty() {
            println!("to try: {}", look_again(&a, &sets(&fix)));
        }
        if !norm.is_empty() {
            println!("or normalize instead: {}", look_again(&a, &sets(&norm)));
        }
    }
    Ok(())
}

/// The advice carried out on `cfg`: the init and learning-rate changes, then apart the
/// normalization, one change per key (the first advice's; a change to a table, such as
/// `init.hidden`, and one inside it, such as `init.hidden.scale`, are the same key here). The
/// optimizer alternative is `makemore doctor --allow optimizer`'s.
fn to_try(d: &Diagnosis, cfg: &RunConfig) -> (Vec<Change>, Vec<Change>) {
    let (mut fix, mut norm) = (Vec::new(), Vec::new());
    for advice in &d.advice {
        for c in changes(advice, cfg, d.records.last()) {
            let list: &mut Vec<Change> = match c.family {
                Family::Norm => &mut norm,
                Family::Init | Family::Lr => &mut fix,
                Family::Optimizer => continue,
            };
            if !list.iter().any(|x| overlaps(&x.key, &c.key)) {
                list.push(c);
            }
        }
    }
    (fix, norm)
}

/// The same diagnosis again with `extra` settings after the user's own: the lecture's loop of
/// looking, changing one thing, and looking again.
fn look_again(a: &DiagnoseArgs, extra: &[String]) -> String {
    let mut words = vec!["makemore diagnose".to_string()];
    if let Some(c) = &a.cfg.config {
        words.push(format!("--config {}", shell(c)));
    }
    if let Some(s) = a.steps {
        words.push(format!("--steps {s}"));
    }
    for s in a.cfg.set.iter().chain(extra) {
        words.push(format!("--set {}", shell_word(s)));
    }
    words.join(" ")
}
