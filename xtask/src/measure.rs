//! What `cargo xtask bench` and its `--ladder` share: running a contender for its JSON report,
//! medians over runs, the corpus, PyTorch and the machine, and the cells of their tables.

use crate::root;
use serde_json::Value;
use std::process::Command;

/// Runs `cmd` and reads its stdout as JSON, failing with its stderr when it fails.
pub(crate) fn json_of(mut cmd: Command) -> Result<Value, String> {
    let shown = format!("{cmd:?}");
    let out = cmd.output().map_err(|e| format!("{shown}: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "{shown} failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    serde_json::from_slice(&out.stdout).map_err(|e| format!("{shown}: not JSON: {e}"))
}

/// The median of `v` (the upper one of an even count; NaN when empty), sorting `v` in place.
pub(crate) fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(f64::NAN)
}

/// The [`median`] of the number `key` over the JSON reports `runs` (runs without it left out).
pub(crate) fn median_of(runs: &[Value], key: &str) -> f64 {
    median(
        &mut runs
            .iter()
            .filter_map(|r| r[key].as_f64())
            .collect::<Vec<_>>(),
    )
}

/// The corpus: `$MAKEMORE_DATA`, else the repository's `data/names.txt`.
pub(crate) fn data() -> String {
    std::env::var("MAKEMORE_DATA")
        .unwrap_or_else(|_| root().join("data/names.txt").display().to_string())
}

/// The Python interpreter (`$MAKEMORE_PYTHON`, else `python3`) when it can import torch.
pub(crate) fn python() -> Option<String> {
    let py = std::env::var("MAKEMORE_PYTHON").unwrap_or_else(|_| "python3".into());
    let ok = Command::new(&py)
        .args(["-c", "import torch"])
        .output()
        .is_ok_and(|o| o.status.success());
    ok.then_some(py)
}

/// The machine, as the tables name it: the CPU's model and how many cores it has.
pub(crate) fn cpu() -> String {
    let info = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = info
        .lines()
        .find(|l| l.starts_with("model name"))
        .and_then(|l| l.split(':').nth(1))
        .unwrap_or("unknown CPU")
        .trim()
        .to_string();
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    format!("{model}, {cores} cores")
}

/// A table cell: the number with `digits` decimals, or "-".
pub(crate) fn num(v: &Value, digits: usize) -> String {
    v.as_f64()
        .map_or("-".to_string(), |x| format!("{x:.digits$}"))
}

/// A table cell: the ratio as "1.23x", or "-".
pub(crate) fn ratio(v: &Value) -> String {
    v.as_f64().map_or("-".to_string(), |x| format!("{x:.2}x"))
}
