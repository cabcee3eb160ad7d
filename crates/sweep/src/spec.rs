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

/// The error for `key` of the sweep file `file`.
fn spec_error(file: &str, key: &str, message: String) -> SweepError {
    SweepError::Spec {
        file: file.to_owned(),
        key: key.to_owned(),
        message,
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
        let f = read_file(text, file)?;
        let (base_name, base) = read_base(f.base, file, resolve)?;
        let axes = read_axes(f.vary, file)?;
        let seeds = read_seeds(f.seeds, file)?;
        check_lengths(f.steps, f.diagnose_every, file)?;
        let heatmap = read_heatmap(f.heatmap, &axes, file)?;
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

/// Deserializes the sweep file's `text`; a TOML error names its line when it has one.
fn read_file(text: &str, file: &str) -> Result<SweepFile, SweepError> {
    toml::from_str(text).map_err(|e| {
        let line = e
            .span()
            .map(|s| 1 + text[..s.start.min(text.len())].matches('\n').count());
        let message = e.message().split_whitespace().collect::<Vec<_>>().join(" ");
        match line {
            Some(l) => spec_error(file, &format!("line {l}"), message),
            None => spec_error(file, "file", message),
        }
    })
}

/// The base config as `(where it came from, table)`: inline tables, a file next to the sweep
/// file, or a name that `resolve` knows.
fn read_base(
    base: Option<toml::Value>,
    file: &str,
    resolve: &dyn Fn(&str) -> Option<(String, String)>,
) -> Result<(String, toml::Table), SweepError> {
    let err = |message: String| spec_error(file, "base", message);
    match base {
        None => Err(err("missing: a built-in config name (e.g. \"deep-batchnorm\"), a path, or inline tables [base.model] ...".into())),
        Some(toml::Value::Table(t)) => Ok(("the inline [base]".to_string(), t)),
        Some(toml::Value::String(name)) => {
            let dir = std::path::Path::new(file).parent().unwrap_or(std::path::Path::new(""));
            let path = dir.join(&name);
            let (source, text) = if path.is_file() {
                let text = std::fs::read_to_string(&path)
                    .map_err(|e| err(format!("cannot read {}: {e}", path.display())))?;
                (path.display().to_string(), text)
            } else {
                resolve(&name).ok_or_else(|| {
                    err(format!("{name:?} is neither a file next to the sweep file nor a built-in config"))
                })?
            };
            let table: toml::Table = toml::from_str(&text)
                .map_err(|e| err(format!("{source}: {}", e.message().trim())))?;
            Ok((source, table))
        }
        Some(other) => Err(err(format!(
            "expected a config name or path (a string) or a table, got {}",
            other.type_str()
        ))),
    }
}

/// Every `[[vary]]` as an axis, in file order; there must be at least one.
fn read_axes(vary: Vec<VaryFile>, file: &str) -> Result<Vec<Axis>, SweepError> {
    let mut axes: Vec<Axis> = Vec::new();
    if vary.is_empty() {
        return Err(spec_error(
            file,
            "vary",
            "no axis: add at least one [[vary]] with key and values".into(),
        ));
    }
    for (i, v) in vary.into_iter().enumerate() {
        let axis = read_axis(i, v, &axes, file)?;
        axes.push(axis);
    }
    Ok(axes)
}

/// The `i`th `[[vary]]` as an axis, checked against the axes before it (`earlier`).
fn read_axis(i: usize, v: VaryFile, earlier: &[Axis], file: &str) -> Result<Axis, SweepError> {
    let at = format!("vary[{i}]");
    let keys = axis_keys(&at, v.key, v.keys, file)?;
    let values = axis_values(&at, &keys, &v.values, file)?;
    let labels = axis_labels(&at, &keys, v.labels, &v.values, values.len(), file)?;
    let name = v.name.unwrap_or_else(|| keys.join("+"));
    if name.trim().is_empty() {
        return Err(spec_error(
            file,
            &format!("{at}.name"),
            "empty: the name heads a column and names directories".into(),
        ));
    }
    check_axis_keys(&at, &keys, earlier, file)?;
    if earlier.iter().any(|a| a.name == name) {
        return Err(spec_error(
            file,
            &format!("{at}.name"),
            format!("{name:?} names two axes"),
        ));
    }
    Ok(Axis {
        name,
        keys,
        values,
        labels,
    })
}

/// The config keys of the axis at `at`: exactly one of `key` and a non-empty `keys`.
fn axis_keys(
    at: &str,
    key: Option<String>,
    keys: Option<Vec<String>>,
    file: &str,
) -> Result<Vec<String>, SweepError> {
    match (key, keys) {
        (Some(k), None) => Ok(vec![k]),
        (None, Some(ks)) if !ks.is_empty() => Ok(ks),
        (None, Some(_)) => Err(spec_error(
            file,
            &format!("{at}.keys"),
            "empty: name at least one config key".into(),
        )),
        (Some(_), Some(_)) => Err(spec_error(
            file,
            at,
            "has both key and keys; give one".into(),
        )),
        (None, None) => Err(spec_error(
            file,
            at,
            "needs key = \"section.field\" (or keys = [...])".into(),
        )),
    }
}

/// The points of the axis at `at`, one value per key each: a non-empty list, and with several
/// keys every value an array with one entry per key.
fn axis_values(
    at: &str,
    keys: &[String],
    values: &[toml::Value],
    file: &str,
) -> Result<Vec<Vec<toml::Value>>, SweepError> {
    let shown = keys.join(", ");
    if values.is_empty() {
        return Err(spec_error(
            file,
            &format!("{at}.values"),
            format!("empty for {shown}: give at least one value"),
        ));
    }
    if keys.len() == 1 {
        return Ok(values.iter().map(|x| vec![x.clone()]).collect());
    }
    let mut out = Vec::new();
    for (j, x) in values.iter().enumerate() {
        match x {
            toml::Value::Array(a) if a.len() == keys.len() => out.push(a.clone()),
            _ => {
                return Err(spec_error(
                    file,
                    &format!("{at}.values[{j}]"),
                    format!(
                        "expected an array of {} values, one for each of {shown}",
                        keys.len()
                    ),
                ))
            }
        }
    }
    Ok(out)
}

/// The labels of the axis at `at` (given, or made from the `values`): one per point
/// (`points` of them), distinct and not blank.
fn axis_labels(
    at: &str,
    keys: &[String],
    labels: Option<Vec<String>>,
    values: &[toml::Value],
    points: usize,
    file: &str,
) -> Result<Vec<String>, SweepError> {
    let labels = match labels {
        Some(l) if l.len() == points => l,
        Some(l) => {
            return Err(spec_error(
                file,
                &format!("{at}.labels"),
                format!("{} labels for {} values", l.len(), points),
            ))
        }
        None => values.iter().map(label).collect(),
    };
    let mut seen = std::collections::HashSet::new();
    for l in &labels {
        if !seen.insert(l) {
            return Err(spec_error(
                file,
                &format!("{at}.values"),
                format!("{}: the value {l:?} appears twice", keys.join(", ")),
            ));
        }
    }
    if let Some(j) = labels.iter().position(|l| l.trim().is_empty()) {
        return Err(spec_error(
            file,
            &format!("{at}.labels[{j}]"),
            "empty: a label names the cell's directory".into(),
        ));
    }
    Ok(labels)
}

/// Refuses a key of the axis at `at` that an `earlier` axis varies already, or that the sweep
/// sets itself (`train.seed`, `train.steps`).
fn check_axis_keys(
    at: &str,
    keys: &[String],
    earlier: &[Axis],
    file: &str,
) -> Result<(), SweepError> {
    for k in keys {
        if let Some(other) = earlier.iter().position(|a| a.keys.contains(k)) {
            return Err(spec_error(
                file,
                &format!("{at}.key"),
                format!("{k} is already varied by vary[{other}]; an axis may appear once"),
            ));
        }
        if k == "train.seed" || k == "train.steps" {
            return Err(spec_error(
                file,
                &format!("{at}.key"),
                format!("{k} is set by the sweep's own `seeds`/`steps`"),
            ));
        }
    }
    Ok(())
}

/// The seeds (default: one, the configs' default seed), at least one and each once.
fn read_seeds(seeds: Option<Vec<u64>>, file: &str) -> Result<Vec<u64>, SweepError> {
    let seeds = seeds.unwrap_or_else(|| vec![2147483647]);
    if seeds.is_empty() {
        return Err(spec_error(
            file,
            "seeds",
            "empty: give at least one seed".into(),
        ));
    }
    if seeds.iter().collect::<std::collections::HashSet<_>>().len() != seeds.len() {
        return Err(spec_error(file, "seeds", "a seed appears twice".into()));
    }
    Ok(seeds)
}

/// Refuses a `steps` or `diagnose_every` of 0.
fn check_lengths(
    steps: Option<u64>,
    diagnose_every: Option<u64>,
    file: &str,
) -> Result<(), SweepError> {
    if steps == Some(0) {
        return Err(spec_error(file, "steps", "must be >= 1".into()));
    }
    if diagnose_every == Some(0) {
        return Err(spec_error(file, "diagnose_every", "must be >= 1".into()));
    }
    Ok(())
}

/// The two axes the heatmaps span (one when there is one axis): as given, two different names
/// of `axes`, or by default the first two.
fn read_heatmap(
    heatmap: Option<Vec<String>>,
    axes: &[Axis],
    file: &str,
) -> Result<Vec<String>, SweepError> {
    let Some(h) = heatmap else {
        return Ok(axes.iter().take(2).map(|a| a.name.clone()).collect());
    };
    if h.len() != 2 && !(h.len() == 1 && axes.len() == 1) {
        return Err(spec_error(
            file,
            "heatmap",
            "name two axes (rows, columns)".into(),
        ));
    }
    if h.len() == 2 && h[0] == h[1] {
        return Err(spec_error(
            file,
            "heatmap",
            format!("names {:?} twice: name two different axes", h[0]),
        ));
    }
    for n in &h {
        if !axes.iter().any(|a| &a.name == n) {
            let names: Vec<&str> = axes.iter().map(|a| a.name.as_str()).collect();
            return Err(spec_error(
                file,
                "heatmap",
                format!("{n:?} is not an axis; the axes are {}", names.join(", ")),
            ));
        }
    }
    Ok(h)
}
