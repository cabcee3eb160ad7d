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

use self::imports::{circles, is_root, module_of, paths, resolve_via_root, root_exports};
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

/// The workspace's members, as the root Cargo.toml's `members` lists them (so a crate added
/// anywhere is seen), each with what its manifest says it depends on.
fn crates(root: &Path) -> Result<Vec<Member>, String> {
    let manifest = root.join("Cargo.toml");
    let text = fs::read_to_string(&manifest).map_err(|e| format!("{}: {e}", manifest.display()))?;
    let list = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("members = "))
        .ok_or_else(|| format!("{}: no workspace members", manifest.display()))?;
    let mut out = Vec::new();
    for dir in list.split('"').skip(1).step_by(2) {
        out.push(member(&root.join(dir))?);
    }
    Ok(out)
}

/// A member's name, the workspace crates it depends on and whether it depends on Burn, from
/// every dependency table of its manifest: `[dependencies]`, `[dev-dependencies]`,
/// `[build-dependencies]`, their `[target.'cfg(..)'.*]` forms and `[dependencies.NAME]` tables,
/// with a crate renamed by `package = ".."` counted under its real name.
fn member(dir: &Path) -> Result<Member, String> {
    let manifest = dir.join("Cargo.toml");
    let text = fs::read_to_string(&manifest).map_err(|e| format!("{}: {e}", manifest.display()))?;
    let name = text
        .lines()
        .find_map(|l| {
            l.trim()
                .strip_prefix("name = ")
                .map(|n| n.trim_matches('"').to_string())
        })
        .ok_or_else(|| format!("{}: no package name", manifest.display()))?;
    let (mut deps, mut burn) = (Vec::new(), false);
    let mut table: Option<String> = None; // Some(section) inside a dependency table
    let mut named: Option<String> = None; // the crate of a `[dependencies.NAME]` table
    for line in text.lines().map(str::trim) {
        if let Some(head) = line.strip_prefix('[') {
            let head = head.trim_end_matches(']');
            let is_deps = head.split('.').any(|part| part.ends_with("dependencies"));
            named = is_deps
                .then(|| {
                    head.rsplit_once("dependencies.")
                        .map(|(_, n)| n.to_string())
                })
                .flatten();
            table = is_deps.then(|| head.to_string());
            if let Some(n) = &named {
                (burn, deps) = note(n, burn, deps);
            }
            continue;
        }
        if table.is_none() || line.is_empty() || line.starts_with('#') {
            continue;
        }
        let key = line.split(['=', '.', ' ']).next().unwrap_or("");
        let renamed = line
            .split("package")
            .nth(1)
            .and_then(|r| r.split('"').nth(1))
            .map(str::to_string);
        match (&named, renamed) {
            (_, Some(real)) => (burn, deps) = note(&real, burn, deps),
            (None, None) => (burn, deps) = note(key, burn, deps),
            (Some(_), None) => {}
        }
    }
    Ok(Member {
        name,
        dir: dir.to_path_buf(),
        deps,
        burn,
    })
}

/// Records a dependency on crate `dep`: Burn (`burn` or any `burn-*` crate), or a workspace crate.
fn note(dep: &str, burn: bool, mut deps: Vec<String>) -> (bool, Vec<String>) {
    if dep.starts_with("makemore-") && !deps.iter().any(|d| d == dep) {
        deps.push(dep.to_string());
    }
    (burn || dep == "burn" || dep.starts_with("burn-"), deps)
}

/// The files of a Burn-free crate outside `src/` (tests, benches, examples, build.rs) that
/// name Burn.
fn burn_outside_src(root: &Path, dir: &Path) -> Result<Vec<String>, String> {
    let mut files = Vec::new();
    for p in read_dir(dir)? {
        if p.is_dir() && p.file_name().is_some_and(|n| n != "src" && n != "target") {
            rust_files(&p, &mut files)?;
        } else if p.extension().is_some_and(|e| e == "rs") {
            files.push(p);
        }
    }
    let mut out = Vec::new();
    for f in files {
        let text = fs::read_to_string(&f).map_err(|e| format!("{}: {e}", f.display()))?;
        if names_burn(&blank(&text)) {
            let shown = f.strip_prefix(root).unwrap_or(&f).display().to_string();
            out.push(format!(
                "{shown}: names Burn, which its crate must not know"
            ));
        }
    }
    Ok(out)
}

