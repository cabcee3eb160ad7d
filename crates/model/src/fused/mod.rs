//! Fused ops for the CPU backends (`flex` and `ndarray`): a hidden block (Linear -> norm ->
//! activation, with its residual link) is one autodiff node, and so is the cross-entropy, each
//! computed on the host with a hand-written backward pass; without autodiff (evaluation,
//! sampling) the same kernels run forward only. A plain training step uses the kernels without
//! the nodes, on host copies of the weights (`host_train`).
//!
//! Why: a training step of the lecture's models is tiny arithmetic (2.2 MFLOP for `bn1`) spread
//! over about a hundred Burn ops per step, and on a CPU backend each op's fixed cost (an
//! allocation, a graph node, a dispatch, BatchNorm's transposes) outweighs its arithmetic. Here a
//! block costs three matrix products (by the same `gemm` crate flex uses, on every core above
//! [`kernel::PARALLEL_MIN_MACS`]) and a few vectorized passes; README, Performance, has the
//! profile and the figures. Both CPU backends keep their tensors in host memory, so the kernels
//! read them in place ([`Host`]).
//!
//! Every function returns `None` (having changed nothing) when its tensors are not `f32`
//! tensors of a CPU backend, and the caller then runs the same layer with Burn's ops: results
//! agree to float rounding (tests below; `cargo xtask compare` checks both CPU backends against
//! wgpu, which never takes this path, on every CI run).

mod host;
pub(crate) mod kernel;

pub(crate) use host::Host;
pub use kernel::PARALLEL_MIN_MACS;
pub(crate) use kernel::{simd, Act};

use crate::norm::{Blend, NormInputs, NormStats, RunningStats};
use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::NoCheckpointing;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::tensor::FloatTensor;
use burn::backend::Autodiff;
use burn::tensor::{Int, Tensor};
use kernel::{BlockInput, NormSpec, Residual, Stats, Tokens, View, Wanted};
use std::sync::Arc;

type AdTensor<B> = FloatTensor<Autodiff<B>>;

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

/// Which input of a block a graph parent is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Input {
    X,
    W,
    Bias,
    Gamma,
    Beta,
    Scale,
}

/// A block's statistics, as the backward pass needs them.
#[derive(Debug, Clone, Copy)]
enum SavedStats {
    Batch,
    Fixed,
    Groups(usize),
}

#[derive(Debug)]
struct BlockSaved<B: Host> {
    /// The input rows, or with `tokens` the embedding table.
    x: FloatTensor<B>,
    /// `(ids, positions)` when the input is tokens.
    tokens: Option<(Vec<usize>, usize)>,
    w: FloatTensor<B>,
    /// `gamma` (ones without affine) and the statistics, with a norm.
    norm: Option<(FloatTensor<B>, SavedStats, f32)>,
    residual: Option<Residual>,
    kernel: kernel::Saved,
    inputs: Vec<Input>,
    /// `(n, k, m)`: batch, fan-in, width.
    dims: (usize, usize, usize),
}

/// The backward pass of a block with `N` tracked inputs.
#[derive(Debug)]
struct BlockOp<B, const N: usize>(std::marker::PhantomData<B>);

impl<B: Host, const N: usize> Backward<B, N> for BlockOp<B, N> {
    type State = Arc<BlockSaved<B>>;

