//! Diagnostics, end to end: the lecture's deep stack looks healthy, the un-normalized stack and
//! the original init get the advice they deserve, and the report opens in a browser.

mod common;

use common::*;
use serde_json::Value;
use std::path::Path;

fn diagnose(config: &str, steps: &str, out: &str) -> Value {
    let c = corpus();
    let cfg = repo().join("configs/lecture").join(config);
    stdout_json(&makemore(&[
        "diagnose",
        "--data",
        c.to_str().unwrap(),
        "--config",
        cfg.to_str().unwrap(),
        "--steps",
        steps,
        "--out",
        out,
        "--json",
        "--quiet",
    ]))
}

fn activations(record: &Value) -> Vec<&Value> {
    record["layers"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|l| l["layer"]["kind"]["type"] == "activation")
        .collect()
}

#[test]
fn deep_batchnorm_is_healthy_at_step_1000() {
    let t = TempDir::new("diag-deep");
    let out = t.path("run");
    let j = diagnose("deep-batchnorm.toml", "1000", &out);
    let last = &j["record"];
    assert_eq!(last["step"], 999, "the last step is always recorded");
    let tanh = activations(last);
    assert_eq!(tanh.len(), 5);
    let mut grad_stds = vec![];
    for l in &tanh {
        let std = l["output"]["std"].as_f64().unwrap();
        let sat = l["output"]["saturated_frac"].as_f64().unwrap();
        assert!((0.55..=0.75).contains(&std), "{}: std {std}", l["name"]);
        assert!(sat < 0.05, "{}: saturated {sat}", l["name"]);
        grad_stds.push(l["grad"]["std"].as_f64().unwrap());
    }
    let (lo, hi) = grad_stds
        .iter()
        .fold((f64::MAX, 0f64), |(lo, hi), &g| (lo.min(g), hi.max(g)));
    assert!(
        hi / lo < 2.0,
        "activation-gradient std within a factor of 2 across layers: {grad_stds:?}"
    );
    // PyTorch's reference at the same step (pytorch_lecture.py --model deep --steps 1000
    // --diagnose-at 999) has log10 update ratios -2.34 .. -2.51 for the hidden weight matrices.
    for p in last["params"].as_array().unwrap().iter().filter(|p| {
        p["name"].as_str().unwrap().starts_with("blocks.")
            && p["shape"].as_array().unwrap().len() == 2
    }) {
        let r = p["log10_update_ratio"].as_f64().unwrap();
        assert!(
            (-2.51 - 0.3..=-2.34 + 0.3).contains(&r),
            "{}: {r}",
            p["name"]
        );
    }
    assert_eq!(
        j["advice"],
        serde_json::json!([]),
        "no advice for a healthy network"
    );
    for f in [
        "diagnostics.jsonl",
        "report.html",
        "activations.svg",
        "activations.png",
        "activation-grads.png",
        "weight-grads.png",
        "update-ratios.png",
        "loss.png",
    ] {
        assert!(Path::new(&out).join(f).is_file(), "{f} missing");
    }
    let lines = std::fs::read_to_string(Path::new(&out).join("diagnostics.jsonl")).unwrap();
    let steps: Vec<u64> = lines
        .lines()
        .map(|l| {
            serde_json::from_str::<Value>(l).unwrap()["step"]
                .as_u64()
                .unwrap()
        })
        .collect();
    assert_eq!(steps, [0, 100, 200, 300, 400, 500, 600, 700, 800, 900, 999]);
}

#[test]
fn unnormalized_deep_tanh_is_saturated_and_told_so() {
    let t = TempDir::new("diag-bad");
    let j = diagnose("deep-tanh-no-norm.toml", "300", &t.path("run"));
    let worst = activations(&j["record"])
        .into_iter()
        .max_by(|a, b| {
            a["output"]["saturated_frac"]
                .as_f64()
                .unwrap()
                .total_cmp(&b["output"]["saturated_frac"].as_f64().unwrap())
        })
        .unwrap();
    assert!(
        worst["output"]["saturated_frac"].as_f64().unwrap() > 0.5,
        "{worst}"
    );
    let name = worst["name"].as_str().unwrap();
    let advice = j["advice"].as_array().unwrap();
    assert!(
        advice.iter().any(|a| a["rule"] == "saturation"
            && a["layer"] == name
            && a["message"].as_str().unwrap().contains(name)),
        "{advice:?}"
    );
}

