//! The run configuration: data, model, initializers and training, as one TOML file.

pub use crate::optim::{AdamConfig, OptimizerConfig};
pub use crate::schedule::{LrSchedule, StepPoint};
use makemore_data::SplitFractions;
use makemore_init::{Activation, InitRoles};
use serde::{Deserialize, Serialize};

/// Everything a run needs, as read from a config file.
///
/// ```
/// use makemore_model::RunConfig;
/// let cfg = RunConfig::from_toml_str(r#"
///     [model]
///     hidden = [100, 100]
///     [train]
///     steps = 500
/// "#, "inline", &[]).unwrap();
/// assert_eq!(cfg.model.hidden, [100, 100]);
/// assert_eq!(cfg.train.batch_size, 32); // everything unset keeps the lecture's value
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
pub struct RunConfig {
    /// How the corpus is split.
    pub data: DataConfig,
    /// The network.
    pub model: ModelConfig,
    /// One initialization scheme per role.
    pub init: InitRoles,
    /// The optimization recipe.
    pub train: TrainConfig,
    /// What a run writes besides its own files.
    #[serde(skip_serializing_if = "LogConfig::is_default")]
    pub log: LogConfig,
}

/// What a run records and writes besides its model and losses.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
pub struct LogConfig {
    /// Record diagnostics every this many steps (and the first and last step), and write
    /// diagnostics.jsonl, the plots and report.html.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub diagnose_every: Option<u64>,
    /// TensorBoard event files in `RUN/tb/`: the loss at every log point, the diagnostics at
    /// every recorded step, the split losses at the end.
    pub tensorboard: bool,
}

impl LogConfig {
    fn is_default(&self) -> bool {
        self == &Self::default()
    }
}

/// How the corpus is split and tokenized.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DataConfig {
    /// Seed of the Python-compatible shuffle (the lecture: 42).
    pub split_seed: u64,
    /// Fractions of items for train and val; test gets the rest.
    pub split: SplitFractions,
    /// The boundary token.
    pub boundary: char,
}

impl Default for DataConfig {
    fn default() -> Self {
        Self {
            split_seed: 42,
            split: SplitFractions::default(),
            boundary: '.',
        }
    }
}

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

/// The optimization recipe.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TrainConfig {
    /// Number of optimizer steps.
    pub steps: u64,
    /// Windows per minibatch, drawn with replacement.
    pub batch_size: usize,
    /// The optimizer.
    pub optimizer: OptimizerConfig,
    /// Learning rate or schedule.
    pub lr: LrSchedule,
    /// Seed of the initial weights and of the minibatch sequence.
    pub seed: u64,
    /// Read the loss back from the device every this many steps (no per-step sync).
    pub log_every: u64,
    /// A minibatch loss above this many times ln(vocab) (a uniform guess) counts as divergence,
    /// like a non-finite one. 100 x ln(27) = 330 nats: no healthy run, not even the lecture's
    /// confidently wrong original init (27), comes near it.
    pub divergence_factor: f64,
}

impl Default for TrainConfig {
    fn default() -> Self {
        Self {
            steps: 200_000,
            batch_size: 32,
            optimizer: OptimizerConfig::default(),
            lr: LrSchedule::Points(vec![
                (StepPoint::Step(0), 0.1),
                (StepPoint::Percent(50.0), 0.01),
            ]),
            seed: 2_147_483_647,
            log_every: 1_000,
            divergence_factor: 100.0,
        }
    }
}

/// A config that cannot be used. Messages name the field and what is expected.
#[derive(Debug, Clone, thiserror::Error, PartialEq)]
pub enum ConfigError {
    /// TOML syntax, an unknown field or a wrong type.
    #[error("{source_name}: {}{message}", line.map(|l| format!("line {l}: ")).unwrap_or_default())]
    Parse {
        /// The file.
        source_name: String,
        /// 1-based line, when known.
        line: Option<usize>,
        /// The parser's message.
        message: String,
    },
    /// A value out of range.
    #[error("{source_name}: {field}: {message}")]
    Invalid {
        /// The file.
        source_name: String,
        /// Dotted field path.
        field: String,
        /// What is wrong and what is expected.
        message: String,
    },
    /// A `key=value` override that does not parse.
    #[error("override {0}: expected KEY=VALUE, e.g. train.lr=0.05")]
    BadOverride(String),
}

fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

impl RunConfig {
    /// Parses TOML, applies `key=value` overrides (dotted paths, TOML values; a value that is
    /// not valid TOML is taken as a string), then validates.
    pub fn from_toml_str(
        text: &str,
        source_name: &str,
        overrides: &[String],
    ) -> Result<Self, ConfigError> {
        let parse_err = |e: toml::de::Error, text: &str| {
            let line = e
                .span()
                .map(|s| 1 + text[..s.start.min(text.len())].matches('\n').count());
            ConfigError::Parse {
                source_name: source_name.to_owned(),
                line,
                message: one_line(e.message()),
            }
        };
        // Parse the file alone first, so that its errors carry its line numbers.
        let mut cfg: RunConfig = toml::from_str(text).map_err(|e| parse_err(e, text))?;
        if !overrides.is_empty() {
            let mut table: toml::Table = toml::from_str(text).map_err(|e| parse_err(e, text))?;
            for o in overrides {
                apply_override(&mut table, o)?;
            }
            cfg = table
                .try_into()
                .map_err(|e: toml::de::Error| ConfigError::Parse {
                    source_name: format!("{source_name} (with overrides)"),
                    line: None,
                    message: one_line(e.message()),
                })?;
        }
        cfg.validate(source_name)?;
        Ok(cfg)
    }

    /// A config from a parsed TOML table (unknown fields and wrong types are errors naming the
    /// field), validated; `source_name` names it in errors.
    pub fn from_table(table: toml::Table, source_name: &str) -> Result<Self, ConfigError> {
        let cfg: RunConfig = table
            .try_into()
            .map_err(|e: toml::de::Error| ConfigError::Parse {
                source_name: source_name.to_owned(),
                line: None,
                message: one_line(e.message()),
            })?;
        cfg.validate(source_name)?;
        Ok(cfg)
    }

