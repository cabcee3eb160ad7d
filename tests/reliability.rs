//! Reliability, end to end: every kind of bad input as one table, checkpoints and exact resume,
//! pausing, interruption, divergence, and run directories that must not be overwritten.

mod common;

use common::*;
use std::path::Path;
use std::process::Command;

/// Every bad input the binary must refuse: one line on stderr naming the file, line, field or
/// flag, exit status 2, no panic, nothing on stdout, no run directory left behind.
#[test]
fn bad_input_table() {
    let c = corpus();
    let c = c.to_str().unwrap();
    let t = TempDir::new("table");
    // A finished short run, for the run-directory and sampling cases.
    let run = t.path("run");
    stdout_json(&makemore(&[
        "train", "--data", c, "--steps", "20", "--out", &run, "--json", "--quiet",
    ]));
    let ckpt = Path::new(&run).join("checkpoint.json");
    let text = std::fs::read_to_string(&ckpt).unwrap();
    let truncated = t.path("truncated");
    copy_dir(&run, &truncated);
    std::fs::write(
        Path::new(&truncated).join("checkpoint.json"),
        &text[..text.len() / 2],
    )
    .unwrap();
    let corrupted = t.path("corrupted");
    copy_dir(&run, &corrupted);
    std::fs::write(
        Path::new(&corrupted).join("checkpoint.json"),
        text.replacen("\"step\":20", "\"step\":21", 1),
    )
    .unwrap();
    let no_ckpt = t.path("no-ckpt");
    copy_dir(&run, &no_ckpt);
    std::fs::remove_file(Path::new(&no_ckpt).join("checkpoint.json")).unwrap();
    let other_cfg = t.path("other-config");
    copy_dir(&run, &other_cfg);
    let cfg_path = Path::new(&other_cfg).join("config.toml");
    let cfg_text = std::fs::read_to_string(&cfg_path).unwrap();
    std::fs::write(
        &cfg_path,
        cfg_text.replace("batch_size = 32", "batch_size = 64"),
    )
    .unwrap();
    let corrupt_model = t.path("corrupt-model");
    copy_dir(&run, &corrupt_model);
    let model = Path::new(&corrupt_model).join("model.json");
    let m = std::fs::read_to_string(&model).unwrap();
    std::fs::write(&model, m.replacen("0.", "9.", 1)).unwrap();

    // The same characters, fewer names; a paused run; a run another process holds.
    let names = std::fs::read_to_string(c).unwrap();
    let fewer: Vec<&str> = names.lines().skip(100).collect();
    let small = t.file("fewer.txt", fewer.join("\n").as_bytes());
    let paused = t.path("paused");
    let p = makemore(&[
        "train",
        "--data",
        c,
        "--steps",
        "40",
        "--pause-at",
        "20",
        "--out",
        &paused,
        "--quiet",
    ]);
    assert_eq!(p.status.code(), Some(0));
    let locked = t.path("locked");
    copy_dir(&run, &locked);
    // Held as makemore holds it (the kernel's lock, the holder's pid inside) for the whole table.
    let lock = std::fs::File::create(Path::new(&locked).join(".lock")).unwrap();
    lock.lock().unwrap();
    std::fs::write(
        Path::new(&locked).join(".lock"),
        std::process::id().to_string(),
    )
    .unwrap();

    let cfg = |name: &str, text: &str| t.file(name, text.as_bytes());
    let out = t.path("never");
    let train_cfg = |file: String| -> Vec<String> {
        vec![
            "train".into(),
            "--data".into(),
            c.into(),
            "--config".into(),
            file,
            "--steps".into(),
            "1".into(),
            "--out".into(),
            out.clone(),
        ]
    };
    let stats = |file: String| -> Vec<String> {
        vec!["data".into(), "stats".into(), "--data".into(), file]
    };
    let train_data = |file: String| -> Vec<String> {
        vec![
            "train".into(),
            "--data".into(),
            file,
            "--steps".into(),
            "1".into(),
            "--out".into(),
            out.clone(),
        ]
    };
    let s = |v: &[&str]| -> Vec<String> { v.iter().map(|x| x.to_string()).collect() };

    let missing = t.path("missing.txt");
    let cases: Vec<(&str, Vec<String>, Vec<String>)> =
        vec![
        // corpus
        (
            "corpus missing",
            stats(missing.clone()),
            s(&[&format!("{missing}: no such file")]),
        ),
        (
            "corpus missing (train)",
            train_data(missing.clone()),
            s(&["no such file", "--data"]),
        ),
        (
            "corpus is a directory",
            stats(t.path("")),
            s(&["is a directory"]),
        ),
        (
            "corpus unreadable",
            stats("/proc/self/mem".into()),
            s(&["/proc/self/mem: cannot read"]),
        ),
        (
            "corpus empty",
            stats(t.file("empty.txt", b"")),
            s(&["empty.txt: no items"]),
        ),
        (
            "corpus only blank lines",
            train_data(t.file("blank.txt", b"\n \n\t\n")),
            s(&["blank.txt: no items"]),
        ),
        (
            "corpus invalid UTF-8",
            stats(t.file("bad.txt", b"anna\nbob\nc\xffd\n")),
            s(&["bad.txt: line 3: invalid UTF-8 at byte offset 10"]),
        ),
        (
            "corpus boundary token",
            train_data(t.file("dot.txt", b"anna\nmr.x\n")),
            s(&["dot.txt: line 2", "contains the boundary token"]),
        ),
        (
            "corpus item too long",
            stats(t.file("long.txt", format!("ok\n{}\n", "a".repeat(1001)).as_bytes())),
            s(&["long.txt: line 2", "1001 characters", "limit of 1000"]),
        ),
        // config
        (
            "config unknown field",
            train_cfg(cfg("c1.toml", "[model]\nwidth = 3\n")),
            s(&["c1.toml: line 2", "unknown field `width`", "block_size"]),
        ),
        (
            "config wrong type",
            train_cfg(cfg("c2.toml", "[model]\nn_embd = \"ten\"\n")),
            s(&["c2.toml: line 2", "invalid type"]),
        ),
        (
            "config zero width",
            train_cfg(cfg("c3.toml", "[model]\nhidden = [200, 0]\n")),
            s(&["c3.toml: model.hidden[1]: width must be >= 1"]),
        ),
        (
            "config negative size",
            train_cfg(cfg("c4.toml", "[model]\nn_embd = -3\n")),
            s(&["c4.toml: line 2", "-3"]),
        ),
        (
            "config block_size 0",
            train_cfg(cfg("c5.toml", "[model]\nblock_size = 0\n")),
            s(&["c5.toml: model.block_size: must be >= 1"]),
        ),
        (
            "config batch size 0",
            train_cfg(cfg("c6.toml", "[train]\nbatch_size = 0\n")),
            s(&["c6.toml: train.batch_size: must be >= 1"]),
        ),
        (
            "config lr 0",
            train_cfg(cfg("c7.toml", "[train]\nlr = 0.0\n")),
            s(&["c7.toml: train.lr: learning rate must be finite and > 0, got 0"]),
        ),
        (
            "config lr negative",
            train_cfg(cfg("c8.toml", "[train]\nlr = -0.1\n")),
            s(&["train.lr", "got -0.1"]),
        ),
        (
            "config lr not finite",
            train_cfg(cfg("c9.toml", "[train]\nlr = nan\n")),
            s(&["train.lr", "got NaN"]),
        ),
        (
            "config unknown activation",
            train_cfg(cfg("c10.toml", "[model]\nactivation = \"swish\"\n")),
            s(&["c10.toml: line 2", "unknown variant `swish`", "tanh"]),
        ),
        (
            "config unknown scheme",
            train_cfg(cfg("c11.toml", "[init.hidden]\nscheme = \"glorot\"\n")),
            s(&["c11.toml", "unknown variant `glorot`", "kaiming_normal"]),
        ),
        (
            "config unknown optimizer",
            train_cfg(cfg("c12.toml", "[train]\noptimizer = \"lion\"\n")),
            s(&[
                "c12.toml: line 2",
                "unknown optimizer \"lion\"",
                "rmsprop",
                "sgd",
            ]),
        ),
        (
            "config schedule out of order",
            train_cfg(cfg(
                "c13.toml",
                "[train]\nlr = [[0, 0.1], [500, 0.01], [400, 0.001]]\n",
            )),
            s(&["c13.toml: train.lr: schedule steps must increase"]),
        ),
        (
            "config missing file",
            train_cfg(t.path("nope.toml")),
            s(&["nope.toml: no such config file, and not a built-in config"]),
        ),
        (
            "config --set bad value",
            s(&[
                "train",
                "--data",
                c,
                "--set",
                "train.lr=0",
                "--steps",
                "1",
                "--out",
                &out,
            ]),
            s(&["train.lr"]),
        ),
        (
            "config --set malformed",
            s(&["train", "--data", c, "--set", "train.lr", "--out", &out]),
            s(&["--set train.lr: expected KEY=VALUE"]),
        ),
        (
            "unknown backend",
            s(&["train", "--data", c, "--backend", "cuda9", "--out", &out]),
            s(&["unknown backend 'cuda9'; expected one of: flex, ndarray, wgpu, tch"]),
        ),
        (
            "unknown flag",
            s(&["train", "--no-such-flag"]),
            s(&["--no-such-flag"]),
        ),
        // run directory
        (
            "run dir missing (eval)",
            s(&["eval", "--run", &t.path("nowhere")]),
            s(&["nowhere: no such run directory"]),
        ),
        (
            "run dir missing (resume)",
            s(&["train", "--resume", &t.path("nowhere")]),
            s(&["nowhere: no run here (config.toml is missing)"]),
        ),
        (
            "no checkpoint",
            s(&["train", "--resume", &no_ckpt]),
            s(&["no-ckpt: no checkpoint (checkpoint.json is missing), and the run has written its model"]),
        ),
        (
            "truncated checkpoint",
            s(&["train", "--resume", &truncated]),
            s(&["truncated/checkpoint.json", "truncated or corrupted"]),
        ),
        (
            "corrupted checkpoint",
            s(&["train", "--resume", &corrupted]),
            s(&["corrupted/checkpoint.json: checksum mismatch"]),
        ),
        (
            "checkpoint from another config",
            s(&["train", "--resume", &other_cfg]),
            s(&["other-config/config.toml: was edited after the run started"]),
        ),
        (
            "corrupted model",
            s(&["eval", "--run", &corrupt_model]),
            s(&["corrupt-model/model.json: checksum mismatch"]),
        ),
        (
            "run dir holds a run",
            s(&["train", "--data", c, "--steps", "20", "--out", &run]),
            s(&["already holds a run of this config", "nothing to resume", "--force"]),
        ),
        (
            "run dir holds another config",
            s(&["train", "--data", c, "--steps", "30", "--out", &run]),
            s(&["already holds a run with a different config"]),
        ),
        (
            "resume with a config",
            s(&["train", "--resume", &run, "--steps", "40"]),
            s(&["--resume continues a run with its saved config"]),
        ),
        // other commands' flags
        (
            "diagnose every 0",
            s(&["diagnose", "--data", c, "--every", "0", "--out", &out]),
            s(&["--every: must be >= 1"]),
        ),
        (
            "train checkpoint-every 0",
            s(&[
                "train",
                "--data",
                c,
                "--checkpoint-every",
                "0",
                "--out",
                &out,
            ]),
            s(&["--checkpoint-every: must be >= 1"]),
        ),
        (
            "lecture seeds 0",
            s(&["lecture", "--data", c, "--seeds", "0"]),
            s(&["--seeds: must be >= 1"]),
        ),
        (
            "lecture jobs 0",
            s(&["lecture", "--data", c, "--jobs", "0"]),
            s(&["--jobs: must be >= 1"]),
        ),
        (
            "bench steps 0",
            s(&["bench", "--data", c, "--steps", "0"]),
            s(&["--steps, --repeats and --samples must be >= 1"]),
        ),
        (
            "bench matmul with a model's flag",
            s(&["bench", "--matmul", "--steps", "5"]),
            s(&["the argument '--matmul' cannot be used with '--steps <STEPS>'"]),
        ),
        (
            "init show unknown mode",
            s(&[
                "init",
                "show",
                "--scheme",
                "kaiming_normal",
                "--fan-in",
                "3",
                "--fan-out",
                "3",
                "--mode",
                "fan_avg",
            ]),
            s(&["--mode: unknown \"fan_avg\""]),
        ),
        // sampling
        (
            "sample n 0",
            s(&["sample", "--run", &run, "-n", "0"]),
            s(&["-n: must be >= 1"]),
        ),
        (
            "sample temperature 0",
            s(&["sample", "--run", &run, "--temperature", "0"]),
            s(&["--temperature: must be a number between"]),
        ),
        (
            "sample temperature negative",
            s(&["sample", "--run", &run, "--temperature=-1"]),
            s(&["--temperature"]),
        ),
        (
            "sample top-k 0",
            s(&["sample", "--run", &run, "--top-k", "0"]),
            s(&["--top-k: must be >= 1"]),
        ),
        // another corpus than the run's
        (
            "resume on another corpus",
            s(&["train", "--resume", &run, "--data", &small]),
            s(&[
                "run.json: the run was trained on another corpus (32033 items",
                "(31933 items",
                "--data",
            ]),
        ),
        (
            "eval on another corpus",
            s(&["eval", "--run", &run, "--data", &small]),
            s(&["trained on another corpus", "--other-corpus"]),
        ),
        (
            "sample on another corpus",
            s(&["sample", "--run", &run, "--data", &small]),
            s(&["trained on another corpus", "--other-corpus"]),
        ),
        // a paused run, a run another process writes
        (
            "sample a paused run",
            s(&["sample", "--run", &paused]),
            s(&[
                "paused at step 20 of 40",
                &format!("makemore train --resume {paused}"),
                "--checkpoint",
            ]),
        ),
        (
            "run dir locked",
            s(&["train", "--resume", &locked]),
            s(&[&format!(
                "another makemore (pid {}) is writing this run",
                std::process::id()
            )]),
        ),
        // sizes beyond the machine, and numbers that would overflow
        (
            "hidden too wide",
            s(&[
                "train",
                "--data",
                c,
                "--set",
                "model.hidden=[100000000000]",
                "--out",
                &out,
            ]),
            s(&["model.hidden", "bytes) of memory, more than the"]),
        ),
        (
            "block size too long",
            s(&[
                "train",
                "--data",
                c,
                "--set",
                "model.block_size=1000000000000",
                "--out",
                &out,
            ]),
            s(&["model.block_size: this needs about"]),
        ),
        (
            "batch too large",
            s(&[
                "train",
                "--data",
                c,
                "--set",
                "train.batch_size=10000000000000",
                "--out",
                &out,
            ]),
            s(&["train.batch_size: this needs about"]),
        ),
        (
            "sample too many",
            s(&["sample", "--run", &run, "-n", "100000000000000"]),
            s(&["-n: this needs about"]),
        ),
        (
            "init show too large",
            s(&[
                "init",
                "show",
                "--scheme",
                "kaiming_normal",
                "--fan-in",
                "10000000000",
                "--fan-out",
                "10000000000",
            ]),
            s(&["--fan-in x --fan-out: this needs about"]),
        ),
        (
            "lecture seed overflow",
            s(&[
                "lecture",
                "--data",
                c,
                "--seed",
                "18446744073709551615",
                "--seeds",
                "2",
            ]),
            s(&["--seed: train.seed: must be at most 9223372036854775807"]),
        ),
        (
            "max memory too small",
            s(&[
                "train",
                "--data",
                c,
                "--steps",
                "5",
                "--max-memory",
                "1M",
                "--out",
                &out,
            ]),
            s(&["this needs about", "allowed; the limit is --max-memory's"]),
        ),
        (
            "lr schedule point beyond 100%",
            train_cfg(cfg("c20.toml", "[train]\nlr = [[0, 0.1], [\"150%\", 0.01]]\n")),
            s(&["c20.toml: line 2: point 2", "\"150%\"", "a percentage such as \"50%\""]),
        ),
        (
            "lr schedule of the wrong type",
            train_cfg(cfg("c21.toml", "[train]\nlr = \"fast\"\n")),
            s(&["c21.toml: line 2: expected a learning rate, or a list of [step, lr] points"]),
        ),
        (
            "seed beyond a TOML integer",
            s(&[
                "train",
                "--data",
                c,
                "--steps",
                "5",
                "--seed",
                "18446744073709551615",
                "--out",
                &out,
            ]),
            s(&["train.seed: must be at most 9223372036854775807"]),
        ),
        (
            "resume a finished run",
            s(&["train", "--resume", &run]),
            s(&["the run is finished (20 of 20 steps)"]),
        ),
        (
            "bad init into a nested run directory",
            s(&[
                "train",
                "--data",
                c,
                "--steps",
                "5",
                "--set",
                "init.hidden.scale=-1",
                "--out",
                &t.path("nest/a/run"),
            ]),
            s(&["init.hidden"]),
        ),
        (
            "max memory malformed",
            s(&["train", "--data", c, "--max-memory", "lots", "--out", &out]),
            s(&["--max-memory", "expected a size such as 512M"]),
        ),
    ];
    for (name, args, fragments) in &cases {
        let a: Vec<&str> = args.iter().map(String::as_str).collect();
        let result = makemore(&a);
        let f: Vec<&str> = fragments.iter().map(String::as_str).collect();
        check_input_error(name, &result, &f);
        assert!(
            !Path::new(&out).exists(),
            "{name}: left a run directory behind"
        );
    }
    // The refused runs did not touch the run that was there, nor leave folders behind.
    assert_eq!(std::fs::read_to_string(&ckpt).unwrap(), text);
    assert!(
        !Path::new(&t.path("nest")).exists(),
        "a refused run leaves no folders"
    );
    // A forced run that is refused (its init is bad) keeps the old run whole.
    let forced = t.path("forced");
    copy_dir(&run, &forced);
    let f = makemore(&[
        "train",
        "--data",
        c,
        "--steps",
        "5",
        "--set",
        "init.hidden.scale=-1",
        "--out",
        &forced,
        "--force",
    ]);
    check_input_error("forced with a bad init", &f, &["init.hidden"]);
    for kept in [
        "checkpoint.json",
        "model.json",
        "metrics.jsonl",
        "summary.json",
    ] {
        assert!(Path::new(&forced).join(kept).exists(), "{kept} was removed");
    }
}

