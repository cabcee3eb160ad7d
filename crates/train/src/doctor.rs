//! The lecture's loop as one call: train a config for a few steps with diagnostics, turn the
//! advice into config changes ([`crate::remedy`]), train again from the same seed and batches,
//! and stop when nothing is left to fix, the val loss stops improving, or the rounds run out. A
//! change that does not lower the val loss is undone, and the next allowed kind of change is
//! tried on the best round instead.
//! Each round is a run directory (`OUT/round-K`), so a stopped doctor continues where it was:
//! finished rounds are read back, a stopped one resumes.
//!
//! ```no_run
//! use makemore_model::{BackendKind, Dataset};
//! use makemore_train::doctor::{Doctor, Spec, DEFAULT_ALLOW};
//! use makemore_train::Silent;
//! use std::sync::atomic::AtomicBool;
//!
//! let text = std::fs::read_to_string("configs/lecture/original.toml").unwrap();
//! let spec = Spec { text: &text, source: "original.toml", sets: &[], steps: 1000, every: 100, rounds: 3, allow: &DEFAULT_ALLOW };
//! let cfg = spec.config(&[]).unwrap();
//! let data = std::path::Path::new("names.txt");
//! let ds = Dataset::load(data, &cfg.data, cfg.model.block_size).unwrap();
//! let stop = AtomicBool::new(false);
//! let backend = BackendKind::Flex;
//! let doctor = Doctor { spec, ds: &ds, data, backend, device: backend.open().unwrap(), stop: &stop, out: "doctor".as_ref(), force: false };
//! let report = doctor.run(&mut Silent).unwrap();
//! println!("{} rounds, stopped: {}", report.rounds.len(), report.stopped);
//! ```

use crate::recording::advice_of;
use crate::remedy::{changes, overlaps, Family};
use crate::run_dir::{DivergedRecord, RunDir, DIAGNOSTICS, RUN_INFO, SUMMARY};
use crate::{Observer, RunOptions, RunSummary};
use makemore_diagnostics::{Advice, DiagnosticRecord, Remedy};
use makemore_model::backend::BackendKind;
use makemore_model::config::{ConfigError, RunConfig};
use makemore_model::{Dataset, Device, RunError};
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;

/// What the doctor may change unless told otherwise: the init and the learning rate, so that a
/// model without normalization stays one.
pub const DEFAULT_ALLOW: [Family; 2] = [Family::Init, Family::Lr];

/// The learning rate of a run that diverged is multiplied by this each round.
pub const DIVERGED_LR_FACTOR: f64 = 0.1;

/// The rule name of the finding "the run diverged".
pub const DIVERGED_RULE: &str = "diverged";

/// The rule name of the finding "training made the loss worse than it started": a divergence
/// in all but name (on `kaiming`, a learning rate of 5 ends at val loss 51.5 from a first loss
/// of 3.31, every tanh saturated), corrected the same way.
pub const LOSS_ROSE_RULE: &str = "loss_rose";

/// What to doctor: the config's text and source, the user's `--set`s, and the loop's limits.
#[derive(Debug, Clone, Copy)]
pub struct Spec<'a> {
    /// The config file's text (a built-in config's, or a run directory's config.toml).
    pub text: &'a str,
    /// Where it came from, for messages.
    pub source: &'a str,
    /// The user's own `--set KEY=VALUE`s, kept in every round and in the fixed config.
    pub sets: &'a [String],
    /// Steps of each round (the fixed config keeps the config's own).
    pub steps: u64,
    /// Record diagnostics every this many steps.
    pub every: u64,
    /// Rounds of changes after the first look.
    pub rounds: usize,
    /// The kinds of change allowed.
    pub allow: &'a [Family],
}

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

/// Why the loop stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Stopped {
    /// The last round left no advice.
    NoAdvice,
    /// The last round's val loss was no better than the best one's, its changes were undone,
    /// and no other allowed kind of change was left to try (or no round).
    NotImproving,
    /// `rounds` rounds of changes were made.
    RoundsDone,
    /// Advice remains, but no allowed change carries it out.
    NothingAllowed,
}

impl std::fmt::Display for Stopped {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Stopped::NoAdvice => "no advice remains",
            Stopped::NotImproving => {
                "the val loss stopped improving (the changes that did not lower it are not kept)"
            }
            Stopped::RoundsDone => "the rounds ran out",
            Stopped::NothingAllowed => "advice remains that no allowed change carries out",
        })
    }
}

