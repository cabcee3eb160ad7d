//! `collect` and `sweep.html` on a sweep directory written by hand: a plan of 2 x 3 combinations
//! with three seeds each, and for every cell a summary, diagnostics, a divergence, a failure or
//! nothing at all, so that every number the collection computes is known in advance.
//!
//! The grid (`lr` slowest, `bs`, then the seeds 1, 2, 3; index = 3 * combination + seed slot):
//!
//! | combination    | seed 1            | seed 2            | seed 3            |
//! |----------------|-------------------|-------------------|-------------------|
//! | A lr=0.1 bs=16 | 0 done (report)   | 1 done            | 2 done            |
//! | B lr=0.1 bs=32 | 3 done            | 4 diverged        | 5 done (report)   |
//! | C lr=0.1 bs=64 | 6 done            | 7 missing         | 8 failed          |
//! | D lr=0.01 bs=16| 9 diverged        | 10 diverged       | 11 diverged       |
//! | E lr=0.01 bs=32| 12 missing        | 13 missing        | 14 missing        |
//! | F lr=0.01 bs=64| 15 done           | 16 done, no diag. | 17 missing        |

use makemore_diagnostics::record::OutputStats;
use makemore_diagnostics::{
    DiagnosticRecord, Histogram, LayerInfo, LayerKind, LayerRecord, ParamRecord, Saturation,
    Summary,
};
use makemore_sweep::{
    collect, record_failure, CellRow, Collected, DivergedRecord, FailedRecord, Plan, DIVERGED,
    SWEEP_HTML, SWEEP_JSON,
};
use makemore_train::RunSummary;
use std::path::{Path, PathBuf};

const LR: [&str; 2] = ["0.1", "0.01"];
const BS: [&str; 3] = ["16", "32", "64"];
const SEEDS: [u64; 3] = [1, 2, 3];

/// What one finished cell's records say at its last recorded step (and `init` at step 0).
#[derive(Clone, Copy)]
struct Stats {
    /// Activation std, last layer / first, at step 0.
    init: f64,
    /// The same at the last recorded step.
    act: f64,
    /// Activation-gradient std, last layer / first, at the last recorded step.
    grad: f64,
    /// The largest saturated share of any activation layer there.
    sat: f64,
    /// The median log10 update ratio of the weight matrices there.
    median: f64,
}

/// What a cell of the fixture holds.
enum Cell {
    /// A summary with this validation loss, and diagnostics when `Some`; `report` adds a
    /// `report.html`.
    Done {
        val: f64,
        stats: Option<Stats>,
        report: bool,
    },
    /// `diverged.json` at this step.
    Diverged(u64),
    /// `failed.json`.
    Failed,
    /// Nothing at all.
    Missing,
}

fn done(val: f64, init: f64, act: f64, grad: f64, sat: f64, median: f64) -> Cell {
    Cell::Done {
        val,
        stats: Some(Stats {
            init,
            act,
            grad,
            sat,
            median,
        }),
        report: false,
    }
}

fn with_report(c: Cell) -> Cell {
    match c {
        Cell::Done { val, stats, .. } => Cell::Done {
            val,
            stats,
            report: true,
        },
        other => other,
    }
}

/// The 18 cells in index order (see the table at the top).
fn fixture() -> Vec<Cell> {
    vec![
        // A: all three seeds done.
        with_report(done(2.0, 0.5, 0.25, 4.0, 0.25, -3.0)),
        done(2.5, 0.75, 0.5, 2.0, 0.5, -2.5),
        done(3.0, 1.0, 0.75, 3.0, 0.75, -2.0),
        // B: seed 2 diverged.
        done(2.0, 0.5, 0.5, 1.0, 0.25, -3.0),
        Cell::Diverged(40),
        with_report(done(2.5, 1.0, 1.5, 2.0, 0.75, -2.0)),
        // C: seed 2 not run, seed 3 failed.
        done(3.0, 0.5, 2.0, 0.5, 0.0, -3.5),
        Cell::Missing,
        Cell::Failed,
        // D: every seed diverged.
        Cell::Diverged(7),
        Cell::Diverged(8),
        Cell::Diverged(9),
        // E: nothing run.
        Cell::Missing,
        Cell::Missing,
        Cell::Missing,
        // F: seed 2 has no diagnostics.jsonl, seed 3 not run.
        done(2.0, 2.0, 4.0, 0.25, 1.0, -1.0),
        Cell::Done {
            val: 3.0,
            stats: None,
            report: false,
        },
        Cell::Missing,
    ]
}

fn summary(std: f64) -> Summary {
    Summary {
        count: 100,
        mean: 0.0,
        std,
        min: -1.0,
        max: 1.0,
        non_finite: 0,
        histogram: Histogram::default(),
    }
}

fn layer(index: usize, kind: LayerKind, std: f64, grad: f64, sat: Option<f64>) -> LayerRecord {
    let layer = LayerInfo::new(index, kind);
    LayerRecord {
        name: layer.name(),
        layer,
        output: OutputStats {
            summary: summary(std),
            saturated_frac: sat,
            dead_units: sat.map(|_| 0),
            units: 10,
            map: None,
        },
        grad: Some(summary(grad)),
    }
}

fn param(name: &str, shape: &[usize], log10_update: f64) -> ParamRecord {
    ParamRecord {
        name: name.into(),
        shape: shape.to_vec(),
        data_mean: 0.0,
        data_std: 1.0,
        grad_mean: 0.0,
        grad_std: 0.1,
        grad_data_ratio: Some(0.1),
        log10_update_ratio: Some(log10_update),
        data_histogram: Histogram::default(),
        grad_histogram: Histogram::default(),
    }
}

