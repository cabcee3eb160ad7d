//! `cargo xtask bench --ladder`: training, evaluation and sampling on a ladder of model sizes,
//! every compiled CPU backend against PyTorch eager at 1 thread and at every core, with the
//! achieved GFLOP/s and their fraction of the machine's measured peak; a markdown table,
//! `target/bench/ladder.json` and a log-log plot, `target/bench/ladder.svg`.
//!
//! A shared 2-core machine's speed drifts from one minute to the next (the peak read 89 to 177
//! GFLOP/s within ten minutes on the 2-core AMD EPYC, Zen 3, this was written on), so the peak is
//! measured again before every round of every rung, and a run's fraction of the peak is taken
//! against its own round's reading; `--baseline` runs an earlier build in the same rounds.

use crate::measure::{cpu, data, json_of, median, median_of, num, python, ratio};
use crate::{binary, root, target_dir};
use serde_json::{json, Value};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

/// One rung: name, our config, the PyTorch twin's flags, timed steps, warm-up steps.
type Rung = (
    &'static str,
    &'static str,
    &'static [&'static str],
    u64,
    u64,
);

/// The ladder's rungs, smallest first.
const RUNGS: [Rung; 4] = [
    (
        "bn1",
        "configs/lecture/batchnorm.toml",
        &["--model", "bn1"],
        2000,
        200,
    ),
    (
        "deep",
        "configs/lecture/deep-batchnorm.toml",
        &["--model", "deep"],
        1000,
        100,
    ),
    (
        "wide",
        "configs/bench/wide.toml",
        &[
            "--model",
            "deep",
            "--hidden",
            "512,512,512",
            "--block-size",
            "8",
            "--n-embd",
            "24",
            "--batch-size",
            "256",
        ],
        100,
        10,
    ),
    (
        "big",
        "configs/bench/big.toml",
        &[
            "--model",
            "deep",
            "--hidden",
            "1024,1024,1024,1024",
            "--block-size",
            "16",
            "--n-embd",
            "64",
            "--batch-size",
            "1024",
        ],
        6,
        2,
    ),
];

/// The three timings of a run, in ms or us, by key.
const METRICS: [(&str, &str); 3] = [
    ("us_per_step", "flops_per_step"),
    ("eval_all_ms", "eval_flops"),
    ("sample_ms", "sample_flops"),
];

/// What `--rungs` and `--baseline` ask of the ladder: only these rungs (all when empty), and an
/// earlier build to time beside this one.
pub struct Only<'a> {
    /// Rung names.
    pub rungs: &'a [String],
    /// Another `makemore` binary.
    pub baseline: Option<&'a Path>,
}

/// One of our contenders: its label, the binary and the backend it runs.
struct Ours {
    label: String,
    binary: PathBuf,
    backend: String,
}

/// Who runs each rung: our builds on the usable CPU backends, PyTorch (when it imports) and the
/// thread counts PyTorch runs at (1 and every core).
struct Contenders {
    ours: Vec<Ours>,
    py: Option<String>,
    threads: Vec<usize>,
}

/// Each contender's reports of one rung: ours per contender, PyTorch's per thread count, and
/// the machine's peak read at the start of each round ([`machine_peak`]'s readings).
struct RungRuns {
    ours: Vec<Vec<Value>>,
    torch: Vec<Vec<Value>>,
    readings: Vec<Value>,
}

/// Runs the ladder with `repeats` interleaved runs per contender.
pub fn ladder(features: &str, repeats: usize, only: Only<'_>) -> Result<(), String> {
    let names: Vec<&str> = RUNGS.iter().map(|r| r.0).collect();
    if let Some(bad) = only.rungs.iter().find(|n| !names.contains(&n.as_str())) {
        return Err(format!(
            "--rungs: no rung named {bad:?} ({})",
            names.join(", ")
        ));
    }
    let rungs_run: Vec<Rung> = RUNGS
        .into_iter()
        .filter(|r| only.rungs.is_empty() || only.rungs.iter().any(|n| n == r.0))
        .collect();
    let baseline = only.baseline.map(baseline_file).transpose()?;
    crate::build_binary(features)?;
    let backends = cpu_backends(&binary())?;
    let ours = contenders_of(&backends, baseline.as_deref())?;
    let py = python();
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let threads: Vec<usize> = if cores > 1 { vec![1, cores] } else { vec![1] };
    let contenders = Contenders { ours, py, threads };
    let data = data();
    let (mut rungs, mut readings) = (Vec::new(), Vec::new());
    for rung in rungs_run {
        let runs = time_rung(rung, &contenders, &data, repeats)?;
        let mut rows = rung_rows(rung.0, &contenders, &runs);
        add_speedups(&mut rows);
        rungs.extend(rows);
        readings.extend(runs.readings);
    }
    let mut peaks: Vec<f64> = readings.iter().filter_map(|r| r["peak"].as_f64()).collect();
    let report = json!({
        "machine": cpu(), "features": features, "repeats": repeats,
        "peak_gflops": median(&mut peaks), "peak_readings": readings, "rows": rungs,
    });
    let dir = target_dir().join("bench");
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    write_atomically(
        &dir,
        "ladder.json",
        serde_json::to_string_pretty(&report).unwrap_or_default(),
    )?;
    write_atomically(&dir, "ladder.svg", plot(&report))?;
    print_table(&report);
    Ok(())
}

