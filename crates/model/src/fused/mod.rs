//! Fused training ops for Burn's `flex` backend: a hidden block (Linear -> BatchNorm ->
//! activation) is one autodiff node, and so is the cross-entropy, each computed on the host with
//! a hand-written backward pass.
//!
//! Why: a training step of the lecture's models is tiny arithmetic (2.2 MFLOP for `bn1`) spread
//! over about a hundred Burn ops per step, and on a CPU backend each op's fixed cost (an
//! allocation, a graph node, a dispatch, BatchNorm's transposes) outweighs its arithmetic. Here a
//! block costs three matrix products (by the same `gemm` crate flex uses) and a few vectorized
//! passes; README, Performance, has the profile and the figures.
//!
//! Every function returns `None` (having changed nothing) when its tensors are not `f32` autodiff
//! tensors on flex, and the caller then runs the same layer with Burn's ops: results agree to
//! float rounding (tests below; `cargo xtask compare` checks flex against ndarray, which never
//! takes this path, on every CI run).

mod kernel;

pub(crate) use kernel::Act;

use crate::norm::{NormInputs, RunningStats};
use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::NoCheckpointing;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::flex::FlexTensor;
use burn::backend::{Autodiff, Flex};
use burn::tensor::{DType, Int, Tensor, TensorData};
use kernel::{View, Wanted};
use std::borrow::Cow;
use std::sync::Arc;

type Ad = Autodiff<Flex>;
type AdTensor = burn::backend::tensor::FloatTensor<Ad>;

/// A flex tensor's `f32` values, row-major, borrowed when they already are.
fn host(t: &FlexTensor) -> Option<Cow<'_, [f32]>> {
    if t.dtype() != DType::F32 {
        return None;
    }
    let n = t.layout().num_elements();
    Some(if t.is_contiguous() && t.layout().start_offset() == 0 {
        Cow::Borrowed(&t.storage::<f32>()[..n])
    } else {
        Cow::Owned(t.to_contiguous().storage::<f32>()[..n].to_vec())
    })
}

/// A flex tensor holding `data`.
fn flex(data: Vec<f32>, shape: &[usize]) -> FlexTensor {
    FlexTensor::from_data(TensorData::new(data, shape.to_vec()))
}

/// The autodiff primitive of `t`, if it is an autodiff tensor on flex.
fn ad<const D: usize>(t: &Tensor<D>) -> Option<AdTensor> {
    t.clone().try_into_primitive::<Ad>().ok()
}

/// A flex tensor's integer values as indices below `bound`.
fn indices(t: &FlexTensor, bound: usize) -> Option<Vec<usize>> {
    let t = t.to_contiguous();
    let n = t.layout().num_elements();
    let ok = |v: i64| usize::try_from(v).ok().filter(|&v| v < bound);
    match t.dtype() {
        DType::I64 => t.storage::<i64>()[..n].iter().map(|&v| ok(v)).collect(),
        DType::I32 => t.storage::<i32>()[..n]
            .iter()
            .map(|&v| ok(i64::from(v)))
            .collect(),
        _ => None,
    }
}

/// Which input of a block a graph parent is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Input {
    X,
    W,
    Bias,
    Gamma,
    Beta,
}

#[derive(Debug)]
struct BlockSaved {
    x: FlexTensor,
    w: FlexTensor,
    gamma: Option<FlexTensor>,
    kernel: kernel::Saved,
    inputs: Vec<Input>,
    /// `(n, k, m)`: batch, fan-in, width.
    dims: (usize, usize, usize),
}

/// The backward pass of a block with `N` tracked inputs.
#[derive(Debug)]
struct BlockOp<const N: usize>;

impl<const N: usize> Backward<Flex, N> for BlockOp<N> {
    type State = Arc<BlockSaved>;

