//! The plan: every cell of a sweep with its full config, written once to `DIR/sweep-plan.json`.

use crate::spec::SweepSpec;
use crate::SweepError;
use makemore_model::config::set_value;
use makemore_model::{Dataset, Mlp, RunConfig, RunError};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// The plan's file in a sweep directory.
pub const PLAN_FILE: &str = "sweep-plan.json";

/// What a plan file says it is; a reader refuses other formats.
const FORMAT: u32 = 1;

/// Diagnostics are recorded at step 0 and then this many times over a run when the sweep file
/// does not say.
const RECORDS_PER_RUN: u64 = 10;

/// The longest cell directory name most file systems take (bytes).
const MAX_NAME: usize = 255;

/// Every cell of a sweep.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Plan {
    /// Format version.
    pub format: u32,
    /// The sweep's name.
    pub name: String,
    /// What it shows.
    pub description: String,
    /// The sweep file it came from.
    pub file: String,
    /// The corpus every cell trains on (a cell may be given another with the same content).
    pub data: String,
    /// What identifies that corpus (absent in plans written before it was recorded, and until
    /// [`Plan::set_corpus`]): a cell refuses to train on another.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub corpus: Option<PlanCorpus>,
    /// Axis names, slowest-varying first.
    pub axes: Vec<PlanAxis>,
    /// The seeds.
    pub seeds: Vec<u64>,
    /// The two axes the heatmaps span.
    pub heatmap: Vec<String>,
    /// The cells, in index order.
    pub cells: Vec<Cell>,
}

/// The corpus a sweep was planned on: the digest and count of its items, as a run records them
/// (`makemore_model::data::CorpusId`), without the split's window counts, which a cell's
/// data config may change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlanCorpus {
    /// SHA-256 of the items, joined by newlines.
    pub sha256: String,
    /// Items.
    pub items: usize,
}

impl std::fmt::Display for PlanCorpus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let short = &self.sha256[..self.sha256.len().min(12)];
        write!(f, "{} items, sha256 {short}", self.items)
    }
}

impl PlanCorpus {
    /// The corpus of `ds`.
    pub fn of(ds: &Dataset) -> Self {
        let id = ds.id();
        Self {
            sha256: id.sha256,
            items: id.items,
        }
    }
}

/// An axis as the outputs need it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlanAxis {
    /// Its name.
    pub name: String,
    /// The config keys it sets.
    pub keys: Vec<String>,
    /// Its points' labels, in order.
    pub labels: Vec<String>,
}

/// One run of the sweep.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Cell {
    /// Position in the plan (what `sweep cell DIR INDEX` takes).
    pub index: usize,
    /// Its run directory, relative to the sweep directory: `cells/scale=0.2,norm=none,seed=1`.
    pub dir: String,
    /// Its label on each axis, in axis order.
    pub labels: Vec<String>,
    /// Its seed.
    pub seed: u64,
    /// Its whole config, as TOML.
    pub config: String,
}

