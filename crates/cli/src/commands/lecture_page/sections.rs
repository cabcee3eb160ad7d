//! The page's later sections: inside the hidden layer before and after training, Kaiming's
//! spread, BatchNorm's running statistics, and the deep stack.

use super::{
    escape, figures, map_figure, report, Figure, Page, RowRun, DEEP_STEPS, KAIMING_BINS,
    KAIMING_SEED, KAIMING_SHAPE,
};
use crate::commands::builtin;
use makemore_diagnostics::{histogram, DiagnosticRecord, LayerKind, LineChart};
use makemore_init::{param_stream, Normal01};
use makemore_model::eval::calibrate;
use makemore_model::{data::DeviceWindows, RunConfig, RunError};
use makemore_train::{probe, RunDir, SavedRun};
use std::fmt::Write;

/// The lecture's statistics of its BatchNorm deep stack after 1,000 steps (reference README):
/// tanh std and saturated share.
const LECTURE_DEEP_BN: &str = "the lecture: tanh std 0.63-0.65, 1.7-2.8% saturated (|x| > 0.97), activation-gradient std about 2e-3";

/// The activation layers' histograms of a record as chart series, each labelled with `tag`.
fn activation_series(r: &DiagnosticRecord, tag: &str) -> Vec<(String, Vec<(f64, f64)>)> {
    r.activations()
        .map(|l| {
            let s = &l.output.summary;
            let sat = l
                .output
                .saturated_frac
                .map(|f| format!(", {} {:.1}%", r.saturated_words_of(l), 100.0 * f))
                .unwrap_or_default();
            (
                format!("{tag}{}: std {:.2}{sat}", l.name, s.std),
                s.histogram.density(),
            )
        })
        .collect()
}

/// The histograms of the layers feeding the activations (the lecture's `hpreact`).
fn preactivation_series(r: &DiagnosticRecord, tag: &str) -> Vec<(String, Vec<(f64, f64)>)> {
    r.layers
        .windows(2)
        .filter(|w| matches!(w[1].layer.kind, LayerKind::Activation { .. }))
        .map(|w| {
            let s = &w[0].output.summary;
            (
                format!("{tag}{}: mean {:+.2}, std {:.2}", w[0].name, s.mean, s.std),
                s.histogram.density(),
            )
        })
        .collect()
}

