//! `makemore doctor` end to end: it finds what the lecture finds, changes only what it is
//! allowed to, and its fixed config trains as well as the lecture's hand-made fixes.

mod common;

use common::{assert_input_error, corpus, headless_checked, loaded_images, makemore, TempDir};
use serde_json::Value;
use std::path::Path;
use std::process::{Command, Output};

/// `makemore doctor ARGS --data CORPUS --out OUT --json`: its status and its report.
fn doctor(out: &str, args: &[&str]) -> (Output, Value) {
    let c = corpus();
    let mut all = vec![
        "doctor",
        "--data",
        c.to_str().unwrap(),
        "--out",
        out,
        "--quiet",
        "--json",
    ];
    all.extend_from_slice(args);
    let o = makemore(&all);
    let report = serde_json::from_slice(&o.stdout).unwrap_or(Value::Null);
    (o, report)
}

/// Asserts success and returns the report.
fn healthy(out: &str, args: &[&str]) -> Value {
    let (o, r) = doctor(out, args);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    r
}

fn keys(changes: &Value) -> Vec<String> {
    changes
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["key"].as_str().unwrap().to_string())
        .collect()
}

fn rounds(r: &Value) -> &Vec<Value> {
    r["rounds"].as_array().unwrap()
}

/// The fixed round's numbers.
fn best(r: &Value) -> &Value {
    &rounds(r)[r["best"].as_u64().unwrap() as usize]
}

/// The lecture's original: the confident output and the saturated tanh are found and fixed
/// with init changes only (the lecture's: output x0.01, output bias 0, hidden x0.2), and the
/// fixed config, trained for the lecture's 200,000 steps, lands within 0.02 of the lecture's
/// fixed row (fix-tanh, val 2.1027) and below the original's 2.1570.
#[test]
fn the_original_gets_the_lectures_fixes_and_trains_as_well_as_them() {
    let t = TempDir::new("doctor-original");
    let out = t.path("doc");
    let r = healthy(&out, &["--config", "original"]);
    let first = &rounds(&r)[0];
    let rules: Vec<&str> = first["advice"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["rule"].as_str().unwrap())
        .collect();
    assert!(
        rules.contains(&"overconfident_output") && rules.contains(&"saturation"),
        "{rules:?}"
    );
    assert!(first["first_loss"].as_f64().unwrap() > 20.0);
    let fixed = keys(&r["fixed"]);
    assert!(fixed.iter().all(|k| k.starts_with("init.")), "{fixed:?}");
    for k in ["init.output.scale", "init.output_bias", "init.hidden.scale"] {
        assert!(fixed.contains(&k.to_string()), "{k} in {fixed:?}");
    }
    let value = |k: &str| {
        r["fixed"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["key"] == k)
            .unwrap()["value"]
            .as_str()
            .unwrap()
            .to_string()
    };
    assert_eq!(value("init.output.scale"), "0.01");
    assert_eq!(value("init.output_bias"), "{ scheme = \"zeros\" }");
    assert_eq!(value("init.hidden.scale"), "0.2");
    let b = best(&r);
    assert!(
        (b["first_loss"].as_f64().unwrap() - 27f64.ln()).abs() < 0.1,
        "{b}"
    );
    assert!(b["worst_saturation"].as_f64().unwrap() < 0.2, "{b}");
    assert!(b["val_loss"].as_f64().unwrap() < first["val_loss"].as_f64().unwrap());
    // fixed.toml keeps the original's comments and steps, and says why each change was made.
    let text = std::fs::read_to_string(Path::new(&out).join("fixed.toml")).unwrap();
    assert!(text.contains("The lecture's starting point"), "{text}");
    assert!(
        text.contains("# makemore doctor, round 1 (overconfident_output): step 0: loss"),
        "{text}"
    );
    assert!(text.contains("steps = 200000"), "{text}");
    // The bias change has the same finding as the scale's: written once.
    assert!(
        text.contains(
            "# makemore doctor, round 1 (overconfident_output): with init.output.scale\n"
        ),
        "{text}"
    );
    // The same doctor on the run directory of its first round: the same findings and changes.
    let round0 = Path::new(&out).join("round-0");
    let from = healthy(&t.path("from"), &["--from", round0.to_str().unwrap()]);
    assert_eq!(rounds(&from)[0]["first_loss"], first["first_loss"]);
    assert_eq!(keys(&from["fixed"]), fixed);
    let fixed_toml = Path::new(&out).join("fixed.toml");
    let c = corpus();
    let train = makemore(&[
        "train",
        "--config",
        fixed_toml.to_str().unwrap(),
        "--data",
        c.to_str().unwrap(),
        "--json",
    ]);
    let s = common::stdout_json(&train);
    let val = s["val_loss"].as_f64().unwrap();
    assert!((val - 2.1027).abs() < 0.02 && val < 2.1570, "val {val}");
}

