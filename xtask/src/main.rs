//! `cargo xtask`: the project's automation, in Rust rather than shell scripts.
//!
//! ```text
//! cargo xtask test                      # fmt check, clippy -D warnings, every test (release)
//! cargo xtask train --backend wgpu ...  # build makemore with that backend's feature, run `train`
//! ```
//!
//! `cargo xtask --help` lists the commands. Every command builds in release with the same feature set, so Burn compiles once and the
//! tests, the binary and clippy share one target directory.

mod arch;
mod bench;
mod compare;
mod ladder;
mod measure;
mod reference;
mod suite;

use clap::{Parser, Subcommand};
use std::process::{Command, ExitCode};

/// The project's automation. Every command builds in release with one feature set.
#[derive(Parser)]
#[command(name = "cargo xtask")]
struct Xtask {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Install what the tests need and is missing: Mesa's software Vulkan driver (for wgpu),
    /// Chromium and a single-node Slurm (Debian packages, as root), and a Python virtual
    /// environment with TensorBoard.
    Setup(FeatureArgs),
    /// `setup`, then cargo fmt --check, clippy -D warnings, all tests in release, then `compare` on every
    /// compiled backend, then the reference suite (`reference`).
    Test(FeatureArgs),
    /// Build makemore (with --backend's feature) and run `makemore train ARGS`.
    Train {
        /// Everything `makemore train` takes; `--backend B` also picks the feature to build.
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// Time every compiled backend on bn1 and deep, next to PyTorch eager (when `python3 -c
    /// "import torch"` works; $MAKEMORE_PYTHON picks the interpreter); writes
    /// target/bench/latest.json.
    Bench(bench::BenchArgs),
    /// Train every compiled backend N steps on bn1 and deep from the same weights and batches;
    /// fail unless their losses agree with flex.
    Compare(compare::CompareArgs),
    /// Put an init-sensitivity sweep next to pytorch_sensitivity.py's output, cell by cell
    /// (means over seeds); fail when a cell's val loss differs by more than the tolerance.
    SensitivityReference(reference::ReferenceArgs),
    /// The reference suite (run by `test`): the lecture's rows, the whole init-sensitivity sweep
    /// and the deep stack's per-layer statistics against PyTorch's runs in docs/reference/, with
    /// tolerances from the spread over seeds on each side, and the README's own tables and figures
    /// against this build's runs.
    Reference(suite::SuiteArgs),
    /// ARCHITECTURE.md's invariants, measured from the source (run by `test`): crates depend
    /// only on crates below them, the Burn-free crates name no Burn, no import circle inside a
    /// crate, no source file over 550 lines and no function over 100 outside tests.
    Arch,
}

/// The Cargo features to build with.
#[derive(clap::Args, Clone)]
pub(crate) struct FeatureArgs {
    /// Comma-separated backend features.
    #[arg(long, env = "MAKEMORE_FEATURES", default_value = "flex")]
    pub features: String,
}

/// The models that `bench` and `compare` run: (name, config).
pub(crate) const MODELS: [(&str, &str); 2] = [
    ("bn1", "configs/lecture/batchnorm.toml"),
    ("deep", "configs/lecture/deep-batchnorm.toml"),
];

/// The sweep's layers and optimizers, which `compare` also runs on every backend.
pub(crate) const MITIGATIONS: [(&str, &str); 3] = [
    (
        "ln-residual-adamw",
        "configs/mitigations/deep-layernorm-residual.toml",
    ),
    (
        "gn-rezero-rmsprop",
        "configs/mitigations/deep-groupnorm-rmsprop.toml",
    ),
    (
        "bn-plain-nesterov",
        "configs/mitigations/deep-batchnorm-plain.toml",
    ),
];

fn main() -> ExitCode {
    let result = match Xtask::parse().command {
        Cmd::Setup(f) => setup(&f).map(|_| ()),
        Cmd::Test(f) => test(&f),
        Cmd::Train { args } => train(&args),
        Cmd::Bench(a) => bench::bench(&a),
        Cmd::Compare(a) => compare::compare(&a),
        Cmd::SensitivityReference(a) => reference::run(&a),
        Cmd::Reference(a) => suite::run(&a),
        Cmd::Arch => arch::run(&root()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(2)
        }
    }
}

/// The repository root (xtask's manifest is one level down).
pub(crate) fn root() -> std::path::PathBuf {
    // `cargo run` sets CARGO_MANIFEST_DIR for the process too: prefer that to the path compiled
    // in, which is stale when a shared target directory served another checkout.
    let manifest = std::env::var_os("CARGO_MANIFEST_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| env!("CARGO_MANIFEST_DIR").into());
    manifest
        .parent()
        .expect("xtask sits inside the workspace")
        .to_path_buf()
}

pub(crate) fn cargo() -> Command {
    let mut c = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    c.current_dir(root());
    c
}

pub(crate) fn run(mut cmd: Command) -> Result<(), String> {
    let shown = format!("{cmd:?}");
    eprintln!("$ {shown}");
    let status = cmd.status().map_err(|e| format!("{shown}: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("{shown} failed with {status}"))
    }
}

/// The features asked for, with libtorch set up when they include tch, plus
/// [`LIBRARY_FEATURES`]: every xtask command builds with the same set, so that one build of Burn
/// in the target directory serves them all (another set recompiles Burn's whole stack).
pub(crate) fn features(args: &FeatureArgs) -> Result<String, String> {
    let features = args.features.clone();
    if features.split(',').any(|f| f.trim() == "tch") {
        libtorch_env()?;
    }
    if features.split(',').any(|f| f.trim() == LIBRARY_FEATURES) {
        return Ok(features);
    }
    Ok(format!("{features},{LIBRARY_FEATURES}"))
}

/// Points the build (and the programs it runs) at libtorch for the `tch` feature: `$LIBTORCH`
/// when set, else the PyTorch 2.9 wheel of `$MAKEMORE_PYTHON` (default `python3`), through
/// `LIBTORCH_USE_PYTORCH=1`, that interpreter's folder first on `PATH`, and its `torch/lib` on
/// `LD_LIBRARY_PATH`.
fn libtorch_env() -> Result<(), String> {
    if std::env::var_os("LIBTORCH").is_some() {
        return Ok(());
    }
    let python = std::env::var("MAKEMORE_PYTHON").unwrap_or_else(|_| "python3".into());
    let probe = Command::new(&python)
        .args(["-c", "import os, sys, torch; print(torch.__version__); print(os.path.dirname(torch.__file__)); print(os.path.dirname(sys.executable))"])
        .output();
    let out = match probe {
        Ok(o) if o.status.success() => String::from_utf8_lossy(&o.stdout).to_string(),
        _ => {
            return Err(format!(
                "the tch feature needs libtorch 2.9.0, and `{python} -c \"import torch\"` failed: \
                 python3 -m venv VENV && VENV/bin/pip install torch==2.9.0, then set MAKEMORE_PYTHON=VENV/bin/python \
                 (or set LIBTORCH to an unpacked libtorch)"
            ))
        }
    };
    let lines: Vec<&str> = out.lines().collect();
    let [version, torch_dir, bin_dir] = lines[..] else {
        return Err(format!("{python}: unexpected answer about torch: {out}"));
    };
    if !version.starts_with("2.9.") {
        return Err(format!(
            "tch 0.22 needs PyTorch 2.9, {python} has {version}: pip install torch==2.9.0"
        ));
    }
    let join = |var: &str, first: &str| match std::env::var(var) {
        Ok(rest) if !rest.is_empty() => format!("{first}:{rest}"),
        _ => first.to_string(),
    };
    let (path, ld) = (
        join("PATH", bin_dir),
        join("LD_LIBRARY_PATH", &format!("{torch_dir}/lib")),
    );
    // Set before any child process starts; xtask is single-threaded.
    std::env::set_var("LIBTORCH_USE_PYTORCH", "1");
    std::env::set_var("PATH", path);
    std::env::set_var("LD_LIBRARY_PATH", ld);
    eprintln!("xtask: tch uses PyTorch {version} from {torch_dir}");
    Ok(())
}

/// The Slurm programs tests/slurm.rs runs, and the Debian packages that bring them.
const SLURM_PACKAGES: [(&str, &str); 4] = [
    ("slurmctld", "slurmctld"),
    ("slurmd", "slurmd"),
    ("sbatch", "slurm-client"),
    ("munged", "munge"),
];

/// The TensorBoard version the tests were verified against (`tests/tensorboard_read.py`).
const TENSORBOARD: &str = "tensorboard==2.21.0";

/// Installs what the tests need; returns the Python interpreter that has TensorBoard.
fn setup(args: &FeatureArgs) -> Result<std::path::PathBuf, String> {
    let mut packages = Vec::new();
    let wgpu = args.features.split(',').any(|f| f.trim() == "wgpu");
    let has_icd = std::fs::read_dir("/usr/share/vulkan/icd.d")
        .into_iter()
        .flatten()
        .flatten()
        .any(|e| e.file_name().to_string_lossy().starts_with("lvp_icd"));
    if wgpu && !has_icd {
        packages.push("mesa-vulkan-drivers");
    }
    let ldconfig = Command::new("ldconfig").arg("-p").output();
    let has_vulkan =
        ldconfig.is_ok_and(|o| String::from_utf8_lossy(&o.stdout).contains("libvulkan.so.1"));
    if wgpu && !has_vulkan {
        packages.push("libvulkan1");
    }
    let has = |program: &str| {
        Command::new(program)
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success())
    };
    if !has("chromium") {
        packages.push("chromium");
    }
    if !has("python3") {
        packages.extend(["python3", "python3-venv"]);
    }
    // A single-node Slurm for tests/slurm.rs (started and stopped by the test itself).
    let on_path = |program: &str| {
        Command::new("sh")
            .args(["-c", &format!("command -v {program}")])
            .output()
            .is_ok_and(|o| o.status.success())
    };
    for (program, package) in SLURM_PACKAGES {
        if !on_path(program) {
            packages.push(package);
        }
    }
    if !packages.is_empty() {
        let root = Command::new("id")
            .arg("-u")
            .output()
            .is_ok_and(|o| o.stdout.starts_with(b"0"));
        if !root {
            return Err(format!(
                "the tests need these Debian packages: sudo apt-get install {}",
                packages.join(" ")
            ));
        }
        eprintln!("xtask setup: installing {}", packages.join(" "));
        let mut update = Command::new("apt-get");
        update.args(["update", "-qq"]);
        run(update)?;
        let mut install = Command::new("apt-get");
        install
            .env("DEBIAN_FRONTEND", "noninteractive")
            .args(["install", "-y", "-q", "--no-install-recommends"])
            .args(&packages);
        run(install)?;
    }
    let venv = target_dir().join("tb-venv");
    let python = venv.join("bin").join("python");
    let works = Command::new(&python)
        .args(["-c", "import tensorboard"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !works {
        eprintln!(
            "xtask setup: a Python virtual environment with {TENSORBOARD} in {}",
            venv.display()
        );
        run({
            let mut c = Command::new("python3");
            c.args(["-m", "venv"]).arg(&venv);
            c
        })?;
        run({
            let mut c = Command::new(&python);
            c.args([
                "-m",
                "pip",
                "install",
                "-q",
                "--disable-pip-version-check",
                TENSORBOARD,
            ]);
            c
        })?;
    }
    Ok(python)
}

/// The optional library features every command builds with the backends: the diagnostics'
/// burn-train integration, so that its example and tests are built and run by `test`.
pub(crate) const LIBRARY_FEATURES: &str = "makemore-diagnostics/learner";

fn test(args: &FeatureArgs) -> Result<(), String> {
    let python = setup(args)?;
    let features = features(args)?;
    let mut fmt = cargo();
    fmt.args(["fmt", "--all", "--check"]);
    run(fmt)?;
    arch::run(&root())?;
    lint_while_compiling();
    // What `cargo xtask train` builds, first: the tests must then compile no registry crate again.
    // Both builds write their `cargo build --timings` report to target/cargo-timings/.
    run(binary_build(&features, true))?;
    let mut build = cargo();
    build
        .args(["test", "--workspace", "--release", "--no-run", "--timings"])
        .args(["--message-format", "json-render-diagnostics"])
        .args(["--features", &features]);
    let again = registry_crates_compiled(build)?;
    if !again.is_empty() {
        return Err(format!(
            "the tests' build compiled {} registry crate(s) that the binary's build (what `cargo \
             xtask train` compiles) did not leave fresh, so a user's first test run compiles them: \
             {}. A dependency, or a feature of one, that only the tests use does this: give the \
             binary's build the same one, or do without it",
            again.len(),
            again.join(", ")
        ));
    }
    let mut test = cargo();
    test.args(["test", "--workspace", "--release", "--features", &features])
        .env("MAKEMORE_TB_PYTHON", &python);
    run(test)?;
    compare::compare(&compare::CompareArgs {
        features: FeatureArgs {
            features: features.clone(),
        },
        steps: compare::DEFAULT_STEPS,
        json: false,
    })?;
    suite::run(&suite::SuiteArgs {
        features: FeatureArgs { features },
    })
}

/// Clippy's lints (`-D warnings`) run while the workspace's crates compile for the tests, with
/// `clippy-driver` as the workspace's compiler wrapper (what `cargo clippy` itself does), instead
/// of in a `cargo clippy` of their own: that would check every dependency a second time (Burn's
/// whole stack, in check mode) before the tests compile them for real. Set for this process, so
/// that every cargo it starts (`compare`'s build too) finds the same fingerprints.
fn lint_while_compiling() {
    let rustup = Command::new("rustup")
        .args(["which", "clippy-driver"])
        .output();
    let driver = match rustup {
        Ok(o) if o.status.success() => String::from_utf8_lossy(&o.stdout).trim().to_string(),
        _ => "clippy-driver".into(),
    };
    // Set before any child process starts; xtask is single-threaded.
    std::env::set_var("RUSTC_WORKSPACE_WRAPPER", driver);
    std::env::set_var(
        "CLIPPY_ARGS",
        "-D__CLIPPY_HACKERY__warnings__CLIPPY_HACKERY__",
    );
}

/// Runs a cargo build with `--message-format json-render-diagnostics` (diagnostics still go to
/// stderr as text) and returns the registry crates it compiled rather than found fresh.
fn registry_crates_compiled(mut cmd: Command) -> Result<Vec<String>, String> {
    use std::io::BufRead;
    let shown = format!("{cmd:?}");
    eprintln!("$ {shown}");
    let mut child = cmd
        .stdout(std::process::Stdio::piped())
        .spawn()
        .map_err(|e| format!("{shown}: {e}"))?;
    let mut compiled = Vec::new();
    let stdout = child.stdout.take().expect("stdout is piped");
    for line in std::io::BufReader::new(stdout).lines() {
        let line = line.map_err(|e| format!("{shown}: {e}"))?;
        let Ok(message) = serde_json::from_str::<serde_json::Value>(&line) else {
            println!("{line}");
            continue;
        };
        let id = message["package_id"].as_str().unwrap_or_default();
        if message["reason"] == "compiler-artifact"
            && message["fresh"] == false
            && id.starts_with("registry+")
        {
            let name = id.rsplit('#').next().unwrap_or(id).to_string();
            if !compiled.contains(&name) {
                compiled.push(name);
            }
        }
    }
    let status = child.wait().map_err(|e| format!("{shown}: {e}"))?;
    if !status.success() {
        return Err(format!("{shown} failed with {status}"));
    }
    Ok(compiled)
}

/// Builds the `makemore` binary alone, in release, with `features` (backends plus
/// [`LIBRARY_FEATURES`]): what `cargo xtask train` compiles. Every registry crate in it has the
/// features the tests' build gives it too, so `cargo xtask test` compiles none of them again
/// (`test` checks this).
pub(crate) fn build_binary(features: &str) -> Result<(), String> {
    run(binary_build(features, false))
}

/// The command [`build_binary`] runs, with `--timings` when asked.
fn binary_build(features: &str, timings: bool) -> Command {
    let mut build = cargo();
    build.args([
        "build",
        "-p",
        "makemore-cli",
        "--release",
        "--features",
        features,
    ]);
    if timings {
        build.arg("--timings");
    }
    build
}

/// The target directory (`$CARGO_TARGET_DIR`, else `target/`).
pub(crate) fn target_dir() -> std::path::PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| root().join("target"))
}

/// The release `makemore` binary.
pub(crate) fn binary() -> std::path::PathBuf {
    target_dir().join("release").join("makemore")
}

/// The value of `--backend` in `args` (`--backend X` or `--backend=X`), else $MAKEMORE_BACKEND.
fn backend(args: &[String]) -> String {
    for (i, a) in args.iter().enumerate() {
        if let Some(v) = a.strip_prefix("--backend=") {
            return v.to_string();
        }
        if a == "--backend" {
            if let Some(v) = args.get(i + 1) {
                return v.clone();
            }
        }
    }
    std::env::var("MAKEMORE_BACKEND").unwrap_or_else(|_| "flex".into())
}

fn train(args: &[String]) -> Result<(), String> {
    let backend = backend(args);
    if !["flex", "ndarray", "wgpu", "tch"].contains(&backend.as_str()) {
        return Err(format!(
            "unknown backend '{backend}'; expected one of: flex, ndarray, wgpu, tch"
        ));
    }
    build_binary(&features(&FeatureArgs { features: backend })?)?;
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| root().join("target"));
    let mut cmd = Command::new(target.join("release").join("makemore"));
    cmd.current_dir(root()).arg("train").args(args);
    run(cmd)
}
