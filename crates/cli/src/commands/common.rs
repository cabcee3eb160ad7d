//! What several subcommands share: the config flags and loading, the backend flag, the stop
//! flag that Ctrl-C raises, run-directory names and small flag checks.

use super::builtin;
use crate::exit::Failure;
use clap::builder::{PossibleValue, TypedValueParser};
use makemore_model::budget::Budget;
use makemore_model::{BackendKind, Device, RunConfig};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

/// Parses a `--backend` value with [`BackendKind::parse`]'s message, and lists the names in
/// `--help`.
#[derive(Clone)]
pub struct BackendParser;

impl TypedValueParser for BackendParser {
    type Value = BackendKind;

    fn parse_ref(
        &self,
        _cmd: &clap::Command,
        _arg: Option<&clap::Arg>,
        value: &std::ffi::OsStr,
    ) -> Result<BackendKind, clap::Error> {
        BackendKind::parse(&value.to_string_lossy())
            .map_err(|e| clap::Error::raw(clap::error::ErrorKind::InvalidValue, e))
    }

    fn possible_values(&self) -> Option<Box<dyn Iterator<Item = PossibleValue> + '_>> {
        Some(Box::new(
            BackendKind::ALL
                .iter()
                .map(|b| PossibleValue::new(b.name())),
        ))
    }
}

/// `--max-memory`: the most memory a command may plan to use.
#[derive(clap::Args, Clone, Default)]
pub struct MemoryArgs {
    /// Refuse work estimated to need more memory than this (bytes, or with a unit: 512M, 8G,
    /// 2GiB) [default: the least of the memory the system has available and what the process's
    /// ulimits (-v, -d) and cgroup leave].
    #[arg(long, env = "MAKEMORE_MAX_MEMORY", value_name = "SIZE", value_parser = parse_size)]
    pub max_memory: Option<u64>,
}

impl MemoryArgs {
    /// The budget these flags give.
    pub fn budget(&self) -> Budget {
        Budget::new(self.max_memory)
    }
}

/// `123`, `512K`, `8M`, `2G`, `1T` (powers of 1000) or `KiB`, `MiB`, `GiB`, `TiB` (of 1024).
pub fn parse_size(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let split = t
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .unwrap_or(t.len());
    let (number, unit) = t.split_at(split);
    let factor: u64 = match unit.trim().to_ascii_uppercase().as_str() {
        "" | "B" => 1,
        "K" | "KB" => 1_000,
        "M" | "MB" => 1_000_000,
        "G" | "GB" => 1_000_000_000,
        "T" | "TB" => 1_000_000_000_000,
        "KIB" => 1 << 10,
        "MIB" => 1 << 20,
        "GIB" => 1 << 30,
        "TIB" => 1 << 40,
        _ => return Err(format!("{s:?}: expected a size such as 512M, 8G or 2GiB")),
    };
    let value: f64 = number
        .parse()
        .map_err(|_| format!("{s:?}: expected a size such as 512M, 8G or 2GiB"))?;
    let bytes = value * factor as f64;
    if !(bytes.is_finite() && bytes >= 1.0) {
        return Err(format!("{s:?}: expected a size of at least 1 byte"));
    }
    Ok(bytes.min(u64::MAX as f64) as u64) // beyond any machine: no limit
}

/// Opens `backend`'s device.
pub fn open_backend(backend: BackendKind) -> Result<(BackendKind, Device), Failure> {
    Ok((backend, backend.open()?))
}

/// Runs side by side by default (`lecture`, `sweep`): a run of these models keeps one core busy
/// on a CPU backend (measured on `lecture`: its five runs take 54 s one after the other, 34 s two
/// at a time on 2 cores), while GPU and libtorch backends share one device or thread pool.
pub fn default_jobs(backend: makemore_model::BackendKind, runs: usize) -> usize {
    use makemore_model::BackendKind::{Flex, Ndarray};
    if !matches!(backend, Flex | Ndarray) {
        return 1;
    }
    std::thread::available_parallelism()
        .map_or(1, usize::from)
        .clamp(1, runs.max(1))
}

