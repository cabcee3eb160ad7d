//! The matrix multiply: row-major views, `gemm` on one thread or every core.

/// A read-only matrix view: element `(i, j)` is `data[i * rs + j * cs]`.
#[derive(Clone, Copy)]
pub struct View<'a> {
    /// The elements.
    pub data: &'a [f32],
    /// Number of rows.
    pub rows: usize,
    /// Number of columns.
    pub cols: usize,
    /// Distance in `data` from one row to the next.
    pub rs: usize,
    /// Distance in `data` from one column to the next.
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
pub fn product(a: View<'_>, b: View<'_>) -> Vec<f32> {
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
pub fn matmul_with(out: &mut [f32], a: View<'_>, b: View<'_>, parallel: bool) {
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
pub(crate) unsafe fn gemm_into(
    out: *mut f32,
    capacity: usize,
    a: View<'_>,
    b: View<'_>,
    parallel: bool,
) {
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

/// Rows `first..first + count` of row-major `w`.
pub(crate) fn w_rows(w: View<'_>, first: usize, count: usize) -> View<'_> {
    View {
        data: &w.data[first * w.rs..],
        rows: count,
        ..w
    }
}

/// Seconds taken by the fastest of `repeats` products `[m, k] · [k, n]` by the kernels' matrix
/// multiply, on one thread or on every core (`makemore bench --matmul` measures the machine's
/// peak and the threading threshold with it).
pub fn time_matmul(m: usize, k: usize, n: usize, parallel: bool, repeats: usize) -> f64 {
    let a: Vec<f32> = (0..m * k).map(|i| (i % 7) as f32 * 0.1).collect();
    let b: Vec<f32> = (0..k * n).map(|i| (i % 5) as f32 * 0.1).collect();
    let mut out = vec![0.0f32; m * n];
    let mut best = f64::INFINITY;
    for _ in 0..repeats.max(1) + 1 {
        let start = std::time::Instant::now();
        matmul_with(
            &mut out,
            View::rows(&a, m, k),
            View::rows(&b, k, n),
            parallel,
        );
        best = best.min(start.elapsed().as_secs_f64());
    }
    std::hint::black_box(&out);
    best
}
