//! CPU-path ops for the CPU backends (`flex` and `ndarray`): a hidden block (Linear -> norm ->
//! activation, with its residual link) is one autodiff node, and so is the cross-entropy, each
//! computed on the host with a hand-written backward pass; without autodiff (evaluation,
//! sampling) the same kernels run forward only. A plain training step uses the kernels without
//! the nodes, on host copies of the weights (`cpu::step`).
//!
//! Why: a training step of the lecture's models is tiny arithmetic (2.2 MFLOP for `bn1`) spread
//! over about a hundred Burn ops per step, and on a CPU backend each op's fixed cost (an
//! allocation, a graph node, a dispatch, BatchNorm's transposes) outweighs its arithmetic. Here a
//! block costs three matrix products (by the same `gemm` crate flex uses, on every core above
//! [`makemore_kernels::PARALLEL_MIN_MACS`]) and a few vectorized passes; README, Performance, has the
//! profile and the figures. Both CPU backends keep their tensors in host memory, so the kernels
//! read them in place ([`Host`]).
//!
//! Every function returns `None` (having changed nothing) when its tensors are not `f32`
//! tensors of a CPU backend, and the caller then runs the same layer with Burn's ops: results
//! agree to float rounding (tests below; `cargo xtask compare` checks both CPU backends against
//! wgpu, which never takes this path, on every CI run).

mod backends;
mod step;

pub(crate) use backends::Host;
pub(crate) use makemore_kernels::{simd, Act};
pub(crate) use step::CpuModel;

/// The kernels' form of `a`; `None` for an activation they do not compute (Burn's ops do).
pub(crate) fn act(a: makemore_init::Activation) -> Option<Act> {
    match a {
        makemore_init::Activation::Tanh => Some(Act::Tanh),
        makemore_init::Activation::Identity => Some(Act::Identity),
        _ => None,
    }
}

use burn::tensor::Tensor;

/// Whether the kernels run (see [`set_cpu_kernels`]).
static KERNELS: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(true);

/// Turns the CPU kernels on (the default) or off for the whole process. Off, every function here
/// returns `None` (or hands its tensors back), so that the CPU backends train, evaluate and
/// sample through Burn's own ops, as wgpu and tch always do: `cargo xtask compare` checks the
/// kernels against Burn's ops on the same backend this way (`MAKEMORE_CPU_KERNELS=off`).
///
/// ```
/// makemore_model::set_cpu_kernels(false); // Burn's ops from here on
/// assert!(!makemore_model::cpu_kernels());
/// makemore_model::set_cpu_kernels(true);
/// ```
pub fn set_cpu_kernels(on: bool) {
    KERNELS.store(on, std::sync::atomic::Ordering::Relaxed);
}

/// Whether the CPU kernels are on ([`set_cpu_kernels`]).
pub fn cpu_kernels() -> bool {
    KERNELS.load(std::sync::atomic::Ordering::Relaxed)
}

/// Returns the first `Some` that `$call` gives with `$b` set to each compiled CPU backend in
/// turn (flex, then ndarray), from the enclosing function; `None` when neither takes it.
macro_rules! on_cpu_backends {
    (|$b:ident| $call:expr) => {{
        if !cpu_kernels() {
            return None;
        }
        #[cfg(feature = "flex")]
        {
            type $b = burn::backend::Flex;
            if let Some(out) = $call {
                return Some(out);
            }
        }
        #[cfg(feature = "ndarray")]
        #[allow(deprecated)]
        // Burn 0.22 deprecates ndarray, which the user may still ask for
        {
            type $b = burn::backend::NdArray;
            if let Some(out) = $call {
                return Some(out);
            }
        }
        None
    }};
}

mod block;
mod loss;
mod update;

pub(crate) use block::{block, LayerInput, ResidualInputs};
pub(crate) use loss::{cross_entropy, nll_sum};
pub(crate) use update::host_update;

/// `Some` when `t` is an autodiff `f32` tensor of a CPU backend: a tensor `cpu::CpuModel`
/// takes.
pub(crate) fn host_autodiff<const D: usize>(t: &Tensor<D>) -> Option<()> {
    on_cpu_backends!(|B| B::ad(t).and_then(|a| B::values(a.primitive()).map(|_| ())))
}

#[cfg(test)]
mod tests {
    //! Each CPU-path op against the same computation in Burn's own ops, on flex and on ndarray.
    use super::*;
    use crate::norm::{Blend, NormInputs, NormStats};
    use crate::BackendKind;
    use burn::tensor::Int;
    use burn::tensor::{activation, Device, Distribution, TensorData};
    use makemore_kernels::{BlockInput, NormSpec, Residual, Stats, View, Wanted};

