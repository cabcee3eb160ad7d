//! TensorBoard event files, checked by TensorBoard itself: a short run's files read with
//! TensorBoard's own `EventAccumulator` (`tests/tensorboard_read.py`) must hold the loss at every
//! log point and every recorded histogram, equal to metrics.jsonl and diagnostics.jsonl; a
//! corrupted byte must fail TensorBoard's CRC check; a resumed run must not repeat a step; and
//! `makemore export tensorboard` must rebuild the same file from a run's records.
//!
//! Needs Python with the `tensorboard` package: `MAKEMORE_TB_PYTHON` names the interpreter
//! (`cargo xtask setup` makes the virtual environment and `cargo xtask test` sets it).

mod common;

use common::{assert_input_error, corpus, makemore, repo, stdout_json, TempDir};
use serde_json::Value;
use std::path::Path;
use std::process::Command;

/// The interpreter with TensorBoard; fails (never skips) with how to get one.
fn python() -> String {
    let hint = "set MAKEMORE_TB_PYTHON to a Python with the tensorboard package \
                (python3 -m venv VENV && VENV/bin/pip install tensorboard; `cargo xtask setup` does it)";
    let py = std::env::var("MAKEMORE_TB_PYTHON").unwrap_or_else(|_| panic!("{hint}"));
    let ok = Command::new(&py)
        .args(["-c", "import tensorboard"])
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(ok, "{py} cannot import tensorboard: {hint}");
    py
}

/// What TensorBoard's reader sees in `dir` (strict: every CRC checked first).
fn read_tb(dir: &Path, strict: bool) -> std::process::Output {
    let mut cmd = Command::new(python());
    cmd.arg(repo().join("tests/tensorboard_read.py"));
    if strict {
        cmd.arg("--strict");
    }
    cmd.arg(dir).output().expect("python runs")
}