fn copy_dir(from: &str, to: &str) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), Path::new(to).join(e.file_name())).unwrap();
    }
}

#[test]
fn resume_is_bit_identical_to_an_uninterrupted_run() {
    let (a, b, _t) = resume_against_uninterrupted("resume", &[]);
    let read = |d: &str, f: &str| std::fs::read_to_string(Path::new(d).join(f)).unwrap();
    assert_eq!(
        read(&a, "metrics.jsonl").lines().count(),
        7,
        "points at steps 1, 100, ..., 600"
    );
    assert_eq!(read(&a, "model.json"), read(&b, "model.json"));
}

/// LayerNorm, GroupNorm, BatchNorm without affine or running statistics, residual links with
/// and without a learned scale, momentum SGD, centered RMSprop and AdamW: each resumes from a
/// checkpoint to the same bytes as an uninterrupted run.
#[test]
fn every_mitigation_resumes_bit_identically() {
    for name in [
        "deep-layernorm-residual",
        "deep-groupnorm-rmsprop",
        "deep-batchnorm-plain",
    ] {
        let config = repo().join(format!("configs/mitigations/{name}.toml"));
        let config = config.to_str().unwrap();
        let (a, _, _t) = resume_against_uninterrupted(name, &["--config", config]);
        let run: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(Path::new(&a).join("summary.json")).unwrap(),
        )
        .unwrap();
        let val = run["val_loss"].as_f64().unwrap_or(f64::NAN);
        let unigram = unigram_loss();
        assert!(
            val < unigram && val > VAL_FLOOR,
            "{name}: 600 steps learn more than letter frequencies: val {val}, unigram {unigram}"
        );
    }
}

