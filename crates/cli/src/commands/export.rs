//! `makemore export`: a finished (or paused) run's records in other tools' formats.

use crate::exit::{print_json, Failure};
use clap::Subcommand;
use makemore_train::RunDir;
use std::path::PathBuf;

/// What to export.
#[derive(Subcommand)]
pub enum ExportCommand {
    /// A TensorBoard event file (in RUN) from the run's metrics.jsonl, diagnostics.jsonl and
    /// summary.json.
    #[command(
        after_help = "Example:\n  makemore export tensorboard runs/bn && tensorboard --logdir runs"
    )]
    Tensorboard {
        /// The run directory.
        run: PathBuf,
        /// Replace the event files the run already has.
        #[arg(long)]
        force: bool,
        /// One JSON object on stdout.
        #[arg(long)]
        json: bool,
    },
}

/// Runs `makemore export`.
pub fn run(c: ExportCommand) -> Result<(), Failure> {
    let ExportCommand::Tensorboard { run, force, json } = c;
    let path = makemore_train::tb::export(&RunDir::new(&run), force)?;
    if json {
        print_json(&serde_json::json!({ "event_file": path.display().to_string() }));
    } else {
        println!("wrote {}", path.display());
    }
    Ok(())
}
