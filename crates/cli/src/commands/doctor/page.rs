//! `doctor.html`: one self-contained page with the rounds' table, and for each round its config
//! diff and its pictures (loss, activation histograms, update ratios, saturation) next to those
//! of the round it changed (the best one so far).

use super::super::lecture_page::escape;
use super::row::Row;
use crate::exit::Failure;
use makemore_diagnostics::inline_svg;
use makemore_diagnostics::satmap::{map_name, png_data_uri};
use makemore_model::config::edit::lookup;
use makemore_train::doctor::{Report, Round, Spec};
use makemore_train::run_dir::CONFIG;
use std::fmt::Write;

/// The run directory's plots the page shows for each round, with their headings.
const PICTURES: [(&str, &str); 3] = [
    ("loss", "loss"),
    ("activations", "activation histograms"),
    ("update-ratios", "update:data ratios"),
];

const STYLE: &str = "body{font-family:sans-serif;max-width:1500px;margin:1em auto;padding:0 1em;color:#222}\
table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}\
td.l,th.l{text-align:left}.pair{display:grid;grid-template-columns:1fr 1fr;gap:1.5em}\
.pair>div{min-width:0}svg{max-width:100%;height:auto}img.map{max-width:100%;image-rendering:pixelated}\
pre.diff{background:#f6f6f6;padding:.5em}.del{color:#b00}.add{color:#070}.finding{font-size:90%;color:#444}";

/// The page's HTML.
/// `kept_none`: the doctor wrote no fixed config (it could not improve this one).
pub fn html(report: &Report, spec: &Spec, kept_none: bool) -> Result<String, Failure> {
    let mut h = String::new();
    let title = format!("makemore doctor: {}", report.config);
    let _ = write!(
        h,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{t}</title>\n<style>{STYLE}</style></head><body>\n<h1>{t}</h1>\n",
        t = escape(&title)
    );
    let allow: Vec<&str> = report.allow.iter().map(|f| f.name()).collect();
    let _ = writeln!(
        h,
        "<p>Each round trains {} steps from the same seed and batches; allowed changes: {}. Stopped: {}. {}</p>",
        spec.steps,
        allow.join(", "),
        escape(&report.stopped.to_string()),
        match (kept_none, report.fixed.is_empty()) {
            (true, _) => "No fixed config was written: no change it could make helped.".to_string(),
            (false, true) => "Nothing needed changing: the fixed config is the config as given.".to_string(),
            (false, false) => format!("The fixed config is round {}'s.", report.best),
        }
    );
    table(&mut h, report);
    if !report.remaining().is_empty() {
        h.push_str("<h2>Left after the fixed round</h2><ul>\n");
        for a in report.remaining() {
            let _ = writeln!(h, "<li>{}</li>", escape(&a.message));
        }
        h.push_str("</ul>\n");
    }
    for (k, r) in report.rounds.iter().enumerate() {
        let _ = writeln!(h, "<section id=\"round-{k}\"><h2>Round {k}</h2>");
        // Beside the round it changed: the best one so far, not always the one before.
        let prev = (k > 0).then(|| &report.rounds[r.base]);
        if let Some(p) = prev {
            diff(&mut h, p, r)?;
        } else {
            h.push_str("<p>The config as given.</p>\n");
        }
        h.push_str("<div class=\"pair\">\n");
        if let Some(p) = prev {
            column(&mut h, p)?;
        }
        column(&mut h, r)?;
        h.push_str("</div></section>\n");
    }
    h.push_str("</body></html>\n");
    Ok(h)
}

