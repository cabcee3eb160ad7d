//! Recording layer outputs, their gradients, and parameter updates.

use crate::stats::{histogram, Histogram, Summary};
use crate::units::UnitMap;
use burn::tensor::{Gradients, Tensor};
use serde::{Deserialize, Serialize};

/// How a nonlinearity's output counts as saturated (or dead).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Saturation {
    /// Saturated when |t| > threshold (tanh and other odd squashing functions).
    Tanh,
    /// Saturated when |2t - 1| > threshold (sigmoid: near 0 or 1).
    Sigmoid,
    /// Dead when exactly 0 (relu).
    Zero,
    /// In the flat negative regime when t < 0 (leaky relu).
    Negative,
    /// Never saturates (identity, gelu).
    Never,
}

impl Saturation {
    /// Whether the gradient through a saturated output vanishes: true for tanh, sigmoid and
    /// relu's zeros; false for leaky relu's negative side (its gradient is the slope).
    pub fn gradient_vanishes(&self) -> bool {
        matches!(
            self,
            Saturation::Tanh | Saturation::Sigmoid | Saturation::Zero
        )
    }

    fn is_saturated(&self, t: f32, threshold: f32) -> Option<bool> {
        match self {
            Saturation::Tanh => Some(t.abs() > threshold),
            Saturation::Sigmoid => Some((2.0 * t - 1.0).abs() > threshold),
            Saturation::Zero => Some(t == 0.0),
            Saturation::Negative => Some(t < 0.0),
            Saturation::Never => None,
        }
    }
}

/// What a tapped layer is.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "type")]
pub enum LayerKind {
    /// A Linear (or any affine) layer's output.
    Linear,
    /// A normalization layer's output.
    Norm {
        /// `BatchNorm1d`, `LayerNorm`, `GroupNorm`, ... (records written before the name was
        /// kept read as `BatchNorm1d`, the only one there was).
        #[serde(default = "batch_norm_name")]
        name: String,
    },
    /// The sum of a residual link, `h + block(h)`.
    Residual,
    /// A nonlinearity's output.
    Activation {
        /// As the lecture prints it: `Tanh`, `ReLU`, ...
        name: String,
        /// How it saturates.
        saturation: Saturation,
    },
}

fn batch_norm_name() -> String {
    "BatchNorm1d".into()
}

impl LayerKind {
    /// A normalization layer, e.g. `LayerKind::norm("LayerNorm")`.
    pub fn norm(name: &str) -> Self {
        LayerKind::Norm {
            name: name.to_owned(),
        }
    }

    /// A nonlinearity.
    pub fn activation(name: &str, saturation: Saturation) -> Self {
        LayerKind::Activation {
            name: name.to_owned(),
            saturation,
        }
    }

    /// `Linear`, the normalization's name (`BatchNorm1d`, ...), `Residual` or the activation's
    /// name.
    pub fn label(&self) -> &str {
        match self {
            LayerKind::Linear => "Linear",
            LayerKind::Norm { name } => name,
            LayerKind::Residual => "Residual",
            LayerKind::Activation { name, .. } => name,
        }
    }
}

/// A tapped layer: its position in the model's flat layer list and its kind.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LayerInfo {
    /// Position (the lecture numbers `0 Linear, 1 BatchNorm1d, 2 Tanh, ...`).
    pub index: usize,
    /// What it is.
    pub kind: LayerKind,
}

impl LayerInfo {
    /// A layer.
    pub fn new(index: usize, kind: LayerKind) -> Self {
        Self { index, kind }
    }

    /// `layer 2 (Tanh)`.
    pub fn name(&self) -> String {
        format!("layer {} ({})", self.index, self.kind.label())
    }
}

/// Receives each layer output during a forward pass and returns the tensor to continue with.
pub trait Tap {
    /// Called once per layer output, `[batch, features]`.
    fn tap(&mut self, layer: LayerInfo, output: Tensor<2>) -> Tensor<2>;
}

impl<F: FnMut(LayerInfo, Tensor<2>) -> Tensor<2>> Tap for F {
    fn tap(&mut self, layer: LayerInfo, output: Tensor<2>) -> Tensor<2> {
        self(layer, output)
    }
}

