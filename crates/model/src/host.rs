//! Tensors read back to the host: plain `f32` values, and a model's tensors by path (what the
//! weights file and checkpoints hold).

use burn::tensor::Tensor;
/// Reads a tensor's values back to the host as f32 (the diagnostics crate's reader, which every
/// `Inspect` user already has).
pub use makemore_diagnostics::record::to_host;

/// One named tensor of a model, on the host.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct NamedTensor {
    /// Dotted path, e.g. `blocks.0.linear.weight`.
    pub path: String,
    /// Dimensions.
    pub shape: Vec<usize>,
    /// Whether the optimizer trains it (running statistics are not trained).
    pub trainable: bool,
    /// Row-major values.
    pub data: Vec<f32>,
}

impl NamedTensor {
    /// Reads `t` back to the host under `path`.
    pub fn read<const D: usize>(path: String, t: Tensor<D>, trainable: bool) -> Self {
        let shape = t.dims().to_vec();
        let data = to_host(t);
        NamedTensor {
            path,
            shape,
            trainable,
            data,
        }
    }
}
