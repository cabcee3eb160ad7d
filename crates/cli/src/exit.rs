//! Errors as the user sees them: one line on stderr and an exit status.

use makemore_model::budget::LimitOrigin;
use makemore_model::RunError;

/// Exit status for bad input (files, flags, configs).
pub const BAD_INPUT: i32 = 2;
/// Exit status when training diverged.
pub const DIVERGED: i32 = 3;
/// Exit status after Ctrl-C / SIGTERM.
pub const INTERRUPTED: i32 = 130;

/// A failed command.
#[derive(Debug)]
pub struct Failure {
    /// Exit status.
    pub code: i32,
    /// One line.
    pub message: String,
}

impl Failure {
    /// Bad input: exit 2.
    pub fn input(message: impl std::fmt::Display) -> Self {
        Self {
            code: BAD_INPUT,
            message: message.to_string(),
        }
    }

    /// Prints `error: MESSAGE` (or, for a deliberate pause, just the message) and exits.
    pub fn exit(self) -> ! {
        let line = self.message.lines().collect::<Vec<_>>().join(" ");
        if self.code == 0 {
            eprintln!("{line}");
        } else {
            eprintln!("error: {line}");
        }
        std::process::exit(self.code)
    }
}

impl From<RunError> for Failure {
    fn from(e: RunError) -> Self {
        let code = match e {
            RunError::Diverged { .. } => DIVERGED,
            RunError::Interrupted { .. } => INTERRUPTED,
            RunError::Paused { .. } => 0,
            RunError::Io { .. } | RunError::Report(_) => 1,
            _ => BAD_INPUT,
        };
        Self {
            code,
            message: run_error_message(&e),
        }
    }
}

/// `path` as a shell word: as it is when that is safe, else in single quotes, so that a printed
/// command can be pasted as it is.
pub fn shell(path: &std::path::Path) -> String {
    shell_word(&path.display().to_string())
}

/// `text` as one shell word: as it is when that is safe, else in single quotes.
pub fn shell_word(text: &str) -> String {
    let safe = |c: char| c.is_ascii_alphanumeric() || "/._-+=,:@%".contains(c);
    if !text.is_empty() && text.chars().all(safe) {
        text.to_owned()
    } else {
        format!("'{}'", text.replace('\'', r"'\''"))
    }
}

/// The library's message, with what to do next in this program's flags.
pub fn run_error_message(e: &RunError) -> String {
    let hint = match e {
        RunError::Interrupted { step, dir } | RunError::Paused { step, dir } => {
            let what = match e {
                RunError::Interrupted { .. } => "interrupted",
                _ => "paused",
            };
            return match dir {
                Some(d) => format!(
                    "{what} at step {step}; checkpoint written; resume with: makemore train --resume {}",
                    shell(d)
                ),
                None => e.to_string(),
            };
        }
        // A finished or diverged run has nothing to continue: --resume would be refused.
        RunError::RunExists { dir, .. }
            if dir.join(makemore_train::run_dir::SUMMARY).is_file()
                || dir.join(makemore_train::run_dir::DIVERGED).is_file() =>
        {
            "it finished or diverged, so there is nothing to resume: pass --force to train it again, or another --out"
        }
        RunError::RunExists { .. } => {
            "pass --resume to continue it, --force to start over, or another --out"
        }
        RunError::ConfigDiffers { path } => {
            let dir = path.parent().unwrap_or(std::path::Path::new("."));
            return format!(
                "{e}; undo the edit to go on with the run, or start it over with: makemore train --config {} --out {} --force",
                shell(path),
                shell(dir)
            );
        }
        RunError::NoRun { dir } if dir.join(makemore_sweep::PLAN_FILE).is_file() => {
            return format!(
                "{}: is a sweep directory, not a run: give one of its cells ({}/cells/...), or summarize it with: makemore sweep collect {}",
                shell(dir),
                shell(dir),
                shell(dir)
            );
        }
        RunError::DivergedRun { dir, .. } => {
            let kept = dir.join(makemore_train::run_dir::CHECKPOINT).is_file();
            return format!(
                "{e}; resuming would diverge again: start over with a lower rate (makemore train --config {} --set train.lr=... --out {} --force){}",
                shell(&dir.join(makemore_train::run_dir::CONFIG)),
                shell(dir),
                if kept {
                    format!(
                        ", or look at its last checkpoint with: makemore eval --run {} --checkpoint",
                        shell(dir)
                    )
                } else {
                    String::new()
                }
            );
        }
        RunError::Corpus(c) => return corpus_message(c),
        RunError::Config(c) => return Failure::from(c.clone()).message,
        RunError::VocabularyDiffers { .. } | RunError::CorpusDiffers { .. } => {
            "pass the corpus it was trained on (--data)"
        }
        RunError::Unfinished { dir, step, steps } if step >= steps => {
            return format!(
                "{e}; finish it (evaluation and outputs) with: makemore train --resume {}",
                shell(dir)
            )
        }
        RunError::Unfinished { dir, step, .. } => {
            return format!(
                "{e}; continue it with: makemore train --resume {}, or pass --checkpoint to use its weights at step {step}",
                shell(dir)
            )
        }
        RunError::OutputExists { .. } => "pass --force to replace it",
        RunError::PauseOutside { .. } => {
            return format!("--pause-at: {e}; the run ends at its last step anyway")
        }
        RunError::Locked { .. } => "wait for it to finish, or stop it",
        RunError::TooLarge { origin, .. } => match origin {
            LimitOrigin::Flag => "the limit is --max-memory's",
            LimitOrigin::Available | LimitOrigin::Unknown => {
                "make it smaller, or raise the limit with --max-memory"
            }
            LimitOrigin::AddressSpace
            | LimitOrigin::DataSegment
            | LimitOrigin::CgroupV2
            | LimitOrigin::CgroupV1 => {
                "make it smaller, or raise that limit (--max-memory overrides this check)"
            }
        },
        _ => return e.to_string(),
    };
    format!("{e}; {hint}")
}

