//! One round of the doctor: the changes it made and what its run showed, read from its summary
//! and records.

use crate::recording::advice_of;
use crate::remedy::Family;
use crate::run_dir::DivergedRecord;
use crate::RunSummary;
use makemore_diagnostics::{Advice, DiagnosticRecord, Remedy};
use serde::Serialize;
use std::path::PathBuf;

/// The rule name of the finding "the run diverged".
pub const DIVERGED_RULE: &str = "diverged";

/// One change the doctor made, with the finding that caused it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Applied {
    /// The round whose run it first changed.
    pub round: usize,
    /// What it touches.
    pub family: Family,
    /// The dotted key.
    pub key: String,
    /// The value, as TOML.
    pub value: String,
    /// The advice rule that asked for it (`saturation`, `diverged`, ...).
    pub rule: String,
    /// The finding, in words.
    pub finding: String,
}

impl Applied {
    /// The change as a `--set` argument.
    pub fn set_arg(&self) -> String {
        format!("{}={}", self.key, self.value)
    }
}

/// The advice for a run that diverged.
pub fn diverged_advice(d: &DivergedRecord) -> Advice {
    Advice {
        rule: DIVERGED_RULE.into(),
        layer: None,
        message: format!(
            "training diverged at step {} (loss {}, first at {}) with learning rate {}: lower it",
            d.step, d.loss, d.culprit, d.lr
        ),
        remedy: Remedy::LowerLearningRate,
    }
}

/// The rule name of the finding "training made the loss worse than it started": a divergence
/// in all but name (on `kaiming`, a learning rate of 5 ends at val loss 51.5 from a first loss
/// of 3.31, every tanh saturated), corrected the same way.
pub const LOSS_ROSE_RULE: &str = "loss_rose";

/// One layer's saturation in a round's last record.
#[derive(Debug, Clone, Serialize)]
pub struct LayerLine {
    /// The layer's name.
    pub name: String,
    /// Share of saturated outputs.
    pub saturated: f64,
    /// Std of its outputs.
    pub std: f64,
}

/// One weight's log10 update:data ratio in a round's last record.
#[derive(Debug, Clone, Serialize)]
pub struct ParamLine {
    /// The parameter's name.
    pub name: String,
    /// log10(update std / data std).
    pub log10_update: f64,
}

/// One round: the run of the config with every change so far, and what it showed.
#[derive(Debug, Clone, Serialize)]
pub struct Round {
    /// 0 is the config as given.
    pub round: usize,
    /// Its run directory.
    pub dir: PathBuf,
    /// The round whose config this one changed (the best so far; 0 for round 0).
    pub base: usize,
    /// The changes this round made (empty for round 0).
    pub changes: Vec<Applied>,
    /// The loss of the first minibatch.
    pub first_loss: Option<f64>,
    /// The val loss after the round's steps (none when it diverged).
    pub val_loss: Option<f64>,
    /// Where it diverged, if it did.
    pub diverged: Option<DivergedRecord>,
    /// The largest share of saturated outputs of any layer at the last record.
    pub worst_saturation: Option<f64>,
    /// The median log10 update ratio of the weight matrices at the last record.
    pub median_update: Option<f64>,
    /// Saturation per layer at the last record.
    pub layers: Vec<LayerLine>,
    /// Update ratio per weight at the last record.
    pub params: Vec<ParamLine>,
    /// What still looks wrong.
    pub advice: Vec<Advice>,
    /// The recorded steps, for pictures.
    #[serde(skip)]
    pub records: Vec<DiagnosticRecord>,
}

/// How far above its first loss a run's val loss must end for [`LOSS_ROSE_RULE`]: as for the
/// first-loss rule, a nat (a first minibatch's loss is one batch's, so it is noisy).
pub const LOSS_ROSE_MARGIN: f64 = 1.0;

/// The finding of a run whose val loss ended [`LOSS_ROSE_MARGIN`] above its first loss.
fn loss_rose(s: &RunSummary) -> Option<Advice> {
    (s.val_loss > s.first_loss + LOSS_ROSE_MARGIN).then(|| Advice {
        rule: LOSS_ROSE_RULE.into(),
        layer: None,
        message: format!(
            "the val loss after {} steps, {:.2}, is above the first loss, {:.2}: training made the model worse; lower the learning rate (train.lr)",
            s.steps, s.val_loss, s.first_loss
        ),
        remedy: Remedy::LowerLearningRate,
    })
}

/// The least drop in val loss that counts as an improvement: a change that moves it less is
/// not worth keeping (nor are the differences of float rounding).
pub const MIN_IMPROVEMENT: f64 = 1e-3;

/// Whether `round` improves on `best`: its val loss is lower by [`MIN_IMPROVEMENT`], or `best`
/// diverged (nothing is worse to keep).
pub(super) fn improves(round: &Round, best: &Round) -> bool {
    best.diverged.is_some() || val(round) < val(best) - MIN_IMPROVEMENT
}

/// A round's val loss, infinite when it diverged.
pub(super) fn val(r: &Round) -> f64 {
    r.val_loss
        .filter(|v| v.is_finite())
        .unwrap_or(f64::INFINITY)
}

impl Round {
    /// A finished round.
    pub(super) fn of(
        k: usize,
        dir: PathBuf,
        s: &RunSummary,
        records: Vec<DiagnosticRecord>,
    ) -> Self {
        let last = records.last();
        let layers = last
            .map(|r| {
                r.activations()
                    .filter_map(|l| {
                        Some(LayerLine {
                            name: l.name.clone(),
                            saturated: l.output.saturated_frac?,
                            std: l.output.summary.std,
                        })
                    })
                    .collect()
            })
            .unwrap_or_default();
        let params = last
            .map(|r| {
                r.params
                    .iter()
                    .filter(|p| p.is_matrix())
                    .filter_map(|p| {
                        Some(ParamLine {
                            name: p.name.clone(),
                            log10_update: p.log10_update_ratio?,
                        })
                    })
                    .collect()
            })
            .unwrap_or_default();
        Round {
            round: k,
            dir,
            base: 0,
            changes: Vec::new(),
            first_loss: Some(s.first_loss).filter(|l| l.is_finite()),
            val_loss: Some(s.val_loss),
            diverged: None,
            worst_saturation: last.and_then(DiagnosticRecord::max_saturation),
            median_update: last.and_then(DiagnosticRecord::median_log10_update),
            layers,
            params,
            advice: loss_rose(s)
                .into_iter()
                .chain(advice_of(&records))
                .collect(),
            records,
        }
    }

    /// A round that diverged: its one finding is the divergence.
    pub(super) fn diverged(k: usize, dir: PathBuf, d: DivergedRecord) -> Self {
        Round {
            round: k,
            dir,
            base: 0,
            changes: Vec::new(),
            first_loss: None,
            val_loss: None,
            advice: vec![diverged_advice(&d)],
            diverged: Some(d),
            worst_saturation: None,
            median_update: None,
            layers: Vec::new(),
            params: Vec::new(),
            records: Vec::new(),
        }
    }
}
