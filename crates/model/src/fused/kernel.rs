//! The host arithmetic of the fused ops, on row-major `f32` slices: no Burn types here, so each
//! function can be checked against Burn's own ops (see the tests of [`super`]).

/// A read-only matrix view: element `(i, j)` is `data[i * rs + j * cs]`.
#[derive(Clone, Copy)]
pub(crate) struct View<'a> {
    pub data: &'a [f32],
    pub rows: usize,
    pub cols: usize,
    pub rs: usize,
    pub cs: usize,
}

impl<'a> View<'a> {
    /// A row-major `[rows, cols]` matrix.
    pub fn rows(data: &'a [f32], rows: usize, cols: usize) -> Self {
        Self {
            data,
            rows,
            cols,
            rs: cols,
            cs: 1,
        }
    }

    /// The transpose, without copying.
    pub fn t(self) -> Self {
        Self {
            data: self.data,
            rows: self.cols,
            cols: self.rows,
            rs: self.cs,
            cs: self.rs,
        }
    }
}

/// Below this many multiply-adds (`m * k * n`) a product runs on one thread: a thread hand-off
/// costs more than it saves. Chosen by measurement (`makemore bench --matmul`, README,
/// Performance): on the 2-core reference machine, 128 x 128 x 128 runs at 73-77 GFLOP/s on one
/// thread and 101-110 on two, 96 x 96 x 96 at 75-89 on one and 50-77 on two.
pub const PARALLEL_MIN_MACS: usize = 128 * 128 * 128;

/// `a · b` (`[m, k] · [k, n]`) by the `gemm` crate that Burn's flex backend uses; on every core
/// from [`PARALLEL_MIN_MACS`] multiply-adds, on one below. The output is a new row-major vector,
/// not zeroed first: with `read_dst` false gemm 0.19 writes every element (its microkernels'
/// alpha-0 branch, and its gemv paths zero-fill first), which is why Cargo.toml pins `=0.19.0`
/// and the tests compare [`product`] with a zeroed [`matmul_with`].
pub(crate) fn product(a: View<'_>, b: View<'_>) -> Vec<f32> {
    let (m, k, n) = (a.rows, a.cols, b.cols);
    let len = m * n;
    if k == 0 {
        return vec![0.0; len];
    }
    let mut out = Vec::with_capacity(len);
    let parallel = m.saturating_mul(k).saturating_mul(n) >= PARALLEL_MIN_MACS;
    // SAFETY: `out` has room for `len` values; `gemm_into` checks the views and, with k > 0,
    // writes all `m * n` of them without reading any, so every value is set before the length.
    unsafe {
        gemm_into(out.as_mut_ptr(), len, a, b, parallel);
        out.set_len(len);
    }
    out
}

/// [`product`] into `out`, with the threading chosen by the caller.
pub(crate) fn matmul_with(out: &mut [f32], a: View<'_>, b: View<'_>, parallel: bool) {
    let (m, k, n) = (a.rows, a.cols, b.cols);
    assert_eq!(out.len(), m * n, "matmul: output size");
    if k == 0 {
        out.fill(0.0);
        return;
    }
    // SAFETY: `out` holds `m * n` values.
    unsafe { gemm_into(out.as_mut_ptr(), out.len(), a, b, parallel) }
}

/// Writes `a · b` row-major to the `capacity` values at `out` (k > 0: every one is written,
/// none read).
///
/// # Safety
/// `out` must be valid for writes of `capacity` values.
unsafe fn gemm_into(out: *mut f32, capacity: usize, a: View<'_>, b: View<'_>, parallel: bool) {
    let (m, k, n) = (a.rows, a.cols, b.cols);
    assert_eq!(b.rows, k, "matmul: inner dimensions differ");
    assert_eq!(capacity, m * n, "matmul: output size");
    let last = |v: View<'_>| {
        if v.rows == 0 || v.cols == 0 {
            0
        } else {
            (v.rows - 1) * v.rs + (v.cols - 1) * v.cs + 1
        }
    };
    assert!(last(a) <= a.data.len() && last(b) <= b.data.len());
    assert!(k > 0, "matmul: the callers handle an empty inner dimension");
    if m == 0 || n == 0 {
        return;
    }
    let parallelism = if parallel {
        gemm::Parallelism::Rayon(0) // every core
    } else {
        gemm::Parallelism::None
    };
    // SAFETY: the asserts above keep every index gemm reads (`(rows - 1) * rs + (cols - 1) * cs`
    // at most) inside `a` and `b`, and every index it writes inside `out` (row-major, m * n,
    // valid by the caller's contract); with `read_dst` false it never reads `out`.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            out,
            1,
            n as isize,
            false,
            a.data.as_ptr(),
            a.cs as isize,
            a.rs as isize,
            b.data.as_ptr(),
            b.cs as isize,
            b.rs as isize,
            0.0,
            1.0,
            false,
            false,
            false,
            parallelism,
        );
    }
}