    #[allow(clippy::vec_init_then_push)] // each push is behind its backend's feature
    fn devices() -> Vec<(&'static str, Device)> {
        #[allow(unused_mut)]
        let mut out = Vec::new();
        #[cfg(feature = "flex")]
        out.push(("flex", BackendKind::Flex.device().expect("flex")));
        #[cfg(feature = "ndarray")]
        out.push(("ndarray", BackendKind::Ndarray.device().expect("ndarray")));
        out
    }

    std::thread_local! {
        /// How many tensors this thread's test has drawn.
        static DRAWS: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
    }

    /// A tensor of `dist`'s values (uniform or normal), drawn by the initializers' sampler
    /// ([`makemore_init::Resolved::sample`]) from a stream seeded with the number of tensors the
    /// test has drawn before: every test (a thread of its own) sees the same values on every run,
    /// so that a tolerance that holds once holds always.
    fn random<const D: usize>(shape: [usize; D], dist: Distribution, device: &Device) -> Tensor<D> {
        use makemore_init::Distribution as Init;
        let draw = DRAWS.with(|d| d.replace(d.get() + 1));
        // Centred draws, then shifted: U(lo, hi) is the centre plus U(-half width, half width).
        let (distribution, centre) = match dist {
            Distribution::Default => (Init::Uniform { bound: 0.5 }, 0.5),
            Distribution::Uniform(lo, hi) => (
                Init::Uniform {
                    bound: (hi - lo) / 2.0,
                },
                (lo + hi) / 2.0,
            ),
            Distribution::Normal(mean, std) => (Init::Normal { std }, mean),
            other => unreachable!("the tests draw no {other:?}"),
        };
        let sampler = makemore_init::Resolved {
            scheme: "test",
            gain: 1.0,
            distribution,
        };
        let n = shape.iter().product();
        let values: Vec<f32> = sampler
            .sample(n, draw, "fused test")
            .into_iter()
            .map(|v| v + centre as f32)
            .collect();
        Tensor::from_data(TensorData::new(values, shape.to_vec()), device)
    }

    fn leaf<const D: usize>(shape: [usize; D], device: &Device) -> Tensor<D> {
        random(shape, Distribution::Normal(0.0, 1.0), device).require_grad()
    }

    /// A [`leaf`] on an autodiff device, plain values elsewhere.
    fn input<const D: usize>(shape: [usize; D], device: &Device, autodiff: bool) -> Tensor<D> {
        let t = random(shape, Distribution::Normal(0.0, 1.0), device);
        if autodiff {
            t.require_grad()
        } else {
            t
        }
    }

    fn values<const D: usize>(t: Tensor<D>) -> Vec<f32> {
        crate::host::to_host(t.without_autodiff())
    }

    fn assert_close(what: &str, a: &[f32], b: &[f32]) {
        assert_within(what, a, b, 2e-5);
    }

    /// Each value within `rel * (1 + |value|)` of the other's.
    fn assert_within(what: &str, a: &[f32], b: &[f32], rel: f32) {
        assert_eq!(a.len(), b.len(), "{what}: lengths");
        for (i, (x, y)) in a.iter().zip(b).enumerate() {
            let tol = rel * (1.0 + x.abs().max(y.abs()));
            assert!((x - y).abs() <= tol, "{what}[{i}]: fused {x} vs Burn {y}");
        }
    }

    /// The normalizations a CPU block takes.
    #[derive(Debug, Clone, Copy, PartialEq)]
    enum Case {
        None,
        Batch,
        Running,
        Groups(usize),
    }

    /// What a block with normalization `norm` is given (`blend` for batch statistics).
    fn norm_inputs(
        norm: Case,
        gamma: &Tensor<1>,
        beta: &Tensor<1>,
        running: Option<(Tensor<1>, Tensor<1>)>,
        blend: Blend,
    ) -> NormInputs {
        NormInputs {
            gamma: gamma.clone(),
            beta: beta.clone(),
            running,
            eps: 1e-5,
            stats: match norm {
                Case::Groups(g) => NormStats::Groups(g),
                Case::Running => NormStats::Running,
                _ => NormStats::Batch(blend),
            },
        }
    }

    /// Running statistics left as they are (forward-only tests).
    const UNCHANGED: Blend = Blend {
        keep: 1.0,
        mean: 0.0,
        var: 0.0,
    };

