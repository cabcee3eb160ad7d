//! `cargo xtask bench`: every compiled backend on the lecture's two models, interleaved with
//! PyTorch eager on the same machine, as a markdown table and `target/bench/latest.json`.

use crate::measure::{cpu, data, json_of, median, median_of, num, python, ratio};
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
    /// With --ladder: only these rungs (comma-separated: bn1, deep, wide, big).
    #[arg(long, requires = "ladder", value_delimiter = ',')]
    rungs: Vec<String>,
    /// With --ladder: also time this other `makemore` binary (one built from an earlier
    /// commit), interleaved round by round with this build, as the contenders `BACKEND@baseline`.
    #[arg(long, requires = "ladder", value_name = "MAKEMORE")]
    baseline: Option<std::path::PathBuf>,
}

/// What every timed run of `bench` shares: the corpus, the interleaved repeats per contender
/// and the timed steps per run.
struct Plan<'a> {
    data: &'a str,
    repeats: usize,
    steps: u64,
}

/// Runs the benchmark.
pub fn bench(args: &BenchArgs) -> Result<(), String> {
    if args.repeats == 0 {
        return Err("--repeats must be at least 1".into());
    }
    let features = features(&args.features)?;
    if args.ladder {
        let only = crate::ladder::Only {
            rungs: &args.rungs,
            baseline: args.baseline.as_deref(),
        };
        return crate::ladder::ladder(&features, args.repeats, only);
    }
    let (repeats, steps) = (args.repeats, args.steps);
    crate::build_binary(&features)?;
    let backends = usable_backends()?;
    let py = python();
    let data = data();
    let plan = Plan {
        data: &data,
        repeats,
        steps,
    };
    let mut rows = Vec::new();
    for (model, config) in MODELS {
        rows.extend(plan.model_rows(model, config, &backends, py.as_deref())?);
    }
    let layers = plan.layer_costs()?;
    let diagnostics = plan.diagnostics_overhead()?;
    let lecture = if args.lecture {
        lecture_times(&data)?
    } else {
        Value::Null
    };
    let report = json!({
        "machine": cpu(), "features": features, "steps": steps, "repeats": repeats,
        "pytorch": py.is_some(), "rows": rows, "layers": layers, "diagnostics_overhead": diagnostics, "lecture": lecture,
    });
    let path = write_latest(&report)?;
    print_table(&report);
    eprintln!("wrote {}", path.display());
    Ok(())
}

/// The backends `makemore backends --json` lists as usable.
fn usable_backends() -> Result<Vec<String>, String> {
    let mut backends_cmd = Command::new(binary());
    backends_cmd.args(["backends", "--json"]);
    Ok(json_of(backends_cmd)?["backends"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|b| b["usable"] == true)
        .filter_map(|b| b["name"].as_str().map(String::from))
        .collect())
}

impl Plan<'_> {
    /// Runs `cmd` (makemore's or PyTorch's bench) for one repeat of the timed steps on the
    /// corpus, and reads its report.
    fn one_repeat(&self, mut cmd: Command) -> Result<Value, String> {
        let steps_arg = self.steps.to_string();
        cmd.current_dir(root()).args([
            "--data",
            self.data,
            "--repeats",
            "1",
            "--steps",
            &steps_arg,
        ]);
        json_of(cmd)
    }

    /// Every backend's (and PyTorch eager's, when `py` has torch) row for `model`: medians of
    /// the interleaved repeats.
    fn model_rows(
        &self,
        model: &str,
        config: &str,
        backends: &[String],
        py: Option<&str>,
    ) -> Result<Vec<Value>, String> {
        let repeats = self.repeats;
        // Interleave: one repeat of each contender in turn, so drift in the machine's speed
        // hits all of them alike.
        let mut ours: Vec<Vec<Value>> = vec![Vec::new(); backends.len()];
        let mut torch: Vec<Value> = Vec::new();
        for r in 0..repeats {
            for (i, b) in backends.iter().enumerate() {
                eprintln!("bench: {model} on {b} ({}/{repeats})", r + 1);
                let mut cmd = Command::new(binary());
                cmd.args(["bench", "--json", "--backend", b, "--config", config]);
                ours[i].push(self.one_repeat(cmd)?);
            }
            if let Some(py) = py {
                eprintln!("bench: {model} on PyTorch eager ({}/{repeats})", r + 1);
                let mut cmd = Command::new(py);
                cmd.args(["xtask/pytorch_bench.py", "--model", model]);
                torch.push(self.one_repeat(cmd)?);
            }
        }
        Ok(rows_of(model, backends, &ours, torch))
    }

    /// The sweep's layers and optimizers against the BatchNorm deep stack, flex, interleaved:
    /// each one's median time per step and its ratio to the deep stack's.
    fn layer_costs(&self) -> Result<Vec<Value>, String> {
        let repeats = self.repeats;
        let deep = MODELS[1].1;
        let mut runs: Vec<Vec<f64>> = vec![Vec::new(); MITIGATIONS.len() + 1];
        let steps_arg = self.steps.to_string();
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
                    self.data,
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
        let mut layers = Vec::new();
        let base = median(&mut runs[0]);
        for ((name, config), mut r) in MITIGATIONS.iter().zip(runs.into_iter().skip(1)) {
            let us = median(&mut r);
            layers.push(json!({ "name": name, "config": config, "us_per_step": us, "deep_batchnorm_us_per_step": base, "ratio": us / base }));
        }
        Ok(layers)
    }

    /// The cost of recording diagnostics every 100 steps, measured on the training loop of
    /// `makemore train` (the plots and the report are written after the loop's clock stops).
    fn diagnostics_overhead(&self) -> Result<Vec<Value>, String> {
        let repeats = self.repeats;
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
                    into.push(self.train_us_per_step(model, config, every)?);
                }
            }
            let (p, d) = (median(&mut plain), median(&mut recorded));
            diagnostics.push(json!({ "model": model, "us_per_step": p, "us_per_step_diagnose_every_100": d, "overhead_percent": (d / p - 1.0) * 100.0 }));
        }
        Ok(diagnostics)
    }

    /// Microseconds per step of one `makemore train` of `config` (5,000 steps), diagnosing
    /// every `every` steps when given.
    fn train_us_per_step(
        &self,
        model: &str,
        config: &str,
        every: Option<&str>,
    ) -> Result<f64, String> {
        let dir = target_dir()
            .join("bench")
            .join(format!("{model}-diagnostics-{}", every.unwrap_or("off")));
        let mut cmd = Command::new(binary());
        cmd.current_dir(root())
            .args([
                "train", "--config", config, "--data", self.data, "--steps", "5000", "--quiet",
                "--json", "--force", "--out",
            ])
            .arg(&dir);
        if let Some(k) = every {
            cmd.args(["--diagnose-every", k]);
        }
        Ok(json_of(cmd)?["us_per_step"].as_f64().unwrap_or(f64::NAN))
    }
}

