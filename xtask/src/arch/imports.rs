//! The import graph of a crate's files: which module each file defines, the crate paths its
//! code names, the file each resolves to, and the circles among them.

use super::source::find;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The module path (below the crate root) that a file defines.
pub(super) fn module_of(src: &Path, file: &Path) -> Vec<String> {
    let rel = file.strip_prefix(src).unwrap_or(file);
    let mut parts: Vec<String> = rel
        .iter()
        .map(|p| p.to_string_lossy().into_owned())
        .collect();
    let last = parts.pop().unwrap_or_default();
    let stem = last.trim_end_matches(".rs");
    if !matches!(stem, "mod" | "lib" | "main") {
        parts.push(stem.to_string());
    }
    parts
}

/// Whether `file` is the crate root (`lib.rs` or `main.rs`), which only declares and re-exports.
pub(super) fn is_root(src: &Path, file: &Path) -> bool {
    file == src.join("lib.rs") || file == src.join("main.rs")
}

/// Every crate-relative path the code names: `crate::a::b`, `super::x`, `self::y`, and each
/// leaf of a `use` group, as module segments from the crate root.
pub(super) fn paths(body: &str, module: &[String]) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    // `use` statements, groups expanded. A module's re-export of its own children (`pub use
    // child::Item;`) is its public face, as the crate root's are: not an import.
    for u in use_statements(body) {
        let relative = ["crate", "super", "self"]
            .iter()
            .any(|r| u.text.starts_with(r));
        if !u.public || relative {
            expand(&u.text, &mut out);
        }
    }
    // Paths written inline (`use` statements, read above, blanked first): `crate::`, `super::`,
    // `self::` and any `name::` (a child module's name, or another crate's, which `resolve`
    // leaves to this module's own file).
    let without_uses = blank_uses(body);
    let (body, b) = (without_uses.as_str(), without_uses.as_bytes());
    let mut i = 0;
    while i < b.len() {
        let starts = (b[i].is_ascii_alphabetic() || b[i] == b'_')
            && (i == 0
                || !(b[i - 1].is_ascii_alphanumeric() || b[i - 1] == b'_' || b[i - 1] == b':'));
        if !starts {
            i += 1;
            continue;
        }
        let p: String = body[i..]
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_' || *c == ':')
            .collect();
        i += p.len().max(1);
        if p.contains("::") {
            out.push(
                p.split("::")
                    .filter(|s| !s.is_empty())
                    .map(String::from)
                    .collect(),
            );
        }
    }
    let all: BTreeSet<Vec<String>> = out
        .into_iter()
        .filter_map(|p| absolute(&p, module))
        .filter(|p| !p.is_empty())
        .collect();
    all.into_iter().collect()
}

