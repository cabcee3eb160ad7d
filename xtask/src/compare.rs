//! `cargo xtask compare`: every compiled backend trains the same models from the same weights on
//! the same batches; their losses must agree with flex's CPU kernels. flex also trains a second
//! time with its kernels off (`MAKEMORE_CPU_KERNELS=off`, the row `flex-burn-ops`): Burn's own
//! ops on the same backend, so that the kernels are checked against an independent
//! implementation even where flex is the only backend compiled in. ndarray runs the same kernels
//! as flex (so it agrees exactly); wgpu and tch run Burn's ops on their own devices.
//!
//! Tolerances, from what is measured (200 steps, the five models below, on flex-burn-ops, ndarray
//! and wgpu under lavapipe): the largest difference of any of the three losses is 4.8e-7. The
//! first loss comes from identical weights and an identical batch, so backends may differ only
//! by float summation order: 2e-6 (4x headroom). The loss at step 200 and the val loss carry 200
//! updates of those rounding differences: 1e-5 each (20x headroom), so a kernel that moves a loss
//! by 1e-5 fails. tch (libtorch's own CPU kernels, not in CI) differed by up to 4.3e-6 when it
//! was measured (README, Backends), so its rows get [`TCH_SCALE`] times these tolerances.

use crate::{binary, features, root, target_dir, FeatureArgs, MITIGATIONS, MODELS};
use serde_json::{json, Value};
use std::process::Command;

const FIRST_LOSS_TOL: f64 = 2e-6;
const FINAL_LOSS_TOL: f64 = 1e-5;
const VAL_LOSS_TOL: f64 = 1e-5;

/// How much wider tch's tolerances are: libtorch sums in its own order (measured up to 4.3e-6).
const TCH_SCALE: f64 = 10.0;

/// The row of flex with its CPU kernels off (`MAKEMORE_CPU_KERNELS=off`): Burn's own ops.
const BURN_OPS: &str = "flex-burn-ops";

/// Steps each backend trains by default.
pub const DEFAULT_STEPS: u64 = 200;

/// Flags of `cargo xtask compare`.
#[derive(clap::Args)]
pub struct CompareArgs {
    #[command(flatten)]
    pub features: FeatureArgs,
    /// Steps each backend trains.
    #[arg(long, default_value_t = DEFAULT_STEPS)]
    pub steps: u64,
    /// One JSON object on stdout.
    #[arg(long)]
    pub json: bool,
}

/// One training of each model: the row's name, the backend it trains on and whether flex's CPU
/// kernels are on (`MAKEMORE_CPU_KERNELS`).
type Run = (String, String, bool);

