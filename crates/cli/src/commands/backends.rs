//! `makemore backends`.

use crate::exit::{print_json, Failure};
use makemore_model::BackendKind;
use serde::Serialize;

#[derive(Serialize)]
struct Entry {
    name: &'static str,
    compiled_in: bool,
    /// Whether a device opened and computed 1 + 2 + 3 (only for compiled-in backends).
    usable: Option<bool>,
    /// Why not, when it did not.
    error: Option<String>,
}

/// Lists every backend.
pub fn run(json: bool) -> Result<(), Failure> {
    let entries: Vec<Entry> = BackendKind::ALL
        .into_iter()
        .map(|b| {
            let compiled_in = b.compiled_in();
            let (usable, error) = if compiled_in {
                match b.open() {
                    Ok(_) => (Some(true), None),
                    Err(e) => (Some(false), Some(e.to_string())),
                }
            } else {
                (None, None)
            };
            Entry {
                name: b.name(),
                compiled_in,
                usable,
                error,
            }
        })
        .collect();
    if json {
        print_json(&serde_json::json!({ "backends": entries }));
    } else {
        for e in &entries {
            let yes = |b: bool| if b { "yes" } else { "no" };
            let device = match (e.usable, &e.error) {
                (Some(true), _) => "device: ok".to_string(),
                (Some(false), Some(err)) => format!("device: unavailable ({err})"),
                _ => format!("rebuild with --features {}", e.name),
            };
            println!(
                "{:<8} compiled in: {:<3}  {device}",
                e.name,
                yes(e.compiled_in)
            );
        }
    }
    Ok(())
}
