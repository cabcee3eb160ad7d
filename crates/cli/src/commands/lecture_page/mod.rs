//! `makemore lecture --out DIR`'s page, `DIR/lecture.html` (one self-contained file) with its
//! pictures in `DIR/pictures/`: the lecture's pictures in its order, made from the runs the
//! command trained and from a few short runs of the lecture's deep stack.
//!
//! The runs themselves train exactly as without the page: the pictures before and after
//! training come from probes (`makemore_train::probe`: one tapped step on a throwaway copy), and
//! the per-step losses of the first steps from a replay of them.

use makemore_diagnostics::satmap::{cell_px, map_caption, map_png, png_data_uri};
use makemore_diagnostics::{
    inline_svg, write_line_chart, DiagnosticRecord, LayerRecord, LineChart,
};
use makemore_model::{Dataset, Device, RunConfig, RunError};
use makemore_train::run_dir::METRICS;
use makemore_train::{RunOptions, RunSummary};
use std::fmt::Write;
use std::path::{Path, PathBuf};

mod sections;

/// The page's file name under `--out`.
pub const PAGE: &str = "lecture.html";
/// The folder under `--out` that holds the page's pictures as SVG and PNG.
pub const PICTURES: &str = "pictures";
/// The first steps shown loss by loss (the hockey stick), and the lecture's loss window.
const EARLY_STEPS: u64 = 1_000;
/// How many windows a run no longer than [`EARLY_STEPS`] is drawn in.
const SHORT_WINDOWS: u64 = 20;
/// Steps of the moving mean drawn over the per-step losses.
const MOVING_MEAN: usize = 50;
/// Steps of the deep-stack runs (the lecture looks after its first 1,000).
const DEEP_STEPS: u64 = 1_000;
/// The lecture's Kaiming demonstration: `x = randn(1000, 10)`, `w = randn(10, 200)`.
const KAIMING_SHAPE: (usize, usize, usize) = (1_000, 10, 200);
/// The seed of that demonstration (the lecture's generator seed).
const KAIMING_SEED: u64 = 2_147_483_647;
/// Histogram bins of the Kaiming picture.
const KAIMING_BINS: usize = 60;

/// One lecture row as the page shows it: its first run's config, directory and summary.
pub struct RowRun<'a> {
    /// `original`, `fix-softmax`, ...
    pub name: &'static str,
    /// The run's config.
    pub cfg: &'a RunConfig,
    /// The run's directory.
    pub dir: PathBuf,
    /// What it gave.
    pub summary: &'a RunSummary,
    /// The lecture's train and val losses for the row.
    pub lecture: (f64, f64),
}

/// What the page is built from besides the rows.
pub struct Page<'a> {
    /// `--out`.
    pub out: &'a Path,
    /// The corpus the rows trained on.
    pub ds: &'a Dataset,
    /// The backend `device` belongs to.
    pub backend: makemore_model::BackendKind,
    /// The device the rows trained on.
    pub device: &'a Device,
    /// Ctrl-C.
    pub stop: &'a std::sync::atomic::AtomicBool,
    /// The saturation threshold of the pictures (`--saturation-threshold`).
    pub threshold: f64,
}

/// A picture on the page: its inline SVG and caption.
struct Figure {
    /// Its file stem in `pictures/`.
    name: String,
    svg: String,
    /// The chart's title (drawn inside the SVG too).
    caption: String,
}

fn report(e: impl std::fmt::Display) -> RunError {
    RunError::Report(e.to_string())
}

pub(crate) fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

