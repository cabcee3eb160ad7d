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
use makemore_model::config::{LrSchedule, Norm, OptimizerConfig};
use makemore_model::RunConfig;

/// What kind of thing a change touches (`makemore doctor --allow`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Family {
    /// The initialization (`init.*`).
    Init,
    /// The normalization (`model.norm`).
    Norm,
    /// The learning rate (`train.lr`).
    Lr,
    /// The optimizer (`train.optimizer`, with the learning rate it needs).
    Optimizer,
}

impl Family {
    /// Every family, by the name `--allow` takes.
    pub const ALL: [(&'static str, Family); 4] = [
        ("init", Family::Init),
        ("norm", Family::Norm),
        ("lr", Family::Lr),
        ("optimizer", Family::Optimizer),
    ];

    /// The family `--allow` names `name`, if any.
    pub fn parse(name: &str) -> Option<Family> {
        Self::ALL
            .iter()
            .find(|(n, _)| *n == name.trim())
            .map(|&(_, f)| f)
    }

    /// Its `--allow` name.
    pub fn name(self) -> &'static str {
        Self::ALL
            .iter()
            .find(|(_, f)| *f == self)
            .map_or("?", |(n, _)| n)
    }
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

/// Whether two dotted keys touch the same setting (one is the other, or a table holding it:
/// `init.hidden` and `init.hidden.scale`).
pub fn overlaps(a: &str, b: &str) -> bool {
    a == b || a.starts_with(&format!("{b}.")) || b.starts_with(&format!("{a}."))
}

/// The lecture's output fix: the output layer's weights x0.01 (its bias zeroed).
pub const OUTPUT_SCALE: f64 = 0.01;
/// The lecture's tanh fix, the hidden weights x0.2: the factor where no saturation was
/// measured, and the smallest one a single change makes, because saturation compounds across
/// layers: on `deep-tanh-no-norm` (86% saturated after 1,000 steps) the factor computed for
/// the whole way, x0.1, leaves 0.8% saturated and a val loss of 2.392, where x0.2 and then the
/// computed x0.7 leave 6.2% and 2.352.
pub const HIDDEN_SCALE: f64 = 0.2;
/// The share of saturated outputs a computed hidden scale aims at (the advice speaks up above
/// twice this).
pub const SATURATION_TARGET: f64 = 0.10;
/// The update:data ratio the lecture aims at, as log10.
pub const UPDATE_GUIDE: f64 = -3.0;
/// The most a learning-rate change moves the rate in one go (x100 or /100).
pub const MAX_LR_FACTOR: f64 = 100.0;
/// The optimizer alternative to moving an SGD learning rate: Adam, whose step is about its
/// learning rate whatever the gradient's scale.
pub const ADAPTIVE: &str = "\"adam\"";

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

/// The changes that carry out advice `a` on `cfg`, grouped by family in the order they are
/// preferred: init changes first, then a normalization, then the learning rate, then the
/// optimizer. `last` is the record the advice read (the learning-rate rules need its median
/// update ratio, the optimizer its weights' std). Empty where the config already has what
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
                    number(s * hidden_factor(last)),
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
            out.extend(last.and_then(|r| adam(cfg, r)).into_iter().flatten());
        }
    }
    out
}

/// The factor on the hidden weights that brings the most saturated tanh or sigmoid layer of
/// `last` to [`SATURATION_TARGET`], were its pre-activations Gaussian with zero mean (then a
/// share p lies beyond the threshold where it lies beyond z(p) standard deviations, whatever the
/// threshold, so the std must shrink by z(p) / z(target)); rounded down to one significant
/// digit, as a person would write it, and no smaller than [`HIDDEN_SCALE`]. [`HIDDEN_SCALE`]
/// where no squashing layer is over the target.
fn hidden_factor(last: Option<&DiagnosticRecord>) -> f64 {
    let worst = last
        .into_iter()
        .flat_map(|r| r.activations())
        .filter(|l| l.is_squashing())
        .filter_map(|l| l.output.saturated_frac)
        .reduce(f64::max);
    match worst {
        Some(p) if p > SATURATION_TARGET => {
            let f = two_sided_z(p) / two_sided_z(SATURATION_TARGET);
            // Down, so that float error (0.7 as 6.9999...) does not take a digit off.
            one_digit(f, |d| (d + 1e-9).floor()).max(HIDDEN_SCALE)
        }
        _ => HIDDEN_SCALE,
    }
}

/// `x` > 0 to one significant digit, `round` choosing the digit (`f64::round`: 0.000308 is
/// 0.0003).
fn one_digit(x: f64, round: impl Fn(f64) -> f64) -> f64 {
    let unit = 10f64.powf(x.log10().floor());
    round(x / unit) * unit
}

