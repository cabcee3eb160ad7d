//! Running passes over rows on every core, with vector instructions, and sums whose value does not depend on the split.

/// Runs `op` compiled for the widest vector instructions this CPU has: AVX-512 or AVX2 with FMA
/// on x86-64 (chosen once, at run time, by `pulp`, the SIMD layer gemm is built on), the
/// target's baseline otherwise (SSE2 on other x86-64 CPUs). The elementwise loops inlined into
/// `op` then vectorize 16 or 8 lanes wide instead of SSE2's 4. Every value is the same: Rust
/// never fuses a multiply and an add on its own, and the loops' order is unchanged.
///
/// A closure is an op (`simd(|| ...)`), but the compiler inlines it into each of the dispatch's
/// three copies only when it is small; a larger pass is written as a [`pulp::WithSimd`] op whose
/// body is always inlined (`TrainingRun`, `DzBlock`, `BatchNormDh`, `GroupStats`, `GroupsDh`,
/// `ScaleSum`, `SumTables`, `ByToken`, the optimizer's `HostStep`).
#[inline(always)]
pub fn simd<Op: pulp::WithSimd>(op: Op) -> Op::Output {
    static ARCH: std::sync::OnceLock<pulp::Arch> = std::sync::OnceLock::new();
    ARCH.get_or_init(pulp::Arch::new).dispatch(op)
}

/// Runs `f(first_row, rows)` over runs of whole rows of `[n, m]` `out` (about 64k values each,
/// [`rows_per_task`]): in parallel from [`PARALLEL_MIN_OUTPUTS`] values, in order below.
pub(crate) fn in_row_tasks(out: &mut [f32], m: usize, f: impl Fn(usize, &mut [f32]) + Sync) {
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
pub(crate) fn for_rows(out: &mut [f32], m: usize, f: impl Fn(usize, &mut [f32]) + Sync) {
    in_row_tasks(out, m, |first, rows| {
        rows.chunks_exact_mut(m)
            .enumerate()
            .for_each(|(i, row)| f(first + i, row));
    });
}

/// Rows a column sum adds up before it folds them into its total. A plain running `f32` sum
/// over thousands of rows (an evaluation chunk with batch statistics) drifts by about 1e-4 of
/// the values when their mean is not small; summing blocks of rows first keeps it near 1e-6.
/// A lecture batch (32 rows) is one block: summed exactly as a plain loop sums it.
pub const SUM_BLOCK_ROWS: usize = 32;

/// Sums the rows of `[n, m]` `a` into `[m]`, by blocks of [`SUM_BLOCK_ROWS`] folded into the
/// total in order ([`fold_blocks`]): on every core from [`PARALLEL_MIN_OUTPUTS`] values, with the
/// same result.
pub(crate) fn column_sums(a: &[f32], m: usize) -> Vec<f32> {
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
pub(crate) fn row_blocks(
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
pub(crate) fn fold_blocks<C: Send>(
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
pub(crate) fn lane_sum(a: &[f32], b: Option<&[f32]>) -> f32 {
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

/// From this many outputs (`n * m`) the passes of a block around its products split its rows
/// over every core: the forward-only pass of evaluation chunks (4,096 rows) and of sampling
/// 1,000 names from `bn1` (1,000 x 200 outputs), but not from the deep stack (1,000 x 100); the
/// training passes of the ladder's `wide` (256 x 512) and `big` rungs, but not of the lecture's
/// models (32 rows). Not tuned beyond that.
pub const PARALLEL_MIN_OUTPUTS: usize = 1 << 17;

/// Rows per task of [`in_row_tasks`] (about 64k values each).
pub(crate) fn rows_per_task(m: usize) -> usize {
    ((1 << 16) / m.max(1)).max(1)
}

/// Makes the calling thread one of the threads the CPU kernels split their work over (thread 0
/// of rayon's global pool), so that the splits of a training step, an evaluation or sampling
/// made on it start and end there instead of waking it from the pool each time. `makemore`
/// calls it first thing; a Burn user training on the CPU backends may too, on these terms:
/// - before anything uses rayon (the global pool is set up once per process);
/// - on a thread that lives as long as the process (the pool keeps its place);
/// - on a thread that does not wait for other threads doing the kernels' work: while it waits
///   outside rayon it runs none of the pool's jobs (`makemore lecture` and `sweep`, whose runs
///   train on threads of their own, do not join).
///
/// True when it joined. False, with nothing changed, when
/// the pool would have a single thread, when the calling thread already belongs to a pool, or
/// when rayon's global pool already exists; also false if rayon could not start the pool's
/// other threads, and then the global pool is unusable, as it would be anyway.
///
/// ```
/// let joined = makemore_kernels::join_kernel_pool();
/// assert!(!makemore_kernels::join_kernel_pool(), "only once");
/// # let _ = joined;
/// ```
///
/// Why: the pool has `RAYON_NUM_THREADS` threads, or one per core. A split the calling thread
/// makes once it is thread 0 starts and finishes on it; from a thread outside the pool, each
/// split is handed to the pool while the caller sleeps until a pool thread wakes it, and a
/// training step of the ladder's `wide` rung makes about 30 splits.
pub fn join_kernel_pool() -> bool {
    let threads = pool_threads();
    // A thread of another pool cannot join; rayon would refuse only after using up its one
    // chance to set the global pool up.
    let joined = threads >= 2
        && rayon::current_thread_index().is_none()
        && rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .use_current_thread()
            .build_global()
            .is_ok();
    if joined {
        let _ = POOL_STARTED.set(());
    }
    joined
}

/// The kernels' pool size: `RAYON_NUM_THREADS`, else one thread per core.
fn pool_threads() -> usize {
    std::env::var("RAYON_NUM_THREADS")
        .ok()
        .and_then(|v| v.parse::<usize>().ok())
        .filter(|&n| n > 0)
        .or_else(|| std::thread::available_parallelism().ok().map(|n| n.get()))
        .unwrap_or(1)
}

/// Starts the CPU kernels' thread pool now, so that a pool that cannot start (its threads'
/// stacks do not fit under a tight address-space limit, say) is an error the program can
/// report, rather than a panic at the kernels' first split. Call it once, before any kernel
/// runs, in a program that does not [`join_kernel_pool`]; a pool already started is kept.
///
/// ```
/// makemore_kernels::start_kernel_pool().expect("the pool starts");
/// ```
pub fn start_kernel_pool() -> Result<(), String> {
    if rayon::current_thread_index().is_some() {
        return Ok(());
    }
    match rayon::ThreadPoolBuilder::new()
        .num_threads(pool_threads())
        .build_global()
    {
        Ok(()) => {
            let _ = POOL_STARTED.set(());
            Ok(())
        }
        // Already set up by an earlier call or a join: nothing to do.
        Err(_) if POOL_STARTED.get().is_some() => Ok(()),
        Err(e) => Err(format!(
            "cannot start the CPU kernels' {} threads: {e}",
            pool_threads()
        )),
    }
}

/// Set once this module has set the global pool up.
static POOL_STARTED: std::sync::OnceLock<()> = std::sync::OnceLock::new();
