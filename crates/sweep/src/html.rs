//! `sweep.html`: one heatmap per metric over the two chosen axes (the other axes as small
//! multiples), and the validation loss against the first axis as a line per series. Each heatmap
//! cell links to its run's `report.html`. One self-contained file: inline SVG, no scripts.

use crate::collect::{Collected, ComboRow};

/// A metric the page maps: its id, title, how to read it, its value, how to show it, whether
/// colors follow its log10, and its color range (`None`: the values' own).
struct Metric {
    id: &'static str,
    title: &'static str,
    help: &'static str,
    value: fn(&ComboRow) -> Option<f64>,
    show: fn(f64) -> String,
    log: bool,
    range: Option<(f64, f64)>,
}

/// Ratios are colored on log10 from a quarter (blue) through 1 (pale) to 4 (red), or wider when
/// the values are.
const RATIO_RANGE: f64 = 0.6;

const METRICS: [Metric; 6] = [
    Metric {
        id: "val_loss",
        title: "Validation loss",
        help: "mean over seeds; lower is better",
        value: |c| c.val_loss,
        show: |x| format!("{x:.3}"),
        log: false,
        range: None,
    },
    Metric {
        id: "max_saturation",
        title: "Max saturation",
        help: "largest share of |tanh| > 0.97 in any layer at the last recorded step",
        value: |c| c.max_saturation,
        show: |x| format!("{:.0}%", 100.0 * x),
        log: false,
        range: Some((0.0, 1.0)),
    },
    Metric {
        id: "init_act_std_ratio",
        title: "Activation std at step 0, last layer / first",
        help: "what the initialization alone does to the scale through the depth; 1 keeps it",
        value: |c| c.init_act_std_ratio,
        show: |x| format!("{x:.2}"),
        log: true,
        range: None,
    },
    Metric {
        id: "act_std_ratio",
        title: "Activation std at the end, last layer / first",
        help: "at the last recorded step; 1: the scale survives the depth",
        value: |c| c.act_std_ratio,
        show: |x| format!("{x:.2}"),
        log: true,
        range: None,
    },
    Metric {
        id: "grad_std_ratio",
        title: "Activation-gradient std, last layer / first",
        help: "1: gradients neither vanish nor explode across the depth",
        value: |c| c.grad_std_ratio,
        show: |x| format!("{x:.2}"),
        log: true,
        range: None,
    },
    Metric {
        id: "median_log10_update",
        title: "Median log10 update:data ratio",
        help: "weight matrices; the lecture's rule of thumb is about -3",
        value: |c| c.median_log10_update,
        show: |x| format!("{x:.2}"),
        log: false,
        // -3 (the rule of thumb) in the middle.
        range: Some((-5.0, -1.0)),
    },
];

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
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

/// Every combination of labels of the axes `idx`, as (axis, label) pairs.
fn combinations(c: &Collected, idx: &[usize]) -> Vec<Vec<(usize, String)>> {
    let mut out = vec![Vec::new()];
    for &i in idx {
        let mut next = Vec::new();
        for prefix in &out {
            for l in &c.axes[i].labels {
                let mut p = prefix.clone();
                p.push((i, l.clone()));
                next.push(p);
            }
        }
        out = next;
    }
    out
}

fn combo<'a>(c: &'a Collected, fixed: &[(usize, String)]) -> Option<&'a ComboRow> {
    c.combos
        .iter()
        .find(|r| fixed.iter().all(|(i, l)| &r.labels[*i] == l))
}