/// `--baseline`'s path made absolute (the runs start in the repository root), checked to be a
/// file before anything is built.
fn baseline_file(path: &Path) -> Result<PathBuf, String> {
    let shown = path.display();
    let file = std::fs::canonicalize(path).map_err(|e| format!("--baseline {shown}: {e}"))?;
    if !file.is_file() {
        return Err(format!(
            "--baseline {shown}: not a file (expected a `makemore` binary)"
        ));
    }
    Ok(file)
}

/// Our contenders: this build on each of `backends`, and with a baseline, the baseline on each
/// too (refused when it is this build's own binary, which the build overwrites, or lacks one of
/// the backends).
fn contenders_of(backends: &[String], baseline: Option<&Path>) -> Result<Vec<Ours>, String> {
    if let Some(file) = baseline {
        let shown = file.display();
        if std::fs::canonicalize(binary()).is_ok_and(|own| own == file) {
            return Err(format!(
                "--baseline {shown} is this build's own binary, which the build just replaced: copy the earlier build elsewhere first"
            ));
        }
        let theirs = cpu_backends(file)?;
        if let Some(missing) = backends.iter().find(|b| !theirs.contains(b)) {
            return Err(format!(
                "--baseline {shown} has no usable {missing} backend (it has: {})",
                theirs.join(", ")
            ));
        }
    }
    // Each backend on this build, then on the baseline.
    let mut builds = vec![(binary(), "")];
    if let Some(file) = baseline {
        builds.push((file.to_path_buf(), "@baseline"));
    }
    Ok(backends
        .iter()
        .flat_map(|b| {
            builds.iter().map(move |(binary, suffix)| Ours {
                label: format!("{b}{suffix}"),
                binary: binary.clone(),
                backend: b.clone(),
            })
        })
        .collect())
}

/// The usable backends `makemore backends --json` lists (run by `makemore`), but wgpu: the
/// ladder times CPUs.
fn cpu_backends(makemore: &Path) -> Result<Vec<String>, String> {
    let mut backends_cmd = Command::new(makemore);
    backends_cmd.args(["backends", "--json"]);
    Ok(json_of(backends_cmd)?["backends"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|b| b["usable"] == true && b["name"] != "wgpu")
        .filter_map(|b| b["name"].as_str().map(String::from))
        .collect())
}

/// The machine's peak: one large product by our kernels and by PyTorch (when `py` is given),
/// every core, as `{ "ours", "pytorch" (or null), "peak" }` in GFLOP/s, `peak` the faster.
fn machine_peak(py: Option<&str>) -> Result<Value, String> {
    let mut m = Command::new(binary());
    m.args(["bench", "--matmul", "--json"]);
    let ours = json_of(m)?["peak_gflops"].as_f64().unwrap_or(f64::NAN);
    let mut torch = None;
    if let Some(py) = py {
        let mut c = Command::new(py);
        c.current_dir(root())
            .args(["xtask/pytorch_bench.py", "--peak"]);
        torch = json_of(c)?["gflops"].as_f64();
    }
    let peak = torch.map_or(ours, |t| ours.max(t));
    Ok(json!({ "ours": ours, "pytorch": torch, "peak": peak }))
}

