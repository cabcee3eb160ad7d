//! RMSprop (`torch.optim.RMSprop`), optionally centered and with momentum: the rule on tensors
//! and the same rule on host values, side by side.

use super::rule::{apply, l2_host, l2_tensor, wrong_count};
use burn::tensor::Tensor;
use makemore_config::{OptimizerConfig, RmspropConfig};

/// One step on tensors: `(delta, [squared average, gradient average (centered), momentum
/// buffer (momentum > 0)])`.
pub(super) fn tensor_rule(
    c: RmspropConfig,
    p: Tensor<1>,
    g: Tensor<1>,
    mut old: impl Iterator<Item = Tensor<1>>,
    lr: f64,
) -> (Tensor<1>, Option<Vec<Tensor<1>>>) {
    let g = l2_tensor(g, &p, c.weight_decay);
    let sq = old.next().unwrap_or_else(|| g.zeros_like());
    let sq = sq
        .mul_scalar(c.alpha)
        .add(g.clone().square().mul_scalar(1.0 - c.alpha));
    let mut keep = vec![sq.clone()];
    let var = if c.centered {
        let ga = old.next().unwrap_or_else(|| g.zeros_like());
        let ga = ga
            .mul_scalar(c.alpha)
            .add(g.clone().mul_scalar(1.0 - c.alpha));
        keep.push(ga.clone());
        sq.sub(ga.square())
    } else {
        sq
    };
    let scaled = g.div(var.sqrt().add_scalar(c.eps));
    if c.momentum > 0.0 {
        let buf = match old.next() {
            Some(b) => b.mul_scalar(c.momentum).add(scaled),
            None => scaled,
        };
        keep.push(buf.clone());
        (buf.mul_scalar(lr), Some(keep))
    } else {
        (scaled.mul_scalar(lr), Some(keep))
    }
}

/// [`tensor_rule`] on host values, in place (see `optim::step_host`).
#[inline(always)]
pub(super) fn host_rule(
    c: RmspropConfig,
    p: &mut [f32],
    g: &[f32],
    buffers: &mut [&mut [f32]],
    fresh: bool,
    delta: Option<&mut [f32]>,
    lr: f64,
) {
    let f = |x: f64| x as f32;
    let rate = f(lr);
    let g2 = l2_host(c.weight_decay);
    let (alpha, keep, eps) = (f(c.alpha), f(1.0 - c.alpha), f(c.eps));
    let momentum = f(c.momentum);
    // The squared average, then the gradient's average (centered): the step before
    // momentum, `g / sqrt(variance)`.
    let scaled = |g: f32, sq: &mut f32, avg: Option<&mut f32>| {
        *sq = *sq * alpha + g * g * keep;
        let var = match avg {
            Some(a) => {
                *a = *a * alpha + g * keep;
                *sq - *a * *a
            }
            None => *sq,
        };
        g / (var.sqrt() + eps)
    };
    let with_momentum = |b: &mut f32, s: f32| {
        *b = if fresh { s } else { *b * momentum + s };
        *b * rate
    };
    match (c.centered, buffers) {
        (false, [sq]) => {
            apply(p, g, [sq], delta, |p, g, [sq]| {
                scaled(g2(g, p), sq, None) * rate
            });
        }
        (true, [sq, avg]) => apply(p, g, [sq, avg], delta, |p, g, [sq, avg]| {
            scaled(g2(g, p), sq, Some(avg)) * rate
        }),
        (false, [sq, buf]) => apply(p, g, [sq, buf], delta, |p, g, [sq, b]| {
            with_momentum(b, scaled(g2(g, p), sq, None))
        }),
        (true, [sq, avg, buf]) => apply(p, g, [sq, avg, buf], delta, |p, g, [sq, a, b]| {
            with_momentum(b, scaled(g2(g, p), sq, Some(a)))
        }),
        (_, buffers) => wrong_count(OptimizerConfig::Rmsprop(c), buffers.len()),
    }
}
