//! `makemore configs`: the built-in configs, which `--config NAME` and a sweep's `base` take.

use super::builtin;
use crate::exit::{print_json, Failure};

/// Lists the built-in configs with their one-line descriptions.
pub fn run(json: bool) -> Result<(), Failure> {
    let rows: Vec<(&str, String)> = builtin::CONFIGS
        .iter()
        .map(|(name, text)| (*name, builtin::description(text)))
        .collect();
    if json {
        let list: Vec<serde_json::Value> = rows
            .iter()
            .map(|(n, d)| serde_json::json!({ "name": n, "description": d }))
            .collect();
        print_json(&serde_json::json!({ "configs": list }));
    } else {
        let width = rows.iter().map(|(n, _)| n.len()).max().unwrap_or(0);
        for (name, description) in &rows {
            println!("{name:<width$}  {description}");
        }
        println!("\nuse one with --config NAME (train, diagnose, bench) or base = \"NAME\" in a sweep file");
    }
    Ok(())
}