    fn backward(self, ops: Ops<Self::State, N>, grads: &mut Gradients, _: &mut Checkpointer) {
        let s = &ops.state;
        let (n, k, m) = s.dims;
        let dy = grads.consume::<B>(&ops.node);
        let (Some(dy), Some(x), Some(w)) = (B::values(&dy), B::values(&s.x), B::values(&s.w))
        else {
            unreachable!("the forward pass checked every tensor is f32");
        };
        let gamma = s
            .norm
            .as_ref()
            .map(|(g, ..)| B::values(g).expect("checked f32 in the forward pass"));
        let norm = s
            .norm
            .as_ref()
            .zip(gamma.as_deref())
            .map(|((_, stats, eps), g)| NormSpec {
                stats: match *stats {
                    SavedStats::Batch => Stats::Batch,
                    SavedStats::Fixed => Stats::Fixed {
                        mean: &[],
                        var: &[],
                    },
                    SavedStats::Groups(g) => Stats::Groups(g),
                },
                eps: *eps,
                gamma: g,
                beta: &[],
            });
        let mut wanted = Wanted::default();
        for (parent, input) in ops.parents.iter().zip(&s.inputs) {
            let flag = match input {
                Input::X => &mut wanted.x,
                Input::W => &mut wanted.w,
                Input::Bias => &mut wanted.bias,
                Input::Gamma => &mut wanted.gamma,
                Input::Beta => &mut wanted.beta,
                Input::Scale => &mut wanted.scale,
            };
            *flag = parent.is_some();
        }
        // The input and its shape: rows, or the `[vocab, n_embd]` table.
        let (input, x_shape) = match &s.tokens {
            None => (BlockInput::Rows(View::rows(&x, n, k)), [n, k]),
            Some((ids, positions)) => {
                let e = k / positions;
                let table = View::rows(&x, x.len() / e, e);
                let positions = *positions;
                let input = Tokens {
                    ids,
                    positions,
                    table,
                };
                (BlockInput::Tokens(input), [table.rows, e])
            }
        };
        let mut g = kernel::block_backward(
            &dy,
            input,
            View::rows(&w, k, m),
            norm,
            s.residual,
            &s.kernel,
            wanted,
        );
        for (parent, input) in ops.parents.into_iter().zip(&s.inputs) {
            let Some(node) = parent else { continue };
            let (grad, shape) = match input {
                Input::X => (g.x.take(), x_shape.to_vec()),
                Input::W => (g.w.take(), vec![k, m]),
                Input::Bias => (g.bias.take(), vec![m]),
                Input::Gamma => (g.gamma.take(), vec![m]),
                Input::Beta => (g.beta.take(), vec![m]),
                Input::Scale => (g.scale.take(), vec![1]),
            };
            if let Some(grad) = grad {
                grads.register::<B>(node.id, B::tensor(grad, &shape));
            }
        }
    }
}

/// Adds the block's node to the graph, with `inputs` as its parents.
fn track<B: Host, const N: usize>(
    inputs: [&AdTensor<B>; N],
    saved: BlockSaved<B>,
    out: FloatTensor<B>,
) -> AdTensor<B> {
    let nodes = inputs.map(|t| t.node());
    match BlockOp::<B, N>(std::marker::PhantomData)
        .prepare::<NoCheckpointing>(nodes)
        .compute_bound()
        .stateful()
    {
        OpsKind::Tracked(prep) => prep.finish(Arc::new(saved), out),
        OpsKind::UnTracked(prep) => prep.finish(out),
    }
}

/// A block's residual link: present, with its learned `[1]` scale if it has one.
pub(crate) struct ResidualInputs {
    /// `[1]` scale of the branch.
    pub scale: Option<Tensor<1>>,
}

/// `act(norm(x · weight + bias))` (plus `x`, scaled branch, with a residual link) for `[n, k]`
/// `x` and `[k, m]` `weight`: one autodiff node for autodiff tensors, forward only otherwise.
/// With BatchNorm's batch statistics it also returns the new running statistics (the batch
/// variance made unbiased, as PyTorch does). `None` when the tensors are not `f32` tensors of a
/// CPU backend.
pub(crate) fn block(
    input: LayerInput<'_>,
    weight: &Tensor<2>,
    bias: Option<&Tensor<1>>,
    norm: Option<&NormInputs>,
    act: Act,
    residual: Option<&ResidualInputs>,
) -> Option<(Tensor<2>, Option<RunningStats>)> {
    let [_, m] = weight.dims();
    let (x, ids) = match input {
        LayerInput::Rows(x) => {
            let [_, k] = x.dims();
            if residual.is_some() && k != m {
                return None;
            }
            (x, None)
        }
        LayerInput::Tokens { ids, table } => {
            let [n, positions] = ids.dims();
            if residual.is_some() || positions == 0 {
                return None;
            }
            (
                table,
                Some((ids.clone().reshape([n * positions]), positions)),
            )
        }
    };
    let ids = ids.as_ref().map(|(t, p)| (t, *p));
    on_cpu_backends!(|B| block_on::<B>(x, ids, weight, bias, norm, act, residual))
}