    /// Burn's ops: Linear, norm (biased variances), activation, residual link.
    #[allow(clippy::too_many_arguments)]
    fn reference(
        x: Tensor<2>,
        w: Tensor<2>,
        b: Option<Tensor<1>>,
        norm: Case,
        gamma: Tensor<1>,
        beta: Tensor<1>,
        running: (Tensor<1>, Tensor<1>),
        act: Act,
        link: Option<Option<Tensor<1>>>,
    ) -> (Tensor<2>, Option<(Tensor<1>, Tensor<1>)>) {
        let input = x.clone();
        let mut h = x.matmul(w);
        if let Some(b) = b {
            h = h.add(b.unsqueeze());
        }
        let [n, m] = h.dims();
        let mut stats = None;
        h = match norm {
            Case::None => h,
            Case::Batch => {
                let out = burn::tensor::module::batch_norm_train(h, gamma, beta, 1e-5);
                stats = Some((out.mean, out.variance));
                out.output
            }
            Case::Running => {
                burn::tensor::module::batch_norm(h, gamma, beta, running.0, running.1, 1e-5)
            }
            Case::Groups(g) => {
                let x = h.reshape([n, g, m / g]);
                let (var, mean) = x.clone().var_mean_bias(2);
                x.sub(mean)
                    .div(var.add_scalar(1e-5).sqrt())
                    .reshape([n, m])
                    .mul(gamma.unsqueeze_dim(0))
                    .add(beta.unsqueeze_dim(0))
            }
        };
        let y = match act {
            Act::Tanh => activation::tanh(h),
            Act::Identity => h,
        };
        let y = match link {
            None => y,
            Some(None) => input.add(y),
            Some(Some(s)) => input.add(y.mul(s.unsqueeze_dim(0))),
        };
        (y, stats)
    }

