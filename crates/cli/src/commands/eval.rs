//! `makemore eval`.

use super::common::open_backend;
use crate::exit::{print_json, Failure};
use makemore_data::Corpus;
use makemore_model::config::Norm;
use makemore_model::data::DeviceWindows;
use makemore_model::eval::{calibrate, split_loss};
use makemore_model::{Dataset, SPLITS};
use makemore_train::{RunDir, SavedRun};
use std::path::PathBuf;

/// Which saved run to load, with which corpus and backend, and how to report.
#[derive(clap::Args)]
pub struct SavedRunArgs {
    /// The run directory written by `makemore train`.
    #[arg(long)]
    pub run: PathBuf,
    /// The corpus (default: the one the run was trained on).
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// flex, ndarray, wgpu or tch.
    #[arg(long, env = "MAKEMORE_BACKEND", default_value = "flex", value_parser = super::common::BackendParser)]
    pub backend: makemore_model::BackendKind,
    /// One JSON object on stdout.
    #[arg(long)]
    pub json: bool,
    /// Use another corpus than the run was trained on (its characters must be in the run's
    /// vocabulary).
    #[arg(long)]
    pub other_corpus: bool,
    /// Use the weights of the run's last checkpoint (a paused or interrupted run has no others).
    #[arg(long)]
    pub checkpoint: bool,
    #[command(flatten)]
    pub memory: super::common::MemoryArgs,
}

/// Flags of `makemore eval`.
#[derive(clap::Args)]
#[command(after_help = "Example:\n  makemore eval --run runs/bn --split all --calibrate")]
pub struct EvalArgs {
    #[command(flatten)]
    saved: SavedRunArgs,
    /// train, val, test or all.
    #[arg(long, default_value = "all")]
    split: String,
    /// Also recompute the BatchNorm statistics over the whole training split and report both.
    #[arg(long)]
    calibrate: bool,
}

/// Refuses, before anything large is read, a run whose model and corpus would not fit in the
/// memory budget (`--max-memory`, else the system's limits): its config and vocabulary are
/// small, and the corpus's size in bytes bounds its windows. A run whose files cannot be read
/// is left for the load to report.
fn check_memory(a: &SavedRunArgs, calibrate: bool) -> Result<(), Failure> {
    let run = RunDir::new(&a.run);
    let (Ok(cfg), Ok(info)) = (run.read_config(), run.read_info()) else {
        return Ok(());
    };
    let data = a.data.clone().unwrap_or_else(|| PathBuf::from(&info.data));
    let windows = std::fs::metadata(&data).map_or(0, |m| m.len() as usize);
    let mut needs = makemore_model::budget::evaluation_needs(&cfg, info.vocab.len(), windows);
    if calibrate {
        needs.extend(makemore_model::budget::calibration_needs(
            &cfg,
            info.vocab.len(),
            windows,
        ));
    }
    a.memory.budget().check(&needs)?;
    Ok(())
}

/// Loads a run and its corpus, re-split exactly as in training; refuses another corpus than the
/// run's unless `--other-corpus`.
pub fn load_run(
    a: &SavedRunArgs,
    calibrate: bool,
) -> Result<(SavedRun, Dataset, makemore_model::Device), Failure> {
    check_memory(a, calibrate)?;
    let (_, device) = open_backend(a.backend)?;
    let saved = SavedRun::load(&a.run, &device, a.checkpoint)?;
    let path = a
        .data
        .clone()
        .unwrap_or_else(|| PathBuf::from(&saved.info.data));
    let corpus = Corpus::load(&path, saved.info.vocab.boundary(), None)?;
    let ds = Dataset::with_vocab(
        corpus,
        saved.info.vocab.clone(),
        &saved.config.data,
        saved.config.model.block_size,
    )
    .map_err(|e| {
        Failure::input(format!(
            "{}: does not match the run's vocabulary: {e}",
            path.display()
        ))
    })?;
    if !a.other_corpus {
        let info = RunDir::new(&a.run).file(makemore_train::run_dir::RUN_INFO);
        saved.info.check_corpus(&ds, &info).map_err(|e| {
            let mut f = Failure::from(e);
            f.message
                .push_str(", or --other-corpus to use this one anyway");
            f
        })?;
    }
    Ok((saved, ds, device))
}

/// Runs `makemore eval`.
pub fn run(a: EvalArgs) -> Result<(), Failure> {
    let wanted: Vec<usize> = match a.split.as_str() {
        "all" => vec![0, 1, 2],
        s => vec![SPLITS.iter().position(|n| *n == s).ok_or_else(|| {
            Failure::input(format!(
                "--split: unknown {s:?}; expected train, val, test or all"
            ))
        })?],
    };
    let (saved, ds, device) = load_run(&a.saved, a.calibrate)?;
    let m = &saved.config.model;
    let running = [m.norm, m.output_norm]
        .iter()
        .any(|n| matches!(n, Norm::BatchNorm(b) if b.track_running_stats));
    if a.calibrate && !running {
        return Err(Failure::input(format!(
            "--calibrate: the model in {} keeps no BatchNorm running statistics (model.norm and model.output_norm), so there is nothing to recalibrate",
            a.saved.run.display()
        )));
    }
    let data: Vec<DeviceWindows> = ds
        .windows
        .iter()
        .map(|w| DeviceWindows::new(w, &device))
        .collect();
    let mut report = serde_json::Map::new();
    let losses: Vec<f64> = wanted
        .iter()
        .map(|&i| split_loss(&saved.model, &data[i]))
        .collect();
    let calibrated: Option<Vec<f64>> = a.calibrate.then(|| {
        calibrate(&saved.model, &data[0]);
        wanted
            .iter()
            .map(|&i| split_loss(&saved.model, &data[i]))
            .collect()
    });
    for (k, &i) in wanted.iter().enumerate() {
        let mut entry = serde_json::json!({ "loss": losses[k], "windows": data[i].len });
        if let Some(c) = &calibrated {
            entry["calibrated_loss"] = serde_json::json!(c[k]);
        }
        report.insert(SPLITS[i].into(), entry);
    }
    if a.saved.json {
        print_json(
            &serde_json::json!({ "run": a.saved.run.display().to_string(), "splits": report }),
        );
    } else {
        for (k, &i) in wanted.iter().enumerate() {
            match &calibrated {
                Some(c) => println!(
                    "{:<5} {:.4}  (calibrated BatchNorm statistics: {:.4})",
                    SPLITS[i], losses[k], c[k]
                ),
                None => println!("{:<5} {:.4}", SPLITS[i], losses[k]),
            }
        }
    }
    Ok(())
}
