//! The cross-entropy as one autodiff node on a CPU backend, and evaluation's loss sum.

use super::{cpu_kernels, Host};
use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::NoCheckpointing;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::tensor::{Int, Tensor};
use std::sync::Arc;

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
    let (loss, grad) = makemore_kernels::cross_entropy(&B::values(l_ad.primitive())?, &t, v);
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
    Some(makemore_kernels::nll_sum(&B::values(&l)?, &t, v))
}