    fn backward(self, ops: Ops<Self::State, N>, grads: &mut Gradients, _: &mut Checkpointer) {
        let s = &ops.state;
        let (n, k, m) = s.dims;
        let dy = grads.consume::<Flex>(&ops.node);
        let (Some(dy), Some(x), Some(w)) = (host(&dy), host(&s.x), host(&s.w)) else {
            unreachable!("the forward pass checked every tensor is f32");
        };
        let gamma = s
            .gamma
            .as_ref()
            .map(|g| host(g).expect("checked f32 in the forward pass"));
        let mut wanted = Wanted::default();
        for (parent, input) in ops.parents.iter().zip(&s.inputs) {
            let flag = match input {
                Input::X => &mut wanted.x,
                Input::W => &mut wanted.w,
                Input::Bias => &mut wanted.bias,
                Input::Gamma => &mut wanted.gamma,
                Input::Beta => &mut wanted.beta,
            };
            *flag = parent.is_some();
        }
        let mut g = kernel::block_backward(
            &dy,
            View::rows(&x, n, k),
            View::rows(&w, k, m),
            gamma.as_deref(),
            &s.kernel,
            wanted,
        );
        for (parent, input) in ops.parents.into_iter().zip(&s.inputs) {
            let Some(node) = parent else { continue };
            let (grad, shape) = match input {
                Input::X => (g.x.take(), vec![n, k]),
                Input::W => (g.w.take(), vec![k, m]),
                Input::Bias => (g.bias.take(), vec![m]),
                Input::Gamma => (g.gamma.take(), vec![m]),
                Input::Beta => (g.beta.take(), vec![m]),
            };
            if let Some(grad) = grad {
                grads.register::<Flex>(node.id, flex(grad, &shape));
            }
        }
    }
}

/// Adds the block's node to the graph, with `inputs` as its parents.
fn track<const N: usize>(
    inputs: [(&AdTensor, Input); N],
    saved: BlockSaved,
    out: FlexTensor,
) -> AdTensor {
    let nodes = inputs.map(|(t, _)| t.node());
    match BlockOp::<N>
        .prepare::<NoCheckpointing>(nodes)
        .compute_bound()
        .stateful()
    {
        OpsKind::Tracked(prep) => prep.finish(Arc::new(saved), out),
        OpsKind::UnTracked(prep) => prep.finish(out),
    }
}