fn heatmap(c: &Collected, m: &Metric, fixed: &[(usize, String)], range: (f64, f64)) -> String {
    let (ri, ci, _) = layout(c);
    let rows = &c.axes[ri].labels;
    let cols: Vec<String> = ci.map_or(vec![String::new()], |i| c.axes[i].labels.clone());
    let (cw, ch, left, top) = (64.0, 30.0, 110.0, 40.0);
    let width = left + cw * cols.len() as f64 + 10.0;
    let height = top + ch * rows.len() as f64 + 10.0;
    let title = fixed
        .iter()
        .map(|(i, l)| format!("{} = {l}", c.axes[*i].name))
        .collect::<Vec<_>>()
        .join(", ");
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
        for (j, col) in cols.iter().enumerate() {
            let x = left + cw * j as f64;
            let mut at = fixed.to_vec();
            at.push((ri, row.clone()));
            if let Some(i) = ci {
                at.push((i, col.clone()));
            }
            let cell = combo(c, &at);
            let value = cell.and_then(|k| (m.value)(k));
            let (fill, text) = match (cell, value) {
                (Some(k), _) if k.runs > 0 && k.diverged == k.runs => {
                    ("#777".to_string(), "diverged".to_string())
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
            let tip = match cell {
                Some(k) => format!(
                    "{} runs, {} diverged{}",
                    k.runs,
                    k.diverged,
                    k.advice
                        .iter()
                        .map(|a| format!("; {a}"))
                        .collect::<String>()
                ),
                None => "not run".into(),
            };
            let rect = format!(
                "<rect x=\"{x}\" y=\"{y}\" width=\"{cw}\" height=\"{ch}\" fill=\"{fill}\" stroke=\"#fff\"><title>{}</title></rect><text x=\"{}\" y=\"{}\" text-anchor=\"middle\">{}</text>",
                esc(&tip),
                x + cw / 2.0,
                y + ch * 0.65,
                esc(&text)
            );
            s += &match cell.and_then(|k| k.report.as_ref()) {
                Some(href) => format!("<a href=\"{}\" class=\"cell\">{rect}</a>", esc(href)),
                None => rect,
            };
        }
    }
    s += "</svg>";
    if !title.is_empty() {
        s += &format!("<figcaption>{}</figcaption>", esc(&title));
    }
    s + "</figure>"
}

/// Validation loss against the first axis, a line per combination of the other axes.
fn lines(c: &Collected) -> String {
    let (w, h, left, bottom, top, right) = (820.0, 320.0, 60.0, 40.0, 16.0, 380.0);
    let xs = &c.axes[0].labels;
    let series = combinations(c, &(1..c.axes.len()).collect::<Vec<_>>());
    let vals: Vec<f64> = c.combos.iter().filter_map(|k| k.val_loss).collect();
    let (lo, hi) = vals
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &v| {
            (a.min(v), b.max(v))
        });
    let (lo, hi) = if lo.is_finite() {
        (lo - 0.02, hi + 0.02)
    } else {
        (0.0, 1.0)
    };
    let px = |i: usize| left + (w - left - right) * (i as f64 + 0.5) / xs.len() as f64;
    let py = |v: f64| top + (h - top - bottom) * (1.0 - (v - lo) / (hi - lo));
    let mut s = format!("<figure id=\"lines\"><svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{h}\" role=\"img\">");
    s += &format!(
        "<line x1=\"{left}\" y1=\"{}\" x2=\"{}\" y2=\"{}\" stroke=\"#333\"/><line x1=\"{left}\" y1=\"{top}\" x2=\"{left}\" y2=\"{}\" stroke=\"#333\"/>",
        h - bottom, w - right, h - bottom, h - bottom
    );
    for k in 0..=4 {
        let v = lo + (hi - lo) * k as f64 / 4.0;
        s += &format!(
            "<text x=\"{}\" y=\"{}\" text-anchor=\"end\">{v:.2}</text>",
            left - 4.0,
            py(v) + 4.0
        );
    }
    for (i, x) in xs.iter().enumerate() {
        s += &format!(
            "<text x=\"{}\" y=\"{}\" text-anchor=\"middle\">{}</text>",
            px(i),
            h - bottom + 16.0,
            esc(x)
        );
    }
    s += &format!(
        "<text x=\"{}\" y=\"{}\" text-anchor=\"middle\" class=\"axis\">{}</text><text x=\"12\" y=\"{}\" class=\"axis\" transform=\"rotate(-90 12 {})\">val loss</text>",
        (left + w - right) / 2.0, h - 6.0, esc(&c.axes[0].name), h / 2.0, h / 2.0
    );
    for (n, fixed) in series.iter().enumerate() {
        let hue = (n as f64 * 360.0 / series.len().max(1) as f64).round();
        let stroke = format!("hsl({hue},65%,42%)");
        let mut points = Vec::new();
        for (i, x) in xs.iter().enumerate() {
            let mut at = fixed.clone();
            at.push((0, x.clone()));
            if let Some(v) = combo(c, &at).and_then(|k| k.val_loss) {
                points.push(format!("{:.1},{:.1}", px(i), py(v)));
            }
        }
        let name = if fixed.is_empty() {
            "val loss".to_string()
        } else {
            fixed
                .iter()
                .map(|(i, l)| format!("{}={l}", c.axes[*i].name))
                .collect::<Vec<_>>()
                .join(", ")
        };
        s += &format!("<polyline fill=\"none\" stroke=\"{stroke}\" stroke-width=\"2\" points=\"{}\"><title>{}</title></polyline>", points.join(" "), esc(&name));
        let ly = top + 14.0 * n as f64;
        s += &format!(
            "<line x1=\"{}\" y1=\"{ly}\" x2=\"{}\" y2=\"{ly}\" stroke=\"{stroke}\" stroke-width=\"2\"/><text x=\"{}\" y=\"{}\">{}</text>",
            w - right + 8.0, w - right + 24.0, w - right + 28.0, ly + 4.0, esc(&name)
        );
    }
    s + "</svg><figcaption>Validation loss (mean over seeds) against the first axis, one line per combination of the others.</figcaption></figure>"
}

