//! The sweep file: a base config, the axes to vary, the seeds and the length of every run.

use crate::SweepError;
use serde::Deserialize;

/// A parsed sweep file.
///
/// ```toml
/// name = "init-sensitivity"
/// base = "deep-tanh-no-norm"        # a built-in config, a path (relative to this file), or
///                                   # inline tables: [base.model] ...
/// seeds = [1, 2, 3]
/// steps = 2000
/// heatmap = ["scale", "norm"]       # the two axes of the heatmaps (default: the first two)
///
/// [[vary]]
/// key = "init.hidden.scale"
/// name = "scale"                    # optional; the column and directory name
/// values = [0.2, 0.5, 1, 2, 5]
///
/// [[vary]]
/// keys = ["train.optimizer", "train.lr"]   # several keys that move together
/// name = "optimizer"
/// values = [["sgd", 0.1], ["adam", 1e-3]]
/// labels = ["sgd", "adam"]
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct SweepSpec {
    /// The sweep's name (default: the file's stem).
    pub name: String,
    /// What it shows, in a sentence or two.
    pub description: String,
    /// Where the base config came from, for messages.
    pub base_name: String,
    /// The base config as a TOML table.
    pub base: toml::Table,
    /// The axes, slowest-varying first.
    pub axes: Vec<Axis>,
    /// The seeds every combination runs with (innermost).
    pub seeds: Vec<u64>,
    /// Steps per run (default: the base's).
    pub steps: Option<u64>,
    /// Diagnostics every this many steps (default: a tenth of the steps).
    pub diagnose_every: Option<u64>,
    /// Names of the two axes the heatmaps span.
    pub heatmap: Vec<String>,
    /// TensorBoard event files in every cell.
    pub tensorboard: bool,
    /// The sweep file's own name, for messages.
    pub file: String,
}

