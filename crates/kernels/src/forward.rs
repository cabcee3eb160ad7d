//! A block's forward pass: `y = act(norm(x · w + bias)) (+ x)`, for training and for evaluation.

use crate::block::*;
use crate::matmul::*;
use crate::par::{for_rows, in_row_tasks, simd, PARALLEL_MIN_OUTPUTS};
use crate::stats::*;

/// `x · w` for either kind of input.
pub(crate) fn linear(input: BlockInput<'_>, w: View<'_>) -> Vec<f32> {
    match input {
        BlockInput::Rows(x) => product(x, w),
        BlockInput::Tokens(t) => crate::tokens::linear(t, w),
    }
}

/// `y = act(norm(x · w + bias))` for `[n, k]` input `x` (rows, or tokens: see [`BlockInput`])
/// and `[k, m]` `w` (row-major), plus `x` (times nothing or the scale) with a residual link.
/// With `keep`, what the backward pass needs is saved; without it (evaluation, sampling) nothing
/// is, and unless the statistics are the batch's each task of rows is finished in one go
/// ([`finish_rows`]). From [`PARALLEL_MIN_OUTPUTS`] outputs the passes after the product run on
/// every core (GroupNorm's and LayerNorm's per-row statistics in training excepted).
pub fn block_forward(
    input: BlockInput<'_>,
    w: View<'_>,
    bias: Option<&[f32]>,
    norm: Option<NormSpec<'_>>,
    act: Act,
    residual: Option<Residual>,
    keep: bool,
) -> Forward {
    let ((_, k), m) = (input.dims(), w.cols);
    // The residual link adds the input's rows: only dense ones.
    let x: &[f32] = match input {
        BlockInput::Rows(x) => {
            assert!(x.cs == 1 && x.rs == k, "block_forward: x is row-major");
            x.data
        }
        BlockInput::Tokens(_) => {
            assert!(residual.is_none(), "a residual link needs dense input rows");
            &[]
        }
    };
    assert!(
        residual.is_none() || k == m,
        "a residual link needs equal widths"
    );
    let mut h = linear(input, w);
    if let Some(b) = bias {
        for_rows(&mut h, m, |_, row| {
            row.iter_mut().zip(b).for_each(|(h, &b)| *h += b);
        });
    }
    let batch_stats = matches!(norm.map(|s| s.stats), Some(Stats::Batch));
    if !keep && !batch_stats {
        in_row_tasks(&mut h, m, |first, chunk| {
            let x = x.get(first * k..).unwrap_or_default();
            finish_rows(chunk, x, m, norm, act, residual);
        });
        return Forward {
            y: h,
            mean: Vec::new(),
            var: Vec::new(),
            saved: Saved::default(),
        };
    }
    let (mut mean, mut var, mut inv_std) = (Vec::new(), Vec::new(), Vec::new());
    // Batch statistics leave `h` centred and its scaling to the finishing pass below; the other
    // kinds normalize it here.
    let mut scale = None;
    if let Some(spec) = norm {
        if let Stats::Batch = spec.stats {
            (inv_std, mean, var) = batch_statistics(&mut h, m, spec.eps);
            scale = Some(&inv_std[..]);
        } else {
            inv_std = normalize(&mut h, m, spec.stats, spec.eps);
        }
    }
    let mut y = vec![0.0f32; h.len()];
    let mut dact = vec![0.0f32; if keep && act == Act::Tanh { h.len() } else { 0 }];
    let mut branch = match residual {
        Some(Residual { scale: Some(_) }) if keep => vec![0.0f32; h.len()],
        _ => Vec::new(),
    };
    // One pass over each run of rows while it is in cache: xhat, the affine map, the activation,
    // its derivative, the residual link (the same arithmetic as the passes of `finish_rows`).
    for_runs_of([&mut h, &mut y, &mut dact, &mut branch], m, |first, run| {
        simd(TrainingRun {
            first,
            run,
            x,
            m,
            scale,
            norm,
            act,
            residual,
        })
    });
    let saved = if keep {
        Saved {
            xhat: if norm.is_some() { h } else { Vec::new() },
            inv_std,
            dact,
            branch,
        }
    } else {
        Saved::default()
    };
    Forward {
        y,
        mean,
        var,
        saved,
    }
}

/// The training pass of [`block_forward`] on one run of rows: xhat, the affine map, the
/// activation, its derivative, the residual link; a [`simd`] op.
pub(crate) struct TrainingRun<'a> {
    /// The run's first row.
    first: usize,
    /// The run's rows of `h`, `y`, `dact` and `branch`.
    run: [&'a mut [f32]; 4],
    /// The block's whole input (for the residual link).
    x: &'a [f32],
    /// Width.
    m: usize,
    /// `inv_std` with batch statistics (`h` is centred but not yet scaled).
    scale: Option<&'a [f32]>,
    norm: Option<NormSpec<'a>>,
    act: Act,
    residual: Option<Residual>,
}

