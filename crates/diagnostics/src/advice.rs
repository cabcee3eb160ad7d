//! Plain-language advice: rules with thresholds, each naming the layer and the measurement.

use crate::record::{DiagnosticRecord, LayerRecord};
use serde::{Deserialize, Serialize};

/// The thresholds of the rules.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AdviceConfig {
    /// A first loss more than this many nats above ln(vocab) is "far above".
    pub first_loss_excess: f64,
    /// Saturation above this share of a squashing (tanh, sigmoid) layer's outputs. The lecture
    /// calls its Kaiming-initialized deep tanh stack healthy: 5-8% in its later layers at step 0,
    /// and up to 17% in its first layer after a hundred steps.
    pub saturation: f64,
    /// Activation std changing by more than this factor from the first to the last activation layer.
    pub std_drift: f64,
    /// Median log10 update ratio of the weight matrices below this: learning rate too low.
    pub update_low: f64,
    /// ... above this: too high.
    pub update_high: f64,
    /// Activation-gradient std changing by more than this factor across layers.
    pub grad_drift: f64,
}

impl Default for AdviceConfig {
    fn default() -> Self {
        Self {
            first_loss_excess: 1.0,
            saturation: 0.20,
            std_drift: 2.0,
            update_low: -4.0,
            update_high: -1.5,
            grad_drift: 10.0,
        }
    }
}

/// One finding.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Advice {
    /// Which rule: `overconfident_output`, `saturation`, `std_drift`, `update_ratio`,
    /// `dead_units`, `gradient_drift`.
    pub rule: String,
    /// The layer or parameter it is about, when there is one.
    pub layer: Option<String>,
    /// What was measured and what to try, in terms of layers, weights and the learning rate.
    pub message: String,
    /// What to change, for a program that knows its own config to name the setting.
    pub remedy: Remedy,
}

/// What a piece of advice asks to change. This crate knows layers and parameters, not a
/// program's settings: a program maps each remedy onto its own config keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Remedy {
    /// Scale the output layer's weights down (about 100x) and zero its bias.
    ScaleDownOutput,
    /// Scale down the weights feeding a hidden layer, or normalize its input.
    ScaleDownHidden,
    /// Initialize hidden weights with the activation's gain (Kaiming), or normalize.
    UseActivationGain,
    /// Raise the learning rate.
    RaiseLearningRate,
    /// Lower the learning rate.
    LowerLearningRate,
}

fn pct(x: f64) -> String {
    format!("{:.1}%", 100.0 * x)
}

/// The advice for a run: `first` is the step-0 record (for the first-loss rule), `last` the most
/// recent one (for everything else). Empty when nothing looks wrong.
pub fn advise(
    first: Option<&DiagnosticRecord>,
    last: &DiagnosticRecord,
    cfg: &AdviceConfig,
) -> Vec<Advice> {
    let mut out = Vec::new();
    out.extend(first.and_then(|f| overconfident_output(f, cfg)));
    let acts: Vec<&LayerRecord> = last.activations().collect();
    out.extend(saturation(&acts, last, cfg));
    out.extend(dead_units(&acts, last.step));
    out.extend(std_drift(&acts, cfg));
    out.extend(gradient_drift(&acts, cfg));
    out.extend(update_ratio(last, cfg));
    out
}

/// Rule `overconfident_output`: the step-0 loss far above that of a uniform guess.
fn overconfident_output(f: &DiagnosticRecord, cfg: &AdviceConfig) -> Option<Advice> {
    let expected = f.expected_loss?;
    let far_above = f.loss > expected + cfg.first_loss_excess;
    if !far_above {
        return None;
    }
    Some(Advice {
        rule: "overconfident_output".into(),
        layer: Some("output".into()),
        message: format!(
            "step 0: loss {:.2} is far above ln(vocab) = {:.2}; {} of it goes away by merely rescaling the logits, so the output layer is confidently wrong: scale its weights down (about 100x) and zero its bias",
            f.loss,
            expected,
            pct(f.overconfidence_share())
        ),
        remedy: Remedy::ScaleDownOutput,
    })
}

