//! The validation-loss plot: the loss against the first axis, a line per combination of the
//! others (the first [`LINE_SERIES`], then their dashed mean when some are left out), over the
//! first [`LINE_POINTS`] values of the first axis.

use super::common::{count, esc, nth_combination, Combos};
use crate::collect::{Collected, SWEEP_JSON};
use std::collections::HashMap;

/// The most lines of the validation-loss plot (about what its legend holds).
pub(super) const LINE_SERIES: usize = 20;
/// The most points of each line (the first axis's first values).
pub(super) const LINE_POINTS: usize = 100;

/// Tableau 10 (designed to be told apart, colour-blind readers included), in its order; the
/// diagnostics' plots use the same.
const PALETTE: [&str; 10] = [
    "#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1", "#ff9da7",
    "#9c755f", "#bab0ac",
];
/// Past ten lines the colors repeat with another stroke each round: solid, long dashes, dots
/// (the mean's black "6 3" dashes are none of them).
const DASHES: [&str; 3] = [
    "",
    " stroke-dasharray=\"10 4\"",
    " stroke-dasharray=\"2 3\"",
];

/// The color and the dash attribute of line number `n`.
fn line_style(n: usize) -> (&'static str, &'static str) {
    (
        PALETTE[n % PALETTE.len()],
        DASHES[(n / PALETTE.len()) % DASHES.len()],
    )
}

/// The plot's size and margins (the legend in the right one), and its scales: `xs` values of
/// the first axis across, the validation loss from `lo` to `hi` up.
#[derive(Clone, Copy)]
struct Plot {
    w: f64,
    h: f64,
    left: f64,
    bottom: f64,
    top: f64,
    right: f64,
    xs: usize,
    lo: f64,
    hi: f64,
}

impl Plot {
    /// The plot of `xs` values across and every combination's validation loss (a little
    /// wider) up; 0 to 1 when no combination has one.
    fn new(c: &Collected, xs: usize) -> Self {
        let (w, h, left, bottom, top, right) = (820.0, 320.0, 60.0, 40.0, 16.0, 380.0);
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
        Self {
            w,
            h,
            left,
            bottom,
            top,
            right,
            xs,
            lo,
            hi,
        }
    }

    /// The x coordinate of the first axis's value number `i`.
    fn px(&self, i: usize) -> f64 {
        self.left + (self.w - self.left - self.right) * (i as f64 + 0.5) / self.xs as f64
    }

    /// The y coordinate of validation loss `v`.
    fn py(&self, v: f64) -> f64 {
        self.top + (self.h - self.top - self.bottom) * (1.0 - (v - self.lo) / (self.hi - self.lo))
    }
}

/// Validation loss against the first axis, a line per combination of the others; and, when
/// lines or points are left out, what.
pub(super) fn lines(c: &Collected, combos: &Combos) -> (String, Option<String>) {
    let all_xs = &c.axes[0].labels;
    let xs = &all_xs[..all_xs.len().min(LINE_POINTS)];
    let rest: Vec<usize> = (1..c.axes.len()).collect();
    let total = count(c, &rest);
    let shown = total.min(LINE_SERIES);
    let p = Plot::new(c, xs.len());
    let mut s = frame(c, &p, xs);
    s += &first_series(c, combos, &p, xs, &rest, shown);
    if shown < total {
        s += &mean_series(c, &p, xs, shown, total);
    }
    let cut = cuts(c, xs.len(), shown, total);
    let mut caption = "Validation loss (mean over seeds) against the first axis, one line per combination of the others.".to_string();
    if let Some(cut) = &cut {
        caption += &format!(" Showing {cut}. All rows are in {SWEEP_JSON}.");
    }
    let s = s + &format!("</svg><figcaption>{}</figcaption></figure>", esc(&caption));
    (s, cut)
}

/// The figure and SVG openings, the axes, five ticks of the loss, the values `xs` of the first
/// axis and both axes' titles.
fn frame(c: &Collected, p: &Plot, xs: &[String]) -> String {
    let Plot {
        w,
        h,
        left,
        bottom,
        top,
        right,
        lo,
        hi,
        ..
    } = *p;
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
            p.py(v) + 4.0
        );
    }
    for (i, x) in xs.iter().enumerate() {
        s += &format!(
            "<text x=\"{}\" y=\"{}\" text-anchor=\"middle\">{}</text>",
            p.px(i),
            h - bottom + 16.0,
            esc(x)
        );
    }
    s += &format!(
        "<text x=\"{}\" y=\"{}\" text-anchor=\"middle\" class=\"axis\">{}</text><text x=\"12\" y=\"{}\" class=\"axis\" transform=\"rotate(-90 12 {})\">val loss</text>",
        (left + w - right) / 2.0, h - 6.0, esc(&c.axes[0].name), h / 2.0, h / 2.0
    );
    s
}

/// One line through `points` in `stroke` (`dash`: its extra attributes), titled `name`, and its
/// entry number `n` in the legend.
fn series(
    p: &Plot,
    n: usize,
    (stroke, dash): (&str, &str),
    points: &[String],
    name: &str,
) -> String {
    let Plot { w, top, right, .. } = *p;
    let mut s = format!("<polyline fill=\"none\" stroke=\"{stroke}\" stroke-width=\"2\"{dash} points=\"{}\"><title>{}</title></polyline>", points.join(" "), esc(name));
    let ly = top + 14.0 * n as f64;
    s += &format!(
        "<line x1=\"{}\" y1=\"{ly}\" x2=\"{}\" y2=\"{ly}\" stroke=\"{stroke}\" stroke-width=\"2\"{dash}/><text x=\"{}\" y=\"{}\">{}</text>",
        w - right + 8.0, w - right + 24.0, w - right + 28.0, ly + 4.0, esc(name)
    );
    s
}

