//! Part 3 of the suite: the lecture's deep BatchNorm stack at step 999, 8 seeds a side: every tanh
//! layer's std, saturation and activation-gradient std, every weight matrix's grad:data ratio and
//! log10 update ratio, against PyTorch's.

use super::check::{Check, Spread, SEEDS};
use super::io::{makemore, read_lines};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The step at which the deep stack's per-layer statistics are compared (0-based: the 1,000th).
const DIAGNOSE_STEP: u64 = 999;

/// The deep stack's tanh layers.
const DEEP_TANH_LAYERS: usize = 5;
/// The deep stack's weight matrices (embedding, 5 hidden, output).
const DEEP_WEIGHTS: usize = 7;

/// Each statistic (`tanh 1 std`, `weight 0 10x27 grad:data`, ..) over the seeds.
type Statistics = BTreeMap<String, Vec<f64>>;

/// The deep stack's statistics at [`DIAGNOSE_STEP`], ours over [`SEEDS`] seeds against PyTorch's
/// (`pytorch-deep-diagnostics.jsonl`), one check each.
pub(super) fn deep(data: &str, out: &Path, reference: &Path) -> Result<Vec<Check>, String> {
    let mut ours = Statistics::new();
    for seed in 1..=SEEDS {
        add_ours(&mut ours, &diagnose(data, out, seed)?);
    }
    let name = "pytorch-deep-diagnostics.jsonl";
    let mut theirs = Statistics::new();
    for r in read_lines(&reference.join(name))? {
        add_theirs(&mut theirs, &r["diagnostics"]);
    }
    if ours.keys().ne(theirs.keys()) {
        return Err(format!(
            "the deep stack's statistics do not line up with {name}: ours {:?}, PyTorch's {:?}",
            ours.keys().collect::<Vec<_>>(),
            theirs.keys().collect::<Vec<_>>()
        ));
    }
    let expected = DEEP_TANH_LAYERS * 3 + DEEP_WEIGHTS * 2;
    if ours.len() != expected {
        return Err(format!(
            "the deep stack gave {} statistics, not {expected} ({DEEP_TANH_LAYERS} tanh layers x 3, \
             {DEEP_WEIGHTS} weight matrices x 2)",
            ours.len()
        ));
    }
    Ok(ours
        .into_iter()
        .map(|(k, v)| {
            let t = Spread::of(&theirs[&k]);
            let what = format!("deep step {DIAGNOSE_STEP} {k}");
            Check::new(what, Spread::of(&v), t, deep_rounding(&k, t.mean))
        })
        .collect())
}

/// Appends `v` (NaN when missing) to the statistic `key`.
fn put(stats: &mut Statistics, key: String, v: Option<f64>) {
    stats.entry(key).or_default().push(v.unwrap_or(f64::NAN));
}

/// Trains the deep stack with `seed` to [`DIAGNOSE_STEP`] and returns its diagnostics record of
/// that step.
fn diagnose(data: &str, out: &Path, seed: u64) -> Result<Value, String> {
    let dir: PathBuf = out.join(format!("deep-seed{seed}"));
    let (dir_arg, seed) = (dir.display().to_string(), seed.to_string());
    let steps = (DIAGNOSE_STEP + 1).to_string();
    makemore(&[
        "diagnose",
        "--config",
        "configs/lecture/deep-batchnorm.toml",
        "--data",
        data,
        "--steps",
        &steps,
        "--every",
        &steps,
        "--seed",
        &seed,
        "--out",
        &dir_arg,
        "--force",
    ])?;
    let path = dir.join("diagnostics.jsonl");
    let records = read_lines(&path)?;
    records
        .into_iter()
        .find(|r| r["step"] == DIAGNOSE_STEP)
        .ok_or_else(|| format!("{}: no step {DIAGNOSE_STEP}", path.display()))
}

/// Adds one seed's statistics from our diagnostics record `at`.
fn add_ours(ours: &mut Statistics, at: &Value) {
    let tanh = at["layers"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|l| l["output"]["saturated_frac"].is_number());
    for (i, l) in tanh.enumerate() {
        let o = &l["output"];
        let mut tanh_put = |k: &str, v: Option<f64>| put(ours, format!("tanh {} {k}", i + 1), v);
        tanh_put("std", o["std"].as_f64());
        tanh_put(
            "saturated %",
            o["saturated_frac"].as_f64().map(|f| 100.0 * f),
        );
        tanh_put("grad std", l["grad"]["std"].as_f64());
    }
    let weights = at["params"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|p| p["shape"].as_array().is_some_and(|s| s.len() == 2));
    for (i, p) in weights.enumerate() {
        let dims = sorted_dims(&p["shape"]);
        let mut weight_put =
            |k: &str, v: Option<f64>| put(ours, format!("weight {i} {dims} {k}"), v);
        weight_put("grad:data", p["grad_data_ratio"].as_f64());
        weight_put("log10 update", p["log10_update_ratio"].as_f64());
    }
}

/// Adds one seed's statistics from a PyTorch reference line's `diagnostics`.
fn add_theirs(theirs: &mut Statistics, d: &Value) {
    for (i, t) in d["tanh"].as_array().into_iter().flatten().enumerate() {
        let mut tanh_put = |k: &str, v: Option<f64>| put(theirs, format!("tanh {} {k}", i + 1), v);
        tanh_put("std", t["std"].as_f64());
        tanh_put("saturated %", t["saturated_pct"].as_f64());
        tanh_put("grad std", t["grad_std"].as_f64());
    }
    for (i, w) in d["weights"].as_array().into_iter().flatten().enumerate() {
        let dims = sorted_dims(&w["shape"]);
        let mut weight_put =
            |k: &str, v: Option<f64>| put(theirs, format!("weight {i} {dims} {k}"), v);
        weight_put("grad:data", w["grad_data_ratio"].as_f64());
        weight_put("log10 update", w["log10_update_ratio"].as_f64());
    }
}

/// A weight's shape with its dimensions sorted (`10x27`): ours are `[in, out]`, PyTorch's
/// `[out, in]`.
fn sorted_dims(shape: &Value) -> String {
    let mut dims: Vec<u64> = shape
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_u64)
        .collect();
    dims.sort_unstable();
    dims.iter()
        .map(u64::to_string)
        .collect::<Vec<_>>()
        .join("x")
}

/// Half the last digit `pytorch_lecture.py --diagnose-at` prints of a statistic of about
/// `value`: std to 4 decimals, saturation (%) to 2, log10 update to 3, gradient std and
/// grad:data to 5 significant figures (allowed as if 4).
fn deep_rounding(key: &str, value: f64) -> f64 {
    if key.ends_with("grad std") || key.ends_with("grad:data") {
        5e-4 * value.abs()
    } else if key.ends_with('%') {
        5e-3
    } else if key.ends_with("update") {
        5e-4
    } else {
        5e-5
    }
}
