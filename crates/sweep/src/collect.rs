//! Collecting a sweep: each cell's result from its run directory, the mean over seeds of each
//! combination, `sweep.json`, a text table and `sweep.html`.

use crate::cell::{is_done, DivergedRecord, FailedRecord, DIVERGED, FAILED};
use crate::plan::Plan;
use crate::SweepError;
use makemore_diagnostics::{advise, AdviceConfig, DiagnosticRecord};
use makemore_model::RunConfig;
use makemore_train::run_dir::{CONFIG, DIAGNOSTICS, REPORT, SUMMARY};
use makemore_train::RunSummary;
use serde::Serialize;
use std::collections::HashMap;
use std::path::Path;

/// `sweep.json`: a row per cell.
pub const SWEEP_JSON: &str = "sweep.json";
/// `sweep.html`: the heatmaps and curves.
pub const SWEEP_HTML: &str = "sweep.html";

/// One cell's result.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CellRow {
    /// Its index in the plan.
    pub index: usize,
    /// Its run directory, relative to the sweep's.
    pub dir: String,
    /// Its label on each axis, in axis order.
    pub labels: Vec<String>,
    /// Its seed.
    pub seed: u64,
    /// Whether training diverged (then the losses and statistics are `null`).
    pub diverged: bool,
    /// The step it diverged at.
    pub diverged_at: Option<u64>,
    /// Loss of the first step.
    pub first_loss: Option<f64>,
    /// Train and validation loss at the end.
    pub train_loss: Option<f64>,
    /// Validation loss at the end.
    pub val_loss: Option<f64>,
    /// Largest share of saturated units in any squashing layer, at the last recorded step.
    pub max_saturation: Option<f64>,
    /// Std of the last activation layer's output over the first's, at the last recorded step:
    /// 1 keeps the scale through the depth, far from 1 means it grows or shrinks.
    pub act_std_ratio: Option<f64>,
    /// The same at step 0, before any training: what the initialization alone does.
    pub init_act_std_ratio: Option<f64>,
    /// [`max_saturation`](Self::max_saturation) at step 0: a stack saturated from the start
    /// keeps its std near 1 in every layer, which the ratios cannot show.
    pub init_max_saturation: Option<f64>,
    /// Std of the gradient at the last activation layer (next to the output) over the first's
    /// (next to the input), at the last recorded step: below 1 the gradient is smaller next to
    /// the output, so it grows as it flows back toward the input; above 1 it shrinks (vanishes)
    /// flowing back.
    pub grad_std_ratio: Option<f64>,
    /// Median over the weight matrices of log10(update std / weight std) (lecture: about -3).
    pub median_log10_update: Option<f64>,
    /// The rules of the advice at the end (`saturation`, `update_ratio`, ...).
    pub advice: Vec<String>,
    /// Training time in seconds.
    pub seconds: Option<f64>,
    /// The cell's report, relative to the sweep directory.
    pub report: Option<String>,
}

impl CellRow {
    /// A cell's row before anything of its run is read: no losses, statistics or advice.
    fn unread(index: usize, dir: &str, labels: Vec<String>, seed: u64) -> Self {
        CellRow {
            index,
            dir: dir.to_owned(),
            labels,
            seed,
            diverged: false,
            diverged_at: None,
            first_loss: None,
            train_loss: None,
            val_loss: None,
            max_saturation: None,
            act_std_ratio: None,
            init_act_std_ratio: None,
            init_max_saturation: None,
            grad_std_ratio: None,
            median_log10_update: None,
            advice: Vec::new(),
            seconds: None,
            report: None,
        }
    }
}