/// The first `shown` lines, one per combination of the axes `rest` in plan order, each through
/// its validation loss at the values `xs` of the first axis (looked up in `combos`), in the
/// [`line_style`] of its number.
fn first_series(
    c: &Collected,
    combos: &Combos,
    p: &Plot,
    xs: &[String],
    rest: &[usize],
    shown: usize,
) -> String {
    let mut s = String::new();
    for n in 0..shown {
        let fixed = nth_combination(c, rest, n);
        let mut points = Vec::new();
        let mut at = fixed.clone();
        at.push((0, ""));
        for (i, x) in xs.iter().enumerate() {
            if let Some(last) = at.last_mut() {
                *last = (0, x.as_str());
            }
            if let Some(v) = combos.get(&at).and_then(|k| k.val_loss) {
                points.push(format!("{:.1},{:.1}", p.px(i), p.py(v)));
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
        s += &series(p, n, line_style(n), &points, &name);
    }
    s
}

/// The dashed mean of all `total` lines at each of the values `xs` of the first axis, as legend
/// entry number `shown`.
fn mean_series(c: &Collected, p: &Plot, xs: &[String], shown: usize, total: usize) -> String {
    // The mean over every series at each shown value of the first axis: one pass.
    let mut at: HashMap<&str, usize> = HashMap::with_capacity(xs.len());
    for (i, x) in xs.iter().enumerate() {
        at.entry(x.as_str()).or_insert(i);
    }
    let mut sums = vec![(0.0, 0usize); xs.len()];
    for k in &c.combos {
        let i = k.labels.first().and_then(|l| at.get(l.as_str()));
        if let (Some(&i), Some(v)) = (i, k.val_loss) {
            sums[i] = (sums[i].0 + v, sums[i].1 + 1);
        }
    }
    let points: Vec<String> = sums
        .iter()
        .enumerate()
        .filter(|(_, (_, n))| *n > 0)
        .map(|(i, (sum, n))| format!("{:.1},{:.1}", p.px(i), p.py(sum / *n as f64)))
        .collect();
    let name = format!("mean of all {total}");
    let dash = ("#000", " stroke-dasharray=\"6 3\"");
    series(p, shown, dash, &points, &name)
}

/// What the plot leaves out, if anything: the lines after the first `shown` of `total`, and the
/// values of the first axis after the first `xs`.
fn cuts(c: &Collected, xs: usize, shown: usize, total: usize) -> Option<String> {
    let mut cut = Vec::new();
    if shown < total {
        cut.push(format!(
            "{shown} of {total} lines (the first in plan order) and, dashed, the mean of all {total}"
        ));
    }
    let all_xs = c.axes[0].labels.len();
    if xs < all_xs {
        cut.push(format!(
            "the first {} of {} values of {}",
            xs, all_xs, c.axes[0].name
        ));
    }
    (!cut.is_empty()).then(|| cut.join("; "))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::collect::fixture::{collected, combo};

    /// The stroke and dash of each line of the plot but the mean.
    fn styles(html: &str) -> Vec<(String, String)> {
        html.split("<polyline ")
            .skip(1)
            .map(|p| {
                let attr = |name: &str| {
                    p.split_once(&format!("{name}=\""))
                        .and_then(|(_, rest)| rest.split_once('"'))
                        .map_or_else(String::new, |(v, _)| v.to_string())
                };
                (attr("stroke"), attr("stroke-dasharray"))
            })
            .collect()
    }

    #[test]
    fn twelve_lines_differ_in_color_or_stroke() {
        let seeds: Vec<String> = (0..12).map(|i| format!("s{i}")).collect();
        let seeds: Vec<&str> = seeds.iter().map(String::as_str).collect();
        let mut combos = Vec::new();
        for (i, x) in ["0.1", "0.2"].into_iter().enumerate() {
            for (j, s) in seeds.iter().enumerate() {
                let mut k = combo(&[x, s]);
                k.val_loss = Some(2.0 + 0.1 * i as f64 + 0.01 * j as f64);
                combos.push(k);
            }
        }
        let c = collected(&[("lr", &["0.1", "0.2"]), ("init", &seeds)], combos);
        let (html, cut) = lines(&c, &Combos::new(&c));
        assert_eq!(cut, None);
        let styles = styles(&html);
        assert_eq!(styles.len(), 12);
        for (i, a) in styles.iter().enumerate() {
            for b in &styles[i + 1..] {
                assert_ne!(a, b, "line {i} looks like another");
            }
        }
        // The first ten take ten colors, solid; the next ones repeat them dashed.
        let colors: std::collections::BTreeSet<&str> =
            styles[..10].iter().map(|s| s.0.as_str()).collect();
        assert_eq!(colors.len(), 10);
        assert!(styles[..10].iter().all(|s| s.1.is_empty()));
        assert_eq!(styles[10].0, styles[0].0);
        assert!(!styles[10].1.is_empty());
    }
}
