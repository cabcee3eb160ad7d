//! End-to-end tests: run the `makemore` binary as a user would and check what it prints.
//!
//! The corpus is `../shared/data/names.txt` beside the repository (or `MAKEMORE_DATA`).

mod common;

use common::*;
use serde_json::Value;
use std::path::Path;
use std::process::Command;

#[test]
fn data_stats_reproduces_the_lecture_split() {
    let c = corpus();
    let j = stdout_json(&makemore(&[
        "data",
        "stats",
        "--data",
        c.to_str().unwrap(),
        "--json",
    ]));
    assert_eq!(j["items"], 32_033);
    assert_eq!(j["vocab_size"], 27);
    assert_eq!(j["vocabulary"], ".abcdefghijklmnopqrstuvwxyz");
    assert_eq!(j["blank_lines"], 0);
    let s = &j["splits"];
    assert_eq!(
        [
            &s["train"]["items"],
            &s["val"]["items"],
            &s["test"]["items"]
        ],
        [25_626, 3_203, 3_204]
    );
    assert_eq!(
        [
            &s["train"]["windows"],
            &s["val"]["windows"],
            &s["test"]["windows"]
        ],
        [182_625, 22_655, 22_866]
    );
    assert_eq!(
        s["train"]["head"],
        serde_json::json!(["yuheng", "diondre", "xavien"])
    );
    assert_eq!(
        s["val"]["head"],
        serde_json::json!(["amay", "aytana", "jenevi"])
    );
    assert_eq!(
        s["test"]["head"],
        serde_json::json!(["mustafa", "reuben", "kahlel"])
    );
    assert_eq!(
        s["test"]["tail"],
        serde_json::json!(["opal", "zaylynn", "yovani"])
    );
}

#[test]
fn data_stats_text_mode_and_env_var() {
    let out = Command::new(env!("CARGO_BIN_EXE_makemore"))
        .args(["data", "stats"])
        .env("MAKEMORE_DATA", corpus())
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("32033 items") && text.contains("182625 windows"),
        "{text}"
    );
}

#[test]
fn crlf_blank_lines_and_unicode_are_accepted() {
    let t = TempDir::new("crlf");
    let p = t.file("c.txt", "zoë\r\n\r\n  ana  \r\nbob".as_bytes());
    let j = stdout_json(&makemore(&["data", "stats", "--data", &p, "--json"]));
    assert_eq!(j["items"], 3);
    assert_eq!(j["blank_lines"], 1);
    assert_eq!(j["vocabulary"], ".abnozë"); // sorted by code point: z < ë
                                            // Three items: 80/10/10 leaves the validation split empty; its loss is null, not 0.
    let s = stdout_json(&makemore(&[
        "train",
        "--data",
        &p,
        "--steps",
        "20",
        "--out",
        &t.path("run"),
        "--json",
        "--quiet",
    ]));
    assert!(s["val_loss"].is_null(), "{s}");
    assert!(s["train_loss"].as_f64().unwrap().is_finite());
}

#[test]
fn backends_lists_all_four() {
    let j = stdout_json(&makemore(&["backends", "--json"]));
    let names: Vec<&str> = j["backends"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["flex", "ndarray", "wgpu", "tch"]);
    let flex = &j["backends"][0];
    assert_eq!(flex["compiled_in"], true);
    assert_eq!(flex["usable"], true);
}

#[test]
fn unknown_or_missing_backend_is_refused() {
    let c = corpus();
    let c = c.to_str().unwrap();
    assert_input_error(
        &makemore(&["train", "--data", c, "--backend", "cuda9"]),
        &["unknown backend 'cuda9'"],
    );
    let j = stdout_json(&makemore(&["backends", "--json"]));
    if let Some(b) = j["backends"]
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["compiled_in"] == false)
    {
        let name = b["name"].as_str().unwrap();
        let out = makemore(&["train", "--data", c, "--backend", name, "--steps", "1"]);
        let msg = format!("backend '{name}' is not compiled in; rebuild with --features {name}");
        assert_input_error(&out, &[&msg]);
    }
}