/// The whole page.
pub fn page(c: &Collected) -> String {
    let (_, _, others) = layout(c);
    let multiples = combinations(c, &others);
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
    if !c.missing.is_empty() {
        body += &format!(
            "<p id=\"missing\">Not done yet: {}.</p>",
            c.missing
                .iter()
                .map(|(i, d)| format!("{i} ({})", esc(d)))
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    if !c.failed.is_empty() {
        body += "<ul id=\"failed\">";
        for f in &c.failed {
            body += &format!(
                "<li>Failed: cell {} ({}): {}{}</li>",
                f.index,
                esc(&f.dir),
                esc(&f.error),
                f.log
                    .as_ref()
                    .map_or_else(String::new, |l| format!("; log: <code>{}</code>", esc(l)))
            );
        }
        body += "</ul>";
    }
    body += "<section id=\"val-lines\"><h2>Validation loss</h2>";
    body += &lines(c);
    body += "</section>";
    for m in &METRICS {
        let t = |x: f64| if m.log { x.abs().max(1e-12).log10() } else { x };
        let vals: Vec<f64> = c
            .combos
            .iter()
            .filter_map(|k| (m.value)(k))
            .map(t)
            .collect();
        let range = vals
            .iter()
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &v| {
                (a.min(v), b.max(v))
            });
        // A ratio's colors are centered on 1 (log10 0): blue below, red above.
        let range = match m.range {
            Some(r) => r,
            None if m.log => {
                let r = range.0.abs().max(range.1.abs()).max(RATIO_RANGE);
                (-r, r)
            }
            None => range,
        };
        body += &format!(
            "<section id=\"heatmap-{}\" class=\"metric\"><h2>{}</h2><p class=\"help\">{}</p><div class=\"multiples\">",
            m.id,
            esc(m.title),
            esc(m.help)
        );
        for fixed in &multiples {
            body += &heatmap(c, m, fixed, range);
        }
        body += "</div></section>";
    }
    format!(
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Sweep: {}</title><style>body{{font-family:sans-serif;max-width:1200px;margin:1em auto;padding:0 1em}}svg text{{font-size:11px;font-family:sans-serif}}svg text.axis{{font-weight:bold}}.multiples{{display:flex;flex-wrap:wrap;gap:1em}}figure{{margin:0}}figcaption{{font-size:12px;color:#444}}.help{{color:#555;font-size:13px}}a.cell:hover rect{{stroke:#000}}</style></head><body>{body}</body></html>\n",
        esc(&c.name)
    )
}