/// The nonlinearities the fused block computes itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Act {
    /// `tanh`, by [`crate::math::tanh_f32`].
    Tanh,
    /// None (the output layer).
    Identity,
}

/// Which statistics a block's normalization uses.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Stats<'a> {
    /// Per feature over the batch (BatchNorm in training, and without running statistics).
    Batch,
    /// Per feature, given: BatchNorm in evaluation (running mean and unbiased variance).
    Fixed {
        /// `[m]` mean.
        mean: &'a [f32],
        /// `[m]` variance.
        var: &'a [f32],
    },
    /// Per row, over each of this many equal groups of features (GroupNorm; 1 is LayerNorm).
    Groups(usize),
}

/// A block's normalization: `(h - mean) / sqrt(var + eps) * gamma + beta`, biased variances.
#[derive(Debug, Clone, Copy)]
pub(crate) struct NormSpec<'a> {
    /// Which statistics.
    pub stats: Stats<'a>,
    /// Added to the variance.
    pub eps: f32,
    /// `[m]` scale (ones without `affine`).
    pub gamma: &'a [f32],
    /// `[m]` shift (zeros without `affine`).
    pub beta: &'a [f32],
}

/// A residual link around a block (`k == m`): `y = x + scale * act(norm(x · w + bias))`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Residual {
    /// The learned scale, when the block has one (1 otherwise).
    pub scale: Option<f32>,
}

/// A block's input given as token ids into an embedding table instead of dense rows: row `i`
/// of the input is `table[ids[i * positions]] ++ ... ++ table[ids[i * positions + positions - 1]]`.
#[derive(Clone, Copy)]
pub(crate) struct Tokens<'a> {
    /// `[n, positions]` row-major ids, each below `table.rows`.
    pub ids: &'a [usize],
    /// Ids per row (the context length).
    pub positions: usize,
    /// `[vocab, n_embd]` row-major embedding table.
    pub table: View<'a>,
}

/// What a block's Linear multiplies.
#[derive(Clone, Copy)]
pub(crate) enum BlockInput<'a> {
    /// `[n, k]` row-major rows.
    Rows(View<'a>),
    /// Embedding rows, never gathered: `x · w` is a sum over positions of rows of the tables
    /// `table · w_p` (`w_p` the `n_embd` rows of `w` that position `p` meets), `[vocab, m]`
    /// each. The tables cost as much as `vocab` rows of the dense product (`positions` products
    /// of `vocab` rows by `n_embd`) where the dense product costs `n` rows; the backward pass
    /// likewise sums `dh` by token before its products.
    Tokens(Tokens<'a>),
}

impl BlockInput<'_> {
    /// `(n, k)`: rows and width of the input as dense rows.
    fn dims(&self) -> (usize, usize) {
        match self {
            BlockInput::Rows(x) => (x.rows, x.cols),
            BlockInput::Tokens(t) => (t.ids.len() / t.positions.max(1), t.positions * t.table.cols),
        }
    }
}

