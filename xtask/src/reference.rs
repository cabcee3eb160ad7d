//! `cargo xtask sensitivity-reference`: an init-sensitivity sweep next to
//! `../shared/reference/pytorch_sensitivity.py`'s JSON lines, cell by cell (mean over seeds on
//! both sides), failing when any cell's mean val loss differs by more than the tolerance.

use serde_json::Value;
use std::collections::BTreeMap;
use std::path::PathBuf;

/// Flags of `cargo xtask sensitivity-reference`.
#[derive(clap::Args)]
pub struct ReferenceArgs {
    /// The sweep directory of `makemore sweep init-sensitivity` (its sweep.json).
    #[arg(long)]
    pub sweep: PathBuf,
    /// The reference's output files (one JSON line per cell; several seeds, several files).
    #[arg(long, num_args = 1.., required = true)]
    pub reference: Vec<PathBuf>,
    /// Largest allowed difference of a cell's mean val loss.
    #[arg(long, default_value_t = 0.05)]
    pub tolerance: f64,
}

/// The reference's scale as the sweep labels it (`1.0` -> `1`).
fn label(x: f64) -> String {
    let s = x.to_string();
    s.strip_suffix(".0").map(str::to_owned).unwrap_or(s)
}

/// A sweep.json cell's or combination's labels, in axis order.
pub(crate) fn labels(v: &Value) -> Vec<String> {
    v["labels"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|l| l.as_str().map(str::to_owned))
        .collect()
}

/// Per combination (scale, norm, residual, optimizer): each seed's val loss and max saturation (%).
pub(crate) type Cells = BTreeMap<Vec<String>, (Vec<f64>, Vec<f64>)>;

/// PyTorch's init-sensitivity cells by combination (scale, norm, residual, optimizer, labelled
/// as the sweep labels them): each seed's val loss and max saturation (%), over `files` (one JSON
/// line per cell, as `pytorch_sensitivity.py` prints them).
pub(crate) fn read_pytorch(files: &[PathBuf]) -> Result<Cells, String> {
    let mut cells = Cells::new();
    for p in files {
        let text = std::fs::read_to_string(p).map_err(|e| format!("{}: {e}", p.display()))?;
        for (n, line) in text
            .lines()
            .enumerate()
            .filter(|(_, l)| !l.trim().is_empty())
        {
            let whence = format!("{}:{}", p.display(), n + 1);
            let r: Value = serde_json::from_str(line).map_err(|e| format!("{whence}: {e}"))?;
            let number = |k: &str| {
                r[k].as_f64()
                    .ok_or_else(|| format!("{whence}: no number `{k}`"))
            };
            let text = |k: &str| {
                r[k].as_str()
                    .map(str::to_owned)
                    .ok_or_else(|| format!("{whence}: no string `{k}`"))
            };
            let residual = match r["residual"].as_bool() {
                Some(true) => "on",
                Some(false) => "off",
                None => return Err(format!("{whence}: `residual` is not true or false")),
            };
            let key = vec![
                label(number("scale")?),
                text("norm")?,
                residual.to_string(),
                text("optimizer")?,
            ];
            let e = cells.entry(key).or_default();
            e.0.push(number("val_loss")?);
            e.1.push(number("max_saturation_pct")?);
        }
    }
    Ok(cells)
}

fn mean(v: &[f64]) -> f64 {
    v.iter().sum::<f64>() / v.len() as f64
}

/// Runs the comparison.
pub fn run(a: &ReferenceArgs) -> Result<(), String> {
    let read =
        |p: &PathBuf| std::fs::read_to_string(p).map_err(|e| format!("{}: {e}", p.display()));
    let sweep: Value = serde_json::from_str(&read(&a.sweep.join("sweep.json"))?)
        .map_err(|e| format!("sweep.json: {e}"))?;
    let names: Vec<&str> = sweep["axes"]
        .as_array()
        .ok_or("sweep.json has no axes")?
        .iter()
        .filter_map(|x| x["name"].as_str())
        .collect();
    if names != ["scale", "norm", "residual", "optimizer"] {
        return Err(format!(
            "expected the init-sensitivity axes scale, norm, residual, optimizer; got {names:?}"
        ));
    }
    let reference = read_pytorch(&a.reference)?;
    println!("| scale | norm | residual | optimizer | ours val (seeds) | PyTorch val (seeds) | diff | ours max sat. | PyTorch max sat. |");
    println!("|---|---|---|---|---|---|---|---|---|");
    let (mut worst, mut compared, mut failures) = (0f64, 0, Vec::new());
    for c in sweep["combos"]
        .as_array()
        .ok_or("sweep.json has no combos")?
    {
        let labels = labels(c);
        let (Some((vals, sats)), Some(ours)) = (reference.get(&labels), c["val_loss"].as_f64())
        else {
            continue;
        };
        let theirs = mean(vals);
        let diff = ours - theirs;
        compared += 1;
        worst = worst.max(diff.abs());
        if diff.abs() > a.tolerance || !diff.is_finite() {
            failures.push(format!(
                "{}: ours {ours:.4}, PyTorch {theirs:.4}",
                labels.join(" / ")
            ));
        }
        println!(
            "| {} | {ours:.4} ({}) | {theirs:.4} ({}) | {diff:+.4} | {:.1}% | {:.1}% |",
            labels.join(" | "),
            c["runs"],
            vals.len(),
            100.0 * c["max_saturation"].as_f64().unwrap_or(f64::NAN),
            mean(sats)
        );
    }
    println!(
        "{compared} cells compared; largest |diff| {worst:.4} (tolerance {})",
        a.tolerance
    );
    if compared == 0 {
        return Err("no cell of the sweep is in the reference files".into());
    }
    if failures.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "{} cells differ by more than {}:\n{}",
            failures.len(),
            a.tolerance,
            failures.join("\n")
        ))
    }
}
