//! A diagnostic record as TensorBoard events: per layer and per parameter, scalars and
//! histograms under tags grouped by kind, named as the tables name them.

use super::{EventLog, TbHistogram};
use crate::record::{DiagnosticRecord, LayerRecord};
use crate::satmap::{cell_px, map_png, MARK_PX};
use crate::stats::{Histogram, Summary};
use crate::units::UnitMap;

/// A histogram of `count` values with this `mean` and population `std`, as TensorBoard's record.
fn tb_histogram(h: &Histogram, count: f64, mean: f64, std: f64) -> TbHistogram {
    let sum = mean * count;
    let sum_squares = (std * std + mean * mean) * count;
    TbHistogram::from_bins(h.lo, h.hi, &h.counts, sum, sum_squares)
}

fn summary_histogram(s: &Summary) -> TbHistogram {
    tb_histogram(&s.histogram, s.count as f64, s.mean, s.std)
}

/// How many digits the largest layer index of `r` has: the width every layer's index is padded
/// to in its tags, so that TensorBoard, which sorts tags as text, puts `layer 02` before
/// `layer 10`. Every record of a run has the same layers, so the width is the run's.
fn index_width(r: &DiagnosticRecord) -> usize {
    let largest = r.layers.iter().map(|l| l.layer.index).max().unwrap_or(0);
    largest.checked_ilog10().map_or(1, |d| d as usize + 1)
}

/// The name of layer `l` in its tags: `layer 02 (Tanh)`, its index zero-padded to `width`
/// digits. A layer named otherwise than [`LayerInfo::name`](crate::LayerInfo::name) keeps its
/// name.
fn tag_name(l: &LayerRecord, width: usize) -> String {
    if l.name != l.layer.name() {
        return l.name.clone();
    }
    let (index, kind) = (l.layer.index, l.layer.kind.label());
    format!("layer {index:0width$} ({kind})")
}

impl EventLog {
    /// The saturation map as an image, its cells [`cell_px`] pixels wide.
    fn push_map(&mut self, tag: &str, step: i64, wall_time: f64, map: &UnitMap) {
        let cell = cell_px(map.units);
        let Some(png) = map_png(map, cell) else {
            return;
        };
        let (Ok(units), Ok(rows)) = (u32::try_from(map.units), u32::try_from(map.rows)) else {
            return;
        };
        let (width, height) = (units * cell, rows * cell + MARK_PX);
        self.push_image(tag, step, wall_time, &png, height, width);
    }

