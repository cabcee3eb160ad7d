//! The heatmaps of each metric's section: which ones a sweep shows (its small multiples over
//! the axes not in the heatmap, or the mean over them first when they do not all fit), their
//! cells and colors, and the SVG of each.

use super::common::{count, esc, nth_combination, Combos, Metric, METRICS};
use crate::collect::{Collected, ComboRow};
use makemore_diagnostics::AdviceConfig;
use std::collections::{BTreeSet, HashMap};

/// The most heatmap cells one metric's section shows, over all its heatmaps.
pub(super) const HEAT_CELLS: usize = 1_000;
/// The most rows of one heatmap (the first heatmap axis's first values).
const HEAT_ROWS: usize = 40;
/// The most columns of one heatmap (the second heatmap axis's first values).
const HEAT_COLS: usize = 25;

/// Ratios are colored on log10 from a quarter (blue) through 1 (pale) to 4 (red), or wider when
/// the values are.
const RATIO_RANGE: f64 = 0.6;

/// The fill of a cell whose stack saturates (see [`saturated`]): purple, off the blue -> red
/// ramp, so that a ratio near 1 there does not read as healthy.
const SATURATED_FILL: &str = "#c2a5cf";
/// The corner marker of such a cell: its color and the length of its sides.
const SATURATED_MARK: &str = "#762a83";
const MARK_SIZE: f64 = 10.0;

/// The saturation from which a cell is marked: the advice's (a squashing layer with this share
/// of its outputs in the flat tails), so the page and the advice agree.
fn saturation_threshold() -> f64 {
    AdviceConfig::default().saturation
}

/// `sat 90%` when `saturation` reaches the threshold, the words a marked cell adds.
fn saturated(saturation: Option<f64>) -> Option<String> {
    saturation
        .filter(|&s| s >= saturation_threshold())
        .map(|s| format!("sat {:.0}%", 100.0 * s))
}

/// A blue -> pale yellow -> red ramp at `t` in [0, 1].
fn color(t: f64) -> String {
    let stops = [
        (44.0, 123.0, 182.0),
        (255.0, 255.0, 191.0),
        (215.0, 25.0, 28.0),
    ];
    let t = t.clamp(0.0, 1.0) * 2.0;
    let (a, b, f) = if t <= 1.0 {
        (stops[0], stops[1], t)
    } else {
        (stops[1], stops[2], t - 1.0)
    };
    let mix = |x: f64, y: f64| (x + (y - x) * f).round() as u8;
    format!(
        "#{:02x}{:02x}{:02x}",
        mix(a.0, b.0),
        mix(a.1, b.1),
        mix(a.2, b.2)
    )
}

/// The index of each axis named in the heatmap, then the others.
fn layout(c: &Collected) -> (usize, Option<usize>, Vec<usize>) {
    let find = |n: &String| c.axes.iter().position(|a| &a.name == n);
    let rows = c.heatmap.first().and_then(find).unwrap_or(0);
    let cols = c.heatmap.get(1).and_then(find);
    let others = (0..c.axes.len())
        .filter(|&i| i != rows && Some(i) != cols)
        .collect();
    (rows, cols, others)
}

/// Each metric's color range over every combination.
fn metric_range(c: &Collected, m: &Metric) -> (f64, f64) {
    let t = |x: f64| if m.log { x.abs().max(1e-12).log10() } else { x };
    let range = c
        .combos
        .iter()
        .filter_map(|k| (m.value)(k))
        .map(t)
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), v| {
            (a.min(v), b.max(v))
        });
    // A ratio's colors are centered on 1 (log10 0): blue below, red above.
    match m.range {
        Some(r) => r,
        None if m.log => {
            let r = range.0.abs().max(range.1.abs()).max(RATIO_RANGE);
            (-r, r)
        }
        None => range,
    }
}

/// What one heatmap cell shows.
struct HeatCell<'a> {
    runs: usize,
    diverged: usize,
    value: Option<f64>,
    /// The largest saturation, for a metric that cannot see it ([`Metric::saturation`]).
    saturation: Option<f64>,
    tip: String,
    report: Option<&'a str>,
}

/// `"; rule"` for each advice rule.
fn advice_tail<S: AsRef<str>>(advice: impl IntoIterator<Item = S>) -> String {
    advice
        .into_iter()
        .map(|a| format!("; {}", a.as_ref()))
        .collect()
}