/// One combination of axis values: the mean over its seeds.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ComboRow {
    /// Its label on each axis.
    pub labels: Vec<String>,
    /// Cells done (of the seeds planned).
    pub runs: usize,
    /// Of them, diverged.
    pub diverged: usize,
    /// Mean validation loss of the runs that did not diverge.
    pub val_loss: Option<f64>,
    /// Its sample standard deviation over seeds.
    pub val_spread: Option<f64>,
    /// Mean of [`CellRow::max_saturation`].
    pub max_saturation: Option<f64>,
    /// Mean of [`CellRow::act_std_ratio`].
    pub act_std_ratio: Option<f64>,
    /// Mean of [`CellRow::init_act_std_ratio`].
    pub init_act_std_ratio: Option<f64>,
    /// Mean of [`CellRow::init_max_saturation`].
    pub init_max_saturation: Option<f64>,
    /// Mean of [`CellRow::grad_std_ratio`].
    pub grad_std_ratio: Option<f64>,
    /// Mean of [`CellRow::median_log10_update`].
    pub median_log10_update: Option<f64>,
    /// Every advice rule any of its runs got.
    pub advice: Vec<String>,
    /// The first seed's report.
    pub report: Option<String>,
}

/// A cell whose last run failed: not a result, rerunning the cell tries again.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FailedCell {
    /// Its index in the plan.
    pub index: usize,
    /// Its run directory, relative to the sweep's.
    pub dir: String,
    /// The error.
    pub error: String,
    /// The failed run's standard-error file (a scheduler's task log), when it wrote to one.
    pub log: Option<String>,
}

/// What a sweep directory holds now.
#[derive(Debug, Clone, Serialize)]
pub struct Collected {
    /// The sweep's name.
    pub name: String,
    /// What it shows.
    pub description: String,
    /// Axis names and their labels, slowest first.
    pub axes: Vec<crate::plan::PlanAxis>,
    /// The seeds.
    pub seeds: Vec<u64>,
    /// The two axes of the heatmaps.
    pub heatmap: Vec<String>,
    /// The cells that are done.
    pub cells: Vec<CellRow>,
    /// A row per combination of axis values.
    pub combos: Vec<ComboRow>,
    /// The cells whose last run failed.
    pub failed: Vec<FailedCell>,
    /// The cells not done yet and not failed: `(index, dir)`.
    pub missing: Vec<(usize, String)>,
}

fn read(path: &Path) -> Result<String, SweepError> {
    std::fs::read_to_string(path).map_err(|e| SweepError::io(path, e))
}

fn finite(x: f64) -> Option<f64> {
    x.is_finite().then_some(x)
}

/// The last activation layer's output std over the first's, and the same for their gradients.
fn depth_ratios(r: &DiagnosticRecord) -> (Option<f64>, Option<f64>) {
    let (Some(first), Some(last)) = (r.activations().next(), r.activations().last()) else {
        return (None, None);
    };
    let grad = match (&first.grad, &last.grad) {
        (Some(a), Some(b)) => finite(b.std / a.std),
        _ => None,
    };
    (
        finite(last.output.summary.std / first.output.summary.std),
        grad,
    )
}

/// The statistics of the last record of a run's `diagnostics.jsonl` (and of step 0).
fn statistics(records: &[DiagnosticRecord], row: &mut CellRow) {
    let Some(last) = records.last() else { return };
    row.max_saturation = last.max_saturation();
    (row.act_std_ratio, row.grad_std_ratio) = depth_ratios(last);
    let first = records.iter().find(|r| r.step == 0);
    row.init_act_std_ratio = first.and_then(|r| depth_ratios(r).0);
    row.init_max_saturation = first.and_then(DiagnosticRecord::max_saturation);
    row.median_log10_update = last.median_log10_update();
    row.advice = advise(first, last, &AdviceConfig::default())
        .into_iter()
        .map(|a| a.rule)
        .collect();
    row.advice.dedup();
}

