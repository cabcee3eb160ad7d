//! A makemore run on disk: train a config into a run directory (checkpoints, metrics,
//! diagnostics, a TensorBoard file, the model and its summary), resume it after a kill, load it
//! back.
//!
//! ```no_run
//! use makemore_model::{BackendKind, Dataset, RunConfig};
//! use makemore_train::{RunOptions, Silent};
//! use std::sync::atomic::AtomicBool;
//!
//! let cfg = RunConfig::from_toml_str("[train]\nsteps = 1000", "inline", &[]).unwrap();
//! let data = std::path::Path::new("../shared/data/names.txt");
//! let ds = Dataset::load(data, &cfg.data, cfg.model.block_size).unwrap();
//! let backend = BackendKind::Flex;
//! let stop = AtomicBool::new(false);
//! let opts = RunOptions::new(backend, backend.open().unwrap(), None, &stop);
//! let outcome = makemore_train::train(&cfg, &ds, data, &opts, &mut Silent).unwrap();
//! println!("val loss {:.4}", outcome.summary.val_loss);
//! ```
//!
//! The training loop is `makemore_model::Trainer`'s: it takes a state and calls hooks, and knows
//! no file. This crate supplies the hooks that write metrics and checkpoints through
//! [`RunDir`], record diagnostics (`recording`) and keep the event file in step (`tb`).
#![warn(missing_docs)]

mod checkpoint;
pub mod doctor;
mod lock;
mod recording;
pub mod remedy;
pub mod run;
pub mod run_dir;
mod saved;
pub mod tb;

pub use checkpoint::Checkpoint;
pub use lock::RunLock;
pub use recording::{advice_of, config_hint, probe, Diagnosis};
pub use run::{train, Observer, Outcome, RunOptions, Silent};
pub use run_dir::{RunDir, RunInfo, RunSummary};
pub use saved::SavedRun;