/// Which config to run: a file (or the built-in default) and `--set` overrides.
#[derive(clap::Args)]
pub struct ConfigArgs {
    /// A TOML config file, or a built-in config's name (`makemore configs` lists them; default:
    /// the lecture's BatchNorm model, configs/default.toml).
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Override a config field, e.g. --set train.lr=0.05 (repeatable).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub set: Vec<String>,
}

/// `Some(0)` for a flag that must be >= 1 is bad input.
pub fn at_least_one(flag: &str, v: Option<u64>) -> Result<(), Failure> {
    match v {
        Some(0) => Err(Failure::input(format!("{flag}: must be >= 1"))),
        _ => Ok(()),
    }
}

/// A fresh run directory name.
pub fn default_out(prefix: &str) -> PathBuf {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    PathBuf::from(format!("runs/{prefix}-{secs}"))
}

static STOP: AtomicBool = AtomicBool::new(false);

/// The flag Ctrl-C and SIGTERM raise: training finishes its step and stops.
/// A second Ctrl-C exits at once: checkpoints are written to a temporary name and renamed, so
/// the previous one stays valid whatever the moment.
pub fn stop_flag() -> &'static AtomicBool {
    static INSTALLED: std::sync::Once = std::sync::Once::new();
    INSTALLED.call_once(|| {
        let _ = ctrlc::set_handler(|| {
            if STOP.swap(true, Ordering::SeqCst) {
                eprintln!("error: interrupted again; stopping now (the last checkpoint is kept)");
                std::process::exit(crate::exit::INTERRUPTED);
            }
        });
    });
    &STOP
}

/// `--config`'s text and where it came from: a file of that name (not a folder), else a
/// built-in config's name; the built-in default without `--config`.
pub fn config_text(config: Option<&Path>) -> Result<(String, String), Failure> {
    match config {
        Some(path) if !path.exists() || path.is_dir() => {
            let name = path.display().to_string();
            let (source, text) = builtin::config(&name).ok_or_else(|| {
                Failure::input(format!(
                    "{name}: no such config file, and not a built-in config ({})",
                    builtin::names().join(", ")
                ))
            })?;
            Ok((text, source))
        }
        Some(path) => Ok((
            makemore_model::config::read_text(path)?,
            path.display().to_string(),
        )),
        None => Ok((builtin::DEFAULT.into(), builtin::DEFAULT_NAME.into())),
    }
}

/// Reads the config (or the built-in default) with `--set`, `--steps` and `--seed` applied.
pub fn load_config(
    config: Option<&Path>,
    set: &[String],
    steps: Option<u64>,
    seed: Option<u64>,
) -> Result<RunConfig, Failure> {
    let (text, name) = config_text(config)?;
    let mut cfg = RunConfig::from_toml_str(&text, &name, set)?;
    let name = match set.is_empty() {
        true => name,
        false => format!("{name} (with --set)"),
    };
    cfg.validate(&name)?;
    // Each flag's value is checked as the flag's, so that a message names it, not the file.
    if let Some(s) = steps {
        cfg.train.steps = s;
        cfg.validate("--steps")?;
    }
    if let Some(s) = seed {
        cfg.train.seed = s;
        cfg.validate("--seed")?;
    }
    Ok(cfg)
}

#[cfg(test)]
mod tests {
    use super::parse_size;

    #[test]
    fn sizes_parse_with_and_without_units() {
        assert_eq!(parse_size("123"), Ok(123));
        assert_eq!(parse_size("8G"), Ok(8_000_000_000));
        assert_eq!(parse_size("2GiB"), Ok(2 << 30));
        assert_eq!(parse_size("1.5m"), Ok(1_500_000));
        assert!(parse_size("lots").is_err());
        assert!(parse_size("0").is_err());
        assert_eq!(
            parse_size("99999999999T"),
            Ok(u64::MAX),
            "more than any machine: no limit"
        );
    }
}