/// One done cell's row.
/// Refuses a cell whose run was started with another config than the plan gives it (a plan
/// edited after the cell ran): its results would be shown under the wrong values.
fn check_config(plan_dir: &Path, cell: &crate::plan::Cell) -> Result<(), SweepError> {
    let path = plan_dir.join(&cell.dir).join(CONFIG);
    let Ok(saved) = std::fs::read_to_string(&path) else {
        return Ok(()); // not started
    };
    // The plan holds the config as a run saves it; only a text that differs is parsed.
    let same = saved == cell.config
        || RunConfig::from_toml_str(&cell.config, "plan", &[]).is_ok_and(|c| c.to_toml() == saved);
    if same {
        return Ok(());
    }
    Err(SweepError::Plan {
        dir: plan_dir.to_owned(),
        message: format!(
            "cell {} ({}) was trained with another config than the plan now gives it (was {} edited?); restore the plan, or remove the cell's directory and run it again",
            cell.index,
            cell.dir,
            crate::PLAN_FILE
        ),
    })
}

fn cell_row(plan_dir: &Path, cell: &crate::plan::Cell) -> Result<CellRow, SweepError> {
    let dir = plan_dir.join(&cell.dir);
    let mut row = CellRow::unread(cell.index, &cell.dir, cell.labels.clone(), cell.seed);
    let bad = |path: &Path, e: serde_json::Error| SweepError::Plan {
        dir: plan_dir.to_owned(),
        message: format!("{}: {e}", path.display()),
    };
    check_config(plan_dir, cell)?;
    if dir.join(DIVERGED).is_file() {
        let path = dir.join(DIVERGED);
        let d: DivergedRecord = serde_json::from_str(&read(&path)?).map_err(|e| bad(&path, e))?;
        row.diverged = true;
        row.diverged_at = Some(d.step);
        return Ok(row);
    }
    let path = dir.join(SUMMARY);
    let s: RunSummary = serde_json::from_str(&read(&path)?).map_err(|e| bad(&path, e))?;
    row.first_loss = finite(s.first_loss);
    row.train_loss = finite(s.train_loss);
    row.val_loss = finite(s.val_loss);
    row.seconds = Some(s.seconds);
    let path = dir.join(DIAGNOSTICS);
    if path.is_file() {
        let mut records = Vec::new();
        for line in read(&path)?.lines().filter(|l| !l.trim().is_empty()) {
            records
                .push(serde_json::from_str::<DiagnosticRecord>(line).map_err(|e| bad(&path, e))?);
        }
        statistics(&records, &mut row);
    }
    if dir.join(REPORT).is_file() {
        row.report = Some(format!("{}/{REPORT}", cell.dir));
    }
    Ok(row)
}

fn mean(v: &[f64]) -> Option<f64> {
    (!v.is_empty()).then(|| v.iter().sum::<f64>() / v.len() as f64)
}

fn spread(v: &[f64]) -> Option<f64> {
    let m = mean(v)?;
    (v.len() > 1)
        .then(|| (v.iter().map(|x| (x - m).powi(2)).sum::<f64>() / (v.len() - 1) as f64).sqrt())
}

/// The row of the combination `labels` whose done cells are `runs`.
fn combo_row(labels: Vec<String>, runs: &[&CellRow]) -> ComboRow {
    let pick =
        |f: fn(&CellRow) -> Option<f64>| runs.iter().filter_map(|r| f(r)).collect::<Vec<f64>>();
    let vals = pick(|r| r.val_loss);
    let mut advice: Vec<String> = runs.iter().flat_map(|r| r.advice.clone()).collect();
    advice.sort();
    advice.dedup();
    ComboRow {
        labels,
        runs: runs.len(),
        diverged: runs.iter().filter(|r| r.diverged).count(),
        val_loss: mean(&vals),
        val_spread: spread(&vals),
        max_saturation: mean(&pick(|r| r.max_saturation)),
        act_std_ratio: mean(&pick(|r| r.act_std_ratio)),
        init_act_std_ratio: mean(&pick(|r| r.init_act_std_ratio)),
        init_max_saturation: mean(&pick(|r| r.init_max_saturation)),
        grad_std_ratio: mean(&pick(|r| r.grad_std_ratio)),
        median_log10_update: mean(&pick(|r| r.median_log10_update)),
        advice,
        report: runs.iter().find_map(|r| r.report.clone()),
    }
}

