//! The optimizers' settings (SGD, Adam, AdamW, RMSprop), with PyTorch's defaults.

use serde::{Deserialize, Serialize};

/// The optimizer, with PyTorch's semantics (`torch.optim.SGD`, `Adam`, `AdamW`, `RMSprop`).
///
/// In TOML: `optimizer = "sgd"` (any of `sgd`, `adam`, `adamw`, `rmsprop` with its defaults), or
/// a table such as `optimizer = { sgd = { momentum = 0.9, nesterov = true } }`.
///
/// ```
/// use makemore_config::RunConfig;
/// use makemore_config::OptimizerConfig;
/// let cfg = RunConfig::from_toml_str("[train]\noptimizer = { adamw = { weight_decay = 0.1 } }", "inline", &[]).unwrap();
/// let OptimizerConfig::AdamW(a) = cfg.train.optimizer else { panic!() };
/// assert_eq!((a.beta1, a.weight_decay), (0.9, 0.1));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "OptimizerRepr", into = "OptimizerRepr")]
pub enum OptimizerConfig {
    /// SGD, with optional momentum (`p -= lr * grad` without).
    Sgd(SgdConfig),
    /// Adam (Kingma & Ba), bias-corrected; weight decay as an L2 term in the gradient.
    Adam(AdamConfig),
    /// AdamW: Adam with decoupled weight decay (`p *= 1 - lr * weight_decay` first).
    AdamW(AdamConfig),
    /// RMSprop (Hinton), optionally centered and with momentum.
    Rmsprop(RmspropConfig),
}

impl Default for OptimizerConfig {
    fn default() -> Self {
        OptimizerConfig::Sgd(SgdConfig::default())
    }
}

/// The names a config may give an optimizer.
pub const OPTIMIZER_NAMES: [&str; 4] = ["sgd", "adam", "adamw", "rmsprop"];

/// How an optimizer is written: a name, or a table with one key, the name.
#[derive(Serialize, Deserialize)]
#[serde(untagged)]
enum OptimizerRepr {
    Name(String),
    Table(toml::Table),
}

/// The table form, read through TOML's own value so that its errors name the field.
#[derive(Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
enum Tagged {
    Sgd(SgdConfig),
    Adam(AdamConfig),
    Adamw(AdamWTable),
    Rmsprop(RmspropConfig),
}

/// AdamW's weight decay when its table leaves it out: `torch.optim.AdamW`'s default (Adam's is 0).
pub const ADAMW_WEIGHT_DECAY: f64 = 0.01;

/// AdamW's table: Adam's constants with AdamW's own default weight decay, which is always written
/// (so that a saved 0 reads back as 0, not as the default).
#[derive(Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct AdamWTable {
    beta1: f64,
    beta2: f64,
    eps: f64,
    weight_decay: f64,
}

impl Default for AdamWTable {
    fn default() -> Self {
        AdamConfig {
            weight_decay: ADAMW_WEIGHT_DECAY,
            ..AdamConfig::default()
        }
        .into()
    }
}

impl From<AdamConfig> for AdamWTable {
    fn from(a: AdamConfig) -> Self {
        AdamWTable {
            beta1: a.beta1,
            beta2: a.beta2,
            eps: a.eps,
            weight_decay: a.weight_decay,
        }
    }
}

impl From<AdamWTable> for AdamConfig {
    fn from(a: AdamWTable) -> Self {
        AdamConfig {
            beta1: a.beta1,
            beta2: a.beta2,
            eps: a.eps,
            weight_decay: a.weight_decay,
        }
    }
}

impl TryFrom<OptimizerRepr> for OptimizerConfig {
    type Error = String;
    fn try_from(r: OptimizerRepr) -> Result<Self, String> {
        let table = match r {
            OptimizerRepr::Name(n) if OPTIMIZER_NAMES.contains(&n.as_str()) => {
                let mut t = toml::Table::new();
                t.insert(n, toml::Value::Table(toml::Table::new()));
                t
            }
            OptimizerRepr::Name(n) => {
                return Err(format!(
                    "unknown optimizer {n:?}; expected one of: {}",
                    OPTIMIZER_NAMES.join(", ")
                ))
            }
            OptimizerRepr::Table(t) => t,
        };
        let tagged = toml::Value::Table(table)
            .try_into()
            .map_err(|e: toml::de::Error| {
                format!(
                    "{} (optimizers: {})",
                    e.message(),
                    OPTIMIZER_NAMES.join(", ")
                )
            })?;
        Ok(match tagged {
            Tagged::Sgd(c) => OptimizerConfig::Sgd(c),
            Tagged::Adam(c) => OptimizerConfig::Adam(c),
            Tagged::Adamw(c) => OptimizerConfig::AdamW(c.into()),
            Tagged::Rmsprop(c) => OptimizerConfig::Rmsprop(c),
        })
    }
}

impl From<OptimizerConfig> for OptimizerRepr {
    fn from(c: OptimizerConfig) -> Self {
        let tagged = match c {
            // Plain SGD keeps its short form, so configs saved before the options stay the same.
            OptimizerConfig::Sgd(s) if s == SgdConfig::default() => {
                return OptimizerRepr::Name("sgd".into())
            }
            OptimizerConfig::Sgd(c) => Tagged::Sgd(c),
            OptimizerConfig::Adam(c) => Tagged::Adam(c),
            OptimizerConfig::AdamW(c) => Tagged::Adamw(c.into()),
            OptimizerConfig::Rmsprop(c) => Tagged::Rmsprop(c),
        };
        match toml::Value::try_from(tagged) {
            Ok(toml::Value::Table(t)) => OptimizerRepr::Table(t),
            _ => OptimizerRepr::Name("sgd".into()), // unreachable: an enum of tables
        }
    }
}

fn is_zero(x: &f64) -> bool {
    *x == 0.0
}

/// SGD's options (`torch.optim.SGD`).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
pub struct SgdConfig {
    /// Momentum factor (0: none).
    pub momentum: f64,
    /// Dampening of the gradient in the momentum buffer.
    pub dampening: f64,
    /// Nesterov momentum (needs momentum > 0 and dampening 0).
    pub nesterov: bool,
    /// L2 weight decay added to the gradient.
    pub weight_decay: f64,
}

/// Adam's and AdamW's constants.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AdamConfig {
    /// First-moment decay.
    pub beta1: f64,
    /// Second-moment decay.
    pub beta2: f64,
    /// Denominator guard.
    pub eps: f64,
    /// Weight decay: an L2 term for Adam (default 0), decoupled for AdamW (default
    /// [`ADAMW_WEIGHT_DECAY`], PyTorch's, when a config leaves it out).
    #[serde(skip_serializing_if = "is_zero")]
    pub weight_decay: f64,
}

impl Default for AdamConfig {
    fn default() -> Self {
        Self {
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            weight_decay: 0.0,
        }
    }
}

/// RMSprop's constants (`torch.optim.RMSprop`).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RmspropConfig {
    /// Smoothing of the squared-gradient average.
    pub alpha: f64,
    /// Denominator guard.
    pub eps: f64,
    /// Momentum factor (0: none).
    pub momentum: f64,
    /// Divide by the gradient's estimated variance rather than its second moment.
    pub centered: bool,
    /// L2 weight decay added to the gradient.
    pub weight_decay: f64,
}

impl Default for RmspropConfig {
    fn default() -> Self {
        Self {
            alpha: 0.99,
            eps: 1e-8,
            momentum: 0.0,
            centered: false,
            weight_decay: 0.0,
        }
    }
}
