//! `makemore doctor`: the lecture's loop of looking, changing one thing and looking again, as
//! one command (the loop is `makemore_train::doctor`'s; this wires flags, files and the table).

mod page;
mod row;

use super::common::{at_least_one, open_backend, stop_flag, ConfigArgs};
use crate::exit::{print_json, shell, Failure};
use crate::progress::Bar;
use crate::Common;
use makemore_model::config::edit::{edit, Edit};
use makemore_model::{Dataset, RunError};
use makemore_train::doctor::{Applied, Doctor, Report, Spec, Stopped};
use makemore_train::remedy::Family;
use makemore_train::RunDir;
use row::Row;
use std::path::{Path, PathBuf};

/// The fixed config, written into `--out`.
pub const FIXED: &str = "fixed.toml";
/// Every round's numbers, written into `--out`.
pub const JSON: &str = "doctor.json";
/// The rounds side by side, written into `--out`.
pub const PAGE: &str = "doctor.html";

/// Flags of `makemore doctor`.
#[derive(clap::Args)]
#[command(
    after_help = "Examples:\n  makemore doctor --config original --out runs/doctor-original\n  makemore doctor --config deep-tanh-no-norm --allow norm --out runs/doctor-deep\n  makemore train --config runs/doctor-original/fixed.toml"
)]
pub struct DoctorArgs {
    #[command(flatten)]
    common: Common,
    #[command(flatten)]
    cfg: ConfigArgs,
    /// Doctor the config of this run directory (a run, or a cell of a sweep) instead of --config.
    #[arg(long, value_name = "RUN", conflicts_with = "config")]
    from: Option<PathBuf>,
    /// Steps of each round (the fixed config keeps its own train.steps).
    #[arg(long, default_value_t = 1_000)]
    steps: u64,
    /// Record diagnostics every K steps of a round (and its first and last step).
    #[arg(long, default_value_t = 100)]
    every: u64,
    /// Rounds of changes after the first look, at most (at least 1).
    #[arg(long, default_value_t = 4)]
    rounds: usize,
    /// The kinds of change it may make, comma-separated: init, lr, norm, optimizer (SGD to Adam
    /// with a computed rate, after a learning-rate change or in its place). The default keeps a
    /// model without normalization without one.
    #[arg(long, value_delimiter = ',', default_value = "init,lr")]
    allow: Vec<String>,
    /// Seed of the weights and batches of every round (overrides train.seed, kept in fixed.toml).
    #[arg(long)]
    seed: Option<u64>,
    /// The folder for the rounds' run directories (round-0, round-1, ...), fixed.toml,
    /// doctor.json and doctor.html. Running the same command again continues there.
    #[arg(long)]
    out: PathBuf,
    /// Start over: train every round again.
    #[arg(long)]
    force: bool,
    /// No progress bar.
    #[arg(long)]
    quiet: bool,
}

/// The `--allow` list as families, or a one-line error naming the bad one.
fn allowed(names: &[String]) -> Result<Vec<Family>, Failure> {
    let mut out = Vec::new();
    for n in names {
        let f = Family::parse(n).ok_or_else(|| {
            let all: Vec<&str> = Family::ALL.iter().map(|(n, _)| *n).collect();
            Failure::input(format!(
                "--allow: `{n}` is not a kind of change; expected a comma-separated list of {}",
                all.join(", ")
            ))
        })?;
        if !out.contains(&f) {
            out.push(f);
        }
    }
    Ok(out)
}

/// The config's text and where it came from: `--from`'s run directory, `--config`'s file or
/// built-in name, or the built-in default.
fn config_text(a: &DoctorArgs) -> Result<(String, String), Failure> {
    if let Some(run) = &a.from {
        let dir = RunDir::new(run);
        if !dir.holds_run() {
            return Err(Failure::input(format!(
                "--from {}: not a run directory (no config.toml)",
                run.display()
            )));
        }
        let source = dir.file(makemore_train::run_dir::CONFIG);
        return Ok((dir.read_config_text()?, source.display().to_string()));
    }
    super::common::config_text(a.cfg.config.as_deref())
}