/// The table rows of `model`: one per backend (its medians, next to PyTorch's when it ran) and
/// one for PyTorch eager when it ran.
fn rows_of(model: &str, backends: &[String], ours: &[Vec<Value>], torch: Vec<Value>) -> Vec<Value> {
    let mut rows = Vec::new();
    let torch_us = (!torch.is_empty()).then(|| median_of(&torch, "us_per_step"));
    let torch_eval = (!torch.is_empty()).then(|| median_of(&torch, "eval_all_ms"));
    for (b, runs) in backends.iter().zip(ours) {
        let us = median_of(runs, "us_per_step");
        let eval = median_of(runs, "eval_all_ms");
        rows.push(json!({
            "model": model, "backend": b, "us_per_step": us, "steps_per_s": 1e6 / us,
            "eval_all_ms": eval, "sample_ms": median_of(runs, "sample_ms"),
            "peak_rss_mb": runs.iter().filter_map(|r| r["peak_rss_mb_after_training"].as_f64()).fold(0.0, f64::max),
            "pytorch_us_per_step": torch_us, "speedup_vs_pytorch": torch_us.map(|t| t / us),
            "pytorch_eval_all_ms": torch_eval, "eval_speedup_vs_pytorch": torch_eval.map(|t| t / eval),
            "runs": runs,
        }));
    }
    if !torch.is_empty() {
        rows.push(json!({
            "model": model, "backend": "pytorch-eager", "us_per_step": torch_us, "steps_per_s": torch_us.map(|t| 1e6 / t),
            "eval_all_ms": torch_eval, "sample_ms": median_of(&torch, "sample_ms"), "runs": torch,
        }));
    }
    rows
}

/// The full `makemore lecture` timed with `--jobs 1` and `--jobs 2`, each with its table.
fn lecture_times(data: &str) -> Result<Value, String> {
    let mut times = serde_json::Map::new();
    for jobs in ["1", "2"] {
        eprintln!("bench: the full lecture (five runs of 200,000 steps) with --jobs {jobs}");
        let start = Instant::now();
        let mut cmd = Command::new(binary());
        cmd.current_dir(root()).args([
            "lecture", "--json", "--quiet", "--data", data, "--jobs", jobs,
        ]);
        let table = json_of(cmd)?;
        times.insert(
            format!("jobs_{jobs}"),
            json!({ "seconds": start.elapsed().as_secs_f64(), "table": table }),
        );
    }
    Ok(Value::Object(times))
}

/// Writes the report to `target/bench/latest.json`; returns that path.
fn write_latest(report: &Value) -> Result<std::path::PathBuf, String> {
    let dir = target_dir().join("bench");
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let path = dir.join("latest.json");
    std::fs::write(
        &path,
        serde_json::to_string_pretty(report).unwrap_or_default(),
    )
    .map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(path)
}

/// Prints the report as a markdown table and the lines under it.
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