/// One recorded step of a 3-block tanh MLP whose activation std goes 2 -> 7 -> 2 * `act`
/// (last / first = `act`), whose activation-gradient std goes 0.5 -> 3 -> 0.5 * `grad`
/// (last / first = `grad`), whose tanh layers saturate `sat` / 2, `sat` and 0 (max `sat`), and
/// whose three weight matrices have log10 update ratios `median` - 1, `median` + 0.5 and
/// `median` (median `median`; the bias's -10 is not a matrix). The Linear layers have larger
/// stds than any tanh, so a ratio that took them would be off.
fn record(step: u64, act: f64, grad: f64, sat: f64, median: f64) -> DiagnosticRecord {
    let tanh = || LayerKind::activation("Tanh", Saturation::Tanh);
    DiagnosticRecord {
        step,
        loss: 2.5,
        lr: 0.1,
        layers: vec![
            layer(0, LayerKind::Linear, 10.0, 10.0, None),
            layer(1, tanh(), 2.0, 0.5, Some(sat / 2.0)),
            layer(2, LayerKind::Linear, 11.0, 12.0, None),
            layer(3, tanh(), 7.0, 3.0, Some(sat)),
            layer(4, LayerKind::Linear, 13.0, 14.0, None),
            layer(5, tanh(), 2.0 * act, 0.5 * grad, Some(0.0)),
            layer(6, LayerKind::Linear, 15.0, 16.0, None),
        ],
        params: vec![
            param("blocks.0.linear.weight", &[30, 10], median - 1.0),
            param("blocks.1.linear.weight", &[10, 10], median + 0.5),
            param("blocks.2.linear.weight", &[10, 10], median),
            param("output.bias", &[27], -10.0),
        ],
        expected_loss: (step == 0).then_some(3.3),
        rescaled_loss: (step == 0).then_some(3.3),
        saturation_threshold: None,
    }
}

fn dir_name(index: usize) -> String {
    let (combo, slot) = (index / 3, index % 3);
    format!(
        "cells/lr={},bs={},seed={}",
        LR[combo / 3],
        BS[combo % 3],
        SEEDS[slot]
    )
}

fn labels(index: usize) -> Vec<String> {
    let combo = index / 3;
    vec![LR[combo / 3].into(), BS[combo % 3].into()]
}

