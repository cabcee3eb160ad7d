//! The plan's order on a small sweep file: which index is which cell (the first axis slowest,
//! the seeds innermost in the file's order), its labels, directory and config.

use makemore_sweep::{Plan, SweepSpec};

const SWEEP: &str = r#"
name = "order"
seeds = [5, 3]
steps = 40
heatmap = ["b", "a"]

[base.train]
batch_size = 64

[base.init.hidden]
scheme = "kaiming_normal"

[[vary]]
key = "train.lr"
name = "a"
values = [0.1, 1.0]

[[vary]]
keys = ["init.hidden.scale", "train.batch_size"]
name = "b"
values = [[0.5, 8], [2.0, 16], [1.5, 32]]
labels = ["small", "big one", "x/y"]
"#;

#[test]
fn cells_run_first_axis_slowest_then_seeds_innermost() {
    let none = |_: &str| -> Option<(String, String)> { None };
    let spec = SweepSpec::parse(SWEEP, "order.toml", &none).unwrap();
    let plan = Plan::new(&spec, "names.txt".as_ref()).unwrap();
    assert_eq!(plan.name, "order");
    assert_eq!(plan.seeds, [5, 3]);
    assert_eq!(plan.heatmap, ["b", "a"]);
    let axes: Vec<(&str, Vec<String>, Vec<String>)> = plan
        .axes
        .iter()
        .map(|a| (a.name.as_str(), a.keys.clone(), a.labels.clone()))
        .collect();
    assert_eq!(
        axes,
        [
            ("a", vec!["train.lr".into()], vec!["0.1".into(), "1".into()]),
            (
                "b",
                vec!["init.hidden.scale".into(), "train.batch_size".into()],
                vec!["small".into(), "big one".into(), "x/y".into()]
            ),
        ]
    );

    // 2 x 3 x 2 = 12 cells; index = (3 * a + b) * 2 + seed slot: a's points change every 6
    // cells, b's every 2, and the seeds alternate 5, 3 (the file's order, not sorted).
    // Directories name each axis and the seed; " " and "/" become "_".
    let b = [
        ("small", "small", 0.5, 8),
        ("big one", "big_one", 2.0, 16),
        ("x/y", "x_y", 1.5, 32),
    ];
    let a = [("0.1", 0.1), ("1", 1.0)];
    assert_eq!(plan.cells.len(), 12);
    for (i, cell) in plan.cells.iter().enumerate() {
        let (a_label, lr) = a[i / 6];
        let (b_label, b_dir, scale, batch) = b[(i / 2) % 3];
        let seed = [5, 3][i % 2];
        assert_eq!(cell.index, i);
        assert_eq!(cell.labels, [a_label, b_label], "cell {i}");
        assert_eq!(cell.seed, seed, "cell {i}");
        assert_eq!(
            cell.dir,
            format!("cells/a={a_label},b={b_dir},seed={seed}"),
            "cell {i}"
        );
        // The cell's own config: its axis values, its seed, the sweep's steps, diagnostics
        // every 40 / 10 = 4 steps; the axis overrides the base's batch size.
        let cfg: toml::Table = toml::from_str(&cell.config).unwrap();
        assert_eq!(cfg["train"]["lr"].as_float(), Some(lr), "cell {i}");
        assert_eq!(
            cfg["train"]["batch_size"].as_integer(),
            Some(batch),
            "cell {i}"
        );
        assert_eq!(
            cfg["init"]["hidden"]["scale"].as_float(),
            Some(scale),
            "cell {i}"
        );
        assert_eq!(cfg["train"]["seed"].as_integer(), Some(seed as i64));
        assert_eq!(cfg["train"]["steps"].as_integer(), Some(40));
        assert_eq!(cfg["log"]["diagnose_every"].as_integer(), Some(4));
    }
    assert_eq!(plan.cells[7].dir, "cells/a=1,b=small,seed=3");

    // Written and read back, it is the same plan; rewriting it keeps it.
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("plan-order");
    let _ = std::fs::remove_dir_all(&dir);
    plan.write(&dir).unwrap();
    assert_eq!(Plan::read(&dir).unwrap(), plan);
    plan.write(&dir).unwrap();
    assert_eq!(plan.cell(11, &dir).unwrap().dir, "cells/a=1,b=x_y,seed=3");
    assert!(plan.cell(12, &dir).is_err());
}