/// `"; max saturation 90%"` where a metric shows a saturation beside its value.
fn saturation_tail(saturation: Option<f64>) -> String {
    saturation.map_or_else(String::new, |s| {
        format!("; max saturation {:.0}%", 100.0 * s)
    })
}

/// The cell of combination `k` for metric `m`.
fn combo_cell<'a>(k: &'a ComboRow, m: &Metric) -> HeatCell<'a> {
    let saturation = m.saturation.and_then(|f| f(k));
    HeatCell {
        runs: k.runs,
        diverged: k.diverged,
        value: (m.value)(k),
        saturation,
        tip: format!(
            "{} runs, {} diverged{}{}",
            k.runs,
            k.diverged,
            saturation_tail(saturation),
            advice_tail(&k.advice)
        ),
        report: k.report.as_deref(),
    }
}

/// The rows and columns every heatmap of the page shows: the heatmap axes (the columns' `None`
/// for one heatmap axis) and their first [`HEAT_ROWS`] and [`HEAT_COLS`] labels.
struct Grid<'a> {
    ri: usize,
    ci: Option<usize>,
    rows: &'a [String],
    cols: Vec<&'a str>,
}

impl<'a> Grid<'a> {
    /// The grid of rows of axis `ri` and columns of axis `ci` (one column without one).
    fn new(c: &'a Collected, ri: usize, ci: Option<usize>) -> Self {
        let rows = &c.axes[ri].labels;
        let cols = match ci {
            Some(i) => c.axes[i]
                .labels
                .iter()
                .take(HEAT_COLS)
                .map(String::as_str)
                .collect(),
            None => vec![""],
        };
        Self {
            ri,
            ci,
            rows: &rows[..rows.len().min(HEAT_ROWS)],
            cols,
        }
    }

    /// Cells per heatmap.
    fn cells(&self) -> usize {
        self.rows.len() * self.cols.len()
    }
}

/// One heatmap of `g`'s rows and columns, `cell(row, column)` the cell at each (`None`: not
/// run), under `caption` when it is not empty.
fn heatmap<'a>(
    c: &Collected,
    g: &Grid,
    m: &Metric,
    range: (f64, f64),
    caption: &str,
    cell: impl Fn(usize, usize) -> Option<HeatCell<'a>>,
) -> String {
    let (ri, ci, rows, cols) = (g.ri, g.ci, g.rows, &g.cols);
    let (cw, ch, left, top) = (64.0, 30.0, 110.0, 40.0);
    let width = left + cw * cols.len() as f64 + 10.0;
    let height = top + ch * rows.len() as f64 + 10.0;
    let mut s = format!(
        "<figure class=\"heat\"><svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width}\" height=\"{height}\" role=\"img\">"
    );
    if let Some(i) = ci {
        s += &format!(
            "<text x=\"{}\" y=\"12\" class=\"axis\">{}</text>",
            left,
            esc(&c.axes[i].name)
        );
    }
    s += &format!(
        "<text x=\"4\" y=\"{}\" class=\"axis\">{}</text>",
        top - 6.0,
        esc(&c.axes[ri].name)
    );
    for (j, col) in cols.iter().enumerate() {
        s += &format!(
            "<text x=\"{}\" y=\"{}\" text-anchor=\"middle\">{}</text>",
            left + cw * (j as f64 + 0.5),
            top - 6.0,
            esc(col)
        );
    }
    for (r, row) in rows.iter().enumerate() {
        let y = top + ch * r as f64;
        s += &format!(
            "<text x=\"{}\" y=\"{}\" text-anchor=\"end\">{}</text>",
            left - 6.0,
            y + ch * 0.65,
            esc(row)
        );
        for j in 0..cols.len() {
            let x = left + cw * j as f64;
            s += &heat_rect(cell(r, j), m, range, (x, y), (cw, ch));
        }
    }
    s += "</svg>";
    if !caption.is_empty() {
        s += &format!("<figcaption>{}</figcaption>", esc(caption));
    }
    s + "</figure>"
}