macro_rules! input_errors {
    ($($t:ty),*) => {$(
        impl From<$t> for Failure {
            fn from(e: $t) -> Self {
                Failure::input(e)
            }
        }
    )*};
}
input_errors!(makemore_model::BackendError, makemore_init::InitError);

impl From<makemore_data::CorpusError> for Failure {
    fn from(e: makemore_data::CorpusError) -> Self {
        Failure::input(corpus_message(&e))
    }
}

impl From<makemore_model::ConfigError> for Failure {
    fn from(e: makemore_model::ConfigError) -> Self {
        use makemore_model::ConfigError;
        Failure::input(match &e {
            ConfigError::BadOverride(spec) => {
                format!("--set {spec}: expected KEY=VALUE, e.g. train.lr=0.05")
            }
            ConfigError::Parse { source_name, .. } | ConfigError::Invalid { source_name, .. } => {
                e.to_string().replacen(
                    source_name.as_str(),
                    &source_name
                        .replace("(with overrides)", "(with --set)")
                        .replace("(with override ", "(with --set "),
                    1,
                )
            }
        })
    }
}

/// The corpus's message, with how to get one when it is missing.
fn corpus_message(e: &makemore_data::CorpusError) -> String {
    match e {
        makemore_data::CorpusError::NotFound { .. } => {
            format!("{e} (pass --data PATH, or run `makemore data fetch`)")
        }
        _ => e.to_string(),
    }
}

/// Reports a command-line parsing error on one line (help and version print as usual).
pub fn clap_error(e: clap::Error) -> ! {
    use clap::error::ErrorKind;
    match e.kind() {
        ErrorKind::DisplayHelp
        | ErrorKind::DisplayVersion
        | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => {
            // clap prints an `after_help` example as written, without a final line end: add one,
            // so that the shell's prompt starts on a line of its own.
            let _ = e.print();
            if !e.render().to_string().ends_with('\n') {
                if e.use_stderr() {
                    eprintln!();
                } else {
                    println!();
                }
            }
            std::process::exit(e.exit_code())
        }
        _ => {
            eprintln!("error: {} (see --help)", one_line(&e.render().to_string()));
            std::process::exit(BAD_INPUT)
        }
    }
}

/// clap's message on one line: its first line, with the indented lines under it (the names of
/// missing arguments, for instance), without the usage and tip that follow.
fn one_line(text: &str) -> String {
    let mut lines = text.lines();
    let first = lines.next().unwrap_or("invalid arguments");
    let mut line = first.strip_prefix("error: ").unwrap_or(first).to_string();
    let more: Vec<&str> = lines
        .take_while(|l| l.starts_with(' '))
        .map(str::trim)
        .collect();
    if !more.is_empty() {
        line.push(' ');
        line.push_str(&more.join(", "));
    }
    line
}

/// Prints `value` as one JSON object on stdout.
pub fn print_json<T: serde::Serialize>(value: &T) {
    println!(
        "{}",
        serde_json::to_string(value).expect("reports serialize")
    );
}