/// What a fused block multiplies.
pub(crate) enum LayerInput<'a> {
    /// `[n, k]` rows.
    Rows(&'a Tensor<2>),
    /// `[n, positions]` token ids into a `[vocab, n_embd]` embedding table: the model's first
    /// block with its embedding, as one op (`k = positions * n_embd`). Its gradient with respect
    /// to the input is the table's.
    Tokens {
        /// `[n, positions]` ids.
        ids: &'a Tensor<2, Int>,
        /// `[vocab, n_embd]` table.
        table: &'a Tensor<2>,
    },
}

/// A tensor's values on backend `B`, autodiff or plain.
enum Arg<B: Host> {
    Ad(AdTensor<B>),
    Plain(FloatTensor<B>),
}

impl<B: Host> Arg<B> {
    fn of<const D: usize>(t: &Tensor<D>, autodiff: bool) -> Option<Self> {
        if autodiff {
            B::ad(t).map(Arg::Ad)
        } else {
            B::plain(t).map(Arg::Plain)
        }
    }

    fn inner(&self) -> &FloatTensor<B> {
        match self {
            Arg::Ad(t) => t.primitive(),
            Arg::Plain(t) => t,
        }
    }
}

/// [`block`] on backend `B`; with `ids` (flattened, and ids per row), `x` is the table.
fn block_on<B: Host>(
    x: &Tensor<2>,
    ids: Option<(&Tensor<1, Int>, usize)>,
    weight: &Tensor<2>,
    bias: Option<&Tensor<1>>,
    norm: Option<&NormInputs>,
    act: Act,
    residual: Option<&ResidualInputs>,
) -> Option<(Tensor<2>, Option<RunningStats>)> {
    let [x_rows, x_cols] = x.dims();
    let tokens = match ids {
        Some((t, positions)) => Some((B::ids(t, x_rows)?, positions)),
        None => None,
    };
    let (n, k) = match &tokens {
        None => (x_rows, x_cols),
        Some((ids, positions)) => (ids.len() / positions, positions * x_cols),
    };
    let [rows, m] = weight.dims();
    // Shapes Burn's ops would refuse are left to them (the kernels trust their views).
    let width = |t: &Tensor<1>| t.dims()[0] == m;
    let groups_fit = match norm.map(|p| p.stats) {
        Some(NormStats::Groups(g)) => kernel::groups_fit(g, m),
        _ => true,
    };
    if rows != k
        || !bias.is_none_or(width)
        || !norm.is_none_or(|p| width(&p.gamma) && width(&p.beta))
        || !groups_fit
    {
        return None;
    }
    let autodiff = B::ad(x).is_some();
    if !autodiff && B::plain(x).is_none() {
        return None;
    }
    let arg = |t: &Tensor<1>| Arg::<B>::of(t, autodiff);
    let x_a = Arg::<B>::of(x, autodiff)?;
    let w_a = Arg::<B>::of(weight, autodiff)?;
    let bias_a = match bias {
        Some(b) => Some(arg(b)?),
        None => None,
    };
    let norm_a = match norm {
        Some(p) => Some((arg(&p.gamma)?, arg(&p.beta)?)),
        None => None,
    };
    let scale_a = match residual.and_then(|r| r.scale.as_ref()) {
        Some(s) => Some(arg(s)?),
        None => None,
    };
    let running = match norm.and_then(|p| p.running.as_ref()) {
        Some((mean, var)) => Some((B::plain(mean)?, B::plain(var)?)),
        None => None,
    };
    let xs = B::values(x_a.inner())?;
    let ws = B::values(w_a.inner())?;
    let bs = match &bias_a {
        Some(b) => Some(B::values(b.inner())?),
        None => None,
    };
    let affine = match &norm_a {
        Some((g, b)) => Some((B::values(g.inner())?, B::values(b.inner())?)),
        None => None,
    };
    let stats_host = match &running {
        Some((rm, rv)) => Some((B::values(rm)?, B::values(rv)?)),
        None => None,
    };
    let scale = match &scale_a {
        Some(s) => Some(*B::values(s.inner())?.first()?),
        None => None,
    };
    let spec = match (norm, &affine) {
        (Some(p), Some((g, b))) => Some(NormSpec {
            stats: match (p.stats, &stats_host) {
                (NormStats::Running, Some((rm, rv))) => Stats::Fixed { mean: rm, var: rv },
                (NormStats::Running, None) => return None,
                (NormStats::Batch(_), _) => Stats::Batch,
                (NormStats::Groups(g), _) => Stats::Groups(g),
            },
            eps: p.eps as f32,
            gamma: g,
            beta: b,
        }),
        _ => None,
    };
    let saved_stats = spec.map(|s| match s.stats {
        Stats::Batch => SavedStats::Batch,
        Stats::Fixed { .. } => SavedStats::Fixed,
        Stats::Groups(g) => SavedStats::Groups(g),
    });
    let residual_k = residual.map(|_| Residual { scale });
    let input = match &tokens {
        None => BlockInput::Rows(View::rows(&xs, n, k)),
        Some((ids, positions)) => BlockInput::Tokens(Tokens {
            ids,
            positions: *positions,
            table: View::rows(&xs, x_rows, x_cols),
        }),
    };
    let fwd = kernel::block_forward(
        input,
        View::rows(&ws, k, m),
        bs.as_deref(),
        spec,
        act,
        residual_k,
        autodiff,
    );
    let new_running = match (norm.map(|p| p.stats), &stats_host) {
        (Some(NormStats::Batch(blend)), Some((rm, rv))) => {
            let Blend { keep, mean, var } = blend;
            let mix = |old: &[f32], batch: &[f32], weight: f64| -> Tensor<1> {
                let (keep, weight) = (keep as f32, weight as f32);
                let v = old.iter().zip(batch).map(|(&o, &b)| o * keep + b * weight);
                B::wrap(B::tensor(v.collect(), &[m]))
            };
            Some((mix(rm, &fwd.mean, mean), mix(rv, &fwd.var, var)))
        }
        _ => None,
    };
    let out = B::tensor(fwd.y, &[n, m]);
    let (Arg::Ad(x_ad), Arg::Ad(w_ad)) = (&x_a, &w_a) else {
        return Some((B::wrap(out), new_running));
    };
    let ad = |a: &Arg<B>| match a {
        Arg::Ad(t) => Some(t.clone()),
        Arg::Plain(_) => None,
    };
    let mut list = vec![(x_ad.clone(), Input::X), (w_ad.clone(), Input::W)];
    if let Some(b) = &bias_a {
        list.push((ad(b)?, Input::Bias));
    }
    if let Some((g, b)) = &norm_a {
        list.push((ad(g)?, Input::Gamma));
        list.push((ad(b)?, Input::Beta));
    }
    if let Some(s) = &scale_a {
        list.push((ad(s)?, Input::Scale));
    }
    let saved = BlockSaved::<B> {
        x: x_ad.primitive().clone(),
        tokens,
        w: w_ad.primitive().clone(),
        norm: norm_a
            .as_ref()
            .zip(saved_stats)
            .zip(norm)
            .map(|(((g, _), st), p)| (g.inner().clone(), st, p.eps as f32)),
        residual: residual_k,
        kernel: fwd.saved,
        inputs: list.iter().map(|(_, i)| *i).collect(),
        dims: (n, k, m),
    };
    let refs: Vec<&AdTensor<B>> = list.iter().map(|(t, _)| t).collect();
    let out = match refs.len() {
        2 => track(<[_; 2]>::try_from(refs).ok()?, saved, out),
        3 => track(<[_; 3]>::try_from(refs).ok()?, saved, out),
        4 => track(<[_; 4]>::try_from(refs).ok()?, saved, out),
        5 => track(<[_; 5]>::try_from(refs).ok()?, saved, out),
        _ => track(<[_; 6]>::try_from(refs).ok()?, saved, out),
    };
    Some((B::wrap_ad(out), new_running))
}

