//! The makemore MLP on Burn: build it from a config, train it, evaluate it, sample from it.
//!
//! ```no_run
//! use makemore_model::{BackendKind, Dataset, RunConfig, RunOptions, Silent};
//! use std::sync::atomic::AtomicBool;
//!
//! let cfg = RunConfig::from_toml_str("[train]\nsteps = 1000", "inline", &[]).unwrap();
//! let data = std::path::Path::new("../shared/data/names.txt");
//! let ds = Dataset::load(data, &cfg.data, cfg.model.block_size).unwrap();
//! let backend = BackendKind::Flex;
//! let stop = AtomicBool::new(false);
//! let opts = RunOptions::new(backend, backend.open().unwrap(), None, &stop);
//! let outcome = makemore_model::train(&cfg, &ds, data, &opts, &mut Silent).unwrap();
//! println!("val loss {:.4}", outcome.summary.val_loss);
//! ```
//!
//! Model code has no backend type parameter: tensors carry their `Device`, and Burn dispatches
//! at run time. Initial weights and minibatch indices come from host-side seeded RNGs, so a seed
//! gives the same run on every backend. ARCHITECTURE.md draws the modules' graph.
#![warn(missing_docs)]

pub mod activation;
pub mod backend;
pub mod budget;
/// The run configuration (the `makemore-config` crate).
pub use makemore_config as config;
#[cfg(any(feature = "flex", feature = "ndarray"))]
mod cpu;
pub mod data;
pub mod error;
pub mod eval;
pub mod host;
pub mod loss;
pub mod mlp;
pub mod norm;
pub mod optim;
/// Measurements behind the CPU kernels' choices: the matrix multiply they use, and the size
/// above which it runs on every core.
#[cfg(any(feature = "flex", feature = "ndarray"))]
pub mod perf {
    pub use makemore_kernels::{time_matmul, PARALLEL_MIN_MACS};
}
mod recording;
pub mod run;
pub mod run_dir;
pub mod sample;
pub mod tb;
pub mod trainer;
pub mod weights;

pub use backend::{BackendError, BackendKind};
pub use burn::module::Module;
pub use burn::tensor::Device;
pub use config::{ConfigError, ModelConfig, RunConfig, TrainConfig};
pub use cpu::{cpu_kernels, set_cpu_kernels};
pub use data::{Dataset, SPLITS};
pub use error::RunError;
pub use host::NamedTensor;
pub use mlp::{Mlp, Source};
pub use norm::{NormLayer, NormMode, NormOver, NormParts};
pub use recording::{config_hint, Diagnosis};
pub use run::{train, Observer, Outcome, RunOptions, SavedRun, Silent};
pub use run_dir::{Checkpoint, RunDir, RunInfo, RunSummary};
pub use trainer::Trainer;

pub use makemore_kernels::join_kernel_pool;