fn tb_json(dir: &Path) -> Value {
    let out = read_tb(dir, true);
    assert!(
        out.status.success(),
        "TensorBoard's reader failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("the reader prints JSON")
}

fn jsonl(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// A short diagnosed run of the deep stack with TensorBoard files, logging every 50 steps.
fn run(out: &str, extra: &[&str]) -> std::process::Output {
    let c = corpus();
    let mut args = vec![
        "train",
        "--data",
        c.to_str().unwrap(),
        "--config",
        "configs/lecture/deep-batchnorm.toml",
        "--set",
        "train.log_every=50",
        "--diagnose-every",
        "100",
        "--tensorboard",
        "--out",
        out,
        "--quiet",
    ];
    args.extend_from_slice(extra);
    makemore(&args)
}

/// [`run`], finished, with its JSON summary.
fn train(out: &str, extra: &[&str]) -> Value {
    let mut with_json = extra.to_vec();
    with_json.push("--json");
    stdout_json(&run(out, &with_json))
}

/// Scalar `tag` as (step, value) pairs.
fn scalar(tb: &Value, tag: &str) -> Vec<(u64, f64)> {
    tb["scalars"][tag]
        .as_array()
        .unwrap_or_else(|| panic!("no scalar {tag}"))
        .iter()
        .map(|p| (p[0].as_u64().unwrap(), p[1].as_f64().unwrap()))
        .collect()
}

#[test]
fn tensorboard_reads_what_a_run_recorded() {
    let t = TempDir::new("tb-run");
    let run = t.path("run");
    let summary = train(&run, &["--steps", "300"]);
    let run = Path::new(&run);
    let tb = tb_json(&run.join("tb"));

    // The minibatch loss at every log point, as metrics.jsonl has it.
    let metrics = jsonl(&run.join("metrics.jsonl"));
    let loss = scalar(&tb, "loss/minibatch");
    assert_eq!(loss.len(), metrics.len());
    assert_eq!(
        loss.iter().map(|p| p.0).collect::<Vec<_>>(),
        [1, 50, 100, 150, 200, 250, 300]
    );
    for ((step, v), m) in loss.iter().zip(&metrics) {
        assert_eq!(*step, m["step"].as_u64().unwrap());
        let want = m["loss"].as_f64().unwrap();
        assert!((v - want).abs() <= 1e-6 * want.abs(), "{v} vs {want}");
    }
    let lr = scalar(&tb, "train/lr");
    assert!(lr.iter().all(|p| (p.1 - 0.1).abs() < 1e-7), "{lr:?}");
    let val = scalar(&tb, "loss/val");
    assert_eq!(val[0].0, 300);
    assert!((val[0].1 - summary["val_loss"].as_f64().unwrap()).abs() < 1e-6);

    // Every layer's histograms at every recorded step, bucket for bucket.
    let records = jsonl(&run.join("diagnostics.jsonl"));
    let steps: Vec<u64> = records
        .iter()
        .map(|r| r["step"].as_u64().unwrap())
        .collect();
    assert_eq!(steps, [0, 100, 200, 299]);
    let hist = |tag: &str| {
        tb["histograms"][tag]
            .as_array()
            .cloned()
            .unwrap_or_default()
    };
    let mut checked = 0;
    for r in &records {
        let step = r["step"].as_u64().unwrap();
        for l in r["layers"].as_array().unwrap() {
            let name = l["name"].as_str().unwrap();
            let want: Vec<f64> = l["output"]["histogram"]["counts"]
                .as_array()
                .unwrap()
                .iter()
                .map(|c| c.as_f64().unwrap())
                .collect();
            let all = hist(&format!("activations/{name}"));
            let h = all
                .iter()
                .find(|h| h["step"].as_u64() == Some(step))
                .unwrap_or_else(|| panic!("activations/{name} at step {step}"));
            let got: Vec<f64> = h["bucket"]
                .as_array()
                .unwrap()
                .iter()
                .map(|c| c.as_f64().unwrap())
                .collect();
            assert_eq!(got, want, "activations/{name} at step {step}");
            assert_eq!(h["num"].as_f64(), l["output"]["count"].as_f64());
            assert_eq!(
                hist(&format!("activation_grads/{name}")).len(),
                records.len(),
                "{name}: a gradient histogram per recorded step"
            );
            let std = scalar(&tb, &format!("activation_std/{name}"));
            let s = std.iter().find(|p| p.0 == step).unwrap().1;
            assert!((s - l["output"]["std"].as_f64().unwrap()).abs() < 1e-6);
            checked += 1;
        }
        for p in r["params"].as_array().unwrap() {
            let name = p["name"].as_str().unwrap();
            for group in ["weights", "weight_grads"] {
                assert_eq!(hist(&format!("{group}/{name}")).len(), records.len());
            }
            // A ratio with no value (step 0: a fresh gamma's std is 0) has no point.
            let points = scalar_or_empty(&tb, &format!("update_ratio/{name}"));
            let has = points.iter().any(|q| q.0 == step);
            assert_eq!(has, !p["log10_update_ratio"].is_null(), "{name} at {step}");
        }
    }
    assert_eq!(checked, records.len() * 17, "17 layers in the deep stack");
}

fn scalar_or_empty(tb: &Value, tag: &str) -> Vec<(u64, f64)> {
    if tb["scalars"][tag].is_null() {
        Vec::new()
    } else {
        scalar(tb, tag)
    }
}

#[test]
fn a_corrupted_byte_fails_tensorboards_crc_check_and_export_refuses_to_overwrite() {
    let t = TempDir::new("tb-corrupt");
    let run = t.path("run");
    train(&run, &["--steps", "120"]);
    let tb_dir = Path::new(&run).join("tb");
    let file = std::fs::read_dir(&tb_dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.to_string_lossy().contains("tfevents"))
        .expect("an event file");
    let before = scalar(&tb_json(&tb_dir), "loss/minibatch");

    // Export refuses to replace the files, then rebuilds the same scalars with --force.
    assert_input_error(
        &makemore(&["export", "tensorboard", &run]),
        &["already exists", "--force"],
    );
    let out = stdout_json(&makemore(&[
        "export",
        "tensorboard",
        &run,
        "--force",
        "--json",
    ]));
    let exported = Path::new(out["event_file"].as_str().unwrap()).to_path_buf();
    let again = tb_json(&tb_dir);
    assert_eq!(scalar(&again, "loss/minibatch"), before);
    assert!(!again["histograms"].as_object().unwrap().is_empty());

    // One flipped byte in the middle of the file: the record's CRC no longer matches.
    let mut bytes = std::fs::read(&exported).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x40;
    std::fs::write(&exported, &bytes).unwrap();
    let strict = read_tb(&tb_dir, true);
    assert_eq!(strict.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&strict.stderr).contains("crc32"),
        "{}",
        String::from_utf8_lossy(&strict.stderr)
    );
    let _ = file;
}

#[test]
fn a_resumed_run_appends_without_repeating_a_step() {
    let t = TempDir::new("tb-resume");
    let (whole, paused) = (t.path("whole"), t.path("paused"));
    train(&whole, &["--steps", "300"]);
    let out = run(&paused, &["--steps", "300", "--pause-at", "150"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // As if a crash came after the event file went further than the checkpoint: keep the step-150
    // checkpoint, run on to 250 (the event file now holds steps up to 250), put the step-150
    // checkpoint back. The resume must drop the event file's steps after 150.
    let dir = Path::new(&paused);
    let saved: Vec<(String, Vec<u8>)> = ["checkpoint.json", "metrics.jsonl"]
        .iter()
        .map(|f| (f.to_string(), std::fs::read(dir.join(f)).unwrap()))
        .collect();
    let ahead = makemore(&["train", "--resume", &paused, "--pause-at", "250", "--quiet"]);
    assert_eq!(
        ahead.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&ahead.stderr)
    );
    let before = scalar(&tb_json(&dir.join("tb")), "loss/minibatch");
    assert_eq!(
        before.last().map(|p| p.0),
        Some(250),
        "the event file went ahead"
    );
    for (f, bytes) in &saved {
        std::fs::write(dir.join(f), bytes).unwrap();
    }
    stdout_json(&makemore(&[
        "train", "--resume", &paused, "--json", "--quiet",
    ]));
    let a = tb_json(&Path::new(&whole).join("tb"));
    let b = tb_json(&Path::new(&paused).join("tb"));
    for tag in [
        "loss/minibatch",
        "activation_std/layer 2 (Tanh)",
        "loss/val",
    ] {
        let (sa, sb) = (scalar(&a, tag), scalar(&b, tag));
        let steps = |s: &[(u64, f64)]| s.iter().map(|p| p.0).collect::<Vec<_>>();
        assert_eq!(
            steps(&sb),
            steps(&sa),
            "{tag}: every step once, as uninterrupted"
        );
        for (x, y) in sa.iter().zip(&sb) {
            assert!(
                (x.1 - y.1).abs() < 1e-6,
                "{tag} at {}: {} vs {}",
                x.0,
                x.1,
                y.1
            );
        }
    }
}
