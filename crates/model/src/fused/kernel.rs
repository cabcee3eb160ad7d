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
/// Performance): on the 2-core machine it was chosen on, 128 x 128 x 128 runs at 73-77 GFLOP/s
/// on one thread and 101-110 on two, 96 x 96 x 96 at 75-89 on one and 50-77 on two; on the
/// 2-core AVX-512 machine the ladder runs on now, 265 and 474 at 128^3, 252 and 457 at 96^3,
/// 252 and 252 at 64^3.
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

impl Act {
    /// The kernels' form of `a`; `None` for an activation they do not compute.
    pub(crate) fn of(a: makemore_init::Activation) -> Option<Self> {
        match a {
            makemore_init::Activation::Tanh => Some(Act::Tanh),
            makemore_init::Activation::Identity => Some(Act::Identity),
            _ => None,
        }
    }
}

/// Whether `groups` equal groups of features split a width of `width`: the GroupNorm the
/// kernels take (others are left to Burn's ops, which refuse them).
pub(crate) fn groups_fit(groups: usize, width: usize) -> bool {
    groups > 0 && width.is_multiple_of(groups)
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

/// Runs `op` compiled for the widest vector instructions this CPU has: AVX-512 or AVX2 with FMA
/// on x86-64 (chosen once, at run time, by `pulp`, the SIMD layer gemm is built on), the
/// target's baseline otherwise (SSE2 on other x86-64 CPUs). The elementwise loops inlined into
/// `op` then vectorize 16 or 8 lanes wide instead of SSE2's 4. Every value is the same: Rust
/// never fuses a multiply and an add on its own, and the loops' order is unchanged.
///
/// A closure is an op (`simd(|| ...)`), but the compiler inlines it into each of the dispatch's
/// three copies only when it is small; a larger pass is written as a [`pulp::WithSimd`] op whose
/// body is always inlined (`TrainingRun`, `DzBlock`, `BatchNormDh`, `GroupStats`, `GroupsDh`,
/// `ScaleSum`, the optimizer's `HostStep`).
#[inline(always)]
pub(crate) fn simd<Op: pulp::WithSimd>(op: Op) -> Op::Output {
    static ARCH: std::sync::OnceLock<pulp::Arch> = std::sync::OnceLock::new();
    ARCH.get_or_init(pulp::Arch::new).dispatch(op)
}

/// Runs `f(first_row, rows)` over runs of whole rows of `[n, m]` `out` (about 64k values each,
/// [`rows_per_task`]): in parallel from [`PARALLEL_MIN_OUTPUTS`] values, in order below.
fn in_row_tasks(out: &mut [f32], m: usize, f: impl Fn(usize, &mut [f32]) + Sync) {
    if out.is_empty() || m == 0 {
        return;
    }
    let rows = rows_per_task(m);
    let task = |(c, chunk): (usize, &mut [f32])| simd(|| f(c * rows, chunk));
    if out.len() >= PARALLEL_MIN_OUTPUTS {
        use rayon::prelude::*;
        out.par_chunks_mut(rows * m).enumerate().for_each(task);
    } else {
        out.chunks_mut(rows * m).enumerate().for_each(task);
    }
}

/// Runs `f(i, row)` on every row `i` of `[n, m]` `out`, over [`in_row_tasks`] (so in parallel
/// from [`PARALLEL_MIN_OUTPUTS`] values): the elementwise passes of the training step, whose
/// values do not depend on how the rows are split.
fn for_rows(out: &mut [f32], m: usize, f: impl Fn(usize, &mut [f32]) + Sync) {
    in_row_tasks(out, m, |first, rows| {
        rows.chunks_exact_mut(m)
            .enumerate()
            .for_each(|(i, row)| f(first + i, row));
    });
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
pub(crate) const SUM_BLOCK_ROWS: usize = 32;

/// Sums the rows of `[n, m]` `a` into `[m]`, by blocks of [`SUM_BLOCK_ROWS`] folded into the
/// total in order ([`fold_blocks`]): on every core from [`PARALLEL_MIN_OUTPUTS`] values, with the
/// same result.
fn column_sums(a: &[f32], m: usize) -> Vec<f32> {
    if m == 0 {
        return Vec::new();
    }
    let blocks = a.chunks(SUM_BLOCK_ROWS * m).collect();
    fold_blocks(
        blocks,
        m,
        a.len() >= PARALLEL_MIN_OUTPUTS,
        |_, rows, block| {
            rows.chunks_exact(m).for_each(|row| {
                block.iter_mut().zip(row).for_each(|(s, &v)| *s += v);
            });
        },
    )
}

/// Runs `f(first, rows, block)` on `[n, m]` `out` by blocks of [`SUM_BLOCK_ROWS`] rows (`first`
/// the index of the block's first row), `block` gathering the `width` sums `f` adds for them
/// ([`fold_blocks`]). So a pass can write rows and sum them without reading them again; on
/// every core from [`PARALLEL_MIN_OUTPUTS`] values, with the same result.
fn row_blocks(
    out: &mut [f32],
    m: usize,
    width: usize,
    f: impl Fn(usize, &mut [f32], &mut [f32]) + Sync,
) -> Vec<f32> {
    if out.is_empty() || m == 0 {
        return vec![0.0f32; width];
    }
    let parallel = out.len() >= PARALLEL_MIN_OUTPUTS;
    let blocks = out.chunks_mut(SUM_BLOCK_ROWS * m).collect();
    fold_blocks(blocks, width, parallel, |i, chunk, block| {
        f(i * SUM_BLOCK_ROWS, chunk, block)
    })
}

/// The sums of [`column_sums`] and [`row_blocks`]: `add(i, block_i, sums)` adds block `i`'s
/// values into `sums` (`width` values, zero at each block's start), and the blocks' sums are
/// folded into the returned total in block order, whether the blocks were summed on every core
/// (`parallel`) or on one.
fn fold_blocks<C: Send>(
    blocks: Vec<C>,
    width: usize,
    parallel: bool,
    add: impl Fn(usize, C, &mut [f32]) + Sync,
) -> Vec<f32> {
    let mut total = vec![0.0f32; width];
    // 0 + x is x: one block sums exactly as a plain loop.
    let mut fold = |sums: &[f32]| total.iter_mut().zip(sums).for_each(|(t, &s)| *t += s);
    if parallel {
        use rayon::prelude::*;
        let sums: Vec<Vec<f32>> = blocks
            .into_par_iter()
            .enumerate()
            .map(|(i, block)| {
                let mut sums = vec![0.0f32; width];
                simd(|| add(i, block, &mut sums));
                sums
            })
            .collect();
        sums.iter().for_each(|s| fold(s));
    } else {
        let mut sums = vec![0.0f32; width];
        for (i, block) in blocks.into_iter().enumerate() {
            sums.fill(0.0);
            simd(|| add(i, block, &mut sums));
            fold(&sums);
        }
    }
    total
}

/// `sum(a * b)` (or `sum(a)`) over eight running partial sums, so that it vectorizes (a plain
/// sequential sum cannot be reordered by the compiler).
#[inline(always)] // into `simd`'s wide-vector copies of the per-row passes
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

/// Batch statistics of `[n, m]` `h`, which is centred in place (the variance's pass writes the
/// centred rows as it sums their squares): `(inv_std, mean, biased variance)`, per feature.
/// Scaling by `inv_std` is left to the caller.
fn batch_statistics(h: &mut [f32], m: usize, eps: f32) -> (Vec<f32>, Vec<f32>, Vec<f32>) {
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
struct GroupStats<'a> {
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
fn normalize(h: &mut [f32], m: usize, stats: Stats<'_>, eps: f32) -> Vec<f32> {
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

/// From this many outputs (`n * m`) the passes of a block around its products split its rows
/// over every core: the forward-only pass of evaluation chunks (4,096 rows) and of sampling
/// 1,000 names from `bn1` (1,000 x 200 outputs), but not from the deep stack (1,000 x 100); the
/// training passes of the ladder's `wide` (256 x 512) and `big` rungs, but not of the lecture's
/// models (32 rows). Not tuned beyond that.
pub(crate) const PARALLEL_MIN_OUTPUTS: usize = 1 << 17;

/// Rows per task of [`in_row_tasks`] (about 64k values each).
fn rows_per_task(m: usize) -> usize {
    ((1 << 16) / m.max(1)).max(1)
}

/// `y = act(norm(x · w + bias))` for `[n, k]` input `x` (rows, or tokens: see [`BlockInput`])
/// and `[k, m]` `w` (row-major), plus `x` (times nothing or the scale) with a residual link.
/// With `keep`, what the backward pass needs is saved; without it (evaluation, sampling) nothing
/// is, and unless the statistics are the batch's each task of rows is finished in one go
/// ([`finish_rows`]). From [`PARALLEL_MIN_OUTPUTS`] outputs the passes after the product run on
/// every core (GroupNorm's and LayerNorm's per-row statistics in training excepted).
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
struct TrainingRun<'a> {
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
const RUN_VALUES: usize = 1 << 14;

/// Runs `f(first, runs)` over four `[n, m]` buffers at once, by runs of whole rows (about
/// [`RUN_VALUES`] values; `first` the index of the run's first row; an empty buffer gives empty
/// runs): on every core from [`PARALLEL_MIN_OUTPUTS`] values.
fn for_runs_of(bufs: [&mut [f32]; 4], m: usize, f: impl Fn(usize, [&mut [f32]; 4]) + Sync) {
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
fn affine(z: &mut [f32], m: usize, spec: NormSpec<'_>) {
    for_rows(z, m, |_, row| {
        row.iter_mut()
            .zip(spec.gamma.iter().zip(spec.beta))
            .for_each(|(z, (&g, &b))| *z = *z * g + b);
    });
}

/// `y = x + scale * y` (or `x + y`), row by row, for row-major `x` of `y`'s width.
fn add_input(y: &mut [f32], x: &[f32], m: usize, r: Residual) {
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

/// `dz = dy * scale * act'` on a block of rows of [`block_backward`], and with a norm the column
/// sums of `dz` and `dz * xhat` into `block` (`[2m]`); a [`simd`] op.
struct DzBlock<'a> {
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
struct BatchNormDh<'a> {
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
struct ScaleSum<'a> {
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
struct GroupsDh<'a> {
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
                in_row_tasks(&mut dz, m, |first, rows| {
                    simd(BatchNormDh {
                        rows,
                        xhat: &saved.xhat[first * m..],
                        m,
                        nf,
                        scale: &scale,
                        dbeta: &dbeta,
                        dgamma: &dgamma,
                    })
                });
            }
            Stats::Fixed { .. } => {
                for_rows(&mut dz, m, |_, row| {
                    row.iter_mut()
                        .zip(spec.gamma.iter().zip(&saved.inv_std))
                        .for_each(|(d, (&g, &s))| *d *= g * s);
                });
            }
            Stats::Groups(groups) => {
                // Per row and group, with dxhat = dz * gamma:
                // dh = inv_std / size * (size dxhat - sum dxhat - xhat * sum dxhat xhat).
                simd(GroupsDh {
                    dz: &mut dz,
                    m,
                    size: m / groups,
                    gamma: spec.gamma,
                    saved,
                });
            }
        }
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