/// `act(batch_norm(x · weight + bias))` for `[n, k]` `x` and `[k, m]` `weight`, as one autodiff
/// node, with BatchNorm in training mode: normalized with the batch's statistics (biased
/// variance), and the new running statistics returned (the batch variance made unbiased, as
/// PyTorch does). `None` when the inputs are not autodiff `f32` tensors on flex.
pub(crate) fn block_train(
    x: &Tensor<2>,
    weight: &Tensor<2>,
    bias: Option<&Tensor<1>>,
    norm: Option<&NormInputs>,
    act: Act,
) -> Option<(Tensor<2>, Option<RunningStats>)> {
    let [n, k] = x.dims();
    let [_, m] = weight.dims();
    let x_ad = ad(x)?;
    let w_ad = ad(weight)?;
    let bias_ad = bias.map(ad).map_or(Some(None), |b| b.map(Some))?;
    let norm_ad = match norm {
        Some(p) => Some((
            ad(&p.gamma)?,
            ad(&p.beta)?,
            p.running_mean.clone().try_into_primitive::<Flex>().ok()?,
            p.running_var.clone().try_into_primitive::<Flex>().ok()?,
        )),
        None => None,
    };
    let xs = host(x_ad.primitive())?;
    let ws = host(w_ad.primitive())?;
    let bs = match &bias_ad {
        Some(b) => Some(host(b.primitive())?),
        None => None,
    };
    let affine = match &norm_ad {
        Some((g, b, rm, rv)) => Some((
            host(g.primitive())?,
            host(b.primitive())?,
            host(rm)?,
            host(rv)?,
        )),
        None => None,
    };
    let spec = norm.map(|p| kernel::NormSpec { eps: p.eps as f32 });
    let fwd = kernel::block_forward(
        View::rows(&xs, n, k),
        View::rows(&ws, k, m),
        bs.as_deref(),
        spec.zip(affine.as_ref())
            .map(|(s, (g, b, _, _))| (s, &g[..], &b[..])),
        act,
    );
    let running = match (norm, &affine) {
        (Some(p), Some((_, _, rm, rv))) => {
            let keep = p.blend.keep as f32;
            let blend = |old: &[f32], batch: &[f32], weight: f64| -> Tensor<1> {
                let weight = weight as f32;
                let v = old.iter().zip(batch).map(|(&o, &b)| o * keep + b * weight);
                Tensor::from_primitive::<Flex>(flex(v.collect(), &[m]))
            };
            Some((
                blend(rm, &fwd.mean, p.blend.mean),
                blend(rv, &fwd.var, p.blend.var),
            ))
        }
        _ => None,
    };
    let mut list = vec![(&x_ad, Input::X), (&w_ad, Input::W)];
    if let Some(b) = &bias_ad {
        list.push((b, Input::Bias));
    }
    if let Some((g, b, ..)) = &norm_ad {
        list.push((g, Input::Gamma));
        list.push((b, Input::Beta));
    }
    let saved = BlockSaved {
        x: x_ad.primitive().clone(),
        w: w_ad.primitive().clone(),
        gamma: norm_ad.as_ref().map(|(g, ..)| g.primitive().clone()),
        kernel: fwd.saved,
        inputs: list.iter().map(|&(_, i)| i).collect(),
        dims: (n, k, m),
    };
    let out = flex(fwd.y, &[n, m]);
    let out = match list.len() {
        2 => track(<[_; 2]>::try_from(list).ok()?, saved, out),
        3 => track(<[_; 3]>::try_from(list).ok()?, saved, out),
        4 => track(<[_; 4]>::try_from(list).ok()?, saved, out),
        _ => track(<[_; 5]>::try_from(list).ok()?, saved, out),
    };
    Some((Tensor::from_primitive::<Ad>(out), running))
}

/// The backward pass of the cross-entropy: the saved `(softmax - onehot) / n`.
#[derive(Debug)]
struct CrossEntropyOp;

impl Backward<Flex, 1> for CrossEntropyOp {
    type State = Arc<(Vec<f32>, [usize; 2])>;

    fn backward(self, ops: Ops<Self::State, 1>, grads: &mut Gradients, _: &mut Checkpointer) {
        let [Some(node)] = ops.parents else { return };
        let upstream = grads.consume::<Flex>(&ops.node);
        let Some(&scale) = host(&upstream).as_deref().and_then(<[f32]>::first) else {
            unreachable!("the gradient of the f32 [1] loss is an f32 [1] tensor");
        };
        let (grad, shape) = &*ops.state;
        let grad = grad.iter().map(|&g| g * scale).collect();
        grads.register::<Flex>(node.id, flex(grad, shape));
    }
}

/// Mean cross-entropy of `[n, v]` autodiff logits against `[n]` targets as one autodiff node,
/// a `[1]` tensor. `None` when the logits are not autodiff `f32` tensors on flex (or a target is
/// out of range: Burn's own ops then report it).
pub(crate) fn cross_entropy(logits: &Tensor<2>, targets: &Tensor<1, Int>) -> Option<Tensor<1>> {
    let [n, v] = logits.dims();
    let l_ad = ad(logits)?;
    let t = targets.clone().try_into_primitive::<Ad>().ok()?;
    let t = indices(&t, v)?;
    if t.len() != n || n == 0 {
        return None;
    }
    let (loss, grad) = kernel::cross_entropy(&host(l_ad.primitive())?, &t, v);
    let out = flex(vec![loss], &[1]);
    let out = match CrossEntropyOp
        .prepare::<NoCheckpointing>([l_ad.node()])
        .compute_bound()
        .stateful()
    {
        OpsKind::Tracked(prep) => prep.finish(Arc::new((grad, [n, v])), out),
        OpsKind::UnTracked(prep) => prep.finish(out),
    };
    Some(Tensor::from_primitive::<Ad>(out))
}