    /// Appends every statistic of `r` at its step:
    /// - per layer (`layer 2 (Tanh)`, or `layer 02 (Tanh)` in a model with 10 layers or more:
    ///   the index zero-padded to the largest one's width, so tags sort in layer order):
    ///   `activations/` and `activation_grads/` histograms,
    ///   `activation_std/`, `saturation/` (activations that saturate) and
    ///   `activation_grad_std/` scalars;
    /// - per parameter (`blocks.0.linear.weight`): `weights/` and `weight_grads/` histograms,
    ///   `grad_data_ratio/` and `update_ratio/` (log10 update:data) scalars, each only where it
    ///   has a value;
    /// - per activation layer with a saturation map (tanh, sigmoid, relu): `saturation_map/`,
    ///   the map as an image (examples down, units across, white where saturated, red above a
    ///   dead unit);
    /// - `loss/recorded_step`: the minibatch loss of the recorded step.
    pub fn push_record(&mut self, r: &DiagnosticRecord, wall_time: f64) {
        let step = i64::try_from(r.step).unwrap_or(i64::MAX);
        let scalar = |log: &mut EventLog, group: &str, name: &str, v: f64| {
            log.push_scalar(&format!("{group}/{name}"), step, wall_time, v as f32);
        };
        let width = index_width(r);
        for l in &r.layers {
            let (out, name) = (&l.output.summary, tag_name(l, width));
            let tag = format!("activations/{name}");
            self.push_histogram(&tag, step, wall_time, &summary_histogram(out));
            scalar(self, "activation_std", &name, out.std);
            if let Some(s) = l.output.saturated_frac {
                scalar(self, "saturation", &name, s);
            }
            if let Some(map) = &l.output.map {
                self.push_map(&format!("saturation_map/{name}"), step, wall_time, map);
            }
            if let Some(g) = &l.grad {
                let tag = format!("activation_grads/{name}");
                self.push_histogram(&tag, step, wall_time, &summary_histogram(g));
                scalar(self, "activation_grad_std", &name, g.std);
            }
        }
        for p in &r.params {
            let count = p.shape.iter().product::<usize>() as f64;
            let values = tb_histogram(&p.data_histogram, count, p.data_mean, p.data_std);
            let grads = tb_histogram(&p.grad_histogram, count, p.grad_mean, p.grad_std);
            self.push_histogram(&format!("weights/{}", p.name), step, wall_time, &values);
            self.push_histogram(&format!("weight_grads/{}", p.name), step, wall_time, &grads);
            if let Some(v) = p.grad_data_ratio {
                scalar(self, "grad_data_ratio", &p.name, v);
            }
            if let Some(v) = p.log10_update_ratio {
                scalar(self, "update_ratio", &p.name, v);
            }
        }
        scalar(self, "loss", "recorded_step", r.loss);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::{param_record, LayerInfo, LayerKind, LayerRecord, OutputStats};
    use crate::tensorboard::read_events;
    use crate::StatsConfig;

    #[test]
    fn a_record_becomes_tagged_scalars_and_histograms() {
        let cfg = StatsConfig::default();
        let values = [0.5f32, -0.25, 1.0, 0.0];
        let layer = LayerRecord {
            layer: LayerInfo::new(2, LayerKind::activation("Tanh", crate::Saturation::Tanh)),
            name: "layer 2 (Tanh)".into(),
            output: OutputStats {
                summary: Summary::of(&values, 4),
                saturated_frac: Some(0.25),
                dead_units: Some(0),
                units: 2,
                map: None,
            },
            grad: None,
        };
        let zeros = [0.0f32; 4];
        let param = param_record("output.bias", &[4], &zeros, &values, &values, &cfg);
        assert_eq!(param.grad_data_ratio, None, "std of the data is 0");
        let r = DiagnosticRecord {
            step: 7,
            loss: 3.25,
            lr: 0.1,
            layers: vec![layer],
            params: vec![param],
            expected_loss: None,
            rescaled_loss: None,
            saturation_threshold: None,
        };
        let mut log = EventLog::new(1.0);
        log.push_record(&r, 2.0);
        let events = read_events(log.as_bytes()).expect("valid file");
        let tags: Vec<&str> = events[1..]
            .iter()
            .flat_map(|e| e.values().iter().map(|v| v.tag.as_str()))
            .collect();
        assert_eq!(
            tags,
            [
                "activations/layer 2 (Tanh)",
                "activation_std/layer 2 (Tanh)",
                "saturation/layer 2 (Tanh)",
                "weights/output.bias",
                "weight_grads/output.bias",
                "loss/recorded_step",
            ],
            "no ratio scalars where the ratios have no value"
        );
        assert!(events[1..].iter().all(|e| e.step == 7));
        let h = events[1]
            .histogram("activations/layer 2 (Tanh)")
            .expect("histogram");
        assert_eq!(h.num, 4.0);
        assert!((h.sum - 1.25).abs() < 1e-9 && (h.sum_squares - 1.3125).abs() < 1e-9);
        assert_eq!(h.bucket.iter().sum::<f64>(), 4.0);
        assert_eq!(events[3].scalar("saturation/layer 2 (Tanh)"), Some(0.25));
    }

    fn layer(index: usize, kind: LayerKind) -> LayerRecord {
        let info = LayerInfo::new(index, kind);
        LayerRecord {
            name: info.name(),
            layer: info,
            output: OutputStats {
                summary: Summary::of(&[0.5, -0.5], 4),
                saturated_frac: None,
                dead_units: None,
                units: 2,
                map: None,
            },
            grad: None,
        }
    }

    fn activation_tags(layers: Vec<LayerRecord>) -> Vec<String> {
        let r = DiagnosticRecord {
            step: 0,
            loss: 1.0,
            lr: 0.1,
            layers,
            params: Vec::new(),
            expected_loss: None,
            rescaled_loss: None,
            saturation_threshold: None,
        };
        let mut log = EventLog::new(1.0);
        log.push_record(&r, 2.0);
        read_events(log.as_bytes())
            .expect("valid file")
            .iter()
            .flat_map(|e| e.values().iter().map(|v| v.tag.clone()))
            .filter(|t| t.starts_with("activations/"))
            .collect()
    }

    #[test]
    fn layer_indices_are_padded_so_tags_sort_in_layer_order() {
        let tanh = || LayerKind::activation("Tanh", crate::Saturation::Tanh);
        let tags = activation_tags(vec![
            layer(2, tanh()),
            layer(9, LayerKind::Linear),
            layer(10, tanh()),
        ]);
        assert_eq!(
            tags,
            [
                "activations/layer 02 (Tanh)",
                "activations/layer 09 (Linear)",
                "activations/layer 10 (Tanh)",
            ]
        );
        let mut sorted = tags.clone();
        sorted.sort();
        assert_eq!(sorted, tags, "as TensorBoard sorts them");
        // Fewer than 10 layers: the names as the tables print them.
        let tags = activation_tags(vec![layer(0, LayerKind::Linear), layer(1, tanh())]);
        assert_eq!(
            tags,
            ["activations/layer 0 (Linear)", "activations/layer 1 (Tanh)"]
        );
        // A layer named otherwise keeps its name.
        let mut custom = layer(12, tanh());
        custom.name = "encoder tanh".into();
        let tags = activation_tags(vec![layer(3, LayerKind::Linear), custom]);
        assert_eq!(
            tags,
            ["activations/layer 03 (Linear)", "activations/encoder tanh"]
        );
    }
}
