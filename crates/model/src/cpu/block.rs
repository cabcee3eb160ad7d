//! A hidden block (Linear -> norm -> activation, with its residual link) as one autodiff node on
//! a CPU backend, or forward only without autodiff.

use super::{cpu_kernels, Host};
use crate::norm::{NormInputs, NormStats, RunningStats};
use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::NoCheckpointing;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::tensor::FloatTensor;
use burn::backend::Autodiff;
use burn::tensor::{Int, Tensor};
use makemore_kernels::{Act, BlockInput, NormSpec, Residual, Tokens, View, Wanted};
use std::borrow::Cow;
use std::sync::Arc;

type AdTensor<B> = FloatTensor<Autodiff<B>>;

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

#[derive(Debug)]
struct BlockSaved<B: Host> {
    /// The input rows, or with `tokens` the embedding table.
    x: FloatTensor<B>,
    /// `(ids, positions)` when the input is tokens.
    tokens: Option<(Vec<usize>, usize)>,
    w: FloatTensor<B>,
    /// `gamma` (ones without affine) and the statistics, with a norm.
    norm: Option<(FloatTensor<B>, NormStats, f32)>,
    residual: Option<Residual>,
    kernel: makemore_kernels::Saved,
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
                // The backward pass of fixed statistics needs only gamma and `inv_std`.
                stats: stats
                    .for_kernels(Some((&[], &[])))
                    .expect("running statistics given"),
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
        let mut g = makemore_kernels::block_backward(
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

/// What a CPU block multiplies.
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

/// Two vectors' host values: `(gamma, beta)` or `(running mean, running variance)`.
type Pair<'a> = (Cow<'a, [f32]>, Cow<'a, [f32]>);

/// A block's shape on backend `B`: the token ids (with ids per row) when the input is tokens,
/// and `(n, k, m)`. `None` for shapes Burn's ops would refuse (the kernels trust their views).
#[allow(clippy::type_complexity)] // the shape, named where it is taken apart
fn shape<B: Host>(
    x: &Tensor<2>,
    ids: Option<(&Tensor<1, Int>, usize)>,
    weight: &Tensor<2>,
    bias: Option<&Tensor<1>>,
    norm: Option<&NormInputs>,
) -> Option<(Option<(Vec<usize>, usize)>, (usize, usize, usize))> {
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
    let width = |t: &Tensor<1>| t.dims()[0] == m;
    // `NormLayer::cpu_parts` refuses such groups already; the tests hand `NormInputs` in directly.
    let groups_fit = match norm.map(|p| p.stats) {
        Some(NormStats::Groups(g)) => makemore_kernels::groups_fit(g, m),
        _ => true,
    };
    if rows != k
        || !bias.is_none_or(width)
        || !norm.is_none_or(|p| width(&p.gamma) && width(&p.beta))
        || !groups_fit
    {
        return None;
    }
    Some((tokens, (n, k, m)))
}

/// The kernels' form of a block's norm, from its inputs and the host values of its affine
/// parameters and running statistics; `None` (no CPU-path op) for running statistics it lacks.
fn norm_spec<'a>(
    norm: Option<&NormInputs>,
    affine: &'a Option<Pair<'a>>,
    running: &'a Option<Pair<'a>>,
) -> Option<Option<NormSpec<'a>>> {
    Some(match (norm, affine) {
        (Some(p), Some((g, b))) => Some(NormSpec {
            stats: p
                .stats
                .for_kernels(running.as_ref().map(|(m, v)| (&m[..], &v[..])))?,
            eps: p.eps as f32,
            gamma: g,
            beta: b,
        }),
        _ => None,
    })
}

/// BatchNorm's new running statistics after a training batch: the old ones blended with the
/// batch's (`norm::Blend::apply`); `None` for other statistics.
fn blended<B: Host>(
    norm: Option<&NormInputs>,
    running: &Option<Pair<'_>>,
    batch_mean: &[f32],
    batch_var: &[f32],
) -> Option<RunningStats> {
    let (Some(NormStats::Batch(blend)), Some((rm, rv))) = (norm.map(|p| p.stats), running) else {
        return None;
    };
    let (mut mean, mut var) = (rm.to_vec(), rv.to_vec());
    blend.apply((&mut mean, &mut var), (batch_mean, batch_var));
    let m = batch_mean.len();
    Some((
        B::wrap(B::tensor(mean, &[m])),
        B::wrap(B::tensor(var, &[m])),
    ))
}

/// A block's tensors on backend `B`, autodiff or plain as its input is.
struct Args<B: Host> {
    x: Arg<B>,
    w: Arg<B>,
    bias: Option<Arg<B>>,
    /// `(gamma, beta)`, with a norm.
    norm: Option<(Arg<B>, Arg<B>)>,
    scale: Option<Arg<B>>,
}

