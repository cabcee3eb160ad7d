//! One round's row of the rounds table, formatted once for stdout and for `doctor.html`.

use makemore_train::doctor::{Applied, Round};

/// A number or `-`.
fn num(x: Option<f64>, f: impl Fn(f64) -> String) -> String {
    x.filter(|v| v.is_finite()).map_or("-".into(), f)
}

/// One round's row of the table, as stdout and the page show it.
pub(super) struct Row {
    pub(super) first_loss: String,
    /// The val loss, or where the round diverged.
    pub(super) val_loss: Result<String, u64>,
    pub(super) worst_saturation: String,
    pub(super) median_update: String,
    pub(super) advice: usize,
    /// The round it changed, where that is not the one before.
    pub(super) on: Option<usize>,
    /// Its changes as `--set` arguments; none for round 0.
    pub(super) changes: Vec<String>,
}

impl Row {
    pub(super) fn of(r: &Round) -> Self {
        Row {
            first_loss: num(r.first_loss, |v| format!("{v:.4}")),
            val_loss: match &r.diverged {
                Some(d) => Err(d.step),
                None => Ok(num(r.val_loss, |v| format!("{v:.4}"))),
            },
            worst_saturation: num(r.worst_saturation, |v| format!("{:.1}%", 100.0 * v)),
            median_update: num(r.median_update, |v| format!("{v:.2}")),
            advice: r.advice.len(),
            on: (r.round > 0 && r.base + 1 != r.round).then_some(r.base),
            changes: r.changes.iter().map(Applied::set_arg).collect(),
        }
    }
}
