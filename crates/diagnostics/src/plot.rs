//! Plots as SVG and PNG: activation, activation-gradient and weight-gradient histograms (one curve
//! per layer, as in the lecture), update ratios over time with a guide at -3, and the loss curve.

use crate::record::{show_ratio, DiagnosticRecord, LayerRecord};
use makemore_files::write_atomic;
use plotters::coord::Shift;
use plotters::prelude::*;
use std::path::{Path, PathBuf};

/// Writing a plot failed.
#[derive(Debug, thiserror::Error)]
pub enum PlotError {
    /// Drawing failed.
    #[error("{path}: cannot draw: {message}")]
    Draw {
        /// The file.
        path: PathBuf,
        /// Why.
        message: String,
    },
    /// Writing failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
}

/// The file stems of every plot [`render_plots`] writes (`NAME.svg`, `NAME.png`).
pub const PLOT_NAMES: [&str; 5] = [
    "activations",
    "activation-grads",
    "weight-grads",
    "update-ratios",
    "loss",
];

/// The plots written for a run: `(name, title, svg path, png path)`.
#[derive(Debug, Clone, Default)]
pub struct PlotSet {
    /// One entry per plot.
    pub plots: Vec<(String, String, PathBuf, PathBuf)>,
}

struct Chart {
    title: String,
    x_label: &'static str,
    y_label: &'static str,
    series: Vec<(String, Vec<(f64, f64)>)>,
    guide: Option<(f64, &'static str)>,
}

const SIZE: (u32, u32) = (960, 540);

fn register_font() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        // A font compiled into the binary: no system font is needed to draw text in the PNGs.
        let _ = plotters::style::register_font(
            "sans-serif",
            FontStyle::Normal,
            epaint_default_fonts::UBUNTU_LIGHT,
        );
    });
}

fn bounds(series: &[(String, Vec<(f64, f64)>)], guide: Option<f64>) -> ((f64, f64), (f64, f64)) {
    let pts = series
        .iter()
        .flat_map(|(_, p)| p.iter())
        .filter(|(x, y)| x.is_finite() && y.is_finite());
    let (mut x0, mut x1, mut y0, mut y1) = (
        f64::INFINITY,
        f64::NEG_INFINITY,
        f64::INFINITY,
        f64::NEG_INFINITY,
    );
    for &(x, y) in pts {
        x0 = x0.min(x);
        x1 = x1.max(x);
        y0 = y0.min(y);
        y1 = y1.max(y);
    }
    if let Some(g) = guide {
        y0 = y0.min(g);
        y1 = y1.max(g);
    }
    if !x0.is_finite() {
        return ((0.0, 1.0), (0.0, 1.0));
    }
    let pad = |lo: f64, hi: f64, share: f64| if hi > lo { (hi - lo) * share } else { 0.5 };
    let (px, py) = (pad(x0, x1, 0.02), pad(y0, y1, 0.05));
    ((x0 - px, x1 + px), (y0 - py, y1 + py))
}

fn draw<DB: DrawingBackend>(root: DrawingArea<DB, Shift>, c: &Chart) -> Result<(), String> {
    root.fill(&WHITE).map_err(|e| e.to_string())?;
    let ((x0, x1), (y0, y1)) = bounds(&c.series, c.guide.map(|g| g.0));
    let mut chart = ChartBuilder::on(&root)
        .caption(&c.title, ("sans-serif", 22))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(70)
        .build_cartesian_2d(x0..x1, y0..y1)
        .map_err(|e| e.to_string())?;
    chart
        .configure_mesh()
        .x_desc(c.x_label)
        .y_desc(c.y_label)
        .label_style(("sans-serif", 14))
        .draw()
        .map_err(|e| e.to_string())?;
    for (i, (label, points)) in c.series.iter().enumerate() {
        let color = Palette99::pick(i).to_rgba();
        chart
            .draw_series(LineSeries::new(
                points
                    .iter()
                    .cloned()
                    .filter(|(x, y)| x.is_finite() && y.is_finite()),
                color.stroke_width(2),
            ))
            .map_err(|e| e.to_string())?
            .label(label.clone())
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 18, y)], color.stroke_width(2))
            });
    }
    if let Some((g, label)) = c.guide {
        chart
            .draw_series(LineSeries::new(
                vec![(x0, g), (x1, g)],
                BLACK.mix(0.6).stroke_width(1),
            ))
            .map_err(|e| e.to_string())?
            .label(label)
            .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], BLACK.mix(0.6)));
    }
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK.mix(0.3))
        .label_font(("sans-serif", 13))
        .position(SeriesLabelPosition::UpperRight)
        .draw()
        .map_err(|e| e.to_string())?;
    root.present().map_err(|e| e.to_string())
}

fn write_chart(dir: &Path, name: &str, c: &Chart) -> Result<(PathBuf, PathBuf), PlotError> {
    register_font();
    let svg_path = dir.join(format!("{name}.svg"));
    let mut svg = String::new();
    draw(
        SVGBackend::with_string(&mut svg, SIZE).into_drawing_area(),
        c,
    )
    .map_err(|message| PlotError::Draw {
        path: svg_path.clone(),
        message,
    })?;
    write_atomic(&svg_path, svg.as_bytes()).map_err(|source| PlotError::Io {
        path: svg_path.clone(),
        source,
    })?;
    let png_path = dir.join(format!("{name}.png"));
    let tmp = dir.join(format!("{name}.tmp.png"));
    draw(BitMapBackend::new(&tmp, SIZE).into_drawing_area(), c).map_err(|message| {
        PlotError::Draw {
            path: png_path.clone(),
            message,
        }
    })?;
    std::fs::rename(&tmp, &png_path).map_err(|source| PlotError::Io {
        path: png_path.clone(),
        source,
    })?;
    Ok((svg_path, png_path))
}

