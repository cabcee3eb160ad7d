//! `makemore lecture`: the lecture's five experiments side by side with its numbers.

use super::builtin;
use super::common::{default_jobs, open_backend};
use super::lecture_page::{Page, RowRun};
use crate::exit::{print_json, Failure};
use crate::progress::Bar;
use makemore_model::{BackendKind, Dataset, Device, RunConfig, RunError};
use makemore_train::run_dir::{RUN_INFO, SUMMARY};
use makemore_train::{RunDir, RunOptions, RunSummary};
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// Flags of `makemore lecture`.
#[derive(clap::Args)]
#[command(
    after_help = "Examples:\n  makemore lecture --data ../shared/data/names.txt            # the full 200,000 steps per row\n  makemore lecture --steps 2000 --seeds 3 --json"
)]
pub struct LectureArgs {
    #[command(flatten)]
    common: crate::Common,
    /// Steps per run (the lecture: 200,000).
    #[arg(long, default_value_t = 200_000)]
    steps: u64,
    /// Runs per row, with seeds seed, seed+1, ...; the table shows the mean and the spread.
    #[arg(long, default_value_t = 1)]
    seeds: u64,
    /// First seed (default: each config's own).
    #[arg(long)]
    seed: Option<u64>,
    /// Runs side by side (the runs are independent). Default: on a CPU backend (flex, ndarray)
    /// one per core, at most one per run; on others 1.
    #[arg(long)]
    jobs: Option<usize>,
    /// Also write each run's directory under this folder (rerunning the command continues the
    /// runs there: finished ones are read, stopped ones resumed), and OUT/lecture.html: the
    /// lecture's pictures in its order (loss curves, histograms and saturation maps before and
    /// after each fix, Kaiming's spread, BatchNorm's statistics, the deep stack), with the PNGs
    /// and SVGs in OUT/pictures/.
    #[arg(long)]
    out: Option<PathBuf>,
    /// Write TensorBoard event files into each run's directory (needs --out).
    #[arg(long, requires = "out")]
    tensorboard: bool,
    /// With --out: a tanh output counts as saturated in the page's pictures beyond this (the
    /// lecture's histograms use 0.97, its saturation map 0.99); the runs are not affected.
    #[arg(long, requires = "out", allow_negative_numbers = true, default_value_t = makemore_model::config::DEFAULT_SATURATION_THRESHOLD)]
    saturation_threshold: f64,
    /// No progress bars.
    #[arg(long)]
    quiet: bool,
}

#[derive(Serialize, Clone)]
struct Row {
    variant: &'static str,
    runs: usize,
    first_loss: f64,
    train: f64,
    val: f64,
    train_spread: f64,
    val_spread: f64,
    lecture_train: f64,
    lecture_val: f64,
    val_minus_lecture: f64,
    parameters: usize,
    seconds: f64,
}