/// Runs `makemore doctor`.
pub fn run(a: DoctorArgs) -> Result<(), Failure> {
    at_least_one("--steps", Some(a.steps))?;
    at_least_one("--every", Some(a.every))?;
    if a.rounds == 0 {
        return Err(Failure::input(
            "--rounds must be at least 1 (to look without changing anything: makemore diagnose)",
        ));
    }
    if a.out.exists() && !a.out.is_dir() {
        return Err(Failure::input(format!(
            "--out {}: not a directory; expected a folder for the rounds",
            a.out.display()
        )));
    }
    let allow = allowed(&a.allow)?;
    let (text, source) = config_text(&a)?;
    let mut sets = a.cfg.set.clone();
    sets.extend(a.seed.map(|s| format!("train.seed={s}")));
    let spec = Spec {
        text: &text,
        source: &source,
        sets: &sets,
        steps: a.steps,
        every: a.every,
        rounds: a.rounds,
        allow: &allow,
    };
    let given = spec.config(&[])?;
    given.validate(&source)?;
    let (backend, device) = open_backend(a.common.backend)?;
    let data = a.common.data_path();
    super::data::ensure_default_corpus(&data)?;
    let ds = Dataset::for_run(&data, &given, &a.common.memory.budget())?;
    if a.force {
        remove_rounds(&a.out, 0)?;
    }
    std::fs::create_dir_all(&a.out).map_err(|e| {
        Failure::input(format!(
            "--out {}: cannot make the folder: {e}",
            a.out.display()
        ))
    })?;
    let doctor = Doctor {
        spec,
        ds: &ds,
        data: &data,
        backend,
        device,
        stop: stop_flag(),
        out: &a.out,
        force: a.force,
    };
    let mut bar = Bar::new(a.quiet, "doctor");
    let report = doctor.run(&mut bar).map_err(|e| match e {
        RunError::RunExists { dir, .. } => Failure::input(format!(
            "{}: holds a run of another config (a doctor with other flags?); pass --force to start over, or another --out",
            dir.display()
        )),
        RunError::Interrupted { step, dir } => Failure {
            code: crate::exit::INTERRUPTED,
            message: format!(
                "doctor interrupted at step {step} of {}, checkpointed; rerun the same command{} to continue",
                dir.map_or_else(|| "a round".into(), |d| d.display().to_string()),
                if a.force { " without --force" } else { "" }
            ),
        },
        e => e.into(),
    })?;
    let cannot = cannot_keep(&report);
    let page = page::html(&report, &spec, cannot)?;
    let json = serde_json::to_string_pretty(&report)
        .map_err(|e| Failure::input(format!("doctor.json: {e}")))?;
    write(&a.out.join(JSON), json.as_bytes())?;
    write(&a.out.join(PAGE), page.as_bytes())?;
    // Rounds past the last are an earlier, longer doctor's.
    remove_rounds(&a.out, report.rounds.len())?;
    if cannot {
        // An earlier doctor's fixed config would not be this one's.
        remove_file(&a.out.join(FIXED))?;
    } else {
        write(
            &a.out.join(FIXED),
            fixed_toml(&report, &spec, &a.out)?.as_bytes(),
        )?;
    }
    if a.common.json {
        print_json(&report);
    } else {
        print_table(&report, &a.out, cannot);
    }
    if cannot {
        return Err(cannot_improve(&report, &allow, &a.out));
    }
    Ok(())
}

/// Removes the rounds' run directories from `from` on (all of them with `--force`, and after a
/// doctor those an earlier, longer one left), and with `--force` the doctor's own files.
fn remove_rounds(out: &Path, from: usize) -> Result<(), Failure> {
    let Ok(entries) = std::fs::read_dir(out) else {
        return Ok(());
    };
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let round = name
            .strip_prefix("round-")
            .filter(|k| !k.is_empty() && k.bytes().all(|b| b.is_ascii_digit()))
            .and_then(|k| k.parse::<usize>().ok());
        if round.is_some_and(|k| k >= from)
            && e.path().join(makemore_train::run_dir::CONFIG).is_file()
        {
            std::fs::remove_dir_all(e.path())
                .map_err(|err| Failure::input(format!("{}: {err}", e.path().display())))?;
        }
    }
    if from == 0 {
        for f in [FIXED, JSON, PAGE] {
            remove_file(&out.join(f))?;
        }
    }
    Ok(())
}

/// Removes `path` if it is there.
fn remove_file(path: &Path) -> Result<(), Failure> {
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(Failure {
            code: 1,
            message: format!("{}: {e}", path.display()),
        }),
        _ => Ok(()),
    }
}

/// Writes `path` under a temporary name and renames it: never half-written.
fn write(path: &Path, bytes: &[u8]) -> Result<(), Failure> {
    makemore_files::write_atomic(path, bytes).map_err(|e| Failure {
        code: 1,
        message: format!("{}: {e}", path.display()),
    })
}

/// Whether the doctor has no config to write: it kept no change though advice remains, or its
/// best round still diverges.
fn cannot_keep(report: &Report) -> bool {
    let best = &report.rounds[report.best];
    best.diverged.is_some() || (report.fixed.is_empty() && !best.advice.is_empty())
}

/// The one-line error of a doctor with no config to write ([`cannot_keep`]).
fn cannot_improve(report: &Report, allow: &[Family], out: &Path) -> Failure {
    let rules: Vec<&str> = report.remaining().iter().map(|a| a.rule.as_str()).collect();
    let allowed: Vec<&str> = allow.iter().map(|f| f.name()).collect();
    let tried: Vec<String> = report.rounds[1..]
        .iter()
        .flat_map(|r| r.changes.iter().map(Applied::set_arg))
        .collect();
    let why = if let Some(d) = &report.rounds[report.best].diverged {
        format!(
            "every round diverged, the last at learning rate {} (more --rounds lower it further)",
            d.lr
        )
    } else if report.stopped == Stopped::RoundsDone {
        format!(
            "the rounds ran out before a change lowered the val loss (tried: {}; more --rounds try other kinds)",
            tried.join(" ")
        )
    } else if report.stopped == Stopped::NothingAllowed {
        let hint = if allow.len() < Family::ALL.len() {
            let all: Vec<&str> = Family::ALL.iter().map(|(n, _)| *n).collect();
            format!(" (try --allow {})", all.join(","))
        } else {
            String::new()
        };
        format!("no allowed change carries out {}{hint}", rules.join(", "))
    } else {
        format!(
            "the changes tried ({}) did not lower the val loss",
            tried.join(" ")
        )
    };
    Failure::input(format!(
        "doctor cannot improve {} with --allow {}: {why}; the findings are in {}",
        report.config,
        allowed.join(","),
        shell(&out.join(PAGE))
    ))
}

