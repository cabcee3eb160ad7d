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
pub mod config;
pub mod data;
pub mod error;
pub mod eval;
#[cfg(any(feature = "flex", feature = "ndarray"))]
mod fused;
pub mod host;
#[cfg(any(feature = "flex", feature = "ndarray"))]
mod host_train;
pub mod loss;
pub mod math;
pub mod mlp;
pub mod norm;
pub mod optim;
/// Measurements behind the CPU kernels' choices: the matrix multiply they use, and the size
/// above which it runs on every core.
#[cfg(any(feature = "flex", feature = "ndarray"))]
pub mod perf {
    pub use crate::fused::{time_matmul, PARALLEL_MIN_MACS};
}
mod recording;
pub mod run;
pub mod run_dir;
pub mod sample;
pub mod schedule;
pub mod tb;
pub mod trainer;
pub mod weights;

pub use backend::{BackendError, BackendKind};
pub use burn::module::Module;
pub use burn::tensor::Device;
pub use config::{ConfigError, ModelConfig, RunConfig, TrainConfig};
pub use data::{Dataset, SPLITS};
pub use error::RunError;
pub use fused::{cpu_kernels, set_cpu_kernels};
pub use host::NamedTensor;
pub use mlp::{Mlp, Source};
pub use norm::{NormLayer, NormMode, NormOver, NormParts};
pub use recording::{config_hint, Diagnosis};
pub use run::{train, Observer, Outcome, RunOptions, SavedRun, Silent};
pub use run_dir::{Checkpoint, RunDir, RunInfo, RunSummary};
pub use trainer::Trainer;

/// Makes the calling thread one of the threads the CPU kernels split their work over (thread 0
/// of rayon's global pool), so that the splits of a training step, an evaluation or sampling
/// made on it start and end there instead of waking it from the pool each time. `makemore`
/// calls it first thing; a Burn user training on the CPU backends may too, on these terms:
/// - before anything uses rayon (the global pool is set up once per process);
/// - on a thread that lives as long as the process (the pool keeps its place);
/// - on a thread that does not wait for other threads doing the kernels' work: while it waits
///   outside rayon it runs none of the pool's jobs (`makemore lecture` and `sweep`, whose runs
///   train on threads of their own, do not join).
///
/// True when it joined. False, with nothing changed, without a CPU backend compiled in, when
/// the pool would have a single thread, when the calling thread already belongs to a pool, or
/// when rayon's global pool already exists; also false if rayon could not start the pool's
/// other threads, and then the global pool is unusable, as it would be anyway.
///
/// ```
/// let joined = makemore_model::join_kernel_pool();
/// assert!(!makemore_model::join_kernel_pool(), "only once");
/// # let _ = joined;
/// ```
pub fn join_kernel_pool() -> bool {
    #[cfg(any(feature = "flex", feature = "ndarray"))]
    let joined = fused::join_kernel_pool();
    #[cfg(not(any(feature = "flex", feature = "ndarray")))]
    let joined = false;
    joined
}
