//! Plain-language advice: rules with thresholds, each naming the layer and the measurement.

use crate::record::{DiagnosticRecord, LayerKind, Saturation};
use serde::{Deserialize, Serialize};

/// The thresholds of the rules.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AdviceConfig {
    /// A first loss more than this many nats above ln(vocab) is "far above".
    pub first_loss_excess: f64,
    /// Saturation above this share of an activation layer's outputs.
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
            saturation: 0.05,
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
    /// What was measured and what to try.
    pub message: String,
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
    if let Some(f) = first {
        if let Some(expected) = f.expected_loss {
            if f.loss > expected + cfg.first_loss_excess {
                out.push(Advice {
                    rule: "overconfident_output".into(),
                    layer: Some("output".into()),
                    message: format!(
                        "step 0: loss {:.2} is far above ln(vocab) = {:.2}; {} of it goes away by merely rescaling the logits, so the output layer is confidently wrong: scale the output weights down (init.output scale = 0.01) and zero its bias (init.output_bias = zeros)",
                        f.loss,
                        expected,
                        pct(f.overconfidence_share())
                    ),
                });
            }
        }
    }
    let acts: Vec<_> = last
        .layers
        .iter()
        .filter(|l| matches!(l.layer.kind, LayerKind::Activation { .. }))
        .collect();
    for l in &acts {
        if let Some(s) = l.output.saturated_frac.filter(|&s| s > cfg.saturation) {
            let flat_side = matches!(
                l.layer.kind,
                LayerKind::Activation {
                    saturation: Saturation::Zero | Saturation::Negative,
                    ..
                }
            );
            let what = if flat_side {
                "on the flat, zero-gradient side"
            } else {
                "saturated"
            };
            out.push(Advice {
                rule: "saturation".into(),
                layer: Some(l.name.clone()),
                message: format!(
                    "{} (step {}): {} of outputs {what} (std {:.2}); their gradients vanish: scale down the weights feeding it (init.hidden) or add BatchNorm before it",
                    l.name,
                    last.step,
                    pct(s),
                    l.output.summary.std
                ),
            });
        }
    }
    for l in &acts {
        if let Some(d) = l.output.dead_units.filter(|&d| d > 0) {
            out.push(Advice {
                rule: "dead_units".into(),
                layer: Some(l.name.clone()),
                message: format!(
                    "{} (step {}): {d} of {} units are saturated or zero for every example of the batch (dead): they learn nothing; lower the scale of the weights feeding them or the learning rate",
                    l.name, last.step, l.output.units
                ),
            });
        }
    }
    if let (Some(a), Some(b)) = (acts.first(), acts.last()) {
        let (sa, sb) = (a.output.summary.std, b.output.summary.std);
        if acts.len() > 1
            && sa > 0.0
            && sb > 0.0
            && (sb / sa > cfg.std_drift || sa / sb > cfg.std_drift)
        {
            let dir = if sb < sa { "shrinks" } else { "grows" };
            out.push(Advice {
                rule: "std_drift".into(),
                layer: Some(b.name.clone()),
                message: format!(
                    "activation std {dir} from {sa:.3} ({}) to {sb:.3} ({}): the gain is wrong; use Kaiming init with the activation's gain (init.hidden = kaiming_normal, gain = \"auto\") or BatchNorm",
                    a.name, b.name
                ),
            });
        }
    }
    let grads: Vec<(String, f64)> = acts
        .iter()
        .filter_map(|l| l.grad.as_ref().map(|g| (l.name.clone(), g.std)))
        .filter(|(_, s)| *s > 0.0)
        .collect();
    if let (Some(lo), Some(hi)) = (
        grads.iter().min_by(|a, b| a.1.total_cmp(&b.1)),
        grads.iter().max_by(|a, b| a.1.total_cmp(&b.1)),
    ) {
        if hi.1 / lo.1 > cfg.grad_drift {
            out.push(Advice {
                rule: "gradient_drift".into(),
                layer: Some(lo.0.clone()),
                message: format!(
                    "activation-gradient std ranges from {:.2e} ({}) to {:.2e} ({}), a factor of {:.0}: gradients vanish or explode through the depth; fix the init gains or add BatchNorm",
                    lo.1, lo.0, hi.1, hi.0, hi.1 / lo.1
                ),
            });
        }
    }
    let mut ratios: Vec<f64> = last
        .params
        .iter()
        .filter(|p| p.is_matrix())
        .map(|p| p.log10_update_ratio)
        .filter(|r| r.is_finite())
        .collect();
    ratios.sort_by(f64::total_cmp);
    if let Some(&median) = ratios.get(ratios.len() / 2) {
        let verdict = if median < cfg.update_low {
            Some(("too low", "raise train.lr"))
        } else if median > cfg.update_high {
            Some(("too high", "lower train.lr"))
        } else {
            None
        };
        if let Some((what, fix)) = verdict {
            out.push(Advice {
                rule: "update_ratio".into(),
                layer: None,
                message: format!(
                    "step {}: the median log10(update / data) of the weight matrices is {median:.2} (the rule of thumb is about -3): the learning rate {} is {what}; {fix}",
                    last.step, last.lr
                ),
            });
        }
    }
    out
}