    #[test]
    fn a_fused_block_matches_burns_ops_in_values_gradients_and_running_statistics() {
        let m = 20;
        let cases = [
            (false, Case::Batch, Act::Tanh, None),
            (true, Case::None, Act::Tanh, None),
            (true, Case::Batch, Act::Identity, None),
            (false, Case::None, Act::Identity, None),
            (true, Case::Groups(1), Act::Tanh, None),
            (false, Case::Groups(4), Act::Tanh, None),
            (false, Case::Groups(1), Act::Tanh, Some(false)),
            (false, Case::Batch, Act::Tanh, Some(true)),
            (true, Case::Groups(5), Act::Identity, Some(true)),
            (false, Case::Running, Act::Tanh, Some(true)),
        ];
        // A lecture batch, and 7,000 rows: 140,000 outputs, above PARALLEL_MIN_OUTPUTS, so the
        // passes around the products split their rows over the cores (sums over that many rows
        // round differently from Burn's, hence the wider tolerance).
        let sizes = [(32, 2e-5), (7000, 5e-4)];
        assert!(7000 * m >= makemore_kernels::PARALLEL_MIN_OUTPUTS);
        for ((name, base), (n, tol)) in devices()
            .into_iter()
            .flat_map(|d| sizes.map(|s| (d.clone(), s)))
        {
            let device = base.clone().autodiff();
            let assert_close = |what: &str, a: &[f32], b: &[f32]| assert_within(what, a, b, tol);
            for (bias, norm, act, link) in cases {
                let case =
                    format!("{name}, {n} rows: bias {bias}, {norm:?}, {act:?}, residual {link:?}");
                let k = if link.is_some() { m } else { 30 };
                let x = leaf([n, k], &device);
                let w = leaf([k, m], &device)
                    .mul_scalar(0.3)
                    .detach()
                    .require_grad();
                let b = bias.then(|| leaf([m], &device));
                let gamma = leaf([m], &device);
                let beta = leaf([m], &device);
                let scale = link.and_then(|learned| learned.then(|| leaf([1], &device)));
                let running_mean = random([m], Distribution::Default, &base);
                // Away from 0: 1 / sqrt(var + eps) would magnify rounding beyond any tolerance.
                let running_var = random([m], Distribution::Uniform(0.5, 1.5), &base);
                let blend = Blend {
                    keep: 0.9,
                    mean: 0.1,
                    var: 0.1 * n as f64 / (n as f64 - 1.0),
                };
                let running = matches!(norm, Case::Batch | Case::Running)
                    .then(|| (running_mean.clone(), running_var.clone()));
                let inputs = norm_inputs(norm, &gamma, &beta, running, blend);
                let residual = link.map(|_| ResidualInputs {
                    scale: scale.clone(),
                });
                let (y, running) = block(
                    LayerInput::Rows(&x),
                    &w,
                    b.as_ref(),
                    (norm != Case::None).then_some(&inputs),
                    act,
                    residual.as_ref(),
                )
                .expect("autodiff f32 tensors on a CPU backend take the fused path");
                let (y_ref, stats) = reference(
                    x.clone(),
                    w.clone(),
                    b.clone(),
                    norm,
                    gamma.clone(),
                    beta.clone(),
                    (
                        running_mean.clone().autodiff(),
                        running_var.clone().autodiff(),
                    ),
                    act,
                    link.map(|_| scale.clone()),
                );
                assert_close(
                    &format!("{case}: output"),
                    &values(y.clone()),
                    &values(y_ref.clone()),
                );
                // A loss that weighs every output differently, so every gradient path is used.
                let weights = random([n, m], Distribution::Normal(0.0, 1.0), &device);
                let g = y.mul(weights.clone()).sum().backward();
                let g_ref = y_ref.mul(weights).sum().backward();
                let grad = |t: &Tensor<2>, g| values(t.grad(g).expect("a gradient"));
                assert_close(&format!("{case}: dx"), &grad(&x, &g), &grad(&x, &g_ref));
                assert_close(&format!("{case}: dw"), &grad(&w, &g), &grad(&w, &g_ref));
                let grad1 = |t: &Tensor<1>, g| values(t.grad(g).expect("a gradient"));
                let mut ones = vec![("db", b.as_ref()), ("dscale", scale.as_ref())];
                if norm != Case::None {
                    ones.push(("dgamma", Some(&gamma)));
                    ones.push(("dbeta", Some(&beta)));
                }
                for (what, t) in ones {
                    if let Some(t) = t {
                        let (a, r) = (grad1(t, &g), grad1(t, &g_ref));
                        if what == "db" && norm == Case::Batch {
                            // BatchNorm cancels a bias: its gradient is 0 up to rounding, which
                            // grows with the rows summed, on both sides.
                            let bound = tol * (n as f32).sqrt();
                            let near_zero = a.iter().chain(&r).all(|v| v.abs() <= bound);
                            assert!(
                                near_zero,
                                "{case}: db {a:?} / {r:?} not within {bound} of 0"
                            );
                            continue;
                        }
                        assert_close(&format!("{case}: {what}"), &a, &r);
                    }
                }
                match (norm, stats) {
                    (Case::Batch, Some((mean, var))) => {
                        let (new_mean, new_var) = running.expect("running statistics");
                        let unbiased = n as f64 / (n as f64 - 1.0);
                        let expect_mean = running_mean
                            .mul_scalar(0.9)
                            .add(values_on(mean, &base).mul_scalar(0.1));
                        let expect_var = running_var
                            .mul_scalar(0.9)
                            .add(values_on(var, &base).mul_scalar(0.1 * unbiased));
                        assert_close(
                            &format!("{case}: running mean"),
                            &values(new_mean),
                            &values(expect_mean),
                        );
                        assert_close(
                            &format!("{case}: running var"),
                            &values(new_var),
                            &values(expect_var),
                        );
                    }
                    _ => assert!(running.is_none(), "{case}: no running statistics"),
                }
            }
        }
    }

    fn values_on(t: Tensor<1>, device: &Device) -> Tensor<1> {
        let v = values(t);
        let n = v.len();
        Tensor::from_data(TensorData::new(v, [n]), device)
    }

    #[test]
    fn without_autodiff_a_block_runs_forward_only_and_matches_burns_ops() {
        // 16 x 12 runs on one thread; 3,000 x 64 (192,000 outputs) splits its rows into three
        // parallel tasks of 1,024 rows.
        let shapes = [(16, 12), (3000, 64)];
        for ((name, device), (n, m)) in devices()
            .into_iter()
            .flat_map(|d| shapes.map(|s| (d.clone(), s)))
        {
            for (norm, link) in [
                (Case::Running, None),
                (Case::Batch, None),
                (Case::Groups(4), Some(true)),
                (Case::Running, Some(true)),
                (Case::None, Some(false)),
            ] {
                let case = format!("{name} {n}x{m}: {norm:?}, residual {link:?}");
                let rand =
                    |shape: [usize; 2]| random(shape, Distribution::Normal(0.0, 1.0), &device);
                let rand1 = |len: usize| random([len], Distribution::Default, &device);
                let (x, w) = (rand([n, m]), rand([m, m]));
                let (gamma, beta, scale) = (rand1(m), rand1(m), rand1(1));
                let running = (rand1(m), rand1(m).add_scalar(0.5)); // variance away from 0
                let inputs = norm_inputs(norm, &gamma, &beta, Some(running.clone()), UNCHANGED);
                let scale = link.and_then(|l| l.then(|| scale.clone()));
                let residual = link.map(|_| ResidualInputs {
                    scale: scale.clone(),
                });
                let (y, _) = block(
                    LayerInput::Rows(&x),
                    &w,
                    None,
                    (norm != Case::None).then_some(&inputs),
                    Act::Tanh,
                    residual.as_ref(),
                )
                .expect("plain f32 tensors on a CPU backend take the fused path");
                let (y_ref, _) = reference(
                    x,
                    w,
                    None,
                    norm,
                    gamma,
                    beta,
                    running,
                    Act::Tanh,
                    link.map(|_| scale),
                );
                assert!(y
                    .clone()
                    .try_into_primitive::<burn::backend::Autodiff<burn::backend::Flex>>()
                    .is_err());
                assert_close(&case, &values(y), &values(y_ref));
            }
        }
    }