/// Rule `saturation`: each squashing layer with too many outputs in its flat tails.
fn saturation(acts: &[&LayerRecord], last: &DiagnosticRecord, cfg: &AdviceConfig) -> Vec<Advice> {
    let step = last.step;
    let mut out = Vec::new();
    for l in acts.iter().filter(|l| l.is_squashing()) {
        let what = last.saturated_words_of(l);
        if let Some(s) = l.output.saturated_frac.filter(|&s| s > cfg.saturation) {
            out.push(Advice {
                rule: "saturation".into(),
                layer: Some(l.name.clone()),
                message: format!(
                    "{} (step {}): {} of outputs {what} (std {:.2}); their gradients vanish: scale down the weights feeding it or normalize its input",
                    l.name,
                    step,
                    pct(s),
                    l.output.summary.std
                ),
                remedy: Remedy::ScaleDownHidden,
            });
        }
    }
    out
}

/// Rule `dead_units`: each activation layer with units that never respond.
fn dead_units(acts: &[&LayerRecord], step: u64) -> Vec<Advice> {
    let mut out = Vec::new();
    for l in acts {
        if let Some(d) = l.output.dead_units.filter(|&d| d > 0) {
            out.push(Advice {
                rule: "dead_units".into(),
                layer: Some(l.name.clone()),
                message: format!(
                    "{} (step {}): {d} of {} units are saturated or zero for every example of the batch (dead): they learn nothing; lower the scale of the weights feeding them or the learning rate",
                    l.name, step, l.output.units
                ),
                remedy: Remedy::ScaleDownHidden,
            });
        }
    }
    out
}

/// Rule `std_drift`: the activation std changing too much from the first activation layer to
/// the last.
fn std_drift(acts: &[&LayerRecord], cfg: &AdviceConfig) -> Option<Advice> {
    let (a, b) = (acts.first()?, acts.last()?);
    let (sa, sb) = (a.output.summary.std, b.output.summary.std);
    let drifts = acts.len() > 1
        && sa > 0.0
        && sb > 0.0
        && (sb / sa > cfg.std_drift || sa / sb > cfg.std_drift);
    if !drifts {
        return None;
    }
    let dir = if sb < sa { "shrinks" } else { "grows" };
    Some(Advice {
        rule: "std_drift".into(),
        layer: Some(b.name.clone()),
        message: format!(
            "activation std {dir} from {sa:.3} ({}) to {sb:.3} ({}): the gain is wrong; initialize the hidden weights with the activation's gain (Kaiming) or normalize",
            a.name, b.name
        ),
        remedy: Remedy::UseActivationGain,
    })
}

/// Rule `gradient_drift`: the activation-gradient std ranging too widely across the layers.
fn gradient_drift(acts: &[&LayerRecord], cfg: &AdviceConfig) -> Option<Advice> {
    let grads: Vec<(String, f64)> = acts
        .iter()
        .filter_map(|l| l.grad.as_ref().map(|g| (l.name.clone(), g.std)))
        .filter(|(_, s)| *s > 0.0)
        .collect();
    let lo = grads.iter().min_by(|a, b| a.1.total_cmp(&b.1))?;
    let hi = grads.iter().max_by(|a, b| a.1.total_cmp(&b.1))?;
    let drifts = hi.1 / lo.1 > cfg.grad_drift;
    if !drifts {
        return None;
    }
    Some(Advice {
        rule: "gradient_drift".into(),
        layer: Some(lo.0.clone()),
        message: format!(
            "activation-gradient std ranges from {:.2e} ({}) to {:.2e} ({}), a factor of {:.0}: gradients vanish or explode through the depth; fix the init gains or normalize",
            lo.1, lo.0, hi.1, hi.0, hi.1 / lo.1
        ),
        remedy: Remedy::UseActivationGain,
    })
}