/// Trains 600 steps twice, once paused at 300 and resumed, and checks that the loss trace, the
/// final weights and the summary agree to the byte; returns both run directories.
fn resume_against_uninterrupted(tag: &str, extra: &[&str]) -> (String, String, TempDir) {
    let c = corpus();
    let c = c.to_str().unwrap();
    let t = TempDir::new(tag);
    let (a, b) = (t.path("a"), t.path("b"));
    let common = [
        &[
            "--data",
            c,
            "--steps",
            "600",
            "--set",
            "train.log_every=100",
            "--checkpoint-every",
            "100",
            "--json",
            "--quiet",
        ][..],
        extra,
    ]
    .concat();
    let full = stdout_json(&makemore(&[&["train", "--out", &a][..], &common].concat()));
    let paused = makemore(&[&["train", "--out", &b, "--pause-at", "300"][..], &common].concat());
    assert_eq!(
        paused.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&paused.stderr)
    );
    let msg = String::from_utf8_lossy(&paused.stderr);
    assert!(
        msg.contains("paused at step 300") && msg.contains(&format!("makemore train --resume {b}")),
        "{msg}"
    );
    assert!(
        !Path::new(&b).join("model.json").exists(),
        "a paused run has no final model yet"
    );
    let resumed = stdout_json(&makemore(&["train", "--resume", &b, "--json", "--quiet"]));
    let read = |d: &str, f: &str| std::fs::read_to_string(Path::new(d).join(f)).unwrap();
    assert_eq!(
        read(&a, "metrics.jsonl"),
        read(&b, "metrics.jsonl"),
        "the loss trace after resuming is identical"
    );
    assert_eq!(
        read(&a, "model.json"),
        read(&b, "model.json"),
        "the final weights are identical"
    );
    for k in ["first_loss", "train_loss", "val_loss", "test_loss", "steps"] {
        assert_eq!(full[k], resumed[k], "{extra:?} {k}");
    }
    (a, b, t)
}

