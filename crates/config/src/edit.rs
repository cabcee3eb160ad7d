//! A config file's text with settings changed in place, each under a comment saying why: the
//! file's own comments, order and layout are kept (`makemore doctor` writes `fixed.toml` so).
//!
//! ```
//! use makemore_config::edit::{edit, Edit};
//! let text = "[init.output]\nscheme = \"normal\" # N(0, 1)\nstd = 1.0\n";
//! let fixed = edit(text, &[Edit { key: "init.output.scale", value: "0.01", comment: "too confident" }]).unwrap();
//! assert!(fixed.contains("# N(0, 1)"));
//! assert!(fixed.contains("# too confident\nscale = 0.01"));
//! ```

use toml_edit::{DocumentMut, Item, Table, Value};

/// Widest comment line written above a changed setting (longer text wraps).
const COMMENT_WIDTH: usize = 96;

/// One setting to write.
#[derive(Debug, Clone, Copy)]
pub struct Edit<'a> {
    /// A dotted key, e.g. `init.hidden.scale`.
    pub key: &'a str,
    /// Its value as `--set` takes it: TOML (`0.01`, `{ scheme = "zeros" }`), else a bare string.
    pub value: &'a str,
    /// Why, written as `#` lines above the setting (may be empty).
    pub comment: &'a str,
}

/// `text` with every edit applied in order (a later edit of the same key wins). A value that is
/// an inline table becomes a `[table]` of its own, written where the old one was. `Err` names the
/// key that cannot be set (a part of it is a value, not a table) or says the text is not TOML.
pub fn edit(text: &str, edits: &[Edit]) -> Result<String, String> {
    let mut doc: DocumentMut = text.parse().map_err(|e| format!("not TOML: {e}"))?;
    for e in edits {
        set(doc.as_table_mut(), e)?;
    }
    Ok(doc.to_string())
}

/// The value of the dotted `key` in the TOML `text`, written inline (`0.2`,
/// `{ scheme = "zeros" }`); `None` where the text does not set it or is not TOML.
pub fn lookup(text: &str, key: &str) -> Option<String> {
    let mut v = toml::Value::Table(text.parse::<toml::Table>().ok()?);
    for p in key.split('.') {
        v = v.get(p.trim())?.clone();
    }
    Some(v.to_string())
}

/// A `--set` value as TOML: a TOML value where it parses as one, else the text as a string.
fn value_of(raw: &str) -> Value {
    format!("v = {raw}")
        .parse::<DocumentMut>()
        .ok()
        .and_then(|d| d.get("v").and_then(Item::as_value).cloned())
        .unwrap_or_else(|| Value::from(raw))
}

