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

/// Each activation layer's saturation map, as the PNG the run writes: its white share is the
/// record's saturated share (the lecture's batch of 32 is the map's 32 rows), and the columns
/// marked red are white on every row and are as many as the record's dead units. The original
/// init after 1,000 steps has dead units, so the last check is not vacuous.
#[test]
fn saturation_maps_are_the_saturation_and_the_dead_units() {
    let t = TempDir::new("diag-maps");
    let out = t.path("run");
    diagnose("original.toml", "1000", &out);
    let jsonl = std::fs::read_to_string(Path::new(&out).join("diagnostics.jsonl")).unwrap();
    let records: Vec<Value> = jsonl
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let (first, last) = (&records[0], records.last().unwrap());
    let mut dead_seen = 0;
    for r in [first, last] {
        for l in activations(r) {
            let name = format!(
                "saturation-layer{}-step{}.png",
                l["layer"]["index"], r["step"]
            );
            let img = image::open(Path::new(&out).join(&name))
                .unwrap_or_else(|e| panic!("{name}: {e}"))
                .to_rgb8();
            let map = &l["output"]["map"];
            let (rows, units) = (
                map["rows"].as_u64().unwrap(),
                map["units"].as_u64().unwrap(),
            );
            assert_eq!(rows, 32, "the lecture's batch is the map");
            let (w, h) = img.dimensions();
            let cell = w / units as u32;
            let band = h - rows as u32 * cell;
            let white = img
                .enumerate_pixels()
                .filter(|(_, y, p)| *y >= band && p.0 == [255, 255, 255])
                .count();
            let share = white as f64 / (w * (h - band)) as f64;
            let sat = l["output"]["saturated_frac"].as_f64().unwrap();
            assert!(
                (share - sat).abs() < 1e-12,
                "{name}: white {share} vs saturated {sat}"
            );
            let red: Vec<u32> = (0..units as u32)
                .filter(|&u| img.get_pixel(u * cell, 0).0 == [220, 30, 30])
                .collect();
            for &u in &red {
                assert!(
                    (band..h).all(|y| img.get_pixel(u * cell, y).0 == [255, 255, 255]),
                    "{name}: dead column {u} is not white on every row"
                );
            }
            let dead = l["output"]["dead_units"].as_u64().unwrap();
            assert_eq!(red.len() as u64, dead, "{name}: red columns vs dead units");
            let listed: Vec<u64> = map["dead"]
                .as_array()
                .unwrap()
                .iter()
                .map(|d| d.as_u64().unwrap())
                .collect();
            assert_eq!(
                listed,
                red.iter().map(|&u| u64::from(u)).collect::<Vec<_>>()
            );
            // Independently of the list: the columns white on every row of the batch (the map's
            // 32 rows are the whole batch) are the red ones.
            let white_columns: Vec<u32> = (0..units as u32)
                .filter(|&u| (band..h).all(|y| img.get_pixel(u * cell, y).0 == [255, 255, 255]))
                .collect();
            assert_eq!(white_columns, red, "{name}: dead columns");
            dead_seen += dead;
        }
    }
    assert!(
        dead_seen > 0,
        "the original init has dead units after 1,000 steps"
    );
}