impl pulp::WithSimd for TrainingRun<'_> {
    type Output = ();

    #[inline(always)]
    fn with_simd<S: pulp::Simd>(self, _: S) {
        let Self {
            first,
            run: [h, y, dact, branch],
            x,
            m,
            scale,
            norm,
            act,
            residual,
        } = self;
        if let Some(s) = scale {
            h.chunks_exact_mut(m).for_each(|row| {
                row.iter_mut().zip(s).for_each(|(h, &s)| *h *= s);
            });
        }
        match norm {
            Some(spec) => y
                .chunks_exact_mut(m)
                .zip(h.chunks_exact(m))
                .for_each(|(y, h)| {
                    y.iter_mut()
                        .zip(h.iter().zip(spec.gamma.iter().zip(spec.beta)))
                        .for_each(|(y, (&z, (&g, &b)))| *y = z * g + b);
                }),
            None => y.copy_from_slice(h),
        }
        if act == Act::Tanh {
            y.iter_mut().for_each(|v| *v = crate::math::tanh_f32(*v));
            if !dact.is_empty() {
                dact.iter_mut()
                    .zip(&*y)
                    .for_each(|(d, &y)| *d = 1.0 - y * y);
            }
        }
        if let Some(r) = residual {
            if !branch.is_empty() {
                branch.copy_from_slice(y);
            }
            add_input(y, &x[first * m..first * m + y.len()], m, r);
        }
    }
}

/// Values per run of [`for_runs_of`]: four buffers' runs of 16k values (256 KiB) stay in a
/// core's L2 cache between the passes over them.
pub(crate) const RUN_VALUES: usize = 1 << 14;

/// Runs `f(first, runs)` over four `[n, m]` buffers at once, by runs of whole rows (about
/// [`RUN_VALUES`] values; `first` the index of the run's first row; an empty buffer gives empty
/// runs): on every core from [`PARALLEL_MIN_OUTPUTS`] values.
pub(crate) fn for_runs_of(
    bufs: [&mut [f32]; 4],
    m: usize,
    f: impl Fn(usize, [&mut [f32]; 4]) + Sync,
) {
    fn split(buf: &mut [f32], per_run: usize, runs: usize) -> Vec<&mut [f32]> {
        if buf.is_empty() {
            (0..runs).map(|_| Default::default()).collect()
        } else {
            buf.chunks_mut(per_run).collect()
        }
    }
    let len = bufs[0].len();
    if len == 0 || m == 0 {
        return;
    }
    let rows = (RUN_VALUES / m).max(1);
    let (per_run, runs) = (rows * m, len.div_ceil(rows * m));
    let [a, b, c, d] = bufs.map(|buf| split(buf, per_run, runs).into_iter());
    let parts = a.zip(b).zip(c).zip(d).map(|(((a, b), c), d)| [a, b, c, d]);
    let task = |(r, run): (usize, [&mut [f32]; 4])| f(r * rows, run);
    if len >= PARALLEL_MIN_OUTPUTS {
        use rayon::prelude::*;
        parts
            .collect::<Vec<_>>()
            .into_par_iter()
            .enumerate()
            .for_each(task);
    } else {
        parts.enumerate().for_each(task);
    }
}

/// `z = z * gamma + beta`, row by row.
pub(crate) fn affine(z: &mut [f32], m: usize, spec: NormSpec<'_>) {
    for_rows(z, m, |_, row| {
        row.iter_mut()
            .zip(spec.gamma.iter().zip(spec.beta))
            .for_each(|(z, (&g, &b))| *z = *z * g + b);
    });
}

/// `y = x + scale * y` (or `x + y`), row by row, for row-major `x` of `y`'s width.
pub(crate) fn add_input(y: &mut [f32], x: &[f32], m: usize, r: Residual) {
    for_rows(y, m, |i, y| {
        let x = &x[i * m..(i + 1) * m];
        match r.scale {
            Some(s) => y.iter_mut().zip(x).for_each(|(v, &x)| *v = x + s * *v),
            None => y.iter_mut().zip(x).for_each(|(v, &x)| *v += x),
        }
    });
}

/// The forward-only pass after the Linear on a run of whole rows (`x` starts at their first
/// input row), with per-row or given statistics: the same arithmetic, in the same order, as the
/// training pass.
pub(crate) fn finish_rows(
    h: &mut [f32],
    x: &[f32],
    m: usize,
    norm: Option<NormSpec<'_>>,
    act: Act,
    residual: Option<Residual>,
) {
    if let Some(spec) = norm {
        normalize(h, m, spec.stats, spec.eps);
        affine(h, m, spec);
    }
    if act == Act::Tanh {
        h.iter_mut().for_each(|v| *v = crate::math::tanh_f32(*v));
    }
    if let Some(r) = residual {
        add_input(h, x, m, r);
    }
}