/// `, saturated (|x| > 0.97) 2.78%`, or nothing for a layer that does not saturate.
fn percent(r: &DiagnosticRecord, x: Option<f64>) -> String {
    x.map(|s| format!(", {} {:.2}%", r.saturated_words(), 100.0 * s))
        .unwrap_or_default()
}

/// Draws every plot into `dir` from the recorded steps and the loss trace (`(step, loss)`,
/// per step or already averaged).
pub fn render_plots(
    dir: &Path,
    records: &[DiagnosticRecord],
    losses: &[(u64, f64)],
) -> Result<PlotSet, PlotError> {
    let mut set = PlotSet::default();
    let mut add = |name: &str, c: Chart| -> Result<(), PlotError> {
        let (svg, png) = write_chart(dir, name, &c)?;
        set.plots.push((name.to_owned(), c.title, svg, png));
        Ok(())
    };
    if let Some(last) = records.last() {
        let acts: Vec<&LayerRecord> = last.activations().collect();
        add(PLOT_NAMES[0], activations_chart(last, &acts))?;
        add(PLOT_NAMES[1], activation_grads_chart(last, &acts))?;
        add(PLOT_NAMES[2], weight_grads_chart(last))?;
        add(PLOT_NAMES[3], update_ratios_chart(records, last))?;
    }
    if !losses.is_empty() {
        add(PLOT_NAMES[4], loss_chart(losses))?;
    }
    Ok(set)
}

/// The histograms of the activation layers' outputs at the last record.
fn activations_chart(last: &DiagnosticRecord, acts: &[&LayerRecord]) -> Chart {
    Chart {
        title: format!("activation distribution (step {})", last.step),
        x_label: "activation",
        y_label: "density",
        series: acts
            .iter()
            .map(|l| {
                let s = &l.output.summary;
                (
                    format!(
                        "{}: mean {:+.2}, std {:.2}{}",
                        l.name,
                        s.mean,
                        s.std,
                        percent(last, l.output.saturated_frac)
                    ),
                    s.histogram.density(),
                )
            })
            .collect(),
        guide: None,
    }
}

/// The histograms of the gradients with respect to the activation layers' outputs.
fn activation_grads_chart(last: &DiagnosticRecord, acts: &[&LayerRecord]) -> Chart {
    Chart {
        title: format!(
            "gradient distribution at the activations (step {})",
            last.step
        ),
        x_label: "gradient",
        y_label: "density",
        series: acts
            .iter()
            .filter_map(|l| {
                l.grad.as_ref().map(|g| {
                    (
                        format!("{}: mean {:+.2e}, std {:.2e}", l.name, g.mean, g.std),
                        g.histogram.density(),
                    )
                })
            })
            .collect(),
        guide: None,
    }
}

/// The histograms of the weight matrices' gradients at the last record.
fn weight_grads_chart(last: &DiagnosticRecord) -> Chart {
    Chart {
        title: format!("weight gradient distribution (step {})", last.step),
        x_label: "gradient",
        y_label: "density",
        series: last
            .params
            .iter()
            .filter(|p| p.is_matrix())
            .map(|p| {
                (
                    format!(
                        "{} {:?}: std {:.2e}, grad:data {}",
                        p.name,
                        p.shape,
                        p.grad_std,
                        show_ratio(p.grad_data_ratio, |r| format!("{r:.2e}"))
                    ),
                    p.grad_histogram.density(),
                )
            })
            .collect(),
        guide: None,
    }
}

/// The log10 update:data ratio of each weight matrix (those of the last record) over the
/// records, with a guide at -3.
fn update_ratios_chart(records: &[DiagnosticRecord], last: &DiagnosticRecord) -> Chart {
    let names: Vec<&str> = last
        .params
        .iter()
        .filter(|p| p.is_matrix())
        .map(|p| p.name.as_str())
        .collect();
    Chart {
        title: "update:data ratio over time".into(),
        x_label: "step",
        y_label: "log10(std(data after - data before) / std(data))",
        series: names
            .iter()
            .map(|n| {
                let pts = records
                    .iter()
                    .filter_map(|r| {
                        r.params
                            .iter()
                            .find(|p| p.name == *n)
                            .and_then(|p| p.log10_update_ratio)
                            .map(|u| (r.step as f64, u))
                    })
                    .collect();
                (n.to_string(), pts)
            })
            .collect(),
        guide: Some((-3.0, "rule of thumb: -3")),
    }
}

/// The loss trace on a log10 scale.
fn loss_chart(losses: &[(u64, f64)]) -> Chart {
    Chart {
        title: "training loss".into(),
        x_label: "step",
        y_label: "log10(loss)",
        series: vec![(
            "minibatch loss, window mean".into(),
            losses.iter().map(|&(s, l)| (s as f64, l.log10())).collect(),
        )],
        guide: None,
    }
}

/// Averages a per-step loss trace over consecutive windows of `window` steps:
/// `(first step of the window, mean)`.
pub fn window_means(losses: &[f32], window: usize) -> Vec<(u64, f64)> {
    losses
        .chunks(window.max(1))
        .enumerate()
        .map(|(i, c)| {
            (
                (i * window.max(1)) as u64,
                c.iter().map(|&l| f64::from(l)).sum::<f64>() / c.len() as f64,
            )
        })
        .collect()
}
