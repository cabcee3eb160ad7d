//! What the page's parts share: HTML escaping, the metrics it maps, and the combinations of
//! labels of some axes with their look-up (for the heatmaps and the validation-loss lines).

use crate::collect::{Collected, ComboRow};
use std::collections::HashMap;

/// A metric the page maps: its id, title, how to read it, its value, how to show it, whether
/// colors follow its log10, its color range (`None`: the values' own), and, for a metric that
/// cannot see saturation (a std ratio), the largest saturation at the same step, so that a
/// saturated stack is not shown as a healthy 1.
pub(super) struct Metric {
    pub(super) id: &'static str,
    pub(super) title: &'static str,
    pub(super) help: &'static str,
    pub(super) value: fn(&ComboRow) -> Option<f64>,
    pub(super) show: fn(f64) -> String,
    pub(super) log: bool,
    pub(super) range: Option<(f64, f64)>,
    pub(super) saturation: Option<fn(&ComboRow) -> Option<f64>>,
}

/// The metrics the page maps, a section each, in this order.
pub(super) const METRICS: [Metric; 6] = [
    Metric {
        id: "val_loss",
        title: "Validation loss",
        help: "mean over seeds; lower is better",
        value: |c| c.val_loss,
        show: |x| format!("{x:.3}"),
        log: false,
        range: None,
        saturation: None,
    },
    Metric {
        id: "max_saturation",
        title: "Max saturation",
        help: "largest share of |tanh| > 0.97 in any layer at the last recorded step",
        value: |c| c.max_saturation,
        show: |x| format!("{:.0}%", 100.0 * x),
        log: false,
        range: Some((0.0, 1.0)),
        saturation: None,
    },
    Metric {
        id: "init_act_std_ratio",
        title: "Activation std at step 0, last layer / first",
        help: "what the initialization alone does to the scale through the depth: below 1 it shrinks toward the output, above 1 it grows, 1 keeps it. A saturated stack keeps its std near 1 too: a cell where some layer saturates (20% or more of its outputs, the advice's threshold, in the flat tails: |x| > 0.97 for tanh unless the cells' log.saturation_threshold says otherwise) is purple and says how much (\"sat 90%\")",
        value: |c| c.init_act_std_ratio,
        show: |x| format!("{x:.2}"),
        log: true,
        range: None,
        saturation: Some(|c| c.init_max_saturation),
    },
    Metric {
        id: "act_std_ratio",
        title: "Activation std at the end, last layer / first",
        help: "at the last recorded step: below 1 the activations shrink toward the output, above 1 they grow, 1: the scale survives the depth. Purple cells marked \"sat\" saturate, which a ratio near 1 hides",
        value: |c| c.act_std_ratio,
        show: |x| format!("{x:.2}"),
        log: true,
        range: None,
        saturation: Some(|c| c.max_saturation),
    },
    Metric {
        id: "grad_std_ratio",
        title: "Activation-gradient std, last layer / first",
        help: "the gradient at the last activation layer (next to the output) over the first (next to the input): below 1 it is smaller at the output end, so it grows flowing back toward the input (0.05: 20x larger at the first layer); above 1 it shrinks (vanishes) flowing back; 1: neither",
        value: |c| c.grad_std_ratio,
        show: |x| format!("{x:.2}"),
        log: true,
        range: None,
        saturation: None,
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
        saturation: None,
    },
];

/// `s` escaped for HTML text and attribute values.
pub(super) fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// The number of combinations of labels of the axes `idx`.
pub(super) fn count(c: &Collected, idx: &[usize]) -> usize {
    idx.iter()
        .fold(1, |n, &i| n.saturating_mul(c.axes[i].labels.len()))
}

/// Combination `k` of labels of the axes `idx` (the last fastest, as the plan orders them), as
/// (axis, label) pairs; `k` is below [`count`].
pub(super) fn nth_combination<'a>(
    c: &'a Collected,
    idx: &[usize],
    k: usize,
) -> Vec<(usize, &'a str)> {
    let mut out = vec![(0, ""); idx.len()];
    let mut rest = k;
    for (slot, &i) in out.iter_mut().zip(idx).rev() {
        let labels = &c.axes[i].labels;
        *slot = (i, labels[rest % labels.len()].as_str());
        rest /= labels.len();
    }
    out
}

/// The combinations by their labels: a hash look-up each (a scan of every combination per
/// heatmap cell or point is quadratic).
pub(super) struct Combos<'a> {
    by_labels: HashMap<Vec<&'a str>, &'a ComboRow>,
    axes: usize,
}

impl<'a> Combos<'a> {
    /// Every combination of `c` by its labels.
    pub(super) fn new(c: &'a Collected) -> Self {
        let mut by_labels = HashMap::with_capacity(c.combos.len());
        for r in &c.combos {
            let key: Vec<&str> = r.labels.iter().map(String::as_str).collect();
            // The first combination with these labels, as a scan in order would find.
            by_labels.entry(key).or_insert(r);
        }
        Self {
            by_labels,
            axes: c.axes.len(),
        }
    }

    /// The combination with the label `l` on each axis `i` of `fixed` (which names every axis;
    /// one named twice with two labels matches nothing).
    pub(super) fn get(&self, fixed: &[(usize, &str)]) -> Option<&'a ComboRow> {
        let mut key: Vec<Option<&str>> = vec![None; self.axes];
        for &(i, l) in fixed {
            match key.get(i).copied()? {
                Some(k) if k != l => return None,
                _ => key[i] = Some(l),
            }
        }
        let key: Vec<&str> = key.into_iter().collect::<Option<_>>()?;
        self.by_labels.get(&key).copied()
    }
}
