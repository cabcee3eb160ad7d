//! Any text as `sweep-plan.json`: reading it never panics, and an accepted plan is a grid of
//! cells inside the sweep directory that `sweep cell DIR INDEX` can address.
#![no_main]

use libfuzzer_sys::fuzz_target;
use makemore_sweep::Plan;
use std::path::{Component, Path};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let dir = Path::new("fuzz");
    let Ok(plan) = Plan::from_json(text, dir) else {
        return;
    };
    let combos: usize = plan.axes.iter().map(|a| a.labels.len()).product();
    assert_eq!(plan.cells.len(), combos * plan.seeds.len());
    for i in 0..plan.cells.len() {
        let cell = plan.cell(i, dir).expect("every index below the count is a cell");
        assert_eq!(cell.index, i);
        assert_eq!(cell.labels.len(), plan.axes.len());
        assert!(cell.dir.starts_with("cells/"), "{:?}", cell.dir);
        let parts: Vec<Component> = Path::new(&cell.dir).components().collect();
        assert!(parts.len() >= 2, "{:?}", cell.dir);
        assert!(
            parts.iter().all(|c| matches!(c, Component::Normal(_))),
            "{:?} leaves the sweep directory",
            cell.dir
        );
    }
    assert!(plan.cell(plan.cells.len(), dir).is_err());
    for h in &plan.heatmap {
        assert!(plan.axes.iter().any(|a| &a.name == h));
    }
});