#[test]
fn force_starts_over() {
    let c = corpus();
    let c = c.to_str().unwrap();
    let t = TempDir::new("force");
    let r = t.path("r");
    stdout_json(&makemore(&[
        "train",
        "--data",
        c,
        "--steps",
        "20",
        "--diagnose-every",
        "10",
        "--out",
        &r,
        "--json",
        "--quiet",
    ]));
    assert!(Path::new(&r).join("report.html").is_file());
    let s = stdout_json(&makemore(&[
        "train", "--data", c, "--steps", "30", "--out", &r, "--json", "--quiet", "--force",
    ]));
    assert_eq!(s["steps"], 30);
    for stale in [
        "report.html",
        "diagnostics.jsonl",
        "activations.png",
        "loss.svg",
    ] {
        assert!(
            !Path::new(&r).join(stale).exists(),
            "{stale} of the old run is left behind"
        );
    }
}

#[test]
fn divergence_stops_with_status_3_and_names_the_layer() {
    let c = corpus();
    let t = TempDir::new("diverge");
    let train = |lr: &str, dir: &str| {
        makemore(&[
            "train",
            "--data",
            c.to_str().unwrap(),
            "--steps",
            "2000",
            "--set",
            &format!("train.lr={lr}"),
            "--checkpoint-every",
            "1",
            "--out",
            dir,
            "--quiet",
        ])
    };
    // lr 1000 on the default config: BatchNorm keeps every number finite, but the loss explodes
    // far past 100 x ln(27).
    let r = t.path("r");
    let out = train("1000", &r);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.starts_with("error: training diverged after step "),
        "{err}"
    );
    assert!(
        err.contains("(lr 1000)")
            && err.contains("above the limit 329.6")
            && err.contains("largest outputs are at layer "),
        "{err}"
    );
    // With a checkpoint after every step, the last one holds the weights whose loss diverged:
    // the message says so rather than call it good.
    assert!(
        err.contains("the last checkpoint (step ")
            && err.contains("though its weights are the ones that gave this loss"),
        "{err}"
    );
    // The kept checkpoint evaluates. Resuming would diverge again the same way, so it is
    // refused, naming the divergence and what helps.
    assert!(Path::new(&r).join("checkpoint.json").is_file());
    stdout_json(&makemore(&[
        "eval",
        "--run",
        &r,
        "--checkpoint",
        "--data",
        c.to_str().unwrap(),
        "--json",
    ]));
    check_input_error(
        "resuming a diverged run",
        &makemore(&["train", "--resume", &r, "--quiet"]),
        &["training diverged after step", "lower rate", "--checkpoint"],
    );
    // lr 1e38: the weights overflow; the first non-finite output is named.
    let out = train("1e38", &t.path("nan"));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{err}");
    assert!(
        err.contains("(lr 1e38)")
            && err.contains("the loss is NaN")
            && err.contains("first non-finite: the output of layer 0 (Linear)"),
        "{err}"
    );
}