impl Page<'_> {
    /// Options for a replay or a short run: no directory.
    fn opts(&self) -> RunOptions<'_> {
        RunOptions::new(self.backend, self.device.clone(), None, self.stop)
    }

    fn pictures(&self) -> PathBuf {
        self.out.join(PICTURES)
    }

    /// Draws `chart` as `pictures/NAME.svg` and `.png` and returns it for the page.
    fn chart(&self, name: &str, chart: LineChart) -> Result<Figure, RunError> {
        let files = write_line_chart(&self.pictures(), name, &chart).map_err(report)?;
        Ok(Figure {
            name: name.to_owned(),
            svg: inline_svg(&files.svg_text).to_owned(),
            caption: chart.title,
        })
    }

    /// Writes the page and its pictures; returns the page's path.
    pub fn write(&self, rows: &[RowRun]) -> Result<PathBuf, RunError> {
        std::fs::create_dir_all(self.pictures()).map_err(|source| RunError::Io {
            path: self.pictures(),
            source,
        })?;
        let mut html = String::new();
        let _ = write!(
            html,
            "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>makemore lecture</title>\n<style>{STYLE}</style></head><body>\n<h1>The lecture, run by makemore</h1>\n"
        );
        self.rows_section(&mut html, rows);
        self.loss_section(&mut html, rows)?;
        self.inside_section(&mut html, rows)?;
        self.kaiming_section(&mut html)?;
        self.batchnorm_section(&mut html, rows)?;
        self.deep_section(&mut html)?;
        html.push_str("</body></html>\n");
        let path = self.out.join(PAGE);
        makemore_files::write_atomic(&path, html.as_bytes()).map_err(|source| RunError::Io {
            path: path.clone(),
            source,
        })?;
        Ok(path)
    }

    /// The five rows' numbers beside the lecture's.
    fn rows_section(&self, html: &mut String, rows: &[RowRun]) {
        let ln_vocab = (self.ds.vocab.len() as f64).ln();
        let _ = write!(
            html,
            "<h2>1. The five rows</h2>\n<p>{} steps per run. The lecture's first loss is about 27 for the original and about 3.3 after the output fix; ln({}) = {ln_vocab:.4} is what a uniform guess gets.</p>\n<table id=\"rows\"><tr><th>variant</th><th>first loss</th><th>train</th><th>val</th><th>lecture train</th><th>lecture val</th></tr>\n",
            rows.first().map_or(0, |r| r.cfg.train.steps),
            self.ds.vocab.len()
        );
        for r in rows {
            let s = r.summary;
            let _ = writeln!(
                html,
                "<tr><td>{}</td><td>{:.4}</td><td>{:.4}</td><td>{:.4}</td><td>{:.4}</td><td>{:.4}</td></tr>",
                r.name, s.first_loss, s.train_loss, s.val_loss, r.lecture.0, r.lecture.1
            );
        }
        html.push_str("</table>\n");
    }

    /// The hockey stick: the first steps loss by loss, and the whole run in windows.
    fn loss_section(&self, html: &mut String, rows: &[RowRun]) -> Result<(), RunError> {
        let mut early = Vec::new();
        let mut windows = Vec::new();
        let steps = rows.first().map_or(0, |r| r.cfg.train.steps);
        let shown = EARLY_STEPS.min(steps);
        // A run no longer than the replay is drawn in 20 windows of its own losses; a longer
        // one in its log points' windows (the lecture's 1,000 steps).
        let short_window = (steps / SHORT_WINDOWS).max(1);
        let mut window = EARLY_STEPS;
        for r in rows {
            let losses = self.first_losses(r.cfg)?;
            let moving = MOVING_MEAN.min(losses.len()).max(1);
            if r.name == "original" {
                early.push((
                    format!("{}: every step", r.name),
                    log10_points(losses.iter().copied().enumerate()),
                ));
            }
            early.push((
                format!("{}: mean of {moving} steps", r.name),
                log10_points(moving_mean(&losses, moving)),
            ));
            let points = if steps <= EARLY_STEPS {
                window = short_window;
                let means = makemore_diagnostics::window_means(&losses, short_window as usize);
                means
                    .into_iter()
                    .filter(|&(_, l)| l > 0.0)
                    .map(|(s, l)| (s as f64, l.log10()))
                    .collect()
            } else {
                window = r.cfg.train.log_every;
                window_points(&r.dir)?
            };
            windows.push((r.name.to_string(), points));
        }
        let a = self.chart(
            "loss-first-steps",
            LineChart::new(
                &format!("the first {shown} steps: the original's loss starts near 27 and falls steeply (the hockey stick)"),
                "step",
                "log10(minibatch loss)",
                early,
            ),
        )?;
        let b = self.chart(
            "loss-windows",
            LineChart::new(
                &format!("the whole run: log10 of the mean loss over each {window} steps (the lecture's loss plot, in 1,000-step windows)"),
                "step",
                "log10(mean loss)",
                windows,
            ),
        )?;
        html.push_str("<h2>2. The loss</h2>\n");
        figures(html, &[a, b]);
        Ok(())
    }

    /// The per-step losses of a run's first steps: a replay of them (the same config, seed and
    /// batches), paused there.
    fn first_losses(&self, cfg: &RunConfig) -> Result<Vec<f32>, RunError> {
        let mut opts = self.opts();
        opts.pause_at = Some(EARLY_STEPS).filter(|&s| s < cfg.train.steps);
        let mut collect = Collect(Vec::new());
        match makemore_train::train(cfg, self.ds, Path::new(""), &opts, &mut collect) {
            Ok(_) | Err(RunError::Paused { .. }) => Ok(collect.0),
            Err(e) => Err(e),
        }
    }
}

