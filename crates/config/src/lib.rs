//! makemore's run configuration: data, model, initializers and training, as one TOML file.
//!
//! ```
//! use makemore_config::RunConfig;
//! let cfg = RunConfig::from_toml_str("[model]\nhidden = [100, 100]\n[train]\nsteps = 500", "inline", &[]).unwrap();
//! assert_eq!(cfg.model.hidden, [100, 100]);
//! assert_eq!(cfg.train.batch_size, 32); // everything unset keeps the lecture's value
//! ```
//!
//! Reading a config checks every range (`validate`) and names the offending field; nothing here
//! knows tensors, devices or Burn, so a tool can read, check and rewrite configs without them.
#![warn(missing_docs)]

pub mod edit;
pub mod model;
pub mod optimizer;
pub mod run;
pub mod schedule;
mod validate;

pub use model::{BatchNormConfig, BiasMode, GroupNormConfig, LayerNormConfig, ModelConfig, Norm};
pub use optimizer::{
    AdamConfig, OptimizerConfig, RmspropConfig, SgdConfig, ADAMW_WEIGHT_DECAY, OPTIMIZER_NAMES,
};
pub use run::{
    read_text, set_value, ConfigError, DataConfig, LogConfig, RunConfig, TrainConfig,
    DEFAULT_SATURATION_THRESHOLD,
};
pub use schedule::{LrSchedule, StepPoint};
