//! Sweeps: train the Cartesian product of config values and compare the cells.
//!
//! ```no_run
//! use makemore_sweep::{Plan, SweepSpec};
//! let text = r#"
//!     base = "deep-tanh-no-norm"
//!     seeds = [1, 2]
//!     steps = 2000
//!     [[vary]]
//!     key = "init.hidden.scale"
//!     values = [0.2, 1, 5]
//! "#;
//! let resolve = |_: &str| -> Option<(String, String)> { None };
//! let spec = SweepSpec::parse(text, "sweep.toml", &resolve).unwrap();
//! let plan = Plan::new(&spec, "names.txt".as_ref()).unwrap();
//! assert_eq!(plan.cells.len(), 6); // 3 scales x 2 seeds
//! ```
//!
//! A sweep is planned once ([`Plan::write`] to `DIR/sweep-plan.json`); every cell is an ordinary
//! run directory under `DIR/cells/`, named by its varied values, and runs on its own
//! ([`run_cell`]), in any order and in any process, which is what array jobs on a cluster need;
//! [`collect`] reads the cells that are done and writes `sweep.json` and `sweep.html`.
#![warn(missing_docs)]

mod cell;
mod collect;
mod error;
mod html;
mod plan;
mod spec;

pub use cell::{
    is_done as cell_is_done, record_failure, run_cell, CellOutcome, Datasets, DivergedRecord,
    FailedRecord, DIVERGED, FAILED,
};
pub use collect::{collect, CellRow, Collected, FailedCell, SWEEP_HTML, SWEEP_JSON};
pub use error::SweepError;
pub use plan::{Cell, Plan, PlanCorpus, PLAN_FILE};
pub use spec::{Axis, SweepSpec};

impl Collected {
    /// Writes `sweep.json` and `sweep.html` into `dir` (each to a temporary name, then renamed).
    /// It lives here, beside both modules, so that `collect` (the rows) and `html` (the page,
    /// which reads the rows) do not import each other.
    pub fn write(&self, dir: &std::path::Path) -> Result<(), SweepError> {
        let json = serde_json::to_string_pretty(self).expect("a sweep serializes");
        let html = html::page(self);
        for (name, bytes) in [(SWEEP_JSON, json.as_bytes()), (SWEEP_HTML, html.as_bytes())] {
            let path = dir.join(name);
            makemore_files::write_atomic(&path, bytes).map_err(|e| SweepError::io(&path, e))?;
        }
        Ok(())
    }
}
