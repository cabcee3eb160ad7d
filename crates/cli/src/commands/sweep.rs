//! `makemore sweep`: plan, run and collect a sweep over config values.

use super::common::{default_jobs, open_backend};
use super::{builtin, slurm};
use crate::exit::{print_json, run_error_message, Failure, INTERRUPTED};
use makemore_sweep::{
    collect, record_failure, run_cell, CellOutcome, Datasets, FailedRecord, Plan, SweepError,
    SweepSpec,
};
use makemore_train::Silent;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

/// The most missing cells `collect` names on stderr.
const MISSING_LISTED: usize = 20;

/// The environment variables array-job engines set to a task's index, in the order read.
const INDEX_VARS: [&str; 2] = ["SLURM_ARRAY_TASK_ID", "JOB_COMPLETION_INDEX"];

/// Flags of `makemore sweep`.
#[derive(clap::Args)]
#[command(
    args_conflicts_with_subcommands = true,
    subcommand_negates_reqs = true,
    after_help = "Examples:\n  makemore sweep init-sensitivity --out runs/sens --data ../shared/data/names.txt\n  makemore sweep my-sweep.toml --out runs/mine --jobs 2\n  makemore sweep plan init-sensitivity --out runs/sens   # then, per array task:\n  makemore sweep cell runs/sens                         # INDEX from SLURM_ARRAY_TASK_ID or JOB_COMPLETION_INDEX\n  makemore sweep collect runs/sens\n\nBuilt-in sweeps: init-sensitivity, gain-by-activation, batchnorm-lr (configs/experiments/)."
)]
pub struct SweepArgs {
    #[command(subcommand)]
    command: Option<SweepCommand>,
    /// A sweep file (TOML), or a built-in sweep's name.
    #[arg(required = true)]
    file: Option<String>,
    /// The sweep directory: the plan, a run directory per cell, sweep.json and sweep.html.
    #[arg(long, required = true)]
    out: Option<PathBuf>,
    /// Cells trained side by side (default: one per core on a CPU backend, else 1).
    #[arg(long)]
    jobs: Option<usize>,
    /// Write TensorBoard event files in every cell (`tensorboard --logdir DIR` overlays them).
    #[arg(long)]
    tensorboard: bool,
    /// No line per cell on stderr.
    #[arg(long)]
    quiet: bool,
    #[command(flatten)]
    common: crate::Common,
}

/// `makemore sweep plan|cell|collect`.
#[derive(clap::Subcommand)]
pub enum SweepCommand {
    /// Write the plan (every cell and its config) without training.
    Plan {
        /// A sweep file, or a built-in sweep's name.
        file: String,
        /// The sweep directory.
        #[arg(long)]
        out: PathBuf,
        /// Write TensorBoard event files in every cell.
        #[arg(long)]
        tensorboard: bool,
        /// Also write the Slurm array script here (the `sbatch` line printed runs it).
        #[arg(long, value_name = "FILE")]
        slurm_script: Option<PathBuf>,
        #[command(flatten)]
        common: crate::Common,
    },
    /// Run one cell (skipped when done, resumed when interrupted).
    Cell {
        /// The sweep directory.
        dir: PathBuf,
        /// The cell [default: $SLURM_ARRAY_TASK_ID, then $JOB_COMPLETION_INDEX].
        index: Option<usize>,
        #[command(flatten)]
        common: crate::Common,
    },
    /// Build sweep.json, sweep.html and the table from the cells that are done.
    Collect {
        /// The sweep directory.
        dir: PathBuf,
        /// One JSON object on stdout.
        #[arg(long)]
        json: bool,
    },
}

impl From<SweepError> for Failure {
    fn from(e: SweepError) -> Self {
        match e {
            SweepError::Spec { .. }
            | SweepError::Plan { .. }
            | SweepError::CorpusDiffers { .. } => Failure::input(e),
            SweepError::Corpus(source) => Failure::from(*source),
            SweepError::Run { index, dir, source } => {
                let f = Failure::from(*source);
                Failure {
                    message: format!("sweep cell {index} ({dir}): {}", f.message),
                    ..f
                }
            }
            SweepError::Io { .. } => Failure {
                code: 1,
                message: e.to_string(),
            },
        }
    }
}

