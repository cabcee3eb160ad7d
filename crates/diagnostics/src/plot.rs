//! Plots as SVG and PNG: activation, activation-gradient and weight-gradient histograms (one curve
//! per layer, as in the lecture), update ratios over time with a guide at -3, and the loss curve.

pub use crate::chart::{inline_svg, write_line_chart, LineChart, PlotError};
use crate::chart::{write_chart, Chart, ChartFiles, DENSITY};
use crate::record::{show_ratio, DiagnosticRecord, LayerKind, LayerRecord};
use std::path::{Path, PathBuf};

/// The file stems of every plot [`render_plots`] writes (`NAME.svg`, `NAME.png`), in the order
/// the report shows them.
pub const PLOT_NAMES: [&str; 6] = [
    "activations",
    "preactivations",
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
    /// The saturation maps of the first and last record, one per activation layer that has
    /// one (`saturation-layerI-stepS.png`).
    pub maps: Vec<crate::satmap::MapFile>,
}

/// `, saturated (|x| > 0.97) 2.78%`, or nothing for a layer that does not saturate.
fn percent(r: &DiagnosticRecord, l: &LayerRecord) -> String {
    let x = l.output.saturated_frac;
    x.map(|s| format!(", {} {:.2}%", r.saturated_words_of(l), 100.0 * s))
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
        let ChartFiles { svg, png, .. } = write_chart(dir, name, &c)?;
        set.plots.push((name.to_owned(), c.title, svg, png));
        Ok(())
    };
    if let Some(last) = records.last() {
        let acts: Vec<&LayerRecord> = last.activations().collect();
        add(PLOT_NAMES[0], activations_chart(last, &acts))?;
        add(PLOT_NAMES[1], preactivations_chart(last))?;
        add(PLOT_NAMES[2], activation_grads_chart(last, &acts))?;
        add(PLOT_NAMES[3], weight_grads_chart(last))?;
        add(PLOT_NAMES[4], update_ratios_chart(records, last))?;
    }
    if !losses.is_empty() {
        add(PLOT_NAMES[5], loss_chart(losses))?;
    }
    let ends: Vec<&DiagnosticRecord> = match (records.first(), records.last()) {
        (Some(f), Some(l)) if f.step != l.step => vec![f, l],
        (Some(f), _) => vec![f],
        _ => Vec::new(),
    };
    set.maps = crate::satmap::write_saturation_maps(dir, &ends)?;
    Ok(set)
}

/// The histograms of the activation layers' outputs at the last record.
fn activations_chart(last: &DiagnosticRecord, acts: &[&LayerRecord]) -> Chart {
    Chart {
        title: format!("activation distribution (step {})", last.step),
        x_label: "activation".into(),
        y_label: DENSITY.into(),
        density: true,
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
                        percent(last, l)
                    ),
                    s.histogram.density(),
                )
            })
            .collect(),
        guide: None,
    }
}

