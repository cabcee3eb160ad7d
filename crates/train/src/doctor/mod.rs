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

mod round;

use round::improves;

pub use round::{
    diverged_advice, Applied, LayerLine, ParamLine, Round, DIVERGED_RULE, LOSS_ROSE_MARGIN,
    LOSS_ROSE_RULE, MIN_IMPROVEMENT,
};

use crate::remedy::{changes, overlaps, Family};
use crate::run_dir::{DivergedRecord, RunDir, DIAGNOSTICS, RUN_INFO, SUMMARY};
use crate::{Observer, RunOptions, RunSummary};
use makemore_diagnostics::{Advice, DiagnosticRecord};
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

/// Why the loop stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Stopped {
    /// The last round left no advice.
    NoAdvice,
    /// The last round's val loss was no better than the best one's, its changes were undone,
    /// and no other allowed kind of change was left to try (or no round).
    NotImproving,
    /// `rounds` rounds of changes were made (the last undone where it did not help).
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

/// The next round's changes to `cfg`: the family of the most severe finding that an allowed
/// change carries out, and every allowed change of that family, one per setting (the more
/// severe finding's). Empty when no allowed change carries out any of the advice.
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
                break Stopped::RoundsDone;
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
        observer.round(k);
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
            Err(e) => match DivergedRecord::of(&e) {
                Some(d) => Ok(Round::diverged(k, path, d)),
                None => Err(e),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use makemore_diagnostics::Remedy;

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