/// The sweep file `file` names (a path, or a built-in sweep), parsed.
fn spec(file: &str) -> Result<SweepSpec, Failure> {
    let path = Path::new(file);
    let (name, text) = if path.is_file() {
        let text = std::fs::read_to_string(path)
            .map_err(|e| Failure::input(format!("{file}: cannot read: {e}")))?;
        (file.to_string(), text)
    } else if let Some((n, text)) = builtin::EXPERIMENTS.iter().find(|(n, _)| *n == file) {
        (format!("configs/experiments/{n}.toml"), text.to_string())
    } else {
        let names: Vec<&str> = builtin::EXPERIMENTS.iter().map(|(n, _)| *n).collect();
        return Err(Failure::input(format!(
            "{file}: no such sweep file, and not a built-in sweep ({})",
            names.join(", ")
        )));
    };
    Ok(SweepSpec::parse(&text, &name, &builtin::config)?)
}

/// The plan of `file` on the corpus at `data`, and the cells that cannot train on it (the first
/// of each model, and why).
fn new_plan(
    file: &str,
    data: &Path,
    tensorboard: bool,
) -> Result<(Plan, Vec<(usize, String)>), Failure> {
    let mut spec = spec(file)?;
    spec.tensorboard |= tensorboard;
    let mut plan = Plan::new(&spec, data)?;
    let failing = plan.set_corpus(data)?;
    Ok((plan, failing))
}

/// Refuses a directory without a plan that holds what a sweep writes (`sweep.json`,
/// `sweep.html`): a new sweep there would replace the user's files.
fn refuse_foreign_outputs(out: &Path) -> Result<(), Failure> {
    if out.join(makemore_sweep::PLAN_FILE).exists() {
        return Ok(());
    }
    match [makemore_sweep::SWEEP_JSON, makemore_sweep::SWEEP_HTML]
        .map(|f| out.join(f))
        .into_iter()
        .find(|p| p.exists())
    {
        Some(path) => Err(Failure::input(format!(
            "{}: already exists, and {} holds no sweep plan; move it, or give another --out",
            path.display(),
            out.display()
        ))),
        None => Ok(()),
    }
}

/// `makemore sweep plan`: the plan, and the `sbatch` line that runs it on Slurm.
fn plan_command(
    file: &str,
    out: &Path,
    tensorboard: bool,
    slurm_script: Option<&Path>,
    common: &crate::Common,
) -> Result<(), Failure> {
    let data = common.data_path();
    super::data::ensure_default_corpus(&data)?;
    if !data.exists() {
        // Every cell would fail for the same reason: say it once.
        return Err(makemore_data::CorpusError::NotFound { path: data.clone() }.into());
    }
    // Everything that can fail comes before anything is written. The cells that cannot train
    // are named by the time limit's measurement.
    let (p, _) = new_plan(file, &data, tensorboard)?;
    refuse_foreign_outputs(out)?;
    let limit = slurm::time_limit_s(&p, &data, common.backend, &common.memory.budget())?;
    if let Some(path) = slurm_script {
        makemore_files::write_atomic(path, slurm::SCRIPT.as_bytes())
            .map_err(|e| Failure::input(format!("{}: cannot write: {e}", path.display())))?;
    }
    p.write(out)?;
    let script = slurm_script.unwrap_or(Path::new("cell.sh"));
    let sbatch = slurm::sbatch_line(p.cells.len(), limit, script, out);
    if common.json {
        print_json(&serde_json::json!({
            "dir": out,
            "cells": p.cells.len(),
            "time_limit_s": limit,
            "sbatch": sbatch,
        }));
        return Ok(());
    }
    println!(
        "planned {} cells in {}; run each with `makemore sweep cell {} INDEX` (INDEX 0..={}, or from {}), then `makemore sweep collect {}`",
        p.cells.len(),
        out.display(),
        out.display(),
        p.cells.len() - 1,
        INDEX_VARS.join(" or "),
        out.display()
    );
    let written = if slurm_script.is_some() {
        String::new()
    } else {
        " (write cell.sh with --slurm-script cell.sh)".into()
    };
    println!(
        "on Slurm: {}{written}; time limit {}x the slowest cell's steps at this machine's speed, plus {} s",
        sbatch.join(" "),
        slurm::SAFETY,
        slurm::OVERHEAD_S
    );
    if p.cells.len() > slurm::DEFAULT_MAX_ARRAY_SIZE {
        println!(
            "note: Slurm's default MaxArraySize is {}; a cluster with the default refuses a larger array (submit it in ranges, --array=0-999 then 1000-1999, ...)",
            slurm::DEFAULT_MAX_ARRAY_SIZE
        );
    }
    Ok(())
}