/// `fixed.toml`: the config's own text with the user's `--set`s and the doctor's changes, each
/// under a comment naming the finding that caused it; checked to read back as the fixed config.
fn fixed_toml(report: &Report, spec: &Spec, out: &Path) -> Result<String, Failure> {
    // (key, value, comment): the user's `--set`s (read as `--set` reads them: they parsed),
    // then the doctor's changes.
    let user = spec.sets.iter().map(|s| {
        let (k, v) = s.split_once('=').unwrap_or((s, ""));
        (k.trim(), v, "set on the doctor's command line".to_string())
    });
    let doctor = report.fixed.iter().enumerate().map(|(i, c)| {
        // A finding that asked for several changes is written out at the first.
        let first = report.fixed[..i]
            .iter()
            .find(|p| p.round == c.round && p.finding == c.finding);
        let why = match first {
            Some(p) => format!("with {}", p.key),
            None => c.finding.clone(),
        };
        let comment = format!("makemore doctor, round {} ({}): {why}", c.round, c.rule);
        (c.key.as_str(), c.value.as_str(), comment)
    });
    let triples: Vec<(&str, &str, String)> = user.chain(doctor).collect();
    let edits: Vec<Edit> = triples
        .iter()
        .map(|(key, value, comment)| Edit {
            key,
            value,
            comment,
        })
        .collect();
    let body =
        edit(spec.text, &edits).map_err(|e| Failure::input(format!("{}: {e}", spec.source)))?;
    let head = if report.fixed.is_empty() {
        format!(
            "# makemore doctor found nothing to change in {}.\n",
            spec.source
        )
    } else {
        format!(
            "# {} with {} change(s) by makemore doctor (round {}; see {}).\n# Train it: makemore train --config {}\n",
            spec.source,
            report.fixed.len(),
            report.best,
            out.join(PAGE).display(),
            shell(&out.join(FIXED))
        )
    };
    let text = format!("{head}\n{body}");
    let back = makemore_model::RunConfig::from_toml_str(&text, FIXED, &[])?;
    let want = spec.config(&report.fixed)?;
    if back.to_toml() != want.to_toml() {
        return Err(Failure {
            code: 1,
            message: format!(
                "{FIXED}: the edited file does not read back as the fixed config (a bug); its changes are: {}",
                report.fixed.iter().map(Applied::set_arg).collect::<Vec<_>>().join(" ")
            ),
        });
    }
    Ok(text)
}

/// The rounds as a table on stdout, then why it stopped and where the files are.
fn print_table(report: &Report, out: &Path, cannot: bool) {
    println!(
        "{:>5}  {:>10}  {:>8}  {:>9}  {:>10}  {:>6}  change",
        "round", "first loss", "val loss", "worst sat", "median upd", "advice"
    );
    for r in &report.rounds {
        let row = Row::of(r);
        let change = match (r.round, row.on) {
            (0, _) => "(as given)".to_string(),
            (_, on) => format!(
                "{}{}",
                on.map_or(String::new(), |b| format!("on round {b}: ")),
                row.changes.join("  ")
            ),
        };
        println!(
            "{:>5}  {:>10}  {:>8}  {:>9}  {:>10}  {:>6}  {change}",
            r.round,
            row.first_loss,
            row.val_loss.unwrap_or_else(|step| format!("div@{step}")),
            row.worst_saturation,
            row.median_update,
            row.advice,
        );
    }
    println!("stopped: {}", report.stopped);
    if report.stopped == Stopped::NotImproving {
        println!("kept: round {}", report.best);
    }
    for a in report.remaining() {
        println!("left: {}", a.message);
    }
    if !cannot {
        println!("fixed config: {}", out.join(FIXED).display());
    }
    println!("page: {}", out.join(PAGE).display());
}

#[cfg(test)]
mod tests {
    use super::*;
    use makemore_train::doctor::DEFAULT_ALLOW;

    /// clap's default `--allow` string and the library's constant name the same families.
    #[test]
    fn the_default_allow_is_the_librarys() {
        let names: Vec<String> = ["init", "lr"].iter().map(|s| s.to_string()).collect();
        assert_eq!(allowed(&names).unwrap(), DEFAULT_ALLOW);
        let bad = allowed(&["init".into(), "optimiser".into()]).unwrap_err();
        assert!(allowed(&["optimizer".into()]).is_ok());
        assert_eq!(bad.code, crate::exit::BAD_INPUT);
        assert!(bad.message.contains("`optimiser`"), "{}", bad.message);
    }
}
