//! `makemore`: train, evaluate, sample and inspect character-level MLPs.
//!
//! ```text
//! makemore data stats --data ../shared/data/names.txt
//! makemore train --steps 20000 --out runs/bn
//! makemore sample --run runs/bn -n 20
//! ```

/// Training allocates and frees thousands of small tensors per second; mimalloc serves them
/// faster than glibc's allocator (README, Performance).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

mod commands;
mod exit;
mod progress;
mod report;

use clap::{Parser, Subcommand};
use exit::Failure;
use std::path::PathBuf;

/// Character-level MLPs on Burn, with the lecture's experiments built in.
#[derive(Parser)]
#[command(
    name = "makemore",
    version,
    about,
    after_help = "Example:\n  makemore train --data ../shared/data/names.txt --steps 20000 --out runs/bn"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// Where the corpus is and which backend runs.
#[derive(clap::Args, Clone)]
pub struct Common {
    /// The corpus: one item per line [default: data/names.txt].
    #[arg(long, env = "MAKEMORE_DATA")]
    pub data: Option<PathBuf>,
    /// flex, ndarray, wgpu or tch (compiled-in ones only; see `makemore backends`).
    #[arg(long, env = "MAKEMORE_BACKEND", default_value = "flex", value_parser = commands::common::BackendParser)]
    pub backend: makemore_model::BackendKind,
    /// Print one JSON object on stdout instead of text.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub memory: commands::common::MemoryArgs,
}

#[derive(Subcommand)]
enum Command {
    /// Corpus commands.
    Data {
        #[command(subcommand)]
        command: commands::data::DataCommand,
    },
    /// List the backends and whether each is compiled in and usable.
    #[command(after_help = "Example:\n  makemore backends --json")]
    Backends {
        /// One JSON object on stdout.
        #[arg(long)]
        json: bool,
    },
    /// List the built-in configs (`--config NAME`) with what each shows.
    #[command(
        after_help = "Example:\n  makemore configs\n  makemore train --config fix-tanh --steps 20000"
    )]
    Configs {
        /// One JSON object on stdout.
        #[arg(long)]
        json: bool,
    },
    /// Initializer commands.
    Init {
        #[command(subcommand)]
        command: commands::init::InitCommand,
    },
    /// Train a model and write a run directory.
    Train(commands::train::TrainArgs),
    /// Evaluate a trained run on its splits.
    Eval(commands::eval::EvalArgs),
    /// Sample new items from a trained run.
    Sample(commands::sample::SampleArgs),
    /// Train the lecture's five experiments and compare with the lecture's numbers.
    Lecture(commands::lecture::LectureArgs),
    /// Train while recording activations, gradients and updates; write plots, a report and advice.
    Diagnose(commands::diagnose::DiagnoseArgs),
    /// Diagnose, change what the advice says (init, learning rate, normalization, optimizer), and diagnose
    /// again, round after round; write the fixed config and a page of the rounds side by side.
    Doctor(commands::doctor::DoctorArgs),
    /// Time training, evaluation and sampling of one model on one backend.
    Bench(commands::bench::BenchArgs),
    /// Train every combination of config values (a sweep file or a built-in sweep) and compare.
    Sweep(commands::sweep::SweepArgs),
    /// Write a run's records in other tools' formats (TensorBoard).
    Export {
        #[command(subcommand)]
        command: commands::export::ExportCommand,
    },
}

impl Common {
    /// `--data`, else `MAKEMORE_DATA`, else `data/names.txt`.
    pub fn data_path(&self) -> PathBuf {
        self.data
            .clone()
            .unwrap_or_else(|| PathBuf::from(commands::data::DEFAULT_DATA))
    }
}

