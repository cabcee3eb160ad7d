//! What every optimizer's rule shares: the L2 term, the per-element loop of a host step, and how
//! many buffers each rule keeps.

use burn::tensor::Tensor;
use makemore_config::OptimizerConfig;

/// How many buffers `config` keeps per parameter, in the order the optimizer lists them.
pub(crate) fn buffer_count(config: OptimizerConfig) -> usize {
    match config {
        OptimizerConfig::Sgd(c) => usize::from(c.momentum != 0.0),
        OptimizerConfig::Adam(_) | OptimizerConfig::AdamW(_) => 2,
        OptimizerConfig::Rmsprop(c) => 1 + usize::from(c.centered) + usize::from(c.momentum > 0.0),
    }
}

/// A step handed another number of buffers than [`buffer_count`]: a bug in the caller, which
/// sizes them with it.
pub(super) fn wrong_count(config: OptimizerConfig, count: usize) -> ! {
    unreachable!(
        "{config:?} keeps {} buffers, not {count}",
        buffer_count(config)
    )
}

/// The gradient with its L2 term `wd * p`, on tensors (`g` itself when `wd` is 0).
pub(super) fn l2_tensor(g: Tensor<1>, p: &Tensor<1>, wd: f64) -> Tensor<1> {
    if wd != 0.0 {
        g.add(p.clone().mul_scalar(wd))
    } else {
        g
    }
}

/// The gradient with its L2 term, on host values: `(g, p) -> g + p * wd` (`g` when `wd` is 0).
#[inline(always)]
pub(super) fn l2_host(wd: f64) -> impl Fn(f32, f32) -> f32 + Copy {
    let (on, wd) = (wd != 0.0, wd as f32);
    move |g: f32, p: f32| if on { g + p * wd } else { g }
}

/// `p[i] -= step(p[i], g[i], [each buffer's i-th value])` for every element, writing each step
/// to `delta` when given. Every slice is cut to `p`'s length first, so that the loop has no
/// bounds checks and vectorizes.
#[inline(always)]
pub(super) fn apply<const K: usize>(
    p: &mut [f32],
    g: &[f32],
    buffers: [&mut &mut [f32]; K],
    delta: Option<&mut [f32]>,
    step: impl Fn(f32, f32, [&mut f32; K]) -> f32,
) {
    let n = p.len();
    let g = &g[..n];
    let mut buffers = buffers.map(|b| &mut b[..n]);
    match delta {
        Some(out) => {
            let out = &mut out[..n];
            for i in 0..n {
                let d = step(p[i], g[i], buffers.each_mut().map(|b| &mut b[i]));
                out[i] = d;
                p[i] -= d;
            }
        }
        None => {
            for i in 0..n {
                p[i] -= step(p[i], g[i], buffers.each_mut().map(|b| &mut b[i]));
            }
        }
    }
}
