//! Nonlinearities as tensor ops: how each is applied (tanh on the host on CPU backends, with its
//! derivative from the output) and how the diagnostics name it and count its saturation.

use crate::backend::host_memory;
use burn::tensor::{activation, Device, Tensor, TensorData};
use makemore_diagnostics::{LayerKind, Saturation};
use makemore_init::Activation;
use makemore_kernels::math::tanh_f32;

/// How the lecture prints a nonlinearity, and how its saturation is counted.
pub fn activation_kind(a: Activation) -> LayerKind {
    let (name, saturation) = match a {
        Activation::Tanh => ("Tanh", Saturation::Tanh),
        Activation::Relu => ("ReLU", Saturation::Zero),
        Activation::LeakyRelu { .. } => ("LeakyReLU", Saturation::Negative),
        Activation::Gelu => ("GELU", Saturation::Never),
        Activation::Sigmoid => ("Sigmoid", Saturation::Sigmoid),
        Activation::Identity => ("Identity", Saturation::Never),
    };
    LayerKind::activation(name, saturation)
}

/// Applies a nonlinearity.
pub fn apply(a: Activation, x: Tensor<2>) -> Tensor<2> {
    match a {
        Activation::Tanh if host_memory(&x.device()) && crate::cpu_kernels() => host_tanh(x),
        Activation::Tanh => activation::tanh(x),
        Activation::Relu => activation::relu(x),
        Activation::LeakyRelu { slope } => activation::leaky_relu(x, slope),
        Activation::Gelu => activation::gelu(x),
        Activation::Sigmoid => activation::sigmoid(x),
        Activation::Identity => x,
    }
}

/// tanh on a CPU backend, computed on the host with [`tanh_f32`] (vectorized), and with its
/// derivative `1 - y^2` from the output instead of a second evaluation. For an autodiff input `x`
/// the result is `x * c + (y - x * c)` with `c = 1 - y^2` and `y - x * c` constants: its value is
/// `y` (to one rounding) and its gradient is `c`, so the graph holds one multiply and one add.
/// This is what brings a training step of the lecture's models on flex to a third of its time
/// with Burn's `tanh` (README, Performance).
fn host_tanh(x: Tensor<2>) -> Tensor<2> {
    let device = x.device();
    let shape = x.dims();
    let data = x.clone().without_autodiff().into_data();
    let Ok(xs) = data.as_slice::<f32>() else {
        return activation::tanh(x); // not f32: no fast path
    };
    let plain = device.clone().without_autodiff();
    let tensor = |v: Vec<f32>, d: &Device| Tensor::<2>::from_data(TensorData::new(v, shape), d);
    if !x.is_autodiff() {
        return tensor(xs.iter().map(|&v| tanh_f32(v)).collect(), &device);
    }
    // Three simple passes rather than one with two pushes: each of these vectorizes.
    let y: Vec<f32> = xs.iter().map(|&v| tanh_f32(v)).collect();
    let c: Vec<f32> = y.iter().map(|&y| 1.0 - y * y).collect();
    let rest: Vec<f32> = xs
        .iter()
        .zip(&y)
        .zip(&c)
        .map(|((&v, &y), &c)| y - v * c)
        .collect();
    x.mul(tensor(c, &plain)).add(tensor(rest, &plain))
}