/// Reads every cell of the sweep in `dir` that is done.
pub fn collect(dir: &Path) -> Result<Collected, SweepError> {
    let plan = Plan::read(dir)?;
    let mut cells = Vec::new();
    let mut failed = Vec::new();
    let mut missing = Vec::new();
    for c in &plan.cells {
        let cell_dir = dir.join(&c.dir);
        let failure = cell_dir.join(FAILED);
        if is_done(&cell_dir) {
            cells.push(cell_row(dir, c)?);
        } else if failure.is_file() {
            let r: FailedRecord =
                serde_json::from_str(&read(&failure)?).map_err(|e| SweepError::Plan {
                    dir: dir.to_owned(),
                    message: format!("{}: {e}", failure.display()),
                })?;
            failed.push(FailedCell {
                index: c.index,
                dir: c.dir.clone(),
                error: r.error,
                log: r.log,
            });
        } else {
            missing.push((c.index, c.dir.clone()));
        }
    }
    // The done cells of each combination of labels, in index order: one pass over the cells,
    // then one look-up per combination (a scan of every cell per combination is quadratic).
    let mut by_labels: HashMap<&[String], Vec<&CellRow>> = HashMap::new();
    for r in &cells {
        by_labels.entry(r.labels.as_slice()).or_default().push(r);
    }
    let per = plan.seeds.len();
    let mut combos: Vec<ComboRow> = Vec::with_capacity(plan.cells.len() / per.max(1));
    for chunk in plan.cells.chunks(per) {
        let labels = chunk[0].labels.clone();
        let runs: &[&CellRow] = by_labels.get(labels.as_slice()).map_or(&[], Vec::as_slice);
        combos.push(combo_row(labels, runs));
    }
    Ok(Collected {
        name: plan.name,
        description: plan.description,
        axes: plan.axes,
        seeds: plan.seeds,
        heatmap: plan.heatmap,
        cells,
        combos,
        failed,
        missing,
    })
}

/// The most combinations [`Collected::table`] prints; the rest are counted in a note (all are in
/// `sweep.json`).
const TABLE_ROWS: usize = 200;

/// The most failed cells [`Collected::table`] names.
const TABLE_FAILED: usize = 20;

/// How to read the table's ratios, printed under it: which way each one shrinks.
const RATIO_KEY: &str = "ratios: the last activation layer (next to the output) over the first (next to the input). act std < 1: the activations shrink toward the output, > 1: they grow. grad std < 1: the gradient is smaller at the output end, so it grows flowing back toward the input (0.05: 20x larger at the first layer); > 1: it shrinks (vanishes) flowing back toward the input.\n";

/// One combination's line of the table.
fn table_row(c: &ComboRow) -> String {
    let opt = |x: Option<f64>, f: &dyn Fn(f64) -> String| x.map_or_else(|| "-".into(), f);
    let val = match (c.val_loss, c.val_spread) {
        (Some(v), Some(s)) => format!("{v:.4} ± {s:.4}"),
        (Some(v), None) => format!("{v:.4}"),
        _ => "-".into(),
    };
    let runs = if c.diverged > 0 {
        format!("{} ({} diverged)", c.runs, c.diverged)
    } else {
        c.runs.to_string()
    };
    format!(
        "| {} | {runs} | {val} | {} | {} | {} | {} | {} |\n",
        c.labels.join(" | "),
        opt(c.max_saturation, &|x| format!("{:.1}%", 100.0 * x)),
        match (c.init_act_std_ratio, c.act_std_ratio) {
            (Some(a), Some(b)) => format!("{a:.2} -> {b:.2}"),
            (a, b) => format!(
                "{} -> {}",
                opt(a, &|x| format!("{x:.2}")),
                opt(b, &|x| format!("{x:.2}"))
            ),
        },
        opt(c.grad_std_ratio, &|x| format!("{x:.2}")),
        opt(c.median_log10_update, &|x| format!("{x:.2}")),
        if c.advice.is_empty() {
            "-".into()
        } else {
            c.advice.join(", ")
        },
    )
}

