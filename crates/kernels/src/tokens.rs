//! The first block on token ids ([`Tokens`]): its Linear as a sum of per-position tables, and
//! its weight's and table's gradients from `dh` summed by token. The positions are independent,
//! so from [`PARALLEL_MIN_OUTPUTS`] outputs they are shared out over the cores: each position's
//! products in a task of its own, its sums by token in row order, as on one core, so every value
//! is the same however many cores there are.

use crate::block::Tokens;
use crate::matmul::{product, w_rows, View};
use crate::par::{in_row_tasks, simd, PARALLEL_MIN_OUTPUTS};

/// `x · w` for `[n, positions * n_embd]` rows given as token ids: row `i` is the sum over
/// positions `p` of row `ids[i * positions + p]` of the table `table · w_p` (`w_p` the `n_embd`
/// rows of `[positions * n_embd, m]` `w` that position `p` meets).
pub(crate) fn linear(t: Tokens<'_>, w: View<'_>) -> Vec<f32> {
    check_ids(t);
    let (n, m) = (t.ids.len() / t.positions, w.cols);
    let e = t.table.cols;
    let parallel = n * m >= PARALLEL_MIN_OUTPUTS;
    let tables = each(t.positions, parallel, |p| {
        product(t.table, w_rows(w, p * e, e))
    });
    let mut h = vec![0.0f32; n * m];
    in_row_tasks(&mut h, m, |first, rows| {
        simd(SumTables {
            rows,
            ids: &t.ids[first * t.positions..],
            tables: &tables,
            m,
        })
    });
    h
}

/// `(dw, d table)` from `[n, m]` `dh`, the gradient at the first block's Linear output (each
/// `None` when not wanted): per position `p`, `by_token_p`, the rows of `dh` summed by their
/// token at `p` (`[vocab, m]`), gives rows `p * e..` of `dw = table^T · by_token_p`, and the
/// table's gradient is the sum over `p`, in order, of `by_token_p · w_p^T`.
pub(crate) fn grads(
    t: Tokens<'_>,
    dh: &[f32],
    w: View<'_>,
    (want_w, want_table): (bool, bool),
) -> (Option<Vec<f32>>, Option<Vec<f32>>) {
    check_ids(t);
    if !want_w && !want_table {
        return (None, None);
    }
    let (n, m) = (t.ids.len() / t.positions, w.cols);
    let (vocab, e) = (t.table.rows, t.table.cols);
    let parallel = n * m >= PARALLEL_MIN_OUTPUTS;
    // Positions in as many groups as there are cores, each group one pass over `dh`.
    let groups = if parallel {
        rayon::current_num_threads().clamp(1, t.positions)
    } else {
        1
    };
    let per_group = t.positions.div_ceil(groups);
    let parts = each(t.positions.div_ceil(per_group), parallel, |g| {
        let positions = g * per_group..((g + 1) * per_group).min(t.positions);
        let mut by_token = vec![0.0f32; positions.len() * vocab * m];
        simd(ByToken {
            by_token: &mut by_token,
            ids: t.ids,
            positions: positions.clone(),
            stride: t.positions,
            dh,
            vocab,
            m,
        });
        positions
            .enumerate()
            .map(|(i, p)| {
                let sums = View::rows(&by_token[i * vocab * m..], vocab, m);
                let dw = want_w.then(|| product(t.table.t(), sums));
                let dt = want_table.then(|| product(sums, w_rows(w, p * e, e).t()));
                (dw, dt)
            })
            .collect::<Vec<_>>()
    });
    let parts = parts.into_iter().flatten();
    let (mut dw, mut dt) = (
        want_w.then(|| Vec::with_capacity(t.positions * e * m)),
        want_table.then(|| vec![0.0f32; vocab * e]),
    );
    for (w_part, t_part) in parts {
        if let (Some(dw), Some(part)) = (&mut dw, w_part) {
            dw.extend(part);
        }
        if let (Some(dt), Some(part)) = (&mut dt, t_part) {
            dt.iter_mut().zip(&part).for_each(|(d, &v)| *d += v);
        }
    }
    (dw, dt)
}

/// Panics unless there is a position and every id is a row of the table (an id past it would
/// add into another position's sums).
fn check_ids(t: Tokens<'_>) {
    assert!(t.positions > 0, "token input with no position");
    let vocab = t.table.rows;
    assert!(
        t.ids.iter().all(|&id| id < vocab),
        "a token id outside the table ({vocab} rows)"
    );
}

/// `f(0), ..., f(count - 1)`, in order: on every core when `parallel`.
fn each<T: Send>(count: usize, parallel: bool, f: impl Fn(usize) -> T + Sync + Send) -> Vec<T> {
    if parallel && count > 1 {
        use rayon::prelude::*;
        (0..count).into_par_iter().map(f).collect()
    } else {
        (0..count).map(f).collect()
    }
}

/// Adds to each row of `rows` its tokens' rows of the per-position tables; a [`simd`] op.
struct SumTables<'a> {
    /// Whole rows of `h` (zero).
    rows: &'a mut [f32],
    /// The ids from the first of those rows on.
    ids: &'a [usize],
    /// `[vocab, m]` per position.
    tables: &'a [Vec<f32>],
    m: usize,
}

impl pulp::WithSimd for SumTables<'_> {
    type Output = ();

    #[inline(always)]
    fn with_simd<S: pulp::Simd>(self, _: S) {
        let Self {
            rows,
            ids,
            tables,
            m,
        } = self;
        let positions = tables.len();
        for (row, ids) in rows.chunks_exact_mut(m).zip(ids.chunks_exact(positions)) {
            for (table, &id) in tables.iter().zip(ids) {
                row.iter_mut()
                    .zip(&table[id * m..(id + 1) * m])
                    .for_each(|(h, &v)| *h += v);
            }
        }
    }
}