impl Page<'_> {
    /// Each row's hidden layer at step 0 and after training: tanh and pre-activation
    /// histograms, and the saturation maps.
    pub(super) fn inside_section(
        &self,
        html: &mut String,
        rows: &[RowRun],
    ) -> Result<(), RunError> {
        html.push_str("<h2>3. Inside the hidden layer, before and after training</h2>\n<p>Each row's first batch through its initial weights (step 0) and one batch through its trained weights. The original's tanh sits at +-1 (saturated: white in the map); the fixes bring it into the middle.</p>\n");
        for r in rows {
            // The rows' own configs, but for the threshold the page's pictures use.
            let mut cfg = r.cfg.clone();
            cfg.log.saturation_threshold = self.threshold;
            let before = probe(&cfg, self.ds, self.device, None)?;
            let ckpt = RunDir::new(&r.dir).read_checkpoint()?;
            let after = probe(&cfg, self.ds, self.device, Some(&ckpt))?;
            let mut acts = activation_series(&before, "step 0, ");
            acts.extend(activation_series(&after, "trained, "));
            let mut pre = preactivation_series(&before, "step 0, ");
            pre.extend(preactivation_series(&after, "trained, "));
            let a = self.chart(
                &format!("{}-activations", r.name),
                LineChart::new(
                    &format!("{}: tanh outputs", r.name),
                    "activation",
                    "density",
                    acts,
                )
                .densities(),
            )?;
            let b = self.chart(
                &format!("{}-preactivations", r.name),
                LineChart::new(
                    &format!("{}: pre-activations (what tanh is given)", r.name),
                    "pre-activation",
                    "density",
                    pre,
                )
                .densities(),
            )?;
            let _ = writeln!(html, "<h3 id=\"inside-{}\">{}</h3>", r.name, r.name);
            figures(html, &[a, b]);
            html.push_str("<div class=\"row\">\n");
            for (rec, when) in [(&before, "step0"), (&after, "trained")] {
                for l in rec.activations() {
                    let name = format!("{}-{when}-map-layer{}", r.name, l.layer.index);
                    if let Some(f) = map_figure(&self.pictures(), &name, rec, l)? {
                        html.push_str(&f);
                    }
                }
            }
            html.push_str("</div>\n");
        }
        Ok(())
    }

    /// `x @ w` for a unit-normal `x` and `w` drawn with std 1, 1/sqrt(fan_in) and 0.2: only
    /// Kaiming's 1/sqrt(fan_in) keeps the spread.
    pub(super) fn kaiming_section(&self, html: &mut String) -> Result<(), RunError> {
        let (n, fan_in, fan_out) = KAIMING_SHAPE;
        let draw = |path: &str, len: usize| {
            let mut g = Normal01::new(param_stream(KAIMING_SEED, path));
            (0..len).map(|_| g.sample()).collect::<Vec<f64>>()
        };
        let x = draw("x", n * fan_in);
        let w = draw("w", fan_in * fan_out);
        let kaiming = 1.0 / (fan_in as f64).sqrt();
        let mut series = vec![spread_series("x", &x)];
        for (label, scale) in [
            ("w std 1", 1.0),
            ("w std 1/sqrt(10) (Kaiming, gain 1)", kaiming),
            ("w std 0.2", 0.2),
        ] {
            let mut y = vec![0.0; n * fan_out];
            for i in 0..n {
                for k in 0..fan_in {
                    let xv = x[i * fan_in + k];
                    for j in 0..fan_out {
                        y[i * fan_out + j] += xv * w[k * fan_out + j] * scale;
                    }
                }
            }
            series.push(spread_series(&format!("x @ w, {label}"), &y));
        }
        let fig = self.chart(
            "kaiming-spread",
            LineChart::new(
                &format!("x = randn({n}, {fan_in}), w = randn({fan_in}, {fan_out}) x scale: the spread of x @ w"),
                "value",
                "density",
                series,
            )
            .densities(),
        )?;
        html.push_str("<h2>4. Kaiming: x @ w keeps the spread with the right std</h2>\n<p>The lecture: x @ w has std 1 with w / sqrt(10) and about 3.16 (sqrt(10)) with w ~ N(0, 1).</p>\n");
        figures(html, &[fig]);
        Ok(())
    }

    /// BatchNorm's running mean and std per unit against the calibrated ones (the statistics
    /// of the pre-activations over the whole training split), for the BatchNorm row.
    pub(super) fn batchnorm_section(
        &self,
        html: &mut String,
        rows: &[RowRun],
    ) -> Result<(), RunError> {
        let Some(r) = rows.iter().find(|r| r.name == "batchnorm") else {
            return Ok(());
        };
        let saved = SavedRun::load(&r.dir, self.device, false)?;
        let stats = |model: &makemore_model::Mlp| -> Vec<(String, Vec<f32>)> {
            model
                .tensors()
                .into_iter()
                .filter(|t| t.path.ends_with("running_mean") || t.path.ends_with("running_var"))
                .map(|t| (t.path, t.data))
                .collect()
        };
        let running = stats(&saved.model);
        calibrate(
            &saved.model,
            &DeviceWindows::new(&self.ds.windows[0], self.device),
        );
        let calibrated = stats(&saved.model);
        let mut figs: Vec<Figure> = Vec::new();
        let mut notes = String::new();
        for ((path, run), (_, cal)) in running.iter().zip(&calibrated) {
            let (what, f): (&str, fn(f32) -> f64) = if path.ends_with("var") {
                // The running variance is kept; the lecture compares stds.
                ("std", |v| f64::from(v.max(0.0)).sqrt())
            } else {
                ("mean", f64::from)
            };
            let pts = |v: &[f32]| {
                v.iter()
                    .enumerate()
                    .map(|(i, &x)| (i as f64, f(x)))
                    .collect()
            };
            let max_diff = run
                .iter()
                .zip(cal)
                .map(|(&a, &b)| (f(a) - f(b)).abs())
                .fold(0.0, f64::max);
            let _ = writeln!(
                notes,
                "<li>{what} per unit (from {}): largest difference between running and calibrated {max_diff:.4}</li>",
                escape(path)
            );
            figs.push(self.chart(
                &format!("batchnorm-{what}"),
                LineChart::new(
                    &format!("{path}: per unit, running {what} (kept during training) and calibrated {what} (over the training split)"),
                    "unit",
                    what,
                    vec![
                        (format!("running {what}"), pts(run)),
                        (format!("calibrated {what}"), pts(cal)),
                    ],
                ),
            )?);
        }
        html.push_str("<h2>5. BatchNorm: running statistics against calibrated ones</h2>\n<p>The lecture calibrates the mean and std of the pre-activations over the whole training set after training and finds them close to the running ones kept during training (momentum 0.001).</p>\n<ul>");
        html.push_str(&notes);
        html.push_str("</ul>\n");
        figures(html, &figs);
        Ok(())
    }

    /// The deep stack with tanh's gains 0.5, 5/3 and 3 and without tanh, at step 0, and the
    /// BatchNorm deep stack after [`DEEP_STEPS`] steps beside the lecture's numbers.
    pub(super) fn deep_section(&self, html: &mut String) -> Result<(), RunError> {
        html.push_str("<h2>6. The deep stack: the gain decides, and BatchNorm makes it matter less</h2>\n<p>Five hidden layers of 100. With tanh's gain 5/3 the activations keep their spread; 0.5 shrinks them toward 0 layer by layer; 3 saturates them; without tanh, gain 1 keeps a linear stack's spread.</p>\n");
        for (name, text) in [
            ("deep-tanh-gain-0.5", builtin::DEEP_GAIN_HALF),
            ("deep-tanh-kaiming", builtin::DEEP_KAIMING),
            ("deep-tanh-gain-3", builtin::DEEP_GAIN_3),
            ("deep-linear", builtin::DEEP_LINEAR),
            ("deep-batchnorm", builtin::DEEP_BATCHNORM),
        ] {
            let Some(shown) = self.deep_record(name, text, name == "deep-batchnorm")? else {
                continue;
            };
            let shown = &shown;
            let grads = shown
                .activations()
                .filter_map(|l| {
                    l.grad.as_ref().map(|g| {
                        (
                            format!("{}: std {:.2e}", l.name, g.std),
                            g.histogram.density(),
                        )
                    })
                })
                .collect();
            let a = self.chart(
                &format!("{name}-activations"),
                LineChart::new(
                    &format!("{name} at step {}: activations by layer", shown.step),
                    "activation",
                    "density",
                    activation_series(shown, ""),
                )
                .densities(),
            )?;
            let b = self.chart(
                &format!("{name}-gradients"),
                LineChart::new(
                    &format!(
                        "{name} at step {}: gradients at the activations",
                        shown.step
                    ),
                    "gradient",
                    "density",
                    grads,
                )
                .densities(),
            )?;
            let _ = writeln!(html, "<h3 id=\"deep-{name}\">{name}</h3>");
            if name == "deep-batchnorm" {
                let _ = writeln!(html, "<p>{}.</p>", escape(LECTURE_DEEP_BN));
            }
            figures(html, &[a, b]);
        }
        Ok(())
    }

    /// A built-in deep config's record: at step 0 (a probe), or with `trained` at the last of
    /// [`DEEP_STEPS`] steps of a short run.
    fn deep_record(
        &self,
        name: &str,
        text: &str,
        trained: bool,
    ) -> Result<Option<DiagnosticRecord>, RunError> {
        let mut cfg = RunConfig::from_toml_str(text, &format!("built-in config {name}"), &[])
            .map_err(report)?;
        cfg.train.steps = DEEP_STEPS;
        cfg.log.saturation_threshold = self.threshold;
        if !trained {
            return probe(&cfg, self.ds, self.device, None).map(Some);
        }
        cfg.log.diagnose_every = Some(DEEP_STEPS);
        let outcome = makemore_train::train(
            &cfg,
            self.ds,
            std::path::Path::new(""),
            &self.opts(),
            &mut makemore_train::Silent,
        )?;
        Ok(outcome.diagnosis.and_then(|d| d.records.into_iter().last()))
    }
}

/// A density series of `values`, labelled with their std.
fn spread_series(label: &str, values: &[f64]) -> (String, Vec<(f64, f64)>) {
    let v32: Vec<f32> = values.iter().map(|&v| v as f32).collect();
    let mean = values.iter().sum::<f64>() / values.len().max(1) as f64;
    let var = values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / values.len().max(1) as f64;
    (
        format!("{label}: std {:.2}", var.sqrt()),
        histogram(&v32, KAIMING_BINS).density(),
    )
}
