//! The training loss and the evaluation sum: cross-entropy of logits against target tokens.

use burn::tensor::{activation, Int, Tensor};

/// Mean cross-entropy of `[batch, vocab]` logits against `[batch]` targets, as a 1-element tensor.
///
/// On flex with autodiff logits this is one fused op (`fused::cross_entropy`).
pub fn cross_entropy(logits: Tensor<2>, targets: Tensor<1, Int>) -> Tensor<1> {
    #[cfg(feature = "flex")]
    if let Some(loss) = crate::fused::cross_entropy(&logits, &targets) {
        return loss;
    }
    let [batch, _] = logits.dims();
    activation::log_softmax(logits, 1)
        .gather(1, targets.reshape([batch, 1]))
        .mean()
        .neg()
}

/// Summed negative log-likelihood of `[batch, vocab]` logits against `[batch]` targets.
pub fn nll_sum(logits: Tensor<2>, targets: Tensor<1, Int>) -> Tensor<1> {
    let [batch, _] = logits.dims();
    activation::log_softmax(logits, 1)
        .gather(1, targets.reshape([batch, 1]))
        .sum()
        .neg()
}
