//! The memory check honours the process's ulimits, end to end: under `ulimit -v`, a model too
//! large for the address space left is refused with one line naming that limit (not aborted by
//! a failed allocation), and a small run still trains.

mod common;

use common::*;
use std::path::Path;
use std::process::{Command, Output};

/// `ulimit -v` for these tests, in KiB (about 3.1 GB).
const ULIMIT_V_KIB: u64 = 3_000_000;

/// Runs the binary under `ulimit -v kib` (set by `sh`, which then execs the binary), from the
/// repository root, with none of its own variables set.
fn makemore_under_ulimit_v(kib: u64, args: &[&str]) -> Output {
    Command::new("sh")
        .arg("-c")
        .arg(format!("ulimit -v {kib} && exec \"$0\" \"$@\""))
        .arg(env!("CARGO_BIN_EXE_makemore"))
        .args(args)
        .current_dir(repo())
        .env_remove("MAKEMORE_DATA")
        .env_remove("MAKEMORE_BACKEND")
        .env_remove("MAKEMORE_MAX_MEMORY")
        .output()
        .expect("sh runs")
}

/// `MemAvailable`, in bytes, when the system says.
fn mem_available() -> Option<u64> {
    let info = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = info.lines().find(|l| l.starts_with("MemAvailable:"))?;
    line.split_whitespace()
        .nth(1)?
        .parse::<u64>()
        .ok()?
        .checked_mul(1024)
}

#[test]
fn a_model_too_large_for_the_address_space_limit_is_refused_naming_it() {
    let c = corpus();
    let t = TempDir::new("ulimit-v-large");
    let out = t.path("run");
    let result = makemore_under_ulimit_v(
        ULIMIT_V_KIB,
        &[
            "train",
            "--data",
            c.to_str().unwrap(),
            "--steps",
            "5",
            "--set",
            "model.hidden=[20000,20000]",
            "--out",
            &out,
            "--quiet",
        ],
    );
    // The limit that binds is the address space left, unless the machine has less memory
    // available than that (then the refusal names MemAvailable instead).
    let fragment = if mem_available().is_none_or(|a| a > ULIMIT_V_KIB * 1024) {
        "left under the process's address-space limit (ulimit -v)"
    } else {
        "of available memory (MemAvailable)"
    };
    check_input_error(
        "hidden=[20000,20000] under ulimit -v 3000000",
        &result,
        &["model.hidden[1]: this needs about", fragment],
    );
    let err = String::from_utf8_lossy(&result.stderr);
    assert!(
        !err.contains("backtrace") && !err.contains("memory allocation"),
        "{err}"
    );
    assert!(
        !Path::new(&out).exists(),
        "a refused run leaves no run directory"
    );
}

#[test]
fn a_small_run_still_trains_under_the_same_address_space_limit() {
    let c = corpus();
    let t = TempDir::new("ulimit-v-small");
    let out = t.path("run");
    let result = makemore_under_ulimit_v(
        ULIMIT_V_KIB,
        &[
            "train",
            "--data",
            c.to_str().unwrap(),
            "--steps",
            "5",
            "--out",
            &out,
            "--quiet",
        ],
    );
    assert!(
        result.status.success(),
        "status {:?}: {}",
        result.status,
        String::from_utf8_lossy(&result.stderr)
    );
    assert!(
        Path::new(&out).join("model.json").is_file(),
        "the run wrote its model"
    );
}
