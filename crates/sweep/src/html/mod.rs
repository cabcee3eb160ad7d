//! `sweep.html`: one heatmap per metric over the two chosen axes (the other axes as small
//! multiples), and the validation loss against the first axis as a line per series. Each heatmap
//! cell links to its run's `report.html`. One self-contained file: inline SVG, no scripts.
//!
//! A large sweep's page stays a few MB: each metric shows at most
//! [`HEAT_CELLS`](heatmap::HEAT_CELLS) heatmap cells (when its small multiples would show more,
//! the mean over the other axes comes first, then as many of the multiples as fit), the lines
//! at most [`LINE_SERIES`](lines::LINE_SERIES) series of [`LINE_POINTS`](lines::LINE_POINTS)
//! points (and, when series are left out, the mean of them all), and the lists of missing and
//! failed cells at most [`LISTED`] each; every cut says what it left out, and `sweep.json` has
//! every row. Every look-up of a combination is a hash look-up, so the page takes time linear in
//! the combinations.
//!
//! The parts: [`heatmap`] (which heatmaps, and each one), [`lines`](mod@lines) (the
//! validation-loss plot) and [`common`] (what both share: escaping, the metrics, the
//! combinations); this file puts them on the page with the summary and the lists of missing and
//! failed cells.

mod common;
mod heatmap;
mod lines;

use self::common::{esc, Combos, METRICS};
use self::heatmap::Heatmaps;
use self::lines::lines;
use crate::collect::{Collected, SWEEP_JSON};

/// The most missing or failed cells the page names.
const LISTED: usize = 1_000;

/// `items`, at most [`LISTED`] of them, joined by `sep`, and how many were left out.
fn listed<T>(items: &[T], show: impl Fn(&T) -> String, sep: &str) -> (String, usize) {
    let shown: Vec<String> = items.iter().take(LISTED).map(show).collect();
    (shown.join(sep), items.len() - shown.len())
}

/// The whole page.
pub fn page(c: &Collected) -> String {
    let combos = Combos::new(c);
    let heat = Heatmaps::new(c);
    // What the page leaves out: said once at the top, and again where it is left out.
    let mut notes = Vec::new();
    let mut lists = missing_list(c, &mut notes);
    lists += &failed_list(c, &mut notes);
    let (lines, line_cut) = lines(c, &combos);
    if let Some(cut) = line_cut {
        notes.push(format!("validation-loss lines: {cut}"));
    }
    let heat_note = heat_note(heat.cuts(c), &mut notes);

    let mut body = summary(c, &notes);
    body += &lists;
    body += "<section id=\"val-lines\"><h2>Validation loss</h2>";
    body += &lines;
    body += "</section>";
    for metric in METRICS.iter().enumerate() {
        body += &heat.section(c, &combos, metric, &heat_note);
    }
    document(c, &body)
}

/// The cells not done yet, at most [`LISTED`] of them (empty when there are none); a cut is
/// added to `notes`.
fn missing_list(c: &Collected, notes: &mut Vec<String>) -> String {
    if c.missing.is_empty() {
        return String::new();
    }
    let (list, left) = listed(&c.missing, |(i, d)| format!("{i} ({})", esc(d)), ", ");
    let more = if left > 0 {
        notes.push(format!(
            "the first {LISTED} of {} cells not done yet",
            c.missing.len()
        ));
        format!(", and {left} more (all in {SWEEP_JSON})")
    } else {
        String::new()
    };
    format!("<p id=\"missing\">Not done yet: {list}{more}.</p>")
}

/// The failed cells, at most [`LISTED`] of them, each with its error and log (empty when none
/// failed); a cut is added to `notes`.
fn failed_list(c: &Collected, notes: &mut Vec<String>) -> String {
    if c.failed.is_empty() {
        return String::new();
    }
    let (list, left) = listed(
        &c.failed,
        |f| {
            format!(
                "<li>Failed: cell {} ({}): {}{}</li>",
                f.index,
                esc(&f.dir),
                esc(&f.error),
                f.log
                    .as_ref()
                    .map_or_else(String::new, |l| format!("; log: <code>{}</code>", esc(l)))
            )
        },
        "",
    );
    let mut s = format!("<ul id=\"failed\">{list}");
    if left > 0 {
        notes.push(format!(
            "the first {LISTED} of {} failed cells",
            c.failed.len()
        ));
        s += &format!("<li>And {left} more failed cells (all in {SWEEP_JSON}).</li>");
    }
    s + "</ul>"
}

/// The note each heatmap section repeats of what the heatmaps leave out (`cut`; empty when
/// nothing is), which is also added to `notes`.
fn heat_note(cut: Vec<String>, notes: &mut Vec<String>) -> String {
    if cut.is_empty() {
        return String::new();
    }
    let cut = cut.join("; ");
    notes.push(format!("heatmaps: {cut}"));
    format!(
        "<p class=\"note\">Showing {}. All rows are in {SWEEP_JSON}.</p>",
        esc(&cut)
    )
}

/// The page's title, description and counts of cells, seeds and axes, and, when `notes` is not
/// empty, what the page leaves out.
fn summary(c: &Collected, notes: &[String]) -> String {
    let mut body = String::new();
    body += &format!("<h1>Sweep: {}</h1>", esc(&c.name));
    if !c.description.is_empty() {
        body += &format!("<p>{}</p>", esc(&c.description));
    }
    body += &format!(
        "<p>{} cells done of {}; seeds {}. Axes: {}. Each heatmap cell is the mean over seeds and links to the first seed's report.</p>",
        c.cells.len(),
        c.cells.len() + c.missing.len() + c.failed.len(),
        c.seeds.iter().map(u64::to_string).collect::<Vec<_>>().join(", "),
        c.axes.iter().map(|a| format!("{} ({})", esc(&a.name), esc(&a.keys.join(", ")))).collect::<Vec<_>>().join("; ")
    );
    if !notes.is_empty() {
        body += &format!(
            "<p id=\"truncated\">This sweep is too large to show whole; the page shows {}. All rows are in {SWEEP_JSON}.</p>",
            esc(&notes.join("; "))
        );
    }
    body
}

/// The HTML document around `body`: its head, with the title and the styles, and the body.
fn document(c: &Collected, body: &str) -> String {
    format!(
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Sweep: {}</title><style>body{{font-family:sans-serif;max-width:1200px;margin:1em auto;padding:0 1em}}svg text{{font-size:11px;font-family:sans-serif}}svg text.axis{{font-weight:bold}}svg text.sat{{font-size:9px}}.multiples{{display:flex;flex-wrap:wrap;gap:1em}}figure{{margin:0}}figcaption{{font-size:12px;color:#444}}.help{{color:#555;font-size:13px}}a.cell:hover rect{{stroke:#000}}</style></head><body>{body}</body></html>\n",
        esc(&c.name)
    )
}
