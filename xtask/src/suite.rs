//! `cargo xtask reference`: the reference suite, which `cargo xtask test` (so CI) runs on every
//! submission. It trains, with the release binary, what the README compares with PyTorch and
//! checks the results against PyTorch's runs committed under `docs/reference/` (the commands
//! that made them are in `docs/reference/README.md`):
//!
//! 1. the lecture's five rows at 10,000 steps (lr 0.1 throughout), 8 seeds each: val loss and
//!    first loss against PyTorch's 8 seeds (`pytorch-lecture-10000.jsonl`), and every fixed
//!    row's mean first loss against ln(vocab);
//! 2. the built-in `init-sensitivity` sweep (scale 0.2-5 x every norm x residual off/on x
//!    SGD/Adam, 3 seeds: 60 combinations, 180 runs): each combination's val loss against
//!    PyTorch's 3 seeds (`pytorch-sensitivity-seed*.jsonl`);
//! 3. the lecture's deep BatchNorm stack at step 999, 8 seeds: every tanh layer's std, saturation
//!    and activation-gradient std, every weight matrix's grad:data ratio and log10 update ratio,
//!    against PyTorch's 8 seeds (`pytorch-deep-diagnostics.jsonl`);
//! 4. the README's own figures: its lecture table against a full `makemore lecture` run (200,000
//!    steps, the default seed); its init-sensitivity table (both sides' val losses at every
//!    scale and their saturation ranges), the figures of the paragraph under it and its
//!    "largest difference", against part 2's sweep and PyTorch's files. Ours are one
//!    deterministic run each, so they are compared to the README's printed digits plus
//!    [`readme::README_DRIFT`]; PyTorch's to the printed digits.
//!
//! The two implementations draw different initial weights and batches from the same seed, so
//! agreement is statistical. Every check compares two means over seeds with the tolerance
//! [`check::K_SIGMA`] standard errors of their difference, `K sqrt(s_a^2 / n_a + s_b^2 / n_b)`, where
//! `s` is each side's sample standard deviation over its seeds, plus half the last digit PyTorch's
//! scripts print of that figure. With 3 seeds a sample deviation is itself uncertain, so the
//! sweep floors each side's `s` at the median deviation of all compared combinations of its side.
//!
//! Both sides are fixed: PyTorch's runs are committed, and ours are deterministic on a given CPU,
//! so the suite gives the same verdict every time it runs on a machine; what it catches is a
//! change of ours. On the machine that made the README the largest difference of the 99
//! statistical checks is 0.41 of its tolerance (1.6 standard errors).
//!
//! Each part has its file under `suite/`: `lecture.rs` (1), `sensitivity.rs` (2), `deep.rs` (3),
//! `readme_lecture.rs` and `readme_sweep.rs` (4); `check.rs` holds how two sides are compared,
//! `io.rs` runs makemore and reads JSON, and `readme.rs` reads the README.

mod check;
mod deep;
mod io;
mod lecture;
mod readme;
mod readme_lecture;
mod readme_sweep;
mod sensitivity;

use self::check::Spread;
use self::deep::deep;
use self::lecture::lecture;
use self::readme_lecture::readme_lecture;
use self::readme_sweep::readme_sweep;
use self::sensitivity::sensitivity;
use crate::{build_binary, features, root, target_dir, FeatureArgs};

/// Flags of `cargo xtask reference`.
#[derive(clap::Args)]
pub struct SuiteArgs {
    /// The backend features to build with.
    #[command(flatten)]
    pub features: FeatureArgs,
}

/// Runs the suite; fails naming every check outside its tolerance.
pub fn run(args: &SuiteArgs) -> Result<(), String> {
    let features = features(&args.features)?;
    build_binary(&features)?;
    let data = std::env::var("MAKEMORE_DATA")
        .unwrap_or_else(|_| root().join("data/names.txt").display().to_string());
    let out = target_dir().join("reference");
    let reference = root().join("docs/reference");
    let mut checks = lecture(&data, &out, &reference)?;
    let (sweep_checks, sweep_ours, sweep_theirs) = sensitivity(&data, &out, &reference)?;
    let readme =
        std::fs::read_to_string(root().join("README.md")).map_err(|e| format!("README.md: {e}"))?;
    checks.extend(readme_sweep(
        &readme,
        &sweep_checks,
        &sweep_ours,
        &sweep_theirs,
    )?);
    checks.extend(sweep_checks);
    checks.extend(readme_lecture(&readme, &data, &out)?);
    checks.extend(deep(&data, &out, &reference)?);
    println!("| check | ours (mean, sd, n) | PyTorch (mean, sd, n) | diff | tolerance |");
    println!("|---|---|---|---|---|");
    for c in &checks {
        let s = |x: Spread| format!("{:.4} ({:.2e}, {})", x.mean, x.sd, x.n);
        println!(
            "| {}{} | {} | {} | {:+.2e} | {:.2e} |",
            if c.passes() { "" } else { "FAILS: " },
            c.what,
            s(c.ours),
            s(c.theirs),
            c.diff(),
            c.tolerance
        );
    }
    let failures: Vec<String> = checks
        .iter()
        .filter(|c| !c.passes())
        .map(|c| {
            format!(
                "{}: ours {:.4}, PyTorch {:.4}, difference {:+.4} beyond {:.4}",
                c.what,
                c.ours.mean,
                c.theirs.mean,
                c.diff(),
                c.tolerance
            )
        })
        .collect();
    eprintln!(
        "reference: {} checks, {} outside their tolerance",
        checks.len(),
        failures.len()
    );
    if failures.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "the reference suite failed:\n{}",
            failures.join("\n")
        ))
    }
}
