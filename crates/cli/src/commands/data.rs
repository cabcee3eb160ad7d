//! `makemore data stats` and `makemore data fetch`.

use crate::exit::{print_json, Failure};
use clap::Subcommand;
use makemore_data::Corpus;
use makemore_model::config::DataConfig;
use makemore_model::Dataset;
use serde::Serialize;
use std::path::PathBuf;

/// Where the corpus is when neither `--data` nor `MAKEMORE_DATA` says.
pub const DEFAULT_DATA: &str = "data/names.txt";

/// Where `makemore data fetch` downloads the corpus from.
pub const NAMES_URL: &str = "https://raw.githubusercontent.com/karpathy/makemore/master/names.txt";
/// The corpus's size in bytes (no trailing newline).
pub const NAMES_BYTES: u64 = 228_145;
/// SHA-256 of that file.
pub const NAMES_SHA256: &str = "0a30b5557f192f32ab962680889aac5f6fda0f4cecf40a6d0b5694f58ea8cc4d";

/// Corpus subcommands.
#[derive(Subcommand)]
pub enum DataCommand {
    /// Items, vocabulary, split sizes in items and windows.
    #[command(
        after_help = "Example:\n  makemore data stats --data ../shared/data/names.txt --json"
    )]
    Stats {
        /// The corpus: one item per line.
        #[arg(long, env = "MAKEMORE_DATA", default_value = "data/names.txt")]
        data: PathBuf,
        /// Context length of the windows.
        #[arg(long, default_value_t = 3)]
        block_size: usize,
        /// Seed of the Python-compatible shuffle.
        #[arg(long, default_value_t = 42)]
        seed: u64,
        #[command(flatten)]
        memory: super::common::MemoryArgs,
        /// One JSON object on stdout.
        #[arg(long)]
        json: bool,
    },
    /// Download names.txt (checking its SHA-256) into data/names.txt.
    #[command(after_help = "Example:\n  makemore data fetch --out data/names.txt")]
    Fetch {
        /// Where to write it.
        #[arg(long, default_value = "data/names.txt")]
        out: PathBuf,
        /// Where to download it from (a mirror); the SHA-256 must still match.
        #[arg(long, env = "MAKEMORE_NAMES_URL", default_value = NAMES_URL)]
        url: String,
        /// Replace a file at --out that is not names.txt.
        #[arg(long)]
        force: bool,
        /// One JSON object on stdout.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Serialize)]
struct SplitStats {
    items: usize,
    windows: usize,
    /// The first and last three items, to check a split by eye (or against the lecture's).
    head: Vec<String>,
    tail: Vec<String>,
}

#[derive(Serialize)]
struct Stats {
    data: String,
    items: usize,
    characters: usize,
    blank_lines: usize,
    longest_item: usize,
    vocab_size: usize,
    vocabulary: String,
    block_size: usize,
    seed: u64,
    splits: std::collections::BTreeMap<&'static str, SplitStats>,
}

/// Runs a data subcommand.
pub fn run(cmd: DataCommand) -> Result<(), Failure> {
    match cmd {
        DataCommand::Stats {
            data,
            block_size,
            seed,
            memory,
            json,
        } => stats(data, block_size, seed, &memory, json),
        DataCommand::Fetch {
            out,
            url,
            force,
            json,
        } => fetch(out, &url, force, json),
    }
}

fn stats(
    data: PathBuf,
    block_size: usize,
    seed: u64,
    memory: &super::common::MemoryArgs,
    json: bool,
) -> Result<(), Failure> {
    if block_size == 0 {
        return Err(Failure::input("--block-size: must be >= 1"));
    }
    let cfg = DataConfig {
        split_seed: seed,
        ..DataConfig::default()
    };
    let corpus = Corpus::load(&data, cfg.boundary, None)?;
    let windows = corpus.total_chars().saturating_add(corpus.items.len()); // a window per character, one per item end
    memory
        .budget()
        .check(&makemore_model::budget::windows_needs(
            "--block-size",
            windows,
            block_size,
        ))?;
    let ds = Dataset::from_corpus(corpus, &cfg, block_size)?;
    let items = [&ds.split.train, &ds.split.val, &ds.split.test];
    let splits = makemore_model::SPLITS
        .iter()
        .zip(items.iter().zip(&ds.windows))
        .map(|(name, (items, w))| {
            let head = items.iter().take(3).cloned().collect();
            let tail = items
                .iter()
                .skip(items.len().saturating_sub(3))
                .cloned()
                .collect();
            (
                *name,
                SplitStats {
                    items: items.len(),
                    windows: w.len(),
                    head,
                    tail,
                },
            )
        })
        .collect();
    let s = Stats {
        data: data.display().to_string(),
        items: ds.corpus.items.len(),
        characters: ds.corpus.total_chars(),
        blank_lines: ds.corpus.blank_lines,
        longest_item: ds.corpus.longest_item(),
        vocab_size: ds.vocab.len(),
        vocabulary: ds.vocab.tokens().iter().collect(),
        block_size,
        seed,
        splits,
    };
    if json {
        print_json(&s);
    } else {
        println!(
            "{}: {} items, {} characters, {} blank lines skipped, longest item {}",
            s.data, s.items, s.characters, s.blank_lines, s.longest_item
        );
        println!("vocabulary: {} tokens {:?}", s.vocab_size, s.vocabulary);
        println!("split (seed {seed}, block size {block_size}):");
        for (name, sp) in &s.splits {
            println!(
                "  {name:<5} {:>7} items {:>8} windows  {} ... {}",
                sp.items,
                sp.windows,
                sp.head.join(", "),
                sp.tail.join(", ")
            );
        }
    }
    Ok(())
}

fn fetch(out: PathBuf, url: &str, force: bool, json: bool) -> Result<(), Failure> {
    if out.is_dir() {
        return Err(Failure::input(format!(
            "{}: is a directory; give --out a file path",
            out.display()
        )));
    }
    if let Ok(meta) = std::fs::metadata(&out) {
        // A device, a FIFO or a socket is neither read (it may never end) nor replaced.
        if !meta.is_file() {
            return Err(Failure::input(format!(
                "{}: is not a regular file; give --out a file path",
                out.display()
            )));
        }
        // Already the corpus: nothing to do. Anything else is the user's file, kept unless
        // --force. Only a file of the corpus's size is read to compare.
        let there = (meta.len() == NAMES_BYTES)
            .then(|| std::fs::read(&out).map(|b| makemore_files::sha256_hex(&b)))
            .and_then(Result::ok);
        if there.is_some_and(|d| d == NAMES_SHA256) {
            if json {
                print_json(
                    &serde_json::json!({ "path": out.display().to_string(), "sha256": NAMES_SHA256, "already_there": true }),
                );
            } else {
                println!("{} is already there (SHA-256 ok)", out.display());
            }
            return Ok(());
        }
        if !force {
            return Err(Failure::input(format!(
                "{}: already exists and is not names.txt; pass --force to replace it, or another --out",
                out.display()
            )));
        }
    }
    let (bytes, digest) = download(&out, url)?;
    if json {
        print_json(
            &serde_json::json!({ "path": out.display().to_string(), "bytes": bytes, "sha256": digest }),
        );
    } else {
        println!("wrote {} ({bytes} bytes, SHA-256 ok)", out.display());
    }
    Ok(())
}

/// Downloads the corpus from `url` to `out` through a temporary file; returns its size and
/// digest.
fn download(out: &std::path::Path, url: &str) -> Result<(usize, String), Failure> {
    let fail = |e: String| {
        Failure {
        code: 1,
        message: format!("cannot download {url}: {e}; without network access, copy names.txt here by hand, or give the other commands a local copy (--data PATH, or MAKEMORE_DATA)"),
    }
    };
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_global(Some(std::time::Duration::from_secs(30)))
        .build()
        .into();
    let bytes = agent
        .get(url)
        .call()
        .map_err(|e| fail(e.to_string()))?
        .body_mut()
        .with_config()
        .limit(16 * 1024 * 1024)
        .read_to_vec()
        .map_err(|e| fail(e.to_string()))?;
    let digest = makemore_files::sha256_hex(&bytes);
    if digest != NAMES_SHA256 {
        return Err(fail(format!(
            "SHA-256 {digest} does not match the expected {NAMES_SHA256}"
        )));
    }
    if let Some(dir) = out.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)
            .map_err(|e| Failure::input(format!("{}: {e}", dir.display())))?;
    }
    makemore_files::write_atomic(out, &bytes).map_err(|e| Failure {
        code: 1,
        message: format!("{}: {e}", out.display()),
    })?;
    Ok((bytes.len(), digest))
}

/// Makes sure the corpus exists, downloading it when it is the default path and missing.
pub fn ensure_default_corpus(path: &std::path::Path) -> Result<(), Failure> {
    if path.exists() || path != std::path::Path::new(DEFAULT_DATA) {
        return Ok(());
    }
    eprintln!(
        "{} is missing; downloading it (pass --data PATH to use another file)",
        path.display()
    );
    let (bytes, _) = download(path, NAMES_URL)?;
    eprintln!("wrote {} ({bytes} bytes, SHA-256 ok)", path.display());
    Ok(())
}
