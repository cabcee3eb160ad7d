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

/// `out = a · b` (`[m, k] · [k, n]`, `out` row-major `[m, n]`), by the `gemm` crate that Burn's
/// flex backend uses, single-threaded: at the lecture's sizes (at most 32 x 200 x 200) a thread
/// hand-off costs more than the product.
pub(crate) fn matmul(out: &mut [f32], a: View<'_>, b: View<'_>) {
    let (m, k, n) = (a.rows, a.cols, b.cols);
    assert_eq!(b.rows, k, "matmul: inner dimensions differ");
    assert_eq!(out.len(), m * n, "matmul: output size");
    let last = |v: View<'_>| {
        if v.rows == 0 || v.cols == 0 {
            0
        } else {
            (v.rows - 1) * v.rs + (v.cols - 1) * v.cs + 1
        }
    };
    assert!(last(a) <= a.data.len() && last(b) <= b.data.len());
    if m == 0 || n == 0 {
        return;
    }
    if k == 0 {
        out.fill(0.0);
        return;
    }
    // SAFETY: the asserts above keep every index gemm reads (`(rows - 1) * rs + (cols - 1) * cs`
    // at most) inside `a` and `b`, and every index it writes inside `out` (row-major, m * n);
    // with `read_dst` false it never reads `out`.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            out.as_mut_ptr(),
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
            gemm::Parallelism::None,
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

/// BatchNorm in training mode: the statistics are the batch's.
#[derive(Debug, Clone, Copy)]
pub(crate) struct NormSpec {
    /// Added to the variance.
    pub eps: f32,
}

/// Everything the backward pass needs from the forward pass of one block.
#[derive(Debug, Default)]
pub(crate) struct Saved {
    /// `[n, m]` normalized pre-activations (empty without norm).
    pub xhat: Vec<f32>,
    /// `[m]` `1 / sqrt(var + eps)` (empty without norm).
    pub inv_std: Vec<f32>,
    /// `[n, m]` derivative of the activation at its input (empty for identity).
    pub dact: Vec<f32>,
}

/// What one block's forward pass produces.
pub(crate) struct Forward {
    /// `[n, m]` the block's output.
    pub y: Vec<f32>,
    /// `[m]` batch mean and biased variance of the Linear's output (empty without norm).
    pub mean: Vec<f32>,
    /// See `mean`.
    pub var: Vec<f32>,
    /// For the backward pass.
    pub saved: Saved,
}

/// Sums the rows of `[n, m]` `a` (or of `a * b` elementwise) into `[m]`.
fn column_sums(a: &[f32], b: Option<&[f32]>, m: usize) -> Vec<f32> {
    let mut s = vec![0.0f32; m];
    match b {
        None => a.chunks_exact(m).for_each(|row| {
            s.iter_mut().zip(row).for_each(|(s, &v)| *s += v);
        }),
        Some(b) => a
            .chunks_exact(m)
            .zip(b.chunks_exact(m))
            .for_each(|(ra, rb)| {
                s.iter_mut()
                    .zip(ra.iter().zip(rb))
                    .for_each(|(s, (&a, &b))| *s += a * b);
            }),
    }
    s
}

/// `y = act(norm(x · w + bias))` for `[n, k]` `x` and `[k, m]` `w`; `affine` is BatchNorm's
/// `(gamma, beta)`, required when `norm` is.
pub(crate) fn block_forward(
    x: View<'_>,
    w: View<'_>,
    bias: Option<&[f32]>,
    norm: Option<(NormSpec, &[f32], &[f32])>,
    act: Act,
) -> Forward {
    let (n, m) = (x.rows, w.cols);
    let mut h = vec![0.0f32; n * m];
    matmul(&mut h, x, w);
    if let Some(b) = bias {
        h.chunks_exact_mut(m).for_each(|row| {
            row.iter_mut().zip(b).for_each(|(h, &b)| *h += b);
        });
    }
    let mut saved = Saved::default();
    let (mut mean, mut var) = (Vec::new(), Vec::new());
    if let Some((spec, gamma, beta)) = norm {
        let inv_n = 1.0 / n as f32;
        mean = column_sums(&h, None, m);
        mean.iter_mut().for_each(|v| *v *= inv_n);
        // Centre in place, then the biased variance by a second pass (as PyTorch computes it).
        h.chunks_exact_mut(m).for_each(|row| {
            row.iter_mut().zip(&mean).for_each(|(h, &mu)| *h -= mu);
        });
        var = column_sums(&h, Some(&h), m);
        var.iter_mut().for_each(|v| *v *= inv_n);
        let inv_std: Vec<f32> = var.iter().map(|&v| 1.0 / (v + spec.eps).sqrt()).collect();
        h.chunks_exact_mut(m).for_each(|row| {
            row.iter_mut().zip(&inv_std).for_each(|(h, &s)| *h *= s);
        });
        let mut z = h.clone();
        z.chunks_exact_mut(m).for_each(|row| {
            row.iter_mut()
                .zip(gamma.iter().zip(beta))
                .for_each(|(z, (&g, &b))| *z = *z * g + b);
        });
        saved.xhat = h;
        saved.inv_std = inv_std;
        h = z;
    }
    let y = match act {
        Act::Identity => h,
        Act::Tanh => {
            let y: Vec<f32> = h.iter().map(|&v| crate::math::tanh_f32(v)).collect();
            saved.dact = y.iter().map(|&y| 1.0 - y * y).collect();
            y
        }
    };
    Forward {
        y,
        mean,
        var,
        saved,
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
}

/// Gradients of one block (each `None` when not wanted).
#[derive(Default)]
pub(crate) struct BlockGrads {
    pub x: Option<Vec<f32>>,
    pub w: Option<Vec<f32>>,
    pub bias: Option<Vec<f32>>,
    pub gamma: Option<Vec<f32>>,
    pub beta: Option<Vec<f32>>,
}

/// Back-propagates `[n, m]` `dy` through [`block_forward`].
pub(crate) fn block_backward(
    dy: &[f32],
    x: View<'_>,
    w: View<'_>,
    gamma: Option<&[f32]>,
    saved: &Saved,
    wanted: Wanted,
) -> BlockGrads {
    let (n, m) = (x.rows, w.cols);
    let mut dz: Vec<f32> = if saved.dact.is_empty() {
        dy.to_vec()
    } else {
        dy.iter().zip(&saved.dact).map(|(&g, &d)| g * d).collect()
    };
    let mut grads = BlockGrads::default();
    if let Some(gamma) = gamma {
        // d beta = sum dz, d gamma = sum dz * xhat, and the BatchNorm input gradient
        // dh = gamma * inv_std / n * (n dz - d beta - xhat * d gamma).
        let dbeta = column_sums(&dz, None, m);
        let dgamma = column_sums(&dz, Some(&saved.xhat), m);
        let nf = n as f32;
        let scale: Vec<f32> = gamma
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
        grads.beta = wanted.beta.then_some(dbeta);
        grads.gamma = wanted.gamma.then_some(dgamma);
    }
    let dh = dz;
    if wanted.bias {
        grads.bias = Some(column_sums(&dh, None, m));
    }
    let dh_view = View::rows(&dh, n, m);
    if wanted.w {
        let mut dw = vec![0.0f32; w.rows * m];
        matmul(&mut dw, x.t(), dh_view);
        grads.w = Some(dw);
    }
    if wanted.x {
        let mut dx = vec![0.0f32; n * x.cols];
        matmul(&mut dx, dh_view, w.t());
        grads.x = Some(dx);
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
