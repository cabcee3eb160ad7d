//! Part 4 of the suite, the lecture: the README's lecture table against a full `makemore
//! lecture` run.

use super::check::{figure, Check};
use super::io::{makemore, number};
use super::readme::{readme_number, readme_table, README_DRIFT};
use std::path::Path;

/// How far the README's first losses may sit from this build's: one forward pass, so only the
/// printed rounding (5e-5) and float summation order.
const README_FIRST_LOSS: f64 = 1e-4;

/// The README's lecture table against a full `makemore lecture` run (the default seed).
pub(super) fn readme_lecture(readme: &str, data: &str, out: &Path) -> Result<Vec<Check>, String> {
    let dir = out.join("lecture-full");
    let _ = std::fs::remove_dir_all(&dir);
    let dir_arg = dir.display().to_string();
    let run = makemore(&["lecture", "--data", data, "--out", &dir_arg])?;
    let table = readme_table(readme, "| variant | first loss |")?;
    let rows = run["rows"].as_array().ok_or("makemore lecture: no rows")?;
    if table.len() != rows.len() {
        return Err(format!(
            "README.md: the lecture table has {} rows; makemore lecture trains {}",
            table.len(),
            rows.len()
        ));
    }
    let mut checks = Vec::new();
    for row in rows {
        let variant = row["variant"].as_str().unwrap_or("?");
        let cells = table
            .iter()
            .find(|r| r[0] == variant)
            .ok_or_else(|| format!("README.md: the lecture table has no `{variant}` row"))?;
        if cells.len() != 7 {
            return Err(format!(
                "README.md: the lecture table's `{variant}` row has {} cells, not 7",
                cells.len()
            ));
        }
        let cell = |i: usize| readme_number(&cells[i], &format!("lecture table, {variant}"));
        let ours = |key: &str| number(row, key, "makemore lecture --json");
        let what = |col: &str| format!("README lecture table {variant} {col}");
        checks.push(figure(
            what("first loss"),
            ours("first_loss")?,
            cell(1)?,
            README_FIRST_LOSS,
        ));
        checks.push(figure(
            what("train"),
            ours("train")?,
            cell(2)?,
            README_DRIFT,
        ));
        checks.push(figure(what("val"), ours("val")?, cell(3)?, README_DRIFT));
        // The lecture's own figures are constants of the binary: they must match exactly.
        checks.push(figure(
            what("lecture train"),
            ours("lecture_train")?,
            cell(4)?,
            1e-9,
        ));
        checks.push(figure(
            what("lecture val"),
            ours("lecture_val")?,
            cell(5)?,
            1e-9,
        ));
        // The last column is the difference of two printed columns: their rounding, no more.
        let difference = cell(3)? - cell(5)?;
        checks.push(figure(
            what("val - lecture"),
            difference,
            cell(6)?,
            1e-4 + 1e-9,
        ));
    }
    Ok(checks)
}
