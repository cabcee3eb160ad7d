//! TensorBoard event files, checked by TensorBoard itself: a short run's files read with
//! TensorBoard's own `EventAccumulator` (`tests/tensorboard_read.py`) must hold every scalar and
//! every histogram (statistics, edges and counts) that metrics.jsonl, diagnostics.jsonl and
//! summary.json record, at each recorded step, and nothing else; so must the file `makemore
//! export tensorboard` rebuilds from those records. A corrupted byte must fail TensorBoard's CRC
//! check, and a resumed run must not repeat a step.
//!
//! Values are compared exactly: TensorBoard stores a scalar as an f32 (`simple_value`), so the
//! file must hold the record's f64 rounded to the nearest f32; a histogram's fields are f64
//! (`HistogramProto`), so they must be the f64 the record gives. Both sides are read without
//! loss (see [`exact_json`]), so there is no tolerance to hide a wrong value.
//!
//! Needs Python with the `tensorboard` package: `MAKEMORE_TB_PYTHON` names the interpreter
//! (`cargo xtask setup` makes the virtual environment and `cargo xtask test` sets it).

mod common;

use common::{assert_input_error, corpus, makemore, repo, stdout_json, TempDir};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
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

/// The runs TensorBoard finds under `dir` (`tensorboard --logdir DIR`), by the names it shows.
fn tb_runs(dir: &Path) -> Vec<String> {
    let out = Command::new(python())
        .args([
            "-c",
            "import json, sys\n\
             from tensorboard.backend.event_processing import event_multiplexer as m\n\
             x = m.EventMultiplexer()\n\
             x.AddRunsFromDirectory(sys.argv[1])\n\
             print(json.dumps(sorted(x.Runs())))",
        ])
        .arg(dir)
        .output()
        .expect("python runs");
    assert!(
        out.status.success(),
        "TensorBoard's multiplexer failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("a JSON list of names")
}

fn tb_json(dir: &Path) -> Value {
    let out = read_tb(dir, true);
    assert!(
        out.status.success(),
        "TensorBoard's reader failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    exact_json(std::str::from_utf8(&out.stdout).expect("the reader prints UTF-8"))
}

/// What marks a number's text in [`exact_json`].
const NUMBER: char = '#';

/// `text` as JSON with every number kept as its text (a JSON string `"#TEXT"`), read later by [`num`]
/// with Rust's correctly rounded `str::parse`. serde_json's default float parsing is best effort
/// (it can be an ULP off), and the comparisons below are exact: both the run's records (Rust
/// writes the shortest text that reads back to the same f64) and the reader's output (so does
/// Python) hold every number exactly.
fn exact_json(text: &str) -> Value {
    // Each number becomes the string "#TEXT", apart from the strings the files hold.
    let mut quoted = String::with_capacity(text.len() + text.len() / 4);
    let (mut in_string, mut escaped, mut in_number) = (false, false, false);
    for c in text.chars() {
        if in_number && !matches!(c, '0'..='9' | '-' | '+' | '.' | 'e' | 'E') {
            quoted.push('"');
            in_number = false;
        }
        if in_string {
            in_string = escaped || c != '"';
            escaped = !escaped && c == '\\';
        } else if c == '"' {
            in_string = true;
        } else if !in_number && (c == '-' || c.is_ascii_digit()) {
            quoted.push('"');
            quoted.push(NUMBER);
            in_number = true;
        }
        quoted.push(c);
    }
    if in_number {
        quoted.push('"');
    }
    serde_json::from_str(&quoted).expect("valid JSON")
}

fn jsonl(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(exact_json)
        .collect()
}

/// A number from [`exact_json`]; the reader's "NaN"/"Infinity"/"-Infinity" and a record's `null`
/// (how serde_json writes a NaN f64) are non-finite.
fn num(v: &Value) -> f64 {
    match v {
        Value::Null => f64::NAN,
        Value::String(s)
            if s.starts_with(NUMBER) || ["NaN", "Infinity", "-Infinity"].contains(&&**s) =>
        {
            let text = s.trim_start_matches(NUMBER);
            text.parse()
                .unwrap_or_else(|_| panic!("not a number: {text}"))
        }
        other => panic!("not a number: {other}"),
    }
}

/// An integer from [`exact_json`].
fn int(v: &Value) -> u64 {
    let s = v.as_str().and_then(|s| s.strip_prefix(NUMBER));
    let s = s.unwrap_or_else(|| panic!("not an integer: {v}"));
    s.parse().unwrap_or_else(|_| panic!("not an integer: {s}"))
}

/// An optional number of a record (`null`: no value, so no point in the event file).
fn opt(v: &Value) -> Option<f64> {
    (!v.is_null()).then(|| num(v))
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
        .map(|p| (int(&p[0]), num(&p[1])))
        .collect()
}

/// A histogram as TensorBoard's `HistogramProto` holds it.
#[derive(Debug)]
struct Hist {
    min: f64,
    max: f64,
    num: f64,
    sum: f64,
    sum_squares: f64,
    bucket_limit: Vec<f64>,
    bucket: Vec<f64>,
}

/// Equal as stored: the same number, or both NaN.
fn same(a: f64, b: f64) -> bool {
    a == b || (a.is_nan() && b.is_nan())
}

impl Hist {
    /// The reader's histogram.
    fn read(h: &Value) -> Self {
        let list = |key: &str| -> Vec<f64> {
            h[key]
                .as_array()
                .unwrap_or_else(|| panic!("no {key}"))
                .iter()
                .map(num)
                .collect()
        };
        Hist {
            min: num(&h["min"]),
            max: num(&h["max"]),
            num: num(&h["num"]),
            sum: num(&h["sum"]),
            sum_squares: num(&h["sum_squares"]),
            bucket_limit: list("bucket_limit"),
            bucket: list("bucket"),
        }
    }

    /// What the file must hold for a record's histogram (`{lo, hi, counts}`) of `count` values
    /// with this mean and std, computed from the record independently of the writer:
    /// bucket `i` of `n` ends at `lo + (hi - lo) * (i / n)`, the last exactly at `hi`; `min` and
    /// `max` are the outer edges of the first and last non-empty buckets (`lo` and `hi` when all
    /// are empty); `num` is the sum of the counts; `sum = mean * count` and
    /// `sum_squares = (std^2 + mean^2) * count`. All values equal (`hi <= lo`), or an edge not
    /// finite: one zero-width bucket at `lo` holding every value.
    fn expected(h: &Value, count: f64, mean: f64, std: f64) -> Self {
        let (lo, hi) = (num(&h["lo"]), num(&h["hi"]));
        let counts: Vec<f64> = h["counts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| int(c) as f64)
            .collect();
        let total: f64 = counts.iter().sum();
        let (sum, sum_squares) = (mean * count, (std * std + mean * mean) * count);
        let spread = lo.is_finite() && hi.is_finite() && hi > lo;
        if !spread && !counts.is_empty() {
            return Hist {
                min: lo,
                max: lo,
                num: total,
                sum,
                sum_squares,
                bucket_limit: vec![lo],
                bucket: vec![total],
            };
        }
        let n = counts.len();
        let limits: Vec<f64> = (1..=n)
            .map(|i| {
                if i == n {
                    hi
                } else {
                    lo + (hi - lo) * (i as f64 / n as f64)
                }
            })
            .collect();
        let first = counts.iter().position(|&c| c > 0.0);
        let last = counts.iter().rposition(|&c| c > 0.0);
        let (min, max) = match (first, last) {
            (Some(0), Some(l)) => (lo, limits[l]),
            (Some(f), Some(l)) => (limits[f - 1], limits[l]),
            _ => (lo, hi),
        };
        Hist {
            min,
            max,
            num: total,
            sum,
            sum_squares,
            bucket_limit: limits,
            bucket: counts,
        }
    }

    /// Where `self` (read) differs from `want`, if anywhere; counts the values compared.
    fn differs(&self, want: &Hist, compared: &mut usize) -> Option<String> {
        let fields = [
            ("min", self.min, want.min),
            ("max", self.max, want.max),
            ("num", self.num, want.num),
            ("sum", self.sum, want.sum),
            ("sum_squares", self.sum_squares, want.sum_squares),
        ];
        *compared += fields.len() + want.bucket_limit.len() + want.bucket.len();
        for (name, got, want) in fields {
            if !same(got, want) {
                return Some(format!("{name} {got:e}, the record says {want:e}"));
            }
        }
        for (name, got, want) in [
            ("bucket_limit", &self.bucket_limit, &want.bucket_limit),
            ("bucket", &self.bucket, &want.bucket),
        ] {
            if got.len() != want.len() {
                return Some(format!(
                    "{} {name} values, the record has {}",
                    got.len(),
                    want.len()
                ));
            }
            if let Some(i) = (0..got.len()).find(|&i| !same(got[i], want[i])) {
                return Some(format!(
                    "{name}[{i}] {:e}, the record says {:e}",
                    got[i], want[i]
                ));
            }
        }
        None
    }
}

/// How [`Expected::of_run`] reads the records' numbers.
#[derive(Clone, Copy, PartialEq)]
enum Read {
    /// Exactly (the f64 each number's text stands for): as the run had them when it wrote both
    /// the records and the event file.
    Exact,
    /// As serde_json's default parser reads them, which is how `makemore export tensorboard`
    /// reads the records: best effort, at times an f64 ULP off (without serde_json's
    /// `float_roundtrip` feature), so that an f64 exactly halfway between two f32s can round
    /// to the other one.
    AsSerdeJson,
}

/// Replaces each float of an [`exact_json`] value (the numbers with `.` or an exponent; the
/// records write every f64 so) by what serde_json's default parser makes of its text.
fn as_serde_json_reads(v: &mut Value) {
    match v {
        Value::String(s) if s.starts_with(NUMBER) && s.contains(['.', 'e', 'E']) => {
            let x: f64 = serde_json::from_str(&s[1..]).expect("a number");
            *s = format!("{NUMBER}{x:?}");
        }
        Value::Array(items) => items.iter_mut().for_each(as_serde_json_reads),
        Value::Object(map) => map.values_mut().for_each(as_serde_json_reads),
        _ => {}
    }
}

/// Every scalar and histogram a run's records put in its event file, by tag, in step order.
#[derive(Default)]
struct Expected {
    scalars: BTreeMap<String, Vec<(u64, f64)>>,
    histograms: BTreeMap<String, Vec<(u64, Hist)>>,
    /// The saturation maps' image tags.
    images: BTreeSet<String>,
}

impl Expected {
    /// TensorBoard stores a scalar as an f32 (`Summary.Value.simple_value`): the record's f64
    /// rounded to the nearest f32, which the reader widens exactly, so the comparison is exact.
    fn scalar(&mut self, tag: String, step: u64, v: f64) {
        let stored = f64::from(v as f32);
        self.scalars.entry(tag).or_default().push((step, stored));
    }

    fn histogram(&mut self, tag: String, step: u64, h: Hist) {
        self.histograms.entry(tag).or_default().push((step, h));
    }

    /// From metrics.jsonl (`loss/minibatch`, `train/lr` at each log point), diagnostics.jsonl
    /// (every statistic of each recorded step) and summary.json (`loss/{train,val,test}` at the
    /// last step, where finite), their numbers read as `read` says.
    fn of_run(run: &Path, read: Read) -> Self {
        let load = |name: &str| -> Vec<Value> {
            let mut values = match name.ends_with(".jsonl") {
                true => jsonl(&run.join(name)),
                false => vec![exact_json(
                    &std::fs::read_to_string(run.join(name)).unwrap(),
                )],
            };
            if read == Read::AsSerdeJson {
                values.iter_mut().for_each(as_serde_json_reads);
            }
            values
        };
        let mut e = Expected::default();
        for m in load("metrics.jsonl") {
            let step = int(&m["step"]);
            e.scalar("loss/minibatch".into(), step, num(&m["loss"]));
            e.scalar("train/lr".into(), step, num(&m["lr"]));
        }
        for r in load("diagnostics.jsonl") {
            let step = int(&r["step"]);
            let layers = r["layers"].as_array().unwrap();
            let largest = layers
                .iter()
                .map(|l| int(&l["layer"]["index"]))
                .max()
                .unwrap();
            let width = largest.to_string().len();
            for l in layers {
                // The tags pad the index to the largest one's width: `layer 02 (Tanh)`.
                let index = int(&l["layer"]["index"]);
                let label = l["name"].as_str().unwrap().split_once(" (").unwrap().1;
                let name = &format!("layer {index:0width$} ({label}");
                let out = &l["output"];
                let count = int(&out["count"]) as f64;
                let (mean, std) = (num(&out["mean"]), num(&out["std"]));
                let h = Hist::expected(&out["histogram"], count, mean, std);
                e.histogram(format!("activations/{name}"), step, h);
                e.scalar(format!("activation_std/{name}"), step, std);
                if let Some(s) = opt(&out["saturated_frac"]) {
                    e.scalar(format!("saturation/{name}"), step, s);
                }
                if !out["map"].is_null() {
                    e.images.insert(format!("saturation_map/{name}"));
                }
                let g = &l["grad"];
                if !g.is_null() {
                    let count = int(&g["count"]) as f64;
                    let (mean, std) = (num(&g["mean"]), num(&g["std"]));
                    let h = Hist::expected(&g["histogram"], count, mean, std);
                    e.histogram(format!("activation_grads/{name}"), step, h);
                    e.scalar(format!("activation_grad_std/{name}"), step, std);
                }
            }
            for p in r["params"].as_array().unwrap() {
                let name = p["name"].as_str().unwrap();
                let count = p["shape"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(int)
                    .product::<u64>() as f64;
                let data = Hist::expected(
                    &p["data_histogram"],
                    count,
                    num(&p["data_mean"]),
                    num(&p["data_std"]),
                );
                let grads = Hist::expected(
                    &p["grad_histogram"],
                    count,
                    num(&p["grad_mean"]),
                    num(&p["grad_std"]),
                );
                e.histogram(format!("weights/{name}"), step, data);
                e.histogram(format!("weight_grads/{name}"), step, grads);
                if let Some(v) = opt(&p["grad_data_ratio"]) {
                    e.scalar(format!("grad_data_ratio/{name}"), step, v);
                }
                if let Some(v) = opt(&p["log10_update_ratio"]) {
                    e.scalar(format!("update_ratio/{name}"), step, v);
                }
            }
            e.scalar("loss/recorded_step".into(), step, num(&r["loss"]));
        }
        let summary = &load("summary.json")[0];
        for split in ["train", "val", "test"] {
            let loss = num(&summary[format!("{split}_loss")]);
            if loss.is_finite() {
                e.scalar(format!("loss/{split}"), int(&summary["steps"]), loss);
            }
        }
        e
    }

    /// Asserts that `tb` (the reader's output) holds exactly these tags, each at exactly these
    /// steps in this order, with these values, and nothing else; returns how many numbers were
    /// compared (each scalar, and each histogram's five statistics, edges and counts).
    fn check(&self, tb: &Value) -> usize {
        let other = tb["other"]
            .as_object()
            .expect("the reader lists other kinds");
        let images: Vec<&str> = other
            .get("images")
            .map(|v| {
                v.as_array()
                    .unwrap()
                    .iter()
                    .map(|t| t.as_str().unwrap())
                    .collect()
            })
            .unwrap_or_default();
        assert_eq!(
            images,
            self.images.iter().map(String::as_str).collect::<Vec<_>>(),
            "the saturation maps are the images"
        );
        assert!(
            other.keys().all(|k| k == "images"),
            "nothing but scalars, histograms and the maps: {other:?}"
        );
        for (kind, want) in [
            ("scalars", self.scalars.keys().collect::<BTreeSet<_>>()),
            ("histograms", self.histograms.keys().collect()),
        ] {
            let got: BTreeSet<&String> = tb[kind].as_object().unwrap().keys().collect();
            let extra: Vec<_> = got.difference(&want).collect();
            assert!(
                extra.is_empty(),
                "{kind} in the event file with no record: {extra:?}"
            );
            let missing: Vec<_> = want.difference(&got).collect();
            assert!(
                missing.is_empty(),
                "recorded {kind} missing from the event file: {missing:?}"
            );
        }
        let mut compared = 0;
        for (tag, want) in &self.scalars {
            let got = scalar(tb, tag);
            let got_steps: Vec<u64> = got.iter().map(|p| p.0).collect();
            let want_steps: Vec<u64> = want.iter().map(|p| p.0).collect();
            assert_eq!(got_steps, want_steps, "{tag}: the steps of its points");
            for ((step, got), (_, want)) in got.iter().zip(want) {
                assert!(
                    same(*got, *want),
                    "{tag} at step {step}: {got:e} in the event file, {want:e} (as f32) recorded"
                );
                compared += 1;
            }
        }
        for (tag, want) in &self.histograms {
            let got = tb["histograms"][tag].as_array().unwrap();
            let got_steps: Vec<u64> = got.iter().map(|h| int(&h["step"])).collect();
            let want_steps: Vec<u64> = want.iter().map(|p| p.0).collect();
            assert_eq!(got_steps, want_steps, "{tag}: the steps of its histograms");
            for (h, (step, want)) in got.iter().zip(want) {
                if let Some(d) = Hist::read(h).differs(want, &mut compared) {
                    panic!("{tag} at step {step}: {d}");
                }
            }
        }
        compared
    }
}

#[test]
fn tensorboard_reads_what_a_run_recorded() {
    let t = TempDir::new("tb-run");
    let run = t.path("run");
    train(&run, &["--steps", "300"]);
    let run = Path::new(&run);
    let tb = tb_json(run);

    // What the run recorded: a log point every 50 steps, diagnostics every 100 and at the end,
    // 17 layers, and at step 0 parameters with no update ratio (a fresh gamma's std is 0), so
    // that both a ratio's point and its absence are checked.
    let metrics = jsonl(&run.join("metrics.jsonl"));
    let steps: Vec<u64> = metrics.iter().map(|m| int(&m["step"])).collect();
    assert_eq!(steps, [1, 50, 100, 150, 200, 250, 300]);
    let records = jsonl(&run.join("diagnostics.jsonl"));
    let steps: Vec<u64> = records.iter().map(|r| int(&r["step"])).collect();
    assert_eq!(steps, [0, 100, 200, 299]);
    for r in &records {
        assert_eq!(r["layers"].as_array().unwrap().len(), 17, "the deep stack");
    }
    assert!(records[0]["params"]
        .as_array()
        .unwrap()
        .iter()
        .any(|p| p["log10_update_ratio"].is_null()));

    // Every scalar and every histogram in the file is the run's record of it, and the reverse.
    let expected = Expected::of_run(run, Read::Exact);
    for group in [
        "loss/minibatch",
        "loss/recorded_step",
        "loss/train",
        "loss/val",
        "loss/test",
        "train/lr",
        "activation_std/",
        "saturation/",
        "activation_grad_std/",
        "grad_data_ratio/",
        "update_ratio/",
    ] {
        assert!(
            expected.scalars.keys().any(|t| t.starts_with(group)),
            "the run records {group}"
        );
    }
    for group in [
        "activations/",
        "activation_grads/",
        "weights/",
        "weight_grads/",
    ] {
        assert!(
            expected.histograms.keys().any(|t| t.starts_with(group)),
            "the run records {group}"
        );
    }
    let compared = expected.check(&tb);
    eprintln!(
        "{} scalar and {} histogram tags, {compared} values compared",
        expected.scalars.len(),
        expected.histograms.len()
    );

    // `makemore export tensorboard` rebuilds the file from the records, as it reads them.
    stdout_json(&makemore(&[
        "export",
        "tensorboard",
        run.to_str().unwrap(),
        "--force",
        "--json",
    ]));
    let exported = Expected::of_run(run, Read::AsSerdeJson);
    assert_eq!(exported.check(&tb_json(run)), compared);
}

#[test]
fn a_corrupted_byte_fails_tensorboards_crc_check_and_export_refuses_to_overwrite() {
    let t = TempDir::new("tb-corrupt");
    let run = t.path("run");
    train(&run, &["--steps", "120"]);
    let run_dir = Path::new(&run);
    assert!(
        std::fs::read_dir(run_dir).unwrap().any(|e| e
            .unwrap()
            .file_name()
            .to_string_lossy()
            .contains("tfevents")),
        "training wrote an event file"
    );
    let before = scalar(&tb_json(run_dir), "loss/minibatch");

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
    let again = tb_json(run_dir);
    assert_eq!(scalar(&again, "loss/minibatch"), before);
    assert!(!again["histograms"].as_object().unwrap().is_empty());

    // One flipped byte in the middle of the file: the record's CRC no longer matches.
    let mut bytes = std::fs::read(&exported).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x40;
    std::fs::write(&exported, &bytes).unwrap();
    let strict = read_tb(run_dir, true);
    assert_eq!(strict.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&strict.stderr).contains("crc32"),
        "{}",
        String::from_utf8_lossy(&strict.stderr)
    );
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
    let before = scalar(&tb_json(dir), "loss/minibatch");
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
    let a = tb_json(Path::new(&whole));
    let b = tb_json(Path::new(&paused));
    for tag in [
        "loss/minibatch",
        "activation_std/layer 02 (Tanh)",
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
    // Event files go directly into the run directory, so TensorBoard names each run after it.
    assert_eq!(tb_runs(&t.0), ["paused", "whole"]);
}
