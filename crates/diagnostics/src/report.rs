//! The lecture's text tables and the self-contained HTML report.

use crate::advice::Advice;
use crate::chart::inline_svg;
use crate::plot::PlotSet;
use crate::record::{show_ratio, DiagnosticRecord};
use crate::satmap::{png_data_uri, MapFile};
use makemore_files::write_atomic;
use std::fmt::Write;
use std::path::{Path, PathBuf};

/// Writing the report failed.
#[derive(Debug, thiserror::Error)]
#[error("{path}: {source}")]
pub struct ReportError {
    /// The file.
    pub path: PathBuf,
    /// Why.
    pub source: std::io::Error,
}

/// The per-layer tables the lecture prints, for one record:
///
/// ```text
/// activations (forward):
/// layer 2 (Tanh): mean -0.00, std 0.63, saturated (|x| > 0.97): 2.78%
/// gradients at the activations (backward):
/// layer 2 (Tanh): mean +0.000000, std 3.68e-03
/// ```
pub fn layer_table(r: &DiagnosticRecord) -> String {
    let mut out = String::new();
    let acts: Vec<_> = r.activations().collect();
    let _ = writeln!(out, "step {}: loss {:.4}, lr {}", r.step, r.loss, r.lr);
    if let (Some(e), 0) = (r.expected_loss, r.step) {
        let _ = writeln!(
            out,
            "first loss {:.4} vs ln(vocab) {e:.4}; rescaling the logits alone would give {:.4} ({:.1}% of the loss is overconfidence)",
            r.loss,
            r.rescaled_loss.unwrap_or(f64::NAN),
            100.0 * r.overconfidence_share()
        );
    }
    let _ = writeln!(out, "activations (forward):");
    for l in acts.iter().copied() {
        let s = &l.output.summary;
        let sat = l
            .output
            .saturated_frac
            .map(|f| format!(", {}: {:.2}%", r.saturated_words_of(l), 100.0 * f))
            .unwrap_or_default();
        let dead = l
            .output
            .dead_units
            .filter(|&d| d > 0)
            .map(|d| format!(", dead units: {d}/{}", l.output.units))
            .unwrap_or_default();
        let _ = writeln!(
            out,
            "{}: mean {:+.2}, std {:.2}{sat}{dead}",
            l.name, s.mean, s.std
        );
    }
    let _ = writeln!(out, "gradients at the activations (backward):");
    for l in acts {
        if let Some(g) = &l.grad {
            let _ = writeln!(out, "{}: mean {:+.6}, std {:.2e}", l.name, g.mean, g.std);
        }
    }
    out
}

/// The lecture's parameter table: shape, gradient mean and std, grad:data ratio, and the log10
/// update ratio.
pub fn param_table(r: &DiagnosticRecord) -> String {
    let mut out = String::from("weights (grad:data, log10 update:data):\n");
    for p in r.params.iter().filter(|p| p.is_matrix()) {
        let _ = writeln!(
            out,
            "{:<24} {:>10} | mean {:+.6} | std {:.2e} | grad:data ratio {} | update {}",
            p.name,
            format!("{:?}", p.shape),
            p.grad_mean,
            p.grad_std,
            show_ratio(p.grad_data_ratio, |r| format!("{r:.2e}")),
            show_ratio(p.log10_update_ratio, |u| format!("{u:+.2}"))
        );
    }
    out
}

/// The script that draws the step view from the embedded records.
const STEP_VIEW_JS: &str = include_str!("report.js");

/// The saturation maps [`render_plots`](crate::render_plots) wrote (the first and last
/// record's) as PNG images inside the page.
fn write_maps(html: &mut String, maps: &[MapFile]) -> Result<(), ReportError> {
    if maps.is_empty() {
        return Ok(());
    }
    html.push_str("<h2>Saturation maps</h2>\n<p>Examples down, units across; white where the unit is saturated (for relu: exactly zero), a red mark above a column saturated for every example of the batch (dead).</p>\n");
    for (name, caption, path) in maps {
        let png = std::fs::read(path).map_err(|source| ReportError {
            path: path.clone(),
            source,
        })?;
        let _ = writeln!(
            html,
            "<figure class=\"map\" id=\"{name}\"><img alt=\"saturation map\" src=\"{}\"><figcaption>{}</figcaption></figure>",
            png_data_uri(&png),
            escape(caption)
        );
    }
    Ok(())
}