/// The deep stack without normalization: with init changes only its worst saturation ends
/// under 10%; allowed a normalization, it adds one; the deep BatchNorm stack is left alone.
#[test]
fn the_deep_stack_is_fixed_by_init_or_by_a_norm_and_a_healthy_one_is_left_alone() {
    let t = TempDir::new("doctor-deep");
    let init = healthy(
        &t.path("init"),
        &["--config", "deep-tanh-no-norm", "--allow", "init"],
    );
    let fixed = keys(&init["fixed"]);
    assert!(
        !fixed.is_empty() && fixed.iter().all(|k| k.starts_with("init.")),
        "{fixed:?}"
    );
    let b = best(&init);
    assert!(b["worst_saturation"].as_f64().unwrap() < 0.10, "{init}");
    // The same command again reads the finished rounds back; --force trains them again.
    let metrics = Path::new(&t.path("init")).join("round-0/metrics.jsonl");
    let written = || std::fs::metadata(&metrics).unwrap().modified().unwrap();
    let before = written();
    let args = ["--config", "deep-tanh-no-norm", "--allow", "init"];
    let again = healthy(&t.path("init"), &args);
    assert_eq!(written(), before, "read back, not trained again");
    assert_eq!(again["fixed"], init["fixed"]);
    std::thread::sleep(std::time::Duration::from_millis(20));
    let forced = healthy(&t.path("init"), &[&args[..], &["--force"]].concat());
    assert!(written() > before, "--force trains again");
    assert_eq!(forced["fixed"], init["fixed"]);
    let norm = healthy(
        &t.path("norm"),
        &["--config", "deep-tanh-no-norm", "--allow", "norm"],
    );
    assert_eq!(keys(&norm["fixed"]), ["model.norm"], "{norm}");
    let ok = t.path("ok");
    let bn = healthy(&ok, &["--config", "deep-batchnorm"]);
    assert_eq!(rounds(&bn).len(), 1, "{bn}");
    assert_eq!(bn["stopped"], "no_advice");
    assert!(bn["fixed"].as_array().unwrap().is_empty());
    let text = std::fs::read_to_string(Path::new(&ok).join("fixed.toml")).unwrap();
    assert!(
        text.starts_with("# makemore doctor found nothing to change"),
        "{text}"
    );
    let original =
        std::fs::read_to_string(common::repo().join("configs/lecture/deep-batchnorm.toml"))
            .unwrap();
    assert!(text.ends_with(&original), "the config as it was");
}