/// What `configs/lecture/deep-tanh-no-norm.toml`'s comment says of step 0: 65% of the first tanh
/// layer's outputs saturated, 81-83% of every later one's, and the gradient with respect to each
/// tanh layer's output growing about 2.5x per layer toward the input (37x over the stack).
#[test]
fn unnormalized_deep_tanh_at_step_0_is_what_its_config_comment_says() {
    let t = TempDir::new("diag-bad-0");
    let out = t.path("run");
    diagnose("deep-tanh-no-norm.toml", "1", &out);
    let text = std::fs::read_to_string(Path::new(&out).join("diagnostics.jsonl")).unwrap();
    let first: Value = serde_json::from_str(text.lines().next().unwrap()).unwrap();
    assert_eq!(first["step"], 0);
    let tanh = activations(&first);
    assert_eq!(tanh.len(), 5);
    // Saturation in whole percent, as the comment prints it.
    let pct: Vec<f64> = tanh
        .iter()
        .map(|l| (100.0 * l["output"]["saturated_frac"].as_f64().unwrap()).round())
        .collect();
    assert_eq!(pct[0], 65.0, "{pct:?}");
    assert!(
        pct[1..].iter().all(|&p| (81.0..=83.0).contains(&p)),
        "{pct:?}"
    );
    let grad: Vec<f64> = tanh
        .iter()
        .map(|l| l["grad"]["std"].as_f64().unwrap())
        .collect();
    for w in grad.windows(2) {
        let growth = w[0] / w[1];
        assert!(
            (2.0..3.0).contains(&growth),
            "per-layer growth {growth} in {grad:?}"
        );
    }
    let overall = grad[0] / grad[4];
    assert_eq!(overall.round(), 37.0, "{grad:?}");
}

/// The README's sentence on the advice states the thresholds `AdviceConfig::default()` uses.
#[test]
fn readme_states_the_advice_thresholds_the_code_uses() {
    let readme = std::fs::read_to_string(repo().join("README.md")).unwrap();
    let readme = readme.split_whitespace().collect::<Vec<_>>().join(" ");
    let c = makemore_diagnostics::AdviceConfig::default();
    for claim in [
        format!(
            "a first loss more than {} nat above ln(vocab)",
            c.first_loss_excess
        ),
        format!(
            "saturation above {}% of a tanh or sigmoid layer's outputs",
            100.0 * c.saturation
        ),
        format!(
            "activation std drifting more than {}x across depth",
            c.std_drift
        ),
        format!("activation gradients drifting more than {}x", c.grad_drift),
        format!("update ratio outside [{}, {}]", c.update_low, c.update_high),
    ] {
        assert!(readme.contains(&claim), "README.md does not say `{claim}`");
    }
}

#[test]
fn original_init_gets_the_overconfident_output_advice() {
    let t = TempDir::new("diag-orig");
    let j = diagnose("original.toml", "100", &t.path("run"));
    assert!(j["first"]["loss"].as_f64().unwrap() > 15.0);
    let advice = j["advice"].as_array().unwrap();
    let a = advice
        .iter()
        .find(|a| a["rule"] == "overconfident_output")
        .expect("overconfident-output advice");
    assert!(a["message"].as_str().unwrap().contains("step 0"), "{a}");
    assert!(
        j["first"]["rescaled_loss"].as_f64().unwrap() < 4.0,
        "rescaling the logits fixes most of it"
    );
}

#[test]
fn train_can_record_diagnostics_too() {
    let c = corpus();
    let t = TempDir::new("diag-train");
    let r = t.path("r");
    let s = stdout_json(&makemore(&[
        "train",
        "--data",
        c.to_str().unwrap(),
        "--steps",
        "200",
        "--set",
        "train.lr=0.1", // constant: the default schedule's decay at 50% would rightly draw advice
        "--diagnose-every",
        "50",
        "--out",
        &r,
        "--json",
        "--quiet",
    ]));
    assert_eq!(
        s["advice"],
        serde_json::json!([]),
        "the lecture's BatchNorm model gets no advice"
    );
    assert!(s["report"].as_str().unwrap().ends_with("report.html"));
    let n = std::fs::read_to_string(Path::new(&r).join("diagnostics.jsonl"))
        .unwrap()
        .lines()
        .count();
    assert_eq!(n, 5, "steps 0, 50, 100, 150, 199");
}

