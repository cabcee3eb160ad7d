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
    let (last, parents) = parts.split_last().ok_or("an empty key")?;
    let mut table = root;
    for p in parents {
        let item = table.entry(p).or_insert_with(|| {
            let mut t = Table::new();
            t.set_implicit(true);
            Item::Table(t)
        });
        // `init = { hidden = ... }` written inline becomes a table that can hold the new key.
        if let Item::Value(Value::InlineTable(inline)) = item {
            *item = Item::Table(std::mem::take(inline).into_table());
        }
        table = item
            .as_table_mut()
            .ok_or_else(|| format!("{}: {p} is a value, not a table", e.key))?;
    }
    let comment = comment_lines(e.comment);
    match value_of(e.value) {
        Value::InlineTable(inline) => {
            let mut t = inline.into_table();
            if let Some(pos) = table
                .get(last)
                .and_then(Item::as_table)
                .and_then(Table::position)
            {
                t.set_position(pos);
            }
            t.decor_mut().set_prefix(format!("\n{comment}"));
            table.insert(last, Item::Table(t));
        }
        v => {
            table.insert(last, Item::Value(v));
            if let Some(mut k) = table.key_mut(last) {
                let before = k
                    .leaf_decor()
                    .prefix()
                    .and_then(|p| p.as_str())
                    .unwrap_or("")
                    .to_owned();
                k.leaf_decor_mut().set_prefix(format!("{before}{comment}"));
            }
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