/// A learning rate far too high diverges and one far too low barely moves the weights: each is
/// found and moved toward the -3 update guide.
#[test]
fn a_rate_far_too_high_or_too_low_is_moved_toward_the_guide() {
    let t = TempDir::new("doctor-lr");
    let high = healthy(
        &t.path("high"),
        &["--config", "kaiming", "--set", "train.lr=50"],
    );
    let r = rounds(&high);
    assert!(r[0]["diverged"].is_object(), "{high}");
    assert_eq!(r[0]["advice"][0]["rule"], "diverged");
    assert_eq!(keys(&r[1]["changes"]), ["train.lr"]);
    assert_eq!(r[1]["changes"][0]["value"], "5.0", "{high}");
    // At 5 it no longer diverges, but ends far above its first loss: lowered again.
    assert_eq!(r[1]["advice"][0]["rule"], "loss_rose", "{high}");
    assert_eq!(r[2]["changes"][0]["value"], "0.5", "{high}");
    let b = best(&high);
    assert!(b["diverged"].is_null(), "{high}");
    let u = b["median_update"].as_f64().unwrap();
    assert!((-4.0..=-1.5).contains(&u), "{high}");
    // Diverging twice in a row (1000, then 100) is no reason to stop lowering it.
    let higher = healthy(
        &t.path("higher"),
        &["--config", "kaiming", "--set", "train.lr=1000"],
    );
    let r = rounds(&higher);
    assert!(
        r[0]["diverged"].is_object() && r[1]["diverged"].is_object(),
        "{higher}"
    );
    assert_eq!(higher["stopped"], "no_advice", "{higher}");
    let u = best(&higher)["median_update"].as_f64().unwrap();
    assert!((-4.0..=-1.5).contains(&u), "{higher}");
    let low = healthy(
        &t.path("low"),
        &["--config", "kaiming", "--set", "train.lr=0.00001"],
    );
    let r = rounds(&low);
    assert!(r[0]["median_update"].as_f64().unwrap() < -4.0, "{low}");
    assert_eq!(keys(&r[1]["changes"]), ["train.lr"]);
    // x100 at most a round: 0.00001 -> 0.001 -> 0.1.
    assert_eq!(r[1]["changes"][0]["value"], "0.001", "{low}");
    assert_eq!(r[2]["changes"][0]["value"], "0.1", "{low}");
    let u = best(&low)["median_update"].as_f64().unwrap();
    assert!((-4.0..=-1.5).contains(&u), "{low}");
    // Allowed the optimizer but not the rate: Adam, at a rate it computes.
    let adam = healthy(
        &t.path("adam"),
        &[
            "--config",
            "kaiming",
            "--set",
            "train.lr=0.00001",
            "--allow",
            "optimizer",
        ],
    );
    let r = rounds(&adam);
    assert_eq!(
        keys(&r[1]["changes"]),
        ["train.optimizer", "train.lr"],
        "{adam}"
    );
    assert_eq!(r[1]["changes"][0]["value"], "\"adam\"");
    let u = best(&adam)["median_update"].as_f64().unwrap();
    assert!((-4.0..=-1.5).contains(&u), "{adam}");
}

/// A change that does not lower the val loss is undone, and the next allowed kind is tried on
/// the best round: on a 10-unit `original`, the second hidden scale-down gains nothing, so
/// BatchNorm is tried on round 1 instead.
#[test]
fn a_change_that_does_not_help_is_undone_and_another_kind_tried() {
    let t = TempDir::new("doctor-alt");
    let r = healthy(
        &t.path("doc"),
        &[
            "--config",
            "original",
            "--set",
            "model.hidden=[10]",
            "--allow",
            "init,norm",
        ],
    );
    let all = rounds(&r);
    let last = all.last().unwrap();
    assert_eq!(keys(&last["changes"]), ["model.norm"], "{r}");
    assert_eq!(last["base"], 1, "{r}");
    assert_eq!(r["best"].as_u64().unwrap() as usize, all.len() - 1, "{r}");
    let fixed = keys(&r["fixed"]);
    assert!(fixed.contains(&"model.norm".to_string()), "{fixed:?}");
    assert!(
        fixed.contains(&"init.hidden.scale".to_string()),
        "{fixed:?}"
    );
    assert!(all.len() >= 4, "a round between was undone: {r}");
}