    /// Reads and parses a config file.
    pub fn from_file(path: &std::path::Path, overrides: &[String]) -> Result<Self, ConfigError> {
        let name = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError::Parse {
            source_name: name.clone(),
            line: None,
            message: format!("cannot read: {e}"),
        })?;
        Self::from_toml_str(&text, &name, overrides)
    }

    /// The config as TOML, as saved in a run directory.
    pub fn to_toml(&self) -> String {
        toml::to_string(self).expect("a RunConfig always serializes")
    }

    /// Checks every range constraint.
    pub fn validate(&self, source_name: &str) -> Result<(), ConfigError> {
        let bad = |field: &str, message: String| {
            Err(ConfigError::Invalid {
                source_name: source_name.to_owned(),
                field: field.to_owned(),
                message,
            })
        };
        // A saved config is TOML, whose integers are signed 64-bit.
        let m = &self.model;
        let integers = [
            ("data.split_seed", self.data.split_seed),
            ("train.steps", self.train.steps),
            ("train.seed", self.train.seed),
            ("train.log_every", self.train.log_every),
            ("log.diagnose_every", self.log.diagnose_every.unwrap_or(0)),
            ("model.block_size", m.block_size as u64),
            ("model.n_embd", m.n_embd as u64),
            ("train.batch_size", self.train.batch_size as u64),
        ]
        .into_iter()
        .chain(m.hidden.iter().map(|&w| ("model.hidden", w as u64)));
        for (field, v) in integers {
            if i64::try_from(v).is_err() {
                return bad(
                    field,
                    format!("must be at most {} (a TOML integer)", i64::MAX),
                );
            }
        }
        let m = &self.model;
        if m.block_size == 0 {
            return bad(
                "model.block_size",
                "must be >= 1 (the context length)".into(),
            );
        }
        if m.n_embd == 0 {
            return bad("model.n_embd", "must be >= 1".into());
        }
        if let Some(i) = m.hidden.iter().position(|&w| w == 0) {
            return bad(&format!("model.hidden[{i}]"), "width must be >= 1".into());
        }
        if let Activation::LeakyRelu { slope } = m.activation {
            if !slope.is_finite() {
                return bad("model.activation.leaky_relu.slope", "must be finite".into());
            }
        }
        for (field, norm, hidden) in [
            ("model.norm", &m.norm, true),
            ("model.output_norm", &m.output_norm, false),
        ] {
            let Some(kind) = norm.key() else { continue };
            let key = format!("{field}.{kind}");
            if let Norm::BatchNorm(bn) = norm {
                if !(bn.momentum.is_finite() && (0.0..=1.0).contains(&bn.momentum)) {
                    return bad(
                        &format!("{key}.momentum"),
                        format!("must be in [0, 1], got {}", bn.momentum),
                    );
                }
            }
            if let Some((eps, _, gamma)) = norm.common() {
                if !(eps.is_finite() && eps > 0.0) {
                    return bad(&format!("{key}.eps"), format!("must be > 0, got {eps}"));
                }
                if !gamma.is_finite() {
                    return bad(&format!("{key}.gamma"), "must be finite".into());
                }
            }
            if let Norm::GroupNorm(g) = norm {
                if g.groups == 0 {
                    return bad(&format!("{key}.groups"), "must be >= 1".into());
                }
                // The hidden norm follows every hidden Linear; the output one, the logits
                // (whose width, the vocabulary, is checked when the model is built).
                if hidden {
                    if let Some((i, w)) = m
                        .hidden
                        .iter()
                        .enumerate()
                        .find(|(_, &w)| !w.is_multiple_of(g.groups))
                    {
                        return bad(
                            &format!("{key}.groups"),
                            format!(
                                "{} groups do not divide model.hidden[{i}] = {w}: groups must divide every hidden width",
                                g.groups
                            ),
                        );
                    }
                }
            }
        }
        if let Some(s) = m.residual_scale {
            if !m.residual {
                return bad(
                    "model.residual_scale",
                    "needs model.residual = true (it scales the residual branch)".into(),
                );
            }
            if !s.is_finite() {
                return bad("model.residual_scale", format!("must be finite, got {s}"));
            }
        }
        if m.residual && m.residual_blocks().next().is_none() {
            return bad(
                "model.residual",
                format!(
                    "no hidden layer has equal input and output widths (input {} = n_embd x block_size, hidden {:?}), so there is nothing to link",
                    m.n_embd.saturating_mul(m.block_size),
                    m.hidden
                ),
            );
        }
        let t = &self.train;
        if t.steps == 0 {
            return bad("train.steps", "must be >= 1".into());
        }
        if t.batch_size == 0 {
            return bad("train.batch_size", "must be >= 1".into());
        }
        if !(t.divergence_factor.is_finite() && t.divergence_factor > 1.0) {
            return bad(
                "train.divergence_factor",
                format!("must be a finite number > 1, got {}", t.divergence_factor),
            );
        }
        if t.log_every == 0 {
            return bad("train.log_every", "must be >= 1".into());
        }
        if self.log.diagnose_every == Some(0) {
            return bad("log.diagnose_every", "must be >= 1".into());
        }
        let points = t.lr.points(t.steps);
        if points.is_empty() {
            return bad(
                "train.lr",
                "the schedule needs at least one [step, lr] point".into(),
            );
        }
        for (i, (_, lr)) in points.iter().enumerate() {
            if !(lr.is_finite() && *lr > 0.0) {
                return bad(
                    "train.lr",
                    format!(
                        "learning rate must be finite and > 0, got {lr} (point {})",
                        i + 1
                    ),
                );
            }
        }
        if points[0].0 != 0 {
            return bad("train.lr", "the first point must be at step 0".into());
        }
        if let Some(i) = points.windows(2).position(|w| w[1].0 <= w[0].0) {
            return bad("train.lr", format!("schedule steps must increase; point {} (step {}) is not after point {} (step {})", i + 2, points[i + 1].0, i + 1, points[i].0));
        }
        self.validate_optimizer(source_name)
    }

    /// Checks the optimizer's constants, as PyTorch does.
    fn validate_optimizer(&self, source_name: &str) -> Result<(), ConfigError> {
        let bad = |field: &str, message: &str| {
            Err(ConfigError::Invalid {
                source_name: source_name.to_owned(),
                field: format!("train.optimizer.{field}"),
                message: message.to_owned(),
            })
        };
        let unit = |b: f64| b.is_finite() && (0.0..1.0).contains(&b);
        let positive = |x: f64| x.is_finite() && x > 0.0;
        let non_negative = |x: f64| x.is_finite() && x >= 0.0;
        match self.train.optimizer {
            OptimizerConfig::Sgd(c) => {
                if !non_negative(c.momentum) || !non_negative(c.dampening) {
                    return bad("sgd", "momentum and dampening must be finite and >= 0");
                }
                if c.nesterov && (c.momentum <= 0.0 || c.dampening != 0.0) {
                    return bad("sgd.nesterov", "needs momentum > 0 and dampening = 0");
                }
                if !non_negative(c.weight_decay) {
                    return bad("sgd.weight_decay", "must be finite and >= 0");
                }
            }
            OptimizerConfig::Adam(a) | OptimizerConfig::AdamW(a) => {
                let name = match self.train.optimizer {
                    OptimizerConfig::AdamW(_) => "adamw",
                    _ => "adam",
                };
                if !unit(a.beta1) || !unit(a.beta2) {
                    return bad(name, "beta1 and beta2 must be in [0, 1)");
                }
                if !positive(a.eps) {
                    return bad(&format!("{name}.eps"), "must be > 0");
                }
                if !non_negative(a.weight_decay) {
                    return bad(&format!("{name}.weight_decay"), "must be finite and >= 0");
                }
            }
            OptimizerConfig::Rmsprop(c) => {
                if !unit(c.alpha) {
                    return bad("rmsprop.alpha", "must be in [0, 1)");
                }
                if !positive(c.eps) {
                    return bad("rmsprop.eps", "must be > 0");
                }
                if !non_negative(c.momentum) || !non_negative(c.weight_decay) {
                    return bad(
                        "rmsprop",
                        "momentum and weight_decay must be finite and >= 0",
                    );
                }
            }
        }
        Ok(())
    }
}