#[test]
fn sigint_writes_a_checkpoint_and_exits_130() {
    let c = corpus();
    let t = TempDir::new("sigint");
    let r = t.path("r");
    let child = Command::new(env!("CARGO_BIN_EXE_makemore"))
        .args([
            "train",
            "--data",
            c.to_str().unwrap(),
            "--steps",
            "100000000",
            "--out",
            &r,
            "--quiet",
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Wait until training has really started (the run directory has its config), then Ctrl-C.
    let (_, err) = common::ctrl_c(child, Some(&Path::new(&r).join("vocab.json")), 300);
    assert!(
        err.contains("interrupted at step")
            && err.contains(&format!("makemore train --resume {r}")),
        "{err}"
    );
    assert!(Path::new(&r).join("checkpoint.json").is_file());
    let step: u64 = err
        .split("interrupted at step ")
        .nth(1)
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let resumed = makemore(&[
        "train",
        "--resume",
        &r,
        "--pause-at",
        &(step + 5).to_string(),
        "--quiet",
    ]);
    let msg = String::from_utf8_lossy(&resumed.stderr);
    assert!(
        msg.contains(&format!("paused at step {}", step + 5)),
        "{msg}"
    );
    // The interrupted and resumed run is the uninterrupted one, bit for bit.
    let whole = t.path("whole");
    let straight = makemore(&[
        "train",
        "--data",
        c.to_str().unwrap(),
        "--steps",
        "100000000",
        "--out",
        &whole,
        "--pause-at",
        &(step + 5).to_string(),
        "--quiet",
    ]);
    assert_eq!(straight.status.code(), Some(0));
    let weights = |dir: &str| {
        let text = std::fs::read_to_string(Path::new(dir).join("checkpoint.json")).unwrap();
        let body: serde_json::Value =
            serde_json::from_str(text.split_once('\n').unwrap().1).unwrap();
        (
            body["weights"]["sha256"].clone(),
            body["metrics"].clone(),
            body["sampler"].clone(),
        )
    };
    assert_eq!(weights(&r), weights(&whole));
}

#[test]
fn a_checkpoint_never_holds_a_non_finite_number() {
    // lr 3e38 is near the largest f32 (1e39, beyond it, is refused when read); with the output
    // layer at 100x its init the embedding's gradient is large enough that the first update
    // makes it infinite while the loss of that step was still finite (78, under the raised
    // divergence limit). The checkpoint due right after it must not be written.
    let c = corpus();
    let t = TempDir::new("inf-weights");
    let r = t.path("r");
    let out = makemore(&[
        "train",
        "--data",
        c.to_str().unwrap(),
        "--steps",
        "50",
        "--set",
        "train.lr=3e38",
        "--set",
        "init.output.scale=100",
        "--set",
        "train.divergence_factor=1e6",
        "--checkpoint-every",
        "1",
        "--out",
        &r,
        "--quiet",
    ]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{err}");
    assert!(
        err.contains("training diverged after step 1 ")
            && err.contains("(still finite), but the weights are not")
            && err.contains("first non-finite: ")
            && err.contains("no checkpoint was written"),
        "{err}"
    );
    assert!(!Path::new(&r).join("checkpoint.json").exists());
}

#[test]
fn a_diagnosed_run_resumes_bit_identically_diagnostics_included() {
    // At step 0 a fresh BatchNorm gamma, beta and bias have std 0: their ratios have no value
    // (null in JSON), which a checkpoint must carry through a resume.
    let c = corpus();
    let c = c.to_str().unwrap();
    let t = TempDir::new("diag-resume");
    let (whole, paused) = (t.path("whole"), t.path("paused"));
    let args = |out: &str| {
        vec![
            "train".to_string(),
            "--data".into(),
            c.into(),
            "--steps".into(),
            "300".into(),
            "--diagnose-every".into(),
            "100".into(),
            "--out".into(),
            out.into(),
            "--quiet".into(),
        ]
    };
    let run = |a: Vec<String>| makemore(&a.iter().map(String::as_str).collect::<Vec<_>>());
    assert_eq!(run(args(&whole)).status.code(), Some(0));
    let mut first = args(&paused);
    first.extend(["--pause-at".into(), "150".into()]);
    assert_eq!(run(first).status.code(), Some(0));
    let resumed = makemore(&["train", "--resume", &paused, "--quiet"]);
    assert_eq!(
        resumed.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&resumed.stderr)
    );
    let read = |dir: &str, f: &str| std::fs::read_to_string(Path::new(dir).join(f)).unwrap();
    let diagnostics = read(&whole, "diagnostics.jsonl");
    assert!(
        diagnostics.contains("\"grad_data_ratio\":null"),
        "step 0 has undefined ratios"
    );
    assert_eq!(read(&paused, "diagnostics.jsonl"), diagnostics);
    assert_eq!(read(&paused, "model.json"), read(&whole, "model.json"));
    assert_eq!(
        read(&paused, "metrics.jsonl"),
        read(&whole, "metrics.jsonl")
    );
}

#[test]
fn a_huge_log_interval_just_logs_at_the_ends() {
    let c = corpus();
    let t = TempDir::new("log-every");
    let r = t.path("r");
    stdout_json(&makemore(&[
        "train",
        "--data",
        c.to_str().unwrap(),
        "--steps",
        "30",
        "--set",
        "train.log_every=1000000000000",
        "--out",
        &r,
        "--json",
        "--quiet",
    ]));
    let metrics = std::fs::read_to_string(Path::new(&r).join("metrics.jsonl")).unwrap();
    let steps: Vec<u64> = metrics
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["step"]
                .as_u64()
                .unwrap()
        })
        .collect();
    assert_eq!(steps, [1, 30]);
}