/// The backward pass of the cross-entropy: the saved `(softmax - onehot) / n`.
#[derive(Debug)]
struct CrossEntropyOp<B>(std::marker::PhantomData<B>);

impl<B: Host> Backward<B, 1> for CrossEntropyOp<B> {
    type State = Arc<(Vec<f32>, [usize; 2])>;

    fn backward(self, ops: Ops<Self::State, 1>, grads: &mut Gradients, _: &mut Checkpointer) {
        let [Some(node)] = ops.parents else { return };
        let upstream = grads.consume::<B>(&ops.node);
        let Some(&scale) = B::values(&upstream).as_deref().and_then(<[f32]>::first) else {
            unreachable!("the gradient of the f32 [1] loss is an f32 [1] tensor");
        };
        let (grad, shape) = &*ops.state;
        let grad = grad.iter().map(|&g| g * scale).collect();
        grads.register::<B>(node.id, B::tensor(grad, shape));
    }
}

/// Mean cross-entropy of `[n, v]` autodiff logits against `[n]` targets as one autodiff node,
/// a `[1]` tensor. `None` when the logits are not autodiff `f32` tensors of a CPU backend (or a
/// target is out of range: Burn's own ops then report it).
pub(crate) fn cross_entropy(logits: &Tensor<2>, targets: &Tensor<1, Int>) -> Option<Tensor<1>> {
    on_cpu_backends!(|B| cross_entropy_on::<B>(logits, targets))
}

