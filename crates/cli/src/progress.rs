//! The progress bar: step, smoothed loss, steps/s and ETA on stderr, only on a terminal.

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressState, ProgressStyle};
use makemore_model::trainer::LogPoint;
use makemore_train::Observer;
use std::io::IsTerminal;

/// Shows training progress on stderr.
pub struct Bar {
    bar: ProgressBar,
}

impl Bar {
    /// A bar, hidden when `quiet` or when stderr is not a terminal.
    pub fn new(quiet: bool, label: &str) -> Self {
        let bar = ProgressBar::with_draw_target(Some(0), ProgressDrawTarget::stderr());
        if quiet || !std::io::stderr().is_terminal() {
            bar.set_draw_target(ProgressDrawTarget::hidden());
        }
        bar.set_style(
            ProgressStyle::with_template(
                "{prefix} [{bar:30}] {pos}/{len} steps  {msg}  {rate}  eta {eta}",
            )
            .expect("a valid template")
            // indicatif's own {per_sec} prints four decimals (2,146.7764/s).
            .with_key("rate", |s: &ProgressState, w: &mut dyn std::fmt::Write| {
                let _ = write!(w, "{:.0} steps/s", s.per_sec());
            })
            .progress_chars("=> "),
        );
        bar.set_prefix(label.to_owned());
        Self { bar }
    }
}

impl Observer for Bar {
    fn started(&mut self, total_steps: u64, step: u64, parameters: usize) {
        self.bar.set_length(total_steps);
        self.bar.set_position(step);
        self.bar.set_message(format!("{parameters} params"));
    }

    fn logged(&mut self, p: &LogPoint) {
        self.bar.set_position(p.step);
        self.bar
            .set_message(format!("loss {:.4}  lr {}", p.loss, p.lr));
    }

    fn round(&mut self, k: usize) {
        self.bar.reset();
        self.bar.set_prefix(format!("round {k}"));
    }

    fn finished(&mut self) {
        self.bar.finish_and_clear();
    }
}
