//! Windows moved to a device once, and minibatches gathered there.

use burn::tensor::{Device, Int, Tensor, TensorData};
use makemore_data::Windows;

/// A split's windows as integer tensors on one device.
#[derive(Clone)]
pub struct DeviceWindows {
    /// `[len, block_size]` context token ids.
    pub contexts: Tensor<2, Int>,
    /// `[len]` target token ids.
    pub targets: Tensor<1, Int>,
    /// Number of windows.
    pub len: usize,
}

impl DeviceWindows {
    /// Uploads `w` to `device`.
    pub fn new(w: &Windows, device: &Device) -> Self {
        let len = w.len();
        let ctx: Vec<i64> = w.contexts.iter().map(|&v| i64::from(v)).collect();
        let tgt: Vec<i64> = w.targets.iter().map(|&v| i64::from(v)).collect();
        Self {
            contexts: Tensor::from_data(TensorData::new(ctx, [len, w.block_size]), device),
            targets: Tensor::from_data(TensorData::new(tgt, [len]), device),
            len,
        }
    }

    /// Gathers the rows `indices` on the device: `([batch, block_size], [batch])`.
    pub fn gather(&self, indices: &[i64]) -> (Tensor<2, Int>, Tensor<1, Int>) {
        let device = self.targets.device();
        let idx = Tensor::<1, Int>::from_data(
            TensorData::new(indices.to_vec(), [indices.len()]),
            &device,
        );
        (
            self.contexts.clone().select(0, idx.clone()),
            self.targets.clone().select(0, idx),
        )
    }

    /// Rows `start..end`.
    pub fn slice(&self, start: usize, end: usize) -> (Tensor<2, Int>, Tensor<1, Int>) {
        (
            self.contexts.clone().slice(start..end),
            self.targets.clone().slice(start..end),
        )
    }
}
