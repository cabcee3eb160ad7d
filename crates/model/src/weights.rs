//! The saved-model format: JSON with every tensor and a SHA-256 digest of their contents.

use crate::host::NamedTensor;
use makemore_files::Sha256Hex;
use serde::{Deserialize, Serialize};
use std::path::Path;

const FORMAT: &str = "makemore-weights-v1";

/// A saved model file.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WeightsFile {
    /// Always `makemore-weights-v1`.
    pub format: String,
    /// SHA-256 of the tensors (paths, shapes and little-endian f32 values), hex.
    pub sha256: String,
    /// The tensors.
    pub tensors: Vec<NamedTensor>,
}

/// Reading a saved model failed.
#[derive(Debug, thiserror::Error)]
pub enum WeightsError {
    /// Missing or unreadable.
    #[error("{path}: cannot read: {source}")]
    Io {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// Not valid JSON of the format (truncated, for instance).
    #[error("{path}: not a makemore model file ({message})")]
    Malformed {
        /// The file.
        path: String,
        /// The parser's message.
        message: String,
    },
    /// The digest does not match the contents.
    #[error(
        "{path}: checksum mismatch (the file is corrupted): expected {expected}, found {found}"
    )]
    Digest {
        /// The file.
        path: String,
        /// Recorded digest.
        expected: String,
        /// Digest of the contents.
        found: String,
    },
}

/// SHA-256 over paths, shapes and values, in order.
pub fn digest(tensors: &[NamedTensor]) -> String {
    let mut h = Sha256Hex::new();
    for t in tensors {
        h.update((t.path.len() as u64).to_le_bytes());
        h.update(t.path.as_bytes());
        h.update([u8::from(t.trainable)]);
        h.update((t.shape.len() as u64).to_le_bytes());
        for d in &t.shape {
            h.update((*d as u64).to_le_bytes());
        }
        for v in &t.data {
            h.update(v.to_le_bytes());
        }
    }
    h.finish()
}

impl WeightsFile {
    /// Wraps tensors with their digest.
    pub fn new(tensors: Vec<NamedTensor>) -> Self {
        Self {
            format: FORMAT.into(),
            sha256: digest(&tensors),
            tensors,
        }
    }

    /// Serializes to JSON.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("weights always serialize")
    }

    /// Parses and checks a file's text; `path` is for messages.
    pub fn from_json(text: &str, path: &str) -> Result<Self, WeightsError> {
        let f: WeightsFile = serde_json::from_str(text).map_err(|e| WeightsError::Malformed {
            path: path.into(),
            message: e.to_string(),
        })?;
        f.verify(path)
    }

    /// Checks the format tag and the digest of parsed contents; `path` is for messages.
    pub fn verify(self, path: &str) -> Result<Self, WeightsError> {
        let f = self;
        if f.format != FORMAT {
            return Err(WeightsError::Malformed {
                path: path.into(),
                message: format!("format {:?}, expected {FORMAT:?}", f.format),
            });
        }
        if let Some(t) = f
            .tensors
            .iter()
            .find(|t| t.data.iter().any(|v| !v.is_finite()))
        {
            return Err(WeightsError::Malformed {
                path: path.into(),
                message: format!(
                    "tensor {} holds a value that is not a finite number",
                    t.path
                ),
            });
        }
        let found = digest(&f.tensors);
        if found != f.sha256 {
            return Err(WeightsError::Digest {
                path: path.into(),
                expected: f.sha256,
                found,
            });
        }
        Ok(f)
    }

    /// Reads and checks a file.
    pub fn load(path: &Path) -> Result<Self, WeightsError> {
        let name = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| WeightsError::Io {
            path: name.clone(),
            source,
        })?;
        Self::from_json(&text, &name)
    }

    /// The tensors by path.
    pub fn by_path(&self) -> std::collections::HashMap<String, NamedTensor> {
        self.tensors
            .iter()
            .map(|t| (t.path.clone(), t.clone()))
            .collect()
    }
}