/// Two panels, each showing any recorded step (step 0 and the last by default), drawn by
/// [`STEP_VIEW_JS`] from the records embedded as JSON.
fn write_steps(html: &mut String, records: &[DiagnosticRecord]) {
    if records.is_empty() {
        return;
    }
    let tables: Vec<String> = records
        .iter()
        .map(|r| format!("{}\n{}", layer_table(r), param_table(r)))
        .collect();
    let data = serde_json::json!({ "records": records, "tables": tables });
    // Inside <script>, only "</" could end the element early; JSON allows "<\/" for it.
    let json = data.to_string().replace("</", "<\\/");
    html.push_str("<h2>Step by step</h2>\n<p>Pick any recorded step on either side; the left starts at the first, the right at the last.</p>\n<div class=\"compare\">\n");
    for side in ["left", "right"] {
        let _ = writeln!(
            html,
            "<div class=\"panel\" data-side=\"{side}\"><label>step <select aria-label=\"step ({side})\"></select></label><div class=\"figs\"></div><pre class=\"table\"></pre></div>"
        );
    }
    let _ = writeln!(
        html,
        "</div>\n<script type=\"application/json\" id=\"report-data\">{json}</script>"
    );
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// Writes `report.html` into `dir`: the plots inlined as SVG (the page needs no network and no
/// other file), the tables of the first and last record, and the advice.
pub fn write_report(
    dir: &Path,
    title: &str,
    records: &[DiagnosticRecord],
    plots: &PlotSet,
    advice: &[Advice],
) -> Result<PathBuf, ReportError> {
    let mut html = String::new();
    let _ = write!(
        html,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{t}</title>\n<style>body{{font-family:sans-serif;max-width:1200px;margin:2em auto;color:#222}}pre{{background:#f6f6f6;padding:1em;overflow-x:auto}}figure{{margin:1.5em 0}}.compare{{display:flex;gap:1em;flex-wrap:wrap}}.panel{{flex:1 1 460px;min-width:0}}.panel pre{{font-size:11px}}.legend{{list-style:none;padding:0;margin:.2em 0;font-size:12px}}.swatch{{display:inline-block;width:18px;margin-right:6px;vertical-align:middle}}img,canvas.satmap{{image-rendering:pixelated;max-width:100%}}.advice li{{margin:.4em 0}}.ok{{color:#175}}</style></head><body>\n<h1>{t}</h1>\n",
        t = escape(title)
    );
    html.push_str("<h2>Advice</h2>\n");
    if advice.is_empty() {
        html.push_str("<p class=\"ok\" id=\"no-advice\">Nothing looks wrong: no rule fired.</p>\n");
    } else {
        html.push_str("<ul class=\"advice\">\n");
        for a in advice {
            let _ = writeln!(
                html,
                "<li data-rule=\"{}\">{}</li>",
                escape(&a.rule),
                escape(&a.message)
            );
        }
        html.push_str("</ul>\n");
    }
    write_steps(&mut html, records);
    write_maps(&mut html, &plots.maps)?;
    html.push_str("<h2>Plots (the last step; the update ratios and the loss over the run)</h2>\n");
    for (name, title, svg, _) in &plots.plots {
        let body = std::fs::read_to_string(svg).map_err(|source| ReportError {
            path: svg.clone(),
            source,
        })?;
        let body = inline_svg(&body);
        let _ = writeln!(
            html,
            "<figure class=\"plot\" id=\"plot-{}\">{}<figcaption>{}</figcaption></figure>",
            escape(name),
            body,
            escape(title)
        );
    }
    let mut tables: Vec<&DiagnosticRecord> = records.first().into_iter().collect();
    if let Some(last) = records
        .last()
        .filter(|l| records.len() > 1 && l.step != records[0].step)
    {
        tables.push(last);
    }
    html.push_str("<h2>Per-layer statistics</h2>\n");
    for r in tables {
        let _ = writeln!(
            html,
            "<pre>{}\n{}</pre>",
            escape(&layer_table(r)),
            escape(&param_table(r))
        );
    }
    html.push_str("<script>\n");
    html.push_str(STEP_VIEW_JS);
    html.push_str("</script>\n</body></html>\n");
    let path = dir.join("report.html");
    write_atomic(&path, html.as_bytes()).map_err(|source| ReportError {
        path: path.clone(),
        source,
    })?;
    Ok(path)
}