/// `x · w` for either kind of input.
fn linear(input: BlockInput<'_>, w: View<'_>) -> Vec<f32> {
    let t = match input {
        BlockInput::Rows(x) => return product(x, w),
        BlockInput::Tokens(t) => t,
    };
    let (n, _) = input.dims();
    let (vocab, e, m) = (t.table.rows, t.table.cols, w.cols);
    let tables: Vec<Vec<f32>> = (0..t.positions)
        .map(|p| product(t.table, w_rows(w, p * e, e)))
        .collect();
    let mut h = vec![0.0f32; n * m];
    in_row_tasks(&mut h, m, |first, rows| {
        let ids = &t.ids[first * t.positions..];
        for (row, ids) in rows.chunks_exact_mut(m).zip(ids.chunks_exact(t.positions)) {
            for (table, &id) in tables.iter().zip(ids) {
                assert!(id < vocab, "token id {id} outside the table");
                row.iter_mut()
                    .zip(&table[id * m..(id + 1) * m])
                    .for_each(|(h, &v)| *h += v);
            }
        }
    });
    h
}

/// Runs `f(first_row, rows)` over runs of whole rows of `[n, m]` `out` (about 64k values each,
/// [`rows_per_task`]): in parallel from [`PARALLEL_MIN_OUTPUTS`] values, in order below.
fn in_row_tasks(out: &mut [f32], m: usize, f: impl Fn(usize, &mut [f32]) + Sync) {
    let rows = rows_per_task(m);
    let task = |(c, chunk): (usize, &mut [f32])| f(c * rows, chunk);
    if out.len() >= PARALLEL_MIN_OUTPUTS {
        use rayon::prelude::*;
        out.par_chunks_mut(rows * m).enumerate().for_each(task);
    } else {
        out.chunks_mut(rows * m).enumerate().for_each(task);
    }
}

