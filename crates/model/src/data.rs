//! A corpus made ready for a run: vocabulary, split and windows on the host (`Dataset`), then
//! moved to a device once (`DeviceWindows`), where minibatches are gathered.

use crate::budget::{training_needs, Budget};
use crate::config::{DataConfig, RunConfig};
use crate::error::RunError;
use burn::tensor::{Device, Int, Tensor, TensorData};
use makemore_data::{Corpus, Split, Vocabulary, Windows};
use std::path::Path;

/// A corpus turned into a vocabulary, a split and windows.
pub struct Dataset {
    /// The corpus.
    pub corpus: Corpus,
    /// Its vocabulary.
    pub vocab: Vocabulary,
    /// Items by split.
    pub split: Split,
    /// Windows of the train, val and test splits.
    pub windows: [Windows; 3],
}

/// What identifies the corpus a run was trained on: its items' digest and sizes.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct CorpusId {
    /// SHA-256 of the items (as read: trimmed, blank lines skipped), joined by newlines.
    pub sha256: String,
    /// Items.
    pub items: usize,
    /// Windows of the train, val and test splits.
    pub windows: [usize; 3],
}

impl std::fmt::Display for CorpusId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let [a, b, c] = self.windows;
        write!(
            f,
            "{} items, windows {a}/{b}/{c}, sha256 {}",
            self.items,
            &self.sha256[..self.sha256.len().min(12)]
        )
    }
}

/// The split names, in [`Dataset::windows`] order.
pub const SPLITS: [&str; 3] = ["train", "val", "test"];

impl Dataset {
    /// Loads `path` and prepares it for contexts of `block_size`.
    pub fn load(path: &Path, data: &DataConfig, block_size: usize) -> Result<Self, RunError> {
        let corpus = Corpus::load(path, data.boundary, None)?;
        Self::from_corpus(corpus, data, block_size)
    }

    /// Loads `path` for a run of `cfg`, refusing (before building any window) a config whose
    /// model, batches or windows would not fit in `budget`.
    pub fn for_run(path: &Path, cfg: &RunConfig, budget: &Budget) -> Result<Self, RunError> {
        let corpus = Corpus::load(path, cfg.data.boundary, None)?;
        let vocab = Vocabulary::from_items(&corpus.items, cfg.data.boundary)?;
        let windows = corpus.total_chars().saturating_add(corpus.items.len()); // a window per character, one per item end
        budget.check(&training_needs(cfg, vocab.len(), windows))?;
        Self::with_vocab(corpus, vocab, &cfg.data, cfg.model.block_size)
    }

    /// What identifies this corpus (and its split).
    pub fn id(&self) -> CorpusId {
        let mut h = makemore_files::Sha256Hex::new();
        for (i, item) in self.corpus.items.iter().enumerate() {
            if i > 0 {
                h.update(b"\n");
            }
            h.update(item.as_bytes());
        }
        CorpusId {
            sha256: h.finish(),
            items: self.corpus.items.len(),
            windows: [0, 1, 2].map(|i| self.windows[i].len()),
        }
    }

    /// Prepares an already loaded corpus.
    pub fn from_corpus(
        corpus: Corpus,
        data: &DataConfig,
        block_size: usize,
    ) -> Result<Self, RunError> {
        let vocab = Vocabulary::from_items(&corpus.items, data.boundary)?;
        Self::with_vocab(corpus, vocab, data, block_size)
    }

    /// Prepares a corpus with a given vocabulary (a saved run's).
    pub fn with_vocab(
        corpus: Corpus,
        vocab: Vocabulary,
        data: &DataConfig,
        block_size: usize,
    ) -> Result<Self, RunError> {
        let split = Split::python_shuffle(corpus.items.clone(), data.split_seed, data.split)?;
        let windows = [&split.train, &split.val, &split.test]
            .map(|items| Windows::build(items, &vocab, block_size));
        let [a, b, c] = windows;
        Ok(Self {
            corpus,
            vocab,
            split,
            windows: [a?, b?, c?],
        })
    }
}

/// A split's windows as integer tensors on one device.
#[derive(Clone)]
pub struct DeviceWindows {
    /// `[len, block_size]` context token ids.
    pub contexts: Tensor<2, Int>,
    /// `[len]` target token ids.
    pub targets: Tensor<1, Int>,
    /// Number of windows.
    pub len: usize,
    /// The same windows on the host, where a host training step gathers its minibatch (the
    /// training split's only: see [`DeviceWindows::for_training`]).
    host: Option<std::sync::Arc<Windows>>,
}

impl DeviceWindows {
    /// Uploads `w` to `device`.
    pub fn new(w: &Windows, device: &Device) -> Self {
        let len = w.len();
        let ctx: Vec<i64> = w.contexts.iter().map(|&v| i64::from(v)).collect();
        let tgt: Vec<i64> = w.targets.iter().map(|&v| i64::from(v)).collect();
        Self {
            contexts: Tensor::from_data(TensorData::new(ctx, [len, w.block_size]), device),
            targets: Tensor::from_data(TensorData::new(tgt, [len]), device),
            len,
            host: None,
        }
    }

    /// Uploads `w` to `device` and, with a CPU backend compiled in, keeps a copy on the host,
    /// where a host training step gathers its minibatches (`Trainer::step`).
    pub fn for_training(w: &Windows, device: &Device) -> Self {
        let mut out = Self::new(w, device);
        // Only a backend whose tensors live in host memory (flex, ndarray) takes host steps.
        if crate::backend::host_memory(device) {
            out.host = Some(std::sync::Arc::new(w.clone()));
        }
        out
    }

    /// Whether the windows have a host copy ([`DeviceWindows::for_training`]).
    pub(crate) fn has_host(&self) -> bool {
        self.host.is_some()
    }

    /// Gathers the rows `indices` on the host as token ids into `ids` (`[batch * block_size]`,
    /// row-major) and `targets` (`[batch]`), the values [`DeviceWindows::gather`] puts on the
    /// device; nothing without a host copy ([`DeviceWindows::has_host`]).
    pub(crate) fn gather_host(
        &self,
        indices: &[i64],
        ids: &mut Vec<usize>,
        targets: &mut Vec<usize>,
    ) {
        ids.clear();
        targets.clear();
        let Some(w) = self.host.as_deref() else {
            return;
        };
        let bs = w.block_size;
        for &i in indices {
            let i = usize::try_from(i).expect("the sampler draws indices below len");
            ids.extend(w.contexts[i * bs..(i + 1) * bs].iter().map(|&t| t as usize));
            targets.push(w.targets[i] as usize);
        }
    }

    /// Gathers the rows `indices` on the device: `([batch, block_size], [batch])`.
    pub fn gather(&self, indices: &[i64]) -> (Tensor<2, Int>, Tensor<1, Int>) {
        let device = self.targets.device();
        let idx = Tensor::<1, Int>::from_data(
            TensorData::new(indices.to_vec(), [indices.len()]),
            &device,
        );
        (
            self.contexts.clone().select(0, idx.clone()),
            self.targets.clone().select(0, idx),
        )
    }

    /// Rows `start..end`.
    pub fn slice(&self, start: usize, end: usize) -> (Tensor<2, Int>, Tensor<1, Int>) {
        (
            self.contexts.clone().slice(start..end),
            self.targets.clone().slice(start..end),
        )
    }
}