#[test]
fn init_show_reports_kaiming_tanh() {
    let j = stdout_json(&makemore(&[
        "init",
        "show",
        "--scheme",
        "kaiming_normal",
        "--nonlinearity",
        "tanh",
        "--fan-in",
        "30",
        "--fan-out",
        "200",
        "--json",
    ]));
    assert!(near(&j["gain"], 1.6667, 1e-4), "{j}");
    assert!(near(&j["std"], 0.3043, 1e-4), "{j}");
    let sampled = j["sample"]["std"].as_f64().unwrap();
    assert!((sampled / 0.304_290_3 - 1.0).abs() < 0.02, "{j}");
    let j = stdout_json(&makemore(&[
        "init",
        "show",
        "--scheme",
        "xavier_uniform",
        "--nonlinearity",
        "relu",
        "--fan-in",
        "300",
        "--fan-out",
        "500",
        "--json",
    ]));
    let bound = 2f64.sqrt() * (6.0f64 / 800.0).sqrt();
    assert!(near(&j["bound"], bound, 1e-9), "{j}");
    assert!(j["sample"]["max"].as_f64().unwrap() <= bound);
}

#[test]
fn init_show_rejects_bad_input() {
    let base = ["init", "show", "--fan-in", "30", "--fan-out", "200"];
    let run = |extra: &[&str]| makemore(&[&base[..], extra].concat());
    assert_input_error(
        &run(&["--scheme", "glorot"]),
        &["unknown scheme \"glorot\"", "kaiming_normal"],
    );
    assert_input_error(
        &run(&["--scheme", "normal", "--std=-1"]),
        &["normal: std must be a finite number >= 0"],
    );
    assert_input_error(
        &run(&["--scheme", "kaiming_normal", "--nonlinearity", "swish"]),
        &["--nonlinearity", "tanh"],
    );
    assert_input_error(
        &run(&["--scheme", "kaiming_normal", "--gain", "nan"]),
        &["gain must be a finite number"],
    );
    let zero = makemore(&[
        "init",
        "show",
        "--scheme",
        "kaiming_normal",
        "--fan-in",
        "0",
        "--fan-out",
        "5",
    ]);
    assert_input_error(&zero, &["--fan-in and --fan-out: must be >= 1"]);
}

#[test]
fn train_eval_sample_short_run() {
    let c = corpus();
    let c = c.to_str().unwrap();
    let t = TempDir::new("train");
    let run = t.path("run");
    let s = stdout_json(&makemore(&[
        "train", "--data", c, "--steps", "300", "--out", &run, "--json",
    ]));
    assert_eq!(s["steps"], 300);
    assert_eq!(s["parameters"], 12_097);
    assert_eq!(s["backend"], "flex");
    assert!(near(&s["expected_first_loss"], 27f64.ln(), 1e-9));
    assert!(near(&s["first_loss"], 27f64.ln(), 0.15), "{s}");
    // Below what context-free letter frequencies score, and no worse than PyTorch's worst of
    // eight seeds of the same model at 300 steps (docs/reference/pytorch-bn1-300.jsonl).
    let val = s["val_loss"].as_f64().unwrap();
    let (unigram, pytorch) = (unigram_loss(), pytorch_worst_val("pytorch-bn1-300.jsonl"));
    assert!(
        val < unigram && val <= pytorch && val > VAL_FLOOR,
        "300 steps should have learned what PyTorch does: val {val}, unigram {unigram}, PyTorch's worst seed {pytorch}"
    );
    for f in [
        "config.toml",
        "vocab.json",
        "run.json",
        "metrics.jsonl",
        "model.json",
        "summary.json",
    ] {
        assert!(Path::new(&run).join(f).is_file(), "{f} missing");
    }
    let leftovers: Vec<_> = std::fs::read_dir(&run)
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().ends_with(".tmp"))
        .collect();
    assert!(leftovers.is_empty(), "temporary files left behind");
    let metrics = std::fs::read_to_string(Path::new(&run).join("metrics.jsonl")).unwrap();
    let last: Value = serde_json::from_str(metrics.lines().last().unwrap()).unwrap();
    assert_eq!(last["step"], 300);
    assert!(
        near(&last["lr"], 0.01, 1e-12),
        "the default schedule decays after half the steps"
    );

    let e = stdout_json(&makemore(&["eval", "--run", &run, "--json"]));
    assert!(
        near(&e["splits"]["val"]["loss"], val, 1e-5),
        "eval agrees with the summary: {e}"
    );
    assert_eq!(e["splits"]["train"]["windows"], 182_625);
    let e = stdout_json(&makemore(&[
        "eval",
        "--run",
        &run,
        "--split",
        "val",
        "--calibrate",
        "--json",
    ]));
    assert!(e["splits"]["val"]["calibrated_loss"]
        .as_f64()
        .unwrap()
        .is_finite());
    assert!(e["splits"].get("train").is_none());

    let a = stdout_json(&makemore(&[
        "sample", "--run", &run, "-n", "20", "--seed", "7", "--json",
    ]));
    let samples = a["samples"].as_array().unwrap();
    assert_eq!(samples.len(), 20);
    for s in samples {
        assert!(
            s["text"]
                .as_str()
                .unwrap()
                .chars()
                .all(|c| c.is_ascii_lowercase()),
            "{s}"
        );
    }
    let b = stdout_json(&makemore(&[
        "sample", "--run", &run, "-n", "20", "--seed", "7", "--json",
    ]));
    assert_eq!(a, b, "same seed, same samples");
    let k1 = stdout_json(&makemore(&[
        "sample", "--run", &run, "-n", "5", "--top-k", "1", "--json",
    ]));
    let first = &k1["samples"][0]["text"];
    assert!(
        k1["samples"]
            .as_array()
            .unwrap()
            .iter()
            .all(|s| &s["text"] == first),
        "top-k 1 is greedy: {k1}"
    );

    assert_input_error(
        &makemore(&["sample", "--run", &run, "-n", "0"]),
        &["-n: must be >= 1"],
    );
    assert_input_error(
        &makemore(&["sample", "--run", &run, "--temperature", "0"]),
        &["--temperature"],
    );
    assert_input_error(
        &makemore(&["sample", "--run", &run, "--top-k", "0"]),
        &["--top-k"],
    );
    assert_input_error(
        &makemore(&["eval", "--run", &t.path("nope")]),
        &["no such run directory"],
    );
    assert_input_error(
        &makemore(&["eval", "--run", &run, "--split", "dev"]),
        &["--split"],
    );
}

