//! The run configuration as one TOML file: reading it, `--set` overrides, writing it back.

use crate::model::ModelConfig;
use crate::optimizer::OptimizerConfig;
use crate::schedule::{LrSchedule, StepPoint};
use makemore_data::SplitFractions;
use makemore_init::InitRoles;
use serde::{Deserialize, Serialize};

/// Everything a run needs, as read from a config file.
///
/// ```
/// use makemore_config::RunConfig;
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
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LogConfig {
    /// Record diagnostics every this many steps (and the first and last step), and write
    /// diagnostics.jsonl, the plots and report.html.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub diagnose_every: Option<u64>,
    /// A TensorBoard event file in `RUN/`: the loss at every log point, the diagnostics at
    /// every recorded step, the split losses at the end.
    pub tensorboard: bool,
    /// A tanh or sigmoid output counts as saturated beyond this (|tanh| > t; the lecture uses
    /// 0.97 and 0.99). Saved only when it is not the default, so configs written before it
    /// existed read back the same.
    #[serde(skip_serializing_if = "is_default_saturation")]
    pub saturation_threshold: f64,
}

/// The lecture's saturation threshold: |tanh| > 0.97.
pub const DEFAULT_SATURATION_THRESHOLD: f64 = 0.97;

fn is_default_saturation(t: &f64) -> bool {
    *t == DEFAULT_SATURATION_THRESHOLD
}

impl Default for LogConfig {
    fn default() -> Self {
        Self {
            diagnose_every: None,
            tensorboard: false,
            saturation_threshold: DEFAULT_SATURATION_THRESHOLD,
        }
    }
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
            // Applied one at a time, so that an error names the override that caused it.
            for o in overrides {
                apply_override(&mut table, o)?;
                cfg =
                    table
                        .clone()
                        .try_into()
                        .map_err(|e: toml::de::Error| ConfigError::Parse {
                            source_name: format!("{source_name} (with override {o})"),
                            line: None,
                            message: one_line(e.message()),
                        })?;
            }
            cfg.validate(&format!("{source_name} (with overrides)"))?;
        } else {
            cfg.validate(source_name)?;
        }
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
        Self::from_toml_str(&read_text(path)?, &path.display().to_string(), overrides)
    }

    /// The config as TOML, as saved in a run directory.
    pub fn to_toml(&self) -> String {
        toml::to_string(self).expect("a RunConfig always serializes")
    }
}

/// A config file's text; a FIFO or a device, which may never end, is refused unread.
pub fn read_text(path: &std::path::Path) -> Result<String, ConfigError> {
    let name = path.display().to_string();
    if std::fs::metadata(path).is_ok_and(|m| !m.is_file() && !m.is_dir()) {
        return Err(ConfigError::Parse {
            source_name: name,
            line: None,
            message: "cannot read: not a regular file (a device, FIFO or socket)".into(),
        });
    }
    std::fs::read_to_string(path).map_err(|e| ConfigError::Parse {
        source_name: name,
        line: None,
        message: format!("cannot read: {e}"),
    })
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