/// A model whose layer outputs can be inspected. Implement it by calling `tap.tap(..)` on each
/// output you want to see, in forward order, and continuing with what it returns.
pub trait Inspect {
    /// What the forward pass takes.
    type Input;
    /// The forward pass, with taps; returns the logits (or whatever the loss is computed from).
    fn forward_inspect(&self, input: Self::Input, tap: &mut dyn Tap) -> Tensor<2>;
}

/// Reads a tensor's values back to the host as f32 (one device synchronization).
pub fn to_host<const D: usize>(t: Tensor<D>) -> Vec<f32> {
    t.into_data()
        .convert::<f32>()
        .try_to_vec::<f32>()
        .expect("a tensor converted to f32 reads back as f32")
}

/// Thresholds and resolution of the statistics.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StatsConfig {
    /// Histogram bins.
    pub bins: usize,
    /// |t| above this counts as saturated (tanh, sigmoid).
    pub saturation_threshold: f32,
}

impl Default for StatsConfig {
    fn default() -> Self {
        Self {
            bins: 50,
            saturation_threshold: 0.97,
        }
    }
}

/// Statistics of one layer's output.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OutputStats {
    /// Mean, std, extremes, histogram.
    #[serde(flatten)]
    pub summary: Summary,
    /// Share of values saturated (activations only).
    pub saturated_frac: Option<f64>,
    /// Units saturated (or zero) for every example of the batch (activations only).
    pub dead_units: Option<usize>,
    /// Number of units (features).
    pub units: usize,
    /// Which units were saturated (or zero) on each of the first examples of the batch, and
    /// which on all of them (activations whose gradient vanishes there: tanh, sigmoid, relu).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub map: Option<UnitMap>,
}

/// One layer on one recorded step.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LayerRecord {
    /// Which layer.
    pub layer: LayerInfo,
    /// `layer 2 (Tanh)`.
    pub name: String,
    /// Its output.
    pub output: OutputStats,
    /// The gradient of the loss with respect to its output.
    pub grad: Option<Summary>,
}

impl LayerRecord {
    /// Whether it is a squashing (tanh, sigmoid) activation. Relu's zeros are half its outputs
    /// in a healthy network: only squashing functions saturate (a relu unit that never fires is
    /// caught as dead instead).
    pub fn is_squashing(&self) -> bool {
        matches!(
            self.layer.kind,
            LayerKind::Activation {
                saturation: Saturation::Tanh | Saturation::Sigmoid,
                ..
            }
        )
    }
}

/// Collects layer outputs during one forward pass. With `grads`, it adds a zero leaf that requires
/// grad to each output (the gradient of that leaf is the gradient with respect to the output;
/// Burn keeps gradients only for leaves). Ordinary steps never see it.
pub struct Recorder {
    grads: bool,
    taps: Vec<(LayerInfo, Tensor<2>, Option<Tensor<2>>)>,
}

impl Recorder {
    /// A recorder; `grads` asks for output gradients too (needs an autodiff forward).
    pub fn new(grads: bool) -> Self {
        Self {
            grads,
            taps: Vec::new(),
        }
    }

    /// Reads everything back and computes the statistics. `grads` comes from the loss's backward.
    pub fn finish(self, grads: Option<&Gradients>, cfg: &StatsConfig) -> Vec<LayerRecord> {
        self.taps
            .into_iter()
            .map(|(layer, output, leaf)| {
                let [_, units] = output.dims();
                let values = to_host(output);
                let grad = match (leaf, grads) {
                    (Some(leaf), Some(g)) => {
                        leaf.grad(g).map(|g| Summary::of(&to_host(g), cfg.bins))
                    }
                    _ => None,
                };
                let saturation = match &layer.kind {
                    LayerKind::Activation { saturation, .. } => Some(*saturation),
                    _ => None,
                };
                let sat =
                    |v: f32| saturation.and_then(|s| s.is_saturated(v, cfg.saturation_threshold));
                // Only where the gradient vanishes: a leaky relu's negative side still learns.
                let saturated_frac = saturation.filter(|s| s.gradient_vanishes()).map(|_| {
                    values.iter().filter(|&&v| sat(v) == Some(true)).count() as f64
                        / values.len().max(1) as f64
                });
                // A unit is dead when no example of the batch gets a gradient through it.
                let vanishes = saturation.is_some_and(|s| s.gradient_vanishes());
                let map = vanishes.then(|| UnitMap::new(&values, units, |v| sat(v) == Some(true)));
                let dead_units = map.as_ref().map(|m| m.dead.len());
                LayerRecord {
                    name: layer.name(),
                    layer,
                    output: OutputStats {
                        summary: Summary::of(&values, cfg.bins),
                        saturated_frac,
                        dead_units,
                        units,
                        map,
                    },
                    grad,
                }
            })
            .collect()
    }
}

