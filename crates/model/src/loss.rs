//! The training loss and the evaluation sum: cross-entropy of logits against target tokens.

use burn::tensor::{activation, Int, Tensor};

/// Mean cross-entropy of `[batch, vocab]` logits against `[batch]` targets, as a 1-element tensor.
///
/// On a CPU backend with autodiff logits this is one CPU-path op (`cpu::cross_entropy`).
pub fn cross_entropy(logits: Tensor<2>, targets: Tensor<1, Int>) -> Tensor<1> {
    if let Some(loss) = crate::cpu::cross_entropy(&logits, &targets) {
        return loss;
    }
    let [batch, _] = logits.dims();
    activation::log_softmax(logits, 1)
        .gather(1, targets.reshape([batch, 1]))
        .mean()
        .neg()
}

/// Summed negative log-likelihood of `[batch, vocab]` logits (no autodiff) against `[batch]`
/// targets, read back to the host: on a CPU backend by the CPU-path kernel, elsewhere by Burn's ops.
pub fn nll_sum_host(logits: Tensor<2>, targets: Tensor<1, Int>) -> f64 {
    if let Some(sum) = crate::cpu::nll_sum(&logits, &targets) {
        return sum;
    }
    f64::from(nll_sum(logits, targets).into_scalar::<f32>())
}

/// Summed negative log-likelihood of `[batch, vocab]` logits against `[batch]` targets.
pub fn nll_sum(logits: Tensor<2>, targets: Tensor<1, Int>) -> Tensor<1> {
    let [batch, _] = logits.dims();
    activation::log_softmax(logits, 1)
        .gather(1, targets.reshape([batch, 1]))
        .sum()
        .neg()
}