/// A fresh directory under Cargo's scratch space for integration tests.
fn scratch(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Writes the plan (by hand, as `Plan::write` would) and every cell's files; returns the
/// sweep directory.
fn write_sweep(name: &str) -> PathBuf {
    let dir = scratch(name);
    let cells: Vec<serde_json::Value> = (0..18)
        .map(|i| {
            serde_json::json!({
                "index": i,
                "dir": dir_name(i),
                "labels": labels(i),
                "seed": SEEDS[i % 3],
                "config": "",
            })
        })
        .collect();
    let plan = serde_json::json!({
        "format": 1,
        "name": "grid <a> & b",
        "description": "hand-written",
        "file": "grid.toml",
        "data": "names.txt",
        "axes": [
            {"name": "lr", "keys": ["train.lr"], "labels": LR},
            {"name": "bs", "keys": ["train.batch_size"], "labels": BS},
        ],
        "seeds": SEEDS,
        "heatmap": ["lr", "bs"],
        "cells": cells,
    });
    std::fs::write(
        dir.join("sweep-plan.json"),
        serde_json::to_string_pretty(&plan).unwrap(),
    )
    .unwrap();
    for (i, cell) in fixture().into_iter().enumerate() {
        let cell_dir = dir.join(dir_name(i));
        match cell {
            Cell::Missing => continue,
            Cell::Failed => record_failure(
                &cell_dir,
                &FailedRecord {
                    error: "bad <value> & worse".into(),
                    log: Some("slurm-8.err".into()),
                },
            )
            .unwrap(),
            Cell::Diverged(step) => {
                std::fs::create_dir_all(&cell_dir).unwrap();
                let record = DivergedRecord {
                    step,
                    lr: 0.1,
                    loss: "inf".into(),
                    culprit: "layer 5 (Tanh)".into(),
                };
                std::fs::write(
                    cell_dir.join(DIVERGED),
                    serde_json::to_string(&record).unwrap(),
                )
                .unwrap();
            }
            Cell::Done { val, stats, report } => {
                std::fs::create_dir_all(&cell_dir).unwrap();
                let s = RunSummary {
                    first_loss: 3.25,
                    final_loss: val,
                    expected_first_loss: 3.3,
                    train_loss: val - 0.125,
                    val_loss: val,
                    test_loss: val,
                    steps: 10,
                    seconds: 1.5 + i as f64,
                    us_per_step: 100.0,
                    backend: "flex".into(),
                    seed: SEEDS[i % 3],
                    parameters: 1000,
                    vocab_size: 27,
                    run_dir: None,
                };
                std::fs::write(
                    cell_dir.join("summary.json"),
                    serde_json::to_string(&s).unwrap(),
                )
                .unwrap();
                if let Some(st) = stats {
                    // Step 0 and a middle step with other values, so that a statistic read
                    // from the wrong record is off.
                    let lines = [
                        record(0, st.init, 8.0, 0.0625, -6.0),
                        record(5, 9.0, 9.0, 0.9375, -0.5),
                        record(10, st.act, st.grad, st.sat, st.median),
                    ]
                    .map(|r| serde_json::to_string(&r).unwrap());
                    std::fs::write(cell_dir.join("diagnostics.jsonl"), lines.join("\n") + "\n")
                        .unwrap();
                }
                if report {
                    std::fs::write(cell_dir.join("report.html"), "<!DOCTYPE html>").unwrap();
                }
            }
        }
    }
    dir
}

fn row(c: &Collected, index: usize) -> &CellRow {
    c.cells.iter().find(|r| r.index == index).unwrap()
}

#[test]
fn cell_rows_read_summaries_diagnostics_and_divergence() {
    let dir = write_sweep("collect-rows");
    let c = collect(&dir).unwrap();
    // Done: A 3 + B 3 (one diverged) + C 1 + D 3 (diverged) + F 2 = 12, in index order.
    let done: Vec<usize> = c.cells.iter().map(|r| r.index).collect();
    assert_eq!(done, [0, 1, 2, 3, 4, 5, 6, 9, 10, 11, 15, 16]);
    assert_eq!(
        c.missing,
        [7, 12, 13, 14, 17].map(|i| (i, dir_name(i))).to_vec()
    );
    assert_eq!(c.failed.len(), 1);
    assert_eq!(c.failed[0].index, 8);
    assert_eq!(c.failed[0].dir, dir_name(8));
    assert_eq!(c.failed[0].error, "bad <value> & worse");
    assert_eq!(c.failed[0].log.as_deref(), Some("slurm-8.err"));

    // Cell 1 (A, seed 2): step 10's activation std 2 * 0.5 over the first tanh's 2 = 0.5; its
    // gradient std 0.5 * 2 over 0.5 = 2; step 0's 2 * 0.75 / 2 = 0.75; saturation max(0.25,
    // 0.5, 0) = 0.5; matrices -3.5, -2, -2.5 -> sorted -3.5, -2.5, -2 -> median -2.5.
    let r = row(&c, 1);
    assert_eq!(r.dir, dir_name(1));
    assert_eq!(r.labels, ["0.1", "16"]);
    assert_eq!(r.seed, 2);
    assert!(!r.diverged);
    assert_eq!(r.diverged_at, None);
    assert_eq!(r.first_loss, Some(3.25));
    assert_eq!(r.train_loss, Some(2.375));
    assert_eq!(r.val_loss, Some(2.5));
    assert_eq!(r.seconds, Some(2.5));
    assert_eq!(r.act_std_ratio, Some(0.5));
    assert_eq!(r.grad_std_ratio, Some(2.0));
    assert_eq!(r.init_act_std_ratio, Some(0.75));
    assert_eq!(r.max_saturation, Some(0.5));
    assert_eq!(r.median_log10_update, Some(-2.5));
    assert_eq!(r.report, None);
    assert_eq!(
        row(&c, 0).report.as_deref(),
        Some("cells/lr=0.1,bs=16,seed=1/report.html")
    );

    // A diverged cell has its step and no numbers.
    let d = row(&c, 4);
    assert!(d.diverged);
    assert_eq!(d.diverged_at, Some(40));
    assert_eq!(d.labels, ["0.1", "32"]);
    assert_eq!(
        (d.val_loss, d.train_loss, d.first_loss, d.seconds),
        (None, None, None, None)
    );
    assert_eq!((d.act_std_ratio, d.grad_std_ratio), (None, None));
    assert!(d.advice.is_empty());
    assert_eq!(row(&c, 11).diverged_at, Some(9));

    // A cell without diagnostics.jsonl has losses but no statistics.
    let n = row(&c, 16);
    assert_eq!(n.val_loss, Some(3.0));
    assert_eq!(
        (
            n.act_std_ratio,
            n.init_act_std_ratio,
            n.grad_std_ratio,
            n.max_saturation,
            n.median_log10_update
        ),
        (None, None, None, None, None)
    );
}

#[test]
fn combinations_are_means_and_spreads_over_their_seeds() {
    let dir = write_sweep("collect-combos");
    let c = collect(&dir).unwrap();
    assert_eq!(c.combos.len(), 6);
    let labels: Vec<Vec<String>> = c.combos.iter().map(|k| k.labels.clone()).collect();
    assert_eq!(
        labels,
        (0..6).map(|k| self::labels(3 * k)).collect::<Vec<_>>()
    );
    for k in &c.combos {
        // Every rule any run of the combination got, sorted, once.
        let mut advice: Vec<String> = c
            .cells
            .iter()
            .filter(|r| r.labels == k.labels)
            .flat_map(|r| r.advice.clone())
            .collect();
        advice.sort();
        advice.dedup();
        assert_eq!(k.advice, advice, "{:?}", k.labels);
    }

    // A, three seeds: val 2, 2.5, 3 -> mean 7.5 / 3 = 2.5; deviations -0.5, 0, 0.5, squares sum
    // 0.5, over n - 1 = 2: 0.25, sqrt: 0.5 (over n it would be sqrt(1/6) = 0.408).
    // init (0.5 + 0.75 + 1) / 3 = 0.75; act (0.25 + 0.5 + 0.75) / 3 = 0.5; grad (4 + 2 + 3) / 3
    // = 3; saturation (0.25 + 0.5 + 0.75) / 3 = 0.5; median (-3 - 2.5 - 2) / 3 = -2.5.
    let a = &c.combos[0];
    assert_eq!((a.runs, a.diverged), (3, 0));
    assert_eq!(a.val_loss, Some(2.5));
    assert_eq!(a.val_spread, Some(0.5));
    assert_eq!(a.init_act_std_ratio, Some(0.75));
    assert_eq!(a.act_std_ratio, Some(0.5));
    assert_eq!(a.grad_std_ratio, Some(3.0));
    assert_eq!(a.max_saturation, Some(0.5));
    assert_eq!(a.median_log10_update, Some(-2.5));
    assert_eq!(
        a.report.as_deref(),
        Some("cells/lr=0.1,bs=16,seed=1/report.html")
    );

    // B, seed 2 diverged: 3 runs, 1 diverged; the means are over seeds 1 and 3 only.
    // val (2 + 2.5) / 2 = 2.25; deviations -0.25, 0.25, squares sum 0.125, over n - 1 = 1:
    // spread sqrt(0.125) = 0.35355... (over n: sqrt(0.0625) = 0.25). init (0.5 + 1) / 2 = 0.75;
    // act (0.5 + 1.5) / 2 = 1; grad (1 + 2) / 2 = 1.5; saturation (0.25 + 0.75) / 2 = 0.5;
    // median (-3 - 2) / 2 = -2.5. The report is the first run's that has one: seed 3's.
    let b = &c.combos[1];
    assert_eq!((b.runs, b.diverged), (3, 1));
    assert_eq!(b.val_loss, Some(2.25));
    assert_eq!(b.val_spread, Some(0.125f64.sqrt()));
    assert!((b.val_spread.unwrap() - 0.353_553_390_593_273_7).abs() < 1e-15);
    assert_eq!(b.init_act_std_ratio, Some(0.75));
    assert_eq!(b.act_std_ratio, Some(1.0));
    assert_eq!(b.grad_std_ratio, Some(1.5));
    assert_eq!(b.max_saturation, Some(0.5));
    assert_eq!(b.median_log10_update, Some(-2.5));
    assert_eq!(
        b.report.as_deref(),
        Some("cells/lr=0.1,bs=32,seed=3/report.html")
    );

    // C, seed 2 missing and seed 3 failed: one run, its own values, no spread from one value.
    let k = &c.combos[2];
    assert_eq!((k.runs, k.diverged), (1, 0));
    assert_eq!((k.val_loss, k.val_spread), (Some(3.0), None));
    assert_eq!(
        (
            k.init_act_std_ratio,
            k.act_std_ratio,
            k.grad_std_ratio,
            k.max_saturation,
            k.median_log10_update
        ),
        (Some(0.5), Some(2.0), Some(0.5), Some(0.0), Some(-3.5))
    );

    // D, every seed diverged, and E, nothing run: no numbers at all.
    for (k, runs, diverged) in [(&c.combos[3], 3, 3), (&c.combos[4], 0, 0)] {
        assert_eq!((k.runs, k.diverged), (runs, diverged), "{:?}", k.labels);
        assert_eq!(
            (
                k.val_loss,
                k.val_spread,
                k.init_act_std_ratio,
                k.act_std_ratio,
                k.grad_std_ratio,
                k.max_saturation,
                k.median_log10_update
            ),
            (None, None, None, None, None, None, None),
            "{:?}",
            k.labels
        );
        assert!(k.advice.is_empty() && k.report.is_none());
    }

    // F, two runs, one without diagnostics: val (2 + 3) / 2 = 2.5, spread sqrt((0.25 + 0.25)
    // / 1) = sqrt(0.5); each statistic is the one run's that has it, not halved by the other.
    let f = &c.combos[5];
    assert_eq!((f.runs, f.diverged), (2, 0));
    assert_eq!(f.val_loss, Some(2.5));
    assert_eq!(f.val_spread, Some(0.5f64.sqrt()));
    assert_eq!(
        (
            f.init_act_std_ratio,
            f.act_std_ratio,
            f.grad_std_ratio,
            f.max_saturation,
            f.median_log10_update
        ),
        (Some(2.0), Some(4.0), Some(0.25), Some(1.0), Some(-1.0))
    );

    // The table shows the same numbers: mean ± spread, the diverged count, step 0 -> end.
    let table = c.table();
    assert!(
        table.contains("| 0.1 | 16 | 3 | 2.5000 ± 0.5000 | 50.0% | 0.75 -> 0.50 | 3.00 | -2.50 |"),
        "{table}"
    );
    assert!(
        table.contains(
            "| 0.1 | 32 | 3 (1 diverged) | 2.2500 ± 0.3536 | 50.0% | 0.75 -> 1.00 | 1.50 | -2.50 |"
        ),
        "{table}"
    );
    assert!(
        table.contains("| 0.01 | 16 | 3 (3 diverged) | - | - | - -> - | - | - | - |"),
        "{table}"
    );
    assert!(
        table.contains(
            "failed: cell 8 (cells/lr=0.1,bs=64,seed=3): bad <value> & worse (log: slurm-8.err)"
        ),
        "{table}"
    );
    assert!(
        table.contains("5 of 18 cells not done yet (indices 7, 12, 13, 14, 17)"),
        "{table}"
    );
}

/// The text between the first `start` in `s` and the next `end`.
fn between<'a>(s: &'a str, start: &str, end: &str) -> &'a str {
    let at = s.find(start).unwrap_or_else(|| panic!("no {start:?}")) + start.len();
    let len = s[at..].find(end).unwrap_or_else(|| panic!("no {end:?}"));
    &s[at..at + len]
}