impl Tap for Recorder {
    fn tap(&mut self, layer: LayerInfo, output: Tensor<2>) -> Tensor<2> {
        let seen = output.clone().detach();
        if self.grads && output.is_autodiff() {
            let leaf = output.zeros_like().detach().require_grad();
            self.taps.push((layer, seen, Some(leaf.clone())));
            output.add(leaf)
        } else {
            self.taps.push((layer, seen, None));
            output
        }
    }
}

/// One parameter on one recorded step.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ParamRecord {
    /// Its path, e.g. `blocks.0.linear.weight`.
    pub name: String,
    /// Its shape.
    pub shape: Vec<usize>,
    /// Mean of its values.
    #[serde(default)]
    pub data_mean: f64,
    /// std of its values.
    pub data_std: f64,
    /// Mean of its gradient.
    pub grad_mean: f64,
    /// std of its gradient.
    pub grad_std: f64,
    /// std(grad) / std(data); `None` (`null` in JSON, "n/a" in tables) where it has no value:
    /// a parameter whose values are all equal (a fresh BatchNorm gamma, a zero bias) has std 0.
    pub grad_data_ratio: Option<f64>,
    /// log10(std(update) / std(data)), the update being what the optimizer step changed (the
    /// values after it minus before; for plain SGD that is lr * grad, for Adam it is not); the
    /// lecture's rule of thumb is about -3. `None` where it has no value (std(data) = 0, or no
    /// update at all).
    pub log10_update_ratio: Option<f64>,
    /// Histogram of the values.
    #[serde(default)]
    pub data_histogram: Histogram,
    /// Histogram of the gradient.
    pub grad_histogram: Histogram,
}

/// `x` where it is a number, `None` where it is NaN or infinite.
fn defined(x: f64) -> Option<f64> {
    x.is_finite().then_some(x)
}

/// A ratio for a table: the number in `format`, or "n/a" where it has no value.
pub fn show_ratio(x: Option<f64>, format: fn(f64) -> String) -> String {
    x.map_or_else(|| "n/a".into(), format)
}

impl ParamRecord {
    /// Whether this is a weight matrix (2-D), the parameters the lecture's update plot shows.
    pub fn is_matrix(&self) -> bool {
        self.shape.len() == 2
    }
}

/// Statistics of one parameter from its values, gradient and update (all flattened).
pub fn param_record(
    name: &str,
    shape: &[usize],
    data: &[f32],
    grad: &[f32],
    update: &[f32],
    cfg: &StatsConfig,
) -> ParamRecord {
    let d = Summary::of(data, 1);
    let g = Summary::of(grad, 1);
    let u = Summary::of(update, 1);
    ParamRecord {
        name: name.to_owned(),
        shape: shape.to_vec(),
        data_mean: d.mean,
        data_std: d.std,
        grad_mean: g.mean,
        grad_std: g.std,
        grad_data_ratio: defined(g.std / d.std),
        log10_update_ratio: defined((u.std / d.std).log10()),
        data_histogram: histogram(data, cfg.bins),
        grad_histogram: histogram(grad, cfg.bins),
    }
}

/// Everything recorded on one step (one line of `diagnostics.jsonl`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DiagnosticRecord {
    /// The step (0-based) the statistics describe.
    pub step: u64,
    /// The minibatch loss.
    pub loss: f64,
    /// The learning rate of the step.
    pub lr: f64,
    /// Layer outputs and their gradients, in forward order.
    pub layers: Vec<LayerRecord>,
    /// Parameters, in module order.
    pub params: Vec<ParamRecord>,
    /// At step 0: the loss a uniform guess gets, ln(vocab).
    pub expected_loss: Option<f64>,
    /// At step 0: the loss after the best rescaling of the logits (a temperature); the gap to
    /// `loss` is what an overconfident output layer costs.
    pub rescaled_loss: Option<f64>,
    /// The |output| beyond which a tanh or sigmoid output counted as saturated
    /// ([`StatsConfig::saturation_threshold`]); absent in records written before it was kept.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub saturation_threshold: Option<f32>,
}

