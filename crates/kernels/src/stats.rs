//! Normalization statistics: BatchNorm's per-feature batch statistics and LayerNorm's and GroupNorm's per-row ones.

use crate::block::Stats;
use crate::par::{column_sums, for_rows, lane_sum, row_blocks, simd};

/// Batch statistics of `[n, m]` `h`, which is centred in place (the variance's pass writes the
/// centred rows as it sums their squares): `(inv_std, mean, biased variance)`, per feature.
/// Scaling by `inv_std` is left to the caller.
pub(crate) fn batch_statistics(
    h: &mut [f32],
    m: usize,
    eps: f32,
) -> (Vec<f32>, Vec<f32>, Vec<f32>) {
    let inv_n = 1.0 / (h.len() / m.max(1)) as f32;
    let mut mean = column_sums(h, m);
    mean.iter_mut().for_each(|v| *v *= inv_n);
    // The biased variance of the centred values (as PyTorch computes it).
    let mut var = row_blocks(h, m, m, |_, rows, block| {
        for row in rows.chunks_exact_mut(m) {
            row.iter_mut().zip(&mean).for_each(|(h, &mu)| *h -= mu);
            block.iter_mut().zip(&*row).for_each(|(s, &v)| *s += v * v);
        }
    });
    var.iter_mut().for_each(|v| *v *= inv_n);
    let inv_std: Vec<f32> = var.iter().map(|&v| 1.0 / (v + eps).sqrt()).collect();
    (inv_std, mean, var)
}

/// Per-row, per-group statistics of `h` (`[n, m]` in groups of `size` features), in place: each
/// group centred and scaled to unit (biased) variance, its `1 / sqrt(var + eps)` pushed to
/// `inv_std`; a [`simd`] op.
pub(crate) struct GroupStats<'a> {
    h: &'a mut [f32],
    size: usize,
    eps: f32,
    inv_std: &'a mut Vec<f32>,
}

impl pulp::WithSimd for GroupStats<'_> {
    type Output = ();

    #[inline(always)]
    fn with_simd<S: pulp::Simd>(self, _: S) {
        let Self {
            h,
            size,
            eps,
            inv_std,
        } = self;
        let inv = 1.0 / size as f32;
        for g in h.chunks_exact_mut(size) {
            let mu = lane_sum(g, None) * inv;
            g.iter_mut().for_each(|v| *v -= mu);
            let var = lane_sum(g, Some(g)) * inv;
            let s = 1.0 / (var + eps).sqrt();
            g.iter_mut().for_each(|v| *v *= s);
            inv_std.push(s);
        }
    }
}

/// Normalizes `[n, m]` `h` in place into `xhat`; returns the `inv_std` to save. The training
/// pass takes batch statistics by [`batch_statistics`] and scales in its finishing pass; here
/// they are taken and applied in one go.
pub(crate) fn normalize(h: &mut [f32], m: usize, stats: Stats<'_>, eps: f32) -> Vec<f32> {
    let n = h.len() / m.max(1);
    match stats {
        Stats::Batch => {
            let (inv_std, _, _) = batch_statistics(h, m, eps);
            for_rows(h, m, |_, row| {
                row.iter_mut().zip(&inv_std).for_each(|(h, &s)| *h *= s);
            });
            inv_std
        }
        Stats::Fixed { mean, var } => {
            let inv_std: Vec<f32> = var.iter().map(|&v| 1.0 / (v + eps).sqrt()).collect();
            for_rows(h, m, |_, row| {
                row.iter_mut()
                    .zip(mean.iter().zip(&inv_std))
                    .for_each(|(h, (&mu, &s))| *h = (*h - mu) * s);
            });
            inv_std
        }
        Stats::Groups(groups) => {
            let size = m / groups;
            let mut inv_std = Vec::with_capacity(n * groups);
            simd(GroupStats {
                h,
                size,
                eps,
                inv_std: &mut inv_std,
            });
            inv_std
        }
    }
}