/// Runs `makemore sweep`.
pub fn run(a: SweepArgs) -> Result<(), Failure> {
    match a.command {
        Some(SweepCommand::Plan {
            file,
            out,
            tensorboard,
            slurm_script,
            common,
        }) => plan_command(&file, &out, tensorboard, slurm_script.as_deref(), &common),
        Some(SweepCommand::Cell { dir, index, common }) => cell(&dir, index, &common),
        Some(SweepCommand::Collect { dir, json }) => report(&dir, json),
        None => {
            let (Some(file), Some(out)) = (a.file.as_deref(), a.out.as_deref()) else {
                return Err(Failure::input("sweep: give a sweep FILE and --out DIR"));
            };
            run_all(file, out, &a)
        }
    }
}

/// The cell index: the argument, else the first array-job variable that is set.
fn cell_index(index: Option<usize>) -> Result<usize, Failure> {
    if let Some(i) = index {
        return Ok(i);
    }
    for var in INDEX_VARS {
        if let Ok(v) = std::env::var(var) {
            return v.trim().parse().map_err(|_| {
                Failure::input(format!("{var}={v:?}: expected a cell index (0, 1, ...)"))
            });
        }
    }
    Err(Failure::input(format!(
        "sweep cell: no INDEX given and neither {} is set",
        INDEX_VARS.join(" nor ")
    )))
}

/// Where a cell's run started: the step it resumed at (0 for a fresh start).
struct StartStep(Option<u64>);

impl makemore_train::Observer for StartStep {
    fn started(&mut self, _total_steps: u64, step: u64, _parameters: usize) {
        self.0 = Some(step);
    }
}

/// The file this process's standard error goes to, when it is a file (a scheduler's task log):
/// what a failed cell names so that `collect` can point at it.
fn stderr_file() -> Option<String> {
    let path = std::fs::read_link("/proc/self/fd/2").ok()?;
    path.is_file().then(|| path.display().to_string())
}

/// Records `e` in the cell's directory (`failed.json`) when it is the cell's own run failing,
/// and says whether it was: a wrong index or corpus is the command's error, not the cell's.
fn record_if_cells_own(sweep_dir: &Path, cell_dir: &str, e: &SweepError) -> bool {
    let SweepError::Run { source, .. } = e else {
        return false;
    };
    // Stopped, held by another process, or too large for this machine's memory now: none is
    // the cell's own result.
    use makemore_model::RunError::{Interrupted, Locked, TooLarge};
    if matches!(
        **source,
        Interrupted { .. } | Locked { .. } | TooLarge { .. }
    ) {
        return false;
    }
    // The run's own words for the record (the cell is named by where it is kept).
    let record = FailedRecord {
        error: run_error_message(source)
            .lines()
            .collect::<Vec<_>>()
            .join(" "),
        log: stderr_file(),
    };
    if let Err(w) = record_failure(&sweep_dir.join(cell_dir), &record) {
        eprintln!(
            "warning: could not record the failure: {}",
            Failure::from(w).message
        );
    }
    true
}

