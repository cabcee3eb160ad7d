//! `makemore sweep`: the plan, cells run in any order and in parallel processes as array-job
//! engines run them, resuming, divergence as a result, the outputs, and bad sweep files.

mod common;
use common::*;
use serde_json::Value;
use std::path::Path;
use std::process::Command;

/// A small sweep: the deep tanh stack at two scales, without and with LayerNorm, 60 steps,
/// diagnostics every 20.
const SMALL: &str = r#"
name = "small"
base = "deep-tanh-kaiming"
seeds = [7]
steps = 60
diagnose_every = 20

[[vary]]
name = "scale"
key = "init.hidden.scale"
values = [0.5, 2.0]

[[vary]]
name = "norm"
key = "model.norm"
values = ["none", { layer_norm = {} }]
labels = ["none", "layer"]
"#;

fn write(t: &TempDir, name: &str, text: &str) -> String {
    let p = t.path(name);
    std::fs::write(&p, text).unwrap();
    p
}

fn read_json(path: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// `sweep.json`'s cells, without the fields that differ between two runs of the same cell
/// (time, and where its report is).
fn results(dir: &str) -> Vec<Value> {
    let mut v = read_json(&Path::new(dir).join("sweep.json"));
    let cells = v["cells"].as_array_mut().unwrap();
    for c in cells.iter_mut() {
        c.as_object_mut().unwrap().remove("seconds");
    }
    cells.clone()
}

#[test]
fn a_sweep_runs_every_cell_and_a_rerun_continues() {
    let c = corpus();
    let c = c.to_str().unwrap();
    let t = TempDir::new("sweep-run");
    // Long enough that every cell learns more than letter frequencies (see below).
    let trained = SMALL
        .replace("steps = 60", "steps = 600")
        .replace("diagnose_every = 20", "diagnose_every = 200");
    let file = write(&t, "small.toml", &trained);
    let out = t.path("sweep");
    let args = [
        "sweep", &file, "--out", &out, "--data", c, "--json", "--quiet",
    ];
    let unigram = unigram_loss();
    let j = stdout_json(&makemore(&args));
    let combos = j["combos"].as_array().unwrap();
    assert_eq!(combos.len(), 4);
    assert_eq!(j["cells"].as_array().unwrap().len(), 4);
    assert!(j["missing"].as_array().unwrap().is_empty());
    for cell in j["cells"].as_array().unwrap() {
        let dir = Path::new(&out).join(cell["dir"].as_str().unwrap());
        // Every cell is an ordinary run directory with its diagnostics.
        for f in [
            "config.toml",
            "model.json",
            "summary.json",
            "diagnostics.jsonl",
            "report.html",
        ] {
            assert!(dir.join(f).is_file(), "{} lacks {f}", dir.display());
        }
        let val = cell["val_loss"].as_f64().unwrap();
        assert!(
            val < unigram && val > VAL_FLOOR,
            "val {val} not below the unigram loss {unigram}"
        );
        assert!(cell["max_saturation"].as_f64().is_some());
        assert!(cell["median_log10_update"].as_f64().is_some());
        assert!(cell["act_std_ratio"].as_f64().is_some());
        assert!(cell["init_act_std_ratio"].as_f64().is_some());
        assert!(cell["grad_std_ratio"].as_f64().is_some());
        assert_eq!(cell["diverged"], false);
    }
    let names: Vec<&str> = j["cells"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["dir"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "cells/scale=0.5,norm=none,seed=7",
            "cells/scale=0.5,norm=layer,seed=7",
            "cells/scale=2,norm=none,seed=7",
            "cells/scale=2,norm=layer,seed=7",
        ]
    );
    // `eval` works on any cell.
    let cell = Path::new(&out).join(names[1]);
    let e = stdout_json(&makemore(&[
        "eval",
        "--run",
        cell.to_str().unwrap(),
        "--json",
    ]));
    assert_eq!(e["splits"]["val"]["loss"], j["cells"][1]["val_loss"], "{e}");
    let before = results(&out);
    // The same command again trains nothing and gives the same results.
    let again = makemore(&["sweep", &file, "--out", &out, "--data", c]);
    assert!(
        again.status.success(),
        "{}",
        String::from_utf8_lossy(&again.stderr)
    );
    let err = String::from_utf8_lossy(&again.stderr);
    assert!(err.contains("4 of 4 cells already done"), "{err}");
    assert_eq!(results(&out), before);
    let table = String::from_utf8_lossy(&again.stdout);
    assert!(
        table.contains("| scale | norm | runs | val loss |") && table.contains("| 2 | layer | 1 |"),
        "{table}"
    );
    // Another sweep file into the same directory is refused.
    let other = write(
        &t,
        "other.toml",
        &trained.replace("values = [0.5, 2.0]", "values = [0.5, 3.0]"),
    );
    assert_input_error(
        &makemore(&["sweep", &other, "--out", &out, "--data", c]),
        &["holds another sweep", "cell 2"],
    );
}

#[test]
fn cells_run_as_array_tasks_in_any_order_and_match_one_machine() {
    let c = corpus();
    let c = c.to_str().unwrap();
    let t = TempDir::new("sweep-array");
    let file = write(&t, "small.toml", SMALL);
    let (single, array) = (t.path("single"), t.path("array"));
    stdout_json(&makemore(&[
        "sweep", &file, "--out", &single, "--data", c, "--json", "--quiet",
    ]));
    let p = stdout_json(&makemore(&[
        "sweep", "plan", &file, "--out", &array, "--data", c, "--json",
    ]));
    assert_eq!(p["cells"], 4);
    // Nothing done yet: collect names every missing cell.
    let none = makemore(&["sweep", "collect", &array]);
    assert!(none.status.success());
    let err = String::from_utf8_lossy(&none.stderr);
    for i in 0..4 {
        assert!(err.contains(&format!("missing: cell {i}")), "{err}");
    }
    // Shuffled order, all at once, the index from the variable each engine sets.
    let engines = [
        (3, "SLURM_ARRAY_TASK_ID"),
        (0, "JOB_COMPLETION_INDEX"),
        (2, "SLURM_ARRAY_TASK_ID"),
        (1, "JOB_COMPLETION_INDEX"),
    ];
    let children: Vec<_> = engines
        .iter()
        .map(|(i, var)| {
            Command::new(env!("CARGO_BIN_EXE_makemore"))
                .args(["sweep", "cell", &array])
                .env_remove("SLURM_ARRAY_TASK_ID")
                .env_remove("JOB_COMPLETION_INDEX")
                .env(var, i.to_string())
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for (child, (i, _)) in children.into_iter().zip(engines) {
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "cell {i}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            text.starts_with(&format!("cell {i} (")) && text.contains("trained"),
            "{text}"
        );
    }
    let done = makemore(&["sweep", "collect", &array, "--json"]);
    let j = stdout_json(&done);
    assert!(j["missing"].as_array().unwrap().is_empty());
    assert_eq!(
        results(&array),
        results(&single),
        "cells are deterministic wherever they run"
    );
    // A cell that is done is skipped.
    let again = makemore(&["sweep", "cell", &array, "2"]);
    assert!(String::from_utf8_lossy(&again.stdout).contains("already done"));
    // Bad indices.
    assert_input_error(
        &makemore(&["sweep", "cell", &array, "4"]),
        &["out of range", "0..=3"],
    );
    let no_index = Command::new(env!("CARGO_BIN_EXE_makemore"))
        .args(["sweep", "cell", &array])
        .env_remove("SLURM_ARRAY_TASK_ID")
        .env_remove("JOB_COMPLETION_INDEX")
        .output()
        .unwrap();
    assert_input_error(&no_index, &["SLURM_ARRAY_TASK_ID", "JOB_COMPLETION_INDEX"]);
    let bad_var = Command::new(env!("CARGO_BIN_EXE_makemore"))
        .args(["sweep", "cell", &array])
        .env("SLURM_ARRAY_TASK_ID", "x1")
        .output()
        .unwrap();
    assert_input_error(&bad_var, &["SLURM_ARRAY_TASK_ID", "x1"]);
    assert_input_error(
        &makemore(&["sweep", "collect", &t.path("nowhere")]),
        &["not a sweep directory"],
    );
}

#[test]
fn an_interrupted_cell_resumes_from_its_checkpoint() {
    let c = corpus();
    let c = c.to_str().unwrap();
    let t = TempDir::new("sweep-resume");
    let file = write(&t, "small.toml", SMALL);
    let (single, planned) = (t.path("single"), t.path("planned"));
    stdout_json(&makemore(&[
        "sweep", &file, "--out", &single, "--data", c, "--json", "--quiet",
    ]));
    stdout_json(&makemore(&[
        "sweep", "plan", &file, "--out", &planned, "--data", c, "--json",
    ]));
    // Cell 1 stopped half-way with a checkpoint, as Ctrl-C or a preempted task leaves it.
    let plan = read_json(&Path::new(&planned).join("sweep-plan.json"));
    let cell = &plan["cells"][1];
    let config = write(&t, "cell1.toml", cell["config"].as_str().unwrap());
    let dir = Path::new(&planned).join(cell["dir"].as_str().unwrap());
    let dir = dir.to_str().unwrap();
    let paused = makemore(&[
        "train",
        "--config",
        &config,
        "--data",
        c,
        "--out",
        dir,
        "--pause-at",
        "30",
        "--checkpoint-every",
        "10",
        "--quiet",
    ]);
    assert_eq!(
        paused.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&paused.stderr)
    );
    assert!(!Path::new(dir).join("summary.json").exists());
    let r = makemore(&["sweep", "cell", &planned, "1", "--data", c]);
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    let model = |root: &str| {
        std::fs::read_to_string(
            Path::new(root)
                .join(cell["dir"].as_str().unwrap())
                .join("model.json"),
        )
        .unwrap()
    };
    assert_eq!(
        model(&planned),
        model(&single),
        "resumed to the same weights"
    );
}

#[test]
fn a_diverging_cell_is_a_result_and_cells_write_tensorboard() {
    let c = corpus();
    let c = c.to_str().unwrap();
    let t = TempDir::new("sweep-diverge");
    let file = write(
        &t,
        "lr.toml",
        r#"
base = "deep-tanh-kaiming"
steps = 40
tensorboard = true

[[vary]]
name = "lr"
key = "train.lr"
values = [0.1, 1e6]
"#,
    );
    let out = t.path("sweep");
    let j = stdout_json(&makemore(&[
        "sweep", &file, "--out", &out, "--data", c, "--json", "--quiet",
    ]));
    let cells = j["cells"].as_array().unwrap();
    assert_eq!(cells[0]["diverged"], false);
    assert_eq!(cells[1]["diverged"], true, "{}", cells[1]);
    assert!(cells[1]["diverged_at"].as_u64().is_some());
    assert!(cells[1]["val_loss"].is_null());
    assert_eq!(j["combos"][1]["diverged"], 1);
    // Each cell's event file is directly in its directory, named by its values, so TensorBoard
    // shows the cell by that name.
    let cell = Path::new(&out).join("cells/lr=0.1,seed=2147483647");
    let events: Vec<_> = std::fs::read_dir(&cell)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("events.out.tfevents."))
        .collect();
    assert_eq!(events.len(), 1, "{}: {events:?}", cell.display());
    assert!(!cell.join("tb").exists(), "no tb/ folder any more");
    let (dom, log) = headless_dom(&Path::new(&out).join("sweep.html"), &t.path("profile"));
    assert!(!log.contains(":CONSOLE("), "console messages: {log}");
    assert!(
        dom.contains(">diverged<"),
        "the diverged cell is marked on the page"
    );
}

/// sweep.html opens in headless Chromium with a heatmap per metric whose cells link to reports
/// that exist, and the validation-loss lines.
#[test]
fn the_sweep_page_opens_in_headless_chromium() {
    let c = corpus();
    let c = c.to_str().unwrap();
    let t = TempDir::new("sweep-page");
    let file = write(&t, "small.toml", SMALL);
    let out = t.path("sweep");
    stdout_json(&makemore(&[
        "sweep", &file, "--out", &out, "--data", c, "--json", "--quiet",
    ]));
    let (dom, log) = headless_dom(&Path::new(&out).join("sweep.html"), &t.path("profile"));
    assert!(!log.contains(":CONSOLE("), "console messages: {log}");
    for m in [
        "val_loss",
        "max_saturation",
        "init_act_std_ratio",
        "act_std_ratio",
        "grad_std_ratio",
        "median_log10_update",
    ] {
        let at = dom
            .find(&format!("id=\"heatmap-{m}\""))
            .unwrap_or_else(|| panic!("no heatmap {m}"));
        let section = &dom[at..at + dom[at..].find("</section>").unwrap()];
        assert_eq!(
            section.matches("<rect").count(),
            4,
            "{m}: a cell per combination"
        );
        for href in section
            .split("href=\"")
            .skip(1)
            .map(|s| &s[..s.find('"').unwrap()])
        {
            assert!(
                Path::new(&out).join(href).is_file(),
                "{m}: link {href} leads nowhere"
            );
        }
        assert_eq!(
            section.matches("href=").count(),
            4,
            "{m}: every cell links to its report"
        );
    }
    let lines = &dom[dom.find("id=\"lines\"").expect("the line chart")..];
    assert_eq!(
        lines[..lines.find("</figure>").unwrap()]
            .matches("<polyline")
            .count(),
        2,
        "a line per norm"
    );
}

#[test]
fn bad_sweep_files_name_the_key() {
    let c = corpus();
    let c = c.to_str().unwrap();
    let t = TempDir::new("sweep-bad");
    let out = t.path("out");
    let long = "x".repeat(300);
    let long_label = format!(
        "base = \"default\"\n[[vary]]\nkey = \"train.lr\"\nvalues = [0.1]\nlabels = [\"{long}\"]\n"
    );
    let extra: [(&str, &str, &[&str]); 3] = [
        ("heatmap twice", "base = \"default\"\nheatmap = [\"a\", \"a\"]\n[[vary]]\nname = \"a\"\nkey = \"train.lr\"\nvalues = [0.1]\n[[vary]]\nname = \"b\"\nkey = \"train.batch_size\"\nvalues = [16]\n", &["heatmap", "twice"]),
        ("empty label", "base = \"default\"\n[[vary]]\nkey = \"train.lr\"\nvalues = [0.1]\nlabels = [\"\"]\n", &["vary[0].labels[0]", "empty"]),
        ("long name", &long_label, &["vary", "longer than 255 bytes"]),
    ];
    let cases: [(&str, &str, &[&str]); 9] = [
        ("unknown key", "base = \"default\"\n[[vary]]\nkey = \"train.nope\"\nvalues = [1]\n", &["vary[0].values[0]", "train.nope", "unknown field `nope`"]),
        ("empty values", "base = \"default\"\n[[vary]]\nkey = \"train.lr\"\nvalues = []\n", &["vary[0].values", "train.lr", "empty"]),
        ("wrong type", "base = \"default\"\n[[vary]]\nkey = \"init.hidden.scale\"\nvalues = [1.0, \"big\"]\n", &["vary[0].values[1]", "init.hidden.scale", "big"]),
        ("axis twice", "base = \"default\"\n[[vary]]\nkey = \"train.lr\"\nvalues = [0.1]\n[[vary]]\nkey = \"train.lr\"\nvalues = [0.2]\n", &["vary[1].key", "train.lr", "already varied by vary[0]"]),
        ("no axis", "base = \"default\"\n", &["vary", "no axis"]),
        ("no base", "[[vary]]\nkey = \"train.lr\"\nvalues = [0.1]\n", &["base", "missing"]),
        ("unknown base", "base = \"nonesuch\"\n[[vary]]\nkey = \"train.lr\"\nvalues = [0.1]\n", &["base", "nonesuch"]),
        ("unknown field", "base = \"default\"\nseed = [1]\n[[vary]]\nkey = \"train.lr\"\nvalues = [0.1]\n", &["line 2", "unknown field `seed`"]),
        ("groups", "base = \"deep-tanh-kaiming\"\n[[vary]]\nkey = \"model.norm\"\nvalues = [{ group_norm = { groups = 3 } }]\n", &["vary[0].values[0]", "model.norm", "groups"]),
    ];
    for (case, text, fragments) in cases.into_iter().chain(extra) {
        let file = write(&t, "bad.toml", text);
        check_input_error(
            case,
            &makemore(&["sweep", &file, "--out", &out, "--data", c]),
            fragments,
        );
        assert!(!Path::new(&out).exists(), "{case}: nothing written");
    }
    check_input_error(
        "no such sweep",
        &makemore(&["sweep", "init-sensitivty", "--out", &out, "--data", c]),
        &[
            "init-sensitivty",
            "init-sensitivity, gain-by-activation, batchnorm-lr",
        ],
    );
}

/// `sweep plan` refuses, with one line and exit 2, before writing anything: a missing corpus, an
/// unwritable `--slurm-script`, a grid too large to plan, and a plan no cell of which can train.
#[test]
fn sweep_plan_checks_before_writing() {
    let c = corpus();
    let c = c.to_str().unwrap();
    let t = TempDir::new("sweep-plan-bad");
    let out = t.path("out");
    let script = t.path("cell.sh");
    let ok = write(
        &t,
        "ok.toml",
        "base = \"fix-tanh\"\nsteps = 5\n[[vary]]\nkey = \"train.lr\"\nvalues = [0.1]\n",
    );
    // 60 x 60 x 60 = 216,000 cells.
    let values: Vec<String> = (1..=60)
        .map(|i| format!("{}", f64::from(i) / 100.0))
        .collect();
    let axes: String = ["train.lr", "init.hidden.scale", "init.output.scale"]
        .iter()
        .map(|key| {
            format!(
                "[[vary]]\nkey = \"{key}\"\nvalues = [{}]\n",
                values.join(", ")
            )
        })
        .collect();
    let huge = write(&t, "huge.toml", &format!("base = \"fix-tanh\"\n{axes}"));
    // Grids whose cell count overflows 64 bits (1000^8) or would take hours to list (100^5):
    // refused from their sizes alone, at once.
    let grid = |keys: &[&str], n: usize| -> String {
        let values: Vec<String> = (1..=n).map(|i| i.to_string()).collect();
        let axes: String = keys
            .iter()
            .map(|key| {
                format!(
                    "[[vary]]\nkey = \"{key}\"\nvalues = [{}]\n",
                    values.join(", ")
                )
            })
            .collect();
        format!("base = \"fix-tanh\"\n{axes}")
    };
    let keys = [
        "train.lr",
        "init.hidden.scale",
        "init.output.scale",
        "init.embedding.scale",
        "data.split_seed",
        "train.log_every",
        "model.n_embd",
        "train.batch_size",
    ];
    let overflow = write(&t, "overflow.toml", &grid(&keys, 1000));
    let ten_billion = write(&t, "ten-billion.toml", &grid(&keys[..5], 100));
    let untrainable = write(
        &t,
        "untrainable.toml",
        "base = \"fix-tanh\"\nsteps = 5\n[[vary]]\nkey = \"model.output_norm\"\nvalues = [{ group_norm = { groups = 4 } }]\n",
    );
    let missing = t.path("no-such-corpus.txt");
    let cases: [(&str, Vec<&str>, &[&str]); 6] = [
        (
            "grid over 2^64 cells",
            vec![&overflow, "--data", c],
            &["1000000000000000000000000 cells", "at most 100000"],
        ),
        (
            "ten billion cells",
            vec![&ten_billion, "--data", c],
            &["10000000000 cells", "at most 100000"],
        ),
        (
            "missing corpus",
            vec![&ok, "--data", &missing],
            &["no-such-corpus.txt", "no such file", "--data"],
        ),
        (
            "unwritable script",
            vec![&ok, "--data", c, "--slurm-script", "/proc/no/cell.sh"],
            &["/proc/no/cell.sh", "cannot write"],
        ),
        (
            "huge grid",
            vec![&huge, "--data", c],
            &["216000 cells", "at most 100000"],
        ),
        (
            "no cell trains",
            vec![&untrainable, "--data", c, "--slurm-script", &script],
            &["no cell of the plan can train", "groups"],
        ),
    ];
    for (case, args, fragments) in cases {
        let mut all = vec!["sweep", "plan"];
        all.extend(args);
        all.extend(["--out", &out]);
        let o = makemore(&all);
        let err = String::from_utf8_lossy(&o.stderr).to_string();
        // The untrainable cell is named once on stderr before the error line.
        let last = err.lines().last().unwrap_or_default().to_string();
        assert_eq!(o.status.code(), Some(2), "{case}: {err}");
        assert!(last.starts_with("error: "), "{case}: {err}");
        assert!(err.lines().count() <= 2, "{case}: {err}");
        for f in fragments {
            assert!(last.contains(f), "{case}: {last:?} lacks {f:?}");
        }
        assert!(o.stdout.is_empty(), "{case}");
        assert!(!Path::new(&out).exists(), "{case}: nothing written");
        assert!(!Path::new(&script).exists(), "{case}: no script written");
    }
}

/// The built-in experiments plan from a fresh clone, by name, with the cells their headers
/// describe.
#[test]
fn the_built_in_experiments_plan() {
    let c = corpus();
    let c = c.to_str().unwrap();
    let t = TempDir::new("sweep-builtin");
    for (name, cells) in [
        ("init-sensitivity", 5 * 3 * 2 * 2 * 3),
        ("gain-by-activation", 3 * 3 * 2),
        ("batchnorm-lr", 5 * 3 * 2),
    ] {
        let out = t.path(name);
        let j = stdout_json(&makemore(&[
            "sweep", "plan", name, "--out", &out, "--data", c, "--json",
        ]));
        assert_eq!(j["cells"], cells, "{name}");
        let plan = read_json(&Path::new(&out).join("sweep-plan.json"));
        let first = plan["cells"][0]["config"].as_str().unwrap();
        assert!(first.contains("steps = 2000"), "{name}: {first}");
    }
    // The init-sensitivity cells are the reference's: Kaiming x scale, SGD 0.1 or Adam 1e-3.
    let plan = read_json(&Path::new(&t.path("init-sensitivity")).join("sweep-plan.json"));
    let cell = plan["cells"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["dir"] == "cells/scale=5,norm=layer,residual=on,optimizer=adam,seed=2")
        .expect("the cell");
    let config = cell["config"].as_str().unwrap();
    for line in [
        "scale = 5.0",
        "residual = true",
        "[model.norm.layer_norm]",
        "lr = 0.001",
        "seed = 2",
    ] {
        assert!(config.contains(line), "{line} missing from\n{config}");
    }
}

/// Ctrl-C stops a sweep cleanly: exit 130, the cells done so far collected, the interrupted one
/// checkpointed, and the message says to rerun the same command.
#[test]
fn ctrl_c_stops_a_sweep_cleanly() {
    let c = corpus();
    let c = c.to_str().unwrap();
    let t = TempDir::new("sweep-sigint");
    // Long cells: the interruption lands inside the first ones.
    let file = write(
        &t,
        "long.toml",
        &SMALL.replace("steps = 60", "steps = 400000"),
    );
    let out = t.path("sweep");
    let child = Command::new(env!("CARGO_BIN_EXE_makemore"))
        .args([
            "sweep", &file, "--out", &out, "--data", c, "--jobs", "1", "--quiet",
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let first = Path::new(&out).join("cells/scale=0.5,norm=none,seed=7");
    let (_, err) = common::ctrl_c(child, Some(&first.join("vocab.json")), 500);
    assert!(
        err.contains(
            "sweep interrupted with 0 of 4 cells done; rerun the same command to continue"
        ),
        "{err}"
    );
    assert!(
        first.join("checkpoint.json").is_file(),
        "the cell was checkpointed"
    );
    assert!(!first.join("summary.json").exists());
    assert!(
        Path::new(&out).join("sweep.json").is_file(),
        "what is done is collected"
    );
    // A cell run on its own stops as cleanly, and says how to resume it (that it resumes
    // from the checkpoint is `an_interrupted_cell_resumes_from_its_checkpoint`).
    let again = Command::new(env!("CARGO_BIN_EXE_makemore"))
        .args(["sweep", "cell", &out, "0", "--data", c])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let (_, err) = common::ctrl_c(again, None, 1500);
    assert!(
        err.contains("`makemore sweep cell") && err.contains("resumes it"),
        "{err}"
    );
}

/// A plan edited by hand (or damaged) is refused with exit 2 naming the file, not followed: a
/// cell directory outside the sweep, no seeds, a different format.
#[test]
fn a_damaged_plan_is_refused() {
    let c = corpus();
    let c = c.to_str().unwrap();
    let t = TempDir::new("sweep-damaged");
    let file = write(&t, "small.toml", SMALL);
    let out = t.path("sweep");
    stdout_json(&makemore(&[
        "sweep", "plan", &file, "--out", &out, "--data", c, "--json",
    ]));
    let path = Path::new(&out).join("sweep-plan.json");
    let good = read_json(&path);
    let damage = |f: &dyn Fn(&mut Value)| {
        let mut v = good.clone();
        f(&mut v);
        std::fs::write(&path, serde_json::to_string(&v).unwrap()).unwrap();
    };
    damage(&|v| v["cells"][0]["dir"] = "../escaped".into());
    assert_input_error(
        &makemore(&["sweep", "cell", &out, "0", "--data", c]),
        &["sweep-plan.json", "cell 0"],
    );
    assert!(!Path::new(&out).join("../escaped").exists());
    damage(&|v| v["seeds"] = serde_json::json!([]));
    assert_input_error(
        &makemore(&["sweep", "collect", &out]),
        &["sweep-plan.json", "no seeds"],
    );
    damage(&|v| v["format"] = 2.into());
    assert_input_error(&makemore(&["sweep", "collect", &out]), &["format 2"]);
}

/// A sweep with one cell that cannot train on the corpus, as a plan.
const ONE_BAD: &str = r#"
base = "deep-tanh-kaiming"
seeds = [1]
steps = 20
[[vary]]
key = "model.output_norm"
values = [{ group_norm = { groups = 4 } }, "none"]
labels = ["gn4", "none"]
"#;

#[test]
fn a_cell_that_cannot_train_is_a_result_and_the_others_run() {
    let c = corpus();
    let c = c.to_str().unwrap();
    let t = TempDir::new("sweep-one-bad");
    let file = write(&t, "one-bad.toml", ONE_BAD);
    let out = t.path("s");
    let o = makemore(&[
        "sweep", &file, "--out", &out, "--data", c, "--quiet", "--json",
    ]);
    let err = String::from_utf8_lossy(&o.stderr).to_string();
    let v = stdout_json(&o);
    assert!(
        err.contains(
            "cell 0 (cells/model.output_norm=gn4,seed=1) and any with the same model cannot train"
        ),
        "named before the sweep starts: {err}"
    );
    assert!(err.contains("failed: "), "{err}");
    let bad = Path::new(&out).join("cells/model.output_norm=gn4,seed=1");
    let failed = read_json(&bad.join("failed.json"));
    assert!(
        failed["error"]
            .as_str()
            .unwrap()
            .contains("4 groups do not divide the vocabulary's 27 logits"),
        "{failed}"
    );
    assert!(Path::new(&out)
        .join("cells/model.output_norm=none,seed=1/summary.json")
        .is_file());
    assert_eq!(v["failed"].as_array().map(Vec::len), Some(1), "{v}");
}

#[test]
fn a_cell_refuses_another_corpus_than_its_plans() {
    let c = corpus();
    let c = c.to_str().unwrap();
    let t = TempDir::new("sweep-corpus");
    let file = write(
        &t,
        "ok.toml",
        ONE_BAD
            .replace("gn4", "ln")
            .replace("{ group_norm = { groups = 4 } }", "{ layer_norm = {} }")
            .as_str(),
    );
    let s = t.path("s");
    let names = std::fs::read_to_string(c).unwrap();
    let fewer: Vec<&str> = names.lines().take(2000).collect();
    let small = t.file("small.txt", fewer.join("\n").as_bytes());
    // The same items with another editor's line ends: the same corpus.
    let crlf = t.file("names-crlf.txt", names.replace('\n', "\r\n").as_bytes());
    assert!(
        makemore(&["sweep", "plan", &file, "--out", &s, "--data", c])
            .status
            .success()
    );
    let cells = Path::new(&s).join("cells");
    let refused = |case: &str, o: &std::process::Output| {
        check_input_error(
            case,
            o,
            &[
                "is not the corpus the sweep in",
                "2000 items",
                "32033 items",
            ],
        );
        assert!(!cells.exists(), "{case}: no cell was started");
    };
    refused(
        "--data",
        &makemore(&["sweep", "cell", &s, "0", "--data", &small]),
    );
    let env = Command::new(env!("CARGO_BIN_EXE_makemore"))
        .args(["sweep", "cell", &s, "0"])
        .current_dir(repo())
        .env("MAKEMORE_DATA", &small)
        .env_remove("MAKEMORE_BACKEND")
        .output()
        .unwrap();
    refused("MAKEMORE_DATA", &env);
    refused(
        "sweep after the plan",
        &makemore(&["sweep", &file, "--out", &s, "--data", &small, "--quiet"]),
    );
    let o = makemore(&["sweep", "cell", &s, "0", "--data", &crlf, "--json"]);
    assert_eq!(stdout_json(&o)["outcome"], "trained");
    // Killed after its last checkpoint, before its summary: the next run finishes it.
    let cell = cells.join("model.output_norm=ln,seed=1");
    let summary = std::fs::read_to_string(cell.join("summary.json")).unwrap();
    std::fs::remove_file(cell.join("summary.json")).unwrap();
    std::fs::remove_file(cell.join("model.json")).unwrap();
    let o = makemore(&["sweep", "cell", &s, "0", "--data", c, "--json"]);
    let v = stdout_json(&o);
    assert_eq!(v["outcome"], "trained (resumed at step 20)", "{v}");
    let again = std::fs::read_to_string(cell.join("summary.json")).unwrap();
    let strip = |s: &str| -> Value {
        let mut v: Value = serde_json::from_str(s).unwrap();
        for k in ["seconds", "us_per_step"] {
            v.as_object_mut().unwrap().remove(k);
        }
        v
    };
    assert_eq!(strip(&again), strip(&summary));
}