impl DiagnosticRecord {
    /// `saturated` and the threshold it used, in words: `saturated (|x| > 0.97)`.
    pub fn saturated_words(&self) -> String {
        match self.saturation_threshold {
            Some(t) => format!("saturated (|x| > {t})"),
            None => "saturated".into(),
        }
    }

    /// What counts as saturated in layer `l`, in words, with the threshold where there is one:
    /// `saturated (|x| > 0.97)` for tanh, `saturated (x < 0.015 or x > 0.985)` for sigmoid,
    /// `zero` for relu, `negative` for leaky relu.
    pub fn saturated_words_of(&self, l: &LayerRecord) -> String {
        let t = self.saturation_threshold;
        match (&l.layer.kind, t) {
            (
                LayerKind::Activation {
                    saturation: Saturation::Sigmoid,
                    ..
                },
                Some(t),
            ) => {
                let (lo, hi) = ((1.0 - f64::from(t)) / 2.0, (1.0 + f64::from(t)) / 2.0);
                format!("saturated (x < {lo:.3} or x > {hi:.3})")
            }
            (
                LayerKind::Activation {
                    saturation: Saturation::Zero,
                    ..
                },
                _,
            ) => "zero (no gradient)".into(),
            (
                LayerKind::Activation {
                    saturation: Saturation::Negative,
                    ..
                },
                _,
            ) => "negative".into(),
            _ => self.saturated_words(),
        }
    }

    /// The activation layers (tanh, relu, ...: the outputs the lecture plots), in order.
    pub fn activations(&self) -> impl Iterator<Item = &LayerRecord> {
        self.layers
            .iter()
            .filter(|l| matches!(l.layer.kind, LayerKind::Activation { .. }))
    }

    /// The largest share of saturated outputs in any layer that saturates; `None` without one.
    pub fn max_saturation(&self) -> Option<f64> {
        self.activations()
            .filter_map(|l| l.output.saturated_frac)
            .reduce(f64::max)
    }

    /// The median log10 update:data ratio of the weight matrices (the upper one of the two
    /// middle values for an even count); `None` where no matrix has one.
    pub fn median_log10_update(&self) -> Option<f64> {
        let mut ratios: Vec<f64> = self
            .params
            .iter()
            .filter(|p| p.is_matrix())
            .filter_map(|p| p.log10_update_ratio)
            .collect();
        ratios.sort_by(f64::total_cmp);
        ratios.get(ratios.len() / 2).copied()
    }

    /// The share of the loss that rescaling the logits removes (0 when unknown).
    pub fn overconfidence_share(&self) -> f64 {
        match self.rescaled_loss {
            Some(r) if self.loss > 0.0 => ((self.loss - r) / self.loss).max(0.0),
            _ => 0.0,
        }
    }
}

/// Mean cross-entropy of `logits` (`[batch, vocab]`, row-major) against `targets` after dividing
/// the logits by `temperature`.
fn cross_entropy(logits: &[f32], targets: &[u32], vocab: usize, temperature: f64) -> f64 {
    let mut total = 0.0;
    for (row, &t) in logits.chunks(vocab).zip(targets) {
        let scaled: Vec<f64> = row.iter().map(|&x| f64::from(x) / temperature).collect();
        let max = scaled.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
        let lse = max + scaled.iter().map(|x| (x - max).exp()).sum::<f64>().ln();
        total += lse - scaled[t as usize];
    }
    total / targets.len().max(1) as f64
}

/// The lowest loss any temperature gives these logits (golden-section search over log T).
///
/// ```
/// // Confidently wrong logits: a large temperature nearly recovers the uniform loss ln 3.
/// let logits = [30.0f32, 0.0, 0.0, 0.0, 30.0, 0.0];
/// let rescaled = makemore_diagnostics::record::best_rescaled_loss(&logits, &[1, 0], 3);
/// assert!(rescaled < 3f64.ln() + 0.01);
/// ```
pub fn best_rescaled_loss(logits: &[f32], targets: &[u32], vocab: usize) -> f64 {
    let f = |log_t: f64| cross_entropy(logits, targets, vocab, log_t.exp());
    let (mut a, mut b) = (-5.0f64, 8.0f64);
    let phi = (5f64.sqrt() - 1.0) / 2.0;
    for _ in 0..80 {
        let c = b - phi * (b - a);
        let d = a + phi * (b - a);
        if f(c) < f(d) {
            b = d;
        } else {
            a = c;
        }
    }
    f((a + b) / 2.0).min(f(0.0))
}