fn apply_override(table: &mut toml::Table, spec: &str) -> Result<(), ConfigError> {
    let (key, raw) = spec
        .split_once('=')
        .filter(|(k, _)| !k.trim().is_empty())
        .ok_or_else(|| ConfigError::BadOverride(spec.to_owned()))?;
    let value: toml::Value = toml::from_str::<toml::Table>(&format!("v = {raw}"))
        .ok()
        .and_then(|mut t| t.remove("v"))
        .unwrap_or_else(|| toml::Value::String(raw.to_owned()));
    set_value(table, key.trim(), value)
        .map_err(|why| ConfigError::BadOverride(format!("{spec} ({why})")))
}

/// Sets the dotted `key` (e.g. `init.hidden.scale`) of a config's TOML table to `value`,
/// creating the tables on the way; `Err` says why it cannot (an empty part, or a part that is
/// a value, not a table). Whether the key exists is checked when the table becomes a config.
pub fn set_value(table: &mut toml::Table, key: &str, value: toml::Value) -> Result<(), String> {
    let parts: Vec<&str> = key.split('.').collect();
    if parts.iter().any(|p| p.trim().is_empty()) {
        return Err(format!("{key:?} is not a dotted key such as train.lr"));
    }
    let (last, parents) = parts.split_last().ok_or("an empty key")?;
    let mut cur = table;
    for p in parents {
        let entry = cur
            .entry(p.to_string())
            .or_insert_with(|| toml::Value::Table(toml::Table::new()));
        cur = entry
            .as_table_mut()
            .ok_or_else(|| format!("{p} is not a table"))?;
    }
    cur.insert(last.to_string(), value);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Result<RunConfig, ConfigError> {
        RunConfig::from_toml_str(s, "c.toml", &[])
    }

    #[test]
    fn defaults_are_the_lecture_batchnorm_model() {
        let c = parse("").unwrap();
        assert_eq!(c.model.hidden, [200]);
        assert_eq!(c.train.lr.points(200_000), [(0, 0.1), (100_000, 0.01)]);
        assert_eq!(c.train.lr.lr_at(99_999, 200_000), 0.1);
        assert_eq!(c.train.lr.lr_at(100_000, 200_000), 0.01);
    }

    #[test]
    fn round_trip() {
        let c = parse("[model]\nactivation = { leaky_relu = { slope = 0.2 } }\nbias = true\n[train]\noptimizer = { adam = {} }\nlr = 0.001").unwrap();
        let back = parse(&c.to_toml()).unwrap();
        assert_eq!(c, back);
    }

    #[test]
    fn errors_name_the_field() {
        let e = parse("[model]\nblock_size = 0").unwrap_err().to_string();
        assert_eq!(
            e,
            "c.toml: model.block_size: must be >= 1 (the context length)"
        );
        let e = parse("[model]\nhidden = [100, 0]").unwrap_err().to_string();
        assert!(e.contains("model.hidden[1]"), "{e}");
        let e = parse("[train]\nlr = -0.1").unwrap_err().to_string();
        assert!(
            e.contains("train.lr: learning rate must be finite and > 0"),
            "{e}"
        );
        let e = parse("[train]\nlr = [[0, 0.1], [0, 0.01]]")
            .unwrap_err()
            .to_string();
        assert!(e.contains("schedule steps must increase"), "{e}");
        let e = parse("[train]\nbatch_size = 0").unwrap_err().to_string();
        assert!(e.contains("train.batch_size"), "{e}");
        let e = parse("\n[model]\nwidth = 3").unwrap_err().to_string();
        assert!(
            e.starts_with("c.toml: line 3: unknown field `width`"),
            "{e}"
        );
        let e = parse("[model]\nactivation = \"swish\"")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("unknown variant `swish`") && e.contains("tanh"),
            "{e}"
        );
        let e = parse("[train]\noptimizer = \"lion\"")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("lion") && e.contains("rmsprop") && e.contains("sgd"),
            "{e}"
        );
        let e = parse("[train]\noptimizer = { adam = { bta1 = 0.9 } }")
            .unwrap_err()
            .to_string();
        assert!(e.contains("unknown field `bta1`"), "{e}");
        let e = parse("[train]\noptimizer = { sgd = { nesterov = true } }")
            .unwrap_err()
            .to_string();
        assert!(e.contains("train.optimizer.sgd.nesterov"), "{e}");
        let e = parse("[model]\nn_embd = \"ten\"").unwrap_err().to_string();
        assert!(e.contains("line 2") && e.contains("invalid type"), "{e}");
    }

    #[test]
    fn overrides() {
        let c = RunConfig::from_toml_str(
            "",
            "c",
            &["train.lr=0.05".into(), "model.hidden=[64, 64]".into()],
        )
        .unwrap();
        assert_eq!(c.train.lr, LrSchedule::Constant(0.05));
        assert_eq!(c.model.hidden, [64, 64]);
        let e = RunConfig::from_toml_str("", "c", &["train.nope=1".into()])
            .unwrap_err()
            .to_string();
        assert!(e.contains("unknown field `nope`"), "{e}");
        assert!(RunConfig::from_toml_str("", "c", &["oops".into()]).is_err());
    }
}