fn cell(dir: &Path, index: Option<usize>, common: &crate::Common) -> Result<(), Failure> {
    let index = cell_index(index)?;
    let plan = Plan::read(dir)?;
    let c = plan.cell(index, dir)?.clone();
    let data = common
        .data
        .clone()
        .unwrap_or_else(|| PathBuf::from(&plan.data));
    let (backend, device) = open_backend(common.backend)?;
    let datasets = Datasets::new(&data, common.memory.budget());
    let stop = super::common::stop_flag();
    let mut start = StartStep(None);
    let outcome = run_cell(
        &plan,
        dir,
        index,
        &datasets,
        (backend, &device),
        stop,
        &mut start,
    );
    let outcome = match outcome {
        Ok(o) => o,
        Err(e) => {
            record_if_cells_own(dir, &c.dir, &e);
            return Err(Failure::from(e));
        }
    };
    let resumed = match start.0 {
        Some(step) if step > 0 => format!(" (resumed at step {step})"),
        _ => String::new(),
    };
    let word = match &outcome {
        CellOutcome::Trained => format!("trained{resumed}"),
        CellOutcome::AlreadyDone => "already done".to_string(),
        CellOutcome::Diverged { step } => format!("diverged after step {step} (recorded){resumed}"),
        CellOutcome::Interrupted => {
            return Err(Failure {
                code: INTERRUPTED,
                message: format!(
                    "cell {index} interrupted; `makemore sweep cell {} {index}` resumes it",
                    crate::exit::shell(dir)
                ),
            })
        }
    };
    if common.json {
        print_json(&serde_json::json!({
            "index": index,
            "dir": c.dir,
            "outcome": word,
            "resumed_at": start.0.filter(|&s| s > 0),
        }));
    } else {
        println!("cell {index} ({}): {word}", c.dir);
    }
    Ok(())
}

fn report(dir: &Path, json: bool) -> Result<(), Failure> {
    let c = collect(dir)?;
    c.write(dir)?;
    if json {
        print_json(&c);
    } else {
        print!("{}", c.table());
        println!(
            "wrote {} and {}",
            dir.join(makemore_sweep::SWEEP_JSON).display(),
            dir.join(makemore_sweep::SWEEP_HTML).display()
        );
    }
    // A few lines, not one per cell of a 100,000-cell sweep: sweep.json lists them all.
    for (i, d) in c.missing.iter().take(MISSING_LISTED) {
        eprintln!("missing: cell {i} ({d})");
    }
    if c.missing.len() > MISSING_LISTED {
        eprintln!(
            "missing: {} more cells (all in {})",
            c.missing.len() - MISSING_LISTED,
            dir.join(makemore_sweep::SWEEP_JSON).display()
        );
    }
    Ok(())
}

/// Says how cell `i` of `p` ended (unless `quiet`; a failure always) and records a cell's own
/// failure (a result: the others go on). Returns whether it was interrupted, or the error that
/// stops the sweep.
fn cell_ended(
    p: &Plan,
    out: &Path,
    i: usize,
    result: Result<CellOutcome, SweepError>,
    started: std::time::Instant,
    quiet: bool,
) -> Result<bool, SweepError> {
    let name = p.cells[i].dir.trim_start_matches("cells/");
    let total = p.cells.len();
    match result {
        Ok(CellOutcome::Interrupted) => return Ok(true),
        Ok(outcome) if !quiet => {
            let what = match outcome {
                CellOutcome::Diverged { step } => format!("diverged after step {step}"),
                _ => "done".into(),
            };
            eprintln!(
                "sweep: cell {i} (of {total}) {name}: {what} in {:.0} s",
                started.elapsed().as_secs_f64()
            );
        }
        Ok(_) => {}
        // Another process (a second `sweep` on the same directory) trains it: not ours to run.
        Err(SweepError::Run { source, .. })
            if matches!(*source, makemore_model::RunError::Locked { .. }) =>
        {
            eprintln!(
                "sweep: cell {i} (of {total}) {name}: another process is training it; skipped"
            );
        }
        // Printed even with --quiet: a failure is not progress.
        Err(e) if record_if_cells_own(out, &p.cells[i].dir, &e) => {
            eprintln!(
                "sweep: cell {i} (of {total}) {name}: failed: {}",
                Failure::from(e).message
            );
        }
        Err(e) => return Err(e),
    }
    Ok(false)
}