/// Recording diagnostics changes a run by float rounding only: the recorded steps run Burn's ops,
/// the others the host kernels (README, "Seeing inside").
#[test]
fn recording_moves_a_run_by_rounding_only() {
    let c = corpus();
    let t = TempDir::new("diag-same");
    let run = |out: &str, extra: &[&str]| {
        let mut args = vec![
            "train",
            "--data",
            c.to_str().unwrap(),
            "--config",
            "configs/lecture/batchnorm.toml",
            "--steps",
            "300",
            "--out",
            out,
            "--json",
            "--quiet",
        ];
        args.extend_from_slice(extra);
        stdout_json(&makemore(&args))
    };
    let plain = run(&t.path("plain"), &[]);
    let recorded = run(&t.path("recorded"), &["--diagnose-every", "100"]);
    for (key, tol) in [
        ("first_loss", 0.0),
        ("final_loss", 1e-5),
        ("val_loss", 1e-6),
    ] {
        let (p, r) = (
            plain[key].as_f64().unwrap(),
            recorded[key].as_f64().unwrap(),
        );
        assert!((p - r).abs() <= tol, "{key}: plain {p}, recorded {r}");
    }
}

/// The report opens in headless Chromium (Debian's `chromium`, which `.ci/run` installs): the page
/// parses, logs no console error, and every plot is in the DOM as an SVG.
#[test]
fn report_opens_in_headless_chromium() {
    let t = TempDir::new("diag-browser");
    let out = t.path("run");
    diagnose("deep-batchnorm.toml", "200", &out);
    let report = Path::new(&out).join("report.html");
    let (dom, log) = headless_dom(&report, &t.path("profile"));
    assert!(!log.contains(":CONSOLE("), "console messages: {log}");
    for plot in [
        "activations",
        "activation-grads",
        "weight-grads",
        "update-ratios",
        "loss",
    ] {
        let at = dom
            .find(&format!("id=\"plot-{plot}\""))
            .unwrap_or_else(|| panic!("plot {plot} missing from the page"));
        let figure = &dom[at..at + dom[at..].find("</figure>").unwrap()];
        assert!(
            figure.contains("<svg") && figure.contains("<polyline"),
            "plot {plot} has no drawn curve"
        );
    }
    assert!(
        dom.contains("id=\"no-advice\""),
        "the healthy stack gets no advice"
    );
}

/// The diagnose table names LayerNorm, GroupNorm and the residual sums, layer by layer, and
/// reports the learned residual scales with the other parameters.
#[test]
fn diagnose_names_the_new_layers() {
    let c = corpus();
    let t = TempDir::new("diag-layers");
    for (config, norm) in [
        ("deep-layernorm-residual", "LayerNorm"),
        ("deep-groupnorm-rmsprop", "GroupNorm"),
    ] {
        let cfg = repo().join(format!("configs/mitigations/{config}.toml"));
        let out = makemore(&[
            "diagnose",
            "--data",
            c.to_str().unwrap(),
            "--config",
            cfg.to_str().unwrap(),
            "--steps",
            "20",
            "--out",
            &t.path(config),
            "--quiet",
        ]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let text = String::from_utf8_lossy(&out.stdout);
        let want = format!("layers: 0 Linear, 1 {norm}, 2 Tanh, 3 Linear, 4 {norm}, 5 Tanh, 6 Residual, 7 Linear, ");
        assert!(
            text.contains(&want),
            "{config}: {want} missing from\n{text}"
        );
        assert!(text.contains("layer 5 (Tanh)"), "{text}");
        // Every layer, named, in diagnostics.jsonl (and so in TensorBoard and the report).
        let jsonl =
            std::fs::read_to_string(Path::new(&t.path(config)).join("diagnostics.jsonl")).unwrap();
        let record: Value = serde_json::from_str(jsonl.lines().next().unwrap()).unwrap();
        let names: Vec<&str> = record["layers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| l["name"].as_str().unwrap())
            .collect();
        assert_eq!(
            names.len(),
            20,
            "5 blocks of 3, 4 residual sums, the output Linear: {names:?}"
        );
        assert_eq!(names[4], format!("layer 4 ({norm})"));
        assert_eq!(names[6], "layer 6 (Residual)");
        let params: Vec<&str> = record["params"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["name"].as_str().unwrap())
            .collect();
        assert!(
            params.contains(&"blocks.1.scale") && params.contains(&"blocks.1.norm.gamma"),
            "{params:?}"
        );
    }
}