    /// The first block on token ids (the embedding folded into per-position tables) against the
    /// embedding's rows gathered by Burn and Burn's ops: values, the table's and every other
    /// gradient, with and without autodiff. 3,000 rows of 48 (144,000 outputs) take the parallel
    /// branches: the positions' tables and `dh`'s sums by token shared out over the cores, rows
    /// summed from the tables in parallel tasks.
    #[test]
    fn a_block_on_tokens_matches_the_gathered_embedding_through_burns_ops() {
        let (vocab, e, positions, m) = (27, 10, 3, 48);
        assert!(3000 * m >= makemore_kernels::PARALLEL_MIN_OUTPUTS);
        let cases = [
            (true, Case::None, Act::Tanh),
            (false, Case::Batch, Act::Tanh),
            (false, Case::Groups(4), Act::Tanh),
            (true, Case::Running, Act::Identity),
        ];
        for (name, base) in devices() {
            for (n, autodiff) in [(64, true), (40, false), (3000, false), (3000, true)] {
                let device = if autodiff {
                    base.clone().autodiff()
                } else {
                    base.clone()
                };
                for (bias, norm, act) in cases {
                    let case = format!("{name} {n} rows, autodiff {autodiff}: {norm:?}, {act:?}");
                    let table = input([vocab, e], &device, autodiff);
                    let w = input([positions * e, m], &device, false).mul_scalar(0.3);
                    let w = if autodiff { w.require_grad() } else { w };
                    let b = bias.then(|| input([m], &device, autodiff));
                    let (gamma, beta) =
                        (input([m], &device, autodiff), input([m], &device, autodiff));
                    let running = (
                        random([m], Distribution::Default, &base),
                        random([m], Distribution::Uniform(0.5, 1.5), &base),
                    );
                    // Every token, most of them many times, at every position.
                    let ids: Vec<i64> = (0..n * positions)
                        .map(|i| ((i * 7 + i / 5) % vocab) as i64)
                        .collect();
                    let ids =
                        Tensor::<2, Int>::from_data(TensorData::new(ids, [n, positions]), &device);
                    let inputs = norm_inputs(norm, &gamma, &beta, Some(running.clone()), UNCHANGED);
                    let tokens = LayerInput::Tokens {
                        ids: &ids,
                        table: &table,
                    };
                    let norm_in = (norm != Case::None).then_some(&inputs);
                    let (y, _) = block(tokens, &w, b.as_ref(), norm_in, act, None)
                        .expect("f32 tensors on a CPU backend take the fused path");
                    let x = table
                        .clone()
                        .select(0, ids.clone().reshape([n * positions]))
                        .reshape([n, positions * e]);
                    let stats = if autodiff {
                        (running.0.clone().autodiff(), running.1.clone().autodiff())
                    } else {
                        running.clone()
                    };
                    let (y_ref, _) = reference(
                        x,
                        w.clone(),
                        b.clone(),
                        norm,
                        gamma.clone(),
                        beta.clone(),
                        stats,
                        act,
                        None,
                    );
                    // Batch statistics sum n rows in f32 on both sides, in different orders:
                    // over 3,000 rows a normalized output moves by up to about 2e-5 (seen:
                    // 2.1e-5 on a value of 0.0056); a wrong index is off by the values themselves.
                    let rel_out = if n > 1000 && norm != Case::None {
                        1e-4
                    } else {
                        2e-5
                    };
                    assert_within(
                        &format!("{case}: output"),
                        &values(y.clone()),
                        &values(y_ref.clone()),
                        rel_out,
                    );
                    if !autodiff {
                        continue;
                    }
                    // A gradient sums n rows in f32 on both sides, in different orders: over
                    // 3,000 rows the two drift apart by about 1e-4 of the partial sums' size,
                    // over 64 by up to 3e-5 (a wrong index is off by the values themselves).
                    // Through batch statistics the gradient of a row also subtracts means over
                    // all n rows, which cancel: the table's gradient (each token's rows summed)
                    // then differs by up to about 2e-3 of its size (seen: 1.5e-3 on 0.435,
                    // depending on which other backends are compiled in and so on summation order).
                    let rel = match (n > 1000, norm) {
                        (true, Case::Batch | Case::Groups(_)) => 5e-3,
                        (true, _) => 5e-4,
                        _ => 5e-5,
                    };
                    let close = |what: &str, a: &[f32], b: &[f32]| assert_within(what, a, b, rel);
                    let weights = random([n, m], Distribution::Normal(0.0, 1.0), &device);
                    let g = y.mul(weights.clone()).sum().backward();
                    let g_ref = y_ref.mul(weights).sum().backward();
                    let grad = |t: &Tensor<2>, g| values(t.grad(g).expect("a gradient"));
                    let (dt, dt_ref) = (grad(&table, &g), grad(&table, &g_ref));
                    assert_eq!(dt.len(), vocab * e, "{case}: the table's gradient");
                    close(&format!("{case}: d table"), &dt, &dt_ref);
                    close(&format!("{case}: dw"), &grad(&w, &g), &grad(&w, &g_ref));
                    let grad1 = |t: &Tensor<1>, g| values(t.grad(g).expect("a gradient"));
                    let mut ones = vec![("db", b.as_ref())];
                    if norm != Case::None {
                        ones.push(("dgamma", Some(&gamma)));
                        ones.push(("dbeta", Some(&beta)));
                    }
                    for (what, t) in ones.into_iter().filter_map(|(w, t)| Some((w, t?))) {
                        let (a, r) = (grad1(t, &g), grad1(t, &g_ref));
                        close(&format!("{case}: {what}"), &a, &r);
                    }
                }
            }
        }
    }

