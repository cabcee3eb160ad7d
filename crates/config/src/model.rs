//! The network's description: widths, embedding, activation, normalization, residual links.

use makemore_init::Activation;
use serde::{Deserialize, Serialize};

/// Normalization after a Linear layer: `"none"`, `{ batch_norm = {} }`, `{ layer_norm = {} }`
/// or `{ group_norm = { groups = 4 } }`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Norm {
    /// None.
    #[default]
    None,
    /// BatchNorm1d: per feature, over the batch.
    BatchNorm(BatchNormConfig),
    /// LayerNorm: per example, over all features.
    LayerNorm(LayerNormConfig),
    /// GroupNorm: per example, over each group of features.
    GroupNorm(GroupNormConfig),
}

impl Norm {
    /// The layer's name in config keys: `batch_norm`, `layer_norm`, `group_norm`.
    pub fn key(&self) -> Option<&'static str> {
        match self {
            Norm::None => None,
            Norm::BatchNorm(_) => Some("batch_norm"),
            Norm::LayerNorm(_) => Some("layer_norm"),
            Norm::GroupNorm(_) => Some("group_norm"),
        }
    }

    /// Its `eps`, `affine` and initial gamma.
    pub fn common(&self) -> Option<(f64, bool, f64)> {
        match self {
            Norm::None => None,
            Norm::BatchNorm(c) => Some((c.eps, c.affine, c.gamma)),
            Norm::LayerNorm(c) => Some((c.eps, c.affine, 1.0)),
            Norm::GroupNorm(c) => Some((c.eps, c.affine, 1.0)),
        }
    }
}

fn yes() -> bool {
    true
}

fn is_true(b: &bool) -> bool {
    *b
}

/// BatchNorm1d settings (PyTorch's names and defaults).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BatchNormConfig {
    /// Weight of the new batch in the running statistics: `new = (1 - m) * old + m * batch`.
    pub momentum: f64,
    /// Added to the variance before the square root.
    pub eps: f64,
    /// Initial value of gamma (the lecture's deep stack scales the output one by 0.1).
    pub gamma: f64,
    /// A learned scale and shift (gamma, beta) per feature.
    #[serde(skip_serializing_if = "is_true")]
    pub affine: bool,
    /// Keep running statistics for evaluation. Without them evaluation normalizes with the
    /// statistics of the batch it is given: a split is evaluated in chunks, and sampling one
    /// name at a time normalizes a single row, which makes every output equal to beta (the
    /// model then ignores its context).
    #[serde(skip_serializing_if = "is_true")]
    pub track_running_stats: bool,
}

impl Default for BatchNormConfig {
    fn default() -> Self {
        Self {
            momentum: 0.1,
            eps: 1e-5,
            gamma: 1.0,
            affine: true,
            track_running_stats: true,
        }
    }
}

/// LayerNorm settings: per example, over the features.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LayerNormConfig {
    /// Added to the variance before the square root.
    pub eps: f64,
    /// A learned scale and shift per feature.
    #[serde(skip_serializing_if = "is_true")]
    pub affine: bool,
}

impl Default for LayerNormConfig {
    fn default() -> Self {
        Self {
            eps: 1e-5,
            affine: true,
        }
    }
}

fn default_eps() -> f64 {
    1e-5
}

/// GroupNorm settings: per example, over each of `groups` equal groups of features.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GroupNormConfig {
    /// Number of groups; must divide the width of every layer it follows.
    pub groups: usize,
    /// Added to the variance before the square root.
    #[serde(default = "default_eps")]
    pub eps: f64,
    /// A learned scale and shift per feature.
    #[serde(default = "yes", skip_serializing_if = "is_true")]
    pub affine: bool,
}

/// Whether Linear layers have a bias.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(try_from = "BiasRepr", into = "BiasRepr")]
pub enum BiasMode {
    /// A bias except where a normalization follows (BatchNorm subtracts it anyway).
    #[default]
    Auto,
    /// Always.
    Always,
    /// Never.
    Never,
}

/// How a bias mode is written: `"auto"`, `true` or `false`.
#[derive(Serialize, Deserialize)]
#[serde(untagged)]
enum BiasRepr {
    Fixed(bool),
    Word(String),
}

impl TryFrom<BiasRepr> for BiasMode {
    type Error = String;
    fn try_from(r: BiasRepr) -> Result<Self, String> {
        match r {
            BiasRepr::Fixed(true) => Ok(BiasMode::Always),
            BiasRepr::Fixed(false) => Ok(BiasMode::Never),
            BiasRepr::Word(w) if w == "auto" => Ok(BiasMode::Auto),
            BiasRepr::Word(w) => Err(format!(
                r#"invalid value: string {w:?}, expected "auto", true or false"#
            )),
        }
    }
}

impl From<BiasMode> for BiasRepr {
    fn from(b: BiasMode) -> Self {
        match b {
            BiasMode::Auto => BiasRepr::Word("auto".into()),
            BiasMode::Always => BiasRepr::Fixed(true),
            BiasMode::Never => BiasRepr::Fixed(false),
        }
    }
}

impl BiasMode {
    /// Whether a Linear followed by `norm` gets a bias.
    pub fn has_bias(&self, norm: &Norm) -> bool {
        match self {
            BiasMode::Auto => matches!(norm, Norm::None),
            BiasMode::Always => true,
            BiasMode::Never => false,
        }
    }
}

/// The network's shape.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ModelConfig {
    /// Context length in tokens.
    pub block_size: usize,
    /// Embedding width.
    pub n_embd: usize,
    /// Widths of the hidden layers.
    pub hidden: Vec<usize>,
    /// Nonlinearity after each hidden layer.
    pub activation: Activation,
    /// Normalization after each hidden Linear.
    pub norm: Norm,
    /// Normalization on the logits.
    pub output_norm: Norm,
    /// Whether Linear layers have a bias.
    pub bias: BiasMode,
    /// Residual links: `h = h + block(h)` for every hidden block whose input and output widths
    /// match (a block is Linear -> norm -> activation).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub residual: bool,
    /// With `residual`, a learned scalar per block that multiplies the branch,
    /// `h = h + alpha * block(h)`, starting at this value (1: plain; 0: ReZero / SkipInit).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub residual_scale: Option<f64>,
}

impl ModelConfig {
    /// Indices of the hidden blocks that get a residual link (with `residual`): those whose
    /// input width equals their output width.
    pub fn residual_blocks(&self) -> impl Iterator<Item = usize> + '_ {
        let input = self.n_embd.saturating_mul(self.block_size);
        let inputs = std::iter::once(input).chain(self.hidden.iter().copied());
        inputs
            .zip(&self.hidden)
            .enumerate()
            .filter(|(_, (fan_in, &w))| *fan_in == w)
            .map(|(i, _)| i)
    }
}

impl Default for ModelConfig {
    fn default() -> Self {
        Self {
            block_size: 3,
            n_embd: 10,
            hidden: vec![200],
            activation: Activation::Tanh,
            norm: Norm::BatchNorm(BatchNormConfig {
                momentum: 0.001,
                ..BatchNormConfig::default()
            }),
            output_norm: Norm::None,
            bias: BiasMode::Auto,
            residual: false,
            residual_scale: None,
        }
    }
}