/// One heatmap cell: the report it links to, its fill, its tooltip and its text.
#[derive(Debug, PartialEq)]
struct HeatCell {
    href: Option<String>,
    fill: String,
    tip: String,
    text: String,
}

/// The cells of the first heatmap in `section`, row by row.
fn heat_cells(section: &str) -> Vec<HeatCell> {
    let parts: Vec<&str> = section.split("<rect ").collect();
    parts
        .windows(2)
        .map(|w| HeatCell {
            href: w[0]
                .strip_suffix("\" class=\"cell\">")
                .and_then(|b| b.rsplit_once("<a href=\""))
                .map(|(_, h)| h.to_string()),
            fill: between(w[1], "fill=\"", "\"").to_string(),
            tip: between(w[1], "<title>", "</title>").to_string(),
            text: between(w[1], "</rect><text ", "</text>")
                .split_once('>')
                .map(|(_, t)| t.to_string())
                .unwrap(),
        })
        .collect()
}

#[test]
fn html_marks_missing_and_diverged_cells_in_one_self_contained_file() {
    let dir = write_sweep("collect-html");
    let c = collect(&dir).unwrap();
    c.write(&dir).unwrap();
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join(SWEEP_JSON)).unwrap()).unwrap();
    assert_eq!(json["combos"].as_array().unwrap().len(), 6);
    let html = std::fs::read_to_string(dir.join(SWEEP_HTML)).unwrap();

    // One self-contained document: no scripts, styles, images or fonts from elsewhere; the
    // only URL is SVG's namespace; every link is a report inside the sweep directory.
    assert!(html.starts_with("<!DOCTYPE html><html lang=\"en\">"));
    assert!(html.ends_with("</html>\n"));
    assert_eq!(html.matches("<html").count(), 1);
    assert_eq!(html.matches("</body>").count(), 1);
    for outside in [
        "<script", "<link", "<img", "<iframe", "src=", "url(", "@import",
    ] {
        assert!(!html.contains(outside), "{outside}");
    }
    assert!(!html
        .replace("http://www.w3.org/2000/svg", "")
        .contains("http"));
    let hrefs: Vec<&str> = html
        .split("href=\"")
        .skip(1)
        .map(|s| &s[..s.find('"').unwrap()])
        .collect();
    // A's and B's reports, in each of the six metrics' heatmaps.
    assert_eq!(hrefs.len(), 12);
    for h in &hrefs {
        assert!(h.starts_with("cells/") && !h.contains(".."), "{h}");
        assert!(dir.join(h).is_file(), "{h}");
    }
    assert!(html.contains("<h1>Sweep: grid &lt;a&gt; &amp; b</h1>"));
    assert!(html.contains("<p>12 cells done of 18; seeds 1, 2, 3."));

    // The cells not run are named; the failed one with its (escaped) error and log.
    assert!(html.contains(
        "<p id=\"missing\">Not done yet: 7 (cells/lr=0.1,bs=64,seed=2), 12 (cells/lr=0.01,bs=32,seed=1), \
         13 (cells/lr=0.01,bs=32,seed=2), 14 (cells/lr=0.01,bs=32,seed=3), 17 (cells/lr=0.01,bs=64,seed=3).</p>"
    ), "{html}");
    assert!(html.contains(
        "<ul id=\"failed\"><li>Failed: cell 8 (cells/lr=0.1,bs=64,seed=3): bad &lt;value&gt; &amp; worse; \
         log: <code>slurm-8.err</code></li></ul>"
    ));

    // The validation-loss heatmap, rows lr = 0.1, 0.01, columns bs = 16, 32, 64: only D, all of
    // whose runs diverged, is marked diverged (grey); B, one of three diverged, shows its mean;
    // E, never run, is blank; each tooltip counts the runs and the diverged ones.
    let section = between(&html, "<section id=\"heatmap-val_loss\"", "</section>");
    let cells = heat_cells(section);
    let tip = |k: usize, head: &str| {
        head.to_string()
            + &c.combos[k]
                .advice
                .iter()
                .map(|a| format!("; {a}"))
                .collect::<String>()
    };
    let expected = [
        (
            Some("cells/lr=0.1,bs=16,seed=1/report.html"),
            "2.500",
            "3 runs, 0 diverged",
        ),
        (
            Some("cells/lr=0.1,bs=32,seed=3/report.html"),
            "2.250",
            "3 runs, 1 diverged",
        ),
        (None, "3.000", "1 runs, 0 diverged"),
        (None, "diverged", "3 runs, 3 diverged"),
        (None, "-", "0 runs, 0 diverged"),
        (None, "2.500", "2 runs, 0 diverged"),
    ];
    assert_eq!(cells.len(), expected.len(), "{section}");
    for (k, (cell, (href, text, head))) in cells.iter().zip(expected).enumerate() {
        assert_eq!(cell.href.as_deref(), href, "combination {k}");
        assert_eq!(cell.text, text, "combination {k}");
        assert_eq!(cell.tip, tip(k, head), "combination {k}");
        match text {
            "diverged" => assert_eq!(cell.fill, "#777"),
            "-" => assert_eq!(cell.fill, "#eee"),
            _ => assert!(cell.fill != "#777" && cell.fill != "#eee", "{}", cell.fill),
        }
    }
    // D is marked diverged in every metric's heatmap, and nothing else is.
    assert_eq!(html.matches(">diverged</text>").count(), 6);
    // E has no value in any heatmap (the lines skip it too).
    for id in [
        "val_loss",
        "max_saturation",
        "init_act_std_ratio",
        "act_std_ratio",
        "grad_std_ratio",
        "median_log10_update",
    ] {
        let section = between(
            &html,
            &format!("<section id=\"heatmap-{id}\""),
            "</section>",
        );
        let cells = heat_cells(section);
        assert_eq!(cells.len(), 6, "{id}");
        assert_eq!(
            (cells[3].fill.as_str(), cells[3].text.as_str()),
            ("#777", "diverged"),
            "{id}"
        );
        assert_eq!(
            (cells[4].fill.as_str(), cells[4].text.as_str()),
            ("#eee", "-"),
            "{id}"
        );
    }
}