/// Times one rung: `repeats` rounds, each running every contender once in turn.
fn time_rung(
    (name, config, twin, steps, warmup): Rung,
    contenders: &Contenders,
    data: &str,
    repeats: usize,
) -> Result<RungRuns, String> {
    let mut ours: Vec<Vec<Value>> = vec![Vec::new(); contenders.ours.len()];
    let mut torch: Vec<Vec<Value>> = vec![Vec::new(); contenders.threads.len()];
    let mut readings = Vec::new();
    let (steps, warmup) = (steps.to_string(), warmup.to_string());
    let common = [
        "--data",
        data,
        "--repeats",
        "1",
        "--steps",
        &steps,
        "--warmup",
        &warmup,
    ];
    for r in 0..repeats {
        readings.push(machine_peak(contenders.py.as_deref())?);
        for (i, o) in contenders.ours.iter().enumerate() {
            eprintln!("ladder: {name} on {} ({}/{repeats})", o.label, r + 1);
            let mut cmd = Command::new(&o.binary);
            cmd.current_dir(root())
                .args([
                    "bench",
                    "--json",
                    "--backend",
                    &o.backend,
                    "--config",
                    config,
                ])
                .args(common);
            ours[i].push(json_of(cmd)?);
        }
        if let Some(py) = &contenders.py {
            for (i, t) in contenders.threads.iter().enumerate() {
                eprintln!(
                    "ladder: {name} on PyTorch, {t} thread(s) ({}/{repeats})",
                    r + 1
                );
                let mut cmd = Command::new(py);
                cmd.current_dir(root())
                    .arg("xtask/pytorch_bench.py")
                    .args(twin)
                    .args(common)
                    .args(["--threads", &t.to_string()]);
                torch[i].push(json_of(cmd)?);
            }
        }
    }
    Ok(RungRuns {
        ours,
        torch,
        readings,
    })
}

/// The rows of one rung: each of our backends, then PyTorch at each thread count it ran at.
fn rung_rows(rung: &str, contenders: &Contenders, runs: &RungRuns) -> Vec<Value> {
    let mut rows = Vec::new();
    for (o, reports) in contenders.ours.iter().zip(&runs.ours) {
        rows.push(row_of(rung, o.label.clone(), reports, runs));
    }
    for (t, reports) in contenders.threads.iter().zip(&runs.torch) {
        if !reports.is_empty() {
            rows.push(row_of(rung, format!("pytorch-{t}t"), reports, runs));
        }
    }
    rows
}

/// One contender's row: the medians of its `reports`, each timing's GFLOP/s, and the median of
/// its runs' fractions of the peak read in their own round. FLOPs come from our report
/// (`runs.ours`; the twin builds the same shapes); sampling's from the rows each contender
/// forwarded, each run's own for its fraction (ours drops finished names from the batch, the
/// twin forwards all until the longest ends).
fn row_of(rung: &str, contender: String, reports: &[Value], runs: &RungRuns) -> Value {
    let ours = &runs.ours;
    let flops = |key: &str| ours.first().map_or(f64::NAN, |runs| median_of(runs, key));
    let per_row = 2.0 * flops("macs_per_example");
    let mut r = json!({ "rung": rung, "contender": contender });
    r["sample_rows"] = json!(median_of(reports, "sample_rows"));
    for (time, work) in METRICS {
        let t = median_of(reports, time);
        // Times are in us (a step) or ms; a rate is GFLOP/s.
        let seconds = |t: f64| {
            if time.starts_with("us") {
                t / 1e6
            } else {
                t / 1e3
            }
        };
        let work_of = |rows: f64| match work {
            "sample_flops" => per_row * rows,
            _ => flops(work),
        };
        let rate = |rows: f64, t: f64| work_of(rows) / seconds(t) / 1e9;
        let gflops = rate(median_of(reports, "sample_rows"), t);
        // Round by round: this run's rate against the peak read at the start of its round.
        let mut fractions: Vec<f64> = reports
            .iter()
            .zip(&runs.readings)
            .filter_map(|(report, reading)| {
                let rows = report["sample_rows"].as_f64().unwrap_or(f64::NAN);
                Some(rate(rows, report[time].as_f64()?) / reading["peak"].as_f64()?)
            })
            .collect();
        r[time] = json!(t);
        r[format!("{time}_gflops")] = json!(gflops);
        r[format!("{time}_peak_fraction")] = json!(median(&mut fractions));
    }
    r["flops_per_step"] = json!(flops("flops_per_step"));
    r["parameters"] = reports[0]["parameters"].clone();
    r
}

/// Gives every row of a rung, metric by metric, its speed-up over PyTorch at PyTorch's faster
/// setting (when PyTorch ran).
fn add_speedups(rows: &mut [Value]) {
    let torch_rows: Vec<Value> = rows
        .iter()
        .filter(|r| {
            r["contender"]
                .as_str()
                .is_some_and(|c| c.starts_with("pytorch"))
        })
        .cloned()
        .collect();
    for r in rows.iter_mut() {
        for (time, _) in METRICS {
            let best = torch_rows
                .iter()
                .filter_map(|t| t[time].as_f64())
                .fold(f64::INFINITY, f64::min);
            if best.is_finite() {
                r[format!("{time}_vs_pytorch")] =
                    json!(best / r[time].as_f64().unwrap_or(f64::NAN));
            }
        }
    }
}

