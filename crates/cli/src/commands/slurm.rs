//! A sweep on Slurm: the array script (README, "On a cluster", byte for byte) and the `sbatch`
//! line for a plan, with a time limit from the plan's step counts and this machine's speed.

use super::bench;
use super::common::open_backend;
use crate::exit::Failure;
use makemore_model::budget::Budget;
use makemore_model::{BackendKind, Dataset, RunConfig, Trainer};
use makemore_sweep::Plan;
use std::path::Path;

/// The array script `makemore sweep plan --slurm-script FILE` writes. Generic: the sweep
/// directory is its argument, the array range and time limit are on the `sbatch` line.
pub const SCRIPT: &str = r#"#!/bin/sh
# One Slurm array task per sweep cell. `makemore sweep plan ... --slurm-script cell.sh` writes
# this file and prints the sbatch line for its plan:
#   sbatch --array=0-(CELLS-1) --time=LIMIT cell.sh SWEEP_DIR
# The cell index comes from SLURM_ARRAY_TASK_ID. A cell already done exits at once; a task that is
# preempted, requeued or stopped at its time limit (SIGTERM) leaves a checkpoint, and its next
# run resumes the cell from there.
#SBATCH --job-name=makemore-sweep
#SBATCH --cpus-per-task=1
#SBATCH --requeue
#SBATCH --open-mode=append
#SBATCH --output=makemore-sweep-%A_%a.out
exec makemore sweep cell "$1"
"#;

/// Slurm's default `MaxArraySize`: array indices stop at one less.
pub const DEFAULT_MAX_ARRAY_SIZE: usize = 1001;

/// Steps timed per distinct model when estimating the time limit (after as many warm-up steps).
const TIMED_STEPS: u64 = 50;
/// The time limit is this many times the estimated training time of the slowest cell...
pub const SAFETY: f64 = 3.0;
/// ...plus this many seconds for start-up, evaluation, diagnostics and the report.
pub const OVERHEAD_S: f64 = 120.0;

/// The time limit for every task of `plan`: the slowest cell's steps at the speed measured here
/// (each distinct model and batch size trained [`TIMED_STEPS`] steps on `backend`), times
/// [`SAFETY`], plus [`OVERHEAD_S`], in whole minutes.
pub fn time_limit_s(
    plan: &Plan,
    data: &Path,
    backend: BackendKind,
    budget: &Budget,
) -> Result<u64, Failure> {
    let (_, device) = open_backend(backend)?;
    // Per distinct model: its seconds per step, or why it cannot train.
    let mut timed: Vec<(String, Result<f64, String>)> = Vec::new();
    let mut slowest: Option<f64> = None;
    for cell in &plan.cells {
        let cfg = RunConfig::from_toml_str(&cell.config, &format!("{}/plan", cell.dir), &[])
            .map_err(|e| Failure::input(format!("sweep cell {}: {e}", cell.index)))?;
        let key = format!(
            "{:?} {} {:?}",
            cfg.model, cfg.train.batch_size, cfg.train.optimizer
        );
        if !timed.iter().any(|(k, _)| *k == key) {
            let s = seconds_per_step(&cfg, data, &device, budget).map_err(|f| f.message);
            if let Err(why) = &s {
                // The cell will fail when it runs, and record why; the others still need a limit.
                eprintln!(
                    "sweep plan: cell {} ({}) and any with the same model cannot train, and will fail when run: {why}",
                    cell.index, cell.dir
                );
            }
            timed.push((key.clone(), s));
        }
        if let Some((_, Ok(s))) = timed.iter().find(|(k, _)| *k == key) {
            let cell_s = s * cfg.train.steps as f64;
            slowest = Some(slowest.map_or(cell_s, |x: f64| x.max(cell_s)));
        }
    }
    let Some(slowest) = slowest else {
        let why = timed
            .into_iter()
            .find_map(|(_, s)| s.err())
            .unwrap_or_else(|| "the plan has no cells".into());
        return Err(Failure::input(format!(
            "sweep plan: no cell of the plan can train here, so no time limit can be measured: {why}"
        )));
    };
    let limit = slowest * SAFETY + OVERHEAD_S;
    Ok(((limit / 60.0).ceil() as u64).max(1) * 60)
}

/// Seconds per training step of `cfg` on `device`, over [`TIMED_STEPS`] steps after as many
/// warm-up steps.
fn seconds_per_step(
    cfg: &RunConfig,
    data: &Path,
    device: &makemore_model::Device,
    budget: &Budget,
) -> Result<f64, Failure> {
    let ds = Dataset::for_run(data, cfg, budget)?;
    let mut t = Trainer::start(cfg, &ds, device, None)?;
    Ok(bench::seconds_per_step(&mut t, TIMED_STEPS, TIMED_STEPS))
}

/// `H:MM:SS`, as `sbatch --time` takes it.
pub fn hms(seconds: u64) -> String {
    format!(
        "{}:{:02}:{:02}",
        seconds / 3600,
        seconds / 60 % 60,
        seconds % 60
    )
}

/// The `sbatch` command line for `cells` tasks running `script` on the sweep in `dir`.
pub fn sbatch_line(cells: usize, limit_s: u64, script: &Path, dir: &Path) -> Vec<String> {
    vec![
        "sbatch".into(),
        format!("--array=0-{}", cells.saturating_sub(1)),
        format!("--time={}", hms(limit_s)),
        script.display().to_string(),
        dir.display().to_string(),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_limits_read_as_slurm_expects() {
        assert_eq!(hms(60), "0:01:00");
        assert_eq!(hms(3 * 3600 + 7 * 60), "3:07:00");
        let line = sbatch_line(12, 180, Path::new("cell.sh"), Path::new("/shared/s"));
        assert_eq!(
            line.join(" "),
            "sbatch --array=0-11 --time=0:03:00 cell.sh /shared/s"
        );
    }

    #[test]
    fn the_script_takes_the_sweep_directory_and_resumes() {
        assert!(SCRIPT.starts_with("#!/bin/sh\n"));
        assert!(SCRIPT.ends_with("exec makemore sweep cell \"$1\"\n"));
        for directive in ["--requeue", "--open-mode=append", "--cpus-per-task=1"] {
            assert!(
                SCRIPT.contains(&format!("#SBATCH {directive}\n")),
                "{directive}"
            );
        }
    }
}