/// Whether source text names Burn: `burn::` or any `burn_*::` crate path.
fn names_burn(text: &str) -> bool {
    text.match_indices("burn").any(|(at, _)| {
        let before = text[..at].chars().next_back();
        let fresh = !before.is_some_and(|c| c.is_alphanumeric() || c == '_');
        let rest: String = text[at..]
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect();
        fresh
            && (rest == "burn" || rest.starts_with("burn_"))
            && text[at + rest.len()..].starts_with("::")
    })
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
        if no_burn {
            problems.extend(burn_outside_src(root, &m.dir)?);
        }
        let mut files = Vec::new();
        if src.is_dir() {
            rust_files(&src, &mut files)?;
        }
        let mut graph: BTreeMap<PathBuf, BTreeSet<PathBuf>> = BTreeMap::new();
        let exports = files
            .iter()
            .find(|f| is_root(&src, f))
            .and_then(|f| fs::read_to_string(f).ok())
            .map(|t| root_exports(&strip_tests(&blank(&t)).0))
            .unwrap_or_default();
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
            if no_burn && names_burn(&clean) {
                problems.push(format!(
                    "{shown}: names Burn, which its crate must not know"
                ));
            }
            let module = module_of(&src, f);
            let edges = graph.entry(f.clone()).or_default();
            for path in paths(&body, &module) {
                if let Some(target) = resolve_via_root(&src, &path, &exports) {
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

    /// A workspace that breaks every invariant once: each break is reported, naming its file
    /// or crate, and the clean crate is not.
    #[test]
    fn every_kind_of_violation_is_reported() {
        let root = std::env::temp_dir().join(format!("arch-fixture-{}", std::process::id()));
        let _ = fs::remove_dir_all(&root);
        let write = |rel: &str, text: &str| {
            let p = root.join(rel);
            fs::create_dir_all(p.parent().expect("a parent")).expect("mkdir");
            fs::write(p, text).expect("write");
        };
        write(
            "Cargo.toml",
            "[workspace]\nmembers = [\"crates/files\", \"crates/kernels\", \"crates/model\", \"tools/extra\"]\n",
        );
        write(
            "crates/files/Cargo.toml",
            "[package]\nname = \"makemore-files\"\n",
        );
        write("crates/files/src/lib.rs", "pub fn f() {}\n");
        write(
            "crates/kernels/Cargo.toml",
            "[package]\nname = \"makemore-kernels\"\n[dev-dependencies]\ntensor = { package = \"burn-tensor\", version = \"0.22\" }\n[dependencies.makemore-model]\npath = \"../model\"\n",
        );
        let long_body = "    let _ = 1;\n".repeat(MAX_FN_LINES);
        write(
            "crates/kernels/src/lib.rs",
            &format!("use burn_tensor::Tensor;\nfn long(x: [f32; 4]) {{\n{long_body}}}\n"),
        );
        write("crates/kernels/tests/t.rs", "use burn::tensor::Tensor;\n");
        write(
            "crates/model/Cargo.toml",
            "[package]\nname = \"makemore-model\"\n",
        );
        write(
            "crates/model/src/lib.rs",
            "mod a;\nmod b;\npub use a::A;\npub use b::B;\n",
        );
        write("crates/model/src/a.rs", "pub struct A(crate::B);\n");
        write(
            "crates/model/src/b.rs",
            &format!(
                "pub struct B;\nfn g() {{ let _: Option<crate::A> = None; }}\n{}",
                "\n".repeat(MAX_FILE_LINES)
            ),
        );
        write(
            "tools/extra/Cargo.toml",
            "[package]\nname = \"makemore-extra\"\n",
        );
        let problems = check(&root).expect("the fixture reads");
        let _ = fs::remove_dir_all(&root);
        let has = |needle: &str| problems.iter().any(|p| p.contains(needle));
        assert!(
            has("makemore-kernels: depends on makemore-model"),
            "{problems:#?}"
        );
        assert!(has("makemore-kernels: depends on burn"), "{problems:#?}");
        assert!(
            has("crates/kernels/src/lib.rs: names Burn"),
            "{problems:#?}"
        );
        assert!(
            has("crates/kernels/tests/t.rs: names Burn"),
            "{problems:#?}"
        );
        assert!(has("fn long spans"), "{problems:#?}");
        assert!(has("makemore-model: import circle among"), "{problems:#?}");
        assert!(has("crates/model/src/b.rs: 55"), "{problems:#?}");
        assert!(has("makemore-extra: a crate that LAYERS"), "{problems:#?}");
        assert!(
            !problems.iter().any(|p| p.contains("makemore-files")),
            "{problems:#?}"
        );
        assert_eq!(problems.len(), 8, "{problems:#?}");
    }
}