/// `comment` as `#` lines of at most [`COMMENT_WIDTH`] characters.
fn comment_lines(comment: &str) -> String {
    let mut out = String::new();
    let mut line = String::new();
    for word in comment.split_whitespace() {
        if !line.is_empty() && line.len() + 1 + word.len() > COMMENT_WIDTH {
            out.push_str(&format!("# {line}\n"));
            line.clear();
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(word);
    }
    if !line.is_empty() {
        out.push_str(&format!("# {line}\n"));
    }
    out
}

fn set(root: &mut Table, e: &Edit) -> Result<(), String> {
    let parts: Vec<&str> = e.key.split('.').map(str::trim).collect();
    if parts.iter().any(|p| p.is_empty()) {
        return Err(format!("{:?} is not a dotted key such as train.lr", e.key));
    }
    let not_table = |p: &str| format!("{}: {p} is a value, not a table", e.key);
    // Down the `[table]`s as far as they go; the rest of the key is inside an inline table,
    // which stays inline (its key takes the comment: an inline table cannot hold one).
    let mut table = root;
    let mut rest = &parts[..];
    while let [p, tail @ ..] = rest {
        if tail.is_empty() || !table.get(p).is_none_or(Item::is_table) {
            break;
        }
        let item = table.entry(p).or_insert_with(|| {
            let mut t = Table::new();
            t.set_implicit(true);
            Item::Table(t)
        });
        table = item.as_table_mut().ok_or_else(|| not_table(p))?;
        rest = tail;
    }
    let comment = comment_lines(e.comment);
    let (head, inner) = rest.split_first().ok_or("an empty key")?;
    let value = value_of(e.value);
    if !inner.is_empty() {
        let inline = table
            .get_mut(head)
            .and_then(Item::as_inline_table_mut)
            .ok_or_else(|| not_table(head))?;
        set_inline(inline, inner, value, &not_table)?;
    } else {
        match (table.get_mut(head), value) {
            // A `[table]` given a new inline value: a `[table]` again, where the old one was,
            // under the old one's comments.
            (Some(Item::Table(old)), Value::InlineTable(inline)) => {
                let mut t = inline.into_table();
                if let Some(pos) = old.position() {
                    t.set_position(pos);
                }
                let before = old
                    .decor()
                    .prefix()
                    .and_then(|p| p.as_str())
                    .unwrap_or("\n");
                t.decor_mut().set_prefix(format!("{before}{comment}"));
                *old = t;
                return Ok(());
            }
            // A value replaced in place: its key, and the comments above it, stay.
            (Some(Item::Value(old)), v) => replace(old, v),
            (_, v) => {
                table.insert(head, Item::Value(v));
            }
        }
    }
    if let Some(mut k) = table.key_mut(head) {
        let before = k
            .leaf_decor()
            .prefix()
            .and_then(|p| p.as_str())
            .unwrap_or("")
            .to_owned();
        k.leaf_decor_mut().set_prefix(format!("{before}{comment}"));
    }
    Ok(())
}

/// `old` becomes `new`, spaced as `old` was; `old`'s trailing comment, which spoke of the old
/// value, goes.
fn replace(old: &mut Value, mut new: Value) {
    let before = old.decor().prefix().cloned();
    if let Some(b) = before {
        new.decor_mut().set_prefix(b);
    }
    *old = new;
}

/// Sets the dotted `path` inside an inline table to `value`, inline tables made as needed.
fn set_inline(
    table: &mut toml_edit::InlineTable,
    path: &[&str],
    value: Value,
    not_table: &dyn Fn(&str) -> String,
) -> Result<(), String> {
    let (last, parents) = path.split_last().ok_or("an empty key")?;
    let mut t = table;
    for p in parents {
        t = t
            .entry(*p)
            .or_insert_with(|| Value::InlineTable(toml_edit::InlineTable::new()))
            .as_inline_table_mut()
            .ok_or_else(|| not_table(p))?;
    }
    match t.get_mut(last) {
        Some(old) => replace(old, value),
        None => {
            t.insert(*last, value);
            // Spaced as TOML writes it (`{ a = 1 }`), also where it was `{}`.
            t.fmt();
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::RunConfig;

    const ORIGINAL: &str = "# the lecture's start\n[init.hidden]\nscheme = \"normal\"\nstd = 1.0\n\n[init.output_bias]\nscheme = \"normal\"\nstd = 1.0\n\n[train]\nlr = [[0, 0.1], [100000, 0.01]] # decay\n";

    fn edited(edits: &[Edit]) -> (String, RunConfig) {
        let text = edit(ORIGINAL, edits).unwrap();
        let cfg = RunConfig::from_toml_str(&text, "fixed.toml", &[]).unwrap();
        (text, cfg)
    }

    /// The edited text reads back as the config `--set` gives, for keys, tables and strings.
    #[test]
    fn the_edited_file_is_the_config_set_gives() {
        let sets = [
            ("init.hidden.scale", "0.2"),
            ("init.output_bias", "{ scheme = \"zeros\" }"),
            ("model.activation", "relu"),
            ("train.lr", "[[0, 0.01], [100000, 0.001]]"),
            ("model.norm", "{ batch_norm = {} }"),
        ];
        let edits: Vec<Edit> = sets
            .iter()
            .map(|&(key, value)| Edit {
                key,
                value,
                comment: "because",
            })
            .collect();
        let (text, cfg) = edited(&edits);
        let args: Vec<String> = sets.iter().map(|(k, v)| format!("{k}={v}")).collect();
        let want = RunConfig::from_toml_str(ORIGINAL, "o.toml", &args).unwrap();
        assert_eq!(cfg.to_toml(), want.to_toml(), "{text}");
        assert!(text.starts_with("# the lecture's start\n"), "{text}");
        assert_eq!(text.matches("# because\n").count(), sets.len(), "{text}");
        // The replaced table stays where it was, before [train].
        assert!(
            text.find("[init.output_bias]") < text.find("[train]"),
            "{text}"
        );
    }

    #[test]
    fn lookup_reads_values_and_tables_inline() {
        assert_eq!(lookup(ORIGINAL, "init.hidden.std").as_deref(), Some("1.0"));
        assert_eq!(
            lookup(ORIGINAL, "init.output_bias").as_deref(),
            Some("{ scheme = \"normal\", std = 1.0 }")
        );
        assert_eq!(lookup(ORIGINAL, "model.norm"), None);
    }

    #[test]
    fn long_comments_wrap_and_later_edits_win() {
        let long = "word ".repeat(60);
        let (text, cfg) = edited(&[
            Edit {
                key: "init.hidden.scale",
                value: "0.2",
                comment: &long,
            },
            Edit {
                key: "init.hidden.scale",
                value: "0.04",
                comment: "again",
            },
        ]);
        assert!(text.lines().all(|l| l.len() <= COMMENT_WIDTH + 2), "{text}");
        assert!(text.contains("# again\nscale = 0.04"), "{text}");
        assert_eq!(
            cfg.init.hidden,
            RunConfig::from_toml_str(ORIGINAL, "o", &["init.hidden.scale=0.04".into()])
                .unwrap()
                .init
                .hidden
        );
    }

    /// A user's comment above a changed key stays; an inline table stays inline, the key under
    /// it set in place, the comment on the inline table's key.
    #[test]
    fn comments_and_inline_tables_stay() {
        let text = "[model]\n# my norm\nnorm = { batch_norm = {} } # trailing\n[init]\n# mine\noutput = { scheme = \"normal\", std = 1.0 }\n";
        let fixed = edit(
            text,
            &[
                Edit {
                    key: "model.norm.batch_norm.momentum",
                    value: "0.5",
                    comment: "faster",
                },
                Edit {
                    key: "init.output.scale",
                    value: "0.01",
                    comment: "confident",
                },
                Edit {
                    key: "init.output",
                    value: "{ scheme = \"zeros\" }",
                    comment: "zero",
                },
            ],
        )
        .unwrap();
        assert_eq!(
            fixed,
            "[model]\n# my norm\n# faster\nnorm = { batch_norm = { momentum = 0.5 } } # trailing\n[init]\n# mine\n# confident\n# zero\noutput = { scheme = \"zeros\" }\n"
        );
    }

    #[test]
    fn a_key_under_a_value_is_refused() {
        let e = edit(
            ORIGINAL,
            &[Edit {
                key: "train.lr.x",
                value: "1",
                comment: "",
            }],
        );
        assert_eq!(e.unwrap_err(), "train.lr.x: lr is a value, not a table");
    }
}
