//! Cross-entropy over logits on the host: the training loss with its gradient, and evaluation's sum.

/// Mean cross-entropy of `[n, v]` logits against `targets`, and its gradient with respect to the
/// logits, `(softmax - onehot) / n`.
pub fn cross_entropy(logits: &[f32], targets: &[usize], v: usize) -> (f32, Vec<f32>) {
    let n = targets.len();
    let mut grad = vec![0.0f32; n * v];
    let mut total = 0.0f64;
    let inv_n = 1.0 / n as f32;
    for ((row, g), &t) in logits
        .chunks_exact(v)
        .zip(grad.chunks_exact_mut(v))
        .zip(targets)
    {
        let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        let mut sum = 0.0f32;
        for (g, &l) in g.iter_mut().zip(row) {
            *g = (l - max).exp();
            sum += *g;
        }
        // -log softmax[t] = log(sum) - (l_t - max); a NaN logit propagates to the loss.
        total += f64::from(sum.ln() - (row[t] - max));
        let inv = inv_n / sum;
        g.iter_mut().for_each(|g| *g *= inv);
        g[t] -= inv_n;
    }
    ((total / n as f64) as f32, grad)
}

/// Summed cross-entropy of `[n, v]` logits against `targets`, accumulated in f64 (evaluation).
pub fn nll_sum(logits: &[f32], targets: &[usize], v: usize) -> f64 {
    logits
        .chunks_exact(v)
        .zip(targets)
        .map(|(row, &t)| {
            let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
            let sum: f32 = row.iter().map(|&l| (l - max).exp()).sum();
            f64::from(sum.ln() - (row[t] - max))
        })
        .sum()
}
