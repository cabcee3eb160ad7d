//! Part 1 of the suite: the lecture's five rows at 10,000 steps, 8 seeds a side, against
//! PyTorch's, and every fixed row's first loss against ln(vocab).

use super::check::{Check, Spread, ROUNDING, SEEDS};
use super::io::{makemore, number, read_json, read_lines};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::Path;

/// Steps of the lecture rows (lr 0.1 throughout, as the lecture's first half).
const LECTURE_STEPS: u64 = 10_000;

/// How far a fixed row's mean first loss may sit above or below ln(vocab): a uniform softmax
/// perturbed by logits of standard deviation s costs about s^2 / 2 nats, and the fixed rows'
/// logits start with s < 0.3 (0.045 nats).
const FIRST_LOSS_FROM_UNIFORM: f64 = 0.05;

/// The lecture's rows: ours as `makemore lecture` names them, PyTorch's as `--model` does.
const ROWS: [(&str, &str); 5] = [
    ("original", "original"),
    ("fix-softmax", "fix-softmax"),
    ("fix-tanh", "fix-tanh"),
    ("kaiming", "kaiming"),
    ("batchnorm", "bn1"),
];

/// The lecture's rows, ours over [`SEEDS`] seeds against PyTorch's (`pytorch-lecture-10000.jsonl`):
/// val and first loss, and each fixed row's mean first loss against ln(vocab).
pub(super) fn lecture(data: &str, out: &Path, reference: &Path) -> Result<Vec<Check>, String> {
    let dir = out.join("lecture");
    let _ = std::fs::remove_dir_all(&dir);
    let (steps, seeds) = (LECTURE_STEPS.to_string(), SEEDS.to_string());
    let dir_arg = dir.display().to_string();
    makemore(&[
        "lecture", "--data", data, "--steps", &steps, "--seeds", &seeds, "--seed", "1", "--out",
        &dir_arg,
    ])?;
    let theirs = read_lines(&reference.join("pytorch-lecture-10000.jsonl"))?;
    let mut checks = Vec::new();
    for (ours_name, their_name) in ROWS {
        let mut ours: BTreeMap<&str, Vec<f64>> = BTreeMap::new();
        let mut expected = f64::NAN;
        for seed in 1..=SEEDS {
            let path = dir.join(format!("{ours_name}-seed{seed}/summary.json"));
            let s = read_json(&path)?;
            let whence = path.display().to_string();
            ours.entry("val_loss")
                .or_default()
                .push(number(&s, "val_loss", &whence)?);
            ours.entry("first_loss")
                .or_default()
                .push(number(&s, "first_loss", &whence)?);
            expected = number(&s, "expected_first_loss", &whence)?;
        }
        let rows: Vec<&Value> = theirs.iter().filter(|r| r["model"] == their_name).collect();
        for key in ["val_loss", "first_loss"] {
            let values: Vec<f64> = rows.iter().filter_map(|r| r[key].as_f64()).collect();
            if values.len() < 2 {
                return Err(format!(
                    "pytorch-lecture-10000.jsonl: fewer than two {their_name} rows with {key}"
                ));
            }
            let what = format!("lecture {ours_name} {key}");
            checks.push(Check::new(
                what,
                Spread::of(&ours[key]),
                Spread::of(&values),
                ROUNDING,
            ));
        }
        if ours_name != "original" {
            // The expectation itself, ln(vocab), as a reference without spread.
            let uniform = Spread {
                mean: expected,
                sd: 0.0,
                n: 1,
            };
            checks.push(Check {
                what: format!("lecture {ours_name} first loss vs ln(vocab)"),
                ours: Spread::of(&ours["first_loss"]),
                theirs: uniform,
                tolerance: FIRST_LOSS_FROM_UNIFORM,
            });
        }
    }
    Ok(checks)
}