/// What the doctor did.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// The config it started from.
    pub config: String,
    /// The kinds of change it was allowed.
    pub allow: Vec<Family>,
    /// Steps per round.
    pub steps: u64,
    /// Every round run.
    pub rounds: Vec<Round>,
    /// The round whose config is the fixed one.
    pub best: usize,
    /// Why it stopped.
    pub stopped: Stopped,
    /// The changes the fixed config has, in order.
    pub fixed: Vec<Applied>,
}

impl Report {
    /// The fixed round's remaining advice.
    pub fn remaining(&self) -> &[Advice] {
        &self.rounds[self.best].advice
    }
}

impl Spec<'_> {
    /// The config with the user's `--set`s and `changes`: the fixed config, with its own steps.
    pub fn config(&self, changes: &[Applied]) -> Result<RunConfig, ConfigError> {
        let sets: Vec<String> = self
            .sets
            .iter()
            .cloned()
            .chain(changes.iter().map(Applied::set_arg))
            .collect();
        RunConfig::from_toml_str(self.text, self.source, &sets)
    }

    /// A round's config: the fixed config with the round's steps and recording.
    fn round_config(&self, changes: &[Applied]) -> Result<RunConfig, ConfigError> {
        let mut cfg = self.config(changes)?;
        cfg.train.steps = self.steps;
        cfg.log.diagnose_every = Some(self.every);
        cfg.validate("doctor --steps/--every")?;
        Ok(cfg)
    }
}