#[cfg(test)]
mod tests {
    //! Each fused op against the same computation in Burn's own ops on flex.
    use super::*;
    use crate::BackendKind;
    use burn::tensor::{activation, Device, Distribution};

    fn device() -> Device {
        BackendKind::Flex
            .device()
            .expect("flex is compiled in")
            .autodiff()
    }

    fn leaf<const D: usize>(shape: [usize; D], device: &Device) -> Tensor<D> {
        Tensor::<D>::random(shape, Distribution::Normal(0.0, 1.0), device).require_grad()
    }

    fn values<const D: usize>(t: Tensor<D>) -> Vec<f32> {
        crate::host::to_host(t.without_autodiff())
    }

    fn assert_close(what: &str, a: &[f32], b: &[f32]) {
        assert_eq!(a.len(), b.len(), "{what}: lengths");
        for (i, (x, y)) in a.iter().zip(b).enumerate() {
            let tol = 2e-5 * (1.0 + x.abs().max(y.abs()));
            assert!((x - y).abs() <= tol, "{what}[{i}]: fused {x} vs Burn {y}");
        }
    }

    /// Burn's ops: Linear, BatchNorm (training mode, biased variance), activation.
    fn reference(
        x: Tensor<2>,
        w: Tensor<2>,
        b: Option<Tensor<1>>,
        norm: Option<(Tensor<1>, Tensor<1>, f64)>,
        act: Act,
    ) -> (Tensor<2>, Option<(Tensor<1>, Tensor<1>)>) {
        let mut h = x.matmul(w);
        if let Some(b) = b {
            h = h.add(b.unsqueeze());
        }
        let mut stats = None;
        if let Some((gamma, beta, eps)) = norm {
            let out = burn::tensor::module::batch_norm_train(h, gamma, beta, eps);
            stats = Some((out.mean, out.variance));
            h = out.output;
        }
        let y = match act {
            Act::Tanh => activation::tanh(h),
            Act::Identity => h,
        };
        (y, stats)
    }

    #[test]
    fn a_fused_block_matches_burns_ops_in_values_gradients_and_running_statistics() {
        let device = device();
        let (n, k, m) = (32, 30, 20);
        for (bias, norm, act) in [
            (false, true, Act::Tanh),
            (true, false, Act::Tanh),
            (true, true, Act::Identity),
            (false, false, Act::Identity),
        ] {
            let case = format!("bias {bias}, norm {norm}, {act:?}");
            let x = leaf([n, k], &device);
            let w = leaf([k, m], &device)
                .mul_scalar(0.3)
                .detach()
                .require_grad();
            let b = bias.then(|| leaf([m], &device));
            let gamma = leaf([m], &device);
            let beta = leaf([m], &device);
            let running_mean = Tensor::<1>::random([m], Distribution::Default, &device);
            let running_var = Tensor::<1>::random([m], Distribution::Default, &device);
            let inputs = NormInputs {
                gamma: gamma.clone(),
                beta: beta.clone(),
                running_mean: running_mean.clone().without_autodiff(),
                running_var: running_var.clone().without_autodiff(),
                eps: 1e-5,
                blend: crate::norm::Blend {
                    keep: 0.9,
                    mean: 0.1,
                    var: 0.1 * n as f64 / (n as f64 - 1.0),
                },
            };
            let (y, running) = block_train(&x, &w, b.as_ref(), norm.then_some(&inputs), act)
                .expect("autodiff f32 tensors on flex take the fused path");
            let (y_ref, stats) = reference(
                x.clone(),
                w.clone(),
                b.clone(),
                norm.then(|| (gamma.clone(), beta.clone(), 1e-5)),
                act,
            );
            assert_close(
                &format!("{case}: output"),
                &values(y.clone()),
                &values(y_ref.clone()),
            );
            // A loss that weighs every output differently, so every gradient path is exercised.
            let weights = Tensor::<2>::random([n, m], Distribution::Normal(0.0, 1.0), &device);
            let g = y.mul(weights.clone()).sum().backward();
            let g_ref = y_ref.mul(weights).sum().backward();
            let grad = |t: &Tensor<2>, g| values(t.grad(g).expect("a gradient"));
            assert_close(&format!("{case}: dx"), &grad(&x, &g), &grad(&x, &g_ref));
            assert_close(&format!("{case}: dw"), &grad(&w, &g), &grad(&w, &g_ref));
            let grad1 = |t: &Tensor<1>, g| values(t.grad(g).expect("a gradient"));
            if let Some(b) = &b {
                assert_close(&format!("{case}: db"), &grad1(b, &g), &grad1(b, &g_ref));
            }
            if norm {
                assert_close(
                    &format!("{case}: dgamma"),
                    &grad1(&gamma, &g),
                    &grad1(&gamma, &g_ref),
                );
                assert_close(
                    &format!("{case}: dbeta"),
                    &grad1(&beta, &g),
                    &grad1(&beta, &g_ref),
                );
                let (mean, var) = stats.expect("batch statistics");
                let (new_mean, new_var) = running.expect("running statistics");
                let unbiased = n as f64 / (n as f64 - 1.0);
                let expect_mean = running_mean.mul_scalar(0.9).add(mean.mul_scalar(0.1));
                let expect_var = running_var
                    .mul_scalar(0.9)
                    .add(var.mul_scalar(0.1 * unbiased));
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
            } else {
                assert!(running.is_none());
            }
        }
    }