impl Collected {
    /// The table: a row per combination, the mean over seeds. A large sweep's table shows its
    /// first combinations and failed cells with a note of how many more there are (all are in
    /// `sweep.json`).
    pub fn table(&self) -> String {
        let mut out = String::new();
        let names: Vec<&str> = self.axes.iter().map(|a| a.name.as_str()).collect();
        out.push_str(&format!(
            "| {} | runs | val loss | max saturation | act std, last layer / first (step 0 -> end) | grad std, last layer / first | median log10 update | advice |\n",
            names.join(" | ")
        ));
        out.push_str(&format!("|{}\n", "---|".repeat(names.len() + 7)));
        for c in self.combos.iter().take(TABLE_ROWS) {
            out.push_str(&table_row(c));
        }
        out.push_str(RATIO_KEY);
        if self.combos.len() > TABLE_ROWS {
            out.push_str(&format!(
                "showing {TABLE_ROWS} of {} combinations (the first in plan order); all rows are in {SWEEP_JSON}\n",
                self.combos.len()
            ));
        }
        for f in self.failed.iter().take(TABLE_FAILED) {
            out.push_str(&format!(
                "failed: cell {} ({}): {}{}\n",
                f.index,
                f.dir,
                f.error,
                f.log
                    .as_ref()
                    .map_or_else(String::new, |l| format!(" (log: {l})"))
            ));
        }
        if self.failed.len() > TABLE_FAILED {
            out.push_str(&format!(
                "showing {TABLE_FAILED} of {} failed cells; all are in {SWEEP_JSON}\n",
                self.failed.len()
            ));
        }
        if !self.missing.is_empty() {
            let first: Vec<String> = self
                .missing
                .iter()
                .take(5)
                .map(|(i, _)| i.to_string())
                .collect();
            out.push_str(&format!(
                "{} of {} cells not done yet (indices {}{})\n",
                self.missing.len(),
                self.missing.len() + self.cells.len() + self.failed.len(),
                first.join(", "),
                if self.missing.len() > 5 { ", ..." } else { "" }
            ));
        }
        out
    }
}

/// Sweeps built in memory, for the page's and the table's tests.
#[cfg(test)]
pub(crate) mod fixture {
    use super::{Collected, ComboRow};
    use crate::plan::PlanAxis;

    /// A combination of `labels`, one run, no statistics.
    pub(crate) fn combo(labels: &[&str]) -> ComboRow {
        ComboRow {
            labels: labels.iter().map(|l| l.to_string()).collect(),
            runs: 1,
            diverged: 0,
            val_loss: None,
            val_spread: None,
            max_saturation: None,
            act_std_ratio: None,
            init_act_std_ratio: None,
            init_max_saturation: None,
            grad_std_ratio: None,
            median_log10_update: None,
            advice: Vec::new(),
            report: None,
        }
    }

