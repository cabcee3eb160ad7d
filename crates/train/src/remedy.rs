//! Advice turned into concrete config changes, computed from the run's own config: the `--set`
//! overrides that carry out a remedy (issue #32's doctor applies them; `diagnose` prints them).
//!
//! ```
//! use makemore_diagnostics::{Advice, Remedy};
//! use makemore_model::RunConfig;
//! use makemore_train::remedy::{changes, Family};
//!
//! let cfg = RunConfig::from_toml_str("[init.output]\nscheme = \"normal\"\nstd = 1.0\n", "c.toml", &[]).unwrap();
//! let a = Advice { rule: "overconfident_output".into(), layer: None, message: String::new(), remedy: Remedy::ScaleDownOutput };
//! let c = changes(&a, &cfg, None);
//! assert_eq!(c[0].family, Family::Init);
//! assert_eq!(c[0].set_arg(), "init.output.scale=0.01");
//! ```

use makemore_diagnostics::{Advice, DiagnosticRecord, Remedy};
use makemore_init::Scheme;
use makemore_model::config::{LrSchedule, Norm};
use makemore_model::RunConfig;

/// What kind of thing a change touches (`--allow` in issue #32's doctor).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    /// The initialization (`init.*`).
    Init,
    /// The normalization (`model.norm`).
    Norm,
    /// The learning rate (`train.lr`).
    Lr,
}

/// One change: a config key and its new value, as TOML.
#[derive(Debug, Clone, PartialEq)]
pub struct Change {
    /// What it touches.
    pub family: Family,
    /// A dotted key, e.g. `init.output.scale`.
    pub key: String,
    /// Its new value as TOML, e.g. `0.01` or `{ scheme = "zeros" }`.
    pub value: String,
}

impl Change {
    /// The change as a `--set` argument: `KEY=VALUE`.
    pub fn set_arg(&self) -> String {
        format!("{}={}", self.key, self.value)
    }
}

/// The lecture's output fix: the output layer's weights x0.01 (its bias zeroed).
pub const OUTPUT_SCALE: f64 = 0.01;
/// The lecture's tanh fix: the hidden weights x0.2.
pub const HIDDEN_SCALE: f64 = 0.2;
/// The update:data ratio the lecture aims at, as log10.
pub const UPDATE_GUIDE: f64 = -3.0;
/// The most a learning-rate change moves the rate in one go (x100 or /100).
pub const MAX_LR_FACTOR: f64 = 100.0;

/// The scale of a scheme (`None` for zeros, which has none).
fn scale(s: &Scheme) -> Option<f64> {
    match *s {
        Scheme::Zeros => None,
        Scheme::Normal { scale, .. }
        | Scheme::Uniform { scale, .. }
        | Scheme::Ones { scale }
        | Scheme::Constant { scale, .. }
        | Scheme::XavierNormal { scale, .. }
        | Scheme::XavierUniform { scale, .. }
        | Scheme::KaimingNormal { scale, .. }
        | Scheme::KaimingUniform { scale, .. }
        | Scheme::PytorchDefault { scale } => Some(scale),
    }
}

/// Significant digits kept in a computed value (0.1 x 0.01 is 0.001, not 0.0010000000000000002).
const DIGITS: usize = 6;

/// A number as TOML writes it (`0.01`, `0.00001`), to [`DIGITS`] significant digits.
fn number(x: f64) -> String {
    let rounded = format!("{x:.prec$e}", prec = DIGITS - 1)
        .parse()
        .unwrap_or(x);
    toml::Value::Float(rounded).to_string()
}

fn change(family: Family, key: &str, value: String) -> Change {
    Change {
        family,
        key: key.to_owned(),
        value,
    }
}

/// The normalization alternative to an init fix: BatchNorm, where the model has none.
fn batch_norm(cfg: &RunConfig) -> Option<Change> {
    (cfg.model.norm == Norm::None)
        .then(|| change(Family::Norm, "model.norm", "{ batch_norm = {} }".into()))
}

/// The changes that carry out advice `a` on `cfg`, each family's first: init changes first, then
/// a normalization, then the learning rate. `last` is the record the advice read (the
/// learning-rate rules need its median update ratio). Empty where the config already has what
/// the remedy asks (a zero output layer cannot be scaled down).
pub fn changes(a: &Advice, cfg: &RunConfig, last: Option<&DiagnosticRecord>) -> Vec<Change> {
    let init = &cfg.init;
    let mut out = Vec::new();
    match a.remedy {
        Remedy::ScaleDownOutput => {
            if let Some(s) = scale(&init.output) {
                out.push(change(
                    Family::Init,
                    "init.output.scale",
                    number(s * OUTPUT_SCALE),
                ));
            }
            if init.output_bias != Scheme::Zeros {
                out.push(change(
                    Family::Init,
                    "init.output_bias",
                    "{ scheme = \"zeros\" }".into(),
                ));
            }
        }
        Remedy::ScaleDownHidden => {
            if let Some(s) = scale(&init.hidden) {
                out.push(change(
                    Family::Init,
                    "init.hidden.scale",
                    number(s * HIDDEN_SCALE),
                ));
            }
            out.extend(batch_norm(cfg));
        }
        Remedy::UseActivationGain => {
            out.push(change(
                Family::Init,
                "init.hidden",
                "{ scheme = \"kaiming_normal\", gain = \"auto\" }".into(),
            ));
            out.extend(batch_norm(cfg));
        }
        Remedy::RaiseLearningRate | Remedy::LowerLearningRate => {
            if let Some(c) = last
                .and_then(DiagnosticRecord::median_log10_update)
                .and_then(|u| lr_change(cfg, u))
            {
                out.push(c);
            }
        }
    }
    out
}