#[test]
fn same_seed_same_run_other_seed_other_run() {
    let c = corpus();
    let c = c.to_str().unwrap();
    let t = TempDir::new("seed");
    let run = |seed: &str, dir: &str| {
        stdout_json(&makemore(&[
            "train",
            "--data",
            c,
            "--steps",
            "50",
            "--seed",
            seed,
            "--out",
            &t.path(dir),
            "--json",
        ]))
    };
    let (a, b, d) = (run("1", "a"), run("1", "b"), run("2", "c"));
    assert_eq!(a["first_loss"], b["first_loss"]);
    assert_eq!(a["val_loss"], b["val_loss"]);
    assert_ne!(a["first_loss"], d["first_loss"]);
}

#[test]
fn lecture_short_run_has_five_rows() {
    let c = corpus();
    let j = stdout_json(&makemore(&[
        "lecture",
        "--data",
        c.to_str().unwrap(),
        "--steps",
        "200",
        "--json",
        "--quiet",
        "--jobs",
        "2",
    ]));
    assert_eq!(j["jobs"], 2, "--jobs is honoured and reported");
    let rows = j["rows"].as_array().unwrap();
    let names: Vec<&str> = rows
        .iter()
        .map(|r| r["variant"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "original",
            "fix-softmax",
            "fix-tanh",
            "kaiming",
            "batchnorm"
        ]
    );
    assert!(
        rows[0]["first_loss"].as_f64().unwrap() > 15.0,
        "the original init is confidently wrong: {}",
        rows[0]
    );
    for r in &rows[1..] {
        assert!(near(&r["first_loss"], 3.2958, 0.15), "{r}");
    }
    let params: Vec<u64> = rows
        .iter()
        .map(|r| r["parameters"].as_u64().unwrap())
        .collect();
    assert_eq!(params, [11_897, 11_897, 11_897, 11_897, 12_097]);
    for r in rows {
        let diff = r["val"].as_f64().unwrap() - r["lecture_val"].as_f64().unwrap();
        assert!(near(&r["val_minus_lecture"], diff, 1e-9), "{r}");
    }
}

#[test]
fn deep_stack_has_the_lecture_parameter_count() {
    let c = corpus();
    let t = TempDir::new("deep");
    let cfg = repo().join("configs/lecture/deep-batchnorm.toml");
    let s = stdout_json(&makemore(&[
        "train",
        "--data",
        c.to_str().unwrap(),
        "--config",
        cfg.to_str().unwrap(),
        "--steps",
        "20",
        "--out",
        &t.path("r"),
        "--json",
    ]));
    assert_eq!(s["parameters"], 47_024);
    assert!(near(&s["first_loss"], 3.2958, 0.15), "{s}");
}

/// Serves `body` over HTTP on a loopback port, to `connections` requests; returns the URL.
fn serve(body: Vec<u8>, connections: usize) -> String {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/names.txt", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        for stream in listener.incoming().take(connections) {
            let mut s = stream.unwrap();
            let mut request = [0u8; 4096];
            let _ = s.read(&mut request);
            let head = format!(
                "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                body.len()
            );
            let _ = s.write_all(head.as_bytes());
            let _ = s.write_all(&body);
        }
    });
    url
}