/// Bad flags and a config the allowed changes cannot improve exit 2 with one line; the latter
/// writes its findings but no fixed.toml.
#[test]
fn bad_flags_and_a_config_it_cannot_improve_exit_2() {
    let t = TempDir::new("doctor-bad");
    let c = corpus();
    let c = c.to_str().unwrap();
    let out = t.path("bad");
    for (allow, word) in [("init,optimiser", "`optimiser`"), ("", "``")] {
        let o = makemore(&[
            "doctor", "--config", "original", "--allow", allow, "--out", &out, "--data", c,
        ]);
        assert_input_error(&o, &["--allow", word]);
        assert!(!Path::new(&out).exists(), "nothing written");
    }
    let o = makemore(&["doctor", "--config", "nope", "--out", &out, "--data", c]);
    assert_input_error(&o, &["nope"]);
    let o = makemore(&["doctor", "--from", "nope", "--out", &out, "--data", c]);
    assert_input_error(&o, &["--from nope", "not a run directory"]);
    let o = makemore(&["doctor", "--rounds", "0", "--out", &out, "--data", c]);
    assert_input_error(&o, &["--rounds", "at least 1"]);
    assert!(!Path::new(&out).exists(), "nothing written");
    let file = t.file("a-file", b"");
    let o = makemore(&["doctor", "--out", &file, "--data", c]);
    assert_input_error(&o, &["--out", "not a directory"]);
    let under = format!("{file}/sub");
    let o = makemore(&["doctor", "--out", &under, "--steps", "10", "--data", c]);
    assert_input_error(&o, &["--out", "cannot make the folder"]);
    // An earlier doctor's fixed.toml does not survive one that cannot improve the config.
    healthy(&out, &["--config", "original", "--steps", "300"]);
    assert!(Path::new(&out).join("fixed.toml").is_file());
    let (o, _) = doctor(
        &out,
        &["--config", "original", "--allow", "lr", "--steps", "300"],
    );
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(
        err.contains("doctor cannot improve") && err.contains("overconfident_output"),
        "{err}"
    );
    assert!(
        !Path::new(&out).join("fixed.toml").exists(),
        "the stale one goes"
    );
    assert!(
        !Path::new(&out).join("round-1").exists(),
        "so does the longer doctor's round"
    );
    assert!(Path::new(&out).join("doctor.html").is_file());
    // Changes that never lowered the val loss: at 300 steps fixing fix-softmax's saturated tanh
    // costs more than it gains (2.5250 against 2.5022), and no other kind is allowed.
    let (o, r) = doctor(
        &t.path("short"),
        &["--config", "fix-softmax", "--steps", "300"],
    );
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(err.contains("did not lower the val loss"), "{err}");
    assert_eq!(r["stopped"], "not_improving", "{r}");
    assert!(!Path::new(&t.path("short")).join("fixed.toml").exists());
    // Still diverging when the rounds run out: no fixed config either.
    let (o, _) = doctor(
        &t.path("div"),
        &[
            "--config",
            "kaiming",
            "--set",
            "train.lr=100000",
            "--rounds",
            "1",
        ],
    );
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(err.contains("every round diverged"), "{err}");
    assert!(!Path::new(&t.path("div")).join("fixed.toml").exists());
}

/// Ctrl-C stops the doctor with a checkpoint and exit 130, writing none of its files; the same
/// command again continues (the stopped round resumes) and finishes as an uninterrupted one.
#[test]
fn an_interrupted_doctor_continues() {
    let t = TempDir::new("doctor-sigint");
    let c = corpus();
    let out = t.path("doc");
    let args = [
        "--config",
        "deep-tanh-no-norm",
        "--steps",
        "30000",
        "--every",
        "5000",
        "--rounds",
        "1",
    ];
    let child = Command::new(env!("CARGO_BIN_EXE_makemore"))
        .args([
            "doctor",
            "--data",
            c.to_str().unwrap(),
            "--out",
            &out,
            "--quiet",
        ])
        .args(args)
        .current_dir(common::repo())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let ckpt = Path::new(&out).join("round-0/checkpoint.json");
    let (_, err) = common::ctrl_c(child, Some(&ckpt), 0);
    assert!(err.contains("rerun the same command"), "{err}");
    for f in ["doctor.json", "doctor.html", "fixed.toml"] {
        assert!(!Path::new(&out).join(f).exists(), "{f}");
    }
    let again = healthy(&out, &args);
    let fresh = healthy(&t.path("fresh"), &args);
    for (a, b) in rounds(&again).iter().zip(rounds(&fresh)) {
        assert_eq!(a["val_loss"], b["val_loss"], "resumed == uninterrupted");
    }
    assert_eq!(again["fixed"], fresh["fixed"]);
}

/// doctor.html opens in headless Chromium: no script error, every round's section with its
/// config diff, its charts drawn next to the previous round's, its map image loaded.
#[test]
fn the_doctor_page_opens_in_headless_chromium() {
    let t = TempDir::new("doctor-page");
    let out = t.path("doc");
    let r = healthy(&out, &["--config", "original", "--steps", "500"]);
    let n = rounds(&r).len();
    assert!(n >= 2, "{r}");
    let page = Path::new(&out).join("doctor.html");
    let (dom, _) = headless_checked(&page, &t.path("profile"), "");
    for k in 0..n {
        assert!(dom.contains(&format!("id=\"round-{k}\"")), "round {k}");
    }
    assert!(
        dom.contains("- init.output.scale = 1.0") && dom.contains("+ init.output.scale = 0.01"),
        "the diff"
    );
    // Round 0 alone, then each later round beside the one before: 3 charts per column.
    let columns = 1 + 2 * (n - 1);
    assert_eq!(dom.matches("<svg").count(), 3 * columns);
    assert_eq!(loaded_images(&dom), columns);
}