/// `body` with every `use` statement blanked (newlines kept).
fn blank_uses(body: &str) -> String {
    let mut out = body.as_bytes().to_vec();
    for u in use_statements(body) {
        for c in &mut out[u.at..=u.end] {
            if *c != b'\n' {
                *c = b' ';
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// One `use` statement of blanked source: from the `use` keyword to its `;`, its path with
/// whitespace normalized, and whether a visibility (`pub`, `pub(crate)`, ...) precedes it.
struct UseStmt {
    at: usize,
    end: usize,
    text: String,
    public: bool,
}

/// Every `use` statement of `body`, in order (the one scanner the readers above share).
fn use_statements(body: &str) -> Vec<UseStmt> {
    let b = body.as_bytes();
    let mut out = Vec::new();
    let mut from = 0;
    while let Some(at) = find(b, b"use ", from) {
        from = at + 4;
        if at > 0 && (b[at - 1].is_ascii_alphanumeric() || b[at - 1] == b'_') {
            continue;
        }
        let Some(end) = b[at..].iter().position(|&c| c == b';').map(|p| p + at) else {
            break;
        };
        let line = body[..at]
            .rsplit(['\n', ';', '{', '}'])
            .next()
            .unwrap_or("");
        out.push(UseStmt {
            at,
            end,
            text: body[at + 4..end]
                .split_whitespace()
                .collect::<Vec<_>>()
                .join(" "),
            public: line.trim_start().starts_with("pub"),
        });
        from = end;
    }
    out
}

/// `a::{b, c::{d, e}}` as the paths a::b, a::c::d, a::c::e.
fn expand(stmt: &str, out: &mut Vec<Vec<String>>) {
    fn go(prefix: &[String], s: &str, out: &mut Vec<Vec<String>>) {
        let s = s.trim();
        if let Some(open) = s.find('{') {
            let head: Vec<String> = s[..open]
                .replace(' ', "")
                .split("::")
                .filter(|x| !x.is_empty())
                .map(String::from)
                .collect();
            let inner = &s[open + 1..s.rfind('}').unwrap_or(s.len())];
            let mut p = prefix.to_vec();
            p.extend(head);
            let (mut depth, mut last) = (0, 0);
            for (i, c) in inner.char_indices() {
                match c {
                    '{' => depth += 1,
                    '}' => depth -= 1,
                    ',' if depth == 0 => {
                        go(&p, &inner[last..i], out);
                        last = i + 1;
                    }
                    _ => {}
                }
            }
            go(&p, &inner[last..], out);
        } else if !s.is_empty() {
            let s = s.split(" as ").next().unwrap_or(s).replace(' ', "");
            let mut p = prefix.to_vec();
            p.extend(s.split("::").filter(|x| !x.is_empty()).map(String::from));
            out.push(p);
        }
    }
    go(
        &[],
        stmt.trim_start_matches("pub").trim_start_matches("(crate)"),
        out,
    );
}

/// A path as segments from the crate root: `crate::`, `super::` and `self::` resolved, and
/// any other path taken as relative to this module (a child module, or another crate, which
/// [`resolve`] leaves to this module's own file).
fn absolute(p: &[String], module: &[String]) -> Option<Vec<String>> {
    let mut here = module.to_vec();
    let mut rest = p;
    match rest.first().map(String::as_str) {
        Some("crate") => {
            here.clear();
            rest = &rest[1..];
        }
        Some("super") | Some("self") => {
            while let Some(s) = rest.first() {
                match s.as_str() {
                    "super" => {
                        here.pop();
                    }
                    "self" => {}
                    _ => break,
                }
                rest = &rest[1..];
            }
        }
        // `use child::x` names a child module, or another crate: `resolve` finds the file only
        // for a child, and the longest prefix otherwise is this module's own file.
        _ => {}
    }
    here.extend(rest.iter().cloned());
    Some(here)
}

/// The file that defines the longest prefix of `path` that is a module file.
pub(super) fn resolve(src: &Path, path: &[String]) -> Option<PathBuf> {
    for n in (1..=path.len()).rev() {
        let dir: PathBuf = path[..n].iter().collect();
        for f in [
            src.join(&dir).with_extension("rs"),
            src.join(&dir).join("mod.rs"),
        ] {
            if f.is_file() {
                return Some(f);
            }
        }
    }
    None
}

/// Every strongly connected group of two or more files (Tarjan's algorithm).
pub(super) fn circles(graph: &BTreeMap<PathBuf, BTreeSet<PathBuf>>) -> Vec<Vec<PathBuf>> {
    struct T<'a> {
        g: &'a BTreeMap<PathBuf, BTreeSet<PathBuf>>,
        index: BTreeMap<&'a PathBuf, usize>,
        low: BTreeMap<&'a PathBuf, usize>,
        stack: Vec<&'a PathBuf>,
        on: BTreeSet<&'a PathBuf>,
        out: Vec<Vec<PathBuf>>,
    }
    fn visit<'a>(t: &mut T<'a>, v: &'a PathBuf) {
        let i = t.index.len();
        t.index.insert(v, i);
        t.low.insert(v, i);
        t.stack.push(v);
        t.on.insert(v);
        if let Some(ws) = t.g.get(v) {
            for w in ws {
                let Some((w, _)) = t.g.get_key_value(w) else {
                    continue;
                };
                if !t.index.contains_key(w) {
                    visit(t, w);
                    let lw = t.low[w];
                    let lv = t.low.get_mut(v).expect("visited");
                    *lv = (*lv).min(lw);
                } else if t.on.contains(w) {
                    let iw = t.index[w];
                    let lv = t.low.get_mut(v).expect("visited");
                    *lv = (*lv).min(iw);
                }
            }
        }
        if t.low[v] == t.index[v] {
            let mut group = Vec::new();
            while let Some(w) = t.stack.pop() {
                t.on.remove(w);
                group.push(w.clone());
                if w == v {
                    break;
                }
            }
            if group.len() > 1 {
                group.sort();
                t.out.push(group);
            }
        }
    }
    let mut t = T {
        g: graph,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        on: BTreeSet::new(),
        out: Vec::new(),
    };
    for v in graph.keys() {
        if !t.index.contains_key(v) {
            visit(&mut t, v);
        }
    }
    t.out
}

/// What a crate root re-exports by name (`pub use a::b::Item;` gives `Item -> a::b::Item`), so
/// that `crate::Item` resolves to the file that defines it.
pub(super) fn root_exports(body: &str) -> BTreeMap<String, Vec<String>> {
    let mut out = BTreeMap::new();
    for u in use_statements(body).into_iter().filter(|u| u.public) {
        let mut paths = Vec::new();
        expand(&u.text, &mut paths);
        for p in paths {
            if let Some(last) = p.last() {
                out.insert(last.clone(), p);
            }
        }
    }
    out
}

/// [`resolve`], with a path through a crate-root re-export followed to where the item lives.
pub(super) fn resolve_via_root(
    src: &Path,
    path: &[String],
    exports: &BTreeMap<String, Vec<String>>,
) -> Option<PathBuf> {
    let direct = resolve(src, path);
    if direct.as_ref().is_some_and(|f| !is_root(src, f)) {
        return direct;
    }
    let real = exports.get(path.first()?)?;
    let mut full = real.clone();
    full.extend(path[1..].iter().cloned());
    resolve(src, &full)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn use_groups_expand_and_relative_paths_resolve() {
        let body = "use crate::{a::{b, c as d}, e};\nuse super::f::g;\nfn x() { crate::h::i(); }\n";
        let p = paths(body, &["m".to_string(), "n".to_string()]);
        let s: BTreeSet<String> = p.iter().map(|v| v.join("::")).collect();
        assert_eq!(
            s,
            BTreeSet::from(["a::b", "a::c", "e", "m::f::g", "h::i"].map(String::from))
        );
    }

    #[test]
    fn circles_are_found_and_chains_are_not() {
        let f = |s: &str| PathBuf::from(s);
        let mut g = BTreeMap::new();
        g.insert(f("a"), BTreeSet::from([f("b")]));
        g.insert(f("b"), BTreeSet::from([f("c")]));
        g.insert(f("c"), BTreeSet::from([f("a")]));
        g.insert(f("d"), BTreeSet::from([f("a")]));
        assert_eq!(circles(&g), vec![vec![f("a"), f("b"), f("c")]]);
        g.insert(f("c"), BTreeSet::new());
        assert!(circles(&g).is_empty());
    }
}