#[test]
fn data_fetch_writes_the_checked_file_or_says_what_to_do() {
    let t = TempDir::new("fetch");
    let corpus_bytes = std::fs::read(corpus()).unwrap();
    // A mirror that serves the corpus: written, checked.
    let out = t.path("sub/names.txt");
    let url = serve(corpus_bytes.clone(), 1);
    let j = stdout_json(&makemore(&[
        "data", "fetch", "--out", &out, "--url", &url, "--json",
    ]));
    assert_eq!(
        j["sha256"],
        "0a30b5557f192f32ab962680889aac5f6fda0f4cecf40a6d0b5694f58ea8cc4d"
    );
    assert_eq!(std::fs::read(&out).unwrap().len(), 228_145);
    // A mirror that serves something else: refused, nothing written.
    let mut tampered = corpus_bytes;
    tampered[0] ^= 1;
    let bad = t.path("bad/names.txt");
    let r = makemore(&["data", "fetch", "--out", &bad, "--url", &serve(tampered, 1)]);
    let err = String::from_utf8_lossy(&r.stderr);
    assert_eq!(r.status.code(), Some(1), "{err}");
    assert!(err.contains("does not match the expected"), "{err}");
    assert!(!Path::new(&bad).exists() && !Path::new(&format!("{bad}.tmp")).exists());
    // No server at all (as offline): one line that says how to go on, and nothing written.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/names.txt", closed.local_addr().unwrap());
    drop(closed);
    let none = t.path("none/names.txt");
    let r = makemore(&["data", "fetch", "--out", &none, "--url", &url]);
    let err = String::from_utf8_lossy(&r.stderr);
    assert_eq!(r.status.code(), Some(1), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains("cannot download") && err.contains("a local copy (--data PATH"),
        "{err}"
    );
    assert!(!Path::new(&none).exists() && !Path::new(&format!("{none}.tmp")).exists());
}

/// The subcommands listed under `Commands:` in a help text.
fn subcommands(help: &str) -> Vec<String> {
    help.lines()
        .skip_while(|l| !l.starts_with("Commands:"))
        .skip(1)
        .take_while(|l| l.starts_with("  "))
        .filter_map(|l| l.split_whitespace().next())
        .filter(|name| *name != "help")
        .map(str::to_string)
        .collect()
}