/// A synthetic sweep directory: a plan of `axes` (name, number of labels) x `seeds`, written
/// with [`Plan::write`], in which cell `i` is done, diverged, failed or not run as
/// [`synthetic_state`] says, a done cell has a `report.html` when `i` is a multiple of
/// `2 * every`, and its validation loss is [`synthetic_val`]. Axis `n`'s labels are `n0`, `n1`,
/// ...
fn synthetic(
    name: &str,
    axes: &[(&str, usize)],
    seeds: &[u64],
    heatmap: &[&str],
    every: usize,
) -> PathBuf {
    let dir = scratch(name);
    let combos: usize = axes.iter().map(|a| a.1).product();
    let mut cells = Vec::with_capacity(combos * seeds.len());
    for k in 0..combos {
        // Mixed-radix digits of k, the last axis fastest, as the plan orders them.
        let (mut rest, mut labels) = (k, vec![String::new(); axes.len()]);
        for (l, (n, size)) in labels.iter_mut().zip(axes).rev() {
            *l = format!("{n}{}", rest % size);
            rest /= size;
        }
        for &seed in seeds {
            let at: Vec<String> = axes
                .iter()
                .zip(&labels)
                .map(|((n, _), l)| format!("{n}={l}"))
                .chain([format!("seed={seed}")])
                .collect();
            cells.push(makemore_sweep::Cell {
                index: cells.len(),
                dir: format!("cells/{}", at.join(",")),
                labels: labels.clone(),
                seed,
                config: String::new(),
            });
        }
    }
    // The fields other than the cells from JSON, as a plan file holds them (`PlanAxis` is not
    // exported by name, and fields a plan may leave out stay out).
    let mut plan: Plan = serde_json::from_value(serde_json::json!({
        "format": 1,
        "name": name,
        "description": "synthetic",
        "file": "synthetic.toml",
        "data": "names.txt",
        "axes": axes
            .iter()
            .map(|(n, size)| {
                serde_json::json!({
                    "name": n,
                    "keys": [format!("key.{n}")],
                    "labels": (0..*size).map(|i| format!("{n}{i}")).collect::<Vec<_>>(),
                })
            })
            .collect::<Vec<_>>(),
        "seeds": seeds,
        "heatmap": heatmap,
        "cells": [],
    }))
    .unwrap();
    plan.cells = cells;
    plan.write(&dir).unwrap();
    for c in &plan.cells {
        let (i, cell_dir) = (c.index, dir.join(&c.dir));
        let (done, diverged, failed) = synthetic_state(i, every);
        if done {
            std::fs::create_dir_all(&cell_dir).unwrap();
            let val = synthetic_val(i);
            let s = RunSummary {
                first_loss: 3.25,
                final_loss: val,
                expected_first_loss: 3.3,
                train_loss: val,
                val_loss: val,
                test_loss: val,
                steps: 10,
                seconds: 1.0,
                us_per_step: 100.0,
                backend: "flex".into(),
                seed: c.seed,
                parameters: 1000,
                vocab_size: 27,
                run_dir: None,
            };
            let text = serde_json::to_string(&s).unwrap();
            std::fs::write(cell_dir.join("summary.json"), text).unwrap();
            if i.is_multiple_of(2 * every) {
                std::fs::write(cell_dir.join("report.html"), "<!DOCTYPE html>").unwrap();
            }
        } else if diverged {
            std::fs::create_dir_all(&cell_dir).unwrap();
            let record = DivergedRecord {
                step: 3,
                lr: 0.1,
                loss: "inf".into(),
                culprit: "layer 5 (Tanh)".into(),
            };
            let text = serde_json::to_string(&record).unwrap();
            std::fs::write(cell_dir.join(DIVERGED), text).unwrap();
        } else if failed {
            let record = FailedRecord {
                error: format!("bad value {i}"),
                log: None,
            };
            record_failure(&cell_dir, &record).unwrap();
        }
    }
    dir
}

