//! [`Host`]: reading a CPU backend's tensors in place and making new ones from host vectors, for
//! `flex` and `ndarray` alike, so that the CPU kernels serve both.

use burn::backend::tensor::{FloatTensor, IntTensor};
use burn::backend::{Autodiff, Backend};
use burn::tensor::{Int, Tensor, TensorData};
use std::borrow::Cow;

/// A backend whose tensors live in host memory as plain `f32` / integer arrays.
pub(crate) trait Host: Backend {
    /// The values of an `f32` tensor, row-major, borrowed when they already are; `None` for
    /// another dtype.
    fn values(t: &FloatTensor<Self>) -> Option<Cow<'_, [f32]>>;
    /// The values of an `f32` tensor to write in place, row-major: its own storage when nothing
    /// else holds it, else a copy that `t` now holds alone (copy on write). `None` exactly where
    /// [`Host::values`] is `None`.
    fn values_mut(t: &mut FloatTensor<Self>) -> Option<&mut [f32]>;
    /// A tensor holding `data` with `shape`.
    fn tensor(data: Vec<f32>, shape: &[usize]) -> FloatTensor<Self>;
    /// The autodiff primitive of `t`, if it is an autodiff tensor on this backend.
    fn ad<const D: usize>(t: &Tensor<D>) -> Option<FloatTensor<Autodiff<Self>>>;
    /// The primitive of `t`, if it is a tensor of this backend without autodiff.
    fn plain<const D: usize>(t: &Tensor<D>) -> Option<FloatTensor<Self>>;
    /// An autodiff primitive as a tensor.
    fn wrap_ad<const D: usize>(t: FloatTensor<Autodiff<Self>>) -> Tensor<D>;
    /// A primitive as a tensor without autodiff.
    fn wrap<const D: usize>(t: FloatTensor<Self>) -> Tensor<D>;
    /// The values of an integer tensor (autodiff or not) as indices below `bound`; `None` when
    /// it is not on this backend or a value is out of range.
    fn ids(t: &Tensor<1, Int>, bound: usize) -> Option<Vec<usize>> {
        Self::int_values(&Self::int(t)?, bound)
    }
    /// The primitive of an integer tensor of this backend, autodiff or not.
    fn int(t: &Tensor<1, Int>) -> Option<IntTensor<Self>>;
    /// An integer primitive's values as indices below `bound`.
    fn int_values(t: &IntTensor<Self>, bound: usize) -> Option<Vec<usize>>;
}

/// `v` as an index below `bound`.
fn index(v: i64, bound: usize) -> Option<usize> {
    usize::try_from(v).ok().filter(|&v| v < bound)
}

/// The conversions between dispatch tensors and one backend's primitives, which differ only in
/// the backend's name.
macro_rules! conversions {
    ($b:ty) => {
        fn ad<const D: usize>(t: &Tensor<D>) -> Option<FloatTensor<Autodiff<Self>>> {
            t.clone().try_into_primitive::<Autodiff<$b>>().ok()
        }
        fn plain<const D: usize>(t: &Tensor<D>) -> Option<FloatTensor<Self>> {
            t.clone().try_into_primitive::<$b>().ok()
        }
        fn wrap_ad<const D: usize>(t: FloatTensor<Autodiff<Self>>) -> Tensor<D> {
            Tensor::from_primitive::<Autodiff<$b>>(t)
        }
        fn wrap<const D: usize>(t: FloatTensor<Self>) -> Tensor<D> {
            Tensor::from_primitive::<$b>(t)
        }
        fn int(t: &Tensor<1, Int>) -> Option<IntTensor<Self>> {
            t.clone()
                .try_into_primitive::<Autodiff<$b>>()
                .ok()
                .or_else(|| t.clone().try_into_primitive::<$b>().ok())
        }
    };
}

#[cfg(feature = "flex")]
impl Host for burn::backend::Flex {
    fn values(t: &FloatTensor<Self>) -> Option<Cow<'_, [f32]>> {
        if t.dtype() != burn::tensor::DType::F32 {
            return None;
        }
        let n = t.layout().num_elements();
        Some(if t.is_contiguous() && t.layout().start_offset() == 0 {
            Cow::Borrowed(&t.storage::<f32>()[..n])
        } else {
            Cow::Owned(t.to_contiguous().storage::<f32>()[..n].to_vec())
        })
    }

    fn values_mut(t: &mut FloatTensor<Self>) -> Option<&mut [f32]> {
        if t.dtype() != burn::tensor::DType::F32 {
            return None;
        }
        if !(t.is_contiguous() && t.layout().start_offset() == 0) {
            *t = t.to_contiguous();
        }
        let n = t.layout().num_elements();
        // `storage_mut` copies the buffer first when it is shared.
        Some(&mut t.storage_mut::<f32>()[..n])
    }

    fn tensor(data: Vec<f32>, shape: &[usize]) -> FloatTensor<Self> {
        burn::backend::flex::FlexTensor::from_data(TensorData::new(data, shape.to_vec()))
    }

    fn int_values(t: &IntTensor<Self>, bound: usize) -> Option<Vec<usize>> {
        let t = t.to_contiguous();
        let n = t.layout().num_elements();
        match t.dtype() {
            burn::tensor::DType::I64 => t.storage::<i64>()[..n]
                .iter()
                .map(|&v| index(v, bound))
                .collect(),
            burn::tensor::DType::I32 => t.storage::<i32>()[..n]
                .iter()
                .map(|&v| index(i64::from(v), bound))
                .collect(),
            _ => None,
        }
    }

    conversions!(burn::backend::Flex);
}

#[cfg(feature = "ndarray")]
#[allow(deprecated)] // Burn 0.22 deprecates ndarray, which the user may still ask for
impl Host for burn::backend::NdArray {
    fn values(t: &FloatTensor<Self>) -> Option<Cow<'_, [f32]>> {
        use burn::backend::ndarray::NdArrayTensor;
        let NdArrayTensor::F32(s) = t else {
            return None;
        };
        let view = s.view();
        Some(match view.to_slice() {
            Some(slice) => Cow::Borrowed(slice),
            None => Cow::Owned(view.iter().copied().collect()),
        })
    }

    fn values_mut(t: &mut FloatTensor<Self>) -> Option<&mut [f32]> {
        use burn::backend::ndarray::NdArrayTensor;
        let NdArrayTensor::F32(s) = t else {
            return None;
        };
        // Borrowed storage (a zero-copy load) becomes owned and a strided view row-major; an
        // owned array shared with another tensor is copied by `as_slice_mut`.
        let a = s.ensure_owned();
        if !a.is_standard_layout() {
            *a = a.as_standard_layout().into_owned().into_shared();
        }
        a.as_slice_mut()
    }

    fn tensor(data: Vec<f32>, shape: &[usize]) -> FloatTensor<Self> {
        burn::backend::ndarray::NdArrayTensor::from_data(TensorData::new(data, shape.to_vec()))
    }

    fn int_values(t: &IntTensor<Self>, bound: usize) -> Option<Vec<usize>> {
        use burn::backend::ndarray::NdArrayTensor;
        match t {
            NdArrayTensor::I64(s) => s.view().iter().map(|&v| index(v, bound)).collect(),
            NdArrayTensor::I32(s) => s
                .view()
                .iter()
                .map(|&v| index(i64::from(v), bound))
                .collect(),
            _ => None,
        }
    }

    conversions!(burn::backend::NdArray);
}