/// One finished run: its position in the queue, its row, and what it gave.
type Finished = (usize, &'static str, Result<RunSummary, RunError>);

fn mean(v: &[f64]) -> f64 {
    v.iter().sum::<f64>() / v.len() as f64
}

/// Sample standard deviation (0 for a single run).
fn spread(v: &[f64]) -> f64 {
    if v.len() < 2 {
        return 0.0;
    }
    let m = mean(v);
    (v.iter().map(|x| (x - m).powi(2)).sum::<f64>() / (v.len() - 1) as f64).sqrt()
}

/// More seeds than anyone would wait for; the configs for them are built up front.
const MAX_SEEDS: u64 = 10_000;

/// Runs `makemore lecture`.
pub fn run(a: LectureArgs) -> Result<(), Failure> {
    check_args(&a)?;
    let (backend, device) = open_backend(a.common.backend)?;
    let seeds = usize::try_from(a.seeds).unwrap_or(usize::MAX);
    let runs = builtin::LECTURE.len().saturating_mul(seeds);
    // No more threads than runs: a thread without a run would only wait.
    let jobs = a
        .jobs
        .unwrap_or_else(|| default_jobs(backend, runs))
        .min(runs);
    let data = a.common.data_path();
    super::data::ensure_default_corpus(&data)?;
    let pending = lecture_configs(&a)?;
    let cfg0 = &pending[0].1;
    // The runs side by side share the memory.
    let ds = Dataset::for_run(&data, cfg0, &a.common.memory.budget().shared(jobs))?;
    let runner = Runner {
        args: &a,
        backend,
        device,
        jobs,
        ds: &ds,
        data: &data,
    };
    let configs: Vec<RunConfig> = pending.iter().map(|(_, c)| c.clone()).collect();
    let done = successes(runner.train_all(pending))?;
    let rows = lecture_rows(&done);
    let page = match &a.out {
        Some(out) => Some(runner.write_page(out, &configs, &done)?),
        None => None,
    };
    report(&a, backend, jobs, &rows);
    if let Some(p) = page {
        if !a.common.json {
            println!("page: {}", p.display());
        }
    }
    Ok(())
}

/// Refuses `--seeds 0`, more than [`MAX_SEEDS`] seeds, `--jobs 0` and a saturation threshold
/// outside (0, 1).
fn check_args(a: &LectureArgs) -> Result<(), Failure> {
    if a.seeds == 0 {
        return Err(Failure::input("--seeds: must be >= 1"));
    }
    if a.seeds > MAX_SEEDS {
        return Err(Failure::input(format!(
            "--seeds: must be at most {MAX_SEEDS}"
        )));
    }
    if a.jobs == Some(0) {
        return Err(Failure::input("--jobs: must be >= 1"));
    }
    let t = a.saturation_threshold;
    if !(t > 0.0 && t < 1.0) {
        return Err(Failure::input(format!(
            "--saturation-threshold: must be between 0 and 1 (|tanh| beyond it is saturated), got {t}"
        )));
    }
    Ok(())
}

/// Every run of the lecture, row by row and seed by seed: each row's config with the flags'
/// steps, TensorBoard and seeds, checked.
fn lecture_configs(a: &LectureArgs) -> Result<Vec<(&'static str, RunConfig)>, Failure> {
    let mut pending = Vec::new();
    for (name, text, _, _) in builtin::LECTURE {
        let source = format!("configs/lecture/{name}.toml");
        let mut base = RunConfig::from_toml_str(text, &source, &[])?;
        base.train.steps = a.steps;
        base.log.tensorboard = a.tensorboard;
        base.validate("--steps")?;
        for k in 0..a.seeds {
            let mut cfg = base.clone();
            let first = a.seed.unwrap_or(cfg.train.seed);
            cfg.train.seed = first.checked_add(k).ok_or_else(|| {
                Failure::input(format!(
                    "--seed {first} with --seeds {}: the last seed would pass {}",
                    a.seeds,
                    u64::MAX
                ))
            })?;
            cfg.validate("--seed")?;
            pending.push((name, cfg));
        }
    }
    Ok(pending)
}

/// What every run of the lecture shares: the flags, the backend, the corpus.
struct Runner<'a> {
    /// The flags.
    args: &'a LectureArgs,
    /// Which backend `device` belongs to.
    backend: BackendKind,
    /// The device every run trains on.
    device: Device,
    /// Runs side by side.
    jobs: usize,
    /// The corpus, loaded once.
    ds: &'a Dataset,
    /// Where the corpus came from.
    data: &'a Path,
}

