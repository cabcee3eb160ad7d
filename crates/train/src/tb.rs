//! A run's TensorBoard event file (`RUN/events.out.tfevents.*`, so that `tensorboard --logdir`
//! names the run after its directory): what a run puts in it (the loss and learning rate at every
//! log point, the diagnostics at every recorded step, the split losses at the end), keeping it in
//! step with the checkpoints, and exporting a finished run's files into one after the fact. Runs
//! written before kept theirs in `RUN/tb/`: a resume goes on writing that file where it is.

use crate::checkpoint::Checkpoint;
use crate::run_dir::{
    event_files, parse_jsonl, RunDir, RunSummary, CHECKPOINT, DIAGNOSTICS, METRICS, SUMMARY, TB_DIR,
};
use makemore_diagnostics::tensorboard::{event_file_name, EventLog};
use makemore_diagnostics::DiagnosticRecord;
use makemore_model::error::RunError;
use makemore_model::trainer::LogPoint;
use std::path::PathBuf;
use std::time::{SystemTime, UNIX_EPOCH};

fn now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

fn host() -> String {
    std::fs::read_to_string("/etc/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".into())
}

/// A run's event log, kept in memory and written whole (atomically) with each checkpoint.
pub struct TbLog {
    log: EventLog,
    /// The event file's path.
    pub path: PathBuf,
}

impl TbLog {
    /// A new, empty event file for the run in `dir`, directly in it (not written until
    /// [`TbLog::write`]).
    pub fn start(dir: &RunDir) -> Result<Self, RunError> {
        let wall = now();
        let name = event_file_name(wall as u64, &host(), std::process::id());
        Ok(Self {
            log: EventLog::new(wall),
            path: dir.file(&name),
        })
    }

    /// The run's event file as it was at the checkpoint `from`: events of later steps (written
    /// before an interruption) are dropped, so a resumed run appends without duplicating steps. A
    /// run at step 0 without an event file yet starts one. The event file is derived data: one
    /// that cannot be read (damaged, truncated) or is missing is rebuilt from the checkpoint's
    /// metrics and diagnostics, and the returned warning says so.
    pub fn resume(dir: &RunDir, from: &Checkpoint) -> Result<(Self, Option<String>), RunError> {
        let found = event_files(dir).pop();
        let why = match &found {
            Some(path) => {
                let read = std::fs::read(path).map_err(|e| e.to_string());
                match read.and_then(|b| EventLog::from_bytes(&b).map_err(|e| e.to_string())) {
                    Ok(mut log) => {
                        log.truncate_after(step_of(from.step));
                        let path = path.clone();
                        return Ok((Self { log, path }, None));
                    }
                    Err(e) => format!("{}: cannot be read ({e})", path.display()),
                }
            }
            None if from.step == 0 => return Ok((Self::start(dir)?, None)),
            None => format!("{}: no event file", dir.path().display()),
        };
        let mut tb = match found {
            Some(path) => Self {
                log: EventLog::new(now()),
                path,
            },
            None => Self::start(dir)?,
        };
        let points: Vec<LogPoint> = parse_jsonl(&from.metrics, &dir.file(CHECKPOINT))?;
        points.iter().for_each(|p| tb.log_point(p));
        from.records()?.iter().for_each(|r| tb.record(r));
        let warning = format!("{why}; rebuilt from the checkpoint's metrics and diagnostics");
        Ok((tb, Some(warning)))
    }

    /// The minibatch loss and the learning rate at a log point.
    pub fn log_point(&mut self, p: &LogPoint) {
        let (step, wall) = (step_of(p.step), now());
        self.log
            .push_scalar("loss/minibatch", step, wall, p.loss as f32);
        self.log.push_scalar("train/lr", step, wall, p.lr as f32);
    }

    /// Every statistic of a recorded step.
    pub fn record(&mut self, r: &DiagnosticRecord) {
        self.log.push_record(r, now());
    }

    /// The split losses of a finished run, at its last step.
    pub fn finished(&mut self, s: &RunSummary) {
        let (step, wall) = (step_of(s.steps), now());
        for (name, loss) in [
            ("train", s.train_loss),
            ("val", s.val_loss),
            ("test", s.test_loss),
        ] {
            if loss.is_finite() {
                self.log
                    .push_scalar(&format!("loss/{name}"), step, wall, loss as f32);
            }
        }
    }

    /// Writes the whole file atomically.
    pub fn write(&self) -> Result<(), RunError> {
        makemore_files::write_atomic(&self.path, self.log.as_bytes())
            .map_err(RunError::io(&self.path))
    }
}

fn step_of(step: u64) -> i64 {
    i64::try_from(step).unwrap_or(i64::MAX)
}

/// Writes an event file for the run in `dir` from its `metrics.jsonl`, `diagnostics.jsonl` (when
/// it has one) and `summary.json` (when it finished). Refuses to replace existing event files
/// (in the run directory or an older run's `tb` folder) unless `force`, when they are removed
/// once the new one is written, with the `tb` folder if that leaves it empty. Returns the file
/// written.
pub fn export(dir: &RunDir, force: bool) -> Result<PathBuf, RunError> {
    if !dir.holds_run() {
        return Err(RunError::bad(
            dir.path(),
            "not a run directory (config.toml is missing)",
        ));
    }
    let _lock = dir.lock()?; // not while a run writes here
    if !dir.file(METRICS).is_file() {
        return Err(RunError::bad(
            &dir.file(METRICS),
            "missing: the run has not logged a step yet",
        ));
    }
    let existing = event_files(dir);
    if !existing.is_empty() && !force {
        return Err(RunError::OutputExists {
            path: existing[0].clone(),
        });
    }
    // Everything is read and checked before anything is written.
    let points: Vec<LogPoint> = dir.read_jsonl(METRICS)?;
    // A paused or interrupted run has its records so far in its checkpoint only.
    let records: Vec<DiagnosticRecord> = if dir.file(DIAGNOSTICS).is_file() {
        dir.read_jsonl(DIAGNOSTICS)?
    } else if dir.file(CHECKPOINT).is_file() {
        dir.read_checkpoint()?.records()?
    } else {
        Vec::new()
    };
    let summary: Option<RunSummary> = match dir.file(SUMMARY).is_file() {
        true => Some(dir.read_json(SUMMARY)?),
        false => None,
    };
    let mut tb = TbLog::start(dir)?;
    points.iter().for_each(|p| tb.log_point(p));
    records.iter().for_each(|r| tb.record(r));
    if let Some(s) = &summary {
        tb.finished(s);
    }
    tb.write()?;
    let old_dir = dir.file(TB_DIR);
    let mut emptied = false;
    let stale = crate::run_dir::unfinished_event_files(dir);
    for old in existing.into_iter().chain(stale).filter(|p| p != &tb.path) {
        std::fs::remove_file(&old).map_err(RunError::io(&old))?;
        emptied |= old.parent() == Some(old_dir.as_path());
    }
    if emptied {
        // Only when empty: whatever else someone keeps there stays.
        let _ = std::fs::remove_dir(&old_dir);
    }
    Ok(tb.path)
}
