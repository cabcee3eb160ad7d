//! SGD (`torch.optim.SGD`), with momentum, dampening and Nesterov's variant: its rule on tensors
//! and the same rule on host values, side by side.

use super::rule::{apply, l2_host, l2_tensor, wrong_count};
use burn::tensor::Tensor;
use makemore_config::{OptimizerConfig, SgdConfig};

/// One step on tensors: `(delta, buffers)`; the momentum buffer when there is momentum.
pub(super) fn tensor_rule(
    c: SgdConfig,
    p: Tensor<1>,
    g: Tensor<1>,
    mut old: impl Iterator<Item = Tensor<1>>,
    lr: f64,
) -> (Tensor<1>, Option<Vec<Tensor<1>>>) {
    let g = l2_tensor(g, &p, c.weight_decay);
    if c.momentum == 0.0 {
        return (g.mul_scalar(lr), None);
    }
    let buf = match old.next() {
        Some(b) => b
            .mul_scalar(c.momentum)
            .add(g.clone().mul_scalar(1.0 - c.dampening)),
        None => g.clone(),
    };
    let step = if c.nesterov {
        g.add(buf.clone().mul_scalar(c.momentum))
    } else {
        buf.clone()
    };
    (step.mul_scalar(lr), Some(vec![buf]))
}

/// [`tensor_rule`] on host values, in place (see `optim::step_host`).
#[inline(always)]
pub(super) fn host_rule(
    c: SgdConfig,
    p: &mut [f32],
    g: &[f32],
    buffers: &mut [&mut [f32]],
    fresh: bool,
    delta: Option<&mut [f32]>,
    lr: f64,
) {
    let f = |x: f64| x as f32;
    let rate = f(lr);
    match buffers {
        [] => {
            let g2 = l2_host(c.weight_decay);
            apply(p, g, [], delta, |p, g, []| g2(g, p) * rate);
        }
        [buf] => {
            let (g2, momentum, keep) =
                (l2_host(c.weight_decay), f(c.momentum), f(1.0 - c.dampening));
            let nesterov = c.nesterov;
            apply(p, g, [buf], delta, |p, g, [b]| {
                let g = g2(g, p);
                *b = if fresh { g } else { *b * momentum + g * keep };
                if nesterov {
                    (g + *b * momentum) * rate
                } else {
                    *b * rate
                }
            });
        }
        buffers => wrong_count(OptimizerConfig::Sgd(c), buffers.len()),
    }
}