/// Rule `update_ratio`: the median update:data ratio of the weight matrices out of range, so the
/// learning rate is too low or too high.
fn update_ratio(last: &DiagnosticRecord, cfg: &AdviceConfig) -> Option<Advice> {
    let median = last.median_log10_update()?;
    let (what, fix) = if median < cfg.update_low {
        ("too low", Remedy::RaiseLearningRate)
    } else if median > cfg.update_high {
        ("too high", Remedy::LowerLearningRate)
    } else {
        return None;
    };
    Some(Advice {
        rule: "update_ratio".into(),
        layer: None,
        message: format!(
            "step {}: the median log10(update / data) of the weight matrices is {median:.2} (the rule of thumb is about -3): the learning rate {} is {what}; {} it",
            last.step,
            last.lr,
            if fix == Remedy::RaiseLearningRate { "raise" } else { "lower" }
        ),
        remedy: fix,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::{param_record, LayerInfo, LayerKind, OutputStats, Saturation};
    use crate::stats::Summary;
    use crate::StatsConfig;

    /// An activation layer whose outputs have this std, saturation and dead units, and whose
    /// gradient has this std.
    fn act(
        index: usize,
        sat: Saturation,
        std: f32,
        saturated: f64,
        dead: usize,
        grad: f32,
    ) -> LayerRecord {
        let values: Vec<f32> = (0..64)
            .map(|i| if i % 2 == 0 { std } else { -std })
            .collect();
        let grads: Vec<f32> = (0..64)
            .map(|i| if i % 2 == 0 { grad } else { -grad })
            .collect();
        let layer = LayerInfo::new(index, LayerKind::activation("Tanh", sat));
        LayerRecord {
            name: layer.name(),
            layer,
            output: OutputStats {
                summary: Summary::of(&values, 10),
                saturated_frac: Some(saturated),
                dead_units: Some(dead),
                units: 8,
                map: None,
            },
            grad: Some(Summary::of(&grads, 10)),
        }
    }

    /// A weight matrix whose update is `ratio` times its data (std for std).
    fn weight(ratio: f32) -> crate::ParamRecord {
        let data: Vec<f32> = (0..16)
            .map(|i| if i % 2 == 0 { 1.0 } else { -1.0 })
            .collect();
        let update: Vec<f32> = data.iter().map(|d| d * ratio).collect();
        param_record("w", &[4, 4], &data, &data, &update, &StatsConfig::default())
    }

    fn record(step: u64, loss: f64, layers: Vec<LayerRecord>, update: f32) -> DiagnosticRecord {
        DiagnosticRecord {
            step,
            loss,
            lr: 0.1,
            layers,
            params: vec![weight(update)],
            expected_loss: (step == 0).then_some(27f64.ln()),
            rescaled_loss: (step == 0).then_some(3.3),
            saturation_threshold: None,
        }
    }

    fn healthy() -> Vec<LayerRecord> {
        vec![
            act(2, Saturation::Tanh, 0.6, 0.17, 0, 2e-3),
            act(5, Saturation::Tanh, 0.65, 0.08, 0, 3e-3),
        ]
    }

    fn rules(first: Option<&DiagnosticRecord>, last: &DiagnosticRecord) -> Vec<String> {
        advise(first, last, &AdviceConfig::default())
            .into_iter()
            .map(|a| a.rule)
            .collect()
    }

    #[test]
    fn a_healthy_network_gets_no_advice() {
        // 8% saturated in a later tanh layer is what the lecture calls healthy.
        let first = record(0, 3.30, healthy(), 1e-3);
        assert!(rules(Some(&first), &first).is_empty());
    }

    #[test]
    fn an_overconfident_first_loss_fires_only_far_above_ln_vocab() {
        let first = record(0, 27.0, healthy(), 1e-3);
        let r = advise(Some(&first), &first, &AdviceConfig::default());
        assert_eq!(
            r.iter().map(|a| a.rule.as_str()).collect::<Vec<_>>(),
            ["overconfident_output"]
        );
        assert_eq!(r[0].remedy, Remedy::ScaleDownOutput);
        assert!(r[0].message.contains("87.8%"), "{}", r[0].message); // (27 - 3.3) / 27
        let near = record(0, 27f64.ln() + 0.5, healthy(), 1e-3);
        assert!(rules(Some(&near), &near).is_empty());
    }

    #[test]
    fn saturation_fires_above_the_threshold_for_tanh_only() {
        let mut layers = healthy();
        layers[1] = act(5, Saturation::Tanh, 0.65, 0.3, 0, 3e-3);
        let last = record(100, 2.5, layers, 1e-3);
        let r = advise(None, &last, &AdviceConfig::default());
        assert_eq!(r.len(), 1, "{r:?}");
        assert_eq!(
            (r[0].rule.as_str(), r[0].layer.as_deref()),
            ("saturation", Some("layer 5 (Tanh)"))
        );
        // Half of a relu's outputs are zeros in a healthy network: not saturation.
        let mut relu = healthy();
        relu[1] = act(5, Saturation::Zero, 0.65, 0.5, 0, 3e-3);
        assert!(rules(None, &record(100, 2.5, relu, 1e-3)).is_empty());
    }

    #[test]
    fn dead_units_fire_where_the_gradient_vanishes_and_not_for_leaky_relu() {
        let mut layers = healthy();
        layers[0].output.dead_units = Some(3);
        let r = advise(
            None,
            &record(100, 2.5, layers, 1e-3),
            &AdviceConfig::default(),
        );
        assert_eq!(
            r.iter().map(|a| a.rule.as_str()).collect::<Vec<_>>(),
            ["dead_units"]
        );
        assert!(r[0].message.contains("3 of 8 units"), "{}", r[0].message);
        // The recorder leaves dead_units unset for leaky relu (its negative side has a gradient).
        assert!(!Saturation::Negative.gradient_vanishes());
        assert!(Saturation::Zero.gradient_vanishes() && Saturation::Tanh.gradient_vanishes());
    }

    #[test]
    fn std_drift_fires_beyond_a_factor_of_two() {
        let layers = vec![
            act(2, Saturation::Tanh, 0.6, 0.0, 0, 2e-3),
            act(5, Saturation::Tanh, 0.2, 0.0, 0, 2e-3),
        ];
        let r = rules(None, &record(100, 2.5, layers, 1e-3));
        assert_eq!(r, ["std_drift"]);
        let layers = vec![
            act(2, Saturation::Tanh, 0.6, 0.0, 0, 2e-3),
            act(5, Saturation::Tanh, 0.4, 0.0, 0, 2e-3),
        ];
        assert!(
            rules(None, &record(100, 2.5, layers, 1e-3)).is_empty(),
            "factor 1.5"
        );
    }

    #[test]
    fn gradient_drift_fires_beyond_a_factor_of_ten() {
        let layers = vec![
            act(2, Saturation::Tanh, 0.6, 0.0, 0, 1e-4),
            act(5, Saturation::Tanh, 0.6, 0.0, 0, 2e-3),
        ];
        assert_eq!(
            rules(None, &record(100, 2.5, layers, 1e-3)),
            ["gradient_drift"]
        );
        let layers = vec![
            act(2, Saturation::Tanh, 0.6, 0.0, 0, 5e-4),
            act(5, Saturation::Tanh, 0.6, 0.0, 0, 2e-3),
        ];
        assert!(
            rules(None, &record(100, 2.5, layers, 1e-3)).is_empty(),
            "factor 4"
        );
    }

    #[test]
    fn update_ratio_fires_outside_its_band_in_both_directions() {
        let low = advise(
            None,
            &record(100, 2.5, healthy(), 1e-5),
            &AdviceConfig::default(),
        );
        assert_eq!(low.len(), 1);
        assert_eq!(
            (low[0].rule.as_str(), low[0].remedy),
            ("update_ratio", Remedy::RaiseLearningRate)
        );
        let high = advise(
            None,
            &record(100, 2.5, healthy(), 0.1),
            &AdviceConfig::default(),
        );
        assert_eq!(high[0].remedy, Remedy::LowerLearningRate);
        assert!(
            rules(None, &record(100, 2.5, healthy(), 3e-3)).is_empty(),
            "log10 -2.5"
        );
    }
}