#[test]
fn a_second_process_on_the_same_run_is_refused_and_a_stale_lock_is_taken_over() {
    let c = corpus();
    let c = c.to_str().unwrap();
    let t = TempDir::new("lock");
    let r = t.path("r");
    let mut first = Command::new(env!("CARGO_BIN_EXE_makemore"))
        .args([
            "train",
            "--data",
            c,
            "--steps",
            "100000000",
            "--out",
            &r,
            "--quiet",
        ])
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let start = std::time::Instant::now();
    while !Path::new(&r).join("vocab.json").exists() && start.elapsed().as_secs() < 60 {
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let second = makemore(&[
        "train", "--data", c, "--steps", "10", "--out", &r, "--force",
    ]);
    check_input_error(
        "second writer",
        &second,
        &[&format!(
            "another makemore (pid {}) is writing this run",
            first.id()
        )],
    );
    first.kill().unwrap();
    first.wait().unwrap();
    // Killed without a chance to clean up: its lock is stale, and the next run takes it over.
    assert!(Path::new(&r).join(".lock").exists());
    stdout_json(&makemore(&[
        "train", "--data", c, "--steps", "10", "--out", &r, "--force", "--json", "--quiet",
    ]));
    assert!(
        !Path::new(&r).join(".lock").exists(),
        "the lock goes with its run"
    );
}

#[test]
fn lecture_keeps_the_exit_status_of_what_stopped_it() {
    // Ctrl-C during the lecture's runs: 130, as `train` gives, not "bad input".
    let c = corpus();
    let child = Command::new(env!("CARGO_BIN_EXE_makemore"))
        .args(["lecture", "--data", c.to_str().unwrap(), "--quiet"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let (out, err) = common::ctrl_c(child, None, 3000);
    assert!(err.contains(": interrupted at step "), "{err}");
    assert!(out.stdout.is_empty());
}

#[test]
fn a_second_ctrl_c_exits_at_once_and_the_last_checkpoint_stays_valid() {
    let c = corpus();
    let t = TempDir::new("sigint-twice");
    let r = t.path("r");
    let child = Command::new(env!("CARGO_BIN_EXE_makemore"))
        .args([
            "train",
            "--data",
            c.to_str().unwrap(),
            "--steps",
            "100000000",
            "--checkpoint-every",
            "200",
            "--out",
            &r,
            "--quiet",
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let start = std::time::Instant::now();
    while !Path::new(&r).join("checkpoint.json").exists() && start.elapsed().as_secs() < 60 {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    for _ in 0..2 {
        let status = Command::new("kill")
            .args(["-INT", &child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
    }
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(130), "{err}");
    // Whichever checkpoint is there (the last periodic one, or the one the first Ctrl-C wrote)
    // is whole: its digest checks, and a model loads from it.
    let samples = stdout_json(&makemore(&[
        "sample",
        "--run",
        &r,
        "--checkpoint",
        "-n",
        "3",
        "--json",
    ]));
    assert_eq!(samples["samples"].as_array().map(Vec::len), Some(3));
}
