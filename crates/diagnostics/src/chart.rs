//! Line charts as SVG and PNG with plotters: a colour-blind-safe palette (dashes past ten
//! series), density axes from 0, the legend in a band under the plot, a font compiled in.

use makemore_files::write_atomic;
use plotters::coord::{CoordTranslate, Shift};
use plotters::element::DashedPathElement;
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

/// A line chart: named series of `(x, y)` points, drawn by [`write_line_chart`] with the
/// legend below the plot.
///
/// ```
/// use makemore_diagnostics::{write_line_chart, LineChart};
///
/// let dir = std::env::temp_dir().join("makemore-line-chart-doc");
/// std::fs::create_dir_all(&dir).unwrap();
/// let chart = LineChart::new("x squared", "x", "y", vec![("x^2".into(), vec![(0.0, 0.0), (1.0, 1.0), (2.0, 4.0)])]);
/// let files = write_line_chart(&dir, "square", &chart).unwrap();
/// assert!(files.svg.exists() && files.png.exists());
/// assert!(makemore_diagnostics::inline_svg(&files.svg_text).starts_with("<svg"));
/// ```
#[derive(Debug, Clone)]
pub struct LineChart {
    /// Above the plot.
    pub title: String,
    /// Under the x axis.
    pub x_label: String,
    /// Beside the y axis.
    pub y_label: String,
    /// A density (a histogram): its y axis starts at 0, so that the shape's proportions are
    /// the data's.
    pub density: bool,
    /// `(legend label, points)`; non-finite points are left out.
    pub series: Vec<(String, Vec<(f64, f64)>)>,
    /// A horizontal guide line at y, with its legend label.
    pub guide: Option<(f64, String)>,
}

impl LineChart {
    /// A chart of `series` (not a density, no guide).
    pub fn new(
        title: &str,
        x_label: &str,
        y_label: &str,
        series: Vec<(String, Vec<(f64, f64)>)>,
    ) -> Self {
        Self {
            title: title.to_owned(),
            x_label: x_label.to_owned(),
            y_label: y_label.to_owned(),
            density: false,
            series,
            guide: None,
        }
    }

    /// The same chart as densities: the y axis starts at 0.
    pub fn densities(self) -> Self {
        Self {
            density: true,
            ..self
        }
    }
}

/// What [`write_line_chart`] wrote.
#[derive(Debug, Clone)]
pub struct ChartFiles {
    /// `NAME.svg`.
    pub svg: PathBuf,
    /// `NAME.png`.
    pub png: PathBuf,
    /// The SVG's text, for a page that inlines it (see [`inline_svg`]).
    pub svg_text: String,
}

/// Draws `chart` into `dir` as `NAME.svg` and `NAME.png` (each written under a temporary name
/// and renamed).
pub fn write_line_chart(
    dir: &Path,
    name: &str,
    chart: &LineChart,
) -> Result<ChartFiles, PlotError> {
    write_chart(dir, name, chart)
}

/// An SVG document's text from its first element on, without the XML declaration: what an HTML
/// page inlines.
pub fn inline_svg(text: &str) -> &str {
    let body = text.trim_start_matches(|c| c != '<');
    body.strip_prefix("<?xml")
        .map(|rest| rest.split_once("?>").map_or(rest, |(_, b)| b))
        .unwrap_or(body)
}

pub(crate) type Chart = LineChart;

/// The y label of the histograms.
pub(crate) const DENSITY: &str = "density";

/// The plotting area (title, axes and curves); the legend is a band below it, which makes the
/// canvas taller by [`legend_height`], so that no legend covers a curve (tanh's histograms peak
/// at both edges, where a legend inside would sit).
pub(crate) const PLOT_SIZE: (u32, u32) = (960, 540);
/// The legend band: the height of one entry, the space above and below the entries, the
/// length of an entry's line sample, the gap between the sample and the text, and the text size.
pub(crate) const LEGEND_ROW: u32 = 20;
pub(crate) const LEGEND_PAD: u32 = 10;
pub(crate) const LEGEND_SAMPLE: i32 = 30;
pub(crate) const LEGEND_GAP: i32 = 8;
pub(crate) const LEGEND_FONT: u32 = 16;
/// The left margin of the legend: under the y axis's labels.
pub(crate) const LEGEND_LEFT: i32 = 82;
pub(crate) const TITLE_FONT: u32 = 22;
pub(crate) const AXIS_FONT: u32 = 14;
pub(crate) const MARGIN: u32 = 12;
pub(crate) const X_LABEL_AREA: u32 = 40;
pub(crate) const Y_LABEL_AREA: u32 = 70;
pub(crate) const LINE_WIDTH: u32 = 2;

