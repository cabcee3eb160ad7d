//! See inside a Burn model while it trains: per-layer activation and gradient statistics,
//! saturation and dead units, weight-gradient and update-to-data ratios, as numbers
//! (`diagnostics.jsonl`), pictures (SVG/PNG), a self-contained HTML report, and advice.
//!
//! Any model can be inspected: implement [`Inspect`] by passing each layer output you want to see
//! through the [`Tap`] you are given.
//!
//! ```
//! use burn::tensor::{activation, Device, Tensor, TensorData};
//! use makemore_diagnostics::{Inspect, LayerInfo, LayerKind, Recorder, Saturation, Tap};
//!
//! struct TwoLayer { w1: Tensor<2>, w2: Tensor<2> }
//!
//! impl Inspect for TwoLayer {
//!     type Input = Tensor<2>;
//!     fn forward_inspect(&self, x: Tensor<2>, tap: &mut dyn Tap) -> Tensor<2> {
//!         let h = tap.tap(LayerInfo::new(0, LayerKind::Linear), x.matmul(self.w1.clone()));
//!         let t = tap.tap(LayerInfo::new(1, LayerKind::activation("Tanh", Saturation::Tanh)), activation::tanh(h));
//!         t.matmul(self.w2.clone())
//!     }
//! }
//!
//! let device = Device::flex().autodiff();
//! let t = |v: Vec<f32>, s: [usize; 2]| Tensor::<2>::from_data(TensorData::new(v, s), &device);
//! let model = TwoLayer { w1: t(vec![0.5; 12], [3, 4]).require_grad(), w2: t(vec![0.1; 8], [4, 2]).require_grad() };
//! let mut rec = Recorder::new(true);
//! let out = model.forward_inspect(t(vec![1.0; 6], [2, 3]), &mut rec);
//! let grads = out.sum().backward();
//! let layers = rec.finish(Some(&grads), &Default::default());
//! assert_eq!(layers.len(), 2);
//! assert_eq!(layers[1].output.saturated_frac, Some(0.0)); // tanh(1.5) = 0.905 < 0.97
//! assert!(layers[0].grad.is_some()); // the gradient with respect to each output
//! ```
//!
//! With the `learner` feature, [`learner::Watched`] brings the same diagnostics into
//! burn-train's `Learner` (see `examples/learner.rs` and the crate's README).

#![warn(missing_docs)]

mod advice;
mod chart;
pub use chart::ChartFiles;
#[cfg(feature = "learner")]
pub mod learner;
mod plot;
pub mod record;
mod report;
pub mod satmap;
mod stats;
pub mod tensorboard;
mod units;

pub use advice::{advise, Advice, AdviceConfig, Remedy};
pub use plot::{
    inline_svg, render_plots, window_means, write_line_chart, LineChart, PlotError, PlotSet,
    PLOT_NAMES,
};
pub use record::{
    param_record, DiagnosticRecord, Inspect, LayerInfo, LayerKind, LayerRecord, ParamRecord,
    Recorder, Saturation, StatsConfig, Tap,
};
pub use report::{layer_table, param_table, write_report, ReportError};
pub use stats::{histogram, Histogram, Summary};
pub use units::{UnitMap, MAP_ROWS};
