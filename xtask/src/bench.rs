//! `cargo xtask bench`: every compiled backend on the lecture's two models, interleaved with
//! PyTorch eager on the same machine, as a markdown table and `target/bench/latest.json`.

use crate::{binary, features, root, target_dir, FeatureArgs, MITIGATIONS, MODELS};
use serde_json::{json, Value};
use std::process::Command;
use std::time::Instant;

/// Flags of `cargo xtask bench`.
#[derive(clap::Args)]
pub struct BenchArgs {
    #[command(flatten)]
    features: FeatureArgs,
    /// Interleaved runs per contender (the table shows medians).
    #[arg(long, default_value_t = 5)]
    repeats: usize,
    /// Timed steps per run.
    #[arg(long, default_value_t = 2000)]
    steps: u64,
    /// Also time the full `makemore lecture`.
    #[arg(long)]
    lecture: bool,
    /// Instead: the size ladder (bn1, deep, wide, big) on every compiled CPU backend against
    /// PyTorch at 1 thread and every core, with GFLOP/s and the machine's peak; writes
    /// `target/bench/ladder.json` and `ladder.svg`.
    #[arg(long, conflicts_with_all = ["steps", "lecture"])]
    ladder: bool,
}

pub(crate) fn json_of(mut cmd: Command) -> Result<Value, String> {
    let shown = format!("{cmd:?}");
    let out = cmd.output().map_err(|e| format!("{shown}: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "{shown} failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    serde_json::from_slice(&out.stdout).map_err(|e| format!("{shown}: not JSON: {e}"))
}

pub(crate) fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(f64::NAN)
}

pub(crate) fn data() -> String {
    std::env::var("MAKEMORE_DATA")
        .unwrap_or_else(|_| root().join("data/names.txt").display().to_string())
}

pub(crate) fn python() -> Option<String> {
    let py = std::env::var("MAKEMORE_PYTHON").unwrap_or_else(|_| "python3".into());
    let ok = Command::new(&py)
        .args(["-c", "import torch"])
        .output()
        .is_ok_and(|o| o.status.success());
    ok.then_some(py)
}

pub(crate) fn cpu() -> String {
    let info = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = info
        .lines()
        .find(|l| l.starts_with("model name"))
        .and_then(|l| l.split(':').nth(1))
        .unwrap_or("unknown CPU")
        .trim()
        .to_string();
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    format!("{model}, {cores} cores")
}

/// Runs the benchmark.
pub fn bench(args: &BenchArgs) -> Result<(), String> {
    if args.repeats == 0 {
        return Err("--repeats must be at least 1".into());
    }
    let features = features(&args.features)?;
    if args.ladder {
        return crate::ladder::ladder(&features, args.repeats);
    }
    let (repeats, steps) = (args.repeats, args.steps);
    crate::build_binary(&features)?;
    let mut backends_cmd = Command::new(binary());
    backends_cmd.args(["backends", "--json"]);
    let backends: Vec<String> = json_of(backends_cmd)?["backends"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|b| b["usable"] == true)
        .filter_map(|b| b["name"].as_str().map(String::from))
        .collect();
    let py = python();
    let data = data();
    let mut rows = Vec::new();
    for (model, config) in MODELS {
        // Interleave: one repeat of each contender in turn, so drift in the machine's speed
        // hits all of them alike.
        let mut ours: Vec<Vec<Value>> = vec![Vec::new(); backends.len()];
        let mut torch: Vec<Value> = Vec::new();
        // Both contenders take one repeat of `steps` steps on the same corpus.
        let steps_arg = steps.to_string();
        let one_repeat = |mut cmd: Command| {
            cmd.current_dir(root()).args([
                "--data",
                &data,
                "--repeats",
                "1",
                "--steps",
                &steps_arg,
            ]);
            json_of(cmd)
        };
        for r in 0..repeats {
            for (i, b) in backends.iter().enumerate() {
                eprintln!("bench: {model} on {b} ({}/{repeats})", r + 1);
                let mut cmd = Command::new(binary());
                cmd.args(["bench", "--json", "--backend", b, "--config", config]);
                ours[i].push(one_repeat(cmd)?);
            }
            if let Some(py) = &py {
                eprintln!("bench: {model} on PyTorch eager ({}/{repeats})", r + 1);
                let mut cmd = Command::new(py);
                cmd.args(["xtask/pytorch_bench.py", "--model", model]);
                torch.push(one_repeat(cmd)?);
            }
        }
        let med = |runs: &[Value], key: &str| {
            median(
                &mut runs
                    .iter()
                    .filter_map(|r| r[key].as_f64())
                    .collect::<Vec<_>>(),
            )
        };
        let torch_us = (!torch.is_empty()).then(|| med(&torch, "us_per_step"));
        let torch_eval = (!torch.is_empty()).then(|| med(&torch, "eval_all_ms"));
        for (b, runs) in backends.iter().zip(&ours) {
            let us = med(runs, "us_per_step");
            let eval = med(runs, "eval_all_ms");
            rows.push(json!({
                "model": model, "backend": b, "us_per_step": us, "steps_per_s": 1e6 / us,
                "eval_all_ms": eval, "sample_ms": med(runs, "sample_ms"),
                "peak_rss_mb": runs.iter().filter_map(|r| r["peak_rss_mb_after_training"].as_f64()).fold(0.0, f64::max),
                "pytorch_us_per_step": torch_us, "speedup_vs_pytorch": torch_us.map(|t| t / us),
                "pytorch_eval_all_ms": torch_eval, "eval_speedup_vs_pytorch": torch_eval.map(|t| t / eval),
                "runs": runs,
            }));
        }
        if !torch.is_empty() {
            rows.push(json!({
                "model": model, "backend": "pytorch-eager", "us_per_step": torch_us, "steps_per_s": torch_us.map(|t| 1e6 / t),
                "eval_all_ms": torch_eval, "sample_ms": med(&torch, "sample_ms"), "runs": torch,
            }));
        }
    }
    // The sweep's layers and optimizers against the BatchNorm deep stack, flex, interleaved.
    let mut layers = Vec::new();
    {
        let deep = MODELS[1].1;
        let mut runs: Vec<Vec<f64>> = vec![Vec::new(); MITIGATIONS.len() + 1];
        let steps_arg = steps.to_string();
        for r in 0..repeats {
            for (i, config) in std::iter::once(deep)
                .chain(MITIGATIONS.iter().map(|m| m.1))
                .enumerate()
            {
                eprintln!("bench: {config} on flex ({}/{repeats})", r + 1);
                let mut cmd = Command::new(binary());
                cmd.current_dir(root()).args([
                    "bench",
                    "--json",
                    "--config",
                    config,
                    "--data",
                    &data,
                    "--repeats",
                    "1",
                    "--steps",
                    &steps_arg,
                    "--samples",
                    "10",
                ]);
                runs[i].push(json_of(cmd)?["us_per_step"].as_f64().unwrap_or(f64::NAN));
            }
        }
        let base = median(&mut runs[0]);
        for ((name, config), mut r) in MITIGATIONS.iter().zip(runs.into_iter().skip(1)) {
            let us = median(&mut r);
            layers.push(json!({ "name": name, "config": config, "us_per_step": us, "deep_batchnorm_us_per_step": base, "ratio": us / base }));
        }
    }
    // The cost of recording diagnostics every 100 steps, measured on the training loop of
    // `makemore train` (the plots and the report are written after the loop's clock stops).
    let mut diagnostics = Vec::new();
    for (model, config) in MODELS {
        let mut plain = Vec::new();
        let mut recorded = Vec::new();
        for r in 0..repeats {
            eprintln!(
                "bench: {model} with and without diagnostics every 100 steps ({}/{repeats})",
                r + 1
            );
            for (every, into) in [(None, &mut plain), (Some("100"), &mut recorded)] {
                let dir = target_dir()
                    .join("bench")
                    .join(format!("{model}-diagnostics-{}", every.unwrap_or("off")));
                let mut cmd = Command::new(binary());
                cmd.current_dir(root())
                    .args([
                        "train", "--config", config, "--data", &data, "--steps", "5000", "--quiet",
                        "--json", "--force", "--out",
                    ])
                    .arg(&dir);
                if let Some(k) = every {
                    cmd.args(["--diagnose-every", k]);
                }
                into.push(json_of(cmd)?["us_per_step"].as_f64().unwrap_or(f64::NAN));
            }
        }
        let (p, d) = (median(&mut plain), median(&mut recorded));
        diagnostics.push(json!({ "model": model, "us_per_step": p, "us_per_step_diagnose_every_100": d, "overhead_percent": (d / p - 1.0) * 100.0 }));
    }
    let mut lecture = Value::Null;
    if args.lecture {
        let mut times = serde_json::Map::new();
        for jobs in ["1", "2"] {
            eprintln!("bench: the full lecture (five runs of 200,000 steps) with --jobs {jobs}");
            let start = Instant::now();
            let mut cmd = Command::new(binary());
            cmd.current_dir(root()).args([
                "lecture", "--json", "--quiet", "--data", &data, "--jobs", jobs,
            ]);
            let table = json_of(cmd)?;
            times.insert(
                format!("jobs_{jobs}"),
                json!({ "seconds": start.elapsed().as_secs_f64(), "table": table }),
            );
        }
        lecture = Value::Object(times);
    }
    let report = json!({
        "machine": cpu(), "features": features, "steps": steps, "repeats": repeats,
        "pytorch": py.is_some(), "rows": rows, "layers": layers, "diagnostics_overhead": diagnostics, "lecture": lecture,
    });
    let dir = target_dir().join("bench");
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let path = dir.join("latest.json");
    std::fs::write(
        &path,
        serde_json::to_string_pretty(&report).unwrap_or_default(),
    )
    .map_err(|e| format!("{}: {e}", path.display()))?;
    print_table(&report);
    eprintln!("wrote {}", path.display());
    Ok(())
}

/// A table cell: the number with `digits` decimals, or "-".
pub(crate) fn num(v: &Value, digits: usize) -> String {
    v.as_f64()
        .map_or("-".to_string(), |x| format!("{x:.digits$}"))
}

/// A table cell: the ratio as "1.23x", or "-".
pub(crate) fn ratio(v: &Value) -> String {
    v.as_f64().map_or("-".to_string(), |x| format!("{x:.2}x"))
}

fn print_table(r: &Value) {
    println!("Machine: {}. Release build, features `{}`; median of {} interleaved runs of {} steps (batch 32) after 200 warm-up steps.", r["machine"].as_str().unwrap_or(""), r["features"].as_str().unwrap_or(""), r["repeats"], r["steps"]);
    if r["pytorch"] != true {
        println!(
            "PyTorch was not available (`python3 -c \"import torch\"` failed): no comparison."
        );
    }
    println!();
    println!("| model | backend | us/step | steps/s | vs PyTorch | eval all splits (ms) | eval vs PyTorch | sample 1,000 (ms) | peak RSS (MB) |");
    println!("|---|---|---|---|---|---|---|---|---|");
    for row in r["rows"].as_array().into_iter().flatten() {
        println!(
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            row["model"].as_str().unwrap_or(""),
            row["backend"].as_str().unwrap_or(""),
            num(&row["us_per_step"], 0),
            num(&row["steps_per_s"], 0),
            ratio(&row["speedup_vs_pytorch"]),
            num(&row["eval_all_ms"], 0),
            ratio(&row["eval_speedup_vs_pytorch"]),
            num(&row["sample_ms"], 1),
            num(&row["peak_rss_mb"], 0),
        );
    }
    for l in r["layers"].as_array().into_iter().flatten() {
        println!(
            "\n{} on flex: {:.0} us/step, {:.2}x the BatchNorm deep stack ({:.0})",
            l["config"].as_str().unwrap_or(""),
            l["us_per_step"].as_f64().unwrap_or(f64::NAN),
            l["ratio"].as_f64().unwrap_or(f64::NAN),
            l["deep_batchnorm_us_per_step"].as_f64().unwrap_or(f64::NAN),
        );
    }
    for d in r["diagnostics_overhead"].as_array().into_iter().flatten() {
        println!(
            "\ndiagnostics every 100 steps on {}: {:.0} -> {:.0} us/step ({:+.1}%)",
            d["model"].as_str().unwrap_or(""),
            d["us_per_step"].as_f64().unwrap_or(f64::NAN),
            d["us_per_step_diagnose_every_100"]
                .as_f64()
                .unwrap_or(f64::NAN),
            d["overhead_percent"].as_f64().unwrap_or(f64::NAN)
        );
    }
    if let Some(l) = r["lecture"].as_object() {
        for (k, v) in l {
            println!(
                "\nfull `makemore lecture` ({}): {:.0} s",
                k.replace('_', " "),
                v["seconds"].as_f64().unwrap_or(f64::NAN)
            );
        }
    }
}