/// One heatmap cell (`None`: not run), `cw` by `ch` at (`x`, `y`): colored on metric `m`'s
/// `range`, its value (or why it has none) as text, its tip as title, and a link to its run's
/// report when there is one.
fn heat_rect(
    cell: Option<HeatCell>,
    m: &Metric,
    range: (f64, f64),
    (x, y): (f64, f64),
    (cw, ch): (f64, f64),
) -> String {
    let value = cell.as_ref().and_then(|k| k.value);
    let mut sat = None;
    let (fill, text) = match (&cell, value) {
        (Some(k), _) if k.runs > 0 && k.diverged == k.runs => {
            ("#777".to_string(), "diverged".to_string())
        }
        (Some(k), Some(v)) if saturated(k.saturation).is_some() => {
            sat = saturated(k.saturation);
            (SATURATED_FILL.to_string(), (m.show)(v))
        }
        (_, Some(v)) => {
            let t = |x: f64| if m.log { x.abs().max(1e-12).log10() } else { x };
            let (lo, hi) = range;
            let f = if hi > lo {
                (t(v) - lo) / (hi - lo)
            } else {
                0.5
            };
            (color(f), (m.show)(v))
        }
        _ => ("#eee".to_string(), "-".to_string()),
    };
    let tip = cell.as_ref().map_or("not run", |k| k.tip.as_str());
    let (cx, value_y) = (
        x + cw / 2.0,
        y + ch * if sat.is_some() { 0.45 } else { 0.65 },
    );
    let mut rect = format!(
        "<rect x=\"{x}\" y=\"{y}\" width=\"{cw}\" height=\"{ch}\" fill=\"{fill}\" stroke=\"#fff\"><title>{}</title></rect><text x=\"{cx}\" y=\"{value_y}\" text-anchor=\"middle\">{}</text>",
        esc(tip),
        esc(&text)
    );
    if let Some(sat) = sat {
        // The words under the value, and a triangle in the top right corner.
        let (right, mark) = (x + cw, MARK_SIZE);
        rect += &format!(
            "<text x=\"{cx}\" y=\"{}\" text-anchor=\"middle\" class=\"sat\">{}</text><path d=\"M{} {y}H{right}V{}Z\" fill=\"{SATURATED_MARK}\"/>",
            y + ch * 0.9,
            esc(&sat),
            right - mark,
            y + mark
        );
    }
    match cell.and_then(|k| k.report) {
        Some(href) => format!("<a href=\"{}\" class=\"cell\">{rect}</a>", esc(href)),
        None => rect,
    }
}

/// Each shown heatmap cell's combinations over every value of the other axes, summed: for the
/// mean heatmap of a sweep whose small multiples do not all fit.
#[derive(Default)]
struct Pooled<'a> {
    combos: usize,
    runs: usize,
    diverged: usize,
    /// Per metric (in [`METRICS`] order): the sum of the combinations' values, and how many
    /// have one.
    sums: [(f64, usize); METRICS.len()],
    /// Per metric with a [`Metric::saturation`]: the largest of the combinations'.
    saturation: [Option<f64>; METRICS.len()],
    advice: BTreeSet<&'a str>,
    report: Option<&'a str>,
}

/// The [`Pooled`] cells of `g`, row by row: one pass over the combinations.
fn pool<'a>(c: &'a Collected, g: &Grid<'a>) -> Vec<Pooled<'a>> {
    let position = |labels: Vec<&'a str>| {
        let mut at = HashMap::with_capacity(labels.len());
        for (p, l) in labels.into_iter().enumerate() {
            at.entry(l).or_insert(p);
        }
        at
    };
    let rows = position(g.rows.iter().map(String::as_str).collect());
    let cols = position(g.cols.clone());
    let mut out: Vec<Pooled> = (0..g.cells()).map(|_| Pooled::default()).collect();
    for k in &c.combos {
        let label = |i: usize| k.labels.get(i).map(String::as_str);
        let r = label(g.ri).and_then(|l| rows.get(l));
        let j = match g.ci {
            Some(i) => label(i).and_then(|l| cols.get(l)).copied(),
            None => Some(0),
        };
        let (Some(&r), Some(j)) = (r, j) else {
            continue;
        };
        let p = &mut out[r * g.cols.len() + j];
        p.combos += 1;
        p.runs += k.runs;
        p.diverged += k.diverged;
        for ((sum, sat), m) in p.sums.iter_mut().zip(&mut p.saturation).zip(&METRICS) {
            if let Some(v) = (m.value)(k) {
                *sum = (sum.0 + v, sum.1 + 1);
            }
            if let Some(s) = m.saturation.and_then(|f| f(k)) {
                *sat = Some(sat.map_or(s, |t: f64| t.max(s)));
            }
        }
        p.advice.extend(k.advice.iter().map(String::as_str));
        p.report = p.report.or(k.report.as_deref());
    }
    out
}