/// Rows `first..first + count` of row-major `w`.
fn w_rows(w: View<'_>, first: usize, count: usize) -> View<'_> {
    View {
        data: &w.data[first * w.rs..],
        rows: count,
        ..w
    }
}

/// Everything the backward pass needs from the forward pass of one block.
#[derive(Debug, Default)]
pub(crate) struct Saved {
    /// `[n, m]` normalized pre-activations (empty without norm).
    pub xhat: Vec<f32>,
    /// `1 / sqrt(var + eps)`: `[m]` per feature, or `[n, groups]` per row and group (empty
    /// without norm).
    pub inv_std: Vec<f32>,
    /// `[n, m]` derivative of the activation at its input (empty for identity).
    pub dact: Vec<f32>,
    /// `[n, m]` the residual branch before its scale (kept only for a learned scale).
    pub branch: Vec<f32>,
}

/// What one block's forward pass produces.
pub(crate) struct Forward {
    /// `[n, m]` the block's output.
    pub y: Vec<f32>,
    /// `[m]` batch mean and biased variance of the Linear's output (BatchNorm's batch
    /// statistics only; empty otherwise).
    pub mean: Vec<f32>,
    /// See `mean`.
    pub var: Vec<f32>,
    /// For the backward pass.
    pub saved: Saved,
}

/// Rows a column sum adds up before it folds them into its total. A plain running `f32` sum
/// over thousands of rows (an evaluation chunk with batch statistics) drifts by about 1e-4 of
/// the values when their mean is not small; summing blocks of rows first keeps it near 1e-6.
/// A lecture batch (32 rows) is one block: summed exactly as a plain loop sums it.
const SUM_BLOCK_ROWS: usize = 32;

/// Sums the rows of `[n, m]` `a` (or of `a * b` elementwise) into `[m]`, by blocks of
/// [`SUM_BLOCK_ROWS`].
fn column_sums(a: &[f32], b: Option<&[f32]>, m: usize) -> Vec<f32> {
    let mut total = vec![0.0f32; m];
    let mut block = vec![0.0f32; m];
    let rows = SUM_BLOCK_ROWS * m.max(1);
    for (i, a) in a.chunks(rows).enumerate() {
        block.fill(0.0);
        match b {
            None => a.chunks_exact(m).for_each(|row| {
                block.iter_mut().zip(row).for_each(|(s, &v)| *s += v);
            }),
            Some(b) => a
                .chunks_exact(m)
                .zip(b[i * rows..].chunks_exact(m))
                .for_each(|(ra, rb)| {
                    block
                        .iter_mut()
                        .zip(ra.iter().zip(rb))
                        .for_each(|(s, (&a, &b))| *s += a * b);
                }),
        }
        // 0 + x is x: one block sums exactly as a plain loop.
        total.iter_mut().zip(&block).for_each(|(t, &b)| *t += b);
    }
    total
}

/// `sum(a * b)` (or `sum(a)`) over eight running partial sums, so that it vectorizes (a plain
/// sequential sum cannot be reordered by the compiler).
fn lane_sum(a: &[f32], b: Option<&[f32]>) -> f32 {
    const LANES: usize = 8;
    let mut acc = [0.0f32; LANES];
    let mut tail = 0.0f32;
    match b {
        None => {
            let chunks = a.chunks_exact(LANES);
            tail += chunks.remainder().iter().sum::<f32>();
            for c in chunks {
                for i in 0..LANES {
                    acc[i] += c[i];
                }
            }
        }
        Some(b) => {
            let (ca, cb) = (a.chunks_exact(LANES), b.chunks_exact(LANES));
            tail += ca
                .remainder()
                .iter()
                .zip(cb.remainder())
                .map(|(&x, &y)| x * y)
                .sum::<f32>();
            for (x, y) in ca.zip(cb) {
                for i in 0..LANES {
                    acc[i] += x[i] * y[i];
                }
            }
        }
    }
    acc.iter().sum::<f32>() + tail
}

/// Normalizes `[n, m]` `h` in place into `xhat`; returns the `inv_std` to save and, for batch
/// statistics, the batch mean and biased variance.
fn normalize(
    h: &mut [f32],
    m: usize,
    stats: Stats<'_>,
    eps: f32,
) -> (Vec<f32>, Vec<f32>, Vec<f32>) {
    let n = h.len() / m.max(1);
    match stats {
        Stats::Batch => {
            let inv_n = 1.0 / n as f32;
            let mut mean = column_sums(h, None, m);
            mean.iter_mut().for_each(|v| *v *= inv_n);
            // Centre in place, then the biased variance by a second pass (as PyTorch computes it).
            h.chunks_exact_mut(m).for_each(|row| {
                row.iter_mut().zip(&mean).for_each(|(h, &mu)| *h -= mu);
            });
            let mut var = column_sums(h, Some(h), m);
            var.iter_mut().for_each(|v| *v *= inv_n);
            let inv_std: Vec<f32> = var.iter().map(|&v| 1.0 / (v + eps).sqrt()).collect();
            h.chunks_exact_mut(m).for_each(|row| {
                row.iter_mut().zip(&inv_std).for_each(|(h, &s)| *h *= s);
            });
            (inv_std, mean, var)
        }
        Stats::Fixed { mean, var } => {
            let inv_std: Vec<f32> = var.iter().map(|&v| 1.0 / (v + eps).sqrt()).collect();
            h.chunks_exact_mut(m).for_each(|row| {
                row.iter_mut()
                    .zip(mean.iter().zip(&inv_std))
                    .for_each(|(h, (&mu, &s))| *h = (*h - mu) * s);
            });
            (inv_std, Vec::new(), Vec::new())
        }
        Stats::Groups(groups) => {
            let size = m / groups;
            let inv = 1.0 / size as f32;
            let mut inv_std = Vec::with_capacity(n * groups);
            for g in h.chunks_exact_mut(size) {
                let mu = lane_sum(g, None) * inv;
                g.iter_mut().for_each(|v| *v -= mu);
                let var = lane_sum(g, Some(g)) * inv;
                let s = 1.0 / (var + eps).sqrt();
                g.iter_mut().for_each(|v| *v *= s);
                inv_std.push(s);
            }
            (inv_std, Vec::new(), Vec::new())
        }
    }
}

/// From this many outputs (`n * m`) the forward-only pass of a block splits its rows over every
/// core: evaluation chunks (4,096 rows) do, and so does sampling 1,000 names from `bn1` (1,000 x
/// 200 outputs); sampling them from the deep stack (1,000 x 100) does not. Not tuned beyond that.
pub(crate) const PARALLEL_MIN_OUTPUTS: usize = 1 << 17;

/// Rows per task of the parallel forward-only pass (about 64k values each).
fn rows_per_task(m: usize) -> usize {
    ((1 << 16) / m.max(1)).max(1)
}

/// `y = act(norm(x · w + bias))` for `[n, k]` input `x` (rows, or tokens: see [`BlockInput`])
/// and `[k, m]` `w` (row-major), plus `x` (times nothing or the scale) with a residual link. With `keep`, what the backward pass needs is
/// saved; without it (evaluation, sampling) nothing is, and unless the statistics are the
/// batch's the rows are finished in parallel from [`PARALLEL_MIN_OUTPUTS`].
pub(crate) fn block_forward(
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
        h.chunks_exact_mut(m).for_each(|row| {
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
    let mut saved = Saved::default();
    let (mut mean, mut var) = (Vec::new(), Vec::new());
    if let Some(spec) = norm {
        let (inv_std, batch_mean, batch_var) = normalize(&mut h, m, spec.stats, spec.eps);
        (mean, var) = (batch_mean, batch_var);
        let mut z = if keep {
            h.clone()
        } else {
            std::mem::take(&mut h)
        };
        affine(&mut z, m, spec);
        if keep {
            saved.xhat = h;
            saved.inv_std = inv_std;
        }
        h = z;
    }
    let mut y = h;
    if act == Act::Tanh {
        y.iter_mut().for_each(|v| *v = crate::math::tanh_f32(*v));
        if keep {
            saved.dact = y.iter().map(|&y| 1.0 - y * y).collect();
        }
    }
    if let Some(r) = residual {
        if keep && r.scale.is_some() {
            saved.branch = y.clone();
        }
        add_input(&mut y, x, m, r);
    }
    Forward {
        y,
        mean,
        var,
        saved,
    }
}

/// `z = z * gamma + beta`, row by row.
fn affine(z: &mut [f32], m: usize, spec: NormSpec<'_>) {
    z.chunks_exact_mut(m).for_each(|row| {
        row.iter_mut()
            .zip(spec.gamma.iter().zip(spec.beta))
            .for_each(|(z, (&g, &b))| *z = *z * g + b);
    });
}

/// `y = x + scale * y` (or `x + y`), row by row, for row-major `x` of `y`'s width.
fn add_input(y: &mut [f32], x: &[f32], m: usize, r: Residual) {
    let rows = y.chunks_exact_mut(m).zip(x.chunks_exact(m));
    match r.scale {
        Some(s) => rows.for_each(|(y, x)| {
            y.iter_mut().zip(x).for_each(|(v, &x)| *v = x + s * *v);
        }),
        None => rows.for_each(|(y, x)| y.iter_mut().zip(x).for_each(|(v, &x)| *v += x)),
    }
}

/// The forward-only pass after the Linear on a run of whole rows (`x` starts at their first
/// input row), with per-row or given statistics: the same arithmetic, in the same order, as the
/// training pass.
fn finish_rows(
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

/// Which gradients a backward pass must produce.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Wanted {
    pub x: bool,
    pub w: bool,
    pub bias: bool,
    pub gamma: bool,
    pub beta: bool,
    pub scale: bool,
}

/// Gradients of one block (each `None` when not wanted).
#[derive(Default)]
pub(crate) struct BlockGrads {
    pub x: Option<Vec<f32>>,
    pub w: Option<Vec<f32>>,
    pub bias: Option<Vec<f32>>,
    pub gamma: Option<Vec<f32>>,
    pub beta: Option<Vec<f32>>,
    pub scale: Option<Vec<f32>>,
}

/// Back-propagates `[n, m]` `dy` through [`block_forward`] (`input` and `norm` as given to it).
/// With tokens, the input's gradient is the table's, `[vocab, n_embd]`.
pub(crate) fn block_backward(
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
        let s: f64 = dy
            .iter()
            .zip(&saved.branch)
            .map(|(&g, &b)| f64::from(g * b))
            .sum();
        grads.scale = Some(vec![s as f32]);
    }
    let s = branch_scale.unwrap_or(1.0);
    let mut dz: Vec<f32> = if saved.dact.is_empty() {
        dy.iter().map(|&g| g * s).collect()
    } else {
        dy.iter()
            .zip(&saved.dact)
            .map(|(&g, &d)| g * s * d)
            .collect()
    };
    if let Some(spec) = norm {
        let dbeta = column_sums(&dz, None, m);
        let dgamma = column_sums(&dz, Some(&saved.xhat), m);
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
                dz.chunks_exact_mut(m)
                    .zip(saved.xhat.chunks_exact(m))
                    .for_each(|(row, xhat)| {
                        for j in 0..m {
                            row[j] = scale[j] * (nf * row[j] - dbeta[j] - xhat[j] * dgamma[j]);
                        }
                    });
            }
            Stats::Fixed { .. } => {
                dz.chunks_exact_mut(m).for_each(|row| {
                    row.iter_mut()
                        .zip(spec.gamma.iter().zip(&saved.inv_std))
                        .for_each(|(d, (&g, &s))| *d *= g * s);
                });
            }
            Stats::Groups(groups) => {
                // Per row and group, with dxhat = dz * gamma:
                // dh = inv_std / size * (size dxhat - sum dxhat - xhat * sum dxhat xhat).
                let size = m / groups;
                let sf = size as f32;
                dz.chunks_exact_mut(m).for_each(|row| {
                    row.iter_mut().zip(spec.gamma).for_each(|(d, &g)| *d *= g);
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
        grads.beta = wanted.beta.then_some(dbeta);
        grads.gamma = wanted.gamma.then_some(dgamma);
    }
    let dh = dz;
    if wanted.bias {
        grads.bias = Some(column_sums(&dh, None, m));
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
                    dx.iter_mut().zip(dy).for_each(|(d, &g)| *d += g);
                }
                grads.x = Some(dx);
            }
            return grads;
        }
        BlockInput::Tokens(t) => t,
    };
    // by_token[p]: `[vocab, m]`, the rows of dh summed by their token at position p.
    let (vocab, e) = (t.table.rows, t.table.cols);
    let scatter = |(ids, dh): (&[usize], &[f32])| {
        let mut by_token = vec![0.0f32; t.positions * vocab * m];
        for (ids, d) in ids.chunks_exact(t.positions).zip(dh.chunks_exact(m)) {
            for (p, &id) in ids.iter().enumerate() {
                let row = &mut by_token[(p * vocab + id) * m..][..m];
                row.iter_mut().zip(d).for_each(|(s, &d)| *s += d);
            }
        }
        by_token
    };
    let by_token = if n * m >= PARALLEL_MIN_OUTPUTS {
        // One buffer per half of the rows, then their sum.
        use rayon::prelude::*;
        let half = n.div_ceil(2);
        let mut parts: Vec<Vec<f32>> = t
            .ids
            .par_chunks(half * t.positions)
            .zip(dh.par_chunks(half * m))
            .map(scatter)
            .collect();
        let mut sum = parts.swap_remove(0);
        for part in parts {
            sum.iter_mut().zip(&part).for_each(|(s, &v)| *s += v);
        }
        sum
    } else {
        scatter((t.ids, &dh))
    };
    let sums = |p: usize| View::rows(&by_token[p * vocab * m..], vocab, m);
    if wanted.w {
        // Rows p * e.. of dw = table^T · by_token[p].
        let mut dw = Vec::with_capacity(t.positions * e * m);
        for p in 0..t.positions {
            dw.extend(product(t.table.t(), sums(p)));
        }
        grads.w = Some(dw);
    }
    if wanted.x {
        // d table = sum over p of by_token[p] · w_p^T.
        let mut dt = vec![0.0f32; vocab * e];
        for p in 0..t.positions {
            let part = product(sums(p), w_rows(w, p * e, e).t());
            dt.iter_mut().zip(&part).for_each(|(d, &v)| *d += v);
        }
        grads.x = Some(dt);
    }
    grads
}

/// Mean cross-entropy of `[n, v]` logits against `targets`, and its gradient with respect to the
/// logits, `(softmax - onehot) / n`.
pub(crate) fn cross_entropy(logits: &[f32], targets: &[usize], v: usize) -> (f32, Vec<f32>) {
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
pub(crate) fn nll_sum(logits: &[f32], targets: &[usize], v: usize) -> f64 {
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