/// The table printed on stdout, as HTML.
fn table(h: &mut String, report: &Report) {
    h.push_str("<table id=\"rounds\"><tr><th>round</th><th>first loss</th><th>val loss</th><th>worst saturation</th><th>median log10 update</th><th>advice</th><th class=\"l\">change</th></tr>\n");
    for r in &report.rounds {
        let row = Row::of(r);
        let changes: Vec<String> = (row.on.map(|b| format!("on round {b}:")))
            .into_iter()
            .chain(row.changes.iter().map(|c| escape(c)))
            .collect();
        let val = row
            .val_loss
            .unwrap_or_else(|step| format!("diverged at step {step}"));
        let _ = writeln!(
            h,
            "<tr><td><a href=\"#round-{k}\">{k}</a>{best}</td><td>{}</td><td>{val}</td><td>{}</td><td>{}</td><td>{}</td><td class=\"l\">{}</td></tr>",
            row.first_loss,
            row.worst_saturation,
            row.median_update,
            row.advice,
            if changes.is_empty() { "(as given)".into() } else { changes.join("<br>") },
            k = r.round,
            best = if r.round == report.best { " (fixed)" } else { "" },
        );
    }
    h.push_str("</table>\n");
}

/// The config text of a round's run directory.
fn config_of(r: &Round) -> Result<String, Failure> {
    let path = r.dir.join(CONFIG);
    std::fs::read_to_string(&path).map_err(|e| Failure {
        code: 1,
        message: format!("{}: {e}", path.display()),
    })
}

/// Round `r`'s changes as a diff of `prev`'s config, each with the finding that caused it.
fn diff(h: &mut String, prev: &Round, r: &Round) -> Result<(), Failure> {
    let (before, after) = (config_of(prev)?, config_of(r)?);
    h.push_str("<pre class=\"diff\">");
    for c in &r.changes {
        let old = lookup(&before, &c.key).unwrap_or_else(|| "(not set)".into());
        let new = lookup(&after, &c.key).unwrap_or_else(|| c.value.clone());
        let _ = writeln!(
            h,
            "<span class=\"del\">- {k} = {}</span>\n<span class=\"add\">+ {k} = {}</span>",
            escape(&old),
            escape(&new),
            k = escape(&c.key)
        );
    }
    h.push_str("</pre>\n<ul class=\"finding\">\n");
    for c in &r.changes {
        let _ = writeln!(
            h,
            "<li><code>{}</code>: {}</li>",
            escape(&c.key),
            escape(&c.finding)
        );
    }
    h.push_str("</ul>\n");
    Ok(())
}

/// One round's pictures: its plots, its layers' saturation, its most saturated layer's map.
fn column(h: &mut String, r: &Round) -> Result<(), Failure> {
    let _ = writeln!(h, "<div class=\"round\"><h3>round {}</h3>", r.round);
    if let Some(d) = &r.diverged {
        let _ = writeln!(
            h,
            "<p>Diverged at step {} (learning rate {}): {}. No pictures.</p></div>",
            d.step,
            d.lr,
            escape(&d.loss)
        );
        return Ok(());
    }
    for (name, heading) in PICTURES {
        let path = r.dir.join(format!("{name}.svg"));
        if let Ok(svg) = std::fs::read_to_string(&path) {
            let _ = writeln!(h, "<h4>{heading}</h4>{}", inline_svg(&svg));
        }
    }
    h.push_str("<h4>saturation at the last record</h4><table><tr><th class=\"l\">layer</th><th>saturated</th><th>std</th></tr>\n");
    for l in &r.layers {
        let _ = writeln!(
            h,
            "<tr><td class=\"l\">{}</td><td>{:.1}%</td><td>{:.3}</td></tr>",
            escape(&l.name),
            100.0 * l.saturated,
            l.std
        );
    }
    h.push_str("</table>\n");
    if let Some(last) = r.records.last() {
        let worst = last
            .activations()
            .filter(|l| l.output.saturated_frac.is_some())
            .max_by(|a, b| {
                let s =
                    |l: &&makemore_diagnostics::LayerRecord| l.output.saturated_frac.unwrap_or(0.0);
                s(a).total_cmp(&s(b))
            });
        if let Some(l) = worst {
            let path = r.dir.join(format!("{}.png", map_name(l, last.step)));
            if let Ok(png) = std::fs::read(&path) {
                let _ = writeln!(
                    h,
                    "<figure><img class=\"map\" alt=\"saturation map\" src=\"{}\"><figcaption>{} at step {}: white = saturated, red mark = dead unit</figcaption></figure>",
                    png_data_uri(&png),
                    escape(&l.name),
                    last.step
                );
            }
        }
    }
    h.push_str("</div>\n");
    Ok(())
}