/// `--help` of `makemore` and of every subcommand, at every depth, ends with a line end (so that
/// the shell's prompt starts on a new line) and exits 0; missing required arguments are named.
#[test]
fn every_help_ends_with_a_newline() {
    let mut queue: Vec<Vec<String>> = vec![vec![]];
    let mut seen = 0;
    while let Some(path) = queue.pop() {
        let mut args = path.clone();
        args.push("--help".into());
        let out = Command::new(env!("CARGO_BIN_EXE_makemore"))
            .args(&args)
            .output()
            .unwrap();
        let help = String::from_utf8(out.stdout).unwrap();
        assert!(
            out.status.success(),
            "makemore {}: {:?}",
            args.join(" "),
            out.status
        );
        assert!(
            help.ends_with('\n'),
            "`makemore {}` ends without a newline: {:?}",
            args.join(" "),
            &help[help.len().saturating_sub(80)..]
        );
        for sub in subcommands(&help) {
            let mut next = path.clone();
            next.push(sub);
            queue.push(next);
        }
        seen += 1;
    }
    assert!(seen >= 15, "only {seen} help texts found");
    // A missing required argument is named, not dropped.
    let out = makemore(&["eval"]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--run"), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
}

/// `MAKEMORE_CPU_KERNELS` takes `on` or `off`; anything else is refused with exit 2 and one line
/// naming the variable, before any work. `off` (Burn's own ops) trains to the kernels' first loss.
#[test]
fn cpu_kernels_switch_takes_on_or_off_only() {
    let c = corpus();
    let t = TempDir::new("kernels-env");
    let run = |value: &str, out: &str| {
        Command::new(env!("CARGO_BIN_EXE_makemore"))
            .current_dir(repo())
            .args(["train", "--data", c.to_str().unwrap(), "--steps", "5"])
            .args(["--out", out, "--json", "--quiet"])
            .env("MAKEMORE_CPU_KERNELS", value)
            .output()
            .unwrap()
    };
    for bad in ["", "yes", "OFF"] {
        let out = t.path(&format!("bad{}", bad.len()));
        check_input_error(
            bad,
            &run(bad, &out),
            &["MAKEMORE_CPU_KERNELS", "`on` or `off`"],
        );
        assert!(!Path::new(&out).exists(), "{bad}: nothing written");
    }
    let on = stdout_json(&run("on", &t.path("on")));
    let off = stdout_json(&run("off", &t.path("off")));
    let first = |j: &Value| j["first_loss"].as_f64().unwrap();
    assert!((first(&on) - first(&off)).abs() < 2e-6, "{on} {off}");
}

/// Built-in config names work wherever `--config` does, and `makemore configs` lists them.
#[test]
fn built_in_configs_are_named_by_every_config_flag() {
    let c = corpus();
    let c = c.to_str().unwrap();
    let t = TempDir::new("builtin-configs");
    let list = stdout_json(&makemore(&["configs", "--json"]));
    let configs = list["configs"].as_array().unwrap();
    assert_eq!(configs.len(), 15, "{list}");
    for entry in configs {
        let d = entry["description"].as_str().unwrap();
        assert!(d.len() > 20 && d.ends_with('.'), "{entry}");
    }
    assert!(configs.iter().any(|e| e["name"] == "original"));
    // The original init's first loss, far above ln(27), from the name alone.
    let v = stdout_json(&makemore(&[
        "train",
        "--data",
        c,
        "--config",
        "original",
        "--steps",
        "5",
        "--out",
        &t.path("o"),
        "--json",
        "--quiet",
    ]));
    assert!(v["first_loss"].as_f64().unwrap() > 20.0, "{v}");
    let d = stdout_json(&makemore(&[
        "diagnose",
        "--data",
        c,
        "--config",
        "deep-batchnorm.toml",
        "--steps",
        "5",
        "--out",
        &t.path("d"),
        "--json",
        "--quiet",
    ]));
    assert_eq!(d["summary"]["parameters"], 47024, "{d}");
    check_input_error(
        "unknown name",
        &makemore(&["train", "--data", c, "--config", "no-such", "--steps", "5"]),
        &["no-such: no such config file, and not a built-in config (default, original"],
    );
}

/// The saturation threshold is the lecture's 0.97 unless asked otherwise, and every place that
/// reports saturation names the one it used.
#[test]
fn the_saturation_threshold_is_chosen_and_named() {
    let c = corpus();
    let c = c.to_str().unwrap();
    let t = TempDir::new("saturation-threshold");
    let run = |out: &str, extra: &[&str]| {
        let mut a = vec![
            "diagnose", "--data", c, "--config", "original", "--steps", "20", "--every", "10",
            "--out", out, "--quiet",
        ];
        a.extend(extra);
        let o = makemore(&a);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        String::from_utf8_lossy(&o.stdout).into_owned()
    };
    let (a, b) = (t.path("a"), t.path("b"));
    let default = run(&a, &[]);
    let strict = run(&b, &["--saturation-threshold", "0.99"]);
    assert!(default.contains("saturated (|x| > 0.97): "), "{default}");
    assert!(strict.contains("saturated (|x| > 0.99): "), "{strict}");
    let config = |dir: &str| std::fs::read_to_string(Path::new(dir).join("config.toml")).unwrap();
    assert!(
        !config(&a).contains("saturation_threshold"),
        "the default is not saved"
    );
    assert!(config(&b).contains("saturation_threshold = 0.99"));
    // The same weights, a stricter threshold: fewer outputs count, in every recorded layer.
    let fracs = |dir: &str| -> Vec<f64> {
        std::fs::read_to_string(Path::new(dir).join("diagnostics.jsonl"))
            .unwrap()
            .lines()
            .flat_map(|l| {
                let v: Value = serde_json::from_str(l).unwrap();
                v["layers"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .filter_map(|l| l["output"]["saturated_frac"].as_f64())
                    .collect::<Vec<_>>()
            })
            .collect()
    };
    let (fa, fb) = (fracs(&a), fracs(&b));
    assert_eq!(fa.len(), fb.len());
    assert!(
        !fa.is_empty() && fa.iter().zip(&fb).all(|(x, y)| y < x),
        "{fa:?} {fb:?}"
    );
    check_input_error(
        "threshold 1.5",
        &makemore(&[
            "train",
            "--data",
            c,
            "--steps",
            "5",
            "--saturation-threshold",
            "1.5",
            "--out",
            &t.path("c"),
        ]),
        &["--saturation-threshold: log.saturation_threshold: must be between 0 and 1"],
    );
}