fn cross_entropy_on<B: Host>(logits: &Tensor<2>, targets: &Tensor<1, Int>) -> Option<Tensor<1>> {
    let [n, v] = logits.dims();
    let l_ad = B::ad(logits)?;
    let t = B::ids(targets, v)?;
    if t.len() != n || n == 0 {
        return None;
    }
    let (loss, grad) = kernel::cross_entropy(&B::values(l_ad.primitive())?, &t, v);
    let out = B::tensor(vec![loss], &[1]);
    let out = match CrossEntropyOp::<B>(std::marker::PhantomData)
        .prepare::<NoCheckpointing>([l_ad.node()])
        .compute_bound()
        .stateful()
    {
        OpsKind::Tracked(prep) => prep.finish(Arc::new((grad, [n, v])), out),
        OpsKind::UnTracked(prep) => prep.finish(out),
    };
    Some(B::wrap_ad(out))
}

/// `Some` when `t` is an autodiff `f32` tensor of a CPU backend: a tensor `host_train::HostModel`
/// takes.
pub(crate) fn host_autodiff<const D: usize>(t: &Tensor<D>) -> Option<()> {
    on_cpu_backends!(|B| B::ad(t).and_then(|a| B::values(a.primitive()).map(|_| ())))
}

/// Summed cross-entropy of `[n, v]` logits without autodiff (evaluation), in f64; `None` off the
/// CPU backends.
pub(crate) fn nll_sum(logits: &Tensor<2>, targets: &Tensor<1, Int>) -> Option<f64> {
    on_cpu_backends!(|B| nll_sum_on::<B>(logits, targets))
}

fn nll_sum_on<B: Host>(logits: &Tensor<2>, targets: &Tensor<1, Int>) -> Option<f64> {
    let [n, v] = logits.dims();
    let l = B::plain(logits)?;
    let t = B::ids(targets, v)?;
    if t.len() != n {
        return None;
    }
    Some(kernel::nll_sum(&B::values(&l)?, &t, v))
}

/// An optimizer's rule on host values, as [`crate::optim::step_host`] takes them:
/// `(p, grad, buffers, fresh, delta)`, updating `p` and the buffers in place.
pub(crate) type HostRule<'a> =
    &'a dyn Fn(&mut [f32], &[f32], &mut [&mut [f32]], bool, Option<&mut [f32]>);

/// What [`host_update`] returns: the parameter's new value and (when recording) its update, as
/// tensors on the parameter's backend.
pub(crate) struct HostStep<const D: usize> {
    pub value: Tensor<D>,
    pub delta: Option<Tensor<1>>,
}