/// Runs the comparison.
pub fn compare(args: &CompareArgs) -> Result<(), String> {
    let features = features(&args.features)?;
    let (steps, as_json) = (args.steps, args.json);
    crate::build_binary(&features)?;
    let backends = compiled_backends(&features)?;
    let data = std::env::var("MAKEMORE_DATA")
        .unwrap_or_else(|_| root().join("data/names.txt").display().to_string());
    // Each compiled backend, then flex again with its CPU kernels off: Burn's own ops on the same
    // backend, so that the kernels are checked even where flex is the only backend.
    let mut runs: Vec<Run> = backends
        .iter()
        .map(|b| (b.clone(), b.clone(), true))
        .collect();
    runs.push((BURN_OPS.into(), "flex".into(), false));
    let mut rows = Vec::new();
    let mut failures = Vec::new();
    for (model, config) in MODELS.into_iter().chain(MITIGATIONS) {
        let mut results = Vec::new();
        for run in &runs {
            results.push((run.0.clone(), train(model, config, run, &data, steps)?));
        }
        agreement(model, steps, &results, &mut rows, &mut failures);
    }
    let report = json!({ "steps": steps, "features": features, "reference": "flex",
        "tolerances": { "first_loss": FIRST_LOSS_TOL, "final_loss": FINAL_LOSS_TOL, "val_loss": VAL_LOSS_TOL }, "rows": rows });
    let dir = target_dir().join("compare");
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let text = serde_json::to_string_pretty(&report).map_err(|e| e.to_string())?;
    std::fs::write(dir.join("latest.json"), text).map_err(|e| e.to_string())?;
    if as_json {
        println!("{report}");
    } else {
        print_table(steps, &rows);
    }
    if failures.is_empty() {
        eprintln!(
            "compare: {} agree with flex's kernels",
            runs[1..]
                .iter()
                .map(|r| r.0.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        );
        Ok(())
    } else {
        Err(format!("backends disagree:\n{}", failures.join("\n")))
    }
}

/// The backends compiled into the binary, in the order `makemore backends` lists them; fails
/// when one is unusable, flex is missing or a backend `features` names is not there.
fn compiled_backends(features: &str) -> Result<Vec<String>, String> {
    let out = Command::new(binary())
        .args(["backends", "--json"])
        .output()
        .map_err(|e| e.to_string())?;
    let listed: Value =
        serde_json::from_slice(&out.stdout).map_err(|e| format!("makemore backends: {e}"))?;
    let mut backends = Vec::new();
    for b in listed["backends"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|b| b["compiled_in"] == true)
    {
        let name = b["name"].as_str().unwrap_or("?").to_string();
        if b["usable"] != true {
            return Err(format!(
                "backend {name} is compiled in but unusable: {}",
                b["error"]
            ));
        }
        backends.push(name);
    }
    if !backends.iter().any(|b| b == "flex") {
        return Err("compare needs the flex backend as the reference".into());
    }
    let missing: Vec<&str> = features
        .split(',')
        .map(str::trim)
        .filter(|f| ["flex", "ndarray", "wgpu", "tch"].contains(f))
        .filter(|f| !backends.iter().any(|b| b == f))
        .collect();
    if !missing.is_empty() {
        return Err(format!(
            "the features name {} but the binary has only {} compiled in",
            missing.join(", "),
            backends.join(", ")
        ));
    }
    Ok(backends)
}

/// Trains `model` (`config`) for `steps` steps as `run` says; returns `makemore train --json`'s
/// summary.
fn train(model: &str, config: &str, run: &Run, data: &str, steps: u64) -> Result<Value, String> {
    let (b, backend, kernels) = run;
    eprintln!("compare: {model} on {b}, {steps} steps");
    let dir = target_dir().join("compare").join(format!("{model}-{b}"));
    let out = Command::new(binary())
        .current_dir(root())
        .env("MAKEMORE_CPU_KERNELS", if *kernels { "on" } else { "off" })
        .args([
            "train",
            "--backend",
            backend,
            "--config",
            config,
            "--data",
            data,
            "--steps",
            &steps.to_string(),
            "--out",
        ])
        .arg(&dir)
        .args(["--force", "--quiet", "--json"])
        .output()
        .map_err(|e| e.to_string())?;
    if !out.status.success() {
        return Err(format!(
            "{model} on {b}: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    serde_json::from_slice(&out.stdout).map_err(|e| format!("{model} on {b}: {e}"))
}

/// Compares every run's losses on `model` with the first's (flex's kernels): appends a row per
/// run to `rows`, and a line to `failures` for each run outside the tolerances.
fn agreement(
    model: &str,
    steps: u64,
    results: &[(String, Value)],
    rows: &mut Vec<Value>,
    failures: &mut Vec<String>,
) {
    let f = |s: &Value, k: &str| s[k].as_f64().unwrap_or(f64::NAN);
    let reference = results[0].1.clone();
    for (b, s) in results {
        let d_first = (f(s, "first_loss") - f(&reference, "first_loss")).abs();
        let d_final = (f(s, "final_loss") - f(&reference, "final_loss")).abs();
        let d_val = (f(s, "val_loss") - f(&reference, "val_loss")).abs();
        let k = if b == "tch" { TCH_SCALE } else { 1.0 };
        let ok = d_first <= k * FIRST_LOSS_TOL
            && d_final <= k * FINAL_LOSS_TOL
            && d_val <= k * VAL_LOSS_TOL;
        if !ok {
            failures.push(format!("{model} on {b}: first loss differs by {d_first:.2e}, loss at step {steps} by {d_final:.2e}, val loss by {d_val:.2e}"));
        }
        rows.push(json!({
            "model": model, "backend": b, "first_loss": f(s, "first_loss"), "final_loss": f(s, "final_loss"), "val_loss": f(s, "val_loss"),
            "diff_first": d_first, "diff_final": d_final, "diff_val": d_val, "us_per_step": f(s, "us_per_step"), "agrees": ok,
        }));
    }
}

/// Prints the tolerances and the rows as a markdown table.
fn print_table(steps: u64, rows: &[Value]) {
    println!("{steps} steps, reference flex; tolerances: first loss {FIRST_LOSS_TOL:e}, loss at step {steps} {FINAL_LOSS_TOL:e}, val loss {VAL_LOSS_TOL:e} ({TCH_SCALE}x for tch)");
    println!("| model | backend | first loss | loss at {steps} | val loss | max diff from flex | us/step |");
    println!("|---|---|---|---|---|---|---|");
    for r in rows {
        let g = |k: &str| r[k].as_f64().unwrap_or(f64::NAN);
        let max = g("diff_first").max(g("diff_final")).max(g("diff_val"));
        println!(
            "| {} | {} | {:.6} | {:.6} | {:.6} | {:.1e} | {:.0} |",
            r["model"].as_str().unwrap_or(""),
            r["backend"].as_str().unwrap_or(""),
            g("first_loss"),
            g("final_loss"),
            g("val_loss"),
            max,
            g("us_per_step")
        );
    }
}