    #[test]
    fn fused_cross_entropy_matches_burns_ops_and_propagates_nan() {
        let device = device();
        let (n, v) = (32, 27);
        let logits = leaf([n, v], &device)
            .mul_scalar(3.0)
            .detach()
            .require_grad();
        let targets = Tensor::<1, Int>::from_data(
            TensorData::new((0..n as i64).map(|i| (i * 7) % v as i64).collect(), [n]),
            &device,
        );
        let loss = cross_entropy(&logits, &targets).expect("fused on flex");
        let reference = activation::log_softmax(logits.clone(), 1)
            .gather(1, targets.clone().reshape([n, 1]))
            .mean()
            .neg();
        assert_close("loss", &values(loss.clone()), &values(reference.clone()));
        let g = loss.mul_scalar(2.0).backward();
        let g_ref = reference.mul_scalar(2.0).backward();
        let grad = |g| values(logits.grad(g).expect("a gradient"));
        assert_close("dlogits", &grad(&g), &grad(&g_ref));

        let mut bad = values(logits.clone());
        bad[5] = f32::NAN;
        let bad = Tensor::<2>::from_data(TensorData::new(bad, [n, v]), &device).require_grad();
        let loss = cross_entropy(&bad, &targets).expect("fused on flex");
        assert!(values(loss)[0].is_nan(), "a NaN logit makes the loss NaN");

        let out_of_range =
            Tensor::<1, Int>::from_data(TensorData::new(vec![v as i64; n], [n]), &device);
        assert!(
            cross_entropy(&logits, &out_of_range).is_none(),
            "left to Burn's checks"
        );
    }

    #[test]
    fn tensors_off_flex_or_without_autodiff_are_left_to_burns_ops() {
        let plain = BackendKind::Flex.device().expect("flex");
        let x = Tensor::<2>::zeros([4, 3], &plain);
        let w = Tensor::<2>::zeros([3, 2], &plain);
        assert!(block_train(&x, &w, None, None, Act::Tanh).is_none());
        #[cfg(feature = "ndarray")]
        {
            let nd = BackendKind::Ndarray.device().expect("ndarray").autodiff();
            let x = Tensor::<2>::zeros([4, 3], &nd).require_grad();
            let w = Tensor::<2>::zeros([3, 2], &nd).require_grad();
            assert!(block_train(&x, &w, None, None, Act::Tanh).is_none());
        }
    }
}
