//! Adam (`torch.optim.Adam`, weight decay as an L2 term) and AdamW (decoupled weight decay): the
//! rule on tensors and the same rule on host values, side by side.

use super::rule::{apply, l2_host, l2_tensor, wrong_count};
use burn::tensor::Tensor;
use makemore_config::{AdamConfig, OptimizerConfig};

/// One step on tensors at step `t` (1-based): `(delta, [first moment, second moment])`;
/// `decoupled` for AdamW.
pub(super) fn tensor_rule(
    a: AdamConfig,
    decoupled: bool,
    p: Tensor<1>,
    g: Tensor<1>,
    mut old: impl Iterator<Item = Tensor<1>>,
    lr: f64,
    t: u64,
) -> (Tensor<1>, Option<Vec<Tensor<1>>>) {
    let g = if decoupled {
        g
    } else {
        l2_tensor(g, &p, a.weight_decay)
    };
    let m = old.next().unwrap_or_else(|| g.zeros_like());
    let v = old.next().unwrap_or_else(|| g.zeros_like());
    let m = m
        .mul_scalar(a.beta1)
        .add(g.clone().mul_scalar(1.0 - a.beta1));
    let v = v
        .mul_scalar(a.beta2)
        .add(g.square().mul_scalar(1.0 - a.beta2));
    let steps = i32::try_from(t).unwrap_or(i32::MAX);
    let m_hat = m.clone().div_scalar(1.0 - a.beta1.powi(steps));
    let v_hat = v.clone().div_scalar(1.0 - a.beta2.powi(steps));
    let mut d = m_hat.div(v_hat.sqrt().add_scalar(a.eps)).mul_scalar(lr);
    if decoupled && a.weight_decay != 0.0 {
        d = d.add(p.mul_scalar(lr * a.weight_decay));
    }
    (d, Some(vec![m, v]))
}

/// [`tensor_rule`] on host values, in place (see `optim::step_host`).
#[allow(clippy::too_many_arguments)] // the rule's inputs, each named where it is used
#[inline(always)]
pub(super) fn host_rule(
    a: AdamConfig,
    decoupled: bool,
    p: &mut [f32],
    g: &[f32],
    buffers: &mut [&mut [f32]],
    delta: Option<&mut [f32]>,
    lr: f64,
    t: u64,
) {
    let config = if decoupled {
        OptimizerConfig::AdamW(a)
    } else {
        OptimizerConfig::Adam(a)
    };
    let [m, v] = buffers else {
        wrong_count(config, buffers.len())
    };
    let f = |x: f64| x as f32;
    let rate = f(lr);
    let g2 = l2_host(if decoupled { 0.0 } else { a.weight_decay });
    let steps = i32::try_from(t).unwrap_or(i32::MAX);
    let (b1, nb1, b2, nb2) = (f(a.beta1), f(1.0 - a.beta1), f(a.beta2), f(1.0 - a.beta2));
    let (c1, c2) = (f(1.0 - a.beta1.powi(steps)), f(1.0 - a.beta2.powi(steps)));
    let eps = f(a.eps);
    let decay = if decoupled {
        f(lr * a.weight_decay)
    } else {
        0.0
    };
    apply(p, g, [m, v], delta, |p, g, [m, v]| {
        let g = g2(g, p);
        *m = *m * b1 + g * nb1;
        *v = *v * b2 + g * g * nb2;
        let d = (*m / c1) / ((*v / c2).sqrt() + eps) * rate;
        if decay != 0.0 {
            d + p * decay
        } else {
            d
        }
    });
}