fn run_all(file: &str, out: &Path, a: &SweepArgs) -> Result<(), Failure> {
    if a.jobs == Some(0) {
        return Err(Failure::input("--jobs: must be >= 1"));
    }
    let data = a.common.data_path();
    super::data::ensure_default_corpus(&data)?;
    let (p, failing) = new_plan(file, &data, a.tensorboard)?;
    refuse_foreign_outputs(out)?;
    p.write(out)?;
    for (i, why) in &failing {
        eprintln!(
            "sweep: cell {i} ({}) and any with the same model cannot train, and will fail: {why}",
            p.cells[*i].dir
        );
    }
    let (backend, device) = open_backend(a.common.backend)?;
    let todo: Vec<usize> = p
        .cells
        .iter()
        .filter(|c| !makemore_sweep::cell_is_done(&out.join(&c.dir)))
        .map(|c| c.index)
        .collect();
    let jobs = a
        .jobs
        .unwrap_or_else(|| default_jobs(backend, todo.len()))
        .clamp(1, todo.len().max(1));
    // The cells side by side share the memory.
    let datasets = Datasets::new(&data, a.common.memory.budget().shared(jobs));
    if !a.quiet && todo.len() < p.cells.len() {
        eprintln!(
            "sweep: {} of {} cells already done; running the other {}",
            p.cells.len() - todo.len(),
            p.cells.len(),
            todo.len()
        );
    }
    let stop = super::common::stop_flag();
    let failed = AtomicBool::new(false);
    let queue = Mutex::new(todo.into_iter().rev().collect::<Vec<_>>());
    let errors: Mutex<Vec<SweepError>> = Mutex::new(Vec::new());
    let interrupted = AtomicBool::new(false);
    let total = p.cells.len();
    let work = || loop {
        if failed.load(Ordering::SeqCst) || stop.load(Ordering::SeqCst) {
            break;
        }
        let Some(i) = queue.lock().unwrap_or_else(|e| e.into_inner()).pop() else {
            break;
        };
        let started = std::time::Instant::now();
        let result = run_cell(&p, out, i, &datasets, (backend, &device), stop, &mut Silent);
        match cell_ended(&p, out, i, result, started, a.quiet) {
            Ok(true) => interrupted.store(true, Ordering::SeqCst),
            Ok(false) => {}
            Err(e) => {
                failed.store(true, Ordering::SeqCst);
                errors.lock().unwrap_or_else(|e| e.into_inner()).push(e);
            }
        }
    };
    // This thread is one of the jobs: a job thread that cannot start (a tight ulimit) leaves
    // fewer side by side, never none.
    std::thread::scope(|s| {
        for _ in 1..jobs {
            if std::thread::Builder::new().spawn_scoped(s, work).is_err() {
                break;
            }
        }
        work();
    });
    if let Some(e) = errors
        .into_inner()
        .unwrap_or_else(|e| e.into_inner())
        .into_iter()
        .next()
    {
        return Err(e.into());
    }
    if interrupted.load(Ordering::SeqCst) || stop.load(Ordering::SeqCst) {
        // The cells done so far are collected, so the page shows them.
        let c = collect(out)?;
        c.write(out)?;
        return Err(Failure {
            code: INTERRUPTED,
            message: format!(
                "sweep interrupted with {} of {} cells done; rerun the same command to continue",
                c.cells.len(),
                total
            ),
        });
    }
    report(out, a.common.json)
}