/// The histograms of each activation layer's input at the last record: the output of the
/// layer just before it (a Linear or a normalization: the lecture's `hpreact`), labelled with
/// both. An activation that comes first has no such layer and no curve.
fn preactivations_chart(last: &DiagnosticRecord) -> Chart {
    Chart {
        title: format!(
            "pre-activation distribution: each activation's input (step {})",
            last.step
        ),
        x_label: "pre-activation".into(),
        y_label: DENSITY.into(),
        density: true,
        series: last
            .layers
            .windows(2)
            .filter(|w| matches!(w[1].layer.kind, LayerKind::Activation { .. }))
            .map(|w| {
                let (pre, act) = (&w[0], &w[1]);
                let s = &pre.output.summary;
                (
                    format!(
                        "{}, into {}: mean {:+.2}, std {:.2}",
                        pre.name, act.name, s.mean, s.std
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
        x_label: "gradient".into(),
        y_label: DENSITY.into(),
        density: true,
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
        x_label: "gradient".into(),
        y_label: DENSITY.into(),
        density: true,
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
        x_label: "step".into(),
        y_label: "log10(std(data after - data before) / std(data))".into(),
        density: false,
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
        guide: Some((-3.0, "rule of thumb: -3".into())),
    }
}

/// The loss trace on a log10 scale.
fn loss_chart(losses: &[(u64, f64)]) -> Chart {
    Chart {
        title: "training loss".into(),
        x_label: "step".into(),
        y_label: "log10(loss)".into(),
        density: false,
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chart::*;
    use crate::record::{LayerInfo, OutputStats};
    use crate::{Saturation, Summary};
    use plotters::prelude::*;

    const BINS: usize = 10;

    #[test]
    fn ticks_read_as_numbers_are_written() {
        assert_eq!(tick(20000.0), "20000");
        assert_eq!(tick(-0.0), "0");
        assert_eq!(tick(0.5), "0.5");
        assert_eq!(tick(-2.25), "-2.25");
        assert_eq!(tick(0.0012), "0.0012");
        assert_eq!(tick(0.00125), "0.00125");
        assert_eq!(tick(-5e-4), "-0.0005");
        assert_eq!(tick(-2.2e-16), "0");
        assert_eq!(tick(-2e-5), "-2.0e-5");
    }

    fn layer(index: usize, kind: LayerKind, values: &[f32]) -> LayerRecord {
        let info = LayerInfo::new(index, kind);
        LayerRecord {
            name: info.name(),
            layer: info,
            output: OutputStats {
                summary: Summary::of(values, BINS),
                saturated_frac: None,
                dead_units: None,
                units: values.len(),
                map: None,
            },
            grad: Some(Summary::of(values, BINS)),
        }
    }

    /// Linear, BatchNorm1d, Tanh, Linear, Tanh: the lecture's stack, two layers deep.
    fn record() -> DiagnosticRecord {
        let tanh = || LayerKind::activation("Tanh", Saturation::Tanh);
        let wide = [-3.0f32, -1.0, 0.0, 0.5, 2.0, 4.0];
        let narrow = [-0.9f32, -0.5, 0.0, 0.1, 0.95, 0.99];
        DiagnosticRecord {
            step: 42,
            loss: 2.5,
            lr: 0.1,
            layers: vec![
                layer(0, LayerKind::Linear, &wide),
                layer(1, LayerKind::norm("BatchNorm1d"), &[-1.0, 0.0, 1.0, 2.0]),
                layer(2, tanh(), &narrow),
                layer(3, LayerKind::Linear, &wide),
                layer(4, tanh(), &narrow),
            ],
            params: Vec::new(),
            expected_loss: None,
            rescaled_loss: None,
            saturation_threshold: None,
        }
    }

    fn chart(series: usize, density: bool) -> Chart {
        Chart {
            title: "test".into(),
            x_label: "x".into(),
            y_label: DENSITY.into(),
            density,
            series: (0..series)
                .map(|i| {
                    let peak = i as f64 + 1.0;
                    // A tanh-like U: the peaks at both edges, where a legend inside would sit.
                    (
                        format!("curve{i}"),
                        vec![(-1.0, peak), (0.0, 0.5), (1.0, peak)],
                    )
                })
                .collect(),
            guide: None,
        }
    }

    #[test]
    fn a_density_axis_starts_at_zero() {
        let c = chart(2, true);
        let (_, y) = bounds(&c.series, None, true);
        assert_eq!(y, (0.0, 2.0 * (1.0 + DENSITY_HEADROOM)));
        // Other charts keep the data's own range, padded.
        let (_, y) = bounds(&c.series, None, false);
        assert!(y.0 > 0.0 && y.0 < 0.5, "{y:?}");
        // Every histogram chart is a density.
        let r = record();
        let acts: Vec<&LayerRecord> = r.activations().collect();
        for c in [
            activations_chart(&r, &acts),
            preactivations_chart(&r),
            activation_grads_chart(&r, &acts),
            weight_grads_chart(&r),
        ] {
            assert!(c.density && c.y_label == DENSITY, "{}", c.title);
        }
        assert!(!update_ratios_chart(std::slice::from_ref(&r), &r).density);
    }

    /// The `y` of the SVG text element that shows `label`.
    fn text_y(svg: &str, label: &str) -> f64 {
        let at = svg
            .find(&format!(">\n{label}\n</text>"))
            .unwrap_or_else(|| panic!("{label} is not drawn"));
        let open = svg[..at].rfind("<text").expect("a text element");
        let y = &svg[open..at];
        let y = &y[y.find(" y=\"").expect("its y") + 4..];
        y[..y.find('"').expect("closed")].parse().expect("a number")
    }

    #[test]
    fn the_legend_is_below_the_plotting_area() {
        register_font();
        let c = chart(12, true);
        let size = canvas_size(&c);
        assert_eq!(size, (PLOT_SIZE.0, PLOT_SIZE.1 + legend_height(12)));
        let mut svg = String::new();
        draw(
            SVGBackend::with_string(&mut svg, size).into_drawing_area(),
            &c,
        )
        .expect("drawn");
        let mut last = 0.0;
        for i in 0..12 {
            let y = text_y(&svg, &format!("curve{i}"));
            assert!(
                y >= f64::from(PLOT_SIZE.1),
                "curve{i} at {y}: inside the plot"
            );
            assert!(y > last && y < f64::from(size.1), "curve{i} at {y}");
            last = y;
        }
    }

    #[test]
    fn twelve_curves_differ_in_color_or_stroke() {
        let styles: Vec<Style> = (0..30).map(series_style).collect();
        for (i, a) in styles.iter().enumerate() {
            for b in &styles[i + 1..] {
                assert_ne!(a, b, "series {i} looks like another");
            }
        }
        // The ten colors are far apart to the eye: CIE76 distance in L*a*b* (about 2.3 is
        // "just noticeable"; evenly spaced hues of one lightness come much closer).
        const MIN_DELTA_E: f64 = 20.0;
        for (i, a) in PALETTE.iter().enumerate() {
            for b in &PALETTE[i + 1..] {
                let d = delta_e(lab(a), lab(b));
                assert!(d > MIN_DELTA_E, "{a:?} and {b:?}: {d}");
            }
        }
    }

    /// sRGB to CIE L*a*b* (D65).
    fn lab(c: &RGBColor) -> [f64; 3] {
        let lin = |u: u8| {
            let u = f64::from(u) / 255.0;
            if u <= 0.04045 {
                u / 12.92
            } else {
                ((u + 0.055) / 1.055).powf(2.4)
            }
        };
        let (r, g, b) = (lin(c.0), lin(c.1), lin(c.2));
        let x = (0.4124 * r + 0.3576 * g + 0.1805 * b) / 0.95047;
        let y = 0.2126 * r + 0.7152 * g + 0.0722 * b;
        let z = (0.0193 * r + 0.1192 * g + 0.9505 * b) / 1.08883;
        let f = |t: f64| {
            if t > 0.008856 {
                t.cbrt()
            } else {
                7.787 * t + 16.0 / 116.0
            }
        };
        [
            116.0 * f(y) - 16.0,
            500.0 * (f(x) - f(y)),
            200.0 * (f(y) - f(z)),
        ]
    }

    fn delta_e(a: [f64; 3], b: [f64; 3]) -> f64 {
        a.iter()
            .zip(&b)
            .map(|(x, y)| (x - y).powi(2))
            .sum::<f64>()
            .sqrt()
    }

    #[test]
    fn preactivations_are_the_layers_just_before_each_activation() {
        let r = record();
        let c = preactivations_chart(&r);
        assert!(c.title.contains("step 42"), "{}", c.title);
        let labels: Vec<&str> = c.series.iter().map(|(l, _)| l.as_str()).collect();
        assert_eq!(labels.len(), 2, "{labels:?}");
        assert!(
            labels[0]
                .starts_with("layer 1 (BatchNorm1d), into layer 2 (Tanh): mean +0.50, std 1.12"),
            "{}",
            labels[0]
        );
        assert!(labels[1].starts_with("layer 3 (Linear), into layer 4 (Tanh)"));
        assert_eq!(
            c.series[0].1,
            r.layers[1].output.summary.histogram.density()
        );
        assert_eq!(
            c.series[1].1,
            r.layers[3].output.summary.histogram.density()
        );
    }

    #[test]
    fn every_plot_is_written_in_the_order_of_plot_names() {
        let dir = std::env::temp_dir().join(format!("makemore-plots-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("a temporary folder");
        let set = render_plots(&dir, &[record()], &[(0, 3.0), (10, 2.5)]).expect("written");
        let names: Vec<&str> = set.plots.iter().map(|p| p.0.as_str()).collect();
        assert_eq!(names, PLOT_NAMES);
        for (_, _, svg, png) in &set.plots {
            assert!(svg.is_file() && png.is_file(), "{}", svg.display());
        }
        let _ = std::fs::remove_dir_all(&dir);
    }
}