impl Runner<'_> {
    /// Trains the `pending` runs on [`Self::jobs`] threads, each taking the next run from a
    /// shared queue; the results come back in queue order.
    fn train_all(&self, pending: Vec<(&'static str, RunConfig)>) -> Vec<Finished> {
        let stop = super::common::stop_flag();
        let queue = Mutex::new(pending.into_iter().enumerate().collect::<Vec<_>>());
        let results: Mutex<Vec<Finished>> = Mutex::new(Vec::new());
        let work = || loop {
            let Some((i, (name, cfg))) = queue.lock().expect("queue lock").pop() else {
                break;
            };
            let r = self.train_one(name, &cfg, stop);
            results.lock().expect("results lock").push((i, name, r));
        };
        // This thread is one of the jobs: a job thread that cannot start (a tight ulimit)
        // leaves fewer side by side, never none.
        std::thread::scope(|s| {
            for _ in 1..self.jobs {
                if std::thread::Builder::new().spawn_scoped(s, work).is_err() {
                    break;
                }
            }
            work();
        });
        let mut results = results.into_inner().expect("results lock");
        results.sort_by_key(|r| r.0);
        results
    }

    /// Writes `OUT/lecture.html` and its pictures from each row's first run.
    fn write_page(
        &self,
        out: &Path,
        configs: &[RunConfig],
        done: &[(&'static str, RunSummary)],
    ) -> Result<PathBuf, Failure> {
        let mut rows = Vec::new();
        for (name, _, train, val) in builtin::LECTURE {
            let Some(((_, summary), cfg)) = done.iter().zip(configs).find(|((n, _), _)| *n == name)
            else {
                continue;
            };
            rows.push(RowRun {
                name,
                cfg,
                dir: out.join(format!("{name}-seed{}", cfg.train.seed)),
                summary,
                lecture: (train, val),
            });
        }
        let page = Page {
            out,
            ds: self.ds,
            backend: self.backend,
            device: &self.device,
            stop: super::common::stop_flag(),
            threshold: self.args.saturation_threshold,
        };
        Ok(page.write(&rows)?)
    }

    /// Trains one run of the row `name`, into its directory under `--out` if given, and says
    /// how it ended unless `--quiet`.
    fn train_one(
        &self,
        name: &'static str,
        cfg: &RunConfig,
        stop: &'static std::sync::atomic::AtomicBool,
    ) -> Result<RunSummary, RunError> {
        let a = self.args;
        let out = a
            .out
            .as_ref()
            .map(|d| d.join(format!("{name}-seed{}", cfg.train.seed)));
        let mut opts = RunOptions::new(self.backend, self.device.clone(), out, stop);
        // A run of this config already there is not trained again: a finished one gives its
        // summary, a stopped one resumes (rerunning the command continues it).
        if let Some(dir) = opts.out.as_ref().map(RunDir::new) {
            if dir.holds_run() && dir.read_config_text()? == cfg.to_toml() {
                // Same config, but maybe another --data: its results say nothing of this corpus.
                dir.read_info()?
                    .check_corpus(self.ds, &dir.file(RUN_INFO))?;
                if dir.is_finished() {
                    return dir.read_json(SUMMARY);
                }
                // Stopped before its first checkpoint, it starts over (nothing to lose).
                opts.resume = true;
            }
        }
        let mut bar = Bar::new(a.quiet || self.jobs > 1, name);
        let r = makemore_train::train(cfg, self.ds, self.data, &opts, &mut bar).map(|o| o.summary);
        if !a.quiet {
            if let Ok(s) = &r {
                eprintln!(
                    "{name} (seed {}): train {:.4} val {:.4} in {:.0} s",
                    s.seed, s.train_loss, s.val_loss, s.seconds
                );
            }
        }
        r
    }
}

/// The finished runs' summaries, in queue order; the first run that failed decides the exit
/// status instead, as `train` would: 130 for Ctrl-C, 3 for a divergence, 1 for I/O, 2 for bad
/// input.
fn successes(results: Vec<Finished>) -> Result<Vec<(&'static str, RunSummary)>, Failure> {
    let mut done = Vec::new();
    for (_, name, r) in results {
        match r {
            Ok(s) => done.push((name, s)),
            // lecture has no --force: name what it does take.
            Err(RunError::OutputExists { path }) => {
                return Err(Failure::input(format!(
                    "{name}: {}: already exists; move it, or give another --out",
                    path.display()
                )));
            }
            Err(e @ (RunError::CorpusDiffers { .. } | RunError::VocabularyDiffers { .. })) => {
                return Err(Failure::input(format!(
                    "{name}: {e}; give another --out, or pass the corpus these runs were trained on (--data)"
                )));
            }
            Err(RunError::RunExists { dir, .. }) => {
                return Err(Failure::input(format!(
                    "{name}: {}: already holds a run of another config (other --steps or --seed?); give another --out, or remove it",
                    dir.display()
                )));
            }
            Err(e) => {
                let f = Failure::from(e);
                return Err(Failure {
                    message: format!("{name}: {}", f.message),
                    ..f
                });
            }
        }
    }
    Ok(done)
}

/// One row per lecture variant: the mean and spread of its runs beside the lecture's numbers.
fn lecture_rows(done: &[(&'static str, RunSummary)]) -> Vec<Row> {
    let mut rows = Vec::new();
    for (name, _, lecture_train, lecture_val) in builtin::LECTURE {
        let runs: Vec<RunSummary> = done
            .iter()
            .filter(|(n, _)| *n == name)
            .map(|(_, s)| s.clone())
            .collect();
        let f = |g: fn(&RunSummary) -> f64| runs.iter().map(g).collect::<Vec<f64>>();
        let (train, val) = (f(|s| s.train_loss), f(|s| s.val_loss));
        rows.push(Row {
            variant: name,
            runs: runs.len(),
            first_loss: mean(&f(|s| s.first_loss)),
            train: mean(&train),
            val: mean(&val),
            train_spread: spread(&train),
            val_spread: spread(&val),
            lecture_train,
            lecture_val,
            val_minus_lecture: mean(&val) - lecture_val,
            parameters: runs[0].parameters,
            seconds: f(|s| s.seconds).iter().sum(),
        });
    }
    rows
}

/// Prints the rows: as JSON with `--json`, else a Markdown table under a line on the setup.
fn report(a: &LectureArgs, backend: BackendKind, jobs: usize, rows: &[Row]) {
    if a.common.json {
        print_json(
            &serde_json::json!({ "steps": a.steps, "seeds": a.seeds, "backend": backend.name(), "jobs": jobs, "rows": rows }),
        );
    } else {
        println!(
            "{} steps per run, {} seed(s), backend {}, {jobs} side by side",
            a.steps,
            a.seeds,
            backend.name()
        );
        println!(
            "| variant | first loss | train | val | lecture train | lecture val | val - lecture |"
        );
        println!("|---|---|---|---|---|---|---|");
        for r in rows {
            let pm = |x: f64, s: f64| {
                if r.runs > 1 {
                    format!("{x:.4} ± {s:.4}")
                } else {
                    format!("{x:.4}")
                }
            };
            println!(
                "| {} | {:.4} | {} | {} | {:.4} | {:.4} | {:+.4} |",
                r.variant,
                r.first_loss,
                pm(r.train, r.train_spread),
                pm(r.val, r.val_spread),
                r.lecture_train,
                r.lecture_val,
                r.val_minus_lecture
            );
        }
    }
}
