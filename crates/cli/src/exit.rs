//! Errors as the user sees them: one line on stderr and an exit status.

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
            message: e.to_string(),
        }
    }
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
input_errors!(
    makemore_model::ConfigError,
    makemore_model::BackendError,
    makemore_data::CorpusError,
    makemore_init::InitError
);

/// Reports a command-line parsing error on one line (help and version print as usual).
pub fn clap_error(e: clap::Error) -> ! {
    use clap::error::ErrorKind;
    match e.kind() {
        ErrorKind::DisplayHelp
        | ErrorKind::DisplayVersion
        | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => e.exit(),
        _ => {
            let text = e.render().to_string();
            let first = text.lines().next().unwrap_or("invalid arguments");
            let first = first.strip_prefix("error: ").unwrap_or(first);
            eprintln!("error: {first} (see --help)");
            std::process::exit(BAD_INPUT)
        }
    }
}

/// Prints `value` as one JSON object on stdout.
pub fn print_json<T: serde::Serialize>(value: &T) {
    println!(
        "{}",
        serde_json::to_string(value).expect("reports serialize")
    );
}
