//! The makemore MLP on Burn: build it from a config, train it, evaluate it, sample from it.
//!
//! ```no_run
//! use makemore_model::{BackendKind, Dataset, RunConfig, Trainer};
//!
//! let cfg = RunConfig::from_toml_str("[train]\nsteps = 1000", "inline", &[]).unwrap();
//! let ds = Dataset::load("../shared/data/names.txt".as_ref(), &cfg.data, cfg.model.block_size).unwrap();
//! let device = BackendKind::Flex.open().unwrap();
//! let mut trainer = Trainer::start(&cfg, &ds, &device, None).unwrap();
//! for _ in 0..1000 {
//!     trainer.step();
//! }
//! let model = makemore_model::Module::valid(trainer.model());
//! let [train, val, _test] = makemore_model::eval::evaluate(&model, &ds, &device);
//! println!("train {train:.4} val {val:.4}");
//! ```
//!
//! Model code has no backend type parameter: tensors carry their `Device`, and Burn dispatches
//! at run time. Initial weights and minibatch indices come from host-side seeded RNGs, so a seed
//! gives the same run on every backend. A whole run on disk (checkpoints,
//! metrics, resuming) is `makemore-train`'s; ARCHITECTURE.md draws the crates' graph.
#![warn(missing_docs)]
// Without a CPU backend the CPU path's host rules and helpers are compiled but never called.
#![cfg_attr(
    not(any(feature = "flex", feature = "ndarray")),
    allow(dead_code, unused_mut, unused_imports, unused_variables, unused_macros)
)]

pub mod activation;
pub mod backend;
pub mod budget;
/// The run configuration (the `makemore-config` crate).
pub use makemore_config as config;
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
pub mod perf {
    pub use makemore_kernels::{time_matmul, PARALLEL_MIN_MACS};
}
pub mod sample;
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
pub use trainer::Trainer;

pub use makemore_kernels::{join_kernel_pool, start_kernel_pool};