    #[test]
    fn fused_cross_entropy_matches_burns_ops_and_propagates_nan() {
        for (name, base) in devices() {
            let device = base.autodiff();
            let (n, v) = (32, 27);
            let logits = leaf([n, v], &device)
                .mul_scalar(3.0)
                .detach()
                .require_grad();
            let targets = Tensor::<1, Int>::from_data(
                TensorData::new((0..n as i64).map(|i| (i * 7) % v as i64).collect(), [n]),
                &device,
            );
            let loss = cross_entropy(&logits, &targets).expect("fused on a CPU backend");
            let reference = activation::log_softmax(logits.clone(), 1)
                .gather(1, targets.clone().reshape([n, 1]))
                .mean()
                .neg();
            assert_close(
                &format!("{name}: loss"),
                &values(loss.clone()),
                &values(reference.clone()),
            );
            let sum = nll_sum(
                &logits.clone().without_autodiff(),
                &targets.clone().without_autodiff(),
            )
            .expect("fused on a CPU backend");
            let want = f64::from(values(reference.clone())[0]) * n as f64;
            assert!(
                (sum - want).abs() < 1e-4 * want.abs(),
                "{name}: nll sum {sum} vs {want}"
            );
            let g = loss.mul_scalar(2.0).backward();
            let g_ref = reference.mul_scalar(2.0).backward();
            let grad = |g| values(logits.grad(g).expect("a gradient"));
            assert_close(&format!("{name}: dlogits"), &grad(&g), &grad(&g_ref));

            let mut bad = values(logits.clone());
            bad[5] = f32::NAN;
            let bad = Tensor::<2>::from_data(TensorData::new(bad, [n, v]), &device).require_grad();
            let loss = cross_entropy(&bad, &targets).expect("fused on a CPU backend");
            assert!(values(loss)[0].is_nan(), "a NaN logit makes the loss NaN");

            let out_of_range =
                Tensor::<1, Int>::from_data(TensorData::new(vec![v as i64; n], [n]), &device);
            assert!(
                cross_entropy(&logits, &out_of_range).is_none(),
                "left to Burn's checks"
            );
        }
    }