/// One axis: config keys and the values they take together.
#[derive(Debug, Clone, PartialEq)]
pub struct Axis {
    /// Column and directory name.
    pub name: String,
    /// The dotted config keys it sets.
    pub keys: Vec<String>,
    /// For each point, one value per key.
    pub values: Vec<Vec<toml::Value>>,
    /// For each point, its short label.
    pub labels: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SweepFile {
    name: Option<String>,
    description: Option<String>,
    base: Option<toml::Value>,
    seeds: Option<Vec<u64>>,
    steps: Option<u64>,
    diagnose_every: Option<u64>,
    heatmap: Option<Vec<String>>,
    #[serde(default)]
    tensorboard: bool,
    #[serde(default)]
    vary: Vec<VaryFile>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct VaryFile {
    key: Option<String>,
    keys: Option<Vec<String>>,
    name: Option<String>,
    values: Vec<toml::Value>,
    labels: Option<Vec<String>>,
}

/// A short label for a TOML value: `0.2`, `none`, `layer_norm`, `batch_norm(affine=false)`.
pub fn label(v: &toml::Value) -> String {
    match v {
        toml::Value::String(s) => s.clone(),
        toml::Value::Integer(i) => i.to_string(),
        toml::Value::Float(f) => {
            let s = f.to_string();
            s.strip_suffix(".0").map(str::to_owned).unwrap_or(s)
        }
        toml::Value::Boolean(b) => if *b { "on" } else { "off" }.into(),
        toml::Value::Datetime(d) => d.to_string(),
        toml::Value::Array(a) => a.iter().map(label).collect::<Vec<_>>().join("+"),
        toml::Value::Table(t) => t
            .iter()
            .map(|(k, v)| match v {
                toml::Value::Table(inner) if inner.is_empty() => k.clone(),
                toml::Value::Table(_) => format!("{k}({})", label(v)),
                _ => format!("{k}={}", label(v)),
            })
            .collect::<Vec<_>>()
            .join(","),
    }
}

impl SweepSpec {
    /// Parses a sweep file's `text`; `file` names it in errors; `resolve` turns a `base` that
    /// is a name (not a path to an existing file) into `(name, config text)`.
    pub fn parse(
        text: &str,
        file: &str,
        resolve: &dyn Fn(&str) -> Option<(String, String)>,
    ) -> Result<Self, SweepError> {
        let err = |key: &str, message: String| SweepError::Spec {
            file: file.to_owned(),
            key: key.to_owned(),
            message,
        };
        let f: SweepFile = toml::from_str(text).map_err(|e| {
            let line = e
                .span()
                .map(|s| 1 + text[..s.start.min(text.len())].matches('\n').count());
            let message = e.message().split_whitespace().collect::<Vec<_>>().join(" ");
            match line {
                Some(l) => err(&format!("line {l}"), message),
                None => err("file", message),
            }
        })?;
        let (base_name, base) = match f.base {
            None => return Err(err("base", "missing: a built-in config name (e.g. \"deep-batchnorm\"), a path, or inline tables [base.model] ...".into())),
            Some(toml::Value::Table(t)) => ("the inline [base]".to_string(), t),
            Some(toml::Value::String(name)) => {
                let dir = std::path::Path::new(file).parent().unwrap_or(std::path::Path::new(""));
                let path = dir.join(&name);
                let (source, text) = if path.is_file() {
                    let text = std::fs::read_to_string(&path)
                        .map_err(|e| err("base", format!("cannot read {}: {e}", path.display())))?;
                    (path.display().to_string(), text)
                } else {
                    resolve(&name).ok_or_else(|| {
                        err("base", format!("{name:?} is neither a file next to the sweep file nor a built-in config"))
                    })?
                };
                let table: toml::Table = toml::from_str(&text)
                    .map_err(|e| err("base", format!("{source}: {}", e.message().trim())))?;
                (source, table)
            }
            Some(other) => {
                return Err(err(
                    "base",
                    format!("expected a config name or path (a string) or a table, got {}", other.type_str()),
                ))
            }
        };
        let mut axes: Vec<Axis> = Vec::new();
        if f.vary.is_empty() {
            return Err(err(
                "vary",
                "no axis: add at least one [[vary]] with key and values".into(),
            ));
        }
        for (i, v) in f.vary.into_iter().enumerate() {
            let at = format!("vary[{i}]");
            let keys = match (v.key, v.keys) {
                (Some(k), None) => vec![k],
                (None, Some(ks)) if !ks.is_empty() => ks,
                (None, Some(_)) => {
                    return Err(err(
                        &format!("{at}.keys"),
                        "empty: name at least one config key".into(),
                    ))
                }
                (Some(_), Some(_)) => {
                    return Err(err(&at, "has both key and keys; give one".into()))
                }
                (None, None) => {
                    return Err(err(
                        &at,
                        "needs key = \"section.field\" (or keys = [...])".into(),
                    ))
                }
            };
            let shown = keys.join(", ");
            if v.values.is_empty() {
                return Err(err(
                    &format!("{at}.values"),
                    format!("empty for {shown}: give at least one value"),
                ));
            }
            let values: Vec<Vec<toml::Value>> = if keys.len() == 1 {
                v.values.iter().map(|x| vec![x.clone()]).collect()
            } else {
                let mut out = Vec::new();
                for (j, x) in v.values.iter().enumerate() {
                    match x {
                        toml::Value::Array(a) if a.len() == keys.len() => out.push(a.clone()),
                        _ => {
                            return Err(err(
                                &format!("{at}.values[{j}]"),
                                format!(
                                    "expected an array of {} values, one for each of {shown}",
                                    keys.len()
                                ),
                            ))
                        }
                    }
                }
                out
            };
            let labels = match v.labels {
                Some(l) if l.len() == values.len() => l,
                Some(l) => {
                    return Err(err(
                        &format!("{at}.labels"),
                        format!("{} labels for {} values", l.len(), values.len()),
                    ))
                }
                None => v.values.iter().map(label).collect(),
            };
            let mut seen = std::collections::HashSet::new();
            for l in &labels {
                if !seen.insert(l) {
                    return Err(err(
                        &format!("{at}.values"),
                        format!("{shown}: the value {l:?} appears twice"),
                    ));
                }
            }
            if let Some(j) = labels.iter().position(|l| l.trim().is_empty()) {
                return Err(err(
                    &format!("{at}.labels[{j}]"),
                    "empty: a label names the cell's directory".into(),
                ));
            }
            let name = v.name.unwrap_or_else(|| keys.join("+"));
            if name.trim().is_empty() {
                return Err(err(
                    &format!("{at}.name"),
                    "empty: the name heads a column and names directories".into(),
                ));
            }
            for k in &keys {
                if let Some(other) = axes.iter().position(|a| a.keys.contains(k)) {
                    return Err(err(
                        &format!("{at}.key"),
                        format!("{k} is already varied by vary[{other}]; an axis may appear once"),
                    ));
                }
                if k == "train.seed" || k == "train.steps" {
                    return Err(err(
                        &format!("{at}.key"),
                        format!("{k} is set by the sweep's own `seeds`/`steps`"),
                    ));
                }
            }
            if axes.iter().any(|a| a.name == name) {
                return Err(err(
                    &format!("{at}.name"),
                    format!("{name:?} names two axes"),
                ));
            }
            axes.push(Axis {
                name,
                keys,
                values,
                labels,
            });
        }
        let seeds = f.seeds.unwrap_or_else(|| vec![2147483647]);
        if seeds.is_empty() {
            return Err(err("seeds", "empty: give at least one seed".into()));
        }
        if seeds.iter().collect::<std::collections::HashSet<_>>().len() != seeds.len() {
            return Err(err("seeds", "a seed appears twice".into()));
        }
        if f.steps == Some(0) {
            return Err(err("steps", "must be >= 1".into()));
        }
        if f.diagnose_every == Some(0) {
            return Err(err("diagnose_every", "must be >= 1".into()));
        }
        let heatmap = match f.heatmap {
            Some(h) => {
                if h.len() != 2 && !(h.len() == 1 && axes.len() == 1) {
                    return Err(err("heatmap", "name two axes (rows, columns)".into()));
                }
                if h.len() == 2 && h[0] == h[1] {
                    return Err(err(
                        "heatmap",
                        format!("names {:?} twice: name two different axes", h[0]),
                    ));
                }
                for n in &h {
                    if !axes.iter().any(|a| &a.name == n) {
                        let names: Vec<&str> = axes.iter().map(|a| a.name.as_str()).collect();
                        return Err(err(
                            "heatmap",
                            format!("{n:?} is not an axis; the axes are {}", names.join(", ")),
                        ));
                    }
                }
                h
            }
            None => axes.iter().take(2).map(|a| a.name.clone()).collect(),
        };
        let stem = std::path::Path::new(file)
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| "sweep".into());
        Ok(SweepSpec {
            name: f.name.unwrap_or(stem),
            description: f.description.unwrap_or_default(),
            base_name,
            base,
            axes,
            seeds,
            steps: f.steps,
            diagnose_every: f.diagnose_every,
            heatmap,
            tensorboard: f.tensorboard,
            file: file.to_owned(),
        })
    }
}
