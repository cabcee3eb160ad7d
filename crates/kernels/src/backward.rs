//! A block's backward pass: every gradient a training step wants, from what the forward pass saved.

use crate::block::*;
use crate::matmul::*;
use crate::par::{column_sums, for_rows, in_row_tasks, lane_sum, row_blocks, simd};

/// `dz = dy * scale * act'` on a block of rows of [`block_backward`], and with a norm the column
/// sums of `dz` and `dz * xhat` into `block` (`[2m]`); a [`simd`] op.
pub(crate) struct DzBlock<'a> {
    /// The block's first row.
    first: usize,
    /// The block's rows of `dy`, made `dz` in place.
    rows: &'a mut [f32],
    /// The block's sums.
    block: &'a mut [f32],
    /// Width.
    m: usize,
    /// The residual branch's scale (1 without one).
    s: f32,
    saved: &'a Saved,
}

impl pulp::WithSimd for DzBlock<'_> {
    type Output = ();

    #[inline(always)]
    fn with_simd<S: pulp::Simd>(self, _: S) {
        let Self {
            first,
            rows,
            block,
            m,
            s,
            saved,
        } = self;
        let at = first * m..first * m + rows.len();
        match saved.dact.get(at.clone()) {
            Some(dact) => rows
                .iter_mut()
                .zip(dact)
                .for_each(|(g, &d)| *g = *g * s * d),
            None => rows.iter_mut().for_each(|g| *g *= s),
        }
        if let Some(xhat) = saved.xhat.get(at) {
            let (dbeta, dgamma) = block.split_at_mut(m);
            for (row, xhat) in rows.chunks_exact(m).zip(xhat.chunks_exact(m)) {
                dbeta.iter_mut().zip(row).for_each(|(s, &v)| *s += v);
                dgamma
                    .iter_mut()
                    .zip(row.iter().zip(xhat))
                    .for_each(|(s, (&a, &b))| *s += a * b);
            }
        }
    }
}

/// BatchNorm's backward pass with batch statistics on a task of rows of [`block_backward`]:
/// `dh = gamma * inv_std / n * (n dz - dbeta - xhat * dgamma)`, in place of `dz`; a [`simd`] op.
pub(crate) struct BatchNormDh<'a> {
    /// The task's rows of `dz`.
    rows: &'a mut [f32],
    /// `xhat` from the task's first row on.
    xhat: &'a [f32],
    /// Width.
    m: usize,
    /// Rows in the batch.
    nf: f32,
    /// `gamma * inv_std / n`, `[m]`.
    scale: &'a [f32],
    dbeta: &'a [f32],
    dgamma: &'a [f32],
}

impl pulp::WithSimd for BatchNormDh<'_> {
    type Output = ();

    #[inline(always)]
    fn with_simd<S: pulp::Simd>(self, _: S) {
        let Self {
            rows,
            xhat,
            m,
            nf,
            scale,
            dbeta,
            dgamma,
        } = self;
        for (row, xhat) in rows.chunks_exact_mut(m).zip(xhat.chunks_exact(m)) {
            row.iter_mut()
                .zip(xhat)
                .zip(scale.iter().zip(dbeta.iter().zip(dgamma)))
                .for_each(|((d, &x), (&s, (&db, &dg)))| *d = s * (nf * *d - db - x * dg));
        }
    }
}

/// `sum(dy * branch)` in `f64` (the gradient of a residual branch's learned scale), over eight
/// running partial sums so that it vectorizes; a [`simd`] op.
pub(crate) struct ScaleSum<'a> {
    dy: &'a [f32],
    branch: &'a [f32],
}

impl pulp::WithSimd for ScaleSum<'_> {
    type Output = f64;

    #[inline(always)]
    fn with_simd<S: pulp::Simd>(self, _: S) -> f64 {
        const LANES: usize = 8;
        let (d, b) = (self.dy.chunks_exact(LANES), self.branch.chunks_exact(LANES));
        let tail: f64 = d
            .remainder()
            .iter()
            .zip(b.remainder())
            .map(|(&g, &b)| f64::from(g * b))
            .sum();
        let mut acc = [0.0f64; LANES];
        for (d, b) in d.zip(b) {
            for i in 0..LANES {
                acc[i] += f64::from(d[i] * b[i]);
            }
        }
        acc.iter().sum::<f64>() + tail
    }
}

/// GroupNorm's (LayerNorm's: one group) backward pass over per-row statistics, in place of `dz`:
/// with `dxhat = dz * gamma`, per row and group,
/// `dh = inv_std / size * (size dxhat - sum dxhat - xhat * sum dxhat xhat)`; a [`simd`] op.
pub(crate) struct GroupsDh<'a> {
    dz: &'a mut [f32],
    /// Width.
    m: usize,
    /// Features per group.
    size: usize,
    gamma: &'a [f32],
    saved: &'a Saved,
}