/// z such that a standard normal lies beyond +-z with probability `p` (0 < p < 1), by bisection.
fn two_sided_z(p: f64) -> f64 {
    let (mut lo, mut hi) = (0.0, 40.0);
    for _ in 0..100 {
        let mid = 0.5 * (lo + hi);
        if erfc(mid / std::f64::consts::SQRT_2) > p {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    0.5 * (lo + hi)
}

/// The complementary error function for x >= 0 (Abramowitz and Stegun 7.1.26, error < 1.5e-7).
fn erfc(x: f64) -> f64 {
    const P: f64 = 0.327_591_1;
    const A: [f64; 5] = [
        0.254_829_592,
        -0.284_496_736,
        1.421_413_741,
        -1.453_152_027,
        1.061_405_429,
    ];
    let t = 1.0 / (1.0 + P * x);
    let poly = A.iter().rev().fold(0.0, |acc, a| acc * t + a) * t;
    poly * (-x * x).exp()
}

/// The optimizer alternative to an SGD learning rate off the guide: Adam, with its rate (every
/// point of the schedule scaled alike) set to 10^-3 times the median std of the weight matrices
/// (to one significant digit), since Adam moves each weight by about its rate. `None` for a model already adaptive.
fn adam(cfg: &RunConfig, last: &DiagnosticRecord) -> Option<Vec<Change>> {
    if !matches!(cfg.train.optimizer, OptimizerConfig::Sgd(_)) {
        return None;
    }
    let mut stds: Vec<f64> = last
        .params
        .iter()
        .filter(|p| p.is_matrix() && p.data_std > 0.0)
        .map(|p| p.data_std)
        .collect();
    stds.sort_by(f64::total_cmp);
    let target = one_digit(
        10f64.powf(UPDATE_GUIDE) * stds.get(stds.len() / 2)?,
        f64::round,
    );
    let lr = cfg.train.lr.lr_at(0, cfg.train.steps);
    (lr > 0.0).then_some(())?;
    let factor = target / lr;
    let mut lr = scaled_lr(cfg, factor)?;
    lr.family = Family::Optimizer;
    Some(vec![
        change(Family::Optimizer, "train.optimizer", ADAPTIVE.into()),
        lr,
    ])
}

/// `train.lr` times `10^(-3 - u)` (every point of a schedule; the factor to one significant
/// digit), at most [`MAX_LR_FACTOR`] either way: the rate that would bring a median log10 update
/// ratio `u` to the guide.
fn lr_change(cfg: &RunConfig, u: f64) -> Option<Change> {
    let factor = one_digit(10f64.powf(UPDATE_GUIDE - u), f64::round)
        .clamp(1.0 / MAX_LR_FACTOR, MAX_LR_FACTOR);
    scaled_lr(cfg, factor)
}

/// `train.lr` times `factor` at every point of its schedule.
pub fn scaled_lr(cfg: &RunConfig, factor: f64) -> Option<Change> {
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

    /// A record of one weight matrix (data std 1) whose log10 update ratio is `u`.
    fn lr_record(u: f64) -> DiagnosticRecord {
        DiagnosticRecord {
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
        }
    }

    #[test]
    fn the_hidden_factor_aims_at_the_target_saturation() {
        // 5% of a standard normal lies beyond 1.96, 10% beyond 1.645.
        assert!((two_sided_z(0.05) - 1.959964).abs() < 1e-5);
        assert!((two_sided_z(SATURATION_TARGET) - 1.644854).abs() < 1e-5);
        let record = |p: f64| {
            use makemore_diagnostics::record::OutputStats;
            use makemore_diagnostics::{LayerInfo, LayerKind, LayerRecord, Saturation, Summary};
            let layer = LayerInfo::new(1, LayerKind::activation("Tanh", Saturation::Tanh));
            let tanh = LayerRecord {
                name: layer.name(),
                layer,
                output: OutputStats {
                    summary: Summary::of(&[-0.5, 0.5], 4),
                    saturated_frac: Some(p),
                    dead_units: Some(0),
                    units: 2,
                    map: None,
                },
                grad: None,
            };
            DiagnosticRecord {
                layers: vec![tanh],
                ..lr_record(0.0)
            }
        };
        // 22.8% saturated: z = 1.206, x0.733 brings it to 10%, written 0.7.
        assert_eq!(number(hidden_factor(Some(&record(0.228)))), "0.7");
        // 66.9%: x0.26 is written 0.2; 86%: x0.1 would overshoot, so x0.2.
        assert_eq!(number(hidden_factor(Some(&record(0.669)))), "0.2");
        assert_eq!(hidden_factor(Some(&record(0.86))), HIDDEN_SCALE);
        assert_eq!(hidden_factor(Some(&record(0.05))), HIDDEN_SCALE);
        assert_eq!(hidden_factor(None), HIDDEN_SCALE);
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
        let record = lr_record;
        let of = |family: Family, out: &[Change]| -> Vec<Change> {
            out.iter().filter(|c| c.family == family).cloned().collect()
        };
        let low = record(-5.0); // 100x too small: x100
        let all = changes(&advice(Remedy::RaiseLearningRate), &cfg, Some(&low));
        let out = of(Family::Lr, &all);
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
        let LrSchedule::Points(p) = apply(&cfg, &of(Family::Lr, &out)).train.lr else {
            panic!()
        };
        assert!((p[0].1 - 0.001).abs() < 1e-12, "{p:?}");
        assert!(changes(&advice(Remedy::LowerLearningRate), &cfg, None).is_empty());
        // The optimizer alternative: Adam, its rate 10^-3 x the weights' std (1 here), the
        // schedule's shape kept; none for a model that is already adaptive.
        let adam = of(Family::Optimizer, &all);
        let fixed = apply(&cfg, &adam);
        assert!(matches!(fixed.train.optimizer, OptimizerConfig::Adam(_)));
        let LrSchedule::Points(p) = &fixed.train.lr else {
            panic!()
        };
        assert!(
            (p[0].1 - 1e-3).abs() < 1e-12 && (p[1].1 - 1e-4).abs() < 1e-12,
            "{p:?}"
        );
        let again = changes(&advice(Remedy::RaiseLearningRate), &fixed, Some(&low));
        assert!(of(Family::Optimizer, &again).is_empty(), "{again:?}");
    }
}