/// Sums the rows of `dh` by their token at each of `positions`, in row order, into
/// `by_token` (`[positions.len(), vocab, m]`, zero); a [`simd`] op.
struct ByToken<'a> {
    by_token: &'a mut [f32],
    /// `[n, stride]` ids.
    ids: &'a [usize],
    positions: std::ops::Range<usize>,
    /// Positions per row of `ids`.
    stride: usize,
    dh: &'a [f32],
    vocab: usize,
    m: usize,
}

impl pulp::WithSimd for ByToken<'_> {
    type Output = ();

    #[inline(always)]
    fn with_simd<S: pulp::Simd>(self, _: S) {
        let Self {
            by_token,
            ids,
            positions,
            stride,
            dh,
            vocab,
            m,
        } = self;
        if m == 0 {
            return; // no column to sum
        }
        for (ids, d) in ids.chunks_exact(stride).zip(dh.chunks_exact(m)) {
            for (i, &id) in ids[positions.clone()].iter().enumerate() {
                by_token[(i * vocab + id) * m..][..m]
                    .iter_mut()
                    .zip(d)
                    .for_each(|(s, &d)| *s += d);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Deterministic values in [-1, 1).
    fn spread(len: usize, a: usize, b: usize) -> Vec<f32> {
        (0..len)
            .map(|i| ((i * a) % b) as f32 / b as f32 * 2.0 - 1.0)
            .collect()
    }

    #[test]
    fn positions_shared_out_over_the_cores_give_one_cores_values() {
        // 3,000 x 64 outputs: above PARALLEL_MIN_OUTPUTS, so the positions are shared out: on
        // 1 thread in one group, on 2 in groups of 3 and 2, on 3 in groups of 2, 2 and 1.
        let (n, m, vocab, e, positions) = (3000, 64, 27, 10, 5);
        assert!(n * m >= PARALLEL_MIN_OUTPUTS);
        let table = spread(vocab * e, 37, 101);
        let w = spread(positions * e * m, 53, 97);
        let ids: Vec<usize> = (0..n * positions)
            .map(|i| (i * 7 + i / 5) % vocab)
            .collect();
        let dh = spread(n * m, 29, 89);
        let t = Tokens {
            ids: &ids,
            positions,
            table: View::rows(&table, vocab, e),
        };
        let wv = View::rows(&w, positions * e, m);
        let id = |i: usize, p: usize| ids[i * positions + p];
        // One core's order: each row the sum of its tables' rows, position by position.
        let tables: Vec<Vec<f32>> = (0..positions)
            .map(|p| product(t.table, w_rows(wv, p * e, e)))
            .collect();
        let mut h = vec![0.0f32; n * m];
        for (i, row) in h.chunks_exact_mut(m).enumerate() {
            for (p, table) in tables.iter().enumerate() {
                let v = &table[id(i, p) * m..][..m];
                row.iter_mut().zip(v).for_each(|(h, &v)| *h += v);
            }
        }
        // ... and dh summed by token in row order, then each position's products.
        let (mut dw, mut dt) = (Vec::new(), vec![0.0f32; vocab * e]);
        for p in 0..positions {
            let mut sums = vec![0.0f32; vocab * m];
            for (i, d) in dh.chunks_exact(m).enumerate() {
                let s = &mut sums[id(i, p) * m..][..m];
                s.iter_mut().zip(d).for_each(|(s, &d)| *s += d);
            }
            let s = View::rows(&sums, vocab, m);
            dw.extend(product(t.table.t(), s));
            let part = product(s, w_rows(wv, p * e, e).t());
            dt.iter_mut().zip(&part).for_each(|(d, &v)| *d += v);
        }
        for threads in [1, 2, 3] {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .expect("a pool of up to 3 threads");
            pool.install(|| {
                assert_eq!(linear(t, wv), h, "{threads} threads: x · w");
                let g = |want| grads(t, &dh, wv, want);
                let (dw, dt) = (Some(dw.clone()), Some(dt.clone()));
                assert_eq!(
                    g((true, true)),
                    (dw.clone(), dt.clone()),
                    "{threads} threads"
                );
                assert_eq!(g((true, false)), (dw, None), "{threads} threads: dw alone");
                assert_eq!(
                    g((false, true)),
                    (None, dt),
                    "{threads} threads: table alone"
                );
                assert_eq!(
                    g((false, false)),
                    (None, None),
                    "{threads} threads: neither"
                );
            });
        }
    }

    /// Token input with 2 positions whose first id (position 0) is past the 3-row table: it
    /// would land in position 1's sums unless refused.
    fn bad_first_id<R>(f: impl FnOnce(Tokens<'_>, View<'_>) -> R) -> R {
        let table = [0.0f32; 6];
        let w = [0.0f32; 12];
        let t = Tokens {
            ids: &[3, 0, 1, 2],
            positions: 2,
            table: View::rows(&table, 3, 2),
        };
        f(t, View::rows(&w, 4, 3))
    }

    #[test]
    #[should_panic(expected = "a token id outside the table")]
    fn the_backward_pass_refuses_an_id_outside_the_table() {
        bad_first_id(|t, w| grads(t, &[0.0; 6], w, (true, true)));
    }

    #[test]
    #[should_panic(expected = "a token id outside the table")]
    fn the_forward_pass_refuses_an_id_outside_the_table() {
        bad_first_id(linear);
    }
}