/// Writes `text` to `dir/file` through a temporary file and a rename, and says so.
fn write_atomically(dir: &Path, file: &str, text: String) -> Result<(), String> {
    let path = dir.join(file);
    let tmp = dir.join(format!(".{file}.tmp"));
    std::fs::write(&tmp, text)
        .and_then(|()| std::fs::rename(&tmp, &path))
        .map_err(|e| format!("{}: {e}", path.display()))?;
    eprintln!("wrote {}", path.display());
    Ok(())
}

/// Prints the report as a markdown table.
fn print_table(r: &Value) {
    let readings: Vec<f64> = r["peak_readings"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|reading| reading["peak"].as_f64())
        .collect();
    println!(
        "Machine: {}; peak {:.0} GFLOP/s (median of {} readings, {:.0}-{:.0}: the faster of one 2048^3 product by our kernels and by PyTorch, every core, read before every round; a run's % of peak is against its own round's reading). Medians of {} interleaved runs.",
        r["machine"].as_str().unwrap_or(""),
        r["peak_gflops"].as_f64().unwrap_or(f64::NAN),
        readings.len(),
        readings.iter().copied().fold(f64::INFINITY, f64::min),
        readings.iter().copied().fold(f64::NEG_INFINITY, f64::max),
        r["repeats"]
    );
    println!();
    println!("| rung | contender | train us/step | GFLOP/s (% peak) | vs PyTorch | eval all splits ms | GFLOP/s | vs PyTorch | sample 1,000 ms | vs PyTorch |");
    println!("|---|---|---|---|---|---|---|---|---|---|");
    for row in r["rows"].as_array().into_iter().flatten() {
        println!(
            "| {} | {} | {} | {} ({:.0}%) | {} | {} | {} | {} | {} | {} |",
            row["rung"].as_str().unwrap_or(""),
            row["contender"].as_str().unwrap_or(""),
            num(&row["us_per_step"], 0),
            num(&row["us_per_step_gflops"], 1),
            row["us_per_step_peak_fraction"]
                .as_f64()
                .unwrap_or(f64::NAN)
                * 100.0,
            ratio(&row["us_per_step_vs_pytorch"]),
            num(&row["eval_all_ms"], 0),
            num(&row["eval_all_ms_gflops"], 1),
            ratio(&row["eval_all_ms_vs_pytorch"]),
            num(&row["sample_ms"], 1),
            ratio(&row["sample_ms_vs_pytorch"]),
        );
    }
}