/// The validation loss of done cell `index` of a [`synthetic`] sweep.
fn synthetic_val(index: usize) -> f64 {
    2.0 + (index % 37) as f64 / 64.0
}

/// `collect` and `write` on a [`synthetic`] sweep, timed (printed, not asserted: run with
/// `cargo test --release -p makemore-sweep --test collect -- --ignored --nocapture`).
#[test]
#[ignore = "a timing to read, not a check"]
fn time_collect_at_10k_and_100k_cells() {
    // Two seeds (half as many combinations as cells) and one (as many).
    let layouts: [(&str, usize, &[u64]); 4] = [
        ("time-10k-2-seeds", 2, &[1, 2]),
        ("time-10k-1-seed", 4, &[1]),
        ("time-100k-2-seeds", 20, &[1, 2]),
        ("time-100k-1-seed", 40, &[1]),
    ];
    for (name, d, seeds) in layouts {
        let axes = [("a", 10), ("b", 10), ("c", 25), ("d", d)];
        let dir = synthetic(name, &axes, seeds, &["a", "b"], 101);
        let start = std::time::Instant::now();
        let c = collect(&dir).unwrap();
        let collected = start.elapsed();
        c.write(&dir).unwrap();
        let total = start.elapsed();
        let table = c.table();
        let size = |f: &str| std::fs::metadata(dir.join(f)).unwrap().len();
        eprintln!(
            "{name}: {} cells: collect {:.2} s, collect + write {:.2} s; sweep.html {} bytes, sweep.json {} bytes, table {} lines",
            c.cells.len() + c.failed.len() + c.missing.len(),
            collected.as_secs_f64(),
            total.as_secs_f64(),
            size(SWEEP_HTML),
            size(SWEEP_JSON),
            table.lines().count()
        );
    }
}

