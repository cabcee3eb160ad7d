//! The suite's runs and files: `makemore` run for its JSON, and the JSON that runs and PyTorch's
//! reference files hold.

use crate::{binary, root};
use serde_json::Value;
use std::path::Path;
use std::process::Command;

/// Runs `makemore ARGS` (quiet, JSON), failing with its stderr.
pub(super) fn makemore(args: &[&str]) -> Result<Value, String> {
    eprintln!("reference: makemore {}", args.join(" "));
    let out = Command::new(binary())
        .current_dir(root())
        .args(args)
        .args(["--quiet", "--json"])
        .output()
        .map_err(|e| format!("{}: {e}", binary().display()))?;
    if !out.status.success() {
        return Err(format!(
            "makemore {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    serde_json::from_slice(&out.stdout).map_err(|e| format!("makemore {}: {e}", args[0]))
}

/// A JSON file.
pub(super) fn read_json(path: &Path) -> Result<Value, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))
}

/// The JSON lines of a reference file.
pub(super) fn read_lines(path: &Path) -> Result<Vec<Value>, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(n, l)| {
            serde_json::from_str(l).map_err(|e| format!("{}:{}: {e}", path.display(), n + 1))
        })
        .collect()
}

/// The number `key` of `v`, failing with `whence` when there is none.
pub(super) fn number(v: &Value, key: &str, whence: &str) -> Result<f64, String> {
    v[key]
        .as_f64()
        .ok_or_else(|| format!("{whence}: no number `{key}`"))
}
