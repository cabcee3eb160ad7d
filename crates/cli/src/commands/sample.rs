//! `makemore sample`.

use super::eval::{load_run, SavedRunArgs};
use crate::exit::{print_json, Failure};
use makemore_model::budget::sampling_needs;
use makemore_model::sample::{sample, SampleOptions};
use std::collections::HashSet;

/// Flags of `makemore sample`.
#[derive(clap::Args)]
#[command(after_help = "Example:\n  makemore sample --run runs/bn -n 20 --temperature 0.8")]
pub struct SampleArgs {
    #[command(flatten)]
    saved: SavedRunArgs,
    /// How many items.
    #[arg(short = 'n', default_value_t = 20)]
    n: usize,
    /// Seed of the draws.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Divides the logits (< 1: safer, > 1: wilder).
    #[arg(long, default_value_t = 1.0)]
    temperature: f64,
    /// Only draw among the k most likely characters.
    #[arg(long)]
    top_k: Option<usize>,
    /// Cut an item after this many characters.
    #[arg(long, default_value_t = 64)]
    max_len: usize,
}

/// Runs `makemore sample`.
pub fn run(a: SampleArgs) -> Result<(), Failure> {
    if a.n == 0 {
        return Err(Failure::input("-n: must be >= 1"));
    }
    // It divides the model's 32-bit logits: it must be a normal f32.
    let t32 = a.temperature as f32;
    if !(a.temperature > 0.0 && t32.is_finite() && t32 >= f32::MIN_POSITIVE) {
        return Err(Failure::input(format!(
            "--temperature: must be a number between {:e} and {:e}, got {}",
            f32::MIN_POSITIVE,
            f32::MAX,
            a.temperature
        )));
    }
    if a.top_k == Some(0) {
        return Err(Failure::input("--top-k: must be >= 1"));
    }
    if a.max_len == 0 {
        return Err(Failure::input("--max-len: must be >= 1"));
    }
    let (saved, ds, device) = load_run(&a.saved, false)?;
    let needs = sampling_needs("-n", &saved.config, ds.vocab.len(), a.n, a.max_len);
    a.saved.memory.budget().check(&needs)?;
    let opts = SampleOptions {
        n: a.n,
        seed: a.seed,
        temperature: a.temperature,
        top_k: a.top_k,
        max_len: a.max_len,
    };
    let names = sample(
        &saved.model,
        &ds.vocab,
        saved.config.model.block_size,
        &opts,
        &device,
    )
    .items;
    let train: HashSet<&str> = ds.split.train.iter().map(String::as_str).collect();
    let marked: Vec<(String, bool)> = names
        .into_iter()
        .map(|s| {
            let new = !train.contains(s.as_str());
            (s, new)
        })
        .collect();
    if a.saved.json {
        let samples: Vec<_> = marked
            .iter()
            .map(|(s, new)| serde_json::json!({ "text": s, "new": new }))
            .collect();
        let new = marked.iter().filter(|(_, n)| *n).count();
        print_json(
            &serde_json::json!({ "samples": samples, "new": new, "in_train": marked.len() - new }),
        );
    } else {
        for (s, new) in &marked {
            println!("{s:<20} {}", if *new { "new" } else { "in train" });
        }
    }
    Ok(())
}