/// How bad a finding is: lower comes first.
fn severity(rule: &str) -> u8 {
    match rule {
        DIVERGED_RULE | LOSS_ROSE_RULE => 0,
        "overconfident_output" => 1,
        "saturation" => 2,
        "dead_units" => 3,
        "std_drift" => 4,
        "gradient_drift" => 5,
        _ => 6,
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

/// The next round's changes to `cfg`: the family of the most severe finding that an allowed
/// change carries out, and every allowed change of that family, one per setting (the more
/// severe finding's). `None` when no allowed change carries out any of the advice.
pub fn plan(
    round: usize,
    advice: &[Advice],
    cfg: &RunConfig,
    last: Option<&DiagnosticRecord>,
    allow: &[Family],
) -> Vec<Applied> {
    let mut sorted: Vec<&Advice> = advice.iter().collect();
    sorted.sort_by_key(|a| severity(&a.rule));
    let mut family = None;
    let mut out: Vec<Applied> = Vec::new();
    for a in sorted {
        let proposed = if a.rule == DIVERGED_RULE || a.rule == LOSS_ROSE_RULE {
            crate::remedy::scaled_lr(cfg, DIVERGED_LR_FACTOR)
                .into_iter()
                .collect()
        } else {
            changes(a, cfg, last)
        };
        for c in proposed {
            if !allow.contains(&c.family) || *family.get_or_insert(c.family) != c.family {
                continue;
            }
            if out.iter().any(|x| overlaps(&x.key, &c.key)) {
                continue;
            }
            out.push(Applied {
                round,
                family: c.family,
                key: c.key,
                value: c.value,
                rule: a.rule.clone(),
                finding: a.message.clone(),
            });
        }
    }
    out
}

/// `so_far` with `new` after it; an earlier change of a setting `new` changes again is dropped.
fn merged(so_far: &[Applied], new: &[Applied]) -> Vec<Applied> {
    let mut out: Vec<Applied> = so_far
        .iter()
        .filter(|a| !new.iter().any(|n| overlaps(&a.key, &n.key)))
        .cloned()
        .collect();
    out.extend_from_slice(new);
    out
}

/// Where and how the doctor trains.
pub struct Doctor<'a> {
    /// What to doctor.
    pub spec: Spec<'a>,
    /// The corpus.
    pub ds: &'a Dataset,
    /// Where the corpus came from.
    pub data: &'a Path,
    /// Which backend `device` belongs to.
    pub backend: BackendKind,
    /// The device.
    pub device: Device,
    /// Raised to stop (Ctrl-C): the round in progress keeps a checkpoint.
    pub stop: &'a AtomicBool,
    /// The doctor's folder: `round-K` run directories.
    pub out: &'a Path,
    /// Train every round again, even where a finished one is there.
    pub force: bool,
}

/// The folder of round `k` under `out`.
pub fn round_dir(out: &Path, k: usize) -> PathBuf {
    out.join(format!("round-{k}"))
}

impl Doctor<'_> {
    /// Runs the loop; `Err` for a round that could not run (interrupted, bad config, I/O).
    pub fn run(&self, observer: &mut dyn Observer) -> Result<Report, RunError> {
        let spec = &self.spec;
        let mut rounds: Vec<Round> = Vec::new();
        let mut kept: Vec<Vec<Applied>> = Vec::new();
        let mut best = 0;
        let mut so_far: Vec<Applied> = Vec::new();
        let mut made: Vec<Applied> = Vec::new();
        // The kinds of change that did not improve on the best round.
        let mut tried: Vec<Family> = Vec::new();
        let mut base = 0;
        let stopped = loop {
            let k = rounds.len();
            let cfg = spec.round_config(&so_far).map_err(RunError::Config)?;
            let mut round = self.round(k, &cfg, observer)?;
            round.changes = made.clone();
            round.base = base;
            let better = k == 0 || improves(&round, &rounds[best]);
            rounds.push(round);
            kept.push(so_far.clone());
            if better {
                best = k;
                tried.clear();
            } else {
                tried.extend(made.first().map(|a| a.family));
            }
            let r = &rounds[best];
            let give_up = |s: Stopped| if better { s } else { Stopped::NotImproving };
            if better && r.advice.is_empty() {
                break Stopped::NoAdvice;
            }
            if k == spec.rounds {
                break give_up(Stopped::RoundsDone);
            }
            // The next change is made on the best round, in a kind not yet tried on it.
            let allow: Vec<Family> = (spec.allow.iter())
                .filter(|f| !tried.contains(f))
                .copied()
                .collect();
            let from = spec.round_config(&kept[best]).map_err(RunError::Config)?;
            made = plan(k + 1, &r.advice, &from, r.records.last(), &allow);
            let next = merged(&kept[best], &made);
            let unchanged = spec
                .round_config(&next)
                .map_err(RunError::Config)?
                .to_toml()
                == from.to_toml();
            if made.is_empty() || unchanged {
                break give_up(Stopped::NothingAllowed);
            }
            so_far = next;
            base = best;
        };
        Ok(Report {
            config: spec.source.to_owned(),
            allow: spec.allow.to_vec(),
            steps: spec.steps,
            fixed: kept[best].clone(),
            rounds,
            best,
            stopped,
        })
    }

    /// Trains round `k` (or reads it back: a finished run of the same config is not trained
    /// again, a stopped one resumes).
    fn round(
        &self,
        k: usize,
        cfg: &RunConfig,
        observer: &mut dyn Observer,
    ) -> Result<Round, RunError> {
        let path = round_dir(self.out, k);
        let dir = RunDir::new(&path);
        let mut opts = RunOptions {
            force: self.force,
            ..RunOptions::new(
                self.backend,
                self.device.clone(),
                Some(path.clone()),
                self.stop,
            )
        };
        if !self.force && dir.holds_run() && dir.read_config_text()? == cfg.to_toml() {
            dir.read_info()?
                .check_corpus(self.ds, &dir.file(RUN_INFO))?;
            if let Some(d) = dir.diverged()? {
                return Ok(Round::diverged(k, path, d));
            }
            if dir.is_finished() {
                let summary: RunSummary = dir.read_json(SUMMARY)?;
                let records: Vec<DiagnosticRecord> = dir.read_jsonl(DIAGNOSTICS)?;
                return Ok(Round::of(k, path, &summary, records));
            }
            opts.resume = true;
        }
        match crate::train(cfg, self.ds, self.data, &opts, observer) {
            Ok(o) => {
                let records = o.diagnosis.map(|d| d.records).unwrap_or_default();
                Ok(Round::of(k, path, &o.summary, records))
            }
            Err(RunError::Diverged {
                step,
                lr,
                loss,
                culprit,
                ..
            }) => Ok(Round::diverged(
                k,
                path,
                DivergedRecord {
                    step,
                    lr,
                    loss,
                    culprit,
                },
            )),
            Err(e) => Err(e),
        }
    }
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
fn improves(round: &Round, best: &Round) -> bool {
    best.diverged.is_some() || val(round) < val(best) - MIN_IMPROVEMENT
}

/// A round's val loss, infinite when it diverged.
fn val(r: &Round) -> f64 {
    r.val_loss
        .filter(|v| v.is_finite())
        .unwrap_or(f64::INFINITY)
}

impl Round {
    /// A finished round.
    fn of(k: usize, dir: PathBuf, s: &RunSummary, records: Vec<DiagnosticRecord>) -> Self {
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
    fn diverged(k: usize, dir: PathBuf, d: DivergedRecord) -> Self {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn advice(rule: &str, remedy: Remedy) -> Advice {
        Advice {
            rule: rule.into(),
            layer: None,
            message: format!("{rule} found"),
            remedy,
        }
    }

    fn original() -> RunConfig {
        let path = format!(
            "{}/../../configs/lecture/original.toml",
            env!("CARGO_MANIFEST_DIR")
        );
        RunConfig::from_file(Path::new(&path), &[]).unwrap()
    }

    fn keys(p: &[Applied]) -> Vec<&str> {
        p.iter().map(|a| a.key.as_str()).collect()
    }

    #[test]
    fn one_family_per_round_the_most_severe_first() {
        let cfg = original();
        let found = [
            advice("saturation", Remedy::ScaleDownHidden),
            advice("overconfident_output", Remedy::ScaleDownOutput),
            advice("dead_units", Remedy::ScaleDownHidden),
        ];
        let p = plan(1, &found, &cfg, None, &DEFAULT_ALLOW);
        assert_eq!(
            keys(&p),
            ["init.output.scale", "init.output_bias", "init.hidden.scale"]
        );
        assert_eq!(p[0].rule, "overconfident_output");
        assert_eq!(p[2].rule, "saturation", "the more severe finding names it");
        // Only norm allowed: the output finding has no norm change; saturation's is BatchNorm.
        let p = plan(1, &found, &cfg, None, &[Family::Norm]);
        assert_eq!(keys(&p), ["model.norm"]);
        assert!(plan(1, &found, &cfg, None, &[Family::Lr]).is_empty());
    }

    #[test]
    fn a_divergence_lowers_the_rate_tenfold_before_anything_else() {
        let cfg = original();
        let d = DivergedRecord {
            step: 3,
            lr: 0.1,
            loss: "NaN".into(),
            culprit: "layer 1".into(),
        };
        let found = [
            advice("overconfident_output", Remedy::ScaleDownOutput),
            diverged_advice(&d),
        ];
        let p = plan(1, &found, &cfg, None, &DEFAULT_ALLOW);
        assert_eq!(keys(&p), ["train.lr"]);
        assert_eq!(p[0].value, "[[0, 0.01], [100000, 0.001]]");
    }

    #[test]
    fn a_round_improves_by_a_margin_or_on_a_divergence() {
        let diverged = || {
            let d = DivergedRecord {
                step: 3,
                lr: 1.0,
                loss: "NaN".into(),
                culprit: "layer 1".into(),
            };
            Round::diverged(1, PathBuf::new(), d)
        };
        let finished = |val: f64| Round {
            diverged: None,
            val_loss: Some(val),
            ..diverged()
        };
        assert!(improves(&finished(2.40), &finished(2.50)));
        assert!(
            !improves(&finished(2.4995), &finished(2.50)),
            "within the margin"
        );
        assert!(!improves(&finished(2.60), &finished(2.50)));
        // A divergence after a divergence (a rate still too high) is no worse: go on lowering.
        assert!(improves(&diverged(), &diverged()));
        assert!(improves(&finished(9.0), &diverged()));
        assert!(!improves(&diverged(), &finished(2.50)));
    }

    #[test]
    fn a_setting_changed_again_keeps_its_latest_value_only() {
        let a = |round, key: &str, value: &str| Applied {
            round,
            family: Family::Init,
            key: key.into(),
            value: value.into(),
            rule: "r".into(),
            finding: "f".into(),
        };
        let so_far = [
            a(1, "init.hidden.scale", "0.2"),
            a(1, "init.output.scale", "0.01"),
        ];
        let m = merged(&so_far, &[a(2, "init.hidden", "{ scheme = \"zeros\" }")]);
        assert_eq!(keys(&m), ["init.output.scale", "init.hidden"]);
    }
}