/// `train.lr` times `10^(-3 - u)` (every point of a schedule), at most [`MAX_LR_FACTOR`] either
/// way: the rate that would bring a median log10 update ratio `u` to the guide.
fn lr_change(cfg: &RunConfig, u: f64) -> Option<Change> {
    let factor = 10f64
        .powf(UPDATE_GUIDE - u)
        .clamp(1.0 / MAX_LR_FACTOR, MAX_LR_FACTOR);
    let round = |lr: f64| number(lr * factor).parse().unwrap_or(lr * factor);
    let scaled = match &cfg.train.lr {
        LrSchedule::Constant(lr) => LrSchedule::Constant(round(*lr)),
        LrSchedule::Points(p) => {
            LrSchedule::Points(p.iter().map(|&(s, lr)| (s, round(lr))).collect())
        }
    };
    let value = toml::Value::try_from(&scaled).ok()?;
    Some(change(Family::Lr, "train.lr", value.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn advice(remedy: Remedy) -> Advice {
        Advice {
            rule: "test".into(),
            layer: None,
            message: String::new(),
            remedy,
        }
    }

    fn lecture(name: &str) -> RunConfig {
        let path = format!(
            "{}/../../configs/lecture/{name}.toml",
            env!("CARGO_MANIFEST_DIR")
        );
        RunConfig::from_file(std::path::Path::new(&path), &[]).unwrap()
    }

    /// Applying every change gives a config that reads back, with the values asked for.
    fn apply(cfg: &RunConfig, changes: &[Change]) -> RunConfig {
        let sets: Vec<String> = changes.iter().map(Change::set_arg).collect();
        RunConfig::from_toml_str(&cfg.to_toml(), "c.toml", &sets).unwrap()
    }

    #[test]
    fn computed_values_are_written_short() {
        assert_eq!(number(0.1 * 0.01), "0.001");
        assert_eq!(number(0.2), "0.2");
        assert_eq!(number(1e-5), "0.00001");
    }

    #[test]
    fn the_original_gets_the_lectures_fixes() {
        let cfg = lecture("original");
        let out = changes(&advice(Remedy::ScaleDownOutput), &cfg, None);
        let fixed = apply(&cfg, &out);
        assert_eq!(scale(&fixed.init.output), Some(0.01));
        assert_eq!(fixed.init.output_bias, Scheme::Zeros);
        let hidden = changes(&advice(Remedy::ScaleDownHidden), &cfg, None);
        assert_eq!(
            hidden.iter().map(|c| c.family).collect::<Vec<_>>(),
            [Family::Init, Family::Norm]
        );
        let fixed = apply(&cfg, &hidden[..1]);
        assert_eq!(scale(&fixed.init.hidden), Some(HIDDEN_SCALE));
        let normed = apply(&cfg, &hidden[1..]);
        assert!(matches!(normed.model.norm, Norm::BatchNorm(_)));
    }

    #[test]
    fn a_model_with_batch_norm_gets_no_second_one_and_kaiming_reads_back() {
        let cfg = lecture("batchnorm");
        let out = changes(&advice(Remedy::UseActivationGain), &cfg, None);
        assert_eq!(out.len(), 1, "{out:?}");
        let fixed = apply(&cfg, &out);
        assert!(matches!(fixed.init.hidden, Scheme::KaimingNormal { .. }));
    }

    #[test]
    fn the_learning_rate_moves_toward_the_guide_and_keeps_its_schedule() {
        let cfg = lecture("original"); // 0.1, then 0.01 from step 100,000
        let record = |u: f64| DiagnosticRecord {
            step: 0,
            loss: 3.0,
            lr: 0.1,
            layers: Vec::new(),
            params: vec![makemore_diagnostics::ParamRecord {
                name: "w".into(),
                shape: vec![2, 2],
                data_mean: 0.0,
                data_std: 1.0,
                grad_mean: 0.0,
                grad_std: 1.0,
                grad_data_ratio: Some(1.0),
                log10_update_ratio: Some(u),
                data_histogram: Default::default(),
                grad_histogram: Default::default(),
            }],
            expected_loss: None,
            rescaled_loss: None,
            saturation_threshold: None,
        };
        let low = record(-5.0); // 100x too small: x100
        let out = changes(&advice(Remedy::RaiseLearningRate), &cfg, Some(&low));
        let fixed = apply(&cfg, &out);
        let LrSchedule::Points(p) = &fixed.train.lr else {
            panic!("still a schedule: {:?}", fixed.train.lr)
        };
        assert!(
            (p[0].1 - 10.0).abs() < 1e-9 && (p[1].1 - 1.0).abs() < 1e-9,
            "{p:?}"
        );
        let high = record(0.5); // 3,000x too large: clamped at /100
        let out = changes(&advice(Remedy::LowerLearningRate), &cfg, Some(&high));
        let LrSchedule::Points(p) = apply(&cfg, &out).train.lr else {
            panic!()
        };
        assert!((p[0].1 - 0.001).abs() < 1e-12, "{p:?}");
        assert!(changes(&advice(Remedy::LowerLearningRate), &cfg, None).is_empty());
    }
}