/// `MAKEMORE_CPU_KERNELS=off` runs the CPU backends through Burn's own ops instead of the
/// project's kernels (slower, the same values to float rounding): what `cargo xtask compare`
/// checks the kernels against. `on` (or unset) is the default.
fn kernels_from_env() -> Result<(), Failure> {
    match std::env::var("MAKEMORE_CPU_KERNELS").as_deref() {
        Err(std::env::VarError::NotPresent) | Ok("on") => Ok(()),
        Ok("off") => {
            makemore_model::set_cpu_kernels(false);
            Ok(())
        }
        Ok(other) => Err(Failure::input(format!(
            "MAKEMORE_CPU_KERNELS: expected `on` or `off`, got `{other}`"
        ))),
        Err(std::env::VarError::NotUnicode(_)) => Err(Failure::input(
            "MAKEMORE_CPU_KERNELS: expected `on` or `off`, got bytes that are not UTF-8",
        )),
    }
}

fn main() {
    // Output piped into a reader that stops early (`| head`) ends the program quietly, as it
    // does `cat`, instead of a panic on the failed write.
    #[cfg(unix)]
    // SAFETY: restoring the default disposition of SIGPIPE before any thread is started.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    exit_quietly_when_output_fails();
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => exit::clap_error(e),
    };
    // A command that trains, evaluates or samples on this thread makes it one of the CPU
    // kernels' pool threads, so that their splits start and end here instead of waking it from
    // the pool each time (`wide`: 14.2 -> 12.8 ms/step). `lecture` and `sweep` train on threads
    // of their own while this one waits: as a pool thread it would then run none of their
    // splits (`sweep init-sensitivity`: 250 s joined, 223 s not, one run each). The others run
    // no model, and need no pool.
    let runs_a_model_here = matches!(
        cli.command,
        Command::Train(_)
            | Command::Eval(_)
            | Command::Sample(_)
            | Command::Diagnose(_)
            | Command::Doctor(_)
            | Command::Bench(_)
    );
    if let Err(f) = kernels_from_env() {
        f.exit();
    }
    let trains =
        runs_a_model_here || matches!(cli.command, Command::Lecture(_) | Command::Sweep(_));
    if trains && makemore_model::cpu_kernels() {
        // Started now, so that threads that cannot start (under a tight ulimit) are one line,
        // not a panic in the middle of a run.
        let joined = runs_a_model_here && makemore_model::join_kernel_pool();
        if !joined {
            if let Err(why) = makemore_model::start_kernel_pool() {
                Failure::input(format!(
                    "{why}; the memory or thread limits (ulimit -v, ulimit -u) are too tight for them"
                ))
                .exit();
            }
        }
    }
    let result: Result<(), Failure> = match cli.command {
        Command::Data { command } => commands::data::run(command),
        Command::Backends { json } => commands::backends::run(json),
        Command::Configs { json } => commands::configs::run(json),
        Command::Init { command } => commands::init::run(command),
        Command::Train(args) => commands::train::run(args),
        Command::Eval(args) => commands::eval::run(args),
        Command::Sample(args) => commands::sample::run(args),
        Command::Lecture(args) => commands::lecture::run(args),
        Command::Diagnose(args) => commands::diagnose::run(args),
        Command::Doctor(args) => commands::doctor::run(args),
        Command::Bench(args) => commands::bench::run(args),
        Command::Export { command } => commands::export::run(command),
        Command::Sweep(args) => commands::sweep::run(args),
    };
    if let Err(f) = result {
        f.exit();
    }
}

/// Standard output that cannot be written (a full disk, `> /dev/full`) ends the program with
/// one line and exit status 1 instead of a panic's message and backtrace: `println!` panics when
/// its write fails, and every command prints through it.
fn exit_quietly_when_output_fails() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let message = info
            .payload()
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| info.payload().downcast_ref::<&str>().copied())
            .unwrap_or("");
        if let Some(why) = message.strip_prefix("failed printing to stdout: ") {
            eprintln!("error: cannot write the output: {why}");
            std::process::exit(1);
        }
        if message.starts_with("failed printing to stderr") {
            std::process::exit(1);
        }
        default(info)
    }));
}
