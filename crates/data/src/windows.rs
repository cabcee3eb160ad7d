//! Context windows and their targets, built from items and a vocabulary.

use crate::{Vocabulary, VocabularyError};

/// Context windows and their targets, as the lecture builds them: each item starts with
/// `block_size` boundary tokens of context, and gives one window per character plus one for the
/// closing boundary.
///
/// ```
/// use makemore_data::{Vocabulary, Windows};
/// let items = vec!["ab".to_string()];
/// let v = Vocabulary::from_items(&items, '.').unwrap();
/// let w = Windows::build(&items, &v, 2).unwrap();
/// assert_eq!(w.contexts, [0, 0,  0, 1,  1, 2]); // "..", ".a", "ab"
/// assert_eq!(w.targets, [1, 2, 0]);             //  a ,  b ,  .
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Windows {
    /// Context length.
    pub block_size: usize,
    /// `len() * block_size` token indices, row-major.
    pub contexts: Vec<u32>,
    /// One target token per window.
    pub targets: Vec<u32>,
}

impl Windows {
    /// Builds the windows of `items` with contexts of `block_size` tokens.
    pub fn build(
        items: &[String],
        vocab: &Vocabulary,
        block_size: usize,
    ) -> Result<Self, VocabularyError> {
        let mut contexts = Vec::new();
        let mut targets = Vec::new();
        let mut ctx = vec![0u32; block_size];
        for item in items {
            ctx.iter_mut().for_each(|c| *c = 0);
            for ix in vocab.encode(item)?.into_iter().chain(std::iter::once(0)) {
                contexts.extend_from_slice(&ctx);
                targets.push(ix);
                if block_size > 0 {
                    ctx.rotate_left(1);
                    ctx[block_size - 1] = ix;
                }
            }
        }
        Ok(Self {
            block_size,
            contexts,
            targets,
        })
    }

    /// Number of windows.
    pub fn len(&self) -> usize {
        self.targets.len()
    }

    /// True when there are no windows.
    pub fn is_empty(&self) -> bool {
        self.targets.is_empty()
    }
}