    #[test]
    fn a_parallel_product_equals_a_single_threaded_one() {
        let (m, k, n) = (300, 260, 280);
        let a: Vec<f32> = (0..m * k)
            .map(|i| ((i * 37) % 101) as f32 / 50.0 - 1.0)
            .collect();
        let b: Vec<f32> = (0..k * n)
            .map(|i| ((i * 53) % 97) as f32 / 48.0 - 1.0)
            .collect();
        let (mut one, mut all) = (vec![0.0; m * n], vec![0.0; m * n]);
        let (va, vb) = (View::rows(&a, m, k), View::rows(&b, k, n));
        makemore_kernels::matmul_with(&mut one, va, vb, false);
        makemore_kernels::matmul_with(&mut all, va, vb, true);
        assert_close("parallel product", &all, &one);
        // `product` writes into memory it never zeroed: it must equal the zeroed product, for
        // every kernel gemm picks (matrix-vector, vector-matrix, outer, transposed views).
        for (m, k, n) in [
            (300, 260, 280),
            (1, 50, 40),
            (40, 50, 1),
            (7, 1, 9),
            (32, 30, 200),
        ] {
            let a: Vec<f32> = (0..m * k).map(|i| (i % 11) as f32 - 5.0).collect();
            let b: Vec<f32> = (0..k * n).map(|i| (i % 7) as f32 * 0.5 - 1.5).collect();
            let (va, vb) = (View::rows(&a, m, k), View::rows(&b, k, n));
            let mut zeroed = vec![0.0; m * n];
            makemore_kernels::matmul_with(&mut zeroed, va, vb, false);
            assert_close(
                &format!("product {m}x{k}x{n}"),
                &makemore_kernels::product(va, vb),
                &zeroed,
            );
            let mut zeroed_t = vec![0.0; n * m];
            makemore_kernels::matmul_with(&mut zeroed_t, vb.t(), va.t(), false);
            let got = makemore_kernels::product(vb.t(), va.t());
            assert_close(&format!("transposed product {m}x{k}x{n}"), &got, &zeroed_t);
        }
        // Spot-check one entry by hand.
        let want: f32 = (0..k).map(|t| a[5 * k + t] * b[t * n + 7]).sum();
        assert!(
            (one[5 * n + 7] - want).abs() < 1e-3,
            "{} vs {want}",
            one[5 * n + 7]
        );
    }

    /// A deterministic spread of values in about [-1, 1).
    fn spread(len: usize, mul: usize, modulo: usize) -> Vec<f32> {
        (0..len)
            .map(|i| ((i * mul) % modulo) as f32 / (modulo as f32 / 2.0) - 1.0)
            .collect()
    }

    /// Column sums by blocks of [`makemore_kernels::SUM_BLOCK_ROWS`] rows folded in order, one row at a
    /// time: the order the kernels promise on one core and on many.
    fn blocked_sums(rows: impl Iterator<Item = Vec<f32>>, m: usize) -> Vec<f32> {
        let mut total = vec![0.0f32; m];
        let mut block = vec![0.0f32; m];
        for (i, row) in rows.enumerate() {
            if i % makemore_kernels::SUM_BLOCK_ROWS == 0 && i > 0 {
                total.iter_mut().zip(&block).for_each(|(t, &b)| *t += b);
                block.fill(0.0);
            }
            block.iter_mut().zip(&row).for_each(|(s, &v)| *s += v);
        }
        total.iter_mut().zip(&block).for_each(|(t, &b)| *t += b);
        total
    }