impl<B: Host> Args<B> {
    /// The block's tensors, or `None` when one is not an `f32` tensor of `B`.
    fn of(
        x: &Tensor<2>,
        weight: &Tensor<2>,
        bias: Option<&Tensor<1>>,
        norm: Option<&NormInputs>,
        residual: Option<&ResidualInputs>,
        autodiff: bool,
    ) -> Option<Self> {
        let arg = |t: &Tensor<1>| Arg::<B>::of(t, autodiff);
        Some(Self {
            x: Arg::of(x, autodiff)?,
            w: Arg::of(weight, autodiff)?,
            bias: match bias {
                Some(b) => Some(arg(b)?),
                None => None,
            },
            norm: match norm {
                Some(p) => Some((arg(&p.gamma)?, arg(&p.beta)?)),
                None => None,
            },
            scale: match residual.and_then(|r| r.scale.as_ref()) {
                Some(s) => Some(arg(s)?),
                None => None,
            },
        })
    }

    /// The output `out` as a node of the autodiff graph over every tracked input, which keeps
    /// what [`BlockOp`] needs for the backward pass.
    fn track(&self, saved: BlockSaved<B>, out: FloatTensor<B>) -> Option<Tensor<2>> {
        let (Arg::Ad(x_ad), Arg::Ad(w_ad)) = (&self.x, &self.w) else {
            return None;
        };
        let ad = |a: &Arg<B>| match a {
            Arg::Ad(t) => Some(t.clone()),
            Arg::Plain(_) => None,
        };
        let mut list = vec![(x_ad.clone(), Input::X), (w_ad.clone(), Input::W)];
        if let Some(b) = &self.bias {
            list.push((ad(b)?, Input::Bias));
        }
        if let Some((g, b)) = &self.norm {
            list.push((ad(g)?, Input::Gamma));
            list.push((ad(b)?, Input::Beta));
        }
        if let Some(s) = &self.scale {
            list.push((ad(s)?, Input::Scale));
        }
        let saved = BlockSaved {
            inputs: list.iter().map(|(_, i)| *i).collect(),
            ..saved
        };
        let refs: Vec<&AdTensor<B>> = list.iter().map(|(t, _)| t).collect();
        let out = match refs.len() {
            2 => track(<[_; 2]>::try_from(refs).ok()?, saved, out),
            3 => track(<[_; 3]>::try_from(refs).ok()?, saved, out),
            4 => track(<[_; 4]>::try_from(refs).ok()?, saved, out),
            5 => track(<[_; 5]>::try_from(refs).ok()?, saved, out),
            _ => track(<[_; 6]>::try_from(refs).ok()?, saved, out),
        };
        Some(B::wrap_ad(out))
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
    let (tokens, (n, k, m)) = shape::<B>(x, ids, weight, bias, norm)?;
    let autodiff = B::ad(x).is_some();
    if !autodiff && B::plain(x).is_none() {
        return None;
    }
    let args = Args::<B>::of(x, weight, bias, norm, residual, autodiff)?;
    let running = match norm.and_then(|p| p.running.as_ref()) {
        Some((mean, var)) => Some((B::plain(mean)?, B::plain(var)?)),
        None => None,
    };
    let xs = B::values(args.x.inner())?;
    let ws = B::values(args.w.inner())?;
    let bs = match &args.bias {
        Some(b) => Some(B::values(b.inner())?),
        None => None,
    };
    let affine = match &args.norm {
        Some((g, b)) => Some((B::values(g.inner())?, B::values(b.inner())?)),
        None => None,
    };
    let stats_host = match &running {
        Some((rm, rv)) => Some((B::values(rm)?, B::values(rv)?)),
        None => None,
    };
    let scale = match &args.scale {
        Some(s) => Some(*B::values(s.inner())?.first()?),
        None => None,
    };
    let spec = norm_spec(norm, &affine, &stats_host)?;
    let saved_stats = spec.and(norm).map(|p| p.stats);
    let residual_k = residual.map(|_| Residual { scale });
    let [x_rows, x_cols] = x.dims();
    let input = match &tokens {
        None => BlockInput::Rows(View::rows(&xs, n, k)),
        Some((ids, positions)) => BlockInput::Tokens(Tokens {
            ids,
            positions: *positions,
            table: View::rows(&xs, x_rows, x_cols),
        }),
    };
    let fwd = makemore_kernels::block_forward(
        input,
        View::rows(&ws, k, m),
        bs.as_deref(),
        spec,
        act,
        residual_k,
        autodiff,
    );
    let new_running = blended::<B>(norm, &stats_host, &fwd.mean, &fwd.var);
    let out = B::tensor(fwd.y, &[n, m]);
    if !autodiff {
        return Some((B::wrap(out), new_running));
    }
    let saved = BlockSaved::<B> {
        x: args.x.inner().clone(),
        tokens,
        w: args.w.inner().clone(),
        norm: args
            .norm
            .as_ref()
            .zip(saved_stats)
            .zip(norm)
            .map(|(((g, _), st), p)| (g.inner().clone(), st, p.eps as f32)),
        residual: residual_k,
        kernel: fwd.saved,
        inputs: Vec::new(),
        dims: (n, k, m),
    };
    Some((args.track(saved, out)?, new_running))
}
