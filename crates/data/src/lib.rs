//! Corpus, vocabulary, splits, context windows and minibatch sampling.
//!
//! ```
//! use makemore_data::{Corpus, Vocabulary, Split, SplitFractions, Windows};
//!
//! let corpus = Corpus::from_text("emma\nolivia\nava\n", "inline", '.', None).unwrap();
//! let vocab = Vocabulary::from_items(&corpus.items, '.').unwrap();
//! assert_eq!(vocab.len(), 8); // the boundary plus a, e, i, l, m, o, v
//! let split = Split::python_shuffle(corpus.items.clone(), 42, SplitFractions::default()).unwrap();
//! let train = Windows::build(&split.train, &vocab, 3).unwrap();
//! assert_eq!(train.len(), split.train.iter().map(|w| w.chars().count() + 1).sum::<usize>());
//! ```
//!
//! This crate knows nothing of tensors or devices: windows are plain host vectors that the model
//! crate moves to a device once, and batch indices come from a host-side RNG so that a seed gives
//! the same batches on every backend.

#![warn(missing_docs)]

mod corpus;
mod pyrandom;
mod sampler;
mod split;
mod vocab;
mod windows;

pub use corpus::{Corpus, CorpusError, MAX_ITEM_CHARS};
pub use pyrandom::PyRandom;
pub use sampler::{BatchSampler, SamplerState};
pub use split::{Split, SplitError, SplitFractions};
pub use vocab::{Vocabulary, VocabularyError};
pub use windows::Windows;