/// An optimizer's step on the host, written into the parameter's own storage and its buffers'
/// when nothing else holds them (a copy is made first when something does, such as a recorded
/// step's copy of the old value). On the first step `state` gets `buffers` new zero buffers.
/// `Err(value)`, with `state` untouched, when `value`, `grad` and the buffers are not plain `f32`
/// tensors of one CPU backend and one length, or `state` holds another number of buffers.
#[allow(clippy::result_large_err)] // Burn's `Tensor` itself; boxing it would allocate per step
pub(crate) fn host_update<const D: usize>(
    value: Tensor<D>,
    grad: &Tensor<D>,
    state: &mut Option<Vec<Tensor<1>>>,
    buffers: usize,
    record: bool,
    rule: HostRule<'_>,
) -> Result<HostStep<D>, Tensor<D>> {
    #[allow(unused_mut)] // without a CPU backend nothing hands it back
    let mut value = value;
    if !cpu_kernels() {
        return Err(value);
    }
    #[cfg(feature = "flex")]
    {
        type B = burn::backend::Flex;
        match host_update_on::<B, D>(value, grad, state, buffers, record, rule) {
            Attempt::Done(step) => return Ok(step),
            Attempt::NotMine(v) => value = v,
        }
    }
    #[cfg(feature = "ndarray")]
    #[allow(deprecated)] // Burn 0.22 deprecates ndarray, which the user may still ask for
    {
        type B = burn::backend::NdArray;
        match host_update_on::<B, D>(value, grad, state, buffers, record, rule) {
            Attempt::Done(step) => return Ok(step),
            Attempt::NotMine(v) => value = v,
        }
    }
    Err(value)
}

/// What one backend made of [`host_update`]'s inputs.
#[allow(clippy::large_enum_variant)] // both hold Burn tensors; boxing would allocate per step
enum Attempt<const D: usize> {
    /// The step, done.
    Done(HostStep<D>),
    /// The value handed back untouched: not this backend's, or not what the host rule takes.
    NotMine(Tensor<D>),
}

fn host_update_on<B: Host, const D: usize>(
    value: Tensor<D>,
    grad: &Tensor<D>,
    state: &mut Option<Vec<Tensor<1>>>,
    buffers: usize,
    record: bool,
    rule: HostRule<'_>,
) -> Attempt<D> {
    let Some((g, p)) = B::plain(grad).zip(B::plain(&value)) else {
        return Attempt::NotMine(value);
    };
    let Some(gv) = B::values(&g) else {
        return Attempt::NotMine(value);
    };
    let n = gv.len();
    let len = |t: &FloatTensor<B>| B::values(t).map(|v| v.len());
    let olds: Option<Vec<FloatTensor<B>>> = match state {
        Some(s) => s.iter().map(B::plain).collect(),
        None => Some(Vec::new()),
    };
    let fresh = olds.as_ref().is_some_and(Vec::is_empty);
    let Some(olds) = olds.filter(|olds| {
        (fresh || olds.len() == buffers)
            && olds.iter().all(|o| len(o) == Some(n))
            && len(&p) == Some(n)
    }) else {
        return Attempt::NotMine(value);
    };
    // Dropping the originals leaves `p` and the buffers the only holders of their storage,
    // unless something outside (a recorded copy) holds it too.
    drop(value);
    let (mut p, mut bufs) = (p, olds);
    if fresh {
        bufs = (0..buffers)
            .map(|_| B::tensor(vec![0.0; n], &[n]))
            .collect();
    }
    *state = None;
    let mut delta = record.then(|| vec![0.0f32; n]);
    let slices = bufs
        .iter_mut()
        .map(B::values_mut)
        .collect::<Option<Vec<_>>>();
    let (Some(pv), Some(mut bv)) = (B::values_mut(&mut p), slices) else {
        unreachable!("`values_mut` takes every tensor `values` read above");
    };
    rule(pv, &gv, &mut bv, fresh, delta.as_deref_mut());
    let bufs: Vec<Tensor<1>> = bufs.into_iter().map(B::wrap).collect();
    *state = (!bufs.is_empty()).then_some(bufs);
    Attempt::Done(HostStep {
        value: B::wrap(p),
        delta: delta.map(|d| B::wrap(B::tensor(d, &[n]))),
    })
}