/// Keeps every per-step loss a run reads back.
struct Collect(Vec<f32>);

impl makemore_train::Observer for Collect {
    fn logged(&mut self, p: &makemore_model::trainer::LogPoint) {
        self.0.extend_from_slice(&p.losses);
    }
}

/// `(step, log10 loss)` for finite, positive losses.
fn log10_points(losses: impl Iterator<Item = (usize, f32)>) -> Vec<(f64, f64)> {
    losses
        .filter(|(_, l)| l.is_finite() && *l > 0.0)
        .map(|(s, l)| (s as f64, f64::from(l).log10()))
        .collect()
}

/// The mean of each `n` consecutive losses, at the window's last step.
fn moving_mean(losses: &[f32], n: usize) -> impl Iterator<Item = (usize, f32)> + '_ {
    losses
        .windows(n.max(1))
        .enumerate()
        .map(move |(i, w)| (i + n.max(1) - 1, w.iter().sum::<f32>() / w.len() as f32))
}

/// `(step, log10 mean loss)` of a run's log points (`metrics.jsonl`), but the first (step 1).
fn window_points(dir: &Path) -> Result<Vec<(f64, f64)>, RunError> {
    let path = dir.join(METRICS);
    let text = std::fs::read_to_string(&path).map_err(|source| RunError::Io {
        path: path.clone(),
        source,
    })?;
    let mut out = Vec::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let v: serde_json::Value =
            serde_json::from_str(line).map_err(|e| RunError::bad(&path, e.to_string()))?;
        if let (Some(step), Some(loss)) = (v["step"].as_u64(), v["loss"].as_f64()) {
            if step > 1 && loss > 0.0 {
                out.push((step as f64, loss.log10()));
            }
        }
    }
    Ok(out)
}

/// Figures side by side.
fn figures(html: &mut String, figs: &[Figure]) {
    html.push_str("<div class=\"row\">\n");
    for f in figs {
        let _ = writeln!(
            html,
            "<figure class=\"chart\" id=\"{}\" aria-label=\"{}\">{}</figure>",
            f.name,
            escape(&f.caption),
            f.svg
        );
    }
    html.push_str("</div>\n");
}

/// A layer's saturation map as an `<img>` inside a figure, when it has one; its PNG is also
/// written as `pictures/NAME.png`.
fn map_figure(
    pictures: &Path,
    name: &str,
    r: &DiagnosticRecord,
    l: &LayerRecord,
) -> Result<Option<String>, RunError> {
    let Some(map) = l.output.map.as_ref() else {
        return Ok(None);
    };
    let Some(png) = map_png(map, cell_px(map.units)) else {
        return Ok(None);
    };
    let path = pictures.join(format!("{name}.png"));
    makemore_files::write_atomic(&path, &png).map_err(|source| RunError::Io {
        path: path.clone(),
        source,
    })?;
    Ok(Some(format!(
        "<figure class=\"map\" id=\"{name}\"><img alt=\"saturation map\" src=\"{}\"><figcaption>{}</figcaption></figure>",
        png_data_uri(&png),
        escape(&map_caption(r, l, map))
    )))
}

/// The page's style.
const STYLE: &str = "body{font-family:sans-serif;max-width:1250px;margin:2em auto;color:#222}table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:.2em .6em;text-align:right}.row{display:flex;flex-wrap:wrap;gap:1em}figure{margin:1em 0;flex:1 1 560px;min-width:0}figure svg{max-width:100%;height:auto}img{image-rendering:pixelated;max-width:100%}";
