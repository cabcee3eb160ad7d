//! Reading the README's figures: its tables' cells, its prose's numbers, and how far a figure of
//! ours may drift from what it prints.

/// How far a README figure of ours (a loss after training, printed to 3 or 4 decimals) may sit from
/// what this build measures. On the machine that wrote the README the runs reproduce every printed
/// digit; another CPU's matrix kernels (the `gemm` crate picks its SIMD width at run time) sum in
/// another order, which 200,000 steps can carry into the third decimal. The largest change of a
/// lecture-table figure in the project's history, across machines and kernel rewrites, is 1.4e-3
/// (`original`'s val, 2.1556 -> 2.1570).
pub(super) const README_DRIFT: f64 = 3e-3;

/// The cells of the README table whose header line starts with `header`, one `Vec` per row.
pub(super) fn readme_table(readme: &str, header: &str) -> Result<Vec<Vec<String>>, String> {
    let rows: Vec<Vec<String>> = readme
        .lines()
        .skip_while(|l| !l.starts_with(header))
        .skip(2) // the header and its |---| line
        .take_while(|l| l.starts_with('|'))
        .map(|l| {
            l.trim_matches('|')
                .split('|')
                .map(|c| c.trim().to_string())
                .collect()
        })
        .collect();
    if rows.is_empty() {
        return Err(format!(
            "README.md: no table under a line starting `{header}`"
        ));
    }
    Ok(rows)
}

/// A README cell as a number (`+0.0024`, `2.07`, `89%`).
pub(super) fn readme_number(cell: &str, what: &str) -> Result<f64, String> {
    cell.trim_start_matches('+')
        .trim_end_matches('%')
        .parse()
        .map_err(|_| format!("README.md: {what}: `{cell}` is not a number"))
}

/// The text of the README, its whitespace runs made single spaces (so that a sentence may wrap).
pub(super) fn readme_text(readme: &str) -> String {
    readme.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The numbers the README writes right after `prefix` (`0.27`, `2.45-2.29-2.46`, `3-5%`): the
/// word after it split at `-` and stripped of `%`, `,`, `)`, `.` at its end.
pub(super) fn readme_after(text: &str, prefix: &str) -> Result<Vec<f64>, String> {
    let word = text
        .split(prefix)
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .ok_or_else(|| format!("README.md: no `{prefix}`"))?;
    word.trim_end_matches(|c: char| !c.is_ascii_digit())
        .split('-')
        .map(|n| readme_number(n, prefix))
        .collect()
}