/// Saturation is named for what it is in each kind of layer: relu's flat side is exactly 0 (no
/// threshold), sigmoid's tails are x < (1 - t) / 2 and x > (1 + t) / 2; tables, plot legends
/// and map captions say so.
#[test]
fn saturation_is_named_per_activation() {
    let c = corpus();
    let t = TempDir::new("diag-words");
    for (activation, words, not) in [
        ("relu", "zero (no gradient)", "saturated (|x|"),
        (
            "sigmoid",
            "saturated (x < 0.015 or x > 0.985)",
            "saturated (|x|",
        ),
    ] {
        let out = t.path(activation);
        let set = format!("model.activation=\"{activation}\"");
        let o = makemore(&[
            "diagnose",
            "--data",
            c.to_str().unwrap(),
            "--config",
            "original",
            "--set",
            &set,
            "--steps",
            "200",
            "--out",
            &out,
            "--quiet",
        ]);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let text = String::from_utf8_lossy(&o.stdout);
        assert!(
            text.contains(words) && !text.contains(not),
            "{activation}: {text}"
        );
        // SVG and HTML write "<" and ">" as entities.
        let escaped = words.replace('<', "&lt;").replace('>', "&gt;");
        let legend = std::fs::read_to_string(Path::new(&out).join("activations.svg")).unwrap();
        assert!(
            legend.contains(&escaped) && !legend.contains(not),
            "{activation}: legend"
        );
        let report = std::fs::read_to_string(Path::new(&out).join("report.html")).unwrap();
        let captions: Vec<&str> = report
            .split("<figcaption>")
            .skip(1)
            .filter(|c| c.starts_with("layer 1"))
            .collect();
        assert!(
            !captions.is_empty() && captions.iter().all(|c| c.contains(&escaped)),
            "{activation}: map captions"
        );
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
    // Pick the middle recorded step (100) on the right, as a user would.
    let pick = "var s=document.querySelectorAll('.panel select')[1];s.value='1';s.dispatchEvent(new Event('change'));";
    let (dom, log) = headless_checked(&report, &t.path("profile"), pick);
    assert!(!log.contains(":CONSOLE("), "console messages: {log}");
    assert!(
        dom.contains("data-ready=\"1\""),
        "the step view's script ran to its end"
    );
    assert!(
        dom.contains("activations (step 0)") && dom.contains("activations (step 100)"),
        "the right panel shows the picked step"
    );
    // Step 0 and the last step side by side, each with its charts and five tanh maps.
    for chart in [
        "activations",
        "preactivations",
        "activation-grads",
        "weight-grads",
    ] {
        let n = dom.matches(&format!("data-chart=\"{chart}\"")).count();
        assert_eq!(n, 2, "{chart} in both panels");
    }
    let jsonl = std::fs::read_to_string(Path::new(&out).join("diagnostics.jsonl")).unwrap();
    let records: Vec<Value> = jsonl
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let canvases: Vec<&str> = dom.split("<canvas").skip(1).collect();
    assert_eq!(canvases.len(), 10, "five tanh maps per panel");
    for (i, c) in canvases.iter().enumerate() {
        let r = &records[if i < 5 { 0 } else { 1 }];
        let l = activations(r)[i % 5];
        let attr = |name: &str| -> f64 {
            let at = c.find(&format!("{name}=\"")).unwrap() + name.len() + 2;
            c[at..at + c[at..].find('"').unwrap()].parse().unwrap()
        };
        let map = &l["output"]["map"];
        let cells = map["rows"].as_f64().unwrap() * map["units"].as_f64().unwrap();
        let sat = l["output"]["saturated_frac"].as_f64().unwrap();
        assert!(
            (attr("data-white") / cells - sat).abs() < 1e-12,
            "the drawn map's white share is the saturation: {} vs {sat}",
            attr("data-white") / cells
        );
    }
    // The first and last step's maps as PNGs inside the page.
    assert_eq!(loaded_images(&dom), 10);
    for plot in [
        "activations",
        "preactivations",
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

/// `makemore lecture --out DIR` writes DIR/lecture.html, which loads in headless Chromium with
/// no script error, every saturation map (five rows, before and after) loaded and every chart
/// drawn, each also a PNG in DIR/pictures; the Kaiming picture's spreads are the lecture's.
#[test]
fn lecture_page_shows_every_picture_in_headless_chromium() {
    let c = corpus();
    let t = TempDir::new("lecture-page");
    let out = t.path("lecture");
    let o = makemore(&[
        "lecture",
        "--data",
        c.to_str().unwrap(),
        "--steps",
        "1200",
        "--out",
        &out,
        "--quiet",
    ]);
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(text.contains("lecture.html"), "{text}");
    let page = Path::new(&out).join("lecture.html");
    let (dom, log) = headless_checked(&page, &t.path("profile"), "");
    assert!(!log.contains(":CONSOLE("), "console messages: {log}");
    assert_eq!(loaded_images(&dom), 10, "five rows' maps, before and after");
    let rows = [
        "original",
        "fix-softmax",
        "fix-tanh",
        "kaiming",
        "batchnorm",
    ];
    let mut charts = vec!["loss-first-steps".to_string(), "loss-windows".into()];
    for r in rows {
        charts.push(format!("{r}-activations"));
        charts.push(format!("{r}-preactivations"));
    }
    charts.extend(["kaiming-spread", "batchnorm-mean", "batchnorm-std"].map(String::from));
    for d in [
        "deep-tanh-gain-0.5",
        "deep-tanh-kaiming",
        "deep-tanh-gain-3",
        "deep-linear",
        "deep-batchnorm",
    ] {
        charts.push(format!("{d}-activations"));
        charts.push(format!("{d}-gradients"));
    }
    for name in &charts {
        let at = dom
            .find(&format!("id=\"{name}\""))
            .unwrap_or_else(|| panic!("{name} missing from the page"));
        let figure = &dom[at..at + dom[at..].find("</figure>").unwrap()];
        // 1,200 steps are two log points (1,000 and 1,200): the whole-run chart has two.
        let least = if name == "loss-windows" { 2 } else { 10 };
        assert!(
            longest_polyline(figure) >= least,
            "{name} has no drawn curve"
        );
        let png = Path::new(&out).join("pictures").join(format!("{name}.png"));
        image::open(&png).unwrap_or_else(|e| panic!("{}: {e}", png.display()));
    }
    for r in rows {
        // Linear, Tanh; with BatchNorm: Linear, BatchNorm1d, Tanh.
        let tanh = if r == "batchnorm" { 2 } else { 1 };
        for when in ["step0", "trained"] {
            let png = format!("{r}-{when}-map-layer{tanh}.png");
            image::open(Path::new(&out).join("pictures").join(&png))
                .unwrap_or_else(|e| panic!("{png}: {e}"));
        }
    }
    // The lecture's x @ w: std about 3.16 with w ~ N(0, 1), about 1 with w / sqrt(10).
    let std_after = |label: &str| -> f64 {
        let at = dom.find(label).unwrap_or_else(|| panic!("{label}")) + label.len();
        dom[at..]
            .split(|c: char| !(c.is_ascii_digit() || c == '.'))
            .next()
            .unwrap()
            .parse()
            .unwrap()
    };
    let raw = std_after("x @ w, w std 1: std ");
    let kaiming = std_after("(Kaiming, gain 1): std ");
    assert!((2.9..3.4).contains(&raw), "{raw}");
    assert!((0.9..1.1).contains(&kaiming), "{kaiming}");
    assert!(
        dom.contains("2.1682") && dom.contains("2.1048"),
        "the lecture's numbers beside ours"
    );
    // A run no longer than the 1,000 steps shown step by step still draws its whole run.
    let short = t.path("short");
    let o = makemore(&[
        "lecture",
        "--data",
        c.to_str().unwrap(),
        "--steps",
        "300",
        "--out",
        &short,
        "--quiet",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let pictures = Path::new(&short).join("pictures");
    let svg = |n: &str| std::fs::read_to_string(pictures.join(format!("{n}.svg"))).unwrap();
    assert!(svg("loss-first-steps").contains("the first 300 steps"));
    assert!(
        longest_polyline(&svg("loss-windows")) >= 10,
        "the whole run in windows"
    );
}

/// The advice comes with the changes that carry it out on the run's own config (`to_try`): on
/// the original init, the lecture's fixes (output x0.01, its bias zero, hidden x0.2), which,
/// diagnosed again, leave the first loss at ln(27) and no advice; BatchNorm apart.
#[test]
fn the_advice_comes_with_changes_that_work() {
    let c = corpus();
    let t = TempDir::new("diag-to-try");
    let run = |out: &str, sets: &[String]| {
        let mut args = vec![
            "diagnose",
            "--data",
            c.to_str().unwrap(),
            "--config",
            "original",
            "--steps",
            "300",
            "--out",
            out,
            "--json",
            "--quiet",
        ];
        for s in sets {
            args.push("--set");
            args.push(s);
        }
        stdout_json(&makemore(&args))
    };
    let before = run(&t.path("before"), &[]);
    let to_try: Vec<String> = before["to_try"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        to_try,
        [
            "init.output.scale=0.01",
            "init.output_bias={ scheme = \"zeros\" }",
            "init.hidden.scale=0.2"
        ]
    );
    assert_eq!(
        before["normalize_instead"][0],
        "model.norm={ batch_norm = {} }"
    );
    let after = run(&t.path("after"), &to_try);
    assert!(
        near(&after["first"]["loss"], 3.2958, 0.05),
        "{}",
        after["first"]["loss"]
    );
    assert_eq!(
        after["advice"].as_array().unwrap().len(),
        0,
        "{}",
        after["advice"]
    );
}

/// `lecture --saturation-threshold` outside (0, 1), not a number, or without `--out` (it sets
/// the page's pictures only) is refused with exit 2 and one line, before any run starts.
#[test]
fn lecture_refuses_a_bad_saturation_threshold() {
    let c = corpus();
    let t = TempDir::new("lecture-threshold");
    let out = t.path("l");
    for (value, fragment) in [
        ("1.5", "--saturation-threshold: must be between 0 and 1"),
        ("0", "--saturation-threshold: must be between 0 and 1"),
        ("-0.5", "--saturation-threshold: must be between 0 and 1"),
        ("nan", "--saturation-threshold: must be between 0 and 1"),
        ("lots", "--saturation-threshold"),
    ] {
        let o = makemore(&[
            "lecture",
            "--data",
            c.to_str().unwrap(),
            "--steps",
            "100",
            "--out",
            &out,
            "--saturation-threshold",
            value,
        ]);
        check_input_error(value, &o, &[fragment]);
        assert!(!Path::new(&out).exists(), "{value}: nothing written");
    }
    let o = makemore(&[
        "lecture",
        "--data",
        c.to_str().unwrap(),
        "--steps",
        "100",
        "--saturation-threshold",
        "0.99",
    ]);
    check_input_error("without --out", &o, &["--out"]);
}