/// A log-log plot of training time per step against FLOPs per step, one line per contender.
fn plot(r: &Value) -> String {
    let rows: Vec<&Value> = r["rows"].as_array().into_iter().flatten().collect();
    let mut contenders: Vec<String> = Vec::new();
    for row in &rows {
        let c = row["contender"].as_str().unwrap_or("").to_string();
        if !contenders.contains(&c) {
            contenders.push(c);
        }
    }
    let points = |c: &str| -> Vec<(f64, f64, String)> {
        rows.iter()
            .filter(|row| row["contender"] == c)
            .filter_map(|row| {
                Some((
                    row["flops_per_step"].as_f64()?,
                    row["us_per_step"].as_f64()?,
                    row["rung"].as_str()?.to_string(),
                ))
            })
            .filter(|(x, y, _)| *x > 0.0 && *y > 0.0)
            .collect()
    };
    let all: Vec<(f64, f64, String)> = contenders.iter().flat_map(|c| points(c)).collect();
    let (w, h, left, right, top, bottom) = (720.0, 460.0, 70.0, 170.0, 30.0, 50.0);
    let span = |f: fn(&(f64, f64, String)) -> f64| {
        let lo = all
            .iter()
            .map(f)
            .fold(f64::INFINITY, f64::min)
            .log10()
            .floor();
        let hi = all
            .iter()
            .map(f)
            .fold(f64::NEG_INFINITY, f64::max)
            .log10()
            .ceil();
        (lo, hi.max(lo + 1.0))
    };
    let ((x0, x1), (y0, y1)) = (span(|p| p.0), span(|p| p.1));
    let px = |x: f64| left + (x.log10() - x0) / (x1 - x0) * (w - left - right);
    let py = |y: f64| h - bottom - (y.log10() - y0) / (y1 - y0) * (h - top - bottom);
    let mut svg = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{h}\" font-family=\"sans-serif\" font-size=\"12\">\n<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n"
    );
    for e in x0 as i32..=x1 as i32 {
        let x = px(10f64.powi(e));
        let _ = writeln!(svg, "<line x1=\"{x:.1}\" y1=\"{top}\" x2=\"{x:.1}\" y2=\"{:.1}\" stroke=\"#ddd\"/><text x=\"{x:.1}\" y=\"{:.1}\" text-anchor=\"middle\">1e{e}</text>", h - bottom, h - bottom + 16.0);
    }
    for e in y0 as i32..=y1 as i32 {
        let y = py(10f64.powi(e));
        let _ = writeln!(svg, "<line x1=\"{left}\" y1=\"{y:.1}\" x2=\"{:.1}\" y2=\"{y:.1}\" stroke=\"#ddd\"/><text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\">1e{e}</text>", w - right, left - 6.0, y + 4.0);
    }
    let _ = writeln!(svg, "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\">FLOPs per training step (matrix products)</text>", (left + w - right) / 2.0, h - 12.0);
    let _ = writeln!(svg, "<text transform=\"translate(16,{:.1}) rotate(-90)\" text-anchor=\"middle\">microseconds per step</text>", (top + h - bottom) / 2.0);
    let colors = [
        "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b",
    ];
    for (i, c) in contenders.iter().enumerate() {
        let color = colors[i % colors.len()];
        let pts = points(c);
        let path: Vec<String> = pts
            .iter()
            .map(|(x, y, _)| format!("{:.1},{:.1}", px(*x), py(*y)))
            .collect();
        let dash = if c.starts_with("pytorch") {
            " stroke-dasharray=\"5,3\""
        } else {
            ""
        };
        let _ = writeln!(
            svg,
            "<polyline points=\"{}\" fill=\"none\" stroke=\"{color}\" stroke-width=\"2\"{dash}/>",
            path.join(" ")
        );
        for (x, y, rung) in &pts {
            let _ = writeln!(svg, "<circle cx=\"{:.1}\" cy=\"{:.1}\" r=\"3.5\" fill=\"{color}\"><title>{c} {rung}: {y:.0} us/step</title></circle>", px(*x), py(*y));
            if i == 0 {
                let _ = writeln!(
                    svg,
                    "<text x=\"{:.1}\" y=\"{:.1}\">{rung}</text>",
                    px(*x) + 6.0,
                    py(*y) + 14.0
                );
            }
        }
        let ly = top + 10.0 + 18.0 * i as f64;
        let _ = writeln!(svg, "<line x1=\"{:.1}\" y1=\"{ly:.1}\" x2=\"{:.1}\" y2=\"{ly:.1}\" stroke=\"{color}\" stroke-width=\"2\"{dash}/><text x=\"{:.1}\" y=\"{:.1}\">{c}</text>", w - right + 10.0, w - right + 34.0, w - right + 40.0, ly + 4.0);
    }
    svg.push_str("</svg>\n");
    svg
}

#[cfg(test)]
mod tests {
    use super::{row_of, RungRuns};
    use serde_json::json;

    /// A report of a run whose step took `us` microseconds and whose step is 1 GFLOP.
    fn report(us: f64) -> serde_json::Value {
        json!({
            "us_per_step": us, "flops_per_step": 1e9, "eval_all_ms": 1000.0, "eval_flops": 1e9,
            "sample_ms": 1000.0, "sample_rows": 10.0, "macs_per_example": 1.0, "parameters": 1,
        })
    }

    #[test]
    fn each_run_is_measured_against_its_own_rounds_peak() {
        // Rounds at 100, 50 and 80 GFLOP/s against peaks of 100, 200 and 50 read at their
        // starts: fractions 1, 0.25 and 1.6, median 1. The median rate against the median
        // peak would say 80 / 100 = 0.8, and the peaks paired in reverse 0.8 as well.
        let ours = vec![vec![report(10_000.0), report(20_000.0), report(12_500.0)]];
        let runs = RungRuns {
            torch: vec![],
            readings: [100.0, 200.0, 50.0]
                .map(|peak| json!({ "peak": peak }))
                .to_vec(),
            ours: ours.clone(),
        };
        let row = row_of("wide", "flex".into(), &ours[0], &runs);
        assert_eq!(row["us_per_step"], 12_500.0);
        let fraction = row["us_per_step_peak_fraction"].as_f64().unwrap();
        assert!((fraction - 1.0).abs() < 1e-12, "{fraction}");
    }
}
