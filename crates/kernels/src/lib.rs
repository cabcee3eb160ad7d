//! The CPU arithmetic of a makemore training step, on row-major `f32` slices: no Burn, no
//! tensors, no model. Anyone can call it; `makemore-model`'s `cpu` module connects it to Burn's
//! CPU backends.
//!
//! ```
//! use makemore_kernels::matmul::{product, View};
//!
//! // [2, 3] · [3, 2]
//! let a = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0];
//! let b = [1.0, 0.0, 0.0, 1.0, 1.0, 1.0];
//! let c = product(View::rows(&a, 2, 3), View::rows(&b, 3, 2));
//! assert_eq!(c, vec![4.0, 5.0, 10.0, 11.0]);
//! ```
//!
//! A block (`forward::block_forward`, `backward::block_backward`) is Linear -> norm ->
//! activation with an optional residual link, in one pass over its rows; `loss` is the
//! cross-entropy; `math::tanh_f32` the vectorizable tanh. Every pass gives the same values
//! however its rows are split over threads.
#![warn(missing_docs)]

pub mod backward;
pub mod block;
pub mod forward;
pub mod loss;
pub mod math;
pub mod matmul;
pub mod par;
pub mod stats;
mod tokens;

pub use backward::block_backward;
pub use block::groups_fit;
pub use block::{
    Act, BlockGrads, BlockInput, Forward, NormSpec, Residual, Saved, Stats, Tokens, Wanted,
};
pub use forward::block_forward;
pub use loss::{cross_entropy, nll_sum};
pub use matmul::{matmul_with, product, time_matmul};
pub use matmul::{View, PARALLEL_MIN_MACS};
pub use par::SUM_BLOCK_ROWS;
pub use par::{join_kernel_pool, simd, start_kernel_pool, PARALLEL_MIN_OUTPUTS};