/// Room above the highest bar of a density, as a share of it.
pub(crate) const DENSITY_HEADROOM: f64 = 0.05;
/// Room around other data, as a share of its range: across, up.
pub(crate) const X_PAD: f64 = 0.02;
pub(crate) const Y_PAD: f64 = 0.05;

/// Tableau 10 (Tableau's default since 2016, designed to be told apart, colour-blind readers
/// included), in its order: blue, orange, red, teal, green, yellow, purple, pink, brown, grey.
pub(crate) const PALETTE: [RGBColor; 10] = [
    RGBColor(0x4e, 0x79, 0xa7),
    RGBColor(0xf2, 0x8e, 0x2b),
    RGBColor(0xe1, 0x57, 0x59),
    RGBColor(0x76, 0xb7, 0xb2),
    RGBColor(0x59, 0xa1, 0x4f),
    RGBColor(0xed, 0xc9, 0x48),
    RGBColor(0xb0, 0x7a, 0xa1),
    RGBColor(0xff, 0x9d, 0xa7),
    RGBColor(0x9c, 0x75, 0x5f),
    RGBColor(0xba, 0xb0, 0xac),
];

/// Past ten series the colors repeat with another stroke each round: solid, dashed, dotted
/// (`(dash, gap)` in pixels), so that up to 30 curves differ in color or stroke.
pub(crate) const DASHES: [Option<(u32, u32)>; 3] = [None, Some((10, 5)), Some((2, 4))];

/// A curve's color and, for a dashed one, its `(dash, gap)` in pixels.
pub(crate) type Style = (RGBColor, Option<(u32, u32)>);

/// The guide line (a rule of thumb): dark grey, dashed.
pub(crate) const GUIDE: Style = (RGBColor(0x55, 0x55, 0x55), Some((6, 3)));

/// The color and stroke of series number `i`.
pub(crate) fn series_style(i: usize) -> Style {
    (
        PALETTE[i % PALETTE.len()],
        DASHES[(i / PALETTE.len()) % DASHES.len()],
    )
}

/// The height of the legend band of `entries` entries (none: no band).
pub(crate) fn legend_height(entries: usize) -> u32 {
    match u32::try_from(entries) {
        Ok(0) => 0,
        Ok(n) => 2 * LEGEND_PAD + LEGEND_ROW * n,
        Err(_) => u32::MAX / 2,
    }
}

/// The whole canvas of chart `c`: the plotting area and its legend band below.
pub(crate) fn canvas_size(c: &Chart) -> (u32, u32) {
    let entries = c.series.len() + usize::from(c.guide.is_some());
    (PLOT_SIZE.0, PLOT_SIZE.1 + legend_height(entries))
}

pub(crate) fn register_font() {
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

/// The ranges of x and y that show every finite point of `series` and the `guide`, with a
/// little room around; a density's y range is `[0, highest * 1.05]`.
pub(crate) fn bounds(
    series: &[(String, Vec<(f64, f64)>)],
    guide: Option<f64>,
    density: bool,
) -> ((f64, f64), (f64, f64)) {
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
    let px = pad(x0, x1, X_PAD);
    let y = if density {
        let top = y1 * (1.0 + DENSITY_HEADROOM);
        (0.0, if top > 0.0 { top } else { 1.0 })
    } else {
        let py = pad(y0, y1, Y_PAD);
        (y0 - py, y1 + py)
    };
    ((x0 - px, x1 + px), y)
}

/// A line through `points` (in `area`'s coordinates) in `color`, solid or dashed.
pub(crate) fn line<DB: DrawingBackend, CT: CoordTranslate>(
    area: &DrawingArea<DB, CT>,
    points: Vec<CT::From>,
    (color, dash): Style,
) -> Result<(), String>
where
    CT::From: Clone,
{
    let style = color.stroke_width(LINE_WIDTH);
    match dash {
        None => area.draw(&PathElement::new(points, style)),
        Some((d, g)) => area.draw(&DashedPathElement::new(points, d, g, style)),
    }
    .map_err(|e| e.to_string())
}

/// The legend band: a line sample and the label of each entry, one entry a row.
pub(crate) fn draw_legend<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    entries: &[(&str, Style)],
) -> Result<(), String> {
    for (n, (label, style)) in entries.iter().enumerate() {
        let row = i32::try_from(n).unwrap_or(i32::MAX / 2);
        let top = (LEGEND_PAD + LEGEND_ROW / 2) as i32 + row * LEGEND_ROW as i32;
        line(
            area,
            vec![(LEGEND_LEFT, top), (LEGEND_LEFT + LEGEND_SAMPLE, top)],
            *style,
        )?;
        let at = (
            LEGEND_LEFT + LEGEND_SAMPLE + LEGEND_GAP,
            top - LEGEND_FONT as i32 / 2,
        );
        area.draw(&Text::new(
            label.to_string(),
            at,
            ("sans-serif", LEGEND_FONT),
        ))
        .map_err(|e| e.to_string())?;
    }
    Ok(())
}