/// The cell of pooled combinations `p` for the metric numbered `mi`.
fn pooled_cell<'a>(p: &Pooled<'a>, mi: usize, over: &str) -> Option<HeatCell<'a>> {
    let (sum, n) = p.sums[mi];
    let saturation = p.saturation[mi];
    (p.combos > 0).then(|| HeatCell {
        runs: p.runs,
        diverged: p.diverged,
        value: (n > 0).then(|| sum / n as f64),
        // The most saturated combination's: a mean would hide one saturated stack.
        saturation,
        tip: format!(
            "{} runs, {} diverged; mean of {} combinations of {over}{}{}",
            p.runs,
            p.diverged,
            p.combos,
            saturation_tail(saturation),
            advice_tail(&p.advice)
        ),
        report: p.report,
    })
}

/// The heatmaps every metric's section shows: the [`Grid`] of the heatmap axes, the small
/// multiples over the other axes, and, when they do not all fit in [`HEAT_CELLS`], the mean
/// over the other axes first.
pub(super) struct Heatmaps<'a> {
    grid: Grid<'a>,
    /// The axes not in the heatmap, whose combinations are the small multiples.
    others: Vec<usize>,
    /// How many small multiples there are.
    multiples: usize,
    /// The mean heatmap's cells, when not every multiple fits.
    pooled: Option<Vec<Pooled<'a>>>,
    /// How many of the small multiples are shown (the first in plan order).
    shown: usize,
    /// The names of the axes `others`, joined by ", ".
    over: String,
}

impl<'a> Heatmaps<'a> {
    /// The heatmaps of `c`, with the mean heatmap's cells pooled when they are needed.
    pub(super) fn new(c: &'a Collected) -> Self {
        let (ri, ci, others) = layout(c);
        let grid = Grid::new(c, ri, ci);
        let multiples = count(c, &others);
        // Every multiple when they fit; else the mean over the other axes, then as many as fit.
        let per = grid.cells().max(1);
        let (pooled, shown) = if multiples.saturating_mul(per) <= HEAT_CELLS || others.is_empty() {
            (None, multiples)
        } else {
            (Some(pool(c, &grid)), (HEAT_CELLS / per).saturating_sub(1))
        };
        let over = others
            .iter()
            .map(|&i| c.axes[i].name.as_str())
            .collect::<Vec<_>>()
            .join(", ");
        Self {
            grid,
            others,
            multiples,
            pooled,
            shown,
            over,
        }
    }

    /// What the heatmaps leave out: rows and columns beyond the first, and the multiples that
    /// do not fit; empty when nothing is.
    pub(super) fn cuts(&self, c: &Collected) -> Vec<String> {
        let (grid, ri, ci) = (&self.grid, self.grid.ri, self.grid.ci);
        let mut cut = Vec::new();
        if grid.rows.len() < c.axes[ri].labels.len() {
            cut.push(format!(
                "the first {} of {} values of {}",
                grid.rows.len(),
                c.axes[ri].labels.len(),
                c.axes[ri].name
            ));
        }
        if let Some(i) = ci.filter(|&i| grid.cols.len() < c.axes[i].labels.len()) {
            cut.push(format!(
                "the first {} of {} values of {}",
                grid.cols.len(),
                c.axes[i].labels.len(),
                c.axes[i].name
            ));
        }
        if self.pooled.is_some() {
            let (over, multiples, shown) = (&self.over, self.multiples, self.shown);
            cut.push(format!(
                "first the mean over every {over} ({multiples} combinations), then {shown} of the {multiples} heatmaps with them fixed (the first in plan order)"
            ));
        }
        cut
    }

