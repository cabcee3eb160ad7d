//! An optimizer's step on a CPU backend's tensors, in place on the host.

use super::{cpu_kernels, Host};
use burn::backend::tensor::FloatTensor;
use burn::tensor::Tensor;

/// An optimizer's rule on host values, as [`crate::optim::step_host`] takes them:
/// `(p, grad, buffers, fresh, delta)`, updating `p` and the buffers in place.
pub(crate) type HostRule<'a> =
    &'a dyn Fn(&mut [f32], &[f32], &mut [&mut [f32]], bool, Option<&mut [f32]>);

/// What [`host_update`] returns: the parameter's new value and (when recording) its update, as
/// tensors on the parameter's backend.
pub(crate) struct Updated<const D: usize> {
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
) -> Result<Updated<D>, Tensor<D>> {
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
    Done(Updated<D>),
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
    Attempt::Done(Updated {
        value: B::wrap(p),
        delta: delta.map(|d| B::wrap(B::tensor(d, &[n]))),
    })
}
