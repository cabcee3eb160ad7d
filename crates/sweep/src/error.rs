//! What can go wrong in a sweep.

use std::path::PathBuf;

/// A sweep failed.
#[derive(Debug, thiserror::Error)]
pub enum SweepError {
    /// The sweep file is wrong: `key` names the field (`vary[1].values`, `seeds`, ...).
    #[error("{file}: {key}: {message}")]
    Spec {
        /// The sweep file.
        file: String,
        /// The field.
        key: String,
        /// What is wrong and what is expected.
        message: String,
    },
    /// The sweep directory has no plan, a plan this version cannot read, or another sweep's.
    #[error("{}: {message}", dir.display())]
    Plan {
        /// The sweep directory.
        dir: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// A cell's run failed for a reason other than divergence (which is a result).
    #[error("cell {index} ({dir}): {source}")]
    Run {
        /// The cell's index.
        index: usize,
        /// Its directory, relative to the sweep's.
        dir: String,
        /// Why.
        source: Box<makemore_model::RunError>,
    },
    /// A cell was given another corpus than the one its sweep was planned on.
    #[error("{}: is not the corpus the sweep in {} was planned on ({planned}: {planned_id}; this one: {given_id}); train every cell on the plan's corpus (drop --data and MAKEMORE_DATA, or pass that file)", data.display(), dir.display())]
    CorpusDiffers {
        /// The sweep directory.
        dir: PathBuf,
        /// The corpus given.
        data: PathBuf,
        /// The plan's corpus path.
        planned: String,
        /// The plan's corpus, in words.
        planned_id: String,
        /// The given corpus, in words.
        given_id: String,
    },
    /// Reading the corpus (to record it in a plan).
    #[error(transparent)]
    Corpus(Box<makemore_model::RunError>),
    /// Reading or writing a file.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
}

impl SweepError {
    pub(crate) fn io(path: &std::path::Path, source: std::io::Error) -> Self {
        SweepError::Io {
            path: path.to_owned(),
            source,
        }
    }
}
