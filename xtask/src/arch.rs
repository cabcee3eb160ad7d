//! `cargo xtask arch`: ARCHITECTURE.md's invariants, measured from the source.
//!
//! Reads every `.rs` file of the workspace (comments and literals blanked first, so a brace or a
//! path inside a string does not count) and fails when:
//! - a crate depends on a workspace crate that is not below it in [`LAYERS`], or a crate in
//!   [`NO_BURN`] depends on Burn (in its Cargo.toml or by naming `burn::` in its source);
//! - two or more files of one crate import each other in a circle (`use crate::..`, `super::..`
//!   and paths written inline; the crate root, which only declares and re-exports, is left out);
//! - a source file has more than [`MAX_FILE_LINES`] lines outside its `#[cfg(test)]` modules;
//! - a function outside tests has more than [`MAX_FN_LINES`] lines.
//!
//! Tests (`tests/`, `benches/`, `#[cfg(test)]` modules) and examples are exempt from the sizes.

mod imports;
mod source;

use self::imports::{circles, is_root, module_of, paths, resolve};
use self::source::{blank, functions, strip_tests};
use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

/// The most lines a source file may have outside its test modules.
pub const MAX_FILE_LINES: usize = 550;
/// The most lines a function outside tests may span, signature to closing brace.
pub const MAX_FN_LINES: usize = 100;

/// The workspace's crates, lowest first: each may depend only on crates before it.
pub const LAYERS: &[&str] = &[
    "makemore-files",
    "makemore-kernels",
    "makemore-data",
    "makemore-init",
    "makemore-config",
    "makemore-diagnostics",
    "makemore-model",
    "makemore-train",
    "makemore-sweep",
    "makemore-cli",
];

/// Crates that must build without Burn.
pub const NO_BURN: &[&str] = &[
    "makemore-files",
    "makemore-kernels",
    "makemore-data",
    "makemore-init",
    "makemore-config",
];

/// Runs every check; prints each broken invariant and fails when there is one.
pub fn run(root: &Path) -> Result<(), String> {
    let problems = check(root)?;
    for p in &problems {
        println!("{p}");
    }
    if problems.is_empty() {
        println!(
            "arch: every invariant holds ({} crates)",
            crates(root)?.len()
        );
        Ok(())
    } else {
        Err(format!("arch: {} invariant(s) broken", problems.len()))
    }
}

/// One workspace member: its name, its folder and the workspace crates and Burn it depends on.
struct Member {
    name: String,
    dir: PathBuf,
    deps: Vec<String>,
    burn: bool,
}

fn crates(root: &Path) -> Result<Vec<Member>, String> {
    let mut out = Vec::new();
    let mut dirs: Vec<PathBuf> = read_dir(&root.join("crates"))?;
    dirs.push(root.join("xtask"));
    for dir in dirs {
        let manifest = dir.join("Cargo.toml");
        let Ok(text) = fs::read_to_string(&manifest) else {
            continue;
        };
        let name = text
            .lines()
            .find_map(|l| {
                l.trim()
                    .strip_prefix("name = ")
                    .map(|n| n.trim_matches('"').to_string())
            })
            .ok_or_else(|| format!("{}: no package name", manifest.display()))?;
        let (mut deps, mut burn, mut section) = (Vec::new(), false, String::new());
        for line in text.lines().map(str::trim) {
            if line.starts_with('[') {
                section = line.to_string();
                continue;
            }
            if section != "[dependencies]" {
                continue;
            }
            let key = line.split(['=', '.', ' ']).next().unwrap_or("");
            if key.starts_with("makemore-") {
                deps.push(key.to_string());
            }
            burn |= key == "burn";
        }
        out.push(Member {
            name,
            dir,
            deps,
            burn,
        });
    }
    Ok(out)
}

fn read_dir(dir: &Path) -> Result<Vec<PathBuf>, String> {
    let mut v: Vec<PathBuf> = fs::read_dir(dir)
        .map_err(|e| format!("{}: {e}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    v.sort();
    Ok(v)
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) -> Result<(), String> {
    for p in read_dir(dir)? {
        if p.is_dir() {
            rust_files(&p, out)?;
        } else if p.extension().is_some_and(|e| e == "rs") {
            out.push(p);
        }
    }
    Ok(())
}

/// Every broken invariant, one line each, naming the file or crate.
pub fn check(root: &Path) -> Result<Vec<String>, String> {
    let members = crates(root)?;
    let mut problems = Vec::new();
    for m in &members {
        let rank = LAYERS.iter().position(|l| *l == m.name);
        for d in &m.deps {
            let below = match (rank, LAYERS.iter().position(|l| l == d)) {
                (Some(r), Some(dr)) => dr < r,
                (None, Some(_)) => true, // xtask and other tools may use any crate
                (_, None) => false,
            };
            if !below {
                problems.push(format!(
                    "{}: depends on {d}, which is not below it in LAYERS",
                    m.name
                ));
            }
        }
        if rank.is_none() && m.name != "xtask" {
            problems.push(format!(
                "{}: a crate that LAYERS (xtask/src/arch.rs) does not place",
                m.name
            ));
        }
        let no_burn = NO_BURN.contains(&m.name.as_str());
        if no_burn && m.burn {
            problems.push(format!(
                "{}: depends on burn, which it must build without",
                m.name
            ));
        }
        let src = m.dir.join("src");
        let mut files = Vec::new();
        if src.is_dir() {
            rust_files(&src, &mut files)?;
        }
        let mut graph: BTreeMap<PathBuf, BTreeSet<PathBuf>> = BTreeMap::new();
        for f in &files {
            let text = fs::read_to_string(f).map_err(|e| format!("{}: {e}", f.display()))?;
            let clean = blank(&text);
            let (body, test_lines) = strip_tests(&clean);
            let shown = f.strip_prefix(root).unwrap_or(f).display().to_string();
            let lines = clean.lines().count() - test_lines;
            if lines > MAX_FILE_LINES {
                problems.push(format!(
                    "{shown}: {lines} lines outside tests (at most {MAX_FILE_LINES})"
                ));
            }
            for (name, line, len) in functions(&body) {
                if len > MAX_FN_LINES {
                    problems.push(format!(
                        "{shown}:{line}: fn {name} spans {len} lines (at most {MAX_FN_LINES})"
                    ));
                }
            }
            if no_burn && body.contains("burn::") {
                problems.push(format!(
                    "{shown}: names burn::, which its crate must not know"
                ));
            }
            let module = module_of(&src, f);
            let edges = graph.entry(f.clone()).or_default();
            for path in paths(&body, &module) {
                if let Some(target) = resolve(&src, &path) {
                    if &target != f && !is_root(&src, &target) {
                        edges.insert(target);
                    }
                }
            }
        }
        for cycle in circles(&graph) {
            let names: Vec<String> = cycle
                .iter()
                .map(|p| p.strip_prefix(root).unwrap_or(p).display().to_string())
                .collect();
            problems.push(format!(
                "{}: import circle among {}",
                m.name,
                names.join(", ")
            ));
        }
    }
    Ok(problems)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_modules_are_left_out_of_lengths_and_imports() {
        let src = "use crate::a;\n#[cfg(test)]\nmod tests {\n    use crate::b;\n    fn long() {\n    }\n}\n";
        let (body, lines) = strip_tests(&blank(src));
        assert_eq!(lines, 6);
        assert!(functions(&body).is_empty());
        let p = paths(&body, &[]);
        assert_eq!(p, vec![vec!["a".to_string()]]);
    }
}