/// What a [`synthetic`] sweep's cell `i` holds, `(done, diverged, failed)`: done when `i` is a
/// multiple of `every`, else diverged when `i % 503 == 7`, else failed when `i % 401 == 3`, else
/// nothing (not run).
fn synthetic_state(i: usize, every: usize) -> (bool, bool, bool) {
    let done = i.is_multiple_of(every);
    let diverged = !done && i % 503 == 7;
    let failed = !done && !diverged && i % 401 == 3;
    (done, diverged, failed)
}

/// One self-contained document whose every link is a report inside `dir`.
fn assert_self_contained(html: &str, dir: &Path) {
    assert!(html.starts_with("<!DOCTYPE html><html lang=\"en\">"));
    assert!(html.ends_with("</html>\n"));
    for outside in [
        "<script", "<link", "<img", "<iframe", "src=", "url(", "@import",
    ] {
        assert!(!html.contains(outside), "{outside}");
    }
    assert!(!html
        .replace("http://www.w3.org/2000/svg", "")
        .contains("http"));
    for h in html
        .split("href=\"")
        .skip(1)
        .map(|s| &s[..s.find('"').unwrap()])
    {
        assert!(h.starts_with("cells/") && !h.contains(".."), "{h}");
        assert!(dir.join(h).is_file(), "{h}");
    }
}

/// The largest plan (`MAX_CELLS` = 100,000 cells: 10 x 10 x 25 x 20 combinations x 2 seeds), a
/// hundredth of it done: collected and written whole to `sweep.json`, while the page and the
/// table show a bounded part and say so.
#[test]
fn a_sweep_of_100k_cells_is_collected_whole_and_shown_in_part() {
    let every = 101;
    let axes = [("a", 10), ("b", 10), ("c", 25), ("d", 20)];
    let dir = synthetic("collect-100k", &axes, &[1, 2], &["a", "b"], every);
    let c = collect(&dir).unwrap();
    let plan = Plan::read(&dir).unwrap();
    let n = 100_000;
    let states: Vec<(bool, bool, bool)> = (0..n).map(|i| synthetic_state(i, every)).collect();
    let done = states.iter().filter(|s| s.0 || s.1).count();
    let failed = states.iter().filter(|s| s.2).count();
    assert_eq!(c.cells.len(), done);
    assert_eq!(c.failed.len(), failed);
    assert_eq!(c.missing.len(), n - done - failed);
    assert!(c.cells.windows(2).all(|w| w[0].index < w[1].index));

    // Every combination (seeds 1 and 2: cells 2k and 2k + 1) against the rules of the fixture.
    assert_eq!(c.combos.len(), n / 2);
    for (k, combo) in c.combos.iter().enumerate() {
        let runs: Vec<usize> = [2 * k, 2 * k + 1]
            .into_iter()
            .filter(|&i| states[i].0 || states[i].1)
            .collect();
        let vals: Vec<f64> = runs
            .iter()
            .filter(|&&i| states[i].0)
            .map(|&i| synthetic_val(i))
            .collect();
        assert_eq!(combo.labels, plan.cells[2 * k].labels, "combination {k}");
        assert_eq!(combo.runs, runs.len(), "combination {k}");
        assert_eq!(combo.diverged, runs.len() - vals.len(), "combination {k}");
        let mean = (!vals.is_empty()).then(|| vals.iter().sum::<f64>() / vals.len() as f64);
        assert_eq!(combo.val_loss, mean, "combination {k}");
        let report = (2 * k)
            .is_multiple_of(2 * every)
            .then(|| format!("{}/report.html", plan.cells[2 * k].dir));
        assert_eq!(combo.report, report, "combination {k}");
    }

    c.write(&dir).unwrap();
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join(SWEEP_JSON)).unwrap()).unwrap();
    let len = |k: &str| json[k].as_array().unwrap().len();
    assert_eq!(
        (len("cells"), len("combos"), len("failed"), len("missing")),
        (done, n / 2, failed, n - done - failed)
    );

    // Each metric shows at most 1,000 heatmap cells (a cell's markup is under 300 bytes and its
    // link under 60 here), the lines at most 21 series of 100 points and the lists at most 1,000
    // cells each (under 80 bytes a missing one, 120 a failed one): about 6 x 1,000 x 360 +
    // 1,000 x 200 bytes = 2.4 MB at most. The page before the cuts was 59 MB.
    let html = std::fs::read_to_string(dir.join(SWEEP_HTML)).unwrap();
    assert!(html.len() < 2_500_000, "{} bytes", html.len());
    assert_self_contained(&html, &dir);
    let note = between(&html, "<p id=\"truncated\">", "</p>");
    for part in [
        format!("the first 1000 of {} cells not done yet", c.missing.len()).as_str(),
        "heatmaps: first the mean over every c, d (500 combinations), then 9 of the 500 heatmaps",
        "All rows are in sweep.json.",
    ] {
        assert!(note.contains(part), "{part}: {note}");
    }
    assert!(html.contains(&format!(
        ", and {} more (all in sweep.json).</p>",
        c.missing.len() - 1000
    )));
    for m in [
        "val_loss",
        "max_saturation",
        "init_act_std_ratio",
        "act_std_ratio",
        "grad_std_ratio",
        "median_log10_update",
    ] {
        let section = between(&html, &format!("<section id=\"heatmap-{m}\""), "</section>");
        assert!(section.contains("All rows are in sweep.json."), "{m}");
        // The mean and 9 of the 500 heatmaps of 10 x 10 cells.
        assert_eq!(section.matches("<rect ").count(), 1_000, "{m}");
        assert_eq!(section.matches("<figure").count(), 10, "{m}");
    }

    // The mean heatmap's cell a = a3, b = b7: the mean of the 500 combinations' means.
    let section = between(&html, "<section id=\"heatmap-val_loss\"", "</section>");
    let cell = &heat_cells(section)[3 * 10 + 7];
    let pooled: Vec<_> = c
        .combos
        .iter()
        .filter(|k| k.labels[0] == "a3" && k.labels[1] == "b7")
        .collect();
    assert_eq!(pooled.len(), 500);
    let vals: Vec<f64> = pooled.iter().filter_map(|k| k.val_loss).collect();
    let mean = vals.iter().sum::<f64>() / vals.len() as f64;
    assert_eq!(cell.text, format!("{mean:.3}"));
    let runs: usize = pooled.iter().map(|k| k.runs).sum();
    let diverged: usize = pooled.iter().map(|k| k.diverged).sum();
    assert_eq!(
        cell.tip,
        format!("{runs} runs, {diverged} diverged; mean of 500 combinations of c, d")
    );
    // The first heatmap after it is c = c0, d = d0's, as when every heatmap is shown.
    assert!(section.contains("<figcaption>mean over every c, d</figcaption>"));
    assert!(section.contains("<figcaption>c = c0, d = d0</figcaption>"));

    let table = c.table();
    assert!(table.lines().count() < 250, "{}", table.lines().count());
    assert!(table.contains(
        "showing 200 of 50000 combinations (the first in plan order); all rows are in sweep.json"
    ));
    assert!(table.contains(&format!(
        "showing 20 of {failed} failed cells; all are in sweep.json"
    )));
}