pub(crate) fn draw<DB: DrawingBackend>(
    root: DrawingArea<DB, Shift>,
    c: &Chart,
) -> Result<(), String> {
    root.fill(&WHITE).map_err(|e| e.to_string())?;
    let (plot, legend) = root.split_vertically(PLOT_SIZE.1);
    let ((x0, x1), (y0, y1)) = bounds(&c.series, c.guide.as_ref().map(|g| g.0), c.density);
    let mut chart = ChartBuilder::on(&plot)
        .caption(&c.title, ("sans-serif", TITLE_FONT))
        .margin(MARGIN)
        .x_label_area_size(X_LABEL_AREA)
        .y_label_area_size(Y_LABEL_AREA)
        .build_cartesian_2d(x0..x1, y0..y1)
        .map_err(|e| e.to_string())?;
    chart
        .configure_mesh()
        .x_desc(&c.x_label)
        .y_desc(&c.y_label)
        .x_label_formatter(&|x| tick(*x))
        .y_label_formatter(&|y| tick(*y))
        .label_style(("sans-serif", AXIS_FONT))
        .draw()
        .map_err(|e| e.to_string())?;
    let area = chart.plotting_area();
    let mut entries = Vec::with_capacity(c.series.len() + 1);
    for (i, (label, points)) in c.series.iter().enumerate() {
        let finite = points
            .iter()
            .copied()
            .filter(|(x, y)| x.is_finite() && y.is_finite())
            .collect();
        line(area, finite, series_style(i))?;
        entries.push((label.as_str(), series_style(i)));
    }
    if let Some((g, label)) = &c.guide {
        line(area, vec![(x0, *g), (x1, *g)], GUIDE)?;
        entries.push((label.as_str(), GUIDE));
    }
    draw_legend(&legend, &entries)?;
    root.present().map_err(|e| e.to_string())
}

/// Below this a tick value is the rounding noise of a tick meant to be 0 (`-2.2e-16`).
const TICK_NOISE: f64 = 1e-12;
/// Tick values outside [`TICK_PLAIN`] are written with an exponent.
const TICK_PLAIN: std::ops::Range<f64> = 1e-4..1e6;

/// A tick label: `20000`, not `20000.0`; `0`, not `-0.0` or `-2.2e-16`; `0.0005`; 2e-5 in
/// exponent form.
pub(crate) fn tick(v: f64) -> String {
    let a = v.abs();
    if a < TICK_NOISE {
        return "0".into();
    }
    if !TICK_PLAIN.contains(&a) {
        return format!("{v:.1e}");
    }
    // Enough digits for the axis's steps, then the zeros after the point dropped.
    let text = format!("{v:.6}");
    let text = text.trim_end_matches('0').trim_end_matches('.');
    if text == "-0" {
        "0".into()
    } else {
        text.into()
    }
}

pub(crate) fn write_chart(dir: &Path, name: &str, c: &Chart) -> Result<ChartFiles, PlotError> {
    register_font();
    let size = canvas_size(c);
    let svg_path = dir.join(format!("{name}.svg"));
    let mut svg = String::new();
    draw(
        SVGBackend::with_string(&mut svg, size).into_drawing_area(),
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
    draw(BitMapBackend::new(&tmp, size).into_drawing_area(), c).map_err(|message| {
        PlotError::Draw {
            path: png_path.clone(),
            message,
        }
    })?;
    std::fs::rename(&tmp, &png_path).map_err(|source| PlotError::Io {
        path: png_path.clone(),
        source,
    })?;
    Ok(ChartFiles {
        svg: svg_path,
        png: png_path,
        svg_text: svg,
    })
}