    /// Metric `m`'s section (`mi` its number in [`METRICS`]): its title and help, `note` (what
    /// the heatmaps leave out, as HTML), the mean heatmap when there is one, then the shown
    /// small multiples, each cell looked up in `combos`.
    pub(super) fn section(
        &self,
        c: &Collected,
        combos: &Combos,
        (mi, m): (usize, &Metric),
        note: &str,
    ) -> String {
        let (grid, over) = (&self.grid, &self.over);
        let range = metric_range(c, m);
        let mut s = format!(
            "<section id=\"heatmap-{}\" class=\"metric\"><h2>{}</h2><p class=\"help\">{}</p>{note}<div class=\"multiples\">",
            m.id,
            esc(m.title),
            esc(m.help)
        );
        if let Some(pooled) = &self.pooled {
            let caption = format!("mean over every {over}");
            s += &heatmap(c, grid, m, range, &caption, |r, j| {
                pooled_cell(&pooled[r * grid.cols.len() + j], mi, over)
            });
        }
        for k in 0..self.shown {
            let fixed = nth_combination(c, &self.others, k);
            let caption = fixed
                .iter()
                .map(|(i, l)| format!("{} = {l}", c.axes[*i].name))
                .collect::<Vec<_>>()
                .join(", ");
            s += &heatmap(c, grid, m, range, &caption, |r, j| {
                let mut at = fixed.clone();
                at.push((grid.ri, grid.rows[r].as_str()));
                if let Some(i) = grid.ci {
                    at.push((i, grid.cols[j]));
                }
                combos.get(&at).map(|k| combo_cell(k, m))
            });
        }
        s + "</div></section>"
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::collect::fixture::{collected, combo};

    /// The SVG of each cell (from its `<rect` to the next) of metric `id`'s section.
    fn cells(html: &str) -> Vec<&str> {
        html.split("<rect ").skip(1).collect()
    }

    fn section(c: &Collected, id: &str) -> String {
        let mi = METRICS.iter().position(|m| m.id == id).expect("a metric");
        Heatmaps::new(c).section(c, &Combos::new(c), (mi, &METRICS[mi]), "")
    }

    #[test]
    fn a_saturated_stack_is_not_shown_as_a_healthy_ratio() {
        // Two stacks whose std ratio at step 0 is 1: one saturated 90%, one not at all.
        let mut saturated = combo(&["3"]);
        (saturated.init_act_std_ratio, saturated.init_max_saturation) = (Some(1.0), Some(0.9));
        let mut healthy = combo(&["1"]);
        (healthy.init_act_std_ratio, healthy.init_max_saturation) = (Some(1.0), Some(0.0));
        let c = collected(&[("gain", &["3", "1"])], vec![saturated, healthy]);
        let html = section(&c, "init_act_std_ratio");
        let cells = cells(&html);
        assert_eq!(cells.len(), 2);
        assert!(
            cells[0].contains(&format!("fill=\"{SATURATED_FILL}\"")),
            "{}",
            cells[0]
        );
        assert!(cells[0].contains(">1.00</text>") && cells[0].contains(">sat 90%</text>"));
        assert!(cells[0].contains("max saturation 90%"), "the tip says it");
        // The healthy stack keeps the ramp's middle (pale: a ratio of 1) and no mark.
        assert!(
            cells[1].contains(&format!("fill=\"{}\"", color(0.5))),
            "{}",
            cells[1]
        );
        assert!(!cells[1].contains("sat "), "{}", cells[1]);
        // A metric that sees saturation itself is not marked.
        let html = section(&c, "val_loss");
        assert!(!html.contains(SATURATED_FILL));
    }

    #[test]
    fn a_mean_heatmap_keeps_the_most_saturated_combination() {
        let mut p = Pooled {
            combos: 2,
            runs: 2,
            ..Pooled::default()
        };
        let mi = METRICS
            .iter()
            .position(|m| m.id == "act_std_ratio")
            .expect("a metric");
        p.sums[mi] = (2.0, 2);
        p.saturation[mi] = Some(0.5);
        let cell = pooled_cell(&p, mi, "seed").expect("a cell");
        assert_eq!((cell.value, cell.saturation), (Some(1.0), Some(0.5)));
        assert!(saturated(cell.saturation).is_some());
        assert_eq!(saturated(Some(0.01)), None, "below the advice's threshold");
    }
}