    #[test]
    fn the_training_pass_splits_rows_over_cores_without_changing_a_value() {
        // 3,000 x 64 outputs: above PARALLEL_MIN_OUTPUTS, so the passes run on every core; runs
        // of 100 rows stay below it and run on one.
        let (n, m, part) = (3000, 64, 100);
        assert!(
            n * m >= makemore_kernels::PARALLEL_MIN_OUTPUTS
                && part * m < makemore_kernels::PARALLEL_MIN_OUTPUTS
        );
        let x = spread(n * m, 37, 101);
        let w: Vec<f32> = spread(m * m, 53, 97).iter().map(|v| v * 0.3).collect();
        let gamma: Vec<f32> = (0..m).map(|j| 0.5 + j as f32 / m as f32).collect();
        let beta: Vec<f32> = (0..m).map(|j| 0.1 - j as f32 / (4 * m) as f32).collect();
        let (mean, var) = (spread(m, 7, 13), vec![0.8f32; m]);
        let link = Some(Residual { scale: Some(0.7) });
        let rows = |first: usize, count: usize| {
            BlockInput::Rows(View::rows(&x[first * m..(first + count) * m], count, m))
        };
        let wv = View::rows(&w, m, m);
        // Statistics of each row alone (given, or per row): a block over all rows must equal,
        // value for value, the same block over runs of 100 rows, and the forward-only pass.
        for stats in [
            Stats::Fixed {
                mean: &mean,
                var: &var,
            },
            Stats::Groups(4),
        ] {
            let spec = Some(NormSpec {
                stats,
                eps: 1e-5,
                gamma: &gamma,
                beta: &beta,
            });
            let fwd = |input, keep| {
                makemore_kernels::block_forward(input, wv, None, spec, Act::Tanh, link, keep)
            };
            let all = fwd(rows(0, n), true);
            assert_eq!(
                all.y,
                fwd(rows(0, n), false).y,
                "{stats:?}: forward-only pass"
            );
            let (mut y, mut xhat, mut dact, mut branch) = (vec![], vec![], vec![], vec![]);
            for first in (0..n).step_by(part) {
                let one = fwd(rows(first, part), true);
                y.extend(one.y);
                xhat.extend(one.saved.xhat);
                dact.extend(one.saved.dact);
                branch.extend(one.saved.branch);
            }
            assert_eq!(all.y, y, "{stats:?}: y");
            assert_eq!(all.saved.xhat, xhat, "{stats:?}: xhat");
            assert_eq!(all.saved.dact, dact, "{stats:?}: dact");
            assert_eq!(all.saved.branch, branch, "{stats:?}: branch");
        }
        // Batch statistics and the backward pass's column sums, against the blocked order.
        let spec = Some(NormSpec {
            stats: Stats::Batch,
            eps: 1e-5,
            gamma: &gamma,
            beta: &beta,
        });
        let fwd =
            makemore_kernels::block_forward(rows(0, n), wv, None, spec, Act::Tanh, None, true);
        let h = makemore_kernels::product(View::rows(&x, n, m), wv);
        let row = |v: &[f32], i: usize| v[i * m..(i + 1) * m].to_vec();
        let want_mean: Vec<f32> = blocked_sums((0..n).map(|i| row(&h, i)), m)
            .iter()
            .map(|s| s * (1.0 / n as f32))
            .collect();
        let centred = |i: usize| -> Vec<f32> {
            row(&h, i)
                .iter()
                .zip(&want_mean)
                .map(|(h, mu)| h - mu)
                .collect()
        };
        let squares = (0..n).map(|i| centred(i).iter().map(|v| v * v).collect());
        let want_var: Vec<f32> = blocked_sums(squares, m)
            .iter()
            .map(|s| s * (1.0 / n as f32))
            .collect();
        assert_eq!(fwd.mean, want_mean, "batch mean");
        assert_eq!(fwd.var, want_var, "batch variance");
        let dy = spread(n * m, 29, 89);
        let wanted = Wanted {
            gamma: true,
            beta: true,
            ..Wanted::default()
        };
        let grads =
            makemore_kernels::block_backward(&dy, rows(0, n), wv, spec, None, &fwd.saved, wanted);
        let dz = |i: usize| -> Vec<f32> {
            row(&dy, i)
                .iter()
                .zip(row(&fwd.saved.dact, i))
                .map(|(g, d)| g * 1.0 * d)
                .collect()
        };
        let dz_xhat = |i: usize| -> Vec<f32> {
            dz(i)
                .iter()
                .zip(row(&fwd.saved.xhat, i))
                .map(|(a, b)| a * b)
                .collect()
        };
        let want_beta = blocked_sums((0..n).map(dz), m);
        let want_gamma = blocked_sums((0..n).map(dz_xhat), m);
        assert_eq!(grads.beta, Some(want_beta), "d beta");
        assert_eq!(grads.gamma, Some(want_gamma), "d gamma");
    }

    #[test]
    fn tensors_off_the_cpu_backends_are_left_to_burns_ops() {
        #[cfg(feature = "wgpu")]
        {
            if let Ok(gpu) = BackendKind::Wgpu.device() {
                let x = Tensor::<2>::zeros([4, 3], &gpu);
                let w = Tensor::<2>::zeros([3, 2], &gpu);
                assert!(block(LayerInput::Rows(&x), &w, None, None, Act::Tanh, None).is_none());
            }
        }
        // A residual link needs equal widths: left to Burn's ops (which then fail loudly).
        let plain = BackendKind::Flex.device().expect("flex");
        let x = Tensor::<2>::zeros([4, 3], &plain);
        let w = Tensor::<2>::zeros([3, 2], &plain);
        let link = ResidualInputs { scale: None };
        assert!(block(LayerInput::Rows(&x), &w, None, None, Act::Tanh, Some(&link)).is_none());
        assert!(block(LayerInput::Rows(&x), &w, None, None, Act::Tanh, None).is_some());
    }
}