/// Makes the calling thread thread 0 of rayon's global pool, the pool the kernels split their
/// products and passes over (`RAYON_NUM_THREADS`, or one thread per core, in all). A split the
/// calling thread then makes starts and finishes on it; from a thread outside the pool, each
/// split is handed to the pool while the caller sleeps until a pool thread wakes it, and a
/// training step of the ladder's `wide` rung makes about 30 splits. See the crate-level
/// [`crate::join_kernel_pool`] for when to call it.
pub fn join_kernel_pool() -> bool {
    let threads = std::env::var("RAYON_NUM_THREADS")
        .ok()
        .and_then(|v| v.parse::<usize>().ok())
        .filter(|&n| n > 0)
        .or_else(|| std::thread::available_parallelism().ok().map(|n| n.get()))
        .unwrap_or(1);
    // A thread of another pool cannot join; rayon would refuse only after using up its one
    // chance to set the global pool up.
    threads >= 2
        && rayon::current_thread_index().is_none()
        && rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .use_current_thread()
            .build_global()
            .is_ok()
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
        kernel::matmul_with(
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

#[cfg(test)]
mod tests {
    //! Each fused op against the same computation in Burn's own ops, on flex and on ndarray.
    use super::*;
    use crate::norm::Blend;
    use crate::BackendKind;
    use burn::tensor::{activation, Device, Distribution, TensorData};

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

    /// The normalizations a fused block takes.
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
        assert!(7000 * m >= kernel::PARALLEL_MIN_OUTPUTS);
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
    /// branches: rows summed from the tables in parallel tasks, `dh` summed by token in two
    /// halves.
    #[test]
    fn a_block_on_tokens_matches_the_gathered_embedding_through_burns_ops() {
        let (vocab, e, positions, m) = (27, 10, 3, 48);
        assert!(3000 * m >= kernel::PARALLEL_MIN_OUTPUTS);
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
                    assert_close(
                        &format!("{case}: output"),
                        &values(y.clone()),
                        &values(y_ref.clone()),
                    );
                    if !autodiff {
                        continue;
                    }
                    // A gradient sums n rows in f32 on both sides, in different orders: over
                    // 3,000 rows the two drift apart by about 1e-4 of the partial sums' size,
                    // over 64 by up to 3e-5 (a wrong index is off by the values themselves).
                    let rel = if n > 1000 { 5e-4 } else { 5e-5 };
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
        kernel::matmul_with(&mut one, va, vb, false);
        kernel::matmul_with(&mut all, va, vb, true);
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
            kernel::matmul_with(&mut zeroed, va, vb, false);
            assert_close(
                &format!("product {m}x{k}x{n}"),
                &kernel::product(va, vb),
                &zeroed,
            );
            let mut zeroed_t = vec![0.0; n * m];
            kernel::matmul_with(&mut zeroed_t, vb.t(), va.t(), false);
            let got = kernel::product(vb.t(), va.t());
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

    /// Column sums by blocks of [`kernel::SUM_BLOCK_ROWS`] rows folded in order, one row at a
    /// time: the order the kernels promise on one core and on many.
    fn blocked_sums(rows: impl Iterator<Item = Vec<f32>>, m: usize) -> Vec<f32> {
        let mut total = vec![0.0f32; m];
        let mut block = vec![0.0f32; m];
        for (i, row) in rows.enumerate() {
            if i % kernel::SUM_BLOCK_ROWS == 0 && i > 0 {
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
        assert!(n * m >= kernel::PARALLEL_MIN_OUTPUTS && part * m < kernel::PARALLEL_MIN_OUTPUTS);
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
            let fwd =
                |input, keep| kernel::block_forward(input, wv, None, spec, Act::Tanh, link, keep);
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
        let fwd = kernel::block_forward(rows(0, n), wv, None, spec, Act::Tanh, None, true);
        let h = kernel::product(View::rows(&x, n, m), wv);
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
        let grads = kernel::block_backward(&dy, rows(0, n), wv, spec, None, &fwd.saved, wanted);
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
