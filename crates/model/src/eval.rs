//! Losses over whole splits, and BatchNorm calibration, on a model without autodiff.

use crate::budget::EVAL_CHUNK;
use crate::data::{Dataset, DeviceWindows};
use crate::loss::nll_sum_host;
use crate::mlp::Mlp;
use crate::norm::NormMode;
use burn::tensor::Device;

/// Mean cross-entropy of `model` (a no-autodiff copy: `Module::valid`) over `data`; NaN (`null`
/// in JSON) for an empty split, which a tiny corpus can have.
pub fn split_loss(model: &Mlp, data: &DeviceWindows) -> f64 {
    if data.len == 0 {
        return f64::NAN;
    }
    let mut total = 0.0f64;
    let mut start = 0;
    while start < data.len {
        let end = (start + EVAL_CHUNK).min(data.len);
        let (x, y) = data.slice(start, end);
        let logits = model.forward(x, NormMode::Eval);
        total += nll_sum_host(logits, y);
        start = end;
    }
    total / data.len as f64
}

/// Recomputes every BatchNorm's running statistics over all of `data` in one pass (the lecture's
/// calibration): mean and unbiased variance of each layer's input over the whole split.
pub fn calibrate(model: &Mlp, data: &DeviceWindows) {
    let (x, _) = data.slice(0, data.len);
    let _ = model.forward(x, NormMode::Calibrate);
}

/// Mean loss of a no-autodiff `model` on the train, val and test splits.
pub fn evaluate(model: &Mlp, ds: &Dataset, device: &Device) -> [f64; 3] {
    let w = &ds.windows;
    [0, 1, 2].map(|i| split_loss(model, &DeviceWindows::new(&w[i], device)))
}