/// Keeps a directory name portable: letters, digits and `.=+-_,` stay, the rest becomes `_`.
fn portable(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || ".=+-_,".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// The most cells a plan may have: each is a run directory, and the plan file lists them all.
pub const MAX_CELLS: usize = 100_000;

/// The number of axis combinations of a grid with axes of `sizes` values, each run with `seeds`
/// seeds, when the cells fit in [`MAX_CELLS`]; else what the grid would hold, in words.
fn grid_size(sizes: &[usize], seeds: usize) -> Result<usize, String> {
    let mut product: u128 = 1;
    for &n in sizes.iter().chain([&seeds]) {
        product = product.saturating_mul(n as u128);
    }
    if product > MAX_CELLS as u128 {
        let factors: Vec<String> = sizes.iter().map(usize::to_string).collect();
        return Err(format!(
            "the grid has {} cells ({} values x {seeds} seeds); at most {MAX_CELLS} are allowed: \
             vary fewer keys or fewer values",
            if product == u128::MAX {
                "more than 2^128".to_string()
            } else {
                product.to_string()
            },
            factors.join(" x "),
        ));
    }
    Ok(sizes.iter().product())
}

/// The error for `key` of `spec`'s sweep file.
fn plan_error(spec: &SweepSpec, key: String, message: String) -> SweepError {
    SweepError::Spec {
        file: spec.file.clone(),
        key,
        message,
    }
}

/// Sets the sweep's own steps and `seed` in the config table `t`, last, so that no axis can
/// override them.
fn fix(spec: &SweepSpec, mut t: toml::Table, seed: u64) -> Result<toml::Table, SweepError> {
    let mut set = |k: &str, v: toml::Value| {
        set_value(&mut t, k, v).map_err(|m| plan_error(spec, "base".into(), m))
    };
    if let Some(s) = spec.steps {
        set("train.steps", toml::Value::Integer(s as i64))?;
    }
    set("train.seed", toml::Value::Integer(seed as i64))?;
    Ok(t)
}

/// Checks each value of each axis alone on the base, so that an error names its axis and
/// value.
fn check_axis_values(spec: &SweepSpec) -> Result<(), SweepError> {
    for (i, axis) in spec.axes.iter().enumerate() {
        for (j, point) in axis.values.iter().enumerate() {
            let mut t = spec.base.clone();
            for (k, v) in axis.keys.iter().zip(point) {
                set_value(&mut t, k, v.clone())
                    .map_err(|m| plan_error(spec, format!("vary[{i}].key"), m))?;
            }
            RunConfig::from_table(fix(spec, t, spec.seeds[0])?, "x").map_err(|e| {
                let why = e.to_string().trim_start_matches("x: ").to_string();
                plan_error(
                    spec,
                    format!("vary[{i}].values[{j}]"),
                    format!("{} = {}: {why}", axis.keys.join(", "), axis.labels[j]),
                )
            })?;
        }
    }
    Ok(())
}

/// Every cell of the grid, in index order: the axis combinations (the last axis fastest), each
/// with every seed.
fn grid_cells(spec: &SweepSpec, diagnose_every: u64) -> Result<Vec<Cell>, SweepError> {
    let mut cells = Vec::new();
    let sizes: Vec<usize> = spec.axes.iter().map(|a| a.values.len()).collect();
    let combos =
        grid_size(&sizes, spec.seeds.len()).map_err(|m| plan_error(spec, "vary".into(), m))?;
    for c in 0..combos {
        // Mixed-radix digits of c, the last axis fastest.
        let mut rest = c;
        let mut points = vec![0; sizes.len()];
        for (p, &n) in points.iter_mut().zip(&sizes).rev() {
            *p = rest % n;
            rest /= n;
        }
        for &seed in &spec.seeds {
            let cell = make_cell(spec, &points, seed, cells.len(), diagnose_every)?;
            cells.push(cell);
        }
    }
    Ok(cells)
}

/// The cell numbered `index`: the point `points` (one index per axis) with `seed`, its config
/// checked and its directory named.
fn make_cell(
    spec: &SweepSpec,
    points: &[usize],
    seed: u64,
    index: usize,
    diagnose_every: u64,
) -> Result<Cell, SweepError> {
    let err = |message: String| plan_error(spec, "vary".into(), message);
    let mut t = spec.base.clone();
    let mut labels = Vec::new();
    for (axis, &p) in spec.axes.iter().zip(points) {
        for (k, v) in axis.keys.iter().zip(&axis.values[p]) {
            set_value(&mut t, k, v.clone()).map_err(err)?;
        }
        labels.push(axis.labels[p].clone());
    }
    let mut cfg = RunConfig::from_table(fix(spec, t, seed)?, "cell").map_err(|e| {
        let at: Vec<String> = spec
            .axes
            .iter()
            .zip(&labels)
            .map(|(a, l)| format!("{} = {l}", a.name))
            .collect();
        err(format!("the cell {}: {e}", at.join(", ")))
    })?;
    cfg.log.diagnose_every = Some(diagnose_every);
    cfg.log.tensorboard |= spec.tensorboard;
    let name: Vec<String> = spec
        .axes
        .iter()
        .zip(&labels)
        .map(|(a, l)| format!("{}={l}", a.name))
        .chain([format!("seed={seed}")])
        .collect();
    let dir = portable(&name.join(","));
    if dir.len() > MAX_NAME {
        return Err(err(format!("the cell directory {dir} is longer than {MAX_NAME} bytes: give the axes shorter names or labels")));
    }
    Ok(Cell {
        index,
        dir: format!("cells/{dir}"),
        labels,
        seed,
        config: cfg.to_toml(),
    })
}

/// Refuses two cells with one directory (labels that differ only in what [`portable`] drops).
fn check_distinct_dirs(spec: &SweepSpec, cells: &[Cell]) -> Result<(), SweepError> {
    let mut dirs = std::collections::HashSet::new();
    if let Some(dup) = cells.iter().find(|c| !dirs.insert(c.dir.clone())) {
        return Err(plan_error(
            spec,
            "vary".into(),
            format!(
                "two cells would share the directory {}: give the values distinct labels",
                dup.dir
            ),
        ));
    }
    Ok(())
}

impl Plan {
    /// Every cell of `spec` (axes in file order, the first varying slowest, seeds innermost),
    /// with its config checked: a value that does not fit its key is an error naming the axis.
    pub fn new(spec: &SweepSpec, data: &Path) -> Result<Self, SweepError> {
        // The base alone, then each axis value alone, so that an error names its axis.
        let base = RunConfig::from_table(
            fix(spec, spec.base.clone(), spec.seeds[0])?,
            &spec.base_name,
        )
        .map_err(|e| plan_error(spec, "base".into(), e.to_string()))?;
        let steps = base.train.steps;
        let diagnose_every = spec
            .diagnose_every
            .unwrap_or((steps / RECORDS_PER_RUN).max(1));
        check_axis_values(spec)?;
        let cells = grid_cells(spec, diagnose_every)?;
        check_distinct_dirs(spec, &cells)?;
        Ok(Plan {
            format: FORMAT,
            name: spec.name.clone(),
            description: spec.description.clone(),
            file: spec.file.clone(),
            data: std::path::absolute(data)
                .unwrap_or_else(|_| data.to_owned())
                .display()
                .to_string(),
            corpus: None,
            axes: spec
                .axes
                .iter()
                .map(|a| PlanAxis {
                    name: a.name.clone(),
                    keys: a.keys.clone(),
                    labels: a.labels.clone(),
                })
                .collect(),
            seeds: spec.seeds.clone(),
            heatmap: spec.heatmap.clone(),
            cells,
        })
    }

    /// Writes the plan to `dir` (created if missing). A plan already there is kept when it has
    /// the same cells (rerunning a sweep continues it) and is an error when it has others.
    pub fn write(&self, dir: &Path) -> Result<(), SweepError> {
        let path = dir.join(PLAN_FILE);
        if path.exists() {
            let old = Self::read(dir)?;
            if let (Some(planned), Some(given)) = (&old.corpus, &self.corpus) {
                if planned != given {
                    return Err(SweepError::CorpusDiffers {
                        dir: dir.to_owned(),
                        data: PathBuf::from(&self.data),
                        planned: old.data,
                        planned_id: planned.to_string(),
                        given_id: given.to_string(),
                    });
                }
            }
            if old.cells == self.cells {
                return Ok(());
            }
            let differs = old
                .cells
                .iter()
                .zip(&self.cells)
                .find(|(a, b)| a != b)
                .map(|(a, _)| format!("cell {} ({}) differs", a.index, a.dir))
                .unwrap_or_else(|| {
                    format!("{} cells there, {} now", old.cells.len(), self.cells.len())
                });
            return Err(SweepError::Plan {
                dir: dir.to_owned(),
                message: format!(
                    "holds another sweep ({} from {}; {differs}); give another --out",
                    old.name, old.file
                ),
            });
        }
        std::fs::create_dir_all(dir).map_err(|e| SweepError::io(dir, e))?;
        let text = serde_json::to_string_pretty(self).expect("a plan serializes");
        makemore_files::write_atomic(&path, text.as_bytes()).map_err(|e| SweepError::io(&path, e))
    }

    /// Reads the plan of the sweep in `dir`.
    pub fn read(dir: &Path) -> Result<Self, SweepError> {
        let path = dir.join(PLAN_FILE);
        let text = std::fs::read_to_string(&path).map_err(|e| SweepError::Plan {
            dir: dir.to_owned(),
            message: match e.kind() {
                std::io::ErrorKind::NotFound => format!("no {PLAN_FILE}: not a sweep directory (create one with `makemore sweep plan FILE --out DIR`)"),
                _ => format!("cannot read {PLAN_FILE}: {e}"),
            },
        })?;
        Self::from_json(&text, dir)
    }

    /// Parses and checks a plan file's text; `dir` (the sweep directory) is for messages. A plan
    /// is written by [`Plan::write`]; one edited by hand must still describe a grid of cells
    /// inside the sweep directory.
    pub fn from_json(text: &str, dir: &Path) -> Result<Self, SweepError> {
        let bad = |message: String| SweepError::Plan {
            dir: dir.to_owned(),
            message: format!("{PLAN_FILE}: {message}"),
        };
        #[derive(Deserialize)]
        struct Format {
            format: u32,
        }
        let f: Format = serde_json::from_str(text).map_err(|e| bad(e.to_string()))?;
        if f.format != FORMAT {
            return Err(bad(format!(
                "format {}, this makemore reads {FORMAT}",
                f.format
            )));
        }
        let plan: Plan = serde_json::from_str(text).map_err(|e| bad(e.to_string()))?;
        if plan.axes.is_empty() || plan.seeds.is_empty() {
            return Err(bad("no axes or no seeds".into()));
        }
        if let Some(a) = plan.axes.iter().find(|a| a.labels.is_empty()) {
            return Err(bad(format!("the axis {:?} has no values", a.name)));
        }
        let sizes: Vec<usize> = plan.axes.iter().map(|a| a.labels.len()).collect();
        let expected = grid_size(&sizes, plan.seeds.len()).map_err(bad)?;
        if plan.cells.len() != expected.saturating_mul(plan.seeds.len()) {
            return Err(bad(format!(
                "{} cells, the axes and seeds make {}",
                plan.cells.len(),
                expected.saturating_mul(plan.seeds.len())
            )));
        }
        for (i, c) in plan.cells.iter().enumerate() {
            let name = c.dir.strip_prefix("cells/").unwrap_or("");
            let inside = !name.is_empty() && name != "." && name != ".." && portable(name) == name;
            if c.index != i || c.labels.len() != plan.axes.len() || !inside {
                return Err(bad(format!(
                    "cell {i} is not a cell of this sweep (index, labels or directory {:?})",
                    c.dir
                )));
            }
        }
        if plan
            .heatmap
            .iter()
            .any(|h| !plan.axes.iter().any(|a| &a.name == h))
        {
            return Err(bad(
                "the heatmap names an axis the plan does not have".into()
            ));
        }
        Ok(plan)
    }

    /// Reads the corpus at `data` and records it as the one every cell must train on. Returns,
    /// for each distinct model that cannot be built on its vocabulary, the first such cell and
    /// why (the cells fail when run; the others still can).
    pub fn set_corpus(&mut self, data: &Path) -> Result<Vec<(usize, String)>, SweepError> {
        let config = |c: &Cell| {
            RunConfig::from_toml_str(&c.config, &format!("{}/plan", c.dir), &[])
                .map_err(|e| SweepError::Corpus(Box::new(RunError::Config(e))))
        };
        let Some(first) = self.cells.first() else {
            return Ok(Vec::new());
        };
        let base = config(first)?;
        let ds = Dataset::load(data, &base.data, base.model.block_size)
            .map_err(|e| SweepError::Corpus(Box::new(e)))?;
        self.corpus = Some(PlanCorpus::of(&ds));
        let mut seen = std::collections::HashSet::new();
        let mut failing = Vec::new();
        for c in &self.cells {
            let cfg = config(c)?;
            if seen.insert(format!("{:?}", cfg.model)) {
                if let Err(e) = Mlp::check_vocab(&cfg.model, ds.vocab.len()) {
                    failing.push((c.index, e.to_string()));
                }
            }
        }
        Ok(failing)
    }

    /// Checks that `ds` (read from `data`) is the corpus this sweep (in `dir`) was planned on.
    pub fn check_corpus(&self, ds: &Dataset, data: &Path, dir: &Path) -> Result<(), SweepError> {
        let given = PlanCorpus::of(ds);
        match &self.corpus {
            Some(planned) if *planned != given => Err(SweepError::CorpusDiffers {
                dir: dir.to_owned(),
                data: data.to_owned(),
                planned: self.data.clone(),
                planned_id: planned.to_string(),
                given_id: given.to_string(),
            }),
            _ => Ok(()),
        }
    }

    /// The cell at `index`, or an error naming the range.
    pub fn cell(&self, index: usize, dir: &Path) -> Result<&Cell, SweepError> {
        self.cells.get(index).ok_or_else(|| SweepError::Plan {
            dir: dir.to_owned(),
            message: format!(
                "cell index {index} is out of range: this sweep has cells 0..={}",
                self.cells.len().saturating_sub(1)
            ),
        })
    }
}

#[cfg(test)]
mod grid_tests {
    use super::{grid_size, MAX_CELLS};

    #[test]
    fn grids_too_large_to_plan_are_refused_without_overflow() {
        assert_eq!(grid_size(&[5, 3, 2], 3), Ok(30));
        assert_eq!(grid_size(&[], 1), Ok(1));
        let e = grid_size(&[16; 16], 2).unwrap_err();
        assert!(e.contains("36893488147419103232 cells"), "{e}");
        assert!(e.contains(&MAX_CELLS.to_string()), "{e}");
        let e = grid_size(&[100_000; 10], 1).unwrap_err();
        assert!(e.contains("more than 2^128"), "{e}");
        assert!(grid_size(&[MAX_CELLS], 1).is_ok());
        assert!(grid_size(&[MAX_CELLS], 2).is_err());
    }
}
