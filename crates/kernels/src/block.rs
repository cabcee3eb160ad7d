//! The shapes of one block's work: its input, norm, residual link and activation, and what its passes return.

use crate::matmul::View;

/// The nonlinearities the CPU block computes itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Act {
    /// `tanh`, by [`crate::math::tanh_f32`].
    Tanh,
    /// None (the output layer).
    Identity,
}

/// Whether `groups` equal groups of features split a width of `width`: the GroupNorm the
/// kernels take (others are left to Burn's ops, which refuse them).
pub fn groups_fit(groups: usize, width: usize) -> bool {
    groups > 0 && width.is_multiple_of(groups)
}

/// Which statistics a block's normalization uses.
#[derive(Debug, Clone, Copy)]
pub enum Stats<'a> {
    /// Per feature over the batch (BatchNorm in training, and without running statistics).
    Batch,
    /// Per feature, given: BatchNorm in evaluation (running mean and unbiased variance).
    Fixed {
        /// `[m]` mean.
        mean: &'a [f32],
        /// `[m]` variance.
        var: &'a [f32],
    },
    /// Per row, over each of this many equal groups of features (GroupNorm; 1 is LayerNorm).
    Groups(usize),
}

/// A block's normalization: `(h - mean) / sqrt(var + eps) * gamma + beta`, biased variances.
#[derive(Debug, Clone, Copy)]
pub struct NormSpec<'a> {
    /// Which statistics.
    pub stats: Stats<'a>,
    /// Added to the variance.
    pub eps: f32,
    /// `[m]` scale (ones without `affine`).
    pub gamma: &'a [f32],
    /// `[m]` shift (zeros without `affine`).
    pub beta: &'a [f32],
}

/// A residual link around a block (`k == m`): `y = x + scale * act(norm(x · w + bias))`.
#[derive(Debug, Clone, Copy)]
pub struct Residual {
    /// The learned scale, when the block has one (1 otherwise).
    pub scale: Option<f32>,
}

/// A block's input given as token ids into an embedding table instead of dense rows: row `i`
/// of the input is `table[ids[i * positions]] ++ ... ++ table[ids[i * positions + positions - 1]]`.
#[derive(Clone, Copy)]
pub struct Tokens<'a> {
    /// `[n, positions]` row-major ids, each below `table.rows`.
    pub ids: &'a [usize],
    /// Ids per row (the context length).
    pub positions: usize,
    /// `[vocab, n_embd]` row-major embedding table.
    pub table: View<'a>,
}

/// What a block's Linear multiplies.
#[derive(Clone, Copy)]
pub enum BlockInput<'a> {
    /// `[n, k]` row-major rows.
    Rows(View<'a>),
    /// Embedding rows, never gathered: `x · w` is a sum over positions of rows of the tables
    /// `table · w_p` (`w_p` the `n_embd` rows of `w` that position `p` meets), `[vocab, m]`
    /// each. The tables cost as much as `vocab` rows of the dense product (`positions` products
    /// of `vocab` rows by `n_embd`) where the dense product costs `n` rows; the backward pass
    /// likewise sums `dh` by token before its products.
    Tokens(Tokens<'a>),
}

impl BlockInput<'_> {
    /// `(n, k)`: rows and width of the input as dense rows.
    pub fn dims(&self) -> (usize, usize) {
        match self {
            BlockInput::Rows(x) => (x.rows, x.cols),
            BlockInput::Tokens(t) => (t.ids.len() / t.positions.max(1), t.positions * t.table.cols),
        }
    }
}

/// Everything the backward pass needs from the forward pass of one block.
#[derive(Debug, Default)]
pub struct Saved {
    /// `[n, m]` normalized pre-activations (empty without norm).
    pub xhat: Vec<f32>,
    /// `1 / sqrt(var + eps)`: `[m]` per feature, or `[n, groups]` per row and group (empty
    /// without norm).
    pub inv_std: Vec<f32>,
    /// `[n, m]` derivative of the activation at its input (empty for identity).
    pub dact: Vec<f32>,
    /// `[n, m]` the residual branch before its scale (kept only for a learned scale).
    pub branch: Vec<f32>,
}

/// What one block's forward pass produces.
pub struct Forward {
    /// `[n, m]` the block's output.
    pub y: Vec<f32>,
    /// `[m]` batch mean and biased variance of the Linear's output (BatchNorm's batch
    /// statistics only; empty otherwise).
    pub mean: Vec<f32>,
    /// See `mean`.
    pub var: Vec<f32>,
    /// For the backward pass.
    pub saved: Saved,
}

/// Which gradients a backward pass must produce.
#[derive(Debug, Clone, Copy, Default)]
pub struct Wanted {
    /// The gradient with respect to the block's input.
    pub x: bool,
    /// ... to the Linear's weight.
    pub w: bool,
    /// ... to the Linear's bias.
    pub bias: bool,
    /// ... to the norm's gain.
    pub gamma: bool,
    /// ... to the norm's shift.
    pub beta: bool,
    /// ... to the residual link's learned scale.
    pub scale: bool,
}

/// Gradients of one block (each `None` when not wanted).
#[derive(Default)]
pub struct BlockGrads {
    /// `[n, k]` with respect to the input rows (or the embedding table for token input).
    pub x: Option<Vec<f32>>,
    /// `[k, m]` with respect to the Linear's weight.
    pub w: Option<Vec<f32>>,
    /// `[m]` with respect to the Linear's bias.
    pub bias: Option<Vec<f32>>,
    /// `[m]` with respect to the norm's gain.
    pub gamma: Option<Vec<f32>>,
    /// `[m]` with respect to the norm's shift.
    pub beta: Option<Vec<f32>>,
    /// `[1]` with respect to the residual link's learned scale.
    pub scale: Option<Vec<f32>>,
}
