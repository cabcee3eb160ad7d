//! Why a run failed or stopped early: one error type for the whole crate's run API. Errors carry
//! structure (the file, the step, the run directory); the program that calls the library words
//! what the user should do next.

use makemore_data::{CorpusError, SplitError, VocabularyError};
use std::path::PathBuf;

/// A run failed (or stopped before the end).
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The corpus.
    #[error(transparent)]
    Corpus(#[from] CorpusError),
    /// The split fractions.
    #[error(transparent)]
    Split(#[from] SplitError),
    /// The vocabulary.
    #[error(transparent)]
    Vocabulary(#[from] VocabularyError),
    /// Building the model.
    #[error(transparent)]
    Build(#[from] crate::mlp::BuildError),
    /// A saved config.
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
    /// Reading a saved model.
    #[error(transparent)]
    Weights(#[from] crate::weights::WeightsError),
    /// A file of the run directory could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A file of the run directory has unexpected contents, or the directory does not fit.
    #[error("{path}: {message}")]
    BadRunFile {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// A new run was asked for in a directory that already holds one.
    #[error("{}: already holds {}", dir.display(), if *same_config { "a run of this config" } else { "a run with a different config" })]
    RunExists {
        /// The run directory.
        dir: PathBuf,
        /// Whether the run there has the config asked for (so it could be resumed).
        same_config: bool,
    },
    /// What the input asks for would not fit in memory.
    #[error("{field}: this needs {} of memory, more than the {} {}", describe(*needed), makemore_files::human_bytes(u128::from(*limit)), origin.describe())]
    TooLarge {
        /// The field (or flag) that costs the most.
        field: String,
        /// The estimate, in bytes (`None`: beyond 2^128).
        needed: Option<u128>,
        /// The limit, in bytes.
        limit: u64,
        /// Where the limit came from: the user (`--max-memory`) or which of the system's limits.
        origin: LimitOrigin,
    },
    /// An output that exists would be replaced.
    #[error("{}: already exists", path.display())]
    OutputExists {
        /// The existing output.
        path: PathBuf,
    },
    /// Another process is writing this run.
    #[error("{}: another makemore{} is writing this run", dir.display(), pid.map(|p| format!(" (pid {p})")).unwrap_or_default())]
    Locked {
        /// The run directory.
        dir: PathBuf,
        /// The process holding the lock, as it wrote it into the lock file (another machine's,
        /// on a shared file system).
        pid: Option<u32>,
    },
    /// A run was asked for (to resume, evaluate, sample) where there is none.
    #[error("{}: no run here (config.toml is missing)", dir.display())]
    NoRun {
        /// The directory.
        dir: PathBuf,
    },
    /// The run's config file no longer matches the config its checkpoint was written for.
    #[error("{}: was edited after the run started (its checkpoint was written for another config)", path.display())]
    ConfigDiffers {
        /// The run's config file.
        path: PathBuf,
    },
    /// A resume, evaluation or sampling was asked for on a corpus the run was not trained on.
    #[error("{}: the run's vocabulary differs from this corpus's", path.display())]
    VocabularyDiffers {
        /// The run's metadata file.
        path: PathBuf,
    },
    /// A run was asked to go on with, or be judged on, another corpus than it was trained on.
    #[error("{}: the run was trained on another corpus ({run}) than this one ({given})", path.display())]
    CorpusDiffers {
        /// The run's metadata file.
        path: PathBuf,
        /// The run's corpus.
        run: String,
        /// The corpus given.
        given: String,
    },
    /// A run that has not finished has no trained model yet: paused, interrupted, or stopped
    /// after its last step but before its evaluation.
    #[error("{}: {}", dir.display(), if step >= steps { format!("training reached step {step} of {steps}, but the run stopped before its evaluation (no model.json yet)") } else { format!("the run is paused at step {step} of {steps} (no model.json yet)") })]
    Unfinished {
        /// The run directory.
        dir: PathBuf,
        /// Steps done (its checkpoint's).
        step: u64,
        /// Steps the run is for.
        steps: u64,
    },
    /// The run's training diverged: it has no trained model, and resuming would diverge again.
    #[error("{}: training diverged after step {step} (lr {}); there is no trained model", dir.display(), short(*lr))]
    DivergedRun {
        /// The run directory.
        dir: PathBuf,
        /// The step whose loss was not finite or too large.
        step: u64,
        /// The learning rate then.
        lr: f64,
    },
    /// A pause was asked for at a step the run will not reach: at or before where it starts, or
    /// at or after its last step.
    #[error("the pause step {pause_at} is outside the steps this run takes {}", if from + 1 < *steps { format!("({} to {})", from + 1, steps - 1) } else { format!("(none: it is at step {from} of {steps})") })]
    PauseOutside {
        /// The pause step asked for.
        pause_at: u64,
        /// The step the run starts from (its checkpoint's, or 0).
        from: u64,
        /// Steps the run is for.
        steps: u64,
    },
    /// Writing plots or the report.
    #[error("{0}")]
    Report(String),
    /// The loss stopped being finite, or blew up.
    #[error("training diverged after step {step} (lr {}): the loss is {loss}; first non-finite: {culprit}; {kept}; lower train.lr", short(*lr))]
    Diverged {
        /// The step.
        step: u64,
        /// Its learning rate.
        lr: f64,
        /// The loss, in words (`NaN`, `inf`, or `41843.9, above the limit 329.6`).
        loss: String,
        /// The first layer whose activations or gradients were not finite.
        culprit: String,
        /// What was kept.
        kept: String,
    },
    /// Stopped by a signal, after writing a checkpoint into `dir` (when there is one).
    #[error("interrupted at step {step}; {}", saved(dir))]
    Interrupted {
        /// Steps completed.
        step: u64,
        /// The run directory holding the checkpoint, if the run had one.
        dir: Option<PathBuf>,
    },
    /// Stopped at `pause_at`, after writing a checkpoint into `dir` (when there is one).
    #[error("paused at step {step}; {}", saved(dir))]
    Paused {
        /// Steps completed.
        step: u64,
        /// The run directory holding the checkpoint, if the run had one.
        dir: Option<PathBuf>,
    },
}

impl RunError {
    /// The run directory a stopped run can be resumed from, if this error is such a stop.
    pub fn resumable(&self) -> Option<&std::path::Path> {
        match self {
            RunError::Interrupted { dir, .. } | RunError::Paused { dir, .. } => dir.as_deref(),
            _ => None,
        }
    }

    /// `Io` for `path`, as a closure for `map_err`.
    pub fn io(path: &std::path::Path) -> impl FnOnce(std::io::Error) -> RunError + '_ {
        move |source| RunError::Io {
            path: path.to_owned(),
            source,
        }
    }

    /// `BadRunFile` for `path`.
    pub fn bad(path: &std::path::Path, message: impl Into<String>) -> RunError {
        RunError::BadRunFile {
            path: path.to_owned(),
            message: message.into(),
        }
    }
}

fn saved(dir: &Option<PathBuf>) -> String {
    match dir {
        Some(d) => format!("checkpoint written in {}", d.display()),
        None => "no run directory, nothing was saved".into(),
    }
}

/// A number as people write it: `0.1`, `1000`, `1e38`.
fn short(x: f64) -> String {
    if x != 0.0 && (x.abs() >= 1e6 || x.abs() < 1e-4) {
        format!("{x:e}")
    } else {
        format!("{x}")
    }
}

/// An estimate in words: `about 3.2 MB (3200000 bytes)`, or that it does not fit 128 bits.
fn describe(bytes: Option<u128>) -> String {
    match bytes {
        Some(b) => format!("about {} ({b} bytes)", makemore_files::human_bytes(b)),
        None => "more than 2^128 bytes".into(),
    }
}

/// Where the memory limit of a `budget::Budget` came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LimitOrigin {
    /// The user set it (`--max-memory`).
    Flag,
    /// The memory the system has available (`MemAvailable` in `/proc/meminfo`).
    Available,
    /// The process's address-space limit (`RLIMIT_AS`, `ulimit -v`) less its virtual size.
    AddressSpace,
    /// The process's data-segment limit (`RLIMIT_DATA`, `ulimit -d`) less its data size.
    DataSegment,
    /// The cgroup (v2) `memory.max` less the group's usage.
    CgroupV2,
    /// The cgroup (v1) `memory.limit_in_bytes` less the group's usage.
    CgroupV1,
    /// Nothing the system said bounds it.
    Unknown,
}

impl LimitOrigin {
    /// How a refusal words the limit, after its size: `3.0 GB {this}`.
    pub fn describe(self) -> &'static str {
        match self {
            LimitOrigin::Flag => "allowed",
            LimitOrigin::Available => "of available memory (MemAvailable)",
            LimitOrigin::AddressSpace => "left under the process's address-space limit (ulimit -v)",
            LimitOrigin::DataSegment => "left under the process's data-segment limit (ulimit -d)",
            LimitOrigin::CgroupV2 => "left under the cgroup's memory.max",
            LimitOrigin::CgroupV1 => "left under the cgroup's memory.limit_in_bytes",
            LimitOrigin::Unknown => "available",
        }
    }
}
