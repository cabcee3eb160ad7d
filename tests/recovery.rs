//! Runs that can always be finished, and messages that name what will help: each test
//! reproduces a case of issue #30 (reliability, round three) and checks it now behaves.

mod common;

use common::{assert_input_error, check_input_error, corpus, makemore, stdout_json, TempDir};
use makemore_diagnostics::tensorboard::{read_events, EventKind, ValueData};
use serde_json::Value;
use std::path::Path;
use std::process::Command;

/// `summary` without the wall-clock fields, which differ between any two runs.
fn without_times(mut summary: Value) -> Value {
    for k in ["seconds", "us_per_step"] {
        summary.as_object_mut().unwrap().remove(k);
    }
    summary
}

fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn a_run_stopped_after_its_last_checkpoint_is_finished_by_resume() {
    let c = corpus();
    let c = c.to_str().unwrap();
    let t = TempDir::new("finish");
    let r = t.path("r");
    let full = stdout_json(&makemore(&[
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
    let model = std::fs::read(Path::new(&r).join("model.json")).unwrap();
    let report = std::fs::read(Path::new(&r).join("diagnostics.jsonl")).unwrap();
    // Killed during its evaluation or plotting: the last checkpoint is there, nothing after it.
    for f in ["summary.json", "model.json", "report.html", "loss.svg"] {
        std::fs::remove_file(Path::new(&r).join(f)).unwrap();
    }
    let eval = makemore(&["eval", "--run", &r, "--data", c]);
    check_input_error(
        "eval before it is finished",
        &eval,
        &[
            "training reached step 20 of 20",
            "before its evaluation",
            &format!("makemore train --resume {r}"),
        ],
    );
    let resumed = stdout_json(&makemore(&[
        "train", "--resume", &r, "--data", c, "--json", "--quiet",
    ]));
    assert_eq!(without_times(resumed), without_times(full));
    assert_eq!(
        std::fs::read(Path::new(&r).join("model.json")).unwrap(),
        model
    );
    assert_eq!(
        std::fs::read(Path::new(&r).join("diagnostics.jsonl")).unwrap(),
        report
    );
    for f in ["summary.json", "report.html", "loss.svg"] {
        assert!(Path::new(&r).join(f).is_file(), "{f} is written again");
    }
    stdout_json(&makemore(&["eval", "--run", &r, "--data", c, "--json"]));
    check_input_error(
        "a finished run",
        &makemore(&["train", "--resume", &r, "--data", c]),
        &["the run is finished (20 of 20 steps)"],
    );
    // Asked again as a new run: the hint does not send the user to --resume.
    let again = makemore(&[
        "train",
        "--data",
        c,
        "--steps",
        "20",
        "--diagnose-every",
        "10",
        "--out",
        &r,
    ]);
    check_input_error(
        "a finished run again",
        &again,
        &["nothing to resume: pass --force to train it again"],
    );
}

#[test]
fn a_fresh_run_never_removes_files_it_did_not_write() {
    let c = corpus();
    let c = c.to_str().unwrap();
    let t = TempDir::new("foreign");
    let d = Path::new(&t.0).join("d");
    std::fs::create_dir_all(d.join("tb/old")).unwrap();
    std::fs::write(d.join("tb/old/events.out.tfevents.1"), "x").unwrap();
    std::fs::write(d.join("report.html"), "mine").unwrap();
    std::fs::write(d.join("notes.txt"), "mine too").unwrap();
    let out = makemore(&[
        "train",
        "--data",
        c,
        "--steps",
        "5",
        "--out",
        d.to_str().unwrap(),
    ]);
    check_input_error(
        "a folder with a report in it",
        &out,
        &["report.html: already exists", "--force"],
    );
    assert_eq!(
        std::fs::read_to_string(d.join("report.html")).unwrap(),
        "mine"
    );
    assert!(d.join("tb/old/events.out.tfevents.1").is_file());
    assert!(!d.join("config.toml").exists(), "nothing was started");
    // --force replaces what a run writes, and only that: the folder under tb/ and the notes stay.
    stdout_json(&makemore(&[
        "train",
        "--data",
        c,
        "--steps",
        "5",
        "--out",
        d.to_str().unwrap(),
        "--force",
        "--tensorboard",
        "--json",
        "--quiet",
    ]));
    assert!(d.join("tb/old/events.out.tfevents.1").is_file());
    assert_eq!(
        std::fs::read_to_string(d.join("notes.txt")).unwrap(),
        "mine too"
    );
    assert!(
        !d.join("report.html").exists(),
        "the old report was replaced"
    );
}

#[test]
fn a_lock_is_the_kernels_so_a_live_process_without_it_holds_nothing() {
    let c = corpus();
    let c = c.to_str().unwrap();
    let t = TempDir::new("flock");
    let r = t.path("r");
    stdout_json(&makemore(&[
        "train",
        "--data",
        c,
        "--steps",
        "20",
        "--pause-at",
        "10",
        "--out",
        &r,
        "--json",
        "--quiet",
    ]));
    let lock = Path::new(&r).join(".lock");
    // A live process that holds no lock (pid 1 in a restarted pod, a process on another node)
    // is named in the file: the lock is free all the same.
    let mut sleeper = Command::new("sleep").arg("60").spawn().unwrap();
    std::fs::write(&lock, format!("{}\n", sleeper.id())).unwrap();
    let _ = makemore(&["train", "--resume", &r, "--data", c, "--quiet"]);
    sleeper.kill().unwrap();
    sleeper.wait().unwrap();
    assert!(
        Path::new(&r).join("summary.json").is_file(),
        "resumed and finished"
    );
    // A lock really held is refused, with the pid its holder wrote.
    let r2 = t.path("r2");
    std::fs::create_dir_all(&r2).unwrap();
    let held = std::fs::File::create(Path::new(&r2).join(".lock")).unwrap();
    held.lock().unwrap();
    std::fs::write(Path::new(&r2).join(".lock"), "4242\n").unwrap();
    check_input_error(
        "a held lock",
        &makemore(&["train", "--data", c, "--steps", "5", "--out", &r2]),
        &["another makemore (pid 4242) is writing this run"],
    );
    drop(held);
    stdout_json(&makemore(&[
        "train", "--data", c, "--steps", "5", "--out", &r2, "--json", "--quiet",
    ]));
    assert!(
        !Path::new(&r2).join(".lock").exists(),
        "the lock goes with its run"
    );
}

/// The event files of the run in `dir`: in it, and in `dir/tb` where older runs wrote them.
fn event_files(dir: &str) -> Vec<std::path::PathBuf> {
    let mut files: Vec<_> = [Path::new(dir).to_owned(), Path::new(dir).join("tb")]
        .iter()
        .filter_map(|d| std::fs::read_dir(d).ok())
        .flatten()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("events.out.tfevents.")
        })
        .collect();
    files.sort();
    files
}

/// Every scalar and histogram of the run's event files ([`event_files`]), by step and tag, in
/// order.
fn events(dir: &str) -> Vec<(i64, String, String)> {
    let mut all = Vec::new();
    for f in event_files(dir) {
        let bytes = std::fs::read(f).unwrap();
        for e in read_events(&bytes).unwrap() {
            if let EventKind::Summary(values) = e.kind {
                for v in values {
                    let data = match v.data {
                        ValueData::Scalar(x) => format!("{:08x}", x.to_bits()),
                        // A histogram rebuilt from diagnostics.jsonl holds floats read back
                        // from JSON, which may differ in their last bit: 9 digits are kept.
                        ValueData::Histogram(h) => {
                            let g = |v: &[f64]| {
                                v.iter().map(|x| format!("{x:.8e}")).collect::<Vec<_>>()
                            };
                            format!(
                                "{:?} {:?} {:?}",
                                g(&[h.min, h.max, h.num, h.sum, h.sum_squares]),
                                g(&h.bucket_limit),
                                h.bucket
                            )
                        }
                        ValueData::Image(i) => {
                            format!("image {}x{} {} bytes", i.width, i.height, i.png.len())
                        }
                        ValueData::Other => "other".into(),
                    };
                    all.push((e.step, v.tag, data));
                }
            }
        }
    }
    all.sort();
    all
}

#[test]
fn a_damaged_event_file_is_rebuilt_when_the_run_resumes() {
    let c = corpus();
    let c = c.to_str().unwrap();
    let t = TempDir::new("tb-damaged");
    let (whole, r) = (t.path("whole"), t.path("r"));
    let args = |out: &str| -> Vec<String> {
        [
            "train",
            "--data",
            c,
            "--steps",
            "20",
            "--diagnose-every",
            "5",
            "--tensorboard",
            "--out",
            out,
            "--quiet",
        ]
        .map(String::from)
        .to_vec()
    };
    let run = |extra: &[&str], out: &str| {
        let mut a = args(out);
        a.extend(extra.iter().map(|s| s.to_string()));
        makemore(&a.iter().map(String::as_str).collect::<Vec<_>>())
    };
    assert!(run(&[], &whole).status.success());
    assert!(run(&["--pause-at", "10"], &r).status.success());
    let file = event_files(&r).pop().unwrap();
    let len = std::fs::metadata(&file).unwrap().len();
    std::fs::OpenOptions::new()
        .write(true)
        .open(&file)
        .unwrap()
        .set_len(len / 2)
        .unwrap();
    let out = makemore(&["train", "--resume", &r, "--data", c, "--quiet"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains("warning: ") && err.contains("rebuilt from the checkpoint"),
        "{err}"
    );
    let (got, want) = (events(&r), events(&whole));
    let missing: Vec<_> = want
        .iter()
        .filter(|e| !got.contains(e))
        .map(|e| (e.0, &e.1))
        .collect();
    let extra: Vec<_> = got
        .iter()
        .filter(|e| !want.contains(e))
        .map(|e| (e.0, &e.1))
        .collect();
    assert!(
        missing.is_empty() && extra.is_empty() && got.len() == want.len(),
        "missing {missing:?}, extra {extra:?}, {} vs {} events",
        got.len(),
        want.len()
    );
}

/// Moves the run's one event file into `dir/tb`, where runs written before kept it; returns its
/// new path.
fn move_into_old_tb(dir: &str) -> std::path::PathBuf {
    let files = event_files(dir);
    assert_eq!(files.len(), 1, "{files:?}");
    assert_eq!(
        files[0].parent(),
        Some(Path::new(dir)),
        "written into the run"
    );
    let tb = Path::new(dir).join("tb");
    std::fs::create_dir(&tb).unwrap();
    let old = tb.join(files[0].file_name().unwrap());
    std::fs::rename(&files[0], &old).unwrap();
    old
}

#[test]
fn a_run_with_its_event_file_in_tb_resumes_there_and_export_and_force_remove_it() {
    let c = corpus();
    let c = c.to_str().unwrap();
    let t = TempDir::new("tb-old-layout");
    let train = |out: &str, extra: &[&str]| {
        let mut a = vec![
            "train",
            "--data",
            c,
            "--steps",
            "20",
            "--diagnose-every",
            "5",
            "--tensorboard",
            "--out",
            out,
            "--quiet",
        ];
        a.extend(extra);
        let out = makemore(&a);
        assert!(out.status.success(), "{}", stderr(&out));
    };
    let (whole, r) = (t.path("whole"), t.path("r"));
    train(&whole, &[]);
    train(&r, &["--pause-at", "10"]);
    let old = move_into_old_tb(&r);

    // The resume goes on writing the old file: one event file, where it was, every step once.
    let out = makemore(&["train", "--resume", &r, "--data", c, "--quiet"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(!stderr(&out).contains("rebuilt"), "{}", stderr(&out));
    assert_eq!(event_files(&r), [old]);
    assert_eq!(
        events(&r),
        events(&whole),
        "every step once, as uninterrupted"
    );

    // Export refuses to replace it, then writes the run directory and removes it (and tb/).
    assert_input_error(
        &makemore(&["export", "tensorboard", &r]),
        &["already exists", "--force"],
    );
    let v = stdout_json(&makemore(&[
        "export",
        "tensorboard",
        &r,
        "--force",
        "--json",
    ]));
    let exported = std::path::PathBuf::from(v["event_file"].as_str().unwrap());
    assert_eq!(exported.parent(), Some(Path::new(&r)));
    assert_eq!(event_files(&r), [exported]);
    assert!(!Path::new(&r).join("tb").exists(), "the emptied tb/ goes");
    assert_eq!(events(&r), events(&whole));

    // A new run over an old-layout one: refused, then --force removes the old file, and leaves
    // tb/ with what else it holds; the new event file goes into the run directory.
    let p = t.path("p");
    train(&p, &["--pause-at", "10"]);
    let old = move_into_old_tb(&p);
    std::fs::write(Path::new(&p).join("tb/notes.txt"), "mine\n").unwrap();
    assert_input_error(
        &makemore(&["train", "--data", c, "--steps", "5", "--out", &p]),
        &["already holds"],
    );
    assert!(old.exists(), "nothing removed without --force");
    // An old event file alone is an output too: refused, naming it.
    let q = Path::new(&t.path("q")).join("tb");
    std::fs::create_dir_all(&q).unwrap();
    let copy = q.join(old.file_name().unwrap());
    std::fs::copy(&old, &copy).unwrap();
    let q = t.path("q");
    assert_input_error(
        &makemore(&["train", "--data", c, "--steps", "5", "--out", &q]),
        &[&copy.display().to_string(), "--force"],
    );
    assert!(copy.exists());
    train(&p, &["--force"]);
    let files = event_files(&p);
    assert!(!old.exists(), "{files:?}");
    assert_eq!(files.len(), 1, "{files:?}");
    assert_eq!(files[0].parent(), Some(Path::new(&p)), "{files:?}");
    assert_eq!(
        std::fs::read_to_string(Path::new(&p).join("tb/notes.txt")).unwrap(),
        "mine\n"
    );
}

#[test]
fn messages_name_what_will_help() {
    let c = corpus();
    let c = c.to_str().unwrap();
    let t = TempDir::new("messages");
    // config.toml edited after the run started, neither --config nor --set passed.
    let e = t.path("e");
    stdout_json(&makemore(&[
        "train",
        "--data",
        c,
        "--steps",
        "20",
        "--pause-at",
        "10",
        "--out",
        &e,
        "--json",
        "--quiet",
    ]));
    let config = Path::new(&e).join("config.toml");
    let text = std::fs::read_to_string(&config).unwrap();
    std::fs::write(&config, format!("{text}# edited\n")).unwrap();
    let out = makemore(&["train", "--resume", &e, "--data", c]);
    check_input_error(
        "edited config",
        &out,
        &[
            "was edited after the run started",
            "undo the edit",
            "--force",
        ],
    );
    assert!(!stderr(&out).contains("--config/--set"));
    check_input_error(
        "resume and force",
        &makemore(&["train", "--resume", &e, "--force"]),
        &["--force", "--resume", "drop one"],
    );
    // A diverged run: no "paused, resume it", which would diverge again.
    let d = t.path("d");
    let out = makemore(&[
        "train",
        "--data",
        c,
        "--steps",
        "50",
        "--set",
        "train.lr=1e6",
        "--checkpoint-every",
        "1",
        "--out",
        &d,
        "--quiet",
    ]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    for args in [
        vec!["eval", "--run", &d, "--data", c],
        vec!["train", "--resume", &d, "--data", c],
    ] {
        let out = makemore(&args);
        check_input_error(
            "a diverged run",
            &out,
            &["training diverged after step", "lower rate", "--checkpoint"],
        );
        assert!(!stderr(&out).contains("paused"));
    }
    // A sweep directory given as a run.
    let s = t.path("s");
    std::fs::create_dir_all(&s).unwrap();
    std::fs::write(Path::new(&s).join("sweep-plan.json"), "{}").unwrap();
    check_input_error(
        "a sweep directory",
        &makemore(&["eval", "--run", &s, "--data", c]),
        &["is a sweep directory", "makemore sweep collect"],
    );
    // A flag's value is the flag's, not the config file's.
    let out = makemore(&[
        "train",
        "--data",
        c,
        "--steps",
        "5",
        "--seed",
        "18446744073709551615",
        "--out",
        &t.path("seed"),
    ]);
    check_input_error("a huge seed", &out, &["--seed: train.seed"]);
    assert!(!stderr(&out).contains("default.toml"));
}

#[test]
fn eval_and_sample_refuse_a_config_edited_after_training() {
    let c = corpus();
    let c = c.to_str().unwrap();
    let t = TempDir::new("edited");
    let r = t.path("r");
    stdout_json(&makemore(&[
        "train", "--data", c, "--steps", "10", "--out", &r, "--json", "--quiet",
    ]));
    let config = Path::new(&r).join("config.toml");
    let text = std::fs::read_to_string(&config).unwrap();
    assert!(text.contains("eps = 0.00001"), "{text}");
    std::fs::write(&config, text.replacen("eps = 0.00001", "eps = 0.5", 1)).unwrap();
    for args in [
        vec!["eval", "--run", &r, "--data", c],
        vec!["sample", "--run", &r, "-n", "3"],
    ] {
        check_input_error(
            args[0],
            &makemore(&args),
            &["config.toml: was edited after the run started"],
        );
    }
}

#[test]
fn batch_norm_with_a_batch_of_one_is_refused() {
    let c = corpus();
    let c = c.to_str().unwrap();
    let t = TempDir::new("bn1");
    let out = makemore(&[
        "train",
        "--data",
        c,
        "--config",
        "configs/lecture/batchnorm.toml",
        "--set",
        "train.batch_size=1",
        "--steps",
        "5",
        "--out",
        &t.path("r"),
    ]);
    check_input_error(
        "batch of one",
        &out,
        &["train.batch_size: 1 with batch normalization (model.norm)"],
    );
    assert!(!Path::new(&t.path("r")).exists());
}

#[test]
fn json_prints_one_object_when_a_run_pauses() {
    let c = corpus();
    let c = c.to_str().unwrap();
    let t = TempDir::new("json-pause");
    let r = t.path("r");
    let v = stdout_json(&makemore(&[
        "train",
        "--data",
        c,
        "--steps",
        "20",
        "--pause-at",
        "10",
        "--out",
        &r,
        "--json",
        "--quiet",
    ]));
    assert_eq!(v["paused"], true);
    assert_eq!(v["step"], 10);
    assert_eq!(v["steps"], 20);
}

#[test]
fn missing_required_arguments_are_named() {
    for (args, name) in [
        (vec!["eval"], "--run <RUN>"),
        (vec!["sweep", "cell"], "<DIR>"),
        (vec!["lecture", "--tensorboard"], "--out <OUT>"),
    ] {
        check_input_error(
            &args.join(" "),
            &makemore(&args),
            &["the following required arguments were not provided", name],
        );
    }
}

#[test]
fn lecture_continues_its_runs_and_never_suggests_flags_it_lacks() {
    let c = corpus();
    let c = c.to_str().unwrap();
    let t = TempDir::new("lecture-again");
    let out = t.path("l");
    let run = |steps: &str| {
        makemore(&[
            "lecture", "--data", c, "--steps", steps, "--out", &out, "--json", "--quiet",
        ])
    };
    let first = stdout_json(&run("30"));
    let summary = Path::new(&out).join("original-seed2147483647/summary.json");
    let written = std::fs::metadata(&summary).unwrap().modified().unwrap();
    // The same command again reads the finished runs instead of training them again.
    let again = stdout_json(&run("30"));
    assert_eq!(
        std::fs::metadata(&summary).unwrap().modified().unwrap(),
        written
    );
    assert_eq!(first["rows"].as_array().unwrap().len(), 5);
    for (a, b) in first["rows"]
        .as_array()
        .unwrap()
        .iter()
        .zip(again["rows"].as_array().unwrap())
    {
        assert_eq!(a["val"], b["val"], "{a} {b}");
    }
    // Other steps: the runs there are another config's; the message names lecture's own flag.
    let o = run("40");
    check_input_error(
        "other steps",
        &o,
        &["already holds a run of another config", "another --out"],
    );
    assert!(!stderr(&o).contains("--resume") && !stderr(&o).contains("--force"));
    // Another corpus: the runs there say nothing of it, so they are neither read nor resumed.
    let text = std::fs::read_to_string(c).unwrap();
    let small = t.path("small.txt");
    std::fs::write(
        &small,
        text.lines().take(3000).collect::<Vec<_>>().join("\n"),
    )
    .unwrap();
    let other = makemore(&[
        "lecture", "--data", &small, "--steps", "30", "--out", &out, "--json", "--quiet",
    ]);
    check_input_error(
        "another corpus",
        &other,
        &["trained on another corpus", "another --out", "(--data)"],
    );
    assert_eq!(
        std::fs::metadata(&summary).unwrap().modified().unwrap(),
        written
    );
    // Killed before its first checkpoint: only its config and run.json are there. The same
    // command starts that run over (nothing to lose) and gets the same numbers.
    let dir = Path::new(&out).join("original-seed2147483647");
    for e in std::fs::read_dir(&dir).unwrap() {
        let e = e.unwrap();
        let name = e.file_name();
        if name != "config.toml" && name != "run.json" {
            if e.path().is_dir() {
                std::fs::remove_dir_all(e.path()).unwrap();
            } else {
                std::fs::remove_file(e.path()).unwrap();
            }
        }
    }
    let restarted = stdout_json(&run("30"));
    assert_eq!(restarted["rows"][0]["val"], first["rows"][0]["val"]);
    assert!(summary.is_file());
}

#[test]
fn values_that_lose_meaning_in_f32_are_refused_naming_the_key_and_the_override() {
    let c = corpus();
    let c = c.to_str().unwrap();
    let t = TempDir::new("f32-range");
    for (set, fragments) in [
        (
            "model.norm={batch_norm={eps=1e-50}}",
            &[
                "(with --set): model.norm.batch_norm.eps: 1e-50",
                "would be 0",
            ][..],
        ),
        ("train.lr=1e-50", &["train.lr: 1e-50", "would be 0"]),
        ("train.lr=1e-45", &["train.lr: 1e-45", "would be subnormal"]),
        (
            "train.divergence_factor=1e308",
            &["train.divergence_factor: must be a number > 1 and at most 1e300"],
        ),
        (
            "init.hidden.scale=1e39",
            &["init.hidden.scale: 1e39", "would be infinite"],
        ),
        (
            "data.split=[0.8,0.1,0.1]",
            &["(with --set data.split=[0.8,0.1,0.1]): invalid length 3"],
        ),
    ] {
        let out = t.path("r");
        check_input_error(
            set,
            &makemore(&[
                "train",
                "--data",
                c,
                "--steps",
                "3",
                "--set",
                "train.steps=4",
                "--set",
                set,
                "--out",
                &out,
            ]),
            fragments,
        );
        assert!(!Path::new(&out).exists(), "{set}: nothing written");
    }
}

#[test]
fn a_pause_the_run_would_never_reach_is_refused() {
    let c = corpus();
    let c = c.to_str().unwrap();
    let t = TempDir::new("pause-outside");
    let r = t.path("r");
    let train = |extra: &[&str]| {
        let mut a = vec![
            "train", "--data", c, "--steps", "20", "--out", &r, "--quiet",
        ];
        a.extend(extra);
        makemore(&a)
    };
    check_input_error(
        "at the last step",
        &train(&["--pause-at", "20"]),
        &["--pause-at: the pause step 20 is outside the steps this run takes (1 to 19)"],
    );
    assert!(!Path::new(&r).exists(), "nothing written");
    assert!(train(&["--pause-at", "10"]).status.success());
    check_input_error(
        "behind the checkpoint",
        &makemore(&["train", "--resume", &r, "--data", c, "--pause-at", "5"]),
        &["the pause step 5 is outside the steps this run takes (11 to 19)"],
    );
    let v = stdout_json(&makemore(&[
        "train",
        "--resume",
        &r,
        "--data",
        c,
        "--pause-at",
        "15",
        "--json",
        "--quiet",
    ]));
    assert_eq!(v["step"], 15);
}

/// A paused run (10 of 20 steps) in `t`'s `name`.
fn paused(t: &TempDir, c: &str, name: &str, extra: &[&str]) -> String {
    let r = t.path(name);
    let mut args = vec![
        "train",
        "--data",
        c,
        "--steps",
        "20",
        "--pause-at",
        "10",
        "--out",
        &r,
        "--quiet",
    ];
    args.extend(extra);
    assert!(makemore(&args).status.success());
    r
}

#[test]
fn a_damaged_run_directory_is_bad_input_naming_the_file() {
    let c = corpus();
    let c = c.to_str().unwrap();
    let t = TempDir::new("damaged-dir");
    let resume = |r: &str| makemore(&["train", "--resume", r, "--data", c]);
    let r = paused(&t, c, "no-info", &[]);
    std::fs::remove_file(Path::new(&r).join("run.json")).unwrap();
    check_input_error("run.json missing", &resume(&r), &["run.json: missing"]);
    let r = paused(&t, c, "noise", &[]);
    let noise: Vec<u8> = (0..3000u32)
        .map(|i| ((i * 2_654_435_761) >> 7) as u8)
        .collect();
    std::fs::write(Path::new(&r).join("checkpoint.json"), noise).unwrap();
    check_input_error(
        "checkpoint noise",
        &resume(&r),
        &["checkpoint.json: is not text"],
    );
    let r = paused(&t, c, "dir-ckpt", &[]);
    std::fs::remove_file(Path::new(&r).join("checkpoint.json")).unwrap();
    std::fs::create_dir(Path::new(&r).join("checkpoint.json")).unwrap();
    check_input_error(
        "checkpoint a directory",
        &resume(&r),
        &["checkpoint.json: is a directory"],
    );
    let r = paused(&t, c, "dir-lock", &[]);
    std::fs::create_dir(Path::new(&r).join(".lock")).unwrap();
    check_input_error("lock a directory", &resume(&r), &[".lock: is a directory"]);
    // A lock that is a symbolic link is not followed (the file it names would be written).
    let r = paused(&t, c, "link-lock", &[]);
    let victim = t.file("victim.txt", b"keep\n");
    std::os::unix::fs::symlink(&victim, Path::new(&r).join(".lock")).unwrap();
    check_input_error(
        "lock a link",
        &resume(&r),
        &[".lock: is a directory or a symbolic link"],
    );
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "keep\n");
    // A checkpoint removed after the run logged steps: refused, not silently started over.
    let r = paused(&t, c, "lost-ckpt", &[]);
    std::fs::remove_file(Path::new(&r).join("checkpoint.json")).unwrap();
    check_input_error(
        "checkpoint lost",
        &resume(&r),
        &["checkpoint.json: missing, though the run logged steps"],
    );
    // A file named tb (where older runs kept their event files) is someone's file: a run writes
    // its event file beside it and leaves it alone, --force too.
    let f = t.path("tb-file");
    std::fs::create_dir_all(&f).unwrap();
    std::fs::write(Path::new(&f).join("tb"), "x").unwrap();
    for force in [&[][..], &["--force"]] {
        let mut args = vec![
            "train",
            "--data",
            c,
            "--steps",
            "5",
            "--tensorboard",
            "--out",
            &f,
            "--quiet",
        ];
        args.extend(force);
        let out = makemore(&args);
        assert!(out.status.success(), "{force:?}: {}", stderr(&out));
        assert_eq!(
            std::fs::read_to_string(Path::new(&f).join("tb")).unwrap(),
            "x"
        );
        let files = event_files(&f);
        assert_eq!(files.len(), 1, "{files:?}");
        assert_eq!(files[0].parent(), Some(Path::new(&f)), "{files:?}");
    }
    // Killed before its first checkpoint: nothing is lost by starting over, which --resume does.
    let r = paused(&t, c, "no-ckpt", &[]);
    for f in ["checkpoint.json", "metrics.jsonl"] {
        std::fs::remove_file(Path::new(&r).join(f)).unwrap();
    }
    let v = stdout_json(&makemore(&[
        "train", "--resume", &r, "--data", c, "--json", "--quiet",
    ]));
    assert_eq!(v["steps"], 20);
    // A removed event file is rebuilt like a damaged one, not started over at the checkpoint.
    let r = paused(&t, c, "no-tb", &["--tensorboard"]);
    let files = event_files(&r);
    assert_eq!(files.len(), 1, "{files:?}");
    std::fs::remove_file(&files[0]).unwrap();
    let out = makemore(&["train", "--resume", &r, "--data", c, "--quiet"]);
    assert!(out.status.success());
    assert!(stderr(&out).contains("no event file; rebuilt from the checkpoint"));
    let steps: std::collections::BTreeSet<i64> =
        events(&r).into_iter().map(|(step, _, _)| step).collect();
    assert!(steps.contains(&1) && steps.contains(&20), "{steps:?}");
}

#[test]
fn flags_that_would_mean_nothing_are_refused_and_explicit_values_are_kept() {
    let c = corpus();
    let c = c.to_str().unwrap();
    let t = TempDir::new("flags-meaning");
    // diagnose: a --set of the step count or the recording interval is taken as asked.
    let d = t.path("d");
    let v = stdout_json(&makemore(&[
        "diagnose",
        "--data",
        c,
        "--set",
        "train.steps=7",
        "--set",
        "log.diagnose_every=3",
        "--out",
        &d,
        "--json",
        "--quiet",
    ]));
    assert_eq!(v["summary"]["steps"], 7, "{v}");
    let config = std::fs::read_to_string(Path::new(&d).join("config.toml")).unwrap();
    assert!(config.contains("diagnose_every = 3"), "{config}");
    check_input_error(
        "--steps and --set train.steps",
        &makemore(&[
            "diagnose",
            "--data",
            c,
            "--steps",
            "5",
            "--set",
            "train.steps=7",
            "--out",
            &t.path("d2"),
        ]),
        &["--steps and --set train.steps=... both set it"],
    );
    check_input_error(
        "diagnose into a run",
        &makemore(&["diagnose", "--data", c, "--steps", "5", "--out", &d]),
        &["already holds a run; pass --force to start over, or another --out"],
    );
    // eval --calibrate on a model without BatchNorm's running statistics.
    let ln = t.path("ln");
    stdout_json(&makemore(&[
        "train",
        "--data",
        c,
        "--steps",
        "5",
        "--set",
        "model.norm={layer_norm={}}",
        "--out",
        &ln,
        "--json",
        "--quiet",
    ]));
    check_input_error(
        "calibrate without BatchNorm",
        &makemore(&["eval", "--run", &ln, "--data", c, "--calibrate"]),
        &[
            "--calibrate: the model in",
            "keeps no BatchNorm running statistics",
        ],
    );
    // data fetch never replaces a file that is not the corpus (no network needed to refuse).
    let mine = t.file("mine.txt", b"notes\n");
    check_input_error(
        "fetch over a user's file",
        &makemore(&["data", "fetch", "--out", &mine]),
        &["mine.txt: already exists and is not names.txt", "--force"],
    );
    assert_eq!(std::fs::read_to_string(&mine).unwrap(), "notes\n");
    let copy = t.file("names.txt", &std::fs::read(c).unwrap());
    let v = stdout_json(&makemore(&["data", "fetch", "--out", &copy, "--json"]));
    assert_eq!(v["already_there"], true);
    // A device is neither read (/dev/zero never ends) nor replaced, with or without --force;
    // nor is a FIFO read as a corpus or a config (it would block).
    for force in [&[][..], &["--force"][..]] {
        let mut args = vec!["data", "fetch", "--out", "/dev/zero"];
        args.extend(force);
        check_input_error(
            "fetch onto a device",
            &makemore(&args),
            &["/dev/zero: is not a regular file"],
        );
    }
    let fifo = t.path("fifo");
    assert!(Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap()
        .success());
    check_input_error(
        "a FIFO as the corpus",
        &makemore(&["train", "--data", &fifo, "--steps", "1"]),
        &["fifo: cannot read: not a regular file"],
    );
    check_input_error(
        "a FIFO as the config",
        &makemore(&["train", "--data", c, "--config", &fifo, "--steps", "1"]),
        &["fifo: cannot read: not a regular file"],
    );
}

#[test]
fn a_plan_edited_after_a_cell_started_is_named() {
    let c = corpus();
    let c = c.to_str().unwrap();
    let t = TempDir::new("plan-edited");
    let file = t.file(
        "s.toml",
        b"base = \"deep-tanh-kaiming\"\nseeds = [1]\nsteps = 5\n[[vary]]\nkey = \"init.hidden.scale\"\nvalues = [0.5, 1]\n",
    );
    let s = t.path("s");
    assert!(
        makemore(&["sweep", "plan", &file, "--out", &s, "--data", c])
            .status
            .success()
    );
    assert!(makemore(&["sweep", "cell", &s, "0", "--data", c])
        .status
        .success());
    let plan = Path::new(&s).join("sweep-plan.json");
    let text = std::fs::read_to_string(&plan).unwrap();
    let edited = text.replacen("scale = 0.5", "scale = 0.7", 1);
    assert_ne!(edited, text);
    std::fs::write(&plan, edited).unwrap();
    check_input_error(
        "edited plan",
        &makemore(&["sweep", "cell", &s, "0", "--data", c]),
        &[
            "was started with another config than the plan now gives it",
            "sweep-plan.json",
        ],
    );
    check_input_error(
        "collect an edited plan",
        &makemore(&["sweep", "collect", &s]),
        &["was trained with another config than the plan now gives it"],
    );
}

#[test]
fn a_tight_address_space_limit_is_refused_up_front_not_hit() {
    let c = corpus();
    let c = c.to_str().unwrap();
    let t = TempDir::new("ulimit-edge");
    // Two hidden layers of 2,000 need about 700 MB by the estimate: under a 400 MB address-space
    // limit, training, evaluating and sampling such a run are each refused before they allocate
    // it (they aborted). The limit leaves room for the program itself with every backend
    // compiled in.
    let wide = "model.hidden=[2000,2000]";
    let r = t.path("r");
    stdout_json(&makemore(&[
        "train", "--data", c, "--steps", "3", "--set", wide, "--out", &r, "--json", "--quiet",
    ]));
    let bin = env!("CARGO_BIN_EXE_makemore");
    for args in [
        vec![
            "train",
            "--data",
            c,
            "--steps",
            "5",
            "--set",
            wide,
            "--out",
            &t.path("u"),
        ],
        vec!["eval", "--run", &r, "--data", c],
        vec!["sample", "--run", &r, "-n", "5"],
    ] {
        let out = Command::new("sh")
            .arg("-c")
            .arg("ulimit -v 400000; exec \"$0\" \"$@\"")
            .arg(bin)
            .args(&args)
            .current_dir(common::repo())
            .output()
            .unwrap();
        check_input_error(
            &format!("{} under ulimit -v 400000", args[0]),
            &out,
            &["address-space limit (ulimit -v)"],
        );
    }
    assert!(!Path::new(&t.path("u")).exists());
}

#[test]
fn flags_outside_what_they_feed_are_refused() {
    let c = corpus();
    let c = c.to_str().unwrap();
    let t = TempDir::new("flag-ranges");
    let r = t.path("r");
    stdout_json(&makemore(&[
        "train", "--data", c, "--steps", "5", "--out", &r, "--json", "--quiet",
    ]));
    for temperature in ["1e-50", "1e39"] {
        check_input_error(
            temperature,
            &makemore(&["sample", "--run", &r, "--temperature", temperature]),
            &["--temperature: must be a number between"],
        );
    }
    check_input_error(
        "bench --matmul --data",
        &makemore(&["bench", "--matmul", "--data", c]),
        &["--data: --matmul times the matrix product alone"],
    );
    // MAKEMORE_DATA is the environment's default corpus, not a request: --matmul runs.
    let env = Command::new(env!("CARGO_BIN_EXE_makemore"))
        .args(["bench", "--matmul", "--json"])
        .env("MAKEMORE_DATA", c)
        .output()
        .unwrap();
    assert!(stdout_json(&env)["rows"].is_array());
}

#[test]
fn init_show_refuses_flags_its_scheme_ignores_and_numbers_f32_cannot_hold() {
    for (args, fragment) in [
        (
            vec!["--scheme", "kaiming_normal", "--std", "0.5"],
            "--std: the kaiming_normal scheme does not use it",
        ),
        (
            vec!["--scheme", "ones", "--gain", "3"],
            "--gain: the ones scheme does not use it",
        ),
        (
            vec!["--scheme", "constant"],
            "--value: the constant scheme needs it",
        ),
        (
            vec!["--scheme", "normal", "--std", "1e39"],
            "the --std comes to 1e39",
        ),
        (
            vec!["--scheme", "normal", "--std", "1e-50"],
            "the --std comes to 1e-50",
        ),
        (
            vec![
                "--scheme",
                "kaiming_normal",
                "--nonlinearity",
                "leaky_relu:1e39",
            ],
            "the gain comes to",
        ),
    ] {
        let mut all = vec!["init", "show", "--fan-in", "3", "--fan-out", "3"];
        all.extend(&args);
        check_input_error(&args.join(" "), &makemore(&all), &[fragment]);
    }
}

#[test]
fn exporting_a_paused_run_keeps_its_recorded_steps() {
    let c = corpus();
    let c = c.to_str().unwrap();
    let t = TempDir::new("export-paused");
    let r = paused(&t, c, "r", &["--tensorboard", "--diagnose-every", "5"]);
    let before = events(&r);
    assert!(makemore(&["export", "tensorboard", &r, "--force"])
        .status
        .success());
    let after = events(&r);
    let tags = |e: &[(i64, String, String)]| {
        e.iter()
            .map(|(s, t, _)| (*s, t.clone()))
            .collect::<Vec<_>>()
    };
    assert_eq!(tags(&after), tags(&before));
}

#[test]
fn a_new_run_or_sweep_never_replaces_a_users_files_of_the_same_names() {
    let c = corpus();
    let c = c.to_str().unwrap();
    let t = TempDir::new("same-names");
    // run.json and vocab.json without a config.toml are not a run: the user's files.
    let d = Path::new(&t.0).join("d");
    std::fs::create_dir_all(&d).unwrap();
    std::fs::write(d.join("run.json"), "{\"my\":\"own\"}").unwrap();
    check_input_error(
        "run.json of the user's",
        &makemore(&[
            "train",
            "--data",
            c,
            "--steps",
            "5",
            "--out",
            d.to_str().unwrap(),
        ]),
        &["run.json: already exists; pass --force to replace it"],
    );
    assert_eq!(
        std::fs::read_to_string(d.join("run.json")).unwrap(),
        "{\"my\":\"own\"}"
    );
    // A sweep directory without a plan that holds a sweep.json of the user's.
    let s = Path::new(&t.0).join("s");
    std::fs::create_dir_all(&s).unwrap();
    std::fs::write(s.join("sweep.json"), "mine").unwrap();
    let file = t.file(
        "s.toml",
        b"base = \"default\"\nseeds = [1]\nsteps = 5\n[[vary]]\nkey = \"train.lr\"\nvalues = [0.1]\n",
    );
    for plan in [true, false] {
        let mut args = vec!["sweep"];
        if plan {
            args.push("plan");
        }
        args.extend([file.as_str(), "--out", s.to_str().unwrap(), "--data", c]);
        check_input_error(
            "sweep.json of the user's",
            &makemore(&args),
            &["sweep.json: already exists", "holds no sweep plan"],
        );
    }
    assert_eq!(
        std::fs::read_to_string(s.join("sweep.json")).unwrap(),
        "mine"
    );
    assert!(!s.join("sweep-plan.json").exists());
}

/// An event file a kill left half-written (`events.out.tfevents.*.tmp`, which TensorBoard would
/// read beside the real one) is removed by `--force` and by export: afterwards the directory
/// holds one event file.
#[test]
fn a_half_written_event_file_is_removed_by_force_and_by_export() {
    let c = corpus();
    let c = c.to_str().unwrap();
    let t = TempDir::new("tb-tmp");
    let r = t.path("r");
    let args = [
        "train",
        "--data",
        c,
        "--steps",
        "20",
        "--tensorboard",
        "--out",
        &r,
        "--quiet",
    ];
    let out = makemore(&args);
    assert!(out.status.success(), "{}", stderr(&out));
    let tmp = Path::new(&r).join("events.out.tfevents.1.host.1.tmp");
    std::fs::write(&tmp, b"half").unwrap();
    assert_input_error(&makemore(&args), &["--force"]);
    let mut forced = args.to_vec();
    forced.push("--force");
    let out = makemore(&forced);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(!tmp.exists(), "--force removes it");
    assert_eq!(event_files(&r).len(), 1);
    std::fs::write(&tmp, b"half").unwrap();
    let out = makemore(&["export", "tensorboard", &r, "--force"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(!tmp.exists(), "export removes it");
    assert_eq!(event_files(&r).len(), 1);
}
