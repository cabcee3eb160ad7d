//! Any text as a sweep file: parsing never panics, and a spec that parses either plans or is
//! refused with an error, quickly (a grid over the cell limit is refused before it is built).
//! A plan that is made reads back from its JSON unchanged, and its cells' configs reload.
#![no_main]

use libfuzzer_sys::fuzz_target;
use makemore_config::RunConfig;
use makemore_sweep::{Plan, SweepSpec};
use std::path::{Component, Path};

/// Two of the CLI's built-in configs, by the names a sweep file's `base` gives them.
fn resolve(name: &str) -> Option<(String, String)> {
    let name = name.trim_end_matches(".toml");
    let text = match name {
        "deep-tanh-kaiming" => include_str!("../../configs/lecture/deep-tanh-kaiming.toml"),
        "deep-tanh-no-norm" => include_str!("../../configs/lecture/deep-tanh-no-norm.toml"),
        _ => return None,
    };
    Some((format!("built-in config {name}"), text.to_string()))
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(spec) = SweepSpec::parse(text, "fuzz/sweep.toml", &resolve) else {
        return;
    };
    let dir = Path::new("fuzz");
    let Ok(plan) = Plan::new(&spec, Path::new("fuzz/names.txt")) else {
        return;
    };
    let combos: usize = spec.axes.iter().map(|a| a.values.len()).product();
    assert_eq!(plan.cells.len(), combos * spec.seeds.len());
    for (i, cell) in plan.cells.iter().enumerate() {
        assert_eq!(cell.index, i);
        assert!(Path::new(&cell.dir)
            .components()
            .all(|c| matches!(c, Component::Normal(_))));
    }
    // What `sweep plan` writes, `sweep cell` reads back.
    let json = serde_json::to_string_pretty(&plan).expect("a plan serializes");
    let back = Plan::from_json(&json, dir).expect("a plan that was made reads back");
    assert_eq!(back, plan);
    for cell in [plan.cells.first(), plan.cells.last()].into_iter().flatten() {
        let cfg = RunConfig::from_toml_str(&cell.config, "fuzz/cell", &[])
            .expect("a planned cell's config reloads");
        assert_eq!(cfg.to_toml(), cell.config);
    }
});