    /// A sweep of `axes` (name, labels), one seed, whose combinations are `combos`.
    pub(crate) fn collected(axes: &[(&str, &[&str])], combos: Vec<ComboRow>) -> Collected {
        Collected {
            name: "test".into(),
            description: String::new(),
            axes: axes
                .iter()
                .map(|(name, labels)| PlanAxis {
                    name: name.to_string(),
                    keys: vec![name.to_string()],
                    labels: labels.iter().map(|l| l.to_string()).collect(),
                })
                .collect(),
            seeds: vec![1],
            heatmap: axes.iter().take(2).map(|(n, _)| n.to_string()).collect(),
            cells: Vec::new(),
            combos,
            failed: Vec::new(),
            missing: Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use makemore_diagnostics::record::OutputStats;
    use makemore_diagnostics::{LayerInfo, LayerKind, LayerRecord, Saturation, Summary};

    /// A tanh layer whose outputs have this std and saturation and whose gradient has std `grad`.
    fn tanh(index: usize, std: f32, sat: f64, grad: f32) -> LayerRecord {
        let info = LayerInfo::new(index, LayerKind::activation("Tanh", Saturation::Tanh));
        LayerRecord {
            name: info.name(),
            layer: info,
            output: OutputStats {
                summary: Summary::of(&[-std, std], 4),
                saturated_frac: Some(sat),
                dead_units: Some(0),
                units: 2,
                map: None,
            },
            grad: Some(Summary::of(&[-grad, grad], 4)),
        }
    }

    fn record(step: u64, layers: Vec<LayerRecord>) -> DiagnosticRecord {
        DiagnosticRecord {
            step,
            loss: 1.0,
            lr: 0.1,
            layers,
            params: Vec::new(),
            expected_loss: None,
            rescaled_loss: None,
            saturation_threshold: None,
        }
    }

    #[test]
    fn ratios_are_the_last_layer_over_the_first_and_step_0_saturation_is_kept() {
        // Saturated at step 0 (std about 1 in both layers: a ratio of 1), and a gradient
        // 20 times smaller at the last layer than at the first at the end.
        let start = record(0, vec![tanh(1, 0.95, 0.9, 1.0), tanh(3, 0.95, 0.8, 1.0)]);
        let end = record(10, vec![tanh(1, 0.8, 0.1, 1.0), tanh(3, 0.4, 0.0, 0.05)]);
        let mut row = cell_row_of(&[start, end]);
        assert_eq!(row.init_act_std_ratio, Some(1.0));
        assert_eq!(row.init_max_saturation, Some(0.9));
        assert_eq!(row.max_saturation, Some(0.1));
        let close = |a: Option<f64>, b: f64| a.is_some_and(|a| (a - b).abs() < 1e-6);
        assert!(close(row.act_std_ratio, 0.5), "{:?}", row.act_std_ratio);
        assert!(close(row.grad_std_ratio, 0.05), "{:?}", row.grad_std_ratio);
        row.labels = vec!["a".into()];
        let combo = combo_row(vec!["a".into()], &[&row]);
        assert_eq!(combo.init_max_saturation, Some(0.9));
    }

    fn cell_row_of(records: &[DiagnosticRecord]) -> CellRow {
        let mut row = CellRow::unread(0, "cell", Vec::new(), 1);
        statistics(records, &mut row);
        row
    }

    #[test]
    fn the_table_says_which_way_each_ratio_shrinks() {
        let mut k = fixture::combo(&["a"]);
        k.grad_std_ratio = Some(0.05);
        let table = fixture::collected(&[("x", &["a"])], vec![k]).table();
        let mut lines = table.lines();
        let header = lines.next().expect("a header");
        assert!(
            header.contains(
                "| act std, last layer / first (step 0 -> end) | grad std, last layer / first |"
            ),
            "{header}"
        );
        assert!(
            table.contains("| a | 1 | - | - | - -> - | 0.05 |"),
            "{table}"
        );
        // The key: a ratio below 1 is a gradient larger at the first layer (next to the input).
        let key = lines.find(|l| l.starts_with("ratios:")).expect("the key");
        assert!(
            key.contains(
                "the last activation layer (next to the output) over the first (next to the input)"
            ),
            "{key}"
        );
        assert!(key.contains("grad std < 1: the gradient is smaller at the output end, so it grows flowing back toward the input"), "{key}");
        assert!(
            key.contains("> 1: it shrinks (vanishes) flowing back toward the input"),
            "{key}"
        );
    }
}
