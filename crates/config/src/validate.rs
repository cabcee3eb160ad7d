//! The range checks a config passes before anything is built from it. Each error names the
//! field and what it expects.

use crate::model::Norm;
use crate::optimizer::OptimizerConfig;
use crate::run::{ConfigError, RunConfig};
use makemore_init::Activation;

/// A failed check: the field and what it expects.
type Check = Result<(), (String, String)>;

/// A failed [`Check`] for `field`.
fn fail(field: &str, message: String) -> Check {
    Err((field.to_owned(), message))
}

impl RunConfig {
    /// Checks every range constraint.
    pub fn validate(&self, source_name: &str) -> Result<(), ConfigError> {
        self.integers()
            .and_then(|()| self.f32_numbers())
            .and_then(|()| self.model_ranges())
            .and_then(|()| self.norm_ranges())
            .and_then(|()| self.residual_ranges())
            .and_then(|()| self.train_ranges())
            .map_err(|(field, message)| ConfigError::Invalid {
                source_name: source_name.to_owned(),
                field,
                message,
            })?;
        self.validate_optimizer(source_name)
    }

    /// Every integer fits a TOML integer (signed 64-bit), as a saved config must.
    fn integers(&self) -> Check {
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
                return fail(
                    field,
                    format!("must be at most {} (a TOML integer)", i64::MAX),
                );
            }
        }
        Ok(())
    }

    /// Every number that feeds the model's `f32` arithmetic keeps its meaning there: one that
    /// would round to 0 (an epsilon of 1e-50) or overflow to infinity is refused, naming its key.
    fn f32_numbers(&self) -> Check {
        /// Used in `f64` arithmetic only.
        const F64_ONLY: [&str; 1] = ["train.divergence_factor"];
        fn walk(v: &toml::Value, path: &str, bad: &mut Option<(String, f64)>) {
            match v {
                toml::Value::Float(x) if bad.is_none() && !F64_ONLY.contains(&path) => {
                    let y = *x as f32;
                    let lost = y == 0.0 || y.is_infinite() || y.abs() < f32::MIN_POSITIVE;
                    if x.is_finite() && *x != 0.0 && lost {
                        *bad = Some((path.to_owned(), *x));
                    }
                }
                toml::Value::Table(t) => {
                    for (k, v) in t {
                        let key = if path.is_empty() {
                            k.clone()
                        } else {
                            format!("{path}.{k}")
                        };
                        walk(v, &key, bad);
                    }
                }
                toml::Value::Array(a) => a.iter().for_each(|v| walk(v, path, bad)),
                _ => {}
            }
        }
        let table =
            toml::Value::try_from(self).map_err(|e| ("config".to_owned(), e.to_string()))?;
        let mut bad = None;
        walk(&table, "", &mut bad);
        match bad {
            Some((field, x)) => fail(
                &field,
                format!(
                    "{x:e} is outside what the model's 32-bit floats hold (it would be {}); use a value between {:e} and {:e}",
                    match x as f32 {
                        y if y.is_infinite() => "infinite",
                        0.0 => "0",
                        _ => "subnormal, with too few bits to mean it",
                    },
                    f32::MIN_POSITIVE,
                    f32::MAX
                ),
            ),
            None => Ok(()),
        }
    }

    /// The widths and the activation.
    fn model_ranges(&self) -> Check {
        let m = &self.model;
        if m.block_size == 0 {
            return fail(
                "model.block_size",
                "must be >= 1 (the context length)".into(),
            );
        }
        if m.n_embd == 0 {
            return fail("model.n_embd", "must be >= 1".into());
        }
        if let Some(i) = m.hidden.iter().position(|&w| w == 0) {
            return fail(&format!("model.hidden[{i}]"), "width must be >= 1".into());
        }
        if let Activation::LeakyRelu { slope } = m.activation {
            if !slope.is_finite() {
                return fail("model.activation.leaky_relu.slope", "must be finite".into());
            }
        }
        Ok(())
    }

    /// The hidden and output normalizations' constants.
    fn norm_ranges(&self) -> Check {
        let m = &self.model;
        for (field, norm, hidden) in [
            ("model.norm", &m.norm, true),
            ("model.output_norm", &m.output_norm, false),
        ] {
            let Some(kind) = norm.key() else { continue };
            let key = format!("{field}.{kind}");
            if let Norm::BatchNorm(bn) = norm {
                if !(bn.momentum.is_finite() && (0.0..=1.0).contains(&bn.momentum)) {
                    return fail(
                        &format!("{key}.momentum"),
                        format!("must be in [0, 1], got {}", bn.momentum),
                    );
                }
            }
            if let Some((eps, _, gamma)) = norm.common() {
                if !(eps.is_finite() && eps > 0.0) {
                    return fail(&format!("{key}.eps"), format!("must be > 0, got {eps}"));
                }
                if !gamma.is_finite() {
                    return fail(&format!("{key}.gamma"), "must be finite".into());
                }
            }
            if let Norm::GroupNorm(g) = norm {
                if g.groups == 0 {
                    return fail(&format!("{key}.groups"), "must be >= 1".into());
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
                        return fail(
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
        Ok(())
    }

    /// Residual links: something to link, and a finite scale.
    fn residual_ranges(&self) -> Check {
        let m = &self.model;
        if let Some(s) = m.residual_scale {
            if !m.residual {
                return fail(
                    "model.residual_scale",
                    "needs model.residual = true (it scales the residual branch)".into(),
                );
            }
            if !s.is_finite() {
                return fail("model.residual_scale", format!("must be finite, got {s}"));
            }
        }
        if m.residual && m.residual_blocks().next().is_none() {
            return fail(
                "model.residual",
                format!(
                    "no hidden layer has equal input and output widths (input {} = n_embd x block_size, hidden {:?}), so there is nothing to link",
                    m.n_embd.saturating_mul(m.block_size),
                    m.hidden
                ),
            );
        }
        Ok(())
    }

    /// The step count, batch, divergence limit, logging and learning-rate schedule.
    fn train_ranges(&self) -> Check {
        let t = &self.train;
        if t.steps == 0 {
            return fail("train.steps", "must be >= 1".into());
        }
        if t.batch_size == 0 {
            return fail("train.batch_size", "must be >= 1".into());
        }
        // As PyTorch: a batch of one has one value per channel, whose variance says nothing.
        let batch_norm = [
            ("model.norm", &self.model.norm),
            ("model.output_norm", &self.model.output_norm),
        ]
        .into_iter()
        .find(|(_, n)| matches!(n, Norm::BatchNorm(_)));
        if let (1, Some((field, _))) = (t.batch_size, batch_norm) {
            return fail(
                "train.batch_size",
                format!("1 with batch normalization ({field}): BatchNorm needs more than one value per channel in training; use a batch of 2 or more, or another norm"),
            );
        }
        // Times ln(vocab) (at most ln of a few thousand), the limit must stay finite.
        if !(t.divergence_factor.is_finite()
            && t.divergence_factor > 1.0
            && t.divergence_factor <= 1e300)
        {
            return fail(
                "train.divergence_factor",
                format!(
                    "must be a number > 1 and at most 1e300, got {}",
                    t.divergence_factor
                ),
            );
        }
        if t.log_every == 0 {
            return fail("train.log_every", "must be >= 1".into());
        }
        if self.log.diagnose_every == Some(0) {
            return fail("log.diagnose_every", "must be >= 1".into());
        }
        let threshold = self.log.saturation_threshold;
        if !(threshold > 0.0 && threshold < 1.0) {
            return fail(
                "log.saturation_threshold",
                format!("must be between 0 and 1 (|tanh| beyond it is saturated), got {threshold}"),
            );
        }
        let points = t.lr.points(t.steps);
        if points.is_empty() {
            return fail(
                "train.lr",
                "the schedule needs at least one [step, lr] point".into(),
            );
        }
        for (i, (_, lr)) in points.iter().enumerate() {
            if !(lr.is_finite() && *lr > 0.0) {
                return fail(
                    "train.lr",
                    format!(
                        "learning rate must be finite and > 0, got {lr} (point {})",
                        i + 1
                    ),
                );
            }
        }
        if points[0].0 != 0 {
            return fail("train.lr", "the first point must be at step 0".into());
        }
        if let Some(i) = points.windows(2).position(|w| w[1].0 <= w[0].0) {
            return fail("train.lr", format!("schedule steps must increase; point {} (step {}) is not after point {} (step {})", i + 2, points[i + 1].0, i + 1, points[i].0));
        }
        Ok(())
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
