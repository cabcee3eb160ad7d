//! Part 2 of the suite: the built-in `init-sensitivity` sweep, every combination's val loss
//! against PyTorch's 3 seeds.

use super::check::{Check, Spread, ROUNDING};
use super::io::{makemore, number, read_json};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// What each sweep combination (labels: scale, norm, residual, optimizer) measured, per seed.
pub(super) type ByCombination = BTreeMap<Vec<String>, Vec<f64>>;

/// One side of the init-sensitivity comparison: val loss and max saturation (%) per combination.
#[derive(Default)]
pub(super) struct Sweep {
    /// Each seed's val loss.
    pub(super) val: ByCombination,
    /// Each seed's max saturation (%).
    pub(super) saturation: ByCombination,
}

/// Seeds of each init-sensitivity combination, on each side.
const SWEEP_SEEDS: usize = 3;

/// The built-in `init-sensitivity` sweep (180 runs), ours and PyTorch's: every combination's val
/// loss against PyTorch's 3 seeds.
pub(super) fn sensitivity(
    data: &str,
    out: &Path,
    reference: &Path,
) -> Result<(Vec<Check>, Sweep, Sweep), String> {
    let dir = out.join("sensitivity");
    let _ = std::fs::remove_dir_all(&dir);
    let dir_arg = dir.display().to_string();
    makemore(&[
        "sweep",
        "init-sensitivity",
        "--data",
        data,
        "--out",
        &dir_arg,
    ])?;
    let sweep = read_json(&dir.join("sweep.json"))?;
    let mut ours = Sweep::default();
    for cell in sweep["cells"].as_array().ok_or("sweep.json has no cells")? {
        let labels = crate::reference::labels(cell);
        let whence = format!("sweep cell {labels:?}");
        let val = number(cell, "val_loss", &whence)?;
        let saturation = 100.0 * number(cell, "max_saturation", &whence)?;
        ours.val.entry(labels.clone()).or_default().push(val);
        ours.saturation.entry(labels).or_default().push(saturation);
    }
    let files: Vec<PathBuf> = (1..=SWEEP_SEEDS)
        .map(|seed| reference.join(format!("pytorch-sensitivity-seed{seed}.jsonl")))
        .collect();
    let mut theirs = Sweep::default();
    for (key, (val, saturation)) in crate::reference::read_pytorch(&files)? {
        theirs.val.insert(key.clone(), val);
        theirs.saturation.insert(key, saturation);
    }
    if ours.val.keys().ne(theirs.val.keys()) {
        return Err(format!(
            "init-sensitivity's combinations ({}) are not those of PyTorch's files ({})",
            ours.val.len(),
            theirs.val.len()
        ));
    }
    for (side, sweep) in [("ours", &ours), ("PyTorch's", &theirs)] {
        if let Some((k, v)) = sweep.val.iter().find(|(_, v)| v.len() != SWEEP_SEEDS) {
            return Err(format!(
                "init-sensitivity {}: {side} has {} seeds, not {SWEEP_SEEDS}",
                k.join("/"),
                v.len()
            ));
        }
    }
    let pairs: Vec<(&Vec<String>, Spread, Spread)> = ours
        .val
        .iter()
        .map(|(k, v)| (k, Spread::of(v), Spread::of(&theirs.val[k])))
        .collect();
    if pairs.is_empty() {
        return Err("init-sensitivity: no combination to compare".into());
    }
    let median = |sds: Vec<f64>| {
        let mut sds = sds;
        sds.sort_by(f64::total_cmp);
        sds[sds.len() / 2]
    };
    let floor_ours = median(pairs.iter().map(|p| p.1.sd).collect());
    let floor_theirs = median(pairs.iter().map(|p| p.2.sd).collect());
    let checks = pairs
        .into_iter()
        .map(|(k, o, t)| {
            let what = format!("sweep {} val loss", k.join("/"));
            Check::new(
                what,
                o.floored(floor_ours),
                t.floored(floor_theirs),
                ROUNDING,
            )
        })
        .collect();
    Ok((checks, ours, theirs))
}