impl pulp::WithSimd for GroupsDh<'_> {
    type Output = ();

    #[inline(always)]
    fn with_simd<S: pulp::Simd>(self, _: S) {
        let Self {
            dz,
            m,
            size,
            gamma,
            saved,
        } = self;
        let sf = size as f32;
        dz.chunks_exact_mut(m).for_each(|row| {
            row.iter_mut().zip(gamma).for_each(|(d, &g)| *d *= g);
        });
        dz.chunks_exact_mut(size)
            .zip(saved.xhat.chunks_exact(size))
            .zip(&saved.inv_std)
            .for_each(|((d, xhat), &inv)| {
                let (s1, s2) = (lane_sum(d, None), lane_sum(d, Some(xhat)));
                d.iter_mut()
                    .zip(xhat)
                    .for_each(|(d, &x)| *d = inv / sf * (sf * *d - s1 - x * s2));
            });
    }
}

/// Back-propagates `[n, m]` `dy` through [`block_forward`] (`input` and `norm` as given to it).
/// With tokens, the input's gradient is the table's, `[vocab, n_embd]`.
pub fn block_backward(
    dy: &[f32],
    input: BlockInput<'_>,
    w: View<'_>,
    norm: Option<NormSpec<'_>>,
    residual: Option<Residual>,
    saved: &Saved,
    wanted: Wanted,
) -> BlockGrads {
    let ((n, _), m) = (input.dims(), w.cols);
    let mut grads = BlockGrads::default();
    let branch_scale = residual.and_then(|r| r.scale);
    if let (true, Some(_)) = (wanted.scale, branch_scale) {
        let s = simd(ScaleSum {
            dy,
            branch: &saved.branch,
        });
        grads.scale = Some(vec![s as f32]);
    }
    let s = branch_scale.unwrap_or(1.0);
    // dz = dy * scale * act', and with a norm the column sums of dz and dz * xhat in the same pass.
    let mut dz = dy.to_vec();
    let width = if norm.is_some() { 2 * m } else { 0 };
    let sums = row_blocks(&mut dz, m, width, |first, rows, block| {
        simd(DzBlock {
            first,
            rows,
            block,
            m,
            s,
            saved,
        })
    });
    if let Some(spec) = norm {
        let (dbeta, dgamma) = (sums[..m].to_vec(), sums[m..].to_vec());
        norm_backward(&mut dz, spec, saved, (n, m), &dbeta, &dgamma);
        grads.beta = wanted.beta.then_some(dbeta);
        grads.gamma = wanted.gamma.then_some(dgamma);
    }
    let dh = dz;
    if wanted.bias {
        grads.bias = Some(column_sums(&dh, m));
    }
    let dh_view = View::rows(&dh, n, m);
    let t = match input {
        BlockInput::Rows(x) => {
            if wanted.w {
                grads.w = Some(product(x.t(), dh_view));
            }
            if wanted.x {
                let mut dx = product(dh_view, w.t());
                if residual.is_some() {
                    for_rows(&mut dx, m, |i, row| {
                        let dy = &dy[i * m..(i + 1) * m];
                        row.iter_mut().zip(dy).for_each(|(d, &g)| *d += g);
                    });
                }
                grads.x = Some(dx);
            }
            return grads;
        }
        BlockInput::Tokens(t) => t,
    };
    (grads.w, grads.x) = crate::tokens::grads(t, &dh, w, (wanted.w, wanted.x));
    grads
}

/// `dz` (`[n, m]`, the gradient at the norm's output) becomes the gradient at its input, given
/// the column sums `dbeta` (of `dz`) and `dgamma` (of `dz * xhat`).
fn norm_backward(
    dz: &mut [f32],
    spec: NormSpec<'_>,
    saved: &Saved,
    (n, m): (usize, usize),
    dbeta: &[f32],
    dgamma: &[f32],
) {
    match spec.stats {
        Stats::Batch => {
            // dh = gamma * inv_std / n * (n dz - d beta - xhat * d gamma).
            let nf = n as f32;
            let scale: Vec<f32> = spec
                .gamma
                .iter()
                .zip(&saved.inv_std)
                .map(|(&g, &s)| g * s / nf)
                .collect();
            debug_assert_eq!(saved.xhat.len(), dz.len(), "xhat saved for every row");
            in_row_tasks(dz, m, |first, rows| {
                simd(BatchNormDh {
                    rows,
                    xhat: &saved.xhat[first * m..],
                    m,
                    nf,
                    scale: &scale,
                    dbeta,
                    dgamma,
                })
            });
        }
        Stats::Fixed { .. } => {
            for_rows(dz, m, |_, row| {
                row.iter_mut()
                    .zip(spec.gamma.iter().zip(&saved.inv_std))
                    .for_each(|(d, (&g, &s))| *d *= g * s);
            });
        }
        Stats::Groups(groups) => {
            // Per row and group, with dxhat = dz * gamma:
            // dh = inv_std / size * (size dxhat - sum dxhat - xhat * sum dxhat xhat).
            simd(GroupsDh {
                dz,
                m,
                size: m / groups,
                gamma: spec.gamma,
                saved,
            });
        }
    }
}