/// Heatmap axes of more values than a heatmap shows (120 rows, 30 columns) and more lines than
/// the plot shows (30 of 120 points): the first rows, columns, lines and points, their values
/// right, the mean of every line, and notes that say what is left out.
#[test]
fn a_wide_sweep_shows_its_first_rows_columns_and_lines() {
    let dir = synthetic(
        "collect-wide",
        &[("x", 120), ("y", 30)],
        &[1],
        &["x", "y"],
        3,
    );
    let c = collect(&dir).unwrap();
    assert_eq!(c.combos.len(), 3_600);
    c.write(&dir).unwrap();
    let html = std::fs::read_to_string(dir.join(SWEEP_HTML)).unwrap();
    assert_self_contained(&html, &dir);
    let note = between(&html, "<p id=\"truncated\">", "</p>");
    assert!(
        note.contains(
            "validation-loss lines: 20 of 30 lines (the first in plan order) and, dashed, the \
             mean of all 30; the first 100 of 120 values of x; heatmaps: the first 40 of 120 \
             values of x; the first 25 of 30 values of y. All rows are in sweep.json."
        ),
        "{note}"
    );

    // One heatmap per metric, of the first 40 x 25: combination (r, j) is r * 30 + j.
    let section = between(&html, "<section id=\"heatmap-val_loss\"", "</section>");
    assert!(section.contains(
        "<p class=\"note\">Showing the first 40 of 120 values of x; the first 25 of 30 values of \
         y. All rows are in sweep.json.</p>"
    ));
    let cells = heat_cells(section);
    assert_eq!(cells.len(), 40 * 25);
    for (n, cell) in cells.iter().enumerate() {
        let k = &c.combos[n / 25 * 30 + n % 25];
        let text = match k.val_loss {
            _ if k.runs > 0 && k.diverged == k.runs => "diverged".to_string(),
            Some(v) => format!("{v:.3}"),
            None => "-".to_string(),
        };
        assert_eq!(cell.text, text, "heatmap cell {n}");
        assert_eq!(
            cell.tip,
            format!("{} runs, {} diverged", k.runs, k.diverged),
            "heatmap cell {n}"
        );
    }

    // 20 lines of at most 100 points, the dashed mean of all 30 (one point per shown x value
    // that has a value) and a legend entry each.
    let lines = between(&html, "<figure id=\"lines\">", "</figure>");
    let polylines: Vec<&str> = lines.split("<polyline ").skip(1).collect();
    assert_eq!(polylines.len(), 21);
    for p in &polylines {
        let points = between(p, "points=\"", "\"");
        assert!(points.split(' ').count() <= 100, "{p}");
    }
    assert!(polylines[0].contains("<title>y=y0</title>"));
    assert!(polylines[19].contains("<title>y=y19</title>"));
    assert!(polylines[20].contains("stroke-dasharray=\"6 3\""));
    assert!(polylines[20].contains("<title>mean of all 30</title>"));
    assert_eq!(
        between(polylines[20], "points=\"", "\"").split(' ').count(),
        (0..100)
            .filter(|&x| c.combos[x * 30..x * 30 + 30]
                .iter()
                .any(|k| k.val_loss.is_some()))
            .count()
    );
    assert!(lines.contains(
        "Showing 20 of 30 lines (the first in plan order) and, dashed, the mean of all 30; the \
         first 100 of 120 values of x. All rows are in sweep.json.</figcaption>"
    ));
}
